//! `ferry sync`: makes a target that earlier runs filled equal to its source
//! again — inserts, updates and deletes by primary key and row hash.
//!
//! Per table (single-column primary key): both sides are read once and each
//! row reduced to (key, hash of its normalised values — the same
//! normalisation verify uses, the source through the plan's casts); the
//! difference is three key sets. Applying it re-reads the source for the
//! inserted and changed rows and writes them as upserts in batches, and
//! deletes the target's extra keys in batches — children first for deletes,
//! parents first for upserts. Before anything changes the run is recorded in
//! the ledger with a copy of each table (so `ferry rollback` undoes a sync).
//!
//! Memory: two hashes per row per side (32 bytes plus the key), not rows.
//! A source row that cannot be read faithfully (quarantined at read or cast)
//! is not compared; while a table has such rows, its deletes are skipped
//! (reported): an unreadable row must never delete its target row.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::mpsc;

use std::sync::Arc;

use crate::endpoint::{self, Feature, IfExists, ReadBatch, Scan, Sink, Source, TargetTable, Write};
use crate::engine::{MigrateError, MigrateOptions, NoEvents, make_plan};
use crate::model::{Batch, BatchBuilder, Schema, TableDef, ValueRef};
use crate::plan::{Plan, PlannedTable};

/// Keys listed per kind and table in the report: the first 1,000 (counts are always exact).
const LISTED_KEYS: usize = 1_000;

/// One table's differences.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TableSync {
    pub table: String,
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
    /// Keys of each kind (the first 1,000).
    pub insert_keys: Vec<String>,
    pub update_keys: Vec<String>,
    pub delete_keys: Vec<String>,
    /// Why some differences were not applied (or the table not compared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// What a sync found and did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub run_id: String,
    pub source: String,
    pub target: String,
    pub dry_run: bool,
    pub tables: Vec<TableSync>,
    pub duration_ms: u64,
}

