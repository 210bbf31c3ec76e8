//! `csv_reader`: the `csv` parser's streaming reader
//! (`plugins/builtin/csv/src/reader.rs`) with its dialect sniffer
//! (`sniff.rs`) and configuration (`config.rs`), driven as `CsvSession`
//! drives it: `feed` every chunk, then `finish`.
//!
//! The input is the file. Each input is parsed with the default
//! configuration exactly as the plugin runs it (sniffing the first 64 KiB,
//! so a small input is tokenised whole), then sniffing only the first few
//! bytes — the same code, but the rest of the file streams through the
//! tokenizer in chunks — either with everything sniffed or with overrides
//! derived from the input's hash (delimiter, quote, escape, comment,
//! header, encoding, ragged; conflicting ones are refused by the config as
//! a user's would be).
//!
//! Invariants: no panic, no hang, memory bounded by the record and field
//! limits; chunking independence (whole file, one byte at a time, random
//! cuts: same records or the same error); never an `Internal` error; the
//! field names of every record distinct; every value text or null.

#![no_main]

use ferry_fuzz::{
    Chunking, Parsed, Rng, Session, assert_distinct_names, assert_not_internal, drive, hash,
    parse_all_ways,
};
use ferry_plugin_sdk::FieldValue;
use libfuzzer_sys::fuzz_target;
use plugin_csv::config::{CsvConfig, Overrides};
use plugin_csv::reader::CsvReader;

struct Csv(CsvReader);

impl ferry_plugin_sdk::ParserSession for Csv {
    fn feed(&mut self, chunk: &[u8]) -> Parsed {
        self.0.feed(chunk)
    }
    fn finish(&mut self) -> Parsed {
        self.0.finish()
    }
}

/// Parse with `config`, sniffing `sniff_bytes`; `None` is the plugin's own
/// reader (`CsvReader::new`, 64 KiB sniffed), parsed whole only: a file
/// shorter than that is tokenised in one piece however it is chunked.
fn parse(data: &[u8], config: &CsvConfig, sniff_bytes: Option<usize>) {
    let Ok(over) = Overrides::try_from(config.clone()) else {
        return;
    };
    let parsed = match sniff_bytes {
        None => drive(
            ferry_plugin_sdk::call::Session::new(Csv(CsvReader::new(over))),
            data,
            Chunking::Whole,
        ),
        Some(n) => parse_all_ways(data, || {
            ferry_plugin_sdk::call::Session::new(Csv(CsvReader::with_sniff_bytes(over.clone(), n)))
        }),
    };
    assert_not_internal(&parsed);
    if let Ok(records) = &parsed {
        assert_distinct_names(records);
        for r in records {
            for f in &r.fields {
                assert!(
                    matches!(f.value, FieldValue::Text(_) | FieldValue::Null),
                    "field {:?} is not text: {:?}",
                    f.name,
                    f.value
                );
            }
        }
    }
}

/// One of a few characters a user might configure (or that would clash).
fn pick(rng: &mut Rng, of: &[&str]) -> String {
    of[rng.below(of.len() as u64) as usize].to_string()
}

fuzz_target!(|data: &[u8]| {
    let h = hash(data);
    let mut rng = Rng(h);
    parse(data, &CsvConfig::default(), None);
    // Building csv-core's tokenizer dominates a run, so each input takes
    // one of the two short-sniff configurations, by its hash.
    if rng.below(2) == 0 {
        parse(data, &CsvConfig::default(), Some(rng.below(64) as usize));
        return;
    }
    let chars = [",", "\t", ";", "|", ":", "\"", "'", "\\", "#", " ", "a"];
    let maybe = |rng: &mut Rng| rng.below(2) == 0;
    let config = CsvConfig {
        delimiter: maybe(&mut rng).then(|| pick(&mut rng, &chars)),
        quote: maybe(&mut rng).then(|| pick(&mut rng, &chars)),
        escape: maybe(&mut rng).then(|| maybe(&mut rng).then(|| pick(&mut rng, &chars))),
        comment: maybe(&mut rng).then(|| maybe(&mut rng).then(|| pick(&mut rng, &chars))),
        header: maybe(&mut rng).then(|| maybe(&mut rng)),
        encoding: Some(pick(&mut rng, &["auto", "utf-8", "latin-1"])),
        ragged: Some(pick(&mut rng, &["pad", "error"])),
    };
    parse(data, &config, Some(rng.below(64) as usize));
});
