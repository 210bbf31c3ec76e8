//! The plugin runtime: loads WASM components against the `ferry:plugin`
//! contract and runs them in a sandbox.
//!
//! This is the only layer that names wasmtime. It hands the engine
//! [`Plugin`]s (a compiled, type-checked component plus its manifest) and
//! instances ([`TransformerInstance`], [`ValidatorInstance`],
//! [`ParserInstance`]) that take and return [`crate::model`] types.
//!
//! Sandbox, per instance (one wasmtime `Store` each):
//! - WASI grants nothing: no preopened directory, no environment, no
//!   arguments, no sockets, no stdin. Guest stdout/stderr go to `tracing`,
//!   capped, tagged with the plugin name.
//! - [`Limits`]: linear memory, a per-call deadline (epoch interruption), a
//!   cap on what one call may return (hostcall fuel), and the engine-wide
//!   wasm stack limit.
//! - After any trap the instance is dropped; the next call gets a fresh one.
//!
//! Contract versions: `wit` holds one module per released version of
//! `ferry:plugin` (bindings of its frozen WIT folder and the conversions to
//! the host's types). A component's exports name its version; the plugin
//! runs through that version's bindings, so older plugins keep loading.

mod builtin;
mod instance;
mod logpipe;
mod registry;
mod runtime;
mod wit;

use std::path::PathBuf;
use std::time::Duration;

pub use builtin::BUILTINS;
pub use instance::{FieldValue, ParsedRecord};
pub use instance::{ParserInstance, TransformOutput, TransformerInstance, ValidatorInstance};
pub use registry::{PluginSettings, Registry};
pub use runtime::{Plugin, Runtime, RuntimeOptions, sha256_hex};

/// The newest contract version this host implements (`ferry:plugin@0.1.0`),
/// the one new plugins are built against. Every released version keeps
/// loading: see `wit::CONTRACTS`.
pub const CONTRACT_VERSION: &str = wit::LATEST;

/// Default linear-memory limit per plugin instance: 256 MiB.
/// A 5,000-row batch of a wide table is a few MiB and plugins copy it at most
/// two or three times; Rust's allocator doubles capacity, so the working set
/// can reach ~2× the live data. 256 MiB leaves ample headroom while keeping
/// a hostile plugin from taking the host's memory. Raise per plugin with
/// `memory_mib` in the config for plugins that legitimately hold more.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;

/// Default per-call deadline: 10 s. A normal transform of a 5,000-row batch
/// takes well under 10 ms; a call that takes a thousand times longer is stuck.
/// Raise per plugin with `timeout_ms` for plugins that do heavy work per batch.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on what one call may return to the host: 64 MiB (wasmtime's
/// hostcall fuel, counted in bytes copied out of the guest). Ten times the
/// largest batch ferry sends, so a legitimate transformer never hits it; a
/// plugin that floods the host is stopped before the host allocates it.
/// Raise per plugin with `max_output_mib`.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// Wasm stack limit: 1 MiB, for every plugin. This is an engine setting and
/// ferry has one engine per process, so it cannot differ per plugin. 1 MiB
/// covers deep but finite recursion (e.g. a recursive-descent parser on
/// nesting depth 10,000); unbounded recursion traps in about a millisecond.
pub const MAX_WASM_STACK_BYTES: usize = 1 << 20;

/// Cap on a plugin's captured stdout + stderr per instance: 64 KiB. Beyond it
/// output is dropped (and one line says so), so a chatty or hostile plugin
/// cannot flood the log.
pub const MAX_CAPTURED_OUTPUT_BYTES: usize = 64 << 10;

/// Cap on one `host.log` message: 4 KiB; longer messages are truncated.
pub const MAX_LOG_LINE_BYTES: usize = 4 << 10;

/// Largest component ferry will load: 64 MiB (wasmCloud uses 50 MiB). Real
/// plugins are well under 5 MiB; this stops a runaway file before compiling it.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Limits for one plugin's instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub call_timeout: Duration,
    pub max_output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

/// The three plugin kinds, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Transformer,
    Validator,
    Parser,
}

impl PluginKind {
    /// The exported interface that identifies this kind.
    fn interface(self) -> &'static str {
        match self {
            PluginKind::Transformer => "transform",
            PluginKind::Validator => "validate",
            PluginKind::Parser => "parse",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PluginKind::Transformer => "transformer",
            PluginKind::Validator => "validator",
            PluginKind::Parser => "parser",
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "path")]
pub enum PluginSource {
    /// Compiled into the `ferry` binary.
    Builtin,
    /// Loaded from a file.
    File(PathBuf),
}

/// A plugin's manifest: what it says about itself (`describe`) plus what the
/// host read from the component (kind, contract version, digest).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub kind: PluginKind,
    pub contract_version: String,
    pub description: String,
    /// JSON Schema of the plugin's configuration.
    pub config_schema: serde_json::Value,
    /// Capabilities the plugin declares it wants. ferry 0.1 grants none.
    pub capabilities: Vec<String>,
    /// sha256 of the component bytes, hex.
    pub sha256: String,
    pub source: PluginSource,
}

/// Which limit a plugin exceeded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "limit")]
pub enum Limit {
    Memory { limit_bytes: u64 },
    Deadline { limit_ms: u64 },
    Output { limit_bytes: u64 },
    Stack { limit_bytes: u64 },
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Memory { limit_bytes } => {
                write!(f, "memory limit of {} MiB", limit_bytes >> 20)
            }
            Limit::Deadline { limit_ms } => write!(f, "per-call deadline of {limit_ms} ms"),
            Limit::Output { limit_bytes } => {
                write!(f, "output limit of {} MiB per call", limit_bytes >> 20)
            }
            Limit::Stack { limit_bytes } => write!(
                f,
                "stack limit (engine stack {} KiB, or the plugin's own stack in its memory)",
                limit_bytes >> 10
            ),
        }
    }
}

