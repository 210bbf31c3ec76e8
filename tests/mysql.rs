//! MySQL/MariaDB as a target and as a source, against a real MariaDB.

use crate::util::*;

fn table<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in report"))
}

#[test]
fn sqlite_to_mariadb_keeps_every_row_value_key_and_fk() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 1200);
    let db = MyDb::new("my_shop");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--batch-size",
        "500",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(table(&r, "users")["rows_written"], 1200);
    assert_eq!(table(&r, "orders")["rows_written"], 2400);
    assert_eq!(db.count("users"), 1200);
    assert_eq!(db.count("orders"), 2400);

    // Exact values: REAL, NUMERIC, BOOLEAN, BLOB, JSON, NULLs.
    let row = db.query(
        "SELECT name, email, age, balance, price, active, HEX(avatar), meta FROM users WHERE id = 3",
    );
    assert_eq!(
        row[0],
        [
            "User 3",
            "user3@example.com",
            "23",
            "3.85",
            "3.03",
            "1",
            "0300FF",
            r#"{"n":3,"tags":["a","b"]}"#
        ]
    );
    assert_eq!(
        db.query("SELECT email, age FROM users WHERE id = 70")[0],
        ["NULL", "NULL"]
    );
    assert_eq!(
        db.scalar("SELECT total FROM orders WHERE id = 1"),
        "0.3333333333333333"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM users WHERE active = 1"),
        "600"
    );

    // Types follow the documented mapping.
    let types = db.query(&format!(
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'users' ORDER BY ORDINAL_POSITION",
        db.name
    ));
    let ty = |c: &str| types.iter().find(|r| r[0] == c).unwrap()[1].clone();
    assert_eq!(ty("id"), "bigint(20)");
    assert_eq!(ty("name"), "longtext");
    assert_eq!(ty("email"), "varchar(768)");
    assert_eq!(ty("balance"), "double");
    assert_eq!(ty("price"), "decimal(10,2)");
    assert_eq!(ty("active"), "tinyint(1)");
    assert_eq!(ty("avatar"), "longblob");
    assert_eq!(ty("meta"), "longtext"); // MariaDB's JSON, with its json_valid check

    // Keys, the unique email, the index and the FK (with its action) exist.
    let cons = db.query(&format!(
        "SELECT TABLE_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS \
         WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME IN ('users', 'orders') \
         AND CONSTRAINT_TYPE <> 'CHECK' ORDER BY 1, 2",
        db.name
    ));
    assert_eq!(
        cons,
        [
            ["orders", "FOREIGN KEY"],
            ["orders", "PRIMARY KEY"],
            ["users", "PRIMARY KEY"],
            ["users", "UNIQUE"]
        ]
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'orders' AND INDEX_NAME = 'orders_user'",
            db.name
        )),
        "1"
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = '{}' AND TABLE_NAME = 'orders'",
            db.name
        )),
        "CASCADE"
    );
    // ISO text with a zone, promoted to timestamptz: a UTC DATETIME(6)
    // marked so that ferry reads it back as timestamptz.
    assert_eq!(
        db.query(&format!(
            "SELECT COLUMN_TYPE, COLUMN_COMMENT FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'placed_at'",
            db.name
        ))[0],
        ["datetime(6)", "ferry:timestamptz"]
    );
    assert_eq!(
        db.scalar("SELECT placed_at FROM orders WHERE id = 1"),
        "2024-01-02 10:00:00.000000"
    );
    // The FK is enforced: deleting a user cascades to its orders.
    db.query("DELETE FROM users WHERE id = 5");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM orders WHERE user_id = 5"),
        "0"
    );
}

