//! Schema fidelity end to end: an application's database (built from
//! `tests/data/fidelity/app.sql`) migrated SQLite → PostgreSQL → MariaDB →
//! SQLite with the real binary. At each hop every schema object is in the
//! target or listed in `not_carried`; declared types, constraint names,
//! CHECKs, views and identity columns arrive; verify passes; and the
//! application's next INSERT without an id gets max + 1 — also after a
//! resumed and an incremental run. Table selection drops foreign keys
//! visibly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::*;

/// The fixture database, built from its DDL in a fresh file.
fn app_db(dir: &Path) -> PathBuf {
    let path = dir.join("app.db");
    let sql = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/fidelity/app.sql"),
    )
    .unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&sql)
        .unwrap();
    path
}

/// One hop with verify; returns the report.
fn hop(from: &str, to: &str, expect_exit: i32) -> serde_json::Value {
    let out = ferry(&["migrate", "--from", from, "--to", to, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(expect_exit),
        "{from} → {to}: {}",
        stdout(&out)
    );
    let r = report(&out);
    assert_eq!(r["verify"]["ok"], true, "{from} → {to}: {:#}", r["verify"]);
    r
}

fn not_carried(r: &serde_json::Value) -> Vec<(String, String)> {
    r["not_carried"]
        .as_array()
        .unwrap_or_else(|| panic!("no not_carried in {r:#}"))
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_string(),
                n["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn views(r: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = r["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

const NEW_CUSTOMER: &str = "(email, country, status, created_at) VALUES ('new@example.com', 'NZ', 'active', '2024-01-01 00:00:00')";

#[test]
fn an_application_database_keeps_its_schema_sqlite_postgres_mariadb_sqlite() {
    let tmp = tempdir();
    let src = app_db(tmp.path());
    let pg = PgDb::new("fidelity");
    let my = MyDb::new("fidelity");
    let back = tmp.path().join("back.db");

    // SQLite → PostgreSQL: two legacy_codes rows have NULL keys.
    let r = hop(&format!("sqlite:{}", src.display()), &pg.url, 3);
    assert_eq!(views(&r), ["active_customers", "big_orders"]);
    let nc = not_carried(&r);
    assert!(
        nc.contains(&("trigger".into(), "orders.orders_note".into())),
        "{nc:?}"
    );
    assert!(
        nc.contains(&("check".into(), "legacy_codes.ck_legacy_code".into())),
        "GLOB does not translate: {nc:?}"
    );
    let rejects = pg.query(
        "SELECT code, source_key, reason FROM _ferry_rejects WHERE table_name = 'legacy_codes' ORDER BY source_key",
    );
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    for r in &rejects {
        assert_eq!(r[0], "null-key", "{r:?}");
        assert!(r[1].contains("rowid"), "a source key from the rowid: {r:?}");
        assert!(r[2].contains("NULL"), "a true reason: {r:?}");
    }
    let col = |t: &str, c: &str| {
        pg.scalar(&format!(
            "SELECT data_type || coalesce('(' || character_maximum_length || ')', '') || coalesce('(' || numeric_precision || ',' || numeric_scale || ')', '') \
             FROM information_schema.columns WHERE table_name = '{t}' AND column_name = '{c}'"
        ))
    };
    assert_eq!(col("customers", "email"), "character varying(45)");
    // char(n) pads with spaces in PostgreSQL: from another dialect it is varchar(n).
    assert_eq!(col("customers", "country"), "character varying(2)");
    assert_eq!(col("customers", "age"), "smallint(16,0)");
    assert_eq!(
        col("customers", "created_at"),
        "timestamp without time zone"
    );
    assert_eq!(col("orders", "quantity"), "integer(32,0)");
    // A foreign key takes its parent key's type (SQLite's INTEGER key is
    // 64-bit; MySQL refuses a foreign key between INT and BIGINT).
    assert_eq!(col("orders", "customer_id"), "bigint(64,0)");
    assert_eq!(col("orders", "total"), "numeric(8,2)");
    assert_eq!(
        col("orders", "placed_at"),
        "timestamp without time zone",
        "declared DATETIME holding dates only is never narrowed to date"
    );
    let constraints =
        pg.query("SELECT conname FROM pg_constraint WHERE conrelid::regclass::text IN ('customers', 'orders', 'legacy_codes') ORDER BY 1");
    let names: Vec<&str> = constraints.iter().map(|r| r[0].as_str()).collect();
    for n in [
        "fk_orders_customer",
        "uq_customers_email",
        "ck_customers_status",
        "ck_customers_email",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c'"),
        "1",
        "the column CHECK (total >= 0)"
    );
    // The application's next INSERT without an id gets max + 1.
    assert_eq!(
        pg.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER} RETURNING id"
        )),
        "7"
    );
    pg.query("DELETE FROM customers WHERE id = 7");
    assert_eq!(
        pg.scalar(
            "INSERT INTO orders (customer_id, total, placed_at) VALUES (1, 5, now()) RETURNING id"
        ),
        "18"
    );
    pg.query("DELETE FROM orders WHERE id = 18");
    // The CHECKs hold in the target (after the id test: a refused
    // INSERT still consumes a sequence value).
    pg.expect_error(
        "INSERT INTO customers (email, status, created_at) VALUES ('x@y', 'bogus', now())",
    );
    assert_eq!(pg.scalar("SELECT count(*) FROM big_orders"), "3");

    // PostgreSQL → MariaDB.
    let r = hop(&pg.url, &my.url, 0);
    assert_eq!(views(&r), ["active_customers", "big_orders"]);
    let my_col = |t: &str, c: &str| {
        my.scalar(&format!(
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{t}' AND COLUMN_NAME = '{c}'"
        ))
    };
    assert_eq!(my_col("customers", "email"), "varchar(45)");
    assert_eq!(my_col("customers", "country"), "varchar(2)");
    assert_eq!(my_col("customers", "age"), "smallint(6)");
    assert_eq!(my_col("orders", "quantity"), "int(11)");
    assert_eq!(my_col("orders", "customer_id"), "bigint(20)");
    assert_eq!(my_col("orders", "total"), "decimal(8,2)");
    assert_eq!(
        my.scalar("SELECT count(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'fk_orders_customer'"),
        "1"
    );
    assert_eq!(
        my.scalar("SELECT count(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME IN ('ck_customers_status', 'ck_customers_email')"),
        "2"
    );
    assert_eq!(
        my.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER}; SELECT LAST_INSERT_ID()"
        )),
        "7"
    );
    my.query("DELETE FROM customers WHERE id = 7");
    assert_eq!(my.scalar("SELECT count(*) FROM big_orders"), "3");

    // MariaDB → SQLite.
    let to = format!("sqlite:{}", back.display());
    let r = hop(&my.url, &to, 0);
    assert_eq!(views(&r), ["active_customers", "big_orders"]);
    let ddl = sqlite_scalar(
        &back,
        "SELECT sql FROM sqlite_master WHERE name = 'customers'",
    );
    assert!(ddl.contains("AUTOINCREMENT"), "{ddl}");
    assert!(ddl.contains("ck_customers_status"), "{ddl}");
    assert!(ddl.to_ascii_uppercase().contains("VARCHAR(45)"), "{ddl}");
    let c = rusqlite::Connection::open(&back).unwrap();
    c.execute(&format!("INSERT INTO customers {NEW_CUSTOMER}"), [])
        .unwrap();
    assert_eq!(c.last_insert_rowid(), 7);
    assert!(
        c.execute(
            "INSERT INTO customers (email, status, created_at) VALUES ('z@z', 'bogus', '2024-01-01')",
            []
        )
        .is_err(),
        "the status CHECK holds"
    );
    let n: i64 = c
        .query_row("SELECT count(*) FROM big_orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

/// Runs `ferry` with a crash point; it must die there.
fn die_at(args: &[&str], point: &str) {
    let out = Command::new(ferry_bin())
        .args(args)
        .env("FERRY_CACHE_DIR", cache_dir())
        .env("FERRY_FAILPOINT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "ferry was not killed at {point}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn latest_run(to: &str) -> String {
    let out = ferry(&["history", "--to", to, "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    runs[0]["run_id"].as_str().unwrap().to_string()
}

#[test]
fn identity_counters_follow_a_resumed_and_an_incremental_run() {
    let tmp = tempdir();
    let src = app_db(tmp.path());
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("fidelity_resume");
    let my = MyDb::new("fidelity_resume");
    let lite = tmp.path().join("copy.db");
    let lite_url = format!("sqlite:{}", lite.display());
    for to in [pg.url.as_str(), my.url.as_str(), lite_url.as_str()] {
        // Killed after the load, before keys and counters: resume finishes.
        die_at(
            &[
                "migrate",
                "--from",
                &from,
                "--to",
                to,
                "--tables",
                "customers",
            ],
            "load-done:1",
        );
        let run = latest_run(to);
        let out = ferry(&["resume", &run, "--to", to, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{to}: {}", stdout(&out));
    }
    assert_eq!(
        pg.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER} RETURNING id"
        )),
        "7"
    );
    pg.query("DELETE FROM customers WHERE id = 7");
    assert_eq!(
        my.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER}; SELECT LAST_INSERT_ID()"
        )),
        "7"
    );
    my.query("DELETE FROM customers WHERE id = 7");
    let c = rusqlite::Connection::open(&lite).unwrap();
    c.execute(&format!("INSERT INTO customers {NEW_CUSTOMER}"), [])
        .unwrap();
    assert_eq!(c.last_insert_rowid(), 7);
    c.execute("DELETE FROM customers WHERE id = 7", []).unwrap();
    drop(c);

    // New source rows with larger ids arrive by an incremental run.
    let s = rusqlite::Connection::open(&src).unwrap();
    s.execute_batch(
        "INSERT INTO customers (id, email, status, created_at) VALUES (40, 'late@example.com', 'active', '2024-05-05 10:00:00');",
    )
    .unwrap();
    drop(s);
    for to in [pg.url.as_str(), my.url.as_str(), lite_url.as_str()] {
        let out = ferry(&[
            "migrate",
            "--from",
            &from,
            "--to",
            to,
            "--tables",
            "customers",
            "--incremental",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{to}: {}", stdout(&out));
    }
    assert_eq!(
        pg.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER} RETURNING id"
        )),
        "41"
    );
    assert_eq!(
        my.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER}; SELECT LAST_INSERT_ID()"
        )),
        "41"
    );
    let c = rusqlite::Connection::open(&lite).unwrap();
    c.execute(&format!("INSERT INTO customers {NEW_CUSTOMER}"), [])
        .unwrap();
    assert_eq!(c.last_insert_rowid(), 41);
}

