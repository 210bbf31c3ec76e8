//! The streaming CSV reader: buffers the first [`SNIFF_BYTES`] to sniff the
//! dialect, then runs `csv-core`'s tokenizer over every chunk as it comes.
//! `csv-core` keeps its state between calls, so a chunk may end anywhere —
//! inside a quoted field, between `\r` and `\n`, inside a UTF-8 character.

use std::collections::{HashMap, HashSet};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use ferry_plugin_sdk::{Field, FieldValue, Location, ParsedRecord, PluginError};

use crate::config::{Encoding, Overrides, Ragged};
use crate::sniff::{Dialect, SNIFF_BYTES, sniff};

/// Largest record (all its field bytes, quotes removed): 64 MiB. A record is
/// held whole in memory before it is returned; a bigger one is almost surely
/// an unbalanced quote swallowing the rest of the file. Raise it (and the
/// host's memory limit for parsers) for files with huge cells.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Most fields in one record: 65,536. Bounds the field-end buffer (8 bytes a
/// field) and the width of the output records; real tables are far narrower.
pub const MAX_FIELDS: usize = 1 << 16;

/// The UTF-8 byte order mark, skipped at the start of the file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A `csv-core` reader for `dialect`.
pub(crate) fn core_reader(dialect: &Dialect) -> Reader {
    ReaderBuilder::new()
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .escape(dialect.escape)
        .double_quote(true)
        .comment(dialect.comment)
        .build()
}

/// One CSV file being parsed.
///
/// After an error or `finish` it is not called again: the SDK's session
/// guard (`ferry_plugin_sdk::call::Session`) answers for it.
pub struct CsvReader {
    over: Overrides,
    /// How many bytes the sniffer sees: [`SNIFF_BYTES`] (less only in tests
    /// and fuzzing, see [`CsvReader::with_sniff_bytes`]).
    sniff_bytes: usize,
    state: State,
    /// The dialect, once sniffed.
    dialect: Option<Dialect>,
}

enum State {
    /// Collecting the first bytes for the sniffer.
    Sniffing(Vec<u8>),
    /// Tokenising.
    Rows(Box<Rows>),
}

impl CsvReader {
    /// A reader with the configured overrides (everything else is sniffed).
    pub fn new(over: Overrides) -> Self {
        Self::with_sniff_bytes(over, SNIFF_BYTES)
    }

    /// A reader that sniffs on the first `sniff_bytes` (at most
    /// [`SNIFF_BYTES`]) instead: the same code, but a file of a few bytes
    /// already streams through the tokenizer in chunks after the sniff, so
    /// tests and the fuzzer reach chunk boundaries without 64 KiB inputs.
    pub fn with_sniff_bytes(over: Overrides, sniff_bytes: usize) -> Self {
        CsvReader {
            over,
            sniff_bytes: sniff_bytes.min(SNIFF_BYTES),
            state: State::Sniffing(Vec::new()),
            dialect: None,
        }
    }

    /// The dialect in use, once sniffed.
    pub fn dialect(&self) -> Option<Dialect> {
        self.dialect
    }

    /// Take the next chunk; return the records it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let mut out = Vec::new();
        match &mut self.state {
            State::Sniffing(buf) => {
                buf.extend_from_slice(chunk);
                if buf.len() >= self.sniff_bytes + BOM.len() {
                    let buf = std::mem::take(buf);
                    self.start(&buf, false, &mut out)?;
                }
            }
            State::Rows(rows) => rows.process(chunk, false, &mut out)?,
        }
        Ok(out)
    }

    /// End of file: the last records.
    pub fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let mut out = Vec::new();
        if let State::Sniffing(buf) = &mut self.state {
            let buf = std::mem::take(buf);
            self.start(&buf, true, &mut out)?;
        }
        if let State::Rows(rows) = &mut self.state {
            rows.process(&[], true, &mut out)?;
        }
        Ok(out)
    }

    /// Sniff on `buf` (the first bytes), then tokenise all of it.
    fn start(
        &mut self,
        buf: &[u8],
        at_eof: bool,
        out: &mut Vec<ParsedRecord>,
    ) -> Result<(), PluginError> {
        let (skip, body) = match buf.strip_prefix(BOM) {
            Some(rest) => (BOM.len(), rest),
            None => (0, buf),
        };
        let sample = body.get(..self.sniff_bytes).unwrap_or(body);
        let dialect = sniff(sample, at_eof && body.len() <= self.sniff_bytes, &self.over);
        self.dialect = Some(dialect);
        let mut rows = Box::new(Rows::new(dialect, self.over.ragged, self.over.encoding));
        rows.offset = skip as u64;
        let r = rows.process(body, false, out);
        self.state = State::Rows(rows);
        r
    }
}

