//! `ferry plugin new | build | test`: every template, in every language,
//! built from source by the real toolchains and checked by the real binary
//! as generated; the README's walkthrough (new → build → test → migrate)
//! with the plugin's change visible in a PostgreSQL target and its rejected
//! row in quarantine; the conformance run failing on plugins that trap; a
//! missing toolchain named with its install command; a stale component
//! refused; the generated JavaScript parser in a real `files:` run; the
//! compiled-component cache kept within its bound.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::util::{self, PgDb};

/// `ferry` with `extra` environment, Rust plugin builds sharing one target
/// directory (each template then compiles wit-bindgen and serde once per
/// test run, not once per project).
fn ferry_env(args: &[&str], extra: &[(&str, &str)]) -> Output {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-projects");
    let mut env = vec![("CARGO_TARGET_DIR", target.to_str().unwrap())];
    env.extend_from_slice(extra);
    util::ferry_env(args, &env)
}

fn ok(args: &[&str]) -> String {
    let out = ferry_env(args, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "ferry {} failed:\n{}\n{}",
        args.join(" "),
        util::stdout(&out),
        util::stderr(&out)
    );
    util::stdout(&out)
}

/// new → build → test, as generated, for each kind in `lang`.
fn every_kind_as_generated(lang: &str) {
    let dir = util::tempdir();
    for kind in ["transformer", "validator", "parser"] {
        let name = format!("my-{lang}-{kind}");
        let project = dir.path().join(&name);
        let p = project.to_str().unwrap();
        ok(&[
            "plugin", "new", &name, "--kind", kind, "--lang", lang, "--dir", p,
        ]);
        assert!(project.join("ferry-plugin.toml").is_file());
        assert!(project.join("README.md").is_file());
        let built = ok(&["plugin", "build", p, "--json"]);
        let built: serde_json::Value = serde_json::from_str(&built).unwrap();
        assert_eq!(built["kind"], kind, "{built}");
        assert_eq!(built["name"], name.as_str(), "{built}");
        assert!(project.join(format!("{name}.wasm")).is_file());
        // The template's own test, then the conformance run, all passing.
        let tested = ok(&["plugin", "test", p, "--json"]);
        let tested: serde_json::Value = serde_json::from_str(&tested).unwrap();
        assert_eq!(tested["passed"], true, "{tested:#}");
        assert!(
            !tested["own_tests"].as_array().unwrap().is_empty(),
            "the project's own test ran: {tested}"
        );
        let checks = tested["checks"].as_array().unwrap();
        assert!(checks.len() >= 8, "{tested:#}");
        assert!(
            checks.iter().all(|c| c["outcome"] == "pass"),
            "every check passes as generated: {tested:#}"
        );
        assert!(tested["us_per_row"].as_f64().unwrap() > 0.0, "{tested}");
    }
}

#[test]
fn every_rust_template_builds_and_passes_its_own_test_as_generated() {
    every_kind_as_generated("rust");
}

#[test]
fn every_python_template_builds_and_passes_its_own_test_as_generated() {
    every_kind_as_generated("python");
}

#[test]
fn every_js_template_builds_and_passes_its_own_test_as_generated() {
    every_kind_as_generated("js");
}

/// README's "A plugin in five minutes", in Python: the template's worked
/// example (trim + lower-case a column, reject it empty) in a real
/// migration into PostgreSQL.
#[test]
fn a_generated_python_transformer_runs_in_a_real_migration_with_its_rejects_in_quarantine() {
    let dir = util::tempdir();
    let project = dir.path().join("tidy-email");
    let p = project.to_str().unwrap();
    ok(&[
        "plugin",
        "new",
        "tidy-email",
        "--kind",
        "transformer",
        "--lang",
        "python",
        "--dir",
        p,
    ]);
    ok(&["plugin", "build", p]);
    let tested = ok(&["plugin", "test", p]);
    assert!(tested.contains("passed:"), "{tested}");
    assert!(tested.contains("time per row:"), "{tested}");

    let src = dir.path().join("shop.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop.db"),
        &src,
    )
    .unwrap();
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute_batch(
            "UPDATE customers SET email = '  Someone@Example.ORG ' WHERE id = 3;
             UPDATE customers SET email = '  ' WHERE id = 4;",
        )
        .unwrap();
    let db = PgDb::new("plugin_new_python");
    let wasm = project.join("tidy-email.wasm");
    let out = ferry_env(
        &[
            "migrate",
            "--from",
            &format!("sqlite:{}", src.display()),
            "--to",
            &db.url,
            "--transform",
            &format!(r#"customers:{}={{"column":"email"}}"#, wasm.display()),
            "--json",
        ],
        &[],
    );
    // 3: finished with rejects (the blank address and its customer's orders).
    assert_eq!(out.status.code(), Some(3), "{}", util::stderr(&out));
    assert_eq!(util::report(&out)["verify"]["ok"], true);
    assert_eq!(
        db.scalar("SELECT email FROM customers WHERE id = 3"),
        "someone@example.org"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM customers WHERE id = 4"),
        "0"
    );
    assert_eq!(
        db.scalar(
            "SELECT plugin || '|' || column_name || '|' || reason FROM _ferry_rejects WHERE table_name = 'customers'"
        ),
        "tidy-email|email|email is empty"
    );
}

