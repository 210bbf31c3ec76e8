//! The JSON directory endpoint (`json:DIR`): SQLite → JSON → SQLite and
//! → PostgreSQL with every value exact and the keys restored; dirty JSON
//! Lines quarantined with line numbers; schemaless directories inferred;
//! `--if-exists`; the quarantine file of a JSON target; nested arrays
//! normalised into a child table and nested back.

use std::path::Path;

use crate::util::*;

fn migrate(from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["migrate", "--from", from, "--to", to, "--json"];
    args.extend_from_slice(extra);
    ferry(&args)
}

fn table_report(r: &serde_json::Value, name: &str) -> serde_json::Value {
    r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {r}"))
        .clone()
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// SQLite shop fixture → `json:DIR`; returns (source db, json dir url).
fn export_shop(dir: &Path, n: i64) -> (std::path::PathBuf, String) {
    let src = shop_fixture(dir, n);
    let out_dir = dir.join("export");
    let to = format!("json:{}", out_dir.display());
    let out = migrate(&format!("sqlite:{}", src.display()), &to, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (src, to)
}

#[test]
fn sqlite_to_json_writes_the_documented_encoding_and_schema() {
    let dir = tempdir();
    let (_, _) = export_shop(dir.path(), 30);
    let out = dir.path().join("export");
    let users = lines(&out.join("users.jsonl"));
    assert_eq!(users.len(), 30);
    assert_eq!(lines(&out.join("orders.jsonl")).len(), 60);
    let u3 = &users[2];
    // Keys in column order, each type in its encoding.
    let keys: Vec<&str> = u3.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "id", "name", "email", "age", "balance", "price", "active", "avatar", "meta"
        ]
    );
    assert_eq!(u3["id"], 3);
    assert_eq!(u3["balance"], 3.85);
    assert_eq!(u3["price"], "3.03");
    assert_eq!(u3["active"], true);
    assert_eq!(u3["avatar"], "AwD/");
    assert_eq!(u3["meta"], serde_json::json!({"n": 3, "tags": ["a", "b"]}));
    assert_eq!(users[9]["email"], serde_json::Value::Null);
    assert_eq!(users[6]["age"], serde_json::Value::Null);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("_schema.json")).unwrap()).unwrap();
    assert_eq!(schema["format"], "ferry-json");
    assert_eq!(schema["version"], 1);
    let t = schema["tables"].as_array().unwrap();
    let users_def = t.iter().find(|t| t["name"] == "users").unwrap();
    assert_eq!(users_def["primary_key"], serde_json::json!(["id"]));
    assert_eq!(
        users_def["unique"][0]["columns"],
        serde_json::json!(["email"])
    );
    assert_eq!(users_def["columns"][5]["declared_type"], "NUMERIC(10,2)");
    assert_eq!(users_def["columns"][5]["logical_type"], "decimal");
    let orders_def = t.iter().find(|t| t["name"] == "orders").unwrap();
    assert_eq!(orders_def["indexes"][0]["name"], "orders_user");
    assert_eq!(orders_def["foreign_keys"][0]["ref_table"], "users");
    assert_eq!(orders_def["foreign_keys"][0]["on_delete"], "CASCADE");
    assert!(!out.join("_schema.json.tmp").exists());
}

