//! The ledger in a MySQL/MariaDB target, and its backups (copies).

use super::*;
use crate::endpoint::sql::quote_ident;
use crate::endpoint::{EndpointError, REJECTS_TABLE};
use mysql_async::Value;
use mysql_async::prelude::*;

impl MysqlSink {
    /// Whether one table exists in the target database.
    pub(super) async fn has_table(&mut self, name: &str) -> Result<bool, EndpointError> {
        table_exists(&mut self.conn, name)
            .await
            .map_err(|e| my_error(&self.name, Some(name), &e, ""))
    }

    /// Empties a table and this run's rejects and checkpoint for it (a table
    /// reloaded from scratch on resume).
    pub async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        self.exec_sql(Some(table), "START TRANSACTION").await?;
        let mut steps: Vec<(String, Vec<Value>)> =
            vec![(format!("DELETE FROM {}", quote_ident(table)), vec![])];
        for (sql, p) in crate::endpoint::sql::ledger::restart_statements(
            &crate::endpoint::sql::dialect::MYSQL,
            run_id,
            source_table,
        ) {
            steps.push((sql, params(&p)));
        }
        for (sql, params) in steps {
            if let Err(e) = self.conn.exec_drop(sql, params).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(my_error(&self.name, Some(table), &e, ""));
            }
        }
        self.exec_sql(Some(table), "COMMIT").await
    }

    /// Rows and an order-independent checksum of a table (the sum of the
    /// first 60 bits of each row's MD5 over its columns as text); `None`
    /// when it does not exist.
    pub async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        if !self.has_table(table).await? {
            return Ok(None);
        }
        let cols: Vec<String> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (table,),
            )
            .await
            .map_err(|e| my_error(&self.name, Some(table), &e, ""))?;
        let row_text = cols
            .iter()
            .map(|c| format!("COALESCE(HEX({q}), 'N')", q = quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', {row_text})), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {}",
            quote_ident(table)
        );
        let r: Option<(i64, String)> = self
            .conn
            .query_first(sql)
            .await
            .map_err(|e| my_error(&self.name, Some(table), &e, ""))?;
        Ok(r.map(|(n, s)| (n as u64, s)))
    }

    /// Keeps a table's pre-run state and records `b`: a copy of its rows
    /// (`CREATE TABLE … LIKE` + `INSERT … SELECT`) named
    /// `_ferry_backup__TABLE__RUN8` (cut to 64). A run that replaces the
    /// table also records its `SHOW CREATE TABLE` (`recreate`): InnoDB
    /// foreign key names are database-wide, so the old table cannot simply
    /// be renamed aside while the new one takes the same constraint names.
    pub async fn backup_table(
        &mut self,
        run_id: &str,
        b: &crate::ledger::Backup,
        in_place: bool,
    ) -> Result<(), EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let mut base = b.table.clone();
        while base.len() > 40 {
            base.pop();
        }
        let name = format!("_ferry_backup__{base}__{short}");
        let (t, n) = (quote_ident(&b.table), quote_ident(&name));
        let tb = Some(b.table.as_str());
        self.exec_sql(tb, &format!("DROP TABLE IF EXISTS {n}"))
            .await?;
        self.exec_sql(tb, &format!("CREATE TABLE {n} LIKE {t}"))
            .await?;
        self.exec_sql(tb, &format!("INSERT INTO {n} SELECT * FROM {t}"))
            .await?;
        let (kind, reference) = if in_place {
            ("copied", name)
        } else {
            let ddl: Option<(String, String)> = self
                .conn
                .query_first(format!("SHOW CREATE TABLE {t}"))
                .await
                .map_err(|e| my_error(&self.name, tb, &e, ""))?;
            let ddl = ddl.map(|d| d.1).unwrap_or_default();
            (
                "recreate",
                serde_json::json!({"copy": name, "ddl": ddl}).to_string(),
            )
        };
        crate::endpoint::LedgerStore::save_backup(
            self,
            &crate::ledger::Backup {
                kind: kind.into(),
                backup_ref: Some(reference),
                ..b.clone()
            },
        )
        .await?;
        crate::failpoint::at("backup", Some(&b.table));
        Ok(())
    }

    /// Drops a table's backup copy (`copied`, or `recreate`'s copy).
    pub async fn discard_backup(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let copy = match (kind, backup) {
            ("recreate", Some(b)) => serde_json::from_str::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v["copy"].as_str().map(str::to_string)),
            ("copied", Some(b)) => Some(b.to_string()),
            _ => None,
        };
        match copy {
            Some(c) => {
                self.exec_sql(
                    Some(table),
                    &format!("DROP TABLE IF EXISTS {}", quote_ident(&c)),
                )
                .await
            }
            None => Ok(()),
        }
    }

    /// Puts `table` back as its backup says: dropped (`absent`), its rows
    /// put back (`copied`), or recreated from its recorded definition and
    /// refilled (`recreate`). Foreign key checks are off meanwhile.
    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let t = quote_ident(table);
        let tb = Some(table);
        // A rollback killed half-way is run again: a table whose backup copy
        // is gone was put back by the earlier attempt (the copy is dropped
        // last). Nothing is dropped before that is known; the checksum proof
        // that follows every rollback says whether it really was.
        let copy_name = match (kind, backup) {
            ("recreate", Some(b)) => serde_json::from_str::<serde_json::Value>(b)
                .ok()
                .and_then(|v| v["copy"].as_str().map(str::to_string)),
            ("copied", Some(b)) => Some(b.to_string()),
            _ => None,
        };
        if let Some(copy) = &copy_name
            && !self.has_table(copy).await?
        {
            return if self.has_table(table).await? {
                Ok(())
            } else {
                Err(self.err(
                    tb,
                    format!("its backup copy `{copy}` is gone and the table is not in place: it cannot be restored"),
                ))
            };
        }
        self.exec_sql(tb, "SET FOREIGN_KEY_CHECKS = 0").await?;
        let mut steps: Vec<String> = vec![format!("DROP TABLE IF EXISTS {t}")];
        match (kind, backup) {
            ("recreate", Some(b)) => {
                let v: serde_json::Value = serde_json::from_str(b).unwrap_or_default();
                let copy = quote_ident(v["copy"].as_str().unwrap_or_default());
                steps.push(v["ddl"].as_str().unwrap_or_default().to_string());
                steps.push(format!("INSERT INTO {t} SELECT * FROM {copy}"));
                steps.push(format!("DROP TABLE {copy}"));
            }
            ("copied", Some(b)) => {
                let copy = quote_ident(b);
                // The rows swap in one transaction; the copy goes after.
                steps = vec![
                    "START TRANSACTION".to_string(),
                    format!("DELETE FROM {t}"),
                    format!("INSERT INTO {t} SELECT * FROM {copy}"),
                    "COMMIT".to_string(),
                    format!("DROP TABLE {copy}"),
                ];
            }
            _ => {}
        }
        let mut res = Ok(());
        for s in &steps {
            res = self.exec_sql(tb, s).await;
            if res.is_err() {
                let _ = self.conn.query_drop("ROLLBACK").await;
                break;
            }
        }
        self.exec_sql(tb, "SET FOREIGN_KEY_CHECKS = 1").await?;
        res
    }

    /// Deletes a run's rows from the rejects table.
    pub async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.has_table(REJECTS_TABLE).await? {
            return Ok(());
        }
        self.conn
            .exec_drop(
                format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?"),
                (run_id,),
            )
            .await
            .map_err(|e| my_error(&self.name, Some(REJECTS_TABLE), &e, ""))
    }
}
