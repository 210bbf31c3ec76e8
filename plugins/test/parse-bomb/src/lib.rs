//! Hostile test parser: misbehaves according to the file's name.
//!
//! Attacks: per-file isolation in the files endpoint. A file whose name
//! contains `trap` panics in `feed` (a wasm trap), `spin` loops forever
//! (the per-call deadline), `oom` allocates without bound (the memory
//! limit), `lie` returns a json field that is not JSON (invalid output).
//! Any other file is one record `{title: NAME, content: TEXT}`. The host
//! must fail exactly the misbehaving files, each with its typed reason, and
//! parse the others with the same plugin.

use ferry_plugin_sdk::{
    Field, FieldValue, FileInfo, NoConfig, ParsedRecord, Parser, ParserSession, PluginError,
    PluginInfo,
};

/// The hostile parser.
pub struct ParseBomb;

/// One file: its name and the bytes seen so far.
pub struct Session {
    name: String,
    bytes: Vec<u8>,
}

impl Parser for ParseBomb {
    type Config = NoConfig;
    type Session = Session;

    fn describe() -> PluginInfo {
        PluginInfo::new(
            "hostile-parse-bomb",
            env!("CARGO_PKG_VERSION"),
            "Test parser: traps, spins, exhausts memory or lies, by file name.",
        )
    }

    fn open(file: FileInfo, _config: &NoConfig) -> Result<Session, PluginError> {
        Ok(Session {
            name: file.name,
            bytes: Vec::new(),
        })
    }
}

impl ParserSession for Session {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        if self.name.contains("trap") {
            panic!("hostile-parse-bomb: deliberate panic on {}", self.name);
        }
        if self.name.contains("spin") {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        if self.name.contains("oom") {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        self.bytes.extend_from_slice(chunk);
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        if self.name.contains("lie") {
            return Ok(vec![ParsedRecord::new(vec![Field::new(
                "metadata",
                FieldValue::Json("{not json".into()),
            )])]);
        }
        Ok(vec![ParsedRecord::new(vec![
            Field::new("title", FieldValue::Text(self.name.clone())),
            Field::new(
                "content",
                FieldValue::Text(String::from_utf8_lossy(&self.bytes).into_owned()),
            ),
        ])])
    }
}

ferry_plugin_sdk::export_parser!(ParseBomb);
