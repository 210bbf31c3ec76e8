//! The streaming JSON scanner: a byte-at-a-time state machine that validates
//! RFC 8259 strictly and cuts the stream into *record units*.
//!
//! No recursion: nesting lives on an explicit stack bounded by the depth
//! limit. Only the current unit's bytes are buffered, bounded by the record
//! limit. Every byte is looked at exactly once in order, so any chunking of
//! the same bytes gives the same records and the same error.
//!
//! Units: in document mode a top-level object or scalar is a unit; a
//! top-level array whose first element is an object is a *record array* and
//! each of its elements is a unit; any other top-level array (empty arrays
//! aside, which give nothing) is one unit. In lines mode every top-level
//! value is a unit. A later top-level value must start on a new line.

use ferry_plugin_sdk::{Location, ParsedRecord, PluginError};

use crate::config::Settings;
use crate::record::build_record;

/// Deepest nesting of arrays and objects: 100. Real exports nest a handful
/// of levels; the limit stops hostile input (100,000 `[`) early with a
/// position, and stays below the 128 levels the host's JSON reader
/// (serde_json, recursive) accepts for a json field, so a deep document is
/// reported here, with its position, instead of being refused by the host
/// as invalid plugin output. The configuration may lower it (`max_depth`),
/// never raise it.
pub const MAX_DEPTH: usize = 100;

/// Largest single record: 64 MiB of JSON text. The scanner buffers one
/// record at a time, so this bounds a session's memory (the record is built
/// once more as fields); the host refuses files over 50 MB by default, so
/// only a raised file limit can reach it. Configurable lower
/// (`max_record_bytes`), never higher.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A position in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    offset: u64,
    line: u64,
    column: u64,
}

impl Pos {
    fn location(self) -> Location {
        Location {
            line: Some(saturating_u32(self.line)),
            line_column: Some(saturating_u32(self.column)),
            byte_offset: Some(self.offset),
            ..Location::default()
        }
    }
}

fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Array,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    E,
    ESign,
    Exp,
}

impl Num {
    fn is_final(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::Exp)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Str {
    /// Ordinary characters.
    Plain,
    /// After `\`.
    Escape,
    /// In `\uXXXX` after `digits` hex digits; `low` when this is the second
    /// half of a surrogate pair.
    Unicode { digits: u8, value: u16, low: bool },
    /// After a high surrogate: expecting `\`.
    LowBackslash,
    /// After a high surrogate and `\`: expecting `u`.
    LowU,
    /// Inside a multi-byte UTF-8 sequence: `left` continuation bytes to go,
    /// the next one within `lo..=hi`.
    Utf8 { left: u8, lo: u8, hi: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first top-level value (a UTF-8 BOM may come first).
    Start,
    /// After a top-level value; `newline` once a line break was seen.
    AfterTop { newline: bool },
    /// A value is required (after `:` or `,` in an array).
    Value,
    /// After `[`: a value or `]`.
    ArrayFirst,
    /// After `{`: a key or `}`.
    ObjectFirst,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value inside a container: `,` or the closing bracket.
    AfterValue,
    /// In a string (`key` when it is an object key).
    InString { key: bool, sub: Str },
    /// In a number.
    InNumber(Num),
    /// In `true`, `false` or `null`, `done` bytes matched.
    InLiteral { word: &'static [u8], done: u8 },
}

/// What the current top-level array turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopArray {
    /// Not in a top-level array, or it is a single unit.
    No,
    /// Seen `[` in document mode; the first element decides.
    Undecided,
    /// Each element is a unit.
    Records,
}

/// Streaming JSON scanner for one file.
///
/// After an error or `finish` it is not called again: the SDK's session
/// guard (`ferry_plugin_sdk::call::Session`) answers for it.
#[derive(Debug)]
pub struct Scanner {
    settings: Settings,
    state: State,
    stack: Vec<Container>,
    top_array: TopArray,
    /// Depth at which the current unit started, when capturing.
    unit_depth: Option<usize>,
    /// Where the current unit started.
    unit_start: Pos,
    /// The current unit's bytes.
    buf: Vec<u8>,
    /// Position of the next byte.
    pos: Pos,
    /// Start of the current string escape or UTF-8 sequence (error positions).
    mark: Pos,
    /// Bytes of a possible BOM held at the start of the file.
    bom_seen: usize,
}

impl Scanner {
    /// A scanner with `settings`.
    pub fn new(settings: Settings) -> Self {
        let start = Pos {
            offset: 0,
            line: 1,
            column: 1,
        };
        Scanner {
            settings,
            state: State::Start,
            stack: Vec::new(),
            top_array: TopArray::No,
            unit_depth: None,
            unit_start: start,
            buf: Vec::new(),
            pos: start,
            mark: start,
            bom_seen: 0,
        }
    }

    /// Take the next chunk; return the records it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let mut out = Vec::new();
        for &b in chunk {
            self.step(b, &mut out)?;
        }
        Ok(out)
    }

    /// End of input: the last record, or why the file is incomplete.
    pub fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let mut out = Vec::new();
        self.end(&mut out)?;
        Ok(out)
    }

