//! PostgreSQL (`postgres://USER@HOST:PORT/DB[?schema=S]`), with tokio-postgres.
//!
//! - [`source`] — catalog introspection and a streaming reader:
//!   `COPY (SELECT … ORDER BY key) TO STDOUT (FORMAT binary)` in a
//!   `REPEATABLE READ READ ONLY` transaction;
//! - [`sink`] — tables created from the final schema, rows loaded with
//!   `COPY … FROM STDIN (FORMAT binary)`, one transaction per batch;
//! - [`finish`] — keys, indexes and foreign keys after the load, violating
//!   rows quarantined first, consolidation conflicts resolved;
//! - [`ledger`] — the ledger in the target, and backups (tables moved to
//!   `_ferry_backup`);
//! - [`copy`] — the binary COPY format, both ways;
//! - [`ddl`] — types and the numeric rules the sink declares.

mod ddl;
mod ledger;
mod sink;
mod finish;
mod copy;
mod decode;
mod source;

pub use ddl::*;
use ledger::*;
pub use sink::*;
use finish::*;
pub use copy::*;
use decode::*;
pub use source::*;

#[cfg(test)]
mod tests;
