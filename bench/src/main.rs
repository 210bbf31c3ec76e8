//! `ferry-bench`: ferry against hand-written anchors, side by side in one
//! run, on a generated legacy SQLite database. Three comparisons
//! (`--pairs`), each with its own section in the report:
//!
//! - `sqlite-pg`: SQLite → PostgreSQL against `sqlite3 -csv | psql \copy`,
//!   with ferry's full verification, its load alone (`--verify off`) and
//!   the load with a WASM passthrough or with masking;
//! - `pg-pg`: PostgreSQL → PostgreSQL against `pg_dump | psql`, from a
//!   source database ferry loads from the SQLite one once per size (not
//!   timed);
//! - `sqlite-mariadb`: SQLite → MariaDB against `sqlite3 -csv` files, `LOAD
//!   DATA LOCAL INFILE` and the same keys.
//!
//! ```sh
//! cargo build --release -p ferry -p ferry-bench && target/release/ferry-bench --rows 1250000
//! ```
//!
//! - [`generate`] writes the source database (not timed).
//! - [`run`] names the comparisons and their cases, runs ferry and the
//!   `sqlite3 | psql` pipe, and measures a case's wall time and its clients'
//!   peak RSS.
//! - [`pg`] gives each PostgreSQL case a fresh database and checks the end
//!   state: row counts, keys, the exactness of the scores, column types.
//! - [`pgpg`] loads the PostgreSQL source and runs `pg_dump | psql`.
//! - [`mariadb`] does for MariaDB what [`pg`] does for PostgreSQL.
//! - [`load_data`] runs the SQLite → MariaDB anchor: sqlite3 CSV files,
//!   `LOAD DATA LOCAL INFILE`, the keys.
//! - [`report`] prints the results as text or JSON.
//!
//! The exit code is 1 if any case failed (process error, wrong counts,
//! missing keys, a ferry case whose scores are not the source's, data that
//! differ from ferry's where they should not, or a verifying case whose
//! report does not show a passed full verification).

mod generate;
mod load_data;
mod mariadb;
mod pg;
mod pgpg;
mod report;
mod run;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::generate::Sizes;
use crate::pg::{Column, EndState};
use crate::report::{CaseReport, Comparison, SizeReport, thousands};
use crate::run::{Case, Pair};

/// Benchmark ferry against hand-written anchors: sqlite3 | psql COPY,
/// pg_dump | psql, sqlite3 CSV + LOAD DATA into MariaDB.
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

    /// The comparisons, run in the same rounds and reported one after the
    /// other: sqlite-pg (against sqlite3 | psql \copy), pg-pg (PostgreSQL →
    /// PostgreSQL against pg_dump | psql), sqlite-mariadb (against sqlite3
    /// CSV files + LOAD DATA LOCAL INFILE).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sqlite-pg,pg-pg,sqlite-mariadb"
    )]
    pairs: Vec<Pair>,

    /// PostgreSQL base URL (no database): each case gets its own database there.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg: String,

    /// MariaDB base URL (no database), for sqlite-mariadb: each case gets its
    /// own database there.
    #[arg(
        long,
        value_name = "URL",
        default_value = "mysql://root@127.0.0.1:3306"
    )]
    mysql: String,

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

/// The servers the selected comparisons run on, and how the report
/// describes each comparison's target (`15.20 at 127.0.0.1:5432`).
struct Targets {
    pg: Option<pg::Server>,
    mariadb: Option<mariadb::Server>,
    described: BTreeMap<Pair, String>,
}

impl Targets {
    /// Connect to the servers `pairs` need and check the CLIs they use.
    fn new(args: &Args, pairs: &[Pair]) -> Result<Targets> {
        let uses = |p: Pair| pairs.contains(&p);
        let mut tools = Vec::new();
        if uses(Pair::SqlitePg) || uses(Pair::SqliteMariadb) {
            tools.push("sqlite3");
        }
        if uses(Pair::SqlitePg) || uses(Pair::PgPg) {
            tools.push("psql");
        }
        if uses(Pair::PgPg) {
            tools.push("pg_dump");
        }
        if uses(Pair::SqliteMariadb) {
            tools.push("mariadb");
        }
        for tool in tools {
            check_tool(tool)?;
        }
        let mut described = BTreeMap::new();
        let pg = if uses(Pair::SqlitePg) || uses(Pair::PgPg) {
            let server = pg::Server::new(&args.pg)?;
            let text = format!("{} at {}", server.version()?, server.address());
            for p in [Pair::SqlitePg, Pair::PgPg] {
                described.insert(p, text.clone());
            }
            Some(server)
        } else {
            None
        };
        let mariadb = if uses(Pair::SqliteMariadb) {
            let server = mariadb::Server::new(&args.mysql)?;
            let text = format!("{} at {}", server.version()?, server.address());
            described.insert(Pair::SqliteMariadb, text);
            Some(server)
        } else {
            None
        };
        Ok(Targets {
            pg,
            mariadb,
            described,
        })
    }

