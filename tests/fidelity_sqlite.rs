//! Schema fidelity of the SQLite driver (issue 11), through the library API
//! on real files and with the real `ferry` binary: identity (rowid aliases,
//! AUTOINCREMENT, and the `integer auto_increment` key that is neither),
//! names and CHECKs from the stored DDL, views, everything else listed as
//! not carried, extents of stored values; the sink's AUTOINCREMENT,
//! declared types, CHECKs (violating rows quarantined, the rest written),
//! `sqlite_sequence`, views in any order; NULL keys quarantined at read with
//! the rowid, verify holding, into SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry::endpoint::{
    EndpointUrl, Extent, IfExists, ReadBatch, Scan, Sink, Source, TargetTable, Write, open_sink,
    open_source,
};
use ferry::model::{ColumnDef, LogicalType, SqlType, TableDef, ViewDef};

use crate::util::*;

/// The fixture: every kind of object a SQLite application database holds.
/// Rows violating a CHECK are stored with `ignore_check_constraints` (as a
/// database whose CHECK was written after its data holds them).
const FIXTURE: &str = "
CREATE TABLE countries (
  code CHAR(2) CONSTRAINT countries_pk PRIMARY KEY,
  name VARCHAR(45) NOT NULL CONSTRAINT countries_name_key UNIQUE,
  region TEXT CHECK (region IN ('EU', 'AS', 'AM'))
);
CREATE TABLE customers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email VARCHAR(80) NOT NULL,
  country CHAR(2) CONSTRAINT fk_customers_country REFERENCES countries (code),
  age SMALLINT,
  since DATETIME,
  CONSTRAINT customers_email_key UNIQUE (email),
  CONSTRAINT email_shape CHECK (email LIKE '%_@_%')
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY, -- a rowid alias, without AUTOINCREMENT
  customer_id INTEGER NOT NULL,
  total DECIMAL(8,2) CHECK (total >= 0),
  placed DATETIME,
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  UNIQUE (customer_id, placed)
);
CREATE TABLE legacy (
  id integer auto_increment primary key,
  v text,
  vlen INTEGER GENERATED ALWAYS AS (length(v)) VIRTUAL
);
CREATE TABLE measures (id INTEGER PRIMARY KEY DESC, code VARCHAR(3), qty SMALLINT, seen DATETIME);
CREATE INDEX orders_big ON orders (total) WHERE total > 100;
CREATE INDEX customers_lower ON customers (lower(email));
CREATE INDEX orders_placed ON orders (placed);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE VIEW big_spenders (customer, n) AS SELECT customer_id, count(*) FROM big_orders GROUP BY customer_id;
CREATE TRIGGER orders_touch AFTER INSERT ON orders BEGIN UPDATE customers SET since = since WHERE id = NEW.customer_id; END;
CREATE VIRTUAL TABLE notes USING fts5(title, body);
CREATE VIRTUAL TABLE country_search USING fts5(name, content='countries', content_rowid='rowid');

INSERT INTO countries VALUES ('FR', 'France', 'EU'), ('JP', 'Japan', 'AS'), ('US', 'United States', 'AM');
INSERT INTO customers (id, email, country, age, since) VALUES
  (1, 'ann@example.com', 'FR', 34, '2024-01-05'),
  (2, 'bo@example.com', 'JP', 19, '2024-02-11'),
  (5, 'cy@example.com', 'US', 71, '2023-12-24');
INSERT INTO orders VALUES
  (10, 1, 120.50, '2024-03-01 10:00:00'),
  (11, 1, 15.00, '2024-03-02 11:30:00'),
  (12, 5, 300.00, '2024-03-03 09:15:00');
