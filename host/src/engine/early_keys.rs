//! A loaded table's own keys, built while the other tables still load.
//!
//! On a target that allows it ([`Capabilities::keys_while_loading`]), each
//! table's primary key, unique constraints, indexes and checks are built —
//! and its statistics gathered — on a connection of their own as soon as
//! the table's last batch has committed, so they overlap the loads still
//! running instead of queueing behind the last one. (On a database whose
//! tables differ in size, the small ones finish first and their keys are
//! built for free while the large one streams in; it is what pgcopydb's
//! index jobs do.) A table's foreign keys are built here too when their
//! parent is complete — loaded, keyed, its own foreign keys built, so no
//! row of it moves again — and first, so the validation overlaps the
//! table's read-back; the others wait for the run's `finish` after the
//! load. That `finish` goes over every table again and skips what exists,
//! as it does for a resumed run, so a key this worker built is never built
//! twice and one it did not get to is built there.
//!
//! Rows a key build moves to quarantine (duplicates, NULL keys, failed
//! checks) are counted here and added to the run's, exactly as if the
//! `finish` after the load had moved them.
//!
//! [`Capabilities::keys_while_loading`]: crate::endpoint::Capabilities::keys_while_loading

use std::collections::HashSet;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::MigrateError;
use crate::endpoint::{self, EndpointUrl, Finished, TargetTable};

/// What the worker did, handed to the run after the load.
#[derive(Debug, Default)]
pub(crate) struct EarlyDone {
    /// Warnings and rows moved to quarantine by the key builds.
    pub finished: Finished,
    /// Tables whose statistics were gathered after their keys.
    pub analyzed: Vec<String>,
}

/// The worker: tables go in as they finish loading.
pub(crate) struct EarlyKeys {
    tables: mpsc::UnboundedSender<TargetTable>,
    task: JoinHandle<Result<EarlyDone, MigrateError>>,
}

impl EarlyKeys {
    /// Starts the worker for a run into `to`; its connection opens with the
    /// first table.
    pub(crate) fn start(to: EndpointUrl, run_id: String) -> EarlyKeys {
        // Unbounded, yet never more than the plan's tables: each is sent
        // once, when it has loaded.
        let (tx, rx) = mpsc::unbounded_channel();
        EarlyKeys {
            tables: tx,
            task: tokio::spawn(work(to, run_id, rx)),
        }
    }

    /// `table` has loaded whole: its keys may be built. (After a failure of
    /// the worker, tables are no longer taken; `finish` says why.)
    pub(crate) fn loaded(&self, table: &TargetTable) {
        let _ = self.tables.send(table.clone());
    }

    /// Waits for the key builds under way (no more tables come) and returns
    /// what they did, or the first error.
    pub(crate) async fn finish(self) -> Result<EarlyDone, MigrateError> {
        drop(self.tables);
        self.task
            .await
            .map_err(|e| MigrateError::Internal(format!("key builder: {e}")))?
    }
}

async fn work(
    to: EndpointUrl,
    run_id: String,
    mut tables: mpsc::UnboundedReceiver<TargetTable>,
) -> Result<EarlyDone, MigrateError> {
    let mut done = EarlyDone::default();
    let mut sink = None;
    // Tables no row of which moves again: loaded, keyed, every foreign key
    // of theirs built. A child's foreign key to one of them can be built
    // now; to any other parent, it waits for the `finish` after the load.
    let mut complete: HashSet<String> = HashSet::new();
    while let Some(mut table) = tables.recv().await {
        let sink = match &mut sink {
            Some(s) => s,
            None => sink.insert(endpoint::open_sink(&to).await?),
        };
        let (now, later): (Vec<_>, Vec<_>) = table
            .def
            .foreign_keys
            .drain(..)
            .partition(|fk| fk.ref_table != table.def.name && complete.contains(&fk.ref_table));
        // Foreign keys first: validating one reads the table while its
        // read-back does, and neither blocks the other; the index builds
        // that follow lock out a validation, not a read.
        if !now.is_empty() {
            let mut fks = table.clone();
            fks.def.foreign_keys = now;
            let f = sink
                .foreign_keys(&run_id, std::slice::from_ref(&fks))
                .await?;
            done.finished.warnings.extend(f.warnings);
            done.finished.quarantined.extend(f.quarantined);
        }
        let one = std::slice::from_ref(&table);
        // Statistics before the keys: the key builds, two at once, are the
        // work that keeps both cores busy to the end.
        sink.analyze(one).await?;
        let f = sink.finish(&run_id, one).await?;
        let moved = f.quarantined.iter().any(|(_, n)| *n > 0);
        done.finished.warnings.extend(f.warnings);
        done.finished.quarantined.extend(f.quarantined);
        if moved {
            // Rows left after the statistics were taken: take them again.
            sink.analyze(one).await?;
        }
        done.analyzed.push(table.def.name.clone());
        if later.is_empty() {
            complete.insert(table.def.name);
        }
    }
    Ok(done)
}
