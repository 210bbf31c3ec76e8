//! Progress bars on a terminal, drawn from the engine's run events (the
//! engine computes rows per second and the time left; the bars show them).

use std::collections::HashMap;
use std::sync::Mutex;

use ferry::engine::{Events, RunEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One bar per table, hidden when stderr is not a terminal.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    enabled: bool,
}

impl Bars {
    pub fn new(enabled: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            enabled,
        }
    }

    /// Removes the bars before the summary is printed.
    pub fn clear(&self) {
        if self.enabled {
            let _ = self.multi.clear();
        }
    }

    fn bar(&self, table: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(table).cloned()
    }
}

/// `1.2k rows/s`, `340 rows/s`.
fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.1}M rows/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k rows/s", r / 1e3)
    } else {
        format!("{r:.0} rows/s")
    }
}

/// `1h02m`, `3m05s`, `12s`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

impl Events for Bars {
    fn emit(&self, event: &RunEvent) {
        if !self.enabled {
            return;
        }
        match event {
            RunEvent::Phase { phase } => {
                let _ = self.multi.println(phase.describe());
            }
            RunEvent::TableStarted { table, rows } => {
                let bar = self.multi.add(ProgressBar::new(*rows));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(table.clone());
                if let Ok(mut b) = self.bars.lock() {
                    b.insert(table.clone(), bar);
                }
            }
            RunEvent::TableProgress {
                table,
                done,
                total,
                rows_per_second,
                eta_seconds,
            } => {
                if let Some(bar) = self.bar(table) {
                    bar.set_length(*total);
                    bar.set_position(*done);
                    bar.set_message(match eta_seconds {
                        Some(eta) => format!("{}  eta {}", rate(*rows_per_second), duration(*eta)),
                        None => String::new(),
                    });
                }
            }
            RunEvent::TableFinished { table, .. } => {
                if let Some(bar) = self.bar(table) {
                    bar.finish();
                }
            }
            RunEvent::Retrying {
                attempt,
                delay_ms,
                reason,
            } => {
                let _ = self.multi.println(format!(
                    "retrying (attempt {attempt}) in {:.1}s after: {reason}",
                    *delay_ms as f64 / 1000.0
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_durations_read_well() {
        assert_eq!(rate(250_300.0), "250.3k rows/s");
        assert_eq!(rate(42.0), "42 rows/s");
        assert_eq!(duration(5.2), "5s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
    }
}
