//! Schema fidelity of the MySQL/MariaDB driver, against a real MariaDB,
//! through the library API (the engine's planner is not involved: the
//! target definitions are built here as the planner builds them).
//!
//! - as a source: AUTO_INCREMENT, CHECKs (table and column level), named
//!   keys, indexes and foreign keys; views in dependency order; triggers,
//!   routines, an event and a sequence listed as not carried;
//! - as a sink: declared types kept, AUTO_INCREMENT counting on after the
//!   largest value, CHECKs created after their violators are quarantined,
//!   names kept, views created whatever their order, a NULL key rejected
//!   with a true reason, and every value the server refuses rejected alone
//!   while the rest of its batch is written.

use crate::util::*;
use ferry::endpoint::{IfExists, Sink, TargetTable, Write, open_sink, open_source};
use ferry::model::{
    BatchBuilder, CheckDef, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, SqlType, TableDef,
    UniqueDef, ViewDef,
};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn col(name: &str, t: LogicalType, nullable: bool) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable,
        ..Default::default()
    }
}

fn typed(name: &str, t: LogicalType, sql: SqlType) -> ColumnDef {
    ColumnDef {
        sql_type: Some(sql),
        ..col(name, t, true)
    }
}

fn target(def: TableDef) -> TargetTable {
    TargetTable {
        source: def.clone(),
        def,
    }
}

/// One value of a test row.
enum V<'a> {
    Null,
    I(i64),
    F(f64),
    T(&'a str),
}

