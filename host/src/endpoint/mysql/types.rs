//! MySQL values read exactly into ferry's logical types, or rejected.

use super::*;
use crate::model::temporal::{civil_from_days, days_from_civil, parse_uuid};
use crate::model::{BatchBuilder, ColumnDef, LogicalType, Reject, Stage, TableDef};
use mysql_async::{Row, Value};

/// Maps a MySQL column (`DATA_TYPE`, `COLUMN_TYPE`) to ferry's logical type.
///
/// | MySQL | logical |
/// | --- | --- |
/// | `tinyint(1)`, `boolean` | boolean (0/1 only) |
/// | other integers, `year` | int64 |
/// | `bigint unsigned` | decimal (values above 2^63 − 1) |
/// | `float`, `double` | float64 (`float` widens exactly) |
/// | `decimal`, `numeric` | decimal |
/// | `char`, `varchar`, `*text`, `enum`, `set`, `inet4/6` | text |
/// | `json` (MariaDB: `longtext` + `json_valid` check, see [`MysqlSource::tables`]) | json |
/// | `binary`, `varbinary`, `*blob`, `bit`, spatial types | bytes |
/// | `date`, `time`, `datetime`, `timestamp`, `uuid` | date, time, timestamp, timestamptz (UTC), uuid |
pub fn logical_type(data_type: &str, column_type: &str) -> LogicalType {
    let dt = data_type.to_ascii_lowercase();
    let ct = column_type.to_ascii_lowercase();
    match dt.as_str() {
        "tinyint" if ct.starts_with("tinyint(1)") => LogicalType::Boolean,
        "bool" | "boolean" => LogicalType::Boolean,
        "bigint" if ct.contains("unsigned") => LogicalType::Decimal,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            LogicalType::Int64
        }
        "float" | "double" | "real" | "double precision" => LogicalType::Float64,
        "decimal" | "numeric" | "dec" | "fixed" => LogicalType::Decimal,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
        | "inet4" | "inet6" => LogicalType::Text,
        "json" => LogicalType::Json,
        "date" => LogicalType::Date,
        "time" => LogicalType::Time,
        "datetime" => LogicalType::Timestamp,
        "timestamp" => LogicalType::Timestamptz,
        "uuid" => LogicalType::Uuid,
        // binary, varbinary, blobs, bit, geometry and anything unknown:
        // carried as their exact bytes.
        _ => LogicalType::Bytes,
    }
}

pub(super) use crate::model::shown;

