//! The traits a plugin author implements, one per plugin kind.

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
/// JSON (see [`ConfigCache`](crate::ConfigCache) to avoid re-parsing it).
pub trait Transformer {
    /// Name, version, description and config schema.
    fn describe() -> PluginInfo;

    /// Plan time: the schema `transform` returns for `input` and `config`.
    /// The default passes the input schema through unchanged.
    fn transform_schema(input: &Schema, config: &str) -> Result<Schema, PluginError> {
        let _ = config;
        Ok(input.clone())
    }

    /// Run time: transform one batch. Use `rows.view(input)?` to read it.
    fn transform(
        input: &Schema,
        config: &str,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError>;
}

/// A validator: inspects a batch, never changes it. Export with
/// [`export_validator!`](crate::export_validator).
pub trait Validator {
    /// Name, version, description and config schema.
    fn describe() -> PluginInfo;

    /// Plan time: check that `config` fits `input`. The default accepts anything.
    fn check_schema(input: &Schema, config: &str) -> Result<(), PluginError> {
        let _ = (input, config);
        Ok(())
    }

    /// Inspect one batch; every `Error` diagnostic with a row rejects that row.
    fn validate(input: &Schema, config: &str, rows: &Batch)
    -> Result<Vec<Diagnostic>, PluginError>;
}

/// A legacy-file parser. Export with [`export_parser!`](crate::export_parser).
pub trait Parser {
    /// One parse of one file in progress.
    type Session: ParserSession + 'static;

    /// Name, version, description and config schema.
    fn describe() -> PluginInfo;

    /// Check a configuration without parsing anything. The default accepts anything.
    fn check_config(config: &str) -> Result<(), PluginError> {
        let _ = config;
        Ok(())
    }

    /// Start parsing `file` with `config`.
    fn open(file: FileInfo, config: &str) -> Result<Self::Session, PluginError>;
}

/// A parse in progress: the host streams the file through `feed` and then
/// calls `finish` once.
pub trait ParserSession {
    /// Take the next chunk; return the records completed so far.
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError>;

    /// End of file: the remaining records, or why the file is malformed.
    /// The default returns nothing more.
    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        Ok(Vec::new())
    }
}
