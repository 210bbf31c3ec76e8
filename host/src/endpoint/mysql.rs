//! MySQL / MariaDB: introspection, a streaming reader, and a sink.
//!
//! Driver: `mysql_async` (tokio, pure Rust, no TLS). Every session runs with
//! `ANSI_QUOTES` (so identifiers are quoted `"like this"`, as for SQLite and
//! PostgreSQL), `NO_BACKSLASH_ESCAPES` (so a string literal only doubles its
//! quotes), `time_zone = '+00:00'` and `utf8mb4`. The sink adds strict mode.
//!
//! Reading uses the binary protocol (one prepared `SELECT … ORDER BY pk`
//! streamed row by row), so numbers, dates and times arrive typed, never as
//! text to be re-parsed. Writing uses multi-row `INSERT … VALUES (…),(…)` of
//! literals the sink encodes itself after checking that each value fits its
//! column exactly (MySQL silently rounds extra decimal fraction digits, even
//! in strict mode).

use std::collections::HashMap;
use std::fmt::Write as _;

use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Row, Value};
use tokio::sync::mpsc;

use super::sqlite::{quote_ident, quote_list};
use super::{
    EndpointError, IfExists, REJECTS_TABLE, ReadBatch, TableProfile, TargetTable, WriteOutcome,
};
use crate::model::temporal::{
    civil_from_days, days_from_civil, format_date, format_time, format_timestamp, format_uuid,
    parse_uuid,
};
use crate::model::{
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject, Stage, TableDef,
    UniqueDef, ValueRef,
};

/// MySQL's identifier limit: 64 characters for tables, columns, indexes and
/// constraints. Longer table or column names are refused (the server would
/// refuse them too, with a less helpful message); longer index and
/// constraint names, which nobody queries by hand, are shortened with a hash.
const MAX_IDENT_CHARS: usize = 64;

/// InnoDB's largest index key: 3072 bytes (DYNAMIC/COMPRESSED row formats,
/// the default since MySQL 5.7 / MariaDB 10.2). A `VARCHAR` in a key counts 4
/// bytes per character in utf8mb4, so a lone text key column gets at most
/// 768 characters; key columns that share one index share the 3072 bytes.
const MAX_KEY_BYTES: usize = 3072;
/// Bytes per character in utf8mb4, InnoDB's worst case for key length.
const UTF8MB4_BYTES: usize = 4;

/// The largest `INSERT` the sink sends: at most this, and always below the
/// server's `max_allowed_packet` (16 MiB by default on MariaDB 10.11, 64 MiB
/// on MySQL 8). Bigger statements save no measurable time — a 4 MiB
/// statement is already ~thousands of rows per round trip — and only raise
/// the memory held per batch.
const MAX_STATEMENT_BYTES: usize = 4 << 20;
/// Room kept below `max_allowed_packet` for the packet header and the
/// statement's own text around the values.
const PACKET_SLACK: usize = 64 << 10;

/// How long the server waits for the reader to take the next rows: one hour.
/// The reader streams one `SELECT` per table and only pulls rows as fast as
/// the sink writes them; the server's default (60 s) would cut a slow
/// migration off in the middle of a big table.
const READ_NET_WRITE_TIMEOUT_SECS: u32 = 3600;

/// The sink's SQL mode: strict (a value that does not fit is an error, not a
/// warning), no zero dates, `0` is a value rather than "next auto-increment",
/// `"` quotes identifiers, and backslashes are ordinary characters.
const SINK_SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,\
NO_AUTO_VALUE_ON_ZERO,ANSI_QUOTES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION";
/// The source's SQL mode: only the quoting rules (reading changes nothing).
const SOURCE_SQL_MODE: &str = "ANSI_QUOTES,NO_BACKSLASH_ESCAPES";

/// Microseconds in a day, for timestamps.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The server's full message with its error code, or the client error.
fn my_message(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} (error {})", s.message, s.code),
        other => other.to_string(),
    }
}

/// The server error code, when the server answered with an error.
fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// Server errors about one row's data (not about the connection or the
/// statement): the row is rejected with the server's reason and the rest of
/// the batch still lands.
///
/// 1048 NULL into NOT NULL, 1062 duplicate key, 1264 out of range, 1265
/// truncated, 1292 bad date/time, 1366 bad value, 1367 illegal value, 1406
/// too long, 1411 bad value for function, 1690 out of range in expression,
/// 3819 (MySQL) and 4025 (MariaDB) CHECK failed, e.g. `json_valid`.
fn is_row_data_error(code: u16) -> bool {
    matches!(
        code,
        1048 | 1062 | 1264 | 1265 | 1292 | 1366 | 1367 | 1406 | 1411 | 1690 | 3819 | 4025
    )
}

/// An SQL string literal under `NO_BACKSLASH_ESCAPES`: quotes doubled. Text
/// with a NUL byte is sent as a hex literal with a charset introducer, so no
/// raw NUL ever travels inside the statement text.
fn str_lit(out: &mut String, s: &str) {
    if s.as_bytes().contains(&0) {
        out.push_str("_utf8mb4 X'");
        out.push_str(&hex::encode(s.as_bytes()));
        out.push('\'');
        return;
    }
    out.push('\'');
    for ch in s.chars() {
        if ch == '\'' {
            out.push('\'');
        }
        out.push(ch);
    }
    out.push('\'');
}

fn lit(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    str_lit(&mut o, s);
    o
}

/// An index or constraint name that fits MySQL's 64 characters: kept as is
/// when it fits, else its first 55 characters and 8 hex digits of its hash.
fn short_name(name: &str) -> String {
    if name.chars().count() <= MAX_IDENT_CHARS {
        return name.to_string();
    }
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let head: String = name.chars().take(55).collect();
    format!("{head}_{}", &h[..8])
}

/// Which server this is: decides the UUID type and the binary collation.
#[derive(Debug, Clone, Copy)]
struct Flavor {
    /// MariaDB (not MySQL).
    mariadb: bool,
    /// MariaDB ≥ 10.7 has a native `UUID` type.
    has_uuid: bool,
}

impl Flavor {
    fn from_version(v: &str) -> Flavor {
        let mariadb = v.to_ascii_lowercase().contains("mariadb");
        let mut nums = v
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u32>().unwrap_or(0));
        let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
        Flavor {
            mariadb,
            has_uuid: mariadb && (major, minor) >= (10, 7),
        }
    }

    /// A binary collation without trailing-space padding, so text compares
    /// byte for byte as in the source: `'a'` and `'a '` stay distinct key
    /// values (under the PAD SPACE `utf8mb4_bin` they would collide in a
    /// unique key), and so do `'a'` and `'A'` (a case-insensitive default
    /// collation would make them duplicates).
    fn collation(self) -> &'static str {
        if self.mariadb {
            "utf8mb4_nopad_bin"
        } else {
            "utf8mb4_0900_bin"
        }
    }
}

/// Opens one connection and sets the session up.
async fn connect(url: &str, sql_mode: &str) -> Result<(Conn, Flavor), EndpointError> {
    let name = super::redact(url);
    let opts = Opts::from_url(url).map_err(|e| EndpointError::BadUrl {
        url: name.clone(),
        reason: format!("{e}; expected mysql://USER[:PASSWORD]@HOST[:PORT]/DB"),
    })?;
    if opts.db_name().is_none_or(str::is_empty) {
        return Err(EndpointError::BadUrl {
            url: name,
            reason: "name the database: mysql://USER@HOST:PORT/DB".into(),
        });
    }
    let mut conn = Conn::new(opts).await.map_err(|e| EndpointError::Connect {
        endpoint: name.clone(),
        reason: format!(
            "{}; is the server running and the database created?",
            my_message(&e)
        ),
    })?;
    let setup = format!(
        "SET SESSION time_zone = '+00:00', sql_mode = '{sql_mode}', \
         net_write_timeout = {READ_NET_WRITE_TIMEOUT_SECS}"
    );
    let cerr = |e: mysql_async::Error| EndpointError::Connect {
        endpoint: name.clone(),
        reason: my_message(&e),
    };
    conn.query_drop("SET NAMES utf8mb4").await.map_err(cerr)?;
    conn.query_drop(setup).await.map_err(cerr)?;
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.map_err(cerr)?;
    Ok((conn, Flavor::from_version(&version.unwrap_or_default())))
}

