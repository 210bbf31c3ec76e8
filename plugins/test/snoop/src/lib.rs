//! Hostile test plugin: tries to reach outside the sandbox in `transform`.
//!
//! Attacks: capability isolation. It tries to read `/etc/passwd`, list `/`
//! and `.`, read the environment (all variables and `HOME`), open a TCP
//! connection to 127.0.0.1:5432 and write a file; it also prints to stdout
//! and stderr so the host's output capture is exercised. It never fails:
//! it returns the input batch plus a text column `snoop` holding, in every
//! row, a report like
//!
//! `passwd=denied;root=denied;cwd=denied;env=0;home=none;tcp=denied;write=denied`
//!
//! which is exactly what a correctly sandboxed host produces (the host test
//! asserts that string). Anything else (`passwd=read:1234B`, `root=3`,
//! `env=12`, `home=set`, `tcp=connected`, `write=ok`) is a sandbox escape.

use ferry_plugin_sdk::{
    Batch, Column, ColumnData, ColumnSchema, LogicalType, NoConfig, PluginError, PluginInfo,
    Schema, TransformOutput, Transformer,
};

/// Name of the column the report is written to.
pub const SNOOP_COLUMN: &str = "snoop";

/// The report a sandboxed host must produce.
pub const EXPECTED_REPORT: &str =
    "passwd=denied;root=denied;cwd=denied;env=0;home=none;tcp=denied;write=denied";

/// The snooping transformer.
pub struct Snoop;

impl Transformer for Snoop {
    type Config = NoConfig;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-snoop",
            env!("CARGO_PKG_VERSION"),
            "Test plugin: probes files, environment and network; reports what it found.",
        )
    }

    fn transform_schema(input: &Schema, _config: &NoConfig) -> Result<Schema, PluginError> {
        let mut output = input.clone();
        output
            .columns
            .push(ColumnSchema::new(SNOOP_COLUMN, LogicalType::Text, false));
        Ok(output)
    }

    fn transform(
        input: &Schema,
        _config: &NoConfig,
        rows: &Batch,
    ) -> Result<TransformOutput, PluginError> {
        rows.check(input)?;
        println!("hostile-snoop: hello on stdout");
        eprintln!("hostile-snoop: hello on stderr");
        let report = snoop();
        println!("hostile-snoop: report {report}");
        eprintln!("hostile-snoop: done");
        let mut output = rows.clone();
        output.columns.push(repeated(&report, rows.num_rows)?);
        Ok(TransformOutput::new(output))
    }
}

/// Try every escape and describe the outcome.
fn snoop() -> String {
    let passwd = match std::fs::read_to_string("/etc/passwd") {
        Ok(s) => format!("read:{}B", s.len()),
        Err(_) => "denied".to_string(),
    };
    let list = |path: &str| match std::fs::read_dir(path) {
        Ok(entries) => entries.count().to_string(),
        Err(_) => "denied".to_string(),
    };
    let root = list("/");
    let cwd = list(".");
    let env = std::env::vars_os().count();
    let home = match std::env::var_os("HOME") {
        Some(_) => "set",
        None => "none",
    };
    let tcp = match std::net::TcpStream::connect("127.0.0.1:5432") {
        Ok(_) => "connected",
        Err(_) => "denied",
    };
    let write = match std::fs::write("ferry-snoop-was-here.txt", b"escaped") {
        Ok(()) => "ok",
        Err(_) => "denied",
    };
    format!("passwd={passwd};root={root};cwd={cwd};env={env};home={home};tcp={tcp};write={write}")
}

/// A non-null text column holding `text` in each of `rows` rows.
fn repeated(text: &str, rows: u32) -> Result<Column, PluginError> {
    let len = u32::try_from(text.len()).map_err(|_| PluginError::internal("report too long"))?;
    let total = len
        .checked_mul(rows)
        .ok_or_else(|| PluginError::internal("report column would exceed 4 GiB"))?;
    let mut data = Vec::with_capacity(total as usize);
    let mut offsets = Vec::with_capacity(rows as usize + 1);
    offsets.push(0);
    for i in 1..=rows {
        data.extend_from_slice(text.as_bytes());
        offsets.push(i * len);
    }
    Ok(Column {
        validity: None,
        data: ColumnData::Utf8 { data, offsets },
    })
}

ferry_plugin_sdk::export_transformer!(Snoop);

#[cfg(test)]
mod tests {
    use ferry_plugin_sdk::{Batch, ColumnSchema, LogicalType, Schema, Value, call};

    use super::{SNOOP_COLUMN, Snoop};

    #[test]
    fn output_matches_transform_schema_natively() {
        // Natively nothing is sandboxed: only the shape is checked here.
        let schema = Schema::new(
            "t",
            vec![ColumnSchema::new("id", LogicalType::Int64, false)],
        );
        let batch = Batch::from_rows(&schema, vec![vec![Value::Int(1)], vec![Value::Int(2)]])
            .expect("valid");
        let out_schema = call::transform_schema::<Snoop>(&schema, "").expect("schema");
        let out = call::transform::<Snoop>(&schema, "", &batch).expect("transform");
        let view = out.batch.view(&out_schema).expect("valid output");
        assert!(view.rows().all(|r| {
            r.text(SNOOP_COLUMN)
                .is_some_and(|t| t.starts_with("passwd="))
        }));
        let _ = std::fs::remove_file("ferry-snoop-was-here.txt");
    }
}
