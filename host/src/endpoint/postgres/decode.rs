//! Decoding binary COPY rows into batches, value by value, exactly.

use super::*;
use crate::model::{BatchBuilder, LogicalType, Reject, Stage, TableDef, ValueRef, value_json};

/// The binary COPY signature, flags and header extension.
/// `Ok(None)`: not all of it has arrived yet.
pub(super) fn parse_header(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    const SIG: &[u8] = b"PGCOPY\n\xff\r\n\0";
    if buf.len() < SIG.len() + 8 {
        return Ok(None);
    }
    if &buf[..SIG.len()] != SIG {
        return Err("no PGCOPY signature");
    }
    let ext = i32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]);
    let ext = usize::try_from(ext).map_err(|_| "negative header extension length")?;
    let n = SIG.len() + 8 + ext;
    Ok(if buf.len() >= n { Some(n) } else { None })
}

pub(super) enum RowParse {
    /// A whole row of this many bytes; `fields` holds (offset, length) of
    /// each non-null field within it.
    Row(usize),
    /// The trailer (field count -1).
    End,
    /// More data is needed.
    Incomplete,
}

/// Finds the fields of the next binary COPY tuple at the start of `buf`.
pub(super) fn parse_row(
    buf: &[u8],
    fields: &mut Vec<Option<(usize, usize)>>,
) -> Result<RowParse, String> {
    fields.clear();
    if buf.len() < 2 {
        return Ok(RowParse::Incomplete);
    }
    let n = i16::from_be_bytes([buf[0], buf[1]]);
    if n == -1 {
        return Ok(RowParse::End);
    }
    let n = usize::try_from(n).map_err(|_| format!("field count {n}"))?;
    let mut pos = 2;
    for _ in 0..n {
        let Some(len) = buf.get(pos..pos + 4) else {
            return Ok(RowParse::Incomplete);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        pos += 4;
        if len == -1 {
            fields.push(None);
            continue;
        }
        let len = usize::try_from(len).map_err(|_| format!("field length {len}"))?;
        if buf.len() < pos + len {
            return Ok(RowParse::Incomplete);
        }
        fields.push(Some((pos, len)));
        pos += len;
    }
    Ok(RowParse::Row(pos))
}

/// A rejected value: why, and how to show it in the quarantined row.
pub(super) struct Bad {
    pub(super) reason: String,
    pub(super) shown: serde_json::Value,
}

pub(super) fn fixed<const N: usize>(kind: Wire, raw: &[u8]) -> Result<[u8; N], Bad> {
    raw.try_into().map_err(|_| Bad {
        reason: format!("{kind:?} value of {} bytes, expected {N}", raw.len()),
        shown: format!("\\x{}", hex::encode(raw)).into(),
    })
}

/// Valid UTF-8 text, or the row is rejected (a `SQL_ASCII` database can
/// hold any bytes).
pub(super) fn utf8(raw: &[u8]) -> Result<&str, Bad> {
    std::str::from_utf8(raw).map_err(|err| Bad {
        reason: format!(
            "text is not valid UTF-8 (invalid byte at offset {})",
            err.valid_up_to()
        ),
        shown: format!("\\x{}", hex::encode(raw)).into(),
    })
}

/// Decodes one non-null binary COPY field into its logical value, exactly.
/// A cursor value as a high-water mark: JSON the filter can write back as a
/// literal the server compares with the column (numbers, ISO text).
pub(super) fn cursor_json(v: ValueRef<'_>, t: LogicalType) -> Option<serde_json::Value> {
    use crate::model::temporal as tm;
    Some(match (v, t) {
        (ValueRef::Int(i), LogicalType::Timestamptz) => tm::format_timestamptz(i).into(),
        (ValueRef::Int(i), LogicalType::Timestamp) => tm::format_timestamp(i).into(),
        (ValueRef::Int(i), LogicalType::Int64) => i.into(),
        (ValueRef::Date(d), _) => tm::format_date(d).into(),
        (ValueRef::Float(f), _) => serde_json::Number::from_f64(f)?.into(),
        (ValueRef::Text(s), _) => s.into(),
        _ => return None,
    })
}

pub(super) fn decode(kind: Wire, raw: &[u8]) -> Result<ValueRef<'_>, Bad> {
    let infinite = |what: &str, positive: bool| Bad {
        reason: format!(
            "{}infinity {what} cannot be stored as {}",
            if positive { "" } else { "-" },
            kind.logical()
        ),
        shown: if positive { "infinity" } else { "-infinity" }.into(),
    };
    let out_of_range = |what: String| Bad {
        reason: format!("{what} is outside the range of {}", kind.logical()),
        shown: what.into(),
    };
    Ok(match kind {
        Wire::Bool => ValueRef::Bool(fixed::<1>(kind, raw)?[0] != 0),
        Wire::Int2 => ValueRef::Int(i16::from_be_bytes(fixed(kind, raw)?) as i64),
        Wire::Int4 => ValueRef::Int(i32::from_be_bytes(fixed(kind, raw)?) as i64),
        Wire::Int8 => ValueRef::Int(i64::from_be_bytes(fixed(kind, raw)?)),
        // f32 → f64 is exact (every f32 is an f64), NaN and ±Infinity included.
        Wire::Float4 => ValueRef::Float(f32::from_be_bytes(fixed(kind, raw)?) as f64),
        Wire::Float8 => ValueRef::Float(f64::from_be_bytes(fixed(kind, raw)?)),
        Wire::Numeric => {
            let s = utf8(raw)?;
            if matches!(s, "NaN" | "Infinity" | "-Infinity") {
                return Err(Bad {
                    reason: format!(
                        "numeric {s} cannot be stored as decimal (it holds only finite numbers)"
                    ),
                    shown: s.into(),
                });
            }
            ValueRef::Text(s)
        }
        Wire::Text => ValueRef::Text(utf8(raw)?),
        Wire::Json => ValueRef::Text(utf8(raw)?),
        Wire::Jsonb => match raw.split_first() {
            Some((1, rest)) => ValueRef::Text(utf8(rest)?),
            _ => {
                return Err(Bad {
                    reason: "jsonb in an unknown binary format version".into(),
                    shown: format!("\\x{}", hex::encode(raw)).into(),
                });
            }
        },
        Wire::Bytea => ValueRef::Bytes(raw),
        Wire::Uuid => {
            fixed::<16>(kind, raw)?;
            ValueRef::Uuid(raw)
        }
        Wire::Date => match i32::from_be_bytes(fixed(kind, raw)?) {
            i32::MAX => return Err(infinite("date", true)),
            i32::MIN => return Err(infinite("date", false)),
            d => match d.checked_add(PG_EPOCH_DAYS) {
                Some(d) => ValueRef::Date(d),
                None => return Err(out_of_range(format!("date {d} days after 2000-01-01"))),
            },
        },
        Wire::Time => {
            let t = i64::from_be_bytes(fixed(kind, raw)?);
            // 24:00:00, the end of the day, is a valid time (ISO 8601, PostgreSQL).
            if !(0..=MICROS_PER_DAY).contains(&t) {
                return Err(out_of_range(format!("time of {t} µs")));
            }
            ValueRef::Int(t)
        }
        Wire::Timestamp | Wire::Timestamptz => match i64::from_be_bytes(fixed(kind, raw)?) {
            i64::MAX => return Err(infinite("timestamp", true)),
            i64::MIN => return Err(infinite("timestamp", false)),
            t => match t.checked_add(PG_EPOCH_MICROS) {
                Some(t) => ValueRef::Int(t),
                None => {
                    return Err(out_of_range(format!("timestamp {t} µs after 2000-01-01")));
                }
            },
        },
    })
}