    fn pg(&self) -> Result<&pg::Server> {
        self.pg.as_ref().context("no PostgreSQL server was set up")
    }

    fn mariadb(&self) -> Result<&mariadb::Server> {
        self.mariadb
            .as_ref()
            .context("no MariaDB server was set up")
    }

    /// Flush every server's dirty pages, so that no case pays for another's
    /// background writes (whichever server that case used).
    fn quiesce(&self) -> Result<()> {
        if let Some(pg) = &self.pg {
            pg.checkpoint()?;
        }
        if let Some(my) = &self.mariadb {
            my.settle()?;
        }
        Ok(())
    }
}

/// Run every size; `Ok(false)` if a case failed.
fn bench(args: &Args) -> Result<bool> {
    // Report order, each comparison once.
    let pairs: Vec<Pair> = Pair::ALL
        .into_iter()
        .filter(|p| args.pairs.contains(p))
        .collect();
    let ferry = ferry_binary(args.ferry.as_deref())?;
    let baseline = match &args.baseline {
        Some(b) => Some(ferry_binary(Some(b))?),
        None => None,
    };
    let targets = Targets::new(args, &pairs)?;
    if pairs.contains(&Pair::SqlitePg) {
        warm_plugin_cache(&ferry)?;
        if let Some(b) = &baseline {
            warm_plugin_cache(b)?;
        }
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
            &targets,
            &pairs,
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

/// The runs of one case so far.
#[derive(Default)]
struct Acc {
    walls: Vec<Duration>,
    peak_rss: u64,
    verify: Vec<run::Verified>,
    end_state: Option<EndState>,
    errors: Vec<String>,
}

impl Acc {
    /// Add one run of `case`: its measures, or why it failed, and what is
    /// wrong with its end state.
    fn record(&mut self, case: Case, sizes: Sizes, result: Result<(run::Measured, EndState)>) {
        match result {
            Ok((measured, state)) => {
                self.walls.push(measured.wall);
                self.peak_rss = self.peak_rss.max(measured.peak_rss);
                self.verify.extend(measured.verify);
                let mut problems = state.problems(sizes);
                // ferry promises exact values; an anchor's rounding is what
                // the report shows, not a failure of the benchmark.
                if !case.is_anchor() && state.scores_differing > 0 {
                    problems.push(format!(
                        "{} scores differ from the source",
                        state.scores_differing
                    ));
                }
                for p in problems {
                    if !self.errors.contains(&p) {
                        self.errors.push(p);
                    }
                }
                self.end_state.get_or_insert(state);
            }
            Err(e) => self.errors.push(format!("{e:#}")),
        }
    }

    fn report(self, case: Case, sizes: Sizes) -> CaseReport {
        let mut c = CaseReport::new(
            case,
            sizes,
            &self.walls,
            self.peak_rss,
            self.end_state,
            self.errors,
        );
        c.set_verify(&self.verify);
        c
    }
}

/// Every case of every comparison in `pairs` `repeat` times on the source of
/// `rows` rows, interleaved (so drift in the machine's state spreads over
/// all cases).
fn bench_size(
    targets: &Targets,
    pairs: &[Pair],
    ferry: &Path,
    baseline: Option<&Path>,
    source: &Path,
    rows: u64,
    repeat: usize,
) -> SizeReport {
    let sizes = Sizes::for_total(rows);
    let mut acc: BTreeMap<Case, Acc> = BTreeMap::new();
    let mut base_acc: BTreeMap<Case, Acc> = BTreeMap::new();
    // The pipe creates the tables with the column types ferry created.
    let mut ferry_columns: Option<Vec<Column>> = None;
    // The PostgreSQL → PostgreSQL source, loaded once (not timed); if that
    // fails, every case of that comparison fails with the reason.
    let pg_source = pairs.contains(&Pair::PgPg).then(|| {
        eprintln!("ferry-bench:   pg-pg: loading the PostgreSQL source with ferry (not timed)");
        targets
            .pg()
            .and_then(|server| pgpg::load_source(server, ferry, source, sizes))
            .map_err(|e| format!("setting up the PostgreSQL source: {e:#}"))
    });
    let ctx = CaseContext {
        targets,
        source,
        sizes,
        pg_source: pg_source.as_ref(),
    };

    for round in 1..=repeat {
        for &pair in pairs {
            // Rotate the order each round, so no case always follows the same one.
            let mut order = pair.run_order();
            let n = order.len();
            order.rotate_left((round - 1) % n);
            for case in order {
                eprintln!(
                    "ferry-bench:   {pair}: {} (run {round} of {repeat})",
                    case.label()
                );
                let columns = ferry_columns.clone().unwrap_or_else(|| {
                    if case == Case::Pipe {
                        eprintln!(
                            "ferry-bench:   (ferry's column types are unknown: the pipe uses the static DDL)"
                        );
                    }
                    run::fallback_columns()
                });
                // With a baseline, the two builds take turns going first
                // (odd rounds this build, even rounds the baseline): a run
                // pays for the writes its predecessor left the server to
                // flush, so a fixed order would favour one of them.
                let base = baseline.filter(|_| !case.is_anchor());
                let base_first = round % 2 == 0;
                let mut run_baseline = |base: &Path| {
                    eprintln!(
                        "ferry-bench:   {pair}: baseline {} (run {round} of {repeat})",
                        case.label()
                    );
                    let result = run_case(&ctx, base, case, &columns);
                    base_acc
                        .entry(case)
                        .or_default()
                        .record(case, sizes, result);
                };
                if let Some(b) = base.filter(|_| base_first) {
                    run_baseline(b);
                }
                let result = run_case(&ctx, ferry, case, &columns);
                if let Ok((_, state)) = &result
                    && pair == Pair::SqlitePg
                    && case.plain_ferry()
                    && ferry_columns.is_none()
                {
                    ferry_columns = Some(state.columns.clone());
                }
                acc.entry(case).or_default().record(case, sizes, result);
                if let Some(b) = base.filter(|_| !base_first) {
                    run_baseline(b);
                }
            }
        }
    }

    let mut report = SizeReport {
        rows,
        sizes,
        rss_floor_bytes: run::own_peak_rss(),
        repeat,
        comparisons: pairs
            .iter()
            .map(|&pair| Comparison {
                pair,
                server: targets.described.get(&pair).cloned().unwrap_or_default(),
                cases: pair
                    .cases()
                    .iter()
                    .map(|&case| acc.remove(&case).unwrap_or_default().report(case, sizes))
                    .collect(),
                baseline: baseline.map(|b| report::Baseline {
                    binary: b.display().to_string(),
                    cases: pair
                        .cases()
                        .iter()
                        .filter(|c| !c.is_anchor())
                        .map(|&case| {
                            base_acc
                                .remove(&case)
                                .unwrap_or_default()
                                .report(case, sizes)
                        })
                        .collect(),
                }),
            })
            .collect(),
    };
    report.compare();
    report
}

/// What every case of one size runs against.
struct CaseContext<'a> {
    targets: &'a Targets,
    /// The generated SQLite database.
    source: &'a Path,
    sizes: Sizes,
    /// The PostgreSQL → PostgreSQL source, or why it could not be loaded.
    pg_source: Option<&'a std::result::Result<pg::TempDb<'a>, String>>,
}

/// One run of `case` in a fresh database, dropped afterwards.
fn run_case(
    ctx: &CaseContext<'_>,
    ferry: &Path,
    case: Case,
    columns: &[Column],
) -> Result<(run::Measured, EndState)> {
    let name = run::db_name(case.slug());
    let sqlite_url = format!("sqlite:{}", ctx.source.display());
    match case.pair() {
        Pair::SqlitePg => {
            let db = ctx.targets.pg()?.create(&name)?;
            ctx.targets.quiesce()?;
            let measured = match case {
                Case::Pipe => run::pipe(ctx.source, &db.url(), columns)?,
                _ => run::ferry(ferry, &sqlite_url, &db.url(), case, ctx.sizes)?,
            };
            Ok((measured, db.end_state()?))
        }
        Pair::PgPg => {
            let source = match ctx.pg_source {
                Some(Ok(db)) => db,
                Some(Err(why)) => bail!("{why}"),
                None => bail!("the PostgreSQL source was not set up"),
            };
            let db = ctx.targets.pg()?.create(&name)?;
            ctx.targets.quiesce()?;
            let measured = match case {
                Case::PgDump => pgpg::dump_pipe(&source.url(), &db.url())?,
                _ => run::ferry(ferry, &source.url(), &db.url(), case, ctx.sizes)?,
            };
            Ok((measured, db.end_state()?))
        }
        Pair::SqliteMariadb => {
            let server = ctx.targets.mariadb()?;
            let db = server.create(&name)?;
            ctx.targets.quiesce()?;
            let measured = match case {
                Case::LoadData => load_data::load_data(server, &db.name, ctx.source)?,
                _ => run::ferry(ferry, &sqlite_url, &db.url(), case, ctx.sizes)?,
            };
            Ok((measured, db.end_state()?))
        }
    }
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
        bail!(
            "`{tool} --version` failed: the selected --pairs need the {tool} CLI on PATH \
             (or leave out the comparison that uses it)"
        );
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
