//! The configuration of the `csv` parser: what the user wrote
//! ([`CsvConfig`]) and the checked overrides it builds ([`Overrides`]).
//! Every key left out is sniffed from the file (see [`crate::sniff`]).

use serde::{Deserialize, Deserializer};

/// The configuration JSON (every key optional; `{}` or `""` sniffs everything).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Field delimiter: one ASCII character (`","`, `";"`, `"\t"`, `"|"`, …).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Quote character: one ASCII character (`"\""` or `"'"`).
    #[serde(default)]
    pub quote: Option<String>,
    /// Escape character inside quoted fields (e.g. `"\\"`), or `null` for
    /// none (quotes are then only escaped by doubling them).
    #[serde(default, deserialize_with = "present")]
    pub escape: Option<Option<String>>,
    /// Comment character: lines starting with it are skipped; `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub comment: Option<Option<String>>,
    /// Whether the first row holds the column names.
    #[serde(default)]
    pub header: Option<bool>,
    /// `auto` (default), `utf-8` or `latin-1`.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Rows whose field count differs from the header: `pad` (default) or `error`.
    #[serde(default)]
    pub ragged: Option<String>,
}

/// Tells "key absent" (`None`) from "key set to null" (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// How bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Decide from the first bytes: UTF-8 if they are valid UTF-8 (a later
    /// record that is not falls back to Latin-1 on its own), else Latin-1.
    Auto,
    /// UTF-8 only: invalid bytes are malformed input.
    Utf8,
    /// ISO-8859-1: every byte is the character of the same number.
    Latin1,
}

/// What to do with a row whose field count differs from the header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ragged {
    /// Missing fields are null; extra fields are named `column_<n>`.
    Pad,
    /// The file is malformed at that row.
    Error,
}

/// The checked configuration, the plugin's `Config`: `None` means "sniff it".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CsvConfig")]
pub struct Overrides {
    pub delimiter: Option<u8>,
    pub quote: Option<u8>,
    pub escape: Option<Option<u8>>,
    pub comment: Option<Option<u8>>,
    pub header: Option<bool>,
    pub encoding: Encoding,
    pub ragged: Ragged,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            delimiter: None,
            quote: None,
            escape: None,
            comment: None,
            header: None,
            encoding: Encoding::Auto,
            ragged: Ragged::Pad,
        }
    }
}

/// One ASCII character, not a line break, for `key`.
fn ascii_char(key: &str, value: &str) -> Result<u8, String> {
    match value.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ => Err(format!(
            "\"{key}\" is {value:?}; it must be one ASCII character other than a line break"
        )),
    }
}

impl TryFrom<CsvConfig> for Overrides {
    type Error = String;

    /// Check the values and build the overrides; the error is the
    /// `InvalidConfig` message.
    fn try_from(config: CsvConfig) -> Result<Overrides, String> {
        let opt = |key: &str, v: Option<Option<String>>| -> Result<Option<Option<u8>>, String> {
            match v {
                None => Ok(None),
                Some(None) => Ok(Some(None)),
                Some(Some(s)) => ascii_char(key, &s).map(|b| Some(Some(b))),
            }
        };
        let out = Overrides {
            delimiter: config
                .delimiter
                .map(|s| ascii_char("delimiter", &s))
                .transpose()?,
            quote: config.quote.map(|s| ascii_char("quote", &s)).transpose()?,
            escape: opt("escape", config.escape)?,
            comment: opt("comment", config.comment)?,
            header: config.header,
            encoding: match config.encoding.as_deref() {
                None | Some("auto") => Encoding::Auto,
                Some("utf-8" | "utf8" | "UTF-8") => Encoding::Utf8,
                Some("latin-1" | "latin1" | "iso-8859-1" | "ISO-8859-1") => Encoding::Latin1,
                Some(other) => {
                    return Err(format!(
                        "\"encoding\" is {other:?}; it must be \"auto\", \"utf-8\" or \"latin-1\""
                    ));
                }
            },
            ragged: match config.ragged.as_deref() {
                None | Some("pad") => Ragged::Pad,
                Some("error") => Ragged::Error,
                Some(other) => {
                    return Err(format!(
                        "\"ragged\" is {other:?}; it must be \"pad\" or \"error\""
                    ));
                }
            },
        };
        if let (Some(d), Some(q)) = (out.delimiter, out.quote)
            && d == q
        {
            return Err("\"delimiter\" and \"quote\" must differ".to_string());
        }
        Ok(out)
    }
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "csv",
  "description": "CSV/TSV: one record per row, fields named by the header (or column_1, column_2, ...). Keys left out are sniffed from the first 64 KiB.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "delimiter": { "type": "string", "minLength": 1, "maxLength": 1, "description": "Field delimiter (one ASCII character). Sniffed among , TAB ; | : when absent." },
    "quote": { "type": "string", "minLength": 1, "maxLength": 1, "description": "Quote character. Sniffed (\" or ') when absent." },
    "escape": { "type": ["string", "null"], "maxLength": 1, "description": "Escape character inside quotes (e.g. \\), null for none. Sniffed when absent." },
    "comment": { "type": ["string", "null"], "maxLength": 1, "description": "Lines starting with this character are skipped; null for none. Sniffed (#) when absent." },
    "header": { "type": "boolean", "description": "Whether the first row names the columns. Sniffed when absent." },
    "encoding": { "enum": ["auto", "utf-8", "latin-1"], "default": "auto", "description": "auto: UTF-8 unless the first 64 KiB are not, then Latin-1; a later non-UTF-8 row falls back to Latin-1 alone." },
    "ragged": { "enum": ["pad", "error"], "default": "pad", "description": "Rows with a different field count than the header: pad (missing fields null, extra ones column_<n>) or error (malformed input with the line)." }
  }
}"#;
