//! The configuration of the `lines` parser.

use ferry_plugin_sdk::{PluginError, parse_config};
use serde::Deserialize;

use crate::split::MAX_LINE_BYTES;

/// The configuration JSON (every key optional; `{}` or `""` is fine).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct LinesConfig {
    /// Longest accepted line in bytes, 1 to 1 MiB (default 1 MiB).
    #[serde(default)]
    pub max_line_bytes: Option<usize>,
}

impl LinesConfig {
    /// Parse and check the configuration; returns the line limit.
    pub fn parse(config: &str) -> Result<usize, PluginError> {
        let raw: LinesConfig = parse_config(config)?;
        match raw.max_line_bytes {
            None => Ok(MAX_LINE_BYTES),
            Some(n) if (1..=MAX_LINE_BYTES).contains(&n) => Ok(n),
            Some(n) => Err(PluginError::InvalidConfig(format!(
                "\"max_line_bytes\" is {n}; it must be between 1 and {MAX_LINE_BYTES}"
            ))),
        }
    }
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "lines",
  "description": "Plain UTF-8 text: one record {line, text} per non-empty line.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_line_bytes": {
      "type": "integer",
      "minimum": 1,
      "maximum": 1048576,
      "default": 1048576,
      "description": "Longest accepted line in bytes (terminator excluded); a longer line fails the file as malformed."
    }
  }
}"#;
