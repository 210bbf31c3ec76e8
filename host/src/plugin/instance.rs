//! Live plugin instances. Each owns one `Store`; after any trap or limit the
//! store is dropped and the next call instantiates a fresh one.

use std::time::Instant;

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap, WasmBacktrace};

use super::runtime::{HostState, Plugin};
use super::wit::{self, FileInfo, Pre};
use super::{GuestError, Limit, Limits, PluginError, PluginKind};
use crate::model::{Batch, Diagnostic, Schema};

/// Turns a wasmtime error from a call into a typed [`PluginError`].
pub(crate) fn classify(
    plugin: &str,
    call: &'static str,
    limits: &Limits,
    store: &Store<HostState>,
    err: wasmtime::Error,
) -> PluginError {
    let plugin = plugin.to_string();
    if store.data().limiter.hit {
        return PluginError::LimitExceeded {
            plugin,
            call,
            limit: Limit::Memory {
                limit_bytes: limits.memory_bytes,
            },
        };
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        match trap {
            Trap::Interrupt => {
                return PluginError::LimitExceeded {
                    plugin,
                    call,
                    limit: Limit::Deadline {
                        limit_ms: u64::try_from(limits.call_timeout.as_millis())
                            .unwrap_or(u64::MAX),
                    },
                };
            }
            Trap::StackOverflow => {
                return PluginError::LimitExceeded {
                    plugin,
                    call,
                    limit: Limit::Stack {
                        limit_bytes: super::MAX_WASM_STACK_BYTES as u64,
                    },
                };
            }
            _ => {}
        }
    }
    // A Rust guest keeps its own stack in linear memory, below its data; when
    // unbounded recursion exhausts it the guest writes below address 0 and
    // traps out of bounds before the engine's stack limit is reached. A deep
    // backtrace of one or two functions repeating is that case.
    if let (Some(Trap::MemoryOutOfBounds), Some(bt)) = (
        err.downcast_ref::<Trap>(),
        err.downcast_ref::<WasmBacktrace>(),
    ) {
        let names: Vec<Option<&str>> = bt.frames().iter().map(|f| f.func_name()).collect();
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        if names.len() >= 24 && distinct.len() <= 2 {
            return PluginError::LimitExceeded {
                plugin,
                call,
                limit: Limit::Stack {
                    limit_bytes: super::MAX_WASM_STACK_BYTES as u64,
                },
            };
        }
    }
    let text = format!("{err:#}");
    if text.contains("fuel allocated for hostcalls") {
        return PluginError::LimitExceeded {
            plugin,
            call,
            limit: Limit::Output {
                limit_bytes: limits.max_output_bytes,
            },
        };
    }
    let backtrace = err
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    format!(
                        "  {i:>2}: {}",
                        f.func_name()
                            .map(|n| format!("{:#}", rustc_demangle::demangle(n)))
                            .unwrap_or_else(|| "<unnamed function>".into())
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let mut message = match err.downcast_ref::<Trap>() {
        Some(t) => t.to_string(),
        None => err.to_string(),
    };
    // A Python plugin's uncaught exception: its traceback (the author's
    // files, lines and functions) says more than the interpreter's frames.
    if let Some((exception, traceback)) = python_traceback(&store.data().stderr.tail_text()) {
        return PluginError::Trap {
            plugin,
            call,
            message: format!("Python raised {exception}"),
            backtrace: traceback,
        };
    }
    // A JavaScript plugin's uncaught exception, reported by the JS SDK
    // (`plugins/sdk-js/plugin.js`): its message and the author's frames.
    if let Some((exception, stack)) = js_stack(&store.data().stderr.tail_text()) {
        return PluginError::Trap {
            plugin,
            call,
            message: format!("JavaScript threw {exception}"),
            backtrace: stack,
        };
    }
    let said = store.data().stderr.tail();
    if !said.is_empty() {
        message.push_str(&format!(" (the plugin wrote to stderr: {said})"));
    }
    PluginError::Trap {
        plugin,
        call,
        message,
        backtrace,
    }
}

/// The last Python traceback in a plugin's stderr: (the exception line,
/// the traceback from `Traceback (most recent call last):` to it).
fn python_traceback(stderr: &str) -> Option<(String, String)> {
    const MARK: &str = "Traceback (most recent call last):";
    let start = stderr.rfind(MARK)?;
    let mut lines = Vec::new();
    for line in stderr[start..].lines() {
        lines.push(line.trim_end());
        // Frames and their source lines are indented; the first line that
        // is not (after the mark) is the exception.
        if lines.len() > 1 && !line.starts_with(' ') {
            break;
        }
    }
    let exception = lines
        .last()
        .filter(|l| !l.starts_with(' ') && **l != MARK)?;
    Some((
        exception.to_string(),
        lines
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    ))
}

/// The marks around the JavaScript SDK's report of an uncaught exception
/// (`STACK_BEGIN`/`STACK_END` in `plugins/sdk-js/plugin.js`; keep the two
/// in step).
const JS_STACK_BEGIN: &str = "ferry-js: uncaught exception";
const JS_STACK_END: &str = "ferry-js: end of stack";

/// The last JavaScript exception report in a plugin's stderr: (its first
/// line, `Name: message`; its stack frames, `at function (file:line:column)`).
///
/// componentize-qjs has no console: the SDK rethrows the exception with the
/// report as its message, and the QuickJS runtime prints that message
/// Rust-escaped (`\n`, `\"`) in its panic line as the call traps. Both the
/// escaped and the plain form are read. A report whose end mark is missing
/// (the 1 KiB tail was cut) keeps the frames that arrived.
fn js_stack(stderr: &str) -> Option<(String, String)> {
    let start = stderr.rfind(JS_STACK_BEGIN)?;
    let report = &stderr[start..];
    let report = &report[..report.find(JS_STACK_END).unwrap_or(report.len())];
    // Escaped, the whole report is one line, up to the end mark (or to the
    // quote that closes the message when the mark is missing).
    let first = report.lines().next().unwrap_or_default();
    let report = if first.contains("\\n") {
        unescape_debug(first.split("\"), stack: ").next().unwrap_or(first))
    } else {
        report.to_string()
    };
    let mut lines = report.lines().skip(1);
    let exception = lines.next().map(str::trim).filter(|l| !l.is_empty())?;
    let frames: Vec<String> = lines
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("  {l}"))
        .collect();
    Some((exception.to_string(), frames.join("\n")))
}

