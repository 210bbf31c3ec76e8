//! Dialect sniffing on the first bytes of a file.
//!
//! The heuristic, run on the first [`SNIFF_BYTES`] (cut back to the last
//! line break unless the file is shorter), for every setting the
//! configuration leaves out:
//!
//! 1. **Quote**: `'` when some field starts with `'` and none with `"`, else `"`.
//! 2. **Escape**: `\` when a `\` followed by the quote character and then
//!    something other than a delimiter or a line break appears (`"a \"b\" c"`),
//!    else none (quotes are escaped by doubling them, RFC 4180).
//! 3. **Delimiter**: among `,` TAB `;` `|` `:` (that order breaks ties), count
//!    each outside quotes on every row of the sample (rows starting with `#`
//!    set aside); the delimiter is the one found the same non-zero number of
//!    times on the most rows. No candidate at all: `,`.
//! 4. **Comment**: `#` when a row starts with `#` and holds no delimiter while
//!    the other rows do, else none.
//! 5. **Header**: the sample is tokenised with the dialect above; each column
//!    votes. A column whose later values are all numbers votes *header* when
//!    its first value is not a number and *no header* when it is; a text
//!    column whose later values all have one length votes *header* when the
//!    first value's length differs. A positive total means a header; a tie
//!    means a header unless a first-row value is a number. A one-row file has
//!    a header unless one of its values is a number.
//!
//! The sniffer is deterministic on those bytes alone, so the result does not
//! depend on how the host chunks the file.

use crate::config::{Encoding, Overrides};

/// How many bytes the sniffer looks at: 64 KiB holds hundreds of rows of a
/// typical file, and is buffered once per file. A bigger sample would only
/// help files whose first rows are unrepresentative.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The most rows the sniffer reads from the sample (bounds its work).
const SNIFF_ROWS: usize = 1000;

/// Delimiter candidates, in tie-breaking order.
const DELIMITERS: [u8; 5] = [b',', b'\t', b';', b'|', b':'];

/// A complete dialect: what the tokenizer runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    pub escape: Option<u8>,
    pub comment: Option<u8>,
    pub header: bool,
    /// `Utf8` or `Latin1` for the file as a whole (never `Auto`).
    pub encoding: Encoding,
}

/// Sniff the dialect of `sample` (the file's first bytes, BOM removed);
/// `at_eof` says the sample is the whole file.
pub fn sniff(sample: &[u8], at_eof: bool, over: &Overrides) -> Dialect {
    let encoding = match over.encoding {
        Encoding::Auto => match std::str::from_utf8(sample) {
            Ok(_) => Encoding::Utf8,
            // A character cut by the end of the sample is not an error.
            Err(e) if e.error_len().is_none() && !at_eof => Encoding::Utf8,
            Err(_) => Encoding::Latin1,
        },
        other => other,
    };
    let sample = if at_eof {
        sample
    } else {
        match sample.iter().rposition(|&b| b == b'\n') {
            Some(i) => sample.get(..=i).unwrap_or(sample),
            None => sample,
        }
    };
    let quote = over.quote.unwrap_or_else(|| sniff_quote(sample));
    let escape = over
        .escape
        .unwrap_or_else(|| sniff_escape(sample, quote).then_some(b'\\'));
    let rows = split_rows(sample, quote, escape);
    let delimiter = over
        .delimiter
        .unwrap_or_else(|| sniff_delimiter(sample, &rows, quote, escape));
    let comment = over
        .comment
        .unwrap_or_else(|| sniff_comment(sample, &rows, delimiter, quote, escape));
    let mut dialect = Dialect {
        delimiter,
        quote,
        escape,
        comment,
        header: true,
        encoding,
    };
    dialect.header = over
        .header
        .unwrap_or_else(|| sniff_header(&tokenize(sample, at_eof, &dialect)));
    dialect
}

/// Whether a byte at `i` starts a field: line start or after a candidate delimiter.
fn field_start(sample: &[u8], i: usize) -> bool {
    i == 0
        || sample
            .get(i.wrapping_sub(1))
            .is_some_and(|b| matches!(b, b'\n' | b'\r') || DELIMITERS.contains(b))
}

fn sniff_quote(sample: &[u8]) -> u8 {
    let (mut double, mut single) = (0usize, 0usize);
    for (i, &b) in sample.iter().enumerate() {
        if (b == b'"' || b == b'\'') && field_start(sample, i) {
            if b == b'"' {
                double += 1;
            } else {
                single += 1;
            }
        }
    }
    if single > 0 && double == 0 {
        b'\''
    } else {
        b'"'
    }
}

fn sniff_escape(sample: &[u8], quote: u8) -> bool {
    sample.windows(3).any(|w| {
        matches!(w, [b'\\', q, next] if *q == quote
            && !DELIMITERS.contains(next) && !matches!(next, b'\r' | b'\n'))
    })
}

/// The sample's rows as byte ranges, split on line breaks outside quotes.
fn split_rows(sample: &[u8], quote: u8, escape: Option<u8>) -> Vec<&[u8]> {
    let mut rows = Vec::new();
    let (mut start, mut in_quotes, mut escaped) = (0usize, false, false);
    for (i, &b) in sample.iter().enumerate() {
        if rows.len() >= SNIFF_ROWS {
            return rows;
        }
        if escaped {
            escaped = false;
        } else if in_quotes && Some(b) == escape {
            escaped = true;
        } else if b == quote {
            in_quotes = !in_quotes;
        } else if !in_quotes && (b == b'\n' || b == b'\r') {
            if let Some(row) = sample.get(start..i)
                && !row.is_empty()
            {
                rows.push(row);
            }
            start = i + 1;
        }
    }
    if let Some(row) = sample.get(start..)
        && !row.is_empty()
        && rows.len() < SNIFF_ROWS
    {
        rows.push(row);
    }
    rows
}

