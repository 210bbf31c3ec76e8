//! `_ferry_schema`: the target's schema history, one row per attempt
//! (apply, revert, baseline, repair), never rewritten except the row of the
//! attempt in flight. What is applied now is each version's latest row.

use std::collections::BTreeMap;

use serde::Serialize;

use super::SchemaError;
use crate::endpoint::sql::{Dialect, SqlConn, SqlValue, sql_literal};

pub const TABLE: &str = "_ferry_schema";
const META: &str = "_ferry_schema_meta";
/// The history's own version; a newer one is refused.
pub const VERSION: i64 = 1;

const CREATE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS _ferry_schema_meta (version {int} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _ferry_schema (
         id {serial}, version {name} NOT NULL, name {name} NOT NULL, kind {short} NOT NULL,
         direction {short} NOT NULL, checksum {text}, status {short} NOT NULL,
         statements_done {int} NOT NULL, statements_total {int} NOT NULL,
         applied_at {stamp} NOT NULL, applied_by {name} NOT NULL, duration_ms {int}, error {text})",
];

/// One history row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    pub id: i64,
    pub version: String,
    pub name: String,
    /// `versioned`, `repeatable` or `baseline`.
    pub kind: String,
    /// `up`, `down`, `baseline` or `repair`.
    pub direction: String,
    pub checksum: Option<String>,
    /// `running`, `ok` or `failed`.
    pub status: String,
    pub statements_done: i64,
    pub statements_total: i64,
    pub applied_at: String,
    pub applied_by: String,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

impl Entry {
    /// Whether this (latest) row leaves its version applied.
    pub fn applied(&self) -> bool {
        self.status == "ok" && matches!(self.direction.as_str(), "up" | "baseline" | "repair")
    }

    /// Whether this (latest) row is an attempt that did not finish.
    pub fn unfinished(&self) -> bool {
        self.status != "ok"
    }
}

/// Who runs ferry: `$USER@host`.
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", crate::ledger::hostname())
}

/// Runs a statement of ferry's own (the history's), `$n` placeholders.
pub async fn exec(c: &mut dyn SqlConn, sql: &str, params: &[SqlValue]) -> Result<(), SchemaError> {
    let (s, p) = c.dialect().bind(sql, params);
    c.exec(&s, &p)
        .await
        .map(|_| ())
        .map_err(|e| SchemaError::Sql {
            target: c.endpoint_name(),
            message: e.message,
        })
}

pub async fn query(
    c: &mut dyn SqlConn,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<Vec<SqlValue>>, SchemaError> {
    let (s, p) = c.dialect().bind(sql, params);
    c.query(&s, &p).await.map_err(|e| SchemaError::Sql {
        target: c.endpoint_name(),
        message: e.message,
    })
}

/// Whether the history exists (a database ferry never versioned has none).
pub async fn exists(c: &mut dyn SqlConn) -> Result<bool, SchemaError> {
    let d = c.dialect();
    let rows = query(c, d.table_exists, &[TABLE.into()]).await?;
    Ok(rows.first().and_then(|r| r[0].int()).unwrap_or(0) > 0)
}

/// Creates the history (idempotent); refuses one written by a newer ferry.
pub async fn ensure(c: &mut dyn SqlConn) -> Result<(), SchemaError> {
    let d = c.dialect();
    for t in CREATE {
        exec(c, &ddl(d, t), &[]).await?;
    }
    let rows = query(c, &format!("SELECT max(version) FROM {META}"), &[]).await?;
    match rows.first().and_then(|r| r[0].int()) {
        None => {
            exec(
                c,
                &format!("INSERT INTO {META} (version) VALUES ($1)"),
                &[VERSION.into()],
            )
            .await
        }
        Some(v) if v > VERSION => Err(SchemaError::Refused(format!(
            "{}: its schema history was written by a newer ferry (history version {v}, this build knows {VERSION}); upgrade ferry",
            c.endpoint_name()
        ))),
        Some(_) => Ok(()),
    }
}

fn ddl(d: &Dialect, t: &str) -> String {
    d.ddl(t).replace("{serial}", d.serial_key)
}

const COLUMNS: &str = "id, version, name, kind, direction, checksum, status, statements_done, \
     statements_total, applied_at, applied_by, duration_ms, error";

/// Every row, oldest first (empty when there is no history).
pub async fn entries(c: &mut dyn SqlConn) -> Result<Vec<Entry>, SchemaError> {
    if !exists(c).await? {
        return Ok(Vec::new());
    }
    let rows = query(
        c,
        &format!("SELECT {COLUMNS} FROM {TABLE} ORDER BY id"),
        &[],
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = |i: usize| r[i].text();
            Entry {
                id: r[0].int().unwrap_or(0),
                version: t(1).unwrap_or_default(),
                name: t(2).unwrap_or_default(),
                kind: t(3).unwrap_or_default(),
                direction: t(4).unwrap_or_default(),
                checksum: t(5),
                status: t(6).unwrap_or_default(),
                statements_done: r[7].int().unwrap_or(0),
                statements_total: r[8].int().unwrap_or(0),
                applied_at: t(9).unwrap_or_default(),
                applied_by: t(10).unwrap_or_default(),
                duration_ms: r[11].int(),
                error: t(12),
            }
        })
        .collect())
}

