//! SQLite (`sqlite:PATH`): a source and a sink on a database file, with
//! bundled SQLite (rusqlite).
//!
//! - [`source`] — introspection, sampling and the streaming reader
//!   (keyset on rowid, cursor scans);
//! - [`sink`] — tables, batches in one transaction each, keys after the load;
//! - [`ledger`] — the ledger and the backups (snapshots) in the database;
//! - [`types`] — values: SQLite storage classes ↔ ferry's logical types;
//! - [`ddl`] — the types and `CREATE TABLE` the sink writes.

mod types;
mod source;
mod ddl;
mod sink;
mod ledger;

pub use types::*;
pub use source::*;
pub use ddl::*;
pub use sink::*;
use ledger::*;

#[cfg(test)]
mod tests;
