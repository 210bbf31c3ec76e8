//! `ferry-bench`: ferry against the hand-written `sqlite3 -csv | psql \copy`
//! pipe, side by side in one run, on a generated legacy SQLite database.
//!
//! ```sh
//! cargo build --release -p ferry -p ferry-bench && target/release/ferry-bench --rows 1250000
//! ```
//!
//! - [`generate`] writes the source database (not timed).
//! - [`run`] runs one case (the pipe; ferry with its full verification;
//!   ferry's load alone, `--verify off`; the load with a WASM passthrough or
//!   with masking) and measures its wall time and its clients' peak RSS.
//! - [`pg`] gives each case a fresh PostgreSQL database and checks the end
//!   state: row counts, keys, the exactness of the scores, column types.
//! - [`report`] prints the results as text or JSON.
//!
//! The exit code is 1 if any case failed (process error, wrong counts,
//! missing keys, a ferry case whose scores are not the source's, or a
//! verifying case whose report does not show a passed full verification).

mod generate;
mod pg;
mod report;
mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::generate::Sizes;
use crate::pg::{Column, Server};
use crate::report::{CaseReport, SizeReport, thousands};
use crate::run::Case;

/// Benchmark ferry against a sqlite3 | psql COPY pipe into PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "ferry-bench")]
struct Args {
    /// Total source rows (users = ROWS/5, sessions = 4 per user); several
    /// sizes separated by commas, e.g. 125000,1250000.
    #[arg(long, value_delimiter = ',', default_value = "1250000")]
    rows: Vec<u64>,

    /// Runs of each case; the report shows the best and the median wall time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    repeat: u16,

    /// PostgreSQL base URL (no database): each case gets its own database there.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,

    /// The ferry binary [default: `ferry` next to this executable].
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,

    /// Another ferry build (say, the one before a change) run on the same
    /// ferry cases, interleaved with this one's in the same rounds, and
    /// reported beside it.
    #[arg(long, value_name = "PATH")]
    baseline: Option<PathBuf>,

    /// Write the generated SQLite databases into DIR and keep them
    /// [default: a temporary directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,

    /// Print the results as JSON on stdout (progress still goes to stderr).
    #[arg(long)]
    json: bool,

