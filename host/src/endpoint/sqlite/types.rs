//! SQLite values ↔ ferry's logical types: declared types, the exact
//! reading of stored values (the documented dirty-data rules), and values
//! as SQLite stores them.

pub use crate::endpoint::sql::{quote_ident, quote_list, sql_literal};
use crate::endpoint::{EndpointError, TargetTable};
use crate::model::{Batch, BatchBuilder, LogicalType, Reject, Stage, TableDef, ValueRef};
use rusqlite::types::ValueRef as Sql;

/// Maps a SQLite declared type to ferry's logical type, following SQLite's
/// own affinity rules (<https://sqlite.org/datatype3.html#determination_of_column_affinity>),
/// refined for exactness:
///
/// | declared type | logical type |
/// | --- | --- |
/// | `BOOLEAN`, `BOOL` | boolean (0/1 only) |
/// | contains `INT` | int64 |
/// | contains `CHAR`, `CLOB`, `TEXT`; or no type at all | text |
/// | contains `BLOB` | bytes |
/// | contains `REAL`, `FLOA`, `DOUB` | float64 |
/// | `JSON`, `JSONB` | json (must parse) |
/// | `DATETIME`, `TIMESTAMP` | timestamp (an ISO date is midnight) |
/// | anything else (`NUMERIC`, `DECIMAL(10,2)`, `DATE`, …) | decimal if every value is numeric … see below |
///
/// A column declared `DATETIME` or `TIMESTAMP` is a timestamp, never
/// narrowed to a date because the values sampled had no time part (the
/// application's next timestamp would be truncated); introspection keeps it
/// text instead when its first rows hold something else than ISO dates and
/// timestamps. Other dates and times (`DATE`, `TIME`, `TIMESTAMPTZ`) are
/// text, promoted by value in the plan.
pub fn logical_type(declared: &str) -> LogicalType {
    let d = declared.trim().to_ascii_uppercase();
    let base = d.split('(').next().unwrap_or("").trim();
    match base {
        "BOOLEAN" | "BOOL" => return LogicalType::Boolean,
        "JSON" | "JSONB" => return LogicalType::Json,
        "UUID" => return LogicalType::Uuid,
        "DATETIME" | "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => {
            return LogicalType::Timestamp;
        }
        // Other dates and times are text in SQLite; the plan promotes them by value.
        b if b.starts_with("DATE") || b.starts_with("TIME") => return LogicalType::Text,
        _ => {}
    }
    if d.contains("INT") {
        LogicalType::Int64
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") || d.is_empty() {
        LogicalType::Text
    } else if d.contains("BLOB") {
        LogicalType::Bytes
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        LogicalType::Float64
    } else {
        LogicalType::Decimal
    }
}

/// The declared type a SQLite sink uses for a logical type it has no source
/// declaration for.
pub(super) fn declared_for(t: LogicalType) -> &'static str {
    match t {
        LogicalType::Boolean => "BOOLEAN",
        LogicalType::Int64 => "INTEGER",
        LogicalType::Float64 => "REAL",
        LogicalType::Decimal => "NUMERIC",
        LogicalType::Text => "TEXT",
        LogicalType::Bytes => "BLOB",
        LogicalType::Json => "TEXT",
        LogicalType::Date => "DATE",
        LogicalType::Time => "TIME",
        LogicalType::Timestamp => "TIMESTAMP",
        LogicalType::Timestamptz => "TIMESTAMPTZ",
        LogicalType::Uuid => "UUID",
    }
}

pub(super) fn q_err(
    endpoint: &str,
    table: Option<&str>,
    e: impl std::fmt::Display,
) -> EndpointError {
    EndpointError::Query {
        endpoint: endpoint.to_string(),
        table: table.map(str::to_string),
        reason: e.to_string(),
    }
}

/// A high-water mark's value (as [`sql_json`] made it) bound back for SQLite.
pub(super) fn json_sql(v: &serde_json::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        serde_json::Value::Null => V::Null,
        serde_json::Value::Bool(b) => V::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => V::Integer(i),
            None => V::Real(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => V::Text(s.clone()),
        other => V::Text(other.to_string()),
    }
}

