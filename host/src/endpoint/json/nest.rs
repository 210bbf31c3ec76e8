//! `nest=T__C` on a target: a child table folded back into its parent's
//! json column.

use super::*;
use crate::endpoint::{EndpointError, TargetTable};
use crate::model::{ColumnDef, LogicalType};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

impl JsonSink {
    /// Folds a child table into its parent's file (see [`nest_plan`]):
    /// `Ok(Some(why))` when it cannot be done exactly (then nothing changed).
    /// The child rows, at most `max` bytes of them, are grouped in memory by
    /// parent key; the parent file streams into a temporary file with the
    /// arrays added, which replaces it; then `_schema.json` records the
    /// nesting and the child file is removed. A crash in between leaves
    /// rows twice (in the parent's array and the child file), never nowhere.
    pub(super) fn nest_one(
        &self,
        p: &NestPlan<'_>,
        max: u64,
    ) -> Result<Option<String>, EndpointError> {
        let (child, parent) = (&p.child.def, &p.parent.def);
        let (cpath, ppath) = (self.data_path(&child.name), self.data_path(&parent.name));
        let size = fs::metadata(&cpath).map(|m| m.len()).unwrap_or(0);
        if size > max {
            return Ok(Some(format!(
                "`{}` is over {} MiB (the rows are grouped in memory)",
                cpath.display(),
                max >> 20
            )));
        }
        let (fk_col, key_col) = (&p.fk.columns[0], &p.fk.ref_columns[0]);
        // Child rows by parent key text: (ordinal, object without the key and ordinal).
        let mut groups: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        let mut why = None;
        for_each_record(&cpath, &self.name, &child.name, |loc, rec| {
            let members = match rec {
                Rec::Data(b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| split_object(t).ok()),
                Rec::TooLong { .. } => None,
            };
            let Some(members) = members else {
                why = Some(format!("{loc} is not a JSON object"));
                return false;
            };
            let get = |n: &str| members.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
            let key = get(fk_col).filter(|v| *v != "null");
            let ord = get(ORDINAL).and_then(|v| v.parse::<i64>().ok());
            let (Some(key), Some(ord)) = (key, ord) else {
                why = Some(format!("{loc} has a null `{fk_col}` or `{ORDINAL}`"));
                return false;
            };
            let mut obj = vec![b'{'];
            for (k, v) in &members {
                // NULL and a missing key are the same in a table: neither is written.
                if k == fk_col || k == ORDINAL || *v == "null" {
                    continue;
                }
                if obj.len() > 1 {
                    obj.push(b',');
                }
                push_json_str(&mut obj, k);
                obj.push(b':');
                obj.extend_from_slice(v.as_bytes());
            }
            obj.push(b'}');
            groups
                .entry(key.to_string())
                .or_default()
                .push((ord, String::from_utf8_lossy(&obj).into_owned()));
            true
        })?;
        if let Some(why) = why {
            return Ok(Some(why));
        }
        for (key, g) in &mut groups {
            g.sort_by_key(|(o, _)| *o);
            if g.iter().enumerate().any(|(i, (o, _))| *o != i as i64) {
                return Ok(Some(format!(
                    "the `{ORDINAL}` values of parent key {} are not 0, 1, 2, …, so array \
                     positions would not give them back",
                    shown(key)
                )));
            }
        }
        let tmp = ppath.with_extension(format!("tmp-{}", std::process::id()));
        let e = |what: &str, path: &Path, e: io::Error| {
            io_err(&self.name, Some(&parent.name), what, path, e)
        };
        let mut w = BufWriter::new(File::create(&tmp).map_err(|x| e("cannot create", &tmp, x))?);
        let mut head = Vec::new();
        push_json_str(&mut head, &p.column);
        head.extend_from_slice(b":[");
        let mut failed: Option<io::Error> = None;
        let mut line = Vec::new();
        for_each_record(&ppath, &self.name, &parent.name, |_, rec| {
            let b = match rec {
                Rec::Data(b) => b.trim_ascii_end(),
                Rec::TooLong { .. } => b"",
            };
            let Some(body) = b.strip_suffix(b"}") else {
                failed = Some(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a line is not an object",
                ));
                return false;
            };
            let kids = key_texts(b, std::slice::from_ref(key_col))
                .and_then(|k| groups.remove(&k[0]))
                .unwrap_or_default();
            line.clear();
            line.extend_from_slice(body);
            if body.trim_ascii() != b"{" {
                line.push(b',');
            }
            line.extend_from_slice(&head);
            for (i, (_, obj)) in kids.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(obj.as_bytes());
            }
            line.extend_from_slice(b"]}\n");
            if let Err(x) = w.write_all(&line) {
                failed = Some(x);
            }
            failed.is_none()
        })?;
        let flushed = w.flush();
        drop(w);
        let done = match (failed, flushed) {
            (Some(x), _) | (None, Err(x)) => Err(e("cannot rewrite", &ppath, x)),
            (None, Ok(())) if !groups.is_empty() => Ok(Some(format!(
                "{} parent key(s) of `{}` match no `{}` row",
                groups.len(),
                child.name,
                parent.name
            ))),
            (None, Ok(())) => Ok(None),
        };
        if !matches!(done, Ok(None)) {
            let _ = fs::remove_file(&tmp);
            return done;
        }
        fs::rename(&tmp, &ppath).map_err(|x| e("cannot replace", &ppath, x))?;
        let mut schema = read_schema(&self.dir, &self.name)?.unwrap_or(SchemaFile {
            format: FORMAT.into(),
            version: VERSION,
            tables: Vec::new(),
            nested: Vec::new(),
        });
        if let Some(t) = schema.tables.iter_mut().find(|t| t.name == parent.name) {
            t.columns.push(ColumnDef {
                name: p.column.clone(),
                declared_type: String::new(),
                logical_type: LogicalType::Json,
                nullable: false,
                default: None,
                ..Default::default()
            });
        }
        schema.tables.retain(|t| t.name != child.name);
        schema.nested.retain(|n| n.table.name != child.name);
        schema.nested.push(NestedDef {
            parent: parent.name.clone(),
            column: p.column.clone(),
            table: child.clone(),
        });
        self.write_schema(&schema)?;
        fs::remove_file(&cpath).map_err(|x| e("cannot remove", &cpath, x))?;
        Ok(None)
    }
}

