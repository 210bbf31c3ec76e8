//! The Chinook database (tests/data/chinook, MIT licence) round-trips
//! SQLite → PostgreSQL → MariaDB → json → SQLite. Every hop runs ferry's
//! end-of-run verify (counts, checksums over normalised values, sampled
//! rows, orphans, timestamp ranges, schema), and the last SQLite copy holds
//! the same values as the original under the documented mapping.

use std::path::{Path, PathBuf};

use crate::util::*;

fn chinook() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/chinook/Chinook_Sqlite.sqlite")
}

/// Runs one hop and checks that verify passed for every table.
fn hop(from: &str, to: &str) -> serde_json::Value {
    let out = ferry(&["migrate", "--from", from, "--to", to, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{from} → {to}: {}",
        stderr(&out)
    );
    let r = report(&out);
    let v = &r["verify"];
    assert_eq!(v["ok"], true, "{from} → {to}: {v}");
    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 11, "{from} → {to}");
    for t in tables {
        assert_eq!(t["checksum"]["status"], "match", "{from} → {to}: {t}");
        assert_eq!(t["sample"]["status"], "match", "{from} → {to}: {t}");
        assert_eq!(t["source_rows"], t["target_rows"], "{from} → {to}: {t}");
    }
    r
}

/// Every row of every table, each value as SQLite's text form, sorted.
fn dump(path: &Path) -> Vec<(String, Vec<String>)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut tables: Vec<String> = c
        // SQLite's own tables (sqlite_sequence, sqlite_stat1 after ANALYZE) are not data.
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    tables
        .into_iter()
        .map(|t| {
            let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = st.column_count();
            let mut rows: Vec<String> = st
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => "NULL".to_string(),
                            rusqlite::types::ValueRef::Integer(x) => x.to_string(),
                            // NUMERIC(10,2) prices: compare as decimals (0.99).
                            rusqlite::types::ValueRef::Real(x) => x.to_string(),
                            rusqlite::types::ValueRef::Text(s) => {
                                String::from_utf8_lossy(s).into_owned()
                            }
                            rusqlite::types::ValueRef::Blob(b) => format!("x{}", hex::encode(b)),
                        })
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            (t, rows)
        })
        .collect()
}

#[test]
fn chinook_round_trips_sqlite_postgres_mariadb_json_sqlite_with_verify_at_each_hop() {
    let dir = tempdir();
    let src = format!("sqlite:{}", chinook().display());
    let pg = PgDb::new("chinook");
    let my = MyDb::new("chinook");
    let json = format!("json:{}", dir.path().join("chinook-json").display());
    let back = dir.path().join("chinook-back.db");
    let back_url = format!("sqlite:{}", back.display());

    hop(&src, &pg.url);
    hop(&pg.url, &my.url);
    hop(&my.url, &json);
    hop(&json, &back_url);

    // Values equal under the mapping: InvoiceDate/BirthDate/HireDate were
    // promoted to timestamps and come back as ISO text; everything else is
    // byte for byte.
    let normalise = |s: &str| s.replace(" 00:00:00", "");
    let a = dump(&chinook());
    let b = dump(&back);
    assert_eq!(
        a.iter()
            .map(|(t, r)| (t.clone(), r.len()))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|(t, r)| (t.clone(), r.len()))
            .collect::<Vec<_>>()
    );
    for ((t, ra), (_, rb)) in a.iter().zip(&b) {
        for (x, y) in ra.iter().zip(rb) {
            assert_eq!(normalise(x), normalise(y), "table {t}");
        }
    }
    // Keys and foreign keys came back too.
    assert_eq!(
        sqlite_scalar(
            &back,
            "SELECT count(*) FROM pragma_foreign_key_list('InvoiceLine')"
        ),
        "2"
    );
    assert_eq!(
        sqlite_scalar(&back, "SELECT count(*) FROM pragma_foreign_key_check"),
        "0"
    );
}
