//! Schema fidelity in the PostgreSQL driver, through the library API
//! (`open_source`/`open_sink` and the traits), against a real server: what a
//! PostgreSQL source reports (identities, CHECKs, names, views in dependency
//! order, every other object listed as not carried), what a PostgreSQL sink
//! creates from a plan's target definitions (declared types, identities,
//! CHECKs with their violators quarantined, true NULL-key reasons), the
//! counters it restarts, the views it creates, and the rows it rejects one
//! by one when PostgreSQL cannot hold a value.

use crate::util::*;
use ferry::endpoint::{
    EndpointUrl, IfExists, TargetTable, ViewOutcome, Write, open_sink, open_source,
};
use ferry::model::{
    Batch, BatchBuilder, CheckDef, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, SqlType,
    TableDef, UniqueDef, ViewDef,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn col(name: &str, t: LogicalType) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable: true,
        ..Default::default()
    }
}

fn declared(mut c: ColumnDef, t: SqlType) -> ColumnDef {
    c.sql_type = Some(t);
    c
}

fn target(def: TableDef) -> TargetTable {
    TargetTable {
        source: def.clone(),
        def,
    }
}

/// `format_type` of every column of `table`, in order.
fn column_types(pg: &PgDb, table: &str) -> Vec<Vec<String>> {
    pg.query(&format!(
        "SELECT attname, format_type(atttypid, atttypmod), attidentity FROM pg_attribute \
         WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    ))
}

fn write<'a>(run: &'a str, t: &'a TargetTable, batch: &'a Batch, upsert: bool) -> Write<'a> {
    Write {
        run_id: run,
        table: t,
        batch,
        rejects: &[],
        checkpoint: None,
        upsert,
        replace: None,
        raw: None,
        keep_sent: false,
    }
}

