//! `markdown`: the built-in Markdown parser. One record per file: YAML
//! (`---` … `---`/`...`) or TOML (`+++` … `+++`) front matter
//! ([`front`]), the body kept as Markdown in `content`, the title from the
//! front matter, else the first heading, else the file name; `tags`,
//! `category`, `id`, `url`, dates from the front matter and the rest of it in
//! `metadata`; rendered HTML in `html` when configured ([`config`]).
//!
//! The record is built in [`doc`]; `docs/parsers.md` documents the
//! behaviour for operators. This file is glue only.

pub mod config;
pub mod doc;
pub mod front;

use ferry_plugin_sdk::{FileInfo, ParsedRecord, Parser, ParserSession, PluginError, PluginInfo};

use crate::config::MarkdownConfig;
use crate::doc::Document;

/// The `markdown` parser.
pub struct Markdown;

/// One Markdown file being parsed.
pub struct MarkdownSession(Document);

impl Parser for Markdown {
    type Config = MarkdownConfig;
    type Session = MarkdownSession;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "markdown",
            env!("CARGO_PKG_VERSION"),
            "Markdown with YAML/TOML front matter: one record per file (title, tags, content, metadata).",
        )
        .with_config_schema(config::CONFIG_SCHEMA)
    }

    fn open(file: FileInfo, config: &MarkdownConfig) -> Result<MarkdownSession, PluginError> {
        Ok(MarkdownSession(Document::new(*config, &file.name)))
    }
}

impl ParserSession for MarkdownSession {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.feed(chunk)
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        self.0.finish()
    }
}

ferry_plugin_sdk::export_parser!(Markdown);

#[cfg(test)]
mod tests;
