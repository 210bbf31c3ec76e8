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

/// One side-by-side comparison: a source, a target, the hand-written
/// anchor for that route and ferry's cases on the same route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Pair {
    /// SQLite → PostgreSQL against `sqlite3 -csv | psql \copy`.
    #[serde(rename = "sqlite-pg")]
    SqlitePg,
    /// PostgreSQL → PostgreSQL against `pg_dump | psql`.
    #[serde(rename = "pg-pg")]
    PgPg,
    /// SQLite → MariaDB against a CSV export and `LOAD DATA LOCAL INFILE`.
    #[serde(rename = "sqlite-mariadb")]
    SqliteMariadb,
}

impl Pair {
    /// Every comparison, in report order.
    pub const ALL: [Pair; 3] = [Pair::SqlitePg, Pair::PgPg, Pair::SqliteMariadb];

    /// The name `--pairs` takes.
    pub fn slug(self) -> &'static str {
        match self {
            Pair::SqlitePg => "sqlite-pg",
            Pair::PgPg => "pg-pg",
            Pair::SqliteMariadb => "sqlite-mariadb",
        }
    }

    /// `SQLite → PostgreSQL`, for the report's headings.
    pub fn route(self) -> &'static str {
        match self {
            Pair::SqlitePg => "SQLite → PostgreSQL",
            Pair::PgPg => "PostgreSQL → PostgreSQL",
            Pair::SqliteMariadb => "SQLite → MariaDB",
        }
    }

    /// This comparison's cases in report order: the anchor first, then
    /// ferry as users run it, then the load alone (and, SQLite → PostgreSQL
    /// only, the transformer cases measured against it).
    pub fn cases(self) -> &'static [Case] {
        match self {
            Pair::SqlitePg => &[
                Case::Pipe,
                Case::FerryVerify,
                Case::FerryLoad,
                Case::FerryWasm,
                Case::FerryMask,
            ],
            Pair::PgPg => &[Case::PgDump, Case::PgPgVerify, Case::PgPgLoad],
            Pair::SqliteMariadb => &[Case::LoadData, Case::MariadbVerify, Case::MariadbLoad],
        }
    }

    /// Run order of the first round: the anchor last, because the
    /// SQLite → PostgreSQL pipe copies the column types ferry created
    /// (later rounds rotate it).
    pub fn run_order(self) -> Vec<Case> {
        let mut order = self.cases().to_vec();
        order.rotate_left(1);
        order
    }

    /// The hand-written anchor the ferry cases are measured against.
    pub fn anchor(self) -> Case {
        self.cases()[0]
    }

    /// `ferry --verify off`: the load alone, whose end state the other
    /// cases' data are compared with.
    pub fn load_case(self) -> Case {
        match self {
            Pair::SqlitePg => Case::FerryLoad,
            Pair::PgPg => Case::PgPgLoad,
            Pair::SqliteMariadb => Case::MariadbLoad,
        }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

impl std::str::FromStr for Pair {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pair::ALL
            .into_iter()
            .find(|p| p.slug() == s)
            .ok_or_else(|| format!("{s:?}: expected sqlite-pg, pg-pg or sqlite-mariadb"))
    }
}

/// One way of migrating the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// The anchor: `sqlite3 -csv | psql \copy`, then the keys.
    Pipe,
    /// `ferry migrate` as a user runs it: the load, then the full
    /// verification (`--verify full`, the default).
    FerryVerify,
    /// `ferry migrate --verify off`: the load alone, the like-for-like
    /// counterpart of the pipe and the baseline of the transformer cases.
    FerryLoad,
    /// The load with the WASM passthrough transformer, `--verify off`.
    FerryWasm,
    /// The load with keyed hashing of two columns, `--verify off`.
    FerryMask,
    /// The PostgreSQL → PostgreSQL anchor: `pg_dump | psql` (see `pgpg`).
    PgDump,
    /// ferry from the PostgreSQL source, load + full verification.
    PgPgVerify,
    /// ferry from the PostgreSQL source, `--verify off`.
    PgPgLoad,
    /// The SQLite → MariaDB anchor: `sqlite3 -csv` to files, `LOAD DATA
    /// LOCAL INFILE`, then the keys (see `mariadb`).
    LoadData,
    /// ferry into MariaDB, load + full verification.
    MariadbVerify,
    /// ferry into MariaDB, `--verify off`.
    MariadbLoad,
}

