//! `ferry probe` through the real binary: PostgreSQL, MariaDB and SQLite
//! targets migrated from the bundled example (plus a table with an indexed
//! timestamp and a files run's content table, so every kind of query is
//! derived), compared with their source; a foreign key's index dropped by
//! hand found; a threshold set below what is measured failing the exit
//! code; user queries; `ferry migrate --probe`. Nothing is asserted on
//! wall-clock time: percentiles are checked for shape (present, ordered).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, MyDb, PgDb};

/// The bundled example, plus `shipments` (an indexed timestamp) and a
/// `content` table from a files run of a few Markdown notes.
fn source(dir: &Path) -> PathBuf {
    let db = dir.join("source.db");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop.db"),
        &db,
    )
    .unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE shipments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id),
                                     shipped_at TIMESTAMP NOT NULL, carrier TEXT);
             CREATE INDEX shipments_order ON shipments (order_id);
             CREATE INDEX shipments_at ON shipments (shipped_at);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO shipments (order_id, shipped_at, carrier)
             SELECT (SELECT min(id) FROM orders) + i % 500,
                    strftime('%Y-%m-%d %H:%M:%S', '2021-01-01', '+' || (i * 3) || ' hours'),
                    CASE i % 3 WHEN 0 THEN 'post' WHEN 1 THEN 'courier' ELSE 'pickup' END
             FROM n;",
        )
        .unwrap();
    let notes = dir.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let words = [
        "harbour", "lantern", "meadow", "orchard", "quarry", "thistle",
    ];
    for i in 0..30 {
        std::fs::write(
            notes.join(format!("note{i:02}.md")),
            format!(
                "---\ntitle: Note {i}\n---\n# Note {i}\n\nAbout the {} and the {} near the {}.\n",
                words[i % 6],
                words[(i + 1) % 6],
                words[(i + 2) % 6]
            ),
        )
        .unwrap();
    }
    let out = util::ferry(&[
        "migrate",
        "--from",
        &format!("files:{}", notes.display()),
        "--to",
        &format!("sqlite:{}", db.display()),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    db
}

fn migrate(from: &Path, to: &str) {
    let out = util::ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", from.display()),
        "--to",
        to,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
}

fn probe(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["probe", "--duration", "1s", "--clients", "4", "--json"];
    all.extend_from_slice(args);
    let out = util::ferry(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            util::stdout(&out),
            util::stderr(&out)
        )
    });
    (out.status.code(), v)
}

const KINDS: [&str; 5] = [
    "pk_lookup",
    "fk_join",
    "range_scan",
    "unique_eq",
    "text_search",
];

/// Every kind present, with ordered percentiles and no errors.
fn assert_every_kind(r: &Value) {
    let kinds: Vec<&str> = r["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    for k in KINDS {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    for k in r["kinds"].as_array().unwrap().iter().chain([&r["overall"]]) {
        let p = |f: &str| k[f].as_f64().unwrap();
        assert!(k["count"].as_u64().unwrap() > 0, "{k}");
        assert!(
            p("p50_ms") <= p("p95_ms") && p("p95_ms") <= p("p99_ms") && p("p99_ms") <= p("max_ms"),
            "{k}"
        );
        assert_eq!(k["errors"], 0, "{k}");
    }
    assert_eq!(r["connect"]["count"], 4);
    assert!(r["acquire"]["count"].as_u64().unwrap() >= r["queries"].as_u64().unwrap());
}

fn side_by_side(target: &str, src: &Path) {
    let from = format!("sqlite:{}", src.display());
    let (code, r) = probe(&["--to", target, "--from", &from]);
    assert_every_kind(&r);
    let (compared, differed) = (
        r["compared"][0].as_u64().unwrap(),
        r["compared"][1].as_u64().unwrap(),
    );
    assert!(compared >= 50, "{r}");
    assert_eq!(differed, 0, "results differ: {}", r["findings"]);
    assert!(r["overall"]["source"]["count"].as_u64().unwrap() > 0);
    assert!(r["kinds"][0]["ratio_p50"].as_f64().is_some());
    assert_eq!(code, Some(0), "{}", r["findings"]);
    assert_eq!(r["passed"], true);
}

