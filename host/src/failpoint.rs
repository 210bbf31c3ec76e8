//! Deterministic crash points for the crash tests.
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
