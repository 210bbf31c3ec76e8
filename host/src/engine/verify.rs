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
//! In a standalone `ferry verify`, tables a transformer changed are compared
//! by counts, accounting, orphans and schema only: their values differ from
//! the source by design, and the report says so. A run's own verification
//! (see [`super::readback`]) compares what it sent, so it checks them fully.
//! `docs/verification.md` says what each kind of verification proves.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use super::MigrateError;
use super::digest::{Digest, DigestSpec, Form, Scratch};
use super::keyset::{Key, KeySet};
use crate::endpoint::{self, EndpointUrl, ReadBatch, Scan, Source};
use crate::model::{Batch, LogicalType, TableDef};
use crate::plan::{Plan, PlannedTable};

pub use super::digest::{SAMPLE_ROWS, canon};

/// Largest parent table whose keys verify holds to find orphans: 5,000,000
/// keys (a hash set of u64, ~100 MB). Larger parents are reported as not
/// checked rather than risking the host's memory.
pub(crate) const MAX_PARENT_KEYS: usize = 5_000_000;

/// Batches kept in flight per table and side while verifying.
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
    pub(crate) fn failed(&self) -> bool {
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
    /// What the checksum was taken over.
    pub checksum_over: ChecksumOver,
    pub sample: Check,
    /// Per foreign key: target rows whose parent is missing.
    pub orphans: Vec<(String, Check)>,
    pub ranges: Vec<RangeCheck>,
    /// Differences between the target's schema and the plan.
    pub schema: Vec<String>,
    pub ok: bool,
}

/// What a table's checksum was taken over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumOver {
    /// Each row's values in their normalised form: equal under the type
    /// mapping, whatever the endpoints.
    #[default]
    Values,
    /// Each row's bytes as the wire carried them, on both sides: a table a
    /// PostgreSQL → PostgreSQL run passed through undecoded, read back in
    /// the same binary form. Equal bytes are equal values; unequal bytes
    /// are compared again by value before anything is reported.
    WireBytes,
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
            &mut parents,
        )
        .await?;
        tables.push(tv);
        crate::failpoint::at("verify", Some(&t.name));
    }
    let views = check_views(plan, target.as_ref()).await;
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

