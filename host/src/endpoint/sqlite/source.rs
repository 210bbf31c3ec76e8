//! A SQLite database read as a source.

use super::*;
use crate::endpoint::{EndpointError, REJECTS_TABLE};
use crate::model::{
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, Reject, TableDef, UniqueDef,
};
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

    /// Every user table with its columns, keys, indexes and foreign keys.
    pub fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        let c = self.conn()?;
        let e = |t: Option<&str>, err: rusqlite::Error| q_err(&self.name, t, err);
        let mut stmt = c
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_ferry\\_%' ESCAPE '\\' \
                 ORDER BY rowid",
            )
            .map_err(|x| e(None, x))?;
        let names: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|x| e(None, x))?;
        names.iter().map(|n| self.table(&c, n)).collect()
    }

    pub(super) fn table(&self, c: &Connection, name: &str) -> Result<TableDef, EndpointError> {
        let e = |err: rusqlite::Error| q_err(&self.name, Some(name), err);
        let mut columns = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        {
            let mut stmt = c
                .prepare(&format!("PRAGMA table_xinfo({})", quote_ident(name)))
                .map_err(e)?;
            let mut rows = stmt.query([]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let hidden: i64 = r.get(6).map_err(e)?;
                if hidden != 0 {
                    continue; // generated or hidden columns are not data
                }
                let col: String = r.get(1).map_err(e)?;
                let declared: String = r
                    .get::<_, Option<String>>(2)
                    .map_err(e)?
                    .unwrap_or_default();
                let notnull: i64 = r.get(3).map_err(e)?;
                let default: Option<String> = r.get(4).map_err(e)?;
                let pk_pos: i64 = r.get(5).map_err(e)?;
                if pk_pos > 0 {
                    pk.push((pk_pos, col.clone()));
                }
                columns.push(ColumnDef {
                    name: col,
                    logical_type: logical_type(&declared),
                    declared_type: declared,
                    nullable: notnull == 0,
                    default,
                    ..Default::default()
                });
            }
        }
        pk.sort();
        let primary_key: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();

        let mut foreign_keys: Vec<ForeignKeyDef> = Vec::new();
        {
            let mut stmt = c
                .prepare(&format!("PRAGMA foreign_key_list({})", quote_ident(name)))
                .map_err(e)?;
            let mut rows = stmt.query([]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let id: i64 = r.get(0).map_err(e)?;
                let ref_table: String = r.get(2).map_err(e)?;
                let from: String = r.get(3).map_err(e)?;
                let to: Option<String> = r.get(4).map_err(e)?;
                let on_update: String = r.get(5).map_err(e)?;
                let on_delete: String = r.get(6).map_err(e)?;
                let fk_name = format!("fk_{name}_{id}");
                if let Some(fk) = foreign_keys.iter_mut().find(|f| f.name == fk_name) {
                    fk.columns.push(from);
                    fk.ref_columns.push(to.unwrap_or_default());
                } else {
                    foreign_keys.push(ForeignKeyDef {
                        name: fk_name,
                        columns: vec![from],
                        ref_table,
                        ref_columns: vec![to.unwrap_or_default()],
                        on_delete,
                        on_update,
                    });
                }
            }
        }
        // A FK without explicit parent columns references the parent's PK.
        for fk in &mut foreign_keys {
            if fk.ref_columns.iter().any(String::is_empty) {
                let parent_pk: Vec<String> = c
                    .prepare(&format!(
                        "PRAGMA table_info({})",
                        quote_ident(&fk.ref_table)
                    ))
                    .and_then(|mut s| {
                        let mut v: Vec<(i64, String)> = s
                            .query_map([], |r| Ok((r.get::<_, i64>(5)?, r.get::<_, String>(1)?)))?
                            .collect::<Result<_, _>>()?;
                        v.retain(|(p, _)| *p > 0);
                        v.sort();
                        Ok(v.into_iter().map(|(_, n)| n).collect())
                    })
                    .map_err(e)?;
                fk.ref_columns = parent_pk;
            }
        }

        let mut unique = Vec::new();
        let mut indexes = Vec::new();
        {
            let mut stmt = c
                .prepare(&format!("PRAGMA index_list({})", quote_ident(name)))
                .map_err(e)?;
            let list: Vec<(String, bool, String, bool)> = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)? != 0,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)? != 0,
                    ))
                })
                .and_then(|rows| rows.collect())
                .map_err(e)?;
            for (idx, is_unique, origin, partial) in list {
                if origin == "pk" || partial {
                    // The PK is recreated as a PK; partial indexes need their
                    // WHERE clause translated, which this version does not do.
                    if partial {
                        tracing::warn!(table = name, index = idx, "partial index skipped");
                    }
                    continue;
                }
                let mut s2 = c
                    .prepare(&format!("PRAGMA index_info({})", quote_ident(&idx)))
                    .map_err(e)?;
                let cols: Vec<Option<String>> = s2
                    .query_map([], |r| r.get::<_, Option<String>>(2))
                    .and_then(|rows| rows.collect())
                    .map_err(e)?;
                if cols.iter().any(Option::is_none) {
                    tracing::warn!(table = name, index = idx, "expression index skipped");
                    continue;
                }
                let cols: Vec<String> = cols.into_iter().flatten().collect();
                if origin == "u" {
                    unique.push(UniqueDef {
                        name: format!("{name}_{}_key", cols.join("_")),
                        columns: cols,
                    });
                } else {
                    indexes.push(IndexDef {
                        name: idx,
                        columns: cols,
                        unique: is_unique,
                    });
                }
            }
        }
        unique.reverse();
        indexes.reverse();
        Ok(TableDef {
            name: name.to_string(),
            columns,
            primary_key,
            unique,
            indexes,
            foreign_keys,
            ..Default::default()
        })
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
        while let Some(r) = rows.next().map_err(e)? {
            sampled += 1;
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
            Scan::All => {}
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
            let mut failed: Option<(usize, String)> = None;
            for (i, col) in table.columns.iter().enumerate() {
                let v = r.get_ref(i + 1).map_err(e)?;
                if let Err(reason) = push_value(&mut b, i, col.logical_type, v) {
                    failed = Some((i, reason));
                    break;
                }
            }
            if let Some((i, reason)) = failed {
                b.abandon_row();
                let rowid = if has_rowid {
                    r.get::<_, i64>(0).ok()
                } else {
                    None
                };
                rejects.push(read_reject(table, r, rowid, i, reason));
            } else {
                b.end_row();
            }
            if b.len() >= batch_size {
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
