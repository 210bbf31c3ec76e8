//! The cases and how one run of each is timed and measured: wall time from
//! the first process spawned to the last one finished, and the peak RSS of
//! the client processes from `wait4` (`ru_maxrss`).

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::generate::Sizes;
use crate::pg::Column;

/// `mask` with an empty configuration copies every column unchanged, but
/// every batch of every table still crosses into the WASM sandbox and back:
/// the cost of the plugin path itself, without per-row crypto.
pub const PASSTHRU_TRANSFORM: &str = "mask={}";

/// Keyed hashing of two `users` columns (HMAC-SHA256 per value).
pub const MASK_TRANSFORM: &str = r#"users:mask={"key":"bench-key-0123456789abcdef","columns":{"email":"hash-email","name":"hash"}}"#;

/// Lines of a failed process's stderr kept in the error message.
const STDERR_TAIL_LINES: usize = 15;

/// One way of migrating the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    Pipe,
    Ferry,
    FerryWasm,
    FerryMask,
}

impl Case {
    /// Report order: the anchor first.
    pub const ALL: [Case; 4] = [Case::Pipe, Case::Ferry, Case::FerryWasm, Case::FerryMask];

    /// Run order of the first round: the pipe last, because it copies the
    /// column types ferry created (later rounds rotate it).
    pub const RUN_ORDER: [Case; 4] = [Case::Ferry, Case::FerryWasm, Case::FerryMask, Case::Pipe];

    pub fn label(self) -> &'static str {
        match self {
            Case::Pipe => "pipe (sqlite3|psql)",
            Case::Ferry => "ferry",
            Case::FerryWasm => "ferry + wasm (passthru)",
            Case::FerryMask => "ferry + mask hashing",
        }
    }

    /// Short name, for database names.
    pub fn slug(self) -> &'static str {
        match self {
            Case::Pipe => "pipe",
            Case::Ferry => "ferry",
            Case::FerryWasm => "wasm",
            Case::FerryMask => "mask",
        }
    }

    /// The `--transform` argument, for the ferry cases that have one.
    pub fn transform(self) -> Option<&'static str> {
        match self {
            Case::FerryWasm => Some(PASSTHRU_TRANSFORM),
            Case::FerryMask => Some(MASK_TRANSFORM),
            Case::Pipe | Case::Ferry => None,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set of the client processes, in bytes (for the pipe:
    /// the largest sum over processes running at the same time).
    pub peak_rss: u64,
}

/// Run `ferry migrate` from `source` into `target_url`, with `transform` if any.
pub fn ferry(
    ferry: &Path,
    source: &Path,
    target_url: &str,
    transform: Option<&str>,
    sizes: Sizes,
) -> Result<Measured> {
    let mut cmd = Command::new(ferry);
    cmd.arg("migrate")
        .arg("--from")
        .arg(format!("sqlite:{}", source.display()))
        .args(["--to", target_url, "--json"]);
    if let Some(t) = transform {
        cmd.args(["--transform", t]);
    }
    let start = Instant::now();
    let mut running = Running::spawn(cmd.stdout(Stdio::piped()), "ferry migrate")?;
    let mut stdout = String::new();
    if let Some(mut out) = running.child.stdout.take() {
        out.read_to_string(&mut stdout)
            .context("reading ferry's --json report")?;
    }
    let done = running.finish()?;
    let wall = start.elapsed();
    done.check()?;
    check_ferry_report(&stdout, sizes)?;
    Ok(Measured {
        wall,
        peak_rss: done.peak_rss,
    })
}

/// Check ferry's `--json` report: succeeded, every row read was written.
fn check_ferry_report(json: &str, sizes: Sizes) -> Result<()> {
    let report: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("ferry's --json report: {json:?}"))?;
    let status = report["status"].as_str().unwrap_or("?");
    if status != "succeeded" {
        bail!("ferry reported status {status:?}: {}", report["error"]);
    }
    for (table, rows) in [("users", sizes.users), ("sessions", sizes.sessions)] {
        let Some(t) = report["tables"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == table))
        else {
            bail!("ferry's report has no table {table}");
        };
        let counts = [&t["rows_read"], &t["rows_written"], &t["rows_rejected"]]
            .map(serde_json::Value::as_u64);
        if counts != [Some(rows), Some(rows), Some(0)] {
            bail!(
                "ferry's report for {table}: read {}, written {}, rejected {}; expected {rows} read and written",
                t["rows_read"],
                t["rows_written"],
                t["rows_rejected"]
            );
        }
    }
    Ok(())
}

