//! `ferry schema` through the real binary against real SQLite, PostgreSQL
//! and MariaDB: round trips with the live schema checked after each step,
//! drift (and CRLF, which is not), two concurrent `up`s, a MariaDB
//! migration failing half-way and continued, baseline, reset, repeatables,
//! and `ferry migrate --schema-dir`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{self, MyDb, PgDb};

/// A database of one of the three kinds, created fresh.
enum Db {
    /// The file, and its directory (removed when dropped).
    Sqlite(PathBuf, #[allow(dead_code)] tempfile::TempDir),
    Pg(PgDb),
    My(MyDb),
}

impl Db {
    fn new(kind: &str, label: &str) -> Db {
        match kind {
            "sqlite" => {
                let d = util::tempdir();
                Db::Sqlite(d.path().join("app.db"), d)
            }
            "postgres" => Db::Pg(PgDb::new(label)),
            _ => Db::My(MyDb::new(label)),
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(p, _) => format!("sqlite:{}", p.display()),
            Db::Pg(d) => d.url.clone(),
            Db::My(d) => d.url.clone(),
        }
    }

    fn scalar(&self, sql: &str) -> String {
        match self {
            Db::Sqlite(p, _) => util::sqlite_scalar(p, sql),
            Db::Pg(d) => d.scalar(sql),
            Db::My(d) => d.scalar(sql),
        }
    }

    /// The user tables, sorted, comma-separated.
    fn tables(&self) -> String {
        let sql = match self {
            Db::Sqlite(..) => {
                "SELECT coalesce(group_concat(name, ','), '') FROM (SELECT name FROM sqlite_master \
                 WHERE type = 'table' AND substr(name, 1, 7) <> '_ferry_' AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name)"
            }
            Db::Pg(_) => {
                "SELECT coalesce(string_agg(table_name, ',' ORDER BY table_name), '') FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND substr(table_name, 1, 7) <> '_ferry_'"
            }
            Db::My(_) => {
                "SELECT coalesce(group_concat(table_name ORDER BY table_name), '') FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND substr(table_name, 1, 7) <> '_ferry_'"
            }
        };
        self.scalar(sql)
    }

