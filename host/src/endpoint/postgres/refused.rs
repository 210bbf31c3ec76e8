//! Values PostgreSQL refuses or would alter are one row's problem, never
//! the batch's:
//!
//! - before the COPY, [`unfit_values`] finds what the sink knows the server
//!   cannot hold as it is (a NUL byte, a JSON `\u0000` escape, a number out
//!   of a declared type's range, text longer than a `varchar(n)`, a decimal
//!   a `numeric(p,s)` would round), in one pass over the columns that can
//!   hold such values — nothing is sent for a clean batch that was not sent
//!   before;
//! - when the server still refuses a COPY with a data error (the class of
//!   errors a single value causes), the batch's transaction is rolled back
//!   and redone with the rows sent in slices, each under a savepoint
//!   ([`PgSink::load_bisecting`], as pgloader does): a slice that fails is
//!   split — at the row the server names (`COPY t, line N`), else in halves
//!   — until the refused rows stand alone; they are rejected with the
//!   server's message and every other row is written.

use super::*;
use crate::endpoint::TargetTable;
use crate::model::{Batch, ColumnData, LogicalType, SqlType};
use futures_util::SinkExt;
use tokio_postgres::Transaction;

/// A value the target cannot hold as it is: its row and column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unfit {
    pub row: usize,
    pub col: usize,
    pub code: &'static str,
    pub reason: String,
}

