//! `ferry probe`: does the migrated database perform? A workload derived
//! from the schema (or the user's queries) run by N concurrent clients for
//! a duration, with latency percentiles per kind of query, throughput,
//! errors and connection times; one `EXPLAIN` per query shape; with a
//! source, the same queries there too — results compared under the type
//! mapping and latency side by side; thresholds that set the exit code.
//!
//! - [`workload`] — query shapes and their sampled parameters.
//! - [`stats`] — percentiles.
//! - [`compare`] — result equality across databases.

pub mod compare;
pub mod stats;
pub mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;

use self::stats::Summary;
use self::workload::{Kind, Shape};
use crate::endpoint::sql::{SqlConn, explain, quote_ident};
use crate::endpoint::{self, EndpointError, EndpointUrl};
use crate::model::TableDef;

/// A table this large read whole by a query is a finding: below it a
/// sequential scan is often the planner's right choice.
pub const LARGE_TABLE_ROWS: u64 = 10_000;

/// Parameter sets per shape compared across source and target.
pub const COMPARED_SETS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("{target}: {what}: {message}")]
    Sql {
        target: String,
        what: String,
        message: String,
    },
    #[error("{path}:{line}: {reason}")]
    Queries {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{0}")]
    Refused(String),
}

/// What a probe is told.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub to: EndpointUrl,
    pub from: Option<EndpointUrl>,
    /// Concurrent clients, each with its connection from a pool of as many.
    pub clients: usize,
    pub duration: Duration,
    /// User queries (replace the derived workload).
    pub queries: Option<std::path::PathBuf>,
    /// Overall p95 above this fails the probe.
    pub p95: Option<Duration>,
    /// Draws the same workload for the same seed.
    pub seed: u64,
    /// Prints a progress line on stderr while it runs.
    pub progress: bool,
}

/// The latency of one kind of query (or of all).
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub kind: String,
    pub shapes: usize,
    #[serde(flatten)]
    pub latency: Summary,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// With `--from`: the source's figures, and target/source ratios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_p95: Option<f64>,
}

/// Something the probe found that an operator should act on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// `seq_scan`, `unindexed_foreign_key`, `result_differs`, `threshold`.
    pub kind: String,
    pub message: String,
    /// The statement that fixes it, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// A probe's report.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub clients: usize,
    pub duration_s: f64,
    pub queries: u64,
    pub throughput_qps: f64,
    pub overall: KindReport,
    pub kinds: Vec<KindReport>,
    /// Opening each client's connection.
    pub connect: Summary,
    /// Waiting for a connection from the pool before each query.
    pub acquire: Summary,
    pub shapes: Vec<Shape>,
    pub findings: Vec<Finding>,
    /// With `--from`: parameter sets compared, and how many differed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<(usize, usize)>,
    /// Whether every threshold held, no query failed and every compared
    /// result was equal.
    pub passed: bool,
}

/// The tables of `url` with their row counts.
async fn tables(url: &EndpointUrl) -> Result<Vec<(TableDef, u64)>, ProbeError> {
    let source = endpoint::open_source(url).await?;
    let mut out = Vec::new();
    for t in source.tables().await? {
        let n = source.count(&t.name).await?;
        out.push((t, n));
    }
    Ok(out)
}

