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

use crate::cast::{CastRule, PlannedCast};
use crate::config::OnReject;
use crate::consolidate::{Conflict, KeyStrategy, RekeyColumn};
use crate::endpoint::{
    EndpointError, EndpointUrl, IfExists, REJECTS_TABLE, ReadBatch, Scan, Sink, Source, TargetTable,
};
use crate::model::{
    Batch, ColumnDef, Diagnostic, Reject, Schema, Severity, Stage, TableDef, dependency_order,
    glob_match,
};
use crate::plan::{
    ESTIMATE_ROWS_PER_SEC, Estimates, PG_RESERVED, PLAN_FORMAT, Plan, PlannedColumn, PlannedPlugin,
    PlannedTable, Risk, TYPE_MAPPING_VERSION,
};
use crate::plugin::{Plugin, PluginError, TransformerInstance, ValidatorInstance};
use std::collections::HashMap;

/// Bounded channel depth between stages: 2 batches. Enough to overlap
/// reading, plugins and writing; more only holds more memory.
const CHANNEL_DEPTH: usize = 2;

/// A plugin in the chain with its configuration JSON.
#[derive(Debug, Clone)]
pub struct PluginUse {
    pub plugin: Plugin,
    /// How the operator named it (`mask`, `./x.wasm`), recorded in plans.
    pub reference: String,
    pub config: String,
    /// Tables it applies to: names or `*` globs. Empty means every table.
    pub tables: Vec<String>,
}

impl PluginUse {
    fn applies_to(&self, table: &str) -> bool {
        self.tables.is_empty() || self.tables.iter().any(|p| glob_match(p, table))
    }
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
    /// Casting rules from the config (first match wins); they override
    /// ferry's promotions.
    pub casts: Vec<CastRule>,
    /// Verify the target at the end of the run (`None`: don't).
    pub verify: Option<crate::verify::Level>,
    /// More sources with the same schema, loaded after `from` into the same
    /// target, and how their keys and conflicts are handled.
    pub consolidate: Consolidate,
    /// What a rejected row does: per table (first matching glob), else the default.
    pub on_reject: (OnReject, Vec<(String, OnReject)>),
    /// Continue an interrupted run from its checkpoints (`ferry resume`).
    pub resume: Option<Resume>,
    /// Bring only what changed since the last run (`--incremental`).
    pub incremental: Option<Incremental>,
    /// Where the ledger lives when the target cannot hold it (`--state`,
    /// for json targets): a SQLite file or a PostgreSQL database.
    pub state: Option<EndpointUrl>,
}

/// Opens the ledger a run writes to: `--state` when given (a json target's),
/// else the target itself when it can keep one.
pub async fn open_state(
    state: Option<&EndpointUrl>,
    to: &EndpointUrl,
) -> Result<Option<Sink>, MigrateError> {
    let Some(url) = state else {
        return Ok(None);
    };
    if !matches!(to, EndpointUrl::Json(_)) {
        return Err(MigrateError::Unsupported(
            "--state holds the ledger of a json target; a SQLite or PostgreSQL target keeps its own".into(),
        ));
    }
    let s = Sink::connect(url).await?;
    if !s.has_ledger() {
        return Err(MigrateError::Unsupported(format!(
            "--state {url}: the ledger lives in a SQLite file or a PostgreSQL database"
        )));
    }
    Ok(Some(s))
}

/// An incremental run: each table is read after its high-water mark — the
/// last `(cursor, rowid)` a run not rolled back committed — and its rows
/// replace the target's rows with the same primary key.
#[derive(Debug, Clone, Default)]
pub struct Incremental {
    /// The column that grows when a row changes (e.g. `updated_at`); tables
    /// without it are read after their last rowid (new rows only).
    pub cursor: Option<String>,
    /// Without a recorded mark: only rows whose cursor is greater than this.
    pub since: Option<String>,
}

/// What the ledger says about a run being resumed.
#[derive(Debug, Clone)]
pub struct Resume {
    pub run_id: String,
    /// Per table: how far the load got.
    pub checkpoints: Vec<crate::ledger::Checkpoint>,
}

impl MigrateOptions {
    /// The reject policy of one table.
    pub fn on_reject_for(&self, table: &str) -> OnReject {
        self.on_reject
            .1
            .iter()
            .find(|(g, _)| glob_match(g, table))
            .map(|(_, p)| *p)
            .unwrap_or(self.on_reject.0)
    }
}

/// Consolidation settings (see [`crate::consolidate`]).
#[derive(Debug, Clone)]
pub struct Consolidate {
    /// Sources after the first (`--from` repeated).
    pub more_sources: Vec<EndpointUrl>,
    pub keys: KeyStrategy,
    pub namespace: uuid::Uuid,
    pub on_conflict: Conflict,
}

impl Default for Consolidate {
    fn default() -> Self {
        Consolidate {
            more_sources: Vec::new(),
            keys: KeyStrategy::Keep,
            namespace: crate::consolidate::default_namespace(),
            on_conflict: Conflict::KeepFirst,
        }
    }
}

/// Per-table outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub name: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
}

/// Milliseconds per phase of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Introspection, sampling, plugin schema hooks.
    pub plan_ms: u64,
    /// Reading, casting, plugins and writing every table.
    pub load_ms: u64,
    /// Keys, indexes and foreign keys (and moving violating rows).
    pub constraints_ms: u64,
    /// The end-of-run verification.
    pub verify_ms: u64,
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
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
    /// Where the time went.
    pub phases: Phases,
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
    /// The end-of-run verification, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::verify::VerifyReport>,
    /// A files run: what happened to each file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<crate::files::run::FilesSummary>,
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
    #[error(
        "table `{table}`, batch {batch}: {rows} rows rejected ({reason}) and the table's policy is on_reject = \"abort\"; nothing of this batch was written (earlier batches were)"
    )]
    Aborted {
        table: String,
        batch: u64,
        rows: usize,
        reason: String,
    },
    #[error("verify failed after the load (the data is in the target; look before using it): {}", .0.join("; "))]
    Verify(Vec<String>),
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
            MigrateError::Verify(_) => "verify".into(),
            MigrateError::Aborted { .. } => "aborted".into(),
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
    /// The table as the source holds it (what the reader reads).
    read_def: TableDef,
    /// Casts from `read_def` to `cast_def`.
    casts: Vec<PlannedCast>,
    cast_def: TableDef,
    /// Key columns rewritten to UUIDv5 (consolidation), from `cast_def` to `source`.
    rekey: Vec<RekeyColumn>,
    /// The table as loaded: after casts and key rewrites, before plugins.
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
    execute(None, opts, progress).await
}

