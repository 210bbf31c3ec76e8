//! Native tests of the CSV parser, over csv-spectrum and the rust-csv
//! examples (copied into `tests/data/` with their licenses) and edge cases.

use std::path::PathBuf;

use ferry_plugin_sdk::{
    FieldValue, Location, ParsedRecord, Parser, PluginError, call, parse_config,
};
use serde_json::{Map, Value, json};

use crate::Csv;
use crate::config::{CONFIG_SCHEMA, Encoding, Overrides};
use crate::reader::{CsvReader, MAX_FIELDS};
use crate::sniff::{Dialect, SNIFF_BYTES};

/// Chunk sizes every file is fed with (0 = the whole file in one chunk).
const CHUNKS: [usize; 6] = [1, 2, 7, 64, 4096, 0];

fn data(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Parse `input` fed in chunks of `chunk` bytes (0 = all at once).
fn parse_with(input: &[u8], chunk: usize, config: &str) -> Result<Vec<ParsedRecord>, PluginError> {
    let mut r = CsvReader::new(parse_config::<Overrides>(config)?);
    let mut out = Vec::new();
    if chunk == 0 {
        out.extend(r.feed(input)?);
    } else {
        for piece in input.chunks(chunk) {
            out.extend(r.feed(piece)?);
        }
    }
    out.extend(r.finish()?);
    Ok(out)
}

/// Parse with every chunk size; assert they agree; return the records.
fn parse_all_chunkings(input: &[u8], config: &str) -> Result<Vec<ParsedRecord>, PluginError> {
    let whole = parse_with(input, 0, config);
    for size in CHUNKS {
        assert_eq!(parse_with(input, size, config), whole, "chunk size {size}");
    }
    whole
}

fn dialect_of(input: &[u8], config: &str) -> Dialect {
    let mut r = CsvReader::new(parse_config::<Overrides>(config).expect("config"));
    r.feed(input).expect("feed");
    r.finish().expect("finish");
    r.dialect().expect("sniffed")
}

fn to_json(records: &[ParsedRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                let obj: Map<String, Value> = r
                    .fields
                    .iter()
                    .map(|f| {
                        let v = match &f.value {
                            FieldValue::Text(s) => Value::String(s.clone()),
                            FieldValue::Null => Value::Null,
                            other => panic!("csv emits text or null, got {other:?}"),
                        };
                        (f.name.clone(), v)
                    })
                    .collect();
                Value::Object(obj)
            })
            .collect(),
    )
}

fn text<'a>(r: &'a ParsedRecord, name: &str) -> &'a str {
    match r.get(name) {
        Some(FieldValue::Text(s)) => s,
        other => panic!("field {name}: {other:?} in {r:?}"),
    }
}

fn location(e: PluginError) -> (String, Location) {
    match e {
        PluginError::Malformed { message, location } => (message, location),
        other => panic!("expected malformed input, got {other:?}"),
    }
}

#[test]
fn csv_spectrum_every_file_parses_to_its_expected_json() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/csv-spectrum/csvs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 12);
    for name in names {
        let stem = name.trim_end_matches(".csv");
        let got = to_json(
            &parse_all_chunkings(&data(&format!("csv-spectrum/csvs/{name}")), "").expect(stem),
        );
        let want: Value =
            serde_json::from_slice(&data(&format!("csv-spectrum/json/{stem}.json"))).expect("json");
        if stem == "location_coordinates" {
            // Upstream's expected output is a bare object whose phone number
            // (1234567890) is not the one in the CSV (2095257564); every other
            // field matches exactly.
            let mut want = want;
            want["Contact Phone Number"] = json!("2095257564");
            assert_eq!(got, json!([want]), "{stem}");
        } else {
            assert_eq!(got, want, "{stem}");
        }
    }
}

#[test]
fn rust_csv_examples_sniff_the_right_dialect() {
    let d = dialect_of(&data("rust-csv-examples/smallpop.csv"), "");
    assert_eq!(
        (d.delimiter, d.header, d.encoding),
        (b',', true, Encoding::Utf8)
    );
    let d = dialect_of(&data("rust-csv-examples/smallpop-colon.csv"), "");
    assert_eq!((d.delimiter, d.header), (b':', true));
    let d = dialect_of(&data("rust-csv-examples/smallpop-no-headers.csv"), "");
    assert_eq!((d.delimiter, d.header), (b',', false));
    let d = dialect_of(&data("rust-csv-examples/strange.csv"), "");
    assert_eq!(
        (d.delimiter, d.quote, d.escape, d.comment, d.header),
        (b';', b'"', Some(b'\\'), Some(b'#'), false)
    );
    let d = dialect_of(&data("rust-csv-examples/uspop-latin1.csv"), "");
    assert_eq!(
        (d.delimiter, d.header, d.encoding),
        (b',', true, Encoding::Latin1)
    );
}

