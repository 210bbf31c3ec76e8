//! The configuration of the `markdown` parser.

use serde::Deserialize;

/// The configuration JSON (every key optional; `{}` or `""` is fine): the
/// plugin's `Config`, as written (nothing to check beyond its type).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct MarkdownConfig {
    /// Also render the body to HTML in an `html` field (CommonMark plus
    /// tables, footnotes, strikethrough and task lists). Default false.
    #[serde(default)]
    pub html: bool,
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
