//! Values as the sink writes them: exact JSON encodings per logical type.

use super::*;
use crate::model::temporal;
use crate::model::{Batch, ColumnDef, LogicalType, Schema, TableDef, ValueRef};
use base64::Engine as _;

// ---------------------------------------------------------------------------
// Encoding (sink side)
// ---------------------------------------------------------------------------

/// Appends `s` as a JSON string.
pub(super) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Removes insignificant whitespace outside strings from a valid JSON text,
/// so a nested document fits on one line. Strings, numbers and key order are
/// kept byte for byte.
pub(super) fn minify_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in s.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    out
}

/// Appends one value in the JSON encoding of its logical type, or says why
/// it cannot be represented (the row then becomes a `write` reject).
///
/// | logical | JSON |
/// | --- | --- |
/// | boolean | `true` / `false` |
/// | int64 | number |
/// | float64 | shortest round-trip number; `"NaN"`, `"Infinity"`, `"-Infinity"` |
/// | decimal, text | string |
/// | bytes | base64 string (standard alphabet, padded) |
/// | json | the document itself, whitespace outside strings removed |
/// | date, time, timestamp, timestamptz, uuid | ISO string from `model::temporal` |
pub(super) fn encode_value(
    out: &mut Vec<u8>,
    t: LogicalType,
    v: ValueRef<'_>,
) -> Result<(), String> {
    use LogicalType as L;
    use ValueRef as V;
    match (t, v) {
        (_, V::Null) => out.extend_from_slice(b"null"),
        (L::Boolean, V::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (L::Int64, V::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
        (L::Time, V::Int(i)) => push_json_str(out, &temporal::format_time(i)),
        (L::Timestamp, V::Int(i)) => push_json_str(out, &temporal::format_timestamp(i)),
        (L::Timestamptz, V::Int(i)) => push_json_str(out, &temporal::format_timestamptz(i)),
        (L::Float64, V::Float(f)) => {
            if f.is_nan() {
                push_json_str(out, "NaN");
            } else if f.is_infinite() {
                push_json_str(out, if f > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                // serde_json writes finite floats with ryu: the shortest
                // text that parses back to the same bits.
                let _ = serde_json::to_writer(&mut *out, &f);
            }
        }
        (L::Date, V::Date(d)) => push_json_str(out, &temporal::format_date(d)),
        (L::Uuid, V::Uuid(u)) => {
            let u: [u8; 16] = u
                .try_into()
                .map_err(|_| format!("uuid of {} bytes, expected 16", u.len()))?;
            push_json_str(out, &temporal::format_uuid(&u));
        }
        (L::Text | L::Decimal, V::Text(s)) => push_json_str(out, s),
        (L::Json, V::Text(s)) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_err() {
                return Err(format!("'{}' is not valid JSON", shown(s)));
            }
            let doc = minify_json(s);
            if doc == "null" {
                return Err(
                    "the JSON document `null` cannot be told apart from a NULL value in the \
                     JSON format, so it is not written"
                        .into(),
                );
            }
            out.extend_from_slice(doc.as_bytes());
        }
        (L::Bytes, V::Bytes(b)) => {
            push_json_str(out, &base64::engine::general_purpose::STANDARD.encode(b))
        }
        (t, v) => return Err(format!("a {v:?} value does not belong in a {t} column")),
    }
    Ok(())
}

/// Appends row `row` of `batch` as one JSON Lines line, or returns the
/// failing column and why (nothing is appended then).
pub(super) fn encode_row(
    out: &mut Vec<u8>,
    schema: &Schema,
    batch: &Batch,
    row: usize,
) -> Result<(), (usize, String)> {
    let start = out.len();
    out.push(b'{');
    for (i, c) in schema.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, &c.name);
        out.push(b':');
        if let Err(why) = encode_value(out, c.logical_type, batch.value(row, i)) {
            out.truncate(start);
            return Err((i, why));
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// The type the JSON schema records for a column: the source's declared type
/// when the column comes unchanged from the source, else the logical type's
/// name. (`_schema.json` keeps the source's declared type as it is — empty
/// for a column a transformer made — so a database target picks its own
/// mapping from the logical type.)
pub fn column_type(source: &TableDef, c: &ColumnDef) -> String {
    source
        .columns
        .iter()
        .find(|s| {
            s.name == c.name && s.logical_type == c.logical_type && !s.declared_type.is_empty()
        })
        .map(|s| s.declared_type.clone())
        .unwrap_or_else(|| c.logical_type.name().to_string())
}