INSERT INTO legacy (id, v) VALUES (1, 'a'), (NULL, 'b'), (2, 'c'), (NULL, 'd');
INSERT INTO measures VALUES (1, 'ab', -5, '2024-01-01'), (2, 'äé€', 300, 'yesterday'), (3, NULL, NULL, NULL), (4, 12345, 'n/a', NULL);
INSERT INTO notes VALUES ('first', 'hello world'), ('second', 'goodbye');
PRAGMA ignore_check_constraints = ON;
INSERT INTO countries VALUES ('XX', 'Nowhere', 'MARS');
INSERT INTO customers (id, email, country, age, since) VALUES (3, 'nobody', 'FR', 40, '2024-04-01');
PRAGMA ignore_check_constraints = OFF;
-- A virtual table whose module this SQLite does not have (made by another
-- build of SQLite, or an application's extension): listed, never a failure.
PRAGMA writable_schema = ON;
INSERT INTO sqlite_master (type, name, tbl_name, rootpage, sql)
  VALUES ('table', 'ext', 'ext', 0, 'CREATE VIRTUAL TABLE ext USING elsewhere(path)');
PRAGMA writable_schema = OFF;
";

fn fixture(dir: &Path) -> PathBuf {
    let path = dir.join("fidelity.db");
    let c = rusqlite::Connection::open(&path).expect("open fixture");
    c.execute_batch(FIXTURE).expect("fixture DDL");
    path
}

fn runtime() -> tokio::runtime::Runtime {
    // The SQLite sink runs its calls with `block_in_place`: multi-threaded.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn url(path: &Path) -> EndpointUrl {
    format!("sqlite:{}", path.display()).parse().expect("url")
}

fn table<'a>(tables: &'a [TableDef], name: &str) -> &'a TableDef {
    tables
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

fn column<'a>(t: &'a TableDef, name: &str) -> &'a ColumnDef {
    t.columns
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column {}.{name}", t.name))
}

fn checks(t: &TableDef) -> Vec<(&str, &str)> {
    t.checks
        .iter()
        .map(|c| (c.name.as_str(), c.expression.as_str()))
        .collect()
}

