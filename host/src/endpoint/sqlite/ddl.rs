//! What the SQLite sink declares: column types, `CREATE TABLE`, upserts.

use super::*;
use crate::endpoint::TargetTable;
use crate::model::{ColumnDef, LogicalType, SqlType, TableDef};

/// The declared type a SQLite target gets for a column: the source's
/// declared type when the column is unchanged (so SQLite → SQLite keeps
/// declared types and affinities exactly), else the declared type the plan
/// keeps (`sql_type`: `VARCHAR(45)`, `SMALLINT`, …), else the mapping's.
pub fn column_type(source: &TableDef, c: &ColumnDef) -> String {
    source
        .columns
        .iter()
        .find(|s| {
            s.name == c.name
                && s.logical_type == c.logical_type
                && !s.declared_type.is_empty()
                // A declared type from another database (PostgreSQL's
                // `integer[]`, `timestamp(3) with time zone`, an enum) is
                // kept only when SQLite can parse it and reads it back as the
                // same logical type; else the mapping's own type is used.
                && reads_back_as(&s.declared_type, c.logical_type)
                && sqlite_type_name(&s.declared_type)
        })
        .map(|s| s.declared_type.clone())
        .or_else(|| {
            c.sql_type
                .map(declared_sql_type)
                .filter(|d| logical_type(d) == c.logical_type)
        })
        .unwrap_or_else(|| declared_for(c.logical_type).to_string())
}

/// Whether a SQLite column declared `declared` reads back as `t`: what
/// [`logical_type`] says, or text for a `DATETIME` column that holds other
/// values than timestamps (introspection reads it as text then).
fn reads_back_as(declared: &str, t: LogicalType) -> bool {
    let d = logical_type(declared);
    d == t || (d == LogicalType::Timestamp && t == LogicalType::Text)
}

/// How SQLite declares a type the plan keeps. Affinity follows (`INT`,
/// `SMALLINT`: integer; `VARCHAR(n)`, `CHAR(n)`: text; `REAL`: real;
/// `NUMERIC(p,s)`: numeric); SQLite enforces none of the limits, the plan
/// chose the type because every value fits.
fn declared_sql_type(t: SqlType) -> String {
    match t {
        SqlType::SmallInt => "SMALLINT".into(),
        SqlType::Integer => "INT".into(),
        SqlType::Real => "REAL".into(),
        SqlType::Varchar { length } => format!("VARCHAR({length})"),
        SqlType::Char { length } => format!("CHAR({length})"),
        SqlType::Numeric { precision, scale } => format!("NUMERIC({precision},{scale})"),
    }
}

/// The column that becomes `INTEGER PRIMARY KEY AUTOINCREMENT`: the one
/// column of the primary key, when it is an int64 identity.
pub(super) fn identity_key(def: &TableDef) -> Option<&ColumnDef> {
    let [key] = def.primary_key.as_slice() else {
        return None;
    };
    def.columns
        .iter()
        .find(|c| &c.name == key && c.identity && c.logical_type == LogicalType::Int64)
}

/// Whether `d` fits SQLite's type-name grammar: words, then at most one
/// parenthesised list of numbers at the very end.
pub(super) fn sqlite_type_name(d: &str) -> bool {
    let (words, args) = match d.find('(') {
        Some(i) => (&d[..i], Some(&d[i..])),
        None => (d, None),
    };
    words
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ' ' || ch == '"')
        && args.is_none_or(|a| {
            a.len() >= 2
                && a.ends_with(')')
                && a[1..a.len() - 1]
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || matches!(ch, ',' | ' ' | '+' | '-' | '.'))
        })
}

pub(super) fn create_table_sql(t: &TargetTable) -> String {
    let identity = identity_key(&t.def).map(|c| c.name.clone());
    let mut parts: Vec<String> = t
        .def
        .columns
        .iter()
        .map(|c| {
            // A rowid alias needs the type exactly INTEGER; AUTOINCREMENT
            // keeps ids from being reused, as the source's counter did.
            if identity.as_ref() == Some(&c.name) {
                return format!(
                    "{} INTEGER PRIMARY KEY AUTOINCREMENT{}",
                    quote_ident(&c.name),
                    if c.nullable { "" } else { " NOT NULL" }
                );
            }
            let declared = column_type(&t.source, c);
            format!(
                "{} {}{}{}",
                quote_ident(&c.name),
                declared,
                if c.nullable { "" } else { " NOT NULL" },
                crate::model::default_sql(c, false)
                    .map(|d| format!(" DEFAULT {d}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !t.def.primary_key.is_empty() && identity.is_none() {
        parts.push(format!("PRIMARY KEY ({})", quote_list(&t.def.primary_key)));
    }
    // CHECKs are declared here: SQLite cannot add one later. A row that
    // violates one is refused by its INSERT and quarantined by the writer.
    for ck in &t.def.checks {
        parts.push(format!(
            "CONSTRAINT {} CHECK ({})",
            quote_ident(&ck.name),
            ck.expression
        ));
    }
    for fk in &t.def.foreign_keys {
        parts.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            quote_ident(&fk.name),
            quote_list(&fk.columns),
            quote_ident(&fk.ref_table),
            quote_list(&fk.ref_columns),
            fk.on_delete,
            fk.on_update
        ));
    }
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        quote_ident(&t.def.name),
        parts.join(",\n  ")
    )
}
