//! Plugins written in JavaScript (`plugins/sdk-js`), built from source with
//! componentize-qjs and run by the real binary: the example validator in a
//! real migration into PostgreSQL (its rejected rows in quarantine with the
//! reason, the rest arriving), and a hostile JavaScript plugin meeting the
//! same typed limits as the Rust ones while the host survives.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::util::{self, PgDb};

/// Builds `APP_DIR` into a component once per test process (the build
/// takes seconds; the compiled component is then cached by ferry).
fn build(app: &str, name: &str, world: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = std::env::temp_dir().join(format!("ferry-js-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(format!("{name}.wasm"));
    let status = Command::new("sh")
        .arg(root.join("plugins/sdk-js/build.sh"))
        .arg(root.join(app))
        .arg(name)
        .arg(world)
        .arg(&out)
        .status()
        .expect("run plugins/sdk-js/build.sh");
    assert!(
        status.success(),
        "building {app} failed ({status}); it needs componentize-qjs: npm install -g componentize-qjs@0.4.5 (.ci/run does)"
    );
    built.push((name.to_string(), out.clone()));
    out
}

#[test]
fn a_js_validator_quarantines_implausible_emails_with_its_reason_in_a_real_migration() {
    let wasm = build("examples/js-validator", "js-validator", "validator");
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
            "UPDATE customers SET email = 'customer7-at-mail.example.org' WHERE id = 7;
             UPDATE customers SET email = 'customer8@localhost' WHERE id = 8;",
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

    let db = PgDb::new("js_validator");
    let validate = format!(r#"customers:{}={{"column":"email"}}"#, wasm.display());
    let out = util::ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--validate",
        &validate,
        "--json",
    ]);
    // 3: the run succeeded with rejects (the two addresses, and the orders
    // of their customers with them).
    assert_eq!(out.status.code(), Some(3), "{}", util::stderr(&out));
    let r = util::report(&out);
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
    let rejects = db.query(
        "SELECT plugin || '|' || column_name || '|' || code || '|' || reason FROM _ferry_rejects \
         WHERE table_name = 'customers' ORDER BY source_key",
    );
    assert_eq!(
        rejects,
        vec![
            vec![r#"js-validator|email|invalid-email|email has no @: "customer7-at-mail.example.org""#.to_string()],
            vec![r#"js-validator|email|invalid-email|email is not of the form name@domain.tld: "customer8@localhost""#.to_string()],
        ]
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM customers WHERE id IN (7, 8)"),
        "0"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM customers"), "1998");
}

/// A migration of a small fixture with the hostile JavaScript plugin doing
/// `what` under `limits`; the process must exit 1 with the typed error, not crash.
fn hostile(what: &str, limits: &str) -> (String, PgDb) {
    let wasm = build("plugins/test-js/hostile", "js-hostile", "transformer");
    util::hostile_run(&wasm, "js_hostile", what, limits)
}

#[test]
fn a_js_plugin_that_spins_or_allocates_without_bound_gets_the_typed_limit_errors() {
    let (e, _db) = hostile("spin", "timeout_ms = 2000");
    assert!(e.contains("plugin:limit-exceeded"), "{e}");
    assert!(e.contains("per-call deadline of 2000 ms"), "{e}");
    let (e, _db) = hostile("membomb", "memory_mib = 96");
    assert!(e.contains("plugin:limit-exceeded"), "{e}");
    assert!(e.contains("memory limit of 96 MiB"), "{e}");
}

#[test]
fn a_js_exception_is_a_trap_that_carries_the_authors_message_and_stack() {
    let (e, _db) = hostile("throw", "");
    assert!(
        e.contains("trapped in `transform`: JavaScript threw RangeError: no rows wanted, got 100"),
        "{e}"
    );
    // The function and line (8) of the throw in app.js.
    assert!(e.contains("at helperThatThrows (/app.js:8:"), "{e}");
    assert!(e.contains("at transform ("), "{e}");
}
