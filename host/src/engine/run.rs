//! Executing a plan: the ledger's record of the run, the backups, the target
//! tables, every source's tables loaded (several at once), keys and foreign
//! keys after the load, then the verification — and the report, whatever
//! happened.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::options::OnReject;
use crate::endpoint::{self, EndpointUrl, IfExists, Rewind, Sink, Source, TargetTable};
use crate::ledger::Mark;
use crate::plan::Plan;

use super::chain::Chain;
use super::early_keys::{EarlyDone, EarlyKeys};
use super::events::{Events, Phase, Progress, RunEvent};
use super::options::MigrateOptions;
use super::pipeline::{TableJob, incremental_scan};
use super::readback::ReadBack;
use super::record::{open_state, record_backups, record_end, record_phase, run_record, store};
use super::report::{
    MigrateError, Phases, PluginRef, Report, RunStatus, TableReport, error_chain, ms,
};
use super::resume::resume_tables;
use super::table::TablePlan;

pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Runs a migration: plans, then executes the plan. Always returns a
/// report; a failed run's report says why.
pub async fn migrate(opts: MigrateOptions, events: Arc<dyn Events>) -> Report {
    execute(None, opts, events).await
}

/// Runs `plan` (made earlier by [`super::make_plan`] with the same
/// options), or plans first when `plan` is `None`. Always returns a report;
/// a failed run's report says why.
pub async fn execute(
    plan: Option<&Plan>,
    mut opts: MigrateOptions,
    events: Arc<dyn Events>,
) -> Report {
    let started = Instant::now();
    let progress = Progress::new(events);
    let mut report = Report {
        run_id: opts
            .resume
            .as_ref()
            .map(|r| r.run_id.clone())
            .or_else(|| opts.run_id.clone())
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
        views: Vec::new(),
        not_carried: Vec::new(),
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
        details: Default::default(),
    };
    progress.emit(RunEvent::Started {
        run_id: report.run_id.clone(),
        source: report.source.clone(),
        target: report.target.clone(),
    });
    // The first source, opened for the load: what it reports of its own
    // goes in the report whatever happened.
    let mut source = None;
    let planned;
    let plan = match plan {
        Some(p) => Ok(p),
        None => match super::planner::plan_with(&opts, &progress).await {
            Ok(p) => {
                report.phases.plan_ms = ms(started);
                planned = p;
                Ok(&planned)
            }
            Err(e) => Err(e),
        },
    };
    let result = match plan {
        Ok(plan) => run_with_retries(plan, &mut opts, &mut report, &progress, &mut source).await,
        Err(e) => Err(e),
    };
    if let Some(s) = &source {
        report.details.extend(s.summary());
    }
    report.duration_ms = ms(started);
    let rejected = report.rows_rejected();
    if rejected > 0 {
        report.rejects_table = Some(format!("{} in {}", endpoint::REJECTS_TABLE, report.target));
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
    crate::failpoint::hit("run-end");
    record_end(&opts, &report).await;
    progress.emit(RunEvent::Finished {
        run_id: report.run_id.clone(),
        status: report.status,
        error: report.error.clone(),
    });
    report
}

/// Runs the plan and, when a transient failure stops it, waits and
/// continues from the run's checkpoints (see [`super::retry`]).
async fn run_with_retries(
    plan: &Plan,
    opts: &mut MigrateOptions,
    report: &mut Report,
    progress: &Progress,
    source: &mut Option<Arc<dyn Source>>,
) -> Result<(), MigrateError> {
    let mut attempt = 0;
    let mut result = run_and_verify(plan, opts, report, progress, source).await;
    loop {
        let e = match result {
            Err(e) if e.is_transient() => e,
            other => return other,
        };
        // Retried from the checkpoints: only with a ledger, and not a
        // consolidation (not resumable yet).
        let resumable = endpoint::capabilities(&opts.to).ledger || opts.state.is_some();
        if attempt >= opts.retry.attempts || !resumable || !opts.consolidate.more_sources.is_empty()
        {
            return Err(e);
        }
        attempt += 1;
        let delay = opts.retry.delay(attempt);
        let reason = error_chain(&e);
        tracing::warn!("transient failure, retrying in {delay:?} (attempt {attempt}): {reason}");
        progress.emit(RunEvent::Retrying {
            attempt,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason: reason.clone(),
        });
        report.warnings.push(format!(
            "attempt {attempt}: {reason}; continued from the checkpoints after {delay:?}"
        ));
        tokio::time::sleep(delay).await;
        // What the run committed is in its ledger. A ledger still out of
        // reach (the server not back yet) fails this attempt: the run never
        // continues without knowing its checkpoints.
        let checkpoints = match read_checkpoints(opts, &report.run_id).await {
            Ok(c) => c,
            Err(e) => {
                result = Err(e);
                continue;
            }
        };
        opts.resume = Some(super::Resume {
            run_id: report.run_id.clone(),
            checkpoints,
        });
        // The attempt's counts restart from the checkpoints.
        report.tables.clear();
        report.constraints.clear();
        report.verify = None;
        result = run_and_verify(plan, opts, report, progress, source).await;
    }
}

/// A run's checkpoints, as its ledger has them now.
async fn read_checkpoints(
    opts: &MigrateOptions,
    run_id: &str,
) -> Result<Vec<crate::ledger::Checkpoint>, MigrateError> {
    let mut sink = super::status::open_ledger(&opts.to, opts.state.as_ref()).await?;
    Ok(match sink.ledger() {
        Some(l) => l.checkpoints(run_id).await?,
        None => Vec::new(),
    })
}

/// Runs the plan, then verifies the target when the options ask for it.
async fn run_and_verify(
    plan: &Plan,
    opts: &MigrateOptions,
    report: &mut Report,
    progress: &Progress,
    source: &mut Option<Arc<dyn Source>>,
) -> Result<(), MigrateError> {
    let opened = super::open_source(opts, &opts.from, &report.run_id, false).await?;
    *source = Some(opened.clone());
    for p in opened.plugins() {
        let m = p.manifest();
        if !report.plugins.iter().any(|r| r.sha256 == m.sha256) {
            report.plugins.push(PluginRef {
                name: m.name.clone(),
                kind: m.kind.to_string(),
                version: m.version.clone(),
                sha256: m.sha256.clone(),
            });
        }
    }
    // Rewritten keys differ from the source by design: such runs are
    // verified by counts and accounting, like a consolidation.
    let rekeyed = plan.tables.iter().any(|t| !t.rekey.is_empty());
    // A fresh single-source run verifies as it goes (see `readback.rs`);
    // a resumed or incremental run's target holds rows this process did
    // not send, so both sides are read after the load.
    let mut readback = (opts.verify == Some(super::verify::Level::Full)
        && opened.capabilities().reread_to_verify
        && opts.consolidate.more_sources.is_empty()
        && !rekeyed
        && opts.resume.is_none()
        && opts.incremental.is_none())
    .then(|| ReadBack::new(plan, &opts.to, opened.clone()));
    run(
        plan,
        opts,
        report,
        progress,
        opened.clone(),
        readback.as_mut(),
    )
    .await?;
    let Some(level) = opts.verify else {
        return Ok(());
    };
    progress.phase(Phase::Verifying);
    let verify_started = Instant::now();
    if !opened.capabilities().reread_to_verify {
        // A source that is not read twice checks the target against what
        // this run read of it.
        let target = endpoint::open_source(&opts.to).await?;
        let mut failures = Vec::new();
        for t in &plan.tables {
            let rejected = report
                .tables
                .iter()
                .find(|r| r.name == t.name)
                .map(|r| r.rows_rejected)
                .unwrap_or(0);
            if let Err(f) = opened
                .verify_target(target.clone(), &t.name, &t.target_name, rejected)
                .await?
            {
                failures.extend(f);
            }
        }
        crate::failpoint::hit("verified");
        report.phases.verify_ms = ms(verify_started);
        return if failures.is_empty() {
            Ok(())
        } else {
            Err(MigrateError::Verify(failures))
        };
    }
    let v = if opts.consolidate.more_sources.is_empty() && !rekeyed {
        // Every view the run created must exist and answer a query; those
        // the target refused are already listed as not carried.
        let refused: Vec<&str> = report
            .not_carried
            .iter()
            .filter(|n| n.kind == "view")
            .map(|n| n.name.as_str())
            .collect();
        let checked;
        let plan = if plan
            .views
            .iter()
            .any(|v| refused.contains(&v.name.as_str()))
        {
            let mut p = plan.clone();
            p.views.retain(|v| !refused.contains(&v.name.as_str()));
            checked = p;
            &checked
        } else {
            plan
        };
        let in_run = match readback {
            Some(rb) => rb.finish(&opts.from, &report.run_id, plan).await?,
            None => None,
        };
        match in_run {
            Some(v) => v,
            None => {
                crate::engine::verify::verify(
                    plan,
                    &opts.from,
                    &opts.to,
                    Some(&report.run_id),
                    level,
                )
                .await?
            }
        }
    } else {
        let sources: Vec<EndpointUrl> = std::iter::once(opts.from.clone())
            .chain(opts.consolidate.more_sources.iter().cloned())
            .collect();
        crate::engine::verify::verify_consolidated(plan, &sources, &opts.to, Some(&report.run_id))
            .await?
    };
    let failures = v.failures();
    crate::failpoint::hit("verified");
    report.verify = Some(v);
    report.phases.verify_ms = ms(verify_started);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Verify(failures))
    }
}