pub(super) fn sql_json(v: Sql<'_>) -> serde_json::Value {
    match v {
        Sql::Null => serde_json::Value::Null,
        Sql::Integer(i) => i.into(),
        Sql::Real(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| f.to_string().into()),
        Sql::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => s.into(),
            Err(_) => format!("\\x{}", hex::encode(t)).into(),
        },
        Sql::Blob(b) => format!("\\x{}", hex::encode(b)).into(),
    }
}

pub(super) fn read_reject(
    table: &TableDef,
    r: &rusqlite::Row<'_>,
    rowid: Option<i64>,
    col: usize,
    code: &str,
    reason: String,
) -> Reject {
    let mut obj = serde_json::Map::new();
    for (i, c) in table.columns.iter().enumerate() {
        let v = r
            .get_ref(i + 1)
            .map(sql_json)
            .unwrap_or(serde_json::Value::Null);
        obj.insert(c.name.clone(), v);
    }
    // The row's key; a key with a NULL in it names nothing, so the row is
    // named by its rowid (as a keyless table's rows are).
    let key: Option<Vec<&serde_json::Value>> = table
        .primary_key
        .iter()
        .map(|k| obj.get(k).filter(|v| !v.is_null()))
        .collect();
    let source_key = match key {
        Some(key) if !key.is_empty() => Some(
            key.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => rowid.map(|id| format!("rowid={id}")),
    };
    Reject {
        table: table.name.clone(),
        source_key,
        stage: Stage::Read,
        plugin: None,
        column: Some(table.columns[col].name.clone()),
        code: code.into(),
        reason,
        row: serde_json::Value::Object(obj),
    }
}

/// The positions of a table's primary-key columns.
pub(super) fn key_columns(table: &TableDef) -> Vec<usize> {
    table
        .primary_key
        .iter()
        .filter_map(|k| table.columns.iter().position(|c| &c.name == k))
        .collect()
}

/// Why a row whose key column `col` is NULL cannot be carried, and where
/// it is.
pub(super) fn null_key_reason(table: &TableDef, col: usize, rowid: Option<i64>) -> String {
    let c = &table.columns[col];
    let why = if table.primary_key.len() > 1 {
        "a key of several columns is never the rowid".to_string()
    } else if c.declared_type.is_empty() {
        format!("`{}` has no declared type", c.name)
    } else {
        format!(
            "`{}` is declared `{}`, and only a one-column key declared exactly INTEGER is the rowid",
            c.name, c.declared_type
        )
    };
    let find = match rowid {
        Some(id) => format!(
            "; find it with SELECT * FROM {} WHERE rowid = {id}, give it a key there and migrate the table again",
            quote_ident(&table.name)
        ),
        None => String::new(),
    };
    format!(
        "primary key column `{}` is NULL: SQLite keeps NULL in a primary key that is not a rowid alias ({why}), so this row has no key a target's primary key can hold{find}",
        c.name
    )
}

/// A stored value as quoted in a quarantine reason ([`crate::model::shown`]).
pub(super) fn shown(t: &[u8]) -> String {
    crate::model::shown(&String::from_utf8_lossy(t))
}

/// Whether `s` is a decimal number PostgreSQL's `numeric` accepts exactly
/// (the one rule: [`crate::model::Decimal`]).
pub fn is_decimal(s: &str) -> bool {
    crate::model::Decimal::is_numeric(s)
}

/// Converts one SQLite value into the column's logical type, exactly, or
/// says why it cannot. These rules are the documented "dirty data" rules.
pub(super) fn push_value(
    b: &mut BatchBuilder,
    i: usize,
    t: LogicalType,
    v: Sql<'_>,
) -> Result<(), String> {
    if let Sql::Null = v {
        b.push_null(i);
        return Ok(());
    }
    let kind = match v {
        Sql::Integer(_) => "integer",
        Sql::Real(_) => "real",
        Sql::Text(_) => "text",
        Sql::Blob(_) => "blob",
        Sql::Null => "null",
    };
    let mismatch =
        |detail: String| format!("{kind} value {detail} cannot be stored as {t} without loss");
    match t {
        LogicalType::Boolean => match v {
            Sql::Integer(0) => b.push_bool(i, false),
            Sql::Integer(1) => b.push_bool(i, true),
            Sql::Text(b"true" | b"TRUE" | b"t") => b.push_bool(i, true),
            Sql::Text(b"false" | b"FALSE" | b"f") => b.push_bool(i, false),
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            _ => return Err(mismatch(String::new())),
        },
        LogicalType::Int64 => match v {
            Sql::Integer(x) => b.push_int(i, x),
            Sql::Real(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => b.push_int(i, x as i64),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Float64 => match v {
            Sql::Real(x) => b.push_float(i, x),
            // 2^53: beyond it not every integer has an exact double.
            Sql::Integer(x) if x.unsigned_abs() <= (1u64 << 53) => b.push_float(i, x as f64),
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Decimal => match v {
            Sql::Integer(x) => b
                .push_bytes(i, x.to_string().as_bytes())
                .map_err(|e| e.to_string())?,
            Sql::Real(x) if x.is_finite() => b
                .push_bytes(i, x.to_string().as_bytes())
                .map_err(|e| e.to_string())?,
            Sql::Text(s) if std::str::from_utf8(s).is_ok_and(is_decimal) => {
                b.push_bytes(i, s).map_err(|e| e.to_string())?
            }
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Text | LogicalType::Json => {
            let text: std::borrow::Cow<'_, [u8]> = match v {
                Sql::Text(s) => match std::str::from_utf8(s) {
                    Ok(_) => s.into(),
                    Err(err) => {
                        return Err(format!(
                            "text is not valid UTF-8 (invalid byte at offset {})",
                            err.valid_up_to()
                        ));
                    }
                },
                // Numbers in a text column are carried as their exact decimal text.
                Sql::Integer(x) => x.to_string().into_bytes().into(),
                Sql::Real(x) => x.to_string().into_bytes().into(),
                Sql::Blob(x) => {
                    return Err(format!(
                        "blob of {} bytes in a {t} column; ferry does not guess an encoding",
                        x.len()
                    ));
                }
                Sql::Null => unreachable!("handled above"),
            };
            if t == LogicalType::Json
                && serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_err()
            {
                return Err(format!("'{}' is not valid JSON", shown(&text)));
            }
            b.push_bytes(i, &text).map_err(|e| e.to_string())?;
        }
        LogicalType::Bytes => match v {
            Sql::Blob(x) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
            // Text in a BLOB column is carried as its exact bytes.
            Sql::Text(x) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Uuid => match v {
            Sql::Blob(x) if x.len() == 16 => {
                let mut u = [0u8; 16];
                u.copy_from_slice(x);
                b.push_uuid(i, &u)
            }
            Sql::Text(s) => match std::str::from_utf8(s)
                .ok()
                .and_then(crate::model::temporal::parse_uuid)
            {
                Some(u) => b.push_uuid(i, &u),
                None => return Err(mismatch(format!("'{}'", shown(s)))),
            },
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Null => unreachable!("handled above"),
        },
        // Declared types never map to these; a plan that promoted a column
        // (or verify, reading a target ferry wrote) reads ISO text strictly.
        LogicalType::Date
        | LogicalType::Time
        | LogicalType::Timestamp
        | LogicalType::Timestamptz => {
            use crate::model::temporal as tm;
            let text = match v {
                Sql::Text(s) => std::str::from_utf8(s).ok(),
                _ => None,
            };
            let parsed = text.and_then(|s| match t {
                LogicalType::Date => tm::parse_date(s).map(|d| b.push_date(i, d)),
                LogicalType::Time => tm::parse_time(s).map(|x| b.push_int(i, x)),
                // An ISO date in a timestamp column is its midnight (a
                // `DATETIME` column whose value has no time part).
                LogicalType::Timestamp => tm::parse_timestamp(s)
                    .or_else(|| {
                        tm::parse_date(s)
                            .and_then(|_| tm::parse_timestamp(&format!("{s} 00:00:00")))
                    })
                    .map(|x| b.push_int(i, x)),
                _ => tm::parse_timestamptz(s).map(|x| b.push_int(i, x)),
            });
            if parsed.is_none() {
                return Err(mismatch(match v {
                    Sql::Text(s) => format!("'{}'", shown(s)),
                    Sql::Integer(x) => x.to_string(),
                    Sql::Real(x) => x.to_string(),
                    Sql::Blob(x) => format!("of {} bytes", x.len()),
                    Sql::Null => String::new(),
                }));
            }
        }
    }
    Ok(())
}

/// `(row, reject)` for each row with NULL in a primary-key column.
pub(super) fn null_keys(batch: &Batch, table: &TargetTable) -> Vec<(usize, Reject)> {
    let key = key_columns(&table.def);
    if key.is_empty() {
        return Vec::new();
    }
    let schema = table.def.schema();
    (0..batch.num_rows)
        .filter_map(|r| {
            let &c = key
                .iter()
                .find(|&&c| matches!(batch.value(r, c), ValueRef::Null))?;
            let name = &table.def.columns[c].name;
            Some((
                r,
                Reject {
                    table: table.source.name.clone(),
                    source_key: batch.source_key(&schema, &table.def.primary_key, r),
                    stage: Stage::Write,
                    plugin: None,
                    column: Some(name.clone()),
                    code: "null-key".into(),
                    reason: format!(
                        "primary key column `{name}` is NULL in this row: a primary key cannot hold NULL (SQLite would store it, or invent an id for a rowid key, without a word)"
                    ),
                    row: batch.row_json(&schema, r),
                },
            ))
        })
        .collect()
}

/// `(row, reject)` for each row holding a decimal that SQLite's NUMERIC
/// affinity would store as a different number (first such column per row).
pub(super) fn decimals_numeric_affinity_would_change(
    batch: &Batch,
    table: &TargetTable,
) -> Vec<(usize, Reject)> {
    let schema = table.def.schema();
    let decimals: Vec<usize> = (0..table.def.columns.len())
        .filter(|&c| table.def.columns[c].logical_type == LogicalType::Decimal)
        .collect();
    let mut out = Vec::new();
    if decimals.is_empty() {
        return out;
    }
    for r in 0..batch.num_rows {
        let bad = decimals.iter().find_map(|&c| match batch.value(r, c) {
            ValueRef::Text(s) if !numeric_affinity_keeps(s) => Some((c, s)),
            _ => None,
        });
        if let Some((c, s)) = bad {
            out.push((
                r,
                Reject {
                    table: table.source.name.clone(),
                    source_key: batch.source_key(&schema, &table.source.primary_key, r),
                    stage: Stage::Write,
                    plugin: None,
                    column: Some(table.def.columns[c].name.clone()),
                    code: "decimal-precision".into(),
                    reason: format!(
                        "decimal {} has more significant digits than SQLite's NUMERIC storage (a 64-bit integer or a double) keeps; it would be stored as {}",
                        shown(s.as_bytes()),
                        s.parse::<f64>().map(|f| f.to_string()).unwrap_or_default()
                    ),
                    row: batch.row_json(&schema, r),
                },
            ));
        }
    }
    out
}

/// Whether SQLite's NUMERIC affinity stores decimal text `s` as the same
/// number: integers that fit 64 bits are stored exactly; other numbers become
/// the nearest double, which is the same number only when that double
/// prints back as it (`1.500000` → 1.5 yes; `12345678901234.123456` no).
pub(super) fn numeric_affinity_keeps(s: &str) -> bool {
    if s.parse::<i64>().is_ok() {
        return true;
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => decimal_key(s) == decimal_key(&f.to_string()),
        _ => false,
    }
}

/// A decimal's value as (negative, significant digits, exponent of the first
/// digit), so equal numbers written differently compare equal.
pub(super) fn decimal_key(s: &str) -> Option<(bool, String, i64)> {
    crate::model::Decimal::parse(s).map(|d| d.key())
}

/// A value as SQLite stores it. Dates, times and timestamps become ISO text
/// (what SQLite's date functions read), UUIDs 16-byte blobs.
pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    )
}

pub(super) fn to_sql(v: ValueRef<'_>, t: LogicalType) -> rusqlite::types::Value {
    use crate::model::temporal as tm;
    use rusqlite::types::Value as V;
    match v {
        ValueRef::Null => V::Null,
        ValueRef::Bool(b) => V::Integer(b as i64),
        ValueRef::Int(i) if t == LogicalType::Time => V::Text(tm::format_time(i)),
        ValueRef::Int(i) if t == LogicalType::Timestamp => V::Text(tm::format_timestamp(i)),
        ValueRef::Int(i) if t == LogicalType::Timestamptz => V::Text(tm::format_timestamptz(i)),
        ValueRef::Date(d) => V::Text(tm::format_date(d)),
        ValueRef::Int(i) => V::Integer(i),
        ValueRef::Float(f) => V::Real(f),
        ValueRef::Uuid(u) => V::Blob(u.to_vec()),
        ValueRef::Text(s) => V::Text(s.to_string()),
        ValueRef::Bytes(b) => V::Blob(b.to_vec()),
    }
}
