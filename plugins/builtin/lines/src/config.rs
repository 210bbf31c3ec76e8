//! The configuration of the `lines` parser: what the operator writes
//! ([`LinesConfig`]) and the checked [`Options`] it builds.

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

/// The checked configuration: the plugin's `Config`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(try_from = "LinesConfig")]
pub struct Options {
    /// Longest accepted line in bytes, 1 to [`MAX_LINE_BYTES`].
    pub max_line_bytes: usize,
}

impl TryFrom<LinesConfig> for Options {
    type Error = String;

    /// Check the values; the error is the `InvalidConfig` message.
    fn try_from(raw: LinesConfig) -> Result<Options, String> {
        let max_line_bytes = match raw.max_line_bytes {
            None => MAX_LINE_BYTES,
            Some(n) if (1..=MAX_LINE_BYTES).contains(&n) => n,
            Some(n) => {
                return Err(format!(
                    "\"max_line_bytes\" is {n}; it must be between 1 and {MAX_LINE_BYTES}"
                ));
            }
        };
        Ok(Options { max_line_bytes })
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
