//! The ledger: ferry's own state in the target, so a run can be killed at
//! any instant and resumed with nothing lost or doubled.
//!
//! Tables (created and upgraded by the sink, see `LEDGER_MIGRATIONS` in each
//! SQL endpoint):
//!
//! - `_ferry_ledger`: one row per applied ledger version;
//! - `_ferry_runs`: every run — id, status, phase, mode, source, target, the
//!   plan (JSON) and its fingerprint, timings, the final report;
//! - `_ferry_checkpoints`: per run and table, how far the load got: the
//!   source position of the last committed batch and the cumulative counts.
//!
//! **Exactly once.** A batch, its rejected rows and its checkpoint commit in
//! one target transaction, so after a crash the checkpoint says exactly
//! which source rows are in the target (or in quarantine). Resume reads the
//! source again strictly after that position (keyset order on SQLite's
//! rowid). A table whose source has no stable key is reloaded from scratch:
//! its target rows and this run's rejects for it are deleted first.
//!
//! Keys, indexes and foreign keys are created after the load by DDL that is
//! idempotent on resume (what exists is kept), so a run killed while
//! building them finishes them.

use serde::Serialize;

/// The ledger schema version this ferry writes. A ledger of an older version
/// is upgraded in place; a newer one is refused.
pub const LEDGER_VERSION: i64 = 4;

/// Table names.
pub const LEDGER_TABLE: &str = "_ferry_ledger";
pub const RUNS_TABLE: &str = "_ferry_runs";
pub const CHECKPOINTS_TABLE: &str = "_ferry_checkpoints";
pub const BACKUPS_TABLE: &str = "_ferry_backups";

/// What undoing a run needs for one of its tables, recorded before the run
/// changes it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Backup {
    pub run_id: String,
    pub table: String,
    /// `absent`: the table did not exist (undo = drop it); `moved`
    /// (PostgreSQL): the old table was moved to the `_ferry_backup` schema
    /// as `backup_ref`; `snapshot` (SQLite): a copy of the database file at
    /// `backup_ref`.
    pub kind: String,
    pub backup_ref: Option<String>,
    pub pre_rows: u64,
    /// The table's checksum before the run (`None` when absent).
    pub pre_checksum: Option<String>,
}

/// One run as the ledger keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRecord {
    pub run_id: String,
    /// `running`, `succeeded`, `succeeded_with_rejects`, `failed`.
    pub status: String,
    /// Where a running (or killed) run is: `load`, `constraints`, `verify`, `done`.
    pub phase: String,
    /// `migrate` or `resume`.
    pub mode: String,
    pub source: String,
    pub target: String,
    pub fingerprint: Option<String>,
    /// The plan, as `ferry plan --json` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    /// The final report (JSON), when the run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub error: Option<String>,
}

/// How far one table's load got in one run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub run_id: String,
    pub table: String,
    /// Source position of the last committed batch (SQLite: rowid); `None`
    /// when the source has no stable key (the table restarts on resume).
    pub position: Option<i64>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// Every row of the table is committed.
    pub done: bool,
    /// When it was saved (as read back; a save sets it to now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The high-water mark so far: the column the table was read in order
    /// of (`rowid` for key order) and its last value read, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_value: Option<String>,
    /// A target without transactions (json, with `--state`): the file
    /// lengths after the batch (JSON `{"table": n, "rejects": n}`), what a
    /// resume cuts the files back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offsets: Option<String>,
}

/// A table's high-water mark as a checkpoint recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub table: String,
    pub cursor_column: String,
    /// JSON.
    pub cursor_value: String,
    /// The rowid of the last row read (the tie-breaker).
    pub position: Option<i64>,
}

/// Now, as RFC 3339 UTC text with microseconds.
pub fn now() -> String {
    crate::model::temporal::now_rfc3339()
}

/// Test hook: `FERRY_FAILPOINT=NAME[@TABLE]:N` makes the process abort —
/// like a SIGKILL: nothing flushed, no destructor run, no transaction
/// committed — the N-th time the named point is reached (1-based), counting
/// only hits on `TABLE` when one is given. A no-op otherwise. The crash tests
/// use it to die at exact, repeatable places instead of after a wall-clock
/// delay; `docs/ledger.md` lists the points.
pub fn failpoint(name: &str) {
    failpoint_at(name, None);
}

/// [`failpoint`] at a point that belongs to a table (`batch@sessions:17`).
pub fn failpoint_at(name: &str, table: Option<&str>) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    // Read once: points run after every batch.
    static SPEC: OnceLock<Option<(String, Option<String>, u64)>> = OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let s = std::env::var("FERRY_FAILPOINT").ok()?;
        let (point, n) = s.rsplit_once(':')?;
        let (point, on) = match point.split_once('@') {
            Some((p, t)) => (p.to_string(), Some(t.to_string())),
            None => (point.to_string(), None),
        };
        Some((point, on, n.parse().ok()?))
    });
    let Some((point, on, n)) = spec else {
        return;
    };
    if point != name || (on.is_some() && on.as_deref() != table) {
        return;
    }
    let hit = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if *n == hit {
        eprintln!(
            "failpoint {name}{}:{hit}: aborting",
            table.map(|t| format!("@{t}")).unwrap_or_default()
        );
        std::process::abort();
    }
}

/// The plan run `rec` is resumed with, or why it cannot be: an incremental
/// run is run again instead; a consolidation is not resumable yet; a plugin
/// whose build changed since the run started is refused unless `accepted`
/// names it with its new digest (`(name or reference, sha256)`), in which
/// case the plan is pinned to the new build (and its fingerprint redone).
pub async fn plan_to_resume(
    rec: &RunRecord,
    registry: &crate::plugin::Registry,
    accepted: &[(String, String)],
) -> Result<crate::plan::Plan, String> {
    let id = &rec.run_id;
    if rec.mode == "incremental" {
        return Err(format!(
            "run {id} was incremental: run `ferry migrate --incremental` again instead — it continues from the marks the run committed and replaces rows by key, so nothing is doubled"
        ));
    }
    let Some(text) = &rec.plan else {
        return Err(format!(
            "run {id} has no recorded plan; it cannot be resumed"
        ));
    };
    let mut plan: crate::plan::Plan = serde_json::from_str(text)
        .map_err(|e| format!("run {id}: the recorded plan is unreadable: {e}"))?;
    if !plan.more_sources.is_empty() || plan.tables.iter().any(|t| !t.rekey.is_empty()) {
        return Err(format!(
            "run {id} consolidates several sources; resuming a consolidation is not supported yet: roll the target back (drop it) and run again"
        ));
    }
    let mut refused = Vec::new();
    for p in plan
        .transformers
        .iter_mut()
        .chain(plan.validators.iter_mut())
    {
        let now = registry
            .resolve(&p.reference)
            .await
            .map_err(|e| e.to_string())?;
        let m = now.manifest();
        if m.sha256 == p.sha256 {
            continue;
        }
        let ok = accepted
            .iter()
            .any(|(n, s)| (n == &p.name || n == &p.reference || n == &m.name) && s == &m.sha256);
        if ok {
            p.sha256 = m.sha256.clone();
            p.version = m.version.clone();
            p.name = m.name.clone();
        } else {
            refused.push(format!(
                "plugin `{}` ({}) changed since the run started: recorded sha256 {}, now {}; to resume with this build pass --accept-plugin {}={}",
                p.name, p.reference, p.sha256, m.sha256, p.name, m.sha256
            ));
        }
    }
    if !refused.is_empty() {
        return Err(refused.join("\n"));
    }
    plan.fingerprint = plan.compute_fingerprint();
    Ok(plan)
}
