//! Hostile test plugin: spins forever in `transform`.
//!
//! Attacks: CPU time. The loop has no side effects other than an opaque
//! counter (`black_box`), so it cannot be optimised away and never returns;
//! the host must interrupt it (epoch deadline / fuel) and report a timeout
//! trap rather than hang the migration.

use core::hint::black_box;

use ferry_plugin_sdk::{
    Batch, NoConfig, PluginError, PluginInfo, Schema, TransformOutput, Transformer,
};

/// The spinning transformer.
pub struct Spin;

impl Transformer for Spin {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-spin",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: loops forever in transform.",
        )
    }

    fn transform(
        _input: &Schema,
        _config: &NoConfig,
        _rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        let mut counter: u64 = 0;
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }
}

ferry_plugin_sdk::export_transformer!(Spin);
