//! A run's own verification, folded into the run.
//!
//! The source side is digested in the stream: the pipeline digests every
//! batch as it is sent (after casts and plugins), leaving out the rows the
//! target refused, so the source is never read a second time — only counted,
//! to prove the read covered the whole table. The target side is read back
//! table by table as soon as a table has loaded, concurrently with the
//! tables still loading and with the constraints being built, on targets that
//! serve reads while others write (PostgreSQL, MySQL); on SQLite and JSON
//! targets the read-backs start once the constraints are built. The two
//! digests, the sample and the ranges are then compared as `ferry verify`
//! compares them.
//!
//! What cannot be verified this way falls back to reading both sides after
//! the load ([`super::verify::verify`]): a table whose refused rows carry no
//! key to leave them out by, and a run whose constraints quarantined rows
//! after the load (its read-backs may predate the deletion).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::MigrateError;
use super::digest::{Digest, DigestSpec, Form};
use super::keyset::KeySet;
use super::verify::{
    self, Level, MAX_PARENT_KEYS, SideScan, SourceSide, VerifyReport, digest_spec, parent_table,
    target_scan,
};
use crate::endpoint::{self, EndpointUrl, Source};
use crate::plan::Plan;

/// Tables read back at once: one per core of the machine this was tuned on
/// (2); the reads compete with the load for the same cores.
const READ_BACKS: usize = 2;

/// A parent's key hashes, once its read-back is done: `None` inside when it
/// was too large to hold them.
type KeysCell = Option<Option<Arc<KeySet>>>;

/// The run's verification in progress.
pub(crate) struct ReadBack {
    plan: Arc<Plan>,
    to: EndpointUrl,
    /// The run's source: counted per table beside the table's read-back.
    source: Arc<dyn Source>,
    target: Option<Arc<dyn Source>>,
    /// Read-backs start as tables finish loading (else after constraints).
    early: bool,
    specs: Vec<Arc<DigestSpec>>,
    /// Per (parent table, referenced columns): where its keys are published
    /// (taken by the parent's read-back) and where children wait for them.
    senders: HashMap<(String, Vec<String>), watch::Sender<KeysCell>>,
    receivers: HashMap<(String, Vec<String>), watch::Receiver<KeysCell>>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<(usize, ReadResult)>,
    /// Per plan table: the digest of what the run sent, once it loaded.
    streams: Vec<Option<Digest>>,
    /// Loaded, not yet read back.
    pending: Vec<usize>,
    /// The read-backs no longer describe the target (rows were deleted after
    /// the load): the run verifies the classic way.
    stale: bool,
}

/// One read-back: what the target holds, per foreign key whether the
/// parent's keys were there to check orphans against, and the source's
/// count of the table (taken once the table had loaded, beside the read).
type ReadResult = Result<(SideScan, Vec<bool>, u64), MigrateError>;

impl ReadBack {
    pub(crate) fn new(plan: &Plan, to: &EndpointUrl, source: Arc<dyn Source>) -> ReadBack {
        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for key in verify::referenced(plan) {
            let (tx, rx) = watch::channel(None);
            senders.insert(key.clone(), tx);
            receivers.insert(key, rx);
        }
        ReadBack {
            specs: plan
                .tables
                .iter()
                .map(|t| Arc::new(digest_spec(t)))
                .collect(),
            plan: Arc::new(plan.clone()),
            to: to.clone(),
            source,
            target: None,
            early: endpoint::capabilities(to).parallel_writers > 1,
            senders,
            receivers,
            permits: Arc::new(Semaphore::new(READ_BACKS)),
            tasks: JoinSet::new(),
            streams: vec![None; plan.tables.len()],
            pending: Vec::new(),
            stale: false,
        }
    }

    /// How the pipeline digests the rows it sends of the `i`-th table.
    pub(crate) fn spec(&self, i: usize) -> Arc<DigestSpec> {
        self.specs[i].clone()
    }

    /// The `i`-th table has loaded; `sent` is the digest of what the run
    /// sent of it, `None` when it could not be kept (see the module docs).
    pub(crate) async fn loaded(
        &mut self,
        i: usize,
        sent: Option<Digest>,
    ) -> Result<(), MigrateError> {
        match sent {
            Some(d) => self.streams[i] = Some(d),
            None => self.stale = true,
        }
        if self.early && !self.stale {
            self.start(i).await?;
        } else {
            self.pending.push(i);
        }
        Ok(())
    }

    /// Rows were deleted from the target after the load (quarantined by a
    /// constraint): the read-backs may predate that.
    pub(crate) fn invalidate(&mut self) {
        self.stale = true;
    }

