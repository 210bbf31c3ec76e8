//! Guest SDK for ferry plugins (`ferry:plugin@0.1.0`, target `wasm32-wasip2`).
//!
//! A plugin implements one trait — [`Transformer`], [`Validator`] or
//! [`Parser`] — with plain Rust types, and exports it with one macro
//! ([`export_transformer!`], [`export_validator!`], [`export_parser!`]).
//! The wit-bindgen bindings stay inside this crate.
//!
//! The SDK does what every plugin would otherwise repeat: it parses the
//! configuration text into the plugin's `Config` type once per distinct
//! text (every call carries it), turning what does not parse into
//! [`PluginError::InvalidConfig`]; and it keeps a finished parser session
//! finished ([`call::Session`]).
//!
//! # Map
//!
//! - [`types`](crate::types): schema, diagnostics, errors, manifest, parser records.
//! - [`Batch`]: the packed columnar batch; [`Batch::view`] validates an input
//!   batch once and returns a [`BatchView`] of [`Row`]s and [`ValueRef`]s.
//! - [`BatchBuilder`] / [`ColumnBuilder`]: build output batches from [`Value`]s,
//!   checked against the output schema.
//! - [`NoConfig`] / [`parse_config`]: the configuration JSON.
//! - [`call`]: each contract call as the host makes it (configuration text
//!   in), for native tests; [`call::Session`], the session guard.
//! - [`log()`]: the host's log.
//!
//! # Example
//!
//! ```
//! use ferry_plugin_sdk::{
//!     Batch, BatchBuilder, PluginError, PluginInfo, Schema, TransformOutput, Transformer, Value,
//! };
//!
//! /// The configuration: `{"column": "name"}`, or `{}` for the default.
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     #[serde(default = "name")]
//!     column: String,
//! }
//! fn name() -> String {
//!     "name".into()
//! }
//!
//! /// Upper-cases one text column.
//! pub struct Upper;
//!
//! impl Transformer for Upper {
//!     type Config = Config;
//!
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("upper", env!("CARGO_PKG_VERSION"), "Upper-cases a column.")
//!     }
//!
//!     fn transform(input: &Schema, config: &Config, rows: &Batch) -> Result<TransformOutput, PluginError> {
//!         let view = rows.view(input)?;
//!         let mut out = BatchBuilder::with_capacity(input, view.num_rows());
//!         for row in view.rows() {
//!             match row.text(&config.column) {
//!                 Some(text) => out.push_from_with(&row, &[(config.column.as_str(), Value::Text(text.to_uppercase()))])?,
//!                 None => out.push_from(&row)?,
//!             }
//!         }
//!         Ok(TransformOutput::new(out.finish()?))
//!     }
//! }
//!
//! ferry_plugin_sdk::export_transformer!(Upper);
//!
//! // Natively, as the host calls it: the configuration is text.
//! # fn main() -> Result<(), PluginError> {
//! use ferry_plugin_sdk::{ColumnSchema, LogicalType, call};
//! let schema = Schema::new("t", vec![ColumnSchema::new("name", LogicalType::Text, true)]);
//! let rows = Batch::from_rows(&schema, vec![vec![Value::text("ada")]])?;
//! let out = call::transform::<Upper>(&schema, "{}", &rows)?;
//! assert_eq!(out.batch.view(&schema)?.row(0).and_then(|r| r.text("name")), Some("ADA"));
//! assert!(matches!(call::transform::<Upper>(&schema, r#"{"colum": "x"}"#, &rows), Err(PluginError::InvalidConfig(_))));
//! # Ok(()) }
//! ```

// Lets the generated bindings name this crate by the same path from inside
// it and from the plugin crates that expand the export macros.
extern crate self as ferry_plugin_sdk;

mod batch;
#[doc(hidden)]
pub mod bindings;
mod builder;
pub mod call;
mod config;
mod convert;
#[doc(hidden)]
pub mod export;
mod log;
mod plugin;
pub mod types;
mod value;
mod view;

pub use batch::{Batch, Column, ColumnData};
pub use builder::{BatchBuilder, ColumnBuilder, RowBuilder};
pub use config::{NoConfig, parse_config};
pub use log::{LogLevel, log};
pub use plugin::{Parser, ParserSession, TransformOutput, Transformer, Validator};
pub use types::{
    ColumnSchema, Diagnostic, Field, FieldValue, FileInfo, Location, LogicalType, ParsedRecord,
    PhysicalType, PluginError, PluginInfo, Schema, Severity,
};
pub use value::{Value, ValueRef};
pub use view::{BatchView, ColumnRef, Row, Rows};

#[doc(hidden)]
pub use wit_bindgen;

/// Export a [`Transformer`] implementation as this component's `transform`
/// interface (world `transformer`). Use once per plugin crate.
#[macro_export]
macro_rules! export_transformer {
    ($ty:ty) => {
        const _: fn() = || {
            fn assert_transformer<T: $crate::Transformer>() {}
            assert_transformer::<$ty>();
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type FerryTransformerExport = $crate::export::TransformerExport<$ty>;
            $crate::bindings::transformer::export!(
                FerryTransformerExport with_types_in $crate::bindings::transformer
            );
        };
    };
}

/// Export a [`Validator`] implementation as this component's `validate`
/// interface (world `validator`). Use once per plugin crate.
#[macro_export]
macro_rules! export_validator {
    ($ty:ty) => {
        const _: fn() = || {
            fn assert_validator<T: $crate::Validator>() {}
            assert_validator::<$ty>();
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type FerryValidatorExport = $crate::export::ValidatorExport<$ty>;
            $crate::bindings::validator::export!(
                FerryValidatorExport with_types_in $crate::bindings::validator
            );
        };
    };
}

/// Export a [`Parser`] implementation as this component's `parse`
/// interface (world `parser`). Use once per plugin crate.
#[macro_export]
macro_rules! export_parser {
    ($ty:ty) => {
        const _: fn() = || {
            fn assert_parser<T: $crate::Parser>() {}
            assert_parser::<$ty>();
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type FerryParserExport = $crate::export::ParserExport<$ty>;
            $crate::bindings::parser::export!(
                FerryParserExport with_types_in $crate::bindings::parser
            );
        };
    };
}

#[cfg(test)]
mod tests;
