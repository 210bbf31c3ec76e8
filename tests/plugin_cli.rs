//! `ferry plugin list | inspect | check`.

use crate::util::*;

#[test]
fn list_shows_builtins_and_the_plugin_directory() {
    let dir = tempdir();
    std::fs::copy(component("hostile_snoop"), dir.path().join("snoop.wasm")).unwrap();
    let out = ferry(&[
        "plugin",
        "list",
        "--plugin-dir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in ["mask", "rules", "lines", "hostile-snoop"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let mask = v
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mask")
        .unwrap();
    assert_eq!(mask["kind"], "transformer");
    assert_eq!(mask["contract_version"], "0.1.0");
    assert_eq!(mask["sha256"].as_str().unwrap().len(), 64);
    let text = ferry(&["plugin", "list"]);
    assert!(stdout(&text).contains("validator"), "{}", stdout(&text));
}

#[test]
fn inspect_shows_config_schema_and_capabilities() {
    let out = ferry(&["plugin", "inspect", "rules"]);
    assert_eq!(out.status.code(), Some(0));
    let s = stdout(&out);
    assert!(s.contains("kind:          validator"), "{s}");
    assert!(s.contains("capabilities:"), "{s}");
    assert!(s.contains("config schema:"), "{s}");
    let out = ferry(&[
        "plugin",
        "inspect",
        component("plugin_mask").to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "mask");
    assert!(v["config_schema"].is_object(), "{v}");
    assert!(v["limits"]["memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn check_runs_a_plugin_on_a_sample_and_reports_errors() {
    let ok = ferry(&[
        "plugin",
        "check",
        "mask",
        "--with",
        r#"{"key":"a-key-of-16-bytes+","columns":{"email":"hash-email"}}"#,
    ]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(stdout(&ok).contains("@example.com"), "{}", stdout(&ok));
    let v = ferry(&[
        "plugin",
        "check",
        "rules",
        "--with",
        r#"{"rules":[{"column":"email","check":"email"}]}"#,
    ]);
    assert_eq!(v.status.code(), Some(0));
    assert!(stdout(&v).contains("not-an-email"), "{}", stdout(&v));
    let bad_config = ferry(&[
        "plugin",
        "check",
        "mask",
        "--with",
        r#"{"columns":{"nope":"hash"}}"#,
    ]);
    assert_eq!(bad_config.status.code(), Some(1));
    assert!(
        stderr(&bad_config).contains("mask"),
        "{}",
        stderr(&bad_config)
    );
    let spin = ferry(&[
        "plugin",
        "check",
        component("hostile_panic").to_str().unwrap(),
    ]);
    assert_eq!(spin.status.code(), Some(1));
    assert!(stderr(&spin).contains("trapped"), "{}", stderr(&spin));
    let dir = tempdir();
    let f = dir.path().join("notes.txt");
    std::fs::write(&f, "one\ntwo\n").unwrap();
    let p = ferry(&["plugin", "check", "lines", "--input", f.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(0));
    assert!(stdout(&p).contains("2 records"), "{}", stdout(&p));
}

#[test]
fn unknown_plugins_say_where_ferry_looked() {
    let out = ferry(&[
        "plugin",
        "inspect",
        "nope",
        "--plugin-dir",
        "/nonexistent-dir",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("plugin `nope` not found")
            && e.contains("/nonexistent-dir")
            && e.contains("ferry plugin list"),
        "{e}"
    );
}

#[test]
fn the_readme_first_transformer_checks_and_migrates() {
    let wasm = component("example_email_domain");
    let wasm = wasm.to_str().unwrap();
    let check = ferry(&["plugin", "check", wasm]);
    assert_eq!(check.status.code(), Some(0));
    assert!(
        stdout(&check).contains("email_domain text"),
        "{}",
        stdout(&check)
    );
    assert!(
        stdout(&check).contains("\"email_domain\":\"example.com\""),
        "{}",
        stdout(&check)
    );
    let dir = tempdir();
    let out_db = dir.path().join("out.db");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop.db");
    let transform = format!("customers:{wasm}");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{example}"),
        "--to",
        &format!("sqlite:{}", out_db.display()),
        "--transform",
        &transform,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        sqlite_scalar(
            &out_db,
            "SELECT count(*) FROM customers WHERE email_domain = 'shop.test'"
        ),
        "667"
    );
    assert_eq!(
        sqlite_scalar(
            &out_db,
            "SELECT count(DISTINCT email_domain) FROM customers"
        ),
        "3"
    );
}
