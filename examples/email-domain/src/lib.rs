//! The README's "write your first transformer": adds a column holding the
//! domain of an e-mail column. Rows without a valid address keep a null
//! domain and get a warning; rows whose address is empty are rejected (they
//! go to ferry's quarantine with the reason).

use ferry_plugin_sdk::{
    Batch, BatchBuilder, ColumnSchema, Diagnostic, LogicalType, PluginError, PluginInfo, Schema,
    TransformOutput, Transformer, Value,
};
use serde::Deserialize;

/// The configuration, `{"column": "email", "into": "email_domain"}` (both
/// optional). The SDK parses the operator's JSON into it once and passes it
/// to every call; a key it does not know is an error that names the key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The e-mail column.
    #[serde(default = "default_column")]
    column: String,
    /// The new column.
    #[serde(default = "default_into")]
    into: String,
}

fn default_column() -> String {
    "email".into()
}
fn default_into() -> String {
    "email_domain".into()
}

/// The part after the last `@`, lowercased; `None` when there is no domain.
pub fn domain_of(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && domain.contains('.')).then(|| domain.to_ascii_lowercase())
}

pub struct EmailDomain;

impl Transformer for EmailDomain {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "email-domain",
            env!("CARGO_PKG_VERSION"),
            "Adds the domain of an e-mail column as a new column.",
        )
    }

    fn transform_schema(input: &Schema, config: &Config) -> Result<Schema, PluginError> {
        if input.column(&config.column).is_none() {
            return Err(input.missing_column(&config.column));
        }
        let mut out = input.clone();
        out.columns
            .push(ColumnSchema::new(&config.into, LogicalType::Text, true));
        Ok(out)
    }

    fn transform(
        input: &Schema,
        config: &Config,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        let output = Self::transform_schema(input, config)?;
        let view = rows.view(input)?;
        let mut out = BatchBuilder::with_capacity(&output, view.num_rows());
        let mut diagnostics = Vec::new();
        for row in view.rows() {
            let email = row.text(&config.column);
            if email == Some("") {
                diagnostics.push(
                    Diagnostic::error("empty-email", "the e-mail address is empty")
                        .at_row(row.index())
                        .in_column(&config.column),
                );
                continue; // rejected: not in the output
            }
            let domain = email.and_then(domain_of);
            if email.is_some() && domain.is_none() {
                diagnostics.push(
                    Diagnostic::warning("no-domain", "no domain in this address")
                        .at_row(row.index())
                        .in_column(&config.column),
                );
            }
            let mut values: Vec<Value> = row.values().map(Value::from).collect();
            values.push(domain.map(Value::Text).unwrap_or(Value::Null));
            out.push_row(&values)?;
        }
        Ok(TransformOutput::with_diagnostics(
            out.finish()?,
            diagnostics,
        ))
    }
}

ferry_plugin_sdk::export_transformer!(EmailDomain);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::call;

    use super::*;

    #[test]
    fn domains() {
        assert_eq!(domain_of("ada@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain_of("a@b@c.org").as_deref(), Some("c.org"));
        assert_eq!(domain_of("nobody"), None);
        assert_eq!(domain_of("@example.com"), None);
    }

    #[test]
    fn adds_the_column_and_rejects_empty_addresses() {
        let schema = Schema::new(
            "users",
            vec![ColumnSchema::new("email", LogicalType::Text, true)],
        );
        let rows = Batch::from_rows(
            &schema,
            vec![
                vec![Value::Text("a@x.org".into())],
                vec![Value::Text("".into())],
                vec![Value::Null],
                vec![Value::Text("bad".into())],
            ],
        )
        .unwrap();
        // As ferry calls it: the configuration arrives as JSON text.
        let out = call::transform::<EmailDomain>(&schema, "{}", &rows).unwrap();
        let output = call::transform_schema::<EmailDomain>(&schema, "{}").unwrap();
        let view = out.batch.view(&output).unwrap();
        assert_eq!(view.num_rows(), 3);
        assert_eq!(view.row(0).unwrap().text("email_domain"), Some("x.org"));
        assert!(view.row(1).unwrap().is_null("email_domain"));
        assert_eq!(out.diagnostics.len(), 2);
        assert_eq!(out.diagnostics[0].row, Some(1));
    }

    #[test]
    fn a_config_with_an_unknown_key_is_refused_with_its_name() {
        let schema = Schema::new(
            "users",
            vec![ColumnSchema::new("email", LogicalType::Text, true)],
        );
        match call::transform_schema::<EmailDomain>(&schema, r#"{"colum": "mail"}"#) {
            Err(PluginError::InvalidConfig(m)) => {
                assert!(m.contains("unknown field `colum`"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// README.md's "Write your first transformer" shows this file up to its
    /// tests, exactly: the README's code is the code the tests build and run.
    #[test]
    fn the_readme_shows_this_code() {
        let readme = include_str!("../../../README.md");
        let code = include_str!("lib.rs")
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .trim_end();
        let shown = readme
            .split("## Write your first transformer")
            .nth(1)
            .and_then(|section| section.split("```rust\n").nth(1))
            .and_then(|block| block.split("\n```").next())
            .unwrap_or_default()
            .trim_end();
        assert!(
            shown == code,
            "README.md's \"Write your first transformer\" must show \
             examples/email-domain/src/lib.rs up to its tests, as it is"
        );
    }
}
