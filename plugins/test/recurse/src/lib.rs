//! Hostile test plugin: unbounded recursion in `transform`.
//!
//! Attacks: the stack. Each frame keeps a 256-byte buffer alive across the
//! recursive call and uses the call's result afterwards, so the recursion
//! cannot become a loop (no tail call) and the buffer cannot be optimised
//! away (`black_box`). It exhausts either the wasm call stack (wasmtime's
//! `max_wasm_stack`: "call stack exhausted" trap) or the guest's shadow stack
//! in linear memory (an out-of-bounds memory trap), whichever comes first.
//! Either way the host must report a trap and not crash.

use core::hint::black_box;

use ferry_plugin_sdk::{
    Batch, NoConfig, PluginError, PluginInfo, Schema, TransformOutput, Transformer,
};

/// The recursing transformer.
pub struct Recurse;

impl Transformer for Recurse {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-recurse",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: recurses without bound in transform.",
        )
    }

    fn transform(
        _input: &Schema,
        _config: &NoConfig,
        _rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        let depth = recurse(black_box(0));
        Err(PluginError::internal(format!(
            "recursion unexpectedly returned at depth {depth}"
        )))
    }
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let buffer = black_box([depth as u8; 256]);
    // `black_box(false)` is opaque to the optimiser: the base case exists
    // for the type checker only and is never taken.
    if black_box(false) {
        return depth;
    }
    let below = recurse(black_box(depth + 1));
    black_box(&buffer);
    below.wrapping_add(u64::from(buffer[(depth % 256) as usize]))
}

ferry_plugin_sdk::export_transformer!(Recurse);
