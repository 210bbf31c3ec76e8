//! The layering rules of ARCHITECTURE.md, checked on the source (after
//! rust-analyzer's `xtask/src/tidy.rs`): a rule broken fails the build's
//! tests, naming the file and line, instead of drifting quietly.

use std::path::{Path, PathBuf};

/// Longest a host source file may grow, in lines: past it a file holds more
/// than one concern (split it by concern, as the drivers are).
const MAX_FILE_LINES: usize = 1_200;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, relative to the workspace, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// Code lines (comments left out) that name `needle` as a path (`x::`).
fn code_lines_naming(text: &str, needles: &[&str]) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| {
            needles.iter().any(|n| {
                l.match_indices(n).any(|(i, _)| {
                    // A whole path segment: not `xwasmtime::`, not `my_rusqlite::`.
                    l[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                })
            })
        })
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .collect()
}

/// Fails listing every line outside `allowed` (path prefixes) that names
/// one of `needles`.
fn only_in(what: &str, needles: &[&str], allowed: &[&str]) {
    let mut bad = Vec::new();
    for f in rust_files(&root().join("host/src")) {
        let r = rel(&f);
        if allowed.iter().any(|a| r.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, l) in code_lines_naming(&text, needles) {
            bad.push(format!("{r}:{n}: {l}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{what} may only be named in {allowed:?}; move the code there or convert at the boundary:\n{}",
        bad.join("\n")
    );
}

#[test]
fn wasmtime_is_named_only_in_the_plugin_layer() {
    only_in(
        "wasmtime",
        &["wasmtime::", "wasmtime_wasi::"],
        &["host/src/plugin/"],
    );
}

#[test]
fn database_drivers_are_named_only_in_the_endpoint_layer() {
    only_in(
        "a database driver",
        &["rusqlite::", "tokio_postgres::", "mysql_async::"],
        &["host/src/endpoint/"],
    );
}

#[test]
fn clap_and_indicatif_are_named_only_in_the_cli() {
    only_in(
        "clap or indicatif",
        &["clap::", "indicatif::"],
        &["host/src/cli/", "host/src/main.rs"],
    );
}

#[test]
fn the_engine_never_asks_which_endpoint_it_has() {
    only_in(
        "a particular endpoint",
        &[
            "EndpointUrl::Sqlite",
            "EndpointUrl::Postgres",
            "EndpointUrl::Mysql",
            "EndpointUrl::Json",
            "endpoint::sqlite::",
            "endpoint::postgres::",
            "endpoint::mysql::",
            "endpoint::json::",
        ],
        &["host/src/endpoint/", "host/src/cli/"],
    );
}

#[test]
fn no_host_source_file_grows_past_the_limit() {
    let mut big = Vec::new();
    for dir in ["host/src", "model/src"] {
        for f in rust_files(&root().join(dir)) {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            if n > MAX_FILE_LINES {
                big.push(format!("{}: {n} lines", rel(&f)));
            }
        }
    }
    assert!(
        big.is_empty(),
        "over {MAX_FILE_LINES} lines — split by concern:\n{}",
        big.join("\n")
    );
}

#[test]
fn every_path_in_the_code_map_exists() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let map = text
        .split("## Code map")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let mut missing = Vec::new();
    let mut seen = 0;
    for line in map.lines().filter(|l| l.starts_with('|')) {
        // The first cell names the paths, in backticks.
        let Some(cell) = line.split('|').nth(1) else {
            continue;
        };
        for path in cell.split('`').skip(1).step_by(2) {
            seen += 1;
            let p = path.trim_end_matches('/');
            // `plugins/builtin/*` names a folder of crates.
            let p = p.trim_end_matches("/*");
            let candidates: Vec<&str> = p.split(", ").collect();
            for c in candidates {
                if !root().join(c).exists() {
                    missing.push(c.to_string());
                }
            }
        }
    }
    assert!(seen > 10, "the code map names only {seen} paths");
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map names paths that do not exist: {missing:?}"
    );
}

/// The host's modules in layers: a module may name only modules of lower
/// layers (the import circle of old — cast → migrate → endpoint → ledger →
/// plan → … — cannot come back).
const LAYERS: &[(&str, u8)] = &[
    ("failpoint", 1),
    ("ledger", 1),
    ("cast", 1),
    ("consolidate", 1),
    ("plugin", 1),
    ("authoring", 2),
    ("endpoint", 2),
    ("plan", 3),
    ("engine", 4),
    ("rollback", 5),
    ("sync", 5),
    ("schema", 5),
    ("probe", 5),
    ("config", 6),
    ("serve", 7),
];

#[test]
fn modules_name_only_lower_layers() {
    let src = root().join("host/src");
    let rank = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, r)| *r);
    let mut bad = Vec::new();
    for (module, r) in LAYERS {
        let files = if src.join(module).is_dir() {
            rust_files(&src.join(module))
        } else {
            vec![src.join(format!("{module}.rs"))]
        };
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for (i, _) in line.match_indices("crate::") {
                    let name: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name != *module
                        && let Some(other) = rank(&name)
                        && other >= *r
                    {
                        bad.push(format!("{}:{}: {module} names {name}", rel(&f), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "a module names one of its layer or above (layers: {LAYERS:?}):\n{}",
        bad.join("\n")
    );
}

#[test]
fn tidy_finds_what_it_looks_for() {
    let text = "use wasmtime::Engine;\n// wasmtime::Engine in a comment\nlet x = my_wasmtime::y;\n";
    let hits = code_lines_naming(text, &["wasmtime::"]);
    assert_eq!(hits, [(1, "use wasmtime::Engine;".to_string())]);
}
