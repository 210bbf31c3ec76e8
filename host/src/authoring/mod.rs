//! Writing plugins: `ferry plugin new`, `ferry plugin build` and
//! `ferry plugin test`.
//!
//! A plugin project is a directory holding `ferry-plugin.toml` (its name,
//! kind and language) and the language's own files: `Cargo.toml` and
//! `src/lib.rs` (Rust), `app.py` (Python), `app.js` (JavaScript). The
//! binary carries the SDKs, the WIT contract and the project templates
//! (embedded by `host/build.rs`); [`install_support`] writes the SDK and the
//! contract into the project's `.ferry/`, so a project always builds against
//! the contract of the ferry that will load it, offline.
//!
//! [`toolchain`] runs the language's compiler or componentizer and the
//! project's own tests; [`conformance`] runs a built component against the
//! WIT world with the host's own checks.

pub mod conformance;
pub mod toolchain;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::plugin::PluginKind;

/// Every file of the SDKs, the WIT contract and the templates, as
/// `(path inside the binary, contents)`: `sdk/<lang>/…`, `wit/…`,
/// `templates/<lang>/<kind>/…`, `templates/sdk-rust/Cargo.toml`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/authoring.rs"));
}

/// The manifest a project carries.
pub const MANIFEST: &str = "ferry-plugin.toml";

/// Where the SDK and the contract go inside a project.
pub const SUPPORT_DIR: &str = ".ferry";

/// The contract's directory under `wit/` (and under `.ferry/wit/`).
pub const WIT_DIR: &str = "since_v0.1.0";

/// Longest plugin name: it becomes a file name, a crate name and the name
/// operators type in `--transform`.
const MAX_NAME: usize = 64;

/// A language a plugin can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Some(Lang::Rust),
            "python" | "py" => Some(Lang::Python),
            "js" | "javascript" => Some(Lang::Js),
            _ => None,
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A plugin kind from its name (`transformer`, `validator`, `parser`).
pub fn parse_kind(s: &str) -> Option<PluginKind> {
    match s.to_ascii_lowercase().as_str() {
        "transformer" | "transform" => Some(PluginKind::Transformer),
        "validator" | "validate" => Some(PluginKind::Validator),
        "parser" | "parse" => Some(PluginKind::Parser),
        _ => None,
    }
}

