//! Plugins written in Python (`plugins/sdk-python`), built from source with
//! componentize-py and run by the real binary: the example transformer in a
//! real migration into PostgreSQL (its change in the target, its rejected
//! row in quarantine with the reason), a hostile Python plugin meeting the
//! same typed limits as the Rust ones while the host survives, Python
//! parsers in a real `files:` migration (the `ferry plugin new` template's
//! streaming form, and the SDK's whole-file form with every field kind, a
//! malformed file and an author's exception), and every Python template
//! passing its own test as generated.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::util::{self, PgDb};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where this test process keeps what it builds and renders.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-python-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds the app in `app` (relative to the repository) into a component
/// of `world`, once per test process (componentize-py takes seconds; the
/// compiled component is then cached by ferry).
fn build(app: &str, name: &str, world: &str) -> PathBuf {
    build_dir(&root().join(app), name, world)
}

fn build_dir(app: &Path, name: &str, world: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let out = scratch().join(format!("{name}.wasm"));
    let status = Command::new("sh")
        .arg(root().join("plugins/sdk-python/build.sh"))
        .arg(app)
        .arg(name)
        .arg(world)
        .arg(&out)
        .status()
        .expect("run plugins/sdk-python/build.sh");
    assert!(
        status.success(),
        "building {} failed ({status}); it needs componentize-py: pip install componentize-py==0.25.1 (.ci/run does)",
        app.display()
    );
    built.push((name.to_string(), out.clone()));
    out
}

/// The Python template of `kind` rendered as `ferry plugin new` renders it
/// (`{{name}}` and `{{ident}}` substituted) into a fresh directory.
fn render_template(kind: &str, name: &str) -> PathBuf {
    let from = root().join("host/templates/python").join(kind);
    let dest = scratch().join(format!("template-{kind}"));
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text
            .replace("{{name}}", name)
            .replace("{{ident}}", &name.replace('-', "_"));
        std::fs::write(dest.join(path.file_name().unwrap()), text).unwrap();
    }
    dest
}

#[test]
fn a_python_transformer_normalises_emails_in_a_real_migration_and_quarantines_with_its_reason() {
    let wasm = build(
        "examples/python-normalise",
        "python-normalise",
        "transformer",
    );
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
    let wasm = build(
        "plugins/test-python/hostile",
        "python-hostile",
        "transformer",
    );
    util::hostile_run(&wasm, "python_hostile", what, limits)
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

#[test]
fn every_python_template_passes_its_own_test_as_generated() {
    for kind in ["transformer", "validator", "parser"] {
        let dir = render_template(kind, &format!("my-{kind}"));
        assert!(
            !dir.join("ferry-plugin.toml").exists(),
            "`ferry plugin new` writes the manifest, not the template"
        );
        // As `ferry plugin test` runs it, with the SDK where `.ferry/` has it.
        let out = Command::new("python3")
            .arg("test_app.py")
            .current_dir(&dir)
            .env("PYTHONPATH", root().join("plugins/sdk-python"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run python3");
        assert!(
            out.status.success(),
            "the {kind} template's test failed: {}",
            util::stderr(&out)
        );
        let said = util::stderr(&out);
        assert!(said.trim_end().ends_with("OK"), "{kind}: {said}");
    }
}

/// `files` in a fresh directory, the config routing `glob` to `wasm`, and
/// a `ferry migrate --from files:… --to postgres` run (`--json`).
fn files_run(
    label: &str,
    files: &[(&str, &[u8])],
    glob: &str,
    wasm: &Path,
) -> (std::process::Output, PgDb, tempfile::TempDir) {
    let tmp = util::tempdir();
    let src = tmp.path().join("legacy");
    for (name, bytes) in files {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let cfg = util::write_config(
        tmp.path(),
        &format!(
            "[files]\nworkers = 2\n\n[[files.parser]]\nglob = \"{glob}\"\nparser = \"{}\"\n\n[files.mapping]\ncontent = \"text\"\n",
            wasm.display()
        ),
    );
    let db = PgDb::new(label);
    let out = util::ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &format!("files:{}", src.display()),
        "--to",
        &db.url,
        "--json",
    ]);
    (out, db, tmp)
}

/// The report's files by path.
fn files_by_path(r: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    r["files"]["files"]
        .as_array()
        .expect("files in the report")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or("").to_string(), f.clone()))
        .collect()
}

