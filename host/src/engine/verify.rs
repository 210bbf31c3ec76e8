//! Verify: proof that the target holds what the source held.
//!
//! For every table of the plan, `verify` reads the source (through the same
//! casts the migration applied) and the target (as the plan created it) and
//! compares:
//!
//! - **accounting**: source rows = target rows + quarantined rows (the
//!   target's `_ferry_rejects` rows for that table); anything else fails;
//! - **checksum**: an order-independent sum of per-row hashes over
//!   normalised values (see [`canon`]), the source side leaving out exactly
//!   the quarantined rows (by source key);
//! - **sample**: about [`SAMPLE_ROWS`] rows picked by key hash, compared
//!   value by value, so a mismatch names the row and the column;
//! - **orphans**: target rows whose foreign key matches no parent row;
//! - **ranges**: min/max of every date and timestamp column on both sides;
//! - **schema**: the target's tables, columns, types, keys, indexes and
//!   foreign keys against the plan.
//!
//! Tables a transformer changed are compared by counts, accounting, orphans
//! and schema only: their values differ from the source by design, and the
//! report says so.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use super::MigrateError;
use crate::endpoint::{self, EndpointUrl, ReadBatch, Scan, Source};
use crate::model::{Batch, LogicalType, Schema, TableDef, ValueRef};
use crate::plan::{Plan, PlannedTable};

/// Rows compared value by value per table: about 1,000 — enough to catch a
/// systematic mapping error in any column, cheap to keep in memory.
pub const SAMPLE_ROWS: u64 = 1_000;

/// Largest parent table whose keys verify holds to find orphans: 5,000,000
/// keys (a hash set of u64, ~100 MB). Larger parents are reported as not
/// checked rather than risking the host's memory.
const MAX_PARENT_KEYS: usize = 5_000_000;

/// Rows kept in flight per table and side while verifying.
const CHANNEL_DEPTH: usize = 4;

/// What to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Everything: counts, accounting, checksums, sample, orphans, ranges, schema.
    #[default]
    Full,
    /// Counts, accounting and schema only (no full read of either side).
    Counts,
}

/// The outcome of one comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Check {
    Match { value: String },
    Mismatch { detail: String },
    Skipped { reason: String },
}

impl Check {
    fn failed(&self) -> bool {
        matches!(self, Check::Mismatch { .. })
    }
}

/// A date or timestamp column's range on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct RangeCheck {
    pub column: String,
    pub source: Option<(String, String)>,
    pub target: Option<(String, String)>,
    pub ok: bool,
}

/// One table's verification.
#[derive(Debug, Clone, Serialize)]
pub struct TableVerify {
    pub table: String,
    pub target_table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub quarantined: u64,
    /// `source_rows == target_rows + quarantined`.
    pub accounted: bool,
    pub checksum: Check,
    pub sample: Check,
    /// Per foreign key: target rows whose parent is missing.
    pub orphans: Vec<(String, Check)>,
    pub ranges: Vec<RangeCheck>,
    /// Differences between the target's schema and the plan.
    pub schema: Vec<String>,
    pub ok: bool,
}

/// The verification report (`ferry verify --json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub level: Level,
    pub source: String,
    pub target: String,
    /// The run whose quarantine is counted; `None` = every run's.
    pub run_id: Option<String>,
    pub tables: Vec<TableVerify>,
    /// Per view of the plan: it exists in the target and answers a query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<(String, Check)>,
    pub duration_ms: u64,
}