#[test]
fn source_carries_identity_names_checks_and_views_and_lists_the_rest() {
    let dir = tempdir();
    let db = fixture(dir.path());
    runtime().block_on(async {
        let s = open_source(&url(&db)).await.unwrap();
        let tables = s.tables().await.unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        // The FTS5 table with its own content is carried as a plain table;
        // the external-content one and every shadow table are not.
        assert_eq!(
            names,
            ["countries", "customers", "orders", "legacy", "measures", "notes"]
        );

        // Identity: AUTOINCREMENT and a rowid alias are; `integer
        // auto_increment` (a key SQLite lets hold NULL) and `INTEGER PRIMARY
        // KEY DESC` (SQLite's quirk: not an alias) are not.
        assert!(column(table(&tables, "customers"), "id").identity);
        assert!(column(table(&tables, "orders"), "id").identity);
        assert!(!column(table(&tables, "legacy"), "id").identity);
        assert!(!column(table(&tables, "measures"), "id").identity);
        assert!(!column(table(&tables, "countries"), "code").identity);
        assert_eq!(
            tables
                .iter()
                .flat_map(|t| &t.columns)
                .filter(|c| c.identity)
                .count(),
            2
        );
        // The generated column is not data.
        let legacy = table(&tables, "legacy");
        assert_eq!(
            legacy.columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            ["id", "v"]
        );

        // Names as the DDL gave them; readable ones where it gave none.
        let countries = table(&tables, "countries");
        assert_eq!(countries.unique[0].name, "countries_name_key");
        assert_eq!(
            checks(countries),
            [("countries_check1", "region IN ('EU', 'AS', 'AM')")]
        );
        let customers = table(&tables, "customers");
        assert_eq!(customers.foreign_keys[0].name, "fk_customers_country");
        assert_eq!(customers.foreign_keys[0].ref_columns, ["code"]);
        assert_eq!(customers.unique[0].name, "customers_email_key");
        assert_eq!(checks(customers), [("email_shape", "email LIKE '%_@_%'")]);
        let orders = table(&tables, "orders");
        assert_eq!(orders.foreign_keys[0].name, "fk_orders_customer");
        assert_eq!(orders.unique[0].name, "orders_customer_id_placed_key");
        assert_eq!(orders.unique[0].columns, ["customer_id", "placed"]);
        assert_eq!(checks(orders), [("orders_check1", "total >= 0")]);
        // Only the plain index is carried as an index.
        assert_eq!(
            orders.indexes.iter().map(|i| &i.name).collect::<Vec<_>>(),
            ["orders_placed"]
        );

        // DATETIME is a timestamp even when no value has a time part.
        assert_eq!(
            column(customers, "since").logical_type,
            LogicalType::Timestamp
        );
        assert_eq!(column(orders, "placed").logical_type, LogicalType::Timestamp);
        // A DATETIME column holding something else than ISO dates and
        // timestamps stays text (its values are carried as they are).
        assert_eq!(
            column(table(&tables, "measures"), "seen").logical_type,
            LogicalType::Text
        );

        // Views in creation order (one on the other); a declared column list
        // is kept through a common table expression.
        let objects = s.objects(&tables).await.unwrap();
        assert_eq!(
            objects.views,
            [
                ViewDef {
                    name: "big_orders".into(),
                    definition: "SELECT * FROM orders WHERE total > 100".into()
                },
                ViewDef {
                    name: "big_spenders".into(),
                    definition: "WITH \"big_spenders\"(\"customer\", \"n\") AS (SELECT customer_id, count(*) FROM big_orders GROUP BY customer_id) SELECT * FROM \"big_spenders\"".into()
                },
            ]
        );
        let mut listed: Vec<(&str, &str)> = objects
            .not_carried
            .iter()
            .map(|n| (n.kind.as_str(), n.name.as_str()))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                ("column", "legacy.vlen"),
                ("index", "customers.customers_lower"),
                ("index", "notes"),
                ("index", "orders.orders_big"),
                ("table", "country_search"),
                ("table", "country_search_config"),
                ("table", "country_search_data"),
                ("table", "country_search_docsize"),
                ("table", "country_search_idx"),
                ("table", "ext"),
                ("table", "notes_config"),
                ("table", "notes_content"),
                ("table", "notes_data"),
                ("table", "notes_docsize"),
                ("table", "notes_idx"),
                ("trigger", "orders.orders_touch"),
            ]
        );
        for n in &objects.not_carried {
            assert!(!n.reason.is_empty(), "{n:?}");
        }
        let reason = |name: &str| {
            &objects
                .not_carried
                .iter()
                .find(|n| n.name == name)
                .unwrap()
                .reason
        };
        assert!(reason("orders.orders_touch").contains("by hand"));
        assert!(reason("notes").contains("carried as the plain table `notes`"));
        assert!(reason("country_search").contains("external-content"));
        assert!(reason("ext").contains("`elsewhere` module"));
        assert!(reason("notes_data").contains("shadow table) of the virtual table `notes`"));
        assert!(reason("country_search_idx").contains("`country_search`"));
        // A selection that leaves `orders` out leaves its trigger out too.
        let some: Vec<TableDef> = tables
            .iter()
            .filter(|t| t.name != "orders")
            .cloned()
            .collect();
        let narrowed = s.objects(&some).await.unwrap();
        assert!(
            !narrowed
                .not_carried
                .iter()
                .any(|n| n.name.starts_with("orders."))
        );

        // Extents: characters (not bytes), integers, and values of another kind.
        let measures = table(&tables, "measures");
        let ext = s
            .extents(measures, &["code".into(), "qty".into()])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ext,
            [
                // 'äé€' is 3 characters; the integer 12345 stored in a
                // VARCHAR(3) column is read as the text "12345".
                Extent {
                    max_chars: Some(5),
                    min_int: None,
                    max_int: None,
                    foreign: 0
                },
                // 'n/a' in a SMALLINT column.
                Extent {
                    max_chars: None,
                    min_int: Some(-5),
                    max_int: Some(300),
                    foreign: 1
                },
            ]
        );
        assert!(s.extents(measures, &["nope".into()]).await.is_err());
    });
}

