//! SQLite: introspection, a streaming reader, and a sink.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef as Sql;
use rusqlite::{Connection, OpenFlags, params_from_iter};

use super::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::ledger::Checkpoint;
use crate::model::{
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject, Stage, TableDef,
    UniqueDef, ValueRef,
};

/// An SQL string literal.
fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an SQL identifier (SQLite and PostgreSQL share the syntax).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a list of identifiers, comma-separated: `"a", "b"`.
pub fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps a SQLite declared type to ferry's logical type, following SQLite's
/// own affinity rules (<https://sqlite.org/datatype3.html#determination_of_column_affinity>),
/// refined for exactness:
///
/// | declared type | logical type |
/// | --- | --- |
/// | `BOOLEAN`, `BOOL` | boolean (0/1 only) |
/// | contains `INT` | int64 |
/// | contains `CHAR`, `CLOB`, `TEXT`; or no type at all | text |
/// | contains `BLOB` | bytes |
/// | contains `REAL`, `FLOA`, `DOUB` | float64 |
/// | `JSON`, `JSONB` | json (must parse) |
/// | anything else (`NUMERIC`, `DECIMAL(10,2)`, `DATE`, …) | decimal if every value is numeric … see below |
///
/// Dates and times stay text in this version (`DATE`, `DATETIME`,
/// `TIMESTAMP`, `TIME` → text), so nothing is reinterpreted; promoting them
/// is a plan decision that comes with the full type mapping.
pub fn logical_type(declared: &str) -> LogicalType {
    let d = declared.trim().to_ascii_uppercase();
    let base = d.split('(').next().unwrap_or("").trim();
    match base {
        "BOOLEAN" | "BOOL" => return LogicalType::Boolean,
        "JSON" | "JSONB" => return LogicalType::Json,
        "UUID" => return LogicalType::Uuid,
        // Dates and times are text in SQLite; the plan promotes them by value.
        b if b.starts_with("DATE") || b.starts_with("TIME") => return LogicalType::Text,
        _ => {}
    }
    if d.contains("INT") {
        LogicalType::Int64
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") || d.is_empty() {
        LogicalType::Text
    } else if d.contains("BLOB") {
        LogicalType::Bytes
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        LogicalType::Float64
    } else {
        LogicalType::Decimal
    }
}

/// The declared type a SQLite sink uses for a logical type it has no source
/// declaration for.
fn declared_for(t: LogicalType) -> &'static str {
    match t {
        LogicalType::Boolean => "BOOLEAN",
        LogicalType::Int64 => "INTEGER",
        LogicalType::Float64 => "REAL",
        LogicalType::Decimal => "NUMERIC",
        LogicalType::Text => "TEXT",
        LogicalType::Bytes => "BLOB",
        LogicalType::Json => "TEXT",
        LogicalType::Date => "DATE",
        LogicalType::Time => "TIME",
        LogicalType::Timestamp => "TIMESTAMP",
        LogicalType::Timestamptz => "TIMESTAMPTZ",
        LogicalType::Uuid => "UUID",
    }
}

fn q_err(endpoint: &str, table: Option<&str>, e: impl std::fmt::Display) -> EndpointError {
    EndpointError::Query {
        endpoint: endpoint.to_string(),
        table: table.map(str::to_string),
        reason: e.to_string(),
    }
}

/// A SQLite database read as a source.
pub struct SqliteSource {
    path: PathBuf,
    name: String,
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

    fn conn(&self) -> Result<Connection, EndpointError> {
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

    fn table(&self, c: &Connection, name: &str) -> Result<TableDef, EndpointError> {
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
        })
    }

    /// Samples the first `sample` rows of a table in key order: how many
    /// values of each column would be quarantined under the type rules,
    /// their average size, and rows whose foreign keys point nowhere.
    pub fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<super::TableProfile, EndpointError> {
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
            let (join, not_null) = super::fk_predicates(fk);
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
        Ok(super::TableProfile {
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
    ) -> Result<Vec<crate::cast::ColumnSample>, EndpointError> {
        let c = self.conn()?;
        let e = |err: rusqlite::Error| q_err(&self.name, Some(&table.name), err);
        let mut out = vec![crate::cast::ColumnSample::default(); table.columns.len()];
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
    pub fn quarantined(&self) -> Result<Vec<super::QuarantineCount>, EndpointError> {
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
        Ok(super::group_quarantine(rows))
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
        scan: &super::Scan,
        mut emit: impl FnMut(Batch, Vec<Reject>, u64, Option<i64>, Option<serde_json::Value>) -> bool,
    ) -> Result<(), EndpointError> {
        use super::Scan;
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
            Scan::AfterRowid(after) if has_rowid => {
                filter = "WHERE rowid > ?1".into();
                params.push((*after).into());
            }
            Scan::AfterRowid(_) => {}
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

/// ` ON CONFLICT (pk) DO UPDATE SET c = excluded.c, …`: an incremental run's
/// rows replace the ones with the same key. Same syntax in SQLite and
/// PostgreSQL. Empty for a table without a primary key (rows are appended).
pub fn upsert_clause(def: &TableDef) -> String {
    if def.primary_key.is_empty() {
        return String::new();
    }
    let set: Vec<String> = def
        .columns
        .iter()
        .filter(|c| !def.primary_key.contains(&c.name))
        .map(|c| format!("{q} = excluded.{q}", q = quote_ident(&c.name)))
        .collect();
    if set.is_empty() {
        format!(" ON CONFLICT ({}) DO NOTHING", quote_list(&def.primary_key))
    } else {
        format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            quote_list(&def.primary_key),
            set.join(", ")
        )
    }
}

/// A high-water mark's value (as [`sql_json`] made it) bound back for SQLite.
fn json_sql(v: &serde_json::Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        serde_json::Value::Null => V::Null,
        serde_json::Value::Bool(b) => V::Integer(i64::from(*b)),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => V::Integer(i),
            None => V::Real(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => V::Text(s.clone()),
        other => V::Text(other.to_string()),
    }
}

fn sql_json(v: Sql<'_>) -> serde_json::Value {
    match v {
        Sql::Null => serde_json::Value::Null,
        Sql::Integer(i) => i.into(),
        Sql::Real(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| f.to_string().into()),
        Sql::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => s.into(),
            Err(_) => format!("\\x{}", hex::encode(t)).into(),
        },
        Sql::Blob(b) => format!("\\x{}", hex::encode(b)).into(),
    }
}

fn read_reject(
    table: &TableDef,
    r: &rusqlite::Row<'_>,
    rowid: Option<i64>,
    col: usize,
    reason: String,
) -> Reject {
    let mut obj = serde_json::Map::new();
    for (i, c) in table.columns.iter().enumerate() {
        let v = r
            .get_ref(i + 1)
            .map(sql_json)
            .unwrap_or(serde_json::Value::Null);
        obj.insert(c.name.clone(), v);
    }
    let source_key = if !table.primary_key.is_empty() {
        let key: Vec<String> = table
            .primary_key
            .iter()
            .map(|k| obj.get(k).map(|v| v.to_string()).unwrap_or_default())
            .collect();
        Some(key.join(","))
    } else {
        rowid.map(|id| format!("rowid={id}"))
    };
    Reject {
        table: table.name.clone(),
        source_key,
        stage: Stage::Read,
        plugin: None,
        column: Some(table.columns[col].name.clone()),
        code: "type-mismatch".into(),
        reason,
        row: serde_json::Value::Object(obj),
    }
}

/// A stored value as quoted in a quarantine reason ([`crate::model::shown`]).
fn shown(t: &[u8]) -> String {
    crate::model::shown(&String::from_utf8_lossy(t))
}

/// Whether `s` is a decimal number PostgreSQL's `numeric` accepts exactly.
pub fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            // Up to 4 exponent digits: PostgreSQL's numeric range ends near
            // 1e131072, so a longer exponent is out of range anyway.
            !e.is_empty() && e.len() <= 4 && digits(e)
        }
    };
    mantissa_ok && exp_ok
}

