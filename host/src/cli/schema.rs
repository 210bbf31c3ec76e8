//! `ferry schema`: versioned schema migrations (see `ferry::schema`).
//!
//! Exit codes: 0 done; 1 failed or refused (the message says why and what
//! to do); 2 a mistake in the command line; 4 `status --check` or
//! `validate` found something pending, drifted, missing or unfinished.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use ferry::endpoint::EndpointUrl;
use ferry::schema::SchemaError;
use ferry::schema::apply::{self, Options, Status, Step};
use ferry::schema::diff::{DiffOptions, diff};
use ferry::schema::files::Dir;

use super::migrate::parse_endpoint;
use super::{EXIT_FAILED, EXIT_OK, GlobalArgs, UsageError};

/// `status --check` and `validate` found something to act on.
pub const EXIT_CHECK: u8 = 4;

/// The migration directory unless `--dir` or `[schema] dir` says.
const DEFAULT_DIR: &str = "migrations";

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Write the next migration file (both sections) and update ferry.sum.
    New(NewArgs),
    /// Current version; applied, pending, drifted, missing, unfinished.
    Status(StatusArgs),
    /// Every apply, revert, baseline and repair recorded in the target.
    History(TargetArgs),
    /// Apply pending migrations, each in its own transaction where the
    /// database allows.
    Up(UpArgs),
    /// Revert the newest applied migrations with their down sections.
    Down(DownArgs),
    /// Check applied migrations' checksums against the files (and ferry.sum).
    Validate(ValidateArgs),
    /// Adopt an existing database as of migration VERSION.
    Baseline(BaselineArgs),
    /// A migration that turns a live schema into a desired one.
    Diff(DiffArgs),
    /// Development only: revert everything, forget the history, apply all.
    Reset(ResetArgs),
    /// Rewrite ferry.sum from the files as they are.
    Hash(DirArgs),
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The migration directory (default: `[schema] dir`, else ./migrations).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The database whose schema is versioned.
    #[arg(long, value_parser = parse_endpoint, value_name = "URL")]
    pub to: Option<EndpointUrl>,
    #[command(flatten)]
    pub dir: DirArgs,
    /// How long to wait for another ferry schema's lock, in seconds.
    #[arg(long, default_value_t = apply::DEFAULT_LOCK_TIMEOUT.as_secs(), value_name = "SECS")]
    pub lock_timeout: u64,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// What the migration does (`add_users_email`).
    pub name: String,
    #[command(flatten)]
    pub dir: DirArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Exit 4 when anything is pending, drifted, missing or unfinished, or
    /// ferry.sum disagrees (for CI).
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop after this version.
    #[arg(long = "to-version", value_name = "VERSION")]
    pub to_version: Option<u64>,
    /// Print the SQL, history writes included; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply pending migrations older than the current version.
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Run a failed non-transactional migration from its first statement
    /// again (after undoing by hand what it applied).
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Revert every migration newer than this version.
    #[arg(long = "to-version", value_name = "VERSION", conflicts_with = "steps")]
    pub to_version: Option<u64>,
    /// How many migrations to revert (default 1).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Print the SQL, history writes included; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Accept edited files as they are: record their checksums and rewrite
    /// ferry.sum.
    #[arg(long)]
    pub repair: bool,
    /// Check the files only; do not replay them into a scratch database to
    /// compare the live schema.
    #[arg(long)]
    pub no_live: bool,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The last migration the database's schema already has.
    #[arg(long)]
    pub version: String,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Confirm: every migration is reverted and applied again.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The live database to change.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The schema wanted: a database URL, a json endpoint or a `_schema.json`.
    #[arg(long, value_name = "URL|SCHEMA.JSON")]
    pub to: String,
    /// Write the migration here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// A table (`old=new`) or column (`table.old=new`) renamed; repeatable.
    #[arg(long = "rename", value_name = "OLD=NEW")]
    pub renames: Vec<String>,
    /// Write drops and narrowing changes as statements, not comments.
    #[arg(long)]
    pub allow_destructive: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl SchemaCommand {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let config = match &g.config {
            Some(p) => ferry::config::Config::load(p)?,
            None => Default::default(),
        };
        let dir_of = |d: &DirArgs| {
            d.dir
                .clone()
                .or_else(|| config.schema_dir.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
        };
        let result: anyhow::Result<u8> = match self {
            SchemaCommand::New(a) => {
                let file = Dir::create(&dir_of(&a.dir), &a.name)?;
                if a.dir.json {
                    println!("{}", serde_json::json!({ "file": file }));
                } else {
                    println!("{}", file.display());
                }
                Ok(EXIT_OK)
            }
            SchemaCommand::Hash(a) => {
                let dir = Dir::read(&dir_of(&a))?;
                dir.write_sum()?;
                println!(
                    "{} rewritten: {} migrations",
                    dir.path.join(ferry::schema::files::SUM_FILE).display(),
                    dir.all().count()
                );
                Ok(EXIT_OK)
            }
            SchemaCommand::Status(a) => {
                let (to, dir) = target(&a.target, &dir_of(&a.target.dir))?;
                let s = apply::status(&to, &dir).await?;
                if a.target.dir.json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    print_status(&s);
                }
                Ok(if a.check && !s.clean() {
                    EXIT_CHECK
                } else {
                    EXIT_OK
                })
            }
            SchemaCommand::History(a) => {
                let to = required_to(&a)?;
                let entries = apply::log(&to).await?;
                if a.dir.json {
                    println!("{}", serde_json::to_string_pretty(&entries)?);
                } else if entries.is_empty() {
                    println!("{to}: no schema history");
                } else {
                    println!(
                        "{:>4}  {:<8} {:<24} {:<9} {:<8} {:>9}  {:<20}  by",
                        "id", "version", "name", "direction", "status", "stmts", "at"
                    );
                    for e in entries {
                        println!(
                            "{:>4}  {:<8} {:<24} {:<9} {:<8} {:>4}/{:<4}  {:<20}  {}{}",
                            e.id,
                            e.version,
                            e.name,
                            e.direction,
                            e.status,
                            e.statements_done,
                            e.statements_total,
                            e.applied_at,
                            e.applied_by,
                            e.error.map(|x| format!("  error: {x}")).unwrap_or_default()
                        );
                    }
                }
                Ok(EXIT_OK)
            }
            SchemaCommand::Up(a) => {
                let (to, dir) = target(&a.target, &dir_of(&a.target.dir))?;
                let o = Options {
                    to: a.to_version,
                    dry_run: a.dry_run,
                    allow_out_of_order: a.allow_out_of_order,
                    restart: a.restart,
                    lock_timeout: Duration::from_secs(a.target.lock_timeout),
                    ..Options::default()
                };
                let steps = apply::up(&to, &dir, &o).await?;
                print_steps(&to, &steps, a.target.dir.json, "up to date")?;
                Ok(EXIT_OK)
            }
            SchemaCommand::Down(a) => {
                let (to, dir) = target(&a.target, &dir_of(&a.target.dir))?;
                let o = Options {
                    to: a.to_version,
                    steps: a.steps,
                    dry_run: a.dry_run,
                    lock_timeout: Duration::from_secs(a.target.lock_timeout),
                    ..Options::default()
                };
                let steps = apply::down(&to, &dir, &o).await?;
                print_steps(&to, &steps, a.target.dir.json, "nothing to revert")?;
                Ok(EXIT_OK)
            }
            SchemaCommand::Validate(a) => {
                let (to, dir) = target(&a.target, &dir_of(&a.target.dir))?;
                if a.repair {
                    let accepted =
                        apply::repair(&to, &dir, Duration::from_secs(a.target.lock_timeout))
                            .await?;
                    for l in &accepted {
                        println!("accepted {} {} as it is now", l.version, l.name);
                    }
                }
                let s = apply::status(&to, &dir).await?;
                let files_ok = s.drifted.is_empty()
                    && s.missing.is_empty()
                    && s.failed.is_empty()
                    && s.sum.is_empty();
                // The live schema against a replay of the applied files; a
                // server that refuses a scratch database is said, not fatal.
                let live = if a.no_live {
                    None
                } else {
                    match apply::check_live(&to, &dir).await {
                        Ok(l) => Some(l),
                        Err(e) => {
                            eprintln!("warning: the live schema was not compared: {e}");
                            None
                        }
                    }
                };
                let live_ok = live.as_ref().is_none_or(|l| l.changes == 0);
                if a.target.dir.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &serde_json::json!({ "status": s, "live": live })
                        )?
                    );
                } else {
                    print_status(&s);
                    match &live {
                        Some(l) if l.skipped.is_some() => println!(
                            "live schema: not compared ({})",
                            l.skipped.as_deref().unwrap_or_default()
                        ),
                        Some(l) if l.changes > 0 => println!(
                            "live schema: {} differences from what the applied migrations produce; this would make it match:\n{}",
                            l.changes, l.sql
                        ),
                        Some(_) => println!("live schema: what the applied migrations produce"),
                        None => {}
                    }
                    if files_ok && live_ok {
                        println!("valid: every applied migration matches its file");
                    }
                }
                Ok(if files_ok && live_ok {
                    EXIT_OK
                } else {
                    EXIT_CHECK
                })
            }
            SchemaCommand::Baseline(a) => {
                let (to, dir) = target(&a.target, &dir_of(&a.target.dir))?;
                let step = apply::baseline(
                    &to,
                    &dir,
                    &a.version,
                    Duration::from_secs(a.target.lock_timeout),
                )
                .await?;
                if a.target.dir.json {
                    println!("{}", serde_json::to_string_pretty(&step)?);
                } else {
                    println!(
                        "{to}: baseline at {} ({}); `ferry schema up` applies what comes after",
                        step.version, step.name
                    );
                }
                Ok(EXIT_OK)
            }
            SchemaCommand::Reset(a) => {
                if !a.yes {
                    return Err(UsageError(
                        "ferry schema reset reverts every migration and applies them again, losing the data in what they created: development only. Add --yes".into(),
                    )
                    .into());
                }
                let (to, dir) = target(&a.target, &dir_of(&a.target.dir))?;
                let o = Options {
                    lock_timeout: Duration::from_secs(a.target.lock_timeout),
                    ..Options::default()
                };
                let steps = apply::reset(&to, &dir, &o).await?;
                print_steps(&to, &steps, a.target.dir.json, "nothing to reset")?;
                Ok(EXIT_OK)
            }
            SchemaCommand::Diff(a) => {
                let mut renames = Vec::new();
                for r in &a.renames {
                    let (old, new) = r.split_once('=').ok_or_else(|| {
                        UsageError(format!(
                            "--rename {r}: write OLD=NEW (table.OLD=NEW for a column)"
                        ))
                    })?;
                    renames.push((old.trim().to_string(), new.trim().to_string()));
                }
                let d = diff(
                    &a.from,
                    &a.to,
                    &DiffOptions {
                        renames,
                        allow_destructive: a.allow_destructive,
                    },
                )
                .await?;
                if a.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "changes": d.changes,
                            "destructive": d.destructive,
                            "warnings": d.warnings,
                            "up": d.up,
                            "down": d.down,
                        }))?
                    );
                } else {
                    let text = format!(
                        "-- ferry:up\n{}\n-- ferry:down\n{}\n",
                        d.up.trim_end(),
                        d.down.trim_end()
                    );
                    match &a.output {
                        Some(p) => {
                            std::fs::write(p, &text).map_err(|e| {
                                anyhow::anyhow!("cannot write {}: {e}", p.display())
                            })?;
                            eprintln!("{}: {} changes", p.display(), d.changes);
                        }
                        None => print!("{text}"),
                    }
                    for w in &d.warnings {
                        eprintln!("warning: {w}");
                    }
                    for x in &d.destructive {
                        eprintln!(
                            "destructive{}: {x}",
                            if a.allow_destructive {
                                ""
                            } else {
                                " (commented out)"
                            }
                        );
                    }
                }
                Ok(EXIT_OK)
            }
        };
        match result {
            Err(e) => match e.downcast::<SchemaError>() {
                Ok(e) => {
                    eprintln!("error: {e}");
                    Ok(EXIT_FAILED)
                }
                Err(e) => Err(e),
            },
            ok => ok,
        }
    }
}

