//! The results of a benchmark run, and how they are printed: aligned text
//! tables for people, the same data as JSON (`--json`) for scripts.

use std::time::Duration;

use serde::Serialize;

use crate::generate::Sizes;
use crate::pg::EndState;
use crate::run::{Case, Pair, Verified};

/// The budget for a transformer: its case may take at most this much
/// longer than the load alone (`ferry --verify off`). Only flagged in the
/// report, not a failure: the wall time depends on the machine.
pub const TRANSFORM_COST_TARGET: f64 = 0.10;

/// The results for one source size: one comparison per `--pairs` entry.
#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub rows: u64,
    pub sizes: Sizes,
    pub repeat: usize,
    /// ferry-bench's own peak RSS: no child's figure can be lower (see
    /// `run::own_peak_rss`).
    pub rss_floor_bytes: u64,
    pub comparisons: Vec<Comparison>,
}

/// One comparison: the anchor and ferry's cases on the same route.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub pair: Pair,
    /// The target server: `15.20 at 127.0.0.1:5432`.
    pub server: String,
    /// The anchor first (`Pair::cases` order).
    pub cases: Vec<CaseReport>,
    /// The same ferry cases with another build (`--baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
}

/// Another ferry build's results on the same cases, in the same rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub binary: String,
    pub cases: Vec<CaseReport>,
}

/// The results of one case over its repeats.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: Case,
    pub label: &'static str,
    /// Wall time of each successful run, in milliseconds.
    pub walls_ms: Vec<f64>,
    pub best_ms: Option<f64>,
    pub median_ms: Option<f64>,
    /// Source rows / best wall time.
    pub rows_per_s: Option<f64>,
    /// rows/s ÷ the anchor's rows/s (= the anchor's wall ÷ this wall;
    /// above 1 this case is faster).
    pub vs_anchor: Option<f64>,
    /// The median over rounds of the anchor's wall ÷ this case's wall in the
    /// same round. The machine's speed drifts between rounds (±10% on a
    /// shared VM); cases of one round ran minutes apart at most, so the
    /// round's ratio cancels most of the drift that best and median walls,
    /// taken from different rounds, keep. `None` unless every round of both
    /// cases succeeded and there are at least two.
    pub vs_anchor_paired: Option<f64>,
    /// Best wall ÷ the best wall of `ferry --verify off`, minus 1: what the
    /// verification or the transformer adds to the load (ferry cases only).
    pub vs_load: Option<f64>,
    /// The same with median walls: on a noisy machine the two bracket the
    /// real cost.
    pub vs_load_median: Option<f64>,
    /// The median over rounds of this wall ÷ `ferry --verify off`'s in the
    /// same round, minus 1 (see `vs_anchor_paired`).
    pub vs_load_paired: Option<f64>,
    /// ferry's own `verify.duration_ms`, median over the runs (verifying
    /// case only).
    pub verify_ms: Option<f64>,
    /// ferry's verify checks per table, from the first run.
    pub verify_checks: Vec<String>,
    /// The largest peak RSS over the runs, in bytes.
    pub peak_rss_bytes: u64,
    /// The end state of the first run that got that far.
    pub end_state: Option<EndState>,
    /// Whether the data checksums equal those of `ferry --verify off`.
    pub matches_ferry: Option<DataMatch>,
    /// Why the case failed (empty: it did not).
    pub errors: Vec<String>,
}

/// Which data checksums of a case equal those of ferry's plain load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataMatch {
    pub users: bool,
    pub sessions_but_score: bool,
    pub scores: bool,
}

impl DataMatch {
    /// The checksums that differ, by name (empty: none).
    fn differing(self) -> Vec<&'static str> {
        [
            (self.users, "users"),
            (self.sessions_but_score, "sessions"),
            (self.scores, "scores"),
        ]
        .into_iter()
        .filter_map(|(same, name)| (!same).then_some(name))
        .collect()
    }
}

/// The median over rounds of `num[k] ÷ den[k]`: `None` unless both hold
/// the same number of runs (every round succeeded), at least two.
fn paired(num: &[f64], den: &[f64]) -> Option<f64> {
    (num.len() == den.len() && num.len() >= 2)
        .then(|| median(num.iter().zip(den).map(|(n, d)| n / d).collect()))
        .flatten()
}

/// The median of `values` (`None` if empty).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[n / 2]),
        n => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

