//! Native tests of the line splitter.

use ferry_plugin_sdk::{FieldValue, FileInfo, Location, ParsedRecord, Parser, PluginError, call};

use crate::Lines;
use crate::config::CONFIG_SCHEMA;
use crate::split::{LineSplitter, MAX_LINE_BYTES};

/// Parse `input` fed in chunks of `chunk` bytes (0 = all at once).
fn parse_chunked(
    input: &[u8],
    chunk: usize,
    max: usize,
) -> Result<Vec<(i64, String)>, PluginError> {
    let mut s = LineSplitter::new(max);
    let mut records = Vec::new();
    if chunk == 0 {
        records.extend(s.feed(input)?);
    } else {
        for piece in input.chunks(chunk) {
            records.extend(s.feed(piece)?);
        }
    }
    records.extend(s.finish()?);
    Ok(records.iter().map(simple).collect())
}

fn simple(r: &ParsedRecord) -> (i64, String) {
    match (r.get("line"), r.get("text")) {
        (Some(FieldValue::Integer(n)), Some(FieldValue::Text(t))) => (*n, t.clone()),
        other => panic!("unexpected record shape {other:?}"),
    }
}

fn parse(input: &[u8]) -> Result<Vec<(i64, String)>, PluginError> {
    parse_chunked(input, 0, MAX_LINE_BYTES)
}

fn lines(v: &[(i64, &str)]) -> Vec<(i64, String)> {
    v.iter().map(|(n, t)| (*n, t.to_string())).collect()
}

