//! `ferry migrate`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use ferry::config::Config;
use ferry::endpoint::{EndpointUrl, IfExists};
use ferry::engine::{self, MigrateOptions, NoEvents, PlanOverrides, PluginUse, Report, RunStatus};
use ferry::plan::Plan;
use ferry::plugin::Registry;

pub(super) use super::progress::Bars;

use super::{EXIT_FAILED, EXIT_OK, GlobalArgs, PluginArg, split_plugin_arg};

/// What to migrate: shared by `migrate` and `plan`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Source endpoint: sqlite:PATH, postgres://…, mysql://…, json:DIR, files:DIR (a directory of legacy files; see docs/files.md).
    /// Repeat it to consolidate several sources with the same schema into
    /// one target (loaded in the order given).
    #[arg(long, value_parser = parse_endpoint)]
    pub from: Vec<EndpointUrl>,
    /// Keys when consolidating: `keep` them, or rewrite single-column
    /// primary keys (and the foreign keys to them) to UUIDv5 of
    /// (source, table, legacy key), recorded in `_ferry_id_map`.
    #[arg(long, value_enum, default_value = "keep")]
    pub keys: KeysArg,
    /// Rows from different sources with the same unique value: `fail`,
    /// `keep-first`, `keep-latest` (with --latest-by), `quarantine`.
    #[arg(long, value_enum, default_value = "keep-first")]
    pub on_conflict: ConflictArg,
    /// The column that decides `--on-conflict keep-latest` (greatest wins).
    #[arg(long, value_name = "COLUMN")]
    pub latest_by: Option<String>,
    /// Migration namespace for UUIDv5 keys (default: ferry's fixed one).
    #[arg(long, value_name = "UUID")]
    pub namespace: Option<uuid::Uuid>,
    /// What a rejected row does: `quarantine` it (default) or `abort` the
    /// run with nothing of its batch written. Overrides `on_reject` in the
    /// config for every table.
    #[arg(long, value_enum)]
    pub on_reject: Option<OnRejectArg>,
    /// Target endpoint: sqlite:PATH, postgres://…, mysql://…, json:DIR.
    #[arg(long, value_parser = parse_endpoint)]
    pub to: Option<EndpointUrl>,
    /// Where a json target's ledger lives (runs, checkpoints, backups):
    /// sqlite:PATH or postgres://…. SQLite and PostgreSQL targets keep their own.
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub state: Option<EndpointUrl>,
    /// Transformer to apply, in order: NAME or PATH, optionally =JSON config,
    /// optionally scoped to some tables with a `TABLE[,TABLE…]:` prefix (globs allowed). Repeatable.
    #[arg(long = "transform", value_name = "[TABLES:]NAME[=JSON]", value_parser = split_plugin_arg)]
    pub transforms: Vec<PluginArg>,
    /// Validator to apply after the transformers, same syntax. Repeatable.
    #[arg(long = "validate", value_name = "[TABLES:]NAME[=JSON]", value_parser = split_plugin_arg)]
    pub validators: Vec<PluginArg>,
    /// Rows per batch (default 5000, or `batch_size` in the config).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// What to do when a target table already exists.
    #[arg(long, value_enum, default_value = "fail")]
    pub if_exists: IfExistsArg,
    /// Print JSON on stdout (the run report, or the plan).
    #[arg(long)]
    pub json: bool,
    /// Verify the target at the end of the run: `full` (counts, checksums,
    /// sampled rows, orphans, ranges, schema), `counts` (counts, quarantine
    /// accounting, schema) or `off`.
    #[arg(long, value_enum, default_value = "full")]
    pub verify: VerifyArg,
    /// Transient failures (a server restart, a reset connection) are retried
    /// from the last checkpoints this many times, waiting 0.5 s doubling to
    /// 30 s (`[retry]` in the config); 0 turns it off. Default 5.
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Only these tables (names or globs, comma-separated; repeatable).
    /// A foreign key to a table left out is dropped and reported.
    #[arg(long, value_name = "GLOB[,GLOB…]", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Leave these tables out (names or globs, comma-separated; repeatable).
    #[arg(long, value_name = "GLOB[,GLOB…]", value_delimiter = ',')]
    pub exclude_tables: Vec<String>,
    /// Create an index for every foreign key that no index leads with
    /// (PostgreSQL and SQLite targets do not index them themselves).
    #[arg(long)]
    pub index_foreign_keys: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnRejectArg {
    Quarantine,
    Abort,
}

