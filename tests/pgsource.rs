//! PostgreSQL as a source: every mapped type lands exactly in SQLite and in
//! another PostgreSQL database, with keys, the FK's actions, the unique
//! constraint and the index; values a logical type cannot hold (numeric NaN,
//! ±Infinity, infinite timestamps) are quarantined with exit 3; and SQLite →
//! PostgreSQL → SQLite gives back the same values.

use std::path::Path;

use rusqlite::types::Value;

use crate::util::*;

/// A database with every mapped type, a composite PK, a FK with ON DELETE
/// CASCADE, a unique constraint, a plain index and an expression index
/// (which is skipped with a warning).
const DDL: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE customers (
    region text NOT NULL,
    id integer NOT NULL,
    name varchar(40) NOT NULL,
    code char(5),
    email text,
    PRIMARY KEY (region, id),
    CONSTRAINT customers_email_key UNIQUE (email)
);
CREATE TABLE items (
    id bigint PRIMARY KEY,
    region text,
    customer_id integer,
    small smallint,
    price numeric(20,6),
    ratio real,
    score double precision,
    flag boolean,
    placed timestamptz,
    local_ts timestamp,
    day date,
    at time,
    blob bytea,
    doc jsonb,
    uid uuid,
    feeling mood,
    addr inet,
    tags integer[],
    precise timestamp(3) with time zone,
    CONSTRAINT items_customer_fk FOREIGN KEY (region, customer_id)
        REFERENCES customers (region, id) ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE INDEX items_placed ON items (placed);
CREATE INDEX items_lower_region ON items (lower(region));
INSERT INTO customers VALUES
    ('eu', 7, 'Ada', 'ab', 'ada@example.com'),
    ('us', 7, 'Grace', NULL, NULL);
INSERT INTO items VALUES
    (1, 'eu', 7, -32768, 12345678.123456, 0.1, 1e308, true,
     '2024-02-29 13:45:00.123456+02', '1999-12-31 23:59:59.999999', '1969-07-20', '24:00:00',
     '\x00ff10', '{"b": null, "a": [1, 2.50]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
     'happy', '192.168.0.1/24', '{1,2,3}', '2024-01-01 00:00:00.123+00'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL),
    (3, 'us', 7, 32767, -1.5, -3.4e38, -0.0, false,
     '0001-01-01 00:00:00+00', '2262-04-11 23:47:16.854775', '9999-12-31', '13:45:00.5',
     '\x', '"text"', '00000000-0000-0000-0000-000000000000', 'sad', '::1', '{}', NULL);
"#;

fn source_db(label: &str) -> PgDb {
    let db = PgDb::new(label);
    db.query(DDL);
    db
}

fn sqlite_rows(path: &Path, sql: &str) -> Vec<Vec<Value>> {
    let c = rusqlite::Connection::open(path).expect("open");
    let mut stmt = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .and_then(|rows| rows.collect())
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn table<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in {r}"))
}

#[test]
fn postgres_to_sqlite_carries_every_mapped_type_exactly() {
    let src = source_db("pgsrc_sqlite");
    let dir = tempdir();
    let dst = dir.path().join("out.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &src.url,
        "--to",
        &format!("sqlite:{}", dst.display()),
        "--batch-size",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(table(&r, "items")["rows_written"], 3);
    assert_eq!(table(&r, "customers")["rows_written"], 2);

    // Declared types are PostgreSQL's own (`format_type`) where SQLite reads
    // them as the same type.
    let declared: Vec<Vec<Value>> = sqlite_rows(
        &dst,
        "SELECT name, type FROM pragma_table_info('items') ORDER BY cid",
    );
    let ty = |c: &str| {
        declared
            .iter()
            .find(|r| r[0] == Value::Text(c.into()))
            .map(|r| r[1].clone())
            .unwrap()
    };
    assert_eq!(ty("price"), Value::Text("numeric(20,6)".into()));
    assert_eq!(ty("small"), Value::Text("smallint".into()));
    assert_eq!(ty("placed"), Value::Text("TIMESTAMPTZ".into()));
    // Types SQLite cannot parse or would read as another type get the
    // mapping's own.
    assert_eq!(ty("feeling"), Value::Text("TEXT".into()));
    assert_eq!(ty("tags"), Value::Text("TEXT".into()));
    assert_eq!(ty("precise"), Value::Text("TIMESTAMPTZ".into()));

    // Every value, compared with what PostgreSQL itself says about it.
    let row = &sqlite_rows(&dst, "SELECT * FROM items WHERE id = 1")[0];
    assert_eq!(row[1], Value::Text("eu".into()));
    assert_eq!(row[2], Value::Integer(7));
    assert_eq!(row[3], Value::Integer(-32768));
    assert_eq!(row[4], Value::Real(12345678.123456));
    assert_eq!(row[5], Value::Real(0.1f32 as f64), "real widens exactly");
    assert_eq!(row[6], Value::Real(1e308));
    assert_eq!(row[7], Value::Integer(1));
    // Dates and times as the shared ISO text; timestamptz in UTC.
    assert_eq!(row[8], Value::Text("2024-02-29T11:45:00.123456Z".into()));
    assert_eq!(row[9], Value::Text("1999-12-31 23:59:59.999999".into()));
    assert_eq!(row[10], Value::Text("1969-07-20".into()));
    assert_eq!(
        row[11],
        Value::Text("24:00:00".into()),
        "the end of the day"
    );
    assert_eq!(row[12], Value::Blob(vec![0, 0xff, 0x10]));
    assert_eq!(
        row[13],
        Value::Text(r#"{"a": [1, 2.50], "b": null}"#.into())
    );
    assert_eq!(
        row[14],
        Value::Blob(hex::decode("a0eebc999c0b4ef8bb6d6bb9bd380a11").unwrap())
    );
    assert_eq!(row[15], Value::Text("happy".into()));
    assert_eq!(row[16], Value::Text("192.168.0.1/24".into()));
    assert_eq!(row[17], Value::Text("{1,2,3}".into()));
    assert_eq!(row[18], Value::Text("2024-01-01T00:00:00.123000Z".into()));
    // A NULL stays NULL in every column.
    let nulls = &sqlite_rows(&dst, "SELECT * FROM items WHERE id = 2")[0];
    assert!(nulls[1..].iter().all(|v| *v == Value::Null), "{nulls:?}");
    let row3 = &sqlite_rows(
        &dst,
        "SELECT ratio, score, blob, day FROM items WHERE id = 3",
    )[0];
    assert_eq!(row3[0], Value::Real(-3.4e38f32 as f64));
    assert_eq!(row3[2], Value::Blob(vec![]));
    assert_eq!(row3[3], Value::Text("9999-12-31".into()));
    let early = sqlite_scalar(&dst, "SELECT placed FROM items WHERE id = 3");
    assert_eq!(early, "0001-01-01T00:00:00Z");
    assert_eq!(
        sqlite_scalar(&dst, "SELECT at FROM items WHERE id = 3"),
        "13:45:00.500000"
    );
    // bpchar keeps its padding.
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT code FROM customers WHERE id = 7 AND region = 'eu'"
        ),
        "ab   "
    );
    // Keys in key order, the unique constraint, the plain index; not the
    // expression index.
    let pk: Vec<Vec<Value>> = sqlite_rows(
        &dst,
        "SELECT name FROM pragma_table_info('customers') WHERE pk > 0 ORDER BY pk",
    );
    assert_eq!(
        pk,
        vec![
            vec![Value::Text("region".into())],
            vec![Value::Text("id".into())]
        ]
    );
    let idx = sqlite_rows(
        &dst,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    assert_eq!(
        idx,
        vec![
            vec![Value::Text("customers_email_key".into())],
            vec![Value::Text("items_placed".into())]
        ]
    );
    let fk = sqlite_rows(
        &dst,
        "SELECT \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list('items') ORDER BY seq",
    );
    assert_eq!(fk.len(), 2);
    assert_eq!(fk[0][0], Value::Text("customers".into()));
    assert_eq!(fk[0][1], Value::Text("region".into()));
    assert_eq!(fk[1][2], Value::Text("id".into()));
    assert_eq!(fk[0][3], Value::Text("RESTRICT".into()));
    assert_eq!(fk[0][4], Value::Text("CASCADE".into()));
}

#[test]
fn postgres_to_postgres_keeps_values_keys_and_fk_actions() {
    let src = source_db("pgsrc_a");
    let dst = PgDb::new("pgsrc_b");
    // More digits than a double holds: exact in PostgreSQL.
    src.query("UPDATE items SET price = 12345678901234.123456 WHERE id = 1");
    let out = ferry(&[
        "migrate",
        "--from",
        &src.url,
        "--to",
        &dst.url,
        "--batch-size",
        "2",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The same text for every value on both sides (declared types are kept,
    // `real` included: ferry-mapping-3).
    let cols = "id, region, customer_id, small, price::text, ratio::text, score, flag, \
                placed, local_ts, day, at, encode(blob, 'hex'), doc::text, uid, feeling::text, \
                addr::text, tags::text, precise";
    let q = format!("SELECT {cols} FROM items ORDER BY id");
    assert_eq!(src.query(&q), dst.query(&q));
    let q = "SELECT region, id, name, code, octet_length(code), email FROM customers ORDER BY 1, 2";
    assert_eq!(src.query(q), dst.query(q));
    assert_eq!(
        dst.scalar("SELECT code FROM customers WHERE email = 'ada@example.com'"),
        "ab   ",
        "bpchar padding kept"
    );
    assert_eq!(
        dst.scalar("SELECT price::text FROM items WHERE id = 3"),
        "-1.500000"
    );
    assert_eq!(
        dst.scalar("SELECT price::text FROM items WHERE id = 1"),
        "12345678901234.123456"
    );
    // The declared precision is kept where it is exact to do so.
    assert_eq!(
        dst.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'price'"),
        "numeric(20,6)"
    );

    // Keys, the unique constraint, the FK with its actions, the plain index.
    let cons = dst.query(
        "SELECT conname, contype, confdeltype, confupdtype, \
         array(SELECT attname FROM unnest(conkey) WITH ORDINALITY k(n, i) \
               JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.n ORDER BY k.i)::text \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text IN ('customers', 'items') \
         ORDER BY contype, conname",
    );
    let by_type =
        |t: &str| -> Vec<Vec<String>> { cons.iter().filter(|r| r[1] == t).cloned().collect() };
    let fks = by_type("f");
    assert_eq!(fks.len(), 1, "{cons:?}");
    assert_eq!(fks[0][0], "items_customer_fk");
    assert_eq!((fks[0][2].as_str(), fks[0][3].as_str()), ("c", "r"));
    assert_eq!(fks[0][4], "{region,customer_id}");
    let pks = by_type("p");
    assert!(pks.iter().any(|r| r[4] == "{region,id}"), "{pks:?}");
    assert!(by_type("u").iter().any(|r| r[0] == "customers_email_key"));
    let idx = dst.query("SELECT indexname FROM pg_indexes WHERE tablename = 'items' ORDER BY 1");
    let idx: Vec<&str> = idx.iter().map(|r| r[0].as_str()).collect();
    assert!(idx.contains(&"items_placed"), "{idx:?}");
    assert!(!idx.contains(&"items_lower_region"), "{idx:?}");
    // ON DELETE CASCADE works on the target.
    dst.query("DELETE FROM customers WHERE region = 'eu'");
    assert_eq!(dst.count("items"), 2);
}

#[test]
fn numeric_nan_and_infinite_values_are_quarantined_with_exit_3() {
    let src = PgDb::new("pgsrc_nan");
    src.query(
        "CREATE TABLE m (id int PRIMARY KEY, amount numeric, at timestamptz, d date);
         INSERT INTO m VALUES (1, 1.25, now(), '2024-01-01'), (2, 'NaN', now(), NULL),
           (3, '-Infinity', NULL, NULL), (4, 2, 'infinity', NULL), (5, NULL, NULL, '-infinity'),
           (6, 3, NULL, NULL), (7, 12345678901234.123456, NULL, NULL);",
    );
    let dir = tempdir();
    let dst = dir.path().join("out.db");
    let out = ferry(&[
        "migrate",
        "--from",
        &src.url,
        "--to",
        &format!("sqlite:{}", dst.display()),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["status"], "succeeded_with_rejects");
    let m = table(&r, "m");
    assert_eq!(m["rows_read"], 7);
    assert_eq!(m["rows_written"], 2);
    assert_eq!(m["rows_rejected"], 5);
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT group_concat(id) FROM (SELECT id FROM m ORDER BY id)"
        ),
        "1,6"
    );
    assert_eq!(
        sqlite_scalar(&dst, "SELECT amount FROM m WHERE id = 1"),
        "1.25"
    );
    let rej = sqlite_rows(
        &dst,
        "SELECT source_key, stage, column_name, code, reason, row_data FROM _ferry_rejects WHERE table_name = 'm' ORDER BY source_key",
    );
    assert_eq!(rej.len(), 5, "{rej:?}");
    let text = |v: &Value| match v {
        Value::Text(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    };
    assert_eq!(text(&rej[0][0]), "2");
    assert_eq!(text(&rej[0][1]), "read");
    assert_eq!(text(&rej[0][2]), "amount");
    assert!(text(&rej[0][4]).contains("NaN"), "{rej:?}");
    let row: serde_json::Value = serde_json::from_str(&text(&rej[0][5])).unwrap();
    assert_eq!(row["amount"], "NaN");
    assert_eq!(row["id"], 2);
    assert_eq!(text(&rej[1][2]), "amount");
    assert!(text(&rej[1][4]).contains("Infinity"));
    assert_eq!(text(&rej[2][2]), "at");
    assert!(text(&rej[2][4]).contains("infinity"));
    assert_eq!(text(&rej[3][2]), "d");
    // A decimal with more digits than SQLite's NUMERIC keeps is refused by
    // the SQLite target (stage write), not rounded.
    assert_eq!(text(&rej[4][0]), "7");
    assert_eq!(text(&rej[4][1]), "write");
    assert_eq!(text(&rej[4][3]), "decimal-precision");
    assert!(text(&rej[4][4]).contains("12345678901234.123456"));
    // The plan's profile sees the same values ahead of the run.
    let plan = ferry(&[
        "plan",
        "--from",
        &src.url,
        "--to",
        &format!("sqlite:{}", dir.path().join("plan.db").display()),
        "--json",
    ]);
    assert!(
        stdout(&plan).contains("NaN or ±Infinity"),
        "{}",
        stdout(&plan)
    );
}

#[test]
fn sqlite_shop_through_postgres_and_back_is_identical() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 300);
    let pg = PgDb::new("pgsrc_trip");
    let back = dir.path().join("back.db");
    let there = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &pg.url,
        "--json",
    ]);
    assert_eq!(there.status.code(), Some(0), "{}", stderr(&there));
    let again = ferry(&[
        "migrate",
        "--from",
        &pg.url,
        "--to",
        &format!("sqlite:{}", back.display()),
        "--json",
    ]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    // Same values and storage classes, row by row. JSON is compared through
    // json(): PostgreSQL's jsonb normalises whitespace.
    for sql in [
        "SELECT id, name, email, age, balance, price, active, avatar, json(meta) FROM users ORDER BY id",
        "SELECT id, user_id, total, placed_at FROM orders ORDER BY id",
        "SELECT typeof(id), typeof(age), typeof(balance), typeof(price), typeof(active), typeof(avatar) FROM users ORDER BY id",
    ] {
        let a = sqlite_rows(&src, sql);
        let b = sqlite_rows(&back, sql);
        assert_eq!(a.len(), b.len(), "{sql}");
        assert_eq!(a, b, "{sql}");
    }
    assert_eq!(sqlite_rows(&back, "SELECT * FROM users").len(), 300);
    // The foreign key came back too.
    assert_eq!(
        sqlite_rows(
            &back,
            "SELECT \"table\" FROM pragma_foreign_key_list('orders')"
        ),
        vec![vec![Value::Text("users".into())]]
    );
}

#[test]
fn schema_choice_rejects_tables_hidden_quarantine_counted_reader_stops_quietly() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 50);
    let pg = PgDb::new("pgsrc_schema");
    // Rejects land in the PostgreSQL target's _ferry_rejects.
    let rules = r#"users:rules={"rules":[{"column":"email","check":"not-null"}]}"#;
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &pg.url,
        "--validate",
        rules,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    pg.query("CREATE SCHEMA other; CREATE TABLE other.only_here (id int PRIMARY KEY, v text); INSERT INTO other.only_here VALUES (1, 'x')");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use ferry::endpoint::{EndpointUrl, open_source};
        let url: EndpointUrl = pg.url.parse().unwrap();
        let s = open_source(&url).await.unwrap();
        let names: Vec<String> = s
            .tables()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(
            names,
            ["orders", "users"],
            "no _ferry_rejects, no other schema"
        );
        let q = s.quarantined().await.unwrap();
        // Users without email, and (moved by the target's finish) the
        // orders that pointed at them.
        assert_eq!(q.len(), 2, "{q:?}");
        assert_eq!((q[0].table.as_str(), q[0].rows), ("orders", 10));
        assert_eq!(q[1].table, "users");
        assert_eq!(q[1].rows, 5);
        assert_eq!(q[1].keys, ["10", "20", "30", "40", "50"]);

        let url: EndpointUrl = format!("{}?schema=other", pg.url).parse().unwrap();
        let s = open_source(&url).await.unwrap();
        let t = s.tables().await.unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name, "only_here");
        assert_eq!(t[0].primary_key, ["id"]);
        assert_eq!(s.count("only_here").await.unwrap(), 1);
        assert!(s.quarantined().await.unwrap().is_empty());

        // A reader whose receiver goes away stops quietly.
        let s = open_source(&pg.url.parse().unwrap()).await.unwrap();
        let users = s
            .tables()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name == "users")
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let reader = s.clone().read(users, 4, ferry::endpoint::Scan::All, tx);
        let first = rx.recv().await.expect("a first batch");
        assert_eq!(first.batch.num_rows, 4);
        drop(rx);
        reader
            .await
            .unwrap()
            .expect("no error when the receiver is dropped");

        // The search_path given in the connection options also works.
        let url: EndpointUrl = format!("{}?options=-csearch_path%3Dother", pg.url)
            .parse()
            .unwrap();
        let s = open_source(&url).await.unwrap();
        assert_eq!(s.tables().await.unwrap()[0].name, "only_here");

        let url: EndpointUrl = format!("{}?schema=nope", pg.url).parse().unwrap();
        let e = open_source(&url)
            .await
            .err()
            .expect("missing schema refused");
        assert!(
            e.to_string().contains("schema `nope` does not exist"),
            "{e}"
        );
        let url: EndpointUrl = "postgres://postgres@127.0.0.1:1/x".parse().unwrap();
        let e = open_source(&url).await.err().expect("no server");
        assert!(e.to_string().contains("is the server running"), "{e}");
    });
}