/// A generated Rust validator, changed by its author, in a real migration.
#[test]
fn a_generated_rust_validator_rejects_rows_in_a_real_migration() {
    let dir = util::tempdir();
    let project = dir.path().join("need-email");
    let p = project.to_str().unwrap();
    ok(&[
        "plugin",
        "new",
        "need-email",
        "--kind",
        "validator",
        "--dir",
        p,
    ]);
    ok(&["plugin", "build", p]);
    let src = util::shop_fixture(dir.path(), 50);
    let db = PgDb::new("plugin_new_rust");
    let out = ferry_env(
        &[
            "migrate",
            "--from",
            &format!("sqlite:{}", src.display()),
            "--to",
            &db.url,
            "--tables",
            "users",
            "--validate",
            &format!(
                r#"users:{}={{"column":"email"}}"#,
                project.join("need-email.wasm").display()
            ),
            "--json",
        ],
        &[],
    );
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 3)), "{}", util::stderr(&out));
    let r = util::report(&out);
    assert_eq!(r["verify"]["ok"], true, "{r}");
    let nulls = util::sqlite_scalar(
        &src,
        "SELECT count(*) FROM users WHERE email IS NULL OR trim(email) = ''",
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM _ferry_rejects WHERE plugin = 'need-email'"),
        nulls
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM users WHERE email IS NULL OR trim(email) = ''"),
        "0"
    );
}

