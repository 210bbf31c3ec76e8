//! What the ledger needs of a PostgreSQL target besides its tables (those
//! are written once for every SQL endpoint in `endpoint::sql::ledger`):
//! checksums, backups — a replaced table moved to the `_ferry_backup` schema
//! in the transaction that records it — restores and restarts.

use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, REJECTS_TABLE};
use crate::model::LogicalType;

/// 12 hex digits of a name's SHA-256: a short, stable identifier part.
pub(super) fn short_hash(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..6])
}

/// Where replaced tables are kept until their run is rolled back or dropped.
pub(super) const BACKUP_SCHEMA: &str = "_ferry_backup";

impl PgSink {
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
            .map_err(|e| pg_error(&self.name, Some(table), &e))?;
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
        let e = |x: tokio_postgres::Error| pg_error(&endpoint, Some(table), &x);
        let tx = self.client.transaction().await.map_err(e)?;
        tx.batch_execute(&sql).await.map_err(e)?;
        let record = crate::ledger::Backup {
            kind: kind.into(),
            backup_ref: Some(reference.clone()),
            ..b.clone()
        };
        let (insert, p) = crate::endpoint::sql::ledger::backup_upsert(
            &crate::endpoint::sql::dialect::POSTGRES,
            &record,
        );
        tx.execute(&insert, &params(&p)).await.map_err(e)?;
        tx.commit().await.map_err(e)?;
        crate::failpoint::at("backup", Some(&b.table));
        Ok(reference)
    }

    /// A table's primary key columns and all its columns, in order.
    pub(super) async fn key_and_columns(
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
            .map_err(|e| pg_error(&self.name, Some(table), &e))?;
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
    /// Drops a table's copy in `_ferry_backup` (`copied` or `moved`).
    pub async fn discard_backup(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let (Some(b), "copied" | "moved") = (backup, kind) else {
            return Ok(());
        };
        let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
        let sql = format!("DROP TABLE IF EXISTS {BACKUP_SCHEMA}.{}", quote_ident(name));
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| pg_error(&self.name, Some(table), &e))
    }

    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        // A rollback killed half-way is run again: a table whose backup is
        // gone was put back by the earlier attempt (moving or merging the
        // backup back consumes it in the same transaction). The checksum
        // proof that follows every rollback says whether it really was.
        if let (Some(b), "copied" | "moved") = (backup, kind) {
            let name = b.strip_prefix(&format!("{BACKUP_SCHEMA}.")).unwrap_or(b);
            let gone = self
                .client
                .query_one(
                    "SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NULL",
                    &[&BACKUP_SCHEMA, &name],
                )
                .await
                .map_err(|e| pg_error(&self.name, Some(table), &e))?
                .get::<_, bool>(0);
            if gone {
                return if self.has_table(table).await? {
                    Ok(())
                } else {
                    Err(self.err(
                        Some(table),
                        format!("its backup {b} is gone and the table is not in place: it cannot be restored"),
                    ))
                };
            }
        }
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
                            ..Default::default()
                        })
                        .collect(),
                    primary_key: pk.clone(),
                    unique: Vec::new(),
                    indexes: Vec::new(),
                    foreign_keys: Vec::new(),
                    ..Default::default()
                };
                format!(
                    "BEGIN; DELETE FROM {t} WHERE ({keys}) NOT IN (SELECT {keys} FROM {src}); \
                     INSERT INTO {t} ({list}) SELECT {list} FROM {src}{u}; DROP TABLE {src}; COMMIT;",
                    u = crate::endpoint::sql::upsert_clause(&def)
                )
            };
            return self
                .client
                .batch_execute(&sql)
                .await
                .map_err(|e| pg_error(&self.name, Some(table), &e));
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
                .map_err(|e| pg_error(&self.name, Some(table), &e))?
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
            .map_err(|e| pg_error(&self.name, Some(table), &e))
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
            .map_err(|e| pg_error(&self.name, Some(REJECTS_TABLE), &e))
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
        let e = |x: tokio_postgres::Error| pg_error(&name, Some(table), &x);
        let tx = self.client.transaction().await.map_err(e)?;
        tx.batch_execute(&format!("TRUNCATE {}", quote_ident(table)))
            .await
            .map_err(e)?;
        for (sql, p) in crate::endpoint::sql::ledger::restart_statements(
            &crate::endpoint::sql::dialect::POSTGRES,
            run_id,
            source_table,
        ) {
            tx.execute(&sql, &params(&p)).await.map_err(e)?;
        }
        tx.commit().await.map_err(e)
    }
}
