//! MariaDB through the `mariadb` CLI, for the SQLite → MariaDB comparison's
//! bookkeeping: a fresh database per case (dropped afterwards, even on
//! error), InnoDB settled between cases, and the end-state checks
//! (information_schema), in the same [`EndState`] as PostgreSQL's. Nothing
//! here is timed; the anchor is in `load_data`.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::pg::{Column, EndState, Key};

/// How long [`Server::settle`] waits at most for InnoDB's page cleaner to
/// write the previous case's dirty pages: 60 s, far more than a 1.25 M-row
/// case leaves; past it the next case starts anyway (and pays for the rest).
const SETTLE_LIMIT: Duration = Duration::from_secs(60);

/// How long the dirty-page count must hold still for [`Server::settle`] to
/// call the page cleaner done: 1 s. An idle MariaDB keeps some pages dirty
/// indefinitely (10.11 with `innodb_max_dirty_pages_pct_lwm = 0` held 35
/// for minutes), so waiting for 0 would wait for [`SETTLE_LIMIT`] every time.
const SETTLE_STILL: Duration = Duration::from_secs(1);

/// How often [`Server::settle`] looks at the dirty-page count.
const SETTLE_POLL: Duration = Duration::from_millis(100);

/// A MariaDB server, addressed by a base URL without a database.
#[derive(Debug, Clone)]
pub struct Server {
    /// `USER[:PASSWORD]@HOST:PORT`, as ferry's URL spells it.
    authority: String,
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
}

impl Server {
    /// Parse `mysql://USER[:PASSWORD]@HOST[:PORT]` (or `mariadb://`; a
    /// trailing `/DB` is ignored: every case gets its own database).
    pub fn new(url: &str) -> Result<Self> {
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!("--mysql {url:?}: expected mysql://USER@HOST:PORT");
        };
        if scheme != "mysql" && scheme != "mariadb" {
            bail!("--mysql {url:?}: the scheme must be mysql:// or mariadb://");
        }
        if rest.contains('?') {
            bail!("--mysql {url:?}: give the base URL without parameters");
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let Some((userinfo, hostport)) = authority.rsplit_once('@') else {
            bail!("--mysql {url:?}: the user is missing (mysql://USER@HOST:PORT)");
        };
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p.to_string())),
            None => (userinfo, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .with_context(|| format!("--mysql {url:?}: port {p:?}"))?,
            ),
            // MySQL's and MariaDB's own default port.
            None => (hostport, 3306),
        };
        if user.is_empty() || host.is_empty() {
            bail!("--mysql {url:?}: expected mysql://USER@HOST:PORT");
        }
        Ok(Server {
            authority: format!("{userinfo}@{host}:{port}"),
            user: user.to_string(),
            password,
            host: host.to_string(),
            port,
        })
    }

    /// `HOST:PORT`, for the report.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The URL of database `db`, as ferry takes it.
    pub fn url(&self, db: &str) -> String {
        format!("mysql://{}/{db}", self.authority)
    }

    /// The `mariadb` client on this server (over TCP, even for
    /// `localhost`), in batch mode without column names, on database `db`.
    pub fn client(&self, db: Option<&str>) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--protocol=TCP", "--batch", "--skip-column-names"])
            .args(["--default-character-set=utf8mb4", "-h", &self.host])
            .args(["-P", &self.port.to_string(), "-u", &self.user]);
        // In the environment, not on the command line where `ps` shows it.
        if let Some(p) = &self.password {
            cmd.env("MYSQL_PWD", p);
        }
        if let Some(db) = db {
            cmd.args(["-D", db]);
        }
        cmd
    }

    /// Run `sql` (one or more statements) in `db`: the rows, tab-separated
    /// (NULL as `NULL`), one per line.
    pub fn query(&self, db: Option<&str>, sql: &str) -> Result<String> {
        let out = self
            .client(db)
            .arg("-e")
            .arg(sql)
            .output()
            .context("running mariadb (is the MariaDB client installed?)")?;
        if !out.status.success() {
            // The client echoes the failed statement around its `ERROR …`
            // line; the query follows once, below.
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ERROR")).collect();
            bail!(
                "mariadb on {}/{}: {}\n  query: {sql}",
                self.address(),
                db.unwrap_or(""),
                if errors.is_empty() {
                    stderr.trim().to_string()
                } else {
                    errors.join("\n")
                }
            );
        }
        String::from_utf8(out.stdout).context("mariadb printed invalid UTF-8")
    }

    /// The server version, e.g. `10.11.19`; an error unless it is MariaDB
    /// (the anchor's collation and JSON columns are MariaDB's).
    pub fn version(&self) -> Result<String> {
        let v = self
            .query(None, "SELECT VERSION()")
            .with_context(|| format!("cannot reach MariaDB at {}", self.address()))?;
        let v = v.trim();
        if !v.contains("MariaDB") {
            bail!(
                "{} runs {v:?}, not MariaDB: the sqlite-mariadb comparison needs MariaDB",
                self.address()
            );
        }
        Ok(v.split('-').next().unwrap_or(v).to_string())
    }

    /// Wait until InnoDB's page cleaner has stopped writing the previous
    /// case's dirty pages (none left, or no fewer for [`SETTLE_STILL`]; at
    /// most [`SETTLE_LIMIT`]), so that no case pays for another's
    /// background writes. MariaDB has no `CHECKPOINT` statement.
    pub fn settle(&self) -> Result<()> {
        let start = Instant::now();
        let mut fewest = u64::MAX;
        let mut still_since = start;
        loop {
            let out = self.query(
                None,
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'",
            )?;
            let dirty: u64 = out
                .trim()
                .parse()
                .with_context(|| format!("InnoDB's dirty-page count {out:?}"))?;
            let now = Instant::now();
            if dirty < fewest {
                fewest = dirty;
                still_since = now;
            }
            if dirty == 0 || now - still_since >= SETTLE_STILL || now - start >= SETTLE_LIMIT {
                return Ok(());
            }
            std::thread::sleep(SETTLE_POLL);
        }
    }

    /// Create the empty database `name` (dropping a leftover of that name);
    /// it is dropped again when the returned guard goes out of scope.
    pub fn create(&self, name: &str) -> Result<TempDb<'_>> {
        let db = TempDb {
            server: self,
            name: name.to_string(),
        };
        db.drop_now()?;
        self.query(None, &format!("CREATE DATABASE {}", ident(name)))
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
                None,
                &format!("DROP DATABASE IF EXISTS {}", ident(&self.name)),
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

