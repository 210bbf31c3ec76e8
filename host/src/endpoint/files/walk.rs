//! Walking a directory of legacy files: every entry, sorted by path, with
//! what is left out (hidden, excluded, symlinks, not files) and why.

use std::path::{Path, PathBuf};

use crate::model::glob_match;

/// One entry of the walked directory.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative path, `/`-separated.
    pub rel: String,
    pub path: PathBuf,
    pub size: u64,
    /// Modification time, microseconds since the Unix epoch.
    pub mtime: Option<i64>,
    /// Why the walk leaves it out (hidden, symlink, …), when it does.
    pub skip: Option<(String, String)>,
}

/// An error walking the directory.
#[derive(Debug, thiserror::Error)]
#[error("files:{dir}: {reason}")]
pub struct WalkError {
    pub dir: String,
    pub reason: String,
}

/// Lists `dir` recursively in path order. Symlinks are not followed,
/// hidden entries (`.name`) and `exclude` globs are left out, each reported
/// as an entry with its reason (a hidden directory is one entry).
pub fn walk(dir: &Path, hidden: bool, exclude: &[String]) -> Result<Vec<Entry>, WalkError> {
    let meta = std::fs::metadata(dir).map_err(|e| WalkError {
        dir: dir.display().to_string(),
        reason: format!("cannot read the directory: {e}"),
    })?;
    if !meta.is_dir() {
        return Err(WalkError {
            dir: dir.display().to_string(),
            reason: "not a directory; give a directory of files: files:DIR".into(),
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, rel)) = stack.pop() {
        let rd = match std::fs::read_dir(&abs) {
            Ok(rd) => rd,
            Err(e) => {
                out.push(skipped(
                    &abs,
                    &rel,
                    "unreadable",
                    format!("cannot read the directory: {e}"),
                ));
                continue;
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    out.push(skipped(
                        &abs,
                        &rel,
                        "unreadable",
                        format!("cannot list an entry: {e}"),
                    ));
                    continue;
                }
            };
            let name = ent.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let path = ent.path();
            let ft = match ent.file_type() {
                Ok(t) => t,
                Err(e) => {
                    out.push(skipped(&path, &child_rel, "unreadable", e.to_string()));
                    continue;
                }
            };
            if exclude.iter().any(|g| glob_match(g, &child_rel)) {
                continue;
            }
            if name.starts_with('.') && !hidden {
                let what = if ft.is_dir() {
                    "hidden directory, not walked"
                } else {
                    "hidden file"
                };
                out.push(skipped(
                    &path,
                    &child_rel,
                    "hidden",
                    format!("{what} (set files.hidden = true to include)"),
                ));
                continue;
            }
            if ft.is_symlink() {
                out.push(skipped(
                    &path,
                    &child_rel,
                    "symlink",
                    "symbolic link, not followed".into(),
                ));
            } else if ft.is_dir() {
                stack.push((path, child_rel));
            } else if ft.is_file() {
                let md = ent.metadata().ok();
                out.push(Entry {
                    rel: child_rel,
                    path,
                    size: md.as_ref().map(|m| m.len()).unwrap_or(0),
                    mtime: md.and_then(|m| m.modified().ok()).map(micros_since_epoch),
                    skip: None,
                });
            } else {
                out.push(skipped(
                    &path,
                    &child_rel,
                    "not-a-file",
                    "not a regular file (device, pipe or socket)".into(),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn skipped(path: &Path, rel: &str, code: &str, reason: String) -> Entry {
    Entry {
        rel: rel.to_string(),
        path: path.to_path_buf(),
        size: 0,
        mtime: None,
        skip: Some((code.to_string(), reason)),
    }
}

pub use crate::model::temporal::micros_since_epoch;
