//! The plugin runtime in-process: typed errors, trap recovery, digest pins,
//! contract versions, the compiled-component cache, the parser contract.

use std::time::Duration;

use ferry::model::{BatchBuilder, Column, LogicalType, Schema};
use ferry::plugin::{
    Limit, Limits, ParserInstance, Plugin, PluginError, PluginSource, Runtime, RuntimeOptions,
    TransformerInstance, ValidatorInstance, sha256_hex,
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

async fn load(artifact: &str, limits: Limits) -> Plugin {
    runtime()
        .load_file(&component(artifact), None, limits)
        .await
        .unwrap()
}

fn schema() -> Schema {
    Schema {
        table: "t".into(),
        columns: vec![
            Column {
                name: "id".into(),
                logical_type: LogicalType::Int64,
                nullable: false,
            },
            Column {
                name: "email".into(),
                logical_type: LogicalType::Text,
                nullable: true,
            },
        ],
    }
}

fn batch(ids: std::ops::Range<i64>) -> ferry::model::Batch {
    let s = schema();
    let mut b = BatchBuilder::new(&s, ids.clone().count());
    for i in ids {
        b.push_int(0, i);
        b.push_bytes(1, format!("u{i}@example.com").as_bytes())
            .unwrap();
        b.end_row();
    }
    b.finish()
}

async fn transform_once(
    artifact: &str,
    limits: Limits,
    config: &str,
) -> Result<ferry::plugin::TransformOutput, PluginError> {
    let mut t = TransformerInstance::new(load(artifact, limits).await).unwrap();
    let s = schema();
    let out = t.transform_schema(&s, config).await?;
    t.transform(&s, &out, config, batch(0..10)).await
}

fn limit_of(e: &PluginError) -> Option<&Limit> {
    match e {
        PluginError::LimitExceeded { limit, .. } => Some(limit),
        _ => None,
    }
}

#[test]
fn each_hostile_plugin_yields_its_typed_error() {
    rt().block_on(async {
        let short = Limits {
            call_timeout: Duration::from_millis(200),
            ..Limits::default()
        };
        let e = transform_once("hostile_spin", short, "{}")
            .await
            .unwrap_err();
        assert_eq!(
            limit_of(&e),
            Some(&Limit::Deadline { limit_ms: 200 }),
            "{e}"
        );
        assert_eq!(e.plugin(), Some("hostile-spin"));

        let small = Limits {
            memory_bytes: 16 << 20,
            ..Limits::default()
        };
        let e = transform_once("hostile_membomb", small, "{}")
            .await
            .unwrap_err();
        assert_eq!(
            limit_of(&e),
            Some(&Limit::Memory {
                limit_bytes: 16 << 20
            }),
            "{e}"
        );

        let out_cap = Limits {
            memory_bytes: 1 << 30,
            max_output_bytes: 4 << 20,
            ..Limits::default()
        };
        let e = transform_once("hostile_flood", out_cap, "{}")
            .await
            .unwrap_err();
        assert!(
            matches!(limit_of(&e), Some(Limit::Output { limit_bytes }) if *limit_bytes == 4 << 20),
            "{e}"
        );

        let e = transform_once("hostile_recurse", Limits::default(), "{}")
            .await
            .unwrap_err();
        assert!(matches!(limit_of(&e), Some(Limit::Stack { .. })), "{e}");

        let e = transform_once("hostile_panic", Limits::default(), "{}")
            .await
            .unwrap_err();
        match &e {
            PluginError::Trap {
                plugin,
                call,
                backtrace,
                message,
            } => {
                assert_eq!(plugin, "hostile-panic");
                assert_eq!(*call, "transform");
                assert!(
                    !backtrace.is_empty() && !backtrace.contains("<unnamed"),
                    "function names kept: {backtrace}"
                );
                assert!(message.contains("panicked"), "{message}");
            }
            other => panic!("expected a trap, got {other}"),
        }
    });
}

#[test]
fn after_a_trap_a_fresh_instance_serves_the_next_batch() {
    rt().block_on(async {
        let mut t =
            TransformerInstance::new(load("hostile_trap_on_batch", Limits::default()).await)
                .unwrap();
        let s = schema();
        let cfg = r#"{"poison": 5}"#;
        let out_schema = t.transform_schema(&s, cfg).await.unwrap();
        let ok = t
            .transform(&s, &out_schema, cfg, batch(10..20))
            .await
            .unwrap();
        assert_eq!(ok.batch.num_rows, 10);
        let err = t
            .transform(&s, &out_schema, cfg, batch(0..10))
            .await
            .unwrap_err();
        assert!(matches!(err, PluginError::Trap { .. }), "{err}");
        // The poisoned instance was dropped; the next call works.
        let ok = t
            .transform(&s, &out_schema, cfg, batch(20..30))
            .await
            .unwrap();
        assert_eq!(ok.batch.num_rows, 10);
    });
}

#[test]
fn a_pinned_plugin_whose_bytes_changed_does_not_load() {
    rt().block_on(async {
        let original = std::fs::read(component("plugin_mask")).unwrap();
        let pin = sha256_hex(&original);
        // Same plugin, one extra custom section: still a valid component, different bytes.
        let mut changed = original.clone();
        changed.extend_from_slice(&[0x00, 0x06, 0x04, b'n', b'o', b't', b'e', 0x21]);
        let r = runtime();
        let ok = r
            .load_bytes(
                "mask",
                &original,
                PluginSource::Builtin,
                Some(&pin),
                Limits::default(),
            )
            .await;
        assert!(ok.is_ok());
        let err = r
            .load_bytes(
                "mask",
                &changed,
                PluginSource::Builtin,
                Some(&pin),
                Limits::default(),
            )
            .await
            .unwrap_err();
        let actual = sha256_hex(&changed);
        match &err {
            PluginError::DigestMismatch {
                expected,
                actual: a,
                ..
            } => {
                assert_eq!(expected, &pin);
                assert_eq!(a, &actual);
            }
            other => panic!("expected a digest mismatch, got {other}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&pin) && msg.contains(&actual),
            "both digests shown: {msg}"
        );
    });
}

#[test]
fn a_pinned_plugin_whose_file_changed_is_refused_by_the_cli() {
    let dir = tempdir();
    let src = shop_fixture(dir.path(), 10);
    let original = std::fs::read(component("plugin_mask")).unwrap();
    let pin = sha256_hex(&original);
    let mut changed = original;
    changed.extend_from_slice(&[0x00, 0x06, 0x04, b'e', b'v', b'i', b'l', 0x21]);
    let wasm = dir.path().join("mask.wasm");
    std::fs::write(&wasm, &changed).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "[plugins.mask]\npath = \"{}\"\nsha256 = \"{pin}\"\n",
            wasm.display()
        ),
    );
    let out = ferry(&[
        "migrate",
        "--config",
        config.to_str().unwrap(),
        "--from",
        &format!("sqlite:{}", src.display()),
        "--to",
        &format!("sqlite:{}", dir.path().join("o.db").display()),
        "--transform",
        MASK,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&pin) && err.contains(&sha256_hex(&changed)),
        "{err}"
    );
    assert!(
        !dir.path().join("o.db").exists()
            || sqlite_scalar(
                &dir.path().join("o.db"),
                "SELECT count(*) FROM sqlite_master"
            ) == "0"
    );
}