/// `name` quoted as a MariaDB identifier.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A checksum of `exprs` over every row of `table`, independent of row
/// order: the sum of the first 64 bits of each row's md5 (an exact
/// DECIMAL). `QUOTE` keeps NULL apart from the text `NULL`; the binary cast
/// lets columns of different collations (JSON's `utf8mb4_bin`) be joined.
fn sum_md5(table: &str, exprs: &[&str]) -> String {
    let quoted: Vec<String> = exprs
        .iter()
        .map(|e| format!("CAST(QUOTE({e}) AS BINARY)"))
        .collect();
    format!(
        "(SELECT SUM(CAST(CONV(LEFT(MD5(CONCAT_WS(',', {})), 16), 16, 10) AS UNSIGNED)) FROM {})",
        quoted.join(", "),
        ident(table)
    )
}

/// Read the end state of database `db`: counts, the checksums (the same
/// three as PostgreSQL's, summed per row, see [`sum_md5`]; MariaDB prints
/// doubles with all their digits), columns and keys.
pub fn end_state(server: &Server, db: &str) -> Result<EndState> {
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM sessions), {}, {}, {}, \
           (SELECT COUNT(*) FROM sessions WHERE NOT (score <=> {}))",
        sum_md5(
            "users",
            &["id", "email", "name", "created_at", "active", "prefs"]
        ),
        sum_md5(
            "sessions",
            &["id", "user_id", "token", "created_at", "HEX(payload)"]
        ),
        sum_md5("sessions", &["score"]),
        crate::generate::SCORE_SQL_MARIADB,
    );
    let out = server
        .query(Some(db), &sql)
        .with_context(|| format!("checking the end state of {db}"))?;
    let [
        users,
        sessions,
        users_md5,
        sessions_md5,
        score_md5,
        differing,
    ] = out.trim_end_matches('\n').split('\t').collect::<Vec<_>>()[..]
    else {
        bail!("unexpected end-state row from {db}: {out:?}");
    };
    let n = |s: &str| -> Result<u64> {
        s.parse()
            .with_context(|| format!("end state of {db}: {s:?} is not a count"))
    };
    let keys = keys(server, db)?;
    let count = |kind: &str| {
        keys.iter()
            .filter(|k| k.definition.starts_with(kind))
            .count() as u64
    };
    Ok(EndState {
        users: n(users)?,
        sessions: n(sessions)?,
        primary_keys: count("PRIMARY KEY"),
        unique: count("UNIQUE"),
        foreign_keys: count("FOREIGN KEY"),
        index: keys
            .iter()
            .any(|k| k.table == "sessions" && k.name == "sessions_user"),
        users_md5: users_md5.to_string(),
        sessions_md5: sessions_md5.to_string(),
        score_md5: score_md5.to_string(),
        scores_differing: n(differing)?,
        tables: server
            .query(
                Some(db),
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
            )?
            .lines()
            .map(String::from)
            .collect(),
        columns: columns(server, db)?,
        keys,
    })
}