#[test]
fn a_postgresql_target_probed_beside_its_sqlite_source_gives_equal_results() {
    let dir = util::tempdir();
    let src = source(dir.path());
    let db = PgDb::new("probe_pg");
    migrate(&src, &db.url);
    side_by_side(&db.url, &src);

    // A foreign key's index dropped by hand is a finding with its fix;
    // the fix applied, the finding is gone.
    db.query("DROP INDEX shipments_order");
    let (_, r) = probe(&["--to", &db.url]);
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["kind"] == "unindexed_foreign_key"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("shipments(order_id)")
        })
        .unwrap_or_else(|| panic!("no finding for shipments(order_id): {}", r["findings"]))
        .clone();
    db.query(f["fix"].as_str().unwrap());
    let (_, r) = probe(&["--to", &db.url]);
    assert!(
        !r["findings"].to_string().contains("shipments(order_id)"),
        "{}",
        r["findings"]
    );

    // A threshold below what is measured fails the exit code.
    let (code, r) = probe(&["--to", &db.url, "--p95", "0ms"]);
    assert_eq!(code, Some(4));
    assert_eq!(r["passed"], false);
    assert!(r["findings"].to_string().contains("above the threshold"));
}

#[test]
fn a_mariadb_target_probed_beside_its_sqlite_source_gives_equal_results() {
    let dir = util::tempdir();
    let src = source(dir.path());
    let db = MyDb::new("probe_my");
    migrate(&src, &db.url);
    side_by_side(&db.url, &src);
    let (code, _) = probe(&["--to", &db.url, "--p95", "0ms"]);
    assert_eq!(code, Some(4));
}

#[test]
fn a_sqlite_target_probed_beside_its_source_and_a_scan_found_in_its_plan() {
    let dir = util::tempdir();
    let src = source(dir.path());
    let target = dir.path().join("target.db");
    let url = format!("sqlite:{}", target.display());
    migrate(&src, &url);
    side_by_side(&url, &src);
    // SQLite makes no index for a foreign key: order_items(sku) has none,
    // and the join from products reads all of order_items.
    let (_, r) = probe(&["--to", &url]);
    let findings = r["findings"].to_string();
    assert!(
        findings.contains("order_items(sku) → products has no index"),
        "{findings}"
    );
    assert!(
        findings.contains("reads all 12000 rows of order_items"),
        "{findings}"
    );
    let (code, _) = probe(&["--to", &url, "--p95", "0ms"]);
    assert_eq!(code, Some(4));
}

#[test]
fn user_queries_run_with_their_weights_and_sampled_values_and_mistakes_are_named() {
    let dir = util::tempdir();
    let target = dir.path().join("t.db");
    migrate(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/shop.db")),
        &format!("sqlite:{}", target.display()),
    );
    let url = format!("sqlite:{}", target.display());
    let q = dir.path().join("queries.sql");
    std::fs::write(
        &q,
        "-- the application's hot queries\n\
         @3 SELECT * FROM customers WHERE id = $1 -- $1: customers.id\n\
         SELECT count(*) FROM orders WHERE customer_id = $1 AND status = $2 -- $1: orders.customer_id, $2: orders.status\n",
    )
    .unwrap();
    let (code, r) = probe(&["--to", &url, "--queries", q.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{r}");
    assert_eq!(r["kinds"].as_array().unwrap().len(), 1);
    assert_eq!(r["kinds"][0]["kind"], "user");
    assert_eq!(r["kinds"][0]["shapes"], 2);
    assert_eq!(r["shapes"][0]["weight"], 3);
    assert!(r["kinds"][0]["count"].as_u64().unwrap() > 0);

    std::fs::write(&q, "SELECT * FROM customers WHERE id = $1\n").unwrap();
    let out = util::ferry(&[
        "probe",
        "--to",
        &url,
        "--queries",
        q.to_str().unwrap(),
        "--duration",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("queries.sql:1: $1 has no source"),
        "{}",
        util::stderr(&out)
    );
}

#[test]
fn migrate_with_probe_adds_the_probe_to_its_report() {
    let dir = util::tempdir();
    let db = PgDb::new("probe_migrate");
    let cfg = util::write_config(dir.path(), "[probe]\nclients = 2\nduration = \"1s\"\n");
    let out = util::ferry(&[
        "--config",
        cfg.to_str().unwrap(),
        "migrate",
        "--from",
        concat!(
            "sqlite:",
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/shop.db"
        ),
        "--to",
        &db.url,
        "--probe",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    let r = util::report(&out);
    assert_eq!(r["verify"]["ok"], true);
    assert_eq!(r["probe"]["clients"], 2);
    assert!(
        r["probe"]["overall"]["count"].as_u64().unwrap() > 0,
        "{}",
        r["probe"]
    );
    assert_eq!(r["probe"]["passed"], true);
}
