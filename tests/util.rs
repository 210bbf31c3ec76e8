//! Shared helpers for the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The `ferry` binary built for these tests.
pub fn ferry_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferry"))
}

/// A compiled-component cache shared by all tests (compiling is the slow part).
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ferry-test-cache")
}

/// Path of a component built from `plugins/` (e.g. `hostile_spin`, `plugin_mask`).
pub fn component(artifact: &str) -> PathBuf {
    PathBuf::from(env!("FERRY_PLUGIN_ARTIFACTS")).join(format!("{artifact}.wasm"))
}

/// Runs `ferry` with the given arguments, with the shared cache.
pub fn ferry(args: &[&str]) -> Output {
    ferry_env(args, &[])
}

/// Runs `ferry` with the given arguments and `extra` environment (which
/// may override the shared cache).
pub fn ferry_env(args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(ferry_bin());
    cmd.args(args)
        .env("FERRY_CACHE_DIR", cache_dir())
        .env_remove("FERRY_CONFIG")
        .env_remove("FERRY_PLUGIN_DIR");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run ferry");
    eprintln!(
        "$ ferry {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON report printed by `ferry migrate --json`.
pub fn report(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a JSON report ({e}): {}", stdout(o)))
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferry-test-")
        .tempdir()
        .expect("temp dir")
}

fn pg_admin_url() -> String {
    std::env::var("FERRY_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e} (is PostgreSQL running? see .ci/run)"));
    tokio::spawn(conn);
    c
}

/// A fresh PostgreSQL database, dropped when this value is dropped.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl PgDb {
    pub fn new(label: &str) -> PgDb {
        let name = format!(
            "ferry_t_{}_{}_{}",
            label,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin = format!("{}/postgres", pg_admin_url());
        block_on(async {
            let c = connect(&admin).await;
            c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create database");
        });
        PgDb {
            url: format!("{}/{}", pg_admin_url(), name),
            name,
        }
    }

    /// Runs a query and returns every value as text (NULL as "NULL").
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        block_on(async {
            let c = connect(&self.url).await;
            let msgs = c
                .simple_query(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            msgs.into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("NULL").to_string())
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    }

    pub fn scalar(&self, sql: &str) -> String {
        self.query(sql)
            .first()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| panic!("no row from {sql}"))
    }

    /// Runs a statement that must fail; returns the server's message.
    pub fn expect_error(&self, sql: &str) -> String {
        block_on(async {
            let c = connect(&self.url).await;
            match c.batch_execute(sql).await {
                Ok(()) => panic!("{sql} succeeded; it should have been refused"),
                Err(e) => e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string()),
            }
        })
    }

    pub fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM \"{table}\""))
            .parse()
            .expect("count")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", pg_admin_url());
        let name = self.name.clone();
        block_on(async move {
            let c = connect(&admin).await;
            let _ = c
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        });
    }
}

/// Users and their orders, with a foreign key, an index and a unique email.
/// `users` rows: `n`; `orders`: `2 * n`.
pub fn shop_fixture(dir: &Path, n: i64) -> PathBuf {
    let path = dir.join("shop.db");
    let c = rusqlite::Connection::open(&path).expect("open fixture");
    c.execute_batch(
        "CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT UNIQUE,
            age INTEGER,
            balance REAL,
            price NUMERIC(10,2),
            active BOOLEAN,
            avatar BLOB,
            meta JSON
         );
         CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            total REAL,
            placed_at TEXT
         );
         CREATE INDEX orders_user ON orders(user_id);",
    )
    .expect("schema");
    let tx = c.unchecked_transaction().expect("tx");
    {
        let mut u = tx
            .prepare("INSERT INTO users VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
            .expect("prepare");
        for i in 1..=n {
            let email = if i % 10 == 0 {
                None
            } else {
                Some(format!("user{i}@example.com"))
            };
            u.execute(rusqlite::params![
                i,
                format!("User {i}"),
                email,
                if i % 7 == 0 { None } else { Some(20 + i % 50) },
                i as f64 * 1.25 + 0.1,
                format!("{}.{:02}", i % 1000, i % 100),
                i % 2,
                vec![(i % 256) as u8, 0, 255],
                format!("{{\"n\":{i},\"tags\":[\"a\",\"b\"]}}"),
            ])
            .expect("insert user");
        }
        let mut o = tx
            .prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4)")
            .expect("prepare");
        for i in 1..=2 * n {
            o.execute(rusqlite::params![
                i,
                (i % n) + 1,
                i as f64 / 3.0,
                format!("2024-01-{:02}T10:00:00Z", i % 28 + 1)
            ])
            .expect("insert order");
        }
    }
    tx.commit().expect("commit");
    path
}