#[test]
fn sqlite_to_json_to_sqlite_is_exact_with_keys_restored() {
    let dir = tempdir();
    let (src, from) = export_shop(dir.path(), 200);
    let dst = dir.path().join("back.db");
    let out = migrate(&from, &format!("sqlite:{}", dst.display()), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(table_report(&r, "users")["rows_written"], 200);
    assert_eq!(table_report(&r, "orders")["rows_written"], 400);

    // Every value and its storage class are identical (REAL bits, NUMERIC,
    // BLOB bytes, JSON text, booleans, NULLs).
    let c = rusqlite::Connection::open(&dst).unwrap();
    c.execute("ATTACH DATABASE ?1 AS src", [src.to_str().unwrap()])
        .unwrap();
    let cols = [
        "id", "name", "email", "age", "balance", "price", "active", "avatar", "meta",
    ];
    let same: String = cols
        .iter()
        .map(|c| format!("a.{c} IS b.{c} AND typeof(a.{c}) = typeof(b.{c})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let n: i64 = c
        .query_row(
            &format!("SELECT count(*) FROM src.users a JOIN main.users b USING (id) WHERE {same}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 200);
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM src.orders a JOIN main.orders b USING (id) \
             WHERE a.user_id IS b.user_id AND a.total IS b.total AND a.placed_at IS b.placed_at",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 400);
    // Declared types, keys, the unique email, the index and the FK are back.
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT type FROM pragma_table_info('users') WHERE name = 'price'"
        ),
        "NUMERIC(10,2)"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT pk FROM pragma_table_info('users') WHERE name = 'id'"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'orders_user'"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM pragma_index_list('users') WHERE \"unique\" = 1 AND origin <> 'pk'"
        ),
        "1"
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT \"table\" || ':' || \"from\" || ':' || on_delete FROM pragma_foreign_key_list('orders')"
        ),
        "users:user_id:CASCADE"
    );
}

#[test]
fn sqlite_to_json_to_postgres_is_exact_with_keys_restored() {
    let dir = tempdir();
    let (_, from) = export_shop(dir.path(), 100);
    let db = PgDb::new("json");
    let out = migrate(&from, &db.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(db.count("users"), 100);
    assert_eq!(db.count("orders"), 200);
    let row = db.query(
        "SELECT balance::text, price::text, active, encode(avatar, 'hex'), meta::text, email, age \
         FROM users WHERE id = 7",
    );
    assert_eq!(
        row[0],
        [
            "8.85",
            "7.07",
            "t",
            "0700ff",
            r#"{"n": 7, "tags": ["a", "b"]}"#,
            "user7@example.com",
            "NULL"
        ]
    );
    // Float bits are exact for every row.
    for r in db.query("SELECT id, encode(float8send(balance), 'hex') FROM users") {
        let i: i64 = r[0].parse().unwrap();
        let want = (i as f64 * 1.25 + 0.1).to_bits();
        assert_eq!(r[1], format!("{want:016x}"), "users.balance id {i}");
    }
    for r in db.query("SELECT id, encode(float8send(total), 'hex') FROM orders") {
        let i: i64 = r[0].parse().unwrap();
        assert_eq!(r[1], format!("{:016x}", (i as f64 / 3.0).to_bits()));
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM users WHERE email IS NULL"),
        "10"
    );
    let types = db.query(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_name = 'users' ORDER BY ordinal_position",
    );
    let types: Vec<String> = types.iter().map(|r| format!("{}:{}", r[0], r[1])).collect();
    assert!(
        types.contains(&"balance:double precision".to_string()),
        "{types:?}"
    );
    assert!(types.contains(&"price:numeric".to_string()), "{types:?}");
    assert!(types.contains(&"meta:jsonb".to_string()), "{types:?}");
    assert!(types.contains(&"avatar:bytea".to_string()), "{types:?}");
    let cons = db.query(
        "SELECT conrelid::regclass::text, contype FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    );
    let cons: Vec<String> = cons.iter().map(|r| format!("{}:{}", r[0], r[1])).collect();
    assert!(cons.contains(&"users:p".to_string()), "{cons:?}");
    assert!(cons.contains(&"users:u".to_string()), "{cons:?}");
    assert!(cons.contains(&"orders:f".to_string()), "{cons:?}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_user'"),
        "1"
    );
}

const PEOPLE_SCHEMA: &str = r#"{"format":"ferry-json","version":1,"tables":[{"name":"people",
 "columns":[
  {"name":"id","declared_type":"","logical_type":"int64","nullable":false},
  {"name":"name","declared_type":"","logical_type":"text","nullable":false},
  {"name":"born","declared_type":"","logical_type":"date","nullable":true},
  {"name":"score","declared_type":"","logical_type":"float64","nullable":true},
  {"name":"photo","declared_type":"","logical_type":"bytes","nullable":true}],
 "primary_key":["id"],"unique":[],"indexes":[],"foreign_keys":[]}]}"#;

