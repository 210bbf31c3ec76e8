//! A MySQL/MariaDB database read as a source.

use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, REJECTS_TABLE, ReadBatch, TableProfile};
use crate::model::{
    BatchBuilder, CheckDef, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, TableDef, UniqueDef,
};
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// A MySQL/MariaDB database read as a source.
pub struct MysqlSource {
    pub(super) url: String,
    pub(super) name: String,
}

impl MysqlSource {
    /// Checks that the server answers and the database exists.
    pub async fn open(url: &str) -> Result<MysqlSource, EndpointError> {
        let s = MysqlSource {
            url: url.to_string(),
            name: crate::endpoint::redact(url),
        };
        let c = s.conn().await?;
        drop(c);
        Ok(s)
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    /// A new session: each reader has its own, so tables read in parallel.
    pub(super) async fn conn(&self) -> Result<Conn, EndpointError> {
        Ok(connect(&self.url, SOURCE_SQL_MODE).await?.0)
    }

    pub(super) fn err(&self, table: Option<&str>, e: &mysql_async::Error) -> EndpointError {
        my_error(&self.name, table, e, "")
    }

    /// Every base table of the current database (not `_ferry_*`) with its
    /// columns, keys, indexes and foreign keys, from information_schema.
    pub async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(None, &x);
        let names: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
                 ORDER BY TABLE_NAME",
            )
            .await
            .map_err(e)?;
        let mut tables: Vec<TableDef> = names
            .iter()
            .map(|r| text(r, 0))
            .filter(|n| !n.starts_with("_ferry_"))
            .map(|name| TableDef {
                name,
                columns: Vec::new(),
                primary_key: Vec::new(),
                unique: Vec::new(),
                indexes: Vec::new(),
                foreign_keys: Vec::new(),
                ..Default::default()
            })
            .collect();
        let index: HashMap<String, usize> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();

        // MariaDB's JSON is LONGTEXT with a `json_valid(col)` CHECK; the
        // check is what marks the column as JSON, and is not carried as a
        // check (the json type says it). Every other CHECK is carried.
        let mut json_cols: std::collections::HashSet<(String, String)> = Default::default();
        let mut checks: Vec<(String, CheckDef)> = Vec::new();
        for (table, name, clause) in check_constraints(&mut c).await.map_err(e)? {
            let clause = clause.trim();
            // The server quotes the column as the session's sql_mode
            // says: "col" under ANSI_QUOTES, `col` otherwise.
            let json = ['"', '`'].into_iter().find_map(|q| {
                let open = format!("json_valid({q}");
                let close = format!("{q})");
                clause
                    .strip_prefix(open.as_str())
                    .and_then(|s| s.strip_suffix(close.as_str()))
                    .map(|col| col.replace(&format!("{q}{q}"), &q.to_string()))
            });
            match json {
                Some(col) => {
                    json_cols.insert((table, col));
                }
                None => checks.push((
                    table,
                    CheckDef {
                        name,
                        expression: standard_sql(clause, None),
                    },
                )),
            }
        }
        for (table, check) in checks {
            if let Some(&ti) = index.get(&table) {
                tables[ti].checks.push(check);
            }
        }

