//! What the SQLite sink declares: column types, `CREATE TABLE`, upserts.

use super::*;
use crate::endpoint::TargetTable;
use crate::model::{ColumnDef, TableDef};

/// The declared type a SQLite target gets for a column: the source's
/// declared type when the column is unchanged (so SQLite → SQLite keeps
/// affinities exactly), else the mapping's.
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
                && logical_type(&s.declared_type) == c.logical_type
                && sqlite_type_name(&s.declared_type)
        })
        .map(|s| s.declared_type.clone())
        .unwrap_or_else(|| declared_for(c.logical_type).to_string())
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
    let mut parts: Vec<String> = t
        .def
        .columns
        .iter()
        .map(|c| {
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
    if !t.def.primary_key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", quote_list(&t.def.primary_key)));
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
