//! What the ledger needs of a target without transactions: file lengths
//! as positions, cutting back to them, copies of the directory, restores.

use super::*;
use crate::endpoint::EndpointError;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

impl JsonSink {
    /// After a batch: the lengths of the table's file and of the quarantine
    /// file (both flushed by `write`), as JSON — what a checkpoint in a
    /// separate ledger records, and what resume truncates back to.
    pub fn offsets(&self, table: &str) -> Result<String, EndpointError> {
        let len = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(serde_json::json!({
            "table": len(&self.data_path(table)),
            "rejects": len(&self.dir.join(REJECTS_FILE)),
        })
        .to_string())
    }

    /// Resume: cuts the table's file back to the length a checkpoint
    /// recorded (`None`: to nothing), and the quarantine file to `rejects`
    /// (what the newest checkpoint recorded), dropping what was written
    /// after the last checkpoint.
    pub fn truncate_back(
        &mut self,
        table: &str,
        table_len: Option<u64>,
        rejects: Option<u64>,
    ) -> Result<(), EndpointError> {
        self.files.remove(table);
        self.rejects = None;
        let cut = |path: &Path, len: u64| -> Result<(), EndpointError> {
            if !path.exists() {
                return Ok(());
            }
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(len))
                .map_err(|e| io_err(&self.name, Some(table), "cannot truncate", path, e))
        };
        cut(&self.data_path(table), table_len.unwrap_or(0))?;
        if let Some(r) = rejects {
            cut(&self.dir.join(REJECTS_FILE), r)?;
        }
        Ok(())
    }

    /// A table file's rows and SHA-256 (`None` when it does not exist).
    pub fn table_checksum(&self, table: &str) -> Result<Option<(u64, String)>, EndpointError> {
        use sha2::{Digest, Sha256};
        let path = self.data_path(table);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = fs::read(&path)
            .map_err(|e| io_err(&self.name, Some(table), "cannot read", &path, e))?;
        let rows = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        Ok(Some((rows, hex::encode(Sha256::digest(&bytes)))))
    }

    /// A copy of every file of the directory (tables, `_schema.json`, the
    /// quarantine file) in `.ferry-backup-RUN8/`, taken before a run
    /// replaces tables; its path.
    pub fn backup_files(&self, run_id: &str) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let dest = self.dir.join(format!(".ferry-backup-{short}"));
        let e = |p: &Path, err: io::Error| io_err(&self.name, None, "cannot back up", p, err);
        fs::create_dir_all(&dest).map_err(|x| e(&dest, x))?;
        for ent in fs::read_dir(&self.dir).map_err(|x| e(&self.dir, x))? {
            let ent = ent.map_err(|x| e(&self.dir, x))?;
            if ent.file_type().map(|t| t.is_file()).unwrap_or(false) {
                fs::copy(ent.path(), dest.join(ent.file_name())).map_err(|x| e(&ent.path(), x))?;
            }
        }
        Ok(dest.to_string_lossy().into_owned())
    }

    /// Rollback: the directory's files as the backup holds them (files the
    /// run created are removed), or — without a backup — the table's file
    /// removed and the rest left.
    pub fn restore_files(
        &mut self,
        table: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        self.files.clear();
        self.rejects = None;
        let e =
            |p: &Path, err: io::Error| io_err(&self.name, Some(table), "cannot restore", p, err);
        match backup {
            Some(b) => {
                let b = PathBuf::from(b);
                for ent in fs::read_dir(&self.dir).map_err(|x| e(&self.dir, x))? {
                    let ent = ent.map_err(|x| e(&self.dir, x))?;
                    if ent.file_type().map(|t| t.is_file()).unwrap_or(false) {
                        fs::remove_file(ent.path()).map_err(|x| e(&ent.path(), x))?;
                    }
                }
                for ent in fs::read_dir(&b).map_err(|x| e(&b, x))? {
                    let ent = ent.map_err(|x| e(&b, x))?;
                    fs::copy(ent.path(), self.dir.join(ent.file_name()))
                        .map_err(|x| e(&ent.path(), x))?;
                }
            }
            None => {
                for p in [self.data_path(table), self.array_path(table)] {
                    if p.exists() {
                        fs::remove_file(&p).map_err(|x| e(&p, x))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes a run's lines from the quarantine file.
    pub fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        self.rejects = None;
        let path = self.dir.join(REJECTS_FILE);
        if !path.exists() {
            return Ok(());
        }
        let text = fs::read(&path)
            .map_err(|e| io_err(&self.name, Some(REJECTS_FILE), "cannot read", &path, e))?;
        let mut kept = Vec::with_capacity(text.len());
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mine = serde_json::from_slice::<RejectLine>(line).is_ok_and(|r| r.run_id == run_id);
            if !mine {
                kept.extend_from_slice(line);
                kept.push(b'\n');
            }
        }
        fs::write(&path, kept)
            .map_err(|e| io_err(&self.name, Some(REJECTS_FILE), "cannot write", &path, e))
    }

    /// Removes the quarantine records of replaced tables (they described the
    /// replaced data), rewriting the file atomically. Records that do not
    /// parse are kept as they are.
    pub(super) fn purge_rejects(&self, tables: &HashSet<String>) -> Result<(), EndpointError> {
        let path = self.dir.join(REJECTS_FILE);
        if !path.exists() {
            return Ok(());
        }
        let mut kept = Vec::new();
        let mut failed = None;
        for_each_record(&path, &self.name, REJECTS_FILE, |loc, rec| {
            match rec {
                Rec::Data(b) => {
                    let drop = serde_json::from_slice::<RejectLine>(b)
                        .is_ok_and(|r| tables.contains(&r.table));
                    if !drop {
                        kept.extend_from_slice(b);
                        kept.push(b'\n');
                    }
                }
                Rec::TooLong { .. } => failed = Some(loc),
            }
            failed.is_none()
        })?;
        if let Some(loc) = failed {
            return Err(q_err(
                &self.name,
                Some(REJECTS_FILE),
                format!(
                    "{} {loc} is too long to keep; nothing was removed",
                    path.display()
                ),
            ));
        }
        self.write_atomic(&path, &kept)
    }
}