#[test]
fn dirty_json_lines_are_quarantined_with_line_numbers_and_exit_3() {
    let dir = tempdir();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("_schema.json"), PEOPLE_SCHEMA).unwrap();
    std::fs::write(
        src.join("people.jsonl"),
        concat!(
            "{\"id\":1,\"name\":\"A\",\"born\":\"1990-05-01\",\"score\":1.5,\"photo\":\"AP8=\"}\n",
            "{\"id\":2,\"name\":\"B\"\n",
            "{\"id\":\"3\",\"name\":\"C\"}\n",
            "{\"id\":4,\"name\":\"D\",\"extra\":1}\n",
            "{\"id\":5}\n",
            "\n",
            "{\"id\":7,\"name\":\"G\",\"born\":\"2023-02-29\"}\n",
            "{\"id\":8,\"name\":\"H\",\"photo\":\"not base64!\"}\n",
            "[1,2]\n",
            "{\"id\":10,\"name\":\"J\",\"score\":\"-Infinity\"}\n",
        ),
    )
    .unwrap();
    let dst = dir.path().join("out.db");
    let out = migrate(
        &format!("json:{}", src.display()),
        &format!("sqlite:{}", dst.display()),
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded_with_rejects");
    let t = table_report(&r, "people");
    assert_eq!(t["rows_read"], 9);
    assert_eq!(t["rows_written"], 2);
    assert_eq!(t["rows_rejected"], 7);
    assert_eq!(
        sqlite_scalar(&dst, "SELECT group_concat(id) FROM people"),
        "1,10"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT score FROM people WHERE id = 10"),
        "-inf"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT hex(photo) FROM people WHERE id = 1"),
        "00FF"
    );
    let c = rusqlite::Connection::open(&dst).unwrap();
    let mut stmt = c
        .prepare("SELECT source_key, column_name, code, reason FROM _ferry_rejects ORDER BY rowid")
        .unwrap();
    let rows: Vec<(Option<String>, Option<String>, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expect = [
        ("line 2:", "invalid-json", None),
        ("line 3:", "type-mismatch", Some("id")),
        ("line 4:", "unknown-column", Some("extra")),
        ("line 5:", "not-null", Some("name")),
        ("line 7:", "type-mismatch", Some("born")),
        ("line 8:", "type-mismatch", Some("photo")),
        ("line 9:", "not-an-object", None),
    ];
    assert_eq!(rows.len(), expect.len(), "{rows:?}");
    for ((_, col, code, reason), (line, want_code, want_col)) in rows.iter().zip(expect) {
        assert!(reason.starts_with(line), "{reason}");
        assert_eq!(code, want_code, "{reason}");
        assert_eq!(col.as_deref(), want_col, "{reason}");
    }
    // The unknown key's row is kept whole; keyed rows carry their key.
    assert_eq!(rows[2].0.as_deref(), Some("4"));
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT row_data FROM _ferry_rejects WHERE code = 'unknown-column'"
        ),
        r#"{"id":4,"name":"D","extra":1}"#
    );
    assert_eq!(rows[0].0.as_deref(), Some("line=2"));
}

