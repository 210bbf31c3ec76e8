//! PostgreSQL through the `psql` CLI, for the benchmark's own bookkeeping:
//! a fresh database per case (dropped afterwards, even on error) and the
//! end-state checks. Nothing here is timed.

use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::generate::{SCORE_SQL, Sizes};

/// The database `psql` connects to for CREATE/DROP DATABASE and CHECKPOINT.
const ADMIN_DB: &str = "postgres";

/// A PostgreSQL server, addressed by a base URL without a database.
#[derive(Debug, Clone)]
pub struct Server {
    /// `postgres://USER@HOST:PORT`, no trailing slash.
    base: String,
}

impl Server {
    /// Parse `postgres://USER@HOST:PORT` (a trailing `/DB` is ignored: every
    /// case gets its own database).
    pub fn new(url: &str) -> Result<Self> {
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("--pg {url:?}: expected postgres://USER@HOST:PORT");
        };
        if scheme != "postgres" && scheme != "postgresql" {
            bail!("--pg {url:?}: the scheme must be postgres:// or postgresql://");
        }
        if rest.contains('?') {
            bail!("--pg {url:?}: give the base URL without parameters");
        }
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            bail!("--pg {url:?}: the host is missing");
        }
        Ok(Server {
            base: format!("{scheme}://{authority}"),
        })
    }

    /// `HOST:PORT`, for the report.
    pub fn address(&self) -> &str {
        let authority = self.base.split_once("://").map_or("", |(_, a)| a);
        authority.rsplit_once('@').map_or(authority, |(_, hp)| hp)
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }

    /// Run `sql` in `db`; the last statement's rows, unaligned (`a|b|c`), one per line.
    pub fn query(&self, db: &str, sql: &str) -> Result<String> {
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .arg("-c")
            .arg(sql)
            .output()
            .context("running psql (is the PostgreSQL client installed?)")?;
        if !out.status.success() {
            bail!(
                "psql on {}: {}\n  query: {sql}",
                self.url(db),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        String::from_utf8(out.stdout).context("psql printed invalid UTF-8")
    }

    /// The server version, e.g. `15.20`.
    pub fn version(&self) -> Result<String> {
        let v = self
            .query(ADMIN_DB, "SHOW server_version")
            .with_context(|| format!("cannot reach PostgreSQL at {}", self.base))?;
        Ok(v.split_whitespace().next().unwrap_or("?").to_string())
    }

    /// Flush the previous case's dirty pages, so that no case pays for
    /// another's background writes.
    pub fn checkpoint(&self) -> Result<()> {
        self.query(ADMIN_DB, "CHECKPOINT").map(drop)
    }

    /// Create the empty database `name` (dropping a leftover of that name);
    /// it is dropped again when the returned guard goes out of scope.
    pub fn create(&self, name: &str) -> Result<TempDb<'_>> {
        let db = TempDb {
            server: self,
            name: name.to_string(),
        };
        db.drop_now()?;
        self.query(ADMIN_DB, &format!("CREATE DATABASE {}", ident(name)))
            .with_context(|| format!("creating database {name}"))?;
        Ok(db)
    }
}

/// A database that exists for one case run.
pub struct TempDb<'a> {
    server: &'a Server,
    pub name: String,
}

impl TempDb<'_> {
    pub fn url(&self) -> String {
        self.server.url(&self.name)
    }

    fn drop_now(&self) -> Result<()> {
        self.server
            .query(
                ADMIN_DB,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(&self.name)),
            )
            .map(drop)
            .with_context(|| format!("dropping database {}", self.name))
    }

    /// The end state of the migrated tables.
    pub fn end_state(&self) -> Result<EndState> {
        end_state(self.server, &self.name)
    }
}

impl Drop for TempDb<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.drop_now() {
            eprintln!("ferry-bench: warning: {e:#}");
        }
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One target column, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub table: String,
    pub name: String,
    /// `format_type`'s spelling, with any length or precision
    /// (`character varying(255)`), so the pipe can create the same column.
    pub data_type: String,
    pub nullable: bool,
}

