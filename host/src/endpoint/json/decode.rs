//! Reading records: the JSON Lines / array scanner and exact decoding of
//! values into their column's type (or a reject with its line).

use super::*;
use crate::endpoint::EndpointError;
use crate::model::temporal;
use crate::model::{BatchBuilder, LogicalType, Reject, Stage, TableDef};
use base64::Engine as _;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

// ---------------------------------------------------------------------------
// Decoding (source side)
// ---------------------------------------------------------------------------

pub(super) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON string starting at `b[i] == b'"'`.
pub(super) fn scan_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// End (exclusive) of the JSON value starting at `b[i]`.
pub(super) fn scan_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => scan_string(b, i),
        b'{' | b'[' => {
            let (mut j, mut depth) = (i, 0usize);
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = scan_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// What kind of JSON value a raw value text is, for reasons.
pub(super) fn kind_of(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// Splits a JSON object text (already known to be valid JSON) into its
/// members, in order, each value as its exact text. Never panics: a text that
/// is not an object, or not valid, is an `Err` with the reason.
pub(super) fn split_object(s: &str) -> Result<Vec<(String, &str)>, String> {
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        let end = scan_value(b, i).unwrap_or(b.len());
        let raw = s.get(i..end).unwrap_or("");
        return Err(format!(
            "the line is a JSON {}, not an object",
            kind_of(raw)
        ));
    }
    let bad = || "malformed JSON object".to_string();
    let mut out = Vec::new();
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(out);
    }
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return Err(bad());
        }
        let ke = scan_string(b, i).ok_or_else(bad)?;
        let key: String = serde_json::from_str(s.get(i..ke).ok_or_else(bad)?)
            .map_err(|e| format!("a key is not a valid JSON string: {e}"))?;
        i = skip_ws(b, ke);
        if b.get(i) != Some(&b':') {
            return Err(bad());
        }
        let vs = skip_ws(b, i + 1);
        let ve = scan_value(b, vs).ok_or_else(bad)?;
        out.push((key, s.get(vs..ve).ok_or_else(bad)?));
        i = skip_ws(b, ve);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok(out),
            _ => return Err(bad()),
        }
    }
}

/// Splits a JSON array text (already known to be valid JSON) into its
/// elements' exact texts, in order; an `Err` when it is not an array.
pub(super) fn split_array(s: &str) -> Result<Vec<&str>, String> {
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return Err("not an array".into());
    }
    let bad = || "malformed JSON array".to_string();
    let mut out = Vec::new();
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Ok(out);
    }
    loop {
        let vs = skip_ws(b, i);
        let ve = scan_value(b, vs).ok_or_else(bad)?;
        out.push(s.get(vs..ve).ok_or_else(bad)?);
        i = skip_ws(b, ve);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Ok(out),
            _ => return Err(bad()),
        }
    }
}

/// The elements of a normalised column's raw value: `Ok(None)` for null
/// (no child rows), else every element of an array of objects; `Err` says
/// what the value is instead.
pub(super) fn array_of_objects(raw: &str) -> Result<Option<Vec<&str>>, String> {
    let raw = raw.trim();
    let kind = kind_of(raw);
    match kind {
        "null" => Ok(None),
        "array" => {
            let elems = split_array(raw)?;
            match elems.iter().position(|e| kind_of(e) != "object") {
                None => Ok(Some(elems)),
                Some(i) => Err(format!(
                    "an array whose element {i} is a {}, not an object",
                    kind_of(elems[i])
                )),
            }
        }
        _ => Err(format!("a {kind} {}", shown(raw))),
    }
}

/// Whether a raw JSON number text is an integer literal (no fraction, no exponent).
pub(super) fn is_int_literal(raw: &str) -> bool {
    !raw.contains(['.', 'e', 'E'])
}

/// Whether `s` is a decimal number PostgreSQL's `numeric` accepts exactly
/// (the one rule: [`crate::model::Decimal`]).
pub(super) fn is_decimal(s: &str) -> bool {
    crate::model::Decimal::is_numeric(s)
}

