//! `ferry schema diff`: a live database (SQLite, PostgreSQL, MariaDB)
//! against a json endpoint's `_schema.json` and against another database;
//! the migration it writes applied, after which `diff` finds nothing, and
//! its `down` applied, after which the live schema is the original again.
//! Renames only when asked; drops listed and commented out unless allowed.

use crate::util::{self, MyDb, PgDb};
use ferry::schema::diff::{Diff, DiffOptions, diff};
use std::path::Path;

fn run_diff(live: &str, desired: &str, opts: &DiffOptions) -> Diff {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(diff(live, desired, opts))
        .unwrap_or_else(|e| panic!("diff {live} → {desired}: {e}"))
}

fn allow() -> DiffOptions {
    DiffOptions {
        allow_destructive: true,
        ..Default::default()
    }
}

/// The desired schema: the shop fixture (users, orders, a foreign key, an
/// index, a unique email) written to `json:DIR` by a real migration.
fn shop_json(dir: &Path) -> String {
    let db = util::shop_fixture(dir, 5);
    let out = dir.join("shop-json");
    let o = util::ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", db.display()),
        "--to",
        &format!("json:{}", out.display()),
    ]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    assert!(out.join("_schema.json").is_file());
    out.display().to_string()
}

/// A live schema that differs from the shop in every way diff handles:
/// a column missing, one to drop, a type and a nullability to change, a
/// table to drop, a table to create (`orders`), an index, a unique key
/// and a foreign key to add.
const LIVE_SQL: &str =
    "CREATE TABLE users (id BIGINT PRIMARY KEY, name VARCHAR(20), age INT, legacy TEXT);
CREATE TABLE old_stuff (id BIGINT PRIMARY KEY, note TEXT);
INSERT INTO users (id, name, age, legacy) VALUES (1, 'ann', 30, 'x');
INSERT INTO old_stuff (id, note) VALUES (1, 'gone');";

fn sqlite_exec(path: &Path, sql: &str) {
    let c = rusqlite::Connection::open(path).expect("open");
    c.execute_batch(sql)
        .unwrap_or_else(|e| panic!("{e} in:\n{sql}"));
}

/// `up` applied, `diff` finds nothing; `down` applied, `diff` against the
/// original finds nothing.
fn round_trip(live: &str, original: &str, desired: &str, apply: &dyn Fn(&str)) {
    let d = run_diff(live, desired, &allow());
    eprintln!("up:\n{}\ndown:\n{}", d.up, d.down);
    assert!(d.changes > 5, "{d:?}");
    assert!(
        d.destructive.iter().any(|x| x.contains("old_stuff")),
        "{d:?}"
    );
    apply(&d.up);
    let again = run_diff(live, desired, &allow());
    assert_eq!(again.changes, 0, "after up:\n{}", again.up);
    apply(&d.down);
    let back = run_diff(live, original, &allow());
    assert_eq!(back.changes, 0, "after down:\n{}", back.up);
}

