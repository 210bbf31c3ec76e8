//! What to migrate and how: the engine's options, built from flags and a
//! config by the CLI, or from a saved plan by [`MigrateOptions::from_plan`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cast::CastRule;
use crate::consolidate::{Conflict, KeyStrategy};
use crate::endpoint::files::FilesSettings;
use crate::endpoint::{EndpointUrl, IfExists};
use crate::model::glob_match;
use crate::plan::{Plan, PlannedPlugin};
use crate::plugin::{Plugin, PluginError, Registry};

/// Default rows per batch: 5,000. Large enough that per-batch costs
/// (a transaction, a COPY, a plugin call) are amortised, small enough that a
/// batch of a wide table stays a few MiB — well inside plugin memory and
/// output limits — and that a failed batch is cheap to redo.
pub const DEFAULT_BATCH_SIZE: usize = 5_000;

/// Largest accepted batch size: 1,000,000 rows, beyond which a single batch
/// of a wide table no longer fits the default plugin limits.
pub const MAX_BATCH_SIZE: usize = 1_000_000;

/// What a rejected row does to its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnReject {
    /// The row goes to quarantine with its reason; the rest of its batch lands.
    #[default]
    Quarantine,
    /// The run stops; nothing of the batch holding the row is committed.
    Abort,
}

/// A plugin in the chain with its configuration JSON.
#[derive(Debug, Clone)]
pub struct PluginUse {
    pub plugin: Plugin,
    /// How the operator named it (`mask`, `./x.wasm`), recorded in plans.
    pub reference: String,
    pub config: String,
    /// Tables it applies to: names or `*` globs. Empty means every table.
    pub tables: Vec<String>,
}

impl PluginUse {
    pub fn applies_to(&self, table: &str) -> bool {
        self.tables.is_empty() || self.tables.iter().any(|p| glob_match(p, table))
    }
}

/// A plugin as an operator names it (`--transform`, a service request):
/// `[TABLES:]NAME[=JSON]`.
#[derive(Debug, Clone)]
pub struct PluginArg {
    /// Table names or globs it applies to; empty means all.
    pub tables: Vec<String>,
    /// Plugin name or path.
    pub name: String,
    /// Configuration JSON (`{}` when absent).
    pub config: String,
}

/// Parses `[TABLES:]NAME[=JSON]`, e.g. `mask`, `users:mask={"key":…}`,
/// `users,orders:rules=…`, `./my.wasm`.
pub fn split_plugin_arg(s: &str) -> Result<PluginArg, String> {
    let (head, config) = match s.split_once('=') {
        Some((n, c)) => (n.trim(), c.trim()),
        None => (s.trim(), "{}"),
    };
    let (tables, name) = match head.split_once(':') {
        Some((t, n)) => (
            t.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
            n.trim(),
        ),
        None => (Vec::new(), head),
    };
    if name.is_empty() {
        return Err(format!("`{s}`: expected [TABLES:]NAME[=JSON]"));
    }
    serde_json::from_str::<serde_json::Value>(config)
        .map_err(|e| format!("`{name}`: the configuration is not valid JSON: {e}"))?;
    Ok(PluginArg {
        tables,
        name: name.to_string(),
        config: config.to_string(),
    })
}

impl PluginArg {
    /// The plugin, resolved in `registry`, with its scope and configuration.
    pub async fn resolve(&self, registry: &Registry) -> Result<PluginUse, PluginError> {
        Ok(PluginUse {
            plugin: registry.resolve(&self.name).await?,
            reference: self.name.clone(),
            config: self.config.clone(),
            tables: self.tables.clone(),
        })
    }
}