/// Reads `def` from `source` and writes it into `sink` as `target`.
async fn load(
    source: &Arc<dyn Source>,
    sink: &mut Box<dyn Sink>,
    run_id: &str,
    target: &TargetTable,
) -> (u64, Vec<ferry::model::Reject>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ReadBatch>(2);
    let reader = source.clone().read(target.source.clone(), 2, Scan::All, tx);
    let (mut written, mut rejected) = (0, Vec::new());
    while let Some(rb) = rx.recv().await {
        let out = sink
            .write(Write {
                run_id,
                table: target,
                batch: &rb.batch,
                rejects: &rb.rejects,
                checkpoint: None,
                upsert: false,
                replace: None,
                raw: None,
                keep_sent: false,
            })
            .await
            .unwrap();
        written += out.written;
        rejected.extend(rb.rejects);
        rejected.extend(out.rejected);
    }
    reader.await.unwrap().unwrap();
    (written, rejected)
}

fn sqlite_rows(path: &Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(path).expect("open");
    let mut st = c.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => format!("x{}", hex::encode(b)),
                })
            })
            .collect::<rusqlite::Result<Vec<_>>>()
    })
    .and_then(|rows| rows.collect())
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn sink_keeps_identity_types_checks_and_views() {
    let dir = tempdir();
    let db = fixture(dir.path());
    let out = dir.path().join("target.db");
    runtime().block_on(async {
        let source = open_source(&url(&db)).await.unwrap();
        let tables = source.tables().await.unwrap();
        let mut sink = open_sink(&url(&out)).await.unwrap();
        let targets: Vec<TargetTable> = ["countries", "customers", "orders"]
            .iter()
            .map(|n| TargetTable {
                source: table(&tables, n).clone(),
                def: table(&tables, n).clone(),
            })
            .collect();
        sink.prepare(&targets, IfExists::Fail).await.unwrap();
        let mut rejected = Vec::new();
        for t in &targets {
            rejected.extend(load(&source, &mut sink, "run-1", t).await.1);
        }
        sink.finish("run-1", &targets).await.unwrap();

        // The rows violating a CHECK were refused one by one, with SQLite's
        // reason and the check; every other row is written.
        let mut refused: Vec<(String, Option<String>, String)> = rejected
            .iter()
            .map(|r| (r.table.clone(), r.source_key.clone(), r.code.clone()))
            .collect();
        refused.sort();
        assert_eq!(
            refused,
            [
                ("countries".into(), Some("\"XX\"".into()), "check".into()),
                ("customers".into(), Some("3".into()), "check".into()),
            ]
        );
        let why = &rejected
            .iter()
            .find(|r| r.table == "countries")
            .unwrap()
            .reason;
        assert!(
            why.contains("countries_check1") && why.contains("region IN ('EU', 'AS', 'AM')"),
            "{why}"
        );
        assert_eq!(
            sqlite_rows(&out, "SELECT code FROM countries ORDER BY code"),
            [["FR"], ["JP"], ["US"]]
        );
        assert_eq!(
            sqlite_rows(&out, "SELECT id FROM customers ORDER BY id"),
            [["1"], ["2"], ["5"]]
        );
        assert_eq!(
            sqlite_rows(
                &out,
                "SELECT code, reason FROM _ferry_rejects ORDER BY table_name"
            )
            .len(),
            2
        );

        // AUTOINCREMENT for the identity keys, the declared types kept.
        let ddl = sqlite_scalar(
            &out,
            "SELECT sql FROM sqlite_master WHERE name = 'customers'",
        );
        assert!(
            ddl.contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT"),
            "{ddl}"
        );
        let types = sqlite_rows(
            &out,
            "SELECT name, type FROM pragma_table_info('customers') ORDER BY cid",
        );
        assert_eq!(
            types,
            [
                ["id", "INTEGER"],
                ["email", "VARCHAR(80)"],
                ["country", "CHAR(2)"],
                ["age", "SMALLINT"],
                ["since", "DATETIME"],
            ]
        );
        // The CHECKs are in the target with their names.
        assert!(ddl.contains("CONSTRAINT \"email_shape\" CHECK (email LIKE '%_@_%')"));
        // The date-only DATETIME is a timestamp: midnight.
        assert_eq!(
            sqlite_scalar(&out, "SELECT since FROM customers WHERE id = 1"),
            "2024-01-05 00:00:00"
        );

        // The application's next INSERT without an id gets max + 1.
        // SQLite raised sqlite_sequence itself on the explicit inserts.
        let synced = sink.sync_identity(&targets).await.unwrap();
        assert_eq!(
            synced,
            [
                "customers.id: sqlite_sequence is 5; the next id is 6",
                "orders.id: sqlite_sequence is 12; the next id is 13",
            ]
        );
        // Where it is missing or behind (a state SQLite does not make
        // itself), it is set.
        rusqlite::Connection::open(&out)
            .unwrap()
            .execute_batch(
                "DELETE FROM sqlite_sequence WHERE name = 'orders'; \
                 UPDATE sqlite_sequence SET seq = 1 WHERE name = 'customers'",
            )
            .unwrap();
        assert_eq!(
            sink.sync_identity(&targets).await.unwrap(),
            [
                "customers.id: sqlite_sequence raised to 5; the next id is 6",
                "orders.id: sqlite_sequence set to 12; the next id is 13",
            ]
        );
        assert_eq!(
            sqlite_scalar(
                &out,
                "SELECT seq FROM sqlite_sequence WHERE name = 'customers'"
            ),
            "5"
        );
        let c = rusqlite::Connection::open(&out).unwrap();
        c.execute(
            "INSERT INTO customers (email, country) VALUES ('new@example.com', 'FR')",
            [],
        )
        .unwrap();
        assert_eq!(c.last_insert_rowid(), 6);
        c.execute("INSERT INTO orders (customer_id, total) VALUES (6, 1)", [])
            .unwrap();
        assert_eq!(c.last_insert_rowid(), 13);
        drop(c);

        // ANALYZE.
        sink.analyze(&targets).await.unwrap();
        assert_ne!(
            sqlite_scalar(&out, "SELECT count(*) FROM sqlite_stat1"),
            "0"
        );

        // Views in either order; a broken one is its own outcome, dropped.
        let views = vec![
            ViewDef {
                name: "big_spenders".into(),
                definition:
                    "SELECT customer_id, count(*) AS n FROM big_orders GROUP BY customer_id".into(),
            },
            ViewDef {
                name: "broken".into(),
                definition: "SELECT * FROM no_such_table".into(),
            },
            ViewDef {
                name: "big_orders".into(),
                definition: "SELECT * FROM orders WHERE total > 100".into(),
            },
        ];
        let outcomes = sink.create_views(&views, IfExists::Fail).await.unwrap();
        assert_eq!(outcomes[0].error, None);
        assert_eq!(outcomes[2].error, None);
        assert!(
            outcomes[1]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("no such table")),
            "{outcomes:?}"
        );
        assert_eq!(
            sqlite_rows(&out, "SELECT customer_id, n FROM big_spenders ORDER BY 1"),
            [["1", "1"], ["5", "1"]]
        );
        assert_eq!(
            sqlite_scalar(
                &out,
                "SELECT count(*) FROM sqlite_master WHERE name = 'broken'"
            ),
            "0"
        );
        // Again (a resumed run): the same views are there already.
        let again = sink
            .create_views(&views[..1], IfExists::Fail)
            .await
            .unwrap();
        assert_eq!(again[0].error, None);
        // A different definition under the same name: refused, unless dropped.
        let changed = [ViewDef {
            name: "big_orders".into(),
            definition: "SELECT * FROM orders WHERE total > 200".into(),
        }];
        let refused = sink.create_views(&changed, IfExists::Fail).await.unwrap();
        assert!(
            refused[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("already exists"))
        );
        let replaced = sink.create_views(&changed, IfExists::Drop).await.unwrap();
        assert_eq!(replaced[0].error, None);
        assert_eq!(sqlite_rows(&out, "SELECT id FROM big_orders"), [["12"]]);
    });
}

