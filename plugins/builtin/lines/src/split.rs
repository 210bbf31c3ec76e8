//! The line splitter: a streaming state machine fed arbitrary chunks.
//!
//! Lines end at `\n`; a `\r` right before it (or at end of file) is part of
//! the terminator. A lone `\r` is ordinary text (old Mac line endings are
//! not supported). A UTF-8 byte-order mark at the start of the file is
//! skipped. Empty lines produce no record but are counted, so `line` is the
//! physical line number.
//!
//! Chunk boundaries never matter: lines (and the multi-byte characters in
//! them) are only decoded once complete, so any chunking of the same bytes
//! gives the same records and the same error.

use ferry_plugin_sdk::{Field, FieldValue, Location, ParsedRecord, PluginError};

/// Longest line accepted: 1 MiB of UTF-8 (terminator excluded). The
/// splitter buffers one line, so this bounds its memory per session; real
/// text files have lines of at most a few KiB, and a longer "line" usually
/// means a binary file given to the wrong parser. The configuration may
/// lower it (`max_line_bytes`), never raise it.
pub const MAX_LINE_BYTES: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits a byte stream into line records.
///
/// After an error or `finish` it is not called again: the SDK's session
/// guard (`ferry_plugin_sdk::call::Session`) answers for it.
#[derive(Debug)]
pub struct LineSplitter {
    max_line_bytes: usize,
    /// Bytes of the current, incomplete line (a trailing `\r` may still be
    /// part of its terminator).
    pending: Vec<u8>,
    /// 1-based number of the line in `pending`.
    line: u64,
    /// Byte offset in the file of `pending[0]`.
    line_start: u64,
}

impl LineSplitter {
    /// A splitter rejecting lines longer than `max_line_bytes`
    /// (clamped to [`MAX_LINE_BYTES`]).
    pub fn new(max_line_bytes: usize) -> Self {
        LineSplitter {
            max_line_bytes: max_line_bytes.min(MAX_LINE_BYTES),
            pending: Vec::new(),
            line: 1,
            line_start: 0,
        }
    }

    /// Take the next chunk; return the lines it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let mut records = Vec::new();
        self.feed_inner(chunk, &mut records)?;
        Ok(records)
    }

    /// End of input: the last line if it had no terminator.
    pub fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let mut records = Vec::new();
        if !self.pending.is_empty() {
            self.complete_line(&mut records)?;
        }
        Ok(records)
    }

    fn feed_inner(
        &mut self,
        chunk: &[u8],
        records: &mut Vec<ParsedRecord>,
    ) -> Result<(), PluginError> {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(pos);
            self.pending.extend_from_slice(line);
            self.check_length()?;
            self.complete_line(records)?;
            // Skip the `\n`.
            rest = after.get(1..).unwrap_or_default();
            self.line_start = self
                .line_start
                .saturating_add(self.pending.len() as u64)
                .saturating_add(1);
            self.line = self.line.saturating_add(1);
            self.pending.clear();
        }
        self.pending.extend_from_slice(rest);
        self.check_length()
    }

    /// Fail as soon as the pending line is certainly too long, so the buffer
    /// stays bounded. One extra byte is allowed for a `\r` that may turn out
    /// to be part of the terminator; `complete_line` checks exactly.
    fn check_length(&self) -> Result<(), PluginError> {
        if self.pending.len() > self.max_line_bytes.saturating_add(1) {
            return Err(self.too_long());
        }
        Ok(())
    }

    fn too_long(&self) -> PluginError {
        PluginError::malformed(
            format!(
                "line {} is longer than {} bytes",
                self.line, self.max_line_bytes
            ),
            Location {
                line: Some(saturating_u32(self.line)),
                line_column: Some(1),
                byte_offset: Some(self.line_start),
                ..Location::default()
            },
        )
    }

    /// Decode `pending` as one complete line and emit it unless empty.
    fn complete_line(&self, records: &mut Vec<ParsedRecord>) -> Result<(), PluginError> {
        let mut content: &[u8] = &self.pending;
        if let [head @ .., b'\r'] = content {
            content = head;
        }
        if content.len() > self.max_line_bytes {
            return Err(self.too_long());
        }
        let mut start = self.line_start;
        if self.line == 1
            && let Some(after_bom) = content.strip_prefix(BOM)
        {
            content = after_bom;
            start = start.saturating_add(BOM.len() as u64);
        }
        let text = std::str::from_utf8(content).map_err(|e| {
            let valid = e.valid_up_to();
            let chars_before = content
                .get(..valid)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map_or(0, |v| v.chars().count());
            PluginError::malformed(
                format!("invalid UTF-8 on line {}", self.line),
                Location {
                    line: Some(saturating_u32(self.line)),
                    line_column: Some(saturating_u32(chars_before as u64 + 1)),
                    byte_offset: Some(start.saturating_add(valid as u64)),
                    ..Location::default()
                },
            )
        })?;
        if !text.is_empty() {
            records.push(ParsedRecord::new(vec![
                Field::new(
                    "line",
                    FieldValue::Integer(i64::try_from(self.line).unwrap_or(i64::MAX)),
                ),
                Field::new("text", FieldValue::Text(text.to_string())),
            ]));
        }
        Ok(())
    }
}

fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
