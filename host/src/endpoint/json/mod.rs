//! JSON directory endpoint (`json:DIR`): one JSON Lines file per table plus a
//! schema file. The format is specified in `docs/json-format.md`:
//!
//! - `DIR/_schema.json` — `{"format":"ferry-json","version":1,"tables":[TableDef…]}`;
//! - `DIR/<table>.jsonl` — one object per row, keys = column names in column order;
//! - `DIR/_ferry_rejects.jsonl` — the quarantine file (the `_ferry_rejects` table's equivalent).
//!
//! Every value is encoded so it round-trips exactly (see `encode_value`);
//! a value that does not decode as its column's type is a reject at read,
//! never a guess. `finish` enforces the recorded keys as a database would:
//! duplicates and foreign-key orphans move to the quarantine file.
//!
//! Options (`json:DIR?…`, see `split_url`): a source's `normalise=T.C`
//! reads json column `C`'s arrays of objects as a child table `T__C`
//! (`table_records`); a target's `nest=T__C` folds that child table back
//! into `C` in `finish` (`JsonSink::nest_one`) and records it in
//! `_schema.json`, so the same URL read as a source (verify) shows the
//! child table again.
//!
//! Blocking IO: the source runs each whole operation in
//! `tokio::task::spawn_blocking` (it owns its inputs, and a long scan must
//! not hold a runtime worker); the sink borrows `&mut self` and its open
//! writers, so it uses `tokio::task::block_in_place`, as the SQLite sink does.
//!
//! Layout: [`layout`] (file names, URL options, the schema file), [`encode`]
//! and [`decode`] (values both ways, the line/array scanner), [`infer`]
//! (schemaless directories), [`normalise`] and [`nest`] (child tables of
//! json arrays), [`source`], [`sink`], [`keys`] (enforcing keys in
//! `finish`), [`backup`] (positions, copies and restores for the ledger).

mod backup;
mod decode;
mod encode;
mod infer;
mod keys;
mod layout;
mod nest;
mod normalise;
mod sink;
mod source;

use decode::*;
pub use encode::*;
use infer::*;
use keys::*;
use layout::*;
use nest::*;
use normalise::*;
pub use sink::*;
pub use source::*;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use tokio::sync::mpsc;

use crate::endpoint::{
    Capabilities, EndpointError, Feature, Finished, IfExists, QuarantineCount, ReadBatch, ResumeBy,
    Rewind, Scan, TableProfile, TargetTable, Write, WriteOutcome, unsupported_scan,
};
use crate::ledger::Backup;
use crate::model::TableDef;

/// What a JSON directory can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    scheme: "json",
    example: "json:DIR",
    source: true,
    sink: true,
    // No transactions across files: the ledger lives in `--state`, and a
    // resume cuts the files back to the lengths checkpoints recorded.
    ledger: false,
    transactions: false,
    upsert: false,
    delete: false,
    conflict_policies: false,
    // One writer: the quarantine file is shared by every table.
    parallel_writers: 1,
    identifiers: None,
    reserved_words: &[],
    resume: ResumeBy::Reload,
    cursor_scan: false,
    incremental_by_marks: true,
    // Each reader opens its own file.
    parallel_reads: true,
    samples_values: false,
    reread_to_verify: true,
    dry_run_reads: false,
    stores_nul: true,
    foreign_keys_need_index: false,
    keys_while_loading: false,
};

#[async_trait]
impl crate::endpoint::Source for JsonSource {
    fn describe(&self) -> String {
        JsonSource::describe(self)
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        JsonSource::tables(self).await
    }

    async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        JsonSource::count(self, table).await
    }

    async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        JsonSource::profile(self, table, sample).await
    }

    async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError> {
        JsonSource::quarantined(self).await
    }

    fn read(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        if !matches!(scan, Scan::All | Scan::Unordered) {
            return unsupported_scan(&CAPABILITIES, self.describe(), table.name);
        }
        tokio::spawn(async move { JsonSource::read(&self, &table, batch_size, &tx).await })
    }
}

