//! Parser workers: each takes the next file, reads and hashes it, picks its
//! parser, streams it in chunks and maps the records to rows.
//!
//! A worker owns one instance of each parser it used (one wasmtime `Store`
//! each), so files parse in parallel with no shared guest state. A parser
//! that traps, runs out of memory or time on one file fails that file only:
//! the runtime discards the instance and the next file gets a fresh one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::records::{Cell, FileCtx, Mapper};
use super::{CHUNK_BYTES, Entry, FilesSettings, Format, SNIFF_BYTES, choose};
use crate::plugin::{GuestError, Location, ParserInstance, Plugin, PluginError};

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Parsed; its records were (or, in a dry run, would be) written.
    Parsed,
    /// Incremental run: same content and parser as recorded; not parsed again.
    Unchanged,
    /// Not parsed: empty, hidden, a symlink, over the size limit, or no parser for it.
    Skipped,
    /// The parser refused it (malformed input, a limit) or it could not be read.
    Failed,
}

/// One file's line in the run report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileReport {
    pub path: String,
    pub size: u64,
    pub status: FileStatus,
    /// Records parsed from it.
    pub records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parser: Option<String>,
    /// How the parser was picked: `config`, `extension` or `sniffed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen_by: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parser_sha256: Option<String>,
    /// SHA-256 of the content, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// Incremental runs: `new` or `changed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Cow<'static, str>>,
    /// Why it was skipped or failed: a stable code …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// … and the explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where in the file the parser found the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Whether the file is recorded in the rejects table.
    pub quarantined: bool,
    /// Values that did not fit their column (kept in metadata), and the like.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Modification time (microseconds since the epoch).
    #[serde(skip)]
    pub mtime: Option<i64>,
}

impl FileStatus {
    /// The name reports and `_ferry_file_items` use.
    pub fn name(self) -> &'static str {
        match self {
            FileStatus::Parsed => "parsed",
            FileStatus::Unchanged => "unchanged",
            FileStatus::Skipped => "skipped",
            FileStatus::Failed => "failed",
        }
    }
}

impl FileReport {
    fn new(e: &Entry) -> FileReport {
        FileReport {
            path: e.rel.clone(),
            size: e.size,
            status: FileStatus::Skipped,
            records: 0,
            format: None,
            parser: None,
            chosen_by: None,
            parser_sha256: None,
            checksum: None,
            change: None,
            code: None,
            reason: None,
            location: None,
            quarantined: false,
            notes: Vec::new(),
            mtime: e.mtime,
        }
    }

    fn set(&mut self, status: FileStatus, code: &str, reason: String, quarantined: bool) {
        self.status = status;
        self.code = Some(code.to_string());
        self.reason = Some(reason);
        self.quarantined = quarantined;
    }
}

/// A file's result: its report line and, when parsed, its rows.
#[derive(Debug)]
pub struct FileOutcome {
    pub report: FileReport,
    pub rows: Vec<Vec<Cell>>,
    /// Rows of this path may already be in the target (incremental): delete them first.
    pub replace: bool,
}

/// What an earlier run recorded about a file.
#[derive(Debug, Clone)]
pub struct Known {
    pub checksum: Option<String>,
    pub parser: Option<String>,
    pub parser_sha256: Option<String>,
    pub size: u64,
    pub modified_at: Option<i64>,
    pub status: String,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub run_id: String,
}

impl Known {
    /// The report line of a file skipped as unchanged, saying what it was.
    fn unchanged(&self, report: &mut FileReport) {
        report.status = FileStatus::Unchanged;
        report.records = 0;
        report.notes.push(match &self.reason {
            Some(r) => format!(
                "unchanged since run {}, which recorded it {}: {r}",
                self.run_id, self.status
            ),
            None => format!("unchanged since run {} ({})", self.run_id, self.status),
        });
    }
}

/// Everything the workers share.
pub struct Work {
    pub entries: Vec<Entry>,
    pub settings: FilesSettings,
    /// Parser plugins by the name the settings use.
    pub plugins: HashMap<String, Plugin>,
    pub mapper: Mapper,
    /// Incremental runs: what the target recorded, by path.
    pub known: Option<HashMap<String, Known>>,
    pub migrated_at: i64,
}

