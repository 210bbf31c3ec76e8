//! `ferry plan` (and the rendering `migrate --dry-run` shares).

use std::path::PathBuf;

use clap::Args;
use ferry::engine;
use ferry::plan::Plan;

use super::migrate::RunArgs;
use super::{EXIT_OK, GlobalArgs};

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Also write the plan as JSON to this file, for `migrate --plan FILE`.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl PlanArgs {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        let (config, registry) = super::setup(g)?;
        let opts = self.run.options(&config, &registry).await?;
        let plan = engine::make_plan(&opts, std::sync::Arc::new(engine::NoEvents)).await?;
        if let Some(path) = &self.output {
            std::fs::write(path, serde_json::to_string_pretty(&plan)?)
                .map_err(|e| anyhow::anyhow!("cannot write the plan to {}: {e}", path.display()))?;
        }
        print_plan(&plan, self.run.json)?;
        if let Some(path) = &self.output
            && !self.run.json
        {
            println!(
                "\nplan written to {}; run it with: ferry migrate --plan {}",
                path.display(),
                path.display()
            );
        }
        Ok(EXIT_OK)
    }
}

/// Prints a plan for a person, or as JSON.
pub fn print_plan(plan: &Plan, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    println!("plan {}", plan.fingerprint);
    println!("  {} → {}", plan.source, plan.target);
    for (kind, list) in [
        ("transformer", &plan.transformers),
        ("validator", &plan.validators),
    ] {
        for p in list.iter() {
            let scope = if p.tables.is_empty() {
                "all tables".to_string()
            } else {
                p.tables.join(", ")
            };
            println!(
                "  {kind} {} {} sha256 {} on {scope}",
                p.name, p.version, p.sha256
            );
        }
    }
    println!();
    println!("tables, in dependency order:");
    for t in &plan.tables {
        let target = if t.target_name == t.name {
            String::new()
        } else {
            format!(" → {}", t.target_name)
        };
        println!("  {}{target}  ({} rows)", t.name, t.estimated_rows);
        for (i, c) in t.columns.iter().enumerate() {
            let identity = t.target_def.columns.get(i).is_some_and(|d| d.identity);
            println!(
                "    {:<24} {:<18} → {:<11} → {}{}{}{}",
                c.name,
                c.source_type.as_deref().unwrap_or("(derived)"),
                c.logical_type,
                c.target_type,
                if c.nullable { "" } else { " NOT NULL" },
                if identity { " identity" } else { "" },
                c.cast
                    .as_deref()
                    .map(|k| format!("   [cast {k}]"))
                    .unwrap_or_default()
            );
        }
        let def = &t.target_def;
        if !def.primary_key.is_empty() {
            println!("    primary key ({})", def.primary_key.join(", "));
        }
        for u in &def.unique {
            println!("    unique ({})", u.columns.join(", "));
        }
        for i in &def.indexes {
            println!("    index {} ({})", i.name, i.columns.join(", "));
        }
        for c in &def.checks {
            println!("    check {} ({})", c.name, c.expression);
        }
        for f in &def.foreign_keys {
            println!(
                "    foreign key {} ({}) → {} ({})",
                f.name,
                f.columns.join(", "),
                f.ref_table,
                f.ref_columns.join(", ")
            );
        }
        for &i in &t.transforms {
            if let (Some(p), Some(s)) = (
                plan.transformers.get(i),
                t.schemas
                    .get(1 + t.transforms.iter().position(|x| *x == i).unwrap_or(0)),
            ) {
                let cols: Vec<String> = s
                    .columns
                    .iter()
                    .map(|c| format!("{} {}", c.name, c.logical_type))
                    .collect();
                println!("    after {}: {}", p.name, cols.join(", "));
            }
        }
    }
    if !plan.deferred.is_empty() {
        println!(
            "  foreign-key cycle, loaded in source order: {}",
            plan.deferred.join(", ")
        );
    }
    if !plan.views.is_empty() {
        println!();
        println!("views, created after the tables:");
        for v in &plan.views {
            println!("  {}", v.name);
        }
    }
    print_not_carried(&plan.not_carried);
    let e = &plan.estimates;
    println!();
    println!(
        "estimates: {} rows, ~{} MB, ~{:.1} s",
        e.rows,
        e.bytes / 1_000_000,
        e.duration_ms as f64 / 1000.0
    );
    if plan.risks.is_empty() {
        println!("risks: none found");
    } else {
        println!("risks:");
        for r in &plan.risks {
            let at = match &r.column {
                Some(c) => format!("{}.{}", r.table, c),
                None => r.table.clone(),
            };
            println!("  [{}] {at}: {}", r.kind, r.detail);
        }
    }
    Ok(())
}

/// What the target does not get, one line each: nothing disappears silently.
pub(super) fn print_not_carried(list: &[ferry::model::NotCarried]) {
    if list.is_empty() {
        return;
    }
    println!();
    println!("not carried ({}):", list.len());
    for n in list {
        println!("  [{}] {}: {}", n.kind, n.name, n.reason);
    }
}
