//! SQLite (`sqlite:PATH`): a source and a sink on a database file, with
//! bundled SQLite (rusqlite).
//!
//! - [`source`] — sampling and the streaming reader (keyset on rowid,
//!   cursor scans; NULL keys and values that do not fit quarantined);
//! - [`introspect`] — tables (keys, identity, names and CHECKs from the
//!   stored DDL), views and what is not carried, extents of stored values;
//! - [`parse`] — a tokenizer and reader of SQLite's stored `CREATE`s;
//! - [`sink`] — tables, batches in one transaction each (refused rows
//!   isolated one by one), keys after the load, identity counters, views;
//! - [`after_load`] — identity counters (`sqlite_sequence`), `ANALYZE`, views;
//! - [`backup`] — checksums, snapshots of the file as backups, restores
//!   (the ledger's tables are written once in `endpoint::sql::ledger`);
//! - [`types`] — values: SQLite storage classes ↔ ferry's logical types;
//! - [`ddl`] — the types and `CREATE TABLE` the sink writes.

mod after_load;
mod backup;
mod ddl;
mod introspect;
mod parse;
mod sink;
mod source;
mod types;

pub use ddl::*;
pub use sink::*;
pub use source::*;
pub use types::*;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::endpoint::sql::{Dialect, SqlConn, SqlError, SqlValue, dialect};
use crate::endpoint::{
    Capabilities, EndpointError, Extent, Finished, IfExists, LedgerStore, QuarantineCount,
    ReadBatch, ResumeBy, Scan, TableProfile, TargetTable, ViewOutcome, Write, WriteOutcome,
    join_error,
};
use crate::ledger::Backup;
use crate::model::{ColumnSample, SchemaObjects, TableDef, ViewDef};

/// What a SQLite database can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    scheme: "sqlite",
    example: "sqlite:PATH",
    source: true,
    sink: true,
    ledger: true,
    transactions: true,
    upsert: true,
    delete: true,
    conflict_policies: false,
    // One writer: SQLite serialises writes to a file.
    parallel_writers: 1,
    identifiers: None,
    reserved_words: &[],
    resume: ResumeBy::Key,
    cursor_scan: true,
    incremental_by_marks: true,
    // Read-only connections on one file: concurrent readers are fine.
    parallel_reads: true,
    // Declared types do not say what is stored (type affinity).
    samples_values: true,
    reread_to_verify: true,
    dry_run_reads: false,
    stores_nul: true,
    foreign_keys_need_index: true,
    keys_while_loading: false,
};

/// Runs a blocking SQLite call off the async workers.
async fn blocking<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T, EndpointError> + Send + 'static,
) -> Result<T, EndpointError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| join_error(name, &e))?
}

#[async_trait]
impl crate::endpoint::Source for SqliteSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        let s = self.clone();
        blocking(&self.name, move || s.tables()).await
    }

    async fn objects(&self, tables: &[TableDef]) -> Result<SchemaObjects, EndpointError> {
        let (s, t) = (self.clone(), tables.to_vec());
        blocking(&self.name, move || s.objects(&t)).await
    }

    async fn extents(
        &self,
        table: &TableDef,
        columns: &[String],
    ) -> Result<Option<Vec<Extent>>, EndpointError> {
        let (s, t, c) = (self.clone(), table.clone(), columns.to_vec());
        blocking(&self.name, move || s.extents(&t, &c).map(Some)).await
    }

    async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        let (s, t) = (self.clone(), table.to_string());
        blocking(&self.name, move || s.count(&t)).await
    }

    async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        let (s, t) = (self.clone(), table.clone());
        blocking(&self.name, move || s.profile(&t, sample)).await
    }

    async fn column_samples(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<Option<Vec<ColumnSample>>, EndpointError> {
        let (s, t) = (self.clone(), table.clone());
        blocking(&self.name, move || s.column_samples(&t, sample).map(Some)).await
    }

    async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError> {
        let s = self.clone();
        blocking(&self.name, move || s.quarantined()).await
    }

    async fn resumable(&self, table: &TableDef) -> Result<bool, EndpointError> {
        let (s, t) = (self.clone(), table.name.clone());
        blocking(&self.name, move || s.has_rowid(&t)).await
    }

    fn read(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        tokio::task::spawn_blocking(move || {
            SqliteSource::read(
                &self,
                &table,
                batch_size,
                &scan,
                |batch, rejects, rows_read, position, cursor| {
                    tx.blocking_send(ReadBatch {
                        batch,
                        rejects,
                        rows_read,
                        position,
                        cursor,
                        replace: None,
                        state: None,
                        raw: None,
                    })
                    .is_ok()
                },
            )
        })
    }
}