impl CaseReport {
    /// Aggregate the runs of `case`: `walls` of the successful runs, the peak
    /// RSS over all, the first end state, the errors of any run.
    pub fn new(
        case: Case,
        sizes: Sizes,
        walls: &[Duration],
        peak_rss_bytes: u64,
        end_state: Option<EndState>,
        errors: Vec<String>,
    ) -> Self {
        let walls_ms: Vec<f64> = walls.iter().map(|w| w.as_secs_f64() * 1e3).collect();
        let best_ms = walls_ms.iter().copied().min_by(f64::total_cmp);
        let median_ms = median(walls_ms.clone());
        CaseReport {
            case,
            label: case.label(),
            walls_ms,
            best_ms,
            median_ms,
            rows_per_s: best_ms.map(|b| sizes.total() as f64 / (b / 1e3)),
            vs_anchor: None,
            vs_anchor_paired: None,
            vs_load: None,
            vs_load_median: None,
            vs_load_paired: None,
            verify_ms: None,
            verify_checks: Vec::new(),
            peak_rss_bytes,
            end_state,
            matches_ferry: None,
            errors,
        }
    }

    /// Record what ferry's verification reported over the runs.
    pub fn set_verify(&mut self, runs: &[Verified]) {
        self.verify_ms = median(runs.iter().map(|v| v.duration_ms as f64).collect());
        self.verify_checks = runs.first().map(|v| v.checks.clone()).unwrap_or_default();
    }

    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl SizeReport {
    /// Fill in what compares cases, in every comparison.
    pub fn compare(&mut self) {
        for c in &mut self.comparisons {
            c.compare();
        }
    }

    pub fn ok(&self) -> bool {
        self.comparisons.iter().all(Comparison::ok)
    }
}

impl Comparison {
    /// Fill in what compares cases: the ratio to the anchor, the cost over
    /// the load alone, the checksums against those of ferry's plain load
    /// (`--verify off`, else the verifying case).
    pub fn compare(&mut self) {
        let find = |c: Case| self.cases.iter().find(|r| r.case == c);
        let anchor_rate = find(self.pair.anchor()).and_then(|p| p.rows_per_s);
        let anchor_walls = find(self.pair.anchor()).map(|p| p.walls_ms.clone());
        let load = find(self.pair.load_case());
        let load_walls = load.map(|l| l.walls_ms.clone());
        let load_ms = load.and_then(|l| l.best_ms);
        let load_median_ms = load.and_then(|l| l.median_ms);
        let verify_case = self.pair.cases().iter().copied().find(|c| c.verifies());
        let ferry_state = [Some(self.pair.load_case()), verify_case]
            .into_iter()
            .flatten()
            .find_map(|c| find(c).and_then(|f| f.end_state.clone()));
        for r in &mut self.cases {
            r.vs_anchor = r.rows_per_s.zip(anchor_rate).map(|(a, p)| a / p);
            r.vs_anchor_paired = anchor_walls.as_ref().and_then(|a| paired(a, &r.walls_ms));
            let anchor = r.case.is_anchor();
            r.vs_load_paired = load_walls
                .as_ref()
                .filter(|_| !anchor)
                .and_then(|l| paired(&r.walls_ms, l))
                .map(|v| v - 1.0);
            r.vs_load = r
                .best_ms
                .zip(load_ms)
                .filter(|_| !anchor)
                .map(|(a, l)| a / l - 1.0);
            r.vs_load_median = r
                .median_ms
                .zip(load_median_ms)
                .filter(|_| !anchor)
                .map(|(a, l)| a / l - 1.0);
            r.matches_ferry = r
                .end_state
                .as_ref()
                .zip(ferry_state.as_ref())
                .map(|(e, f)| DataMatch {
                    users: e.users_md5 == f.users_md5,
                    sessions_but_score: e.sessions_md5 == f.sessions_md5,
                    scores: e.score_md5 == f.score_md5,
                });
            let unexpected: Vec<&str> = r
                .matches_ferry
                .map(DataMatch::differing)
                .unwrap_or_default()
                .into_iter()
                .filter(|d| !r.case.may_differ_in().contains(d))
                .collect();
            if !unexpected.is_empty() {
                let why = format!(
                    "{} data differ from ferry --verify off's",
                    unexpected.join(", ")
                );
                // `compare` may run again: one entry per difference.
                if !r.errors.contains(&why) {
                    r.errors.push(why);
                }
            }
        }
    }

    pub fn ok(&self) -> bool {
        self.cases.iter().all(CaseReport::ok)
            && self
                .baseline
                .as_ref()
                .is_none_or(|b| b.cases.iter().all(CaseReport::ok))
    }

    /// The anchor's short name, for the `vs …` column.
    fn anchor_name(&self) -> &'static str {
        match self.pair {
            Pair::SqlitePg => "pipe",
            Pair::PgPg => "pg_dump",
            Pair::SqliteMariadb => "LOAD DATA",
        }
    }