fn batch(def: &TableDef, rows: &[Vec<V<'_>>]) -> ferry::model::Batch {
    let schema = def.schema();
    let mut b = BatchBuilder::new(&schema, rows.len());
    for row in rows {
        for (c, v) in row.iter().enumerate() {
            match v {
                V::Null => b.push_null(c),
                V::I(x) => b.push_int(c, *x),
                V::F(x) => b.push_float(c, *x),
                V::T(s) => b.push_bytes(c, s.as_bytes()).unwrap(),
            }
        }
        b.end_row();
    }
    b.finish()
}

async fn sink(db: &MyDb) -> Box<dyn Sink> {
    open_sink(&db.url.parse().unwrap()).await.unwrap()
}

/// Writes one batch (no ledger) and returns `(written, rejects as (row id
/// JSON, code, column, reason))`.
async fn write(
    s: &mut dyn Sink,
    t: &TargetTable,
    b: &ferry::model::Batch,
) -> (u64, Vec<(String, String, Option<String>, String)>) {
    let out = s
        .write(Write {
            run_id: "run-1",
            table: t,
            batch: b,
            rejects: &[],
            checkpoint: None,
            upsert: false,
            replace: None,
            raw: None,
            keep_sent: false,
        })
        .await
        .unwrap();
    let mut rejected: Vec<_> = out
        .rejected
        .into_iter()
        .map(|r| (r.row["id"].to_string(), r.code, r.column, r.reason))
        .collect();
    rejected.sort_by_key(|r| r.0.parse::<i64>().unwrap_or(i64::MAX));
    (out.written, rejected)
}

#[test]
fn a_mariadb_source_gives_identity_checks_names_views_and_lists_what_is_not_carried() {
    let db = MyDb::new("fid_src");
    db.query(
        "CREATE TABLE customer (
           id INT AUTO_INCREMENT PRIMARY KEY,
           email VARCHAR(80) NOT NULL,
           country CHAR(2) NOT NULL CHECK (country IN ('FR', 'DE', 'US')),
           doc JSON,
           CONSTRAINT uq_customer_email UNIQUE (email),
           CONSTRAINT customer_email_like CHECK (email LIKE '%@%' AND email <> 'it''s'));
         CREATE INDEX ix_customer_country ON customer (country);
         CREATE TABLE orders (
           id BIGINT AUTO_INCREMENT PRIMARY KEY,
           customer_id INT NOT NULL,
           qty SMALLINT NOT NULL,
           total DECIMAL(8,2),
           note VARCHAR(20),
           CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customer (id),
           CONSTRAINT orders_qty_positive CHECK (qty > 0));
         CREATE INDEX ix_orders_customer_qty ON orders (customer_id, qty);
         CREATE VIEW big_orders AS SELECT id, customer_id, total FROM orders WHERE total > 100;
         CREATE VIEW big_customers AS
           SELECT c.id, c.email, 'it''s' AS quote FROM customer c JOIN big_orders b ON b.customer_id = c.id;
         CREATE TRIGGER orders_touch BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'new');
         CREATE PROCEDURE purge_orders() DELETE FROM orders WHERE qty = 0;
         CREATE FUNCTION order_weight(q INT) RETURNS INT DETERMINISTIC RETURN q * 2;
         CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM orders WHERE qty = 0;
         CREATE SEQUENCE invoice_seq START WITH 1000;",
    );
    rt().block_on(async {
        let source = open_source(&db.url.parse().unwrap()).await.unwrap();
        let tables = source.tables().await.unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        // Views and the sequence are not tables.
        assert_eq!(names, ["customer", "orders"]);
        let (customer, orders) = (&tables[0], &tables[1]);

        let identity = |t: &TableDef| -> Vec<String> {
            t.columns
                .iter()
                .filter(|c| c.identity)
                .map(|c| c.name.clone())
                .collect()
        };
        assert_eq!(identity(customer), ["id"]);
        assert_eq!(identity(orders), ["id"]);

        // A table check and a column check (named after its column); the
        // JSON column's json_valid check is the json type, not a check.
        let checks = |t: &TableDef| -> Vec<(String, String)> {
            t.checks
                .iter()
                .map(|c| (c.name.clone(), c.expression.clone()))
                .collect()
        };
        assert_eq!(
            checks(customer),
            [
                (
                    "country".to_string(),
                    r#""country" in ('FR','DE','US')"#.to_string()
                ),
                (
                    "customer_email_like".to_string(),
                    r#""email" like '%@%' and "email" <> 'it''s'"#.to_string()
                ),
            ]
        );
        assert_eq!(
            checks(orders),
            [(
                "orders_qty_positive".to_string(),
                r#""qty" > 0"#.to_string()
            )]
        );
        let doc = customer.columns.iter().find(|c| c.name == "doc").unwrap();
        assert_eq!(doc.logical_type, LogicalType::Json);

        // Names as declared; PRIMARY is no name.
        assert_eq!(customer.primary_key, ["id"]);
        assert_eq!(
            customer.unique,
            [UniqueDef {
                name: "uq_customer_email".into(),
                columns: vec!["email".into()],
            }]
        );
        assert_eq!(
            customer.indexes,
            [IndexDef {
                name: "ix_customer_country".into(),
                columns: vec!["country".into()],
                unique: false,
            }]
        );
        assert_eq!(orders.foreign_keys.len(), 1);
        assert_eq!(orders.foreign_keys[0].name, "fk_orders_customer");
        assert_eq!(orders.foreign_keys[0].ref_table, "customer");
        assert_eq!(
            orders
                .indexes
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>(),
            ["ix_orders_customer_qty"]
        );

        let objects = source.objects(&tables).await.unwrap();
        // The view read by the other comes first, whatever the names say.
        let views: Vec<&str> = objects.views.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(views, ["big_orders", "big_customers"]);
        for v in &objects.views {
            assert!(
                !v.definition.contains(&db.name),
                "{} still names the source database: {}",
                v.name,
                v.definition
            );
            assert!(v.definition.starts_with("select "), "{}", v.definition);
        }
        // The literal is written for a session without backslash escapes.
        assert!(
            objects.views[1].definition.contains("'it''s'"),
            "{}",
            objects.views[1].definition
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
                ("event", "nightly"),
                ("function", "order_weight"),
                ("procedure", "purge_orders"),
                ("sequence", "invoice_seq"),
                ("trigger", "orders.orders_touch"),
            ]
        );
        for n in &objects.not_carried {
            assert!(
                n.reason.contains("recreate"),
                "{} {}: the reason says what to do: {}",
                n.kind,
                n.name,
                n.reason
            );
        }
        let seq = objects
            .not_carried
            .iter()
            .find(|n| n.kind == "sequence")
            .unwrap();
        assert!(seq.reason.contains("START WITH 1000"), "{}", seq.reason);

        // What is not the tables' own is listed only for the tables asked.
        let only_customer = source.objects(&tables[..1]).await.unwrap();
        assert!(
            only_customer
                .not_carried
                .iter()
                .all(|n| n.kind != "trigger")
        );
    });
}

