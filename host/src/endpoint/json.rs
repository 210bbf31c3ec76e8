//! JSON directory endpoint (`json:DIR`): one JSON Lines file per table plus a
//! schema file. The format is specified in `docs/json-format.md`:
//!
//! - `DIR/_schema.json` — `{"format":"ferry-json","version":1,"tables":[TableDef…]}`;
//! - `DIR/<table>.jsonl` — one object per row, keys = column names in column order;
//! - `DIR/_ferry_rejects.jsonl` — the quarantine file (the `_ferry_rejects` table's equivalent).
//!
//! Every value is encoded so it round-trips exactly (see `encode_value`);
//! a value that does not decode as its column's type is a reject at read,
//! never a guess. `finish` enforces the recorded keys as a database would:
//! duplicates and foreign-key orphans move to the quarantine file.
//!
//! Options (`json:DIR?…`, see `split_url`): a source's `normalise=T.C`
//! reads json column `C`'s arrays of objects as a child table `T__C`
//! (`table_records`); a target's `nest=T__C` folds that child table back
//! into `C` in `finish` (`JsonSink::nest_one`) and records it in
//! `_schema.json`, so the same URL read as a source (verify) shows the
//! child table again.
//!
//! Blocking IO: the source runs each whole operation in
//! `tokio::task::spawn_blocking` (it owns its inputs, and a long scan must
//! not hold a runtime worker); the sink borrows `&mut self` and its open
//! writers, so it uses `tokio::task::block_in_place`, as the SQLite sink does.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{EndpointError, IfExists, ReadBatch, TableProfile, TargetTable, WriteOutcome};
use crate::model::temporal;
use crate::model::{
    Batch, BatchBuilder, ColumnDef, LogicalType, Reject, Schema, Stage, TableDef, ValueRef,
};

/// The schema file's name inside the directory.
const SCHEMA_FILE: &str = "_schema.json";
/// The quarantine file's name: `_ferry_rejects` plus the JSON Lines extension.
const REJECTS_FILE: &str = "_ferry_rejects.jsonl";
/// The `format` tag of the schema file.
const FORMAT: &str = "ferry-json";
/// The schema file version this code reads and writes.
const VERSION: u32 = 1;
/// Longest line (or array item) read: 64 MiB. A longer one is a reject with
/// code `line-too-long` and is skipped holding at most this much, so a
/// corrupt or hostile file cannot exhaust memory. Raise it if real rows are
/// larger.
const MAX_LINE: usize = 64 << 20;
/// Records sampled to infer a table without a schema entry: 10,000. A value
/// after the sample that does not fit the inferred type is a reject at read
/// (never coerced), so the sample only trades inference time for fewer surprises.
const INFER_SAMPLE: usize = 10_000;
/// Largest data file whose keys `finish` enforces, and largest parent file
/// its foreign keys are checked against: 256 MiB. The key values are held in
/// memory (exactly, as text: a hash collision would quarantine a good row),
/// so above it the table is left unchecked with a warning. Raise it on
/// machines with memory to spare.
const FK_CHECK_MAX_BYTES: u64 = 256 << 20;
/// Largest child file that `nest=` folds into its parent: 256 MiB. The child
/// rows are held in memory, grouped by parent key, while the parent file
/// streams through once; above it the child stays a table of its own, with
/// a warning. An external sort by parent key would lift the limit; raise it
/// on machines with memory to spare.
const NEST_MAX_BYTES: u64 = 256 << 20;

/// The schema file's content.
#[derive(Debug, Serialize, Deserialize)]
struct SchemaFile {
    format: String,
    version: u32,
    tables: Vec<TableDef>,
    /// Child tables a `nest=` target folded into a parent's json column,
    /// kept so a source can present them as tables again (exact types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nested: Vec<NestedDef>,
}

/// A child table nested into `parent.column` (see `docs/json-format.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NestedDef {
    parent: String,
    column: String,
    /// The child table as it was written before nesting.
    table: TableDef,
}

/// The options after `?` in `json:DIR?…` (`&`-separated `KEY=VALUE`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Options {
    /// `normalise=TABLE.COLUMN[,…]`: (table, column), split at the last `.`.
    normalise: Vec<(String, String)>,
    /// `nest=CHILD_TABLE[,…]`.
    nest: Vec<String>,
}

/// Splits `DIR?OPTIONS` into the directory and its options. The first `?`
/// starts the options, so a directory name cannot contain one.
fn split_url(url: &str) -> Result<(PathBuf, Options), EndpointError> {
    let bad = |reason: String| EndpointError::BadUrl {
        url: format!("json:{url}"),
        reason,
    };
    let (dir, query) = match url.split_once('?') {
        Some((d, q)) => (d, Some(q)),
        None => (url, None),
    };
    if dir.is_empty() {
        return Err(bad("give a directory: json:DIR".into()));
    }
    let mut o = Options::default();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let items = value.split(',').map(str::trim);
        match key {
            "normalise" => {
                for item in items {
                    let Some((t, c)) = item
                        .rsplit_once('.')
                        .filter(|(t, c)| !t.is_empty() && !c.is_empty())
                    else {
                        return Err(bad(format!(
                            "normalise takes TABLE.COLUMN[,TABLE.COLUMN…], not `{item}`"
                        )));
                    };
                    if !o.normalise.iter().any(|(a, b)| a == t && b == c) {
                        o.normalise.push((t.to_string(), c.to_string()));
                    }
                }
            }
            "nest" => {
                for item in items {
                    if item.is_empty() {
                        return Err(bad("nest takes CHILD_TABLE[,CHILD_TABLE…]".into()));
                    }
                    if !o.nest.iter().any(|n| n == item) {
                        o.nest.push(item.to_string());
                    }
                }
            }
            _ => {
                return Err(bad(format!(
                    "unknown option `{key}`; a json endpoint takes `normalise=TABLE.COLUMN` \
                     (source) or `nest=CHILD_TABLE` (target)"
                )));
            }
        }
    }
    Ok((PathBuf::from(dir), o))
}

fn q_err(endpoint: &str, table: Option<&str>, reason: impl std::fmt::Display) -> EndpointError {
    EndpointError::Query {
        endpoint: endpoint.to_string(),
        table: table.map(str::to_string),
        reason: reason.to_string(),
    }
}

fn io_err(
    endpoint: &str,
    table: Option<&str>,
    what: &str,
    path: &Path,
    e: io::Error,
) -> EndpointError {
    q_err(endpoint, table, format!("{what} {}: {e}", path.display()))
}

fn join_err(endpoint: &str, e: tokio::task::JoinError) -> EndpointError {
    q_err(endpoint, None, format!("file task failed: {e}"))
}

/// Refuses table names that cannot be file names as they are: ferry never
/// renames silently, so the user renames the table (e.g. with a transformer).
fn check_table_name(endpoint: &str, name: &str) -> Result<(), EndpointError> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.contains(['/', '\\']) {
        Some("contains a path separator (`/` or `\\`)")
    } else if name.contains('\0') {
        Some("contains a NUL byte")
    } else if name.contains("..") {
        Some("contains `..`")
    } else if name.starts_with("_ferry_") {
        Some("starts with `_ferry_`, which is reserved for ferry's own files")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(q_err(
            endpoint,
            Some(name),
            format!(
                "the table name {why}, so it cannot be a file name in a JSON directory; \
                 rename the table (e.g. with a transformer) or choose another target"
            ),
        )),
    }
}

use crate::model::shown;

// ---------------------------------------------------------------------------
// Encoding (sink side)
// ---------------------------------------------------------------------------

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Removes insignificant whitespace outside strings from a valid JSON text,
/// so a nested document fits on one line. Strings, numbers and key order are
/// kept byte for byte.
fn minify_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in s.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            if c == '"' {
                in_str = true;
            }
            out.push(c);
        }
    }
    out
}

