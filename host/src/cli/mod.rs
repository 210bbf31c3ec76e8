//! Command-line interface: one file per subcommand, each with its args and
//! `execute`. The CLI renders what the engine returns; it decides nothing.

mod files;
mod ledger;
mod migrate;
mod plan;
mod plugin;
mod plugin_dev;
mod probe;
mod progress;
mod schema;
mod serve;
mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use ferry::config::Config;
use ferry::plugin::{Registry, Runtime, RuntimeOptions};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_REJECTS: u8 = 3;

/// ferry moves data between databases and out of legacy files, with
/// sandboxed WebAssembly plugins in the stream.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML); flags override it.
    #[arg(long, global = true, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of third-party plugins (`NAME.wasm`); repeatable.
    #[arg(long = "plugin-dir", global = true, env = "FERRY_PLUGIN_DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Where compiled plugins are cached (default: ~/.cache/ferry).
    #[arg(long, global = true, env = "FERRY_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy every table from a source to a target through the plugin chain.
    Migrate(migrate::MigrateArgs),
    /// Show what a migration would do: tables, types, plugins, estimates, risks.
    Plan(plan::PlanArgs),
    /// Compare a target with its source: counts, quarantine accounting,
    /// checksums, sampled rows, orphans, timestamp ranges, schema.
    Verify(verify::VerifyArgs),
    /// Parse every file of a directory with the parsers a migration would
    /// use; write nothing; report each file's status and errors.
    Validate(files::ValidateArgs),
    /// Survey a directory of legacy files: formats, sizes, encodings, the
    /// largest files, what would be skipped, estimated records and time.
    Analyze(files::AnalyzeArgs),
    /// Continue an interrupted run from its last checkpoints.
    Resume(ledger::ResumeArgs),
    /// A run's progress per table, rows/s, ETA and last error (default: the latest run).
    Status(ledger::StatusArgs),
    /// Make a migrated target equal to its source again: inserts, updates and
    /// deletes by primary key and row hash (--dry-run lists them).
    Sync(ledger::SyncArgs),
    /// Restore the pre-run state of a run's tables and prove it by checksums.
    Rollback(ledger::RollbackArgs),
    /// The runs recorded in a target's ledger, newest first.
    History(ledger::HistoryArgs),
    /// Remove a finished run's backups (snapshots, tables kept aside); the
    /// run can then no longer be rolled back, so it is refused unless the
    /// run is rolled back or --force is given.
    Cleanup(ledger::CleanupArgs),
    /// List, inspect and check plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// The migration service: an authenticated HTTP API (/v1) with live
    /// progress, over the endpoints named in the config.
    Serve(serve::ServeArgs),
    /// Does the migrated database perform? Latency percentiles under N
    /// concurrent clients for a workload derived from the schema, plans,
    /// and with --from the source side by side.
    Probe(probe::ProbeArgs),
    /// Versioned schema migrations: new, status, history, up, down,
    /// validate, baseline, diff, reset, hash.
    #[command(subcommand)]
    Schema(schema::SchemaCommand),
}

impl Cli {
    pub fn try_parse_args() -> Result<Cli, clap::Error> {
        Cli::try_parse()
    }
}

pub fn init_logging(g: &GlobalArgs) {
    let default = match g.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match g.log_format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

/// Loads the config (if any) and builds the plugin registry.
pub fn setup(g: &GlobalArgs) -> anyhow::Result<(Config, Registry)> {
    let config = match &g.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let cache_dir = g
        .cache_dir
        .clone()
        .or_else(RuntimeOptions::default_cache_dir);
    let runtime = Runtime::new(RuntimeOptions { cache_dir })?;
    let mut dirs = config.plugin_dirs.clone();
    dirs.extend(g.plugin_dirs.iter().cloned());
    let registry = Registry::new(runtime, dirs, config.plugins.clone());
    Ok((config, registry))
}

/// A mistake in how ferry was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let result = match cli.command {
        Command::Migrate(a) => a.execute(&cli.global).await,
        Command::Plan(a) => a.execute(&cli.global).await,
        Command::Verify(a) => a.execute(&cli.global).await,
        Command::Validate(a) => a.execute(&cli.global).await,
        Command::Resume(a) => a.execute(&cli.global).await,
        Command::Status(a) => a.execute(&cli.global).await,
        Command::History(a) => a.execute(&cli.global).await,
        Command::Cleanup(a) => a.execute(&cli.global).await,
        Command::Rollback(a) => a.execute(&cli.global).await,
        Command::Sync(a) => a.execute(&cli.global).await,
        Command::Analyze(a) => a.execute(&cli.global).await,
        Command::Plugin(c) => c.execute(&cli.global).await,
        Command::Serve(a) => a.execute(&cli.global).await,
        Command::Schema(c) => c.execute(&cli.global).await,
        Command::Probe(a) => a.execute(&cli.global).await,
    };
    match result {
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {e}");
            Ok(EXIT_USAGE)
        }
        other => other,
    }
}

pub use ferry::engine::options::{PluginArg, split_plugin_arg};
