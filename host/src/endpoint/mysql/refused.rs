//! Rows the server refuses: isolated by bisecting the refused statement,
//! rejected one by one with the server's reason, the rest written.

use super::*;
use crate::endpoint::TargetTable;
use crate::model::{Batch, Reject, Schema};
use mysql_async::prelude::*;
use std::ops::Range;

/// What a bisection needs of the batch being written.
pub(super) struct Bisect<'a> {
    pub(super) table: &'a TargetTable,
    pub(super) schema: &'a Schema,
    pub(super) batch: &'a Batch,
    pub(super) encs: &'a [Enc],
    pub(super) nulls: &'a [Option<(&'static str, String)>],
    /// `INSERT INTO t (…) VALUES ` and the upsert's tail.
    pub(super) head: &'a str,
    pub(super) on_dup: &'a str,
    /// The batch rows that encoded (the statements' rows index into it).
    pub(super) ok_rows: &'a [usize],
}

/// Per column: why a NULL there is refused before it is sent, when it is.
/// A NULL primary-key value (SQLite keeps them in a key that is not the
/// rowid) is no key value at all: `null-key`, with the key it breaks. A
/// NULL in the AUTO_INCREMENT column would silently become the counter's
/// next value. Other NULLs in NOT NULL columns are left to the server
/// (error 1048, isolated like any refused value).
pub(super) fn null_refusals(def: &TableDef, encs: &[Enc]) -> Vec<Option<(&'static str, String)>> {
    let auto = auto_increment(def, encs).map(|(i, _)| i);
    def.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if def.primary_key.contains(&c.name) {
                Some((
                    "null-key",
                    format!(
                        "primary key ({}): NULL is not a key value; the source allowed it",
                        def.primary_key.join(", ")
                    ),
                ))
            } else if auto == Some(i) {
                Some((
                    "unstorable",
                    format!(
                        "NULL in the AUTO_INCREMENT column {} would become the counter's next value; ferry does not invent values",
                        c.name
                    ),
                ))
            } else {
                None
            }
        })
        .collect()
}

/// The column a server message names — `column 'c'`, `Column 'c'`, or
/// MariaDB's ``column `db`.`t`.`c` `` — when it is one of `schema`'s.
pub(super) fn refused_column(msg: &str, schema: &Schema) -> Option<usize> {
    let lower = msg.to_ascii_lowercase();
    let at = lower.find("column ")? + "column ".len();
    let rest = &msg[at..];
    let name = if let Some(r) = rest.strip_prefix('\'') {
        r.split('\'').next()?.to_string()
    } else if rest.starts_with('`') {
        // `a`.`b`.`c`: the last quoted part.
        let mut last = None;
        let mut r = rest;
        while let Some(inner) = r.strip_prefix('`') {
            let end = inner.find('`')?;
            last = Some(inner[..end].to_string());
            r = &inner[end + 1..];
            match r.strip_prefix('.') {
                Some(more) => r = more,
                None => break,
            }
        }
        last?
    } else {
        return None;
    };
    schema.index_of(&name)
}

impl MysqlSink {
    /// Rows `range` of `w.ok_rows`, refused together as one statement for
    /// `refusal` (a data error), halved until each refused row stands
    /// alone: halves that the server takes are written, a lone refused row
    /// is rejected with the server's message (`duplicate-key` for a
    /// duplicate, else `unstorable`). Halves are tried in row order, depth
    /// first, so of two rows with the same key the earlier one is kept.
    /// Returns how many rows were written.
    ///
    /// No savepoint is needed: InnoDB rolls a refused statement back by
    /// itself and the transaction goes on (errors that end the transaction,
    /// a deadlock or a lost connection, are not data errors and fail the
    /// write, which the caller rolls back). A clean batch never gets here.
    /// Costs about 2·k·log2(n) statements for k refused rows of n.
    pub(super) async fn bisect(
        &mut self,
        w: &Bisect<'_>,
        range: Range<usize>,
        refusal: mysql_async::Error,
        rejects: &mut Vec<Reject>,
    ) -> Result<u64, EndpointError> {
        let mut written = 0u64;
        let mut stack: Vec<(Range<usize>, Option<mysql_async::Error>)> =
            vec![(range, Some(refusal))];
        let (mut sql, mut row_sql) = (String::new(), String::new());
        while let Some((rows, known)) = stack.pop() {
            let refusal = match known {
                Some(e) => e,
                None => {
                    sql.clear();
                    sql.push_str(w.head);
                    for (k, &r) in w.ok_rows[rows.clone()].iter().enumerate() {
                        // Encoded once already, so it encodes again.
                        let _ = self.encode_row(&mut row_sql, w.encs, w.nulls, w.batch, r, 0);
                        if k > 0 {
                            sql.push(',');
                        }
                        sql.push_str(&row_sql);
                    }
                    sql.push_str(w.on_dup);
                    match self.conn.query_drop(sql.as_str()).await {
                        Ok(()) => {
                            written += rows.len() as u64;
                            continue;
                        }
                        Err(e) if server_code(&e).is_some_and(is_row_data_error) => e,
                        Err(e) => {
                            return Err(my_error(&self.name, Some(&w.table.def.name), &e, ""));
                        }
                    }
                }
            };
            if rows.len() == 1 {
                let message = my_message(&refusal);
                let code = if server_code(&refusal) == Some(1062) {
                    "duplicate-key"
                } else {
                    "unstorable"
                };
                rejects.push(self.write_reject(
                    w.table,
                    w.schema,
                    w.batch,
                    w.ok_rows[rows.start],
                    refused_column(&message, w.schema),
                    code,
                    format!("the server refused the row: {message}"),
                ));
                continue;
            }
            let mid = rows.start + rows.len() / 2;
            stack.push((mid..rows.end, None));
            stack.push((rows.start..mid, None));
        }
        Ok(written)
    }
}
