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

/// This machine's name, for records of who did what (best effort:
/// `/etc/hostname`, then `$HOSTNAME`, else `localhost`).
pub fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