/// The tokenizer and the record being assembled.
struct Rows {
    dialect: Dialect,
    ragged: Ragged,
    /// The configured encoding (`Auto` allows per-record fallback).
    configured: Encoding,
    reader: Reader,
    /// Field bytes of the record in progress (`out[..out_len]`).
    out: Vec<u8>,
    out_len: usize,
    /// Field end offsets in `out` of the record in progress.
    ends: Vec<usize>,
    ends_len: usize,
    /// Bytes of the file consumed so far.
    offset: u64,
    /// Line breaks (`\n`) consumed so far, and whether the last byte was one.
    newlines: u64,
    last_was_newline: bool,
    /// Column names, once the header row (or the first row) is read.
    names: Option<Vec<String>>,
    /// Records read so far, header included.
    records: u64,
    /// The first bytes, held until there are three of them (a BOM) or
    /// the file ends; `None` once csv-core has read them.
    head: Option<Vec<u8>>,
}

impl Rows {
    fn new(dialect: Dialect, ragged: Ragged, configured: Encoding) -> Self {
        Rows {
            dialect,
            ragged,
            configured,
            reader: core_reader(&dialect),
            out: vec![0; 4096],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            offset: 0,
            newlines: 0,
            last_was_newline: false,
            names: None,
            records: 0,
            head: Some(Vec::new()),
        }
    }

