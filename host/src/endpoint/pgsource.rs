//! PostgreSQL as a source: introspection and a streaming reader.
//! (Skeleton: the implementation lands with the PostgreSQL source work.)

use tokio::sync::mpsc;

use super::{EndpointError, ReadBatch, TableProfile};
use crate::model::TableDef;

fn unbuilt(url: &str) -> EndpointError {
    EndpointError::BadUrl {
        url: super::redact(url),
        reason: "the PostgreSQL source is not built yet".into(),
    }
}

/// A PostgreSQL database read as a source.
pub struct PgSource {
    name: String,
}

impl PgSource {
    pub async fn open(url: &str) -> Result<PgSource, EndpointError> {
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
