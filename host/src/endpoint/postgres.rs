//! PostgreSQL sink: tables created from the final schema, rows loaded with
//! `COPY … FROM STDIN (FORMAT binary)`, keys, indexes and foreign keys added
//! after the load.

use bytes::{BufMut, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::{Client, NoTls};

use super::sqlite::{quote_ident, quote_list};
use super::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::ledger::{Checkpoint, RunRecord};
use crate::model::{Batch, ColumnData, LogicalType, Reject, Stage, Storage};

/// PostgreSQL's identifier limit: 63 bytes (NAMEDATALEN - 1). Longer names
/// would be silently truncated by the server, so ferry refuses them.
const MAX_IDENT_BYTES: usize = 63;

/// The PostgreSQL column type for a logical type.
///
/// | logical | PostgreSQL |
/// | --- | --- |
/// | boolean | boolean |
/// | int64 | bigint |
/// | float64 | double precision (never `real`: no silent rounding) |
/// | decimal | numeric |
/// | text | text |
/// | bytes | bytea |
/// | json | jsonb |
/// | date, time, timestamp, timestamptz, uuid | same name |
pub fn pg_type(t: LogicalType) -> &'static str {
    match t {
        LogicalType::Boolean => "boolean",
        LogicalType::Int64 => "bigint",
        LogicalType::Float64 => "double precision",
        LogicalType::Decimal => "numeric",
        LogicalType::Text => "text",
        LogicalType::Bytes => "bytea",
        LogicalType::Json => "jsonb",
        LogicalType::Date => "date",
        LogicalType::Time => "time",
        LogicalType::Timestamp => "timestamp",
        LogicalType::Timestamptz => "timestamptz",
        LogicalType::Uuid => "uuid",
    }
}

/// The PostgreSQL type a sink creates for `col`: [`pg_type`], except that a
/// decimal column declared `NUMERIC(p,s)` / `DECIMAL(p,s)` / `NUMERIC(p)` in
/// its source keeps that precision (values that would not fit exactly are
/// rejected at write time, never rounded by the server). A `VARCHAR(n)`
/// stays `text`: the length limit could only refuse or truncate values, and
/// every value that arrives already fits the source's limit.
pub fn column_type(source: &crate::model::TableDef, col: &crate::model::ColumnDef) -> String {
    match numeric_typmod(source, col) {
        Some((p, s)) => format!("numeric({p},{s})"),
        None => pg_type(col.logical_type).to_string(),
    }
}

/// PostgreSQL's `numeric` precision limit: 1000 digits in a typmod.
const MAX_NUMERIC_PRECISION: u32 = 1000;

/// `(precision, scale)` of a decimal column whose source declared one.
fn numeric_typmod(
    source: &crate::model::TableDef,
    col: &crate::model::ColumnDef,
) -> Option<(u32, u32)> {
    if col.logical_type != LogicalType::Decimal {
        return None;
    }
    let src = source
        .columns
        .iter()
        .find(|s| s.name == col.name && s.logical_type == LogicalType::Decimal)?;
    let d = src.declared_type.trim().to_ascii_lowercase();
    let args = d
        .strip_prefix("numeric")
        .or_else(|| d.strip_prefix("decimal"))?
        .trim()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let (p, s) = match args.split_once(',') {
        Some((p, s)) => (p.trim().parse().ok()?, s.trim().parse().ok()?),
        None => (args.trim().parse().ok()?, 0),
    };
    (1..=MAX_NUMERIC_PRECISION).contains(&p).then_some(())?;
    (s <= p).then_some((p, s))
}

/// Whether decimal text `v` fits `numeric(p,s)` without rounding: at most
/// `p - s` digits before the point and `s` significant digits after it.
fn fits_numeric(v: &str, p: u32, s: u32) -> bool {
    let v = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mantissa, exp) = match v.find(['e', 'E']) {
        Some(i) => match v[i + 1..].parse::<i64>() {
            Ok(e) => (&v[..i], e),
            Err(_) => return false,
        },
        None => (v, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // Position of the point among `digits`, after the exponent.
    let point = (int.len() as i64).saturating_add(exp);
    let first = digits.iter().position(|&d| d != b'0');
    let Some(first) = first else {
        return true; // zero fits any numeric
    };
    let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(first) as i64;
    let int_digits = point.saturating_sub(first as i64).max(0);
    let frac_digits = (last + 1).saturating_sub(point).max(0);
    int_digits <= (p - s) as i64 && frac_digits <= s as i64
}

/// The server's full message (tokio-postgres' `Display` is only "db error").
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m
        }
        None => e.to_string(),
    }
}

/// A PostgreSQL database written as a sink.
/// The ledger's tables, by version: each entry upgrades from the one before.
const LEDGER_MIGRATIONS: &[(i64, &str)] = &[
    (
    1,
    "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id text PRIMARY KEY, status text NOT NULL, \
     phase text NOT NULL, mode text NOT NULL, source text NOT NULL, target text NOT NULL, \
     fingerprint text, plan text, started_at text NOT NULL, updated_at text NOT NULL, \
     finished_at text, report text, error text);
     CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id text NOT NULL, table_name text NOT NULL, \
     position bigint, rows_read bigint NOT NULL, rows_written bigint NOT NULL, \
     rows_rejected bigint NOT NULL, done boolean NOT NULL, updated_at text NOT NULL, \
     PRIMARY KEY (run_id, table_name));",
    ),
    (
        2,
        "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id text NOT NULL, table_name text NOT NULL, \
     kind text NOT NULL, backup_ref text, pre_rows bigint NOT NULL, pre_checksum text, \
     created_at text NOT NULL, PRIMARY KEY (run_id, table_name));",
    ),
    (
        3,
        "ALTER TABLE _ferry_checkpoints ADD COLUMN IF NOT EXISTS cursor_column text; \
         ALTER TABLE _ferry_checkpoints ADD COLUMN IF NOT EXISTS cursor_value text;",
    ),
    (
        4,
        "ALTER TABLE _ferry_checkpoints ADD COLUMN IF NOT EXISTS target_offsets text;",
    ),
];

