//! One table's load: three concurrent stages joined by bounded channels —
//! the source's reader, the casts / key rewrites / plugin chain on a task of
//! their own, and the writer — so memory stays flat and reading, plugins and
//! writing overlap. Each batch commits with its rejects and its checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use crate::endpoint::{
    self, EndpointUrl, KEY_MARK, RawRows, ReadBatch, Replace, ResumeBy, Scan, Source, StateRows,
    TargetTable, Write,
};
use crate::ledger::{Checkpoint, Mark};
use crate::model::{Batch, Reject, TableDef};

use super::chain::{Chain, apply_chain};
use super::digest::{Digest, DigestSpec};
use super::events::Progress;
use super::options::Incremental;
use super::report::{MigrateError, TableReport};
use super::table::TablePlan;

/// Bounded channel depth between stages: 2 batches. Enough to overlap
/// reading, plugins and writing; more only holds more memory.
const CHANNEL_DEPTH: usize = 2;

/// Batches whose sent bytes are hashed at once beside the writer: 2. Each
/// holds its batch until hashed; hashing a batch (about a millisecond per
/// 5,000 rows) is far quicker than writing one, so more never queue.
const HASHING_AHEAD: usize = 2;

/// Adds a digest hashed beside the writer to the table's; one that could not
/// be made (`None`, or a task that failed) leaves the table undigested, so it
/// is verified by reading both sides.
fn merge_hashed(
    total: &mut Option<Digest>,
    hashed: Result<Option<Digest>, tokio::task::JoinError>,
) {
    match (total.as_mut(), hashed) {
        (Some(t), Ok(Some(d))) => t.merge(d),
        _ => *total = None,
    }
}

/// A batch between the plugin stage and the writer.
pub(crate) struct Staged {
    /// The rows to write, as the target table holds them.
    batch: Batch,
    /// Rows rejected on the way (read, cast, plugins).
    rejects: Vec<Reject>,
    /// The id map rows of a consolidation's rewritten keys.
    ids: Option<Batch>,
    /// Where the source's read stands after this batch (its key).
    position: Option<i64>,
    /// Source rows read so far by this attempt, this batch included.
    read_so_far: u64,
    /// The cursor value of the batch's last row (cursor and path orders).
    cursor: Option<serde_json::Value>,
    /// Target rows the batch replaces, deleted in its transaction.
    replace: Option<Replace>,
    /// The source's state rows for the batch, written once it committed.
    state: Option<StateRows>,
    /// The digest of the batch's rows, when the run verifies in the stream.
    digest: Option<Digest>,
    /// The rows as the source's wire carried them (`batch` is then empty).
    raw: Option<RawRows>,
}

/// Everything one table's load needs, owned, so tables can load concurrently.
pub(crate) struct TableJob {
    pub(crate) plan: Arc<TablePlan>,
    /// The source, as named in ids and the id map.
    pub(crate) label: Arc<str>,
    /// Stop at the first rejected row instead of quarantining it.
    pub(crate) abort: bool,
    pub(crate) namespace: uuid::Uuid,
    /// Where rewritten keys are recorded, when keys are rewritten.
    pub(crate) id_map: Option<TargetTable>,
    /// Where the source keeps its state, when it does.
    pub(crate) state_table: Option<super::run::StateTarget>,
    pub(crate) chain: Chain,
    pub(crate) source: Arc<dyn Source>,
    pub(crate) to: EndpointUrl,
    pub(crate) run_id: Arc<str>,
    pub(crate) batch_size: usize,
    pub(crate) progress: Progress,
    /// Set when another table failed: stop after the batch in flight.
    pub(crate) cancel: Arc<AtomicBool>,
    /// Set from outside the run: stop after the batch in flight.
    pub(crate) stop: super::options::Stop,
    /// The run keeps a ledger: every batch's checkpoint is recorded.
    pub(crate) ledger: bool,
    /// The ledger is elsewhere (`--state`, for a target without
    /// transactions): each batch is written and flushed, then its checkpoint
    /// records the target's position.
    pub(crate) state: Option<EndpointUrl>,
    /// Resuming: how far this table got.
    pub(crate) checkpoint: Option<Checkpoint>,
    /// Incremental: which rows to read.
    pub(crate) scan: Option<Scan>,
    /// Rows replace the target's rows with the same primary key.
    pub(crate) upsert: bool,
    /// Digest what is sent, for the run's verification (see `readback.rs`).
    pub(crate) digest: Option<Arc<DigestSpec>>,
}