#[async_trait]
impl crate::endpoint::Sink for JsonSink {
    fn describe(&self) -> String {
        JsonSink::describe(self)
    }

    fn capabilities(&self) -> &'static Capabilities {
        &CAPABILITIES
    }

    async fn existing_tables(&mut self, names: &[String]) -> Result<Vec<String>, EndpointError> {
        JsonSink::existing_tables(self, names).await
    }

    async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        JsonSink::prepare(self, tables, if_exists).await
    }

    async fn write(&mut self, w: Write<'_>) -> Result<WriteOutcome, EndpointError> {
        if w.upsert {
            return Err(EndpointError::Unsupported(
                CAPABILITIES.cannot(&self.describe(), Feature::Upsert),
            ));
        }
        if w.replace.is_some_and(|r| !r.values.is_empty()) {
            return Err(EndpointError::Unsupported(
                CAPABILITIES.cannot(&self.describe(), Feature::Delete),
            ));
        }
        // The checkpoint is recorded by the caller in `--state`, after the
        // write is flushed (see `write_position`).
        JsonSink::write(self, w.run_id, w.table, w.batch, w.rejects).await
    }

    async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError> {
        JsonSink::finish(self, run_id, tables).await
    }

    async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        tokio::task::block_in_place(|| JsonSink::table_checksum(self, table))
    }

    /// One copy of the whole directory restores it exactly: every table of
    /// the run is recorded with it (kind `files`), whether it existed or not.
    async fn backup_tables(
        &mut self,
        run_id: &str,
        backups: &[Backup],
        _in_place: bool,
    ) -> Result<Vec<Backup>, EndpointError> {
        let copy = tokio::task::block_in_place(|| self.backup_files(run_id))?;
        Ok(backups
            .iter()
            .map(|b| Backup {
                kind: "files".into(),
                backup_ref: Some(copy.clone()),
                ..b.clone()
            })
            .collect())
    }

    async fn restore_table(
        &mut self,
        table: &str,
        _kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| self.restore_files(table, backup))
    }

    async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| JsonSink::delete_run_rejects(self, run_id))
    }

    /// Empties the table's file (its checkpoint lives in `--state`).
    async fn restart_table(
        &mut self,
        _run_id: &str,
        table: &str,
        _source_table: &str,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| self.truncate_back(table, None, None))
    }

    async fn delete_rows(
        &mut self,
        table: &str,
        _eq: Option<(&str, &str)>,
        _column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        if values.is_empty() {
            return Ok(0);
        }
        Err(EndpointError::Query {
            endpoint: self.describe(),
            table: Some(table.to_string()),
            reason: CAPABILITIES.cannot(&self.describe(), Feature::Delete),
        })
    }

    fn write_position(&self, table: &str) -> Result<Option<String>, EndpointError> {
        self.offsets(table).map(Some)
    }

    /// Cuts every unfinished table's file back to its checkpoint's length
    /// (to nothing without one), and the shared quarantine file to the
    /// longest length any checkpoint recorded; without any, this run's
    /// quarantine records are removed.
    async fn rewind(&mut self, run_id: &str, tables: &[Rewind<'_>]) -> Result<(), EndpointError> {
        let lengths = |cp: &crate::ledger::Checkpoint| -> (Option<u64>, Option<u64>) {
            let v: Option<serde_json::Value> = cp
                .offsets
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok());
            let get = |k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(|n| n.as_u64());
            (get("table"), get("rejects"))
        };
        let cut = tables
            .iter()
            .filter_map(|t| t.checkpoint.and_then(|c| lengths(c).1))
            .max();
        for t in tables {
            if t.checkpoint.is_some_and(|c| c.done) {
                continue;
            }
            let len = t.checkpoint.and_then(|c| lengths(c).0);
            tokio::task::block_in_place(|| self.truncate_back(t.table, len, cut))?;
        }
        if cut.is_none() {
            tokio::task::block_in_place(|| JsonSink::delete_run_rejects(self, run_id))?;
        }
        Ok(())
    }
}