/// Runs `plan` (made earlier by [`make_plan`] with the same options), or
/// plans first when `plan` is `None`. Always returns a report; a failed
/// run's report says why.
pub async fn execute(
    plan: Option<&Plan>,
    opts: MigrateOptions,
    progress: Arc<dyn Progress>,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        run_id: opts
            .resume
            .as_ref()
            .map(|r| r.run_id.clone())
            .unwrap_or_else(new_run_id),
        status: RunStatus::Failed,
        source: opts.from.to_string(),
        target: opts.to.to_string(),
        tables: Vec::new(),
        duration_ms: 0,
        phases: Phases::default(),
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
        verify: None,
        files: None,
    };
    let result = match plan {
        Some(plan) => run_and_verify(plan, &opts, &mut report, progress).await,
        None => match make_plan(&opts, progress.as_ref()).await {
            Ok(plan) => {
                report.phases.plan_ms = ms(started);
                run_and_verify(&plan, &opts, &mut report, progress).await
            }
            Err(e) => Err(e),
        },
    };
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
    crate::ledger::failpoint("run-end");
    record_end(&opts, &report).await;
    report
}

/// The ledger's record of a run in `phase` with `status`.
fn run_record(
    report: &Report,
    plan: Option<&Plan>,
    status: &str,
    phase: &str,
    mode: &str,
) -> crate::ledger::RunRecord {
    let now = crate::ledger::now();
    crate::ledger::RunRecord {
        run_id: report.run_id.clone(),
        status: status.to_string(),
        phase: phase.to_string(),
        mode: mode.to_string(),
        source: report.source.clone(),
        target: report.target.clone(),
        fingerprint: plan.map(|p| p.fingerprint.clone()),
        plan: plan.and_then(|p| serde_json::to_string(p).ok()),
        started_at: now.clone(),
        updated_at: now,
        finished_at: None,
        report: None,
        error: None,
    }
}

/// Records how a run ended in the target's ledger (when it keeps one and
/// the run got as far as creating it). A failure here is logged: the run's
/// own outcome stands.
async fn record_end(opts: &MigrateOptions, report: &Report) {
    if let EndpointUrl::Sqlite(p) = &opts.to
        && !p.exists()
    {
        return;
    }
    let mut sink = match open_state(opts.state.as_ref(), &opts.to).await {
        Ok(Some(s)) => s,
        Ok(None) => match Sink::connect(&opts.to).await {
            Ok(s) => s,
            Err(_) => return,
        },
        Err(_) => return,
    };
    if !sink.has_ledger() {
        return;
    }
    let Ok(mut existing) = sink.runs(Some(&report.run_id)).await else {
        return;
    };
    let Some(mut r) = existing.pop() else {
        return;
    };
    let status = match report.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::SucceededWithRejects => "succeeded_with_rejects",
        RunStatus::Failed => "failed",
    };
    r.status = status.to_string();
    if report.status != RunStatus::Failed {
        r.phase = "done".to_string();
    }
    r.updated_at = crate::ledger::now();
    r.finished_at = Some(r.updated_at.clone());
    r.report = serde_json::to_string(report).ok();
    r.error = report.error.clone();
    r.plan = None;
    if let Err(e) = sink.save_run(&r).await {
        tracing::warn!(
            "could not record the end of run {} in the ledger: {e}",
            report.run_id
        );
    }
}

/// Before a run changes the target, records what undoing it needs: each
/// table that does not exist yet (undo: drop it), and each existing one it
/// will replace (`--if-exists drop`) with its checksum and a backup. With
/// `--if-exists fail` an existing table stops the run before anything is
/// touched, so nothing is recorded.
async fn record_backups(
    sink: &mut Sink,
    run_id: &str,
    targets: &[TargetTable],
    if_exists: IfExists,
    in_place: bool,
) -> Result<(), MigrateError> {
    record_backups_inner(sink, None, run_id, targets, if_exists, in_place).await
}

/// A json target's backup: a copy of the directory's files, recorded per
/// table (with each table file's checksum) in the separate ledger.
async fn record_json_backups(
    sink: &mut Sink,
    state: &mut Sink,
    run_id: &str,
    targets: &[TargetTable],
    if_exists: IfExists,
) -> Result<(), MigrateError> {
    record_backups_inner(sink, Some(state), run_id, targets, if_exists, false).await
}

async fn record_backups_inner(
    sink: &mut Sink,
    mut state: Option<&mut Sink>,
    run_id: &str,
    targets: &[TargetTable],
    if_exists: IfExists,
    in_place: bool,
) -> Result<(), MigrateError> {
    let names: Vec<String> = targets.iter().map(|t| t.def.name.clone()).collect();
    let existing = sink.existing_tables(&names).await?;
    if !existing.is_empty() && if_exists == IfExists::Fail {
        return Ok(());
    }
    if let Some(st) = state.as_mut() {
        // json: one copy of the whole directory restores it exactly.
        let copy = sink.json_backup(run_id)?;
        for name in &names {
            let pre = sink.table_checksum(name).await?;
            st.save_backup(&crate::ledger::Backup {
                run_id: run_id.to_string(),
                table: name.clone(),
                kind: "files".to_string(),
                backup_ref: copy.clone(),
                pre_rows: pre.as_ref().map(|p| p.0).unwrap_or(0),
                pre_checksum: pre.map(|p| p.1),
            })
            .await?;
        }
        return Ok(());
    }
    let mut replaced = Vec::new();
    for name in &names {
        let pre = if existing.contains(name) {
            sink.table_checksum(name).await?
        } else {
            None
        };
        let b = crate::ledger::Backup {
            run_id: run_id.to_string(),
            table: name.clone(),
            kind: "absent".to_string(),
            backup_ref: None,
            pre_rows: pre.as_ref().map(|p| p.0).unwrap_or(0),
            pre_checksum: pre.map(|p| p.1),
        };
        if existing.contains(name) {
            replaced.push(b);
        } else {
            sink.save_backup(&b).await?;
            crate::ledger::failpoint_at("backup", Some(name));
        }
    }
    if !replaced.is_empty() {
        sink.backup_tables(run_id, &replaced, in_place).await?;
    }
    Ok(())
}

