//! The runs the service executes: admission (slots and a bounded queue),
//! each run's live view and event log, and how a run's end is recorded.
//!
//! A run is a task of its own, started by a request and never tied to it:
//! a client that disconnects leaves the run going. Its events go into a
//! log that late subscribers replay from the start (or from the
//! `Last-Event-ID` they saw), then follow live; the log is bounded (see
//! [`MAX_LOGGED_EVENTS`]). The run's outcome goes into the service's store
//! and, as always, into the target's ledger.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::store::{RunEnd, RunRow, Store};
use crate::engine::{self, Events, MigrateOptions, Phase, Report, RunEvent, RunStatus, Stop};
use crate::plan::Plan;

/// Events kept per run for replay. Progress events beyond it are not kept
/// (the run's view still has the latest figures); others are, up to twice
/// as many; the `finished` event always is. A 5 M-row run in batches of
/// 5,000 emits about a thousand progress events per table, far below.
pub const MAX_LOGGED_EVENTS: usize = 20_000;

/// Warnings a run's view keeps (all of them are in its report).
const MAX_VIEW_WARNINGS: usize = 100;

/// Finished runs kept in memory for event replay; older ones are answered
/// from the store (their report and final status).
const MAX_FINISHED_LIVE: usize = 256;

/// What the service adds to a run's events.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ServiceEvent {
    /// Admitted; waiting for a slot.
    Queued { run_id: String },
    /// Someone asked the run to stop after the batch in flight.
    CancelRequested { run_id: String, by: String },
}

/// One event of a run's stream.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Event {
    Run(RunEvent),
    Service(ServiceEvent),
}

impl Event {
    /// The SSE event name: the `event` field of its JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Service(ServiceEvent::Queued { .. }) => "queued",
            Event::Service(ServiceEvent::CancelRequested { .. }) => "cancel_requested",
            Event::Run(e) => match e {
                RunEvent::Started { .. } => "started",
                RunEvent::Phase { .. } => "phase",
                RunEvent::TableStarted { .. } => "table_started",
                RunEvent::TableProgress { .. } => "table_progress",
                RunEvent::TableFinished { .. } => "table_finished",
                RunEvent::Warning { .. } => "warning",
                RunEvent::Retrying { .. } => "retrying",
                RunEvent::Finished { .. } => "finished",
            },
        }
    }
}

/// An event with its position in the run's stream (the SSE id).
#[derive(Debug, Clone)]
pub struct Logged {
    pub seq: u64,
    pub event: Event,
}

/// A table as a run's view shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TableView {
    pub table: String,
    /// The source's count (an estimate for sources that cannot count first).
    pub total: u64,
    /// Rows through (written or rejected).
    pub done: u64,
    pub written: u64,
    pub rejected: u64,
    pub rows_per_second: f64,
    pub eta_seconds: Option<f64>,
    pub finished: bool,
}

/// A run as `GET /v1/runs/{id}` shows it: live while it runs, its report
/// once it has finished.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub run_id: String,
    /// `queued`, `running`, `succeeded`, `succeeded_with_rejects`,
    /// `failed`, `cancelled` or `interrupted`.
    pub status: String,
    /// The endpoints' names.
    pub from: String,
    pub to: String,
    pub created_by: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `planning`, `loading`, `constraints` or `verifying` while it runs.
    #[schema(value_type = Option<String>)]
    pub phase: Option<Phase>,
    pub tables: Vec<TableView>,
    /// Rows per second over the tables loading now.
    pub rows_per_second: f64,
    /// Seconds until the slowest table loading now is done.
    pub eta_seconds: Option<f64>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    /// The run report (as `ferry migrate --json` prints it), once finished.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

