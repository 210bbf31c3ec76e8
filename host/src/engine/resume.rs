//! Resuming a run: the plan it is resumed with (refused when it cannot be,
//! saying why and what to do instead), and what the resumed run must still
//! create and back up before it loads.

use std::sync::Arc;

use crate::endpoint::{EndpointError, IfExists, Sink, TargetTable};
use crate::ledger::RunRecord;
use crate::plan::Plan;

use super::options::Resume;
use super::record::{record_backups, store};
use super::report::MigrateError;
use super::table::TablePlan;

/// The plan run `rec` is resumed with, or why it cannot be: an incremental
/// run is run again instead; a consolidation is not resumable yet; a plugin
/// whose build changed since the run started is refused unless `accepted`
/// names it with its new digest (`(name or reference, sha256)`), in which
/// case the plan is pinned to the new build (and its fingerprint redone).
pub async fn plan_to_resume(
    rec: &RunRecord,
    registry: &crate::plugin::Registry,
    accepted: &[(String, String)],
) -> Result<Plan, String> {
    let id = &rec.run_id;
    if rec.mode == "incremental" {
        return Err(format!(
            "run {id} was incremental: run `ferry migrate --incremental` again instead — it continues from the marks the run committed and replaces rows by key, so nothing is doubled"
        ));
    }
    let Some(text) = &rec.plan else {
        return Err(format!(
            "run {id} has no recorded plan; it cannot be resumed"
        ));
    };
    let mut plan: Plan = serde_json::from_str(text)
        .map_err(|e| format!("run {id}: the recorded plan is unreadable: {e}"))?;
    if !plan.more_sources.is_empty() || plan.tables.iter().any(|t| !t.rekey.is_empty()) {
        return Err(format!(
            "run {id} consolidates several sources; resuming a consolidation is not supported yet: roll the target back (drop it) and run again"
        ));
    }
    let mut refused = Vec::new();
    for p in plan
        .transformers
        .iter_mut()
        .chain(plan.validators.iter_mut())
    {
        let now = registry
            .resolve(&p.reference)
            .await
            .map_err(|e| e.to_string())?;
        let m = now.manifest();
        if m.sha256 == p.sha256 {
            continue;
        }
        let ok = accepted
            .iter()
            .any(|(n, s)| (n == &p.name || n == &p.reference || n == &m.name) && s == &m.sha256);
        if ok {
            p.sha256 = m.sha256.clone();
            p.version = m.version.clone();
            p.name = m.name.clone();
        } else {
            refused.push(format!(
                "plugin `{}` ({}) changed since the run started: recorded sha256 {}, now {}; to resume with this build pass --accept-plugin {}={}",
                p.name, p.reference, p.sha256, m.sha256, p.name, m.sha256
            ));
        }
    }
    if !refused.is_empty() {
        return Err(refused.join("\n"));
    }
    plan.fingerprint = plan.compute_fingerprint();
    Ok(plan)
}

/// What a resumed run must (re)create before it loads, and the backups it
/// must still take. A table with a checkpoint of this run holds this run's
/// committed batches (a batch commits with its checkpoint): it is kept. Any
/// other table holds none of this run's rows, so it is created afresh —
/// after the run's backup of it is recorded, when the run died before it
/// backed the table up (its old content may still be in place: a replacing
/// run records every backup, then drops and recreates the tables).
pub(crate) async fn resume_tables(
    sink: &mut Box<dyn Sink>,
    state: &mut Option<Box<dyn Sink>>,
    resume: &Resume,
    plans: &[Arc<TablePlan>],
    targets: &[TargetTable],
    existing: &[String],
    plan: &Plan,
) -> Result<Vec<TargetTable>, MigrateError> {
    let started: Vec<&str> = plans
        .iter()
        .filter(|p| resume.checkpoints.iter().any(|c| c.table == p.source.name))
        .map(|p| p.target.def.name.as_str())
        .collect();
    let recorded: Vec<String> = match store(sink, state) {
        Some(l) => l.backups(&resume.run_id).await?,
        None => Vec::new(),
    }
    .into_iter()
    .map(|b| b.table)
    .collect();
    let fresh: Vec<TargetTable> = targets
        .iter()
        .filter(|t| !(started.contains(&t.def.name.as_str()) && existing.contains(&t.def.name)))
        .cloned()
        .collect();
    let unrecorded: Vec<TargetTable> = fresh
        .iter()
        .filter(|t| !recorded.contains(&t.def.name))
        .cloned()
        .collect();
    let if_exists = if plan.if_exists == "drop" {
        IfExists::Drop
    } else {
        IfExists::Fail
    };
    if let Some(t) = unrecorded
        .iter()
        .find(|t| existing.contains(&t.def.name) && if_exists == IfExists::Fail)
    {
        return Err(EndpointError::TargetExists {
            endpoint: sink.describe(),
            table: t.def.name.clone(),
        }
        .into());
    }
    record_backups(sink, state, &resume.run_id, &unrecorded, if_exists, false).await?;
    Ok(fresh)
}
