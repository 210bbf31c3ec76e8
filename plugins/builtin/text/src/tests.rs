//! Native tests of the text parser over hand-made fixtures and a real
//! Latin-1 file (rust-csv's `uspop-latin1.csv`).

use std::path::PathBuf;

use ferry_plugin_sdk::{FieldValue, FileInfo, Location, ParsedRecord, Parser, PluginError, call};

use crate::Text;
use crate::config::CONFIG_SCHEMA;
use crate::decode::{MAX_RECORD_BYTES, TextFile, title_of};

/// The chunk sizes every test runs (0 = the whole file at once).
const CHUNKS: [usize; 6] = [1, 2, 7, 64, 4096, 0];

fn data(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse_with(
    name: &str,
    input: &[u8],
    chunk: usize,
    max: usize,
) -> Result<ParsedRecord, PluginError> {
    let info = FileInfo {
        name: name.into(),
        size: input.len() as u64,
        media_type_hint: None,
    };
    let mut f = TextFile::new(&info, max);
    let mut records = Vec::new();
    if chunk == 0 {
        records.extend(f.feed(input)?);
    } else {
        for piece in input.chunks(chunk) {
            records.extend(f.feed(piece)?);
        }
    }
    assert!(records.is_empty(), "no record before the end");
    records.extend(f.finish()?);
    assert_eq!(records.len(), 1, "one record per file");
    Ok(records.remove(0))
}

/// Parse in every chunk size, check they agree.
fn parse(name: &str, input: &[u8]) -> ParsedRecord {
    let whole = parse_with(name, input, 0, MAX_RECORD_BYTES).expect("never fails under the limit");
    for size in CHUNKS {
        assert_eq!(
            parse_with(name, input, size, MAX_RECORD_BYTES).expect("ok"),
            whole,
            "chunk size {size}"
        );
    }
    whole
}

fn text<'a>(r: &'a ParsedRecord, name: &str) -> &'a str {
    match r.get(name) {
        Some(FieldValue::Text(s)) => s,
        other => panic!("field {name}: {other:?}"),
    }
}

/// (file, encoding, content, line endings)
const FIXTURES: &[(&str, &str, &str, &str)] = &[
    (
        "utf8-crlf.txt",
        "utf-8",
        "Café naïve\nsecond line\n",
        "crlf",
    ),
    ("utf8-bom-cr.txt", "utf-8-bom", "Café\nold mac\nend", "cr"),
    (
        "utf16le-bom.txt",
        "utf-16le",
        "Café ☃ 𝄞\nline two\n",
        "mixed",
    ),
    (
        "utf16be-bom.txt",
        "utf-16be",
        "Café ☃ 𝄞\nline two\n",
        "mixed",
    ),
    (
        "latin1.txt",
        "latin-1",
        "Café crème, ½ price\nZürich\n",
        "lf",
    ),
    ("mixed-endings.txt", "utf-8", "a\nb\nc\nd", "mixed"),
    ("empty.txt", "utf-8", "", "none"),
    ("bom-only.txt", "utf-8-bom", "", "none"),
];

#[test]
fn each_fixture_decodes_with_its_encoding_and_normalised_line_endings() {
    for (file, encoding, content, endings) in FIXTURES {
        let r = parse(&format!("notes/{file}"), &data(&format!("fixtures/{file}")));
        assert_eq!(text(&r, "encoding"), *encoding, "{file}");
        assert_eq!(text(&r, "content"), *content, "{file}");
        assert_eq!(text(&r, "line_endings"), *endings, "{file}");
        assert_eq!(text(&r, "content_type"), "text/plain", "{file}");
        assert_eq!(
            text(&r, "title"),
            file.strip_suffix(".txt").expect("a .txt fixture"),
            "{file}"
        );
    }
}

#[test]
fn a_real_latin1_file_decodes_like_its_utf8_twin_but_for_one_letter() {
    let latin = parse(
        "uspop-latin1.csv",
        &data("rust-csv-examples/uspop-latin1.csv"),
    );
    let utf8 = parse("uspop.csv", &data("rust-csv-examples/uspop.csv"));
    assert_eq!(text(&latin, "encoding"), "latin-1");
    assert_eq!(text(&utf8, "encoding"), "utf-8");
    assert_eq!(text(&latin, "title"), "uspop-latin1");
    let (a, b) = (text(&latin, "content"), text(&utf8, "content"));
    assert_eq!(a.chars().count(), b.chars().count());
    let differ: Vec<(char, char)> = a.chars().zip(b.chars()).filter(|(x, y)| x != y).collect();
    assert_eq!(differ, [('Õ', 'O')]);
}