/// Per view of the plan: it exists in the target and answers a query.
pub(crate) async fn check_views(plan: &Plan, target: &dyn Source) -> Vec<(String, Check)> {
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
    views
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
            checksum_over: ChecksumOver::Values,
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
type ParentKeys = HashMap<(String, Vec<String>), Option<Arc<KeySet>>>;

/// What one side's full read found.
#[derive(Default)]
pub(crate) struct SideScan {
    /// Rows read.
    pub(crate) rows: u64,
    /// The digest of the rows read, quarantined rows left out.
    pub(crate) digest: Digest,
    /// Per foreign key of this table: (checked rows, orphans, first orphan key).
    pub(crate) orphans: Vec<(u64, u64, Option<String>)>,
    /// Keys of this table that children reference.
    pub(crate) keys: HashMap<Vec<String>, KeySet>,
}

/// The source side of a table as a verification compares it: how many rows
/// the source holds, and the digest of those that should be in the target.
pub(crate) struct SourceSide {
    pub(crate) rows: u64,
    pub(crate) digest: Digest,
}

/// One table's digest spec, as both sides of its verification use it: the
/// target table's columns, named by the loaded table's key.
pub(crate) fn digest_spec(t: &PlannedTable) -> DigestSpec {
    DigestSpec::new(
        t.target_def.schema(),
        &t.loaded_def().primary_key,
        t.estimated_rows,
    )
}

/// The target side's read of one table: its columns as the plan made them,
/// orphans checked against the parents' key sets, and the key sets children
/// will be checked against collected.
pub(crate) fn target_scan(
    plan: &Plan,
    t: &PlannedTable,
    target: Arc<dyn Source>,
    fk_sets: Vec<Option<Arc<KeySet>>>,
) -> ScanSpec {
    let wanted_keys: Vec<Vec<String>> = referenced(plan)
        .into_iter()
        .filter(|(tbl, _)| tbl == &t.target_name)
        .map(|(_, cols)| cols)
        .collect();
    ScanSpec {
        side: target,
        read_def: t.target_def.clone(),
        cast: None,
        digest: digest_spec(t),
        exclude: HashMap::new(),
        fk_sets,
        wanted_keys,
        raw: false,
    }
}

/// Which (table, columns) children reference, so their keys are collected.
pub(crate) fn referenced(plan: &Plan) -> HashSet<(String, Vec<String>)> {
    let mut out = HashSet::new();
    for t in &plan.tables {
        for fk in &t.target_def.foreign_keys {
            out.insert((parent_table(plan, fk), fk.ref_columns.clone()));
        }
    }
    out
}

/// A table's verification before anything is compared.
pub(crate) fn unverified(
    plan: &Plan,
    t: &PlannedTable,
    target_tables: &[TableDef],
    quarantined: u64,
) -> TableVerify {
    TableVerify {
        table: t.name.clone(),
        target_table: t.target_name.clone(),
        source_rows: 0,
        target_rows: 0,
        quarantined,
        accounted: false,
        checksum: Check::Skipped {
            reason: "verify level is counts".into(),
        },
        checksum_over: ChecksumOver::Values,
        sample: Check::Skipped {
            reason: "verify level is counts".into(),
        },
        orphans: Vec::new(),
        ranges: Vec::new(),
        schema: schema_differences(plan, t, target_tables),
        ok: false,
    }
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
    parents: &mut ParentKeys,
) -> Result<TableVerify, MigrateError> {
    let mut tv = unverified(plan, t, target_tables, quarantined);
    if level == Level::Counts || !target_tables.iter().any(|x| x.name == t.target_name) {
        tv.source_rows = source.count(&t.name).await?;
        tv.target_rows = if target_tables.iter().any(|x| x.name == t.target_name) {
            target.count(&t.target_name).await?
        } else {
            0
        };
        tv.finish();
        return Ok(tv);
    }
    let loaded = t.loaded_def();
    let src_spec = ScanSpec {
        side: source.clone(),
        read_def: t.source_def.clone(),
        cast: (!t.casts.is_empty()).then(|| loaded.clone()),
        // The source read through the casts has the loaded table's columns.
        digest: DigestSpec::new(loaded.schema(), &loaded.primary_key, t.estimated_rows),
        exclude: q_keys,
        fk_sets: Vec::new(),
        wanted_keys: Vec::new(),
        raw: false,
    };
    // The parent key sets this table's foreign keys are checked against:
    // those of parents verified before it.
    let fk_sets: Vec<Option<Arc<KeySet>>> = t
        .target_def
        .foreign_keys
        .iter()
        .map(|fk| {
            parents
                .get(&(parent_table(plan, fk), fk.ref_columns.clone()))
                .and_then(|s| s.clone())
        })
        .collect();
    let tgt_spec = target_scan(plan, t, target.clone(), fk_sets.clone());
    // Each side hashes on its own task: two cores, two streams.
    let src_task = tokio::spawn(src_spec.run());
    let tgt_task = tokio::spawn(tgt_spec.run());
    let joined = |r: Result<Result<SideScan, MigrateError>, tokio::task::JoinError>| {
        r.map_err(|e| MigrateError::Internal(format!("verify task: {e}")))?
    };
    let (src, mut tgt) = (joined(src_task.await)?, joined(tgt_task.await)?);
    let transformed = (!t.transforms.is_empty()).then(|| {
        t.transforms
            .iter()
            .filter_map(|&i| plan.transformers.get(i))
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let source = SourceSide {
        rows: src.rows,
        digest: src.digest,
    };
    for (cols, keys) in std::mem::take(&mut tgt.keys) {
        let keep = (keys.len() <= MAX_PARENT_KEYS).then(|| Arc::new(keys));
        parents.insert((t.target_name.clone(), cols), keep);
    }
    let collected: Vec<bool> = fk_sets.iter().map(Option::is_some).collect();
    judge(&mut tv, t, source, &tgt, &collected, transformed);
    Ok(tv)
}

/// Compares a table's source side with what was read back from the target;
/// `collected[f]` says whether the f-th foreign key's parent keys were
/// there to check orphans against; `transformed` names the transformers
/// that changed the values the source side holds (values are then not
/// compared).
pub(crate) fn judge(
    tv: &mut TableVerify,
    t: &PlannedTable,
    src: SourceSide,
    tgt: &SideScan,
    collected: &[bool],
    transformed: Option<String>,
) {
    let loaded = t.loaded_def();
    let spec = digest_spec(t);
    tv.source_rows = src.rows;
    tv.target_rows = tgt.rows;
    if let Some(by) = &transformed {
        let reason = format!("values are changed by transformer {by}");
        tv.checksum = Check::Skipped {
            reason: reason.clone(),
        };
        tv.sample = Check::Skipped { reason };
    } else {
        let (s, g) = (&src.digest, &tgt.digest);
        let unkeyed = tv.quarantined > 0 && loaded.primary_key.is_empty();
        tv.checksum = if unkeyed {
            Check::Skipped {
                reason: "quarantined rows have no key to leave them out by".into(),
            }
        // Digested rows on both sides: a value neither side's reader can
        // decode (a NaN numeric passed through) is counted by the
        // accounting, not hashed, on both sides alike.
        } else if s.sum == g.sum && s.rows == g.rows && s.form == g.form {
            if s.form == Form::Raw {
                tv.checksum_over = ChecksumOver::WireBytes;
            }
            Check::Match { value: s.show() }
        } else {
            Check::Mismatch {
                detail: format!(
                    "source {} over {} rows, target {} over {} rows",
                    s.show(),
                    s.rows,
                    g.show(),
                    g.rows
                ),
            }
        };
        tv.sample = compare_samples(&t.target_def, &s.sample, &g.sample);
        for (k, &i) in spec.ranged.iter().enumerate() {
            let ty = spec.schema.columns[i].logical_type;
            let show = |r: Option<&Option<(i64, i64)>>| {
                r.copied()
                    .flatten()
                    .map(|(a, b)| (show_temporal(a, ty), show_temporal(b, ty)))
            };
            let (a, b) = (show(s.ranges.get(k)), show(g.ranges.get(k)));
            tv.ranges.push(RangeCheck {
                column: spec.schema.columns[i].name.clone(),
                ok: a == b,
                source: a,
                target: b,
            });
        }
    }
    for (f, (fk, (checked, orphans, first))) in t
        .target_def
        .foreign_keys
        .iter()
        .zip(&tgt.orphans)
        .enumerate()
    {
        let c = if !collected.get(f).copied().unwrap_or(false) {
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
    tv.finish();
}

impl TableVerify {
    /// Settles `accounted` and `ok` from the checks.
    fn finish(&mut self) {
        self.accounted = self.source_rows == self.target_rows + self.quarantined;
        self.ok = self.accounted
            && !self.checksum.failed()
            && !self.sample.failed()
            && self.orphans.iter().all(|(_, c)| !c.failed())
            && self.ranges.iter().all(|r| r.ok)
            && self.schema.is_empty();
    }
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
pub(crate) struct ScanSpec {
    side: Arc<dyn Source>,
    read_def: TableDef,
    /// The def after casts, when the side is read through the plan's casts.
    cast: Option<TableDef>,
    /// How the rows (after casts) are digested.
    digest: DigestSpec,
    /// Source keys of quarantined rows (with multiplicity), left out.
    exclude: HashMap<String, u64>,
    /// Per foreign key of the table: the parent's key hashes, when collected.
    fk_sets: Vec<Option<Arc<KeySet>>>,
    /// Column lists of this table that children reference.
    wanted_keys: Vec<Vec<String>>,
    /// Read the side's raw rows and digest them as such ([`Form::Raw`]).
    raw: bool,
}

impl ScanSpec {
    /// Reads the side's rows as its wire carries them and digests those
    /// ([`Form::Raw`]) — for a table whose run passed raw rows through. A
    /// side without a raw read yields a [`Form::Canon`] digest (which then
    /// compares with nothing raw).
    pub(crate) fn raw(mut self, raw: bool) -> ScanSpec {
        self.raw = raw;
        self
    }

    /// Reads one side of a table fully, hashing as it goes.
    pub(crate) async fn run(self) -> Result<SideScan, MigrateError> {
        let ScanSpec {
            side,
            read_def,
            cast,
            digest: spec,
            mut exclude,
            fk_sets,
            wanted_keys,
            raw,
        } = self;
        let (tx, mut rx) = mpsc::channel::<ReadBatch>(CHANNEL_DEPTH);
        let read = if raw { Source::read_raw } else { Source::read };
        let reader = read(
            side,
            read_def.clone(),
            crate::engine::options::DEFAULT_BATCH_SIZE,
            // A digest is a sum: the order rows come in does not matter.
            Scan::Unordered,
            tx,
        );
        let mut out = SideScan {
            digest: Digest::new(&spec),
            orphans: vec![(0, 0, None); fk_sets.len()],
            ..Default::default()
        };
        let schema_after = &spec.schema;
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
        // Per column list children reference: its indexes, and the key
        // hashes collected (moved into `out.keys` at the end). A list
        // missing a column collects nothing.
        let mut key_sets: Vec<(Vec<String>, Option<Vec<usize>>, KeySet)> = wanted_keys
            .iter()
            .map(|cols| {
                let idx: Vec<usize> = cols
                    .iter()
                    .filter_map(|c| schema_after.index_of(c))
                    .collect();
                (
                    cols.clone(),
                    (idx.len() == cols.len()).then_some(idx),
                    KeySet::default(),
                )
            })
            .collect();
        let mut scratch = Scratch::default();
        // Raw rows: the columns looked at row by row (keys, dates, foreign
        // keys, key sets) are decoded; the rest is hashed as it came.
        let wanted = raw.then(|| {
            let more: Vec<usize> = fk_cols
                .iter()
                .flatten()
                .chain(key_sets.iter().filter_map(|(_, i, _)| i.as_ref()).flatten())
                .copied()
                .collect();
            spec.wanted(&more)
        });
        let mut extents = Vec::new();
        let mut undecodable = None;
        while let Some(rb) = rx.recv().await {
            out.rows += rb.rows_read;
            let mut ignored = Vec::new();
            extents.clear();
            let batch: Batch = match (&rb.raw, &wanted) {
                (Some(r), Some(w)) => match r.decode.split(&r.bytes, r.rows, w, &mut extents) {
                    Ok(b) => b,
                    Err(why) => {
                        // Counted, not digested: the digest is then not
                        // comparable, and the run verifies the classic way.
                        undecodable.get_or_insert(why);
                        continue;
                    }
                },
                _ => match &cast {
                    Some(_) => crate::cast::cast_batch(
                        &read_def,
                        &read_schema,
                        schema_after,
                        rb.batch,
                        &mut ignored,
                    ),
                    None => rb.batch,
                },
            };
            let raw_rows = rb.raw.as_ref().filter(|_| extents.len() == batch.num_rows);
            if batch.num_rows > 0 {
                out.digest.takes(if raw_rows.is_some() {
                    Form::Raw
                } else {
                    Form::Canon
                });
            }
            for row in 0..batch.num_rows {
                // The key as text is built only for rows that may be left out or
                // sampled; the sample is picked by a hash of the key's values,
                // which is also the key's entry in its key set.
                let key_hash = spec.key_hash(&batch, row, &mut scratch.key);
                let sampled = key_hash.is_some_and(|h| spec.sampled_by(h));
                let key = if sampled || !exclude.is_empty() {
                    spec.key(&batch, row)
                } else {
                    None
                };
                if let Some(k) = &key
                    && let Some(n) = exclude.get_mut(k)
                    && *n > 0
                {
                    *n -= 1;
                    continue;
                }
                let sampled_key = key.filter(|_| sampled);
                match raw_rows.zip(extents.get(row)) {
                    Some((r, extent)) => {
                        let bytes = &r.bytes[extent.clone()];
                        let added =
                            out.digest
                                .add_raw(&spec, &batch, row, bytes, sampled_key, &*r.decode);
                        if let Err(why) = added {
                            undecodable.get_or_insert(why);
                        }
                    }
                    None => {
                        out.digest
                            .add(&spec, &batch, row, sampled_key, &mut scratch);
                    }
                }
                for (f, cols) in fk_cols.iter().enumerate() {
                    let Some(Some(set)) = fk_sets.get(f) else {
                        continue;
                    };
                    if cols
                        .iter()
                        .any(|&c| matches!(batch.value(row, c), crate::model::ValueRef::Null))
                    {
                        continue;
                    }
                    let k = Key::of(&batch, schema_after, cols, row, None, &mut scratch.key);
                    let o = &mut out.orphans[f];
                    o.0 += 1;
                    if !set.contains(k) {
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
                for (_, idx, set) in &mut key_sets {
                    let Some(idx) = idx else { continue };
                    if set.len() <= MAX_PARENT_KEYS {
                        let known = key_hash.filter(|_| idx.as_slice() == spec.key_idx());
                        set.insert(Key::of(
                            &batch,
                            schema_after,
                            idx,
                            row,
                            known,
                            &mut scratch.key,
                        ));
                    }
                }
            }
        }
        for (cols, _, set) in key_sets {
            out.keys.insert(cols, set.seal());
        }
        if let Some(why) = undecodable {
            tracing::debug!(
                table = read_def.name,
                "raw rows read back not decoded for verification ({why})"
            );
            out.digest.form = Form::Mixed;
        }
        reader
            .await
            .map_err(|e| MigrateError::Internal(format!("verify reader: {e}")))??;
        Ok(out)
    }
}

/// The target name of the table a foreign key references (its name in the
/// plan's source, or already the target's, when the plan renamed it).
pub(crate) fn parent_table(plan: &Plan, fk: &crate::model::ForeignKeyDef) -> String {
    plan.tables
        .iter()
        .find(|p| p.name == fk.ref_table || p.target_name == fk.ref_table)
        .map(|p| p.target_name.clone())
        .unwrap_or_else(|| fk.ref_table.clone())
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
