//! Test plugin: the fixed build of `hostile-trap-on-batch`. Same name, same
//! configuration (`{"poison": N}`), passes every batch through and never
//! traps. The resume test swaps it in for the trapping build: a changed
//! digest the operator must accept explicitly.

use ferry_plugin_sdk::{
    Batch, ConfigCache, PluginError, PluginInfo, Schema, TransformOutput, Transformer,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Config {
    poison: i64,
}

thread_local! {
    static CONFIG: ConfigCache<Config> = const { ConfigCache::new() };
}

/// The fixed pass-through transformer.
pub struct TrapFixed;

impl Transformer for TrapFixed {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-trap-on-batch",
            "0.1.1",
            "Test plugin: the fixed trap-on-batch; passes batches through.",
        )
        .with_config_schema(
            r#"{"type":"object","additionalProperties":false,"required":["poison"],"properties":{"poison":{"type":"integer"}}}"#,
        )
    }

    fn transform_schema(input: &Schema, config: &str) -> Result<Schema, PluginError> {
        CONFIG.with(|c| c.get(config))?;
        Ok(input.clone())
    }

    fn transform(
        _input: &Schema,
        config: &str,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        CONFIG.with(|c| c.get(config))?;
        Ok(TransformOutput::new(rows.clone()))
    }
}

ferry_plugin_sdk::export_transformer!(TrapFixed);
