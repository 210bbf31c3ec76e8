//! Endpoints: where data lives. The only layer that knows database drivers.
//!
//! | endpoint | source | sink | driver |
//! | --- | --- | --- | --- |
//! | `sqlite:PATH` | yes | yes | rusqlite (bundled SQLite) |
//! | `postgres://…` | yes | yes, via `COPY … (FORMAT binary)` | tokio-postgres |
//! | `mysql://…` (MySQL, MariaDB) | yes | yes | see [`mysql`] |
//! | `json:DIR` | yes | yes, JSON Lines per table + `_schema.json` | serde_json |
//!
//! Type mapping (first version; promotions of dates, booleans and JSON stored
//! in TEXT come with the full mapping): see [`sqlite::logical_type`],
//! [`postgres::pg_type`] and `docs/type-mapping.md`.

pub mod json;
pub mod mysql;

pub mod postgres;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::model::{Batch, Reject, TableDef};

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
}

/// Which rows of a table a read covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scan {
    /// Every row, in key order.
    All,
    /// Rows strictly after a rowid (a checkpoint's position).
    AfterRowid(i64),
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

/// A source: where batches are read from.
#[derive(Clone)]
pub enum Source {
    Sqlite(Arc<sqlite::SqliteSource>),
    Postgres(Arc<postgres::PgSource>),
    Mysql(Arc<mysql::MysqlSource>),
    Json(Arc<json::JsonSource>),
}

/// Runs an async source method on whichever source this is (every source
/// but SQLite is async; SQLite runs on a blocking thread).
macro_rules! on_async_source {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            Source::Sqlite(_) => unreachable!("SQLite is handled by the caller"),
            Source::Postgres($s) => $body,
            Source::Mysql($s) => $body,
            Source::Json($s) => $body,
        }
    };
}

impl Source {
    pub async fn open(url: &EndpointUrl) -> Result<Source, EndpointError> {
        match url {
            EndpointUrl::Sqlite(p) => Ok(Source::Sqlite(Arc::new(sqlite::SqliteSource::open(p)?))),
            EndpointUrl::Postgres(u) => Ok(Source::Postgres(Arc::new(
                postgres::PgSource::open(u).await?,
            ))),
            EndpointUrl::Mysql(u) => {
                Ok(Source::Mysql(Arc::new(mysql::MysqlSource::open(u).await?)))
            }
            EndpointUrl::Json(p) => Ok(Source::Json(Arc::new(
                json::JsonSource::open(&p.to_string_lossy()).await?,
            ))),
            EndpointUrl::Files(p) => Err(files_only(
                p,
                "is read by `ferry migrate --from files:DIR`, `ferry validate` and `ferry analyze`; it has no tables to plan, verify or consolidate",
            )),
        }
    }

