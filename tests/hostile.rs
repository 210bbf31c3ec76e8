//! Hostile plugins, run by the real binary: each yields its typed error naming
//! the plugin and the limit or trap, ferry exits 1 instead of dying, the
//! error says what to do, and the target holds no partial batch.

use crate::util::*;

/// Runs a migration of a 300-user fixture into a fresh PostgreSQL database
/// with the hostile plugin `artifact` as transformer `name`, with `limits`
/// (TOML lines) in its config section and `plugin_config` as its configuration JSON.
fn run_hostile(
    name: &str,
    artifact: &str,
    limits: &str,
    plugin_config: &str,
) -> (std::process::Output, PgDb) {
    run_hostile_scoped(name, artifact, limits, plugin_config, "")
}

/// As `run_hostile`, with the plugin scoped to `scope` (`users:`) when not empty.
fn run_hostile_scoped(
    name: &str,
    artifact: &str,
    limits: &str,
    plugin_config: &str,
    scope: &str,
) -> (std::process::Output, PgDb) {
    hostile_migrate(
        name,
        name,
        &component(artifact),
        limits,
        &format!("{scope}{name}={plugin_config}"),
    )
}

/// The process exited 1 (it did not crash), the report names the plugin and
/// says what happened, and nothing of the failing batch was written.
fn assert_failed_cleanly(
    out: &std::process::Output,
    db: &PgDb,
    code: &str,
    needles: &[&str],
) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "ferry must fail, not crash: {}",
        stderr(out)
    );
    let r = report(out);
    assert_eq!(r["status"], "failed");
    assert_eq!(r["error_code"], code);
    let error = r["error"].as_str().unwrap().to_string();
    for n in needles {
        assert!(error.contains(n), "error should mention {n:?}: {error}");
    }
    assert!(
        error.contains("nothing of this batch was written"),
        "{error}"
    );
    assert_eq!(db.count("users"), 0, "no partial batch may land");
    assert_eq!(db.count("_ferry_rejects"), 0);
    error
}

#[test]
fn infinite_loop_hits_the_deadline() {
    let (out, db) = run_hostile("spin", "hostile_spin", "timeout_ms = 300", "{}");
    assert_failed_cleanly(
        &out,
        &db,
        "plugin:limit-exceeded",
        &[
            "hostile-spin",
            "per-call deadline of 300 ms",
            "timeout_ms",
            "batch 0",
        ],
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (out, db) = run_hostile("membomb", "hostile_membomb", "memory_mib = 32", "{}");
    assert_failed_cleanly(
        &out,
        &db,
        "plugin:limit-exceeded",
        &["hostile-membomb", "memory limit of 32 MiB", "memory_mib"],
    );
}

#[test]
fn output_flood_hits_the_output_limit() {
    let (out, db) = run_hostile(
        "flood",
        "hostile_flood",
        "memory_mib = 1024\nmax_output_mib = 8",
        "{}",
    );
    assert_failed_cleanly(
        &out,
        &db,
        "plugin:limit-exceeded",
        &["hostile-flood", "output limit of 8 MiB", "max_output_mib"],
    );
}

#[test]
fn unbounded_recursion_hits_the_stack_limit() {
    let (out, db) = run_hostile("recurse", "hostile_recurse", "", "{}");
    assert_failed_cleanly(
        &out,
        &db,
        "plugin:limit-exceeded",
        &["hostile-recurse", "stack limit", "recursed"],
    );
}

#[test]
fn panic_is_a_trap_with_backtrace_and_message() {
    let (out, db) = run_hostile("panic", "hostile_panic", "", "{}");
    let error = assert_failed_cleanly(
        &out,
        &db,
        "plugin:trap",
        &[
            "hostile-panic",
            "trapped in `transform`",
            "report it to its author",
        ],
    );
    // The guest's panic message (from its captured stderr) and a backtrace with function names.
    assert!(error.contains("panicked"), "{error}");
    assert!(error.contains("transform"), "{error}");
}

#[test]
fn trap_on_a_later_batch_leaves_earlier_batches_and_no_partial_one() {
    // Scoped to `users`: orders hold the poison value too, and tables load
    // concurrently, so an unscoped run may trap on either table first.
    let (out, db) = run_hostile_scoped(
        "poison",
        "hostile_trap_on_batch",
        "",
        r#"{"poison":150}"#,
        "users:",
    );
    // Users 1..=100 are batch 0; user 150 poisons batch 1.
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(r["error_code"], "plugin:trap");
    assert!(r["error"].as_str().unwrap().contains("batch 1"));
    assert_eq!(
        db.count("users"),
        100,
        "batch 0 committed, batch 1 not at all"
    );
}

#[test]
fn snooping_plugin_finds_no_file_env_or_network() {
    let (out, db) = run_hostile("snoop", "hostile_snoop", "", "{}");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(db.count("users"), 300);
    let reports = db.query("SELECT DISTINCT snoop FROM users");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let found = &reports[0][0];
    eprintln!("snoop report: {found}");
    for part in found.split(';') {
        let (what, result) = part.split_once('=').unwrap_or((part, ""));
        let nothing = matches!(
            result,
            "denied" | "none" | "0" | "empty" | "notfound" | "not-found" | "error"
        );
        assert!(
            nothing,
            "the sandbox leaked `{what}`: {result} (full report: {found})"
        );
    }
    // Its stdout/stderr went to ferry's log (stderr, with -v), tagged with the
    // plugin name — never to ferry's stdout, which carries the JSON report.
    assert!(
        !stdout(&out).contains("hostile-snoop: hello"),
        "guest stdout must not reach ferry's stdout"
    );
    let log = stderr(&out);
    assert!(
        log.contains("hostile-snoop: hello on stdout") && log.contains("stream=\"stdout\""),
        "{log}"
    );
    assert!(
        log.contains("hostile-snoop: hello on stderr") && log.contains("plugin=hostile-snoop"),
        "{log}"
    );
}
