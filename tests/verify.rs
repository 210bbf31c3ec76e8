//! `ferry verify` on its own: a faithful target passes; each kind of damage
//! done to the target behind ferry's back is found and named.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn verify(from: &str, to: &str) -> (Option<i32>, serde_json::Value) {
    let out = ferry(&["verify", "--from", from, "--to", to, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json printed no report ({e}): {}", stderr(&out)));
    (out.status.code(), v)
}

fn table<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap()
}

#[test]
fn verify_finds_missing_changed_orphaned_and_shifted_rows() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 300);
    let from = format!("sqlite:{}", src.display());
    let db = PgDb::new("verify");
    let out = ferry(&["migrate", "--from", &from, "--to", &db.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let (code, v) = verify(&from, &db.url);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["ok"], true);
    for t in v["tables"].as_array().unwrap() {
        assert_eq!(t["checksum"]["status"], "match", "{t}");
        assert_eq!(t["sample"]["status"], "match", "{t}");
    }

    // A changed value: the checksum differs and the sample names row and column.
    db.query("UPDATE users SET name = 'Mallory' WHERE id = 5");
    let (code, v) = verify(&from, &db.url);
    assert_eq!(code, Some(1));
    let users = table(&v, "users");
    assert_eq!(users["accounted"], true);
    assert_eq!(users["checksum"]["status"], "mismatch");
    let detail = users["sample"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("row 5, column `name`") && detail.contains("Mallory"),
        "{detail}"
    );
    db.query("UPDATE users SET name = 'User 5' WHERE id = 5");

    // A missing row: the accounting fails.
    db.query("ALTER TABLE orders DISABLE TRIGGER ALL; DELETE FROM orders WHERE id = 7");
    let (code, v) = verify(&from, &db.url);
    assert_eq!(code, Some(1));
    let orders = table(&v, "orders");
    assert_eq!(orders["accounted"], false);
    assert_eq!(orders["source_rows"], 600);
    assert_eq!(orders["target_rows"], 599);

    // An orphan: a row whose user does not exist (triggers off, so the FK is bypassed).
    db.query(
        "INSERT INTO orders (id, user_id, total, placed_at) SELECT 7, 99999, total, placed_at FROM orders WHERE id = 8",
    );
    let (code, v) = verify(&from, &db.url);
    assert_eq!(code, Some(1));
    let orders = table(&v, "orders");
    assert_eq!(orders["accounted"], true);
    let fk = &orders["orphans"][0][1];
    assert_eq!(fk["status"], "mismatch", "{orders}");
    assert!(fk["detail"].as_str().unwrap().contains("99999"), "{fk}");

    // A shifted timestamp: the range check names the column.
    db.query("DELETE FROM orders WHERE id = 7; INSERT INTO orders SELECT 7, user_id, total, placed_at + interval '10 years' FROM orders WHERE id = 8");
    let (code, v) = verify(&from, &db.url);
    assert_eq!(code, Some(1));
    let orders = table(&v, "orders");
    let ranges = orders["ranges"].as_array().unwrap();
    assert!(
        ranges
            .iter()
            .any(|r| r["column"] == "placed_at" && r["ok"] == false),
        "{orders}"
    );
}