/// Why a parsed row did not go into a batch.
pub(super) enum RowError {
    /// Column `.0`'s value does not map onto its logical type.
    Value(usize, Bad),
    /// The batch refused the value (it grew past its size limit).
    Batch(String),
}

/// Decodes a parsed row's `fields` (offsets into `row`) into the builder's
/// current row; the caller ends or abandons the row. With `binary_numeric`,
/// `numeric` fields are numeric's binary form (a raw read selects numeric as
/// itself), else its text. With `wanted`, only the columns it marks are
/// decoded; the others are pushed as NULL.
pub(super) fn push_row(
    b: &mut BatchBuilder,
    kinds: &[Wire],
    row: &[u8],
    fields: &[Option<(usize, usize)>],
    binary_numeric: bool,
    wanted: Option<&[bool]>,
) -> Result<(), RowError> {
    for (i, (kind, f)) in kinds.iter().zip(fields).enumerate() {
        let text;
        let v = match f {
            None => ValueRef::Null,
            // A column the caller does not look at is left NULL undecoded.
            Some(_) if wanted.is_some_and(|w| !w.get(i).copied().unwrap_or(true)) => ValueRef::Null,
            Some((s, l)) if binary_numeric && *kind == Wire::Numeric => {
                let raw = &row[*s..*s + *l];
                text = numeric_text(raw).map_err(|reason| {
                    RowError::Value(
                        i,
                        Bad {
                            reason,
                            shown: format!("\\x{}", hex::encode(raw)).into(),
                        },
                    )
                })?;
                ValueRef::Text(&text)
            }
            Some((s, l)) => {
                decode(*kind, &row[*s..*s + *l]).map_err(|bad| RowError::Value(i, bad))?
            }
        };
        push(b, i, v).map_err(RowError::Batch)?;
    }
    Ok(())
}