/// Executes a plan: creates the target tables, loads them, then keys,
/// indexes and foreign keys.
async fn run(
    plan: &Plan,
    opts: &MigrateOptions,
    report: &mut Report,
    progress: &Progress,
    first: Arc<dyn Source>,
    mut readback: Option<&mut ReadBack>,
) -> Result<(), MigrateError> {
    let plans: Vec<Arc<TablePlan>> = plan
        .tables
        .iter()
        .map(|t| Arc::new(TablePlan::from_planned(t, plan.counted_now)))
        .collect();
    for t in &plan.tables {
        for w in plan
            .risks
            .iter()
            .filter(|r| r.kind == "skipped-key" && r.table == t.name)
        {
            report.warnings.push(w.detail.clone());
            progress.warning(w.detail.clone());
        }
    }
    let mut sink = endpoint::open_sink(&opts.to).await?;
    let mut state = open_state(opts.state.as_ref(), &opts.to).await?;
    let ledger = store(&mut sink, &mut state).is_some();
    if opts.incremental.is_some() && !(sink.capabilities().ledger && sink.capabilities().upsert) {
        return Err(MigrateError::Unsupported(format!(
            "--incremental needs a target that keeps the high-water marks in its ledger and replaces rows by key: {}",
            sink.capabilities()
                .cannot(&sink.describe(), endpoint::Feature::Upsert)
        )));
    }
    if let Some(l) = store(&mut sink, &mut state) {
        // Recorded before anything is created, so a run killed at any later
        // instant can be resumed.
        l.init().await?;
        let mode = if opts.incremental.is_some() {
            "incremental"
        } else if opts.resume.is_some() {
            "resume"
        } else {
            "migrate"
        };
        let mut rec = run_record(report, Some(plan), "running", "load", mode);
        if let Some(old) = l.runs(Some(&report.run_id)).await?.pop() {
            rec.started_at = old.started_at;
        }
        l.save_run(&rec).await?;
        crate::failpoint::hit("run-recorded");
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
    let upsert_into = prepare_target(
        plan, opts, report, &plans, &targets, &mut sink, &mut state, ledger,
    )
    .await?;
    let state_table = prepare_state_table(
        opts, report, &first, &targets, &mut sink, &mut state, ledger,
    )
    .await?;
    crate::failpoint::hit("tables-created");
    // Incremental: each table's high-water mark (the newest of runs not rolled back).
    let mut marks: HashMap<String, Mark> = HashMap::new();
    if opts.incremental.is_some()
        && let Some(l) = store(&mut sink, &mut state)
    {
        for m in l.marks().await? {
            marks.insert(m.table.clone(), m);
        }
    }
    targets.retain(|t| t.def.name != crate::consolidate::ID_MAP_TABLE);
    sink.set_conflict(
        (!opts.consolidate.more_sources.is_empty()).then(|| opts.consolidate.on_conflict.clone()),
    );

    progress.phase(Phase::Loading);
    let load_started = Instant::now();
    // Each table's own keys as soon as it has loaded (see `early_keys`);
    // not when several sources fill the same tables (a table is whole only
    // after the last) nor on an incremental run (its tables have their keys).
    let early = (sink.capabilities().keys_while_loading
        && opts.consolidate.more_sources.is_empty()
        && opts.incremental.is_none())
    .then(|| EarlyKeys::start(opts.to.clone(), report.run_id.clone()));
    // Sources one after the other (so "first" means the first source), the
    // tables of each concurrently.
    let sources = std::iter::once(&opts.from).chain(&opts.consolidate.more_sources);
    for (k, from) in sources.enumerate() {
        let label: Arc<str> = Arc::from(from.to_string().as_str());
        let source = match k {
            0 => first.clone(),
            _ => super::open_source(opts, from, &report.run_id, false).await?,
        };
        let (tables, failed) = load_source(
            source,
            &plans,
            opts,
            &Arc::from(report.run_id.as_str()),
            label,
            id_map.clone(),
            state_table.clone(),
            progress,
            ledger,
            &marks,
            &upsert_into,
            readback.as_deref_mut(),
            early.as_ref(),
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
            // The key builds under way end first: nothing is left running
            // behind the report.
            if let Some(k) = early {
                let _ = k.finish().await;
            }
            return Err(e);
        }
    }
    report.phases.load_ms = ms(load_started);
    // The constraints phase starts with the last key builds of the worker.
    let constraints_started = Instant::now();
    let early = match early {
        Some(k) => k.finish().await?,
        None => EarlyDone::default(),
    };
    crate::failpoint::hit("load-done");
    record_phase(store(&mut sink, &mut state), report, "constraints").await?;
    progress.phase(Phase::Constraints);
    let mut finish = targets.clone();
    if let Some(s) = state_table.as_ref().filter(|s| s.created) {
        finish.push(s.target.clone());
    }
    let mut finished = sink.finish(&report.run_id, &finish).await?;
    // Tables whose rows this `finish` moved get their statistics again.
    let moved_now: Vec<String> = finished
        .quarantined
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| t.clone())
        .collect();
    // The worker's first; a check the target refused there is refused
    // again by this `finish`, and said once.
    let mut warnings = early.finished.warnings;
    warnings.retain(|w| !finished.warnings.contains(w));
    warnings.append(&mut finished.warnings);
    finished.warnings = warnings;
    finished.quarantined.extend(early.finished.quarantined);
    if let Some(rb) = readback
        && finished.quarantined.iter().any(|(_, n)| *n > 0)
    {
        rb.invalidate();
    }
    // The application's next INSERT without an id gets max + 1: after a
    // fresh load, a resume, an incremental run alike.
    let restarted = sink.sync_identity(&targets).await?;
    // Views after every table and key; a run that writes into tables that
    // exist (resume, incremental) replaces the views it made before.
    let views_exist = if opts.resume.is_some() || opts.incremental.is_some() {
        IfExists::Drop
    } else {
        opts.if_exists
    };
    report.views.clear();
    report.not_carried = plan.not_carried.clone();
    for v in sink.create_views(&plan.views, views_exist).await? {
        match v.error {
            None => report.views.push(v.name),
            Some(e) => {
                let w = format!("view `{}` was not created: {e}", v.name);
                progress.warning(w);
                report.not_carried.push(crate::model::NotCarried {
                    kind: "view".into(),
                    name: v.name,
                    reason: format!("the target refused it: {e}"),
                });
            }
        }
    }
    report.phases.constraints_ms = ms(constraints_started);
    let analyze_started = Instant::now();
    let analyze: Vec<TargetTable> = targets
        .iter()
        .filter(|t| !early.analyzed.contains(&t.def.name) || moved_now.contains(&t.source.name))
        .cloned()
        .collect();
    sink.analyze(&analyze).await?;
    report.phases.analyze_ms = ms(analyze_started);
    record_phase(store(&mut sink, &mut state), report, "verify").await?;
    crate::failpoint::hit("constraints-done");
    report.constraints = finished.created;
    report.constraints.extend(restarted);
    for w in &finished.warnings {
        progress.warning(w.clone());
    }
    report.warnings.extend(finished.warnings);
    for (table, n) in finished.quarantined {
        if let Some(t) = report.tables.iter_mut().find(|t| t.name == table) {
            t.rows_written -= n.min(t.rows_written);
            t.rows_rejected += n;
        }
    }
    Ok(())
}

