//! A directory of legacy files read as a source of the one pipeline: one
//! table (the content table) whose reader runs the parser workers and yields
//! batches of whole files in path order.
//!
//! - A file is all or nothing: its records, or one reject with its reason
//!   and position (malformed, over the size limit, binary, a parser trap).
//! - Batches hold whole files, in path order, so a checkpoint names the last
//!   path whose records are committed and a resume continues after it.
//! - Every batch carries the files' state rows (`_ferry_file_items`), which
//!   the engine writes once the batch has committed; an incremental run
//!   compares files with them, skips the unchanged ones and replaces a
//!   changed file's records in the batch's own transaction.
//! - The target is verified by what this run parsed (every parsed file's
//!   records in the table exactly once, by `source_path`), not by parsing
//!   the directory again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::parse::{FileOutcome, FileReport, FileStatus, Known, Work};
use super::records::{Cell, Mapper, build_batch};
use super::{FILE_ITEMS_TABLE, FilesSettings, OverLimit, file_items_def, walk};
use crate::endpoint::{
    Capabilities, EndpointError, EndpointUrl, FILES_CAPABILITIES, PATH_MARK, QuarantineCount,
    ReadBatch, Replace, Scan, Source, StateRows, StateTable, TableProfile,
};
use crate::model::{Batch, Reject, Stage, TableDef};
use crate::plugin::{Plugin, Registry};

/// The built-in parsers every files run loads.
const BUILTIN_PARSERS: [&str; 4] = ["json", "markdown", "csv", "text"];

/// What a directory needs besides its path: the `[files]` settings, the
/// plugins, and (incremental runs) the target it is compared with.
#[derive(Clone)]
pub struct FilesContext {
    pub settings: FilesSettings,
    pub registry: Registry,
    /// `--incremental`: the target whose recorded file states are compared;
    /// unchanged files are skipped, a changed file's records replaced.
    pub incremental_into: Option<EndpointUrl>,
    /// Nothing will be written (a dry run, `validate`).
    pub dry_run: bool,
    /// The run reading it: its state rows name it.
    pub run_id: String,
    /// Whether the target stores NUL in text and `\u0000` in JSON
    /// ([`crate::endpoint::Capabilities::stores_nul`]); where it does not, a
    /// file holding one is quarantined whole, with the reason.
    pub target_stores_nul: bool,
}

/// Per-file results of a run (the `files` part of the report).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub files: Vec<FileReport>,
    /// Files recorded by an earlier run that are gone from the directory;
    /// their records are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// What the end-of-run check compared, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

impl FilesSummary {
    pub fn count(&self, s: FileStatus) -> u64 {
        self.files.iter().filter(|f| f.status == s).count() as u64
    }
}

/// What the read found, kept for the summary and the verification.
#[derive(Default)]
struct Outcome {
    files: Vec<FileReport>,
    removed: Vec<String>,
    verified: Option<String>,
}

/// A directory of legacy files, walked and with its parsers loaded.
pub struct FilesSource {
    dir: PathBuf,
    name: String,
    ctx: FilesContext,
    entries: Arc<Vec<super::Entry>>,
    plugins: HashMap<String, Plugin>,
    /// When this run started: every record's `migrated_at`.
    migrated_at: i64,
    outcome: Arc<Mutex<Outcome>>,
}

