//! A JSON directory written as a sink: one JSON Lines file per table.

use super::*;
use crate::endpoint::{EndpointError, IfExists, TargetTable, WriteOutcome};
use crate::model::temporal;
use crate::model::{Batch, Reject, Stage};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------

/// One line of `_ferry_rejects.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RejectLine {
    pub(super) run_id: String,
    pub(super) table: String,
    pub(super) source_key: Option<String>,
    pub(super) stage: String,
    pub(super) plugin: Option<String>,
    pub(super) column: Option<String>,
    pub(super) code: String,
    pub(super) reason: String,
    pub(super) row: serde_json::Value,
    pub(super) rejected_at: String,
}

/// Opens a file `prepare` created, for appending. Each table's writer opens
/// its own sink (see `migrate`), so files are opened on first write.
pub(super) fn open_append(endpoint: &str, table: &str, path: &Path) -> Result<File, EndpointError> {
    OpenOptions::new().append(true).open(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            " (the sink was not prepared, or the file was removed during the run)"
        } else {
            ""
        };
        q_err(
            endpoint,
            Some(table),
            format!("cannot open {}: {e}{hint}", path.display()),
        )
    })
}

/// Now, as the quarantine file's `rejected_at` (UTC, RFC 3339).
pub(super) fn now_text() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    temporal::format_timestamptz(micros)
}

/// A JSON directory written as a sink.
pub struct JsonSink {
    pub(super) dir: PathBuf,
    pub(super) name: String,
    /// Open data files by target table name, appended to batch by batch.
    pub(super) files: HashMap<String, BufWriter<File>>,
    pub(super) rejects: Option<BufWriter<File>>,
    /// `nest=`: child tables folded into their parent's file in `finish`.
    pub(super) nest: Vec<String>,
}

impl JsonSink {
    /// Opens (creating it if missing) the target directory (`url` is
    /// `DIR[?nest=…]`; `normalise=` is a source option and refused here).
    pub async fn connect(url: &str) -> Result<JsonSink, EndpointError> {
        let (dir, options) = split_url(url)?;
        if !options.normalise.is_empty() {
            return Err(EndpointError::BadUrl {
                url: format!("json:{url}"),
                reason: "`normalise=` applies to a json source; a json target takes \
                         `nest=CHILD_TABLE`"
                    .into(),
            });
        }
        let name = format!("json:{url}");
        tokio::task::block_in_place(|| fs::create_dir_all(&dir)).map_err(|e| {
            EndpointError::Connect {
                endpoint: name.clone(),
                reason: format!("cannot create the directory: {e}"),
            }
        })?;
        Ok(JsonSink {
            dir,
            name,
            files: HashMap::new(),
            rejects: None,
            nest: options.nest,
        })
    }

    /// Human name for reports.
    pub fn describe(&self) -> String {
        self.name.clone()
    }

    pub(super) fn data_path(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.jsonl"))
    }

    /// Whether a table has a data file: `<table>.jsonl`, or a `<table>.json`
    /// array (which a source would read as the same table).
    pub(super) fn table_exists(&self, table: &str) -> bool {
        check_table_name(&self.name, table).is_ok()
            && (self.data_path(table).exists() || self.array_path(table).exists())
    }

    pub(super) fn array_path(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.json"))
    }

