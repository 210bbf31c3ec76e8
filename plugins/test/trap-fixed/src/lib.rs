//! Test plugin: the fixed build of `hostile-trap-on-batch`. Same name, same
//! configuration (`{"poison": N}`), passes every batch through and never
//! traps. The resume test swaps it in for the trapping build: a changed
//! digest the operator must accept explicitly.

use ferry_plugin_sdk::{Batch, PluginError, PluginInfo, Schema, TransformOutput, Transformer};
use serde::Deserialize;

/// `{"poison": N}`, accepted and ignored: the same configuration as the
/// trapping build.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[allow(dead_code)]
    poison: i64,
}

/// The fixed pass-through transformer.
pub struct TrapFixed;

impl Transformer for TrapFixed {
    type Config = Config;

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

    fn transform(
        _input: &Schema,
        _config: &Config,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        Ok(TransformOutput::new(rows.clone()))
    }
}

ferry_plugin_sdk::export_transformer!(TrapFixed);
