//! `ferry plugin new | build | test`: from an idea to a tested component.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ferry::authoring::{self, Lang, Project, conformance, toolchain};
use ferry::model::{Column, LogicalType};

use super::{EXIT_FAILED, EXIT_OK, GlobalArgs, UsageError};

/// `ferry plugin new NAME --kind K --lang L [--dir D]`.
pub fn new(name: &str, kind: &str, lang: &str, dir: Option<PathBuf>) -> anyhow::Result<u8> {
    let kind = authoring::parse_kind(kind).ok_or_else(|| {
        UsageError(format!(
            "--kind {kind}: choose transformer, validator or parser"
        ))
    })?;
    let lang = Lang::parse(lang)
        .ok_or_else(|| UsageError(format!("--lang {lang}: choose rust, python or js")))?;
    authoring::check_name(name).map_err(|e| UsageError(e.to_string()))?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let files = authoring::new_project(&dir, name, kind, lang)?;
    println!("created {lang} {kind} `{name}` in {}:", dir.display());
    for f in &files {
        println!("  {f}");
    }
    println!("  .ferry/ (the {lang} SDK and the WIT contract; refreshed by every build)");
    let d = dir.display();
    let flag = match kind {
        ferry::plugin::PluginKind::Validator => "--validate",
        _ => "--transform",
    };
    println!("next:");
    println!("  ferry plugin build {d}");
    println!("  ferry plugin test {d}");
    if kind == ferry::plugin::PluginKind::Parser {
        println!(
            "  (then name {d}/{name}.wasm as a parser in [[files.parser]]; see its README.md)"
        );
    } else {
        println!(
            "  ferry migrate --from sqlite:legacy.db --to sqlite:new.db {flag} 'TABLE:{d}/{name}.wasm={{\"column\":\"email\"}}'"
        );
    }
    Ok(EXIT_OK)
}

/// `ferry plugin build [DIR]`.
pub async fn build(g: &GlobalArgs, dir: &Path, json: bool) -> anyhow::Result<u8> {
    let project = Project::open(dir)?;
    let start = Instant::now();
    eprintln!(
        "building {} {} `{}` in {}",
        project.lang,
        project.kind,
        project.name,
        dir.display()
    );
    let wasm = toolchain::build(&project)?;
    let took = start.elapsed();
    let size = std::fs::metadata(&wasm)?.len();
    // Loaded as ferry will load it: the contract, the kind, the manifest.
    let (_, registry) = super::setup(g)?;
    let plugin = registry.resolve(&wasm.display().to_string()).await?;
    let m = plugin.manifest();
    if m.kind != project.kind {
        anyhow::bail!(
            "{} is a {}, but {} says {}: fix the `kind` in the manifest or the export in the code",
            wasm.display(),
            m.kind,
            authoring::MANIFEST,
            project.kind
        );
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "component": wasm,
                "name": m.name,
                "kind": m.kind.name(),
                "version": m.version,
                "contract": m.contract_version,
                "bytes": size,
                "sha256": m.sha256,
                "build_ms": took.as_millis() as u64,
            })
        );
    } else {
        println!(
            "built {} ({:.1} MB, {} {} {}, ferry:plugin@{}) in {:.1} s, sha256 {}",
            wasm.display(),
            size as f64 / 1e6,
            m.kind,
            m.name,
            m.version,
            m.contract_version,
            took.as_secs_f64(),
            m.sha256
        );
    }
    Ok(EXIT_OK)
}

/// What `ferry plugin test` was pointed at and how to run it.
pub struct TestArgs {
    pub target: PathBuf,
    pub with: String,
    pub columns: Option<String>,
    pub batch_size: usize,
    pub input: Option<PathBuf>,
    pub no_own_tests: bool,
    pub json: bool,
}