    /// Every table with its columns, keys, indexes and foreign keys.
    pub async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        match self {
            Source::Sqlite(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.tables())
                    .await
                    .map_err(|e| join_error(&e))?
            }
            other => on_async_source!(other, s => s.tables().await),
        }
    }

    /// Rows in a table (for progress and estimates).
    pub async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        match self {
            Source::Sqlite(s) => {
                let (s, t) = (s.clone(), table.to_string());
                tokio::task::spawn_blocking(move || s.count(&t))
                    .await
                    .map_err(|e| join_error(&e))?
            }
            other => on_async_source!(other, s => s.count(table).await),
        }
    }

    /// Starts reading `table` in key order into `tx`, `batch_size` rows per
    /// batch. The reader stops early when the receiver is dropped.
    pub fn spawn_reader(
        &self,
        table: TableDef,
        batch_size: usize,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        self.spawn_reader_after(table, batch_size, None, tx)
    }

    /// Like [`Source::spawn_reader`], strictly after source position
    /// `after` (a checkpoint's), which only resumable sources accept
    /// ([`Source::resumable`]).
    pub fn spawn_reader_after(
        &self,
        table: TableDef,
        batch_size: usize,
        after: Option<i64>,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        let scan = match after {
            Some(r) => Scan::AfterRowid(r),
            None => Scan::All,
        };
        self.spawn_reader_scan(table, batch_size, scan, tx)
    }

    /// Reads the rows `scan` names. Only SQLite sources take a rowid or
    /// cursor scan; the others read every row, and refuse a cursor scan.
    pub fn spawn_reader_scan(
        &self,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        match self {
            Source::Sqlite(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || {
                    s.read(
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
                            })
                            .is_ok()
                        },
                    )
                })
            }
            Source::Postgres(s) => {
                let s = s.clone();
                tokio::spawn(async move { s.read_scan(&table, batch_size, &scan, &tx).await })
            }
            _ if matches!(scan, Scan::Cursor { .. }) => {
                let name = self.describe();
                tokio::spawn(async move {
                    Err(EndpointError::Query {
                        endpoint: name,
                        table: Some(table.name),
                        reason: "an incremental cursor reads SQLite and PostgreSQL sources; for this source, run without --cursor (new rows by key) or use ferry sync".into(),
                    })
                })
            }
            Source::Mysql(s) => {
                let s = s.clone();
                let after = match scan {
                    Scan::AfterRowid(p) => Some(p),
                    _ => None,
                };
                tokio::spawn(async move { s.read_after(&table, batch_size, after, &tx).await })
            }
            Source::Json(s) => {
                let s = s.clone();
                tokio::spawn(async move { s.read(&table, batch_size, &tx).await })
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Sqlite(s) => s.describe(),
            Source::Postgres(s) => s.describe(),
            Source::Mysql(s) => s.describe(),
            Source::Json(s) => s.describe(),
        }
    }

    /// Samples a table for the plan: type mismatches, row size, orphans.
    pub async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        match self {
            Source::Sqlite(s) => {
                let (s, t) = (s.clone(), table.clone());
                tokio::task::spawn_blocking(move || s.profile(&t, sample))
                    .await
                    .map_err(|e| join_error(&e))?
            }
            other => on_async_source!(other, s => s.profile(table, sample).await),
        }
    }

    /// Rows in this endpoint's rejects table (`_ferry_rejects`), per run and
    /// table; empty when there is none. Verify uses it for the accounting
    /// "source rows = target rows + quarantined rows".
    pub async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError> {
        match self {
            Source::Sqlite(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.quarantined())
                    .await
                    .map_err(|e| join_error(&e))?
            }
            other => on_async_source!(other, s => s.quarantined().await),
        }
    }

    /// What the first `sample` rows of each column hold, for promotions
    /// (SQLite only: there the declared type does not say what is stored;
    /// typed sources return `None`).
    pub async fn column_samples(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<Option<Vec<crate::cast::ColumnSample>>, EndpointError> {
        match self {
            Source::Sqlite(s) => {
                let (s, t) = (s.clone(), table.clone());
                tokio::task::spawn_blocking(move || s.column_samples(&t, sample).map(Some))
                    .await
                    .map_err(|e| join_error(&e))?
            }
            _ => Ok(None),
        }
    }

    /// Whether a table's read can restart after a checkpoint's position:
    /// SQLite tables with a rowid, PostgreSQL tables with a single-column
    /// integer primary key (keyset order on it). Other tables and sources
    /// are reloaded from scratch on resume.
    pub async fn resumable(&self, table: &TableDef) -> Result<bool, EndpointError> {
        match self {
            Source::Sqlite(s) => {
                let (s, t) = (s.clone(), table.name.clone());
                tokio::task::spawn_blocking(move || s.has_rowid(&t))
                    .await
                    .map_err(|e| join_error(&e))?
            }
            Source::Postgres(_) => Ok(postgres::PgSource::resumable(table).is_some()),
            Source::Mysql(_) => Ok(mysql::MysqlSource::resumable(table).is_some()),
            _ => Ok(false),
        }
    }

    /// Whether several tables may be read at once.
    pub fn parallel_reads(&self) -> bool {
        match self {
            // Read-only connections on a file: concurrent readers are fine.
            Source::Sqlite(_) => true,
            // Each reader opens its own connection (or file).
            Source::Postgres(_) | Source::Mysql(_) | Source::Json(_) => true,
        }
    }
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

fn files_only(dir: &std::path::Path, what: &str) -> EndpointError {
    EndpointError::BadUrl {
        url: format!("files:{}", dir.display()),
        reason: format!("files:DIR {what}"),
    }
}

fn join_error(e: &tokio::task::JoinError) -> EndpointError {
    EndpointError::Query {
        endpoint: "source".into(),
        table: None,
        reason: format!("reader task failed: {e}"),
    }
}

/// A parsed endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointUrl {
    Sqlite(PathBuf),
    Postgres(String),
    /// `mysql://USER[:PASSWORD]@HOST[:PORT]/DB` (also `mariadb://`).
    Mysql(String),
    /// `json:DIR`: a directory of JSON Lines files and `_schema.json`.
    Json(PathBuf),
    /// `files:DIR`: a directory of legacy files, read by parser plugins
    /// (source only; see [`crate::files`]).
    Files(PathBuf),
}