/// Appends one value in the JSON encoding of its logical type, or says why
/// it cannot be represented (the row then becomes a `write` reject).
///
/// | logical | JSON |
/// | --- | --- |
/// | boolean | `true` / `false` |
/// | int64 | number |
/// | float64 | shortest round-trip number; `"NaN"`, `"Infinity"`, `"-Infinity"` |
/// | decimal, text | string |
/// | bytes | base64 string (standard alphabet, padded) |
/// | json | the document itself, whitespace outside strings removed |
/// | date, time, timestamp, timestamptz, uuid | ISO string from `model::temporal` |
fn encode_value(out: &mut Vec<u8>, t: LogicalType, v: ValueRef<'_>) -> Result<(), String> {
    use LogicalType as L;
    use ValueRef as V;
    match (t, v) {
        (_, V::Null) => out.extend_from_slice(b"null"),
        (L::Boolean, V::Bool(b)) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        (L::Int64, V::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
        (L::Time, V::Int(i)) => push_json_str(out, &temporal::format_time(i)),
        (L::Timestamp, V::Int(i)) => push_json_str(out, &temporal::format_timestamp(i)),
        (L::Timestamptz, V::Int(i)) => push_json_str(out, &temporal::format_timestamptz(i)),
        (L::Float64, V::Float(f)) => {
            if f.is_nan() {
                push_json_str(out, "NaN");
            } else if f.is_infinite() {
                push_json_str(out, if f > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                // serde_json writes finite floats with ryu: the shortest
                // text that parses back to the same bits.
                let _ = serde_json::to_writer(&mut *out, &f);
            }
        }
        (L::Date, V::Date(d)) => push_json_str(out, &temporal::format_date(d)),
        (L::Uuid, V::Uuid(u)) => {
            let u: [u8; 16] = u
                .try_into()
                .map_err(|_| format!("uuid of {} bytes, expected 16", u.len()))?;
            push_json_str(out, &temporal::format_uuid(&u));
        }
        (L::Text | L::Decimal, V::Text(s)) => push_json_str(out, s),
        (L::Json, V::Text(s)) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_err() {
                return Err(format!("'{}' is not valid JSON", shown(s)));
            }
            let doc = minify_json(s);
            if doc == "null" {
                return Err(
                    "the JSON document `null` cannot be told apart from a NULL value in the \
                     JSON format, so it is not written"
                        .into(),
                );
            }
            out.extend_from_slice(doc.as_bytes());
        }
        (L::Bytes, V::Bytes(b)) => {
            push_json_str(out, &base64::engine::general_purpose::STANDARD.encode(b))
        }
        (t, v) => return Err(format!("a {v:?} value does not belong in a {t} column")),
    }
    Ok(())
}

/// Appends row `row` of `batch` as one JSON Lines line, or returns the
/// failing column and why (nothing is appended then).
fn encode_row(
    out: &mut Vec<u8>,
    schema: &Schema,
    batch: &Batch,
    row: usize,
) -> Result<(), (usize, String)> {
    let start = out.len();
    out.push(b'{');
    for (i, c) in schema.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, &c.name);
        out.push(b':');
        if let Err(why) = encode_value(out, c.logical_type, batch.value(row, i)) {
            out.truncate(start);
            return Err((i, why));
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

// ---------------------------------------------------------------------------
// Decoding (source side)
// ---------------------------------------------------------------------------

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON string starting at `b[i] == b'"'`.
fn scan_string(b: &[u8], i: usize) -> Option<usize> {
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
fn scan_value(b: &[u8], i: usize) -> Option<usize> {
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
fn kind_of(raw: &str) -> &'static str {
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
fn split_object(s: &str) -> Result<Vec<(String, &str)>, String> {
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
fn split_array(s: &str) -> Result<Vec<&str>, String> {
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
fn array_of_objects(raw: &str) -> Result<Option<Vec<&str>>, String> {
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
fn is_int_literal(raw: &str) -> bool {
    !raw.contains(['.', 'e', 'E'])
}

/// Whether `s` is a decimal number PostgreSQL's `numeric` accepts exactly
/// (the same rule as the SQLite source's).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            // Up to 4 exponent digits: numeric's range ends near 1e131072.
            !e.is_empty() && e.len() <= 4 && digits(e)
        }
    };
    mantissa_ok && exp_ok
}

/// Decodes one raw JSON value (not `null`) into column `i` of type `t`, or
/// says why it cannot be read without loss.
fn decode_value(b: &mut BatchBuilder, i: usize, t: LogicalType, raw: &str) -> Result<(), String> {
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
struct Loc {
    n: u64,
    item: bool,
    /// The element (0-based) of a normalised array, for a child table's record.
    elem: Option<u64>,
}

impl Loc {
    fn word(self) -> &'static str {
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
enum Rec<'a> {
    /// The record's bytes (a line without its line break).
    Data(&'a [u8]),
    /// A line longer than [`MAX_LINE`]: its length and first bytes.
    TooLong { bytes: u64, prefix: &'a [u8] },
}

/// Reads the next line into `buf` (without `\n` / `\r\n`), holding at most
/// [`MAX_LINE`] bytes. `Ok(None)` at the end; `Ok(Some(len))` with the full
/// length, which exceeds `buf.len()` when the line was too long.
fn next_line(r: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<u64>> {
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
fn next_item(
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
fn for_each_record(
    path: &Path,
    endpoint: &str,
    table: &str,
    f: impl FnMut(Loc, Rec<'_>) -> bool,
) -> Result<(), EndpointError> {
    for_each_record_max(path, endpoint, table, MAX_LINE, f)
}

/// [`for_each_record`] with a given record size limit (tests use a small one).
fn for_each_record_max(
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
struct Decoder<'a> {
    table: &'a TableDef,
    index: HashMap<&'a str, usize>,
    /// The keys a normalised parent holds its child rows in: not columns,
    /// but each checked to be null or an array of objects.
    nested: Vec<&'a str>,
}

impl<'a> Decoder<'a> {
    fn new(table: &'a TableDef) -> Self {
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
    fn for_table(table: &'a TableDef, specs: &'a [Spec]) -> Self {
        let mut d = Decoder::new(table);
        d.nested = specs
            .iter()
            .filter(|s| s.parent == table.name)
            .map(|s| s.column.as_str())
            .collect();
        d
    }

    fn reject(
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
    fn decode(&self, b: &mut BatchBuilder, loc: Loc, rec: Rec<'_>) -> Result<(), Box<Reject>> {
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
    fn source_key(&self, raw: &[Option<&str>]) -> Option<String> {
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

// ---------------------------------------------------------------------------
// Inference
// ---------------------------------------------------------------------------

/// The kinds of JSON values seen in one column of a sample.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    int: bool,
    /// Integers outside int64.
    big_int: bool,
    float: bool,
    string: bool,
    boolean: bool,
    nested: bool,
}

impl Seen {
    fn add(&mut self, raw: &str) {
        match kind_of(raw) {
            "string" => self.string = true,
            "object" | "array" => self.nested = true,
            "boolean" => self.boolean = true,
            "null" => {}
            _ if !is_int_literal(raw) => self.float = true,
            _ if raw.parse::<i64>().is_ok() => self.int = true,
            _ => self.big_int = true,
        }
    }

    /// The logical type and declared type of the column. Mixed kinds become
    /// json (the widest faithful type) with declared type `mixed`, so the plan
    /// shows it; a column only ever null is json (declared type empty: `null`
    /// would read as a NULL constraint in SQL).
    fn infer(self) -> (LogicalType, &'static str) {
        let number = self.int || self.big_int || self.float;
        let kinds = [number, self.string, self.boolean, self.nested]
            .iter()
            .filter(|k| **k)
            .count();
        match kinds {
            0 => (LogicalType::Json, ""),
            1 if self.string => (LogicalType::Text, ""),
            1 if self.boolean => (LogicalType::Boolean, ""),
            1 if self.nested => (LogicalType::Json, ""),
            // Integers beyond int64 (alone or with fractions): decimal keeps
            // every digit; a float64 would not.
            1 if self.big_int => (LogicalType::Decimal, ""),
            1 if self.float => (LogicalType::Float64, ""),
            1 => (LogicalType::Int64, ""),
            _ => (LogicalType::Json, "mixed"),
        }
    }
}

/// Infers a table from the first [`INFER_SAMPLE`] records of a file: the
/// union of keys in order of first appearance, each typed by [`Seen::infer`].
/// Every column is nullable (the sample cannot prove otherwise) and the table
/// has no keys.
fn infer_table(path: &Path, endpoint: &str, name: &str) -> Result<TableDef, EndpointError> {
    infer_table_sample(path, endpoint, name, INFER_SAMPLE)
}

/// [`infer_table`] from the first `sample` records (tests use a small one).
fn infer_table_sample(
    path: &Path,
    endpoint: &str,
    name: &str,
    sample: usize,
) -> Result<TableDef, EndpointError> {
    let mut cols: Vec<(String, Seen)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut n = 0usize;
    for_each_record(path, endpoint, name, |_, rec| {
        n += 1;
        if let Rec::Data(bytes) = rec
            && let Ok(text) = std::str::from_utf8(bytes)
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
            && let Ok(members) = split_object(text)
        {
            for (k, v) in members {
                let i = *index.entry(k.clone()).or_insert_with(|| {
                    cols.push((k, Seen::default()));
                    cols.len() - 1
                });
                cols[i].1.add(v);
            }
        }
        n < sample
    })?;
    Ok(TableDef {
        name: name.to_string(),
        columns: cols
            .into_iter()
            .map(|(name, seen)| {
                let (logical_type, declared) = seen.infer();
                ColumnDef {
                    name,
                    declared_type: declared.to_string(),
                    logical_type,
                    nullable: true,
                    default: None,
                }
            })
            .collect(),
        primary_key: Vec::new(),
        unique: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
    })
}

fn read_schema(dir: &Path, endpoint: &str) -> Result<Option<SchemaFile>, EndpointError> {
    let path = dir.join(SCHEMA_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(endpoint, None, "cannot read", &path, e)),
    };
    let s: SchemaFile = serde_json::from_str(&text).map_err(|e| {
        q_err(
            endpoint,
            None,
            format!(
                "{} is not a ferry-json schema file ({e}); fix or remove it (tables are then inferred)",
                path.display()
            ),
        )
    })?;
    if s.format != FORMAT || s.version != VERSION {
        return Err(q_err(
            endpoint,
            None,
            format!(
                "{} has format `{}` version {}; this ferry reads `{FORMAT}` version {VERSION}",
                path.display(),
                s.format,
                s.version
            ),
        ));
    }
    for t in &s.tables {
        check_table_name(endpoint, &t.name)?;
    }
    Ok(Some(s))
}

// ---------------------------------------------------------------------------
// Normalised columns (`normalise=` on a source, `nest=` read back)
// ---------------------------------------------------------------------------

/// The child-table column holding an element's position in its array.
const ORDINAL: &str = "ordinal";

/// A parent's json column presented as a child table.
#[derive(Debug, Clone)]
struct Spec {
    parent: String,
    column: String,
    /// The parent column whose value each child row carries.
    parent_key: String,
    /// The child table's name, and its column holding `parent_key`'s value.
    child: String,
    fk_column: String,
    /// The child as a `nest=` target recorded it; `None`: inferred.
    recorded: Option<TableDef>,
}

/// What a source's options resolved to: the specs, and each parent as the
/// source presents it (without its normalised columns).
#[derive(Debug, Default)]
struct Norm {
    specs: Vec<Spec>,
    views: Vec<TableDef>,
}

impl Norm {
    fn view(&self, table: &str) -> Option<&TableDef> {
        self.views.iter().find(|v| v.name == table)
    }
}

/// Resolves a source's `normalise=` and `nest=` options against its schema
/// file. Every problem is an error naming the option: the parent must have a
/// schema entry with a single-column primary key and a json column of that
/// name, and the child's name must be free.
fn resolve(
    endpoint: &str,
    schema: Option<&SchemaFile>,
    o: &Options,
) -> Result<Norm, EndpointError> {
    let err = |table: &str, what: String| q_err(endpoint, Some(table), what);
    let tables = schema.map(|s| &s.tables[..]).unwrap_or(&[]);
    let nested = schema.map(|s| &s.nested[..]).unwrap_or(&[]);
    let mut specs: Vec<Spec> = Vec::new();
    for (p, c) in &o.normalise {
        let opt = format!("normalise={p}.{c}");
        let Some(parent) = tables.iter().find(|t| &t.name == p) else {
            return Err(err(
                p,
                format!(
                    "{opt}: `{SCHEMA_FILE}` has no table `{p}`; the parent needs an entry there \
                     with a single-column primary key (an inferred table has no key)"
                ),
            ));
        };
        let spec = match nested.iter().find(|n| &n.parent == p && &n.column == c) {
            Some(n) => from_recorded(endpoint, parent, n)?,
            None => {
                let [pk] = &parent.primary_key[..] else {
                    return Err(err(
                        p,
                        format!(
                            "{opt}: table `{p}` has {} primary key columns; normalising needs \
                             exactly one, which the child rows reference",
                            parent.primary_key.len()
                        ),
                    ));
                };
                Spec {
                    parent: p.clone(),
                    column: c.clone(),
                    parent_key: pk.clone(),
                    child: format!("{p}__{c}"),
                    fk_column: format!("{p}_{pk}"),
                    recorded: None,
                }
            }
        };
        match parent.columns.iter().find(|x| &x.name == c) {
            None => return Err(err(p, format!("{opt}: table `{p}` has no column `{c}`"))),
            Some(x) if x.logical_type != LogicalType::Json => {
                return Err(err(
                    p,
                    format!(
                        "{opt}: column `{c}` is {}, not json; only a json column holds arrays",
                        x.logical_type
                    ),
                ));
            }
            Some(_) => {}
        }
        check_table_name(endpoint, &spec.child)?;
        if tables.iter().any(|t| t.name == spec.child) {
            return Err(err(
                &spec.child,
                format!(
                    "{opt}: the child table would be named `{}`, which the directory already has",
                    spec.child
                ),
            ));
        }
        specs.push(spec);
    }
    for n in &o.nest {
        if specs.iter().any(|s| &s.child == n) {
            continue;
        }
        match nested.iter().find(|x| &x.table.name == n) {
            Some(x) => {
                let Some(parent) = tables.iter().find(|t| t.name == x.parent) else {
                    return Err(err(
                        n,
                        format!("nest={n}: its parent `{}` has no schema entry", x.parent),
                    ));
                };
                specs.push(from_recorded(endpoint, parent, x)?);
            }
            // Not nested (the target skipped it with a warning): a table as it is.
            None if tables.iter().any(|t| &t.name == n) => {}
            None => {
                return Err(err(
                    n,
                    format!("nest={n}: the directory has no table `{n}`, nested or not"),
                ));
            }
        }
    }
    let mut views: Vec<TableDef> = Vec::new();
    for s in &specs {
        if views.iter().any(|v| v.name == s.parent) {
            continue;
        }
        let Some(mut v) = tables.iter().find(|t| t.name == s.parent).cloned() else {
            continue;
        };
        v.columns.retain(|c| {
            !specs
                .iter()
                .any(|x| x.parent == v.name && x.column == c.name)
        });
        views.push(v);
    }
    Ok(Norm { specs, views })
}

/// The spec of a child table a `nest=` target recorded: its foreign key to
/// the parent names the key columns.
fn from_recorded(endpoint: &str, parent: &TableDef, n: &NestedDef) -> Result<Spec, EndpointError> {
    let fk = n
        .table
        .foreign_keys
        .iter()
        .find(|f| f.ref_table == parent.name && f.columns.len() == 1 && f.ref_columns.len() == 1)
        .ok_or_else(|| {
            q_err(
                endpoint,
                Some(&n.table.name),
                format!(
                    "the nested table's entry in `{SCHEMA_FILE}` has no single-column foreign key \
                     to `{}`",
                    parent.name
                ),
            )
        })?;
    Ok(Spec {
        parent: parent.name.clone(),
        column: n.column.clone(),
        parent_key: fk.ref_columns[0].clone(),
        child: n.table.name.clone(),
        fk_column: fk.columns[0].clone(),
        recorded: Some(n.table.clone()),
    })
}

/// Calls `f` for each record of `table`, as [`for_each_record`] does for
/// its file. A child table of a normalised column has one record per array
/// element of the parent rows that read without a reject (a rejected parent
/// row keeps its array whole in its reject): the element's members after
/// `"<fk column>":<parent key>,"ordinal":<position>`.
fn table_records(
    dir: &Path,
    endpoint: &str,
    norm: &Norm,
    table: &str,
    mut f: impl FnMut(Loc, Rec<'_>) -> bool,
) -> Result<(), EndpointError> {
    let Some(spec) = norm.specs.iter().find(|s| s.child == table) else {
        let path = JsonSource::path_of(dir, endpoint, table)?;
        return for_each_record(&path, endpoint, table, f);
    };
    let Some(view) = norm.view(&spec.parent) else {
        return Err(q_err(
            endpoint,
            Some(table),
            "the parent table is not known",
        ));
    };
    let dec = Decoder::for_table(view, &norm.specs);
    let schema = view.schema();
    let mut scratch = BatchBuilder::new(&schema, 1);
    let mut head = Vec::new();
    push_json_str(&mut head, &spec.fk_column);
    head.push(b':');
    let path = JsonSource::path_of(dir, endpoint, &spec.parent)?;
    let mut rec = Vec::new();
    for_each_record(&path, endpoint, &spec.parent, |loc, r| {
        let Rec::Data(bytes) = r else { return true };
        let ok = dec.decode(&mut scratch, loc, Rec::Data(bytes)).is_ok();
        scratch.abandon_row();
        // Decoded: UTF-8, one object, the nested column null or an array of objects.
        let members = std::str::from_utf8(bytes)
            .ok()
            .filter(|_| ok)
            .and_then(|t| split_object(t).ok())
            .unwrap_or_default();
        let raw = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let (Some(key), Some(Ok(Some(elems)))) = (
            raw(&spec.parent_key),
            raw(&spec.column).map(array_of_objects),
        ) else {
            return true;
        };
        for (i, e) in elems.iter().enumerate() {
            rec.clear();
            rec.push(b'{');
            rec.extend_from_slice(&head);
            rec.extend_from_slice(key.as_bytes());
            rec.extend_from_slice(format!(",\"{ORDINAL}\":{i}").as_bytes());
            let inner = e.get(1..e.len().saturating_sub(1)).unwrap_or("").trim();
            if !inner.is_empty() {
                rec.push(b',');
                rec.extend_from_slice(inner.as_bytes());
            }
            rec.push(b'}');
            let loc = Loc {
                elem: Some(i as u64),
                ..loc
            };
            if !f(loc, Rec::Data(&rec)) {
                return false;
            }
        }
        true
    })
}

/// Infers a child table of `normalise=` from the array elements of the
/// parent's first [`INFER_SAMPLE`] records: `<fk column>` (the parent key's
/// type, NOT NULL, foreign key to the parent, ON DELETE CASCADE), `ordinal`
/// (int64, NOT NULL), then the union of the elements' keys typed as
/// [`infer_table`] types columns. Keys named like the first two are left
/// out here (their elements become `duplicate-field` rejects at read).
fn infer_child(
    dir: &Path,
    endpoint: &str,
    spec: &Spec,
    parent: &TableDef,
) -> Result<TableDef, EndpointError> {
    let Some(key) = parent.columns.iter().find(|c| c.name == spec.parent_key) else {
        return Err(q_err(
            endpoint,
            Some(&spec.parent),
            format!("no column `{}`", spec.parent_key),
        ));
    };
    let mut cols: Vec<(String, Seen)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut n = 0usize;
    let path = JsonSource::path_of(dir, endpoint, &spec.parent)?;
    for_each_record(&path, endpoint, &spec.parent, |_, rec| {
        n += 1;
        if let Rec::Data(bytes) = rec
            && let Ok(text) = std::str::from_utf8(bytes)
            && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
            && let Ok(members) = split_object(text)
            && let Some((_, v)) = members.iter().find(|(k, _)| *k == spec.column)
            && let Ok(Some(elems)) = array_of_objects(v)
        {
            for e in elems {
                for (k, v) in split_object(e).unwrap_or_default() {
                    if k == spec.fk_column || k == ORDINAL {
                        continue;
                    }
                    let i = *index.entry(k.clone()).or_insert_with(|| {
                        cols.push((k, Seen::default()));
                        cols.len() - 1
                    });
                    cols[i].1.add(v);
                }
            }
        }
        n < INFER_SAMPLE
    })?;
    let mut columns = vec![
        ColumnDef {
            name: spec.fk_column.clone(),
            declared_type: key.declared_type.clone(),
            logical_type: key.logical_type,
            nullable: false,
            default: None,
        },
        ColumnDef {
            name: ORDINAL.into(),
            declared_type: String::new(),
            logical_type: LogicalType::Int64,
            nullable: false,
            default: None,
        },
    ];
    columns.extend(cols.into_iter().map(|(name, seen)| {
        let (logical_type, declared) = seen.infer();
        ColumnDef {
            name,
            declared_type: declared.to_string(),
            logical_type,
            nullable: true,
            default: None,
        }
    }));
    Ok(TableDef {
        name: spec.child.clone(),
        columns,
        primary_key: vec![spec.fk_column.clone(), ORDINAL.into()],
        unique: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: vec![crate::model::ForeignKeyDef {
            name: format!("{}_{}_fkey", spec.child, spec.fk_column),
            columns: vec![spec.fk_column.clone()],
            ref_table: spec.parent.clone(),
            ref_columns: vec![spec.parent_key.clone()],
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        }],
    })
}

// ---------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------

/// A JSON directory read as a source.
pub struct JsonSource {
    dir: PathBuf,
    name: String,
    /// What `normalise=` and `nest=` resolved to (empty without options).
    norm: std::sync::Arc<Norm>,
}

impl JsonSource {
    /// Opens a directory written by the JSON sink or by hand (`url` is
    /// `DIR[?OPTIONS]`). A missing directory, a schema file that does not
    /// parse, or options that do not fit it are errors.
    pub async fn open(url: &str) -> Result<JsonSource, EndpointError> {
        let (dir, options) = split_url(url)?;
        let name = format!("json:{url}");
        if !dir.is_dir() {
            return Err(EndpointError::Connect {
                endpoint: name,
                reason: "no such directory".into(),
            });
        }
        let mut s = JsonSource {
            dir,
            name,
            norm: Default::default(),
        };
        let norm = s
            .blocking(move |dir, name| resolve(name, read_schema(dir, name)?.as_ref(), &options))
            .await?;
        s.norm = std::sync::Arc::new(norm);
        Ok(s)
    }

    /// Runs `f(dir, name)` on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &str) -> Result<T, EndpointError> + Send + 'static,
    ) -> Result<T, EndpointError> {
        let (dir, name) = (self.dir.clone(), self.name.clone());
        tokio::task::spawn_blocking(move || f(&dir, &name))
            .await
            .map_err(|e| join_err(&self.name, e))?
    }

    /// [`Self::blocking`] with the resolved options as a third argument.
    async fn blocking_norm<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Path, &str, &Norm) -> Result<T, EndpointError> + Send + 'static,
    ) -> Result<T, EndpointError> {
        let norm = self.norm.clone();
        self.blocking(move |dir, name| f(dir, name, &norm)).await
    }

    /// Human name for reports.
    pub fn describe(&self) -> String {
        self.name.clone()
    }

    /// The schema file's tables (in its order), then every other `.jsonl`
    /// (or `.json` array) file, inferred, by name. Files whose names cannot be
    /// table names are not tables. `_ferry_*` files are ferry's own and skipped.
    /// A parent of a normalised column is shown without it, its child table
    /// right after it (as recorded by a `nest=` target, else inferred).
    pub async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        self.blocking_norm(|dir, name, norm| {
            let mut tables = Vec::new();
            for t in read_schema(dir, name)?
                .map(|s| s.tables)
                .unwrap_or_default()
            {
                let children: Vec<&Spec> =
                    norm.specs.iter().filter(|s| s.parent == t.name).collect();
                if children.is_empty() {
                    tables.push(t);
                    continue;
                }
                tables.push(norm.view(&t.name).cloned().unwrap_or_else(|| t.clone()));
                for s in children {
                    tables.push(match &s.recorded {
                        Some(d) => d.clone(),
                        None => infer_child(dir, name, s, &t)?,
                    });
                }
            }
            let mut known: HashSet<String> = tables.iter().map(|t| t.name.clone()).collect();
            for s in &norm.specs {
                known.remove(&s.child);
            }
            let mut files = Vec::new();
            let entries =
                fs::read_dir(dir).map_err(|e| io_err(name, None, "cannot list", dir, e))?;
            for e in entries {
                let e = e.map_err(|e| io_err(name, None, "cannot list", dir, e))?;
                let file = e.file_name();
                let Some(file) = file.to_str() else {
                    tracing::warn!(endpoint = name, file = ?file, "file name is not UTF-8; not read as a table");
                    continue;
                };
                let stem = file
                    .strip_suffix(".jsonl")
                    .or_else(|| file.strip_suffix(".json"));
                let Some(stem) = stem.filter(|s| {
                    file != SCHEMA_FILE && !s.starts_with("_ferry_") && !known.contains(*s)
                }) else {
                    continue;
                };
                if let Err(why) = check_table_name(name, stem) {
                    tracing::warn!(endpoint = name, file, "not read as a table: {why}");
                } else if e.path().is_file() {
                    files.push(stem.to_string());
                }
            }
            files.sort();
            files.dedup(); // `t.jsonl` and `t.json`: one table, read from `t.jsonl`
            if let Some(s) = norm.specs.iter().find(|s| files.contains(&s.child)) {
                return Err(q_err(
                    name,
                    Some(&s.child),
                    format!(
                        "normalising `{}.{}` makes a table `{}`, but the directory has a file of \
                         that name; rename one of them",
                        s.parent, s.column, s.child
                    ),
                ));
            }
            for f in files {
                let path = Self::path_of(dir, name, &f)?;
                tables.push(infer_table(&path, name, &f)?);
            }
            Ok(tables)
        })
        .await
    }

    /// The data file of a table: `<table>.jsonl`, else `<table>.json` when
    /// only that exists.
    fn path_of(dir: &Path, name: &str, table: &str) -> Result<PathBuf, EndpointError> {
        check_table_name(name, table)?;
        let lines = dir.join(format!("{table}.jsonl"));
        let array = dir.join(format!("{table}.json"));
        Ok(if !lines.exists() && array.exists() {
            array
        } else {
            lines
        })
    }

    /// Records in a table's file (blank lines are not records); for the
    /// child table of a normalised column, the elements it reads as rows.
    pub async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        let table = table.to_string();
        self.blocking_norm(move |dir, name, norm| {
            let mut n = 0u64;
            table_records(dir, name, norm, &table, |_, _| {
                n += 1;
                true
            })?;
            Ok(n)
        })
        .await
    }

    /// Streams `table` into `tx` in file order (the order the sink wrote, which
    /// is the source's key order); stops early when the receiver is dropped.
    /// At most `batch_size` rows and `batch_size` rejects are held per batch.
    pub async fn read(
        &self,
        table: &TableDef,
        batch_size: usize,
        tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        let (table, tx) = (table.clone(), tx.clone());
        let batch_size = batch_size.max(1);
        self.blocking_norm(move |dir, name, norm| {
            let schema = table.schema();
            let dec = Decoder::for_table(&table, &norm.specs);
            let mut b = BatchBuilder::new(&schema, batch_size);
            let mut rejects = Vec::new();
            let (mut in_batch, mut open) = (0u64, true);
            table_records(dir, name, norm, &table.name, |loc, rec| {
                in_batch += 1;
                match dec.decode(&mut b, loc, rec) {
                    Ok(()) => b.end_row(),
                    Err(r) => {
                        b.abandon_row();
                        rejects.push(*r);
                    }
                }
                if b.len() >= batch_size || rejects.len() >= batch_size {
                    open = tx
                        .blocking_send(ReadBatch {
                            batch: b.finish(),
                            rejects: std::mem::take(&mut rejects),
                            rows_read: std::mem::take(&mut in_batch),
                            position: None,
                            cursor: None,
                        })
                        .is_ok();
                }
                open
            })?;
            if open && in_batch > 0 {
                let _ = tx.blocking_send(ReadBatch {
                    batch: b.finish(),
                    rejects,
                    rows_read: in_batch,
                    position: None,
                    cursor: None,
                });
            }
            Ok(())
        })
        .await
    }

    /// Rows in `_ferry_rejects.jsonl` per run and table; empty when there is
    /// no such file. Holds one `(run, table, key)` per reject: memory is
    /// bounded by the number of rejects, which is fine (they are few, and the
    /// database sources hold the same).
    pub async fn quarantined(&self) -> Result<Vec<super::QuarantineCount>, EndpointError> {
        self.blocking(|dir, name| {
            let path = dir.join(REJECTS_FILE);
            let mut rows = Vec::new();
            let mut bad: Option<String> = None;
            for_each_record(&path, name, REJECTS_FILE, |loc, rec| {
                let parsed = match rec {
                    Rec::Data(b) => serde_json::from_slice::<RejectLine>(b).ok(),
                    Rec::TooLong { .. } => None,
                };
                match parsed {
                    Some(r) => rows.push((r.run_id, r.table, r.source_key)),
                    None => bad = Some(format!("{} {loc} is not a reject record", path.display())),
                }
                bad.is_none()
            })?;
            if let Some(why) = bad {
                return Err(q_err(name, Some(REJECTS_FILE), why));
            }
            rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            Ok(super::group_quarantine(rows))
        })
        .await
    }

    /// Samples the first `sample` records: average line size and, per
    /// column, values that would be quarantined and the first reason.
    pub async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        let table = table.clone();
        self.blocking_norm(move |dir, name, norm| {
            let schema = table.schema();
            let mut b = BatchBuilder::new(&schema, 1);
            let dec = Decoder::for_table(&table, &norm.specs);
            let mut mismatches: Vec<(String, u64, String)> = Vec::new();
            let mut note = |col: &str, why: String| match mismatches.iter_mut().find(|m| m.0 == col)
            {
                Some(m) => m.1 += 1,
                None => mismatches.push((col.to_string(), 1, why)),
            };
            let (mut sampled, mut bytes) = (0u64, 0u64);
            table_records(dir, name, norm, &table.name, |_, rec| {
                if sampled >= sample as u64 {
                    return false;
                }
                sampled += 1;
                let data = match rec {
                    Rec::Data(d) => d,
                    Rec::TooLong { bytes: n, .. } => {
                        bytes += n;
                        note("(line)", format!("a line of {n} bytes is over the limit"));
                        return true;
                    }
                };
                bytes += data.len() as u64;
                let members = std::str::from_utf8(data)
                    .ok()
                    .filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
                    .and_then(|t| split_object(t).ok());
                let Some(members) = members else {
                    note("(line)", "a line is not a JSON object".into());
                    return true;
                };
                for (k, v) in members {
                    if dec.nested.contains(&k.as_str()) {
                        if let Err(why) = array_of_objects(v) {
                            note(&k, format!("holds {why}, not an array of objects"));
                        }
                        continue;
                    }
                    let Some(&i) = dec.index.get(k.as_str()) else {
                        note(&k, "the key is not a column (unknown-column)".into());
                        continue;
                    };
                    let col = &table.columns[i];
                    let r = if v == "null" {
                        if col.nullable {
                            Ok(())
                        } else {
                            Err("null in a NOT NULL column".to_string())
                        }
                    } else {
                        decode_value(&mut b, i, col.logical_type, v)
                    };
                    if let Err(why) = r {
                        note(&col.name, why);
                    }
                }
                b.abandon_row();
                true
            })?;
            Ok(TableProfile {
                sampled,
                avg_row_bytes: bytes.checked_div(sampled).unwrap_or(0),
                mismatches,
                orphans: Vec::new(),
            })
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------

/// One line of `_ferry_rejects.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
struct RejectLine {
    run_id: String,
    table: String,
    source_key: Option<String>,
    stage: String,
    plugin: Option<String>,
    column: Option<String>,
    code: String,
    reason: String,
    row: serde_json::Value,
    rejected_at: String,
}

/// Opens a file `prepare` created, for appending. Each table's writer opens
/// its own sink (see `migrate`), so files are opened on first write.
fn open_append(endpoint: &str, table: &str, path: &Path) -> Result<File, EndpointError> {
    OpenOptions::new().append(true).open(path).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            " (the sink was not prepared, or the file was removed during the run)"
        } else {
            ""
        };
        q_err(
            endpoint,
            Some(table),
            format!("cannot open {}: {e}{hint}", path.display()),
        )
    })
}

/// Now, as the quarantine file's `rejected_at` (UTC, RFC 3339).
fn now_text() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    temporal::format_timestamptz(micros)
}

/// A JSON directory written as a sink.
pub struct JsonSink {
    dir: PathBuf,
    name: String,
    /// Open data files by target table name, appended to batch by batch.
    files: HashMap<String, BufWriter<File>>,
    rejects: Option<BufWriter<File>>,
    /// `nest=`: child tables folded into their parent's file in `finish`.
    nest: Vec<String>,
}

impl JsonSink {
    /// Opens (creating it if missing) the target directory (`url` is
    /// `DIR[?nest=…]`; `normalise=` is a source option and refused here).
    pub async fn connect(url: &str) -> Result<JsonSink, EndpointError> {
        let (dir, options) = split_url(url)?;
        if !options.normalise.is_empty() {
            return Err(EndpointError::BadUrl {
                url: format!("json:{url}"),
                reason: "`normalise=` applies to a json source; a json target takes \
                         `nest=CHILD_TABLE`"
                    .into(),
            });
        }
        let name = format!("json:{url}");
        tokio::task::block_in_place(|| fs::create_dir_all(&dir)).map_err(|e| {
            EndpointError::Connect {
                endpoint: name.clone(),
                reason: format!("cannot create the directory: {e}"),
            }
        })?;
        Ok(JsonSink {
            dir,
            name,
            files: HashMap::new(),
            rejects: None,
            nest: options.nest,
        })
    }

    /// Human name for reports.
    pub fn describe(&self) -> String {
        self.name.clone()
    }

    fn data_path(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.jsonl"))
    }

    /// Whether a table has a data file: `<table>.jsonl`, or a `<table>.json`
    /// array (which a source would read as the same table).
    fn table_exists(&self, table: &str) -> bool {
        check_table_name(&self.name, table).is_ok()
            && (self.data_path(table).exists() || self.array_path(table).exists())
    }

    fn array_path(&self, table: &str) -> PathBuf {
        self.dir.join(format!("{table}.json"))
    }

    /// The names among `names` that already have a data file.
    pub async fn existing_tables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        Ok(names
            .iter()
            .filter(|n| self.table_exists(n))
            .cloned()
            .collect())
    }

    /// Refuses existing tables unless `IfExists::Drop` (then truncates them and
    /// drops their old quarantine records), creates the data files and writes
    /// `_schema.json` (merged with the entries of other tables already there).
    pub async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        tokio::task::block_in_place(|| self.prepare_blocking(tables, if_exists))
    }

    fn prepare_blocking(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        for t in tables {
            check_table_name(&self.name, &t.def.name)?;
        }
        for n in &self.nest {
            nest_plan(&self.name, n, tables)?;
        }
        let mut dropped = HashSet::new();
        for t in tables {
            if self.table_exists(&t.def.name) {
                match if_exists {
                    IfExists::Fail => {
                        return Err(EndpointError::TargetExists {
                            endpoint: self.name.clone(),
                            table: t.def.name.clone(),
                        });
                    }
                    IfExists::Drop => {
                        dropped.insert(t.source.name.clone());
                        let array = self.array_path(&t.def.name);
                        if array.exists() {
                            fs::remove_file(&array).map_err(|e| {
                                io_err(&self.name, Some(&t.def.name), "cannot remove", &array, e)
                            })?;
                        }
                    }
                }
            }
        }
        if !dropped.is_empty() {
            self.purge_rejects(&dropped)?;
        }
        let mut schema = read_schema(&self.dir, &self.name)?.unwrap_or(SchemaFile {
            format: FORMAT.into(),
            version: VERSION,
            tables: Vec::new(),
            nested: Vec::new(),
        });
        schema
            .tables
            .retain(|old| !tables.iter().any(|t| t.def.name == old.name));
        schema.nested.retain(|n| {
            !tables
                .iter()
                .any(|t| t.def.name == n.parent || t.def.name == n.table.name)
        });
        schema.tables.extend(tables.iter().map(|t| t.def.clone()));
        self.write_schema(&schema)?;
        for t in tables {
            let path = self.data_path(&t.def.name);
            File::create(&path)
                .map_err(|e| io_err(&self.name, Some(&t.def.name), "cannot create", &path, e))?;
        }
        let path = self.dir.join(REJECTS_FILE);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&self.name, None, "cannot create", &path, e))?;
        Ok(())
    }

    /// Writes `path` atomically: a temporary file in the same directory, then a rename.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), EndpointError> {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let e = |what: &str, p: &Path, e: io::Error| io_err(&self.name, None, what, p, e);
        fs::write(&tmp, bytes).map_err(|x| e("cannot write", &tmp, x))?;
        fs::rename(&tmp, path).map_err(|x| e("cannot replace", path, x))
    }

    fn write_schema(&self, schema: &SchemaFile) -> Result<(), EndpointError> {
        let mut text = serde_json::to_vec_pretty(schema)
            .map_err(|e| q_err(&self.name, None, format!("cannot encode the schema: {e}")))?;
        text.push(b'\n');
        self.write_atomic(&self.dir.join(SCHEMA_FILE), &text)
    }

    /// Removes the quarantine records of replaced tables (they described the
    /// replaced data), rewriting the file atomically. Records that do not
    /// parse are kept as they are.
    /// After a batch: the lengths of the table's file and of the quarantine
    /// file (both flushed by `write`), as JSON — what a checkpoint in a
    /// separate ledger records, and what resume truncates back to.
    pub fn offsets(&self, table: &str) -> Result<String, EndpointError> {
        let len = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(serde_json::json!({
            "table": len(&self.data_path(table)),
            "rejects": len(&self.dir.join(REJECTS_FILE)),
        })
        .to_string())
    }

    /// Resume: cuts the table's file back to the length a checkpoint
    /// recorded (`None`: to nothing), and the quarantine file to `rejects`
    /// (what the newest checkpoint recorded), dropping what was written
    /// after the last checkpoint.
    pub fn truncate_back(
        &mut self,
        table: &str,
        table_len: Option<u64>,
        rejects: Option<u64>,
    ) -> Result<(), EndpointError> {
        self.files.remove(table);
        self.rejects = None;
        let cut = |path: &Path, len: u64| -> Result<(), EndpointError> {
            if !path.exists() {
                return Ok(());
            }
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(len))
                .map_err(|e| io_err(&self.name, Some(table), "cannot truncate", path, e))
        };
        cut(&self.data_path(table), table_len.unwrap_or(0))?;
        if let Some(r) = rejects {
            cut(&self.dir.join(REJECTS_FILE), r)?;
        }
        Ok(())
    }

    /// A table file's rows and SHA-256 (`None` when it does not exist).
    pub fn table_checksum(&self, table: &str) -> Result<Option<(u64, String)>, EndpointError> {
        use sha2::{Digest, Sha256};
        let path = self.data_path(table);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = fs::read(&path)
            .map_err(|e| io_err(&self.name, Some(table), "cannot read", &path, e))?;
        let rows = bytes.iter().filter(|b| **b == b'\n').count() as u64;
        Ok(Some((rows, hex::encode(Sha256::digest(&bytes)))))
    }

    /// A copy of every file of the directory (tables, `_schema.json`, the
    /// quarantine file) in `.ferry-backup-RUN8/`, taken before a run
    /// replaces tables; its path.
    pub fn backup_files(&self, run_id: &str) -> Result<String, EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let dest = self.dir.join(format!(".ferry-backup-{short}"));
        let e = |p: &Path, err: io::Error| io_err(&self.name, None, "cannot back up", p, err);
        fs::create_dir_all(&dest).map_err(|x| e(&dest, x))?;
        for ent in fs::read_dir(&self.dir).map_err(|x| e(&self.dir, x))? {
            let ent = ent.map_err(|x| e(&self.dir, x))?;
            if ent.file_type().map(|t| t.is_file()).unwrap_or(false) {
                fs::copy(ent.path(), dest.join(ent.file_name())).map_err(|x| e(&ent.path(), x))?;
            }
        }
        Ok(dest.to_string_lossy().into_owned())
    }

    /// Rollback: the directory's files as the backup holds them (files the
    /// run created are removed), or — without a backup — the table's file
    /// removed and the rest left.
    pub fn restore_files(
        &mut self,
        table: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        self.files.clear();
        self.rejects = None;
        let e =
            |p: &Path, err: io::Error| io_err(&self.name, Some(table), "cannot restore", p, err);
        match backup {
            Some(b) => {
                let b = PathBuf::from(b);
                for ent in fs::read_dir(&self.dir).map_err(|x| e(&self.dir, x))? {
                    let ent = ent.map_err(|x| e(&self.dir, x))?;
                    if ent.file_type().map(|t| t.is_file()).unwrap_or(false) {
                        fs::remove_file(ent.path()).map_err(|x| e(&ent.path(), x))?;
                    }
                }
                for ent in fs::read_dir(&b).map_err(|x| e(&b, x))? {
                    let ent = ent.map_err(|x| e(&b, x))?;
                    fs::copy(ent.path(), self.dir.join(ent.file_name()))
                        .map_err(|x| e(&ent.path(), x))?;
                }
            }
            None => {
                for p in [self.data_path(table), self.array_path(table)] {
                    if p.exists() {
                        fs::remove_file(&p).map_err(|x| e(&p, x))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes a run's lines from the quarantine file.
    pub fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        self.rejects = None;
        let path = self.dir.join(REJECTS_FILE);
        if !path.exists() {
            return Ok(());
        }
        let text = fs::read(&path)
            .map_err(|e| io_err(&self.name, Some(REJECTS_FILE), "cannot read", &path, e))?;
        let mut kept = Vec::with_capacity(text.len());
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let mine = serde_json::from_slice::<RejectLine>(line).is_ok_and(|r| r.run_id == run_id);
            if !mine {
                kept.extend_from_slice(line);
                kept.push(b'\n');
            }
        }
        fs::write(&path, kept)
            .map_err(|e| io_err(&self.name, Some(REJECTS_FILE), "cannot write", &path, e))
    }

    fn purge_rejects(&self, tables: &HashSet<String>) -> Result<(), EndpointError> {
        let path = self.dir.join(REJECTS_FILE);
        if !path.exists() {
            return Ok(());
        }
        let mut kept = Vec::new();
        let mut failed = None;
        for_each_record(&path, &self.name, REJECTS_FILE, |loc, rec| {
            match rec {
                Rec::Data(b) => {
                    let drop = serde_json::from_slice::<RejectLine>(b)
                        .is_ok_and(|r| tables.contains(&r.table));
                    if !drop {
                        kept.extend_from_slice(b);
                        kept.push(b'\n');
                    }
                }
                Rec::TooLong { .. } => failed = Some(loc),
            }
            failed.is_none()
        })?;
        if let Some(loc) = failed {
            return Err(q_err(
                &self.name,
                Some(REJECTS_FILE),
                format!(
                    "{} {loc} is too long to keep; nothing was removed",
                    path.display()
                ),
            ));
        }
        self.write_atomic(&path, &kept)
    }

    /// Appends the batch's rows and the rejects, then flushes both (to the
    /// operating system, which survives a crash of ferry, not of the
    /// machine). Rows whose values the format cannot hold become `write`
    /// rejects in the quarantine file.
    pub async fn write(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
    ) -> Result<WriteOutcome, EndpointError> {
        tokio::task::block_in_place(|| self.write_blocking(run_id, table, batch, rejects))
    }

    fn write_blocking(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
    ) -> Result<WriteOutcome, EndpointError> {
        let tname = table.def.name.as_str();
        let schema = table.def.schema();
        let mut lines = Vec::with_capacity(batch.num_rows * 64);
        let mut sink_rejects = Vec::new();
        for row in 0..batch.num_rows {
            if let Err((col, why)) = encode_row(&mut lines, &schema, batch, row) {
                sink_rejects.push(Reject {
                    table: table.source.name.clone(),
                    source_key: batch.source_key(&schema, &table.source.primary_key, row),
                    stage: Stage::Write,
                    plugin: None,
                    column: Some(schema.columns[col].name.clone()),
                    code: "unrepresentable".into(),
                    reason: format!("column `{}`: {why}", schema.columns[col].name),
                    row: batch.row_json(&schema, row),
                });
            }
        }
        let path = self.data_path(tname);
        let name = self.name.clone();
        if !self.files.contains_key(tname) {
            let f = open_append(&name, tname, &path)?;
            self.files
                .insert(tname.to_string(), BufWriter::with_capacity(1 << 16, f));
        }
        let Some(w) = self.files.get_mut(tname) else {
            return Err(q_err(&name, Some(tname), "the table's file is not open"));
        };
        w.write_all(&lines)
            .and_then(|_| w.flush())
            .map_err(|e| io_err(&name, Some(tname), "cannot write", &path, e))?;
        let mut rej = Vec::new();
        let now = now_text();
        for r in rejects.iter().chain(&sink_rejects) {
            let line = RejectLine {
                run_id: run_id.to_string(),
                table: r.table.clone(),
                source_key: r.source_key.clone(),
                stage: r.stage.name().to_string(),
                plugin: r.plugin.clone(),
                column: r.column.clone(),
                code: r.code.clone(),
                reason: r.reason.clone(),
                row: r.row.clone(),
                rejected_at: now.clone(),
            };
            serde_json::to_writer(&mut rej, &line)
                .map_err(|e| q_err(&name, Some(REJECTS_FILE), e))?;
            rej.push(b'\n');
        }
        if !rej.is_empty() {
            let rpath = self.dir.join(REJECTS_FILE);
            if self.rejects.is_none() {
                self.rejects = Some(BufWriter::new(open_append(&name, REJECTS_FILE, &rpath)?));
            }
            let Some(w) = self.rejects.as_mut() else {
                return Err(q_err(
                    &name,
                    Some(REJECTS_FILE),
                    "the quarantine file is not open",
                ));
            };
            w.write_all(&rej)
                .and_then(|_| w.flush())
                .map_err(|e| io_err(&name, Some(REJECTS_FILE), "cannot write", &rpath, e))?;
        }
        Ok(WriteOutcome {
            written: (batch.num_rows - sink_rejects.len()) as u64,
            rejected: sink_rejects,
        })
    }

    /// Closes the files, then applies the keys recorded in `_schema.json` the
    /// way a database sink creates them, tables in dependency order: rows
    /// that repeat a primary key or unique value (the first loaded row is
    /// kept) and then rows whose foreign key matches no parent row are moved
    /// from the table's file to the quarantine file under `run_id` (codes
    /// `duplicate-key`, `fk-orphan`), counted per source table. Tables whose
    /// files are over `FK_CHECK_MAX_BYTES` (256 MiB) are not checked (a warning says so).
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<super::Finished, EndpointError> {
        tokio::task::block_in_place(|| self.finish_blocking(run_id, tables))
    }

    fn finish_blocking(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<super::Finished, EndpointError> {
        for (t, mut w) in self.files.drain() {
            w.flush()
                .map_err(|e| q_err(&self.name, Some(&t), format!("cannot flush: {e}")))?;
        }
        if let Some(mut w) = self.rejects.take() {
            w.flush()
                .map_err(|e| q_err(&self.name, Some(REJECTS_FILE), format!("cannot flush: {e}")))?;
        }
        let mut created = Vec::new();
        let mut warnings = Vec::new();
        let mut quarantined = Vec::new();
        for t in tables {
            let d = &t.def;
            match self.enforce_keys(run_id, t)? {
                Enforced::Moved(0) => {}
                Enforced::Moved(n) => quarantined.push((t.source.name.clone(), n)),
                Enforced::TooLarge(what) => warnings.push(format!(
                    "table `{}`: keys and foreign keys not checked: {what} is over {} MiB",
                    d.name,
                    FK_CHECK_MAX_BYTES >> 20
                )),
            }
            if !d.primary_key.is_empty() {
                created.push(format!("primary key {}", d.name));
            }
            created.extend(d.unique.iter().map(|u| format!("unique {}", u.name)));
            created.extend(d.indexes.iter().map(|i| format!("index {}", i.name)));
            created.extend(
                d.foreign_keys
                    .iter()
                    .map(|f| format!("foreign key {}", f.name)),
            );
        }
        for n in &self.nest {
            let p = nest_plan(&self.name, n, tables)?;
            let into = format!("`{}.{}`", p.parent.def.name, p.column);
            match self.nest_one(&p, NEST_MAX_BYTES)? {
                None => tracing::info!(endpoint = self.name, "nested `{n}` into {into}"),
                Some(why) => warnings.push(format!(
                    "table `{n}` not nested into {into}: {why}; it stays a table of its own"
                )),
            }
        }
        Ok(super::Finished {
            created,
            warnings,
            quarantined,
        })
    }

    /// Moves the rows of `t` that violate its keys to the quarantine file.
    /// Key values compare as their JSON text, which this sink writes in one
    /// canonical form per type (so `1.0` and `1.00` decimals are distinct).
    fn enforce_keys(&self, run_id: &str, t: &TargetTable) -> Result<Enforced, EndpointError> {
        let d = &t.def;
        let path = self.data_path(&d.name);
        let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if size(&path) > FK_CHECK_MAX_BYTES {
            return Ok(Enforced::TooLarge(format!("`{}`", path.display())));
        }
        // Key constraints: the primary key, unique constraints, unique indexes.
        let mut keys: Vec<(String, &[String])> = Vec::new();
        if !d.primary_key.is_empty() {
            keys.push((format!("primary key of `{}`", d.name), &d.primary_key));
        }
        keys.extend(
            d.unique
                .iter()
                .map(|u| (format!("unique constraint `{}`", u.name), &u.columns[..])),
        );
        keys.extend(
            d.indexes
                .iter()
                .filter(|i| i.unique)
                .map(|i| (format!("unique index `{}`", i.name), &i.columns[..])),
        );
        // Parent key sets, from the parents' files as already checked
        // (parents come first). A parent outside this run is read as it is.
        let mut parents = Vec::new();
        for fk in &d.foreign_keys {
            let ppath = self.data_path(&fk.ref_table);
            if check_table_name(&self.name, &fk.ref_table).is_err() || !ppath.exists() {
                parents.push(None);
                continue;
            }
            if size(&ppath) > FK_CHECK_MAX_BYTES {
                return Ok(Enforced::TooLarge(format!("`{}`", ppath.display())));
            }
            let mut set = HashSet::new();
            for_each_record(&ppath, &self.name, &fk.ref_table, |_, rec| {
                if let Rec::Data(b) = rec
                    && let Some(k) = key_texts(b, &fk.ref_columns)
                {
                    set.insert(k);
                }
                true
            })?;
            parents.push(Some(set));
        }
        if keys.is_empty() && parents.iter().all(Option::is_none) {
            return Ok(Enforced::Moved(0));
        }
        // One pass: which records move, and why.
        let mut seen: Vec<HashSet<Vec<String>>> = vec![HashSet::new(); keys.len()];
        let mut moves: HashMap<u64, (String, String, String)> = HashMap::new();
        for_each_record(&path, &self.name, &d.name, |loc, rec| {
            let Rec::Data(b) = rec else { return true };
            let Some(members) = std::str::from_utf8(b)
                .ok()
                .and_then(|t| split_object(t).ok())
            else {
                return true;
            };
            let tuples: Vec<Option<Vec<String>>> = keys
                .iter()
                .map(|(_, cols)| member_texts(&members, cols))
                .collect();
            let dup = tuples
                .iter()
                .zip(&seen)
                .position(|(k, s)| k.as_ref().is_some_and(|k| s.contains(k)));
            if let Some(i) = dup {
                let (what, cols) = &keys[i];
                let vals = tuples[i].as_ref().map(|v| v.join(", ")).unwrap_or_default();
                moves.insert(
                    loc.n,
                    (
                        "duplicate-key".into(),
                        cols.join(","),
                        format!(
                            "duplicate value for the {what}: ({})=({vals}); the first loaded row is kept",
                            cols.join(", ")
                        ),
                    ),
                );
                return true;
            }
            for (k, s) in tuples.into_iter().zip(seen.iter_mut()) {
                s.extend(k);
            }
            for (fk, set) in d.foreign_keys.iter().zip(&parents) {
                let Some(set) = set else { continue };
                if let Some(k) = member_texts(&members, &fk.columns)
                    && !set.contains(&k)
                {
                    moves.insert(
                        loc.n,
                        (
                            "fk-orphan".into(),
                            fk.columns.join(","),
                            format!(
                                "foreign key `{}`: no `{}` row has ({})=({})",
                                fk.name,
                                fk.ref_table,
                                fk.ref_columns.join(", "),
                                k.join(", ")
                            ),
                        ),
                    );
                    break;
                }
            }
            true
        })?;
        if moves.is_empty() {
            return Ok(Enforced::Moved(0));
        }
        // Rewrite: kept lines to a temporary file, moved ones to the
        // quarantine file. The quarantine records are flushed before the
        // rename, so a crash in between leaves a row twice, never nowhere.
        let now = now_text();
        let (mut kept, mut rej) = (Vec::new(), Vec::new());
        for_each_record(&path, &self.name, &d.name, |loc, rec| {
            let Rec::Data(b) = rec else { return true };
            match moves.get(&loc.n) {
                None => {
                    kept.extend_from_slice(b);
                    kept.push(b'\n');
                }
                Some((code, column, reason)) => {
                    let row: serde_json::Value = serde_json::from_slice(b)
                        .unwrap_or_else(|_| String::from_utf8_lossy(b).into_owned().into());
                    let source_key = key_texts(b, &t.source.primary_key)
                        .filter(|_| !t.source.primary_key.is_empty())
                        .map(|k| {
                            k.iter()
                                .map(|v| {
                                    serde_json::from_str::<serde_json::Value>(v)
                                        .map(|v| v.to_string())
                                        .unwrap_or_else(|_| v.clone())
                                })
                                .collect::<Vec<_>>()
                                .join(",")
                        });
                    let line = RejectLine {
                        run_id: run_id.to_string(),
                        table: t.source.name.clone(),
                        source_key,
                        stage: Stage::Write.name().to_string(),
                        plugin: None,
                        column: Some(column.clone()),
                        code: code.clone(),
                        reason: reason.clone(),
                        row,
                        rejected_at: now.clone(),
                    };
                    if serde_json::to_writer(&mut rej, &line).is_ok() {
                        rej.push(b'\n');
                    }
                }
            }
            true
        })?;
        let rpath = self.dir.join(REJECTS_FILE);
        let mut w = open_append(&self.name, REJECTS_FILE, &rpath)?;
        w.write_all(&rej)
            .and_then(|_| w.flush())
            .map_err(|e| io_err(&self.name, Some(REJECTS_FILE), "cannot write", &rpath, e))?;
        self.write_atomic(&path, &kept)?;
        Ok(Enforced::Moved(moves.len() as u64))
    }
}

impl JsonSink {
    /// Folds a child table into its parent's file (see [`nest_plan`]):
    /// `Ok(Some(why))` when it cannot be done exactly (then nothing changed).
    /// The child rows, at most `max` bytes of them, are grouped in memory by
    /// parent key; the parent file streams into a temporary file with the
    /// arrays added, which replaces it; then `_schema.json` records the
    /// nesting and the child file is removed. A crash in between leaves
    /// rows twice (in the parent's array and the child file), never nowhere.
    fn nest_one(&self, p: &NestPlan<'_>, max: u64) -> Result<Option<String>, EndpointError> {
        let (child, parent) = (&p.child.def, &p.parent.def);
        let (cpath, ppath) = (self.data_path(&child.name), self.data_path(&parent.name));
        let size = fs::metadata(&cpath).map(|m| m.len()).unwrap_or(0);
        if size > max {
            return Ok(Some(format!(
                "`{}` is over {} MiB (the rows are grouped in memory)",
                cpath.display(),
                max >> 20
            )));
        }
        let (fk_col, key_col) = (&p.fk.columns[0], &p.fk.ref_columns[0]);
        // Child rows by parent key text: (ordinal, object without the key and ordinal).
        let mut groups: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        let mut why = None;
        for_each_record(&cpath, &self.name, &child.name, |loc, rec| {
            let members = match rec {
                Rec::Data(b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| split_object(t).ok()),
                Rec::TooLong { .. } => None,
            };
            let Some(members) = members else {
                why = Some(format!("{loc} is not a JSON object"));
                return false;
            };
            let get = |n: &str| members.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
            let key = get(fk_col).filter(|v| *v != "null");
            let ord = get(ORDINAL).and_then(|v| v.parse::<i64>().ok());
            let (Some(key), Some(ord)) = (key, ord) else {
                why = Some(format!("{loc} has a null `{fk_col}` or `{ORDINAL}`"));
                return false;
            };
            let mut obj = vec![b'{'];
            for (k, v) in &members {
                // NULL and a missing key are the same in a table: neither is written.
                if k == fk_col || k == ORDINAL || *v == "null" {
                    continue;
                }
                if obj.len() > 1 {
                    obj.push(b',');
                }
                push_json_str(&mut obj, k);
                obj.push(b':');
                obj.extend_from_slice(v.as_bytes());
            }
            obj.push(b'}');
            groups
                .entry(key.to_string())
                .or_default()
                .push((ord, String::from_utf8_lossy(&obj).into_owned()));
            true
        })?;
        if let Some(why) = why {
            return Ok(Some(why));
        }
        for (key, g) in &mut groups {
            g.sort_by_key(|(o, _)| *o);
            if g.iter().enumerate().any(|(i, (o, _))| *o != i as i64) {
                return Ok(Some(format!(
                    "the `{ORDINAL}` values of parent key {} are not 0, 1, 2, …, so array \
                     positions would not give them back",
                    shown(key)
                )));
            }
        }
        let tmp = ppath.with_extension(format!("tmp-{}", std::process::id()));
        let e = |what: &str, path: &Path, e: io::Error| {
            io_err(&self.name, Some(&parent.name), what, path, e)
        };
        let mut w = BufWriter::new(File::create(&tmp).map_err(|x| e("cannot create", &tmp, x))?);
        let mut head = Vec::new();
        push_json_str(&mut head, &p.column);
        head.extend_from_slice(b":[");
        let mut failed: Option<io::Error> = None;
        let mut line = Vec::new();
        for_each_record(&ppath, &self.name, &parent.name, |_, rec| {
            let b = match rec {
                Rec::Data(b) => b.trim_ascii_end(),
                Rec::TooLong { .. } => b"",
            };
            let Some(body) = b.strip_suffix(b"}") else {
                failed = Some(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a line is not an object",
                ));
                return false;
            };
            let kids = key_texts(b, std::slice::from_ref(key_col))
                .and_then(|k| groups.remove(&k[0]))
                .unwrap_or_default();
            line.clear();
            line.extend_from_slice(body);
            if body.trim_ascii() != b"{" {
                line.push(b',');
            }
            line.extend_from_slice(&head);
            for (i, (_, obj)) in kids.iter().enumerate() {
                if i > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(obj.as_bytes());
            }
            line.extend_from_slice(b"]}\n");
            if let Err(x) = w.write_all(&line) {
                failed = Some(x);
            }
            failed.is_none()
        })?;
        let flushed = w.flush();
        drop(w);
        let done = match (failed, flushed) {
            (Some(x), _) | (None, Err(x)) => Err(e("cannot rewrite", &ppath, x)),
            (None, Ok(())) if !groups.is_empty() => Ok(Some(format!(
                "{} parent key(s) of `{}` match no `{}` row",
                groups.len(),
                child.name,
                parent.name
            ))),
            (None, Ok(())) => Ok(None),
        };
        if !matches!(done, Ok(None)) {
            let _ = fs::remove_file(&tmp);
            return done;
        }
        fs::rename(&tmp, &ppath).map_err(|x| e("cannot replace", &ppath, x))?;
        let mut schema = read_schema(&self.dir, &self.name)?.unwrap_or(SchemaFile {
            format: FORMAT.into(),
            version: VERSION,
            tables: Vec::new(),
            nested: Vec::new(),
        });
        if let Some(t) = schema.tables.iter_mut().find(|t| t.name == parent.name) {
            t.columns.push(ColumnDef {
                name: p.column.clone(),
                declared_type: String::new(),
                logical_type: LogicalType::Json,
                nullable: false,
                default: None,
            });
        }
        schema.tables.retain(|t| t.name != child.name);
        schema.nested.retain(|n| n.table.name != child.name);
        schema.nested.push(NestedDef {
            parent: parent.name.clone(),
            column: p.column.clone(),
            table: child.clone(),
        });
        self.write_schema(&schema)?;
        fs::remove_file(&cpath).map_err(|x| e("cannot remove", &cpath, x))?;
        Ok(None)
    }
}

/// A `nest=` table and where it goes, as [`nest_plan`] found it.
struct NestPlan<'a> {
    child: &'a TargetTable,
    parent: &'a TargetTable,
    column: String,
    /// The child's foreign key to the parent (one column).
    fk: &'a crate::model::ForeignKeyDef,
}

/// Checks a `nest=` table against the run's tables: it is written by this
/// run, named `<parent>__<column>` with a single-column foreign key to
/// `<parent>` (also written by this run), has an int64 NOT NULL `ordinal`
/// column, and the parent has no column named `<column>` — the shape
/// `normalise=` gives, so the two are inverses.
fn nest_plan<'a>(
    endpoint: &str,
    child: &str,
    tables: &'a [TargetTable],
) -> Result<NestPlan<'a>, EndpointError> {
    let err = |why: String| q_err(endpoint, Some(child), format!("nest={child}: {why}"));
    let find = |n: &str| tables.iter().find(|t| t.def.name == n);
    let c = find(child).ok_or_else(|| err("this run writes no table of that name".into()))?;
    let Some((fk, parent, column)) = c.def.foreign_keys.iter().find_map(|fk| {
        let column = child.strip_prefix(&format!("{}__", fk.ref_table))?;
        let parent = find(&fk.ref_table)?;
        (fk.columns.len() == 1 && fk.ref_columns.len() == 1 && !column.is_empty())
            .then(|| (fk, parent, column.to_string()))
    }) else {
        return Err(err(
            "a nested table must be named PARENT__COLUMN and have a single-column foreign key \
             to PARENT, which this run also writes"
                .into(),
        ));
    };
    if !c
        .def
        .columns
        .iter()
        .any(|x| x.name == ORDINAL && x.logical_type == LogicalType::Int64 && !x.nullable)
    {
        return Err(err(format!(
            "the table needs an int64 NOT NULL `{ORDINAL}` column (the position in the array), \
             as normalise= makes"
        )));
    }
    if parent.def.columns.iter().any(|x| x.name == column) {
        return Err(err(format!(
            "`{}` already has a column `{column}`",
            parent.def.name
        )));
    }
    Ok(NestPlan {
        child: c,
        parent,
        column,
        fk,
    })
}

/// What `enforce_keys` did with one table.
enum Enforced {
    /// Rows moved to the quarantine file.
    Moved(u64),
    /// Not checked: this file is over [`FK_CHECK_MAX_BYTES`].
    TooLarge(String),
}

/// The JSON texts of `cols` in an object record; `None` when one is null or
/// missing (such a key neither collides nor references anything) or the
/// record is not an object.
fn key_texts(record: &[u8], cols: &[String]) -> Option<Vec<String>> {
    let members = split_object(std::str::from_utf8(record).ok()?).ok()?;
    member_texts(&members, cols)
}

/// The texts of `cols` among an object's members (see [`key_texts`]).
fn member_texts(members: &[(String, &str)], cols: &[String]) -> Option<Vec<String>> {
    cols.iter()
        .map(|c| {
            members
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, v)| *v)
                .filter(|v| *v != "null")
                .map(str::to_string)
        })
        .collect()
}

