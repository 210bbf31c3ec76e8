//! A files run: `migrate --from files:DIR` (also `--incremental`,
//! `--dry-run`) and `validate` (parse everything, write nothing).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::mpsc;

use super::parse::{FileOutcome, FileReport, FileStatus, Known, Work};
use super::records::{Cell, Mapper, build_batch};
use super::{FILE_ITEMS_TABLE, FilesSettings, OverLimit, file_items_def, walk};
use crate::config::OnReject;
use crate::endpoint::{EndpointUrl, IfExists, REJECTS_TABLE, ReadBatch, Sink, Source, TargetTable};
use crate::migrate::{MigrateError, Phases, Progress, Report, RunStatus, TableReport};
use crate::model::{Batch, Reject, Stage};
use crate::plugin::{Plugin, Registry};

/// The built-in parsers every files run loads.
const BUILTIN_PARSERS: [&str; 4] = ["json", "markdown", "csv", "text"];

/// What a files run does.
pub struct FilesRunOptions {
    pub dir: PathBuf,
    /// Where records go; `None` for `validate` (nothing is written).
    pub to: Option<EndpointUrl>,
    pub settings: FilesSettings,
    /// Skip files whose content hash (and parser) is unchanged since the
    /// last run into this target; replace the records of changed ones.
    pub incremental: bool,
    /// Parse and compare, write nothing.
    pub dry_run: bool,
    pub if_exists: IfExists,
    pub batch_size: usize,
    /// `abort`: stop at the first file that cannot be migrated.
    pub on_reject: OnReject,
    /// Check afterwards that the target holds exactly each file's records.
    pub verify: bool,
}

/// Per-file results of a run (the `files` part of the report).
#[derive(Debug, Clone, Serialize)]
pub struct FilesSummary {
    pub dir: String,
    pub table: String,
    pub dry_run: bool,
    pub incremental: bool,
    pub workers: usize,
    /// Files per status.
    pub counts: BTreeMap<String, u64>,
    /// Records parsed from the files parsed in this run.
    pub records: u64,
    /// Rows of unchanged files' records already in the target are not counted.
    pub files: Vec<FileReport>,
    /// Files recorded by an earlier run that are gone from the directory;
    /// their records are kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// What the end-of-run check compared, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

impl FilesSummary {
    pub fn count(&self, s: FileStatus) -> u64 {
        self.files.iter().filter(|f| f.status == s).count() as u64
    }
}

/// Runs a files migration, dry run or validation. Always returns a report.
pub async fn run(
    opts: FilesRunOptions,
    registry: &Registry,
    progress: Arc<dyn Progress>,
) -> Report {
    let started = Instant::now();
    let mut report = Report {
        run_id: uuid::Uuid::new_v4().to_string(),
        status: RunStatus::Failed,
        source: format!("files:{}", opts.dir.display()),
        target: opts
            .to
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "(none: validate)".into()),
        tables: Vec::new(),
        duration_ms: 0,
        phases: Phases::default(),
        rejects_table: None,
        constraints: Vec::new(),
        warnings: Vec::new(),
        plugins: Vec::new(),
        error: None,
        error_code: None,
        verify: None,
        files: None,
    };
    let result = execute(&opts, registry, &mut report, progress).await;
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let quarantined: u64 = report.tables.iter().map(|t| t.rows_rejected).sum();
    if quarantined > 0 && opts.to.is_some() && !opts.dry_run {
        report.rejects_table = Some(format!("{} in {}", REJECTS_TABLE, report.target));
    }
    match result {
        Ok(()) => {
            report.status = if quarantined > 0 {
                RunStatus::SucceededWithRejects
            } else {
                RunStatus::Succeeded
            }
        }
        Err(e) => {
            report.status = RunStatus::Failed;
            report.error_code = Some(e.code());
            report.error = Some(e.to_string());
        }
    }
    report
}

/// What the run writes into: the sink and which of its tables it created.
struct Target {
    sink: Sink,
    content: TargetTable,
    items: TargetTable,
    /// The content table existed before this run (incremental append).
    appending: bool,
    /// The items table existed before this run.
    items_existed: bool,
}

