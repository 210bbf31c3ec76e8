//! The small dialect layer the ledger is written once over: placeholders,
//! upserts, column types, catalog questions, and a connection that runs a
//! statement and returns rows of plain values.
//!
//! SQL here is written with PostgreSQL's numbered placeholders (`$1`); a
//! dialect rewrites them (`?1` for SQLite; `?` with the parameters repeated
//! in order of appearance for MySQL).

use async_trait::async_trait;

/// A parameter or a column value, as plain as the ledger needs.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl SqlValue {
    /// Text (also what a driver hands back for a text column).
    pub fn text(&self) -> Option<String> {
        match self {
            SqlValue::Text(s) => Some(s.clone()),
            SqlValue::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// An integer (a text column holding one is read too).
    pub fn int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            SqlValue::Bool(b) => Some(i64::from(*b)),
            SqlValue::Text(s) => s.trim().parse().ok(),
            SqlValue::Null => None,
        }
    }

    /// A boolean: SQLite and MySQL store them as 0/1.
    pub fn bool(&self) -> bool {
        match self {
            SqlValue::Bool(b) => *b,
            SqlValue::Int(i) => *i != 0,
            SqlValue::Text(s) => matches!(s.as_str(), "1" | "t" | "true"),
            SqlValue::Null => false,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(s: &str) -> Self {
        SqlValue::Text(s.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(s: String) -> Self {
        SqlValue::Text(s)
    }
}

impl From<&String> for SqlValue {
    fn from(s: &String) -> Self {
        SqlValue::Text(s.clone())
    }
}

impl From<Option<&String>> for SqlValue {
    fn from(s: Option<&String>) -> Self {
        s.map(SqlValue::from).unwrap_or(SqlValue::Null)
    }
}

impl From<&Option<String>> for SqlValue {
    fn from(s: &Option<String>) -> Self {
        s.as_ref().map(SqlValue::from).unwrap_or(SqlValue::Null)
    }
}

impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}

impl From<Option<i64>> for SqlValue {
    fn from(i: Option<i64>) -> Self {
        i.map(SqlValue::Int).unwrap_or(SqlValue::Null)
    }
}

impl From<u64> for SqlValue {
    fn from(i: u64) -> Self {
        SqlValue::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}

impl From<bool> for SqlValue {
    fn from(b: bool) -> Self {
        SqlValue::Bool(b)
    }
}

/// How a dialect writes parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1` (PostgreSQL): as written.
    Dollar,
    /// `?1` (SQLite).
    QuestionNumbered,
    /// `?`, one per occurrence (MySQL): parameters are repeated to match.
    Question,
}

/// How a dialect replaces a row that collides with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// `ON CONFLICT (k) DO UPDATE SET c = excluded.c` (SQLite, PostgreSQL).
    OnConflict,
    /// `ON DUPLICATE KEY UPDATE c = VALUES(c)` (MySQL, MariaDB).
    OnDuplicateKey,
}

/// A column an upsert updates.
#[derive(Debug, Clone, Copy)]
pub enum Update<'a> {
    /// Takes the new value.
    Set(&'a str),
    /// Takes the new value unless it is NULL (the old one stays).
    KeepIfNull(&'a str),
}

/// A SQL dialect as the ledger sees it.
#[derive(Debug)]
pub struct Dialect {
    pub name: &'static str,
    pub placeholders: Placeholders,
    pub upsert: Upsert,
    /// Statements that open and close a transaction.
    pub begin: &'static str,
    /// DDL is transactional (a crash half-way through a ledger upgrade
    /// leaves nothing of it); without it every step is guarded instead.
    pub transactional_ddl: bool,
    /// Taken first in the transaction that upgrades a ledger, so one ferry at
    /// a time upgrades it (`None`: the database locks the file itself).
    pub upgrade_lock: Option<&'static str>,
    /// Column types of the ledger's tables: `{id}` run ids, `{name}` table
    /// names, `{short}` statuses and kinds, `{stamp}` RFC 3339 instants,
    /// `{text}` anything, `{long}` plans and reports, `{int}`, `{bool}`.
    pub types: [(&'static str, &'static str); 8],
    /// Whether table `$1` exists (one row, one count).
    pub table_exists: &'static str,
    /// Whether table `$1` has column `$2` (one row, one count).
    pub column_exists: &'static str,
    /// How many tables the database holds besides ferry's own `_ferry_*`
    /// (one row, one count).
    pub count_user_tables: &'static str,
    /// An integer primary key the database numbers itself.
    pub serial_key: &'static str,
    /// Takes the session lock named `$1` without waiting: one row, true
    /// when this session holds it now. `None`: SQLite, where a file has no
    /// session locks (its writers are serialised by the file lock).
    pub try_lock: Option<&'static str>,
    /// The type a `sum` of integer columns is cast to where the database
    /// returns a decimal the plain values here do not read (PostgreSQL's
    /// `numeric`); `None` where the sum comes back as an integer or text.
    pub sum_cast: Option<&'static str>,
}

impl Dialect {
    /// `sql` with its `$n` placeholders in this dialect, and `params` in the
    /// order the rewritten placeholders take them.
    pub fn bind(&self, sql: &str, params: &[SqlValue]) -> (String, Vec<SqlValue>) {
        match self.placeholders {
            Placeholders::Dollar => (sql.to_string(), params.to_vec()),
            Placeholders::QuestionNumbered => (sql.replace('$', "?"), params.to_vec()),
            Placeholders::Question => {
                let mut out = String::with_capacity(sql.len());
                let mut order = Vec::new();
                let b = sql.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                        let mut j = i + 1;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                        let n: usize = sql[i + 1..j].parse().unwrap_or(0);
                        order.push(
                            params
                                .get(n.wrapping_sub(1))
                                .cloned()
                                .unwrap_or(SqlValue::Null),
                        );
                        out.push('?');
                        i = j;
                    } else {
                        let ch = sql[i..].chars().next().unwrap_or(' ');
                        out.push(ch);
                        i += ch.len_utf8();
                    }
                }
                (out, order)
            }
        }
    }

    /// The clause that turns `INSERT INTO table …` into an upsert on `key`.
    pub fn upsert(&self, table: &str, key: &[&str], update: &[Update<'_>]) -> String {
        match self.upsert {
            Upsert::OnConflict => {
                let set: Vec<String> = update
                    .iter()
                    .map(|u| match u {
                        Update::Set(c) => format!("{c} = excluded.{c}"),
                        Update::KeepIfNull(c) => {
                            format!("{c} = coalesce(excluded.{c}, {table}.{c})")
                        }
                    })
                    .collect();
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    key.join(", "),
                    set.join(", ")
                )
            }
            Upsert::OnDuplicateKey => {
                let set: Vec<String> = update
                    .iter()
                    .map(|u| match u {
                        Update::Set(c) => format!("{c} = VALUES({c})"),
                        Update::KeepIfNull(c) => format!("{c} = COALESCE(VALUES({c}), {c})"),
                    })
                    .collect();
                format!(" ON DUPLICATE KEY UPDATE {}", set.join(", "))
            }
        }
    }

    /// `sum(expr)`, read back as an integer in every dialect.
    pub fn sum(&self, expr: &str) -> String {
        match self.sum_cast {
            Some(t) => format!("CAST(coalesce(sum({expr}), 0) AS {t})"),
            None => format!("coalesce(sum({expr}), 0)"),
        }
    }

    /// DDL with its `{type}` names replaced by this dialect's column types.
    pub fn ddl(&self, template: &str) -> String {
        let mut s = template.to_string();
        for (k, v) in self.types {
            s = s.replace(k, v);
        }
        s
    }
}

