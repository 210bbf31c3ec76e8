//! `text`: the plain-text parser. The whole file is one record: `title`
//! from the file name (without extension), `content` with line endings
//! normalised to `\n`, `content_type` `text/plain`, `encoding` as detected
//! (`utf-8`, `utf-8-bom`, `utf-16le`, `utf-16be`, or the `latin-1`
//! fallback, so decoding never fails) and `line_endings` as found.
//!
//! The file is buffered up to 64 MiB (configurable lower); a larger file is
//! malformed input. See `docs/parsers.md` for the full behaviour.
//!
//! Configuration: `{"max_record_bytes": 67108864}` (optional).
//!
//! This file is glue only; the logic is in [`decode`] and [`config`].

pub mod config;
pub mod decode;

use ferry_plugin_sdk::{FileInfo, ParsedRecord, Parser, ParserSession, PluginError, PluginInfo};

use crate::config::Options;
use crate::decode::TextFile;

/// The `text` parser.
pub struct Text;

/// One text file being read.
pub struct TextSession(TextFile);

impl Parser for Text {
    type Config = Options;
    type Session = TextSession;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "text",
            env!("CARGO_PKG_VERSION"),
            "Plain text: the whole file one record, encoding detected, line endings normalised.",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn open(file: FileInfo, options: &Options) -> Result<TextSession, PluginError> {
        Ok(TextSession(TextFile::new(&file, options.max_record_bytes)))
    }
}

impl ParserSession for TextSession {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.feed(chunk)
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.finish()
    }
}

ferry_plugin_sdk::export_parser!(Text);

#[cfg(test)]
mod tests;