#[test]
fn declared_numeric_precision_is_kept_and_values_that_do_not_fit_are_rejected_not_rounded() {
    let dir = tempdir();
    let src = dir.path().join("money.db");
    let c = rusqlite::Connection::open(&src).unwrap();
    // SQLite does not enforce NUMERIC(5,2); PostgreSQL's numeric(5,2) would
    // round 1.005 and refuse 12345.6, so ferry rejects both rows itself.
    c.execute_batch(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, amount DECIMAL(5,2), note VARCHAR(3));
         INSERT INTO m VALUES (1, '1.25', 'abc'), (2, '1.005', 'x'), (3, '12345.6', 'y'),
                              (4, '-999.99', NULL), (5, NULL, 'z');",
    )
    .unwrap();
    drop(c);
    let pg = PgDb::new("pgsrc_numeric");
    let out = ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &pg.url,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        pg.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'm'::regclass AND attname = 'amount'"),
        "numeric(5,2)"
    );
    assert_eq!(
        pg.scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'm'::regclass AND attname = 'note'"),
        "character varying(3)",
        "VARCHAR(n) is kept where every value fits (ferry-mapping-3), counted over the table"
    );
    assert_eq!(
        pg.query("SELECT id, amount::text FROM m ORDER BY id"),
        vec![
            vec!["1".to_string(), "1.25".into()],
            vec!["4".into(), "-999.99".into()],
            vec!["5".into(), "NULL".into()],
        ]
    );
    let rej = pg.query(
        "SELECT source_key, stage, column_name, code FROM _ferry_rejects ORDER BY source_key",
    );
    assert_eq!(
        rej,
        vec![
            vec![
                "2".to_string(),
                "write".into(),
                "amount".into(),
                "numeric-overflow".into()
            ],
            vec![
                "3".into(),
                "write".into(),
                "amount".into(),
                "numeric-overflow".into()
            ],
        ]
    );
}