#[test]
fn a_schemaless_directory_is_inferred() {
    let dir = tempdir();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("events.jsonl"),
        concat!(
            "{\"id\":1,\"name\":\"a\",\"score\":1.5,\"ok\":true,\"tags\":[\"x\"],\"v\":1}\n",
            "{\"id\":2,\"name\":\"b\",\"score\":2,\"ok\":false,\"tags\":{\"k\":1.50},\"v\":\"s\"}\n",
            "{\"id\":3,\"extra\":null}\n",
        ),
    )
    .unwrap();
    // A `.json` file holding an array of objects is a table too.
    std::fs::write(
        src.join("list.json"),
        "[\n  {\"k\": 1, \"v\": \"x,]\"},\n  {\"k\": 2, \"v\": null},\n  {\"k\": \"three\"}\n]\n",
    )
    .unwrap();
    // ferry's own files are not tables.
    std::fs::write(src.join("_ferry_rejects.jsonl"), "").unwrap();
    let dst = dir.path().join("out.db");
    let out = migrate(
        &format!("json:{}", src.display()),
        &format!("sqlite:{}", dst.display()),
        &[],
    );
    // `k` holds numbers and a string: mixed → json, declared `mixed`.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["tables"].as_array().unwrap().len(), 2);
    assert_eq!(table_report(&r, "events")["rows_written"], 3);
    assert_eq!(table_report(&r, "list")["rows_written"], 3);
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT group_concat(k || ':' || ifnull(v, 'NULL'), ' ') FROM list"
        ),
        r#"1:x,] 2:NULL "three":NULL"#
    );
    let c = rusqlite::Connection::open(&dst).unwrap();
    let mut stmt = c
        .prepare("SELECT name, type FROM pragma_table_info('events') ORDER BY cid")
        .unwrap();
    let cols: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}:{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        cols,
        [
            "id:INTEGER",
            "name:TEXT",
            "score:REAL",
            "ok:BOOLEAN",
            "tags:TEXT",
            "v:TEXT",
            "extra:TEXT"
        ]
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT tags FROM events WHERE id = 2"),
        r#"{"k":1.50}"#
    );
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT typeof(score) || score FROM events WHERE id = 2"
        ),
        "real2.0"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT ok FROM events WHERE id = 1"),
        "1"
    );
}

#[test]
fn an_existing_json_table_is_refused_unless_if_exists_drop() {
    let dir = tempdir();
    let (src, to) = export_shop(dir.path(), 20);
    let from = format!("sqlite:{}", src.display());
    let again = migrate(&from, &to, &[]);
    assert_eq!(again.status.code(), Some(1));
    let error = report(&again)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("already has a table"), "{error}");
    assert!(error.contains("--if-exists drop"), "{error}");
    let replaced = migrate(&from, &to, &["--if-exists", "drop"]);
    assert_eq!(replaced.status.code(), Some(0), "{}", stderr(&replaced));
    // Truncated and rewritten, not appended to.
    assert_eq!(lines(&dir.path().join("export/users.jsonl")).len(), 20);
    assert_eq!(lines(&dir.path().join("export/orders.jsonl")).len(), 40);
}

#[test]
fn a_json_target_keeps_rejects_in_its_quarantine_file() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 20);
    // Dirty source data: text in an INTEGER column is rejected at read.
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch("UPDATE users SET age = 'old' WHERE id IN (4, 5)")
        .unwrap();
    drop(c);
    let out_dir = dir.path().join("q");
    let to = format!("json:{}", out_dir.display());
    let from = format!("sqlite:{}", src.display());
    let out = migrate(&from, &to, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    let run_id = r["run_id"].as_str().unwrap().to_string();
    assert_eq!(table_report(&r, "users")["rows_written"], 18);
    assert_eq!(lines(&out_dir.join("users.jsonl")).len(), 18);
    let q = lines(&out_dir.join("_ferry_rejects.jsonl"));
    assert_eq!(q.len(), 6);
    assert_eq!(q[0]["run_id"], run_id.as_str());
    assert_eq!(q[0]["table"], "users");
    assert_eq!(q[0]["source_key"], "4");
    assert_eq!(q[0]["stage"], "read");
    assert_eq!(q[0]["column"], "age");
    assert_eq!(q[0]["code"], "type-mismatch");
    assert_eq!(q[0]["row"]["age"], "old");
    assert!(q[0]["reason"].as_str().unwrap().contains("old"));
    // The orders of the two rejected users point at missing rows: finish
    // moves them to the quarantine file, as a database sink would.
    let orders = table_report(&r, "orders");
    assert_eq!(orders["rows_written"], 36);
    assert_eq!(orders["rows_rejected"], 4);
    assert_eq!(lines(&out_dir.join("orders.jsonl")).len(), 36);
    let orphans: Vec<_> = q.iter().filter(|x| x["code"] == "fk-orphan").collect();
    assert_eq!(orphans.len(), 4);
    assert_eq!(orphans[0]["table"], "orders");
    assert_eq!(orphans[0]["stage"], "write");
    assert_eq!(orphans[0]["column"], "user_id");
    assert_eq!(orphans[0]["source_key"], "3");
    assert_eq!(orphans[0]["row"]["user_id"], 4);
    assert!(
        orphans[0]["reason"]
            .as_str()
            .unwrap()
            .contains("fk_orders_0")
    );
    // Replacing the tables drops the quarantine records of the replaced data.
    let again = migrate(&from, &to, &["--if-exists", "drop"]);
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    let run2 = report(&again)["run_id"].as_str().unwrap().to_string();
    let q = lines(&out_dir.join("_ferry_rejects.jsonl"));
    assert_eq!(q.len(), 6);
    assert!(q.iter().all(|x| x["run_id"] == run2.as_str()));
    // The directory reads back as a source: only the data tables, not the
    // quarantine file.
    let back = dir.path().join("back.db");
    let out = migrate(&to, &format!("sqlite:{}", back.display()), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["tables"].as_array().unwrap().len(), 2);
    assert_eq!(sqlite_scalar(&back, "SELECT count(*) FROM users"), "18");
}