/// 12 hex digits of a name's SHA-256: a short, stable identifier part.
fn short_hash(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..6])
}

/// Where replaced tables are kept until their run is rolled back or dropped.
const BACKUP_SCHEMA: &str = "_ferry_backup";

async fn save_checkpoint(
    tx: &tokio_postgres::Transaction<'_>,
    cp: &Checkpoint,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO _ferry_checkpoints (run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (run_id, table_name) DO UPDATE SET position = excluded.position, rows_read = excluded.rows_read, \
         rows_written = excluded.rows_written, rows_rejected = excluded.rows_rejected, done = excluded.done, updated_at = excluded.updated_at, \
         cursor_column = excluded.cursor_column, cursor_value = excluded.cursor_value, target_offsets = excluded.target_offsets",
        &[
            &cp.run_id,
            &cp.table,
            &cp.position,
            &(cp.rows_read as i64),
            &(cp.rows_written as i64),
            &(cp.rows_rejected as i64),
            &cp.done,
            &crate::ledger::now(),
            &cp.cursor_column,
            &cp.cursor_value,
            &cp.offsets,
        ],
    )
    .await
    .map(|_| ())
}

pub struct PgSink {
    client: Client,
    name: String,
    /// The conflict policy when consolidating several sources.
    pub conflict: Option<crate::consolidate::Conflict>,
}