/// Records the backups and creates the tables the run writes into; returns
/// the tables whose rows are replaced by key (an incremental run's tables
/// that exist already).
#[allow(clippy::too_many_arguments)]
async fn prepare_target(
    plan: &Plan,
    opts: &MigrateOptions,
    report: &Report,
    plans: &[Arc<TablePlan>],
    targets: &[TargetTable],
    sink: &mut Box<dyn Sink>,
    state: &mut Option<Box<dyn Sink>>,
    ledger: bool,
) -> Result<Vec<String>, MigrateError> {
    let run_id = &report.run_id;
    if opts.resume.is_none() && opts.incremental.is_none() {
        if ledger {
            record_backups(sink, state, run_id, targets, opts.if_exists, false).await?;
        }
        sink.prepare(targets, opts.if_exists).await?;
        return Ok(Vec::new());
    }
    // A resumed run created its tables before it stopped (or stopped before
    // creating some of them); an incremental run writes into the tables
    // earlier runs made.
    let names: Vec<String> = targets.iter().map(|t| t.def.name.clone()).collect();
    let existing = sink.existing_tables(&names).await?;
    if opts.incremental.is_some() {
        if opts.resume.is_none() {
            record_backups(sink, state, run_id, targets, IfExists::Drop, true).await?;
        }
        let missing: Vec<TargetTable> = targets
            .iter()
            .filter(|t| !existing.contains(&t.def.name))
            .cloned()
            .collect();
        sink.prepare(&missing, IfExists::Fail).await?;
        return Ok(existing);
    }
    let Some(r) = opts.resume.as_ref() else {
        return Ok(Vec::new());
    };
    if !sink.capabilities().transactions {
        // Without transactions a killed run may have written past its last
        // checkpoints: cut every unfinished table back to them.
        let rewinds: Vec<Rewind<'_>> = plans
            .iter()
            .map(|p| Rewind {
                table: &p.target.def.name,
                checkpoint: r.checkpoints.iter().find(|c| c.table == p.source.name),
            })
            .collect();
        sink.rewind(run_id, &rewinds).await?;
        let missing: Vec<TargetTable> = targets
            .iter()
            .filter(|t| !existing.contains(&t.def.name))
            .cloned()
            .collect();
        sink.prepare(&missing, IfExists::Fail).await?;
        return Ok(Vec::new());
    }
    let fresh = resume_tables(sink, state, r, plans, targets, &existing, plan).await?;
    sink.prepare(&fresh, IfExists::Drop).await?;
    Ok(Vec::new())
}

