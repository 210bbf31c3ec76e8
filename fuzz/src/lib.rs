//! Helpers shared by the fuzz targets in `fuzz_targets/` (see
//! `docs/fuzzing.md`).
//!
//! The parser targets take the fuzzer's bytes as the *file*, unchanged, so
//! the seeds are real files (JSONTestSuite, csv-spectrum, front-matter
//! fixtures) and a crash input is a file you can hand to `ferry files`.
//! Everything else a target needs — how the host cuts the file into
//! chunks, small limits — is derived from a hash of those bytes, so a
//! crash input alone reproduces it.

use ferry_plugin_sdk::{ParsedRecord, PluginError};

/// The result of one whole parse: every record, or the first error.
pub type Parsed = Result<Vec<ParsedRecord>, PluginError>;

/// A parse session as the host drives it: `feed` every chunk, then
/// `finish`. The plugins' sessions (scanner, reader, document, text file)
/// all have this shape.
pub trait Session {
    fn feed(&mut self, chunk: &[u8]) -> Parsed;
    fn finish(&mut self) -> Parsed;
}

/// A plugin's session behind the SDK's guard, as the host drives it: the
/// guard (not each parser) keeps a finished session finished, so that is
/// what the targets exercise.
impl<S: ferry_plugin_sdk::ParserSession> Session for ferry_plugin_sdk::call::Session<S> {
    fn feed(&mut self, chunk: &[u8]) -> Parsed {
        ferry_plugin_sdk::call::Session::feed(self, chunk)
    }
    fn finish(&mut self) -> Parsed {
        ferry_plugin_sdk::call::Session::finish(self)
    }
}

/// How the host may cut a file into chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// The whole file in one `feed`.
    Whole,
    /// One byte per `feed`: every position is a chunk boundary.
    Bytes,
    /// Pseudo-random chunk sizes from 0 (an empty feed) to 300 bytes,
    /// seeded by the given value.
    Random(u64),
}

impl Chunking {
    /// The chunkings every parser target compares: the whole file, one byte
    /// at a time, and random cuts seeded by the file's hash.
    pub fn all(data: &[u8]) -> [Chunking; 3] {
        [
            Chunking::Whole,
            Chunking::Bytes,
            Chunking::Random(hash(data)),
        ]
    }

    /// The chunks of `data`, in order (empty chunks included for `Random`).
    pub fn chunks(self, data: &[u8]) -> Vec<&[u8]> {
        match self {
            Chunking::Whole => vec![data],
            Chunking::Bytes => data.chunks(1).collect(),
            Chunking::Random(seed) => {
                let mut rng = Rng(seed);
                let mut out = Vec::new();
                let mut rest = data;
                while !rest.is_empty() {
                    // Mostly small cuts (boundaries everywhere), sometimes
                    // empty feeds and bigger ones.
                    let n = match rng.below(8) {
                        0 => 0,
                        1 => rng.below(300) as usize,
                        _ => 1 + rng.below(16) as usize,
                    };
                    let (head, tail) = rest.split_at(n.min(rest.len()));
                    out.push(head);
                    rest = tail;
                }
                out
            }
        }
    }
}

/// Drive `session` over `data` cut by `chunking`, as the host does: records
/// from every `feed` then `finish`; the first error ends the parse. Also
/// checks the session contract after the end: once a parse failed or
/// finished, the session never yields a record again.
pub fn drive<S: Session>(mut session: S, data: &[u8], chunking: Chunking) -> Parsed {
    let mut records = Vec::new();
    for chunk in chunking.chunks(data) {
        match session.feed(chunk) {
            Ok(r) => records.extend(r),
            Err(e) => {
                assert_ended(&mut session);
                return Err(e);
            }
        }
    }
    let end = session.finish();
    assert_ended(&mut session);
    records.extend(end?);
    Ok(records)
}

/// After an error or `finish`, `feed` and `finish` must not yield records
/// (an error, or for a session that keeps nothing, an empty list).
fn assert_ended<S: Session>(session: &mut S) {
    if let Ok(r) = session.feed(b"{\"late\": 1}\n") {
        assert!(
            r.is_empty(),
            "a session yielded records after its end: {r:?}"
        );
    }
    if let Ok(r) = session.finish() {
        assert!(
            r.is_empty(),
            "a session yielded records after its end: {r:?}"
        );
    }
}

/// Parse `data` with a fresh session from `open` in every [`Chunking`] and
/// assert they all agree (same records, or the same error); return the
/// result.
pub fn parse_all_ways<S: Session>(data: &[u8], open: impl Fn() -> S) -> Parsed {
    let whole = drive(open(), data, Chunking::Whole);
    for chunking in Chunking::all(data).into_iter().skip(1) {
        let other = drive(open(), data, chunking);
        assert_eq!(
            other, whole,
            "the parse depends on how the file is chunked ({chunking:?} vs whole)"
        );
    }
    whole
}

/// A parser reports bad input as `Malformed` (with where) and never as
/// `Internal`, which means the plugin contradicted itself (e.g. the JSON
/// record builder disagreeing with the scanner that validated the text).
pub fn assert_not_internal(parsed: &Parsed) {
    if let Err(e @ PluginError::Internal(_)) = parsed {
        panic!("the parser reported its own bug: {e}");
    }
}

/// Every record's field names are distinct: the host looks fields up by
/// name, so a second field of the same name would be silently shadowed.
pub fn assert_distinct_names(records: &[ParsedRecord]) {
    for r in records {
        let mut names: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            panic!("a record has two fields named {:?}: {r:?}", w[0]);
        }
    }
}

/// Every `json` field is JSON the host accepts: it parses it with
/// serde_json, falling back to a syntax-only check (`IgnoredAny`) for
/// numbers beyond f64 or very deep nesting; anything else fails the whole
/// file as invalid plugin output.
pub fn assert_json_fields_parse(records: &[ParsedRecord]) {
    for r in records {
        for f in &r.fields {
            if let ferry_plugin_sdk::FieldValue::Json(s) = &f.value
                && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(s)
            {
                panic!("field {:?} is not valid JSON ({e}): {s:?}", f.name);
            }
        }
    }
}

/// FNV-1a: a stable hash of the input, to derive chunkings and settings.
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64: a tiny deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
