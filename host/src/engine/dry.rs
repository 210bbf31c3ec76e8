//! A read that writes nothing: every table of the source through its casts
//! and plugin chain, counted — what a dry run of a source that reads to
//! plan (a directory of files: [`Capabilities::dry_run_reads`]) and
//! `ferry validate` do. The report says what a run would write and reject.
//!
//! [`Capabilities::dry_run_reads`]: crate::endpoint::Capabilities::dry_run_reads

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::endpoint::{ReadBatch, Scan};

use super::chain::Chain;
use super::events::{Events, Phase, Progress, RunEvent};
use super::options::MigrateOptions;
use super::pipeline::{Halt, plugin_stage};
use super::report::{MigrateError, Phases, Report, RunStatus, TableReport, error_chain, ms};
use super::table::{TablePlan, plan_table};

/// Reads `opts.from` whole through the chain and writes nothing. With
/// `opts.incremental`, a source that finds its own changes compares with
/// `opts.to` (it is only read). `target` names what the report shows as
/// the target.
pub async fn dry_read(opts: &MigrateOptions, target: &str, events: Arc<dyn Events>) -> Report {
    let started = Instant::now();
    let progress = Progress::new(events);
    let mut report = Report {
        run_id: uuid::Uuid::new_v4().to_string(),
        status: RunStatus::Failed,
        source: opts.from.to_string(),
        target: target.to_string(),
        tables: Vec::new(),
        duration_ms: 0,
        phases: Phases::default(),
        rejects_table: None,
        constraints: Vec::new(),
        warnings: Vec::new(),
        views: Vec::new(),
        not_carried: Vec::new(),
        plugins: Vec::new(),
        error: None,
        error_code: None,
        verify: None,
        details: Default::default(),
    };
    let result = read_all(opts, &mut report, &progress, started).await;
    report.duration_ms = ms(started);
    let rejected = report.rows_rejected();
    match result {
        Ok(()) => {
            report.status = if rejected > 0 {
                RunStatus::SucceededWithRejects
            } else {
                RunStatus::Succeeded
            }
        }
        Err(e) => {
            report.error_code = Some(e.code());
            report.error = Some(error_chain(&e));
        }
    }
    progress.emit(RunEvent::Finished {
        run_id: report.run_id.clone(),
        status: report.status,
        error: report.error.clone(),
    });
    report
}

async fn read_all(
    opts: &MigrateOptions,
    report: &mut Report,
    progress: &Progress,
    started: Instant,
) -> Result<(), MigrateError> {
    progress.phase(Phase::Planning);
    let source = super::open_source(opts, &opts.from, &report.run_id, true).await?;
    for p in opts
        .transforms
        .iter()
        .chain(&opts.validators)
        .map(|u| u.plugin.clone())
        .chain(source.plugins())
    {
        let m = p.manifest();
        if !report.plugins.iter().any(|r| r.sha256 == m.sha256) {
            report.plugins.push(super::report::PluginRef {
                name: m.name.clone(),
                kind: m.kind.to_string(),
                version: m.version.clone(),
                sha256: m.sha256.clone(),
            });
        }
    }
    let tables = source.tables().await?;
    let mut chain = Chain::new(opts)?;
    let mut plans = Vec::new();
    for t in &tables {
        let mut skipped = Vec::new();
        plans.push(Arc::new(plan_table(t, &mut chain, &mut skipped).await?));
        report.warnings.extend(skipped);
    }
    report.phases.plan_ms = ms(started);
    progress.phase(Phase::Loading);
    let load_started = Instant::now();
    let result = read_tables(opts, source.clone(), &plans, report, progress).await;
    report.phases.load_ms = ms(load_started);
    report.details.extend(source.summary());
    result
}

async fn read_tables(
    opts: &MigrateOptions,
    source: Arc<dyn crate::endpoint::Source>,
    plans: &[Arc<TablePlan>],
    report: &mut Report,
    progress: &Progress,
) -> Result<(), MigrateError> {
    for plan in plans {
        let name = plan.source.name.clone();
        let total = source.count(&name).await?;
        progress.table_started(&name, total, 0);
        let (rtx, rrx) = mpsc::channel::<ReadBatch>(2);
        let (wtx, mut wrx) = mpsc::channel(2);
        let reader = source
            .clone()
            .read(plan.read_def.clone(), opts.batch_size, Scan::All, rtx);
        let stage = tokio::spawn(plugin_stage(
            plan.clone(),
            Chain::new(opts)?,
            Halt::on(opts.stop.clone(), "dry-run"),
            opts.consolidate.namespace,
            Arc::from(opts.from.to_string().as_str()),
            // A dry run writes nothing, so there is nothing to verify.
            None,
            rrx,
            wtx,
        ));
        let mut tr = TableReport {
            name: name.clone(),
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            passthrough: false,
        };
        while let Some(st) = wrx.recv().await {
            let (w, r) = st.counts();
            tr.rows_written += w;
            tr.rows_rejected += r;
            progress.rows(&name, w + r);
        }
        let (read, staged) = stage
            .await
            .map_err(|e| MigrateError::Internal(format!("plugin stage: {e}")))?;
        tr.rows_read = read;
        progress.table_finished(&tr);
        report.tables.push(tr);
        staged?;
        reader
            .await
            .map_err(|e| MigrateError::Internal(format!("reader: {e}")))??;
    }
    Ok(())
}