/// Creates the source's own state table when missing (it is never
/// replaced) and backs it up; a table created afresh forgets its state rows.
#[allow(clippy::too_many_arguments)]
async fn prepare_state_table(
    opts: &MigrateOptions,
    report: &Report,
    source: &Arc<dyn Source>,
    targets: &[TargetTable],
    sink: &mut Box<dyn Sink>,
    state: &mut Option<Box<dyn Sink>>,
    ledger: bool,
) -> Result<Option<StateTarget>, MigrateError> {
    let Some(st) = source.state_table() else {
        return Ok(None);
    };
    let target = TargetTable {
        source: st.def.clone(),
        def: st.def.clone(),
    };
    let existed = !sink
        .existing_tables(std::slice::from_ref(&st.def.name))
        .await?
        .is_empty();
    let fresh_run = opts.resume.is_none() && opts.incremental.is_none();
    if ledger && (fresh_run || opts.incremental.is_some()) {
        // Changed in place, never replaced: a copy undoes the run.
        record_backups(
            sink,
            state,
            &report.run_id,
            std::slice::from_ref(&target),
            IfExists::Drop,
            true,
        )
        .await?;
    }
    if !existed {
        sink.prepare(std::slice::from_ref(&target), IfExists::Fail)
            .await?;
    } else if fresh_run {
        // The tables were created afresh: the recorded state of their rows
        // no longer describes them.
        let names: Vec<String> = targets.iter().map(|t| t.def.name.clone()).collect();
        sink.delete_rows(&st.def.name, None, &st.scope_column, &names)
            .await?;
    }
    Ok(Some(StateTarget {
        target,
        table: st,
        created: !existed,
    }))
}