/// The target definitions of the sink test: `item` (identity, declared
/// types, a unique key, an index, a check) and `line` (a foreign key to it).
fn item_and_line() -> (TableDef, TableDef) {
    let item = TableDef {
        name: "item".into(),
        columns: vec![
            ColumnDef {
                identity: true,
                ..col("id", LogicalType::Int64, false)
            },
            typed("code", LogicalType::Text, SqlType::Char { length: 3 }),
            typed("name", LogicalType::Text, SqlType::Varchar { length: 10 }),
            typed("qty", LogicalType::Int64, SqlType::SmallInt),
            typed("n", LogicalType::Int64, SqlType::Integer),
            typed("ratio", LogicalType::Float64, SqlType::Real),
            typed(
                "price",
                LogicalType::Decimal,
                SqlType::Numeric {
                    precision: 6,
                    scale: 2,
                },
            ),
        ],
        primary_key: vec!["id".into()],
        unique: vec![UniqueDef {
            name: "uq_item_code".into(),
            columns: vec!["code".into()],
        }],
        indexes: vec![IndexDef {
            name: "ix_item_name_qty".into(),
            columns: vec!["name".into(), "qty".into()],
            unique: false,
        }],
        checks: vec![
            CheckDef {
                name: "item_qty_positive".into(),
                expression: r#""qty" > 0"#.into(),
            },
            // A translation the target cannot run: a warning, not a failure.
            CheckDef {
                name: "item_untranslatable".into(),
                expression: r#"no_such_function("qty") > 0"#.into(),
            },
        ],
        ..Default::default()
    };
    let line = TableDef {
        name: "line".into(),
        columns: vec![
            ColumnDef {
                identity: true,
                ..col("id", LogicalType::Int64, false)
            },
            col("item_id", LogicalType::Int64, true),
        ],
        primary_key: vec!["id".into()],
        foreign_keys: vec![ForeignKeyDef {
            name: "fk_line_item".into(),
            columns: vec!["item_id".into()],
            ref_table: "item".into(),
            ref_columns: vec!["id".into()],
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        }],
        // Every row satisfies it: built in the table's one ALTER.
        checks: vec![CheckDef {
            name: "line_item_positive".into(),
            expression: r#""item_id" > 0"#.into(),
        }],
        ..Default::default()
    };
    (item, line)
}