/// What to migrate and how.
pub struct MigrateOptions {
    pub from: EndpointUrl,
    pub to: EndpointUrl,
    pub transforms: Vec<PluginUse>,
    pub validators: Vec<PluginUse>,
    pub batch_size: usize,
    pub if_exists: IfExists,
    /// Casting rules from the config (first match wins); they override
    /// ferry's promotions.
    pub casts: Vec<CastRule>,
    /// Verify the target at the end of the run (`None`: don't).
    pub verify: Option<crate::engine::verify::Level>,
    /// More sources with the same schema, loaded after `from` into the same
    /// target, and how their keys and conflicts are handled.
    pub consolidate: Consolidate,
    /// What a rejected row does: per table (first matching glob), else the default.
    pub on_reject: (OnReject, Vec<(String, OnReject)>),
    /// Continue an interrupted run from its checkpoints (`ferry resume`).
    pub resume: Option<Resume>,
    /// Bring only what changed since the last run (`--incremental`).
    pub incremental: Option<Incremental>,
    /// Where the ledger lives when the target cannot hold it (`--state`,
    /// for json targets): a SQLite file or a PostgreSQL database.
    pub state: Option<EndpointUrl>,
    /// A directory of legacy files as the source: its `[files]` settings
    /// (the content table, mapping, parsers, limits). Databases ignore them.
    pub files: FilesSettings,
    /// Where plugins are resolved: a directory's parsers come from it.
    pub registry: Option<Registry>,
    /// How transient failures are retried from the last checkpoints.
    pub retry: super::retry::RetryPolicy,
    /// Which tables to migrate (names or `*` globs; empty: every table)
    /// and which to leave out; a foreign key to a table left out is
    /// dropped visibly (a plan risk, `not_carried`).
    pub selection: TableSelection,
    /// Create an index for every foreign key whose columns no index,
    /// unique constraint or primary key leads with (PostgreSQL and SQLite
    /// do not index them themselves; MySQL does).
    pub index_foreign_keys: bool,
    /// Set from outside (a service's cancel, a shutdown) to stop the load
    /// after the batch in flight; the run ends `cancelled` and resumable.
    pub stop: Stop,
    /// The new run's id (a service hands it out before the run starts);
    /// `None`: a fresh UUID. A resumed run keeps its own.
    pub run_id: Option<String>,
}

/// A request to stop a run after the batch in flight. Clones share it.
///
/// Every table's stage checks it before it takes the next batch, so the
/// target holds whole, checkpointed batches and `ferry resume` continues
/// from them. It is only looked at while tables load: a run whose load has
/// finished goes on to build its keys and verify (minutes at most, and
/// stopping there would leave a table without its keys).
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Which source tables a run takes: `include` (empty: all) minus `exclude`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSelection {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl TableSelection {
    /// Whether `table` is taken.
    pub fn takes(&self, table: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| glob_match(g, table)))
            && !self.exclude.iter().any(|g| glob_match(g, table))
    }

    /// A pattern that matches no table is a typo that would silently take
    /// nothing (or everything): the first such pattern, with its flag.
    pub fn unmatched<'a>(&'a self, tables: &[&str]) -> Option<(&'static str, &'a str)> {
        let none = |g: &String| !tables.iter().any(|t| glob_match(g, t));
        self.include
            .iter()
            .find(|g| none(g))
            .map(|g| ("--tables", g.as_str()))
            .or_else(|| {
                self.exclude
                    .iter()
                    .find(|g| none(g))
                    .map(|g| ("--exclude-tables", g.as_str()))
            })
    }
}

/// An incremental run: each table is read after its high-water mark — the
/// last `(cursor, rowid)` a run not rolled back committed — and its rows
/// replace the target's rows with the same primary key.
#[derive(Debug, Clone, Default)]
pub struct Incremental {
    /// The column that grows when a row changes (e.g. `updated_at`); tables
    /// without it are read after their last rowid (new rows only).
    pub cursor: Option<String>,
    /// Without a recorded mark: only rows whose cursor is greater than this.
    pub since: Option<String>,
}

/// What the ledger says about a run being resumed.
#[derive(Debug, Clone)]
pub struct Resume {
    pub run_id: String,
    /// Per table: how far the load got.
    pub checkpoints: Vec<crate::ledger::Checkpoint>,
}

impl MigrateOptions {
    /// A plain copy from `from` to `to` with every default: no plugins,
    /// batches of [`DEFAULT_BATCH_SIZE`], a full verification, the default
    /// reject policy and retries. Library callers set what they need with
    /// struct update syntax, so a new option does not break them.
    pub fn new(from: EndpointUrl, to: EndpointUrl) -> MigrateOptions {
        MigrateOptions {
            from,
            to,
            transforms: Vec::new(),
            validators: Vec::new(),
            batch_size: DEFAULT_BATCH_SIZE,
            if_exists: IfExists::default(),
            casts: Vec::new(),
            verify: Some(crate::engine::verify::Level::Full),
            consolidate: Consolidate::default(),
            on_reject: Default::default(),
            resume: None,
            incremental: None,
            state: None,
            files: FilesSettings::default(),
            registry: None,
            retry: super::retry::RetryPolicy::default(),
            selection: TableSelection::default(),
            index_foreign_keys: false,
            stop: Stop::default(),
            run_id: None,
        }
    }

    /// The reject policy of one table.
    pub fn on_reject_for(&self, table: &str) -> OnReject {
        self.on_reject
            .1
            .iter()
            .find(|(g, _)| glob_match(g, table))
            .map(|(_, p)| *p)
            .unwrap_or(self.on_reject.0)
    }
}

