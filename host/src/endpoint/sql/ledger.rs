//! The ledger's SQL, written once for SQLite, PostgreSQL and MySQL/MariaDB
//! (see [`crate::ledger`] for what the tables mean).
//!
//! Every driver that keeps a ledger implements [`SqlConn`] on its sink and
//! gets [`LedgerStore`] from here. The one statement a driver runs itself is
//! the checkpoint upsert ([`checkpoint_upsert`]), inside the transaction of
//! the batch it covers.

use async_trait::async_trait;

use super::dialect::{Dialect, SqlConn, SqlError, SqlValue, Update};
use crate::endpoint::{EndpointError, LedgerStore, REJECTS_TABLE, RejectRecord};
use crate::ledger::{
    BACKUPS_TABLE, Backup, CHECKPOINTS_TABLE, Checkpoint, LEDGER_TABLE, LEDGER_VERSION, Mark,
    RUNS_TABLE, RunRecord,
};

/// What one ledger version adds.
enum Step {
    /// `CREATE TABLE IF NOT EXISTS …` (types as `{id}`, `{int}`, …).
    Create(&'static str),
    /// A column added to a table (skipped when it is there: a version whose
    /// DDL is not transactional may have been half applied).
    AddColumn(&'static str, &'static str, &'static str),
}

/// The ledger's tables, by version: each version upgrades the one before.
/// An older ledger is upgraded in place; a newer one is refused.
const VERSIONS: &[(i64, &[Step])] = &[
    (
        1,
        &[
            Step::Create(
                "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id {id} PRIMARY KEY, status {short} NOT NULL, \
                 phase {short} NOT NULL, mode {short} NOT NULL, source {text} NOT NULL, target {text} NOT NULL, \
                 fingerprint {text}, plan {long}, started_at {stamp} NOT NULL, updated_at {stamp} NOT NULL, \
                 finished_at {stamp}, report {long}, error {text})",
            ),
            Step::Create(
                "CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id {id} NOT NULL, table_name {name} NOT NULL, \
                 position {int}, rows_read {int} NOT NULL, rows_written {int} NOT NULL, \
                 rows_rejected {int} NOT NULL, done {bool} NOT NULL, updated_at {stamp} NOT NULL, \
                 PRIMARY KEY (run_id, table_name))",
            ),
        ],
    ),
    (
        2,
        &[Step::Create(
            "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id {id} NOT NULL, table_name {name} NOT NULL, \
             kind {short} NOT NULL, backup_ref {text}, pre_rows {int} NOT NULL, pre_checksum {text}, \
             created_at {stamp} NOT NULL, PRIMARY KEY (run_id, table_name))",
        )],
    ),
    (
        3,
        &[
            Step::AddColumn("_ferry_checkpoints", "cursor_column", "{text}"),
            Step::AddColumn("_ferry_checkpoints", "cursor_value", "{text}"),
        ],
    ),
    (
        4,
        &[Step::AddColumn(
            "_ferry_checkpoints",
            "target_offsets",
            "{text}",
        )],
    ),
];

const CHECKPOINT_COLUMNS: &str = "run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets";
const RUN_COLUMNS: &str = "run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error";
const BACKUP_COLUMNS: &str = "run_id, table_name, kind, backup_ref, pre_rows, pre_checksum";

/// The statement that saves a checkpoint (insert or replace), in `d`'s
/// dialect, with its parameters: what a sink runs in a batch's transaction.
pub fn checkpoint_upsert(d: &Dialect, cp: &Checkpoint) -> (String, Vec<SqlValue>) {
    let sql = format!(
        "INSERT INTO _ferry_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11){}",
        d.upsert(
            CHECKPOINTS_TABLE,
            &["run_id", "table_name"],
            &[
                Update::Set("position"),
                Update::Set("rows_read"),
                Update::Set("rows_written"),
                Update::Set("rows_rejected"),
                Update::Set("done"),
                Update::Set("updated_at"),
                Update::Set("cursor_column"),
                Update::Set("cursor_value"),
                Update::Set("target_offsets"),
            ]
        )
    );
    let params = vec![
        SqlValue::from(&cp.run_id),
        SqlValue::from(&cp.table),
        SqlValue::from(cp.position),
        SqlValue::from(cp.rows_read),
        SqlValue::from(cp.rows_written),
        SqlValue::from(cp.rows_rejected),
        SqlValue::from(cp.done),
        SqlValue::Text(crate::ledger::now()),
        SqlValue::from(&cp.cursor_column),
        SqlValue::from(&cp.cursor_value),
        SqlValue::from(&cp.offsets),
    ];
    d.bind(&sql, &params)
}

/// The statement that records a backup (insert or replace), with its
/// parameters: what a sink that moves a table aside runs in the same
/// transaction as the move.
pub fn backup_upsert(d: &Dialect, b: &Backup) -> (String, Vec<SqlValue>) {
    let sql = format!(
        "INSERT INTO _ferry_backups ({BACKUP_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7){}",
        d.upsert(
            BACKUPS_TABLE,
            &["run_id", "table_name"],
            &[
                Update::Set("kind"),
                Update::Set("backup_ref"),
                Update::Set("pre_rows"),
                Update::Set("pre_checksum"),
            ]
        )
    );
    let p = [
        (&b.run_id).into(),
        (&b.table).into(),
        (&b.kind).into(),
        (&b.backup_ref).into(),
        b.pre_rows.into(),
        (&b.pre_checksum).into(),
        SqlValue::Text(crate::ledger::now()),
    ];
    d.bind(&sql, &p)
}

/// Deletes what a table reloaded from scratch had: this run's rejects and
/// checkpoint for `source_table` (the driver empties the table itself, in
/// the same transaction).
pub fn restart_statements(
    d: &Dialect,
    run_id: &str,
    source_table: &str,
) -> Vec<(String, Vec<SqlValue>)> {
    let p = [SqlValue::from(run_id), SqlValue::from(source_table)];
    vec![
        d.bind(
            &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = $1 AND table_name = $2"),
            &p,
        ),
        d.bind(
            "DELETE FROM _ferry_checkpoints WHERE run_id = $1 AND table_name = $2",
            &p,
        ),
    ]
}

fn err(conn: &dyn SqlConn, table: &str, e: impl Into<SqlError>) -> EndpointError {
    let e = e.into();
    EndpointError::query(conn.endpoint_name(), Some(table), e.message, e.transient)
}

async fn exec(
    c: &mut dyn SqlConn,
    table: &str,
    sql: &str,
    p: &[SqlValue],
) -> Result<u64, EndpointError> {
    let (sql, p) = c.dialect().bind(sql, p);
    c.exec(&sql, &p).await.map_err(|e| err(c, table, e))
}

async fn query(
    c: &mut dyn SqlConn,
    table: &str,
    sql: &str,
    p: &[SqlValue],
) -> Result<Vec<Vec<SqlValue>>, EndpointError> {
    let (sql, p) = c.dialect().bind(sql, p);
    c.query(&sql, &p).await.map_err(|e| err(c, table, e))
}

async fn count(
    c: &mut dyn SqlConn,
    table: &str,
    sql: &str,
    p: &[SqlValue],
) -> Result<i64, EndpointError> {
    Ok(query(c, table, sql, p)
        .await?
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::int)
        .unwrap_or(0))
}

/// Whether `table` exists (the ledger's tables are read only when they do).
pub async fn has_table(c: &mut dyn SqlConn, table: &str) -> Result<bool, EndpointError> {
    let sql = c.dialect().table_exists;
    Ok(count(c, table, sql, &[SqlValue::from(table)]).await? > 0)
}

fn col(row: &[SqlValue], i: usize) -> Option<String> {
    row.get(i).and_then(SqlValue::text)
}

fn num(row: &[SqlValue], i: usize) -> u64 {
    row.get(i)
        .and_then(SqlValue::int)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

fn checkpoint_of(r: &[SqlValue]) -> Checkpoint {
    Checkpoint {
        run_id: col(r, 0).unwrap_or_default(),
        table: col(r, 1).unwrap_or_default(),
        position: r.get(2).and_then(SqlValue::int),
        rows_read: num(r, 3),
        rows_written: num(r, 4),
        rows_rejected: num(r, 5),
        done: r.get(6).is_some_and(SqlValue::bool),
        updated_at: col(r, 7),
        cursor_column: col(r, 8),
        cursor_value: col(r, 9),
        offsets: col(r, 10),
    }
}

async fn upgrade(c: &mut dyn SqlConn) -> Result<(), EndpointError> {
    let d = c.dialect();
    let t = LEDGER_TABLE;
    if d.transactional_ddl {
        exec(c, t, d.begin, &[]).await?;
    }
    if let Some(lock) = d.upgrade_lock {
        exec(c, t, lock, &[]).await?;
    }
    exec(
        c,
        t,
        &d.ddl("CREATE TABLE IF NOT EXISTS _ferry_ledger (version {int} NOT NULL, applied_at {stamp} NOT NULL)"),
        &[],
    )
    .await?;
    let have = count(
        c,
        t,
        "SELECT coalesce(max(version), 0) FROM _ferry_ledger",
        &[],
    )
    .await?;
    if have > LEDGER_VERSION {
        return Err(err(
            c,
            t,
            format!(
                "the ledger is version {have}, written by a newer ferry (this one knows {LEDGER_VERSION}); upgrade ferry"
            ),
        ));
    }
    for (version, steps) in VERSIONS.iter().filter(|(v, _)| *v > have) {
        for step in *steps {
            match step {
                Step::Create(ddl) => {
                    exec(c, t, &d.ddl(ddl), &[]).await?;
                }
                Step::AddColumn(table, column, ty) => {
                    let q = d.column_exists;
                    let there = count(c, t, q, &[(*table).into(), (*column).into()]).await? > 0;
                    if !there {
                        let ddl = format!("ALTER TABLE {table} ADD COLUMN {column} {ty}");
                        exec(c, t, &d.ddl(&ddl), &[]).await?;
                    }
                }
            }
        }
        // Written last: a crash before it re-runs the version, whose steps
        // are all guarded.
        exec(
            c,
            t,
            "INSERT INTO _ferry_ledger (version, applied_at) VALUES ($1, $2)",
            &[(*version).into(), SqlValue::Text(crate::ledger::now())],
        )
        .await?;
    }
    if d.transactional_ddl {
        exec(c, t, "COMMIT", &[]).await?;
    }
    Ok(())
}

#[async_trait]
impl<T: SqlConn> LedgerStore for T {
    fn ledger_name(&self) -> String {
        self.endpoint_name()
    }

    async fn init(&mut self) -> Result<(), EndpointError> {
        let res = upgrade(self).await;
        if res.is_err() && self.dialect().transactional_ddl {
            let _ = self.exec("ROLLBACK", &[]).await;
        }
        res
    }

    async fn save_run(&mut self, r: &RunRecord) -> Result<(), EndpointError> {
        let sql = format!(
            "INSERT INTO _ferry_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13){}",
            self.dialect().upsert(
                RUNS_TABLE,
                &["run_id"],
                &[
                    Update::Set("status"),
                    Update::Set("phase"),
                    Update::Set("mode"),
                    Update::Set("fingerprint"),
                    Update::KeepIfNull("plan"),
                    Update::Set("updated_at"),
                    Update::Set("finished_at"),
                    Update::Set("report"),
                    Update::Set("error"),
                ]
            )
        );
        let p = [
            (&r.run_id).into(),
            (&r.status).into(),
            (&r.phase).into(),
            (&r.mode).into(),
            (&r.source).into(),
            (&r.target).into(),
            (&r.fingerprint).into(),
            (&r.plan).into(),
            (&r.started_at).into(),
            (&r.updated_at).into(),
            (&r.finished_at).into(),
            (&r.report).into(),
            (&r.error).into(),
        ];
        exec(self, RUNS_TABLE, &sql, &p).await.map(|_| ())
    }

    async fn runs(&mut self, run_id: Option<&str>) -> Result<Vec<RunRecord>, EndpointError> {
        if !has_table(self, RUNS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = match run_id {
            Some(id) => {
                query(
                    self,
                    RUNS_TABLE,
                    &format!("SELECT {RUN_COLUMNS} FROM _ferry_runs WHERE run_id = $1"),
                    &[id.into()],
                )
                .await?
            }
            None => {
                query(
                    self,
                    RUNS_TABLE,
                    &format!(
                        "SELECT {RUN_COLUMNS} FROM _ferry_runs ORDER BY started_at DESC, run_id"
                    ),
                    &[],
                )
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| RunRecord {
                run_id: col(r, 0).unwrap_or_default(),
                status: col(r, 1).unwrap_or_default(),
                phase: col(r, 2).unwrap_or_default(),
                mode: col(r, 3).unwrap_or_default(),
                source: col(r, 4).unwrap_or_default(),
                target: col(r, 5).unwrap_or_default(),
                fingerprint: col(r, 6),
                plan: col(r, 7),
                started_at: col(r, 8).unwrap_or_default(),
                updated_at: col(r, 9).unwrap_or_default(),
                finished_at: col(r, 10),
                report: col(r, 11),
                error: col(r, 12),
            })
            .collect())
    }

    async fn checkpoints(&mut self, run_id: &str) -> Result<Vec<Checkpoint>, EndpointError> {
        if !has_table(self, CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = query(
            self,
            CHECKPOINTS_TABLE,
            &format!(
                "SELECT {CHECKPOINT_COLUMNS} FROM _ferry_checkpoints WHERE run_id = $1 ORDER BY table_name"
            ),
            &[run_id.into()],
        )
        .await?;
        Ok(rows.iter().map(|r| checkpoint_of(r)).collect())
    }

    async fn marks(&mut self) -> Result<Vec<Mark>, EndpointError> {
        if !has_table(self, CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = query(
            self,
            CHECKPOINTS_TABLE,
            "SELECT c.table_name, c.cursor_column, c.cursor_value, c.position FROM _ferry_checkpoints c \
             JOIN _ferry_runs r ON r.run_id = c.run_id \
             WHERE r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL \
             ORDER BY c.updated_at, c.table_name",
            &[],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| Mark {
                table: col(r, 0).unwrap_or_default(),
                cursor_column: col(r, 1).unwrap_or_default(),
                cursor_value: col(r, 2).unwrap_or_default(),
                position: r.get(3).and_then(SqlValue::int),
            })
            .collect())
    }

    async fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), EndpointError> {
        let (sql, p) = checkpoint_upsert(self.dialect(), cp);
        self.exec(&sql, &p)
            .await
            .map(|_| ())
            .map_err(|e| err(self, CHECKPOINTS_TABLE, e))
    }

    async fn save_backup(&mut self, b: &Backup) -> Result<(), EndpointError> {
        let (sql, p) = backup_upsert(self.dialect(), b);
        self.exec(&sql, &p)
            .await
            .map(|_| ())
            .map_err(|e| err(self, BACKUPS_TABLE, e))
    }

    async fn backups(&mut self, run_id: &str) -> Result<Vec<Backup>, EndpointError> {
        if !has_table(self, BACKUPS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = query(
            self,
            BACKUPS_TABLE,
            &format!(
                "SELECT {BACKUP_COLUMNS} FROM _ferry_backups WHERE run_id = $1 ORDER BY table_name"
            ),
            &[run_id.into()],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| Backup {
                run_id: col(r, 0).unwrap_or_default(),
                table: col(r, 1).unwrap_or_default(),
                kind: col(r, 2).unwrap_or_default(),
                backup_ref: col(r, 3),
                pre_rows: num(r, 4),
                pre_checksum: col(r, 5),
            })
            .collect())
    }

    async fn rejects(
        &mut self,
        run_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<RejectRecord>, EndpointError> {
        if !has_table(self, REJECTS_TABLE).await? {
            return Ok(Vec::new());
        }
        // SQLite's rejects table has no id column: its rowid is the order.
        let order = if self.dialect().name == "SQLite" {
            "rowid"
        } else {
            "id"
        };
        let rows = query(
            self,
            REJECTS_TABLE,
            &format!(
                "SELECT table_name, source_key, stage, plugin, column_name, code, reason, row_data \
                 FROM {REJECTS_TABLE} WHERE run_id = $1 ORDER BY {order} LIMIT {limit} OFFSET {offset}"
            ),
            &[run_id.into()],
        )
        .await?;
        Ok(rows
            .iter()
            .map(|r| RejectRecord {
                table: col(r, 0).unwrap_or_default(),
                source_key: col(r, 1),
                stage: col(r, 2).unwrap_or_default(),
                plugin: col(r, 3),
                column: col(r, 4),
                code: col(r, 5).unwrap_or_default(),
                reason: col(r, 6).unwrap_or_default(),
                row: col(r, 7).unwrap_or_default(),
            })
            .collect())
    }
}
