//! Making the plan: introspect the source, run every table through the
//! plugins' schema hooks, propose casts from sampled values, find the risks,
//! fit names to the target, count rows. Planning touches nothing.

use std::sync::Arc;

use crate::cast::{CastRule, PlannedCast};
use crate::consolidate::KeyStrategy;
use crate::endpoint::{self, EndpointUrl, IfExists, Source};
use crate::model::{TableDef, dependency_order, glob_match};
use crate::plan::{
    ESTIMATE_ROWS_PER_SEC, Estimates, PLAN_FORMAT, Plan, PlannedColumn, PlannedPlugin,
    PlannedTable, Risk, TYPE_MAPPING_VERSION,
};

use super::chain::Chain;
use super::events::{Phase, Progress};
use super::fidelity;
use super::options::{MigrateOptions, PluginUse};
use super::report::MigrateError;
use super::table::plan_table;

/// Rows sampled per table to find values that would be quarantined:
/// 10,000 — enough to see systematic dirt, cheap on any table.
const PROFILE_SAMPLE_ROWS: usize = 10_000;

fn risk(kind: &str, table: &str, column: Option<String>, detail: String) -> Risk {
    Risk {
        kind: kind.into(),
        table: table.to_string(),
        column,
        detail,
    }
}

/// Makes the plan for `opts`. Touches nothing.
pub async fn make_plan(
    opts: &MigrateOptions,
    events: Arc<dyn super::Events>,
) -> Result<Plan, MigrateError> {
    plan_with(opts, &Progress::new(events)).await
}

pub(crate) async fn plan_with(
    opts: &MigrateOptions,
    progress: &Progress,
) -> Result<Plan, MigrateError> {
    if opts.from == opts.to {
        return Err(MigrateError::Unsupported(
            "source and target are the same database".into(),
        ));
    }
    progress.phase(Phase::Planning);
    let source = super::open_source(opts, &opts.from, "", false).await?;
    let mut risks = Vec::new();
    let mut not_carried = Vec::new();
    let tables = fidelity::select_tables(
        source.tables().await?,
        &opts.selection,
        &mut risks,
        &mut not_carried,
    )?;
    let (order, deferred) = dependency_order(&tables);
    let tables: Vec<TableDef> = order.into_iter().map(|i| tables[i].clone()).collect();
    check_more_sources(opts, &tables).await?;
    check_scopes(opts, &tables)?;
    let objects = source.objects(&tables).await?;

    let mut chain = Chain::new(opts)?;
    let mut planned = Vec::new();
    let mut estimates = Estimates::default();
    for t in &tables {
        let (p, rows, bytes) = plan_one(
            opts,
            source.as_ref(),
            t,
            &tables,
            &mut chain,
            &mut risks,
            &mut not_carried,
        )
        .await?;
        estimates.rows += rows;
        estimates.bytes += bytes;
        planned.push(p);
    }
    fidelity::match_foreign_key_types(&opts.to, &mut planned);
    fit_names(&opts.to, &mut planned, &mut risks);
    let views = fidelity::carry_views(
        opts,
        source.as_ref(),
        objects.views,
        &planned,
        &mut not_carried,
    );
    let mut all_not_carried = objects.not_carried;
    all_not_carried.extend(not_carried);
    risks.extend(existing_tables(opts, &planned).await?);
    estimates.duration_ms = estimates.rows * 1000 / ESTIMATE_ROWS_PER_SEC;

    let planned_plugin = |u: &PluginUse| {
        let m = u.plugin.manifest();
        PlannedPlugin {
            name: m.name.clone(),
            kind: m.kind.to_string(),
            version: m.version.clone(),
            sha256: m.sha256.clone(),
            reference: u.reference.clone(),
            config: u.config.clone(),
            tables: u.tables.clone(),
        }
    };
    let mut plan = Plan {
        format: PLAN_FORMAT,
        fingerprint: String::new(),
        source: opts.from.to_string(),
        target: opts.to.to_string(),
        contract_version: crate::plugin::CONTRACT_VERSION.into(),
        type_mapping: TYPE_MAPPING_VERSION.into(),
        more_sources: opts
            .consolidate
            .more_sources
            .iter()
            .map(|s| s.to_string())
            .collect(),
        on_conflict: if opts.consolidate.more_sources.is_empty() {
            String::new()
        } else {
            opts.consolidate.on_conflict.describe()
        },
        batch_size: opts.batch_size,
        if_exists: match opts.if_exists {
            IfExists::Fail => "fail".into(),
            IfExists::Drop => "drop".into(),
        },
        counted_now: true,
        transformers: opts.transforms.iter().map(planned_plugin).collect(),
        validators: opts.validators.iter().map(planned_plugin).collect(),
        tables: planned,
        deferred,
        include: opts.selection.include.clone(),
        exclude: opts.selection.exclude.clone(),
        index_foreign_keys: opts.index_foreign_keys,
        views,
        not_carried: all_not_carried,
        estimates,
        risks,
    };
    plan.fingerprint = plan.compute_fingerprint();
    Ok(plan)
}