fn location(e: PluginError) -> Location {
    match e {
        PluginError::Malformed { location, .. } => location,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn splits_lines_skipping_empty_ones_and_counting_them() {
    let got = parse(b"one\n\ntwo\r\n\r\nthree").expect("ok");
    assert_eq!(got, lines(&[(1, "one"), (3, "two"), (5, "three")]));
}

#[test]
fn keeps_whitespace_and_lone_carriage_returns() {
    let got = parse(b"  \na\rb\n\tx \r\n").expect("ok");
    assert_eq!(got, lines(&[(1, "  "), (2, "a\rb"), (3, "\tx ")]));
}

#[test]
fn trailing_cr_at_end_of_file_is_a_terminator() {
    assert_eq!(parse(b"end\r").expect("ok"), lines(&[(1, "end")]));
}

#[test]
fn empty_inputs_give_no_records() {
    assert_eq!(parse(b"").expect("ok"), vec![]);
    assert_eq!(parse(b"\n\r\n\n").expect("ok"), vec![]);
}

#[test]
fn a_leading_bom_is_skipped() {
    assert_eq!(
        parse(b"\xEF\xBB\xBFhello\nworld").expect("ok"),
        lines(&[(1, "hello"), (2, "world")])
    );
    // Only on line 1.
    assert_eq!(
        parse("a\n\u{feff}b".as_bytes()).expect("ok"),
        lines(&[(1, "a"), (2, "\u{feff}b")])
    );
}

const MIXED: &str =
    "héllo wörld\r\n\n☃ snow ☃\n𝄞 clef\r\n\r\n日本語のテキスト\nlast line no newline 🎉";

#[test]
fn every_chunk_size_from_1_to_7_gives_identical_records() {
    let whole = parse(MIXED.as_bytes()).expect("ok");
    assert_eq!(whole.len(), 5);
    assert_eq!(whole[1], (3, "☃ snow ☃".to_string()));
    for size in 1..=7 {
        assert_eq!(
            parse_chunked(MIXED.as_bytes(), size, MAX_LINE_BYTES).expect("ok"),
            whole,
            "chunk size {size}"
        );
    }
}

#[test]
fn invalid_utf8_reports_line_character_column_and_byte_offset() {
    // Line 2 is "aé" then a stray continuation byte.
    let input = b"ok\na\xC3\xA9\x80z\n";
    let loc = location(parse(input).expect_err("invalid"));
    assert_eq!(loc.line, Some(2));
    assert_eq!(loc.line_column, Some(3));
    assert_eq!(loc.byte_offset, Some(6));
    for size in 1..=7 {
        let e = parse_chunked(input, size, MAX_LINE_BYTES).expect_err("invalid");
        assert_eq!(location(e), loc, "chunk size {size}");
    }
}

#[test]
fn truncated_multibyte_character_at_end_of_file_is_malformed() {
    let loc = location(parse(b"ab\xE2\x98").expect_err("invalid"));
    assert_eq!(
        (loc.line, loc.line_column, loc.byte_offset),
        (Some(1), Some(3), Some(2))
    );
}

#[test]
fn over_long_lines_are_malformed_with_their_position() {
    let input = b"short\n0123456789\nok\n";
    for size in 0..=7 {
        let e = parse_chunked(input, size, 8).expect_err("too long");
        let message = e.to_string();
        assert!(message.contains("longer than 8 bytes"), "{message}");
        let loc = location(e);
        assert_eq!(
            (loc.line, loc.byte_offset),
            (Some(2), Some(6)),
            "chunk size {size}"
        );
    }
    // Exactly at the limit is fine, with or without `\r\n`.
    assert_eq!(
        parse_chunked(b"12345678\r\n12345678", 3, 8).expect("ok"),
        lines(&[(1, "12345678"), (2, "12345678")])
    );
}

#[test]
fn the_default_limit_is_one_mib() {
    let mut input = vec![b'x'; MAX_LINE_BYTES];
    input.push(b'\n');
    assert_eq!(parse(&input).expect("at the limit").len(), 1);
    input.insert(0, b'x');
    let loc = location(parse(&input).expect_err("over the limit"));
    assert_eq!(loc.line, Some(1));
    // Streaming detection keeps the buffer bounded: a huge line without a
    // newline fails as soon as it passes the limit.
    let mut s = LineSplitter::new(MAX_LINE_BYTES);
    let chunk = vec![b'y'; 64 * 1024];
    let mut fed = 0;
    let err = loop {
        match s.feed(&chunk) {
            Ok(records) => assert!(records.is_empty()),
            Err(e) => break e,
        }
        fed += chunk.len();
        assert!(fed <= MAX_LINE_BYTES + chunk.len(), "never failed");
    };
    assert!(matches!(err, PluginError::Malformed { .. }));
}

#[test]
fn errors_are_sticky_and_finish_is_final() {
    // As the host drives it: through the SDK's session guard.
    let open = || call::open::<Lines>(FileInfo::default(), "").expect("open");
    let mut s = open();
    let e = s.feed(b"\xFF\n").expect_err("invalid");
    assert_eq!(s.feed(b"fine\n").expect_err("sticky"), e);
    assert_eq!(s.finish().expect_err("sticky"), e);
    let mut s = open();
    s.finish().expect("ok");
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
fn arbitrary_bytes_never_panic_and_chunking_never_changes_the_result() {
    let alphabet: &[&[u8]] = &[
        b"a",
        b"\n",
        b"\r",
        b"\r\n",
        "é".as_bytes(),
        "☃".as_bytes(),
        "🎉".as_bytes(),
        b"\xC3",
        b"\x80",
        b"\xFF",
        b"\xEF\xBB\xBF",
        b" ",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300 {
        let len = (rng.next() % 40) as usize;
        let mut input = Vec::new();
        for _ in 0..len {
            input.extend_from_slice(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
        }
        let max = 1 + (rng.next() % 12) as usize;
        let whole = parse_chunked(&input, 0, max);
        for size in 1..=7 {
            assert_eq!(
                parse_chunked(&input, size, max),
                whole,
                "input {input:?}, chunk {size}"
            );
        }
    }
}

#[test]
fn parser_trait_wires_config_and_session() {
    assert!(call::check_config::<Lines>("").is_ok());
    assert!(call::check_config::<Lines>(r#"{"max_line_bytes": 10}"#).is_ok());
    for bad in [
        r#"{"max_line_bytes": 0}"#,
        r#"{"max_line_bytes": 2000000}"#,
        r#"{"delimiter": ","}"#,
    ] {
        assert!(
            matches!(
                call::check_config::<Lines>(bad),
                Err(PluginError::InvalidConfig(_))
            ),
            "{bad}"
        );
    }
    let mut session =
        call::open::<Lines>(FileInfo::default(), r#"{"max_line_bytes": 4}"#).expect("open");
    assert_eq!(session.feed(b"abcd\nab").expect("ok").len(), 1);
    assert_eq!(session.finish().expect("ok").len(), 1);
    let mut session = call::open::<Lines>(FileInfo::default(), "").expect("open");
    assert!(session.feed(b"abcde\n").is_ok());
    let info = Lines::describe();
    assert_eq!(info.name, "lines");
    let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).expect("JSON");
    assert_eq!(
        schema["properties"]["max_line_bytes"]["maximum"],
        MAX_LINE_BYTES
    );
}