/// Consolidation settings (see [`crate::consolidate`]).
#[derive(Debug, Clone)]
pub struct Consolidate {
    /// Sources after the first (`--from` repeated).
    pub more_sources: Vec<EndpointUrl>,
    pub keys: KeyStrategy,
    pub namespace: uuid::Uuid,
    pub on_conflict: Conflict,
}

impl Default for Consolidate {
    fn default() -> Self {
        Consolidate {
            more_sources: Vec::new(),
            keys: KeyStrategy::Keep,
            namespace: crate::consolidate::default_namespace(),
            on_conflict: Conflict::KeepFirst,
        }
    }
}

/// What a saved plan does not say, and the operator gives again when it runs.
#[derive(Debug, Clone, Default)]
pub struct PlanOverrides {
    /// Another source than the plan's (same schema, or the run is refused).
    pub from: Option<EndpointUrl>,
    /// More sources than the plan's (a consolidation given again).
    pub more_sources: Option<Vec<EndpointUrl>>,
    /// The target: required when the plan's target hides its password.
    pub to: Option<EndpointUrl>,
    pub state: Option<EndpointUrl>,
    pub verify: Option<crate::engine::verify::Level>,
    pub on_reject: (OnReject, Vec<(String, OnReject)>),
    /// Consolidation settings (keys, namespace, conflicts) given again.
    pub consolidate: Option<Consolidate>,
    /// A directory's `[files]` settings (the plan's content table is
    /// compared with what they make).
    pub files: FilesSettings,
    pub retry: super::retry::RetryPolicy,
}

/// Why a saved plan cannot be turned into options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanOptionsError {
    #[error("the plan's {what} `{value}` is not an endpoint: {reason}")]
    Endpoint {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("the plan's target hides its password; give it again with --to")]
    HiddenPassword,
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

impl MigrateOptions {
    /// The options a saved plan was made with: the same endpoints and the
    /// same plugins, each pinned to the digest the plan recorded (a plugin
    /// whose build changed is refused by the registry, naming both digests).
    pub async fn from_plan(
        plan: &Plan,
        over: PlanOverrides,
        registry: &Registry,
    ) -> Result<MigrateOptions, PlanOptionsError> {
        let url = |what: &'static str, s: &str| {
            s.parse::<EndpointUrl>()
                .map_err(|e| PlanOptionsError::Endpoint {
                    what,
                    value: s.to_string(),
                    reason: e.to_string(),
                })
        };
        let from = match over.from {
            Some(f) => f,
            None => url("source", &plan.source)?,
        };
        let mut consolidate = over.consolidate.unwrap_or_default();
        consolidate.more_sources = match over.more_sources {
            Some(m) => m,
            None => plan
                .more_sources
                .iter()
                .map(|s| url("source", s))
                .collect::<Result<_, _>>()?,
        };
        if plan.tables.iter().any(|t| !t.rekey.is_empty()) {
            consolidate.keys = KeyStrategy::Uuid5;
        }
        let to = match over.to {
            Some(t) => t,
            None if plan.target.contains(":***@") => return Err(PlanOptionsError::HiddenPassword),
            None => url("target", &plan.target)?,
        };
        let pinned = async |list: &[PlannedPlugin]| -> Result<Vec<PluginUse>, PluginError> {
            let mut out = Vec::new();
            for p in list {
                out.push(PluginUse {
                    plugin: registry.resolve_pinned(&p.reference, &p.sha256).await?,
                    reference: p.reference.clone(),
                    config: p.config.clone(),
                    tables: p.tables.clone(),
                });
            }
            Ok(out)
        };
        Ok(MigrateOptions {
            from,
            to,
            transforms: pinned(&plan.transformers).await?,
            validators: pinned(&plan.validators).await?,
            batch_size: plan.batch_size,
            if_exists: if plan.if_exists == "drop" {
                IfExists::Drop
            } else {
                IfExists::Fail
            },
            // The plan's tables carry their casts; rules are only for planning.
            casts: Vec::new(),
            verify: over.verify,
            consolidate,
            on_reject: over.on_reject,
            resume: None,
            incremental: None,
            state: over.state,
            files: over.files,
            registry: Some(registry.clone()),
            retry: over.retry,
            selection: TableSelection {
                include: plan.include.clone(),
                exclude: plan.exclude.clone(),
            },
            index_foreign_keys: plan.index_foreign_keys,
            stop: Stop::default(),
            run_id: None,
        })
    }
}
