//! Rows that cannot be migrated are kept with their reason, counted, and the
//! run exits 3. Nothing is dropped silently.

use crate::util::*;

const RULES: &str = r#"users:rules={"rules":[{"column":"email","check":"not-null"},{"column":"age","check":"range","min":0,"max":60}]}"#;

#[test]
fn validator_rejects_are_counted_kept_with_reason_and_exit_3_postgres() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 300);
    let db = PgDb::new("rejects");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--validate",
        RULES,
        "--batch-size",
        "64",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded_with_rejects");
    assert!(
        r["rejects_table"]
            .as_str()
            .unwrap()
            .contains("_ferry_rejects")
    );
    // Rejected: every 10th user has no email (30); ages are 20 + i % 50, so
    // ages above 60 are i % 50 in 41..=49 (9 of every 50 → 54), minus those
    // with no age (every 7th) or already rejected for the email.
    let expected: i64 = (1..=300i64)
        .filter(|i| i % 10 == 0 || (i % 7 != 0 && 20 + i % 50 > 60))
        .count() as i64;
    let users = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "users")
        .unwrap()
        .clone();
    assert_eq!(users["rows_read"], 300);
    assert_eq!(users["rows_rejected"].as_i64().unwrap(), expected);
    assert_eq!(users["rows_written"].as_i64().unwrap(), 300 - expected);
    assert_eq!(db.count("users"), 300 - expected);
    // Orders of rejected users point at missing parents: they violate the
    // foreign key in the target, so they are quarantined too (fk-orphan).
    let rejected_user = |u: i64| u % 10 == 0 || (u % 7 != 0 && 20 + u % 50 > 60);
    let orphans = (1..=600i64).filter(|i| rejected_user(i % 300 + 1)).count() as i64;
    // Each rejected row is kept, whole, with its reason.
    assert_eq!(db.count("_ferry_rejects"), expected + orphans);
    assert_eq!(
        db.scalar("SELECT count(*) FROM _ferry_rejects WHERE table_name = 'orders' AND code = 'fk-orphan' AND stage = 'write'"),
        orphans.to_string()
    );
    assert_eq!(db.count("orders"), 600 - orphans);
    let rej = db.query(
        "SELECT source_key, stage, plugin, column_name, code, reason, row_data::jsonb->>'name' FROM _ferry_rejects WHERE source_key = '10'",
    );
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0][1], "validate");
    assert_eq!(rej[0][2], "rules");
    assert_eq!(rej[0][3], "email");
    assert_eq!(rej[0][4], "not-null");
    assert_eq!(rej[0][6], "User 10");
    let range = db.query("SELECT reason FROM _ferry_rejects WHERE source_key = '41'");
    assert!(range[0][0].contains("61"), "{range:?}");
    // The foreign key is created and valid: every remaining order has its user.
    assert_eq!(
        db.scalar("SELECT convalidated FROM pg_constraint WHERE contype = 'f'"),
        "t"
    );
    // Verify ran at the end and its accounting holds for every table.
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
    for t in r["verify"]["tables"].as_array().unwrap() {
        assert_eq!(t["accounted"], true, "{t}");
        assert_eq!(t["checksum"]["status"], "match", "{t}");
    }
    // source rows = written + rejected, for every table.
    for t in r["tables"].as_array().unwrap() {
        assert_eq!(
            t["rows_read"].as_u64().unwrap(),
            t["rows_written"].as_u64().unwrap() + t["rows_rejected"].as_u64().unwrap()
        );
    }
}

#[test]
fn validator_rejects_go_to_the_rejects_table_in_sqlite_too() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 100);
    let dst = dir.path().join("out.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", dst.display()),
        "--validate",
        r#"users:rules={"rules":[{"column":"email","check":"not-null"}]}"#,
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        // 10 users without email, and their 20 orders (fk-orphan).
        stdout(&out).contains("30 rejected rows"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("_ferry_rejects"), "{}", stdout(&out));
    assert_eq!(sqlite_scalar(&dst, "SELECT count(*) FROM users"), "90");
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM _ferry_rejects WHERE code = 'not-null'"
        ),
        "10"
    );
}

