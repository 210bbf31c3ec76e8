//! `json_scan`: the `json` parser's streaming scanner (`plugins/builtin/json/src/scan.rs`)
//! and the record builder it feeds (`record.rs`), driven as the plugin's
//! session drives them (`JsonSession` is a newtype over `Scanner`: `feed`
//! every chunk, then `finish`).
//!
//! The input is the file. Invariants:
//! - no panic, no hang, memory bounded by the record limit;
//! - chunking independence: the whole file, one byte at a time and random
//!   cuts give the same records or the same error (document and lines mode,
//!   default and tiny limits);
//! - never an `Internal` error (the builder disagreeing with the scanner);
//! - field names distinct; every `json` field is JSON the host accepts;
//! - agreement with serde_json: a document serde_json accepts (nesting
//!   within the limit) is accepted, with the same number of records, and
//!   an object's string, boolean and null members decode to the same
//!   values.

#![no_main]

use ferry_fuzz::{
    Parsed, Session, assert_distinct_names, assert_json_fields_parse, assert_not_internal, hash,
    parse_all_ways,
};
use ferry_plugin_sdk::FieldValue;
use libfuzzer_sys::fuzz_target;
use plugin_json::config::Settings;
use plugin_json::scan::{MAX_DEPTH, Scanner};
use serde_json::Value;

struct Json(Scanner);

impl ferry_plugin_sdk::ParserSession for Json {
    fn feed(&mut self, chunk: &[u8]) -> Parsed {
        self.0.feed(chunk)
    }
    fn finish(&mut self) -> Parsed {
        self.0.finish()
    }
}

fn parse(data: &[u8], settings: Settings) -> Parsed {
    let parsed = parse_all_ways(data, || {
        ferry_plugin_sdk::call::Session::new(Json(Scanner::new(settings)))
    });
    assert_not_internal(&parsed);
    if let Ok(records) = &parsed {
        assert_distinct_names(records);
        assert_json_fields_parse(records);
    }
    parsed
}

fuzz_target!(|data: &[u8]| {
    let document = parse(data, Settings::default());
    let _lines = parse(
        data,
        Settings {
            lines: true,
            ..Settings::default()
        },
    );
    // Tiny limits reach the depth and record-size errors mid-chunk.
    let h = hash(data);
    let _small = parse(
        data,
        Settings {
            lines: h & 1 == 1,
            max_depth: 1 + (h >> 8) as usize % 4,
            max_record_bytes: 1 + (h >> 16) as usize % 64,
        },
    );
    agrees_with_serde_json(data, &document);
});

/// A document serde_json (strict RFC 8259, like the scanner) accepts must
/// be accepted, unless it nests deeper than the scanner's limit.
fn agrees_with_serde_json(data: &[u8], document: &Parsed) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if depth(&value) > MAX_DEPTH {
        assert!(document.is_err(), "accepted a document nested too deeply");
        return;
    }
    let records = match document {
        Ok(r) => r,
        Err(e) => panic!("serde_json accepts this document, the scanner says: {e}"),
    };
    let expected = match &value {
        Value::Array(a) if a.first().is_some_and(Value::is_object) => a.len(),
        Value::Array(a) if a.is_empty() => 0,
        _ => 1,
    };
    assert_eq!(records.len(), expected, "records of {value}");
    let Value::Object(members) = &value else {
        return;
    };
    let record = &records[0];
    for (key, v) in members {
        if key == "metadata" || key == "tags" {
            continue;
        }
        let want = match v {
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Bool(b) => FieldValue::Boolean(*b),
            Value::Null => FieldValue::Null,
            _ => continue,
        };
        assert_eq!(record.get(key), Some(&want), "member {key:?} of {value}");
    }
}

/// Nesting depth of arrays and objects (a scalar is 0), without recursion.
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}
