//! PostgreSQL's binary COPY format: the sink's encoder and the source's
//! decoder (fields, epochs, numerics).

use crate::model::{Batch, ColumnData, LogicalType, SqlType};
use bytes::{BufMut, BytesMut};

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
pub(super) const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub(super) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The binary COPY header: signature, flags, header extension length.
pub(super) const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary COPY trailer: a field count of -1.
pub(super) const COPY_TRAILER: &[u8] = &[0xff, 0xff];

/// How one column's values go on the wire, decided once per column.
#[derive(Debug, Clone, Copy)]
enum Enc {
    Bool,
    Int8,
    /// A declared `integer`: 4 bytes.
    Int4,
    /// A declared `smallint`: 2 bytes.
    Int2,
    /// Microseconds since 1970 → since 2000.
    Timestamp,
    Float8,
    /// A declared `real`: 4 bytes.
    Float4,
    Date,
    Uuid,
    Numeric,
    Jsonb,
    Bytes,
}

fn enc(t: LogicalType, declared: Option<SqlType>) -> Enc {
    match (t, declared) {
        (LogicalType::Boolean, _) => Enc::Bool,
        (LogicalType::Int64, Some(SqlType::SmallInt)) => Enc::Int2,
        (LogicalType::Int64, Some(SqlType::Integer)) => Enc::Int4,
        (LogicalType::Int64 | LogicalType::Time, _) => Enc::Int8,
        (LogicalType::Timestamp | LogicalType::Timestamptz, _) => Enc::Timestamp,
        (LogicalType::Float64, Some(SqlType::Real)) => Enc::Float4,
        (LogicalType::Float64, _) => Enc::Float8,
        (LogicalType::Date, _) => Enc::Date,
        (LogicalType::Uuid, _) => Enc::Uuid,
        (LogicalType::Decimal, _) => Enc::Numeric,
        (LogicalType::Json, _) => Enc::Jsonb,
        (LogicalType::Text | LogicalType::Bytes, _) => Enc::Bytes,
    }
}

/// Whether a column PostgreSQL stores as `stored` (as `format_type` spells
/// it) keeps what [`encode_copy_binary`] sends for values of `t` byte for
/// byte, so that its binary `COPY TO` gives back the very field it was
/// sent. Not so for `numeric` (the column's scale is applied), `jsonb`
/// (parsed and printed anew), `character(n)` (padded), a timestamp or time
/// of limited precision (rounded), nor for any type not named here.
pub(super) fn verbatim(t: LogicalType, declared: Option<SqlType>, stored: &str) -> bool {
    match enc(t, declared) {
        Enc::Bool => stored == "boolean",
        Enc::Int8 => {
            stored == "bigint" || (t == LogicalType::Time && stored == "time without time zone")
        }
        Enc::Int4 => stored == "integer",
        Enc::Int2 => stored == "smallint",
        Enc::Timestamp => matches!(
            stored,
            "timestamp with time zone" | "timestamp without time zone"
        ),
        Enc::Float8 => stored == "double precision",
        Enc::Float4 => stored == "real",
        Enc::Date => stored == "date",
        Enc::Uuid => stored == "uuid",
        Enc::Bytes => {
            matches!(stored, "text" | "bytea" | "character varying")
                || stored.starts_with("character varying(")
        }
        Enc::Numeric | Enc::Jsonb => false,
    }
}

/// About the bytes [`encode_copy_binary`] writes for `batch` (at least, for
/// the fixed widths; a numeric's digits can take more): reserved at once, so
/// the buffer is not grown by doubling and copied each time.
fn encoded_size(batch: &Batch) -> usize {
    let rows = batch.num_rows;
    let fields: usize = batch
        .columns
        .iter()
        .map(|c| match &c.data {
            ColumnData::Bools(_) => rows,
            ColumnData::Dates(_) => rows * 4,
            ColumnData::Ints(_) | ColumnData::Floats(_) => rows * 8,
            ColumnData::Uuids(_) => rows * 16,
            // A json(b) value's version byte included.
            ColumnData::Utf8(v) | ColumnData::Binary(v) => v.data.len() + rows,
        })
        .sum();
    // Header and trailer; per row the field count, per field its length.
    32 + rows * (2 + 4 * batch.columns.len()) + fields
}

