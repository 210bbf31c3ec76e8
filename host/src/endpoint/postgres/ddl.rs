//! What the PostgreSQL sink declares: identifier limits, column types,
//! `numeric(p,s)` and the exact fit of decimals into it.

use crate::endpoint::EndpointError;
use crate::model::LogicalType;

/// PostgreSQL's identifier limit: 63 bytes (NAMEDATALEN - 1). Longer names
/// would be silently truncated by the server, so ferry refuses them.
pub(super) const MAX_IDENT_BYTES: usize = 63;

/// The PostgreSQL column type for a logical type.
///
/// | logical | PostgreSQL |
/// | --- | --- |
/// | boolean | boolean |
/// | int64 | bigint |
/// | float64 | double precision (never `real`: no silent rounding) |
/// | decimal | numeric |
/// | text | text |
/// | bytes | bytea |
/// | json | jsonb |
/// | date, time, timestamp, timestamptz, uuid | same name |
pub fn pg_type(t: LogicalType) -> &'static str {
    match t {
        LogicalType::Boolean => "boolean",
        LogicalType::Int64 => "bigint",
        LogicalType::Float64 => "double precision",
        LogicalType::Decimal => "numeric",
        LogicalType::Text => "text",
        LogicalType::Bytes => "bytea",
        LogicalType::Json => "jsonb",
        LogicalType::Date => "date",
        LogicalType::Time => "time",
        LogicalType::Timestamp => "timestamp",
        LogicalType::Timestamptz => "timestamptz",
        LogicalType::Uuid => "uuid",
    }
}

/// The PostgreSQL type a sink creates for `col`: [`pg_type`], except that a
/// decimal column declared `NUMERIC(p,s)` / `DECIMAL(p,s)` / `NUMERIC(p)` in
/// its source keeps that precision (values that would not fit exactly are
/// rejected at write time, never rounded by the server). A `VARCHAR(n)`
/// stays `text`: the length limit could only refuse or truncate values, and
/// every value that arrives already fits the source's limit.
pub fn column_type(source: &crate::model::TableDef, col: &crate::model::ColumnDef) -> String {
    match numeric_typmod(source, col) {
        Some((p, s)) => format!("numeric({p},{s})"),
        None => pg_type(col.logical_type).to_string(),
    }
}

/// PostgreSQL's `numeric` precision limit: 1000 digits in a typmod.
pub(super) const MAX_NUMERIC_PRECISION: u32 = 1000;

/// `(precision, scale)` of a decimal column whose source declared one.
pub(super) fn numeric_typmod(
    source: &crate::model::TableDef,
    col: &crate::model::ColumnDef,
) -> Option<(u32, u32)> {
    if col.logical_type != LogicalType::Decimal {
        return None;
    }
    let src = source
        .columns
        .iter()
        .find(|s| s.name == col.name && s.logical_type == LogicalType::Decimal)?;
    let d = src.declared_type.trim().to_ascii_lowercase();
    let args = d
        .strip_prefix("numeric")
        .or_else(|| d.strip_prefix("decimal"))?
        .trim()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let (p, s) = match args.split_once(',') {
        Some((p, s)) => (p.trim().parse().ok()?, s.trim().parse().ok()?),
        None => (args.trim().parse().ok()?, 0),
    };
    (1..=MAX_NUMERIC_PRECISION).contains(&p).then_some(())?;
    (s <= p).then_some((p, s))
}

/// Whether decimal text `v` fits `numeric(p,s)` without rounding: at most
/// `p - s` digits before the point and `s` significant digits after it.
pub(super) fn fits_numeric(v: &str, p: u32, s: u32) -> bool {
    crate::model::Decimal::parse(v).is_some_and(|d| d.fits(p, s))
}

/// The server's full message (tokio-postgres' `Display` is only "db error").
/// Whether a PostgreSQL error is one a retry from the last checkpoint may
/// get past: the connection closed, refused or reset (a server restart,
/// a network blip), the server shutting down or starting up (57P01-57P03),
/// a connection exception (class 08), a serialization failure (40001) or
/// a deadlock (40P01).
pub fn pg_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08")
            || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01");
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::TimedOut
                    | K::NotConnected
            );
        }
        cur = c.source();
    }
    false
}

/// A PostgreSQL error as ferry reports it: [`EndpointError::Transient`] when
/// a retry may get past it, else a query error with the server's message.
pub fn pg_error(endpoint: &str, table: Option<&str>, e: &tokio_postgres::Error) -> EndpointError {
    pg_error_in(endpoint, table, e, String::new())
}

/// [`pg_error`] with what was being done, before the server's message.
pub fn pg_error_in(
    endpoint: &str,
    table: Option<&str>,
    e: &tokio_postgres::Error,
    doing: String,
) -> EndpointError {
    let reason = if doing.is_empty() {
        pg_message(e)
    } else {
        format!("{doing}: {}", pg_message(e))
    };
    let (endpoint, table) = (endpoint.to_string(), table.map(str::to_string));
    if pg_transient(e) {
        EndpointError::Transient {
            endpoint,
            table,
            reason,
        }
    } else {
        EndpointError::Query {
            endpoint,
            table,
            reason,
        }
    }
}

/// A connection that could not be made: transient when the server may be
/// back in a moment (refused while it restarts), with `hint` otherwise.
pub fn connect_error(endpoint: &str, e: &tokio_postgres::Error, hint: &str) -> EndpointError {
    let mut reason = pg_message(e);
    if !hint.is_empty() {
        reason = format!("{reason}; {hint}");
    }
    if pg_transient(e) {
        return EndpointError::Transient {
            endpoint: endpoint.to_string(),
            table: None,
            reason: format!("cannot connect: {reason}"),
        };
    }
    EndpointError::Connect {
        endpoint: endpoint.to_string(),
        reason,
    }
}

pub fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m
        }
        None => e.to_string(),
    }
}

/// PostgreSQL's reserved key words (SQL:2016 reserved + PostgreSQL's own),
/// the ones most often met as legacy column names. Every identifier is quoted,
/// so these are informational: they only matter to people writing SQL later.
pub const RESERVED_WORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];
