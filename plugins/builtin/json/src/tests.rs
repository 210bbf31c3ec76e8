//! Native tests of the JSON parser, over JSONTestSuite and hand-made cases.

use std::path::PathBuf;

use ferry_plugin_sdk::{FieldValue, FileInfo, Location, ParsedRecord, Parser, PluginError, call};

use crate::Json;
use crate::config::{CONFIG_SCHEMA, Settings};
use crate::record::number;
use crate::scan::{MAX_DEPTH, MAX_RECORD_BYTES, Scanner};

/// The chunk sizes every streaming test runs (0 = the whole input at once).
const CHUNKS: [usize; 6] = [1, 2, 7, 64, 4096, 0];

fn parse_with(
    input: &[u8],
    chunk: usize,
    settings: Settings,
) -> Result<Vec<ParsedRecord>, PluginError> {
    let mut s = Scanner::new(settings);
    let mut records = Vec::new();
    if chunk == 0 {
        records.extend(s.feed(input)?);
    } else {
        for piece in input.chunks(chunk) {
            records.extend(s.feed(piece)?);
        }
    }
    records.extend(s.finish()?);
    Ok(records)
}

/// Parse in every chunk size, check they agree, return the result.
fn parse_all_ways(input: &[u8], settings: Settings) -> Result<Vec<ParsedRecord>, PluginError> {
    let whole = parse_with(input, 0, settings);
    for size in CHUNKS {
        assert_eq!(
            parse_with(input, size, settings),
            whole,
            "chunk size {size} differs on {:?}",
            String::from_utf8_lossy(input.get(..200.min(input.len())).unwrap_or_default())
        );
    }
    whole
}

fn parse(input: &str) -> Result<Vec<ParsedRecord>, PluginError> {
    parse_all_ways(input.as_bytes(), Settings::default())
}

fn lines() -> Settings {
    Settings {
        lines: true,
        ..Settings::default()
    }
}

fn location(e: PluginError) -> Location {
    match e {
        PluginError::Malformed { location, .. } => location,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn field<'a>(r: &'a ParsedRecord, name: &str) -> &'a FieldValue {
    r.get(name)
        .unwrap_or_else(|| panic!("no field {name} in {r:?}"))
}

fn json(s: &str) -> FieldValue {
    FieldValue::Json(s.to_string())
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.to_string())
}

fn suite() -> Vec<(String, Vec<u8>)> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsontestsuite/test_parsing");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("the JSONTestSuite copy")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_string();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 318, "95 y_, 188 n_ and 35 i_ files");
    files
}

#[test]
fn jsontestsuite_every_y_file_parses_in_every_chunking() {
    let mut count = 0;
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("y_")) {
        let result = parse_all_ways(bytes, Settings::default());
        assert!(result.is_ok(), "{name}: {result:?}");
        count += 1;
    }
    assert_eq!(count, 95);
}

#[test]
fn jsontestsuite_every_n_file_is_rejected_with_a_position() {
    let mut count = 0;
    for (name, bytes) in suite().iter().filter(|(n, _)| n.starts_with("n_")) {
        let err = parse_all_ways(bytes, Settings::default())
            .expect_err(&format!("{name} must be rejected"));
        let loc = location(err);
        assert!(
            loc.line.is_some() && loc.line_column.is_some() && loc.byte_offset.is_some(),
            "{name}: {loc:?}"
        );
        let offset = loc.byte_offset.unwrap_or_default();
        assert!(offset <= bytes.len() as u64, "{name}: offset {offset}");
        count += 1;
    }
    assert_eq!(count, 188);
}

