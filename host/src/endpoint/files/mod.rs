//! The files endpoint (`files:DIR`): a directory of legacy files — JSON,
//! Markdown, CSV, plain text — parsed by sandboxed parser components into
//! one content table.
//!
//! The flow, one file at a time on each of a few parser workers:
//!
//! 1. [`walk`] lists the directory (sorted, no symlinks followed, hidden
//!    entries and `exclude` globs left out, each one reported);
//! 2. [`choose`] picks a parser: a `[[files.parser]]` glob, else the
//!    extension, else by sniffing the first bytes;
//! 3. the worker reads the file (up to the size limit), hashes it, and —
//!    when the run is incremental and the hash is the one recorded in
//!    `_ferry_file_items` — skips it; otherwise streams it to the parser in
//!    64 KiB chunks (the plugin never opens files);
//! 4. [`records::Mapper`] turns each parsed record into a row of the
//!    content schema (configurable with `[files.mapping]`);
//! 5. [`run`] writes rows in batches, quarantines every file that could not
//!    be migrated (with its reason and position), records every file in
//!    `_ferry_file_items`, and reports per file.
//!
//! A file is all or nothing: its records are buffered until the parser
//! finished, so a file that fails half-way contributes no row.

pub mod analyze;
mod choose;
pub mod parse;
pub mod records;
pub mod source;
mod walk;

pub use choose::{Choice, Format, choose, format_by_extension, sniff, sniff_encoding};
pub use source::{FilesContext, FilesSource, FilesSummary};
pub use walk::{Entry, WalkError, micros_since_epoch, walk};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ColumnDef, IndexDef, LogicalType, TableDef};

/// Default size limit: 50 MiB. The built-in parsers hold one record in
/// memory (a Markdown or text file is one record), and a worker holds the
/// file's bytes while hashing and parsing it, so the limit bounds memory per
/// worker. Larger files are skipped and quarantined (or refuse the run, with
/// `over_limit = "refuse"`).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;

/// Bytes handed to a parser per `feed` call: 64 KiB, large enough that the
/// per-call cost (a few microseconds) is noise, small enough that a call
/// returns quickly and its output stays well under the plugin output cap.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Bytes looked at to sniff a file's format and encoding: 8 KiB.
pub const SNIFF_BYTES: usize = 8 * 1024;

/// Most parser workers by default: 4. Parsing is CPU-bound in the guest;
/// more workers than cores only add memory (one file's bytes each).
pub const MAX_DEFAULT_WORKERS: usize = 4;

/// The table that records every file a run looked at.
pub const FILE_ITEMS_TABLE: &str = "_ferry_file_items";

/// `[files]` in ferry.toml, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesSection {
    /// Target table (default `content`).
    pub table: Option<String>,
    /// Size limit: bytes, or text such as `"50MB"`, `"10 MiB"`.
    pub max_file_size: Option<SizeValue>,
    /// What a file over the limit does: `skip` (quarantine it, go on) or `refuse` (stop before writing).
    pub over_limit: Option<OverLimit>,
    /// Parser workers (default: cores, at most 4).
    pub workers: Option<usize>,
    /// UUID namespace of the record ids (default: ferry's fixed one).
    pub namespace: Option<String>,
    /// Walk hidden files and directories (names starting with `.`).
    pub hidden: Option<bool>,
    /// Relative paths to leave out (globs, `*` matches across `/`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Parser overrides, first match wins.
    #[serde(default)]
    pub parser: Vec<ParserRuleFile>,
    /// Target column → where its value comes from.
    #[serde(default)]
    pub mapping: BTreeMap<String, MapEntry>,
}

/// A size as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl SizeValue {
    /// Bytes: `1000`, `"50MB"` (10^6), `"50 MiB"` (2^20), `"2G"`, `"512k"`.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            SizeValue::Bytes(b) => Ok(*b),
            SizeValue::Text(t) => parse_size(t),
        }
    }
}

/// Parses `50MB`, `50 MiB`, `1024`, `2g`.
pub fn parse_size(t: &str) -> Result<u64, String> {
    let s = t.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{t}` is not a size (e.g. 50MB, 10MiB, 1048576)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{t}`: unknown unit `{other}` (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    Ok((n * mult) as u64)
}

/// What a file over the size limit does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLimit {
    /// Quarantine the file (it is reported and recorded) and go on.
    #[default]
    Skip,
    /// Stop before anything is written, listing the files.
    Refuse,
}

