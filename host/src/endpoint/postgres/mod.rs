//! PostgreSQL (`postgres://USER@HOST:PORT/DB[?schema=S]`), with tokio-postgres.
//!
//! - [`source`] — catalog introspection (identity and `serial` columns,
//!   CHECKs, named keys) and a streaming reader:
//!   `COPY (SELECT … ORDER BY key) TO STDOUT (FORMAT binary)` in a
//!   `REPEATABLE READ READ ONLY` transaction;
//! - [`objects`] — views in dependency order, and every other schema object
//!   listed as not carried;
//! - [`sink`] — tables created from the final schema, rows loaded with
//!   `COPY … FROM STDIN (FORMAT binary)`, one transaction per batch;
//! - [`refused`] — values PostgreSQL cannot hold found before the COPY, and
//!   the rows of a refused COPY isolated by bisection; each is one reject;
//! - [`finish`] — keys, indexes, CHECKs and foreign keys after the load,
//!   violating rows quarantined first, consolidation conflicts resolved;
//! - [`after`] — identity counters restarted, `ANALYZE`, views;
//! - [`ledger`] — checksums and backups (tables moved to `_ferry_backup`)
//!   for the ledger, whose tables are written once in `endpoint::sql::ledger`;
//! - [`copy`] — the binary COPY format, both ways;
//! - [`ddl`] — types and the numeric rules the sink declares.

mod after;
mod copy;
mod ddl;
mod decode;
mod finish;
mod keys;
mod ledger;
mod objects;
mod refused;
mod sink;
mod source;

use copy::*;
pub use ddl::*;
use decode::*;
use ledger::*;
use refused::*;
pub use sink::*;
pub use source::*;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::endpoint::sql::{Dialect, SqlConn, SqlError, SqlValue, dialect};
use crate::endpoint::{
    Capabilities, EndpointError, Finished, IfExists, LedgerStore, QuarantineCount, ReadBatch,
    ResumeBy, Scan, TableProfile, TargetTable, Write, WriteOutcome,
};
use crate::ledger::Backup;
use crate::model::TableDef;

/// What a PostgreSQL database can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    scheme: "postgres",
    example: "postgres://USER@HOST:PORT/DB",
    source: true,
    sink: true,
    ledger: true,
    transactions: true,
    upsert: true,
    delete: true,
    conflict_policies: true,
    // One COPY stream per core of this class of machine; more only queue
    // on the server.
    parallel_writers: 2,
    // NAMEDATALEN - 1; longer names are silently truncated by the server.
    identifiers: Some((MAX_IDENT_BYTES, false)),
    reserved_words: RESERVED_WORDS,
    resume: ResumeBy::Key,
    cursor_scan: true,
    incremental_by_marks: true,
    parallel_reads: true,
    samples_values: false,
    reread_to_verify: true,
    dry_run_reads: false,
    stores_nul: false,
    foreign_keys_need_index: true,
    // DDL is transactional and `finish` skips what exists; a table's key
    // builds lock that table only, so the others load on.
    keys_while_loading: true,
};

#[async_trait]
impl crate::endpoint::Source for PgSource {
    fn describe(&self) -> String {
        PgSource::describe(self)
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        PgSource::tables(self).await
    }

    async fn objects(
        &self,
        tables: &[TableDef],
    ) -> Result<crate::model::SchemaObjects, EndpointError> {
        PgSource::objects(self, tables).await
    }

    async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        PgSource::count(self, table).await
    }

    async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        PgSource::profile(self, table, sample).await
    }

    async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError> {
        PgSource::quarantined(self).await
    }

    async fn resumable(&self, table: &TableDef) -> Result<bool, EndpointError> {
        Ok(PgSource::resumable(table).is_some())
    }

    fn read(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        tokio::spawn(async move { self.read_scan(&table, batch_size, &scan, &tx).await })
    }

    async fn raw_format(
        &self,
        table: &TableDef,
    ) -> Result<Option<crate::endpoint::RawFormat>, EndpointError> {
        PgSource::raw_format(self, table).await
    }

    fn read_raw(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        tokio::spawn(async move { self.read_raw_scan(&table, batch_size, &scan, &tx).await })
    }
}

#[async_trait]
impl crate::endpoint::Sink for PgSink {
    fn describe(&self) -> String {
        PgSink::describe(self)
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn existing_tables(&mut self, names: &[String]) -> Result<Vec<String>, EndpointError> {
        PgSink::existing_tables(self, names).await
    }

    async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        PgSink::prepare(self, tables, if_exists).await
    }

    async fn write(&mut self, w: Write<'_>) -> Result<WriteOutcome, EndpointError> {
        PgSink::write_batch(self, w).await
    }

    async fn accepts_raw(
        &mut self,
        table: &TargetTable,
        format: &crate::endpoint::RawFormat,
    ) -> Result<bool, EndpointError> {
        PgSink::accepts_raw(self, table, format).await
    }

