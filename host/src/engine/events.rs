//! What a run publishes while it works: its phases, each table's progress
//! with rows per second and an estimate of the time left, warnings, retries
//! and the end. The CLI draws progress bars from these events; a service
//! streams the same ones to its clients. Rates and ETAs are computed here,
//! once, so every consumer shows the same numbers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::report::RunStatus;

/// A stage of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Introspection, sampling, the plugins' schema hooks.
    Planning,
    /// Reading, casting, plugins and writing every table.
    Loading,
    /// Keys, indexes and foreign keys (violating rows quarantined first).
    Constraints,
    /// The end-of-run verification.
    Verifying,
}

impl Phase {
    /// How the CLI says it.
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Planning => "planning",
            Phase::Loading => "loading",
            Phase::Constraints => "creating keys, indexes and foreign keys",
            Phase::Verifying => "verifying",
        }
    }
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run has an id and is about to plan.
    Started {
        run_id: String,
        source: String,
        target: String,
    },
    Phase {
        phase: Phase,
    },
    /// A table's load began; `rows` is the source's count (an estimate for
    /// sources that cannot count before reading).
    TableStarted {
        table: String,
        rows: u64,
    },
    /// Rows of a table went through (written or rejected), cumulative.
    TableProgress {
        table: String,
        done: u64,
        total: u64,
        rows_per_second: f64,
        /// Seconds left at the current rate; `None` before any row.
        eta_seconds: Option<f64>,
    },
    TableFinished {
        table: String,
        read: u64,
        written: u64,
        rejected: u64,
    },
    Warning {
        message: String,
    },
    /// A transient failure; the run continues from its last checkpoints
    /// after `delay_ms`.
    Retrying {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    Finished {
        run_id: String,
        status: RunStatus,
        error: Option<String>,
    },
}

/// Receives a run's events. Implementations must be quick: they are called
/// from the pipeline (after each committed batch).
pub trait Events: Send + Sync {
    fn emit(&self, event: &RunEvent);
}

/// Discards every event.
pub struct NoEvents;

impl Events for NoEvents {
    fn emit(&self, _event: &RunEvent) {}
}

/// Every event, kept in order (tests, and late subscribers that need what
/// they missed).
#[derive(Default)]
pub struct Recorded(Mutex<Vec<RunEvent>>);

impl Recorded {
    pub fn events(&self) -> Vec<RunEvent> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Events for Recorded {
    fn emit(&self, event: &RunEvent) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event.clone());
        }
    }
}

/// Rows per second and the time left, from rows done over elapsed seconds.
pub fn rate_and_eta(done: u64, total: u64, elapsed_secs: f64) -> (f64, Option<f64>) {
    if elapsed_secs <= 0.0 || done == 0 {
        return (0.0, None);
    }
    let rate = done as f64 / elapsed_secs;
    let left = total.saturating_sub(done) as f64;
    (rate, Some(left / rate))
}

/// The engine's side of [`Events`]: keeps each table's count and start, and
/// turns "n more rows" into progress events with rates.
#[derive(Clone)]
pub(crate) struct Progress {
    sink: Arc<dyn Events>,
    tables: Arc<Mutex<HashMap<String, TableClock>>>,
}

struct TableClock {
    started: Instant,
    /// Rows already done when this process started on the table (a resume).
    base: u64,
    done: u64,
    total: u64,
}

impl Progress {
    pub(crate) fn new(sink: Arc<dyn Events>) -> Progress {
        Progress {
            sink,
            tables: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub(crate) fn emit(&self, e: RunEvent) {
        self.sink.emit(&e);
    }

    pub(crate) fn phase(&self, phase: Phase) {
        self.emit(RunEvent::Phase { phase });
    }

    pub(crate) fn warning(&self, message: String) {
        self.emit(RunEvent::Warning { message });
    }

    /// A table starts with `total` rows, `already` of them done by an
    /// earlier attempt (they do not count toward this attempt's rate).
    pub(crate) fn table_started(&self, table: &str, total: u64, already: u64) {
        if let Ok(mut t) = self.tables.lock() {
            t.insert(
                table.to_string(),
                TableClock {
                    started: Instant::now(),
                    base: already,
                    done: already,
                    total: total.max(already),
                },
            );
        }
        self.emit(RunEvent::TableStarted {
            table: table.to_string(),
            rows: total,
        });
        if already > 0 {
            self.rows(table, 0);
        }
    }

    /// `n` more rows of `table` are written or rejected.
    pub(crate) fn rows(&self, table: &str, n: u64) {
        let event = {
            let Ok(mut t) = self.tables.lock() else {
                return;
            };
            let Some(c) = t.get_mut(table) else {
                return;
            };
            c.done += n;
            c.total = c.total.max(c.done);
            let (rate, eta) = rate_and_eta(
                c.done - c.base,
                c.total - c.base,
                c.started.elapsed().as_secs_f64(),
            );
            RunEvent::TableProgress {
                table: table.to_string(),
                done: c.done,
                total: c.total,
                rows_per_second: rate,
                eta_seconds: eta,
            }
        };
        self.emit(event);
    }

    pub(crate) fn table_finished(&self, r: &super::report::TableReport) {
        self.emit(RunEvent::TableFinished {
            table: r.name.clone(),
            read: r.rows_read,
            written: r.rows_written,
            rejected: r.rows_rejected,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_only_this_attempts_rows() {
        assert_eq!(rate_and_eta(0, 100, 1.0), (0.0, None));
        assert_eq!(rate_and_eta(50, 100, 2.0), (25.0, Some(2.0)));
        let rec = Arc::new(Recorded::default());
        let p = Progress::new(rec.clone());
        p.table_started("t", 100, 40);
        p.rows("t", 10);
        let ev = rec.events();
        assert!(matches!(&ev[0], RunEvent::TableStarted { rows: 100, .. }));
        match ev.last() {
            Some(RunEvent::TableProgress { done, total, .. }) => {
                assert_eq!((*done, *total), (50, 100));
            }
            other => panic!("{other:?}"),
        }
    }
}