    /// The names among `names` that already have a data file.
    pub async fn existing_tables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        Ok(names
            .iter()
            .filter(|n| self.table_exists(n))
            .cloned()
            .collect())
    }

    /// Refuses existing tables unless `IfExists::Drop` (then truncates them and
    /// drops their old quarantine records), creates the data files and writes
    /// `_schema.json` (merged with the entries of other tables already there).
    pub async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| self.prepare_blocking(tables, if_exists))
    }

    pub(super) fn prepare_blocking(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        for t in tables {
            check_table_name(&self.name, &t.def.name)?;
        }
        for n in &self.nest {
            nest_plan(&self.name, n, tables)?;
        }
        let mut dropped = HashSet::new();
        for t in tables {
            if self.table_exists(&t.def.name) {
                match if_exists {
                    IfExists::Fail => {
                        return Err(EndpointError::TargetExists {
                            endpoint: self.name.clone(),
                            table: t.def.name.clone(),
                        });
                    }
                    IfExists::Drop => {
                        dropped.insert(t.source.name.clone());
                        let array = self.array_path(&t.def.name);
                        if array.exists() {
                            fs::remove_file(&array).map_err(|e| {
                                io_err(&self.name, Some(&t.def.name), "cannot remove", &array, e)
                            })?;
                        }
                    }
                }
            }
        }
        if !dropped.is_empty() {
            self.purge_rejects(&dropped)?;
        }
        let mut schema = read_schema(&self.dir, &self.name)?.unwrap_or(SchemaFile {
            format: FORMAT.into(),
            version: VERSION,
            tables: Vec::new(),
            nested: Vec::new(),
        });
        schema
            .tables
            .retain(|old| !tables.iter().any(|t| t.def.name == old.name));
        schema.nested.retain(|n| {
            !tables
                .iter()
                .any(|t| t.def.name == n.parent || t.def.name == n.table.name)
        });
        schema.tables.extend(tables.iter().map(|t| t.def.clone()));
        self.write_schema(&schema)?;
        for t in tables {
            let path = self.data_path(&t.def.name);
            File::create(&path)
                .map_err(|e| io_err(&self.name, Some(&t.def.name), "cannot create", &path, e))?;
        }
        let path = self.dir.join(REJECTS_FILE);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&self.name, None, "cannot create", &path, e))?;
        Ok(())
    }

    /// Writes `path` atomically: a temporary file in the same directory, then a rename.
    pub(super) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), EndpointError> {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let e = |what: &str, p: &Path, e: io::Error| io_err(&self.name, None, what, p, e);
        fs::write(&tmp, bytes).map_err(|x| e("cannot write", &tmp, x))?;
        fs::rename(&tmp, path).map_err(|x| e("cannot replace", path, x))
    }

    pub(super) fn write_schema(&self, schema: &SchemaFile) -> Result<(), EndpointError> {
        let mut text = serde_json::to_vec_pretty(schema)
            .map_err(|e| q_err(&self.name, None, format!("cannot encode the schema: {e}")))?;
        text.push(b'\n');
        self.write_atomic(&self.dir.join(SCHEMA_FILE), &text)
    }
}

impl JsonSink {
    /// Appends the batch's rows and the rejects, then flushes both (to the
    /// operating system, which survives a crash of ferry, not of the
    /// machine). Rows whose values the format cannot hold become `write`
    /// rejects in the quarantine file.
    pub async fn write(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
    ) -> Result<WriteOutcome, EndpointError> {
        tokio::task::block_in_place(|| self.write_blocking(run_id, table, batch, rejects))
    }

