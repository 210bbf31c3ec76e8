//! A first real migration through a WASM transformer, into PostgreSQL and SQLite.

use crate::util::*;

#[test]
fn sqlite_to_postgres_through_mask_keeps_every_row_keys_and_fk() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 1200);
    let db = PgDb::new("migrate");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--transform",
        MASK,
        "--batch-size",
        "500",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded");
    let tables = r["tables"].as_array().unwrap();
    let users = tables.iter().find(|t| t["name"] == "users").unwrap();
    assert_eq!(users["rows_read"], 1200);
    assert_eq!(users["rows_written"], 1200);
    assert_eq!(users["rows_rejected"], 0);
    assert!(r["run_id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(r["duration_ms"].is_u64());

    // Every row arrived.
    assert_eq!(db.count("users"), 1200);
    assert_eq!(db.count("orders"), 2400);

    // The transformer's change is visible: emails hashed (domain kept), names redacted.
    let row = db.query("SELECT email, name, age, balance, price::text, active, encode(avatar, 'hex'), meta->>'n' FROM users WHERE id = 3");
    let (email, name) = (&row[0][0], &row[0][1]);
    assert!(email.ends_with("@example.com"), "{email}");
    assert!(!email.starts_with("user3@"), "email not masked: {email}");
    assert_eq!(name, "***");
    assert_eq!(row[0][2], "23");
    assert_eq!(row[0][3], "3.85");
    assert_eq!(row[0][4], "3.03");
    assert_eq!(row[0][5], "t");
    assert_eq!(row[0][6], "0300ff");
    assert_eq!(row[0][7], "3");
    // Hashing is deterministic and keyed: the same email gives the same hash in every batch.
    assert_eq!(
        db.scalar("SELECT count(DISTINCT email) FROM users WHERE email IS NOT NULL"),
        "1080"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM users WHERE email IS NULL"),
        "120"
    );

    // Types follow the documented mapping.
    let types = db.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position",
    );
    let ty = |c: &str| {
        types
            .iter()
            .find(|r| r[0] == c)
            .map(|r| r[1].clone())
            .unwrap()
    };
    assert_eq!(ty("id"), "bigint");
    assert_eq!(ty("balance"), "double precision");
    assert_eq!(ty("price"), "numeric");
    assert_eq!(ty("active"), "boolean");
    assert_eq!(ty("avatar"), "bytea");
    assert_eq!(ty("meta"), "jsonb");

    // Keys, the unique email, the index and the FK exist afterwards.
    let cons = db.query(
        "SELECT conrelid::regclass::text, contype FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    );
    let has = |t: &str, k: &str| cons.iter().any(|r| r[0] == t && r[1] == k);
    assert!(has("users", "p"), "{cons:?}");
    assert!(has("users", "u"), "{cons:?}");
    assert!(has("orders", "p"), "{cons:?}");
    assert!(has("orders", "f"), "{cons:?}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_user'"),
        "1"
    );
    // The FK is enforced.
    let fk = db.query("SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'");
    assert_eq!(fk[0][0], "users");
}

#[test]
fn sqlite_to_sqlite_through_mask_keeps_every_row_keys_and_fk() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 700);
    let dst = dir.path().join("out.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", dst.display()),
        "--transform",
        MASK,
        "--batch-size",
        "256",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("succeeded"), "{}", stdout(&out));
    assert_eq!(sqlite_scalar(&dst, "SELECT count(*) FROM users"), "700");
    assert_eq!(sqlite_scalar(&dst, "SELECT count(*) FROM orders"), "1400");
    let email = sqlite_scalar(&dst, "SELECT email FROM users WHERE id = 5");
    assert!(
        email.ends_with("@example.com") && !email.starts_with("user5@"),
        "{email}"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT name FROM users WHERE id = 5"),
        "***"
    );
    // Values are exact: REAL, BLOB, NUMERIC text, JSON.
    assert_eq!(
        sqlite_scalar(&dst, "SELECT balance FROM users WHERE id = 5"),
        "6.35"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT avatar FROM users WHERE id = 5"),
        "x0500ff"
    );
    // Keys, FK, index and unique index exist.
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM pragma_foreign_key_list('orders') WHERE \"table\" = 'users'"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM pragma_index_list('orders') WHERE name = 'orders_user'"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM pragma_index_list('users') WHERE \"unique\" = 1"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM pragma_table_info('users') WHERE pk = 1 AND name = 'id'"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT count(*) FROM pragma_foreign_key_check"),
        "0"
    );
}

