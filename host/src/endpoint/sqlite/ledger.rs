//! The ledger in a SQLite target, and its backups: snapshots of the file.

use super::*;
use rusqlite::types::ValueRef as Sql;
use rusqlite::Connection;
use crate::endpoint::{EndpointError, REJECTS_TABLE};
use crate::ledger::Checkpoint;

/// The ledger's tables, by version: each entry upgrades from the one before.
pub(super) const LEDGER_MIGRATIONS: &[(i64, &str)] = &[
    (
    1,
    "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL, \
     phase TEXT NOT NULL, mode TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, \
     fingerprint TEXT, plan TEXT, started_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
     finished_at TEXT, report TEXT, error TEXT);
     CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id TEXT NOT NULL, table_name TEXT NOT NULL, \
     position INTEGER, rows_read INTEGER NOT NULL, rows_written INTEGER NOT NULL, \
     rows_rejected INTEGER NOT NULL, done INTEGER NOT NULL, updated_at TEXT NOT NULL, \
     PRIMARY KEY (run_id, table_name));",
    ),
    (
        2,
        "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id TEXT NOT NULL, table_name TEXT NOT NULL, \
     kind TEXT NOT NULL, backup_ref TEXT, pre_rows INTEGER NOT NULL, pre_checksum TEXT, \
     created_at TEXT NOT NULL, PRIMARY KEY (run_id, table_name));",
    ),
    (
        3,
        "ALTER TABLE _ferry_checkpoints ADD COLUMN cursor_column TEXT; \
         ALTER TABLE _ferry_checkpoints ADD COLUMN cursor_value TEXT;",
    ),
    (4, "ALTER TABLE _ferry_checkpoints ADD COLUMN target_offsets TEXT;"),
];

pub(super) fn save_checkpoint(c: &Connection, cp: &Checkpoint) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO _ferry_checkpoints (run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (run_id, table_name) DO UPDATE SET position = excluded.position, rows_read = excluded.rows_read, \
         rows_written = excluded.rows_written, rows_rejected = excluded.rows_rejected, done = excluded.done, updated_at = excluded.updated_at, \
         cursor_column = excluded.cursor_column, cursor_value = excluded.cursor_value, target_offsets = excluded.target_offsets",
        rusqlite::params![
            cp.run_id,
            cp.table,
            cp.position,
            cp.rows_read as i64,
            cp.rows_written as i64,
            cp.rows_rejected as i64,
            cp.done,
            crate::ledger::now(),
            cp.cursor_column,
            cp.cursor_value,
            cp.offsets,
        ],
    )?;
    Ok(())
}