/// `[[files.parser]]`: files matching `glob` go to `parser` with `config`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParserRuleFile {
    pub glob: String,
    /// A built-in parser name (`json`, `markdown`, `csv`, `text`) or a plugin name/path.
    pub parser: String,
    /// The parser's configuration.
    pub config: Option<serde_json::Value>,
}

/// One `[files.mapping]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MapEntry {
    /// `title = "subject"`: a parser field, or a built-in (`$path`, …).
    One(String),
    /// `title = ["subject", "name", "$file_stem"]`: the first that has a value.
    Many(Vec<String>),
    /// `url = false`: drop the column.
    Off(bool),
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    /// A field of the parsed record.
    Field(String),
    /// UUIDv5(namespace, "PATH#INDEX").
    Id,
    /// The path relative to the directory, `/`-separated.
    Path,
    /// The file name without directories and extension.
    FileStem,
    /// The record's index in its file (0-based).
    Index,
    /// SHA-256 of the file, hex.
    Checksum,
    /// The file's size in bytes.
    Size,
    /// The file's modification time.
    Mtime,
    /// When this run started.
    MigratedAt,
    /// The parser's name.
    Parser,
    /// A json object: the record's `metadata` plus every field no column took.
    Metadata,
}

impl FieldSource {
    fn parse(s: &str) -> Result<FieldSource, String> {
        let Some(b) = s.strip_prefix('$') else {
            return Ok(FieldSource::Field(s.to_string()));
        };
        Ok(match b {
            "id" => FieldSource::Id,
            "path" => FieldSource::Path,
            "file_stem" => FieldSource::FileStem,
            "index" => FieldSource::Index,
            "checksum" => FieldSource::Checksum,
            "size" => FieldSource::Size,
            "mtime" => FieldSource::Mtime,
            "migrated_at" => FieldSource::MigratedAt,
            "parser" => FieldSource::Parser,
            "metadata" => FieldSource::Metadata,
            other => {
                return Err(format!(
                    "unknown built-in `${other}` (have $id, $path, $file_stem, $index, $checksum, $size, $mtime, $migrated_at, $parser, $metadata)"
                ));
            }
        })
    }
}

/// A target column and where its value comes from (first source with a value wins).
#[derive(Debug, Clone, Serialize)]
pub struct MappedColumn {
    pub name: String,
    pub logical_type: LogicalType,
    pub from: Vec<FieldSource>,
}

/// The default content schema: every column, its type and its sources.
pub fn default_columns() -> Vec<MappedColumn> {
    use FieldSource as F;
    use LogicalType as T;
    let f = |s: &str| F::Field(s.to_string());
    let col = |name: &str, logical_type, from| MappedColumn {
        name: name.to_string(),
        logical_type,
        from,
    };
    vec![
        col("id", T::Uuid, vec![F::Id]),
        col("legacy_id", T::Text, vec![f("id")]),
        col("title", T::Text, vec![f("title")]),
        col("content", T::Text, vec![f("content")]),
        col("content_type", T::Text, vec![f("content_type")]),
        col("url", T::Text, vec![f("url")]),
        col("category", T::Text, vec![f("category")]),
        col("tags", T::Json, vec![f("tags")]),
        col("metadata", T::Json, vec![F::Metadata]),
        col("source_path", T::Text, vec![F::Path]),
        col("record_index", T::Int64, vec![F::Index]),
        col("checksum", T::Text, vec![F::Checksum]),
        col("parser", T::Text, vec![F::Parser]),
        col(
            "created_at",
            T::Timestamptz,
            vec![f("created_at"), F::Mtime],
        ),
        col(
            "updated_at",
            T::Timestamptz,
            vec![f("updated_at"), F::Mtime],
        ),
        col("migrated_at", T::Timestamptz, vec![F::MigratedAt]),
    ]
}

/// A parser override, built.
#[derive(Debug, Clone)]
pub struct ParserRule {
    pub glob: String,
    pub parser: String,
    /// Configuration JSON text.
    pub config: String,
}

