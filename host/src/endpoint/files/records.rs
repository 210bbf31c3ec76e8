//! Parsed records → rows of the content schema.
//!
//! Each column takes the first of its sources that has a value of a fitting
//! type. A field no column took — or one whose value did not fit (a
//! `created_at` that is not a date) — lands in `metadata`, so nothing the
//! parser found is dropped.

use crate::model::temporal::{parse_date, parse_timestamp, parse_timestamptz};
use crate::model::{Batch, BatchBuilder, LogicalType, Schema};
use crate::plugin::{FieldValue, ParsedRecord};

use super::{FieldSource, MappedColumn};

/// What the host knows about the file a record came from.
#[derive(Debug, Clone)]
pub struct FileCtx<'a> {
    pub rel: &'a str,
    pub checksum: &'a str,
    pub size: u64,
    pub mtime: Option<i64>,
    pub parser: &'a str,
    pub migrated_at: i64,
}

/// One value of a row, typed for its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// JSON text.
    Json(String),
    /// Microseconds since the epoch, UTC.
    Ts(i64),
    Uuid([u8; 16]),
}

/// Maps records to rows for one column layout.
pub struct Mapper {
    columns: Vec<MappedColumn>,
    namespace: uuid::Uuid,
    schema: Schema,
}

/// The id of record `index` of `rel`: UUIDv5(namespace, "REL#INDEX"), so it
/// is the same on every run and on every machine.
pub fn record_id(namespace: &uuid::Uuid, rel: &str, index: u64) -> uuid::Uuid {
    uuid::Uuid::new_v5(namespace, format!("{rel}#{index}").as_bytes())
}

impl Mapper {
    pub fn new(columns: Vec<MappedColumn>, namespace: uuid::Uuid, schema: Schema) -> Mapper {
        Mapper {
            columns,
            namespace,
            schema,
        }
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The row for record `index` of a file, and notes about values that
    /// did not fit their column (kept in metadata).
    pub fn row(
        &self,
        ctx: &FileCtx<'_>,
        index: u64,
        rec: &ParsedRecord,
    ) -> (Vec<Cell>, Vec<String>) {
        let mut notes = Vec::new();
        let mut taken = vec![false; rec.len()];
        let mut cells = Vec::with_capacity(self.columns.len());
        let mut metadata_at = Vec::new();
        // Keys of the record's own `metadata` object a column took (front
        // matter keys the parser did not map itself, e.g. `author`).
        let nested = match rec.iter().find(|(n, _)| n == "metadata") {
            Some((_, FieldValue::Json(serde_json::Value::Object(m)))) => Some(m),
            _ => None,
        };
        let mut taken_nested: Vec<&str> = Vec::new();
        for (ci, col) in self.columns.iter().enumerate() {
            let mut cell = Cell::Null;
            for src in &col.from {
                let got = match src {
                    FieldSource::Field(name) => {
                        let Some(fi) = rec.iter().position(|(n, _)| n == name) else {
                            let Some(v) = nested.and_then(|m| m.get(name)) else {
                                continue;
                            };
                            if v.is_null() {
                                continue;
                            }
                            let fv = match v {
                                serde_json::Value::String(s) => FieldValue::Text(s.clone()),
                                other => FieldValue::Json(other.clone()),
                            };
                            let got = convert(&fv, col.logical_type);
                            if got.is_some() {
                                taken_nested.push(name);
                            }
                            if let Some(c) = got {
                                cell = c;
                                break;
                            }
                            continue;
                        };
                        if matches!(rec[fi].1, FieldValue::Null) {
                            taken[fi] = true;
                            continue;
                        }
                        match convert(&rec[fi].1, col.logical_type) {
                            Some(c) => {
                                taken[fi] = true;
                                Some(c)
                            }
                            None => {
                                notes.push(format!(
                                    "record {index}: field `{name}` ({}) does not fit column `{}` ({}); kept in metadata",
                                    crate::model::shown(&field_text(&rec[fi].1)),
                                    col.name,
                                    col.logical_type.name()
                                ));
                                None
                            }
                        }
                    }
                    FieldSource::Metadata => {
                        metadata_at.push(ci);
                        Some(Cell::Null)
                    }
                    other => builtin(other, ctx, index, &self.namespace, col.logical_type),
                };
                if let Some(c) = got {
                    cell = c;
                    break;
                }
            }
            cells.push(cell);
        }
        if !metadata_at.is_empty() {
            let meta = metadata(rec, &taken, &taken_nested);
            for ci in metadata_at {
                cells[ci] = match self.columns[ci].logical_type {
                    LogicalType::Json => Cell::Json(meta.clone()),
                    _ => Cell::Text(meta.clone()),
                };
            }
        }
        (cells, notes)
    }
}

/// The `metadata` object: the record's own `metadata` field (when it is an
/// object) plus every field no column took, by name.
fn metadata(rec: &ParsedRecord, taken: &[bool], taken_nested: &[&str]) -> String {
    let mut obj = serde_json::Map::new();
    if let Some((_, FieldValue::Json(serde_json::Value::Object(m)))) =
        rec.iter().find(|(n, _)| n == "metadata")
    {
        obj.extend(
            m.iter()
                .filter(|(k, _)| !taken_nested.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    for (i, (name, v)) in rec.iter().enumerate() {
        if taken[i]
            || (name == "metadata" && matches!(v, FieldValue::Json(serde_json::Value::Object(_))))
        {
            continue;
        }
        obj.insert(name.clone(), field_json(v));
    }
    serde_json::Value::Object(obj).to_string()
}

fn field_json(v: &FieldValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        FieldValue::Null => J::Null,
        FieldValue::Bool(b) => J::Bool(*b),
        FieldValue::Int(i) => J::from(*i),
        FieldValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        FieldValue::Text(s) => J::String(s.clone()),
        FieldValue::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => J::String(s.to_string()),
            Err(_) => J::String(format!("\\x{}", hex::encode(b))),
        },
        FieldValue::Json(j) => j.clone(),
        // Kept exact where it is a column's whole value; inside metadata, as text.
        FieldValue::RawJson(s) => J::String(s.clone()),
    }
}

fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Text(s) => s.clone(),
        other => field_json(other).to_string(),
    }
}