/// A MariaDB database with every mapped type, a composite key and a
/// cascading foreign key.
fn typed_mariadb() -> MyDb {
    let db = MyDb::new("my_types");
    db.query(
        "CREATE TABLE parent (
            a INT NOT NULL, b VARCHAR(10) NOT NULL, label TEXT,
            PRIMARY KEY (a, b)
         ) DEFAULT CHARSET=utf8mb4;
         CREATE TABLE item (
            id BIGINT PRIMARY KEY,
            flag TINYINT(1),
            small SMALLINT,
            big_u BIGINT UNSIGNED,
            price DECIMAL(20,6),
            ratio DOUBLE,
            f FLOAT,
            name VARCHAR(40),
            body TEXT,
            raw BINARY(4),
            blobby BLOB,
            doc JSON,
            day DATE,
            clock TIME(6),
            local_ts DATETIME(6),
            utc_ts TIMESTAMP(6) NULL,
            uid UUID,
            pa INT, pb VARCHAR(10),
            UNIQUE KEY item_name (name),
            KEY item_day (day),
            CONSTRAINT item_parent FOREIGN KEY (pa, pb) REFERENCES parent (a, b) ON DELETE CASCADE
         ) DEFAULT CHARSET=utf8mb4;
         SET time_zone = '+00:00';
         INSERT INTO parent VALUES (1, 'x', 'first'), (2, 'y', NULL);
         INSERT INTO item VALUES
          (1, 1, -7, 18446744073709551615, 12345678901234.123456, 0.1, 1.5, 'Ünïcode ☃', 'multi\nline \\\\ quote''s',
           X'00FF10AB', X'DEADBEEF', '{\"k\": [1, 2.50, null]}', '2024-02-29', '23:59:59.999999',
           '1999-12-31 23:59:59.123456', '2038-01-19 03:14:07.000001', '123e4567-e89b-12d3-a456-426614174000', 1, 'x'),
          (2, 0, NULL, 0, -0.000001, -2.5e-300, NULL, 'second', '', NULL, X'', 'true', '1000-01-01', '00:00:00',
           '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', NULL, 2, 'y'),
          (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    );
    db
}

#[test]
fn mariadb_to_postgres_carries_every_type_exactly() {
    let my = typed_mariadb();
    let pg = PgDb::new("from_my");
    let out = ferry(&["migrate", "--from", &my.url, "--to", &pg.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(pg.count("item"), 3);
    assert_eq!(pg.count("parent"), 2);
    let row = pg.query(
        "SELECT flag::text, small::text, big_u::text, price::text, ratio::text, f::text, name, body, \
         encode(raw, 'hex'), encode(blobby, 'hex'), doc::text, day::text, clock::text, local_ts::text, \
         to_char(utc_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), uid::text, pa::text, pb \
         FROM item WHERE id = 1",
    );
    assert_eq!(
        row[0],
        [
            "true",
            "-7",
            "18446744073709551615",
            "12345678901234.123456",
            "0.1",
            "1.5",
            "Ünïcode ☃",
            "multi\nline \\ quote's",
            "00ff10ab",
            "deadbeef",
            r#"{"k": [1, 2.50, null]}"#,
            "2024-02-29",
            "23:59:59.999999",
            "1999-12-31 23:59:59.123456",
            "2038-01-19 03:14:07.000001",
            "123e4567-e89b-12d3-a456-426614174000",
            "1",
            "x"
        ]
    );
    let row2 = pg.query(
        "SELECT flag::text, big_u::text, price::text, ratio::text, body, encode(blobby, 'hex'), doc::text, \
         day::text, local_ts::text, to_char(utc_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM item WHERE id = 2",
    );
    assert_eq!(
        row2[0],
        [
            "false",
            "0",
            "-0.000001",
            "-2.5e-300",
            "",
            "",
            "true",
            "1000-01-01",
            "9999-12-31 23:59:59.999999",
            "1970-01-01 00:00:01"
        ]
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM item WHERE id = 3 AND flag IS NULL AND doc IS NULL AND uid IS NULL"),
        "1"
    );
    // Types: tinyint(1) → boolean, bigint unsigned → numeric, TIMESTAMP → timestamptz.
    let types = pg.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'item'",
    );
    let ty = |c: &str| types.iter().find(|r| r[0] == c).unwrap()[1].clone();
    assert_eq!(ty("flag"), "boolean");
    assert_eq!(ty("big_u"), "numeric");
    // MySQL's FLOAT is 4 bytes: PostgreSQL's real (ferry-mapping-3).
    assert_eq!(ty("f"), "real");
    assert_eq!(ty("doc"), "jsonb");
    assert_eq!(ty("utc_ts"), "timestamp with time zone");
    assert_eq!(ty("local_ts"), "timestamp without time zone");
    assert_eq!(ty("clock"), "time without time zone");
    assert_eq!(ty("uid"), "uuid");
    // Composite PK, unique, index and the cascading composite FK came along.
    let cons = pg.query(
        "SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text IN ('item', 'parent') ORDER BY 1, 2",
    );
    let defs: Vec<String> = cons.iter().map(|r| r.join(" ")).collect();
    assert!(
        defs.iter().any(
            |d| d.contains("FOREIGN KEY (pa, pb) REFERENCES parent(a, b)")
                && d.contains("ON DELETE CASCADE")
        ),
        "{defs:?}"
    );
    assert!(
        defs.iter().any(|d| d == "parent p PRIMARY KEY (a, b)"),
        "{defs:?}"
    );
    assert!(defs.iter().any(|d| d.contains("UNIQUE (name)")), "{defs:?}");
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'item_day'"),
        "1"
    );
}

