//! The same queries on source and target, results compared under the type
//! mapping: each value normalised (numbers by value, booleans as 0/1,
//! dates and timestamps as instants, JSON with sorted keys), rows compared
//! as multisets (a query without ORDER BY may return them in any order).

use super::workload::Shape;
use super::{COMPARED_SETS, Finding, ProbeError};
use crate::endpoint::{self, EndpointUrl};
use crate::model::temporal;

/// A value as compared across databases.
pub fn normalise(v: Option<&str>) -> String {
    let Some(s) = v else {
        return "\u{0}NULL".into();
    };
    let t = s.trim();
    if is_uuid(t) {
        return format!("b:{}", t.replace('-', "").to_ascii_lowercase());
    }
    if let Some(h) = t.strip_prefix("\\x")
        && h.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return format!("b:{}", h.to_ascii_lowercase());
    }
    match t.to_ascii_lowercase().as_str() {
        "t" | "true" => return "n:1".into(),
        "f" | "false" => return "n:0".into(),
        _ => {}
    }
    let numeric = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && t.bytes().any(|b| b.is_ascii_digit());
    if numeric && let Ok(f) = t.parse::<f64>() {
        return if f.fract() == 0.0 && f.abs() < 1e15 {
            format!("n:{}", f as i64)
        } else {
            format!("n:{f}")
        };
    }
    if let Some(us) = temporal::parse_timestamptz(t).or_else(|| temporal::parse_timestamp(t)) {
        return format!("ts:{us}");
    }
    if t.len() == 10
        && let Some(d) = temporal::parse_date(t)
    {
        return format!("ts:{}", i64::from(d) * 86_400_000_000);
    }
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(j) = serde_json::from_str::<serde_json::Value>(t)
    {
        return format!("j:{}", canonical_json(&j));
    }
    format!("s:{s}")
}

/// `8-4-4-4-12` hex digits.
pub fn is_uuid(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// JSON text with object keys sorted at every level.
fn canonical_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String((*k).clone()),
                        canonical_json(&o[*k])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        serde_json::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

fn rows(r: Vec<Vec<Option<String>>>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = r
        .iter()
        .map(|row| row.iter().map(|v| normalise(v.as_deref())).collect())
        .collect();
    out.sort();
    out
}

/// Runs up to [`COMPARED_SETS`] parameter sets of every shape on both
/// databases; a shape whose results differ is a finding (the first
/// difference shown). Returns (sets compared, sets that differed).
pub async fn results(
    to: &EndpointUrl,
    from: &EndpointUrl,
    shapes: &[Shape],
    findings: &mut Vec<Finding>,
) -> Result<(usize, usize), ProbeError> {
    let mut t = endpoint::open_sql(to).await?;
    let mut s = endpoint::open_sql(from).await?;
    let (mut compared, mut differ) = (0, 0);
    // A UUID key is text in PostgreSQL and 16 bytes in a SQLite file ferry
    // wrote: the same literal finds it in one and not the other, so such
    // lookups are compared only between databases of one kind (and said).
    let cross = t.dialect().name != s.dialect().name;
    for shape in shapes {
        let mut reported = false;
        if cross && shape.params.iter().flatten().any(|v| is_uuid(v)) {
            findings.push(Finding {
                kind: "not_compared".into(),
                message: format!(
                    "{}: its parameters are UUIDs, which the two databases store differently; its latency is measured, its results not compared",
                    shape.label
                ),
                fix: None,
            });
            continue;
        }
        for i in 0..shape.params.len().clamp(1, COMPARED_SETS) {
            let sql = shape.statement(i);
            let a = t.query_text(&sql).await.map(rows);
            let b = s.query_text(&sql).await.map(rows);
            compared += 1;
            let same = match (&a, &b) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if same {
                continue;
            }
            differ += 1;
            if reported {
                continue;
            }
            reported = true;
            let what = match (a, b) {
                (Ok(a), Ok(b)) => format!(
                    "{} rows on the target, {} on the source{}",
                    a.len(),
                    b.len(),
                    a.iter()
                        .zip(&b)
                        .find(|(x, y)| x != y)
                        .map(|(x, y)| format!("; first difference: {x:?} vs {y:?}"))
                        .unwrap_or_default()
                ),
                (Err(e), _) => format!("the target failed: {}", e.message),
                (_, Err(e)) => format!("the source failed: {}", e.message),
            };
            findings.push(Finding {
                kind: "result_differs".into(),
                message: format!("{}: {what} — {sql}", shape.label),
                fix: None,
            });
        }
    }
    Ok((compared, differ))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn values_compare_under_the_type_mapping() {
        let n = |s: &str| normalise(Some(s));
        assert_eq!(n("1.50"), n("1.5"));
        assert_eq!(n("42"), n("42.0"));
        assert_eq!(n("t"), n("1"));
        assert_eq!(n("false"), n("0"));
        assert_eq!(n("2024-01-05 10:00:00"), n("2024-01-05T10:00:00"));
        assert_eq!(n("2024-01-05 10:00:00+00"), n("2024-01-05T10:00:00Z"));
        assert_eq!(n("2024-01-05 12:00:00+02:00"), n("2024-01-05T10:00:00Z"));
        assert_eq!(n(r#"{"b": 1, "a": [1, 2]}"#), n(r#"{"a":[1,2],"b":1}"#));
        assert_ne!(n("abc"), n("abd"));
        assert_ne!(normalise(None), n(""));
        assert_ne!(n("1.5"), n("1.25"));
        assert_eq!(n("\\xCAFE"), n("\\xcafe"));
        assert_eq!(
            n("00415373-5ff7-5212-823e-492b8d40140f"),
            n("\\x004153735ff75212823e492b8d40140f")
        );
    }
}
