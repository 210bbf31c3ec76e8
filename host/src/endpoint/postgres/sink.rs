//! A PostgreSQL database written as a sink: tables, batches by binary COPY.

use super::*;
use crate::endpoint::sql::quote_ident;
use crate::endpoint::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::model::{Batch, ColumnData, Reject, Stage};
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

pub struct PgSink {
    pub(super) client: Client,
    pub(super) name: String,
    /// The conflict policy when consolidating several sources.
    pub conflict: Option<crate::consolidate::Conflict>,
}

impl PgSink {
    pub async fn connect(url: &str) -> Result<PgSink, EndpointError> {
        let name = crate::endpoint::redact(url);
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
            connect_error(&name, &e, "is the server running and the database created?")
        })?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::error!("postgres connection ended: {e}");
            }
        });
        // Batch commits need not wait for their WAL flush: each batch
        // commits atomically with everything that describes it, so a server
        // crash can only lose the most recent whole batches, never half of
        // one. The final DDL commit (keys, FKs) flushes all earlier WAL, so a
        // finished run is durable. Measured: ~1 ms saved per batch.
        client
            .batch_execute("SET synchronous_commit = off")
            .await
            .map_err(|e| connect_error(&name, &e, ""))?;
        Ok(PgSink {
            client,
            name,
            conflict: None,
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

    /// Deletes the rows of `table` whose `column` is one of `values` (and,
    /// with `eq`, whose other column equals a value).
    pub async fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        let sql = format!(
            "DELETE FROM {} WHERE {}::text = ANY($1){}",
            quote_ident(table),
            quote_ident(column),
            match eq {
                Some((c, _)) => format!(" AND {}::text = $2", quote_ident(c)),
                None => String::new(),
            }
        );
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let r = match eq {
            Some((_, v)) => self.client.execute(&sql, &[&values, &v]).await,
            None => self.client.execute(&sql, &[&values]).await,
        };
        r.map_err(|e| pg_error(&self.name, Some(table), &e))
    }

    /// Whether one table exists.
    pub(super) async fn has_table(&mut self, name: &str) -> Result<bool, EndpointError> {
        Ok(!self.existing_tables(&[name.to_string()]).await?.is_empty())
    }

    pub async fn existing_tables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        let mut out = Vec::new();
        for n in names {
            let exists: bool = self
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quote_ident(n)])
                .await
                .map_err(|e| pg_error(&self.name, Some(n), &e))?
                .get(0);
            if exists {
                out.push(n.clone());
            }
        }
        Ok(out)
    }

    pub async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        for t in tables {
            let too_long = std::iter::once(&t.def.name)
                .chain(t.def.columns.iter().map(|c| &c.name))
                .find(|n| n.len() > MAX_IDENT_BYTES);
            if let Some(n) = too_long {
                return Err(self.err(
                    Some(&t.def.name),
                    format!("identifier `{n}` is longer than PostgreSQL's {MAX_IDENT_BYTES} bytes; rename it with a transformer"),
                ));
            }
            let exists: bool = self
                .client
                .query_one(
                    "SELECT to_regclass($1) IS NOT NULL",
                    &[&quote_ident(&t.def.name)],
                )
                .await
                .map_err(|e| pg_error(&self.name, Some(&t.def.name), &e))?
                .get(0);
            if exists {
                match if_exists {
                    IfExists::Fail => {
                        return Err(EndpointError::TargetExists {
                            endpoint: self.name.clone(),
                            table: t.def.name.clone(),
                        });
                    }
                    IfExists::Drop => self
                        .client
                        .batch_execute(&format!("DROP TABLE {} CASCADE", quote_ident(&t.def.name)))
                        .await
                        .map_err(|e| pg_error(&self.name, Some(&t.def.name), &e))?,
                }
            }
        }
        let mut ddl = String::from("BEGIN;\n");
        for t in tables {
            let cols: Vec<String> = t
                .def
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "{} {}{}{}",
                        quote_ident(&c.name),
                        column_type(&t.source, c),
                        if c.nullable { "" } else { " NOT NULL" },
                        crate::model::default_sql(c, false)
                            .map(|d| format!(" DEFAULT {d}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            ddl.push_str(&format!(
                "CREATE TABLE {} (\n  {}\n);\n",
                quote_ident(&t.def.name),
                cols.join(",\n  ")
            ));
        }
        ddl.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (id bigserial PRIMARY KEY, run_id text NOT NULL, \
             table_name text NOT NULL, source_key text, stage text NOT NULL, plugin text, column_name text, \
             code text NOT NULL, reason text NOT NULL, row_data text NOT NULL, rejected_at timestamptz NOT NULL DEFAULT now());\nCOMMIT;"
        ));
        self.client
            .batch_execute(&ddl)
            .await
            .map_err(|e| pg_error_in(&self.name, None, &e, "creating tables".into()))
    }

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
        let upsert = upsert && !table.def.primary_key.is_empty();
        let name = table.def.name.clone();
        let schema = table.def.schema();
        // PostgreSQL text cannot hold NUL bytes; such rows are rejected here
        // with the reason instead of failing the whole COPY.
        // Decimals that would not fit a declared numeric(p,s) exactly are
        // rejected too, rather than rounded by the server.
        let mut bad: Vec<(usize, usize, &str, String)> = rows_with_nul(batch)
            .into_iter()
            .map(|(r, c)| {
                let why = "PostgreSQL text cannot contain NUL (0x00) bytes".to_string();
                (r, c, "nul-byte", why)
            })
            .collect();
        bad.extend(decimals_that_do_not_fit(batch, table));
        bad.sort_by_key(|(r, c, _, _)| (*r, *c));
        let mut sink_rejects = Vec::new();
        let owned;
        let batch = if bad.is_empty() {
            batch
        } else {
            let mut keep = vec![true; batch.num_rows];
            for (row, col, code, reason) in bad {
                if keep[row] {
                    keep[row] = false;
                    sink_rejects.push(Reject {
                        table: table.source.name.clone(),
                        source_key: batch.source_key(&schema, &table.source.primary_key, row),
                        stage: Stage::Write,
                        plugin: None,
                        column: Some(schema.columns[col].name.clone()),
                        code: code.into(),
                        reason,
                        row: batch.row_json(&schema, row),
                    });
                }
            }
            owned = batch.retain(&schema, &keep);
            &owned
        };
        let data = encode_copy_binary(batch, &schema);
        let e = |x: tokio_postgres::Error| pg_error(&self.name, Some(&name), &x);
        let tx = self.client.transaction().await.map_err(e)?;
        if let Some(r) = replace {
            for (sql, p) in
                crate::endpoint::sql::delete_in(&crate::endpoint::sql::dialect::POSTGRES, &name, r)
            {
                tx.execute(&sql, &params(&p)).await.map_err(e)?;
            }
        }
        if batch.num_rows > 0 {
            let cols: Vec<String> = schema
                .columns
                .iter()
                .map(|c| quote_ident(&c.name))
                .collect();
            // An incremental run's rows replace those with the same key:
            // COPY into a per-connection stage, then one INSERT … ON CONFLICT.
            let stage = format!("_ferry_stage_{}", short_hash(&name));
            let into = if upsert {
                tx.batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t}) ON COMMIT DELETE ROWS",
                    s = quote_ident(&stage),
                    t = quote_ident(&name)
                ))
                .await
                .map_err(e)?;
                quote_ident(&stage)
            } else {
                quote_ident(&name)
            };
            let sql = format!(
                "COPY {into} ({}) FROM STDIN (FORMAT binary)",
                cols.join(", ")
            );
            let sink = tx.copy_in::<_, bytes::Bytes>(&sql).await.map_err(e)?;
            futures_util::pin_mut!(sink);
            // Two sends (each flushed) so a crash test can die with half a
            // COPY on the wire: the server must roll the batch back.
            let mut data = data.freeze();
            let first = data.split_to(data.len() / 2);
            sink.send(first).await.map_err(e)?;
            crate::failpoint::at("copy", Some(&table.source.name));
            sink.send(data).await.map_err(e)?;
            sink.finish().await.map_err(e)?;
            if upsert {
                tx.batch_execute(&format!(
                    "INSERT INTO {t} ({c}) SELECT {c} FROM {s}{u}",
                    t = quote_ident(&name),
                    c = cols.join(", "),
                    s = quote_ident(&stage),
                    u = crate::endpoint::sql::upsert_clause(&table.def)
                ))
                .await
                .map_err(e)?;
            }
        }
        let all: Vec<&Reject> = rejects.iter().chain(sink_rejects.iter()).collect();
        if !all.is_empty() {
            let stmt = tx
                .prepare(&format!(
                    "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .await
                .map_err(e)?;
            for r in all {
                let row = r.row.to_string();
                tx.execute(
                    &stmt,
                    &[
                        &run_id,
                        &r.table,
                        &r.source_key,
                        &r.stage.name(),
                        &r.plugin,
                        &r.column,
                        &r.code,
                        &r.reason,
                        &row,
                    ],
                )
                .await
                .map_err(e)?;
            }
        }
        if let Some(cp) = checkpoint {
            let mut cp = cp.clone();
            cp.rows_written += batch.num_rows as u64;
            cp.rows_rejected += (rejects.len() + sink_rejects.len()) as u64;
            let (sql, p) = crate::endpoint::sql::ledger::checkpoint_upsert(
                &crate::endpoint::sql::dialect::POSTGRES,
                &cp,
            );
            tx.execute(&sql, &params(&p)).await.map_err(e)?;
        }
        crate::failpoint::at("commit", Some(&table.source.name));
        tx.commit().await.map_err(e)?;
        Ok(WriteOutcome {
            written: batch.num_rows as u64,
            rejected: sink_rejects,
        })
    }
}