#[test]
fn mariadb_to_sqlite_carries_values_and_rejects_dirty_ones_at_read() {
    let my = typed_mariadb();
    // Dirty data a typed database can still hold: a zero date, a TIME
    // beyond 24 hours, a tinyint(1) that is not a boolean.
    my.query(
        "CREATE TABLE dirty (id INT PRIMARY KEY, d DATE, t TIME, b TINYINT(1));
         SET SESSION sql_mode = '';
         INSERT INTO dirty VALUES (1, '2024-01-02', '10:00:00', 1), (2, '0000-00-00', '10:00:00', 0),
                                  (3, '2024-01-02', '30:00:00', 0), (4, '2024-01-02', '10:00:00', 7);",
    );
    let dir = tempdir();
    let dst = dir.path().join("out.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &my.url,
        "--to",
        &format!("sqlite:{}", dst.display()),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(table(&r, "dirty")["rows_rejected"], 3);
    // SQLite's NUMERIC keeps at most a 64-bit integer or a double: the
    // SQLite sink refuses the unsigned 2^64 − 1 rather than round it.
    assert_eq!(table(&r, "item")["rows_written"], 2);
    let q = |sql: &str| sqlite_scalar(&dst, sql);
    assert_eq!(
        q("SELECT source_key || ':' || column_name FROM _ferry_rejects WHERE table_name = 'item'"),
        "1:big_u"
    );
    assert_eq!(q("SELECT count(*) FROM item"), "2");
    assert_eq!(q("SELECT name FROM item WHERE id = 2"), "second");
    assert_eq!(q("SELECT flag FROM item WHERE id = 2"), "0");
    assert_eq!(q("SELECT price FROM item WHERE id = 2"), "-0.000001");
    assert_eq!(q("SELECT hex(blobby) FROM item WHERE id = 2"), "");
    assert_eq!(q("SELECT doc FROM item WHERE id = 2"), "true");
    assert_eq!(q("SELECT label FROM parent WHERE a = 1"), "first");
    assert_eq!(q("SELECT count(*) FROM dirty"), "1");
    // Each dirty row is kept whole, with what was wrong.
    let reasons = q(
        "SELECT group_concat(source_key || ':' || column_name || ':' || code, ' ') FROM \
         (SELECT * FROM _ferry_rejects WHERE table_name = 'dirty' ORDER BY source_key)",
    );
    assert_eq!(
        reasons,
        "2:d:type-mismatch 3:t:type-mismatch 4:b:type-mismatch"
    );
    assert!(q("SELECT reason FROM _ferry_rejects WHERE source_key = '2'").contains("zero date"));
}

#[test]
fn mariadb_sink_rejects_inexact_decimals_and_overlong_keys_exit_3() {
    let dir = tempdir();
    let src = dir.path().join("dirty.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code VARCHAR(5) UNIQUE, amount NUMERIC(10,2), note TEXT);
         INSERT INTO t VALUES (1, 'ok', '1.50', 'a'), (2, 'toolong', '2.00', 'b'),
                              (3, 'fine', '1.234', 'c'), (4, 'Ok', '99999999.99', 'd' || char(0) || 'e'),
                              (5, 'ok ', '-0.01', NULL);",
    )
    .unwrap();
    drop(c);
    let db = MyDb::new("my_rejects");
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
    assert_eq!(table(&r, "t")["rows_written"], 3);
    assert_eq!(table(&r, "t")["rows_rejected"], 2);
    // The rest landed exactly; 'ok', 'Ok' and 'ok ' are distinct keys.
    assert_eq!(
        db.query("SELECT id, code, amount, HEX(note) FROM t ORDER BY id"),
        [
            ["1", "ok", "1.50", "61"],
            ["4", "Ok", "99999999.99", "640065"],
            ["5", "ok ", "-0.01", "NULL"]
        ]
    );
    let rej = db.query(
        "SELECT source_key, stage, column_name, code, reason, JSON_VALUE(row_data, '$.code') \
         FROM _ferry_rejects ORDER BY source_key",
    );
    assert_eq!(rej.len(), 2);
    assert_eq!(rej[0][..4], ["2", "write", "code", "too-long"]);
    assert!(rej[0][4].contains("VARCHAR(5)"), "{}", rej[0][4]);
    assert_eq!(rej[0][5], "toolong");
    assert_eq!(
        rej[1][..4],
        ["3", "write", "amount", "decimal-out-of-range"]
    );
    assert!(rej[1][4].contains("DECIMAL(10,2)"), "{}", rej[1][4]);
}

#[test]
fn mariadb_sink_moves_fk_orphans_to_rejects_and_enforces_the_key() {
    let dir = tempdir();
    let src = dir.path().join("orphans.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE p (id INTEGER PRIMARY KEY);
         CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id));
         INSERT INTO p VALUES (1), (2);
         INSERT INTO c VALUES (10, 1), (11, 3), (12, NULL), (13, 2), (14, 4);",
    )
    .unwrap();
    drop(c);
    let db = MyDb::new("my_orphans");
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
    assert_eq!(table(&r, "c")["rows_written"], 3);
    assert_eq!(table(&r, "c")["rows_rejected"], 2);
    assert_eq!(
        db.query("SELECT id FROM c ORDER BY id"),
        [["10"], ["12"], ["13"]]
    );
    let rej = db.query(
        "SELECT source_key, stage, column_name, code, JSON_VALUE(row_data, '$.p_id') FROM _ferry_rejects ORDER BY id",
    );
    assert_eq!(
        rej,
        [
            ["11", "write", "p_id", "fk-orphan", "3"],
            ["14", "write", "p_id", "fk-orphan", "4"]
        ]
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{}'",
            db.name
        )),
        "1"
    );
    // MariaDB → MariaDB verify-style accounting: the source sees its quarantine.
    let again = MyDb::new("my_orphans_copy");
    let out = ferry(&["migrate", "--from", &db.url, "--to", &again.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(again.count("c"), 3);
}

#[test]
fn mariadb_target_refuses_existing_tables_unless_dropped() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 50);
    let db = MyDb::new("my_exists");
    let from = format!("sqlite:{}", src.display());
    let first = ferry(&["migrate", "--from", &from, "--to", &db.url, "--json"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    db.query("INSERT INTO _ferry_rejects (run_id, table_name, stage, code, reason, row_data) VALUES ('old', 'users', 'write', 'x', 'y', '{}')");

    let again = ferry(&["migrate", "--from", &from, "--to", &db.url, "--json"]);
    assert_eq!(again.status.code(), Some(1));
    let err = report(&again)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("already has a table `users`"), "{err}");
    assert_eq!(db.count("users"), 50);

    let dropped = ferry(&[
        "migrate",
        "--from",
        &from,
        "--to",
        &db.url,
        "--if-exists",
        "drop",
        "--json",
    ]);
    assert_eq!(dropped.status.code(), Some(0), "{}", stderr(&dropped));
    assert_eq!(db.count("users"), 50);
    assert_eq!(db.count("orders"), 100);
    // The replaced table's old rejects went with it.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM _ferry_rejects WHERE table_name = 'users'"),
        "0"
    );
}

