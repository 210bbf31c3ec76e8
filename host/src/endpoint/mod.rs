//! Endpoints: where data lives. The only layer that knows database drivers
//! and file formats.
//!
//! Every endpoint is a driver in its own folder, split by concern, that
//! declares its [`Capabilities`] and implements the [`Source`] and [`Sink`]
//! traits (and, through [`sql::SqlConn`], the [`LedgerStore`]):
//!
//! | endpoint | source | sink | ledger | driver |
//! | --- | --- | --- | --- | --- |
//! | `sqlite:PATH` | yes | yes | in the file | rusqlite (bundled SQLite) |
//! | `postgres://…` | binary `COPY … TO` | binary `COPY … FROM` | in the database | tokio-postgres |
//! | `mysql://…` (MySQL, MariaDB) | binary protocol | multi-row `INSERT` | in the database | mysql_async |
//! | `json:DIR` | JSON Lines + `_schema.json` | same | in `--state` | serde_json |
//! | `files:DIR` | parser plugins | — | — | the plugin runtime |
//!
//! The engine opens endpoints with [`open_source`] / [`open_sink`] and asks
//! [`capabilities`] what they can do; it never asks which one it has.
//! Type mapping: `docs/type-mapping.md`.

pub mod capabilities;
mod error;
pub mod files;
pub mod json;
pub mod mysql;
pub mod postgres;
pub mod sql;
pub mod sqlite;
mod url;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use capabilities::{Capabilities, Feature, KEY_MARK, PATH_MARK, ResumeBy};
pub use error::EndpointError;
pub use url::{EndpointUrl, redact};

use crate::ledger::{Backup, Checkpoint, Mark, RunRecord};
use crate::model::{Batch, ColumnSample, Reject, SchemaObjects, TableDef, ViewDef};

/// Every driver's declaration, for messages that name who can do what.
pub static ALL: [Capabilities; 5] = [
    sqlite::CAPABILITIES,
    postgres::CAPABILITIES,
    mysql::CAPABILITIES,
    json::CAPABILITIES,
    FILES_CAPABILITIES,
];

/// `files:DIR` (see `crate::endpoint::files`): read by parser plugins, never written.
pub const FILES_CAPABILITIES: Capabilities = Capabilities {
    scheme: "files",
    example: "files:DIR",
    source: true,
    sink: false,
    ledger: false,
    transactions: false,
    upsert: false,
    delete: false,
    conflict_policies: false,
    parallel_writers: 1,
    identifiers: None,
    reserved_words: &[],
    resume: ResumeBy::Cursor(PATH_MARK),
    cursor_scan: false,
    incremental_by_marks: false,
    parallel_reads: false,
    samples_values: false,
    reread_to_verify: false,
    dry_run_reads: true,
    stores_nul: true,
    foreign_keys_need_index: false,
    keys_while_loading: false,
};

/// What an endpoint of this URL can do (no connection is made).
pub fn capabilities(url: &EndpointUrl) -> &'static Capabilities {
    match url {
        EndpointUrl::Sqlite(_) => &ALL[0],
        EndpointUrl::Postgres(_) => &ALL[1],
        EndpointUrl::Mysql(_) => &ALL[2],
        EndpointUrl::Json(_) => &ALL[3],
        EndpointUrl::Files(_) => &ALL[4],
    }
}

/// Opens `url` to read from it (a directory of files needs its context:
/// [`open_source_in`]).
pub async fn open_source(url: &EndpointUrl) -> Result<Arc<dyn Source>, EndpointError> {
    open_source_in(url, None).await
}

/// Opens `url` to read from it, with what a directory of files needs
/// besides its path (settings, parsers, the run).
pub async fn open_source_in(
    url: &EndpointUrl,
    files: Option<files::FilesContext>,
) -> Result<Arc<dyn Source>, EndpointError> {
    Ok(match url {
        EndpointUrl::Sqlite(p) => Arc::new(sqlite::SqliteSource::open(p)?),
        EndpointUrl::Postgres(u) => Arc::new(postgres::PgSource::open(u).await?),
        EndpointUrl::Mysql(u) => Arc::new(mysql::MysqlSource::open(u).await?),
        EndpointUrl::Json(p) => Arc::new(json::JsonSource::open(&p.to_string_lossy()).await?),
        EndpointUrl::Files(p) => match files {
            Some(ctx) => Arc::new(files::FilesSource::open(p, ctx).await?),
            None => {
                return Err(EndpointError::BadUrl {
                    url: format!("files:{}", p.display()),
                    reason: "files:DIR is read by a run (`ferry migrate --from files:DIR`), `ferry validate` and `ferry analyze`; it is not a target, and verify or sync cannot read it on their own".into(),
                });
            }
        },
    })
}

