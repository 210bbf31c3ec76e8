//! `ferry validate DIR`, `ferry analyze DIR`, and the rendering of a
//! directory's run report (every file's outcome).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use ferry::endpoint::EndpointUrl;
use ferry::endpoint::files::FilesSummary;
use ferry::endpoint::files::parse::FileStatus;
use ferry::engine::{self, MigrateOptions, Report, RunStatus};

use super::migrate::Bars;
use super::{EXIT_FAILED, EXIT_OK, EXIT_REJECTS, GlobalArgs};

/// Writes the run report as JSON.
pub fn write_report(path: &Path, report: &Report) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n")
        .map_err(|e| anyhow::anyhow!("cannot write the report {}: {e}", path.display()))
}

fn exit_code(r: &Report) -> u8 {
    match r.status {
        RunStatus::Succeeded => EXIT_OK,
        RunStatus::SucceededWithRejects => EXIT_REJECTS,
        RunStatus::Failed => EXIT_FAILED,
    }
}

/// Prints a run's report (JSON, or the summary for a person), writes it to
/// `path` when asked, and returns the run's exit code.
pub fn render(r: &Report, path: Option<&Path>, json: bool, all: bool) -> anyhow::Result<u8> {
    if let Some(path) = path {
        write_report(path, r)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        print_files(r, all);
    }
    Ok(exit_code(r))
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The directory of legacy files.
    pub dir: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as JSON to this file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl ValidateArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let (config, registry) = super::setup(g)?;
        let from = EndpointUrl::Files(self.dir.clone());
        // Nothing is written: a validation has no target.
        let opts = MigrateOptions {
            batch_size: config.batch_size,
            verify: None,
            files: config.files.clone(),
            registry: Some(registry),
            retry: config.retry,
            ..MigrateOptions::new(from.clone(), from)
        };
        let bars = Arc::new(Bars::new(!self.json && std::io::stderr().is_terminal()));
        let report = engine::dry_read(&opts, "(none: validate)", bars.clone()).await;
        bars.clear();
        render(&report, self.output.as_deref(), self.json, true)
    }
}