#[test]
fn a_mariadb_sink_keeps_declared_types_identity_names_and_checks() {
    let db = MyDb::new("fid_sink");
    let (item, line) = item_and_line();
    let (item_t, line_t) = (target(item.clone()), target(line.clone()));
    let tables = vec![item_t.clone(), line_t.clone()];
    rt().block_on(async {
        let mut s = sink(&db).await;
        s.prepare(&tables, IfExists::Fail).await.unwrap();
        let rows = |ids: &[(i64, &'static str, i64)]| -> Vec<Vec<V<'static>>> {
            ids.iter()
                .map(|(id, code, qty)| {
                    vec![
                        V::I(*id),
                        V::T(code),
                        V::T("name"),
                        V::I(*qty),
                        V::I(1 << 30),
                        V::F(0.5),
                        V::T("1234.5"),
                    ]
                })
                .collect()
        };
        // id 50 breaks the check; after finish the largest id is 41.
        let b = batch(
            &item,
            &rows(&[
                (5, "AAA", 1),
                (17, "BBB", 2),
                (41, "CCC", 3),
                (50, "DDD", -1),
            ]),
        );
        let (written, rejected) = write(s.as_mut(), &item_t, &b).await;
        assert_eq!((written, rejected.len()), (4, 0));
        let lines = batch(
            &line,
            &[
                vec![V::I(1), V::I(5)],
                vec![V::I(2), V::I(50)],
                vec![V::I(3), V::I(41)],
            ],
        );
        assert_eq!(write(s.as_mut(), &line_t, &lines).await.0, 3);

        let finished = s.finish("run-1", &tables).await.unwrap();
        for c in [
            "primary key item",
            "unique uq_item_code",
            "index ix_item_name_qty",
            "check item_qty_positive",
            "check line_item_positive",
            "foreign key fk_line_item",
        ] {
            assert!(
                finished.created.iter().any(|x| x == c),
                "{c} in {:?}",
                finished.created
            );
        }
        // The check's violator, then the line that pointed at it.
        let moved: u64 = finished.quarantined.iter().map(|(_, n)| n).sum();
        assert_eq!(moved, 2, "{:?}", finished.quarantined);
        assert_eq!(finished.warnings.len(), 1, "{:?}", finished.warnings);
        assert!(
            finished.warnings[0].contains("check item_untranslatable")
                && finished.warnings[0].contains("cannot be used in the CHECK clause"),
            "{}",
            finished.warnings[0]
        );
        // Finishing again (a resumed run) finds everything built.
        let again = s.finish("run-1", &tables).await.unwrap();
        assert_eq!(again.created, finished.created);
        assert!(again.quarantined.is_empty(), "{:?}", again.quarantined);
        assert_eq!(again.warnings, finished.warnings);

        let synced = s.sync_identity(&tables).await.unwrap();
        assert_eq!(synced, ["item.id: next value 42", "line.id: next value 4"]);
        s.analyze(&tables).await.unwrap();
    });

    let types = db.query(&format!(
        "SELECT COLUMN_NAME, COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = 'item' ORDER BY ORDINAL_POSITION",
        db.name
    ));
    let types: Vec<(&str, &str, &str)> = types
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "bigint(20)", "auto_increment"),
            ("code", "char(3)", ""),
            ("name", "varchar(10)", ""),
            ("qty", "smallint(6)", ""),
            ("n", "int(11)", ""),
            ("ratio", "float", ""),
            ("price", "decimal(6,2)", ""),
        ]
    );
    let constraints = db.query(&format!(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = '{}' AND TABLE_NAME IN ('item', 'line')",
        db.name
    ));
    let mut constraints: Vec<String> = constraints.iter().map(|r| r.join(" ")).collect();
    constraints.sort();
    assert_eq!(
        constraints,
        [
            "item PRIMARY PRIMARY KEY",
            "item item_qty_positive CHECK",
            "item uq_item_code UNIQUE",
            "line PRIMARY PRIMARY KEY",
            "line fk_line_item FOREIGN KEY",
            "line line_item_positive CHECK",
        ]
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = 'item' AND INDEX_NAME = 'ix_item_name_qty'",
            db.name
        )),
        "2"
    );
    // The row that broke the check is in quarantine, with the check named.
    let rejects = db.query(
        "SELECT table_name, source_key, code, reason FROM _ferry_rejects ORDER BY table_name",
    );
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0][..3], ["item", "50", "check"]);
    assert!(
        rejects[0][3].contains("item_qty_positive"),
        "{}",
        rejects[0][3]
    );
    assert_eq!(rejects[1][..3], ["line", "2", "fk-orphan"]);
    assert_eq!(db.count("item"), 3);
    // The check is enforced from now on.
    assert!(
        mariadb_fails(&db, "INSERT INTO item (code, qty) VALUES ('EEE', 0)"),
        "the check refuses qty 0"
    );
    // The application's next INSERT without an id gets max + 1.
    db.query("INSERT INTO item (code, name, qty) VALUES ('FFF', 'new', 1)");
    assert_eq!(db.scalar("SELECT id FROM item WHERE code = 'FFF'"), "42");
    db.query("INSERT INTO line (item_id) VALUES (42)");
    assert_eq!(db.scalar("SELECT MAX(id) FROM line"), "4");
}