#[test]
fn mariadb_sink_moves_unique_duplicates_to_rejects_keeping_the_first_row() {
    // SQLite keeps integer 1 and text '1' apart in an untyped column; as
    // text they are the same key in MariaDB.
    let dir = tempdir();
    let src = dir.path().join("dups.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, k UNIQUE, note TEXT);
         INSERT INTO t VALUES (1, 1, 'first'), (2, '1', 'dup'), (3, 'x', 'other'), (4, NULL, 'n'), (5, NULL, 'n');",
    )
    .unwrap();
    drop(c);
    let db = MyDb::new("my_dups");
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
    assert_eq!(table(&r, "t")["rows_written"], 4);
    assert_eq!(table(&r, "t")["rows_rejected"], 1);
    assert_eq!(
        db.query("SELECT id, k FROM t ORDER BY id"),
        [["1", "1"], ["3", "x"], ["4", "NULL"], ["5", "NULL"]]
    );
    let rej = db.query(
        "SELECT source_key, column_name, code, JSON_VALUE(row_data, '$.note'), reason FROM _ferry_rejects",
    );
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0][..4], ["2", "k", "duplicate-key", "dup"]);
    assert!(rej[0][4].contains("[\"1\"]"), "{}", rej[0][4]);
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS \
             WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 't' AND CONSTRAINT_TYPE = 'UNIQUE'",
            db.name
        )),
        "1"
    );
}