/// The human summary of a files run: totals, then one line per file that
/// was not simply parsed (every file with `all`).
pub fn print_files(r: &Report, all: bool) {
    let Some(f) = r
        .details
        .get("files")
        .and_then(|v| serde_json::from_value::<FilesSummary>(v.clone()).ok())
    else {
        super::migrate::print_summary(r);
        return;
    };
    let f = &f;
    let validating = r.target.starts_with("(none");
    if validating {
        println!("validate {}", f.dir);
    } else {
        println!(
            "run {}  {} → {}{}",
            r.run_id,
            r.source,
            r.target,
            if f.dry_run {
                "  (dry run: nothing written)"
            } else {
                ""
            }
        );
    }
    for p in &r.plugins {
        println!(
            "  {} {} {} (sha256 {})",
            p.kind,
            p.name,
            p.version,
            &p.sha256[..16.min(p.sha256.len())]
        );
    }
    let n = |s| f.count(s);
    println!(
        "  files: {} parsed ({} records), {} unchanged, {} skipped, {} failed  [{} workers]",
        n(FileStatus::Parsed),
        f.records,
        n(FileStatus::Unchanged),
        n(FileStatus::Skipped),
        n(FileStatus::Failed),
        f.workers
    );
    let width = f
        .files
        .iter()
        .map(|x| x.path.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    for x in &f.files {
        let line = match x.status {
            FileStatus::Parsed if all || !x.notes.is_empty() || x.change.is_some() => {
                let mut s = format!(
                    "{} records, {}",
                    x.records,
                    x.parser.as_deref().unwrap_or("?"),
                );
                if let Some(c) = &x.change {
                    s.push_str(&format!(", {c}"));
                }
                for n in x.notes.iter().take(3) {
                    s.push_str(&format!("; {n}"));
                }
                Some(("parsed", s))
            }
            FileStatus::Parsed => None,
            // Unchanged files an earlier run could not migrate stay listed.
            FileStatus::Unchanged if all || x.notes.iter().any(|n| n.contains("recorded it")) => {
                Some(("unchanged", x.notes.join("; ")))
            }
            FileStatus::Unchanged => None,
            FileStatus::Skipped => Some((
                "skipped",
                format!(
                    "{}: {}",
                    x.code.as_deref().unwrap_or("?"),
                    x.reason.as_deref().unwrap_or("")
                ),
            )),
            FileStatus::Failed => Some((
                "FAILED",
                format!(
                    "{}: {}",
                    x.code.as_deref().unwrap_or("?"),
                    x.reason.as_deref().unwrap_or("")
                ),
            )),
        };
        if let Some((tag, text)) = line {
            let q = if x.quarantined && !validating && !f.dry_run {
                "  [quarantined]"
            } else {
                ""
            };
            println!("  {tag:>9}  {:width$}  {text}{q}", x.path);
        }
    }
    for p in &f.removed {
        println!(
            "  {:>9}  {p:width$}  recorded by an earlier run, gone from the directory; its records are kept",
            "removed"
        );
    }
    if !validating {
        for t in &r.tables {
            println!(
                "  table {}: {} records {}, {} quarantined",
                t.name,
                t.rows_written,
                if f.dry_run {
                    "would be written"
                } else {
                    "written"
                },
                t.rows_rejected
            );
        }
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    if let Some(v) = &f.verified {
        println!("  verify: {v}");
    }
    let secs = r.duration_ms as f64 / 1000.0;
    match r.status {
        RunStatus::Succeeded => println!("succeeded in {secs:.2}s"),
        RunStatus::SucceededWithRejects if validating || f.dry_run => println!(
            "{} files cannot be migrated (listed above); {secs:.2}s",
            f.files.iter().filter(|x| x.quarantined).count()
        ),
        RunStatus::SucceededWithRejects => println!(
            "finished with {} files quarantined, each with its reason in {}; {secs:.2}s",
            f.files.iter().filter(|x| x.quarantined).count(),
            r.rejects_table.as_deref().unwrap_or("the rejects table")
        ),
        RunStatus::Failed => {
            eprintln!("error: {}", r.error.as_deref().unwrap_or("unknown error"));
            println!("failed after {secs:.2}s");
        }
    }
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The directory of legacy files.
    pub dir: PathBuf,
    /// Print the analysis as JSON (with every file).
    #[arg(long)]
    pub json: bool,
}

impl AnalyzeArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let config = match &g.config {
            Some(p) => ferry::config::Config::load(p)?,
            None => ferry::config::Config::default(),
        };
        let dir = self.dir.clone();
        let settings = config.files.clone();
        let a = tokio::task::spawn_blocking(move || {
            ferry::endpoint::files::analyze::analyze(&dir, &settings)
        })
        .await??;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&a)?);
            return Ok(EXIT_OK);
        }
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!("{}: {} files, {:.1} MiB", a.dir, a.files, mib(a.bytes));
        println!(
            "  {:12} {:>8} {:>12} {:>12}",
            "format", "files", "MiB", "~records"
        );
        for (k, t) in &a.by_format {
            println!(
                "  {k:12} {:>8} {:>12.2} {:>12}",
                t.files,
                mib(t.bytes),
                t.estimated_records
            );
        }
        let enc: Vec<String> = a
            .encodings
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("  encodings: {}", enc.join(", "));
        println!("  largest:");
        for (p, s) in &a.largest {
            println!("    {:>12} bytes  {p}", s);
        }
        if a.skipped.is_empty() {
            println!(
                "  nothing would be skipped (limit {} bytes)",
                a.max_file_bytes
            );
        } else {
            println!("  would be skipped ({}):", a.skipped.len());
            for (p, why) in &a.skipped {
                println!("    {p}: {why}");
            }
        }
        println!(
            "  estimated: {} records, {:.1}s of parsing on {} workers (≈{} MB/s per worker; an estimate, `ferry validate` measures)",
            a.estimated_records,
            a.estimated_seconds,
            a.workers,
            ferry::endpoint::files::analyze::ESTIMATE_BYTES_PER_SEC_PER_WORKER / 1e6
        );
        Ok(EXIT_OK)
    }
}
