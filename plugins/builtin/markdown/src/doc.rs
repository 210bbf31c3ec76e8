//! One Markdown file to one record: buffering, decoding, front matter,
//! title, fields.

use ferry_plugin_sdk::{Field, FieldValue, Location, ParsedRecord, PluginError};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::{Map, Value};

use crate::config::MarkdownConfig;
use crate::front;

/// Largest file accepted: 64 MiB. The whole document is one record, held in
/// memory (twice, with `html`); the host's file-size limit (50 MB by
/// default) normally refuses bigger files first. Raise both together.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// The UTF-8 byte order mark, skipped at the start of the file.
const BOM: &str = "\u{feff}";

/// Front-matter keys with a field of their own (checked in this order; the
/// first present wins, and every key used is left out of `metadata`).
const ID_KEYS: &[&str] = &["id"];
const URL_KEYS: &[&str] = &["url", "permalink"];
const CREATED_KEYS: &[&str] = &["created_at", "date", "created"];
const UPDATED_KEYS: &[&str] = &["updated_at", "updated", "lastmod", "modified"];

/// One Markdown file being read.
///
/// After an error or `finish` it is not called again: the SDK's session
/// guard (`ferry_plugin_sdk::call::Session`) answers for it.
pub struct Document {
    config: MarkdownConfig,
    file_name: String,
    bytes: Vec<u8>,
}

impl Document {
    pub fn new(config: MarkdownConfig, file_name: &str) -> Self {
        Document {
            config,
            file_name: file_name.to_string(),
            bytes: Vec::new(),
        }
    }

    /// Buffer the next chunk (a document is one record: nothing is complete
    /// before the end of the file).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        if self.bytes.len().saturating_add(chunk.len()) > MAX_DOCUMENT_BYTES {
            return Err(PluginError::malformed(
                format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
                Location {
                    byte_offset: Some(MAX_DOCUMENT_BYTES as u64),
                    ..Location::default()
                },
            ));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(Vec::new())
    }

    /// End of file: the record.
    pub fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let bytes = std::mem::take(&mut self.bytes);
        Ok(vec![to_record(&bytes, &self.file_name, self.config)?])
    }
}

/// The record of one whole file.
pub fn to_record(
    bytes: &[u8],
    file_name: &str,
    config: MarkdownConfig,
) -> Result<ParsedRecord, PluginError> {
    let text = decode(bytes)?;
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let split = front::split(text)?;
    let (lang, mut meta) = match split.front {
        Some((lang, fm)) => (Some(lang), front::parse(lang, fm, split.front_line)?),
        None => (None, Map::new()),
    };
    let body = split.body;

    let mut fields = Vec::new();
    let mut text_field = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            fields.push(Field::new(name, FieldValue::Text(v)));
        }
    };
    text_field("id", take_scalar(&mut meta, ID_KEYS));
    let title = take_scalar(&mut meta, &["title"])
        .or_else(|| first_heading(body))
        .unwrap_or_else(|| stem(file_name));
    text_field("title", Some(title));
    text_field("content", Some(body.to_string()));
    text_field("content_type", Some("text/markdown".to_string()));
    text_field("url", take_scalar(&mut meta, URL_KEYS));
    let category = take_scalar(&mut meta, &["category"]).or_else(|| first_category(&meta));
    text_field("category", category);
    text_field("created_at", take_scalar(&mut meta, CREATED_KEYS));
    text_field("updated_at", take_scalar(&mut meta, UPDATED_KEYS));
    if let Some(tags) = meta.remove("tags") {
        fields.push(Field::new(
            "tags",
            FieldValue::Json(tags_json(tags).to_string()),
        ));
    }
    fields.push(Field::new(
        "metadata",
        FieldValue::Json(Value::Object(meta).to_string()),
    ));
    fields.push(Field::new(
        "front_matter",
        lang.map_or(FieldValue::Null, |l| FieldValue::Text(l.name().to_string())),
    ));
    if config.html {
        let mut html = String::with_capacity(body.len() + body.len() / 2);
        pulldown_cmark::html::push_html(&mut html, Parser::new_ext(body, options()));
        fields.push(Field::new("html", FieldValue::Text(html)));
    }
    Ok(ParsedRecord::new(fields))
}

/// The Markdown extensions used for headings and HTML.
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

/// The bytes as UTF-8, or malformed input at the first invalid byte.
fn decode(bytes: &[u8]) -> Result<&str, PluginError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let before = bytes.get(..at).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(before.get(line_start..).unwrap_or_default())
            .chars()
            .count()
            + 1;
        PluginError::malformed(
            "the file is not valid UTF-8",
            Location {
                line: u32::try_from(line).ok(),
                line_column: u32::try_from(col).ok(),
                byte_offset: Some(at as u64),
                ..Location::default()
            },
        )
    })
}

/// Remove the first of `keys` present and return it as text (a string as
/// is, a number or boolean as written; null, lists and mappings are left in
/// `metadata`).
fn take_scalar(meta: &mut Map<String, Value>, keys: &[&str]) -> Option<String> {
    for key in keys {
        let text = match meta.get(*key) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => continue,
        };
        meta.remove(*key);
        return Some(text);
    }
    None
}

/// The first entry of a `categories` list (or string), which stays in `metadata`.
fn first_category(meta: &Map<String, Value>) -> Option<String> {
    match meta.get("categories")? {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_string),
        Value::Array(a) => a.iter().find_map(|v| v.as_str().map(str::to_string)),
        _ => None,
    }
}

/// `tags` as a JSON array of strings: a list keeps its scalar entries (as
/// text), a string is split on commas, another scalar is one tag.
fn tags_json(tags: Value) -> Value {
    let as_text = |v: &Value| match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    };
    let list: Vec<String> = match &tags {
        Value::Array(a) => a.iter().filter_map(as_text).collect(),
        Value::String(s) => s.split(',').map(|t| t.trim().to_string()).collect(),
        Value::Null => Vec::new(),
        other => as_text(other).into_iter().collect(),
    };
    Value::Array(
        list.into_iter()
            .filter(|t| !t.is_empty())
            .map(Value::String)
            .collect(),
    )
}

/// The plain text of the first heading (ATX `#` or setext `===`/`---`), if any.
fn first_heading(body: &str) -> Option<String> {
    let mut inside = false;
    let mut text = String::new();
    for event in Parser::new_ext(body, options()) {
        match event {
            Event::Start(Tag::Heading { .. }) => inside = true,
            Event::End(TagEnd::Heading(_)) => {
                let t = text.trim();
                if !t.is_empty() {
                    return Some(t.to_string());
                }
                inside = false;
                text.clear();
            }
            Event::Text(t) | Event::Code(t) if inside => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak if inside => text.push(' '),
            _ => {}
        }
    }
    None
}

/// The file name without directories and without its last extension.
fn stem(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s.to_string(),
        _ => base.to_string(),
    }
}