#[test]
fn conformance_fails_a_plugin_that_traps_and_names_the_call() {
    let wasm = util::component("hostile_trap_on_batch");
    // It panics on a row whose id is its `poison`: every batch holds id 1.
    let out = ferry_env(
        &[
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--with",
            r#"{"poison":1}"#,
            "--json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", util::stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["passed"], false);
    let failed: Vec<&serde_json::Value> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .collect();
    assert!(!failed.is_empty(), "{r:#}");
    assert!(
        failed.iter().any(|c| c["detail"]
            .as_str()
            .unwrap()
            .contains("trapped in `transform`")),
        "{r:#}"
    );
    // The built-in mask passes with its configuration.
    let out = ferry_env(
        &[
            "plugin",
            "test",
            "mask",
            "--with",
            r#"{"key":"change-me-to-a-secret","columns":{"email":"hash-email","name":"redact"}}"#,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    // And the built-in csv parser on a file of its own format.
    let dir = util::tempdir();
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "id,name\n1,Zoë\n2,\"multi\nline\"\n").unwrap();
    let out = ferry_env(
        &["plugin", "test", "csv", "--input", csv.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    assert!(util::stdout(&out).contains("chunks split anywhere"));
}

#[test]
fn a_missing_toolchain_is_named_with_its_install_command_and_a_stale_build_refused() {
    let dir = util::tempdir();
    let project = dir.path().join("p");
    let p = project.to_str().unwrap();
    ok(&["plugin", "new", "p", "--lang", "python", "--dir", p]);
    // A PATH with nothing on it: no componentize-py.
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ferry_env(
        &["plugin", "build", p],
        &[("PATH", empty.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("install it with: pip install componentize-py==0.25.1"),
        "{}",
        util::stderr(&out)
    );
    // Not built yet: test says to build first.
    let out = ferry_env(&["plugin", "test", p], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("is not built yet"),
        "{}",
        util::stderr(&out)
    );
    // Built before the code last changed: refused, naming the newer file.
    std::fs::write(project.join("p.wasm"), b"not a component").unwrap();
    let touched = Command::new("touch")
        .args(["-d", "2001-01-01"])
        .arg(project.join("p.wasm"))
        .status()
        .unwrap();
    assert!(touched.success());
    let out = ferry_env(&["plugin", "test", p], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("is older than"),
        "{}",
        util::stderr(&out)
    );
    assert!(
        util::stderr(&out).contains("ferry plugin build"),
        "{}",
        util::stderr(&out)
    );
    // A second `new` into the same directory is refused.
    let out = ferry_env(&["plugin", "new", "p", "--dir", p], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("already exists"),
        "{}",
        util::stderr(&out)
    );
    // A bad name is a usage error.
    let out = ferry_env(&["plugin", "new", "Bad_Name"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// Rebuilt interpreted plugins are new artifacts each time (their
/// componentizers are not reproducible): the compiled-component cache keeps
/// within `FERRY_CACHE_MAX_MB`, least recently used first.
#[test]
fn the_compiled_component_cache_is_pruned_least_recently_used_first() {
    let dir = util::tempdir();
    let cache = dir.path().join("cache");
    let artifacts = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(cache.join("components"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cwasm"))
            .collect();
        v.sort();
        v
    };
    let check = |plugin: &str, max_mb: &str| {
        let out = ferry_env(
            &["plugin", "inspect", plugin, "--json"],
            &[
                ("FERRY_CACHE_DIR", cache.to_str().unwrap()),
                ("FERRY_CACHE_MAX_MB", max_mb),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        m["sha256"].as_str().unwrap().to_string()
    };
    // Room for both: both stay.
    let mask = check("mask", "2048");
    check("rules", "2048");
    assert_eq!(artifacts().len(), 2, "{:?}", artifacts());
    // A cap of nothing: loading a third keeps only the one it wrote.
    let lines = check("lines", "0");
    let left = artifacts();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(&lines), "{left:?}");
    // The one kept is used from the cache, the pruned ones compile again.
    check("lines", "0");
    assert_eq!(artifacts().len(), 1);
    check("mask", "0");
    let left = artifacts();
    assert!(left.len() == 1 && left[0].starts_with(&mask), "{left:?}");
}

/// The generated JavaScript parser in a real `files:` run into PostgreSQL:
/// every file's lines arrive, the file with a NUL byte is reported with
/// its line and kept in quarantine, and the run goes on.
#[test]
fn a_generated_js_parser_migrates_a_directory_and_quarantines_only_the_bad_file() {
    let dir = util::tempdir();
    let project = dir.path().join("log-lines");
    let p = project.to_str().unwrap();
    ok(&[
        "plugin",
        "new",
        "log-lines",
        "--kind",
        "parser",
        "--lang",
        "js",
        "--dir",
        p,
    ]);
    ok(&["plugin", "build", p]);
    let src = dir.path().join("legacy");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.log"), b"alpha\r\n\n  beta  \n").unwrap();
    std::fs::write(src.join("b.log"), b"fine\nbad \x00 line\n").unwrap();
    std::fs::write(src.join("sub/c.log"), "gamma — ünïcode".as_bytes()).unwrap();
    let cfg = util::write_config(
        dir.path(),
        &format!(
            "[[files.parser]]\nglob = \"*.log\"\nparser = \"{}\"\n\n[files.mapping]\ncontent = \"text\"\n",
            project.join("log-lines.wasm").display()
        ),
    );
    let db = PgDb::new("plugin_new_js_parser");
    let out = ferry_env(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "migrate",
            "--from",
            &format!("files:{}", src.display()),
            "--to",
            &db.url,
            "--json",
        ],
        &[],
    );
    // 3: finished, with a file in quarantine.
    assert_eq!(out.status.code(), Some(3), "{}", util::stderr(&out));
    let r = util::report(&out);
    assert_eq!(r["status"], "succeeded_with_rejects", "{r}");
    assert!(
        r["files"]["verified"]
            .as_str()
            .unwrap_or("")
            .contains("every record in `content` exactly once"),
        "{r}"
    );
    assert_eq!(
        db.query(
            "SELECT source_path, metadata->>'line_no', content FROM content ORDER BY source_path, record_index"
        ),
        [
            ["a.log", "1", "alpha"],
            ["a.log", "3", "  beta  "],
            ["sub/c.log", "1", "gamma — ünïcode"],
        ]
    );
    assert_eq!(
        db.scalar("SELECT source_key || '|' || code FROM _ferry_rejects"),
        "b.log|malformed"
    );
    assert!(
        db.scalar("SELECT reason FROM _ferry_rejects")
            .contains("line 2 of b.log holds a NUL byte"),
        "{}",
        db.scalar("SELECT reason FROM _ferry_rejects")
    );
}

/// Without `ferry-plugin.toml` a project is recognised by its files and its
/// export; a support directory that is a link is the author's, never
/// written through or pruned.
#[test]
fn a_project_without_a_manifest_is_detected_and_a_linked_sdk_is_left_alone() {
    let dir = util::tempdir();
    let project = dir.path().join("check-mail");
    let p = project.to_str().unwrap();
    ok(&[
        "plugin",
        "new",
        "check-mail",
        "--kind",
        "validator",
        "--lang",
        "js",
        "--dir",
        p,
    ]);
    std::fs::remove_file(project.join("ferry-plugin.toml")).unwrap();
    // The SDK as a link to a copy the author manages, holding a file of theirs.
    let theirs = dir.path().join("their-sdk");
    std::fs::create_dir_all(&theirs).unwrap();
    for e in std::fs::read_dir(project.join(".ferry/sdk/js"))
        .unwrap()
        .flatten()
    {
        if e.path().is_file() {
            std::fs::copy(e.path(), theirs.join(e.file_name())).unwrap();
        }
    }
    std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
    std::fs::remove_dir_all(project.join(".ferry/sdk/js")).unwrap();
    std::os::unix::fs::symlink(&theirs, project.join(".ferry/sdk/js")).unwrap();

    let built = ok(&["plugin", "build", p, "--json"]);
    let built: serde_json::Value = serde_json::from_str(&built).unwrap();
    assert_eq!(
        (&built["name"], &built["kind"]),
        (&"check-mail".into(), &"validator".into()),
        "{built}"
    );
    assert_eq!(
        std::fs::read_to_string(theirs.join("notes.txt")).unwrap(),
        "mine"
    );
    // A directory with no plugin in it says how to make one.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ferry_env(&["plugin", "build", empty.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("ferry plugin new"),
        "{}",
        util::stderr(&out)
    );
}