/// Decodes one raw JSON value (not `null`) into column `i` of type `t`, or
/// says why it cannot be read without loss.
pub(super) fn decode_value(
    b: &mut BatchBuilder,
    i: usize,
    t: LogicalType,
    raw: &str,
) -> Result<(), String> {
    use LogicalType as L;
    let kind = kind_of(raw);
    let mismatch = |why: &str| format!("{kind} {} cannot be read as {t}{why}", shown(raw));
    let string = || -> Result<String, String> {
        if kind != "string" {
            return Err(mismatch(""));
        }
        serde_json::from_str::<String>(raw).map_err(|e| mismatch(&format!(": {e}")))
    };
    let push =
        |b: &mut BatchBuilder, bytes: &[u8]| b.push_bytes(i, bytes).map_err(|e| e.to_string());
    match t {
        L::Boolean => match raw {
            "true" => b.push_bool(i, true),
            "false" => b.push_bool(i, false),
            _ => return Err(mismatch("")),
        },
        L::Int64 => {
            if kind != "number" || !is_int_literal(raw) {
                return Err(mismatch(""));
            }
            let x = raw
                .parse::<i64>()
                .map_err(|_| mismatch(": out of the int64 range"))?;
            b.push_int(i, x);
        }
        L::Float64 => {
            let x = if kind == "number" {
                // 2^53: beyond it not every integer has an exact double.
                if is_int_literal(raw)
                    && raw
                        .parse::<i64>()
                        .map_or(true, |x| x.unsigned_abs() > 1u64 << 53)
                {
                    return Err(mismatch(": the integer has no exact float64"));
                }
                let x: f64 = raw.parse().map_err(|_| mismatch(""))?;
                if !x.is_finite() {
                    return Err(mismatch(": out of the float64 range"));
                }
                x
            } else {
                match string()?.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => return Err(mismatch("")),
                }
            };
            b.push_float(i, x);
        }
        L::Decimal => {
            // A number is taken as written (never through a float).
            let text = if kind == "number" {
                raw.to_string()
            } else {
                string()?
            };
            if !is_decimal(&text) {
                return Err(mismatch(": not a decimal number"));
            }
            push(b, text.as_bytes())?;
        }
        L::Text => push(b, string()?.as_bytes())?,
        L::Bytes => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(string()?)
                .map_err(|e| mismatch(&format!(": not standard padded base64 ({e})")))?;
            push(b, &bytes)?;
        }
        L::Json => push(b, minify_json(raw).as_bytes())?,
        L::Date => {
            let d = temporal::parse_date(&string()?).ok_or_else(|| mismatch(""))?;
            b.push_date(i, d);
        }
        L::Time => {
            let x = temporal::parse_time(&string()?).ok_or_else(|| mismatch(""))?;
            b.push_int(i, x);
        }
        L::Timestamp => {
            let x = temporal::parse_timestamp(&string()?).ok_or_else(|| mismatch(""))?;
            b.push_int(i, x);
        }
        L::Timestamptz => {
            let x = temporal::parse_timestamptz(&string()?).ok_or_else(|| mismatch(""))?;
            b.push_int(i, x);
        }
        L::Uuid => {
            let u = temporal::parse_uuid(&string()?).ok_or_else(|| mismatch(""))?;
            b.push_uuid(i, &u);
        }
    }
    Ok(())
}

/// Where a record is in its file, for reasons and source keys: a line of a
/// `.jsonl` file or an item (1-based) of a `.json` array.
#[derive(Debug, Clone, Copy)]
pub(super) struct Loc {
    pub(super) n: u64,
    pub(super) item: bool,
    /// The element (0-based) of a normalised array, for a child table's record.
    pub(super) elem: Option<u64>,
}

impl Loc {
    pub(super) fn word(self) -> &'static str {
        if self.item { "item" } else { "line" }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.word(), self.n)?;
        match self.elem {
            Some(e) => write!(f, ", element {e}"),
            None => Ok(()),
        }
    }
}

