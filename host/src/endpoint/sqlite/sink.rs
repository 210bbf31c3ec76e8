//! A SQLite database written as a sink: tables, batches, keys after the load.

use super::*;
use crate::endpoint::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::model::{Reject, Stage};
use rusqlite::{Connection, params_from_iter};
use std::path::{Path, PathBuf};

/// A SQLite database written as a sink.
pub struct SqliteSink {
    pub(super) conn: Connection,
    pub(super) name: String,
    pub(super) path: PathBuf,
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
        // Switching a file to WAL takes its write lock without waiting
        // (SQLite answers BUSY at once rather than risk a deadlock), so two
        // processes opening a new file together retry it, for at most
        // WAL_SWITCH_TRIES × WAL_SWITCH_PAUSE.
        const WAL_SWITCH_TRIES: u32 = 100;
        const WAL_SWITCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
        let mut tries = 0;
        loop {
            match conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;",
            ) {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if f.code == rusqlite::ErrorCode::DatabaseBusy && tries < WAL_SWITCH_TRIES =>
                {
                    tries += 1;
                    std::thread::sleep(WAL_SWITCH_PAUSE);
                }
                Err(e) => {
                    return Err(EndpointError::Connect {
                        endpoint: name.clone(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(SqliteSink {
            conn,
            name,
            path: path.to_path_buf(),
        })
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    pub(super) fn err(&self, table: Option<&str>, e: impl std::fmt::Display) -> EndpointError {
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

    pub(super) fn exists(&self, table: &str) -> Result<bool, EndpointError> {
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

    pub fn write_batch(
        &mut self,
        w: crate::endpoint::Write<'_>,
    ) -> Result<WriteOutcome, EndpointError> {
        let crate::endpoint::Write {
            run_id,
            table,
            batch,
            rejects,
            checkpoint,
            upsert,
            replace,
            // Never given: this sink takes no raw rows (`Sink::accepts_raw`).
            raw: _,
            // Never asked: this sink does not send verbatim (`Sink::sends_verbatim`).
            keep_sent: _,
        } = w;
        let name = table.def.name.clone();
        let on_conflict = if upsert {
            crate::endpoint::sql::upsert_clause(&table.def)
        } else {
            String::new()
        };
        let err = |e: rusqlite::Error| q_err(&self.name, Some(&name), e);
        // Decimals that SQLite's NUMERIC affinity would round (more digits
        // than a double holds) are rejected with the reason, not stored changed.
        // Rows with NULL in a key column too: SQLite would store them (a key
        // that is not the rowid) or invent an id (a rowid alias) silently.
        let mut sink_rejects = null_keys(batch, table);
        let flagged: std::collections::HashSet<usize> =
            sink_rejects.iter().map(|(r, _)| *r).collect();
        sink_rejects.extend(
            decimals_numeric_affinity_would_change(batch, table)
                .into_iter()
                .filter(|(r, _)| !flagged.contains(r)),
        );
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
        if let Some(r) = replace {
            for (sql, p) in
                crate::endpoint::sql::delete_in(&crate::endpoint::sql::dialect::SQLITE, &name, r)
            {
                tx.execute(&sql, params_from_iter(p.iter().map(to_param)))
                    .map_err(err)?;
            }
        }
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
                // The target refused a row (a key, a CHECK, NOT NULL, a value
                // too big): the failed statement changed nothing, so insert
                // these rows one by one and quarantine exactly the refused
                // ones with SQLite's reason; the rest are written.
                Err(e) if refusal(&e).is_some() => {
                    let one = format!(
                        "INSERT INTO {} ({}) VALUES {placeholders}{on_conflict}",
                        quote_ident(&name),
                        cols.join(",")
                    );
                    let mut stmt1 = tx.prepare_cached(&one).map_err(err)?;
                    for r in start..start + n {
                        let params = (0..table.def.columns.len())
                            .map(|c| to_sql(batch.value(r, c), table.def.columns[c].logical_type));
                        if let Err(e) = stmt1.execute(params_from_iter(params)) {
                            let Some(kind) = refusal(&e) else {
                                return Err(err(e));
                            };
                            sink_rejects.push(refused_row(table, batch, r, kind, &e));
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
            let (sql, p) = crate::endpoint::sql::ledger::checkpoint_upsert(
                &crate::endpoint::sql::dialect::SQLITE,
                &cp,
            );
            tx.execute(&sql, params_from_iter(p.iter().map(to_param)))
                .map_err(err)?;
        }
        crate::failpoint::at("commit", Some(&table.source.name));
        tx.commit().map_err(err)?;
        Ok(WriteOutcome {
            written,
            rejected: sink_rejects,
            sent: None,
        })
    }

    pub fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        let mut done = Vec::new();
        let mut warnings = Vec::new();
        let mut moved = crate::endpoint::MovedRows::default();
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
                crate::failpoint::hit("constraint");
            }
        }
        // SQLite declares keys, CHECKs and foreign keys in CREATE TABLE; report them
        // and check that the loaded data satisfies the foreign keys.
        for t in tables {
            if !t.def.primary_key.is_empty() {
                done.push(format!("primary key {}", t.def.name));
            }
            for ck in &t.def.checks {
                done.push(format!("check {}", ck.name));
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
        Ok(crate::endpoint::Finished {
            created: done,
            warnings,
            quarantined: moved.into_vec(),
        })
    }

    /// Moves the rows at `rowids` to the rejects table, in one transaction.
    pub(super) fn move_rows(
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
    pub(super) fn quarantine_duplicates(
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
    pub(super) fn quarantine_orphans(
        &mut self,
        run_id: &str,
        t: &TargetTable,
    ) -> Result<u64, EndpointError> {
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

/// What kind of refusal of one row an INSERT's error is; `None` when the
/// error is the target's own (I/O, a full disk, a lock): that fails the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Duplicate,
    NotNull,
    Check,
    /// Any other constraint, a string or blob too big, a datatype mismatch.
    Unstorable,
}

pub(super) fn refusal(e: &rusqlite::Error) -> Option<Refusal> {
    use rusqlite::ffi;
    let x = e.sqlite_error()?;
    Some(match x.extended_code {
        ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        | ffi::SQLITE_CONSTRAINT_UNIQUE
        | ffi::SQLITE_CONSTRAINT_ROWID => Refusal::Duplicate,
        ffi::SQLITE_CONSTRAINT_NOTNULL => Refusal::NotNull,
        ffi::SQLITE_CONSTRAINT_CHECK => Refusal::Check,
        _ if matches!(
            x.code,
            rusqlite::ErrorCode::ConstraintViolation
                | rusqlite::ErrorCode::TooBig
                | rusqlite::ErrorCode::TypeMismatch
        ) =>
        {
            Refusal::Unstorable
        }
        _ => return None,
    })
}

/// The columns SQLite names in a constraint message (`NOT NULL constraint
/// failed: t.a` → `a`; `UNIQUE constraint failed: t.a, t.b` → `a,b`).
fn columns_named(message: &str) -> Option<String> {
    let (_, list) = message.split_once("failed: ")?;
    Some(
        list.split(", ")
            .map(|c| c.split_once('.').map_or(c, |(_, col)| col))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The reject for row `r` that the target refused with `e`.
fn refused_row(
    table: &TargetTable,
    batch: &crate::model::Batch,
    r: usize,
    kind: Refusal,
    e: &rusqlite::Error,
) -> Reject {
    let schema = table.def.schema();
    let message = match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    };
    let named = columns_named(&message);
    let in_key = named.as_ref().is_some_and(|c| {
        c.split(',')
            .all(|c| table.def.primary_key.iter().any(|k| k == c))
    });
    let (code, column, reason) = match kind {
        Refusal::Duplicate => (
            "duplicate-key",
            Some(named.unwrap_or_else(|| table.def.primary_key.join(","))),
            format!("the target refused the row: {message}; the first row loaded keeps the key"),
        ),
        Refusal::NotNull if in_key => (
            "null-key",
            named,
            format!(
                "the target refused the row: {message}; a primary key column cannot be NULL, so this row has no key the target can hold"
            ),
        ),
        Refusal::NotNull => (
            "not-null",
            named,
            format!("the target refused the row: {message}; the column is declared NOT NULL"),
        ),
        Refusal::Check => {
            let check = table.def.checks.iter().find(|c| {
                message
                    .rsplit_once(": ")
                    .is_some_and(|(_, n)| n == c.name || n == c.expression)
            });
            (
                "check",
                None,
                match check {
                    Some(c) => format!(
                        "the target's CHECK constraint {} ({}) refused the row ({message})",
                        c.name, c.expression
                    ),
                    None => format!("a CHECK constraint of the target refused the row ({message})"),
                },
            )
        }
        Refusal::Unstorable => (
            "unstorable",
            named,
            format!("the target refused the row: {message}"),
        ),
    };
    Reject {
        table: table.source.name.clone(),
        source_key: batch.source_key(&schema, &table.def.primary_key, r),
        stage: Stage::Write,
        plugin: None,
        column,
        code: code.into(),
        reason,
        row: batch.row_json(&schema, r),
    }
}

pub(super) fn insert_rejects(
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
