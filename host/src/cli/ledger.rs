//! `ferry resume`, `ferry status`, `ferry history`: the target's ledger.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use clap::Args;

use ferry::endpoint::{EndpointUrl, Sink};
use ferry::engine::{self, status};

use super::migrate::{Bars, RunArgs, parse_endpoint};
use super::{EXIT_FAILED, EXIT_OK, EXIT_REJECTS, GlobalArgs, UsageError};

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run to continue (its id, from the report, `ferry history` or `ferry status`).
    pub run_id: String,
    #[command(flatten)]
    pub run: RunArgs,
    /// Also write the run report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
    /// Accept a plugin that changed since the run started (a fixed build):
    /// NAME=SHA256, the digest `ferry plugin list` shows. Repeatable.
    #[arg(long = "accept-plugin", value_name = "NAME=SHA256")]
    pub accept: Vec<String>,
}

impl ResumeArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        resume(
            &self.run_id,
            &self.run,
            self.report.as_deref(),
            &self.accept,
            g,
        )
        .await
    }
}

/// `--accept-plugin NAME=SHA256` values, parsed.
fn parse_accepts(accepts: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    accepts
        .iter()
        .map(|a| match a.split_once('=') {
            Some((name, sha)) => Ok((
                name.trim().to_string(),
                sha.trim()
                    .trim_start_matches("sha256:")
                    .to_ascii_lowercase(),
            )),
            None => Err(UsageError(format!("--accept-plugin {a}: expected NAME=SHA256")).into()),
        })
        .collect()
}

/// The sink holding the ledger of `to`'s runs (`--state` when given).
async fn open_ledger(
    to: Option<&EndpointUrl>,
    state: Option<&EndpointUrl>,
) -> anyhow::Result<Box<dyn Sink>> {
    let Some(to) = to else {
        return Err(UsageError(
            "--to is required: the ledger lives in the target (or in --state)".into(),
        )
        .into());
    };
    Ok(status::open_ledger(to, state).await?)
}