/// One record of a data file.
pub(super) enum Rec<'a> {
    /// The record's bytes (a line without its line break).
    Data(&'a [u8]),
    /// A line longer than [`MAX_LINE`]: its length and first bytes.
    TooLong { bytes: u64, prefix: &'a [u8] },
}

/// Reads the next line into `buf` (without `\n` / `\r\n`), holding at most
/// [`MAX_LINE`] bytes. `Ok(None)` at the end; `Ok(Some(len))` with the full
/// length, which exceeds `buf.len()` when the line was too long.
pub(super) fn next_line(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<u64>> {
    buf.clear();
    let (mut total, mut any) = (0u64, false);
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            break;
        }
        any = true;
        let (chunk, used, done) = match avail.iter().position(|&c| c == b'\n') {
            Some(p) => (&avail[..p], p + 1, true),
            None => (avail, avail.len(), false),
        };
        total += chunk.len() as u64;
        if buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else if buf.len() < 1024 {
            // Keep a short prefix of an over-long line for the reject.
            let room = 1024 - buf.len();
            buf.extend_from_slice(&chunk[..room.min(chunk.len())]);
        }
        r.consume(used);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if buf.last() == Some(&b'\r') && total == buf.len() as u64 {
        buf.pop();
        total -= 1;
    }
    Ok(Some(total))
}

/// Reads the next item of a top-level JSON array into `buf` (at most
/// [`MAX_LINE`] bytes held, as [`next_line`]). `started` tracks whether the
/// opening `[` was consumed. `Ok(None)` after the closing `]`. The split is
/// by nesting depth outside strings, so a malformed item is returned as it
/// is (and rejected by the decoder); a missing `]` ends at the end of file.
pub(super) fn next_item(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    started: &mut bool,
    max: usize,
) -> io::Result<Option<u64>> {
    buf.clear();
    let (mut total, mut depth) = (0u64, 0usize);
    let (mut in_str, mut escaped, mut begun) = (false, false, false);
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(begun.then_some(total));
        }
        let mut used = 0;
        let mut end = false;
        for &c in avail {
            used += 1;
            if !*started {
                match c {
                    b'[' => *started = true,
                    b' ' | b'\t' | b'\n' | b'\r' => {}
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "a .json data file must hold one array of objects",
                        ));
                    }
                }
                continue;
            }
            if !begun {
                match c {
                    b' ' | b'\t' | b'\n' | b'\r' | b',' => continue,
                    b']' => {
                        r.consume(used);
                        return Ok(None);
                    }
                    _ => begun = true,
                }
            }
            if in_str {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_str = false;
                }
            } else {
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b',' | b']' if depth == 0 => {
                        // The item ends; leave `]` to end the array next time.
                        if c == b']' {
                            used -= 1;
                        }
                        end = true;
                        break;
                    }
                    _ => {}
                }
            }
            total += 1;
            if buf.len() < max {
                buf.push(c);
            }
        }
        r.consume(used);
        if end {
            while buf.last().is_some_and(|c| c.is_ascii_whitespace()) {
                buf.pop();
                total -= 1;
            }
            return Ok(Some(total));
        }
    }
}