/// What a resumed run must (re)create before it loads, and the backups it
/// must still take. A table with a checkpoint of this run holds this run's
/// committed batches (a batch commits with its checkpoint): it is kept. Any
/// other table holds none of this run's rows, so it is created afresh —
/// after the run's backup of it is recorded, when the run died before it
/// backed the table up (its old content may still be in place: a replacing
/// run records every backup, then drops and recreates the tables).
async fn resume_tables(
    sink: &mut Sink,
    resume: &Resume,
    plans: &[Arc<TablePlan>],
    targets: &[TargetTable],
    existing: &[String],
    plan: &Plan,
) -> Result<Vec<TargetTable>, MigrateError> {
    let started: Vec<&str> = plans
        .iter()
        .filter(|p| resume.checkpoints.iter().any(|c| c.table == p.source.name))
        .map(|p| p.target.def.name.as_str())
        .collect();
    let recorded: Vec<String> = sink
        .backups(&resume.run_id)
        .await?
        .into_iter()
        .map(|b| b.table)
        .collect();
    let fresh: Vec<TargetTable> = targets
        .iter()
        .filter(|t| !(started.contains(&t.def.name.as_str()) && existing.contains(&t.def.name)))
        .cloned()
        .collect();
    let unrecorded: Vec<TargetTable> = fresh
        .iter()
        .filter(|t| !recorded.contains(&t.def.name))
        .cloned()
        .collect();
    let if_exists = if plan.if_exists == "drop" {
        IfExists::Drop
    } else {
        IfExists::Fail
    };
    if let Some(t) = unrecorded
        .iter()
        .find(|t| existing.contains(&t.def.name) && if_exists == IfExists::Fail)
    {
        return Err(EndpointError::TargetExists {
            endpoint: sink.describe(),
            table: t.def.name.clone(),
        }
        .into());
    }
    record_backups(sink, &resume.run_id, &unrecorded, if_exists, false).await?;
    Ok(fresh)
}

/// [`record_backups`] for a run that changes `tables` in place (a sync):
/// copies of the existing ones, `absent` for the others.
pub async fn record_backups_for(
    sink: &mut Sink,
    run_id: &str,
    tables: &[TargetTable],
) -> Result<(), MigrateError> {
    record_backups(sink, run_id, tables, IfExists::Drop, true).await
}

/// A json checkpoint's recorded file lengths: (table file, quarantine file).
fn offsets_of(cp: &crate::ledger::Checkpoint) -> (Option<u64>, Option<u64>) {
    let v: Option<serde_json::Value> = cp
        .offsets
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok());
    let get = |k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(|n| n.as_u64());
    (get("table"), get("rejects"))
}

/// Moves a run's ledger record to another phase.
async fn record_phase(sink: &mut Sink, report: &Report, phase: &str) -> Result<(), MigrateError> {
    if !sink.has_ledger() {
        return Ok(());
    }
    if let Some(mut r) = sink.runs(Some(&report.run_id)).await?.pop() {
        r.phase = phase.to_string();
        r.updated_at = crate::ledger::now();
        r.plan = None;
        sink.save_run(&r).await?;
    }
    Ok(())
}

/// Runs the plan, then verifies the target when the options ask for it.
async fn run_and_verify(
    plan: &Plan,
    opts: &MigrateOptions,
    report: &mut Report,
    progress: Arc<dyn Progress>,
) -> Result<(), MigrateError> {
    run(plan, opts, report, progress.clone()).await?;
    let Some(level) = opts.verify else {
        return Ok(());
    };
    progress.phase("verifying");
    let verify_started = Instant::now();
    // Rewritten keys differ from the source by design: such runs are
    // verified by counts and accounting, like a consolidation.
    let rekeyed = plan.tables.iter().any(|t| !t.rekey.is_empty());
    let v = if opts.consolidate.more_sources.is_empty() && !rekeyed {
        crate::verify::verify(plan, &opts.from, &opts.to, Some(&report.run_id), level).await?
    } else {
        let sources: Vec<EndpointUrl> = std::iter::once(opts.from.clone())
            .chain(opts.consolidate.more_sources.iter().cloned())
            .collect();
        crate::verify::verify_consolidated(plan, &sources, &opts.to, Some(&report.run_id)).await?
    };
    let failures = v.failures();
    crate::ledger::failpoint("verified");
    report.verify = Some(v);
    report.phases.verify_ms = ms(verify_started);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Verify(failures))
    }
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

/// Number of rows sampled per table to find values that would be
/// quarantined: 10,000 — enough to see systematic dirt, cheap on any table.
const PROFILE_SAMPLE_ROWS: usize = 10_000;