#[test]
fn the_python_parser_template_migrates_a_directory_and_quarantines_the_file_with_a_nul_byte() {
    let app = render_template("parser", "line-split");
    let wasm = build_dir(&app, "line-split", "parser");

    // `ferry plugin check` runs it on its sample, then on a file of ours.
    let out = util::ferry(&["plugin", "check", wasm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert!(
        util::stdout(&out).contains("3 records from sample.txt"),
        "{}",
        util::stdout(&out)
    );

    let (out, db, _tmp) = files_run(
        "python_parser_template",
        &[
            ("a.log", b"alpha\r\n\n  beta  \n"),
            ("b.log", b"fine\nbad \x00 line\nfine again\n"),
            ("sub/c.log", "gamma — ünïcode".as_bytes()),
        ],
        "*.log",
        &wasm,
    );
    // 3: the run succeeded, with a file in quarantine.
    assert_eq!(out.status.code(), Some(3), "{}", util::stderr(&out));
    let r = util::report(&out);
    let files = files_by_path(&r);
    assert_eq!(files["a.log"]["status"], "parsed", "{:#}", files["a.log"]);
    assert_eq!(files["a.log"]["records"], 2);
    assert_eq!(files["sub/c.log"]["records"], 1);
    let bad = &files["b.log"];
    assert_eq!(
        (&bad["status"], &bad["code"]),
        (&"failed".into(), &"malformed".into()),
        "{bad:#}"
    );
    assert!(
        bad["reason"]
            .as_str()
            .unwrap_or("")
            .contains("line 2 of b.log holds a NUL byte"),
        "{bad:#}"
    );
    assert_eq!(bad["location"]["line"], 2, "{bad:#}");
    assert_eq!(bad["location"]["byte_offset"], 9, "{bad:#}");

    // The records arrived: `text` mapped to `content`, `line_no` in metadata.
    let rows = db.query(
        "SELECT source_path, metadata->>'line_no', content FROM content ORDER BY source_path, record_index",
    );
    assert_eq!(
        rows,
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
}

#[test]
fn a_python_parser_in_the_whole_file_form_carries_every_field_kind_and_a_bad_file_never_fails_the_run()
 {
    let wasm = build(
        "plugins/test-python/records-parser",
        "python-records",
        "parser",
    );
    let (out, db, _tmp) = files_run(
        "python_parser_records",
        &[
            ("a.rec", b"One\n\nTwo\n"),
            ("bad.rec", b"fine\nMALFORMED\n"),
            ("crash.rec", b"fine\nCRASH\n"),
            ("z.rec", b"Three"),
        ],
        "*.rec",
        &wasm,
    );
    assert_eq!(out.status.code(), Some(3), "{}", util::stderr(&out));
    let r = util::report(&out);
    let files = files_by_path(&r);
    assert_eq!(files["a.rec"]["records"], 2, "{:#}", files["a.rec"]);
    assert_eq!(files["z.rec"]["records"], 1, "{:#}", files["z.rec"]);

    // MalformedInput: the typed error, with the author's message and line.
    let bad = &files["bad.rec"];
    assert_eq!(bad["code"], "malformed", "{bad:#}");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap_or("")
            .contains("line 2 says MALFORMED"),
        "{bad:#}"
    );
    assert_eq!(bad["location"]["line"], 2, "{bad:#}");

    // Any other exception: a trap reported with the author's traceback.
    let crash = &files["crash.rec"];
    assert_eq!(crash["code"], "trap", "{crash:#}");
    let reason = crash["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("trapped in `finish`: Python raised ZeroDivisionError: division by zero"),
        "{reason}"
    );
    assert!(
        reason.contains(r#"app.py", line 16, in helper_that_fails"#),
        "{reason}"
    );
    assert!(reason.contains("in parse"), "{reason}");
    assert!(
        !reason.contains("panicked at"),
        "the interpreter's noise is left out: {reason}"
    );

    // The good files' records, every field kind: text → title, a list →
    // the json `tags`, the rest in `metadata` with their types.
    let rows = db.query(
        "SELECT source_path, title, tags::text, metadata->>'line_no', jsonb_typeof(metadata->'line_no'), \
                metadata->>'ratio', metadata->>'odd', jsonb_typeof(metadata->'nothing') \
         FROM content ORDER BY source_path, record_index",
    );
    assert_eq!(
        rows,
        [
            [
                "a.rec",
                "One",
                r#"["a.rec", "one"]"#,
                "1",
                "number",
                "0.25",
                "true",
                "null"
            ],
            [
                "a.rec",
                "Two",
                r#"["a.rec", "two"]"#,
                "3",
                "number",
                "0.75",
                "true",
                "null"
            ],
            [
                "z.rec",
                "Three",
                r#"["z.rec", "three"]"#,
                "1",
                "number",
                "0.25",
                "true",
                "null"
            ],
        ]
    );
    assert_eq!(
        db.scalar("SELECT string_agg(source_key || '|' || code, ',' ORDER BY source_key) FROM _ferry_rejects"),
        "bad.rec|malformed,crash.rec|trap"
    );
}
