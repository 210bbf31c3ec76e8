#![allow(unused_imports)]
use super::*;
use crate::endpoint::{
    EndpointError, IfExists, ReadBatch, TableProfile, TargetTable, WriteOutcome,
};
use crate::model::temporal;
use crate::model::{
    Batch, BatchBuilder, ColumnDef, LogicalType, Reject, Schema, Stage, TableDef, ValueRef,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

use super::*;
use crate::model::Column;

fn one(t: LogicalType) -> Schema {
    Schema {
        table: "t".into(),
        columns: vec![Column {
            name: "c".into(),
            logical_type: t,
            nullable: true,
        }],
    }
}

/// Encodes a value, decodes it back, and returns (json text, decoded batch).
fn round_trip(t: LogicalType, push: impl FnOnce(&mut BatchBuilder)) -> (String, Batch, Batch) {
    let s = one(t);
    let mut b = BatchBuilder::new(&s, 1);
    push(&mut b);
    b.end_row();
    let orig = b.finish();
    let mut out = Vec::new();
    encode_value(&mut out, t, orig.value(0, 0)).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut b = BatchBuilder::new(&s, 1);
    if text == "null" {
        b.push_null(0);
    } else {
        decode_value(&mut b, 0, t, &text).unwrap();
    }
    b.end_row();
    (text, orig, b.finish())
}

/// A type, how to push a value of it, and its expected JSON text.
type Case = (
    LogicalType,
    Box<dyn FnOnce(&mut BatchBuilder)>,
    &'static str,
);

#[test]
fn every_type_round_trips_exactly() {
    use LogicalType as L;
    let cases: Vec<Case> = vec![
        (L::Boolean, Box::new(|b| b.push_bool(0, true)), "true"),
        (
            L::Int64,
            Box::new(|b| b.push_int(0, i64::MIN)),
            "-9223372036854775808",
        ),
        (
            L::Float64,
            Box::new(|b| b.push_float(0, 0.1 + 0.2)),
            "0.30000000000000004",
        ),
        (L::Float64, Box::new(|b| b.push_float(0, 3.0)), "3.0"),
        (
            L::Float64,
            Box::new(|b| b.push_float(0, f64::NEG_INFINITY)),
            "\"-Infinity\"",
        ),
        (L::Float64, Box::new(|b| b.push_float(0, -0.0)), "-0.0"),
        (
            L::Decimal,
            Box::new(|b| b.push_bytes(0, b"12345678901234567890.10").unwrap()),
            "\"12345678901234567890.10\"",
        ),
        (
            L::Text,
            Box::new(|b| b.push_bytes(0, "a\"\n\0é".as_bytes()).unwrap()),
            "\"a\\\"\\n\\u0000é\"",
        ),
        (
            L::Bytes,
            Box::new(|b| b.push_bytes(0, &[0, 255, 7]).unwrap()),
            "\"AP8H\"",
        ),
        (
            L::Json,
            Box::new(|b| {
                b.push_bytes(0, br#"{"n":1.50,"big":123456789012345678901234}"#)
                    .unwrap()
            }),
            r#"{"n":1.50,"big":123456789012345678901234}"#,
        ),
        (L::Date, Box::new(|b| b.push_date(0, -1)), "\"1969-12-31\""),
        (
            L::Time,
            Box::new(|b| b.push_int(0, 1)),
            "\"00:00:00.000001\"",
        ),
        (
            L::Timestamp,
            Box::new(|b| b.push_int(0, 0)),
            "\"1970-01-01 00:00:00\"",
        ),
        (
            L::Timestamptz,
            Box::new(|b| b.push_int(0, 1_500_000)),
            "\"1970-01-01T00:00:01.500000Z\"",
        ),
        (
            L::Uuid,
            Box::new(|b| b.push_uuid(0, &[0xab; 16])),
            "\"abababab-abab-abab-abab-abababababab\"",
        ),
        (L::Text, Box::new(|b| b.push_null(0)), "null"),
    ];
    for (t, push, want) in cases {
        let (text, orig, back) = round_trip(t, push);
        assert_eq!(text, want, "{t}");
        // Compare bits, so NaN and -0.0 count.
        match (orig.value(0, 0), back.value(0, 0)) {
            (ValueRef::Float(a), ValueRef::Float(b)) => assert_eq!(a.to_bits(), b.to_bits()),
            (a, b) => assert_eq!(a, b, "{t}"),
        }
    }
    let (text, _, back) = round_trip(L::Float64, |b| b.push_float(0, f64::NAN));
    assert_eq!(text, "\"NaN\"");
    assert!(matches!(back.value(0, 0), ValueRef::Float(f) if f.is_nan()));
}

#[test]
fn json_null_document_and_whitespace() {
    let mut out = Vec::new();
    assert!(encode_value(&mut out, LogicalType::Json, ValueRef::Text(" null ")).is_err());
    encode_value(
        &mut out,
        LogicalType::Json,
        ValueRef::Text("{ \"a b\" :\n [1, 2] }"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"a b":[1,2]}"#);
}

#[test]
fn wrong_values_are_refused_not_coerced() {
    use LogicalType as L;
    let s = one(L::Int64);
    let mut b = BatchBuilder::new(&s, 1);
    for (t, raw) in [
        (L::Int64, "\"12\""),
        (L::Int64, "1.5"),
        (L::Int64, "9223372036854775808"),
        (L::Float64, "9007199254740993"),
        (L::Float64, "1e400"),
        (L::Float64, "\"nan\""),
        (L::Boolean, "1"),
        (L::Text, "5"),
        (L::Decimal, "\"1,5\""),
        (L::Bytes, "\"AP8\""),
        (L::Date, "\"2023-02-29\""),
        (L::Uuid, "\"xyz\""),
        (L::Timestamptz, "\"2024-01-01 10:00:00\""),
    ] {
        assert!(decode_value(&mut b, 0, t, raw).is_err(), "{t} {raw}");
    }
}

#[test]
fn objects_split_into_exact_member_texts() {
    let m = split_object(r#" {"a": 1.50 , "b\"c":{"x":[1,"]}"]}, "d":"\u00e9"} "#).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0], ("a".to_string(), "1.50"));
    assert_eq!(m[1], ("b\"c".to_string(), r#"{"x":[1,"]}"]}"#));
    assert_eq!(m[2], ("d".to_string(), r#""\u00e9""#));
    assert!(split_object("[1,2]").unwrap_err().contains("array"));
    assert!(split_object("{\"a\":").is_err());
}

#[test]
fn inference_picks_the_widest_faithful_type() {
    let infer = |vals: &[&str]| {
        let mut s = Seen::default();
        vals.iter().for_each(|v| s.add(v));
        s.infer()
    };
    assert_eq!(infer(&["1", "-2", "null"]), (LogicalType::Int64, ""));
    assert_eq!(infer(&["1", "2.5"]), (LogicalType::Float64, ""));
    assert_eq!(
        infer(&["1", "99999999999999999999"]),
        (LogicalType::Decimal, "")
    );
    assert_eq!(infer(&["\"a\""]), (LogicalType::Text, ""));
    assert_eq!(infer(&["true"]), (LogicalType::Boolean, ""));
    assert_eq!(infer(&["[1]", "{}"]), (LogicalType::Json, ""));
    assert_eq!(infer(&["1", "\"a\""]), (LogicalType::Json, "mixed"));
    assert_eq!(infer(&["null"]), (LogicalType::Json, ""));
}

#[test]
fn lines_are_bounded_and_split() {
    let data = b"a\r\n\nbb\nlast";
    let mut r = io::Cursor::new(&data[..]);
    let mut buf = Vec::new();
    let mut got = Vec::new();
    while let Some(n) = next_line(&mut r, &mut buf, MAX_LINE).unwrap() {
        got.push((n, String::from_utf8(buf.clone()).unwrap()));
    }
    assert_eq!(
        got,
        [
            (1, "a".into()),
            (0, String::new()),
            (2, "bb".into()),
            (4, "last".into())
        ]
    );
}

#[test]
fn array_items_are_split_by_depth_outside_strings() {
    let data = br#" [ {"a":"],{"} , {"b":[1,{"c":2}]},3,
 {"d":1} ] "#;
    let mut r = io::Cursor::new(&data[..]);
    let (mut buf, mut started, mut got) = (Vec::new(), false, Vec::new());
    while let Some(n) = next_item(&mut r, &mut buf, &mut started, MAX_LINE).unwrap() {
        assert_eq!(n, buf.len() as u64);
        got.push(String::from_utf8(buf.clone()).unwrap());
    }
    assert_eq!(
        got,
        [r#"{"a":"],{"}"#, r#"{"b":[1,{"c":2}]}"#, "3", r#"{"d":1}"#]
    );
    let mut empty = io::Cursor::new(&b"[]"[..]);
    let mut started = false;
    assert_eq!(
        next_item(&mut empty, &mut buf, &mut started, MAX_LINE).unwrap(),
        None
    );
    let mut bad = io::Cursor::new(&b"{}"[..]);
    let mut started = false;
    assert!(next_item(&mut bad, &mut buf, &mut started, MAX_LINE).is_err());
}

fn people() -> TableDef {
    let col = |name: &str, t: LogicalType, nullable: bool| ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable,
        default: None,
        ..Default::default()
    };
    TableDef {
        name: "people".into(),
        columns: vec![
            col("id", LogicalType::Int64, false),
            col("pad", LogicalType::Text, true),
        ],
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        ..Default::default()
    }
}

/// Decodes every record of `path` with a record limit of `max` bytes:
/// (ids of the rows, reject codes with their reasons).
fn decode_file(path: &Path, t: &TableDef, max: usize) -> (Vec<i64>, Vec<(String, String)>) {
    let schema = t.schema();
    let dec = Decoder::new(t);
    let mut b = BatchBuilder::new(&schema, 8);
    let mut rejects = Vec::new();
    for_each_record_max(path, "json:t", &t.name, max, |loc, rec| {
        match dec.decode(&mut b, loc, rec) {
            Ok(()) => b.end_row(),
            Err(r) => {
                b.abandon_row();
                rejects.push((r.code, r.reason));
            }
        }
        true
    })
    .unwrap();
    let batch = b.finish();
    let ids = (0..batch.num_rows)
        .map(|i| match batch.value(i, 0) {
            ValueRef::Int(x) => x,
            other => panic!("{other:?}"),
        })
        .collect();
    (ids, rejects)
}

#[test]
fn an_over_long_line_is_one_reject_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("people.jsonl");
    let long = format!("{{\"id\":2,\"pad\":\"{}\"}}", "x".repeat(5000));
    fs::write(&path, format!("{{\"id\":1}}\n{long}\n{{\"id\":3}}\n")).unwrap();
    let (ids, rejects) = decode_file(&path, &people(), 64);
    assert_eq!(ids, [1, 3]);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].0, "line-too-long");
    assert!(rejects[0].1.starts_with("line 2:"), "{}", rejects[0].1);
    // The same limit holds for an item of a `.json` array.
    let path = dir.path().join("people.json");
    fs::write(&path, format!("[{{\"id\":1}},\n{long},\n{{\"id\":3}}]")).unwrap();
    let (ids, rejects) = decode_file(&path, &people(), 64);
    assert_eq!(ids, [1, 3]);
    assert_eq!(rejects[0].0, "line-too-long");
    assert!(rejects[0].1.starts_with("item 2:"), "{}", rejects[0].1);
}

#[test]
fn inference_reads_only_its_sample_and_later_values_are_rejected_not_coerced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let mut text: String = (1..=5).map(|i| format!("{{\"id\":{i}}}\n")).collect();
    text.push_str("{\"id\":\"six\"}\n");
    fs::write(&path, text).unwrap();
    let t = infer_table_sample(&path, "json:t", "t", 5).unwrap();
    assert_eq!(t.columns[0].logical_type, LogicalType::Int64);
    let t6 = infer_table_sample(&path, "json:t", "t", 6).unwrap();
    assert_eq!(t6.columns[0].logical_type, LogicalType::Json);
    assert_eq!(t6.columns[0].declared_type, "mixed");
    let (ids, rejects) = decode_file(&path, &t, MAX_LINE);
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(rejects[0].0, "type-mismatch");
    assert!(rejects[0].1.starts_with("line 6:"));
}

#[tokio::test(flavor = "multi_thread")]
async fn source_counts_profiles_and_reports_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("people.jsonl"),
        "{\"id\":1}\n\n{\"id\":\"x\"}\n{\"id\":3,\"zzz\":1}\n",
    )
    .unwrap();
    let q = |run: &str, t: &str, key: Option<&str>| {
        serde_json::json!({"run_id": run, "table": t, "source_key": key, "stage": "read",
            "plugin": null, "column": null, "code": "c", "reason": "r", "row": {},
            "rejected_at": "2024-01-01T00:00:00Z"})
        .to_string()
    };
    fs::write(
        dir.path().join(REJECTS_FILE),
        [
            q("r2", "people", Some("7")),
            q("r1", "people", Some("1")),
            q("r1", "people", None),
            q("r1", "other", Some("2")),
        ]
        .join("\n"),
    )
    .unwrap();
    let src = JsonSource::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let tables = src.tables().await.unwrap();
    assert_eq!(tables.len(), 1, "the quarantine file is not a table");
    assert_eq!(src.count("people").await.unwrap(), 3);
    let p = src.profile(&people(), 10).await.unwrap();
    assert_eq!(p.sampled, 3);
    let cols: Vec<&str> = p.mismatches.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(cols, ["id", "zzz"]);
    let got = src.quarantined().await.unwrap();
    let got: Vec<(&str, &str, u64, Vec<String>)> = got
        .iter()
        .map(|c| (c.run_id.as_str(), c.table.as_str(), c.rows, c.keys.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("r1", "other", 1, vec!["2".to_string()]),
            ("r1", "people", 2, vec!["1".to_string()]),
            ("r2", "people", 1, vec!["7".to_string()]),
        ]
    );
}

#[test]
fn url_options_are_parsed_strictly() {
    let (dir, o) = split_url("out").unwrap();
    assert_eq!((dir, o), (PathBuf::from("out"), Options::default()));
    let (dir, o) = split_url("d/x?normalise=a.v2.items,b.c&nest=a__items").unwrap();
    assert_eq!(dir, PathBuf::from("d/x"));
    assert_eq!(
        o.normalise,
        [("a.v2".into(), "items".into()), ("b".into(), "c".into())]
    );
    assert_eq!(o.nest, ["a__items"]);
    for bad in [
        "d?normalise=items",
        "d?normalise=.x",
        "d?nest=",
        "d?flatten=1",
        "?nest=a",
    ] {
        assert!(split_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn only_null_or_arrays_of_objects_normalise() {
    assert_eq!(array_of_objects("null"), Ok(None));
    assert_eq!(array_of_objects(" [ ] "), Ok(Some(vec![])));
    assert_eq!(
        array_of_objects(r#"[{"a":"]"}, {}]"#),
        Ok(Some(vec![r#"{"a":"]"}"#, "{}"]))
    );
    assert!(
        array_of_objects(r#"[{},[1]]"#)
            .unwrap_err()
            .contains("element 1 is a array")
    );
    assert!(array_of_objects("{}").unwrap_err().starts_with("a object"));
    assert!(array_of_objects("3").is_err());
}

/// A parent `p(id, name)` and its child `p__xs(p_id, ordinal, v)` written
/// to `dir` as the sink writes them, with their target tables.
fn nest_fixture(dir: &Path, child_lines: &str) -> (JsonSink, Vec<TargetTable>) {
    let col = |name: &str, t: LogicalType, nullable: bool| ColumnDef {
        name: name.into(),
        declared_type: String::new(),
        logical_type: t,
        nullable,
        default: None,
        ..Default::default()
    };
    let parent = TableDef {
        name: "p".into(),
        columns: vec![
            col("id", LogicalType::Int64, false),
            col("name", LogicalType::Text, true),
        ],
        primary_key: vec!["id".into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        ..Default::default()
    };
    let child = TableDef {
        name: "p__xs".into(),
        columns: vec![
            col("p_id", LogicalType::Int64, false),
            col(ORDINAL, LogicalType::Int64, false),
            col("v", LogicalType::Text, true),
        ],
        primary_key: vec!["p_id".into(), ORDINAL.into()],
        unique: vec![],
        indexes: vec![],
        foreign_keys: vec![crate::model::ForeignKeyDef {
            name: "fk".into(),
            columns: vec!["p_id".into()],
            ref_table: "p".into(),
            ref_columns: vec!["id".into()],
            on_delete: "CASCADE".into(),
            on_update: "NO ACTION".into(),
        }],
        ..Default::default()
    };
    fs::write(
        dir.join("p.jsonl"),
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":null}\n",
    )
    .unwrap();
    fs::write(dir.join("p__xs.jsonl"), child_lines).unwrap();
    let sink = JsonSink {
        dir: dir.to_path_buf(),
        name: "json:t".into(),
        files: HashMap::new(),
        rejects: None,
        nest: vec!["p__xs".into()],
    };
    sink.write_schema(&SchemaFile {
        format: FORMAT.into(),
        version: VERSION,
        tables: vec![parent.clone(), child.clone()],
        nested: vec![],
    })
    .unwrap();
    let tt = |d: TableDef| TargetTable {
        source: d.clone(),
        def: d,
    };
    (sink, vec![tt(parent), tt(child)])
}

#[test]
fn nest_folds_children_by_ordinal_and_records_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, tables) = nest_fixture(
        dir.path(),
        "{\"p_id\":1,\"ordinal\":1,\"v\":null}\n{\"p_id\":1,\"ordinal\":0,\"v\":\"x\"}\n",
    );
    let plan = nest_plan("json:t", "p__xs", &tables).unwrap();
    assert_eq!(plan.column, "xs");
    assert_eq!(sink.nest_one(&plan, NEST_MAX_BYTES).unwrap(), None);
    assert_eq!(
        fs::read_to_string(dir.path().join("p.jsonl")).unwrap(),
        "{\"id\":1,\"name\":\"a\",\"xs\":[{\"v\":\"x\"},{}]}\n{\"id\":2,\"name\":null,\"xs\":[]}\n"
    );
    assert!(!dir.path().join("p__xs.jsonl").exists());
    let schema = read_schema(dir.path(), "json:t").unwrap().unwrap();
    assert_eq!(schema.tables.len(), 1);
    assert_eq!(schema.tables[0].columns[2].name, "xs");
    assert_eq!(schema.nested[0].table, tables[1].def);
    // Read back with `nest=`: the recorded child, one row per element.
    let o = Options {
        nest: vec!["p__xs".into()],
        ..Options::default()
    };
    let norm = resolve("json:t", Some(&schema), &o).unwrap();
    let mut got = Vec::new();
    table_records(dir.path(), "json:t", &norm, "p__xs", |loc, rec| {
        if let Rec::Data(b) = rec {
            got.push((loc.to_string(), String::from_utf8(b.to_vec()).unwrap()));
        }
        true
    })
    .unwrap();
    assert_eq!(
        got,
        [
            (
                "line 1, element 0".into(),
                r#"{"p_id":1,"ordinal":0,"v":"x"}"#.into()
            ),
            (
                "line 1, element 1".into(),
                r#"{"p_id":1,"ordinal":1}"#.to_string()
            ),
        ]
    );
}

#[test]
fn nest_leaves_the_child_alone_when_it_cannot_be_exact_or_is_over_the_limit() {
    for (lines, max, why) in [
        ("{\"p_id\":1,\"ordinal\":0}\n", 4, "over"),
        ("{\"p_id\":1,\"ordinal\":1}\n", NEST_MAX_BYTES, "0, 1, 2"),
        (
            "{\"p_id\":9,\"ordinal\":0}\n",
            NEST_MAX_BYTES,
            "match no `p` row",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (sink, tables) = nest_fixture(dir.path(), lines);
        let before = fs::read_to_string(dir.path().join("p.jsonl")).unwrap();
        let plan = nest_plan("json:t", "p__xs", &tables).unwrap();
        let got = sink.nest_one(&plan, max).unwrap().unwrap();
        assert!(got.contains(why), "{got}");
        assert_eq!(
            fs::read_to_string(dir.path().join("p.jsonl")).unwrap(),
            before
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("p__xs.jsonl")).unwrap(),
            lines
        );
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 3, "no temporary file is left");
    }
}

#[test]
fn nest_refuses_a_table_that_is_not_a_normalised_child() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut tables) = nest_fixture(dir.path(), "");
    assert!(nest_plan("json:t", "p", &tables).is_err());
    assert!(nest_plan("json:t", "nope", &tables).is_err());
    tables[1].def.columns.retain(|c| c.name != ORDINAL);
    let e = nest_plan("json:t", "p__xs", &tables).err().unwrap();
    assert!(e.to_string().contains("ordinal"), "{e}");
}

#[test]
fn table_names_that_are_not_file_names_are_refused() {
    for bad in ["a/b", "a\\b", "..", "x..y", "a\0", "", "_ferry_rejects"] {
        assert!(check_table_name("json:x", bad).is_err(), "{bad:?}");
    }
    assert!(check_table_name("json:x", "users.v2").is_ok());
}
