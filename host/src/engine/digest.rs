//! Row digests: what a verification compares of one side of a table.
//!
//! A [`Digest`] is an order-independent summary of a set of rows: how many,
//! the wrapping sum of a 128-bit hash of each row's normalised binary form
//! ([`canon`]), about [`SAMPLE_ROWS`] rows kept value by value (picked by a
//! hash of their key, so both sides pick the same rows), and the min/max of
//! every date and timestamp column. Two sides hold the same rows under the
//! type mapping when their digests are equal.
//!
//! The same code digests the rows a run sends (in the stream, see
//! `pipeline.rs`), the rows a verification reads back from the target, and
//! both sides of a standalone `ferry verify`.
//!
//! The row hash is XXH3-128: fast, non-cryptographic, and fixed by its
//! specification (not by this build), over an encoding where equal values
//! under the type mapping are equal bytes. It guards against mistakes, not
//! against an adversary who writes colliding rows into the target.

use std::collections::HashMap;

use twox_hash::{XxHash3_64, XxHash3_128};

pub use super::canon::canon;
use super::canon::canon_at;
use crate::endpoint::{RawCodec, RawRows, SentRows};
use crate::model::{Batch, LogicalType, Schema, ValueRef};

/// Rows compared value by value per table: about 1,000 — enough to catch a
/// systematic mapping error in any column, cheap to keep in memory.
pub const SAMPLE_ROWS: u64 = 1_000;

/// Sampled rows one digest keeps at most: key-hash sampling over an
/// estimated row count can overshoot; 4× the target bounds the memory.
const MAX_SAMPLED: usize = (SAMPLE_ROWS * 4) as usize;

/// How one side's rows are digested: their schema, the key that names a row
/// (and picks the sample), and which columns have ranges.
#[derive(Debug, Clone)]
pub(crate) struct DigestSpec {
    pub(crate) schema: Schema,
    key_cols: Vec<String>,
    key_idx: Vec<usize>,
    /// A row is sampled when the hash of its key is a multiple of this.
    modulus: u64,
    /// Date and timestamp columns, whose min/max are compared.
    pub(crate) ranged: Vec<usize>,
}

impl DigestSpec {
    /// Rows of `schema`, named by `key_cols`, about `estimated_rows` of them.
    pub(crate) fn new(schema: Schema, key_cols: &[String], estimated_rows: u64) -> DigestSpec {
        let key_idx: Vec<usize> = key_cols.iter().filter_map(|c| schema.index_of(c)).collect();
        let ranged = schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c.logical_type,
                    LogicalType::Date | LogicalType::Timestamp | LogicalType::Timestamptz
                )
            })
            .map(|(i, _)| i)
            .collect();
        DigestSpec {
            schema,
            // A key column missing from the schema names no row.
            key_cols: if key_idx.len() == key_cols.len() {
                key_cols.to_vec()
            } else {
                Vec::new()
            },
            key_idx,
            modulus: (estimated_rows / SAMPLE_ROWS).max(1),
            ranged,
        }
    }

    /// Which columns a digest of raw rows decodes: the key, the dated
    /// columns and `more` (a read-back's foreign keys and key sets).
    pub(crate) fn wanted(&self, more: &[usize]) -> Vec<bool> {
        let mut w = vec![false; self.schema.columns.len()];
        for &i in self.key_idx().iter().chain(&self.ranged).chain(more) {
            if let Some(x) = w.get_mut(i) {
                *x = true;
            }
        }
        w
    }

    /// Whether `row` is in the sample.
    pub(crate) fn sampled(&self, batch: &Batch, row: usize, scratch: &mut Vec<u8>) -> bool {
        self.key_hash(batch, row, scratch)
            .is_some_and(|h| self.sampled_by(h))
    }

    /// The hash of `row`'s key ([`tuple_hash`]); `None` without a key.
    pub(crate) fn key_hash(&self, batch: &Batch, row: usize, scratch: &mut Vec<u8>) -> Option<u64> {
        (!self.key_cols.is_empty())
            .then(|| tuple_hash(batch, &self.schema, &self.key_idx, row, scratch))
    }

    /// Whether the row whose key hashes to `h` is in the sample.
    pub(crate) fn sampled_by(&self, h: u64) -> bool {
        h.is_multiple_of(self.modulus)
    }

    /// The key's columns in the schema (empty without a key).
    pub(crate) fn key_idx(&self) -> &[usize] {
        if self.key_cols.is_empty() {
            &[]
        } else {
            &self.key_idx
        }
    }

    /// The row's key as text (the form quarantine records it in).
    pub(crate) fn key(&self, batch: &Batch, row: usize) -> Option<String> {
        batch.source_key(&self.schema, &self.key_cols, row)
    }
}

