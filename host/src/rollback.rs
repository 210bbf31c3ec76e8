//! `ferry rollback RUN`: restores the pre-run state of the tables a run
//! changed, from what the ledger recorded before the run touched them (see
//! [`crate::ledger::Backup`]), then proves it: every table's checksum equals
//! the one recorded before the run (or the table is gone again, if the run
//! created it). Only then is the run marked `rolled_back`.
//!
//! Tables are restored children first (the reverse of the plan's
//! dependency order). A run that later runs built on — a later run, not
//! rolled back, that touched one of its tables — is refused, naming them:
//! they must be rolled back first, newest first.

use serde::Serialize;

use crate::endpoint::{self, EndpointError, EndpointUrl, Feature};
use crate::ledger::Backup;

/// One table's undo and its proof.
#[derive(Debug, Clone, Serialize)]
pub struct TableRollback {
    pub table: String,
    /// `drop` (the run created it) or `restore` (from its backup).
    pub action: String,
    pub backup: Option<String>,
    pub pre_rows: u64,
    pub pre_checksum: Option<String>,
    /// After the rollback (`None`: the table does not exist).
    pub rows_after: Option<u64>,
    pub checksum_after: Option<String>,
    pub ok: bool,
}

/// What a rollback did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub run_id: String,
    pub target: String,
    pub dry_run: bool,
    pub tables: Vec<TableRollback>,
    /// Every table proven back to its pre-run state.
    pub ok: bool,
}

/// Why a rollback could not run.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{0}")]
    Refused(String),
}

/// Rolls run `run_id` back in the target `to`.
pub async fn rollback(
    to: &EndpointUrl,
    run_id: &str,
    dry_run: bool,
    state: Option<&EndpointUrl>,
) -> Result<RollbackReport, RollbackError> {
    let mut sink = endpoint::open_sink(to).await?;
    let mut state_sink = crate::engine::open_state(state, to)
        .await
        .map_err(|e| RollbackError::Refused(e.to_string()))?;
    if state_sink.is_none() && sink.ledger().is_none() {
        return Err(RollbackError::Refused(format!(
            "{}: there is nothing to roll back with (its runs' ledger is where their --state was)",
            sink.capabilities()
                .cannot(&sink.describe(), Feature::Ledger)
        )));
    }
    // The ledger: `--state` when given, else the target.
    macro_rules! ledger {
        () => {
            match state_sink.as_mut() {
                Some(s) => s.ledger(),
                None => sink.ledger(),
            }
            .ok_or_else(|| RollbackError::Refused("no ledger".into()))?
        };
    }
    let runs = ledger!().runs(None).await?;
    let Some(run) = runs.iter().find(|r| r.run_id == run_id).cloned() else {
        return Err(RollbackError::Refused(format!(
            "no run {run_id} in the ledger of {}; `ferry history` lists the runs",
            sink.describe()
        )));
    };
    if run.status == "rolled_back" {
        return Err(RollbackError::Refused(format!(
            "run {run_id} is already rolled back"
        )));
    }
    let backups = ledger!().backups(run_id).await?;
    if backups.iter().any(|b| b.kind == DISCARDED) {
        return Err(RollbackError::Refused(format!(
            "run {run_id}'s backups were removed by a cleanup: it can no longer be rolled back"
        )));
    }
    if backups.is_empty() {
        return Err(RollbackError::Refused(format!(
            "run {run_id} recorded no pre-run state (it stopped before changing the target, or it was made by a ferry without backups): nothing to roll back"
        )));
    }
    // Later runs that touched the same tables and are not rolled back.
    let mut later = Vec::new();
    for r in runs
        .iter()
        .filter(|r| r.run_id != run.run_id && r.started_at > run.started_at)
        .filter(|r| r.status != "rolled_back")
    {
        let theirs = ledger!().backups(&r.run_id).await?;
        if theirs
            .iter()
            .any(|b| backups.iter().any(|m| m.table == b.table))
        {
            later.push(format!(
                "{} ({}, started {})",
                r.run_id, r.status, r.started_at
            ));
        }
    }
    if !later.is_empty() {
        return Err(RollbackError::Refused(format!(
            "later runs changed the same tables; roll them back first, newest first: {}",
            later.join(", ")
        )));
    }
    let ordered = undo_order(&run.plan, backups);
    let mut tables = Vec::new();
    for b in &ordered {
        let action = if b.kind == "absent" {
            "drop"
        } else {
            "restore"
        };
        if !dry_run {
            sink.restore_table(&b.table, &b.kind, b.backup_ref.as_deref())
                .await?;
            crate::failpoint::at("rollback", Some(&b.table));
        }
        tables.push(TableRollback {
            table: b.table.clone(),
            action: action.to_string(),
            backup: b.backup_ref.clone(),
            pre_rows: b.pre_rows,
            pre_checksum: b.pre_checksum.clone(),
            rows_after: None,
            checksum_after: None,
            ok: dry_run,
        });
    }
    if !dry_run {
        sink.delete_run_rejects(run_id).await?;
        // The proof: each table as it was before the run.
        for t in &mut tables {
            let after = sink.table_checksum(&t.table).await?;
            t.ok = match (&t.pre_checksum, &after) {
                (None, None) => true,
                (Some(pre), Some((rows, sum))) => *rows == t.pre_rows && sum == pre,
                _ => false,
            };
            t.rows_after = after.as_ref().map(|a| a.0);
            t.checksum_after = after.map(|a| a.1);
        }
    }
    let ok = tables.iter().all(|t| t.ok);
    if !dry_run {
        crate::failpoint::hit("rollback-proved");
    }
    if ok && !dry_run {
        let mut r = run.clone();
        r.status = "rolled_back".into();
        r.phase = "rolled_back".into();
        r.updated_at = crate::ledger::now();
        r.plan = None;
        ledger!().save_run(&r).await?;
    }
    Ok(RollbackReport {
        run_id: run_id.to_string(),
        target: sink.describe(),
        dry_run,
        tables,
        ok,
    })
}

