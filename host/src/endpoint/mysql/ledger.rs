//! The ledger in a MySQL/MariaDB target, and its backups (copies).

use super::*;
use std::collections::HashMap;
use std::fmt::Write as _;
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Row, Value};
use tokio::sync::mpsc;
use crate::endpoint::sqlite::{quote_ident, quote_list};
use crate::endpoint::{
    EndpointError, IfExists, REJECTS_TABLE, ReadBatch, TableProfile, TargetTable, WriteOutcome,
};
use crate::model::temporal::{
    civil_from_days, days_from_civil, format_date, format_time, format_timestamp, format_uuid,
    parse_uuid,
};
use crate::model::{
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject, Stage, TableDef,
    UniqueDef, ValueRef,
};

impl MysqlSink {
    /// Inserts rejects into `_ferry_rejects` (inside the caller's transaction).
    /// Whether one table exists in the target database.
    pub(super) async fn has_table(&mut self, name: &str) -> Result<bool, EndpointError> {
        table_exists(&mut self.conn, name)
            .await
            .map_err(|e| self.err(Some(name), my_message(&e)))
    }

    /// Creates or upgrades the ledger tables (see [`crate::ledger`]).
    /// DDL commits implicitly in MySQL, so each version's statements run
    /// one by one and the version row is written last: a crash half-way
    /// re-runs the version (every statement is IF NOT EXISTS or guarded).
    pub async fn ledger_init(&mut self) -> Result<(), EndpointError> {
        let t = Some(crate::ledger::LEDGER_TABLE);
        self.exec(
            t,
            "CREATE TABLE IF NOT EXISTS _ferry_ledger (version BIGINT NOT NULL, applied_at VARCHAR(40) NOT NULL)",
        )
        .await?;
        let have: Option<i64> = self
            .conn
            .query_first("SELECT COALESCE(MAX(version), 0) FROM _ferry_ledger")
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        let have = have.unwrap_or(0);
        if have > crate::ledger::LEDGER_VERSION {
            return Err(self.err(
                t,
                format!(
                    "the ledger is version {have}, written by a newer ferry (this one knows {}); upgrade ferry",
                    crate::ledger::LEDGER_VERSION
                ),
            ));
        }
        // One version for MySQL: its ledger starts at the current layout.
        if have < crate::ledger::LEDGER_VERSION {
            for ddl in [
                "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id VARCHAR(64) PRIMARY KEY, status VARCHAR(32) NOT NULL, \
                 phase VARCHAR(32) NOT NULL, mode VARCHAR(32) NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, \
                 fingerprint TEXT, plan LONGTEXT, started_at VARCHAR(40) NOT NULL, updated_at VARCHAR(40) NOT NULL, \
                 finished_at VARCHAR(40), report LONGTEXT, error TEXT)",
                "CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id VARCHAR(64) NOT NULL, table_name VARCHAR(255) NOT NULL, \
                 position BIGINT, rows_read BIGINT NOT NULL, rows_written BIGINT NOT NULL, rows_rejected BIGINT NOT NULL, \
                 done BOOLEAN NOT NULL, updated_at VARCHAR(40) NOT NULL, cursor_column TEXT, cursor_value TEXT, \
                 target_offsets TEXT, PRIMARY KEY (run_id, table_name))",
                "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id VARCHAR(64) NOT NULL, table_name VARCHAR(255) NOT NULL, \
                 kind VARCHAR(32) NOT NULL, backup_ref TEXT, pre_rows BIGINT NOT NULL, pre_checksum TEXT, \
                 created_at VARCHAR(40) NOT NULL, PRIMARY KEY (run_id, table_name))",
            ] {
                self.exec(t, ddl).await?;
            }
            self.conn
                .exec_drop(
                    "INSERT INTO _ferry_ledger (version, applied_at) VALUES (?, ?)",
                    (crate::ledger::LEDGER_VERSION, crate::ledger::now()),
                )
                .await
                .map_err(|e| self.err(t, my_message(&e)))?;
        }
        Ok(())
    }