/// The rows an incremental run reads of `table`: after its mark in cursor
/// order when it has the cursor column, else after its last key.
pub(crate) fn incremental_scan(inc: &Incremental, table: &TableDef, mark: Option<&Mark>) -> Scan {
    let value = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .filter(|v| v.is_number())
            .unwrap_or_else(|| serde_json::Value::String(s.to_string()))
    };
    match &inc.cursor {
        Some(col) if table.columns.iter().any(|c| &c.name == col) => Scan::Cursor {
            column: col.clone(),
            after: mark.filter(|m| &m.cursor_column == col).and_then(|m| {
                serde_json::from_str(&m.cursor_value)
                    .ok()
                    .map(|v| (v, m.position.unwrap_or(i64::MIN)))
            }),
            since: inc.since.as_deref().map(value),
        },
        _ => match mark
            .filter(|m| m.cursor_column == KEY_MARK)
            .and_then(|m| m.position)
        {
            Some(p) => Scan::AfterKey(p),
            None => Scan::All,
        },
    }
}

/// Where a resumed table continues, when its source can continue after
/// this checkpoint: after its key, or after its cursor value.
async fn resume_scan(
    source: &dyn Source,
    table: &TableDef,
    cp: &Checkpoint,
) -> Result<Option<Scan>, MigrateError> {
    Ok(match source.capabilities().resume {
        ResumeBy::Reload => None,
        ResumeBy::Key => match cp.position {
            Some(p) if source.resumable(table).await? => Some(Scan::AfterKey(p)),
            _ => None,
        },
        ResumeBy::Cursor(column) => cp
            .cursor_value
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok())
            .map(|v| Scan::Cursor {
                column: column.to_string(),
                after: Some((v, cp.position.unwrap_or(i64::MIN))),
                since: None,
            }),
    })
}

impl Staged {
    /// Rows to write and rows rejected on the way.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let rows = self.raw.as_ref().map_or(self.batch.num_rows, |r| r.rows);
        (rows as u64, self.rejects.len() as u64)
    }
}

impl TableJob {
    /// Loads the table: its report, and the digest of the rows it sent
    /// and the target stored when the job digests them (`None` when a
    /// refused row could not be left out of it by its key).
    pub(crate) async fn run(self) -> (TableReport, Result<Option<Digest>, MigrateError>) {
        let mut tr = TableReport {
            name: self.plan.source.name.clone(),
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            passthrough: false,
        };
        let progress = self.progress.clone();
        let res = self.load(&mut tr).await;
        progress.table_finished(&tr);
        (tr, res)
    }