/// Undoes Rust's `{:?}` escaping of a string's contents: `\n`, `\t`,
/// `\r`, `\"`, `\'`, `\\`, `\0` and `\u{…}`; anything else is kept as it is.
fn unescape_debug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let rest = chars.as_str();
                let code = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .and_then(|(hex, _)| u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v)));
                match code.and_then(|(n, v)| char::from_u32(v).map(|ch| (n, ch))) {
                    Some((n, ch)) => {
                        out.push(ch);
                        chars = rest[n + 2..].chars();
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod traceback_tests {
    #[test]
    fn a_javascript_stack_is_cut_from_the_sdks_report() {
        // As componentize-qjs's runtime prints it: the report is the
        // message of the exception, escaped, inside its panic line.
        let stderr = "thread '<unnamed>' (1) panicked at crates/runtime/src/interpreter.rs:51:31:\nFailed to call 'transform': Value(Exception(\n    Exception { message: Some(\"ferry-js: uncaught exception in `transform`\\nRangeError: no \\\"rows\\\" wanted, got 3 \\u{1f600}\\n    at helperThatThrows (/app.js:8:46)\\n    at transform (/app.js:27:40)\\nferry-js: end of stack\"), stack: Some(\"    at guarded (/.ferry/sdk/js/plugin.js:92:26)\\n\") }\n)\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let (exception, stack) = super::js_stack(stderr).unwrap();
        assert_eq!(exception, "RangeError: no \"rows\" wanted, got 3 \u{1f600}");
        assert_eq!(
            stack,
            "  at helperThatThrows (/app.js:8:46)\n  at transform (/app.js:27:40)"
        );
        // Written plainly, with noise after it.
        let (exception, stack) = super::js_stack(
            "ferry-js: uncaught exception in `x`\nError: e\n    at f (a.js:1:1)\nferry-js: end of stack\nnoise",
        )
        .unwrap();
        assert_eq!(
            (exception.as_str(), stack.as_str()),
            ("Error: e", "  at f (a.js:1:1)")
        );
        // The tail was cut after the frames began: keep what arrived.
        let (_, stack) = super::js_stack(
            "Some(\"ferry-js: uncaught exception in `x`\\nError: e\\n    at f (a.js:1:1)\\n    at g (a",
        )
        .unwrap();
        assert_eq!(stack, "  at f (a.js:1:1)\n  at g (a");
        assert_eq!(super::js_stack("no report here"), None);
        assert_eq!(
            super::js_stack("ferry-js: uncaught exception in `x`\nferry-js: end of stack\n"),
            None
        );
    }

    #[test]
    fn a_python_traceback_is_cut_from_the_interpreters_noise() {
        let stderr = "some log line\nTraceback (most recent call last):\n  File \"/0/app.py\", line 25, in transform\n  File \"/0/app.py\", line 9, in helper_that_fails\nZeroDivisionError: division by zero\nthread '<unnamed>' panicked at runtime/src/lib.rs:1293:29:\nPython function threw an unexpected exception\n";
        let (exception, tb) = super::python_traceback(stderr).unwrap();
        assert_eq!(exception, "ZeroDivisionError: division by zero");
        assert!(tb.contains("line 9, in helper_that_fails"), "{tb}");
        assert!(!tb.contains("panicked"), "{tb}");
        assert_eq!(super::python_traceback("no traceback here"), None);
        assert_eq!(
            super::python_traceback("Traceback (most recent call last):\n"),
            None
        );
    }
}

struct Live<B> {
    store: Store<HostState>,
    bindings: B,
}

// A call is three steps, so that the call itself is a plain future the
// caller awaits (`l.bindings.transform(&mut l.store, …)`), not a closure
// over borrowed arguments: `ready`, then `fenced`, then `settle`.

/// The live instance, instantiated in a fresh sandbox if there is none, with
/// the per-call deadline armed.
async fn ready<'l, B>(
    plugin: &Plugin,
    live: &'l mut Option<Live<B>>,
    pre: &dyn wit::Instantiate<B>,
) -> Result<&'l mut Live<B>, PluginError> {
    let limits = plugin.limits();
    if live.is_none() {
        let mut store = plugin.new_store()?;
        match pre.instantiate(&mut store).await {
            Ok(bindings) => *live = Some(Live { store, bindings }),
            Err(e) => return Err(classify(plugin.name(), "instantiate", limits, &store, e)),
        }
    }
    let Some(l) = live.as_mut() else {
        return Err(PluginError::Runtime("instance vanished".into()));
    };
    l.store.data_mut().deadline = Some(Instant::now() + limits.call_timeout);
    Ok(l)
}