/// A cell of an information_schema row as text.
fn text_at(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(x) => Some(x.to_string()),
        Value::UInt(x) => Some(x.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn text(row: &Row, i: usize) -> String {
    text_at(row, i).unwrap_or_default()
}

/// Maps a MySQL column (`DATA_TYPE`, `COLUMN_TYPE`) to ferry's logical type.
///
/// | MySQL | logical |
/// | --- | --- |
/// | `tinyint(1)`, `boolean` | boolean (0/1 only) |
/// | other integers, `year` | int64 |
/// | `bigint unsigned` | decimal (values above 2^63 − 1) |
/// | `float`, `double` | float64 (`float` widens exactly) |
/// | `decimal`, `numeric` | decimal |
/// | `char`, `varchar`, `*text`, `enum`, `set`, `inet4/6` | text |
/// | `json` (MariaDB: `longtext` + `json_valid` check, see [`MysqlSource::tables`]) | json |
/// | `binary`, `varbinary`, `*blob`, `bit`, spatial types | bytes |
/// | `date`, `time`, `datetime`, `timestamp`, `uuid` | date, time, timestamp, timestamptz (UTC), uuid |
pub fn logical_type(data_type: &str, column_type: &str) -> LogicalType {
    let dt = data_type.to_ascii_lowercase();
    let ct = column_type.to_ascii_lowercase();
    match dt.as_str() {
        "tinyint" if ct.starts_with("tinyint(1)") => LogicalType::Boolean,
        "bool" | "boolean" => LogicalType::Boolean,
        "bigint" if ct.contains("unsigned") => LogicalType::Decimal,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            LogicalType::Int64
        }
        "float" | "double" | "real" | "double precision" => LogicalType::Float64,
        "decimal" | "numeric" | "dec" | "fixed" => LogicalType::Decimal,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
        | "inet4" | "inet6" => LogicalType::Text,
        "json" => LogicalType::Json,
        "date" => LogicalType::Date,
        "time" => LogicalType::Time,
        "datetime" => LogicalType::Timestamp,
        "timestamp" => LogicalType::Timestamptz,
        "uuid" => LogicalType::Uuid,
        // binary, varbinary, blobs, bit, geometry and anything unknown:
        // carried as their exact bytes.
        _ => LogicalType::Bytes,
    }
}

/// A MySQL/MariaDB database read as a source.
pub struct MysqlSource {
    url: String,
    name: String,
}

impl MysqlSource {
    /// Checks that the server answers and the database exists.
    pub async fn open(url: &str) -> Result<MysqlSource, EndpointError> {
        let s = MysqlSource {
            url: url.to_string(),
            name: super::redact(url),
        };
        let c = s.conn().await?;
        drop(c);
        Ok(s)
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    /// A new session: each reader has its own, so tables read in parallel.
    async fn conn(&self) -> Result<Conn, EndpointError> {
        Ok(connect(&self.url, SOURCE_SQL_MODE).await?.0)
    }

    fn err(&self, table: Option<&str>, e: &mysql_async::Error) -> EndpointError {
        EndpointError::Query {
            endpoint: self.name.clone(),
            table: table.map(str::to_string),
            reason: my_message(e),
        }
    }

    /// Every base table of the current database (not `_ferry_*`) with its
    /// columns, keys, indexes and foreign keys, from information_schema.
    pub async fn tables(&self) -> Result<Vec<TableDef>, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(None, &x);
        let names: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            )
            .await
            .map_err(e)?;
        let mut tables: Vec<TableDef> = names
            .iter()
            .map(|r| text(r, 0))
            .filter(|n| !n.starts_with("_ferry_"))
            .map(|name| TableDef {
                name,
                columns: Vec::new(),
                primary_key: Vec::new(),
                unique: Vec::new(),
                indexes: Vec::new(),
                foreign_keys: Vec::new(),
            })
            .collect();
        let index: HashMap<String, usize> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();

        // MariaDB's JSON is LONGTEXT with a `json_valid(col)` CHECK; the
        // check is what marks the column as JSON. (MySQL has a real JSON type
        // and no TABLE_NAME in CHECK_CONSTRAINTS, hence the fallback.)
        let mut json_cols: std::collections::HashSet<(String, String)> = Default::default();
        let checks_q = c
            .query::<Row, _>(
                "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
                 WHERE CONSTRAINT_SCHEMA = DATABASE()",
            )
            .await;
        if let Ok(checks) = checks_q {
            for r in checks {
                let clause = text(&r, 1);
                let clause = clause.trim();
                // The server quotes the column as the session's sql_mode
                // says: "col" under ANSI_QUOTES, `col` otherwise.
                for q in ['"', '`'] {
                    let open = format!("json_valid({q}");
                    let close = format!("{q})");
                    if let Some(col) = clause
                        .strip_prefix(open.as_str())
                        .and_then(|s| s.strip_suffix(close.as_str()))
                    {
                        let col = col.replace(&format!("{q}{q}"), &q.to_string());
                        json_cols.insert((text(&r, 0), col));
                    }
                }
            }
        }

        let cols: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, EXTRA, COLUMN_COMMENT, COLUMN_DEFAULT \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 ORDER BY TABLE_NAME, ORDINAL_POSITION",
            )
            .await
            .map_err(e)?;
        for r in &cols {
            let Some(&ti) = index.get(&text(r, 0)) else {
                continue;
            };
            if text(r, 5).to_ascii_uppercase().contains("GENERATED") {
                continue; // generated columns are computed, not data
            }
            let name = text(r, 1);
            let declared = text(r, 2);
            let mut lt = logical_type(&text(r, 3), &declared);
            if lt == LogicalType::Text
                && json_cols.contains(&(tables[ti].name.clone(), name.clone()))
            {
                lt = LogicalType::Json;
            }
            // A column a ferry sink wrote as another type MySQL lacks.
            match (lt, text(r, 6).as_str()) {
                (LogicalType::Timestamp, TIMESTAMPTZ_MARK) => lt = LogicalType::Timestamptz,
                (LogicalType::Bytes, UUID_MARK) => lt = LogicalType::Uuid,
                _ => {}
            }
            tables[ti].columns.push(ColumnDef {
                name,
                declared_type: declared,
                logical_type: lt,
                nullable: text(r, 4).eq_ignore_ascii_case("YES"),
                // MariaDB quotes string defaults (`'new'`) and writes `NULL`
                // for an explicit NULL default.
                default: text_at(r, 7),
            });
        }

        let rules: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, CONSTRAINT_NAME, DELETE_RULE, UPDATE_RULE \
                 FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
            )
            .await
            .map_err(e)?;
        let rules: HashMap<(String, String), (String, String)> = rules
            .iter()
            .map(|r| ((text(r, 0), text(r, 1)), (text(r, 2), text(r, 3))))
            .collect();

        let keys: Vec<Row> = c
            .query(
                "SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, k.COLUMN_NAME, \
                        k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME \
                 FROM information_schema.TABLE_CONSTRAINTS tc \
                 JOIN information_schema.KEY_COLUMN_USAGE k \
                   ON k.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND k.TABLE_NAME = tc.TABLE_NAME \
                  AND k.CONSTRAINT_NAME = tc.CONSTRAINT_NAME \
                 WHERE tc.TABLE_SCHEMA = DATABASE() \
                   AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
                 ORDER BY tc.TABLE_NAME, tc.CONSTRAINT_TYPE, tc.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            )
            .await
            .map_err(e)?;
        let mut constraint_names: std::collections::HashSet<(String, String)> = Default::default();
        for r in &keys {
            let tname = text(r, 0);
            let Some(&ti) = index.get(&tname) else {
                continue;
            };
            let (cname, ctype, col) = (text(r, 1), text(r, 2), text(r, 3));
            constraint_names.insert((tname.clone(), cname.clone()));
            let t = &mut tables[ti];
            match ctype.as_str() {
                "PRIMARY KEY" => t.primary_key.push(col),
                "UNIQUE" => match t.unique.iter_mut().find(|u| u.name == cname) {
                    Some(u) => u.columns.push(col),
                    None => t.unique.push(UniqueDef {
                        name: cname,
                        columns: vec![col],
                    }),
                },
                _ => {
                    let ref_col = text(r, 5);
                    match t.foreign_keys.iter_mut().find(|f| f.name == cname) {
                        Some(f) => {
                            f.columns.push(col);
                            f.ref_columns.push(ref_col);
                        }
                        None => {
                            let (on_delete, on_update) = rules
                                .get(&(tname.clone(), cname.clone()))
                                .cloned()
                                .unwrap_or_else(|| ("NO ACTION".into(), "NO ACTION".into()));
                            t.foreign_keys.push(ForeignKeyDef {
                                name: cname,
                                columns: vec![col],
                                ref_table: text(r, 4),
                                ref_columns: vec![ref_col],
                                on_delete,
                                on_update,
                            });
                        }
                    }
                }
            }
        }

        let stats: Vec<Row> = c
            .query(
                "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME \
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            )
            .await
            .map_err(e)?;
        let mut skipped: std::collections::HashSet<(String, String)> = Default::default();
        for r in &stats {
            let tname = text(r, 0);
            let Some(&ti) = index.get(&tname) else {
                continue;
            };
            let iname = text(r, 1);
            if iname == "PRIMARY" || constraint_names.contains(&(tname.clone(), iname.clone())) {
                continue; // recreated as the key or constraint itself
            }
            let Some(col) = text_at(r, 3) else {
                // A functional (expression) index: its expression would need
                // translating, which this version does not do.
                if skipped.insert((tname.clone(), iname.clone())) {
                    tracing::warn!(table = tname, index = iname, "expression index skipped");
                }
                continue;
            };
            let unique = text(r, 2) == "0";
            let t = &mut tables[ti];
            match t.indexes.iter_mut().find(|i| i.name == iname) {
                Some(i) => i.columns.push(col),
                None => t.indexes.push(IndexDef {
                    name: iname,
                    columns: vec![col],
                    unique,
                }),
            }
        }
        for (t, i) in &skipped {
            if let Some(&ti) = index.get(t) {
                tables[ti].indexes.retain(|x| &x.name != i);
            }
        }
        Ok(tables)
    }

    /// Rows in a table (for progress bars).
    pub async fn count(&self, table: &str) -> Result<u64, EndpointError> {
        let mut c = self.conn().await?;
        let n: Option<u64> = c
            .query_first(format!("SELECT COUNT(*) FROM {}", quote_ident(table)))
            .await
            .map_err(|e| self.err(Some(table), &e))?;
        Ok(n.unwrap_or(0))
    }

    /// The column of a single-column integer primary key: reads can
    /// continue after a key (a checkpoint's position).
    pub fn resumable(table: &TableDef) -> Option<usize> {
        super::integer_key(table)
    }

    fn select_sql(table: &TableDef, after: Option<i64>) -> String {
        let cols = if table.columns.is_empty() {
            "1".to_string()
        } else {
            let names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            quote_list(&names)
        };
        let order = if table.primary_key.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", quote_list(&table.primary_key))
        };
        let filter = match (after, Self::resumable(table)) {
            (Some(a), Some(k)) => format!(" WHERE {} > {a}", quote_ident(&table.columns[k].name)),
            _ => String::new(),
        };
        format!(
            "SELECT {cols} FROM {}{filter}{order}",
            quote_ident(&table.name)
        )
    }

    /// Streams `table` in key order into `tx`; stops early when the receiver is dropped.
    ///
    /// One prepared `SELECT … ORDER BY pk` (InnoDB walks its clustered
    /// index, no sort) read row by row: memory is one batch, whatever the
    /// table's size. Values that do not fit their logical type (a zero date,
    /// a `tinyint(1)` holding 7, a `TIME` beyond 24 h) reject their row.
    pub async fn read(
        &self,
        table: &TableDef,
        batch_size: usize,
        tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        self.read_after(table, batch_size, None, tx).await
    }

    /// [`MysqlSource::read`] strictly after key `after` (tables with a
    /// single-column integer key); every batch reports its last key.
    pub async fn read_after(
        &self,
        table: &TableDef,
        batch_size: usize,
        after: Option<i64>,
        tx: &mpsc::Sender<ReadBatch>,
    ) -> Result<(), EndpointError> {
        let key_col = Self::resumable(table);
        let mut last_key: Option<i64> = None;
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(Some(&table.name), &x);
        let schema = table.schema();
        let batch_size = batch_size.max(1);
        let mut b = BatchBuilder::new(&schema, batch_size);
        let mut rejects = Vec::new();
        let mut read_in_batch = 0u64;
        let conn_id = c.id();
        let mut result = c
            .exec_iter(Self::select_sql(table, after), ())
            .await
            .map_err(e)?;
        while let Some(row) = result.next().await.map_err(e)? {
            read_in_batch += 1;
            if let Some(k) = key_col {
                match row.as_ref(k) {
                    Some(Value::Int(v)) => last_key = Some(*v),
                    Some(Value::UInt(v)) => last_key = i64::try_from(*v).ok().or(last_key),
                    Some(Value::Bytes(b)) => {
                        last_key = std::str::from_utf8(b)
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .or(last_key)
                    }
                    _ => {}
                }
            }
            let mut failed = None;
            for (i, col) in table.columns.iter().enumerate() {
                let v = row.as_ref(i).unwrap_or(&Value::NULL);
                if let Err(reason) = push_value(&mut b, i, col, v) {
                    failed = Some((i, reason));
                    break;
                }
            }
            match failed {
                Some((i, reason)) => {
                    b.abandon_row();
                    rejects.push(read_reject(table, &row, i, reason));
                }
                None => b.end_row(),
            }
            // Counting read rows (not kept rows) bounds memory even when
            // every row is rejected.
            if read_in_batch >= batch_size as u64 {
                let rb = ReadBatch {
                    batch: b.finish(),
                    rejects: std::mem::take(&mut rejects),
                    rows_read: read_in_batch,
                    position: last_key,
                    cursor: None,
                };
                if tx.send(rb).await.is_err() {
                    drop(result);
                    drop(c);
                    self.stop_query(conn_id).await;
                    return Ok(());
                }
                read_in_batch = 0;
            }
        }
        drop(result);
        if read_in_batch > 0 {
            let _ = tx
                .send(ReadBatch {
                    batch: b.finish(),
                    rejects,
                    rows_read: read_in_batch,
                    position: last_key,
                    cursor: None,
                })
                .await;
        }
        let _ = c.disconnect().await;
        Ok(())
    }

    /// Stops the server streaming a result nobody reads any more. Dropping
    /// the driver's connection mid-result would make it read the rest of the
    /// table in the background before closing; `KILL QUERY` ends it now.
    async fn stop_query(&self, conn_id: u32) {
        if let Ok(mut k) = self.conn().await {
            let _ = k.query_drop(format!("KILL QUERY {conn_id}")).await;
            let _ = k.disconnect().await;
        }
    }

    /// Rows in the rejects table per run and table (empty when there is none).
    /// Memory is bounded by the number of rejects, which is small next to
    /// the data (one key string per rejected row).
    pub async fn quarantined(&self) -> Result<Vec<super::QuarantineCount>, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(Some(REJECTS_TABLE), &x);
        if !table_exists(&mut c, REJECTS_TABLE).await.map_err(e)? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = c
            .query(format!(
                "SELECT run_id, table_name, source_key FROM {REJECTS_TABLE} ORDER BY run_id, table_name, id"
            ))
            .await
            .map_err(e)?;
        Ok(super::group_quarantine(
            rows.iter()
                .map(|r| (text(r, 0), text(r, 1), text_at(r, 2)))
                .collect(),
        ))
    }

    /// Samples the first `sample` rows in key order: the values that would
    /// be rejected on read, the average row size, and per foreign key the
    /// rows whose parent is missing (over the whole table).
    pub async fn profile(
        &self,
        table: &TableDef,
        sample: usize,
    ) -> Result<TableProfile, EndpointError> {
        let mut c = self.conn().await?;
        let e = |x: mysql_async::Error| self.err(Some(&table.name), &x);
        let schema = table.schema();
        let mut b = BatchBuilder::new(&schema, 1);
        let mut mismatches: Vec<(u64, Option<String>)> = vec![(0, None); table.columns.len()];
        let (mut sampled, mut bytes) = (0u64, 0u64);
        {
            let sql = format!("{} LIMIT {sample}", Self::select_sql(table, None));
            let mut result = c.exec_iter(sql, ()).await.map_err(e)?;
            while let Some(row) = result.next().await.map_err(e)? {
                sampled += 1;
                for (i, col) in table.columns.iter().enumerate() {
                    let v = row.as_ref(i).unwrap_or(&Value::NULL);
                    bytes += match v {
                        Value::NULL => 1,
                        Value::Bytes(x) => x.len() as u64,
                        _ => 8,
                    };
                    if let Err(reason) = push_value(&mut b, i, col, v) {
                        let m = &mut mismatches[i];
                        m.0 += 1;
                        m.1.get_or_insert(reason);
                    }
                }
                b.abandon_row();
            }
        }
        let mut orphans = Vec::new();
        for fk in &table.foreign_keys {
            let (cond, missing) = orphan_condition(fk, "c", "p");
            let sql = format!(
                "SELECT COUNT(*) FROM (SELECT * FROM {} LIMIT {sample}) c LEFT JOIN {} p ON {cond} WHERE {missing}",
                quote_ident(&table.name),
                quote_ident(&fk.ref_table)
            );
            let n: Option<u64> = c.query_first(sql).await.map_err(e)?;
            if let Some(n) = n.filter(|n| *n > 0) {
                orphans.push((fk.ref_table.clone(), n));
            }
        }
        let _ = c.disconnect().await;
        Ok(TableProfile {
            sampled,
            avg_row_bytes: bytes.checked_div(sampled).unwrap_or(0),
            mismatches: table
                .columns
                .iter()
                .zip(mismatches)
                .filter(|(_, (n, _))| *n > 0)
                .map(|(c, (n, why))| (c.name.clone(), n, why.unwrap_or_default()))
                .collect(),
            orphans,
        })
    }
}