#[test]
fn contract_versions_are_checked_before_anything_runs() {
    rt().block_on(async {
        let r = runtime();
        let newer = wat::parse_str(
            r#"(component
                 (core module $m (func (export "f")))
                 (core instance $i (instantiate $m))
                 (func $f (canon lift (core func $i "f")))
                 (instance $api (export "describe" (func $f)))
                 (export "ferry:plugin/transform@0.2.0" (instance $api)))"#,
        )
        .unwrap();
        let err = r
            .load_bytes(
                "future",
                &newer,
                PluginSource::Builtin,
                None,
                Limits::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::IncompatibleContract { found, .. } if found == "0.2.0"),
            "{err}"
        );
        assert!(err.to_string().contains("rebuild the plugin"));

        let stranger = wat::parse_str("(component)").unwrap();
        let err = r
            .load_bytes(
                "empty",
                &stranger,
                PluginSource::Builtin,
                None,
                Limits::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, PluginError::Load { .. })
                && err.to_string().contains("not a ferry plugin"),
            "{err}"
        );

        let err = r
            .load_bytes(
                "garbage",
                b"\0asm garbage",
                PluginSource::Builtin,
                None,
                Limits::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, PluginError::Load { .. }), "{err}");
    });
}

/// Whether a component's bytes name `export` (component export names are
/// stored as plain strings).
fn names(bytes: &[u8], export: &str) -> bool {
    bytes.windows(export.len()).any(|w| w == export.as_bytes())
}