/// The files endpoint's settings, validated.
#[derive(Debug, Clone)]
pub struct FilesSettings {
    pub table: String,
    pub max_file_bytes: u64,
    pub over_limit: OverLimit,
    pub workers: usize,
    pub namespace: uuid::Uuid,
    pub hidden: bool,
    pub exclude: Vec<String>,
    pub parsers: Vec<ParserRule>,
    pub columns: Vec<MappedColumn>,
}

impl Default for FilesSettings {
    fn default() -> Self {
        FilesSettings::build(&FilesSection::default()).expect("the defaults are valid")
    }
}

/// Cores available, at most [`MAX_DEFAULT_WORKERS`].
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_DEFAULT_WORKERS)
}

impl FilesSettings {
    /// Validates `[files]`.
    pub fn build(raw: &FilesSection) -> Result<FilesSettings, String> {
        let table = raw.table.clone().unwrap_or_else(|| "content".to_string());
        if table.is_empty() || table.starts_with("_ferry") {
            return Err(format!(
                "files.table `{table}`: give a table name that does not start with `_ferry`"
            ));
        }
        let max_file_bytes = match &raw.max_file_size {
            Some(s) => s.bytes().map_err(|e| format!("files.max_file_size: {e}"))?,
            None => DEFAULT_MAX_FILE_BYTES,
        };
        if max_file_bytes == 0 {
            return Err("files.max_file_size must be greater than zero".into());
        }
        let workers = raw.workers.unwrap_or_else(default_workers);
        if !(1..=64).contains(&workers) {
            return Err(format!(
                "files.workers must be between 1 and 64, got {workers}"
            ));
        }
        let namespace = match &raw.namespace {
            Some(n) => uuid::Uuid::parse_str(n)
                .map_err(|e| format!("files.namespace `{n}` is not a UUID: {e}"))?,
            None => crate::consolidate::default_namespace(),
        };
        let mut columns = default_columns();
        for (name, entry) in &raw.mapping {
            let sources = match entry {
                MapEntry::Off(true) => {
                    return Err(format!(
                        "files.mapping.{name} = true: give a field name, a list of them, or false to drop the column"
                    ));
                }
                MapEntry::Off(false) => {
                    if matches!(name.as_str(), "id" | "source_path") {
                        return Err(format!(
                            "files.mapping.{name}: this column cannot be dropped (incremental runs find a file's records by it); rename others instead"
                        ));
                    }
                    let before = columns.len();
                    columns.retain(|c| &c.name != name);
                    if columns.len() == before {
                        return Err(format!(
                            "files.mapping.{name} = false: there is no such column"
                        ));
                    }
                    continue;
                }
                MapEntry::One(s) => vec![s.clone()],
                MapEntry::Many(v) if v.is_empty() => {
                    return Err(format!("files.mapping.{name}: the list is empty"));
                }
                MapEntry::Many(v) => v.clone(),
            };
            let from = sources
                .iter()
                .map(|s| FieldSource::parse(s).map_err(|e| format!("files.mapping.{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            match columns.iter_mut().find(|c| &c.name == name) {
                Some(c) => c.from = from,
                None => {
                    // New columns are text, except a copy of the metadata.
                    let logical_type = if from == [FieldSource::Metadata] {
                        LogicalType::Json
                    } else {
                        LogicalType::Text
                    };
                    columns.push(MappedColumn {
                        name: name.clone(),
                        logical_type,
                        from,
                    });
                }
            }
        }
        let parsers = raw
            .parser
            .iter()
            .map(|r| ParserRule {
                glob: r.glob.clone(),
                parser: r.parser.clone(),
                config: r
                    .config
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "{}".to_string()),
            })
            .collect();
        Ok(FilesSettings {
            table,
            max_file_bytes,
            over_limit: raw.over_limit.unwrap_or_default(),
            workers,
            namespace,
            hidden: raw.hidden.unwrap_or(false),
            exclude: raw.exclude.clone(),
            parsers,
            columns,
        })
    }

    /// The content table as the sink creates it: primary key `id`, an index
    /// on `source_path` (incremental runs delete a changed file's rows by it).
    pub fn table_def(&self) -> TableDef {
        TableDef {
            name: self.table.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| ColumnDef {
                    name: c.name.clone(),
                    declared_type: String::new(),
                    logical_type: c.logical_type,
                    nullable: !matches!(c.name.as_str(), "id" | "source_path"),
                    default: None,
                    ..Default::default()
                })
                .collect(),
            primary_key: vec!["id".to_string()],
            unique: Vec::new(),
            indexes: vec![IndexDef {
                name: format!("{}_source_path_idx", self.table),
                columns: vec!["source_path".to_string()],
                unique: false,
            }],
            foreign_keys: Vec::new(),
            ..Default::default()
        }
    }
}