/// `(join condition, "child has a key but no parent")` for a foreign key,
/// with the child aliased `c` and the parent `p`.
fn orphan_condition(fk: &ForeignKeyDef, c: &str, p: &str) -> (String, String) {
    let join: Vec<String> = fk
        .columns
        .iter()
        .zip(&fk.ref_columns)
        .map(|(cc, pc)| format!("{p}.{} = {c}.{}", quote_ident(pc), quote_ident(cc)))
        .collect();
    let mut missing: Vec<String> = fk
        .columns
        .iter()
        .map(|cc| format!("{c}.{} IS NOT NULL", quote_ident(cc)))
        .collect();
    // The parent's key columns equal non-null child values when a parent
    // matched, so NULL here means "no parent row".
    if let Some(pc) = fk.ref_columns.first() {
        missing.push(format!("{p}.{} IS NULL", quote_ident(pc)));
    }
    (join.join(" AND "), missing.join(" AND "))
}

async fn table_exists(c: &mut Conn, name: &str) -> Result<bool, mysql_async::Error> {
    let n: Option<u64> = c
        .query_first(format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
            lit(name)
        ))
        .await?;
    Ok(n.unwrap_or(0) > 0)
}

use crate::model::shown;

/// Days since the epoch of a MySQL date, or why it is not a real date.
fn mysql_days(y: u16, m: u8, d: u8) -> Result<i64, String> {
    if y == 0 && m == 0 && d == 0 {
        return Err(
            "zero date 0000-00-00 is not a date (MySQL's placeholder for \"no date\")".into(),
        );
    }
    if y == 0 || m == 0 || d == 0 || m > 12 || d > 31 {
        return Err(format!(
            "{y:04}-{m:02}-{d:02} is not a real date (zero month or day)"
        ));
    }
    let days = days_from_civil(y as i64, m as u32, d as u32);
    // A day the month does not have (MySQL's ALLOW_INVALID_DATES).
    if civil_from_days(days) != (y as i64, m as u32, d as u32) {
        return Err(format!("{y:04}-{m:02}-{d:02} is not a real date"));
    }
    Ok(days)
}

fn time_of_day(h: u8, mi: u8, s: u8, us: u32) -> i64 {
    ((h as i64 * 60 + mi as i64) * 60 + s as i64) * 1_000_000 + us as i64
}

/// Whether `s` is a plain decimal number (`-12.50`, `7`, `.5`).
fn is_plain_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    (!int.is_empty() || !frac.is_empty())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

/// Converts one MySQL value (binary protocol) into the column's logical
/// type, exactly, or says why it cannot.
fn push_value(b: &mut BatchBuilder, i: usize, col: &ColumnDef, v: &Value) -> Result<(), String> {
    let t = col.logical_type;
    let bad = |what: String| format!("{what} cannot be stored as {t} without loss");
    match (t, v) {
        (_, Value::NULL) => b.push_null(i),
        (LogicalType::Boolean, Value::Int(0) | Value::UInt(0)) => b.push_bool(i, false),
        (LogicalType::Boolean, Value::Int(1) | Value::UInt(1)) => b.push_bool(i, true),
        (LogicalType::Boolean, Value::Int(x)) => {
            return Err(format!(
                "{} holds {x}, which is neither 0 nor 1; ferry does not guess a boolean",
                col.declared_type
            ));
        }
        (LogicalType::Int64, Value::Int(x)) => b.push_int(i, *x),
        (LogicalType::Int64, Value::UInt(x)) => match i64::try_from(*x) {
            Ok(x) => b.push_int(i, x),
            Err(_) => return Err(bad(format!("unsigned {x}"))),
        },
        (LogicalType::Float64, Value::Double(x)) => b.push_float(i, *x),
        // Every f32 is exactly an f64.
        (LogicalType::Float64, Value::Float(x)) => b.push_float(i, *x as f64),
        (LogicalType::Decimal, Value::Int(x)) => b
            .push_bytes(i, x.to_string().as_bytes())
            .map_err(|e| e.to_string())?,
        (LogicalType::Decimal, Value::UInt(x)) => b
            .push_bytes(i, x.to_string().as_bytes())
            .map_err(|e| e.to_string())?,
        (LogicalType::Decimal, Value::Bytes(x)) => {
            let s = std::str::from_utf8(x).unwrap_or("");
            if !is_plain_decimal(s) {
                return Err(bad(format!("'{}'", shown(&String::from_utf8_lossy(x)))));
            }
            b.push_bytes(i, x).map_err(|e| e.to_string())?
        }
        (LogicalType::Text | LogicalType::Json, Value::Bytes(x)) => {
            if let Err(err) = std::str::from_utf8(x) {
                return Err(format!(
                    "text is not valid UTF-8 (invalid byte at offset {})",
                    err.valid_up_to()
                ));
            }
            b.push_bytes(i, x).map_err(|e| e.to_string())?
        }
        // Numbers in a text column (e.g. a YEAR read as text): exact digits.
        (LogicalType::Text, Value::Int(x)) => b
            .push_bytes(i, x.to_string().as_bytes())
            .map_err(|e| e.to_string())?,
        (LogicalType::Bytes, Value::Bytes(x)) => b.push_bytes(i, x).map_err(|e| e.to_string())?,
        (LogicalType::Date, Value::Date(y, m, d, ..)) => {
            let days = mysql_days(*y, *m, *d)?;
            b.push_date(i, days as i32)
        }
        (LogicalType::Timestamp | LogicalType::Timestamptz, Value::Date(y, m, d, h, mi, s, us)) => {
            let days = mysql_days(*y, *m, *d)?;
            b.push_int(i, days * MICROS_PER_DAY + time_of_day(*h, *mi, *s, *us))
        }
        (LogicalType::Time, Value::Time(neg, days, h, mi, s, us)) => {
            if *neg || *days > 0 {
                return Err(format!(
                    "TIME {}{}:{mi:02}:{s:02} is outside 00:00:00–23:59:59; ferry's time is a time of day, not a duration",
                    if *neg { "-" } else { "" },
                    *days as u64 * 24 + *h as u64
                ));
            }
            b.push_int(i, time_of_day(*h, *mi, *s, *us))
        }
        (LogicalType::Uuid, Value::Bytes(x)) => {
            let u = match x.len() {
                16 => x.as_slice().try_into().ok(),
                _ => std::str::from_utf8(x).ok().and_then(parse_uuid),
            };
            match u {
                Some(u) => b.push_uuid(i, &u),
                None => return Err(bad(format!("'{}'", shown(&String::from_utf8_lossy(x))))),
            }
        }
        (_, other) => return Err(bad(shown(&mysql_value_text(other)))),
    }
    Ok(())
}

/// A MySQL value as text, for reasons and rejected rows.
fn mysql_value_text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => format!("\\x{}", hex::encode(b)),
        },
        Value::Int(x) => x.to_string(),
        Value::UInt(x) => x.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Date(y, m, d, h, mi, s, us) => {
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
        Value::Time(neg, days, h, mi, s, us) => format!(
            "{}{}:{mi:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            *days as u64 * 24 + *h as u64
        ),
    }
}

fn mysql_value_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::NULL => J::Null,
        Value::Int(x) => J::from(*x),
        Value::UInt(x) => J::from(*x),
        Value::Float(x) => serde_json::Number::from_f64(*x as f64)
            .map(J::Number)
            .unwrap_or_else(|| J::String(x.to_string())),
        Value::Double(x) => serde_json::Number::from_f64(*x)
            .map(J::Number)
            .unwrap_or_else(|| J::String(x.to_string())),
        other => J::String(mysql_value_text(other)),
    }
}

fn read_reject(table: &TableDef, row: &Row, col: usize, reason: String) -> Reject {
    let mut obj = serde_json::Map::new();
    for (i, c) in table.columns.iter().enumerate() {
        let v = row.as_ref(i).map(mysql_value_json).unwrap_or_default();
        obj.insert(c.name.clone(), v);
    }
    let source_key = if table.primary_key.is_empty() {
        None
    } else {
        let key: Vec<String> = table
            .primary_key
            .iter()
            .map(|k| obj.get(k).map(|v| v.to_string()).unwrap_or_default())
            .collect();
        Some(key.join(","))
    };
    Reject {
        table: table.name.clone(),
        source_key,
        stage: Stage::Read,
        plugin: None,
        column: Some(table.columns[col].name.clone()),
        code: "type-mismatch".into(),
        reason,
        row: serde_json::Value::Object(obj),
    }
}

// ---------------------------------------------------------------------------
// Sink: type mapping and value encoding
// ---------------------------------------------------------------------------

/// MySQL's DECIMAL limits: 65 digits, 30 after the point.
const MAX_DECIMAL_PRECISION: u32 = 65;
const MAX_DECIMAL_SCALE: u32 = 30;

/// `(precision, scale)` from a declared `NUMERIC(10,2)` / `DECIMAL(10)` /
/// `bigint(20) unsigned`, when it has them and MySQL can hold them.
fn declared_precision(declared: &str) -> Option<(u32, u32)> {
    let d = declared.trim().to_ascii_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    let numeric = matches!(base, "numeric" | "decimal" | "dec" | "number" | "fixed")
        || (base == "bigint" && d.contains("unsigned"));
    if !numeric {
        return None;
    }
    let inner = d.split_once('(')?.1.split_once(')')?.0;
    let (p, s) = match inner.split_once(',') {
        Some((p, s)) => (p.trim().parse().ok()?, s.trim().parse().ok()?),
        None => (inner.trim().parse().ok()?, 0),
    };
    ((1..=MAX_DECIMAL_PRECISION).contains(&p) && s <= MAX_DECIMAL_SCALE && s <= p).then_some((p, s))
}

/// The length in a declared `VARCHAR(n)`, `NVARCHAR(n)`, `CHAR(n)`,
/// `VARBINARY(n)`, `BINARY(n)`.
fn declared_length(declared: &str) -> Option<usize> {
    let d = declared.trim().to_ascii_lowercase();
    let base = d.split('(').next().unwrap_or("").trim();
    if !matches!(
        base,
        "varchar"
            | "nvarchar"
            | "char"
            | "nchar"
            | "character varying"
            | "character"
            | "varbinary"
            | "binary"
    ) {
        return None;
    }
    d.split_once('(')?.1.split_once(')')?.0.trim().parse().ok()
}

/// Per text or bytes column used in a key (primary, unique, index, foreign
/// key): the bytes of InnoDB's 3072-byte key it may use. Columns that share
/// one key share the budget; a column in several keys gets the smallest share.
fn key_budgets(def: &TableDef) -> HashMap<String, usize> {
    let var = |c: &str| {
        def.columns.iter().any(|x| {
            x.name == c
                && matches!(
                    x.logical_type,
                    LogicalType::Text | LogicalType::Json | LogicalType::Bytes
                )
        })
    };
    let keys = std::iter::once(&def.primary_key)
        .chain(def.unique.iter().map(|u| &u.columns))
        .chain(def.indexes.iter().map(|i| &i.columns))
        .chain(def.foreign_keys.iter().map(|f| &f.columns));
    let mut out: HashMap<String, usize> = HashMap::new();
    for cols in keys {
        let vars: Vec<&String> = cols.iter().filter(|c| var(c)).collect();
        if vars.is_empty() {
            continue;
        }
        let share = MAX_KEY_BYTES / vars.len();
        for c in vars {
            let e = out.entry(c.clone()).or_insert(share);
            *e = (*e).min(share);
        }
    }
    out
}

/// How the sink writes one column: its type and the checks a value passes first.
#[derive(Debug, Clone, PartialEq)]
enum Enc {
    Bool,
    Int,
    Float,
    Decimal {
        precision: u32,
        scale: u32,
    },
    /// `max`: characters, when the column is a `VARCHAR` (keys).
    Text {
        max: Option<usize>,
        json: bool,
    },
    /// `max`: bytes, when the column is a `VARBINARY` (keys).
    Bytes {
        max: Option<usize>,
    },
    Date,
    Time,
    /// Timestamps and timestamptz (`tz`, in UTC), both `DATETIME(6)`.
    Timestamp {
        tz: bool,
    },
    Uuid {
        native: bool,
    },
}

