//! `lines`: the test parser. Plain UTF-8 text; each non-empty line becomes a
//! record `{line: integer (1-based), text: text}`. Handles `\n` and `\r\n`,
//! chunks that split lines or multi-byte characters anywhere, and rejects
//! invalid UTF-8 and over-long lines as malformed input with their position.
//!
//! Configuration: `{"max_line_bytes": 1048576}` (optional, 1 B to 1 MiB).
//!
//! This file is glue only; the logic is in [`split`] and [`config`].

pub mod config;
pub mod split;

use ferry_plugin_sdk::{FileInfo, ParsedRecord, Parser, ParserSession, PluginError, PluginInfo};

use crate::config::Options;
use crate::split::LineSplitter;

/// The `lines` parser.
pub struct Lines;

/// One file being split into lines.
pub struct LinesSession(LineSplitter);

impl Parser for Lines {
    type Config = Options;
    type Session = LinesSession;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "lines",
            env!("CARGO_PKG_VERSION"),
            "Plain UTF-8 text: one record {line, text} per non-empty line.",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn open(_file: FileInfo, options: &Options) -> Result<LinesSession, PluginError> {
        Ok(LinesSession(LineSplitter::new(options.max_line_bytes)))
    }
}

impl ParserSession for LinesSession {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.feed(chunk)
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.finish()
    }
}

ferry_plugin_sdk::export_parser!(Lines);

#[cfg(test)]
mod tests;