const SOURCE_DDL: &str = r#"
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('ok', 'sad');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE customers (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email varchar(45) NOT NULL CONSTRAINT uq_customers_email UNIQUE,
    grade char(1) CONSTRAINT ck_grade CHECK (grade IN ('A', 'B', 'C')),
    age smallint CHECK (age >= 0),
    feeling mood,
    nick citext
);
CREATE TABLE orders (
    id serial PRIMARY KEY,
    customer_id integer NOT NULL CONSTRAINT fk_orders_customer REFERENCES customers (id),
    total numeric(8,2),
    code text DEFAULT 'new',
    doubled numeric GENERATED ALWAYS AS (total * 2) STORED
);
ALTER TABLE orders ADD CONSTRAINT ck_total_positive CHECK (total > 0) NOT VALID;
CREATE INDEX ix_orders_code ON orders (code);
CREATE INDEX ix_orders_lower_code ON orders (lower(code));
CREATE TABLE events (id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- Named so that name order is not dependency order.
CREATE VIEW big_orders AS SELECT id, customer_id, total FROM orders WHERE total > 100;
CREATE VIEW a_big_customers AS
    SELECT c.id, c.email FROM customers c JOIN big_orders o ON o.customer_id = c.id;
CREATE MATERIALIZED VIEW order_totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY 1;
CREATE VIEW top_totals AS SELECT * FROM order_totals WHERE total > 1000;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION touch();
CREATE PROCEDURE noop() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE SEQUENCE invoice_numbers START 1000;
SELECT nextval('invoice_numbers');
CREATE TABLE notes (id bigint PRIMARY KEY, body text);
CREATE TABLE special_notes (extra text) INHERITS (notes);
INSERT INTO notes VALUES (1, 'a');
INSERT INTO special_notes VALUES (2, 'b', 'x');
"#;

#[test]
fn source_reports_identities_checks_names_views_in_order_and_everything_not_carried() {
    let pg = PgDb::new("fid_pgsrc");
    pg.query(SOURCE_DDL);
    let rt = runtime();
    let (tables, objects, notes) = rt.block_on(async {
        let url: EndpointUrl = pg.url.parse().unwrap();
        let s = open_source(&url).await.unwrap();
        let tables = s.tables().await.unwrap();
        let objects = s.objects(&tables).await.unwrap();
        let notes = s.count("notes").await.unwrap();
        (tables, objects, notes)
    });
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["customers", "events", "notes", "orders", "special_notes"],
        "views, the materialized view and the partition are not tables"
    );
    assert_eq!(notes, 1, "a parent's own rows, not its child's too");
    let customers = &tables[0];
    let orders = &tables[3];
    let c = |t: &TableDef, n: &str| t.columns.iter().find(|c| c.name == n).unwrap().clone();
    assert!(c(customers, "id").identity, "GENERATED ALWAYS AS IDENTITY");
    assert_eq!(c(customers, "id").default, None);
    assert!(
        c(orders, "id").identity,
        "serial: nextval of a sequence it owns"
    );
    assert_eq!(
        c(orders, "id").default,
        None,
        "the serial's nextval is no default"
    );
    assert!(!c(orders, "customer_id").identity);
    assert_eq!(c(orders, "code").default.as_deref(), Some("'new'::text"));
    assert_eq!(c(customers, "email").declared_type, "character varying(45)");
    assert_eq!(c(customers, "grade").declared_type, "character(1)");
    assert_eq!(c(customers, "age").declared_type, "smallint");
    assert!(
        orders.columns.iter().all(|c| c.name != "doubled"),
        "a generated column is not data"
    );

    let checks = |t: &TableDef| -> Vec<(String, String)> {
        t.checks
            .iter()
            .map(|c| (c.name.clone(), c.expression.clone()))
            .collect()
    };
    assert_eq!(
        checks(customers),
        [
            (
                "ck_grade".to_string(),
                "grade = ANY (ARRAY['A'::bpchar, 'B'::bpchar, 'C'::bpchar])".to_string()
            ),
            ("customers_age_check".into(), "age >= 0".into()),
        ]
    );
    assert_eq!(
        checks(orders),
        [(
            "ck_total_positive".to_string(),
            "total > (0)::numeric".to_string()
        )],
        "without NOT VALID"
    );
    assert_eq!(customers.unique[0].name, "uq_customers_email");
    assert_eq!(orders.foreign_keys[0].name, "fk_orders_customer");
    let ix: Vec<&str> = orders.indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(ix, ["ix_orders_code"]);

    let views: Vec<&str> = objects.views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        views,
        ["big_orders", "a_big_customers"],
        "a view after the view it reads"
    );
    for v in &objects.views {
        assert!(v.definition.starts_with("SELECT"), "{v:?}");
        assert!(!v.definition.ends_with(';'), "{v:?}");
    }
    assert!(
        objects.views[1].definition.contains("JOIN big_orders o"),
        "{}",
        objects.views[1].definition
    );

    let mut listed: Vec<(String, String)> = objects
        .not_carried
        .iter()
        .map(|n| (n.kind.clone(), n.name.clone()))
        .collect();
    listed.sort();
    let expected: Vec<(String, String)> = [
        ("column", "orders.doubled"),
        ("extension", "citext"),
        ("function", "touch()"),
        ("index", "orders.ix_orders_lower_code"),
        ("materialized view", "order_totals"),
        ("partition", "events_2024"),
        ("procedure", "noop()"),
        ("sequence", "invoice_numbers"),
        ("table", "special_notes"),
        ("trigger", "orders.orders_touch"),
        ("type", "mood"),
        ("type", "posint"),
        ("view", "top_totals"),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), n.to_string()))
    .collect();
    assert_eq!(listed, expected, "{:#?}", objects.not_carried);
    let reason = |name: &str| {
        objects
            .not_carried
            .iter()
            .find(|n| n.name == name)
            .unwrap()
            .reason
            .clone()
    };
    assert!(
        reason("invoice_numbers").contains("setval('invoice_numbers', 1000)"),
        "{}",
        reason("invoice_numbers")
    );
    assert!(reason("top_totals").contains("materialized view `order_totals`"));
    assert!(reason("orders.orders_touch").contains("CREATE TRIGGER orders_touch"));
    assert!(reason("mood").contains("'ok', 'sad'"));

    // Leaving `orders` out of the run: its views are listed, not carried.
    let only: Vec<TableDef> = tables
        .iter()
        .filter(|t| t.name != "orders")
        .cloned()
        .collect();
    let objects = rt.block_on(async {
        let url: EndpointUrl = pg.url.parse().unwrap();
        open_source(&url)
            .await
            .unwrap()
            .objects(&only)
            .await
            .unwrap()
    });
    assert!(objects.views.is_empty(), "{:?}", objects.views);
    let dropped: Vec<&str> = objects
        .not_carried
        .iter()
        .filter(|n| n.kind == "view")
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(dropped, ["a_big_customers", "big_orders", "top_totals"]);
    assert!(
        !objects
            .not_carried
            .iter()
            .any(|n| n.name.starts_with("orders.")),
        "objects of a table left out are not listed"
    );
}

