//! The built-in `markdown` parser as a real component, in-process: the
//! CommonMark spec and front-matter fixtures over several chunk sizes,
//! malformed front matter as a typed error with its line, and
//! `ferry plugin list | check`.

use std::path::PathBuf;

use ferry::plugin::{
    FieldValue, GuestError, ParserInstance, PluginError, Registry, Runtime, RuntimeOptions,
};

use crate::util::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(cache_dir()),
    })
    .unwrap()
}

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/builtin/markdown/tests/data")
        .join(rel)
}

/// Parse `bytes` with the `markdown` component, fed in `chunk`-byte pieces.
async fn parse(
    parser: &mut ParserInstance,
    name: &str,
    bytes: &[u8],
    chunk: usize,
    config: &str,
) -> Result<Vec<(String, FieldValue)>, PluginError> {
    parser
        .open(name, bytes.len() as u64, Some("text/markdown"), config)
        .await?;
    let mut records = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        records.extend(parser.feed(piece).await?);
    }
    records.extend(parser.finish().await?);
    assert_eq!(records.len(), 1, "one record per file");
    Ok(records.remove(0))
}

fn field<'a>(r: &'a [(String, FieldValue)], name: &str) -> &'a FieldValue {
    &r.iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

fn text<'a>(r: &'a [(String, FieldValue)], name: &str) -> &'a str {
    match field(r, name) {
        FieldValue::Text(s) => s,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn markdown_component_parses_the_spec_and_front_matter_fixtures_at_every_chunk_size() {
    rt().block_on(async {
        let reg = Registry::new(runtime(), vec![], Default::default());
        let p = reg.resolve("markdown").await.unwrap();
        let mut parser = ParserInstance::new(p).unwrap();
        let spec = std::fs::read(data("commonmark-spec/spec.txt")).unwrap();
        let mut first = None;
        for chunk in [1024, 4096, 65536, spec.len()] {
            let r = parse(&mut parser, "spec.txt", &spec, chunk, "{}")
                .await
                .unwrap();
            assert_eq!(text(&r, "title"), "CommonMark Spec");
            assert_eq!(text(&r, "content_type"), "text/markdown");
            assert!(text(&r, "content").starts_with("\n# Introduction"));
            match &first {
                None => first = Some(r),
                Some(f) => assert_eq!(&r, f, "chunk size {chunk}"),
            }
        }
        let r = parse(&mut parser, "spec.txt", &spec, 65536, r#"{"html":true}"#)
            .await
            .unwrap();
        assert!(text(&r, "html").starts_with("<h1>Introduction</h1>"));

        let tags = std::fs::read(data("frontmatter-jxson/examples/dashes-seperator.md")).unwrap();
        for chunk in [1, 2, 7, 64, 4096] {
            let r = parse(&mut parser, "d.md", &tags, chunk, "{}")
                .await
                .unwrap();
            assert_eq!(text(&r, "title"), "Three dashes marks the spot");
            assert_eq!(
                field(&r, "tags"),
                &FieldValue::Json(serde_json::json!(["yaml", "front-matter", "dashes"]))
            );
        }
        let bom = std::fs::read(data("frontmatter-jxson/examples/bom.md")).unwrap();
        let r = parse(&mut parser, "bom.md", &bom, 1, "{}").await.unwrap();
        assert_eq!(text(&r, "title"), "Relax guy, I'm not hiding any BOMs");

        // Malformed YAML: a typed error with the file line.
        let bad = b"---\ntitle: ok\nlist: [a, b\nother: 1\n---\nbody\n";
        let err = parse(&mut parser, "bad.md", bad, 3, "{}")
            .await
            .unwrap_err();
        let PluginError::Guest { error, .. } = &err else {
            panic!("expected a guest error, got {err}");
        };
        match &**error {
            GuestError::MalformedInput { location, .. } => {
                assert!(matches!(location.line, Some(3..=5)), "{location:?}")
            }
            other => panic!("expected malformed input, got {other}"),
        }
    });
}

#[test]
fn markdown_is_listed_and_checked_by_the_cli() {
    let list = ferry(&["plugin", "list"]);
    assert!(stdout(&list).contains("markdown"), "{}", stdout(&list));
    let f = data("gray-matter-fixtures/test/fixtures/has-matter.md");
    let out = ferry(&[
        "plugin",
        "check",
        "markdown",
        "--input",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 records"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Has Matter!"), "{}", stdout(&out));
}
