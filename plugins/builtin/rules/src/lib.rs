//! `rules`: a validator that checks column values against declarative rules
//! (`email`, `range`, `not-null`, `regex`, `one-of`, `max-length`), one
//! diagnostic per failing value.
//!
//! Configuration (see [`config::CONFIG_SCHEMA`]):
//!
//! ```json
//! {"rules": [
//!   {"column": "email", "check": "email"},
//!   {"column": "age", "check": "range", "min": 0, "max": 150, "severity": "warning"},
//!   {"column": "name", "check": "not-null"},
//!   {"column": "code", "check": "regex", "pattern": "^[A-Z]{3}$"},
//!   {"column": "status", "check": "one-of", "values": ["a", "b"]},
//!   {"column": "title", "check": "max-length", "max": 200}]}
//! ```
//!
//! This file is glue only; the logic is in [`config`] and [`check`].

pub mod check;
pub mod config;

use ferry_plugin_sdk::{Batch, Diagnostic, PluginError, PluginInfo, Schema, Validator};

use crate::config::RuleSet;

/// The `rules` validator.
pub struct Rules;

impl Validator for Rules {
    type Config = RuleSet;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "rules",
            env!("CARGO_PKG_VERSION"),
            "Checks column values against declarative rules: email, range, not-null, regex, one-of, max-length.",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn check_schema(input: &Schema, rules: &RuleSet) -> Result<(), PluginError> {
        rules.check_schema(input)
    }

    fn validate(
        input: &Schema,
        rules: &RuleSet,
        rows: &Batch,
    ) -> Result<Vec<Diagnostic>, PluginError> {
        check::validate(input, rules, rows)
    }
}

ferry_plugin_sdk::export_validator!(Rules);

#[cfg(test)]
mod tests;
