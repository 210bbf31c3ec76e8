//! The languages' toolchains: building a project into its component
//! (`ferry plugin build`) and running the project's own tests (the first
//! half of `ferry plugin test`).
//!
//! | lang | build | own tests |
//! |---|---|---|
//! | rust | `cargo build --release --target wasm32-wasip2` | `cargo test` |
//! | python | `componentize-py … componentize app` (PyPI `componentize-py==0.25.1`) | `python3 test_*.py` |
//! | js | `componentize-qjs --sync` (npm `componentize-qjs@0.4.5`) | `node test.js`, `node *.test.js` |
//!
//! A missing tool is an [`AuthoringError::ToolMissing`] with the command
//! that installs it. Tools write their progress to ferry's stderr, so
//! stdout stays the command's own result (`--json`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{AuthoringError, Lang, Project, SUPPORT_DIR, WIT_DIR, install_support, io};

/// The Python componentizer ferry's SDK is built and tested with.
pub const COMPONENTIZE_PY: &str = "pip install componentize-py==0.25.1";
/// The JavaScript componentizer ferry's SDK is built and tested with.
pub const COMPONENTIZE_JS: &str = "npm install -g componentize-qjs@0.4.5";
/// The Rust target the components are compiled for.
pub const RUST_TARGET: &str = "wasm32-wasip2";

/// How much of a failed tool's output an error carries: the end is where
/// compilers and interpreters put the cause.
const TAIL_LINES: usize = 40;

/// Builds `project` into `DIR/NAME.wasm`; returns its path.
pub fn build(project: &Project) -> Result<PathBuf, AuthoringError> {
    if project.uses_support() {
        install_support(&project.dir, project.lang)?;
    }
    let out = project.component();
    match project.lang {
        Lang::Rust => build_rust(project, &out)?,
        Lang::Python => build_python(project, &out)?,
        Lang::Js => build_js(project, &out)?,
    }
    Ok(out)
}

/// Runs the project's own tests (as generated, the template's test).
/// Returns the commands that ran.
pub fn own_tests(project: &Project) -> Result<Vec<String>, AuthoringError> {
    if project.uses_support() {
        install_support(&project.dir, project.lang)?;
    }
    let dir = &project.dir;
    let mut ran = Vec::new();
    match project.lang {
        Lang::Rust => {
            let mut cmd = cargo()?;
            cmd.arg("test").arg("--quiet").current_dir(dir);
            run(cmd, "cargo test", dir)?;
            ran.push("cargo test".to_string());
        }
        Lang::Python => {
            let python = tool(
                "python3",
                "apt-get install python3 (or your system's Python 3)",
            )?;
            let sdk = dir.join(SUPPORT_DIR).join("sdk/python");
            for test in files_matching(dir, "test_", ".py")? {
                let mut cmd = Command::new(&python);
                cmd.arg(&test)
                    .current_dir(dir)
                    .env("PYTHONPATH", &sdk)
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                let shown = format!("python3 {test}");
                run(cmd, &shown, dir)?;
                ran.push(shown);
            }
        }
        Lang::Js => {
            let node = tool("node", "apt-get install nodejs (Node.js 20 or later)")?;
            let tests = files_matching(dir, "", ".js")?
                .into_iter()
                .filter(|n| n == "test.js" || n.ends_with(".test.js"));
            for test in tests {
                let mut cmd = Command::new(&node);
                cmd.arg(&test).current_dir(dir);
                let shown = format!("node {test}");
                run(cmd, &shown, dir)?;
                ran.push(shown);
            }
        }
    }
    Ok(ran)
}

/// Files directly in `dir` named `PREFIX…SUFFIX`, sorted.
fn files_matching(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<String>, AuthoringError> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .collect();
    found.sort();
    Ok(found)
}

/// `name` on PATH, or the install command.
fn tool(name: &str, install: &'static str) -> Result<PathBuf, AuthoringError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| AuthoringError::ToolMissing {
            what: format!("`{name}`"),
            install,
        })
}

