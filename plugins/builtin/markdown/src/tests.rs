//! Native tests of the Markdown parser, over the front-matter fixtures of
//! jxson/front-matter and gray-matter, the CommonMark spec (copied into
//! `tests/data/` with their licenses) and edge cases.

use std::path::PathBuf;

use ferry_plugin_sdk::{
    FieldValue, Location, ParsedRecord, Parser, PluginError, call, parse_config,
};
use serde_json::{Value, json};

use crate::Markdown;
use crate::config::{CONFIG_SCHEMA, MarkdownConfig};
use crate::doc::{Document, MAX_DOCUMENT_BYTES};

const CHUNKS: [usize; 6] = [1, 2, 7, 64, 4096, 0];

fn data(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parse_with(
    input: &[u8],
    name: &str,
    chunk: usize,
    config: &str,
) -> Result<ParsedRecord, PluginError> {
    let mut d = Document::new(parse_config::<MarkdownConfig>(config)?, name);
    let mut out = Vec::new();
    if chunk == 0 {
        out.extend(d.feed(input)?);
    } else {
        for piece in input.chunks(chunk) {
            out.extend(d.feed(piece)?);
        }
    }
    out.extend(d.finish()?);
    assert_eq!(out.len(), 1, "one record per file");
    Ok(out.remove(0))
}

/// Parse with every chunk size; assert they agree.
fn parse(input: &[u8], name: &str) -> Result<ParsedRecord, PluginError> {
    let whole = parse_with(input, name, 0, "");
    for size in CHUNKS {
        assert_eq!(
            parse_with(input, name, size, ""),
            whole,
            "chunk size {size}"
        );
    }
    whole
}

fn fixture(rel: &str) -> ParsedRecord {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    parse(&data(rel), name).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn text<'a>(r: &'a ParsedRecord, name: &str) -> &'a str {
    match r.get(name) {
        Some(FieldValue::Text(s)) => s,
        other => panic!("field {name}: {other:?}"),
    }
}

fn json_field(r: &ParsedRecord, name: &str) -> Value {
    match r.get(name) {
        Some(FieldValue::Json(s)) => serde_json::from_str(s).expect("valid json"),
        other => panic!("field {name}: {other:?}"),
    }
}

fn malformed(e: PluginError) -> (String, Location) {
    match e {
        PluginError::Malformed { message, location } => (message, location),
        other => panic!("expected malformed input, got {other:?}"),
    }
}

#[test]
fn commonmark_spec_title_metadata_and_body() {
    let r = fixture("commonmark-spec/spec.txt");
    assert_eq!(text(&r, "title"), "CommonMark Spec");
    assert_eq!(text(&r, "created_at"), "2024-01-28");
    assert_eq!(text(&r, "content_type"), "text/markdown");
    assert_eq!(text(&r, "front_matter"), "yaml");
    let meta = json_field(&r, "metadata");
    assert_eq!(meta["author"], json!("John MacFarlane"));
    assert_eq!(meta["version"], json!("0.31.2"));
    assert!(meta.get("title").is_none() && meta.get("date").is_none());
    let body = text(&r, "content");
    assert!(body.starts_with("\n# Introduction\n"), "{:?}", &body[..40]);
    let whole = String::from_utf8(data("commonmark-spec/spec.txt")).expect("utf-8");
    assert!(whole.ends_with(body));
    assert_eq!(r.get("tags"), None);
}

