//! The migration engine: plan the tables through the plugin chain, then run
//! source → transformers → validators → sink, table by table in dependency
//! order, and report what happened to every row.
//!
//! Per table the pipeline is three concurrent stages joined by bounded
//! channels (so memory stays flat): a reader on a blocking thread, the plugin
//! chain, and the writer. Each batch is written with its rejects in one
//! target transaction, so a failure never leaves a partial batch.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::mpsc;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::endpoint::{
    EndpointError, EndpointUrl, IfExists, REJECTS_TABLE, ReadBatch, Sink, Source, TargetTable,
};
use crate::model::{
    Batch, ColumnDef, Diagnostic, Reject, Schema, Severity, Stage, TableDef, dependency_order,
};
use crate::plugin::{Plugin, PluginError, TransformerInstance, ValidatorInstance};

/// Bounded channel depth between stages: 2 batches. Enough to overlap
/// reading, plugins and writing; more only holds more memory.
const CHANNEL_DEPTH: usize = 2;

/// A plugin in the chain with its configuration JSON.
#[derive(Debug, Clone)]
pub struct PluginUse {
    pub plugin: Plugin,
    pub config: String,
    /// Tables it applies to: names or `*` globs. Empty means every table.
    pub tables: Vec<String>,
}

impl PluginUse {
    fn applies_to(&self, table: &str) -> bool {
        self.tables.is_empty() || self.tables.iter().any(|p| glob_match(p, table))
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let Some((head, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(head) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Reports progress to whoever renders it (the CLI draws bars).
pub trait Progress: Send + Sync {
    fn table_started(&self, _table: &str, _rows: u64) {}
    fn rows_written(&self, _table: &str, _rows: u64) {}
    fn table_finished(&self, _table: &str) {}
    fn phase(&self, _what: &str) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What to migrate and how.
pub struct MigrateOptions {
    pub from: EndpointUrl,
    pub to: EndpointUrl,
    pub transforms: Vec<PluginUse>,
    pub validators: Vec<PluginUse>,
    pub batch_size: usize,
    pub if_exists: IfExists,
}

/// Per-table outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub name: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every row read was written.
    Succeeded,
    /// Finished; some rows are in the rejects table.
    SucceededWithRejects,
    /// Stopped on an error.
    Failed,
}

/// The run report (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub status: RunStatus,
    pub source: String,
    pub target: String,
    pub tables: Vec<TableReport>,
    pub duration_ms: u64,
    /// Where rejected rows are, when there are any.
    pub rejects_table: Option<String>,
    /// Keys, constraints and indexes created after the load.
    pub constraints: Vec<String>,
    /// Keys or indexes that could not be recreated (e.g. a transformer dropped a column).
    pub warnings: Vec<String>,
    /// The plugin chain: name, kind, version, digest.
    pub plugins: Vec<PluginRef>,
    pub error: Option<String>,
    /// Stable error code when failed (`plugin:limit-exceeded`, `endpoint`, …).
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginRef {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub sha256: String,
}

/// A migration that could not run or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{source} (table `{table}`, batch {batch}); nothing of this batch was written")]
    Plugin {
        table: String,
        batch: u64,
        #[source]
        source: PluginError,
    },
    #[error("planning table `{table}`: {source}{}", scope_hint(source))]
    Plan {
        table: String,
        #[source]
        source: PluginError,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn scope_hint(e: &PluginError) -> String {
    match e {
        PluginError::Guest { plugin, error, .. }
            if matches!(**error, crate::plugin::GuestError::UnsupportedSchema(_)) =>
        {
            format!(
                "; to apply `{plugin}` to some tables only, scope it: --transform 'TABLE[,TABLE…]:{plugin}=…' (globs allowed)"
            )
        }
        _ => String::new(),
    }
}

impl MigrateError {
    pub fn code(&self) -> String {
        match self {
            MigrateError::Endpoint(_) => "endpoint".into(),
            MigrateError::Plugin { source, .. } | MigrateError::Plan { source, .. } => {
                format!("plugin:{}", source.code())
            }
            MigrateError::Unsupported(_) => "unsupported".into(),
            MigrateError::Internal(_) => "internal".into(),
        }
    }
}

/// The plugin chain with live instances.
struct Chain {
    transforms: Vec<(TransformerInstance, PluginUse)>,
    validators: Vec<(ValidatorInstance, PluginUse)>,
}

impl Chain {
    /// Fresh instances of every plugin in the run (instantiated on first use).
    fn new(opts: &MigrateOptions) -> Result<Chain, MigrateError> {
        let plan_err = |e| MigrateError::Plan {
            table: "-".into(),
            source: e,
        };
        Ok(Chain {
            transforms: opts
                .transforms
                .iter()
                .map(|u| Ok((TransformerInstance::new(u.plugin.clone())?, u.clone())))
                .collect::<Result<_, PluginError>>()
                .map_err(plan_err)?,
            validators: opts
                .validators
                .iter()
                .map(|u| Ok((ValidatorInstance::new(u.plugin.clone())?, u.clone())))
                .collect::<Result<_, PluginError>>()
                .map_err(plan_err)?,
        })
    }
}

/// One table's plan: which plugins apply, the schema after each transformer,
/// and the target table.
struct TablePlan {
    source: TableDef,
    /// Indexes into the chain's transformers that apply to this table, in order.
    transforms: Vec<usize>,
    /// Indexes into the chain's validators that apply to this table.
    validators: Vec<usize>,
    /// `schemas[0]` is the source schema; `schemas[k + 1]` is after the k-th applicable transformer.
    schemas: Vec<Schema>,
    target: TargetTable,
}

fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs a migration. Always returns a report; a failed run's report says why.
pub async fn migrate(opts: MigrateOptions, progress: Arc<dyn Progress>) -> Report {
    let started = Instant::now();
    let mut report = Report {
        run_id: new_run_id(),
        status: RunStatus::Failed,
        source: opts.from.to_string(),
        target: opts.to.to_string(),
        tables: Vec::new(),
        duration_ms: 0,
        rejects_table: None,
        constraints: Vec::new(),
        warnings: Vec::new(),
        plugins: opts
            .transforms
            .iter()
            .chain(&opts.validators)
            .map(|p| {
                let m = p.plugin.manifest();
                PluginRef {
                    name: m.name.clone(),
                    kind: m.kind.to_string(),
                    version: m.version.clone(),
                    sha256: m.sha256.clone(),
                }
            })
            .collect(),
        error: None,
        error_code: None,
    };
    let result = run(&opts, &mut report, progress).await;
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let rejected: u64 = report.tables.iter().map(|t| t.rows_rejected).sum();
    if rejected > 0 {
        report.rejects_table = Some(format!("{} in {}", REJECTS_TABLE, report.target));
    }
    match result {
        Ok(()) => {
            report.status = if rejected > 0 {
                RunStatus::SucceededWithRejects
            } else {
                RunStatus::Succeeded
            };
        }
        Err(e) => {
            report.status = RunStatus::Failed;
            report.error_code = Some(e.code());
            report.error = Some(error_chain(&e));
        }
    }
    report
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

async fn run(
    opts: &MigrateOptions,
    report: &mut Report,
    progress: Arc<dyn Progress>,
) -> Result<(), MigrateError> {
    if opts.from == opts.to {
        return Err(MigrateError::Unsupported(
            "source and target are the same database".into(),
        ));
    }
    let source = Source::open(&opts.from).await?;
    let tables = source.tables().await?;
    let (order, _deferred) = dependency_order(&tables);
    let tables: Vec<TableDef> = order.into_iter().map(|i| tables[i].clone()).collect();

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
    let mut chain = Chain::new(opts)?;

    // Plan: every table through the chain's schema hooks before touching the target.
    progress.phase("planning");
    let mut plans = Vec::new();
    for t in &tables {
        plans.push(plan_table(t, &mut chain, &mut report.warnings).await?);
    }

    let mut sink = Sink::connect(&opts.to).await?;
    let targets: Vec<TargetTable> = plans.iter().map(|p| p.target.clone()).collect();
    sink.prepare(&targets, opts.if_exists).await?;

    // Load tables concurrently, each with its own sink connection and plugin
    // instances (foreign keys come after the load, so order does not matter).
    let parallel = if source.parallel_reads() {
        Sink::parallel_writers(&opts.to)
    } else {
        1
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let cancel = Arc::new(AtomicBool::new(false));
    let run_id: Arc<str> = Arc::from(report.run_id.as_str());
    let mut jobs = tokio::task::JoinSet::new();
    for (i, plan) in plans.into_iter().enumerate() {
        let job = TableJob {
            plan: Arc::new(plan),
            chain: Chain::new(opts)?,
            source: source.clone(),
            to: opts.to.clone(),
            run_id: run_id.clone(),
            batch_size: opts.batch_size,
            progress: progress.clone(),
            cancel: cancel.clone(),
        };
        let permits = permits.clone();
        jobs.spawn(async move {
            // The semaphore is never closed, so acquire cannot fail.
            let _permit = permits.acquire_owned().await;
            let (report, result) = job.run().await;
            (i, report, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = jobs.join_next().await {
        let (i, tr, res) =
            joined.map_err(|e| MigrateError::Internal(format!("table loader: {e}")))?;
        if res.is_err() {
            cancel.store(true, Ordering::SeqCst);
        }
        results.push((i, tr, res));
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut first_error = None;
    for (_, tr, res) in results {
        report.tables.push(tr);
        if let Err(e) = res
            && first_error.is_none()
        {
            first_error = Some(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    progress.phase("creating keys, indexes and foreign keys");
    let (done, warnings) = sink.finish(&targets).await?;
    report.constraints = done;
    report.warnings.extend(warnings);
    Ok(())
}

async fn plan_table(
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
    let has = |cols: &[String]| cols.iter().all(|c| last.index_of(c).is_some());
    let mut skipped = |what: String| {
        warnings.push(format!(
            "table `{}`: {what} skipped: its columns are not all in the transformed schema",
            t.name
        ))
    };
    let primary_key = if has(&t.primary_key) {
        t.primary_key.clone()
    } else {
        skipped("primary key".into());
        Vec::new()
    };
    let unique = t
        .unique
        .iter()
        .filter(|u| {
            has(&u.columns) || {
                skipped(format!("unique {}", u.name));
                false
            }
        })
        .cloned()
        .collect();
    let indexes = t
        .indexes
        .iter()
        .filter(|i| {
            has(&i.columns) || {
                skipped(format!("index {}", i.name));
                false
            }
        })
        .cloned()
        .collect();
    let foreign_keys = t
        .foreign_keys
        .iter()
        .filter(|f| {
            has(&f.columns) || {
                skipped(format!("foreign key {}", f.name));
                false
            }
        })
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
        })
        .collect();
    let name = if last.table.is_empty() {
        t.name.clone()
    } else {
        last.table.clone()
    };
    Ok(TablePlan {
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
            },
        },
    })
}

/// Everything one table's load needs, owned, so tables can load concurrently.
struct TableJob {
    plan: Arc<TablePlan>,
    chain: Chain,
    source: Source,
    to: EndpointUrl,
    run_id: Arc<str>,
    batch_size: usize,
    progress: Arc<dyn Progress>,
    /// Set when another table failed: stop after the batch in flight.
    cancel: Arc<AtomicBool>,
}

impl TableJob {
    async fn run(self) -> (TableReport, Result<(), MigrateError>) {
        let mut tr = TableReport {
            name: self.plan.source.name.clone(),
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
        };
        let res = self.load(&mut tr).await;
        (tr, res)
    }

    async fn load(self, tr: &mut TableReport) -> Result<(), MigrateError> {
        let TableJob {
            plan,
            mut chain,
            source,
            to,
            run_id,
            batch_size,
            progress,
            cancel,
        } = self;
        let name = plan.source.name.clone();
        let rows = source.count(&name).await?;
        progress.table_started(&name, rows);
        let mut sink = Sink::connect(&to).await?;

        let (rtx, mut rrx) = mpsc::channel::<ReadBatch>(CHANNEL_DEPTH);
        let reader = source.spawn_reader(plan.source.clone(), batch_size, rtx);
        let (wtx, mut wrx) = mpsc::channel::<(Batch, Vec<Reject>)>(CHANNEL_DEPTH);

        // The plugin stage runs on its own task, so plugin work, encoding
        // and database I/O overlap on different cores.
        let stage_plan = plan.clone();
        let stage_cancel = cancel.clone();
        let stage = tokio::spawn(async move {
            let mut rows_read = 0u64;
            let mut batch_no = 0u64;
            while let Some(rb) = rrx.recv().await {
                if stage_cancel.load(Ordering::SeqCst) {
                    break;
                }
                rows_read += rb.rows_read;
                let mut rejects = rb.rejects;
                let out =
                    apply_chain(&stage_plan, &mut chain, rb.batch, batch_no, &mut rejects).await;
                batch_no += 1;
                match out {
                    Ok(out) => {
                        if wtx.send((out, rejects)).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => return (rows_read, Err(e)),
                }
            }
            (rows_read, Ok(()))
        });

        // The writer commits every batch handed to it, even after the stage
        // failed: the target then holds exactly the batches before the failure.
        let mut written = 0u64;
        let mut rejected = 0u64;
        let mut wrote = Ok(());
        while let Some((batch, rejects)) = wrx.recv().await {
            match sink.write(&run_id, &plan.target, &batch, &rejects).await {
                Ok(outcome) => {
                    let r = rejects.len() as u64 + outcome.rejected.len() as u64;
                    written += outcome.written;
                    rejected += r;
                    progress.rows_written(&name, outcome.written + r);
                }
                Err(e) => {
                    cancel.store(true, Ordering::SeqCst);
                    wrote = Err(MigrateError::from(e));
                    break;
                }
            }
        }
        drop(wrx);
        let (rows_read, staged) = stage
            .await
            .map_err(|e| MigrateError::Internal(format!("plugin stage: {e}")))?;
        let read_res = reader
            .await
            .map_err(|e| MigrateError::Internal(format!("reader: {e}")))?;
        progress.table_finished(&name);
        tr.rows_read = rows_read;
        tr.rows_written = written;
        tr.rows_rejected = rejected;
        wrote?;
        staged?;
        read_res?;
        Ok(())
    }
}

/// Runs one batch through the transformers and validators. Rejected rows are
/// appended to `rejects`; the returned batch holds the rows to write.
async fn apply_chain(
    plan: &TablePlan,
    chain: &mut Chain,
    mut batch: Batch,
    batch_no: u64,
    rejects: &mut Vec<Reject>,
) -> Result<Batch, MigrateError> {
    let table = &plan.source.name;
    let key_of = |schema: &Schema, batch: &Batch, row: usize| -> Option<String> {
        if plan.source.primary_key.is_empty() {
            return None;
        }
        let parts: Option<Vec<String>> = plan
            .source
            .primary_key
            .iter()
            .map(|k| {
                schema
                    .index_of(k)
                    .map(|i| crate::model::value_json(batch.value(row, i)).to_string())
            })
            .collect();
        parts.map(|p| p.join(","))
    };
    for (k, &i) in plan.transforms.iter().enumerate() {
        let (inst, u) = &mut chain.transforms[i];
        let config = &u.config;
        let input = &plan.schemas[k];
        let output = &plan.schemas[k + 1];
        // Keep the input for quarantine records only if the plugin reports rows.
        let keep = batch.clone();
        let out = inst
            .transform(input, output, config, batch)
            .await
            .map_err(|e| MigrateError::Plugin {
                table: table.clone(),
                batch: batch_no,
                source: e,
            })?;
        for (row, diags) in rejected_rows(&out.diagnostics) {
            rejects.push(Reject {
                table: table.clone(),
                source_key: key_of(input, &keep, row),
                stage: Stage::Transform,
                plugin: Some(inst.plugin().name().to_string()),
                column: diags.first().and_then(|d| d.column.clone()),
                code: diags.first().map(|d| d.code.clone()).unwrap_or_default(),
                reason: diags
                    .iter()
                    .map(|d| d.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                row: keep.row_json(input, row),
            });
        }
        log_diagnostics(table, inst.plugin().name(), &out.diagnostics);
        batch = out.batch;
    }
    let last = plan.schemas.last().unwrap_or(&plan.schemas[0]);
    let mut keep = vec![true; batch.num_rows];
    let mut any = false;
    for &i in &plan.validators {
        let (inst, u) = &mut chain.validators[i];
        let config = &u.config;
        let (b, diags) =
            inst.validate(last, config, batch)
                .await
                .map_err(|e| MigrateError::Plugin {
                    table: table.clone(),
                    batch: batch_no,
                    source: e,
                })?;
        batch = b;
        for (row, ds) in rejected_rows(&diags) {
            if keep[row] {
                keep[row] = false;
                any = true;
                rejects.push(Reject {
                    table: table.clone(),
                    source_key: key_of(last, &batch, row),
                    stage: Stage::Validate,
                    plugin: Some(inst.plugin().name().to_string()),
                    column: ds.first().and_then(|d| d.column.clone()),
                    code: ds.first().map(|d| d.code.clone()).unwrap_or_default(),
                    reason: ds
                        .iter()
                        .map(|d| d.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                    row: batch.row_json(last, row),
                });
            }
        }
        log_diagnostics(table, inst.plugin().name(), &diags);
    }
    if any {
        batch = batch.retain(last, &keep);
    }
    Ok(batch)
}

/// Rows with at least one `error` diagnostic, with those diagnostics, in row order.
fn rejected_rows(diags: &[Diagnostic]) -> Vec<(usize, Vec<&Diagnostic>)> {
    let mut by_row: std::collections::BTreeMap<usize, Vec<&Diagnostic>> = Default::default();
    for d in diags {
        if d.severity == Severity::Error
            && let Some(r) = d.row
        {
            by_row.entry(r as usize).or_default().push(d);
        }
    }
    by_row.into_iter().collect()
}

fn log_diagnostics(table: &str, plugin: &str, diags: &[Diagnostic]) {
    for d in diags.iter().filter(|d| d.severity != Severity::Error) {
        tracing::info!(table, plugin, row = ?d.row, column = ?d.column, code = %d.code, "{}", d.message);
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn table_globs() {
        assert!(glob_match("users", "users"));
        assert!(!glob_match("users", "users2"));
        assert!(glob_match("user*", "users"));
        assert!(glob_match("*_log", "audit_log"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("*", "anything"));
    }
}