/// Every further source of a consolidation must hold the same tables and columns.
async fn check_more_sources(
    opts: &MigrateOptions,
    tables: &[TableDef],
) -> Result<(), MigrateError> {
    for more in &opts.consolidate.more_sources {
        if more == &opts.to {
            return Err(MigrateError::Unsupported(format!(
                "source {more} is also the target"
            )));
        }
        let other = super::open_source(opts, more, "", false)
            .await?
            .tables()
            .await?;
        let cols = |d: &TableDef| {
            d.columns
                .iter()
                .map(|c| (c.name.clone(), c.logical_type))
                .collect::<Vec<_>>()
        };
        let mut diffs = Vec::new();
        for t in tables {
            match other.iter().find(|o| o.name == t.name) {
                None => diffs.push(format!("table `{}` is missing", t.name)),
                Some(o) if cols(o) != cols(t) => diffs.push(format!(
                    "table `{}` has columns {:?}, the first source {:?}",
                    t.name,
                    cols(o),
                    cols(t)
                )),
                Some(_) => {}
            }
        }
        if !diffs.is_empty() {
            return Err(MigrateError::Unsupported(format!(
                "cannot consolidate {more} with {}: the schemas differ: {}",
                opts.from,
                diffs.join("; ")
            )));
        }
    }
    Ok(())
}