impl std::fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            EndpointUrl::Postgres(u) | EndpointUrl::Mysql(u) => f.write_str(&redact(u)),
            EndpointUrl::Json(p) => write!(f, "json:{}", p.display()),
            EndpointUrl::Files(p) => write!(f, "files:{}", p.display()),
        }
    }
}

/// Hides a password in a URL (`postgres://u:secret@h` → `postgres://u:***@h`).
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

impl std::str::FromStr for EndpointUrl {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| EndpointError::BadUrl {
            url: redact(s),
            reason: reason.to_string(),
        };
        if let Some(rest) = s.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("give a file path: sqlite:PATH"));
            }
            return Ok(EndpointUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(EndpointUrl::Postgres(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("mariadb://") {
            return Ok(EndpointUrl::Mysql(format!("mysql://{rest}")));
        }
        if s.starts_with("mysql://") {
            return Ok(EndpointUrl::Mysql(s.to_string()));
        }
        if let Some(rest) = s.strip_prefix("json:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("give a directory: json:DIR"));
            }
            return Ok(EndpointUrl::Json(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("files:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad("give a directory: files:DIR"));
            }
            return Ok(EndpointUrl::Files(PathBuf::from(path)));
        }
        Err(bad(
            "expected sqlite:PATH, postgres://USER@HOST:PORT/DB, mysql://USER@HOST:PORT/DB, json:DIR or files:DIR",
        ))
    }
}

/// An endpoint failed. Names the endpoint (and table) and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    #[error("invalid endpoint `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot open {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("{endpoint}{}: {reason}", table.as_ref().map(|t| format!(", table `{t}`")).unwrap_or_default())]
    Query {
        endpoint: String,
        table: Option<String>,
        reason: String,
    },
    #[error(
        "{endpoint} already has a table `{table}`; drop it, choose another target, or pass `--if-exists drop` to replace it"
    )]
    TargetExists { endpoint: String, table: String },
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

/// A foreign key as SQL, child aliased `c` and parent `p`: the join
/// conditions (`p."id" = c."user_id"`) and the child's "has a key" tests
/// (`c."user_id" IS NOT NULL`), one per column, for `AND`-joining. Quoted
/// with `"`, which SQLite and PostgreSQL share.
pub fn fk_predicates(fk: &crate::model::ForeignKeyDef) -> (Vec<String>, Vec<String>) {
    use sqlite::quote_ident;
    let join = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(c, p)| format!("p.{} = c.{}", quote_ident(p), quote_ident(c)))
        .collect();
    let not_null = fk
        .columns
        .iter()
        .map(|c| format!("c.{} IS NOT NULL", quote_ident(c)))
        .collect();
    (join, not_null)
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
                    "table `{t}`: {n} rows violated a key or foreign key in the target and were moved to {REJECTS_TABLE}"
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

/// A sink: where batches are written.
pub enum Sink {
    Sqlite(sqlite::SqliteSink),
    Postgres(postgres::PgSink),
    Mysql(mysql::MysqlSink),
    Json(json::JsonSink),
}

impl Sink {
    pub async fn connect(url: &EndpointUrl) -> Result<Sink, EndpointError> {
        match url {
            EndpointUrl::Sqlite(p) => Ok(Sink::Sqlite(sqlite::SqliteSink::open(p)?)),
            EndpointUrl::Postgres(u) => Ok(Sink::Postgres(postgres::PgSink::connect(u).await?)),
            EndpointUrl::Mysql(u) => Ok(Sink::Mysql(mysql::MysqlSink::connect(u).await?)),
            EndpointUrl::Json(p) => Ok(Sink::Json(
                json::JsonSink::connect(&p.to_string_lossy()).await?,
            )),
            EndpointUrl::Files(p) => Err(files_only(
                p,
                "is a source only; migrate into sqlite:, postgres://, mysql:// or json:",
            )),
        }
    }