/// `items` (identity, declared types, a unique, an index, a CHECK) and
/// `keyed` (a nullable text key).
fn sink_tables() -> Vec<TargetTable> {
    let mut id = declared(col("id", LogicalType::Int64), SqlType::Integer);
    id.identity = true;
    id.nullable = false;
    let items = TableDef {
        name: "items".into(),
        columns: vec![
            id,
            declared(
                col("code", LogicalType::Text),
                SqlType::Varchar { length: 5 },
            ),
            declared(col("qty", LogicalType::Int64), SqlType::SmallInt),
            declared(
                col("price", LogicalType::Decimal),
                SqlType::Numeric {
                    precision: 6,
                    scale: 2,
                },
            ),
            declared(col("ratio", LogicalType::Float64), SqlType::Real),
            declared(col("grade", LogicalType::Text), SqlType::Char { length: 1 }),
        ],
        primary_key: vec!["id".into()],
        unique: vec![UniqueDef {
            name: "uq_items_code".into(),
            columns: vec!["code".into()],
        }],
        indexes: vec![IndexDef {
            name: "ix_items_qty".into(),
            columns: vec!["qty".into()],
            unique: false,
        }],
        checks: vec![CheckDef {
            name: "ck_qty_positive".into(),
            expression: "qty > 0".into(),
        }],
        ..Default::default()
    };
    let mut part_id = col("id", LogicalType::Int64);
    part_id.identity = true;
    part_id.nullable = false;
    let parts = TableDef {
        name: "parts".into(),
        columns: vec![part_id, col("item_id", LogicalType::Int64)],
        primary_key: vec!["id".into()],
        foreign_keys: vec![ForeignKeyDef {
            name: "fk_parts_item".into(),
            columns: vec!["item_id".into()],
            ref_table: "items".into(),
            ref_columns: vec!["id".into()],
            on_delete: "NO ACTION".into(),
            on_update: "NO ACTION".into(),
        }],
        ..Default::default()
    };
    let keyed = TableDef {
        name: "keyed".into(),
        columns: vec![col("k", LogicalType::Text), col("v", LogicalType::Int64)],
        primary_key: vec!["k".into()],
        ..Default::default()
    };
    vec![target(items), target(parts), target(keyed)]
}

