//! A JSON directory read as a source.

use super::*;
use crate::endpoint::{EndpointError, ReadBatch, TableProfile};
use crate::model::{BatchBuilder, TableDef};
use std::collections::HashSet;
use std::fs::{self};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------

/// A JSON directory read as a source.
pub struct JsonSource {
    pub(super) dir: PathBuf,
    pub(super) name: String,
    /// What `normalise=` and `nest=` resolved to (empty without options).
    pub(super) norm: std::sync::Arc<Norm>,
}

impl JsonSource {
    /// Opens a directory written by the JSON sink or by hand (`url` is
    /// `DIR[?OPTIONS]`). A missing directory, a schema file that does not
    /// parse, or options that do not fit it are errors.
    pub async fn open(url: &str) -> Result<JsonSource, EndpointError> {
        let (dir, options) = split_url(url)?;
        let name = format!("json:{url}");
        if !dir.is_dir() {
            return Err(EndpointError::Connect {
                endpoint: name,
                reason: "no such directory".into(),
            });
        }
        let mut s = JsonSource {
            dir,
            name,
            norm: Default::default(),
        };
        let norm = s
            .blocking(move |dir, name| resolve(name, read_schema(dir, name)?.as_ref(), &options))
            .await?;
        s.norm = std::sync::Arc::new(norm);
        Ok(s)
    }