/// What a digest's row hashes are taken over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Form {
    /// Each row's normalised form ([`canon`]): comparable across endpoints.
    #[default]
    Canon,
    /// Each row's bytes as the wire carried them ([`RawRows`]): comparable
    /// only with a raw digest of a table of the same column types on the
    /// same kind of endpoint, where equal values are equal bytes.
    Raw,
    /// Rows of both forms: comparable with nothing.
    Mixed,
}

/// An order-independent summary of a set of rows (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Digest {
    /// What the row hashes in `sum` are taken over.
    pub(crate) form: Form,
    /// Rows summed into `sum`.
    pub(crate) rows: u64,
    pub(crate) sum: u128,
    /// Sampled rows by key: each value shown, and the hash of its normalised form.
    pub(crate) sample: HashMap<String, Vec<(String, u64)>>,
    /// Per ranged column of the spec: (min, max) of its non-null values.
    pub(crate) ranges: Vec<Option<(i64, i64)>>,
}

impl Digest {
    pub(crate) fn new(spec: &DigestSpec) -> Digest {
        Digest {
            ranges: vec![None; spec.ranged.len()],
            ..Default::default()
        }
    }

    /// The digest of a batch's rows, leaving out rows whose `keep` is false.
    pub(crate) fn of_batch(spec: &DigestSpec, batch: &Batch, keep: Option<&[bool]>) -> Digest {
        let mut d = Digest::new(spec);
        let mut scratch = Scratch::default();
        for row in 0..batch.num_rows {
            if keep.is_some_and(|k| !k.get(row).copied().unwrap_or(true)) {
                continue;
            }
            let key = spec
                .sampled(batch, row, &mut scratch.key)
                .then(|| spec.key(batch, row))
                .flatten();
            d.add(spec, batch, row, key, &mut scratch);
        }
        d
    }

    /// The digest of raw rows, their row hashes taken over each row's bytes
    /// ([`Form::Raw`]); only the key and the dated columns are decoded, and
    /// the sampled rows in full.
    pub(crate) fn of_raw(spec: &DigestSpec, raw: &RawRows) -> Result<Digest, String> {
        let mut d = Digest {
            form: Form::Raw,
            ..Digest::new(spec)
        };
        let mut extents = Vec::with_capacity(raw.rows);
        let part = raw
            .decode
            .split(&raw.bytes, raw.rows, &spec.wanted(&[]), &mut extents)?;
        let mut key = Vec::new();
        for (row, extent) in extents.into_iter().enumerate() {
            let sampled = spec
                .sampled(&part, row, &mut key)
                .then(|| spec.key(&part, row))
                .flatten();
            d.add_raw(spec, &part, row, &raw.bytes[extent], sampled, &*raw.decode)?;
        }
        Ok(d)
    }

