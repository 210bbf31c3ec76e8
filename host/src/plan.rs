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
pub const TYPE_MAPPING_VERSION: &str = "ferry-mapping-3";

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
    /// `--tables`: the tables taken (globs; empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// `--exclude-tables`: the tables left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// `--index-foreign-keys`: foreign keys without an index get one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index_foreign_keys: bool,
    /// The source's views as the target creates them (after the tables),
    /// in the target's dialect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<crate::model::ViewDef>,
    /// Every schema object of the source the target will not get, and why
    /// (triggers, routines, checks that do not translate, foreign keys to
    /// tables left out, …): nothing disappears silently.
    #[serde(default)]
    pub not_carried: Vec<crate::model::NotCarried>,
    pub estimates: Estimates,
    pub risks: Vec<Risk>,
    /// Set by the planner: each table's `estimated_rows` is a count this
    /// process made just now, so the run that follows at once (`migrate`)
    /// reuses it for progress instead of counting every table again. Never
    /// saved: a plan read back from a file or a ledger counts anew.
    #[serde(skip)]
    pub counted_now: bool,
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

/// Fits a name into `max` bytes: unchanged when it fits, else cut at a
/// character boundary and suffixed with 8 hex digits of its SHA-256, so two
/// long names that share a prefix stay distinct and the same name always
/// maps to the same result.
pub fn fit_identifier(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    // Room for the suffix: `_` and 8 hex digits (32 bits: a collision between
    // two long names sharing a prefix is one in four billion).
    let mut cut = max.saturating_sub(9);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &hash[..8])
}

/// One identifier the plan renamed for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    pub table: String,
    pub column: Option<String>,
    pub from: String,
    pub to: String,
    pub why: String,
}