/// Each version's latest row.
pub fn latest(entries: &[Entry]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    for e in entries {
        out.insert(e.version.clone(), e.clone());
    }
    out
}

/// A row about to be written.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub version: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub direction: &'a str,
    pub checksum: Option<&'a str>,
    pub status: &'a str,
    pub statements_done: usize,
    pub statements_total: usize,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

impl NewEntry<'_> {
    fn params(&self) -> Vec<SqlValue> {
        vec![
            self.version.into(),
            self.name.into(),
            self.kind.into(),
            self.direction.into(),
            self.checksum.map(SqlValue::from).unwrap_or(SqlValue::Null),
            self.status.into(),
            (self.statements_done as i64).into(),
            (self.statements_total as i64).into(),
            crate::ledger::now().into(),
            who().into(),
            self.duration_ms.into(),
            (&self.error).into(),
        ]
    }
}

const INSERT: &str = "INSERT INTO _ferry_schema (version, name, kind, direction, checksum, status, \
     statements_done, statements_total, applied_at, applied_by, duration_ms, error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Appends a row; returns its id.
pub async fn insert(c: &mut dyn SqlConn, e: &NewEntry<'_>) -> Result<i64, SchemaError> {
    exec(c, INSERT, &e.params()).await?;
    let rows = query(
        c,
        &format!("SELECT max(id) FROM {TABLE} WHERE version = $1"),
        &[e.version.into()],
    )
    .await?;
    Ok(rows.first().and_then(|r| r[0].int()).unwrap_or(0))
}

/// The row's insert as SQL text, values inlined: what `--dry-run` prints.
pub fn insert_text(e: &NewEntry<'_>) -> String {
    let values: Vec<String> = e
        .params()
        .iter()
        .map(|v| match v {
            SqlValue::Null => "NULL".to_string(),
            SqlValue::Int(i) => i.to_string(),
            SqlValue::Bool(b) => b.to_string(),
            SqlValue::Text(s) => sql_literal(s),
        })
        .collect();
    let mut sql = INSERT.to_string();
    for (i, v) in values.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), v);
    }
    format!("{sql};")
}

/// Records progress of the attempt `id`.
pub async fn progress(
    c: &mut dyn SqlConn,
    id: i64,
    done: usize,
    status: &str,
    duration_ms: Option<i64>,
    error: Option<String>,
) -> Result<(), SchemaError> {
    exec(
        c,
        &format!(
            "UPDATE {TABLE} SET statements_done = $2, status = $3, duration_ms = $4, error = $5 WHERE id = $1"
        ),
        &[
            id.into(),
            (done as i64).into(),
            status.into(),
            duration_ms.into(),
            (&error).into(),
        ],
    )
    .await
}

/// Removes the history (`ferry schema reset`).
pub async fn drop_all(c: &mut dyn SqlConn) -> Result<(), SchemaError> {
    exec(c, &format!("DROP TABLE IF EXISTS {TABLE}"), &[]).await?;
    exec(c, &format!("DROP TABLE IF EXISTS {META}"), &[]).await
}