/// Continues run `run_id` from its checkpoints.
pub async fn resume(
    run_id: &str,
    run: &RunArgs,
    report_path: Option<&Path>,
    accepts: &[String],
    g: &GlobalArgs,
) -> anyhow::Result<u8> {
    let (config, registry) = super::setup(g)?;
    if run.to.is_none() {
        return Err(UsageError(
            "--to is required: the ledger lives in the target (or in --state)".into(),
        )
        .into());
    }
    let accepted = parse_accepts(accepts)?;
    let (plan, opts) =
        match engine::resume::prepare(run_id, run.plan_overrides(&config)?, &registry, &accepted)
            .await
        {
            Ok(engine::Resumable::Ready { plan, opts }) => (*plan, *opts),
            Ok(engine::Resumable::Finished(rec)) => {
                // Nothing to do; the report is the one the run recorded.
                match (&rec.report, run.json) {
                    (Some(report), true) => println!("{report}"),
                    _ => println!(
                        "run {run_id} already finished ({}); nothing to resume",
                        rec.status
                    ),
                }
                return Ok(if rec.status == "succeeded" {
                    EXIT_OK
                } else {
                    EXIT_REJECTS
                });
            }
            Err(e @ engine::ResumeError::Changed { .. }) => {
                eprintln!("error: {e}");
                return Ok(EXIT_FAILED);
            }
            Err(e) => return Err(e.into()),
        };
    let json = run.json;
    let bars = Arc::new(Bars::new(!json && std::io::stderr().is_terminal()));
    let report = engine::execute(Some(&plan), opts, bars.clone()).await;
    bars.clear();
    super::files::render(&report, report_path, json, false)
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run (default: the latest).
    pub run_id: Option<String>,
    /// The target whose ledger to read.
    #[arg(long, value_parser = parse_endpoint)]
    pub to: Option<EndpointUrl>,
    /// Where a json target's ledger lives (`--state` of its runs).
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub state: Option<EndpointUrl>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl StatusArgs {
    pub async fn execute(self, _g: &GlobalArgs) -> anyhow::Result<u8> {
        let mut sink = open_ledger(self.to.as_ref(), self.state.as_ref()).await?;
        let status = status::run_status(&mut sink, self.run_id.as_deref()).await?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
            return Ok(EXIT_OK);
        }
        let r = &status.run;
        println!("run {}  {} → {}", r.run_id, r.source, r.target);
        println!(
            "  status {} (phase {}), started {}, last progress {}",
            r.status, r.phase, r.started_at, status.last_progress
        );
        println!(
            "  {:24} {:>12} {:>12} {:>12} {:>12}  done",
            "table", "estimated", "read", "written", "rejected"
        );
        for t in &status.tables {
            let c = t.checkpoint.as_ref();
            println!(
                "  {:24} {:>12} {:>12} {:>12} {:>12}  {}",
                t.table,
                t.estimated_rows
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                c.map(|c| c.rows_read).unwrap_or(0),
                c.map(|c| c.rows_written).unwrap_or(0),
                c.map(|c| c.rows_rejected).unwrap_or(0),
                if c.is_some_and(|c| c.done) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
        print!(
            "  {} rows read, {:.0} rows/s",
            status.rows_read, status.rows_per_second
        );
        match status.eta_seconds {
            Some(s) => println!(", eta {s:.0}s"),
            None => println!(),
        }
        if let Some(e) = &r.error {
            println!("  last error: {e}");
        }
        if r.status == "running" || r.status == "failed" {
            println!("  resume with: ferry resume {} --to <target>", r.run_id);
        }
        Ok(EXIT_OK)
    }
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The run to undo.
    pub run_id: String,
    /// The target the run wrote to (its ledger is there).
    #[arg(long, value_parser = parse_endpoint)]
    pub to: Option<EndpointUrl>,
    /// Where a json target's ledger lives (`--state` of its runs).
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub state: Option<EndpointUrl>,
    /// Show what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl RollbackArgs {
    pub async fn execute(self, _g: &GlobalArgs) -> anyhow::Result<u8> {
        let Some(to) = &self.to else {
            return Err(
                UsageError("--to is required: the ledger lives in the target".into()).into(),
            );
        };
        let r = match ferry::rollback::rollback(to, &self.run_id, self.dry_run, self.state.as_ref())
            .await
        {
            Ok(r) => r,
            Err(ferry::rollback::RollbackError::Refused(why)) => {
                eprintln!("error: {why}");
                return Ok(EXIT_FAILED);
            }
            Err(e) => return Err(e.into()),
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!(
                "rollback of run {} in {}{}",
                r.run_id,
                r.target,
                if r.dry_run {
                    " (dry run: nothing changed)"
                } else {
                    ""
                }
            );
            for t in &r.tables {
                let what = match (t.action.as_str(), &t.backup) {
                    ("drop", _) => "drop (the run created it)".to_string(),
                    (_, Some(b)) => format!("restore from {b}"),
                    _ => "restore".to_string(),
                };
                let proof = if r.dry_run {
                    String::new()
                } else if t.ok {
                    match &t.pre_checksum {
                        Some(c) => format!(
                            "  ok: {} rows, checksum {} as before the run",
                            t.pre_rows,
                            &c[..16.min(c.len())]
                        ),
                        None => "  ok: gone, as before the run".to_string(),
                    }
                } else {
                    format!(
                        "  MISMATCH: before {} rows {:?}, now {:?} rows {:?}",
                        t.pre_rows, t.pre_checksum, t.rows_after, t.checksum_after
                    )
                };
                println!("  {:24} {what}{proof}", t.table);
            }
            if !r.dry_run {
                println!(
                    "{}",
                    if r.ok {
                        "rolled back: every table proven back to its pre-run state"
                    } else {
                        "rollback incomplete: the tables above marked MISMATCH differ from their pre-run state"
                    }
                );
            }
        }
        Ok(if r.ok { EXIT_OK } else { EXIT_FAILED })
    }
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The target whose ledger to read.
    #[arg(long, value_parser = parse_endpoint)]
    pub to: Option<EndpointUrl>,
    /// Where a json target's ledger lives (`--state` of its runs).
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub state: Option<EndpointUrl>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl HistoryArgs {
    pub async fn execute(self, _g: &GlobalArgs) -> anyhow::Result<u8> {
        let mut sink = open_ledger(self.to.as_ref(), self.state.as_ref()).await?;
        let lines = status::history(&mut sink).await?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&lines)?);
            return Ok(EXIT_OK);
        }
        if lines.is_empty() {
            println!("no runs recorded");
        }
        for l in &lines {
            println!(
                "{}  {:22} {:27} read {:>10}  written {:>10}  rejected {:>8}  {}",
                l.run_id,
                l.status,
                l.started_at,
                l.rows_read,
                l.rows_written,
                l.rows_rejected,
                l.source
            );
        }
        Ok(EXIT_OK)
    }
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Show the inserts, updates and deletes; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl SyncArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let (config, registry) = super::setup(g)?;
        if !self.run.transforms.is_empty() || !self.run.validators.is_empty() {
            return Err(UsageError(
                "sync compares the source with the target as migrated without plugins; --transform and --validate do not apply".into(),
            )
            .into());
        }
        let opts = self.run.options(&config, &registry).await?;
        let r = ferry::sync::sync(opts, self.dry_run).await?;
        if self.run.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
            return Ok(EXIT_OK);
        }
        println!(
            "sync {}  {} → {}{}",
            r.run_id,
            r.source,
            r.target,
            if r.dry_run {
                "  (dry run: nothing changed)"
            } else {
                ""
            }
        );
        println!(
            "  {:24} {:>10} {:>10} {:>10}",
            "table", "inserts", "updates", "deletes"
        );
        for t in &r.tables {
            println!(
                "  {:24} {:>10} {:>10} {:>10}",
                t.table, t.inserts, t.updates, t.deletes
            );
            if r.dry_run {
                for (kind, keys) in [
                    ("insert", &t.insert_keys),
                    ("update", &t.update_keys),
                    ("delete", &t.delete_keys),
                ] {
                    if !keys.is_empty() {
                        let shown: Vec<&str> = keys.iter().take(20).map(String::as_str).collect();
                        let more = keys.len().saturating_sub(20);
                        println!(
                            "    {kind}: {}{}",
                            shown.join(", "),
                            if more > 0 {
                                format!(" … and {more} more (--json lists up to 1,000)")
                            } else {
                                String::new()
                            }
                        );
                    }
                }
            }
            if let Some(s) = &t.skipped {
                println!("    not applied: {s}");
            }
        }
        println!(
            "{} in {:.2}s",
            if r.dry_run { "compared" } else { "synced" },
            r.duration_ms as f64 / 1000.0
        );
        Ok(EXIT_OK)
    }
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The finished run whose backups to remove.
    pub run_id: String,
    /// The target the run wrote to (its ledger is there).
    #[arg(long, value_parser = parse_endpoint)]
    pub to: Option<EndpointUrl>,
    /// Remove them even though the run could still be rolled back (it
    /// then cannot be).
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl CleanupArgs {
    pub async fn execute(self, _g: &GlobalArgs) -> anyhow::Result<u8> {
        let Some(to) = &self.to else {
            return Err(
                UsageError("--to is required: the ledger lives in the target".into()).into(),
            );
        };
        let r = match ferry::rollback::cleanup(to, &self.run_id, self.force).await {
            Ok(r) => r,
            Err(ferry::rollback::RollbackError::Refused(why)) => {
                eprintln!("error: {why}");
                return Ok(EXIT_FAILED);
            }
            Err(e) => return Err(e.into()),
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else if r.tables.is_empty() {
            println!("run {}: no backups left to remove", r.run_id);
        } else {
            println!(
                "run {}: removed the backups of {}",
                r.run_id,
                r.tables.join(", ")
            );
        }
        Ok(EXIT_OK)
    }
}