        let cols: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, EXTRA, COLUMN_COMMENT, COLUMN_DEFAULT \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 ORDER BY TABLE_NAME, ORDINAL_POSITION",
            )
            .await
            .map_err(e)?;
        for r in &cols {
            let Some(&ti) = index.get(&text(r, 0)) else {
                continue;
            };
            if is_generated(&text(r, 5)) {
                continue; // computed, not data (listed by `objects`)
            }
            let name = text(r, 1);
            let declared = text(r, 2);
            let mut lt = logical_type(&text(r, 3), &declared);
            if lt == LogicalType::Text
                && json_cols.contains(&(tables[ti].name.clone(), name.clone()))
            {
                lt = LogicalType::Json;
            }
            // A column a ferry sink wrote as another type MySQL lacks.
            match (lt, text(r, 6).as_str()) {
                (LogicalType::Timestamp, TIMESTAMPTZ_MARK) => lt = LogicalType::Timestamptz,
                (LogicalType::Bytes, UUID_MARK) => lt = LogicalType::Uuid,
                _ => {}
            }
            tables[ti].columns.push(ColumnDef {
                name,
                declared_type: declared,
                logical_type: lt,
                nullable: text(r, 4).eq_ignore_ascii_case("YES"),
                // MariaDB quotes string defaults (`'new'`) and writes `NULL`
                // for an explicit NULL default.
                default: text_at(r, 7),
                identity: text(r, 5).to_ascii_lowercase().contains("auto_increment"),
                ..Default::default()
            });
        }

        let rules: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE \
                 FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
            )
            .await
            .map_err(e)?;
        let rules: HashMap<(String, String), (String, String)> = rules
            .iter()
            .map(|r| ((text(r, 0), text(r, 1)), (text(r, 2), text(r, 3))))
            .collect();

        let keys: Vec<Row> = c
            .query(
                "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, k.COLUMN_NAME, \
                        k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME \
                 FROM information_schema.TABLE_CONSTRAINTS tc \
                 JOIN information_schema.KEY_COLUMN_USAGE k \
                   ON k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME \
                  AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
                 WHERE tc.TABLE_SCHEMA = DATABASE() \
                   AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
                 ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_TYPE, tc.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            )
            .await
            .map_err(e)?;
        let mut constraint_names: std::collections::HashSet<(String, String)> = Default::default();
        for r in &keys {
            let tname = text(r, 0);
            let Some(&ti) = index.get(&tname) else {
                continue;
            };
            let (cname, ctype, col) = (text(r, 1), text(r, 2), text(r, 3));
            constraint_names.insert((tname.clone(), cname.clone()));
            let t = &mut tables[ti];
            match ctype.as_str() {
                "PRIMARY KEY" => t.primary_key.push(col),
                "UNIQUE" => match t.unique.iter_mut().find(|u| u.name == cname) {
                    Some(u) => u.columns.push(col),
                    None => t.unique.push(UniqueDef {
                        name: cname,
                        columns: vec![col],
                    }),
                },
                _ => {
                    let ref_col = text(r, 5);
                    match t.foreign_keys.iter_mut().find(|f| f.name == cname) {
                        Some(f) => {
                            f.columns.push(col);
                            f.ref_columns.push(ref_col);
                        }
                        None => {
                            let (on_delete, on_update) = rules
                                .get(&(tname.clone(), cname.clone()))
                                .cloned()
                                .unwrap_or_else(|| ("NO ACTION".into(), "NO ACTION".into()));
                            t.foreign_keys.push(ForeignKeyDef {
                                name: cname,
                                columns: vec![col],
                                ref_table: text(r, 4),
                                ref_columns: vec![ref_col],
                                on_delete,
                                on_update,
                            });
                        }
                    }
                }
            }
        }

        let stats: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            )
            .await
            .map_err(e)?;
        let mut skipped: std::collections::HashSet<(String, String)> = Default::default();
        for r in &stats {
            let tname = text(r, 0);
            let Some(&ti) = index.get(&tname) else {
                continue;
            };
            let iname = text(r, 1);
            if iname == "PRIMARY" || constraint_names.contains(&(tname.clone(), iname.clone())) {
                continue; // recreated as the key or constraint itself
            }
            let Some(col) = text_at(r, 3) else {
                // A functional (expression) index: its expression would need
                // translating, which this version does not do.
                if skipped.insert((tname.clone(), iname.clone())) {
                    tracing::warn!(table = tname, index = iname, "expression index skipped");
                }
                continue;
            };
            let unique = text(r, 2) == "0";
            let t = &mut tables[ti];
            match t.indexes.iter_mut().find(|i| i.name == iname) {
                Some(i) => i.columns.push(col),
                None => t.indexes.push(IndexDef {
                    name: iname,
                    columns: vec![col],
                    unique,
                }),
            }
        }
        for (t, i) in &skipped {
            if let Some(&ti) = index.get(t) {
                tables[ti].indexes.retain(|x| &x.name != i);
            }
        }
        Ok(tables)
    }

    /// Rows in a table (for progress bars).
    pub async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        let mut c = self.conn().await?;
        let n: Option<u64> = c
            .query_first(format!("SELECT COUNT(*) FROM {}", quote_ident(table)))
            .await
            .map_err(|e| self.err(Some(table), &e))?;
        Ok(n.unwrap_or(0))
    }

    /// The column of a single-column integer primary key: reads can
    /// continue after a key (a checkpoint's position).
    pub fn resumable(table: &TableDef) -> Option<usize> {
        crate::endpoint::integer_key(table)
    }

    pub(super) fn select_sql(table: &TableDef, after: Option<i64>) -> String {
        let cols = if table.columns.is_empty() {
            "1".to_string()
        } else {
            let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            quote_list(&names)
        };
        let order = if table.primary_key.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", quote_list(&table.primary_key))
        };
        let filter = match (after, Self::resumable(table)) {
            (Some(a), Some(k)) => format!(" WHERE {} > {a}", quote_ident(&table.columns[k].name)),
            _ => String::new(),
        };
        format!(
            "SELECT {cols} FROM {}{filter}{order}",
            quote_ident(&table.name)
        )
    }

    /// Streams `table` in key order into `tx`; stops early when the receiver is dropped.
    ///
    /// One prepared `SELECT … ORDER BY pk` (InnoDB walks its clustered
    /// index, no sort) read row by row: memory is one batch, whatever the
    /// table's size. Values that do not fit their logical type (a zero date,
    /// a `tinyint(1)` holding 7, a `TIME` beyond 24 h) reject their row.
    pub async fn read(
        &self,
        table: &TableDef,
        batch_size: usize,
        tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        self.read_after(table, batch_size, None, tx).await
    }

    /// [`MysqlSource::read`] strictly after key `after` (tables with a
    /// single-column integer key); every batch reports its last key.
    pub async fn read_after(
        &self,
        table: &TableDef,
        batch_size: usize,
        after: Option<i64>,
        tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        let key_col = Self::resumable(table);
        let mut last_key: Option<i64> = None;
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(Some(&table.name), &x);
        let schema = table.schema();
        let batch_size = batch_size.max(1);
        let mut b = BatchBuilder::new(&schema, batch_size);
        let mut rejects = Vec::new();
        let mut read_in_batch = 0u64;
        let conn_id = c.id();
        let mut result = c
            .exec_iter(Self::select_sql(table, after), ())
            .await
            .map_err(e)?;
        while let Some(row) = result.next().await.map_err(e)? {
            read_in_batch += 1;
            if let Some(k) = key_col {
                match row.as_ref(k) {
                    Some(Value::Int(v)) => last_key = Some(*v),
                    Some(Value::UInt(v)) => last_key = i64::try_from(*v).ok().or(last_key),
                    Some(Value::Bytes(b)) => {
                        last_key = std::str::from_utf8(b)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .or(last_key)
                    }
                    _ => {}
                }
            }
            let mut failed = None;
            for (i, col) in table.columns.iter().enumerate() {
                let v = row.as_ref(i).unwrap_or(&Value::NULL);
                if let Err(reason) = push_value(&mut b, i, col, v) {
                    failed = Some((i, reason));
                    break;
                }
            }
            match failed {
                Some((i, reason)) => {
                    b.abandon_row();
                    rejects.push(read_reject(table, &row, i, reason));
                }
                None => b.end_row(),
            }
            // Counting read rows (not kept rows) bounds memory even when
            // every row is rejected.
            if read_in_batch >= batch_size as u64 {
                let rb = ReadBatch {
                    batch: b.finish(),
                    rejects: std::mem::take(&mut rejects),
                    rows_read: read_in_batch,
                    position: last_key,
                    cursor: None,
                    replace: None,
                    state: None,
                    raw: None,
                };
                if tx.send(rb).await.is_err() {
                    drop(result);
                    drop(c);
                    self.stop_query(conn_id).await;
                    return Ok(());
                }
                read_in_batch = 0;
            }
        }
        drop(result);
        if read_in_batch > 0 {
            let _ = tx
                .send(ReadBatch {
                    batch: b.finish(),
                    rejects,
                    rows_read: read_in_batch,
                    position: last_key,
                    cursor: None,
                    replace: None,
                    state: None,
                    raw: None,
                })
                .await;
        }
        let _ = c.disconnect().await;
        Ok(())
    }

    /// Stops the server streaming a result nobody reads any more. Dropping
    /// the driver's connection mid-result would make it read the rest of the
    /// table in the background before closing; `KILL QUERY` ends it now.
    pub(super) async fn stop_query(&self, conn_id: u32) {
        if let Ok(mut k) = self.conn().await {
            let _ = k.query_drop(format!("KILL QUERY {conn_id}")).await;
            let _ = k.disconnect().await;
        }
    }

    /// Rows in the rejects table per run and table (empty when there is none).
    /// Memory is bounded by the number of rejects, which is small next to
    /// the data (one key string per rejected row).
    pub async fn quarantined(
        &self,
    ) -> Result<Vec<crate::endpoint::QuarantineCount>, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(Some(REJECTS_TABLE), &x);
        if !table_exists(&mut c, REJECTS_TABLE).await.map_err(e)? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = c
            .query(format!(
                "SELECT run_id, table_name, source_key FROM {REJECTS_TABLE} ORDER BY run_id, table_name, id"
            ))
            .await
            .map_err(e)?;
        Ok(crate::endpoint::group_quarantine(
            rows.iter()
                .map(|r| (text(r, 0), text(r, 1), text_at(r, 2)))
                .collect(),
        ))
    }

    /// Samples the first `sample` rows in key order: the values that would
    /// be rejected on read, the average row size, and per foreign key the
    /// rows whose parent is missing (over the whole table).
    pub async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(Some(&table.name), &x);
        let schema = table.schema();
        let mut b = BatchBuilder::new(&schema, 1);
        let mut mismatches: Vec<(u64, Option<String>)> = vec![(0, None); table.columns.len()];
        let (mut sampled, mut bytes) = (0u64, 0u64);
        {
            let sql = format!("{} LIMIT {sample}", Self::select_sql(table, None));
            let mut result = c.exec_iter(sql, ()).await.map_err(e)?;
            while let Some(row) = result.next().await.map_err(e)? {
                sampled += 1;
                for (i, col) in table.columns.iter().enumerate() {
                    let v = row.as_ref(i).unwrap_or(&Value::NULL);
                    bytes += match v {
                        Value::NULL => 1,
                        Value::Bytes(x) => x.len() as u64,
                        _ => 8,
                    };
                    if let Err(reason) = push_value(&mut b, i, col, v) {
                        let m = &mut mismatches[i];
                        m.0 += 1;
                        m.1.get_or_insert(reason);
                    }
                }
                b.abandon_row();
            }
        }
        let mut orphans = Vec::new();
        for fk in &table.foreign_keys {
            let (cond, missing) = orphan_condition(fk, "c", "p");
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT * FROM {} LIMIT {sample}) c LEFT JOIN {} p ON {cond} WHERE {missing}",
                quote_ident(&table.name),
                quote_ident(&fk.ref_table)
            );
            let n: Option<u64> = c.query_first(sql).await.map_err(e)?;
            if let Some(n) = n.filter(|n| *n > 0) {
                orphans.push((fk.ref_table.clone(), n));
            }
        }
        let _ = c.disconnect().await;
        Ok(TableProfile {
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
}

/// `(join condition, "child has a key but no parent")` for a foreign key,
/// with the child aliased `c` and the parent `p`.
pub(super) fn orphan_condition(fk: &ForeignKeyDef, c: &str, p: &str) -> (String, String) {
    let join: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(cc, pc)| format!("{p}.{} = {c}.{}", quote_ident(pc), quote_ident(cc)))
        .collect();
    let mut missing: Vec<String> = fk
        .columns
        .iter()
        .map(|cc| format!("{c}.{} IS NOT NULL", quote_ident(cc)))
        .collect();
    // The parent's key columns equal non-null child values when a parent
    // matched, so NULL here means "no parent row".
    if let Some(pc) = fk.ref_columns.first() {
        missing.push(format!("{p}.{} IS NULL", quote_ident(pc)));
    }
    (join.join(" AND "), missing.join(" AND "))
}

