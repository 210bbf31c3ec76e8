//! The engine: plan a migration, execute exactly that plan, report what
//! happened to every row — as a library the CLI (and, next, a service)
//! calls, publishing [`RunEvent`]s as it goes.
//!
//! - [`options`] — what to migrate and how ([`MigrateOptions`], from flags or
//!   from a saved plan);
//! - [`planner`] — [`make_plan`]: introspection, casts, the plugins' schema
//!   hooks, risks, names fitted to the target;
//! - [`run`] — [`execute`]: the ledger record, backups, target tables, the
//!   loads, keys after the load, verification;
//! - `early_keys` — a loaded table's own keys, built while others load;
//! - `pipeline` — one table's load: reader → casts/plugins → writer;
//! - `chain` — a batch through the plugin chain, rejects recorded;
//! - `record` — the run and its backups in the ledger;
//! - [`resume`] — what a killed run is resumed with;
//! - [`events`] — progress, rates and ETAs, warnings, the end;
//! - [`verify`] — source against target: accounting, checksums, samples,
//!   orphans, ranges, schema (`ferry verify` and every run's end);
//! - [`report`] — the report and the typed error.
//!
//! The engine speaks `model`, `plan`, `endpoint` traits and `plugin`
//! instances; it never asks which endpoint it has, only what it can do.

mod canon;
mod chain;
pub(crate) mod digest;
pub mod dry;
mod early_keys;
pub mod events;
mod fidelity;
mod keyset;
pub mod options;
mod pipeline;
pub mod planner;
mod readback;
mod record;
pub mod report;
pub mod resume;
pub mod retry;
pub mod run;
pub mod status;
mod table;
pub mod verify;

use std::sync::Arc;

pub use dry::dry_read;
pub use events::{Events, NoEvents, Phase, Recorded, RunEvent};
pub use options::{
    Consolidate, Incremental, MigrateOptions, OnReject, PlanOptionsError, PlanOverrides, PluginArg,
    PluginUse, Resume, Stop, TableSelection, split_plugin_arg,
};
pub use planner::make_plan;
pub use record::open_state;
pub(crate) use record::record_backups;
pub use report::{MigrateError, Phases, PluginRef, Report, RunStatus, TableReport};
pub use resume::{Resumable, ResumeError, plan_to_resume};
pub use retry::RetryPolicy;
pub use run::{execute, migrate, new_run_id};

use crate::endpoint::files::FilesContext;
use crate::endpoint::{self, EndpointUrl, Source};

/// Opens a source of run `run_id` (empty while planning: nothing is
/// written then), with what a directory of files needs besides its path.
pub(crate) async fn open_source(
    opts: &MigrateOptions,
    url: &EndpointUrl,
    run_id: &str,
    dry_run: bool,
) -> Result<Arc<dyn Source>, MigrateError> {
    let files = opts.registry.as_ref().map(|registry| FilesContext {
        settings: opts.files.clone(),
        registry: registry.clone(),
        incremental_into: opts.incremental.as_ref().map(|_| opts.to.clone()),
        dry_run,
        run_id: run_id.to_string(),
        target_stores_nul: endpoint::capabilities(&opts.to).stores_nul,
    });
    Ok(endpoint::open_source_in(url, files).await?)
}