impl VerifyReport {
    /// One line per failed check, for the summary and errors.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tables {
            if !t.accounted {
                out.push(format!(
                    "{}: source rows {} ≠ target rows {} + quarantined {}",
                    t.table, t.source_rows, t.target_rows, t.quarantined
                ));
            }
            for (what, c) in [("checksum", &t.checksum), ("sample", &t.sample)] {
                if let Check::Mismatch { detail } = c {
                    out.push(format!("{}: {what}: {detail}", t.table));
                }
            }
            for (fk, c) in &t.orphans {
                if let Check::Mismatch { detail } = c {
                    out.push(format!("{}: foreign key {fk}: {detail}", t.table));
                }
            }
            for r in t.ranges.iter().filter(|r| !r.ok) {
                out.push(format!(
                    "{}: range of `{}`: source {:?}, target {:?}",
                    t.table, r.column, r.source, r.target
                ));
            }
            for s in &t.schema {
                out.push(format!("{}: schema: {s}", t.table));
            }
        }
        for (v, c) in &self.views {
            if let Check::Mismatch { detail } = c {
                out.push(format!("view {v}: {detail}"));
            }
        }
        out
    }
}

/// Verifies the target of `plan` against its source.
pub async fn verify(
    plan: &Plan,
    from: &EndpointUrl,
    to: &EndpointUrl,
    run_id: Option<&str>,
    level: Level,
) -> Result<VerifyReport, MigrateError> {
    let started = std::time::Instant::now();
    let source = endpoint::open_source(from).await?;
    let target = endpoint::open_source(to).await?;
    let target_tables = target.tables().await?;
    let quarantine = target.quarantined().await?;
    let mut parents: ParentKeys = HashMap::new();
    // Which (table, columns) are referenced, so their keys are collected.
    let mut referenced: HashSet<(String, Vec<String>)> = HashSet::new();
    for t in &plan.tables {
        for fk in &t.target_def.foreign_keys {
            referenced.insert((parent_table(plan, fk), fk.ref_columns.clone()));
        }
    }
    let mut tables = Vec::new();
    for t in &plan.tables {
        let mut q_rows = 0u64;
        let mut q_keys: HashMap<String, u64> = HashMap::new();
        for q in quarantine
            .iter()
            .filter(|q| q.table == t.name && run_id.is_none_or(|r| r == q.run_id))
        {
            q_rows += q.rows;
            for k in &q.keys {
                *q_keys.entry(k.clone()).or_default() += 1;
            }
        }
        let tv = verify_table(
            plan,
            t,
            &source,
            &target,
            &target_tables,
            q_rows,
            q_keys,
            level,
            &referenced,
            &mut parents,
        )
        .await?;
        tables.push(tv);
        crate::failpoint::at("verify", Some(&t.name));
    }
    let mut views = Vec::new();
    for v in &plan.views {
        let c = match target.count(&v.name).await {
            Ok(n) => Check::Match {
                value: format!("{n} rows"),
            },
            Err(e) => Check::Mismatch {
                detail: format!("does not answer a query in the target: {e}"),
            },
        };
        views.push((v.name.clone(), c));
    }
    Ok(VerifyReport {
        ok: tables.iter().all(|t| t.ok) && views.iter().all(|(_, c)| !c.failed()),
        level,
        source: from.to_string(),
        target: to.to_string(),
        run_id: run_id.map(str::to_string),
        tables,
        views,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Verifies a consolidation: per table, the rows of every source = target
/// rows + quarantined rows, and the schema. Values are not compared: keys
/// were rewritten and conflicts resolved on purpose, which the report says.
pub async fn verify_consolidated(
    plan: &Plan,
    sources: &[EndpointUrl],
    to: &EndpointUrl,
    run_id: Option<&str>,
) -> Result<VerifyReport, MigrateError> {
    let started = std::time::Instant::now();
    let target = endpoint::open_source(to).await?;
    let target_tables = target.tables().await?;
    let quarantine = target.quarantined().await?;
    let mut opened = Vec::new();
    for s in sources {
        opened.push(endpoint::open_source(s).await?);
    }
    let mut tables = Vec::new();
    for t in &plan.tables {
        let mut source_rows = 0;
        for s in &opened {
            source_rows += s.count(&t.name).await?;
        }
        let target_rows = if target_tables.iter().any(|x| x.name == t.target_name) {
            target.count(&t.target_name).await?
        } else {
            0
        };
        let quarantined: u64 = quarantine
            .iter()
            .filter(|q| q.table == t.name && run_id.is_none_or(|r| r == q.run_id))
            .map(|q| q.rows)
            .sum();
        let skipped = Check::Skipped {
            reason: format!(
                "{} source(s) with keys rewritten to UUIDv5 or conflicts resolved by design: counts, accounting and schema are checked, values are not",
                sources.len()
            ),
        };
        let schema = schema_differences(plan, t, &target_tables);
        let accounted = source_rows == target_rows + quarantined;
        tables.push(TableVerify {
            table: t.name.clone(),
            target_table: t.target_name.clone(),
            source_rows,
            target_rows,
            quarantined,
            accounted,
            checksum: skipped.clone(),
            sample: skipped,
            orphans: Vec::new(),
            ranges: Vec::new(),
            ok: accounted && schema.is_empty(),
            schema,
        });
    }
    Ok(VerifyReport {
        ok: tables.iter().all(|t| t.ok),
        level: Level::Counts,
        source: sources
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(" + "),
        target: to.to_string(),
        run_id: run_id.map(str::to_string),
        tables,
        views: Vec::new(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Per (parent table, referenced columns): the hashes of its keys, or `None`
/// when the table was too large to hold them.
type ParentKeys = HashMap<(String, Vec<String>), Option<Arc<HashSet<u64>>>>;

/// What one side's full read found.
#[derive(Default)]
struct SideScan {
    rows: u64,
    /// Rows left out because they are quarantined (source side only).
    excluded: u64,
    /// Rows hashed into `sum`.
    hashed: u64,
    sum: (u64, u64),
    /// Sampled rows by key: each value shown, and its normalised hash.
    sample: HashMap<String, Vec<(String, u64)>>,
    ranges: Vec<Option<(i64, i64)>>,
    /// Per foreign key of this table: (checked rows, orphans, first orphan key).
    orphans: Vec<(u64, u64, Option<String>)>,
    /// Keys of this table that children reference.
    keys: HashMap<Vec<String>, HashSet<u64>>,
}

#[allow(clippy::too_many_arguments)]
async fn verify_table(
    plan: &Plan,
    t: &PlannedTable,
    source: &Arc<dyn Source>,
    target: &Arc<dyn Source>,
    target_tables: &[TableDef],
    quarantined: u64,
    q_keys: HashMap<String, u64>,
    level: Level,
    referenced: &HashSet<(String, Vec<String>)>,
    parents: &mut ParentKeys,
) -> Result<TableVerify, MigrateError> {
    let loaded = t.loaded_def();
    let target_def = &t.target_def;
    let schema = schema_differences(plan, t, target_tables);
    let transformed = (!t.transforms.is_empty()).then(|| {
        t.transforms
            .iter()
            .filter_map(|&i| plan.transformers.get(i))
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let mut tv = TableVerify {
        table: t.name.clone(),
        target_table: t.target_name.clone(),
        source_rows: 0,
        target_rows: 0,
        quarantined,
        accounted: false,
        checksum: Check::Skipped {
            reason: "verify level is counts".into(),
        },
        sample: Check::Skipped {
            reason: "verify level is counts".into(),
        },
        orphans: Vec::new(),
        ranges: Vec::new(),
        schema,
        ok: false,
    };
    if level == Level::Counts || !target_tables.iter().any(|x| x.name == t.target_name) {
        tv.source_rows = source.count(&t.name).await?;
        tv.target_rows = if target_tables.iter().any(|x| x.name == t.target_name) {
            target.count(&t.target_name).await?
        } else {
            0
        };
    } else {
        let modulus = (t.estimated_rows / SAMPLE_ROWS).max(1);
        let ranged: Vec<usize> = loaded
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c.logical_type,
                    LogicalType::Date | LogicalType::Timestamp | LogicalType::Timestamptz
                )
            })
            .map(|(i, _)| i)
            .collect();
        let src_spec = ScanSpec {
            side: source.clone(),
            read_def: t.source_def.clone(),
            cast: (!t.casts.is_empty()).then(|| loaded.clone()),
            key_cols: loaded.primary_key.clone(),
            modulus,
            ranged: ranged.clone(),
            exclude: q_keys,
            fk_sets: Vec::new(),
            wanted_keys: Vec::new(),
        };
        // The parent key sets this table's foreign keys are checked against.
        let fk_sets: Vec<Option<Arc<HashSet<u64>>>> = target_def
            .foreign_keys
            .iter()
            .map(|fk| {
                parents
                    .get(&(parent_table(plan, fk), fk.ref_columns.clone()))
                    .and_then(|s| s.clone())
            })
            .collect();
        let wanted_keys: Vec<Vec<String>> = referenced
            .iter()
            .filter(|(tbl, _)| tbl == &t.target_name)
            .map(|(_, cols)| cols.clone())
            .collect();
        let tgt_spec = ScanSpec {
            side: target.clone(),
            read_def: target_def.clone(),
            cast: None,
            key_cols: loaded.primary_key.clone(),
            modulus,
            ranged: ranged.clone(),
            exclude: HashMap::new(),
            fk_sets: fk_sets.clone(),
            wanted_keys,
        };
        // Each side hashes on its own task: two cores, two streams.
        let src_task = tokio::spawn(src_spec.run());
        let tgt_task = tokio::spawn(tgt_spec.run());
        let joined = |r: Result<Result<SideScan, MigrateError>, tokio::task::JoinError>| {
            r.map_err(|e| MigrateError::Internal(format!("verify task: {e}")))?
        };
        let (src, tgt) = (joined(src_task.await)?, joined(tgt_task.await)?);
        tv.source_rows = src.rows;
        tv.target_rows = tgt.rows;
        let src_rows_compared = src.hashed;
        if let Some(by) = &transformed {
            let reason = format!("values are changed by transformer {by}");
            tv.checksum = Check::Skipped {
                reason: reason.clone(),
            };
            tv.sample = Check::Skipped { reason };
        } else {
            let unkeyed = quarantined > 0 && loaded.primary_key.is_empty();
            tv.checksum = if unkeyed {
                Check::Skipped {
                    reason: "quarantined rows have no key to leave them out by".into(),
                }
            } else if src.sum == tgt.sum && src_rows_compared == tgt.rows {
                Check::Match {
                    value: format!("{:016x}{:016x}", src.sum.0, src.sum.1),
                }
            } else {
                Check::Mismatch {
                    detail: format!(
                        "source {:016x}{:016x} over {} rows, target {:016x}{:016x} over {} rows",
                        src.sum.0, src.sum.1, src_rows_compared, tgt.sum.0, tgt.sum.1, tgt.rows
                    ),
                }
            };
            tv.sample = compare_samples(&loaded, &src.sample, &tgt.sample);
            for (k, &i) in ranged.iter().enumerate() {
                let show = |r: Option<(i64, i64)>| {
                    r.map(|(a, b)| {
                        (
                            show_temporal(a, loaded.columns[i].logical_type),
                            show_temporal(b, loaded.columns[i].logical_type),
                        )
                    })
                };
                let (s, g) = (show(src.ranges[k]), show(tgt.ranges[k]));
                tv.ranges.push(RangeCheck {
                    column: loaded.columns[i].name.clone(),
                    ok: s == g,
                    source: s,
                    target: g,
                });
            }
        }
        for (fk, (checked, orphans, first)) in target_def.foreign_keys.iter().zip(&tgt.orphans) {
            let c = if fk_sets.get(tv.orphans.len()).cloned().flatten().is_none() {
                Check::Skipped {
                    reason: format!(
                        "parent `{}` keys not collected (not in this plan, in a cycle, or above {MAX_PARENT_KEYS} rows)",
                        fk.ref_table
                    ),
                }
            } else if *orphans == 0 {
                Check::Match {
                    value: format!("0 orphans in {checked} rows"),
                }
            } else {
                Check::Mismatch {
                    detail: format!(
                        "{orphans} of {checked} rows reference a missing `{}` row, e.g. key {}",
                        fk.ref_table,
                        first.clone().unwrap_or_default()
                    ),
                }
            };
            tv.orphans.push((fk.name.clone(), c));
        }
        for (cols, keys) in tgt.keys {
            let keep = (keys.len() <= MAX_PARENT_KEYS).then(|| Arc::new(keys));
            parents.insert((t.target_name.clone(), cols), keep);
        }
    }
    tv.accounted = tv.source_rows == tv.target_rows + tv.quarantined;
    tv.ok = tv.accounted
        && !tv.checksum.failed()
        && !tv.sample.failed()
        && tv.orphans.iter().all(|(_, c)| !c.failed())
        && tv.ranges.iter().all(|r| r.ok)
        && tv.schema.is_empty();
    Ok(tv)
}

fn show_temporal(v: i64, t: LogicalType) -> String {
    use crate::model::temporal as tm;
    match t {
        LogicalType::Date => tm::format_date(v as i32),
        LogicalType::Timestamptz => tm::format_timestamptz(v),
        _ => tm::format_timestamp(v),
    }
}

/// What one side's full read needs, owned, so it runs on its own task.
struct ScanSpec {
    side: Arc<dyn Source>,
    read_def: TableDef,
    /// The def after casts, when the side is read through the plan's casts.
    cast: Option<TableDef>,
    key_cols: Vec<String>,
    modulus: u64,
    ranged: Vec<usize>,
    /// Source keys of quarantined rows (with multiplicity), left out.
    exclude: HashMap<String, u64>,
    /// Per foreign key of the table: the parent's key hashes, when collected.
    fk_sets: Vec<Option<Arc<HashSet<u64>>>>,
    /// Column lists of this table that children reference.
    wanted_keys: Vec<Vec<String>>,
}

impl ScanSpec {
    /// Reads one side of a table fully, hashing as it goes.
    async fn run(self) -> Result<SideScan, MigrateError> {
        let ScanSpec {
            side,
            read_def,
            cast,
            key_cols,
            modulus,
            ranged,
            mut exclude,
            fk_sets,
            wanted_keys,
        } = self;
        let (tx, mut rx) = mpsc::channel::<ReadBatch>(CHANNEL_DEPTH);
        let reader = side.read(
            read_def.clone(),
            crate::engine::options::DEFAULT_BATCH_SIZE,
            Scan::All,
            tx,
        );
        let mut out = SideScan {
            ranges: vec![None; ranged.len()],
            orphans: vec![(0, 0, None); fk_sets.len()],
            ..Default::default()
        };
        let schema_after: Schema = match &cast {
            Some(loaded) => loaded.schema(),
            None => read_def.schema(),
        };
        let read_schema = read_def.schema();
        let fk_cols: Vec<Vec<usize>> = read_def
            .foreign_keys
            .iter()
            .map(|fk| {
                fk.columns
                    .iter()
                    .filter_map(|c| schema_after.index_of(c))
                    .collect()
            })
            .collect();
        let key_sets: Vec<(Vec<String>, Vec<usize>)> = wanted_keys
            .iter()
            .map(|cols| {
                (
                    cols.clone(),
                    cols.iter()
                        .filter_map(|c| schema_after.index_of(c))
                        .collect(),
                )
            })
            .collect();
        for (cols, _) in &key_sets {
            out.keys.insert(cols.clone(), HashSet::new());
        }
        let key_idx: Vec<usize> = key_cols
            .iter()
            .filter_map(|c| schema_after.index_of(c))
            .collect();
        let mut buf = Vec::new();
        let mut key_buf = Vec::new();
        while let Some(rb) = rx.recv().await {
            out.rows += rb.rows_read;
            let mut ignored = Vec::new();
            let batch: Batch = match &cast {
                Some(_) => crate::cast::cast_batch(
                    &read_def,
                    &read_schema,
                    &schema_after,
                    rb.batch,
                    &mut ignored,
                ),
                None => rb.batch,
            };
            for row in 0..batch.num_rows {
                // The key as text is built only for rows that may be left out or
                // sampled; the sample is picked by a hash of the key's values.
                let key_cols_idx = &key_idx;
                let sampled = !key_cols_idx.is_empty()
                    && tuple_hash(&batch, &schema_after, key_cols_idx, row, &mut key_buf)
                        .is_multiple_of(modulus);
                let key = if sampled || !exclude.is_empty() {
                    batch.source_key(&schema_after, &key_cols, row)
                } else {
                    None
                };
                if let Some(k) = &key
                    && let Some(n) = exclude.get_mut(k)
                    && *n > 0
                {
                    *n -= 1;
                    out.excluded += 1;
                    continue;
                }
                buf.clear();
                for (i, c) in schema_after.columns.iter().enumerate() {
                    canon(&batch.value(row, i), c.logical_type, &mut buf);
                }
                let (h1, h2) = hash2(&buf);
                out.hashed += 1;
                out.sum.0 = out.sum.0.wrapping_add(h1);
                out.sum.1 = out.sum.1.wrapping_add(h2);
                if sampled
                    && let Some(k) = &key
                    // Key-hash sampling over an estimated row count can overshoot;                    // 4x the target bounds the map's memory.
                    && out.sample.len() < (SAMPLE_ROWS * 4) as usize
                {
                    let vals = (0..schema_after.columns.len())
                        .map(|i| {
                            let (v, t) =
                                (batch.value(row, i), schema_after.columns[i].logical_type);
                            let mut b = Vec::new();
                            canon(&v, t, &mut b);
                            let shown =
                                crate::cast::to_text(&v, t).unwrap_or_else(|| "NULL".into());
                            (shown, hash2(&b).0)
                        })
                        .collect();
                    out.sample.insert(k.clone(), vals);
                }
                for (k, &i) in ranged.iter().enumerate() {
                    let v = match batch.value(row, i) {
                        ValueRef::Int(x) => Some(x),
                        ValueRef::Date(d) => Some(d as i64),
                        _ => None,
                    };
                    if let Some(v) = v {
                        let r = out.ranges[k].get_or_insert((v, v));
                        r.0 = r.0.min(v);
                        r.1 = r.1.max(v);
                    }
                }
                for (f, cols) in fk_cols.iter().enumerate() {
                    let Some(Some(set)) = fk_sets.get(f) else {
                        continue;
                    };
                    if cols
                        .iter()
                        .any(|&c| matches!(batch.value(row, c), ValueRef::Null))
                    {
                        continue;
                    }
                    let h = tuple_hash(&batch, &schema_after, cols, row, &mut key_buf);
                    let o = &mut out.orphans[f];
                    o.0 += 1;
                    if !set.contains(&h) {
                        o.1 += 1;
                        if o.2.is_none() {
                            o.2 = Some(
                                cols.iter()
                                    .map(|&c| {
                                        crate::model::value_json(batch.value(row, c)).to_string()
                                    })
                                    .collect::<Vec<_>>()
                                    .join(","),
                            );
                        }
                    }
                }
                for (cols, idx) in &key_sets {
                    if idx.len() == cols.len()
                        && let Some(set) = out.keys.get_mut(cols)
                        && set.len() <= MAX_PARENT_KEYS
                    {
                        set.insert(tuple_hash(&batch, &schema_after, idx, row, &mut key_buf));
                    }
                }
            }
        }
        reader
            .await
            .map_err(|e| MigrateError::Internal(format!("verify reader: {e}")))??;
        Ok(out)
    }
}

/// The target name of the table a foreign key references (its name in the
/// plan's source, or already the target's, when the plan renamed it).
fn parent_table(plan: &Plan, fk: &crate::model::ForeignKeyDef) -> String {
    plan.tables
        .iter()
        .find(|p| p.name == fk.ref_table || p.target_name == fk.ref_table)
        .map(|p| p.target_name.clone())
        .unwrap_or_else(|| fk.ref_table.clone())
}

/// Hash of some columns of a row; `scratch` is reused across rows (this runs
/// per row, up to three times).
fn tuple_hash(
    batch: &Batch,
    schema: &Schema,
    cols: &[usize],
    row: usize,
    scratch: &mut Vec<u8>,
) -> u64 {
    scratch.clear();
    for &c in cols {
        canon(
            &batch.value(row, c),
            schema.columns[c].logical_type,
            scratch,
        );
    }
    let mut h = std::hash::DefaultHasher::new();
    scratch.hash(&mut h);
    h.finish()
}

/// Two independent 64-bit hashes of `bytes` (SipHash with fixed keys:
/// deterministic within one ferry build, which is all a comparison needs).
fn hash2(bytes: &[u8]) -> (u64, u64) {
    let mut a = std::hash::DefaultHasher::new();
    bytes.hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    0xfe77u16.hash(&mut b);
    bytes.hash(&mut b);
    (a.finish(), b.finish())
}

/// Appends the normalised form of a value: equal under the type mapping ⇔
/// equal bytes. Decimals lose insignificant zeros (`1.50` = `1.5`), JSON
/// is re-serialised with sorted keys, NaN is one NaN.
pub fn canon(v: &ValueRef<'_>, t: LogicalType, out: &mut Vec<u8>) {
    match v {
        ValueRef::Null => out.push(0),
        ValueRef::Bool(b) => out.extend_from_slice(&[1, *b as u8]),
        ValueRef::Int(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::Float(f) => {
            out.push(3);
            let bits = if f.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.to_bits()
            };
            out.extend_from_slice(&bits.to_le_bytes());
        }
        ValueRef::Date(d) => {
            out.push(4);
            out.extend_from_slice(&d.to_le_bytes());
        }
        ValueRef::Uuid(u) => {
            out.push(5);
            out.extend_from_slice(u);
        }
        ValueRef::Text(s) => {
            out.push(6);
            let norm;
            let s: &str = match t {
                LogicalType::Decimal => {
                    norm = canon_decimal(s);
                    &norm
                }
                LogicalType::Json => {
                    norm = canon_json(s);
                    &norm
                }
                _ => s,
            };
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        ValueRef::Bytes(b) => {
            out.push(7);
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// `+001.500e1` → `15`; `-0.0` → `0`; text that is not a decimal is kept.
pub fn canon_decimal(s: &str) -> String {
    match crate::model::Decimal::parse(s.trim()) {
        Some(d) => d.canonical(),
        None => s.to_string(),
    }
}

/// JSON re-serialised compactly with object keys sorted.
pub fn canon_json(s: &str) -> String {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                    out.push(':');
                    write(&m[*k], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) => {
            let mut out = String::new();
            write(&v, &mut out);
            out
        }
        Err(_) => s.to_string(),
    }
}

fn compare_samples(
    def: &TableDef,
    src: &HashMap<String, Vec<(String, u64)>>,
    tgt: &HashMap<String, Vec<(String, u64)>>,
) -> Check {
    if def.primary_key.is_empty() {
        return Check::Skipped {
            reason: "no primary key to match rows by".into(),
        };
    }
    let mut problems = Vec::new();
    let mut compared = 0;
    for (k, s) in src {
        match tgt.get(k) {
            None => problems.push(format!("row {k} is missing in the target")),
            Some(g) => {
                compared += 1;
                for (i, (a, b)) in s.iter().zip(g).enumerate() {
                    if a.1 != b.1 {
                        problems.push(format!(
                            "row {k}, column `{}`: source {:?}, target {:?}",
                            def.columns.get(i).map(|c| c.name.as_str()).unwrap_or("?"),
                            a.0,
                            b.0
                        ));
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Check::Match {
            value: format!("{compared} rows equal"),
        }
    } else {
        let n = problems.len();
        problems.truncate(5);
        Check::Mismatch {
            detail: format!("{n} differences, e.g. {}", problems.join("; ")),
        }
    }
}

/// The target's table against the plan: columns, types, keys, indexes, FKs.
fn schema_differences(plan: &Plan, t: &PlannedTable, target_tables: &[TableDef]) -> Vec<String> {
    let want = &t.target_def;
    let Some(got) = target_tables.iter().find(|x| x.name == want.name) else {
        return vec![format!("table `{}` is missing in the target", want.name)];
    };
    let mut out = Vec::new();
    let names = |d: &TableDef| d.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if names(want) != names(got) {
        out.push(format!(
            "columns differ: planned {:?}, target has {:?}",
            names(want),
            names(got)
        ));
    }
    for (w, g) in want.columns.iter().zip(&got.columns) {
        // A store without the type keeps it as text and the plan's
        // promotion reads it back (SQLite dates, for one): that is the
        // documented mapping, not a difference.
        let text_store = g.logical_type == LogicalType::Text
            && matches!(
                w.logical_type,
                LogicalType::Date
                    | LogicalType::Time
                    | LogicalType::Timestamp
                    | LogicalType::Timestamptz
                    | LogicalType::Json
            );
        let int_bool =
            g.logical_type == LogicalType::Int64 && w.logical_type == LogicalType::Boolean;
        if w.name == g.name && w.logical_type != g.logical_type && !text_store && !int_bool {
            out.push(format!(
                "column `{}` is {} in the target, planned {}",
                w.name, g.logical_type, w.logical_type
            ));
        }
    }
    if want.primary_key != got.primary_key {
        out.push(format!(
            "primary key is {:?}, planned {:?}",
            got.primary_key, want.primary_key
        ));
    }
    let got_unique: Vec<&Vec<String>> = got
        .unique
        .iter()
        .map(|u| &u.columns)
        .chain(got.indexes.iter().filter(|i| i.unique).map(|i| &i.columns))
        .collect();
    for u in &want.unique {
        if !got_unique.contains(&&u.columns) {
            out.push(format!("unique {} {:?} is missing", u.name, u.columns));
        }
    }
    for i in &want.indexes {
        let found = got.indexes.iter().any(|g| g.columns == i.columns)
            || (i.unique && got_unique.contains(&&i.columns));
        if !found {
            out.push(format!("index {} {:?} is missing", i.name, i.columns));
        }
    }
    for fk in &want.foreign_keys {
        let parent = parent_table(plan, fk);
        let found = got.foreign_keys.iter().any(|g| {
            g.columns == fk.columns && g.ref_table == parent && g.ref_columns == fk.ref_columns
        });
        if !found {
            out.push(format!(
                "foreign key {} {:?} → {}{:?} is missing",
                fk.name, fk.columns, parent, fk.ref_columns
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_normalise() {
        for (a, b) in [
            ("1.50", "1.5"),
            ("+001.500e1", "15"),
            ("-0.0", "0"),
            ("0.990000000000000000000000000000", "0.99"),
            ("1e3", "1000"),
            ("12.5e-3", "0.0125"),
            ("-7", "-7"),
            ("100", "100"),
        ] {
            assert_eq!(canon_decimal(a), b, "{a}");
        }
    }

    #[test]
    fn json_normalises() {
        assert_eq!(
            canon_json(r#"{"b": [1, {"d":1,"c":2}], "a": null}"#),
            r#"{"a":null,"b":[1,{"c":2,"d":1}]}"#
        );
    }
}
