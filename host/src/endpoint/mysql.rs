//! MySQL / MariaDB: introspection, a streaming reader, and a sink.
//! (Skeleton: the implementation lands with the MySQL endpoint work.)

use tokio::sync::mpsc;

use super::{EndpointError, IfExists, ReadBatch, TableProfile, TargetTable, WriteOutcome};
use crate::model::{Batch, ColumnDef, Reject, TableDef};

fn unbuilt(url: &str) -> EndpointError {
    EndpointError::BadUrl {
        url: super::redact(url),
        reason: "the MySQL endpoint is not built yet".into(),
    }
}

/// A MySQL/MariaDB database read as a source.
pub struct MysqlSource {
    name: String,
}

impl MysqlSource {
    pub async fn open(url: &str) -> Result<MysqlSource, EndpointError> {
        Err(unbuilt(url))
    }
    pub fn describe(&self) -> String {
        self.name.clone()
    }
    pub async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        Err(unbuilt(&self.name))
    }
    pub async fn count(&self, _table: &str) -> Result<u64, EndpointError> {
        Err(unbuilt(&self.name))
    }
    /// Streams `table` in key order into `tx`; stops early when the receiver is dropped.
    pub async fn read(
        &self,
        _table: &TableDef,
        _batch_size: usize,
        _tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        Err(unbuilt(&self.name))
    }
    /// Rows in the rejects table per run and table (empty when there is none).
    pub async fn quarantined(&self) -> Result<Vec<super::QuarantineCount>, EndpointError> {
        Err(unbuilt(&self.name))
    }
    pub async fn profile(
        &self,
        _table: &TableDef,
        _sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        Err(unbuilt(&self.name))
    }
}

/// A MySQL/MariaDB database written as a sink.
pub struct MysqlSink {
    name: String,
}

impl MysqlSink {
    pub async fn connect(url: &str) -> Result<MysqlSink, EndpointError> {
        Err(unbuilt(url))
    }
    pub fn describe(&self) -> String {
        self.name.clone()
    }
    pub async fn existing_tables(
        &mut self,
        _names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        Err(unbuilt(&self.name))
    }
    pub async fn prepare(
        &mut self,
        _tables: &[TargetTable],
        _if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        Err(unbuilt(&self.name))
    }
    pub async fn write(
        &mut self,
        _run_id: &str,
        _table: &TargetTable,
        _batch: &Batch,
        _rejects: &[Reject],
    ) -> Result<WriteOutcome, EndpointError> {
        Err(unbuilt(&self.name))
    }
    pub async fn finish(
        &mut self,
        _run_id: &str,
        _tables: &[TargetTable],
    ) -> Result<super::Finished, EndpointError> {
        Err(unbuilt(&self.name))
    }
}

/// The MySQL column type a sink creates for a column.
pub fn column_type(_source: &TableDef, c: &ColumnDef) -> String {
    c.logical_type.name().to_string()
}
