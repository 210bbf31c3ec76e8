//! The TOML config file (`--config ferry.toml`): what the operator wrote,
//! validated and built into runtime settings.
//!
//! ```toml
//! batch_size = 5000              # rows per batch (default 5000)
//! plugin_dirs = ["./plugins"]    # where third-party plugins live
//!
//! [plugins.mask]                 # settings for the plugin named `mask`
//! sha256 = "9f2c…"               # pin: refuse any other build
//! path = "./plugins/mask.wasm"   # load from here instead
//! memory_mib = 256               # linear memory limit
//! timeout_ms = 10000             # per-call deadline
//! max_output_mib = 64            # cap on what one call may return
//!
//! sources = ["sqlite:a.db", "sqlite:b.db"]  # consolidate these (when no --from)
//! on_reject = "quarantine"       # or "abort": stop at the first rejected row
//! include = ["orders*", "customers"]  # the tables to migrate (globs; default: all)
//! exclude = ["*_tmp"]            # tables left out (--tables/--exclude-tables override)
//!
//! [tables.payments]              # per-table settings (globs allowed)
//! on_reject = "abort"
//!
//! [[cast]]                       # casting rules; override ferry's promotions
//! column = "users.created_at"    # TABLE.COLUMN (globs), or:
//! # type = "DATETIME"            # every column declared so
//! to = "timestamptz"             # a logical type (docs/type-mapping.md)
//!
//! [files]                        # the files endpoint (docs/files.md)
//! table = "content"
//! max_file_size = "50MB"
//! [[files.parser]]
//! glob = "legacy/*.dat"
//! parser = "csv"
//! config = { delimiter = "|" }
//! [files.mapping]
//! title = ["subject", "$file_stem"]
//! ```

pub mod serve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::plugin::{Limits, PluginSettings};

pub use crate::engine::options::{DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, OnReject};

/// The config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Rows per batch.
    pub batch_size: Option<usize>,
    /// Directories searched for `NAME.wasm` plugins.
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Per-plugin settings, by plugin name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
    /// Casting rules, first match wins.
    #[serde(default)]
    pub cast: Vec<crate::cast::CastRule>,
    /// What a rejected row does to the run: `quarantine` (default) or `abort`.
    pub on_reject: Option<OnReject>,
    /// Sources to consolidate, in load order, when `--from` is not given.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Per-table settings, by table name or glob.
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    /// The tables to migrate (names or globs; empty: every table).
    #[serde(default)]
    pub include: Vec<String>,
    /// Tables left out.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// The files endpoint (`files:DIR`): target table, size limit, parser
    /// overrides, column mapping.
    #[serde(default)]
    pub files: crate::endpoint::files::FilesSection,
    /// How transient failures (a server restart, a reset connection) are
    /// retried from the last checkpoints.
    #[serde(default)]
    pub retry: crate::engine::retry::RetrySection,
    /// Endpoints by name, for `ferry serve`: clients name them, never send
    /// a connection string.
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
    /// `ferry serve`: where it listens, its state, tokens and limits.
    #[serde(default)]
    pub serve: serve::ServeSection,
    /// `ferry schema`: where the migration files are.
    #[serde(default)]
    pub schema: SchemaSection,
    /// `ferry probe` (and `ferry migrate --probe`): clients, duration,
    /// thresholds.
    #[serde(default)]
    pub probe: ProbeSection,
}

/// `[probe]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    pub clients: Option<usize>,
    /// `30s`, `500ms`, `2m`.
    pub duration: Option<String>,
    /// The overall p95 latency above which a probe fails (`30ms`).
    pub p95: Option<String>,
}

/// `[probe]`, validated.
#[derive(Debug, Clone, Default)]
pub struct ProbeSettings {
    pub clients: Option<usize>,
    pub duration: Option<std::time::Duration>,
    pub p95: Option<std::time::Duration>,
}

/// `[schema]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaSection {
    /// The migration directory (relative to the config file). With it,
    /// `ferry migrate` refuses a target whose schema has pending or drifted
    /// migrations.
    pub dir: Option<PathBuf>,
}

/// Settings for the tables a name or glob matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub on_reject: Option<OnReject>,
}

/// Settings for one plugin, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Load the plugin from this file.
    pub path: Option<PathBuf>,
    /// sha256 pin, hex (optionally prefixed `sha256:`).
    pub sha256: Option<String>,
    /// Linear memory limit in MiB.
    pub memory_mib: Option<u64>,
    /// Per-call deadline in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Cap on one call's output in MiB.
    pub max_output_mib: Option<u64>,
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config {path}: {reason}")]
pub struct ConfigError {
    pub path: String,
    pub reason: String,
}

