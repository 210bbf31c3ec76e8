//! Endpoints: where data lives. The only layer that knows database drivers.
//!
//! | endpoint | source | sink | driver |
//! | --- | --- | --- | --- |
//! | `sqlite:PATH` | yes | yes | rusqlite (bundled SQLite) |
//! | `postgres://…` | — (issue 3) | yes, via `COPY … (FORMAT binary)` | tokio-postgres |
//!
//! Type mapping (first version; promotions of dates, booleans and JSON stored
//! in TEXT come with the full mapping): see [`sqlite::logical_type`],
//! [`postgres::pg_type`] and `docs/type-mapping.md`.

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
}

impl Source {
    pub async fn open(url: &EndpointUrl) -> Result<Source, EndpointError> {
        match url {
            EndpointUrl::Sqlite(p) => Ok(Source::Sqlite(Arc::new(sqlite::SqliteSource::open(p)?))),
            EndpointUrl::Postgres(_) => Err(EndpointError::BadUrl {
                url: url.to_string(),
                reason: "PostgreSQL cannot be a source in this version of ferry; sources are sqlite:PATH".into(),
            }),
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
        match self {
            Source::Sqlite(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || {
                    s.read(&table, batch_size, |batch, rejects, rows_read| {
                        tx.blocking_send(ReadBatch {
                            batch,
                            rejects,
                            rows_read,
                        })
                        .is_ok()
                    })
                })
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Sqlite(s) => s.describe(),
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
        }
    }

    /// Whether several tables may be read at once.
    pub fn parallel_reads(&self) -> bool {
        match self {
            // Read-only connections on a file: concurrent readers are fine.
            Source::Sqlite(_) => true,
        }
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
}

impl std::fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            EndpointUrl::Postgres(u) => f.write_str(&redact(u)),
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
        for scheme in ["mysql:", "mariadb:", "json:", "files:"] {
            if s.starts_with(scheme) {
                return Err(bad(&format!(
                    "the `{scheme}` endpoint is not available in this version of ferry; use sqlite: or postgres://"
                )));
            }
        }
        Err(bad("expected sqlite:PATH or postgres://USER@HOST:PORT/DB"))
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
}

impl Sink {
    pub async fn connect(url: &EndpointUrl) -> Result<Sink, EndpointError> {
        match url {
            EndpointUrl::Sqlite(p) => Ok(Sink::Sqlite(sqlite::SqliteSink::open(p)?)),
            EndpointUrl::Postgres(u) => Ok(Sink::Postgres(postgres::PgSink::connect(u).await?)),
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
        match self {
            Sink::Sqlite(s) => {
                tokio::task::block_in_place(|| s.write(run_id, table, batch, rejects))
            }
            Sink::Postgres(s) => s.write(run_id, table, batch, rejects).await,
        }
    }

    /// After the load: primary keys, unique constraints, indexes, then
    /// foreign keys, tables in dependency order. Returns what it created and
    /// warnings (e.g. rows whose foreign key points at a missing parent).
    pub async fn finish(
        &mut self,
        tables: &[TargetTable],
    ) -> Result<(Vec<String>, Vec<String>), EndpointError> {
        match self {
            Sink::Sqlite(s) => tokio::task::block_in_place(|| s.finish(tables)),
            Sink::Postgres(s) => s.finish(tables).await,
        }
    }

    /// Human name of the endpoint for reports.
    pub fn describe(&self) -> String {
        match self {
            Sink::Sqlite(s) => s.describe(),
            Sink::Postgres(s) => s.describe(),
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
            EndpointUrl::Postgres(_) => postgres::pg_type(col.logical_type).to_string(),
        }
    }

    /// How many tables may load at once, each on its own connection.
    /// PostgreSQL: 2 — one COPY stream per core of this class of machine;
    /// more only queue on the server. SQLite: 1 — a single writer.
    pub fn parallel_writers(url: &EndpointUrl) -> usize {
        match url {
            EndpointUrl::Sqlite(_) => 1,
            EndpointUrl::Postgres(_) => 2,
        }
    }
}
