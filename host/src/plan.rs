//! The plan: the full, inspectable description of a migration, made before
//! anything is written. `ferry plan` prints it, `migrate --dry-run` renders
//! it, `migrate --plan plan.json` executes exactly it.
//!
//! The fingerprint covers everything that decides what lands in the target:
//! the source schema as introspected, the type mapping version, the contract
//! version, and each plugin's digest, configuration and table scope. It does
//! not cover estimates, risks or row counts (data may grow between plan and
//! run; the schema may not).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::endpoint::TargetTable;
use crate::model::{Schema, TableDef};

/// Version of the plan file format.
pub const PLAN_FORMAT: u32 = 1;

/// Version of the type mapping (`docs/type-mapping.md`). Bump it whenever a
/// mapping rule changes, so plans made under the old rules are refused.
pub const TYPE_MAPPING_VERSION: &str = "ferry-mapping-2";

/// Throughput used for duration estimates: 300,000 rows/s, measured for
/// SQLite → PostgreSQL on a 2-core machine (see the benchmark). A guide, not a promise.
pub const ESTIMATE_ROWS_PER_SEC: u64 = 300_000;

/// A migration plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub fingerprint: String,
    pub source: String,
    pub target: String,
    pub contract_version: String,
    pub type_mapping: String,
    /// Further sources consolidated into the target after `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_sources: Vec<String>,
    /// Conflict policy across sources (`keep-first`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_conflict: String,
    pub batch_size: usize,
    /// `fail` or `drop`.
    pub if_exists: String,
    /// Transformers, in chain order.
    pub transformers: Vec<PlannedPlugin>,
    /// Validators, in order (they run after every transformer).
    pub validators: Vec<PlannedPlugin>,
    /// Tables in dependency order (parents first).
    pub tables: Vec<PlannedTable>,
    /// Tables in foreign-key cycles, loaded in source order (their FKs are
    /// created after the load like every other FK).
    pub deferred: Vec<String>,
    pub estimates: Estimates,
    pub risks: Vec<Risk>,
}

/// One plugin of the chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlannedPlugin {
    pub name: String,
    /// `transformer` or `validator`.
    pub kind: String,
    pub version: String,
    pub sha256: String,
    /// How it was named: a built-in/plugin-dir name or a path.
    pub reference: String,
    pub config: String,
    /// Table scope; empty = every table.
    pub tables: Vec<String>,
}

/// One table of the plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedTable {
    pub name: String,
    pub target_name: String,
    pub estimated_rows: u64,
    /// Each target column: where it comes from and what it becomes.
    pub columns: Vec<PlannedColumn>,
    /// Indexes into `Plan::transformers` of those applied to this table, in order.
    pub transforms: Vec<usize>,
    /// Indexes into `Plan::validators` of those applied to this table.
    pub validators: Vec<usize>,
    /// `schemas[0]` is the source schema; `schemas[k + 1]` is after the k-th transformer.
    pub schemas: Vec<Schema>,
    /// The table as introspected from the source.
    pub source_def: TableDef,
    /// Columns read as one type and loaded as another (promotions and rules).
    #[serde(default)]
    pub casts: Vec<crate::cast::PlannedCast>,
    /// Columns whose values become UUIDv5 keys (consolidation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rekey: Vec<crate::consolidate::RekeyColumn>,
    /// The table as it will be created, with the keys and FKs that apply.
    pub target_def: TableDef,
}

impl PlannedTable {
    /// The source table after casts, before keys are rewritten.
    pub fn cast_def(&self) -> TableDef {
        crate::cast::apply_to_def(&self.source_def, &self.casts)
    }

    /// The source table as loaded: introspected, cast, keys rewritten.
    pub fn loaded_def(&self) -> TableDef {
        crate::consolidate::apply_to_def(&self.cast_def(), &self.rekey)
    }

    pub fn target(&self) -> TargetTable {
        TargetTable {
            source: self.loaded_def(),
            def: self.target_def.clone(),
        }
    }
}

/// One target column.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedColumn {
    pub name: String,
    /// Declared type in the source, when the column comes from the source unchanged.
    pub source_type: Option<String>,
    /// ferry's logical type.
    pub logical_type: String,
    /// The type created in the target.
    pub target_type: String,
    /// `text → timestamp (promotion)` when the column is cast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cast: Option<String>,
    pub nullable: bool,
}

/// What the run is expected to cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Estimates {
    pub rows: u64,
    pub bytes: u64,
    pub duration_ms: u64,
}

/// Something the operator should know before running.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Risk {
    /// `mixed-types`, `orphaned-foreign-keys`, `no-primary-key`,
    /// `identifier-too-long`, `reserved-word`, `target-exists`, `skipped-key`.
    pub kind: String,
    pub table: String,
    pub column: Option<String>,
    pub detail: String,
}

