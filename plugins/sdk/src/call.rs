//! The SDK's side of each contract call, in plain Rust: what the export
//! macros run between the bindings and your trait implementation. The
//! configuration arrives as text and is parsed into the plugin's `Config`
//! once per distinct text ([`parse_config`](crate::parse_config)'s errors
//! and all).
//!
//! Call these from native tests to run a plugin exactly as the host does:
//!
//! ```
//! use ferry_plugin_sdk::{FileInfo, ParserSession, PluginError, call};
//! # use ferry_plugin_sdk::{NoConfig, ParsedRecord, Parser, PluginInfo};
//! # struct Lines;
//! # struct Split;
//! # impl ParserSession for Split {
//! #     fn feed(&mut self, _: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> { Ok(Vec::new()) }
//! # }
//! # impl Parser for Lines {
//! #     type Config = NoConfig;
//! #     type Session = Split;
//! #     fn describe() -> PluginInfo { PluginInfo::new("lines", "0.1.0", "") }
//! #     fn open(_: FileInfo, _: &NoConfig) -> Result<Split, PluginError> { Ok(Split) }
//! # }
//! assert!(matches!(call::check_config::<Lines>(r#"{"typo": 1}"#), Err(PluginError::InvalidConfig(_))));
//! let mut session = call::open::<Lines>(FileInfo::default(), "{}")?;
//! session.feed(b"a line\n")?;
//! session.finish()?;
//! # Ok::<(), PluginError>(())
//! ```

use crate::batch::Batch;
use crate::config::cached;
use crate::plugin::{Parser, TransformOutput, Transformer, Validator};
use crate::types::{Diagnostic, FileInfo, PluginError, Schema};

/// `transform-schema`: [`Transformer::transform_schema`] with the parsed configuration.
pub fn transform_schema<T: Transformer>(
    input: &Schema,
    config: &str,
) -> Result<Schema, PluginError> {
    T::transform_schema(input, &*cached::<T::Config>(config)?)
}

/// `transform`: [`Transformer::transform`] with the parsed configuration.
pub fn transform<T: Transformer>(
    input: &Schema,
    config: &str,
    rows: &Batch,
) -> Result<TransformOutput, PluginError> {
    T::transform(input, &*cached::<T::Config>(config)?, rows)
}

/// `check-schema`: [`Validator::check_schema`] with the parsed configuration.
pub fn check_schema<V: Validator>(input: &Schema, config: &str) -> Result<(), PluginError> {
    V::check_schema(input, &*cached::<V::Config>(config)?)
}

/// `validate`: [`Validator::validate`] with the parsed configuration.
pub fn validate<V: Validator>(
    input: &Schema,
    config: &str,
    rows: &Batch,
) -> Result<Vec<Diagnostic>, PluginError> {
    V::validate(input, &*cached::<V::Config>(config)?, rows)
}

/// `check-config`: the configuration parses into [`Parser::Config`].
pub fn check_config<P: Parser>(config: &str) -> Result<(), PluginError> {
    cached::<P::Config>(config).map(|_| ())
}

/// `open`: [`Parser::open`] with the parsed configuration.
pub fn open<P: Parser>(file: FileInfo, config: &str) -> Result<P::Session, PluginError> {
    P::open(file, &*cached::<P::Config>(config)?)
}