/// Opens `url` to write to it.
pub async fn open_sink(url: &EndpointUrl) -> Result<Box<dyn Sink>, EndpointError> {
    Ok(match url {
        EndpointUrl::Sqlite(p) => Box::new(sqlite::SqliteSink::open(p)?),
        EndpointUrl::Postgres(u) => Box::new(postgres::PgSink::connect(u).await?),
        EndpointUrl::Mysql(u) => Box::new(mysql::MysqlSink::connect(u).await?),
        EndpointUrl::Json(p) => Box::new(json::JsonSink::connect(&p.to_string_lossy()).await?),
        EndpointUrl::Files(_) => {
            return Err(EndpointError::Unsupported(
                capabilities(url).cannot(&url.to_string(), Feature::Sink),
            ));
        }
    })
}

/// A plain SQL connection to `url` (a SQLite file, created when missing, a
/// PostgreSQL or a MySQL/MariaDB database): what `ferry serve` keeps its own
/// state in.
pub async fn open_sql(url: &EndpointUrl) -> Result<Box<dyn sql::SqlConn>, EndpointError> {
    Ok(match url {
        EndpointUrl::Sqlite(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| EndpointError::Connect {
                    endpoint: url.to_string(),
                    reason: format!("cannot create {}: {e}", dir.display()),
                })?;
            }
            Box::new(sqlite::SqliteSink::open(p)?)
        }
        EndpointUrl::Postgres(u) => Box::new(postgres::PgSink::connect(u).await?),
        EndpointUrl::Mysql(u) => Box::new(mysql::MysqlSink::connect(u).await?),
        EndpointUrl::Json(_) | EndpointUrl::Files(_) => {
            return Err(EndpointError::Unsupported(format!(
                "{url} is not an SQL database: give sqlite:PATH, postgres://… or mysql://…"
            )));
        }
    })
}

/// The type a sink of `url` creates for a column of `source`.
pub fn column_type(url: &EndpointUrl, source: &TableDef, col: &crate::model::ColumnDef) -> String {
    match url {
        EndpointUrl::Sqlite(_) => sqlite::column_type(source, col),
        EndpointUrl::Postgres(_) => postgres::column_type(source, col),
        EndpointUrl::Mysql(_) => mysql::column_type(source, col),
        EndpointUrl::Json(_) | EndpointUrl::Files(_) => json::column_type(source, col),
    }
}

/// Whether opening `url` as a target would create it (a SQLite file or a
/// JSON directory that does not exist yet): planning and dry runs must not.
pub fn would_create(url: &EndpointUrl) -> bool {
    match url {
        EndpointUrl::Sqlite(p) | EndpointUrl::Json(p) | EndpointUrl::Files(p) => !p.exists(),
        EndpointUrl::Postgres(_) | EndpointUrl::Mysql(_) => false,
    }
}

/// One batch read from a source, with the rows that could not be read
/// faithfully (already turned into rejects) and how many source rows it covers.
#[derive(Debug)]
pub struct ReadBatch {
    pub batch: Batch,
    pub rejects: Vec<Reject>,
    /// Source rows covered: `batch.num_rows + rejects.len()`.
    pub rows_read: u64,
    /// Where the next batch starts, for a checkpoint: the last source key
    /// read (SQLite: rowid). `None` when the source has no stable key.
    pub position: Option<i64>,
    /// Cursor scans: the last cursor value read (the high-water mark so far).
    pub cursor: Option<serde_json::Value>,
    /// Target rows this batch's rows replace (a directory's changed files):
    /// deleted in the batch's transaction before its rows are written.
    pub replace: Option<Replace>,
    /// The source's own state rows for this batch ([`Source::state_table`]),
    /// written when the batch has committed.
    pub state: Option<StateRows>,
    /// A raw read ([`Source::read_raw`]): the rows as the source's wire
    /// carries them; `batch` is then empty.
    pub raw: Option<RawRows>,
}

/// Rows as a source's wire carries them (PostgreSQL: binary COPY tuples),
/// handed to a sink of the same format that loads them as they are —
/// nothing decoded or encoded on the way. Only verification looks inside,
/// through `decode`.
#[derive(Clone)]
pub struct RawRows {
    /// The rows back to back, without the format's header or trailer.
    pub bytes: bytes::Bytes,
    pub rows: usize,
    /// The rows as a batch of the table's schema, or why they cannot be.
    pub decode: RawDecoder,
}