impl Case {
    /// Every case of every comparison.
    #[cfg(test)]
    pub const EVERY: [Case; 11] = [
        Case::Pipe,
        Case::FerryVerify,
        Case::FerryLoad,
        Case::FerryWasm,
        Case::FerryMask,
        Case::PgDump,
        Case::PgPgVerify,
        Case::PgPgLoad,
        Case::LoadData,
        Case::MariadbVerify,
        Case::MariadbLoad,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Case::Pipe => "pipe (sqlite3|psql)",
            Case::FerryVerify | Case::PgPgVerify | Case::MariadbVerify => {
                "ferry (load + verify full)"
            }
            Case::FerryLoad | Case::PgPgLoad | Case::MariadbLoad => "ferry --verify off",
            Case::FerryWasm => "ferry --verify off + wasm passthru",
            Case::FerryMask => "ferry --verify off + mask hashing",
            Case::PgDump => "pg_dump | psql",
            Case::LoadData => "sqlite3 csv + LOAD DATA",
        }
    }

    /// Short name, for database names (unique over every comparison, since
    /// two of them share the PostgreSQL server).
    pub fn slug(self) -> &'static str {
        match self {
            Case::Pipe => "pipe",
            Case::FerryVerify => "verify",
            Case::FerryLoad => "load",
            Case::FerryWasm => "wasm",
            Case::FerryMask => "mask",
            Case::PgDump => "pg_dump",
            Case::PgPgVerify => "pgpg_verify",
            Case::PgPgLoad => "pgpg_load",
            Case::LoadData => "load_data",
            Case::MariadbVerify => "maria_verify",
            Case::MariadbLoad => "maria_load",
        }
    }

    /// The comparison this case belongs to.
    pub fn pair(self) -> Pair {
        match self {
            Case::Pipe
            | Case::FerryVerify
            | Case::FerryLoad
            | Case::FerryWasm
            | Case::FerryMask => Pair::SqlitePg,
            Case::PgDump | Case::PgPgVerify | Case::PgPgLoad => Pair::PgPg,
            Case::LoadData | Case::MariadbVerify | Case::MariadbLoad => Pair::SqliteMariadb,
        }
    }

    /// Whether this is a hand-written anchor, not ferry.
    pub fn is_anchor(self) -> bool {
        self.pair().anchor() == self
    }

    /// The `--transform` argument, for the ferry cases that have one.
    pub fn transform(self) -> Option<&'static str> {
        match self {
            Case::FerryWasm => Some(PASSTHRU_TRANSFORM),
            Case::FerryMask => Some(MASK_TRANSFORM),
            _ => None,
        }
    }

    /// Whether ferry verifies the target at the end of this case (given
    /// explicitly as `--verify full` or `--verify off`, so the label stays
    /// true if ferry's default changes).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            Case::FerryVerify | Case::PgPgVerify | Case::MariadbVerify
        )
    }

    /// The data checksums (see `report::DataMatch`) in which this case's
    /// target may differ from its comparison's `ferry --verify off`: the
    /// sqlite3 anchors' scores go through sqlite3's 15-digit text, the mask
    /// case hashes two `users` columns. Any other difference fails the case
    /// (`pg_dump` writes floats with all their digits: it must match).
    pub fn may_differ_in(self) -> &'static [&'static str] {
        match self {
            Case::Pipe | Case::LoadData => &["scores"],
            Case::FerryMask => &["users"],
            _ => &[],
        }
    }

    /// Whether this case runs ferry's load without a transformer, so its
    /// target has the source's data as ferry types it.
    pub fn plain_ferry(self) -> bool {
        !self.is_anchor() && self.transform().is_none()
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    /// Peak resident set of the client processes, in bytes (for the pipe:
    /// the largest sum over processes running at the same time).
    pub peak_rss: u64,
    /// What ferry's own end-of-run verification reported, when it ran.
    pub verify: Option<Verified>,
}

/// The `verify` object of ferry's `--json` report, when it passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verified {
    /// `verify.duration_ms`: the verification's share of the wall time.
    pub duration_ms: u64,
    /// Per table: `users: checksum match, sample match`.
    pub checks: Vec<String>,
}

