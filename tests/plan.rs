//! `ferry plan`, `migrate --dry-run` and `migrate --plan FILE`.

use crate::util::*;

fn checksum(db: &PgDb, table: &str, order: &str) -> String {
    db.scalar(&format!(
        "SELECT md5(string_agg(t::text, '|' ORDER BY {order})) FROM \"{table}\" t"
    ))
}

#[test]
fn a_saved_plan_runs_exactly_like_a_direct_migrate() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 400);
    let from = format!("sqlite:{}", src.display());
    let planned = PgDb::new("plan_a");
    let direct = PgDb::new("plan_b");
    let plan_file = dir.path().join("plan.json");
    let out = ferry(&[
        "plan",
        "--from",
        &from,
        "--to",
        &planned.url,
        "--transform",
        MASK,
        "--json",
        "-o",
        plan_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["fingerprint"].as_str().unwrap().starts_with("sha256:"));
    let names: Vec<&str> = plan["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["users", "orders"], "parents first");
    assert_eq!(plan["transformers"][0]["name"], "mask");
    assert_eq!(plan["estimates"]["rows"], 1200);
    // Nothing was written by planning.
    assert_eq!(
        planned.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );

    let ran = ferry(&["migrate", "--plan", plan_file.to_str().unwrap(), "--json"]);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    let direct_run = ferry(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &direct.url,
        "--transform",
        MASK,
        "--json",
    ]);
    assert_eq!(direct_run.status.code(), Some(0));
    for (table, order) in [("users", "id"), ("orders", "id")] {
        assert_eq!(
            checksum(&planned, table, order),
            checksum(&direct, table, order),
            "{table}"
        );
    }
    assert_eq!(
        planned.query("SELECT conname, contype FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1"),
        direct.query("SELECT conname, contype FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1")
    );
}

#[test]
fn a_plan_whose_source_changed_is_refused_with_the_reason() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 50);
    let target = dir.path().join("out.db");
    let plan_file = dir.path().join("plan.json");
    let out = ferry(&[
        "plan",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", target.display()),
        "-o",
        plan_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch("ALTER TABLE users ADD COLUMN nickname TEXT")
        .unwrap();
    drop(c);
    let ran = ferry(&["migrate", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(1));
    let e = stderr(&ran);
    assert!(
        e.contains("no longer matches") && e.contains("`users`.`nickname` was added"),
        "{e}"
    );
    assert!(
        !target.exists() || sqlite_scalar(&target, "SELECT count(*) FROM sqlite_master") == "0",
        "nothing ran"
    );
}

#[test]
fn a_plan_whose_plugin_changed_or_that_was_edited_is_refused() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 20);
    let wasm = dir.path().join("mask.wasm");
    std::fs::copy(component("plugin_mask"), &wasm).unwrap();
    let plan_file = dir.path().join("plan.json");
    let transform = format!(
        "users:{}={}",
        wasm.display(),
        MASK.split_once('=').unwrap().1
    );
    let out = ferry(&[
        "plan",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", dir.path().join("o.db").display()),
        "--transform",
        &transform,
        "-o",
        plan_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The plugin file is replaced by another build.
    let mut bytes = std::fs::read(&wasm).unwrap();
    bytes.extend_from_slice(&[0x00, 0x04, 0x02, b'v', b'2', 0x00]);
    std::fs::write(&wasm, &bytes).unwrap();
    let ran = ferry(&["migrate", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(1));
    assert!(
        stderr(&ran).contains("does not match its pinned digest"),
        "{}",
        stderr(&ran)
    );

    // The plan itself is edited by hand.
    std::fs::copy(component("plugin_mask"), &wasm).unwrap();
    let text = std::fs::read_to_string(&plan_file)
        .unwrap()
        .replace("\"bigint\"", "\"integer\"")
        .replace("\"INTEGER\"", "\"BIGINT\"");
    std::fs::write(&plan_file, text).unwrap();
    let ran = ferry(&["migrate", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(ran.status.code(), Some(1));
    assert!(
        stderr(&ran).contains("edited after it was made"),
        "{}",
        stderr(&ran)
    );
}

#[test]
fn dry_run_renders_the_plan_with_risks_and_touches_nothing() {
    let dir = tempdir();
    let src = dir.path().join("legacy.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE \"user\" (id INTEGER PRIMARY KEY, age INTEGER, \"order\" TEXT);
         INSERT INTO \"user\" VALUES (1, 30, 'a'), (2, 'thirty', 'b'), (3, 'n/a', 'c');
         CREATE TABLE log (msg TEXT);
         INSERT INTO log VALUES ('x');
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES \"user\"(id));
         INSERT INTO posts VALUES (1, 1), (2, 99);",
    )
    .unwrap();
    drop(c);
    let db = PgDb::new("dryrun");
    db.query("CREATE TABLE log (msg text)");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let risks = plan["risks"].as_array().unwrap();
    let has = |kind: &str, table: &str, needle: &str| {
        risks.iter().any(|r| {
            r["kind"] == kind
                && r["table"] == table
                && r["detail"].as_str().unwrap().contains(needle)
        })
    };
    assert!(
        has("mixed-types", "user", "2 of 3 sampled values"),
        "{risks:#?}"
    );
    assert!(
        has("orphaned-foreign-keys", "posts", "1 of 2 sampled rows"),
        "{risks:#?}"
    );
    assert!(has("no-primary-key", "log", "no primary key"), "{risks:#?}");
    assert!(has("reserved-word", "user", "reserved"), "{risks:#?}");
    assert!(has("target-exists", "log", "will refuse"), "{risks:#?}");
    // Touched nothing: only the table we made ourselves.
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "1"
    );
    let text = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--dry-run",
    ]);
    let s = stdout(&text);
    assert!(
        s.contains("tables, in dependency order") && s.contains("[mixed-types] user.age"),
        "{s}"
    );
}
