//! `ferry serve`'s own state (the control store): the run index (what was
//! asked, by whom, how it ended), the audit log and idempotency keys, in a
//! SQLite file (the default), a PostgreSQL or a MySQL/MariaDB database.
//! Each run's own state stays where it always is, in its target's ledger;
//! the store only indexes runs, so losing it loses history, never data.
//!
//! Written once over the SQL drivers' small dialect layer
//! ([`crate::endpoint::sql::SqlConn`]), like the ledger. Its tables are
//! `_ferry_serve_*`: a database that holds them can still be a migration's
//! source or target (introspection skips `_ferry_` tables).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;

use crate::endpoint::sql::{SqlConn, SqlError, SqlValue, dialect};
use crate::endpoint::{self, EndpointUrl};

/// The store's schema version (`_ferry_serve_meta`); a newer one is refused.
/// 1: tables without the `_ferry_serve_` prefix, SQLite only (upgraded in
/// place); 2: prefixed tables, a holder, any SQL database.
const SCHEMA_VERSION: i64 = 2;

/// Rows `GET /v1/audit` and `GET /v1/runs` return at most per request.
pub const MAX_LIST: usize = 1000;

/// The session lock one service holds on a PostgreSQL or MySQL store while
/// it runs: a second service on the same store would mark the first one's
/// runs interrupted on start, so it is refused instead.
const LOCK_NAME: &str = "ferry serve state";

/// How long a SQLite store waits for a writer of another process, in ms.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the service's state {state}: {reason}")]
    Open { state: String, reason: String },
    #[error(
        "the service's state {state} is held by another ferry serve ({holder}); two services on one state would each mark the other's runs interrupted. Stop it, or give this one its own [serve] state"
    )]
    Held { state: String, holder: String },
    #[error("the service's state {state}: {message}")]
    Sql { state: String, message: String },
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

/// The tables of version 2, created together on a fresh store (types as
/// the dialect layer writes them).
const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS _ferry_serve_meta (version {int} NOT NULL, holder {text})",
    "CREATE TABLE IF NOT EXISTS _ferry_serve_runs (
         run_id {id} PRIMARY KEY, source {name} NOT NULL, target {name} NOT NULL,
         request {long} NOT NULL, status {short} NOT NULL, created_by {name} NOT NULL,
         created_at {stamp} NOT NULL, started_at {stamp}, finished_at {stamp},
         rows_written {int}, rows_rejected {int}, duration_ms {int},
         error {text}, report {long})",
    "CREATE INDEX _ferry_serve_runs_target ON _ferry_serve_runs (target, created_at)",
    "CREATE TABLE IF NOT EXISTS _ferry_serve_audit (
         id {serial}, at {stamp} NOT NULL, who {name}, role {short},
         method {short} NOT NULL, path {text} NOT NULL, status {int} NOT NULL,
         outcome {short} NOT NULL, run_id {id})",
    "CREATE TABLE IF NOT EXISTS _ferry_serve_idempotency (
         principal {name} NOT NULL, idem_key {name} NOT NULL, body_sha256 {text} NOT NULL,
         run_id {id} NOT NULL, created_at {stamp} NOT NULL,
         PRIMARY KEY (principal, idem_key))",
];

/// Version 1 (a SQLite file of the first `ferry serve`) to version 2.
const FROM_V1: &[&str] = &[
    "ALTER TABLE runs RENAME TO _ferry_serve_runs",
    "ALTER TABLE audit RENAME TO _ferry_serve_audit",
    "ALTER TABLE idempotency RENAME TO _ferry_serve_idempotency",
    "ALTER TABLE _ferry_serve_idempotency RENAME COLUMN key TO idem_key",
    "ALTER TABLE serve_meta RENAME TO _ferry_serve_meta",
    "ALTER TABLE _ferry_serve_meta ADD COLUMN holder TEXT",
    "DROP INDEX IF EXISTS runs_target",
    "CREATE INDEX _ferry_serve_runs_target ON _ferry_serve_runs (target, created_at)",
    "UPDATE _ferry_serve_meta SET version = 2",
];

