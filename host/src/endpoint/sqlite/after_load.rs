//! What a SQLite target does after the load: identity counters
//! (`sqlite_sequence`), statistics (`ANALYZE`), views.

use super::*;
use crate::endpoint::{EndpointError, IfExists, TargetTable, ViewOutcome};
use crate::model::ViewDef;
use rusqlite::OptionalExtension;

impl SqliteSink {
    /// Makes each identity column's next id follow the largest loaded:
    /// `sqlite_sequence` (which SQLite raises itself on explicit inserts,
    /// and never lowers: AUTOINCREMENT does not reuse an id) is raised to
    /// the column's max where it is below. A table created without
    /// AUTOINCREMENT (by an older run) continues after its largest rowid.
    pub fn sync_identity(&mut self, tables: &[TargetTable]) -> Result<Vec<String>, EndpointError> {
        let mut out = Vec::new();
        for t in tables {
            let Some(col) = identity_key(&t.def) else {
                continue;
            };
            let (name, col) = (t.def.name.as_str(), col.name.as_str());
            let e = |err: rusqlite::Error| q_err(&self.name, Some(name), err);
            let sql: Option<String> = self
                .conn
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e)?
                .flatten();
            let Some(sql) = sql else {
                continue; // not created (a table the run left out)
            };
            let max: Option<i64> = self
                .conn
                .query_row(
                    &format!(
                        "SELECT max({}) FROM {}",
                        quote_ident(col),
                        quote_ident(name)
                    ),
                    [],
                    |r| r.get(0),
                )
                .map_err(e)?;
            let autoincrement =
                super::parse::create_table(&sql).is_some_and(|d| d.autoincrement(col));
            if !autoincrement {
                out.push(format!(
                    "{name}.{col}: a rowid alias without AUTOINCREMENT; the next id is {} (largest rowid + 1)",
                    max.unwrap_or(0).saturating_add(1)
                ));
                continue;
            }
            let seq: Option<i64> = self
                .conn
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e)?;
            let want = max.unwrap_or(0);
            match seq {
                Some(s) if s >= want => out.push(format!(
                    "{name}.{col}: sqlite_sequence is {s}; the next id is {}",
                    s.saturating_add(1)
                )),
                Some(_) => {
                    self.conn
                        .execute(
                            "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2",
                            rusqlite::params![want, name],
                        )
                        .map_err(e)?;
                    out.push(format!(
                        "{name}.{col}: sqlite_sequence raised to {want}; the next id is {}",
                        want.saturating_add(1)
                    ));
                }
                None => {
                    self.conn
                        .execute(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                            rusqlite::params![name, want],
                        )
                        .map_err(e)?;
                    out.push(format!(
                        "{name}.{col}: sqlite_sequence set to {want}; the next id is {}",
                        want.saturating_add(1)
                    ));
                }
            }
        }
        Ok(out)
    }

    /// `ANALYZE` on each loaded table, for the query planner.
    pub fn analyze(&mut self, tables: &[TargetTable]) -> Result<(), EndpointError> {
        for t in tables {
            if !self.exists(&t.def.name)? {
                continue;
            }
            self.conn
                .execute_batch(&format!("ANALYZE {}", quote_ident(&t.def.name)))
                .map_err(|e| self.err(Some(&t.def.name), format!("ANALYZE: {e}")))?;
        }
        Ok(())
    }

    /// Creates the views, each `CREATE VIEW name AS definition`. SQLite
    /// accepts a view whose tables do not exist (yet), so each created view
    /// is then prepared: one that cannot be queried is dropped and reported
    /// with SQLite's message (as is a view SQLite refused to create), after
    /// every other has had its chance — views on views work in any order.
    pub fn create_views(
        &mut self,
        views: &[ViewDef],
        if_exists: IfExists,
    ) -> Result<Vec<ViewOutcome>, EndpointError> {
        let mut errors: Vec<Option<String>> = vec![None; views.len()];
        let mut created = vec![false; views.len()];
        let statement =
            |v: &ViewDef| format!("CREATE VIEW {} AS {}", quote_ident(&v.name), v.definition);
        if if_exists == IfExists::Drop {
            for v in views {
                let kind: Option<String> = self
                    .conn
                    .query_row(
                        "SELECT type FROM sqlite_master WHERE name = ?1",
                        [&v.name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| self.err(None, e))?;
                // Only a view is dropped: a table of that name is data.
                if kind.as_deref() == Some("view") {
                    self.conn
                        .execute_batch(&format!("DROP VIEW {}", quote_ident(&v.name)))
                        .map_err(|e| self.err(None, format!("dropping view {}: {e}", v.name)))?;
                }
            }
        }
        // Created until a pass makes no progress: a failure may depend on a
        // view created later in the list.
        loop {
            let mut progress = false;
            for (k, v) in views.iter().enumerate() {
                if created[k] {
                    continue;
                }
                let sql = statement(v);
                // `execute`: one statement, never a batch a definition smuggles in.
                match self.conn.execute(&sql, []) {
                    Ok(_) => {
                        created[k] = true;
                        errors[k] = None;
                        progress = true;
                    }
                    // A resumed run finds its own view already there.
                    Err(_) if self.same_view(&v.name, &sql)? => {
                        created[k] = true;
                        errors[k] = None;
                        progress = true;
                    }
                    Err(e) => errors[k] = Some(e.to_string()),
                }
            }
            if !progress || created.iter().all(|c| *c) {
                break;
            }
        }
        // Views that cannot be queried (a missing table or column, a failed
        // view below them) are dropped, until every remaining one works.
        loop {
            let mut dropped = false;
            for (k, v) in views.iter().enumerate() {
                if !created[k] {
                    continue;
                }
                let probe = format!("SELECT * FROM {} LIMIT 0", quote_ident(&v.name));
                if let Err(e) = self.conn.prepare(&probe) {
                    errors[k] = Some(e.to_string());
                    created[k] = false;
                    dropped = true;
                    self.conn
                        .execute_batch(&format!("DROP VIEW IF EXISTS {}", quote_ident(&v.name)))
                        .map_err(|e| self.err(None, format!("dropping view {}: {e}", v.name)))?;
                }
            }
            if !dropped {
                break;
            }
        }
        Ok(views
            .iter()
            .zip(errors)
            .map(|(v, error)| ViewOutcome {
                name: v.name.clone(),
                error,
            })
            .collect())
    }

    /// Whether view `name` exists with exactly the statement `sql`.
    fn same_view(&self, name: &str, sql: &str) -> Result<bool, EndpointError> {
        let stored: Option<String> = self
            .conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(None, e))?
            .flatten();
        Ok(stored.as_deref() == Some(sql))
    }
}
