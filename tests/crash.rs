//! Deterministic crash points: the same 200,000-row migration through a
//! WASM transformer (`tests/ledger.rs`'s fixture) is made to abort itself —
//! `FERRY_FAILPOINT=NAME[@TABLE]:N`, a `SIGABRT` with nothing flushed and no
//! transaction committed — at more than a hundred exact places: after any
//! batch of either table, with half a `COPY` on the wire, just before a
//! batch's commit, between constraint builds, inside verification, while
//! backing tables up and while rolling back. Every point must really be
//! reached (the process dies by the signal), and after each one `ferry
//! resume` (or `ferry rollback` again) must end with exactly the source
//! rows: the same checksums as a clean run, nothing quarantined, every row
//! counted once, the ledger saying `succeeded`.
//!
//! The points run on a few threads, each against its own fresh database.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ledger::{fingerprint, fixture, latest_run, migrate_args};
use crate::util::{MyDb, PgDb, cache_dir, ferry, ferry_bin, tempdir};

/// Threads that run crash points at once: each point is two short ferry
/// processes and a fresh database, mostly waiting on the servers.
const WORKERS: usize = 3;

/// A target the sweep writes into, created fresh per crash point.
enum Target {
    Pg(PgDb),
    My(MyDb),
    // The directory lives as long as the target.
    Sqlite(#[allow(dead_code)] tempfile::TempDir, PathBuf),
}

impl Target {
    fn new(kind: &str) -> Target {
        match kind {
            "postgres" => Target::Pg(PgDb::new("crash")),
            "mariadb" => Target::My(MyDb::new("crash")),
            _ => {
                let dir = tempdir();
                let path = dir.path().join("target.db");
                Target::Sqlite(dir, path)
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Target::Pg(p) => p.url.clone(),
            Target::My(m) => m.url.clone(),
            Target::Sqlite(_, p) => format!("sqlite:{}", p.display()),
        }
    }

    /// Per table: rows, distinct keys, and a digest of every row in key order.
    fn fingerprint(&self) -> Vec<Vec<String>> {
        match self {
            Target::Pg(p) => fingerprint(p),
            Target::My(m) => ["users", "sessions"]
                .iter()
                .map(|t| {
                    let rows = m.query(&format!("SELECT * FROM `{t}` ORDER BY id"));
                    vec![
                        rows.len().to_string(),
                        m.scalar(&format!("SELECT COUNT(DISTINCT id) FROM `{t}`")),
                        digest(rows.iter().map(|r| r.join("\t"))),
                    ]
                })
                .collect(),
            Target::Sqlite(_, p) => sqlite_fingerprint(p),
        }
    }
}

fn digest(lines: impl Iterator<Item = String>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for l in lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn sqlite_fingerprint(path: &Path) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(path).unwrap();
    ["users", "sessions"]
        .iter()
        .map(|t| {
            let mut st = c
                .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY id"))
                .unwrap();
            let n = st.column_count();
            let rows: Vec<String> = st
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("\t"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let distinct: i64 = c
                .query_row(
                    &format!("SELECT count(DISTINCT id) FROM \"{t}\""),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            vec![
                rows.len().to_string(),
                distinct.to_string(),
                digest(rows.into_iter()),
            ]
        })
        .collect()
}

/// Runs `ferry` with `FERRY_FAILPOINT=point` and checks it died there.
fn die_at(args: &[&str], point: &str) -> Result<(), String> {
    let out = Command::new(ferry_bin())
        .args(args)
        .env("FERRY_CACHE_DIR", cache_dir())
        .env("FERRY_FAILPOINT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.signal() != Some(libc_sigabrt()) {
        return Err(format!(
            "{point}: ferry {} was not killed there ({}); stderr: {}",
            args[0],
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// SIGABRT, which `std::process::abort` raises.
fn libc_sigabrt() -> i32 {
    6
}

/// After a crash: the run is recorded as running; `ferry resume` finishes
/// it; the target equals the clean run's.
fn resume_exact(
    target: &Target,
    expected: &[Vec<String>],
    label: &str,
    run_before: Option<&str>,
) -> Result<String, String> {
    let url = target.url();
    let run = latest_run(&url).ok_or_else(|| format!("{label}: no run in the ledger"))?;
    if Some(run.as_str()) == run_before {
        return Err(format!("{label}: the killed run was never recorded"));
    }
    let st = ferry(&["status", &run, "--to", &url, "--json"]);
    let st: serde_json::Value =
        serde_json::from_slice(&st.stdout).map_err(|e| format!("{label}: status: {e}"))?;
    if st["run"]["status"] != "running" {
        return Err(format!(
            "{label}: the killed run is recorded as {} (expected running)",
            st["run"]["status"]
        ));
    }
    let out = ferry(&["resume", &run, "--to", &url, "--json"]);
    if out.status.code() != Some(0) {
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        return Err(format!(
            "{label}: resume exited {:?}: {} {}",
            out.status.code(),
            r["error"],
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let r: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{label}: report: {e}"))?;
    let mut problems = Vec::new();
    if r["run_id"] != run.as_str() {
        problems.push(format!("another run continued: {}", r["run_id"]));
    }
    if r["status"] != "succeeded" {
        problems.push(format!("status {}", r["status"]));
    }
    if r["verify"]["ok"] != true {
        problems.push(format!("verify: {:#}", r["verify"]));
    }
    for t in r["verify"]["tables"].as_array().into_iter().flatten() {
        if t["quarantined"] != 0 {
            problems.push(format!(
                "{} quarantined in {}",
                t["quarantined"], t["table"]
            ));
        }
    }
    let written: u64 = r["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["rows_written"].as_u64().unwrap_or(0))
        .sum();
    if written != 200_000 {
        problems.push(format!(
            "the report counts {written} rows written, not 200000"
        ));
    }
    let fp = target.fingerprint();
    if fp != expected {
        problems.push(format!(
            "target {fp:?} differs from the clean run {expected:?}"
        ));
    }
    let hist = ferry(&["history", "--to", &url, "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&hist.stdout).unwrap_or_default();
    if runs[0]["status"] != "succeeded" || runs[0]["rows_read"] != 200_000 {
        problems.push(format!("the ledger says {:#}", runs[0]));
    }
    if problems.is_empty() {
        Ok(run)
    } else {
        Err(format!("{label}: {}", problems.join("; ")))
    }
}

/// The load points of one target kind: batches and table ends per table.
fn load_points(users_batches: u32, sessions_batches: u32) -> Vec<String> {
    let mut p = vec!["run-recorded:1".to_string(), "tables-created:1".to_string()];
    for (t, n) in [("users", users_batches), ("sessions", sessions_batches)] {
        p.extend((1..=n).map(|i| format!("batch@{t}:{i}")));
    }
    p
}

/// The points after the load, the same for every target kind.
fn finishing_points() -> Vec<String> {
    let mut p: Vec<String> = [
        "table-done@users:1",
        "table-done@sessions:1",
        "load-done:1",
        "constraints-done:1",
        "verify@users:1",
        "verify@sessions:1",
        "verified:1",
        "run-end:1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // users: primary key, unique email; sessions: primary key, index, foreign key.
    p.extend((1..=5).map(|i| format!("constraint:{i}")));
    p
}

/// Runs `points` on [`WORKERS`] threads with `each`, collecting failures.
fn sweep(points: &[(String, String)], each: impl Fn(&str, &str) -> Result<(), String> + Sync) {
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((kind, point)) = points.get(i) else {
                        break;
                    };
                    if let Err(e) = each(kind, point) {
                        failures.lock().unwrap().push(format!("[{kind}] {e}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} crash points failed:\n{}",
        failures.len(),
        points.len(),
        failures.join("\n")
    );
}

#[test]
fn a_run_killed_at_each_of_over_a_hundred_exact_points_resumes_to_exactly_the_source_rows() {
    let tmp = tempdir();
    let db = tmp.path().join("legacy.db");
    fixture(&db);
    let src = format!("sqlite:{}", db.display());

    // The clean run per target kind: what every resumed run must equal.
    let kinds = ["postgres", "sqlite", "mariadb"];
    let expected: Vec<(&str, Vec<Vec<String>>)> = kinds
        .iter()
        .map(|k| {
            let t = Target::new(k);
            let out = ferry(&migrate_args(&src, &t.url()));
            assert_eq!(out.status.code(), Some(0), "clean run into {k}");
            (*k, t.fingerprint())
        })
        .collect();

    // 5,000 rows per batch: users (50,000) has 10 batches, sessions 30.
    let mut points: Vec<(String, String)> = Vec::new();
    let pg = |p: &str| ("postgres".to_string(), p.to_string());
    points.extend(load_points(10, 30).iter().map(|p| pg(p)));
    points.extend(finishing_points().iter().map(|p| pg(p)));
    // Half a COPY on the wire, for every batch.
    points.extend((1..=10).map(|i| pg(&format!("copy@users:{i}"))));
    points.extend((1..=30).map(|i| pg(&format!("copy@sessions:{i}"))));
    // Everything of a batch sent, the commit not.
    for i in [1, 4, 7, 10] {
        points.push(pg(&format!("commit@users:{i}")));
    }
    for i in [1, 10, 20, 30] {
        points.push(pg(&format!("commit@sessions:{i}")));
    }
    // SQLite and MariaDB targets: a spread of the same points.
    for kind in ["sqlite", "mariadb"] {
        for p in [
            "run-recorded:1",
            "tables-created:1",
            "batch@users:1",
            "batch@users:10",
            "batch@sessions:13",
            "commit@users:5",
            "commit@sessions:30",
            "table-done@sessions:1",
            "load-done:1",
            // SQLite builds 2 indexes after the load (keys are declared
            // with the table), MariaDB 3 constraints.
            "constraint:1",
            "constraint:2",
            "verify@sessions:1",
            "run-end:1",
        ] {
            points.push((kind.to_string(), p.to_string()));
        }
    }
    let distinct: std::collections::HashSet<&(String, String)> = points.iter().collect();
    assert!(
        distinct.len() >= 100,
        "{} distinct crash points",
        distinct.len()
    );

    sweep(&points, |kind, point| {
        let target = Target::new(kind);
        let url = target.url();
        die_at(&migrate_args(&src, &url), point)?;
        let want = &expected.iter().find(|(k, _)| *k == kind).unwrap().1;
        resume_exact(&target, want, point, None).map(|_| ())
    });
}

#[test]
fn a_replacing_run_killed_while_backing_up_resumes_and_rolls_back_and_a_killed_rollback_completes()
{
    let tmp = tempdir();
    let db = tmp.path().join("legacy.db");
    fixture(&db);
    let src = format!("sqlite:{}", db.display());

    // Each case: a first run fills the target; a second, replacing run
    // (`--if-exists drop`) dies at the point and is resumed; then it is
    // rolled back, the rollback proving every table's pre-run checksum.
    let replace_args = |url: &str| -> Vec<String> {
        let mut a: Vec<String> = migrate_args(&src, url)
            .into_iter()
            .map(str::to_string)
            .collect();
        a.extend(["--if-exists".to_string(), "drop".to_string()]);
        a
    };
    let mut points: Vec<(String, String)> = Vec::new();
    for kind in ["postgres", "sqlite", "mariadb"] {
        let last_constraint = match kind {
            "postgres" => "constraint:5",
            "sqlite" => "constraint:2",
            _ => "constraint:3",
        };
        for p in [
            "backup@users:1",
            "backup@sessions:1",
            "tables-created:1",
            "batch@sessions:7",
            last_constraint,
        ] {
            points.push((kind.to_string(), format!("migrate {p}")));
        }
        // Sessions are restored first (children before parents).
        for p in [
            "rollback@sessions:1",
            "rollback@users:1",
            "rollback-proved:1",
        ] {
            points.push((kind.to_string(), format!("rollback {p}")));
        }
    }
    sweep(&points, |kind, what| {
        let (step, point) = what.split_once(' ').unwrap();
        let target = Target::new(kind);
        let url = target.url();
        let first = ferry(&migrate_args(&src, &url));
        if first.status.code() != Some(0) {
            return Err(format!("{what}: the first run failed"));
        }
        let before = target.fingerprint();
        let first_run = latest_run(&url);
        let args = replace_args(&url);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = if step == "migrate" {
            die_at(&args, point)?;
            resume_exact(&target, &before, what, first_run.as_deref())?
        } else {
            let out = ferry(&args);
            if out.status.code() != Some(0) {
                return Err(format!("{what}: the replacing run failed"));
            }
            let run = latest_run(&url).unwrap();
            die_at(&["rollback", &run, "--to", &url], point)?;
            run
        };
        let out = ferry(&["rollback", &run, "--to", &url, "--json"]);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if out.status.code() != Some(0) || r["ok"] != true {
            let bad: Vec<&serde_json::Value> = r["tables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["ok"] != true)
                .collect();
            return Err(format!(
                "{what}: rollback exited {:?}: tables not proven: {bad:?} {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if target.fingerprint() != before {
            return Err(format!(
                "{what}: after the rollback the target is not as before"
            ));
        }
        Ok(())
    });
}
