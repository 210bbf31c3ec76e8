//! The configuration of the `text` parser.

use ferry_plugin_sdk::{PluginError, parse_config};
use serde::Deserialize;

use crate::decode::MAX_RECORD_BYTES;

/// The configuration JSON (every key optional; `{}` or `""` is fine).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct TextConfig {
    /// Largest file accepted in bytes, 1 to 64 MiB (default 64 MiB).
    #[serde(default)]
    pub max_record_bytes: Option<usize>,
}

impl TextConfig {
    /// Parse and check the configuration; returns the size limit.
    pub fn parse(config: &str) -> Result<usize, PluginError> {
        let raw: TextConfig = parse_config(config)?;
        match raw.max_record_bytes {
            None => Ok(MAX_RECORD_BYTES),
            Some(n) if (1..=MAX_RECORD_BYTES).contains(&n) => Ok(n),
            Some(n) => Err(PluginError::InvalidConfig(format!(
                "\"max_record_bytes\" is {n}; it must be between 1 and {MAX_RECORD_BYTES}"
            ))),
        }
    }
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "text",
  "description": "Plain text: the whole file one record, encoding detected, line endings normalised.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "max_record_bytes": {
      "type": "integer",
      "minimum": 1,
      "maximum": 67108864,
      "default": 67108864,
      "description": "Largest file in bytes; the whole file is one record, so a larger file is malformed."
    }
  }
}"#;
