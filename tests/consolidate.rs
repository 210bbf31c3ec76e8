//! Several SQLite sources into one PostgreSQL database: UUIDv5 keys, foreign
//! keys rewritten to match, the id map, and the conflict policies for the
//! same unique value in two sources.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A source with overlapping ids: `customers` 1..=3 and their orders.
fn source(
    dir: &Path,
    name: &str,
    customers: &[(i64, &str, &str)],
    orders: &[(i64, i64, f64)],
) -> PathBuf {
    let path = dir.join(format!("{name}.db"));
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, updated_at TEXT);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL);",
    )
    .unwrap();
    for (i, (id, email, cname)) in customers.iter().enumerate() {
        c.execute(
            "INSERT INTO customers VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                id,
                email,
                cname,
                format!("2024-0{}-01 00:00:00", if name == "b" { 5 } else { 1 } + i)
            ],
        )
        .unwrap();
    }
    for (id, cust, total) in orders {
        c.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3)",
            rusqlite::params![id, cust, total],
        )
        .unwrap();
    }
    path
}

fn sources(dir: &Path) -> (String, String) {
    let a = source(
        dir,
        "a",
        &[
            (1, "ann@x.org", "Ann"),
            (2, "bob@x.org", "Bob"),
            (3, "cy@x.org", "Cy"),
        ],
        &[(1, 1, 10.0), (2, 2, 20.0), (3, 3, 30.0)],
    );
    let b = source(
        dir,
        "b",
        &[
            (1, "dee@x.org", "Dee"),
            (2, "bob@x.org", "Bob (b)"),
            (3, "eve@x.org", "Eve"),
        ],
        &[(1, 1, 11.0), (2, 2, 21.0), (3, 2, 22.0), (4, 3, 31.0)],
    );
    (
        format!("sqlite:{}", a.display()),
        format!("sqlite:{}", b.display()),
    )
}

fn consolidate(a: &str, b: &str, db: &PgDb, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "migrate", "--from", a, "--from", b, "--to", &db.url, "--keys", "uuid5", "--json",
    ];
    args.extend_from_slice(extra);
    ferry(&args)
}

#[test]
fn two_sources_get_uuid5_keys_intact_foreign_keys_and_the_duplicate_email_reported() {
    let dir = tempdir();
    let (a, b) = sources(dir.path());
    let db = PgDb::new("consolidate");
    let out = consolidate(&a, &b, &db, &[]);
    // One row (b's bob) went to quarantine: exit 3, and verify's accounting holds.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
    assert_eq!(db.count("customers"), 5);
    assert_eq!(
        db.count("orders"),
        7,
        "every order lands: b's bob's orders move to a's bob"
    );
    // Keys are UUIDv5 of (source, table, legacy key).
    let ns = ferry::consolidate::default_namespace();
    let ann = uuid::Uuid::new_v5(&ns, format!("{a}\u{1f}customers\u{1f}1").as_bytes());
    assert_eq!(
        db.scalar("SELECT id::text FROM customers WHERE email = 'ann@x.org'"),
        ann.to_string()
    );
    assert_eq!(db.scalar("SELECT data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'customer_id'"), "uuid");
    // Foreign keys are intact and enforced; orders follow their customer.
    assert_eq!(
        db.scalar("SELECT convalidated FROM pg_constraint WHERE contype = 'f'"),
        "t"
    );
    let per_customer = db.query(
        "SELECT c.email, string_agg(o.total::text, ',' ORDER BY o.total) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.email ORDER BY c.email",
    );
    let got: Vec<(String, String)> = per_customer
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("ann@x.org".to_string(), "10".to_string()),
            ("bob@x.org".into(), "20,21,22".into()),
            ("cy@x.org".into(), "30".into()),
            ("dee@x.org".into(), "11".into()),
            ("eve@x.org".into(), "31".into()),
        ]
    );
    // The conflict is reported and the losing row is kept in quarantine.
    let rej =
        db.query("SELECT table_name, code, reason, row_data::jsonb->>'name' FROM _ferry_rejects");
    assert_eq!(rej.len(), 1, "{rej:?}");
    assert_eq!(
        (rej[0][0].as_str(), rej[0][1].as_str()),
        ("customers", "conflict")
    );
    assert!(
        rej[0][2].contains("bob@x.org") && rej[0][2].contains("keep-first"),
        "{rej:?}"
    );
    assert_eq!(rej[0][3], "Bob (b)");
    // The id map records every legacy key; b's bob points at the kept row.
    assert_eq!(db.count("_ferry_id_map"), 13);
    let bob_a = db.scalar("SELECT id::text FROM customers WHERE email = 'bob@x.org'");
    assert_eq!(
        db.scalar(&format!("SELECT new_key::text FROM _ferry_id_map WHERE source = '{b}' AND table_name = 'customers' AND legacy_key = '2'")),
        bob_a
    );
}

#[test]
fn conflict_policies_fail_keep_latest_and_quarantine() {
    let dir = tempdir();
    let (a, b) = sources(dir.path());
    // fail: the run stops and names the value.
    let db = PgDb::new("conflict_fail");
    let out = consolidate(&a, &b, &db, &["--on-conflict", "fail"]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert!(r["error"].as_str().unwrap().contains("bob@x.org"), "{r}");
    // keep-latest by updated_at: b's bob is newer, so it stays; a's bob's order moves to it.
    let db = PgDb::new("conflict_latest");
    let out = consolidate(
        &a,
        &b,
        &db,
        &["--on-conflict", "keep-latest", "--latest-by", "updated_at"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        db.scalar("SELECT name FROM customers WHERE email = 'bob@x.org'"),
        "Bob (b)"
    );
    assert_eq!(db.count("orders"), 7);
    // quarantine: the later bob and its two orders go to quarantine.
    let db = PgDb::new("conflict_quarantine");
    let out = consolidate(&a, &b, &db, &["--on-conflict", "quarantine"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(db.count("customers"), 5);
    assert_eq!(db.count("orders"), 5);
    assert_eq!(
        db.scalar("SELECT count(*) FROM _ferry_rejects WHERE code = 'fk-orphan'"),
        "2"
    );
    assert_eq!(report(&out)["verify"]["ok"], true);
}

#[test]
fn the_sources_can_be_listed_in_the_config() {
    let dir = tempdir();
    let (a, b) = sources(dir.path());
    let config = write_config(dir.path(), &format!("sources = [\"{a}\", \"{b}\"]\n"));
    let db = PgDb::new("consolidate_cfg");
    let out = ferry(&[
        "migrate",
        "--config",
        &config.display().to_string(),
        "--to",
        &db.url,
        "--keys",
        "uuid5",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(db.count("customers"), 5);
    assert_eq!(db.count("orders"), 7);
    assert_eq!(report(&out)["verify"]["ok"], true);
}