    /// Creates the target tables (without secondary indexes or foreign keys
    /// where the endpoint can add them later) and the rejects table.
    pub async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.prepare(tables, if_exists)),
            Sink::Postgres(s) => s.prepare(tables, if_exists).await,
            Sink::Mysql(s) => s.prepare(tables, if_exists).await,
            Sink::Json(s) => s.prepare(tables, if_exists).await,
        }
    }

    /// Writes one batch and its rejects in one transaction.
    pub async fn write(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
    ) -> Result<WriteOutcome, EndpointError> {
        self.write_checkpointed(run_id, table, batch, rejects, None)
            .await
    }

    /// Writes one batch, its rejects and (with a ledger) its checkpoint in
    /// one transaction. `checkpoint` carries the counts before this batch;
    /// the sink adds what the batch wrote and rejected. Only sinks with a
    /// ledger ([`Sink::has_ledger`]) take a checkpoint.
    pub async fn write_checkpointed(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
        checkpoint: Option<&crate::ledger::Checkpoint>,
    ) -> Result<WriteOutcome, EndpointError> {
        self.write_with(run_id, table, batch, rejects, checkpoint, false)
            .await
    }

    /// [`Sink::write_checkpointed`], and with `upsert` rows replace those
    /// with the same primary key (incremental runs; ledger sinks only).
    pub async fn write_with(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
        checkpoint: Option<&crate::ledger::Checkpoint>,
        upsert: bool,
    ) -> Result<WriteOutcome, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| {
                s.write(run_id, table, batch, rejects, checkpoint, upsert)
            }),
            Sink::Postgres(s) => {
                s.write(run_id, table, batch, rejects, checkpoint, upsert)
                    .await
            }
            Sink::Mysql(s) => {
                s.write(run_id, table, batch, rejects, checkpoint, upsert)
                    .await
            }
            Sink::Json(_) if checkpoint.is_some() || upsert => Err(self.no_ledger()),
            Sink::Json(s) => s.write(run_id, table, batch, rejects).await,
        }
    }

    /// Whether this target keeps a ledger (runs, checkpoints): SQLite,
    /// PostgreSQL and MySQL/MariaDB. A json target keeps it in `--state`.
    pub fn has_ledger(&self) -> bool {
        matches!(self, Sink::Sqlite(_) | Sink::Postgres(_) | Sink::Mysql(_))
    }

    fn no_ledger(&self) -> EndpointError {
        EndpointError::Query {
            endpoint: self.describe(),
            table: Some(crate::ledger::RUNS_TABLE.into()),
            reason: "this target keeps no ledger yet (runs, checkpoints, resume): use a SQLite or PostgreSQL target".into(),
        }
    }

    /// Rows and an order-independent checksum of a table's content, `None`
    /// when it does not exist (what a rollback must restore and proves).
    /// json: lines and the SHA-256 of the file.
    pub async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.table_checksum(table)),
            Sink::Postgres(s) => s.table_checksum(table).await,
            Sink::Mysql(s) => s.table_checksum(table).await,
            Sink::Json(s) => tokio::task::block_in_place(|| s.table_checksum(table)),
        }
    }

    /// json targets (whose ledger is elsewhere, `--state`): the file lengths
    /// after the last write, for the checkpoint; `None` for other sinks.
    pub fn json_offsets(&self, table: &str) -> Result<Option<String>, EndpointError> {
        match self {
            Sink::Json(s) => s.offsets(table).map(Some),
            _ => Ok(None),
        }
    }

    /// json targets, on resume: cut a table's file (and the quarantine file)
    /// back to what the last checkpoint recorded.
    pub fn json_truncate_back(
        &mut self,
        table: &str,
        table_len: Option<u64>,
        rejects: Option<u64>,
    ) -> Result<(), EndpointError> {
        match self {
            Sink::Json(s) => {
                tokio::task::block_in_place(|| s.truncate_back(table, table_len, rejects))
            }
            _ => Ok(()),
        }
    }

    /// json targets: a copy of the directory's files before a run; its path.
    pub fn json_backup(&mut self, run_id: &str) -> Result<Option<String>, EndpointError> {
        match self {
            Sink::Json(s) => tokio::task::block_in_place(|| s.backup_files(run_id)).map(Some),
            _ => Ok(None),
        }
    }

    /// Keeps the pre-run state of tables a run is about to replace and
    /// records each backup (`backups`: table, rows and checksum before):
    /// PostgreSQL moves each table to the `_ferry_backup` schema (`moved`,
    /// recorded in the same transaction); SQLite copies the database file
    /// once (`snapshot`), then records.
    pub async fn backup_tables(
        &mut self,
        run_id: &str,
        backups: &[crate::ledger::Backup],
        in_place: bool,
    ) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| {
                let file = s.snapshot(run_id)?;
                for b in backups {
                    s.save_backup(&crate::ledger::Backup {
                        kind: "snapshot".into(),
                        backup_ref: Some(file.clone()),
                        ..b.clone()
                    })?;
                    crate::ledger::failpoint_at("backup", Some(&b.table));
                }
                Ok(())
            }),
            // A run that changes tables in place (incremental) needs a copy;
            // one that replaces them can move them aside.
            Sink::Postgres(s) => {
                for b in backups {
                    s.backup_table(run_id, &b.table, b, in_place).await?;
                }
                Ok(())
            }
            Sink::Mysql(s) => {
                for b in backups {
                    s.backup_table(run_id, b, in_place).await?;
                }
                Ok(())
            }
            _ => Err(self.no_ledger()),
        }
    }

    /// Puts a table back as its backup says (see [`crate::ledger::Backup`]).
    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.restore_table(table, kind, backup)),
            Sink::Postgres(s) => s.restore_table(table, kind, backup).await,
            Sink::Mysql(s) => s.restore_table(table, kind, backup).await,
            Sink::Json(s) => tokio::task::block_in_place(|| s.restore_files(table, backup)),
        }
    }

    /// Deletes a run's rows from the rejects table.
    pub async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.delete_run_rejects(run_id)),
            Sink::Postgres(s) => s.delete_run_rejects(run_id).await,
            Sink::Mysql(s) => s.delete_run_rejects(run_id).await,
            Sink::Json(s) => tokio::task::block_in_place(|| s.delete_run_rejects(run_id)),
        }
    }

    /// Records what undoing a run needs for one table.
    pub async fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.save_backup(b)),
            Sink::Postgres(s) => s.save_backup(b).await,
            Sink::Mysql(s) => s.save_backup(b).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// What undoing a run needs.
    pub async fn backups(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.backups(run_id)),
            Sink::Postgres(s) => s.backups(run_id).await,
            Sink::Mysql(s) => s.backups(run_id).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// Creates or upgrades the ledger tables.
    pub async fn ledger_init(&mut self) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.ledger_init()),
            Sink::Postgres(s) => s.ledger_init().await,
            Sink::Mysql(s) => s.ledger_init().await,
            _ => Err(self.no_ledger()),
        }
    }

    /// Inserts or updates a run in the ledger.
    pub async fn save_run(&mut self, r: &crate::ledger::RunRecord) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.save_run(r)),
            Sink::Postgres(s) => s.save_run(r).await,
            Sink::Mysql(s) => s.save_run(r).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// Runs in the ledger, newest first (one when `run_id` is given).
    pub async fn runs(
        &mut self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::RunRecord>, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.runs(run_id)),
            Sink::Postgres(s) => s.runs(run_id).await,
            Sink::Mysql(s) => s.runs(run_id).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// A run's checkpoints.
    pub async fn checkpoints(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Checkpoint>, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.checkpoints(run_id)),
            Sink::Postgres(s) => s.checkpoints(run_id).await,
            Sink::Mysql(s) => s.checkpoints(run_id).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// High-water marks of runs not rolled back, oldest first.
    pub async fn marks(&mut self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.marks()),
            Sink::Postgres(s) => s.marks().await,
            Sink::Mysql(s) => s.marks().await,
            _ => Err(self.no_ledger()),
        }
    }

    /// Saves a checkpoint on its own transaction.
    pub async fn save_checkpoint(
        &mut self,
        cp: &crate::ledger::Checkpoint,
    ) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.save_checkpoint(cp)),
            Sink::Postgres(s) => s.save_checkpoint(cp).await,
            Sink::Mysql(s) => s.save_checkpoint(cp).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// Empties `table` and this run's rejects and checkpoint for
    /// `source_table`: a table reloaded from scratch on resume.
    pub async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        match self {
            Sink::Sqlite(s) => {
                tokio::task::block_in_place(|| s.restart_table(run_id, table, source_table))
            }
            Sink::Postgres(s) => s.restart_table(run_id, table, source_table).await,
            Sink::Mysql(s) => s.restart_table(run_id, table, source_table).await,
            _ => Err(self.no_ledger()),
        }
    }

    /// After the load: primary keys, unique constraints, indexes, then
    /// foreign keys, tables in dependency order. Rows that violate a key
    /// (a duplicate, an orphan) are moved to the rejects table under
    /// `run_id` first, so the constraints can be created and nothing is lost.
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<Finished, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.finish(run_id, tables)),
            Sink::Postgres(s) => s.finish(run_id, tables).await,
            Sink::Mysql(s) => s.finish(run_id, tables).await,
            Sink::Json(s) => s.finish(run_id, tables).await,
        }
    }

    /// How duplicates of a unique key across consolidated sources are
    /// resolved in `finish` (`consolidating` = more than one source). The
    /// PostgreSQL sink applies every policy and re-points children at the
    /// kept row; SQLite applies fail and the keep order; others keep first.
    pub fn set_conflict(&mut self, policy: &crate::consolidate::Conflict, consolidating: bool) {
        let p = consolidating.then(|| policy.clone());
        match self {
            Sink::Postgres(s) => s.conflict = p,
            Sink::Sqlite(_) | Sink::Mysql(_) | Sink::Json(_) => {}
        }
    }

    /// Human name of the endpoint for reports.
    pub fn describe(&self) -> String {
        match self {
            Sink::Sqlite(s) => s.describe(),
            Sink::Postgres(s) => s.describe(),
            Sink::Mysql(s) => s.describe(),
            Sink::Json(s) => s.describe(),
        }
    }

    /// Deletes the rows of `table` whose `column` is one of `values` (and,
    /// with `eq`, whose other column equals a value): how an incremental
    /// files run replaces a changed file's records. Not for json targets.
    pub async fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        if values.is_empty() {
            return Ok(0);
        }
        match self {
            Sink::Sqlite(s) => {
                tokio::task::block_in_place(|| s.delete_rows(table, eq, column, values))
            }
            Sink::Postgres(s) => s.delete_rows(table, eq, column, values).await,
            Sink::Mysql(s) => s.delete_rows(table, eq, column, values).await,
            Sink::Json(s) => Err(EndpointError::Query {
                endpoint: s.describe(),
                table: Some(table.to_string()),
                reason: "a json target cannot delete rows; incremental runs need a database target"
                    .into(),
            }),
        }
    }

    /// Which of `names` already exist in the target.
    pub async fn existing_tables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.existing_tables(names)),
            Sink::Postgres(s) => s.existing_tables(names).await,
            Sink::Mysql(s) => s.existing_tables(names).await,
            Sink::Json(s) => s.existing_tables(names).await,
        }
    }

    /// The type this sink creates for a column.
    pub fn column_type(
        url: &EndpointUrl,
        source: &TableDef,
        col: &crate::model::ColumnDef,
    ) -> String {
        match url {
            EndpointUrl::Sqlite(_) => sqlite::column_type(source, col),
            EndpointUrl::Postgres(_) => postgres::column_type(source, col),
            EndpointUrl::Mysql(_) => mysql::column_type(source, col),
            EndpointUrl::Json(_) | EndpointUrl::Files(_) => json::column_type(source, col),
        }
    }

    /// The target's identifier limit in bytes, and whether it compares
    /// column names case-insensitively; `None` when names are unlimited.
    /// PostgreSQL: 63 bytes (NAMEDATALEN - 1; longer names are silently
    /// truncated by the server). MySQL: 64 characters, taken as 64 bytes so
    /// a fitted name always fits; column names fold case.
    pub fn identifier_rules(url: &EndpointUrl) -> Option<(usize, bool)> {
        match url {
            EndpointUrl::Postgres(_) => Some((63, false)),
            EndpointUrl::Mysql(_) => Some((64, true)),
            EndpointUrl::Sqlite(_) | EndpointUrl::Json(_) | EndpointUrl::Files(_) => None,
        }
    }

    /// How many tables may load at once, each on its own connection.
    /// PostgreSQL: 2 — one COPY stream per core of this class of machine;
    /// more only queue on the server. SQLite: 1 — a single writer.
    /// MySQL: 2, as PostgreSQL. JSON: 1 — the quarantine file is shared.
    pub fn parallel_writers(url: &EndpointUrl) -> usize {
        match url {
            EndpointUrl::Sqlite(_) | EndpointUrl::Json(_) | EndpointUrl::Files(_) => 1,
            EndpointUrl::Postgres(_) | EndpointUrl::Mysql(_) => 2,
        }
    }
}
