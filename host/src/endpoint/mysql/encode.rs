//! What the sink declares (column types within MySQL's limits) and the
//! exact literals it writes.

use super::*;
use crate::model::temporal::{
    civil_from_days, format_date, format_time, format_timestamp, format_uuid,
};
use crate::model::{ColumnDef, LogicalType, TableDef, ValueRef};
use std::collections::HashMap;
use std::fmt::Write as _;

// ---------------------------------------------------------------------------
// Sink: type mapping and value encoding
// ---------------------------------------------------------------------------

/// MySQL's DECIMAL limits: 65 digits, 30 after the point.
pub(super) const MAX_DECIMAL_PRECISION: u32 = 65;
pub(super) const MAX_DECIMAL_SCALE: u32 = 30;

/// `(precision, scale)` from a declared `NUMERIC(10,2)` / `DECIMAL(10)` /
/// `bigint(20) unsigned`, when it has them and MySQL can hold them.
pub(super) fn declared_precision(declared: &str) -> Option<(u32, u32)> {
    let d = declared.trim().to_ascii_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    let numeric = matches!(base, "numeric" | "decimal" | "dec" | "number" | "fixed")
        || (base == "bigint" && d.contains("unsigned"));
    if !numeric {
        return None;
    }
    let inner = d.split_once('(')?.1.split_once(')')?.0;
    let (p, s) = match inner.split_once(',') {
        Some((p, s)) => (p.trim().parse().ok()?, s.trim().parse().ok()?),
        None => (inner.trim().parse().ok()?, 0),
    };
    ((1..=MAX_DECIMAL_PRECISION).contains(&p) && s <= MAX_DECIMAL_SCALE && s <= p).then_some((p, s))
}

/// The length in a declared `VARCHAR(n)`, `NVARCHAR(n)`, `CHAR(n)`,
/// `VARBINARY(n)`, `BINARY(n)`.
pub(super) fn declared_length(declared: &str) -> Option<usize> {
    let d = declared.trim().to_ascii_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    if !matches!(
        base,
        "varchar"
            | "nvarchar"
            | "char"
            | "nchar"
            | "character varying"
            | "character"
            | "varbinary"
            | "binary"
    ) {
        return None;
    }
    d.split_once('(')?.1.split_once(')')?.0.trim().parse().ok()
}

/// Per text or bytes column used in a key (primary, unique, index, foreign
/// key): the bytes of InnoDB's 3072-byte key it may use. Columns that share
/// one key share the budget; a column in several keys gets the smallest share.
pub(super) fn key_budgets(def: &TableDef) -> HashMap<String, usize> {
    let var = |c: &str| {
        def.columns.iter().any(|x| {
            x.name == c
                && matches!(
                    x.logical_type,
                    LogicalType::Text | LogicalType::Json | LogicalType::Bytes
                )
        })
    };
    let keys = std::iter::once(&def.primary_key)
        .chain(def.unique.iter().map(|u| &u.columns))
        .chain(def.indexes.iter().map(|i| &i.columns))
        .chain(def.foreign_keys.iter().map(|f| &f.columns));
    let mut out: HashMap<String, usize> = HashMap::new();
    for cols in keys {
        let vars: Vec<&String> = cols.iter().filter(|c| var(c)).collect();
        if vars.is_empty() {
            continue;
        }
        let share = MAX_KEY_BYTES / vars.len();
        for c in vars {
            let e = out.entry(c.clone()).or_insert(share);
            *e = (*e).min(share);
        }
    }
    out
}

/// How the sink writes one column: its type and the checks a value passes first.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Enc {
    Bool,
    Int,
    Float,
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `max`: characters, when the column is a `VARCHAR` (keys).
    Text {
        max: Option<usize>,
        json: bool,
    },
    /// `max`: bytes, when the column is a `VARBINARY` (keys).
    Bytes {
        max: Option<usize>,
    },
    Date,
    Time,
    /// Timestamps and timestamptz (`tz`, in UTC), both `DATETIME(6)`.
    Timestamp {
        tz: bool,
    },
    Uuid {
        native: bool,
    },
}

/// Column comments that mark a type MySQL does not have, so a ferry
/// source (and `verify`) reads the column back as what was written: a
/// timestamptz stored as a UTC `DATETIME(6)`, a uuid stored as `BINARY(16)`.
pub(super) const TIMESTAMPTZ_MARK: &str = "ferry:timestamptz";
pub(super) const UUID_MARK: &str = "ferry:uuid";

impl Enc {
    /// The `COMMENT` clause marking the column, when its type needs one.
    pub(super) fn comment(&self) -> String {
        match self {
            Enc::Timestamp { tz: true } => format!(" COMMENT '{TIMESTAMPTZ_MARK}'"),
            Enc::Uuid { native: false } => format!(" COMMENT '{UUID_MARK}'"),
            _ => String::new(),
        }
    }