    async fn sends_verbatim(&mut self, table: &TargetTable) -> Result<bool, EndpointError> {
        PgSink::sends_verbatim(self, table).await
    }

    async fn foreign_keys(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        PgSink::foreign_keys(self, run_id, tables).await
    }

    async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError> {
        PgSink::finish(self, run_id, tables).await
    }

    async fn sync_identity(
        &mut self,
        tables: &[TargetTable],
    ) -> Result<Vec<String>, EndpointError> {
        PgSink::sync_identity(self, tables).await
    }

    async fn analyze(&mut self, tables: &[TargetTable]) -> Result<(), EndpointError> {
        PgSink::analyze(self, tables).await
    }

    async fn create_views(
        &mut self,
        views: &[crate::model::ViewDef],
        if_exists: IfExists,
    ) -> Result<Vec<crate::endpoint::ViewOutcome>, EndpointError> {
        crate::endpoint::sql::views::create_views(self, views, if_exists, " CASCADE").await
    }

    async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        PgSink::table_checksum(self, table).await
    }

    /// A replacing run moves each table to `_ferry_backup`; one that changes
    /// tables in place copies them there. Each is recorded in the same
    /// transaction; the `absent` ones are left to the caller.
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
                self.backup_table(run_id, &b.table, b, in_place).await?;
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
        PgSink::restore_table(self, table, kind, backup).await
    }

    async fn discard_backup(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        PgSink::discard_backup(self, table, kind, backup).await
    }

    async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        PgSink::delete_run_rejects(self, run_id).await
    }

    async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        PgSink::restart_table(self, run_id, table, source_table).await
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
        PgSink::delete_rows(self, table, eq, column, values).await
    }

    fn set_conflict(&mut self, policy: Option<crate::consolidate::Conflict>) {
        self.conflict = policy;
    }

    fn ledger(&mut self) -> Option<&mut dyn LedgerStore> {
        Some(self)
    }
}

/// A ledger parameter as tokio-postgres sends it: converted to whatever
/// type the server inferred for its placeholder (a NULL fits any).
impl ToSql for SqlValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                _ => i.to_string().to_sql(ty, out),
            },
            SqlValue::Bool(b) => match *ty {
                Type::BOOL => b.to_sql(ty, out),
                Type::INT8 => i64::from(*b).to_sql(ty, out),
                _ => b.to_string().to_sql(ty, out),
            },
            SqlValue::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A driver error as the ledger's SQL layer sees it.
/// A connection to `url`, its protocol driven on a task of its own;
/// `what` names it in the debug line written when it ends with an error
/// (the queries that needed it fail with that error themselves).
async fn open_client(
    url: &str,
    what: &'static str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("postgres {what} connection ended: {e}");
        }
    });
    Ok(client)
}

fn sql_error(e: &tokio_postgres::Error) -> SqlError {
    SqlError {
        message: pg_message(e),
        transient: pg_transient(e),
    }
}

/// Ledger parameters as tokio-postgres takes them.
pub(super) fn params(p: &[SqlValue]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

#[async_trait]
impl SqlConn for PgSink {
    fn dialect(&self) -> &'static Dialect {
        &dialect::POSTGRES
    }

    async fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlError> {
        let messages = self
            .client
            .simple_query(sql)
            .await
            .map_err(|e| sql_error(&e))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect())
    }

    fn endpoint_name(&self) -> String {
        self.name.clone()
    }

    async fn exec(&mut self, sql: &str, p: &[SqlValue]) -> Result<u64, SqlError> {
        if p.is_empty() {
            // Statements without parameters (BEGIN, DDL) go as simple queries.
            return self
                .client
                .batch_execute(sql)
                .await
                .map(|_| 0)
                .map_err(|e| sql_error(&e));
        }
        self.client
            .execute(sql, &params(p))
            .await
            .map_err(|e| sql_error(&e))
    }

    async fn query(&mut self, sql: &str, p: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, SqlError> {
        let rows = self
            .client
            .query(sql, &params(p))
            .await
            .map_err(|e| sql_error(&e))?;
        let value =
            |r: &tokio_postgres::Row, i: usize| -> Result<SqlValue, tokio_postgres::Error> {
                let ty = r.columns()[i].type_().clone();
                Ok(match ty {
                    Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(SqlValue::Int),
                    Type::INT4 => r
                        .try_get::<_, Option<i32>>(i)?
                        .map(|v| SqlValue::Int(v.into())),
                    Type::INT2 => r
                        .try_get::<_, Option<i16>>(i)?
                        .map(|v| SqlValue::Int(v.into())),
                    Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(SqlValue::Bool),
                    _ => r.try_get::<_, Option<String>>(i)?.map(SqlValue::Text),
                }
                .unwrap_or(SqlValue::Null))
            };
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| value(r, i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sql_error(&e))
    }
}
