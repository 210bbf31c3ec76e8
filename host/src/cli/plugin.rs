//! `ferry plugin list | inspect | check | new | build | test`.

use std::path::PathBuf;

use clap::Subcommand;
use ferry::model::{BatchBuilder, Column, LogicalType, Schema};
use ferry::plugin::{
    Manifest, ParserInstance, PluginKind, PluginSource, TransformerInstance, ValidatorInstance,
};

use super::{EXIT_FAILED, EXIT_OK, GlobalArgs};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List built-in plugins and those in the plugin directories.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin's manifest, configuration schema and declared capabilities.
    Inspect {
        /// Plugin name or path to a .wasm component.
        plugin: String,
        #[arg(long)]
        json: bool,
    },
    /// Load a plugin under the sandbox and run it on a sample, reporting any error.
    Check {
        /// Plugin name or path to a .wasm component.
        plugin: String,
        /// Configuration JSON for the plugin.
        #[arg(long = "with", value_name = "JSON", default_value = "{}")]
        with: String,
        /// For parsers: a file to parse instead of the built-in sample.
        #[arg(long)]
        input: Option<PathBuf>,
    },
    /// Create a plugin project that builds and passes its own test as generated.
    New {
        /// The plugin's name: lowercase letters, digits and dashes (e.g. normalise-email).
        name: String,
        /// transformer, validator or parser.
        #[arg(long, default_value = "transformer")]
        kind: String,
        /// rust, python or js.
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Where to create it (default: ./NAME). Must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build a plugin project into DIR/NAME.wasm (cargo, componentize-py or componentize-qjs).
    Build {
        /// The project directory (holding ferry-plugin.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run a project's own tests, then ferry's conformance checks on the component.
    Test {
        /// A project directory, a .wasm component, or a plugin name.
        #[arg(default_value = ".")]
        target: PathBuf,
        /// Configuration JSON for the plugin.
        #[arg(long = "with", value_name = "JSON", default_value = "{}")]
        with: String,
        /// Columns the plugin needs, added to the conformance schema: NAME:TYPE,…
        #[arg(long, value_name = "NAME:TYPE,…")]
        columns: Option<String>,
        /// Rows in the full batch (the run's --batch-size).
        #[arg(long, default_value_t = ferry::engine::options::DEFAULT_BATCH_SIZE)]
        batch_size: usize,
        /// For parsers: a file of the plugin's format, parsed as one more case.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Skip the project's own tests (cargo test, python3 test_*.py, node test.js).
        #[arg(long)]
        no_own_tests: bool,
        #[arg(long)]
        json: bool,
    },
}

impl PluginCommand {
    pub async fn execute(self, g: &GlobalArgs) -> anyhow::Result<u8> {
        match self {
            PluginCommand::New {
                name,
                kind,
                lang,
                dir,
            } => super::plugin_dev::new(&name, &kind, &lang, dir),
            PluginCommand::Build { dir, json } => super::plugin_dev::build(g, &dir, json).await,
            PluginCommand::Test {
                target,
                with,
                columns,
                batch_size,
                input,
                no_own_tests,
                json,
            } => {
                super::plugin_dev::test(
                    g,
                    super::plugin_dev::TestArgs {
                        target,
                        with,
                        columns,
                        batch_size,
                        input,
                        no_own_tests,
                        json,
                    },
                )
                .await
            }
            PluginCommand::List { json } => {
                let (_, registry) = super::setup(g)?;
                let all = registry.list().await;
                if json {
                    let v: Vec<serde_json::Value> = all
                        .iter()
                        .map(|r| match r {
                            Ok(m) => serde_json::to_value(m).unwrap_or_default(),
                            Err(e) => serde_json::json!({ "error": e.to_string() }),
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    println!(
                        "{:<16} {:<12} {:<9} {:<9} {:<18} source",
                        "name", "kind", "version", "contract", "sha256"
                    );
                    for r in &all {
                        match r {
                            Ok(m) => println!(
                                "{:<16} {:<12} {:<9} {:<9} {:<18} {}",
                                m.name,
                                m.kind.name(),
                                m.version,
                                m.contract_version,
                                m.sha256.get(..16).unwrap_or(&m.sha256),
                                source(m)
                            ),
                            Err(e) => println!("(failed to load) {e}"),
                        }
                    }
                }
                Ok(if all.iter().all(Result::is_ok) {
                    EXIT_OK
                } else {
                    EXIT_FAILED
                })
            }
            PluginCommand::Inspect { plugin, json } => {
                let (_, registry) = super::setup(g)?;
                let p = registry.resolve(&plugin).await?;
                let m = p.manifest();
                if json {
                    let mut v = serde_json::to_value(m)?;
                    v["limits"] = serde_json::json!({
                        "memory_bytes": p.limits().memory_bytes,
                        "timeout_ms": p.limits().call_timeout.as_millis() as u64,
                        "max_output_bytes": p.limits().max_output_bytes,
                    });
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    println!("name:          {}", m.name);
                    println!("kind:          {}", m.kind);
                    println!("version:       {}", m.version);
                    println!("contract:      ferry:plugin@{}", m.contract_version);
                    println!("description:   {}", m.description);
                    println!("sha256:        {}", m.sha256);
                    println!("source:        {}", source(m));
                    println!(
                        "capabilities:  {}",
                        if m.capabilities.is_empty() {
                            "none".to_string()
                        } else {
                            format!("{} (declared; none granted)", m.capabilities.join(", "))
                        }
                    );
                    println!(
                        "limits:        memory {} MiB, {} ms per call, output {} MiB per call",
                        p.limits().memory_bytes >> 20,
                        p.limits().call_timeout.as_millis(),
                        p.limits().max_output_bytes >> 20
                    );
                    println!(
                        "config schema:\n{}",
                        serde_json::to_string_pretty(&m.config_schema)?
                    );
                }
                Ok(EXIT_OK)
            }
            PluginCommand::Check {
                plugin,
                with,
                input,
            } => {
                let (_, registry) = super::setup(g)?;
                let p = registry.resolve(&plugin).await?;
                println!(
                    "loaded {} {} ({}), sha256 {}",
                    p.manifest().kind,
                    p.name(),
                    p.manifest().version,
                    p.manifest().sha256
                );
                let result = check(p.clone(), &with, input).await;
                match result {
                    Ok(()) => {
                        println!("ok: {} ran under the sandbox without error", p.name());
                        Ok(EXIT_OK)
                    }
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        Ok(EXIT_FAILED)
                    }
                }
            }
        }
    }
}

fn source(m: &Manifest) -> String {
    match &m.source {
        PluginSource::Builtin => "built-in".into(),
        PluginSource::File(p) => p.display().to_string(),
    }
}

/// A small batch with one column of each common type.
fn sample() -> (Schema, ferry::model::Batch) {
    let col = |name: &str, t| Column {
        name: name.into(),
        logical_type: t,
        nullable: true,
    };
    let schema = Schema {
        table: "sample".into(),
        columns: vec![
            col("id", LogicalType::Int64),
            col("name", LogicalType::Text),
            col("email", LogicalType::Text),
            col("score", LogicalType::Float64),
            col("active", LogicalType::Boolean),
            col("payload", LogicalType::Bytes),
        ],
    };
    let mut b = BatchBuilder::new(&schema, 3);
    let rows: [(i64, &str, &str, f64, bool); 3] = [
        (1, "Ada Lovelace", "ada@example.com", 9.5, true),
        (2, "Alan Turing", "alan@example.org", 7.25, false),
        (3, "Grace Hopper", "not-an-email", 8.0, true),
    ];
    for (id, name, email, score, active) in rows {
        b.push_int(0, id);
        let _ = b.push_bytes(1, name.as_bytes());
        let _ = b.push_bytes(2, email.as_bytes());
        b.push_float(3, score);
        b.push_bool(4, active);
        let _ = b.push_bytes(5, &id.to_le_bytes());
        b.end_row();
    }
    b.push_int(0, 4);
    for c in 1..6 {
        b.push_null(c);
    }
    b.end_row();
    (schema, b.finish())
}

async fn check(
    p: ferry::plugin::Plugin,
    config: &str,
    input: Option<PathBuf>,
) -> anyhow::Result<()> {
    match p.manifest().kind {
        PluginKind::Transformer => {
            let (schema, batch) = sample();
            let mut t = TransformerInstance::new(p)?;
            let out_schema = t.transform_schema(&schema, config).await?;
            println!("output schema: {}", columns(&out_schema));
            let out = t.transform(&schema, &out_schema, config, batch).await?;
            for r in 0..out.batch.num_rows {
                println!("  {}", out.batch.row_json(&out_schema, r));
            }
            for d in &out.diagnostics {
                println!(
                    "  {:?} row {:?} {:?}: {} ({})",
                    d.severity, d.row, d.column, d.message, d.code
                );
            }
        }
        PluginKind::Validator => {
            let (schema, batch) = sample();
            let mut v = ValidatorInstance::new(p)?;
            v.check_schema(&schema, config).await?;
            let (_, diags) = v.validate(&schema, config, batch).await?;
            println!("{} diagnostics on the 4-row sample", diags.len());
            for d in &diags {
                println!(
                    "  {:?} row {:?} {:?}: {} ({})",
                    d.severity, d.row, d.column, d.message, d.code
                );
            }
        }
        PluginKind::Parser => {
            let (name, bytes) = match &input {
                Some(path) => (path.display().to_string(), std::fs::read(path)?),
                None => (
                    "sample.txt".to_string(),
                    b"first line\nsecond line\n\nthird line".to_vec(),
                ),
            };
            let mut parser = ParserInstance::new(p)?;
            parser.open(&name, bytes.len() as u64, None, config).await?;
            let mut records = Vec::new();
            // 64 KiB chunks: what the files endpoint will stream.
            for chunk in bytes.chunks(64 << 10) {
                records.extend(parser.feed(chunk).await?);
            }
            records.extend(parser.finish().await?);
            println!("{} records from {name}", records.len());
            for r in records.iter().take(20) {
                let obj: serde_json::Map<String, serde_json::Value> = r
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                    .collect();
                println!("  {}", serde_json::Value::Object(obj));
            }
        }
    }
    Ok(())
}

fn columns(s: &Schema) -> String {
    s.columns
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.name,
                c.logical_type,
                if c.nullable { "" } else { " not null" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
