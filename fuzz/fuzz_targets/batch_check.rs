//! `batch_check`: `ferry_model::Batch::check`, the gate every batch a
//! plugin returns goes through (`model/src/batch.rs`), and what the host
//! does with a batch that passed it.
//!
//! The input describes plugin output as the WIT boundary can carry it: a
//! `u32` row count and columns of any storage, with any buffers, offsets and
//! validity bitmaps, against a schema of any logical types and
//! nullability. To reach the accepting path often, a column may be
//! *fitted* (the declared type's storage with one value per row, offsets
//! that add up, possibly one broken offset) or *raw* (anything at all).
//!
//! Invariants:
//! - `check` never panics and allocates nothing in proportion to the row
//!   count the plugin claims;
//! - on a checked batch, everything the host then does never panics and
//!   stays in proportion to the data: `value(row, col)` for every cell (the
//!   storage the schema declares; text for text columns; null only where
//!   nullable), `value_json`, `row_json`, `source_key`, the host's
//!   `keep` vector and `retain`, and copying every value into a
//!   `BatchBuilder`;
//! - what `retain` and the builder produce checks against the same schema
//!   and holds the same values.

#![no_main]

use arbitrary::Arbitrary;
use ferry_model::{
    Batch, BatchBuilder, Column, ColumnData, ColumnValues, LogicalType, Schema, Storage, ValueRef,
    VarWidth, value_json,
};
use libfuzzer_sys::fuzz_target;

/// Most values the target itself builds for a fitted column: a fitted
/// column of a bigger batch is built short and fails `check` on its
/// length, so the target's own memory stays small whatever row count the
/// input claims.
const MAX_FITTED_ROWS: usize = 1024;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Type {
    Boolean,
    Int64,
    Float64,
    Decimal,
    Text,
    Bytes,
    Json,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Uuid,
}