#[test]
fn sink_declares_types_identities_and_checks_quarantines_violators_and_restarts_counters() {
    let pg = PgDb::new("fid_pgsink");
    let tables = sink_tables();
    let rt = runtime();
    let url: EndpointUrl = pg.url.parse().unwrap();
    let mut sink = rt.block_on(open_sink(&url)).unwrap();

    let items = &tables[0];
    let mut b = BatchBuilder::new(&items.def.schema(), 4);
    for (id, code, qty, price, ratio, grade) in [
        (3, "a", 5, "1.50", 0.5, "A"),
        (7, "b", -1, "2.00", 1.25, "B"),
        (10, "c", 2, "9999.99", 2.0, "C"),
    ] {
        b.push_int(0, id);
        b.push_bytes(1, code.as_bytes()).unwrap();
        b.push_int(2, qty);
        b.push_bytes(3, price.as_bytes()).unwrap();
        b.push_float(4, ratio);
        b.push_bytes(5, grade.as_bytes()).unwrap();
        b.end_row();
    }
    let items_batch = b.finish();
    let keyed = &tables[2];
    let mut b = BatchBuilder::new(&keyed.def.schema(), 4);
    for (k, v) in [(Some("x"), 1), (None, 2), (Some("x"), 3), (Some("y"), 4)] {
        match k {
            Some(k) => b.push_bytes(0, k.as_bytes()).unwrap(),
            None => b.push_null(0),
        }
        b.push_int(1, v);
        b.end_row();
    }
    let keyed_batch = b.finish();

    let (finished, synced) = rt.block_on(async {
        sink.prepare(&tables, IfExists::Fail).await.unwrap();
        for (t, batch) in [(&tables[0], &items_batch), (&tables[2], &keyed_batch)] {
            let out = sink.write(write("run1", t, batch, false)).await.unwrap();
            assert_eq!(out.written, batch.num_rows as u64);
            assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        }
        let finished = sink.finish("run1", &tables).await.unwrap();
        let synced = sink.sync_identity(&tables).await.unwrap();
        sink.analyze(&tables).await.unwrap();
        (finished, synced)
    });

    assert_eq!(
        column_types(&pg, "items"),
        [
            ["id", "integer", "d"],
            ["code", "character varying(5)", ""],
            ["qty", "smallint", ""],
            ["price", "numeric(6,2)", ""],
            ["ratio", "real", ""],
            ["grade", "character(1)", ""],
        ]
    );
    assert_eq!(column_types(&pg, "parts")[0], ["id", "bigint", "d"]);
    // Every constraint and index under the name the plan gave it.
    assert_eq!(
        pg.query(
            "SELECT conname, contype FROM pg_constraint WHERE conrelid IN ('items'::regclass, 'parts'::regclass) \
             AND contype IN ('u', 'c', 'f') ORDER BY 1"
        ),
        [
            ["ck_qty_positive", "c"],
            ["fk_parts_item", "f"],
            ["uq_items_code", "u"],
        ]
    );
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_items_qty'"),
        "1"
    );
    assert!(
        finished
            .created
            .iter()
            .any(|c| c == "check ck_qty_positive"),
        "{:?}",
        finished.created
    );
    // The CHECK's violator moved to the rejects, with its reason and key.
    assert_eq!(
        pg.query("SELECT id FROM items ORDER BY id"),
        [["3"], ["10"]]
    );
    assert_eq!(
        pg.query(
            "SELECT table_name, source_key, code, reason FROM _ferry_rejects WHERE table_name = 'items'"
        ),
        [[
            "items",
            "7",
            "check",
            "check ck_qty_positive (qty > 0): false for this row on the target, so the check could not be created with it"
        ]]
    );
    // A NULL key: a true reason and the key verify expects (`null`); the
    // duplicate keeps its own.
    assert_eq!(
        pg.query(
            "SELECT source_key, code, reason FROM _ferry_rejects WHERE table_name = 'keyed' ORDER BY code"
        ),
        [
            [
                "\"x\"",
                "duplicate-key",
                "primary key (k): the value \"x\" is already taken by an earlier row; the first row loaded keeps it"
            ],
            [
                "null",
                "null-key",
                "primary key (k): NULL is not a key value; the source allowed it"
            ],
        ]
    );
    assert_eq!(
        finished.quarantined,
        [("items".to_string(), 1), ("keyed".to_string(), 2)]
    );

    // The application's next INSERT without an id gets max + 1.
    assert_eq!(
        synced,
        [
            "items.id: identity continues at 11",
            "parts.id: identity continues at 1"
        ]
    );
    assert_eq!(
        pg.scalar("INSERT INTO items (code, qty) VALUES ('new', 1) RETURNING id"),
        "11"
    );
    assert_eq!(
        pg.scalar("INSERT INTO parts (item_id) VALUES (3) RETURNING id"),
        "1"
    );
    assert_ne!(
        pg.scalar("SELECT coalesce(last_analyze::text, 'never') FROM pg_stat_user_tables WHERE relname = 'items'"),
        "never",
        "ANALYZE ran"
    );

    // A resumed finish finds everything built and builds nothing twice;
    // a second sync after more rows continues after them.
    pg.query("INSERT INTO items (id, code, qty) VALUES (40, 'z', 1)");
    let synced = rt.block_on(async {
        let again = sink.finish("run1", &tables).await.unwrap();
        assert!(again.quarantined.is_empty(), "{:?}", again.quarantined);
        sink.sync_identity(&tables[..1]).await.unwrap()
    });
    assert_eq!(synced, ["items.id: identity continues at 41"]);
    assert_eq!(
        pg.scalar("INSERT INTO items (code, qty) VALUES ('n2', 1) RETURNING id"),
        "41"
    );
}