/// SQLite: types as affinities; the file is locked by SQLite itself.
pub static SQLITE: Dialect = Dialect {
    name: "SQLite",
    placeholders: Placeholders::QuestionNumbered,
    upsert: Upsert::OnConflict,
    begin: "BEGIN",
    transactional_ddl: true,
    upgrade_lock: None,
    types: [
        ("{id}", "TEXT"),
        ("{name}", "TEXT"),
        ("{short}", "TEXT"),
        ("{stamp}", "TEXT"),
        ("{text}", "TEXT"),
        ("{long}", "TEXT"),
        ("{int}", "INTEGER"),
        ("{bool}", "INTEGER"),
    ],
    table_exists: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
    column_exists: "SELECT count(*) FROM pragma_table_info($1) WHERE name = $2",
    count_user_tables: "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
        AND substr(name, 1, 7) <> 'sqlite_' AND substr(name, 1, 7) <> '_ferry_'",
    serial_key: "INTEGER PRIMARY KEY AUTOINCREMENT",
    try_lock: None,
    sum_cast: None,
};

/// PostgreSQL: transactional DDL; upgrades serialised by an advisory lock.
pub static POSTGRES: Dialect = Dialect {
    name: "PostgreSQL",
    placeholders: Placeholders::Dollar,
    upsert: Upsert::OnConflict,
    begin: "BEGIN",
    transactional_ddl: true,
    upgrade_lock: Some("SELECT pg_advisory_xact_lock(7423911)"),
    types: [
        ("{id}", "text"),
        ("{name}", "text"),
        ("{short}", "text"),
        ("{stamp}", "text"),
        ("{text}", "text"),
        ("{long}", "text"),
        ("{int}", "bigint"),
        ("{bool}", "boolean"),
    ],
    table_exists: "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
    column_exists: "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2",
    count_user_tables: "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() \
        AND table_type = 'BASE TABLE' AND substr(table_name, 1, 7) <> '_ferry_'",
    serial_key: "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    // Advisory locks are per database; the name is hashed to their key.
    try_lock: Some("SELECT pg_try_advisory_lock(hashtext($1))"),
    sum_cast: Some("bigint"),
};