/// Calls `f` for each record of a data file, in file order: the lines of a
/// `.jsonl` file (blank lines hold no row and are skipped) or the items of
/// the array in a `.json` file. `f` returns `false` to stop. A missing file
/// has no records.
pub(super) fn for_each_record(
    path: &Path,
    endpoint: &str,
    table: &str,
    f: impl FnMut(Loc, Rec<'_>) -> bool,
) -> Result<(), EndpointError> {
    for_each_record_max(path, endpoint, table, MAX_LINE, f)
}

/// [`for_each_record`] with a given record size limit (tests use a small one).
pub(super) fn for_each_record_max(
    path: &Path,
    endpoint: &str,
    table: &str,
    max: usize,
    mut f: impl FnMut(Loc, Rec<'_>) -> bool,
) -> Result<(), EndpointError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(endpoint, Some(table), "cannot open", path, e)),
    };
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    if path.extension().is_some_and(|e| e == "json") {
        let (mut started, mut n) = (false, 0u64);
        while let Some(len) = next_item(&mut r, &mut buf, &mut started, max)
            .map_err(|e| io_err(endpoint, Some(table), "cannot read", path, e))?
        {
            n += 1;
            let rec = if len > buf.len() as u64 {
                Rec::TooLong {
                    bytes: len,
                    prefix: &buf[..buf.len().min(1024)],
                }
            } else {
                Rec::Data(&buf)
            };
            if !f(
                Loc {
                    n,
                    item: true,
                    elem: None,
                },
                rec,
            ) {
                break;
            }
        }
        return Ok(());
    }
    let mut line = 0u64;
    while let Some(len) = next_line(&mut r, &mut buf, max)
        .map_err(|e| io_err(endpoint, Some(table), "cannot read", path, e))?
    {
        line += 1;
        let rec = if len > buf.len() as u64 {
            Rec::TooLong {
                bytes: len,
                prefix: &buf[..buf.len().min(1024)],
            }
        } else if buf.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r')) {
            continue;
        } else {
            Rec::Data(&buf)
        };
        if !f(
            Loc {
                n: line,
                item: false,
                elem: None,
            },
            rec,
        ) {
            break;
        }
    }
    Ok(())
}

/// Decodes records of one table into batches, turning every record that
/// does not decode exactly into a `read` reject.
pub(super) struct Decoder<'a> {
    pub(super) table: &'a TableDef,
    pub(super) index: HashMap<&'a str, usize>,
    /// The keys a normalised parent holds its child rows in: not columns,
    /// but each checked to be null or an array of objects.
    pub(super) nested: Vec<&'a str>,
}

impl<'a> Decoder<'a> {
    pub(super) fn new(table: &'a TableDef) -> Self {
        let index = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        Decoder {
            table,
            index,
            nested: Vec::new(),
        }
    }

    /// The decoder of `table` as this source presents it: a normalised
    /// parent also accepts (and checks) its nested column.
    pub(super) fn for_table(table: &'a TableDef, specs: &'a [Spec]) -> Self {
        let mut d = Decoder::new(table);
        d.nested = specs
            .iter()
            .filter(|s| s.parent == table.name)
            .map(|s| s.column.as_str())
            .collect();
        d
    }

    pub(super) fn reject(
        &self,
        loc: Loc,
        source_key: Option<String>,
        column: Option<&str>,
        code: &str,
        reason: String,
        row: serde_json::Value,
    ) -> Reject {
        Reject {
            table: self.table.name.clone(),
            source_key: source_key.or_else(|| Some(format!("{}={}", loc.word(), loc.n))),
            stage: Stage::Read,
            plugin: None,
            column: column.map(str::to_string),
            code: code.into(),
            reason: format!("{loc}: {reason}"),
            row,
        }
    }