impl Limit {
    /// What the operator can do about it.
    fn advice(&self) -> &'static str {
        match self {
            Limit::Memory { .. } => {
                "if the plugin legitimately needs more, raise `memory_mib` for it in the config; otherwise report it to the plugin's author"
            }
            Limit::Deadline { .. } => {
                "if the plugin is merely slow, raise `timeout_ms` for it or lower `batch_size`; otherwise it is stuck in a loop: report it to the plugin's author"
            }
            Limit::Output { .. } => {
                "lower `batch_size`, or raise `max_output_mib` for the plugin if its output is legitimately large"
            }
            Limit::Stack { .. } => {
                "the plugin recursed too deeply and overflowed its stack (the engine's, or its own in linear memory); this is usually unbounded recursion: report it to the plugin's author"
            }
        }
    }
}

/// Where in its input a plugin found a problem.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Location {
    pub row: Option<u32>,
    pub column: Option<String>,
    pub line: Option<u32>,
    pub line_column: Option<u32>,
    pub byte_offset: Option<u64>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(l) = self.line {
            match self.line_column {
                Some(c) => parts.push(format!("line {l}, column {c}")),
                None => parts.push(format!("line {l}")),
            }
        }
        if let Some(o) = self.byte_offset {
            parts.push(format!("byte {o}"));
        }
        if let Some(r) = self.row {
            parts.push(format!("row {r}"));
        }
        if let Some(c) = &self.column {
            parts.push(format!("column `{c}`"));
        }
        if parts.is_empty() {
            f.write_str("unknown position")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// An error the plugin itself returned (a WIT `plugin-error`), not a trap.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
#[non_exhaustive]
pub enum GuestError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("unsupported schema: {0}")]
    UnsupportedSchema(String),
    #[error("malformed input at {location}: {message}")]
    MalformedInput { message: String, location: Location },
    #[error("internal plugin error: {0}")]
    Internal(String),
}

/// Everything that can go wrong with a plugin, naming the plugin and saying
/// what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    #[error(
        "plugin `{name}` not found (looked in the built-ins{}); `ferry plugin list` shows what is available",
        if searched.is_empty() { String::new() } else { format!(" and {}", searched.join(", ")) }
    )]
    NotFound { name: String, searched: Vec<String> },

    #[error("cannot load plugin `{plugin}`: {reason}")]
    Load { plugin: String, reason: String },

    #[error(
        "plugin `{plugin}` implements contract ferry:plugin@{found}, but this ferry supports @{supported}; rebuild the plugin against ferry-plugin-sdk for contract {supported}"
    )]
    IncompatibleContract {
        plugin: String,
        found: String,
        supported: &'static str,
    },

    #[error(
        "plugin `{plugin}` does not match its pinned digest: config pins sha256 {expected}, the file is sha256 {actual}; if this new build is intended, update the pin in the config"
    )]
    DigestMismatch {
        plugin: String,
        expected: String,
        actual: String,
    },

    #[error("plugin `{plugin}` is a {actual}, but it is used as a {expected}")]
    WrongKind {
        plugin: String,
        expected: PluginKind,
        actual: PluginKind,
    },

    #[error("plugin `{plugin}` exceeded its {limit} in `{call}`; {}", limit.advice())]
    LimitExceeded {
        plugin: String,
        call: &'static str,
        limit: Limit,
    },

    #[error(
        "plugin `{plugin}` trapped in `{call}`: {message}; the instance was discarded. This is a bug in the plugin: report it to its author with this backtrace{}",
        if backtrace.is_empty() { String::new() } else { format!(":\n{backtrace}") }
    )]
    Trap {
        plugin: String,
        call: &'static str,
        message: String,
        backtrace: String,
    },

    #[error("plugin `{plugin}` returned an error from `{call}`: {error}")]
    Guest {
        plugin: String,
        call: &'static str,
        error: Box<GuestError>,
    },

    #[error(
        "plugin `{plugin}` returned invalid output from `{call}`: {reason}; this is a bug in the plugin"
    )]
    InvalidOutput {
        plugin: String,
        call: &'static str,
        reason: String,
    },

    #[error("plugin runtime failure: {0}")]
    Runtime(String),
}

impl PluginError {
    /// The plugin this error is about, if any.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::NotFound { name, .. } => Some(name),
            PluginError::Load { plugin, .. }
            | PluginError::IncompatibleContract { plugin, .. }
            | PluginError::DigestMismatch { plugin, .. }
            | PluginError::WrongKind { plugin, .. }
            | PluginError::LimitExceeded { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Guest { plugin, .. }
            | PluginError::InvalidOutput { plugin, .. } => Some(plugin),
            PluginError::Runtime(_) => None,
        }
    }

    /// A short, stable code for reports: `limit-exceeded`, `trap`, ….
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::NotFound { .. } => "not-found",
            PluginError::Load { .. } => "load",
            PluginError::IncompatibleContract { .. } => "incompatible-contract",
            PluginError::DigestMismatch { .. } => "digest-mismatch",
            PluginError::WrongKind { .. } => "wrong-kind",
            PluginError::LimitExceeded { .. } => "limit-exceeded",
            PluginError::Trap { .. } => "trap",
            PluginError::Guest { .. } => "guest-error",
            PluginError::InvalidOutput { .. } => "invalid-output",
            PluginError::Runtime(_) => "runtime",
        }
    }
}