/// Compares `from` with `to` and, unless `dry_run`, applies the difference.
pub async fn sync(mut opts: MigrateOptions, dry_run: bool) -> Result<SyncReport, MigrateError> {
    let started = Instant::now();
    opts.verify = None;
    let plan = make_plan(&opts, Arc::new(NoEvents)).await?;
    let run_id = uuid::Uuid::new_v4().to_string();
    let source = endpoint::open_source(&opts.from).await?;
    let target = endpoint::open_source(&opts.to).await?;
    let existing = target.tables().await?;
    let mut tables = Vec::new();
    let mut diffs: Vec<(PlannedTable, Diff)> = Vec::new();
    for t in &plan.tables {
        let mut ts = TableSync {
            table: t.name.clone(),
            ..Default::default()
        };
        let Some(target_def) = existing.iter().find(|d| d.name == t.target_name) else {
            ts.skipped = Some(format!(
                "table `{}` is not in the target: migrate it first",
                t.target_name
            ));
            tables.push(ts);
            continue;
        };
        if t.source_def.primary_key.len() != 1 {
            ts.skipped = Some("sync compares tables by a single-column primary key; this table has none or a composite one".into());
            tables.push(ts);
            continue;
        }
        let d = diff_table(&source, &target, t, target_def).await?;
        ts.inserts = d.inserts.len() as u64;
        ts.updates = d.updates.len() as u64;
        ts.deletes = d.deletes.len() as u64;
        ts.insert_keys = listed(&d.inserts);
        ts.update_keys = listed(&d.updates);
        ts.delete_keys = listed(&d.deletes);
        if d.unreadable > 0 && !d.deletes.is_empty() {
            ts.skipped = Some(format!(
                "{} source rows could not be read faithfully (see a migrate run's quarantine); the {} deletes are not applied until they are",
                d.unreadable,
                d.deletes.len()
            ));
        }
        tables.push(ts);
        diffs.push((t.clone(), d));
    }
    let report = |tables| SyncReport {
        run_id: run_id.clone(),
        source: opts.from.to_string(),
        target: opts.to.to_string(),
        dry_run,
        tables,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    if dry_run || diffs.iter().all(|(_, d)| d.is_empty()) {
        return Ok(report(tables));
    }
    let mut sink = endpoint::open_sink(&opts.to).await?;
    let caps = sink.capabilities();
    for f in [Feature::Upsert, Feature::Delete] {
        if !caps.has(f) {
            return Err(MigrateError::Unsupported(caps.cannot(&sink.describe(), f)));
        }
    }
    let ledger = sink.ledger().is_some();
    if let Some(l) = sink.ledger() {
        l.init().await?;
        l.save_run(&run_record(&run_id, &opts, &plan, "running"))
            .await?;
        let changed: Vec<TargetTable> = diffs
            .iter()
            .filter(|(_, d)| !d.is_empty())
            .map(|(t, _)| t.target())
            .collect();
        // Copies of the tables it changes in place, `absent` for the others.
        crate::engine::record_backups(
            &mut sink,
            &mut None,
            &run_id,
            &changed,
            IfExists::Drop,
            true,
        )
        .await?;
    }
    // Deletes children first, then upserts parents first.
    for (t, d) in diffs.iter().rev() {
        if d.deletes.is_empty() || d.unreadable > 0 {
            continue;
        }
        let keys: Vec<String> = d.deletes.iter().map(|k| k.1.clone()).collect();
        for chunk in keys.chunks(opts.batch_size) {
            sink.delete_rows(&t.target_name, None, &t.target_def.primary_key[0], chunk)
                .await?;
        }
    }
    for (t, d) in &diffs {
        let wanted: HashSet<Vec<u8>> = d
            .inserts
            .iter()
            .chain(&d.updates)
            .map(|k| k.0.clone())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        upsert_rows(&source, &mut sink, &run_id, t, &wanted, opts.batch_size).await?;
    }
    // Inserted rows may carry ids past the counters: the application's next
    // INSERT without an id must still get max + 1.
    let touched: Vec<crate::endpoint::TargetTable> = diffs
        .iter()
        .filter(|(_, d)| !d.inserts.is_empty() || !d.updates.is_empty())
        .map(|(t, _)| crate::endpoint::TargetTable {
            source: t.source_def.clone(),
            def: t.target_def.clone(),
        })
        .collect();
    sink.sync_identity(&touched).await?;
    if ledger && let Some(l) = sink.ledger() {
        l.save_run(&run_record(&run_id, &opts, &plan, "succeeded"))
            .await?;
    }
    Ok(report(tables))
}

fn run_record(
    run_id: &str,
    opts: &MigrateOptions,
    plan: &Plan,
    status: &str,
) -> crate::ledger::RunRecord {
    let now = crate::ledger::now();
    crate::ledger::RunRecord {
        run_id: run_id.to_string(),
        status: status.to_string(),
        phase: if status == "running" { "load" } else { "done" }.to_string(),
        mode: "sync".to_string(),
        source: opts.from.to_string(),
        target: opts.to.to_string(),
        fingerprint: Some(plan.fingerprint.clone()),
        plan: serde_json::to_string(plan).ok(),
        started_at: now.clone(),
        updated_at: now.clone(),
        finished_at: (status != "running").then_some(now),
        report: None,
        error: None,
    }
}

/// (normalised key bytes, the key as the target's text for deletes).
type Key = (Vec<u8>, String);

#[derive(Default)]
struct Diff {
    inserts: Vec<Key>,
    updates: Vec<Key>,
    deletes: Vec<Key>,
    /// Source rows rejected at read or cast: not compared.
    unreadable: u64,
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

fn listed(keys: &[Key]) -> Vec<String> {
    keys.iter().take(LISTED_KEYS).map(|k| k.1.clone()).collect()
}

/// A key value as text, as SQL `col::text` / SQLite comparison takes it.
fn key_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Int(i) => i.to_string(),
        ValueRef::Text(s) => s.to_string(),
        ValueRef::Uuid(u) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&u[..16.min(u.len())]);
            crate::model::temporal::format_uuid(&a)
        }
        other => crate::model::value_json(other).to_string(),
    }
}

/// One side: key → (row hash, key text), read fully.
async fn side_hashes(
    side: &Arc<dyn Source>,
    read_def: &TableDef,
    cast: Option<(&PlannedTable, &TableDef)>,
    key_col: &str,
) -> Result<(HashMap<Vec<u8>, (u128, String)>, u64), MigrateError> {
    let (tx, mut rx) = mpsc::channel::<ReadBatch>(2);
    let reader = side.clone().read(
        read_def.clone(),
        crate::engine::options::DEFAULT_BATCH_SIZE,
        // Collected into a map by key: any order will do.
        Scan::Unordered,
        tx,
    );
    let read_schema = read_def.schema();
    let after: Schema = match cast {
        Some((_, d)) => d.schema(),
        None => read_schema.clone(),
    };
    let ki = after.index_of(key_col).ok_or_else(|| {
        MigrateError::Internal(format!("key column `{key_col}` not in `{}`", read_def.name))
    })?;
    let mut out = HashMap::new();
    let mut unreadable = 0u64;
    let mut buf = Vec::new();
    while let Some(rb) = rx.recv().await {
        let mut rejects = rb.rejects;
        let batch = match cast {
            Some((t, d)) if !t.casts.is_empty() => {
                crate::cast::cast_batch(read_def, &read_schema, &d.schema(), rb.batch, &mut rejects)
            }
            _ => rb.batch,
        };
        unreadable += rejects.len() as u64;
        for r in 0..batch.num_rows {
            let mut key = Vec::new();
            crate::engine::verify::canon(
                &batch.value(r, ki),
                after.columns[ki].logical_type,
                &mut key,
            );
            buf.clear();
            for (c, col) in after.columns.iter().enumerate() {
                crate::engine::verify::canon(&batch.value(r, c), col.logical_type, &mut buf);
            }
            out.insert(key, (hash128(&buf), key_text(batch.value(r, ki))));
        }
    }
    reader
        .await
        .map_err(|e| MigrateError::Internal(format!("sync reader: {e}")))??;
    Ok((out, unreadable))
}

