//! A loaded table's own keys, built while the other tables still load.
//!
//! On a target that allows it ([`Capabilities::keys_while_loading`]), each
//! table's primary key, unique constraints, indexes and checks are built —
//! and its statistics gathered — on a connection of their own as soon as
//! the table's last batch has committed, so they overlap the loads still
//! running instead of queueing behind the last one. (On a database whose
//! tables differ in size, the small ones finish first and their keys are
//! built for free while the large one streams in; it is what pgcopydb's
//! index jobs do.) Foreign keys wait for the run's `finish` after the load:
//! they need both ends loaded and keyed. That `finish` goes over every table
//! again and skips what exists, as it does for a resumed run, so a key this
//! worker built is never built twice and one it did not get to is built
//! there.
//!
//! Rows a key build moves to quarantine (duplicates, NULL keys, failed
//! checks) are counted here and added to the run's, exactly as if the
//! `finish` after the load had moved them.
//!
//! [`Capabilities::keys_while_loading`]: crate::endpoint::Capabilities::keys_while_loading

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
    while let Some(mut table) = tables.recv().await {
        let sink = match &mut sink {
            Some(s) => s,
            None => sink.insert(endpoint::open_sink(&to).await?),
        };
        // The table's own keys only: its foreign keys need the parents.
        table.def.foreign_keys.clear();
        let one = std::slice::from_ref(&table);
        let f = sink.finish(&run_id, one).await?;
        done.finished.warnings.extend(f.warnings);
        done.finished.quarantined.extend(f.quarantined);
        sink.analyze(one).await?;
        done.analyzed.push(table.def.name);
    }
    Ok(done)
}
