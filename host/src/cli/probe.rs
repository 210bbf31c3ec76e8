//! `ferry probe`: does the migrated database perform (see `ferry::probe`)?
//!
//! Exit codes: 0 passed; 1 could not run; 2 a mistake in the command line;
//! 4 a threshold was exceeded, a query failed, or a result differed from
//! the source's.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ferry::config::Config;
use ferry::endpoint::EndpointUrl;
use ferry::probe::{self, ProbeOptions, ProbeReport};

use super::migrate::parse_endpoint;
use super::{EXIT_FAILED, EXIT_OK, GlobalArgs, UsageError};

/// A threshold was exceeded, a query failed or a result differed.
pub const EXIT_PROBE_FAILED: u8 = 4;

/// Clients unless `--clients` or `[probe] clients` says: the "20+
/// concurrent clients" an application's pool commonly holds.
pub const DEFAULT_CLIENTS: usize = 20;
/// How long a probe runs unless told.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);
/// How long `ferry migrate --probe` probes unless `[probe] duration` says:
/// long enough for stable percentiles, short next to a migration.
pub const MIGRATE_PROBE_DURATION: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The database to probe.
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub to: Option<EndpointUrl>,
    /// A source to run the same queries on: results compared, latency side by side.
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub from: Option<EndpointUrl>,
    /// Concurrent clients (default `[probe] clients`, else 20).
    #[arg(long)]
    pub clients: Option<usize>,
    /// How long to run (`30s`, `500ms`, `2m`; default `[probe] duration`, else 30s).
    #[arg(long, value_parser = probe::parse_duration)]
    pub duration: Option<Duration>,
    /// Queries to run instead of the derived workload: one per line,
    /// `@WEIGHT ` in front, `-- $1: TABLE.COLUMN` naming each placeholder's values.
    #[arg(long, value_name = "FILE")]
    pub queries: Option<PathBuf>,
    /// Fail (exit 4) when the overall p95 latency is above this (`30ms`).
    #[arg(long, value_parser = probe::parse_duration)]
    pub p95: Option<Duration>,
    /// Seed of the sampled workload (the same seed draws the same queries).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl ProbeArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let config = match &g.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        let Some(to) = self.to.clone() else {
            return Err(UsageError("--to URL is required: the database to probe".into()).into());
        };
        let o = ProbeOptions {
            to,
            from: self.from.clone(),
            clients: self
                .clients
                .or(config.probe.clients)
                .unwrap_or(DEFAULT_CLIENTS),
            duration: self
                .duration
                .or(config.probe.duration)
                .unwrap_or(DEFAULT_DURATION),
            queries: self.queries.clone(),
            p95: self.p95.or(config.probe.p95),
            seed: self.seed,
            progress: !self.json && std::io::stderr().is_terminal(),
        };
        match probe::probe(&o).await {
            Ok(r) => {
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    print_report(&r);
                }
                Ok(if r.passed { EXIT_OK } else { EXIT_PROBE_FAILED })
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(EXIT_FAILED)
            }
        }
    }
}

/// The options `ferry migrate --probe` probes its target with.
pub fn after_migrate(config: &Config, to: &EndpointUrl) -> ProbeOptions {
    ProbeOptions {
        to: to.clone(),
        from: None,
        clients: config.probe.clients.unwrap_or(DEFAULT_CLIENTS),
        duration: config.probe.duration.unwrap_or(MIGRATE_PROBE_DURATION),
        queries: None,
        p95: config.probe.p95,
        seed: 1,
        progress: false,
    }
}

pub fn print_report(r: &ProbeReport) {
    println!(
        "probe {}: {} clients, {:.1} s, {} queries, {:.0} q/s{}",
        r.target,
        r.clients,
        r.duration_s,
        r.queries,
        r.throughput_qps,
        r.source
            .as_deref()
            .map(|s| format!(" (source {s})"))
            .unwrap_or_default()
    );
    let side = r.source.is_some();
    println!(
        "  {:<12} {:>7} {:>9} {:>9} {:>9} {:>9} {:>7}{}",
        "kind",
        "shapes",
        "queries",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        if side {
            "  src p50  src p95  ×p50  ×p95"
        } else {
            ""
        }
    );
    for k in r.kinds.iter().chain(std::iter::once(&r.overall)) {
        let src = match &k.source {
            Some(s) => format!(
                "  {:>7.2}  {:>7.2}  {:>4.2}  {:>4.2}",
                s.p50_ms,
                s.p95_ms,
                k.ratio_p50.unwrap_or(0.0),
                k.ratio_p95.unwrap_or(0.0)
            ),
            None => String::new(),
        };
        println!(
            "  {:<12} {:>7} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>7}{src}",
            k.kind,
            k.shapes,
            k.latency.count,
            k.latency.p50_ms,
            k.latency.p95_ms,
            k.latency.p99_ms,
            k.errors
        );
        if let Some(e) = &k.first_error {
            println!("    first error: {e}");
        }
    }
    println!(
        "  connect p50 {:.2} ms, p95 {:.2} ms; pool wait p50 {:.2} ms, p95 {:.2} ms",
        r.connect.p50_ms, r.connect.p95_ms, r.acquire.p50_ms, r.acquire.p95_ms
    );
    if let Some((n, d)) = r.compared {
        println!("  results compared with the source: {n} queries, {d} differed");
    }
    for f in &r.findings {
        println!("  finding ({}): {}", f.kind, f.message);
        if let Some(fix) = &f.fix {
            println!("    fix: {fix}");
        }
    }
    println!("{}", if r.passed { "PASSED" } else { "FAILED" });
}