pub(super) fn push(b: &mut BatchBuilder, i: usize, v: ValueRef<'_>) -> Result<(), String> {
    match v {
        ValueRef::Null => b.push_null(i),
        ValueRef::Bool(x) => b.push_bool(i, x),
        ValueRef::Int(x) => b.push_int(i, x),
        ValueRef::Float(x) => b.push_float(i, x),
        ValueRef::Date(x) => b.push_date(i, x),
        ValueRef::Uuid(u) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(u);
            b.push_uuid(i, &a)
        }
        ValueRef::Text(s) => b.push_bytes(i, s.as_bytes()).map_err(|e| e.to_string())?,
        ValueRef::Bytes(x) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
    }
    Ok(())
}

/// The quarantine record of a row whose column `col` could not be read:
/// the whole row as JSON (values as a batch would show them; the bad ones as
/// the server showed them), its primary key, and the reason.
pub(super) fn read_reject(
    table: &TableDef,
    kinds: &[Wire],
    pk_idx: &[usize],
    row: &[u8],
    fields: &[Option<(usize, usize)>],
    col: usize,
    bad: Bad,
) -> Reject {
    let values: Vec<serde_json::Value> = kinds
        .iter()
        .zip(fields)
        .map(|(kind, f)| match f {
            None => serde_json::Value::Null,
            Some((s, l)) => match decode(*kind, &row[*s..*s + *l]) {
                Ok(v) => value_json(v),
                Err(b) => b.shown,
            },
        })
        .collect();
    let source_key = if pk_idx.is_empty() {
        None
    } else {
        Some(
            pk_idx
                .iter()
                .map(|&i| values[i].to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
    };
    let mut obj = serde_json::Map::new();
    for (c, v) in table.columns.iter().zip(values) {
        obj.insert(c.name.clone(), v);
    }
    let code = match kinds[col] {
        Wire::Text | Wire::Json | Wire::Jsonb => "type-mismatch",
        _ => "unrepresentable",
    };
    Reject {
        table: table.name.clone(),
        source_key,
        stage: Stage::Read,
        plugin: None,
        column: Some(table.columns[col].name.clone()),
        code: code.into(),
        reason: bad.reason,
        row: serde_json::Value::Object(obj),
    }
}

/// The name of PostgreSQL's raw rows ([`crate::endpoint::RawRows`]): binary
/// COPY tuples, loaded by a binary `COPY FROM` as they are.
pub(super) const RAW_FORMAT: &str = "postgresql-binary-copy";

/// Decodes raw binary COPY tuples (no header, no trailer) of columns `kinds`
/// into batches of `schema` — what verification looks at of a table passed
/// through. A value that does not map onto its logical type fails the whole
/// decode (the run then verifies by reading both sides).
pub(super) fn raw_decoder(
    kinds: Vec<Wire>,
    schema: crate::model::Schema,
) -> crate::endpoint::RawDecoder {
    std::sync::Arc::new(RawTuples { kinds, schema })
}

/// [`raw_decoder`]'s codec.
struct RawTuples {
    kinds: Vec<Wire>,
    schema: crate::model::Schema,
}

impl RawTuples {
    /// Walks the tuples of `bytes`, decoding the `wanted` columns (all when
    /// `None`) of each into a batch, and noting each tuple's extent.
    fn walk(
        &self,
        bytes: &[u8],
        rows: usize,
        wanted: Option<&[bool]>,
        mut extents: Option<&mut Vec<std::ops::Range<usize>>>,
    ) -> Result<crate::model::Batch, String> {
        // `rows` only sizes the builder up front; a batch of raw rows has
        // at most the read's batch size of them.
        let mut b = BatchBuilder::new(&self.schema, rows);
        let mut fields = Vec::with_capacity(self.kinds.len());
        let mut at = 0;
        while at < bytes.len() {
            let used = match parse_row(&bytes[at..], &mut fields)? {
                RowParse::Row(used) => used,
                RowParse::End | RowParse::Incomplete => {
                    return Err(format!("raw rows cut short at byte {at}"));
                }
            };
            if fields.len() != self.kinds.len() {
                return Err(format!(
                    "a row of {} fields for {} columns",
                    fields.len(),
                    self.kinds.len()
                ));
            }
            push_row(
                &mut b,
                &self.kinds,
                &bytes[at..at + used],
                &fields,
                true,
                wanted,
            )
            .map_err(|e| match e {
                RowError::Value(_, bad) => bad.reason,
                RowError::Batch(why) => why,
            })?;
            b.end_row();
            if let Some(x) = extents.as_deref_mut() {
                x.push(at..at + used);
            }
            at += used;
        }
        Ok(b.finish())
    }
}

impl crate::endpoint::RawCodec for RawTuples {
    fn decode(&self, bytes: &[u8]) -> Result<crate::model::Batch, String> {
        self.walk(bytes, 0, None, None)
    }

    fn split(
        &self,
        bytes: &[u8],
        rows: usize,
        wanted: &[bool],
        extents: &mut Vec<std::ops::Range<usize>>,
    ) -> Result<crate::model::Batch, String> {
        self.walk(bytes, rows, Some(wanted), Some(extents))
    }
}

/// A binary `numeric` as `numeric_out` prints it (`-12.500`: the display
/// scale kept). The binary form: digit count, weight (of the first base-10000
/// digit), sign (`0x0000`, `0x4000` negative, `0xC000` NaN, `0xD000`/`0xF000`
/// ±Infinity), display scale, then the base-10000 digits. NaN and the
/// infinities are errors: a decimal holds only finite numbers.
pub(super) fn numeric_text(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<u16, String> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("a binary numeric of {} bytes is cut short", raw.len()))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = i32::from(word(3)? as i16).max(0);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("numeric NaN cannot be stored as decimal".into()),
        _ => return Err("numeric ±Infinity cannot be stored as decimal".into()),
    }
    let digit = |i: i32| -> Result<u16, String> {
        if i < 0 || i as usize >= ndigits {
            Ok(0)
        } else {
            let d = word(4 + i as usize)?;
            if d >= 10_000 {
                return Err(format!("binary numeric digit {d} is not base 10000"));
            }
            Ok(d)
        }
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i)?;
            if i == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut i = weight + 1;
        while (frac.len() as i32) < dscale {
            frac.push_str(&format!("{:04}", digit(i)?));
            i += 1;
        }
        frac.truncate(dscale as usize);
        out.push_str(&frac);
    }
    Ok(out)
}
