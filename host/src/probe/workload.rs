//! The workload a probe runs: query shapes derived from the schema (primary
//! key lookups, foreign-key joins, range scans on indexed dates, equality on
//! unique columns, text search on a content table) with parameters sampled
//! from the data, plus the user's own queries.

use std::path::Path;

use serde::Serialize;

use super::ProbeError;
use crate::endpoint::sql::{SqlConn, quote_ident, sql_literal};
use crate::model::{LogicalType, TableDef};

/// Parameter sets sampled per shape: enough to spread the lookups over
/// the table, few enough to sample quickly on any size.
pub const SAMPLES: usize = 200;

/// Tables a derived workload takes at most (the largest first): a probe
/// of a few hundred tables would measure none of them well.
pub const MAX_TABLES: usize = 12;

/// What a query shape measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    PkLookup,
    FkJoin,
    RangeScan,
    UniqueEq,
    TextSearch,
    User,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::PkLookup => "pk_lookup",
            Kind::FkJoin => "fk_join",
            Kind::RangeScan => "range_scan",
            Kind::UniqueEq => "unique_eq",
            Kind::TextSearch => "text_search",
            Kind::User => "user",
        }
    }

    /// How often it is drawn relative to the others.
    fn weight(self) -> u32 {
        match self {
            Kind::PkLookup => 4,
            Kind::FkJoin => 3,
            Kind::RangeScan | Kind::UniqueEq | Kind::TextSearch => 2,
            Kind::User => 1,
        }
    }
}

/// One query shape: SQL with `$n` placeholders and the parameter sets.
#[derive(Debug, Clone, Serialize)]
pub struct Shape {
    pub kind: Kind,
    /// What it is, for reports (`pk_lookup users`).
    pub label: String,
    pub sql: String,
    #[serde(skip)]
    pub params: Vec<Vec<String>>,
    pub weight: u32,
}

impl Shape {
    /// The statement for parameter set `i`, values inlined as literals
    /// (the database coerces a quoted literal to the column's type).
    pub fn statement(&self, i: usize) -> String {
        let Some(set) = self.params.get(i % self.params.len().max(1)) else {
            return self.sql.clone();
        };
        let mut s = self.sql.clone();
        for (n, v) in set.iter().enumerate().rev() {
            s = s.replace(&format!("${}", n + 1), &sql_literal(v));
        }
        s
    }
}

fn q(s: &str) -> String {
    quote_ident(s)
}