/// A table from another database: no SQLite declaration to keep, so the
/// plan's declared types (`sql_type`) are what the target declares.
#[test]
fn sink_declares_the_plans_sql_types() {
    let dir = tempdir();
    let out = dir.path().join("typed.db");
    let col = |name: &str, t: LogicalType, sql: Option<SqlType>| ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable: true,
        sql_type: sql,
        ..Default::default()
    };
    let def = TableDef {
        name: "typed".into(),
        columns: vec![
            col("id", LogicalType::Int64, None),
            col("small", LogicalType::Int64, Some(SqlType::SmallInt)),
            col("int", LogicalType::Int64, Some(SqlType::Integer)),
            col("f4", LogicalType::Float64, Some(SqlType::Real)),
            col(
                "name",
                LogicalType::Text,
                Some(SqlType::Varchar { length: 45 }),
            ),
            col("flag", LogicalType::Text, Some(SqlType::Char { length: 1 })),
            col(
                "price",
                LogicalType::Decimal,
                Some(SqlType::Numeric {
                    precision: 6,
                    scale: 2,
                }),
            ),
            // A type that does not fit the logical type is not declared.
            col(
                "doc",
                LogicalType::Json,
                Some(SqlType::Varchar { length: 9 }),
            ),
            col("plain", LogicalType::Text, None),
        ],
        primary_key: vec!["id".into()],
        ..Default::default()
    };
    let mut with_identity = def.clone();
    with_identity.columns[0].identity = true;
    let mut source = def.clone();
    for c in &mut source.columns {
        c.sql_type = None;
    }
    runtime().block_on(async {
        let mut sink = open_sink(&url(&out)).await.unwrap();
        sink.prepare(
            &[TargetTable {
                source,
                def: with_identity,
            }],
            IfExists::Fail,
        )
        .await
        .unwrap();
    });
    assert_eq!(
        sqlite_rows(
            &out,
            "SELECT name, type FROM pragma_table_info('typed') ORDER BY cid"
        ),
        [
            ["id", "INTEGER"],
            ["small", "SMALLINT"],
            ["int", "INT"],
            ["f4", "REAL"],
            ["name", "VARCHAR(45)"],
            ["flag", "CHAR(1)"],
            ["price", "NUMERIC(6,2)"],
            ["doc", "TEXT"],
            ["plain", "TEXT"],
        ]
    );
    assert!(
        sqlite_scalar(&out, "SELECT sql FROM sqlite_master WHERE name = 'typed'")
            .contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT")
    );
}