/// A source's state table in the target, as a run writes it.
#[derive(Clone)]
pub(crate) struct StateTarget {
    pub(crate) target: TargetTable,
    pub(crate) table: crate::endpoint::StateTable,
    /// Created by this run (its keys are built at the end).
    pub(crate) created: bool,
}

/// Loads every table of one source: the tables' reports, and the first
/// error if one failed (the reports still say what the others did).
#[allow(clippy::too_many_arguments)]
async fn load_source(
    source: Arc<dyn Source>,
    plans: &[Arc<TablePlan>],
    opts: &MigrateOptions,
    run_id: &Arc<str>,
    label: Arc<str>,
    id_map: Option<TargetTable>,
    state_table: Option<StateTarget>,
    progress: &Progress,
    ledger: bool,
    marks: &HashMap<String, Mark>,
    upsert_into: &[String],
    mut readback: Option<&mut ReadBack>,
    early: Option<&EarlyKeys>,
) -> Result<(Vec<TableReport>, Option<MigrateError>), MigrateError> {
    // Load tables concurrently, each with its own sink connection and plugin
    // instances (foreign keys come after the load, so order does not matter).
    // An incremental run writes into tables whose foreign keys exist
    // already: tables load one at a time, parents first (plan order).
    let ordered = opts.incremental.is_some();
    let parallel = if source.capabilities().parallel_reads && !ordered {
        endpoint::capabilities(&opts.to).parallel_writers
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
            state_table: state_table.clone(),
            chain: Chain::new(opts)?,
            source: source.clone(),
            to: opts.to.clone(),
            run_id: run_id.clone(),
            batch_size: opts.batch_size,
            progress: progress.clone(),
            cancel: cancel.clone(),
            stop: opts.stop.clone(),
            ledger,
            state: opts.state.clone(),
            upsert: upsert_into.contains(&plan.target.def.name),
            digest: readback.as_ref().map(|rb| rb.spec(i)),
            // A source that finds its own changes (a directory's files by
            // content) is read whole; others after each table's mark.
            scan: opts
                .incremental
                .as_ref()
                .filter(|_| source.capabilities().incremental_by_marks)
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
        if res.is_ok()
            && let Some(k) = early
        {
            k.loaded(&plans[i].target);
        }
        let res = match res {
            Ok(sent) => match readback.as_deref_mut() {
                // Its read-back starts now, while the others load.
                Some(rb) => rb.loaded(i, sent).await,
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
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
        // The error that stopped the run, not the tables it stopped.
        if let Err(e) = res {
            let replaces = match &first_error {
                None => true,
                Some(MigrateError::Cancelled(_)) => !matches!(e, MigrateError::Cancelled(_)),
                Some(_) => false,
            };
            if replaces {
                first_error = Some(e);
            }
        }
    }
    Ok((tables, first_error))
}