/// What looks inside a [`RawRows`]' bytes: the source's own decoder.
pub trait RawCodec: Send + Sync {
    /// Every row as a batch of the table's schema, or why they cannot be.
    fn decode(&self, bytes: &[u8]) -> Result<Batch, String>;
    /// Each row's extent in `bytes` (pushed to `extents`), and a batch of
    /// the table's schema in which only the columns `wanted` marks hold
    /// their values and the others are NULL: what a verification needs of
    /// most rows (keys, dates) without decoding the rest.
    /// `rows` (how many `bytes` holds) sizes the batch.
    fn split(
        &self,
        bytes: &[u8],
        rows: usize,
        wanted: &[bool],
        extents: &mut Vec<std::ops::Range<usize>>,
    ) -> Result<Batch, String>;
}

/// A source's [`RawCodec`], shared by the batches of a read.
pub type RawDecoder = Arc<dyn RawCodec>;

impl std::fmt::Debug for RawRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRows")
            .field("bytes", &self.bytes.len())
            .field("rows", &self.rows)
            .finish()
    }
}

/// What a source's raw rows of one table are: the wire format, and per
/// column the type the wire carries, as the database names it. A sink takes
/// them as they are only when its table's columns are those types.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFormat {
    pub format: &'static str,
    pub columns: Vec<String>,
}

impl ReadBatch {
    /// A batch of rows (and the rows that could not be read), nothing else.
    pub fn rows(batch: Batch, rejects: Vec<Reject>) -> ReadBatch {
        let rows_read = (batch.num_rows + rejects.len()) as u64;
        ReadBatch {
            batch,
            rejects,
            rows_read,
            position: None,
            cursor: None,
            replace: None,
            state: None,
            raw: None,
        }
    }
}

/// Rows of a target table to delete before a write: those whose `column`
/// is one of `values` (and, with `scope`, whose other column equals a value).
#[derive(Debug, Clone, PartialEq)]
pub struct Replace {
    pub column: String,
    pub values: Vec<String>,
    pub scope: Option<(String, String)>,
}

/// Where a source keeps its own state in the target (a directory's
/// `_ferry_file_items`): created when missing and never replaced; its rows
/// for a table are forgotten when that table is created afresh.
#[derive(Debug, Clone)]
pub struct StateTable {
    pub def: TableDef,
    /// The column naming the data table a state row belongs to.
    pub scope_column: String,
    /// The column that identifies a state row within its scope.
    pub key_column: String,
}

/// A batch's state rows and the keys they replace.
#[derive(Debug, Clone)]
pub struct StateRows {
    pub batch: Batch,
    pub keys: Vec<String>,
}

/// Which rows of a table a read covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scan {
    /// Every row, in key order.
    All,
    /// Every row, in whatever order the source reads fastest: for readers
    /// that do not depend on order (digests, key maps). A PostgreSQL table
    /// is then scanned as stored instead of sorted or walked by its key's
    /// index — a sort of a million rows a verification does not need.
    /// Sources whose natural order is key order read it as [`Scan::All`].
    Unordered,
    /// Rows strictly after a key (a checkpoint's position): SQLite's rowid, or a single-column integer primary key.
    AfterKey(i64),
    /// Rows in (cursor, rowid) order strictly after a high-water mark:
    /// `cursor > value`, or `cursor = value` and `rowid > key` (rows that
    /// share the last cursor value are not lost); without a mark, rows
    /// after `since`, else every row.
    Cursor {
        column: String,
        after: Option<(serde_json::Value, i64)>,
        since: Option<serde_json::Value>,
    },
}

/// What sampling a source table found (for the plan's risks and estimates).
#[derive(Debug, Clone, Default)]
pub struct TableProfile {
    /// Rows sampled.
    pub sampled: u64,
    /// Average stored size of a sampled row.
    pub avg_row_bytes: u64,
    /// Per column: values that would be quarantined, and the first reason.
    pub mismatches: Vec<(String, u64, String)>,
    /// Per referenced table: rows whose foreign key points at no row.
    pub orphans: Vec<(String, u64)>,
}