/// `NAME:TYPE,…` → columns (nullable).
fn parse_columns(spec: &str) -> Result<Vec<Column>, UsageError> {
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (name, t) = item
                .split_once(':')
                .ok_or_else(|| UsageError(format!("--columns: `{item}` is not NAME:TYPE")))?;
            let logical_type = ALL_TYPES
                .iter()
                .copied()
                .find(|l| l.name() == t.trim().to_ascii_lowercase())
                .ok_or_else(|| {
                    UsageError(format!(
                        "--columns: `{t}` is not a type; use one of {}",
                        ALL_TYPES
                            .iter()
                            .map(|l| l.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            Ok(Column {
                name: name.trim().to_string(),
                logical_type,
                nullable: true,
            })
        })
        .collect()
}

const ALL_TYPES: &[LogicalType] = &[
    LogicalType::Boolean,
    LogicalType::Int64,
    LogicalType::Float64,
    LogicalType::Decimal,
    LogicalType::Text,
    LogicalType::Bytes,
    LogicalType::Json,
    LogicalType::Date,
    LogicalType::Time,
    LogicalType::Timestamp,
    LogicalType::Timestamptz,
    LogicalType::Uuid,
];

/// `ferry plugin test [DIR|PATH|NAME]`.
pub async fn test(g: &GlobalArgs, a: TestArgs) -> anyhow::Result<u8> {
    const MAX: usize = ferry::engine::options::MAX_BATCH_SIZE;
    if a.batch_size == 0 || a.batch_size > MAX {
        return Err(UsageError(format!("--batch-size must be between 1 and {MAX}")).into());
    }
    let columns = match &a.columns {
        Some(s) => parse_columns(s)?,
        None => Vec::new(),
    };
    let input = match &a.input {
        Some(p) => Some((
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
            std::fs::read(p).map_err(|e| anyhow::anyhow!("--input {}: {e}", p.display()))?,
        )),
        None => None,
    };
    let mut own = Vec::new();
    // A project directory: its built component (fresh), its own tests, then
    // the component's conformance.
    let plugin_ref = if a.target.is_dir() {
        let project = Project::open(&a.target)?;
        let wasm = project.component();
        let built = std::fs::metadata(&wasm).and_then(|m| m.modified()).ok();
        match (built, project.newest_source()) {
            (None, _) => {
                eprintln!(
                    "error: {} is not built yet: run `ferry plugin build {}` first",
                    wasm.display(),
                    a.target.display()
                );
                return Ok(EXIT_FAILED);
            }
            (Some(b), Some((s, path))) if s > b => {
                eprintln!(
                    "error: {} is older than {}: run `ferry plugin build {}` first, so the tests run on your code as it is",
                    wasm.display(),
                    path.display(),
                    a.target.display()
                );
                return Ok(EXIT_FAILED);
            }
            _ => {}
        }
        if !a.no_own_tests {
            eprintln!("running {}'s own tests", project.name);
            own = toolchain::own_tests(&project)?;
        }
        wasm.display().to_string()
    } else {
        a.target.display().to_string()
    };
    let (_, registry) = super::setup(g)?;
    let plugin = registry.resolve(&plugin_ref).await?;
    let opts = conformance::Options {
        config: a.with.clone(),
        columns,
        batch_size: a.batch_size,
        input,
    };
    let report = conformance::run(plugin, &opts).await;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["own_tests"] = serde_json::json!(own);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for t in &own {
            println!("ok    own tests: {t}");
        }
        println!(
            "conformance of {} {} {} (ferry:plugin@{}) with {}",
            report.kind, report.plugin, report.version, report.contract, report.config
        );
        for c in &report.checks {
            let mark = match c.outcome {
                conformance::Outcome::Pass => "ok  ",
                conformance::Outcome::Warn => "warn",
                conformance::Outcome::Fail => "FAIL",
            };
            println!("{mark}  {:<40} {:>9.1} ms  {}", c.name, c.ms, c.detail);
        }
        if let (Some(us), Some(rps)) = (report.us_per_row, report.rows_per_second) {
            let unit = if report.kind == "parser" {
                "record"
            } else {
                "row"
            };
            println!("time per {unit}: {us:.2} µs ({rps:.0} {unit}s/s)");
        }
        let fails = report
            .checks
            .iter()
            .filter(|c| c.outcome == conformance::Outcome::Fail)
            .count();
        let warns = report
            .checks
            .iter()
            .filter(|c| c.outcome == conformance::Outcome::Warn)
            .count();
        println!(
            "{}: {} checks, {fails} failed, {warns} warnings",
            if report.passed { "passed" } else { "FAILED" },
            report.checks.len()
        );
    }
    Ok(if report.passed { EXIT_OK } else { EXIT_FAILED })
}