/// Converts one SQLite value into the column's logical type, exactly, or
/// says why it cannot. These rules are the documented "dirty data" rules.
fn push_value(b: &mut BatchBuilder, i: usize, t: LogicalType, v: Sql<'_>) -> Result<(), String> {
    if let Sql::Null = v {
        b.push_null(i);
        return Ok(());
    }
    let kind = match v {
        Sql::Integer(_) => "integer",
        Sql::Real(_) => "real",
        Sql::Text(_) => "text",
        Sql::Blob(_) => "blob",
        Sql::Null => "null",
    };
    let mismatch =
        |detail: String| format!("{kind} value {detail} cannot be stored as {t} without loss");
    match t {
        LogicalType::Boolean => match v {
            Sql::Integer(0) => b.push_bool(i, false),
            Sql::Integer(1) => b.push_bool(i, true),
            Sql::Text(b"true" | b"TRUE" | b"t") => b.push_bool(i, true),
            Sql::Text(b"false" | b"FALSE" | b"f") => b.push_bool(i, false),
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            _ => return Err(mismatch(String::new())),
        },
        LogicalType::Int64 => match v {
            Sql::Integer(x) => b.push_int(i, x),
            Sql::Real(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => b.push_int(i, x as i64),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Float64 => match v {
            Sql::Real(x) => b.push_float(i, x),
            // 2^53: beyond it not every integer has an exact double.
            Sql::Integer(x) if x.unsigned_abs() <= (1u64 << 53) => b.push_float(i, x as f64),
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Decimal => match v {
            Sql::Integer(x) => b
                .push_bytes(i, x.to_string().as_bytes())
                .map_err(|e| e.to_string())?,
            Sql::Real(x) if x.is_finite() => b
                .push_bytes(i, x.to_string().as_bytes())
                .map_err(|e| e.to_string())?,
            Sql::Text(s) if std::str::from_utf8(s).is_ok_and(is_decimal) => {
                b.push_bytes(i, s).map_err(|e| e.to_string())?
            }
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Text(s) => return Err(mismatch(format!("'{}'", shown(s)))),
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Text | LogicalType::Json => {
            let text: std::borrow::Cow<'_, [u8]> = match v {
                Sql::Text(s) => match std::str::from_utf8(s) {
                    Ok(_) => s.into(),
                    Err(err) => {
                        return Err(format!(
                            "text is not valid UTF-8 (invalid byte at offset {})",
                            err.valid_up_to()
                        ));
                    }
                },
                // Numbers in a text column are carried as their exact decimal text.
                Sql::Integer(x) => x.to_string().into_bytes().into(),
                Sql::Real(x) => x.to_string().into_bytes().into(),
                Sql::Blob(x) => {
                    return Err(format!(
                        "blob of {} bytes in a {t} column; ferry does not guess an encoding",
                        x.len()
                    ));
                }
                Sql::Null => unreachable!("handled above"),
            };
            if t == LogicalType::Json
                && serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_err()
            {
                return Err(format!("'{}' is not valid JSON", shown(&text)));
            }
            b.push_bytes(i, &text).map_err(|e| e.to_string())?;
        }
        LogicalType::Bytes => match v {
            Sql::Blob(x) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
            // Text in a BLOB column is carried as its exact bytes.
            Sql::Text(x) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Null => unreachable!("handled above"),
        },
        LogicalType::Uuid => match v {
            Sql::Blob(x) if x.len() == 16 => {
                let mut u = [0u8; 16];
                u.copy_from_slice(x);
                b.push_uuid(i, &u)
            }
            Sql::Text(s) => match std::str::from_utf8(s)
                .ok()
                .and_then(crate::model::temporal::parse_uuid)
            {
                Some(u) => b.push_uuid(i, &u),
                None => return Err(mismatch(format!("'{}'", shown(s)))),
            },
            Sql::Blob(x) => return Err(mismatch(format!("of {} bytes", x.len()))),
            Sql::Integer(x) => return Err(mismatch(x.to_string())),
            Sql::Real(x) => return Err(mismatch(x.to_string())),
            Sql::Null => unreachable!("handled above"),
        },
        // Declared types never map to these; a plan that promoted a column
        // (or verify, reading a target ferry wrote) reads ISO text strictly.
        LogicalType::Date
        | LogicalType::Time
        | LogicalType::Timestamp
        | LogicalType::Timestamptz => {
            use crate::model::temporal as tm;
            let text = match v {
                Sql::Text(s) => std::str::from_utf8(s).ok(),
                _ => None,
            };
            let parsed = text.and_then(|s| match t {
                LogicalType::Date => tm::parse_date(s).map(|d| b.push_date(i, d)),
                LogicalType::Time => tm::parse_time(s).map(|x| b.push_int(i, x)),
                LogicalType::Timestamp => tm::parse_timestamp(s).map(|x| b.push_int(i, x)),
                _ => tm::parse_timestamptz(s).map(|x| b.push_int(i, x)),
            });
            if parsed.is_none() {
                return Err(mismatch(match v {
                    Sql::Text(s) => format!("'{}'", shown(s)),
                    Sql::Integer(x) => x.to_string(),
                    Sql::Real(x) => x.to_string(),
                    Sql::Blob(x) => format!("of {} bytes", x.len()),
                    Sql::Null => String::new(),
                }));
            }
        }
    }
    Ok(())
}

/// A SQLite database written as a sink.
pub struct SqliteSink {
    conn: Connection,
    name: String,
    path: PathBuf,
}

impl SqliteSink {
    pub fn open(path: &Path) -> Result<SqliteSink, EndpointError> {
        let name = format!("sqlite:{}", path.display());
        let conn = Connection::open(path).map_err(|e| EndpointError::Connect {
            endpoint: name.clone(),
            reason: e.to_string(),
        })?;
        // WAL + NORMAL: each batch's commit is durable against a process
        // crash, and the load does not fsync the whole file per batch.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;",
        )
        .map_err(|e| EndpointError::Connect {
            endpoint: name.clone(),
            reason: e.to_string(),
        })?;
        Ok(SqliteSink {
            conn,
            name,
            path: path.to_path_buf(),
        })
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    fn err(&self, table: Option<&str>, e: impl std::fmt::Display) -> EndpointError {
        q_err(&self.name, table, e)
    }

    /// Deletes the rows of `table` whose `column` is one of `values` (and,
    /// with `eq`, whose other column equals a value), in one transaction.
    pub fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| q_err(&self.name, Some(table), e))?;
        let mut n = 0u64;
        // 500 values per statement: under SQLite's 32,766 host parameters.
        for chunk in values.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let filter = match eq {
                Some((c, v)) => {
                    params.push(v);
                    format!(" AND {} = ?", quote_ident(c))
                }
                None => String::new(),
            };
            let sql = format!(
                "DELETE FROM {} WHERE {} IN ({marks}){filter}",
                quote_ident(table),
                quote_ident(column)
            );
            n += tx
                .execute(&sql, rusqlite::params_from_iter(params))
                .map_err(|e| q_err(&self.name, Some(table), e))? as u64;
        }
        tx.commit().map_err(|e| q_err(&self.name, Some(table), e))?;
        Ok(n)
    }

    pub fn existing_tables(&self, names: &[String]) -> Result<Vec<String>, EndpointError> {
        let mut out = Vec::new();
        for n in names {
            if self.exists(n)? {
                out.push(n.clone());
            }
        }
        Ok(out)
    }

    fn exists(&self, table: &str) -> Result<bool, EndpointError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(Some(table), e))
    }

    pub fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        for t in tables {
            if self.exists(&t.def.name)? {
                match if_exists {
                    IfExists::Fail => {
                        return Err(EndpointError::TargetExists {
                            endpoint: self.name.clone(),
                            table: t.def.name.clone(),
                        });
                    }
                    IfExists::Drop => self
                        .conn
                        .execute_batch(&format!("DROP TABLE {}", quote_ident(&t.def.name)))
                        .map_err(|e| self.err(Some(&t.def.name), e))?,
                }
            }
        }
        let mut ddl = String::from("BEGIN;\n");
        for t in tables {
            ddl.push_str(&create_table_sql(t));
            ddl.push_str(";\n");
        }
        ddl.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (run_id TEXT NOT NULL, table_name TEXT NOT NULL, \
             source_key TEXT, stage TEXT NOT NULL, plugin TEXT, column_name TEXT, code TEXT NOT NULL, \
             reason TEXT NOT NULL, row_data TEXT NOT NULL, rejected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));\nCOMMIT;"
        ));
        self.conn
            .execute_batch(&ddl)
            .map_err(|e| self.err(None, format!("creating tables: {e}")))
    }

    pub fn write(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
        checkpoint: Option<&Checkpoint>,
        upsert: bool,
    ) -> Result<WriteOutcome, EndpointError> {
        let name = table.def.name.clone();
        let on_conflict = if upsert {
            upsert_clause(&table.def)
        } else {
            String::new()
        };
        let err = |e: rusqlite::Error| q_err(&self.name, Some(&name), e);
        // Decimals that SQLite's NUMERIC affinity would round (more digits
        // than a double holds) are rejected with the reason, not stored changed.
        let sink_rejects = decimals_numeric_affinity_would_change(batch, table);
        let owned;
        let batch = if sink_rejects.is_empty() {
            batch
        } else {
            let schema = table.def.schema();
            let mut keep = vec![true; batch.num_rows];
            for (row, _) in &sink_rejects {
                keep[*row] = false;
            }
            owned = batch.retain(&schema, &keep);
            &owned
        };
        let sink_rejects: Vec<Reject> = sink_rejects.into_iter().map(|(_, r)| r).collect();
        let tx = self.conn.transaction().map_err(err)?;
        // Rows filtered out above are not in `batch`; rows a key refuses
        // below are, so only those reduce the written count.
        let mut sink_rejects = sink_rejects;
        let filtered = sink_rejects.len();
        let ncols = table.def.columns.len().max(1);
        // SQLite's default limit on bound parameters is 32,766; stay under it.
        let rows_per_stmt = (32_000 / ncols).clamp(1, 500);
        let cols: Vec<String> = table
            .def
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        let placeholders = format!("({})", vec!["?"; table.def.columns.len()].join(","));
        let mut start = 0;
        while start < batch.num_rows {
            let n = rows_per_stmt.min(batch.num_rows - start);
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}{on_conflict}",
                quote_ident(&name),
                cols.join(","),
                vec![placeholders.as_str(); n].join(",")
            );
            let mut stmt = tx.prepare_cached(&sql).map_err(err)?;
            let params = (start..start + n)
                .flat_map(|r| (0..table.def.columns.len()).map(move |c| (r, c)))
                .map(|(r, c)| to_sql(batch.value(r, c), table.def.columns[c].logical_type));
            match stmt.execute(params_from_iter(params)) {
                Ok(_) => {}
                // A key declared in CREATE TABLE refused a row: the failed
                // statement changed nothing, so insert these rows one by one
                // and quarantine exactly the ones the key refuses.
                Err(e) if is_constraint(&e) => {
                    let one = format!(
                        "INSERT INTO {} ({}) VALUES {placeholders}{on_conflict}",
                        quote_ident(&name),
                        cols.join(",")
                    );
                    let mut stmt1 = tx.prepare_cached(&one).map_err(err)?;
                    for r in start..start + n {
                        let params = (0..table.def.columns.len())
                            .map(|c| to_sql(batch.value(r, c), table.def.columns[c].logical_type));
                        match stmt1.execute(params_from_iter(params)) {
                            Ok(_) => {}
                            Err(e) if is_constraint(&e) => {
                                let schema = table.def.schema();
                                sink_rejects.push(Reject {
                                    table: table.source.name.clone(),
                                    source_key: batch.source_key(&schema, &table.def.primary_key, r),
                                    stage: Stage::Write,
                                    plugin: None,
                                    column: Some(table.def.primary_key.join(",")),
                                    code: if e.to_string().contains("NOT NULL") {
                                        "not-null".into()
                                    } else {
                                        "duplicate-key".into()
                                    },
                                    reason: format!("the target refused the row: {e}; the first row loaded keeps the key"),
                                    row: batch.row_json(&schema, r),
                                });
                            }
                            Err(e) => return Err(err(e)),
                        }
                    }
                }
                Err(e) => return Err(err(e)),
            }
            start += n;
        }
        insert_rejects(&tx, run_id, rejects).map_err(err)?;
        insert_rejects(&tx, run_id, &sink_rejects).map_err(err)?;
        let written = (batch.num_rows - (sink_rejects.len() - filtered)) as u64;
        if let Some(cp) = checkpoint {
            let mut cp = cp.clone();
            cp.rows_written += written;
            cp.rows_rejected += (rejects.len() + sink_rejects.len()) as u64;
            save_checkpoint(&tx, &cp).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(WriteOutcome {
            written,
            rejected: sink_rejects,
        })
    }

    pub fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<super::Finished, EndpointError> {
        let mut done = Vec::new();
        let mut warnings = Vec::new();
        let mut moved = super::MovedRows::default();
        for t in tables {
            // UNIQUE constraints become unique indexes: SQLite cannot add constraints later.
            let uniques = t
                .def
                .unique
                .iter()
                .map(|u| (u.name.as_str(), &u.columns, true, "unique"));
            let indexes = t
                .def
                .indexes
                .iter()
                .map(|i| (i.name.as_str(), &i.columns, i.unique, "index"));
            for (name, columns, unique, what) in uniques.chain(indexes) {
                let sql = format!(
                    // IF NOT EXISTS: a resumed run may find it built already.
                    "CREATE {}INDEX IF NOT EXISTS {} ON {} ({})",
                    if unique { "UNIQUE " } else { "" },
                    quote_ident(name),
                    quote_ident(&t.def.name),
                    quote_list(columns)
                );
                // Created first; only if duplicates refuse it are they moved
                // to quarantine (clean data pays one index build, no more).
                match self.conn.execute_batch(&sql) {
                    Ok(()) => {}
                    Err(e) if unique && is_constraint(&e) => {
                        let n = self.quarantine_duplicates(run_id, t, name, columns)?;
                        moved.add(&t.source.name, n);
                        self.conn
                            .execute_batch(&sql)
                            .map_err(|e| self.err(Some(&t.def.name), e))?;
                    }
                    Err(e) => return Err(self.err(Some(&t.def.name), e)),
                }
                done.push(format!("{what} {name}"));
                crate::ledger::failpoint("constraint");
            }
        }
        // SQLite declares keys and foreign keys in CREATE TABLE; report them
        // and check that the loaded data satisfies the foreign keys.
        for t in tables {
            if !t.def.primary_key.is_empty() {
                done.push(format!("primary key {}", t.def.name));
            }
            for fk in &t.def.foreign_keys {
                done.push(format!("foreign key {}", fk.name));
            }
        }
        // Orphans: moving a child can orphan its own children; repeat
        // until a pass finds none (at most one pass per table, plus one).
        for _ in 0..=tables.len() {
            let mut any = false;
            for t in tables {
                let n = self.quarantine_orphans(run_id, t)?;
                moved.add(&t.source.name, n);
                any |= n > 0;
            }
            if !any {
                break;
            }
        }
        warnings.extend(moved.warnings());
        Ok(super::Finished {
            created: done,
            warnings,
            quarantined: moved.into_vec(),
        })
    }

    /// Moves the rows at `rowids` to the rejects table, in one transaction.
    fn move_rows(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        rowids: &[(i64, String)],
        column: &str,
        code: &str,
    ) -> Result<u64, EndpointError> {
        if rowids.is_empty() {
            return Ok(0);
        }
        let name = t.def.name.clone();
        let endpoint = self.name.clone();
        let err = |e: rusqlite::Error| q_err(&endpoint, Some(&name), e);
        let tx = self.conn.transaction().map_err(err)?;
        let mut rejects = Vec::new();
        {
            let cols = quote_list(
                &t.def
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>(),
            );
            let mut get = tx
                .prepare(&format!(
                    "SELECT {cols} FROM {} WHERE rowid = ?1",
                    quote_ident(&name)
                ))
                .map_err(err)?;
            let mut del = tx
                .prepare(&format!(
                    "DELETE FROM {} WHERE rowid = ?1",
                    quote_ident(&name)
                ))
                .map_err(err)?;
            for (rowid, reason) in rowids {
                let row = get
                    .query_row([rowid], |r| {
                        let mut obj = serde_json::Map::new();
                        for (i, c) in t.def.columns.iter().enumerate() {
                            obj.insert(c.name.clone(), sql_json(r.get_ref(i)?));
                        }
                        Ok(serde_json::Value::Object(obj))
                    })
                    .map_err(err)?;
                let key = (!t.def.primary_key.is_empty()).then(|| {
                    t.def
                        .primary_key
                        .iter()
                        .map(|k| row.get(k).map(|v| v.to_string()).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(",")
                });
                del.execute([rowid]).map_err(err)?;
                rejects.push(Reject {
                    table: t.source.name.clone(),
                    source_key: key,
                    stage: Stage::Write,
                    plugin: None,
                    column: Some(column.to_string()),
                    code: code.to_string(),
                    reason: reason.clone(),
                    row,
                });
            }
        }
        insert_rejects(&tx, run_id, &rejects).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(rejects.len() as u64)
    }

    /// Moves rows repeating an earlier row's `cols` to the rejects table
    /// (the first loaded keeps the value).
    fn quarantine_duplicates(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        what: &str,
        cols: &[String],
    ) -> Result<u64, EndpointError> {
        let tn = quote_ident(&t.def.name);
        let list = quote_list(cols);
        let not_null: Vec<String> = cols
            .iter()
            .map(|c| format!("{} IS NOT NULL", quote_ident(c)))
            .collect();
        let sql = format!(
            "SELECT rowid, {list} FROM (SELECT rowid, {list}, row_number() OVER (PARTITION BY {list} ORDER BY rowid) AS rn \
             FROM {tn} WHERE {}) WHERE rn > 1",
            not_null.join(" AND ")
        );
        let found: Vec<(i64, String)> = {
            let mut stmt = match self.conn.prepare(&sql) {
                Ok(s) => s,
                // WITHOUT ROWID tables have no rowid; their keys are declared
                // in CREATE TABLE and enforced on insert already.
                Err(_) => return Ok(0),
            };
            stmt.query_map([], |r| {
                let vals: Vec<String> = (1..=cols.len())
                    .map(|i| r.get_ref(i).map(|v| sql_json(v).to_string()))
                    .collect::<Result<_, _>>()?;
                Ok((
                    r.get::<_, i64>(0)?,
                    format!(
                        "{what} ({}): the value {} is already taken by an earlier row; the first row loaded keeps it",
                        cols.join(", "),
                        vals.join(",")
                    ),
                ))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(Some(&t.def.name), e))?
        };
        self.move_rows(run_id, t, &found, &cols.join(","), "duplicate-key")
    }

    /// Moves rows whose foreign key matches no parent row (per SQLite's own
    /// `foreign_key_check`) to the rejects table.
    fn quarantine_orphans(&mut self, run_id: &str, t: &TargetTable) -> Result<u64, EndpointError> {
        let found: Vec<(i64, i64)> = {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT rowid, fkid FROM pragma_foreign_key_check({}) WHERE rowid IS NOT NULL",
                    sql_literal(&t.def.name)
                ))
                .map_err(|e| self.err(Some(&t.def.name), e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect())
                .map_err(|e| self.err(Some(&t.def.name), e))?
        };
        // pragma foreign_key_list numbers a table's FKs in reverse declaration order.
        let nfk = t.def.foreign_keys.len() as i64;
        let mut by_fk: std::collections::BTreeMap<i64, Vec<(i64, String)>> = Default::default();
        for (rowid, fkid) in found {
            let fk = usize::try_from(nfk - 1 - fkid)
                .ok()
                .and_then(|i| t.def.foreign_keys.get(i));
            let reason = match fk {
                Some(fk) => format!(
                    "foreign key {}: no `{}` row has ({}) equal to this row's ({})",
                    fk.name,
                    fk.ref_table,
                    fk.ref_columns.join(", "),
                    fk.columns.join(", ")
                ),
                None => "a foreign key points at a missing row".to_string(),
            };
            by_fk.entry(fkid).or_default().push((rowid, reason));
        }
        let mut n = 0;
        for (fkid, rows) in by_fk {
            let col = usize::try_from(nfk - 1 - fkid)
                .ok()
                .and_then(|i| t.def.foreign_keys.get(i))
                .map(|fk| fk.columns.join(","))
                .unwrap_or_default();
            n += self.move_rows(run_id, t, &rows, &col, "fk-orphan")?;
        }
        Ok(n)
    }
}