impl SqliteSink {
    /// Rows and an order-independent checksum of a table's content
    /// (SHA-256 over the sorted per-row hashes of typed values); `None`
    /// when the table does not exist.
    pub fn table_checksum(&self, table: &str) -> Result<Option<(u64, String)>, EndpointError> {
        use sha2::{Digest, Sha256};
        if !self.exists(table)? {
            return Ok(None);
        }
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        let mut st = self
            .conn
            .prepare(&format!("SELECT * FROM {}", quote_ident(table)))
            .map_err(err)?;
        let n = st.column_count();
        let mut rows = st.query([]).map_err(err)?;
        let mut hashes: Vec<[u8; 32]> = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut h = Sha256::new();
            for i in 0..n {
                match r.get_ref(i).map_err(err)? {
                    Sql::Null => h.update(b"n"),
                    Sql::Integer(v) => {
                        h.update(b"i");
                        h.update(v.to_le_bytes());
                    }
                    Sql::Real(v) => {
                        h.update(b"r");
                        h.update(v.to_bits().to_le_bytes());
                    }
                    Sql::Text(t) => {
                        h.update(b"t");
                        h.update((t.len() as u64).to_le_bytes());
                        h.update(t);
                    }
                    Sql::Blob(b) => {
                        h.update(b"b");
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b);
                    }
                }
            }
            hashes.push(h.finalize().into());
        }
        hashes.sort_unstable();
        let mut all = Sha256::new();
        for h in &hashes {
            all.update(h);
        }
        Ok(Some((hashes.len() as u64, hex::encode(all.finalize()))))
    }

    /// A consistent copy of the whole database file next to it
    /// (`VACUUM INTO`), taken before a run replaces tables; its path.
    pub fn snapshot(&mut self, run_id: &str) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let file = self.path.with_file_name(format!(
            "{}.ferry-backup-{short}.db",
            self.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_file(&file);
        self.conn
            .execute("VACUUM INTO ?1", [file.to_string_lossy()])
            .map_err(|e| {
                q_err(
                    &self.name,
                    None,
                    format!("snapshot to {}: {e}", file.display()),
                )
            })?;
        Ok(file.to_string_lossy().into_owned())
    }

    /// Puts `table` back as it was before a run: gone (`absent`), or as in
    /// the snapshot (`snapshot`, with its indexes), in one transaction.
    pub fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        if let (Some(file), "snapshot") = (backup, kind) {
            self.conn
                .execute("ATTACH DATABASE ?1 AS ferry_snap", [file])
                .map_err(err)?;
        }
        let res = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            tx.execute_batch(&format!("DROP TABLE IF EXISTS main.{}", quote_ident(table)))?;
            if kind == "snapshot" {
                let ddl: Vec<String> = {
                    let mut st = tx.prepare(
                        "SELECT sql FROM ferry_snap.sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL \
                         ORDER BY type = 'table' DESC",
                    )?;
                    st.query_map([table], |r| r.get(0))?
                        .collect::<Result<_, _>>()?
                };
                let (create, indexes) = ddl
                    .split_first()
                    .map(|(c, i)| (c.clone(), i.to_vec()))
                    .unwrap_or_default();
                tx.execute_batch(&create)?;
                tx.execute_batch(&format!(
                    "INSERT INTO main.{t} SELECT * FROM ferry_snap.{t}",
                    t = quote_ident(table)
                ))?;
                for ix in indexes {
                    tx.execute_batch(&ix)?;
                }
            }
            tx.commit()
        })();
        if kind == "snapshot" {
            let _ = self.conn.execute_batch("DETACH DATABASE ferry_snap");
        }
        res.map_err(err)
    }

    /// Deletes a run's rows from the rejects table (a rolled-back run leaves none).
    pub fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.exists(REJECTS_TABLE)? {
            return Ok(());
        }
        self.conn
            .execute(
                &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?1"),
                [run_id],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(REJECTS_TABLE), e))
    }

    /// Records what undoing a run needs for one table.
    pub fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![b.run_id, b.table, b.kind, b.backup_ref, b.pre_rows as i64, b.pre_checksum, crate::ledger::now()],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(crate::ledger::BACKUPS_TABLE), e))
    }

    /// What undoing a run needs (empty for a run that recorded none).
    pub fn backups(&self, run_id: &str) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::BACKUPS_TABLE), e);
        if !self.exists(crate::ledger::BACKUPS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, table_name, kind, backup_ref, pre_rows, pre_checksum FROM _ferry_backups WHERE run_id = ?1 ORDER BY table_name",
            )
            .map_err(err)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(crate::ledger::Backup {
                    run_id: r.get(0)?,
                    table: r.get(1)?,
                    kind: r.get(2)?,
                    backup_ref: r.get(3)?,
                    pre_rows: r.get::<_, i64>(4)? as u64,
                    pre_checksum: r.get(5)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Creates or upgrades the ledger tables (see [`crate::ledger`]).
    pub fn ledger_init(&mut self) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::LEDGER_TABLE), e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS _ferry_ledger (version INTEGER NOT NULL, applied_at TEXT NOT NULL)",
        )
        .map_err(err)?;
        let have: i64 = tx
            .query_row(
                "SELECT coalesce(max(version), 0) FROM _ferry_ledger",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if have > crate::ledger::LEDGER_VERSION {
            return Err(q_err(
                &self.name,
                Some(crate::ledger::LEDGER_TABLE),
                format!(
                    "the ledger is version {have}, written by a newer ferry (this one knows {}); upgrade ferry",
                    crate::ledger::LEDGER_VERSION
                ),
            ));
        }
        for (v, ddl) in LEDGER_MIGRATIONS.iter().filter(|(v, _)| *v > have) {
            tx.execute_batch(ddl).map_err(err)?;
            tx.execute(
                "INSERT INTO _ferry_ledger (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![v, crate::ledger::now()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Inserts or updates a run.
    pub fn save_run(&mut self, r: &crate::ledger::RunRecord) -> Result<(), EndpointError> {
        self.conn
            .execute(
                "INSERT INTO _ferry_runs (run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, phase = excluded.phase, mode = excluded.mode, \
                 fingerprint = excluded.fingerprint, plan = coalesce(excluded.plan, _ferry_runs.plan), updated_at = excluded.updated_at, \
                 finished_at = excluded.finished_at, report = excluded.report, error = excluded.error",
                rusqlite::params![
                    r.run_id, r.status, r.phase, r.mode, r.source, r.target, r.fingerprint, r.plan,
                    r.started_at, r.updated_at, r.finished_at, r.report, r.error
                ],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(crate::ledger::RUNS_TABLE), e))
    }

    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    pub fn runs(
        &self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::RunRecord>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::RUNS_TABLE), e);
        if !self.exists(crate::ledger::RUNS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error \
                 FROM _ferry_runs WHERE ?1 IS NULL OR run_id = ?1 ORDER BY started_at DESC, run_id",
            )
            .map_err(err)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(crate::ledger::RunRecord {
                    run_id: r.get(0)?,
                    status: r.get(1)?,
                    phase: r.get(2)?,
                    mode: r.get(3)?,
                    source: r.get(4)?,
                    target: r.get(5)?,
                    fingerprint: r.get(6)?,
                    plan: r.get(7)?,
                    started_at: r.get(8)?,
                    updated_at: r.get(9)?,
                    finished_at: r.get(10)?,
                    report: r.get(11)?,
                    error: r.get(12)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// The checkpoints of a run.
    pub fn checkpoints(&self, run_id: &str) -> Result<Vec<Checkpoint>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::CHECKPOINTS_TABLE), e);
        if !self.exists(crate::ledger::CHECKPOINTS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets \
                 FROM _ferry_checkpoints WHERE run_id = ?1 ORDER BY table_name",
            )
            .map_err(err)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(Checkpoint {
                    run_id: r.get(0)?,
                    table: r.get(1)?,
                    position: r.get(2)?,
                    rows_read: r.get::<_, i64>(3)? as u64,
                    rows_written: r.get::<_, i64>(4)? as u64,
                    rows_rejected: r.get::<_, i64>(5)? as u64,
                    done: r.get(6)?,
                    updated_at: r.get(7)?,
                    cursor_column: r.get(8)?,
                    cursor_value: r.get(9)?,
                    offsets: r.get(10)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Per table, the newest high-water mark of any run not rolled back:
    /// (cursor column, cursor value as JSON, rowid).
    pub fn marks(&self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::CHECKPOINTS_TABLE), e);
        if !self.exists(crate::ledger::CHECKPOINTS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT c.table_name, c.cursor_column, c.cursor_value, c.position FROM _ferry_checkpoints c \
                 JOIN _ferry_runs r ON r.run_id = c.run_id \
                 WHERE r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL \
                 ORDER BY c.updated_at",
            )
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok(crate::ledger::Mark {
                    table: r.get(0)?,
                    cursor_column: r.get(1)?,
                    cursor_value: r.get(2)?,
                    position: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Saves a checkpoint on its own (a table's end).
    pub fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), EndpointError> {
        save_checkpoint(&self.conn, cp)
            .map_err(|e| q_err(&self.name, Some(crate::ledger::CHECKPOINTS_TABLE), e))
    }

    /// Empties a table and this run's rejects for it (a table reloaded from
    /// scratch on resume), in one transaction.
    pub fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(&format!("DELETE FROM {}", quote_ident(table)), [])
            .map_err(err)?;
        tx.execute(
            &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?1 AND table_name = ?2"),
            [run_id, source_table],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM _ferry_checkpoints WHERE run_id = ?1 AND table_name = ?2",
            [run_id, source_table],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}
