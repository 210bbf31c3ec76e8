//! `{{name}}`: a ferry transformer. It trims and lower-cases a text column
//! (`{"column": "email"}` by default) and rejects the rows where that column
//! is empty, with the reason: ferry keeps them in `_ferry_rejects`.

use ferry_plugin_sdk::{
    Batch, BatchBuilder, Diagnostic, LogicalType, PluginError, PluginInfo, Schema,
    TransformOutput, Transformer, Value,
};
use serde::Deserialize;

/// The operator's JSON configuration. A key this does not know is refused,
/// naming the key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The text column to normalise.
    #[serde(default = "default_column")]
    column: String,
}

fn default_column() -> String {
    "email".into()
}

pub struct Plugin;

impl Transformer for Plugin {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "Trims and lower-cases a text column; rejects rows where it is empty.",
        )
    }

    /// Plan time: fail before any row moves when the column is missing or
    /// is not text. The output has the input's columns.
    fn transform_schema(input: &Schema, config: &Config) -> Result<Schema, PluginError> {
        match input.column(&config.column) {
            None => Err(input.missing_column(&config.column)),
            Some(c) if c.logical_type != LogicalType::Text => {
                Err(PluginError::unsupported_schema(format!(
                    "column `{}` is {}, not text",
                    c.name, c.logical_type
                )))
            }
            Some(_) => Ok(input.clone()),
        }
    }

    fn transform(
        input: &Schema,
        config: &Config,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        let at = input
            .index_of(&config.column)
            .ok_or_else(|| input.missing_column(&config.column))?;
        let view = rows.view(input)?;
        let mut out = BatchBuilder::with_capacity(input, view.num_rows());
        let mut diagnostics = Vec::new();
        for row in view.rows() {
            let mut values: Vec<Value> = row.values().map(Value::from).collect();
            // Nulls pass through as they are.
            if let Some(text) = row.text(&config.column) {
                let clean = text.trim().to_lowercase();
                if clean.is_empty() {
                    diagnostics.push(
                        Diagnostic::error("empty", format!("{} is empty", config.column))
                            .at_row(row.index())
                            .in_column(&config.column),
                    );
                    continue; // rejected: not in the output
                }
                values[at] = Value::Text(clean);
            }
            out.push_row(&values)?;
        }
        Ok(TransformOutput::with_diagnostics(out.finish()?, diagnostics))
    }
}

ferry_plugin_sdk::export_transformer!(Plugin);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::{ColumnSchema, call};

    use super::*;

    fn schema() -> Schema {
        Schema::new(
            "customers",
            vec![
                ColumnSchema::new("id", LogicalType::Int64, false),
                ColumnSchema::new("email", LogicalType::Text, true),
            ],
        )
    }

    #[test]
    fn normalises_the_column_and_rejects_empty_values_with_the_reason() {
        let rows = Batch::from_rows(
            &schema(),
            vec![
                vec![Value::Int(1), Value::Text("  Ada@Example.COM ".into())],
                vec![Value::Int(2), Value::Text("   ".into())],
                vec![Value::Int(3), Value::Null],
            ],
        )
        .unwrap();
        // As ferry calls it: the configuration arrives as JSON text.
        let schema = schema();
        let out = call::transform::<Plugin>(&schema, r#"{"column":"email"}"#, &rows).unwrap();
        let view = out.batch.view(&schema).unwrap();
        assert_eq!(view.num_rows(), 2);
        assert_eq!(view.row(0).unwrap().text("email"), Some("ada@example.com"));
        assert!(view.row(1).unwrap().is_null("email"));
        assert_eq!(out.diagnostics.len(), 1);
        assert_eq!(out.diagnostics[0].row, Some(1));
        assert_eq!(out.diagnostics[0].code, "empty");
    }

    #[test]
    fn a_missing_column_is_refused_at_plan_time() {
        let err = call::transform_schema::<Plugin>(&schema(), r#"{"column":"mail"}"#).unwrap_err();
        assert!(err.to_string().contains("mail"), "{err}");
    }
}