/// `(row, reject)` for each row holding a decimal that SQLite's NUMERIC
/// affinity would store as a different number (first such column per row).
fn decimals_numeric_affinity_would_change(
    batch: &Batch,
    table: &TargetTable,
) -> Vec<(usize, Reject)> {
    let schema = table.def.schema();
    let decimals: Vec<usize> = (0..table.def.columns.len())
        .filter(|&c| table.def.columns[c].logical_type == LogicalType::Decimal)
        .collect();
    let mut out = Vec::new();
    if decimals.is_empty() {
        return out;
    }
    for r in 0..batch.num_rows {
        let bad = decimals.iter().find_map(|&c| match batch.value(r, c) {
            ValueRef::Text(s) if !numeric_affinity_keeps(s) => Some((c, s)),
            _ => None,
        });
        if let Some((c, s)) = bad {
            out.push((
                r,
                Reject {
                    table: table.source.name.clone(),
                    source_key: batch.source_key(&schema, &table.source.primary_key, r),
                    stage: Stage::Write,
                    plugin: None,
                    column: Some(table.def.columns[c].name.clone()),
                    code: "decimal-precision".into(),
                    reason: format!(
                        "decimal {} has more significant digits than SQLite's NUMERIC storage (a 64-bit integer or a double) keeps; it would be stored as {}",
                        shown(s.as_bytes()),
                        s.parse::<f64>().map(|f| f.to_string()).unwrap_or_default()
                    ),
                    row: batch.row_json(&schema, r),
                },
            ));
        }
    }
    out
}