/// PostgreSQL → PostgreSQL with nothing in between passes the binary COPY
/// tuples through as the source's server sent them: values a logical type
/// cannot hold (numeric NaN, infinite timestamps) arrive instead of being
/// quarantined, a table a transformer touches is decoded as ever, and the
/// run's verification still looks inside and catches a changed value.
#[test]
fn postgres_to_postgres_passes_rows_through_as_the_server_sent_them() {
    let src = source_db("pgpass_src");
    src.query(
        "CREATE TABLE m (id int PRIMARY KEY, amount numeric(12,2), at timestamptz, d date);
         INSERT INTO m VALUES (1, 1.25, '2024-01-01 10:00:00+00', '2024-01-01'), (2, 'NaN', NULL, NULL),
           (3, 7, 'infinity', '-infinity');",
    );
    let dst = PgDb::new("pgpass_dst");
    let out = ferry(&["migrate", "--from", &src.url, "--to", &dst.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    for t in ["customers", "m"] {
        assert_eq!(table(&r, t)["passthrough"], true, "{t}: {r:#}");
        assert_eq!(table(&r, t)["rows_rejected"], 0, "{t}");
    }
    // `items` holds an enum, `inet` and an array, read through their text
    // form: its rows are decoded, and arrive all the same.
    assert_eq!(table(&r, "items")["passthrough"], serde_json::Value::Null);
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
    let q = "SELECT id, amount::text, at::text, d::text FROM m ORDER BY id";
    assert_eq!(src.query(q), dst.query(q));
    assert_eq!(dst.scalar("SELECT amount::text FROM m WHERE id = 2"), "NaN");
    let cols = "id, region, customer_id, small, price::text, ratio::text, score, flag, \
                placed, local_ts, day, at, encode(blob, 'hex'), doc::text, uid, feeling::text, \
                addr::text, tags::text, precise";
    let q = format!("SELECT {cols} FROM items ORDER BY id");
    assert_eq!(src.query(&q), dst.query(&q));

    // A transformer on one table: that table is decoded, the others are not.
    let dst2 = PgDb::new("pgpass_dst2");
    let mask = r#"customers:mask={"key":"test-key-0123456789abcdef","columns":{"email":"redact"}}"#;
    let out = ferry(&[
        "migrate",
        "--from",
        &src.url,
        "--to",
        &dst2.url,
        "--transform",
        mask,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(
        table(&r, "customers")["passthrough"],
        serde_json::Value::Null
    );
    assert_eq!(table(&r, "m")["passthrough"], true);
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
}
