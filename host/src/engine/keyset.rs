//! A parent table's keys, collected by its read-back and looked up once per
//! child row to count orphans.
//!
//! A million child rows against a quarter of a million parent keys is a
//! million lookups; in a hash set of 64-bit hashes each one lands on a
//! random cache line, and those misses were most of the time a
//! verification's own loop took. Most keys are one integer column, and most
//! of those are dense (an identity, a sequence): such keys are kept as the
//! integers themselves, as a bitmap over their range when that is no larger
//! than the integers would be (a lookup is one bit of a small array), else
//! sorted (a binary search). Any other key — several columns, text, a UUID —
//! is kept as its [`tuple_hash`].

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

/// A set of keys (see the module docs): filled by [`KeySet::insert`], then
/// [`KeySet::seal`]ed once before the first lookup.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    /// Integer keys as inserted; sorted and deduplicated by `seal` unless
    /// they went into `bits`.
    ints: Vec<i64>,
    /// Integer keys as bits from `base`, when dense enough.
    bits: Option<(i64, Vec<u64>)>,
    hashes: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    /// Keys inserted (with repeats): what bounds the memory held.
    inserted: usize,
}

impl KeySet {
    pub(crate) fn insert(&mut self, k: Key) {
        self.inserted += 1;
        match k {
            Key::Int(i) => self.ints.push(i),
            Key::Hash(h) => {
                self.hashes.insert(h);
            }
        }
    }

    /// Keys inserted, repeats counted.
    pub(crate) fn len(&self) -> usize {
        self.inserted
    }

    /// Settles the integers into their lookup form.
    pub(crate) fn seal(mut self) -> KeySet {
        let (Some(&min), Some(&max)) = (self.ints.iter().min(), self.ints.iter().max()) else {
            return self;
        };
        let span = (i128::from(max) - i128::from(min) + 1) as u128;
        if span <= DENSE_BITS_PER_KEY * self.ints.len() as u128 {
            // `span` fits a usize here: it is at most 64 × a Vec's length.
            let mut bits = vec![0u64; (span as usize).div_ceil(64)];
            for &i in &self.ints {
                let at = (i128::from(i) - i128::from(min)) as usize;
                bits[at / 64] |= 1 << (at % 64);
            }
            self.bits = Some((min, bits));
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
                Some((base, bits)) => {
                    let at = i128::from(i) - i128::from(*base);
                    usize::try_from(at)
                        .ok()
                        .and_then(|at| bits.get(at / 64).map(|w| w & (1 << (at % 64)) != 0))
                        .unwrap_or(false)
                }
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

    #[test]
    fn hashed_keys_are_kept_beside_integers() {
        let s = set(&[Key::Hash(7), Key::Int(7)]);
        assert!(s.contains(Key::Hash(7)));
        assert!(s.contains(Key::Int(7)));
        assert!(!s.contains(Key::Hash(8)));
        assert!(!set(&[]).contains(Key::Int(0)));
    }
}
