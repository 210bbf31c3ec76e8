//! A parent table's keys, collected by its read-back and looked up once per
//! child row to count orphans.
//!
//! A million child rows against a quarter of a million parent keys is a
//! million lookups; in a hash set of 64-bit hashes each one lands on a
//! random cache line, and those misses were most of the time a
//! verification's own loop took. Most keys are one integer column, and most
//! of those are dense (an identity, a sequence): such keys are kept as the
//! integers themselves, as a bitmap over their range when that is no larger
//! than the integers would be (a lookup is one bit of a small array; the
//! bitmap is built as the keys arrive, so a dense parent's keys never take
//! more than a bit each), else sorted (a binary search). Any other key —
//! several columns, text, a UUID — is kept as its [`tuple_hash`].

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use super::digest::tuple_hash;
use crate::model::{Batch, Schema, ValueRef};

/// A key as a [`KeySet`] holds it: a single integer column as itself, any
/// other key as its hash. Parent and child compute it the same way, so a
/// key's two sides meet when their values are equal under the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Int(i64),
    Hash(u64),
}

impl Key {
    /// The key of `row` over `cols`. `hash`, when given, is the row's
    /// [`tuple_hash`] over these very columns, already computed.
    pub(crate) fn of(
        batch: &Batch,
        schema: &Schema,
        cols: &[usize],
        row: usize,
        hash: Option<u64>,
        scratch: &mut Vec<u8>,
    ) -> Key {
        if let [c] = cols
            && let ValueRef::Int(i) = batch.value(row, *c)
        {
            return Key::Int(i);
        }
        Key::Hash(hash.unwrap_or_else(|| tuple_hash(batch, schema, cols, row, scratch)))
    }
}

/// Integer keys spanning at most this many values per key are kept as a
/// bitmap: 64 bits per key is what the integer itself takes.
const DENSE_BITS_PER_KEY: u128 = 64;

/// A bitmap spanning up to this many values (1 MiB of words) is kept while
/// collecting whatever the count so far: keys read in any order from a dense
/// range (a heap rewritten by updates, a table loaded out of key order) do
/// not fall back to the integers because the first few happened to be far
/// apart.
const MIN_BITMAP_BITS: u128 = 1 << 23;

/// A set of keys (see the module docs): filled by [`KeySet::insert`], then
/// [`KeySet::seal`]ed once before the first lookup.
///
/// Integer keys go into a bitmap from the first one on, as long as they stay
/// dense; so a dense parent's keys take one bit each while they are
/// collected, not the 8 bytes of the integer (a read-back's peak memory does
/// not grow with the parent). The first key that would make the bitmap
/// sparser than the integers moves it to the list of integers for good.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    /// Integer keys as a list, once they were not dense; sorted and
    /// deduplicated by `seal` unless `seal` makes a bitmap of them.
    ints: Vec<i64>,
    /// Integer keys as bits, while (and once sealed, if) dense enough.
    bits: Option<Bitmap>,
    /// Integer keys inserted, repeats counted: what density is judged by.
    int_count: usize,
    hashes: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    /// Keys inserted (with repeats): what bounds the memory held.
    inserted: usize,
}

/// Integers as bits from `base`; the words cover `min..=max`, the smallest
/// and largest integer set.
#[derive(Debug)]
struct Bitmap {
    /// The integer of bit 0 of word 0 (an `i128`: growing downwards may pass
    /// `i64::MIN`).
    base: i128,
    words: Vec<u64>,
    min: i64,
    max: i64,
}

/// How many integers `min..=max` holds (an `i64` range's size needs 65 bits).
fn span(min: i64, max: i64) -> u128 {
    (i128::from(max) - i128::from(min) + 1) as u128
}

impl Bitmap {
    fn new(i: i64) -> Bitmap {
        Bitmap {
            base: i128::from(i),
            words: vec![1],
            min: i,
            max: i,
        }
    }

    /// An empty bitmap whose words already cover `min..=max` (a range
    /// measured dense: at most [`DENSE_BITS_PER_KEY`] bits per key held).
    fn spanning(min: i64, max: i64) -> Bitmap {
        // Dense means the span is at most 64 × a `Vec`'s length: a usize.
        let words = span(min, max).div_ceil(64) as usize;
        Bitmap {
            base: i128::from(min),
            words: vec![0; words],
            min,
            max,
        }
    }

