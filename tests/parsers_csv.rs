//! The built-in `csv` parser as a real component, in-process: csv-spectrum
//! and the rust-csv examples over several chunk sizes, malformed input as a
//! typed error with its line, and `ferry plugin list | check`.

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
        .join("../plugins/builtin/csv/tests/data")
        .join(rel)
}

/// Parse `bytes` with the `csv` component, fed in `chunk`-byte pieces.
async fn parse(
    parser: &mut ParserInstance,
    name: &str,
    bytes: &[u8],
    chunk: usize,
    config: &str,
) -> Result<serde_json::Value, PluginError> {
    parser
        .open(name, bytes.len() as u64, Some("text/csv"), config)
        .await?;
    let mut records = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        records.extend(parser.feed(piece).await?);
    }
    records.extend(parser.finish().await?);
    Ok(serde_json::Value::Array(
        records
            .into_iter()
            .map(|r| {
                serde_json::Value::Object(
                    r.into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                FieldValue::Text(s) => serde_json::Value::String(s),
                                FieldValue::Null => serde_json::Value::Null,
                                other => panic!("csv emits text or null, got {other:?}"),
                            };
                            (k, v)
                        })
                        .collect(),
                )
            })
            .collect(),
    ))
}

#[test]
fn csv_component_parses_csv_spectrum_and_rust_csv_examples_at_every_chunk_size() {
    rt().block_on(async {
        let reg = Registry::new(runtime(), vec![], Default::default());
        let p = reg.resolve("csv").await.unwrap();
        let mut parser = ParserInstance::new(p).unwrap();
        for stem in [
            "escaped_quotes",
            "newlines_crlf",
            "quotes_and_newlines",
            "utf8",
            "json",
        ] {
            let bytes = std::fs::read(data(&format!("csv-spectrum/csvs/{stem}.csv"))).unwrap();
            let want: serde_json::Value = serde_json::from_slice(
                &std::fs::read(data(&format!("csv-spectrum/json/{stem}.json"))).unwrap(),
            )
            .unwrap();
            for chunk in [1, 2, 7, 64, 4096, bytes.len()] {
                let got = parse(&mut parser, stem, &bytes, chunk, "{}").await.unwrap();
                assert_eq!(got, want, "{stem}, chunk size {chunk}");
            }
        }
        let latin1 = std::fs::read(data("rust-csv-examples/uspop-latin1.csv")).unwrap();
        for chunk in [1, 7, 4096] {
            let got = parse(&mut parser, "uspop-latin1.csv", &latin1, chunk, "{}")
                .await
                .unwrap();
            assert_eq!(got.as_array().unwrap().len(), 100);
            assert_eq!(got[2]["City"], "Õakman");
            assert_eq!(got[2]["encoding"], "latin-1");
        }
        let strange = std::fs::read(data("rust-csv-examples/strange.csv")).unwrap();
        let got = parse(&mut parser, "strange.csv", &strange, 7, "{}")
            .await
            .unwrap();
        assert_eq!(got[0]["column_1"], "\"Hacksaw\" Jim Duggan");
        assert_eq!(
            got[2],
            serde_json::json!({"column_1": "Rafael Halperin", "column_2": null})
        );
        // Ragged rows refused on request: a typed error with the line.
        let err = parse(
            &mut parser,
            "strange.csv",
            &strange,
            7,
            r#"{"ragged":"error"}"#,
        )
        .await
        .unwrap_err();
        let PluginError::Guest { error, .. } = &err else {
            panic!("expected a guest error, got {err}");
        };
        match &**error {
            GuestError::MalformedInput { location, .. } => assert_eq!(location.line, Some(4)),
            other => panic!("expected malformed input, got {other}"),
        }
        // A bad config is refused at open, naming the key.
        let err = parse(&mut parser, "x.csv", b"a\n", 1, r#"{"delim":";"}"#)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("delim"), "{err}");
    });
}

#[test]
fn csv_is_listed_and_checked_by_the_cli() {
    let list = ferry(&["plugin", "list"]);
    assert!(stdout(&list).contains("csv"), "{}", stdout(&list));
    let f = data("rust-csv-examples/smallpop.csv");
    let out = ferry(&["plugin", "check", "csv", "--input", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("10 records"), "{}", stdout(&out));
    assert!(stdout(&out).contains("Southborough"), "{}", stdout(&out));
}