/// Awaits a call under the second fence: epochs cannot interrupt a guest
/// blocked in a host call, so the whole call also has a wall-clock timeout,
/// one second past the deadline. `None` when it expired.
async fn fenced<R>(
    plugin: &Plugin,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> Option<wasmtime::Result<R>> {
    let outer = plugin.limits().call_timeout + std::time::Duration::from_secs(1);
    tokio::time::timeout(outer, call).await.ok()
}

/// What a call on the live instance came to. On any error the instance is
/// discarded; after a success it is recycled if it grew past half its
/// memory limit.
fn settle<B, R>(
    plugin: &Plugin,
    live: &mut Option<Live<B>>,
    name: &'static str,
    result: Option<wasmtime::Result<R>>,
) -> Result<R, PluginError> {
    let limits = plugin.limits();
    match (result, live.as_mut()) {
        (Some(Ok(r)), Some(l)) => {
            l.store.data_mut().deadline = None;
            if l.store.data().limiter.should_recycle() {
                tracing::debug!(
                    plugin = plugin.name(),
                    "recycling an instance that grew past half its memory limit"
                );
                *live = None;
            }
            Ok(r)
        }
        (Some(Ok(_)), None) => Err(PluginError::Runtime("instance vanished".into())),
        (Some(Err(e)), l) => {
            let err = match l {
                Some(l) => classify(plugin.name(), name, limits, &l.store, e),
                None => PluginError::Runtime(format!("{e:#}")),
            };
            *live = None;
            Err(err)
        }
        (None, _) => {
            *live = None;
            Err(PluginError::LimitExceeded {
                plugin: plugin.name().to_string(),
                call: name,
                limit: Limit::Deadline {
                    limit_ms: u64::try_from(limits.call_timeout.as_millis()).unwrap_or(u64::MAX),
                },
            })
        }
    }
}

fn guest(plugin: &Plugin, call: &'static str, error: GuestError) -> PluginError {
    PluginError::Guest {
        plugin: plugin.name().to_string(),
        call,
        error: Box::new(error),
    }
}

fn invalid(plugin: &Plugin, call: &'static str, reason: String) -> PluginError {
    PluginError::InvalidOutput {
        plugin: plugin.name().to_string(),
        call,
        reason,
    }
}

fn check_diagnostics(
    plugin: &Plugin,
    call: &'static str,
    diags: &[Diagnostic],
    rows: usize,
) -> Result<(), PluginError> {
    if let Some(d) = diags
        .iter()
        .find(|d| d.row.is_some_and(|r| r as usize >= rows))
    {
        return Err(invalid(
            plugin,
            call,
            format!(
                "a diagnostic names row {} of a {rows}-row batch",
                d.row.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn wrong_kind(plugin: &Plugin, expected: PluginKind) -> PluginError {
    PluginError::WrongKind {
        plugin: plugin.name().to_string(),
        expected,
        actual: plugin.manifest().kind,
    }
}

/// What a transformer returned for one batch, checked.
#[derive(Debug)]
pub struct TransformOutput {
    pub batch: Batch,
    pub diagnostics: Vec<Diagnostic>,
    /// The input batch, handed back (it was only lent to the plugin), so the
    /// caller can quarantine rows the diagnostics name without a copy.
    pub input: Batch,
}

/// One transformer instance (one `Store`).
pub struct TransformerInstance {
    plugin: Plugin,
    pre: wit::TransformerPre,
    live: Option<Live<Box<dyn wit::Transformer>>>,
}

impl TransformerInstance {
    pub fn new(plugin: Plugin) -> Result<Self, PluginError> {
        let Pre::Transformer(pre) = &plugin.inner.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Transformer));
        };
        let pre = pre.clone();
        Ok(TransformerInstance {
            plugin,
            pre,
            live: None,
        })
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Plan time: the schema this transformer produces for `input`.
    pub async fn transform_schema(
        &mut self,
        input: &Schema,
        config: &str,
    ) -> Result<Schema, PluginError> {
        let l = ready(&self.plugin, &mut self.live, &*self.pre).await?;
        let out = fenced(
            &self.plugin,
            l.bindings.transform_schema(&mut l.store, input, config),
        )
        .await;
        let out = settle(&self.plugin, &mut self.live, "transform-schema", out)?;
        let schema = out.map_err(|e| guest(&self.plugin, "transform-schema", e))?;
        let mut seen = std::collections::HashSet::new();
        if let Some(c) = schema
            .columns
            .iter()
            .find(|c| !seen.insert(c.name.as_str()))
        {
            return Err(invalid(
                &self.plugin,
                "transform-schema",
                format!("the output schema names column `{}` twice", c.name),
            ));
        }
        Ok(schema)
    }

    /// Transforms one batch. `output` is the schema `transform_schema`
    /// returned; the result is checked against it.
    pub async fn transform(
        &mut self,
        input: &Schema,
        output: &Schema,
        config: &str,
        batch: Batch,
    ) -> Result<TransformOutput, PluginError> {
        let rows = batch.num_rows;
        let mut lent = batch;
        let l = ready(&self.plugin, &mut self.live, &*self.pre).await?;
        let out = fenced(
            &self.plugin,
            l.bindings.transform(&mut l.store, input, config, &mut lent),
        )
        .await;
        let out = settle(&self.plugin, &mut self.live, "transform", out)?;
        let (batch, diagnostics) = out.map_err(|e| guest(&self.plugin, "transform", e))?;
        batch
            .check(output)
            .map_err(|e| invalid(&self.plugin, "transform", e.to_string()))?;
        check_diagnostics(&self.plugin, "transform", &diagnostics, rows)?;
        Ok(TransformOutput {
            batch,
            diagnostics,
            input: lent,
        })
    }
}

/// One validator instance (one `Store`).
pub struct ValidatorInstance {
    plugin: Plugin,
    pre: wit::ValidatorPre,
    live: Option<Live<Box<dyn wit::Validator>>>,
}

impl ValidatorInstance {
    pub fn new(plugin: Plugin) -> Result<Self, PluginError> {
        let Pre::Validator(pre) = &plugin.inner.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Validator));
        };
        let pre = pre.clone();
        Ok(ValidatorInstance {
            plugin,
            pre,
            live: None,
        })
    }

    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Plan time: does the configuration fit the schema?
    pub async fn check_schema(&mut self, input: &Schema, config: &str) -> Result<(), PluginError> {
        let l = ready(&self.plugin, &mut self.live, &*self.pre).await?;
        let out = fenced(
            &self.plugin,
            l.bindings.check_schema(&mut l.store, input, config),
        )
        .await;
        let out = settle(&self.plugin, &mut self.live, "check-schema", out)?;
        out.map_err(|e| guest(&self.plugin, "check-schema", e))
    }

    /// Validates one batch. The batch is lent to the plugin and handed back
    /// unchanged with the diagnostics.
    pub async fn validate(
        &mut self,
        input: &Schema,
        config: &str,
        batch: Batch,
    ) -> Result<(Batch, Vec<Diagnostic>), PluginError> {
        let rows = batch.num_rows;
        let mut lent = batch;
        let l = ready(&self.plugin, &mut self.live, &*self.pre).await?;
        let out = fenced(
            &self.plugin,
            l.bindings.validate(&mut l.store, input, config, &mut lent),
        )
        .await;
        let out = settle(&self.plugin, &mut self.live, "validate", out)?;
        let diagnostics = out.map_err(|e| guest(&self.plugin, "validate", e))?;
        check_diagnostics(&self.plugin, "validate", &diagnostics, rows)?;
        Ok((lent, diagnostics))
    }
}

/// One parsed field, as the host sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Json(serde_json::Value),
    /// Valid JSON the host cannot hold as a value — a number beyond f64
    /// (`1e999999`), or nesting deeper than serde_json's 128 levels — kept
    /// as its exact text.
    RawJson(String),
}