impl RunView {
    /// The view of a run the store knows but memory does not (it finished
    /// before this process started, or long ago).
    pub fn from_row(r: &RunRow, report: Option<String>) -> RunView {
        let report: Option<serde_json::Value> = report.and_then(|s| serde_json::from_str(&s).ok());
        let tables = report
            .as_ref()
            .and_then(|r| r.get("tables"))
            .and_then(|t| serde_json::from_value::<Vec<crate::engine::TableReport>>(t.clone()).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|t| TableView {
                table: t.name,
                total: t.rows_read,
                done: t.rows_written + t.rows_rejected,
                written: t.rows_written,
                rejected: t.rows_rejected,
                rows_per_second: 0.0,
                eta_seconds: None,
                finished: true,
            })
            .collect();
        RunView {
            run_id: r.run_id.clone(),
            status: r.status.clone(),
            from: r.from.clone(),
            to: r.to.clone(),
            created_by: r.created_by.clone(),
            created_at: r.created_at.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            phase: None,
            tables,
            rows_per_second: 0.0,
            eta_seconds: None,
            warnings: Vec::new(),
            error: r.error.clone(),
            error_code: report
                .as_ref()
                .and_then(|r| r.get("error_code"))
                .and_then(|c| c.as_str())
                .map(str::to_string),
            report,
        }
    }

    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "queued" | "running")
    }

    fn table(&mut self, name: &str) -> &mut TableView {
        let i = match self.tables.iter().position(|t| t.table == name) {
            Some(i) => i,
            None => {
                self.tables.push(TableView {
                    table: name.to_string(),
                    total: 0,
                    done: 0,
                    written: 0,
                    rejected: 0,
                    rows_per_second: 0.0,
                    eta_seconds: None,
                    finished: false,
                });
                self.tables.len() - 1
            }
        };
        &mut self.tables[i]
    }

    fn apply(&mut self, e: &RunEvent) {
        match e {
            RunEvent::Started { .. } => {
                self.status = "running".into();
                self.started_at = Some(crate::ledger::now());
            }
            RunEvent::Phase { phase } => self.phase = Some(*phase),
            RunEvent::TableStarted { table, rows } => {
                let t = self.table(table);
                t.total = *rows;
                t.finished = false;
            }
            RunEvent::TableProgress {
                table,
                done,
                total,
                rows_per_second,
                eta_seconds,
            } => {
                let t = self.table(table);
                t.done = *done;
                t.total = *total;
                t.rows_per_second = *rows_per_second;
                t.eta_seconds = *eta_seconds;
            }
            RunEvent::TableFinished {
                table,
                read,
                written,
                rejected,
            } => {
                let t = self.table(table);
                t.done = written + rejected;
                t.total = t.total.max(*read);
                t.written = *written;
                t.rejected = *rejected;
                t.rows_per_second = 0.0;
                t.eta_seconds = Some(0.0);
                t.finished = true;
            }
            RunEvent::Warning { message } => {
                if self.warnings.len() < MAX_VIEW_WARNINGS {
                    self.warnings.push(message.clone());
                }
            }
            RunEvent::Retrying { .. } | RunEvent::Finished { .. } => {}
        }
        let loading = self.tables.iter().filter(|t| !t.finished);
        self.rows_per_second = loading.clone().fold(0.0, |s, t| s + t.rows_per_second);
        self.eta_seconds = loading
            .filter_map(|t| t.eta_seconds)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    }
}

/// A report that could not be encoded, as JSON that says so.
fn json_error(e: &str) -> String {
    serde_json::json!({ "error": format!("the report could not be encoded: {e}") }).to_string()
}

/// The service's status name for a finished run's report.
pub fn status_of(r: &Report) -> &'static str {
    match r.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::SucceededWithRejects => "succeeded_with_rejects",
        RunStatus::Failed if r.error_code.as_deref() == Some("cancelled") => "cancelled",
        RunStatus::Failed => "failed",
    }
}

struct Inner {
    view: RunView,
    log: Vec<Logged>,
    next_seq: u64,
    /// Progress events not kept (see [`MAX_LOGGED_EVENTS`]).
    dropped: u64,
}

/// A run this process started (or resumed): its view, its event log and
/// its stop switch.
pub struct LiveRun {
    pub run_id: String,
    pub stop: Stop,
    inner: Mutex<Inner>,
    /// The next sequence number, published after each event is logged.
    changed: watch::Sender<u64>,
}

impl LiveRun {
    fn new(view: RunView) -> Arc<LiveRun> {
        Arc::new(LiveRun {
            run_id: view.run_id.clone(),
            stop: Stop::default(),
            inner: Mutex::new(Inner {
                view,
                log: Vec::new(),
                next_seq: 1,
                dropped: 0,
            }),
            changed: watch::channel(1).0,
        })
    }

    pub fn view(&self) -> Option<RunView> {
        self.inner.lock().ok().map(|i| i.view.clone())
    }

