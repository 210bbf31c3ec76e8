//! Which parser a file goes to: a `[[files.parser]]` glob, else its
//! extension, else sniffing its first bytes; and how its bytes are encoded.

use serde::{Deserialize, Serialize};

use super::SNIFF_BYTES;

use super::FilesSettings;
use crate::model::glob_match;

/// The format a file was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Markdown,
    Csv,
    Text,
    /// NUL bytes and no UTF-16 byte order mark: no built-in parser reads it.
    Binary,
}

impl Format {
    /// The built-in parser for this format.
    pub fn parser(self) -> Option<&'static str> {
        match self {
            Format::Json => Some("json"),
            Format::Markdown => Some("markdown"),
            Format::Csv => Some("csv"),
            Format::Text => Some("text"),
            Format::Binary => None,
        }
    }

    /// Media type for the parser's hint.
    pub fn media_type(self) -> Option<&'static str> {
        match self {
            Format::Json => Some("application/json"),
            Format::Markdown => Some("text/markdown"),
            Format::Csv => Some("text/csv"),
            Format::Text => Some("text/plain"),
            Format::Binary => None,
        }
    }
}

/// The format an extension names, if it names one.
pub fn format_by_extension(rel: &str) -> Option<Format> {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "json" | "jsonl" | "ndjson" | "geojson" => Format::Json,
        "md" | "markdown" | "mdown" | "mkd" | "mkdn" => Format::Markdown,
        "csv" | "tsv" | "tab" | "psv" => Format::Csv,
        "txt" | "text" | "log" => Format::Text,
        _ => return None,
    })
}

/// The format of a file without a known extension, from its first bytes:
/// NUL bytes without a UTF-16 BOM → binary; `{` or `[` first → JSON; a
/// `---` or `+++` first line → Markdown with front matter; else text.
pub fn sniff(head: &[u8]) -> Format {
    let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    if !utf16 && head.contains(&0) {
        return Format::Binary;
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(head);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if matches!(first, Some(b'{') | Some(b'[')) {
        return Format::Json;
    }
    let line = body.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = trim_ascii_end(line);
    if line == b"---" || line == b"+++" {
        return Format::Markdown;
    }
    Format::Text
}

fn trim_ascii_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// The parser a file goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// Parser name or path (as given to the plugin registry).
    pub parser: String,
    /// Its configuration JSON.
    pub config: String,
    /// `config` (a `[[files.parser]]` glob), `extension` or `sniffed`.
    pub by: &'static str,
    pub format: Option<Format>,
}

/// Picks the parser for `rel` (whose first bytes are `head`), or says why none.
pub fn choose(
    settings: &FilesSettings,
    rel: &str,
    head: &[u8],
) -> Result<Choice, (String, String)> {
    if let Some(r) = settings.parsers.iter().find(|r| glob_match(&r.glob, rel)) {
        return Ok(Choice {
            parser: r.parser.clone(),
            config: r.config.clone(),
            by: "config",
            format: None,
        });
    }
    let (format, by) = match format_by_extension(rel) {
        Some(f) => (f, "extension"),
        None => (sniff(head), "sniffed"),
    };
    match format.parser() {
        Some(p) => Ok(Choice {
            parser: p.to_string(),
            config: "{}".to_string(),
            by,
            format: Some(format),
        }),
        None => Err((
            "no-parser".to_string(),
            format!(
                "binary content (NUL bytes in the first {} KiB) and no parser for it; route it to one with [[files.parser]] glob = \"{rel}\"",
                SNIFF_BYTES / 1024
            ),
        )),
    }
}

/// How a file's bytes are encoded, from its first bytes (for `analyze`).
pub fn sniff_encoding(head: &[u8], whole: bool) -> &'static str {
    if head.is_empty() {
        return "empty";
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return "utf-8-bom";
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return "utf-16le";
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return "utf-16be";
    }
    if head.contains(&0) {
        return "binary";
    }
    match std::str::from_utf8(head) {
        Ok(s) if s.is_ascii() => "ascii",
        Ok(_) => "utf-8",
        // A character cut by the end of the sample is still UTF-8.
        Err(e) if !whole && e.error_len().is_none() => "utf-8",
        Err(_) => "latin-1",
    }
}