/// Components built against the frozen `wit/since_v0.1.0/` contract load and
/// run through the host's 0.1 bindings: a transformer, a validator and a
/// parser. The built-ins are such components while the SDK targets 0.1;
/// when it moves on, this test keeps a 0.1.0 component as its fixture
/// (ARCHITECTURE.md, "Adding a contract version").
#[test]
fn a_0_1_0_component_loads_and_runs_through_the_0_1_bindings() {
    rt().block_on(async {
        for (artifact, export) in [
            ("plugin_mask", "ferry:plugin/transform@0.1.0"),
            ("plugin_rules", "ferry:plugin/validate@0.1.0"),
            ("plugin_lines", "ferry:plugin/parse@0.1.0"),
        ] {
            let bytes = std::fs::read(component(artifact)).unwrap();
            assert!(names(&bytes, export), "{artifact} exports {export}");
            let plugin = load(artifact, Limits::default()).await;
            assert_eq!(plugin.manifest().contract_version, "0.1.0", "{artifact}");
        }

        let s = schema();
        let mut mask =
            TransformerInstance::new(load("plugin_mask", Limits::default()).await).unwrap();
        let cfg = r#"{"columns": {"email": "redact"}}"#;
        let out_schema = mask.transform_schema(&s, cfg).await.unwrap();
        let out = mask
            .transform(&s, &out_schema, cfg, batch(0..3))
            .await
            .unwrap();
        assert_eq!(out.batch.num_rows, 3);
        assert_eq!(out.input, batch(0..3), "the input batch is handed back");
        out.batch.check(&out_schema).unwrap();
        assert_eq!(out.batch.value(0, 1), ferry::model::ValueRef::Text("***"));

        let mut rules =
            ValidatorInstance::new(load("plugin_rules", Limits::default()).await).unwrap();
        let cfg = r#"{"rules": [{"column": "id", "check": "range", "max": 1}]}"#;
        rules.check_schema(&s, cfg).await.unwrap();
        let (back, diagnostics) = rules.validate(&s, cfg, batch(0..3)).await.unwrap();
        assert_eq!(back, batch(0..3), "the batch is handed back unchanged");
        let rows: Vec<Option<u32>> = diagnostics.iter().map(|d| d.row).collect();
        assert_eq!(rows, [Some(2)]);

        let mut lines = ParserInstance::new(load("plugin_lines", Limits::default()).await).unwrap();
        lines.open("a.txt", 4, None, "{}").await.unwrap();
        let mut records = lines.feed(b"a\nb").await.unwrap();
        records.extend(lines.finish().await.unwrap());
        assert_eq!(records.len(), 2);
    });
}

#[test]
fn stale_cached_artifacts_are_detected_and_recompiled() {
    rt().block_on(async {
        let dir = tempdir();
        let r = Runtime::new(RuntimeOptions {
            cache_dir: Some(dir.path().to_path_buf()),
        })
        .unwrap();
        let p = r
            .load_file(&component("plugin_mask"), None, Limits::default())
            .await
            .unwrap();
        let cached: Vec<_> = std::fs::read_dir(dir.path().join("components"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect();
        assert_eq!(cached.len(), 1);
        assert!(
            cached[0]
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&p.manifest().sha256)
        );
        // Corrupt the artifact: the digest check catches it, ferry recompiles.
        let mut bytes = std::fs::read(&cached[0]).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xFF;
        std::fs::write(&cached[0], &bytes).unwrap();
        let again = r
            .load_file(&component("plugin_mask"), None, Limits::default())
            .await
            .unwrap();
        assert_eq!(again.manifest().sha256, p.manifest().sha256);
        let repaired = std::fs::read(&cached[0]).unwrap();
        assert_ne!(repaired, bytes, "the stale artifact was replaced");
    });
}

#[test]
fn the_test_parser_streams_records_across_chunk_boundaries() {
    rt().block_on(async {
        let reg = ferry::plugin::Registry::new(runtime(), vec![], Default::default());
        let p = reg.resolve("lines").await.unwrap();
        let text = "alpha\r\nbeta é\n\ngamma ünïcode\nlast line without newline";
        for chunk_size in [1usize, 2, 3, 7, 1024] {
            let mut parser = ParserInstance::new(p.clone()).unwrap();
            parser
                .open("notes.txt", text.len() as u64, Some("text/plain"), "{}")
                .await
                .unwrap();
            let mut records = Vec::new();
            for chunk in text.as_bytes().chunks(chunk_size) {
                records.extend(parser.feed(chunk).await.unwrap());
            }
            records.extend(parser.finish().await.unwrap());
            let texts: Vec<String> = records
                .iter()
                .map(|r| match &r.iter().find(|(k, _)| k == "text").unwrap().1 {
                    ferry::plugin::FieldValue::Text(s) => s.clone(),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                texts,
                [
                    "alpha",
                    "beta é",
                    "gamma ünïcode",
                    "last line without newline"
                ],
                "chunk size {chunk_size}"
            );
        }
        // Malformed input is a typed error with its position, not a trap.
        let mut parser = ParserInstance::new(p).unwrap();
        parser.open("bad.txt", 8, None, "{}").await.unwrap();
        let fed = parser.feed(b"ok\nb\xffd\n").await;
        let err = match fed {
            Err(e) => e,
            Ok(_) => parser.finish().await.unwrap_err(),
        };
        let PluginError::Guest { error, .. } = &err else {
            panic!("expected a guest error, got {err}");
        };
        match &**error {
            ferry::plugin::GuestError::MalformedInput { location, .. } => {
                assert_eq!(location.line, Some(2));
                assert_eq!(location.byte_offset, Some(4));
            }
            other => panic!("expected malformed input, got {other}"),
        }
    });
}