async fn execute(
    opts: &FilesRunOptions,
    registry: &Registry,
    report: &mut Report,
    progress: Arc<dyn Progress>,
) -> Result<(), MigrateError> {
    let plan_started = Instant::now();
    let s = &opts.settings;
    let (dir, hidden, exclude) = (opts.dir.clone(), s.hidden, s.exclude.clone());
    let entries = tokio::task::spawn_blocking(move || walk(&dir, hidden, &exclude))
        .await
        .map_err(|e| MigrateError::Internal(format!("walking the directory: {e}")))?
        .map_err(|e| MigrateError::Unsupported(e.to_string()))?;
    if s.over_limit == OverLimit::Refuse {
        let over: Vec<String> = entries
            .iter()
            .filter(|e| e.skip.is_none() && e.size > s.max_file_bytes)
            .map(|e| format!("{} ({} bytes)", e.rel, e.size))
            .collect();
        if !over.is_empty() {
            return Err(MigrateError::Unsupported(format!(
                "{} files are over the {}-byte limit and files.over_limit = \"refuse\"; nothing was written: {}",
                over.len(),
                s.max_file_bytes,
                over.join(", ")
            )));
        }
    }
    let plugins = load_parsers(registry, s).await?;
    let mut refs: Vec<&Plugin> = plugins.values().collect();
    refs.sort_by(|a, b| a.name().cmp(b.name()));
    refs.dedup_by(|a, b| a.manifest().sha256 == b.manifest().sha256);
    report.plugins = refs
        .iter()
        .map(|p| {
            let m = p.manifest();
            crate::migrate::PluginRef {
                name: m.name.clone(),
                kind: m.kind.to_string(),
                version: m.version.clone(),
                sha256: m.sha256.clone(),
            }
        })
        .collect();

    let content_def = s.table_def();
    let content = TargetTable {
        source: content_def.clone(),
        def: content_def.clone(),
    };
    let items = TargetTable {
        source: file_items_def(),
        def: file_items_def(),
    };
    let mut known: Option<HashMap<String, Known>> = None;
    let mut target = None;
    if let Some(to) = &opts.to {
        if opts.incremental && matches!(to, EndpointUrl::Json(_)) {
            return Err(MigrateError::Unsupported(
                "--incremental needs a database target (sqlite:, postgres://, mysql://): a json target cannot replace a changed file's records".into(),
            ));
        }
        let target_exists = match to {
            EndpointUrl::Sqlite(p) | EndpointUrl::Json(p) => p.exists(),
            _ => true,
        };
        if opts.dry_run && !target_exists {
            // A dry run creates nothing, not even an empty SQLite file.
        } else {
            let mut sink = Sink::connect(to).await?;
            let names = [content_def.name.clone(), FILE_ITEMS_TABLE.to_string()];
            let existing = sink.existing_tables(&names).await?;
            let appending = opts.incremental && existing.contains(&content_def.name);
            let items_existed = existing.iter().any(|n| n == FILE_ITEMS_TABLE);
            if opts.incremental && items_existed && appending {
                known = Some(read_known(to, &content_def.name).await?);
            } else if opts.incremental {
                known = Some(HashMap::new());
            }
            if opts.dry_run {
                if opts.incremental && known.is_none() {
                    known = Some(HashMap::new());
                }
            } else {
                let mut create = Vec::new();
                if !appending {
                    create.push(content.clone());
                }
                // The items table is kept across runs (it is the incremental
                // state), unless the content table is being replaced.
                if !items_existed {
                    create.push(items.clone());
                }
                let policy = if appending {
                    IfExists::Fail
                } else {
                    opts.if_exists
                };
                sink.prepare(&create, policy).await?;
                if !appending && items_existed {
                    // The content table was (re)created: the recorded state
                    // of this table's files no longer describes it.
                    let paths = read_known(to, &content_def.name)
                        .await?
                        .into_keys()
                        .collect::<Vec<_>>();
                    sink.delete_rows(
                        FILE_ITEMS_TABLE,
                        Some(("table_name", &content_def.name)),
                        "path",
                        &paths,
                    )
                    .await?;
                }
                target = Some(Target {
                    sink,
                    content: content.clone(),
                    items: items.clone(),
                    appending,
                    items_existed,
                });
            }
        }
    }
    report.phases.plan_ms = ms(plan_started);

    let load_started = Instant::now();
    let present: std::collections::HashSet<String> =
        entries.iter().map(|e| e.rel.clone()).collect();
    let removed: Vec<String> = known
        .as_ref()
        .map(|k| {
            let mut r: Vec<String> = k
                .keys()
                .filter(|p| !present.contains(*p))
                .cloned()
                .collect();
            r.sort();
            r
        })
        .unwrap_or_default();
    progress.table_started(&content_def.name, entries.len() as u64);
    let work = Arc::new(Work {
        entries,
        settings: s.clone(),
        plugins,
        mapper: Mapper::new(s.columns.clone(), s.namespace, content_def.schema()),
        known,
        migrated_at: crate::files::micros_since_epoch(std::time::SystemTime::now()),
    });
    let rx = super::parse::spawn(work.clone());
    let mut table = TableReport {
        name: content_def.name.clone(),
        rows_read: 0,
        rows_written: 0,
        rows_rejected: 0,
    };
    let mut files = Vec::with_capacity(work.entries.len());
    let loaded = load(
        rx,
        opts,
        &report.run_id,
        target.as_mut(),
        &content_def.schema(),
        &mut table,
        &mut files,
        progress.as_ref(),
    )
    .await;
    progress.table_finished(&content_def.name);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut counts = BTreeMap::new();
    for f in &files {
        *counts.entry(f.status.name().to_string()).or_insert(0u64) += 1;
    }
    let summary = FilesSummary {
        dir: opts.dir.display().to_string(),
        table: content_def.name.clone(),
        dry_run: opts.dry_run,
        incremental: opts.incremental,
        workers: s.workers,
        counts,
        records: files
            .iter()
            .filter(|f| f.status == FileStatus::Parsed)
            .map(|f| f.records)
            .sum(),
        files,
        removed,
        verified: None,
    };
    report.tables.push(table);
    report.phases.load_ms = ms(load_started);
    report.files = Some(summary);
    loaded?;

    if let Some(mut t) = target {
        // Every file looked at, except unchanged ones (their item stands)
        // and those holding no data: empty, hidden, symlinks, not files.
        let summary = report.files.as_ref().expect("set above");
        let touched: Vec<&FileReport> = summary
            .files
            .iter()
            .filter(|f| f.status != FileStatus::Unchanged)
            .filter(|f| {
                !matches!(
                    f.code.as_deref(),
                    Some("empty" | "hidden" | "symlink" | "not-a-file")
                )
            })
            .collect();
        write_items(&mut t, &report.run_id, &content_def.name, &touched).await?;
        let constraints_started = Instant::now();
        let created: Vec<TargetTable> = [
            (!t.appending).then(|| t.content.clone()),
            (!t.items_existed).then(|| t.items.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let finished = t.sink.finish(&report.run_id, &created).await?;
        report.phases.constraints_ms = ms(constraints_started);
        report.constraints = finished.created;
        report.warnings.extend(finished.warnings);
        for (_, n) in finished.quarantined {
            if let Some(tr) = report.tables.first_mut() {
                tr.rows_written -= n.min(tr.rows_written);
                tr.rows_rejected += n;
            }
        }
        if opts.verify {
            let verify_started = Instant::now();
            let to = opts.to.as_ref().expect("a target");
            let checked = verify_counts(to, &content_def.name, report).await?;
            report.phases.verify_ms = ms(verify_started);
            if let Some(f) = report.files.as_mut() {
                f.verified = Some(checked);
            }
        }
    }
    Ok(())
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Loads the built-in parsers and every parser a `[[files.parser]]` rule names.
async fn load_parsers(
    registry: &Registry,
    s: &FilesSettings,
) -> Result<HashMap<String, Plugin>, MigrateError> {
    let mut out = HashMap::new();
    let names = BUILTIN_PARSERS
        .iter()
        .map(|n| n.to_string())
        .chain(s.parsers.iter().map(|r| r.parser.clone()));
    for name in names {
        if out.contains_key(&name) {
            continue;
        }
        let plugin = registry
            .resolve(&name)
            .await
            .map_err(|e| MigrateError::Plan {
                table: s.table.clone(),
                source: e,
            })?;
        if plugin.manifest().kind != crate::plugin::PluginKind::Parser {
            return Err(MigrateError::Unsupported(format!(
                "[[files.parser]] names `{name}`, which is a {}, not a parser",
                plugin.manifest().kind
            )));
        }
        out.insert(name, plugin);
    }
    Ok(out)
}

/// What the target's `_ferry_file_items` says about `table`'s files.
async fn read_known(to: &EndpointUrl, table: &str) -> Result<HashMap<String, Known>, MigrateError> {
    let source = Source::open(to).await?;
    // Read as this ferry creates it (sources list only user tables).
    let def = file_items_def();
    let schema = def.schema();
    let col = |n: &str| {
        schema.index_of(n).ok_or_else(|| {
            MigrateError::Unsupported(format!(
                "{FILE_ITEMS_TABLE} in the target has no column `{n}`: it was not made by this ferry; drop it to start over"
            ))
        })
    };
    let (ip, it, ic, ipa, ish) = (
        col("path")?,
        col("table_name")?,
        col("checksum")?,
        col("parser")?,
        col("parser_sha256")?,
    );
    let (isz, imt, ist, ico, irs, iru) = (
        col("size")?,
        col("modified_at")?,
        col("status")?,
        col("code")?,
        col("reason")?,
        col("run_id")?,
    );
    let (tx, mut rx) = mpsc::channel::<ReadBatch>(2);
    let reader = source.spawn_reader(def, 5_000, tx);
    let mut out = HashMap::new();
    let text = |b: &Batch, r: usize, c: usize| match b.value(r, c) {
        crate::model::ValueRef::Text(s) => Some(s.to_string()),
        _ => None,
    };
    // Integers and instants; an endpoint that stores instants as text
    // (SQLite) may hand them back as text.
    let int = |b: &Batch, r: usize, c: usize| match b.value(r, c) {
        crate::model::ValueRef::Int(i) => Some(i),
        crate::model::ValueRef::Text(s) => {
            s.parse().ok().or_else(|| super::records::parse_instant(s))
        }
        _ => None,
    };
    while let Some(rb) = rx.recv().await {
        let b = &rb.batch;
        for r in 0..b.num_rows {
            if text(b, r, it).as_deref() != Some(table) {
                continue;
            }
            if let Some(p) = text(b, r, ip) {
                out.insert(
                    p,
                    Known {
                        checksum: text(b, r, ic),
                        parser: text(b, r, ipa),
                        parser_sha256: text(b, r, ish),
                        size: int(b, r, isz)
                            .and_then(|i| u64::try_from(i).ok())
                            .unwrap_or(0),
                        modified_at: int(b, r, imt),
                        status: text(b, r, ist).unwrap_or_default(),
                        code: text(b, r, ico),
                        reason: text(b, r, irs),
                        run_id: text(b, r, iru).unwrap_or_default(),
                    },
                );
            }
        }
    }
    reader
        .await
        .map_err(|e| MigrateError::Internal(format!("reading {FILE_ITEMS_TABLE}: {e}")))??;
    Ok(out)
}

/// Consumes the workers' outcomes: rows into batches, files that cannot be
/// migrated into quarantine, each file's report line kept.
#[allow(clippy::too_many_arguments)]
async fn load(
    mut rx: mpsc::Receiver<FileOutcome>,
    opts: &FilesRunOptions,
    run_id: &str,
    mut target: Option<&mut Target>,
    schema: &crate::model::Schema,
    table: &mut TableReport,
    files: &mut Vec<FileReport>,
    progress: &dyn Progress,
) -> Result<(), MigrateError> {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut rejects: Vec<Reject> = Vec::new();
    let mut replace: Vec<String> = Vec::new();
    let name = opts.settings.table.clone();
    while let Some(out) = rx.recv().await {
        progress.rows_written(&name, 1);
        let FileOutcome {
            report: f,
            rows: file_rows,
            replace: rep,
        } = out;
        if f.quarantined {
            if opts.on_reject == OnReject::Abort && !opts.dry_run && opts.to.is_some() {
                let reason = format!("{}: {}", f.path, f.reason.as_deref().unwrap_or(""));
                files.push(f);
                return Err(MigrateError::Aborted {
                    table: name,
                    batch: 0,
                    rows: 1,
                    reason,
                });
            }
            table.rows_rejected += 1;
            rejects.push(file_reject(&name, &f));
        }
        if f.status == FileStatus::Parsed {
            table.rows_read += file_rows.len() as u64;
            if rep {
                replace.push(f.path.clone());
            }
            rows.extend(file_rows);
        }
        files.push(f);
        if rows.len() >= opts.batch_size || rejects.len() >= opts.batch_size {
            flush(
                &mut target,
                run_id,
                schema,
                &mut rows,
                &mut rejects,
                &mut replace,
                table,
            )
            .await?;
        }
    }
    flush(
        &mut target,
        run_id,
        schema,
        &mut rows,
        &mut rejects,
        &mut replace,
        table,
    )
    .await
}

/// Writes the rows and rejects gathered so far (after deleting the earlier
/// records of the files they replace).
#[allow(clippy::too_many_arguments)]
async fn flush(
    target: &mut Option<&mut Target>,
    run_id: &str,
    schema: &crate::model::Schema,
    rows: &mut Vec<Vec<Cell>>,
    rejects: &mut Vec<Reject>,
    replace: &mut Vec<String>,
    table: &mut TableReport,
) -> Result<(), MigrateError> {
    if rows.is_empty() && rejects.is_empty() {
        return Ok(());
    }
    let batch = build_batch(schema, rows);
    let n = rows.len() as u64;
    rows.clear();
    let rj = std::mem::take(rejects);
    let rp = std::mem::take(replace);
    let Some(t) = target.as_deref_mut() else {
        // Validate or dry run: counted as written-if-it-ran.
        table.rows_written += n;
        return Ok(());
    };
    if t.appending && !rp.is_empty() {
        t.sink
            .delete_rows(&t.content.def.name, None, "source_path", &rp)
            .await?;
    }
    let outcome = t.sink.write(run_id, &t.content, &batch, &rj).await?;
    table.rows_written += outcome.written;
    table.rows_rejected += outcome.rejected.len() as u64;
    Ok(())
}

/// The rejects-table row for a file that could not be migrated.
fn file_reject(table: &str, f: &FileReport) -> Reject {
    Reject {
        table: table.to_string(),
        source_key: Some(f.path.clone()),
        stage: Stage::Read,
        plugin: f
            .parser
            .clone()
            .filter(|_| f.code.as_deref() != Some("file-too-large")),
        column: None,
        code: f.code.clone().unwrap_or_else(|| "file-failed".into()),
        reason: format!("{}: {}", f.path, f.reason.as_deref().unwrap_or("")),
        row: serde_json::json!({
            "path": f.path,
            "size": f.size,
            "checksum": f.checksum,
            "parser": f.parser,
            "location": f.location,
        }),
    }
}

/// Records every file this run looked at in `_ferry_file_items`.
async fn write_items(
    t: &mut Target,
    run_id: &str,
    table: &str,
    files: &[&FileReport],
) -> Result<(), MigrateError> {
    if files.is_empty() {
        return Ok(());
    }
    let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    if t.items_existed {
        t.sink
            .delete_rows(
                FILE_ITEMS_TABLE,
                Some(("table_name", table)),
                "path",
                &paths,
            )
            .await?;
    }
    let now = crate::files::micros_since_epoch(std::time::SystemTime::now());
    let schema = t.items.def.schema();
    for chunk in files.chunks(5_000) {
        let rows: Vec<Vec<Cell>> = chunk
            .iter()
            .map(|f| {
                let opt = |v: &Option<String>| v.clone().map(Cell::Text).unwrap_or(Cell::Null);
                vec![
                    Cell::Text(f.path.clone()),
                    Cell::Text(table.to_string()),
                    opt(&f.checksum),
                    Cell::Int(i64::try_from(f.size).unwrap_or(i64::MAX)),
                    f.mtime.map(Cell::Ts).unwrap_or(Cell::Null),
                    opt(&f.parser),
                    opt(&f.parser_sha256),
                    Cell::Text(f.status.name().to_string()),
                    Cell::Int(i64::try_from(f.records).unwrap_or(i64::MAX)),
                    opt(&f.code),
                    opt(&f.reason),
                    Cell::Text(run_id.to_string()),
                    Cell::Ts(now),
                ]
            })
            .collect();
        let batch = build_batch(&schema, &rows);
        t.sink.write(run_id, &t.items, &batch, &[]).await?;
    }
    Ok(())
}

/// After the load: the target holds exactly each parsed file's records
/// (counted by `source_path`), and no unchanged file lost any.
async fn verify_counts(
    to: &EndpointUrl,
    table: &str,
    report: &Report,
) -> Result<String, MigrateError> {
    let source = Source::open(to).await?;
    let def = source
        .tables()
        .await?
        .into_iter()
        .find(|t| t.name == table)
        .ok_or_else(|| {
            MigrateError::Verify(vec![format!("table `{table}` is not in the target")])
        })?;
    let Some(pi) = def.columns.iter().position(|c| c.name == "source_path") else {
        return Err(MigrateError::Verify(vec![format!(
            "table `{table}` has no source_path column"
        )]));
    };
    let mut narrow = def.clone();
    narrow.columns = vec![def.columns[pi].clone()];
    let (tx, mut rx) = mpsc::channel::<ReadBatch>(2);
    let reader = source.spawn_reader(narrow, 50_000, tx);
    let mut per_path: HashMap<String, u64> = HashMap::new();
    while let Some(rb) = rx.recv().await {
        for r in 0..rb.batch.num_rows {
            if let crate::model::ValueRef::Text(p) = rb.batch.value(r, 0) {
                *per_path.entry(p.to_string()).or_default() += 1;
            }
        }
    }
    reader
        .await
        .map_err(|e| MigrateError::Internal(format!("verify reader: {e}")))??;
    let files = report
        .files
        .as_ref()
        .map(|f| f.files.as_slice())
        .unwrap_or(&[]);
    // Rows the target refused one by one: all rejects but the files'.
    let write_rejected: u64 = report
        .tables
        .iter()
        .map(|t| t.rows_rejected)
        .sum::<u64>()
        .saturating_sub(files.iter().filter(|f| f.quarantined).count() as u64);
    let mut failures = Vec::new();
    let mut checked = 0u64;
    let mut missing_total = 0u64;
    for f in files.iter().filter(|f| f.status == FileStatus::Parsed) {
        checked += 1;
        let have = per_path.get(&f.path).copied().unwrap_or(0);
        if have > f.records {
            failures.push(format!(
                "{}: {} records parsed, {have} rows in `{table}` (duplicates)",
                f.path, f.records
            ));
        } else if have < f.records {
            missing_total += f.records - have;
        }
    }
    // Rows the sink refused (quarantined one by one) are the only ones that may be missing.
    if missing_total > write_rejected {
        failures.push(format!(
            "{missing_total} parsed records are not in `{table}` but only {write_rejected} were quarantined by the target"
        ));
    }
    if !failures.is_empty() {
        return Err(MigrateError::Verify(failures));
    }
    Ok(format!(
        "{checked} parsed files: every record in `{table}` exactly once (by source_path); {} rows in the table",
        per_path.values().sum::<u64>()
    ))
}