/// The store; clones share one connection (statements are small and few
/// per request; one connection keeps a session lock simple).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Box<dyn SqlConn>>>,
    url: Arc<EndpointUrl>,
}

impl Store {
    /// Opens (creating or upgrading) the store at `url`. Runs it says were
    /// queued or running belonged to a service that stopped without
    /// finishing them: they are marked `interrupted` (resumable from their
    /// ledger). A store another live service holds is refused.
    pub async fn open(url: &EndpointUrl) -> Result<Store, StoreError> {
        let conn = connect(url).await?;
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            url: Arc::new(url.clone()),
        };
        store.migrate().await?;
        let holder = format!(
            "pid {} on {}, since {}",
            std::process::id(),
            crate::ledger::hostname(),
            crate::ledger::now()
        );
        store
            .exec("UPDATE _ferry_serve_meta SET holder = $1", &[holder.into()])
            .await?;
        store
            .exec(
                "UPDATE _ferry_serve_runs SET status = 'interrupted',
                     error = coalesce(error, 'the service stopped while the run was queued or running; resume it')
                 WHERE status IN ('queued', 'running')",
                &[],
            )
            .await?;
        Ok(store)
    }

    /// Creates the tables of a fresh store, upgrades an older one, refuses
    /// a newer one.
    async fn migrate(&self) -> Result<(), StoreError> {
        let exists = |t: &'static str| async move {
            let d = self.conn.lock().await.dialect();
            let rows = self.query(d.table_exists, &[t.into()]).await?;
            Ok::<_, StoreError>(rows.first().and_then(|r| r[0].int()).unwrap_or(0) > 0)
        };
        if !exists("_ferry_serve_meta").await? {
            if exists("serve_meta").await? {
                for s in FROM_V1 {
                    self.exec(s, &[]).await?;
                }
            } else {
                let d = self.conn.lock().await.dialect();
                for t in TABLES {
                    self.exec(&d.ddl(t).replace("{serial}", d.serial_key), &[])
                        .await?;
                }
                self.exec(
                    "INSERT INTO _ferry_serve_meta (version) VALUES ($1)",
                    &[SCHEMA_VERSION.into()],
                )
                .await?;
            }
        }
        let rows = self
            .query("SELECT max(version) FROM _ferry_serve_meta", &[])
            .await?;
        match rows.first().and_then(|r| r[0].int()) {
            Some(v) if v > SCHEMA_VERSION => Err(StoreError::Open {
                state: self.url.to_string(),
                reason: format!(
                    "written by a newer ferry (state version {v}, this build knows {SCHEMA_VERSION}); upgrade ferry or point [serve] state elsewhere"
                ),
            }),
            Some(_) => Ok(()),
            None => {
                self.exec(
                    "INSERT INTO _ferry_serve_meta (version) VALUES ($1)",
                    &[SCHEMA_VERSION.into()],
                )
                .await
            }
        }
    }

    /// Runs one statement; a connection lost on the way (the database
    /// restarted) is opened again, its lock taken again, and the statement
    /// tried once more.
    async fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().await;
        let (s, p) = conn.dialect().bind(sql, params);
        match conn.exec(&s, &p).await {
            Err(e) if e.transient => {
                *conn = connect(&self.url).await?;
                conn.exec(&s, &p).await.map_err(|e| self.sql(e))?;
            }
            r => {
                r.map_err(|e| self.sql(e))?;
            }
        }
        Ok(())
    }

    /// Runs one query; reconnects like [`Store::exec`].
    async fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let mut conn = self.conn.lock().await;
        let (s, p) = conn.dialect().bind(sql, params);
        match conn.query(&s, &p).await {
            Err(e) if e.transient => {
                *conn = connect(&self.url).await?;
                conn.query(&s, &p).await.map_err(|e| self.sql(e))
            }
            r => r.map_err(|e| self.sql(e)),
        }
    }

    fn sql(&self, e: SqlError) -> StoreError {
        StoreError::Sql {
            state: self.url.to_string(),
            message: e.message,
        }
    }

    pub async fn insert_run(&self, r: RunRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO _ferry_serve_runs (run_id, source, target, request, status, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                r.run_id.into(),
                r.from.into(),
                r.to.into(),
                r.request.into(),
                r.status.into(),
                r.created_by.into(),
                r.created_at.into(),
            ],
        )
        .await
    }

    pub async fn set_status(
        &self,
        run_id: &str,
        status: &str,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        if status == "running" {
            self.exec(
                "UPDATE _ferry_serve_runs SET status = $2, started_at = $3, error = NULL, finished_at = NULL
                 WHERE run_id = $1",
                &[run_id.into(), status.into(), crate::ledger::now().into()],
            )
            .await
        } else {
            self.exec(
                "UPDATE _ferry_serve_runs SET status = $2, error = $3 WHERE run_id = $1",
                &[run_id.into(), status.into(), (&error).into()],
            )
            .await
        }
    }

    /// Records how a run ended, with its report (JSON).
    pub async fn finish_run(&self, run_id: &str, end: RunEnd) -> Result<(), StoreError> {
        self.exec(
            "UPDATE _ferry_serve_runs SET status = $2, finished_at = $3, rows_written = $4,
                 rows_rejected = $5, duration_ms = $6, error = $7, report = $8
             WHERE run_id = $1",
            &[
                run_id.into(),
                end.status.into(),
                crate::ledger::now().into(),
                end.rows_written.into(),
                end.rows_rejected.into(),
                end.duration_ms.into(),
                (&end.error).into(),
                end.report.into(),
            ],
        )
        .await
    }

    pub async fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        let rows = self
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM _ferry_serve_runs WHERE run_id = $1"),
                &[run_id.into()],
            )
            .await?;
        Ok(rows.into_iter().next().map(run_row))
    }

    /// The report a finished run recorded (JSON).
    pub async fn report(&self, run_id: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .query(
                "SELECT report FROM _ferry_serve_runs WHERE run_id = $1",
                &[run_id.into()],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].text()))
    }

    /// Runs newest first, optionally into one target and of one status.
    pub async fn runs(
        &self,
        to: Option<String>,
        status: Option<String>,
        limit: usize,
    ) -> Result<Vec<RunRow>, StoreError> {
        let limit = limit.min(MAX_LIST) as i64;
        let rows = self
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM _ferry_serve_runs
                     WHERE ($1 IS NULL OR target = $1) AND ($2 IS NULL OR status = $2)
                     ORDER BY created_at DESC, run_id DESC LIMIT $3"
                ),
                &[(&to).into(), (&status).into(), limit.into()],
            )
            .await?;
        Ok(rows.into_iter().map(run_row).collect())
    }

    pub async fn totals(&self) -> Result<Vec<Totals>, StoreError> {
        let d = self.conn.lock().await.dialect();
        let rows = self
            .query(
                &format!(
                    "SELECT status, count(*), {}, {}, {} FROM _ferry_serve_runs
                     GROUP BY status ORDER BY status",
                    d.sum("rows_written"),
                    d.sum("rows_rejected"),
                    d.sum("duration_ms")
                ),
                &[],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let n = |i: usize| r[i].int().unwrap_or(0);
                (r[0].text().unwrap_or_default(), n(1), n(2), n(3), n(4))
            })
            .collect())
    }

    pub async fn audit(&self, row: AuditRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO _ferry_serve_audit (at, who, role, method, path, status, outcome, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                row.at.into(),
                (&row.who).into(),
                (&row.role).into(),
                row.method.into(),
                row.path.into(),
                i64::from(row.status).into(),
                row.outcome.into(),
                (&row.run_id).into(),
            ],
        )
        .await
    }

    /// Audit entries newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        let limit = limit.min(MAX_LIST) as i64;
        let rows = self
            .query(
                "SELECT id, at, who, role, method, path, status, outcome, run_id
                 FROM _ferry_serve_audit ORDER BY id DESC LIMIT $1",
                &[limit.into()],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditRow {
                id: r[0].int().unwrap_or(0),
                at: r[1].text().unwrap_or_default(),
                who: r[2].text(),
                role: r[3].text(),
                method: r[4].text().unwrap_or_default(),
                path: r[5].text().unwrap_or_default(),
                status: r[6].int().and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
                outcome: r[7].text().unwrap_or_default(),
                run_id: r[8].text(),
            })
            .collect())
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
        let first = || async {
            let rows = self
                .query(
                    "SELECT body_sha256, run_id FROM _ferry_serve_idempotency
                     WHERE principal = $1 AND idem_key = $2",
                    &[principal.into(), key.into()],
                )
                .await?;
            Ok::<_, StoreError>(rows.first().map(|r| {
                (
                    r[0].text().unwrap_or_default(),
                    r[1].text().unwrap_or_default(),
                )
            }))
        };
        if let Some(found) = first().await? {
            return Ok(Some(found));
        }
        let inserted = self
            .exec(
                "INSERT INTO _ferry_serve_idempotency (principal, idem_key, body_sha256, run_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    principal.into(),
                    key.into(),
                    body_sha256.into(),
                    run_id.into(),
                    crate::ledger::now().into(),
                ],
            )
            .await;
        match inserted {
            Ok(()) => Ok(None),
            // Another request with the same key won the race between the
            // look-up and the insert: its claim stands.
            Err(e) => match first().await? {
                Some(found) => Ok(Some(found)),
                None => Err(e),
            },
        }
    }
}