/// Reads a single value from a SQLite file.
pub fn sqlite_scalar(path: &Path, sql: &str) -> String {
    let c = rusqlite::Connection::open(path).expect("open");
    c.query_row(sql, [], |r| {
        Ok(match r.get_ref(0)? {
            rusqlite::types::ValueRef::Null => "NULL".to_string(),
            rusqlite::types::ValueRef::Integer(i) => i.to_string(),
            rusqlite::types::ValueRef::Real(f) => f.to_string(),
            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            rusqlite::types::ValueRef::Blob(b) => format!("x{}", hex::encode(b)),
        })
    })
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, toml: &str) -> PathBuf {
    let p = dir.join("ferry.toml");
    std::fs::write(&p, toml).expect("write config");
    p
}

pub const MASK: &str =
    r#"users:mask={"key":"test-key-0123456789","columns":{"email":"hash-email","name":"redact"}}"#;

fn my_admin() -> (String, String) {
    let host = std::env::var("FERRY_TEST_MYSQL_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("FERRY_TEST_MYSQL_PORT").unwrap_or_else(|_| "3306".into());
    (host, port)
}

/// Runs the `mariadb` command-line client (root, no password) and returns
/// its tab-separated output rows.
fn mariadb_client(db: Option<&str>, sql: &str) -> Vec<Vec<String>> {
    let (host, port) = my_admin();
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "-h",
        &host,
        "-P",
        &port,
        "-u",
        "root",
        "--batch",
        "--skip-column-names",
    ]);
    if let Some(db) = db {
        cmd.arg(db);
    }
    let out = cmd
        .arg("-e")
        .arg(sql)
        .output()
        .expect("run the mariadb client (is mariadb-client installed? see .ci/run)");
    assert!(
        out.status.success(),
        "mariadb: {sql}: {} (is MariaDB running on {host}:{port}? see .ci/run)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// A fresh MariaDB/MySQL database, dropped when this value is dropped.
pub struct MyDb {
    pub name: String,
    pub url: String,
}

impl MyDb {
    pub fn new(label: &str) -> MyDb {
        let name = format!(
            "ferry_t_{}_{}_{}",
            label,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        mariadb_client(None, &format!("CREATE DATABASE `{name}`"));
        let (host, port) = my_admin();
        MyDb {
            url: format!("mysql://root@{host}:{port}/{name}"),
            name,
        }
    }

    /// Runs SQL and returns every value as text (NULL as "NULL").
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        mariadb_client(Some(&self.name), sql)
    }

    pub fn scalar(&self, sql: &str) -> String {
        self.query(sql)
            .first()
            .and_then(|r| r.first().cloned())
            .unwrap_or_else(|| panic!("no row from {sql}"))
    }

    /// Tables in the database (backups kept aside included).
    pub fn count_tables(&self) -> i64 {
        self.scalar(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_type = 'BASE TABLE'",
            self.name
        ))
        .parse()
        .unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.scalar(&format!("SELECT count(*) FROM `{table}`"))
            .parse()
            .expect("count")
    }
}

impl Drop for MyDb {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            mariadb_client(None, &format!("DROP DATABASE IF EXISTS `{}`", self.name))
        });
    }
}

/// A migration of a 300-user fixture into a fresh PostgreSQL database
/// (named after `db_label`) through the plugin `plugin` at `wasm`, with
/// `limits` (TOML lines) in its config section, run as `--transform
/// transform`, 100 rows a batch. The process's output and the database.
pub fn hostile_migrate(
    db_label: &str,
    plugin: &str,
    wasm: &Path,
    limits: &str,
    transform: &str,
) -> (std::process::Output, PgDb) {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 300);
    let cfg = write_config(
        dir.path(),
        &format!(
            "[plugins.{plugin}]\npath = \"{}\"\n{limits}\n",
            wasm.display()
        ),
    );
    let db = PgDb::new(db_label);
    let out = ferry(&[
        "migrate",
        "-v",
        "--config",
        cfg.to_str().unwrap(),
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &db.url,
        "--transform",
        transform,
        "--batch-size",
        "100",
        "--json",
    ]);
    (out, db)
}

/// [`hostile_migrate`] through the hostile plugin `wasm` doing `what`
/// (`{"do": what}`); ferry must exit 1 with a typed error, not crash, and
/// land no partial batch. Returns "ERROR_CODE ERROR" and the database.
pub fn hostile_run(wasm: &Path, label: &str, what: &str, limits: &str) -> (String, PgDb) {
    let (out, db) = hostile_migrate(
        &format!("{label}_{what}"),
        "hostile",
        wasm,
        limits,
        &format!(r#"hostile={{"do":"{what}"}}"#),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "ferry must fail, not crash: {}",
        stderr(&out)
    );
    let r = report(&out);
    assert_eq!(r["status"], "failed");
    assert_eq!(db.count("users"), 0, "no partial batch may land");
    (
        format!("{} {}", r["error_code"], r["error"].as_str().unwrap_or("")),
        db,
    )
}