/// Makes the plan: introspects the source, runs every table through the
/// plugins' schema hooks, samples for risks, counts rows. Touches nothing.
pub async fn make_plan(
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<Plan, MigrateError> {
    if opts.from == opts.to {
        return Err(MigrateError::Unsupported(
            "source and target are the same database".into(),
        ));
    }
    progress.phase("planning");
    let source = Source::open(&opts.from).await?;
    let tables = source.tables().await?;
    let (order, deferred) = dependency_order(&tables);
    let tables: Vec<TableDef> = order.into_iter().map(|i| tables[i].clone()).collect();
    // Every further source must hold the same tables and columns.
    for more in &opts.consolidate.more_sources {
        if more == &opts.to {
            return Err(MigrateError::Unsupported(format!(
                "source {more} is also the target"
            )));
        }
        let other = Source::open(more).await?.tables().await?;
        let mut diffs = Vec::new();
        for t in &tables {
            match other.iter().find(|o| o.name == t.name) {
                None => diffs.push(format!("table `{}` is missing", t.name)),
                Some(o) => {
                    let cols = |d: &TableDef| {
                        d.columns
                            .iter()
                            .map(|c| (c.name.clone(), c.logical_type))
                            .collect::<Vec<_>>()
                    };
                    if cols(o) != cols(t) {
                        diffs.push(format!(
                            "table `{}` has columns {:?}, the first source {:?}",
                            t.name,
                            cols(o),
                            cols(t)
                        ));
                    }
                }
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
    let mut risks = Vec::new();
    let mut planned = Vec::new();
    let mut estimates = Estimates::default();
    let pg = matches!(opts.to, EndpointUrl::Postgres(_));
    for t in &tables {
        let casts = plan_casts(&source, t, &opts.casts).await?;
        for c in casts.iter().filter(|c| c.origin == "promotion") {
            risks.push(Risk {
                kind: "promotion".into(),
                table: t.name.clone(),
                column: Some(c.column.clone()),
                detail: format!(
                    "{} → {}: {}; values that do not convert are quarantined; keep it {} with [[cast]] column = \"{}.{}\", to = \"{}\"",
                    c.from, c.to, c.reason, c.from, t.name, c.column, c.from
                ),
            });
        }
        let cast_def = crate::cast::apply_to_def(t, &casts);
        let rekey = match opts.consolidate.keys {
            KeyStrategy::Keep => Vec::new(),
            KeyStrategy::Uuid5 => crate::consolidate::rekey_columns(t, &tables),
        };
        let loaded = crate::consolidate::apply_to_def(&cast_def, &rekey);
        let mut skipped = Vec::new();
        let tp = plan_table(&loaded, &mut chain, &mut skipped).await?;
        for w in skipped {
            risks.push(Risk {
                kind: "skipped-key".into(),
                table: t.name.clone(),
                column: None,
                detail: w,
            });
        }
        let rows = source.count(&t.name).await?;
        let profile = source.profile(t, PROFILE_SAMPLE_ROWS).await?;
        estimates.rows += rows;
        estimates.bytes += rows * profile.avg_row_bytes;
        for (col, n, why) in &profile.mismatches {
            risks.push(Risk {
                kind: "mixed-types".into(),
                table: t.name.clone(),
                column: Some(col.clone()),
                detail: format!(
                    "{n} of {} sampled values would be quarantined, e.g. {why}",
                    profile.sampled
                ),
            });
        }
        for (parent, n) in &profile.orphans {
            risks.push(Risk {
                kind: "orphaned-foreign-keys".into(),
                table: t.name.clone(),
                column: None,
                detail: format!("{n} of {} sampled rows already reference missing `{parent}` rows in the source; every such row will be quarantined (fk-orphan) and the foreign key created", profile.sampled),
            });
        }
        // Against the loaded types: a promoted column's default must fit its new type.
        for c in &loaded.columns {
            if let Some(d) = &c.default
                && !d.trim().eq_ignore_ascii_case("null")
                && crate::model::default_sql(c, false).is_none()
            {
                risks.push(Risk {
                    kind: "default-not-carried".into(),
                    table: t.name.clone(),
                    column: Some(c.name.clone()),
                    detail: format!(
                        "default `{d}` is not carried: only numbers, string literals, TRUE/FALSE and the current timestamp that fit the column's type are; the target column gets no default"
                    ),
                });
            }
        }
        if t.primary_key.is_empty() {
            risks.push(Risk {
                kind: "no-primary-key".into(),
                table: t.name.clone(),
                column: None,
                detail:
                    "no primary key: rows are read in rowid order and the target table gets no key"
                        .into(),
            });
        }
        let names = std::iter::once(&tp.target.def.name)
            .chain(tp.target.def.columns.iter().map(|c| &c.name));
        for n in names {
            let column = (n != &tp.target.def.name).then(|| n.clone());
            if pg && PG_RESERVED.contains(&n.to_ascii_lowercase().as_str()) {
                risks.push(Risk { kind: "reserved-word".into(), table: t.name.clone(), column, detail: format!("`{n}` is a reserved word in PostgreSQL; ferry quotes it everywhere, queries must too") });
            }
        }
        let columns = tp
            .target
            .def
            .columns
            .iter()
            .map(|c| PlannedColumn {
                name: c.name.clone(),
                source_type: (!c.declared_type.is_empty()).then(|| c.declared_type.clone()),
                logical_type: c.logical_type.name().into(),
                target_type: Sink::column_type(&opts.to, &tp.source, c),
                nullable: c.nullable,
                cast: casts
                    .iter()
                    .find(|k| k.column == c.name && k.to == c.logical_type)
                    .map(|k| format!("{} → {} ({})", k.from, k.to, k.origin)),
            })
            .collect();
        planned.push(PlannedTable {
            name: t.name.clone(),
            target_name: tp.target.def.name.clone(),
            estimated_rows: rows,
            columns,
            transforms: tp.transforms,
            validators: tp.validators,
            schemas: tp.schemas,
            source_def: t.clone(),
            casts,
            rekey,
            target_def: tp.target.def,
        });
    }
    // Names the target cannot hold as they are get a visible new name.
    if let Some((max, fold)) = Sink::identifier_rules(&opts.to) {
        let mut defs: Vec<TableDef> = planned.iter().map(|p| p.target_def.clone()).collect();
        for r in crate::plan::fit_identifiers(&mut defs, max, fold) {
            risks.push(Risk {
                kind: "identifier-renamed".into(),
                table: r.table,
                column: r.column,
                detail: format!("`{}` becomes `{}` in the target: {}", r.from, r.to, r.why),
            });
        }
        for (p, d) in planned.iter_mut().zip(defs) {
            p.target_name = d.name.clone();
            for (pc, c) in p.columns.iter_mut().zip(&d.columns) {
                pc.name = c.name.clone();
            }
            p.target_def = d;
        }
    }
    // Which target tables exist already, and what the policy does about it.
    // Planning touches nothing: a SQLite file or JSON directory that does
    // not exist yet has no tables, and connecting would create it.
    let names: Vec<String> = planned.iter().map(|t| t.target_name.clone()).collect();
    let existing = match &opts.to {
        EndpointUrl::Sqlite(p) | EndpointUrl::Json(p) if !p.exists() => Vec::new(),
        _ => {
            Sink::connect(&opts.to)
                .await?
                .existing_tables(&names)
                .await?
        }
    };
    for existing in existing {
        risks.push(Risk {
            kind: "target-exists".into(),
            table: existing.clone(),
            column: None,
            detail: match opts.if_exists {
                IfExists::Fail => "already exists in the target; with --if-exists fail (the default) the run will refuse".into(),
                IfExists::Drop => "already exists in the target; --if-exists drop will drop and recreate it".into(),
            },
        });
    }
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
        transformers: opts.transforms.iter().map(planned_plugin).collect(),
        validators: opts.validators.iter().map(planned_plugin).collect(),
        tables: planned,
        deferred,
        estimates,
        risks,
    };
    plan.fingerprint = plan.compute_fingerprint();
    Ok(plan)
}

/// The casts for one table: a config rule where one matches, else ferry's
/// promotion from sampled values (SQLite sources only: typed databases
/// already say what their columns hold).
async fn plan_casts(
    source: &Source,
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
            && let Some((to, reason)) = crate::cast::propose(&c.name, c.logical_type, sample)
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

/// Executes a plan: creates the target tables, loads them, then keys,
/// indexes and foreign keys.
async fn run(
    plan: &Plan,
    opts: &MigrateOptions,
    report: &mut Report,
    progress: Arc<dyn Progress>,
) -> Result<(), MigrateError> {
    let plans: Vec<Arc<TablePlan>> = plan
        .tables
        .iter()
        .map(|t| TablePlan {
            read_def: t.source_def.clone(),
            casts: t.casts.clone(),
            cast_def: t.cast_def(),
            rekey: t.rekey.clone(),
            source: t.loaded_def(),
            transforms: t.transforms.clone(),
            validators: t.validators.clone(),
            schemas: t.schemas.clone(),
            target: t.target(),
        })
        .map(Arc::new)
        .collect();
    for t in &plan.tables {
        for w in plan
            .risks
            .iter()
            .filter(|r| r.kind == "skipped-key" && r.table == t.name)
        {
            report.warnings.push(w.detail.clone());
        }
    }
    let mut sink = Sink::connect(&opts.to).await?;
    let mut state = open_state(opts.state.as_ref(), &opts.to).await?;
    // The ledger: `--state` when given, else the target.
    macro_rules! ledger_sink {
        () => {
            match state.as_mut() {
                Some(s) => s,
                None => &mut sink,
            }
        };
    }
    let ledger = state.is_some() || sink.has_ledger();
    if opts.incremental.is_some() && (!ledger || state.is_some()) {
        return Err(MigrateError::Unsupported(format!(
            "--incremental needs a SQLite, PostgreSQL or MySQL target: the high-water marks live in its ledger ({} keeps none)",
            sink.describe()
        )));
    }
    if ledger {
        // Recorded before anything is created, so a run killed at any later
        // instant can be resumed.
        ledger_sink!().ledger_init().await?;
        let mode = if opts.incremental.is_some() {
            "incremental"
        } else if opts.resume.is_some() {
            "resume"
        } else {
            "migrate"
        };
        let mut rec = run_record(report, Some(plan), "running", "load", mode);
        if let Some(old) = ledger_sink!().runs(Some(&report.run_id)).await?.pop() {
            rec.started_at = old.started_at;
        }
        ledger_sink!().save_run(&rec).await?;
        crate::ledger::failpoint("run-recorded");
    }
    let mut targets: Vec<TargetTable> = plans.iter().map(|p| p.target.clone()).collect();
    let id_map = plans.iter().any(|p| !p.rekey.is_empty()).then(|| {
        let d = crate::consolidate::id_map_def();
        TargetTable {
            source: d.clone(),
            def: d,
        }
    });
    targets.extend(id_map.clone());
    // Incremental runs replace rows by key in the tables that exist (their
    // keys are built); tables this run creates are empty, and keyed later.
    let mut upsert_into: Vec<String> = Vec::new();
    if opts.resume.is_some() || opts.incremental.is_some() {
        // A resumed run created its tables before it stopped (or stopped
        // before creating some of them); an incremental run writes into the
        // tables earlier runs made: create only what is missing.
        let names: Vec<String> = targets.iter().map(|t| t.def.name.clone()).collect();
        let existing = sink.existing_tables(&names).await?;
        if opts.incremental.is_some() {
            upsert_into = existing.clone();
        }
        if opts.incremental.is_some() && opts.resume.is_none() {
            record_backups(&mut sink, &report.run_id, &targets, IfExists::Drop, true).await?;
        }
        let missing: Vec<TargetTable> = targets
            .iter()
            .filter(|t| !existing.contains(&t.def.name))
            .cloned()
            .collect();
        if let (true, Some(r)) = (state.is_some(), opts.resume.as_ref()) {
            // json: cut every unfinished table's file back to its checkpoint.
            let cut = r.checkpoints.iter().filter_map(|c| offsets_of(c).1).max();
            for p in &plans {
                let cp = r.checkpoints.iter().find(|c| c.table == p.source.name);
                if cp.is_some_and(|c| c.done) {
                    continue;
                }
                sink.json_truncate_back(&p.target.def.name, cp.and_then(|c| offsets_of(c).0), cut)?;
            }
            if cut.is_none() {
                sink.delete_run_rejects(&report.run_id).await?;
            }
        }
        match opts.resume.as_ref() {
            Some(r) if state.is_none() && opts.incremental.is_none() => {
                let fresh = resume_tables(&mut sink, r, &plans, &targets, &existing, plan).await?;
                sink.prepare(&fresh, IfExists::Drop).await?;
            }
            _ => sink.prepare(&missing, IfExists::Fail).await?,
        }
        crate::ledger::failpoint("tables-created");
    } else {
        if let Some(st) = state.as_mut() {
            record_json_backups(&mut sink, st, &report.run_id, &targets, opts.if_exists).await?;
        } else if ledger {
            record_backups(&mut sink, &report.run_id, &targets, opts.if_exists, false).await?;
        }
        sink.prepare(&targets, opts.if_exists).await?;
        crate::ledger::failpoint("tables-created");
    }
    // Incremental: each table's high-water mark (the newest of runs not rolled back).
    let mut marks: HashMap<String, crate::ledger::Mark> = HashMap::new();
    if opts.incremental.is_some() {
        for m in ledger_sink!().marks().await? {
            marks.insert(m.table.clone(), m);
        }
    }
    targets.retain(|t| t.def.name != crate::consolidate::ID_MAP_TABLE);
    sink.set_conflict(
        &opts.consolidate.on_conflict,
        !opts.consolidate.more_sources.is_empty(),
    );

    let load_started = Instant::now();
    // Sources one after the other (so "first" means the first source), the
    // tables of each concurrently.
    let sources = std::iter::once(&opts.from).chain(&opts.consolidate.more_sources);
    for from in sources {
        let label: Arc<str> = Arc::from(from.to_string().as_str());
        let (tables, failed) = load_source(
            from,
            &plans,
            opts,
            &run_id_of(report),
            label,
            id_map.clone(),
            progress.clone(),
            ledger,
            &marks,
            &upsert_into,
        )
        .await?;
        for tr in tables {
            match report.tables.iter_mut().find(|t| t.name == tr.name) {
                Some(t) => {
                    t.rows_read += tr.rows_read;
                    t.rows_written += tr.rows_written;
                    t.rows_rejected += tr.rows_rejected;
                }
                None => report.tables.push(tr),
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
    }

    report.phases.load_ms = ms(load_started);
    crate::ledger::failpoint("load-done");
    record_phase(ledger_sink!(), report, "constraints").await?;
    progress.phase("creating keys, indexes and foreign keys");
    let constraints_started = Instant::now();
    let finished = sink.finish(&report.run_id, &targets).await?;
    report.phases.constraints_ms = ms(constraints_started);
    record_phase(ledger_sink!(), report, "verify").await?;
    crate::ledger::failpoint("constraints-done");
    report.constraints = finished.created;
    report.warnings.extend(finished.warnings);
    for (table, n) in finished.quarantined {
        if let Some(t) = report.tables.iter_mut().find(|t| t.name == table) {
            t.rows_written -= n.min(t.rows_written);
            t.rows_rejected += n;
        }
    }
    Ok(())
}

fn run_id_of(report: &Report) -> Arc<str> {
    Arc::from(report.run_id.as_str())
}

/// Loads every table of one source: the tables' reports, and the first
/// error if one failed (the reports still say what the others did).
#[allow(clippy::too_many_arguments)]
async fn load_source(
    from: &EndpointUrl,
    plans: &[Arc<TablePlan>],
    opts: &MigrateOptions,
    run_id: &Arc<str>,
    label: Arc<str>,
    id_map: Option<TargetTable>,
    progress: Arc<dyn Progress>,
    ledger: bool,
    marks: &HashMap<String, crate::ledger::Mark>,
    upsert_into: &[String],
) -> Result<(Vec<TableReport>, Option<MigrateError>), MigrateError> {
    let source = Source::open(from).await?;
    // Load tables concurrently, each with its own sink connection and plugin
    // instances (foreign keys come after the load, so order does not matter).
    // An incremental run writes into tables whose foreign keys exist
    // already: tables load one at a time, parents first (plan order).
    let ordered = opts.incremental.is_some();
    let parallel = if source.parallel_reads() && !ordered {
        Sink::parallel_writers(&opts.to)
    } else {
        1
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let cancel = Arc::new(AtomicBool::new(false));
    let mut jobs = tokio::task::JoinSet::new();
    for (i, plan) in plans.iter().enumerate() {
        let job = TableJob {
            plan: plan.clone(),
            label: label.clone(),
            abort: opts.on_reject_for(&plan.source.name) == OnReject::Abort,
            namespace: opts.consolidate.namespace,
            id_map: id_map.clone(),
            chain: Chain::new(opts)?,
            source: source.clone(),
            to: opts.to.clone(),
            run_id: run_id.clone(),
            batch_size: opts.batch_size,
            progress: progress.clone(),
            cancel: cancel.clone(),
            ledger,
            state: opts.state.clone(),
            upsert: upsert_into.contains(&plan.target.def.name),
            scan: opts
                .incremental
                .as_ref()
                .map(|inc| incremental_scan(inc, &plan.read_def, marks.get(&plan.source.name))),
            checkpoint: opts.resume.as_ref().and_then(|r| {
                r.checkpoints
                    .iter()
                    .find(|c| c.table == plan.source.name)
                    .cloned()
            }),
        };
        let permits = permits.clone();
        // Taken here, in plan order, when the order matters.
        let early = if ordered {
            Some(permits.clone().acquire_owned().await)
        } else {
            None
        };
        jobs.spawn(async move {
            // The semaphore is never closed, so acquire cannot fail.
            let _permit = match early {
                Some(p) => p,
                None => permits.acquire_owned().await,
            };
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
    let mut tables = Vec::new();
    for (_, tr, res) in results {
        tables.push(tr);
        if let Err(e) = res
            && first_error.is_none()
        {
            first_error = Some(e);
        }
    }
    Ok((tables, first_error))
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
        })
        .collect();
    let name = if last.table.is_empty() {
        t.name.clone()
    } else {
        last.table.clone()
    };
    Ok(TablePlan {
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
            },
        },
    })
}

/// Everything one table's load needs, owned, so tables can load concurrently.
struct TableJob {
    plan: Arc<TablePlan>,
    /// The source, as named in ids and the id map.
    label: Arc<str>,
    /// Stop at the first rejected row instead of quarantining it.
    abort: bool,
    namespace: uuid::Uuid,
    /// Where rewritten keys are recorded, when keys are rewritten.
    id_map: Option<TargetTable>,
    chain: Chain,
    source: Source,
    to: EndpointUrl,
    run_id: Arc<str>,
    batch_size: usize,
    progress: Arc<dyn Progress>,
    /// Set when another table failed: stop after the batch in flight.
    cancel: Arc<AtomicBool>,
    /// The target keeps a ledger: every batch commits with its checkpoint.
    ledger: bool,
    /// The ledger is elsewhere (a json target's `--state`): each batch is
    /// written and flushed, then its checkpoint records the file lengths.
    state: Option<EndpointUrl>,
    /// Resuming: how far this table got.
    checkpoint: Option<crate::ledger::Checkpoint>,
    /// Incremental: which rows to read.
    scan: Option<Scan>,
    /// Rows replace the target's rows with the same primary key.
    upsert: bool,
}

/// The rows an incremental run reads of `table`: after its mark in cursor
/// order when it has the cursor column, else after its last rowid.
fn incremental_scan(
    inc: &Incremental,
    table: &TableDef,
    mark: Option<&crate::ledger::Mark>,
) -> Scan {
    let value = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .filter(|v| v.is_number())
            .unwrap_or_else(|| serde_json::Value::String(s.to_string()))
    };
    match &inc.cursor {
        Some(col) if table.columns.iter().any(|c| &c.name == col) => Scan::Cursor {
            column: col.clone(),
            after: mark.filter(|m| &m.cursor_column == col).and_then(|m| {
                serde_json::from_str(&m.cursor_value)
                    .ok()
                    .map(|v| (v, m.position.unwrap_or(i64::MIN)))
            }),
            since: inc.since.as_deref().map(value),
        },
        _ => match mark
            .filter(|m| m.cursor_column == "rowid")
            .and_then(|m| m.position)
        {
            Some(p) => Scan::AfterRowid(p),
            None => Scan::All,
        },
    }
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
            label,
            abort,
            namespace,
            id_map,
            mut chain,
            source,
            to,
            run_id,
            batch_size,
            progress,
            cancel,
            ledger,
            state,
            checkpoint,
            scan,
            upsert,
        } = self;
        let mut state_sink = match &state {
            Some(u) => Some(Sink::connect(u).await?),
            None => None,
        };
        let name = plan.source.name.clone();
        let rows = source.count(&name).await?;
        progress.table_started(&name, rows);
        let mut sink = Sink::connect(&to).await?;

        // Where this table starts: from scratch, or after its checkpoint.
        let mut start = crate::ledger::Checkpoint {
            run_id: run_id.to_string(),
            table: name.clone(),
            position: None,
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            done: false,
            updated_at: None,
            cursor_column: None,
            cursor_value: None,
            offsets: None,
        };
        if let Some(cp) = checkpoint {
            if cp.done {
                tr.rows_read = cp.rows_read;
                tr.rows_written = cp.rows_written;
                tr.rows_rejected = cp.rows_rejected;
                progress.rows_written(&name, cp.rows_read);
                progress.table_finished(&name);
                return Ok(());
            }
            if cp.position.is_some() && source.resumable(&plan.read_def).await? {
                start = cp;
            } else {
                // No stable key to continue from: reload the table.
                match state_sink.as_mut() {
                    Some(st) => {
                        sink.json_truncate_back(&plan.target.def.name, None, None)?;
                        // The table starts over: its checkpoint back to nothing.
                        st.save_checkpoint(&start).await?;
                    }
                    None => {
                        sink.restart_table(&run_id, &plan.target.def.name, &name)
                            .await?
                    }
                }
            }
        }
        progress.rows_written(&name, start.rows_read);

        let (rtx, mut rrx) = mpsc::channel::<ReadBatch>(CHANNEL_DEPTH);
        let scan = match scan {
            Some(s) => s,
            None => match start.position {
                Some(p) => Scan::AfterRowid(p),
                None => Scan::All,
            },
        };
        // The checkpoint records the mark in the order the table is read.
        let cursor_column = match &scan {
            Scan::Cursor { column, .. } => column.clone(),
            _ => "rowid".to_string(),
        };
        let reader = source.spawn_reader_scan(plan.read_def.clone(), batch_size, scan, rtx);
        type Staged = (
            Batch,
            Vec<Reject>,
            Option<Batch>,
            Option<i64>,
            u64,
            Option<serde_json::Value>,
        );
        let (wtx, mut wrx) = mpsc::channel::<Staged>(CHANNEL_DEPTH);

        // The plugin stage runs on its own task, so plugin work, encoding
        // and database I/O overlap on different cores.
        let stage_plan = plan.clone();
        let stage_cancel = cancel.clone();
        let stage = tokio::spawn(async move {
            let mut rows_read = 0u64;
            let mut batch_no = 0u64;
            // Schemas of the cast and rekey steps, made once per table, not per batch.
            let read_schema = stage_plan.read_def.schema();
            let cast_schema = stage_plan.cast_def.schema();
            let loaded_schema = stage_plan.source.schema();
            while let Some(rb) = rrx.recv().await {
                if stage_cancel.load(Ordering::SeqCst) {
                    break;
                }
                rows_read += rb.rows_read;
                let position = rb.position;
                let cursor = rb.cursor;
                let mut rejects = rb.rejects;
                let batch = if stage_plan.casts.is_empty() {
                    rb.batch
                } else {
                    crate::cast::cast_batch(
                        &stage_plan.read_def,
                        &read_schema,
                        &cast_schema,
                        rb.batch,
                        &mut rejects,
                    )
                };
                let (batch, ids) = if stage_plan.rekey.is_empty() {
                    (batch, None)
                } else {
                    let (b, ids) = crate::consolidate::rekey_batch(
                        &namespace,
                        &label,
                        &stage_plan.cast_def.name,
                        &stage_plan.rekey,
                        &cast_schema,
                        &loaded_schema,
                        &batch,
                    );
                    (b, Some(ids))
                };
                let out = apply_chain(&stage_plan, &mut chain, batch, batch_no, &mut rejects).await;
                batch_no += 1;
                match out {
                    Ok(out) => {
                        if wtx
                            .send((out, rejects, ids, position, rows_read, cursor))
                            .await
                            .is_err()
                        {
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
        let mut batch_no = 0u64;
        // The high-water mark so far: the table's checkpoint keeps it.
        let mut mark: (Option<i64>, Option<String>) = (start.position, start.cursor_value.clone());
        while let Some((batch, rejects, ids, position, read_so_far, cursor)) = wrx.recv().await {
            if position.is_some() {
                mark.0 = position;
            }
            if let Some(c) = cursor {
                mark.1 = Some(c.to_string());
            } else if cursor_column == "rowid" {
                mark.1 = mark.0.map(|p| p.to_string());
            }
            batch_no += 1;
            if abort && let Some(first) = rejects.first() {
                cancel.store(true, Ordering::SeqCst);
                wrote = Err(MigrateError::Aborted {
                    table: name.clone(),
                    batch: batch_no - 1,
                    rows: rejects.len(),
                    reason: format!(
                        "first: {} {}: {}",
                        first.source_key.as_deref().unwrap_or("?"),
                        first.code,
                        first.reason
                    ),
                });
                break;
            }
            // The checkpoint commits with the batch: after a crash it says
            // exactly which source rows are in the target or in quarantine.
            let cp = ledger.then(|| crate::ledger::Checkpoint {
                position: mark.0,
                rows_read: start.rows_read + read_so_far,
                rows_written: start.rows_written + written,
                rows_rejected: start.rows_rejected + rejected,
                cursor_column: Some(cursor_column.clone()),
                cursor_value: mark.1.clone(),
                ..start.clone()
            });
            let mut res = match state_sink.as_mut() {
                // No transaction spans the target and the ledger: the batch
                // is written and flushed first, then the checkpoint records
                // the file lengths; a crash between the two leaves lines a
                // resume cuts off.
                Some(st) => {
                    let res = sink
                        .write_with(&run_id, &plan.target, &batch, &rejects, None, upsert)
                        .await;
                    if let (Ok(out), Some(mut cp)) = (&res, cp.clone()) {
                        crate::ledger::failpoint_at("json-batch", Some(&name));
                        cp.rows_written += out.written;
                        cp.rows_rejected += (rejects.len() + out.rejected.len()) as u64;
                        cp.offsets = sink.json_offsets(&plan.target.def.name)?;
                        st.save_checkpoint(&cp).await?;
                    }
                    res
                }
                None => {
                    sink.write_with(&run_id, &plan.target, &batch, &rejects, cp.as_ref(), upsert)
                        .await
                }
            };
            // The id map of the batch's keys: written right after the batch
            // (a map row for a row that was quarantined later is harmless:
            // it says where that legacy key would have gone).
            if let (Ok(_), Some(ids), Some(map)) = (&res, ids, &id_map)
                && let Err(e) = sink.write(&run_id, map, &ids, &[]).await
            {
                res = Err(e);
            }
            match res {
                Ok(outcome) => {
                    let r = rejects.len() as u64 + outcome.rejected.len() as u64;
                    written += outcome.written;
                    rejected += r;
                    progress.rows_written(&name, outcome.written + r);
                    crate::ledger::failpoint_at("batch", Some(&name));
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
        tr.rows_read = start.rows_read + rows_read;
        tr.rows_written = start.rows_written + written;
        tr.rows_rejected = start.rows_rejected + rejected;
        wrote?;
        staged?;
        read_res?;
        if ledger {
            let done = crate::ledger::Checkpoint {
                position: mark.0,
                rows_read: tr.rows_read,
                rows_written: tr.rows_written,
                rows_rejected: tr.rows_rejected,
                done: true,
                cursor_column: Some(cursor_column.clone()),
                cursor_value: mark.1.clone(),
                offsets: sink.json_offsets(&plan.target.def.name)?,
                ..start
            };
            match state_sink.as_mut() {
                Some(st) => st.save_checkpoint(&done).await?,
                None => sink.save_checkpoint(&done).await?,
            }
            crate::ledger::failpoint_at("table-done", Some(&name));
        }
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
    let failed = |e| MigrateError::Plugin {
        table: table.clone(),
        batch: batch_no,
        source: e,
    };
    for (k, &i) in plan.transforms.iter().enumerate() {
        let (inst, u) = &mut chain.transforms[i];
        let input = &plan.schemas[k];
        let output = &plan.schemas[k + 1];
        let out = inst
            .transform(input, output, &u.config, batch)
            .await
            .map_err(failed)?;
        for (row, diags) in rejected_rows(&out.diagnostics) {
            let at = RowAt {
                plan,
                schema: input,
                batch: &out.input,
                row,
            };
            rejects.push(at.reject(Stage::Transform, inst.plugin().name(), &diags));
        }
        log_diagnostics(table, inst.plugin().name(), &out.diagnostics);
        batch = out.batch;
    }
    let last = plan.schemas.last().unwrap_or(&plan.schemas[0]);
    let mut keep = vec![true; batch.num_rows];
    let mut any = false;
    for &i in &plan.validators {
        let (inst, u) = &mut chain.validators[i];
        let (b, diags) = inst
            .validate(last, &u.config, batch)
            .await
            .map_err(failed)?;
        batch = b;
        for (row, ds) in rejected_rows(&diags) {
            if keep[row] {
                keep[row] = false;
                any = true;
                let at = RowAt {
                    plan,
                    schema: last,
                    batch: &batch,
                    row,
                };
                rejects.push(at.reject(Stage::Validate, inst.plugin().name(), &ds));
            }
        }
        log_diagnostics(table, inst.plugin().name(), &diags);
    }
    if any {
        batch = batch.retain(last, &keep);
    }
    Ok(batch)
}

/// A row of a batch at some stage of a table's chain.
struct RowAt<'a> {
    plan: &'a TablePlan,
    schema: &'a Schema,
    batch: &'a Batch,
    row: usize,
}

impl RowAt<'_> {
    /// The quarantine record for this row, from a plugin's `error` diagnostics.
    fn reject(&self, stage: Stage, plugin: &str, diags: &[&Diagnostic]) -> Reject {
        Reject {
            table: self.plan.source.name.clone(),
            source_key: self
                .batch
                .source_key(self.schema, &self.plan.source.primary_key, self.row),
            stage,
            plugin: Some(plugin.to_string()),
            column: diags.first().and_then(|d| d.column.clone()),
            code: diags.first().map(|d| d.code.clone()).unwrap_or_default(),
            reason: diags
                .iter()
                .map(|d| d.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            row: self.batch.row_json(self.schema, self.row),
        }
    }
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