    async fn load(self, tr: &mut TableReport) -> Result<Option<Digest>, MigrateError> {
        let TableJob {
            plan,
            label,
            abort,
            namespace,
            id_map,
            state_table,
            chain,
            source,
            to,
            run_id,
            batch_size,
            progress,
            cancel,
            stop,
            ledger,
            state,
            checkpoint,
            scan,
            upsert,
            digest,
        } = self;
        let mut state_sink = match &state {
            Some(u) => Some(endpoint::open_sink(u).await?),
            None => None,
        };
        let name = plan.source.name.clone();
        // The count (for progress) while the target's connection opens,
        // unless the plan counted the table a moment ago.
        let count = async {
            match plan.counted {
                Some(n) => Ok(n),
                None => source.count(&name).await,
            }
        };
        let (rows, sink) = tokio::join!(count, endpoint::open_sink(&to));
        let (rows, mut sink) = (rows?, sink?);

        // Where this table starts: from scratch, or after its checkpoint.
        let mut start = Checkpoint {
            run_id: run_id.to_string(),
            table: name.clone(),
            position: None,
            rows_read: 0,
            rows_written: 0,
            rows_rejected: 0,
            done: false,
            updated_at: None,
            cursor_column: None,
            cursor_value: None,
            offsets: None,
        };
        let mut resumed = None;
        if let Some(cp) = checkpoint {
            if cp.done {
                tr.rows_read = cp.rows_read;
                tr.rows_written = cp.rows_written;
                tr.rows_rejected = cp.rows_rejected;
                progress.table_started(&name, rows.max(cp.rows_read), cp.rows_read);
                // Loaded by an earlier attempt: nothing was digested here.
                return Ok(None);
            }
            match resume_scan(source.as_ref(), &plan.read_def, &cp).await? {
                Some(s) => {
                    resumed = Some(s);
                    start = cp;
                }
                None => {
                    // No stable position to continue from: reload the table.
                    sink.restart_table(&run_id, &plan.target.def.name, &name)
                        .await?;
                    if let Some(st) = state_sink.as_mut().and_then(|s| s.ledger()) {
                        // The table starts over: its checkpoint back to nothing.
                        st.save_checkpoint(&start).await?;
                    }
                }
            }
        }
        progress.table_started(&name, rows.max(start.rows_read), start.rows_read);

        let (rtx, rrx) = mpsc::channel::<ReadBatch>(CHANNEL_DEPTH);
        let scan = scan.or(resumed).unwrap_or(Scan::All);
        // The checkpoint records the mark in the order the table is read.
        let mark_column = match (&scan, source.capabilities().resume) {
            (Scan::Cursor { column, .. }, _) => column.clone(),
            (_, ResumeBy::Cursor(column)) => column.to_string(),
            _ => KEY_MARK.to_string(),
        };
        // Passed through as the wire carries it when nothing in between
        // touches a value and the target's columns are the wire's types.
        // A cursor scan's mark is a value the raw read does not decode:
        // such a table is decoded as ever.
        let raw = !matches!(scan, Scan::Cursor { .. })
            && passes_through(
                &plan,
                &*source,
                sink.as_mut(),
                &id_map,
                &state_table,
                upsert,
            )
            .await?;
        tr.passthrough = raw;
        // Verified by the bytes it sent when the target stores every value
        // as sent: the sink hands them back, the digest hashes them instead
        // of normalising each value, and the read-back reads raw.
        let keep_sent = !raw && digest.is_some() && sink.sends_verbatim(&plan.target).await?;
        let reader = if raw {
            source
                .clone()
                .read_raw(plan.read_def.clone(), batch_size, scan, rtx)
        } else {
            source
                .clone()
                .read(plan.read_def.clone(), batch_size, scan, rtx)
        };
        let (wtx, mut wrx) = mpsc::channel::<Staged>(CHANNEL_DEPTH);
        let stage = tokio::spawn(plugin_stage(
            plan.clone(),
            chain,
            Halt {
                cancel: cancel.clone(),
                stop,
                run_id: run_id.clone(),
            },
            namespace,
            label,
            digest.clone().filter(|_| !keep_sent),
            rrx,
            wtx,
        ));
        // What the target stored of what was sent; `None` once a refused
        // row could not be told apart.
        let mut sent = digest.as_deref().map(Digest::new);
        // Digests of sent batches being hashed, oldest first.
        let mut hashing = std::collections::VecDeque::new();

        // The writer commits every batch handed to it, even after the stage
        // failed: the target then holds exactly the batches before the failure.
        let transactions = sink.capabilities().transactions;
        let mut written = 0u64;
        let mut rejected = 0u64;
        let mut wrote = Ok(());
        let mut batch_no = 0u64;
        // The high-water mark so far: the table's checkpoint keeps it.
        let mut mark: (Option<i64>, Option<String>) = (start.position, start.cursor_value.clone());
        while let Some(mut st) = wrx.recv().await {
            if st.position.is_some() {
                mark.0 = st.position;
            }
            if let Some(c) = &st.cursor {
                mark.1 = Some(c.to_string());
            } else if mark_column == KEY_MARK {
                mark.1 = mark.0.map(|p| p.to_string());
            }
            batch_no += 1;
            if abort && let Some(first) = st.rejects.first() {
                cancel.store(true, Ordering::SeqCst);
                wrote = Err(MigrateError::Aborted {
                    table: name.clone(),
                    batch: batch_no - 1,
                    rows: st.rejects.len(),
                    reason: format!(
                        "first: {} {}: {}",
                        first.source_key.as_deref().unwrap_or("?"),
                        first.code,
                        first.reason
                    ),
                });
                break;
            }
            // The checkpoint commits with the batch: after a crash it says
            // exactly which source rows are in the target or in quarantine.
            let cp = ledger.then(|| Checkpoint {
                position: mark.0,
                rows_read: start.rows_read + st.read_so_far,
                rows_written: start.rows_written + written,
                rows_rejected: start.rows_rejected + rejected,
                cursor_column: Some(mark_column.clone()),
                cursor_value: mark.1.clone(),
                ..start.clone()
            });
            let w = Write {
                run_id: &run_id,
                table: &plan.target,
                batch: &st.batch,
                rejects: &st.rejects,
                checkpoint: if transactions { cp.as_ref() } else { None },
                upsert,
                replace: st.replace.as_ref(),
                raw: st.raw.as_ref(),
                keep_sent,
            };
            let mut res = sink.write(w).await;
            // No transaction spans a target without them and its ledger: the
            // batch is written and flushed first, then the checkpoint records
            // the target's position; a crash between the two leaves rows a
            // resume cuts off.
            if !transactions
                && let (Ok(out), Some(mut cp), Some(st_ledger)) =
                    (&res, cp, state_sink.as_mut().and_then(|s| s.ledger()))
            {
                crate::failpoint::at("json-batch", Some(&name));
                cp.rows_written += out.written;
                cp.rows_rejected += (st.rejects.len() + out.rejected.len()) as u64;
                cp.offsets = sink.write_position(&plan.target.def.name)?;
                st_ledger.save_checkpoint(&cp).await?;
            }
            // The id map of the batch's keys: written right after the batch
            // (a map row for a row that was quarantined later is harmless:
            // it says where that legacy key would have gone).
            if let (Ok(_), Some(ids), Some(map)) = (&res, &st.ids, &id_map) {
                let w = Write {
                    run_id: &run_id,
                    table: map,
                    batch: ids,
                    rejects: &[],
                    checkpoint: None,
                    upsert: false,
                    replace: None,
                    raw: None,
                    keep_sent: false,
                };
                if let Err(e) = sink.write(w).await {
                    res = Err(e);
                }
            }
            // The source's state rows of the batch's items, once the batch
            // committed (a crash in between leaves items unrecorded, which
            // the next incremental run treats as new and replaces).
            if let (Ok(_), Some(rows), Some(s)) = (&res, &st.state, &state_table) {
                let replace = Replace {
                    column: s.table.key_column.clone(),
                    values: rows.keys.clone(),
                    scope: Some((s.table.scope_column.clone(), plan.target.def.name.clone())),
                };
                let w = Write {
                    run_id: &run_id,
                    table: &s.target,
                    batch: &rows.batch,
                    rejects: &[],
                    checkpoint: None,
                    upsert: false,
                    // A state table this run created holds nothing to replace.
                    replace: (!s.created).then_some(&replace),
                    raw: None,
                    keep_sent: false,
                };
                if let Err(e) = sink.write(w).await {
                    res = Err(e);
                }
            }
            match res {
                Ok(mut outcome) => {
                    if let (Some(total), Some(spec)) = (sent.as_mut(), digest.as_ref()) {
                        match outcome.sent.take().filter(|_| keep_sent) {
                            // Hashed off the writer's path: the next batch's
                            // write does not wait for this one's digest.
                            Some(rows) => {
                                let (spec, batch) = (spec.clone(), st.batch);
                                hashing.push_back(tokio::spawn(async move {
                                    Digest::of_sent(&spec, &batch, &rows)
                                }));
                                if hashing.len() > HASHING_AHEAD
                                    && let Some(h) = hashing.pop_front()
                                {
                                    merge_hashed(&mut sent, h.await);
                                }
                            }
                            None => match stored_digest(&plan, spec, &mut st, &outcome.rejected) {
                                Some(d) => total.merge(d),
                                None => sent = None,
                            },
                        }
                    }
                    let r = st.rejects.len() as u64 + outcome.rejected.len() as u64;
                    written += outcome.written;
                    rejected += r;
                    progress.rows(&name, outcome.written + r);
                    crate::failpoint::at("batch", Some(&name));
                }
                Err(e) => {
                    cancel.store(true, Ordering::SeqCst);
                    wrote = Err(MigrateError::from(e));
                    break;
                }
            }
        }
        drop(wrx);
        for h in hashing {
            merge_hashed(&mut sent, h.await);
        }
        let (rows_read, staged) = stage
            .await
            .map_err(|e| MigrateError::Internal(format!("plugin stage: {e}")))?;
        let read_res = reader
            .await
            .map_err(|e| MigrateError::Internal(format!("reader: {e}")))?;
        tr.rows_read = start.rows_read + rows_read;
        tr.rows_written = start.rows_written + written;
        tr.rows_rejected = start.rows_rejected + rejected;
        wrote?;
        staged?;
        read_res?;
        if ledger {
            let done = Checkpoint {
                position: mark.0,
                rows_read: tr.rows_read,
                rows_written: tr.rows_written,
                rows_rejected: tr.rows_rejected,
                done: true,
                cursor_column: Some(mark_column.clone()),
                cursor_value: mark.1.clone(),
                offsets: sink.write_position(&plan.target.def.name)?,
                ..start
            };
            let store = match state_sink.as_mut() {
                Some(s) => s.ledger(),
                None => sink.ledger(),
            };
            if let Some(store) = store {
                store.save_checkpoint(&done).await?;
            }
            crate::failpoint::at("table-done", Some(&name));
        }
        Ok(sent)
    }
}