impl PgSink {
    pub async fn connect(url: &str) -> Result<PgSink, EndpointError> {
        let name = super::redact(url);
        let (client, conn) =
            tokio_postgres::connect(url, NoTls)
                .await
                .map_err(|e| EndpointError::Connect {
                    endpoint: name.clone(),
                    reason: format!(
                        "{}; is the server running and the database created?",
                        pg_message(&e)
                    ),
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
            .map_err(|e| EndpointError::Connect {
                endpoint: name.clone(),
                reason: pg_message(&e),
            })?;
        Ok(PgSink {
            client,
            name,
            conflict: None,
        })
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    fn err(&self, table: Option<&str>, e: impl std::fmt::Display) -> EndpointError {
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
        r.map_err(|e| self.err(Some(table), pg_message(&e)))
    }

    /// Whether one table exists.
    async fn has_table(&mut self, name: &str) -> Result<bool, EndpointError> {
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
                .map_err(|e| self.err(Some(n), pg_message(&e)))?
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
                .map_err(|e| self.err(Some(&t.def.name), pg_message(&e)))?
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
                        .map_err(|e| self.err(Some(&t.def.name), pg_message(&e)))?,
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
            .map_err(|e| self.err(None, format!("creating tables: {}", pg_message(&e))))
    }

    pub async fn write(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
        checkpoint: Option<&Checkpoint>,
        upsert: bool,
    ) -> Result<WriteOutcome, EndpointError> {
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
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: self.name.clone(),
            table: Some(name.clone()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
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
            sink.send(data.freeze()).await.map_err(e)?;
            sink.finish().await.map_err(e)?;
            if upsert {
                tx.batch_execute(&format!(
                    "INSERT INTO {t} ({c}) SELECT {c} FROM {s}{u}",
                    t = quote_ident(&name),
                    c = cols.join(", "),
                    s = quote_ident(&stage),
                    u = super::sqlite::upsert_clause(&table.def)
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
            save_checkpoint(&tx, &cp).await.map_err(e)?;
        }
        tx.commit().await.map_err(e)?;
        Ok(WriteOutcome {
            written: batch.num_rows as u64,
            rejected: sink_rejects,
        })
    }

    /// Rows and an order-independent checksum of a table's content (md5
    /// over the sorted md5s of each row's text); `None` when it does not exist.
    pub async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        if !self.has_table(table).await? {
            return Ok(None);
        }
        let row = self
            .client
            .query_one(
                &format!(
                    "SELECT count(*)::bigint, coalesce(md5(string_agg(h, '' ORDER BY h)), '') \
                     FROM (SELECT md5(x::text) AS h FROM {} x) s",
                    quote_ident(table)
                ),
                &[],
            )
            .await
            .map_err(|e| self.err(Some(table), pg_message(&e)))?;
        Ok(Some((row.get::<_, i64>(0) as u64, row.get(1))))
    }

    /// Keeps `table`'s pre-run state in the `_ferry_backup` schema as
    /// `TABLE__RUN8` and records the backup `b` in the same transaction, so
    /// a crash leaves the table either untouched or backed up and recorded.
    /// A run that replaces the table moves it there (`moved`: a catalog
    /// change, no copy); one that changes it in place copies it (`copied`).
    pub async fn backup_table(
        &mut self,
        run_id: &str,
        table: &str,
        b: &crate::ledger::Backup,
        in_place: bool,
    ) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        // 63 bytes at most: cut the table part on a character boundary.
        let mut base = table.to_string();
        while base.len() > 52 {
            base.pop();
        }
        let name = format!("{base}__{short}");
        let (t, n) = (quote_ident(table), quote_ident(&name));
        let keep = if in_place {
            format!("CREATE TABLE {BACKUP_SCHEMA}.{n} AS TABLE {t};")
        } else {
            format!("ALTER TABLE {t} RENAME TO {n}; ALTER TABLE {n} SET SCHEMA {BACKUP_SCHEMA};")
        };
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {BACKUP_SCHEMA}; DROP TABLE IF EXISTS {BACKUP_SCHEMA}.{n} CASCADE; {keep}"
        );
        let reference = format!("{BACKUP_SCHEMA}.{name}");
        let kind = if in_place { "copied" } else { "moved" };
        let endpoint = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: endpoint.clone(),
            table: Some(table.to_string()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        tx.batch_execute(&sql).await.map_err(e)?;
        tx.execute(
            "INSERT INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, table_name) DO UPDATE SET kind = excluded.kind, \
             backup_ref = excluded.backup_ref, pre_rows = excluded.pre_rows, pre_checksum = excluded.pre_checksum",
            &[&b.run_id, &b.table, &kind, &reference, &(b.pre_rows as i64), &b.pre_checksum, &crate::ledger::now()],
        )
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(reference)
    }

    /// A table's primary key columns and all its columns, in order.
    async fn key_and_columns(
        &mut self,
        table: &str,
    ) -> Result<(Vec<String>, Vec<String>), EndpointError> {
        let rows = self
            .client
            .query(
                "SELECT a.attname::text, coalesce(a.attnum = ANY (i.indkey), false) \
                 FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
                 WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                &[&quote_ident(table)],
            )
            .await
            .map_err(|e| self.err(Some(table), pg_message(&e)))?;
        let cols: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let pk: Vec<String> = rows
            .iter()
            .filter(|r| r.get::<_, bool>(1))
            .map(|r| r.get(0))
            .collect();
        Ok((pk, cols))
    }

    /// Puts `table` back as it was before a run, in one transaction: gone
    /// (`absent`), the table moved aside (`moved`) moved back, or its copy
    /// (`copied`, an incremental run) merged back: rows the run added are
    /// deleted, rows it changed get their old values.
    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        if let (Some(b), "copied") = (backup, kind) {
            let (pk, cols) = self.key_and_columns(table).await?;
            let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
            let src = format!("{BACKUP_SCHEMA}.{}", quote_ident(name));
            let t = quote_ident(table);
            let list = quote_list(&cols);
            let sql = if pk.is_empty() {
                format!(
                    "BEGIN; DELETE FROM {t}; INSERT INTO {t} ({list}) SELECT {list} FROM {src}; DROP TABLE {src}; COMMIT;"
                )
            } else {
                let keys = quote_list(&pk);
                let def = crate::model::TableDef {
                    name: table.to_string(),
                    columns: cols
                        .iter()
                        .map(|c| crate::model::ColumnDef {
                            name: c.clone(),
                            declared_type: String::new(),
                            logical_type: LogicalType::Text,
                            nullable: true,
                            default: None,
                        })
                        .collect(),
                    primary_key: pk.clone(),
                    unique: Vec::new(),
                    indexes: Vec::new(),
                    foreign_keys: Vec::new(),
                };
                format!(
                    "BEGIN; DELETE FROM {t} WHERE ({keys}) NOT IN (SELECT {keys} FROM {src}); \
                     INSERT INTO {t} ({list}) SELECT {list} FROM {src}{u}; DROP TABLE {src}; COMMIT;",
                    u = super::sqlite::upsert_clause(&def)
                )
            };
            return self
                .client
                .batch_execute(&sql)
                .await
                .map_err(|e| self.err(Some(table), pg_message(&e)));
        }
        let mut sql = format!(
            "BEGIN; DROP TABLE IF EXISTS {} CASCADE; ",
            quote_ident(table)
        );
        if let (Some(b), "moved") = (backup, kind) {
            let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
            let schema: String = self
                .client
                .query_one("SELECT current_schema()::text", &[])
                .await
                .map_err(|e| self.err(Some(table), pg_message(&e)))?
                .get(0);
            sql.push_str(&format!(
                "ALTER TABLE {BACKUP_SCHEMA}.{n} SET SCHEMA {s}; ALTER TABLE {s}.{n} RENAME TO {t}; ",
                n = quote_ident(name),
                s = quote_ident(&schema),
                t = quote_ident(table)
            ));
        }
        sql.push_str("COMMIT;");
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| self.err(Some(table), pg_message(&e)))
    }

    /// Deletes a run's rows from the rejects table.
    pub async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.has_table(REJECTS_TABLE).await? {
            return Ok(());
        }
        self.client
            .execute(
                &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = $1"),
                &[&run_id],
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(Some(REJECTS_TABLE), pg_message(&e)))
    }

    /// Records what undoing a run needs for one table.
    pub async fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        self.client
            .execute(
                "INSERT INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, table_name) DO UPDATE SET kind = excluded.kind, \
                 backup_ref = excluded.backup_ref, pre_rows = excluded.pre_rows, pre_checksum = excluded.pre_checksum",
                &[&b.run_id, &b.table, &b.kind, &b.backup_ref, &(b.pre_rows as i64), &b.pre_checksum, &crate::ledger::now()],
            )
            .await
            .map(|_| ())
            .map_err(|e| self.err(Some(crate::ledger::BACKUPS_TABLE), pg_message(&e)))
    }

