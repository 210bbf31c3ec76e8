//! The SQLite → MariaDB anchor: what a DBA writes by hand. `sqlite3 -csv`
//! exports each table to a file, then one `mariadb --local-infile=1`
//! creates the tables with the types ferry creates (docs/type-mapping.md,
//! "Logical type → MySQL target"), loads each file with `LOAD DATA LOCAL
//! INFILE` and adds the keys ferry adds, with the names ferry gives them.
//!
//! It follows ferry's own order of work, so both pay for the same end
//! state: the primary key with the table (InnoDB clusters rows by it;
//! adding it after the load rebuilds the table), the unique key and the
//! index after the load, and the foreign key last, proven by a query for
//! orphans and then added with `foreign_key_checks = 0` (with the checks
//! on, InnoDB copies the whole table to add it).

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::mariadb::{Server, ident};
use crate::run::{Measured, Running};

/// What `sqlite3` prints for NULL and `LOAD DATA` reads back as NULL: with
/// `ENCLOSED BY` set, an unquoted `NULL` field is NULL. sqlite3 quotes a
/// text only when it must, so a text value `NULL` would arrive NULL too;
/// the generated data has none (and the checksums would show it).
const NULL_WORD: &str = "NULL";

/// The tables' options, as ferry creates them: a binary collation that does
/// not pad, so keys compare as in the source.
const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin";

/// How `sqlite3` writes a column to the CSV file and `LOAD DATA` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Export {
    /// As sqlite3 prints it (REALs with 15 significant digits).
    Plain,
    /// ISO-8601 text as UTC `YYYY-MM-DD HH:MM:SS.SSS` (`strftime`, which
    /// applies a zone offset), the form `DATETIME(6)` takes; milliseconds
    /// are all sqlite3 prints (the generated values are whole seconds).
    Timestamp,
    /// A BLOB as hex (NULL kept NULL: `hex(NULL)` is `''`), loaded into a
    /// user variable and stored through `UNHEX`.
    Hex,
}

/// One column of the anchor's tables.
struct Col {
    name: &'static str,
    /// The column's type as ferry creates it for the generated schema.
    ddl: &'static str,
    export: Export,
}

const fn col(name: &'static str, ddl: &'static str, export: Export) -> Col {
    Col { name, ddl, export }
}

/// `users` as ferry creates it: the rowid key an AUTO_INCREMENT `BIGINT`,
/// the unique e-mail a `VARCHAR(768)` (InnoDB's 3072-byte key limit, 4
/// bytes a character), other text `LONGTEXT`, ISO timestamps with a zone
/// UTC `DATETIME(6)` marked as timestamptz, the 0/1 flag `BOOLEAN`, JSON
/// text MariaDB's `JSON` (`LONGTEXT` with a `json_valid` CHECK).
const USERS: [Col; 6] = [
    col("id", "BIGINT NOT NULL AUTO_INCREMENT", Export::Plain),
    col("email", "VARCHAR(768) NOT NULL", Export::Plain),
    col("name", "LONGTEXT NOT NULL", Export::Plain),
    col(
        "created_at",
        "DATETIME(6) NOT NULL COMMENT 'ferry:timestamptz'",
        Export::Timestamp,
    ),
    col("active", "BOOLEAN NOT NULL", Export::Plain),
    col("prefs", "JSON NULL", Export::Plain),
];

/// `sessions` as ferry creates it (see [`USERS`]); REAL is `DOUBLE`, BLOB `LONGBLOB`.
const SESSIONS: [Col; 6] = [
    col("id", "BIGINT NOT NULL AUTO_INCREMENT", Export::Plain),
    col("user_id", "BIGINT NOT NULL", Export::Plain),
    col("token", "LONGTEXT NOT NULL", Export::Plain),
    col(
        "created_at",
        "DATETIME(6) NOT NULL COMMENT 'ferry:timestamptz'",
        Export::Timestamp,
    ),
    col("score", "DOUBLE NULL", Export::Plain),
    col("payload", "LONGBLOB NULL", Export::Hex),
];

/// The anchor's tables, parents first.
const TABLES: [(&str, &[Col]); 2] = [("users", &USERS), ("sessions", &SESSIONS)];

