//! Casts: a column read as one logical type and loaded as another.
//!
//! Casts come from two places, both recorded in the plan:
//! - **promotions** ferry proposes after sampling a SQLite source (ISO
//!   timestamps in TEXT → timestamp, 0/1 integers in a flag column →
//!   boolean, JSON documents in TEXT → json), see [`propose`];
//! - **casting rules** in `ferry.toml` (`[[cast]]`, per column or per
//!   declared type), which override promotions.
//!
//! A cast runs in the host, right after the read and before any plugin, so it
//! works the same for every source. Every cast is exact or refuses: a value
//! that does not convert (a TEXT value that is not a timestamp in a promoted
//! column) sends its row to quarantine with the reason, never a guess.

use serde::{Deserialize, Serialize};

use crate::model::{
    Batch, BatchBuilder, LogicalType, Reject, Schema, Stage, TableDef, ValueRef, temporal,
};

/// One column's cast, as the plan records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCast {
    pub column: String,
    pub from: LogicalType,
    pub to: LogicalType,
    /// `promotion` (ferry's proposal from sampled values) or `config` (a rule).
    pub origin: String,
    /// Why: what was sampled, or which rule.
    pub reason: String,
}

/// A casting rule from `ferry.toml`:
///
/// ```toml
/// [[cast]]
/// column = "users.created_at"   # TABLE.COLUMN; `*` globs in either part
/// to = "text"                   # keep as text: overrides a promotion
///
/// [[cast]]
/// type = "DATETIME"             # every column with this declared type
/// to = "timestamptz"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CastRule {
    #[serde(default)]
    pub column: Option<String>,
    #[serde(default, rename = "type")]
    pub declared_type: Option<String>,
    pub to: LogicalType,
}

impl CastRule {
    /// Whether this rule applies to `table.column` declared as `declared`.
    pub fn matches(&self, table: &str, column: &str, declared: &str) -> bool {
        if let Some(c) = &self.column {
            let (t, col) = c.rsplit_once('.').unwrap_or(("*", c));
            return crate::model::glob_match(t, table) && crate::model::glob_match(col, column);
        }
        if let Some(d) = &self.declared_type {
            let base = |s: &str| {
                s.split('(')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_uppercase()
            };
            // `DECIMAL(10,2)` in a rule matches only that exact declaration;
            // `DECIMAL` matches every precision.
            return if d.contains('(') {
                d.eq_ignore_ascii_case(declared.trim())
            } else {
                base(d) == base(declared)
            };
        }
        false
    }

    pub fn describe(&self) -> String {
        match (&self.column, &self.declared_type) {
            (Some(c), _) => format!("[[cast]] column = \"{c}\", to = \"{}\"", self.to),
            (_, Some(t)) => format!("[[cast]] type = \"{t}\", to = \"{}\"", self.to),
            _ => format!("[[cast]] to = \"{}\"", self.to),
        }
    }
}

/// Whether a cast from `from` to `to` exists (value by value, exact or refused).
pub fn supported(from: LogicalType, to: LogicalType) -> bool {
    use LogicalType as L;
    from == to
        || to == L::Text
        || matches!(
            (from, to),
            (L::Text, _)
                | (L::Int64, L::Boolean | L::Float64 | L::Decimal)
                | (L::Float64, L::Decimal)
                | (L::Decimal, L::Int64 | L::Float64)
                | (L::Boolean, L::Int64)
                | (L::Json, L::Text)
                | (L::Bytes, L::Uuid)
                | (L::Timestamp, L::Timestamptz)
        )
}

/// Names that mark an integer column as a flag when all its values are 0/1.
/// A column named `quantity` holding only 0 and 1 stays an integer: the
/// values alone do not make a boolean.
fn looks_like_flag(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["is_", "has_", "can_", "should_", "allow_"]
        .iter()
        .any(|p| n.starts_with(p))
        || n.ends_with("_flag")
        || matches!(
            n.as_str(),
            "active"
                | "enabled"
                | "disabled"
                | "deleted"
                | "verified"
                | "archived"
                | "published"
                | "visible"
                | "hidden"
                | "admin"
                | "flag"
                | "locked"
                | "confirmed"
        )
}

pub use crate::model::ColumnSample;