/// Encodes a checked batch in PostgreSQL's binary COPY format, each column
/// as its declared type takes it (`declared[i]`: `smallint`, `integer` and
/// `real` are narrower on the wire). With `offsets`, the start of every row
/// and the end of the last are recorded, so a slice of rows can be sent
/// alone (the bisection of a refused batch).
///
/// Values must fit their declared type (the sink rejects those that do not
/// before encoding, `refused::unfit_values`); one that does not is an
/// internal error, never a silently narrowed number.
pub(super) fn encode_copy_binary(
    batch: &Batch,
    schema: &crate::model::Schema,
    declared: &[Option<SqlType>],
    mut offsets: Option<&mut Vec<usize>>,
) -> Result<BytesMut, String> {
    let mut buf = BytesMut::with_capacity(encoded_size(batch));
    buf.put_slice(COPY_HEADER);
    let encs: Vec<Enc> = schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| enc(c.logical_type, declared.get(i).copied().flatten()))
        .collect();
    let ncols = schema.columns.len() as i16;
    let narrow = |what: &str, ci: usize, row: usize| {
        format!(
            "internal error: row {row} of column `{}` does not fit {what}, but was not rejected before the COPY",
            schema.columns[ci].name
        )
    };
    for row in 0..batch.num_rows {
        if let Some(o) = offsets.as_deref_mut() {
            o.push(buf.len());
        }
        buf.put_i16(ncols);
        for (ci, col) in batch.columns.iter().enumerate() {
            if col.is_null(row) {
                buf.put_i32(-1);
                continue;
            }
            match (&col.data, encs[ci]) {
                (ColumnData::Bools(v), _) => {
                    buf.put_i32(1);
                    buf.put_u8(v[row] as u8);
                }
                (ColumnData::Ints(v), Enc::Int2) => {
                    let x = i16::try_from(v[row]).map_err(|_| narrow("smallint", ci, row))?;
                    buf.put_i32(2);
                    buf.put_i16(x);
                }
                (ColumnData::Ints(v), Enc::Int4) => {
                    let x = i32::try_from(v[row]).map_err(|_| narrow("integer", ci, row))?;
                    buf.put_i32(4);
                    buf.put_i32(x);
                }
                (ColumnData::Ints(v), Enc::Timestamp) => {
                    buf.put_i32(8);
                    buf.put_i64(v[row] - PG_EPOCH_MICROS);
                }
                (ColumnData::Ints(v), _) => {
                    buf.put_i32(8);
                    buf.put_i64(v[row]);
                }
                (ColumnData::Floats(v), Enc::Float4) => {
                    let x = v[row] as f32;
                    if f64::from(x) != v[row] && !v[row].is_nan() {
                        return Err(narrow("real", ci, row));
                    }
                    buf.put_i32(4);
                    buf.put_f32(x);
                }
                (ColumnData::Floats(v), _) => {
                    buf.put_i32(8);
                    buf.put_f64(v[row]);
                }
                (ColumnData::Dates(v), _) => {
                    buf.put_i32(4);
                    buf.put_i32(v[row] - PG_EPOCH_DAYS);
                }
                (ColumnData::Uuids(v), _) => {
                    buf.put_i32(16);
                    buf.put_slice(&v[row * 16..row * 16 + 16]);
                }
                (ColumnData::Utf8(v), Enc::Numeric) => {
                    let bytes = std::str::from_utf8(v.value(row))
                        .ok()
                        .and_then(encode_numeric);
                    match bytes {
                        Some(n) => {
                            buf.put_i32(n.len() as i32);
                            buf.put_slice(&n);
                        }
                        // The reader only produces valid decimals; a plugin
                        // that returned garbage gets NaN-free failure from the
                        // server instead of a wrong number.
                        None => {
                            buf.put_i32(-1);
                        }
                    }
                }
                (ColumnData::Utf8(v), Enc::Jsonb) => {
                    let s = v.value(row);
                    buf.put_i32(s.len() as i32 + 1);
                    buf.put_u8(1); // jsonb binary format version
                    buf.put_slice(s);
                }
                (ColumnData::Utf8(v), _) | (ColumnData::Binary(v), _) => {
                    let s = v.value(row);
                    buf.put_i32(s.len() as i32);
                    buf.put_slice(s);
                }
            }
        }
    }
    if let Some(o) = offsets {
        o.push(buf.len());
    }
    buf.put_slice(COPY_TRAILER);
    Ok(buf)
}

/// Encodes decimal text as PostgreSQL's binary `numeric`: base-10000 digits,
/// a weight, a sign and a display scale. `None` if the text is not a number.
pub(super) fn encode_numeric(s: &str) -> Option<Vec<u8>> {
    let d = crate::model::Decimal::parse(s)?;
    // An exponent beyond i32 is far out of numeric's range (checked below).
    i32::try_from(d.exp).ok()?;
    let neg = d.negative;
    // All digits, and where the decimal point falls among them.
    let digits: Vec<u8> = d.digits().bytes().map(|b| b - b'0').collect();
    let point = d.point();
    let dscale = (digits.len() as i64 - point).max(0);
    // PostgreSQL's numeric limits: at most 16,383 digits after the point and
    // 131,072 before it. Beyond them the value is not a `numeric`.
    if dscale > 16383 || point > 131072 {
        return None;
    }
    // Pad so the point falls on a 4-digit group boundary.
    let lead = (4 - point.rem_euclid(4)) % 4;
    let mut padded: Vec<u8> = vec![0; lead as usize];
    let mut int_len = point + lead;
    if int_len < 0 {
        // Point is left of every digit: prepend zeros.
        padded.extend(std::iter::repeat_n(0, (-int_len) as usize));
        int_len = 0;
    }
    padded.extend_from_slice(&digits);
    while (padded.len() as i64) < int_len {
        padded.push(0);
    }
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let groups: Vec<i16> = padded
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |a, &d| a * 10 + d as i16))
        .collect();
    let mut weight = (int_len / 4) as i32 - 1;
    let mut start = 0;
    while start < groups.len() && groups[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = groups.len();
    while end > start && groups[end - 1] == 0 {
        end -= 1;
    }
    let ds = &groups[start..end];
    let mut out = Vec::with_capacity(8 + ds.len() * 2);
    out.extend_from_slice(&(ds.len() as i16).to_be_bytes());
    out.extend_from_slice(&(if ds.is_empty() { 0 } else { weight } as i16).to_be_bytes());
    out.extend_from_slice(&(if neg && !ds.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&(dscale as u16).to_be_bytes());
    for d in ds {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Some(out)
}