/// Whether SQLite's NUMERIC affinity stores decimal text `s` as the same
/// number: integers that fit 64 bits are stored exactly; other numbers become
/// the nearest double, which is the same number only when that double
/// prints back as it (`1.500000` → 1.5 yes; `12345678901234.123456` no).
fn numeric_affinity_keeps(s: &str) -> bool {
    if s.parse::<i64>().is_ok() {
        return true;
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => decimal_key(s) == decimal_key(&f.to_string()),
        _ => false,
    }
}

/// A decimal's value as (negative, significant digits, exponent of the first
/// digit), so equal numbers written differently compare equal.
fn decimal_key(s: &str) -> Option<(bool, String, i64)> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let Some(first) = digits.find(|c| c != '0') else {
        return Some((false, String::new(), 0));
    };
    let sig = digits[first..].trim_end_matches('0').to_string();
    let e = (int.len() as i64)
        .saturating_add(exp)
        .saturating_sub(first as i64);
    Some((neg, sig, e))
}

/// The ledger's tables, by version: each entry upgrades from the one before.
const LEDGER_MIGRATIONS: &[(i64, &str)] = &[
    (
    1,
    "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id TEXT PRIMARY KEY, status TEXT NOT NULL, \
     phase TEXT NOT NULL, mode TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, \
     fingerprint TEXT, plan TEXT, started_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
     finished_at TEXT, report TEXT, error TEXT);
     CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id TEXT NOT NULL, table_name TEXT NOT NULL, \
     position INTEGER, rows_read INTEGER NOT NULL, rows_written INTEGER NOT NULL, \
     rows_rejected INTEGER NOT NULL, done INTEGER NOT NULL, updated_at TEXT NOT NULL, \
     PRIMARY KEY (run_id, table_name));",
    ),
    (
        2,
        "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id TEXT NOT NULL, table_name TEXT NOT NULL, \
     kind TEXT NOT NULL, backup_ref TEXT, pre_rows INTEGER NOT NULL, pre_checksum TEXT, \
     created_at TEXT NOT NULL, PRIMARY KEY (run_id, table_name));",
    ),
    (
        3,
        "ALTER TABLE _ferry_checkpoints ADD COLUMN cursor_column TEXT; \
         ALTER TABLE _ferry_checkpoints ADD COLUMN cursor_value TEXT;",
    ),
    (4, "ALTER TABLE _ferry_checkpoints ADD COLUMN target_offsets TEXT;"),
];

