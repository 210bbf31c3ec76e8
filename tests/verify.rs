//! `ferry verify` on its own: a faithful target passes; each kind of damage
//! done to the target behind ferry's back is found and named.

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