impl FilesSource {
    /// Walks `dir` and loads the parsers its settings name. With
    /// `over_limit = "refuse"` a file over the size limit refuses the run
    /// here, before anything is written.
    pub async fn open(dir: &Path, ctx: FilesContext) -> Result<FilesSource, EndpointError> {
        let name = format!("files:{}", dir.display());
        let s = &ctx.settings;
        let (d, hidden, exclude) = (dir.to_path_buf(), s.hidden, s.exclude.clone());
        let entries = tokio::task::spawn_blocking(move || walk(&d, hidden, &exclude))
            .await
            .map_err(|e| crate::endpoint::join_error(&name, &e))?
            .map_err(|e| EndpointError::Connect {
                endpoint: name.clone(),
                reason: e.to_string(),
            })?;
        if s.over_limit == OverLimit::Refuse {
            let over: Vec<String> = entries
                .iter()
                .filter(|e| e.skip.is_none() && e.size > s.max_file_bytes)
                .map(|e| format!("{} ({} bytes)", e.rel, e.size))
                .collect();
            if !over.is_empty() {
                return Err(EndpointError::Unsupported(format!(
                    "{} files are over the {}-byte limit and files.over_limit = \"refuse\"; nothing was written: {}",
                    over.len(),
                    s.max_file_bytes,
                    over.join(", ")
                )));
            }
        }
        let plugins = load_parsers(&name, &ctx.registry, s).await?;
        Ok(FilesSource {
            dir: dir.to_path_buf(),
            name,
            entries: Arc::new(entries),
            plugins,
            migrated_at: crate::model::temporal::micros_since_epoch(std::time::SystemTime::now()),
            ctx,
            outcome: Arc::default(),
        })
    }

    /// The parsers in use (each build once), for the report.
    pub fn parsers(&self) -> Vec<&Plugin> {
        let mut refs: Vec<&Plugin> = self.plugins.values().collect();
        refs.sort_by(|a, b| a.name().cmp(b.name()));
        refs.dedup_by(|a, b| a.manifest().sha256 == b.manifest().sha256);
        refs
    }

    /// What this run made of every file (after a read).
    pub fn files_summary(&self) -> FilesSummary {
        let o = self
            .outcome
            .lock()
            .map(|o| (o.files.clone(), o.removed.clone(), o.verified.clone()));
        let (mut files, removed, verified) = o.unwrap_or_default();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut counts = BTreeMap::new();
        for f in &files {
            *counts.entry(f.status.name().to_string()).or_insert(0u64) += 1;
        }
        FilesSummary {
            dir: self.dir.display().to_string(),
            table: self.ctx.settings.table.clone(),
            dry_run: self.ctx.dry_run,
            incremental: self.ctx.incremental_into.is_some(),
            workers: self.ctx.settings.workers,
            counts,
            records: files
                .iter()
                .filter(|f| f.status == FileStatus::Parsed)
                .map(|f| f.records)
                .sum(),
            files,
            removed,
            verified,
        }
    }
}

/// Loads the built-in parsers and every parser a `[[files.parser]]` rule names.
async fn load_parsers(
    name: &str,
    registry: &Registry,
    s: &FilesSettings,
) -> Result<HashMap<String, Plugin>, EndpointError> {
    let mut out = HashMap::new();
    let names = BUILTIN_PARSERS
        .iter()
        .map(|n| n.to_string())
        .chain(s.parsers.iter().map(|r| r.parser.clone()));
    for parser in names {
        if out.contains_key(&parser) {
            continue;
        }
        let plugin = registry
            .resolve(&parser)
            .await
            .map_err(|e| EndpointError::Query {
                endpoint: name.to_string(),
                table: Some(s.table.clone()),
                reason: format!("parser `{parser}`: {e}"),
            })?;
        if plugin.manifest().kind != crate::plugin::PluginKind::Parser {
            return Err(EndpointError::Unsupported(format!(
                "[[files.parser]] names `{parser}`, which is a {}, not a parser",
                plugin.manifest().kind
            )));
        }
        out.insert(parser, plugin);
    }
    Ok(out)
}