#[test]
fn create_views_in_any_order_and_a_broken_one_is_reported_with_its_error() {
    let pg = PgDb::new("fid_pgviews");
    pg.query(
        "CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    );
    let views = vec![
        ViewDef {
            name: "v_top".into(),
            definition: "SELECT id FROM v_base WHERE id > 1".into(),
        },
        ViewDef {
            name: "v_broken".into(),
            definition: "SELECT nope FROM t".into(),
        },
        ViewDef {
            name: "v_base".into(),
            definition: "SELECT id, v FROM t".into(),
        },
    ];
    let rt = runtime();
    let url: EndpointUrl = pg.url.parse().unwrap();
    let mut sink = rt.block_on(open_sink(&url)).unwrap();
    let check = |out: &[ViewOutcome], existing: bool| {
        let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["v_top", "v_broken", "v_base"], "in the order given");
        if existing {
            for o in [&out[0], &out[2]] {
                assert!(
                    o.error
                        .as_deref()
                        .is_some_and(|e| e.contains("already exists")),
                    "{o:?}"
                );
            }
        } else {
            assert_eq!(out[0].error, None, "{out:?}");
            assert_eq!(out[2].error, None, "{out:?}");
        }
        let broken = out[1].error.as_deref().unwrap_or_default();
        assert!(
            broken.contains("column \"nope\" does not exist"),
            "{broken}"
        );
    };
    let out = rt
        .block_on(sink.create_views(&views, IfExists::Fail))
        .unwrap();
    check(&out, false);
    assert_eq!(pg.query("SELECT id FROM v_top"), [["2"]]);
    // Again: refused where they exist, unless asked to replace them.
    let out = rt
        .block_on(sink.create_views(&views, IfExists::Fail))
        .unwrap();
    check(&out, true);
    let out = rt
        .block_on(sink.create_views(&views, IfExists::Drop))
        .unwrap();
    check(&out, false);
    assert_eq!(pg.query("SELECT id FROM v_top"), [["2"]]);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM pg_views WHERE schemaname = 'public'"),
        "2"
    );
}

/// `r`: one table with a value PostgreSQL cannot hold in each of several
/// rows, the other rows clean.
fn refused_table() -> TargetTable {
    let mut nn = col("nn", LogicalType::Text);
    nn.nullable = false;
    target(TableDef {
        name: "r".into(),
        columns: vec![
            col("id", LogicalType::Int64),
            col("t", LogicalType::Text),
            col("j", LogicalType::Json),
            declared(col("s", LogicalType::Int64), SqlType::SmallInt),
            declared(col("v", LogicalType::Text), SqlType::Varchar { length: 3 }),
            col("d", LogicalType::Date),
            nn,
        ],
        primary_key: vec!["id".into()],
        ..Default::default()
    })
}