#[test]
fn dirty_values_are_quarantined_at_read_not_coerced() {
    let dir = tempdir();
    let src = dir.path().join("dirty.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, b BLOB, j JSON);
         INSERT INTO t VALUES (1, 10, 1.5, 'ok', x'00ff', '{\"a\":1}');
         INSERT INTO t VALUES (2, 'ten', 1.5, 'ok', x'00', '[]');          -- text in INTEGER
         INSERT INTO t VALUES (3, 1, 'abc', 'ok', x'00', '1');             -- text in REAL
         INSERT INTO t VALUES (4, 1, 2.0, CAST(x'ff' AS TEXT), x'00', '1'); -- invalid UTF-8
         INSERT INTO t VALUES (5, 1, 2.0, x'0102', x'00', '1');            -- blob in TEXT
         INSERT INTO t VALUES (6, 1, 2.0, 'a' || char(0) || 'b', x'00', '1'); -- NUL in text
         INSERT INTO t VALUES (7, 1, 2.0, 'ok', 'text in blob', '1');      -- kept as bytes
         INSERT INTO t VALUES (8, 1, 2.0, 'ok', x'00', '{broken');         -- invalid JSON
         INSERT INTO t VALUES (9, 2.5, 2.0, 'ok', x'00', '1');             -- fraction in INTEGER
         INSERT INTO t VALUES (10, NULL, NULL, '', NULL, NULL);            -- empty string kept
         -- A column with no declared type holds 1 and '1' as distinct values;
         -- as text they are the same, so the unique key refuses the second.
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, code UNIQUE);
         INSERT INTO accounts VALUES (1, 'A1'), (2, 1), (3, '1');
         PRAGMA foreign_keys = OFF;
         CREATE TABLE entries (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), amount REAL);
         INSERT INTO entries VALUES (1, 1, 1.5), (2, 99, 2.5), (3, 3, 3.5); -- 99: no such account; 3: quarantined above",
    )
    .unwrap();
    drop(c);
    let db = PgDb::new("dirty");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    let table = |name: &str| {
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no table {name} in {r}"))
            .clone()
    };
    let t = &table("t");
    assert_eq!(t["rows_read"], 10);
    assert_eq!(t["rows_rejected"], 7);
    assert_eq!(t["rows_written"], 3);
    let kept: Vec<String> = db
        .query("SELECT id FROM t ORDER BY id")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(kept, ["1", "7", "10"]);
    // Exactly carried over: text in a BLOB column as its bytes; empty string stays empty.
    assert_eq!(
        db.scalar("SELECT encode(b, 'escape') FROM t WHERE id = 7"),
        "text in blob"
    );
    assert_eq!(db.scalar("SELECT s = '' FROM t WHERE id = 10"), "t");
    // Every other row is in quarantine with the column and the reason.
    let rej = db.query("SELECT source_key, stage, column_name, reason FROM _ferry_rejects WHERE table_name = 't' ORDER BY source_key::int");
    let expect = [
        ("2", "read", "n", "'ten'"),
        ("3", "read", "r", "'abc'"),
        ("4", "read", "s", "UTF-8"),
        ("5", "read", "s", "blob"),
        ("6", "write", "s", "NUL"),
        ("8", "read", "j", "JSON"),
        ("9", "read", "n", "2.5"),
    ];
    assert_eq!(rej.len(), expect.len(), "{rej:?}");
    for (row, (key, stage, col, why)) in rej.iter().zip(expect) {
        assert_eq!(
            (row[0].as_str(), row[1].as_str(), row[2].as_str()),
            (key, stage, col),
            "{row:?}"
        );
        assert!(row[3].contains(why), "{row:?} should mention {why}");
    }
}

#[test]
fn dirty_fixture_constraint_violations_are_quarantined_and_verify_accounts_for_every_row() {
    // Same dirty fixture as above, checked for the target-constraint part
    // and for verify's accounting.
    let dir = tempdir();
    let src = dir.path().join("dirty.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, code UNIQUE);
         INSERT INTO accounts VALUES (1, 'A1'), (2, 1), (3, '1');
         PRAGMA foreign_keys = OFF;
         CREATE TABLE entries (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), amount REAL);
         INSERT INTO entries VALUES (1, 1, 1.5), (2, 99, 2.5), (3, 3, 3.5);",
    )
    .unwrap();
    drop(c);
    for target in ["postgres", "sqlite"] {
        let db = PgDb::new("dirtykeys");
        let out_db = dir.path().join("out.db");
        let to = if target == "postgres" {
            db.url.clone()
        } else {
            format!("sqlite:{}", out_db.display())
        };
        let out = ferry(&[
            "migrate",
            "--from",
            &format!("sqlite:{}", src.display()),
            "--to",
            &to,
            "--if-exists",
            "drop",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(3), "{target}: {}", stderr(&out));
        let r = report(&out);
        let counts: Vec<(String, u64, u64, u64)> = r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["rows_read"].as_u64().unwrap(),
                    t["rows_written"].as_u64().unwrap(),
                    t["rows_rejected"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("accounts".to_string(), 3, 2, 1),
                ("entries".to_string(), 3, 1, 2)
            ],
            "{target}"
        );
        // Verify ran and every source row is accounted for.
        let v = &r["verify"];
        assert_eq!(v["ok"], true, "{target}: {v}");
        for t in v["tables"].as_array().unwrap() {
            assert_eq!(t["accounted"], true, "{target}: {t}");
            assert_eq!(
                t["source_rows"].as_u64().unwrap(),
                t["target_rows"].as_u64().unwrap() + t["quarantined"].as_u64().unwrap()
            );
            assert_eq!(t["checksum"]["status"], "match", "{target}: {t}");
        }
        // The quarantine says which constraint and why.
        let reasons: Vec<(String, String, String)> = if target == "postgres" {
            db.query("SELECT table_name, code, reason FROM _ferry_rejects ORDER BY table_name, source_key")
                .into_iter()
                .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
                .collect()
        } else {
            let c = rusqlite::Connection::open(&out_db).unwrap();
            let mut st = c
                .prepare("SELECT table_name, code, reason FROM _ferry_rejects ORDER BY table_name, source_key")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(reasons.len(), 3, "{target}: {reasons:?}");
        assert_eq!(
            (reasons[0].0.as_str(), reasons[0].1.as_str()),
            ("accounts", "duplicate-key")
        );
        assert!(
            reasons[0].2.contains("code") && reasons[0].2.contains("\"1\""),
            "{reasons:?}"
        );
        assert_eq!(
            (reasons[1].0.as_str(), reasons[1].1.as_str()),
            ("entries", "fk-orphan")
        );
        assert_eq!(
            (reasons[2].0.as_str(), reasons[2].1.as_str()),
            ("entries", "fk-orphan")
        );
        assert!(reasons[1].2.contains("accounts"), "{reasons:?}");
    }
}