/// Whether a column's `EXTRA` marks it generated: `VIRTUAL GENERATED`,
/// `STORED GENERATED` (MariaDB ≥ 10.2 and MySQL), `VIRTUAL`/`PERSISTENT`
/// (older MariaDB) — but not MySQL 8's `DEFAULT_GENERATED`, a column with
/// an expression default, which holds data.
pub(super) fn is_generated(extra: &str) -> bool {
    let x = extra.to_ascii_uppercase();
    let x = x.replace("DEFAULT_GENERATED", "");
    x.contains("GENERATED") || x.trim() == "VIRTUAL" || x.trim() == "PERSISTENT"
}

/// Every CHECK constraint of the database as `(table, name, clause)`,
/// ordered by table and name. MariaDB (≥ 10.2) has the table in
/// `CHECK_CONSTRAINTS`; MySQL 8 (≥ 8.0.16) has it only in
/// `TABLE_CONSTRAINTS` (where check names are unique per schema, so the
/// join by name is exact). MariaDB also lists column-level checks, named
/// after their column. A server without either (MySQL 5.7) has none.
pub(super) async fn check_constraints(
    c: &mut Conn,
) -> Result<Vec<(String, String, String)>, mysql_async::Error> {
    let mariadb = c
        .query(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY TABLE_NAME, CONSTRAINT_NAME",
        )
        .await;
    match mariadb {
        Ok(rows) => Ok(rows),
        Err(mysql_async::Error::Server(_)) => {
            let mysql = c
                .query(
                    "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE \
                     FROM information_schema.TABLE_CONSTRAINTS tc \
                     JOIN information_schema.CHECK_CONSTRAINTS cc \
                       ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
                     WHERE tc.CONSTRAINT_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK' \
                     ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME",
                )
                .await;
            match mysql {
                Ok(rows) => Ok(rows),
                Err(mysql_async::Error::Server(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

pub(super) async fn table_exists(c: &mut Conn, name: &str) -> Result<bool, mysql_async::Error> {
    let n: Option<u64> = c
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
            lit(name)
        ))
        .await?;
    Ok(n.unwrap_or(0) > 0)
}
