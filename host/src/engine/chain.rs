//! The plugin chain of one table load: live transformer and validator
//! instances, and one batch through them — rows a plugin rejects become
//! quarantine records with the plugin, the code and the reason.

use crate::model::{Batch, Diagnostic, Reject, Schema, Severity, Stage};
use crate::plugin::{PluginError, TransformerInstance, ValidatorInstance};

use super::options::{MigrateOptions, PluginUse};
use super::report::MigrateError;
use super::table::TablePlan;

/// The plugin chain with live instances.
pub(crate) struct Chain {
    pub(crate) transforms: Vec<(TransformerInstance, PluginUse)>,
    pub(crate) validators: Vec<(ValidatorInstance, PluginUse)>,
}

impl Chain {
    /// Fresh instances of every plugin in the run (instantiated on first use).
    pub(crate) fn new(opts: &MigrateOptions) -> Result<Chain, MigrateError> {
        let plan_err = |e| MigrateError::Plan {
            table: "-".into(),
            source: e,
        };
        Ok(Chain {
            transforms: opts
                .transforms
                .iter()
                .map(|u| Ok((TransformerInstance::new(u.plugin.clone())?, u.clone())))
                .collect::<Result<_, PluginError>>()
                .map_err(plan_err)?,
            validators: opts
                .validators
                .iter()
                .map(|u| Ok((ValidatorInstance::new(u.plugin.clone())?, u.clone())))
                .collect::<Result<_, PluginError>>()
                .map_err(plan_err)?,
        })
    }
}

/// Runs one batch through the transformers and validators. Rejected rows are
/// appended to `rejects`; the returned batch holds the rows to write.
pub(crate) async fn apply_chain(
    plan: &TablePlan,
    chain: &mut Chain,
    mut batch: Batch,
    batch_no: u64,
    rejects: &mut Vec<Reject>,
) -> Result<Batch, MigrateError> {
    let table = &plan.source.name;
    let failed = |e| MigrateError::Plugin {
        table: table.clone(),
        batch: batch_no,
        source: e,
    };
    for (k, &i) in plan.transforms.iter().enumerate() {
        let (inst, u) = &mut chain.transforms[i];
        let input = &plan.schemas[k];
        let output = &plan.schemas[k + 1];
        let out = inst
            .transform(input, output, &u.config, batch)
            .await
            .map_err(failed)?;
        for (row, diags) in rejected_rows(&out.diagnostics) {
            let at = RowAt {
                plan,
                schema: input,
                batch: &out.input,
                row,
            };
            rejects.push(at.reject(Stage::Transform, inst.plugin().name(), &diags));
        }
        log_diagnostics(table, inst.plugin().name(), &out.diagnostics);
        batch = out.batch;
    }
    let last = plan.schemas.last().unwrap_or(&plan.schemas[0]);
    let mut keep = vec![true; batch.num_rows];
    let mut any = false;
    for &i in &plan.validators {
        let (inst, u) = &mut chain.validators[i];
        let (b, diags) = inst
            .validate(last, &u.config, batch)
            .await
            .map_err(failed)?;
        batch = b;
        for (row, ds) in rejected_rows(&diags) {
            if keep[row] {
                keep[row] = false;
                any = true;
                let at = RowAt {
                    plan,
                    schema: last,
                    batch: &batch,
                    row,
                };
                rejects.push(at.reject(Stage::Validate, inst.plugin().name(), &ds));
            }
        }
        log_diagnostics(table, inst.plugin().name(), &diags);
    }
    if any {
        batch = batch.retain(last, &keep);
    }
    Ok(batch)
}

/// A row of a batch at some stage of a table's chain.
struct RowAt<'a> {
    plan: &'a TablePlan,
    schema: &'a Schema,
    batch: &'a Batch,
    row: usize,
}

impl RowAt<'_> {
    /// The quarantine record for this row, from a plugin's `error` diagnostics.
    fn reject(&self, stage: Stage, plugin: &str, diags: &[&Diagnostic]) -> Reject {
        Reject {
            table: self.plan.source.name.clone(),
            source_key: self
                .batch
                .source_key(self.schema, &self.plan.source.primary_key, self.row),
            stage,
            plugin: Some(plugin.to_string()),
            column: diags.first().and_then(|d| d.column.clone()),
            code: diags.first().map(|d| d.code.clone()).unwrap_or_default(),
            reason: diags
                .iter()
                .map(|d| d.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            row: self.batch.row_json(self.schema, self.row),
        }
    }
}

/// Rows with at least one `error` diagnostic, with those diagnostics, in row order.
fn rejected_rows(diags: &[Diagnostic]) -> Vec<(usize, Vec<&Diagnostic>)> {
    let mut by_row: std::collections::BTreeMap<usize, Vec<&Diagnostic>> = Default::default();
    for d in diags {
        if d.severity == Severity::Error
            && let Some(r) = d.row
        {
            by_row.entry(r as usize).or_default().push(d);
        }
    }
    by_row.into_iter().collect()
}

fn log_diagnostics(table: &str, plugin: &str, diags: &[Diagnostic]) {
    for d in diags.iter().filter(|d| d.severity != Severity::Error) {
        tracing::info!(table, plugin, row = ?d.row, column = ?d.column, code = %d.code, "{}", d.message);
    }
}