    pub(super) fn sql_type(&self) -> String {
        match self {
            Enc::Bool => "BOOLEAN".into(),
            Enc::Int => "BIGINT".into(),
            Enc::Float => "DOUBLE".into(),
            Enc::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            Enc::Text { max: Some(n), .. } => format!("VARCHAR({n})"),
            Enc::Text { json: true, .. } => "JSON".into(),
            Enc::Text { .. } => "LONGTEXT".into(),
            Enc::Bytes { max: Some(n) } => format!("VARBINARY({n})"),
            Enc::Bytes { max: None } => "LONGBLOB".into(),
            Enc::Date => "DATE".into(),
            Enc::Time => "TIME(6)".into(),
            Enc::Timestamp { .. } => "DATETIME(6)".into(),
            Enc::Uuid { native: true } => "UUID".into(),
            Enc::Uuid { native: false } => "BINARY(16)".into(),
        }
    }
}

/// The encoding of column `c` of a table whose keys are `keys` (from
/// [`key_budgets`]) and whose source is `source`.
pub(super) fn encoding(
    source: &TableDef,
    keys: &HashMap<String, usize>,
    c: &ColumnDef,
    native_uuid: bool,
) -> Enc {
    let declared = source
        .columns
        .iter()
        .find(|s| s.name == c.name && s.logical_type == c.logical_type)
        .map(|s| s.declared_type.as_str())
        .unwrap_or("");
    match c.logical_type {
        LogicalType::Boolean => Enc::Bool,
        LogicalType::Int64 => Enc::Int,
        LogicalType::Float64 => Enc::Float,
        LogicalType::Decimal => {
            let (precision, scale) =
                declared_precision(declared).unwrap_or((MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE));
            Enc::Decimal { precision, scale }
        }
        LogicalType::Text | LogicalType::Json => {
            let max = keys.get(&c.name).map(|budget| {
                let fits = budget / UTF8MB4_BYTES;
                declared_length(declared).map_or(fits, |n| n.clamp(1, fits))
            });
            Enc::Text {
                max,
                json: c.logical_type == LogicalType::Json,
            }
        }
        LogicalType::Bytes => Enc::Bytes {
            max: keys
                .get(&c.name)
                .map(|budget| declared_length(declared).map_or(*budget, |n| n.clamp(1, *budget))),
        },
        LogicalType::Date => Enc::Date,
        LogicalType::Time => Enc::Time,
        LogicalType::Timestamp => Enc::Timestamp { tz: false },
        LogicalType::Timestamptz => Enc::Timestamp { tz: true },
        LogicalType::Uuid => Enc::Uuid {
            native: native_uuid,
        },
    }
}

/// The MySQL column type a sink creates for a column (as MariaDB ≥ 10.7
/// would; on MySQL a uuid column is `BINARY(16)`).
///
/// | logical | MySQL |
/// | --- | --- |
/// | boolean | `BOOLEAN` (`tinyint(1)`) |
/// | int64 | `BIGINT` |
/// | float64 | `DOUBLE` |
/// | decimal | `DECIMAL(p,s)` from the source's declared precision, else `DECIMAL(65,30)` |
/// | text | `LONGTEXT`; `VARCHAR(n)` in a key |
/// | bytes | `LONGBLOB`; `VARBINARY(n)` in a key |
/// | json | `JSON` |
/// | date, time | `DATE`, `TIME(6)` |
/// | timestamp, timestamptz | `DATETIME(6)` (timestamptz in UTC) |
/// | uuid | `UUID` (MariaDB ≥ 10.7), else `BINARY(16)` |
pub fn column_type(source: &TableDef, c: &ColumnDef) -> String {
    encoding(source, &key_budgets(source), c, true).sql_type()
}