/// Implementation-defined inputs and what this parser does with them
/// (documented in docs/parsers.md): numbers are accepted (kept exactly, as
/// json when no i64/f64 holds them); anything that is not valid UTF-8 or
/// names a lone UTF-16 surrogate is rejected (a database could not store it
/// as text); UTF-16 is rejected (RFC 8259 requires UTF-8); a UTF-8 BOM is
/// skipped; 500 levels of nesting are over the 100 limit (malformed, with
/// the position of the 101st bracket).
const I_FILES: &[(&str, bool)] = &[
    ("i_number_double_huge_neg_exp.json", true),
    ("i_number_huge_exp.json", true),
    ("i_number_neg_int_huge_exp.json", true),
    ("i_number_pos_double_huge_exp.json", true),
    ("i_number_real_neg_overflow.json", true),
    ("i_number_real_pos_overflow.json", true),
    ("i_number_real_underflow.json", true),
    ("i_number_too_big_neg_int.json", true),
    ("i_number_too_big_pos_int.json", true),
    ("i_number_very_big_negative_int.json", true),
    ("i_object_key_lone_2nd_surrogate.json", false),
    ("i_string_1st_surrogate_but_2nd_missing.json", false),
    ("i_string_1st_valid_surrogate_2nd_invalid.json", false),
    ("i_string_UTF-16LE_with_BOM.json", false),
    ("i_string_UTF-8_invalid_sequence.json", false),
    ("i_string_UTF8_surrogate_U+D800.json", false),
    ("i_string_incomplete_surrogate_and_escape_valid.json", false),
    ("i_string_incomplete_surrogate_pair.json", false),
    ("i_string_incomplete_surrogates_escape_valid.json", false),
    ("i_string_invalid_lonely_surrogate.json", false),
    ("i_string_invalid_surrogate.json", false),
    ("i_string_invalid_utf-8.json", false),
    ("i_string_inverted_surrogates_U+1D11E.json", false),
    ("i_string_iso_latin_1.json", false),
    ("i_string_lone_second_surrogate.json", false),
    ("i_string_lone_utf8_continuation_byte.json", false),
    ("i_string_not_in_unicode_range.json", false),
    ("i_string_overlong_sequence_2_bytes.json", false),
    ("i_string_overlong_sequence_6_bytes.json", false),
    ("i_string_overlong_sequence_6_bytes_null.json", false),
    ("i_string_truncated-utf-8.json", false),
    ("i_string_utf16BE_no_BOM.json", false),
    ("i_string_utf16LE_no_BOM.json", false),
    ("i_structure_500_nested_arrays.json", false),
    ("i_structure_UTF-8_BOM_empty_object.json", true),
];