    /// Decodes one record into the builder's current row (the caller ends or
    /// abandons the row).
    pub(super) fn decode(
        &self,
        b: &mut BatchBuilder,
        loc: Loc,
        rec: Rec<'_>,
    ) -> Result<(), Box<Reject>> {
        let bytes = match rec {
            Rec::TooLong { bytes, prefix } => {
                let prefix = String::from_utf8_lossy(prefix);
                return Err(Box::new(self.reject(
                    loc,
                    None,
                    None,
                    "line-too-long",
                    format!(
                        "the record is {bytes} bytes, over the {} MiB limit; it was not read",
                        MAX_LINE >> 20
                    ),
                    serde_json::json!({ "line_bytes": bytes, "line_prefix": prefix }),
                )));
            }
            Rec::Data(b) => b,
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                return Err(Box::new(self.reject(
                    loc,
                    None,
                    None,
                    "invalid-json",
                    format!(
                        "not valid UTF-8 (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                    serde_json::Value::String(format!("\\x{}", hex::encode(bytes))),
                )));
            }
        };
        // Validate without building a value (and without converting numbers,
        // so `1e400` in a decimal or json column is not an error here).
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            {
                return Err(Box::new(self.reject(
                    loc,
                    None,
                    None,
                    "invalid-json",
                    format!("invalid JSON at column {}: {e}", e.column()),
                    serde_json::Value::String(text.to_string()),
                )));
            }
        }
        // The whole row for a reject, built only when one is needed; the
        // line's text when it does not fit a JSON value (e.g. a number out
        // of the f64 range).
        let row = || {
            serde_json::from_str::<serde_json::Value>(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
        };
        let members = match split_object(text) {
            Ok(m) => m,
            Err(why) => {
                return Err(Box::new(self.reject(
                    loc,
                    None,
                    None,
                    "not-an-object",
                    why,
                    row(),
                )));
            }
        };
        let mut raw: Vec<Option<&str>> = vec![None; self.table.columns.len()];
        let mut unknown: Option<&str> = None;
        let mut duplicate: Option<&str> = None;
        let mut nested: Vec<Option<&str>> = vec![None; self.nested.len()];
        for (k, v) in &members {
            if let Some(n) = self.nested.iter().position(|c| c == k) {
                match nested[n] {
                    Some(_) => duplicate = duplicate.or(Some(k.as_str())),
                    None => nested[n] = Some(*v),
                }
                continue;
            }
            match self.index.get(k.as_str()) {
                Some(&i) if raw[i].is_some() => duplicate = duplicate.or(Some(k.as_str())),
                Some(&i) => raw[i] = Some(*v),
                None => unknown = unknown.or(Some(k.as_str())),
            }
        }
        let key = self.source_key(&raw);
        if let Some(k) = unknown {
            return Err(Box::new(self.reject(
                loc,
                key,
                Some(k),
                "unknown-column",
                format!(
                    "key `{}` is not a column of `{}`; the row is kept whole here instead of dropping the value",
                    shown(k),
                    self.table.name
                ),
                row(),
            )));
        }
        if let Some(k) = duplicate {
            return Err(Box::new(self.reject(
                loc,
                key,
                Some(k),
                "duplicate-field",
                format!("key `{}` appears more than once", shown(k)),
                // As text: a JSON object value would keep only one of the keys.
                serde_json::Value::String(text.to_string()),
            )));
        }
        for (i, col) in self.table.columns.iter().enumerate() {
            let fail = match raw[i] {
                None | Some("null") if !col.nullable => Some((
                    "not-null",
                    format!(
                        "column `{}` is NOT NULL but the value is {}",
                        col.name,
                        if raw[i].is_none() { "missing" } else { "null" }
                    ),
                )),
                None | Some("null") => {
                    b.push_null(i);
                    None
                }
                Some(v) => decode_value(b, i, col.logical_type, v)
                    .err()
                    .map(|why| ("type-mismatch", format!("column `{}`: {why}", col.name))),
            };
            if let Some((code, reason)) = fail {
                return Err(Box::new(self.reject(
                    loc,
                    key,
                    Some(&col.name),
                    code,
                    reason,
                    row(),
                )));
            }
        }
        for (col, raw) in self.nested.iter().zip(nested) {
            let Some(Err(what)) = raw.map(array_of_objects) else {
                continue;
            };
            return Err(Box::new(self.reject(
                loc,
                key,
                Some(col),
                "not-normalisable",
                format!(
                    "column `{col}` holds {what}; `normalise={}.{col}` needs an array of \
                     objects (or null), so the row is kept whole here with its `{col}`",
                    self.table.name
                ),
                row(),
            )));
        }
        Ok(())
    }

    /// The primary key values as JSON joined by commas (the form
    /// `Batch::source_key` gives), when the table has a key and the record
    /// has every key column.
    pub(super) fn source_key(&self, raw: &[Option<&str>]) -> Option<String> {
        if self.table.primary_key.is_empty() {
            return None;
        }
        let parts: Option<Vec<String>> = self
            .table
            .primary_key
            .iter()
            .map(|k| {
                let v = raw[*self.index.get(k.as_str())?]?;
                serde_json::from_str::<serde_json::Value>(v)
                    .ok()
                    .map(|v| v.to_string())
            })
            .collect();
        parts.map(|p| p.join(","))
    }
}