/// The type the JSON schema records for a column: the source's declared type
/// when the column comes unchanged from the source, else the logical type's
/// name. (`_schema.json` keeps the source's declared type as it is — empty
/// for a column a transformer made — so a database target picks its own
/// mapping from the logical type.)
pub fn column_type(source: &TableDef, c: &ColumnDef) -> String {
    source
        .columns
        .iter()
        .find(|s| {
            s.name == c.name && s.logical_type == c.logical_type && !s.declared_type.is_empty()
        })
        .map(|s| s.declared_type.clone())
        .unwrap_or_else(|| c.logical_type.name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Column;

    fn one(t: LogicalType) -> Schema {
        Schema {
            table: "t".into(),
            columns: vec![Column {
                name: "c".into(),
                logical_type: t,
                nullable: true,
            }],
        }
    }

    /// Encodes a value, decodes it back, and returns (json text, decoded batch).
    fn round_trip(t: LogicalType, push: impl FnOnce(&mut BatchBuilder)) -> (String, Batch, Batch) {
        let s = one(t);
        let mut b = BatchBuilder::new(&s, 1);
        push(&mut b);
        b.end_row();
        let orig = b.finish();
        let mut out = Vec::new();
        encode_value(&mut out, t, orig.value(0, 0)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut b = BatchBuilder::new(&s, 1);
        if text == "null" {
            b.push_null(0);
        } else {
            decode_value(&mut b, 0, t, &text).unwrap();
        }
        b.end_row();
        (text, orig, b.finish())
    }

    /// A type, how to push a value of it, and its expected JSON text.
    type Case = (
        LogicalType,
        Box<dyn FnOnce(&mut BatchBuilder)>,
        &'static str,
    );

    #[test]
    fn every_type_round_trips_exactly() {
        use LogicalType as L;
        let cases: Vec<Case> = vec![
            (L::Boolean, Box::new(|b| b.push_bool(0, true)), "true"),
            (
                L::Int64,
                Box::new(|b| b.push_int(0, i64::MIN)),
                "-9223372036854775808",
            ),
            (
                L::Float64,
                Box::new(|b| b.push_float(0, 0.1 + 0.2)),
                "0.30000000000000004",
            ),
            (L::Float64, Box::new(|b| b.push_float(0, 3.0)), "3.0"),
            (
                L::Float64,
                Box::new(|b| b.push_float(0, f64::NEG_INFINITY)),
                "\"-Infinity\"",
            ),
            (L::Float64, Box::new(|b| b.push_float(0, -0.0)), "-0.0"),
            (
                L::Decimal,
                Box::new(|b| b.push_bytes(0, b"12345678901234567890.10").unwrap()),
                "\"12345678901234567890.10\"",
            ),
            (
                L::Text,
                Box::new(|b| b.push_bytes(0, "a\"\n\0é".as_bytes()).unwrap()),
                "\"a\\\"\\n\\u0000é\"",
            ),
            (
                L::Bytes,
                Box::new(|b| b.push_bytes(0, &[0, 255, 7]).unwrap()),
                "\"AP8H\"",
            ),
            (
                L::Json,
                Box::new(|b| {
                    b.push_bytes(0, br#"{"n":1.50,"big":123456789012345678901234}"#)
                        .unwrap()
                }),
                r#"{"n":1.50,"big":123456789012345678901234}"#,
            ),
            (L::Date, Box::new(|b| b.push_date(0, -1)), "\"1969-12-31\""),
            (
                L::Time,
                Box::new(|b| b.push_int(0, 1)),
                "\"00:00:00.000001\"",
            ),
            (
                L::Timestamp,
                Box::new(|b| b.push_int(0, 0)),
                "\"1970-01-01 00:00:00\"",
            ),
            (
                L::Timestamptz,
                Box::new(|b| b.push_int(0, 1_500_000)),
                "\"1970-01-01T00:00:01.500000Z\"",
            ),
            (
                L::Uuid,
                Box::new(|b| b.push_uuid(0, &[0xab; 16])),
                "\"abababab-abab-abab-abab-abababababab\"",
            ),
            (L::Text, Box::new(|b| b.push_null(0)), "null"),
        ];
        for (t, push, want) in cases {
            let (text, orig, back) = round_trip(t, push);
            assert_eq!(text, want, "{t}");
            // Compare bits, so NaN and -0.0 count.
            match (orig.value(0, 0), back.value(0, 0)) {
                (ValueRef::Float(a), ValueRef::Float(b)) => assert_eq!(a.to_bits(), b.to_bits()),
                (a, b) => assert_eq!(a, b, "{t}"),
            }
        }
        let (text, _, back) = round_trip(L::Float64, |b| b.push_float(0, f64::NAN));
        assert_eq!(text, "\"NaN\"");
        assert!(matches!(back.value(0, 0), ValueRef::Float(f) if f.is_nan()));
    }

    #[test]
    fn json_null_document_and_whitespace() {
        let mut out = Vec::new();
        assert!(encode_value(&mut out, LogicalType::Json, ValueRef::Text(" null ")).is_err());
        encode_value(
            &mut out,
            LogicalType::Json,
            ValueRef::Text("{ \"a b\" :\n [1, 2] }"),
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a b":[1,2]}"#);
    }

    #[test]
    fn wrong_values_are_refused_not_coerced() {
        use LogicalType as L;
        let s = one(L::Int64);
        let mut b = BatchBuilder::new(&s, 1);
        for (t, raw) in [
            (L::Int64, "\"12\""),
            (L::Int64, "1.5"),
            (L::Int64, "9223372036854775808"),
            (L::Float64, "9007199254740993"),
            (L::Float64, "1e400"),
            (L::Float64, "\"nan\""),
            (L::Boolean, "1"),
            (L::Text, "5"),
            (L::Decimal, "\"1,5\""),
            (L::Bytes, "\"AP8\""),
            (L::Date, "\"2023-02-29\""),
            (L::Uuid, "\"xyz\""),
            (L::Timestamptz, "\"2024-01-01 10:00:00\""),
        ] {
            assert!(decode_value(&mut b, 0, t, raw).is_err(), "{t} {raw}");
        }
    }

    #[test]
    fn objects_split_into_exact_member_texts() {
        let m = split_object(r#" {"a": 1.50 , "b\"c":{"x":[1,"]}"]}, "d":"\u00e9"} "#).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], ("a".to_string(), "1.50"));
        assert_eq!(m[1], ("b\"c".to_string(), r#"{"x":[1,"]}"]}"#));
        assert_eq!(m[2], ("d".to_string(), r#""\u00e9""#));
        assert!(split_object("[1,2]").unwrap_err().contains("array"));
        assert!(split_object("{\"a\":").is_err());
    }

    #[test]
    fn inference_picks_the_widest_faithful_type() {
        let infer = |vals: &[&str]| {
            let mut s = Seen::default();
            vals.iter().for_each(|v| s.add(v));
            s.infer()
        };
        assert_eq!(infer(&["1", "-2", "null"]), (LogicalType::Int64, ""));
        assert_eq!(infer(&["1", "2.5"]), (LogicalType::Float64, ""));
        assert_eq!(
            infer(&["1", "99999999999999999999"]),
            (LogicalType::Decimal, "")
        );
        assert_eq!(infer(&["\"a\""]), (LogicalType::Text, ""));
        assert_eq!(infer(&["true"]), (LogicalType::Boolean, ""));
        assert_eq!(infer(&["[1]", "{}"]), (LogicalType::Json, ""));
        assert_eq!(infer(&["1", "\"a\""]), (LogicalType::Json, "mixed"));
        assert_eq!(infer(&["null"]), (LogicalType::Json, ""));
    }

    #[test]
    fn lines_are_bounded_and_split() {
        let data = b"a\r\n\nbb\nlast";
        let mut r = io::Cursor::new(&data[..]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(n) = next_line(&mut r, &mut buf, MAX_LINE).unwrap() {
            got.push((n, String::from_utf8(buf.clone()).unwrap()));
        }
        assert_eq!(
            got,
            [
                (1, "a".into()),
                (0, String::new()),
                (2, "bb".into()),
                (4, "last".into())
            ]
        );
    }

    #[test]
    fn array_items_are_split_by_depth_outside_strings() {
        let data = br#" [ {"a":"],{"} , {"b":[1,{"c":2}]},3,
 {"d":1} ] "#;
        let mut r = io::Cursor::new(&data[..]);
        let (mut buf, mut started, mut got) = (Vec::new(), false, Vec::new());
        while let Some(n) = next_item(&mut r, &mut buf, &mut started, MAX_LINE).unwrap() {
            assert_eq!(n, buf.len() as u64);
            got.push(String::from_utf8(buf.clone()).unwrap());
        }
        assert_eq!(
            got,
            [r#"{"a":"],{"}"#, r#"{"b":[1,{"c":2}]}"#, "3", r#"{"d":1}"#]
        );
        let mut empty = io::Cursor::new(&b"[]"[..]);
        let mut started = false;
        assert_eq!(
            next_item(&mut empty, &mut buf, &mut started, MAX_LINE).unwrap(),
            None
        );
        let mut bad = io::Cursor::new(&b"{}"[..]);
        let mut started = false;
        assert!(next_item(&mut bad, &mut buf, &mut started, MAX_LINE).is_err());
    }

    fn people() -> TableDef {
        let col = |name: &str, t: LogicalType, nullable: bool| ColumnDef {
            name: name.into(),
            declared_type: String::new(),
            logical_type: t,
            nullable,
            default: None,
        };
        TableDef {
            name: "people".into(),
            columns: vec![
                col("id", LogicalType::Int64, false),
                col("pad", LogicalType::Text, true),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![],
        }
    }

    /// Decodes every record of `path` with a record limit of `max` bytes:
    /// (ids of the rows, reject codes with their reasons).
    fn decode_file(path: &Path, t: &TableDef, max: usize) -> (Vec<i64>, Vec<(String, String)>) {
        let schema = t.schema();
        let dec = Decoder::new(t);
        let mut b = BatchBuilder::new(&schema, 8);
        let mut rejects = Vec::new();
        for_each_record_max(path, "json:t", &t.name, max, |loc, rec| {
            match dec.decode(&mut b, loc, rec) {
                Ok(()) => b.end_row(),
                Err(r) => {
                    b.abandon_row();
                    rejects.push((r.code, r.reason));
                }
            }
            true
        })
        .unwrap();
        let batch = b.finish();
        let ids = (0..batch.num_rows)
            .map(|i| match batch.value(i, 0) {
                ValueRef::Int(x) => x,
                other => panic!("{other:?}"),
            })
            .collect();
        (ids, rejects)
    }

    #[test]
    fn an_over_long_line_is_one_reject_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("people.jsonl");
        let long = format!("{{\"id\":2,\"pad\":\"{}\"}}", "x".repeat(5000));
        fs::write(&path, format!("{{\"id\":1}}\n{long}\n{{\"id\":3}}\n")).unwrap();
        let (ids, rejects) = decode_file(&path, &people(), 64);
        assert_eq!(ids, [1, 3]);
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].0, "line-too-long");
        assert!(rejects[0].1.starts_with("line 2:"), "{}", rejects[0].1);
        // The same limit holds for an item of a `.json` array.
        let path = dir.path().join("people.json");
        fs::write(&path, format!("[{{\"id\":1}},\n{long},\n{{\"id\":3}}]")).unwrap();
        let (ids, rejects) = decode_file(&path, &people(), 64);
        assert_eq!(ids, [1, 3]);
        assert_eq!(rejects[0].0, "line-too-long");
        assert!(rejects[0].1.starts_with("item 2:"), "{}", rejects[0].1);
    }

    #[test]
    fn inference_reads_only_its_sample_and_later_values_are_rejected_not_coerced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut text: String = (1..=5).map(|i| format!("{{\"id\":{i}}}\n")).collect();
        text.push_str("{\"id\":\"six\"}\n");
        fs::write(&path, text).unwrap();
        let t = infer_table_sample(&path, "json:t", "t", 5).unwrap();
        assert_eq!(t.columns[0].logical_type, LogicalType::Int64);
        let t6 = infer_table_sample(&path, "json:t", "t", 6).unwrap();
        assert_eq!(t6.columns[0].logical_type, LogicalType::Json);
        assert_eq!(t6.columns[0].declared_type, "mixed");
        let (ids, rejects) = decode_file(&path, &t, MAX_LINE);
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(rejects[0].0, "type-mismatch");
        assert!(rejects[0].1.starts_with("line 6:"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn source_counts_profiles_and_reports_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("people.jsonl"),
            "{\"id\":1}\n\n{\"id\":\"x\"}\n{\"id\":3,\"zzz\":1}\n",
        )
        .unwrap();
        let q = |run: &str, t: &str, key: Option<&str>| {
            serde_json::json!({"run_id": run, "table": t, "source_key": key, "stage": "read",
                "plugin": null, "column": null, "code": "c", "reason": "r", "row": {},
                "rejected_at": "2024-01-01T00:00:00Z"})
            .to_string()
        };
        fs::write(
            dir.path().join(REJECTS_FILE),
            [
                q("r2", "people", Some("7")),
                q("r1", "people", Some("1")),
                q("r1", "people", None),
                q("r1", "other", Some("2")),
            ]
            .join("\n"),
        )
        .unwrap();
        let src = JsonSource::open(dir.path().to_str().unwrap())
            .await
            .unwrap();
        let tables = src.tables().await.unwrap();
        assert_eq!(tables.len(), 1, "the quarantine file is not a table");
        assert_eq!(src.count("people").await.unwrap(), 3);
        let p = src.profile(&people(), 10).await.unwrap();
        assert_eq!(p.sampled, 3);
        let cols: Vec<&str> = p.mismatches.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(cols, ["id", "zzz"]);
        let got = src.quarantined().await.unwrap();
        let got: Vec<(&str, &str, u64, Vec<String>)> = got
            .iter()
            .map(|c| (c.run_id.as_str(), c.table.as_str(), c.rows, c.keys.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("r1", "other", 1, vec!["2".to_string()]),
                ("r1", "people", 2, vec!["1".to_string()]),
                ("r2", "people", 1, vec!["7".to_string()]),
            ]
        );
    }

    #[test]
    fn url_options_are_parsed_strictly() {
        let (dir, o) = split_url("out").unwrap();
        assert_eq!((dir, o), (PathBuf::from("out"), Options::default()));
        let (dir, o) = split_url("d/x?normalise=a.v2.items,b.c&nest=a__items").unwrap();
        assert_eq!(dir, PathBuf::from("d/x"));
        assert_eq!(
            o.normalise,
            [("a.v2".into(), "items".into()), ("b".into(), "c".into())]
        );
        assert_eq!(o.nest, ["a__items"]);
        for bad in [
            "d?normalise=items",
            "d?normalise=.x",
            "d?nest=",
            "d?flatten=1",
            "?nest=a",
        ] {
            assert!(split_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_null_or_arrays_of_objects_normalise() {
        assert_eq!(array_of_objects("null"), Ok(None));
        assert_eq!(array_of_objects(" [ ] "), Ok(Some(vec![])));
        assert_eq!(
            array_of_objects(r#"[{"a":"]"}, {}]"#),
            Ok(Some(vec![r#"{"a":"]"}"#, "{}"]))
        );
        assert!(
            array_of_objects(r#"[{},[1]]"#)
                .unwrap_err()
                .contains("element 1 is a array")
        );
        assert!(array_of_objects("{}").unwrap_err().starts_with("a object"));
        assert!(array_of_objects("3").is_err());
    }

    /// A parent `p(id, name)` and its child `p__xs(p_id, ordinal, v)` written
    /// to `dir` as the sink writes them, with their target tables.
    fn nest_fixture(dir: &Path, child_lines: &str) -> (JsonSink, Vec<TargetTable>) {
        let col = |name: &str, t: LogicalType, nullable: bool| ColumnDef {
            name: name.into(),
            declared_type: String::new(),
            logical_type: t,
            nullable,
            default: None,
        };
        let parent = TableDef {
            name: "p".into(),
            columns: vec![
                col("id", LogicalType::Int64, false),
                col("name", LogicalType::Text, true),
            ],
            primary_key: vec!["id".into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![],
        };
        let child = TableDef {
            name: "p__xs".into(),
            columns: vec![
                col("p_id", LogicalType::Int64, false),
                col(ORDINAL, LogicalType::Int64, false),
                col("v", LogicalType::Text, true),
            ],
            primary_key: vec!["p_id".into(), ORDINAL.into()],
            unique: vec![],
            indexes: vec![],
            foreign_keys: vec![crate::model::ForeignKeyDef {
                name: "fk".into(),
                columns: vec!["p_id".into()],
                ref_table: "p".into(),
                ref_columns: vec!["id".into()],
                on_delete: "CASCADE".into(),
                on_update: "NO ACTION".into(),
            }],
        };
        fs::write(
            dir.join("p.jsonl"),
            "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":null}\n",
        )
        .unwrap();
        fs::write(dir.join("p__xs.jsonl"), child_lines).unwrap();
        let sink = JsonSink {
            dir: dir.to_path_buf(),
            name: "json:t".into(),
            files: HashMap::new(),
            rejects: None,
            nest: vec!["p__xs".into()],
        };
        sink.write_schema(&SchemaFile {
            format: FORMAT.into(),
            version: VERSION,
            tables: vec![parent.clone(), child.clone()],
            nested: vec![],
        })
        .unwrap();
        let tt = |d: TableDef| TargetTable {
            source: d.clone(),
            def: d,
        };
        (sink, vec![tt(parent), tt(child)])
    }

    #[test]
    fn nest_folds_children_by_ordinal_and_records_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, tables) = nest_fixture(
            dir.path(),
            "{\"p_id\":1,\"ordinal\":1,\"v\":null}\n{\"p_id\":1,\"ordinal\":0,\"v\":\"x\"}\n",
        );
        let plan = nest_plan("json:t", "p__xs", &tables).unwrap();
        assert_eq!(plan.column, "xs");
        assert_eq!(sink.nest_one(&plan, NEST_MAX_BYTES).unwrap(), None);
        assert_eq!(
            fs::read_to_string(dir.path().join("p.jsonl")).unwrap(),
            "{\"id\":1,\"name\":\"a\",\"xs\":[{\"v\":\"x\"},{}]}\n{\"id\":2,\"name\":null,\"xs\":[]}\n"
        );
        assert!(!dir.path().join("p__xs.jsonl").exists());
        let schema = read_schema(dir.path(), "json:t").unwrap().unwrap();
        assert_eq!(schema.tables.len(), 1);
        assert_eq!(schema.tables[0].columns[2].name, "xs");
        assert_eq!(schema.nested[0].table, tables[1].def);
        // Read back with `nest=`: the recorded child, one row per element.
        let o = Options {
            nest: vec!["p__xs".into()],
            ..Options::default()
        };
        let norm = resolve("json:t", Some(&schema), &o).unwrap();
        let mut got = Vec::new();
        table_records(dir.path(), "json:t", &norm, "p__xs", |loc, rec| {
            if let Rec::Data(b) = rec {
                got.push((loc.to_string(), String::from_utf8(b.to_vec()).unwrap()));
            }
            true
        })
        .unwrap();
        assert_eq!(
            got,
            [
                (
                    "line 1, element 0".into(),
                    r#"{"p_id":1,"ordinal":0,"v":"x"}"#.into()
                ),
                (
                    "line 1, element 1".into(),
                    r#"{"p_id":1,"ordinal":1}"#.to_string()
                ),
            ]
        );
    }

    #[test]
    fn nest_leaves_the_child_alone_when_it_cannot_be_exact_or_is_over_the_limit() {
        for (lines, max, why) in [
            ("{\"p_id\":1,\"ordinal\":0}\n", 4, "over"),
            ("{\"p_id\":1,\"ordinal\":1}\n", NEST_MAX_BYTES, "0, 1, 2"),
            (
                "{\"p_id\":9,\"ordinal\":0}\n",
                NEST_MAX_BYTES,
                "match no `p` row",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (sink, tables) = nest_fixture(dir.path(), lines);
            let before = fs::read_to_string(dir.path().join("p.jsonl")).unwrap();
            let plan = nest_plan("json:t", "p__xs", &tables).unwrap();
            let got = sink.nest_one(&plan, max).unwrap().unwrap();
            assert!(got.contains(why), "{got}");
            assert_eq!(
                fs::read_to_string(dir.path().join("p.jsonl")).unwrap(),
                before
            );
            assert_eq!(
                fs::read_to_string(dir.path().join("p__xs.jsonl")).unwrap(),
                lines
            );
            let leftovers = fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(leftovers, 3, "no temporary file is left");
        }
    }

    #[test]
    fn nest_refuses_a_table_that_is_not_a_normalised_child() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut tables) = nest_fixture(dir.path(), "");
        assert!(nest_plan("json:t", "p", &tables).is_err());
        assert!(nest_plan("json:t", "nope", &tables).is_err());
        tables[1].def.columns.retain(|c| c.name != ORDINAL);
        let e = nest_plan("json:t", "p__xs", &tables).err().unwrap();
        assert!(e.to_string().contains("ordinal"), "{e}");
    }

    #[test]
    fn table_names_that_are_not_file_names_are_refused() {
        for bad in ["a/b", "a\\b", "..", "x..y", "a\0", "", "_ferry_rejects"] {
            assert!(check_table_name("json:x", bad).is_err(), "{bad:?}");
        }
        assert!(check_table_name("json:x", "users.v2").is_ok());
    }
}
