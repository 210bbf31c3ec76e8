//! What a run reports: per table, per phase, the plugins, the outcome, and
//! the typed error that stopped it.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::endpoint::EndpointError;
use crate::plugin::PluginError;

/// Per-table outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableReport {
    pub name: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_rejected: u64,
    /// Loaded as the source's wire carried the rows, nothing decoded or
    /// encoded on the way (PostgreSQL → PostgreSQL, no cast or plugin).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passthrough: bool,
}

/// Milliseconds per phase of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phases {
    /// Introspection, sampling, plugin schema hooks.
    pub plan_ms: u64,
    /// Reading, casting, plugins and writing every table.
    pub load_ms: u64,
    /// From the end of the load: keys, indexes, checks and foreign keys
    /// (and moving violating rows), identity counters restarted, views
    /// created. On a target that builds a table's own keys while the others
    /// load (PostgreSQL), only what remained when the last table loaded.
    pub constraints_ms: u64,
    /// Refreshing the target's statistics of the loaded tables (`ANALYZE`)
    /// after the constraints; a table whose keys were built during the load
    /// had its statistics gathered then.
    #[serde(default)]
    pub analyze_ms: u64,
    /// The end-of-run verification.
    pub verify_ms: u64,
}

/// Milliseconds since `since`.
pub(crate) fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every row read was written.
    Succeeded,
    /// Finished; some rows are in the rejects table.
    SucceededWithRejects,
    /// Stopped on an error.
    Failed,
}

/// The run report (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub status: RunStatus,
    pub source: String,
    pub target: String,
    pub tables: Vec<TableReport>,
    pub duration_ms: u64,
    /// Where the time went.
    pub phases: Phases,
    /// Where rejected rows are, when there are any.
    pub rejects_table: Option<String>,
    /// Keys, constraints and indexes created after the load.
    pub constraints: Vec<String>,
    /// Keys or indexes that could not be recreated (e.g. a transformer dropped a column).
    pub warnings: Vec<String>,
    /// Views created in the target.
    pub views: Vec<String>,
    /// Every schema object of the source the target did not get, and why
    /// (the plan's list, plus views the target refused, with its error).
    pub not_carried: Vec<crate::model::NotCarried>,
    /// The plugin chain: name, kind, version, digest.
    pub plugins: Vec<PluginRef>,
    pub error: Option<String>,
    /// Stable error code when failed (`plugin:limit-exceeded`, `endpoint`, …).
    pub error_code: Option<String>,
    /// The end-of-run verification, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::engine::verify::VerifyReport>,
    /// What a source reports of its own, under its name (a directory of
    /// files: `files`, every file's outcome).
    #[serde(flatten)]
    pub details: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub sha256: String,
}

/// A migration that could not run or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{source} (table `{table}`, batch {batch}); nothing of this batch was written")]
    Plugin {
        table: String,
        batch: u64,
        #[source]
        source: PluginError,
    },
    #[error("planning table `{table}`: {source}{}", scope_hint(source))]
    Plan {
        table: String,
        #[source]
        source: PluginError,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error(
        "table `{table}`, batch {batch}: {rows} rows rejected ({reason}) and the table's policy is on_reject = \"abort\"; nothing of this batch was written (earlier batches were)"
    )]
    Aborted {
        table: String,
        batch: u64,
        rows: usize,
        reason: String,
    },
    #[error("verify failed after the load (the data is in the target; look before using it): {}", .0.join("; "))]
    Verify(Vec<String>),
    #[error(
        "stopped on request after the batch in flight; the target holds every batch before it, checkpointed: continue with `ferry resume {0}`"
    )]
    Cancelled(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn scope_hint(e: &PluginError) -> String {
    match e {
        PluginError::Guest { plugin, error, .. }
            if matches!(**error, crate::plugin::GuestError::UnsupportedSchema(_)) =>
        {
            format!(
                "; to apply `{plugin}` to some tables only, scope it: --transform 'TABLE[,TABLE…]:{plugin}=…' (globs allowed)"
            )
        }
        _ => String::new(),
    }
}

impl MigrateError {
    /// Whether trying again from the last checkpoints may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, MigrateError::Endpoint(e) if e.is_transient())
    }

    pub fn code(&self) -> String {
        match self {
            MigrateError::Endpoint(_) => "endpoint".into(),
            MigrateError::Plugin { source, .. } | MigrateError::Plan { source, .. } => {
                format!("plugin:{}", source.code())
            }
            MigrateError::Unsupported(_) => "unsupported".into(),
            MigrateError::Verify(_) => "verify".into(),
            MigrateError::Aborted { .. } => "aborted".into(),
            MigrateError::Cancelled(_) => "cancelled".into(),
            MigrateError::Internal(_) => "internal".into(),
        }
    }
}

impl Report {
    /// The exit-code class of the run: clean, with rejects, failed.
    pub fn rows_rejected(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_rejected).sum()
    }
}

/// An error with its causes, each once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