#[test]
fn rust_csv_smallpop_variants_give_the_same_rows() {
    let with_header = parse_all_chunkings(&data("rust-csv-examples/smallpop.csv"), "").expect("ok");
    let colon = parse_all_chunkings(&data("rust-csv-examples/smallpop-colon.csv"), "").expect("ok");
    assert_eq!(with_header.len(), 10);
    assert_eq!(with_header, colon);
    assert_eq!(text(&with_header[0], "city"), "Southborough");
    assert_eq!(text(&with_header[0], "population"), "9686");
    let bare =
        parse_all_chunkings(&data("rust-csv-examples/smallpop-no-headers.csv"), "").expect("ok");
    assert_eq!(bare.len(), 10);
    assert_eq!(text(&bare[0], "column_1"), "Southborough");
    assert_eq!(text(&bare[9], "column_4"), "42605");
}

/// `CsvReader::with_sniff_bytes` (the fuzzer's way past the sniff with
/// small inputs) only moves where streaming starts: with the dialect
/// configured, every sniff size and chunking gives the plugin's records.
#[test]
fn a_short_sniff_streams_the_rest_to_the_same_records() {
    let input = data("csv-spectrum/csvs/quotes_and_newlines.csv");
    let config = r#"{"delimiter":",","quote":"\"","escape":null,"comment":null,"header":true}"#;
    let expected = parse_all_chunkings(&input, config).expect("ok");
    assert_eq!(expected.len(), 2);
    for sniff_bytes in [0, 1, 7, 20, 1000] {
        for chunk in CHUNKS {
            let mut r = CsvReader::with_sniff_bytes(
                parse_config::<Overrides>(config).expect("config"),
                sniff_bytes,
            );
            let mut out = Vec::new();
            for piece in input.chunks(if chunk == 0 { input.len() } else { chunk }) {
                out.extend(r.feed(piece).expect("feed"));
            }
            out.extend(r.finish().expect("finish"));
            assert_eq!(out, expected, "sniff {sniff_bytes}, chunk {chunk}");
        }
    }
}

/// Found by `fuzz/fuzz_targets/csv_reader.rs` (sniffing 0 bytes): csv-core
/// skips a UTF-8 BOM only when its first read sees all three bytes, so a
/// second BOM after the file's own was skipped when the file came in one
/// chunk and kept as a header character when it came byte by byte.
#[test]
fn a_doubled_bom_is_read_the_same_in_every_chunking() {
    let input = b"\xEF\xBB\xBF\xEF\xBB\xBF\r1,NUL\rLL1,NULL%";
    // The dialect configured, so the sniff size changes nothing else.
    let config = r#"{"delimiter":",","quote":"\"","escape":null,"comment":null,"header":false}"#;
    // As the plugin reads it (64 KiB sniffed): both BOMs skipped.
    let expected = to_json(&parse_all_chunkings(input, config).expect("ok"));
    assert_eq!(
        expected,
        json!([
            {"column_1": "1", "column_2": "NUL"},
            {"column_1": "LL1", "column_2": "NULL%"}
        ])
    );
    for sniff_bytes in [0, 1, 2, 3, 64] {
        for chunk in [1, 2, 4, input.len()] {
            let mut r = CsvReader::with_sniff_bytes(
                parse_config::<Overrides>(config).expect("config"),
                sniff_bytes,
            );
            let mut out = Vec::new();
            for piece in input.chunks(chunk) {
                out.extend(r.feed(piece).expect("feed"));
            }
            out.extend(r.finish().expect("finish"));
            assert_eq!(
                to_json(&out),
                expected,
                "sniff {sniff_bytes}, chunk {chunk}"
            );
        }
    }
}

#[test]
fn rust_csv_strange_file_escapes_comments_and_a_short_row() {
    let rows = parse_all_chunkings(&data("rust-csv-examples/strange.csv"), "").expect("ok");
    let got: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|r| {
            let year = match r.get("column_2") {
                Some(FieldValue::Text(s)) => Some(s.clone()),
                Some(FieldValue::Null) => None,
                other => panic!("{other:?}"),
            };
            (text(r, "column_1").to_string(), year)
        })
        .collect();
    assert_eq!(got.len(), 6, "the comment line is skipped");
    assert_eq!(
        got[0],
        ("\"Hacksaw\" Jim Duggan".into(), Some("1987".into()))
    );
    assert_eq!(
        got[2],
        ("Rafael Halperin".into(), None),
        "the short row is padded with null"
    );
    // With `ragged: error` the short row is malformed input on its line.
    let e = parse_with(
        &data("rust-csv-examples/strange.csv"),
        3,
        r#"{"ragged":"error"}"#,
    )
    .expect_err("ragged");
    let (message, loc) = location(e);
    assert!(
        message.contains("has 1 fields but the first row has 2"),
        "{message}"
    );
    assert_eq!(loc.line, Some(4));
}

