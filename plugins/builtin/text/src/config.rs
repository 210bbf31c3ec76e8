//! The configuration of the `text` parser: what the operator writes
//! ([`TextConfig`]) and the checked [`Options`] it builds.

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

/// The checked configuration: the plugin's `Config`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(try_from = "TextConfig")]
pub struct Options {
    /// Largest file accepted in bytes, 1 to [`MAX_RECORD_BYTES`].
    pub max_record_bytes: usize,
}

impl TryFrom<TextConfig> for Options {
    type Error = String;

    /// Check the values; the error is the `InvalidConfig` message.
    fn try_from(raw: TextConfig) -> Result<Options, String> {
        let max_record_bytes = match raw.max_record_bytes {
            None => MAX_RECORD_BYTES,
            Some(n) if (1..=MAX_RECORD_BYTES).contains(&n) => n,
            Some(n) => {
                return Err(format!(
                    "\"max_record_bytes\" is {n}; it must be between 1 and {MAX_RECORD_BYTES}"
                ));
            }
        };
        Ok(Options { max_record_bytes })
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