/// Why a table's stage stops taking batches: another table failed
/// (`cancel`), or the run was asked to stop (`stop`).
pub(crate) struct Halt {
    cancel: Arc<AtomicBool>,
    stop: super::options::Stop,
    run_id: Arc<str>,
}

impl Halt {
    /// Stops on `stop` alone (a run of one table at a time).
    pub(crate) fn on(stop: super::options::Stop, run_id: &str) -> Halt {
        Halt {
            cancel: Arc::default(),
            stop,
            run_id: run_id.into(),
        }
    }

    fn halted(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || self.stop.requested()
    }
}

/// Whether the table's rows pass through as the source's wire carries them
/// ([`RawRows`]): no cast, key rewrite or plugin touches a value, rows are
/// appended (not upserted, no id map, no state rows), the source has a raw
/// format for the table, and the target's columns are exactly its types.
async fn passes_through(
    plan: &TablePlan,
    source: &dyn Source,
    sink: &mut dyn crate::endpoint::Sink,
    id_map: &Option<TargetTable>,
    state_table: &Option<super::run::StateTarget>,
    upsert: bool,
) -> Result<bool, MigrateError> {
    if !plan.casts.is_empty()
        || !plan.rekey.is_empty()
        || !plan.transforms.is_empty()
        || !plan.validators.is_empty()
        || upsert
        || id_map.is_some()
        || state_table.is_some()
    {
        return Ok(false);
    }
    let Some(format) = source.raw_format(&plan.read_def).await? else {
        return Ok(false);
    };
    Ok(sink.accepts_raw(&plan.target, &format).await?)
}