#[test]
fn mariadb_reader_stops_when_the_receiver_is_dropped() {
    let db = MyDb::new("my_stop");
    db.query(
        "CREATE TABLE big (id INT PRIMARY KEY, pad TEXT);
         INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_20000;",
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url: ferry::endpoint::EndpointUrl = db.url.parse().unwrap();
        let source = ferry::endpoint::open_source(&url).await.unwrap();
        let tables = source.tables().await.unwrap();
        let big = tables.iter().find(|t| t.name == "big").unwrap().clone();
        assert_eq!(big.primary_key, ["id"]);
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = source
            .clone()
            .read(big.clone(), 100, ferry::endpoint::Scan::All, tx);
        let first = rx.recv().await.unwrap();
        assert_eq!(first.rows_read, 100);
        assert_eq!(first.batch.num_rows, 100);
        drop(rx);
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("the reader stops");
        done.unwrap().unwrap();
        // The killed query left the server usable: a new read sees every row.
        assert_eq!(source.count("big").await.unwrap(), 20000);
    });
    // No statement is still streaming the table.
    let running = db.scalar(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{}' AND ID <> CONNECTION_ID() AND INFO LIKE 'SELECT%big%'",
        db.name
    ));
    assert_eq!(running, "0");
}

#[test]
fn mariadb_to_mariadb_round_trips_every_type() {
    let my = typed_mariadb();
    let copy = MyDb::new("my_copy");
    let out = ferry(&["migrate", "--from", &my.url, "--to", &copy.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = "SELECT id, flag, small, big_u, price, ratio, f, name, body, HEX(raw), HEX(blobby), doc, day, \
               clock, local_ts, utc_ts, uid, pa, pb FROM item ORDER BY id";
    // The same session time zone on both sides: TIMESTAMP is shown in UTC.
    let utc = |db: &MyDb| db.query(&format!("SET time_zone = '+00:00'; {all}"));
    let (a, b) = (utc(&my), utc(&copy));
    assert_eq!(a.len(), 3);
    // FLOAT widened to DOUBLE shows the same value; everything else is identical.
    assert_eq!(a, b);
    let types = copy.query(&format!(
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'item'",
        copy.name
    ));
    let ty = |c: &str| types.iter().find(|r| r[0] == c).unwrap()[1].clone();
    assert_eq!(ty("big_u"), "decimal(20,0)");
    assert_eq!(ty("price"), "decimal(20,6)");
    assert_eq!(ty("name"), "varchar(40)");
    assert_eq!(ty("pb"), "varchar(10)");
    assert_eq!(ty("clock"), "time(6)");
    assert_eq!(ty("utc_ts"), "datetime(6)");
    assert_eq!(ty("uid"), "uuid");
    assert_eq!(ty("doc"), "longtext");
    assert_eq!(
        copy.scalar(&format!(
            "SELECT DELETE_RULE FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{}'",
            copy.name
        )),
        "CASCADE"
    );
}

#[test]
fn names_longer_than_the_target_allows_are_renamed_visibly_by_the_plan() {
    let dir = tempdir();
    let src = dir.path().join("long.db");
    let long = "c".repeat(65);
    let long_table = format!("t_{}", "x".repeat(70));
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute_batch(&format!(
        "CREATE TABLE ok (id INTEGER PRIMARY KEY);
         CREATE TABLE {long_table} (id INTEGER PRIMARY KEY, {long} TEXT, ok_id INTEGER REFERENCES ok(id));
         INSERT INTO ok VALUES (1); INSERT INTO {long_table} VALUES (1, 'v', 1);"
    ))
    .unwrap();
    drop(c);
    let from = format!("sqlite:{}", src.display());
    let my = MyDb::new("my_long");
    let pg = PgDb::new("pg_long");
    for (to, max) in [(my.url.as_str(), 64), (pg.url.as_str(), 63)] {
        // The plan says what is renamed and to what.
        let plan = ferry(&["plan", "--from", &from, "--to", to, "--json"]);
        assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
        let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let renames: Vec<String> = plan["risks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "identifier-renamed")
            .map(|r| r["detail"].as_str().unwrap().to_string())
            .collect();
        // The table, the column, and the foreign key's name built from the table's.
        assert_eq!(renames.len(), 3, "{renames:?}");
        let table = plan["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == long_table.as_str())
            .unwrap();
        let new_table = table["target_name"].as_str().unwrap().to_string();
        let new_col = table["columns"][1]["name"].as_str().unwrap().to_string();
        assert!(
            new_table.len() <= max && new_col.len() <= max,
            "{new_table} {new_col}"
        );
        assert!(new_table.starts_with("t_xxx") && new_col.starts_with("ccc"));
        // The run uses those names, keeps the foreign key, and verifies.
        let out = ferry(&["migrate", "--from", &from, "--to", to, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(report(&out)["verify"]["ok"], true);
        if to == my.url {
            assert_eq!(
                my.scalar(&format!("SELECT `{new_col}` FROM `{new_table}`")),
                "v"
            );
        } else {
            assert_eq!(
                pg.scalar(&format!("SELECT \"{new_col}\" FROM \"{new_table}\"")),
                "v"
            );
        }
    }
}
