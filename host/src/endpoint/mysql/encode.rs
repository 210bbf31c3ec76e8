//! What the sink declares (column types within MySQL's limits) and the
//! exact literals it writes.

use super::*;
use crate::model::temporal::{
    civil_from_days, format_date, format_time, format_timestamp, format_uuid,
};
use crate::model::{ColumnDef, LogicalType, SqlType, TableDef, ValueRef};
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

/// An integer column's width: `BIGINT`, or the narrower declared type the
/// plan keeps (`sql_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IntWidth {
    Small,
    Int,
    Big,
}

impl IntWidth {
    fn name(self) -> &'static str {
        match self {
            IntWidth::Small => "SMALLINT",
            IntWidth::Int => "INT",
            IntWidth::Big => "BIGINT",
        }
    }

    fn range(self) -> (i64, i64) {
        match self {
            IntWidth::Small => (i16::MIN.into(), i16::MAX.into()),
            IntWidth::Int => (i32::MIN.into(), i32::MAX.into()),
            IntWidth::Big => (i64::MIN, i64::MAX),
        }
    }
}

/// How the sink writes one column: its type and the checks a value passes first.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Enc {
    Bool,
    Int {
        width: IntWidth,
    },
    /// `DOUBLE`, or `FLOAT` (`single`) when the plan keeps a 4-byte float.
    Float {
        single: bool,
    },
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `max`: characters, when the column is a `VARCHAR` (`CHAR` when
    /// `fixed`); `key`: the bound is InnoDB's key limit, not a declared one.
    Text {
        max: Option<usize>,
        json: bool,
        fixed: bool,
        key: bool,
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
            Enc::Int { width } => width.name().into(),
            Enc::Float { single: false } => "DOUBLE".into(),
            Enc::Float { single: true } => "FLOAT".into(),
            Enc::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            Enc::Text {
                max: Some(n),
                fixed: true,
                ..
            } => format!("CHAR({n})"),
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

/// Longest `CHAR(n)` MySQL has: 255 characters.
pub(super) const MAX_CHAR_LENGTH: u32 = 255;
/// Longest `VARCHAR(n)` the sink declares: 16,383 characters, MySQL's own
/// limit in utf8mb4 (4 bytes a character in the 65,535 bytes a row may
/// hold). Past it, and past what the row still has room for (see
/// [`ROW_BYTES_BUDGET`]), the column is `LONGTEXT` as without a declared
/// type, and its lengths are no longer enforced by the target.
pub(super) const MAX_VARCHAR_LENGTH: u32 = 16_383;
/// What a table's `VARCHAR`/`CHAR` columns may take of MySQL's 65,535-byte
/// row limit (counted at 4 bytes a character, plus every other column's
/// size): the limit less 1 KiB for the server's own accounting (NULL
/// bitmap, length bytes). A `CREATE TABLE` over it fails with error 1118.
pub(super) const ROW_BYTES_BUDGET: usize = 65_535 - 1024;
/// What a row may keep inside InnoDB's page (8,126 bytes, half a 16 KiB
/// page, checked at `CREATE TABLE` under `innodb_strict_mode`, MariaDB's and
/// MySQL's default): short `VARCHAR`s (255 bytes or less) stay in the
/// page whole, longer ones and `*TEXT`/`*BLOB` may move out and keep a
/// 20-byte reference. Less 200 bytes for the record header, the hidden
/// transaction columns and the NULL bitmap. Measured on MariaDB 10.11:
/// 27 × `VARCHAR(60)` + 73 × `LONGTEXT` is accepted, 28 + 72 refused; this
/// budget keeps 26.
pub(super) const INLINE_BYTES_BUDGET: usize = 8126 - 200;

/// The encoding of column `c` of a table whose keys are `keys` (from
/// [`key_budgets`]) and whose source is `source`, honouring the plan's
/// declared type (`c.sql_type`) where MySQL has it — for text columns
/// regardless of the row's room, which [`table_encodings`] accounts for.
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
    match (c.logical_type, c.sql_type) {
        (LogicalType::Boolean, _) => Enc::Bool,
        (LogicalType::Int64, Some(SqlType::SmallInt)) => Enc::Int {
            width: IntWidth::Small,
        },
        (LogicalType::Int64, Some(SqlType::Integer)) => Enc::Int {
            width: IntWidth::Int,
        },
        (LogicalType::Int64, _) => Enc::Int {
            width: IntWidth::Big,
        },
        (LogicalType::Float64, t) => Enc::Float {
            single: t == Some(SqlType::Real),
        },
        (LogicalType::Decimal, t) => {
            let planned = match t {
                Some(SqlType::Numeric { precision, scale })
                    if (1..=MAX_DECIMAL_PRECISION).contains(&precision)
                        && scale <= MAX_DECIMAL_SCALE
                        && scale <= precision =>
                {
                    Some((precision, scale))
                }
                _ => None,
            };
            let (precision, scale) = planned
                .or_else(|| declared_precision(declared))
                .unwrap_or((MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE));
            Enc::Decimal { precision, scale }
        }
        (LogicalType::Text | LogicalType::Json, t) => {
            let json = c.logical_type == LogicalType::Json;
            let planned = match t {
                Some(SqlType::Varchar { length }) if !json && length <= MAX_VARCHAR_LENGTH => {
                    Some((length as usize, false))
                }
                Some(SqlType::Char { length }) if !json && length <= MAX_CHAR_LENGTH => {
                    Some((length as usize, true))
                }
                _ => None,
            };
            match (keys.get(&c.name), planned) {
                (Some(budget), _) => {
                    // InnoDB's key limit bounds the column; a shorter
                    // declared length is kept (CHAR only when it fits).
                    let fits = budget / UTF8MB4_BYTES;
                    let asked = planned.or_else(|| declared_length(declared).map(|n| (n, false)));
                    let (n, fixed) = match asked {
                        Some((n, fixed)) if n <= fits => (n.max(1), fixed),
                        _ => (fits, false),
                    };
                    Enc::Text {
                        max: Some(n),
                        json,
                        fixed,
                        key: asked.is_none_or(|(a, _)| a > fits),
                    }
                }
                (None, Some((n, fixed))) => Enc::Text {
                    max: Some(n.max(1)),
                    json,
                    fixed,
                    key: false,
                },
                (None, None) => Enc::Text {
                    max: None,
                    json,
                    fixed: false,
                    key: false,
                },
            }
        }
        (LogicalType::Bytes, _) => Enc::Bytes {
            max: keys
                .get(&c.name)
                .map(|budget| declared_length(declared).map_or(*budget, |n| n.clamp(1, *budget))),
        },
        (LogicalType::Date, _) => Enc::Date,
        (LogicalType::Time, _) => Enc::Time,
        (LogicalType::Timestamp, _) => Enc::Timestamp { tz: false },
        (LogicalType::Timestamptz, _) => Enc::Timestamp { tz: true },
        (LogicalType::Uuid, _) => Enc::Uuid {
            native: native_uuid,
        },
    }
}

impl Enc {
    /// `(bytes of the 65,535-byte row limit, bytes kept in InnoDB's page)`
    /// at most, in utf8mb4. Decimals are bounded by 4 bytes per 9 digits
    /// plus 8; `*TEXT`/`*BLOB` count their 12-byte length and pointer and,
    /// in the page, the 20 bytes InnoDB keeps of a column stored outside.
    pub(super) fn row_bytes(&self) -> (usize, usize) {
        let var = |max_bytes: usize| {
            if max_bytes > 255 {
                (max_bytes + 2, 20)
            } else {
                (max_bytes + 1, max_bytes + 1)
            }
        };
        let fixed = |n: usize| (n, n);
        match self {
            Enc::Bool => fixed(1),
            Enc::Int { width } => fixed(match width {
                IntWidth::Small => 2,
                IntWidth::Int => 4,
                IntWidth::Big => 8,
            }),
            Enc::Float { single } => fixed(if *single { 4 } else { 8 }),
            Enc::Decimal { precision, .. } => fixed((*precision as usize / 9 + 2) * 4),
            Enc::Text { max: Some(n), .. } => var(n * UTF8MB4_BYTES),
            Enc::Bytes { max: Some(n) } => var(*n),
            Enc::Text { max: None, .. } | Enc::Bytes { max: None } => (12, 20),
            Enc::Date => fixed(3),
            Enc::Time => fixed(6),
            Enc::Timestamp { .. } => fixed(8),
            Enc::Uuid { .. } => fixed(16),
        }
    }
}

/// The encodings of a target table's columns: [`encoding`] for each, with
/// the `VARCHAR(n)`/`CHAR(n)` the plan asks for (`sql_type`) kept while
/// the row has room for them — [`ROW_BYTES_BUDGET`] and
/// [`INLINE_BYTES_BUDGET`], in column order; past that a column is
/// `LONGTEXT` as without a declared type. Key columns are bounded by
/// InnoDB's key limit whatever the row's room (as before declared types).
/// A pure function of the table, so `prepare` and every `write` agree.
pub(super) fn table_encodings(t: &crate::endpoint::TargetTable, native_uuid: bool) -> Vec<Enc> {
    let keys = key_budgets(&t.def);
    let mut encs: Vec<Enc> = t
        .def
        .columns
        .iter()
        .map(|c| encoding(&t.source, &keys, c, native_uuid))
        .collect();
    // Declared text lengths outside keys are the ones the row may refuse.
    let optional = |i: usize, e: &Enc| {
        matches!(e, Enc::Text { max: Some(_), .. }) && !keys.contains_key(&t.def.columns[i].name)
    };
    let longtext = |e: &Enc| match e {
        Enc::Text { json, .. } => Enc::Text {
            max: None,
            json: *json,
            fixed: false,
            key: false,
        },
        other => other.clone(),
    };
    let total = |encs: &[Enc]| {
        encs.iter().fold((0i64, 0i64), |(r, p), e| {
            let (a, b) = e.row_bytes();
            (r + a as i64, p + b as i64)
        })
    };
    let wide: Vec<Enc> = encs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if optional(i, e) {
                longtext(e)
            } else {
                e.clone()
            }
        })
        .collect();
    let (mut row, mut inline) = total(&wide);
    for (i, w) in wide.iter().enumerate() {
        if !optional(i, &encs[i]) {
            continue;
        }
        let ((a, b), (wa, wb)) = (encs[i].row_bytes(), w.row_bytes());
        let r2 = row + a as i64 - wa as i64;
        let p2 = inline + b as i64 - wb as i64;
        if r2 <= ROW_BYTES_BUDGET as i64 && p2 <= INLINE_BYTES_BUDGET as i64 {
            (row, inline) = (r2, p2);
        } else {
            encs[i] = w.clone();
        }
    }
    encs
}