    /// Internal: write the source database of --rows rows to PATH and exit.
    /// The benchmark generates in a child process (this flag) so that its
    /// own peak RSS, which Linux counts into every child's, stays small.
    #[arg(long, value_name = "PATH", hide = true)]
    generate_into: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.generate_into {
        Some(path) => generate_only(path, &args.rows).map(|()| true),
        None => bench(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ferry-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run every size; `Ok(false)` if a case failed.
fn bench(args: &Args) -> Result<bool> {
    let ferry = ferry_binary(args.ferry.as_deref())?;
    let baseline = match &args.baseline {
        Some(b) => Some(ferry_binary(Some(b))?),
        None => None,
    };
    let server = Server::new(&args.pg)?;
    let postgres = format!("{} at {}", server.version()?, server.address());
    for tool in ["sqlite3", "psql"] {
        check_tool(tool)?;
    }
    warm_plugin_cache(&ferry)?;
    if let Some(b) = &baseline {
        warm_plugin_cache(b)?;
    }

    let temp;
    let dir = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating --keep directory {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };

    let mut reports = Vec::new();
    for &rows in &args.rows {
        let sizes = Sizes::for_total(rows);
        let source = dir.join(format!("legacy-{rows}.db"));
        eprintln!(
            "ferry-bench: generating {} rows into {}",
            thousands(sizes.total()),
            source.display()
        );
        generate_in_child(&source, rows)?;
        reports.push(bench_size(
            &server,
            &postgres,
            &ferry,
            baseline.as_deref(),
            &source,
            rows,
            args.repeat.into(),
        ));
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", report::render_text(&reports));
    }
    Ok(reports.iter().all(SizeReport::ok))
}

/// Every case `repeat` times on the source of `rows` rows, interleaved (so
/// drift in the machine's state spreads over all cases).
fn bench_size(
    server: &Server,
    postgres: &str,
    ferry: &Path,
    baseline: Option<&Path>,
    source: &Path,
    rows: u64,
    repeat: usize,
) -> SizeReport {
    let sizes = Sizes::for_total(rows);
    /// The runs of one case so far.
    #[derive(Default)]
    struct Acc {
        walls: Vec<Duration>,
        peak_rss: u64,
        verify: Vec<run::Verified>,
        end_state: Option<pg::EndState>,
        errors: Vec<String>,
    }
    let mut acc: BTreeMap<Case, Acc> = BTreeMap::new();
    let mut base_acc: BTreeMap<Case, Acc> = BTreeMap::new();
    // The pipe creates the tables with the column types ferry created.
    let mut ferry_columns: Option<Vec<Column>> = None;

    for round in 1..=repeat {
        // Rotate the order each round, so no case always follows the same one.
        let mut order = Case::RUN_ORDER;
        order.rotate_left((round - 1) % Case::RUN_ORDER.len());
        for case in order {
            eprintln!("ferry-bench:   {} (run {round} of {repeat})", case.label());
            let a = acc.entry(case).or_default();
            let columns = ferry_columns.clone().unwrap_or_else(|| {
                if case == Case::Pipe {
                    eprintln!(
                        "ferry-bench:   (ferry's column types are unknown: the pipe uses the static DDL)"
                    );
                }
                run::fallback_columns()
            });
            let result = run_case(server, ferry, source, sizes, case, &columns);
            match result {
                Ok((measured, state)) => {
                    a.walls.push(measured.wall);
                    a.peak_rss = a.peak_rss.max(measured.peak_rss);
                    a.verify.extend(measured.verify);
                    let mut problems = state.problems(sizes);
                    // ferry promises exact values; the pipe's rounding is
                    // what the report shows, not a failure of the benchmark.
                    if case != Case::Pipe && state.scores_differing > 0 {
                        problems.push(format!(
                            "{} scores differ from the source",
                            state.scores_differing
                        ));
                    }
                    for p in problems {
                        if !a.errors.contains(&p) {
                            a.errors.push(p);
                        }
                    }
                    if case.plain_ferry() && ferry_columns.is_none() {
                        ferry_columns = Some(state.columns.clone());
                    }
                    a.end_state.get_or_insert(state);
                }
                Err(e) => a.errors.push(format!("{e:#}")),
            }
            // The baseline build on the same case, right after it.
            if let (Some(base), true) = (baseline, case != Case::Pipe) {
                eprintln!(
                    "ferry-bench:   baseline {} (run {round} of {repeat})",
                    case.label()
                );
                let b = base_acc.entry(case).or_default();
                match run_case(server, base, source, sizes, case, &columns) {
                    Ok((measured, state)) => {
                        b.walls.push(measured.wall);
                        b.peak_rss = b.peak_rss.max(measured.peak_rss);
                        b.verify.extend(measured.verify);
                        for p in state.problems(sizes) {
                            if !b.errors.contains(&p) {
                                b.errors.push(p);
                            }
                        }
                        b.end_state.get_or_insert(state);
                    }
                    Err(e) => b.errors.push(format!("{e:#}")),
                }
            }
        }
    }

    let mut report = SizeReport {
        rows,
        sizes,
        postgres: postgres.to_string(),
        rss_floor_bytes: run::own_peak_rss(),
        repeat,
        cases: Case::ALL
            .into_iter()
            .map(|case| {
                let a = acc.remove(&case).unwrap_or_default();
                let mut c =
                    CaseReport::new(case, sizes, &a.walls, a.peak_rss, a.end_state, a.errors);
                c.set_verify(&a.verify);
                c
            })
            .collect(),
        baseline: baseline.map(|b| report::Baseline {
            binary: b.display().to_string(),
            cases: Case::ALL
                .into_iter()
                .filter(|&c| c != Case::Pipe)
                .map(|case| {
                    let a = base_acc.remove(&case).unwrap_or_default();
                    let mut c =
                        CaseReport::new(case, sizes, &a.walls, a.peak_rss, a.end_state, a.errors);
                    c.set_verify(&a.verify);
                    c
                })
                .collect(),
        }),
    };
    report.compare();
    report
}

/// One run of `case` in a fresh database, dropped afterwards.
fn run_case(
    server: &Server,
    ferry: &Path,
    source: &Path,
    sizes: Sizes,
    case: Case,
    columns: &[Column],
) -> Result<(run::Measured, pg::EndState)> {
    let db = server.create(&format!(
        "ferry_bench_{}_{}",
        case.slug(),
        std::process::id()
    ))?;
    server.checkpoint()?;
    let measured = match case {
        Case::Pipe => run::pipe(source, &db.url(), columns)?,
        _ => run::ferry(
            ferry,
            &format!("sqlite:{}", source.display()),
            &db.url(),
            case,
            sizes,
        )?,
    };
    Ok((measured, db.end_state()?))
}

/// The `--generate-into` mode: one size, written to `path`.
fn generate_only(path: &Path, rows: &[u64]) -> Result<()> {
    let [rows] = rows[..] else {
        bail!("--generate-into takes exactly one --rows size");
    };
    generate::generate(path, Sizes::for_total(rows))
}

/// Generate the source in a child process (`--generate-into`): on Linux a
/// child's `ru_maxrss` is at least its parent's peak RSS when it was spawned
/// (exec records the replaced address space's high-water mark), so this
/// process must never hold the generator's memory.
fn generate_in_child(path: &Path, rows: u64) -> Result<()> {
    let exe = std::env::current_exe().context("locating ferry-bench's own executable")?;
    let status = Command::new(exe)
        .arg("--generate-into")
        .arg(path)
        .arg("--rows")
        .arg(rows.to_string())
        .status()
        .context("starting the generator")?;
    if !status.success() {
        bail!("generating {} failed ({status})", path.display());
    }
    Ok(())
}

/// `--ferry`, else `ferry` next to this executable.
fn ferry_binary(given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .context("locating ferry-bench's own executable")?
            .with_file_name("ferry"),
    };
    if !path.is_file() {
        bail!(
            "no ferry binary at {}: build it with `cargo build --release -p ferry` \
             (with the same CARGO_TARGET_DIR as this benchmark) or pass --ferry PATH",
            path.display()
        );
    }
    Ok(path)
}

fn check_tool(tool: &str) -> Result<()> {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        bail!("`{tool} --version` failed: the pipe case needs the {tool} CLI on PATH");
    }
    Ok(())
}

/// Compile the `mask` plugin into ferry's component cache before anything is
/// timed, so the WASM cases measure the steady state, not a first compile.
fn warm_plugin_cache(ferry: &Path) -> Result<()> {
    let out = Command::new(ferry)
        .args(["plugin", "check", "mask"])
        .output()
        .with_context(|| format!("running {} plugin check mask", ferry.display()))?;
    if !out.status.success() {
        bail!(
            "`{} plugin check mask` failed ({}): {}",
            ferry.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