impl Column {
    /// `bigint not null`, `text`, …
    pub fn type_text(&self) -> String {
        if self.nullable {
            self.data_type.clone()
        } else {
            format!("{} not null", self.data_type)
        }
    }
}

/// What a case left in its target database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndState {
    pub users: u64,
    pub sessions: u64,
    /// Primary keys on `users` and `sessions` (expected 2).
    pub primary_keys: u64,
    /// Unique constraints on those tables (expected 1: users.email).
    pub unique: u64,
    /// Validated foreign keys (expected 1: sessions.user_id → users.id).
    pub foreign_keys: u64,
    /// Whether the index `sessions_user` exists.
    pub index: bool,
    /// `md5(string_agg(md5(users::text), '' ORDER BY id))`: every column
    /// as the target's types print it (see [`DATA_SETTINGS`]). Each row is
    /// hashed first so the aggregate is 32 bytes a row: PostgreSQL's 1 GB
    /// limit on a text value is then reached at ~33 M rows, not ~5 M.
    pub users_md5: String,
    /// The same over `sessions` without `score`, which [`Self::score_md5`]
    /// covers: so a rounded score does not hide the other columns.
    pub sessions_md5: String,
    /// `md5(string_agg(score::text, ',' ORDER BY id))` with `extra_float_digits = 3`.
    pub score_md5: String,
    /// Sessions whose score is not the source's value exactly.
    pub scores_differing: u64,
    /// Every table in the `public` schema, by name.
    pub tables: Vec<String>,
    /// The columns of `users` then `sessions`.
    pub columns: Vec<Column>,
    /// The constraints and indexes of `users` then `sessions`.
    pub keys: Vec<Key>,
}

/// A constraint or index: `users`, `UNIQUE (email)`, `users_email_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Key {
    pub table: String,
    /// `pg_get_constraintdef`, or `INDEX (user_id)` for an index
    /// that backs no constraint.
    pub definition: String,
    pub name: String,
}

impl EndState {
    /// What is wrong with this end state, for a source of `sizes` (empty: ok).
    /// Data differences are not listed: the report shows them separately.
    pub fn problems(&self, sizes: Sizes) -> Vec<String> {
        let mut p = Vec::new();
        let mut expect = |what: &str, got: u64, want: u64| {
            if got != want {
                p.push(format!("{what}: {got}, expected {want}"));
            }
        };
        expect("users rows", self.users, sizes.users);
        expect("sessions rows", self.sessions, sizes.sessions);
        expect("primary keys", self.primary_keys, 2);
        expect("unique constraints", self.unique, 1);
        expect("validated foreign keys", self.foreign_keys, 1);
        if !self.index {
            p.push("index sessions_user is missing".to_string());
        }
        p
    }
}

/// Session settings for the checksums: every case's values print the same
/// way whatever the server's defaults (timestamptz in UTC, ISO dates, floats
/// with all their digits, bytea as hex).
const DATA_SETTINGS: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; \
    SET extra_float_digits = 3; SET bytea_output = 'hex';";

/// The `sessions` columns in [`EndState::sessions_md5`]: all but `score`.
const SESSIONS_BUT_SCORE: &str = "id, user_id, token, created_at, payload";

