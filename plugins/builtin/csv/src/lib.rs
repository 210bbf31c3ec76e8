//! `csv`: the built-in CSV parser. RFC 4180 (quoted fields with embedded
//! delimiters, doubled quotes and line breaks; `\n`, `\r\n` or `\r`), with
//! the dialect sniffed from the first 64 KiB ([`sniff`]) unless configured
//! ([`config`]). Each row becomes a record whose fields are named by the
//! header (or `column_1`, `column_2`, … without one), every value as text.
//! UTF-8, with a Latin-1 fallback (records decoded from Latin-1 carry
//! `encoding: "latin-1"`).
//!
//! The streaming tokenizer is in [`reader`]; `docs/parsers.md` documents the
//! behaviour for operators. This file is glue only.

pub mod config;
pub mod reader;
pub mod sniff;

use ferry_plugin_sdk::{FileInfo, ParsedRecord, Parser, ParserSession, PluginError, PluginInfo};

use crate::config::Overrides;
use crate::reader::CsvReader;

/// The `csv` parser.
pub struct Csv;

/// One CSV file being parsed.
pub struct CsvSession(CsvReader);

impl Parser for Csv {
    type Config = Overrides;
    type Session = CsvSession;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "csv",
            env!("CARGO_PKG_VERSION"),
            "CSV/TSV with dialect sniffing: one record per row, fields named by the header.",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn open(_file: FileInfo, overrides: &Overrides) -> Result<CsvSession, PluginError> {
        Ok(CsvSession(CsvReader::new(overrides.clone())))
    }
}

impl ParserSession for CsvSession {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.feed(chunk)
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.finish()
    }
}

ferry_plugin_sdk::export_parser!(Csv);

#[cfg(test)]
mod tests;
