//! The legacy SQLite database the benchmark migrates: `users` (N/5 rows) and
//! `sessions` (4 per user), with the shapes legacy applications store — ISO
//! timestamps and JSON in TEXT, 0/1 integers, REAL with long binary
//! fractions, BLOBs — plus a unique e-mail, a foreign key and an index.
//!
//! The content is deterministic (a fixed-seed xorshift), so every run and
//! every machine migrates the same data.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use rusqlite::{Connection, params};
use serde::Serialize;

/// Sessions per user: the shape of the anchor database in DESIGN.md's
/// performance budget (users + 4× sessions).
pub const SESSIONS_PER_USER: u64 = 4;

/// Bytes in a session payload: a small opaque blob, like the serialized state
/// a legacy application keeps.
pub const PAYLOAD_BYTES: usize = 64;

/// One user in this many has NULL `prefs`, and one session in this many a
/// NULL `payload`, so the nullable columns carry NULLs through every path.
const NULL_EVERY: u64 = 16;

/// Seed of the generator: fixed, so the content is the same on every run.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// First timestamp: 2015-01-01T00:00:00Z, in Unix seconds.
const TIME_START: i64 = 1_420_070_400;

/// Timestamps are spread over the ten years after [`TIME_START`].
const TIME_SPAN_SECS: u64 = 10 * 365 * 86_400;

/// The source schema. `email … UNIQUE` gives SQLite's automatic unique index,
/// `REFERENCES` the foreign key; the explicit index is created after the load.
pub const SCHEMA: &str = "
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  active INTEGER NOT NULL,
  prefs TEXT
);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  token TEXT NOT NULL,
  created_at TEXT NOT NULL,
  score REAL,
  payload BLOB
);";

/// The secondary index (created after the rows: faster than maintaining it).
const INDEX: &str = "CREATE INDEX sessions_user ON sessions(user_id)";

/// SQL (PostgreSQL) recomputing [`score`] from a `sessions` row, so a target
/// can count the scores that did not arrive exactly. Keep the two in step.
pub const SCORE_SQL: &str = "id::float8 * 0.37";

/// [`SCORE_SQL`] for MariaDB: `0.37e0` is a DOUBLE literal (a plain `0.37`
/// is an exact DECIMAL, whose product is not the `f64` one).
pub const SCORE_SQL_MARIADB: &str = "id * 0.37e0";

/// The score stored in session `id`. `id × 0.37` has long binary fractions
/// (3 × 0.37 = 1.1099999999999999), which a 15-digit text round trip loses.
pub fn score(id: u64) -> f64 {
    id as f64 * 0.37
}

/// Row counts of one generated database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizes {
    pub users: u64,
    pub sessions: u64,
}

impl Sizes {
    /// The sizes for about `rows` rows in total: `rows / 5` users and four
    /// sessions each (the total is rounded down to a multiple of 5).
    pub fn for_total(rows: u64) -> Self {
        let users = rows / (1 + SESSIONS_PER_USER);
        Sizes {
            users,
            sessions: users * SESSIONS_PER_USER,
        }
    }

    /// Rows in both tables.
    pub fn total(self) -> u64 {
        self.users + self.sessions
    }
}

/// Write a fresh database of `sizes` at `path` (which must not exist), in one
/// transaction with prepared statements.
pub fn generate(path: &Path, sizes: Sizes) -> Result<()> {
    ensure!(
        sizes.users > 0,
        "at least one user is needed (give --rows 5 or more)"
    );
    ensure!(
        !path.exists(),
        "{} already exists; remove it or choose another --keep directory",
        path.display()
    );
    let at = || format!("generating {}", path.display());
    let mut conn = Connection::open(path).with_context(at)?;
    // No rollback journal and no fsync: an interrupted generation is simply
    // run again, and the file is complete once the connection closes.
    conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .with_context(at)?;
    conn.execute_batch(SCHEMA).with_context(at)?;
    let tx = conn.transaction().with_context(at)?;
    let mut rng = Rng(SEED);
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO users (id, email, name, created_at, active, prefs) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .with_context(at)?;
        for id in 1..=sizes.users {
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(LAST_NAMES);
            let email = format!(
                "{}.{}{id}@{}",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
                rng.pick(DOMAINS)
            );
            let prefs = (rng.below(NULL_EVERY) != 0).then(|| {
                format!(
                    r#"{{"theme":"{}","lang":"{}","newsletter":{},"page_size":{}}}"#,
                    rng.pick(&["light", "dark", "system"]),
                    rng.pick(&["en", "fr", "de", "es", "pt-BR"]),
                    rng.below(2) == 1,
                    10 * (1 + rng.below(10))
                )
            });
            insert
                .execute(params![
                    to_i64(id)?,
                    email,
                    format!("{first} {last}"),
                    rng.timestamp(),
                    i64::from(rng.below(10) < 8),
                    prefs
                ])
                .with_context(|| format!("{}: inserting user {id}", at()))?;
        }
    }
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO sessions (id, user_id, token, created_at, score, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .with_context(at)?;
        let mut payload = [0u8; PAYLOAD_BYTES];
        for id in 1..=sizes.sessions {
            let user_id = 1 + rng.below(sizes.users);
            let token = format!("{:016x}{:016x}", rng.next(), rng.next());
            let created_at = rng.timestamp();
            let has_payload = rng.below(NULL_EVERY) != 0;
            for chunk in payload.chunks_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes()[..chunk.len()]);
            }
            insert
                .execute(params![
                    to_i64(id)?,
                    to_i64(user_id)?,
                    token,
                    created_at,
                    score(id),
                    has_payload.then_some(&payload[..])
                ])
                .with_context(|| format!("{}: inserting session {id}", at()))?;
        }
    }
    tx.execute_batch(INDEX).with_context(at)?;
    tx.commit().with_context(at)?;
    conn.close().map_err(|(_, e)| e).with_context(at)?;
    // Write the file out now, so the kernel's writeback of it does not
    // overlap (and slow down) the first timed case.
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: syncing to disk", at()))?;
    Ok(())
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).context("row count beyond SQLite's integer range")
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds `unix` (proleptic Gregorian, UTC).
pub fn iso8601(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Year, month, day of the day `z` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// xorshift64* (Vigna, 2016): tiny, fast and plenty for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// An ISO-8601 timestamp in the ten years from 2015.
    fn timestamp(&mut self) -> String {
        // Both operands are below 2^63: the sum cannot overflow.
        iso8601(TIME_START + self.below(TIME_SPAN_SECS) as i64)
    }
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "Hedy", "Ivan",
    "Jean", "Ken", "Leslie", "Margaret", "Niklaus", "Ole", "Radia", "Sophie", "Tim", "Yukihiro",
];

