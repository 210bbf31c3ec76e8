//! `mask`: a transformer that protects personal data before it reaches the
//! target — keyed hashing (HMAC-SHA256, deterministic so joins still work),
//! e-mail hashing that keeps the domain, redaction, nulling, plus column
//! renames and drops.
//!
//! Configuration (see [`config::CONFIG_SCHEMA`]):
//!
//! ```json
//! {"key": "a-secret-of-16+-bytes",
//!  "columns": {"email": "hash-email", "name": "hash", "phone": "redact", "ssn": "null"},
//!  "rename": {"old": "new"},
//!  "drop": ["col"]}
//! ```
//!
//! This file is glue only; the logic is in [`config`] and [`mask`].

pub mod config;
pub mod mask;

use ferry_plugin_sdk::{Batch, PluginError, PluginInfo, Schema, TransformOutput, Transformer};

use crate::config::MaskConfig;

/// The `mask` transformer.
pub struct Mask;

impl Transformer for Mask {
    type Config = MaskConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "mask",
            env!("CARGO_PKG_VERSION"),
            "Masks personal data (keyed hash, e-mail hash, redact, null) and renames or drops columns.",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn transform_schema(input: &Schema, config: &MaskConfig) -> Result<Schema, PluginError> {
        Ok(config.plan(input)?.output)
    }

    fn transform(
        input: &Schema,
        config: &MaskConfig,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        mask::transform(input, &config.plan(input)?, rows)
    }
}

ferry_plugin_sdk::export_transformer!(Mask);

#[cfg(test)]
mod tests;