/// Run `ferry migrate` from `source_url` (`sqlite:PATH`, `postgres://…`)
/// into `target_url` as `case` runs it.
pub fn ferry(
    ferry: &Path,
    source_url: &str,
    target_url: &str,
    case: Case,
    sizes: Sizes,
) -> Result<Measured> {
    let mut cmd = Command::new(ferry);
    cmd.arg("migrate")
        .args(["--from", source_url, "--to", target_url, "--json"])
        .args(["--verify", if case.verifies() { "full" } else { "off" }]);
    if let Some(t) = case.transform() {
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
    if let Err(e) = done.check() {
        // ferry prints its report even when the run or its verify failed:
        // its error says more than the exit status.
        return Err(match check_ferry_report(&stdout, sizes, case.verifies()) {
            Err(why) if !stdout.trim().is_empty() => e.context(format!("{why:#}")),
            _ => e,
        });
    }
    let verify = check_ferry_report(&stdout, sizes, case.verifies())?;
    Ok(Measured {
        wall,
        peak_rss: done.peak_rss,
        verify,
    })
}

/// Check ferry's `--json` report: succeeded, every row read was written, and
/// (when `verified`) a full `verify` object with `ok`, every table accounted
/// for and its checksum a match; without `verified`, no `verify` object.
fn check_ferry_report(json: &str, sizes: Sizes, verified: bool) -> Result<Option<Verified>> {
    let report: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("ferry's --json report: {json:?}"))?;
    let status = report["status"].as_str().unwrap_or("?");
    if status != "succeeded" {
        let mut why = format!("ferry reported status {status:?}: {}", report["error"]);
        if report["verify"]["ok"] == false {
            why.push_str(&format!(
                "; verify: {}",
                verify_checks(&report["verify"]).join("; ")
            ));
        }
        bail!(why);
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
    let verify = &report["verify"];
    if !verified {
        if !verify.is_null() {
            bail!("ferry verified the target although the case ran it with --verify off");
        }
        return Ok(None);
    }
    if verify.is_null() {
        bail!("ferry's report has no verify object: the target was not verified");
    }
    if verify["ok"] != true {
        bail!(
            "ferry's verify is not ok: {}",
            verify_checks(verify).join("; ")
        );
    }
    if verify["level"] != "full" {
        bail!("ferry verified at level {}, not full", verify["level"]);
    }
    for table in ["users", "sessions"] {
        let Some(t) = verify["tables"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["table"] == table))
        else {
            bail!("ferry's verify has no table {table}");
        };
        if t["accounted"] != true {
            bail!(
                "ferry's verify of {table}: not every row is accounted for (source {}, target {}, quarantined {})",
                t["source_rows"],
                t["target_rows"],
                t["quarantined"]
            );
        }
        // Without a transformer the values arrive as read: a skipped
        // checksum would be a verification that did not happen.
        if t["checksum"]["status"] != "match" {
            bail!(
                "ferry's verify of {table}: checksum {}, expected a match",
                t["checksum"]
            );
        }
    }
    Ok(Some(Verified {
        duration_ms: verify["duration_ms"].as_u64().unwrap_or(0),
        checks: verify_checks(verify),
    }))
}

/// One line per verified table: `users: checksum match, sample match,
/// 0 orphans` (or what did not match).
fn verify_checks(verify: &serde_json::Value) -> Vec<String> {
    let status = |check: &serde_json::Value| -> String {
        let s = check["status"].as_str().unwrap_or("?");
        match check["detail"].as_str().or(check["reason"].as_str()) {
            Some(why) => format!("{s} ({why})"),
            None => s.to_string(),
        }
    };
    let empty = Vec::new();
    verify["tables"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|t| {
            let mut parts = vec![
                format!("checksum {}", status(&t["checksum"])),
                format!("sample {}", status(&t["sample"])),
            ];
            for fk in t["orphans"].as_array().unwrap_or(&empty) {
                parts.push(format!(
                    "{} {}",
                    fk[0].as_str().unwrap_or("?"),
                    status(&fk[1])
                ));
            }
            for s in t["schema"].as_array().unwrap_or(&empty) {
                parts.push(format!("schema: {}", s.as_str().unwrap_or("?")));
            }
            if t["accounted"] != true {
                parts.push("rows NOT accounted for".to_string());
            }
            format!(
                "{}: {}",
                t["table"].as_str().unwrap_or("?"),
                parts.join(", ")
            )
        })
        .collect()
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
        verify: None,
    })
}

