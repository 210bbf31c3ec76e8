//! `{{name}}`: a ferry validator. It rejects the rows where a column
//! (`{"column": "email"}` by default) is null or blank, with the reason:
//! ferry keeps them in `_ferry_rejects` and moves the others.

use ferry_plugin_sdk::{Batch, Diagnostic, PluginError, PluginInfo, Schema, Validator};
use serde::Deserialize;

/// The operator's JSON configuration. A key this does not know is refused,
/// naming the key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The column every row must fill.
    #[serde(default = "default_column")]
    column: String,
}

fn default_column() -> String {
    "email".into()
}

pub struct Plugin;

impl Validator for Plugin {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "{{name}}",
            env!("CARGO_PKG_VERSION"),
            "Rejects rows where a column is null or blank.",
        )
    }

    /// Plan time: the column must exist.
    fn check_schema(input: &Schema, config: &Config) -> Result<(), PluginError> {
        match input.column(&config.column) {
            None => Err(input.missing_column(&config.column)),
            Some(_) => Ok(()),
        }
    }

    fn validate(
        input: &Schema,
        config: &Config,
        rows: &Batch,
    ) -> Result<Vec<Diagnostic>, PluginError> {
        let view = rows.view(input)?;
        let mut diagnostics = Vec::new();
        for row in view.rows() {
            let reason = if row.is_null(&config.column) {
                Some("is null")
            } else if row.text(&config.column).is_some_and(|t| t.trim().is_empty()) {
                Some("is blank")
            } else {
                None
            };
            if let Some(reason) = reason {
                diagnostics.push(
                    Diagnostic::error("missing", format!("{} {reason}", config.column))
                        .at_row(row.index())
                        .in_column(&config.column),
                );
            }
        }
        Ok(diagnostics)
    }
}

ferry_plugin_sdk::export_validator!(Plugin);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::{ColumnSchema, LogicalType, Value, call};

    use super::*;

    #[test]
    fn rejects_null_and_blank_values_with_the_reason() {
        let schema = Schema::new(
            "customers",
            vec![ColumnSchema::new("email", LogicalType::Text, true)],
        );
        let rows = Batch::from_rows(
            &schema,
            vec![
                vec![Value::Text("ada@example.com".into())],
                vec![Value::Null],
                vec![Value::Text("  ".into())],
            ],
        )
        .unwrap();
        let found = call::validate::<Plugin>(&schema, "{}", &rows).unwrap();
        let rejected: Vec<_> = found.iter().map(|d| (d.row, d.message.as_str())).collect();
        assert_eq!(
            rejected,
            [(Some(1), "email is null"), (Some(2), "email is blank")]
        );
    }
}
