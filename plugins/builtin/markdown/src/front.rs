//! Front matter: finding the block at the top of the file and parsing it.
//!
//! - YAML: a first line `---` (optionally `---yaml` / `--- yaml`, or
//!   `---json`: JSON is parsed as YAML), closed by a line `---` or `...`.
//! - TOML: a first line `+++`, closed by a line `+++`.
//! - Fence lines may carry trailing spaces and end in `\n` or `\r\n`.
//! - Any other first line: no front matter, the whole file is the body.
//! - A fence naming another language (`---coffee`, `--- javascript`), or a
//!   block that is never closed, is malformed input on line 1: front matter
//!   is data, never code, and is never guessed at.

use ferry_plugin_sdk::{Location, PluginError};
use serde_json::{Map, Value};

/// Deepest nesting of TOML arrays/tables accepted: 128. The YAML reader's
/// own budget stops at 64 levels (serde-saphyr's default `max_depth`).
/// Front matter is a handful of keys; deeper input is hostile, and the
/// conversion to JSON recurses once per level.
pub const MAX_TOML_DEPTH: usize = 128;

/// The language of a front-matter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Yaml,
    Toml,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Yaml => "yaml",
            Lang::Toml => "toml",
        }
    }
}

/// A file split into front matter and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<'a> {
    /// The front matter's language and text (between the fences), if any.
    pub front: Option<(Lang, &'a str)>,
    /// The Markdown body (after the closing fence's line).
    pub body: &'a str,
    /// 1-based line of the file where the front-matter text starts.
    pub front_line: u32,
}

/// Lines of `text` with their byte start, without their terminators.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start = 0;
    text.split_inclusive('\n').map(move |l| {
        let at = start;
        start += l.len();
        (at, l.trim_end_matches('\n').trim_end_matches('\r'))
    })
}

fn malformed(message: String, line: u32) -> PluginError {
    PluginError::malformed(
        message,
        Location {
            line: Some(line),
            line_column: Some(1),
            ..Location::default()
        },
    )
}

/// Split `text` (BOM already removed) into front matter and body.
pub fn split(text: &str) -> Result<Split<'_>, PluginError> {
    let none = Split {
        front: None,
        body: text,
        front_line: 0,
    };
    let Some((_, first)) = lines(text).next() else {
        return Ok(none);
    };
    let first = first.trim_end_matches([' ', '\t']);
    let (lang, closers): (Lang, &[&str]) = if first == "+++" {
        (Lang::Toml, &["+++"])
    } else if let Some(tag) = first.strip_prefix("---") {
        match tag.trim() {
            "" | "yaml" | "yml" | "json" => (Lang::Yaml, &["---", "..."]),
            // `----` and longer is a thematic break, not a fence.
            t if t.starts_with('-') => return Ok(none),
            other => {
                return Err(malformed(
                    format!(
                        "front matter in {other:?} is not supported (only YAML, JSON and TOML)"
                    ),
                    1,
                ));
            }
        }
    } else {
        return Ok(none);
    };
    let body_start = first_line_end(text);
    for (at, line) in lines(text).skip(1) {
        if closers.contains(&line.trim_end_matches([' ', '\t'])) {
            let front = text.get(body_start..at).unwrap_or_default();
            let after = at + line.len();
            let rest = text.get(after..).unwrap_or_default();
            let rest = rest
                .strip_prefix("\r\n")
                .or_else(|| rest.strip_prefix('\n'))
                .unwrap_or(rest);
            return Ok(Split {
                front: Some((lang, front)),
                body: rest,
                front_line: 2,
            });
        }
    }
    Err(malformed(
        format!(
            "the {} front matter opened on line 1 is never closed (expected a line {})",
            lang.name(),
            closers.join(" or ")
        ),
        1,
    ))
}

fn first_line_end(text: &str) -> usize {
    text.find('\n').map_or(text.len(), |i| i + 1)
}

/// Parse the front matter into a JSON object (empty text: an empty object).
/// `first_line` is the file line where `text` starts, for error positions.
pub fn parse(lang: Lang, text: &str, first_line: u32) -> Result<Map<String, Value>, PluginError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let value = match lang {
        Lang::Yaml => parse_yaml(text, first_line)?,
        Lang::Toml => parse_toml(text, first_line)?,
    };
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(malformed(
            format!(
                "the front matter is a {}, not a mapping of keys to values",
                kind(&other)
            ),
            first_line,
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

fn parse_yaml(text: &str, first_line: u32) -> Result<Value, PluginError> {
    // serde-saphyr's default budget bounds depth (64), aliases (50,000),
    // alias replay, events (1,000,000) and scalar bytes (64 MiB), so alias
    // bombs ("billion laughs") fail fast instead of expanding.
    serde_saphyr::from_str::<Value>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        let line = u32::try_from(line.max(1) - 1)
            .unwrap_or(u32::MAX)
            .saturating_add(first_line);
        let message = e.to_string();
        let message = message.lines().next().unwrap_or("invalid YAML").to_string();
        PluginError::malformed(
            format!("invalid YAML front matter: {message}"),
            Location {
                line: Some(line),
                line_column: u32::try_from(column).ok(),
                ..Location::default()
            },
        )
    })
}

fn parse_toml(text: &str, first_line: u32) -> Result<Value, PluginError> {
    if let Some(line) = too_deep(text) {
        return Err(malformed(
            format!("TOML front matter nests deeper than {MAX_TOML_DEPTH} levels"),
            first_line.saturating_add(line),
        ));
    }
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 1));
        PluginError::malformed(
            format!(
                "invalid TOML front matter: {}",
                e.message().lines().next().unwrap_or("syntax error")
            ),
            Location {
                line: Some(first_line.saturating_add(line)),
                line_column: Some(column),
                ..Location::default()
            },
        )
    })?;
    Ok(toml_to_json(toml::Value::Table(table)))
}

/// 0-based line and 1-based character column of byte `at` in `text`.
fn line_col(text: &str, at: usize) -> (u32, u32) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count();
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

/// The 0-based line where `[`/`{` nesting (outside strings) first exceeds
/// [`MAX_TOML_DEPTH`], if it does.
fn too_deep(text: &str) -> Option<u32> {
    let (mut depth, mut line, mut quote, mut escaped) = (0usize, 0u32, None::<char>, false);
    for c in text.chars() {
        if c == '\n' {
            line = line.saturating_add(1);
        }
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_TOML_DEPTH {
                        return Some(line);
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    None
}

/// TOML to JSON; datetimes become their text as written. Recursion depth is
/// bounded by [`MAX_TOML_DEPTH`] (checked before parsing).
fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}