/// A connection to the store, its session set up: durable commits (the
/// audit must survive a crash of the database), a SQLite writer's wait,
/// and the service's session lock where the database has one.
async fn connect(url: &EndpointUrl) -> Result<Box<dyn SqlConn>, StoreError> {
    let state = url.to_string();
    let mut conn = endpoint::open_sql(url)
        .await
        .map_err(|e| StoreError::Open {
            state: state.clone(),
            reason: e.to_string(),
        })?;
    let d = conn.dialect();
    let failed = |e: SqlError| StoreError::Sql {
        state: state.clone(),
        message: e.message,
    };
    if std::ptr::eq(d, &dialect::POSTGRES) {
        conn.exec("SET synchronous_commit = on", &[])
            .await
            .map_err(failed)?;
    } else if std::ptr::eq(d, &dialect::SQLITE) {
        conn.query(
            &format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
            &[],
        )
        .await
        .map_err(failed)?;
    }
    if let Some(lock) = d.try_lock {
        let (s, p) = d.bind(lock, &[LOCK_NAME.into()]);
        let rows = conn.query(&s, &p).await.map_err(failed)?;
        if !rows.first().is_some_and(|r| r[0].bool()) {
            let holder = conn
                .query("SELECT holder FROM _ferry_serve_meta", &[])
                .await
                .ok()
                .and_then(|r| r.first().and_then(|r| r[0].text()))
                .unwrap_or_else(|| "unknown".into());
            return Err(StoreError::Held { state, holder });
        }
    }
    Ok(conn)
}