/// How often `delimiter` occurs outside quotes in `row`.
fn count_outside_quotes(row: &[u8], delimiter: u8, quote: u8, escape: Option<u8>) -> usize {
    let (mut n, mut in_quotes, mut escaped) = (0usize, false, false);
    for &b in row {
        if escaped {
            escaped = false;
        } else if in_quotes && Some(b) == escape {
            escaped = true;
        } else if b == quote {
            in_quotes = !in_quotes;
        } else if !in_quotes && b == delimiter {
            n += 1;
        }
    }
    n
}

fn sniff_delimiter(_sample: &[u8], rows: &[&[u8]], quote: u8, escape: Option<u8>) -> u8 {
    let data: Vec<&[u8]> = {
        let plain: Vec<&[u8]> = rows
            .iter()
            .copied()
            .filter(|r| r.first() != Some(&b'#'))
            .collect();
        if plain.is_empty() {
            rows.to_vec()
        } else {
            plain
        }
    };
    let mut best = (b',', 0usize);
    for &d in &DELIMITERS {
        let counts: Vec<usize> = data
            .iter()
            .map(|r| count_outside_quotes(r, d, quote, escape))
            .collect();
        // The most frequent non-zero count (ties: the larger count).
        let mut freq: Vec<(usize, usize)> = Vec::new();
        for &c in counts.iter().filter(|&&c| c > 0) {
            match freq.iter_mut().find(|(k, _)| *k == c) {
                Some((_, n)) => *n += 1,
                None => freq.push((c, 1)),
            }
        }
        let score = freq.iter().map(|&(_, n)| n).max().unwrap_or(0);
        if score > best.1 {
            best = (d, score);
        }
    }
    best.0
}

fn sniff_comment(
    _sample: &[u8],
    rows: &[&[u8]],
    delimiter: u8,
    quote: u8,
    escape: Option<u8>,
) -> Option<u8> {
    let (hash, other): (Vec<&[u8]>, Vec<&[u8]>) =
        rows.iter().partition(|r| r.first() == Some(&b'#'));
    let no_delim = |r: &&[u8]| count_outside_quotes(r, delimiter, quote, escape) == 0;
    let others_delimited = other.iter().filter(|r| !no_delim(r)).count() * 2 > other.len();
    (hash.iter().any(no_delim) && others_delimited).then_some(b'#')
}

/// The sample's records with `dialect` (at most [`SNIFF_ROWS`]); the last one
/// is dropped unless the sample is the whole file (it may be cut).
fn tokenize(sample: &[u8], at_eof: bool, dialect: &Dialect) -> Vec<Vec<Vec<u8>>> {
    let mut reader = crate::reader::core_reader(dialect);
    let mut records = Vec::new();
    let mut input = sample;
    let mut out = vec![0u8; sample.len() + 1];
    let mut ends = vec![0usize; sample.len() + 1];
    loop {
        let (res, nin, _, nend) = reader.read_record(input, &mut out, &mut ends);
        input = input.get(nin..).unwrap_or_default();
        match res {
            csv_core::ReadRecordResult::Record => {
                let mut fields = Vec::new();
                let mut start = 0;
                for &end in ends.get(..nend).unwrap_or_default() {
                    fields.push(out.get(start..end).unwrap_or_default().to_vec());
                    start = end;
                }
                records.push(fields);
                if records.len() >= SNIFF_ROWS {
                    break;
                }
            }
            csv_core::ReadRecordResult::InputEmpty if input.is_empty() && !at_eof => break,
            csv_core::ReadRecordResult::InputEmpty => {}
            // Buffers are as large as the sample: these cannot happen, but stop anyway.
            csv_core::ReadRecordResult::OutputFull
            | csv_core::ReadRecordResult::OutputEndsFull
            | csv_core::ReadRecordResult::End => break,
        }
    }
    records
}

/// Whether a value looks like a number (`12`, `-3.5`, `1e6`).
fn is_number(v: &[u8]) -> bool {
    let s = String::from_utf8_lossy(v);
    let t = s.trim();
    t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        && t.parse::<f64>().is_ok()
}

fn sniff_header(records: &[Vec<Vec<u8>>]) -> bool {
    let Some((first, rest)) = records.split_first() else {
        return true;
    };
    let first_has_number = first.iter().any(|v| is_number(v));
    if rest.is_empty() {
        return !first_has_number;
    }
    let mut votes: i64 = 0;
    for (col, head) in first.iter().enumerate() {
        let values: Vec<&Vec<u8>> = rest
            .iter()
            .filter_map(|r| r.get(col))
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            continue;
        }
        if values.iter().all(|v| is_number(v)) {
            votes += if is_number(head) { -1 } else { 1 };
        } else if let Some(len) = values.first().map(|v| v.len())
            && values.iter().all(|v| v.len() == len)
            && !is_number(head)
            && head.len() != len
        {
            votes += 1;
        }
    }
    match votes {
        v if v > 0 => true,
        0 => !first_has_number,
        _ => false,
    }
}
