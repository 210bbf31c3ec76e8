//! What a MySQL/MariaDB source holds besides its tables: views (carried),
//! and triggers, routines, events, sequences, partitioning, generated
//! columns, expression indexes and system versioning (listed as not
//! carried, each with what to do).

use super::*;
use crate::model::{NotCarried, SchemaObjects, TableDef, ViewDef};
use mysql_async::Row;
use mysql_async::prelude::*;
use std::collections::HashSet;

/// A view definition or CHECK clause as the server prints it, made to
/// stand alone in any ferry MySQL session: the `` `db`. `` qualifiers of
/// the source database (`strip_db`) removed, and string literals rewritten
/// in the standard form — the server prints them with backslash escapes
/// (`'it\'s'`, `'a\\b'`) whatever the sql_mode, which a session with
/// `NO_BACKSLASH_ESCAPES` (the sink's) would misread. Identifiers keep their
/// quotes (backticks work in every sql_mode).
pub(super) fn standard_sql(sql: &str, strip_db: Option<&str>) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                // A literal: `''` is a quote, `\x` an escape (MySQL's
                // table: \0 \b \n \r \t \Z, `\%` and `\_` keep their
                // backslash for LIKE, anything else is itself).
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\'' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            value.push('\'');
                        }
                        '\'' => break,
                        '\\' => match chars.next() {
                            Some('0') => value.push('\0'),
                            Some('b') => value.push('\u{8}'),
                            Some('n') => value.push('\n'),
                            Some('r') => value.push('\r'),
                            Some('t') => value.push('\t'),
                            Some('Z') => value.push('\u{1a}'),
                            Some(e @ ('%' | '_')) => {
                                value.push('\\');
                                value.push(e);
                            }
                            Some(e) => value.push(e),
                            None => value.push('\\'),
                        },
                        c => value.push(c),
                    }
                }
                out.push('\'');
                out.push_str(&value.replace('\'', "''"));
                out.push('\'');
            }
            '`' | '"' => {
                let mut ident = String::new();
                while let Some(c) = chars.next() {
                    if c == ch {
                        if chars.peek() == Some(&ch) {
                            chars.next();
                            ident.push(c);
                            continue;
                        }
                        break;
                    }
                    ident.push(c);
                }
                if ch == '`' && strip_db == Some(ident.as_str()) && chars.peek() == Some(&'.') {
                    chars.next();
                    continue;
                }
                out.push(ch);
                out.push_str(&ident.replace(ch, &format!("{ch}{ch}")));
                out.push(ch);
            }
            c => out.push(c),
        }
    }
    out
}

/// Views in an order that creates each after the views it reads (a view
/// reads another when the other's quoted name appears in its definition);
/// otherwise by name. A cycle (impossible in a real database) keeps the
/// rest in name order.
pub(super) fn dependency_order(mut views: Vec<ViewDef>) -> Vec<ViewDef> {
    views.sort_by(|a, b| a.name.cmp(&b.name));
    let reads = |v: &ViewDef, other: &ViewDef| {
        v.name != other.name
            && (v
                .definition
                .contains(&format!("`{}`", other.name.replace('`', "``")))
                || v.definition
                    .contains(&format!("\"{}\"", other.name.replace('"', "\"\""))))
    };
    let mut out: Vec<ViewDef> = Vec::with_capacity(views.len());
    while !views.is_empty() {
        let ready = views
            .iter()
            .position(|v| !views.iter().any(|o| reads(v, o)))
            .unwrap_or(0);
        out.push(views.remove(ready));
    }
    out
}

fn not_carried(kind: &str, name: String, reason: String) -> NotCarried {
    NotCarried {
        kind: kind.into(),
        name,
        reason,
    }
}

impl MysqlSource {
    /// Views (definitions that stand alone: see [`standard_sql`]), in
    /// dependency order, and every other schema object, listed with what to
    /// do about it. Objects that belong to a table (triggers, partitions,
    /// generated columns, expression indexes) are listed for `tables` only.
    pub async fn objects(&self, tables: &[TableDef]) -> Result<SchemaObjects, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(None, &x);
        let ours: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        let db: Option<String> = c.query_first("SELECT DATABASE()").await.map_err(e)?;
        let mut out = SchemaObjects::default();

        let views: Vec<(String, Option<String>)> = c
            .query(
                "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS \
                 WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
            )
            .await
            .map_err(e)?;
        let mut carried = Vec::new();
        for (name, def) in views {
            match def.filter(|d| !d.trim().is_empty()) {
                Some(d) => carried.push(ViewDef {
                    name,
                    definition: standard_sql(d.trim(), db.as_deref()),
                }),
                None => out.not_carried.push(not_carried(
                    "view",
                    name,
                    "its definition is hidden from this account (information_schema shows it only to the view's definer or with SHOW VIEW); grant SHOW VIEW and plan again, or recreate it by hand".into(),
                )),
            }
        }
        out.views = dependency_order(carried);

        let triggers: Vec<Row> = c
            .query(
                "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION \
                 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
                 ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
            )
            .await
            .map_err(e)?;
        for r in &triggers {
            let (name, table) = (text(r, 0), text(r, 1));
            if !ours.contains(table.as_str()) {
                continue;
            }
            out.not_carried.push(not_carried(
                "trigger",
                format!("{table}.{name}"),
                format!(
                    "{} {} trigger: ferry does not carry trigger bodies (they are the source's SQL); recreate it on the target from SHOW CREATE TRIGGER `{name}` after the migration, so it does not fire on the loaded rows",
                    text(r, 2),
                    text(r, 3)
                ),
            ));
        }