/// The promotion ferry proposes for a column from its sample, if any:
/// every sampled non-null value must fit the new type. A column declared
/// `DATETIME` or `TIMESTAMP` is never narrowed to a date because its
/// sampled values happen to have no time part: the application's next
/// value may have one (a date-only value becomes midnight).
pub fn propose(
    column: &str,
    declared: &str,
    current: LogicalType,
    s: &ColumnSample,
) -> Option<(LogicalType, String)> {
    if s.non_null == 0 {
        return None;
    }
    let all = |n: u64| n == s.non_null;
    let of = |n: u64, what: &str| format!("{n} of {n} sampled values are {what}");
    let d = declared.trim().to_ascii_uppercase();
    let declared_timestamp = d.starts_with("DATETIME") || d.starts_with("TIMESTAMP");
    if current == LogicalType::Text && declared_timestamp {
        return if all(s.timestamptzs) && !d.starts_with("DATETIME") && d.contains("ZONE") {
            Some((
                LogicalType::Timestamptz,
                of(s.non_null, "ISO timestamps with a zone"),
            ))
        } else if all(s.dates + s.timestamps) {
            Some((
                LogicalType::Timestamp,
                format!(
                    "declared {declared}, and {}",
                    of(s.non_null, "ISO dates or timestamps without a zone")
                ),
            ))
        } else {
            None
        };
    }
    match current {
        LogicalType::Text if all(s.timestamps) => Some((
            LogicalType::Timestamp,
            of(s.non_null, "ISO timestamps without a zone"),
        )),
        LogicalType::Text if all(s.timestamptzs) => Some((
            LogicalType::Timestamptz,
            of(s.non_null, "ISO timestamps with a zone"),
        )),
        LogicalType::Text if all(s.timestamps + s.timestamptzs) && s.timestamptzs > 0 => None,
        LogicalType::Text if all(s.dates) => Some((LogicalType::Date, of(s.non_null, "ISO dates"))),
        LogicalType::Text if all(s.json_docs) => {
            Some((LogicalType::Json, of(s.non_null, "JSON objects or arrays")))
        }
        LogicalType::Int64 if all(s.zero_one) && looks_like_flag(column) => Some((
            LogicalType::Boolean,
            format!(
                "{}, and the column is named like a flag",
                of(s.non_null, "0 or 1")
            ),
        )),
        _ => None,
    }
}

/// The logical schema after casts: `def` with each cast column's type replaced.
pub fn apply_to_def(def: &TableDef, casts: &[PlannedCast]) -> TableDef {
    let mut out = def.clone();
    for c in casts {
        if let Some(col) = out.columns.iter_mut().find(|x| x.name == c.column) {
            col.logical_type = c.to;
        }
    }
    out
}

/// Casts one batch from `from` (as read) to `to` (after casts). Rows with a
/// value that does not convert become rejects (stage `read`, code
/// `cast-failed`) and are left out of the returned batch.
///
/// Column by column: only the cast columns are rebuilt; every other column
/// moves into the result untouched, so a cast of one column of a wide table
/// costs that column, not the row.
pub fn cast_batch(
    table: &TableDef,
    from: &Schema,
    to: &Schema,
    mut batch: Batch,
    rejects: &mut Vec<Reject>,
) -> Batch {
    let mut failed: Vec<Option<(usize, String)>> = vec![None; batch.num_rows];
    let mut rebuilt = Vec::new();
    for (i, (fc, tc)) in from.columns.iter().zip(&to.columns).enumerate() {
        if fc.logical_type == tc.logical_type {
            continue;
        }
        let one = Schema {
            table: to.table.clone(),
            columns: vec![crate::model::Column {
                nullable: true,
                ..tc.clone()
            }],
        };
        let mut b = BatchBuilder::new(&one, batch.num_rows);
        for (row, f) in failed.iter_mut().enumerate() {
            let v = batch.value(row, i);
            if let Err(why) = push_cast(&mut b, 0, v, fc.logical_type, tc.logical_type) {
                b.abandon_row();
                b.push_null(0);
                f.get_or_insert((i, why));
            }
            b.end_row();
        }
        let mut col = b.finish();
        if let Some(c) = col.columns.pop() {
            rebuilt.push((i, c));
        }
    }
    for (row, f) in failed.iter().enumerate() {
        if let Some((i, why)) = f {
            let (fc, tc) = (&from.columns[*i], &to.columns[*i]);
            rejects.push(Reject {
                table: table.name.clone(),
                source_key: batch.source_key(from, &table.primary_key, row),
                stage: Stage::Read,
                plugin: None,
                column: Some(fc.name.clone()),
                code: "cast-failed".into(),
                reason: format!(
                    "column `{}`: {why} (cast {} → {} from the plan; change it with a [[cast]] rule)",
                    fc.name, fc.logical_type, tc.logical_type
                ),
                row: batch.row_json(from, row),
            });
        }
    }
    for (i, c) in rebuilt {
        batch.columns[i] = c;
    }
    if failed.iter().any(Option::is_some) {
        let keep: Vec<bool> = failed.iter().map(Option::is_none).collect();
        batch = batch.retain(to, &keep);
    }
    batch
}