    fn log(&self, event: Event) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Event::Run(e) = &event {
            inner.view.apply(e);
        }
        let keep = match &event {
            Event::Run(RunEvent::Finished { .. }) => true,
            Event::Run(RunEvent::TableProgress { .. }) => inner.log.len() < MAX_LOGGED_EVENTS,
            _ => inner.log.len() < 2 * MAX_LOGGED_EVENTS,
        };
        if keep {
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.log.push(Logged { seq, event });
            self.changed.send_replace(inner.next_seq);
        } else {
            inner.dropped += 1;
        }
    }

    /// Marks the run finished with its report (the engine's `finished`
    /// event has been logged already, or the run never started).
    fn finish(&self, status: &str, report: Option<&Report>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.view.status = status.to_string();
            inner.view.finished_at = Some(crate::ledger::now());
            inner.view.phase = None;
            inner.view.rows_per_second = 0.0;
            inner.view.eta_seconds = None;
            if let Some(r) = report {
                inner.view.error = r.error.clone();
                inner.view.error_code = r.error_code.clone();
                inner.view.report = serde_json::to_value(r).ok();
            }
            let next = inner.next_seq;
            self.changed.send_replace(next);
        }
    }

    /// A finished run changed after its end (rolled back).
    pub fn set_status(&self, status: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.view.status = status.to_string();
        }
    }

    /// The run's events after `after` (0: all), then live ones as they come,
    /// ending after the run finishes.
    pub fn events(self: &Arc<Self>, after: u64) -> impl Stream<Item = Logged> + Send + 'static {
        let rx = self.changed.subscribe();
        let state = (self.clone(), rx, after, std::collections::VecDeque::new());
        futures_util::stream::unfold(state, |(run, mut rx, mut last, mut pending)| async move {
            loop {
                if let Some(l) = pending.pop_front() {
                    return Some((l, (run, rx, last, pending)));
                }
                let finished = {
                    let inner = run.inner.lock().ok()?;
                    let from = inner.log.partition_point(|l| l.seq <= last);
                    for l in &inner.log[from..] {
                        pending.push_back(l.clone());
                    }
                    if let Some(l) = pending.back() {
                        last = l.seq;
                    }
                    inner.view.is_finished()
                };
                if !pending.is_empty() {
                    continue;
                }
                if finished {
                    return None;
                }
                // The sender lives as long as `run`, which this stream holds.
                rx.changed().await.ok()?;
            }
        })
    }
}

impl Events for LiveRun {
    fn emit(&self, event: &RunEvent) {
        self.log(Event::Run(event.clone()));
    }
}

/// Why a run was not admitted.
#[derive(Debug)]
pub enum Refused {
    /// Every slot and queue place is taken.
    Full { admitted: usize },
}