/// A source: where batches are read from. Shared by the table loads that
/// run at once (`Arc<dyn Source>`); each read opens what it needs.
#[async_trait]
pub trait Source: Send + Sync {
    /// The endpoint, as reports and errors name it (passwords hidden).
    fn describe(&self) -> String;
    fn capabilities(&self) -> &'static Capabilities;
    /// Every table with its columns, keys, indexes and foreign keys.
    async fn tables(&self) -> Result<Vec<TableDef>, EndpointError>;
    /// What the source holds besides `tables` (its tables, as
    /// [`Source::tables`] returned them): views, and every other schema
    /// object (triggers, routines, sequences not owned by a column,
    /// materialized views, extensions, …) listed as not carried, with why.
    /// Nothing may disappear silently.
    async fn objects(&self, _tables: &[TableDef]) -> Result<SchemaObjects, EndpointError> {
        Ok(SchemaObjects::default())
    }
    /// Per column of `columns`: the extent of the stored values that a
    /// declared type must hold — `(longest text in characters, smallest
    /// integer, largest integer)`, each `None` when no value of that kind
    /// is stored. Sources that enforce their declared types (PostgreSQL,
    /// MySQL) return `None`: their values fit by construction; SQLite
    /// counts (it stores anything in any column).
    async fn extents(
        &self,
        _table: &TableDef,
        _columns: &[String],
    ) -> Result<Option<Vec<Extent>>, EndpointError> {
        Ok(None)
    }
    /// Rows in a table (for progress, estimates and verification).
    async fn count(&self, table: &str) -> Result<u64, EndpointError>;
    /// Samples a table for the plan: type mismatches, row size, orphans.
    async fn profile(&self, table: &TableDef, sample: usize)
    -> Result<TableProfile, EndpointError>;
    /// What the first `sample` rows of each column hold, for promotions;
    /// `None` when the declared types already say (see
    /// [`Capabilities::samples_values`]).
    async fn column_samples(
        &self,
        _table: &TableDef,
        _sample: usize,
    ) -> Result<Option<Vec<ColumnSample>>, EndpointError> {
        Ok(None)
    }
    /// Rows in this endpoint's rejects table (`_ferry_rejects`), per run and
    /// table; empty when there is none. Verification reads a target through
    /// its source side to account for them.
    async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError>;
    /// Whether this table's read can continue after a checkpoint's key
    /// ([`ResumeBy::Key`]); otherwise a resumed table is reloaded.
    async fn resumable(&self, _table: &TableDef) -> Result<bool, EndpointError> {
        Ok(false)
    }
    /// Starts reading the rows `scan` names into `tx`, `batch_size` rows per
    /// batch; stops early when the receiver is dropped. A scan the source
    /// cannot do (see its capabilities) fails the read with the reason.
    fn read(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>>;
    /// The raw format `table` can be read in ([`RawRows`]), when the source
    /// has one for it.
    async fn raw_format(&self, _table: &TableDef) -> Result<Option<RawFormat>, EndpointError> {
        Ok(None)
    }
    /// Like [`Source::read`], the rows as the wire carries them (only after
    /// [`Source::raw_format`] named a format for the table).
    fn read_raw(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        self.read(table, batch_size, scan, tx)
    }
    /// Where this source keeps its own state in the target, if it does.
    fn state_table(&self) -> Option<StateTable> {
        None
    }
    /// The plugins the source runs itself (a directory's parsers), for the
    /// report.
    fn plugins(&self) -> Vec<crate::plugin::Plugin> {
        Vec::new()
    }
    /// What this source reports of its own after a read, under its name
    /// (a directory: `files`, every file's outcome).
    fn summary(&self) -> Option<(String, serde_json::Value)> {
        None
    }
    /// Sources that are not read a second time
    /// ([`Capabilities::reread_to_verify`] false) check that `target` holds
    /// what this run read of `table` (`target_table` there), given how many
    /// of its rows the run quarantined: what was compared, or the failures.
    async fn verify_target(
        &self,
        _target: Arc<dyn Source>,
        _table: &str,
        _target_table: &str,
        _rejected: u64,
    ) -> Result<Result<String, Vec<String>>, EndpointError> {
        Ok(Ok(String::new()))
    }
}

/// Fails a read that asks for a scan its source cannot do.
pub fn unsupported_scan(
    caps: &'static Capabilities,
    name: String,
    table: String,
) -> JoinHandle<Result<(), EndpointError>> {
    tokio::spawn(async move {
        Err(EndpointError::Query {
            endpoint: name.clone(),
            table: Some(table),
            reason: format!(
                "{}; run without --cursor (new rows by key) or use ferry sync",
                caps.cannot(&name, Feature::CursorScan)
            ),
        })
    })
}

/// One batch to write, with what commits with it.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub run_id: &'a str,
    pub table: &'a TargetTable,
    pub batch: &'a Batch,
    /// Rows rejected on the way, kept in the same transaction.
    pub rejects: &'a [Reject],
    /// The counts before this batch; a ledger sink adds what it wrote and
    /// rejected and saves it in the batch's transaction.
    pub checkpoint: Option<&'a Checkpoint>,
    /// Rows replace the target's rows with the same primary key.
    pub upsert: bool,
    /// Target rows deleted first, in the same transaction.
    pub replace: Option<&'a Replace>,
    /// The rows as the source's wire carried them, when the sink said it
    /// takes them as they are ([`Sink::accepts_raw`]); `batch` is then empty.
    pub raw: Option<&'a RawRows>,
    /// Hand back the rows as they went on the wire ([`WriteOutcome::sent`]),
    /// for a verification that digests their bytes; only asked of a sink
    /// that said its table stores them verbatim ([`Sink::sends_verbatim`]).
    pub keep_sent: bool,
}

