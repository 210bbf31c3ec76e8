//! The configuration as written by the operator, and the plan it is built
//! into for a given input schema (validated once, then applied per batch).

use std::collections::{BTreeMap, BTreeSet};

use ferry_plugin_sdk::{ColumnSchema, LogicalType, PluginError, Schema};
use serde::Deserialize;

/// Minimum HMAC key length in bytes: 16 bytes (128 bits), so that the key
/// cannot be brute-forced offline from a few known (value, hash) pairs.
/// Raising it only rejects configs; lowering it weakens every hash.
pub const MIN_KEY_BYTES: usize = 16;

/// The configuration JSON.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct MaskConfig {
    /// HMAC-SHA256 key; required when a column uses `hash` or `hash-email`.
    #[serde(default)]
    pub key: Option<String>,
    /// Input column name → how to mask it.
    #[serde(default)]
    pub columns: BTreeMap<String, Mode>,
    /// Input column name → output column name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Input columns left out of the output.
    #[serde(default)]
    pub drop: Vec<String>,
}

/// How a column is masked.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// HMAC-SHA256(key, value) as 32 hex characters (128 bits); deterministic,
    /// so joins on the masked column still work.
    Hash,
    /// `hash(local part)@domain`: keeps the domain for statistics.
    HashEmail,
    /// The fixed text `***`.
    Redact,
    /// Null (any type; the output column becomes nullable).
    Null,
}

impl Mode {
    /// The config name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hash => "hash",
            Mode::HashEmail => "hash-email",
            Mode::Redact => "redact",
            Mode::Null => "null",
        }
    }

    fn needs_key(self) -> bool {
        matches!(self, Mode::Hash | Mode::HashEmail)
    }
}

/// What produces one output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Input column `index`, unchanged.
    Copy(usize),
    /// Input column `index`, masked.
    Mask(usize, Mode),
}

/// The validated plan for one input schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The output schema.
    pub output: Schema,
    /// One step per output column.
    pub steps: Vec<Step>,
    /// The HMAC key, when a hashing mode is used.
    pub key: Option<Vec<u8>>,
}

impl MaskConfig {
    /// Check the configuration against `input` and build the plan.
    pub fn plan(&self, input: &Schema) -> Result<Plan, PluginError> {
        let known = |name: &str| -> Result<usize, PluginError> {
            input
                .index_of(name)
                .ok_or_else(|| input.missing_column(name))
        };
        let dropped: BTreeSet<&str> = self.drop.iter().map(String::as_str).collect();
        for name in &dropped {
            known(name)?;
        }
        for (name, mode) in &self.columns {
            let col = &input.columns[known(name)?];
            if dropped.contains(name.as_str()) {
                return Err(PluginError::InvalidConfig(format!(
                    "column {name:?} is both masked and dropped; remove it from one of \"columns\" and \"drop\""
                )));
            }
            if *mode != Mode::Null && !col.logical_type.is_text_like() {
                return Err(PluginError::UnsupportedSchema(format!(
                    "column {name:?} is {}; mode {:?} needs a text, json or decimal column (mode \"null\" works on any type)",
                    col.logical_type,
                    mode.name()
                )));
            }
        }
        for (from, to) in &self.rename {
            known(from)?;
            if dropped.contains(from.as_str()) {
                return Err(PluginError::InvalidConfig(format!(
                    "column {from:?} is both renamed and dropped"
                )));
            }
            if to.is_empty() {
                return Err(PluginError::InvalidConfig(format!(
                    "rename of {from:?}: the new name is empty"
                )));
            }
        }
        let key = if self.columns.values().any(|m| m.needs_key()) {
            match &self.key {
                Some(k) if k.len() >= MIN_KEY_BYTES => Some(k.as_bytes().to_vec()),
                Some(_) => {
                    return Err(PluginError::InvalidConfig(format!(
                        "\"key\" must be at least {MIN_KEY_BYTES} bytes long"
                    )));
                }
                None => {
                    return Err(PluginError::InvalidConfig(
                        "\"key\" is required when a column uses \"hash\" or \"hash-email\""
                            .to_string(),
                    ));
                }
            }
        } else {
            None
        };

        let mut columns = Vec::new();
        let mut steps = Vec::new();
        let mut seen = BTreeSet::new();
        for (index, col) in input.columns.iter().enumerate() {
            if dropped.contains(col.name.as_str()) {
                continue;
            }
            let name = self.rename.get(&col.name).unwrap_or(&col.name).clone();
            if !seen.insert(name.clone()) {
                return Err(PluginError::UnsupportedSchema(format!(
                    "two output columns would be called {name:?}; check \"rename\""
                )));
            }
            let (step, logical_type, nullable) = match self.columns.get(&col.name) {
                None => (Step::Copy(index), col.logical_type, col.nullable),
                Some(Mode::Null) => (Step::Mask(index, Mode::Null), col.logical_type, true),
                // A hash or `***` is no longer valid JSON or a decimal: the
                // output column is text.
                Some(&mode) => (Step::Mask(index, mode), LogicalType::Text, col.nullable),
            };
            columns.push(ColumnSchema::new(name, logical_type, nullable));
            steps.push(step);
        }
        Ok(Plan {
            output: Schema::new(input.table.clone(), columns),
            steps,
            key,
        })
    }
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "mask",
  "description": "Masks personal data: keyed hashing, redaction, nulling; renames and drops columns.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "key": {
      "type": "string",
      "minLength": 16,
      "description": "HMAC-SHA256 key (at least 16 bytes). Required by the hash and hash-email modes. The same key gives the same hashes, so joins across tables still work."
    },
    "columns": {
      "type": "object",
      "description": "Input column name -> masking mode. hash/hash-email/redact need a text, json or decimal column and make it text; null works on any column and makes it nullable.",
      "additionalProperties": { "enum": ["hash", "hash-email", "redact", "null"] }
    },
    "rename": {
      "type": "object",
      "description": "Input column name -> output column name.",
      "additionalProperties": { "type": "string", "minLength": 1 }
    },
    "drop": {
      "type": "array",
      "description": "Input columns to leave out of the output.",
      "items": { "type": "string" },
      "uniqueItems": true
    }
  }
}"#;
