//! `ferry rollback`: restores the pre-run state of a run's tables and
//! proves it by checksums — after a full migration into a fresh target,
//! after a run that replaced existing tables (`--if-exists drop`), and after
//! a run killed half-way; a run that later runs built on is refused.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{PgDb, cache_dir, ferry, ferry_bin, report, stderr, stdout, tempdir};

fn fixture(path: &Path, sessions: i64) {
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
         CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), score REAL);
         CREATE INDEX sessions_user ON sessions (user_id);",
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    for i in 1..=2_000i64 {
        tx.execute(
            "INSERT INTO users VALUES (?1, ?2, ?3)",
            rusqlite::params![i, format!("user {i}"), format!("u{i}@example.com")],
        )
        .unwrap();
    }
    for i in 1..=sessions {
        tx.execute(
            "INSERT INTO sessions VALUES (?1, ?2, ?3)",
            rusqlite::params![i, i % 2_000 + 1, i as f64 / 3.0],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn pg_state(pg: &PgDb) -> Vec<Vec<String>> {
    ["users", "sessions"]
        .iter()
        .map(|t| {
            let exists = pg.scalar(&format!("SELECT to_regclass('{t}') IS NOT NULL"));
            if exists != "t" {
                return vec!["absent".to_string()];
            }
            pg.query(&format!(
                "SELECT count(*), md5(string_agg(x::text, ',' ORDER BY id)) FROM {t} x"
            ))
            .remove(0)
        })
        .collect()
}

fn migrate(src: &str, to: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["migrate", "--from", src, "--to", to, "--json"];
    args.extend_from_slice(extra);
    let out = ferry(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    report(&out)
}

fn rollback(run: &str, to: &str) -> serde_json::Value {
    let out = ferry(&["rollback", run, "--to", to, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    assert_eq!(r["ok"], true, "{r:#}");
    r
}

#[test]
fn rollback_restores_pre_run_checksums_after_full_replacing_and_killed_runs() {
    let tmp = tempdir();
    let a = tmp.path().join("a.db");
    let b = tmp.path().join("b.db");
    fixture(&a, 60_000);
    fixture(&b, 90_000);
    let (src_a, src_b) = (
        format!("sqlite:{}", a.display()),
        format!("sqlite:{}", b.display()),
    );
    let pg = PgDb::new("rollback");
    let empty = pg_state(&pg);
    assert_eq!(empty, [["absent"], ["absent"]]);

    // Run 1 into a fresh target; run 2 replaces its tables.
    let run1 = migrate(&src_a, &pg.url, &[])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let after1 = pg_state(&pg);
    let run2 = migrate(&src_b, &pg.url, &["--if-exists", "drop"])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(pg_state(&pg), after1);

    // Run 1 cannot be rolled back while run 2 stands on it.
    let out = ferry(&["rollback", &run1, "--to", &pg.url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&run2), "{}", stderr(&out));

    // A dry run changes nothing.
    let before = pg_state(&pg);
    let out = ferry(&["rollback", &run2, "--to", &pg.url, "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report(&out)["tables"].as_array().unwrap().len(), 2);
    assert_eq!(pg_state(&pg), before);

    // Undo run 2: run 1's tables, exactly.
    let r = rollback(&run2, &pg.url);
    assert!(
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["action"] == "restore")
    );
    assert_eq!(pg_state(&pg), after1);
    // Then run 1: back to nothing.
    let r = rollback(&run1, &pg.url);
    assert!(
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["action"] == "drop")
    );
    assert_eq!(pg_state(&pg), empty);
    let h = ferry(&["history", "--to", &pg.url, "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    assert!(
        h.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "rolled_back")
    );

    // A run killed half-way through replacing the tables.
    let run3 = migrate(&src_a, &pg.url, &[])["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let after3 = pg_state(&pg);
    let status = Command::new(ferry_bin())
        .args([
            "migrate",
            "--from",
            &src_b,
            "--to",
            &pg.url,
            "--if-exists",
            "drop",
            "--batch-size",
            "2000",
        ])
        .env("FERRY_CACHE_DIR", cache_dir())
        .env("FERRY_FAILPOINT", "constraint:2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    let h = ferry(&["history", "--to", &pg.url, "--json"]);
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    let killed = h[0]["run_id"].as_str().unwrap().to_string();
    assert_ne!(killed, run3);
    assert_eq!(h[0]["status"], "running", "killed, never finished");
    rollback(&killed, &pg.url);
    assert_eq!(pg_state(&pg), after3);
}

#[test]
fn rollback_of_a_sqlite_target_restores_the_snapshot() {
    let tmp = tempdir();
    let a = tmp.path().join("a.db");
    let b = tmp.path().join("b.db");
    fixture(&a, 3_000);
    fixture(&b, 5_000);
    let target = tmp.path().join("target.db");
    let to = format!("sqlite:{}", target.display());
    migrate(&format!("sqlite:{}", a.display()), &to, &[]);
    let dump = |p: &Path| -> Vec<String> {
        let c = rusqlite::Connection::open(p).unwrap();
        let mut st = c
            .prepare("SELECT id || ':' || user_id || ':' || score FROM sessions ORDER BY id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let before = dump(&target);
    assert_eq!(before.len(), 3_000);
    let run2 = migrate(
        &format!("sqlite:{}", b.display()),
        &to,
        &["--if-exists", "drop"],
    );
    assert_eq!(dump(&target).len(), 5_000);
    rollback(run2["run_id"].as_str().unwrap(), &to);
    assert_eq!(dump(&target), before);
    // The restored table keeps its index.
    let c = rusqlite::Connection::open(&target).unwrap();
    let idx: i64 = c
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' AND sql IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(idx >= 1);
}

#[test]
fn sync_converges_a_drifted_target_dry_run_lists_exactly_the_changes_and_rollback_undoes_it() {
    let tmp = tempdir();
    let a = tmp.path().join("a.db");
    fixture(&a, 5_000);
    let src = format!("sqlite:{}", a.display());
    let pg = PgDb::new("sync");
    migrate(&src, &pg.url, &[]);
    let clean = pg_state(&pg);
    // Drift behind ferry's back: 3 rows deleted, 2 changed, 4 added.
    pg.query(
        "DELETE FROM sessions WHERE id IN (10, 11, 12);
         UPDATE sessions SET score = -1 WHERE id IN (20, 21);
         UPDATE users SET name = 'drifted' WHERE id = 7;
         INSERT INTO sessions VALUES (900001, 1, 0.5), (900002, 1, 0.5), (900003, 2, 0.5);
         INSERT INTO users VALUES (900001, 'extra', 'extra@example.com');",
    );
    let drifted = pg_state(&pg);

    let out = ferry(&[
        "sync",
        "--from",
        &src,
        "--to",
        &pg.url,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&out);
    let t = |name: &str| {
        r["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap()
            .clone()
    };
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    let s = t("sessions");
    assert_eq!(keys(&s["insert_keys"]), ["10", "11", "12"]);
    assert_eq!(keys(&s["update_keys"]), ["20", "21"]);
    assert_eq!(keys(&s["delete_keys"]), ["900001", "900002", "900003"]);
    let u = t("users");
    assert_eq!(
        (
            u["inserts"].as_u64(),
            u["updates"].as_u64(),
            u["deletes"].as_u64()
        ),
        (Some(0), Some(1), Some(1))
    );
    assert_eq!(pg_state(&pg), drifted, "a dry run changes nothing");

    let out = ferry(&["sync", "--from", &src, "--to", &pg.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let run = report(&out)["run_id"].as_str().unwrap().to_string();
    assert_eq!(pg_state(&pg), clean, "the target converged to the source");
    // A second sync finds nothing.
    let out = ferry(&[
        "sync",
        "--from",
        &src,
        "--to",
        &pg.url,
        "--dry-run",
        "--json",
    ]);
    let again = report(&out);
    for t in again["tables"].as_array().unwrap() {
        assert_eq!(
            (
                t["inserts"].as_u64(),
                t["updates"].as_u64(),
                t["deletes"].as_u64()
            ),
            (Some(0), Some(0), Some(0))
        );
    }
    // Rolling the sync back restores the drifted state, checksum for checksum.
    rollback(&run, &pg.url);
    assert_eq!(pg_state(&pg), drifted);
}

/// Every file of a json target directory (not the backups), by name.
fn json_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_json_target_with_its_ledger_in_state_resumes_by_byte_offset_and_rolls_back() {
    let tmp = tempdir();
    let a = tmp.path().join("a.db");
    let b = tmp.path().join("b.db");
    fixture(&a, 6_000);
    fixture(&b, 9_000);
    let (src_a, src_b) = (
        format!("sqlite:{}", a.display()),
        format!("sqlite:{}", b.display()),
    );
    let state = format!("sqlite:{}", tmp.path().join("state.db").display());

    // The clean run.
    let clean = tmp.path().join("clean");
    let out = ferry(&[
        "migrate",
        "--from",
        &src_a,
        "--to",
        &format!("json:{}", clean.display()),
        "--state",
        &state,
        "--batch-size",
        "1000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let expected = json_files(&clean);

    // Killed right after writing a batch and before its checkpoint: the
    // lines of that batch are on disk but not recorded; resume cuts them off.
    for n in [1, 3, 7] {
        let dir = tmp.path().join(format!("killed{n}"));
        let to = format!("json:{}", dir.display());
        let status = Command::new(ferry_bin())
            .args([
                "migrate",
                "--from",
                &src_a,
                "--to",
                &to,
                "--state",
                &state,
                "--batch-size",
                "1000",
            ])
            .env("FERRY_CACHE_DIR", cache_dir())
            .env("FERRY_FAILPOINT", format!("json-batch:{n}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "json-batch:{n} aborted the run");
        let h = ferry(&["history", "--to", &to, "--state", &state, "--json"]);
        let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
        let run = h[0]["run_id"].as_str().unwrap().to_string();
        assert_eq!(h[0]["status"], "running");
        let out = ferry(&["resume", &run, "--to", &to, "--state", &state, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        assert_eq!(report(&out)["verify"]["ok"], true);
        assert_eq!(
            json_files(&dir),
            expected,
            "killed after batch {n}: byte for byte the clean run"
        );
    }

    // A run that replaces the tables, rolled back: the directory as it was.
    let to = format!("json:{}", clean.display());
    let r2 = migrate(&src_b, &to, &["--if-exists", "drop", "--state", &state]);
    assert_ne!(json_files(&clean), expected);
    let out = ferry(&[
        "rollback",
        r2["run_id"].as_str().unwrap(),
        "--to",
        &to,
        "--state",
        &state,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["ok"], true);
    assert_eq!(json_files(&clean), expected);
}

/// Per table of a MariaDB database: rows and an order-independent sum of row hashes.
fn my_state(my: &crate::util::MyDb) -> Vec<Vec<String>> {
    ["users", "sessions"]
        .iter()
        .map(|t| {
            let exists = my.scalar(&format!(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{t}'"
            ));
            if exists == "0" {
                return vec!["absent".to_string()];
            }
            let cols = if *t == "users" { "id, name, email" } else { "id, user_id, score" };
            my.query(&format!(
                "SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', {cols})), 1, 15), 16, 10) AS UNSIGNED)), 0) FROM `{t}`"
            ))
            .remove(0)
        })
        .collect()
}

#[test]
fn mariadb_targets_keep_a_ledger_resume_after_a_crash_and_roll_back() {
    let tmp = tempdir();
    let a = tmp.path().join("a.db");
    let b = tmp.path().join("b.db");
    fixture(&a, 8_000);
    fixture(&b, 11_000);
    let (src_a, src_b) = (
        format!("sqlite:{}", a.display()),
        format!("sqlite:{}", b.display()),
    );
    let clean = crate::util::MyDb::new("ledger_clean");
    migrate(&src_a, &clean.url, &[]);
    let expected = my_state(&clean);

    // Died after a batch (the next one never committed) and between key builds.
    for fp in ["constraint:1", "constraint:3"] {
        let my = crate::util::MyDb::new("ledger_crash");
        let status = Command::new(ferry_bin())
            .args([
                "migrate",
                "--from",
                &src_a,
                "--to",
                &my.url,
                "--batch-size",
                "1000",
            ])
            .env("FERRY_CACHE_DIR", cache_dir())
            .env("FERRY_FAILPOINT", fp)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "{fp} aborted the run");
        let h = ferry(&["history", "--to", &my.url, "--json"]);
        let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
        let run = h[0]["run_id"].as_str().unwrap().to_string();
        let out = ferry(&["resume", &run, "--to", &my.url, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{fp}: {}", stdout(&out));
        assert_eq!(report(&out)["verify"]["ok"], true, "{fp}");
        assert_eq!(my_state(&my), expected, "{fp}");
    }

    // Replaced, then rolled back: the first run's tables, proven.
    let r2 = migrate(&src_b, &clean.url, &["--if-exists", "drop"]);
    assert_ne!(my_state(&clean), expected);
    rollback(r2["run_id"].as_str().unwrap(), &clean.url);
    assert_eq!(my_state(&clean), expected);

    // Incremental (new rows by rowid) and sync into MariaDB, each undone.
    let c = rusqlite::Connection::open(&a).unwrap();
    c.execute_batch("INSERT INTO sessions VALUES (900001, 1, 0.25), (900002, 2, 0.5);")
        .unwrap();
    let inc = migrate(&src_a, &clean.url, &["--incremental"]);
    let read: u64 = inc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows_read"].as_u64().unwrap())
        .sum();
    assert_eq!(read, 2, "only the new rows");
    assert_eq!(clean.count("sessions"), 8_002);
    let grown = my_state(&clean);
    clean.query("UPDATE sessions SET score = -1 WHERE id = 5; DELETE FROM sessions WHERE id = 6; INSERT INTO users VALUES (777777, 'x', 'x@x');");
    let drifted = my_state(&clean);
    let out = ferry(&["sync", "--from", &src_a, "--to", &clean.url, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sync_run = report(&out)["run_id"].as_str().unwrap().to_string();
    assert_eq!(my_state(&clean), grown, "sync converged");
    rollback(&sync_run, &clean.url);
    assert_eq!(my_state(&clean), drifted);
}

#[test]
fn cleanup_removes_a_runs_backups_and_a_rollback_then_says_why_it_cannot() {
    let tmp = tempdir();
    let a = tmp.path().join("a.db");
    let b = tmp.path().join("b.db");
    fixture(&a, 1_000);
    fixture(&b, 2_000);
    let (src_a, src_b) = (
        format!("sqlite:{}", a.display()),
        format!("sqlite:{}", b.display()),
    );
    let refused = |args: &[&str], why: &str| {
        let out = ferry(args);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    };

    // SQLite: the replacing run's snapshot file.
    let target = tmp.path().join("target.db");
    let to = format!("sqlite:{}", target.display());
    migrate(&src_a, &to, &[]);
    let run2 = migrate(&src_b, &to, &["--if-exists", "drop"]);
    let run2 = run2["run_id"].as_str().unwrap();
    let snapshots = || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                n.to_string_lossy().starts_with("target.db.ferry-backup")
            })
            .count()
    };
    assert_eq!(snapshots(), 1);
    refused(&["cleanup", run2, "--to", &to], "can still be rolled back");
    assert_eq!(snapshots(), 1);
    let out = ferry(&["cleanup", run2, "--to", &to, "--force", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(report(&out)["tables"].as_array().unwrap().len(), 2);
    assert_eq!(snapshots(), 0);
    refused(&["rollback", run2, "--to", &to], "removed by a cleanup");

    // MariaDB: the tables kept aside, dropped.
    let my = crate::util::MyDb::new("cleanup");
    migrate(&src_a, &my.url, &[]);
    let tables = || my.count_tables();
    let before = tables();
    let run2 = migrate(&src_b, &my.url, &["--if-exists", "drop"]);
    let run2 = run2["run_id"].as_str().unwrap();
    assert!(tables() > before, "the replaced tables are kept aside");
    let out = ferry(&["cleanup", run2, "--to", &my.url, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed the backups of"),
        "{}",
        stdout(&out)
    );
    assert_eq!(tables(), before, "only the backups went");
    assert_eq!(my.count("sessions"), 2_000, "the run's own tables stay");
    refused(&["rollback", run2, "--to", &my.url], "removed by a cleanup");

    // A run rolled back needs nothing more: its cleanup is not refused.
    let run3 = migrate(&src_a, &my.url, &["--if-exists", "drop"]);
    let run3 = run3["run_id"].as_str().unwrap();
    rollback(run3, &my.url);
    let out = ferry(&["cleanup", run3, "--to", &my.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(tables(), before);
}
