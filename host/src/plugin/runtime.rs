//! The engine, the compiled-component cache, and loading plugins.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::logpipe::LogPipe;
use super::wit::{self, Contract, Description, Pre};
use super::{
    CONTRACT_VERSION, Limits, MAX_COMPONENT_BYTES, MAX_LOG_LINE_BYTES, MAX_WASM_STACK_BYTES,
    Manifest, PluginError, PluginKind, PluginSource,
};

/// Epoch tick: 10 ms. Deadlines are checked at this granularity; a shorter
/// tick costs more wakeups, a longer one makes short deadlines imprecise.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One engine per process: compiled components and `Store`s must come from
/// the same engine (RUSTSEC-2026-0222), and its compile settings are part of
/// every cached artifact's key.
fn engine() -> Result<&'static Engine, PluginError> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut cfg = Config::new();
            cfg.wasm_component_model(true)
                .epoch_interruption(true)
                .max_wasm_stack(MAX_WASM_STACK_BYTES)
                // Must exceed the wasm stack; the rest is for host calls.
                .async_stack_size(MAX_WASM_STACK_BYTES + (1 << 20))
                .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(32));
            let engine = Engine::new(&cfg).map_err(|e| format!("{e:#}"))?;
            let weak = engine.weak();
            std::thread::Builder::new()
                .name("ferry-epoch".into())
                .spawn(move || {
                    while let Some(e) = weak.upgrade() {
                        e.increment_epoch();
                        drop(e);
                        std::thread::sleep(EPOCH_TICK);
                    }
                })
                .map_err(|e| format!("cannot start the epoch thread: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(|e| PluginError::Runtime(e.clone()))
}

/// Per-instance state inside a `Store`.
pub(crate) struct HostState {
    pub plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// When the current call must end; checked on every epoch tick.
    pub deadline: Option<Instant>,
    pub stderr: LogPipe,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The levels of the contract's `host.log`, in every version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl HostState {
    /// `host.log`: one line to `tracing`, tagged with the plugin's name and
    /// cut at [`MAX_LOG_LINE_BYTES`].
    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        let mut message = message;
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" … (truncated)");
        }
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Caps linear memory and remembers that the cap was hit, so the error can
/// name the limit instead of a bare trap.
pub(crate) struct MemoryLimiter {
    limit: usize,
    pub hit: bool,
    /// Largest linear memory size granted so far (memory never shrinks).
    pub peak: usize,
}

impl MemoryLimiter {
    /// Whether the instance holds more than half its limit: linear memory
    /// never shrinks, so after one huge batch the instance is replaced rather
    /// than kept at its high-water mark.
    pub fn should_recycle(&self) -> bool {
        self.peak > self.limit / 2
    }
}

/// Table elements per table: 100,000. Rust guests use a few hundred (one per
/// function address taken); this only stops a table-growth bomb.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            self.peak = self.peak.max(current);
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing linear memory to {desired} bytes exceeds {} bytes",
                self.limit
            )));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    // A component is a handful of core instances; these caps stop a component
    // that tries to create thousands.
    fn instances(&self) -> usize {
        64
    }
    fn tables(&self) -> usize {
        64
    }
    fn memories(&self) -> usize {
        16
    }
}

pub(crate) struct PluginInner {
    pub manifest: Manifest,
    pub limits: Limits,
    /// The component type-checked against its contract version's world.
    pub pre: Pre,
}

/// A loaded plugin: compiled, type-checked against the contract, described.
/// Cheap to clone; create instances from it.
#[derive(Clone)]
pub struct Plugin {
    pub(crate) inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("manifest", &self.inner.manifest)
            .finish()
    }
}

