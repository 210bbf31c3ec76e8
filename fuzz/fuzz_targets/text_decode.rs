//! `text_decode`: the `text` parser's decoder
//! (`plugins/builtin/text/src/decode.rs`: size limit, encoding detection,
//! UTF-8/UTF-16/Latin-1 decoding, line-ending normalisation), driven as
//! `TextSession` drives it: `feed` every chunk, then `finish`.
//!
//! The input is the file. Invariants:
//! - no panic; the size limit holds (a file over it is `Malformed`, one
//!   within it is never refused), in every chunking;
//! - chunking independence (whole, one byte at a time, random cuts);
//! - decoding never fails and loses nothing it can keep: valid UTF-8 is
//!   itself, Latin-1 is one character per byte, BOM-less input is never
//!   taken for UTF-16, and UTF-16 without replacement characters encodes
//!   back to the same code units;
//! - the record's `content` is the decoded text with `\r\n` and `\r` made
//!   `\n` (no `\r` left), `encoding` names what `decode` detected, and
//!   `line_endings` is `none` exactly when the text has no line break.

#![no_main]

use ferry_fuzz::{Parsed, Session, assert_not_internal, hash, parse_all_ways};
use ferry_plugin_sdk::{FieldValue, FileInfo, PluginError};
use libfuzzer_sys::fuzz_target;
use plugin_text::decode::{
    Encoding, MAX_RECORD_BYTES, TextFile, decode, line_endings, normalise_line_endings, title_of,
};

struct Text(TextFile);

impl ferry_plugin_sdk::ParserSession for Text {
    fn feed(&mut self, chunk: &[u8]) -> Parsed {
        self.0.feed(chunk)
    }
    fn finish(&mut self) -> Parsed {
        self.0.finish()
    }
}

fn file() -> FileInfo {
    FileInfo {
        name: "notes/todo.txt".into(),
        ..FileInfo::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_all_ways(data, || {
        ferry_plugin_sdk::call::Session::new(Text(TextFile::new(&file(), MAX_RECORD_BYTES)))
    });
    assert_not_internal(&parsed);
    let records = parsed.expect("a text file within the limit is never refused");
    assert_eq!(records.len(), 1, "a text file is one record");
    let record = &records[0];

    // A small limit, in every chunking: refused exactly when over it.
    let max = (hash(data) % 64) as usize + 1;
    let limited = parse_all_ways(data, || {
        ferry_plugin_sdk::call::Session::new(Text(TextFile::new(&file(), max)))
    });
    match limited {
        Ok(_) => assert!(
            data.len() <= max,
            "{} bytes passed a {max}-byte limit",
            data.len()
        ),
        Err(PluginError::Malformed { .. }) => {
            assert!(
                data.len() > max,
                "{} bytes refused by a {max}-byte limit",
                data.len()
            )
        }
        Err(e) => panic!("the size limit is a Malformed error, got {e}"),
    }

    let (encoding, text) = decode(data);
    match encoding {
        Encoding::Utf8 => assert_eq!(text.as_bytes(), data),
        Encoding::Utf8Bom => assert_eq!(text, String::from_utf8_lossy(&data[3..])),
        Encoding::Latin1 => {
            assert!(
                std::str::from_utf8(data).is_err(),
                "valid UTF-8 read as Latin-1"
            );
            assert!(
                text.chars()
                    .map(u32::from)
                    .eq(data.iter().map(|&b| u32::from(b)))
            );
        }
        Encoding::Utf16Le | Encoding::Utf16Be => {
            let (bom, rest) = data.split_at(2);
            let le = encoding == Encoding::Utf16Le;
            assert_eq!(bom, if le { b"\xFF\xFE" } else { b"\xFE\xFF" });
            if !text.contains('\u{FFFD}') {
                let units: Vec<u16> = rest
                    .chunks_exact(2)
                    .map(|p| {
                        let p = [p[0], p[1]];
                        if le {
                            u16::from_le_bytes(p)
                        } else {
                            u16::from_be_bytes(p)
                        }
                    })
                    .collect();
                assert!(rest.len() % 2 == 0, "an odd byte decoded without U+FFFD");
                assert!(text.encode_utf16().eq(units), "UTF-16 did not round-trip");
            }
        }
    }

    let content = normalise_line_endings(&text);
    assert!(!content.contains('\r'), "a \\r survived normalisation");
    assert_eq!(
        content.chars().filter(|&c| c != '\n').count(),
        text.chars().filter(|&c| c != '\n' && c != '\r').count(),
        "normalisation changed more than line endings"
    );
    let endings = line_endings(&text);
    assert_eq!(endings == "none", !text.contains(['\r', '\n']));
    assert_eq!(record.get("content"), Some(&FieldValue::Text(content)));
    assert_eq!(
        record.get("encoding"),
        Some(&FieldValue::Text(encoding.name().into()))
    );
    assert_eq!(
        record.get("line_endings"),
        Some(&FieldValue::Text(endings.into()))
    );

    // The title of any name: the last path component, never a separator.
    if let Some(title) = title_of(&String::from_utf8_lossy(data)) {
        assert!(!title.is_empty() && !title.contains(['/', '\\']));
    }
});
