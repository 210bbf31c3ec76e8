//! Hostile test plugin: panics in `transform`.
//!
//! Attacks: error handling. Plugins are built with `panic = "abort"`, so the
//! panic prints its message to the guest's stderr and becomes a wasm
//! `unreachable` trap. The host must report a trap (with the guest
//! backtrace and the captured message), not a plugin error, and must be able
//! to instantiate the plugin again afterwards.

use ferry_plugin_sdk::{
    Batch, NoConfig, PluginError, PluginInfo, Schema, TransformOutput, Transformer,
};

/// The message the host test looks for.
pub const PANIC_MESSAGE: &str = "hostile-panic: deliberate panic in transform";

/// The panicking transformer.
pub struct Panic;

impl Transformer for Panic {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-panic",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: panics in transform.",
        )
    }

    fn transform(
        _input: &Schema,
        _config: &NoConfig,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        panic!("{PANIC_MESSAGE} (batch of {} rows)", rows.num_rows);
    }
}

ferry_plugin_sdk::export_transformer!(Panic);
