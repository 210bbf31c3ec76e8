//! A SQLite database read as a source.

use super::*;
use crate::endpoint::{EndpointError, REJECTS_TABLE};
use crate::model::{Batch, BatchBuilder, Reject, TableDef};
use rusqlite::types::ValueRef as Sql;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use std::path::{Path, PathBuf};

/// A SQLite database read as a source.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    pub(super) path: PathBuf,
    pub(super) name: String,
}

impl SqliteSource {
    /// Opens a SQLite file read-only. A missing file is an error (SQLite
    /// would otherwise create an empty database).
    pub fn open(path: &Path) -> Result<SqliteSource, EndpointError> {
        let name = format!("sqlite:{}", path.display());
        if !path.is_file() {
            return Err(EndpointError::Connect {
                endpoint: name,
                reason: "no such file".into(),
            });
        }
        let s = SqliteSource {
            path: path.to_path_buf(),
            name,
        };
        s.conn()?;
        Ok(s)
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    pub(super) fn conn(&self) -> Result<Connection, EndpointError> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| EndpointError::Connect {
            endpoint: self.name.clone(),
            reason: e.to_string(),
        })?;
        // Fail fast on a file that is not a database.
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| EndpointError::Connect {
            endpoint: self.name.clone(),
            reason: e.to_string(),
        })?;
        Ok(c)
    }

    /// Samples the first `sample` rows of a table in key order: how many
    /// values of each column would be quarantined under the type rules,
    /// their average size, and rows whose foreign keys point nowhere.
    pub fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<crate::endpoint::TableProfile, EndpointError> {
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, Some(&table.name), err);
        let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let sql = format!(
            "SELECT {} FROM {} LIMIT {sample}",
            if cols.is_empty() {
                "1".to_string()
            } else {
                cols.join(", ")
            },
            quote_ident(&table.name)
        );
        let mut stmt = c.prepare(&sql).map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        let schema = table.schema();
        let mut b = BatchBuilder::new(&schema, 1);
        let mut mismatches: Vec<(u64, Option<String>)> = vec![(0, None); table.columns.len()];
        let (mut sampled, mut bytes) = (0u64, 0u64);
        let key_idx = key_columns(table);
        while let Some(r) = rows.next().map_err(e)? {
            sampled += 1;
            if let Some(&k) = key_idx
                .iter()
                .find(|&&k| matches!(r.get_ref(k), Ok(Sql::Null)))
            {
                let m = &mut mismatches[k];
                m.0 += 1;
                m.1.get_or_insert_with(|| null_key_reason(table, k, None));
                continue;
            }
            for (i, col) in table.columns.iter().enumerate() {
                let v = r.get_ref(i).map_err(e)?;
                bytes += match v {
                    Sql::Null => 1,
                    Sql::Integer(_) | Sql::Real(_) => 8,
                    Sql::Text(t) | Sql::Blob(t) => t.len() as u64,
                };
                if let Err(reason) = push_value(&mut b, i, col.logical_type, v) {
                    let m = &mut mismatches[i];
                    m.0 += 1;
                    m.1.get_or_insert(reason);
                }
            }
            b.abandon_row();
        }
        // Orphans among the sampled rows only: a whole-table check costs a
        // lookup per row (a second per million), and the load quarantines
        // every orphan exactly anyway; the plan needs the warning.
        let mut orphans = Vec::new();
        for fk in &table.foreign_keys {
            let (join, not_null) = crate::endpoint::sql::fk_predicates(fk);
            if join.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT count(*) FROM (SELECT * FROM {} LIMIT {sample}) c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                quote_ident(&table.name),
                not_null.join(" AND "),
                quote_ident(&fk.ref_table),
                join.join(" AND ")
            );
            let n: i64 = c.query_row(&sql, [], |r| r.get(0)).map_err(e)?;
            if n > 0 {
                orphans.push((fk.ref_table.clone(), n as u64));
            }
        }
        Ok(crate::endpoint::TableProfile {
            sampled,
            avg_row_bytes: bytes.checked_div(sampled).unwrap_or(0),
            mismatches: table
                .columns
                .iter()
                .zip(mismatches)
                .filter(|(_, (n, _))| *n > 0)
                .map(|(c, (n, why))| (c.name.clone(), n, why.unwrap_or_default()))
                .collect(),
            orphans,
        })
    }

    /// What the first `sample` rows of each column hold (for promotions).
    pub fn column_samples(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<Vec<crate::model::ColumnSample>, EndpointError> {
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, Some(&table.name), err);
        let mut out = vec![crate::model::ColumnSample::default(); table.columns.len()];
        if table.columns.is_empty() {
            return Ok(out);
        }
        let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let mut stmt = c
            .prepare(&format!(
                "SELECT {} FROM {} LIMIT {sample}",
                cols.join(", "),
                quote_ident(&table.name)
            ))
            .map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        while let Some(r) = rows.next().map_err(e)? {
            for (i, s) in out.iter_mut().enumerate() {
                match r.get_ref(i).map_err(e)? {
                    Sql::Null => {}
                    Sql::Integer(x) => s.integer(x),
                    Sql::Text(t) => s.text(t),
                    Sql::Real(_) | Sql::Blob(_) => s.other(),
                }
            }
        }
        // A column declared DATETIME/TIMESTAMP is never narrowed to dates
        // (introspection read it as text because it holds other values).
        for (s, col) in out.iter_mut().zip(&table.columns) {
            if super::introspect::declared_timestamp(&col.declared_type) {
                s.dates = 0;
            }
        }
        Ok(out)
    }

    /// Rows in `_ferry_rejects` per run and table; empty when the table is absent.
    pub fn quarantined(&self) -> Result<Vec<crate::endpoint::QuarantineCount>, EndpointError> {
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, Some(REJECTS_TABLE), err);
        let exists: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [REJECTS_TABLE],
                |r| r.get(0),
            )
            .map_err(e)?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let mut stmt = c
            .prepare(&format!(
                "SELECT run_id, table_name, source_key FROM {REJECTS_TABLE} ORDER BY run_id, table_name"
            ))
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(e)?;
        Ok(crate::endpoint::group_quarantine(rows))
    }

    /// Number of rows in a table (for progress bars).
    pub fn count(&self, table: &str) -> Result<u64, EndpointError> {
        let c = self.conn()?;
        c.query_row(
            &format!("SELECT count(*) FROM {}", quote_ident(table)),
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n.max(0) as u64)
        .map_err(|e| q_err(&self.name, Some(table), e))
    }

    /// Streams a table in batches of `batch_size` rows, in key order, calling
    /// `emit` for each. Values that do not fit their column's logical type are
    /// not guessed at: their row goes to `rejects` with the reason.
    /// Blocking: run it on a blocking thread.
    /// Whether `table` has a rowid (is not WITHOUT ROWID): its reads can
    /// resume after a rowid.
    pub fn has_rowid(&self, table: &str) -> Result<bool, EndpointError> {
        let c = self.conn()?;
        Ok(
            c.prepare(&format!("SELECT rowid FROM {} LIMIT 0", quote_ident(table)))
                .is_ok(),
        )
    }

    /// Reads `table` as `scan` says — in rowid (else primary key) order,
    /// after a rowid, or in (cursor, rowid) order after a high-water mark;
    /// `emit` gets each batch, its rejects, the rows it covers, the last
    /// rowid read and (cursor scans) the last cursor value read.
    pub fn read(
        &self,
        table: &TableDef,
        batch_size: usize,
        scan: &crate::endpoint::Scan,
        mut emit: impl FnMut(Batch, Vec<Reject>, u64, Option<i64>, Option<serde_json::Value>) -> bool,
    ) -> Result<(), EndpointError> {
        use crate::endpoint::Scan;
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, Some(&table.name), err);
        let has_rowid = c
            .prepare(&format!(
                "SELECT rowid FROM {} LIMIT 0",
                quote_ident(&table.name)
            ))
            .is_ok();
        let mut last_rowid: Option<i64> = None;
        let mut last_cursor: Option<serde_json::Value> = None;
        let mut cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
        // One ordered scan: SQLite walks the table b-tree in rowid (or, for
        // WITHOUT ROWID tables, primary key) order, so this is keyset order.
        let (key_sel, mut order) = if has_rowid {
            ("rowid", "rowid".to_string())
        } else {
            ("NULL", quote_list(&table.primary_key))
        };
        let mut params: Vec<rusqlite::types::Value> = Vec::new();
        let mut filter = String::new();
        match scan {
            // Key order is the order SQLite stores a table in: free.
            Scan::All | Scan::Unordered => {}
            Scan::AfterKey(after) if has_rowid => {
                filter = "WHERE rowid > ?1".into();
                params.push((*after).into());
            }
            Scan::AfterKey(_) => {}
            Scan::Cursor {
                column,
                after,
                since,
            } => {
                let cur = quote_ident(column);
                // The cursor is read last, after the table's columns.
                cols.push(cur.clone());
                order = format!("{cur}, {order}");
                match (after, since) {
                    (Some((v, key)), _) if has_rowid => {
                        filter = format!("WHERE {cur} > ?1 OR ({cur} = ?1 AND rowid > ?2)");
                        params.push(json_sql(v));
                        params.push((*key).into());
                    }
                    (Some((v, _)), _) | (None, Some(v)) => {
                        filter = format!("WHERE {cur} > ?1");
                        params.push(json_sql(v));
                    }
                    (None, None) => {}
                }
            }
        }
        let with_cursor = matches!(scan, Scan::Cursor { .. });
        let sql = format!(
            "SELECT {key_sel}, {} FROM {} {filter} ORDER BY {order}",
            cols.join(", "),
            quote_ident(&table.name)
        );
        let mut stmt = c.prepare(&sql).map_err(e)?;
        let mut rows = stmt.query(params_from_iter(params)).map_err(e)?;
        let schema = table.schema();
        let key_idx = key_columns(table);
        let mut b = BatchBuilder::new(&schema, batch_size);
        let mut rejects = Vec::new();
        let mut read_in_batch = 0u64;
        while let Some(r) = rows.next().map_err(e)? {
            read_in_batch += 1;
            if has_rowid {
                last_rowid = r.get::<_, i64>(0).ok();
            }
            if with_cursor {
                last_cursor = r.get_ref(table.columns.len() + 1).ok().map(sql_json);
            }
            let rowid = if has_rowid {
                r.get::<_, i64>(0).ok()
            } else {
                None
            };
            // A NULL in a key column (SQLite allows it where the key is not
            // the rowid): no target key can hold the row.
            let mut failed: Option<(usize, &str, String)> = key_idx
                .iter()
                .find(|&&k| matches!(r.get_ref(k + 1), Ok(Sql::Null)))
                .map(|&k| (k, "null-key", null_key_reason(table, k, rowid)));
            if failed.is_none() {
                for (i, col) in table.columns.iter().enumerate() {
                    let v = r.get_ref(i + 1).map_err(e)?;
                    if let Err(reason) = push_value(&mut b, i, col.logical_type, v) {
                        failed = Some((i, "type-mismatch", reason));
                        break;
                    }
                }
            }
            if let Some((i, code, reason)) = failed {
                b.abandon_row();
                rejects.push(read_reject(table, r, rowid, i, code, reason));
            } else {
                b.end_row();
            }
            // Rejects are bounded like rows: a table of bad rows is emitted
            // in batches too.
            if b.len() >= batch_size || rejects.len() >= batch_size {
                if !emit(
                    b.finish(),
                    std::mem::take(&mut rejects),
                    read_in_batch,
                    last_rowid,
                    last_cursor.clone(),
                ) {
                    return Ok(());
                }
                read_in_batch = 0;
            }
        }
        if read_in_batch > 0 {
            emit(b.finish(), rejects, read_in_batch, last_rowid, last_cursor);
        }
        Ok(())
    }
}
