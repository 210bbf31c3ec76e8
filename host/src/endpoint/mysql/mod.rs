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
//!
//! - [`source`] — introspection and the streaming reader (binary protocol);
//! - [`types`] — MySQL values read exactly into ferry's logical types;
//! - [`encode`] — the column types the sink declares and the literals it writes;
//! - [`sink`] — tables and batches (multi-row INSERTs in one transaction);
//! - [`finish`] — keys, indexes and foreign keys after the load;
//! - [`ledger`] — the ledger and backups (copies) in the database;
//! - [`conn`] — sessions, errors and SQL literals.

mod conn;
mod types;
mod source;
mod encode;
mod sink;
mod ledger;
mod finish;

pub use conn::*;
pub use types::*;
pub use source::*;
pub use encode::*;
pub use sink::*;
use ledger::*;
use finish::*;

#[cfg(test)]
mod tests;