#[test]
fn rust_csv_latin1_file_decodes_as_latin1_and_says_so() {
    let rows = parse_all_chunkings(&data("rust-csv-examples/uspop-latin1.csv"), "").expect("ok");
    let utf8 = parse_all_chunkings(&data("rust-csv-examples/uspop.csv"), "").expect("ok");
    assert_eq!(rows.len(), 100);
    assert_eq!(text(&rows[2], "City"), "Õakman");
    assert_eq!(text(&rows[2], "encoding"), "latin-1");
    assert_eq!(
        utf8[2].get("encoding"),
        None,
        "UTF-8 records carry no encoding field"
    );
    // Same data otherwise (uspop.csv has the plain "Oakman").
    assert_eq!(text(&utf8[2], "City"), "Oakman");
    assert_eq!(text(&rows[99], "Longitude"), text(&utf8[99], "Longitude"));
    // Forced UTF-8: malformed, with the line of the bad row.
    let e = parse_with(
        &data("rust-csv-examples/uspop-latin1.csv"),
        7,
        r#"{"encoding":"utf-8"}"#,
    )
    .expect_err("not utf-8");
    let (message, loc) = location(e);
    assert!(message.contains("not valid UTF-8"), "{message}");
    assert_eq!(loc.line, Some(4));
}

#[test]
fn rust_csv_null_markers_stay_text_and_empty_cells_stay_empty() {
    let rows = parse_all_chunkings(&data("rust-csv-examples/uspop-null.csv"), "").expect("ok");
    assert_eq!(rows.len(), 100);
    let nulls = rows
        .iter()
        .filter(|r| text(r, "Population") == "NULL")
        .count();
    let empty = rows
        .iter()
        .filter(|r| text(r, "Population").is_empty())
        .count();
    assert_eq!(nulls, 3);
    assert!(empty > 10, "{empty}");
}

#[test]
fn a_later_non_utf8_row_falls_back_to_latin1_alone() {
    let mut input = b"name,n\n".to_vec();
    for i in 0..5000 {
        input.extend_from_slice(format!("caf\u{e9} {i},{i}\n").as_bytes());
    }
    assert!(input.len() > SNIFF_BYTES);
    input.extend_from_slice(b"caf\xe9,1\n");
    let rows = parse_all_chunkings(&input, "").expect("ok");
    assert_eq!(rows.len(), 5001);
    assert_eq!(text(&rows[0], "name"), "café 0");
    assert_eq!(rows[0].get("encoding"), None);
    assert_eq!(text(&rows[5000], "name"), "café");
    assert_eq!(text(&rows[5000], "encoding"), "latin-1");
}

