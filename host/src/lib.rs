//! ferry — a migration host with sandboxed WebAssembly plugins.
//!
//! Map of the crate (see `ARCHITECTURE.md` for the invariants):
//!
//! - [`model`] — ferry's own types: [`model::Schema`], packed columnar
//!   [`model::Batch`], [`model::Diagnostic`], [`model::Reject`]. Everything
//!   else speaks these.
//! - [`plugin`] — the only code that names wasmtime: the engine, the
//!   compiled-component cache, the sandbox and its limits, typed plugin errors.
//! - [`endpoint`] — the only code that names database drivers: SQLite,
//!   PostgreSQL, MySQL/MariaDB (sources and sinks) and `json:DIR`.
//! - [`cast`] — promotions and `[[cast]]` rules, run in the host after the read.
//! - [`consolidate`] — several sources into one target: UUIDv5 keys, id map,
//!   conflict policies.
//! - [`migrate`] — the engine: plans tables through the plugin chain and runs
//!   reader → casts → transformers → validators → writer with bounded channels.
//! - [`verify`] — source against target: accounting, checksums, samples,
//!   orphans, ranges, schema.
//! - [`config`] — the TOML config file, validated into runtime settings.
//!
//! The `ferry` binary (`src/main.rs`, `src/cli/`) is the only code that knows clap.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use ferry::engine::{migrate, MigrateOptions, NoProgress, PluginUse};
//! use ferry::plugin::{Registry, Runtime, RuntimeOptions};
//!
//! let runtime = Runtime::new(RuntimeOptions { cache_dir: RuntimeOptions::default_cache_dir() })?;
//! let registry = Registry::new(runtime, vec![], Default::default());
//! let mask = registry.resolve("mask").await?;
//! let report = migrate(
//!     MigrateOptions {
//!         from: "sqlite:examples/shop.db".parse()?,
//!         to: "sqlite:/tmp/shop-copy.db".parse()?,
//!         transforms: vec![PluginUse {
//!             plugin: mask,
//!             reference: "mask".into(),
//!             config: r#"{"key":"a-secret-of-16-bytes+","columns":{"email":"hash-email"}}"#.into(),
//!             tables: vec!["customers".into()],
//!         }],
//!         validators: vec![],
//!         batch_size: 5000,
//!         if_exists: Default::default(),
//!         casts: vec![],
//!         verify: None,
//!         consolidate: Default::default(),
//!         on_reject: Default::default(),
//!         resume: None,
//!         incremental: None,
//!         state: None,
//!     },
//!     Arc::new(NoProgress),
//! )
//! .await;
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! # Ok(()) }
//! ```

pub mod cast;
pub mod config;
pub mod consolidate;
pub mod endpoint;
pub mod engine;
pub mod failpoint;

pub mod ledger;
/// ferry's own types, in their own crate (`model/`): it names serde only.
pub use ferry_model as model;
pub mod plan;
pub mod plugin;
pub mod rollback;
pub mod sync;
pub mod verify;