/// A sink: where batches are written. One per connection; each table load
/// opens its own.
#[async_trait]
pub trait Sink: Send {
    /// The endpoint, as reports and errors name it (passwords hidden).
    fn describe(&self) -> String;
    fn capabilities(&self) -> &'static Capabilities;
    /// Which of `names` exist already.
    async fn existing_tables(&mut self, names: &[String]) -> Result<Vec<String>, EndpointError>;
    /// Creates the tables (without the keys, indexes and foreign keys an
    /// endpoint adds after the load) and the rejects table.
    async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError>;
    /// Writes one batch, its rejects and (with a ledger) its checkpoint in
    /// one transaction (where the endpoint has transactions). A value the
    /// target refuses (a NUL byte PostgreSQL text cannot hold, a number out
    /// of a declared type's range) is that row's problem: the sink isolates
    /// the refused rows (by bisecting the batch when the server only says
    /// the batch failed), returns them as rejected with the target's reason,
    /// and writes the rest. Only a failure of the connection or of the
    /// target itself fails the write.
    async fn write(&mut self, w: Write<'_>) -> Result<WriteOutcome, EndpointError>;
    /// Whether `table` (created by [`Sink::prepare`]) loads raw rows of
    /// `format` as they are: same wire format, and every column of the type
    /// the wire carries.
    async fn accepts_raw(
        &mut self,
        _table: &TargetTable,
        _format: &RawFormat,
    ) -> Result<bool, EndpointError> {
        Ok(false)
    }
    /// Whether `table` (created by [`Sink::prepare`]) stores every value
    /// exactly as this sink sends it, so that a raw read of the table
    /// ([`Source::read_raw`]) gives back the bytes it was sent: a run then
    /// digests what it sent by those bytes ([`Write::keep_sent`]) and reads
    /// the table back raw, decoding only keys and dates.
    async fn sends_verbatim(&mut self, _table: &TargetTable) -> Result<bool, EndpointError> {
        Ok(false)
    }
    /// After the load: primary keys, unique constraints, indexes, CHECK
    /// constraints (`def.checks`, already in the target's dialect), then
    /// foreign keys, tables in dependency order, each keeping its name.
    /// Rows that violate a key or a check (a duplicate, a NULL key, an
    /// orphan, a value the check refuses) move to the rejects table under
    /// `run_id` first, with a true reason and their source key, so the
    /// constraints can be created and nothing is lost.
    async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError>;
    /// Only the foreign keys of `tables`, parents first, their orphans moved
    /// to quarantine as `finish` moves them, and what exists skipped — for
    /// a sink that builds keys while others load
    /// ([`Capabilities::keys_while_loading`]): a table's foreign keys to
    /// parents that are complete are validated as soon as it has loaded.
    async fn foreign_keys(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError> {
        let _ = (run_id, tables);
        Err(EndpointError::Unsupported(format!(
            "{} builds foreign keys only after the load",
            self.describe()
        )))
    }
    /// Rows and an order-independent checksum of a table's content, `None`
    /// when it does not exist (what a rollback must restore, and proves).
    async fn table_checksum(&mut self, table: &str)
    -> Result<Option<(u64, String)>, EndpointError>;
    /// Keeps the pre-run state of a run's tables: `backups` holds every
    /// table, kind `absent` for those that do not exist yet. Returns the
    /// records still to be saved in the ledger (a sink that moves a table
    /// aside records it in the same transaction and leaves it out).
    async fn backup_tables(
        &mut self,
        run_id: &str,
        backups: &[Backup],
        in_place: bool,
    ) -> Result<Vec<Backup>, EndpointError>;
    /// Puts a table back as its backup says.
    async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError>;
    /// Removes a table's backup (a finished run's cleanup); already gone is
    /// done. A table that did not exist before the run (`absent`) has none.
    async fn discard_backup(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        match (kind, backup) {
            ("absent", _) | (_, None) => Ok(()),
            _ => Err(EndpointError::Unsupported(format!(
                "{}: removing the backup of `{table}` ({kind}) is not supported",
                self.describe()
            ))),
        }
    }
    /// After the load and [`Sink::finish`]: restarts every identity
    /// column's counter after the largest value the table holds (PostgreSQL
    /// `setval`/`RESTART`, MySQL `AUTO_INCREMENT = max + 1`, SQLite
    /// `sqlite_sequence`), so the application's next `INSERT` without an id
    /// gets max + 1. Run after every load that wrote rows: a fresh run, a
    /// resume, an incremental run, a sync. Returns what it did, for the
    /// report.
    async fn sync_identity(
        &mut self,
        _tables: &[TargetTable],
    ) -> Result<Vec<String>, EndpointError> {
        Ok(Vec::new())
    }
    /// Refreshes the planner's statistics of the loaded tables (`ANALYZE`),
    /// so the first queries after a migration do not run blind.
    async fn analyze(&mut self, _tables: &[TargetTable]) -> Result<(), EndpointError> {
        Ok(())
    }
    /// Creates the views (after the tables, keys and constraints), each in
    /// the target's dialect already; `if_exists` drops a view of the same
    /// name first. One view's failure is that view's outcome (the target's
    /// error), never the run's.
    async fn create_views(
        &mut self,
        views: &[ViewDef],
        _if_exists: IfExists,
    ) -> Result<Vec<ViewOutcome>, EndpointError> {
        Ok(views
            .iter()
            .map(|v| ViewOutcome {
                name: v.name.clone(),
                error: Some(format!("{} has no views", self.describe())),
            })
            .collect())
    }
    /// Deletes a run's rows from the rejects table.
    async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError>;
    /// Empties `table` and this run's rejects and checkpoint for
    /// `source_table`: a table reloaded from scratch on resume.
    async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError>;
    /// Deletes the rows of `table` whose `column` is one of `values` (and,
    /// with `eq`, whose other column equals a value).
    async fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError>;
    /// The consolidation conflict policy `finish` applies (when
    /// [`Capabilities::conflict_policies`]); others keep the first row.
    fn set_conflict(&mut self, _policy: Option<crate::consolidate::Conflict>) {}
    /// The ledger this target keeps ([`Capabilities::ledger`]).
    fn ledger(&mut self) -> Option<&mut dyn LedgerStore> {
        None
    }
    /// Targets without transactions: where a table's file ends after the
    /// last write — what its checkpoint records (`Checkpoint::offsets`).
    fn write_position(&self, _table: &str) -> Result<Option<String>, EndpointError> {
        Ok(None)
    }
    /// Targets without transactions, on resume: cuts what a killed run wrote
    /// after its checkpoints (each unfinished table, and its rejects) back to
    /// the recorded positions; a table without a checkpoint is emptied.
    async fn rewind(&mut self, _run_id: &str, _tables: &[Rewind<'_>]) -> Result<(), EndpointError> {
        Ok(())
    }
}

/// A table a resume may have to cut back ([`Sink::rewind`]).
#[derive(Debug, Clone, Copy)]
pub struct Rewind<'a> {
    /// The table in the target.
    pub table: &'a str,
    pub checkpoint: Option<&'a Checkpoint>,
}

/// ferry's state in a target: runs, checkpoints, high-water marks, backups
/// (see [`crate::ledger`]). Written once for the SQL endpoints, in
/// [`sql::ledger`].
#[async_trait]
pub trait LedgerStore: Send {
    /// Where the ledger is, as errors name it.
    fn ledger_name(&self) -> String;
    /// Creates or upgrades the ledger tables.
    async fn init(&mut self) -> Result<(), EndpointError>;
    /// Inserts or updates a run.
    async fn save_run(&mut self, r: &RunRecord) -> Result<(), EndpointError>;
    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    async fn runs(&mut self, run_id: Option<&str>) -> Result<Vec<RunRecord>, EndpointError>;
    /// A run's checkpoints.
    async fn checkpoints(&mut self, run_id: &str) -> Result<Vec<Checkpoint>, EndpointError>;
    /// High-water marks of runs not rolled back, oldest first.
    async fn marks(&mut self) -> Result<Vec<Mark>, EndpointError>;
    /// Saves a checkpoint on its own (a table's end).
    async fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), EndpointError>;
    /// Records what undoing a run needs for one table.
    async fn save_backup(&mut self, b: &Backup) -> Result<(), EndpointError>;
    /// What undoing a run needs.
    async fn backups(&mut self, run_id: &str) -> Result<Vec<Backup>, EndpointError>;
    /// Run `run_id`'s rows in the rejects table, in the order they were
    /// quarantined: `limit` of them after the first `offset`.
    async fn rejects(
        &mut self,
        run_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<RejectRecord>, EndpointError>;
}

/// One row of the rejects table (`_ferry_rejects`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RejectRecord {
    pub table: String,
    pub source_key: Option<String>,
    /// Where it was refused: `read`, `cast`, `transform`, `validate`, `write`, `constraint`, …
    pub stage: String,
    pub plugin: Option<String>,
    pub column: Option<String>,
    pub code: String,
    pub reason: String,
    /// The row as it was refused (JSON).
    pub row: String,
}

/// The column of a table's single-column integer primary key: the keyset a
/// read of a PostgreSQL or MySQL table can continue after.
pub fn integer_key(table: &TableDef) -> Option<usize> {
    match table.primary_key.as_slice() {
        [k] => table
            .columns
            .iter()
            .position(|c| &c.name == k && c.logical_type == crate::model::LogicalType::Int64),
        _ => None,
    }
}

/// A blocking task that failed to complete (a panic in a driver's thread).
pub(crate) fn join_error(endpoint: &str, e: &tokio::task::JoinError) -> EndpointError {
    EndpointError::Query {
        endpoint: endpoint.to_string(),
        table: None,
        reason: format!("a worker task failed: {e}"),
    }
}

/// What one column's stored values need from a declared type
/// ([`Source::extents`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extent {
    /// The longest text value, in characters.
    pub max_chars: Option<u64>,
    pub min_int: Option<i64>,
    pub max_int: Option<i64>,
    /// Values stored that are neither text nor integer where the declared
    /// type expects one of them (SQLite: a text in a `SMALLINT` column).
    pub foreign: u64,
}