/// Every run of this process.
pub struct Runs {
    pub store: Store,
    live: Mutex<HashMap<String, Arc<LiveRun>>>,
    /// Finished live runs, oldest first, for pruning.
    finished: Mutex<std::collections::VecDeque<String>>,
    slots: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Runs {
    pub fn new(store: Store, max_concurrent: usize, max_queued: usize) -> Arc<Runs> {
        Arc::new(Runs {
            store,
            live: Mutex::new(HashMap::new()),
            finished: Mutex::new(Default::default()),
            slots: Arc::new(Semaphore::new(max_concurrent)),
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted: max_concurrent + max_queued,
            tasks: Mutex::new(Vec::new()),
        })
    }

    pub fn live(&self, run_id: &str) -> Option<Arc<LiveRun>> {
        self.live.lock().ok()?.get(run_id).cloned()
    }

    /// Runs admitted and not finished (running or queued).
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    /// Takes a place for a run, or refuses when all are taken.
    pub fn admit(self: &Arc<Self>) -> Result<Admission, Refused> {
        let mut cur = self.admitted.load(Ordering::SeqCst);
        loop {
            if cur >= self.max_admitted {
                return Err(Refused::Full { admitted: cur });
            }
            match self
                .admitted
                .compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    return Ok(Admission {
                        counter: self.admitted.clone(),
                    });
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Starts `opts` (with `plan`, when resuming) as run `row.run_id` on a
    /// task of its own; it waits for a slot first.
    pub fn spawn(
        self: &Arc<Self>,
        admission: Admission,
        row: &RunRow,
        plan: Option<Plan>,
        mut opts: MigrateOptions,
    ) -> Arc<LiveRun> {
        let view = RunView {
            run_id: row.run_id.clone(),
            status: "queued".into(),
            from: row.from.clone(),
            to: row.to.clone(),
            created_by: row.created_by.clone(),
            created_at: row.created_at.clone(),
            started_at: None,
            finished_at: None,
            phase: None,
            tables: Vec::new(),
            rows_per_second: 0.0,
            eta_seconds: None,
            warnings: Vec::new(),
            error: None,
            error_code: None,
            report: None,
        };
        let live = LiveRun::new(view);
        live.log(Event::Service(ServiceEvent::Queued {
            run_id: row.run_id.clone(),
        }));
        opts.stop = live.stop.clone();
        if let Ok(mut m) = self.live.lock() {
            m.insert(row.run_id.clone(), live.clone());
        }
        let (runs, run) = (self.clone(), live.clone());
        let task = tokio::spawn(async move {
            let _admission = admission;
            // The semaphore is never closed.
            let Ok(_slot) = runs.slots.clone().acquire_owned().await else {
                return;
            };
            if run.stop.requested() {
                // Cancelled while queued: nothing was touched.
                let _ = runs
                    .store
                    .set_status(
                        &run.run_id,
                        "cancelled",
                        Some("cancelled while queued".into()),
                    )
                    .await;
                run.finish("cancelled", None);
            } else {
                if let Err(e) = runs.store.set_status(&run.run_id, "running", None).await {
                    tracing::warn!(run = run.run_id, "{e}");
                }
                let events: Arc<dyn Events> = run.clone();
                let report = engine::execute(plan.as_ref(), opts, events).await;
                let status = status_of(&report);
                let end = RunEnd {
                    status: status.to_string(),
                    rows_written: report.tables.iter().map(|t| t.rows_written as i64).sum(),
                    rows_rejected: report.rows_rejected() as i64,
                    duration_ms: report.duration_ms as i64,
                    error: report.error.clone(),
                    report: serde_json::to_string(&report)
                        .unwrap_or_else(|e| json_error(&e.to_string())),
                };
                if let Err(e) = runs.store.finish_run(&run.run_id, end).await {
                    tracing::warn!(run = run.run_id, "{e}");
                }
                run.finish(status, Some(&report));
            }
            runs.retire(&run.run_id);
        });
        if let Ok(mut t) = self.tasks.lock() {
            t.retain(|h| !h.is_finished());
            t.push(task);
        }
        live
    }

    /// A finished run stays in memory for replay, up to [`MAX_FINISHED_LIVE`].
    fn retire(&self, run_id: &str) {
        let Ok(mut f) = self.finished.lock() else {
            return;
        };
        // A resumed run finishes again: it is listed once, as its latest end.
        f.retain(|id| id != run_id);
        f.push_back(run_id.to_string());
        while f.len() > MAX_FINISHED_LIVE {
            let Some(old) = f.pop_front() else { break };
            if let Ok(mut m) = self.live.lock() {
                // Never a run that is going again (resumed since it finished).
                if m.get(&old)
                    .and_then(|r| r.view())
                    .is_some_and(|v| v.is_finished())
                {
                    m.remove(&old);
                }
            }
        }
    }

    /// Asks a live run to stop after its batch in flight.
    pub fn cancel(&self, run: &LiveRun, by: &str) {
        run.stop.request();
        run.log(Event::Service(ServiceEvent::CancelRequested {
            run_id: run.run_id.clone(),
            by: by.to_string(),
        }));
    }

    /// Shutdown: every run is asked to stop after its batch in flight, and
    /// awaited; each ends `cancelled`, resumable from its ledger.
    pub async fn stop_all(&self) {
        let runs: Vec<Arc<LiveRun>> = match self.live.lock() {
            Ok(m) => m.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for r in &runs {
            if r.view().is_some_and(|v| !v.is_finished()) {
                self.cancel(r, "shutdown");
            }
        }
        let tasks: Vec<JoinHandle<()>> = match self.tasks.lock() {
            Ok(mut t) => t.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// A place taken by an admitted run; released when the run's task ends
/// (or when a request that took it fails before starting the run).
pub struct Admission {
    counter: Arc<AtomicUsize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}