    /// Runs `f(dir, name)` on a blocking thread.
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &str) -> Result<T, EndpointError> + Send + 'static,
    ) -> Result<T, EndpointError> {
        let (dir, name) = (self.dir.clone(), self.name.clone());
        tokio::task::spawn_blocking(move || f(&dir, &name))
            .await
            .map_err(|e| join_err(&self.name, e))?
    }

    /// [`Self::blocking`] with the resolved options as a third argument.
    pub(super) async fn blocking_norm<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &str, &Norm) -> Result<T, EndpointError> + Send + 'static,
    ) -> Result<T, EndpointError> {
        let norm = self.norm.clone();
        self.blocking(move |dir, name| f(dir, name, &norm)).await
    }

    /// Human name for reports.
    pub fn describe(&self) -> String {
        self.name.clone()
    }

    /// The schema file's tables (in its order), then every other `.jsonl`
    /// (or `.json` array) file, inferred, by name. Files whose names cannot be
    /// table names are not tables. `_ferry_*` files are ferry's own and skipped.
    /// A parent of a normalised column is shown without it, its child table
    /// right after it (as recorded by a `nest=` target, else inferred).
    pub async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        self.blocking_norm(|dir, name, norm| {
            let mut tables = Vec::new();
            for t in read_schema(dir, name)?
                .map(|s| s.tables)
                .unwrap_or_default()
            {
                let children: Vec<&Spec> =
                    norm.specs.iter().filter(|s| s.parent == t.name).collect();
                if children.is_empty() {
                    tables.push(t);
                    continue;
                }
                tables.push(norm.view(&t.name).cloned().unwrap_or_else(|| t.clone()));
                for s in children {
                    tables.push(match &s.recorded {
                        Some(d) => d.clone(),
                        None => infer_child(dir, name, s, &t)?,
                    });
                }
            }
            let mut known: HashSet<String> = tables.iter().map(|t| t.name.clone()).collect();
            for s in &norm.specs {
                known.remove(&s.child);
            }
            let mut files = Vec::new();
            let entries =
                fs::read_dir(dir).map_err(|e| io_err(name, None, "cannot list", dir, e))?;
            for e in entries {
                let e = e.map_err(|e| io_err(name, None, "cannot list", dir, e))?;
                let file = e.file_name();
                let Some(file) = file.to_str() else {
                    tracing::warn!(endpoint = name, file = ?file, "file name is not UTF-8; not read as a table");
                    continue;
                };
                let stem = file
                    .strip_suffix(".jsonl")
                    .or_else(|| file.strip_suffix(".json"));
                let Some(stem) = stem.filter(|s| {
                    file != SCHEMA_FILE && !s.starts_with("_ferry_") && !known.contains(*s)
                }) else {
                    continue;
                };
                if let Err(why) = check_table_name(name, stem) {
                    tracing::warn!(endpoint = name, file, "not read as a table: {why}");
                } else if e.path().is_file() {
                    files.push(stem.to_string());
                }
            }
            files.sort();
            files.dedup(); // `t.jsonl` and `t.json`: one table, read from `t.jsonl`
            if let Some(s) = norm.specs.iter().find(|s| files.contains(&s.child)) {
                return Err(q_err(
                    name,
                    Some(&s.child),
                    format!(
                        "normalising `{}.{}` makes a table `{}`, but the directory has a file of \
                         that name; rename one of them",
                        s.parent, s.column, s.child
                    ),
                ));
            }
            for f in files {
                let path = Self::path_of(dir, name, &f)?;
                tables.push(infer_table(&path, name, &f)?);
            }
            Ok(tables)
        })
        .await
    }

    /// The data file of a table: `<table>.jsonl`, else `<table>.json` when
    /// only that exists.
    pub(super) fn path_of(dir: &Path, name: &str, table: &str) -> Result<PathBuf, EndpointError> {
        check_table_name(name, table)?;
        let lines = dir.join(format!("{table}.jsonl"));
        let array = dir.join(format!("{table}.json"));
        Ok(if !lines.exists() && array.exists() {
            array
        } else {
            lines
        })
    }

    /// Records in a table's file (blank lines are not records); for the
    /// child table of a normalised column, the elements it reads as rows.
    pub async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        let table = table.to_string();
        self.blocking_norm(move |dir, name, norm| {
            let mut n = 0u64;
            table_records(dir, name, norm, &table, |_, _| {
                n += 1;
                true
            })?;
            Ok(n)
        })
        .await
    }

    /// Streams `table` into `tx` in file order (the order the sink wrote, which
    /// is the source's key order); stops early when the receiver is dropped.
    /// At most `batch_size` rows and `batch_size` rejects are held per batch.
    pub async fn read(
        &self,
        table: &TableDef,
        batch_size: usize,
        tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        let (table, tx) = (table.clone(), tx.clone());
        let batch_size = batch_size.max(1);
        self.blocking_norm(move |dir, name, norm| {
            let schema = table.schema();
            let dec = Decoder::for_table(&table, &norm.specs);
            let mut b = BatchBuilder::new(&schema, batch_size);
            let mut rejects = Vec::new();
            let (mut in_batch, mut open) = (0u64, true);
            table_records(dir, name, norm, &table.name, |loc, rec| {
                in_batch += 1;
                match dec.decode(&mut b, loc, rec) {
                    Ok(()) => b.end_row(),
                    Err(r) => {
                        b.abandon_row();
                        rejects.push(*r);
                    }
                }
                if b.len() >= batch_size || rejects.len() >= batch_size {
                    open = tx
                        .blocking_send(ReadBatch {
                            batch: b.finish(),
                            rejects: std::mem::take(&mut rejects),
                            rows_read: std::mem::take(&mut in_batch),
                            position: None,
                            cursor: None,
                            replace: None,
                            state: None,
                            raw: None,
                        })
                        .is_ok();
                }
                open
            })?;
            if open && in_batch > 0 {
                let _ = tx.blocking_send(ReadBatch {
                    batch: b.finish(),
                    rejects,
                    rows_read: in_batch,
                    position: None,
                    cursor: None,
                    replace: None,
                    state: None,
                    raw: None,
                });
            }
            Ok(())
        })
        .await
    }

    /// Rows in `_ferry_rejects.jsonl` per run and table; empty when there is
    /// no such file. Holds one `(run, table, key)` per reject: memory is
    /// bounded by the number of rejects, which is fine (they are few, and the
    /// database sources hold the same).
    pub async fn quarantined(
        &self,
    ) -> Result<Vec<crate::endpoint::QuarantineCount>, EndpointError> {
        self.blocking(|dir, name| {
            let path = dir.join(REJECTS_FILE);
            let mut rows = Vec::new();
            let mut bad: Option<String> = None;
            for_each_record(&path, name, REJECTS_FILE, |loc, rec| {
                let parsed = match rec {
                    Rec::Data(b) => serde_json::from_slice::<RejectLine>(b).ok(),
                    Rec::TooLong { .. } => None,
                };
                match parsed {
                    Some(r) => rows.push((r.run_id, r.table, r.source_key)),
                    None => bad = Some(format!("{} {loc} is not a reject record", path.display())),
                }
                bad.is_none()
            })?;
            if let Some(why) = bad {
                return Err(q_err(name, Some(REJECTS_FILE), why));
            }
            rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            Ok(crate::endpoint::group_quarantine(rows))
        })
        .await
    }

    /// Samples the first `sample` records: average line size and, per
    /// column, values that would be quarantined and the first reason.
    pub async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        let table = table.clone();
        self.blocking_norm(move |dir, name, norm| {
            let schema = table.schema();
            let mut b = BatchBuilder::new(&schema, 1);
            let dec = Decoder::for_table(&table, &norm.specs);
            let mut mismatches: Vec<(String, u64, String)> = Vec::new();
            let mut note = |col: &str, why: String| match mismatches.iter_mut().find(|m| m.0 == col)
            {
                Some(m) => m.1 += 1,
                None => mismatches.push((col.to_string(), 1, why)),
            };
            let (mut sampled, mut bytes) = (0u64, 0u64);
            table_records(dir, name, norm, &table.name, |_, rec| {
                if sampled >= sample as u64 {
                    return false;
                }
                sampled += 1;
                let data = match rec {
                    Rec::Data(d) => d,
                    Rec::TooLong { bytes: n, .. } => {
                        bytes += n;
                        note("(line)", format!("a line of {n} bytes is over the limit"));
                        return true;
                    }
                };
                bytes += data.len() as u64;
                let members = std::str::from_utf8(data)
                    .ok()
                    .filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
                    .and_then(|t| split_object(t).ok());
                let Some(members) = members else {
                    note("(line)", "a line is not a JSON object".into());
                    return true;
                };
                for (k, v) in members {
                    if dec.nested.contains(&k.as_str()) {
                        if let Err(why) = array_of_objects(v) {
                            note(&k, format!("holds {why}, not an array of objects"));
                        }
                        continue;
                    }
                    let Some(&i) = dec.index.get(k.as_str()) else {
                        note(&k, "the key is not a column (unknown-column)".into());
                        continue;
                    };
                    let col = &table.columns[i];
                    let r = if v == "null" {
                        if col.nullable {
                            Ok(())
                        } else {
                            Err("null in a NOT NULL column".to_string())
                        }
                    } else {
                        decode_value(&mut b, i, col.logical_type, v)
                    };
                    if let Err(why) = r {
                        note(&col.name, why);
                    }
                }
                b.abandon_row();
                true
            })?;
            Ok(TableProfile {
                sampled,
                avg_row_bytes: bytes.checked_div(sampled).unwrap_or(0),
                mismatches,
                orphans: Vec::new(),
            })
        })
        .await
    }
}
