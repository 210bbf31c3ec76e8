//! The rules as written by the operator, compiled into [`RuleSet`] (the
//! SDK does it once per configuration text), and checked against each input
//! schema.

use ferry_plugin_sdk::{LogicalType, PluginError, Schema, Severity};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

/// Most rules in one configuration: 1,000 — far above any hand-written
/// config, low enough that a runaway generated one fails fast instead of
/// compiling thousands of regexes.
pub const MAX_RULES: usize = 1_000;

/// Longest regex pattern accepted: 4 KiB of source.
pub const MAX_PATTERN_BYTES: usize = 4 * 1024;

/// Compiled size limit of one regex: 1 MiB. `regex` fails to compile a
/// pattern whose program would exceed it (e.g. `\w{1000}{1000}`), so a
/// hostile pattern cannot exhaust the plugin's memory; real-world validation
/// patterns compile to a few KiB. The lazy DFA cache gets the same bound.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The configuration JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    rules: Vec<RawRule>,
}

/// One rule as written. Fields that a check does not use are rejected when
/// the rule is built.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    column: String,
    check: CheckName,
    #[serde(default)]
    severity: Option<SeverityName>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum CheckName {
    Email,
    Range,
    NotNull,
    Regex,
    OneOf,
    MaxLength,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum SeverityName {
    Error,
    Warning,
    Info,
}

/// A compiled check.
#[derive(Debug, Clone)]
pub enum Check {
    /// A plausible e-mail address.
    Email,
    /// A number within `[min, max]` (either bound optional).
    Range {
        /// Inclusive lower bound.
        min: Option<f64>,
        /// Inclusive upper bound.
        max: Option<f64>,
    },
    /// Not null.
    NotNull,
    /// Matches the regex (unanchored: anchor with `^…$` in the pattern).
    Regex(Regex),
    /// Equal to one of the values (int64 values compare by their decimal text).
    OneOf(Vec<String>),
    /// At most `max` characters (bytes for a bytes column).
    MaxLength(u64),
}

impl Check {
    /// The check's name, used as the diagnostic code.
    pub fn code(&self) -> &'static str {
        match self {
            Check::Email => "email",
            Check::Range { .. } => "range",
            Check::NotNull => "not-null",
            Check::Regex(_) => "regex",
            Check::OneOf(_) => "one-of",
            Check::MaxLength(_) => "max-length",
        }
    }

    /// Whether the check applies to a column of type `t`.
    fn accepts(&self, t: LogicalType) -> bool {
        match self {
            Check::NotNull => true,
            Check::Range { .. } => matches!(
                t,
                LogicalType::Int64 | LogicalType::Float64 | LogicalType::Decimal
            ),
            Check::OneOf(_) => t.is_text_like() || t == LogicalType::Int64,
            Check::MaxLength(_) => t.is_text_like() || t == LogicalType::Bytes,
            Check::Email | Check::Regex(_) => t.is_text_like(),
        }
    }

    fn accepted_types(&self) -> &'static str {
        match self {
            Check::NotNull => "any",
            Check::Range { .. } => "int64, float64 or decimal",
            Check::OneOf(_) => "text, json, decimal or int64",
            Check::MaxLength(_) => "text, json, decimal or bytes",
            Check::Email | Check::Regex(_) => "text, json or decimal",
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The column it checks.
    pub column: String,
    /// What it checks.
    pub check: Check,
    /// Severity of its diagnostics (default `error`).
    pub severity: Severity,
    /// The rule as shown in messages, e.g. `range min=0 max=150`.
    pub display: String,
}

/// All rules of one configuration, compiled from what the operator wrote:
/// the plugin's `Config`. A rule that does not compile is an
/// `InvalidConfig` naming it.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawConfig")]
pub struct RuleSet {
    /// The rules, in configuration order.
    pub rules: Vec<Rule>,
}

impl TryFrom<RawConfig> for RuleSet {
    type Error = String;

    /// Compile the rules; the error is the `InvalidConfig` message.
    fn try_from(raw: RawConfig) -> Result<RuleSet, String> {
        if raw.rules.len() > MAX_RULES {
            return Err(format!(
                "{} rules configured; at most {MAX_RULES} are allowed",
                raw.rules.len()
            ));
        }
        let rules = raw
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let (column, check) = (r.column.clone(), r.check);
                build_rule(r).map_err(|m| {
                    format!(
                        "rules[{i}] (column {column:?}, check {:?}): {m}",
                        check_name(check)
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(RuleSet { rules })
    }
}

impl RuleSet {
    /// Check that every rule's column exists in `input` and has a type the
    /// rule can check.
    pub fn check_schema(&self, input: &Schema) -> Result<(), PluginError> {
        for rule in &self.rules {
            let col = input
                .column(&rule.column)
                .ok_or_else(|| input.missing_column(&rule.column))?;
            if !rule.check.accepts(col.logical_type) {
                return Err(PluginError::UnsupportedSchema(format!(
                    "column {:?} is {}; check {:?} needs {}",
                    rule.column,
                    col.logical_type,
                    rule.check.code(),
                    rule.check.accepted_types()
                )));
            }
        }
        Ok(())
    }
}

fn check_name(c: CheckName) -> &'static str {
    match c {
        CheckName::Email => "email",
        CheckName::Range => "range",
        CheckName::NotNull => "not-null",
        CheckName::Regex => "regex",
        CheckName::OneOf => "one-of",
        CheckName::MaxLength => "max-length",
    }
}

fn build_rule(r: RawRule) -> Result<Rule, String> {
    let allowed: &[&str] = match r.check {
        CheckName::Email | CheckName::NotNull => &[],
        CheckName::Range => &["min", "max"],
        CheckName::Regex => &["pattern"],
        CheckName::OneOf => &["values"],
        CheckName::MaxLength => &["max"],
    };
    for (name, present) in [
        ("min", r.min.is_some()),
        ("max", r.max.is_some()),
        ("pattern", r.pattern.is_some()),
        ("values", r.values.is_some()),
    ] {
        if present && !allowed.contains(&name) {
            return Err(format!("{name:?} does not apply to this check"));
        }
    }
    let name = check_name(r.check);
    let (check, display) = match r.check {
        CheckName::Email => (Check::Email, name.to_string()),
        CheckName::NotNull => (Check::NotNull, name.to_string()),
        CheckName::Range => {
            if r.min.is_none() && r.max.is_none() {
                return Err("needs \"min\", \"max\" or both".to_string());
            }
            if let (Some(lo), Some(hi)) = (r.min, r.max)
                && lo > hi
            {
                return Err(format!("\"min\" ({lo}) is greater than \"max\" ({hi})"));
            }
            let mut display = name.to_string();
            if let Some(lo) = r.min {
                display.push_str(&format!(" min={lo}"));
            }
            if let Some(hi) = r.max {
                display.push_str(&format!(" max={hi}"));
            }
            (
                Check::Range {
                    min: r.min,
                    max: r.max,
                },
                display,
            )
        }
        CheckName::Regex => {
            let pattern = r.pattern.ok_or("needs \"pattern\"")?;
            if pattern.len() > MAX_PATTERN_BYTES {
                return Err(format!(
                    "pattern is {} bytes; at most {MAX_PATTERN_BYTES} are allowed",
                    pattern.len()
                ));
            }
            let regex = RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| format!("invalid pattern: {e}"))?;
            (Check::Regex(regex), format!("{name} /{pattern}/"))
        }
        CheckName::OneOf => {
            let values = r.values.ok_or("needs \"values\"")?;
            if values.is_empty() {
                return Err("\"values\" is empty: every value would fail".to_string());
            }
            (Check::OneOf(values), name.to_string())
        }
        CheckName::MaxLength => {
            let max = r.max.ok_or("needs \"max\"")?;
            if !(max >= 0.0 && max.fract() == 0.0 && max <= u32::MAX as f64) {
                return Err(format!(
                    "\"max\" must be a whole number of characters, got {max}"
                ));
            }
            // Checked above: a whole number within u32.
            let max = max as u64;
            (Check::MaxLength(max), format!("{name} max={max}"))
        }
    };
    let severity = match r.severity {
        None | Some(SeverityName::Error) => Severity::Error,
        Some(SeverityName::Warning) => Severity::Warning,
        Some(SeverityName::Info) => Severity::Info,
    };
    Ok(Rule {
        column: r.column,
        check,
        severity,
        display,
    })
}

/// The JSON Schema of the configuration, for `describe`.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "rules",
  "description": "Declarative checks on column values; every failing value yields a diagnostic (an error rejects the row).",
  "type": "object",
  "additionalProperties": false,
  "required": ["rules"],
  "properties": {
    "rules": {
      "type": "array",
      "maxItems": 1000,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["column", "check"],
        "properties": {
          "column": { "type": "string", "description": "Column to check." },
          "check": {
            "enum": ["email", "range", "not-null", "regex", "one-of", "max-length"],
            "description": "email: plausible address; range: number within min..max (inclusive); not-null; regex: matches pattern (unanchored); one-of: equals one of values; max-length: at most max characters (bytes for bytes columns). Null values only fail not-null."
          },
          "severity": { "enum": ["error", "warning", "info"], "default": "error" },
          "min": { "type": "number", "description": "range: inclusive lower bound." },
          "max": { "type": "number", "description": "range: inclusive upper bound; max-length: maximum length." },
          "pattern": { "type": "string", "maxLength": 4096, "description": "regex: pattern in Rust regex syntax." },
          "values": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "one-of: allowed values." }
        }
      }
    }
  }
}"#;
