//! Status, up, down, baseline, reset and repair against a target, under a
//! lock, with the history re-read after taking it.
//!
//! Transactions: on PostgreSQL and SQLite each migration runs in its own
//! transaction with its history row, so it is applied whole or not at all.
//! MySQL/MariaDB commit each DDL statement on their own (as does a file
//! marked `-- ferry:no-transaction`): there the history row is written
//! first and counts the statements as each completes, so a failure says
//! exactly which statements stayed applied, and the next `up` continues
//! from the one that failed.
//!
//! The lock: PostgreSQL's `pg_try_advisory_lock` and MySQL's `GET_LOCK`
//! held for the whole command, polled (never a blocking wait that a
//! stuck session would hold forever); SQLite's `BEGIN IMMEDIATE` around
//! each migration, with that migration's history re-read inside it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::SchemaError;
use super::files::{Dir, Flavor, Kind, Migration};
use super::history::{self, Entry, NewEntry};
use crate::endpoint::sql::SqlConn;
use crate::endpoint::{self, EndpointUrl};

/// The session lock's name (PostgreSQL hashes it to an advisory key;
/// MySQL scopes it by the database's name).
const LOCK_NAME: &str = "ferry schema";

/// How often a held lock is tried again.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// How long `up`, `down`, `baseline` and `reset` wait for the lock unless
/// told (`--lock-timeout`): long enough for another process's migrations,
/// short enough that a forgotten session is reported, not waited on.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// A target database, connected.
pub struct Target {
    conn: Box<dyn SqlConn>,
    url: EndpointUrl,
    flavor: Flavor,
}

impl Target {
    pub async fn open(url: &EndpointUrl) -> Result<Target, SchemaError> {
        if !url.is_sql() {
            return Err(SchemaError::Refused(format!(
                "{url}: ferry schema versions SQL databases (sqlite:PATH, postgres://…, mysql://…)"
            )));
        }
        let conn = endpoint::open_sql(url).await?;
        let flavor = Flavor::of(conn.dialect().name);
        Ok(Target {
            conn,
            url: url.clone(),
            flavor,
        })
    }

    pub fn name(&self) -> String {
        self.url.to_string()
    }

    fn conn(&mut self) -> &mut dyn SqlConn {
        self.conn.as_mut()
    }