    pub(super) fn write_blocking(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
    ) -> Result<WriteOutcome, EndpointError> {
        let tname = table.def.name.as_str();
        let schema = table.def.schema();
        let mut lines = Vec::with_capacity(batch.num_rows * 64);
        let mut sink_rejects = Vec::new();
        for row in 0..batch.num_rows {
            if let Err((col, why)) = encode_row(&mut lines, &schema, batch, row) {
                sink_rejects.push(Reject {
                    table: table.source.name.clone(),
                    source_key: batch.source_key(&schema, &table.source.primary_key, row),
                    stage: Stage::Write,
                    plugin: None,
                    column: Some(schema.columns[col].name.clone()),
                    code: "unrepresentable".into(),
                    reason: format!("column `{}`: {why}", schema.columns[col].name),
                    row: batch.row_json(&schema, row),
                });
            }
        }
        let path = self.data_path(tname);
        let name = self.name.clone();
        if !self.files.contains_key(tname) {
            let f = open_append(&name, tname, &path)?;
            self.files
                .insert(tname.to_string(), BufWriter::with_capacity(1 << 16, f));
        }
        let Some(w) = self.files.get_mut(tname) else {
            return Err(q_err(&name, Some(tname), "the table's file is not open"));
        };
        w.write_all(&lines)
            .and_then(|_| w.flush())
            .map_err(|e| io_err(&name, Some(tname), "cannot write", &path, e))?;
        let mut rej = Vec::new();
        let now = now_text();
        for r in rejects.iter().chain(&sink_rejects) {
            let line = RejectLine {
                run_id: run_id.to_string(),
                table: r.table.clone(),
                source_key: r.source_key.clone(),
                stage: r.stage.name().to_string(),
                plugin: r.plugin.clone(),
                column: r.column.clone(),
                code: r.code.clone(),
                reason: r.reason.clone(),
                row: r.row.clone(),
                rejected_at: now.clone(),
            };
            serde_json::to_writer(&mut rej, &line)
                .map_err(|e| q_err(&name, Some(REJECTS_FILE), e))?;
            rej.push(b'\n');
        }
        if !rej.is_empty() {
            let rpath = self.dir.join(REJECTS_FILE);
            if self.rejects.is_none() {
                self.rejects = Some(BufWriter::new(open_append(&name, REJECTS_FILE, &rpath)?));
            }
            let Some(w) = self.rejects.as_mut() else {
                return Err(q_err(
                    &name,
                    Some(REJECTS_FILE),
                    "the quarantine file is not open",
                ));
            };
            w.write_all(&rej)
                .and_then(|_| w.flush())
                .map_err(|e| io_err(&name, Some(REJECTS_FILE), "cannot write", &rpath, e))?;
        }
        Ok(WriteOutcome {
            written: (batch.num_rows - sink_rejects.len()) as u64,
            rejected: sink_rejects,
            sent: None,
        })
    }

    /// Closes the files, then applies the keys recorded in `_schema.json` the
    /// way a database sink creates them, tables in dependency order: rows
    /// that repeat a primary key or unique value (the first loaded row is
    /// kept) and then rows whose foreign key matches no parent row are moved
    /// from the table's file to the quarantine file under `run_id` (codes
    /// `duplicate-key`, `fk-orphan`), counted per source table. Tables whose
    /// files are over `FK_CHECK_MAX_BYTES` (256 MiB) are not checked (a warning says so).
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        tokio::task::block_in_place(|| self.finish_blocking(run_id, tables))
    }

    pub(super) fn finish_blocking(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        for (t, mut w) in self.files.drain() {
            w.flush()
                .map_err(|e| q_err(&self.name, Some(&t), format!("cannot flush: {e}")))?;
        }
        if let Some(mut w) = self.rejects.take() {
            w.flush()
                .map_err(|e| q_err(&self.name, Some(REJECTS_FILE), format!("cannot flush: {e}")))?;
        }
        let mut created = Vec::new();
        let mut warnings = Vec::new();
        let mut quarantined = Vec::new();
        for t in tables {
            let d = &t.def;
            match self.enforce_keys(run_id, t)? {
                Enforced::Moved(0) => {}
                Enforced::Moved(n) => quarantined.push((t.source.name.clone(), n)),
                Enforced::TooLarge(what) => warnings.push(format!(
                    "table `{}`: keys and foreign keys not checked: {what} is over {} MiB",
                    d.name,
                    FK_CHECK_MAX_BYTES >> 20
                )),
            }
            if !d.primary_key.is_empty() {
                created.push(format!("primary key {}", d.name));
            }
            created.extend(d.unique.iter().map(|u| format!("unique {}", u.name)));
            created.extend(d.indexes.iter().map(|i| format!("index {}", i.name)));
            created.extend(
                d.foreign_keys
                    .iter()
                    .map(|f| format!("foreign key {}", f.name)),
            );
        }
        for n in &self.nest {
            let p = nest_plan(&self.name, n, tables)?;
            let into = format!("`{}.{}`", p.parent.def.name, p.column);
            match self.nest_one(&p, NEST_MAX_BYTES)? {
                None => tracing::info!(endpoint = self.name, "nested `{n}` into {into}"),
                Some(why) => warnings.push(format!(
                    "table `{n}` not nested into {into}: {why}; it stays a table of its own"
                )),
            }
        }
        Ok(crate::endpoint::Finished {
            created,
            warnings,
            quarantined,
        })
    }
}
