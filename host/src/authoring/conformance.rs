//! `ferry plugin test`'s conformance run: a built component called through
//! its WIT world exactly as a migration calls it, on the inputs a real run
//! can send — an empty batch, all nulls, every logical type, non-ASCII text,
//! the extremes of each type, large values and a full batch (parsers: empty,
//! broken and large files, in chunks split anywhere) — with every output
//! checked by the host's own validation (`Batch::check`, diagnostics' rows,
//! records' fields), and the time per row.
//!
//! A trap, a limit, or output the host would refuse fails the run; a
//! plugin error on a batch any table can hold (empty, nulls, ordinary
//! values) fails too, because in a migration it stops the table. On inputs
//! that are legitimately bad (a broken file, extreme values) a plugin error
//! is the right answer and passes.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{Batch, BatchBuilder, Column, LogicalType, Schema};
use crate::plugin::{
    ParsedRecord, ParserInstance, Plugin, PluginError, PluginKind, TransformerInstance,
    ValidatorInstance,
};

/// The text and bytes of the large-values case: 1 MiB, the size of a
/// document or an image a legacy table may hold in one cell.
const LARGE_VALUE: usize = 1 << 20;
/// The large file a parser is timed on: 8 MiB, 128 of the chunks the files
/// endpoint streams — long enough that the time per record is the parse's,
/// not the call's.
const LARGE_FILE: usize = 8 << 20;
/// The chunk size the files endpoint streams files in.
const HOST_CHUNK: usize = 64 << 10;

/// What to run the plugin with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration JSON, as an operator would pass it.
    pub config: String,
    /// Columns added to (or replacing, by name) the conformance schema,
    /// for plugins that need particular columns.
    pub columns: Vec<Column>,
    /// Rows in the full batch: the run's `--batch-size`.
    pub batch_size: usize,
    /// For parsers: a file of the plugin's own format, parsed as one more case.
    pub input: Option<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
}

/// One check and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
    pub ms: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub plugin: String,
    pub kind: String,
    pub version: String,
    pub contract: String,
    pub config: String,
    pub checks: Vec<Check>,
    /// Microseconds per row of the full batch (parsers: per record of the
    /// large file).
    pub us_per_row: Option<f64>,
    pub rows_per_second: Option<f64>,
    pub passed: bool,
}

/// Runs every check on `plugin`.
pub async fn run(plugin: Plugin, opts: &Options) -> Report {
    let m = plugin.manifest().clone();
    let mut r = Report {
        plugin: m.name.clone(),
        kind: m.kind.name().to_string(),
        version: m.version.clone(),
        contract: m.contract_version.clone(),
        config: opts.config.clone(),
        checks: Vec::new(),
        us_per_row: None,
        rows_per_second: None,
        passed: false,
    };
    r.checks.push(describe(&plugin));
    match m.kind {
        PluginKind::Transformer => transformer(plugin, opts, &mut r).await,
        PluginKind::Validator => validator(plugin, opts, &mut r).await,
        PluginKind::Parser => parser(plugin, opts, &mut r).await,
    }
    r.passed = r.checks.iter().all(|c| c.outcome != Outcome::Fail);
    r
}

fn check(name: &str, outcome: Outcome, detail: impl Into<String>, took: Duration) -> Check {
    Check {
        name: name.to_string(),
        outcome,
        detail: detail.into(),
        ms: took.as_secs_f64() * 1e3,
    }
}

fn describe(plugin: &Plugin) -> Check {
    let m = plugin.manifest();
    let mut problems = Vec::new();
    if m.version.is_empty() {
        problems.push("no version".to_string());
    }
    if m.description.trim().is_empty() {
        problems.push("no description (`ferry plugin list` shows it)".to_string());
    }
    if !m.config_schema.is_null() && !m.config_schema.is_object() {
        problems.push("its config schema is not a JSON object".to_string());
    }
    let outcome = if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Warn
    };
    let detail = if problems.is_empty() {
        format!("{} {} — {}", m.name, m.version, m.description)
    } else {
        problems.join("; ")
    };
    check("describe", outcome, detail, Duration::ZERO)
}

/// Whether a plugin error is an acceptable answer to a case.
#[derive(Clone, Copy, PartialEq)]
enum Refusal {
    /// Any table can send this: refusing it stops a real run.
    Fails,
    /// Legitimately bad or extreme input: a plugin error is a fine answer.
    Allowed,
}