/// A table whose key SQLite let hold NULL (`integer auto_increment` is not
/// a rowid alias).
fn null_keys(dir: &Path) -> PathBuf {
    let path = dir.join("nullkeys.db");
    let c = rusqlite::Connection::open(&path).expect("open");
    c.execute_batch(
        "CREATE TABLE t (id integer auto_increment primary key, v text);
         INSERT INTO t VALUES (1, 'a'), (NULL, 'b'), (2, 'c'), (NULL, 'd'), (3, 'e');",
    )
    .expect("fixture");
    path
}

/// The NULL-key rows' quarantine, as `(source_key, code, column, reason)`.
fn assert_null_key_rejects(rows: &[Vec<String>]) {
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, rowid) in rows.iter().zip([2, 4]) {
        assert_eq!(row[0], format!("rowid={rowid}"));
        assert_eq!(row[1], "null-key");
        assert_eq!(row[2], "id");
        assert!(
            row[3].contains("primary key column `id` is NULL")
                && row[3].contains("not a rowid alias")
                && row[3].contains("integer auto_increment")
                && row[3].contains(&format!("WHERE rowid = {rowid}")),
            "{}",
            row[3]
        );
    }
}

fn assert_run_verified(out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(3), "{}", stderr(out));
    let r = report(out);
    assert_eq!(r["status"], "succeeded_with_rejects");
    let t = &r["tables"][0];
    assert_eq!(
        (&t["rows_read"], &t["rows_written"], &t["rows_rejected"]),
        (&5.into(), &3.into(), &2.into())
    );
    assert_eq!(r["verify"]["ok"], true, "{}", r["verify"]);
}