/// Days since the epoch of a MySQL date, or why it is not a real date.
pub(super) fn mysql_days(y: u16, m: u8, d: u8) -> Result<i64, String> {
    if y == 0 && m == 0 && d == 0 {
        return Err(
            "zero date 0000-00-00 is not a date (MySQL's placeholder for \"no date\")".into(),
        );
    }
    if y == 0 || m == 0 || d == 0 || m > 12 || d > 31 {
        return Err(format!(
            "{y:04}-{m:02}-{d:02} is not a real date (zero month or day)"
        ));
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    // A day the month does not have (MySQL's ALLOW_INVALID_DATES).
    if civil_from_days(days) != (y as i64, m as u32, d as u32) {
        return Err(format!("{y:04}-{m:02}-{d:02} is not a real date"));
    }
    Ok(days)
}

pub(super) fn time_of_day(h: u8, mi: u8, s: u8, us: u32) -> i64 {
    ((h as i64 * 60 + mi as i64) * 60 + s as i64) * 1_000_000 + us as i64
}

/// Whether `s` is a plain decimal number (`-12.50`, `7`, `.5`).
pub(super) fn is_plain_decimal(s: &str) -> bool {
    crate::model::Decimal::is_plain(s)
}

/// Converts one MySQL value (binary protocol) into the column's logical
/// type, exactly, or says why it cannot.
pub(super) fn push_value(
    b: &mut BatchBuilder,
    i: usize,
    col: &ColumnDef,
    v: &Value,
) -> Result<(), String> {
    let t = col.logical_type;
    let bad = |what: String| format!("{what} cannot be stored as {t} without loss");
    match (t, v) {
        (_, Value::NULL) => b.push_null(i),
        (LogicalType::Boolean, Value::Int(0) | Value::UInt(0)) => b.push_bool(i, false),
        (LogicalType::Boolean, Value::Int(1) | Value::UInt(1)) => b.push_bool(i, true),
        (LogicalType::Boolean, Value::Int(x)) => {
            return Err(format!(
                "{} holds {x}, which is neither 0 nor 1; ferry does not guess a boolean",
                col.declared_type
            ));
        }
        (LogicalType::Int64, Value::Int(x)) => b.push_int(i, *x),
        (LogicalType::Int64, Value::UInt(x)) => match i64::try_from(*x) {
            Ok(x) => b.push_int(i, x),
            Err(_) => return Err(bad(format!("unsigned {x}"))),
        },
        (LogicalType::Float64, Value::Double(x)) => b.push_float(i, *x),
        // Every f32 is exactly an f64.
        (LogicalType::Float64, Value::Float(x)) => b.push_float(i, *x as f64),
        (LogicalType::Decimal, Value::Int(x)) => b
            .push_bytes(i, x.to_string().as_bytes())
            .map_err(|e| e.to_string())?,
        (LogicalType::Decimal, Value::UInt(x)) => b
            .push_bytes(i, x.to_string().as_bytes())
            .map_err(|e| e.to_string())?,
        (LogicalType::Decimal, Value::Bytes(x)) => {
            let s = std::str::from_utf8(x).unwrap_or("");
            if !is_plain_decimal(s) {
                return Err(bad(format!("'{}'", shown(&String::from_utf8_lossy(x)))));
            }
            b.push_bytes(i, x).map_err(|e| e.to_string())?
        }
        (LogicalType::Text | LogicalType::Json, Value::Bytes(x)) => {
            if let Err(err) = std::str::from_utf8(x) {
                return Err(format!(
                    "text is not valid UTF-8 (invalid byte at offset {})",
                    err.valid_up_to()
                ));
            }
            b.push_bytes(i, x).map_err(|e| e.to_string())?
        }
        // Numbers in a text column (e.g. a YEAR read as text): exact digits.
        (LogicalType::Text, Value::Int(x)) => b
            .push_bytes(i, x.to_string().as_bytes())
            .map_err(|e| e.to_string())?,
        (LogicalType::Bytes, Value::Bytes(x)) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
        (LogicalType::Date, Value::Date(y, m, d, ..)) => {
            let days = mysql_days(*y, *m, *d)?;
            b.push_date(i, days as i32)
        }
        (LogicalType::Timestamp | LogicalType::Timestamptz, Value::Date(y, m, d, h, mi, s, us)) => {
            let days = mysql_days(*y, *m, *d)?;
            b.push_int(i, days * MICROS_PER_DAY + time_of_day(*h, *mi, *s, *us))
        }
        (LogicalType::Time, Value::Time(neg, days, h, mi, s, us)) => {
            if *neg || *days > 0 {
                return Err(format!(
                    "TIME {}{}:{mi:02}:{s:02} is outside 00:00:00–23:59:59; ferry's time is a time of day, not a duration",
                    if *neg { "-" } else { "" },
                    *days as u64 * 24 + *h as u64
                ));
            }
            b.push_int(i, time_of_day(*h, *mi, *s, *us))
        }
        (LogicalType::Uuid, Value::Bytes(x)) => {
            let u = match x.len() {
                16 => x.as_slice().try_into().ok(),
                _ => std::str::from_utf8(x).ok().and_then(parse_uuid),
            };
            match u {
                Some(u) => b.push_uuid(i, &u),
                None => return Err(bad(format!("'{}'", shown(&String::from_utf8_lossy(x))))),
            }
        }
        (_, other) => return Err(bad(shown(&mysql_value_text(other)))),
    }
    Ok(())
}

/// A MySQL value as text, for reasons and rejected rows.
pub(super) fn mysql_value_text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => format!("\\x{}", hex::encode(b)),
        },
        Value::Int(x) => x.to_string(),
        Value::UInt(x) => x.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Date(y, m, d, h, mi, s, us) => {
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
        Value::Time(neg, days, h, mi, s, us) => format!(
            "{}{}:{mi:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            *days as u64 * 24 + *h as u64
        ),
    }
}

pub(super) fn mysql_value_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::NULL => J::Null,
        Value::Int(x) => J::from(*x),
        Value::UInt(x) => J::from(*x),
        Value::Float(x) => serde_json::Number::from_f64(*x as f64)
            .map(J::Number)
            .unwrap_or_else(|| J::String(x.to_string())),
        Value::Double(x) => serde_json::Number::from_f64(*x)
            .map(J::Number)
            .unwrap_or_else(|| J::String(x.to_string())),
        other => J::String(mysql_value_text(other)),
    }
}

pub(super) fn read_reject(table: &TableDef, row: &Row, col: usize, reason: String) -> Reject {
    let mut obj = serde_json::Map::new();
    for (i, c) in table.columns.iter().enumerate() {
        let v = row.as_ref(i).map(mysql_value_json).unwrap_or_default();
        obj.insert(c.name.clone(), v);
    }
    let source_key = if table.primary_key.is_empty() {
        None
    } else {
        let key: Vec<String> = table
            .primary_key
            .iter()
            .map(|k| obj.get(k).map(|v| v.to_string()).unwrap_or_default())
            .collect();
        Some(key.join(","))
    };
    Reject {
        table: table.name.clone(),
        source_key,
        stage: Stage::Read,
        plugin: None,
        column: Some(table.columns[col].name.clone()),
        code: "type-mismatch".into(),
        reason,
        row: serde_json::Value::Object(obj),
    }
}