/// What the target's `_ferry_file_items` says about `table`'s files.
async fn read_known(
    to: &EndpointUrl,
    table: &str,
) -> Result<HashMap<String, Known>, EndpointError> {
    let mut out = HashMap::new();
    if crate::endpoint::would_create(to) {
        return Ok(out);
    }
    // Sources list user tables only: ask the target side whether it is there.
    let there = crate::endpoint::open_sink(to)
        .await?
        .existing_tables(&[FILE_ITEMS_TABLE.to_string()])
        .await?;
    if there.is_empty() {
        return Ok(out);
    }
    let source = crate::endpoint::open_source(to).await?;
    // Read as this ferry creates it (sources list only user tables).
    let def = file_items_def();
    let schema = def.schema();
    let col = |n: &str| {
        schema.index_of(n).ok_or_else(|| {
            EndpointError::Unsupported(format!(
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
    let reader = source.read(def, 5_000, Scan::All, tx);
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
        .map_err(|e| crate::endpoint::join_error(&to.to_string(), &e))??;
    Ok(out)
}

/// The rejects-table row for a file that could not be migrated.
/// The first column of `schema` in which a record holds a NUL character
/// (text) or a `\u0000` escape (JSON).
fn nul_column(schema: &crate::model::Schema, rows: &[Vec<Cell>]) -> Option<String> {
    rows.iter().find_map(|r| {
        r.iter().enumerate().find_map(|(i, c)| {
            let nul = match c {
                Cell::Text(t) => t.contains('\0'),
                Cell::Json(j) => crate::model::json_holds_nul(j) || j.contains('\0'),
                _ => false,
            };
            nul.then(|| {
                schema
                    .columns
                    .get(i)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| format!("column {}", i + 1))
            })
        })
    })
}

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

/// Whether a file's state is recorded: every file looked at except
/// unchanged ones (their item stands) and those holding no data (empty,
/// hidden, symlinks, not files).
fn recorded(f: &FileReport) -> bool {
    f.status != FileStatus::Unchanged
        && !matches!(
            f.code.as_deref(),
            Some("empty" | "hidden" | "symlink" | "not-a-file")
        )
}

/// The state rows (`_ferry_file_items`) of the files of one batch.
fn state_rows(table: &str, run_id: &str, files: &[FileReport]) -> Option<StateRows> {
    let files: Vec<&FileReport> = files.iter().filter(|f| recorded(f)).collect();
    if files.is_empty() {
        return None;
    }
    let now = crate::model::temporal::micros_since_epoch(std::time::SystemTime::now());
    let opt = |v: &Option<String>| v.clone().map(Cell::Text).unwrap_or(Cell::Null);
    let rows: Vec<Vec<Cell>> = files
        .iter()
        .map(|f| {
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
    Some(StateRows {
        batch: build_batch(&file_items_def().schema(), &rows),
        keys: files.iter().map(|f| f.path.clone()).collect(),
    })
}

/// Reads the directory into `tx` in batches of whole files.
async fn read_files(
    src: Arc<FilesSource>,
    table: TableDef,
    batch_size: usize,
    scan: Scan,
    tx: mpsc::Sender<ReadBatch>,
) -> Result<(), EndpointError> {
    let settings = &src.ctx.settings;
    let known = match &src.ctx.incremental_into {
        Some(to) => Some(read_known(to, &settings.table).await?),
        None => None,
    };
    // Files an earlier run recorded that are gone from the directory.
    if let Some(k) = &known {
        let present: std::collections::HashSet<&str> =
            src.entries.iter().map(|e| e.rel.as_str()).collect();
        let mut removed: Vec<String> = k
            .keys()
            .filter(|p| !present.contains(p.as_str()))
            .cloned()
            .collect();
        removed.sort();
        if let Ok(mut o) = src.outcome.lock() {
            o.removed = removed;
        }
    }
    // Resuming after a path: the files after it.
    let start = match &scan {
        Scan::Cursor {
            column,
            after: Some((serde_json::Value::String(path), _)),
            ..
        } if column == PATH_MARK => src
            .entries
            .partition_point(|e| e.rel.as_str() <= path.as_str()),
        Scan::All | Scan::Unordered => 0,
        _ => {
            return Err(EndpointError::Query {
                endpoint: src.name.clone(),
                table: Some(table.name.clone()),
                reason: "a directory is read in path order, from the start or after a path".into(),
            });
        }
    };
    let schema = table.schema();
    let work = Arc::new(Work {
        entries: src.entries.as_ref().clone(),
        settings: settings.clone(),
        plugins: src.plugins.clone(),
        mapper: Mapper::new(settings.columns.clone(), settings.namespace, schema.clone()),
        known,
        migrated_at: src.migrated_at,
    });
    let mut rx = super::parse::spawn(work, start);
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut rejects: Vec<Reject> = Vec::new();
    let mut replace: Vec<String> = Vec::new();
    let mut files: Vec<FileReport> = Vec::new();
    let mut index = start;
    let mut last_path: Option<String> = None;
    let flush = |rows: &mut Vec<Vec<Cell>>,
                 rejects: &mut Vec<Reject>,
                 replace: &mut Vec<String>,
                 files: &mut Vec<FileReport>,
                 index: usize,
                 last: &Option<String>| {
        let batch = build_batch(&schema, rows);
        let rejects = std::mem::take(rejects);
        rows.clear();
        let reports = std::mem::take(files);
        let state = state_rows(&settings.table, &src.ctx.run_id, &reports);
        if let Ok(mut o) = src.outcome.lock() {
            o.files.extend(reports);
        }
        let mut rb = ReadBatch::rows(batch, rejects);
        rb.position = i64::try_from(index).ok();
        rb.cursor = last.clone().map(serde_json::Value::String);
        let values = std::mem::take(replace);
        if !values.is_empty() {
            rb.replace = Some(Replace {
                column: "source_path".into(),
                values,
                scope: None,
            });
        }
        rb.state = state;
        rb
    };
    while let Some(out) = rx.recv().await {
        let FileOutcome {
            report: f,
            rows: file_rows,
            replace: rep,
        } = out;
        index += 1;
        last_path = Some(f.path.clone());
        let mut f = f;
        let mut file_rows = file_rows;
        if !src.ctx.target_stores_nul
            && f.status == FileStatus::Parsed
            && let Some(column) = nul_column(&schema, &file_rows)
        {
            f.status = FileStatus::Failed;
            f.code = Some("unstorable".into());
            f.reason = Some(format!(
                "a record holds a NUL character (\\u0000) in `{column}`, which the target cannot store (PostgreSQL text and jsonb cannot); the file is quarantined whole, its other records with it"
            ));
            f.quarantined = true;
            file_rows.clear();
        }
        if f.quarantined {
            rejects.push(file_reject(&table.name, &f));
        }
        if f.status == FileStatus::Parsed {
            if rep {
                replace.push(f.path.clone());
            }
            rows.extend(file_rows);
        }
        files.push(f);
        if rows.len() >= batch_size || rejects.len() >= batch_size {
            let rb = flush(
                &mut rows,
                &mut rejects,
                &mut replace,
                &mut files,
                index,
                &last_path,
            );
            if tx.send(rb).await.is_err() {
                return Ok(());
            }
        }
    }
    if !files.is_empty() {
        let rb = flush(
            &mut rows,
            &mut rejects,
            &mut replace,
            &mut files,
            index,
            &last_path,
        );
        let _ = tx.send(rb).await;
    }
    Ok(())
}

#[async_trait]
impl Source for FilesSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn capabilities(&self) -> &'static Capabilities {
        &FILES_CAPABILITIES
    }

    async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        Ok(vec![self.ctx.settings.table_def()])
    }

    /// The files to read: records are only known once parsed.
    async fn count(&self, _table: &str) -> Result<u64, EndpointError> {
        Ok(self.entries.iter().filter(|e| e.skip.is_none()).count() as u64)
    }

    async fn profile(
        &self,
        _table: &TableDef,
        _sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        let files: Vec<&super::Entry> = self.entries.iter().filter(|e| e.skip.is_none()).collect();
        let bytes: u64 = files.iter().map(|e| e.size).sum();
        Ok(TableProfile {
            sampled: 0,
            avg_row_bytes: bytes / (files.len() as u64).max(1),
            mismatches: Vec::new(),
            orphans: Vec::new(),
        })
    }

    async fn quarantined(&self) -> Result<Vec<QuarantineCount>, EndpointError> {
        Ok(Vec::new())
    }

    async fn resumable(&self, _table: &TableDef) -> Result<bool, EndpointError> {
        Ok(true)
    }

    fn read(
        self: Arc<Self>,
        table: TableDef,
        batch_size: usize,
        scan: Scan,
        tx: mpsc::Sender<ReadBatch>,
    ) -> JoinHandle<Result<(), EndpointError>> {
        tokio::spawn(read_files(self, table, batch_size.max(1), scan, tx))
    }

    fn state_table(&self) -> Option<StateTable> {
        Some(StateTable {
            def: file_items_def(),
            scope_column: "table_name".into(),
            key_column: "path".into(),
        })
    }

    fn plugins(&self) -> Vec<Plugin> {
        self.parsers().into_iter().cloned().collect()
    }

    fn summary(&self) -> Option<(String, serde_json::Value)> {
        serde_json::to_value(self.files_summary())
            .ok()
            .map(|v| ("files".to_string(), v))
    }

    /// Every file parsed in this run has exactly its records in the target
    /// (counted by `source_path`); records may only be missing where rows
    /// were quarantined on the way (by a plugin, or refused by the target).
    async fn verify_target(
        &self,
        target: Arc<dyn Source>,
        _table: &str,
        target_table: &str,
        rejected: u64,
    ) -> Result<Result<String, Vec<String>>, EndpointError> {
        let Some(def) = target
            .tables()
            .await?
            .into_iter()
            .find(|t| t.name == target_table)
        else {
            return Ok(Err(vec![format!(
                "table `{target_table}` is not in the target"
            )]));
        };
        let Some(pi) = def.columns.iter().position(|c| c.name == "source_path") else {
            return Ok(Err(vec![format!(
                "table `{target_table}` has no source_path column (a transformer dropped it?): its records cannot be counted per file"
            )]));
        };
        let mut narrow = def.clone();
        narrow.columns = vec![def.columns[pi].clone()];
        let (tx, mut rx) = mpsc::channel::<ReadBatch>(2);
        // 50,000 paths per batch: one narrow column, a few MB at most.
        let reader = target.read(narrow, 50_000, Scan::All, tx);
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
            .map_err(|e| crate::endpoint::join_error(&self.name, &e))??;
        let summary = self.files_summary();
        // Rows quarantined one by one: every reject but the files'.
        let refused_by_target = rejected.saturating_sub(quarantined_files(&summary));
        let files = summary.files;
        let mut failures = Vec::new();
        let mut checked = 0u64;
        let mut missing_total = 0u64;
        for f in files.iter().filter(|f| f.status == FileStatus::Parsed) {
            checked += 1;
            let have = per_path.get(&f.path).copied().unwrap_or(0);
            if have > f.records {
                failures.push(format!(
                    "{}: {} records parsed, {have} rows in `{target_table}` (duplicates)",
                    f.path, f.records
                ));
            } else if have < f.records {
                missing_total += f.records - have;
            }
        }
        if missing_total > refused_by_target {
            failures.push(format!(
                "{missing_total} parsed records are not in `{target_table}` but only {refused_by_target} were quarantined on the way"
            ));
        }
        if !failures.is_empty() {
            return Ok(Err(failures));
        }
        let text = format!(
            "{checked} parsed files: every record in `{target_table}` exactly once (by source_path); {} rows in the table",
            per_path.values().sum::<u64>()
        );
        if let Ok(mut o) = self.outcome.lock() {
            o.verified = Some(text.clone());
        }
        Ok(Ok(text))
    }
}

/// The files of a run that could not be migrated, for the accounting: each
/// is one reject of the content table.
pub fn quarantined_files(summary: &FilesSummary) -> u64 {
    summary.files.iter().filter(|f| f.quarantined).count() as u64
}
