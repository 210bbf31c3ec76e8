//! Finding plugins by name: built-ins, configured paths, plugin directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{BUILTINS, Limits, Manifest, Plugin, PluginError, PluginSource, Runtime};

/// Operator settings for one plugin (from the config file).
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    /// Load from this file instead of the built-in or plugin directory.
    pub path: Option<PathBuf>,
    /// Refuse to load unless the component's sha256 is this.
    pub sha256: Option<String>,
    pub limits: Limits,
}

/// Resolves plugin names to loaded plugins.
#[derive(Clone)]
pub struct Registry {
    runtime: Runtime,
    plugin_dirs: Vec<PathBuf>,
    settings: BTreeMap<String, PluginSettings>,
}

impl Registry {
    pub fn new(
        runtime: Runtime,
        plugin_dirs: Vec<PathBuf>,
        settings: BTreeMap<String, PluginSettings>,
    ) -> Self {
        Registry {
            runtime,
            plugin_dirs,
            settings,
        }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn settings_for(&self, name: &str) -> PluginSettings {
        self.settings.get(name).cloned().unwrap_or_default()
    }

    /// Loads a plugin given as a name (`mask`) or a path (`./x.wasm`).
    ///
    /// Names resolve in order: a `path` in the config, the plugin
    /// directories (`NAME.wasm`), then the built-ins.
    pub async fn resolve(&self, name_or_path: &str) -> Result<Plugin, PluginError> {
        let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".wasm");
        if looks_like_path {
            let path = Path::new(name_or_path);
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(name_or_path);
            let s = self
                .settings
                .get(name_or_path)
                .or_else(|| self.settings.get(stem))
                .cloned()
                .unwrap_or_default();
            return self
                .runtime
                .load_file(path, s.sha256.as_deref(), s.limits)
                .await;
        }
        let s = self.settings_for(name_or_path);
        if let Some(p) = &s.path {
            return self
                .runtime
                .load_file(p, s.sha256.as_deref(), s.limits.clone())
                .await;
        }
        for dir in &self.plugin_dirs {
            let p = dir.join(format!("{name_or_path}.wasm"));
            if p.is_file() {
                return self
                    .runtime
                    .load_file(&p, s.sha256.as_deref(), s.limits.clone())
                    .await;
            }
        }
        if let Some((_, bytes)) = BUILTINS.iter().find(|(n, _)| *n == name_or_path) {
            return self
                .runtime
                .load_bytes(
                    name_or_path,
                    bytes,
                    PluginSource::Builtin,
                    s.sha256.as_deref(),
                    s.limits.clone(),
                )
                .await;
        }
        Err(PluginError::NotFound {
            name: name_or_path.to_string(),
            searched: self
                .plugin_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
        })
    }

    /// Like [`Registry::resolve`], but the plugin must have this sha256
    /// (whatever the config says): used to run a saved plan.
    pub async fn resolve_pinned(
        &self,
        name_or_path: &str,
        sha256: &str,
    ) -> Result<Plugin, PluginError> {
        let plugin = self.resolve(name_or_path).await?;
        let expected = sha256.trim_start_matches("sha256:").to_ascii_lowercase();
        if plugin.manifest().sha256 != expected {
            return Err(PluginError::DigestMismatch {
                plugin: plugin.name().to_string(),
                expected,
                actual: plugin.manifest().sha256.clone(),
            });
        }
        Ok(plugin)
    }

    /// Every plugin available: built-ins, then each plugin directory's
    /// `*.wasm` files. A file that fails to load is listed with its error.
    pub async fn list(&self) -> Vec<Result<Manifest, PluginError>> {
        let mut out = Vec::new();
        for (name, _) in BUILTINS {
            out.push(self.resolve(name).await.map(|p| p.manifest().clone()));
        }
        for dir in &self.plugin_dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect();
            files.sort();
            for f in files {
                let s = f
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(|n| self.settings_for(n))
                    .unwrap_or_default();
                out.push(
                    self.runtime
                        .load_file(&f, s.sha256.as_deref(), s.limits)
                        .await
                        .map(|p| p.manifest().clone()),
                );
            }
        }
        out
    }
}