fn hash128(bytes: &[u8]) -> u128 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

async fn diff_table(
    source: &Arc<dyn Source>,
    target: &Arc<dyn Source>,
    t: &PlannedTable,
    target_def: &TableDef,
) -> Result<Diff, MigrateError> {
    let key = &t.source_def.primary_key[0];
    let cast_def = t.cast_def();
    let (src, unreadable) = side_hashes(source, &t.source_def, Some((t, &cast_def)), key).await?;
    // The target read as the plan created it (names as fitted).
    let tkey = &t.target_def.primary_key[0];
    let mut tdef = t.target_def.clone();
    tdef.name = target_def.name.clone();
    let (dst, _) = side_hashes(target, &tdef, None, tkey).await?;
    let mut d = Diff {
        unreadable,
        ..Default::default()
    };
    for (k, (h, text)) in &src {
        match dst.get(k) {
            None => d.inserts.push((k.clone(), text.clone())),
            Some((th, _)) if th != h => d.updates.push((k.clone(), text.clone())),
            Some(_) => {}
        }
    }
    for (k, (_, text)) in &dst {
        if !src.contains_key(k) {
            d.deletes.push((k.clone(), text.clone()));
        }
    }
    for v in [&mut d.inserts, &mut d.updates, &mut d.deletes] {
        v.sort_by(|a, b| a.1.cmp(&b.1));
    }
    Ok(d)
}

/// Re-reads the source and upserts the rows whose key is `wanted`.
async fn upsert_rows(
    source: &Arc<dyn Source>,
    sink: &mut Box<dyn Sink>,
    run_id: &str,
    t: &PlannedTable,
    wanted: &HashSet<Vec<u8>>,
    batch_size: usize,
) -> Result<(), MigrateError> {
    let cast_def = t.cast_def();
    let read_schema = t.source_def.schema();
    let schema = cast_def.schema();
    let ki = schema
        .index_of(&t.source_def.primary_key[0])
        .ok_or_else(|| MigrateError::Internal("key column missing".into()))?;
    let target = t.target();
    let (tx, mut rx) = mpsc::channel::<ReadBatch>(2);
    let reader = source
        .clone()
        .read(t.source_def.clone(), batch_size, Scan::All, tx);
    let mut b = BatchBuilder::new(&schema, batch_size);
    while let Some(rb) = rx.recv().await {
        let mut rejects = Vec::new();
        let batch: Batch = if t.casts.is_empty() {
            rb.batch
        } else {
            crate::cast::cast_batch(&t.source_def, &read_schema, &schema, rb.batch, &mut rejects)
        };
        for r in 0..batch.num_rows {
            let mut key = Vec::new();
            crate::engine::verify::canon(
                &batch.value(r, ki),
                schema.columns[ki].logical_type,
                &mut key,
            );
            if wanted.contains(&key) {
                b.copy_row(&batch, r);
            }
        }
        if b.len() >= batch_size {
            sink.write(Write {
                run_id,
                table: &target,
                batch: &b.finish(),
                rejects: &[],
                checkpoint: None,
                upsert: true,
                replace: None,
                raw: None,
                keep_sent: false,
            })
            .await?;
        }
    }
    if !b.is_empty() {
        sink.write(Write {
            run_id,
            table: &target,
            batch: &b.finish(),
            rejects: &[],
            checkpoint: None,
            upsert: true,
            replace: None,
            raw: None,
            keep_sent: false,
        })
        .await?;
    }
    reader
        .await
        .map_err(|e| MigrateError::Internal(format!("sync reader: {e}")))??;
    Ok(())
}
