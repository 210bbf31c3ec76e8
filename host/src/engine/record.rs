//! What a run writes in its ledger: the run itself (created before anything
//! else, moved from phase to phase, closed with its report) and, before the
//! target changes, what undoing the run needs.

use crate::endpoint::{self, EndpointUrl, Feature, IfExists, LedgerStore, Sink, TargetTable};
use crate::ledger::{Backup, RunRecord};
use crate::plan::Plan;

use super::options::MigrateOptions;
use super::report::{MigrateError, Report, RunStatus};

/// The ledger of a run: `--state` when given, else the target's own.
pub(crate) fn store<'a>(
    sink: &'a mut Box<dyn Sink>,
    state: &'a mut Option<Box<dyn Sink>>,
) -> Option<&'a mut dyn LedgerStore> {
    match state {
        Some(s) => s.ledger(),
        None => sink.ledger(),
    }
}

/// Opens the ledger a run writes to when the target cannot keep one
/// itself (`--state`, for a target without transactions).
pub async fn open_state(
    state: Option<&EndpointUrl>,
    to: &EndpointUrl,
) -> Result<Option<Box<dyn Sink>>, MigrateError> {
    let Some(url) = state else {
        return Ok(None);
    };
    let target = endpoint::capabilities(to);
    if target.ledger {
        return Err(MigrateError::Unsupported(format!(
            "--state holds the ledger of a target that cannot keep one; {to} keeps its own"
        )));
    }
    let caps = endpoint::capabilities(url);
    if !caps.has(Feature::StateStore) {
        return Err(MigrateError::Unsupported(format!(
            "--state {url}: {}",
            caps.cannot(&url.to_string(), Feature::StateStore)
        )));
    }
    Ok(Some(endpoint::open_sink(url).await?))
}

/// The ledger's record of a run in `phase` with `status`.
pub(crate) fn run_record(
    report: &Report,
    plan: Option<&Plan>,
    status: &str,
    phase: &str,
    mode: &str,
) -> RunRecord {
    let now = crate::ledger::now();
    RunRecord {
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

/// Records how a run ended in its ledger (when it has one and the run got
/// as far as creating it). A failure here is logged: the run's own outcome
/// stands.
pub(crate) async fn record_end(opts: &MigrateOptions, report: &Report) {
    if endpoint::would_create(&opts.to) {
        return;
    }
    let mut state = match open_state(opts.state.as_ref(), &opts.to).await {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut sink = match state.take() {
        Some(s) => s,
        None => match endpoint::open_sink(&opts.to).await {
            Ok(s) => s,
            Err(_) => return,
        },
    };
    let Some(ledger) = sink.ledger() else {
        return;
    };
    let Ok(mut existing) = ledger.runs(Some(&report.run_id)).await else {
        return;
    };
    let Some(mut r) = existing.pop() else {
        return;
    };
    r.status = match report.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::SucceededWithRejects => "succeeded_with_rejects",
        RunStatus::Failed => "failed",
    }
    .to_string();
    if report.status != RunStatus::Failed {
        r.phase = "done".to_string();
    }
    r.updated_at = crate::ledger::now();
    r.finished_at = Some(r.updated_at.clone());
    r.report = serde_json::to_string(report).ok();
    r.error = report.error.clone();
    r.plan = None;
    if let Err(e) = ledger.save_run(&r).await {
        tracing::warn!(
            "could not record the end of run {} in the ledger: {e}",
            report.run_id
        );
    }
}

/// Moves a run's ledger record to another phase.
pub(crate) async fn record_phase(
    ledger: Option<&mut dyn LedgerStore>,
    report: &Report,
    phase: &str,
) -> Result<(), MigrateError> {
    let Some(ledger) = ledger else {
        return Ok(());
    };
    if let Some(mut r) = ledger.runs(Some(&report.run_id)).await?.pop() {
        r.phase = phase.to_string();
        r.updated_at = crate::ledger::now();
        r.plan = None;
        ledger.save_run(&r).await?;
    }
    Ok(())
}

/// Before a run changes the target, records what undoing it needs: each
/// table that does not exist yet (undo: drop it), and each existing one it
/// will replace (`IfExists::Drop`) or change in place (`in_place`) with its
/// checksum and a backup. With `IfExists::Fail` an existing table stops the
/// run before anything is touched, so nothing is recorded.
pub(crate) async fn record_backups(
    sink: &mut Box<dyn Sink>,
    state: &mut Option<Box<dyn Sink>>,
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
    let mut backups = Vec::new();
    for name in &names {
        let pre = if existing.contains(name) {
            sink.table_checksum(name).await?
        } else {
            None
        };
        backups.push(Backup {
            run_id: run_id.to_string(),
            table: name.clone(),
            // The sink names how it keeps an existing table.
            kind: if existing.contains(name) {
                "keep".to_string()
            } else {
                "absent".to_string()
            },
            backup_ref: None,
            pre_rows: pre.as_ref().map(|p| p.0).unwrap_or(0),
            pre_checksum: pre.map(|p| p.1),
        });
    }
    // The sink keeps what must be kept (recording what it moves in the same
    // transaction) and hands back the records still to be saved.
    let to_save = sink.backup_tables(run_id, &backups, in_place).await?;
    for b in &to_save {
        if let Some(ledger) = store(sink, state) {
            ledger.save_backup(b).await?;
        }
        crate::failpoint::at("backup", Some(&b.table));
    }
    Ok(())
}