    async fn start(&mut self, i: usize) -> Result<(), MigrateError> {
        let target = match &self.target {
            Some(t) => t.clone(),
            None => {
                let t = endpoint::open_source(&self.to).await?;
                self.target = Some(t.clone());
                t
            }
        };
        let plan = self.plan.clone();
        let t = &plan.tables[i];
        // Orphans are checked against parents earlier in the plan (as
        // `ferry verify` does): a later parent, the table itself or a
        // cycle is reported as not checked.
        let waits: Vec<Option<watch::Receiver<KeysCell>>> = t
            .target_def
            .foreign_keys
            .iter()
            .map(|fk| {
                let parent = parent_table(&plan, fk);
                let earlier = plan.tables[..i].iter().any(|p| p.target_name == parent);
                earlier
                    .then(|| {
                        self.receivers
                            .get(&(parent, fk.ref_columns.clone()))
                            .cloned()
                    })
                    .flatten()
            })
            .collect();
        // This table's key sets, published by its read-back alone.
        let publish: Vec<(Vec<String>, watch::Sender<KeysCell>)> = self
            .senders
            .extract_if(|(table, _), _| table == &t.target_name)
            .map(|((_, cols), tx)| (cols, tx))
            .collect();
        let permits = self.permits.clone();
        let source = self.source.clone();
        // A table whose raw rows were passed through is read back raw too:
        // the same column types on the same kind of server send equal
        // values as equal bytes, so neither side decodes more than keys.
        let raw = self.streams[i]
            .as_ref()
            .is_some_and(|d| d.form == Form::Raw);
        self.tasks.spawn(async move {
            let t = &plan.tables[i];
            let mut fk_sets = Vec::new();
            for w in waits {
                let keys = match w {
                    // A parent whose read-back failed never publishes: its
                    // children's orphans are reported as not checked.
                    Some(mut rx) => match rx.wait_for(Option::is_some).await {
                        Ok(v) => v.clone().flatten(),
                        Err(_) => None,
                    },
                    None => None,
                };
                fk_sets.push(keys);
            }
            // The semaphore is never closed, so acquire cannot fail; a
            // child waits for its parents before it takes a permit, so
            // waiting children never hold back the parents they wait for.
            let _permit = permits.acquire_owned().await;
            crate::failpoint::at("read-back", Some(&t.name));
            let collected: Vec<bool> = fk_sets.iter().map(Option::is_some).collect();
            // The source is counted as the target is read: the count
            // proves the run read every row (source = target + quarantined).
            let (scan, counted) = tokio::join!(
                target_scan(&plan, t, target, fk_sets).raw(raw).run(),
                source.count(&t.name)
            );
            let scan = counted
                .map_err(MigrateError::from)
                .and_then(|rows| scan.map(|s| (s, rows)));
            let scan = scan.map(|(mut s, rows)| {
                for (cols, tx) in publish {
                    let keys = s.keys.remove(&cols).filter(|k| k.len() <= MAX_PARENT_KEYS);
                    // No child waiting is not a failure.
                    let _ = tx.send(Some(keys.map(Arc::new)));
                }
                (s, collected, rows)
            });
            (i, scan)
        });
        Ok(())
    }

    /// Waits for the read-backs and compares. `None` when the run must be
    /// verified the classic way (see the module docs). `views_plan` lists
    /// the views the run created.
    pub(crate) async fn finish(
        mut self,
        from: &EndpointUrl,
        run_id: &str,
        views_plan: &Plan,
    ) -> Result<Option<VerifyReport>, MigrateError> {
        let started = std::time::Instant::now();
        if self.stale || self.streams.iter().any(Option::is_none) {
            return Ok(None);
        }
        for i in std::mem::take(&mut self.pending) {
            self.start(i).await?;
        }
        let mut scans: Vec<Option<(SideScan, Vec<bool>, u64)>> =
            (0..self.plan.tables.len()).map(|_| None).collect();
        while let Some(joined) = self.tasks.join_next().await {
            let (i, scan) =
                joined.map_err(|e| MigrateError::Internal(format!("read-back task: {e}")))?;
            scans[i] = Some(scan?);
        }
        let Some(target) = self.target.clone() else {
            // A plan without tables: nothing was read back.
            return Ok(None);
        };
        let target_tables = target.tables().await?;
        let quarantine = target.quarantined().await?;
        let plan = self.plan.clone();
        let mut tables = Vec::new();
        for (i, t) in plan.tables.iter().enumerate() {
            let (Some((scan, collected, rows)), Some(sent)) =
                (scans[i].take(), self.streams[i].take())
            else {
                return Err(MigrateError::Internal(format!(
                    "table `{}` was loaded but not read back",
                    t.name
                )));
            };
            let quarantined = quarantine
                .iter()
                .filter(|q| q.table == t.name && q.run_id == run_id)
                .map(|q| q.rows)
                .sum();
            let mut tv = verify::unverified(&plan, t, &target_tables, quarantined);
            // The source is counted, not read: the run read every row it
            // counts (in-stream), and every row it sent is digested.
            if sent.form != scan.digest.form || sent.form == Form::Mixed {
                tracing::debug!(
                    table = t.name,
                    "sent and read back digests of different forms: both sides will be read"
                );
                return Ok(None);
            }
            let raw = sent.form == Form::Raw;
            let sent = SourceSide { rows, digest: sent };
            verify::judge(&mut tv, t, sent, &scan, &collected, None);
            if raw && tv.checksum.failed() {
                // Equal bytes prove equal values; unequal bytes do not
                // prove a difference (a send function could differ between
                // server versions): the classic verification decides.
                tracing::debug!(
                    table = t.name,
                    "raw checksums differ: both sides will be read and compared by value"
                );
                return Ok(None);
            }
            tables.push(tv);
            crate::failpoint::at("verify", Some(&t.name));
        }
        let views = verify::check_views(views_plan, target.as_ref()).await;
        Ok(Some(VerifyReport {
            ok: tables.iter().all(|t| t.ok) && views.iter().all(|(_, c)| !c.failed()),
            level: Level::Full,
            source: from.to_string(),
            target: self.to.to_string(),
            run_id: Some(run_id.to_string()),
            tables,
            views,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }))
    }
}
