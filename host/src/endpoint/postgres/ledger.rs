//! The ledger in a PostgreSQL target, and its backups: replaced tables
//! moved to the `_ferry_backup` schema in the transaction that records them.

use super::*;
use bytes::{BufMut, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};
use crate::endpoint::sqlite::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::ledger::{Checkpoint, RunRecord};
use crate::model::{Batch, ColumnData, LogicalType, Reject, Stage, Storage};

/// The ledger's tables, by version: each entry upgrades from the one before.
pub(super) const LEDGER_MIGRATIONS: &[(i64, &str)] = &[
    (
    1,
    "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id text PRIMARY KEY, status text NOT NULL, \
     phase text NOT NULL, mode text NOT NULL, source text NOT NULL, target text NOT NULL, \
     fingerprint text, plan text, started_at text NOT NULL, updated_at text NOT NULL, \
     finished_at text, report text, error text);
     CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id text NOT NULL, table_name text NOT NULL, \
     position bigint, rows_read bigint NOT NULL, rows_written bigint NOT NULL, \
     rows_rejected bigint NOT NULL, done boolean NOT NULL, updated_at text NOT NULL, \
     PRIMARY KEY (run_id, table_name));",
    ),
    (
        2,
        "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id text NOT NULL, table_name text NOT NULL, \
     kind text NOT NULL, backup_ref text, pre_rows bigint NOT NULL, pre_checksum text, \
     created_at text NOT NULL, PRIMARY KEY (run_id, table_name));",
    ),
    (
        3,
        "ALTER TABLE _ferry_checkpoints ADD COLUMN IF NOT EXISTS cursor_column text; \
         ALTER TABLE _ferry_checkpoints ADD COLUMN IF NOT EXISTS cursor_value text;",
    ),
    (
        4,
        "ALTER TABLE _ferry_checkpoints ADD COLUMN IF NOT EXISTS target_offsets text;",
    ),
];

/// 12 hex digits of a name's SHA-256: a short, stable identifier part.
pub(super) fn short_hash(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..6])
}

/// Where replaced tables are kept until their run is rolled back or dropped.
pub(super) const BACKUP_SCHEMA: &str = "_ferry_backup";

pub(super) async fn save_checkpoint(
    tx: &tokio_postgres::Transaction<'_>,
    cp: &Checkpoint,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO _ferry_checkpoints (run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (run_id, table_name) DO UPDATE SET position = excluded.position, rows_read = excluded.rows_read, \
         rows_written = excluded.rows_written, rows_rejected = excluded.rows_rejected, done = excluded.done, updated_at = excluded.updated_at, \
         cursor_column = excluded.cursor_column, cursor_value = excluded.cursor_value, target_offsets = excluded.target_offsets",
        &[
            &cp.run_id,
            &cp.table,
            &cp.position,
            &(cp.rows_read as i64),
            &(cp.rows_written as i64),
            &(cp.rows_rejected as i64),
            &cp.done,
            &crate::ledger::now(),
            &cp.cursor_column,
            &cp.cursor_value,
            &cp.offsets,
        ],
    )
    .await
    .map(|_| ())
}