        let routines: Vec<(String, String)> = c
            .query(
                "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES \
                 WHERE ROUTINE_SCHEMA = DATABASE() ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
            )
            .await
            .map_err(e)?;
        for (name, kind) in routines {
            let kind_lower = kind.to_ascii_lowercase();
            out.not_carried.push(not_carried(
                &kind_lower,
                name.clone(),
                format!(
                    "stored {kind_lower}: ferry does not carry routine bodies; recreate it on the target from SHOW CREATE {kind} `{name}`"
                ),
            ));
        }

        let events: Vec<(String, String)> = c
            .query(
                "SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS \
                 WHERE EVENT_SCHEMA = DATABASE() ORDER BY EVENT_NAME",
            )
            .await
            .map_err(e)?;
        for (name, status) in events {
            out.not_carried.push(not_carried(
                "event",
                name.clone(),
                format!(
                    "scheduled event ({}): ferry does not carry events; recreate it on the target from SHOW CREATE EVENT `{name}` if the target should run it (the source still does)",
                    status.to_ascii_lowercase()
                ),
            ));
        }

        // MariaDB ≥ 10.3 has sequences (tables of type SEQUENCE); MySQL none.
        let sequences: Vec<String> = c
            .query(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'SEQUENCE' ORDER BY TABLE_NAME",
            )
            .await
            .map_err(e)?;
        for name in sequences {
            let q = crate::endpoint::sql::quote_ident(&name);
            // next_not_cached_value: no session can have been given it yet,
            // so starting there never repeats a value.
            let state: Option<(Option<String>, Option<String>)> = c
                .query_first(format!(
                    "SELECT CAST(next_not_cached_value AS CHAR), CAST(increment AS CHAR) FROM {q}"
                ))
                .await
                .unwrap_or(None);
            let reason = match state {
                Some((Some(next), Some(inc))) => format!(
                    "a sequence no column owns: ferry does not carry it; recreate it on the target with CREATE SEQUENCE {q} START WITH {next} INCREMENT BY {inc} (no value it has given out can repeat)"
                ),
                _ => format!(
                    "a sequence no column owns: ferry does not carry it; recreate it on the target from SHOW CREATE SEQUENCE {q}, starting after the last value it gave out"
                ),
            };
            out.not_carried.push(not_carried("sequence", name, reason));
        }

        let generated: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, COLUMN_NAME, EXTRA, GENERATION_EXPRESSION \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 ORDER BY TABLE_NAME, ORDINAL_POSITION",
            )
            .await
            .map_err(e)?;
        for r in &generated {
            let (table, col) = (text(r, 0), text(r, 1));
            if !ours.contains(table.as_str()) || !is_generated(&text(r, 2)) {
                continue;
            }
            out.not_carried.push(not_carried(
                "generated column",
                format!("{table}.{col}"),
                format!(
                    "computed from ({}), not stored data: ferry does not carry it; add it on the target with ALTER TABLE … ADD COLUMN {col} … GENERATED ALWAYS AS (…) in the target's SQL",
                    text(r, 3)
                ),
            ));
        }

        // MySQL ≥ 8.0.13 functional indexes have no column (MariaDB has none).
        let expr_indexes: Vec<(String, String)> = c
            .query(
                "SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IS NULL ORDER BY TABLE_NAME, INDEX_NAME",
            )
            .await
            .map_err(e)?;
        for (table, index) in expr_indexes {
            if ours.contains(table.as_str()) {
                out.not_carried.push(not_carried(
                    "index",
                    format!("{table}.{index}"),
                    "an index on an expression: ferry does not translate index expressions; recreate it on the target".into(),
                ));
            }
        }

        let partitioned: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, MAX(PARTITION_METHOD), MAX(PARTITION_EXPRESSION), COUNT(*) \
                 FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() \
                 AND PARTITION_NAME IS NOT NULL GROUP BY TABLE_NAME ORDER BY TABLE_NAME",
            )
            .await
            .map_err(e)?;
        for r in &partitioned {
            let table = text(r, 0);
            if ours.contains(table.as_str()) {
                out.not_carried.push(not_carried(
                    "partition",
                    table.clone(),
                    format!(
                        "partitioned BY {} ({}) into {} partitions: the rows are carried into one unpartitioned table; partition it on the target (ALTER TABLE … PARTITION BY …)",
                        text(r, 1),
                        text(r, 2),
                        text(r, 3)
                    ),
                ));
            }
        }

        // MariaDB's system-versioned tables: the current rows are read (a
        // plain SELECT sees only them), the history is not.
        let versioned: Vec<String> = c
            .query(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'SYSTEM VERSIONED' ORDER BY TABLE_NAME",
            )
            .await
            .map_err(e)?;
        for table in versioned {
            if ours.contains(table.as_str()) {
                out.not_carried.push(not_carried(
                    "table",
                    table.clone(),
                    format!(
                        "system-versioned: its current rows are carried, its row history is not; to keep versioning from now on, ALTER TABLE `{table}` ADD SYSTEM VERSIONING on the target"
                    ),
                ));
            }
        }
        let _ = c.disconnect().await;
        Ok(out)
    }
}