/// The digest of the rows of `st` the target stored: the batch's own digest,
/// or when the target refused rows, the digest of the others, told apart by
/// their keys. `None` when a refused row carries no key that names one row
/// of the batch.
fn stored_digest(
    plan: &TablePlan,
    spec: &DigestSpec,
    st: &mut Staged,
    refused: &[Reject],
) -> Option<Digest> {
    if st.raw.is_some() {
        // Refused rows of a raw batch were decoded in the sink; the stage
        // holds no batch to tell them apart in.
        return st.digest.take().filter(|_| refused.is_empty());
    }
    if refused.is_empty() {
        // The batch is done with: its digest moves, not copied per batch.
        // Undigested (the sink was to hand back what it sent, and did not
        // tell its rows apart): digested here, by value.
        return Some(
            st.digest
                .take()
                .unwrap_or_else(|| Digest::of_batch(spec, &st.batch, None)),
        );
    }
    // Sinks name a refused row by the loaded table's key over the batch's
    // columns; SQLite's by the target's key.
    let schema = plan.target.def.schema();
    for key_cols in [
        &plan.target.source.primary_key,
        &plan.target.def.primary_key,
    ] {
        let mut wanted: std::collections::HashMap<&str, usize> = Default::default();
        for r in refused {
            *wanted.entry(r.source_key.as_deref()?).or_default() += 1;
        }
        let mut keep = vec![true; st.batch.num_rows];
        for (row, k) in keep.iter_mut().enumerate() {
            if let Some(key) = st.batch.source_key(&schema, key_cols, row)
                && let Some(n) = wanted.get_mut(key.as_str())
                && *n > 0
            {
                *n -= 1;
                *k = false;
            }
        }
        if wanted.values().all(|n| *n == 0) {
            return Some(Digest::of_batch(spec, &st.batch, Some(&keep)));
        }
    }
    None
}