/// One record a parser produced: named fields in order.
pub type ParsedRecord = Vec<(String, FieldValue)>;

impl FieldValue {
    /// A json field's text as the host holds it: a value, or the exact text
    /// when it is valid JSON the host cannot hold as a value.
    pub(crate) fn from_json_text(text: String) -> Result<FieldValue, serde_json::Error> {
        match serde_json::from_str(&text) {
            Ok(v) => Ok(FieldValue::Json(v)),
            // `IgnoredAny` checks the syntax without building values:
            // iteratively (no depth limit, no stack) and without converting
            // numbers.
            Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok() => {
                Ok(FieldValue::RawJson(text))
            }
            Err(e) => Err(e),
        }
    }
}

/// The records a parser returned, or the invalid output they are.
fn records(
    plugin: &Plugin,
    call: &'static str,
    records: wit::Records,
) -> Result<Vec<ParsedRecord>, PluginError> {
    records.map_err(|reason| invalid(plugin, call, reason))
}

/// One parser instance (one `Store`) parsing one file at a time.
pub struct ParserInstance {
    plugin: Plugin,
    pre: wit::ParserPre,
    live: Option<Live<Box<dyn wit::Parser>>>,
    session: Option<ResourceAny>,
}

impl ParserInstance {
    pub fn new(plugin: Plugin) -> Result<Self, PluginError> {
        let Pre::Parser(pre) = &plugin.inner.pre else {
            return Err(wrong_kind(&plugin, PluginKind::Parser));
        };
        let pre = pre.clone();
        Ok(ParserInstance {
            plugin,
            pre,
            live: None,
            session: None,
        })
    }

