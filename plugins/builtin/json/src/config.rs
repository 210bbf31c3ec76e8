//! The configuration of the `json` parser: what the operator writes
//! ([`JsonConfig`]), the checked [`Options`] it builds, and the [`Settings`]
//! they resolve to for one file.

use ferry_plugin_sdk::FileInfo;
use serde::Deserialize;

use crate::scan::{MAX_DEPTH, MAX_RECORD_BYTES};

/// How top-level values become records.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `lines` for `.jsonl` / `.ndjson` files, else `document`.
    #[default]
    Auto,
    /// A JSON document: an object is a record, an array whose first element
    /// is an object is a record per element. Further top-level values, each
    /// starting on a new line, are accepted (sniffed JSON Lines).
    Document,
    /// JSON Lines: every top-level value is exactly one record, arrays
    /// included.
    Lines,
}

/// The configuration JSON as the user writes it (every key optional).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct JsonConfig {
    /// `auto` (default), `document` or `lines`.
    #[serde(default)]
    pub mode: Mode,
    /// Deepest nesting of arrays and objects, 1 to 100 (default 100).
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// Largest single record in bytes of JSON text, 1 to 64 MiB (default 64 MiB).
    #[serde(default)]
    pub max_record_bytes: Option<usize>,
}

/// The checked configuration, with the mode resolved for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Every top-level value is one record (JSON Lines).
    pub lines: bool,
    /// Nesting limit.
    pub max_depth: usize,
    /// Record size limit.
    pub max_record_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            lines: false,
            max_depth: MAX_DEPTH,
            max_record_bytes: MAX_RECORD_BYTES,
        }
    }
}

/// The checked configuration: the plugin's `Config`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(try_from = "JsonConfig")]
pub struct Options {
    /// How top-level values become records.
    pub mode: Mode,
    /// Nesting limit, 1 to [`MAX_DEPTH`].
    pub max_depth: usize,
    /// Record size limit, 1 to [`MAX_RECORD_BYTES`].
    pub max_record_bytes: usize,
}

impl TryFrom<JsonConfig> for Options {
    type Error = String;

    /// Check the values; the error is the `InvalidConfig` message.
    fn try_from(raw: JsonConfig) -> Result<Options, String> {
        Ok(Options {
            mode: raw.mode,
            max_depth: in_range("max_depth", raw.max_depth, MAX_DEPTH)?,
            max_record_bytes: in_range("max_record_bytes", raw.max_record_bytes, MAX_RECORD_BYTES)?,
        })
    }
}

impl Options {
    /// The settings for parsing `file`.
    pub fn settings(&self, file: &FileInfo) -> Settings {
        let lines = match self.mode {
            Mode::Lines => true,
            Mode::Document => false,
            Mode::Auto => is_json_lines_name(&file.name),
        };
        Settings {
            lines,
            max_depth: self.max_depth,
            max_record_bytes: self.max_record_bytes,
        }
    }
}

/// Whether the file name says JSON Lines (`.jsonl`, `.ndjson`, any case).
fn is_json_lines_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jsonl") || lower.ends_with(".ndjson")
}

/// `value`, or `max` when absent; between 1 and `max`.
fn in_range(key: &str, value: Option<usize>, max: usize) -> Result<usize, String> {
    match value {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(format!("\"{key}\" is {n}; it must be between 1 and {max}")),
    }
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "json",
  "description": "JSON documents, arrays of records and JSON Lines: one record per object.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "mode": {
      "enum": ["auto", "document", "lines"],
      "default": "auto",
      "description": "auto: JSON Lines for .jsonl/.ndjson, else document. document: an object is a record, an array of objects a record per element, later top-level values on new lines are accepted. lines: every top-level value is one record."
    },
    "max_depth": {
      "type": "integer",
      "minimum": 1,
      "maximum": 100,
      "default": 100,
      "description": "Deepest nesting of arrays and objects; deeper input is malformed."
    },
    "max_record_bytes": {
      "type": "integer",
      "minimum": 1,
      "maximum": 67108864,
      "default": 67108864,
      "description": "Largest JSON text of a single record in bytes; a larger record is malformed."
    }
  }
}"#;
