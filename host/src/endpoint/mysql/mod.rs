//! MySQL / MariaDB: introspection, a streaming reader, and a sink.
//!
//! Driver: `mysql_async` (tokio, pure Rust, no TLS). Every session runs with
//! `ANSI_QUOTES` (so identifiers are quoted `"like this"`, as for SQLite and
//! PostgreSQL), `NO_BACKSLASH_ESCAPES` (so a string literal only doubles its
//! quotes), `time_zone = '+00:00'` and `utf8mb4`. The sink adds strict mode.
//!
//! Reading uses the binary protocol (one prepared `SELECT … ORDER BY pk`
//! streamed row by row), so numbers, dates and times arrive typed, never as
//! text to be re-parsed. Writing uses multi-row `INSERT … VALUES (…),(…)` of
//! literals the sink encodes itself after checking that each value fits its
//! column exactly (MySQL silently rounds extra decimal fraction digits, even
//! in strict mode).
//!
//! - [`source`] — introspection and the streaming reader (binary protocol);
//! - [`objects`] — views and what the source holds that is not carried;
//! - [`types`] — MySQL values read exactly into ferry's logical types;
//! - [`encode`] — the column types the sink declares (the plan's declared
//!   types where MySQL has them and the row has room) and the literals it writes;
//! - [`sink`] — tables and batches (multi-row INSERTs in one transaction);
//! - [`refused`] — rows the server refuses, isolated by bisection;
//! - [`finish`] — keys, indexes, CHECKs and foreign keys after the load, one
//!   `ALTER` per table, tables side by side;
//! - [`after`] — identity counters, `ANALYZE`, views;
//! - [`ledger`] — checksums, backups (copies) and restores for the ledger,
//!   whose tables are written once in `endpoint::sql::ledger`;
//! - [`conn`] — sessions, errors and SQL literals.

mod after;
mod conn;
mod encode;
mod finish;
mod ledger;
mod objects;
mod refused;
mod sink;
mod source;
mod types;

use conn::*;
pub use encode::*;
use objects::*;
use refused::*;
pub use sink::*;
pub use source::*;
pub use types::*;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::endpoint::sql::{Dialect, SqlConn, SqlError, SqlValue, dialect};
use crate::endpoint::{
    Capabilities, EndpointError, Finished, IfExists, LedgerStore, QuarantineCount, ReadBatch,
    ResumeBy, Scan, TableProfile, TargetTable, ViewOutcome, Write, WriteOutcome, unsupported_scan,
};
use crate::ledger::Backup;
use crate::model::{SchemaObjects, TableDef, ViewDef};

/// What a MySQL or MariaDB database can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    scheme: "mysql",
    example: "mysql://USER@HOST:PORT/DB",
    source: true,
    sink: true,
    ledger: true,
    transactions: true,
    upsert: true,
    delete: true,
    conflict_policies: false,
    // As PostgreSQL: one loading connection per core.
    parallel_writers: 2,
    // 64 characters, taken as 64 bytes so a fitted name always fits;
    // column names compare case-insensitively.
    identifiers: Some((MAX_IDENT_CHARS, true)),
    reserved_words: &[],
    resume: ResumeBy::Key,
    cursor_scan: false,
    incremental_by_marks: true,
    parallel_reads: true,
    samples_values: false,
    reread_to_verify: true,
    dry_run_reads: false,
    stores_nul: true,
    foreign_keys_need_index: false,
    keys_while_loading: false,
};

#[async_trait]
impl crate::endpoint::Source for MysqlSource {
    fn describe(&self) -> String {
        MysqlSource::describe(self)
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        MysqlSource::tables(self).await
    }

    async fn objects(&self, tables: &[TableDef]) -> Result<SchemaObjects, EndpointError> {
        MysqlSource::objects(self, tables).await
    }

    async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        MysqlSource::count(self, table).await
    }

    async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        MysqlSource::profile(self, table, sample).await
    }

    async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError> {
        MysqlSource::quarantined(self).await
    }

    async fn resumable(&self, table: &TableDef) -> Result<bool, EndpointError> {
        Ok(MysqlSource::resumable(table).is_some())
    }

    fn read(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        let after = match scan {
            // InnoDB reads a table in key order at no cost (its clustered
            // index is the table).
            Scan::All | Scan::Unordered => None,
            Scan::AfterKey(k) => Some(k),
            Scan::Cursor { .. } => {
                return unsupported_scan(&CAPABILITIES, self.describe(), table.name);
            }
        };
        tokio::spawn(async move { self.read_after(&table, batch_size, after, &tx).await })
    }
}

#[async_trait]
impl crate::endpoint::Sink for MysqlSink {
    fn describe(&self) -> String {
        MysqlSink::describe(self)
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn existing_tables(&mut self, names: &[String]) -> Result<Vec<String>, EndpointError> {
        MysqlSink::existing_tables(self, names).await
    }

    async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        MysqlSink::prepare(self, tables, if_exists).await
    }

    async fn write(&mut self, w: Write<'_>) -> Result<WriteOutcome, EndpointError> {
        MysqlSink::write_batch(self, w).await
    }