const RUN_COLUMNS: &str = "run_id, source, target, request, status, created_by, created_at, \
     started_at, finished_at, rows_written, rows_rejected, duration_ms, error";

fn run_row(r: Vec<SqlValue>) -> RunRow {
    let text = |i: usize| r[i].text();
    RunRow {
        run_id: text(0).unwrap_or_default(),
        from: text(1).unwrap_or_default(),
        to: text(2).unwrap_or_default(),
        request: text(3).unwrap_or_default(),
        status: text(4).unwrap_or_default(),
        created_by: text(5).unwrap_or_default(),
        created_at: text(6).unwrap_or_default(),
        started_at: text(7),
        finished_at: text(8),
        rows_written: r[9].int(),
        rows_rejected: r[10].int(),
        duration_ms: r[11].int(),
        error: text(12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `ferry serve`'s file (version 1, tables unprefixed).
    const V1: &str = "CREATE TABLE serve_meta (version INTEGER NOT NULL);
         INSERT INTO serve_meta VALUES (1);
         CREATE TABLE runs (
             run_id TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL,
             request TEXT NOT NULL, status TEXT NOT NULL, created_by TEXT NOT NULL,
             created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
             rows_written INTEGER, rows_rejected INTEGER, duration_ms INTEGER,
             error TEXT, report TEXT);
         CREATE INDEX runs_target ON runs (target, created_at);
         CREATE TABLE audit (
             id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT, role TEXT,
             method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
             outcome TEXT NOT NULL, run_id TEXT);
         CREATE TABLE idempotency (
             principal TEXT NOT NULL, key TEXT NOT NULL, body_sha256 TEXT NOT NULL,
             run_id TEXT NOT NULL, created_at TEXT NOT NULL,
             PRIMARY KEY (principal, key));
         INSERT INTO runs VALUES ('r1', 'legacy', 'app', '{}', 'running', 'bot',
             '2026-12-01T00:00:00Z', '2026-12-01T00:00:01Z', NULL, NULL, NULL, NULL, NULL, NULL);
         INSERT INTO runs VALUES ('r0', 'legacy', 'app', '{}', 'succeeded', 'bot',
             '2026-11-30T00:00:00Z', NULL, '2026-11-30T00:01:00Z', 7, 1, 60000, NULL, '{\"ok\":true}');
         INSERT INTO audit (at, who, role, method, path, status, outcome, run_id)
             VALUES ('2026-12-01T00:00:00Z', 'bot', 'operator', 'POST', '/v1/runs', 202, 'ok', 'r1');
         INSERT INTO idempotency VALUES ('bot', 'k1', 'abc', 'r1', '2026-12-01T00:00:00Z');";

    /// Runs `sql`'s statements (`;`-separated, none inside a literal).
    async fn run(url: &EndpointUrl, sql: &str) {
        let mut conn = endpoint::open_sql(url).await.unwrap();
        for s in sql.split(';').filter(|s| !s.trim().is_empty()) {
            conn.exec(s, &[]).await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_version_1_file_is_upgraded_in_place_and_keeps_its_history() {
        let dir = tempfile::tempdir().unwrap();
        let url: EndpointUrl = format!("sqlite:{}", dir.path().join("serve.db").display())
            .parse()
            .unwrap();
        run(&url, V1).await;
        let store = Store::open(&url).await.unwrap();

        let r1 = store.run("r1").await.unwrap().unwrap();
        assert_eq!(r1.status, "interrupted");
        assert!(r1.error.unwrap().contains("resume it"));
        let listed: Vec<String> = store
            .runs(Some("app".into()), None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(listed, ["r1", "r0"]);
        assert_eq!(store.report("r0").await.unwrap().unwrap(), "{\"ok\":true}");
        assert_eq!(
            store.totals().await.unwrap(),
            [
                ("interrupted".to_string(), 1, 0, 0, 0),
                ("succeeded".to_string(), 1, 7, 1, 60000)
            ]
        );
        let audit = store.audit_log(10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (audit[0].status, audit[0].run_id.as_deref()),
            (202, Some("r1"))
        );
        assert_eq!(
            store
                .claim_idempotency("bot", "k1", "other", "r9")
                .await
                .unwrap(),
            Some(("abc".to_string(), "r1".to_string()))
        );
        assert_eq!(
            store
                .claim_idempotency("bot", "k2", "def", "r2")
                .await
                .unwrap(),
            None
        );
        drop(store);

        // Upgraded once: opening again finds version 2 and changes nothing.
        let mut conn = endpoint::open_sql(&url).await.unwrap();
        let one = |r: Vec<Vec<SqlValue>>| r[0][0].int().unwrap();
        let version = conn
            .query("SELECT max(version) FROM _ferry_serve_meta", &[])
            .await
            .unwrap();
        assert_eq!(one(version), SCHEMA_VERSION);
        let old = conn
            .query(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('runs', 'audit', 'idempotency', 'serve_meta', 'runs_target')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(one(old), 0);
        drop(conn);
        let store = Store::open(&url).await.unwrap();
        assert_eq!(store.runs(None, None, 10).await.unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_written_by_a_newer_ferry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url: EndpointUrl = format!("sqlite:{}", dir.path().join("serve.db").display())
            .parse()
            .unwrap();
        drop(Store::open(&url).await.unwrap());
        run(&url, "UPDATE _ferry_serve_meta SET version = 99").await;
        let Err(e) = Store::open(&url).await else {
            panic!("a newer store was opened")
        };
        assert!(e.to_string().contains("state version 99"), "{e}");
    }
}
