//! Hostile test plugin: allocates memory in `transform` until it dies.
//!
//! Attacks: memory. It allocates 1 MiB blocks forever, writes to every page
//! of each (so nothing stays lazily unmapped) and keeps them all alive
//! (`black_box`). The host's store memory limit must make `memory.grow` fail;
//! the allocation failure then aborts the guest (a trap). The host should
//! report it as out of memory, recycle the instance, and stay healthy.

use core::hint::black_box;

use ferry_plugin_sdk::{
    Batch, NoConfig, PluginError, PluginInfo, Schema, TransformOutput, Transformer,
};

/// Size of each allocation: 1 MiB, i.e. 16 wasm pages per `memory.grow`.
const BLOCK_BYTES: usize = 1 << 20;

/// Distance between the bytes written in each block: one wasm page (64 KiB).
const PAGE_BYTES: usize = 64 * 1024;

/// The memory-hungry transformer.
pub struct MemBomb;

impl Transformer for MemBomb {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-membomb",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: allocates memory until it dies.",
        )
    }

    fn transform(
        _input: &Schema,
        _config: &NoConfig,
        _rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; BLOCK_BYTES];
            for (i, byte) in block.iter_mut().step_by(PAGE_BYTES).enumerate() {
                *byte = black_box(i as u8 | 1);
            }
            hoard.push(black_box(block));
            black_box(&hoard);
        }
    }
}

ferry_plugin_sdk::export_transformer!(MemBomb);