impl PgSink {
    /// Rows and an order-independent checksum of a table's content (md5
    /// over the sorted md5s of each row's text); `None` when it does not exist.
    pub async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        if !self.has_table(table).await? {
            return Ok(None);
        }
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT count(*)::bigint, coalesce(md5(string_agg(h, '' ORDER BY h)), '') \
                     FROM (SELECT md5(x::text) AS h FROM {} x) s",
                    quote_ident(table)
                ),
                &[],
            )
            .await
            .map_err(|e| self.err(Some(table), pg_message(&e)))?;
        Ok(Some((row.get::<_, i64>(0) as u64, row.get(1))))
    }

    /// Keeps `table`'s pre-run state in the `_ferry_backup` schema as
    /// `TABLE__RUN8` and records the backup `b` in the same transaction, so
    /// a crash leaves the table either untouched or backed up and recorded.
    /// A run that replaces the table moves it there (`moved`: a catalog
    /// change, no copy); one that changes it in place copies it (`copied`).
    pub async fn backup_table(
        &mut self,
        run_id: &str,
        table: &str,
        b: &crate::ledger::Backup,
        in_place: bool,
    ) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        // 63 bytes at most: cut the table part on a character boundary.
        let mut base = table.to_string();
        while base.len() > 52 {
            base.pop();
        }
        let name = format!("{base}__{short}");
        let (t, n) = (quote_ident(table), quote_ident(&name));
        let keep = if in_place {
            format!("CREATE TABLE {BACKUP_SCHEMA}.{n} AS TABLE {t};")
        } else {
            format!("ALTER TABLE {t} RENAME TO {n}; ALTER TABLE {n} SET SCHEMA {BACKUP_SCHEMA};")
        };
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {BACKUP_SCHEMA}; DROP TABLE IF EXISTS {BACKUP_SCHEMA}.{n} CASCADE; {keep}"
        );
        let reference = format!("{BACKUP_SCHEMA}.{name}");
        let kind = if in_place { "copied" } else { "moved" };
        let endpoint = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: endpoint.clone(),
            table: Some(table.to_string()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        tx.batch_execute(&sql).await.map_err(e)?;
        tx.execute(
            "INSERT INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, table_name) DO UPDATE SET kind = excluded.kind, \
             backup_ref = excluded.backup_ref, pre_rows = excluded.pre_rows, pre_checksum = excluded.pre_checksum",
            &[&b.run_id, &b.table, &kind, &reference, &(b.pre_rows as i64), &b.pre_checksum, &crate::ledger::now()],
        )
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)?;
        crate::ledger::failpoint_at("backup", Some(&b.table));
        Ok(reference)
    }

    /// A table's primary key columns and all its columns, in order.
    pub(super) async fn key_and_columns(
        &mut self,
        table: &str,
    ) -> Result<(Vec<String>, Vec<String>), EndpointError> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, coalesce(a.attnum = ANY (i.indkey), false) \
                 FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&quote_ident(table)],
            )
            .await
            .map_err(|e| self.err(Some(table), pg_message(&e)))?;
        let cols: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let pk: Vec<String> = rows
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        Ok((pk, cols))
    }

    /// Puts `table` back as it was before a run, in one transaction: gone
    /// (`absent`), the table moved aside (`moved`) moved back, or its copy
    /// (`copied`, an incremental run) merged back: rows the run added are
    /// deleted, rows it changed get their old values.
    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        // A rollback killed half-way is run again: a table whose backup is
        // gone was put back by the earlier attempt (moving or merging the
        // backup back consumes it in the same transaction). The checksum
        // proof that follows every rollback says whether it really was.
        if let (Some(b), "copied" | "moved") = (backup, kind) {
            let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
            let gone = self
                .client
                .query_one(
                    "SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NULL",
                    &[&BACKUP_SCHEMA, &name],
                )
                .await
                .map_err(|e| self.err(Some(table), pg_message(&e)))?
                .get::<_, bool>(0);
            if gone {
                return if self.has_table(table).await? {
                    Ok(())
                } else {
                    Err(self.err(
                        Some(table),
                        format!("its backup {b} is gone and the table is not in place: it cannot be restored"),
                    ))
                };
            }
        }
        if let (Some(b), "copied") = (backup, kind) {
            let (pk, cols) = self.key_and_columns(table).await?;
            let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
            let src = format!("{BACKUP_SCHEMA}.{}", quote_ident(name));
            let t = quote_ident(table);
            let list = quote_list(&cols);
            let sql = if pk.is_empty() {
                format!(
                    "BEGIN; DELETE FROM {t}; INSERT INTO {t} ({list}) SELECT {list} FROM {src}; DROP TABLE {src}; COMMIT;"
                )
            } else {
                let keys = quote_list(&pk);
                let def = crate::model::TableDef {
                    name: table.to_string(),
                    columns: cols
                        .iter()
                        .map(|c| crate::model::ColumnDef {
                            name: c.clone(),
                            declared_type: String::new(),
                            logical_type: LogicalType::Text,
                            nullable: true,
                            default: None,
                        })
                        .collect(),
                    primary_key: pk.clone(),
                    unique: Vec::new(),
                    indexes: Vec::new(),
                    foreign_keys: Vec::new(),
                };
                format!(
                    "BEGIN; DELETE FROM {t} WHERE ({keys}) NOT IN (SELECT {keys} FROM {src}); \
                     INSERT INTO {t} ({list}) SELECT {list} FROM {src}{u}; DROP TABLE {src}; COMMIT;",
                    u = crate::endpoint::sqlite::upsert_clause(&def)
                )
            };
            return self
                .client
                .batch_execute(&sql)
                .await
                .map_err(|e| self.err(Some(table), pg_message(&e)));
        }
        let mut sql = format!(
            "BEGIN; DROP TABLE IF EXISTS {} CASCADE; ",
            quote_ident(table)
        );
        if let (Some(b), "moved") = (backup, kind) {
            let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
            let schema: String = self
                .client
                .query_one("SELECT current_schema()::text", &[])
                .await
                .map_err(|e| self.err(Some(table), pg_message(&e)))?
                .get(0);
            sql.push_str(&format!(
                "ALTER TABLE {BACKUP_SCHEMA}.{n} SET SCHEMA {s}; ALTER TABLE {s}.{n} RENAME TO {t}; ",
                n = quote_ident(name),
                s = quote_ident(&schema),
                t = quote_ident(table)
            ));
        }
        sql.push_str("COMMIT;");
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| self.err(Some(table), pg_message(&e)))
    }

    /// Deletes a run's rows from the rejects table.
    pub async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.has_table(REJECTS_TABLE).await? {
            return Ok(());
        }
        self.client
            .execute(
                &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = $1"),
                &[&run_id],
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(Some(REJECTS_TABLE), pg_message(&e)))
    }

    /// Records what undoing a run needs for one table.
    pub async fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        self.client
            .execute(
                "INSERT INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, table_name) DO UPDATE SET kind = excluded.kind, \
                 backup_ref = excluded.backup_ref, pre_rows = excluded.pre_rows, pre_checksum = excluded.pre_checksum",
                &[&b.run_id, &b.table, &b.kind, &b.backup_ref, &(b.pre_rows as i64), &b.pre_checksum, &crate::ledger::now()],
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(Some(crate::ledger::BACKUPS_TABLE), pg_message(&e)))
    }

    /// What undoing a run needs.
    pub async fn backups(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        if !self.has_table(crate::ledger::BACKUPS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT run_id, table_name, kind, backup_ref, pre_rows, pre_checksum FROM _ferry_backups WHERE run_id = $1 ORDER BY table_name",
                &[&run_id],
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::BACKUPS_TABLE), pg_message(&e)))?;
        Ok(rows
            .iter()
            .map(|r| crate::ledger::Backup {
                run_id: r.get(0),
                table: r.get(1),
                kind: r.get(2),
                backup_ref: r.get(3),
                pre_rows: r.get::<_, i64>(4) as u64,
                pre_checksum: r.get(5),
            })
            .collect())
    }

    /// Creates or upgrades the ledger tables (see [`crate::ledger`]).
    pub async fn ledger_init(&mut self) -> Result<(), EndpointError> {
        let name = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: name.clone(),
            table: Some(crate::ledger::LEDGER_TABLE.into()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        // One ferry at a time upgrades a ledger.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7423911); \
             CREATE TABLE IF NOT EXISTS _ferry_ledger (version bigint NOT NULL, applied_at text NOT NULL)",
        )
        .await
        .map_err(e)?;
        let have: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM _ferry_ledger",
                &[],
            )
            .await
            .map_err(e)?
            .get(0);
        if have > crate::ledger::LEDGER_VERSION {
            return Err(EndpointError::Query {
                endpoint: name.clone(),
                table: Some(crate::ledger::LEDGER_TABLE.into()),
                reason: format!(
                    "the ledger is version {have}, written by a newer ferry (this one knows {}); upgrade ferry",
                    crate::ledger::LEDGER_VERSION
                ),
            });
        }
        for (v, ddl) in LEDGER_MIGRATIONS.iter().filter(|(v, _)| *v > have) {
            tx.batch_execute(ddl).await.map_err(e)?;
            tx.execute(
                "INSERT INTO _ferry_ledger (version, applied_at) VALUES ($1, $2)",
                &[v, &crate::ledger::now()],
            )
            .await
            .map_err(e)?;
        }
        tx.commit().await.map_err(e)
    }

    /// Inserts or updates a run.
    pub async fn save_run(&mut self, r: &RunRecord) -> Result<(), EndpointError> {
        self.client
            .execute(
                "INSERT INTO _ferry_runs (run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, phase = excluded.phase, mode = excluded.mode, \
                 fingerprint = excluded.fingerprint, plan = coalesce(excluded.plan, _ferry_runs.plan), updated_at = excluded.updated_at, \
                 finished_at = excluded.finished_at, report = excluded.report, error = excluded.error",
                &[
                    &r.run_id, &r.status, &r.phase, &r.mode, &r.source, &r.target, &r.fingerprint, &r.plan,
                    &r.started_at, &r.updated_at, &r.finished_at, &r.report, &r.error,
                ],
            )
            .await
            .map(|_| ())
            .map_err(|x| self.err(Some(crate::ledger::RUNS_TABLE), pg_message(&x)))
    }

    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    pub async fn runs(&mut self, run_id: Option<&str>) -> Result<Vec<RunRecord>, EndpointError> {
        if !self.has_table(crate::ledger::RUNS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error \
                 FROM _ferry_runs WHERE $1::text IS NULL OR run_id = $1 ORDER BY started_at DESC, run_id",
                &[&run_id],
            )
            .await
            .map_err(|x| self.err(Some(crate::ledger::RUNS_TABLE), pg_message(&x)))?;
        Ok(rows
            .iter()
            .map(|r| RunRecord {
                run_id: r.get(0),
                status: r.get(1),
                phase: r.get(2),
                mode: r.get(3),
                source: r.get(4),
                target: r.get(5),
                fingerprint: r.get(6),
                plan: r.get(7),
                started_at: r.get(8),
                updated_at: r.get(9),
                finished_at: r.get(10),
                report: r.get(11),
                error: r.get(12),
            })
            .collect())
    }

    /// The checkpoints of a run.
    pub async fn checkpoints(&mut self, run_id: &str) -> Result<Vec<Checkpoint>, EndpointError> {
        if !self.has_table(crate::ledger::CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets \
                 FROM _ferry_checkpoints WHERE run_id = $1 ORDER BY table_name",
                &[&run_id],
            )
            .await
            .map_err(|x| self.err(Some(crate::ledger::CHECKPOINTS_TABLE), pg_message(&x)))?;
        Ok(rows
            .iter()
            .map(|r| Checkpoint {
                run_id: r.get(0),
                table: r.get(1),
                position: r.get(2),
                rows_read: r.get::<_, i64>(3) as u64,
                rows_written: r.get::<_, i64>(4) as u64,
                rows_rejected: r.get::<_, i64>(5) as u64,
                done: r.get(6),
                updated_at: r.get(7),
                cursor_column: r.get(8),
                cursor_value: r.get(9),
                offsets: r.get(10),
            })
            .collect())
    }

    /// Per table, the high-water marks of runs not rolled back, oldest first.
    pub async fn marks(&mut self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        if !self.has_table(crate::ledger::CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT c.table_name, c.cursor_column, c.cursor_value, c.position FROM _ferry_checkpoints c \
                 JOIN _ferry_runs r ON r.run_id = c.run_id \
                 WHERE r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL \
                 ORDER BY c.updated_at",
                &[],
            )
            .await
            .map_err(|x| self.err(Some(crate::ledger::CHECKPOINTS_TABLE), pg_message(&x)))?;
        Ok(rows
            .iter()
            .map(|r| crate::ledger::Mark {
                table: r.get(0),
                cursor_column: r.get(1),
                cursor_value: r.get(2),
                position: r.get(3),
            })
            .collect())
    }

    /// Saves a checkpoint on its own (a table's end).
    pub async fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), EndpointError> {
        let name = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: name.clone(),
            table: Some(crate::ledger::CHECKPOINTS_TABLE.into()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        save_checkpoint(&tx, cp).await.map_err(e)?;
        tx.commit().await.map_err(e)
    }

    /// Empties a table and this run's rejects and checkpoint for it (a table
    /// reloaded from scratch on resume), in one transaction.
    pub async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        let name = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: name.clone(),
            table: Some(table.to_string()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        tx.batch_execute(&format!("TRUNCATE {}", quote_ident(table)))
            .await
            .map_err(e)?;
        tx.execute(
            &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = $1 AND table_name = $2"),
            &[&run_id, &source_table],
        )
        .await
        .map_err(e)?;
        tx.execute(
            "DELETE FROM _ferry_checkpoints WHERE run_id = $1 AND table_name = $2",
            &[&run_id, &source_table],
        )
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)
    }

}
