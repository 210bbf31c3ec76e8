//! What a ledger says about runs: one run's progress per table with its
//! rate and time left (`ferry status`), and every run with its totals
//! (`ferry history`). Computed here so the CLI and a service show the same.

use serde::Serialize;

use crate::endpoint::{self, EndpointUrl, Feature, Sink};
use crate::ledger::{Checkpoint, RunRecord};
use crate::plan::Plan;

use super::events::rate_and_eta;
use super::report::MigrateError;

/// Opens where the ledger of `to`'s runs is: `state` when given (a target
/// without transactions keeps it there), else `to` itself.
pub async fn open_ledger(
    to: &EndpointUrl,
    state: Option<&EndpointUrl>,
) -> Result<Box<dyn Sink>, MigrateError> {
    if let Some(s) = super::record::open_state(state, to).await? {
        return Ok(s);
    }
    let caps = endpoint::capabilities(to);
    if !caps.ledger {
        return Err(MigrateError::Unsupported(
            caps.cannot(&to.to_string(), Feature::Ledger),
        ));
    }
    if endpoint::would_create(to) {
        return Err(MigrateError::Unsupported(format!(
            "{to} does not exist: no ledger there"
        )));
    }
    Ok(endpoint::open_sink(to).await?)
}

/// One table's line of a run's status.
#[derive(Debug, Clone, Serialize)]
pub struct TableStatus {
    pub table: String,
    pub estimated_rows: Option<u64>,
    #[serde(flatten)]
    pub checkpoint: Option<Checkpoint>,
}

/// A run as its ledger shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunProgress {
    pub run: RunRecord,
    pub tables: Vec<TableStatus>,
    pub rows_read: u64,
    pub rows_per_second: f64,
    /// Seconds left at that rate, for a running run.
    pub eta_seconds: Option<f64>,
    /// The newest checkpoint or run update: a `running` run whose progress
    /// stopped long ago was killed.
    pub last_progress: String,
}

/// Seconds between two ledger timestamps.
fn seconds_between(a: &str, b: &str) -> f64 {
    match (
        crate::model::temporal::parse_timestamptz(a),
        crate::model::temporal::parse_timestamptz(b),
    ) {
        (Some(x), Some(y)) => (y - x) as f64 / 1e6,
        _ => 0.0,
    }
}

/// Why a run cannot be shown.
fn no_run(sink: &dyn Sink, run_id: Option<&str>) -> MigrateError {
    MigrateError::Unsupported(match run_id {
        Some(id) => format!(
            "no run {id} in the ledger of {}; `ferry history --to …` lists the runs",
            sink.describe()
        ),
        None => format!("no run recorded in {}", sink.describe()),
    })
}

/// Run `run_id` (the newest when `None`) as the ledger in `sink` records it.
pub async fn find_run(
    sink: &mut Box<dyn Sink>,
    run_id: Option<&str>,
) -> Result<RunRecord, MigrateError> {
    let runs = match sink.ledger() {
        Some(l) => l.runs(run_id).await?,
        None => Vec::new(),
    };
    match runs.into_iter().next() {
        Some(r) => Ok(r),
        None => Err(no_run(sink.as_ref(), run_id)),
    }
}

/// A run's progress: per table how far it got against the plan's estimate,
/// the rate so far and, while it runs, the time left.
pub async fn run_status(
    sink: &mut Box<dyn Sink>,
    run_id: Option<&str>,
) -> Result<RunProgress, MigrateError> {
    let mut run = find_run(sink, run_id).await?;
    let checkpoints = match sink.ledger() {
        Some(l) => l.checkpoints(&run.run_id).await?,
        None => Vec::new(),
    };
    let plan: Option<Plan> = run
        .plan
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    run.plan = None;
    run.report = None;
    let mut tables: Vec<TableStatus> = match &plan {
        Some(p) => p
            .tables
            .iter()
            .map(|t| TableStatus {
                table: t.name.clone(),
                estimated_rows: Some(t.estimated_rows),
                checkpoint: checkpoints.iter().find(|c| c.table == t.name).cloned(),
            })
            .collect(),
        None => Vec::new(),
    };
    for c in &checkpoints {
        if !tables.iter().any(|t| t.table == c.table) {
            tables.push(TableStatus {
                table: c.table.clone(),
                estimated_rows: None,
                checkpoint: Some(c.clone()),
            });
        }
    }
    let rows_read: u64 = checkpoints.iter().map(|c| c.rows_read).sum();
    let last = checkpoints
        .iter()
        .filter_map(|c| c.updated_at.clone())
        .chain(std::iter::once(run.updated_at.clone()))
        .max()
        .unwrap_or_default();
    let left: u64 = tables
        .iter()
        .filter(|t| !t.checkpoint.as_ref().is_some_and(|c| c.done))
        .map(|t| {
            t.estimated_rows
                .unwrap_or(0)
                .saturating_sub(t.checkpoint.as_ref().map(|c| c.rows_read).unwrap_or(0))
        })
        .sum();
    let (rate, eta) = rate_and_eta(
        rows_read,
        rows_read + left,
        seconds_between(&run.started_at, &last),
    );
    Ok(RunProgress {
        eta_seconds: eta.filter(|_| run.status == "running"),
        run,
        tables,
        rows_read,
        rows_per_second: rate,
        last_progress: last,
    })
}

/// One run of `ferry history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    pub run_id: String,
    pub status: String,
    pub phase: String,
    pub mode: String,
    pub source: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    pub error: Option<String>,
}

/// Every run in the ledger, newest first, with its row totals.
pub async fn history(sink: &mut Box<dyn Sink>) -> Result<Vec<HistoryLine>, MigrateError> {
    let Some(l) = sink.ledger() else {
        return Ok(Vec::new());
    };
    let runs = l.runs(None).await?;
    let mut lines = Vec::with_capacity(runs.len());
    for r in runs {
        let cps = l.checkpoints(&r.run_id).await?;
        lines.push(HistoryLine {
            rows_read: cps.iter().map(|c| c.rows_read).sum(),
            rows_written: cps.iter().map(|c| c.rows_written).sum(),
            rows_rejected: cps.iter().map(|c| c.rows_rejected).sum(),
            run_id: r.run_id,
            status: r.status,
            phase: r.phase,
            mode: r.mode,
            source: r.source,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
        });
    }
    Ok(lines)
}
