//! ferry — a migration host with sandboxed WebAssembly plugins.
//!
//! Map of the crate (see `ARCHITECTURE.md` for the code map and the
//! invariants `tests/tidy.rs` checks):
//!
//! - [`model`] — ferry's own types (their own crate, `ferry-model`):
//!   [`model::Schema`], packed columnar [`model::Batch`],
//!   [`model::Diagnostic`], [`model::Reject`], the decimal rule. Everything
//!   else speaks these.
//! - [`engine`] — the engine as a library: [`engine::make_plan`],
//!   [`engine::execute`] (reader → casts → transformers → validators →
//!   writer with bounded channels, keys after the load, verification),
//!   resume, status, and the [`engine::RunEvent`]s it publishes.
//! - [`endpoint`] — the only code that names database drivers: the
//!   [`endpoint::Source`] and [`endpoint::Sink`] traits, each driver's
//!   [`endpoint::Capabilities`], SQLite, PostgreSQL, MySQL/MariaDB,
//!   `json:DIR` and `files:DIR`; the ledger's SQL written once.
//! - [`plugin`] — the only code that names wasmtime: the engine, the
//!   compiled-component cache, the sandbox and its limits, typed plugin
//!   errors, the bindings per contract version.
//! - [`plan`] — the serialisable plan, its fingerprint and differences.
//! - [`cast`] — promotions and `[[cast]]` rules, run in the host after the read.
//! - [`consolidate`] — several sources into one target: UUIDv5 keys, id map,
//!   conflict policies.
//! - [`sync`], [`rollback`] — a drifted target made equal again; a run
//!   undone and proven (the verification is [`engine::verify`]).
//! - [`ledger`] — the ledger's records; [`config`] — the TOML config file,
//!   validated into runtime settings; [`failpoint`] — crash points for tests.
//!
//! The `ferry` binary (`src/main.rs`, `src/cli/`) is the only code that
//! knows clap; it renders what the engine returns.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use ferry::engine::{migrate, MigrateOptions, PluginUse, Recorded, RunEvent};
//! use ferry::plugin::{Registry, Runtime, RuntimeOptions};
//!
//! let runtime = Runtime::new(RuntimeOptions { cache_dir: RuntimeOptions::default_cache_dir() })?;
//! let registry = Registry::new(runtime, vec![], Default::default());
//! let mask = registry.resolve("mask").await?;
//! let events = Arc::new(Recorded::default());
//! let report = migrate(
//!     MigrateOptions {
//!         transforms: vec![PluginUse {
//!             plugin: mask,
//!             reference: "mask".into(),
//!             config: r#"{"key":"a-secret-of-16-bytes+","columns":{"email":"hash-email"}}"#.into(),
//!             tables: vec!["customers".into()],
//!         }],
//!         registry: Some(registry),
//!         ..MigrateOptions::new(
//!             "sqlite:examples/shop.db".parse()?,
//!             "sqlite:/tmp/shop-copy.db".parse()?,
//!         )
//!     },
//!     events.clone(),
//! )
//! .await;
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! for e in events.events() {
//!     if let RunEvent::TableFinished { table, written, .. } = e {
//!         println!("{table}: {written} rows");
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod authoring;
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
pub mod probe;
pub mod rollback;
pub mod schema;
pub mod serve;
pub mod sync;