    /// Sets `i` unless the bitmap would then span more than `limit` values
    /// (false: nothing changed).
    fn insert(&mut self, i: i64, limit: u128) -> bool {
        let (min, max) = (self.min.min(i), self.max.max(i));
        if span(min, max) > limit {
            return false;
        }
        let mut at = i128::from(i) - self.base;
        if at < 0 {
            // Grown downwards by at least the words held, so keys read in
            // descending order move the words a logarithmic number of times.
            let need = ((-at) as usize).div_ceil(64);
            let add = need.max(self.words.len());
            self.words.splice(0..0, std::iter::repeat_n(0, add));
            self.base -= add as i128 * 64;
            at = i128::from(i) - self.base;
        }
        // `at` is at most `limit` + 64 × the words held: a usize.
        let at = at as usize;
        if at / 64 >= self.words.len() {
            self.words.resize(at / 64 + 1, 0);
        }
        self.words[at / 64] |= 1 << (at % 64);
        (self.min, self.max) = (min, max);
        true
    }

    fn contains(&self, i: i64) -> bool {
        usize::try_from(i128::from(i) - self.base)
            .ok()
            .and_then(|at| self.words.get(at / 64).map(|w| w & (1 << (at % 64)) != 0))
            .unwrap_or(false)
    }

    /// The integers set, ascending, each once.
    fn to_ints(&self) -> Vec<i64> {
        let set: usize = self.words.iter().map(|w| w.count_ones() as usize).sum();
        let mut out = Vec::with_capacity(set);
        for (w, &word) in self.words.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let bit = word.trailing_zeros() as i128;
                // Every bit set is an inserted i64.
                out.push((self.base + w as i128 * 64 + bit) as i64);
                word &= word - 1;
            }
        }
        out
    }
}

impl KeySet {
    pub(crate) fn insert(&mut self, k: Key) {
        self.inserted += 1;
        match k {
            Key::Int(i) => self.insert_int(i),
            Key::Hash(h) => {
                self.hashes.insert(h);
            }
        }
    }

    fn insert_int(&mut self, i: i64) {
        self.int_count += 1;
        if self.int_count == 1 {
            self.bits = Some(Bitmap::new(i));
            return;
        }
        if let Some(b) = &mut self.bits {
            let limit = (DENSE_BITS_PER_KEY * self.int_count as u128).max(MIN_BITMAP_BITS);
            if b.insert(i, limit) {
                return;
            }
            self.ints = b.to_ints();
            self.bits = None;
        }
        self.ints.push(i);
    }

    /// Keys inserted, repeats counted.
    pub(crate) fn len(&self) -> usize {
        self.inserted
    }

    /// Settles the integers into their lookup form: a bitmap when they are
    /// dense (at most [`DENSE_BITS_PER_KEY`] values of their range per key),
    /// else sorted.
    pub(crate) fn seal(mut self) -> KeySet {
        let dense =
            |min: i64, max: i64| span(min, max) <= DENSE_BITS_PER_KEY * self.int_count as u128;
        if let Some(b) = &self.bits {
            if !dense(b.min, b.max) {
                // Only under `MIN_BITMAP_BITS`: a few keys far apart.
                self.ints = b.to_ints();
                self.bits = None;
            }
            return self;
        }
        let (Some(&min), Some(&max)) = (self.ints.iter().min(), self.ints.iter().max()) else {
            return self;
        };
        if dense(min, max) {
            let mut b = Bitmap::spanning(min, max);
            for &i in &self.ints {
                // Within the words sized for the range just measured.
                b.insert(i, u128::MAX);
            }
            self.bits = Some(b);
            self.ints = Vec::new();
        } else {
            self.ints.sort_unstable();
            self.ints.dedup();
        }
        self
    }

    pub(crate) fn contains(&self, k: Key) -> bool {
        match k {
            Key::Int(i) => match &self.bits {
                Some(b) => b.contains(i),
                None => self.ints.binary_search(&i).is_ok(),
            },
            Key::Hash(h) => self.hashes.contains(&h),
        }
    }
}