/// Children before parents: the reverse of the plan's table order (which is
/// dependency order); tables the plan does not name (the id map) first.
fn undo_order(plan: &Option<String>, backups: Vec<Backup>) -> Vec<Backup> {
    let order: Vec<String> = plan
        .as_deref()
        .and_then(|p| serde_json::from_str::<crate::plan::Plan>(p).ok())
        .map(|p| p.tables.iter().map(|t| t.target_name.clone()).collect())
        .unwrap_or_default();
    let (unknown, mut known): (Vec<Backup>, Vec<Backup>) =
        backups.into_iter().partition(|b| !order.contains(&b.table));
    known.sort_by_key(|b| std::cmp::Reverse(order.iter().position(|n| n == &b.table)));
    unknown.into_iter().chain(known).collect()
}

/// The kind a backup is recorded with once a cleanup removed it.
pub const DISCARDED: &str = "discarded";

/// What a cleanup removed.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    pub run_id: String,
    /// Tables whose backup was removed.
    pub tables: Vec<String>,
}

/// Removes the backups run `run_id` took of the target's tables (the
/// snapshots, moved and copied tables rollback restores from). Refused
/// while the run is running, and — unless `force` — while a rollback could
/// still need them (the run is not rolled back). Afterwards the ledger
/// records them as removed, and a rollback of the run says why it cannot.
pub async fn cleanup(
    to: &EndpointUrl,
    run_id: &str,
    force: bool,
) -> Result<CleanupReport, RollbackError> {
    let mut sink = endpoint::open_sink(to).await?;
    let Some(ledger) = sink.ledger() else {
        return Err(RollbackError::Refused(format!(
            "{} keeps no ledger: there are no recorded backups to remove",
            sink.describe()
        )));
    };
    let runs = ledger.runs(Some(run_id)).await?;
    let Some(run) = runs.into_iter().next() else {
        return Err(RollbackError::Refused(format!(
            "no run {run_id} in the ledger"
        )));
    };
    if run.status == "running" {
        return Err(RollbackError::Refused(format!(
            "run {run_id} is recorded as running; cancel it (or resume it to its end) first"
        )));
    }
    if run.status != "rolled_back" && !force {
        return Err(RollbackError::Refused(format!(
            "run {run_id} ({}) can still be rolled back, and that needs its backups; remove them anyway with force",
            run.status
        )));
    }
    let backups = match sink.ledger() {
        Some(l) => l.backups(run_id).await?,
        None => Vec::new(),
    };
    let mut tables = Vec::new();
    for b in backups.into_iter().filter(|b| b.kind != DISCARDED) {
        sink.discard_backup(&b.table, &b.kind, b.backup_ref.as_deref())
            .await?;
        if b.kind != "absent" {
            tables.push(b.table.clone());
        }
        let gone = Backup {
            kind: DISCARDED.into(),
            backup_ref: None,
            ..b
        };
        if let Some(l) = sink.ledger() {
            l.save_backup(&gone).await?;
        }
    }
    Ok(CleanupReport {
        run_id: run_id.to_string(),
        tables,
    })
}
