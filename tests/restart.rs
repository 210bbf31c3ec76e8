//! A real server restart in the middle of a run. Each test starts its own
//! throwaway PostgreSQL cluster (`initdb` + `pg_ctl` on a free port; the
//! shared server is never touched), pauses ferry at an exact batch (a
//! `FERRY_PAUSE` rendezvous, not a sleep), restarts or stops the cluster,
//! and lets ferry go on:
//!
//! - restarted: ferry retries the transient failure from its checkpoints by
//!   itself and the run completes, equal to a clean run;
//! - left down: the retries run out, the run fails cleanly (typed, exit 1),
//!   and once the server is back `ferry resume` completes it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::ledger::{fixture, migrate_args};
use crate::util::{cache_dir, ferry, ferry_bin, report, tempdir};

/// Generous deadline for anything the test waits on (a cluster start, a
/// run): these are conditions polled, not timings asserted.
const DEADLINE: Duration = Duration::from_secs(300);

/// PostgreSQL's server programs (`initdb`, `pg_ctl`), newest installed.
fn pg_bin() -> PathBuf {
    if let Ok(o) = Command::new("pg_config").arg("--bindir").output()
        && o.status.success()
    {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs (/usr/lib/postgresql/*/bin): install postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

/// A command run as the `postgres` user when the tests run as root
/// (`initdb` refuses root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway cluster, stopped (immediately) when dropped.
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        let bin = pg_bin();
        let dir = tempdir();
        // The postgres user must own the data directory and reach it.
        run(
            Command::new("chmod").arg("0777").arg(dir.path()),
            "chmod the cluster's directory",
        );
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        run(
            as_postgres(&bin.join("initdb")).arg("-D").arg(&data).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]),
            "initdb",
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = Cluster {
            _dir: dir,
            data,
            log,
            port,
            bin,
        };
        c.ctl(&["start"]);
        c
    }

    /// `pg_ctl` on this cluster, waiting for it to finish.
    fn ctl(&self, action: &[&str]) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off",
            self.port
        );
        let mut cmd = as_postgres(&self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "120", "-o", &opts])
            .args(action);
        run(&mut cmd, &format!("pg_ctl {}", action.join(" ")));
    }

    fn admin(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn create(&self, db: &str) -> String {
        query(&self.admin(), &format!("CREATE DATABASE {db}"));
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs SQL on `url`; every value as text.
fn query(url: &str, sql: &str) -> Vec<Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        tokio::spawn(conn);
        c.simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .into_iter()
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

/// Per table: rows, distinct keys, md5 of every row in key order.
fn fingerprint(url: &str) -> Vec<Vec<String>> {
    ["users", "sessions"]
        .iter()
        .map(|t| {
            query(
                url,
                &format!(
                    "SELECT count(*), count(DISTINCT id), md5(string_agg(x::text, ',' ORDER BY id)) FROM {t} x"
                ),
            )
            .remove(0)
        })
        .collect()
}

/// Starts ferry on the fixture, to pause after the third committed batch of
/// `sessions` until `release` exists.
fn paused_run(src: &str, to: &str, release: &Path, extra: &[&str]) -> Child {
    let mut args: Vec<&str> = migrate_args(src, to);
    args.extend(extra);
    Command::new(ferry_bin())
        .args(&args)
        .env("FERRY_CACHE_DIR", cache_dir())
        .env(
            "FERRY_PAUSE",
            format!("batch@sessions:3:{}", release.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (polling) until `path` exists.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < DEADLINE,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The child's exit and output, within the deadline.
fn finish(mut child: Child) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("ferry did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn a_server_restart_mid_run_is_retried_from_the_checkpoints_without_the_operator() {
    let tmp = tempdir();
    let db = tmp.path().join("legacy.db");
    fixture(&db);
    let src = format!("sqlite:{}", db.display());
    let cluster = Cluster::start();
    let clean = cluster.create("clean");
    assert_eq!(ferry(&migrate_args(&src, &clean)).status.code(), Some(0));
    let expected = fingerprint(&clean);

    let target = cluster.create("target");
    let release = tmp.path().join("release");
    let child = paused_run(&src, &target, &release, &[]);
    wait_for(&tmp.path().join("release.paused"));
    // Every connection of the run is cut and the server comes back.
    cluster.ctl(&["-m", "fast", "restart"]);
    std::fs::write(&release, b"").unwrap();
    let out = finish(child);

    assert_eq!(out.status.code(), Some(0), "the run completed by itself");
    let r = report(&out);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["verify"]["ok"], true, "{:#}", r["verify"]);
    let retried: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .filter(|w| w.contains("continued from the checkpoints"))
        .collect();
    assert!(!retried.is_empty(), "the report says it retried: {r:#}");
    let written: u64 = r["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows_written"].as_u64().unwrap())
        .sum();
    assert_eq!(written, 200_000, "every row counted once");
    assert_eq!(fingerprint(&target), expected, "equal to a clean run");
    let hist = ferry(&["history", "--to", &target, "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&hist.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "one run, not two");
    assert_eq!(runs[0]["status"], "succeeded");
}

#[test]
fn when_the_server_stays_down_the_retries_end_in_a_clean_failure_and_resume_completes() {
    let tmp = tempdir();
    let db = tmp.path().join("legacy.db");
    fixture(&db);
    let src = format!("sqlite:{}", db.display());
    let cluster = Cluster::start();
    let clean = cluster.create("clean");
    assert_eq!(ferry(&migrate_args(&src, &clean)).status.code(), Some(0));
    let expected = fingerprint(&clean);

    let target = cluster.create("target");
    let release = tmp.path().join("release");
    let child = paused_run(&src, &target, &release, &["--retries", "2"]);
    wait_for(&tmp.path().join("release.paused"));
    cluster.ctl(&["-m", "fast", "stop"]);
    std::fs::write(&release, b"").unwrap();
    let out = finish(child);

    assert_eq!(out.status.code(), Some(1), "a clean failure");
    let r = report(&out);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error_code"], "endpoint");
    let error = r["error"].as_str().unwrap();
    assert!(error.contains("transient"), "{error}");
    let run_id = r["run_id"].as_str().unwrap().to_string();

    cluster.ctl(&["start"]);
    let out = ferry(&["resume", &run_id, "--to", &target, "--json"]);
    assert_eq!(out.status.code(), Some(0), "resume completes it");
    let r = report(&out);
    assert_eq!(r["run_id"], run_id.as_str());
    assert_eq!(r["verify"]["ok"], true);
    assert_eq!(fingerprint(&target), expected, "equal to a clean run");
}