    /// What undoing a run needs.
    pub async fn backups(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        if !self.has_table(crate::ledger::BACKUPS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT run_id, table_name, kind, backup_ref, pre_rows, pre_checksum FROM _ferry_backups WHERE run_id = $1 ORDER BY table_name",
                &[&run_id],
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::BACKUPS_TABLE), pg_message(&e)))?;
        Ok(rows
            .iter()
            .map(|r| crate::ledger::Backup {
                run_id: r.get(0),
                table: r.get(1),
                kind: r.get(2),
                backup_ref: r.get(3),
                pre_rows: r.get::<_, i64>(4) as u64,
                pre_checksum: r.get(5),
            })
            .collect())
    }

    /// Creates or upgrades the ledger tables (see [`crate::ledger`]).
    pub async fn ledger_init(&mut self) -> Result<(), EndpointError> {
        let name = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: name.clone(),
            table: Some(crate::ledger::LEDGER_TABLE.into()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        // One ferry at a time upgrades a ledger.
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7423911); \
             CREATE TABLE IF NOT EXISTS _ferry_ledger (version bigint NOT NULL, applied_at text NOT NULL)",
        )
        .await
        .map_err(e)?;
        let have: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::bigint FROM _ferry_ledger",
                &[],
            )
            .await
            .map_err(e)?
            .get(0);
        if have > crate::ledger::LEDGER_VERSION {
            return Err(EndpointError::Query {
                endpoint: name.clone(),
                table: Some(crate::ledger::LEDGER_TABLE.into()),
                reason: format!(
                    "the ledger is version {have}, written by a newer ferry (this one knows {}); upgrade ferry",
                    crate::ledger::LEDGER_VERSION
                ),
            });
        }
        for (v, ddl) in LEDGER_MIGRATIONS.iter().filter(|(v, _)| *v > have) {
            tx.batch_execute(ddl).await.map_err(e)?;
            tx.execute(
                "INSERT INTO _ferry_ledger (version, applied_at) VALUES ($1, $2)",
                &[v, &crate::ledger::now()],
            )
            .await
            .map_err(e)?;
        }
        tx.commit().await.map_err(e)
    }

    /// Inserts or updates a run.
    pub async fn save_run(&mut self, r: &RunRecord) -> Result<(), EndpointError> {
        self.client
            .execute(
                "INSERT INTO _ferry_runs (run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, phase = excluded.phase, mode = excluded.mode, \
                 fingerprint = excluded.fingerprint, plan = coalesce(excluded.plan, _ferry_runs.plan), updated_at = excluded.updated_at, \
                 finished_at = excluded.finished_at, report = excluded.report, error = excluded.error",
                &[
                    &r.run_id, &r.status, &r.phase, &r.mode, &r.source, &r.target, &r.fingerprint, &r.plan,
                    &r.started_at, &r.updated_at, &r.finished_at, &r.report, &r.error,
                ],
            )
            .await
            .map(|_| ())
            .map_err(|x| self.err(Some(crate::ledger::RUNS_TABLE), pg_message(&x)))
    }

    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    pub async fn runs(&mut self, run_id: Option<&str>) -> Result<Vec<RunRecord>, EndpointError> {
        if !self.has_table(crate::ledger::RUNS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error \
                 FROM _ferry_runs WHERE $1::text IS NULL OR run_id = $1 ORDER BY started_at DESC, run_id",
                &[&run_id],
            )
            .await
            .map_err(|x| self.err(Some(crate::ledger::RUNS_TABLE), pg_message(&x)))?;
        Ok(rows
            .iter()
            .map(|r| RunRecord {
                run_id: r.get(0),
                status: r.get(1),
                phase: r.get(2),
                mode: r.get(3),
                source: r.get(4),
                target: r.get(5),
                fingerprint: r.get(6),
                plan: r.get(7),
                started_at: r.get(8),
                updated_at: r.get(9),
                finished_at: r.get(10),
                report: r.get(11),
                error: r.get(12),
            })
            .collect())
    }

    /// The checkpoints of a run.
    pub async fn checkpoints(&mut self, run_id: &str) -> Result<Vec<Checkpoint>, EndpointError> {
        if !self.has_table(crate::ledger::CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, cursor_column, cursor_value, target_offsets \
                 FROM _ferry_checkpoints WHERE run_id = $1 ORDER BY table_name",
                &[&run_id],
            )
            .await
            .map_err(|x| self.err(Some(crate::ledger::CHECKPOINTS_TABLE), pg_message(&x)))?;
        Ok(rows
            .iter()
            .map(|r| Checkpoint {
                run_id: r.get(0),
                table: r.get(1),
                position: r.get(2),
                rows_read: r.get::<_, i64>(3) as u64,
                rows_written: r.get::<_, i64>(4) as u64,
                rows_rejected: r.get::<_, i64>(5) as u64,
                done: r.get(6),
                updated_at: r.get(7),
                cursor_column: r.get(8),
                cursor_value: r.get(9),
                offsets: r.get(10),
            })
            .collect())
    }

    /// Per table, the high-water marks of runs not rolled back, oldest first.
    pub async fn marks(&mut self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        if !self.has_table(crate::ledger::CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                "SELECT c.table_name, c.cursor_column, c.cursor_value, c.position FROM _ferry_checkpoints c \
                 JOIN _ferry_runs r ON r.run_id = c.run_id \
                 WHERE r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL \
                 ORDER BY c.updated_at",
                &[],
            )
            .await
            .map_err(|x| self.err(Some(crate::ledger::CHECKPOINTS_TABLE), pg_message(&x)))?;
        Ok(rows
            .iter()
            .map(|r| crate::ledger::Mark {
                table: r.get(0),
                cursor_column: r.get(1),
                cursor_value: r.get(2),
                position: r.get(3),
            })
            .collect())
    }

    /// Saves a checkpoint on its own (a table's end).
    pub async fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<(), EndpointError> {
        let name = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: name.clone(),
            table: Some(crate::ledger::CHECKPOINTS_TABLE.into()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        save_checkpoint(&tx, cp).await.map_err(e)?;
        tx.commit().await.map_err(e)
    }

    /// Empties a table and this run's rejects and checkpoint for it (a table
    /// reloaded from scratch on resume), in one transaction.
    pub async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        let name = self.name.clone();
        let e = |x: tokio_postgres::Error| EndpointError::Query {
            endpoint: name.clone(),
            table: Some(table.to_string()),
            reason: pg_message(&x),
        };
        let tx = self.client.transaction().await.map_err(e)?;
        tx.batch_execute(&format!("TRUNCATE {}", quote_ident(table)))
            .await
            .map_err(e)?;
        tx.execute(
            &format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = $1 AND table_name = $2"),
            &[&run_id, &source_table],
        )
        .await
        .map_err(e)?;
        tx.execute(
            "DELETE FROM _ferry_checkpoints WHERE run_id = $1 AND table_name = $2",
            &[&run_id, &source_table],
        )
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)
    }

    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<super::Finished, EndpointError> {
        use tokio_postgres::error::SqlState;
        // A resumed run may find some of its keys already built: DDL is
        // transactional here, so each either exists whole or not at all.
        let exists = |e: &tokio_postgres::Error| {
            e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                || e.code() == Some(&SqlState::DUPLICATE_TABLE)
                || e.code() == Some(&SqlState::INVALID_TABLE_DEFINITION)
        };
        let mut done = Vec::new();
        let mut moved = super::MovedRows::default();
        // Each constraint is created first and cleaned only if the server
        // refuses it: clean data (the common case) costs one index build or
        // one validation per constraint, not an extra window sort or
        // anti-join. On a violation, the offending rows move to the rejects
        // table and the constraint is created again.
        let key_violation = |e: &tokio_postgres::Error| {
            e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                || e.code() == Some(&SqlState::NOT_NULL_VIOLATION)
        };
        for t in tables {
            let tn = quote_ident(&t.def.name);
            if !t.def.primary_key.is_empty() {
                let add = format!(
                    "ALTER TABLE {tn} ADD PRIMARY KEY ({})",
                    quote_list(&t.def.primary_key)
                );
                if let Err(e) = self.client.batch_execute(&add).await
                    && !exists(&e)
                {
                    if !key_violation(&e) {
                        return Err(self.failed(&t.def.name, &add, &e));
                    }
                    let n = self
                        .quarantine_duplicates(run_id, t, "primary key", &t.def.primary_key, true)
                        .await?;
                    moved.add(&t.source.name, n);
                    self.exec(&t.def.name, &add).await?;
                }
                done.push(format!("primary key {}", t.def.name));
                crate::ledger::failpoint("constraint");
            }
            for u in &t.def.unique {
                let what = format!("unique {}", u.name);
                let add = format!(
                    "ALTER TABLE {tn} ADD CONSTRAINT {} UNIQUE ({})",
                    quote_ident(&u.name),
                    quote_list(&u.columns)
                );
                if let Err(e) = self.client.batch_execute(&add).await
                    && !exists(&e)
                {
                    if !key_violation(&e) {
                        return Err(self.failed(&t.def.name, &add, &e));
                    }
                    if self.conflict.is_some() {
                        self.resolve_conflicts(t, tables, &u.columns).await?;
                    }
                    let n = self
                        .quarantine_duplicates(run_id, t, &what, &u.columns, false)
                        .await?;
                    moved.add(&t.source.name, n);
                    self.exec(&t.def.name, &add).await?;
                }
                done.push(what);
                crate::ledger::failpoint("constraint");
            }
            for ix in &t.def.indexes {
                let add = format!(
                    "CREATE {}INDEX {} ON {tn} ({})",
                    if ix.unique { "UNIQUE " } else { "" },
                    quote_ident(&ix.name),
                    quote_list(&ix.columns)
                );
                if let Err(e) = self.client.batch_execute(&add).await
                    && !exists(&e)
                {
                    if !(ix.unique && key_violation(&e)) {
                        return Err(self.failed(&t.def.name, &add, &e));
                    }
                    let n = self
                        .quarantine_duplicates(
                            run_id,
                            t,
                            &format!("unique index {}", ix.name),
                            &ix.columns,
                            false,
                        )
                        .await?;
                    moved.add(&t.source.name, n);
                    self.exec(&t.def.name, &add).await?;
                }
                done.push(format!("index {}", ix.name));
                crate::ledger::failpoint("constraint");
            }
        }
        // Parents come first, so a child's orphans are moved before its own
        // children's foreign keys are checked: moving a row can only orphan
        // rows of tables still to come.
        for t in tables {
            for fk in &t.def.foreign_keys {
                let add = format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    quote_ident(&t.def.name),
                    quote_ident(&fk.name),
                    quote_list(&fk.columns),
                    quote_ident(&fk.ref_table),
                    quote_list(&fk.ref_columns),
                    fk.on_delete,
                    fk.on_update
                );
                if let Err(e) = self.client.batch_execute(&add).await
                    && !exists(&e)
                {
                    if e.code() != Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                        return Err(self.failed(&t.def.name, &add, &e));
                    }
                    let n = self.quarantine_orphans(run_id, t, fk).await?;
                    moved.add(&t.source.name, n);
                    self.exec(&t.def.name, &add).await?;
                }
                done.push(format!("foreign key {}", fk.name));
                crate::ledger::failpoint("constraint");
            }
        }
        Ok(super::Finished {
            created: done,
            warnings: moved.warnings(),
            quarantined: moved.into_vec(),
        })
    }

    fn failed(&self, table: &str, sql: &str, e: &tokio_postgres::Error) -> EndpointError {
        self.err(
            Some(table),
            format!("{} (while running: {sql})", pg_message(e)),
        )
    }

    /// Consolidation: before duplicates of `cols` are quarantined, apply the
    /// conflict policy — refuse (`fail`), or put the row to keep first in
    /// load order (`keep-latest`: by its column, newest first) and re-point
    /// every child row and id-map entry of the other rows at it.
    async fn resolve_conflicts(
        &self,
        t: &TargetTable,
        tables: &[TargetTable],
        cols: &[String],
    ) -> Result<(), EndpointError> {
        use crate::consolidate::Conflict;
        let Some(policy) = self.conflict.clone() else {
            return Ok(());
        };
        let tn = quote_ident(&t.def.name);
        let list = quote_list(cols);
        let not_null: Vec<String> = cols
            .iter()
            .map(|c| format!("{} IS NOT NULL", quote_ident(c)))
            .collect();
        let e = |x: tokio_postgres::Error| self.err(Some(&t.def.name), pg_message(&x));
        if policy == Conflict::Fail {
            let rows = self
                .client
                .query(
                    &format!(
                        "SELECT {} FROM {tn} WHERE {} GROUP BY {list} HAVING count(*) > 1 LIMIT 3",
                        PgSink::key_expr(&tn, cols),
                        not_null.join(" AND ")
                    ),
                    &[],
                )
                .await
                .map_err(e)?;
            if !rows.is_empty() {
                let shown: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
                return Err(self.err(
                    Some(&t.def.name),
                    format!(
                        "rows from different sources share unique ({}) = {}; with --on-conflict fail nothing more is done: choose keep-first, keep-latest or quarantine",
                        cols.join(", "),
                        shown.join(" / ")
                    ),
                ));
            }
            return Ok(());
        }
        if t.def.primary_key.len() != 1 {
            return Ok(());
        }
        let pk = quote_ident(&t.def.primary_key[0]);
        let order = self.keep_order();
        let ranked = format!(
            "SELECT {pk} AS old, first_value({pk}) OVER w AS kept, row_number() OVER w AS rn              FROM {tn} WHERE {} WINDOW w AS (PARTITION BY {list} ORDER BY {order})",
            not_null.join(" AND ")
        );
        if matches!(policy, Conflict::Quarantine) {
            return Ok(());
        }
        for c in tables {
            for fk in &c.def.foreign_keys {
                if (fk.ref_table == t.def.name || fk.ref_table == t.source.name)
                    && fk.ref_columns == t.def.primary_key
                    && fk.columns.len() == 1
                {
                    let sql = format!(
                        "UPDATE {} c SET {col} = r.kept FROM ({ranked}) r WHERE r.rn > 1 AND c.{col} = r.old",
                        quote_ident(&c.def.name),
                        col = quote_ident(&fk.columns[0])
                    );
                    self.client.execute(&sql, &[]).await.map_err(e)?;
                }
            }
        }
        let has_map: bool = self
            .client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&crate::consolidate::ID_MAP_TABLE],
            )
            .await
            .map_err(e)?
            .get(0);
        if has_map
            && t.def.columns.iter().any(|c| {
                c.name == t.def.primary_key[0] && c.logical_type == crate::model::LogicalType::Uuid
            })
        {
            let sql = format!(
                "UPDATE {} m SET new_key = r.kept FROM ({ranked}) r WHERE r.rn > 1 AND m.new_key = r.old",
                quote_ident(crate::consolidate::ID_MAP_TABLE)
            );
            self.client.execute(&sql, &[]).await.map_err(e)?;
        }
        Ok(())
    }

    /// Which duplicate stays: the first loaded, or under `keep-latest` the
    /// one with the greatest value of its column.
    fn keep_order(&self) -> String {
        match &self.conflict {
            Some(crate::consolidate::Conflict::KeepLatest(col)) => {
                format!("{} DESC NULLS LAST, ctid", quote_ident(col))
            }
            _ => "ctid".into(),
        }
    }

    /// SQL rendering a row's key columns like `Batch::source_key` does.
    fn key_expr(alias: &str, cols: &[String]) -> String {
        if cols.is_empty() {
            return "NULL".into();
        }
        let parts: Vec<String> = cols
            .iter()
            .map(|c| format!("to_jsonb({alias}.{})::text", quote_ident(c)))
            .collect();
        format!("concat_ws(',', {})", parts.join(", "))
    }

    /// Moves rows that repeat an earlier row's `cols` (and, for a primary
    /// key, rows with a NULL in it) to the rejects table, keeping the first
    /// loaded. Returns how many rows moved.
    async fn quarantine_duplicates(
        &self,
        run_id: &str,
        t: &TargetTable,
        what: &str,
        cols: &[String],
        primary: bool,
    ) -> Result<u64, EndpointError> {
        let tn = quote_ident(&t.def.name);
        let list = quote_list(cols);
        let not_null: Vec<String> = cols
            .iter()
            .map(|c| format!("{} IS NOT NULL", quote_ident(c)))
            .collect();
        let nulls = if primary {
            format!(
                " OR ctid IN (SELECT ctid FROM {tn} WHERE NOT ({}))",
                not_null.join(" AND ")
            )
        } else {
            String::new()
        };
        // Only unique constraints between consolidated sources follow the
        // conflict policy; a primary key keeps the first loaded row.
        let (order, dup, kept) = match &self.conflict {
            Some(c) if !primary => (
                self.keep_order(),
                "conflict",
                format!(
                    "a row of another source (kept per --on-conflict {})",
                    c.describe()
                ),
            ),
            _ => (
                "ctid".to_string(),
                "duplicate-key",
                "an earlier row; the first row loaded keeps it".to_string(),
            ),
        };
        let sql = format!(
            "WITH moved AS (DELETE FROM {tn} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY {list} ORDER BY {order}) AS rn FROM {tn} WHERE {}) d WHERE rn > 1){nulls} RETURNING *) \
             INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) \
             SELECT $1, $2, {}, 'write', NULL, $3, CASE WHEN {} THEN '{dup}' ELSE 'null-key' END, \
             $4 || {} || ' is already taken by {kept}', to_jsonb(moved)::text FROM moved",
            not_null.join(" AND "),
            Self::key_expr("moved", &t.def.primary_key),
            not_null
                .iter()
                .map(|c| format!("moved.{c}"))
                .collect::<Vec<_>>()
                .join(" AND "),
            Self::key_expr("moved", cols),
        );
        let reason = format!("{what} ({}): the value ", cols.join(", "));
        self.client
            .execute(&sql, &[&run_id, &t.source.name, &cols.join(","), &reason])
            .await
            .map_err(|e| {
                self.err(
                    Some(&t.def.name),
                    format!("quarantining duplicates of {what}: {}", pg_message(&e)),
                )
            })
    }

    /// Moves rows whose foreign key matches no parent row to the rejects
    /// table. Returns how many rows moved.
    async fn quarantine_orphans(
        &self,
        run_id: &str,
        t: &TargetTable,
        fk: &crate::model::ForeignKeyDef,
    ) -> Result<u64, EndpointError> {
        let child = quote_ident(&t.def.name);
        let parent = quote_ident(&fk.ref_table);
        let (join, not_null) = super::fk_predicates(fk);
        let sql = format!(
            "WITH moved AS (DELETE FROM {child} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {}) RETURNING c.*) \
             INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) \
             SELECT $1, $2, {}, 'write', NULL, $3, 'fk-orphan', $4 || {} || ')', to_jsonb(moved)::text FROM moved",
            not_null.join(" AND "),
            join.join(" AND "),
            Self::key_expr("moved", &t.def.primary_key),
            Self::key_expr("moved", &fk.columns),
        );
        let reason = format!(
            "foreign key {}: no `{}` row has ({}) = (",
            fk.name,
            fk.ref_table,
            fk.ref_columns.join(", ")
        );
        self.client
            .execute(
                &sql,
                &[&run_id, &t.source.name, &fk.columns.join(","), &reason],
            )
            .await
            .map_err(|e| {
                self.err(
                    Some(&t.def.name),
                    format!("quarantining orphans of {}: {}", fk.name, pg_message(&e)),
                )
            })
    }

    async fn exec(&self, table: &str, sql: &str) -> Result<(), EndpointError> {
        self.client.batch_execute(sql).await.map_err(|e| {
            self.err(
                Some(table),
                format!("{} (while running: {sql})", pg_message(&e)),
            )
        })
    }
}