/// Runs a probe.
pub async fn probe(o: &ProbeOptions) -> Result<ProbeReport, ProbeError> {
    if o.clients == 0 {
        return Err(ProbeError::Refused("--clients must be at least 1".into()));
    }
    if !o.to.is_sql() {
        return Err(ProbeError::Refused(format!(
            "{}: ferry probe measures SQL databases (sqlite:PATH, postgres://…, mysql://…)",
            o.to
        )));
    }
    let defs = tables(&o.to).await?;
    let mut first = endpoint::open_sql(&o.to).await?;
    let shapes = match &o.queries {
        Some(p) => workload::user_queries(first.as_mut(), p, &defs, o.seed).await?,
        None => workload::derive(first.as_mut(), &defs, o.seed).await?,
    };
    if shapes.is_empty() {
        return Err(ProbeError::Refused(format!(
            "{}: nothing to probe — no table with rows and a key; give queries with --queries FILE",
            o.to
        )));
    }
    let mut findings = plan_findings(first.as_mut(), &shapes, &defs).await;
    findings.extend(unindexed_foreign_keys(first.as_mut(), &defs));
    drop(first);

    let target_run = load(&o.to, &shapes, o).await?;
    let mut source_run = None;
    let mut compared = None;
    if let Some(from) = &o.from {
        let (n, differ) = compare::results(&o.to, from, &shapes, &mut findings).await?;
        compared = Some((n, differ));
        source_run = Some(load(from, &shapes, o).await?);
    }

    let mut kinds = Vec::new();
    let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    for s in &shapes {
        *by_kind.entry(s.kind).or_default() += 1;
    }
    for (kind, n) in &by_kind {
        let mut k = target_run.kind_report(Some(*kind), *n);
        if let Some(src) = &source_run {
            let s = src.kind_report(Some(*kind), *n).latency;
            k.ratio_p50 = ratio(k.latency.p50_ms, s.p50_ms);
            k.ratio_p95 = ratio(k.latency.p95_ms, s.p95_ms);
            k.source = Some(s);
        }
        kinds.push(k);
    }
    let mut overall = target_run.kind_report(None, shapes.len());
    if let Some(src) = &source_run {
        let s = src.kind_report(None, shapes.len()).latency;
        overall.ratio_p50 = ratio(overall.latency.p50_ms, s.p50_ms);
        overall.ratio_p95 = ratio(overall.latency.p95_ms, s.p95_ms);
        overall.source = Some(s);
    }
    let mut passed = overall.errors == 0 && compared.is_none_or(|(_, d)| d == 0);
    if let Some(limit) = o.p95 {
        let limit_ms = limit.as_secs_f64() * 1000.0;
        if overall.latency.p95_ms > limit_ms {
            passed = false;
            findings.push(Finding {
                kind: "threshold".into(),
                message: format!(
                    "p95 {:.2} ms is above the threshold {limit_ms:.2} ms",
                    overall.latency.p95_ms
                ),
                fix: None,
            });
        }
    }
    let secs = target_run.elapsed.as_secs_f64();
    Ok(ProbeReport {
        target: o.to.to_string(),
        source: o.from.as_ref().map(|f| f.to_string()),
        clients: o.clients,
        duration_s: secs,
        queries: overall.latency.count,
        throughput_qps: if secs > 0.0 {
            overall.latency.count as f64 / secs
        } else {
            0.0
        },
        overall,
        kinds,
        connect: Summary::of(&mut target_run.connect.clone()),
        acquire: Summary::of(&mut target_run.acquire.clone()),
        shapes,
        findings,
        compared,
        passed,
    })
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| (a / b * 100.0).round() / 100.0)
}

/// What one load phase measured.
struct Run {
    /// Per shape index: latencies in µs, errors, first error.
    latencies: Vec<Vec<u64>>,
    errors: Vec<u64>,
    first_error: Vec<Option<String>>,
    kinds: Vec<Kind>,
    connect: Vec<u64>,
    acquire: Vec<u64>,
    elapsed: Duration,
}

impl Run {
    fn kind_report(&self, kind: Option<Kind>, shapes: usize) -> KindReport {
        let mut all = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for (i, k) in self.kinds.iter().enumerate() {
            if kind.is_none_or(|x| x == *k) {
                all.extend_from_slice(&self.latencies[i]);
                errors += self.errors[i];
                if first_error.is_none() {
                    first_error = self.first_error[i].clone();
                }
            }
        }
        KindReport {
            kind: kind
                .map(|k| k.name().to_string())
                .unwrap_or_else(|| "all".into()),
            shapes,
            latency: Summary::of(&mut all),
            errors,
            first_error,
            source: None,
            ratio_p50: None,
            ratio_p95: None,
        }
    }
}