impl From<Type> for LogicalType {
    fn from(t: Type) -> Self {
        match t {
            Type::Boolean => LogicalType::Boolean,
            Type::Int64 => LogicalType::Int64,
            Type::Float64 => LogicalType::Float64,
            Type::Decimal => LogicalType::Decimal,
            Type::Text => LogicalType::Text,
            Type::Bytes => LogicalType::Bytes,
            Type::Json => LogicalType::Json,
            Type::Date => LogicalType::Date,
            Type::Time => LogicalType::Time,
            Type::Timestamp => LogicalType::Timestamp,
            Type::Timestamptz => LogicalType::Timestamptz,
            Type::Uuid => LogicalType::Uuid,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Rows {
    /// Most batches: a few rows, so fitted columns can match.
    Few(u8),
    /// Any row count the WIT `u32` can carry.
    Any(u32),
}

#[derive(Arbitrary, Debug)]
enum Validity {
    None,
    /// `ceil(rows / 8)` bytes, cycled from these.
    Fitted(Vec<u8>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum RawData {
    Bools(Vec<bool>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Dates(Vec<i32>),
    Uuids(Vec<u8>),
    Utf8(Vec<u8>, Vec<u32>),
    Binary(Vec<u8>, Vec<u32>),
}

#[derive(Arbitrary, Debug)]
struct Fitted {
    /// Value bytes, cycled.
    bytes: Vec<u8>,
    /// Length of each variable-width value, cycled.
    lens: Vec<u8>,
    /// Variable-width text from the bytes made valid UTF-8, offsets moved
    /// to character boundaries.
    valid_text: bool,
    /// One offset overwritten: (index, value).
    break_offset: Option<(u16, u32)>,
}

#[derive(Arbitrary, Debug)]
enum Data {
    Fitted(Fitted),
    Raw(RawData),
}

#[derive(Arbitrary, Debug)]
struct ColumnSpec {
    /// Names come from a small set, so some repeat.
    name: u8,
    logical_type: Type,
    nullable: bool,
    validity: Validity,
    data: Data,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rows: Rows,
    columns: Vec<ColumnSpec>,
    /// Schema columns without batch data (a column count mismatch).
    schema_only: Vec<(u8, Type, bool)>,
    /// Primary key column names (same small set, plus unknown ones).
    primary_key: Vec<u8>,
    /// Which rows the host keeps (cycled).
    keep: Vec<bool>,
}

fn name(n: u8) -> String {
    format!("c{}", n % 12)
}

fn cycled(bytes: &[u8], i: usize) -> u8 {
    if bytes.is_empty() {
        0
    } else {
        bytes[i % bytes.len()]
    }
}

fn word<const N: usize>(bytes: &[u8], row: usize) -> [u8; N] {
    std::array::from_fn(|k| cycled(bytes, row * N + k))
}

fn fitted(storage: Storage, rows: usize, f: &Fitted) -> ColumnData {
    let n = rows.min(MAX_FITTED_ROWS);
    let b = &f.bytes;
    match storage {
        Storage::Bools => ColumnData::Bools((0..n).map(|i| cycled(b, i) & 1 == 1).collect()),
        Storage::Ints => ColumnData::Ints((0..n).map(|i| i64::from_le_bytes(word(b, i))).collect()),
        Storage::Floats => {
            ColumnData::Floats((0..n).map(|i| f64::from_le_bytes(word(b, i))).collect())
        }
        Storage::Dates => {
            ColumnData::Dates((0..n).map(|i| i32::from_le_bytes(word(b, i))).collect())
        }
        Storage::Uuids => ColumnData::Uuids((0..n * 16).map(|i| cycled(b, i)).collect()),
        Storage::Utf8 | Storage::Binary => {
            let source: Vec<u8> = if f.valid_text {
                String::from_utf8_lossy(b).into_owned().into_bytes()
            } else {
                b.clone()
            };
            let mut data = Vec::new();
            let mut offsets = vec![0u32];
            let mut at = 0usize;
            for i in 0..n {
                let len = usize::from(cycled(&f.lens, i));
                if f.valid_text {
                    // Whole characters only, cycling through the text.
                    let s = std::str::from_utf8(&source).unwrap_or_default();
                    let mut end = (at + len).min(s.len());
                    while !s.is_char_boundary(end) {
                        end += 1;
                    }
                    data.extend_from_slice(&source[at..end]);
                    at = if end == s.len() { 0 } else { end };
                } else {
                    data.extend((0..len).map(|k| cycled(&source, at + k)));
                    at += len;
                }
                offsets.push(data.len() as u32);
            }
            if let Some((i, v)) = f.break_offset {
                let i = usize::from(i) % offsets.len();
                offsets[i] = v;
            }
            let v = VarWidth { data, offsets };
            if storage == Storage::Utf8 {
                ColumnData::Utf8(v)
            } else {
                ColumnData::Binary(v)
            }
        }
    }
}

fn raw(r: RawData) -> ColumnData {
    match r {
        RawData::Bools(v) => ColumnData::Bools(v),
        RawData::Ints(v) => ColumnData::Ints(v),
        RawData::Floats(v) => ColumnData::Floats(v),
        RawData::Dates(v) => ColumnData::Dates(v),
        RawData::Uuids(v) => ColumnData::Uuids(v),
        RawData::Utf8(data, offsets) => ColumnData::Utf8(VarWidth { data, offsets }),
        RawData::Binary(data, offsets) => ColumnData::Binary(VarWidth { data, offsets }),
    }
}

fn build(input: Input) -> (Schema, Batch, Vec<String>, Vec<bool>) {
    let rows = match input.rows {
        Rows::Few(n) => usize::from(n),
        Rows::Any(n) => n as usize,
    };
    let mut schema = Schema {
        table: "t".into(),
        columns: Vec::new(),
    };
    let mut columns = Vec::new();
    for spec in input.columns {
        let logical_type = LogicalType::from(spec.logical_type);
        schema.columns.push(Column {
            name: name(spec.name),
            logical_type,
            nullable: spec.nullable,
        });
        let validity = match spec.validity {
            Validity::None => None,
            Validity::Fitted(bits) => Some(
                (0..rows.min(MAX_FITTED_ROWS).div_ceil(8))
                    .map(|i| cycled(&bits, i))
                    .collect(),
            ),
            Validity::Raw(bits) => Some(bits),
        };
        let data = match spec.data {
            Data::Fitted(f) => fitted(logical_type.storage(), rows, &f),
            Data::Raw(r) => raw(r),
        };
        columns.push(ColumnValues { validity, data });
    }
    for (n, t, nullable) in input.schema_only {
        schema.columns.push(Column {
            name: name(n),
            logical_type: t.into(),
            nullable,
        });
    }
    let primary_key = input
        .primary_key
        .iter()
        .map(|&n| if n >= 240 { "missing".into() } else { name(n) })
        .collect();
    let batch = Batch {
        num_rows: rows,
        columns,
    };
    (schema, batch, primary_key, input.keep)
}

fuzz_target!(|input: Input| {
    let (schema, batch, primary_key, keep_bits) = build(input);
    if batch.check(&schema).is_err() {
        return;
    }
    let rows = batch.num_rows;
    let width = schema.columns.len();

    // What the host does with a checked batch (migrate.rs, cast.rs,
    // verify.rs, the endpoints): read every cell, render rows and keys,
    // keep or drop rows.
    for row in 0..rows {
        for (col, def) in schema.columns.iter().enumerate() {
            let v = batch.value(row, col);
            assert_storage(&v, def);
            let _ = value_json(v);
        }
        let json = batch.row_json(&schema, row);
        assert!(json.as_object().is_some_and(|o| o.len() <= width));
        let _ = batch.source_key(&schema, &primary_key, row);
    }
    let mut keep = vec![true; rows];
    for (row, k) in keep.iter_mut().enumerate() {
        *k = keep_bits.is_empty() || keep_bits[row % keep_bits.len()];
    }
    let kept = batch.retain(&schema, &keep);
    kept.check(&schema)
        .expect("retain made a batch that fails check");
    let mut at = 0;
    for row in (0..rows).filter(|&r| keep[r]) {
        for col in 0..width {
            assert_same(&kept.value(at, col), &batch.value(row, col));
        }
        at += 1;
    }
    assert_eq!(at, kept.num_rows);

    // Copying values one by one, as cast.rs and consolidate.rs do.
    let mut b = BatchBuilder::new(&schema, rows);
    for row in 0..rows {
        for col in 0..width {
            b.copy_value(col, &batch.value(row, col))
                .expect("a checked batch's values fit a builder");
        }
        b.end_row();
    }
    // An abandoned half row leaves no trace.
    if width > 0 && rows > 0 {
        b.copy_value(0, &batch.value(0, 0)).expect("fits");
        b.abandon_row();
    }
    let copy = b.finish();
    copy.check(&schema)
        .expect("the builder made a batch that fails check");
    assert_eq!(copy.num_rows, rows);
    for row in 0..rows {
        for col in 0..width {
            assert_same(&copy.value(row, col), &batch.value(row, col));
        }
    }
    Batch::empty(&schema)
        .check(&schema)
        .expect("an empty batch fails check");
});

/// A checked cell has the declared storage, is text in a text column, and
/// is null only where the schema allows it.
fn assert_storage(v: &ValueRef<'_>, def: &Column) {
    let ok = match (v, def.logical_type.storage()) {
        (ValueRef::Null, _) => def.nullable,
        (ValueRef::Bool(_), Storage::Bools)
        | (ValueRef::Int(_), Storage::Ints)
        | (ValueRef::Float(_), Storage::Floats)
        | (ValueRef::Date(_), Storage::Dates)
        | (ValueRef::Text(_), Storage::Utf8)
        | (ValueRef::Bytes(_), Storage::Binary) => true,
        (ValueRef::Uuid(u), Storage::Uuids) => u.len() == 16,
        _ => false,
    };
    assert!(
        ok,
        "column {:?} ({}) gave {v:?}",
        def.name, def.logical_type
    );
}

/// Equal values, floats compared by their bits (NaN included).
fn assert_same(a: &ValueRef<'_>, b: &ValueRef<'_>) {
    let same = match (a, b) {
        (ValueRef::Float(x), ValueRef::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    };
    assert!(same, "{a:?} != {b:?}");
}