/// Every value of `batch` that PostgreSQL would refuse or change, sorted
/// by (row, column). Columns are skipped whole when they cannot hold one
/// (a `memchr` over a text column's buffer finds no NUL, no integer column
/// is declared narrower, …), so a clean batch costs one scan of its text.
pub(super) fn unfit_values(batch: &Batch, table: &TargetTable) -> Vec<Unfit> {
    let mut out = Vec::new();
    for (ci, col) in table.def.columns.iter().enumerate() {
        let Some(values) = batch.columns.get(ci) else {
            continue;
        };
        let name = &col.name;
        let declared = declared(&table.source, col);
        match &values.data {
            ColumnData::Utf8(v) => {
                let json = col.logical_type == LogicalType::Json;
                let what = if json { "jsonb" } else { "text" };
                if memchr::memchr(0, &v.data).is_some() {
                    for r in 0..batch.num_rows {
                        if memchr::memchr(0, v.value(r)).is_some() {
                            out.push(Unfit {
                                row: r,
                                col: ci,
                                code: "unstorable",
                                reason: format!("column `{name}`: PostgreSQL {what} cannot hold a NUL (0x00) byte"),
                            });
                        }
                    }
                }
                if json && memchr::memmem::find(&v.data, br"\u0000").is_some() {
                    for r in 0..batch.num_rows {
                        // json values are UTF-8 (`Batch::check`).
                        if std::str::from_utf8(v.value(r)).is_ok_and(crate::model::json_holds_nul) {
                            out.push(Unfit {
                                row: r,
                                col: ci,
                                code: "unstorable",
                                reason: format!("column `{name}`: PostgreSQL jsonb cannot hold the JSON escape \\u0000 (a NUL character)"),
                            });
                        }
                    }
                }
                match declared {
                    Some(SqlType::Varchar { length } | SqlType::Char { length })
                        if v.data.len() > length as usize =>
                    {
                        let t = declared.map(SqlType::describe).unwrap_or_default();
                        for r in 0..batch.num_rows {
                            let s = v.value(r);
                            // Bytes bound characters: only long values are counted.
                            if s.len() > length as usize && !values.is_null(r) {
                                let chars = String::from_utf8_lossy(s).chars().count();
                                if chars > length as usize {
                                    out.push(Unfit {
                                        row: r,
                                        col: ci,
                                        code: "too-long",
                                        reason: format!("column `{name}`: {chars} characters do not fit {t}; PostgreSQL would refuse it, or cut trailing spaces"),
                                    });
                                }
                            }
                        }
                    }
                    Some(SqlType::Numeric {
                        precision: p,
                        scale: s,
                    }) => {
                        for r in 0..batch.num_rows {
                            if values.is_null(r) {
                                continue;
                            }
                            let text = String::from_utf8_lossy(v.value(r));
                            if !fits_numeric(&text, p, s) {
                                out.push(Unfit {
                                    row: r,
                                    col: ci,
                                    code: "numeric-overflow",
                                    reason: format!(
                                        "{text} does not fit numeric({p},{s}) exactly (at most {} digits before the point and {s} after); PostgreSQL would round or refuse it",
                                        p - s
                                    ),
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            ColumnData::Ints(v) if col.logical_type == LogicalType::Int64 => {
                let Some(t @ (SqlType::SmallInt | SqlType::Integer)) = declared else {
                    continue;
                };
                for (r, x) in v.iter().enumerate().take(batch.num_rows) {
                    if !t.fits_int(*x) && !values.is_null(r) {
                        out.push(Unfit {
                            row: r,
                            col: ci,
                            code: "out-of-range",
                            reason: format!(
                                "column `{name}`: {x} is out of range for {}",
                                t.describe()
                            ),
                        });
                    }
                }
            }
            ColumnData::Floats(v) if declared == Some(SqlType::Real) => {
                for (r, x) in v.iter().enumerate().take(batch.num_rows) {
                    if f64::from(*x as f32) != *x && !x.is_nan() && !values.is_null(r) {
                        out.push(Unfit {
                            row: r,
                            col: ci,
                            code: "out-of-range",
                            reason: format!("column `{name}`: {x} is not exactly a real (4-byte float); PostgreSQL would round it"),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|u| (u.row, u.col));
    out
}

/// Whether a server error is about a row's values (so the row is rejected,
/// not the run failed): a data exception (class 22, except a malformed COPY
/// stream, which would be ferry's own fault), a NOT NULL, unique or CHECK
/// violation, or a value too large for an index (54000).
pub(super) fn refused_value(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return false;
    };
    let code = db.code().code();
    (code.starts_with("22") && code != "22P04")
        || matches!(code, "23502" | "23505" | "23514" | "54000")
}

/// The row (1-based, within the COPY) and column a refused COPY names: in
/// its context line (`COPY t, line 3, column v: "…"`; other context lines,
/// such as `JSON data, line 1: …`, count lines of something else), or for a
/// constraint, in the error's column field.
pub(super) fn copy_position(e: &tokio_postgres::Error) -> (Option<usize>, Option<String>) {
    let Some(db) = e.as_db_error() else {
        return (None, None);
    };
    let field = db.column().map(str::to_string);
    let Some(rest) = db
        .where_()
        .and_then(|w| w.lines().rev().find(|l| l.starts_with("COPY ")))
        .and_then(|l| l.find(", line ").map(|at| &l[at + ", line ".len()..]))
    else {
        return (None, field);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let column = rest
        .find(", column ")
        .map(|c| &rest[c + ", column ".len()..])
        .map(|c| c.split(':').next().unwrap_or(c).to_string());
    (digits.parse().ok(), column.or(field))
}

/// What one load of rows needs: the COPY statement and, for an upsert,
/// the statements that move the staged rows into the table and empty the
/// stage.
pub(super) struct CopyPlan<'a> {
    pub copy: &'a str,
    pub upsert: Option<(&'a str, &'a str)>,
}

/// Rows the server refused: (row in the batch, its message, the column it
/// named).
pub(super) type Refused = Vec<(usize, String, Option<String>)>;

/// Sends rows `lo..hi` of an encoded batch (`offsets[i]`: where row `i`
/// starts; `offsets[n]`: the end of the last) as one COPY.
async fn copy_rows(
    tx: &Transaction<'_>,
    plan: &CopyPlan<'_>,
    data: &bytes::Bytes,
    offsets: &[usize],
    (lo, hi): (usize, usize),
) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in::<_, bytes::Bytes>(plan.copy).await?;
    futures_util::pin_mut!(sink);
    sink.feed(bytes::Bytes::from_static(COPY_HEADER)).await?;
    sink.feed(data.slice(offsets[lo]..offsets[hi])).await?;
    sink.send(bytes::Bytes::from_static(COPY_TRAILER)).await?;
    sink.finish().await?;
    if let Some((insert, clear)) = plan.upsert {
        tx.batch_execute(insert).await?;
        tx.batch_execute(clear).await?;
    }
    Ok(())
}

impl PgSink {
    /// Loads every row of an encoded batch that the server accepts, inside
    /// `tx`, and returns those it refused. Each slice runs under the
    /// savepoint `ferry_rows`: kept (released and set again) when it loads,
    /// rolled back and split when it is refused. The server's `line N`
    /// points at the first refused row: the rows before it are sent as one
    /// slice, the row alone, the rest as one slice; without it, halves.
    /// Cost: about three COPYs per refused row (a log of the batch size
    /// without a line), nothing for a batch the server accepts.
    pub(super) async fn load_bisecting(
        tx: &Transaction<'_>,
        plan: &CopyPlan<'_>,
        data: &bytes::Bytes,
        offsets: &[usize],
    ) -> Result<Refused, tokio_postgres::Error> {
        let rows = offsets.len().saturating_sub(1);
        let mut refused = Vec::new();
        let mut work = vec![(0, rows)];
        tx.batch_execute("SAVEPOINT ferry_rows").await?;
        while let Some((lo, hi)) = work.pop() {
            if lo >= hi {
                continue;
            }
            match copy_rows(tx, plan, data, offsets, (lo, hi)).await {
                Ok(()) => {
                    tx.batch_execute("RELEASE SAVEPOINT ferry_rows; SAVEPOINT ferry_rows")
                        .await?
                }
                Err(e) if refused_value(&e) => {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT ferry_rows").await?;
                    let (line, column) = copy_position(&e);
                    if hi - lo == 1 {
                        refused.push((lo, pg_message(&e), column));
                        continue;
                    }
                    // Pushed last-first: the earlier rows load first.
                    match line.filter(|l| (1..=hi - lo).contains(l)) {
                        Some(l) => {
                            let bad = lo + l - 1;
                            work.push((bad + 1, hi));
                            work.push((bad, bad + 1));
                            work.push((lo, bad));
                        }
                        None => {
                            let mid = lo + (hi - lo) / 2;
                            work.push((mid, hi));
                            work.push((lo, mid));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        refused.sort_by_key(|r| r.0);
        Ok(refused)
    }
}
