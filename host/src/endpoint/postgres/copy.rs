//! PostgreSQL's binary COPY format: the sink's encoder and the source's
//! decoder (fields, epochs, numerics).

use crate::model::{Batch, ColumnData, LogicalType, Storage};
use bytes::{BufMut, BytesMut};

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
pub(super) const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
pub(super) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Encodes a checked batch in PostgreSQL's binary COPY format.
pub(super) fn encode_copy_binary(batch: &Batch, schema: &crate::model::Schema) -> BytesMut {
    let mut buf = BytesMut::with_capacity(64 + batch.num_rows * schema.columns.len() * 12);
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0); // flags
    buf.put_i32(0); // header extension length
    let ncols = schema.columns.len() as i16;
    for row in 0..batch.num_rows {
        buf.put_i16(ncols);
        for (ci, col) in batch.columns.iter().enumerate() {
            if col.is_null(row) {
                buf.put_i32(-1);
                continue;
            }
            let t = schema.columns[ci].logical_type;
            match (&col.data, t.storage()) {
                (ColumnData::Bools(v), _) => {
                    buf.put_i32(1);
                    buf.put_u8(v[row] as u8);
                }
                (ColumnData::Ints(v), _) => {
                    buf.put_i32(8);
                    let x = v[row];
                    buf.put_i64(match t {
                        LogicalType::Timestamp | LogicalType::Timestamptz => x - PG_EPOCH_MICROS,
                        _ => x,
                    });
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
                (ColumnData::Utf8(v), Storage::Utf8) if t == LogicalType::Decimal => {
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
                (ColumnData::Utf8(v), _) if t == LogicalType::Json => {
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
    buf.put_i16(-1);
    buf
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
