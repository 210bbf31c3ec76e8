//! The traits a plugin author implements, one per plugin kind.

use serde::de::DeserializeOwned;

use crate::batch::Batch;
use crate::types::{Diagnostic, FileInfo, ParsedRecord, PluginError, PluginInfo, Schema};

/// The result of transforming one batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransformOutput {
    /// The output rows, of the schema `transform_schema` returned.
    pub batch: Batch,
    /// Findings; an `Error` diagnostic with a row rejects that input row.
    pub diagnostics: Vec<Diagnostic>,
}

impl TransformOutput {
    /// Output rows without diagnostics.
    pub fn new(batch: Batch) -> Self {
        TransformOutput {
            batch,
            diagnostics: Vec::new(),
        }
    }

    /// Output rows with diagnostics.
    pub fn with_diagnostics(batch: Batch, diagnostics: Vec<Diagnostic>) -> Self {
        TransformOutput { batch, diagnostics }
    }
}

/// A row transformer: batch in, batch out. Export with
/// [`export_transformer!`](crate::export_transformer).
///
/// Calls are stateless: each carries the input schema and the configuration
/// text; the SDK parses the text into [`Self::Config`](Transformer::Config)
/// (once per distinct text) and passes it to every method.
pub trait Transformer {
    /// The configuration the plugin takes, deserialised from the operator's
    /// JSON (an empty text is `{}`); [`NoConfig`](crate::NoConfig) for none.
    /// A text that does not deserialise fails the call with
    /// [`PluginError::InvalidConfig`] and serde's message (key, line, column).
    ///
    /// Derive `Deserialize` with `#[serde(deny_unknown_fields)]`. For checks
    /// serde cannot express (a range, compiling a pattern), deserialise what
    /// the operator wrote and build the type your methods use from it with
    /// `#[serde(try_from = "Written")]`: a `TryFrom` error (a `String`)
    /// becomes the `InvalidConfig` message as it is, and the built value is
    /// what the SDK keeps.
    type Config: DeserializeOwned + 'static;

    /// Name, version, description and config schema.
    fn describe() -> PluginInfo;

    /// Plan time: the schema `transform` returns for `input` and `config`.
    /// The default passes the input schema through unchanged.
    fn transform_schema(input: &Schema, config: &Self::Config) -> Result<Schema, PluginError> {
        let _ = config;
        Ok(input.clone())
    }

    /// Run time: transform one batch. Use `rows.view(input)?` to read it.
    fn transform(
        input: &Schema,
        config: &Self::Config,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError>;
}

/// A validator: inspects a batch, never changes it. Export with
/// [`export_validator!`](crate::export_validator).
pub trait Validator {
    /// The configuration the plugin takes, as for
    /// [`Transformer::Config`].
    type Config: DeserializeOwned + 'static;

    /// Name, version, description and config schema.
    fn describe() -> PluginInfo;

    /// Plan time: check that `config` fits `input`. The default accepts
    /// any schema (the configuration itself has parsed by then).
    fn check_schema(input: &Schema, config: &Self::Config) -> Result<(), PluginError> {
        let _ = (input, config);
        Ok(())
    }

    /// Inspect one batch; every `Error` diagnostic with a row rejects that row.
    fn validate(
        input: &Schema,
        config: &Self::Config,
        rows: &Batch,
    ) -> Result<Vec<Diagnostic>, PluginError>;
}

/// A legacy-file parser. Export with [`export_parser!`](crate::export_parser).
///
/// The host's `check-config` is answered by the SDK: the configuration is
/// checked by parsing it into [`Self::Config`](Parser::Config).
pub trait Parser {
    /// The configuration the plugin takes, as for
    /// [`Transformer::Config`].
    type Config: DeserializeOwned + 'static;

    /// One parse of one file in progress.
    type Session: ParserSession + 'static;

    /// Name, version, description and config schema.
    fn describe() -> PluginInfo;

    /// Start parsing `file` with `config`.
    fn open(file: FileInfo, config: &Self::Config) -> Result<Self::Session, PluginError>;
}

/// A parse in progress: the host streams the file through `feed` and then
/// calls `finish` once.
///
/// The SDK keeps a finished session finished (see
/// [`call::Session`](crate::call::Session)): after `finish`, or after either
/// method returned an error, neither is called again; the host gets the
/// error again, or an `Internal` error after `finish`. A session need not
/// guard against that itself.
pub trait ParserSession {
    /// Take the next chunk; return the records completed so far.
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError>;

    /// End of file: the remaining records, or why the file is malformed.
    /// The default returns nothing more.
    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        Ok(Vec::new())
    }
}