    /// Which client processes the anchor's peak RSS covers.
    fn anchor_rss_note(&self) -> &'static str {
        match self.pair {
            Pair::SqlitePg => "pipe = sqlite3 + psql",
            Pair::PgPg => "pg_dump | psql = pg_dump + psql",
            Pair::SqliteMariadb => {
                "LOAD DATA = the largest of sqlite3 (each table) and mariadb, run one after the other"
            }
        }
    }

    /// How the data checksums are computed on this comparison's target.
    fn checksum_note(&self) -> &'static str {
        match self.pair {
            Pair::SqlitePg | Pair::PgPg => {
                "md5 of the md5s of each table's rows as text, in id order \
                 (TimeZone UTC, extra_float_digits = 3); sessions without score; \
                 scores alone: md5(string_agg(score::text, ',' ORDER BY id))"
            }
            Pair::SqliteMariadb => {
                "sum of the first 64 bits of the md5 of each row's QUOTE()d columns \
                 (blobs as hex); sessions without score; scores alone the same over score"
            }
        }
    }
}

/// Everything, as text.
pub fn render_text(reports: &[SizeReport]) -> String {
    let mut out = String::new();
    for r in reports {
        for c in &r.comparisons {
            out.push_str(&render_comparison(r, c));
            out.push('\n');
        }
    }
    if reports.len() > 1 {
        out.push_str(&render_rss_by_size(reports));
    }
    out
}