/// The keys the source has, named as ferry names them (`fk_<table>_<n>` for
/// foreign keys, PostgreSQL's defaults otherwise), so the end states match.
const KEYS: &str = "ALTER TABLE users ADD PRIMARY KEY (id); \
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email); \
    ALTER TABLE sessions ADD PRIMARY KEY (id); \
    CREATE INDEX sessions_user ON sessions (user_id); \
    ALTER TABLE sessions ADD CONSTRAINT fk_sessions_0 FOREIGN KEY (user_id) REFERENCES users (id);";

/// The target columns when ferry's are not known (its cases failed): the
/// mapping of docs/type-mapping.md applied to the generated schema, with the
/// promotions `ferry plan` shows for its values (ISO timestamps with a zone
/// → timestamptz, the 0/1 `active` flag → boolean, JSON objects → jsonb).
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
        col("users", "created_at", "timestamp with time zone", false),
        col("users", "active", "boolean", false),
        col("users", "prefs", "jsonb", true),
        col("sessions", "id", "bigint", false),
        col("sessions", "user_id", "bigint", false),
        col("sessions", "token", "text", false),
        col("sessions", "created_at", "timestamp with time zone", false),
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
/// PostgreSQL's `\x…` hex input. SQLite's `hex(NULL)` is `''`, so a NULL
/// blob is kept NULL explicitly (else it would arrive as an empty bytea).
fn select_csv(table: &str, columns: &[Column]) -> Result<String> {
    let cols: Vec<String> = columns
        .iter()
        .filter(|c| c.table == table)
        .map(|c| {
            if c.data_type == "bytea" {
                format!(
                    "CASE WHEN \"{0}\" IS NULL THEN NULL ELSE '\\x' || hex(\"{0}\") END",
                    c.name
                )
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

/// The name of this run's database for `what` (a case's slug, `pgsrc`):
/// `ferry_bench_<what>_<pid>_<token>`. Each case drops a leftover of its
/// name before creating it, so the name must be this run's alone: the pid
/// is not, when benchmarks in other PID namespaces (containers) share the
/// server, so a token from the start time follows it.
pub fn db_name(what: &str) -> String {
    static TOKEN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let token = TOKEN.get_or_init(|| {
        // The clock's nanoseconds: different for runs started apart; a
        // clock before 1970 only costs the token its variety.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32))
    });
    format!("ferry_bench_{what}_{}_{token:08x}", std::process::id())
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
pub(crate) struct Running {
    pub child: Child,
    stderr: JoinHandle<Vec<u8>>,
    what: String,
}

/// A child that has exited.
pub(crate) struct Finished {
    status: ExitStatus,
    pub peak_rss: u64,
    stderr: String,
    what: String,
}

impl Running {
    pub fn spawn(cmd: &mut Command, what: &str) -> Result<Running> {
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
    pub fn finish(self) -> Result<Finished> {
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
    pub fn check(&self) -> Result<()> {
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
            "SELECT \"id\", \"user_id\", \"token\", \"created_at\", \"score\", \
             CASE WHEN \"payload\" IS NULL THEN NULL ELSE '\\x' || hex(\"payload\") END FROM sessions"
        );
        assert!(select_csv("orders", &cols).is_err());
    }

    /// A `ferry migrate --json` report of 10 users and 40 sessions;
    /// `verify` is the JSON of its verify object, if any.
    fn ferry_report(users_written: u64, verify: Option<&str>) -> String {
        let verify = verify.map_or(String::new(), |v| format!(r#","verify":{v}"#));
        format!(
            r#"{{"status":"succeeded","tables":[
                {{"name":"users","rows_read":10,"rows_written":{users_written},"rows_rejected":0}},
                {{"name":"sessions","rows_read":40,"rows_written":40,"rows_rejected":0}}]{verify}}}"#
        )
    }

    /// A verify object; `users_checksum` is the users table's checksum check.
    fn verify_json(ok: bool, users_accounted: bool, users_checksum: &str) -> String {
        format!(
            r#"{{"ok":{ok},"level":"full","duration_ms":1234,"tables":[
                {{"table":"users","accounted":{users_accounted},"source_rows":10,"target_rows":10,"quarantined":0,
                  "checksum":{users_checksum},"sample":{{"status":"match","value":"10 rows equal"}},
                  "orphans":[],"schema":[]}},
                {{"table":"sessions","accounted":true,"source_rows":40,"target_rows":40,"quarantined":0,
                  "checksum":{{"status":"match","value":"ab"}},"sample":{{"status":"match","value":"40 rows equal"}},
                  "orphans":[["fk_sessions_0",{{"status":"match","value":"0 orphans in 40 rows"}}]],"schema":[]}}]}}"#
        )
    }

    #[test]
    fn ferry_report_must_account_for_every_row() {
        let sizes = Sizes::for_total(50);
        assert_eq!(
            check_ferry_report(&ferry_report(10, None), sizes, false).unwrap(),
            None
        );
        let err = check_ferry_report(&ferry_report(9, None), sizes, false).unwrap_err();
        assert!(err.to_string().contains("written 9"), "{err}");
        let err = check_ferry_report(r#"{"status":"failed","error":"x"}"#, sizes, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"status "failed": "x""#), "{err}");
    }

    #[test]
    fn ferry_report_must_show_a_passed_full_verify_when_asked() {
        let sizes = Sizes::for_total(50);
        let matched = r#"{"status":"match","value":"cd"}"#;
        let good = verify_json(true, true, matched);
        let verified = check_ferry_report(&ferry_report(10, Some(&good)), sizes, true)
            .unwrap()
            .unwrap();
        assert_eq!(verified.duration_ms, 1234);
        assert_eq!(
            verified.checks,
            [
                "users: checksum match, sample match",
                "sessions: checksum match, sample match, fk_sessions_0 match"
            ]
        );
        // Asked to verify: the object must be there, ok, accounted, matched.
        let err = |json: String| {
            check_ferry_report(&json, sizes, true)
                .unwrap_err()
                .to_string()
        };
        assert!(err(ferry_report(10, None)).contains("no verify object"));
        assert!(
            err(ferry_report(10, Some(&verify_json(false, true, matched))))
                .contains("verify is not ok")
        );
        assert!(
            err(ferry_report(10, Some(&verify_json(true, false, matched))))
                .contains("not every row is accounted for")
        );
        let skipped = r#"{"status":"skipped","reason":"values are changed by transformer mask"}"#;
        assert!(
            err(ferry_report(10, Some(&verify_json(true, true, skipped))))
                .contains("expected a match")
        );
        // Run with --verify off: a verify object means the flag was ignored.
        let err = check_ferry_report(&ferry_report(10, Some(&good)), sizes, false).unwrap_err();
        assert!(err.to_string().contains("--verify off"), "{err}");
        // A failed verify fails the run; the report says why.
        let failed = format!(
            r#"{{"status":"failed","error":"verify failed","verify":{}}}"#,
            verify_json(
                false,
                true,
                r#"{"status":"mismatch","detail":"md5 differs"}"#
            )
        );
        let err = check_ferry_report(&failed, sizes, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("users: checksum mismatch (md5 differs)"),
            "{err}"
        );
    }

    #[test]
    fn cases_say_how_ferry_runs() {
        for case in Case::EVERY {
            assert_eq!(case.verifies(), case.label().contains("verify full"));
            assert_eq!(
                case.label().contains("--verify off"),
                !case.is_anchor() && !case.verifies()
            );
            assert!(case.pair().cases().contains(&case));
            assert_eq!(case.pair().load_case().label(), "ferry --verify off");
        }
        let mut slugs: Vec<&str> = Case::EVERY.iter().map(|c| c.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), Case::EVERY.len(), "database names are unique");
        for pair in Pair::ALL {
            let mut run = pair.run_order();
            run.sort();
            assert_eq!(run, pair.cases(), "every case of {pair} runs once a round");
            assert_eq!(pair.run_order().last(), Some(&pair.anchor()));
            assert_eq!(pair.slug().parse::<Pair>(), Ok(pair));
            let anchors: Vec<Case> = pair
                .cases()
                .iter()
                .copied()
                .filter(|c| c.is_anchor())
                .collect();
            assert_eq!(anchors, [pair.anchor()]);
        }
        assert!("sqlite-mysql".parse::<Pair>().is_err());
    }

    #[test]
    fn database_names_are_this_runs_and_fit_an_identifier() {
        let name = db_name(Case::MariadbVerify.slug());
        assert_eq!(name, db_name("maria_verify"), "one token per run");
        assert!(name.starts_with(&format!("ferry_bench_maria_verify_{}_", std::process::id())));
        // PostgreSQL keeps 63 bytes of a name, MariaDB 64 characters.
        for case in Case::EVERY {
            assert!(db_name(case.slug()).len() <= 63);
        }
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