#[test]
fn null_keys_are_quarantined_at_read_with_the_rowid_into_sqlite() {
    let dir = tempdir();
    let src = null_keys(dir.path());
    let dst = dir.path().join("out.db");
    let (from, to) = (
        format!("sqlite:{}", src.display()),
        format!("sqlite:{}", dst.display()),
    );
    let out = ferry(&["migrate", "--from", &from, "--to", &to, "--json"]);
    assert_run_verified(&out);
    assert_eq!(
        sqlite_rows(&dst, "SELECT id, v FROM t ORDER BY id"),
        [["1", "a"], ["2", "c"], ["3", "e"]]
    );
    assert_null_key_rejects(&sqlite_rows(
        &dst,
        "SELECT source_key, code, column_name, reason FROM _ferry_rejects ORDER BY source_key",
    ));
    assert_eq!(
        sqlite_scalar(
            &dst,
            "SELECT count(*) FROM _ferry_rejects WHERE stage = 'read' AND json_extract(row_data, '$.id') IS NULL"
        ),
        "2"
    );
    let v = ferry(&["verify", "--from", &from, "--to", &to]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

#[test]
fn null_keys_are_quarantined_at_read_with_the_rowid_into_postgres() {
    let dir = tempdir();
    let src = null_keys(dir.path());
    let pg = PgDb::new("nullkey");
    let from = format!("sqlite:{}", src.display());
    let out = ferry(&["migrate", "--from", &from, "--to", &pg.url, "--json"]);
    assert_run_verified(&out);
    assert_eq!(
        pg.query("SELECT id, v FROM t ORDER BY id"),
        [["1", "a"], ["2", "c"], ["3", "e"]]
    );
    assert_null_key_rejects(&pg.query(
        "SELECT source_key, code, column_name, reason FROM _ferry_rejects ORDER BY source_key",
    ));
    let v = ferry(&["verify", "--from", &from, "--to", &pg.url]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
}

/// Rows the target refuses are quarantined one by one, each with its own
/// reason, and the rest written: a NULL key (which SQLite itself would
/// store), a duplicate key, a NULL in a NOT NULL column.
#[test]
fn sink_quarantines_refused_rows_one_by_one() {
    use ferry::model::BatchBuilder;
    let dir = tempdir();
    let out = dir.path().join("refused.db");
    let col = |name: &str, nullable: bool| ColumnDef {
        name: name.into(),
        declared_type: "TEXT".into(),
        logical_type: LogicalType::Text,
        nullable,
        ..Default::default()
    };
    let def = TableDef {
        name: "k".into(),
        columns: vec![col("code", true), col("v", false)],
        primary_key: vec!["code".into()],
        ..Default::default()
    };
    let target = TargetTable {
        source: def.clone(),
        def: def.clone(),
    };
    let schema = def.schema();
    let mut b = BatchBuilder::new(&schema, 5);
    for (code, v) in [
        (Some("a"), Some("x")),
        (None, Some("y")),
        (Some("a"), Some("z")),
        (Some("b"), None),
        (Some("c"), Some("w")),
    ] {
        for (i, x) in [code, v].into_iter().enumerate() {
            match x {
                Some(s) => b.push_bytes(i, s.as_bytes()).unwrap(),
                None => b.push_null(i),
            }
        }
        b.end_row();
    }
    let batch = b.finish();
    runtime().block_on(async {
        let mut sink = open_sink(&url(&out)).await.unwrap();
        sink.prepare(std::slice::from_ref(&target), IfExists::Fail)
            .await
            .unwrap();
        let w = sink
            .write(Write {
                run_id: "run-1",
                table: &target,
                batch: &batch,
                rejects: &[],
                checkpoint: None,
                upsert: false,
                replace: None,
                raw: None,
                keep_sent: false,
            })
            .await
            .unwrap();
        assert_eq!(w.written, 2);
        let mut got: Vec<(String, Option<String>)> = w
            .rejected
            .iter()
            .map(|r| (r.code.clone(), r.column.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("duplicate-key".into(), Some("code".into())),
                ("not-null".into(), Some("v".into())),
                ("null-key".into(), Some("code".into())),
            ]
        );
        for r in &w.rejected {
            assert!(!r.reason.is_empty());
        }
    });
    assert_eq!(
        sqlite_rows(&out, "SELECT code, v FROM k ORDER BY code"),
        [["a", "x"], ["c", "w"]]
    );
    assert_eq!(
        sqlite_scalar(
            &out,
            "SELECT count(*) FROM _ferry_rejects WHERE run_id = 'run-1'"
        ),
        "3"
    );
}