/// Column comments that mark a type MySQL does not have, so a ferry
/// source (and `verify`) reads the column back as what was written: a
/// timestamptz stored as a UTC `DATETIME(6)`, a uuid stored as `BINARY(16)`.
const TIMESTAMPTZ_MARK: &str = "ferry:timestamptz";
const UUID_MARK: &str = "ferry:uuid";

impl Enc {
    /// The `COMMENT` clause marking the column, when its type needs one.
    fn comment(&self) -> String {
        match self {
            Enc::Timestamp { tz: true } => format!(" COMMENT '{TIMESTAMPTZ_MARK}'"),
            Enc::Uuid { native: false } => format!(" COMMENT '{UUID_MARK}'"),
            _ => String::new(),
        }
    }

    fn sql_type(&self) -> String {
        match self {
            Enc::Bool => "BOOLEAN".into(),
            Enc::Int => "BIGINT".into(),
            Enc::Float => "DOUBLE".into(),
            Enc::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            Enc::Text { max: Some(n), .. } => format!("VARCHAR({n})"),
            Enc::Text { json: true, .. } => "JSON".into(),
            Enc::Text { .. } => "LONGTEXT".into(),
            Enc::Bytes { max: Some(n) } => format!("VARBINARY({n})"),
            Enc::Bytes { max: None } => "LONGBLOB".into(),
            Enc::Date => "DATE".into(),
            Enc::Time => "TIME(6)".into(),
            Enc::Timestamp { .. } => "DATETIME(6)".into(),
            Enc::Uuid { native: true } => "UUID".into(),
            Enc::Uuid { native: false } => "BINARY(16)".into(),
        }
    }
}

/// The encoding of column `c` of a table whose keys are `keys` (from
/// [`key_budgets`]) and whose source is `source`.
fn encoding(
    source: &TableDef,
    keys: &HashMap<String, usize>,
    c: &ColumnDef,
    native_uuid: bool,
) -> Enc {
    let declared = source
        .columns
        .iter()
        .find(|s| s.name == c.name && s.logical_type == c.logical_type)
        .map(|s| s.declared_type.as_str())
        .unwrap_or("");
    match c.logical_type {
        LogicalType::Boolean => Enc::Bool,
        LogicalType::Int64 => Enc::Int,
        LogicalType::Float64 => Enc::Float,
        LogicalType::Decimal => {
            let (precision, scale) =
                declared_precision(declared).unwrap_or((MAX_DECIMAL_PRECISION, MAX_DECIMAL_SCALE));
            Enc::Decimal { precision, scale }
        }
        LogicalType::Text | LogicalType::Json => {
            let max = keys.get(&c.name).map(|budget| {
                let fits = budget / UTF8MB4_BYTES;
                declared_length(declared).map_or(fits, |n| n.clamp(1, fits))
            });
            Enc::Text {
                max,
                json: c.logical_type == LogicalType::Json,
            }
        }
        LogicalType::Bytes => Enc::Bytes {
            max: keys
                .get(&c.name)
                .map(|budget| declared_length(declared).map_or(*budget, |n| n.clamp(1, *budget))),
        },
        LogicalType::Date => Enc::Date,
        LogicalType::Time => Enc::Time,
        LogicalType::Timestamp => Enc::Timestamp { tz: false },
        LogicalType::Timestamptz => Enc::Timestamp { tz: true },
        LogicalType::Uuid => Enc::Uuid {
            native: native_uuid,
        },
    }
}

/// The MySQL column type a sink creates for a column (as MariaDB ≥ 10.7
/// would; on MySQL a uuid column is `BINARY(16)`).
///
/// | logical | MySQL |
/// | --- | --- |
/// | boolean | `BOOLEAN` (`tinyint(1)`) |
/// | int64 | `BIGINT` |
/// | float64 | `DOUBLE` |
/// | decimal | `DECIMAL(p,s)` from the source's declared precision, else `DECIMAL(65,30)` |
/// | text | `LONGTEXT`; `VARCHAR(n)` in a key |
/// | bytes | `LONGBLOB`; `VARBINARY(n)` in a key |
/// | json | `JSON` |
/// | date, time | `DATE`, `TIME(6)` |
/// | timestamp, timestamptz | `DATETIME(6)` (timestamptz in UTC) |
/// | uuid | `UUID` (MariaDB ≥ 10.7), else `BINARY(16)` |
pub fn column_type(source: &TableDef, c: &ColumnDef) -> String {
    encoding(source, &key_budgets(source), c, true).sql_type()
}