impl Plugin {
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    pub fn name(&self) -> &str {
        &self.inner.manifest.name
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// A fresh sandboxed store for one instance of this plugin.
    pub(crate) fn new_store(&self) -> Result<Store<HostState>, PluginError> {
        new_store(&self.inner.manifest.name, &self.inner.limits)
    }
}

fn new_store(name: &str, limits: &Limits) -> Result<Store<HostState>, PluginError> {
    let engine = engine()?;
    let plugin: Arc<str> = Arc::from(name);
    let stderr = LogPipe::new(plugin.clone(), "stderr");
    // Deny by default: no preopened directories, no environment variables,
    // no arguments, no stdin, no sockets or name lookups. Clocks and random
    // remain (WASI p2 always provides them).
    let mut b = WasiCtx::builder();
    b.stdout(LogPipe::new(plugin.clone(), "stdout"))
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    let state = HostState {
        plugin,
        wasi: b.build(),
        table: ResourceTable::new(),
        limiter: MemoryLimiter {
            limit: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
            hit: false,
            peak: 0,
        },
        // Instantiation runs guest code too: give it the call budget.
        deadline: Some(Instant::now() + limits.call_timeout),
        stderr,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_hostcall_fuel(usize::try_from(limits.max_output_bytes).unwrap_or(usize::MAX));
    store.epoch_deadline_callback(|ctx| {
        Ok(match ctx.data().deadline {
            Some(d) if Instant::now() >= d => UpdateDeadline::Interrupt,
            // Give the executor the thread back every tick.
            _ => UpdateDeadline::Yield(1),
        })
    });
    store.set_epoch_deadline(1);
    Ok(store)
}

/// Where compiled components are cached, and where plugins are found.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Directory for compiled components; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
}

impl RuntimeOptions {
    /// `$FERRY_CACHE_DIR`, else `$XDG_CACHE_HOME/ferry`, else `~/.cache/ferry`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("FERRY_CACHE_DIR") {
            return Some(PathBuf::from(d));
        }
        if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("ferry"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("ferry"))
    }
}

/// How large the compiled-component cache may grow, in MiB, unless
/// `$FERRY_CACHE_MAX_MB` says otherwise. A compiled Python plugin is about
/// 35 MB and a JavaScript one a few MB, and their componentizers do not
/// build reproducibly: every rebuild an author makes is a new artifact, so
/// without a bound the cache grows by that much per build. 2 GiB holds
/// dozens of interpreted plugins and thousands of Rust ones; the least
/// recently used artifacts go first.
const DEFAULT_CACHE_MAX_MB: u64 = 2048;