#[test]
fn commonmark_spec_renders_html_when_asked() {
    let input = data("commonmark-spec/spec.txt");
    let r = parse_with(&input, "spec.txt", 4096, r#"{"html":true}"#).expect("ok");
    let html = text(&r, "html");
    assert!(html.starts_with("<h1>Introduction</h1>"), "{}", &html[..60]);
    assert!(html.contains("<h2>What is Markdown?</h2>"));
    assert_eq!(parse(&input, "spec.txt").expect("ok").get("html"), None);
}

#[test]
fn jxson_fixtures_behave_as_documented() {
    let base = "frontmatter-jxson/examples";
    // BOM before the opening fence.
    let r = fixture(&format!("{base}/bom.md"));
    assert_eq!(text(&r, "title"), "Relax guy, I'm not hiding any BOMs");
    assert_eq!(text(&r, "content"), "");
    // `...` closes the YAML block.
    let r = fixture(&format!("{base}/dots-ending.md"));
    assert_eq!(text(&r, "title"), "Example with dots document ending");
    assert_eq!(text(&r, "content"), "\nIt shouldn't break with ...\n");
    // `---` inside a value and later in the body.
    let r = fixture(&format!("{base}/dashes-seperator.md"));
    assert_eq!(text(&r, "title"), "Three dashes marks the spot");
    assert_eq!(
        json_field(&r, "tags"),
        json!(["yaml", "front-matter", "dashes"])
    );
    assert_eq!(
        json_field(&r, "metadata")["expaned-description"],
        json!("with some --- crazy stuff in it")
    );
    assert!(text(&r, "content").contains("\n---\n\nAlso this shouldn't be a problem"));
    // No body at all.
    let r = fixture(&format!("{base}/missing-body.md"));
    assert_eq!(text(&r, "content"), "");
    assert_eq!(
        json_field(&r, "tags"),
        json!(["yaml", "front-matter", "dashes"])
    );
    // No front matter: horizontal rules stay in the body, title from the heading or file.
    let r = fixture(&format!("{base}/no-front-matter.md"));
    assert_eq!(r.get("front_matter"), Some(&FieldValue::Null));
    assert_eq!(
        text(&r, "content"),
        String::from_utf8(data(&format!("{base}/no-front-matter.md"))).expect("utf-8")
    );
    // `= yaml =` is not a fence: the whole file is the body.
    let r = fixture(&format!("{base}/yaml-seperator.md"));
    assert_eq!(r.get("front_matter"), Some(&FieldValue::Null));
    assert_eq!(text(&r, "title"), "yaml-seperator");
    // Flow lists and block scalars.
    let r = fixture(&format!("{base}/wrapped-text.md"));
    assert_eq!(
        r.get("front_matter"),
        Some(&FieldValue::Text("yaml".into()))
    );
}

#[test]
fn jxson_unknown_yaml_tags_are_kept_as_plain_strings() {
    // `!!js/regexp` and `!<tag:yaml.org,2002:js/function>`: the tag is
    // dropped, the scalar kept as text; nothing is ever evaluated.
    let r = fixture("frontmatter-jxson/examples/complex-yaml.md");
    assert_eq!(text(&r, "title"), "This is a title!");
    let meta = json_field(&r, "metadata");
    assert_eq!(meta["match"], json!("/pattern/gim"));
    assert_eq!(meta["pets"], json!(["cat", "dog", "bat"]));
    let r = fixture("frontmatter-jxson/examples/unsafe.md");
    assert_eq!(
        json_field(&r, "metadata"),
        json!({"toString": "function (){very_evil_thing();}"})
    );
}

#[test]
fn gray_matter_fixtures_behave_as_documented() {
    let base = "gray-matter-fixtures/test/fixtures";
    for (f, title) in [
        ("has-matter.md", "Has Matter!"),
        ("basic.txt", "Basic"),
        ("lang-yaml.md", "YAML"),
        ("autodetect-yaml.md", "autodetect-yaml"),
        ("autodetect-no-lang.md", "autodetect-no-lang"),
        ("autodetect-json.md", "autodetect-JSON"),
        ("lang-json.md", "JSON"),
        ("to-json.md", "to JSON"),
        ("to-yaml.md", "to YAML"),
        ("hasnt-matter.md", "This file doesn't have matter!"),
        ("empty.md", "empty"),
    ] {
        let r = fixture(&format!("{base}/{f}"));
        assert_eq!(text(&r, "title"), title, "{f}");
    }
    assert_eq!(
        text(&fixture(&format!("{base}/has-matter.md")), "content"),
        "Boom."
    );
    assert_eq!(text(&fixture(&format!("{base}/to-json.md")), "content"), "");
    assert_eq!(text(&fixture(&format!("{base}/empty.md")), "content"), "");
    // Front matter in another language is refused on line 1, never evaluated.
    for f in [
        "lang-coffee-bad.md",
        "autodetect-coffee.md",
        "autodetect-javascript.md",
        "autodetect-cson.md",
    ] {
        let e = parse(&data(&format!("{base}/{f}")), f).expect_err(f);
        let (message, loc) = malformed(e);
        assert!(message.contains("not supported"), "{f}: {message}");
        assert_eq!(loc.line, Some(1), "{f}");
    }
    // A block never closed.
    let e = parse(&data(&format!("{base}/all.yaml")), "all.yaml").expect_err("unclosed");
    let (message, loc) = malformed(e);
    assert!(message.contains("never closed"), "{message}");
    assert_eq!(loc.line, Some(1));
    // The long YAML of the benchmark.
    let r = fixture("gray-matter-fixtures/benchmark/fixtures/complex.md");
    assert!(
        json_field(&r, "metadata")
            .as_object()
            .is_some_and(|m| !m.is_empty())
    );
}

#[test]
fn toml_front_matter() {
    let input = b"+++\ntitle = \"Hello\"\ntags = [\"a\", \"b\"]\ncategory = \"news\"\ndate = 2024-01-28T10:00:00Z\n[extra]\nk = 1\n+++\n# Ignored heading\nBody\n";
    let r = parse(input, "posts/hello.md").expect("ok");
    assert_eq!(text(&r, "title"), "Hello");
    assert_eq!(json_field(&r, "tags"), json!(["a", "b"]));
    assert_eq!(text(&r, "category"), "news");
    assert_eq!(text(&r, "created_at"), "2024-01-28T10:00:00Z");
    assert_eq!(json_field(&r, "metadata"), json!({"extra": {"k": 1}}));
    assert_eq!(text(&r, "front_matter"), "toml");
    assert_eq!(text(&r, "content"), "# Ignored heading\nBody\n");
    let e = parse(b"+++\ntitle = \"x\"\nbad = = 1\n+++\n", "x.md").expect_err("bad toml");
    let (message, loc) = malformed(e);
    assert!(message.contains("TOML"), "{message}");
    assert_eq!(loc.line, Some(3));
}

#[test]
fn title_falls_back_to_the_first_heading_then_the_file_name() {
    let r = parse(
        b"intro\n\nSetext Title\n============\n\n# Later\n",
        "a/b/c.md",
    )
    .expect("ok");
    assert_eq!(text(&r, "title"), "Setext Title");
    let r = parse(b"---\nauthor: x\n---\ntext only\n", "notes/2024 plan.md").expect("ok");
    assert_eq!(text(&r, "title"), "2024 plan");
    let r = parse(b"## *Emph* and `code`\n", "x.md").expect("ok");
    assert_eq!(text(&r, "title"), "Emph and code");
}

#[test]
fn empty_front_matter_crlf_and_mapped_keys() {
    let r = parse(b"---\n---\nbody\n", "e.md").expect("ok");
    assert_eq!(json_field(&r, "metadata"), json!({}));
    assert_eq!(text(&r, "content"), "body\n");
    assert_eq!(text(&r, "front_matter"), "yaml");
    let r = parse(b"---\r\ntitle: T\r\nid: 42\r\nurl: /t\r\ntags: x, y\r\ncategories: [a, b]\r\nupdated: 2024-02-01\r\n---\r\nbody\r\n", "c.md").expect("ok");
    assert_eq!(text(&r, "title"), "T");
    assert_eq!(text(&r, "id"), "42");
    assert_eq!(text(&r, "url"), "/t");
    assert_eq!(text(&r, "category"), "a");
    assert_eq!(text(&r, "updated_at"), "2024-02-01");
    assert_eq!(json_field(&r, "tags"), json!(["x", "y"]));
    assert_eq!(
        json_field(&r, "metadata"),
        json!({"categories": ["a", "b"]})
    );
    assert_eq!(text(&r, "content"), "body\r\n");
    // `----` is a thematic break, not a fence.
    let r = parse(b"----\ntext\n", "t.md").expect("ok");
    assert_eq!(r.get("front_matter"), Some(&FieldValue::Null));
}

#[test]
fn malformed_yaml_reports_its_file_line() {
    let e = parse(
        b"---\ntitle: ok\nlist: [a, b\nother: 1\n---\nbody\n",
        "m.md",
    )
    .expect_err("bad yaml");
    let (message, loc) = malformed(e);
    assert!(message.contains("YAML"), "{message}");
    assert!(matches!(loc.line, Some(3..=5)), "{loc:?}");
    let e = parse(b"---\n- a\n- b\n---\n", "l.md").expect_err("a list");
    assert!(malformed(e).0.contains("not a mapping"));
}

#[test]
fn billion_laughs_fails_fast() {
    let mut y = String::from(
        "---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        y.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    y.push_str("---\nbody\n");
    let start = std::time::Instant::now();
    let e = parse_with(y.as_bytes(), "lol.md", 0, "").expect_err("alias bomb");
    assert!(start.elapsed().as_secs() < 5);
    let (message, loc) = malformed(e);
    assert!(message.contains("YAML"), "{message}");
    assert!(loc.line.is_some());
}

#[test]
fn deep_nesting_is_malformed_not_a_stack_overflow() {
    let deep_yaml = format!(
        "---\na: {}{}\n---\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(parse_with(deep_yaml.as_bytes(), "d.md", 4096, "").is_err());
    let deep_toml = format!(
        "+++\na = {}{}\n+++\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (message, _) =
        malformed(parse_with(deep_toml.as_bytes(), "d.md", 4096, "").expect_err("deep"));
    assert!(message.contains("deeper than 128"), "{message}");
    // Deeply nested Markdown block quotes and lists render without trapping.
    let deep_md = format!("{}x\n\n{}y\n", "> ".repeat(50_000), "- ".repeat(50_000));
    let r = parse_with(deep_md.as_bytes(), "d.md", 4096, r#"{"html":true}"#).expect("ok");
    assert!(text(&r, "html").contains("<blockquote>"));
}

#[test]
fn invalid_utf8_reports_line_column_and_offset() {
    let e = parse(b"# ok\nab\xffc\n", "bad.md").expect_err("bad utf-8");
    let (_, loc) = malformed(e);
    assert_eq!(
        (loc.line, loc.line_column, loc.byte_offset),
        (Some(2), Some(3), Some(7))
    );
}

#[test]
fn documents_over_the_limit_are_refused() {
    let mut d = Document::new(MarkdownConfig::default(), "big.md");
    let chunk = vec![b'a'; 1 << 20];
    let mut err = None;
    for _ in 0..=(MAX_DOCUMENT_BYTES >> 20) {
        if let Err(e) = d.feed(&chunk) {
            err = Some(e);
            break;
        }
    }
    let (message, loc) = malformed(err.expect("over the limit"));
    assert!(message.contains("larger than"), "{message}");
    assert_eq!(loc.byte_offset, Some(MAX_DOCUMENT_BYTES as u64));
}

#[test]
fn config_is_strict() {
    assert!(call::check_config::<Markdown>("").is_ok());
    assert!(call::check_config::<Markdown>(r#"{"html":true}"#).is_ok());
    match call::check_config::<Markdown>(r#"{"htm":true}"#) {
        Err(PluginError::InvalidConfig(m)) => assert!(m.contains("htm"), "{m}"),
        other => panic!("{other:?}"),
    }
    let schema: Value = serde_json::from_str(CONFIG_SCHEMA).expect("schema is JSON");
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(Markdown::describe().name, "markdown");
}
