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
        let packet = packet.unwrap_or(1 << 20) as usize;
        let max_statement =
            MAX_STATEMENT_BYTES.min(packet.saturating_sub(PACKET_SLACK).max(1 << 16));
        Ok(MysqlSink {
            conn,
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
        let keys = key_budgets(&t.def);
        t.def
            .columns
            .iter()
            .map(|c| encoding(&t.source, &keys, c, self.flavor.has_uuid))
            .collect()
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
            let mut parts: Vec<String> = t
                .def
                .columns
                .iter()
                .zip(&encs)
                .map(|(c, enc)| {
                    format!(
                        "{} {}{}{}{}",
                        quote_ident(&c.name),
                        enc.sql_type(),
                        if c.nullable { " NULL" } else { " NOT NULL" },
                        // MySQL refuses defaults on TEXT/BLOB columns before
                        // 8.0.13 unless written as an expression: `(…)`.
                        crate::model::default_sql(c, true)
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
            // (the reader's order) only appends. Measured on MariaDB 10.11,
            // 500k rows: 1.50 s with the key up front; 1.63 s without a key
            // plus 0.55 s for ADD PRIMARY KEY. Duplicates are caught row by
            // row and rejected as `duplicate-key` (see `write`).
            if !t.def.primary_key.is_empty() {
                parts.push(format!("PRIMARY KEY ({})", quote_list(&t.def.primary_key)));
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
        let mut sink_rejects = Vec::new();
        let mut statements: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut row_sql = String::new();
        let mut ok_rows: Vec<usize> = Vec::with_capacity(batch.num_rows);
        for r in 0..batch.num_rows {
            match self.encode_row(&mut row_sql, &encs, batch, r, head.len()) {
                Ok(()) => {}
                Err((col, code, reason)) => {
                    sink_rejects
                        .push(self.write_reject(table, &schema, batch, r, col, code, reason));
                    continue;
                }
            }
            if !current.is_empty() && current.len() + 1 + row_sql.len() > self.max_statement {
                statements.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                current.push_str(&head);
            } else {
                current.push(',');
            }
            current.push_str(&row_sql);
            ok_rows.push(r);
        }
        if !current.is_empty() {
            statements.push(current);
        }
        for s in &mut statements {
            s.push_str(&on_dup);
        }

        let name = table.def.name.clone();
        self.exec_sql(Some(&name), "START TRANSACTION").await?;
        self.delete_replaced(&name, replace).await?;
        let mut failed_on_data = false;
        for s in &statements {
            if let Err(e) = self.conn.query_drop(s.as_str()).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                if server_code(&e).is_some_and(is_row_data_error) {
                    failed_on_data = true;
                    break;
                }
                return Err(my_error(&self.name, Some(&name), &e, ""));
            }
        }
        let mut written = ok_rows.len() as u64;
        if failed_on_data {
            // The server refused a value ferry's checks let through (a
            // duplicate key, a CHECK): load row by row so only the refused
            // rows are rejected, with the server's reason. A refused
            // statement is rolled back alone; the transaction goes on.
            self.exec_sql(Some(&name), "START TRANSACTION").await?;
            self.delete_replaced(&name, replace).await?;
            written = 0;
            for &r in &ok_rows {
                row_sql.clear();
                // Encoding succeeded before, so it succeeds again.
                let _ = self.encode_row(&mut row_sql, &encs, batch, r, head.len());
                let sql = format!("{head}{row_sql}{on_dup}");
                match self.conn.query_drop(sql).await {
                    Ok(()) => written += 1,
                    Err(e) if server_code(&e).is_some_and(is_row_data_error) => {
                        let code = if server_code(&e) == Some(1062) {
                            "duplicate-key"
                        } else {
                            "rejected-by-target"
                        };
                        let reason = format!("the server refused the row: {}", my_message(&e));
                        sink_rejects
                            .push(self.write_reject(table, &schema, batch, r, None, code, reason));
                    }
                    Err(e) => {
                        let _ = self.conn.query_drop("ROLLBACK").await;
                        return Err(my_error(&self.name, Some(&name), &e, ""));
                    }
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
        })
    }

    /// Encodes row `r` as `(v1,v2,…)` into `out`, or says which column
    /// cannot be stored and why.
    pub(super) fn encode_row(
        &self,
        out: &mut String,
        encs: &[Enc],
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
            encode_value(out, enc, batch.value(r, c))
                .map_err(|(code, why)| (Some(c), code, why))?;
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