fn failed(name: &str, e: &PluginError, refusal: Refusal, took: Duration) -> Check {
    let outcome = match (e, refusal) {
        (PluginError::Guest { .. }, Refusal::Allowed) => Outcome::Pass,
        _ => Outcome::Fail,
    };
    let lead = match (e, outcome) {
        (PluginError::Guest { .. }, Outcome::Pass) => "refused (a fine answer here)",
        (PluginError::Guest { .. }, _) => "refused: in a migration this error stops the table",
        _ => "failed",
    };
    check(name, outcome, format!("{lead}: {e}"), took)
}

/// The conformance schema: an id, a name and an e-mail (what most
/// transformers are configured on), one column of every logical type, and
/// the caller's columns.
fn schema(opts: &Options) -> Schema {
    use LogicalType as L;
    let col = |name: &str, t, nullable| Column {
        name: name.into(),
        logical_type: t,
        nullable,
    };
    let mut columns = vec![
        col("id", L::Int64, false),
        col("name", L::Text, true),
        col("email", L::Text, true),
        col("active", L::Boolean, true),
        col("score", L::Float64, true),
        col("amount", L::Decimal, true),
        col("payload", L::Bytes, true),
        col("doc", L::Json, true),
        col("born", L::Date, true),
        col("wakes", L::Time, true),
        col("seen", L::Timestamp, true),
        col("created", L::Timestamptz, true),
        col("uid", L::Uuid, true),
    ];
    for c in &opts.columns {
        match columns.iter_mut().find(|x| x.name == c.name) {
            Some(x) => *x = c.clone(),
            None => columns.push(c.clone()),
        }
    }
    Schema {
        table: "conformance".into(),
        columns,
    }
}

/// The kinds of rows the batches are made of.
#[derive(Clone, Copy)]
enum Rows {
    Ordinary,
    Nulls,
    NonAscii,
    Extremes,
    Large,
}