/// The plugin stage: casts, key rewrites and the plugin chain, batch by
/// batch, on a task of its own so plugin work, encoding and database I/O
/// overlap on different cores. Returns the source rows it read.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plugin_stage(
    plan: Arc<TablePlan>,
    mut chain: Chain,
    halt: Halt,
    namespace: uuid::Uuid,
    label: Arc<str>,
    digest: Option<Arc<DigestSpec>>,
    mut rrx: mpsc::Receiver<ReadBatch>,
    wtx: mpsc::Sender<Staged>,
) -> (u64, Result<(), MigrateError>) {
    let mut rows_read = 0u64;
    let mut batch_no = 0u64;
    // Schemas of the cast and rekey steps, made once per table, not per batch.
    let read_schema = plan.read_def.schema();
    let cast_schema = plan.cast_def.schema();
    let loaded_schema = plan.source.schema();
    while let Some(rb) = rrx.recv().await {
        if halt.halted() {
            // An error, not an end: the table is not done and must not be
            // checkpointed as done (its resume continues from here).
            return (
                rows_read,
                Err(MigrateError::Cancelled(halt.run_id.to_string())),
            );
        }
        rows_read += rb.rows_read;
        let (batch, rejects, ids, digest, raw) = if let Some(raw) = rb.raw {
            // Nothing in between touches a raw batch: only verification
            // looks inside, here, on the stage's own task — hashing each
            // row's bytes, decoding only keys, dates and sampled rows.
            let digest = digest
                .as_deref()
                .and_then(|s| match Digest::of_raw(s, &raw) {
                    Ok(d) => Some(d),
                    Err(why) => {
                        tracing::debug!(
                            table = plan.source.name,
                            "raw rows not decoded for verification ({why}): both sides will be read"
                        );
                        None
                    }
                });
            (rb.batch, rb.rejects, None, digest, Some(raw))
        } else {
            let mut rejects = rb.rejects;
            let batch = if plan.casts.is_empty() {
                rb.batch
            } else {
                crate::cast::cast_batch(
                    &plan.read_def,
                    &read_schema,
                    &cast_schema,
                    rb.batch,
                    &mut rejects,
                )
            };
            let (batch, ids) = if plan.rekey.is_empty() {
                (batch, None)
            } else {
                let (b, ids) = crate::consolidate::rekey_batch(
                    &namespace,
                    &label,
                    &plan.cast_def.name,
                    &plan.rekey,
                    &cast_schema,
                    &loaded_schema,
                    &batch,
                );
                (b, Some(ids))
            };
            let batch = match apply_chain(&plan, &mut chain, batch, batch_no, &mut rejects).await {
                Ok(batch) => batch,
                Err(e) => return (rows_read, Err(e)),
            };
            // Digested here, on the stage's own task, as it is sent.
            let digest = digest.as_deref().map(|s| Digest::of_batch(s, &batch, None));
            (batch, rejects, ids, digest, None)
        };
        batch_no += 1;
        let staged = Staged {
            digest,
            batch,
            rejects,
            ids,
            position: rb.position,
            read_so_far: rows_read,
            cursor: rb.cursor,
            replace: rb.replace,
            state: rb.state,
            raw,
        };
        if wtx.send(staged).await.is_err() {
            break;
        }
    }
    (rows_read, Ok(()))
}