/// `o.clients` clients drawing shapes by weight for `o.duration`, each
/// query on a connection taken from a pool of as many.
async fn load(url: &EndpointUrl, shapes: &[Shape], o: &ProbeOptions) -> Result<Run, ProbeError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Box<dyn SqlConn>>(o.clients);
    let mut connect = Vec::new();
    for _ in 0..o.clients {
        let t = Instant::now();
        let c = endpoint::open_sql(url).await?;
        connect.push(t.elapsed().as_micros() as u64);
        let _ = tx.send(c).await;
    }
    let pool = Arc::new((tx, Mutex::new(rx)));
    let shapes = Arc::new(shapes.to_vec());
    let total_weight: u64 = shapes.iter().map(|s| u64::from(s.weight)).sum();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..o.clients {
        let (pool, shapes, stop, done) = (pool.clone(), shapes.clone(), stop.clone(), done.clone());
        let mut seed = o.seed.max(1).wrapping_add(client as u64 * 0x9e37_79b9);
        tasks.push(tokio::spawn(async move {
            let n = shapes.len();
            let mut lat = vec![Vec::new(); n];
            let mut errs = vec![0u64; n];
            let mut first: Vec<Option<String>> = vec![None; n];
            let mut acquire = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let mut pick = workload::next(&mut seed) % total_weight.max(1);
                let mut i = 0;
                while i + 1 < n && pick >= u64::from(shapes[i].weight) {
                    pick -= u64::from(shapes[i].weight);
                    i += 1;
                }
                let sql = shapes[i].statement(workload::next(&mut seed) as usize);
                let t = Instant::now();
                let Some(mut conn) = pool.1.lock().await.recv().await else {
                    break;
                };
                acquire.push(t.elapsed().as_micros() as u64);
                let t = Instant::now();
                let r = conn.query_text(&sql).await;
                let us = t.elapsed().as_micros() as u64;
                let _ = pool.0.send(conn).await;
                match r {
                    Ok(_) => lat[i].push(us),
                    Err(e) => {
                        errs[i] += 1;
                        if first[i].is_none() {
                            first[i] = Some(e.message);
                        }
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (lat, errs, first, acquire)
        }));
    }
    let name = url.to_string();
    let mut last = 0;
    while start.elapsed() < o.duration {
        tokio::time::sleep(Duration::from_millis(250).min(o.duration)).await;
        let n = done.load(Ordering::Relaxed);
        if o.progress && (start.elapsed().as_secs() != last || start.elapsed() >= o.duration) {
            last = start.elapsed().as_secs();
            eprint!(
                "\rprobe {name}: {:>3.0}/{:.0} s  {n} queries  {:.0} q/s   ",
                start.elapsed().as_secs_f64().min(o.duration.as_secs_f64()),
                o.duration.as_secs_f64(),
                n as f64 / start.elapsed().as_secs_f64().max(0.001)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut run = Run {
        latencies: vec![Vec::new(); shapes.len()],
        errors: vec![0; shapes.len()],
        first_error: vec![None; shapes.len()],
        kinds: shapes.iter().map(|s| s.kind).collect(),
        connect,
        acquire: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let Ok((lat, errs, first, acquire)) = t.await else {
            continue;
        };
        for i in 0..shapes.len() {
            run.latencies[i].extend(&lat[i]);
            run.errors[i] += errs[i];
            if run.first_error[i].is_none() {
                run.first_error[i] = first[i].clone();
            }
        }
        run.acquire.extend(acquire);
    }
    run.elapsed = start.elapsed();
    if o.progress {
        eprintln!();
    }
    Ok(run)
}

/// One `EXPLAIN` per shape: a large table read whole is a finding.
async fn plan_findings(
    conn: &mut dyn SqlConn,
    shapes: &[Shape],
    defs: &[(TableDef, u64)],
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for s in shapes {
        let Ok(scans) = explain::full_scans(conn, &s.statement(0)).await else {
            continue;
        };
        for t in scans {
            let rows = defs
                .iter()
                .find(|(d, _)| d.name == t)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            if rows >= LARGE_TABLE_ROWS {
                out.push(Finding {
                    kind: "seq_scan".into(),
                    message: format!(
                        "{} reads all {rows} rows of {t}: {}",
                        s.label,
                        s.statement(0)
                    ),
                    fix: None,
                });
            }
        }
    }
    out
}

/// Foreign keys without an index on their columns: every join from the
/// parent and every delete of a parent row scans the child.
fn unindexed_foreign_keys(conn: &mut dyn SqlConn, defs: &[(TableDef, u64)]) -> Vec<Finding> {
    let mysql = conn.dialect().name == "MySQL";
    let q = |s: &str| {
        if mysql {
            format!("`{}`", s.replace('`', "``"))
        } else {
            quote_ident(s)
        }
    };
    let mut out = Vec::new();
    for (t, rows) in defs {
        for fk in &t.foreign_keys {
            if workload::indexed(t, &fk.columns) {
                continue;
            }
            let name = format!("{}_{}_idx", t.name, fk.columns.join("_"));
            let cols: Vec<String> = fk.columns.iter().map(|c| q(c)).collect();
            out.push(Finding {
                kind: "unindexed_foreign_key".into(),
                message: format!(
                    "{}({}) → {} has no index ({rows} rows): joins from {} and deletes there scan {}",
                    t.name,
                    fk.columns.join(", "),
                    fk.ref_table,
                    fk.ref_table,
                    t.name
                ),
                fix: Some(format!(
                    "CREATE INDEX {} ON {} ({});",
                    q(&name),
                    q(&t.name),
                    cols.join(", ")
                )),
            });
        }
    }
    out
}

/// `500ms`, `30s`, `2m`, `1.5s` → a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("`{s}`: a duration is a number and a unit (500ms, 30s, 2m)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        other => return Err(format!("`{s}`: unknown unit `{other}` (ms, s, m)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("`{s}`: not a duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_written() {
        use std::time::Duration;
        assert_eq!(super::parse_duration("30ms"), Ok(Duration::from_millis(30)));
        assert_eq!(super::parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(
            super::parse_duration("1.5s"),
            Ok(Duration::from_millis(1500))
        );
        assert!(super::parse_duration("fast").is_err());
        assert!(super::parse_duration("3h").is_err());
    }
}
