//! ferry's own data model: schemas, packed batches, diagnostics.
//!
//! Every other layer speaks these types; none of them names wasmtime, a
//! database driver or clap.

mod batch;
pub mod decimal;
pub mod glob;
mod sample;
mod schema;
pub mod temporal;

pub use decimal::Decimal;
pub use glob::glob_match;
pub use sample::ColumnSample;

pub use batch::{
    Batch, BatchBuilder, BatchError, ColumnData, ColumnValues, MAX_BATCH_ROWS, ValueRef, VarWidth,
    value_json,
};
pub use schema::{
    CheckDef, Column, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, MAX_DECLARED_LENGTH,
    MAX_DECLARED_PRECISION, NotCarried, PortableDefault, Schema, SchemaObjects, SqlType, Storage,
    TableDef, UniqueDef, ViewDef, default_sql, dependency_order, portable_default,
};

use serde::Serialize;

/// Whether JSON text holds a `\u0000` escape (a NUL character in a
/// string), which PostgreSQL's `jsonb` cannot store. An escaped backslash
/// followed by `u0000` (`\\u0000`) is not one.
pub fn json_holds_nul(json: &str) -> bool {
    let b = json.as_bytes();
    let mut from = 0;
    while let Some(i) = json[from..].find("u0000").map(|i| i + from) {
        let slashes = b[..i].iter().rev().take_while(|c| **c == b'\\').count();
        if slashes % 2 == 1 {
            return true;
        }
        from = i + 5;
    }
    false
}

/// Longest value quoted in a quarantine reason, in characters: 60, so a
/// reason stays one readable line whatever the value (the whole row is kept
/// beside it).
pub const SHOWN_CHARS: usize = 60;

/// A value as quoted in a quarantine reason: at most [`SHOWN_CHARS`]
/// characters, then `…`.
pub fn shown(s: &str) -> String {
    if s.chars().count() > SHOWN_CHARS {
        format!("{}…", s.chars().take(SHOWN_CHARS).collect::<String>())
    } else {
        s.to_string()
    }
}

/// How serious a [`Diagnostic`] is; `Error` rejects the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A finding about a row, from a plugin or from the host itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Row index in the batch the finding is about.
    pub row: Option<u32>,
    pub column: Option<String>,
    pub code: String,
    pub message: String,
}

/// Where in the pipeline a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the source: a value that cannot be represented in its column's type.
    Read,
    /// A transformer reported the row.
    Transform,
    /// A validator rejected the row.
    Validate,
    /// The sink cannot store the row (e.g. a NUL byte in PostgreSQL text).
    Write,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Transform => "transform",
            Stage::Validate => "validate",
            Stage::Write => "write",
        }
    }
}

/// A rejected row and why: what the sink writes to the rejects table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    /// Source table.
    pub table: String,
    /// The row's source key (primary key values or rowid), when known.
    pub source_key: Option<String>,
    pub stage: Stage,
    /// The plugin that rejected it, if a plugin did.
    pub plugin: Option<String>,
    pub column: Option<String>,
    /// Stable code, e.g. `not-null`, `type-mismatch`.
    pub code: String,
    pub reason: String,
    /// The row as it was when rejected.
    pub row: serde_json::Value,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_nul_escape_is_found_and_an_escaped_backslash_is_not_one() {
        use super::json_holds_nul as nul;
        assert!(nul(r#"{"a":"x\u0000y"}"#));
        assert!(nul(r#"["\\\u0000"]"#));
        assert!(!nul(r#"{"a":"x\\u0000y"}"#));
        assert!(!nul(r#"{"u0000":1}"#));
        assert!(nul(r#"{"a":"\u00001"}"#), "a NUL followed by a digit");
        assert!(!nul(""));
        // Moved from the PostgreSQL sink's own copy of this rule.
        assert!(
            nul(r#"["\\\u0000"]"#),
            "an escaped backslash, then the escape"
        );
        assert!(
            !nul(r#"{"a":"\\u0000"}"#),
            "a backslash and the letters u0000"
        );
        assert!(
            !nul(r#"["\\\\\\u0000"]"#),
            "three escaped backslashes, then u0000"
        );
        assert!(!nul(r#"{"a":"\u0001"}"#));
        assert!(!nul("{}"));
    }
}