fn required_to(a: &TargetArgs) -> Result<EndpointUrl, UsageError> {
    a.to.clone().ok_or_else(|| {
        UsageError("--to URL is required: the database whose schema is versioned".into())
    })
}

fn target(a: &TargetArgs, dir: &Path) -> anyhow::Result<(EndpointUrl, Dir)> {
    let to = required_to(a)?;
    Ok((to, Dir::read(dir)?))
}

fn print_status(s: &Status) {
    println!(
        "{}: version {}{}",
        s.target,
        s.current.as_deref().unwrap_or("none"),
        s.baseline
            .as_deref()
            .map(|b| format!(" (baseline {b})"))
            .unwrap_or_default()
    );
    let group = |title: &str, lines: &[apply::Line]| {
        if lines.is_empty() {
            return;
        }
        println!("{title} ({}):", lines.len());
        for l in lines {
            println!(
                "  {} {}{}",
                l.version,
                l.name,
                l.detail
                    .as_deref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            );
        }
    };
    group("applied", &s.applied);
    group("pending", &s.pending);
    group("out of order", &s.out_of_order);
    group("drifted", &s.drifted);
    group("missing", &s.missing);
    group("unfinished", &s.failed);
    if !s.sum.is_empty() {
        println!("ferry.sum:");
        for x in &s.sum {
            println!("  {x}");
        }
    }
}

fn print_steps(to: &EndpointUrl, steps: &[Step], json: bool, none: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(steps)?);
        return Ok(());
    }
    if steps.is_empty() {
        println!("{to}: {none}");
    }
    for s in steps {
        match &s.sql {
            Some(sql) => print!("{sql}"),
            None => println!(
                "{} {} {}: {} statements{} in {} ms",
                s.direction,
                s.version,
                s.name,
                s.statements,
                if s.resumed_from > 0 {
                    format!(" (continued from statement {})", s.resumed_from + 1)
                } else {
                    String::new()
                },
                s.duration_ms
            ),
        }
    }
    Ok(())
}