/// What the fingerprint is computed over.
#[derive(Serialize)]
struct FingerprintInput<'a> {
    format: u32,
    type_mapping: &'a str,
    contract_version: &'a str,
    source_tables: Vec<&'a TableDef>,
    casts: Vec<&'a [crate::cast::PlannedCast]>,
    rekey: Vec<&'a [crate::consolidate::RekeyColumn]>,
    sources: &'a [String],
    on_conflict: &'a str,
    plugins: Vec<(&'a str, &'a str, &'a str, &'a [String])>,
}

impl Plan {
    /// Computes the fingerprint of this plan's decisive inputs.
    pub fn compute_fingerprint(&self) -> String {
        let input = FingerprintInput {
            format: self.format,
            type_mapping: &self.type_mapping,
            contract_version: &self.contract_version,
            source_tables: self.tables.iter().map(|t| &t.source_def).collect(),
            casts: self.tables.iter().map(|t| t.casts.as_slice()).collect(),
            rekey: self.tables.iter().map(|t| t.rekey.as_slice()).collect(),
            sources: &self.more_sources,
            on_conflict: &self.on_conflict,
            plugins: self
                .transformers
                .iter()
                .chain(&self.validators)
                .map(|p| {
                    (
                        p.kind.as_str(),
                        p.sha256.as_str(),
                        p.config.as_str(),
                        p.tables.as_slice(),
                    )
                })
                .collect(),
        };
        // Serialising plain structs and vectors is deterministic (no maps).
        let bytes = serde_json::to_vec(&input).unwrap_or_default();
        format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
    }

    /// Why `fresh` (made now) differs from this plan, in the operator's
    /// terms; empty when the fingerprints agree.
    pub fn differences(&self, fresh: &Plan) -> Vec<String> {
        if self.fingerprint == fresh.fingerprint {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.format != fresh.format
            || self.type_mapping != fresh.type_mapping
            || self.contract_version != fresh.contract_version
        {
            out.push(format!(
                "ferry itself changed: plan made with {} / contract {}, this ferry has {} / contract {}",
                self.type_mapping, self.contract_version, fresh.type_mapping, fresh.contract_version
            ));
        }
        for old in &self.tables {
            match fresh.tables.iter().find(|t| t.name == old.name) {
                None => out.push(format!("source table `{}` no longer exists", old.name)),
                Some(new) => {
                    for c in &old.source_def.columns {
                        match new.source_def.columns.iter().find(|n| n.name == c.name) {
                            None => {
                                out.push(format!("column `{}`.`{}` was removed", old.name, c.name))
                            }
                            Some(n) if n != c => out.push(format!(
                                "column `{}`.`{}` changed: {} {} → {} {}",
                                old.name,
                                c.name,
                                c.declared_type,
                                if c.nullable { "NULL" } else { "NOT NULL" },
                                n.declared_type,
                                if n.nullable { "NULL" } else { "NOT NULL" }
                            )),
                            Some(_) => {}
                        }
                    }
                    for n in &new.source_def.columns {
                        if !old.source_def.columns.iter().any(|c| c.name == n.name) {
                            out.push(format!("column `{}`.`{}` was added", old.name, n.name));
                        }
                    }
                    let (o, n) = (&old.source_def, &new.source_def);
                    if o.primary_key != n.primary_key
                        || o.unique != n.unique
                        || o.indexes != n.indexes
                        || o.foreign_keys != n.foreign_keys
                    {
                        out.push(format!(
                            "keys, indexes or foreign keys of `{}` changed",
                            old.name
                        ));
                    }
                }
            }
        }
        for new in &fresh.tables {
            if !self.tables.iter().any(|t| t.name == new.name) {
                out.push(format!("source table `{}` was added", new.name));
            }
        }
        let old_plugins: Vec<&PlannedPlugin> =
            self.transformers.iter().chain(&self.validators).collect();
        let new_plugins: Vec<&PlannedPlugin> =
            fresh.transformers.iter().chain(&fresh.validators).collect();
        for (i, old) in old_plugins.iter().enumerate() {
            match new_plugins.get(i) {
                Some(new) if new.sha256 != old.sha256 => out.push(format!(
                    "plugin `{}` changed: planned sha256 {}, now {}",
                    old.name, old.sha256, new.sha256
                )),
                Some(new) if new.config != old.config || new.tables != old.tables => {
                    out.push(format!(
                        "plugin `{}`: configuration or table scope changed",
                        old.name
                    ))
                }
                Some(_) => {}
                None => out.push(format!("plugin `{}` is no longer in the chain", old.name)),
            }
        }
        if out.is_empty() {
            out.push(format!(
                "fingerprint {} differs from the plan's {}",
                fresh.fingerprint, self.fingerprint
            ));
        }
        out
    }
}

/// PostgreSQL's reserved key words (SQL:2016 reserved + PostgreSQL's own),
/// the ones most often met as legacy column names. Every identifier is quoted,
/// so these are informational: they only matter to people writing SQL later.
pub const PG_RESERVED: &[&str] = &[
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