    /// Inserts or updates a run.
    pub async fn save_run(&mut self, r: &crate::ledger::RunRecord) -> Result<(), EndpointError> {
        let params: Vec<Value> = vec![
            r.run_id.as_str().into(),
            r.status.as_str().into(),
            r.phase.as_str().into(),
            r.mode.as_str().into(),
            r.source.as_str().into(),
            r.target.as_str().into(),
            r.fingerprint.clone().into(),
            r.plan.clone().into(),
            r.started_at.as_str().into(),
            r.updated_at.as_str().into(),
            r.finished_at.clone().into(),
            r.report.clone().into(),
            r.error.clone().into(),
        ];
        self.conn
            .exec_drop(
                "INSERT INTO _ferry_runs (run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE status = VALUES(status), phase = VALUES(phase), \
                 mode = VALUES(mode), fingerprint = VALUES(fingerprint), plan = COALESCE(VALUES(plan), plan), updated_at = VALUES(updated_at), \
                 finished_at = VALUES(finished_at), report = VALUES(report), error = VALUES(error)",
                params,
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::RUNS_TABLE), my_message(&e)))
    }

    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    pub async fn runs(
        &mut self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::RunRecord>, EndpointError> {
        let t = Some(crate::ledger::RUNS_TABLE);
        if !self.has_table(crate::ledger::RUNS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error \
                 FROM _ferry_runs WHERE ? IS NULL OR run_id = ? ORDER BY started_at DESC, run_id",
                (run_id, run_id),
            )
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        Ok(rows
            .into_iter()
            .map(|mut r| crate::ledger::RunRecord {
                run_id: r.take(0).unwrap_or_default(),
                status: r.take(1).unwrap_or_default(),
                phase: r.take(2).unwrap_or_default(),
                mode: r.take(3).unwrap_or_default(),
                source: r.take(4).unwrap_or_default(),
                target: r.take(5).unwrap_or_default(),
                fingerprint: r.take(6).unwrap_or_default(),
                plan: r.take(7).unwrap_or_default(),
                started_at: r.take(8).unwrap_or_default(),
                updated_at: r.take(9).unwrap_or_default(),
                finished_at: r.take(10).unwrap_or_default(),
                report: r.take(11).unwrap_or_default(),
                error: r.take(12).unwrap_or_default(),
            })
            .collect())
    }

    /// The checkpoints of a run.
    pub async fn checkpoints(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Checkpoint>, EndpointError> {
        self.read_checkpoints(Some(run_id)).await
    }

    pub(super) async fn read_checkpoints(
        &mut self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::Checkpoint>, EndpointError> {
        let t = Some(crate::ledger::CHECKPOINTS_TABLE);
        if !self.has_table(crate::ledger::CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT c.run_id, c.table_name, c.position, c.rows_read, c.rows_written, c.rows_rejected, c.done, c.updated_at, \
                 c.cursor_column, c.cursor_value, c.target_offsets FROM _ferry_checkpoints c JOIN _ferry_runs r ON r.run_id = c.run_id \
                 WHERE (? IS NULL AND r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL) OR c.run_id = ? \
                 ORDER BY c.updated_at, c.table_name",
                (run_id, run_id),
            )
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        Ok(rows
            .into_iter()
            .map(|mut r| crate::ledger::Checkpoint {
                run_id: r.take(0).unwrap_or_default(),
                table: r.take(1).unwrap_or_default(),
                position: r.take(2).unwrap_or_default(),
                rows_read: r.take::<i64, _>(3).unwrap_or(0) as u64,
                rows_written: r.take::<i64, _>(4).unwrap_or(0) as u64,
                rows_rejected: r.take::<i64, _>(5).unwrap_or(0) as u64,
                done: r.take::<i64, _>(6).unwrap_or(0) != 0,
                updated_at: r.take(7).unwrap_or_default(),
                cursor_column: r.take(8).unwrap_or_default(),
                cursor_value: r.take(9).unwrap_or_default(),
                offsets: r.take(10).unwrap_or_default(),
            })
            .collect())
    }

    /// High-water marks of runs not rolled back, oldest first.
    pub async fn marks(&mut self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        Ok(self
            .read_checkpoints(None)
            .await?
            .into_iter()
            .filter_map(|c| {
                Some(crate::ledger::Mark {
                    table: c.table,
                    cursor_column: c.cursor_column?,
                    cursor_value: c.cursor_value?,
                    position: c.position,
                })
            })
            .collect())
    }

    /// Saves a checkpoint (inside the caller's transaction when one is open).
    pub async fn save_checkpoint(
        &mut self,
        cp: &crate::ledger::Checkpoint,
    ) -> Result<(), EndpointError> {
        let params: Vec<Value> = vec![
            cp.run_id.as_str().into(),
            cp.table.as_str().into(),
            cp.position.into(),
            (cp.rows_read as i64).into(),
            (cp.rows_written as i64).into(),
            (cp.rows_rejected as i64).into(),
            cp.done.into(),
            crate::ledger::now().into(),
            cp.cursor_column.clone().into(),
            cp.cursor_value.clone().into(),
            cp.offsets.clone().into(),
        ];
        self.conn
            .exec_drop(
                "INSERT INTO _ferry_checkpoints (run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, \
                 cursor_column, cursor_value, target_offsets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 position = VALUES(position), rows_read = VALUES(rows_read), rows_written = VALUES(rows_written), \
                 rows_rejected = VALUES(rows_rejected), done = VALUES(done), updated_at = VALUES(updated_at), \
                 cursor_column = VALUES(cursor_column), cursor_value = VALUES(cursor_value), target_offsets = VALUES(target_offsets)",
                params,
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::CHECKPOINTS_TABLE), my_message(&e)))
    }

    /// Empties a table and this run's rejects and checkpoint for it (a table
    /// reloaded from scratch on resume).
    pub async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        self.exec(Some(table), "START TRANSACTION").await?;
        let steps: [(String, Vec<Value>); 3] = [
            (format!("DELETE FROM {}", quote_ident(table)), vec![]),
            (
                format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ? AND table_name = ?"),
                vec![run_id.into(), source_table.into()],
            ),
            (
                "DELETE FROM _ferry_checkpoints WHERE run_id = ? AND table_name = ?".into(),
                vec![run_id.into(), source_table.into()],
            ),
        ];
        for (sql, params) in steps {
            if let Err(e) = self.conn.exec_drop(sql, params).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(self.err(Some(table), my_message(&e)));
            }
        }
        self.exec(Some(table), "COMMIT").await
    }

    /// Rows and an order-independent checksum of a table (the sum of the
    /// first 60 bits of each row's MD5 over its columns as text); `None`
    /// when it does not exist.
    pub async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        if !self.has_table(table).await? {
            return Ok(None);
        }
        let cols: Vec<String> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (table,),
            )
            .await
            .map_err(|e| self.err(Some(table), my_message(&e)))?;
        let row_text = cols
            .iter()
            .map(|c| format!("COALESCE(HEX({q}), 'N')", q = quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', {row_text})), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {}",
            quote_ident(table)
        );
        let r: Option<(i64, String)> = self
            .conn
            .query_first(sql)
            .await
            .map_err(|e| self.err(Some(table), my_message(&e)))?;
        Ok(r.map(|(n, s)| (n as u64, s)))
    }

    /// Keeps a table's pre-run state and records `b`: a copy of its rows
    /// (`CREATE TABLE … LIKE` + `INSERT … SELECT`) named
    /// `_ferry_backup__TABLE__RUN8` (cut to 64). A run that replaces the
    /// table also records its `SHOW CREATE TABLE` (`recreate`): InnoDB
    /// foreign key names are database-wide, so the old table cannot simply
    /// be renamed aside while the new one takes the same constraint names.
    pub async fn backup_table(
        &mut self,
        run_id: &str,
        b: &crate::ledger::Backup,
        in_place: bool,
    ) -> Result<(), EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let mut base = b.table.clone();
        while base.len() > 40 {
            base.pop();
        }
        let name = format!("_ferry_backup__{base}__{short}");
        let (t, n) = (quote_ident(&b.table), quote_ident(&name));
        let tb = Some(b.table.as_str());
        self.exec(tb, &format!("DROP TABLE IF EXISTS {n}")).await?;
        self.exec(tb, &format!("CREATE TABLE {n} LIKE {t}")).await?;
        self.exec(tb, &format!("INSERT INTO {n} SELECT * FROM {t}"))
            .await?;
        let (kind, reference) = if in_place {
            ("copied", name)
        } else {
            let ddl: Option<(String, String)> = self
                .conn
                .query_first(format!("SHOW CREATE TABLE {t}"))
                .await
                .map_err(|e| self.err(tb, my_message(&e)))?;
            let ddl = ddl.map(|d| d.1).unwrap_or_default();
            (
                "recreate",
                serde_json::json!({"copy": name, "ddl": ddl}).to_string(),
            )
        };
        self.save_backup(&crate::ledger::Backup {
            kind: kind.into(),
            backup_ref: Some(reference),
            ..b.clone()
        })
        .await?;
        crate::ledger::failpoint_at("backup", Some(&b.table));
        Ok(())
    }

    /// Puts `table` back as its backup says: dropped (`absent`), its rows
    /// put back (`copied`), or recreated from its recorded definition and
    /// refilled (`recreate`). Foreign key checks are off meanwhile.
    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let t = quote_ident(table);
        let tb = Some(table);
        // A rollback killed half-way is run again: a table whose backup copy
        // is gone was put back by the earlier attempt (the copy is dropped
        // last). Nothing is dropped before that is known; the checksum proof
        // that follows every rollback says whether it really was.
        let copy_name = match (kind, backup) {
            ("recreate", Some(b)) => serde_json::from_str::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v["copy"].as_str().map(str::to_string)),
            ("copied", Some(b)) => Some(b.to_string()),
            _ => None,
        };
        if let Some(copy) = &copy_name
            && !self.has_table(copy).await?
        {
            return if self.has_table(table).await? {
                Ok(())
            } else {
                Err(self.err(
                    tb,
                    format!("its backup copy `{copy}` is gone and the table is not in place: it cannot be restored"),
                ))
            };
        }
        self.exec(tb, "SET FOREIGN_KEY_CHECKS = 0").await?;
        let mut steps: Vec<String> = vec![format!("DROP TABLE IF EXISTS {t}")];
        match (kind, backup) {
            ("recreate", Some(b)) => {
                let v: serde_json::Value = serde_json::from_str(b).unwrap_or_default();
                let copy = quote_ident(v["copy"].as_str().unwrap_or_default());
                steps.push(v["ddl"].as_str().unwrap_or_default().to_string());
                steps.push(format!("INSERT INTO {t} SELECT * FROM {copy}"));
                steps.push(format!("DROP TABLE {copy}"));
            }
            ("copied", Some(b)) => {
                let copy = quote_ident(b);
                // The rows swap in one transaction; the copy goes after.
                steps = vec![
                    "START TRANSACTION".to_string(),
                    format!("DELETE FROM {t}"),
                    format!("INSERT INTO {t} SELECT * FROM {copy}"),
                    "COMMIT".to_string(),
                    format!("DROP TABLE {copy}"),
                ];
            }
            _ => {}
        }
        let mut res = Ok(());
        for s in &steps {
            res = self.exec(tb, s).await;
            if res.is_err() {
                let _ = self.conn.query_drop("ROLLBACK").await;
                break;
            }
        }
        self.exec(tb, "SET FOREIGN_KEY_CHECKS = 1").await?;
        res
    }

    /// Deletes a run's rows from the rejects table.
    pub async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.has_table(REJECTS_TABLE).await? {
            return Ok(());
        }
        self.conn
            .exec_drop(
                format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?"),
                (run_id,),
            )
            .await
            .map_err(|e| self.err(Some(REJECTS_TABLE), my_message(&e)))
    }

    /// Records what undoing a run needs for one table.
    pub async fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        let params: Vec<Value> = vec![
            b.run_id.as_str().into(),
            b.table.as_str().into(),
            b.kind.as_str().into(),
            b.backup_ref.clone().into(),
            (b.pre_rows as i64).into(),
            b.pre_checksum.clone().into(),
            crate::ledger::now().into(),
        ];
        self.conn
            .exec_drop(
                "INSERT INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE kind = VALUES(kind), backup_ref = VALUES(backup_ref), \
                 pre_rows = VALUES(pre_rows), pre_checksum = VALUES(pre_checksum)",
                params,
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::BACKUPS_TABLE), my_message(&e)))
    }

    /// What undoing a run needs.
    pub async fn backups(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        let t = Some(crate::ledger::BACKUPS_TABLE);
        if !self.has_table(crate::ledger::BACKUPS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT run_id, table_name, kind, backup_ref, pre_rows, pre_checksum FROM _ferry_backups WHERE run_id = ? ORDER BY table_name",
                (run_id,),
            )
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        Ok(rows
            .into_iter()
            .map(|mut r| crate::ledger::Backup {
                run_id: r.take(0).unwrap_or_default(),
                table: r.take(1).unwrap_or_default(),
                kind: r.take(2).unwrap_or_default(),
                backup_ref: r.take(3).unwrap_or_default(),
                pre_rows: r.take::<i64, _>(4).unwrap_or(0) as u64,
                pre_checksum: r.take(5).unwrap_or_default(),
            })
            .collect())
    }

}