/// Renames what the target cannot hold as it is: names longer than `max`
/// bytes (which PostgreSQL would silently truncate), and names that collide
/// with an earlier one under the target's rules (`fold`: MySQL compares
/// column names case-insensitively). Table, column, key, index and foreign
/// key names are all fitted, and every reference follows its table's and
/// columns' new names. Returns each rename, for the plan's risks.
pub fn fit_identifiers(
    defs: &mut [TableDef],
    max: usize,
    fold: bool,
    dialect: Option<crate::endpoint::sql::portable::SqlDialect>,
) -> Vec<Renamed> {
    use std::collections::{HashMap, HashSet};
    let key = |s: &str| {
        if fold {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    };
    let mut out = Vec::new();
    // Tables first: references to them must follow.
    let mut table_map: HashMap<String, String> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    for d in defs.iter_mut() {
        let mut new = fit_identifier(&d.name, max);
        let mut why = "longer than the target's identifier limit";
        if taken.contains(&key(&new)) {
            new = fit_identifier(
                &format!(
                    "{new}_{}",
                    &hex::encode(Sha256::digest(d.name.as_bytes()))[..8]
                ),
                max,
            );
            why = "collides with another table's name in the target";
        }
        taken.insert(key(&new));
        if new != d.name {
            out.push(Renamed {
                table: d.name.clone(),
                column: None,
                from: d.name.clone(),
                to: new.clone(),
                why: format!("{why} ({max} bytes)"),
            });
            table_map.insert(d.name.clone(), new.clone());
            d.name = new;
        }
    }
    // Columns per table, and their uses in keys and indexes.
    let mut column_maps: HashMap<String, HashMap<String, String>> = HashMap::new();
    for d in defs.iter_mut() {
        let mut map = HashMap::new();
        let mut seen: HashSet<String> = HashSet::new();
        for c in d.columns.iter_mut() {
            let mut new = fit_identifier(&c.name, max);
            let mut why = "longer than the target's identifier limit";
            if seen.contains(&key(&new)) {
                new = fit_identifier(
                    &format!(
                        "{new}_{}",
                        &hex::encode(Sha256::digest(c.name.as_bytes()))[..8]
                    ),
                    max,
                );
                why = "collides with another column of the table in the target";
            }
            seen.insert(key(&new));
            if new != c.name {
                out.push(Renamed {
                    table: d.name.clone(),
                    column: Some(c.name.clone()),
                    from: c.name.clone(),
                    to: new.clone(),
                    why: format!("{why} ({max} bytes)"),
                });
                map.insert(c.name.clone(), new.clone());
                c.name = new;
            }
        }
        let rename = |cols: &mut Vec<String>| {
            for c in cols.iter_mut() {
                if let Some(n) = map.get(c) {
                    *c = n.clone();
                }
            }
        };
        rename(&mut d.primary_key);
        // Constraint and index names keep the source's; one too long for
        // the target is fitted, visibly.
        let table = d.name.clone();
        let mut fit_name = |what: &str, name: &mut String| {
            let new = fit_identifier(name, max);
            if new != *name {
                out.push(Renamed {
                    table: table.clone(),
                    column: None,
                    from: name.clone(),
                    to: new.clone(),
                    why: format!(
                        "{what} name longer than the target's identifier limit ({max} bytes)"
                    ),
                });
                *name = new;
            }
        };
        for u in d.unique.iter_mut() {
            rename(&mut u.columns);
            fit_name("unique constraint", &mut u.name);
        }
        for i in d.indexes.iter_mut() {
            rename(&mut i.columns);
            fit_name("index", &mut i.name);
        }
        for f in d.foreign_keys.iter_mut() {
            rename(&mut f.columns);
            fit_name("foreign key", &mut f.name);
        }
        for c in d.checks.iter_mut() {
            fit_name("check", &mut c.name);
            if !map.is_empty()
                && let Some(dialect) = dialect
            {
                // The expression is the target's already: only names change.
                let renamed = crate::endpoint::sql::portable::translate_check(
                    &c.expression,
                    dialect,
                    dialect,
                    &|n: &str| Some(map.get(n).cloned().unwrap_or_else(|| n.to_string())),
                );
                if let Ok(e) = renamed {
                    c.expression = e;
                }
            }
        }
        column_maps.insert(d.name.clone(), map);
    }
    // Foreign keys follow their parent's new table and column names.
    for d in defs.iter_mut() {
        for f in d.foreign_keys.iter_mut() {
            if let Some(t) = table_map.get(&f.ref_table) {
                f.ref_table = t.clone();
            }
            if let Some(map) = column_maps.get(&f.ref_table) {
                for c in f.ref_columns.iter_mut() {
                    if let Some(n) = map.get(c) {
                        *c = n.clone();
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod ident_tests {
    use super::*;
    use crate::model::{ColumnDef, ForeignKeyDef, LogicalType};

    fn col(n: &str) -> ColumnDef {
        ColumnDef {
            name: n.into(),
            declared_type: String::new(),
            logical_type: LogicalType::Int64,
            nullable: true,
            default: None,
            ..Default::default()
        }
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_references_follow() {
        let long_a = format!("{}_alpha", "x".repeat(70));
        let long_b = format!("{}_beta", "x".repeat(70));
        let parent = TableDef {
            name: "p".repeat(80),
            columns: vec![col(&long_a), col(&long_b)],
            primary_key: vec![long_a.clone()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            ..Default::default()
        };
        let child = TableDef {
            name: "child".into(),
            columns: vec![col("Ref"), col("ref")],
            primary_key: vec![],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![ForeignKeyDef {
                name: "fk".into(),
                columns: vec!["Ref".into()],
                ref_table: parent.name.clone(),
                ref_columns: vec![long_a.clone()],
                on_delete: "NO ACTION".into(),
                on_update: "NO ACTION".into(),
            }],
            ..Default::default()
        };
        let mut defs = vec![parent, child];
        let renamed = fit_identifiers(&mut defs, 63, true, None);
        let (a, b) = (&defs[0].columns[0].name, &defs[0].columns[1].name);
        assert!(a.len() <= 63 && b.len() <= 63 && a != b, "{a} {b}");
        assert_eq!(&defs[0].primary_key, std::slice::from_ref(a));
        assert_eq!(defs[1].foreign_keys[0].ref_table, defs[0].name);
        assert_eq!(
            &defs[1].foreign_keys[0].ref_columns,
            std::slice::from_ref(a)
        );
        // `Ref` and `ref` collide where names fold case (MySQL): the second is renamed.
        assert_ne!(defs[1].columns[1].name.to_lowercase(), "ref");
        assert_eq!(renamed.len(), 4, "{renamed:?}");
        assert!(fit_identifier("é".repeat(40).as_str(), 63).len() <= 63);
    }
}