/// One value of type `t` for row `i` of a batch of `rows`.
fn push(b: &mut BatchBuilder, c: usize, col: &Column, i: usize, rows: Rows) {
    use LogicalType as L;
    if matches!(rows, Rows::Nulls) && col.nullable {
        b.push_null(c);
        return;
    }
    let n = i as i64;
    let edge = i.is_multiple_of(2);
    let text = |b: &mut BatchBuilder, s: &str| {
        // Every text below is well under the batch builder's limits.
        let _ = b.push_bytes(c, s.as_bytes());
    };
    match (col.logical_type, rows) {
        (L::Boolean, _) => b.push_bool(c, i.is_multiple_of(3)),
        (L::Int64, Rows::Extremes) => b.push_int(c, if edge { i64::MIN } else { i64::MAX }),
        (L::Int64, _) => b.push_int(c, n + 1),
        (L::Float64, Rows::Extremes) => b.push_float(
            c,
            [
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -0.0,
                f64::MIN_POSITIVE,
            ][i % 5],
        ),
        (L::Float64, _) => b.push_float(c, n as f64 * 1.25),
        (L::Decimal, Rows::Extremes) => text(
            b,
            if edge {
                "-99999999999999999999999999999.999999999"
            } else {
                "0.000000000000000000000000000001"
            },
        ),
        (L::Decimal, _) => text(b, &format!("{}.{:02}", n, i % 100)),
        (L::Text | L::Bytes | L::Json, Rows::Large) => {
            let big = match col.logical_type {
                L::Json => format!("[{}]", vec!["1"; LARGE_VALUE / 2].join(",")),
                _ => "x".repeat(LARGE_VALUE),
            };
            let _ = b.push_bytes(c, big.as_bytes());
        }
        (L::Text, Rows::NonAscii) => text(
            b,
            [
                "Zoë Ångström-Łukasiewicz",
                "josé@bücher.例え.jp",
                "東京都 🚀 \u{1F469}\u{200D}\u{1F52C}",
                "e\u{301} combining, \u{202E}right-to-left\u{202C}",
                "",
            ][i % 5],
        ),
        (L::Text, Rows::Extremes) => text(b, if edge { "" } else { " \t\r\n " }),
        (L::Text, _) => text(
            b,
            &match col.name.as_str() {
                "email" => format!("Customer{i}@Example.COM"),
                _ => format!("{} {i}", col.name),
            },
        ),
        (L::Bytes, Rows::Extremes) => {
            let _ = b.push_bytes(c, if edge { &[] } else { &[0, 0xff, 0xfe, 0] });
        }
        (L::Bytes, _) => {
            let _ = b.push_bytes(c, &n.to_le_bytes());
        }
        (L::Json, Rows::NonAscii) => text(b, r#"{"ключ":"値","emoji":"🚀"}"#),
        (L::Json, Rows::Extremes) => {
            let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
            text(b, if edge { "null" } else { &deep })
        }
        (L::Json, _) => text(b, &format!(r#"{{"n":{i},"tags":["a","b"]}}"#)),
        // 0001-01-01 and 9999-12-31, the range every target holds.
        (L::Date, Rows::Extremes) => b.push_date(c, if edge { -719_162 } else { 2_932_896 }),
        (L::Date, _) => b.push_date(c, 19_000 + (i % 1000) as i32),
        (L::Time, Rows::Extremes) => b.push_int(c, if edge { 0 } else { 86_399_999_999 }),
        (L::Time, _) => b.push_int(c, (n % 86_400) * 1_000_000),
        (L::Timestamp | L::Timestamptz, Rows::Extremes) => b.push_int(
            c,
            if edge {
                -62_135_596_800_000_000
            } else {
                253_402_300_799_999_999
            },
        ),
        (L::Timestamp | L::Timestamptz, _) => b.push_int(c, 1_700_000_000_000_000 + n * 1_000_000),
        (L::Uuid, Rows::Extremes) => b.push_uuid(c, if edge { &[0; 16] } else { &[0xff; 16] }),
        (L::Uuid, _) => {
            let mut u = [0u8; 16];
            u[8..].copy_from_slice(&n.to_be_bytes());
            u[6] = 0x40;
            b.push_uuid(c, &u)
        }
    }
}

fn batch(schema: &Schema, n: usize, rows: Rows) -> Batch {
    let mut b = BatchBuilder::new(schema, n);
    for i in 0..n {
        for (c, col) in schema.columns.iter().enumerate() {
            push(&mut b, c, col, i, rows);
        }
        b.end_row();
    }
    b.finish()
}

/// The batch cases: (check name, batch, whether refusing it is allowed).
fn cases(schema: &Schema, opts: &Options) -> Vec<(String, Batch, Refusal)> {
    vec![
        (
            "empty batch".into(),
            batch(schema, 0, Rows::Ordinary),
            Refusal::Fails,
        ),
        (
            "ordinary rows".into(),
            batch(schema, 100, Rows::Ordinary),
            Refusal::Fails,
        ),
        (
            "all nulls".into(),
            batch(schema, 100, Rows::Nulls),
            Refusal::Fails,
        ),
        (
            "non-ASCII text".into(),
            batch(schema, 100, Rows::NonAscii),
            Refusal::Fails,
        ),
        (
            "extreme values".into(),
            batch(schema, 10, Rows::Extremes),
            Refusal::Allowed,
        ),
        (
            "large values (1 MiB)".into(),
            batch(schema, 2, Rows::Large),
            Refusal::Allowed,
        ),
        (
            format!("a full batch ({} rows)", opts.batch_size),
            batch(schema, opts.batch_size, Rows::Ordinary),
            Refusal::Fails,
        ),
    ]
}

fn timing(r: &mut Report, rows: usize, took: Duration) {
    if rows > 0 && !took.is_zero() {
        r.us_per_row = Some(took.as_secs_f64() * 1e6 / rows as f64);
        r.rows_per_second = Some(rows as f64 / took.as_secs_f64());
    }
}

async fn transformer(plugin: Plugin, opts: &Options, r: &mut Report) {
    let input = schema(opts);
    let mut t = match TransformerInstance::new(plugin) {
        Ok(t) => t,
        Err(e) => {
            return r
                .checks
                .push(failed("instantiate", &e, Refusal::Fails, Duration::ZERO));
        }
    };
    let start = Instant::now();
    let output = match t.transform_schema(&input, &opts.config).await {
        Ok(s) => {
            r.checks.push(check(
                "transform-schema",
                Outcome::Pass,
                format!(
                    "{} columns in, {} out",
                    input.columns.len(),
                    s.columns.len()
                ),
                start.elapsed(),
            ));
            s
        }
        Err(e) => {
            let mut c = failed("transform-schema", &e, Refusal::Fails, start.elapsed());
            c.detail.push_str(
                "\n  (if the plugin needs particular columns, give them with --columns NAME:TYPE,…; \
                 its configuration with --with JSON)",
            );
            return r.checks.push(c);
        }
    };
    let mut first: Option<(Batch, usize)> = None;
    for (name, rows, refusal) in cases(&input, opts) {
        let n = rows.num_rows;
        let start = Instant::now();
        let out = t
            .transform(&input, &output, &opts.config, rows.clone())
            .await;
        let took = start.elapsed();
        match out {
            Ok(out) => {
                if name.starts_with("a full batch") {
                    timing(r, n, took);
                }
                let rejected = out.diagnostics.iter().filter(|d| d.row.is_some()).count();
                r.checks.push(check(
                    &name,
                    Outcome::Pass,
                    format!(
                        "{n} rows in, {} out, {} diagnostics ({rejected} naming a row)",
                        out.batch.num_rows,
                        out.diagnostics.len()
                    ),
                    took,
                ));
                if name == "ordinary rows" {
                    first = Some((out.batch, out.diagnostics.len()));
                }
            }
            Err(e) => r.checks.push(failed(&name, &e, refusal, took)),
        }
    }
    // ferry may send a batch again (after a trap, on resume): the same
    // input should give the same output.
    if let Some((batch_before, diags_before)) = first {
        let rows = batch(&input, 100, Rows::Ordinary);
        let start = Instant::now();
        if let Ok(again) = t.transform(&input, &output, &opts.config, rows).await {
            let same = again.batch == batch_before && again.diagnostics.len() == diags_before;
            r.checks.push(check(
                "same input, same output",
                if same { Outcome::Pass } else { Outcome::Warn },
                if same {
                    "the ordinary batch sent again gave the same rows".to_string()
                } else {
                    "the ordinary batch sent again gave different rows: ferry sends a batch again \
                     after a trap or on resume, and the target would then hold a mix"
                        .to_string()
                },
                start.elapsed(),
            ));
        }
    }
}

async fn validator(plugin: Plugin, opts: &Options, r: &mut Report) {
    let input = schema(opts);
    let mut v = match ValidatorInstance::new(plugin) {
        Ok(v) => v,
        Err(e) => {
            return r
                .checks
                .push(failed("instantiate", &e, Refusal::Fails, Duration::ZERO));
        }
    };
    let start = Instant::now();
    match v.check_schema(&input, &opts.config).await {
        Ok(()) => r.checks.push(check(
            "check-schema",
            Outcome::Pass,
            format!("accepted {} columns", input.columns.len()),
            start.elapsed(),
        )),
        Err(e) => {
            let mut c = failed("check-schema", &e, Refusal::Fails, start.elapsed());
            c.detail.push_str(
                "\n  (if the plugin needs particular columns, give them with --columns NAME:TYPE,…; \
                 its configuration with --with JSON)",
            );
            return r.checks.push(c);
        }
    }
    for (name, rows, refusal) in cases(&input, opts) {
        let n = rows.num_rows;
        let start = Instant::now();
        let out = v.validate(&input, &opts.config, rows).await;
        let took = start.elapsed();
        match out {
            Ok((_, diags)) => {
                if name.starts_with("a full batch") {
                    timing(r, n, took);
                }
                let mut rejected: Vec<u32> = diags
                    .iter()
                    .filter(|d| d.severity == crate::model::Severity::Error)
                    .filter_map(|d| d.row)
                    .collect();
                rejected.sort_unstable();
                rejected.dedup();
                r.checks.push(check(
                    &name,
                    Outcome::Pass,
                    format!(
                        "{n} rows, {} diagnostics, {} rows rejected",
                        diags.len(),
                        rejected.len()
                    ),
                    took,
                ));
            }
            Err(e) => r.checks.push(failed(&name, &e, refusal, took)),
        }
    }
}

/// Parses `bytes` as `name`, fed in `chunk`-byte pieces.
async fn parse(
    p: &mut ParserInstance,
    name: &str,
    bytes: &[u8],
    chunk: usize,
    config: &str,
) -> Result<Vec<ParsedRecord>, PluginError> {
    p.open(name, bytes.len() as u64, None, config).await?;
    let mut records = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        records.extend(p.feed(piece).await?);
    }
    records.extend(p.finish().await?);
    Ok(records)
}

/// What the host refuses in a record (the files endpoint turns fields into
/// columns): a field without a name, or a name given twice.
fn record_problem(records: &[ParsedRecord]) -> Option<String> {
    for (i, r) in records.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in r {
            if name.is_empty() {
                return Some(format!("record {i} has a field without a name"));
            }
            if !seen.insert(name.as_str()) {
                return Some(format!("record {i} names field `{name}` twice"));
            }
        }
    }
    None
}

fn sample_text(lines: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..lines {
        let eol = if i % 7 == 3 { "\r\n" } else { "\n" };
        s.push_str(&format!("line {i}: some ordinary text, 42, café{eol}"));
        if i % 10 == 9 {
            s.push('\n');
        }
    }
    s.into_bytes()
}

async fn parser(plugin: Plugin, opts: &Options, r: &mut Report) {
    let mut p = match ParserInstance::new(plugin) {
        Ok(p) => p,
        Err(e) => {
            return r
                .checks
                .push(failed("instantiate", &e, Refusal::Fails, Duration::ZERO));
        }
    };
    let mut files: Vec<(String, String, Vec<u8>, Refusal)> = vec![
        (
            "empty file".into(),
            "empty.txt".into(),
            Vec::new(),
            Refusal::Allowed,
        ),
        (
            "ordinary text".into(),
            "notes.txt".into(),
            sample_text(200),
            Refusal::Allowed,
        ),
        (
            "non-ASCII UTF-8".into(),
            "unicode.txt".into(),
            "Zoë — 東京 🚀\ne\u{301}\n\u{202E}rtl\u{202C}\n"
                .as_bytes()
                .to_vec(),
            Refusal::Allowed,
        ),
        (
            "no final newline".into(),
            "last.txt".into(),
            b"one\ntwo".to_vec(),
            Refusal::Allowed,
        ),
        (
            "invalid UTF-8".into(),
            "latin1.txt".into(),
            b"caf\xe9 cr\xe8me\n".to_vec(),
            Refusal::Allowed,
        ),
        (
            "NUL bytes".into(),
            "nul.txt".into(),
            b"a\0b\n\0\n".to_vec(),
            Refusal::Allowed,
        ),
    ];
    if let Some((name, bytes)) = &opts.input {
        files.insert(
            0,
            (
                format!("--input {name}"),
                name.clone(),
                bytes.clone(),
                Refusal::Fails,
            ),
        );
    }
    for (check_name, file, bytes, refusal) in &files {
        let start = Instant::now();
        let out = parse(&mut p, file, bytes, HOST_CHUNK, &opts.config).await;
        let took = start.elapsed();
        match out {
            Ok(records) => match record_problem(&records) {
                Some(problem) => r
                    .checks
                    .push(check(check_name, Outcome::Fail, problem, took)),
                None => r.checks.push(check(
                    check_name,
                    Outcome::Pass,
                    format!("{} bytes, {} records", bytes.len(), records.len()),
                    took,
                )),
            },
            Err(e) => r.checks.push(failed(check_name, &e, *refusal, took)),
        }
    }
    // A chunk may end anywhere — inside a line, a quoted field or a UTF-8
    // character: the records must not depend on where.
    let (name, file, bytes) = match &opts.input {
        Some((n, b)) => (format!("--input {n}"), n.clone(), b.clone()),
        None => {
            let mut b = sample_text(40);
            b.extend_from_slice("Zoë — 東京 🚀\n".as_bytes());
            ("ordinary text".to_string(), "notes.txt".to_string(), b)
        }
    };
    let start = Instant::now();
    let whole = parse(&mut p, &file, &bytes, HOST_CHUNK, &opts.config).await;
    let mut differ = Vec::new();
    // Bytes one at a time is the worst case; kept to small inputs (it is a
    // call per byte).
    let sizes: &[usize] = if bytes.len() <= 64 << 10 {
        &[1, 7, 4093]
    } else {
        &[4093]
    };
    for &size in sizes {
        let pieces = parse(&mut p, &file, &bytes, size, &opts.config).await;
        let same = match (&whole, &pieces) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            differ.push(size);
        }
    }
    r.checks.push(check(
        &format!("chunks split anywhere ({name})"),
        if differ.is_empty() { Outcome::Pass } else { Outcome::Fail },
        if differ.is_empty() {
            format!("the same records in {HOST_CHUNK}-byte chunks and in {sizes:?}-byte chunks")
        } else {
            format!("different records when fed in {differ:?}-byte chunks than in {HOST_CHUNK}-byte chunks")
        },
        start.elapsed(),
    ));
    // The large file: the time per record.
    let mut big = Vec::with_capacity(LARGE_FILE + 1024);
    while big.len() < LARGE_FILE {
        big.extend_from_slice(&sample_text(1000));
    }
    let start = Instant::now();
    let out = parse(&mut p, "large.txt", &big, HOST_CHUNK, &opts.config).await;
    let took = start.elapsed();
    match out {
        Ok(records) => {
            timing(r, records.len(), took);
            r.checks.push(check(
                "a large file (8 MiB)",
                Outcome::Pass,
                format!(
                    "{} records, {:.1} MiB/s",
                    records.len(),
                    big.len() as f64 / (1 << 20) as f64 / took.as_secs_f64().max(1e-9)
                ),
                took,
            ))
        }
        Err(e) => r
            .checks
            .push(failed("a large file (8 MiB)", &e, Refusal::Allowed, took)),
    }
}