/// The columns of `users` then `sessions` in database `db`.
fn columns(server: &Server, db: &str) -> Result<Vec<Column>> {
    let out = server.query(
        Some(db),
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, \
                IFNULL(COLLATION_NAME, ''), EXTRA, COLUMN_COMMENT \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('users', 'sessions') \
         ORDER BY TABLE_NAME = 'sessions', ORDINAL_POSITION",
    )?;
    out.lines()
        .map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            [
                table,
                name,
                column_type,
                nullable,
                collation,
                extra,
                comment,
            ] => Ok(Column {
                table: table.to_string(),
                name: name.to_string(),
                data_type: column_type_text(column_type, collation, extra, comment),
                nullable: nullable == "YES",
            }),
            _ => bail!("unexpected information_schema row from {db}: {line:?}"),
        })
        .collect()
}

/// `longtext collate utf8mb4_nopad_bin`, `bigint(20) auto_increment`,
/// `datetime(6) comment 'ferry:timestamptz'`: what tells two columns apart.
fn column_type_text(column_type: &str, collation: &str, extra: &str, comment: &str) -> String {
    let mut text = column_type.to_string();
    if !collation.is_empty() {
        text.push_str(&format!(" collate {collation}"));
    }
    if !extra.is_empty() {
        text.push_str(&format!(" {}", extra.to_lowercase()));
    }
    if !comment.is_empty() {
        text.push_str(&format!(" comment '{comment}'"));
    }
    text
}

/// The constraints and indexes of `users` then `sessions` in database `db`.
fn keys(server: &Server, db: &str) -> Result<Vec<Key>> {
    let out = server.query(
        Some(db),
        "SELECT tc.TABLE_NAME, tc.CONSTRAINT_TYPE, tc.CONSTRAINT_NAME, \
           IFNULL((SELECT GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION) \
             FROM information_schema.KEY_COLUMN_USAGE k WHERE k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA \
             AND k.TABLE_NAME = tc.TABLE_NAME AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME), ''), \
           IFNULL((SELECT CONCAT(MIN(k.REFERENCED_TABLE_NAME), '(', \
               GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION), ')') \
             FROM information_schema.KEY_COLUMN_USAGE k WHERE k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA \
             AND k.TABLE_NAME = tc.TABLE_NAME AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
             AND k.REFERENCED_TABLE_NAME IS NOT NULL), ''), \
           IFNULL((SELECT CONCAT(r.DELETE_RULE, ',', r.UPDATE_RULE) \
             FROM information_schema.REFERENTIAL_CONSTRAINTS r \
             WHERE r.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND r.TABLE_NAME = tc.TABLE_NAME \
             AND r.CONSTRAINT_NAME = tc.CONSTRAINT_NAME), ''), \
           IFNULL((SELECT c.CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS c \
             WHERE c.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND c.TABLE_NAME = tc.TABLE_NAME \
             AND c.CONSTRAINT_NAME = tc.CONSTRAINT_NAME), '') \
         FROM information_schema.TABLE_CONSTRAINTS tc \
         WHERE tc.CONSTRAINT_SCHEMA = DATABASE() AND tc.TABLE_NAME IN ('users', 'sessions') \
         UNION ALL \
         SELECT s.TABLE_NAME, 'INDEX', s.INDEX_NAME, \
           GROUP_CONCAT(s.COLUMN_NAME ORDER BY s.SEQ_IN_INDEX), '', '', '' \
         FROM information_schema.STATISTICS s \
         WHERE s.TABLE_SCHEMA = DATABASE() AND s.TABLE_NAME IN ('users', 'sessions') \
           AND s.INDEX_NAME NOT IN (SELECT CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = s.TABLE_NAME) \
         GROUP BY s.TABLE_NAME, s.INDEX_NAME",
    )?;
    let mut keys = out
        .lines()
        .map(|line| match line.split('\t').collect::<Vec<_>>()[..] {
            [table, kind, name, cols, references, rules, check] => Ok(Key {
                table: table.to_string(),
                definition: key_definition(kind, cols, references, rules, check),
                name: name.to_string(),
            }),
            _ => bail!("unexpected key row from {db}: {line:?}"),
        })
        .collect::<Result<Vec<_>>>()?;
    keys.sort_by(|a, b| {
        (a.table == "sessions", &a.definition).cmp(&(b.table == "sessions", &b.definition))
    });
    Ok(keys)
}