#[test]
fn a_table_name_that_is_not_a_file_name_is_refused() {
    let dir = tempdir();
    let src = dir.path().join("s.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch("CREATE TABLE \"a/b\" (x INTEGER); INSERT INTO \"a/b\" VALUES (1);")
        .unwrap();
    drop(c);
    let out = migrate(
        &format!("sqlite:{}", src.display()),
        &format!("json:{}", dir.path().join("o").display()),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let error = report(&out)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains("path separator"), "{error}");
    assert!(!dir.path().join("o/a").exists());
}

#[test]
fn a_json_null_document_is_a_write_reject_not_a_null() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 5);
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch("UPDATE users SET meta = 'null' WHERE id = 2")
        .unwrap();
    drop(c);
    let out_dir = dir.path().join("q");
    let out = migrate(
        &format!("sqlite:{}", src.display()),
        &format!("json:{}", out_dir.display()),
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let users = table_report(&report(&out), "users");
    assert_eq!(users["rows_written"], 4);
    assert_eq!(users["rows_rejected"], 1);
    assert_eq!(lines(&out_dir.join("users.jsonl")).len(), 4);
    // The rejected user's two orders are then orphans, moved by finish.
    let q = lines(&out_dir.join("_ferry_rejects.jsonl"));
    assert_eq!(q.len(), 3);
    assert_eq!(q.iter().filter(|x| x["code"] == "fk-orphan").count(), 2);
    assert_eq!(q[0]["stage"], "write");
    assert_eq!(q[0]["code"], "unrepresentable");
    assert_eq!(q[0]["column"], "meta");
    assert_eq!(q[0]["source_key"], "2");
    assert_eq!(q[0]["row"]["meta"], "null");
}

#[test]
fn duplicate_keys_in_a_json_target_are_moved_to_the_quarantine_file() {
    let dir = tempdir();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("_schema.json"), PEOPLE_SCHEMA).unwrap();
    std::fs::write(
        src.join("people.jsonl"),
        "{\"id\":1,\"name\":\"A\"}\n{\"id\":2,\"name\":\"B\"}\n{\"id\":1,\"name\":\"A\"}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = migrate(
        &format!("json:{}", src.display()),
        &format!("json:{}", out_dir.display()),
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let t = table_report(&report(&out), "people");
    assert_eq!(t["rows_written"], 2);
    assert_eq!(t["rows_rejected"], 1);
    let kept = lines(&out_dir.join("people.jsonl"));
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0]["id"], 1);
    assert_eq!(kept[1]["id"], 2);
    let q = lines(&out_dir.join("_ferry_rejects.jsonl"));
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["code"], "duplicate-key");
    assert_eq!(q[0]["column"], "id");
    assert_eq!(q[0]["source_key"], "1");
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("primary key of `people`"),
        "{}",
        q[0]["reason"]
    );
}

