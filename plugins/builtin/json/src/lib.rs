//! `json`: the JSON parser. One object is one record; a top-level array of
//! objects is a record per element; JSON Lines (`.jsonl`, `.ndjson`, or
//! further top-level values each on a new line) a record per value. An
//! object's keys become fields (nested values as json with their original
//! text), aliases fill the conventional fields (`_id` → `id`, `body` →
//! `content`, …) and `metadata` holds the keys no conventional field took.
//! Any other value is one record `{value: json}`.
//!
//! Strict RFC 8259, UTF-8 only; malformed input is a typed error with line,
//! character column and byte offset. Limits: nesting 100, 64 MiB per record.
//! See `docs/parsers.md` for the full behaviour.
//!
//! Configuration: `{"mode": "auto"|"document"|"lines", "max_depth": 100,
//! "max_record_bytes": 67108864}`, every key optional.
//!
//! This file is glue only: the scanner is [`scan`], records are built in
//! [`record`], the configuration is [`config`].

pub mod config;
pub mod record;
pub mod scan;

use ferry_plugin_sdk::{FileInfo, ParsedRecord, Parser, ParserSession, PluginError, PluginInfo};

use crate::config::Options;
use crate::scan::Scanner;

/// The `json` parser.
pub struct Json;

/// One JSON file being parsed.
pub struct JsonSession(Scanner);

impl Parser for Json {
    type Config = Options;
    type Session = JsonSession;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "json",
            env!("CARGO_PKG_VERSION"),
            "JSON, arrays of records and JSON Lines: one record per object, keys as fields.",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn open(file: FileInfo, options: &Options) -> Result<JsonSession, PluginError> {
        Ok(JsonSession(Scanner::new(options.settings(&file))))
    }
}

impl ParserSession for JsonSession {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.feed(chunk)
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.finish()
    }
}

ferry_plugin_sdk::export_parser!(Json);

#[cfg(test)]
mod tests;
