//! The whole file as one record: buffering (bounded), encoding detection,
//! line-ending normalisation.
//!
//! Detection, in order: a UTF-8 BOM → `utf-8-bom`; a UTF-16 LE or BE BOM →
//! `utf-16le` / `utf-16be`; valid UTF-8 → `utf-8`; anything else →
//! `latin-1` (ISO-8859-1: every byte is the code point of the same value),
//! so decoding never fails. UTF-16 without a BOM is not guessed (it is
//! valid UTF-8 full of NULs, and read as such). Broken UTF-16 (an odd
//! trailing byte, an unpaired surrogate) decodes with U+FFFD in its place.
//!
//! Line endings: `\r\n` and lone `\r` become `\n`. Nothing else is changed:
//! no trimming, a final newline is kept as it was.

use ferry_plugin_sdk::{Field, FieldValue, FileInfo, Location, ParsedRecord, PluginError};

/// Largest file: 64 MiB. The whole file is one record, so the session
/// buffers all of it (then decodes it once more into the record's text);
/// this bounds that memory. The host refuses files over 50 MB by default,
/// so only a raised file limit reaches it. Configurable lower
/// (`max_record_bytes`), never higher.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// A detected encoding, as the `encoding` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Valid UTF-8 without a BOM.
    Utf8,
    /// A UTF-8 BOM (stripped; invalid bytes after it become U+FFFD).
    Utf8Bom,
    /// A UTF-16 little-endian BOM.
    Utf16Le,
    /// A UTF-16 big-endian BOM.
    Utf16Be,
    /// The fallback: ISO-8859-1, every byte one character.
    Latin1,
}

impl Encoding {
    /// The name in the `encoding` field.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Latin1 => "latin-1",
        }
    }
}

/// Accumulates one file.
///
/// After an error or `finish` it is not called again: the SDK's session
/// guard (`ferry_plugin_sdk::call::Session`) answers for it.
#[derive(Debug)]
pub struct TextFile {
    title: Option<String>,
    max_bytes: usize,
    bytes: Vec<u8>,
}

impl TextFile {
    /// A file called `file.name`, refused when larger than `max_bytes`.
    pub fn new(file: &FileInfo, max_bytes: usize) -> Self {
        TextFile {
            title: title_of(&file.name),
            max_bytes: max_bytes.min(MAX_RECORD_BYTES),
            bytes: Vec::new(),
        }
    }

    /// Take the next chunk; no record completes before the end of the file.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let room = self.max_bytes.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            return Err(PluginError::malformed(
                format!(
                    "the file is larger than {} bytes, the most one text record may hold",
                    self.max_bytes
                ),
                Location {
                    byte_offset: Some(self.max_bytes as u64),
                    ..Location::default()
                },
            ));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(Vec::new())
    }

    /// End of file: the one record.
    pub fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let bytes = std::mem::take(&mut self.bytes);
        let (encoding, text) = decode(&bytes);
        drop(bytes);
        let mut fields = Vec::with_capacity(5);
        if let Some(title) = &self.title {
            fields.push(Field::new("title", FieldValue::Text(title.clone())));
        }
        fields.push(Field::new(
            "content",
            FieldValue::Text(normalise_line_endings(&text)),
        ));
        fields.push(Field::new(
            "content_type",
            FieldValue::Text("text/plain".into()),
        ));
        fields.push(Field::new(
            "encoding",
            FieldValue::Text(encoding.name().into()),
        ));
        fields.push(Field::new(
            "line_endings",
            FieldValue::Text(line_endings(&text).into()),
        ));
        Ok(vec![ParsedRecord::new(fields)])
    }
}

/// The title: the last path component without its extension
/// (`notes/todo.txt` → `todo`, `a.b.txt` → `a.b`, `.profile` → `.profile`);
/// none for an empty name.
pub fn title_of(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = match base.rfind('.') {
        Some(0) | None => base,
        Some(i) => base.get(..i).unwrap_or(base),
    };
    (!stem.is_empty()).then(|| stem.to_string())
}

/// Detect the encoding and decode (never fails).
pub fn decode(bytes: &[u8]) -> (Encoding, String) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (
            Encoding::Utf8Bom,
            String::from_utf8_lossy(rest).into_owned(),
        );
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (Encoding::Utf16Le, utf16(rest, u16::from_le_bytes));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (Encoding::Utf16Be, utf16(rest, u16::from_be_bytes));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Encoding::Utf8, s.to_string()),
        Err(_) => (
            Encoding::Latin1,
            bytes.iter().map(|&b| char::from(b)).collect(),
        ),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let pairs = bytes.chunks_exact(2);
    let odd = !pairs.remainder().is_empty();
    let units = pairs.map(|p| {
        unit([
            p.first().copied().unwrap_or(0),
            p.get(1).copied().unwrap_or(0),
        ])
    });
    let mut text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if odd {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    text
}

/// `\r\n` and lone `\r` → `\n`.
pub fn normalise_line_endings(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            out.push('\n');
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Which line endings the original text used: `lf`, `crlf`, `cr`, `mixed`,
/// or `none` (a single line).
pub fn line_endings(text: &str) -> &'static str {
    let bytes = text.as_bytes();
    let (mut lf, mut crlf, mut cr) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                crlf += 1;
                i += 1;
            }
            b'\r' => cr += 1,
            b'\n' => lf += 1,
            _ => {}
        }
        i += 1;
    }
    match (lf > 0, crlf > 0, cr > 0) {
        (false, false, false) => "none",
        (true, false, false) => "lf",
        (false, true, false) => "crlf",
        (false, false, true) => "cr",
        _ => "mixed",
    }
}
