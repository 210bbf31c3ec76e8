//! Hostile test plugin: returns a huge output from `transform`.
//!
//! Attacks: the host's output handling. It returns a one-column text batch
//! (column `flood`) of about 300 MiB — by default 300 rows of 1 MiB each —
//! regardless of its input. Building it is cheap (one `vec![b'x'; n]`), so
//! the cost lands on the host when it lifts the result. The host must refuse
//! the output by its size limit (or its memory limit) before copying it, and
//! report that, not run out of memory itself.
//!
//! Config (optional): `{"mib": 300, "rows": 300}` — total size in MiB
//! (1..=3072) and number of rows (1..=1_000_000), so host tests can aim just
//! above or below their limits. Note the guest needs at least `mib` MiB of
//! linear memory to build the batch: with a smaller store memory limit the
//! guest traps with out-of-memory first.
//!
//! `transform_schema` returns the input schema so the host can plan; the
//! output never matches it (one text column), which the host must also
//! reject if the size limit somehow lets the batch through.

use ferry_plugin_sdk::{
    Batch, Column, ColumnData, PluginError, PluginInfo, Schema, TransformOutput, Transformer,
};
use serde::Deserialize;

/// Largest total size: 3 GiB, under the 4 GiB that u32 offsets and a wasm32
/// memory can address.
const MAX_MIB: u32 = 3 * 1024;

/// Most rows: one million, so the offsets array itself stays small.
const MAX_ROWS: u32 = 1_000_000;

/// `{"mib": 300, "rows": 300}`, both optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_mib")]
    mib: u32,
    #[serde(default = "default_rows")]
    rows: u32,
}

fn default_mib() -> u32 {
    300
}

fn default_rows() -> u32 {
    300
}

/// The flooding transformer.
pub struct Flood;

impl Transformer for Flood {
    type Config = Config;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-flood",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: returns a ~300 MiB one-column text batch.",
        )
    }

    fn transform(
        _input: &Schema,
        config: &Config,
        _rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        if !(1..=MAX_MIB).contains(&config.mib) || !(1..=MAX_ROWS).contains(&config.rows) {
            return Err(PluginError::invalid_config(format!(
                "mib must be 1..={MAX_MIB} and rows 1..={MAX_ROWS}"
            )));
        }
        Ok(TransformOutput::new(flood(config.mib, config.rows)))
    }
}

/// A one-column text batch of `mib` MiB split evenly over `rows` rows.
fn flood(mib: u32, rows: u32) -> Batch {
    let total = u64::from(mib) << 20;
    let per_row = total / u64::from(rows);
    let data = vec![b'x'; (per_row * u64::from(rows)) as usize];
    let offsets = (0..=u64::from(rows))
        .map(|i| (i * per_row) as u32)
        .collect();
    Batch::new(
        rows,
        vec![Column {
            validity: None,
            data: ColumnData::Utf8 { data, offsets },
        }],
    )
}

ferry_plugin_sdk::export_transformer!(Flood);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::{ColumnSchema, LogicalType, Schema};

    #[test]
    fn flood_is_a_valid_batch_of_the_requested_size() {
        let batch = super::flood(1, 3);
        let schema = Schema::new(
            "t",
            vec![ColumnSchema::new("flood", LogicalType::Text, false)],
        );
        batch.check(&schema).expect("valid");
        assert_eq!(batch.num_rows, 3);
    }
}
