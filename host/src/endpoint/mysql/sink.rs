//! A MySQL/MariaDB database written as a sink.

use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::model::{Batch, Reject, Stage};
use mysql_async::prelude::*;
use mysql_async::{Conn, Value};

// ---------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------

/// A MySQL/MariaDB database written as a sink.
pub struct MysqlSink {
    pub(super) conn: Conn,
    /// To open more sessions (finishing builds tables' keys side by side).
    pub(super) url: String,
    pub(super) name: String,
    pub(super) flavor: Flavor,
    /// The largest statement sent: [`MAX_STATEMENT_BYTES`], or less when the
    /// server's `max_allowed_packet` is smaller.
    pub(super) max_statement: usize,
}

impl MysqlSink {
    pub async fn connect(url: &str) -> Result<MysqlSink, EndpointError> {
        let name = crate::endpoint::redact(url);
        let (mut conn, flavor) = connect(url, SINK_SQL_MODE).await?;
        let packet: Option<u64> = conn
            .query_first("SELECT @@max_allowed_packet")
            .await
            .map_err(|e| EndpointError::Connect {
                endpoint: name.clone(),
                reason: my_message(&e),
            })?;
        // Strict mode is what makes a value that does not fit an error
        // rather than a silent truncation; a server that did not take it
        // (a proxy rewriting SET, a restricted account) is refused.
        let mode: Option<String> = conn
            .query_first("SELECT @@SESSION.sql_mode")
            .await
            .map_err(|e| EndpointError::Connect {
                endpoint: name.clone(),
                reason: my_message(&e),
            })?;
        let mode = mode.unwrap_or_default();
        if !mode.split(',').any(|m| m == "STRICT_ALL_TABLES") {
            return Err(EndpointError::Connect {
                endpoint: name,
                reason: format!(
                    "the session's sql_mode is `{mode}` after ferry set STRICT_ALL_TABLES: without strict mode MySQL truncates values silently; check the server's or proxy's settings"
                ),
            });
        }
        let packet = packet.unwrap_or(1 << 20) as usize;
        let max_statement =
            MAX_STATEMENT_BYTES.min(packet.saturating_sub(PACKET_SLACK).max(1 << 16));
        Ok(MysqlSink {
            conn,
            url: url.to_string(),
            name,
            flavor,
            max_statement,
        })
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    pub(super) fn err(&self, table: Option<&str>, e: impl std::fmt::Display) -> EndpointError {
        EndpointError::Query {
            endpoint: self.name.clone(),
            table: table.map(str::to_string),
            reason: e.to_string(),
        }
    }

    /// The rows a write replaces, deleted inside its transaction (rolled
    /// back with it on failure).
    pub(super) async fn delete_replaced(
        &mut self,
        table: &str,
        replace: Option<&crate::endpoint::Replace>,
    ) -> Result<(), EndpointError> {
        let Some(r) = replace else {
            return Ok(());
        };
        for (sql, p) in
            crate::endpoint::sql::delete_in(&crate::endpoint::sql::dialect::MYSQL, table, r)
        {
            if let Err(e) = self.conn.exec_drop(sql, params(&p)).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(my_error(&self.name, Some(table), &e, ""));
            }
        }
        Ok(())
    }