#[test]
fn jsontestsuite_i_files_behave_as_documented() {
    let files = suite();
    let i_files: Vec<&String> = files
        .iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("i_"))
        .collect();
    let listed: Vec<&str> = I_FILES.iter().map(|(n, _)| *n).collect();
    assert_eq!(i_files, listed, "the table lists every i_ file");
    for (name, accept) in I_FILES {
        let bytes = &files
            .iter()
            .find(|(n, _)| n == name)
            .expect("listed file exists")
            .1;
        match parse_all_ways(bytes, Settings::default()) {
            Ok(_) => assert!(accept, "{name} accepted, documented as rejected"),
            Err(e) => {
                assert!(!accept, "{name} rejected ({e}), documented as accepted");
                assert!(location(e).byte_offset.is_some(), "{name}");
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_at_the_first_byte_too_deep_not_a_stack_overflow() {
    let files = suite();
    let (_, bytes) = files
        .iter()
        .find(|(n, _)| n == "n_structure_100000_opening_arrays.json")
        .expect("file");
    let loc = location(parse_all_ways(bytes, Settings::default()).expect_err("too deep"));
    assert_eq!(loc.byte_offset, Some(MAX_DEPTH as u64));
    assert_eq!(
        (loc.line, loc.line_column),
        (Some(1), Some(MAX_DEPTH as u32 + 1))
    );
    // Exactly at the limit is fine; a lower configured limit applies.
    let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse(&at_limit).is_ok());
    let shallow = Settings {
        max_depth: 2,
        ..Settings::default()
    };
    assert!(parse_all_ways(b"{\"a\":[1]}", shallow).is_ok());
    let loc = location(parse_all_ways(b"{\"a\":[{}]}", shallow).expect_err("depth 3"));
    assert_eq!(loc.byte_offset, Some(6));
}

#[test]
fn an_object_is_one_record_with_typed_fields_and_nested_values_as_original_text() {
    let input = r#"{"n": 42, "f": 1.5, "s": "h\u00e9\n", "b": true, "z": null,
        "o": {"a" : [1, 2]}, "a": [ ], "big": 12345678901234567890, "tiny": 1e-400}"#;
    let records = parse(input).expect("ok");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(field(r, "n"), &FieldValue::Integer(42));
    assert_eq!(field(r, "f"), &FieldValue::Float(1.5));
    assert_eq!(field(r, "s"), &text("hé\n"));
    assert_eq!(field(r, "b"), &FieldValue::Boolean(true));
    assert_eq!(field(r, "z"), &FieldValue::Null);
    assert_eq!(field(r, "o"), &json(r#"{"a" : [1, 2]}"#));
    assert_eq!(field(r, "a"), &json("[ ]"));
    assert_eq!(field(r, "big"), &json("12345678901234567890"));
    assert_eq!(field(r, "tiny"), &json("1e-400"));
}

#[test]
fn numbers_are_integer_float_or_exact_json() {
    assert_eq!(number("-0"), FieldValue::Integer(0));
    assert_eq!(number("9223372036854775807"), FieldValue::Integer(i64::MAX));
    assert_eq!(
        number("-9223372036854775808"),
        FieldValue::Integer(i64::MIN)
    );
    assert_eq!(number("9223372036854775808"), json("9223372036854775808"));
    assert_eq!(number("1E2"), FieldValue::Float(100.0));
    assert_eq!(number("0.1"), FieldValue::Float(0.1));
    assert_eq!(number("1.50"), FieldValue::Float(1.5));
    assert_eq!(number("1e20"), FieldValue::Float(1e20));
    assert_eq!(number("100000000000000000000"), FieldValue::Float(1e20));
    assert_eq!(number("-0.0"), FieldValue::Float(-0.0));
    assert_eq!(number("1.000000000000000005"), json("1.000000000000000005"));
    assert_eq!(number("1e400"), json("1e400"));
    assert_eq!(number("-1e-999"), json("-1e-999"));
    assert_eq!(
        number("1e99999999999999999999999"),
        json("1e99999999999999999999999")
    );
}

#[test]
fn a_top_level_array_of_objects_is_a_record_per_element() {
    let input = "[\n {\"id\": 1}, {\"id\": 2}\n, 3, [4] ]";
    let records = parse(input).expect("ok");
    assert_eq!(records.len(), 4);
    assert_eq!(field(&records[0], "id"), &FieldValue::Integer(1));
    assert_eq!(field(&records[1], "id"), &FieldValue::Integer(2));
    // Later non-object elements are value records, never an error.
    assert_eq!(records[2].fields.len(), 1);
    assert_eq!(field(&records[2], "value"), &json("3"));
    assert_eq!(field(&records[3], "value"), &json("[4]"));
    // An empty array is no records.
    assert_eq!(parse(" [ ] ").expect("ok"), vec![]);
}

#[test]
fn scalars_and_arrays_not_starting_with_an_object_are_one_value_record() {
    for (input, value) in [
        ("[1, {\"a\": 2}]", "[1, {\"a\": 2}]"),
        (" \"x\" ", "\"x\""),
        ("-0.0e1", "-0.0e1"),
        ("null", "null"),
        ("[[]]", "[[]]"),
    ] {
        let records = parse(input).expect(input);
        assert_eq!(records.len(), 1, "{input}");
        assert_eq!(records[0].fields.len(), 1, "{input}");
        assert_eq!(field(&records[0], "value"), &json(value), "{input}");
    }
}

#[test]
fn json_lines_are_a_record_per_line_by_name_config_or_sniffing() {
    let input = "{\"a\":1}\r\n[{\"b\":2}]\n\n  3\n";
    // Lines mode: every value is one record, arrays included.
    let records = parse_all_ways(input.as_bytes(), lines()).expect("ok");
    assert_eq!(records.len(), 3);
    assert_eq!(field(&records[1], "value"), &json("[{\"b\":2}]"));
    // Document mode sniffs the further values; the array splits.
    let records = parse(input).expect("ok");
    assert_eq!(records.len(), 3);
    assert_eq!(field(&records[1], "b"), &FieldValue::Integer(2));
    // A second value on the same line is trailing garbage.
    for bad in ["{} {}", "[][]", "1 2", "{\"a\": true} \"x\""] {
        for settings in [Settings::default(), lines()] {
            let loc = location(parse_all_ways(bad.as_bytes(), settings).expect_err(bad));
            assert_eq!(loc.line, Some(1), "{bad}");
        }
    }
    // The mode follows the file name.
    let session = |name: &str| {
        let mut s = call::open::<Json>(
            FileInfo {
                name: name.into(),
                ..FileInfo::default()
            },
            "",
        )
        .expect("open");
        let mut r = s.feed(b"[1]\n[2]").expect("feed");
        r.extend(s.finish().expect("finish"));
        r.len()
    };
    assert_eq!(session("a/b.JSONL"), 2);
    assert_eq!(session("b.ndjson"), 2);
    assert_eq!(session("b.json"), 2);
}

#[test]
fn conventional_fields_come_from_their_aliases_and_metadata_holds_the_rest() {
    let input = r#"{"_id": "a1", "name": "Hello", "body": "Text", "tags": "x, y,,z",
        "date": "2020-01-02", "author": {"n": "Ann"}, "views": 3, "metadata": {"k": 1}}"#;
    let records = parse(input).expect("ok");
    let r = &records[0];
    assert_eq!(field(r, "_id"), &text("a1"));
    assert_eq!(field(r, "id"), &text("a1"));
    assert_eq!(field(r, "title"), &text("Hello"));
    assert_eq!(field(r, "name"), &text("Hello"));
    assert_eq!(field(r, "content"), &text("Text"));
    assert_eq!(field(r, "tags"), &json(r#"["x","y","z"]"#));
    assert_eq!(field(r, "created_at"), &text("2020-01-02"));
    assert_eq!(field(r, "author"), &json(r#"{"n": "Ann"}"#));
    assert_eq!(
        field(r, "metadata"),
        &json(r#"{"author":{"n": "Ann"},"views":3,"metadata":{"k": 1}}"#)
    );
    // The conventional name beats its aliases; no metadata when nothing is left.
    let records = parse(r#"{"id": 7, "_id": "x", "tags": ["a"]}"#).expect("ok");
    let r = &records[0];
    assert_eq!(field(r, "id"), &FieldValue::Integer(7));
    assert_eq!(field(r, "tags"), &json(r#"["a"]"#));
    assert_eq!(field(r, "metadata"), &json(r#"{"_id":"x"}"#));
    let records = parse(r#"{"title": "t"}"#).expect("ok");
    assert!(records[0].get("metadata").is_none());
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let records = parse(r#"{"a": 1, "b": 2, "a": "x"}"#).expect("ok");
    let r = &records[0];
    assert_eq!(r.fields.iter().filter(|f| f.name == "a").count(), 1);
    assert_eq!(field(r, "a"), &text("x"));
    assert_eq!(field(r, "metadata"), &json(r#"{"a":"x","b":2}"#));
}

#[test]
fn invalid_utf8_is_malformed_at_its_byte_offset() {
    let input = b"{\"k\": \"ab\xC3\xA9\xFFz\"}";
    let loc = location(parse_all_ways(input, Settings::default()).expect_err("invalid"));
    assert_eq!(loc.byte_offset, Some(11));
    assert_eq!((loc.line, loc.line_column), (Some(1), Some(11)));
    // A truncated sequence at a later line.
    let input = b"[\n\"\xE2\x98\"]";
    let loc = location(parse_all_ways(input, Settings::default()).expect_err("invalid"));
    assert_eq!(
        (loc.line, loc.line_column, loc.byte_offset),
        (Some(2), Some(2), Some(3))
    );
    // Outside strings any non-ASCII byte is unexpected.
    let loc = location(parse_all_ways(b"[1,\xC3\xA9]", Settings::default()).expect_err("x"));
    assert_eq!(loc.byte_offset, Some(3));
}

#[test]
fn empty_input_and_truncation_are_malformed_at_the_end() {
    for (input, offset) in [
        ("", 0),
        ("  \n", 3),
        ("{\"a\":", 5),
        ("[1,", 3),
        ("\"ab", 3),
        ("-", 1),
    ] {
        let loc = location(parse(input).expect_err(input));
        assert_eq!(loc.byte_offset, Some(offset), "{input:?}");
    }
    // A BOM alone is no value; a BOM then a value is fine.
    assert!(parse_all_ways(b"\xEF\xBB\xBF", Settings::default()).is_err());
    assert_eq!(
        parse_all_ways(b"\xEF\xBB\xBF{\"a\":1}", Settings::default())
            .expect("ok")
            .len(),
        1
    );
}

#[test]
fn a_record_over_the_limit_is_malformed_and_the_buffer_stays_bounded() {
    let small = Settings {
        max_record_bytes: 10,
        ..Settings::default()
    };
    // Each element of a record array is measured on its own.
    let ok = parse_all_ways(b"[{\"a\":\"12\"}, {\"b\":\"12\"}]", small).expect("ok");
    assert_eq!(ok.len(), 2);
    let loc = location(
        parse_all_ways(b"[{\"a\":\"12\"},\n {\"b\":\"123\"}]", small).expect_err("too big"),
    );
    assert_eq!((loc.line, loc.byte_offset), (Some(2), Some(24)));
    // The default limit: a huge string fails once past 64 MiB, in constant memory.
    let mut s = Scanner::new(Settings::default());
    s.feed(b"{\"k\": \"").expect("start");
    let chunk = vec![b'x'; 1 << 20];
    let mut fed = 0usize;
    let err = loop {
        match s.feed(&chunk) {
            Ok(r) => assert!(r.is_empty()),
            Err(e) => break e,
        }
        fed += chunk.len();
        assert!(fed <= MAX_RECORD_BYTES + chunk.len(), "never failed");
    };
    assert!(
        err.to_string().contains("larger than 67108864 bytes"),
        "{err}"
    );
}

#[test]
fn errors_are_sticky_and_finish_is_final() {
    // As the host drives it: through the SDK's session guard.
    let open = || call::open::<Json>(FileInfo::default(), "").expect("open");
    let mut s = open();
    let e = s.feed(b"[}").expect_err("bad");
    assert_eq!(s.feed(b"1").expect_err("sticky"), e);
    assert_eq!(s.finish().expect_err("sticky"), e);
    let mut s = open();
    s.feed(b"1").expect("ok");
    assert_eq!(s.finish().expect("ok").len(), 1);
    assert!(matches!(s.feed(b"x"), Err(PluginError::Internal(_))));
}

/// A small deterministic generator (xorshift), so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn arbitrary_token_soup_never_panics_and_chunking_never_changes_the_result() {
    let alphabet: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b",",
        b":",
        b"\"",
        b"\"k\"",
        b"\\",
        b"\\u",
        b"d83d",
        b"dc00",
        b"1",
        b"-",
        b".",
        b"e",
        b"0",
        b"true",
        b"nul",
        b" ",
        b"\n",
        b"\r",
        "é".as_bytes(),
        b"\xC3",
        b"\xFF",
        b"\xEF\xBB\xBF",
        b"x",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let len = (rng.next() % 30) as usize;
        let mut input = Vec::new();
        for _ in 0..len {
            input.extend_from_slice(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
        }
        let settings = Settings {
            lines: rng.next().is_multiple_of(2),
            max_depth: 1 + (rng.next() % 4) as usize,
            max_record_bytes: 1 + (rng.next() % 40) as usize,
        };
        // parse_all_ways asserts every chunking agrees.
        if let Err(e) = parse_all_ways(&input, settings) {
            assert!(matches!(e, PluginError::Malformed { .. }), "{input:?}: {e}");
        }
    }
}

#[test]
fn parser_trait_wires_config_and_session() {
    assert!(call::check_config::<Json>("").is_ok());
    assert!(
        call::check_config::<Json>(r#"{"mode": "lines", "max_depth": 3, "max_record_bytes": 5}"#)
            .is_ok()
    );
    for (bad, key) in [
        (r#"{"max_depth": 0}"#, "max_depth"),
        (r#"{"max_depth": 513}"#, "max_depth"),
        (r#"{"max_record_bytes": 67108865}"#, "max_record_bytes"),
        (r#"{"mode": "csv"}"#, "csv"),
        (r#"{"delimiter": ","}"#, "delimiter"),
    ] {
        match call::check_config::<Json>(bad) {
            Err(PluginError::InvalidConfig(m)) => assert!(m.contains(key), "{bad}: {m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let info = Json::describe();
    assert_eq!(info.name, "json");
    let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).expect("JSON");
    assert_eq!(schema["properties"]["max_depth"]["maximum"], MAX_DEPTH);
    assert_eq!(
        schema["properties"]["max_record_bytes"]["maximum"],
        MAX_RECORD_BYTES
    );
}