    /// The digest of a batch's rows as a sink sent them ([`Form::Raw`]):
    /// each stored row hashed by its bytes in `sent`, its key, dates and
    /// sample taken from `batch` (what was sent, before encoding). `None`
    /// when `sent` does not describe the batch's rows.
    pub(crate) fn of_sent(spec: &DigestSpec, batch: &Batch, sent: &SentRows) -> Option<Digest> {
        let rows: Vec<usize> = match &sent.kept {
            Some(k) if k.len() == batch.num_rows => (0..batch.num_rows).filter(|&r| k[r]).collect(),
            Some(_) => return None,
            None => (0..batch.num_rows).collect(),
        };
        if sent.offsets.len() != rows.len() + 1 {
            return None;
        }
        let mut d = Digest {
            form: Form::Raw,
            ..Digest::new(spec)
        };
        let mut key = Vec::new();
        for (k, &row) in rows.iter().enumerate() {
            let bytes = sent.bytes.get(sent.offsets[k]..sent.offsets[k + 1])?;
            d.add_hashed(spec, batch, row, XxHash3_128::oneshot(bytes));
            if spec.sampled(batch, row, &mut key)
                && let Some(k) = spec.key(batch, row)
            {
                d.add_sample(spec, batch, row, k);
            }
        }
        Some(d)
    }

    /// Adds one row; `sampled_key` is its key when the row is in the sample.
    pub(crate) fn add(
        &mut self,
        spec: &DigestSpec,
        batch: &Batch,
        row: usize,
        sampled_key: Option<String>,
        scratch: &mut Scratch,
    ) {
        let buf = &mut scratch.row;
        buf.clear();
        for (i, c) in spec.schema.columns.iter().enumerate() {
            canon_at(batch, row, i, c.logical_type, buf);
        }
        self.add_hashed(spec, batch, row, XxHash3_128::oneshot(buf));
        if let Some(k) = sampled_key {
            self.add_sample(spec, batch, row, k);
        }
    }

    /// Adds one raw row: `bytes` is the row as the wire carried it, `part`
    /// its batch with at least the spec's key and dated columns decoded;
    /// a sampled row is decoded in full by `codec`.
    pub(crate) fn add_raw(
        &mut self,
        spec: &DigestSpec,
        part: &Batch,
        row: usize,
        bytes: &[u8],
        sampled_key: Option<String>,
        codec: &dyn RawCodec,
    ) -> Result<(), String> {
        self.add_hashed(spec, part, row, XxHash3_128::oneshot(bytes));
        if let Some(k) = sampled_key.filter(|_| self.sample.len() < MAX_SAMPLED) {
            let whole = codec.decode(bytes)?;
            self.add_sample(spec, &whole, 0, k);
        }
        Ok(())
    }