/// PostgreSQL and SQLite do not index foreign-key columns: the plan says
/// so, and `--index-foreign-keys` creates the index.
#[test]
fn unindexed_foreign_keys_are_a_risk_and_the_flag_indexes_them() {
    let tmp = tempdir();
    let src = app_db(tmp.path());
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("fidelity_fkidx");
    let plan = ferry(&["plan", "--from", &from, "--to", &pg.url, "--json"]);
    let p: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let risk = p["risks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "foreign-key-unindexed")
        .unwrap_or_else(|| panic!("no unindexed-FK risk: {:#}", p["risks"]));
    assert_eq!(risk["table"], "orders");
    assert!(
        risk["detail"]
            .as_str()
            .unwrap()
            .contains("--index-foreign-keys creates orders_customer_id_fkey_idx"),
        "{risk}"
    );
    let out = ferry(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &pg.url,
        "--index-foreign-keys",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(
        pg.scalar(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'orders_customer_id_fkey_idx'"
        ),
        "CREATE INDEX orders_customer_id_fkey_idx ON public.orders USING btree (customer_id)"
    );
    // ANALYZE ran: the planner has statistics for the loaded tables.
    assert_eq!(
        pg.scalar("SELECT count(*) > 0 FROM pg_stats WHERE tablename = 'orders'"),
        "t"
    );
}

#[test]
fn table_selection_drops_foreign_keys_to_tables_left_out_visibly() {
    let tmp = tempdir();
    let src = app_db(tmp.path());
    let from = format!("sqlite:{}", src.display());
    let to = format!("sqlite:{}", tmp.path().join("orders.db").display());

    let plan = ferry(&[
        "plan",
        "--from",
        &from,
        "--to",
        &to,
        "--exclude-tables",
        "customers,legacy*",
        "--json",
    ]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let p: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let tables: Vec<&str> = p["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["orders"]);
    let risk = p["risks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "foreign-key-dropped")
        .unwrap_or_else(|| panic!("no dropped-FK risk: {:#}", p["risks"]));
    assert!(
        risk["detail"]
            .as_str()
            .unwrap()
            .contains("fk_orders_customer"),
        "{risk}"
    );

    let out = ferry(&[
        "migrate", "--from", &from, "--to", &to, "--tables", "ord*", "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = report(&out);
    let nc = not_carried(&r);
    assert!(
        nc.contains(&("foreign key".into(), "orders.fk_orders_customer".into())),
        "{nc:?}"
    );
    assert!(nc.contains(&("table".into(), "customers".into())), "{nc:?}");
    // The views over tables left out are tried and listed with the error.
    assert!(
        nc.iter()
            .any(|(k, n)| k == "view" && n == "active_customers"),
        "{nc:?}"
    );
    assert_eq!(r["tables"].as_array().unwrap().len(), 1);

    // A pattern that matches nothing is a typo, refused before anything runs.
    let out = ferry(&[
        "migrate", "--from", &from, "--to", &to, "--tables", "ordres",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("--tables `ordres` matches no table"),
        "{}",
        stderr(&out)
    );
}

/// SQLite does not enforce declared types: a VARCHAR(3) holding six
/// characters or a SMALLINT holding 70000 is widened visibly (a plan risk),
/// never truncated or refused, and every row arrives.
#[test]
fn values_that_do_not_fit_their_declared_type_widen_it_visibly() {
    let tmp = tempdir();
    let src = tmp.path().join("loose.db");
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, code VARCHAR(3), n SMALLINT, ok VARCHAR(5));
             INSERT INTO t VALUES (1, 'abc', 1, 'x'), (2, 'abcdef', 70000, 'yy'), (3, NULL, -5, NULL);",
        )
        .unwrap();
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("fidelity_widen");
    let plan = ferry(&["plan", "--from", &from, "--to", &pg.url, "--json"]);
    let p: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let widened: Vec<String> = p["risks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "type-widened")
        .map(|r| {
            format!(
                "{}: {}",
                r["column"].as_str().unwrap(),
                r["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(widened.len(), 2, "{widened:?}");
    assert!(
        widened[0].starts_with("code: declared VARCHAR(3) but holds text of up to 6 characters"),
        "{widened:?}"
    );
    assert!(
        widened[0].contains("[[cast]] column = \"t.code\""),
        "{widened:?}"
    );
    assert!(
        widened[1].starts_with("n: declared SMALLINT but holds integers from -5 to 70000"),
        "{widened:?}"
    );
    hop(&from, &pg.url, 0);
    let ty = |c: &str| {
        pg.scalar(&format!(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = '{c}'"
        ))
    };
    assert_eq!(ty("code"), "text");
    assert_eq!(ty("n"), "bigint");
    assert_eq!(ty("ok"), "character varying(5)");
    assert_eq!(
        pg.scalar("SELECT code || ':' || n FROM t WHERE id = 2"),
        "abcdef:70000"
    );
}

/// `ferry sync` inserts rows with their source ids: the counter follows.
/// The config's `include`/`exclude` choose tables like the flags.
#[test]
fn sync_restarts_identity_counters_and_the_config_selects_tables() {
    let tmp = tempdir();
    let src = app_db(tmp.path());
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("fidelity_sync");
    let cfg = write_config(tmp.path(), "exclude = [\"legacy*\"]\n");
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &pg.url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let r = report(&out);
    assert!(
        not_carried(&r).contains(&("table".into(), "legacy_codes".into())),
        "{:#}",
        r["not_carried"]
    );
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute_batch(
            "INSERT INTO customers (id, email, status, created_at) VALUES (90, 'sync@example.com', 'active', '2024-06-01 10:00:00');",
        )
        .unwrap();
    let out = ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "sync",
        "--from",
        &from,
        "--to",
        &pg.url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(pg.count("customers"), 6);
    assert_eq!(
        pg.scalar(&format!(
            "INSERT INTO customers {NEW_CUSTOMER} RETURNING id"
        )),
        "91"
    );
}

/// On PostgreSQL a table's keys, index and statistics are built as soon as
/// it has loaded, while the others still load; its foreign key too, once
/// its parent is complete (keyed, no row of it to move again). The run is
/// made to load the parent first — the child paused after its first batch
/// until the parent's keys exist, a rendezvous on a file and the catalog,
/// not on time — and killed once every table has loaded.
#[test]
fn a_tables_keys_are_built_as_soon_as_it_loads_and_its_foreign_keys_once_its_parent_is_complete() {
    let tmp = tempdir();
    let src = tmp.path().join("keys.db");
    // `code` has no type: SQLite keeps 1 and '1' apart, PostgreSQL's text
    // column does not, so account 3 breaks the unique key on the target
    // and entry 3 is then left without its account.
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute_batch(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, code UNIQUE);
             INSERT INTO accounts VALUES (1, 'A1'), (2, 1), (3, '1');
             CREATE TABLE entries (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), amount REAL);
             CREATE INDEX entries_account ON entries(account_id);
             INSERT INTO entries VALUES (1, 1, 1.5), (2, 2, 2.5), (3, 3, 3.5), (4, 1, 4.5);",
        )
        .unwrap();
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("early_keys");
    let kinds = |t: &str| {
        pg.scalar(&format!(
            "SELECT coalesce(string_agg(contype::text, '' ORDER BY contype), '') FROM pg_constraint WHERE conrelid = to_regclass('{t}')"
        ))
    };
    let release = tmp.path().join("release");
    let paused = tmp.path().join("release.paused");
    let child = Command::new(ferry_bin())
        .args([
            "migrate",
            "--from",
            &from,
            "--to",
            &pg.url,
            "--batch-size",
            "2",
        ])
        .env("FERRY_CACHE_DIR", cache_dir())
        .env(
            "FERRY_PAUSE",
            format!("batch@entries:1:{}", release.display()),
        )
        .env("FERRY_FAILPOINT", "load-done:1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Polled with a generous deadline: the child's pause, then the
    // parent's keys.
    let start = std::time::Instant::now();
    while !(paused.exists() && kinds("accounts") == "pu") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(300),
            "entries never paused, or the keys of accounts were never built"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::fs::write(&release, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "ferry was not killed at load-done: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(kinds("accounts"), "pu");
    assert_eq!(
        kinds("entries"),
        "fp",
        "the foreign key built during the load, its parent complete"
    );
    assert_eq!(
        pg.scalar("SELECT convalidated FROM pg_constraint WHERE contype = 'f'"),
        "t"
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'entries_account'"),
        "1"
    );
    assert_eq!(
        pg.scalar(
            "SELECT count(DISTINCT tablename) FROM pg_stats WHERE tablename IN ('accounts', 'entries')"
        ),
        "2",
        "statistics gathered with the keys"
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM _ferry_rejects"),
        "duplicate-key,fk-orphan",
        "the duplicate and the orphan it left moved during the load"
    );
    // What a run killed between building a key's index and attaching it
    // leaves: the index, no constraint. The resume attaches it.
    pg.query(
        "ALTER TABLE entries DROP CONSTRAINT entries_pkey; CREATE UNIQUE INDEX entries_pkey ON entries (id)",
    );
    assert_eq!(kinds("entries"), "f");
    let run = latest_run(&pg.url);
    let out = ferry(&["resume", &run, "--to", &pg.url, "--json"]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(3)),
        "{}",
        stdout(&out)
    );
    assert_eq!(kinds("entries"), "fp");
    assert_eq!(
        pg.scalar(
            "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'entries'"
        ),
        "entries_account,entries_pkey",
        "the left index became the key; nothing was built twice"
    );
    assert_eq!(
        pg.scalar("SELECT string_agg(code, ',' ORDER BY code) FROM _ferry_rejects"),
        "duplicate-key,fk-orphan",
        "the resume builds nothing twice and moves nothing more"
    );

    // Uninterrupted: each moved row is counted once, each key listed once,
    // and the run verifies.
    let pg = PgDb::new("early_keys_whole");
    let out = ferry(&["migrate", "--from", &from, "--to", &pg.url, "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    let counts: Vec<(String, u64, u64)> = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["rows_written"].as_u64().unwrap(),
                t["rows_rejected"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("accounts".to_string(), 2, 1),
            ("entries".to_string(), 3, 1)
        ]
    );
    assert_eq!(pg.count("_ferry_rejects"), 2);
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
    let listed: Vec<&str> = r["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let mut once = listed.clone();
    once.sort_unstable();
    once.dedup();
    assert_eq!(once.len(), listed.len(), "each listed once: {listed:?}");
}

/// A table's keys are built as indexes and attached as constraints under
/// the name PostgreSQL would give them; where another table holds that name
/// (`t` beside a table called `t_pkey`), the key is added as before and
/// PostgreSQL names it.
#[test]
fn a_primary_key_whose_default_name_is_another_tables_is_still_built() {
    let tmp = tempdir();
    let src = tmp.path().join("names.db");
    rusqlite::Connection::open(&src)
        .unwrap()
        .execute_batch(
            "CREATE TABLE t_pkey (id INTEGER PRIMARY KEY, v TEXT);
             CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT UNIQUE, v TEXT);
             CREATE INDEX t_v ON t(v);
             INSERT INTO t_pkey VALUES (1, 'a'), (2, 'b');
             INSERT INTO t VALUES (1, 'x', 'a'), (2, 'y', 'b'), (3, 'z', 'b');",
        )
        .unwrap();
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("pk_names");
    let out = ferry(&["migrate", "--from", &from, "--to", &pg.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["verify"]["ok"], true);
    let keys = pg.scalar(
        "SELECT string_agg(conrelid::regclass::text || ':' || contype::text || ':' || conname::text, ',' ORDER BY conrelid::regclass::text, conname) \
         FROM pg_constraint WHERE conrelid IN ('t'::regclass, 't_pkey'::regclass)",
    );
    // `t_pkey` is the table's: `t`'s key takes the next free name.
    assert_eq!(
        keys, "t:u:t_code_key,t:p:t_pkey1,t_pkey:p:t_pkey_pkey",
        "{keys}"
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 't'"),
        "3",
        "key, unique constraint and index, nothing twice"
    );
}
