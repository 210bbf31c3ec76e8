//! One record from one unit of JSON text the scanner already validated.
//!
//! An object gives a field per key (duplicate keys: the last wins, at the
//! first one's position), the conventional fields its aliases fill, and
//! `metadata`; anything else gives one `value` field with the JSON text as
//! written. Nothing here recurses: nested values are skipped with a counter
//! and kept as their original text.

use ferry_plugin_sdk::{Field, FieldValue, ParsedRecord};

/// Conventional fields and the keys that fill them, in order of preference.
/// The first key present wins; the conventional name itself comes first.
pub const CONVENTIONS: &[(&str, &[&str])] = &[
    ("id", &["id", "_id"]),
    ("title", &["title", "name", "subject"]),
    ("content", &["content", "body", "text"]),
    (
        "content_type",
        &["content_type", "contentType", "mime_type"],
    ),
    ("url", &["url", "link", "permalink"]),
    ("category", &["category"]),
    ("tags", &["tags", "keywords"]),
    (
        "created_at",
        &["created_at", "createdAt", "created", "date", "published_at"],
    ),
    (
        "updated_at",
        &["updated_at", "updatedAt", "updated", "modified"],
    ),
];

/// One key of an object: its name, raw key text (with quotes), value and
/// raw value text.
struct Member<'a> {
    key: String,
    raw_key: &'a str,
    value: FieldValue,
    raw_value: &'a str,
}

/// Build the record of one unit. An error here is the scanner's bug (the
/// text was validated), reported as internal.
pub fn build_record(buf: &[u8]) -> Result<ParsedRecord, String> {
    let text = std::str::from_utf8(buf).map_err(|e| format!("not UTF-8: {e}"))?;
    let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    if text.starts_with('{') {
        object_record(text)
    } else {
        Ok(ParsedRecord::new(vec![Field::new(
            "value",
            FieldValue::Json(text.to_string()),
        )]))
    }
}

fn object_record(text: &str) -> Result<ParsedRecord, String> {
    let members = members(text)?;
    let mut fields: Vec<Field> = Vec::with_capacity(members.len() + 2);
    // Keys consumed by a conventional field: not repeated in `metadata`.
    let mut used: Vec<&str> = Vec::new();
    for m in &members {
        if m.key != "metadata" {
            fields.push(Field::new(m.key.clone(), m.value.clone()));
        }
    }
    for (name, aliases) in CONVENTIONS {
        let Some(m) = aliases
            .iter()
            .find_map(|a| members.iter().find(|m| m.key == *a))
        else {
            continue;
        };
        used.push(&m.key);
        if m.key != *name {
            fields.push(Field::new(*name, m.value.clone()));
        }
    }
    for f in &mut fields {
        if f.name == "tags"
            && let FieldValue::Text(s) = &f.value
        {
            f.value = FieldValue::Json(split_tags(s));
        }
    }
    let rest: Vec<String> = members
        .iter()
        .filter(|m| !used.contains(&m.key.as_str()))
        .map(|m| format!("{}:{}", m.raw_key, m.raw_value))
        .collect();
    if !rest.is_empty() {
        fields.push(Field::new(
            "metadata",
            FieldValue::Json(format!("{{{}}}", rest.join(","))),
        ));
    }
    Ok(ParsedRecord::new(fields))
}

/// `"a, b,,c"` → `["a","b","c"]`.
fn split_tags(s: &str) -> String {
    let tags: Vec<String> = s
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(json_string)
        .collect();
    format!("[{}]", tags.join(","))
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The members of an object, duplicates resolved (last value wins, at the
/// first key's position).
fn members(text: &str) -> Result<Vec<Member<'_>>, String> {
    let mut out: Vec<Member<'_>> = Vec::new();
    let mut i = skip_ws(text, 1);
    loop {
        match text.as_bytes().get(i) {
            Some(b'}') => return Ok(out),
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'"') => {
                let key_end = end_of_value(text, i)?;
                let raw_key = text.get(i..key_end).ok_or("key out of range")?;
                let key = decode_string(raw_key)?;
                i = skip_ws(text, key_end);
                if text.as_bytes().get(i) != Some(&b':') {
                    return Err(format!("expected ':' at {i}"));
                }
                i = skip_ws(text, i + 1);
                let value_end = end_of_value(text, i)?;
                let raw_value = text.get(i..value_end).ok_or("value out of range")?;
                let value = field_value(raw_value)?;
                i = skip_ws(text, value_end);
                let member = Member {
                    key,
                    raw_key,
                    value,
                    raw_value,
                };
                match out.iter_mut().find(|m| m.key == member.key) {
                    Some(earlier) => *earlier = member,
                    None => out.push(member),
                }
            }
            other => return Err(format!("unexpected {other:?} at {i} in an object")),
        }
    }
}