    /// Counts a row whose hash is `h`, and its dates into the ranges.
    fn add_hashed(&mut self, spec: &DigestSpec, batch: &Batch, row: usize, h: u128) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(h);
        for (k, &i) in spec.ranged.iter().enumerate() {
            let v = match batch.value(row, i) {
                ValueRef::Int(x) => x,
                ValueRef::Date(d) => d as i64,
                _ => continue,
            };
            let r = self.ranges[k].get_or_insert((v, v));
            r.0 = r.0.min(v);
            r.1 = r.1.max(v);
        }
    }

    /// Keeps a sampled row value by value: each shown, and the hash of its
    /// normalised form (the same in either [`Form`]).
    fn add_sample(&mut self, spec: &DigestSpec, batch: &Batch, row: usize, key: String) {
        if self.sample.len() >= MAX_SAMPLED {
            return;
        }
        let vals = spec
            .schema
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let v = batch.value(row, i);
                let mut b = Vec::new();
                canon_at(batch, row, i, c.logical_type, &mut b);
                let shown =
                    crate::cast::to_text(&v, c.logical_type).unwrap_or_else(|| "NULL".into());
                (shown, XxHash3_64::oneshot(&b))
            })
            .collect();
        self.sample.insert(key, vals);
    }

    /// Rows of `form` are about to be added: an empty digest takes their
    /// form, one of another form becomes [`Form::Mixed`].
    pub(crate) fn takes(&mut self, form: Form) {
        if self.rows == 0 {
            self.form = form;
        } else if self.form != form {
            self.form = Form::Mixed;
        }
    }

    /// Adds another digest of the same spec (rows of another batch).
    pub(crate) fn merge(&mut self, other: Digest) {
        if other.rows > 0 {
            self.takes(other.form);
        }
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
        for (k, v) in other.sample {
            if self.sample.len() >= MAX_SAMPLED {
                break;
            }
            self.sample.insert(k, v);
        }
        if self.ranges.len() < other.ranges.len() {
            self.ranges.resize(other.ranges.len(), None);
        }
        for (mine, theirs) in self.ranges.iter_mut().zip(other.ranges) {
            *mine = match (*mine, theirs) {
                (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                (a, b) => a.or(b),
            };
        }
    }

    /// The checksum as 32 hex digits.
    pub(crate) fn show(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

/// Buffers reused across rows (digesting runs per row).
#[derive(Default)]
pub(crate) struct Scratch {
    row: Vec<u8>,
    pub(crate) key: Vec<u8>,
}

/// A 64-bit hash of some columns of a row (keys, foreign keys, the sample
/// pick); `scratch` is reused across rows.
pub(crate) fn tuple_hash(
    batch: &Batch,
    schema: &Schema,
    cols: &[usize],
    row: usize,
    scratch: &mut Vec<u8>,
) -> u64 {
    scratch.clear();
    for &c in cols {
        canon_at(batch, row, c, schema.columns[c].logical_type, scratch);
    }
    XxHash3_64::oneshot(scratch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BatchBuilder, ColumnDef, TableDef};

    /// `people`: an `id` key, a nullable `name`, then `more` columns.
    fn people_def(more: &[(&str, LogicalType)]) -> TableDef {
        let col = |name: &str, logical_type, nullable| ColumnDef {
            name: name.into(),
            logical_type,
            nullable,
            ..Default::default()
        };
        let mut columns = vec![
            col("id", LogicalType::Int64, false),
            col("name", LogicalType::Text, true),
        ];
        columns.extend(more.iter().map(|(n, t)| col(n, *t, false)));
        TableDef {
            name: "people".into(),
            columns,
            primary_key: vec!["id".into()],
            ..Default::default()
        }
    }

    fn people(rows: &[(i64, &str)]) -> (DigestSpec, Batch) {
        let def = people_def(&[]);
        let schema = def.schema();
        let mut b = BatchBuilder::new(&schema, rows.len());
        for (id, name) in rows {
            b.copy_value(0, &ValueRef::Int(*id)).unwrap();
            b.copy_value(1, &ValueRef::Text(name)).unwrap();
            b.end_row();
        }
        (DigestSpec::new(schema, &def.primary_key, 1), b.finish())
    }

    #[test]
    fn order_and_batching_do_not_change_a_digest_and_a_value_does() {
        let (spec, ab) = people(&[(1, "a"), (2, "b")]);
        let (_, ba) = people(&[(2, "b"), (1, "a")]);
        let (_, a) = people(&[(1, "a")]);
        let (_, b) = people(&[(2, "b")]);
        let whole = Digest::of_batch(&spec, &ab, None);
        let mut parts = Digest::of_batch(&spec, &a, None);
        parts.merge(Digest::of_batch(&spec, &b, None));
        assert_eq!(whole.sum, Digest::of_batch(&spec, &ba, None).sum);
        assert_eq!((whole.rows, whole.sum), (parts.rows, parts.sum));
        // Every row is sampled at modulus 1, keyed by its id.
        assert_eq!(whole.sample.len(), 2);
        assert_eq!(whole.sample["2"][1].0, "b");
        let (_, changed) = people(&[(1, "a"), (2, "B")]);
        assert_ne!(whole.sum, Digest::of_batch(&spec, &changed, None).sum);
        // A row left out is as if it had never been there.
        let kept = Digest::of_batch(&spec, &ab, Some(&[true, false]));
        assert_eq!(
            (kept.rows, kept.sum),
            (1, Digest::of_batch(&spec, &a, None).sum)
        );
    }

    /// Rows of (id, name, at) in a raw format of this test's own — the real
    /// one, PostgreSQL's, is tested with its endpoint and end to end: per
    /// row the id (i64), the name's length (u32, `u32::MAX` for NULL) and
    /// bytes, and the timestamp (i64), little-endian.
    fn raw_tuples(rows: &[(i64, Option<&str>, i64)]) -> bytes::Bytes {
        let mut b = Vec::new();
        for (id, name, at) in rows {
            b.extend_from_slice(&id.to_le_bytes());
            match name {
                Some(n) => {
                    b.extend_from_slice(&(n.len() as u32).to_le_bytes());
                    b.extend_from_slice(n.as_bytes());
                }
                None => b.extend_from_slice(&u32::MAX.to_le_bytes()),
            }
            b.extend_from_slice(&at.to_le_bytes());
        }
        b.into()
    }

    /// The codec of [`raw_tuples`]' format.
    struct Tuples(Schema);

    impl Tuples {
        fn walk(
            &self,
            bytes: &[u8],
            wanted: Option<&[bool]>,
            mut extents: Option<&mut Vec<std::ops::Range<usize>>>,
        ) -> Result<Batch, String> {
            let take = |at: &mut usize, n: usize| -> Result<&[u8], String> {
                let s = bytes.get(*at..*at + n).ok_or("cut short")?;
                *at += n;
                Ok(s)
            };
            let want = |i: usize| wanted.is_none_or(|w| w[i]);
            let mut b = BatchBuilder::new(&self.0, 0);
            let mut at = 0;
            while at < bytes.len() {
                let start = at;
                let id = i64::from_le_bytes(take(&mut at, 8)?.try_into().unwrap());
                let len = u32::from_le_bytes(take(&mut at, 4)?.try_into().unwrap());
                let name = if len == u32::MAX {
                    None
                } else {
                    Some(take(&mut at, len as usize)?)
                };
                let ts = i64::from_le_bytes(take(&mut at, 8)?.try_into().unwrap());
                if want(0) {
                    b.push_int(0, id);
                } else {
                    b.push_null(0);
                }
                match name.filter(|_| want(1)) {
                    Some(n) => b.push_bytes(1, n).unwrap(),
                    None => b.push_null(1),
                }
                if want(2) {
                    b.push_int(2, ts);
                } else {
                    b.push_null(2);
                }
                b.end_row();
                if let Some(x) = extents.as_deref_mut() {
                    x.push(start..at);
                }
            }
            Ok(b.finish())
        }
    }

    impl RawCodec for Tuples {
        fn decode(&self, bytes: &[u8]) -> Result<Batch, String> {
            self.walk(bytes, None, None)
        }

        fn split(
            &self,
            bytes: &[u8],
            _rows: usize,
            wanted: &[bool],
            extents: &mut Vec<std::ops::Range<usize>>,
        ) -> Result<Batch, String> {
            self.walk(bytes, Some(wanted), Some(extents))
        }
    }

    /// A raw digest hashes each row's bytes and decodes only keys and dates,
    /// yet its sample and ranges are those of the decoded rows, row order does
    /// not count, and a changed value changes it.
    #[test]
    fn raw_rows_digest_by_their_bytes_with_the_decoded_sample_and_ranges() {
        let def = people_def(&[("at", LogicalType::Timestamptz)]);
        let schema = def.schema();
        let codec: crate::endpoint::RawDecoder = std::sync::Arc::new(Tuples(schema.clone()));
        let spec = DigestSpec::new(schema.clone(), &def.primary_key, 1);
        let raw = |rows: &[(i64, Option<&str>, i64)]| crate::endpoint::RawRows {
            bytes: raw_tuples(rows),
            rows: rows.len(),
            decode: codec.clone(),
        };
        let rows = [(1, Some("Ann"), 5), (2, None, -7), (3, Some("Zoë"), 40)];
        let d = Digest::of_raw(&spec, &raw(&rows)).unwrap();
        assert_eq!((d.form, d.rows), (Form::Raw, 3));
        // Sample (every row at modulus 1) and ranges: as of the decoded batch.
        let decoded = codec.decode(&raw_tuples(&rows)).unwrap();
        let by_value = Digest::of_batch(&spec, &decoded, None);
        assert_eq!(by_value.form, Form::Canon);
        assert_eq!(d.sample, by_value.sample);
        assert_eq!(d.ranges, vec![Some((-7, 40))]);
        assert_eq!(d.ranges, by_value.ranges);
        // Only the key and the dates were decoded for the row hashes.
        let mut extents = Vec::new();
        let part = codec
            .split(&raw_tuples(&rows), 3, &spec.wanted(&[]), &mut extents)
            .unwrap();
        assert_eq!(extents.len(), 3);
        assert_eq!(part.value(0, 1), ValueRef::Null);
        assert_eq!(part.value(2, 0), ValueRef::Int(3));
        // Order-independent; one changed value, or a value moved to another
        // row, changes it.
        let reordered = [rows[2], rows[0], rows[1]];
        assert_eq!(Digest::of_raw(&spec, &raw(&reordered)).unwrap().sum, d.sum);
        let changed = [rows[0], (2, Some(""), -7), rows[2]];
        assert_ne!(Digest::of_raw(&spec, &raw(&changed)).unwrap().sum, d.sum);
        let swapped = [(1, Some("Zoë"), 5), rows[1], (3, Some("Ann"), 40)];
        assert_ne!(Digest::of_raw(&spec, &raw(&swapped)).unwrap().sum, d.sum);
        // Digests of both forms merge into one comparable with neither.
        let mut mixed = d.clone();
        mixed.merge(by_value);
        assert_eq!(mixed.form, Form::Mixed);
        // What a sink sent, digested by its bytes with keys, dates and the
        // sample from the batch it encoded, is what a raw read-back of the
        // same bytes digests: the two compare.
        let bytes = raw_tuples(&rows);
        let mut offsets = vec![0];
        for r in &rows {
            offsets.push(offsets.last().unwrap() + raw_tuples(&[*r]).len());
        }
        let sent = crate::endpoint::SentRows {
            bytes: bytes.clone(),
            offsets: offsets.clone(),
            kept: None,
        };
        let by_sent = Digest::of_sent(&spec, &decoded, &sent).unwrap();
        assert_eq!(by_sent.form, Form::Raw);
        assert_eq!((by_sent.rows, by_sent.sum), (d.rows, d.sum));
        assert_eq!((&by_sent.sample, &by_sent.ranges), (&d.sample, &d.ranges));
        // Rows the sink did not send (`kept`) are not in it: the batch
        // still holds them, the bytes do not.
        let two = [rows[0], rows[2]];
        let sent_two = crate::endpoint::SentRows {
            bytes: raw_tuples(&two),
            offsets: vec![0, offsets[1], offsets[1] + (offsets[3] - offsets[2])],
            kept: Some(vec![true, false, true]),
        };
        let by_two = Digest::of_sent(&spec, &decoded, &sent_two).unwrap();
        let raw_two = Digest::of_raw(&spec, &raw(&two)).unwrap();
        assert_eq!((by_two.rows, by_two.sum), (2, raw_two.sum));
        assert_eq!(by_two.sample, raw_two.sample);
        // Offsets that do not describe the batch are refused, not trusted.
        let wrong = crate::endpoint::SentRows {
            bytes,
            offsets: offsets[..3].to_vec(),
            kept: None,
        };
        assert!(Digest::of_sent(&spec, &decoded, &wrong).is_none());
        // Bytes cut short are an error, not a panic.
        let cut = raw_tuples(&rows).slice(..20);
        let short = crate::endpoint::RawRows {
            bytes: cut,
            rows: 1,
            decode: codec.clone(),
        };
        assert!(Digest::of_raw(&spec, &short).is_err());
    }
}
