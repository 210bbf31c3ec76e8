//! The directory's layout: file names, the schema file, URL options, errors.

use crate::endpoint::EndpointError;
use crate::model::TableDef;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// The schema file's name inside the directory.
pub(super) const SCHEMA_FILE: &str = "_schema.json";
/// The quarantine file's name: `_ferry_rejects` plus the JSON Lines extension.
pub(super) const REJECTS_FILE: &str = "_ferry_rejects.jsonl";
/// The `format` tag of the schema file.
pub(super) const FORMAT: &str = "ferry-json";
/// The schema file version this code reads and writes.
pub(super) const VERSION: u32 = 1;
/// Longest line (or array item) read: 64 MiB. A longer one is a reject with
/// code `line-too-long` and is skipped holding at most this much, so a
/// corrupt or hostile file cannot exhaust memory. Raise it if real rows are
/// larger.
pub(super) const MAX_LINE: usize = 64 << 20;
/// Records sampled to infer a table without a schema entry: 10,000. A value
/// after the sample that does not fit the inferred type is a reject at read
/// (never coerced), so the sample only trades inference time for fewer surprises.
pub(super) const INFER_SAMPLE: usize = 10_000;
/// Largest data file whose keys `finish` enforces, and largest parent file
/// its foreign keys are checked against: 256 MiB. The key values are held in
/// memory (exactly, as text: a hash collision would quarantine a good row),
/// so above it the table is left unchecked with a warning. Raise it on
/// machines with memory to spare.
pub(super) const FK_CHECK_MAX_BYTES: u64 = 256 << 20;
/// Largest child file that `nest=` folds into its parent: 256 MiB. The child
/// rows are held in memory, grouped by parent key, while the parent file
/// streams through once; above it the child stays a table of its own, with
/// a warning. An external sort by parent key would lift the limit; raise it
/// on machines with memory to spare.
pub(super) const NEST_MAX_BYTES: u64 = 256 << 20;

/// The schema file's content.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SchemaFile {
    pub(super) format: String,
    pub(super) version: u32,
    pub(super) tables: Vec<TableDef>,
    /// Child tables a `nest=` target folded into a parent's json column,
    /// kept so a source can present them as tables again (exact types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) nested: Vec<NestedDef>,
}

/// A child table nested into `parent.column` (see `docs/json-format.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct NestedDef {
    pub(super) parent: String,
    pub(super) column: String,
    /// The child table as it was written before nesting.
    pub(super) table: TableDef,
}

/// The options after `?` in `json:DIR?…` (`&`-separated `KEY=VALUE`).
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Options {
    /// `normalise=TABLE.COLUMN[,…]`: (table, column), split at the last `.`.
    pub(super) normalise: Vec<(String, String)>,
    /// `nest=CHILD_TABLE[,…]`.
    pub(super) nest: Vec<String>,
}

/// Splits `DIR?OPTIONS` into the directory and its options. The first `?`
/// starts the options, so a directory name cannot contain one.
pub(super) fn split_url(url: &str) -> Result<(PathBuf, Options), EndpointError> {
    let bad = |reason: String| EndpointError::BadUrl {
        url: format!("json:{url}"),
        reason,
    };
    let (dir, query) = match url.split_once('?') {
        Some((d, q)) => (d, Some(q)),
        None => (url, None),
    };
    if dir.is_empty() {
        return Err(bad("give a directory: json:DIR".into()));
    }
    let mut o = Options::default();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let items = value.split(',').map(str::trim);
        match key {
            "normalise" => {
                for item in items {
                    let Some((t, c)) = item
                        .rsplit_once('.')
                        .filter(|(t, c)| !t.is_empty() && !c.is_empty())
                    else {
                        return Err(bad(format!(
                            "normalise takes TABLE.COLUMN[,TABLE.COLUMN…], not `{item}`"
                        )));
                    };
                    if !o.normalise.iter().any(|(a, b)| a == t && b == c) {
                        o.normalise.push((t.to_string(), c.to_string()));
                    }
                }
            }
            "nest" => {
                for item in items {
                    if item.is_empty() {
                        return Err(bad("nest takes CHILD_TABLE[,CHILD_TABLE…]".into()));
                    }
                    if !o.nest.iter().any(|n| n == item) {
                        o.nest.push(item.to_string());
                    }
                }
            }
            _ => {
                return Err(bad(format!(
                    "unknown option `{key}`; a json endpoint takes `normalise=TABLE.COLUMN` \
                     (source) or `nest=CHILD_TABLE` (target)"
                )));
            }
        }
    }
    Ok((PathBuf::from(dir), o))
}

pub(super) fn q_err(
    endpoint: &str,
    table: Option<&str>,
    reason: impl std::fmt::Display,
) -> EndpointError {
    EndpointError::Query {
        endpoint: endpoint.to_string(),
        table: table.map(str::to_string),
        reason: reason.to_string(),
    }
}

pub(super) fn io_err(
    endpoint: &str,
    table: Option<&str>,
    what: &str,
    path: &Path,
    e: io::Error,
) -> EndpointError {
    q_err(endpoint, table, format!("{what} {}: {e}", path.display()))
}

pub(super) fn join_err(endpoint: &str, e: tokio::task::JoinError) -> EndpointError {
    q_err(endpoint, None, format!("file task failed: {e}"))
}

/// Refuses table names that cannot be file names as they are: ferry never
/// renames silently, so the user renames the table (e.g. with a transformer).
pub(super) fn check_table_name(endpoint: &str, name: &str) -> Result<(), EndpointError> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator (`/` or `\\`)")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else if name.contains("..") {
        Some("contains `..`")
    } else if name.starts_with("_ferry_") {
        Some("starts with `_ferry_`, which is reserved for ferry's own files")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(q_err(
            endpoint,
            Some(name),
            format!(
                "the table name {why}, so it cannot be a file name in a JSON directory; \
                 rename the table (e.g. with a transformer) or choose another target"
            ),
        )),
    }
}

pub(super) use crate::model::shown;
