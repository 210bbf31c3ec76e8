//! The configuration of the `markdown` parser.

use ferry_plugin_sdk::{PluginError, parse_config};
use serde::Deserialize;

/// The configuration JSON (every key optional; `{}` or `""` is fine).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct MarkdownConfig {
    /// Also render the body to HTML in an `html` field (CommonMark plus
    /// tables, footnotes, strikethrough and task lists). Default false.
    #[serde(default)]
    pub html: bool,
}

impl MarkdownConfig {
    /// Parse and check the configuration JSON.
    pub fn parse(config: &str) -> Result<MarkdownConfig, PluginError> {
        parse_config(config)
    }
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "markdown",
  "description": "Markdown with optional YAML (---) or TOML (+++) front matter: one record per file.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "html": {
      "type": "boolean",
      "default": false,
      "description": "Also render the body to HTML in an `html` field (CommonMark + tables, footnotes, strikethrough, task lists)."
    }
  }
}"#;
