//! `finish`: the recorded keys enforced as a database would — duplicates
//! and foreign-key orphans move to the quarantine file.

use super::*;
use crate::endpoint::{EndpointError, TargetTable};
use crate::model::Stage;
use std::collections::{HashMap, HashSet};
use std::fs::{self};
use std::io::Write;
use std::path::Path;

impl JsonSink {
    /// Moves the rows of `t` that violate its keys to the quarantine file.
    /// Key values compare as their JSON text, which this sink writes in one
    /// canonical form per type (so `1.0` and `1.00` decimals are distinct).
    pub(super) fn enforce_keys(
        &self,
        run_id: &str,
        t: &TargetTable,
    ) -> Result<Enforced, EndpointError> {
        let d = &t.def;
        let path = self.data_path(&d.name);
        let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if size(&path) > FK_CHECK_MAX_BYTES {
            return Ok(Enforced::TooLarge(format!("`{}`", path.display())));
        }
        // Key constraints: the primary key, unique constraints, unique indexes.
        let mut keys: Vec<(String, &[String])> = Vec::new();
        if !d.primary_key.is_empty() {
            keys.push((format!("primary key of `{}`", d.name), &d.primary_key));
        }
        keys.extend(
            d.unique
                .iter()
                .map(|u| (format!("unique constraint `{}`", u.name), &u.columns[..])),
        );
        keys.extend(
            d.indexes
                .iter()
                .filter(|i| i.unique)
                .map(|i| (format!("unique index `{}`", i.name), &i.columns[..])),
        );
        // Parent key sets, from the parents' files as already checked
        // (parents come first). A parent outside this run is read as it is.
        let mut parents = Vec::new();
        for fk in &d.foreign_keys {
            let ppath = self.data_path(&fk.ref_table);
            if check_table_name(&self.name, &fk.ref_table).is_err() || !ppath.exists() {
                parents.push(None);
                continue;
            }
            if size(&ppath) > FK_CHECK_MAX_BYTES {
                return Ok(Enforced::TooLarge(format!("`{}`", ppath.display())));
            }
            let mut set = HashSet::new();
            for_each_record(&ppath, &self.name, &fk.ref_table, |_, rec| {
                if let Rec::Data(b) = rec
                    && let Some(k) = key_texts(b, &fk.ref_columns)
                {
                    set.insert(k);
                }
                true
            })?;
            parents.push(Some(set));
        }
        if keys.is_empty() && parents.iter().all(Option::is_none) {
            return Ok(Enforced::Moved(0));
        }
        // One pass: which records move, and why.
        let mut seen: Vec<HashSet<Vec<String>>> = vec![HashSet::new(); keys.len()];
        let mut moves: HashMap<u64, (String, String, String)> = HashMap::new();
        for_each_record(&path, &self.name, &d.name, |loc, rec| {
            let Rec::Data(b) = rec else { return true };
            let Some(members) = std::str::from_utf8(b)
                .ok()
                .and_then(|t| split_object(t).ok())
            else {
                return true;
            };
            let tuples: Vec<Option<Vec<String>>> = keys
                .iter()
                .map(|(_, cols)| member_texts(&members, cols))
                .collect();
            let dup = tuples
                .iter()
                .zip(&seen)
                .position(|(k, s)| k.as_ref().is_some_and(|k| s.contains(k)));
            if let Some(i) = dup {
                let (what, cols) = &keys[i];
                let vals = tuples[i].as_ref().map(|v| v.join(", ")).unwrap_or_default();
                moves.insert(
                    loc.n,
                    (
                        "duplicate-key".into(),
                        cols.join(","),
                        format!(
                            "duplicate value for the {what}: ({})=({vals}); the first loaded row is kept",
                            cols.join(", ")
                        ),
                    ),
                );
                return true;
            }
            for (k, s) in tuples.into_iter().zip(seen.iter_mut()) {
                s.extend(k);
            }
            for (fk, set) in d.foreign_keys.iter().zip(&parents) {
                let Some(set) = set else { continue };
                if let Some(k) = member_texts(&members, &fk.columns)
                    && !set.contains(&k)
                {
                    moves.insert(
                        loc.n,
                        (
                            "fk-orphan".into(),
                            fk.columns.join(","),
                            format!(
                                "foreign key `{}`: no `{}` row has ({})=({})",
                                fk.name,
                                fk.ref_table,
                                fk.ref_columns.join(", "),
                                k.join(", ")
                            ),
                        ),
                    );
                    break;
                }
            }
            true
        })?;
        if moves.is_empty() {
            return Ok(Enforced::Moved(0));
        }
        // Rewrite: kept lines to a temporary file, moved ones to the
        // quarantine file. The quarantine records are flushed before the
        // rename, so a crash in between leaves a row twice, never nowhere.
        let now = now_text();
        let (mut kept, mut rej) = (Vec::new(), Vec::new());
        for_each_record(&path, &self.name, &d.name, |loc, rec| {
            let Rec::Data(b) = rec else { return true };
            match moves.get(&loc.n) {
                None => {
                    kept.extend_from_slice(b);
                    kept.push(b'\n');
                }
                Some((code, column, reason)) => {
                    let row: serde_json::Value = serde_json::from_slice(b)
                        .unwrap_or_else(|_| String::from_utf8_lossy(b).into_owned().into());
                    let source_key = key_texts(b, &t.source.primary_key)
                        .filter(|_| !t.source.primary_key.is_empty())
                        .map(|k| {
                            k.iter()
                                .map(|v| {
                                    serde_json::from_str::<serde_json::Value>(v)
                                        .map(|v| v.to_string())
                                        .unwrap_or_else(|_| v.clone())
                                })
                                .collect::<Vec<_>>()
                                .join(",")
                        });
                    let line = RejectLine {
                        run_id: run_id.to_string(),
                        table: t.source.name.clone(),
                        source_key,
                        stage: Stage::Write.name().to_string(),
                        plugin: None,
                        column: Some(column.clone()),
                        code: code.clone(),
                        reason: reason.clone(),
                        row,
                        rejected_at: now.clone(),
                    };
                    if serde_json::to_writer(&mut rej, &line).is_ok() {
                        rej.push(b'\n');
                    }
                }
            }
            true
        })?;
        let rpath = self.dir.join(REJECTS_FILE);
        let mut w = open_append(&self.name, REJECTS_FILE, &rpath)?;
        w.write_all(&rej)
            .and_then(|_| w.flush())
            .map_err(|e| io_err(&self.name, Some(REJECTS_FILE), "cannot write", &rpath, e))?;
        self.write_atomic(&path, &kept)?;
        Ok(Enforced::Moved(moves.len() as u64))
    }
}

/// What `enforce_keys` did with one table.
pub(super) enum Enforced {
    /// Rows moved to the quarantine file.
    Moved(u64),
    /// Not checked: this file is over [`FK_CHECK_MAX_BYTES`].
    TooLarge(String),
}

/// The JSON texts of `cols` in an object record; `None` when one is null or
/// missing (such a key neither collides nor references anything) or the
/// record is not an object.
pub(super) fn key_texts(record: &[u8], cols: &[String]) -> Option<Vec<String>> {
    let members = split_object(std::str::from_utf8(record).ok()?).ok()?;
    member_texts(&members, cols)
}

/// The texts of `cols` among an object's members (see [`key_texts`]).
pub(super) fn member_texts(members: &[(String, &str)], cols: &[String]) -> Option<Vec<String>> {
    cols.iter()
        .map(|c| {
            members
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| *v)
                .filter(|v| *v != "null")
                .map(str::to_string)
        })
        .collect()
}