/// The hand-written anchor: `CREATE TABLE`s with `columns`, per table
/// `sqlite3 -csv | psql \copy`, then the keys, each step a `psql`.
pub fn pipe(source: &Path, target_url: &str, columns: &[Column]) -> Result<Measured> {
    let psql = |sql: &str| {
        let mut cmd = Command::new("psql");
        cmd.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            target_url,
            "-c",
            sql,
        ])
        .stdout(Stdio::null());
        cmd
    };
    let start = Instant::now();
    let mut peak_rss = 0;
    let ddl =
        Running::spawn(&mut psql(&create_tables(columns)), "psql (create tables)")?.finish()?;
    ddl.check()?;
    peak_rss = peak_rss.max(ddl.peak_rss);
    for table in ["users", "sessions"] {
        let select = select_csv(table, columns)?;
        let mut sqlite = Running::spawn(
            Command::new("sqlite3")
                .arg("-csv")
                .arg(source)
                .arg(&select)
                .stdout(Stdio::piped()),
            &format!("sqlite3 ({table})"),
        )?;
        let out = sqlite
            .child
            .stdout
            .take()
            .context("sqlite3's stdout was not captured")?;
        // The Command (holding the pipe's read end) is dropped right after
        // the spawn, so sqlite3 gets SIGPIPE if psql dies.
        let load = Running::spawn(
            psql(&format!("\\copy {table} FROM STDIN CSV")).stdin(Stdio::from(out)),
            &format!("psql \\copy {table}"),
        );
        let sqlite = sqlite.finish()?;
        let load = load?.finish()?;
        sqlite.check()?;
        load.check()?;
        peak_rss = peak_rss.max(sqlite.peak_rss + load.peak_rss);
    }
    let keys = Running::spawn(&mut psql(KEYS), "psql (keys)")?.finish()?;
    keys.check()?;
    peak_rss = peak_rss.max(keys.peak_rss);
    Ok(Measured {
        wall: start.elapsed(),
        peak_rss,
    })
}

/// The keys the source has, named as ferry names them (`fk_<table>_<n>` for
/// foreign keys, PostgreSQL's defaults otherwise), so the end states match.
const KEYS: &str = "ALTER TABLE users ADD PRIMARY KEY (id); \
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email); \
    ALTER TABLE sessions ADD PRIMARY KEY (id); \
    CREATE INDEX sessions_user ON sessions (user_id); \
    ALTER TABLE sessions ADD CONSTRAINT fk_sessions_0 FOREIGN KEY (user_id) REFERENCES users (id);";

/// The target columns when ferry's are not known (its case failed): the
/// mapping of docs/type-mapping.md applied to the generated schema.
pub fn fallback_columns() -> Vec<Column> {
    let col = |table: &str, name: &str, data_type: &str, nullable: bool| Column {
        table: table.to_string(),
        name: name.to_string(),
        data_type: data_type.to_string(),
        nullable,
    };
    vec![
        col("users", "id", "bigint", false),
        col("users", "email", "text", false),
        col("users", "name", "text", false),
        col("users", "created_at", "text", false),
        col("users", "active", "bigint", false),
        col("users", "prefs", "text", true),
        col("sessions", "id", "bigint", false),
        col("sessions", "user_id", "bigint", false),
        col("sessions", "token", "text", false),
        col("sessions", "created_at", "text", false),
        col("sessions", "score", "double precision", true),
        col("sessions", "payload", "bytea", true),
    ]
}