/// `(row, column)` of every text value holding a NUL byte. One `contains`
/// scan per text column; rows are only visited in columns that have one.
fn rows_with_nul(batch: &Batch) -> Vec<(usize, usize)> {
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
fn decimals_that_do_not_fit(
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

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Encodes a checked batch in PostgreSQL's binary COPY format.
fn encode_copy_binary(batch: &Batch, schema: &crate::model::Schema) -> BytesMut {
    let mut buf = BytesMut::with_capacity(64 + batch.num_rows * schema.columns.len() * 12);
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0); // flags
    buf.put_i32(0); // header extension length
    let ncols = schema.columns.len() as i16;
    for row in 0..batch.num_rows {
        buf.put_i16(ncols);
        for (ci, col) in batch.columns.iter().enumerate() {
            if col.is_null(row) {
                buf.put_i32(-1);
                continue;
            }
            let t = schema.columns[ci].logical_type;
            match (&col.data, t.storage()) {
                (ColumnData::Bools(v), _) => {
                    buf.put_i32(1);
                    buf.put_u8(v[row] as u8);
                }
                (ColumnData::Ints(v), _) => {
                    buf.put_i32(8);
                    let x = v[row];
                    buf.put_i64(match t {
                        LogicalType::Timestamp | LogicalType::Timestamptz => x - PG_EPOCH_MICROS,
                        _ => x,
                    });
                }
                (ColumnData::Floats(v), _) => {
                    buf.put_i32(8);
                    buf.put_f64(v[row]);
                }
                (ColumnData::Dates(v), _) => {
                    buf.put_i32(4);
                    buf.put_i32(v[row] - PG_EPOCH_DAYS);
                }
                (ColumnData::Uuids(v), _) => {
                    buf.put_i32(16);
                    buf.put_slice(&v[row * 16..row * 16 + 16]);
                }
                (ColumnData::Utf8(v), Storage::Utf8) if t == LogicalType::Decimal => {
                    let bytes = std::str::from_utf8(v.value(row))
                        .ok()
                        .and_then(encode_numeric);
                    match bytes {
                        Some(n) => {
                            buf.put_i32(n.len() as i32);
                            buf.put_slice(&n);
                        }
                        // The reader only produces valid decimals; a plugin
                        // that returned garbage gets NaN-free failure from the
                        // server instead of a wrong number.
                        None => {
                            buf.put_i32(-1);
                        }
                    }
                }
                (ColumnData::Utf8(v), _) if t == LogicalType::Json => {
                    let s = v.value(row);
                    buf.put_i32(s.len() as i32 + 1);
                    buf.put_u8(1); // jsonb binary format version
                    buf.put_slice(s);
                }
                (ColumnData::Utf8(v), _) | (ColumnData::Binary(v), _) => {
                    let s = v.value(row);
                    buf.put_i32(s.len() as i32);
                    buf.put_slice(s);
                }
            }
        }
    }
    buf.put_i16(-1);
    buf
}

/// Encodes decimal text as PostgreSQL's binary `numeric`: base-10000 digits,
/// a weight, a sign and a display scale. `None` if the text is not a number.
fn encode_numeric(s: &str) -> Option<Vec<u8>> {
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // All digits, and where the decimal point falls among them.
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let point = int.len() as i64 + exp as i64;
    let dscale = (digits.len() as i64 - point).max(0);
    // PostgreSQL's numeric limits: at most 16,383 digits after the point and
    // 131,072 before it. Beyond them the value is not a `numeric`.
    if dscale > 16383 || point > 131072 {
        return None;
    }
    // Pad so the point falls on a 4-digit group boundary.
    let lead = (4 - point.rem_euclid(4)) % 4;
    let mut padded: Vec<u8> = vec![0; lead as usize];
    let mut int_len = point + lead;
    if int_len < 0 {
        // Point is left of every digit: prepend zeros.
        padded.extend(std::iter::repeat_n(0, (-int_len) as usize));
        int_len = 0;
    }
    padded.extend_from_slice(&digits);
    while (padded.len() as i64) < int_len {
        padded.push(0);
    }
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let groups: Vec<i16> = padded
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |a, &d| a * 10 + d as i16))
        .collect();
    let mut weight = (int_len / 4) as i32 - 1;
    let mut start = 0;
    while start < groups.len() && groups[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = groups.len();
    while end > start && groups[end - 1] == 0 {
        end -= 1;
    }
    let ds = &groups[start..end];
    let mut out = Vec::with_capacity(8 + ds.len() * 2);
    out.extend_from_slice(&(ds.len() as i16).to_be_bytes());
    out.extend_from_slice(&(if ds.is_empty() { 0 } else { weight } as i16).to_be_bytes());
    out.extend_from_slice(&(if neg && !ds.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&(dscale as u16).to_be_bytes());
    for d in ds {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{encode_numeric, fits_numeric};

    #[test]
    fn declared_numeric_precision_is_checked_exactly() {
        assert!(fits_numeric("12345678901234.123456", 20, 6));
        assert!(fits_numeric("-1.5", 20, 6));
        assert!(
            fits_numeric("1.5000000000", 20, 6),
            "trailing zeros are exact"
        );
        assert!(fits_numeric("0", 1, 1));
        assert!(fits_numeric("0.5", 1, 1));
        assert!(!fits_numeric("1.5", 1, 1));
        assert!(!fits_numeric("1.0000001", 20, 6));
        assert!(!fits_numeric("123456789012345", 20, 6));
        assert!(fits_numeric("1.5e2", 3, 0));
        assert!(!fits_numeric("1.5e-2", 3, 1));
        assert!(fits_numeric("00012.30", 4, 1));
        assert!(!fits_numeric("NaN", 10, 2));
        assert!(!fits_numeric("1e9223372036854775807", 10, 2));
        assert!(!fits_numeric("1e-9223372036854775808", 10, 2));
    }

    fn parts(s: &str) -> (i16, i16, u16, u16, Vec<i16>) {
        let b = encode_numeric(s).unwrap();
        let r = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
        let n = r(0);
        let digits = (0..n as usize).map(|k| r(8 + 2 * k)).collect();
        (n, r(2), r(4) as u16, r(6) as u16, digits)
    }

    #[test]
    fn numeric_binary_encoding() {
        assert_eq!(parts("0"), (0, 0, 0, 0, vec![]));
        assert_eq!(parts("1"), (1, 0, 0, 0, vec![1]));
        assert_eq!(parts("12345.678"), (3, 1, 0, 3, vec![1, 2345, 6780]));
        assert_eq!(parts("-0.5"), (1, -1, 0x4000, 1, vec![5000]));
        assert_eq!(parts("1e5"), (1, 1, 0, 0, vec![10]));
        assert_eq!(parts("0.00012"), (2, -1, 0, 5, vec![1, 2000]));
        assert_eq!(parts("1.50"), (2, 0, 0, 2, vec![1, 5000]));
        assert!(encode_numeric("abc").is_none());
    }
}