    /// Takes the session lock (PostgreSQL, MySQL), polling until `timeout`.
    async fn lock(&mut self, timeout: Duration) -> Result<(), SchemaError> {
        let Some(sql) = self.conn.dialect().try_lock else {
            return Ok(());
        };
        let start = Instant::now();
        let mut said = false;
        loop {
            let rows = history::query(self.conn(), sql, &[LOCK_NAME.into()]).await?;
            if rows.first().is_some_and(|r| r[0].bool()) {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                return Err(SchemaError::Refused(format!(
                    "{}: another ferry schema holds the schema lock (waited {} s); let it finish, or raise --lock-timeout",
                    self.name(),
                    timeout.as_secs()
                )));
            }
            if !said {
                eprintln!(
                    "waiting for the schema lock on {} (another ferry schema holds it)",
                    self.name()
                );
                said = true;
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Tables that are not ferry's own.
    async fn user_tables(&mut self) -> Result<i64, SchemaError> {
        let sql = self.conn.dialect().count_user_tables;
        let rows = history::query(self.conn(), sql, &[]).await?;
        Ok(rows.first().and_then(|r| r[0].int()).unwrap_or(0))
    }
}

/// One migration in a status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub version: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where a target stands against a migration directory.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Status {
    pub target: String,
    /// The highest versioned migration applied (or adopted by a baseline).
    pub current: Option<String>,
    pub baseline: Option<String>,
    pub applied: Vec<Line>,
    pub pending: Vec<Line>,
    /// Pending, but older than one already applied (a merge brought it in).
    pub out_of_order: Vec<Line>,
    /// Applied, and the file changed since.
    pub drifted: Vec<Line>,
    /// Applied, and the file is gone.
    pub missing: Vec<Line>,
    /// Started and not finished (a failure, or a process killed).
    pub failed: Vec<Line>,
    /// How `ferry.sum` disagrees with the files.
    pub sum: Vec<String>,
}

impl Status {
    /// What `status --check` fails on.
    pub fn clean(&self) -> bool {
        self.pending.is_empty()
            && self.drifted.is_empty()
            && self.missing.is_empty()
            && self.failed.is_empty()
            && self.sum.is_empty()
    }
}

fn line(m: &Migration, detail: Option<String>) -> Line {
    Line {
        version: m.version.clone(),
        name: m.name.clone(),
        detail,
    }
}

/// The status of `dir` against a history (each version's latest row).
pub fn status_of(target: String, dir: &Dir, latest: &BTreeMap<String, Entry>) -> Status {
    let mut s = Status {
        target,
        ..Status::default()
    };
    let baseline = latest
        .values()
        .filter(|e| e.direction == "baseline" && e.applied())
        .filter_map(|e| {
            e.version
                .parse::<u64>()
                .ok()
                .map(|n| (n, e.version.clone()))
        })
        .max();
    s.baseline = baseline.as_ref().map(|(_, v)| v.clone());
    let mut highest: Option<(u64, String)> = baseline.clone();
    for m in &dir.versioned {
        if let Some(e) = latest.get(&m.version)
            && e.applied()
            && e.direction != "baseline"
            && highest.as_ref().is_none_or(|(n, _)| m.number > *n)
        {
            highest = Some((m.number, m.version.clone()));
        }
    }
    s.current = highest.as_ref().map(|(_, v)| v.clone());
    let top = highest.map(|(n, _)| n).unwrap_or(0);
    let below_baseline = |m: &Migration| baseline.as_ref().is_some_and(|(n, _)| m.number <= *n);
    for m in dir.all() {
        match latest.get(&m.version) {
            Some(e) if e.unfinished() => s.failed.push(line(
                m,
                Some(format!(
                    "{} {}: {} of {} statements done{}",
                    e.direction,
                    e.status,
                    e.statements_done,
                    e.statements_total,
                    e.error
                        .as_deref()
                        .map(|x| format!(" — {x}"))
                        .unwrap_or_default()
                )),
            )),
            Some(e) if e.applied() && e.direction == "baseline" => {
                s.applied.push(line(m, Some("baseline".into())))
            }
            Some(e) if e.applied() => {
                if e.checksum.as_deref() == Some(m.checksum.as_str()) {
                    s.applied.push(line(m, None));
                } else if m.kind == Kind::Repeatable {
                    s.pending
                        .push(line(m, Some("changed: applied again".into())));
                } else {
                    s.drifted.push(line(
                        m,
                        Some(format!("{} changed after it was applied", m.file_name())),
                    ));
                }
            }
            _ if m.kind == Kind::Versioned && below_baseline(m) => s
                .applied
                .push(line(m, Some("adopted by the baseline".into()))),
            _ => {
                if m.kind == Kind::Versioned && m.number < top {
                    s.out_of_order.push(line(m, None));
                }
                s.pending.push(line(m, None));
            }
        }
    }
    for e in latest.values() {
        let has_file = dir.all().any(|m| m.version == e.version);
        if !has_file && e.applied() && e.direction != "baseline" {
            s.missing.push(Line {
                version: e.version.clone(),
                name: e.name.clone(),
                detail: Some("applied, and its file is gone from the directory".into()),
            });
        }
    }
    s
}

/// Reads the status of `url` against `dir` (writes nothing: a SQLite file
/// that does not exist yet is not created, its history is empty).
pub async fn status(url: &EndpointUrl, dir: &Dir) -> Result<Status, SchemaError> {
    let entries = if endpoint::would_create(url) {
        Vec::new()
    } else {
        let mut t = Target::open(url).await?;
        history::entries(t.conn()).await?
    };
    let mut s = status_of(url.to_string(), dir, &history::latest(&entries));
    s.sum = dir.sum_mismatches()?;
    Ok(s)
}

/// The full history, oldest first.
pub async fn log(url: &EndpointUrl) -> Result<Vec<Entry>, SchemaError> {
    if endpoint::would_create(url) {
        return Ok(Vec::new());
    }
    let mut t = Target::open(url).await?;
    history::entries(t.conn()).await
}

/// What `up` and `down` are told.
#[derive(Debug, Clone)]
pub struct Options {
    /// `up`: stop after this version; `down`: revert down to (and keep) it.
    pub to: Option<u64>,
    /// `down`: how many to revert (default 1 without `to`).
    pub steps: Option<usize>,
    pub dry_run: bool,
    pub allow_out_of_order: bool,
    /// A failed non-transactional migration runs from its first statement
    /// again (its applied statements were undone by hand) instead of
    /// continuing from the one that failed.
    pub restart: bool,
    pub lock_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            to: None,
            steps: None,
            dry_run: false,
            allow_out_of_order: false,
            restart: false,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

/// One migration `up` or `down` ran (or, dry, would run).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub version: String,
    pub name: String,
    pub direction: String,
    pub statements: usize,
    /// Statements skipped because an earlier attempt applied them.
    pub resumed_from: usize,
    pub duration_ms: i64,
    /// `--dry-run`: the SQL, history writes included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// A refusal that lists `what` and says how to go on.
fn refuse(what: &str, lines: &[Line], next: &str) -> SchemaError {
    let list: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "  {} {}{}",
                l.version,
                l.name,
                l.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    SchemaError::Refused(format!("{what}:\n{}\n{next}", list.join("\n")))
}

/// Checks that make `up` and `down` refuse before touching anything.
fn refuse_unsafe(s: &Status, dir: &Dir) -> Result<(), SchemaError> {
    if !s.sum.is_empty() {
        return Err(SchemaError::Refused(format!(
            "{} does not match the migration files:\n  {}",
            dir.path.join(super::files::SUM_FILE).display(),
            s.sum.join("\n  ")
        )));
    }
    if !s.drifted.is_empty() {
        return Err(refuse(
            "applied migrations changed since they were applied",
            &s.drifted,
            "restore the files, or accept them as they are with `ferry schema validate --repair`",
        ));
    }
    if !s.missing.is_empty() {
        return Err(refuse(
            "applied migrations are gone from the directory",
            &s.missing,
            "restore the files (another branch?)",
        ));
    }
    Ok(())
}

/// `ferry schema up`: applies what is pending, in order, then the changed
/// repeatable migrations.
pub async fn up(url: &EndpointUrl, dir: &Dir, o: &Options) -> Result<Vec<Step>, SchemaError> {
    let mut t = Target::open(url).await?;
    if !o.dry_run {
        t.lock(o.lock_timeout).await?;
    }
    // Read after the lock: another process may have applied some already.
    let mut entries = history::entries(t.conn()).await?;
    if entries.is_empty() {
        // Tables first, then the history again: a table another process's
        // migration created commits with its history row (SQLite has no
        // session lock), so tables without history are a database ferry
        // never versioned, not a race.
        let n = t.user_tables().await?;
        entries = history::entries(t.conn()).await?;
        if entries.is_empty() && n > 0 {
            return Err(SchemaError::Refused(format!(
                "{} has {n} tables and no schema history: `ferry schema baseline --version V` adopts it as of migration V (the last one its schema already has), then `up` applies the rest",
                t.name()
            )));
        }
    }
    let mut s = status_of(t.name(), dir, &history::latest(&entries));
    s.sum = dir.sum_mismatches()?;
    refuse_unsafe(&s, dir)?;
    if !s.out_of_order.is_empty() && !o.allow_out_of_order {
        return Err(refuse(
            &format!(
                "pending migrations are older than the current version {}",
                s.current.as_deref().unwrap_or("-")
            ),
            &s.out_of_order,
            "if they are independent of the ones applied after them, `ferry schema up --allow-out-of-order` applies them",
        ));
    }
    let latest = history::latest(&entries);
    let pending: Vec<&Migration> = dir
        .versioned
        .iter()
        .filter(|m| o.to.is_none_or(|v| m.number <= v))
        .chain(dir.repeatable.iter().filter(|_| o.to.is_none()))
        .filter(|m| {
            s.pending
                .iter()
                .chain(&s.failed)
                .any(|l| l.version == m.version)
        })
        .collect();
    if !o.dry_run && !pending.is_empty() {
        history::ensure(t.conn()).await?;
    }
    let mut steps = Vec::new();
    for m in pending {
        let statements = m.up.statements(t.flavor);
        let earlier = latest.get(&m.version).filter(|e| e.unfinished());
        let from = match earlier {
            Some(e) if !o.restart && !transactional(&t, m) => {
                (e.statements_done.max(0) as usize).min(statements.len())
            }
            _ => 0,
        };
        steps.push(run(&mut t, m, "up", &statements, from, o.dry_run).await?);
    }
    Ok(steps)
}

/// `ferry schema down`: reverts the newest applied migrations with their
/// `down` sections.
pub async fn down(url: &EndpointUrl, dir: &Dir, o: &Options) -> Result<Vec<Step>, SchemaError> {
    let mut t = Target::open(url).await?;
    if !o.dry_run {
        t.lock(o.lock_timeout).await?;
    }
    let entries = history::entries(t.conn()).await?;
    let latest = history::latest(&entries);
    let mut s = status_of(t.name(), dir, &latest);
    s.sum = dir.sum_mismatches()?;
    refuse_unsafe(&s, dir)?;
    if !s.failed.is_empty() {
        return Err(refuse(
            "a migration did not finish",
            &s.failed,
            "finish it with `ferry schema up` first (or undo its applied statements by hand and `ferry schema up --restart`)",
        ));
    }
    let applied: Vec<&Migration> = dir
        .versioned
        .iter()
        .rev()
        .filter(|m| s.applied.iter().any(|l| l.version == m.version))
        .collect();
    let chosen: Vec<&Migration> = match (o.to, o.steps) {
        (Some(v), _) => applied.into_iter().filter(|m| m.number > v).collect(),
        (None, n) => applied.into_iter().take(n.unwrap_or(1)).collect(),
    };
    for m in &chosen {
        let by_baseline = latest
            .get(&m.version)
            .is_none_or(|e| e.direction == "baseline");
        if by_baseline {
            return Err(SchemaError::Refused(format!(
                "migration {} ({}) was adopted by the baseline, not applied by ferry: its schema predates the history; restore a backup of the database to go further back",
                m.version, m.name
            )));
        }
        if m.down.is_none() {
            return Err(SchemaError::Refused(format!(
                "{} has no `-- ferry:down` section, so it cannot be reverted. The way back: restore the data backup of a ferry run into this target (`ferry rollback RUN --to {}`), or write the down section (then `ferry schema validate --repair` accepts the edited file)",
                m.file_name(),
                t.name()
            )));
        }
    }
    let mut steps = Vec::new();
    for m in chosen {
        let statements = m
            .down
            .as_ref()
            .map(|d| d.statements(t.flavor))
            .unwrap_or_default();
        steps.push(run(&mut t, m, "down", &statements, 0, o.dry_run).await?);
    }
    Ok(steps)
}

fn transactional(t: &Target, m: &Migration) -> bool {
    !m.no_transaction && t.conn.dialect().transactional_ddl
}

/// Runs one migration's statements from `from` on, with its history.
async fn run(
    t: &mut Target,
    m: &Migration,
    direction: &str,
    statements: &[String],
    from: usize,
    dry_run: bool,
) -> Result<Step, SchemaError> {
    let kind = match m.kind {
        Kind::Versioned => "versioned",
        Kind::Repeatable => "repeatable",
    };
    let entry = |status: &'static str, done: usize| NewEntry {
        version: &m.version,
        name: &m.name,
        kind,
        direction,
        checksum: Some(&m.checksum),
        status,
        statements_done: done,
        statements_total: statements.len(),
        duration_ms: None,
        error: None,
    };
    let tx = transactional(t, m);
    if dry_run {
        let mut sql = format!("-- {} {} ({direction})\n", m.version, m.name);
        let begin = if t.flavor == Flavor::Sqlite {
            "BEGIN IMMEDIATE"
        } else {
            t.conn.dialect().begin
        };
        if tx {
            sql.push_str(&format!("{begin};\n"));
        }
        for s in &statements[from..] {
            sql.push_str(s);
            sql.push_str(";\n");
        }
        sql.push_str(&history::insert_text(&entry("ok", statements.len())));
        sql.push('\n');
        if tx {
            sql.push_str("COMMIT;\n");
        }
        return Ok(Step {
            version: m.version.clone(),
            name: m.name.clone(),
            direction: direction.into(),
            statements: statements.len(),
            resumed_from: from,
            duration_ms: 0,
            sql: Some(sql),
        });
    }
    let start = Instant::now();
    let ms = |start: Instant| start.elapsed().as_millis() as i64;
    let failed = |i: usize, message: String, advice: String| SchemaError::Failed {
        version: m.version.clone(),
        name: m.name.clone(),
        statement: i + 1,
        total: statements.len(),
        message,
        advice,
    };
    if tx {
        let begin = if t.flavor == Flavor::Sqlite {
            "BEGIN IMMEDIATE"
        } else {
            t.conn.dialect().begin
        };
        history::exec(t.conn(), begin, &[]).await?;
        // SQLite's lock is this transaction: another process may have
        // applied the migration while this one waited for it.
        if t.flavor == Flavor::Sqlite && history::exists(t.conn()).await? {
            let now = history::latest(&history::entries(t.conn()).await?);
            let done = now.get(&m.version).is_some_and(|e| {
                e.status == "ok"
                    && (e.direction == direction || (direction == "up" && e.applied()))
                    && e.checksum.as_deref() == Some(m.checksum.as_str())
            });
            if done {
                history::exec(t.conn(), "ROLLBACK", &[]).await?;
                return Ok(Step {
                    version: m.version.clone(),
                    name: m.name.clone(),
                    direction: format!("{direction} (already done by another process)"),
                    statements: 0,
                    resumed_from: 0,
                    duration_ms: ms(start),
                    sql: None,
                });
            }
        }
        for (i, s) in statements.iter().enumerate() {
            if let Err(e) = t.conn().exec(s, &[]).await {
                let _ = t.conn().exec("ROLLBACK", &[]).await;
                let mut row = entry("failed", 0);
                row.error = Some(e.message.clone());
                row.duration_ms = Some(ms(start));
                history::insert(t.conn(), &row).await?;
                return Err(failed(
                    i,
                    e.message,
                    format!(
                        "Nothing of it was applied: its transaction was rolled back. Fix {} and run `ferry schema {direction}` again.",
                        m.file_name()
                    ),
                ));
            }
        }
        let mut row = entry("ok", statements.len());
        row.duration_ms = Some(ms(start));
        history::insert(t.conn(), &row).await?;
        history::exec(t.conn(), "COMMIT", &[]).await?;
    } else {
        let id = history::insert(t.conn(), &entry("running", from)).await?;
        for (i, s) in statements.iter().enumerate().skip(from) {
            if let Err(e) = t.conn().exec(s, &[]).await {
                history::progress(
                    t.conn(),
                    id,
                    i,
                    "failed",
                    Some(ms(start)),
                    Some(e.message.clone()),
                )
                .await?;
                let kept = if i == 0 {
                    "No statement of it was applied.".to_string()
                } else if i == 1 {
                    "Statement 1 was applied and stays applied (each statement commits on its own here).".to_string()
                } else {
                    format!(
                        "Statements 1–{i} were applied and stay applied (each statement commits on its own here)."
                    )
                };
                return Err(failed(
                    i,
                    e.message,
                    format!(
                        "{kept} Either fix the cause and run `ferry schema {direction}`: it continues from statement {} and does not run the applied ones again; or undo what was applied by hand and run `ferry schema {direction} --restart` to run the whole migration again.",
                        i + 1
                    ),
                ));
            }
            history::progress(t.conn(), id, i + 1, "running", None, None).await?;
        }
        history::progress(t.conn(), id, statements.len(), "ok", Some(ms(start)), None).await?;
    }
    Ok(Step {
        version: m.version.clone(),
        name: m.name.clone(),
        direction: direction.into(),
        statements: statements.len(),
        resumed_from: from,
        duration_ms: ms(start),
        sql: None,
    })
}

/// `ferry schema baseline --version V`: adopts a database whose schema
/// already is what migrations up to V produce.
pub async fn baseline(
    url: &EndpointUrl,
    dir: &Dir,
    version: &str,
    lock_timeout: Duration,
) -> Result<Step, SchemaError> {
    let number: u64 = version
        .trim()
        .parse()
        .map_err(|_| SchemaError::Refused(format!("--version {version}: give a version number")))?;
    // The file's own spelling (`0003`) when there is one.
    let (version, name) = dir
        .versioned
        .iter()
        .find(|m| m.number == number)
        .map(|m| (m.version.clone(), m.name.clone()))
        .unwrap_or_else(|| (version.trim().to_string(), "baseline".into()));
    let mut t = Target::open(url).await?;
    t.lock(lock_timeout).await?;
    let entries = history::entries(t.conn()).await?;
    if entries.iter().any(|e| e.status == "ok") {
        return Err(SchemaError::Refused(format!(
            "{} already has a schema history ({} entries): baseline adopts a database without one; `ferry schema status` shows where it stands",
            t.name(),
            entries.len()
        )));
    }
    history::ensure(t.conn()).await?;
    history::insert(
        t.conn(),
        &NewEntry {
            version: &version,
            name: &name,
            kind: "baseline",
            direction: "baseline",
            checksum: None,
            status: "ok",
            statements_done: 0,
            statements_total: 0,
            duration_ms: Some(0),
            error: None,
        },
    )
    .await?;
    Ok(Step {
        version,
        name,
        direction: "baseline".into(),
        statements: 0,
        resumed_from: 0,
        duration_ms: 0,
        sql: None,
    })
}

/// `ferry schema validate --repair`: records the drifted files' current
/// checksums as applied and rewrites `ferry.sum`. Returns what it accepted.
pub async fn repair(
    url: &EndpointUrl,
    dir: &Dir,
    lock_timeout: Duration,
) -> Result<Vec<Line>, SchemaError> {
    let mut t = Target::open(url).await?;
    t.lock(lock_timeout).await?;
    let entries = history::entries(t.conn()).await?;
    let s = status_of(t.name(), dir, &history::latest(&entries));
    for l in &s.drifted {
        let Some(m) = dir.all().find(|m| m.version == l.version) else {
            continue;
        };
        history::insert(
            t.conn(),
            &NewEntry {
                version: &m.version,
                name: &m.name,
                kind: "versioned",
                direction: "repair",
                checksum: Some(&m.checksum),
                status: "ok",
                statements_done: 0,
                statements_total: 0,
                duration_ms: Some(0),
                error: None,
            },
        )
        .await?;
    }
    dir.write_sum()?;
    Ok(s.drifted)
}

/// `ferry schema reset`: reverts every applied migration, forgets the
/// history, and applies everything again. Development only.
pub async fn reset(url: &EndpointUrl, dir: &Dir, o: &Options) -> Result<Vec<Step>, SchemaError> {
    let down_all = Options {
        to: Some(0),
        ..o.clone()
    };
    let mut steps = down(url, dir, &down_all).await?;
    if !o.dry_run {
        let mut t = Target::open(url).await?;
        t.lock(o.lock_timeout).await?;
        history::drop_all(t.conn()).await?;
    }
    steps.extend(up(url, dir, o).await?);
    Ok(steps)
}

/// The live schema against what the applied migrations produce.
#[derive(Debug, Clone, Serialize)]
pub struct LiveCheck {
    /// Differences found (0: the live schema is what the files make).
    pub changes: usize,
    /// SQL that would turn the live schema into the migrations' result.
    pub sql: String,
    /// Why the live schema was not compared, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Replays the applied migrations into a scratch database beside `url`
/// and compares its schema with the live one (like `ferry schema diff`).
pub async fn check_live(url: &EndpointUrl, dir: &Dir) -> Result<LiveCheck, SchemaError> {
    let mut t = Target::open(url).await?;
    let entries = history::entries(t.conn()).await?;
    let latest = history::latest(&entries);
    let s = status_of(t.name(), dir, &latest);
    if let Some(b) = &s.baseline {
        return Ok(LiveCheck {
            changes: 0,
            sql: String::new(),
            skipped: Some(format!(
                "the schema the baseline {b} adopted is not in the files, so it cannot be replayed"
            )),
        });
    }
    // Applied ones as their files read now: a drifted file's edit shows
    // up as the difference it would make.
    let applied: Vec<&Migration> = dir
        .all()
        .filter(|m| latest.get(&m.version).is_some_and(Entry::applied))
        .collect();
    let scratch = endpoint::create_scratch(url).await?;
    let result = async {
        let mut shadow = Target::open(&scratch).await?;
        for m in &applied {
            for (i, st) in m.up.statements(shadow.flavor).iter().enumerate() {
                shadow.conn().exec(st, &[]).await.map_err(|e| {
                    SchemaError::Refused(format!(
                        "{} does not replay in a scratch database (statement {}): {}",
                        m.file_name(),
                        i + 1,
                        e.message
                    ))
                })?;
            }
        }
        drop(shadow);
        super::diff::diff(&url.raw(), &scratch.raw(), &Default::default()).await
    }
    .await;
    endpoint::drop_scratch(url, &scratch).await?;
    let d = result?;
    Ok(LiveCheck {
        changes: d.changes,
        sql: d.up,
        skipped: None,
    })
}