/// Why one value cannot be written: `(code, reason)`.
pub(super) type ValueError = (&'static str, String);

/// The plain digits of a decimal text: sign, integer digits (no leading
/// zeros) and fraction digits (no trailing zeros). Exponents are applied;
/// one that moves the point over 200 places is refused (far beyond MySQL's
/// 65 digits, and it keeps the padding bounded).
pub(super) fn decimal_parts(s: &str) -> Option<(bool, String, String)> {
    crate::model::Decimal::parse(s)?.plain(200)
}

/// The exact literal of a decimal for `DECIMAL(p,s)`, or why it does not
/// fit. Trailing fraction zeros are not digits of the value (`1.50` fits
/// `DECIMAL(3,1)`); any other digit beyond the scale would be rounded away
/// by MySQL, so the value is refused instead.
pub(super) fn decimal_literal(s: &str, precision: u32, scale: u32) -> Result<String, ValueError> {
    let Some((neg, int, frac)) = decimal_parts(s) else {
        return Err((
            "type-mismatch",
            format!("'{}' is not a decimal number", shown(s)),
        ));
    };
    let int_max = (precision - scale) as usize;
    if frac.len() > scale as usize {
        return Err((
            "decimal-out-of-range",
            format!(
                "{} has {} digits after the point; DECIMAL({precision},{scale}) keeps {scale} and MySQL would round the rest away",
                shown(s),
                frac.len()
            ),
        ));
    }
    if int.len() > int_max {
        return Err((
            "decimal-out-of-range",
            format!(
                "{} has {} digits before the point; DECIMAL({precision},{scale}) holds {int_max}",
                shown(s),
                int.len()
            ),
        ));
    }
    let mut out = String::with_capacity(int.len() + frac.len() + 3);
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { &int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

/// MySQL's DATE/DATETIME years: 1000–9999 (earlier dates are "not
/// supported" and behave differently across versions, so they are refused).
pub(super) fn check_year(days: i64, what: &str) -> Result<(), ValueError> {
    let (y, _, _) = civil_from_days(days);
    if !(1000..=9999).contains(&y) {
        return Err((
            "out-of-range",
            format!("{what} in year {y} is outside MySQL's range 1000-01-01 to 9999-12-31"),
        ));
    }
    Ok(())
}

/// Appends the literal of one value, after checking it fits exactly.
pub(super) fn encode_value(out: &mut String, enc: &Enc, v: ValueRef<'_>) -> Result<(), ValueError> {
    match (enc, v) {
        (_, ValueRef::Null) => out.push_str("NULL"),
        (Enc::Bool, ValueRef::Bool(b)) => out.push_str(if b { "1" } else { "0" }),
        (Enc::Int, ValueRef::Int(x)) => {
            let _ = write!(out, "{x}");
        }
        (Enc::Float, ValueRef::Float(x)) => {
            if !x.is_finite() {
                return Err((
                    "out-of-range",
                    format!("{x} cannot be stored: MySQL DOUBLE has no NaN or infinity"),
                ));
            }
            // Exponent form with the shortest round-trip digits: MySQL reads
            // it back as exactly this double (a long plain literal would be
            // read as DECIMAL first).
            let _ = write!(out, "{x:e}");
        }
        (Enc::Decimal { precision, scale }, ValueRef::Text(s)) => {
            out.push_str(&decimal_literal(s, *precision, *scale)?)
        }
        (Enc::Text { max, .. }, ValueRef::Text(s)) => {
            if let Some(n) = max {
                let len = s.chars().count();
                if len > *n {
                    return Err((
                        "too-long",
                        format!(
                            "{len} characters do not fit the key column's VARCHAR({n}) (InnoDB keys hold at most {MAX_KEY_BYTES} bytes); ferry does not truncate"
                        ),
                    ));
                }
            }
            str_lit(out, s)
        }
        (Enc::Bytes { max }, ValueRef::Bytes(b)) => {
            if let Some(n) = max
                && b.len() > *n
            {
                return Err((
                    "too-long",
                    format!(
                        "{} bytes do not fit the key column's VARBINARY({n}); ferry does not truncate",
                        b.len()
                    ),
                ));
            }
            out.push_str("X'");
            out.push_str(&hex::encode(b));
            out.push('\'');
        }
        (Enc::Date, ValueRef::Date(d)) => {
            check_year(d as i64, "date")?;
            let _ = write!(out, "'{}'", format_date(d));
        }
        (Enc::Time, ValueRef::Int(us)) => {
            if !(0..MICROS_PER_DAY).contains(&us) {
                return Err(("out-of-range", format!("{us} µs is not a time of day")));
            }
            let _ = write!(out, "'{}'", format_time(us));
        }
        (Enc::Timestamp { .. }, ValueRef::Int(us)) => {
            check_year(us.div_euclid(MICROS_PER_DAY), "timestamp")?;
            let _ = write!(out, "'{}'", format_timestamp(us));
        }
        (Enc::Uuid { native }, ValueRef::Uuid(u)) => {
            let Ok(u) = <[u8; 16]>::try_from(u) else {
                return Err(("type-mismatch", "a uuid is 16 bytes".into()));
            };
            if *native {
                let _ = write!(out, "'{}'", format_uuid(&u));
            } else {
                let _ = write!(out, "X'{}'", hex::encode(u));
            }
        }
        (enc, v) => {
            return Err((
                "type-mismatch",
                format!("value {v:?} does not match column type {}", enc.sql_type()),
            ));
        }
    }
    Ok(())
}
