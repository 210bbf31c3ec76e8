//! `ferry serve`'s own state (the control store), in a SQLite file: the run index (what was
//! asked, by whom, how it ended), the audit log and idempotency keys. Each
//! run's own state stays where it always is, in its target's ledger; this
//! file only indexes runs, so losing it loses history, never data.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// The store's schema version (`serve_meta`); a newer file is refused.
const SCHEMA_VERSION: i64 = 1;

/// Rows `GET /v1/audit` and `GET /v1/runs` return at most per request.
pub const MAX_LIST: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the service's state {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the service's state: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the service's state: {0}")]
    Task(String),
}

/// One run as the service indexes it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunRow {
    pub run_id: String,
    pub from: String,
    pub to: String,
    /// The request that started it (JSON).
    #[serde(skip)]
    pub request: String,
    pub status: String,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub rows_written: Option<i64>,
    pub rows_rejected: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

/// How a run ended, as the store records it.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub status: String,
    pub rows_written: i64,
    pub rows_rejected: i64,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The run report, JSON.
    pub report: String,
}

/// One audited call.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    /// The token's name, when one was recognised.
    pub who: Option<String>,
    pub role: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub run_id: Option<String>,
}

/// Runs of one status: (status, runs, rows written, rows rejected, total
/// duration in ms).
pub type Totals = (String, i64, i64, i64, i64);