#[test]
fn postgres_to_json_to_postgres_keeps_temporal_uuid_and_numeric_values_exactly() {
    let dir = tempdir();
    let a = PgDb::new("json_src");
    a.query(
        r#"CREATE TABLE ev (
            id bigint PRIMARY KEY, day date, at time, ts timestamp, tz timestamptz,
            uid uuid, amount numeric(30,10), score double precision, doc jsonb,
            blob bytea, flag boolean);
        INSERT INTO ev VALUES
          (1, '1969-07-20', '13:45:00.5', '1999-12-31 23:59:59.999999',
           '2024-02-29 13:45:00.123456+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
           12345678901234567890.0123456789, 1e308, '{"b": null, "a": [1, 2.50]}',
           '\x00ff10', true),
          (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"#,
    );
    let out_dir = dir.path().join("ev");
    let json = format!("json:{}", out_dir.display());
    let out = migrate(&a.url, &json, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = lines(&out_dir.join("ev.jsonl"));
    assert_eq!(
        rows[0],
        serde_json::json!({
            "id": 1, "day": "1969-07-20", "at": "13:45:00.500000",
            "ts": "1999-12-31 23:59:59.999999", "tz": "2024-02-29T11:45:00.123456Z",
            "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "amount": "12345678901234567890.0123456789", "score": 1e308,
            "doc": {"a": [1, 2.50], "b": null}, "blob": "AP8Q", "flag": true
        })
    );
    let b = PgDb::new("json_dst");
    let out = migrate(&json, &b.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let q = "SELECT id, day::text, at::text, ts::text, tz::text, uid::text, amount::text, \
             score::text, doc::text, encode(blob, 'hex'), flag::text FROM ev ORDER BY id";
    assert_eq!(b.query(q), a.query(q));
    assert_eq!(
        b.scalar(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'ev'::regclass AND contype = 'p'"
        ),
        "1"
    );
}

const ORDERS_SCHEMA: &str = r#"{"format":"ferry-json","version":1,"tables":[{"name":"orders",
 "columns":[
  {"name":"id","declared_type":"","logical_type":"int64","nullable":false},
  {"name":"customer","declared_type":"","logical_type":"text","nullable":false},
  {"name":"items","declared_type":"","logical_type":"json","nullable":true}],
 "primary_key":["id"],"unique":[],"indexes":[],"foreign_keys":[]}]}"#;

/// Orders holding `items` arrays: two good rows, an empty array, a null,
/// and two rows that are not arrays of objects.
const ORDERS: &[&str] = &[
    r#"{"id":1,"customer":"ann","items":[{"sku":"a-1","qty":2,"price":9.5},{"price":0.1,"note":"gift","sku":"b-2","qty":1}]}"#,
    r#"{"id":2,"customer":"bob","items":[{"sku":"c-3","qty":10,"price":3.25,"tags":["x",{"y":1.50}]}]}"#,
    r#"{"id":3,"customer":"cy","items":[]}"#,
    r#"{"id":4,"customer":"dee","items":null}"#,
    r#"{"id":5,"customer":"eve","items":"not an array"}"#,
    r#"{"id":6,"customer":"fay","items":[{"sku":"d-4"},7]}"#,
];