    pub(super) async fn exec_sql(
        &mut self,
        table: Option<&str>,
        sql: &str,
    ) -> Result<(), EndpointError> {
        match self.conn.query_drop(sql).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let shown_sql: String = sql.chars().take(300).collect();
                Err(my_error(&self.name, table, &e, &shown_sql))
            }
        }
    }

    /// Deletes the rows of `table` whose `column` is one of `values` (and,
    /// with `eq`, whose other column equals a value).
    pub async fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        let mut n = 0u64;
        // 500 values per statement: far under the 65,535 placeholders MySQL allows.
        for chunk in values.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut params: Vec<Value> = chunk.iter().map(|v| Value::from(v.as_str())).collect();
            let filter = match eq {
                Some((c, v)) => {
                    params.push(Value::from(v));
                    format!(" AND {} = ?", quote_ident(c))
                }
                None => String::new(),
            };
            let sql = format!(
                "DELETE FROM {} WHERE {} IN ({marks}){filter}",
                quote_ident(table),
                quote_ident(column)
            );
            self.conn
                .exec_drop(sql, params)
                .await
                .map_err(|e| my_error(&self.name, Some(table), &e, ""))?;
            n += self.conn.affected_rows();
        }
        Ok(n)
    }

    pub async fn existing_tables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        let mut out = Vec::new();
        for n in names {
            let exists = table_exists(&mut self.conn, n)
                .await
                .map_err(|e| my_error(&self.name, Some(n), &e, ""))?;
            if exists {
                out.push(n.clone());
            }
        }
        Ok(out)
    }

    /// The encodings of a target table's columns.
    pub(super) fn encodings(&self, t: &TargetTable) -> Vec<Enc> {
        table_encodings(t, self.flavor.has_uuid)
    }

    pub async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        for t in tables {
            let too_long = std::iter::once(("table", &t.def.name))
                .chain(t.def.columns.iter().map(|c| ("column", &c.name)))
                .find(|(_, n)| n.chars().count() > MAX_IDENT_CHARS);
            if let Some((what, n)) = too_long {
                return Err(self.err(
                    Some(&t.def.name),
                    format!(
                        "{what} name `{n}` is longer than MySQL's {MAX_IDENT_CHARS} characters; rename it with a transformer"
                    ),
                ));
            }
        }
        let rejects_exist = table_exists(&mut self.conn, REJECTS_TABLE)
            .await
            .map_err(|e| my_error(&self.name, None, &e, ""))?;
        let mut to_drop = Vec::new();
        for t in tables {
            let exists = table_exists(&mut self.conn, &t.def.name)
                .await
                .map_err(|e| my_error(&self.name, Some(&t.def.name), &e, ""))?;
            if exists {
                match if_exists {
                    IfExists::Fail => {
                        return Err(EndpointError::TargetExists {
                            endpoint: self.name.clone(),
                            table: t.def.name.clone(),
                        });
                    }
                    IfExists::Drop => to_drop.push(t),
                }
            }
        }
        if !to_drop.is_empty() {
            // Foreign key checks off while dropping: a replaced parent may
            // still be referenced (its children are usually replaced too).
            self.exec_sql(None, "SET foreign_key_checks = 0").await?;
            for t in &to_drop {
                let r = self
                    .exec_sql(
                        Some(&t.def.name),
                        &format!("DROP TABLE {}", quote_ident(&t.def.name)),
                    )
                    .await;
                if r.is_err() {
                    let _ = self.exec_sql(None, "SET foreign_key_checks = 1").await;
                    return r;
                }
                // Its rejects described the data being replaced.
                if rejects_exist {
                    self.exec_sql(
                        Some(REJECTS_TABLE),
                        &format!(
                            "DELETE FROM {REJECTS_TABLE} WHERE table_name = {}",
                            lit(&t.source.name)
                        ),
                    )
                    .await?;
                }
            }
            self.exec_sql(None, "SET foreign_key_checks = 1").await?;
        }
        let collation = self.flavor.collation();
        self.exec_sql(
            Some(REJECTS_TABLE),
            &format!(
                "CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                 run_id VARCHAR(64) NOT NULL, table_name VARCHAR(255) NOT NULL, source_key LONGTEXT, \
                 stage VARCHAR(16) NOT NULL, plugin LONGTEXT, column_name LONGTEXT, code VARCHAR(64) NOT NULL, \
                 reason LONGTEXT NOT NULL, row_data LONGTEXT NOT NULL, \
                 rejected_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
                 KEY (run_id, table_name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
            ),
        )
        .await?;
        for t in tables {
            let encs = self.encodings(t);
            let auto = auto_increment(&t.def, &encs);
            let mut parts: Vec<String> = t
                .def
                .columns
                .iter()
                .zip(&encs)
                .enumerate()
                .map(|(i, (c, enc))| {
                    let is_auto = auto.as_ref().is_some_and(|(a, _)| *a == i);
                    // Key columns are NOT NULL: MySQL 8 refuses a key column
                    // declared NULL (MariaDB quietly makes it NOT NULL); a
                    // NULL key value is rejected row by row (`null-key`).
                    let nullable = c.nullable && !is_auto && !t.def.primary_key.contains(&c.name);
                    format!(
                        "{} {}{}{}{}{}",
                        quote_ident(&c.name),
                        enc.sql_type(),
                        if nullable { " NULL" } else { " NOT NULL" },
                        if is_auto { " AUTO_INCREMENT" } else { "" },
                        // MySQL refuses defaults on TEXT/BLOB columns before
                        // 8.0.13 unless written as an expression: `(…)`; a
                        // counter has no other default.
                        crate::model::default_sql(c, true)
                            .filter(|_| !is_auto)
                            .map(|d| if d.starts_with("CURRENT_TIMESTAMP") {
                                format!(" DEFAULT {d}")
                            } else {
                                format!(" DEFAULT ({d})")
                            })
                            .unwrap_or_default(),
                        enc.comment()
                    )
                })
                .collect();
            // The primary key is created with the table: InnoDB stores rows
            // in primary-key order (the clustered index), so adding it after
            // the load rebuilds the whole table, while inserting in key order
            // (the reader's order: SQLite's rowid, PostgreSQL's and MySQL's
            // `ORDER BY pk`) only appends. Measured on MariaDB 10.11, 500k
            // rows: 1.50 s with the key up front; 1.63 s without a key plus
            // 0.55 s for ADD PRIMARY KEY. Duplicates are caught by the
            // server and rejected as `duplicate-key`, NULL keys by the sink
            // as `null-key` (see `write`).
            if !t.def.primary_key.is_empty() {
                parts.push(format!("PRIMARY KEY ({})", quote_list(&t.def.primary_key)));
            }
            // AUTO_INCREMENT must lead a key: the primary key, or the key
            // declared here with the table for it.
            if let Some((_, Some(key))) = &auto {
                parts.push(key.clone());
            }
            self.exec_sql(
                Some(&t.def.name),
                &format!(
                    "CREATE TABLE {} (\n  {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}",
                    quote_ident(&t.def.name),
                    parts.join(",\n  ")
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// Writes one batch and its rejects in one transaction. Values the
    /// sink cannot store exactly reject their row (stage `write`); the rest
    /// of the batch lands.
    pub async fn write_batch(
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
        let schema = table.def.schema();
        let encs = self.encodings(table);
        // Incremental runs: a row replaces the one with its key.
        let on_dup = if upsert && !table.def.primary_key.is_empty() {
            let set: Vec<String> = table
                .def
                .columns
                .iter()
                .filter(|c| !table.def.primary_key.contains(&c.name))
                .map(|c| format!("{q} = VALUES({q})", q = quote_ident(&c.name)))
                .collect();
            if set.is_empty() {
                let k = quote_ident(&table.def.primary_key[0]);
                format!(" ON DUPLICATE KEY UPDATE {k} = {k}")
            } else {
                format!(" ON DUPLICATE KEY UPDATE {}", set.join(", "))
            }
        } else {
            String::new()
        };
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote_ident(&table.def.name),
            quote_list(
                &table
                    .def
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
            )
        );
        let nulls = null_refusals(&table.def, &encs);
        let mut sink_rejects = Vec::new();
        // Each statement with the rows (indexes into `ok_rows`) it carries.
        let mut statements: Vec<(String, std::ops::Range<usize>)> = Vec::new();
        let mut current = String::new();
        let mut first = 0usize;
        let mut row_sql = String::new();
        let mut ok_rows: Vec<usize> = Vec::with_capacity(batch.num_rows);
        for r in 0..batch.num_rows {
            match self.encode_row(&mut row_sql, &encs, &nulls, batch, r, head.len()) {
                Ok(()) => {}
                Err((col, code, reason)) => {
                    sink_rejects
                        .push(self.write_reject(table, &schema, batch, r, col, code, reason));
                    continue;
                }
            }
            if !current.is_empty() && current.len() + 1 + row_sql.len() > self.max_statement {
                current.push_str(&on_dup);
                statements.push((std::mem::take(&mut current), first..ok_rows.len()));
            }
            if current.is_empty() {
                current.push_str(&head);
                first = ok_rows.len();
            } else {
                current.push(',');
            }
            current.push_str(&row_sql);
            ok_rows.push(r);
        }
        if !current.is_empty() {
            current.push_str(&on_dup);
            statements.push((current, first..ok_rows.len()));
        }

        let name = table.def.name.clone();
        self.exec_sql(Some(&name), "START TRANSACTION").await?;
        self.delete_replaced(&name, replace).await?;
        let mut written = 0u64;
        for (sql, rows) in &statements {
            match self.conn.query_drop(sql.as_str()).await {
                Ok(()) => written += rows.len() as u64,
                Err(e) if server_code(&e).is_some_and(is_row_data_error) => {
                    let w = Bisect {
                        table,
                        schema: &schema,
                        batch,
                        encs: &encs,
                        nulls: &nulls,
                        head: &head,
                        on_dup: &on_dup,
                        ok_rows: &ok_rows,
                    };
                    match self.bisect(&w, rows.clone(), e, &mut sink_rejects).await {
                        Ok(n) => written += n,
                        Err(e) => {
                            let _ = self.conn.query_drop("ROLLBACK").await;
                            return Err(e);
                        }
                    }
                }
                Err(e) => {
                    let _ = self.conn.query_drop("ROLLBACK").await;
                    return Err(my_error(&self.name, Some(&name), &e, ""));
                }
            }
        }
        let all: Vec<&Reject> = rejects.iter().chain(sink_rejects.iter()).collect();
        if let Err(e) = self.insert_rejects(run_id, &all).await {
            let _ = self.conn.query_drop("ROLLBACK").await;
            return Err(e);
        }
        if let Some(cp) = checkpoint {
            let mut cp = cp.clone();
            cp.rows_written += written;
            cp.rows_rejected += (rejects.len() + sink_rejects.len()) as u64;
            let (sql, p) = crate::endpoint::sql::ledger::checkpoint_upsert(
                &crate::endpoint::sql::dialect::MYSQL,
                &cp,
            );
            if let Err(e) = self.conn.exec_drop(sql, params(&p)).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(my_error(
                    &self.name,
                    Some(crate::ledger::CHECKPOINTS_TABLE),
                    &e,
                    "",
                ));
            }
        }
        crate::failpoint::at("commit", Some(&table.source.name));
        self.exec_sql(Some(&name), "COMMIT").await?;
        Ok(WriteOutcome {
            written,
            rejected: sink_rejects,
            sent: None,
        })
    }

    /// Encodes row `r` as `(v1,v2,…)` into `out`, or says which column
    /// cannot be stored and why.
    pub(super) fn encode_row(
        &self,
        out: &mut String,
        encs: &[Enc],
        nulls: &[Option<(&'static str, String)>],
        batch: &Batch,
        r: usize,
        head_len: usize,
    ) -> Result<(), (Option<usize>, &'static str, String)> {
        out.clear();
        out.push('(');
        for (c, enc) in encs.iter().enumerate() {
            if c > 0 {
                out.push(',');
            }
            let v = batch.value(r, c);
            if let (crate::model::ValueRef::Null, Some((code, why))) = (&v, &nulls[c]) {
                return Err((Some(c), code, why.clone()));
            }
            encode_value(out, enc, v).map_err(|(code, why)| (Some(c), code, why))?;
        }
        out.push(')');
        if head_len + out.len() > self.max_statement {
            return Err((
                None,
                "too-large",
                format!(
                    "the row takes {} bytes as SQL, more than the {} bytes one statement may carry (the server's max_allowed_packet); raise max_allowed_packet to load it",
                    out.len(),
                    self.max_statement
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_reject(
        &self,
        table: &TargetTable,
        schema: &crate::model::Schema,
        batch: &Batch,
        row: usize,
        col: Option<usize>,
        code: &str,
        reason: String,
    ) -> Reject {
        Reject {
            table: table.source.name.clone(),
            source_key: batch.source_key(schema, &table.source.primary_key, row),
            stage: Stage::Write,
            plugin: None,
            column: col.map(|c| schema.columns[c].name.clone()),
            code: code.into(),
            reason,
            row: batch.row_json(schema, row),
        }
    }
}

impl MysqlSink {
    pub(super) async fn insert_rejects(
        &mut self,
        run_id: &str,
        rejects: &[&Reject],
    ) -> Result<(), EndpointError> {
        let head = format!(
            "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) VALUES "
        );
        let mut sql = String::new();
        let opt = |out: &mut String, v: &Option<String>| match v {
            Some(s) => str_lit(out, s),
            None => out.push_str("NULL"),
        };
        for (i, r) in rejects.iter().enumerate() {
            if sql.is_empty() {
                sql.push_str(&head);
            } else {
                sql.push(',');
            }
            sql.push('(');
            str_lit(&mut sql, run_id);
            sql.push(',');
            str_lit(&mut sql, &r.table);
            sql.push(',');
            opt(&mut sql, &r.source_key);
            sql.push(',');
            str_lit(&mut sql, r.stage.name());
            sql.push(',');
            opt(&mut sql, &r.plugin);
            sql.push(',');
            opt(&mut sql, &r.column);
            sql.push(',');
            str_lit(&mut sql, &r.code);
            sql.push(',');
            str_lit(&mut sql, &r.reason);
            sql.push(',');
            str_lit(&mut sql, &r.row.to_string());
            sql.push(')');
            if sql.len() > self.max_statement / 2 || i + 1 == rejects.len() {
                let s = std::mem::take(&mut sql);
                self.exec_sql(Some(REJECTS_TABLE), &s).await?;
            }
        }
        Ok(())
    }
}