/// The store; clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating) the store at `path`. Runs the file says were queued
    /// or running belonged to a service that stopped without finishing
    /// them: they are marked `interrupted` (resumable from their ledger).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS serve_meta (version INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS runs (
                 run_id TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL,
                 request TEXT NOT NULL, status TEXT NOT NULL, created_by TEXT NOT NULL,
                 created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
                 rows_written INTEGER, rows_rejected INTEGER, duration_ms INTEGER,
                 error TEXT, report TEXT);
             CREATE INDEX IF NOT EXISTS runs_target ON runs (target, created_at);
             CREATE TABLE IF NOT EXISTS audit (
                 id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT, role TEXT,
                 method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
                 outcome TEXT NOT NULL, run_id TEXT);
             CREATE TABLE IF NOT EXISTS idempotency (
                 principal TEXT NOT NULL, key TEXT NOT NULL, body_sha256 TEXT NOT NULL,
                 run_id TEXT NOT NULL, created_at TEXT NOT NULL,
                 PRIMARY KEY (principal, key));",
        )
        .map_err(|e| err(e.to_string()))?;
        let version: Option<i64> = conn
            .query_row("SELECT max(version) FROM serve_meta", [], |r| r.get(0))
            .map_err(|e| err(e.to_string()))?;
        match version {
            None => {
                conn.execute("INSERT INTO serve_meta VALUES (?1)", [SCHEMA_VERSION])
                    .map_err(|e| err(e.to_string()))?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(err(format!(
                    "written by a newer ferry (state version {v}, this build knows {SCHEMA_VERSION}); upgrade ferry or point [serve] state elsewhere"
                )));
            }
            Some(_) => {}
        }
        conn.execute(
            "UPDATE runs SET status = 'interrupted',
                 error = coalesce(error, 'the service stopped while the run was queued or running; resume it')
             WHERE status IN ('queued', 'running')",
            [],
        )
        .map_err(|e| err(e.to_string()))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection off the async runtime's threads.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let c = conn
                .lock()
                .map_err(|_| StoreError::Task("a previous query panicked".into()))?;
            f(&c).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    pub async fn insert_run(&self, r: RunRow) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO runs (run_id, source, target, request, status, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.run_id,
                    r.from,
                    r.to,
                    r.request,
                    r.status,
                    r.created_by,
                    r.created_at
                ],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn set_status(
        &self,
        run_id: &str,
        status: &str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let (id, st) = (run_id.to_string(), status.to_string());
        self.with(move |c| {
            let now = crate::ledger::now();
            if st == "running" {
                c.execute(
                    "UPDATE runs SET status = ?2, started_at = ?3, error = NULL, finished_at = NULL WHERE run_id = ?1",
                    params![id, st, now],
                )?;
            } else {
                c.execute(
                    "UPDATE runs SET status = ?2, error = ?3 WHERE run_id = ?1",
                    params![id, st, error],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Records how a run ended, with its report (JSON).
    pub async fn finish_run(&self, run_id: &str, end: RunEnd) -> Result<(), StoreError> {
        let id = run_id.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, rows_written = ?4, rows_rejected = ?5,
                     duration_ms = ?6, error = ?7, report = ?8 WHERE run_id = ?1",
                params![
                    id,
                    end.status,
                    crate::ledger::now(),
                    end.rows_written,
                    end.rows_rejected,
                    end.duration_ms,
                    end.error,
                    end.report
                ],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        let id = run_id.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"),
                [id],
                run_row,
            )
            .optional()
        })
        .await
    }

    /// The report a finished run recorded (JSON).
    pub async fn report(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let id = run_id.to_string();
        self.with(move |c| {
            c.query_row("SELECT report FROM runs WHERE run_id = ?1", [id], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map(Option::flatten)
        })
        .await
    }

    /// Runs newest first, optionally into one target and of one status.
    pub async fn runs(
        &self,
        to: Option<String>,
        status: Option<String>,
        limit: usize,
    ) -> Result<Vec<RunRow>, StoreError> {
        let limit = limit.min(MAX_LIST) as i64;
        self.with(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE (?1 IS NULL OR target = ?1) AND (?2 IS NULL OR status = ?2)
                 ORDER BY created_at DESC, rowid DESC LIMIT ?3"
            ))?;
            st.query_map(params![to, status, limit], run_row)?.collect()
        })
        .await
    }

    pub async fn totals(&self) -> Result<Vec<Totals>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT status, count(*), coalesce(sum(rows_written), 0),
                        coalesce(sum(rows_rejected), 0), coalesce(sum(duration_ms), 0)
                 FROM runs GROUP BY status ORDER BY status",
            )?;
            st.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .await
    }

    pub async fn audit(&self, row: AuditRow) -> Result<(), StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO audit (at, who, role, method, path, status, outcome, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.at,
                    row.who,
                    row.role,
                    row.method,
                    row.path,
                    row.status,
                    row.outcome,
                    row.run_id
                ],
            )
            .map(|_| ())
        })
        .await
    }

    /// Audit entries newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let limit = limit.min(MAX_LIST) as i64;
        self.with(move |c| {
            let mut st = c.prepare(
                "SELECT id, at, who, role, method, path, status, outcome, run_id
                 FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            st.query_map([limit], |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    who: r.get(2)?,
                    role: r.get(3)?,
                    method: r.get(4)?,
                    path: r.get(5)?,
                    status: r.get(6)?,
                    outcome: r.get(7)?,
                    run_id: r.get(8)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// Records `key` for `principal`, or returns what it was recorded with
    /// first: (body hash, run id).
    pub async fn claim_idempotency(
        &self,
        principal: &str,
        key: &str,
        body_sha256: &str,
        run_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let (p, k, b, r) = (
            principal.to_string(),
            key.to_string(),
            body_sha256.to_string(),
            run_id.to_string(),
        );
        self.with(move |c| {
            let inserted = c.execute(
                "INSERT INTO idempotency (principal, key, body_sha256, run_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![p, k, b, r, crate::ledger::now()],
            )?;
            if inserted == 1 {
                return Ok(None);
            }
            c.query_row(
                "SELECT body_sha256, run_id FROM idempotency WHERE principal = ?1 AND key = ?2",
                params![p, k],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map(Some)
        })
        .await
    }
}

const RUN_COLUMNS: &str = "run_id, source, target, request, status, created_by, created_at, \
     started_at, finished_at, rows_written, rows_rejected, duration_ms, error";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        run_id: r.get(0)?,
        from: r.get(1)?,
        to: r.get(2)?,
        request: r.get(3)?,
        status: r.get(4)?,
        created_by: r.get(5)?,
        created_at: r.get(6)?,
        started_at: r.get(7)?,
        finished_at: r.get(8)?,
        rows_written: r.get(9)?,
        rows_rejected: r.get(10)?,
        duration_ms: r.get(11)?,
        error: r.get(12)?,
    })
}