/// The validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub batch_size: usize,
    pub plugin_dirs: Vec<PathBuf>,
    pub plugins: BTreeMap<String, PluginSettings>,
    pub casts: Vec<crate::cast::CastRule>,
    pub on_reject: OnReject,
    /// (table glob, policy), in file order.
    pub table_on_reject: Vec<(String, OnReject)>,
    /// Sources from the config, parsed.
    pub sources: Vec<crate::endpoint::EndpointUrl>,
    /// The files endpoint's settings.
    pub files: crate::endpoint::files::FilesSettings,
    /// Retries of transient failures.
    pub retry: crate::engine::retry::RetryPolicy,
    /// Which tables a run takes (`include`/`exclude`).
    pub selection: crate::engine::options::TableSelection,
    /// `ferry serve`'s settings and named endpoints.
    pub serve: serve::ServeSettings,
    /// `[schema] dir`, resolved.
    pub schema_dir: Option<PathBuf>,
    /// `[probe]`.
    pub probe: ProbeSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch_size: DEFAULT_BATCH_SIZE,
            plugin_dirs: Vec::new(),
            plugins: BTreeMap::new(),
            casts: Vec::new(),
            on_reject: OnReject::Quarantine,
            table_on_reject: Vec::new(),
            sources: Vec::new(),
            files: crate::endpoint::files::FilesSettings::default(),
            retry: Default::default(),
            selection: Default::default(),
            serve: Default::default(),
            schema_dir: None,
            probe: ProbeSettings::default(),
        }
    }
}

impl Config {
    /// Reads and validates a config file; relative paths in it are relative to the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |reason: String| ConfigError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let raw: ConfigFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::build(raw, base).map_err(err)
    }

    /// Builds runtime settings from what was written.
    pub fn build(raw: ConfigFile, base: &Path) -> Result<Config, String> {
        let batch_size = raw.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        if batch_size == 0 || batch_size > MAX_BATCH_SIZE {
            return Err(format!(
                "batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}"
            ));
        }
        for (i, c) in raw.cast.iter().enumerate() {
            if c.column.is_some() == c.declared_type.is_some() {
                return Err(format!(
                    "cast rule {}: give exactly one of `column = \"TABLE.COLUMN\"` or `type = \"DECLARED\"`",
                    i + 1
                ));
            }
        }
        let mut plugins = BTreeMap::new();
        for (name, p) in raw.plugins {
            let d = Limits::default();
            let limits = Limits {
                memory_bytes: p.memory_mib.map(|m| m << 20).unwrap_or(d.memory_bytes),
                call_timeout: p
                    .timeout_ms
                    .map(Duration::from_millis)
                    .unwrap_or(d.call_timeout),
                max_output_bytes: p
                    .max_output_mib
                    .map(|m| m << 20)
                    .unwrap_or(d.max_output_bytes),
            };
            if limits.memory_bytes == 0
                || limits.call_timeout.is_zero()
                || limits.max_output_bytes == 0
            {
                return Err(format!("plugins.{name}: limits must be greater than zero"));
            }
            if let Some(pin) = &p.sha256 {
                let hexpart = pin.trim_start_matches("sha256:");
                if hexpart.len() != 64 || !hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "plugins.{name}.sha256 must be 64 hex digits, got {pin:?}"
                    ));
                }
            }
            plugins.insert(
                name,
                PluginSettings {
                    path: p.path.map(|x| base.join(x)),
                    sha256: p.sha256,
                    limits,
                },
            );
        }
        let mut files = crate::endpoint::files::FilesSettings::build(&raw.files)?;
        for r in &mut files.parsers {
            // A parser given as a path is relative to the config file.
            if r.parser.ends_with(".wasm") {
                r.parser = base.join(&r.parser).display().to_string();
            }
        }
        Ok(Config {
            serve: serve::ServeSettings::build(raw.serve, raw.endpoints, base)?,
            schema_dir: raw.schema.dir.map(|d| base.join(d)),
            probe: ProbeSettings {
                clients: match raw.probe.clients {
                    Some(0) => return Err("probe.clients must be at least 1".into()),
                    c => c,
                },
                duration: raw
                    .probe
                    .duration
                    .as_deref()
                    .map(crate::probe::parse_duration)
                    .transpose()
                    .map_err(|e| format!("probe.duration {e}"))?,
                p95: raw
                    .probe
                    .p95
                    .as_deref()
                    .map(crate::probe::parse_duration)
                    .transpose()
                    .map_err(|e| format!("probe.p95 {e}"))?,
            },
            files,
            retry: raw.retry.build()?,
            selection: crate::engine::options::TableSelection {
                include: raw.include,
                exclude: raw.exclude,
            },
            batch_size,
            plugin_dirs: raw.plugin_dirs.into_iter().map(|d| base.join(d)).collect(),
            plugins,
            casts: raw.cast,
            on_reject: raw.on_reject.unwrap_or_default(),
            sources: raw
                .sources
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|e: crate::endpoint::EndpointError| format!("sources: {e}"))
                })
                .collect::<Result<_, _>>()?,
            table_on_reject: raw
                .tables
                .into_iter()
                .filter_map(|(t, c)| c.on_reject.map(|p| (t, p)))
                .collect(),
        })
    }
}
