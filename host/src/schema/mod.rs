//! `ferry schema`: versioned schema migrations for SQLite, PostgreSQL and
//! MySQL/MariaDB.
//!
//! - [`files`] — the migration directory: `NNNN_name.sql` files with
//!   `-- ferry:up` / `-- ferry:down` sections, directives, per-dialect
//!   blocks, repeatable `R__name.sql` files, checksums of the normalised
//!   text, statements split, and the directory's integrity file `ferry.sum`.
//! - [`history`] — `_ferry_schema` in the target: every apply, revert and
//!   baseline, with the statements a non-transactional one got through.
//! - [`apply`] — status, up, down, baseline, reset and validate under a
//!   lock, the history re-read after taking it.
//! - [`diff`] — a migration from one live schema to a desired one, from
//!   ferry's own schema model.

pub mod apply;
pub mod diff;
pub mod files;
pub mod history;

use crate::endpoint::EndpointError;

/// What `ferry schema` reports when it cannot go on; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The migration directory or one of its files is wrong.
    #[error("{path}: {reason}")]
    Files { path: String, reason: String },
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A statement of ferry's own (history, lock) failed.
    #[error("{target}: {message}")]
    Sql { target: String, message: String },
    /// Refused before anything ran, with the way forward.
    #[error("{0}")]
    Refused(String),
    /// A migration failed; `applied` says what of it stayed applied.
    #[error(
        "migration {version} ({name}) failed at statement {statement} of {total}: {message}\n{advice}"
    )]
    Failed {
        version: String,
        name: String,
        statement: usize,
        total: usize,
        message: String,
        advice: String,
    },
}