/// Whether the mariadb client fails to run `sql` in `db` (the server as
/// `util` finds it).
fn mariadb_fails(db: &MyDb, sql: &str) -> bool {
    let host = std::env::var("FERRY_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("FERRY_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into());
    !std::process::Command::new("mariadb")
        .args(["-h", &host, "-P", &port, "-u", "root", &db.name, "-e", sql])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn views_are_created_whatever_their_order_and_a_failing_one_is_reported() {
    let db = MyDb::new("fid_views");
    let (item, _) = item_and_line();
    let tables = vec![target(item)];
    let view = |name: &str, definition: &str| ViewDef {
        name: name.into(),
        definition: definition.into(),
    };
    rt().block_on(async {
        let mut s = sink(&db).await;
        s.prepare(&tables, IfExists::Fail).await.unwrap();
        // The view on a view comes first; a view on a missing table fails.
        let views = vec![
            view(
                "cheap_codes",
                "select `code` from `cheap_items` where `price` < 10",
            ),
            view("broken", "select * from `no_such_table`"),
            view(
                "cheap_items",
                "select `id`, `code`, `price` from `item` where `price` < 100",
            ),
        ];
        let outcomes = s.create_views(&views, IfExists::Fail).await.unwrap();
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["cheap_codes", "broken", "cheap_items"]);
        assert_eq!(outcomes[0].error, None);
        assert_eq!(outcomes[2].error, None);
        let err = outcomes[1].error.as_deref().unwrap();
        assert!(err.contains("no_such_table"), "{err}");

        // Existing views: refused one by one, or replaced with Drop.
        let again = s.create_views(&views[..1], IfExists::Fail).await.unwrap();
        assert!(again[0].error.as_deref().unwrap().contains("exists"));
        let replaced = view(
            "cheap_items",
            "select `id`, `code`, `price` from `item` where `price` < 5",
        );
        let outcomes = s
            .create_views(&[replaced, views[0].clone()], IfExists::Drop)
            .await
            .unwrap();
        assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    });
    db.query("INSERT INTO item (code, qty, price) VALUES ('AAA', 1, 3), ('BBB', 1, 7)");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM cheap_codes"), "1");
    let views = db.query(&format!(
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '{}' ORDER BY TABLE_NAME",
        db.name
    ));
    assert_eq!(views, [["cheap_codes"], ["cheap_items"]]);
}

