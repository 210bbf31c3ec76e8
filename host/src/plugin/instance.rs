//! Live plugin instances. Each owns one `Store`; after any trap or limit the
//! store is dropped and the next call instantiates a fresh one.

use std::time::Instant;

use wasmtime::component::ResourceAny;
use wasmtime::{Store, Trap, WasmBacktrace};

use super::bindings::{parser, transformer, validator, wit};
use super::runtime::{HostState, KindPre, Plugin};
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

struct Live<B> {
    store: Store<HostState>,
    bindings: B,
}

/// Runs `f` on a live instance (instantiating one if needed) under the
/// per-call deadline; on any error the instance is discarded.
async fn call<B, R>(
    plugin: &Plugin,
    live: &mut Option<Live<B>>,
    name: &'static str,
    instantiate: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<B>,
    f: impl AsyncFnOnce(&mut Live<B>) -> wasmtime::Result<R>,
) -> Result<R, PluginError> {
    let limits = plugin.limits();
    if live.is_none() {
        let mut store = plugin.new_store()?;
        match instantiate(&mut store).await {
            Ok(bindings) => *live = Some(Live { store, bindings }),
            Err(e) => return Err(classify(plugin.name(), "instantiate", limits, &store, e)),
        }
    }
    let Some(l) = live.as_mut() else {
        return Err(PluginError::Runtime("instance vanished".into()));
    };
    l.store.data_mut().deadline = Some(Instant::now() + limits.call_timeout);
    // Second fence: epochs cannot interrupt a guest blocked in a host call.
    let outer = limits.call_timeout + std::time::Duration::from_secs(1);
    let result = tokio::time::timeout(outer, f(l)).await;
    match result {
        Ok(Ok(r)) => {
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
        Ok(Err(e)) => {
            let err = classify(plugin.name(), name, limits, &l.store, e);
            *live = None;
            Err(err)
        }
        Err(_) => {
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

fn guest(plugin: &Plugin, call: &'static str, e: wit::PluginError) -> PluginError {
    PluginError::Guest {
        plugin: plugin.name().to_string(),
        call,
        error: Box::new(GuestError::from(e)),
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
    pre: transformer::TransformerPre<HostState>,
    live: Option<Live<transformer::Transformer>>,
}

impl TransformerInstance {
    pub fn new(plugin: Plugin) -> Result<Self, PluginError> {
        let KindPre::Transformer(pre) = &plugin.inner.pre else {
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
        let pre = &self.pre;
        let wit_schema = wit::Schema::from(input);
        let out = call(
            &self.plugin,
            &mut self.live,
            "transform-schema",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_transform()
                    .call_transform_schema(&mut l.store, &wit_schema, config)
                    .await
            },
        )
        .await?;
        let schema = Schema::from(out.map_err(|e| guest(&self.plugin, "transform-schema", e))?);
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
        let pre = &self.pre;
        let rows = batch.num_rows;
        let wit_schema = wit::Schema::from(input);
        let wit_batch = wit::Batch::from(batch);
        let out = call(
            &self.plugin,
            &mut self.live,
            "transform",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_transform()
                    .call_transform(&mut l.store, &wit_schema, config, &wit_batch)
                    .await
            },
        )
        .await?;
        let input = Batch::from(wit_batch);
        let out = out.map_err(|e| guest(&self.plugin, "transform", e))?;
        let batch = Batch::from(out.batch);
        batch
            .check(output)
            .map_err(|e| invalid(&self.plugin, "transform", e.to_string()))?;
        let diagnostics: Vec<Diagnostic> = out.diagnostics.into_iter().map(Into::into).collect();
        check_diagnostics(&self.plugin, "transform", &diagnostics, rows)?;
        Ok(TransformOutput {
            batch,
            diagnostics,
            input,
        })
    }
}

/// One validator instance (one `Store`).
pub struct ValidatorInstance {
    plugin: Plugin,
    pre: validator::ValidatorPre<HostState>,
    live: Option<Live<validator::Validator>>,
}

impl ValidatorInstance {
    pub fn new(plugin: Plugin) -> Result<Self, PluginError> {
        let KindPre::Validator(pre) = &plugin.inner.pre else {
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
        let pre = &self.pre;
        let wit_schema = wit::Schema::from(input);
        let out = call(
            &self.plugin,
            &mut self.live,
            "check-schema",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_validate()
                    .call_check_schema(&mut l.store, &wit_schema, config)
                    .await
            },
        )
        .await?;
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
        let pre = &self.pre;
        let rows = batch.num_rows;
        let wit_schema = wit::Schema::from(input);
        let wit_batch = wit::Batch::from(batch);
        let out = call(
            &self.plugin,
            &mut self.live,
            "validate",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_validate()
                    .call_validate(&mut l.store, &wit_schema, config, &wit_batch)
                    .await
            },
        )
        .await;
        let batch = Batch::from(wit_batch);
        let out = out?.map_err(|e| guest(&self.plugin, "validate", e))?;
        let diagnostics: Vec<Diagnostic> = out.into_iter().map(Into::into).collect();
        check_diagnostics(&self.plugin, "validate", &diagnostics, rows)?;
        Ok((batch, diagnostics))
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

fn convert_records(
    plugin: &Plugin,
    call: &'static str,
    records: Vec<parser::exports::ferry::plugin::parse::ParsedRecord>,
) -> Result<Vec<ParsedRecord>, PluginError> {
    use parser::exports::ferry::plugin::parse::FieldValue as F;
    records
        .into_iter()
        .map(|r| {
            r.fields
                .into_iter()
                .map(|f| {
                    let v = match f.value {
                        F::Null => FieldValue::Null,
                        F::Boolean(b) => FieldValue::Bool(b),
                        F::Integer(i) => FieldValue::Int(i),
                        F::Float(x) => FieldValue::Float(x),
                        F::Text(s) => FieldValue::Text(s),
                        F::Bytes(b) => FieldValue::Bytes(b),
                        F::Json(s) => match serde_json::from_str(&s) {
                            Ok(v) => FieldValue::Json(v),
                            // `IgnoredAny` checks the syntax without building
                            // values: iteratively (no depth limit, no stack)
                            // and without converting numbers.
                            Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(&s).is_ok() => {
                                FieldValue::RawJson(s)
                            }
                            Err(e) => {
                                return Err(invalid(
                                    plugin,
                                    call,
                                    format!("field `{}` is not valid JSON: {e}", f.name),
                                ));
                            }
                        },
                    };
                    Ok((f.name, v))
                })
                .collect()
        })
        .collect()
}

/// One parser instance (one `Store`) parsing one file at a time.
pub struct ParserInstance {
    plugin: Plugin,
    pre: parser::ParserPre<HostState>,
    live: Option<Live<parser::Parser>>,
    session: Option<ResourceAny>,
}

impl ParserInstance {
    pub fn new(plugin: Plugin) -> Result<Self, PluginError> {
        let KindPre::Parser(pre) = &plugin.inner.pre else {
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
        let pre = &self.pre;
        let info = parser::exports::ferry::plugin::parse::FileInfo {
            name: name.to_string(),
            size,
            media_type_hint: media_type.map(str::to_string),
        };
        let out = call(
            &self.plugin,
            &mut self.live,
            "open",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_parse()
                    .call_open(&mut l.store, &info, config)
                    .await
            },
        )
        .await?;
        self.session = Some(out.map_err(|e| guest(&self.plugin, "open", e))?);
        Ok(())
    }

    /// Feeds the next chunk of the file; returns the records completed so far.
    pub async fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        let pre = &self.pre;
        let Some(session) = self.session else {
            return Err(PluginError::Runtime("feed called before open".into()));
        };
        let out = call(
            &self.plugin,
            &mut self.live,
            "feed",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_parse()
                    .session()
                    .call_feed(&mut l.store, session, chunk)
                    .await
            },
        );
        let out = out.await;
        if out.is_err() {
            self.session = None;
        }
        let records = out?.map_err(|e| guest(&self.plugin, "feed", e))?;
        convert_records(&self.plugin, "feed", records)
    }

    /// End of file: the remaining records.
    pub async fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        let pre = &self.pre;
        let Some(session) = self.session else {
            return Err(PluginError::Runtime("finish called before open".into()));
        };
        let out = call(
            &self.plugin,
            &mut self.live,
            "finish",
            async |s| pre.instantiate_async(s).await,
            async |l| {
                l.bindings
                    .ferry_plugin_parse()
                    .session()
                    .call_finish(&mut l.store, session)
                    .await
            },
        )
        .await;
        self.close().await;
        let records = out?.map_err(|e| guest(&self.plugin, "finish", e))?;
        convert_records(&self.plugin, "finish", records)
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