impl RunArgs {
    /// The reject policy: the flag for every table, else the config's.
    pub fn on_reject(
        &self,
        config: &Config,
    ) -> (
        ferry::config::OnReject,
        Vec<(String, ferry::config::OnReject)>,
    ) {
        use ferry::config::OnReject;
        match self.on_reject {
            Some(OnRejectArg::Quarantine) => (OnReject::Quarantine, Vec::new()),
            Some(OnRejectArg::Abort) => (OnReject::Abort, Vec::new()),
            None => (config.on_reject, config.table_on_reject.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeysArg {
    Keep,
    Uuid5,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ConflictArg {
    Fail,
    KeepFirst,
    KeepLatest,
    Quarantine,
}

impl RunArgs {
    /// The consolidation settings from the flags.
    pub fn consolidate(&self) -> anyhow::Result<ferry::engine::Consolidate> {
        use ferry::consolidate::{Conflict, KeyStrategy};
        let on_conflict = match (self.on_conflict, &self.latest_by) {
            (ConflictArg::KeepLatest, Some(c)) => Conflict::KeepLatest(c.clone()),
            (ConflictArg::KeepLatest, None) => {
                return Err(super::UsageError(
                    "--on-conflict keep-latest needs --latest-by COLUMN".into(),
                )
                .into());
            }
            (ConflictArg::Fail, _) => Conflict::Fail,
            (ConflictArg::KeepFirst, _) => Conflict::KeepFirst,
            (ConflictArg::Quarantine, _) => Conflict::Quarantine,
        };
        Ok(ferry::engine::Consolidate {
            more_sources: self.from.iter().skip(1).cloned().collect(),
            keys: match self.keys {
                KeysArg::Keep => KeyStrategy::Keep,
                KeysArg::Uuid5 => KeyStrategy::Uuid5,
            },
            namespace: self
                .namespace
                .unwrap_or_else(ferry::consolidate::default_namespace),
            on_conflict,
        })
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum VerifyArg {
    Full,
    Counts,
    Off,
}

impl VerifyArg {
    pub fn level(self) -> Option<ferry::engine::verify::Level> {
        match self {
            VerifyArg::Full => Some(ferry::engine::verify::Level::Full),
            VerifyArg::Counts => Some(ferry::engine::verify::Level::Counts),
            VerifyArg::Off => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The target's schema migrations (`ferry schema`; default `[schema]
    /// dir`): the load is refused while any is pending, drifted or unfinished.
    #[arg(long, value_name = "DIR")]
    pub schema_dir: Option<PathBuf>,
    /// After the run (and its verification), probe the target: latency
    /// under `[probe] clients` for `[probe] duration` (default 5s), added to
    /// the report; a `[probe] p95` exceeded exits 4.
    #[arg(long)]
    pub probe: bool,
    /// Execute exactly this plan (from `ferry plan -o FILE`); refused if the
    /// source, plugins or ferry changed since it was made.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Render the plan and touch nothing. For files:DIR: parse every file,
    /// compare with the target's recorded state, report, write nothing.
    #[arg(long, conflicts_with = "plan")]
    pub dry_run: bool,
    /// Bring only what changed since the last run into this target. For
    /// files:DIR, files whose content hash changed; for a SQLite source, rows
    /// after each table's high-water mark (see --cursor), replacing the
    /// target's rows with the same primary key.
    #[arg(long)]
    pub incremental: bool,
    /// With --incremental: the column that grows when a row is inserted or
    /// changed (e.g. `updated_at`); rows sharing the last value are told
    /// apart by rowid. Tables without it bring new rows only (by rowid).
    #[arg(long, value_name = "COLUMN", requires = "incremental")]
    pub cursor: Option<String>,
    /// With --incremental, before any mark is recorded: only rows whose
    /// cursor is greater than VALUE.
    #[arg(long, value_name = "VALUE", requires = "incremental")]
    pub since: Option<String>,
    /// Also write the run report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Continue the interrupted run RUN from its checkpoints in the target's
    /// ledger (same as `ferry resume RUN --to URL`).
    #[arg(long, value_name = "RUN", conflicts_with_all = ["plan", "dry_run"])]
    pub resume: Option<String>,
    /// With --resume: accept a plugin that changed since the run started,
    /// NAME=SHA256. Repeatable.
    #[arg(
        long = "accept-plugin",
        value_name = "NAME=SHA256",
        requires = "resume"
    )]
    pub accept: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum IfExistsArg {
    /// Refuse to run.
    Fail,
    /// Drop the existing table and recreate it.
    Drop,
}

pub(super) fn parse_endpoint(s: &str) -> Result<EndpointUrl, String> {
    s.parse()
        .map_err(|e: ferry::endpoint::EndpointError| e.to_string())
}

async fn resolve(registry: &Registry, args: &[PluginArg]) -> anyhow::Result<Vec<PluginUse>> {
    let mut out = Vec::new();
    for a in args {
        out.push(a.resolve(registry).await?);
    }
    Ok(out)
}

impl RunArgs {
    /// Builds the engine's options from the flags and the config.
    pub async fn options(
        &self,
        config: &Config,
        registry: &Registry,
    ) -> anyhow::Result<MigrateOptions> {
        let sources: Vec<EndpointUrl> = if self.from.is_empty() {
            config.sources.clone()
        } else {
            self.from.clone()
        };
        let (Some(from), Some(to)) = (sources.first().cloned(), self.to.clone()) else {
            return Err(
                super::UsageError("--from and --to are required (or --plan FILE)".into()).into(),
            );
        };
        let batch_size = self.batch_size.unwrap_or(config.batch_size);
        if batch_size == 0 || batch_size > ferry::config::MAX_BATCH_SIZE {
            return Err(super::UsageError(format!(
                "--batch-size must be between 1 and {}",
                ferry::config::MAX_BATCH_SIZE
            ))
            .into());
        }
        Ok(MigrateOptions {
            from,
            to,
            transforms: resolve(registry, &self.transforms).await?,
            validators: resolve(registry, &self.validators).await?,
            batch_size,
            if_exists: match self.if_exists {
                IfExistsArg::Fail => IfExists::Fail,
                IfExistsArg::Drop => IfExists::Drop,
            },
            casts: config.casts.clone(),
            verify: self.verify.level(),
            consolidate: {
                let mut c = self.consolidate()?;
                c.more_sources = sources.iter().skip(1).cloned().collect();
                c
            },
            on_reject: self.on_reject(config),
            resume: None,
            incremental: None,
            state: self.state.clone(),
            files: config.files.clone(),
            registry: Some(registry.clone()),
            retry: self.retry(config),
            selection: self.selection(config),
            index_foreign_keys: self.index_foreign_keys,
            stop: Default::default(),
            run_id: None,
        })
    }

    /// Which tables: the flags, else the config's `include`/`exclude`.
    pub fn selection(&self, config: &Config) -> engine::TableSelection {
        if self.tables.is_empty() && self.exclude_tables.is_empty() {
            return config.selection.clone();
        }
        engine::TableSelection {
            include: self.tables.clone(),
            exclude: self.exclude_tables.clone(),
        }
    }

    /// The retry policy: `--retries` over the config's `[retry]`.
    pub fn retry(&self, config: &Config) -> engine::RetryPolicy {
        let mut p = config.retry;
        if let Some(n) = self.retries {
            p.attempts = n;
        }
        p
    }

    /// What a saved plan does not say, from the flags and the config.
    pub fn plan_overrides(&self, config: &Config) -> anyhow::Result<PlanOverrides> {
        Ok(PlanOverrides {
            from: self.from.first().cloned(),
            more_sources: (self.from.len() > 1).then(|| self.from[1..].to_vec()),
            to: self.to.clone(),
            state: self.state.clone(),
            verify: self.verify.level(),
            on_reject: self.on_reject(config),
            consolidate: Some(self.consolidate()?),
            files: config.files.clone(),
            retry: self.retry(config),
        })
    }
}

/// The options a saved plan was made with (its plugins pinned to the
/// digests it recorded), with what the flags give again.
pub(super) async fn options_from_plan(
    plan: &Plan,
    run: &RunArgs,
    config: &Config,
    registry: &Registry,
) -> anyhow::Result<MigrateOptions> {
    Ok(MigrateOptions::from_plan(plan, run.plan_overrides(config)?, registry).await?)
}

impl MigrateArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        if let Some(run_id) = &self.resume {
            return super::ledger::resume(
                run_id,
                &self.run,
                self.report.as_deref(),
                &self.accept,
                g,
            )
            .await;
        }
        let (config, registry) = super::setup(g)?;
        let json = self.run.json;
        let (opts, plan) = match &self.plan {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read the plan {}: {e}", path.display()))?;
                let plan: Plan = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("{} is not a ferry plan: {e}", path.display()))?;
                if plan.compute_fingerprint() != plan.fingerprint {
                    anyhow::bail!(
                        "the plan {} was edited after it was made (its fingerprint does not match its content); make a new one with `ferry plan`",
                        path.display()
                    );
                }
                let opts = options_from_plan(&plan, &self.run, &config, &registry).await?;
                let fresh = engine::make_plan(&opts, Arc::new(NoEvents)).await?;
                let diffs = plan.differences(&fresh);
                if !diffs.is_empty() {
                    eprintln!(
                        "error: the plan {} no longer matches; nothing was run:",
                        path.display()
                    );
                    for d in &diffs {
                        eprintln!("  - {d}");
                    }
                    eprintln!("make a new plan with `ferry plan` and review it");
                    return Ok(EXIT_FAILED);
                }
                (opts, Some(plan))
            }
            None => (self.run.options(&config, &registry).await?, None),
        };
        let mut opts = opts;
        if let Some(dir) = self.schema_dir.as_ref().or(config.schema_dir.as_ref()) {
            let dir = ferry::schema::files::Dir::read(dir)?;
            let s = ferry::schema::apply::status(&opts.to, &dir).await?;
            if !s.clean() {
                eprintln!(
                    "error: {}'s schema is not at the migration directory's head; nothing was loaded:",
                    opts.to
                );
                let what = [
                    ("pending", &s.pending),
                    ("drifted", &s.drifted),
                    ("missing", &s.missing),
                    ("unfinished", &s.failed),
                ];
                for (kind, lines) in what {
                    for l in lines {
                        eprintln!("  {kind}: {} {}", l.version, l.name);
                    }
                }
                for x in &s.sum {
                    eprintln!("  ferry.sum: {x}");
                }
                eprintln!(
                    "run `ferry schema up --to {} --dir {}` first (`ferry schema status` shows the rest)",
                    opts.to,
                    dir.path.display()
                );
                return Ok(EXIT_FAILED);
            }
        }
        if self.incremental {
            if !opts.consolidate.more_sources.is_empty() {
                return Err(super::UsageError(
                    "--incremental takes one source (consolidations are not incremental yet)"
                        .into(),
                )
                .into());
            }
            opts.incremental = Some(engine::Incremental {
                cursor: self.cursor.clone(),
                since: self.since.clone(),
            });
        }
        let bars = Arc::new(Bars::new(!json && std::io::stderr().is_terminal()));
        if self.dry_run {
            if ferry::endpoint::capabilities(&opts.from).dry_run_reads {
                // A directory's dry run parses every file and writes nothing.
                let report = engine::dry_read(&opts, &opts.to.to_string(), bars.clone()).await;
                bars.clear();
                return super::files::render(&report, self.report.as_deref(), json, false);
            }
            let plan = engine::make_plan(&opts, Arc::new(NoEvents)).await?;
            super::plan::print_plan(&plan, json)?;
            return Ok(EXIT_OK);
        }
        let to = opts.to.clone();
        let mut report = engine::execute(plan.as_ref(), opts, bars.clone()).await;
        bars.clear();
        let mut probe_failed = false;
        if self.probe && report.status != engine::report::RunStatus::Failed {
            let o = super::probe::after_migrate(&config, &to);
            let value = match ferry::probe::probe(&o).await {
                Ok(p) => {
                    probe_failed = !p.passed;
                    if !json {
                        super::probe::print_report(&p);
                    }
                    serde_json::to_value(&p)?
                }
                Err(e) => {
                    probe_failed = true;
                    eprintln!("error: the probe after the run: {e}");
                    serde_json::json!({ "error": e.to_string() })
                }
            };
            report.details.insert("probe".into(), value);
        }
        let code = super::files::render(&report, self.report.as_deref(), json, false)?;
        Ok(if code == EXIT_OK && probe_failed {
            super::probe::EXIT_PROBE_FAILED
        } else {
            code
        })
    }
}

pub(super) fn print_summary(r: &Report) {
    let width = r
        .tables
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!("run {}  {} → {}", r.run_id, r.source, r.target);
    if !r.plugins.is_empty() {
        for p in &r.plugins {
            println!(
                "  {} {} {} (sha256 {})",
                p.kind,
                p.name,
                p.version,
                &p.sha256[..16.min(p.sha256.len())]
            );
        }
    }
    if !r.tables.is_empty() {
        println!(
            "  {:width$}  {:>12}  {:>12}  {:>12}",
            "table", "read", "written", "rejected"
        );
        for t in &r.tables {
            println!(
                "  {:width$}  {:>12}  {:>12}  {:>12}{}",
                t.name,
                t.rows_read,
                t.rows_written,
                t.rows_rejected,
                if t.passthrough {
                    "  (passed through undecoded)"
                } else {
                    ""
                }
            );
        }
    }
    let read: u64 = r.tables.iter().map(|t| t.rows_read).sum();
    let secs = r.duration_ms as f64 / 1000.0;
    let rate = if secs > 0.0 { read as f64 / secs } else { 0.0 };
    if r.status != RunStatus::Failed || !r.constraints.is_empty() {
        println!(
            "  {} keys, indexes and constraints created",
            r.constraints.len()
        );
    }
    if !r.views.is_empty() {
        println!("  {} views created", r.views.len());
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    super::plan::print_not_carried(&r.not_carried);
    if let Some(v) = &r.verify {
        super::verify::print_verify(v);
    }
    match r.status {
        RunStatus::Succeeded => println!("succeeded: {read} rows in {secs:.2}s ({rate:.0} rows/s)"),
        RunStatus::SucceededWithRejects => {
            let rej: u64 = r.tables.iter().map(|t| t.rows_rejected).sum();
            println!(
                "finished with {rej} rejected rows, each kept with its reason in {}; {read} rows in {secs:.2}s",
                r.rejects_table.as_deref().unwrap_or("the rejects table")
            );
        }
        RunStatus::Failed => {
            eprintln!("error: {}", r.error.as_deref().unwrap_or("unknown error"));
            println!("failed after {secs:.2}s");
        }
    }
}