#[test]
fn existing_target_tables_are_refused_unless_asked_to_drop() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 20);
    let dst = dir.path().join("out.db");
    let from = format!("sqlite:{}", src.display());
    let to = format!("sqlite:{}", dst.display());
    assert_eq!(
        ferry(&["migrate", "--from", &from, "--to", &to])
            .status
            .code(),
        Some(0)
    );
    let again = ferry(&["migrate", "--from", &from, "--to", &to]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already has a table"),
        "{}",
        stderr(&again)
    );
    assert!(stderr(&again).contains("--if-exists drop"));
    let replaced = ferry(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--if-exists",
        "drop",
    ]);
    assert_eq!(replaced.status.code(), Some(0));
    assert_eq!(sqlite_scalar(&dst, "SELECT count(*) FROM users"), "20");
}

#[test]
fn an_unscoped_transformer_that_does_not_fit_a_table_says_how_to_scope_it() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 10);
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", dir.path().join("o.db").display()),
        "--transform",
        MASK.trim_start_matches("users:"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("table `orders`") && e.contains("email") && e.contains("--transform 'TABLE"),
        "{e}"
    );
    let typo = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", dir.path().join("o.db").display()),
        "--transform",
        &MASK.replace("users:", "userz:"),
    ]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("no table matches"),
        "{}",
        stderr(&typo)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = ferry(&["migrate", "--from", "oracle:x", "--to", "sqlite:y"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ferry(&[
        "migrate",
        "--from",
        "sqlite:x",
        "--to",
        "sqlite:y",
        "--transform",
        "mask={not json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
}

#[test]
fn the_bundled_example_migrates_like_the_readme_says() {
    let dir = tempdir();
    let dst = dir.path().join("shop-masked.db");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{example}"),
        "--to",
        &format!("sqlite:{}", dst.display()),
        "--transform",
        r#"customers:mask={"key":"demo-key-change-me!","columns":{"email":"hash-email","phone":"redact"}}"#,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let r = report(&out);
    let total: u64 = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows_written"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2000 + 50 + 6000 + 12000);
}

#[test]
fn portable_defaults_are_carried_to_every_database_and_the_rest_are_named_in_the_plan() {
    let dir = tempdir();
    let src = dir.path().join("defaults.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'new',
            note TEXT DEFAULT 'it''s fine',
            qty INTEGER DEFAULT 0,
            price NUMERIC(10,2) DEFAULT 9.99,
            is_open INTEGER DEFAULT 1,
            opened_at TEXT DEFAULT CURRENT_TIMESTAMP,
            code TEXT DEFAULT (lower(hex(randomblob(4))))
         );
         INSERT INTO tickets (id, opened_at) VALUES (1, '2024-01-01 10:00:00'), (2, '2024-01-02 11:00:00');",
    )
    .unwrap();
    drop(c);
    let from = format!("sqlite:{}", src.display());

    let plan = ferry(&[
        "plan",
        "--from",
        &from,
        "--to",
        "sqlite:/dev/null/x.db",
        "--json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let not_carried: Vec<&str> = plan["risks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "default-not-carried")
        .map(|r| r["column"].as_str().unwrap())
        .collect();
    assert_eq!(not_carried, ["code"], "{}", plan["risks"]);

    // PostgreSQL: insert a row with only its key, and read the defaults back.
    let pg = PgDb::new("defaults");
    let out = ferry(&["migrate", "--from", &from, "--to", &pg.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    pg.query("INSERT INTO tickets (id) VALUES (3)");
    let row = &pg.query(
        "SELECT status, note, qty, price, is_open, opened_at IS NOT NULL, code IS NULL FROM tickets WHERE id = 3",
    )[0];
    assert_eq!(row, &["new", "it's fine", "0", "9.99", "t", "t", "t"]);

    // MariaDB, the same.
    let my = MyDb::new("defaults");
    let out = ferry(&["migrate", "--from", &from, "--to", &my.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    my.query("INSERT INTO tickets (id) VALUES (3)");
    let row = &my.query(
        "SELECT status, note, qty, price, is_open, opened_at IS NOT NULL, code IS NULL FROM tickets WHERE id = 3",
    )[0];
    assert_eq!(row, &["new", "it's fine", "0", "9.99", "1", "1", "1"]);

    // And back from PostgreSQL into SQLite: PostgreSQL's `'new'::text` is
    // understood as the literal it is.
    let back = dir.path().join("back.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &pg.url,
        "--to",
        &format!("sqlite:{}", back.display()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let c = rusqlite::Connection::open(&back).unwrap();
    c.execute("INSERT INTO tickets (id) VALUES (9)", [])
        .unwrap();
    let (status, qty): (String, i64) = c
        .query_row("SELECT status, qty FROM tickets WHERE id = 9", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((status.as_str(), qty), ("new", 0));
}