/// One view's outcome ([`Sink::create_views`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewOutcome {
    pub name: String,
    /// `None`: created; else the target's error.
    pub error: Option<String>,
}

/// What a sink's `finish` did.
#[derive(Debug, Default)]
pub struct Finished {
    /// Keys, constraints and indexes created, for the report.
    pub created: Vec<String>,
    /// What could not be created as asked, and why.
    pub warnings: Vec<String>,
    /// Per source table: rows moved to the rejects table because they
    /// violated a target constraint (duplicate key, orphaned foreign key).
    pub quarantined: Vec<(String, u64)>,
}

/// Rows a sink's `finish` moved to quarantine, summed per source table.
#[derive(Debug, Default)]
pub struct MovedRows(Vec<(String, u64)>);

impl MovedRows {
    /// Counts `n` more rows of `table` (nothing when `n` is 0).
    pub fn add(&mut self, table: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.0.iter_mut().find(|(t, _)| t == table) {
            Some(m) => m.1 += n,
            None => self.0.push((table.to_string(), n)),
        }
    }

    /// One warning per table that lost rows to quarantine.
    pub fn warnings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(t, n)| {
                format!(
                    "table `{t}`: {n} rows violated a key, check or foreign key in the target and were moved to {REJECTS_TABLE}"
                )
            })
            .collect()
    }

    pub fn into_vec(self) -> Vec<(String, u64)> {
        self.0
    }
}

