//! `ferry verify`.

use clap::Args;
use ferry::engine;
use ferry::engine::verify::{Check, Level, VerifyReport};

use super::migrate::RunArgs;
use super::{EXIT_FAILED, EXIT_OK, GlobalArgs};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Count only this run's quarantined rows (default: every run's).
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Compare counts, accounting and schema only (no full read).
    #[arg(long)]
    pub counts_only: bool,
}

impl VerifyArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let (config, registry) = super::setup(g)?;
        let opts = self.run.options(&config, &registry).await?;
        let plan = engine::make_plan(&opts, std::sync::Arc::new(engine::NoEvents)).await?;
        let level = if self.counts_only {
            Level::Counts
        } else {
            Level::Full
        };
        let rekeyed = plan.tables.iter().any(|t| !t.rekey.is_empty());
        let report = if opts.consolidate.more_sources.is_empty() && !rekeyed {
            ferry::engine::verify::verify(
                &plan,
                &opts.from,
                &opts.to,
                self.run_id.as_deref(),
                level,
            )
            .await?
        } else {
            let sources: Vec<_> = std::iter::once(opts.from.clone())
                .chain(opts.consolidate.more_sources.iter().cloned())
                .collect();
            ferry::engine::verify::verify_consolidated(
                &plan,
                &sources,
                &opts.to,
                self.run_id.as_deref(),
            )
            .await?
        };
        if self.run.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("verify {} → {}", report.source, report.target);
            print_verify(&report);
        }
        Ok(if report.ok { EXIT_OK } else { EXIT_FAILED })
    }
}

fn short(c: &Check) -> String {
    match c {
        Check::Match { .. } => "ok".into(),
        Check::Mismatch { .. } => "MISMATCH".into(),
        Check::Skipped { .. } => "skipped".into(),
    }
}

/// The human summary of a verification.
pub fn print_verify(v: &VerifyReport) {
    let width = v
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "  {:width$}  {:>10}  {:>10}  {:>11}  {:>8}  {:>8}  {:>7}",
        "verify", "source", "target", "quarantined", "checksum", "sample", "orphans"
    );
    for t in &v.tables {
        let orphans = if t
            .orphans
            .iter()
            .any(|(_, c)| matches!(c, Check::Mismatch { .. }))
        {
            "FOUND"
        } else if t
            .orphans
            .iter()
            .any(|(_, c)| matches!(c, Check::Match { .. }))
        {
            "none"
        } else {
            "-"
        };
        println!(
            "  {:width$}  {:>10}  {:>10}  {:>11}  {:>8}  {:>8}  {:>7}",
            t.table,
            t.source_rows,
            t.target_rows,
            t.quarantined,
            short(&t.checksum),
            short(&t.sample),
            orphans
        );
    }
    let views = v
        .views
        .iter()
        .filter(|(_, c)| matches!(c, Check::Match { .. }))
        .count();
    if views > 0 {
        println!("  {views} views answer a query");
    }
    for f in v.failures() {
        println!("  verify failed: {f}");
    }
    if v.ok {
        println!(
            "  verified: every source row is in the target or in quarantine ({} ms)",
            v.duration_ms
        );
    }
}
