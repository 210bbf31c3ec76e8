//! A PostgreSQL database written as a sink: tables, batches by binary COPY.

use super::*;
use crate::endpoint::sql::quote_ident;
use crate::endpoint::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::model::{Batch, Reject, Stage};
use futures_util::SinkExt;
use tokio_postgres::Client;

pub struct PgSink {
    pub(super) client: Client,
    /// A second connection, opened when a table's indexes build at once
    /// (`keys.rs`).
    pub(super) side: Option<Client>,
    /// Where `side` connects.
    pub(super) url: String,
    pub(super) name: String,
    /// The conflict policy when consolidating several sources.
    pub conflict: Option<crate::consolidate::Conflict>,
}

impl PgSink {
    pub async fn connect(url: &str) -> Result<PgSink, EndpointError> {
        let name = crate::endpoint::redact(url);
        let client = open_client(url, "target").await.map_err(|e| {
            connect_error(&name, &e, "is the server running and the database created?")
        })?;
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
            side: None,
            url: url.to_string(),
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
                .map(|c| column_sql(&t.source, c))
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

    /// Whether `table` loads raw rows of `format` as they are: binary COPY
    /// tuples, each column of exactly the type the tuples carry (as
    /// `format_type` spells both, typmod included), so the server reads
    /// every value as the source's server wrote it.
    pub async fn accepts_raw(
        &mut self,
        table: &TargetTable,
        format: &crate::endpoint::RawFormat,
    ) -> Result<bool, EndpointError> {
        if format.format != RAW_FORMAT || table.def.columns.len() != format.columns.len() {
            return Ok(false);
        }
        let types = column_types(&self.client, &quote_ident(&table.def.name))
            .await
            .map_err(|e| pg_error(&self.name, Some(&table.def.name), &e))?;
        Ok(table
            .def
            .columns
            .iter()
            .zip(&format.columns)
            .all(|(c, carried)| types.iter().any(|(n, t)| n == &c.name && t == carried)))
    }

    /// Whether `table` stores every value as the binary COPY sends it
    /// (`copy::verbatim` of each column's type, read from the catalog, so an
    /// existing table appended to is judged by what it is).
    pub async fn sends_verbatim(&mut self, table: &TargetTable) -> Result<bool, EndpointError> {
        let types = column_types(&self.client, &quote_ident(&table.def.name))
            .await
            .map_err(|e| pg_error(&self.name, Some(&table.def.name), &e))?;
        Ok(types.len() == table.def.columns.len()
            && table
                .def
                .columns
                .iter()
                .zip(&types)
                .all(|(c, (name, stored))| {
                    name == &c.name
                        && super::copy::verbatim(c.logical_type, declared(&table.source, c), stored)
                }))
    }

    /// Writes one batch, its rejects and its checkpoint in one transaction.
    /// Values PostgreSQL cannot hold are found first and their rows
    /// rejected (`refused::unfit_values`); if the server still refuses the
    /// COPY over a value, the transaction is redone with the refused rows
    /// isolated by bisection (`PgSink::load_bisecting`) and rejected with
    /// the server's message. A clean batch takes the same round trips as
    /// ever: BEGIN, COPY, the rejects, the checkpoint, COMMIT.
    pub async fn write_batch(
        &mut self,
        w: crate::endpoint::Write<'_>,
    ) -> Result<WriteOutcome, EndpointError> {
        let table = w.table;
        let schema = table.def.schema();
        let reject =
            |batch: &Batch, row: usize, col: Option<String>, code: &str, reason: String| Reject {
                table: table.source.name.clone(),
                source_key: batch.source_key(&schema, &table.source.primary_key, row),
                stage: Stage::Write,
                plugin: None,
                column: col,
                code: code.into(),
                reason,
                row: batch.row_json(&schema, row),
            };
        // Raw rows pass through as the source's server sent them: one COPY
        // of header, tuples and trailer. Should the server refuse a value
        // (a database with another encoding, say), they are decoded and take
        // the batch's way, which isolates the refused rows.
        let decoded;
        let given = match w.raw {
            None => w.batch,
            Some(raw) => {
                let mut data = bytes::BytesMut::with_capacity(
                    COPY_HEADER.len() + raw.bytes.len() + COPY_TRAILER.len(),
                );
                data.extend_from_slice(COPY_HEADER);
                data.extend_from_slice(&raw.bytes);
                data.extend_from_slice(COPY_TRAILER);
                match self
                    .commit_batch(&w, raw.rows, &[], Load::Whole(data.freeze()))
                    .await
                {
                    Ok(_) => {
                        return Ok(WriteOutcome {
                            written: raw.rows as u64,
                            rejected: Vec::new(),
                            sent: None,
                        });
                    }
                    Err(Failed::Other(e)) => return Err(e),
                    Err(Failed::Refused(first)) => {
                        tracing::debug!(
                            table = table.def.name,
                            "the server refused a raw value ({first}); decoding the batch"
                        );
                        decoded = raw.decode.decode(&raw.bytes).map_err(|reason| {
                            EndpointError::query(
                                &self.name,
                                Some(&table.def.name),
                                format!(
                                    "raw rows the server refused could not be decoded: {reason}"
                                ),
                                false,
                            )
                        })?;
                        &decoded
                    }
                }
            }
        };
        let mut sink_rejects = Vec::new();
        let owned;
        let unfit = unfit_values(given, table);
        // Which rows of `given` are encoded, when not all are.
        let mut kept = None;
        let batch = if unfit.is_empty() {
            given
        } else {
            let mut keep = vec![true; given.num_rows];
            for u in unfit {
                if keep[u.row] {
                    keep[u.row] = false;
                    let col = schema.columns[u.col].name.clone();
                    sink_rejects.push(reject(given, u.row, Some(col), u.code, u.reason));
                }
            }
            owned = given.retain(&schema, &keep);
            kept = Some(keep);
            &owned
        };
        let declared: Vec<_> = table
            .def
            .columns
            .iter()
            .map(|c| declared(&table.source, c))
            .collect();
        let endpoint = self.name.clone();
        let encode = |offsets: Option<&mut Vec<usize>>| {
            encode_copy_binary(batch, &schema, &declared, offsets).map_err(|reason| {
                EndpointError::Query {
                    endpoint: endpoint.clone(),
                    table: Some(table.def.name.clone()),
                    reason,
                }
            })
        };
        // Where each row starts, when the rows are handed back as sent.
        let mut starts = Vec::new();
        let data = encode(w.keep_sent.then_some(&mut starts))?.freeze();
        let whole = self
            .commit_batch(&w, batch.num_rows, &sink_rejects, Load::Whole(data.clone()))
            .await;
        let mut sent = None;
        let refused = match whole {
            Ok(none) => {
                if w.keep_sent {
                    sent = Some(crate::endpoint::SentRows {
                        bytes: data,
                        offsets: starts,
                        kept,
                    });
                }
                none
            }
            Err(Failed::Refused(first)) => {
                tracing::debug!(
                    table = table.def.name,
                    "the server refused a value ({first}); isolating the refused rows"
                );
                let mut offsets = Vec::with_capacity(batch.num_rows + 1);
                let data = encode(Some(&mut offsets))?;
                // The header is sent on its own with each slice.
                let data = data.freeze().slice(COPY_HEADER.len()..);
                let offsets = offsets.iter().map(|o| o - COPY_HEADER.len()).collect();
                let load = Load::Bisect {
                    data,
                    offsets,
                    reject: &|row, message, column| {
                        let col = column.filter(|c| schema.index_of(c).is_some());
                        let why = format!("PostgreSQL refused the row: {message}");
                        reject(batch, row, col, "refused", why)
                    },
                };
                match self
                    .commit_batch(&w, batch.num_rows, &sink_rejects, load)
                    .await
                {
                    Ok(refused) => refused,
                    Err(Failed::Refused(e) | Failed::Other(e)) => return Err(e),
                }
            }
            Err(Failed::Other(e)) => return Err(e),
        };
        let written = batch.num_rows - refused.len();
        sink_rejects.extend(refused);
        Ok(WriteOutcome {
            written: written as u64,
            rejected: sink_rejects,
            // A bisected batch's rows are not told apart: the run digests
            // what it stored by value instead.
            sent,
        })
    }

    /// One transaction of a batch: rows replaced first, the rows loaded
    /// (whole, or bisected), the rejects, the checkpoint, commit. Returns
    /// the rows a bisected load found refused (already rejected in the
    /// transaction). A whole load the server refuses over a value is rolled
    /// back and reported as [`Failed::Refused`], for the caller to redo
    /// bisecting.
    async fn commit_batch(
        &mut self,
        w: &crate::endpoint::Write<'_>,
        rows: usize,
        sink_rejects: &[Reject],
        load: Load<'_>,
    ) -> Result<Vec<Reject>, Failed> {
        let table = w.table;
        let name = table.def.name.clone();
        let schema = table.def.schema();
        let endpoint = self.name.clone();
        let e = |x: tokio_postgres::Error| Failed::Other(pg_error(&endpoint, Some(&name), &x));
        let upsert = w.upsert && !table.def.primary_key.is_empty();
        let tx = self.client.transaction().await.map_err(e)?;
        if let Some(r) = w.replace {
            for (sql, p) in
                crate::endpoint::sql::delete_in(&crate::endpoint::sql::dialect::POSTGRES, &name, r)
            {
                tx.execute(&sql, &params(&p)).await.map_err(e)?;
            }
        }
        let cols: Vec<String> = schema
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect();
        // An incremental run's rows replace those with the same key:
        // COPY into a per-connection stage, then one INSERT … ON CONFLICT.
        let stage = quote_ident(&format!("_ferry_stage_{}", short_hash(&name)));
        if upsert && rows > 0 {
            tx.batch_execute(&format!(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {t}) ON COMMIT DELETE ROWS",
                t = quote_ident(&name)
            ))
            .await
            .map_err(e)?;
        }
        let into = if upsert { &stage } else { &quote_ident(&name) };
        let copy = format!(
            "COPY {into} ({}) FROM STDIN (FORMAT binary)",
            cols.join(", ")
        );
        let insert = format!(
            "INSERT INTO {t} ({c}) SELECT {c} FROM {stage}{u}",
            t = quote_ident(&name),
            c = cols.join(", "),
            u = crate::endpoint::sql::upsert_clause(&table.def)
        );
        let clear = format!("DELETE FROM {stage}");
        let mut written = rows;
        let mut refused_rejects = Vec::new();
        match load {
            _ if rows == 0 => {}
            Load::Whole(mut data) => {
                let sent = async {
                    let sink = tx.copy_in::<_, bytes::Bytes>(&copy).await?;
                    futures_util::pin_mut!(sink);
                    // Two sends (each flushed) so a crash test can die with
                    // half a COPY on the wire: the server must roll the batch
                    // back.
                    let first = data.split_to(data.len() / 2);
                    sink.send(first).await?;
                    crate::failpoint::at("copy", Some(&table.source.name));
                    sink.send(data).await?;
                    sink.finish().await?;
                    if upsert {
                        tx.batch_execute(&insert).await?;
                    }
                    Ok::<(), tokio_postgres::Error>(())
                }
                .await;
                if let Err(x) = sent {
                    if !refused_value(&x) {
                        return Err(e(x));
                    }
                    tx.rollback().await.map_err(e)?;
                    return Err(Failed::Refused(pg_error(&endpoint, Some(&name), &x)));
                }
            }
            Load::Bisect {
                data,
                offsets,
                reject,
            } => {
                let plan = CopyPlan {
                    copy: &copy,
                    upsert: upsert.then_some((insert.as_str(), clear.as_str())),
                };
                let found = Self::load_bisecting(&tx, &plan, &data, &offsets)
                    .await
                    .map_err(e)?;
                written -= found.len();
                for (row, message, column) in found {
                    refused_rejects.push(reject(row, message, column));
                }
            }
        }
        let all: Vec<&Reject> = w
            .rejects
            .iter()
            .chain(sink_rejects)
            .chain(&refused_rejects)
            .collect();
        if !all.is_empty() {
            let stmt = tx
                .prepare(&format!(
                    "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                ))
                .await
                .map_err(e)?;
            for r in &all {
                let row = r.row.to_string();
                tx.execute(
                    &stmt,
                    &[
                        &w.run_id,
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
        if let Some(cp) = w.checkpoint {
            let mut cp = cp.clone();
            cp.rows_written += written as u64;
            cp.rows_rejected += (sink_rejects.len() + refused_rejects.len()) as u64;
            let (sql, p) = crate::endpoint::sql::ledger::checkpoint_upsert(
                &crate::endpoint::sql::dialect::POSTGRES,
                &cp,
            );
            tx.execute(&sql, &params(&p)).await.map_err(e)?;
        }
        crate::failpoint::at("commit", Some(&table.source.name));
        tx.commit().await.map_err(e)?;
        Ok(refused_rejects)
    }
}

/// How a batch's rows are loaded in its transaction.
enum Load<'a> {
    /// One COPY of the whole encoded batch (header and trailer included).
    Whole(bytes::Bytes),
    /// Slices under savepoints until the refused rows stand alone
    /// (`data`: the rows without header and trailer; `offsets[i]`: where row
    /// `i` starts, then the end). Each refused row becomes `reject(row,
    /// message, column)`, kept in the transaction.
    Bisect {
        data: bytes::Bytes,
        offsets: Vec<usize>,
        reject: &'a (dyn Fn(usize, String, Option<String>) -> Reject + Sync),
    },
}

/// Why a batch's transaction did not commit.
enum Failed {
    /// The server refused a value: redo bisecting.
    Refused(EndpointError),
    Other(EndpointError),
}