#[async_trait]
impl crate::endpoint::Sink for SqliteSink {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn existing_tables(&mut self, names: &[String]) -> Result<Vec<String>, EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::existing_tables(self, names))
    }

    async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::prepare(self, tables, if_exists))
    }

    async fn write(&mut self, w: Write<'_>) -> Result<WriteOutcome, EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::write_batch(self, w))
    }

    async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::finish(self, run_id, tables))
    }

    async fn sync_identity(
        &mut self,
        tables: &[TargetTable],
    ) -> Result<Vec<String>, EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::sync_identity(self, tables))
    }

    async fn analyze(&mut self, tables: &[TargetTable]) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::analyze(self, tables))
    }

    async fn create_views(
        &mut self,
        views: &[ViewDef],
        if_exists: IfExists,
    ) -> Result<Vec<ViewOutcome>, EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::create_views(self, views, if_exists))
    }

    async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::table_checksum(self, table))
    }

    /// One snapshot of the whole file (`VACUUM INTO`) keeps every replaced
    /// table; each is recorded with it.
    async fn backup_tables(
        &mut self,
        run_id: &str,
        backups: &[Backup],
        _in_place: bool,
    ) -> Result<Vec<Backup>, EndpointError> {
        let (absent, existing): (Vec<&Backup>, Vec<&Backup>) =
            backups.iter().partition(|b| b.kind == "absent");
        let mut out: Vec<Backup> = absent.into_iter().cloned().collect();
        if !existing.is_empty() {
            let file = tokio::task::block_in_place(|| self.snapshot(run_id))?;
            out.extend(existing.into_iter().map(|b| Backup {
                kind: "snapshot".into(),
                backup_ref: Some(file.clone()),
                ..b.clone()
            }));
        }
        Ok(out)
    }

    async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::restore_table(self, table, kind, backup))
    }

    async fn discard_backup(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        // A snapshot is one file for the run's tables: the first removes it.
        match (kind, backup) {
            ("snapshot", Some(file)) => match std::fs::remove_file(file) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(EndpointError::Query {
                    endpoint: self.describe(),
                    table: Some(table.to_string()),
                    reason: format!("removing the snapshot {file}: {e}"),
                }),
            },
            _ => Ok(()),
        }
    }

    async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::delete_run_rejects(self, run_id))
    }

    async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| SqliteSink::restart_table(self, run_id, table, source_table))
    }

    async fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        if values.is_empty() {
            return Ok(0);
        }
        tokio::task::block_in_place(|| SqliteSink::delete_rows(self, table, eq, column, values))
    }

    fn ledger(&mut self) -> Option<&mut dyn LedgerStore> {
        Some(self)
    }
}

/// A ledger parameter as rusqlite binds it.
pub(super) fn to_param(v: &SqlValue) -> rusqlite::types::Value {
    match v {
        SqlValue::Null => rusqlite::types::Value::Null,
        SqlValue::Int(i) => rusqlite::types::Value::Integer(*i),
        SqlValue::Text(s) => rusqlite::types::Value::Text(s.clone()),
        SqlValue::Bool(b) => rusqlite::types::Value::Integer(i64::from(*b)),
    }
}

/// Every row of `sql`, each value mapped by `value`.
fn all_rows<T>(
    conn: &Connection,
    sql: &str,
    params: &[SqlValue],
    value: impl Fn(ValueRef<'_>) -> T,
) -> Result<Vec<Vec<T>>, SqlError> {
    let err = |e: rusqlite::Error| SqlError::from(e.to_string());
    let mut st = conn.prepare(sql).map_err(err)?;
    let n = st.column_count();
    let rows = st
        .query_map(
            rusqlite::params_from_iter(params.iter().map(to_param)),
            |r| (0..n).map(|i| Ok(value(r.get_ref(i)?))).collect(),
        )
        .map_err(err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
}

#[async_trait]
impl SqlConn for SqliteSink {
    fn dialect(&self) -> &'static Dialect {
        &dialect::SQLITE
    }

    async fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        tokio::task::block_in_place(|| {
            all_rows(&self.conn, sql, &[], |v| match v {
                ValueRef::Null => None,
                ValueRef::Integer(v) => Some(v.to_string()),
                ValueRef::Real(v) => Some(v.to_string()),
                // Bytes as PostgreSQL renders bytea (`\\x…`), text that
                // is not UTF-8 included.
                ValueRef::Text(t) => Some(
                    String::from_utf8(t.to_vec())
                        .unwrap_or_else(|_| format!("\\x{}", hex::encode(t))),
                ),
                ValueRef::Blob(b) => Some(format!("\\x{}", hex::encode(b))),
            })
        })
    }

    fn endpoint_name(&self) -> String {
        self.name.clone()
    }

    async fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError> {
        tokio::task::block_in_place(|| {
            self.conn
                .execute(sql, rusqlite::params_from_iter(params.iter().map(to_param)))
                .map(|n| n as u64)
                .map_err(|e| SqlError::from(e.to_string()))
        })
    }

    async fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        tokio::task::block_in_place(|| {
            all_rows(&self.conn, sql, params, |v| match v {
                ValueRef::Null => SqlValue::Null,
                ValueRef::Integer(v) => SqlValue::Int(v),
                ValueRef::Real(v) => SqlValue::Text(v.to_string()),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                }
            })
        })
    }
}