/// Canonical text of a value of type `t` (what a cast to text produces).
pub fn to_text(v: &ValueRef<'_>, t: LogicalType) -> Option<String> {
    Some(match (v, t) {
        (ValueRef::Null, _) => return None,
        (ValueRef::Bool(b), _) => b.to_string(),
        (ValueRef::Int(i), LogicalType::Time) => temporal::format_time(*i),
        (ValueRef::Int(i), LogicalType::Timestamp) => temporal::format_timestamp(*i),
        (ValueRef::Int(i), LogicalType::Timestamptz) => temporal::format_timestamptz(*i),
        (ValueRef::Int(i), _) => i.to_string(),
        (ValueRef::Float(f), _) => f.to_string(),
        (ValueRef::Date(d), _) => temporal::format_date(*d),
        (ValueRef::Uuid(u), _) => uuid::Uuid::from_slice(u).ok()?.hyphenated().to_string(),
        (ValueRef::Text(s), _) => s.to_string(),
        (ValueRef::Bytes(b), _) => String::from_utf8(b.to_vec()).ok()?,
    })
}

fn push_cast(
    b: &mut BatchBuilder,
    i: usize,
    v: ValueRef<'_>,
    from: LogicalType,
    to: LogicalType,
) -> Result<(), String> {
    use LogicalType as L;
    let bytes = |b: &mut BatchBuilder, x: &[u8]| b.push_bytes(i, x).map_err(|e| e.to_string());
    match (&v, to) {
        (ValueRef::Null, _) => b.push_null(i),
        _ if from == to => b.copy_value(i, &v).map_err(|e| e.to_string())?,
        (ValueRef::Bytes(x), L::Text) => {
            let s = std::str::from_utf8(x)
                .map_err(|e| format!("bytes are not UTF-8 (at offset {})", e.valid_up_to()))?;
            bytes(b, s.as_bytes())?
        }
        (_, L::Text) => {
            let s = to_text(&v, from).ok_or("no text form")?;
            bytes(b, s.as_bytes())?
        }
        (ValueRef::Text(s), _) => {
            let bad = |what: &str| format!("'{}' is not {what}", crate::model::shown(s));
            match to {
                // A date alone is that day's midnight (a DATETIME column
                // whose stored values have no time part).
                L::Timestamp => b.push_int(
                    i,
                    temporal::parse_timestamp(s)
                        .or_else(|| {
                            temporal::parse_date(s).map(|d| i64::from(d) * temporal::MICROS_PER_DAY)
                        })
                        .ok_or_else(|| bad("an ISO timestamp"))?,
                ),
                L::Timestamptz => b.push_int(
                    i,
                    temporal::parse_timestamptz(s)
                        .ok_or_else(|| bad("an ISO timestamp with a zone"))?,
                ),
                L::Date => b.push_date(
                    i,
                    temporal::parse_date(s).ok_or_else(|| bad("an ISO date"))?,
                ),
                L::Time => b.push_int(i, temporal::parse_time(s).ok_or_else(|| bad("a time"))?),
                L::Uuid => b.push_uuid(i, &temporal::parse_uuid(s).ok_or_else(|| bad("a UUID"))?),
                L::Json => {
                    serde_json::from_str::<serde::de::IgnoredAny>(s)
                        .map_err(|e| format!("'{}' is not JSON: {e}", crate::model::shown(s)))?;
                    bytes(b, s.as_bytes())?
                }
                L::Boolean => b.push_bool(
                    i,
                    match *s {
                        "true" | "TRUE" | "t" | "1" => true,
                        "false" | "FALSE" | "f" | "0" => false,
                        _ => return Err(bad("a boolean")),
                    },
                ),
                L::Int64 => b.push_int(i, s.parse().map_err(|_| bad("a 64-bit integer"))?),
                L::Float64 => {
                    let f: f64 = s.parse().map_err(|_| bad("a number"))?;
                    // Exact only when the text is the value's own shortest form.
                    if f.to_string() != *s {
                        return Err(bad("a float64 written exactly"));
                    }
                    b.push_float(i, f)
                }
                L::Decimal => {
                    if !crate::model::Decimal::is_numeric(s) {
                        return Err(bad("a decimal number"));
                    }
                    bytes(b, s.as_bytes())?
                }
                L::Bytes => bytes(b, s.as_bytes())?,
                L::Text => unreachable!("handled above"),
            }
        }
        (ValueRef::Int(x), L::Boolean) => match x {
            0 => b.push_bool(i, false),
            1 => b.push_bool(i, true),
            _ => return Err(format!("{x} is not 0 or 1")),
        },
        (ValueRef::Int(x), L::Float64) if x.unsigned_abs() <= 1 << 53 => b.push_float(i, *x as f64),
        (ValueRef::Int(x), L::Decimal) => bytes(b, x.to_string().as_bytes())?,
        (ValueRef::Float(x), L::Decimal) if x.is_finite() => bytes(b, x.to_string().as_bytes())?,
        (ValueRef::Bool(x), L::Int64) => b.push_int(i, *x as i64),
        (ValueRef::Bytes(x), L::Uuid) => {
            let u: [u8; 16] = (*x)
                .try_into()
                .map_err(|_| format!("{} bytes are not a 16-byte UUID", x.len()))?;
            b.push_uuid(i, &u)
        }
        (ValueRef::Int(x), L::Timestamptz) if from == L::Timestamp => b.push_int(i, *x),
        _ => {
            return Err(format!(
                "{} cannot be cast to {to} exactly",
                to_text(&v, from).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(values: &[&str]) -> ColumnSample {
        let mut s = ColumnSample::default();
        for v in values {
            s.text(v.as_bytes());
        }
        s
    }

    #[test]
    fn promotions_need_every_sampled_value() {
        let ts = sample(&["2024-01-01 10:00:00", "2024-02-01T11:00:00.5"]);
        assert_eq!(
            propose("c", "", LogicalType::Text, &ts).unwrap().0,
            LogicalType::Timestamp
        );
        let mixed = sample(&["2024-01-01 10:00:00", "soon"]);
        assert_eq!(propose("c", "", LogicalType::Text, &mixed), None);
        let json = sample(&["{\"a\":1}", "[1,2]"]);
        assert_eq!(
            propose("c", "", LogicalType::Text, &json).unwrap().0,
            LogicalType::Json
        );
        let scalar_json = sample(&["1", "\"x\""]);
        assert_eq!(propose("c", "", LogicalType::Text, &scalar_json), None);
        let mut flags = ColumnSample::default();
        flags.integer(0);
        flags.integer(1);
        assert_eq!(
            propose("is_active", "", LogicalType::Int64, &flags)
                .unwrap()
                .0,
            LogicalType::Boolean
        );
        assert_eq!(propose("quantity", "", LogicalType::Int64, &flags), None);
    }

    #[test]
    fn a_declared_datetime_is_never_narrowed_to_a_date() {
        let mut dates = ColumnSample::default();
        dates.text(b"2024-01-05");
        dates.text(b"2024-02-29");
        assert_eq!(
            propose("c", "", LogicalType::Text, &dates).unwrap().0,
            LogicalType::Date
        );
        for declared in ["DATETIME", "datetime", "TIMESTAMP", "timestamp(3)"] {
            let (to, why) = propose("c", declared, LogicalType::Text, &dates).unwrap();
            assert_eq!(to, LogicalType::Timestamp, "{declared}");
            assert!(why.contains(declared), "{why}");
        }
        let mut mixed = dates.clone();
        mixed.text(b"2024-03-01 10:00:00");
        assert_eq!(
            propose("c", "DATETIME", LogicalType::Text, &mixed)
                .unwrap()
                .0,
            LogicalType::Timestamp
        );
        mixed.text(b"soon");
        assert_eq!(propose("c", "DATETIME", LogicalType::Text, &mixed), None);
    }

    #[test]
    fn rules_match_columns_and_declared_types() {
        let r = CastRule {
            column: Some("users.created_at".into()),
            declared_type: None,
            to: LogicalType::Text,
        };
        assert!(r.matches("users", "created_at", "TEXT"));
        assert!(!r.matches("orders", "created_at", "TEXT"));
        let r = CastRule {
            column: None,
            declared_type: Some("datetime".into()),
            to: LogicalType::Timestamptz,
        };
        assert!(r.matches("t", "c", "DATETIME"));
        assert!(!r.matches("t", "c", "DATE"));
        let r = CastRule {
            column: None,
            declared_type: Some("NUMERIC(10,2)".into()),
            to: LogicalType::Float64,
        };
        assert!(r.matches("t", "c", "numeric(10,2)"));
        assert!(!r.matches("t", "c", "NUMERIC(12,2)"));
    }
}
