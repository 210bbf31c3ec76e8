//! Consolidation: several sources with the same schema into one target.
//!
//! Legacy keys collide across sources (`customers.id = 1` exists in every
//! file), so keys can be rewritten to UUIDv5 — `uuid5(namespace, source ␟
//! table ␟ legacy key)` — and every foreign key column that references a
//! rewritten key is rewritten with the parent's table name, so references
//! stay intact without a lookup. Each rewrite is recorded in
//! `_ferry_id_map` (source, table, legacy key, new key).
//!
//! Rows from different sources that collide on a unique constraint (the
//! same email in two files) follow the conflict policy, applied when the
//! constraint is created after the load:
//!
//! | policy | outcome |
//! | --- | --- |
//! | `fail` | the run stops before creating the constraint, naming the value |
//! | `keep-first` | the row from the earliest source stays; later ones go to quarantine and their children are re-pointed at the kept row |
//! | `keep-latest` | as `keep-first`, but the row with the greatest `latest_by` value stays |
//! | `quarantine` | the first row stays; later ones and their children go to quarantine |

use serde::{Deserialize, Serialize};

use crate::model::{Batch, BatchBuilder, LogicalType, Schema, TableDef, ValueRef, value_json};

/// Name of the id map table in the target.
pub const ID_MAP_TABLE: &str = "_ferry_id_map";

/// The default migration namespace: `uuid5(NAMESPACE_URL, "https://ferry.dev/migration")`.
/// Fixed, so a re-run maps the same legacy keys to the same UUIDs.
pub fn default_namespace() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"https://ferry.dev/migration")
}

/// How keys are carried into the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStrategy {
    /// Keys are copied as they are.
    #[default]
    Keep,
    /// Single-column primary keys (and the foreign keys pointing at them)
    /// become UUIDv5s of (source, table, legacy key).
    Uuid5,
}

/// What to do when rows from different sources share a unique value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "policy", content = "by")]
pub enum Conflict {
    Fail,
    #[default]
    KeepFirst,
    /// Keep the row with the greatest value of this column.
    KeepLatest(String),
    Quarantine,
}

impl Conflict {
    pub fn describe(&self) -> String {
        match self {
            Conflict::Fail => "fail".into(),
            Conflict::KeepFirst => "keep-first".into(),
            Conflict::KeepLatest(c) => format!("keep-latest by `{c}`"),
            Conflict::Quarantine => "quarantine".into(),
        }
    }
}

/// One column whose values are rewritten to UUIDv5 keys: the table whose
/// key space the value belongs to (the table itself for a primary key, the
/// parent for a foreign key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekeyColumn {
    pub column: String,
    pub table: String,
}

/// The columns of `def` that UUIDv5 keys rewrite: its single-column
/// primary key, and single-column foreign keys to tables in `all` whose
/// primary key is rewritten.
pub fn rekey_columns(def: &TableDef, all: &[TableDef]) -> Vec<RekeyColumn> {
    let mut out = Vec::new();
    if def.primary_key.len() == 1 {
        out.push(RekeyColumn {
            column: def.primary_key[0].clone(),
            table: def.name.clone(),
        });
    }
    for fk in &def.foreign_keys {
        let parent_rekeyed = all
            .iter()
            .find(|t| t.name == fk.ref_table)
            .is_some_and(|p| p.primary_key.len() == 1 && fk.ref_columns == p.primary_key);
        if fk.columns.len() == 1 && parent_rekeyed && !out.iter().any(|r| r.column == fk.columns[0])
        {
            out.push(RekeyColumn {
                column: fk.columns[0].clone(),
                table: fk.ref_table.clone(),
            });
        }
    }
    out
}

/// `def` with the rewritten columns typed uuid.
pub fn apply_to_def(def: &TableDef, rekey: &[RekeyColumn]) -> TableDef {
    let mut out = def.clone();
    for r in rekey {
        if let Some(c) = out.columns.iter_mut().find(|c| c.name == r.column) {
            c.logical_type = LogicalType::Uuid;
            c.declared_type = String::new();
        }
    }
    out
}

/// The UUIDv5 of a legacy key: `uuid5(ns, source ␟ table ␟ key as JSON)`.
pub fn key_uuid(ns: &uuid::Uuid, source: &str, table: &str, legacy: &ValueRef<'_>) -> [u8; 16] {
    let name = format!("{source}\u{1f}{table}\u{1f}{}", value_json(legacy.clone()));
    *uuid::Uuid::new_v5(ns, name.as_bytes()).as_bytes()
}

/// The id map's schema.
pub fn id_map_def() -> TableDef {
    let col = |name: &str, t: LogicalType| crate::model::ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable: false,
        default: None,
        ..Default::default()
    };
    TableDef {
        name: ID_MAP_TABLE.into(),
        columns: vec![
            col("source", LogicalType::Text),
            col("table_name", LogicalType::Text),
            col("legacy_key", LogicalType::Text),
            col("new_key", LogicalType::Uuid),
        ],
        primary_key: vec![],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        ..Default::default()
    }
}

/// Rewrites the key columns of `batch` (schema `from`) into `to` (same
/// columns, rewritten ones typed uuid). Returns the new batch and the id
/// map rows for this table's own primary key.
pub fn rekey_batch(
    ns: &uuid::Uuid,
    source: &str,
    table: &str,
    rekey: &[RekeyColumn],
    from: &Schema,
    to: &Schema,
    batch: &Batch,
) -> (Batch, Batch) {
    let idx: Vec<Option<&RekeyColumn>> = from
        .columns
        .iter()
        .map(|c| rekey.iter().find(|r| r.column == c.name))
        .collect();
    let map_schema = id_map_def().schema();
    let mut b = BatchBuilder::new(to, batch.num_rows);
    let mut m = BatchBuilder::new(&map_schema, batch.num_rows);
    for row in 0..batch.num_rows {
        for (i, r) in idx.iter().enumerate() {
            let v = batch.value(row, i);
            match (r, &v) {
                (_, ValueRef::Null) => b.push_null(i),
                (Some(r), v) => {
                    let u = key_uuid(ns, source, &r.table, v);
                    b.push_uuid(i, &u);
                    if r.table == table {
                        let _ = m.push_bytes(0, source.as_bytes());
                        let _ = m.push_bytes(1, table.as_bytes());
                        let _ = m.push_bytes(2, value_json(v.clone()).to_string().as_bytes());
                        m.push_uuid(3, &u);
                        m.end_row();
                    }
                }
                (None, v) => {
                    // Same type on both sides: cannot fail for a checked batch.
                    let _ = b.copy_value(i, v);
                }
            }
        }
        b.end_row();
    }
    (b.finish(), m.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_legacy_key_in_two_sources_gets_two_uuids_and_fks_follow_parents() {
        let ns = default_namespace();
        let a = key_uuid(&ns, "sqlite:a.db", "customers", &ValueRef::Int(1));
        let b = key_uuid(&ns, "sqlite:b.db", "customers", &ValueRef::Int(1));
        assert_ne!(a, b);
        // A child's FK value 1 in source a maps to the same UUID as the parent's key.
        assert_eq!(
            a,
            key_uuid(&ns, "sqlite:a.db", "customers", &ValueRef::Int(1))
        );
        // Stable across runs.
        assert_eq!(
            uuid::Uuid::from_bytes(a).to_string(),
            uuid::Uuid::new_v5(&ns, "sqlite:a.db\u{1f}customers\u{1f}1".as_bytes()).to_string()
        );
    }
}
