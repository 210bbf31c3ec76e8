//! Builds the plugins under `plugins/` as `wasm32-wasip2` components, so that
//! `cargo build` alone produces a `ferry` binary with its built-in plugins
//! inside and the tests have the hostile plugins they run.
//!
//! It runs a nested `cargo build --profile plugin --target wasm32-wasip2` in
//! a target directory of its own (sharing the outer one would deadlock on
//! cargo's build lock) and tells rustc where the artifacts are through
//! `FERRY_PLUGIN_ARTIFACTS`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in plugins, embedded in the binary.
const BUILTIN: &[&str] = &[
    "plugin-mask",
    "plugin-rules",
    "plugin-lines",
    "plugin-csv",
    "plugin-markdown",
    "plugin-json",
    "plugin-text",
];
/// Test-only plugins (hostile ones), used by the integration tests.
const TEST_ONLY: &[&str] = &[
    "hostile-spin",
    "hostile-membomb",
    "hostile-flood",
    "hostile-snoop",
    "hostile-panic",
    "hostile-recurse",
    "hostile-trap-on-batch",
    "hostile-parse-bomb",
    "hostile-trap-fixed",
    // The README's "write your first transformer", built so the tests keep the README true.
    "example-email-domain",
];

/// The guests' target. rust-toolchain.toml lists it, but rustup only adds the
/// listed targets when it installs the toolchain: a machine that already had
/// 1.95.0 without it would fail here, so the build adds it itself.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Makes sure the toolchain that builds the host can build the guests: when
/// the sysroot has no `wasm32-wasip2` standard library, runs
/// `rustup target add wasm32-wasip2` for the active toolchain and says so on
/// stderr (a `cargo:warning`, which cargo prints even when the build passes).
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        // Cannot tell; the nested build's own error will say what is missing.
        return;
    };
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return;
    }
    // The toolchain that runs this build: rustup's proxy sets RUSTUP_TOOLCHAIN;
    // otherwise the sysroot's directory name is the toolchain's name.
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok().or_else(|| {
        sysroot
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    });
    let mut add = Command::new("rustup");
    add.args(["target", "add", WASM_TARGET]);
    if let Some(t) = &toolchain {
        add.args(["--toolchain", t]);
    }
    let shown = format!(
        "rustup target add {WASM_TARGET}{}",
        toolchain
            .as_deref()
            .map(|t| format!(" --toolchain {t}"))
            .unwrap_or_default()
    );
    println!(
        "cargo:warning=ferry: the {WASM_TARGET} target is missing from {}; running `{shown}` to build the plugins",
        sysroot.display()
    );
    eprintln!("ferry build: the {WASM_TARGET} target is missing; running `{shown}`");
    match add.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "`{shown}` failed ({s}); the plugins need the {WASM_TARGET} target. \
             Install it by hand (`{shown}`) or, without rustup, point \
             FERRY_PLUGIN_ARTIFACTS_OVERRIDE at prebuilt components"
        ),
        Err(e) => panic!(
            "the {WASM_TARGET} target is missing and rustup cannot be run ({e}); \
             install the target for this toolchain ({}) or point \
             FERRY_PLUGIN_ARTIFACTS_OVERRIDE at prebuilt components",
            sysroot.display()
        ),
    }
}

/// Where the files `ferry plugin new/build/test` write into a plugin project
/// come from: (directory in the repository, path inside the binary).
const AUTHORING: &[(&str, &str)] = &[
    ("plugins/sdk/src", "sdk/rust/src"),
    ("plugins/sdk-python/ferry_plugin", "sdk/python/ferry_plugin"),
    ("plugins/sdk-js", "sdk/js"),
    ("wit/since_v0.1.0", "wit/since_v0.1.0"),
    ("host/templates", "templates"),
];

/// Build outputs and caches that may sit in those directories and are never
/// part of what a project receives.
fn skipped(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(
        name,
        "__pycache__" | "node_modules" | "target" | ".ferry" | "tests"
    ) || name.ends_with(".wasm")
        || name.ends_with(".pyc")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if skipped(&p) {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Writes `$OUT_DIR/authoring.rs`: every file of [`AUTHORING`] as
/// `(path inside the binary, include_bytes!(…))`, sorted, so the binary
/// carries the SDKs, the WIT contract and the templates of the ferry it is.
fn embed_authoring_files(root: &Path, out_dir: &Path) {
    let mut code = String::from("pub const FILES: &[(&str, &[u8])] = &[\n");
    let mut all = Vec::new();
    for (dir, inside) in AUTHORING {
        let base = root.join(dir);
        println!("cargo:rerun-if-changed={}", base.display());
        let mut files = Vec::new();
        walk(&base, &mut files);
        for f in files {
            let rel = f.strip_prefix(&base).expect("walked under base");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            all.push((format!("{inside}/{rel}"), f));
        }
    }
    all.sort();
    for (inside, f) in all {
        code.push_str(&format!(
            "    ({inside:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("authoring.rs"), code).expect("write authoring.rs");
}

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // target/<profile>/build/ferry-<hash>/out → target/<profile>/ferry-plugins
    let target_dir = out_dir
        .ancestors()
        .nth(3)
        .map(|p| p.join("ferry-plugins"))
        .unwrap_or_else(|| out_dir.join("ferry-plugins"));

    // Cargo.toml: the `plugin` profile the components are built with.
    for p in ["plugins", "wit", "Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=FERRY_PLUGIN_ARTIFACTS_OVERRIDE");
    embed_authoring_files(&root, &out_dir);

    // Escape hatch for packagers who prebuilt the components elsewhere.
    if let Some(dir) = std::env::var_os("FERRY_PLUGIN_ARTIFACTS_OVERRIDE") {
        println!(
            "cargo:rustc-env=FERRY_PLUGIN_ARTIFACTS={}",
            Path::new(&dir).display()
        );
        return;
    }

    ensure_wasm_target();

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--profile",
            "plugin",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for p in BUILTIN.iter().chain(TEST_ONLY) {
        cmd.args(["-p", p]);
    }
    // The outer build's flags and wrappers are for the host, not the guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    if !status.success() {
        panic!(
            "building the plugins for wasm32-wasip2 failed ({status}); \
             is the target installed? `rustup target add wasm32-wasip2` \
             (rust-toolchain.toml asks rustup for it)"
        );
    }
    let artifacts = target_dir.join("wasm32-wasip2").join("plugin");
    for p in BUILTIN.iter().chain(TEST_ONLY) {
        let file = artifacts.join(format!("{}.wasm", p.replace('-', "_")));
        assert!(
            file.exists(),
            "plugin build did not produce {}",
            file.display()
        );
    }
    println!(
        "cargo:rustc-env=FERRY_PLUGIN_ARTIFACTS={}",
        artifacts.display()
    );
}