/// Runs `ferry migrate --json` paused where the target of `table` is about
/// to be read back; `tamper` changes the target there, then the run goes on.
fn migrate_tampered(from: &str, to: &str, table: &str, tamper: impl FnOnce()) -> Output {
    let dir = tempdir();
    let release = dir.path().join("release");
    let paused = dir.path().join("release.paused");
    let child = Command::new(ferry_bin())
        .args(["migrate", "--from", from, "--to", to, "--json"])
        .env("FERRY_CACHE_DIR", cache_dir())
        .env(
            "FERRY_PAUSE",
            format!("read-back@{table}:1:{}", release.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferry");
    // A rendezvous on a file, polled with a generous deadline.
    let start = Instant::now();
    while !paused.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "ferry never reached the read-back of {table}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    tamper();
    std::fs::write(&release, "").unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!("stdout:\n{}\nstderr:\n{}", stdout(&out), stderr(&out));
    out
}

/// A run does not re-read its source: it digests what it sends and reads
/// the target back. A value changed behind its back before the read-back is
/// found and named — on PostgreSQL, where tables are read back while others
/// load, and on SQLite, where they are read back after the keys.
#[test]
fn a_run_finds_a_value_changed_before_its_read_back() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 300);
    let from = format!("sqlite:{}", src.display());
    let pg = PgDb::new("readback");
    let lite = dir.path().join("target.db");
    let lite_url = format!("sqlite:{}", lite.display());
    let tamper_pg = || {
        pg.query("UPDATE users SET name = 'Mallory' WHERE id = 5");
    };
    let tamper_lite = || {
        let c = rusqlite::Connection::open(&lite).unwrap();
        c.execute("UPDATE users SET name = 'Mallory' WHERE id = 5", [])
            .unwrap();
    };
    for (to, out) in [
        (
            &pg.url,
            migrate_tampered(&from, &pg.url, "users", tamper_pg),
        ),
        (
            &lite_url,
            migrate_tampered(&from, &lite_url, "users", tamper_lite),
        ),
    ] {
        assert_eq!(out.status.code(), Some(1), "{to}: {}", stderr(&out));
        let r = report(&out);
        let v = &r["verify"];
        assert_eq!(v["ok"], false, "{to}: {v}");
        let users = table(v, "users");
        assert_eq!(users["accounted"], true, "{to}: {users}");
        assert_eq!(users["checksum"]["status"], "mismatch", "{to}: {users}");
        let detail = users["sample"]["detail"].as_str().unwrap();
        assert!(
            detail.contains("row 5, column `name`") && detail.contains("Mallory"),
            "{to}: {detail}"
        );
        // The untouched table is proven equal, from the stream's digest.
        let orders = table(v, "orders");
        assert_eq!(orders["ok"], true, "{to}: {orders}");
        assert_eq!(orders["checksum"]["status"], "match", "{to}: {orders}");
        assert_eq!(orders["source_rows"], 600);
    }
    // PostgreSQL → PostgreSQL passes the rows through undecoded, and a
    // clean run compares the rows' wire bytes on both sides.
    let clean = PgDb::new("readback_pgpg_clean");
    let out = ferry(&["migrate", "--from", &pg.url, "--to", &clean.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    for t in r["verify"]["tables"].as_array().unwrap() {
        assert_eq!(t["checksum"]["status"], "match", "{t}");
        assert_eq!(t["checksum_over"], "wire-bytes", "{t}");
        assert_eq!(t["sample"]["status"], "match", "{t}");
    }
    // A value changed in the target: the wire bytes differ, and the rows
    // are compared again by value, which finds and names the change.
    let pg2 = PgDb::new("readback_pgpg");
    let out = migrate_tampered(&pg.url, &pg2.url, "users", || {
        pg2.query("UPDATE users SET name = 'Eve' WHERE id = 6");
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = report(&out);
    let passed: Vec<&serde_json::Value> = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["passthrough"] == true)
        .collect();
    assert_eq!(passed.len(), 2, "{r:#}");
    let users = table(&r["verify"], "users");
    assert_eq!(users["checksum"]["status"], "mismatch", "{users}");
    assert_eq!(users["checksum_over"], "values", "{users}");
    let detail = users["sample"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("row 6, column `name`") && detail.contains("Eve"),
        "{detail}"
    );
    assert_eq!(table(&r["verify"], "orders")["ok"], true);
}

/// Into PostgreSQL, a table whose every column the server stores as the
/// binary COPY sent it is checksummed over the bytes sent and read back raw
/// (`orders`: integers, a float, a timestamp); a `numeric` column (applied
/// its scale by the server) keeps `users` on values. A value changed before
/// the raw read-back is still found and named: the bytes differ, and the
/// rows are compared again by value.
#[test]
fn a_run_into_postgresql_checksums_the_bytes_it_sent() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 200);
    let from = format!("sqlite:{}", src.display());
    let clean = PgDb::new("sent_bytes_clean");
    let out = ferry(&["migrate", "--from", &from, "--to", &clean.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = &report(&out)["verify"];
    let orders = table(v, "orders");
    assert_eq!(orders["checksum"]["status"], "match", "{orders}");
    assert_eq!(orders["checksum_over"], "wire-bytes", "{orders}");
    assert_eq!(orders["sample"]["status"], "match", "{orders}");
    assert_eq!(orders["source_rows"], 400, "{orders}");
    let users = table(v, "users");
    assert_eq!(users["checksum"]["status"], "match", "{users}");
    assert_eq!(users["checksum_over"], "values", "{users}");

    let pg = PgDb::new("sent_bytes_tampered");
    let out = migrate_tampered(&from, &pg.url, "orders", || {
        pg.query("UPDATE orders SET total = 1234.5 WHERE id = 7");
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = &report(&out)["verify"];
    let orders = table(v, "orders");
    assert_eq!(orders["checksum"]["status"], "mismatch", "{orders}");
    assert_eq!(orders["checksum_over"], "values", "{orders}");
    let detail = orders["sample"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("row 7, column `total`") && detail.contains("1234.5"),
        "{detail}"
    );
    assert_eq!(table(v, "users")["ok"], true, "{v}");
}

/// A transformer's output is what the run sent, so the run's own
/// verification compares it in full (checksum and sample), where comparing
/// with the source could only count it.
#[test]
fn a_run_verifies_a_transformed_table_in_full() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 200);
    let from = format!("sqlite:{}", src.display());
    let db = PgDb::new("readback_mask");
    let mask = r#"users:mask={"key":"test-key-0123456789abcdef","columns":{"email":"hash-email"}}"#;
    let out = ferry(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &db.url,
        "--transform",
        mask,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = &report(&out)["verify"];
    let users = table(v, "users");
    assert_eq!(users["checksum"]["status"], "match", "{users}");
    assert_eq!(users["sample"]["status"], "match", "{users}");
    // The standalone verify compares with the source, which the plugin changed.
    let out = ferry(&[
        "verify",
        "--from",
        &from,
        "--to",
        &db.url,
        "--transform",
        mask,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = report(&out);
    assert_eq!(table(&v, "users")["checksum"]["status"], "skipped", "{v}");
}