/// Rows in a rejects table, per run and source table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineCount {
    pub run_id: String,
    pub table: String,
    pub rows: u64,
    /// The `source_key` of each of these rows that has one, so verify can
    /// leave exactly these rows out of the source side of its checksums.
    pub keys: Vec<String>,
}

/// Groups `(run_id, table, source_key)` rows (sorted by run and table) into counts.
pub fn group_quarantine(rows: Vec<(String, String, Option<String>)>) -> Vec<QuarantineCount> {
    let mut out: Vec<QuarantineCount> = Vec::new();
    for (run_id, table, key) in rows {
        match out.last_mut() {
            Some(q) if q.run_id == run_id && q.table == table => {
                q.rows += 1;
                q.keys.extend(key);
            }
            _ => out.push(QuarantineCount {
                run_id,
                table,
                rows: 1,
                keys: key.into_iter().collect(),
            }),
        }
    }
    out
}

/// What a sink did with one batch.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    pub written: u64,
    /// Rows the sink could not store; already written to the rejects table.
    pub rejected: Vec<Reject>,
    /// The rows stored, as they went on the wire, when [`Write::keep_sent`]
    /// asked and the sink can tell them apart (`None` otherwise).
    pub sent: Option<SentRows>,
}

/// A batch's rows as a sink sent them, in its raw format ([`RawRows`]).
#[derive(Debug, Clone)]
pub struct SentRows {
    /// The encoded rows (and whatever framing surrounds them).
    pub bytes: bytes::Bytes,
    /// Row `k` of those stored spans `bytes[offsets[k]..offsets[k + 1]]`.
    pub offsets: Vec<usize>,
    /// Which rows of the written batch were stored, when not all were
    /// (in order: the `k`-th `true` is the `k`-th row in `offsets`).
    pub kept: Option<Vec<bool>>,
}