/// What follows the load, with ferry's names and rules: the unique key and
/// the index, the orphan count (the script's only output; it must print 0),
/// then the foreign key without InnoDB's table copy.
const KEYS: &str = "ALTER TABLE `users` ADD CONSTRAINT `users_email_key` UNIQUE (`email`);\n\
    ALTER TABLE `sessions` ADD INDEX `sessions_user` (`user_id`);\n\
    SELECT COUNT(*) FROM `sessions` s LEFT JOIN `users` u ON u.`id` = s.`user_id` WHERE u.`id` IS NULL;\n\
    SET SESSION foreign_key_checks = 0;\n\
    ALTER TABLE `sessions` ADD CONSTRAINT `fk_sessions_0` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) \
    ON DELETE NO ACTION ON UPDATE NO ACTION;\n\
    SET SESSION foreign_key_checks = 1;";

/// `CREATE TABLE` with the primary key, as ferry creates it.
fn create_table(table: &str, cols: &[Col]) -> String {
    let defs: Vec<String> = cols
        .iter()
        .map(|c| format!("{} {}", ident(c.name), c.ddl))
        .collect();
    format!(
        "CREATE TABLE {} ({}, PRIMARY KEY (`id`)) {TABLE_OPTIONS};",
        ident(table),
        defs.join(", ")
    )
}

/// The `sqlite3` query that exports `table`.
fn select_csv(table: &str, cols: &[Col]) -> String {
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| match c.export {
            Export::Plain => format!("\"{}\"", c.name),
            Export::Timestamp => format!("strftime('%Y-%m-%d %H:%M:%f', \"{}\")", c.name),
            Export::Hex => format!(
                "CASE WHEN \"{0}\" IS NULL THEN NULL ELSE hex(\"{0}\") END",
                c.name
            ),
        })
        .collect();
    format!("SELECT {} FROM \"{table}\"", exprs.join(", "))
}

/// The `sqlite3` command line that exports `table` of `source` as CSV.
fn sqlite3_args(source: &Path, table: &str, cols: &[Col]) -> Vec<String> {
    vec![
        "-csv".to_string(),
        "-nullvalue".to_string(),
        NULL_WORD.to_string(),
        source.display().to_string(),
        select_csv(table, cols),
    ]
}

/// `LOAD DATA LOCAL INFILE` of the CSV file at `path` into `table`. sqlite3
/// doubles quotes inside a quoted field (which `ENCLOSED BY` reads back),
/// ends lines with `\n` and escapes nothing (hence `ESCAPED BY ''`).
fn load_data_sql(table: &str, cols: &[Col], path: &Path) -> String {
    let path = path
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('\'', "''");
    let targets: Vec<String> = cols
        .iter()
        .map(|c| match c.export {
            Export::Hex => format!("@{}", c.name),
            Export::Plain | Export::Timestamp => ident(c.name),
        })
        .collect();
    let sets: Vec<String> = cols
        .iter()
        .filter(|c| c.export == Export::Hex)
        .map(|c| format!("{} = UNHEX(@{})", ident(c.name), c.name))
        .collect();
    let mut sql = format!(
        "LOAD DATA LOCAL INFILE '{path}' INTO TABLE {} CHARACTER SET utf8mb4 \
         FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' \
         LINES TERMINATED BY '\\n' ({})",
        ident(table),
        targets.join(", ")
    );
    if !sets.is_empty() {
        sql.push_str(&format!(" SET {}", sets.join(", ")));
    }
    sql.push(';');
    sql
}

/// The whole `mariadb` script of the anchor, the CSV files in `dir`.
fn script(dir: &Path) -> String {
    let mut sql: Vec<String> = TABLES
        .iter()
        .map(|(t, cols)| create_table(t, cols))
        .collect();
    sql.extend(
        TABLES
            .iter()
            .map(|(t, cols)| load_data_sql(t, cols, &dir.join(format!("{t}.csv")))),
    );
    sql.push(KEYS.to_string());
    sql.join("\n")
}