const LAST_NAMES: &[&str] = &[
    "Allen",
    "Backus",
    "Conway",
    "Dijkstra",
    "Engelbart",
    "Floyd",
    "Goldberg",
    "Hamilton",
    "Hopper",
    "Kay",
    "Knuth",
    "Lamport",
    "Liskov",
    "Lovelace",
    "Perlman",
    "Ritchie",
    "Shannon",
    "Thompson",
    "Turing",
    "Wirth",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "mail.example.net",
    "corp.example",
    "legacy.example.co.uk",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny database: 10 users, 40 sessions.
    fn tiny(dir: &Path, name: &str) -> Connection {
        let path = dir.join(name);
        generate(&path, Sizes::for_total(50)).unwrap();
        Connection::open(&path).unwrap()
    }

    fn count(c: &Connection, sql: &str) -> i64 {
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Every row of `table` as text, in id order.
    fn dump(c: &Connection, table: &str) -> Vec<String> {
        let mut stmt = c
            .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
            .unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            (0..n)
                .map(|i| r.get_ref(i).map(|v| format!("{v:?}")))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    #[test]
    fn sizes_split_the_total_one_user_to_four_sessions() {
        assert_eq!(
            Sizes::for_total(1_250_000),
            Sizes {
                users: 250_000,
                sessions: 1_000_000
            }
        );
        assert_eq!(Sizes::for_total(52).total(), 50);
    }

    #[test]
    fn schema_counts_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let c = tiny(dir.path(), "a.db");
        assert_eq!(count(&c, "SELECT count(*) FROM users"), 10);
        assert_eq!(count(&c, "SELECT count(*) FROM sessions"), 40);
        let types: Vec<(String, String, bool)> = c
            .prepare("SELECT name, type, \"notnull\" FROM pragma_table_info('sessions')")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected = [
            ("id", "INTEGER", false),
            ("user_id", "INTEGER", true),
            ("token", "TEXT", true),
            ("created_at", "TEXT", true),
            ("score", "REAL", false),
            ("payload", "BLOB", false),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|&(n, t, nn)| (n.to_string(), t.to_string(), nn))
            .collect();
        assert_eq!(types, expected);
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'sessions_user'"
            ),
            1
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM pragma_index_list('users') WHERE \"unique\""
            ),
            1
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM pragma_foreign_key_list('sessions')"
            ),
            1
        );
        // Every session points at an existing user.
        assert_eq!(
            count(&c, "SELECT count(*) FROM pragma_foreign_key_check"),
            0
        );
    }

    #[test]
    fn values_have_the_legacy_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let c = tiny(dir.path(), "a.db");
        let iso = "'____-__-__T__:__:__Z'";
        assert_eq!(
            count(
                &c,
                &format!("SELECT count(*) FROM users WHERE created_at NOT LIKE {iso}")
            ),
            0
        );
        assert_eq!(
            count(
                &c,
                &format!("SELECT count(*) FROM sessions WHERE created_at NOT LIKE {iso}")
            ),
            0
        );
        assert_eq!(
            count(&c, "SELECT count(*) FROM users WHERE active NOT IN (0, 1)"),
            0
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM users WHERE prefs IS NOT NULL AND NOT json_valid(prefs)"
            ),
            0
        );
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM sessions WHERE payload IS NOT NULL AND length(payload) <> 64"
            ),
            0
        );
        // The stored scores are exactly `score(id)`, the value SCORE_SQL recomputes.
        let scores: Vec<(u64, f64)> = c
            .prepare("SELECT id, score FROM sessions")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, s) in scores {
            assert_eq!(s.to_bits(), score(id).to_bits(), "session {id}");
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let a = tiny(dir.path(), "a.db");
        let b = tiny(dir.path(), "b.db");
        for table in ["users", "sessions"] {
            assert_eq!(dump(&a, table), dump(&b, table), "{table}");
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        std::fs::write(&path, b"not mine").unwrap();
        let err = generate(&path, Sizes::for_total(50)).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }

    #[test]
    fn iso8601_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(TIME_START), "2015-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(iso8601(1_735_689_599), "2024-12-31T23:59:59Z");
    }
}