/// A table as the sink creates it: the final schema after the plugin chain,
/// and the keys, indexes and foreign keys that still apply to it.
#[derive(Debug, Clone)]
pub struct TargetTable {
    pub source: TableDef,
    pub def: TableDef,
}

/// What to do when a target table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfExists {
    /// Refuse to run (the default: never touch existing data by surprise).
    #[default]
    Fail,
    /// Drop and recreate the table.
    Drop,
}

/// Name of the table that keeps rejected rows, in every target.
pub const REJECTS_TABLE: &str = "_ferry_rejects";

/// A throwaway database beside `url`'s: on the same PostgreSQL or MySQL
/// server (created with `CREATE DATABASE`, so the user needs that right),
/// or a temporary SQLite file. `ferry schema validate` replays migrations
/// there to learn what they produce. Remove it with [`drop_scratch`].
pub async fn create_scratch(url: &EndpointUrl) -> Result<EndpointUrl, EndpointError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Under PostgreSQL's 63-byte identifier limit.
    let name = format!("ferry_scratch_{}_{stamp}", std::process::id());
    match url {
        EndpointUrl::Sqlite(_) => Ok(EndpointUrl::Sqlite(
            std::env::temp_dir().join(format!("{name}.db")),
        )),
        EndpointUrl::Postgres(u) | EndpointUrl::Mysql(u) => {
            let mut conn = open_sql(url).await?;
            conn.exec(&format!("CREATE DATABASE {name}"), &[])
                .await
                .map_err(|e| EndpointError::Connect {
                    endpoint: url.to_string(),
                    reason: format!(
                        "cannot create a scratch database beside it: {} (the user needs the right to create databases)",
                        e.message
                    ),
                })?;
            let other = with_database(u, &name);
            Ok(match url {
                EndpointUrl::Postgres(_) => EndpointUrl::Postgres(other),
                _ => EndpointUrl::Mysql(other),
            })
        }
        EndpointUrl::Json(_) | EndpointUrl::Files(_) => Err(EndpointError::Unsupported(format!(
            "{url} is not an SQL database: no scratch database beside it"
        ))),
    }
}

/// Removes a database [`create_scratch`] made beside `url`.
pub async fn drop_scratch(url: &EndpointUrl, scratch: &EndpointUrl) -> Result<(), EndpointError> {
    match scratch {
        EndpointUrl::Sqlite(p) => {
            for suffix in ["", "-wal", "-shm"] {
                let mut f = p.as_os_str().to_owned();
                f.push(suffix);
                let _ = std::fs::remove_file(std::path::PathBuf::from(f));
            }
            Ok(())
        }
        EndpointUrl::Postgres(u) | EndpointUrl::Mysql(u) => {
            let name = database_of(u);
            if !name.starts_with("ferry_scratch_") {
                return Err(EndpointError::Unsupported(format!(
                    "{scratch} is not a scratch database: not dropped"
                )));
            }
            let force = if matches!(scratch, EndpointUrl::Postgres(_)) {
                " WITH (FORCE)"
            } else {
                ""
            };
            let mut conn = open_sql(url).await?;
            conn.exec(&format!("DROP DATABASE IF EXISTS {name}{force}"), &[])
                .await
                .map(|_| ())
                .map_err(|e| EndpointError::Connect {
                    endpoint: url.to_string(),
                    reason: format!("cannot drop the scratch database {name}: {}", e.message),
                })
        }
        EndpointUrl::Json(_) | EndpointUrl::Files(_) => Ok(()),
    }
}

/// `scheme://auth@host/DB?query` → `DB`.
fn database_of(u: &str) -> String {
    let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("");
    path.split(['?', '#']).next().unwrap_or("").to_string()
}

/// `u` naming database `db` instead (its query kept).
fn with_database(u: &str, db: &str) -> String {
    let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path.find(['?', '#']).map(|i| &path[i..]).unwrap_or("");
    format!("{scheme}://{host}/{db}{query}")
}

#[cfg(test)]
mod scratch_tests {
    #[test]
    fn a_url_names_another_database_with_its_query_kept() {
        let u = "postgres://u:p@h:5432/app?sslmode=disable";
        assert_eq!(super::database_of(u), "app");
        assert_eq!(
            super::with_database(u, "s"),
            "postgres://u:p@h:5432/s?sslmode=disable"
        );
        assert_eq!(
            super::with_database("mysql://root@h", "s"),
            "mysql://root@h/s"
        );
    }
}
