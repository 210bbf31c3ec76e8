//! `markdown_front_matter`: the `markdown` parser's front matter
//! (`plugins/builtin/markdown/src/front.rs`: fences, YAML via
//! serde-saphyr, TOML, JSON-as-YAML) and the record built around it
//! (`doc.rs`: title, tags, dates, metadata, optional HTML), driven as
//! `MarkdownSession` drives it: `feed` every chunk, then `finish`.
//!
//! The input is the file. Invariants:
//! - no panic, no hang, no stack overflow (YAML and TOML nesting limits,
//!   alias bombs), memory bounded;
//! - chunking independence (whole, one byte at a time, random cuts);
//! - never an `Internal` error; every `json` field (tags, metadata) is
//!   JSON the host accepts;
//! - `front::split` cuts the text it was given: the front matter and the
//!   body are pieces of it, the body its tail, and the record's `content`
//!   is that body;
//! - `front::parse` gives a mapping or a `Malformed` error with a line.

#![no_main]

use ferry_fuzz::{
    Parsed, Session, assert_distinct_names, assert_json_fields_parse, assert_not_internal, hash,
    parse_all_ways,
};
use ferry_plugin_sdk::{FieldValue, PluginError};
use libfuzzer_sys::fuzz_target;
use plugin_markdown::config::MarkdownConfig;
use plugin_markdown::doc::Document;
use plugin_markdown::front;

struct Markdown(Document);

impl ferry_plugin_sdk::ParserSession for Markdown {
    fn feed(&mut self, chunk: &[u8]) -> Parsed {
        self.0.feed(chunk)
    }
    fn finish(&mut self) -> Parsed {
        self.0.finish()
    }
}

fuzz_target!(|data: &[u8]| {
    // Rendering HTML doubles the work; every other input does it.
    let html = hash(data) & 1 == 1;
    let parsed = parse_all_ways(data, || {
        ferry_plugin_sdk::call::Session::new(Markdown(Document::new(
            MarkdownConfig { html },
            "notes/post.md",
        )))
    });
    assert_not_internal(&parsed);
    if let Ok(records) = &parsed {
        assert_eq!(records.len(), 1, "a Markdown file is one record");
        assert_distinct_names(records);
        assert_json_fields_parse(records);
    }

    let Ok(text) = std::str::from_utf8(data) else {
        assert!(parsed.is_err(), "a file that is not UTF-8 was accepted");
        return;
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let split = match front::split(text) {
        Ok(s) => s,
        Err(e) => {
            assert_malformed(&e);
            return;
        }
    };
    assert!(
        text.ends_with(split.body),
        "the body is not the file's tail"
    );
    let content = || {
        let record = &parsed.as_ref().expect("the front matter parsed")[0];
        assert_eq!(
            record.get("content"),
            Some(&FieldValue::Text(split.body.to_string())),
            "the record's content is not the body"
        );
    };
    let Some((lang, fm)) = split.front else {
        content();
        return;
    };
    let start = fm.as_ptr() as usize - text.as_ptr() as usize;
    assert!(
        text.get(start..start + fm.len()) == Some(fm),
        "the front matter is not a piece of the file"
    );
    match front::parse(lang, fm, split.front_line) {
        Ok(_) => content(),
        Err(e) => {
            assert_malformed(&e);
            assert_eq!(parsed.as_ref().err(), Some(&e), "the session hid the error");
        }
    }
});

fn assert_malformed(e: &PluginError) {
    match e {
        PluginError::Malformed { location, .. } => {
            assert!(location.line.is_some_and(|l| l >= 1), "no line in {e}");
        }
        other => panic!("front matter errors are Malformed, got {other}"),
    }
}