/// Why one value cannot be written: `(code, reason)`.
type ValueError = (&'static str, String);

/// The plain digits of a decimal text: sign, integer digits (no leading
/// zeros) and fraction digits (no trailing zeros). Exponents are applied.
fn decimal_parts(s: &str) -> Option<(bool, String, String)> {
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // An exponent far beyond MySQL's 65 digits cannot fit anyway; capping it
    // keeps the padding below bounded.
    if exp.unsigned_abs() > 200 {
        return None;
    }
    let digits: String = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let (int_part, frac_part) = if point <= 0 {
        (
            String::new(),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int_part = int_part.trim_start_matches('0').to_string();
    let frac_part = frac_part.trim_end_matches('0').to_string();
    let zero = int_part.is_empty() && frac_part.is_empty();
    Some((neg && !zero, int_part, frac_part))
}

/// The exact literal of a decimal for `DECIMAL(p,s)`, or why it does not
/// fit. Trailing fraction zeros are not digits of the value (`1.50` fits
/// `DECIMAL(3,1)`); any other digit beyond the scale would be rounded away
/// by MySQL, so the value is refused instead.
fn decimal_literal(s: &str, precision: u32, scale: u32) -> Result<String, ValueError> {
    let Some((neg, int, frac)) = decimal_parts(s) else {
        return Err((
            "type-mismatch",
            format!("'{}' is not a decimal number", shown(s)),
        ));
    };
    let int_max = (precision - scale) as usize;
    if frac.len() > scale as usize {
        return Err((
            "decimal-out-of-range",
            format!(
                "{} has {} digits after the point; DECIMAL({precision},{scale}) keeps {scale} and MySQL would round the rest away",
                shown(s),
                frac.len()
            ),
        ));
    }
    if int.len() > int_max {
        return Err((
            "decimal-out-of-range",
            format!(
                "{} has {} digits before the point; DECIMAL({precision},{scale}) holds {int_max}",
                shown(s),
                int.len()
            ),
        ));
    }
    let mut out = String::with_capacity(int.len() + frac.len() + 3);
    if neg {
        out.push('-');
    }
    out.push_str(if int.is_empty() { "0" } else { &int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

/// MySQL's DATE/DATETIME years: 1000–9999 (earlier dates are "not
/// supported" and behave differently across versions, so they are refused).
fn check_year(days: i64, what: &str) -> Result<(), ValueError> {
    let (y, _, _) = civil_from_days(days);
    if !(1000..=9999).contains(&y) {
        return Err((
            "out-of-range",
            format!("{what} in year {y} is outside MySQL's range 1000-01-01 to 9999-12-31"),
        ));
    }
    Ok(())
}

/// Appends the literal of one value, after checking it fits exactly.
fn encode_value(out: &mut String, enc: &Enc, v: ValueRef<'_>) -> Result<(), ValueError> {
    match (enc, v) {
        (_, ValueRef::Null) => out.push_str("NULL"),
        (Enc::Bool, ValueRef::Bool(b)) => out.push_str(if b { "1" } else { "0" }),
        (Enc::Int, ValueRef::Int(x)) => {
            let _ = write!(out, "{x}");
        }
        (Enc::Float, ValueRef::Float(x)) => {
            if !x.is_finite() {
                return Err((
                    "out-of-range",
                    format!("{x} cannot be stored: MySQL DOUBLE has no NaN or infinity"),
                ));
            }
            // Exponent form with the shortest round-trip digits: MySQL reads
            // it back as exactly this double (a long plain literal would be
            // read as DECIMAL first).
            let _ = write!(out, "{x:e}");
        }
        (Enc::Decimal { precision, scale }, ValueRef::Text(s)) => {
            out.push_str(&decimal_literal(s, *precision, *scale)?)
        }
        (Enc::Text { max, .. }, ValueRef::Text(s)) => {
            if let Some(n) = max {
                let len = s.chars().count();
                if len > *n {
                    return Err((
                        "too-long",
                        format!(
                            "{len} characters do not fit the key column's VARCHAR({n}) (InnoDB keys hold at most {MAX_KEY_BYTES} bytes); ferry does not truncate"
                        ),
                    ));
                }
            }
            str_lit(out, s)
        }
        (Enc::Bytes { max }, ValueRef::Bytes(b)) => {
            if let Some(n) = max
                && b.len() > *n
            {
                return Err((
                    "too-long",
                    format!(
                        "{} bytes do not fit the key column's VARBINARY({n}); ferry does not truncate",
                        b.len()
                    ),
                ));
            }
            out.push_str("X'");
            out.push_str(&hex::encode(b));
            out.push('\'');
        }
        (Enc::Date, ValueRef::Date(d)) => {
            check_year(d as i64, "date")?;
            let _ = write!(out, "'{}'", format_date(d));
        }
        (Enc::Time, ValueRef::Int(us)) => {
            if !(0..MICROS_PER_DAY).contains(&us) {
                return Err(("out-of-range", format!("{us} µs is not a time of day")));
            }
            let _ = write!(out, "'{}'", format_time(us));
        }
        (Enc::Timestamp { .. }, ValueRef::Int(us)) => {
            check_year(us.div_euclid(MICROS_PER_DAY), "timestamp")?;
            let _ = write!(out, "'{}'", format_timestamp(us));
        }
        (Enc::Uuid { native }, ValueRef::Uuid(u)) => {
            let Ok(u) = <[u8; 16]>::try_from(u) else {
                return Err(("type-mismatch", "a uuid is 16 bytes".into()));
            };
            if *native {
                let _ = write!(out, "'{}'", format_uuid(&u));
            } else {
                let _ = write!(out, "X'{}'", hex::encode(u));
            }
        }
        (enc, v) => {
            return Err((
                "type-mismatch",
                format!("value {v:?} does not match column type {}", enc.sql_type()),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Sink
// ---------------------------------------------------------------------------

/// A MySQL/MariaDB database written as a sink.
pub struct MysqlSink {
    conn: Conn,
    name: String,
    flavor: Flavor,
    /// The largest statement sent: [`MAX_STATEMENT_BYTES`], or less when the
    /// server's `max_allowed_packet` is smaller.
    max_statement: usize,
}

impl MysqlSink {
    pub async fn connect(url: &str) -> Result<MysqlSink, EndpointError> {
        let name = super::redact(url);
        let (mut conn, flavor) = connect(url, SINK_SQL_MODE).await?;
        let packet: Option<u64> = conn
            .query_first("SELECT @@max_allowed_packet")
            .await
            .map_err(|e| EndpointError::Connect {
                endpoint: name.clone(),
                reason: my_message(&e),
            })?;
        let packet = packet.unwrap_or(1 << 20) as usize;
        let max_statement =
            MAX_STATEMENT_BYTES.min(packet.saturating_sub(PACKET_SLACK).max(1 << 16));
        Ok(MysqlSink {
            conn,
            name,
            flavor,
            max_statement,
        })
    }

    pub fn describe(&self) -> String {
        self.name.clone()
    }

    fn err(&self, table: Option<&str>, e: impl std::fmt::Display) -> EndpointError {
        EndpointError::Query {
            endpoint: self.name.clone(),
            table: table.map(str::to_string),
            reason: e.to_string(),
        }
    }

    async fn exec(&mut self, table: Option<&str>, sql: &str) -> Result<(), EndpointError> {
        match self.conn.query_drop(sql).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let shown_sql: String = sql.chars().take(300).collect();
                Err(self.err(
                    table,
                    format!("{} (while running: {shown_sql})", my_message(&e)),
                ))
            }
        }
    }

    /// Deletes the rows of `table` whose `column` is one of `values` (and,
    /// with `eq`, whose other column equals a value).
    pub async fn delete_rows(
        &mut self,
        table: &str,
        eq: Option<(&str, &str)>,
        column: &str,
        values: &[String],
    ) -> Result<u64, EndpointError> {
        let mut n = 0u64;
        // 500 values per statement: far under the 65,535 placeholders MySQL allows.
        for chunk in values.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let mut params: Vec<Value> = chunk.iter().map(|v| Value::from(v.as_str())).collect();
            let filter = match eq {
                Some((c, v)) => {
                    params.push(Value::from(v));
                    format!(" AND {} = ?", quote_ident(c))
                }
                None => String::new(),
            };
            let sql = format!(
                "DELETE FROM {} WHERE {} IN ({marks}){filter}",
                quote_ident(table),
                quote_ident(column)
            );
            self.conn
                .exec_drop(sql, params)
                .await
                .map_err(|e| self.err(Some(table), my_message(&e)))?;
            n += self.conn.affected_rows();
        }
        Ok(n)
    }

    pub async fn existing_tables(
        &mut self,
        names: &[String],
    ) -> Result<Vec<String>, EndpointError> {
        let mut out = Vec::new();
        for n in names {
            let exists = table_exists(&mut self.conn, n)
                .await
                .map_err(|e| self.err(Some(n), my_message(&e)))?;
            if exists {
                out.push(n.clone());
            }
        }
        Ok(out)
    }

    /// The encodings of a target table's columns.
    fn encodings(&self, t: &TargetTable) -> Vec<Enc> {
        let keys = key_budgets(&t.def);
        t.def
            .columns
            .iter()
            .map(|c| encoding(&t.source, &keys, c, self.flavor.has_uuid))
            .collect()
    }

    pub async fn prepare(
        &mut self,
        tables: &[TargetTable],
        if_exists: IfExists,
    ) -> Result<(), EndpointError> {
        for t in tables {
            let too_long = std::iter::once(("table", &t.def.name))
                .chain(t.def.columns.iter().map(|c| ("column", &c.name)))
                .find(|(_, n)| n.chars().count() > MAX_IDENT_CHARS);
            if let Some((what, n)) = too_long {
                return Err(self.err(
                    Some(&t.def.name),
                    format!(
                        "{what} name `{n}` is longer than MySQL's {MAX_IDENT_CHARS} characters; rename it with a transformer"
                    ),
                ));
            }
        }
        let rejects_exist = table_exists(&mut self.conn, REJECTS_TABLE)
            .await
            .map_err(|e| self.err(None, my_message(&e)))?;
        let mut to_drop = Vec::new();
        for t in tables {
            let exists = table_exists(&mut self.conn, &t.def.name)
                .await
                .map_err(|e| self.err(Some(&t.def.name), my_message(&e)))?;
            if exists {
                match if_exists {
                    IfExists::Fail => {
                        return Err(EndpointError::TargetExists {
                            endpoint: self.name.clone(),
                            table: t.def.name.clone(),
                        });
                    }
                    IfExists::Drop => to_drop.push(t),
                }
            }
        }
        if !to_drop.is_empty() {
            // Foreign key checks off while dropping: a replaced parent may
            // still be referenced (its children are usually replaced too).
            self.exec(None, "SET foreign_key_checks = 0").await?;
            for t in &to_drop {
                let r = self
                    .exec(
                        Some(&t.def.name),
                        &format!("DROP TABLE {}", quote_ident(&t.def.name)),
                    )
                    .await;
                if r.is_err() {
                    let _ = self.exec(None, "SET foreign_key_checks = 1").await;
                    return r;
                }
                // Its rejects described the data being replaced.
                if rejects_exist {
                    self.exec(
                        Some(REJECTS_TABLE),
                        &format!(
                            "DELETE FROM {REJECTS_TABLE} WHERE table_name = {}",
                            lit(&t.source.name)
                        ),
                    )
                    .await?;
                }
            }
            self.exec(None, "SET foreign_key_checks = 1").await?;
        }
        let collation = self.flavor.collation();
        self.exec(
            Some(REJECTS_TABLE),
            &format!(
                "CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
                 run_id VARCHAR(64) NOT NULL, table_name VARCHAR(255) NOT NULL, source_key LONGTEXT, \
                 stage VARCHAR(16) NOT NULL, plugin LONGTEXT, column_name LONGTEXT, code VARCHAR(64) NOT NULL, \
                 reason LONGTEXT NOT NULL, row_data LONGTEXT NOT NULL, \
                 rejected_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), \
                 KEY (run_id, table_name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"
            ),
        )
        .await?;
        for t in tables {
            let encs = self.encodings(t);
            let mut parts: Vec<String> = t
                .def
                .columns
                .iter()
                .zip(&encs)
                .map(|(c, enc)| {
                    format!(
                        "{} {}{}{}{}",
                        quote_ident(&c.name),
                        enc.sql_type(),
                        if c.nullable { " NULL" } else { " NOT NULL" },
                        // MySQL refuses defaults on TEXT/BLOB columns before
                        // 8.0.13 unless written as an expression: `(…)`.
                        crate::model::default_sql(c, true)
                            .map(|d| if d.starts_with("CURRENT_TIMESTAMP") {
                                format!(" DEFAULT {d}")
                            } else {
                                format!(" DEFAULT ({d})")
                            })
                            .unwrap_or_default(),
                        enc.comment()
                    )
                })
                .collect();
            // The primary key is created with the table: InnoDB stores rows
            // in primary-key order (the clustered index), so adding it after
            // the load rebuilds the whole table, while inserting in key order
            // (the reader's order) only appends. Measured on MariaDB 10.11,
            // 500k rows: 1.50 s with the key up front; 1.63 s without a key
            // plus 0.55 s for ADD PRIMARY KEY. Duplicates are caught row by
            // row and rejected as `duplicate-key` (see `write`).
            if !t.def.primary_key.is_empty() {
                parts.push(format!("PRIMARY KEY ({})", quote_list(&t.def.primary_key)));
            }
            self.exec(
                Some(&t.def.name),
                &format!(
                    "CREATE TABLE {} (\n  {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}",
                    quote_ident(&t.def.name),
                    parts.join(",\n  ")
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// Writes one batch and its rejects in one transaction. Values the
    /// sink cannot store exactly reject their row (stage `write`); the rest
    /// of the batch lands.
    pub async fn write(
        &mut self,
        run_id: &str,
        table: &TargetTable,
        batch: &Batch,
        rejects: &[Reject],
        checkpoint: Option<&crate::ledger::Checkpoint>,
        upsert: bool,
    ) -> Result<WriteOutcome, EndpointError> {
        let schema = table.def.schema();
        let encs = self.encodings(table);
        // Incremental runs: a row replaces the one with its key.
        let on_dup = if upsert && !table.def.primary_key.is_empty() {
            let set: Vec<String> = table
                .def
                .columns
                .iter()
                .filter(|c| !table.def.primary_key.contains(&c.name))
                .map(|c| format!("{q} = VALUES({q})", q = quote_ident(&c.name)))
                .collect();
            if set.is_empty() {
                let k = quote_ident(&table.def.primary_key[0]);
                format!(" ON DUPLICATE KEY UPDATE {k} = {k}")
            } else {
                format!(" ON DUPLICATE KEY UPDATE {}", set.join(", "))
            }
        } else {
            String::new()
        };
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote_ident(&table.def.name),
            quote_list(
                &table
                    .def
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
            )
        );
        let mut sink_rejects = Vec::new();
        let mut statements: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut row_sql = String::new();
        let mut ok_rows: Vec<usize> = Vec::with_capacity(batch.num_rows);
        for r in 0..batch.num_rows {
            match self.encode_row(&mut row_sql, &encs, batch, r, head.len()) {
                Ok(()) => {}
                Err((col, code, reason)) => {
                    sink_rejects
                        .push(self.write_reject(table, &schema, batch, r, col, code, reason));
                    continue;
                }
            }
            if !current.is_empty() && current.len() + 1 + row_sql.len() > self.max_statement {
                statements.push(std::mem::take(&mut current));
            }
            if current.is_empty() {
                current.push_str(&head);
            } else {
                current.push(',');
            }
            current.push_str(&row_sql);
            ok_rows.push(r);
        }
        if !current.is_empty() {
            statements.push(current);
        }
        for s in &mut statements {
            s.push_str(&on_dup);
        }

        let name = table.def.name.clone();
        self.exec(Some(&name), "START TRANSACTION").await?;
        let mut failed_on_data = false;
        for s in &statements {
            if let Err(e) = self.conn.query_drop(s.as_str()).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                if server_code(&e).is_some_and(is_row_data_error) {
                    failed_on_data = true;
                    break;
                }
                return Err(self.err(Some(&name), my_message(&e)));
            }
        }
        let mut written = ok_rows.len() as u64;
        if failed_on_data {
            // The server refused a value ferry's checks let through (a
            // duplicate key, a CHECK): load row by row so only the refused
            // rows are rejected, with the server's reason. A refused
            // statement is rolled back alone; the transaction goes on.
            self.exec(Some(&name), "START TRANSACTION").await?;
            written = 0;
            for &r in &ok_rows {
                row_sql.clear();
                // Encoding succeeded before, so it succeeds again.
                let _ = self.encode_row(&mut row_sql, &encs, batch, r, head.len());
                let sql = format!("{head}{row_sql}{on_dup}");
                match self.conn.query_drop(sql).await {
                    Ok(()) => written += 1,
                    Err(e) if server_code(&e).is_some_and(is_row_data_error) => {
                        let code = if server_code(&e) == Some(1062) {
                            "duplicate-key"
                        } else {
                            "rejected-by-target"
                        };
                        let reason = format!("the server refused the row: {}", my_message(&e));
                        sink_rejects
                            .push(self.write_reject(table, &schema, batch, r, None, code, reason));
                    }
                    Err(e) => {
                        let _ = self.conn.query_drop("ROLLBACK").await;
                        return Err(self.err(Some(&name), my_message(&e)));
                    }
                }
            }
        }
        let all: Vec<&Reject> = rejects.iter().chain(sink_rejects.iter()).collect();
        if let Err(e) = self.insert_rejects(run_id, &all).await {
            let _ = self.conn.query_drop("ROLLBACK").await;
            return Err(e);
        }
        if let Some(cp) = checkpoint {
            let mut cp = cp.clone();
            cp.rows_written += written;
            cp.rows_rejected += (rejects.len() + sink_rejects.len()) as u64;
            if let Err(e) = self.save_checkpoint(&cp).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(e);
            }
        }
        self.exec(Some(&name), "COMMIT").await?;
        Ok(WriteOutcome {
            written,
            rejected: sink_rejects,
        })
    }

    /// Encodes row `r` as `(v1,v2,…)` into `out`, or says which column
    /// cannot be stored and why.
    fn encode_row(
        &self,
        out: &mut String,
        encs: &[Enc],
        batch: &Batch,
        r: usize,
        head_len: usize,
    ) -> Result<(), (Option<usize>, &'static str, String)> {
        out.clear();
        out.push('(');
        for (c, enc) in encs.iter().enumerate() {
            if c > 0 {
                out.push(',');
            }
            encode_value(out, enc, batch.value(r, c))
                .map_err(|(code, why)| (Some(c), code, why))?;
        }
        out.push(')');
        if head_len + out.len() > self.max_statement {
            return Err((
                None,
                "too-large",
                format!(
                    "the row takes {} bytes as SQL, more than the {} bytes one statement may carry (the server's max_allowed_packet); raise max_allowed_packet to load it",
                    out.len(),
                    self.max_statement
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_reject(
        &self,
        table: &TargetTable,
        schema: &crate::model::Schema,
        batch: &Batch,
        row: usize,
        col: Option<usize>,
        code: &str,
        reason: String,
    ) -> Reject {
        Reject {
            table: table.source.name.clone(),
            source_key: batch.source_key(schema, &table.source.primary_key, row),
            stage: Stage::Write,
            plugin: None,
            column: col.map(|c| schema.columns[c].name.clone()),
            code: code.into(),
            reason,
            row: batch.row_json(schema, row),
        }
    }

    /// Inserts rejects into `_ferry_rejects` (inside the caller's transaction).
    /// Whether one table exists in the target database.
    async fn has_table(&mut self, name: &str) -> Result<bool, EndpointError> {
        table_exists(&mut self.conn, name)
            .await
            .map_err(|e| self.err(Some(name), my_message(&e)))
    }

    /// Creates or upgrades the ledger tables (see [`crate::ledger`]).
    /// DDL commits implicitly in MySQL, so each version's statements run
    /// one by one and the version row is written last: a crash half-way
    /// re-runs the version (every statement is IF NOT EXISTS or guarded).
    pub async fn ledger_init(&mut self) -> Result<(), EndpointError> {
        let t = Some(crate::ledger::LEDGER_TABLE);
        self.exec(
            t,
            "CREATE TABLE IF NOT EXISTS _ferry_ledger (version BIGINT NOT NULL, applied_at VARCHAR(40) NOT NULL)",
        )
        .await?;
        let have: Option<i64> = self
            .conn
            .query_first("SELECT COALESCE(MAX(version), 0) FROM _ferry_ledger")
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        let have = have.unwrap_or(0);
        if have > crate::ledger::LEDGER_VERSION {
            return Err(self.err(
                t,
                format!(
                    "the ledger is version {have}, written by a newer ferry (this one knows {}); upgrade ferry",
                    crate::ledger::LEDGER_VERSION
                ),
            ));
        }
        // One version for MySQL: its ledger starts at the current layout.
        if have < crate::ledger::LEDGER_VERSION {
            for ddl in [
                "CREATE TABLE IF NOT EXISTS _ferry_runs (run_id VARCHAR(64) PRIMARY KEY, status VARCHAR(32) NOT NULL, \
                 phase VARCHAR(32) NOT NULL, mode VARCHAR(32) NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, \
                 fingerprint TEXT, plan LONGTEXT, started_at VARCHAR(40) NOT NULL, updated_at VARCHAR(40) NOT NULL, \
                 finished_at VARCHAR(40), report LONGTEXT, error TEXT)",
                "CREATE TABLE IF NOT EXISTS _ferry_checkpoints (run_id VARCHAR(64) NOT NULL, table_name VARCHAR(255) NOT NULL, \
                 position BIGINT, rows_read BIGINT NOT NULL, rows_written BIGINT NOT NULL, rows_rejected BIGINT NOT NULL, \
                 done BOOLEAN NOT NULL, updated_at VARCHAR(40) NOT NULL, cursor_column TEXT, cursor_value TEXT, \
                 target_offsets TEXT, PRIMARY KEY (run_id, table_name))",
                "CREATE TABLE IF NOT EXISTS _ferry_backups (run_id VARCHAR(64) NOT NULL, table_name VARCHAR(255) NOT NULL, \
                 kind VARCHAR(32) NOT NULL, backup_ref TEXT, pre_rows BIGINT NOT NULL, pre_checksum TEXT, \
                 created_at VARCHAR(40) NOT NULL, PRIMARY KEY (run_id, table_name))",
            ] {
                self.exec(t, ddl).await?;
            }
            self.conn
                .exec_drop(
                    "INSERT INTO _ferry_ledger (version, applied_at) VALUES (?, ?)",
                    (crate::ledger::LEDGER_VERSION, crate::ledger::now()),
                )
                .await
                .map_err(|e| self.err(t, my_message(&e)))?;
        }
        Ok(())
    }

    /// Inserts or updates a run.
    pub async fn save_run(&mut self, r: &crate::ledger::RunRecord) -> Result<(), EndpointError> {
        let params: Vec<Value> = vec![
            r.run_id.as_str().into(),
            r.status.as_str().into(),
            r.phase.as_str().into(),
            r.mode.as_str().into(),
            r.source.as_str().into(),
            r.target.as_str().into(),
            r.fingerprint.clone().into(),
            r.plan.clone().into(),
            r.started_at.as_str().into(),
            r.updated_at.as_str().into(),
            r.finished_at.clone().into(),
            r.report.clone().into(),
            r.error.clone().into(),
        ];
        self.conn
            .exec_drop(
                "INSERT INTO _ferry_runs (run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE status = VALUES(status), phase = VALUES(phase), \
                 mode = VALUES(mode), fingerprint = VALUES(fingerprint), plan = COALESCE(VALUES(plan), plan), updated_at = VALUES(updated_at), \
                 finished_at = VALUES(finished_at), report = VALUES(report), error = VALUES(error)",
                params,
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::RUNS_TABLE), my_message(&e)))
    }

    /// Runs, newest first (one run when `run_id` is given); empty without a ledger.
    pub async fn runs(
        &mut self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::RunRecord>, EndpointError> {
        let t = Some(crate::ledger::RUNS_TABLE);
        if !self.has_table(crate::ledger::RUNS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT run_id, status, phase, mode, source, target, fingerprint, plan, started_at, updated_at, finished_at, report, error \
                 FROM _ferry_runs WHERE ? IS NULL OR run_id = ? ORDER BY started_at DESC, run_id",
                (run_id, run_id),
            )
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        Ok(rows
            .into_iter()
            .map(|mut r| crate::ledger::RunRecord {
                run_id: r.take(0).unwrap_or_default(),
                status: r.take(1).unwrap_or_default(),
                phase: r.take(2).unwrap_or_default(),
                mode: r.take(3).unwrap_or_default(),
                source: r.take(4).unwrap_or_default(),
                target: r.take(5).unwrap_or_default(),
                fingerprint: r.take(6).unwrap_or_default(),
                plan: r.take(7).unwrap_or_default(),
                started_at: r.take(8).unwrap_or_default(),
                updated_at: r.take(9).unwrap_or_default(),
                finished_at: r.take(10).unwrap_or_default(),
                report: r.take(11).unwrap_or_default(),
                error: r.take(12).unwrap_or_default(),
            })
            .collect())
    }

    /// The checkpoints of a run.
    pub async fn checkpoints(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Checkpoint>, EndpointError> {
        self.read_checkpoints(Some(run_id)).await
    }

    async fn read_checkpoints(
        &mut self,
        run_id: Option<&str>,
    ) -> Result<Vec<crate::ledger::Checkpoint>, EndpointError> {
        let t = Some(crate::ledger::CHECKPOINTS_TABLE);
        if !self.has_table(crate::ledger::CHECKPOINTS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT c.run_id, c.table_name, c.position, c.rows_read, c.rows_written, c.rows_rejected, c.done, c.updated_at, \
                 c.cursor_column, c.cursor_value, c.target_offsets FROM _ferry_checkpoints c JOIN _ferry_runs r ON r.run_id = c.run_id \
                 WHERE (? IS NULL AND r.status <> 'rolled_back' AND c.cursor_column IS NOT NULL AND c.cursor_value IS NOT NULL) OR c.run_id = ? \
                 ORDER BY c.updated_at, c.table_name",
                (run_id, run_id),
            )
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        Ok(rows
            .into_iter()
            .map(|mut r| crate::ledger::Checkpoint {
                run_id: r.take(0).unwrap_or_default(),
                table: r.take(1).unwrap_or_default(),
                position: r.take(2).unwrap_or_default(),
                rows_read: r.take::<i64, _>(3).unwrap_or(0) as u64,
                rows_written: r.take::<i64, _>(4).unwrap_or(0) as u64,
                rows_rejected: r.take::<i64, _>(5).unwrap_or(0) as u64,
                done: r.take::<i64, _>(6).unwrap_or(0) != 0,
                updated_at: r.take(7).unwrap_or_default(),
                cursor_column: r.take(8).unwrap_or_default(),
                cursor_value: r.take(9).unwrap_or_default(),
                offsets: r.take(10).unwrap_or_default(),
            })
            .collect())
    }

    /// High-water marks of runs not rolled back, oldest first.
    pub async fn marks(&mut self) -> Result<Vec<crate::ledger::Mark>, EndpointError> {
        Ok(self
            .read_checkpoints(None)
            .await?
            .into_iter()
            .filter_map(|c| {
                Some(crate::ledger::Mark {
                    table: c.table,
                    cursor_column: c.cursor_column?,
                    cursor_value: c.cursor_value?,
                    position: c.position,
                })
            })
            .collect())
    }

    /// Saves a checkpoint (inside the caller's transaction when one is open).
    pub async fn save_checkpoint(
        &mut self,
        cp: &crate::ledger::Checkpoint,
    ) -> Result<(), EndpointError> {
        let params: Vec<Value> = vec![
            cp.run_id.as_str().into(),
            cp.table.as_str().into(),
            cp.position.into(),
            (cp.rows_read as i64).into(),
            (cp.rows_written as i64).into(),
            (cp.rows_rejected as i64).into(),
            cp.done.into(),
            crate::ledger::now().into(),
            cp.cursor_column.clone().into(),
            cp.cursor_value.clone().into(),
            cp.offsets.clone().into(),
        ];
        self.conn
            .exec_drop(
                "INSERT INTO _ferry_checkpoints (run_id, table_name, position, rows_read, rows_written, rows_rejected, done, updated_at, \
                 cursor_column, cursor_value, target_offsets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
                 position = VALUES(position), rows_read = VALUES(rows_read), rows_written = VALUES(rows_written), \
                 rows_rejected = VALUES(rows_rejected), done = VALUES(done), updated_at = VALUES(updated_at), \
                 cursor_column = VALUES(cursor_column), cursor_value = VALUES(cursor_value), target_offsets = VALUES(target_offsets)",
                params,
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::CHECKPOINTS_TABLE), my_message(&e)))
    }

    /// Empties a table and this run's rejects and checkpoint for it (a table
    /// reloaded from scratch on resume).
    pub async fn restart_table(
        &mut self,
        run_id: &str,
        table: &str,
        source_table: &str,
    ) -> Result<(), EndpointError> {
        self.exec(Some(table), "START TRANSACTION").await?;
        let steps: [(String, Vec<Value>); 3] = [
            (format!("DELETE FROM {}", quote_ident(table)), vec![]),
            (
                format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ? AND table_name = ?"),
                vec![run_id.into(), source_table.into()],
            ),
            (
                "DELETE FROM _ferry_checkpoints WHERE run_id = ? AND table_name = ?".into(),
                vec![run_id.into(), source_table.into()],
            ),
        ];
        for (sql, params) in steps {
            if let Err(e) = self.conn.exec_drop(sql, params).await {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(self.err(Some(table), my_message(&e)));
            }
        }
        self.exec(Some(table), "COMMIT").await
    }

    /// Rows and an order-independent checksum of a table (the sum of the
    /// first 60 bits of each row's MD5 over its columns as text); `None`
    /// when it does not exist.
    pub async fn table_checksum(
        &mut self,
        table: &str,
    ) -> Result<Option<(u64, String)>, EndpointError> {
        if !self.has_table(table).await? {
            return Ok(None);
        }
        let cols: Vec<String> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (table,),
            )
            .await
            .map_err(|e| self.err(Some(table), my_message(&e)))?;
        let row_text = cols
            .iter()
            .map(|c| format!("COALESCE(HEX({q}), 'N')", q = quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('|', {row_text})), 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) FROM {}",
            quote_ident(table)
        );
        let r: Option<(i64, String)> = self
            .conn
            .query_first(sql)
            .await
            .map_err(|e| self.err(Some(table), my_message(&e)))?;
        Ok(r.map(|(n, s)| (n as u64, s)))
    }

    /// Keeps a table's pre-run state and records `b`: a copy of its rows
    /// (`CREATE TABLE … LIKE` + `INSERT … SELECT`) named
    /// `_ferry_backup__TABLE__RUN8` (cut to 64). A run that replaces the
    /// table also records its `SHOW CREATE TABLE` (`recreate`): InnoDB
    /// foreign key names are database-wide, so the old table cannot simply
    /// be renamed aside while the new one takes the same constraint names.
    pub async fn backup_table(
        &mut self,
        run_id: &str,
        b: &crate::ledger::Backup,
        in_place: bool,
    ) -> Result<(), EndpointError> {
        let short: String = run_id.chars().take(8).collect();
        let mut base = b.table.clone();
        while base.len() > 40 {
            base.pop();
        }
        let name = format!("_ferry_backup__{base}__{short}");
        let (t, n) = (quote_ident(&b.table), quote_ident(&name));
        let tb = Some(b.table.as_str());
        self.exec(tb, &format!("DROP TABLE IF EXISTS {n}")).await?;
        self.exec(tb, &format!("CREATE TABLE {n} LIKE {t}")).await?;
        self.exec(tb, &format!("INSERT INTO {n} SELECT * FROM {t}"))
            .await?;
        let (kind, reference) = if in_place {
            ("copied", name)
        } else {
            let ddl: Option<(String, String)> = self
                .conn
                .query_first(format!("SHOW CREATE TABLE {t}"))
                .await
                .map_err(|e| self.err(tb, my_message(&e)))?;
            let ddl = ddl.map(|d| d.1).unwrap_or_default();
            (
                "recreate",
                serde_json::json!({"copy": name, "ddl": ddl}).to_string(),
            )
        };
        self.save_backup(&crate::ledger::Backup {
            kind: kind.into(),
            backup_ref: Some(reference),
            ..b.clone()
        })
        .await
    }

    /// Puts `table` back as its backup says: dropped (`absent`), its rows
    /// put back (`copied`), or recreated from its recorded definition and
    /// refilled (`recreate`). Foreign key checks are off meanwhile.
    pub async fn restore_table(
        &mut self,
        table: &str,
        kind: &str,
        backup: Option<&str>,
    ) -> Result<(), EndpointError> {
        let t = quote_ident(table);
        let tb = Some(table);
        self.exec(tb, "SET FOREIGN_KEY_CHECKS = 0").await?;
        let mut steps: Vec<String> = vec![format!("DROP TABLE IF EXISTS {t}")];
        match (kind, backup) {
            ("recreate", Some(b)) => {
                let v: serde_json::Value = serde_json::from_str(b).unwrap_or_default();
                let copy = quote_ident(v["copy"].as_str().unwrap_or_default());
                steps.push(v["ddl"].as_str().unwrap_or_default().to_string());
                steps.push(format!("INSERT INTO {t} SELECT * FROM {copy}"));
                steps.push(format!("DROP TABLE {copy}"));
            }
            ("copied", Some(b)) => {
                let copy = quote_ident(b);
                // The rows swap in one transaction; the copy goes after.
                steps = vec![
                    "START TRANSACTION".to_string(),
                    format!("DELETE FROM {t}"),
                    format!("INSERT INTO {t} SELECT * FROM {copy}"),
                    "COMMIT".to_string(),
                    format!("DROP TABLE {copy}"),
                ];
            }
            _ => {}
        }
        let mut res = Ok(());
        for s in &steps {
            res = self.exec(tb, s).await;
            if res.is_err() {
                let _ = self.conn.query_drop("ROLLBACK").await;
                break;
            }
        }
        self.exec(tb, "SET FOREIGN_KEY_CHECKS = 1").await?;
        res
    }

    /// Deletes a run's rows from the rejects table.
    pub async fn delete_run_rejects(&mut self, run_id: &str) -> Result<(), EndpointError> {
        if !self.has_table(REJECTS_TABLE).await? {
            return Ok(());
        }
        self.conn
            .exec_drop(
                format!("DELETE FROM {REJECTS_TABLE} WHERE run_id = ?"),
                (run_id,),
            )
            .await
            .map_err(|e| self.err(Some(REJECTS_TABLE), my_message(&e)))
    }

    /// Records what undoing a run needs for one table.
    pub async fn save_backup(&mut self, b: &crate::ledger::Backup) -> Result<(), EndpointError> {
        let params: Vec<Value> = vec![
            b.run_id.as_str().into(),
            b.table.as_str().into(),
            b.kind.as_str().into(),
            b.backup_ref.clone().into(),
            (b.pre_rows as i64).into(),
            b.pre_checksum.clone().into(),
            crate::ledger::now().into(),
        ];
        self.conn
            .exec_drop(
                "INSERT INTO _ferry_backups (run_id, table_name, kind, backup_ref, pre_rows, pre_checksum, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE kind = VALUES(kind), backup_ref = VALUES(backup_ref), \
                 pre_rows = VALUES(pre_rows), pre_checksum = VALUES(pre_checksum)",
                params,
            )
            .await
            .map_err(|e| self.err(Some(crate::ledger::BACKUPS_TABLE), my_message(&e)))
    }

    /// What undoing a run needs.
    pub async fn backups(
        &mut self,
        run_id: &str,
    ) -> Result<Vec<crate::ledger::Backup>, EndpointError> {
        let t = Some(crate::ledger::BACKUPS_TABLE);
        if !self.has_table(crate::ledger::BACKUPS_TABLE).await? {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT run_id, table_name, kind, backup_ref, pre_rows, pre_checksum FROM _ferry_backups WHERE run_id = ? ORDER BY table_name",
                (run_id,),
            )
            .await
            .map_err(|e| self.err(t, my_message(&e)))?;
        Ok(rows
            .into_iter()
            .map(|mut r| crate::ledger::Backup {
                run_id: r.take(0).unwrap_or_default(),
                table: r.take(1).unwrap_or_default(),
                kind: r.take(2).unwrap_or_default(),
                backup_ref: r.take(3).unwrap_or_default(),
                pre_rows: r.take::<i64, _>(4).unwrap_or(0) as u64,
                pre_checksum: r.take(5).unwrap_or_default(),
            })
            .collect())
    }

    async fn insert_rejects(
        &mut self,
        run_id: &str,
        rejects: &[&Reject],
    ) -> Result<(), EndpointError> {
        let head = format!(
            "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, plugin, column_name, code, reason, row_data) VALUES "
        );
        let mut sql = String::new();
        let opt = |out: &mut String, v: &Option<String>| match v {
            Some(s) => str_lit(out, s),
            None => out.push_str("NULL"),
        };
        for (i, r) in rejects.iter().enumerate() {
            if sql.is_empty() {
                sql.push_str(&head);
            } else {
                sql.push(',');
            }
            sql.push('(');
            str_lit(&mut sql, run_id);
            sql.push(',');
            str_lit(&mut sql, &r.table);
            sql.push(',');
            opt(&mut sql, &r.source_key);
            sql.push(',');
            str_lit(&mut sql, r.stage.name());
            sql.push(',');
            opt(&mut sql, &r.plugin);
            sql.push(',');
            opt(&mut sql, &r.column);
            sql.push(',');
            str_lit(&mut sql, &r.code);
            sql.push(',');
            str_lit(&mut sql, &r.reason);
            sql.push(',');
            str_lit(&mut sql, &r.row.to_string());
            sql.push(')');
            if sql.len() > self.max_statement / 2 || i + 1 == rejects.len() {
                let s = std::mem::take(&mut sql);
                self.exec(Some(REJECTS_TABLE), &s).await?;
            }
        }
        Ok(())
    }

    /// After the load: unique constraints and indexes, then foreign keys,
    /// tables in dependency order (the primary keys exist since `prepare`).
    /// Rows that would break a unique key or a foreign key are moved to
    /// `_ferry_rejects` first (each move in one transaction with its
    /// delete), so every constraint is created as declared.
    pub async fn finish(
        &mut self,
        run_id: &str,
        tables: &[TargetTable],
    ) -> Result<super::Finished, EndpointError> {
        let mut done = Vec::new();
        let mut warnings = Vec::new();
        let mut moved = super::MovedRows::default();
        for t in tables {
            let tn = quote_ident(&t.def.name);
            if !t.def.primary_key.is_empty() {
                done.push(format!("primary key {}", t.def.name));
            }
            let uniques = t
                .def
                .unique
                .iter()
                .map(|u| (u.name.as_str(), &u.columns, true, "unique"));
            let indexes = t
                .def
                .indexes
                .iter()
                .map(|i| (i.name.as_str(), &i.columns, i.unique, "index"));
            for (name, cols, unique, what) in uniques.chain(indexes).collect::<Vec<_>>() {
                let iname = short_name(name);
                let create = if what == "unique" {
                    format!(
                        "ALTER TABLE {tn} ADD CONSTRAINT {} UNIQUE ({})",
                        quote_ident(&iname),
                        quote_list(cols)
                    )
                } else {
                    format!(
                        "CREATE {}INDEX {} ON {tn} ({})",
                        if unique { "UNIQUE " } else { "" },
                        quote_ident(&iname),
                        quote_list(cols)
                    )
                };
                match self.conn.query_drop(create.as_str()).await {
                    Ok(()) => {}
                    // 1061: a key by that name exists — a resumed run built it.
                    Err(e) if server_code(&e) == Some(1061) => {}
                    Err(e) if unique && server_code(&e) == Some(1062) => {
                        if t.def.primary_key.is_empty() {
                            // Without a primary key there is no "first
                            // loaded row" to keep: index without uniqueness.
                            self.exec(
                                Some(&t.def.name),
                                &format!(
                                    "CREATE INDEX {} ON {tn} ({})",
                                    quote_ident(&iname),
                                    quote_list(cols)
                                ),
                            )
                            .await?;
                            warnings.push(format!(
                                "table `{}`: duplicate values in ({}) and no primary key to tell the first row, so {what} {name} was created as a non-unique index",
                                t.def.name,
                                cols.join(", ")
                            ));
                            done.push(format!("index {name} (not unique)"));
                            continue;
                        }
                        let n = self.move_duplicates(run_id, t, name, cols).await?;
                        moved.add(&t.source.name, n);
                        self.exec(Some(&t.def.name), &create).await?;
                    }
                    Err(e) => {
                        return Err(self.err(
                            Some(&t.def.name),
                            format!("{} (while running: {create})", my_message(&e)),
                        ));
                    }
                }
                done.push(format!("{what} {name}"));
                crate::ledger::failpoint("constraint");
            }
        }
        for t in tables {
            for fk in &t.def.foreign_keys {
                let fname = short_name(&fk.name);
                let action = |a: &str, warnings: &mut Vec<String>| {
                    let a = a.trim().to_ascii_uppercase();
                    match a.as_str() {
                        "CASCADE" | "SET NULL" | "RESTRICT" | "NO ACTION" => a,
                        _ => {
                            warnings.push(format!(
                                "table `{}`: foreign key {}: `{a}` is not supported by InnoDB; created with NO ACTION",
                                t.def.name, fk.name
                            ));
                            "NO ACTION".into()
                        }
                    }
                };
                let on_delete = action(&fk.on_delete, &mut warnings);
                let on_update = action(&fk.on_update, &mut warnings);
                // A self-referencing key can orphan more rows with each
                // move (children of a moved row); repeat until none is left.
                loop {
                    let n = self.move_orphans(run_id, t, fk).await?;
                    moved.add(&t.source.name, n);
                    if n == 0 || fk.ref_table != t.def.name {
                        break;
                    }
                }
                let add = format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {on_delete} ON UPDATE {on_update}",
                    quote_ident(&t.def.name),
                    quote_ident(&fname),
                    quote_list(&fk.columns),
                    quote_ident(&fk.ref_table),
                    quote_list(&fk.ref_columns),
                );
                // A resumed run may have built it already (MariaDB reports a
                // duplicate name as a generic errno 121, so look first).
                let exists: Option<u64> = self
                    .conn
                    .query_first(format!(
                        "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
                         AND TABLE_NAME = {} AND CONSTRAINT_NAME = {} AND CONSTRAINT_TYPE = 'FOREIGN KEY'",
                        lit(&t.def.name),
                        lit(&fname)
                    ))
                    .await
                    .map_err(|e| self.err(Some(&t.def.name), my_message(&e)))?;
                let result = if exists.unwrap_or(0) > 0 {
                    Ok(())
                } else {
                    self.conn.query_drop(add.as_str()).await
                };
                match result {
                    Ok(()) => {}
                    Err(e) if matches!(server_code(&e), Some(1826) | Some(1022)) => {}
                    Err(e) => {
                        return Err(self.err(
                            Some(&t.def.name),
                            format!("{} (while running: {add})", my_message(&e)),
                        ));
                    }
                }
                done.push(format!("foreign key {}", fk.name));
                crate::ledger::failpoint("constraint");
            }
        }
        Ok(super::Finished {
            created: done,
            warnings,
            quarantined: moved.into_vec(),
        })
    }

    /// The SQL expressions that render row `a` as ferry renders a batch row
    /// (`Batch::row_json`): `(JSON object of the row, source key)`.
    fn row_exprs(&self, t: &TargetTable, alias: &str) -> (String, String) {
        let expr = |c: &ColumnDef| {
            let col = format!("{alias}.{}", quote_ident(&c.name));
            match c.logical_type {
                LogicalType::Boolean => format!(
                    "IF({col} IS NULL, NULL, JSON_EXTRACT(IF({col}, 'true', 'false'), '$'))"
                ),
                LogicalType::Bytes => format!("CONCAT('\\x', LOWER(HEX({col})))"),
                LogicalType::Uuid if self.flavor.has_uuid => {
                    format!("CONCAT('\\x', LOWER(REPLACE(CAST({col} AS CHAR), '-', '')))")
                }
                LogicalType::Uuid => format!("CONCAT('\\x', LOWER(HEX({col})))"),
                LogicalType::Decimal | LogicalType::Json => format!("CAST({col} AS CHAR)"),
                LogicalType::Date => format!("DATEDIFF({col}, '1970-01-01')"),
                LogicalType::Timestamp | LogicalType::Timestamptz => {
                    format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {col})")
                }
                LogicalType::Time => format!(
                    "(HOUR({col}) * 3600000000 + MINUTE({col}) * 60000000 + SECOND({col}) * 1000000 + MICROSECOND({col}))"
                ),
                _ => col,
            }
        };
        let obj: Vec<String> = t
            .def
            .columns
            .iter()
            .map(|c| format!("{}, {}", lit(&c.name), expr(c)))
            .collect();
        let row = format!("JSON_OBJECT({})", obj.join(", "));
        let key: Vec<String> = t
            .def
            .primary_key
            .iter()
            .filter_map(|k| t.def.columns.iter().find(|c| &c.name == k))
            .map(|c| {
                let a = format!("JSON_ARRAY({})", expr(c));
                format!("SUBSTRING({a}, 2, CHAR_LENGTH({a}) - 2)")
            })
            .collect();
        let key = if key.is_empty() {
            "NULL".to_string()
        } else {
            format!("CONCAT_WS(',', {})", key.join(", "))
        };
        (row, key)
    }

    /// Moves every row that duplicates an earlier row (lower primary key)
    /// on `cols` to the rejects table; returns how many moved.
    async fn move_duplicates(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        name: &str,
        cols: &[String],
    ) -> Result<u64, EndpointError> {
        let tn = quote_ident(&t.def.name);
        let (row, key) = self.row_exprs(t, "a");
        let same: Vec<String> = cols
            .iter()
            .map(|c| format!("b.{0} = a.{0}", quote_ident(c)))
            .collect();
        let not_null: Vec<String> = cols
            .iter()
            .map(|c| format!("a.{} IS NOT NULL", quote_ident(c)))
            .collect();
        let pk: Vec<String> = t.def.primary_key.iter().map(|c| quote_ident(c)).collect();
        let earlier = format!(
            "({}) < ({})",
            pk.iter()
                .map(|c| format!("b.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            pk.iter()
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values: Vec<String> = cols
            .iter()
            .map(|c| format!("a.{}", quote_ident(c)))
            .collect();
        let reason = format!(
            "CONCAT({}, JSON_ARRAY({}), {})",
            lit(&format!("duplicate key ({}) = ", cols.join(", "))),
            values.join(", "),
            lit(&format!(
                " for unique constraint {name}: an earlier row has the same value and was kept"
            ))
        );
        let cond = format!(
            "{} AND EXISTS (SELECT 1 FROM {tn} b WHERE {} AND {earlier})",
            not_null.join(" AND "),
            same.join(" AND ")
        );
        // A plain index on the key columns keeps the self-join from being
        // quadratic; it is dropped once the duplicates are gone.
        let tmp = short_name(&format!("_ferry_dup_{name}"));
        self.exec(
            Some(&t.def.name),
            &format!(
                "CREATE INDEX {} ON {tn} ({})",
                quote_ident(&tmp),
                quote_list(cols)
            ),
        )
        .await?;
        let moved = self
            .move_rows(
                run_id,
                t,
                &cols.join(","),
                "duplicate-key",
                &reason,
                &row,
                &key,
                &cond,
            )
            .await;
        let dropped = self
            .exec(
                Some(&t.def.name),
                &format!("DROP INDEX {} ON {tn}", quote_ident(&tmp)),
            )
            .await;
        let n = moved?;
        dropped?;
        Ok(n)
    }

    /// Moves every row whose foreign key points at no parent row to the
    /// rejects table; returns how many moved.
    async fn move_orphans(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        fk: &ForeignKeyDef,
    ) -> Result<u64, EndpointError> {
        let (row, key) = self.row_exprs(t, "a");
        let not_null: Vec<String> = fk
            .columns
            .iter()
            .map(|c| format!("a.{} IS NOT NULL", quote_ident(c)))
            .collect();
        let join: Vec<String> = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(c, p)| format!("p.{} = a.{}", quote_ident(p), quote_ident(c)))
            .collect();
        let cond = format!(
            "{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
            not_null.join(" AND "),
            quote_ident(&fk.ref_table),
            join.join(" AND ")
        );
        let values: Vec<String> = fk
            .columns
            .iter()
            .map(|c| format!("a.{}", quote_ident(c)))
            .collect();
        let reason = format!(
            "CONCAT({}, JSON_ARRAY({}), {})",
            lit(&format!(
                "foreign key {}: no row in {} has ({}) = ",
                fk.name,
                fk.ref_table,
                fk.ref_columns.join(", ")
            )),
            values.join(", "),
            lit(" (the parent is missing in the source or was rejected)")
        );
        self.move_rows(
            run_id,
            t,
            &fk.columns.join(","),
            "fk-orphan",
            &reason,
            &row,
            &key,
            &cond,
        )
        .await
    }

    /// Copies the rows of `t` (aliased `a`) matching `cond` into the rejects
    /// table and deletes them, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn move_rows(
        &mut self,
        run_id: &str,
        t: &TargetTable,
        column: &str,
        code: &str,
        reason: &str,
        row: &str,
        key: &str,
        cond: &str,
    ) -> Result<u64, EndpointError> {
        let tn = quote_ident(&t.def.name);
        let copy = format!(
            "INSERT INTO {REJECTS_TABLE} (run_id, table_name, source_key, stage, column_name, code, reason, row_data) \
             SELECT {}, {}, {key}, 'write', {}, {}, {reason}, {row} FROM {tn} a WHERE {cond}",
            lit(run_id),
            lit(&t.source.name),
            lit(column),
            lit(code)
        );
        // The condition reads the table it deletes from, which MySQL only
        // allows through a derived table of the keys (materialised first).
        let delete = if t.def.primary_key.is_empty() {
            format!("DELETE a FROM {tn} a WHERE {cond}")
        } else {
            let pk = quote_list(&t.def.primary_key);
            let apk: Vec<String> = t
                .def
                .primary_key
                .iter()
                .map(|c| format!("a.{}", quote_ident(c)))
                .collect();
            format!(
                "DELETE FROM {tn} WHERE ({pk}) IN (SELECT * FROM (SELECT {} FROM {tn} a WHERE {cond}) AS gone)",
                apk.join(", ")
            )
        };
        self.exec(Some(&t.def.name), "START TRANSACTION").await?;
        let result = async {
            self.exec(Some(REJECTS_TABLE), &copy).await?;
            let copied = self.conn.affected_rows();
            self.exec(Some(&t.def.name), &delete).await?;
            let deleted = self.conn.affected_rows();
            if copied != deleted {
                return Err(self.err(
                    Some(&t.def.name),
                    format!("moving {code} rows: copied {copied} to {REJECTS_TABLE} but deleted {deleted}; rolled back"),
                ));
            }
            Ok::<u64, EndpointError>(copied)
        }
        .await;
        match result {
            Ok(n) => {
                self.exec(Some(&t.def.name), "COMMIT").await?;
                Ok(n)
            }
            Err(e) => {
                let _ = self.conn.query_drop("ROLLBACK").await;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, declared: &str, t: LogicalType) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            declared_type: declared.into(),
            logical_type: t,
            nullable: true,
            default: None,
        }
    }

    #[test]
    fn mysql_types_map_to_logical_types() {
        assert_eq!(logical_type("tinyint", "tinyint(1)"), LogicalType::Boolean);
        assert_eq!(logical_type("tinyint", "tinyint(4)"), LogicalType::Int64);
        assert_eq!(logical_type("int", "int(10) unsigned"), LogicalType::Int64);
        assert_eq!(
            logical_type("bigint", "bigint(20) unsigned"),
            LogicalType::Decimal
        );
        assert_eq!(logical_type("float", "float"), LogicalType::Float64);
        assert_eq!(
            logical_type("decimal", "decimal(20,6)"),
            LogicalType::Decimal
        );
        assert_eq!(logical_type("enum", "enum('a','b')"), LogicalType::Text);
        assert_eq!(
            logical_type("varbinary", "varbinary(8)"),
            LogicalType::Bytes
        );
        assert_eq!(logical_type("json", "json"), LogicalType::Json);
        assert_eq!(
            logical_type("timestamp", "timestamp(6)"),
            LogicalType::Timestamptz
        );
        assert_eq!(
            logical_type("datetime", "datetime(6)"),
            LogicalType::Timestamp
        );
        assert_eq!(logical_type("uuid", "uuid"), LogicalType::Uuid);
    }

    #[test]
    fn declared_precision_and_length_are_parsed() {
        assert_eq!(declared_precision("NUMERIC(10,2)"), Some((10, 2)));
        assert_eq!(declared_precision("decimal(20, 6)"), Some((20, 6)));
        assert_eq!(declared_precision("DECIMAL(7)"), Some((7, 0)));
        assert_eq!(declared_precision("bigint(20) unsigned"), Some((20, 0)));
        assert_eq!(declared_precision("NUMERIC"), None);
        assert_eq!(declared_precision("numeric(100,2)"), None); // beyond MySQL
        assert_eq!(declared_precision("int(11)"), None);
        assert_eq!(declared_length("VARCHAR(40)"), Some(40));
        assert_eq!(declared_length("nvarchar(10)"), Some(10));
        assert_eq!(declared_length("TEXT"), None);
    }

    #[test]
    fn key_text_columns_become_bounded_varchars() {
        let t = TableDef {
            name: "t".into(),
            columns: vec![
                col("id", "TEXT", LogicalType::Text),
                col("a", "VARCHAR(20)", LogicalType::Text),
                col("b", "TEXT", LogicalType::Text),
                col("note", "TEXT", LogicalType::Text),
                col("blob", "BLOB", LogicalType::Bytes),
                col("price", "NUMERIC(10,2)", LogicalType::Decimal),
                col("x", "REAL", LogicalType::Decimal),
            ],
            primary_key: vec!["id".into()],
            unique: vec![UniqueDef {
                name: "u".into(),
                columns: vec!["a".into(), "b".into()],
            }],
            indexes: vec![IndexDef {
                name: "i".into(),
                columns: vec!["blob".into()],
                unique: false,
            }],
            foreign_keys: vec![],
        };
        let ty = |i: usize| column_type(&t, &t.columns[i]);
        assert_eq!(ty(0), "VARCHAR(768)");
        assert_eq!(ty(1), "VARCHAR(20)");
        assert_eq!(ty(2), "VARCHAR(384)"); // shares the key with `a`
        assert_eq!(ty(3), "LONGTEXT");
        assert_eq!(ty(4), "VARBINARY(3072)");
        assert_eq!(ty(5), "DECIMAL(10,2)");
        assert_eq!(ty(6), "DECIMAL(65,30)");
    }

    #[test]
    fn decimals_fit_exactly_or_are_refused() {
        let ok = |s: &str, p, sc| decimal_literal(s, p, sc).unwrap();
        assert_eq!(ok("3.03", 10, 2), "3.03");
        assert_eq!(ok("1.50", 3, 1), "1.5");
        assert_eq!(ok("-0.00", 3, 1), "0");
        assert_eq!(ok("1e3", 10, 0), "1000");
        assert_eq!(ok("1.25E-3", 10, 5), "0.00125");
        assert_eq!(ok("+007.10", 4, 2), "7.1");
        assert_eq!(ok("18446744073709551615", 20, 0), "18446744073709551615");
        let code = |s: &str, p, sc| decimal_literal(s, p, sc).unwrap_err().0;
        assert_eq!(code("1.234", 10, 2), "decimal-out-of-range");
        assert_eq!(code("123456789.5", 10, 2), "decimal-out-of-range");
        assert_eq!(code("abc", 10, 2), "type-mismatch");
        assert_eq!(code("1e999", 10, 2), "type-mismatch");
    }

    #[test]
    fn values_encode_as_exact_literals() {
        let enc = |e: &Enc, v: ValueRef<'_>| {
            let mut s = String::new();
            encode_value(&mut s, e, v).map(|_| s)
        };
        let text = Enc::Text {
            max: Some(3),
            json: false,
        };
        assert_eq!(enc(&text, ValueRef::Text("a'b")).unwrap(), "'a''b'");
        assert_eq!(enc(&text, ValueRef::Text("a\\")).unwrap(), "'a\\'");
        assert_eq!(
            enc(&text, ValueRef::Text("a\0")).unwrap(),
            "_utf8mb4 X'6100'"
        );
        assert_eq!(
            enc(&text, ValueRef::Text("abcd")).unwrap_err().0,
            "too-long"
        );
        assert_eq!(enc(&text, ValueRef::Text("éé")).unwrap(), "'éé'");
        assert_eq!(enc(&Enc::Float, ValueRef::Float(0.1)).unwrap(), "1e-1");
        assert_eq!(
            enc(&Enc::Float, ValueRef::Float(f64::NAN)).unwrap_err().0,
            "out-of-range"
        );
        assert_eq!(
            enc(&Enc::Bytes { max: None }, ValueRef::Bytes(&[3, 0, 255])).unwrap(),
            "X'0300ff'"
        );
        assert_eq!(enc(&Enc::Date, ValueRef::Date(0)).unwrap(), "'1970-01-01'");
        assert_eq!(
            enc(&Enc::Date, ValueRef::Date(-719_000)).unwrap_err().0,
            "out-of-range"
        );
        assert_eq!(
            enc(&Enc::Time, ValueRef::Int(1_500_000)).unwrap(),
            "'00:00:01.500000'"
        );
        assert_eq!(
            enc(&Enc::Timestamp { tz: true }, ValueRef::Int(86_400_000_001)).unwrap(),
            "'1970-01-02 00:00:00.000001'"
        );
        assert_eq!(enc(&Enc::Bool, ValueRef::Null).unwrap(), "NULL");
    }

    #[test]
    fn zero_and_invalid_dates_are_refused() {
        assert!(mysql_days(0, 0, 0).unwrap_err().contains("zero date"));
        assert!(mysql_days(2024, 2, 30).is_err());
        assert!(mysql_days(2024, 0, 1).is_err());
        assert_eq!(mysql_days(1970, 1, 2), Ok(1));
    }

    #[test]
    fn long_index_names_are_shortened_stably() {
        let long = "x".repeat(80);
        let s = short_name(&long);
        assert_eq!(s.chars().count(), 64);
        assert_eq!(s, short_name(&long));
        assert_eq!(short_name("orders_user"), "orders_user");
    }

    #[test]
    fn versions_decide_uuid_and_collation() {
        let m = Flavor::from_version("10.11.19-MariaDB-0+deb12u1");
        assert!(m.mariadb && m.has_uuid);
        assert_eq!(m.collation(), "utf8mb4_nopad_bin");
        let old = Flavor::from_version("10.6.4-MariaDB");
        assert!(!old.has_uuid);
        let my = Flavor::from_version("8.0.36");
        assert!(!my.mariadb && !my.has_uuid);
    }
}