#[test]
fn values_the_target_refuses_are_rejected_alone_and_the_rest_of_the_batch_is_written() {
    let db = MyDb::new("fid_refused");
    let def = TableDef {
        name: "thing".into(),
        columns: vec![
            col("id", LogicalType::Int64, false),
            typed("name", LogicalType::Text, SqlType::Varchar { length: 5 }),
            typed("qty", LogicalType::Int64, SqlType::SmallInt),
            col("label", LogicalType::Text, false),
            col("doc", LogicalType::Json, true),
        ],
        primary_key: vec!["id".into()],
        ..Default::default()
    };
    let t = target(def.clone());
    // 40 rows; five the target cannot take: a name over VARCHAR(5) (only
    // trailing spaces over, which MySQL would cut with a note), a qty over
    // SMALLINT, a NULL label (NOT NULL), a document that is not JSON, and
    // an id that repeats an earlier row's.
    let names: Vec<String> = (1..=40).map(|i| format!("n{i}")).collect();
    let rows: Vec<Vec<V<'_>>> = (1..=40i64)
        .map(|i| {
            let id = if i == 35 { 3 } else { i };
            vec![
                V::I(id),
                V::T(if i == 7 {
                    "abcde  "
                } else {
                    &names[i as usize - 1]
                }),
                V::I(if i == 13 { 70_000 } else { i }),
                if i == 21 { V::Null } else { V::T("label") },
                V::T(if i == 30 { "{not json" } else { r#"{"a":1}"# }),
            ]
        })
        .collect();
    let b = batch(&def, &rows);
    let (written, rejected) = rt().block_on(async {
        let mut s = sink(&db).await;
        s.prepare(std::slice::from_ref(&t), IfExists::Fail)
            .await
            .unwrap();
        write(s.as_mut(), &t, &b).await
    });
    assert_eq!(written, 35);
    let summary: Vec<(&str, &str, Option<&str>)> = rejected
        .iter()
        .map(|(id, code, column, _)| (id.as_str(), code.as_str(), column.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("3", "duplicate-key", None),
            ("7", "too-long", Some("name")),
            ("13", "out-of-range", Some("qty")),
            ("21", "unstorable", Some("label")),
            ("30", "unstorable", None),
        ]
    );
    let reason = |id: &str| &rejected.iter().find(|r| r.0 == id).unwrap().3;
    assert!(reason("7").contains("VARCHAR(5)"), "{}", reason("7"));
    assert!(reason("13").contains("SMALLINT"), "{}", reason("13"));
    assert!(reason("21").contains("(error 1048)"), "{}", reason("21"));
    assert!(reason("30").contains("(error 4025)"), "{}", reason("30"));
    assert!(reason("3").contains("(error 1062)"), "{}", reason("3"));
    // Every other row is in the table, the first row with id 3 among them;
    // the rejects committed with them.
    assert_eq!(db.count("thing"), 35);
    assert_eq!(db.scalar("SELECT name FROM thing WHERE id = 3"), "n3");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM thing WHERE id IN (7, 13, 21, 30)"),
        "0"
    );
    assert_eq!(db.count("_ferry_rejects"), 5);
}

#[test]
fn a_null_primary_key_is_rejected_with_a_true_reason_and_a_null_source_key() {
    let db = MyDb::new("fid_nullkey");
    // SQLite keeps NULLs in a primary key that is not the rowid.
    let def = TableDef {
        name: "legacy".into(),
        columns: vec![
            col("id", LogicalType::Int64, true),
            col("v", LogicalType::Text, true),
        ],
        primary_key: vec!["id".into()],
        ..Default::default()
    };
    let t = target(def.clone());
    let b = batch(
        &def,
        &[
            vec![V::I(1), V::T("a")],
            vec![V::Null, V::T("b")],
            vec![V::I(2), V::T("c")],
        ],
    );
    let out = rt().block_on(async {
        let mut s = sink(&db).await;
        s.prepare(std::slice::from_ref(&t), IfExists::Fail)
            .await
            .unwrap();
        s.write(Write {
            run_id: "run-1",
            table: &t,
            batch: &b,
            rejects: &[],
            checkpoint: None,
            upsert: false,
            replace: None,
            raw: None,
            keep_sent: false,
        })
        .await
        .unwrap()
    });
    assert_eq!(out.written, 2);
    assert_eq!(out.rejected.len(), 1);
    let r = &out.rejected[0];
    assert_eq!(r.code, "null-key");
    assert_eq!(
        r.reason,
        "primary key (id): NULL is not a key value; the source allowed it"
    );
    // As `Batch::source_key` renders it, so verify finds the row by key.
    assert_eq!(r.source_key.as_deref(), Some("null"));
    assert_eq!(r.column.as_deref(), Some("id"));
    assert_eq!(
        db.query("SELECT source_key, code FROM _ferry_rejects"),
        [["null", "null-key"]]
    );
}