/// `PRIMARY KEY (id)`, `UNIQUE (email)`, `FOREIGN KEY (user_id) REFERENCES
/// users(id)`, `CHECK (json_valid(...))`, `INDEX (user_id)`: the spelling of
/// `pg_get_constraintdef`, so the report reads the same for both targets.
/// A foreign key's `rules` (`DELETE_RULE,UPDATE_RULE`) are shown unless
/// both are `NO ACTION`, as PostgreSQL shows them (MariaDB's `RESTRICT`
/// acts the same, but it is not what ferry declares).
fn key_definition(kind: &str, cols: &str, references: &str, rules: &str, check: &str) -> String {
    let cols = cols.replace(',', ", ");
    match kind {
        "FOREIGN KEY" => {
            let mut def = format!("FOREIGN KEY ({cols}) REFERENCES {references}");
            if let Some((delete, update)) = rules.split_once(',') {
                if delete != "NO ACTION" {
                    def.push_str(&format!(" ON DELETE {delete}"));
                }
                if update != "NO ACTION" {
                    def.push_str(&format!(" ON UPDATE {update}"));
                }
            }
            def
        }
        "CHECK" => format!("CHECK ({check})"),
        _ => format!("{kind} ({cols})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_spell_ferrys_mysql_url() {
        let s = Server::new("mysql://root@127.0.0.1:3306").unwrap();
        assert_eq!(s.url("x"), "mysql://root@127.0.0.1:3306/x");
        assert_eq!(s.address(), "127.0.0.1:3306");
        assert_eq!(s.password, None);
        let s = Server::new("mariadb://bench:secret@db.local/ignored").unwrap();
        assert_eq!(s.url("x"), "mysql://bench:secret@db.local:3306/x");
        assert_eq!(
            (s.user.as_str(), s.password.as_deref()),
            ("bench", Some("secret"))
        );
        assert!(Server::new("postgres://root@h:5432").is_err());
        assert!(Server::new("mysql://127.0.0.1:3306").is_err());
        assert!(Server::new("mysql://root@h:port").is_err());
        assert!(Server::new("mysql://root@h:3306/db?ssl=1").is_err());
    }

    #[test]
    fn end_state_texts() {
        assert_eq!(
            sum_md5("users", &["id", "prefs"]),
            "(SELECT SUM(CAST(CONV(LEFT(MD5(CONCAT_WS(',', CAST(QUOTE(id) AS BINARY), \
             CAST(QUOTE(prefs) AS BINARY))), 16), 16, 10) AS UNSIGNED)) FROM `users`)"
        );
        assert_eq!(
            column_type_text("longtext", "utf8mb4_bin", "", ""),
            "longtext collate utf8mb4_bin"
        );
        assert_eq!(
            column_type_text("datetime(6)", "", "", "ferry:timestamptz"),
            "datetime(6) comment 'ferry:timestamptz'"
        );
        assert_eq!(
            column_type_text("bigint(20)", "", "auto_increment", ""),
            "bigint(20) auto_increment"
        );
        assert_eq!(
            key_definition(
                "FOREIGN KEY",
                "user_id",
                "users(id)",
                "NO ACTION,NO ACTION",
                ""
            ),
            "FOREIGN KEY (user_id) REFERENCES users(id)"
        );
        assert_eq!(
            key_definition(
                "FOREIGN KEY",
                "user_id",
                "users(id)",
                "RESTRICT,CASCADE",
                ""
            ),
            "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE RESTRICT ON UPDATE CASCADE"
        );
        assert_eq!(
            key_definition("PRIMARY KEY", "a,b", "", "", ""),
            "PRIMARY KEY (a, b)"
        );
        assert_eq!(
            key_definition("CHECK", "", "", "", "json_valid(`prefs`)"),
            "CHECK (json_valid(`prefs`))"
        );
        assert_eq!(
            key_definition("INDEX", "user_id", "", "", ""),
            "INDEX (user_id)"
        );
    }
}