fn create_tables(columns: &[Column]) -> String {
    ["users", "sessions"]
        .iter()
        .map(|table| {
            let cols: Vec<String> = columns
                .iter()
                .filter(|c| c.table == *table)
                .map(|c| format!("\"{}\" {}", c.name, c.type_text()))
                .collect();
            format!("CREATE TABLE {table} ({});", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `sqlite3` query for `table`: its columns in order, blobs as
/// PostgreSQL's `\x…` hex input.
fn select_csv(table: &str, columns: &[Column]) -> Result<String> {
    let cols: Vec<String> = columns
        .iter()
        .filter(|c| c.table == table)
        .map(|c| {
            if c.data_type == "bytea" {
                format!("'\\x' || hex(\"{}\")", c.name)
            } else {
                format!("\"{}\"", c.name)
            }
        })
        .collect();
    if cols.is_empty() {
        bail!("no target columns known for {table}");
    }
    Ok(format!("SELECT {} FROM {table}", cols.join(", ")))
}

/// This process's own peak RSS in bytes. On Linux every child's `ru_maxrss`
/// is at least this much (exec records the replaced address space's
/// high-water mark, and a spawned child starts from a copy of ours), so it is
/// the floor under every figure the benchmark reports.
pub fn own_peak_rss() -> u64 {
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct,
    // and the pointer is to a live local.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    // ru_maxrss is in KiB on Linux.
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

/// A child process whose stderr is collected by a thread.
struct Running {
    child: Child,
    stderr: JoinHandle<Vec<u8>>,
    what: String,
}

/// A child that has exited.
struct Finished {
    status: ExitStatus,
    peak_rss: u64,
    stderr: String,
    what: String,
}

impl Running {
    fn spawn(cmd: &mut Command, what: &str) -> Result<Running> {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what} ({:?})", cmd.get_program()))?;
        let mut pipe = child.stderr.take().context("stderr was not captured")?;
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            // A read error only shortens the diagnostics.
            let _ = pipe.read_to_end(&mut buf);
            buf
        });
        Ok(Running {
            child,
            stderr,
            what: what.to_string(),
        })
    }

    /// Wait with `wait4`, which also returns the child's resource usage.
    fn finish(self) -> Result<Finished> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        let mut status = 0;
        // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: both pointers are to live locals; `pid` is our own
            // child, not yet reaped (std's `Child` is never waited on).
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            if r == pid {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err).with_context(|| format!("waiting for {}", self.what));
            }
        }
        let stderr = self.stderr.join().unwrap_or_default();
        Ok(Finished {
            status: ExitStatus::from_raw(status),
            // ru_maxrss is in KiB on Linux.
            peak_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            what: self.what,
        })
    }
}

impl Finished {
    /// An error with the tail of stderr unless the process exited 0.
    fn check(&self) -> Result<()> {
        if self.status.success() {
            return Ok(());
        }
        let lines: Vec<&str> = self.stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n    ");
        bail!("{} failed ({}):\n    {tail}", self.what, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_ddl_and_select_follow_the_columns() {
        let cols = fallback_columns();
        assert_eq!(
            create_tables(&cols[..2]),
            "CREATE TABLE users (\"id\" bigint not null, \"email\" text not null); CREATE TABLE sessions ();"
        );
        assert_eq!(
            select_csv("sessions", &cols).unwrap(),
            "SELECT \"id\", \"user_id\", \"token\", \"created_at\", \"score\", '\\x' || hex(\"payload\") FROM sessions"
        );
        assert!(select_csv("orders", &cols).is_err());
    }

    #[test]
    fn ferry_report_must_account_for_every_row() {
        let sizes = Sizes::for_total(50);
        let report = |users_written: u64| {
            format!(
                r#"{{"status":"succeeded","tables":[
                    {{"name":"users","rows_read":10,"rows_written":{users_written},"rows_rejected":0}},
                    {{"name":"sessions","rows_read":40,"rows_written":40,"rows_rejected":0}}]}}"#
            )
        };
        check_ferry_report(&report(10), sizes).unwrap();
        let err = check_ferry_report(&report(9), sizes).unwrap_err();
        assert!(err.to_string().contains("written 9"), "{err}");
        assert!(check_ferry_report(r#"{"status":"failed","error":"x"}"#, sizes).is_err());
    }

    #[test]
    fn wait4_reports_exit_status_and_rss() {
        let done = Running::spawn(
            Command::new("sh").args(["-c", "echo oops >&2; exit 3"]),
            "sh",
        )
        .unwrap()
        .finish()
        .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert!(done.peak_rss > 0);
        let err = done.check().unwrap_err().to_string();
        assert!(err.contains("sh failed") && err.contains("oops"), "{err}");
    }
}