/// The members of the hash part are already XXH3 hashes: used as they are.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; any other input still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(keys: &[Key]) -> KeySet {
        let mut s = KeySet::default();
        for &k in keys {
            s.insert(k);
        }
        s.seal()
    }

    #[test]
    fn dense_integers_become_a_bitmap_and_answer_at_both_ends_and_outside() {
        let s = set(&(10..=200).rev().map(Key::Int).collect::<Vec<_>>());
        assert!(s.bits.is_some(), "191 keys over a span of 191 are dense");
        for i in [10, 11, 63, 64, 137, 200] {
            assert!(s.contains(Key::Int(i)), "{i}");
        }
        for i in [i64::MIN, -1, 9, 201, i64::MAX] {
            assert!(!s.contains(Key::Int(i)), "{i}");
        }
        assert!(!s.contains(Key::Hash(10)), "a hash never meets an integer");
    }

    #[test]
    fn sparse_integers_are_sorted_and_searched_even_across_the_whole_range() {
        let s = set(&[
            Key::Int(i64::MAX),
            Key::Int(i64::MIN),
            Key::Int(0),
            Key::Int(0),
        ]);
        assert!(s.bits.is_none());
        assert_eq!(s.len(), 4, "repeats count toward the memory bound");
        for i in [i64::MIN, 0, i64::MAX] {
            assert!(s.contains(Key::Int(i)), "{i}");
        }
        for i in [i64::MIN + 1, 1, -1, i64::MAX - 1] {
            assert!(!s.contains(Key::Int(i)), "{i}");
        }
    }

    /// A set filled with `keys`, before `seal`.
    fn collecting(keys: impl IntoIterator<Item = i64>) -> KeySet {
        let mut s = KeySet::default();
        for k in keys {
            s.insert(Key::Int(k));
        }
        s
    }

    #[test]
    fn dense_keys_take_a_bit_each_while_they_are_collected_in_any_order() {
        const N: i64 = 200_000;
        // Descending (the bitmap grows downwards), and a scattered order
        // (a permutation of 1..=N: 7,919 is prime, so coprime with N).
        for order in [
            (1..=N).rev().collect::<Vec<_>>(),
            (0..N).map(|i| (i * 7_919) % N + 1).collect(),
        ] {
            let s = collecting(order);
            assert!(s.ints.capacity() == 0, "the integers were never listed");
            let b = s.bits.as_ref().expect("dense keys stay a bitmap");
            assert!(
                b.words.len() <= 2 * (N as usize / 64) + 2,
                "{} words for {N} keys",
                b.words.len()
            );
            let s = s.seal();
            for i in [1, 2, 64, 65, N / 2, N] {
                assert!(s.contains(Key::Int(i)), "{i}");
            }
            for i in [0, -1, N + 1, i64::MIN, i64::MAX] {
                assert!(!s.contains(Key::Int(i)), "{i}");
            }
        }
    }

    #[test]
    fn a_key_far_from_the_others_moves_them_to_the_list_and_none_is_lost() {
        let far = 1_000_000_000_000_000;
        let s = collecting((1..=1_000).chain([far, 500, -3]));
        assert!(
            s.bits.is_none(),
            "a span of 10^15 over 1,002 keys is sparse"
        );
        let s = s.seal();
        for i in (1..=1_000).chain([far, -3]) {
            assert!(s.contains(Key::Int(i)), "{i}");
        }
        for i in [0, 1_001, far - 1, far + 1, -2] {
            assert!(!s.contains(Key::Int(i)), "{i}");
        }
        // A few keys far apart fit under the bitmap's floor while collecting,
        // and are listed when sealed.
        let s = collecting([0, 5_000_000]).seal();
        assert!(s.bits.is_none() && s.ints == [0, 5_000_000]);
    }

    #[test]
    fn bitmaps_reach_both_ends_of_the_integers() {
        let low = collecting((i64::MIN..i64::MIN + 300).rev()).seal();
        let high = collecting(i64::MAX - 300..=i64::MAX).seal();
        assert!(low.bits.is_some() && high.bits.is_some());
        for i in [i64::MIN, i64::MIN + 299] {
            assert!(low.contains(Key::Int(i)), "{i}");
        }
        assert!(!low.contains(Key::Int(i64::MIN + 300)));
        assert!(!low.contains(Key::Int(i64::MAX)));
        for i in [i64::MAX - 300, i64::MAX] {
            assert!(high.contains(Key::Int(i)), "{i}");
        }
        assert!(!high.contains(Key::Int(i64::MAX - 301)));
        assert!(!high.contains(Key::Int(i64::MIN)));
    }

    #[test]
    fn hashed_keys_are_kept_beside_integers() {
        let s = set(&[Key::Hash(7), Key::Int(7)]);
        assert!(s.contains(Key::Hash(7)));
        assert!(s.contains(Key::Int(7)));
        assert!(!s.contains(Key::Hash(8)));
        assert!(!set(&[]).contains(Key::Int(0)));
    }
}
