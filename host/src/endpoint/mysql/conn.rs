//! Connections (session settings per role), server errors, SQL literals.

use crate::endpoint::EndpointError;
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Row, Value};

/// MySQL's identifier limit: 64 characters for tables, columns, indexes and
/// constraints. Longer table or column names are refused (the server would
/// refuse them too, with a less helpful message); longer index and
/// constraint names, which nobody queries by hand, are shortened with a hash.
pub(super) const MAX_IDENT_CHARS: usize = 64;

/// InnoDB's largest index key: 3072 bytes (DYNAMIC/COMPRESSED row formats,
/// the default since MySQL 5.7 / MariaDB 10.2). A `VARCHAR` in a key counts 4
/// bytes per character in utf8mb4, so a lone text key column gets at most
/// 768 characters; key columns that share one index share the 3072 bytes.
pub(super) const MAX_KEY_BYTES: usize = 3072;
/// Bytes per character in utf8mb4, InnoDB's worst case for key length.
pub(super) const UTF8MB4_BYTES: usize = 4;

/// The largest `INSERT` the sink sends: at most this, and always below the
/// server's `max_allowed_packet` (16 MiB by default on MariaDB 10.11, 64 MiB
/// on MySQL 8). Bigger statements save no measurable time — a 4 MiB
/// statement is already ~thousands of rows per round trip — and only raise
/// the memory held per batch.
pub(super) const MAX_STATEMENT_BYTES: usize = 4 << 20;
/// Room kept below `max_allowed_packet` for the packet header and the
/// statement's own text around the values.
pub(super) const PACKET_SLACK: usize = 64 << 10;

/// How long the server waits for the reader to take the next rows: one hour.
/// The reader streams one `SELECT` per table and only pulls rows as fast as
/// the sink writes them; the server's default (60 s) would cut a slow
/// migration off in the middle of a big table.
pub(super) const READ_NET_WRITE_TIMEOUT_SECS: u32 = 3600;

/// The sink's SQL mode: strict (a value that does not fit is an error, not a
/// warning), no zero dates, `0` is a value rather than "next auto-increment",
/// `"` quotes identifiers, and backslashes are ordinary characters.
pub(super) const SINK_SQL_MODE: &str = "STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,\
NO_AUTO_VALUE_ON_ZERO,ANSI_QUOTES,NO_BACKSLASH_ESCAPES,NO_ENGINE_SUBSTITUTION";
/// The source's SQL mode: only the quoting rules (reading changes nothing).
pub(super) const SOURCE_SQL_MODE: &str = "ANSI_QUOTES,NO_BACKSLASH_ESCAPES";

/// Microseconds in a day, for timestamps.
pub(super) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The server's full message with its error code, or the client error.
pub(super) fn my_message(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("{} (error {})", s.message, s.code),
        other => other.to_string(),
    }
}

/// The server error code, when the server answered with an error.
pub(super) fn server_code(e: &mysql_async::Error) -> Option<u16> {
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
pub(super) fn is_row_data_error(code: u16) -> bool {
    matches!(
        code,
        1048 | 1062 | 1264 | 1265 | 1292 | 1366 | 1367 | 1406 | 1411 | 1690 | 3819 | 4025
    )
}

/// Whether a MySQL error is one a retry from the last checkpoint may get
/// past: the connection lost, refused or reset (I/O, the driver's own
/// "connection closed"), the server gone or shutting down (2006, 2013,
/// 1053), a deadlock (1213) or a lock wait timeout (1205).
pub(super) fn my_transient(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(d) => matches!(d, mysql_async::DriverError::ConnectionClosed),
        mysql_async::Error::Server(s) => matches!(s.code, 2006 | 2013 | 1053 | 1213 | 1205),
        _ => false,
    }
}

/// A MySQL error as ferry reports it: [`EndpointError::Transient`] when a
/// retry may get past it, else a query error with the server's message.
pub(super) fn my_error(
    endpoint: &str,
    table: Option<&str>,
    e: &mysql_async::Error,
    doing: &str,
) -> EndpointError {
    let reason = if doing.is_empty() {
        my_message(e)
    } else {
        format!("{} (while running: {doing})", my_message(e))
    };
    EndpointError::query(endpoint, table, reason, my_transient(e))
}

/// An SQL string literal under `NO_BACKSLASH_ESCAPES`: quotes doubled. Text
/// with a NUL byte is sent as a hex literal with a charset introducer, so no
/// raw NUL ever travels inside the statement text.
pub(super) fn str_lit(out: &mut String, s: &str) {
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

pub(super) fn lit(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    str_lit(&mut o, s);
    o
}

/// An index or constraint name that fits MySQL's 64 characters: kept as is
/// when it fits, else its first 55 characters and 8 hex digits of its hash.
pub(super) fn short_name(name: &str) -> String {
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
pub(super) struct Flavor {
    /// MariaDB (not MySQL).
    pub(super) mariadb: bool,
    /// MariaDB ≥ 10.7 has a native `UUID` type.
    pub(super) has_uuid: bool,
}

impl Flavor {
    pub(super) fn from_version(v: &str) -> Flavor {
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
    pub(super) fn collation(self) -> &'static str {
        if self.mariadb {
            "utf8mb4_nopad_bin"
        } else {
            "utf8mb4_0900_bin"
        }
    }
}

/// Opens one connection and sets the session up.
pub(super) async fn connect(url: &str, sql_mode: &str) -> Result<(Conn, Flavor), EndpointError> {
    let name = crate::endpoint::redact(url);
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
    let mut conn = Conn::new(opts).await.map_err(|e| {
        let reason = format!(
            "{}; is the server running and the database created?",
            my_message(&e)
        );
        if my_transient(&e) {
            // Refused or reset: the server may be back in a moment.
            return EndpointError::Transient {
                endpoint: name.clone(),
                table: None,
                reason: format!("cannot connect: {reason}"),
            };
        }
        EndpointError::Connect {
            endpoint: name.clone(),
            reason,
        }
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
pub(super) fn text_at(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(x) => Some(x.to_string()),
        Value::UInt(x) => Some(x.to_string()),
        other => Some(format!("{other:?}")),
    }
}

pub(super) fn text(row: &Row, i: usize) -> String {
    text_at(row, i).unwrap_or_default()
}