#[test]
fn invalid_utf8_falls_back_to_latin1_and_broken_utf16_to_replacement_characters() {
    // Every byte value decodes: Latin-1 is U+0000..U+00FF one to one.
    let all: Vec<u8> = (0..=255u8).collect();
    let r = parse("bytes.bin", &all);
    assert_eq!(text(&r, "encoding"), "latin-1");
    let content = text(&r, "content");
    assert_eq!(content.chars().count(), 256);
    assert!(!content.contains('\r'), "the lone CR became LF");
    assert_eq!(content.chars().last(), Some('ÿ'));
    // A UTF-8 BOM then invalid bytes: the BOM wins, bad bytes become U+FFFD.
    let r = parse("x", b"\xEF\xBB\xBFa\xFFb");
    assert_eq!(text(&r, "content"), "a\u{FFFD}b");
    // UTF-16 with an odd byte count and a lone surrogate.
    let r = parse("x", b"\xFF\xFEa\x00\x00\xD8b\x00c");
    assert_eq!(text(&r, "encoding"), "utf-16le");
    assert_eq!(text(&r, "content"), "a\u{FFFD}b\u{FFFD}");
    // A chunk boundary inside a multi-byte character changes nothing.
    let r = parse("x", "日本語 🎉\r\n".as_bytes());
    assert_eq!(text(&r, "content"), "日本語 🎉\n");
}

#[test]
fn titles_come_from_the_file_name_without_extension() {
    assert_eq!(title_of("a/b/notes.txt").as_deref(), Some("notes"));
    assert_eq!(title_of("archive.tar.txt").as_deref(), Some("archive.tar"));
    assert_eq!(title_of(".profile").as_deref(), Some(".profile"));
    assert_eq!(title_of("README").as_deref(), Some("README"));
    assert_eq!(title_of("dir\\win.TXT").as_deref(), Some("win"));
    assert_eq!(title_of(""), None);
    assert_eq!(title_of("dir/"), None);
    let r = parse("", b"x");
    assert!(r.get("title").is_none());
}

#[test]
fn a_file_over_the_limit_is_malformed_with_the_offset_and_stays_bounded() {
    for size in CHUNKS {
        assert!(parse_with("a.txt", b"12345678", size, 8).is_ok());
        let e = parse_with("a.txt", b"123456789", size, 8).expect_err("too big");
        match e {
            PluginError::Malformed { location, message } => {
                assert_eq!(
                    location,
                    Location {
                        byte_offset: Some(8),
                        ..Location::default()
                    }
                );
                assert!(message.contains("larger than 8 bytes"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    // The default: 64 MiB, refused as soon as it is passed (and, through
    // the SDK's session guard as the host drives it, for good).
    let mut f = call::open::<Text>(FileInfo::default(), "").expect("open");
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        f.feed(&chunk).expect("within the limit");
    }
    let e = f.feed(b"x").expect_err("over");
    assert_eq!(f.finish().expect_err("sticky"), e);
}

#[test]
fn parser_trait_wires_config_and_session() {
    assert!(call::check_config::<Text>("").is_ok());
    assert!(call::check_config::<Text>(r#"{"max_record_bytes": 10}"#).is_ok());
    for (bad, key) in [
        (r#"{"max_record_bytes": 0}"#, "max_record_bytes"),
        (r#"{"max_record_bytes": 67108865}"#, "max_record_bytes"),
        (r#"{"encoding": "utf-8"}"#, "encoding"),
    ] {
        match call::check_config::<Text>(bad) {
            Err(PluginError::InvalidConfig(m)) => assert!(m.contains(key), "{bad}: {m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    let info = FileInfo {
        name: "doc.txt".into(),
        ..FileInfo::default()
    };
    let mut s = call::open::<Text>(info.clone(), r#"{"max_record_bytes": 3}"#).expect("open");
    assert!(s.feed(b"abcd").is_err());
    let mut s = call::open::<Text>(info, "").expect("open");
    assert!(s.feed(b"abcd").expect("ok").is_empty());
    let records = s.finish().expect("ok");
    assert_eq!(text(&records[0], "title"), "doc");
    assert!(matches!(s.finish(), Err(PluginError::Internal(_))));
    assert_eq!(Text::describe().name, "text");
    let schema: serde_json::Value = serde_json::from_str(CONFIG_SCHEMA).expect("JSON");
    assert_eq!(
        schema["properties"]["max_record_bytes"]["maximum"],
        MAX_RECORD_BYTES
    );
}