/// Runs a sampling query; its first column's non-null values.
async fn column(conn: &mut dyn SqlConn, sql: &str) -> Result<Vec<String>, ProbeError> {
    let rows = conn.query_text(sql).await.map_err(|e| ProbeError::Sql {
        target: conn.endpoint_name(),
        what: format!("sampling: {sql}"),
        message: e.message,
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

/// Up to [`SAMPLES`] values of `col` spread over `t`: integer keys are
/// drawn between their minimum and maximum, others are the first rows.
async fn sample(
    conn: &mut dyn SqlConn,
    t: &TableDef,
    col: &str,
    seed: &mut u64,
) -> Result<Vec<String>, ProbeError> {
    let temporal = t.columns.iter().any(|c| {
        c.name == col
            && matches!(
                c.logical_type,
                LogicalType::Date | LogicalType::Timestamp | LogicalType::Timestamptz
            )
    });
    let values = sample_raw(conn, t, col, seed).await?;
    // `10:00:00.000000` (MariaDB's DATETIME(6)) as `10:00:00`: every
    // database reads both, and a source that keeps timestamps as text
    // compares the shorter form as it stores it.
    Ok(if temporal {
        values
            .into_iter()
            .map(|v| match v.split_once('.') {
                Some((whole, frac)) if frac.bytes().all(|b| b.is_ascii_digit()) => {
                    let f = frac.trim_end_matches('0');
                    if f.is_empty() {
                        whole.to_string()
                    } else {
                        format!("{whole}.{f}")
                    }
                }
                _ => v,
            })
            .collect()
    } else {
        values
    })
}

async fn sample_raw(
    conn: &mut dyn SqlConn,
    t: &TableDef,
    col: &str,
    seed: &mut u64,
) -> Result<Vec<String>, ProbeError> {
    let is_int = t
        .columns
        .iter()
        .any(|c| c.name == col && c.logical_type == LogicalType::Int64);
    let table = q(&t.name);
    let c = q(col);
    if is_int {
        let bounds = column(
            conn,
            &format!("SELECT min({c}) FROM {table} UNION ALL SELECT max({c}) FROM {table}"),
        )
        .await?;
        if let [lo, hi] = bounds.as_slice()
            && let (Ok(lo), Ok(hi)) = (lo.parse::<i64>(), hi.parse::<i64>())
            && hi > lo
        {
            let span = (hi - lo) as u64 + 1;
            let mut out = Vec::new();
            for _ in 0..SAMPLES {
                let r = lo + (next(seed) % span) as i64;
                out.extend(
                    column(
                        conn,
                        &format!("SELECT {c} FROM {table} WHERE {c} >= {r} ORDER BY {c} LIMIT 1"),
                    )
                    .await?,
                );
            }
            return Ok(out);
        }
    }
    column(
        conn,
        &format!("SELECT {c} FROM {table} WHERE {c} IS NOT NULL LIMIT {SAMPLES}"),
    )
    .await
}

/// A small deterministic generator (xorshift): the same seed draws the
/// same workload, so two probes are comparable.
pub fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// Whether an index, unique key or the primary key of `t` starts with
/// `cols` (a left prefix serves lookups on them).
pub fn indexed(t: &TableDef, cols: &[String]) -> bool {
    let starts = |idx: &[String]| idx.len() >= cols.len() && idx[..cols.len()] == *cols;
    starts(&t.primary_key)
        || t.indexes.iter().any(|i| starts(&i.columns))
        || t.unique.iter().any(|u| starts(&u.columns))
}

/// The shapes the schema of `tables` (with their row counts) suggests.
pub async fn derive(
    conn: &mut dyn SqlConn,
    tables: &[(TableDef, u64)],
    seed: u64,
) -> Result<Vec<Shape>, ProbeError> {
    let mut seed = seed.max(1);
    let mut shapes = Vec::new();
    let push = |shapes: &mut Vec<Shape>,
                kind: Kind,
                label: String,
                sql: String,
                params: Vec<Vec<String>>| {
        if !params.is_empty() {
            shapes.push(Shape {
                kind,
                label,
                sql,
                params,
                weight: kind.weight(),
            });
        }
    };
    let mut by_size: Vec<&(TableDef, u64)> = tables.iter().filter(|(_, n)| *n > 0).collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.name.cmp(&b.0.name)));
    by_size.truncate(MAX_TABLES);
    for (t, _) in &by_size {
        let table = q(&t.name);
        if let [pk] = t.primary_key.as_slice() {
            let keys = sample(conn, t, pk, &mut seed).await?;
            push(
                &mut shapes,
                Kind::PkLookup,
                format!("pk_lookup {}", t.name),
                format!("SELECT * FROM {table} WHERE {} = $1", q(pk)),
                keys.into_iter().map(|k| vec![k]).collect(),
            );
        }
        for u in t
            .unique
            .iter()
            .map(|u| &u.columns)
            .chain(t.indexes.iter().filter(|i| i.unique).map(|i| &i.columns))
        {
            if let [col] = u.as_slice()
                && t.primary_key != *u
            {
                let values = sample(conn, t, col, &mut seed).await?;
                push(
                    &mut shapes,
                    Kind::UniqueEq,
                    format!("unique_eq {}.{col}", t.name),
                    format!("SELECT * FROM {table} WHERE {} = $1", q(col)),
                    values.into_iter().map(|v| vec![v]).collect(),
                );
                break;
            }
        }
        let order: Vec<String> = t.primary_key.iter().map(|c| q(c)).collect();
        for c in &t.columns {
            let temporal = matches!(
                c.logical_type,
                LogicalType::Date | LogicalType::Timestamp | LogicalType::Timestamptz
            );
            if temporal && indexed(t, std::slice::from_ref(&c.name)) {
                let values = sample(conn, t, &c.name, &mut seed).await?;
                let mut by = vec![q(&c.name)];
                by.extend(order.iter().cloned());
                push(
                    &mut shapes,
                    Kind::RangeScan,
                    format!("range_scan {}.{}", t.name, c.name),
                    format!(
                        "SELECT * FROM {table} WHERE {} >= $1 ORDER BY {} LIMIT 50",
                        q(&c.name),
                        by.join(", ")
                    ),
                    values.into_iter().map(|v| vec![v]).collect(),
                );
                break;
            }
        }
        if let Some(c) = t
            .columns
            .iter()
            .find(|c| c.name == "content" && c.logical_type == LogicalType::Text)
        {
            let texts = column(
                conn,
                &format!(
                    "SELECT {} FROM {table} WHERE {} IS NOT NULL LIMIT {SAMPLES}",
                    q(&c.name),
                    q(&c.name)
                ),
            )
            .await?;
            let mut words: Vec<String> = texts
                .iter()
                .flat_map(|t| t.split(|ch: char| !ch.is_alphanumeric()))
                .filter(|w| w.chars().count() >= 5 && w.is_ascii())
                .map(|w| w.to_lowercase())
                .collect();
            words.sort();
            words.dedup();
            let picks: Vec<Vec<String>> = (0..SAMPLES.min(words.len()))
                .map(|_| {
                    vec![format!(
                        "%{}%",
                        words[(next(&mut seed) as usize) % words.len()]
                    )]
                })
                .collect();
            // A count, not the first rows: databases order keys (a UUID
            // above all) differently, a count of matches they agree on.
            push(
                &mut shapes,
                Kind::TextSearch,
                format!("text_search {}.{}", t.name, c.name),
                format!(
                    "SELECT count(*) FROM {table} WHERE lower({}) LIKE $1",
                    q(&c.name)
                ),
                picks,
            );
        }
    }
    // Parent → children, over foreign keys whose parent is probed.
    for (child, _) in &by_size {
        for fk in &child.foreign_keys {
            let (Some(parent), [fc], [pc]) = (
                tables.iter().find(|(t, _)| t.name == fk.ref_table),
                fk.columns.as_slice(),
                fk.ref_columns.as_slice(),
            ) else {
                continue;
            };
            let keys = sample(conn, &parent.0, pc, &mut seed).await?;
            let (p, c) = (q(&parent.0.name), q(&child.name));
            push(
                &mut shapes,
                Kind::FkJoin,
                format!("fk_join {} → {}", parent.0.name, child.name),
                format!(
                    "SELECT {c}.* FROM {p} JOIN {c} ON {c}.{} = {p}.{} WHERE {p}.{} = $1",
                    q(fc),
                    q(pc),
                    q(pc)
                ),
                keys.into_iter().map(|k| vec![k]).collect(),
            );
        }
    }
    Ok(shapes)
}

/// User queries from `path`: one per line, `@WEIGHT ` optional in front,
/// `$n` placeholders named in a trailing comment (`-- $1: users.id`) and
/// filled with values sampled from that column. Blank lines and lines
/// starting with `--` are skipped.
pub async fn user_queries(
    conn: &mut dyn SqlConn,
    path: &Path,
    tables: &[(TableDef, u64)],
    seed: u64,
) -> Result<Vec<Shape>, ProbeError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProbeError::Queries {
        path: path.display().to_string(),
        line: 0,
        reason: e.to_string(),
    })?;
    let mut seed = seed.max(1) ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let bad = |reason: String| ProbeError::Queries {
            path: path.display().to_string(),
            line: n + 1,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        let (weight, rest) = match line.strip_prefix('@') {
            Some(r) => {
                let (w, sql) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
                let w: u32 =
                    w.parse().ok().filter(|w| *w > 0).ok_or_else(|| {
                        bad(format!("`@{w}`: a weight is a whole number above 0"))
                    })?;
                (w, sql.trim())
            }
            None => (1, line),
        };
        let (sql, notes) = match rest.split_once("--") {
            Some((s, c)) => (s.trim().trim_end_matches(';').to_string(), c),
            None => (rest.trim_end_matches(';').to_string(), ""),
        };
        let mut sources: Vec<(usize, String, String)> = Vec::new();
        for note in notes.split(',') {
            if let Some((p, col)) = note.trim().split_once(':')
                && let Some(idx) = p
                    .trim()
                    .strip_prefix('$')
                    .and_then(|i| i.parse::<usize>().ok())
                && let Some((t, c)) = col.trim().split_once('.')
            {
                sources.push((idx, t.to_string(), c.to_string()));
            }
        }
        let mut params: Vec<Vec<String>> = Vec::new();
        let max = (1..=9)
            .filter(|i| sql.contains(&format!("${i}")))
            .max()
            .unwrap_or(0);
        for i in 1..=max {
            let Some((_, t, c)) = sources.iter().find(|(idx, ..)| *idx == i) else {
                return Err(bad(format!(
                    "${i} has no source: end the line with `-- ${i}: TABLE.COLUMN`"
                )));
            };
            let Some((def, _)) = tables.iter().find(|(d, _)| d.name == *t) else {
                return Err(bad(format!("${i}: no table `{t}` in the target")));
            };
            if !def.columns.iter().any(|x| x.name == *c) {
                return Err(bad(format!("${i}: no column `{c}` in `{t}`")));
            }
            let values = sample(conn, def, c, &mut seed).await?;
            if values.is_empty() {
                return Err(bad(format!("${i}: `{t}.{c}` has no values to sample")));
            }
            for (k, v) in values.into_iter().enumerate() {
                if params.len() <= k {
                    if i > 1 {
                        break;
                    }
                    params.push(Vec::new());
                }
                params[k].push(v);
            }
        }
        params.retain(|p| p.len() == max);
        if max == 0 {
            params = vec![Vec::new()];
        }
        if params.is_empty() {
            return Err(bad("its placeholders could not all be sampled".into()));
        }
        out.push(Shape {
            kind: Kind::User,
            label: format!("user line {}", n + 1),
            sql,
            params,
            weight,
        });
    }
    Ok(out)
}