/// Why writing, building or testing a plugin project failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    #[error(
        "`{0}` is not a plugin name: use lowercase letters, digits and dashes, starting with a letter, at most {MAX_NAME} characters (e.g. `normalise-email`)"
    )]
    BadName(String),

    #[error("{} already exists and is not empty; choose another --dir, or remove it first", .0.display())]
    Exists(PathBuf),

    #[error(
        "no plugin project in {}: it has no {MANIFEST}, Cargo.toml, app.py or app.js; create one with `ferry plugin new NAME --kind KIND --lang LANG`",
        .0.display()
    )]
    NoProject(PathBuf),

    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },

    #[error("{what} was not found; install it with: {install}")]
    ToolMissing { what: String, install: &'static str },

    #[error("`{command}` failed ({status}) in {}{}", dir.display(), if tail.is_empty() { String::new() } else { format!(":\n{tail}") })]
    ToolFailed {
        command: String,
        status: String,
        dir: PathBuf,
        tail: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuthoringError + '_ {
    move |source| AuthoringError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A plugin project on disk, as its manifest describes it.
#[derive(Debug, Clone)]
pub struct Project {
    pub dir: PathBuf,
    pub name: String,
    pub kind: PluginKind,
    pub lang: Lang,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    kind: String,
    lang: String,
}

impl Project {
    /// Reads `DIR/ferry-plugin.toml`.
    ///
    /// Without a manifest the project is recognised by its files — `Cargo.toml`
    /// (Rust), `app.py` (Python), `app.js` (JavaScript) — its kind by the
    /// export the code makes (`export_transformer!`, `export_validator(…)`,
    /// `exportParser(…)`, …) and its name by the crate's, the package's or
    /// the directory's.
    pub fn open(dir: &Path) -> Result<Project, AuthoringError> {
        let path = dir.join(MANIFEST);
        if !path.is_file() {
            return Self::detect(dir);
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let bad = |message: String| AuthoringError::Manifest {
            path: path.clone(),
            message,
        };
        let raw: RawManifest = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        check_name(&raw.name)?;
        let kind = parse_kind(&raw.kind).ok_or_else(|| {
            bad(format!(
                "kind `{}` is not transformer, validator or parser",
                raw.kind
            ))
        })?;
        let lang = Lang::parse(&raw.lang)
            .ok_or_else(|| bad(format!("lang `{}` is not rust, python or js", raw.lang)))?;
        // Absolute: the toolchains run inside the project and are handed
        // paths into it.
        let dir = std::path::absolute(dir).map_err(io(dir))?;
        Ok(Project {
            dir,
            name: raw.name,
            kind,
            lang,
        })
    }

    fn detect(dir: &Path) -> Result<Project, AuthoringError> {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let dir_name = || {
            std::path::absolute(dir)
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default()
        };
        let (lang, name, code) = if let Some(cargo) = read("Cargo.toml") {
            let name = toml::from_str::<toml::Value>(&cargo)
                .ok()
                .and_then(|v| v.get("package")?.get("name")?.as_str().map(str::to_string))
                .unwrap_or_else(dir_name);
            (Lang::Rust, name, read("src/lib.rs").unwrap_or_default())
        } else if let Some(code) = read("app.py") {
            (Lang::Python, dir_name(), code)
        } else if let Some(code) = read("app.js") {
            let name = read("package.json")
                .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
                .and_then(|p| p["name"].as_str().map(str::to_string))
                .unwrap_or_else(dir_name);
            (Lang::Js, name, code)
        } else {
            return Err(AuthoringError::NoProject(dir.to_path_buf()));
        };
        let exports = [
            (
                PluginKind::Transformer,
                ["export_transformer", "exportTransformer"],
            ),
            (
                PluginKind::Validator,
                ["export_validator", "exportValidator"],
            ),
            (PluginKind::Parser, ["export_parser", "exportParser"]),
        ];
        let kind = exports
            .iter()
            .find(|(_, marks)| marks.iter().any(|m| code.contains(m)))
            .map(|(k, _)| *k)
            .ok_or_else(|| AuthoringError::Manifest {
                path: dir.join(MANIFEST),
                message: format!(
                    "this looks like a {lang} plugin, but its code exports no transformer, \
                     validator or parser; write {MANIFEST} with name, kind and lang"
                ),
            })?;
        check_name(&name).map_err(|_| AuthoringError::Manifest {
            path: dir.join(MANIFEST),
            message: format!(
                "`{name}` (from the project's files) is not a plugin name; write {MANIFEST} \
                 with a name of lowercase letters, digits and dashes"
            ),
        })?;
        Ok(Project {
            dir: std::path::absolute(dir).map_err(io(dir))?,
            name,
            kind,
            lang,
        })
    }

    /// The newest of the project's own files (not `.ferry/`, caches or build
    /// outputs): a component older than it was built from other code.
    pub fn newest_source(&self) -> Option<(std::time::SystemTime, PathBuf)> {
        let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).ok()?.flatten() {
                let p = e.path();
                if not_source(&e.file_name().to_string_lossy()) {
                    continue;
                }
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(t) = e.metadata().and_then(|m| m.modified())
                    && newest.as_ref().is_none_or(|(n, _)| t > *n)
                {
                    newest = Some((t, p));
                }
            }
        }
        newest
    }

    /// The component `ferry plugin build` writes: `DIR/NAME.wasm`.
    pub fn component(&self) -> PathBuf {
        self.dir.join(format!("{}.wasm", self.name))
    }

    /// Whether the project builds against the SDK in `.ferry/` (every
    /// Python and JavaScript project; a Rust crate whose `Cargo.toml` names
    /// it — one made by `ferry plugin new`, not a crate of ferry's own
    /// workspace or one that takes the SDK from elsewhere).
    pub fn uses_support(&self) -> bool {
        match self.lang {
            Lang::Python | Lang::Js => true,
            Lang::Rust => std::fs::read_to_string(self.dir.join("Cargo.toml"))
                .is_ok_and(|t| t.contains(".ferry/sdk/rust")),
        }
    }

    /// The WIT world of this project's kind.
    pub fn world(&self) -> &'static str {
        self.kind.name()
    }
}