/// A field value as a value of `ty`, or `None` when it does not fit.
fn convert(v: &FieldValue, ty: LogicalType) -> Option<Cell> {
    use LogicalType as T;
    Some(match ty {
        T::Text | T::Decimal => match v {
            FieldValue::Text(s) => Cell::Text(s.clone()),
            FieldValue::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => Cell::Text(s.to_string()),
                Err(_) => Cell::Text(format!("\\x{}", hex::encode(b))),
            },
            FieldValue::Json(serde_json::Value::String(s)) => Cell::Text(s.clone()),
            other => Cell::Text(field_json(other).to_string()),
        },
        T::Json => match v {
            FieldValue::RawJson(s) => Cell::Json(s.clone()),
            other => Cell::Json(field_json(other).to_string()),
        },
        T::Int64 => match v {
            FieldValue::Int(i) => Cell::Int(*i),
            FieldValue::Text(s) => Cell::Int(s.trim().parse().ok()?),
            _ => return None,
        },
        T::Float64 => match v {
            FieldValue::Float(f) => Cell::Float(*f),
            FieldValue::Int(i) => Cell::Float(*i as f64),
            FieldValue::Text(s) => Cell::Float(s.trim().parse().ok()?),
            _ => return None,
        },
        T::Boolean => match v {
            FieldValue::Bool(b) => Cell::Bool(*b),
            FieldValue::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Cell::Bool(true),
                "false" | "no" | "0" => Cell::Bool(false),
                _ => return None,
            },
            _ => return None,
        },
        T::Timestamptz | T::Timestamp => match v {
            FieldValue::Text(s) => Cell::Ts(parse_instant(s)?),
            FieldValue::Json(serde_json::Value::String(s)) => Cell::Ts(parse_instant(s)?),
            _ => return None,
        },
        T::Uuid => match v {
            FieldValue::Text(s) => Cell::Uuid(crate::model::temporal::parse_uuid(s.trim())?),
            _ => return None,
        },
        T::Date | T::Time | T::Bytes => return None,
    })
}

/// An ISO 8601 instant: with an offset, without one (taken as UTC), or a
/// bare date (midnight UTC). Front matter often writes `2024-01-02 10:00`.
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    parse_timestamptz(s)
        .or_else(|| parse_timestamp(s))
        .or_else(|| parse_date(s).map(|d| i64::from(d) * 86_400_000_000))
}

