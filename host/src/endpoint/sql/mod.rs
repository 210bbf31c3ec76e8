//! What the three SQL drivers share: identifier quoting (every session of
//! theirs reads `"quoted"` identifiers — MySQL runs with `ANSI_QUOTES`),
//! key-replacing inserts, foreign-key predicates, and the ledger, written
//! once over a small dialect layer ([`dialect`], [`ledger`]).

pub mod alter;
pub mod dialect;
pub mod explain;
pub mod ledger;
pub mod portable;
pub mod views;

pub use dialect::{Dialect, SqlConn, SqlError, SqlValue};

use crate::endpoint::Replace;

use crate::model::{ForeignKeyDef, TableDef};

/// An SQL string literal (quotes doubled; no backslash escapes, which
/// SQLite and PostgreSQL never read and MySQL sessions turn off).
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an SQL identifier: `"name"`, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a list of identifiers, comma-separated: `"a", "b"`.
pub fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` ON CONFLICT (pk) DO UPDATE SET c = excluded.c, …`: an incremental run's
/// rows replace the ones with the same key. Same syntax in SQLite and
/// PostgreSQL. Empty for a table without a primary key (rows are appended).
pub fn upsert_clause(def: &TableDef) -> String {
    if def.primary_key.is_empty() {
        return String::new();
    }
    let set: Vec<String> = def
        .columns
        .iter()
        .filter(|c| !def.primary_key.contains(&c.name))
        .map(|c| format!("{q} = excluded.{q}", q = quote_ident(&c.name)))
        .collect();
    if set.is_empty() {
        format!(" ON CONFLICT ({}) DO NOTHING", quote_list(&def.primary_key))
    } else {
        format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            quote_list(&def.primary_key),
            set.join(", ")
        )
    }
}

/// A foreign key as SQL, child aliased `c` and parent `p`: the join
/// conditions (`p."id" = c."user_id"`) and the child's "has a key" tests
/// (`c."user_id" IS NOT NULL`), one per column, for `AND`-joining.
pub fn fk_predicates(fk: &ForeignKeyDef) -> (Vec<String>, Vec<String>) {
    let join = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
        .collect();
    let not_null = fk
        .columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
        .collect();
    (join, not_null)
}

/// Values per `DELETE … IN (…)`: 500, under SQLite's 32,766 host
/// parameters and far under PostgreSQL's and MySQL's limits.
const DELETE_CHUNK: usize = 500;

/// The statements that delete what `r` names from `table`, in `d`'s dialect.
pub fn delete_in(d: &Dialect, table: &str, r: &Replace) -> Vec<(String, Vec<SqlValue>)> {
    r.values
        .chunks(DELETE_CHUNK)
        .map(|chunk| {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let mut params: Vec<SqlValue> = chunk.iter().map(SqlValue::from).collect();
            let filter = match &r.scope {
                Some((c, v)) => {
                    params.push(SqlValue::from(v));
                    format!(" AND {} = ${}", quote_ident(c), params.len())
                }
                None => String::new(),
            };
            let sql = format!(
                "DELETE FROM {} WHERE {} IN ({}){filter}",
                quote_ident(table),
                quote_ident(&r.column),
                marks.join(", ")
            );
            d.bind(&sql, &params)
        })
        .collect()
}