/// A plugin scoped to tables that do not exist is a typo that would skip
/// it: refused, listing the tables.
fn check_scopes(opts: &MigrateOptions, tables: &[TableDef]) -> Result<(), MigrateError> {
    for u in opts.transforms.iter().chain(&opts.validators) {
        for pattern in &u.tables {
            if !tables.iter().any(|t| glob_match(pattern, &t.name)) {
                return Err(MigrateError::Unsupported(format!(
                    "plugin `{}` is scoped to tables `{pattern}`, but no table matches; the tables are: {}",
                    u.plugin.name(),
                    tables
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// One table: casts, key rewrites, the plugin chain's schemas, the risks
/// sampling finds; with its row count and estimated bytes.
async fn plan_one(
    opts: &MigrateOptions,
    source: &dyn Source,
    t: &TableDef,
    tables: &[TableDef],
    chain: &mut Chain,
    risks: &mut Vec<Risk>,
    not_carried: &mut Vec<crate::model::NotCarried>,
) -> Result<(PlannedTable, u64, u64), MigrateError> {
    let casts = plan_casts(source, t, &opts.casts).await?;
    for c in casts.iter().filter(|c| c.origin == "promotion") {
        risks.push(risk("promotion", &t.name, Some(c.column.clone()), format!(
            "{} → {}: {}; values that do not convert are quarantined; keep it {} with [[cast]] column = \"{}.{}\", to = \"{}\"",
            c.from, c.to, c.reason, c.from, t.name, c.column, c.from
        )));
    }
    let cast_def = crate::cast::apply_to_def(t, &casts);
    let rekey = match opts.consolidate.keys {
        KeyStrategy::Keep => Vec::new(),
        KeyStrategy::Uuid5 => crate::consolidate::rekey_columns(t, tables),
    };
    let loaded = crate::consolidate::apply_to_def(&cast_def, &rekey);
    let mut skipped = Vec::new();
    let tp = plan_table(&loaded, chain, &mut skipped).await?;
    for w in skipped {
        risks.push(risk("skipped-key", &t.name, None, w));
    }
    // Counted while sampled: on a server, two queries on two connections.
    let (rows, profile) = tokio::join!(
        source.count(&t.name),
        source.profile(t, PROFILE_SAMPLE_ROWS)
    );
    let (rows, profile) = (rows?, profile?);
    for (col, n, why) in &profile.mismatches {
        risks.push(risk(
            "mixed-types",
            &t.name,
            Some(col.clone()),
            format!(
                "{n} of {} sampled values would be quarantined, e.g. {why}",
                profile.sampled
            ),
        ));
    }
    for (parent, n) in &profile.orphans {
        risks.push(risk("orphaned-foreign-keys", &t.name, None, format!(
            "{n} of {} sampled rows already reference missing `{parent}` rows in the source; every such row will be quarantined (fk-orphan) and the foreign key created",
            profile.sampled
        )));
    }
    // Against the loaded types: a promoted column's default must fit its new type.
    for c in &loaded.columns {
        if let Some(d) = &c.default
            && !d.trim().eq_ignore_ascii_case("null")
            && crate::model::default_sql(c, false).is_none()
        {
            risks.push(risk("default-not-carried", &t.name, Some(c.name.clone()), format!(
                "default `{d}` is not carried: only numbers, string literals, TRUE/FALSE and the current timestamp that fit the column's type are; the target column gets no default"
            )));
        }
    }
    if t.primary_key.is_empty() {
        risks.push(risk(
            "no-primary-key",
            &t.name,
            None,
            "no primary key: rows are read in rowid order and the target table gets no key".into(),
        ));
    }
    let reserved = endpoint::capabilities(&opts.to).reserved_words;
    let names =
        std::iter::once(&tp.target.def.name).chain(tp.target.def.columns.iter().map(|c| &c.name));
    for n in names {
        let column = (n != &tp.target.def.name).then(|| n.clone());
        if reserved.contains(&n.to_ascii_lowercase().as_str()) {
            risks.push(risk("reserved-word", &t.name, column, format!(
                "`{n}` is a reserved word in the target ({}); ferry quotes it everywhere, queries must too",
                opts.to
            )));
        }
    }
    let type_source = tp.source.clone();
    let mut planned = PlannedTable {
        name: t.name.clone(),
        target_name: tp.target.def.name.clone(),
        estimated_rows: rows,
        columns: Vec::new(),
        transforms: tp.transforms,
        validators: tp.validators,
        schemas: tp.schemas,
        source_def: t.clone(),
        casts,
        rekey,
        target_def: tp.target.def,
    };
    fidelity::keep_identity(&mut planned);
    fidelity::keep_declared_types(source, &opts.to, &mut planned, risks).await?;
    fidelity::carry_checks(opts, source, &mut planned, not_carried);
    fidelity::index_foreign_keys(&opts.to, opts.index_foreign_keys, &mut planned, risks);
    planned.columns = planned
        .target_def
        .columns
        .iter()
        .map(|c| PlannedColumn {
            name: c.name.clone(),
            source_type: (!c.declared_type.is_empty()).then(|| c.declared_type.clone()),
            logical_type: c.logical_type.name().into(),
            target_type: endpoint::column_type(&opts.to, &type_source, c),
            nullable: c.nullable,
            cast: planned
                .casts
                .iter()
                .find(|k| k.column == c.name && k.to == c.logical_type)
                .map(|k| format!("{} → {} ({})", k.from, k.to, k.origin)),
        })
        .collect();
    Ok((planned, rows, rows * profile.avg_row_bytes))
}

/// Names the target cannot hold as they are get a visible new name.
fn fit_names(to: &EndpointUrl, planned: &mut [PlannedTable], risks: &mut Vec<Risk>) {
    let Some((max, fold)) = endpoint::capabilities(to).identifiers else {
        return;
    };
    let mut defs: Vec<TableDef> = planned.iter().map(|p| p.target_def.clone()).collect();
    let dialect =
        crate::endpoint::sql::portable::SqlDialect::of_scheme(endpoint::capabilities(to).scheme);
    for r in crate::plan::fit_identifiers(&mut defs, max, fold, dialect) {
        risks.push(risk(
            "identifier-renamed",
            &r.table,
            r.column,
            format!("`{}` becomes `{}` in the target: {}", r.from, r.to, r.why),
        ));
    }
    for (p, d) in planned.iter_mut().zip(defs) {
        p.target_name = d.name.clone();
        for (pc, c) in p.columns.iter_mut().zip(&d.columns) {
            pc.name = c.name.clone();
        }
        p.target_def = d;
    }
}

/// Which target tables exist already, and what the policy does about it.
/// A target that does not exist yet has no tables (and is not created).
async fn existing_tables(
    opts: &MigrateOptions,
    planned: &[PlannedTable],
) -> Result<Vec<Risk>, MigrateError> {
    if endpoint::would_create(&opts.to) {
        return Ok(Vec::new());
    }
    let names: Vec<String> = planned.iter().map(|t| t.target_name.clone()).collect();
    let existing = endpoint::open_sink(&opts.to)
        .await?
        .existing_tables(&names)
        .await?;
    Ok(existing
        .into_iter()
        .map(|t| {
            risk("target-exists", &t, None, match opts.if_exists {
                IfExists::Fail => "already exists in the target; with --if-exists fail (the default) the run will refuse".into(),
                IfExists::Drop => "already exists in the target; --if-exists drop will drop and recreate it".into(),
            })
        })
        .collect())
}

/// The casts for one table: a config rule where one matches, else ferry's
/// promotion from sampled values (sources whose declared types do not say
/// what they hold; typed databases already do).
async fn plan_casts(
    source: &dyn Source,
    t: &TableDef,
    rules: &[CastRule],
) -> Result<Vec<PlannedCast>, MigrateError> {
    let samples = source.column_samples(t, PROFILE_SAMPLE_ROWS).await?;
    let mut out = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        if let Some(rule) = rules
            .iter()
            .find(|r| r.matches(&t.name, &c.name, &c.declared_type))
        {
            if !crate::cast::supported(c.logical_type, rule.to) {
                return Err(MigrateError::Unsupported(format!(
                    "{}: column `{}`.`{}` is {}; ferry has no exact cast from {} to {}",
                    rule.describe(),
                    t.name,
                    c.name,
                    c.logical_type,
                    c.logical_type,
                    rule.to
                )));
            }
            if rule.to != c.logical_type {
                out.push(PlannedCast {
                    column: c.name.clone(),
                    from: c.logical_type,
                    to: rule.to,
                    origin: "config".into(),
                    reason: rule.describe(),
                });
            }
            continue;
        }
        if let Some(sample) = samples.as_ref().and_then(|s| s.get(i))
            && let Some((to, reason)) =
                crate::cast::propose(&c.name, &c.declared_type, c.logical_type, sample)
        {
            out.push(PlannedCast {
                column: c.name.clone(),
                from: c.logical_type,
                to,
                origin: "promotion".into(),
                reason,
            });
        }
    }
    Ok(out)
}