fn builtin(
    src: &FieldSource,
    ctx: &FileCtx<'_>,
    index: u64,
    ns: &uuid::Uuid,
    ty: LogicalType,
) -> Option<Cell> {
    let ts = |t: i64| match ty {
        LogicalType::Timestamptz | LogicalType::Timestamp => Cell::Ts(t),
        LogicalType::Int64 => Cell::Int(t),
        _ => Cell::Text(crate::model::temporal::format_timestamptz(t)),
    };
    let int = |i: i64| match ty {
        LogicalType::Int64 => Cell::Int(i),
        _ => Cell::Text(i.to_string()),
    };
    Some(match src {
        FieldSource::Id => {
            let id = record_id(ns, ctx.rel, index);
            match ty {
                LogicalType::Uuid => Cell::Uuid(*id.as_bytes()),
                _ => Cell::Text(id.to_string()),
            }
        }
        FieldSource::Path => Cell::Text(ctx.rel.to_string()),
        FieldSource::FileStem => {
            let name = ctx.rel.rsplit('/').next().unwrap_or(ctx.rel);
            let stem = match name.rsplit_once('.') {
                Some((s, _)) if !s.is_empty() => s,
                _ => name,
            };
            Cell::Text(stem.to_string())
        }
        FieldSource::Index => int(i64::try_from(index).unwrap_or(i64::MAX)),
        FieldSource::Checksum => Cell::Text(ctx.checksum.to_string()),
        FieldSource::Size => int(i64::try_from(ctx.size).unwrap_or(i64::MAX)),
        FieldSource::Mtime => ts(ctx.mtime?),
        FieldSource::MigratedAt => ts(ctx.migrated_at),
        FieldSource::Parser => Cell::Text(ctx.parser.to_string()),
        FieldSource::Field(_) | FieldSource::Metadata => return None,
    })
}

/// Packs rows into a batch of `schema`.
pub fn build_batch(schema: &Schema, rows: &[Vec<Cell>]) -> Batch {
    let mut b = BatchBuilder::new(schema, rows.len());
    for row in rows {
        for (ci, cell) in row.iter().enumerate() {
            // Text and JSON are bounded by the parser's record limit (64 MiB),
            // far below the 4 GiB a batch column can hold; a push that still
            // fails leaves the value null rather than the row half-built.
            let ok = match cell {
                Cell::Null => {
                    b.push_null(ci);
                    true
                }
                Cell::Text(s) | Cell::Json(s) => b.push_bytes(ci, s.as_bytes()).is_ok(),
                Cell::Int(i) | Cell::Ts(i) => {
                    b.push_int(ci, *i);
                    true
                }
                Cell::Float(f) => {
                    b.push_float(ci, *f);
                    true
                }
                Cell::Bool(x) => {
                    b.push_bool(ci, *x);
                    true
                }
                Cell::Uuid(u) => {
                    b.push_uuid(ci, u);
                    true
                }
            };
            if !ok {
                b.push_null(ci);
            }
        }
        b.end_row();
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::files::{FilesSettings, default_columns};

    fn ctx() -> FileCtx<'static> {
        FileCtx {
            rel: "posts/a.md",
            checksum: "abc",
            size: 10,
            mtime: Some(1_000_000),
            parser: "markdown",
            migrated_at: 2_000_000,
        }
    }

    #[test]
    fn fields_land_in_their_columns_and_the_rest_in_metadata() {
        let s = FilesSettings::default();
        let m = Mapper::new(default_columns(), s.namespace, s.table_def().schema());
        let rec: ParsedRecord = vec![
            ("title".into(), FieldValue::Text("Hello".into())),
            ("created_at".into(), FieldValue::Text("2024-01-02".into())),
            ("updated_at".into(), FieldValue::Text("last tuesday".into())),
            ("author".into(), FieldValue::Text("ann".into())),
            (
                "metadata".into(),
                FieldValue::Json(serde_json::json!({"draft": true})),
            ),
            (
                "tags".into(),
                FieldValue::Json(serde_json::json!(["a", "b"])),
            ),
        ];
        let (cells, notes) = m.row(&ctx(), 3, &rec);
        let at = |n: &str| {
            let i = default_columns().iter().position(|c| c.name == n).unwrap();
            cells[i].clone()
        };
        assert_eq!(at("title"), Cell::Text("Hello".into()));
        assert_eq!(at("created_at"), Cell::Ts(19_724 * 86_400_000_000));
        // Not a date: the file's mtime, and the text kept in metadata.
        assert_eq!(at("updated_at"), Cell::Ts(1_000_000));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let Cell::Json(meta) = at("metadata") else {
            panic!()
        };
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(
            meta,
            serde_json::json!({"draft": true, "updated_at": "last tuesday", "author": "ann"})
        );
        assert_eq!(at("tags"), Cell::Json("[\"a\",\"b\"]".into()));
        assert_eq!(at("record_index"), Cell::Int(3));
        assert_eq!(at("source_path"), Cell::Text("posts/a.md".into()));
        assert_eq!(
            at("id"),
            Cell::Uuid(*record_id(&s.namespace, "posts/a.md", 3).as_bytes())
        );
        assert_eq!(at("url"), Cell::Null);
    }

    #[test]
    fn instants() {
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_instant("1970-01-01 00:00:01"), Some(1_000_000));
        assert_eq!(parse_instant("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_instant("yesterday"), None);
    }
}