#[test]
fn configured_dialect_overrides_sniffing() {
    let input = b"a|b\n'x|y'|2\n";
    let rows =
        parse_all_chunkings(input, r#"{"delimiter":"|","quote":"'","header":false}"#).expect("ok");
    assert_eq!(
        to_json(&rows),
        json!([
            {"column_1": "a", "column_2": "b"},
            {"column_1": "x|y", "column_2": "2"}
        ])
    );
    let rows = parse_all_chunkings(b"a;b\n1;2\n", r#"{"delimiter":","}"#).expect("ok");
    assert_eq!(to_json(&rows), json!([{"a;b": "1;2"}]));
}

#[test]
fn tabs_semicolons_and_pipes_are_sniffed() {
    for d in [b'\t', b';', b'|'] {
        let sep = char::from(d);
        let input = format!("id{sep}name{sep}note\n1{sep}Ann{sep}\"a, b\"\n2{sep}Bob{sep}x\n");
        let rows = parse_all_chunkings(input.as_bytes(), "").expect("ok");
        assert_eq!(
            to_json(&rows),
            json!([
                {"id": "1", "name": "Ann", "note": "a, b"},
                {"id": "2", "name": "Bob", "note": "x"}
            ]),
            "delimiter {sep:?}"
        );
    }
}

#[test]
fn header_names_are_made_distinct_and_non_empty() {
    let rows = parse_all_chunkings(b"a,a,,b\n1,2,3,4\n", r#"{"header":true}"#).expect("ok");
    assert_eq!(
        to_json(&rows),
        json!([{"a": "1", "a_2": "2", "column_3": "3", "b": "4"}])
    );
}

/// Found by `fuzz/fuzz_targets/csv_reader.rs`: a long row's extra field
/// was named `column_<n>` even when the header already had that name, so
/// the record held two fields of one name and the host (which looks fields
/// up by name) lost one value.
#[test]
fn a_long_rows_extra_field_never_repeats_a_header_name() {
    let rows = parse_all_chunkings(b"a,a,,column_6,b\n1,2,3,4,5,6,7\n", "").expect("ok");
    let names: Vec<&str> = rows[0].fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a",
            "a_2",
            "column_3",
            "column_6",
            "b",
            "column_6_2",
            "column_7"
        ]
    );
    assert_eq!(text(&rows[0], "column_6_2"), "6");
}

/// A header of one name repeated tens of thousands of times (a hostile or
/// broken file) is named in linear time: each repeat used to try every
/// suffix from `_2` up, which is quadratic (minutes at 60,000 fields).
#[test]
fn a_header_repeating_one_name_is_named_in_linear_time() {
    let n = 60_000;
    let mut input = vec!["a"; n].join(",").into_bytes();
    input.extend_from_slice(b"\n");
    input.extend_from_slice(vec!["1"; n].join(",").as_bytes());
    input.extend_from_slice(b"\n");
    let start = std::time::Instant::now();
    let rows = parse_with(&input, 0, r#"{"header": true}"#).expect("ok");
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    let r = &rows[0];
    assert_eq!(r.fields.len(), n);
    assert_eq!(r.fields[n - 1].name, format!("a_{n}"));
}

#[test]
fn long_rows_get_extra_columns_or_fail_with_their_line() {
    let input = b"a,b\n1,2\n3,4,5\n";
    let rows = parse_all_chunkings(input, "").expect("ok");
    assert_eq!(
        to_json(&rows),
        json!([{"a":"1","b":"2"}, {"a":"3","b":"4","column_3":"5"}])
    );
    let e = parse_with(input, 1, r#"{"ragged":"error"}"#).expect_err("ragged");
    let (_, loc) = location(e);
    assert_eq!((loc.line, loc.byte_offset), (Some(3), Some(14)));
}

#[test]
fn empty_files_bom_and_blank_lines() {
    assert_eq!(parse_all_chunkings(b"", "").expect("ok"), vec![]);
    assert_eq!(parse_all_chunkings(b"\n\n", "").expect("ok"), vec![]);
    assert_eq!(
        parse_all_chunkings(b"a,b\n", "").expect("ok"),
        vec![],
        "header only"
    );
    let rows = parse_all_chunkings(b"\xEF\xBB\xBFa,b\r\n\r\n1,2", "").expect("ok");
    assert_eq!(to_json(&rows), json!([{"a": "1", "b": "2"}]));
}

#[test]
fn an_unclosed_quote_runs_to_the_end_of_the_file() {
    // csv-core never fails: an unbalanced quote swallows the rest of the file
    // into one field (bounded by MAX_RECORD_BYTES).
    let rows = parse_all_chunkings(b"a,b\n1,\"open\n2,3\n", "").expect("ok");
    assert_eq!(to_json(&rows), json!([{"a": "1", "b": "open\n2,3\n"}]));
}

#[test]
fn too_many_fields_is_malformed_not_a_trap() {
    let mut input = vec![b','; MAX_FIELDS + 10];
    input.push(b'\n');
    let e = parse_with(&input, 4096, r#"{"header":false}"#).expect_err("too wide");
    let (message, loc) = location(e);
    assert!(message.contains("more than 65536 fields"), "{message}");
    assert_eq!(loc.line, Some(1));
}

#[test]
fn binary_garbage_does_not_trap() {
    let mut x: u32 = 0x1234_5678;
    let garbage: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    for size in [1, 7, 4096, 0] {
        let _ = parse_with(&garbage, size, "");
    }
}

#[test]
fn config_is_strict_and_checked() {
    assert!(call::check_config::<Csv>("").is_ok());
    assert!(
        call::check_config::<Csv>(
            r##"{"delimiter":"\t","escape":null,"comment":"#","encoding":"latin-1"}"##
        )
        .is_ok()
    );
    for (bad, key) in [
        (r#"{"delimter":","}"#, "delimter"),
        (r#"{"delimiter":",,"}"#, "delimiter"),
        (r#"{"delimiter":"\n"}"#, "delimiter"),
        (r#"{"encoding":"ebcdic"}"#, "encoding"),
        (r#"{"ragged":"truncate"}"#, "ragged"),
        (r#"{"delimiter":"'","quote":"'"}"#, "quote"),
    ] {
        match call::check_config::<Csv>(bad) {
            Err(PluginError::InvalidConfig(m)) => assert!(m.contains(key), "{bad}: {m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let schema: Value = serde_json::from_str(CONFIG_SCHEMA).expect("schema is JSON");
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(Csv::describe().name, "csv");
}