/// One comparison at one size: the timings, then the data and the end state.
fn render_comparison(r: &SizeReport, cmp: &Comparison) -> String {
    let mut out = format!(
        "ferry-bench: {} rows ({} users + {} sessions), {} {}, {}\n",
        thousands(r.sizes.total()),
        thousands(r.sizes.users),
        thousands(r.sizes.sessions),
        cmp.pair.route(),
        cmp.server,
        if r.repeat == 1 {
            "1 run per case".to_string()
        } else {
            format!("best and median of {} runs per case", r.repeat)
        },
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".to_string());
    let rows: Vec<Vec<String>> = cmp
        .cases
        .iter()
        .map(|c| {
            vec![
                c.label.to_string(),
                opt(c.best_ms.map(secs)),
                opt(c.median_ms.map(secs)),
                opt(c.rows_per_s.map(|v| thousands(v.round() as u64))),
                opt(c.vs_anchor.map(|v| format!("{v:.2}x"))),
                opt(c.vs_anchor_paired.map(|v| format!("{v:.2}x"))),
                opt(c.vs_load.map(percent)),
                opt(c.vs_load_paired.map(percent)),
                opt((!c.walls_ms.is_empty()).then(|| mib(c.peak_rss_bytes))),
                end_state_text(c, r.sizes),
            ]
        })
        .collect();
    let anchor = cmp.anchor_name();
    let vs_anchor = format!("vs {anchor}");
    out.push_str(&table(
        &[
            "case",
            "wall",
            "median",
            "rows/s",
            &vs_anchor,
            "paired",
            "vs load",
            "paired",
            "peak RSS",
            "end state",
        ],
        &[false, true, true, true, true, true, true, true, true, false],
        &rows,
    ));
    out.push_str(&format!(
        "(wall: best run; vs {anchor}: rows/s ÷ the {anchor}'s rows/s, higher is faster; \
         vs load: best wall over ferry --verify off's, what verifying or the transformer adds; \
         paired: the median over rounds of the same ratio within each round, which cancels the machine's drift between rounds)\n",
    ));
    out.push_str(&format!(
        "(peak RSS: ru_maxrss from wait4, {}; Linux counts ferry-bench's own {} into each child)\n",
        cmp.anchor_rss_note(),
        mib(r.rss_floor_bytes)
    ));
    for c in cmp.cases.iter().filter(|c| !c.ok()) {
        for e in &c.errors {
            out.push_str(&format!("  {} failed: {e}\n", c.label));
        }
    }
    out.push_str(&verify_text(cmp));
    out.push_str(&transform_cost_text(cmp));
    out.push_str(&baseline_text(r.sizes, cmp));

    out.push_str(&format!("\ndata: {}\n", cmp.checksum_note()));
    out.push_str(&legend(cmp));
    let rows: Vec<Vec<String>> = cmp
        .cases
        .iter()
        .filter_map(|c| c.end_state.as_ref().map(|e| (c, e)))
        .map(|(c, e)| {
            let differing = c
                .matches_ferry
                .map(DataMatch::differing)
                .unwrap_or_default();
            let expected = differing.iter().all(|d| c.case.may_differ_in().contains(d));
            vec![
                c.case.slug().to_string(),
                e.users_md5.clone(),
                e.sessions_md5.clone(),
                e.score_md5.clone(),
                format!(
                    "{} of {}",
                    thousands(e.scores_differing),
                    thousands(e.sessions)
                ),
                if differing.is_empty() {
                    String::new()
                } else {
                    let how = if expected {
                        "differ (expected)"
                    } else {
                        "DIFFER"
                    };
                    format!("{} {how} from ferry's", differing.join(", "))
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &["case", "users", "sessions", "scores", "scores ≠ source", ""],
        &[false, false, false, false, true, false],
        &rows,
    ));

    out.push_str("\ntarget end state: column types, constraint and index names\n");
    let states: Vec<(&str, &EndState)> = cmp
        .cases
        .iter()
        .filter_map(|c| c.end_state.as_ref().map(|e| (c.case.slug(), e)))
        .collect();
    let mut rows = side_by_side(&states, |e| {
        e.columns
            .iter()
            .map(|c| (format!("{}.{}", c.table, c.name), c.type_text()))
            .collect()
    });
    rows.extend(side_by_side(&states, |e| {
        e.keys
            .iter()
            .map(|k| (format!("{}: {}", k.table, k.definition), k.name.clone()))
            .collect()
    }));
    let mut header = vec!["column / key"];
    header.extend(states.iter().map(|(label, _)| *label));
    header.push("");
    let right = vec![false; header.len()];
    out.push_str(&table(&header, &right, &rows));
    for (label, e) in &states {
        let other: Vec<&str> = e
            .tables
            .iter()
            .map(String::as_str)
            .filter(|t| !["users", "sessions"].contains(t))
            .collect();
        if !other.is_empty() {
            out.push_str(&format!("{label}: other tables: {}\n", other.join(", ")));
        }
    }
    out
}

/// The baseline build beside this one, case by case.
fn baseline_text(sizes: Sizes, r: &Comparison) -> String {
    let Some(b) = &r.baseline else {
        return String::new();
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".to_string());
    let rows: Vec<Vec<String>> = b
        .cases
        .iter()
        .map(|base| {
            let this = r.cases.iter().find(|c| c.case == base.case);
            let ratio = |f: fn(&CaseReport) -> Option<f64>| {
                this.and_then(f)
                    .zip(f(base))
                    .map(|(t, b)| format!("{:.2}x", b / t))
            };
            vec![
                base.label.to_string(),
                opt(base.best_ms.map(secs)),
                opt(this.and_then(|t| t.best_ms).map(secs)),
                opt(ratio(|c| c.best_ms)),
                opt(base.median_ms.map(secs)),
                opt(this.and_then(|t| t.median_ms).map(secs)),
                opt(ratio(|c| c.median_ms)),
                opt((!base.walls_ms.is_empty()).then(|| mib(base.peak_rss_bytes))),
                opt(this
                    .filter(|t| !t.walls_ms.is_empty())
                    .map(|t| mib(t.peak_rss_bytes))),
                end_state_text(base, sizes),
            ]
        })
        .collect();
    let mut out = format!(
        "
this build beside the baseline {} (same rounds):
",
        b.binary
    );
    out.push_str(&table(
        &[
            "case",
            "baseline",
            "this",
            "speedup",
            "baseline median",
            "this median",
            "speedup",
            "baseline RSS",
            "this RSS",
            "baseline end state",
        ],
        &[false, true, true, true, true, true, true, true, true, false],
        &rows,
    ));
    out.push_str(
        "(speedup: baseline wall ÷ this build's wall; above 1.00x this build is faster)\n",
    );
    out
}

/// The case names used in the narrower tables, and what they stand for.
fn legend(r: &Comparison) -> String {
    let names: Vec<String> = r
        .cases
        .iter()
        .map(|c| format!("{} = {}", c.case.slug(), c.label))
        .collect();
    format!("({})\n", names.join("; "))
}

/// ferry's own verification in the verifying case: its share of the wall
/// time and what it checked.
fn verify_text(r: &Comparison) -> String {
    let Some(c) = r.cases.iter().find(|c| c.case.verifies()) else {
        return String::new();
    };
    let Some(verify_ms) = c.verify_ms else {
        return String::new();
    };
    let mut out = format!(
        "{}: ferry's report says verify ok, {} of the median {}",
        c.label,
        secs(verify_ms),
        c.median_ms.map_or_else(|| "—".to_string(), secs),
    );
    for check in &c.verify_checks {
        out.push_str("\n  ");
        out.push_str(check);
    }
    out.push('\n');
    out
}

/// The transformer cases against the load alone, with the target.
fn transform_cost_text(r: &Comparison) -> String {
    let costs: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.case.transform().is_some())
        .filter_map(|c| {
            c.vs_load.zip(c.vs_load_median).map(|(best, median)| {
                let flag = |v: f64| {
                    if v > TRANSFORM_COST_TARGET {
                        " OVER"
                    } else {
                        ""
                    }
                };
                let paired = c
                    .vs_load_paired
                    .map(|p| format!(", paired {}{}", percent(p), flag(p)))
                    .unwrap_or_default();
                format!(
                    "{} {}{} (median {}{}{paired})",
                    c.case.slug(),
                    percent(best),
                    flag(best),
                    percent(median),
                    flag(median)
                )
            })
        })
        .collect();
    if costs.is_empty() {
        return String::new();
    }
    format!(
        "transformer cost over ferry --verify off (best wall, median, and the median of each round's ratio; target at most {}): {}\n",
        percent(TRANSFORM_COST_TARGET),
        costs.join(", ")
    )
}

/// One row per label any state has (`items` gives a state's labelled
/// values): the label, each state's value or `(missing)`, and `≠` when they
/// are not all equal.
fn side_by_side(
    states: &[(&str, &EndState)],
    items: impl Fn(&EndState) -> Vec<(String, String)>,
) -> Vec<Vec<String>> {
    let per_state: Vec<Vec<(String, String)>> = states.iter().map(|(_, e)| items(e)).collect();
    let mut labels: Vec<&String> = Vec::new();
    for (label, _) in per_state.iter().flatten() {
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
        .into_iter()
        .map(|label| {
            let cells: Vec<String> = per_state
                .iter()
                .map(|items| {
                    items
                        .iter()
                        .find(|(l, _)| l == label)
                        .map_or_else(|| "(missing)".to_string(), |(_, v)| v.clone())
                })
                .collect();
            let same = cells.iter().all(|c| *c == cells[0]);
            let mut row = vec![label.clone()];
            row.extend(cells);
            row.push(if same { "" } else { "≠" }.to_string());
            row
        })
        .collect()
}

/// `ok`, `ok (scores rounded: …)` or `FAILED: …`.
fn end_state_text(c: &CaseReport, sizes: Sizes) -> String {
    if let Some(first) = c.errors.first() {
        let more = c.errors.len() - 1;
        let first = first.lines().next().unwrap_or_default();
        return if more == 0 {
            format!("FAILED: {first}")
        } else {
            format!("FAILED: {first} (+{more} more)")
        };
    }
    match &c.end_state {
        Some(e) if e.scores_differing > 0 => format!(
            "ok (scores rounded: {} of {} differ)",
            thousands(e.scores_differing),
            thousands(sizes.sessions)
        ),
        Some(_) => "ok".to_string(),
        None => "not checked".to_string(),
    }
}

/// Peak RSS per case at each size: flat memory shows as the same figure.
/// With several comparisons each case is named after its comparison too.
fn render_rss_by_size(reports: &[SizeReport]) -> String {
    let mut header = vec!["peak RSS by size".to_string()];
    header.extend(
        reports
            .iter()
            .map(|r| format!("{} rows", thousands(r.sizes.total()))),
    );
    let pairs: Vec<Pair> = reports
        .first()
        .map(|r| r.comparisons.iter().map(|c| c.pair).collect())
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .flat_map(|&pair| pair.cases().iter().map(move |&case| (pair, case)))
        .map(|(pair, case)| {
            let mut row = vec![if pairs.len() > 1 {
                format!("{pair}: {}", case.label())
            } else {
                case.label().to_string()
            }];
            row.extend(reports.iter().map(|r| {
                r.comparisons
                    .iter()
                    .filter(|c| c.pair == pair)
                    .flat_map(|c| &c.cases)
                    .find(|c| c.case == case)
                    .filter(|c| !c.walls_ms.is_empty())
                    .map_or_else(|| "—".to_string(), |c| mib(c.peak_rss_bytes))
            }));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut right = vec![true; header.len()];
    right[0] = false;
    table(&header, &right, &rows)
}

/// Columns padded to their widest cell, two spaces apart; `right[i]` aligns
/// column `i` to the right. Trailing spaces are trimmed.
pub fn table(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let width = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
            if i > 0 {
                s.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                s.push_str(&pad);
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// `1250000` → `1,250,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A ratio minus one as `+4.2%`.
fn percent(v: f64) -> String {
    format!("{:+.1}%", v * 100.0)
}

/// Milliseconds as `3.35s`.
fn secs(ms: f64) -> String {
    format!("{:.2}s", ms / 1e3)
}

/// Bytes as `9.1 MiB`.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::Key;
    use crate::run::fallback_columns;

    fn state(differing: u64, score_md5: &str) -> EndState {
        EndState {
            users: 250_000,
            sessions: 1_000_000,
            primary_keys: 2,
            unique: 1,
            foreign_keys: 1,
            index: true,
            users_md5: "u1".to_string(),
            sessions_md5: "s1".to_string(),
            score_md5: score_md5.to_string(),
            scores_differing: differing,
            tables: vec![
                "_ferry_rejects".to_string(),
                "sessions".to_string(),
                "users".to_string(),
            ],
            columns: fallback_columns(),
            keys: vec![Key {
                table: "users".to_string(),
                definition: "PRIMARY KEY (id)".to_string(),
                name: "users_pkey".to_string(),
            }],
        }
    }

    fn sample() -> SizeReport {
        let sizes = Sizes::for_total(1_250_000);
        let ms = Duration::from_millis;
        let mut masked = state(0, "aaaa");
        masked.users_md5 = "u2".to_string();
        masked.columns[1].data_type = "character varying(255)".to_string();
        masked.keys.clear();
        let mut verifying = CaseReport::new(
            Case::FerryVerify,
            sizes,
            &[ms(3000), ms(3200), ms(3100)],
            40 << 20,
            Some(state(0, "aaaa")),
            vec![],
        );
        verifying.set_verify(&[
            Verified {
                duration_ms: 900,
                checks: vec!["users: checksum match, sample match".to_string()],
            },
            Verified {
                duration_ms: 1000,
                checks: vec![],
            },
        ]);
        let cmp = Comparison {
            pair: Pair::SqlitePg,
            server: "15.20 at 127.0.0.1:5432".to_string(),
            baseline: None,
            cases: vec![
                CaseReport::new(
                    Case::Pipe,
                    sizes,
                    &[ms(4000), ms(5000), ms(4500)],
                    9_542_042,
                    Some(state(123_456, "bbbb")),
                    vec![],
                ),
                verifying,
                CaseReport::new(
                    Case::FerryLoad,
                    sizes,
                    &[ms(2500), ms(3000), ms(2000)],
                    27_262_976,
                    Some(state(0, "aaaa")),
                    vec![],
                ),
                CaseReport::new(
                    Case::FerryWasm,
                    sizes,
                    &[],
                    0,
                    None,
                    vec!["ferry migrate failed (exit status: 1):\n    boom".to_string()],
                ),
                CaseReport::new(
                    Case::FerryMask,
                    sizes,
                    &[ms(2300)],
                    1 << 25,
                    Some(masked),
                    vec![],
                ),
            ],
        };
        let mut r = SizeReport {
            rows: 1_250_000,
            sizes,
            repeat: 3,
            rss_floor_bytes: 3 << 20,
            comparisons: vec![cmp],
        };
        r.compare();
        r
    }

    /// [`sample`] with the PostgreSQL → PostgreSQL and SQLite → MariaDB
    /// comparisons after it.
    fn all_pairs() -> SizeReport {
        let mut r = sample();
        let sizes = r.sizes;
        let ms = Duration::from_millis;
        let case = |case, wall, rss, differing, score_md5| {
            CaseReport::new(
                case,
                sizes,
                &[ms(wall)],
                rss,
                Some(state(differing, score_md5)),
                vec![],
            )
        };
        r.comparisons.push(Comparison {
            pair: Pair::PgPg,
            server: "15.20 at 127.0.0.1:5432".to_string(),
            baseline: None,
            cases: vec![
                case(Case::PgDump, 6000, 20 << 20, 0, "aaaa"),
                case(Case::PgPgVerify, 9000, 60 << 20, 0, "aaaa"),
                case(Case::PgPgLoad, 5000, 50 << 20, 0, "aaaa"),
            ],
        });
        r.comparisons.push(Comparison {
            pair: Pair::SqliteMariadb,
            server: "10.11.19 at 127.0.0.1:3306".to_string(),
            baseline: None,
            cases: vec![
                case(Case::LoadData, 7000, 10 << 20, 123_456, "bbbb"),
                case(Case::MariadbVerify, 10000, 40 << 20, 0, "aaaa"),
                case(Case::MariadbLoad, 8000, 30 << 20, 0, "aaaa"),
            ],
        });
        r.compare();
        r
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_250_000), "1,250,000");
    }

    #[test]
    fn best_median_rate_and_ratios() {
        let report = sample();
        let r = &report.comparisons[0];
        let pipe = &r.cases[0];
        assert_eq!((pipe.best_ms, pipe.median_ms), (Some(4000.0), Some(4500.0)));
        assert_eq!(pipe.rows_per_s, Some(312_500.0));
        assert_eq!(pipe.vs_anchor, Some(1.0));
        assert_eq!(pipe.vs_load, None);
        let load = &r.cases[2];
        assert_eq!(load.vs_anchor, Some(2.0));
        assert_eq!(load.vs_load, Some(0.0));
        let verifying = &r.cases[1];
        assert_eq!(verifying.vs_load, Some(0.5));
        // Round by round: the pipe took 4.0, 5.0, 4.5 s, the load 2.5, 3.0,
        // 2.0 s and the verifying run 3.0, 3.2, 3.1 s.
        let near = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(near(pipe.vs_anchor_paired, 1.0));
        assert!(near(load.vs_anchor_paired, 5.0 / 3.0));
        assert!(near(verifying.vs_anchor_paired, 4.5 / 3.1));
        assert!(near(verifying.vs_load_paired, 3.0 / 2.5 - 1.0));
        assert!(near(load.vs_load_paired, 0.0));
        assert_eq!(pipe.vs_load_paired, None);
        // One run of the mask: no rounds to pair.
        assert_eq!(r.cases[4].vs_load_paired, None);
        assert_eq!(verifying.verify_ms, Some(950.0));
        assert_eq!(r.cases[3].vs_anchor, None);
        let mask = &r.cases[4];
        assert!((mask.vs_load.unwrap() - 0.15).abs() < 1e-9);
        let same = DataMatch {
            users: true,
            sessions_but_score: true,
            scores: true,
        };
        assert_eq!(verifying.matches_ferry, Some(same));
        assert_eq!(
            pipe.matches_ferry.map(DataMatch::differing),
            Some(vec!["scores"])
        );
        assert_eq!(
            mask.matches_ferry.map(DataMatch::differing),
            Some(vec!["users"])
        );
        let even = CaseReport::new(
            Case::FerryLoad,
            Sizes::for_total(5),
            &[Duration::from_millis(1), Duration::from_millis(4)],
            0,
            None,
            vec![],
        );
        assert_eq!(even.median_ms, Some(2.5));
        assert!(!r.ok() && !report.ok());
        // Expected differences are not failures; others are.
        assert!(r.cases[0].ok() && r.cases[4].ok());
        let mut report = sample();
        let r = &mut report.comparisons[0];
        r.cases[1].end_state.as_mut().unwrap().sessions_md5 = "s2".to_string();
        r.cases[0].end_state.as_mut().unwrap().users_md5 = "u2".to_string();
        report.compare();
        let r = &report.comparisons[0];
        assert_eq!(
            r.cases[1].errors,
            ["sessions data differ from ferry --verify off's"]
        );
        assert_eq!(
            r.cases[0].errors,
            ["users data differ from ferry --verify off's"]
        );
    }

    #[test]
    fn text_table_is_aligned() {
        let text = render_text(&[sample()]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ferry-bench: 1,250,000 rows (250,000 users + 1,000,000 sessions), \
             SQLite → PostgreSQL 15.20 at 127.0.0.1:5432, best and median of 3 runs per case"
        );
        assert_eq!(
            &lines[1..7],
            [
                "case                                 wall  median   rows/s  vs pipe  paired  vs load  paired  peak RSS  end state",
                "pipe (sqlite3|psql)                 4.00s   4.50s  312,500    1.00x   1.00x        —       —   9.1 MiB  ok (scores rounded: 123,456 of 1,000,000 differ)",
                "ferry (load + verify full)          3.00s   3.10s  416,667    1.33x   1.45x   +50.0%  +20.0%  40.0 MiB  ok",
                "ferry --verify off                  2.00s   2.50s  625,000    2.00x   1.67x    +0.0%   +0.0%  26.0 MiB  ok",
                "ferry --verify off + wasm passthru      —       —        —        —       —        —       —         —  FAILED: ferry migrate failed (exit status: 1):",
                "ferry --verify off + mask hashing   2.30s   2.30s  543,478    1.74x       —   +15.0%       —  32.0 MiB  ok",
            ]
        );
        assert!(lines[7].starts_with("(wall: best run; vs pipe: rows/s ÷ the pipe's rows/s"));
        assert!(text.contains(
            "  ferry --verify off + wasm passthru failed: ferry migrate failed (exit status: 1):\n"
        ));
        assert!(text.contains(
            "ferry (load + verify full): ferry's report says verify ok, 0.95s of the median 3.10s\n  \
             users: checksum match, sample match\n"
        ));
        assert!(text.contains(
            "transformer cost over ferry --verify off (best wall, median, and the median of each round's ratio; target at most +10.0%): \
             mask +15.0% OVER (median -8.0%)\n"
        ));
        assert!(text.contains(
            "pipe    u1     s1        bbbb    123,456 of 1,000,000  scores differ (expected) from ferry's\n"
        ));
        assert!(text.contains("load    u1     s1        aaaa          0 of 1,000,000\n"));
        assert!(text.contains(
            "mask    u2     s1        aaaa          0 of 1,000,000  users differ (expected) from ferry's\n"
        ));
        assert!(
            text.contains("load = ferry --verify off; wasm = ferry --verify off + wasm passthru")
        );
        // End states side by side (cells are separated by 2+ spaces), differences marked.
        let cells = |prefix: &str| -> Vec<String> {
            let line = lines.iter().find(|l| l.starts_with(prefix)).unwrap();
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        assert_eq!(
            cells("column / key"),
            ["column / key", "pipe", "verify", "load", "mask"]
        );
        assert_eq!(
            cells("users.id "),
            [
                "users.id",
                "bigint not null",
                "bigint not null",
                "bigint not null",
                "bigint not null"
            ]
        );
        assert_eq!(
            cells("users.email "),
            [
                "users.email",
                "text not null",
                "text not null",
                "text not null",
                "character varying(255) not null",
                "≠"
            ]
        );
        assert_eq!(
            cells("users: PRIMARY KEY (id)"),
            [
                "users: PRIMARY KEY (id)",
                "users_pkey",
                "users_pkey",
                "users_pkey",
                "(missing)",
                "≠"
            ]
        );
    }

    #[test]
    fn rss_by_size_appears_for_several_sizes() {
        let mut small = sample();
        small.sizes = Sizes::for_total(125_000);
        let text = render_text(&[small, sample()]);
        assert!(
            text.contains("peak RSS by size                    125,000 rows  1,250,000 rows\n")
        );
        assert!(
            text.contains("ferry --verify off                      26.0 MiB        26.0 MiB\n")
        );
        // With several comparisons, each row names its comparison.
        let mut small = all_pairs();
        small.sizes = Sizes::for_total(125_000);
        let text = render_text(&[small, all_pairs()]);
        assert!(text.contains("\nsqlite-pg: ferry --verify off  "), "{text}");
        assert!(text.contains("\npg-pg: pg_dump | psql  "), "{text}");
        assert!(text.contains(
            "\nsqlite-mariadb: sqlite3 csv + LOAD DATA            10.0 MiB        10.0 MiB\n"
        ));
    }

    #[test]
    fn each_comparison_has_its_section_against_its_anchor() {
        let r = all_pairs();
        let pgpg = &r.comparisons[1];
        assert_eq!(pgpg.cases[2].vs_anchor, Some(1.2));
        assert_eq!(pgpg.cases[1].vs_load, Some(0.8));
        assert_eq!(
            pgpg.cases[0].matches_ferry.map(DataMatch::differing),
            Some(vec![])
        );
        assert!(r.ok() == r.comparisons[0].ok() && pgpg.ok());
        let text = render_text(&[r]);
        let section = &text[text.find("PostgreSQL → PostgreSQL").unwrap()..];
        let lines: Vec<&str> = section.lines().collect();
        assert_eq!(
            &lines[..5],
            [
                "PostgreSQL → PostgreSQL 15.20 at 127.0.0.1:5432, best and median of 3 runs per case",
                "case                         wall  median   rows/s  vs pg_dump  paired  vs load  paired  peak RSS  end state",
                "pg_dump | psql              6.00s   6.00s  208,333       1.00x       —        —       —  20.0 MiB  ok",
                "ferry (load + verify full)  9.00s   9.00s  138,889       0.67x       —   +80.0%       —  60.0 MiB  ok",
                "ferry --verify off          5.00s   5.00s  250,000       1.20x       —    +0.0%       —  50.0 MiB  ok",
            ]
        );
        assert!(section.contains("pg_dump | psql = pg_dump + psql"));
        assert!(
            section.contains("pg_dump = pg_dump | psql; pgpg_verify = ferry (load + verify full)")
        );
    }

    #[test]
    fn mariadb_section_describes_its_anchor_and_checksums() {
        let r = all_pairs();
        let maria = &r.comparisons[2];
        assert_eq!(maria.cases[2].vs_anchor, Some(7.0 / 8.0));
        assert_eq!(maria.cases[1].vs_load, Some(0.25));
        assert_eq!(
            maria.cases[0].matches_ferry.map(DataMatch::differing),
            Some(vec!["scores"])
        );
        assert!(maria.ok());
        let text = render_text(&[r]);
        let section = &text[text.find("SQLite → MariaDB").unwrap()..];
        let lines: Vec<&str> = section.lines().collect();
        assert_eq!(
            &lines[..3],
            [
                "SQLite → MariaDB 10.11.19 at 127.0.0.1:3306, best and median of 3 runs per case",
                "case                          wall  median   rows/s  vs LOAD DATA  paired  vs load  paired  peak RSS  end state",
                "sqlite3 csv + LOAD DATA      7.00s   7.00s  178,571         1.00x       —        —       —  10.0 MiB  ok (scores rounded: 123,456 of 1,000,000 differ)",
            ]
        );
        assert!(section.contains("LOAD DATA = the largest of sqlite3"));
        assert!(section.contains("data: sum of the first 64 bits"));
        assert!(section.contains(
            "load_data = sqlite3 csv + LOAD DATA; maria_verify = ferry (load + verify full)"
        ));
    }

    #[test]
    fn json_has_the_figures() {
        let v = serde_json::to_value(all_pairs()).unwrap();
        let cases = &v["comparisons"][0]["cases"];
        assert_eq!(v["comparisons"][0]["pair"], "sqlite-pg");
        assert_eq!(cases[0]["case"], "pipe");
        assert_eq!(cases[1]["case"], "ferry_verify");
        assert_eq!(cases[1]["verify_ms"], 950.0);
        assert_eq!(cases[2]["rows_per_s"], 625_000.0);
        assert_eq!(cases[2]["vs_anchor"], 2.0);
        let paired = cases[2]["vs_anchor_paired"].as_f64().unwrap();
        assert!((paired - 5.0 / 3.0).abs() < 1e-9);
        assert_eq!(cases[4]["matches_ferry"]["users"], false);
        assert_eq!(cases[3]["errors"][0].as_str().unwrap().lines().count(), 2);
        assert_eq!(cases[0]["end_state"]["scores_differing"], 123_456);
        assert_eq!(v["comparisons"][1]["pair"], "pg-pg");
        assert_eq!(v["comparisons"][1]["cases"][0]["case"], "pg_dump");
        assert_eq!(v["comparisons"][2]["pair"], "sqlite-mariadb");
        assert_eq!(v["comparisons"][2]["cases"][0]["case"], "load_data");
    }
}