fn skip_ws(text: &str, mut i: usize) -> usize {
    while matches!(text.as_bytes().get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index just past the value starting at `start`.
fn end_of_value(text: &str, start: usize) -> Result<usize, String> {
    let bytes = text.as_bytes();
    match bytes.get(start) {
        Some(b'"') => {
            let mut i = start + 1;
            loop {
                match bytes.get(i) {
                    Some(b'"') => return Ok(i + 1),
                    Some(b'\\') => i += 2,
                    Some(_) => i += 1,
                    None => return Err("unterminated string".into()),
                }
            }
        }
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut in_string = false;
            let mut i = start;
            loop {
                let Some(&b) = bytes.get(i) else {
                    return Err("unterminated container".into());
                };
                if in_string {
                    match b {
                        b'\\' => i += 1,
                        b'"' => in_string = false,
                        _ => {}
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return Ok(i + 1);
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
        }
        Some(_) => {
            let mut i = start;
            while matches!(
                bytes.get(i),
                Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'a'..=b'z' | b'E')
            ) {
                i += 1;
            }
            Ok(i)
        }
        None => Err("missing value".into()),
    }
}

/// The typed value of one member's raw text.
fn field_value(raw: &str) -> Result<FieldValue, String> {
    Ok(match raw.as_bytes().first() {
        Some(b'{' | b'[') => FieldValue::Json(raw.to_string()),
        Some(b'"') => FieldValue::Text(decode_string(raw)?),
        Some(b't') => FieldValue::Boolean(true),
        Some(b'f') => FieldValue::Boolean(false),
        Some(b'n') => FieldValue::Null,
        _ => number(raw),
    })
}

/// A number: integer when written as an integer that fits `i64`; float when
/// the nearest `f64` reads back as the same decimal number; otherwise json
/// (the text as written), so nothing is silently rounded.
pub fn number(raw: &str) -> FieldValue {
    if !raw.contains(['.', 'e', 'E'])
        && let Ok(i) = raw.parse::<i64>()
    {
        return FieldValue::Integer(i);
    }
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() && decimal(raw) == decimal(&format!("{f:e}")) => {
            FieldValue::Float(f)
        }
        _ => FieldValue::Json(raw.to_string()),
    }
}

/// A number's exact decimal value as (negative, significant digits without
/// leading or trailing zeros, power of ten of the last digit).
fn decimal(raw: &str) -> (bool, String, i64) {
    let negative = raw.starts_with('-');
    let unsigned = raw.trim_start_matches(['-', '+']);
    let (mantissa, exp) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, parse_exp(e)),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let trimmed = all.trim_start_matches('0');
    let digits = trimmed.trim_end_matches('0');
    let trailing = (trimmed.len() - digits.len()) as i64;
    if digits.is_empty() {
        return (negative, String::new(), 0);
    }
    let power = exp
        .saturating_sub(frac.len() as i64)
        .saturating_add(trailing);
    (negative, digits.to_string(), power)
}

/// An exponent's value, saturating (`1e99999999999999999999`).
fn parse_exp(e: &str) -> i64 {
    let negative = e.starts_with('-');
    let mut v: i64 = 0;
    for d in e.bytes().filter(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    if negative { -v } else { v }
}

/// Decode a validated JSON string literal (with its quotes).
pub fn decode_string(raw: &str) -> Result<String, String> {
    let inner = raw
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or("not a string")?;
    if !inner.contains('\\') {
        return Ok(inner.to_string());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let hi = hex4(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    match (chars.next(), chars.next()) {
                        (Some('\\'), Some('u')) => {}
                        _ => return Err("lone surrogate".into()),
                    }
                    let lo = hex4(&mut chars)?;
                    0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                } else {
                    hi
                };
                char::from_u32(code).ok_or("invalid code point")?
            }
            other => return Err(format!("bad escape {other:?}")),
        };
        out.push(decoded);
    }
    Ok(out)
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Result<u32, String> {
    let mut v = 0u32;
    for _ in 0..4 {
        let d = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or("bad \\u escape")?;
        v = (v << 4) | d;
    }
    Ok(v)
}
