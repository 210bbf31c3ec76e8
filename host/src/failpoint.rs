//! Deterministic crash points (and pause points) for the crash tests.
//!
//! Points (see `docs/ledger.md`): `run-recorded`, `backup@T`,
//! `tables-created`, `copy@T` (half a COPY sent), `commit@T` (a batch sent,
//! not committed), `batch@T` and `json-batch@T` (after a committed batch),
//! `table-done@T`, `load-done`, `constraint` (after each key, index or
//! foreign key), `constraints-done`, `verify@T`, `verified`, `run-end`,
//! `rollback@T` (a table restored), `rollback-proved`.

/// `FERRY_FAILPOINT=NAME[@TABLE]:N` makes the process abort —
/// like a SIGKILL: nothing flushed, no destructor run, no transaction
/// committed — the N-th time the named point is reached (1-based), counting
/// only hits on `TABLE` when one is given. A no-op otherwise. The crash tests
/// use it to die at exact, repeatable places instead of after a wall-clock
/// delay; `docs/ledger.md` lists the points.
pub fn hit(name: &str) {
    at(name, None);
}

/// [`hit`] at a point that belongs to a table (`batch@sessions:17`).
pub fn at(name: &str, table: Option<&str>) {
    pause_at(name, table);
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    // Read once: points run after every batch.
    static SPEC: OnceLock<Option<(String, Option<String>, u64)>> = OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let s = std::env::var("FERRY_FAILPOINT").ok()?;
        let (point, n) = s.rsplit_once(':')?;
        let (point, on) = match point.split_once('@') {
            Some((p, t)) => (p.to_string(), Some(t.to_string())),
            None => (point.to_string(), None),
        };
        Some((point, on, n.parse().ok()?))
    });
    let Some((point, on, n)) = spec else {
        return;
    };
    if point != name || (on.is_some() && on.as_deref() != table) {
        return;
    }
    let hit = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if *n == hit {
        eprintln!(
            "failpoint {name}{}:{hit}: aborting",
            table.map(|t| format!("@{t}")).unwrap_or_default()
        );
        std::process::abort();
    }
}

/// Longest a pause waits for its release file: 10 minutes. A test that
/// forgets to release its run gets the run back, not a hung suite.
const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(600);

/// Test hook: `FERRY_PAUSE=NAME[@TABLE]:N:FILE` stops the process the N-th
/// time the point is reached (counted as [`at`] counts): it creates
/// `FILE.paused` and waits until `FILE` exists. A test does the bad thing
/// (restarts the server) while ferry is known to be there, then releases
/// it — a rendezvous on a file, not a guess about timing.
fn pause_at(name: &str, table: Option<&str>) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    type Spec = (String, Option<String>, u64, std::path::PathBuf);
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let s = std::env::var("FERRY_PAUSE").ok()?;
        let mut parts = s.splitn(3, ':');
        let point = parts.next()?;
        let n = parts.next()?.parse().ok()?;
        let file = std::path::PathBuf::from(parts.next()?);
        let (point, on) = match point.split_once('@') {
            Some((p, t)) => (p.to_string(), Some(t.to_string())),
            None => (point.to_string(), None),
        };
        Some((point, on, n, file))
    });
    let Some((point, on, n, file)) = spec else {
        return;
    };
    if point != name || (on.is_some() && on.as_deref() != table) {
        return;
    }
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 != *n {
        return;
    }
    let mut flag = file.clone().into_os_string();
    flag.push(".paused");
    let _ = std::fs::write(&flag, b"");
    eprintln!("pause point {name}: waiting for {}", file.display());
    let wait = || {
        let started = std::time::Instant::now();
        while !file.exists() && started.elapsed() < MAX_PAUSE {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    // On a runtime worker, its other tasks move to another thread first:
    // a pause stops this point, not whatever else that worker was to run.
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}