/// Loads and compiles plugins. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    linker: Arc<Linker<HostState>>,
    cache_dir: Option<PathBuf>,
    cache_max_bytes: u64,
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// sha256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Runtime {
    pub fn new(opts: RuntimeOptions) -> Result<Runtime, PluginError> {
        let engine = engine()?;
        let mut linker = Linker::<HostState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("linking WASI: {e:#}")))?;
        wit::add_to_linker(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("linking host interface: {e:#}")))?;
        let cache_max_mb = std::env::var("FERRY_CACHE_MAX_MB")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(DEFAULT_CACHE_MAX_MB);
        Ok(Runtime {
            linker: Arc::new(linker),
            cache_dir: opts.cache_dir.map(|d| d.join("components")),
            cache_max_bytes: cache_max_mb.saturating_mul(1 << 20),
        })
    }

    /// Loads a plugin from a `.wasm` component file.
    pub async fn load_file(
        &self,
        path: &Path,
        pin: Option<&str>,
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| PluginError::Load {
            plugin: shown.clone(),
            reason: format!("cannot read {shown}: {e}"),
        })?;
        if meta.len() > MAX_COMPONENT_BYTES {
            return Err(PluginError::Load {
                plugin: shown,
                reason: format!(
                    "the file is {} MiB; ferry loads components up to {} MiB",
                    meta.len() >> 20,
                    MAX_COMPONENT_BYTES >> 20
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(|e| PluginError::Load {
            plugin: shown.clone(),
            reason: format!("cannot read {shown}: {e}"),
        })?;
        self.load_bytes(
            &shown,
            &bytes,
            PluginSource::File(path.to_path_buf()),
            pin,
            limits,
        )
        .await
    }

    /// Loads a plugin from component bytes. `label` names it in errors until
    /// the plugin has described itself.
    pub async fn load_bytes(
        &self,
        label: &str,
        bytes: &[u8],
        source: PluginSource,
        pin: Option<&str>,
        limits: Limits,
    ) -> Result<Plugin, PluginError> {
        let digest = sha256_hex(bytes);
        if let Some(expected) = pin {
            let expected = expected
                .trim()
                .trim_start_matches("sha256:")
                .to_ascii_lowercase();
            if expected != digest {
                return Err(PluginError::DigestMismatch {
                    plugin: label.to_string(),
                    expected,
                    actual: digest,
                });
            }
        }
        let component = self.compile(label, bytes, &digest).await?;
        let (kind, contract, version) = contract_of(label, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Load {
                plugin: label.to_string(),
                reason: format!("it imports something ferry does not provide: {e:#}"),
            })?;
        let load_err = |e: wasmtime::Error| PluginError::Load {
            plugin: label.to_string(),
            reason: format!("{e:#}"),
        };
        let pre = (contract.pre)(kind, pre).map_err(load_err)?;
        let info = describe(label, &pre, &limits).await?;
        let config_schema = serde_json::from_str(&info.config_schema)
            .unwrap_or(serde_json::Value::String(info.config_schema.clone()));
        // Names appear in CLI flags, config keys and logs: 1–64 characters
        // of a small alphabet keep them unambiguous there.
        let name_ok = !info.name.is_empty()
            && info.name.len() <= 64
            && info
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(PluginError::Load {
                plugin: label.to_string(),
                reason: format!(
                    "its name {:?} is not 1–64 lowercase letters, digits, `-` or `_`",
                    info.name
                ),
            });
        }
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                manifest: Manifest {
                    name: info.name,
                    version: info.version,
                    kind,
                    contract_version: version,
                    description: info.description,
                    config_schema,
                    capabilities: info.capabilities,
                    sha256: digest,
                    source,
                },
                limits,
                pre,
            }),
        })
    }

    /// Compiles a component, or loads it from the on-disk cache keyed by the
    /// wasm's sha256 and the engine's compatibility hash.
    async fn compile(
        &self,
        label: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<Component, PluginError> {
        let engine = engine()?;
        let load_err = |e: wasmtime::Error| PluginError::Load {
            plugin: label.to_string(),
            reason: format!("not a valid WebAssembly component: {e:#}"),
        };
        let Some(dir) = &self.cache_dir else {
            let bytes = bytes.to_vec();
            return tokio::task::spawn_blocking(move || Component::new(engine, &bytes))
                .await
                .map_err(|e| PluginError::Runtime(e.to_string()))?
                .map_err(load_err);
        };
        let mut h = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
        let engine_key = hex::encode(&h.0.finalize()[..8]);
        let path = dir.join(format!("{digest}-{engine_key}.cwasm"));
        let sidecar = path.with_extension("cwasm.sha256");
        if path.exists() {
            match verify_artifact(&path, &sidecar) {
                Ok(()) => {
                    // SAFETY: the artifact was produced by this host (the
                    // cache directory is ferry's own, created 0700) and its
                    // sha256 matches the one recorded when it was written.
                    match unsafe { Component::deserialize_file(engine, &path) } {
                        Ok(c) => {
                            // Its time of use, for pruning least recently used first.
                            let _ = std::fs::File::options()
                                .append(true)
                                .open(&path)
                                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                            return Ok(c);
                        }
                        Err(e) => tracing::warn!(
                            artifact = %path.display(),
                            "cached compiled component is stale ({e:#}); recompiling"
                        ),
                    }
                }
                Err(reason) => tracing::warn!(
                    artifact = %path.display(),
                    "cached compiled component is stale ({reason}); recompiling"
                ),
            }
        }
        let owned = bytes.to_vec();
        let artifact = tokio::task::spawn_blocking(move || engine.precompile_component(&owned))
            .await
            .map_err(|e| PluginError::Runtime(e.to_string()))?
            .map_err(load_err)?;
        if let Err(e) = write_artifact(dir, &path, &sidecar, &artifact) {
            tracing::warn!(dir = %dir.display(), "cannot cache compiled component: {e}");
        }
        prune_cache(dir, self.cache_max_bytes, &path);
        // SAFETY: `artifact` was produced by `precompile_component` just now.
        unsafe { Component::deserialize(engine, &artifact) }.map_err(load_err)
    }
}