    async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError> {
        MysqlSink::finish(self, run_id, tables).await
    }

    async fn sync_identity(
        &mut self,
        tables: &[TargetTable],
    ) -> Result<Vec<String>, EndpointError> {
        MysqlSink::sync_identity(self, tables).await
    }

    async fn analyze(&mut self, tables: &[TargetTable]) -> Result<(), EndpointError> {
        MysqlSink::analyze(self, tables).await
    }

    async fn create_views(
        &mut self,
        views: &[ViewDef],
        if_exists: IfExists,
    ) -> Result<Vec<ViewOutcome>, EndpointError> {
        crate::endpoint::sql::views::create_views(self, views, if_exists, "").await
    }

    async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        MysqlSink::table_checksum(self, table).await
    }

    /// Each replaced table is copied (its definition kept with the copy:
    /// InnoDB's foreign key names are database-wide, so the old table cannot
    /// keep them beside the new one) and recorded; `absent` ones are left to
    /// the caller.
    async fn backup_tables(
        &mut self,
        run_id: &str,
        backups: &[Backup],
        in_place: bool,
    ) -> Result<Vec<Backup>, EndpointError> {
        let mut out = Vec::new();
        for b in backups {
            if b.kind == "absent" {
                out.push(b.clone());
            } else {
                self.backup_table(run_id, b, in_place).await?;
            }
        }
        Ok(out)
    }

    async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        MysqlSink::restore_table(self, table, kind, backup).await
    }

    async fn discard_backup(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        MysqlSink::discard_backup(self, table, kind, backup).await
    }

    async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        MysqlSink::delete_run_rejects(self, run_id).await
    }

    async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        MysqlSink::restart_table(self, run_id, table, source_table).await
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
        MysqlSink::delete_rows(self, table, eq, column, values).await
    }

    fn ledger(&mut self) -> Option<&mut dyn LedgerStore> {
        Some(self)
    }
}

/// A driver error as the ledger's SQL layer sees it.
fn my_sql_error(e: &mysql_async::Error) -> SqlError {
    SqlError {
        message: my_message(e),
        transient: my_transient(e),
    }
}

/// Ledger parameters as mysql_async binds them.
pub(super) fn params(p: &[SqlValue]) -> Vec<mysql_async::Value> {
    p.iter()
        .map(|v| match v {
            SqlValue::Null => mysql_async::Value::NULL,
            SqlValue::Int(i) => mysql_async::Value::Int(*i),
            SqlValue::Text(s) => mysql_async::Value::Bytes(s.as_bytes().to_vec()),
            SqlValue::Bool(b) => mysql_async::Value::Int(i64::from(*b)),
        })
        .collect()
}

#[async_trait]
impl SqlConn for MysqlSink {
    fn dialect(&self) -> &'static Dialect {
        &dialect::MYSQL
    }

    async fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        use mysql_async::prelude::Queryable;
        let rows: Vec<mysql_async::Row> =
            self.conn.query(sql).await.map_err(|e| my_sql_error(&e))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                mysql_async::Row::unwrap(r)
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => None,
                        // Bytes that are not UTF-8 as PostgreSQL renders bytea.
                        mysql_async::Value::Bytes(b) => Some(
                            String::from_utf8(b)
                                .unwrap_or_else(|e| format!("\\x{}", hex::encode(e.as_bytes()))),
                        ),
                        other => Some(other.as_sql(true)),
                    })
                    .collect()
            })
            .collect())
    }

    fn endpoint_name(&self) -> String {
        self.name.clone()
    }

    async fn exec(&mut self, sql: &str, p: &[SqlValue]) -> Result<u64, SqlError> {
        use mysql_async::prelude::Queryable;
        let res = if p.is_empty() {
            // Statements without parameters (DDL, transaction control) go
            // over the text protocol.
            self.conn.query_drop(sql).await
        } else {
            self.conn.exec_drop(sql, params(p)).await
        };
        res.map(|()| self.conn.affected_rows())
            .map_err(|e| my_sql_error(&e))
    }

    async fn query(&mut self, sql: &str, p: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        use mysql_async::prelude::Queryable;
        let rows: Vec<mysql_async::Row> = if p.is_empty() {
            self.conn.query(sql).await
        } else {
            self.conn.exec(sql, params(p)).await
        }
        .map_err(|e| my_sql_error(&e))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                mysql_async::Row::unwrap(r)
                    .into_iter()
                    .map(|v| match v {
                        mysql_async::Value::NULL => SqlValue::Null,
                        mysql_async::Value::Int(i) => SqlValue::Int(i),
                        mysql_async::Value::UInt(u) => {
                            SqlValue::Int(i64::try_from(u).unwrap_or(i64::MAX))
                        }
                        mysql_async::Value::Bytes(b) => {
                            SqlValue::Text(String::from_utf8_lossy(&b).into_owned())
                        }
                        other => SqlValue::Text(other.as_sql(true)),
                    })
                    .collect()
            })
            .collect())
    }
}
