//! Plugins written in Python (`plugins/sdk-python`), built from source with
//! componentize-py and run by the real binary: the example transformer in a
//! real migration into PostgreSQL (its change in the target, its rejected
//! row in quarantine with the reason), and a hostile Python plugin meeting
//! the same typed limits as the Rust ones while the host survives.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::util::{self, PgDb};

/// Builds `APP_DIR` into a component once per test process (componentize-py
/// takes seconds; the compiled component is then cached by ferry).
fn build(app: &str, name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = std::env::temp_dir().join(format!("ferry-python-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{name}.wasm"));
    let status = Command::new("sh")
        .arg(root.join("plugins/sdk-python/build.sh"))
        .arg(root.join(app))
        .arg(name)
        .arg("transformer")
        .arg(&out)
        .status()
        .expect("run plugins/sdk-python/build.sh");
    assert!(
        status.success(),
        "building {app} failed ({status}); it needs componentize-py: pip install componentize-py==0.25.1 (.ci/run does)"
    );
    built.push((name.to_string(), out.clone()));
    out
}

#[test]
fn a_python_transformer_normalises_emails_in_a_real_migration_and_quarantines_with_its_reason() {
    let wasm = build("examples/python-normalise", "python-normalise");
    let dir = util::tempdir();
    let src = dir.path().join("shop.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop.db"),
        &src,
    )
    .unwrap();
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute_batch(
            "UPDATE customers SET email = '  Customer7@MAIL.Example.ORG ' WHERE id = 7;
             UPDATE customers SET email = 'MiXeD@Shop.TEST' WHERE id = 8;
             UPDATE customers SET email = '   ' WHERE id = 9;",
        )
        .unwrap();

    let out = util::ferry(&[
        "plugin",
        "check",
        wasm.to_str().unwrap(),
        "--with",
        r#"{"column":"email"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));

    let db = PgDb::new("python_normalise");
    let transform = format!(r#"customers:{}={{"column":"email"}}"#, wasm.display());
    let out = util::ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--transform",
        &transform,
        "--json",
    ]);
    // 3: the run succeeded with rejects (the empty address, and the orders
    // of its customer with it).
    assert_eq!(out.status.code(), Some(3), "{}", util::stderr(&out));
    let r = util::report(&out);
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
    assert_eq!(
        db.scalar("SELECT email FROM customers WHERE id = 7"),
        "customer7@mail.example.org"
    );
    assert_eq!(
        db.scalar("SELECT email FROM customers WHERE id = 8"),
        "mixed@shop.test"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM customers WHERE id = 9"),
        "0"
    );
    assert_eq!(
        db.scalar(
            "SELECT plugin || '|' || column_name || '|' || code || '|' || reason FROM _ferry_rejects WHERE table_name = 'customers'"
        ),
        "python-normalise|email|empty-email|email is empty"
    );
    // Every other address was already clean and arrives as it was.
    assert_eq!(
        db.scalar("SELECT count(*) FROM customers WHERE email <> lower(trim(email))"),
        "0"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM customers"), "1999");
}

/// A migration of a small fixture with the hostile Python plugin doing `what`
/// under `limits`; the process must exit 1 with the typed error, not crash.
fn hostile(what: &str, limits: &str) -> (String, PgDb) {
    let wasm = build("plugins/test-python/hostile", "python-hostile");
    let dir = util::tempdir();
    let src = util::shop_fixture(dir.path(), 300);
    let cfg = util::write_config(
        dir.path(),
        &format!(
            "[plugins.hostile]\npath = \"{}\"\n{limits}\n",
            wasm.display()
        ),
    );
    let db = PgDb::new(&format!("python_hostile_{what}"));
    let out = util::ferry(&[
        "migrate",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--transform",
        &format!(r#"hostile={{"do":"{what}"}}"#),
        "--batch-size",
        "100",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "ferry must fail, not crash: {}",
        util::stderr(&out)
    );
    let r = util::report(&out);
    assert_eq!(r["status"], "failed");
    assert_eq!(db.count("users"), 0, "no partial batch may land");
    (
        format!("{} {}", r["error_code"], r["error"].as_str().unwrap_or("")),
        db,
    )
}

#[test]
fn a_python_plugin_that_spins_or_allocates_without_bound_gets_the_typed_limit_errors() {
    let (e, _db) = hostile("spin", "timeout_ms = 2000");
    assert!(e.contains("plugin:limit-exceeded"), "{e}");
    assert!(e.contains("per-call deadline of 2000 ms"), "{e}");
    let (e, _db) = hostile("membomb", "memory_mib = 96");
    assert!(e.contains("plugin:limit-exceeded"), "{e}");
    assert!(e.contains("memory limit of 96 MiB"), "{e}");
    // An exception is a trap that carries the author's traceback.
    let (e, _db) = hostile("raise", "");
    assert!(
        e.contains("trapped in `transform`: Python raised ZeroDivisionError: division by zero"),
        "{e}"
    );
    assert!(
        e.contains(r#"app.py", line 14, in helper_that_fails"#),
        "{e}"
    );
    assert!(
        !e.contains("panicked at"),
        "the interpreter's noise is left out: {e}"
    );
}
