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

/// Where [`prepare`] leaves a run asked to resume.
pub enum Resumable {
    /// It finished already; its record (with the report it wrote) says how.
    Finished(Box<RunRecord>),
    /// Ready to continue: run `plan` with `opts` ([`super::execute`]).
    Ready {
        plan: Box<Plan>,
        opts: Box<super::MigrateOptions>,
    },
}

/// Why a run cannot be resumed; each says what to do instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    #[error(transparent)]
    Ledger(#[from] MigrateError),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Options(#[from] super::PlanOptionsError),
    #[error(
        "run {run_id} cannot be resumed: its plan no longer matches: {}; roll the target back (or drop it) and start a new run",
        .differences.join("; ")
    )]
    Changed {
        run_id: String,
        differences: Vec<String>,
    },
}

/// Everything `ferry resume` and the service's resume do before the run
/// continues: find run `run_id` in the ledger of `over.to` (or
/// `over.state`), refuse what cannot be resumed, and check that the source,
/// plugins, casts and mapping are what the run started with — a changed
/// source would make the checkpoints meaningless.
pub async fn prepare(
    run_id: &str,
    over: super::PlanOverrides,
    registry: &crate::plugin::Registry,
    accepted: &[(String, String)],
) -> Result<Resumable, ResumeError> {
    let Some(to) = over.to.clone() else {
        return Err(ResumeError::Refused(
            "the target is required: the ledger lives in the target (or in --state)".into(),
        ));
    };
    let mut sink = super::status::open_ledger(&to, over.state.as_ref()).await?;
    let rec = super::status::find_run(&mut sink, Some(run_id)).await?;
    if rec.status == "succeeded" || rec.status == "succeeded_with_rejects" {
        return Ok(Resumable::Finished(Box::new(rec)));
    }
    let plan = plan_to_resume(&rec, registry, accepted)
        .await
        .map_err(ResumeError::Refused)?;
    let checkpoints = match sink.ledger() {
        Some(l) => l.checkpoints(run_id).await.map_err(MigrateError::from)?,
        None => Vec::new(),
    };
    drop(sink);
    let mut opts = super::MigrateOptions::from_plan(&plan, over, registry).await?;
    opts.resume = Some(Resume {
        run_id: run_id.to_string(),
        checkpoints,
    });
    let fresh = super::make_plan(&opts, Arc::new(super::NoEvents)).await?;
    let differences = plan.differences(&fresh);
    if !differences.is_empty() {
        return Err(ResumeError::Changed {
            run_id: run_id.to_string(),
            differences,
        });
    }
    Ok(Resumable::Ready {
        plan: Box::new(plan),
        opts: Box::new(opts),
    })
}