/// `cargo`, with the variables an outer cargo sets for the host's build
/// taken away (they are for ferry's build, not the plugin's).
fn cargo() -> Result<Command, AuthoringError> {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .map(Ok)
        .unwrap_or_else(|| {
            tool(
                "cargo",
                "rustup (https://rustup.rs), then: rustup target add wasm32-wasip2",
            )
        })?;
    let mut cmd = Command::new(cargo);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MANIFEST_DIR",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    Ok(cmd)
}

/// The error of a tool that could not be started at all.
fn not_started<'a>(
    shown: &'a str,
    dir: &'a Path,
) -> impl FnOnce(std::io::Error) -> AuthoringError + 'a {
    move |e| AuthoringError::ToolFailed {
        command: shown.to_string(),
        status: e.to_string(),
        dir: dir.to_path_buf(),
        tail: String::new(),
    }
}

/// Runs `cmd`, its stdout sent to ferry's stderr; on failure the error
/// carries the end of what it printed.
fn run(mut cmd: Command, shown: &str, dir: &Path) -> Result<(), AuthoringError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(not_started(shown, dir))?;
    if out.status.success() {
        // Shown after the fact, on stderr: ferry's stdout is its own result.
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    Err(AuthoringError::ToolFailed {
        command: shown.to_string(),
        status: out.status.to_string(),
        dir: dir.to_path_buf(),
        tail: lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n"),
    })
}

fn build_rust(project: &Project, out: &Path) -> Result<(), AuthoringError> {
    let dir = &project.dir;
    // `rustc` of the toolchain cargo will use in the project (rustup's
    // proxy reads the same rust-toolchain.toml and RUSTUP_TOOLCHAIN).
    let has_target = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            Path::new(String::from_utf8_lossy(&o.stdout).trim())
                .join("lib/rustlib")
                .join(RUST_TARGET)
                .is_dir()
        });
    if has_target == Some(false) {
        return Err(AuthoringError::ToolMissing {
            what: format!("the Rust target {RUST_TARGET}"),
            install: "rustup target add wasm32-wasip2",
        });
    }
    let mut cmd = cargo()?;
    cmd.args([
        "build",
        "--release",
        "--target",
        RUST_TARGET,
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(dir);
    let shown = format!("cargo build --release --target {RUST_TARGET}");
    let output = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(not_started(&shown, dir))?;
    if !output.status.success() {
        return Err(AuthoringError::ToolFailed {
            command: shown,
            status: output.status.to_string(),
            dir: dir.to_path_buf(),
            tail: "(cargo's messages are above)".into(),
        });
    }
    // The component is the cdylib artifact cargo reports, wherever the
    // target directory is (CARGO_TARGET_DIR, a workspace's, the project's).
    let wasm = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
        })
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| AuthoringError::ToolFailed {
            command: shown.clone(),
            status: "no component".into(),
            dir: dir.to_path_buf(),
            tail: "cargo built no cdylib .wasm: Cargo.toml's [lib] needs crate-type = [\"cdylib\", \"rlib\"]".into(),
        })?;
    std::fs::copy(&wasm, out).map_err(io(out))?;
    Ok(())
}