/// The anchor, timed as a whole: `sqlite3 -csv` of each table to a file in
/// a temporary directory, then one `mariadb --local-infile=1` running
/// [`script`] into database `db`. The processes run one after the other:
/// peak RSS is the largest of them. Any warning (`--show-warnings`: a
/// value LOAD DATA truncated or skipped) or orphan fails the run.
pub fn load_data(server: &Server, db: &str, source: &Path) -> Result<Measured> {
    let dir = tempfile::tempdir().context("creating a directory for the CSV files")?;
    let start = Instant::now();
    let mut peak_rss = 0;
    for (table, cols) in TABLES {
        let path = dir.path().join(format!("{table}.csv"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let export = Running::spawn(
            Command::new("sqlite3")
                .args(sqlite3_args(source, table, cols))
                .stdout(file),
            &format!("sqlite3 ({table})"),
        )?
        .finish()?;
        export.check()?;
        peak_rss = peak_rss.max(export.peak_rss);
    }
    let mut load = Running::spawn(
        server
            .client(Some(db))
            .args(["--local-infile=1", "--show-warnings", "-e"])
            .arg(script(dir.path()))
            .stdout(Stdio::piped()),
        "mariadb (LOAD DATA and keys)",
    )?;
    let mut stdout = String::new();
    if let Some(mut out) = load.child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout).context("reading mariadb's output")?;
    }
    let load = load.finish()?;
    let wall = start.elapsed();
    load.check()?;
    peak_rss = peak_rss.max(load.peak_rss);
    if stdout.trim() != "0" {
        bail!(
            "the LOAD DATA script printed more than its orphan count of 0: {}",
            stdout.trim()
        );
    }
    Ok(Measured {
        wall,
        peak_rss,
        verify: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_has_ferrys_types_and_the_key_up_front() {
        assert_eq!(
            create_table("sessions", &SESSIONS),
            "CREATE TABLE `sessions` (`id` BIGINT NOT NULL AUTO_INCREMENT, \
             `user_id` BIGINT NOT NULL, `token` LONGTEXT NOT NULL, \
             `created_at` DATETIME(6) NOT NULL COMMENT 'ferry:timestamptz', \
             `score` DOUBLE NULL, `payload` LONGBLOB NULL, PRIMARY KEY (`id`)) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;"
        );
    }

    #[test]
    fn sqlite3_exports_timestamps_as_datetime_and_blobs_as_hex() {
        let args = sqlite3_args(Path::new("/tmp/legacy.db"), "sessions", &SESSIONS);
        assert_eq!(args[..4], ["-csv", "-nullvalue", "NULL", "/tmp/legacy.db"]);
        assert_eq!(
            args[4],
            "SELECT \"id\", \"user_id\", \"token\", strftime('%Y-%m-%d %H:%M:%f', \"created_at\"), \
             \"score\", CASE WHEN \"payload\" IS NULL THEN NULL ELSE hex(\"payload\") END FROM \"sessions\""
        );
    }

    #[test]
    fn load_data_reads_sqlite3s_csv() {
        assert_eq!(
            load_data_sql("users", &USERS, Path::new("/tmp/a'b/users.csv")),
            "LOAD DATA LOCAL INFILE '/tmp/a''b/users.csv' INTO TABLE `users` CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' \
             LINES TERMINATED BY '\\n' (`id`, `email`, `name`, `created_at`, `active`, `prefs`);"
        );
        assert!(
            load_data_sql("sessions", &SESSIONS, Path::new("/d/s.csv")).ends_with(
                "(`id`, `user_id`, `token`, `created_at`, `score`, @payload) SET `payload` = UNHEX(@payload);"
            )
        );
        let script = script(Path::new("/d"));
        let order: Vec<usize> = [
            "CREATE TABLE `users`",
            "CREATE TABLE `sessions`",
            "INFILE '/d/users.csv'",
            "INFILE '/d/sessions.csv'",
            "UNIQUE (`email`)",
            "ADD INDEX `sessions_user`",
            "SELECT COUNT(*)",
            "foreign_key_checks = 0",
            "FOREIGN KEY (`user_id`)",
        ]
        .iter()
        .map(|s| script.find(s).unwrap_or_else(|| panic!("{s} missing")))
        .collect();
        assert!(order.is_sorted(), "{script}");
    }
}