/// The MySQL column type a sink creates for a column (as MariaDB ≥ 10.7
/// would; on MySQL a uuid column is `BINARY(16)`). For the plan's display:
/// a declared `VARCHAR(n)`/`CHAR(n)` is shown even where the sink, short of
/// room in the row, declares `LONGTEXT` ([`table_encodings`]).
///
/// | logical | MySQL |
/// | --- | --- |
/// | boolean | `BOOLEAN` (`tinyint(1)`) |
/// | int64 | `BIGINT`; `SMALLINT`/`INT` when the plan keeps them |
/// | float64 | `DOUBLE`; `FLOAT` when the plan keeps a `real` |
/// | decimal | `DECIMAL(p,s)` from the plan or the source's declared precision (p ≤ 65, s ≤ 30), else `DECIMAL(65,30)` |
/// | text | `LONGTEXT`; `VARCHAR(n)`/`CHAR(n)` when the plan keeps them (n ≤ 16,383 / 255, and the row has room); `VARCHAR(n)` in a key |
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
        (Enc::Int { width }, ValueRef::Int(x)) => {
            let (lo, hi) = width.range();
            if !(lo..=hi).contains(&x) {
                return Err((
                    "out-of-range",
                    format!(
                        "{x} does not fit the column's {} ({lo} to {hi}); ferry does not change values",
                        width.name()
                    ),
                ));
            }
            let _ = write!(out, "{x}");
        }
        (Enc::Float { single }, ValueRef::Float(x)) => {
            if !x.is_finite() {
                return Err((
                    "out-of-range",
                    format!("{x} cannot be stored: MySQL DOUBLE has no NaN or infinity"),
                ));
            }
            // A 4-byte FLOAT holds only what an f32 holds; MySQL would round
            // the rest silently (or refuse a value past its range).
            if *single && f64::from(x as f32) != x {
                return Err((
                    "out-of-range",
                    format!(
                        "{x} is not exactly a 4-byte float: the column's FLOAT would round it; ferry does not change values"
                    ),
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
        (
            Enc::Text {
                max, fixed, key, ..
            },
            ValueRef::Text(s),
        ) => {
            // Checked here, not left to the server: MySQL cuts trailing
            // spaces past a VARCHAR's or CHAR's length with only a note,
            // even in strict mode.
            if let Some(n) = max {
                let len = s.chars().count();
                if len > *n {
                    let ty = if *fixed { "CHAR" } else { "VARCHAR" };
                    let why = if *key {
                        format!(
                            "the key column's {ty}({n}) (InnoDB keys hold at most {MAX_KEY_BYTES} bytes)"
                        )
                    } else {
                        format!("the column's {ty}({n})")
                    };
                    return Err((
                        "too-long",
                        format!("{len} characters do not fit {why}; ferry does not truncate"),
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

/// The column that gets `AUTO_INCREMENT` — the first identity column of an
/// integer type (MySQL allows one per table) — and, when it does not lead
/// the primary key, the key declared with the table so that MySQL accepts
/// it: a unique constraint or index of the plan that it leads (kept under
/// its name; `finish` finds it built), else a plain index of its own.
pub(super) fn auto_increment(def: &TableDef, encs: &[Enc]) -> Option<(usize, Option<String>)> {
    use crate::endpoint::sql::{quote_ident, quote_list};
    let i = def
        .columns
        .iter()
        .zip(encs)
        .position(|(c, e)| c.identity && matches!(e, Enc::Int { .. }))?;
    let name = &def.columns[i].name;
    if def.primary_key.first() == Some(name) {
        return Some((i, None));
    }
    let leads = |cols: &[String]| cols.first() == Some(name);
    let key = if let Some(u) = def.unique.iter().find(|u| leads(&u.columns)) {
        format!(
            "CONSTRAINT {} UNIQUE ({})",
            quote_ident(&short_name(&u.name)),
            quote_list(&u.columns)
        )
    } else if let Some(x) = def.indexes.iter().find(|x| leads(&x.columns)) {
        format!(
            "{}KEY {} ({})",
            if x.unique { "UNIQUE " } else { "" },
            quote_ident(&short_name(&x.name)),
            quote_list(&x.columns)
        )
    } else {
        format!(
            "KEY {} ({})",
            quote_ident(&short_name(&format!("{}_{name}_counter", def.name))),
            quote_ident(name)
        )
    };
    Some((i, Some(key)))
}
