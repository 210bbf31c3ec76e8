//! What a query's plan reads whole, from each database's own `EXPLAIN`:
//! PostgreSQL's JSON plan (`Seq Scan` nodes), MySQL/MariaDB's JSON plan
//! (`access_type: ALL`), SQLite's query plan (`SCAN t` without an index).

use super::dialect::{self, SqlConn, SqlError};

/// The tables `sql` (values inlined) reads in full, by the database's plan.
pub async fn full_scans(conn: &mut dyn SqlConn, sql: &str) -> Result<Vec<String>, SqlError> {
    let d = conn.dialect();
    let mut out = Vec::new();
    if std::ptr::eq(d, &dialect::POSTGRES) {
        let rows = conn
            .query_text(&format!("EXPLAIN (FORMAT JSON) {sql}"))
            .await?;
        let text = rows.first().and_then(|r| r.first().cloned().flatten());
        if let Some(plan) = text.and_then(|t| serde_json::from_str(&t).ok()) {
            walk(&plan, &mut |o| {
                if o.get("Node Type").and_then(|v| v.as_str()) == Some("Seq Scan")
                    && let Some(t) = o.get("Relation Name").and_then(|v| v.as_str())
                {
                    out.push(t.to_string());
                }
            });
        }
    } else if std::ptr::eq(d, &dialect::MYSQL) {
        let rows = conn
            .query_text(&format!("EXPLAIN FORMAT=JSON {sql}"))
            .await?;
        let text = rows.first().and_then(|r| r.first().cloned().flatten());
        if let Some(plan) = text.and_then(|t| serde_json::from_str(&t).ok()) {
            walk(&plan, &mut |o| {
                if o.get("access_type").and_then(|v| v.as_str()) == Some("ALL")
                    && let Some(t) = o.get("table_name").and_then(|v| v.as_str())
                {
                    out.push(t.to_string());
                }
            });
        }
    } else {
        // Rows of (id, parent, notused, detail): `SCAN t` reads t whole,
        // `SCAN t USING … INDEX` walks an index, `SEARCH t …` seeks.
        for r in conn
            .query_text(&format!("EXPLAIN QUERY PLAN {sql}"))
            .await?
        {
            let detail = r.get(3).cloned().flatten().unwrap_or_default();
            if let Some(rest) = detail.strip_prefix("SCAN ")
                && !rest.contains(" USING ")
            {
                let name = rest.split_whitespace().next().unwrap_or("");
                out.push(name.trim_matches('"').to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Calls `f` on every JSON object in `v`, depth first.
fn walk(v: &serde_json::Value, f: &mut impl FnMut(&serde_json::Map<String, serde_json::Value>)) {
    match v {
        serde_json::Value::Object(o) => {
            f(o);
            for x in o.values() {
                walk(x, f);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                walk(x, f);
            }
        }
        _ => {}
    }
}