/// `(row, column)` of every text value holding a NUL byte. One `contains`
/// scan per text column; rows are only visited in columns that have one.
pub(super) fn rows_with_nul(batch: &Batch) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (ci, col) in batch.columns.iter().enumerate() {
        if let ColumnData::Utf8(v) = &col.data
            && v.data.contains(&0)
        {
            for r in 0..batch.num_rows {
                if v.value(r).contains(&0) {
                    out.push((r, ci));
                }
            }
        }
    }
    out.sort();
    out
}

/// `(row, column, code, reason)` of every decimal that would not fit its
/// column's declared `numeric(p,s)` exactly.
pub(super) fn decimals_that_do_not_fit(
    batch: &Batch,
    table: &TargetTable,
) -> Vec<(usize, usize, &'static str, String)> {
    let mut out = Vec::new();
    for (ci, col) in table.def.columns.iter().enumerate() {
        let (Some((p, s)), Some(ColumnData::Utf8(v))) = (
            numeric_typmod(&table.source, col),
            batch.columns.get(ci).map(|c| &c.data),
        ) else {
            continue;
        };
        for r in 0..batch.num_rows {
            if batch.columns[ci].is_null(r) {
                continue;
            }
            let text = String::from_utf8_lossy(v.value(r));
            if !fits_numeric(&text, p, s) {
                out.push((
                    r,
                    ci,
                    "numeric-overflow",
                    format!(
                        "{text} does not fit numeric({p},{s}) exactly (at most {} digits before the point and {s} after); PostgreSQL would round or refuse it",
                        p - s
                    ),
                ));
            }
        }
    }
    out
}