/// `_ferry_file_items`: one row per file a run looked at, the state
/// incremental runs compare against.
pub fn file_items_def() -> TableDef {
    let col = |name: &str, t: LogicalType, nullable: bool| ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable,
        default: None,
        ..Default::default()
    };
    use LogicalType as T;
    TableDef {
        name: FILE_ITEMS_TABLE.into(),
        columns: vec![
            col("path", T::Text, false),
            col("table_name", T::Text, false),
            col("checksum", T::Text, true),
            col("size", T::Int64, false),
            col("modified_at", T::Timestamptz, true),
            col("parser", T::Text, true),
            col("parser_sha256", T::Text, true),
            col("status", T::Text, false),
            col("records", T::Int64, false),
            col("code", T::Text, true),
            col("reason", T::Text, true),
            col("run_id", T::Text, false),
            col("processed_at", T::Timestamptz, false),
        ],
        primary_key: vec!["path".into(), "table_name".into()],
        unique: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("50MB").unwrap(), 50_000_000);
        assert_eq!(parse_size("10 MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"  {\"a\":1}"), Format::Json);
        assert_eq!(sniff(b"\xEF\xBB\xBF[1]"), Format::Json);
        assert_eq!(sniff(b"---\r\ntitle: x\n---\n"), Format::Markdown);
        assert_eq!(sniff(b"+++ \ntitle = 'x'\n+++\n"), Format::Markdown);
        assert_eq!(sniff(b"hello\x00world"), Format::Binary);
        assert_eq!(sniff(b"\xFF\xFEh\x00i\x00"), Format::Text);
        assert_eq!(sniff(b"just words"), Format::Text);
        assert_eq!(format_by_extension("a/b/C.JSONL"), Some(Format::Json));
        assert_eq!(format_by_extension("notes"), None);
    }

    #[test]
    fn encodings() {
        assert_eq!(sniff_encoding(b"abc", true), "ascii");
        assert_eq!(sniff_encoding("é".as_bytes(), true), "utf-8");
        assert_eq!(sniff_encoding(b"caf\xE9", true), "latin-1");
        assert_eq!(sniff_encoding(b"caf\xC3", false), "utf-8");
        assert_eq!(sniff_encoding(b"\xEF\xBB\xBFx", true), "utf-8-bom");
        assert_eq!(sniff_encoding(b"", true), "empty");
    }

    #[test]
    fn mapping_is_validated() {
        let mut raw = FilesSection::default();
        raw.mapping.insert(
            "title".into(),
            MapEntry::Many(vec!["subject".into(), "$file_stem".into()]),
        );
        raw.mapping.insert("url".into(), MapEntry::Off(false));
        raw.mapping
            .insert("author".into(), MapEntry::One("author".into()));
        let s = FilesSettings::build(&raw).unwrap();
        assert!(s.columns.iter().all(|c| c.name != "url"));
        let t = s.columns.iter().find(|c| c.name == "title").unwrap();
        assert_eq!(
            t.from,
            vec![FieldSource::Field("subject".into()), FieldSource::FileStem]
        );
        assert!(s.columns.iter().any(|c| c.name == "author"));
        let mut bad = FilesSection::default();
        bad.mapping.insert("id".into(), MapEntry::Off(false));
        assert!(
            FilesSettings::build(&bad)
                .unwrap_err()
                .contains("cannot be dropped")
        );
        let mut bad = FilesSection::default();
        bad.mapping
            .insert("x".into(), MapEntry::One("$nope".into()));
        assert!(
            FilesSettings::build(&bad)
                .unwrap_err()
                .contains("unknown built-in")
        );
    }
}