/// A name in a project that is not the author's source: hidden entries
/// (`.ferry/`, `.git`), the toolchains' caches and build outputs.
pub(crate) fn not_source(name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "__pycache__" | "node_modules" | "target")
        || name.ends_with(".wasm")
}

/// Plugin names: `[a-z][a-z0-9-]*`, no trailing or doubled dash.
pub fn check_name(name: &str) -> Result<(), AuthoringError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(AuthoringError::BadName(name.to_string()))
    }
}

/// The embedded files under `prefix/`, with the prefix cut off.
fn embedded_under(prefix: &str) -> impl Iterator<Item = (&'static str, &'static [u8])> + '_ {
    embedded::FILES.iter().filter_map(move |(path, bytes)| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .map(|rest| (rest, *bytes))
    })
}

/// Writes `bytes` to `path` unless it already holds exactly them: cargo
/// rebuilds a path dependency whose files' times change, so an unchanged SDK
/// is left untouched.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), AuthoringError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}

/// Writes the SDK of `lang` and the WIT contract into `DIR/.ferry/`, as
/// this binary carries them; files the binary no longer carries are removed.
pub fn install_support(dir: &Path, lang: Lang) -> Result<(), AuthoringError> {
    let support = dir.join(SUPPORT_DIR);
    let mut wanted: Vec<(PathBuf, Cow<'static, [u8]>)> = Vec::new();
    let sdk = support.join("sdk").join(lang.name());
    for (rel, bytes) in embedded_under(&format!("sdk/{}", lang.name())) {
        wanted.push((sdk.join(rel), Cow::Borrowed(bytes)));
    }
    if lang == Lang::Rust {
        for (rel, bytes) in embedded_under("templates/sdk-rust") {
            wanted.push((sdk.join(rel), Cow::Borrowed(bytes)));
        }
    }
    for (rel, bytes) in embedded_under("wit") {
        wanted.push((support.join("wit").join(rel), Cow::Borrowed(bytes)));
    }
    wanted.push((
        support.join("README"),
        format!(
            "Written by ferry {} (`ferry plugin new`, `build`, `test`): the {lang} SDK and\n\
             the WIT contract this project builds against. Refreshed on every build;\n\
             do not edit, and do not commit it.\n",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
        .into(),
    ));
    // A support directory that is a link (a repository's examples point
    // `.ferry/sdk/js` at the SDK's sources) is the author's to manage:
    // ferry neither writes through it nor prunes it.
    let linked = |p: &Path| {
        p.ancestors()
            .take_while(|a| a.starts_with(&support))
            .any(|a| a.is_symlink())
    };
    for (path, bytes) in &wanted {
        if !linked(path) {
            write_if_changed(path, bytes)?;
        }
    }
    // A file an older ferry wrote and this one does not carry would be
    // imported or compiled as if it were part of the SDK.
    for root in [sdk, support.join("wit")] {
        if !linked(&root) {
            remove_unwanted(&root, &wanted)?;
        }
    }
    Ok(())
}

fn remove_unwanted(
    dir: &Path,
    wanted: &[(PathBuf, Cow<'static, [u8]>)],
) -> Result<(), AuthoringError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_symlink()) {
            continue; // the author's, like a linked support directory
        }
        if p.is_dir() {
            // Caches the toolchains leave (__pycache__) go with the rest.
            remove_unwanted(&p, wanted)?;
            if std::fs::read_dir(&p).is_ok_and(|mut d| d.next().is_none()) {
                std::fs::remove_dir(&p).map_err(io(&p))?;
            }
        } else if !wanted.iter().any(|(w, _)| *w == p) {
            std::fs::remove_file(&p).map_err(io(&p))?;
        }
    }
    Ok(())
}

/// `ferry plugin new`: writes the template of `kind` in `lang` into `dir`
/// (which must not exist or be empty), its manifest and its `.ferry/`.
/// Returns the files written, relative to `dir`, support files left out.
pub fn new_project(
    dir: &Path,
    name: &str,
    kind: PluginKind,
    lang: Lang,
) -> Result<Vec<String>, AuthoringError> {
    check_name(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(AuthoringError::Exists(dir.to_path_buf()));
    }
    let ident = name.replace('-', "_");
    let mut written = Vec::new();
    for (rel, bytes) in embedded_under(&format!("templates/{}/{}", lang.name(), kind.name())) {
        let text = String::from_utf8_lossy(bytes)
            .replace("{{name}}", name)
            .replace("{{ident}}", &ident);
        let path = dir.join(rel);
        write_if_changed(&path, text.as_bytes())?;
        written.push(rel.to_string());
    }
    if written.is_empty() {
        // Every language has every kind; this is a build of ferry without
        // its templates (host/templates missing when it was compiled).
        return Err(AuthoringError::Manifest {
            path: dir.to_path_buf(),
            message: format!("this ferry carries no {lang} {kind} template"),
        });
    }
    let manifest = format!(
        "# A ferry plugin project: `ferry plugin build` builds {name}.wasm,\n\
         # `ferry plugin test` runs its tests and ferry's conformance checks.\n\
         name = \"{name}\"\nkind = \"{}\"\nlang = \"{}\"\n",
        kind.name(),
        lang.name()
    );
    write_if_changed(&dir.join(MANIFEST), manifest.as_bytes())?;
    written.push(MANIFEST.to_string());
    written.sort();
    install_support(dir, lang)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["a", "normalise-email", "x2", "p-1-b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1a", "-a", "a-", "a--b", "a_b", "a b", "ä", "../x"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_name(&"a".repeat(MAX_NAME + 1)).is_err());
    }

    #[test]
    fn the_binary_carries_every_template_and_sdk() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            for kind in [
                PluginKind::Transformer,
                PluginKind::Validator,
                PluginKind::Parser,
            ] {
                let n = embedded_under(&format!("templates/{lang}/{}", kind.name())).count();
                assert!(n > 0, "no {lang} {kind} template");
            }
            assert!(
                embedded_under(&format!("sdk/{lang}")).count() > 0,
                "no {lang} SDK"
            );
        }
        assert!(embedded_under("wit/since_v0.1.0").count() >= 2);
    }

    #[test]
    fn the_rust_sdks_dependencies_are_the_workspaces() {
        let standalone = embedded_under("templates/sdk-rust")
            .find(|(p, _)| *p == "Cargo.toml")
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .expect("templates/sdk-rust/Cargo.toml");
        let standalone: toml::Value = toml::from_str(&standalone).unwrap();
        let workspace: toml::Value = toml::from_str(include_str!("../../../Cargo.toml")).unwrap();
        let version = |v: &toml::Value| -> String {
            v.as_str()
                .map(str::to_string)
                .or_else(|| {
                    v.get("version")
                        .and_then(|x| x.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default()
        };
        for (dep, spec) in standalone["dependencies"].as_table().unwrap() {
            let ws = &workspace["workspace"]["dependencies"][dep];
            assert_eq!(
                version(spec),
                version(ws),
                "templates/sdk-rust/Cargo.toml's {dep} must be the workspace's"
            );
        }
    }

    #[test]
    fn a_project_is_written_with_its_manifest_and_support_and_refused_twice() {
        let dir = std::env::temp_dir().join(format!("ferry-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = new_project(&dir, "tidy-up", PluginKind::Validator, Lang::Rust).unwrap();
        assert!(files.contains(&"src/lib.rs".to_string()), "{files:?}");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("\"tidy-up\""), "{lib}");
        assert!(!lib.contains("{{"), "{lib}");
        let p = Project::open(&dir).unwrap();
        assert_eq!(
            (p.name.as_str(), p.kind, p.lang),
            ("tidy-up", PluginKind::Validator, Lang::Rust)
        );
        assert!(dir.join(".ferry/sdk/rust/src/lib.rs").is_file());
        assert!(dir.join(".ferry/sdk/rust/Cargo.toml").is_file());
        assert!(dir.join(".ferry/wit/since_v0.1.0/worlds.wit").is_file());
        // A stale file in the SDK is removed; an unchanged one is not rewritten.
        std::fs::write(dir.join(".ferry/sdk/rust/src/old.rs"), "x").unwrap();
        install_support(&dir, Lang::Rust).unwrap();
        assert!(!dir.join(".ferry/sdk/rust/src/old.rs").exists());
        assert!(matches!(
            new_project(&dir, "tidy-up", PluginKind::Validator, Lang::Rust),
            Err(AuthoringError::Exists(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
