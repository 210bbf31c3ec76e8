//! `ferry migrate`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use ferry::endpoint::{EndpointUrl, IfExists};
use ferry::migrate::{self, MigrateOptions, PluginUse, Progress, Report, RunStatus};

use super::{EXIT_FAILED, EXIT_OK, EXIT_REJECTS, GlobalArgs, PluginArg, split_plugin_arg};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Source endpoint: sqlite:PATH.
    #[arg(long, value_parser = parse_endpoint)]
    pub from: EndpointUrl,
    /// Target endpoint: sqlite:PATH or postgres://USER@HOST:PORT/DB.
    #[arg(long, value_parser = parse_endpoint)]
    pub to: EndpointUrl,
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
    /// Print the run report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum IfExistsArg {
    /// Refuse to run.
    Fail,
    /// Drop the existing table and recreate it.
    Drop,
}

fn parse_endpoint(s: &str) -> Result<EndpointUrl, String> {
    s.parse()
        .map_err(|e: ferry::endpoint::EndpointError| e.to_string())
}

impl MigrateArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let (config, registry) = super::setup(g)?;
        let mut transforms = Vec::new();
        for a in &self.transforms {
            transforms.push(PluginUse {
                plugin: registry.resolve(&a.name).await?,
                config: a.config.clone(),
                tables: a.tables.clone(),
            });
        }
        let mut validators = Vec::new();
        for a in &self.validators {
            validators.push(PluginUse {
                plugin: registry.resolve(&a.name).await?,
                config: a.config.clone(),
                tables: a.tables.clone(),
            });
        }
        let batch_size = self.batch_size.unwrap_or(config.batch_size);
        if batch_size == 0 || batch_size > ferry::config::MAX_BATCH_SIZE {
            anyhow::bail!(
                "--batch-size must be between 1 and {}",
                ferry::config::MAX_BATCH_SIZE
            );
        }
        let opts = MigrateOptions {
            from: self.from,
            to: self.to,
            transforms,
            validators,
            batch_size,
            if_exists: match self.if_exists {
                IfExistsArg::Fail => IfExists::Fail,
                IfExistsArg::Drop => IfExists::Drop,
            },
        };
        let bars = Arc::new(Bars::new(!self.json && std::io::stderr().is_terminal()));
        let report = migrate::migrate(opts, bars.clone()).await;
        bars.clear();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_summary(&report);
        }
        Ok(match report.status {
            RunStatus::Succeeded => EXIT_OK,
            RunStatus::SucceededWithRejects => EXIT_REJECTS,
            RunStatus::Failed => EXIT_FAILED,
        })
    }
}

fn print_summary(r: &Report) {
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
                "  {:width$}  {:>12}  {:>12}  {:>12}",
                t.name, t.rows_read, t.rows_written, t.rows_rejected
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
    for w in &r.warnings {
        println!("  warning: {w}");
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

/// Progress bars on a terminal (hidden otherwise).
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    enabled: bool,
}

impl Bars {
    fn new(enabled: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            enabled,
        }
    }

    fn clear(&self) {
        if self.enabled {
            let _ = self.multi.clear();
        }
    }
}

impl Progress for Bars {
    fn table_started(&self, table: &str, rows: u64) {
        let bar = self.multi.add(ProgressBar::new(rows));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows  {rate}  eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} rows/s", s.per_sec());
                },
            )
            .progress_chars("=> "),
        );
        bar.set_prefix(table.to_string());
        if let Ok(mut b) = self.bars.lock() {
            b.insert(table.to_string(), bar);
        }
    }

    fn rows_written(&self, table: &str, rows: u64) {
        if let Ok(b) = self.bars.lock()
            && let Some(bar) = b.get(table)
        {
            bar.inc(rows);
        }
    }

    fn table_finished(&self, table: &str) {
        if let Ok(b) = self.bars.lock()
            && let Some(bar) = b.get(table)
        {
            bar.finish();
        }
    }

    fn phase(&self, what: &str) {
        if self.enabled {
            let _ = self.multi.println(what);
        }
    }
}
