//! Transient failures — a server restarting, a connection reset, a
//! serialization failure — are retried by the engine itself: it waits (with
//! a bounded, doubling backoff), reads the run's checkpoints back from the
//! ledger and continues from them, as `ferry resume` would, so the run
//! completes without the operator. When the attempts are spent the run
//! fails cleanly, typed, and `ferry resume` completes it later.
//!
//! Only runs with a ledger are retried (the checkpoints are what a retry
//! continues from); a consolidation is not resumable yet, so not retried.

use std::time::Duration;

use serde::Deserialize;

/// Attempts after the first failure, by default: 5. With a 0.5 s first
/// delay doubling to a 30 s cap that is about 15 s of waiting in all —
/// enough for a server restart or a failover to finish, short enough that
/// an outage is reported rather than hidden.
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// The first wait: 500 ms.
pub const DEFAULT_FIRST_DELAY_MS: u64 = 500;
/// The longest wait between attempts: 30 s.
pub const DEFAULT_MAX_DELAY_MS: u64 = 30_000;

/// How transient failures are retried (`[retry]` in the config, `--retries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first failure; 0 turns retrying off.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_ATTEMPTS,
            first_delay: Duration::from_millis(DEFAULT_FIRST_DELAY_MS),
            max_delay: Duration::from_millis(DEFAULT_MAX_DELAY_MS),
        }
    }
}

impl RetryPolicy {
    /// No retries: a transient failure fails the run (for `resume` later).
    pub fn off() -> Self {
        RetryPolicy {
            attempts: 0,
            ..Default::default()
        }
    }

    /// The wait before attempt `n` (1-based): the first delay, doubled each
    /// attempt, at most the maximum.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// `[retry]` in ferry.toml, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    /// Attempts after the first failure (0: off).
    pub attempts: Option<u32>,
    /// The first wait, in milliseconds; it doubles with each attempt.
    pub first_delay_ms: Option<u64>,
    /// The longest wait, in milliseconds.
    pub max_delay_ms: Option<u64>,
}

impl RetrySection {
    /// The policy, or why the section is wrong.
    pub fn build(&self) -> Result<RetryPolicy, String> {
        let d = RetryPolicy::default();
        let first = self
            .first_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(d.first_delay);
        let max = self
            .max_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(d.max_delay);
        if first.is_zero() || first > max {
            return Err(format!(
                "[retry]: first_delay_ms ({}) must be above 0 and at most max_delay_ms ({})",
                first.as_millis(),
                max.as_millis()
            ));
        }
        Ok(RetryPolicy {
            attempts: self.attempts.unwrap_or(d.attempts),
            first_delay: first,
            max_delay: max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        let ms: Vec<u128> = (1..=8).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(p.delay(100), p.max_delay);
        assert!(
            RetrySection {
                first_delay_ms: Some(0),
                ..Default::default()
            }
            .build()
            .is_err()
        );
    }
}
