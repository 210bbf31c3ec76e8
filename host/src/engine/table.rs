//! One table's plan as the pipeline runs it: the table as read, its casts
//! and key rewrites, the plugins in scope with the schema after each, and
//! the target table (keys a transformer's output can no longer hold left
//! out, with a warning).

use crate::cast::PlannedCast;
use crate::consolidate::RekeyColumn;
use crate::endpoint::TargetTable;
use crate::model::{ColumnDef, Schema, TableDef};
use crate::plan::PlannedTable;

use super::chain::Chain;
use super::report::MigrateError;

/// One table's plan: which plugins apply, the schema after each transformer,
/// and the target table.
pub(crate) struct TablePlan {
    /// The table as the source holds it (what the reader reads).
    pub(crate) read_def: TableDef,
    /// Casts from `read_def` to `cast_def`.
    pub(crate) casts: Vec<PlannedCast>,
    pub(crate) cast_def: TableDef,
    /// Key columns rewritten to UUIDv5 (consolidation), from `cast_def` to `source`.
    pub(crate) rekey: Vec<RekeyColumn>,
    /// The table as loaded: after casts and key rewrites, before plugins.
    pub(crate) source: TableDef,
    /// Indexes into the chain's transformers that apply to this table, in order.
    pub(crate) transforms: Vec<usize>,
    /// Indexes into the chain's validators that apply to this table.
    pub(crate) validators: Vec<usize>,
    /// `schemas[0]` is the source schema; `schemas[k + 1]` is after the k-th applicable transformer.
    pub(crate) schemas: Vec<Schema>,
    pub(crate) target: TargetTable,
    /// The source's rows, when the plan counted them just now
    /// ([`crate::plan::Plan::counted_now`]): the load's progress starts from
    /// it instead of counting again.
    pub(crate) counted: Option<u64>,
}

impl TablePlan {
    /// A plan's table, as the pipeline runs it; `counted_now` as the plan says.
    pub(crate) fn from_planned(t: &PlannedTable, counted_now: bool) -> TablePlan {
        TablePlan {
            counted: counted_now.then_some(t.estimated_rows),
            read_def: t.source_def.clone(),
            casts: t.casts.clone(),
            cast_def: t.cast_def(),
            rekey: t.rekey.clone(),
            source: t.loaded_def(),
            transforms: t.transforms.clone(),
            validators: t.validators.clone(),
            schemas: t.schemas.clone(),
            target: t.target(),
        }
    }
}

/// Runs `t` through the schema hooks of the plugins in scope.
pub(crate) async fn plan_table(
    t: &TableDef,
    chain: &mut Chain,
    warnings: &mut Vec<String>,
) -> Result<TablePlan, MigrateError> {
    let mut schemas = vec![t.schema()];
    let mut transforms = Vec::new();
    for (i, (inst, u)) in chain.transforms.iter_mut().enumerate() {
        if !u.applies_to(&t.name) {
            continue;
        }
        transforms.push(i);
        let input = schemas.last().cloned().unwrap_or_else(|| t.schema());
        let out = inst
            .transform_schema(&input, &u.config)
            .await
            .map_err(|e| MigrateError::Plan {
                table: t.name.clone(),
                source: e,
            })?;
        schemas.push(out);
    }
    let last = schemas.last().cloned().unwrap_or_else(|| t.schema());
    let mut validators = Vec::new();
    for (i, (inst, u)) in chain.validators.iter_mut().enumerate() {
        if !u.applies_to(&t.name) {
            continue;
        }
        validators.push(i);
        inst.check_schema(&last, &u.config)
            .await
            .map_err(|e| MigrateError::Plan {
                table: t.name.clone(),
                source: e,
            })?;
    }
    // Keys whose columns a transformer dropped or renamed cannot be recreated.
    let has = |cols: &[String]| cols.iter().all(|c| last.index_of(c).is_some());
    let mut kept = |what: String, cols: &[String]| {
        has(cols) || {
            warnings.push(format!(
                "table `{}`: {what} skipped: its columns are not all in the transformed schema",
                t.name
            ));
            false
        }
    };
    let primary_key = if kept("primary key".into(), &t.primary_key) {
        t.primary_key.clone()
    } else {
        Vec::new()
    };
    let unique = t
        .unique
        .iter()
        .filter(|u| kept(format!("unique {}", u.name), &u.columns))
        .cloned()
        .collect();
    let indexes = t
        .indexes
        .iter()
        .filter(|i| kept(format!("index {}", i.name), &i.columns))
        .cloned()
        .collect();
    let foreign_keys = t
        .foreign_keys
        .iter()
        .filter(|f| kept(format!("foreign key {}", f.name), &f.columns))
        .cloned()
        .collect();
    let columns = last
        .columns
        .iter()
        .map(|c| ColumnDef {
            name: c.name.clone(),
            declared_type: t
                .columns
                .iter()
                .find(|s| s.name == c.name && s.logical_type == c.logical_type)
                .map(|s| s.declared_type.clone())
                .unwrap_or_default(),
            logical_type: c.logical_type,
            nullable: c.nullable,
            // A default applies to the column as the source declared it.
            default: t
                .columns
                .iter()
                .find(|s| s.name == c.name && s.logical_type == c.logical_type)
                .and_then(|s| s.default.clone()),
            ..Default::default()
        })
        .collect();
    let name = if last.table.is_empty() {
        t.name.clone()
    } else {
        last.table.clone()
    };
    Ok(TablePlan {
        counted: None,
        read_def: t.clone(),
        casts: Vec::new(),
        cast_def: t.clone(),
        rekey: Vec::new(),
        source: t.clone(),
        transforms,
        validators,
        schemas,
        target: TargetTable {
            source: t.clone(),
            def: TableDef {
                name,
                columns,
                primary_key,
                unique,
                indexes,
                foreign_keys,
                ..Default::default()
            },
        },
    })
}