/// Parses `work.entries[start..]` on `settings.workers` workers; outcomes
/// arrive on the returned channel in the entries' (path) order, so a
/// checkpoint can name the last file whose records are committed. Workers
/// run at most [`REORDER_WINDOW`] files ahead of the oldest file not yet
/// handed over, so memory stays at a few files' rows however one slow file
/// holds the line. Dropping the receiver stops the workers after the file
/// in hand.
pub fn spawn(work: Arc<Work>, start: usize) -> mpsc::Receiver<FileOutcome> {
    let workers = work.settings.workers.max(1);
    // Files parsed but not yet handed over, at most: two per worker — enough
    // to keep every worker busy behind one slow file, few enough that memory
    // stays flat (each holds one file's rows).
    let window = REORDER_WINDOW * workers;
    let permits = Arc::new(tokio::sync::Semaphore::new(window));
    let (done_tx, mut done_rx) = mpsc::channel::<(usize, FileOutcome)>(window);
    let (tx, rx) = mpsc::channel(workers);
    let next = Arc::new(AtomicUsize::new(start));
    for _ in 0..workers {
        let (work, done_tx, next, permits) =
            (work.clone(), done_tx.clone(), next.clone(), permits.clone());
        tokio::spawn(async move {
            let mut instances: HashMap<String, ParserInstance> = HashMap::new();
            loop {
                // Released by the reorderer when this file is handed over.
                let Ok(permit) = permits.acquire().await else {
                    break;
                };
                permit.forget();
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(entry) = work.entries.get(i) else {
                    break;
                };
                let outcome = parse_entry(&work, &mut instances, entry).await;
                if done_tx.send((i, outcome)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(done_tx);
    // The reorderer: hands outcomes over in entry order.
    tokio::spawn(async move {
        let mut waiting: std::collections::BTreeMap<usize, FileOutcome> = Default::default();
        let mut expected = start;
        while let Some((i, outcome)) = done_rx.recv().await {
            waiting.insert(i, outcome);
            while let Some(o) = waiting.remove(&expected) {
                if tx.send(o).await.is_err() {
                    permits.close();
                    return;
                }
                expected += 1;
                permits.add_permits(1);
            }
        }
    });
    rx
}

/// Files parsed ahead of the oldest one not yet handed over, per worker
/// (see [`spawn`]).
pub const REORDER_WINDOW: usize = 2;

async fn parse_entry(
    work: &Work,
    instances: &mut HashMap<String, ParserInstance>,
    entry: &Entry,
) -> FileOutcome {
    let mut report = FileReport::new(entry);
    let done = |report| FileOutcome {
        report,
        rows: Vec::new(),
        replace: false,
    };
    if let Some((code, reason)) = &entry.skip {
        report.set(FileStatus::Skipped, code, reason.clone(), false);
        return done(report);
    }
    let limit = work.settings.max_file_bytes;
    let known = work.known.as_ref().and_then(|k| k.get(&entry.rel));
    if entry.size > limit {
        // Too large to read: the same size and mtime as when an earlier run
        // skipped it mean the same file (it was never hashed).
        if let Some(k) = known
            && k.code.as_deref() == Some("file-too-large")
            && k.size == entry.size
            && k.modified_at == entry.mtime
        {
            k.unchanged(&mut report);
            return done(report);
        }
        report.set(
            FileStatus::Skipped,
            "file-too-large",
            format!(
                "{} bytes, over the {limit}-byte limit (files.max_file_size); raise it to migrate this file",
                entry.size
            ),
            true,
        );
        return done(report);
    }
    let path = entry.path.clone();
    let bytes = match tokio::task::spawn_blocking(move || read_bounded(&path, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(ReadFailure::TooLarge(reason))) => {
            report.set(FileStatus::Skipped, "file-too-large", reason, true);
            return done(report);
        }
        Ok(Err(ReadFailure::Io(reason))) => {
            report.set(FileStatus::Failed, "unreadable", reason, true);
            return done(report);
        }
        Err(e) => {
            report.set(
                FileStatus::Failed,
                "unreadable",
                format!("reader task failed: {e}"),
                true,
            );
            return done(report);
        }
    };
    report.size = bytes.len() as u64;
    if bytes.is_empty() {
        report.set(
            FileStatus::Skipped,
            "empty",
            "empty file (0 bytes): nothing to migrate".into(),
            false,
        );
        return done(report);
    }
    let checksum = hex::encode(Sha256::digest(&bytes));
    report.checksum = Some(checksum.clone());
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    let choice = match choose(&work.settings, &entry.rel, head) {
        Ok(c) => c,
        Err((code, reason)) => {
            if let Some(k) = known
                && k.checksum.as_deref() == Some(&checksum)
                && k.code.as_deref() == Some(&code)
            {
                k.unchanged(&mut report);
                return done(report);
            }
            report.format = Some(Format::Binary);
            report.set(FileStatus::Skipped, &code, reason, true);
            return done(report);
        }
    };
    report.format = choice.format;
    report.parser = Some(choice.parser.clone());
    report.chosen_by = Some(Cow::Borrowed(choice.by));
    let Some(plugin) = work.plugins.get(&choice.parser) else {
        report.set(
            FileStatus::Failed,
            "no-parser",
            format!("parser `{}` was not loaded", choice.parser),
            true,
        );
        return done(report);
    };
    let digest = plugin.manifest().sha256.clone();
    report.parser_sha256 = Some(digest.clone());
    let mut replace = false;
    if work.known.is_some() {
        match known {
            Some(k)
                if k.checksum.as_deref() == Some(&checksum)
                    && k.parser.as_deref() == Some(&choice.parser)
                    && k.parser_sha256.as_deref() == Some(&digest) =>
            {
                k.unchanged(&mut report);
                return done(report);
            }
            Some(_) => {
                report.change = Some(Cow::Borrowed("changed"));
                replace = true;
            }
            None => {
                report.change = Some(Cow::Borrowed("new"));
                // A run that crashed after writing rows but before recording
                // the file left rows without an item: replace them too.
                replace = true;
            }
        }
    }
    let inst = match instances.entry(choice.parser.clone()) {
        std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
        std::collections::hash_map::Entry::Vacant(v) => match ParserInstance::new(plugin.clone()) {
            Ok(i) => v.insert(i),
            Err(e) => {
                report.set(FileStatus::Failed, e.code(), e.to_string(), true);
                return done(report);
            }
        },
    };
    let records = match parse_bytes(inst, &entry.rel, &bytes, choice.format, &choice.config).await {
        Ok(r) => r,
        Err(e) => {
            let (code, reason, location) = failure(&e);
            report.location = location;
            report.set(FileStatus::Failed, &code, reason, true);
            return done(report);
        }
    };
    let ctx = FileCtx {
        rel: &entry.rel,
        checksum: &checksum,
        size: bytes.len() as u64,
        mtime: entry.mtime,
        parser: &choice.parser,
        migrated_at: work.migrated_at,
    };
    let encoding = records.first().and_then(|r| {
        r.iter().find_map(|(n, v)| match (n.as_str(), v) {
            ("encoding", crate::plugin::FieldValue::Text(e)) if e != "utf-8" => Some(e.clone()),
            _ => None,
        })
    });
    let mut rows = Vec::with_capacity(records.len());
    // Records are dropped as they become rows, so a file is held once, not twice.
    for (i, rec) in records.into_iter().enumerate() {
        let (row, notes) = work.mapper.row(&ctx, i as u64, &rec);
        // The first few notes per file: enough to see the pattern.
        for n in notes {
            if report.notes.len() < 10 {
                report.notes.push(n);
            }
        }
        rows.push(row);
    }
    if let Some(enc) = encoding {
        report.notes.push(format!("decoded as {enc}"));
    }
    report.status = FileStatus::Parsed;
    report.records = rows.len() as u64;
    FileOutcome {
        report,
        rows,
        replace,
    }
}

/// Why a file could not be read.
enum ReadFailure {
    /// It grew past the size limit after the walk.
    TooLarge(String),
    Io(String),
}

/// Reads a whole file, refusing one that grew past `limit` since the walk.
fn read_bounded(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, ReadFailure> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| ReadFailure::Io(format!("cannot open: {e}; check its permissions")))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadFailure::Io(format!("cannot read: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(ReadFailure::TooLarge(format!(
            "grew over the {limit}-byte limit (files.max_file_size) while being read"
        )));
    }
    Ok(buf)
}

/// Streams `bytes` to the parser in [`CHUNK_BYTES`] chunks; all the records,
/// or the first error.
pub async fn parse_bytes(
    inst: &mut ParserInstance,
    name: &str,
    bytes: &[u8],
    format: Option<Format>,
    config: &str,
) -> Result<Vec<crate::plugin::ParsedRecord>, PluginError> {
    inst.open(
        name,
        bytes.len() as u64,
        format.and_then(Format::media_type),
        config,
    )
    .await?;
    let mut out = Vec::new();
    for chunk in bytes.chunks(CHUNK_BYTES) {
        out.extend(inst.feed(chunk).await?);
    }
    out.extend(inst.finish().await?);
    Ok(out)
}

/// A failed parse as (code, reason, position).
pub fn failure(e: &PluginError) -> (String, String, Option<Location>) {
    match e {
        PluginError::Guest { error, .. } => match error.as_ref() {
            GuestError::MalformedInput { message, location } => (
                "malformed".to_string(),
                format!("{message} (at {location})"),
                Some(location.clone()),
            ),
            GuestError::InvalidConfig(m) => (
                "invalid-config".to_string(),
                format!("the parser refused its configuration: {m}; fix it in [[files.parser]]"),
                None,
            ),
            other => ("parser-error".to_string(), other.to_string(), None),
        },
        other => (other.code().to_string(), other.to_string(), None),
    }
}