    /// The 1-based line of the last byte consumed (where a record ends).
    fn line(&self) -> u32 {
        let n = self.newlines + 1 - u64::from(self.last_was_newline && self.newlines > 0);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn location(&self) -> Location {
        Location {
            line: Some(self.line()),
            byte_offset: Some(self.offset),
            ..Location::default()
        }
    }

    /// Run the tokenizer over `input`, or over the end of the file (`eof`).
    fn process(
        &mut self,
        input: &[u8],
        eof: bool,
        out: &mut Vec<ParsedRecord>,
    ) -> Result<(), PluginError> {
        // csv-core skips a UTF-8 BOM (a second one: the file's own is
        // already stripped) only if its first read sees all three bytes:
        // it gets at least that many, so the chunking does not decide.
        if let Some(head) = &mut self.head {
            head.extend_from_slice(input);
            if head.len() < BOM.len() && !eof {
                return Ok(());
            }
            let head = self.head.take().unwrap_or_default();
            return self.tokenize(&head, eof, out);
        }
        self.tokenize(input, eof, out)
    }

    fn tokenize(
        &mut self,
        input: &[u8],
        eof: bool,
        out: &mut Vec<ParsedRecord>,
    ) -> Result<(), PluginError> {
        // `csv-core` reads an empty input as the end of the file.
        if input.is_empty() && !eof {
            return Ok(());
        }
        let mut input = input;
        loop {
            let (res, nin, nout, nend) = self.reader.read_record(
                input,
                self.out.get_mut(self.out_len..).unwrap_or_default(),
                self.ends.get_mut(self.ends_len..).unwrap_or_default(),
            );
            if let Some(used) = input.get(..nin) {
                self.newlines += used.iter().filter(|&&b| b == b'\n').count() as u64;
                if let Some(&last) = used.last() {
                    self.last_was_newline = last == b'\n';
                }
            }
            input = input.get(nin..).unwrap_or_default();
            self.offset += nin as u64;
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => {
                    if input.is_empty() {
                        return Ok(());
                    }
                }
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD_BYTES {
                        return Err(PluginError::malformed(
                            format!(
                                "a record is larger than {MAX_RECORD_BYTES} bytes \
                                 (an unbalanced quote?)"
                            ),
                            self.location(),
                        ));
                    }
                    let len = self.out.len().saturating_mul(2).min(MAX_RECORD_BYTES);
                    self.out.resize(len, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        return Err(PluginError::malformed(
                            format!("a record has more than {MAX_FIELDS} fields"),
                            self.location(),
                        ));
                    }
                    let len = self.ends.len().saturating_mul(2).min(MAX_FIELDS);
                    self.ends.resize(len, 0);
                }
                ReadRecordResult::Record => {
                    let record = self.take_record()?;
                    if let Some(r) = record {
                        out.push(r);
                    }
                }
                ReadRecordResult::End => return Ok(()),
            }
        }
    }

    /// The fields of the record just completed, decoded; clears the buffers.
    fn take_record(&mut self) -> Result<Option<ParsedRecord>, PluginError> {
        let data = self.out.get(..self.out_len).unwrap_or_default();
        let ends = self.ends.get(..self.ends_len).unwrap_or_default();
        let raw: Vec<&[u8]> = {
            let mut start = 0;
            ends.iter()
                .map(|&end| {
                    let f = data.get(start..end).unwrap_or_default();
                    start = end;
                    f
                })
                .collect()
        };
        let latin1 = match (self.dialect.encoding, self.configured) {
            (Encoding::Latin1, _) => true,
            (_, Encoding::Utf8) => false,
            // Auto, file sniffed as UTF-8: this record alone falls back.
            _ => raw.iter().any(|f| std::str::from_utf8(f).is_err()),
        };
        let mut values = Vec::with_capacity(raw.len());
        for (i, f) in raw.iter().enumerate() {
            values.push(if latin1 {
                f.iter().map(|&b| char::from(b)).collect::<String>()
            } else {
                match std::str::from_utf8(f) {
                    Ok(s) => s.to_string(),
                    Err(e) => {
                        return Err(PluginError::malformed(
                            format!(
                                "field {} of the row is not valid UTF-8 (byte {} of the field); \
                                 set \"encoding\" to \"latin-1\" or \"auto\" to accept it",
                                i + 1,
                                e.valid_up_to()
                            ),
                            self.location(),
                        ));
                    }
                }
            });
        }
        self.out_len = 0;
        self.ends_len = 0;
        self.records += 1;
        let names = match &self.names {
            None if self.dialect.header => {
                self.names = Some(header_names(values));
                return Ok(None);
            }
            None => {
                let n = (1..=values.len()).map(|i| format!("column_{i}")).collect();
                self.names = Some(n);
                self.names.as_ref()
            }
            Some(_) => self.names.as_ref(),
        };
        let names = names.map(Vec::as_slice).unwrap_or_default();
        if values.len() != names.len() && self.ragged == Ragged::Error {
            return Err(PluginError::malformed(
                format!(
                    "the row has {} fields but the {} has {}",
                    values.len(),
                    if self.dialect.header {
                        "header"
                    } else {
                        "first row"
                    },
                    names.len()
                ),
                self.location(),
            ));
        }
        let mut fields: Vec<Field> = Vec::with_capacity(names.len().max(values.len()) + 1);
        let mut values = values.into_iter();
        for name in names {
            fields.push(Field::new(
                name.clone(),
                values.next().map_or(FieldValue::Null, FieldValue::Text),
            ));
        }
        if values.len() > 0 {
            // Extra fields are `column_<n>` by position, made distinct from
            // the header's names (which may include `column_<n>` too).
            let mut taken = Distinct::new(names.iter().cloned());
            for (i, v) in values.enumerate() {
                let name = taken.name(format!("column_{}", names.len() + i + 1));
                fields.push(Field::new(name, FieldValue::Text(v)));
            }
        }
        if latin1 && !fields.iter().any(|f| f.name == "encoding") {
            fields.push(Field::new("encoding", FieldValue::Text("latin-1".into())));
        }
        Ok(Some(ParsedRecord::new(fields)))
    }
}

/// Column names from the header row: an empty name becomes `column_<n>`, a
/// repeated one gets `_2`, `_3`, … so every field of a record is distinct.
fn header_names(values: Vec<String>) -> Vec<String> {
    let mut taken = Distinct::new(std::iter::empty());
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let base = if v.is_empty() {
                format!("column_{}", i + 1)
            } else {
                v
            };
            taken.name(base)
        })
        .collect()
}

/// Hands out distinct names: a name already taken gets the first free
/// suffix `_2`, `_3`, ….
struct Distinct {
    taken: HashSet<String>,
    /// The next suffix to try per base name, so a name repeated n times
    /// costs O(n) tries in all, not O(n²).
    next: HashMap<String, usize>,
}

impl Distinct {
    fn new(taken: impl Iterator<Item = String>) -> Self {
        Distinct {
            taken: taken.collect(),
            next: HashMap::new(),
        }
    }

    fn name(&mut self, base: String) -> String {
        if !self.taken.contains(&base) {
            self.taken.insert(base.clone());
            return base;
        }
        let n = self.next.entry(base.clone()).or_insert(2);
        // Terminates: each try is a new name, and finitely many are taken.
        loop {
            let name = format!("{base}_{n}");
            *n += 1;
            if self.taken.insert(name.clone()) {
                return name;
            }
        }
    }
}
