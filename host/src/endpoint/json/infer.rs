//! Schemaless directories: column types inferred from a sample of values.

use super::*;
use crate::endpoint::EndpointError;
use crate::model::{ColumnDef, LogicalType, TableDef};
use std::collections::HashMap;
use std::fs::{self};
use std::io::{self};
use std::path::Path;

// ---------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------

/// The kinds of JSON values seen in one column of a sample.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Seen {
    pub(super) int: bool,
    /// Integers outside int64.
    pub(super) big_int: bool,
    pub(super) float: bool,
    pub(super) string: bool,
    pub(super) boolean: bool,
    pub(super) nested: bool,
}

impl Seen {
    pub(super) fn add(&mut self, raw: &str) {
        match kind_of(raw) {
            "string" => self.string = true,
            "object" | "array" => self.nested = true,
            "boolean" => self.boolean = true,
            "null" => {}
            _ if !is_int_literal(raw) => self.float = true,
            _ if raw.parse::<i64>().is_ok() => self.int = true,
            _ => self.big_int = true,
        }
    }

    /// The logical type and declared type of the column. Mixed kinds become
    /// json (the widest faithful type) with declared type `mixed`, so the plan
    /// shows it; a column only ever null is json (declared type empty: `null`
    /// would read as a NULL constraint in SQL).
    pub(super) fn infer(self) -> (LogicalType, &'static str) {
        let number = self.int || self.big_int || self.float;
        let kinds = [number, self.string, self.boolean, self.nested]
            .iter()
            .filter(|k| **k)
            .count();
        match kinds {
            0 => (LogicalType::Json, ""),
            1 if self.string => (LogicalType::Text, ""),
            1 if self.boolean => (LogicalType::Boolean, ""),
            1 if self.nested => (LogicalType::Json, ""),
            // Integers beyond int64 (alone or with fractions): decimal keeps
            // every digit; a float64 would not.
            1 if self.big_int => (LogicalType::Decimal, ""),
            1 if self.float => (LogicalType::Float64, ""),
            1 => (LogicalType::Int64, ""),
            _ => (LogicalType::Json, "mixed"),
        }
    }
}

/// Infers a table from the first [`INFER_SAMPLE`] records of a file: the
/// union of keys in order of first appearance, each typed by [`Seen::infer`].
/// Every column is nullable (the sample cannot prove otherwise) and the table
/// has no keys.
pub(super) fn infer_table(
    path: &Path,
    endpoint: &str,
    name: &str,
) -> Result<TableDef, EndpointError> {
    infer_table_sample(path, endpoint, name, INFER_SAMPLE)
}

/// [`infer_table`] from the first `sample` records (tests use a small one).
pub(super) fn infer_table_sample(
    path: &Path,
    endpoint: &str,
    name: &str,
    sample: usize,
) -> Result<TableDef, EndpointError> {
    let mut cols: Vec<(String, Seen)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut n = 0usize;
    for_each_record(path, endpoint, name, |_, rec| {
        n += 1;
        if let Rec::Data(bytes) = rec
            && let Ok(text) = std::str::from_utf8(bytes)
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
            && let Ok(members) = split_object(text)
        {
            for (k, v) in members {
                let i = *index.entry(k.clone()).or_insert_with(|| {
                    cols.push((k, Seen::default()));
                    cols.len() - 1
                });
                cols[i].1.add(v);
            }
        }
        n < sample
    })?;
    Ok(TableDef {
        name: name.to_string(),
        columns: cols
            .into_iter()
            .map(|(name, seen)| {
                let (logical_type, declared) = seen.infer();
                ColumnDef {
                    name,
                    declared_type: declared.to_string(),
                    logical_type,
                    nullable: true,
                    default: None,
                    ..Default::default()
                }
            })
            .collect(),
        primary_key: Vec::new(),
        unique: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        ..Default::default()
    })
}

pub(super) fn read_schema(dir: &Path, endpoint: &str) -> Result<Option<SchemaFile>, EndpointError> {
    let path = dir.join(SCHEMA_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(endpoint, None, "cannot read", &path, e)),
    };
    let s: SchemaFile = serde_json::from_str(&text).map_err(|e| {
        q_err(
            endpoint,
            None,
            format!(
                "{} is not a ferry-json schema file ({e}); fix or remove it (tables are then inferred)",
                path.display()
            ),
        )
    })?;
    if s.format != FORMAT || s.version != VERSION {
        return Err(q_err(
            endpoint,
            None,
            format!(
                "{} has format `{}` version {}; this ferry reads `{FORMAT}` version {VERSION}",
                path.display(),
                s.format,
                s.version
            ),
        ));
    }
    for t in &s.tables {
        check_table_name(endpoint, &t.name)?;
    }
    Ok(Some(s))
}
