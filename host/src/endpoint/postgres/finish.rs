//! After the load: keys, unique constraints, indexes and foreign keys,
//! violating rows moved to quarantine first; consolidation conflicts.

use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{EndpointError, REJECTS_TABLE, TargetTable};

impl PgSink {
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        use tokio_postgres::error::SqlState;
        let mut done = Vec::new();
        let mut warnings = Vec::new();
        let mut moved = crate::endpoint::MovedRows::default();
        // Each constraint is created first and cleaned only if the server
        // refuses it: clean data (the common case) costs one index build or
        // one validation per constraint, not an extra window sort or
        // anti-join. On a violation, the offending rows move to the rejects
        // table and the constraint is created again.
        for t in tables {
            let tn = quote_ident(&t.def.name);
            self.build_keys(run_id, t, tables, &mut moved, &mut done, &mut warnings)
                .await?;
            // CHECKs, in the target's dialect already. A check whose
            // expression the server cannot run (a translation that does not
            // hold here) is a warning, not the run's failure: the data is
            // loaded and the operator told what to add.
            for ck in &t.def.checks {
                let add = format!(
                    "ALTER TABLE {tn} ADD CONSTRAINT {} CHECK ({})",
                    quote_ident(&ck.name),
                    ck.expression
                );
                let created = match self.build(&add).await {
                    Ok(built) => Some(built),
                    Err(e) if e.code() == Some(&SqlState::CHECK_VIOLATION) => {
                        let n = self.quarantine_check(run_id, t, ck).await?;
                        moved.add(&t.source.name, n);
                        self.exec_sql(&t.def.name, &add).await?;
                        Some(Built::Now)
                    }
                    Err(e) if pg_transient(&e) => return Err(self.failed(&t.def.name, &add, &e)),
                    Err(e) => {
                        warnings.push(format!(
                            "table `{}`: check {} ({}) was not created: {}; add it by hand once its expression holds on PostgreSQL",
                            t.def.name,
                            ck.name,
                            ck.expression,
                            pg_message(&e)
                        ));
                        None
                    }
                };
                if let Some(built) = created {
                    done.push(format!("check {}", ck.name));
                    built_now(matches!(built, Built::Existed));
                }
            }
        }
        self.build_foreign_keys(run_id, tables, &mut moved, &mut done)
            .await?;
        warnings.extend(moved.warnings());
        Ok(crate::endpoint::Finished {
            created: done,
            warnings,
            quarantined: moved.into_vec(),
        })
    }

    /// Only the foreign keys of `tables`, parents first (see
    /// [`crate::endpoint::Sink::foreign_keys`]).
    pub async fn foreign_keys(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<crate::endpoint::Finished, EndpointError> {
        let mut done = Vec::new();
        let mut moved = crate::endpoint::MovedRows::default();
        self.build_foreign_keys(run_id, tables, &mut moved, &mut done)
            .await?;
        Ok(crate::endpoint::Finished {
            created: done,
            warnings: moved.warnings(),
            quarantined: moved.into_vec(),
        })
    }

    async fn build_foreign_keys(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
        moved: &mut crate::endpoint::MovedRows,
        done: &mut Vec<String>,
    ) -> Result<(), EndpointError> {
        use tokio_postgres::error::SqlState;
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
                let built = self.build(&add).await;
                let existed = matches!(built, Ok(Built::Existed));
                if let Err(e) = built {
                    if e.code() != Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                        return Err(self.failed(&t.def.name, &add, &e));
                    }
                    let n = self.quarantine_orphans(run_id, t, fk).await?;
                    moved.add(&t.source.name, n);
                    self.exec_sql(&t.def.name, &add).await?;
                }
                done.push(format!("foreign key {}", fk.name));
                built_now(existed);
            }
        }
        Ok(())
    }

    /// Runs one statement of `finish`: whether it built its object or found
    /// it built already (by a resumed run, or while the load went on: DDL is
    /// transactional here, so an object exists whole or not at all), or the
    /// server's error.
    async fn build(&self, sql: &str) -> Result<Built, tokio_postgres::Error> {
        use tokio_postgres::error::SqlState;
        match self.client.batch_execute(sql).await {
            Ok(()) => Ok(Built::Now),
            Err(e)
                if e.code() == Some(&SqlState::DUPLICATE_OBJECT)
                    || e.code() == Some(&SqlState::DUPLICATE_TABLE)
                    || e.code() == Some(&SqlState::INVALID_TABLE_DEFINITION) =>
            {
                Ok(Built::Existed)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn failed(
        &self,
        table: &str,
        sql: &str,
        e: &tokio_postgres::Error,
    ) -> EndpointError {
        pg_error_in(&self.name, Some(table), e, format!("running {sql}"))
    }

    /// Consolidation: before duplicates of `cols` are quarantined, apply the
    /// conflict policy — refuse (`fail`), or put the row to keep first in
    /// load order (`keep-latest`: by its column, newest first) and re-point
    /// every child row and id-map entry of the other rows at it.
    pub(super) async fn resolve_conflicts(
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
        let e = |x: tokio_postgres::Error| pg_error(&self.name, Some(&t.def.name), &x);
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
    pub(super) fn keep_order(&self) -> String {
        match &self.conflict {
            Some(crate::consolidate::Conflict::KeepLatest(col)) => {
                format!("{} DESC NULLS LAST, ctid", quote_ident(col))
            }
            _ => "ctid".into(),
        }
    }

    /// SQL rendering a row's key columns like `Batch::source_key` does: each
    /// value as JSON (a NULL as `null`), joined by commas.
    pub(super) fn key_expr(alias: &str, cols: &[String]) -> String {
        if cols.is_empty() {
            return "NULL".into();
        }
        let parts: Vec<String> = cols
            .iter()
            .map(|c| {
                format!(
                    "coalesce(to_jsonb({alias}.{})::text, 'null')",
                    quote_ident(c)
                )
            })
            .collect();
        parts.join(" || ',' || ")
    }

    /// Moves rows that repeat an earlier row's `cols` (and, for a primary
    /// key, rows with a NULL in it) to the rejects table, keeping the first
    /// loaded. Returns how many rows moved.
    pub(super) async fn quarantine_duplicates(
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
             SELECT $1, $2, {}, 'write', NULL, $3, CASE WHEN {all} THEN '{dup}' ELSE 'null-key' END, \
             CASE WHEN {all} THEN $4 || {} || ' is already taken by {kept}' ELSE $5 END, \
             to_jsonb(moved)::text FROM moved",
            not_null.join(" AND "),
            Self::key_expr("moved", &t.def.primary_key),
            Self::key_expr("moved", cols),
            all = not_null
                .iter()
                .map(|c| format!("moved.{c}"))
                .collect::<Vec<_>>()
                .join(" AND "),
        );
        let reason = format!("{what} ({}): the value ", cols.join(", "));
        let null_key = format!(
            "{what} ({}): NULL is not a key value; the source allowed it",
            cols.join(", ")
        );
        self.client
            .execute(
                &sql,
                &[&run_id, &t.source.name, &cols.join(","), &reason, &null_key],
            )
            .await
            .map_err(|e| {
                pg_error_in(
                    &self.name,
                    Some(&t.def.name),
                    &e,
                    format!("quarantining duplicates of {what}"),
                )
            })
    }

    /// Moves rows whose foreign key matches no parent row to the rejects
    /// table. Returns how many rows moved.
    pub(super) async fn quarantine_orphans(
        &self,
        run_id: &str,
        t: &TargetTable,
        fk: &crate::model::ForeignKeyDef,
    ) -> Result<u64, EndpointError> {
        let child = quote_ident(&t.def.name);
        let parent = quote_ident(&fk.ref_table);
        let (join, not_null) = crate::endpoint::sql::fk_predicates(fk);
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
                pg_error_in(
                    &self.name,
                    Some(&t.def.name),
                    &e,
                    format!("quarantining orphans of {}", fk.name),
                )
            })
    }

    /// Moves the rows a CHECK refuses (its expression is false; NULL
    /// passes, as in the constraint) to the rejects table. Returns how many
    /// rows moved.
    pub(super) async fn quarantine_check(
        &self,
        run_id: &str,
        t: &TargetTable,
        ck: &crate::model::CheckDef,
    ) -> Result<u64, EndpointError> {
        let sql = format!(
            "WITH moved AS (DELETE FROM {} WHERE NOT ({}) RETURNING *) \
             INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) \
             SELECT $1, $2, {}, 'write', NULL, NULL, 'check', $3, to_jsonb(moved)::text FROM moved",
            quote_ident(&t.def.name),
            ck.expression,
            Self::key_expr("moved", &t.def.primary_key),
        );
        let reason = format!(
            "check {} ({}): false for this row on the target, so the check could not be created with it",
            ck.name, ck.expression
        );
        self.client
            .execute(&sql, &[&run_id, &t.source.name, &reason])
            .await
            .map_err(|e| {
                pg_error_in(
                    &self.name,
                    Some(&t.def.name),
                    &e,
                    format!("quarantining the rows check {} refuses", ck.name),
                )
            })
    }

    pub(super) async fn exec_sql(&self, table: &str, sql: &str) -> Result<(), EndpointError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| pg_error_in(&self.name, Some(table), &e, format!("running {sql}")))
    }
}

/// What one statement of `finish` found.
enum Built {
    Now,
    Existed,
}

/// One key, constraint or index of `finish` is in place: a crash point,
/// unless an earlier statement had built it (the crash sweeps count the
/// builds, whoever made them).
pub(super) fn built_now(existed: bool) {
    if !existed {
        crate::failpoint::hit("constraint");
    }
}
