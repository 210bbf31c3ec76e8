//! The built-in `json` and `text` parsers as real components, in-process:
//! JSON Lines and arrays across chunk sizes, JSONTestSuite's `n_` files as
//! typed errors with a position (deep nesting included, no trap), and the
//! plain-text parser's encoding detection.

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

fn registry() -> Registry {
    let runtime = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache_dir()),
    })
    .unwrap();
    Registry::new(runtime, vec![], Default::default())
}

fn suite(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/builtin/json/tests/data/jsontestsuite/test_parsing")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn parse(
    parser: &mut ParserInstance,
    name: &str,
    bytes: &[u8],
    chunk: usize,
) -> Result<Vec<Vec<(String, FieldValue)>>, PluginError> {
    parser.open(name, bytes.len() as u64, None, "{}").await?;
    let mut records = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        records.extend(parser.feed(piece).await?);
    }
    records.extend(parser.finish().await?);
    Ok(records)
}

fn field<'a>(r: &'a [(String, FieldValue)], name: &str) -> &'a FieldValue {
    &r.iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no field {name} in {r:?}"))
        .1
}

#[test]
fn json_component_parses_lines_and_arrays_and_rejects_malformed_input_with_a_position() {
    rt().block_on(async {
        let reg = registry();
        let mut parser = ParserInstance::new(reg.resolve("json").await.unwrap()).unwrap();
        let lines = b"{\"id\": 1, \"title\": \"A\", \"tags\": [\"x\"]}\n{\"id\": 2, \"title\": \"B\", \"n\": 2.5}\n";
        let array = b"[{\"id\": 1, \"title\": \"A\", \"tags\": [\"x\"]}, {\"id\": 2, \"title\": \"B\", \"n\": 2.5}]";
        for chunk in [1, 2, 7, 64, 4096] {
            for (name, bytes) in [("a.jsonl", &lines[..]), ("a.json", &array[..])] {
                let records = parse(&mut parser, name, bytes, chunk).await.unwrap();
                assert_eq!(records.len(), 2, "{name} in {chunk}-byte chunks");
                assert_eq!(field(&records[1], "title"), &FieldValue::Text("B".into()));
            }
        }
        // Every `n_` file of JSONTestSuite is a typed malformed-input error,
        // deep nesting included: no trap, no hang, the instance still works.
        for name in [
            "n_structure_100000_opening_arrays.json",
            "n_object_trailing_comma.json",
            "n_string_unescaped_newline.json",
            "n_number_-01.json",
            "n_structure_unclosed_array.json",
        ] {
            let err = parse(&mut parser, name, &suite(name), 4096).await.unwrap_err();
            let PluginError::Guest { error, .. } = &err else {
                panic!("{name}: expected a guest error, got {err}");
            };
            match &**error {
                GuestError::MalformedInput { location, .. } => assert!(
                    location.line.is_some() || location.byte_offset.is_some(),
                    "{name}: no position in {location:?}"
                ),
                other => panic!("{name}: expected malformed input, got {other}"),
            }
        }
        let ok = parse(&mut parser, "y.json", &suite("y_object_basic.json"), 3)
            .await
            .unwrap();
        assert_eq!(ok.len(), 1);
    });
}

#[test]
fn text_component_detects_the_encoding_and_normalises_line_endings() {
    rt().block_on(async {
        let reg = registry();
        let mut parser = ParserInstance::new(reg.resolve("text").await.unwrap()).unwrap();
        let latin1 = b"caf\xe9\r\nna\xefve\r\n";
        let utf16 = [0xff, 0xfe, b'h', 0, b'i', 0, b'\r', 0, b'\n', 0];
        for chunk in [1, 3, 4096] {
            let r = parse(&mut parser, "notes/Menu.txt", latin1, chunk)
                .await
                .unwrap();
            assert_eq!(r.len(), 1);
            assert_eq!(field(&r[0], "title"), &FieldValue::Text("Menu".into()));
            assert_eq!(
                field(&r[0], "content"),
                &FieldValue::Text("café\nnaïve\n".into())
            );
            assert_eq!(
                field(&r[0], "encoding"),
                &FieldValue::Text("latin-1".into())
            );
            let r = parse(&mut parser, "hi.txt", &utf16, chunk).await.unwrap();
            assert_eq!(field(&r[0], "content"), &FieldValue::Text("hi\n".into()));
        }
    });
}

/// What the `json` component does with each implementation-defined (`i_`)
/// JSONTestSuite file, as documented in docs/parsers.md: numbers of any size
/// are accepted; invalid UTF-8, lone surrogates, UTF-16 and 500 levels of
/// nesting (over the 100-level limit) are rejected; a UTF-8 BOM is skipped.
const I_ACCEPTED: &[&str] = &[
    "i_number_double_huge_neg_exp.json",
    "i_number_huge_exp.json",
    "i_number_neg_int_huge_exp.json",
    "i_number_pos_double_huge_exp.json",
    "i_number_real_neg_overflow.json",
    "i_number_real_pos_overflow.json",
    "i_number_real_underflow.json",
    "i_number_too_big_neg_int.json",
    "i_number_too_big_pos_int.json",
    "i_number_very_big_negative_int.json",
    "i_structure_UTF-8_BOM_empty_object.json",
];

#[test]
fn json_component_runs_the_whole_jsontestsuite_y_parse_n_rejected_with_a_position_i_as_documented()
{
    rt().block_on(async {
        let reg = registry();
        let mut parser = ParserInstance::new(reg.resolve("json").await.unwrap()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins/builtin/json/tests/data/jsontestsuite/test_parsing");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let (mut y, mut n, mut i) = (0, 0, 0);
        let mut i_accepted = Vec::new();
        // One instance for the whole suite: no file may trap or poison it.
        for name in &names {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let result = parse(&mut parser, name, &bytes, 4096).await;
            match name.as_bytes()[0] {
                b'y' => {
                    y += 1;
                    // `[]` is a valid document of no records.
                    result.unwrap_or_else(|e| panic!("{name} must parse: {e}"));
                }
                b'n' => {
                    n += 1;
                    let err = result
                        .err()
                        .unwrap_or_else(|| panic!("{name} must be rejected"));
                    let PluginError::Guest { error, .. } = &err else {
                        panic!("{name}: expected a typed guest error, got {err}");
                    };
                    let GuestError::MalformedInput { location, .. } = &**error else {
                        panic!("{name}: expected malformed input, got {error}");
                    };
                    assert!(
                        location.byte_offset.is_some() || location.line.is_some(),
                        "{name}: no position in {location:?}"
                    );
                }
                _ => {
                    i += 1;
                    if let Err(e) = &result {
                        assert!(
                            matches!(e, PluginError::Guest { .. }),
                            "{name}: an i_ file is accepted or a typed error, got {e}"
                        );
                    } else {
                        i_accepted.push(name.as_str());
                    }
                }
            }
        }
        assert_eq!((y, n, i), (95, 188, 35), "the whole suite ran");
        assert_eq!(i_accepted, I_ACCEPTED);
        // 100 levels (the limit) reach the host as a json field it can read.
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let r = parse(&mut parser, "deep.json", deep.as_bytes(), 4096)
            .await
            .unwrap();
        assert_eq!(r.len(), 1);
    });
}
