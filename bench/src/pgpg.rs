//! The PostgreSQL → PostgreSQL comparison: its source database (the
//! generated SQLite database loaded by ferry once per size, not timed) and
//! its anchor, `pg_dump | psql`.
//!
//! pg_dump's plain format is what a DBA copies two tables with: `CREATE
//! TABLE`, the rows as `COPY … FROM stdin` text, then the identity counters,
//! the keys, the index and the foreign key, each after the data. The end
//! state is the one ferry leaves, and its data must be the same: pg_dump
//! prints floats with all their digits (`extra_float_digits = 3`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::generate::Sizes;
use crate::pg::{Server, TempDb};
use crate::run::{self, Case, Measured, Running};

/// The tables of the comparison, as `pg_dump -t` selects them.
const TABLES: [&str; 2] = ["users", "sessions"];

/// Load the generated SQLite database at `sqlite` into a fresh PostgreSQL
/// database with `ferry migrate --verify off`, and leave it as a source
/// that has been read before: vacuumed (hint bits set, so the first timed
/// case does not pay for writing them) and analyzed, checkpointed. Only
/// `users` and `sessions` stay: ferry's `_ferry_rejects` (empty) would
/// otherwise be one more table for ferry to copy and none for pg_dump.
pub fn load_source<'a>(
    server: &'a Server,
    ferry: &Path,
    sqlite: &Path,
    sizes: Sizes,
) -> Result<TempDb<'a>> {
    let db = server.create(&run::db_name("pgsrc"))?;
    let from = format!("sqlite:{}", sqlite.display());
    run::ferry(ferry, &from, &db.url(), Case::FerryLoad, sizes)
        .with_context(|| format!("loading the PostgreSQL source {} with ferry", db.name))?;
    let extra: Vec<String> = db
        .end_state()?
        .tables
        .into_iter()
        .filter(|t| !TABLES.contains(&t.as_str()))
        .collect();
    for table in &extra {
        server.query(&db.name, &format!("DROP TABLE \"{table}\""))?;
    }
    // VACUUM runs alone (not in the implicit transaction of a multi-statement `-c`).
    for table in TABLES {
        server.query(&db.name, &format!("VACUUM (FREEZE, ANALYZE) {table}"))?;
    }
    server.checkpoint()?;
    let state = db.end_state()?;
    let problems = state.problems(sizes);
    if !problems.is_empty() {
        bail!(
            "the PostgreSQL source {} is not the generated database: {}",
            db.name,
            problems.join("; ")
        );
    }
    Ok(db)
}

/// The command line of the anchor's first half: the two tables in plain
/// format, without ownership or grants (the target has other roles).
pub fn pg_dump_args(source_url: &str) -> Vec<String> {
    let mut args = vec!["--no-owner".to_string(), "--no-privileges".to_string()];
    for t in TABLES {
        args.extend(["-t".to_string(), t.to_string()]);
    }
    args.push(source_url.to_string());
    args
}

/// The anchor: `pg_dump … SOURCE | psql -q -v ON_ERROR_STOP=1 TARGET`,
/// timed from pg_dump's start to psql's exit. Peak RSS is the sum of the
/// two (they run at the same time).
pub fn dump_pipe(source_url: &str, target_url: &str) -> Result<Measured> {
    let start = Instant::now();
    let mut dump = Running::spawn(
        Command::new("pg_dump")
            .args(pg_dump_args(source_url))
            .stdout(Stdio::piped()),
        "pg_dump",
    )?;
    let out = dump
        .child
        .stdout
        .take()
        .context("pg_dump's stdout was not captured")?;
    // The Command (holding the pipe's read end) is dropped right after the
    // spawn, so pg_dump gets SIGPIPE if psql dies.
    let load = Running::spawn(
        Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target_url])
            .stdin(Stdio::from(out))
            .stdout(Stdio::null()),
        "psql (pg_dump's script)",
    );
    let dump = dump.finish()?;
    let load = load?.finish()?;
    dump.check()?;
    load.check()?;
    Ok(Measured {
        wall: start.elapsed(),
        peak_rss: dump.peak_rss + load.peak_rss,
        verify: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_takes_the_two_tables_without_owner_or_grants() {
        assert_eq!(
            pg_dump_args("postgres://u@h:5432/src").join(" "),
            "--no-owner --no-privileges -t users -t sessions postgres://u@h:5432/src"
        );
    }
}
