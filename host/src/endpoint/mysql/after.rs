//! After the keys: identity counters and statistics (views: `sql::views`).

use super::*;
use crate::endpoint::sql::quote_ident;
use crate::endpoint::{EndpointError, TargetTable};
use mysql_async::prelude::*;

/// Tables per `ANALYZE TABLE` statement: a few hundred names keep the
/// statement far below any `max_allowed_packet` (64 characters a name).
const ANALYZE_CHUNK: usize = 200;

impl MysqlSink {
    /// Each table's AUTO_INCREMENT counter set after its largest value
    /// (`ALTER TABLE t AUTO_INCREMENT = max + 1`, 1 for an empty table), so
    /// the application's next `INSERT` without an id gets max + 1. InnoDB
    /// raises the counter past explicit values itself, but keeps it past
    /// rows that were then moved to quarantine, and a resumed or
    /// incremental run must not depend on that. Only columns the table
    /// really has as AUTO_INCREMENT are touched (the catalog says which).
    pub async fn sync_identity(
        &mut self,
        tables: &[TargetTable],
    ) -> Result<Vec<String>, EndpointError> {
        let mut out = Vec::new();
        for t in tables {
            if !t.def.columns.iter().any(|c| c.identity) {
                continue;
            }
            let e = |s: &Self, x: mysql_async::Error| my_error(&s.name, Some(&t.def.name), &x, "");
            let col: Option<String> = match self
                .conn
                .query_first(format!(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                     AND TABLE_NAME = {} AND EXTRA LIKE '%auto_increment%'",
                    lit(&t.def.name)
                ))
                .await
            {
                Ok(c) => c,
                Err(x) => return Err(e(self, x)),
            };
            let Some(col) = col else {
                out.push(format!(
                    "{}: no AUTO_INCREMENT column (MySQL allows one per table, on an integer key column)",
                    t.def.name
                ));
                continue;
            };
            let tn = quote_ident(&t.def.name);
            let max: Option<i64> = match self
                .conn
                .query_first(format!("SELECT MAX({}) FROM {tn}", quote_ident(&col)))
                .await
            {
                Ok(m) => m.flatten(),
                Err(x) => return Err(e(self, x)),
            };
            // The counter starts at 1 at least; past i64::MAX there is no
            // next value to give (the next INSERT fails, as in the source).
            let Some(next) = max.unwrap_or(0).max(0).checked_add(1) else {
                out.push(format!(
                    "{}.{col}: holds {}, the largest value; no next value to set",
                    t.def.name,
                    i64::MAX
                ));
                continue;
            };
            self.exec_sql(
                Some(&t.def.name),
                &format!("ALTER TABLE {tn} AUTO_INCREMENT = {next}"),
            )
            .await?;
            out.push(format!("{}.{col}: next value {next}", t.def.name));
        }
        Ok(out)
    }

    /// `ANALYZE TABLE` over the tables, a few hundred per statement. The
    /// server answers per table; a table it reports an `error` for fails
    /// the call with that message.
    pub async fn analyze(&mut self, tables: &[TargetTable]) -> Result<(), EndpointError> {
        for chunk in tables.chunks(ANALYZE_CHUNK) {
            let names: Vec<String> = chunk.iter().map(|t| quote_ident(&t.def.name)).collect();
            let sql = format!("ANALYZE TABLE {}", names.join(", "));
            // Table, Op, Msg_type, Msg_text.
            let rows: Vec<(String, String, String, String)> =
                self.conn
                    .query(sql.as_str())
                    .await
                    .map_err(|e| my_error(&self.name, None, &e, &sql))?;
            if let Some((table, _, _, msg)) =
                rows.into_iter().find(|r| r.2.eq_ignore_ascii_case("error"))
            {
                return Err(EndpointError::Query {
                    endpoint: self.name.clone(),
                    table: Some(table),
                    reason: format!("ANALYZE TABLE: {msg}"),
                });
            }
        }
        Ok(())
    }
}
