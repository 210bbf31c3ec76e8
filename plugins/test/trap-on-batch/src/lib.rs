//! Hostile test plugin: passes batches through, but panics on a poison row.
//!
//! Attacks: the host's trap-and-resume path. Config `{"poison": 1234}`: any
//! batch containing a row whose first int64 column equals `poison` makes
//! `transform` panic (a trap, with `panic = "abort"`); every other batch is
//! returned unchanged. The host should quarantine (or bisect down to) the
//! poisoned batch or row, re-instantiate the plugin, and carry on with the
//! next batches.

use ferry_plugin_sdk::{
    Batch, LogicalType, PluginError, PluginInfo, Schema, TransformOutput, Transformer, ValueRef,
};
use serde::Deserialize;

/// `{"poison": N}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    poison: i64,
}

/// The poison-sensitive pass-through transformer.
pub struct TrapOnBatch;

impl Transformer for TrapOnBatch {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-trap-on-batch",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: passes batches through; panics on a row whose first int64 column equals config.poison.",
        )
        .with_config_schema(
            r#"{"type":"object","additionalProperties":false,"required":["poison"],"properties":{"poison":{"type":"integer"}}}"#,
        )
    }

    fn transform(
        input: &Schema,
        config: &Config,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        let poison = config.poison;
        if let Some(row) = poisoned_row(input, rows, poison)? {
            panic!("hostile-trap-on-batch: poison value {poison} found in row {row}");
        }
        Ok(TransformOutput::new(rows.clone()))
    }
}

/// Index of the first row whose first int64 column equals `poison`.
fn poisoned_row(input: &Schema, rows: &Batch, poison: i64) -> Result<Option<u32>, PluginError> {
    let Some(index) = input
        .columns
        .iter()
        .position(|c| c.logical_type == LogicalType::Int64)
    else {
        return Ok(None);
    };
    let view = rows.view(input)?;
    let Some(column) = view.column(index) else {
        return Ok(None);
    };
    Ok(column
        .iter()
        .position(|v| v == ValueRef::Int(poison))
        .map(|r| u32::try_from(r).unwrap_or(u32::MAX)))
}

ferry_plugin_sdk::export_transformer!(TrapOnBatch);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::{Batch, ColumnSchema, LogicalType, Schema, Value};

    #[test]
    fn finds_the_poison_in_the_first_int_column_only() {
        let schema = Schema::new(
            "t",
            vec![
                ColumnSchema::new("name", LogicalType::Text, false),
                ColumnSchema::new("id", LogicalType::Int64, true),
                ColumnSchema::new("other", LogicalType::Int64, false),
            ],
        );
        let batch = Batch::from_rows(
            &schema,
            vec![
                vec![Value::text("a"), Value::Int(1), Value::Int(1234)],
                vec![Value::text("b"), Value::Null, Value::Int(0)],
                vec![Value::text("c"), Value::Int(1234), Value::Int(0)],
            ],
        )
        .expect("valid");
        assert_eq!(
            super::poisoned_row(&schema, &batch, 1234).expect("ok"),
            Some(2)
        );
        assert_eq!(super::poisoned_row(&schema, &batch, 7).expect("ok"), None);
    }
}