    /// Starts parsing a file. A session still open from an earlier file is dropped.
    pub async fn open(
        &mut self,
        name: &str,
        size: u64,
        media_type: Option<&str>,
        config: &str,
    ) -> Result<(), PluginError> {
        self.close().await;
        let file = FileInfo {
            name,
            size,
            media_type,
        };
        let l = ready(&self.plugin, &mut self.live, &*self.pre).await?;
        let out = fenced(&self.plugin, l.bindings.open(&mut l.store, file, config)).await;
        let out = settle(&self.plugin, &mut self.live, "open", out)?;
        self.session = Some(out.map_err(|e| guest(&self.plugin, "open", e))?);
        Ok(())
    }

    /// Feeds the next chunk of the file; returns the records completed so far.
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let Some(session) = self.session else {
            return Err(PluginError::Runtime("feed called before open".into()));
        };
        let out = match ready(&self.plugin, &mut self.live, &*self.pre).await {
            Ok(l) => {
                let out = fenced(&self.plugin, l.bindings.feed(&mut l.store, session, chunk)).await;
                settle(&self.plugin, &mut self.live, "feed", out)
            }
            Err(e) => Err(e),
        };
        if out.is_err() {
            self.session = None;
        }
        let out = out?.map_err(|e| guest(&self.plugin, "feed", e))?;
        records(&self.plugin, "feed", out)
    }

    /// End of file: the remaining records.
    pub async fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let Some(session) = self.session else {
            return Err(PluginError::Runtime("finish called before open".into()));
        };
        let out = match ready(&self.plugin, &mut self.live, &*self.pre).await {
            Ok(l) => {
                let out = fenced(&self.plugin, l.bindings.finish(&mut l.store, session)).await;
                settle(&self.plugin, &mut self.live, "finish", out)
            }
            Err(e) => Err(e),
        };
        self.close().await;
        let out = out?.map_err(|e| guest(&self.plugin, "finish", e))?;
        records(&self.plugin, "finish", out)
    }

    async fn close(&mut self) {
        if let (Some(session), Some(l)) = (self.session.take(), self.live.as_mut()) {
            // A failed drop only leaks inside the guest; the instance is
            // reused, so discard it to be safe.
            if session.resource_drop_async(&mut l.store).await.is_err() {
                self.live = None;
            }
        }
    }
}