#[test]
fn diff_to_json_schema_converges_on_sqlite_through_the_binary() {
    let tmp = util::tempdir();
    let desired = shop_json(tmp.path());
    let live = tmp.path().join("live.db");
    let original = tmp.path().join("original.db");
    sqlite_exec(&live, LIVE_SQL);
    sqlite_exec(&original, LIVE_SQL);
    let live_url = format!("sqlite:{}", live.display());
    let original_url = format!("sqlite:{}", original.display());

    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    // The live database is adopted as it is (migration 1), then the diff
    // is migration 2.
    std::fs::write(
        dir.join("0001_existing.sql"),
        "-- ferry:up\n-- the schema before ferry\n",
    )
    .unwrap();
    let o = util::ferry(&["schema", "hash", "--dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let o = util::ferry(&[
        "schema",
        "baseline",
        "--version",
        "1",
        "--dir",
        dir.to_str().unwrap(),
        "--to",
        &live_url,
    ]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let file = dir.join("0002_shop.sql");
    let o = util::ferry(&[
        "schema",
        "diff",
        "--from",
        &live_url,
        "--to",
        &format!("{desired}/_schema.json"),
        "--allow-destructive",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("-- ferry:up\n"), "{text}");
    assert!(text.contains("-- ferry:down\n"), "{text}");
    let o = util::ferry(&["schema", "hash", "--dir", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let o = util::ferry(&[
        "schema",
        "up",
        "--dir",
        dir.to_str().unwrap(),
        "--to",
        &live_url,
    ]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let again = run_diff(&live_url, &desired, &allow());
    assert_eq!(again.changes, 0, "after up:\n{}", again.up);
    // The rows of the table rebuilt are kept.
    assert_eq!(util::sqlite_scalar(&live, "SELECT name FROM users"), "ann");

    let o = util::ferry(&[
        "schema",
        "down",
        "--dir",
        dir.to_str().unwrap(),
        "--to",
        &live_url,
    ]);
    assert!(o.status.success(), "{}", util::stderr(&o));
    let back = run_diff(&live_url, &original_url, &allow());
    assert_eq!(back.changes, 0, "after down:\n{}", back.up);
}

#[test]
fn diff_to_json_schema_converges_on_sqlite() {
    let tmp = util::tempdir();
    let desired = shop_json(tmp.path());
    let live = tmp.path().join("live.db");
    let original = tmp.path().join("original.db");
    sqlite_exec(&live, LIVE_SQL);
    sqlite_exec(&original, LIVE_SQL);
    round_trip(
        &format!("sqlite:{}", live.display()),
        &format!("sqlite:{}", original.display()),
        &format!("json:{desired}"),
        &|sql| sqlite_exec(&live, sql),
    );
}

#[test]
fn diff_to_json_schema_converges_on_postgres() {
    let tmp = util::tempdir();
    let desired = shop_json(tmp.path());
    let live = PgDb::new("diff_live");
    let original = PgDb::new("diff_orig");
    live.query(LIVE_SQL);
    original.query(LIVE_SQL);
    round_trip(&live.url, &original.url, &desired, &|sql| {
        live.query(sql);
    });
    assert_eq!(live.scalar("SELECT name FROM users"), "ann");
}

#[test]
fn diff_to_json_schema_converges_on_mariadb() {
    let tmp = util::tempdir();
    let desired = shop_json(tmp.path());
    let live = MyDb::new("diff_live");
    let original = MyDb::new("diff_orig");
    live.query(LIVE_SQL);
    original.query(LIVE_SQL);
    round_trip(&live.url, &original.url, &desired, &|sql| {
        live.query(sql);
    });
    assert_eq!(live.scalar("SELECT name FROM users"), "ann");
}

#[test]
fn renames_are_made_only_when_asked() {
    let tmp = util::tempdir();
    let live = tmp.path().join("live.db");
    let want = tmp.path().join("want.db");
    sqlite_exec(
        &live,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, full_name TEXT);
         INSERT INTO customers VALUES (1, 'ann');",
    );
    sqlite_exec(
        &want,
        "CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT);",
    );
    let (live_url, want_url) = (
        format!("sqlite:{}", live.display()),
        format!("sqlite:{}", want.display()),
    );

    let plain = run_diff(&live_url, &want_url, &DiffOptions::default());
    assert_eq!(
        plain.destructive,
        vec!["drop table customers".to_string()],
        "{}",
        plain.up
    );
    assert!(
        plain.up.contains("CREATE TABLE \"clients\""),
        "{}",
        plain.up
    );
    assert!(!plain.up.contains("RENAME"), "{}", plain.up);

    let renamed = run_diff(
        &live_url,
        &want_url,
        &DiffOptions {
            renames: vec![
                ("customers".into(), "clients".into()),
                ("clients.full_name".into(), "name".into()),
            ],
            allow_destructive: false,
        },
    );
    assert!(renamed.destructive.is_empty(), "{:?}", renamed.destructive);
    assert_eq!(renamed.changes, 2, "{}", renamed.up);
    assert!(
        renamed
            .up
            .contains("ALTER TABLE \"customers\" RENAME TO \"clients\""),
        "{}",
        renamed.up
    );
    sqlite_exec(&live, &renamed.up);
    assert_eq!(
        run_diff(&live_url, &want_url, &DiffOptions::default()).changes,
        0
    );
    assert_eq!(
        util::sqlite_scalar(&live, "SELECT name FROM clients"),
        "ann"
    );

    // A rename that names nothing is refused with what to do.
    let err = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(diff(
            &live_url,
            &want_url,
            &DiffOptions {
                renames: vec![("nope".into(), "clients".into())],
                allow_destructive: false,
            },
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--rename nope=clients"), "{err}");
}

#[test]
fn a_dropped_column_is_commented_out_unless_allowed() {
    let live = PgDb::new("diff_drop");
    live.query(
        "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, legacy text);
         INSERT INTO users VALUES (1, 'ann', 'x');",
    );
    let want = PgDb::new("diff_drop_want");
    want.query("CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);");

    let d = run_diff(&live.url, &want.url, &DiffOptions::default());
    assert_eq!(d.destructive, vec!["drop column users.legacy".to_string()]);
    assert_eq!(d.changes, 1);
    assert!(
        d.up.contains(
            "-- destructive, commented out: ALTER TABLE \"users\" DROP COLUMN \"legacy\"\n"
        ),
        "{}",
        d.up
    );
    assert!(!d.up.contains("\nALTER TABLE"), "{}", d.up);
    // Nothing to undo: `down` does not add the column back.
    assert!(!d.down.contains("ADD COLUMN"), "{}", d.down);
    live.query(&d.up);
    live.query(&d.down);
    assert_eq!(live.scalar("SELECT legacy FROM users"), "x");

    let d = run_diff(&live.url, &want.url, &allow());
    assert_eq!(d.destructive, vec!["drop column users.legacy".to_string()]);
    assert!(
        d.up.contains("\nALTER TABLE \"users\" DROP COLUMN \"legacy\";\n"),
        "{}",
        d.up
    );
    live.query(&d.up);
    assert_eq!(run_diff(&live.url, &want.url, &allow()).changes, 0);
    // `down` adds the column back (its values are gone).
    live.query(&d.down);
    assert!(live.query("SELECT legacy FROM users")[0][0] == "NULL");
}