    fn error_at(&self, pos: Pos, message: impl Into<String>) -> PluginError {
        PluginError::malformed(message, pos.location())
    }

    fn unexpected(&self, b: u8, expected: &str) -> PluginError {
        let found = if b.is_ascii_graphic() {
            format!("'{}'", b as char)
        } else {
            format!("byte 0x{b:02X}")
        };
        self.error_at(self.pos, format!("expected {expected}, found {found}"))
    }

    /// Consume byte `b` (it belongs to the current unit when capturing) and
    /// advance the position.
    fn take(&mut self, b: u8) -> Result<(), PluginError> {
        if self.unit_depth.is_some() {
            if self.buf.len() >= self.settings.max_record_bytes {
                return Err(self.error_at(
                    self.pos,
                    format!(
                        "the record starting at line {}, byte {} is larger than {} bytes",
                        self.unit_start.line,
                        self.unit_start.offset,
                        self.settings.max_record_bytes
                    ),
                ));
            }
            self.buf.push(b);
        }
        self.advance(b);
        Ok(())
    }

    fn advance(&mut self, b: u8) {
        self.pos.offset = self.pos.offset.saturating_add(1);
        if b == b'\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.column = 1;
        } else if b & 0xC0 != 0x80 {
            // Columns count characters: continuation bytes add none.
            self.pos.column = self.pos.column.saturating_add(1);
        }
    }

    fn step(&mut self, b: u8, out: &mut Vec<ParsedRecord>) -> Result<(), PluginError> {
        match self.state {
            State::InString { key, sub } => self.string_byte(b, key, sub, out),
            State::InNumber(n) => {
                let next = match (n, b) {
                    (Num::Minus, b'0') => Some(Num::Zero),
                    (Num::Minus, b'1'..=b'9') => Some(Num::Int),
                    (Num::Int, b'0'..=b'9') => Some(Num::Int),
                    (Num::Zero | Num::Int, b'.') => Some(Num::Dot),
                    (Num::Dot | Num::Frac, b'0'..=b'9') => Some(Num::Frac),
                    (Num::Zero | Num::Int | Num::Frac, b'e' | b'E') => Some(Num::E),
                    (Num::E, b'+' | b'-') => Some(Num::ESign),
                    (Num::E | Num::ESign | Num::Exp, b'0'..=b'9') => Some(Num::Exp),
                    _ => None,
                };
                match next {
                    Some(n) => {
                        self.state = State::InNumber(n);
                        self.take(b)
                    }
                    None if n.is_final() => {
                        if n == Num::Zero && b.is_ascii_digit() {
                            return Err(
                                self.error_at(self.pos, "a number must not have a leading zero")
                            );
                        }
                        self.value_done(out)?;
                        self.step(b, out)
                    }
                    None => Err(self.unexpected(b, "a digit")),
                }
            }
            State::InLiteral { word, done } => {
                let i = usize::from(done);
                if word.get(i) != Some(&b) {
                    let w = String::from_utf8_lossy(word);
                    return Err(self.unexpected(b, &format!("the rest of `{w}`")));
                }
                self.take(b)?;
                if i + 1 == word.len() {
                    self.value_done(out)
                } else {
                    self.state = State::InLiteral {
                        word,
                        done: done.saturating_add(1),
                    };
                    Ok(())
                }
            }
            State::Start => {
                if self.pos.offset == self.bom_seen as u64 && BOM.get(self.bom_seen) == Some(&b) {
                    // A UTF-8 byte-order mark: skipped.
                    self.bom_seen += 1;
                    self.advance(b);
                    if self.bom_seen == BOM.len() {
                        // The BOM takes no column.
                        self.pos.column = 1;
                    }
                    return Ok(());
                }
                if self.bom_seen > 0 && self.bom_seen < BOM.len() {
                    return Err(self.error_at(
                        Pos {
                            offset: 0,
                            line: 1,
                            column: 1,
                        },
                        "invalid UTF-8: incomplete byte-order mark",
                    ));
                }
                if self.pos.offset == 0 && (b == 0xFF || b == 0xFE) {
                    return Err(self.error_at(
                        self.pos,
                        "JSON must be UTF-8 (RFC 8259); this looks like UTF-16 (byte-order mark)",
                    ));
                }
                if is_ws(b) {
                    return self.take(b);
                }
                self.begin_top(b, out)
            }
            State::AfterTop { newline } => {
                if is_ws(b) {
                    if b == b'\n' || b == b'\r' {
                        self.state = State::AfterTop { newline: true };
                    }
                    return self.take(b);
                }
                if !newline {
                    return Err(self.unexpected(
                        b,
                        "the end of the file or a new line after the top-level value (JSON Lines put one value per line)",
                    ));
                }
                self.begin_top(b, out)
            }
            State::Value | State::ArrayFirst => {
                if is_ws(b) {
                    return self.take(b);
                }
                if b == b']' && self.state == State::ArrayFirst {
                    return self.close(b, Container::Array, out);
                }
                if self.stack.len() == 1 && self.top_array == TopArray::Undecided {
                    if b == b'{' {
                        // A record array: drop the `[` and start a unit per element.
                        self.top_array = TopArray::Records;
                        self.buf.clear();
                        self.unit_depth = None;
                    } else {
                        self.top_array = TopArray::No;
                    }
                }
                self.begin_value(b, out)
            }
            State::ObjectFirst | State::Key => {
                if is_ws(b) {
                    return self.take(b);
                }
                match b {
                    b'"' => {
                        self.state = State::InString {
                            key: true,
                            sub: Str::Plain,
                        };
                        self.take(b)
                    }
                    b'}' if self.state == State::ObjectFirst => {
                        self.close(b, Container::Object, out)
                    }
                    _ => Err(self.unexpected(
                        b,
                        if self.state == State::Key {
                            "a string key"
                        } else {
                            "a string key or '}'"
                        },
                    )),
                }
            }
            State::Colon => {
                if is_ws(b) {
                    return self.take(b);
                }
                if b != b':' {
                    return Err(self.unexpected(b, "':'"));
                }
                self.state = State::Value;
                self.take(b)
            }
            State::AfterValue => {
                if is_ws(b) {
                    return self.take(b);
                }
                let top = self.stack.last().copied();
                match (b, top) {
                    (b',', Some(Container::Array)) => {
                        self.state = State::Value;
                        self.take(b)
                    }
                    (b',', Some(Container::Object)) => {
                        self.state = State::Key;
                        self.take(b)
                    }
                    (b']', Some(Container::Array)) => self.close(b, Container::Array, out),
                    (b'}', Some(Container::Object)) => self.close(b, Container::Object, out),
                    (_, Some(Container::Array)) => Err(self.unexpected(b, "',' or ']'")),
                    (_, _) => Err(self.unexpected(b, "',' or '}'")),
                }
            }
        }
    }

    /// The first byte of a top-level value.
    fn begin_top(&mut self, b: u8, out: &mut Vec<ParsedRecord>) -> Result<(), PluginError> {
        self.top_array = if b == b'[' && !self.settings.lines {
            TopArray::Undecided
        } else {
            TopArray::No
        };
        self.begin_value(b, out)
    }

    /// The first byte of a value (whitespace already skipped).
    fn begin_value(&mut self, b: u8, out: &mut Vec<ParsedRecord>) -> Result<(), PluginError> {
        let depth = self.stack.len();
        let unit_here = match self.top_array {
            TopArray::Records => depth == 1,
            _ => depth == 0,
        };
        if unit_here && self.unit_depth.is_none() {
            self.unit_depth = Some(depth);
            self.unit_start = self.pos;
            self.buf.clear();
        }
        match b {
            b'{' | b'[' => {
                if depth >= self.settings.max_depth {
                    return Err(self.error_at(
                        self.pos,
                        format!(
                            "arrays and objects nest deeper than {} levels",
                            self.settings.max_depth
                        ),
                    ));
                }
                let (container, state) = if b == b'{' {
                    (Container::Object, State::ObjectFirst)
                } else {
                    (Container::Array, State::ArrayFirst)
                };
                self.stack.push(container);
                self.state = state;
                self.take(b)
            }
            b'"' => {
                self.state = State::InString {
                    key: false,
                    sub: Str::Plain,
                };
                self.take(b)
            }
            b'-' => {
                self.state = State::InNumber(Num::Minus);
                self.take(b)
            }
            b'0' => {
                self.state = State::InNumber(Num::Zero);
                self.take(b)
            }
            b'1'..=b'9' => {
                self.state = State::InNumber(Num::Int);
                self.take(b)
            }
            b't' | b'f' | b'n' => {
                let word: &'static [u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                self.state = State::InLiteral { word, done: 1 };
                self.take(b)
            }
            _ => {
                let _ = out;
                Err(self.unexpected(b, "a JSON value"))
            }
        }
    }

    /// A closing bracket of `container`.
    fn close(
        &mut self,
        b: u8,
        container: Container,
        out: &mut Vec<ParsedRecord>,
    ) -> Result<(), PluginError> {
        if self.stack.pop() != Some(container) {
            return Err(self.unexpected(b, "a matching bracket"));
        }
        self.take(b)?;
        if self.stack.is_empty() && self.top_array == TopArray::Undecided {
            // `[]` at the top: an empty list of records.
            self.top_array = TopArray::No;
            self.unit_depth = None;
            self.buf.clear();
        }
        self.value_done(out)
    }

    /// A value just ended (its last byte taken, or for a number the byte
    /// after it not yet taken).
    fn value_done(&mut self, out: &mut Vec<ParsedRecord>) -> Result<(), PluginError> {
        let depth = self.stack.len();
        if self.unit_depth == Some(depth) {
            self.unit_depth = None;
            let record = build_record(&self.buf).map_err(|e| {
                PluginError::internal(format!(
                    "the record at line {}, byte {}: {e}",
                    self.unit_start.line, self.unit_start.offset
                ))
            })?;
            out.push(record);
            self.buf.clear();
        }
        self.state = if depth == 0 {
            self.top_array = TopArray::No;
            State::AfterTop { newline: false }
        } else {
            State::AfterValue
        };
        Ok(())
    }

    fn string_byte(
        &mut self,
        b: u8,
        key: bool,
        sub: Str,
        out: &mut Vec<ParsedRecord>,
    ) -> Result<(), PluginError> {
        let next = match sub {
            Str::Plain => match b {
                b'"' => {
                    self.take(b)?;
                    if key {
                        self.state = State::Colon;
                        return Ok(());
                    }
                    return self.value_done(out);
                }
                b'\\' => {
                    self.mark = self.pos;
                    Str::Escape
                }
                0x00..=0x1F => {
                    return Err(self.error_at(
                        self.pos,
                        format!("control character 0x{b:02X} must be escaped in a string"),
                    ));
                }
                0x20..=0x7F => Str::Plain,
                _ => {
                    self.mark = self.pos;
                    let (left, lo, hi) = match b {
                        0xC2..=0xDF => (1, 0x80, 0xBF),
                        0xE0 => (2, 0xA0, 0xBF),
                        0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                        0xED => (2, 0x80, 0x9F),
                        0xF0 => (3, 0x90, 0xBF),
                        0xF1..=0xF3 => (3, 0x80, 0xBF),
                        0xF4 => (3, 0x80, 0x8F),
                        _ => return Err(self.invalid_utf8()),
                    };
                    Str::Utf8 { left, lo, hi }
                }
            },
            Str::Utf8 { left, lo, hi } => {
                if !(lo..=hi).contains(&b) {
                    return Err(self.invalid_utf8());
                }
                if left <= 1 {
                    Str::Plain
                } else {
                    Str::Utf8 {
                        left: left - 1,
                        lo: 0x80,
                        hi: 0xBF,
                    }
                }
            }
            Str::Escape => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Str::Plain,
                b'u' => Str::Unicode {
                    digits: 0,
                    value: 0,
                    low: false,
                },
                _ => return Err(self.error_at(self.mark, "invalid escape in a string")),
            },
            Str::Unicode { digits, value, low } => {
                let Some(d) = (b as char).to_digit(16) else {
                    return Err(self.error_at(self.mark, "\\u must be followed by 4 hex digits"));
                };
                // `d` < 16 and `value` has at most 3 digits here: no overflow.
                let value = (value << 4) | d as u16;
                if digits < 3 {
                    Str::Unicode {
                        digits: digits + 1,
                        value,
                        low,
                    }
                } else if low {
                    if !(0xDC00..=0xDFFF).contains(&value) {
                        return Err(self.lone_surrogate());
                    }
                    Str::Plain
                } else if (0xD800..=0xDBFF).contains(&value) {
                    Str::LowBackslash
                } else if (0xDC00..=0xDFFF).contains(&value) {
                    return Err(self.lone_surrogate());
                } else {
                    Str::Plain
                }
            }
            Str::LowBackslash => {
                if b != b'\\' {
                    return Err(self.lone_surrogate());
                }
                Str::LowU
            }
            Str::LowU => {
                if b != b'u' {
                    return Err(self.lone_surrogate());
                }
                Str::Unicode {
                    digits: 0,
                    value: 0,
                    low: true,
                }
            }
        };
        self.state = State::InString { key, sub: next };
        self.take(b)
    }

    fn invalid_utf8(&self) -> PluginError {
        self.error_at(self.mark, "invalid UTF-8 in a string")
    }

    fn lone_surrogate(&self) -> PluginError {
        self.error_at(
            self.mark,
            "a \\u escape names half of a UTF-16 surrogate pair without the other half",
        )
    }

    fn end(&mut self, out: &mut Vec<ParsedRecord>) -> Result<(), PluginError> {
        if let State::InNumber(n) = self.state {
            if !n.is_final() {
                return Err(self.error_at(self.pos, "unexpected end of input in a number"));
            }
            self.value_done(out)?;
        }
        match self.state {
            State::AfterTop { .. } => Ok(()),
            State::Start if self.bom_seen > 0 && self.bom_seen < BOM.len() => Err(self.error_at(
                Pos {
                    offset: 0,
                    line: 1,
                    column: 1,
                },
                "invalid UTF-8: incomplete byte-order mark",
            )),
            State::Start => Err(self.error_at(
                self.pos,
                "no JSON value: the file is empty or only whitespace",
            )),
            State::InString { .. } => {
                Err(self.error_at(self.pos, "unexpected end of input in a string"))
            }
            _ => Err(self.error_at(
                self.pos,
                format!(
                    "unexpected end of input inside {} unclosed array(s)/object(s)",
                    self.stack.len()
                ),
            )),
        }
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}