/// Read the end state of database `db`.
pub fn end_state(server: &Server, db: &str) -> Result<EndState> {
    let constraints = |contype: &str| {
        format!(
            "(SELECT count(*) FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'sessions'::regclass) \
             AND contype = '{contype}' AND convalidated)"
        )
    };
    let sql = format!(
        "{DATA_SETTINGS} SELECT \
           (SELECT count(*) FROM users), (SELECT count(*) FROM sessions), {}, {}, {}, \
           (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'sessions' \
              AND indexname = 'sessions_user'), \
           (SELECT md5(string_agg(md5(u::text), '' ORDER BY id)) FROM users u), \
           (SELECT md5(string_agg(md5(ROW({SESSIONS_BUT_SCORE})::text), '' ORDER BY id)) FROM sessions), \
           (SELECT md5(string_agg(score::text, ',' ORDER BY id)) FROM sessions), \
           (SELECT count(*) FROM sessions WHERE score IS DISTINCT FROM {SCORE_SQL})",
        constraints("p"),
        constraints("u"),
        constraints("f"),
    );
    let out = server
        .query(db, &sql)
        .with_context(|| format!("checking the end state of {db}"))?;
    let f: Vec<&str> = out.trim().split('|').collect();
    let [
        users,
        sessions,
        pk,
        uq,
        fk,
        ix,
        users_md5,
        sessions_md5,
        md5,
        differing,
    ] = f[..]
    else {
        bail!("unexpected end-state row from {db}: {out:?}");
    };
    let n = |s: &str| -> Result<u64> {
        s.parse()
            .with_context(|| format!("end state of {db}: {s:?} is not a count"))
    };
    Ok(EndState {
        users: n(users)?,
        sessions: n(sessions)?,
        primary_keys: n(pk)?,
        unique: n(uq)?,
        foreign_keys: n(fk)?,
        index: n(ix)? == 1,
        users_md5: users_md5.to_string(),
        sessions_md5: sessions_md5.to_string(),
        score_md5: md5.to_string(),
        scores_differing: n(differing)?,
        tables: server
            .query(
                db,
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            )?
            .lines()
            .map(String::from)
            .collect(),
        columns: columns(server, db)?,
        keys: keys(server, db)?,
    })
}

/// The columns of `users` then `sessions` in database `db`.
pub fn columns(server: &Server, db: &str) -> Result<Vec<Column>> {
    let out = server.query(
        db,
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), \
                CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relname IN ('users', 'sessions') \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname = 'sessions', a.attnum",
    )?;
    out.lines()
        .map(|line| match line.split('|').collect::<Vec<_>>()[..] {
            [table, name, data_type, nullable] => Ok(Column {
                table: table.to_string(),
                name: name.to_string(),
                data_type: data_type.to_string(),
                nullable: nullable == "YES",
            }),
            _ => bail!("unexpected information_schema row from {db}: {line:?}"),
        })
        .collect()
}

/// The constraints and indexes of `users` then `sessions` in database `db`.
pub fn keys(server: &Server, db: &str) -> Result<Vec<Key>> {
    let out = server.query(
        db,
        "SELECT t, d, n FROM ( \
           SELECT conrelid::regclass::text AS t, pg_get_constraintdef(oid) AS d, conname::text AS n \
             FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'sessions'::regclass) \
           UNION ALL \
           SELECT tablename, 'INDEX ' || substring(indexdef FROM '\\(.*\\)$'), indexname \
             FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('users', 'sessions') \
             AND indexname NOT IN (SELECT conname FROM pg_constraint)) k \
         ORDER BY t = 'sessions', d",
    )?;
    out.lines()
        .map(|line| match line.split('|').collect::<Vec<_>>()[..] {
            [table, definition, name] => Ok(Key {
                table: table.to_string(),
                definition: definition.to_string(),
                name: name.to_string(),
            }),
            _ => bail!("unexpected key row from {db}: {line:?}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_drops_the_database() {
        let s = Server::new("postgres://postgres@127.0.0.1:5432/app").unwrap();
        assert_eq!(s.url("x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(s.address(), "127.0.0.1:5432");
        let s = Server::new("postgresql://localhost:5433/").unwrap();
        assert_eq!(s.address(), "localhost:5433");
        assert!(Server::new("mysql://x").is_err());
        assert!(Server::new("postgres://h/db?sslmode=disable").is_err());
    }

    #[test]
    fn problems_name_what_is_missing() {
        let sizes = Sizes::for_total(50);
        let mut state = EndState {
            users: 10,
            sessions: 40,
            primary_keys: 2,
            unique: 1,
            foreign_keys: 1,
            index: true,
            users_md5: String::new(),
            sessions_md5: String::new(),
            score_md5: String::new(),
            scores_differing: 3,
            tables: Vec::new(),
            columns: Vec::new(),
            keys: Vec::new(),
        };
        assert!(state.problems(sizes).is_empty());
        state.sessions = 39;
        state.index = false;
        assert_eq!(
            state.problems(sizes),
            [
                "sessions rows: 39, expected 40",
                "index sessions_user is missing"
            ]
        );
    }
}