/// A `nest=` table and where it goes, as [`nest_plan`] found it.
pub(super) struct NestPlan<'a> {
    pub(super) child: &'a TargetTable,
    pub(super) parent: &'a TargetTable,
    pub(super) column: String,
    /// The child's foreign key to the parent (one column).
    pub(super) fk: &'a crate::model::ForeignKeyDef,
}

/// Checks a `nest=` table against the run's tables: it is written by this
/// run, named `<parent>__<column>` with a single-column foreign key to
/// `<parent>` (also written by this run), has an int64 NOT NULL `ordinal`
/// column, and the parent has no column named `<column>` — the shape
/// `normalise=` gives, so the two are inverses.
pub(super) fn nest_plan<'a>(
    endpoint: &str,
    child: &str,
    tables: &'a [TargetTable],
) -> Result<NestPlan<'a>, EndpointError> {
    let err = |why: String| q_err(endpoint, Some(child), format!("nest={child}: {why}"));
    let find = |n: &str| tables.iter().find(|t| t.def.name == n);
    let c = find(child).ok_or_else(|| err("this run writes no table of that name".into()))?;
    let Some((fk, parent, column)) = c.def.foreign_keys.iter().find_map(|fk| {
        let column = child.strip_prefix(&format!("{}__", fk.ref_table))?;
        let parent = find(&fk.ref_table)?;
        (fk.columns.len() == 1 && fk.ref_columns.len() == 1 && !column.is_empty())
            .then(|| (fk, parent, column.to_string()))
    }) else {
        return Err(err(
            "a nested table must be named PARENT__COLUMN and have a single-column foreign key \
             to PARENT, which this run also writes"
                .into(),
        ));
    };
    if !c
        .def
        .columns
        .iter()
        .any(|x| x.name == ORDINAL && x.logical_type == LogicalType::Int64 && !x.nullable)
    {
        return Err(err(format!(
            "the table needs an int64 NOT NULL `{ORDINAL}` column (the position in the array), \
             as normalise= makes"
        )));
    }
    if parent.def.columns.iter().any(|x| x.name == column) {
        return Err(err(format!(
            "`{}` already has a column `{column}`",
            parent.def.name
        )));
    }
    Ok(NestPlan {
        child: c,
        parent,
        column,
        fk,
    })
}
