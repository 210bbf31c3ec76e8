//! Latency percentiles by the nearest-rank method: the p-th percentile of n
//! sorted samples is the value at rank ⌈p/100 · n⌉ (1-based), so it is
//! always a latency that was measured, never an interpolation.

use serde::Serialize;

/// Latencies of a set of queries, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The nearest-rank `p`-th percentile of `sorted` (µs); 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// Summarises latencies in µs (sorts them).
    pub fn of(us: &mut [u64]) -> Summary {
        us.sort_unstable();
        let ms = |v: u64| (v as f64 / 1000.0 * 1000.0).round() / 1000.0;
        let sum: u64 = us.iter().sum();
        Summary {
            count: us.len() as u64,
            p50_ms: ms(percentile(us, 50.0)),
            p95_ms: ms(percentile(us, 95.0)),
            p99_ms: ms(percentile(us, 99.0)),
            max_ms: ms(us.last().copied().unwrap_or(0)),
            mean_ms: if us.is_empty() {
                0.0
            } else {
                ((sum as f64 / us.len() as f64) / 1000.0 * 1000.0).round() / 1000.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_on_known_samples() {
        // 1..=100: the p-th percentile is p itself.
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        // The classic five-sample example: 15 20 35 40 50.
        let v = [15, 20, 35, 40, 50];
        assert_eq!(percentile(&v, 5.0), 15);
        assert_eq!(percentile(&v, 30.0), 20);
        assert_eq!(percentile(&v, 40.0), 20);
        assert_eq!(percentile(&v, 50.0), 35);
        assert_eq!(percentile(&v, 100.0), 50);
        assert_eq!(percentile(&[], 95.0), 0);
        assert_eq!(percentile(&[7], 99.0), 7);
    }

    #[test]
    fn a_summary_is_in_milliseconds_from_microseconds() {
        let mut v = vec![3000, 1000, 2000, 4000];
        let s = Summary::of(&mut v);
        assert_eq!(s.count, 4);
        assert_eq!(
            (s.p50_ms, s.p95_ms, s.max_ms, s.mean_ms),
            (2.0, 4.0, 4.0, 2.5)
        );
        assert_eq!(Summary::of(&mut []), Summary::default());
    }
}