#[test]
fn values_postgresql_refuses_reject_their_rows_and_every_other_row_is_written() {
    let pg = PgDb::new("fid_pgrefuse");
    let t = refused_table();
    let schema = t.def.schema();
    let mut b = BatchBuilder::new(&schema, 16);
    // (id, t, j, s, v, days since 1970, nn): one problem per odd row.
    type Row<'a> = (i64, &'a str, &'a str, i64, &'a str, i32, Option<&'a str>);
    let rows: Vec<Row> = vec![
        (1, "ok", "{}", 1, "abc", 0, Some("x")),
        (2, "nul\0here", "{}", 1, "a", 0, Some("x")),
        (3, "ok", "[1]", 2, "b", 1, Some("x")),
        (4, "ok", r#"{"a":"x\u0000"}"#, 1, "a", 0, Some("x")),
        (5, "ok", r#"{"a":"\\u0000"}"#, 3, "c", 2, Some("x")),
        (6, "ok", "{}", 40000, "a", 0, Some("x")),
        (7, "ok", "{}", -32768, "ééé", 3, Some("x")),
        (8, "ok", "{}", 1, "abcd", 0, Some("x")),
        (9, "ok", "{}", 4, "d", 4, Some("x")),
        (10, "ok", "{}", 1, "a", -3_000_000, Some("x")),
        (11, "ok", "{}", 5, "e", 5, Some("x")),
        (12, "ok", "{}", 1, "a", 0, None),
        (13, "ok", "{}", 6, "f", 6, Some("x")),
        (14, "ok", r#"{"a":"\ud800"}"#, 1, "a", 0, Some("x")),
        (15, "ok", "{}", 7, "g", 7, Some("x")),
    ];
    for (id, text, j, s, v, d, nn) in &rows {
        b.push_int(0, *id);
        b.push_bytes(1, text.as_bytes()).unwrap();
        b.push_bytes(2, j.as_bytes()).unwrap();
        b.push_int(3, *s);
        b.push_bytes(4, v.as_bytes()).unwrap();
        b.push_date(5, *d);
        match nn {
            Some(x) => b.push_bytes(6, x.as_bytes()).unwrap(),
            None => b.push_null(6),
        }
        b.end_row();
    }
    let batch = b.finish();
    let clean = ["1", "3", "5", "7", "9", "11", "13", "15"];
    let refused = [
        ("2", "unstorable", "t"),
        ("4", "unstorable", "j"),
        ("6", "out-of-range", "s"),
        ("8", "too-long", "v"),
        ("10", "refused", "d"),
        ("12", "refused", "nn"),
        ("14", "refused", "j"),
    ];
    let rt = runtime();
    let url: EndpointUrl = pg.url.parse().unwrap();
    let mut sink = rt.block_on(open_sink(&url)).unwrap();
    // With a ledger: the batch's checkpoint commits with its rows and
    // rejects, counting what was written and rejected.
    let before = ferry::ledger::Checkpoint {
        run_id: "run1".into(),
        table: "r".into(),
        position: Some(15),
        rows_read: 15,
        rows_written: 0,
        rows_rejected: 0,
        done: false,
        updated_at: None,
        cursor_column: None,
        cursor_value: None,
        offsets: None,
    };
    let (out, saved) = rt.block_on(async {
        sink.ledger().unwrap().init().await.unwrap();
        sink.prepare(std::slice::from_ref(&t), IfExists::Fail)
            .await
            .unwrap();
        let w = Write {
            checkpoint: Some(&before),
            ..write("run1", &t, &batch, false)
        };
        let out = sink.write(w).await.unwrap();
        let saved = sink.ledger().unwrap().checkpoints("run1").await.unwrap();
        (out, saved)
    });
    assert_eq!(
        (saved[0].rows_written, saved[0].rows_rejected),
        (clean.len() as u64, refused.len() as u64)
    );
    assert_eq!(out.written, clean.len() as u64);
    let got: Vec<(String, String, String)> = out
        .rejected
        .iter()
        .map(|r| {
            (
                r.source_key.clone().unwrap(),
                r.code.clone(),
                r.column.clone().unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = refused
        .iter()
        .map(|(k, c, col)| (k.to_string(), c.to_string(), col.to_string()))
        .collect();
    assert_eq!(got, want, "{:#?}", out.rejected);
    let ids = pg.query("SELECT id FROM r ORDER BY id");
    assert_eq!(ids, clean.map(|k| [k]));
    assert_eq!(
        pg.scalar("SELECT j::text FROM r WHERE id = 5"),
        r#"{"a": "\\u0000"}"#,
        "an escaped backslash is no NUL"
    );
    let stored = pg.query("SELECT source_key, code, reason FROM _ferry_rejects ORDER BY id");
    assert_eq!(stored.len(), refused.len(), "{stored:?}");
    let reason = |k: &str| stored.iter().find(|r| r[0] == k).unwrap()[2].clone();
    assert_eq!(
        reason("2"),
        "column `t`: PostgreSQL text cannot hold a NUL (0x00) byte"
    );
    assert_eq!(
        reason("4"),
        "column `j`: PostgreSQL jsonb cannot hold the JSON escape \\u0000 (a NUL character)"
    );
    assert_eq!(
        reason("6"),
        "column `s`: 40000 is out of range for smallint"
    );
    assert!(reason("8").contains("4 characters do not fit varchar(3)"));
    assert!(
        reason("10").contains("date out of range"),
        "{}",
        reason("10")
    );
    assert!(reason("12").contains("(23502)"), "{}", reason("12"));
    assert!(reason("14").starts_with("PostgreSQL refused the row: "));

    // The same batch again as an incremental run's upsert into the keyed
    // table: the stage refuses the same rows, the rest replace theirs.
    pg.query("ALTER TABLE r ADD PRIMARY KEY (id)");
    let out = rt
        .block_on(sink.write(write("run2", &t, &batch, true)))
        .unwrap();
    assert_eq!(out.written, clean.len() as u64);
    assert_eq!(out.rejected.len(), refused.len());
    assert_eq!(pg.count("r"), clean.len() as i64);
    assert_eq!(
        pg.scalar("SELECT count(*) FROM _ferry_rejects WHERE run_id = 'run2'"),
        refused.len().to_string()
    );
}