/// MySQL and MariaDB: DDL commits on its own; key columns need a length
/// (VARCHAR within InnoDB's 3,072-byte key limit in utf8mb4).
pub static MYSQL: Dialect = Dialect {
    name: "MySQL",
    placeholders: Placeholders::Question,
    upsert: Upsert::OnDuplicateKey,
    begin: "START TRANSACTION",
    transactional_ddl: false,
    upgrade_lock: None,
    types: [
        ("{id}", "VARCHAR(64)"),
        ("{name}", "VARCHAR(255)"),
        ("{short}", "VARCHAR(32)"),
        ("{stamp}", "VARCHAR(40)"),
        ("{text}", "TEXT"),
        ("{long}", "LONGTEXT"),
        ("{int}", "BIGINT"),
        ("{bool}", "BOOLEAN"),
    ],
    table_exists: "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = $1",
    column_exists: "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = $1 AND COLUMN_NAME = $2",
    count_user_tables: "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
        AND TABLE_TYPE = 'BASE TABLE' AND SUBSTR(TABLE_NAME, 1, 7) <> '_ferry_'",
    serial_key: "BIGINT AUTO_INCREMENT PRIMARY KEY",
    // GET_LOCK names are server-wide: the database's name scopes them.
    try_lock: Some("SELECT GET_LOCK(CONCAT(DATABASE(), ':', $1), 0)"),
    sum_cast: None,
};

/// A statement that failed: the driver's message, and whether trying again
/// (reconnecting) may succeed.
#[derive(Debug, Clone)]
pub struct SqlError {
    pub message: String,
    pub transient: bool,
}

impl From<String> for SqlError {
    fn from(message: String) -> Self {
        SqlError {
            message,
            transient: false,
        }
    }
}

/// A connection the ledger runs on. Drivers implement it on their sink.
#[async_trait]
pub trait SqlConn: Send {
    fn dialect(&self) -> &'static Dialect;
    /// The endpoint, as errors name it.
    fn endpoint_name(&self) -> String;
    /// Runs one statement (`$n` placeholders); rows affected.
    async fn exec(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, SqlError>;
    /// Runs one query (`$n` placeholders); every row's values.
    async fn query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, SqlError>;
    /// Runs one query without parameters over the text protocol (values
    /// inlined, as pgbench's default "simple" mode sends them): every
    /// value as the database renders it as text, of any column type.
    async fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, SqlError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_per_dialect() {
        let p = [SqlValue::Int(1), SqlValue::from("x")];
        let sql = "SELECT a FROM t WHERE b = $2 AND (c = $1 OR d = $2)";
        assert_eq!(POSTGRES.bind(sql, &p).0, sql);
        assert_eq!(
            SQLITE.bind(sql, &p).0,
            "SELECT a FROM t WHERE b = ?2 AND (c = ?1 OR d = ?2)"
        );
        let (my, params) = MYSQL.bind(sql, &p);
        assert_eq!(my, "SELECT a FROM t WHERE b = ? AND (c = ? OR d = ?)");
        assert_eq!(params, [p[1].clone(), p[0].clone(), p[1].clone()]);
    }

    #[test]
    fn upserts_and_types_per_dialect() {
        let u = [Update::Set("status"), Update::KeepIfNull("plan")];
        assert_eq!(
            POSTGRES.upsert("_ferry_runs", &["run_id"], &u),
            " ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, plan = coalesce(excluded.plan, _ferry_runs.plan)"
        );
        assert_eq!(
            MYSQL.upsert("_ferry_runs", &["run_id"], &u),
            " ON DUPLICATE KEY UPDATE status = VALUES(status), plan = COALESCE(VALUES(plan), plan)"
        );
        assert_eq!(MYSQL.ddl("a {id}, b {bool}"), "a VARCHAR(64), b BOOLEAN");
        assert_eq!(SQLITE.ddl("a {id}, b {bool}"), "a TEXT, b INTEGER");
    }
}