    /// The columns of `table`, sorted, comma-separated.
    fn columns(&self, table: &str) -> String {
        let sql = match self {
            Db::Sqlite(..) => format!(
                "SELECT coalesce(group_concat(name, ','), '') FROM (SELECT name FROM pragma_table_info('{table}') ORDER BY name)"
            ),
            Db::Pg(_) => format!(
                "SELECT coalesce(string_agg(column_name, ',' ORDER BY column_name), '') FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = '{table}'"
            ),
            Db::My(_) => format!(
                "SELECT coalesce(group_concat(column_name ORDER BY column_name), '') FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = '{table}'"
            ),
        };
        self.scalar(&sql)
    }
}

/// Writes migration files into `dir` and `ferry.sum` for them.
fn migrations(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let out = util::ferry(&["schema", "hash", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
}

/// `ferry schema SUB --to URL --dir DIR ARGS…`.
fn schema(sub: &str, db: &Db, dir: &Path, args: &[&str]) -> std::process::Output {
    let url = db.url();
    let mut all = vec!["schema", sub, "--to", &url, "--dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    util::ferry(&all)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", util::stdout(out)))
}

const USERS: &str = "-- ferry:up\n\
    CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(200) NOT NULL);\n\
    CREATE INDEX users_email ON users (email);\n\
    -- ferry:down\n\
    DROP TABLE users;\n";
const ORDERS: &str = "-- ferry:up\n\
    CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), total DECIMAL(10, 2));\n\
    -- ferry:down\n\
    DROP TABLE orders;\n";
const NAME: &str = "-- ferry:up\n\
    ALTER TABLE users ADD COLUMN name VARCHAR(100);\n\
    -- ferry:dialect postgres\n\
    COMMENT ON COLUMN users.name IS 'display name';\n\
    -- ferry:dialect all\n\
    -- ferry:down\n\
    ALTER TABLE users DROP COLUMN name;\n";

fn round_trip(kind: &str) {
    let db = Db::new(kind, &format!("schema_rt_{kind}"));
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    migrations(
        &dir,
        &[
            ("0001_users.sql", USERS),
            ("0002_orders.sql", ORDERS),
            ("0003_user_name.sql", NAME),
        ],
    );

    let out = schema("status", &db, &dir, &["--check", "--json"]);
    assert_eq!(out.status.code(), Some(4), "pending fails --check");
    assert_eq!(json(&out)["pending"].as_array().unwrap().len(), 3);
    if let Db::Sqlite(p, _) = &db {
        assert!(!p.exists(), "status created the file it only reads");
    }

    // A dry run prints the SQL with the history writes and changes nothing.
    let out = schema("up", &db, &dir, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    let sql = util::stdout(&out);
    assert!(sql.contains("CREATE TABLE orders"), "{sql}");
    assert_eq!(sql.matches("INSERT INTO _ferry_schema").count(), 3, "{sql}");
    assert_eq!(db.tables(), "");

    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.tables(), "orders,users");
    assert_eq!(db.columns("users"), "email,id,name");
    let out = schema("status", &db, &dir, &["--check", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    assert_eq!(json(&out)["current"], "0003");

    let out = schema("down", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.columns("users"), "email,id");
    let s = json(&schema("status", &db, &dir, &["--json"]));
    assert_eq!(
        (s["current"].as_str(), s["pending"][0]["version"].as_str()),
        (Some("0002"), Some("0003"))
    );

    let out = schema("down", &db, &dir, &["--to-version", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.tables(), "");

    let out = schema("up", &db, &dir, &["--to-version", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.tables(), "orders,users");
    assert_eq!(db.columns("users"), "email,id");
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.columns("users"), "email,id,name");
    if kind == "postgres" {
        assert_eq!(
            db.scalar("SELECT col_description('users'::regclass, 3)"),
            "display name",
            "the postgres block ran"
        );
    }

    let h = json(&schema("history", &db, &dir, &["--json"]));
    let rows: Vec<(String, String, String)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_str().unwrap().to_string(),
                e["direction"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("0001", "up"),
        ("0002", "up"),
        ("0003", "up"),
        ("0003", "down"),
        ("0002", "down"),
        ("0001", "down"),
        ("0001", "up"),
        ("0002", "up"),
        ("0003", "up"),
    ]
    .iter()
    .map(|(v, d)| (v.to_string(), d.to_string(), "ok".to_string()))
    .collect();
    assert_eq!(rows, want);
    assert!(h[0]["applied_by"].as_str().unwrap().contains('@'));
}

#[test]
fn up_status_down_up_round_trips_on_sqlite() {
    round_trip("sqlite");
}

#[test]
fn up_status_down_up_round_trips_on_postgresql() {
    round_trip("postgres");
}

#[test]
fn up_status_down_up_round_trips_on_mariadb() {
    round_trip("mysql");
}

#[test]
fn an_edited_applied_file_is_drift_and_the_same_file_with_crlf_is_not() {
    let db = Db::new("sqlite", "drift");
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    migrations(
        &dir,
        &[("0001_users.sql", USERS), ("0002_orders.sql", ORDERS)],
    );
    assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));

    // The same text with CRLF line endings and a byte-order mark.
    let crlf = format!("\u{feff}{}", ORDERS.replace('\n', "\r\n"));
    std::fs::write(dir.join("0002_orders.sql"), &crlf).unwrap();
    let out = schema("status", &db, &dir, &["--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    assert_eq!(schema("validate", &db, &dir, &[]).status.code(), Some(0));

    // An edit that changes the text, not the schema.
    std::fs::write(
        dir.join("0002_orders.sql"),
        ORDERS.replace("-- ferry:down", "-- reviewed by the DBA\n-- ferry:down"),
    )
    .unwrap();
    let out = schema("status", &db, &dir, &["--check"]);
    assert_eq!(out.status.code(), Some(4));
    let text = util::stdout(&out);
    assert!(
        text.contains("drifted (1)") && text.contains("0002 orders"),
        "{text}"
    );
    assert!(
        text.contains("0002_orders.sql changed since ferry.sum"),
        "{text}"
    );
    let out = schema("validate", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(4));
    // up refuses to build on a changed history.
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("ferry.sum"),
        "{}",
        util::stderr(&out)
    );
    util::ferry(&["schema", "hash", "--dir", dir.to_str().unwrap()]);
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("validate --repair"),
        "{}",
        util::stderr(&out)
    );

    // Accepted as it is now.
    let out = schema("validate", &db, &dir, &["--repair"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stdout(&out));
    assert!(util::stdout(&out).contains("accepted 0002 orders"));
    assert_eq!(
        schema("status", &db, &dir, &["--check"]).status.code(),
        Some(0)
    );
}

/// Two `ferry schema up` processes started together: each migration is
/// applied exactly once (a second apply would fail on CREATE TABLE, and
/// would insert its row twice).
fn concurrent_ups(kind: &str) {
    let db = Db::new(kind, &format!("schema_conc_{kind}"));
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    // A pause per migration where the database has one widens the overlap;
    // the assertions hold whichever process wins.
    let pause = "-- ferry:dialect postgres\nSELECT pg_sleep(0.2);\n-- ferry:dialect mysql\nDO SLEEP(0.2);\n-- ferry:dialect all\n";
    let files: Vec<(String, String)> = (1..=4)
        .map(|i| {
            let up = if i == 1 {
                "CREATE TABLE applied (n INTEGER NOT NULL);".to_string()
            } else {
                format!("CREATE TABLE t{i} (id INTEGER);\nINSERT INTO applied VALUES ({i});")
            };
            (
                format!("000{i}_step{i}.sql"),
                format!("-- ferry:up\n{pause}{up}\n"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    migrations(&dir, &refs);
    let url = db.url();
    let spawn = || {
        Command::new(util::ferry_bin())
            .args(["schema", "up", "--to", &url, "--dir", dir.to_str().unwrap()])
            .env("FERRY_CACHE_DIR", util::cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            util::stdout(&out),
            util::stderr(&out)
        );
    }
    assert_eq!(db.scalar("SELECT count(*) FROM applied"), "3");
    assert_eq!(db.tables(), "applied,t2,t3,t4");
    assert_eq!(
        db.scalar("SELECT count(*) FROM _ferry_schema WHERE direction = 'up' AND status = 'ok'"),
        "4"
    );
}

#[test]
fn two_concurrent_ups_apply_each_migration_once_on_postgresql() {
    concurrent_ups("postgres");
}

#[test]
fn two_concurrent_ups_apply_each_migration_once_on_mariadb() {
    concurrent_ups("mysql");
}

#[test]
fn two_concurrent_ups_apply_each_migration_once_on_sqlite() {
    concurrent_ups("sqlite");
}

#[test]
fn a_mariadb_migration_failing_at_its_third_statement_says_what_stayed_and_continues() {
    let db = Db::new("mysql", "schema_half");
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    let broken = "-- ferry:up\n\
        CREATE TABLE a (id INTEGER);\n\
        CREATE TABLE b (id INTEGER);\n\
        INSERT INTO no_such_table VALUES (1);\n\
        CREATE TABLE c (id INTEGER);\n";
    migrations(&dir, &[("0001_three_tables.sql", broken)]);
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = util::stderr(&out);
    assert!(err.contains("failed at statement 3 of 4"), "{err}");
    assert!(
        err.contains("Statements 1–2 were applied and stay applied"),
        "{err}"
    );
    assert!(err.contains("continues from statement 3"), "{err}");
    assert!(err.contains("--restart"), "{err}");
    assert_eq!(db.tables(), "a,b");
    let h = json(&schema("history", &db, &dir, &["--json"]));
    assert_eq!(h[0]["status"], "failed");
    assert_eq!(h[0]["statements_done"], 2);
    assert_eq!(h[0]["statements_total"], 4);
    assert!(h[0]["error"].as_str().unwrap().contains("no_such_table"));
    let out = schema("status", &db, &dir, &["--check"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(util::stdout(&out).contains("2 of 4 statements done"));

    // The cause fixed: up continues from statement 3, never running 1–2 again.
    migrations(
        &dir,
        &[(
            "0001_three_tables.sql",
            &broken.replace(
                "INSERT INTO no_such_table VALUES (1);",
                "CREATE TABLE d (id INTEGER);",
            ),
        )],
    );
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert!(util::stdout(&out).contains("continued from statement 3"));
    assert_eq!(db.tables(), "a,b,c,d");
    assert_eq!(
        schema("status", &db, &dir, &["--check"]).status.code(),
        Some(0)
    );
}

#[test]
fn a_migration_without_down_is_refused_with_the_way_back() {
    let db = Db::new("postgres", "schema_nodown");
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    migrations(
        &dir,
        &[(
            "0001_users.sql",
            "-- ferry:up\nCREATE TABLE users (id INTEGER PRIMARY KEY);\n",
        )],
    );
    assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));
    let out = schema("down", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = util::stderr(&out);
    assert!(err.contains("has no `-- ferry:down` section"), "{err}");
    assert!(err.contains("ferry rollback"), "{err}");
    assert_eq!(db.tables(), "users");
}

#[test]
fn a_failed_postgresql_migration_leaves_nothing_applied() {
    let db = Db::new("postgres", "schema_pgfail");
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    migrations(
        &dir,
        &[(
            "0001_two.sql",
            "-- ferry:up\nCREATE TABLE a (id INTEGER);\nCREATE TABLE a (id INTEGER);\n",
        )],
    );
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        util::stderr(&out).contains("Nothing of it was applied"),
        "{}",
        util::stderr(&out)
    );
    assert_eq!(db.tables(), "", "the transaction was rolled back");
}

#[test]
fn a_migrated_database_is_adopted_by_baseline_and_new_migrations_apply_on_top() {
    let work = util::tempdir();
    let legacy = util::shop_fixture(work.path(), 50);
    let db = Db::new("postgres", "schema_baseline");
    let out = util::ferry(&[
        "migrate",
        "--from",
        &format!("sqlite:{}", legacy.display()),
        "--to",
        &db.url(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    let dir = work.path().join("migrations");
    migrations(
        &dir,
        &[
            (
                "0001_shop.sql",
                "-- ferry:up\n-- what ferry migrate created\n-- ferry:down\nDROP TABLE orders;\nDROP TABLE users;\n",
            ),
            (
                "0002_nickname.sql",
                "-- ferry:up\nALTER TABLE users ADD COLUMN nickname TEXT;\n-- ferry:down\nALTER TABLE users DROP COLUMN nickname;\n",
            ),
        ],
    );
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = util::stderr(&out);
    assert!(
        err.contains("no schema history") && err.contains("ferry schema baseline"),
        "{err}"
    );

    let out = schema("baseline", &db, &dir, &["--version", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    let s = json(&schema("status", &db, &dir, &["--json"]));
    assert_eq!(s["baseline"], "0001");
    assert_eq!(s["pending"][0]["version"], "0002");
    let out = schema("up", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert!(db.columns("users").contains("nickname"));
    assert_eq!(
        db.scalar("SELECT count(*) FROM users"),
        "50",
        "the data stays"
    );
    // Back to the baseline, and no further.
    assert_eq!(schema("down", &db, &dir, &[]).status.code(), Some(0));
    let out = schema("down", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(util::stderr(&out).contains("adopted by the baseline"));
    // A second baseline is refused.
    let out = schema("baseline", &db, &dir, &["--version", "2"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn repeatable_migrations_apply_again_when_they_change_and_reset_starts_over() {
    let db = Db::new("sqlite", "schema_repeat");
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    let view = |n: u32| {
        format!(
            "DROP VIEW IF EXISTS user_count;\nCREATE VIEW user_count AS SELECT count(*) + {n} AS n FROM users;\n"
        )
    };
    migrations(
        &dir,
        &[("0001_users.sql", USERS), ("R__views.sql", &view(0))],
    );
    assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));
    assert_eq!(db.scalar("SELECT n FROM user_count"), "0");
    let out = schema("up", &db, &dir, &[]);
    assert!(
        util::stdout(&out).contains("up to date"),
        "{}",
        util::stdout(&out)
    );
    migrations(&dir, &[("R__views.sql", &view(10))]);
    let s = json(&schema("status", &db, &dir, &["--json"]));
    assert_eq!(s["pending"][0]["version"], "R__views");
    assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));
    assert_eq!(db.scalar("SELECT n FROM user_count"), "10");

    // Reset: development only, and only when asked.
    let out = schema("reset", &db, &dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    let Db::Sqlite(path, _) = &db else {
        unreachable!()
    };
    rusqlite::Connection::open(path)
        .unwrap()
        .execute("INSERT INTO users VALUES (1, 'a@example.org')", [])
        .unwrap();
    assert_eq!(db.scalar("SELECT n FROM user_count"), "11");
    // The view depends on users: the reset drops it first on its own.
    migrations(
        &dir,
        &[(
            "0001_users.sql",
            &USERS.replace(
                "DROP TABLE users;",
                "DROP VIEW IF EXISTS user_count;\nDROP TABLE users;",
            ),
        )],
    );
    util::ferry(&[
        "schema",
        "validate",
        "--repair",
        "--to",
        &db.url(),
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let out = schema("reset", &db, &dir, &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.scalar("SELECT count(*) FROM users"), "0");
    assert_eq!(db.scalar("SELECT n FROM user_count"), "10");
}

#[test]
fn migrate_refuses_a_target_whose_schema_has_pending_migrations() {
    let work = util::tempdir();
    let legacy = util::shop_fixture(work.path(), 10);
    let db = Db::new("postgres", "schema_gate");
    let dir = work.path().join("migrations");
    migrations(
        &dir,
        &[(
            "0001_audit.sql",
            "-- ferry:up\nCREATE TABLE audit_log (id INTEGER PRIMARY KEY, at TEXT);\n",
        )],
    );
    let from = format!("sqlite:{}", legacy.display());
    let run = |extra: &[&str]| {
        let url = db.url();
        let mut args = vec!["migrate", "--from", &from, "--to", &url];
        args.extend_from_slice(extra);
        util::ferry(&args)
    };
    let out = run(&["--schema-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = util::stderr(&out);
    assert!(
        err.contains("nothing was loaded") && err.contains("pending: 0001 audit"),
        "{err}"
    );
    assert_eq!(db.tables(), "");
    // The same from `[schema] dir` in the config.
    let cfg = util::write_config(work.path(), "[schema]\ndir = \"migrations\"\n");
    let out = run(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", util::stderr(&out));

    assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));
    let out = run(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert_eq!(db.tables(), "audit_log,orders,users");
}

#[test]
fn validate_finds_a_live_schema_changed_by_hand_with_the_sql_that_mends_it() {
    for kind in ["postgres", "mysql", "sqlite"] {
        let db = Db::new(kind, &format!("schema_live_{kind}"));
        let work = util::tempdir();
        let dir = work.path().join("migrations");
        migrations(
            &dir,
            &[
                ("0001_users.sql", USERS),
                ("0002_orders.sql", ORDERS),
                ("0003_user_name.sql", NAME),
            ],
        );
        assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));
        let out = schema("validate", &db, &dir, &["--json"]);
        assert_eq!(out.status.code(), Some(0), "{kind}: {}", util::stdout(&out));
        assert_eq!(json(&out)["live"]["changes"], 0, "{kind}");

        // A column added by hand, outside any migration.
        let alter = "ALTER TABLE users ADD COLUMN hack INTEGER";
        match &db {
            Db::Pg(d) => {
                d.query(alter);
            }
            Db::My(d) => {
                d.query(alter);
            }
            Db::Sqlite(p, _) => {
                rusqlite::Connection::open(p)
                    .unwrap()
                    .execute(alter, [])
                    .unwrap();
            }
        }
        let out = schema("validate", &db, &dir, &[]);
        assert_eq!(out.status.code(), Some(4), "{kind}");
        let text = util::stdout(&out);
        assert!(
            text.contains("live schema: 1 differences"),
            "{kind}: {text}"
        );
        assert!(text.contains("hack"), "{kind}: {text}");
        // The files themselves are fine.
        let out = schema("status", &db, &dir, &["--check"]);
        assert_eq!(out.status.code(), Some(0), "{kind}");
    }
}

#[test]
fn new_writes_the_next_file_with_both_sections_and_keeps_ferry_sum_true() {
    let db = Db::new("sqlite", "schema_new");
    let work = util::tempdir();
    let dir = work.path().join("migrations");
    let d = dir.to_str().unwrap();
    let out = util::ferry(&["schema", "new", "Create users!", "--dir", d]);
    assert_eq!(out.status.code(), Some(0), "{}", util::stderr(&out));
    assert!(util::stdout(&out).trim().ends_with("0001_create_users.sql"));
    let out = util::ferry(&["schema", "new", "add orders", "--dir", d]);
    assert!(util::stdout(&out).trim().ends_with("0002_add_orders.sql"));
    let text = std::fs::read_to_string(dir.join("0002_add_orders.sql")).unwrap();
    assert!(text.contains("-- ferry:up") && text.contains("-- ferry:down"));
    // As generated, the files are valid, pending, and ferry.sum agrees.
    let s = json(&schema("status", &db, &dir, &["--json"]));
    assert_eq!(s["pending"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["sum"].as_array().unwrap().len(), 0, "{s}");
    assert_eq!(schema("up", &db, &dir, &[]).status.code(), Some(0));
    assert_eq!(
        schema("status", &db, &dir, &["--check"]).status.code(),
        Some(0)
    );
}