fn save_checkpoint(c: &Connection, cp: &Checkpoint) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO _ferry_checkpoints (run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (run_id, table_name) DO UPDATE SET position = excluded.position, rows_read = excluded.rows_read, \
         rows_written = excluded.rows_written, rows_rejected = excluded.rows_rejected, done = excluded.done, updated_at = excluded.updated_at, \
         cursor_column = excluded.cursor_column, cursor_value = excluded.cursor_value, target_offsets = excluded.target_offsets",
        rusqlite::params![
            cp.run_id,
            cp.table,
            cp.position,
            cp.rows_read as i64,
            cp.rows_written as i64,
            cp.rows_rejected as i64,
            cp.done,
            crate::ledger::now(),
            cp.cursor_column,
            cp.cursor_value,
            cp.offsets,
        ],
    )?;
    Ok(())
}

impl SqliteSink {
    /// Rows and an order-independent checksum of a table's content
    /// (SHA-256 over the sorted per-row hashes of typed values); `None`
    /// when the table does not exist.
    pub fn table_checksum(&self, table: &str) -> Result<Option<(u64, String)>, EndpointError> {
        use sha2::{Digest, Sha256};
        if !self.exists(table)? {
            return Ok(None);
        }
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        let mut st = self
            .conn
            .prepare(&format!("SELECT * FROM {}", quote_ident(table)))
            .map_err(err)?;
        let n = st.column_count();
        let mut rows = st.query([]).map_err(err)?;
        let mut hashes: Vec<[u8; 32]> = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut h = Sha256::new();
            for i in 0..n {
                match r.get_ref(i).map_err(err)? {
                    Sql::Null => h.update(b"n"),
                    Sql::Integer(v) => {
                        h.update(b"i");
                        h.update(v.to_le_bytes());
                    }
                    Sql::Real(v) => {
                        h.update(b"r");
                        h.update(v.to_bits().to_le_bytes());
                    }
                    Sql::Text(t) => {
                        h.update(b"t");
                        h.update((t.len() as u64).to_le_bytes());
                        h.update(t);
                    }
                    Sql::Blob(b) => {
                        h.update(b"b");
                        h.update((b.len() as u64).to_le_bytes());
                        h.update(b);
                    }
                }
            }
            hashes.push(h.finalize().into());
        }
        hashes.sort_unstable();
        let mut all = Sha256::new();
        for h in &hashes {
            all.update(h);
        }
        Ok(Some((hashes.len() as u64, hex::encode(all.finalize()))))
    }

    /// A consistent copy of the whole database file next to it
    /// (`VACUUM INTO`), taken before a run replaces tables; its path.
    pub fn snapshot(&mut self, run_id: &str) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let file = self.path.with_file_name(format!(
            "{}.ferry-backup-{short}.db",
            self.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_file(&file);
        self.conn
            .execute("VACUUM INTO ?1", [file.to_string_lossy()])
            .map_err(|e| {
                q_err(
                    &self.name,
                    None,
                    format!("snapshot to {}: {e}", file.display()),
                )
            })?;
        Ok(file.to_string_lossy().into_owned())
    }

    /// Puts `table` back as it was before a run: gone (`absent`), or as in
    /// the snapshot (`snapshot`, with its indexes), in one transaction.
    pub fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        if let (Some(file), "snapshot") = (backup, kind) {
            self.conn
                .execute("ATTACH DATABASE ?1 AS ferry_snap", [file])
                .map_err(err)?;
        }
        let res = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            tx.execute_batch(&format!("DROP TABLE IF EXISTS main.{}", quote_ident(table)))?;
            if kind == "snapshot" {
                let ddl: Vec<String> = {
                    let mut st = tx.prepare(
                        "SELECT sql FROM ferry_snap.sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL \
                         ORDER BY type = 'table' DESC",
                    )?;
                    st.query_map([table], |r| r.get(0))?
                        .collect::<Result<_, _>>()?
                };
                let (create, indexes) = ddl
                    .split_first()
                    .map(|(c, i)| (c.clone(), i.to_vec()))
                    .unwrap_or_default();
                tx.execute_batch(&create)?;
                tx.execute_batch(&format!(
                    "INSERT INTO main.{t} SELECT * FROM ferry_snap.{t}",
                    t = quote_ident(table)
                ))?;
                for ix in indexes {
                    tx.execute_batch(&ix)?;
                }
            }
            tx.commit()
        })();
        if kind == "snapshot" {
            let _ = self.conn.execute_batch("DETACH DATABASE ferry_snap");
        }
        res.map_err(err)
    }

    /// Deletes a run's rows from the rejects table (a rolled-back run leaves none).
    pub fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.exists(REJECTS_TABLE)? {
            return Ok(());
        }
        self.conn
            .execute(
                &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?1"),
                [run_id],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(REJECTS_TABLE), e))
    }

    /// Records what undoing a run needs for one table.
    pub fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![b.run_id, b.table, b.kind, b.backup_ref, b.pre_rows as i64, b.pre_checksum, crate::ledger::now()],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(crate::ledger::BACKUPS_TABLE), e))
    }

    /// What undoing a run needs (empty for a run that recorded none).
    pub fn backups(&self, run_id: &str) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::BACKUPS_TABLE), e);
        if !self.exists(crate::ledger::BACKUPS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, table_name, kind, backup_ref, pre_rows, pre_checksum FROM _ferry_backups WHERE run_id = ?1 ORDER BY table_name",
            )
            .map_err(err)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(crate::ledger::Backup {
                    run_id: r.get(0)?,
                    table: r.get(1)?,
                    kind: r.get(2)?,
                    backup_ref: r.get(3)?,
                    pre_rows: r.get::<_, i64>(4)? as u64,
                    pre_checksum: r.get(5)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Creates or upgrades the ledger tables (see [`crate::ledger`]).
    pub fn ledger_init(&mut self) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::LEDGER_TABLE), e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS _ferry_ledger (version INTEGER NOT NULL, applied_at TEXT NOT NULL)",
        )
        .map_err(err)?;
        let have: i64 = tx
            .query_row(
                "SELECT coalesce(max(version), 0) FROM _ferry_ledger",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if have > crate::ledger::LEDGER_VERSION {
            return Err(q_err(
                &self.name,
                Some(crate::ledger::LEDGER_TABLE),
                format!(
                    "the ledger is version {have}, written by a newer ferry (this one knows {}); upgrade ferry",
                    crate::ledger::LEDGER_VERSION
                ),
            ));
        }
        for (v, ddl) in LEDGER_MIGRATIONS.iter().filter(|(v, _)| *v > have) {
            tx.execute_batch(ddl).map_err(err)?;
            tx.execute(
                "INSERT INTO _ferry_ledger (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![v, crate::ledger::now()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Inserts or updates a run.
    pub fn save_run(&mut self, r: &crate::ledger::RunRecord) -> Result<(), EndpointError> {
        self.conn
            .execute(
                "INSERT INTO _ferry_runs (run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, phase = excluded.phase, mode = excluded.mode, \
                 fingerprint = excluded.fingerprint, plan = coalesce(excluded.plan, _ferry_runs.plan), updated_at = excluded.updated_at, \
                 finished_at = excluded.finished_at, report = excluded.report, error = excluded.error",
                rusqlite::params![
                    r.run_id, r.status, r.phase, r.mode, r.source, r.target, r.fingerprint, r.plan,
                    r.started_at, r.updated_at, r.finished_at, r.report, r.error
                ],
            )
            .map(|_| ())
            .map_err(|e| q_err(&self.name, Some(crate::ledger::RUNS_TABLE), e))
    }

    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    pub fn runs(
        &self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::RunRecord>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::RUNS_TABLE), e);
        if !self.exists(crate::ledger::RUNS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error \
                 FROM _ferry_runs WHERE ?1 IS NULL OR run_id = ?1 ORDER BY started_at DESC, run_id",
            )
            .map_err(err)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(crate::ledger::RunRecord {
                    run_id: r.get(0)?,
                    status: r.get(1)?,
                    phase: r.get(2)?,
                    mode: r.get(3)?,
                    source: r.get(4)?,
                    target: r.get(5)?,
                    fingerprint: r.get(6)?,
                    plan: r.get(7)?,
                    started_at: r.get(8)?,
                    updated_at: r.get(9)?,
                    finished_at: r.get(10)?,
                    report: r.get(11)?,
                    error: r.get(12)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// The checkpoints of a run.
    pub fn checkpoints(&self, run_id: &str) -> Result<Vec<Checkpoint>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::CHECKPOINTS_TABLE), e);
        if !self.exists(crate::ledger::CHECKPOINTS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets \
                 FROM _ferry_checkpoints WHERE run_id = ?1 ORDER BY table_name",
            )
            .map_err(err)?;
        let rows = st
            .query_map([run_id], |r| {
                Ok(Checkpoint {
                    run_id: r.get(0)?,
                    table: r.get(1)?,
                    position: r.get(2)?,
                    rows_read: r.get::<_, i64>(3)? as u64,
                    rows_written: r.get::<_, i64>(4)? as u64,
                    rows_rejected: r.get::<_, i64>(5)? as u64,
                    done: r.get(6)?,
                    updated_at: r.get(7)?,
                    cursor_column: r.get(8)?,
                    cursor_value: r.get(9)?,
                    offsets: r.get(10)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Per table, the newest high-water mark of any run not rolled back:
    /// (cursor column, cursor value as JSON, rowid).
    pub fn marks(&self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(crate::ledger::CHECKPOINTS_TABLE), e);
        if !self.exists(crate::ledger::CHECKPOINTS_TABLE)? {
            return Ok(Vec::new());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT c.table_name, c.cursor_column, c.cursor_value, c.position FROM _ferry_checkpoints c \
                 JOIN _ferry_runs r ON r.run_id = c.run_id \
                 WHERE r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL \
                 ORDER BY c.updated_at",
            )
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok(crate::ledger::Mark {
                    table: r.get(0)?,
                    cursor_column: r.get(1)?,
                    cursor_value: r.get(2)?,
                    position: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Saves a checkpoint on its own (a table's end).
    pub fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), EndpointError> {
        save_checkpoint(&self.conn, cp)
            .map_err(|e| q_err(&self.name, Some(crate::ledger::CHECKPOINTS_TABLE), e))
    }

    /// Empties a table and this run's rejects for it (a table reloaded from
    /// scratch on resume), in one transaction.
    pub fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        let err = |e: rusqlite::Error| q_err(&self.name, Some(table), e);
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(&format!("DELETE FROM {}", quote_ident(table)), [])
            .map_err(err)?;
        tx.execute(
            &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?1 AND table_name = ?2"),
            [run_id, source_table],
        )
        .map_err(err)?;
        tx.execute(
            "DELETE FROM _ferry_checkpoints WHERE run_id = ?1 AND table_name = ?2",
            [run_id, source_table],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}

fn insert_rejects(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    rejects: &[Reject],
) -> rusqlite::Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?;
    for r in rejects {
        stmt.execute(rusqlite::params![
            run_id,
            r.table,
            r.source_key,
            r.stage.name(),
            r.plugin,
            r.column,
            r.code,
            r.reason,
            r.row.to_string(),
        ])?;
    }
    Ok(())
}

/// A value as SQLite stores it. Dates, times and timestamps become ISO text
/// (what SQLite's date functions read), UUIDs 16-byte blobs.
fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    )
}

fn to_sql(v: ValueRef<'_>, t: LogicalType) -> rusqlite::types::Value {
    use crate::model::temporal as tm;
    use rusqlite::types::Value as V;
    match v {
        ValueRef::Null => V::Null,
        ValueRef::Bool(b) => V::Integer(b as i64),
        ValueRef::Int(i) if t == LogicalType::Time => V::Text(tm::format_time(i)),
        ValueRef::Int(i) if t == LogicalType::Timestamp => V::Text(tm::format_timestamp(i)),
        ValueRef::Int(i) if t == LogicalType::Timestamptz => V::Text(tm::format_timestamptz(i)),
        ValueRef::Date(d) => V::Text(tm::format_date(d)),
        ValueRef::Int(i) => V::Integer(i),
        ValueRef::Float(f) => V::Real(f),
        ValueRef::Uuid(u) => V::Blob(u.to_vec()),
        ValueRef::Text(s) => V::Text(s.to_string()),
        ValueRef::Bytes(b) => V::Blob(b.to_vec()),
    }
}

/// The declared type a SQLite target gets for a column: the source's
/// declared type when the column is unchanged (so SQLite → SQLite keeps
/// affinities exactly), else the mapping's.
pub fn column_type(source: &TableDef, c: &ColumnDef) -> String {
    source
        .columns
        .iter()
        .find(|s| {
            s.name == c.name
                && s.logical_type == c.logical_type
                && !s.declared_type.is_empty()
                // A declared type from another database (PostgreSQL's
                // `integer[]`, `timestamp(3) with time zone`, an enum) is
                // kept only when SQLite can parse it and reads it back as the
                // same logical type; else the mapping's own type is used.
                && logical_type(&s.declared_type) == c.logical_type
                && sqlite_type_name(&s.declared_type)
        })
        .map(|s| s.declared_type.clone())
        .unwrap_or_else(|| declared_for(c.logical_type).to_string())
}

/// Whether `d` fits SQLite's type-name grammar: words, then at most one
/// parenthesised list of numbers at the very end.
fn sqlite_type_name(d: &str) -> bool {
    let (words, args) = match d.find('(') {
        Some(i) => (&d[..i], Some(&d[i..])),
        None => (d, None),
    };
    words
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ' ' || ch == '"')
        && args.is_none_or(|a| {
            a.len() >= 2
                && a.ends_with(')')
                && a[1..a.len() - 1]
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || matches!(ch, ',' | ' ' | '+' | '-' | '.'))
        })
}

fn create_table_sql(t: &TargetTable) -> String {
    let mut parts: Vec<String> = t
        .def
        .columns
        .iter()
        .map(|c| {
            let declared = column_type(&t.source, c);
            format!(
                "{} {}{}{}",
                quote_ident(&c.name),
                declared,
                if c.nullable { "" } else { " NOT NULL" },
                crate::model::default_sql(c, false)
                    .map(|d| format!(" DEFAULT {d}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if !t.def.primary_key.is_empty() {
        parts.push(format!("PRIMARY KEY ({})", quote_list(&t.def.primary_key)));
    }
    for fk in &t.def.foreign_keys {
        parts.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            quote_ident(&fk.name),
            quote_list(&fk.columns),
            quote_ident(&fk.ref_table),
            quote_list(&fk.ref_columns),
            fk.on_delete,
            fk.on_update
        ));
    }
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        quote_ident(&t.def.name),
        parts.join(",\n  ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn numeric_affinity_keeps_only_what_a_double_or_integer_holds() {
        use super::numeric_affinity_keeps as keeps;
        assert!(keeps("1.500000"));
        assert!(keeps("0.30000000000000004"));
        assert!(keeps("9223372036854775807"));
        assert!(keeps("-0.000001"));
        assert!(keeps("1e20"));
        assert!(!keeps("12345678901234.123456"));
        assert!(!keeps("9223372036854775809"));
        assert!(!keeps("0.1234567890123456789"));
    }

    use super::*;

    #[test]
    fn affinity_rules() {
        assert_eq!(logical_type("INTEGER"), LogicalType::Int64);
        assert_eq!(logical_type("BIGINT"), LogicalType::Int64);
        assert_eq!(logical_type("NVARCHAR(40)"), LogicalType::Text);
        assert_eq!(logical_type(""), LogicalType::Text);
        assert_eq!(logical_type("BLOB"), LogicalType::Bytes);
        assert_eq!(logical_type("DOUBLE PRECISION"), LogicalType::Float64);
        assert_eq!(logical_type("NUMERIC(10,2)"), LogicalType::Decimal);
        assert_eq!(logical_type("boolean"), LogicalType::Boolean);
        assert_eq!(logical_type("DATETIME"), LogicalType::Text);
        assert_eq!(logical_type("json"), LogicalType::Json);
    }

    #[test]
    fn decimals_are_recognised_exactly() {
        for ok in ["0", "-1.5", "+3.", ".5", "1e5", "1.25E-3"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", "-", "1.2.3", "abc", "1e", "1e99999", " 1", "NaN", "inf"] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }
}