/// Copies the files under `from` that `keep` accepts (by name) into `to`,
/// leaving out `.ferry/`, hidden directories, caches and build outputs:
/// what a componentizer imports is the plugin, not its tests or tools.
fn copy_sources(from: &Path, to: &Path, keep: &dyn Fn(&str) -> bool) -> Result<(), AuthoringError> {
    for e in std::fs::read_dir(from).map_err(io(from))?.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if super::not_source(&name) {
            continue;
        }
        if path.is_dir() {
            copy_sources(&path, &to.join(&name), keep)?;
        } else if keep(&name) {
            std::fs::create_dir_all(to).map_err(io(to))?;
            std::fs::copy(&path, to.join(&name)).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// A directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Result<Scratch, AuthoringError> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferry-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build_python(project: &Project, out: &Path) -> Result<(), AuthoringError> {
    let componentize = tool("componentize-py", COMPONENTIZE_PY)?;
    let dir = &project.dir;
    // componentize-py imports the app while it builds (pre-initialisation)
    // and its CPython writes __pycache__ beside what it imports: it builds
    // from copies, so neither the project nor `.ferry/` collect them.
    let scratch = Scratch::new("pybuild")?;
    let app = scratch.0.join("app");
    copy_sources(dir, &app, &|n| {
        n.ends_with(".py") && !n.starts_with("test_")
    })?;
    if !app.join("app.py").is_file() {
        return Err(AuthoringError::Manifest {
            path: dir.join("app.py"),
            message: "a Python plugin's module is app.py; it is missing".into(),
        });
    }
    let sdk = scratch.0.join("sdk");
    copy_sources(&dir.join(SUPPORT_DIR).join("sdk/python"), &sdk, &|n| {
        n.ends_with(".py")
    })?;
    let wit = dir.join(SUPPORT_DIR).join("wit").join(WIT_DIR);
    let mut cmd = Command::new(componentize);
    cmd.arg("-d")
        .arg(&wit)
        .args(["-w", project.world(), "componentize", "app", "-p"])
        .arg(&app)
        .arg("-p")
        .arg(&sdk)
        .arg("-o")
        .arg(out)
        .current_dir(dir);
    run(
        cmd,
        &format!(
            "componentize-py -d .ferry/wit/{WIT_DIR} -w {} componentize app",
            project.world()
        ),
        dir,
    )
}

/// The module componentize-qjs starts from: it hands the WIT imports to the
/// SDK and re-exports the app, so `app.js` never imports `ferry:plugin/…`
/// and runs under Node for its own tests.
const JS_ENTRY: &str = "import host from \"ferry:plugin/host@0.1.0\";\n\
import { _setHost } from \"./sdk/js/host.js\";\n\
_setHost(host);\n\
export * from \"../app.js\";\n";

/// The build's `package.json`: `#ferry` resolves to the SDK it was given,
/// whatever the project's own says.
const JS_PACKAGE: &str = r##"{"type":"module","imports":{"#ferry":"./.ferry/sdk/js/index.js"}}"##;

fn build_js(project: &Project, out: &Path) -> Result<(), AuthoringError> {
    let componentize = tool("componentize-qjs", COMPONENTIZE_JS)?;
    let dir = &project.dir;
    if !dir.join("app.js").is_file() {
        return Err(AuthoringError::Manifest {
            path: dir.join("app.js"),
            message: "a JavaScript plugin's entry module is app.js; it is missing".into(),
        });
    }
    // The build runs on a copy: module resolution (relative imports and
    // `#ferry`) happens inside it only, and nothing is written into the
    // project but the component.
    let scratch = Scratch::new("jsbuild")?;
    let app = scratch.0.join("app");
    copy_sources(dir, &app, &|n| {
        (n.ends_with(".js") || n.ends_with(".mjs") || n.ends_with(".json"))
            && n != "test.js"
            && !n.ends_with(".test.js")
    })?;
    let sdk = app.join(SUPPORT_DIR).join("sdk/js");
    copy_sources(&dir.join(SUPPORT_DIR).join("sdk/js"), &sdk, &|n| {
        n.ends_with(".js")
    })?;
    let package = app.join("package.json");
    std::fs::write(&package, JS_PACKAGE).map_err(io(&package))?;
    let entry = app.join(SUPPORT_DIR).join("entry.js");
    std::fs::write(&entry, JS_ENTRY).map_err(io(&entry))?;
    let wit = dir.join(SUPPORT_DIR).join("wit").join(WIT_DIR);
    let mut cmd = Command::new(componentize);
    cmd.arg("--wit")
        .arg(&wit)
        .args(["--world", project.world(), "--js"])
        .arg(&entry)
        .arg("--module-root")
        .arg(&app)
        // ferry calls exports synchronously (no component-model async).
        .arg("--sync")
        .arg("-o")
        .arg(out)
        .current_dir(dir);
    run(
        cmd,
        &format!(
            "componentize-qjs --wit .ferry/wit/{WIT_DIR} --world {} --sync",
            project.world()
        ),
        dir,
    )
}