#[test]
fn normalise_splits_nested_arrays_into_a_child_table_and_nest_folds_them_back() {
    let dir = tempdir();
    let src = dir.path().join("in");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("_schema.json"), ORDERS_SCHEMA).unwrap();
    std::fs::write(src.join("orders.jsonl"), ORDERS.join("\n") + "\n").unwrap();

    // JSON → PostgreSQL: `items` becomes the child table `orders__items`.
    let db = PgDb::new("json_norm");
    let from = format!("json:{}?normalise=orders.items", src.display());
    let out = migrate(&from, &db.url, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["verify"]["ok"], true, "{r}");
    let t = table_report(&r, "orders");
    assert_eq!(
        (t["rows_written"].clone(), t["rows_rejected"].clone()),
        (4.into(), 2.into())
    );
    assert_eq!(table_report(&r, "orders__items")["rows_written"], 3);
    assert_eq!(
        db.query(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_name = 'orders__items' ORDER BY ordinal_position"
        ),
        [
            ["orders_id", "bigint", "NO"],
            ["ordinal", "bigint", "NO"],
            ["sku", "text", "YES"],
            ["qty", "bigint", "YES"],
            ["price", "double precision", "YES"],
            ["note", "text", "YES"],
            ["tags", "jsonb", "YES"],
        ]
    );
    assert_eq!(
        db.query(
            "SELECT column_name FROM information_schema.columns \
             WHERE table_name = 'orders' ORDER BY ordinal_position"
        ),
        [["id"], ["customer"]]
    );
    assert_eq!(
        db.query(
            "SELECT orders_id, ordinal, sku, qty, price::text, note, tags::text \
             FROM orders__items ORDER BY 1, 2"
        ),
        [
            ["1", "0", "a-1", "2", "9.5", "NULL", "NULL"],
            ["1", "1", "b-2", "1", "0.1", "gift", "NULL"],
            [
                "2",
                "0",
                "c-3",
                "10",
                "3.25",
                "NULL",
                r#"["x", {"y": 1.50}]"#
            ],
        ]
    );
    // The foreign key (ON DELETE CASCADE) and the primary key (parent key, ordinal).
    assert_eq!(
        db.query(
            "SELECT confrelid::regclass::text, confdeltype, a.attname FROM pg_constraint c \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) \
             WHERE conrelid = 'orders__items'::regclass AND contype = 'f'"
        ),
        [["orders", "c", "orders_id"]]
    );
    assert_eq!(
        db.scalar(
            "SELECT string_agg(attname, ',' ORDER BY array_position(c.conkey, attnum)) \
             FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid \
             AND a.attnum = ANY(c.conkey) WHERE conrelid = 'orders__items'::regclass \
             AND contype = 'p'"
        ),
        "orders_id,ordinal"
    );
    // Rows whose `items` is not an array of objects are rejected whole
    // (with their `items`), and give no child rows.
    let rej = db.query(
        "SELECT source_key, column_name, code, reason, row_data::jsonb->>'items' \
         FROM _ferry_rejects ORDER BY source_key",
    );
    assert_eq!(rej.len(), 2, "{rej:?}");
    assert_eq!(rej[0][..3], ["5", "items", "not-normalisable"]);
    assert!(
        rej[0][3].starts_with("line 5: column `items` holds a string"),
        "{}",
        rej[0][3]
    );
    assert_eq!(rej[0][4], "not an array");
    assert_eq!(rej[1][..3], ["6", "items", "not-normalisable"]);
    assert!(rej[1][3].contains("element 1 is a number"), "{}", rej[1][3]);
    assert_eq!(rej[1][4], r#"[{"sku": "d-4"}, 7]"#);

    // PostgreSQL → JSON with `nest=`: the original document shape, one
    // parent line each; a null array comes back as `[]`.
    let out_dir = dir.path().join("out");
    let to = format!("json:{}?nest=orders__items", out_dir.display());
    let out = migrate(&db.url, &to, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["verify"]["ok"], true, "{r}");
    let got = lines(&out_dir.join("orders.jsonl"));
    let mut want: Vec<serde_json::Value> = ORDERS[..4]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    want[3]["items"] = serde_json::json!([]);
    assert_eq!(got, want);
    // Keys in column order, the child's columns without its key and ordinal.
    let first = std::fs::read_to_string(out_dir.join("orders.jsonl")).unwrap();
    assert!(
        first.starts_with(
            r#"{"id":1,"customer":"ann","items":[{"sku":"a-1","qty":2,"price":9.5},{"sku":"b-2","qty":1,"price":0.1,"note":"gift"}]}"#
        ),
        "{first}"
    );
    assert!(!out_dir.join("orders__items.jsonl").exists());
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("_schema.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders"]);
    assert_eq!(schema["tables"][0]["columns"][2]["name"], "items");
    assert_eq!(schema["nested"][0]["table"]["name"], "orders__items");

    // The nested directory normalises again with the recorded child types.
    let db2 = PgDb::new("json_norm2");
    let from = format!("json:{}?normalise=orders.items", out_dir.display());
    let out = migrate(&from, &db2.url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let q = "SELECT orders_id, ordinal, sku, qty, price::text, note, tags::text \
             FROM orders__items ORDER BY 1, 2";
    assert_eq!(db2.query(q), db.query(q));
}