/// Removes the least recently used compiled artifacts (and their digest
/// records) until the cache holds at most `max_bytes`; `keep`, the one just
/// written, stays whatever its size. A process loading an artifact removed
/// under it finds it stale and compiles again; nothing else depends on it.
fn prune_cache(dir: &Path, max_bytes: u64, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut artifacts: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = artifacts.iter().map(|(_, len, _)| len).sum();
    artifacts.sort();
    for (_, len, path) in artifacts {
        if total <= max_bytes {
            break;
        }
        if path == keep {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                let _ = std::fs::remove_file(path.with_extension("cwasm.sha256"));
                total = total.saturating_sub(len);
                tracing::debug!(artifact = %path.display(), "pruned from the compiled-component cache");
            }
            Err(e) => tracing::warn!(artifact = %path.display(), "cannot prune: {e}"),
        }
    }
}

fn verify_artifact(path: &Path, sidecar: &Path) -> Result<(), String> {
    let recorded =
        std::fs::read_to_string(sidecar).map_err(|e| format!("no digest record: {e}"))?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let actual = sha256_hex(&bytes);
    if recorded.trim() != actual {
        return Err(format!(
            "its sha256 {actual} differs from the recorded {}",
            recorded.trim()
        ));
    }
    Ok(())
}

fn write_artifact(dir: &Path, path: &Path, sidecar: &Path, artifact: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // Unique per writer: threads of one process may compile the same plugin at once.
    let tmp = path.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&tmp, artifact)?;
    std::fs::rename(&tmp, path)?;
    std::fs::write(sidecar, sha256_hex(artifact))?;
    Ok(())
}

/// Reads the plugin kind and contract version from the component's exports
/// (`ferry:plugin/transform@0.1.0` → transformer, the 0.1 bindings, `0.1.0`).
fn contract_of(
    label: &str,
    component: &Component,
) -> Result<(PluginKind, &'static Contract, String), PluginError> {
    let engine = engine()?;
    let ty = component.component_type();
    let mut names = Vec::new();
    for (name, _) in ty.exports(engine) {
        names.push(name.to_string());
        let Some(rest) = name.strip_prefix("ferry:plugin/") else {
            continue;
        };
        let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
        let kind = [
            PluginKind::Transformer,
            PluginKind::Validator,
            PluginKind::Parser,
        ]
        .into_iter()
        .find(|k| k.interface() == iface);
        let Some(kind) = kind else { continue };
        let Some(contract) = Contract::of(version) else {
            return Err(PluginError::IncompatibleContract {
                plugin: label.to_string(),
                found: version.to_string(),
                supported: CONTRACT_VERSION,
            });
        };
        return Ok((kind, contract, version.to_string()));
    }
    Err(PluginError::Load {
        plugin: label.to_string(),
        reason: format!(
            "it is not a ferry plugin: it exports none of ferry:plugin/transform, /validate or /parse (it exports: {})",
            if names.is_empty() {
                "nothing".to_string()
            } else {
                names.join(", ")
            }
        ),
    })
}

/// Instantiates the plugin once in a fresh sandbox and asks it to describe itself.
async fn describe(label: &str, pre: &Pre, limits: &Limits) -> Result<Description, PluginError> {
    let mut store = new_store(label, limits)?;
    let res = match pre {
        Pre::Transformer(p) => match p.instantiate(&mut store).await {
            Ok(i) => i.describe(&mut store).await,
            Err(e) => Err(e),
        },
        Pre::Validator(p) => match p.instantiate(&mut store).await {
            Ok(i) => i.describe(&mut store).await,
            Err(e) => Err(e),
        },
        Pre::Parser(p) => match p.instantiate(&mut store).await {
            Ok(i) => i.describe(&mut store).await,
            Err(e) => Err(e),
        },
    };
    res.map_err(|e| super::instance::classify(label, "describe", limits, &store, e))
}
