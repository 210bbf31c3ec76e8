//! Unit tests of the SDK: row views, builders, `Batch::check`, config, the
//! parser session guard.

use std::cell::Cell;

use crate::*;

fn schema() -> Schema {
    Schema::new(
        "people",
        vec![
            ColumnSchema::new("id", LogicalType::Int64, false),
            ColumnSchema::new("email", LogicalType::Text, true),
            ColumnSchema::new("score", LogicalType::Float64, true),
            ColumnSchema::new("active", LogicalType::Boolean, true),
            ColumnSchema::new("photo", LogicalType::Bytes, true),
        ],
    )
}

fn sample() -> Batch {
    Batch::from_rows(
        &schema(),
        vec![
            vec![
                Value::Int(1),
                Value::text("a@example.com"),
                Value::Float(1.5),
                Value::Bool(true),
                Value::Bytes(vec![1, 2]),
            ],
            vec![
                Value::Int(2),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Int(3),
                Value::text("é☃"),
                Value::Float(-2.0),
                Value::Bool(false),
                Value::Bytes(vec![]),
            ],
        ],
    )
    .expect("valid rows")
}

fn all_types_schema() -> Schema {
    use LogicalType::*;
    let cols = [
        ("b", Boolean),
        ("i", Int64),
        ("f", Float64),
        ("dec", Decimal),
        ("t", Text),
        ("by", Bytes),
        ("j", Json),
        ("d", Date),
        ("tm", Time),
        ("ts", Timestamp),
        ("tz", TimestampTz),
        ("u", Uuid),
    ];
    Schema::new(
        "all",
        cols.iter()
            .map(|(n, t)| ColumnSchema::new(*n, *t, true))
            .collect(),
    )
}

fn all_values() -> Vec<Value> {
    vec![
        Value::Bool(true),
        Value::Int(-7),
        Value::Float(0.25),
        Value::Decimal("-12.340".into()),
        Value::text("hi"),
        Value::Bytes(vec![0xff, 0]),
        Value::Json("{\"a\":1}".into()),
        Value::Date(19000),
        Value::Time(3_600_000_000),
        Value::Timestamp(1),
        Value::TimestampTz(2),
        Value::Uuid([7; 16]),
    ]
}

// ---- row views ----

#[test]
fn rows_yield_typed_values_and_nulls() {
    let schema = schema();
    let batch = sample();
    let view = batch.view(&schema).expect("valid");
    assert_eq!(view.num_rows(), 3);
    let rows: Vec<Row<'_>> = view.rows().collect();
    assert_eq!(rows.len(), 3);
    let r0 = rows[0];
    assert_eq!(r0.index(), 0);
    assert_eq!(r0.int("id"), Some(1));
    assert_eq!(r0.text("email"), Some("a@example.com"));
    assert_eq!(r0.float("score"), Some(1.5));
    assert_eq!(r0.bool("active"), Some(true));
    assert_eq!(r0.bytes("photo"), Some(&[1u8, 2][..]));
    assert!(!r0.is_null("email"));

    let r1 = rows[1];
    assert_eq!(r1.index(), 1);
    assert!(r1.is_null("email"));
    assert_eq!(r1.get("email"), Some(ValueRef::Null));
    assert_eq!(r1.text("email"), None);
    assert_eq!(r1.float("score"), None);

    let r2 = rows[2];
    assert_eq!(r2.text("email"), Some("é☃"));
    assert_eq!(r2.bytes("photo"), Some(&[][..]));
    assert_eq!(r2.value(0), Some(ValueRef::Int(3)));
    assert_eq!(r2.value(99), None);
    assert_eq!(r2.get("nope"), None);
    assert!(!r2.is_null("nope"));
    // Typed helpers return None for the wrong type.
    assert_eq!(r2.int("email"), None);
    assert_eq!(r2.text("id"), None);
}

#[test]
fn every_logical_type_reads_back_as_its_value_ref() {
    let schema = all_types_schema();
    let values = all_values();
    let batch =
        Batch::from_rows(&schema, vec![values.clone(), vec![Value::Null; 12]]).expect("valid");
    let view = batch.view(&schema).expect("valid");
    let row = view.row(0).expect("row 0");
    let read: Vec<Value> = row.values().map(Value::from).collect();
    assert_eq!(read, values);
    let nulls = view.row(1).expect("row 1");
    assert!(nulls.values().all(|v| v.is_null()));
    assert!(view.row(2).is_none());
    assert_eq!(row.get("dec"), Some(ValueRef::Decimal("-12.340")));
    assert_eq!(row.get("j").and_then(|v| v.as_str()), Some("{\"a\":1}"));
    assert_eq!(row.get("tz"), Some(ValueRef::TimestampTz(2)));
    assert_eq!(row.get("u"), Some(ValueRef::Uuid(&[7; 16])));
}

#[test]
fn columns_can_be_read_whole() {
    let schema = schema();
    let batch = sample();
    let view = batch.view(&schema).expect("valid");
    let emails = view.column_by_name("email").expect("email");
    assert_eq!(emails.len(), 3);
    assert_eq!(emails.logical_type(), LogicalType::Text);
    let texts: Vec<Option<&str>> = emails.iter().map(|v| v.as_str()).collect();
    assert_eq!(texts, vec![Some("a@example.com"), None, Some("é☃")]);
    assert_eq!(emails.get(3), None);
    assert!(view.column(5).is_none());
}

#[test]
fn empty_batch_is_valid() {
    let schema = schema();
    let batch = BatchBuilder::new(&schema).finish().expect("empty");
    assert_eq!(batch.num_rows, 0);
    assert_eq!(batch.view(&schema).expect("valid").rows().count(), 0);
}

// ---- builders ----

#[test]
fn no_nulls_means_no_bitmap_and_nulls_set_bits_lsb_first() {
    let s = Schema::new("t", vec![ColumnSchema::new("x", LogicalType::Int64, true)]);
    let b = Batch::from_rows(&s, vec![vec![Value::Int(1)], vec![Value::Int(2)]]).expect("ok");
    assert_eq!(b.columns[0].validity, None);
    let rows: Vec<Vec<Value>> = (0..10)
        .map(|i| {
            vec![if i == 1 || i == 9 {
                Value::Null
            } else {
                Value::Int(i)
            }]
        })
        .collect();
    let b = Batch::from_rows(&s, rows).expect("ok");
    assert_eq!(b.columns[0].validity, Some(vec![0b1111_1101, 0b0000_0001]));
    assert_eq!(
        b.columns[0].data,
        ColumnData::Ints(vec![0, 0, 2, 3, 4, 5, 6, 7, 8, 0])
    );
}

#[test]
fn var_width_nulls_hold_empty_spans() {
    let s = Schema::new("t", vec![ColumnSchema::new("x", LogicalType::Text, true)]);
    let b = Batch::from_rows(
        &s,
        vec![
            vec![Value::text("ab")],
            vec![Value::Null],
            vec![Value::text("c")],
        ],
    )
    .expect("ok");
    assert_eq!(
        b.columns[0].data,
        ColumnData::Utf8 {
            data: b"abc".to_vec(),
            offsets: vec![0, 2, 2, 3]
        }
    );
}

#[test]
fn row_builder_sets_by_name_and_defaults_to_null() {
    let schema = schema();
    let mut builder = BatchBuilder::new(&schema);
    builder
        .row()
        .set("id", 5i64)
        .set("email", "x@y.z")
        .finish()
        .expect("ok");
    let batch = builder.finish().expect("ok");
    let view = batch.view(&schema).expect("valid");
    let row = view.row(0).expect("row");
    assert_eq!(row.int("id"), Some(5));
    assert_eq!(row.text("email"), Some("x@y.z"));
    assert!(row.is_null("score"));
}

#[test]
fn row_builder_rejects_unknown_column_and_missing_non_nullable() {
    let schema = schema();
    let mut builder = BatchBuilder::new(&schema);
    let err = builder.row().set("id", 1i64).set("nope", 1i64).finish();
    assert!(
        matches!(err, Err(PluginError::Internal(m)) if m.contains("nope") && m.contains("email"))
    );
    // `id` is non-nullable and unset.
    let err = builder.row().set("email", "a").finish();
    assert!(matches!(err, Err(PluginError::Internal(m)) if m.contains("\"id\"")));
    assert_eq!(builder.num_rows(), 0);
}

#[test]
fn builder_rejects_type_mismatch_without_changing_the_batch() {
    let schema = schema();
    let mut builder = BatchBuilder::new(&schema);
    builder
        .push_row(&[
            Value::Int(1),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ])
        .expect("ok");
    // Wrong type in the last column: nothing of this row may be kept.
    let err = builder.push_row(&[
        Value::Int(2),
        Value::text("kept?"),
        Value::Null,
        Value::Null,
        Value::text("not bytes"),
    ]);
    assert!(
        matches!(&err, Err(PluginError::Internal(m)) if m.contains("photo") && m.contains("bytes") && m.contains("text")),
        "{err:?}"
    );
    let err = builder.push_row(&[Value::Int(2)]);
    assert!(matches!(err, Err(PluginError::Internal(m)) if m.contains("1 values")));
    let batch = builder.finish().expect("ok");
    assert_eq!(batch.num_rows, 1);
    batch.check(&schema).expect("still consistent");
    // Int is not a Timestamp, Text is not Json.
    let s = all_types_schema();
    let mut b = BatchBuilder::new(&s);
    let mut values = all_values();
    values[9] = Value::Int(1);
    assert!(b.push_row(&values).is_err());
    let mut values = all_values();
    values[6] = Value::text("{}");
    assert!(b.push_row(&values).is_err());
}

#[test]
fn push_from_copies_rows_and_replaces_named_values() {
    let schema = schema();
    let input = sample();
    let view = input.view(&schema).expect("valid");
    let mut out = BatchBuilder::new(&schema);
    for row in view.rows() {
        if row.index() == 0 {
            out.push_from_with(
                &row,
                &[("email", Value::text("masked")), ("score", Value::Null)],
            )
            .expect("ok");
        } else {
            out.push_from(&row).expect("ok");
        }
    }
    let err = out.push_from_with(&view.row(0).expect("row"), &[("nope", Value::Null)]);
    assert!(matches!(err, Err(PluginError::Internal(_))));
    let output = out.finish().expect("ok");
    let out_view = output.view(&schema).expect("valid");
    let r0 = out_view.row(0).expect("row");
    assert_eq!(r0.text("email"), Some("masked"));
    assert!(r0.is_null("score"));
    assert_eq!(r0.bytes("photo"), Some(&[1u8, 2][..]));
    for i in 1..3 {
        let a: Vec<Value> = view.row(i).expect("in").values().map(Value::from).collect();
        let b: Vec<Value> = out_view
            .row(i)
            .expect("out")
            .values()
            .map(Value::from)
            .collect();
        assert_eq!(a, b);
    }
}

#[test]
fn push_from_rejects_a_row_of_another_shape() {
    let schema = schema();
    let input = sample();
    let view = input.view(&schema).expect("valid");
    let other = Schema::new(
        "o",
        vec![ColumnSchema::new("id", LogicalType::Int64, false)],
    );
    let mut out = BatchBuilder::new(&other);
    assert!(matches!(
        out.push_from(&view.row(0).expect("row")),
        Err(PluginError::Internal(_))
    ));
}

#[test]
fn column_builder_builds_a_column() {
    let col = ColumnSchema::new("x", LogicalType::Bytes, true);
    let mut b = ColumnBuilder::with_capacity(&col, 2);
    b.push(ValueRef::Bytes(b"ab")).expect("ok");
    b.push_null().expect("ok");
    assert!(b.push(ValueRef::Text("no")).is_err());
    assert_eq!(b.len(), 2);
    let column = b.finish();
    assert_eq!(column.validity, Some(vec![0b01]));
    let strict = ColumnBuilder::new(&ColumnSchema::new("y", LogicalType::Int64, false));
    assert!(strict.check(ValueRef::Null).is_err());
}

// ---- Batch::check rejects every kind of malformed batch ----

fn text_schema(nullable: bool) -> Schema {
    Schema::new(
        "t",
        vec![ColumnSchema::new("s", LogicalType::Text, nullable)],
    )
}

fn one_col(rows: u32, validity: Option<Vec<u8>>, data: ColumnData) -> Batch {
    Batch::new(rows, vec![Column { validity, data }])
}

fn assert_malformed(batch: &Batch, schema: &Schema, needle: &str) {
    match batch.check(schema) {
        Err(PluginError::Malformed { message, location }) => {
            assert!(
                message.contains(needle),
                "message {message:?} should contain {needle:?}"
            );
            if schema.columns.len() == batch.columns.len() {
                assert_eq!(
                    location.column.as_deref(),
                    Some(schema.columns[0].name.as_str())
                );
            }
        }
        other => panic!("expected Malformed containing {needle:?}, got {other:?}"),
    }
}

fn utf8(data: &[u8], offsets: &[u32]) -> ColumnData {
    ColumnData::Utf8 {
        data: data.to_vec(),
        offsets: offsets.to_vec(),
    }
}

#[test]
fn check_accepts_a_well_formed_batch() {
    sample().check(&schema()).expect("valid");
    one_col(2, Some(vec![0b10]), utf8(b"ab", &[0, 0, 2]))
        .check(&text_schema(true))
        .expect("valid");
}

#[test]
fn check_rejects_wrong_column_count() {
    let b = Batch::new(0, vec![]);
    assert_malformed(&b, &text_schema(true), "0 columns");
}

#[test]
fn check_rejects_wrong_physical_type() {
    let b = one_col(1, None, ColumnData::Ints(vec![1]));
    assert_malformed(&b, &text_schema(true), "must be stored as Utf8");
}

#[test]
fn check_rejects_fixed_width_length_mismatch() {
    let s = Schema::new("t", vec![ColumnSchema::new("n", LogicalType::Int64, false)]);
    assert_malformed(
        &one_col(3, None, ColumnData::Ints(vec![1, 2])),
        &s,
        "2 values",
    );
    let s = Schema::new(
        "t",
        vec![ColumnSchema::new("b", LogicalType::Boolean, false)],
    );
    assert_malformed(
        &one_col(0, None, ColumnData::Bools(vec![true])),
        &s,
        "1 values",
    );
    let s = Schema::new(
        "t",
        vec![ColumnSchema::new("f", LogicalType::Float64, false)],
    );
    assert_malformed(
        &one_col(2, None, ColumnData::Floats(vec![1.0])),
        &s,
        "1 values",
    );
    let s = Schema::new("t", vec![ColumnSchema::new("d", LogicalType::Date, false)]);
    assert_malformed(&one_col(2, None, ColumnData::Dates(vec![])), &s, "0 values");
}

#[test]
fn check_rejects_uuid_length_mismatch() {
    let s = Schema::new("t", vec![ColumnSchema::new("u", LogicalType::Uuid, false)]);
    assert_malformed(
        &one_col(1, None, ColumnData::Uuids(vec![0; 15])),
        &s,
        "15 bytes",
    );
}

#[test]
fn check_rejects_wrong_offsets_count() {
    assert_malformed(
        &one_col(2, None, utf8(b"ab", &[0, 2])),
        &text_schema(true),
        "2 entries",
    );
}

#[test]
fn check_rejects_offsets_not_starting_at_zero() {
    assert_malformed(
        &one_col(1, None, utf8(b"ab", &[1, 2])),
        &text_schema(true),
        "start at 0",
    );
}

#[test]
fn check_rejects_decreasing_offsets() {
    assert_malformed(
        &one_col(2, None, utf8(b"ab", &[0, 2, 1])),
        &text_schema(true),
        "decrease",
    );
}

#[test]
fn check_rejects_offsets_past_or_short_of_the_data() {
    assert_malformed(
        &one_col(1, None, utf8(b"ab", &[0, 9])),
        &text_schema(true),
        "last offset",
    );
    assert_malformed(
        &one_col(1, None, utf8(b"abc", &[0, 2])),
        &text_schema(true),
        "last offset",
    );
    let s = Schema::new("t", vec![ColumnSchema::new("b", LogicalType::Bytes, false)]);
    let b = one_col(
        1,
        None,
        ColumnData::Binary {
            data: vec![1],
            offsets: vec![0, u32::MAX],
        },
    );
    assert_malformed(&b, &s, "last offset");
}

#[test]
fn check_rejects_invalid_utf8() {
    assert_malformed(
        &one_col(1, None, utf8(&[b'a', 0xff], &[0, 2])),
        &text_schema(true),
        "invalid UTF-8 at data byte 1",
    );
}

#[test]
fn check_rejects_offsets_splitting_a_character() {
    // "é" is two bytes; an offset of 1 would cut it in half.
    assert_malformed(
        &one_col(2, None, utf8("é".as_bytes(), &[0, 1, 2])),
        &text_schema(true),
        "splits a UTF-8 character",
    );
}

#[test]
fn check_rejects_bitmap_of_wrong_length() {
    assert_malformed(
        &one_col(1, Some(vec![1, 0]), utf8(b"a", &[0, 1])),
        &text_schema(true),
        "bitmap has 2 bytes",
    );
    assert_malformed(
        &one_col(9, Some(vec![0xff]), utf8(b"", &[0; 10])),
        &text_schema(true),
        "bitmap has 1 bytes",
    );
}

#[test]
fn check_rejects_null_in_non_nullable_column() {
    let b = one_col(2, Some(vec![0b01]), utf8(b"a", &[0, 1, 1]));
    match b.check(&text_schema(false)) {
        Err(PluginError::Malformed { location, .. }) => assert_eq!(location.row, Some(1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn binary_columns_need_not_be_utf8() {
    let s = Schema::new("t", vec![ColumnSchema::new("b", LogicalType::Bytes, false)]);
    let b = one_col(
        1,
        None,
        ColumnData::Binary {
            data: vec![0xff],
            offsets: vec![0, 1],
        },
    );
    b.check(&s).expect("valid");
}

// ---- config ----

#[derive(Debug, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Cfg {
    #[serde(default)]
    n: u32,
}

#[test]
fn parse_config_treats_empty_as_empty_object() {
    assert_eq!(parse_config::<Cfg>("").expect("ok"), Cfg { n: 0 });
    assert_eq!(parse_config::<Cfg>("  \n").expect("ok"), Cfg { n: 0 });
    assert_eq!(
        parse_config::<Cfg>(r#"{"n": 4}"#).expect("ok"),
        Cfg { n: 4 }
    );
}

#[test]
fn parse_config_maps_serde_errors_to_invalid_config() {
    match parse_config::<Cfg>(r#"{"m": 1}"#) {
        Err(PluginError::InvalidConfig(m)) => assert!(m.contains("unknown field `m`"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse_config::<Cfg>("{"),
        Err(PluginError::InvalidConfig(_))
    ));
}

thread_local! {
    static BUILT: Cell<u32> = const { Cell::new(0) };
}

/// A configuration built from what the operator wrote (`try_from`),
/// counting how often it is built.
#[derive(Debug, serde::Deserialize)]
#[serde(try_from = "Cfg")]
struct Built {
    n: u32,
}

impl TryFrom<Cfg> for Built {
    type Error = String;
    fn try_from(c: Cfg) -> Result<Built, String> {
        BUILT.with(|b| b.set(b.get() + 1));
        if c.n > 9 {
            return Err(format!("\"n\" is {}; it must be at most 9", c.n));
        }
        Ok(Built { n: c.n })
    }
}

/// Records the configuration each call received.
struct Echo;

impl Transformer for Echo {
    type Config = Built;
    fn describe() -> PluginInfo {
        PluginInfo::new("echo", "0.1.0", "test")
    }
    fn transform_schema(input: &Schema, config: &Built) -> Result<Schema, PluginError> {
        Ok(Schema::new(
            format!("{}-{}", input.table, config.n),
            Vec::new(),
        ))
    }
    fn transform(_: &Schema, _: &Built, rows: &Batch) -> Result<TransformOutput, PluginError> {
        Ok(TransformOutput::new(rows.clone()))
    }
}

fn built() -> u32 {
    BUILT.with(Cell::get)
}

#[test]
fn the_sdk_parses_each_distinct_config_text_once() {
    let input = Schema::new("t", Vec::new());
    let table = |config: &str| call::transform_schema::<Echo>(&input, config).map(|s| s.table);
    let before = built();
    assert_eq!(table(r#"{"n": 1}"#).expect("ok"), "t-1");
    assert_eq!(table(r#"{"n": 1}"#).expect("ok"), "t-1");
    assert_eq!(built() - before, 1, "the same text is parsed once");
    assert_eq!(table(r#"{"n": 2}"#).expect("ok"), "t-2");
    assert_eq!(built() - before, 2);
    // A text that does not parse is not kept and does not evict the last good one.
    assert!(table(r#"{"n": 10}"#).is_err());
    assert!(table(r#"{"n": "x"}"#).is_err());
    assert_eq!(table(r#"{"n": 2}"#).expect("ok"), "t-2");
    assert_eq!(built() - before, 3);
    // An empty text is `{}`.
    assert_eq!(
        call::transform_schema::<Echo>(&input, "")
            .expect("ok")
            .table,
        "t-0"
    );
    assert!(call::transform::<Echo>(&input, "", &Batch::new(0, Vec::new())).is_ok());
}

#[test]
fn a_config_that_does_not_parse_is_invalid_config_with_serdes_message() {
    let input = Schema::new("t", Vec::new());
    match call::transform_schema::<Echo>(&input, r#"{"n": 1, "m": 2}"#) {
        Err(PluginError::InvalidConfig(m)) => assert_eq!(
            m, "unknown field `m`, expected `n` at line 1 column 12",
            "serde's message, with the key and the position"
        ),
        other => panic!("{other:?}"),
    }
    // A `try_from` error is the message as written, without a position.
    assert_eq!(
        call::transform_schema::<Echo>(&input, r#"{"n": 10}"#),
        Err(PluginError::InvalidConfig(
            "\"n\" is 10; it must be at most 9".into()
        ))
    );
}

#[test]
fn no_config_accepts_only_an_empty_object() {
    assert_eq!(parse_config::<NoConfig>(""), Ok(NoConfig {}));
    assert_eq!(parse_config::<NoConfig>("{}"), Ok(NoConfig {}));
    match parse_config::<NoConfig>(r#"{"key": 1}"#) {
        Err(PluginError::InvalidConfig(m)) => assert!(m.contains("unknown field `key`"), "{m}"),
        other => panic!("{other:?}"),
    }
}

// ---- the parser session guard ----

/// Fails when fed `bad`; counts the calls that reach it.
struct Counting {
    calls: std::rc::Rc<Cell<u32>>,
}

impl ParserSession for Counting {
    fn feed(&mut self, chunk: &[u8]) -> Result<Vec<ParsedRecord>, PluginError> {
        self.calls.set(self.calls.get() + 1);
        if chunk == b"bad" {
            return Err(PluginError::malformed("bad chunk", Location::default()));
        }
        Ok(Vec::new())
    }
    fn finish(&mut self) -> Result<Vec<ParsedRecord>, PluginError> {
        self.calls.set(self.calls.get() + 1);
        Ok(vec![ParsedRecord::new(Vec::new())])
    }
}

#[test]
fn a_finished_session_stays_finished() {
    let calls = std::rc::Rc::new(Cell::new(0));
    let mut s = call::Session::new(Counting {
        calls: calls.clone(),
    });
    s.feed(b"ok").expect("open");
    assert_eq!(s.finish().expect("finish").len(), 1);
    assert_eq!(
        s.feed(b"ok"),
        Err(PluginError::internal(
            "the parse session is already finished"
        ))
    );
    assert!(matches!(s.finish(), Err(PluginError::Internal(_))));
    assert_eq!(calls.get(), 2, "nothing runs after finish");
}

#[test]
fn a_failed_session_repeats_its_error_without_running() {
    let calls = std::rc::Rc::new(Cell::new(0));
    let mut s = call::Session::new(Counting {
        calls: calls.clone(),
    });
    let e = s.feed(b"bad").expect_err("bad");
    assert_eq!(s.feed(b"ok").expect_err("sticky"), e);
    assert_eq!(s.finish().expect_err("sticky"), e);
    assert_eq!(calls.get(), 1, "nothing runs after an error");
}

// ---- errors and misc ----

#[test]
fn errors_display_their_location() {
    let e = PluginError::malformed(
        "bad byte",
        Location {
            line: Some(3),
            line_column: Some(4),
            byte_offset: Some(20),
            ..Location::default()
        },
    );
    assert_eq!(
        e.to_string(),
        "malformed input at line 3, char 4, byte 20: bad byte"
    );
    let missing = schema().missing_column("mail");
    assert!(
        matches!(&missing, PluginError::UnsupportedSchema(m) if m.contains("\"mail\"") && m.contains("id, email, score"))
    );
}

#[test]
fn diagnostics_build_fluently() {
    let d = Diagnostic::error("not-null", "missing")
        .at_row(3)
        .in_column("email");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.row, Some(3));
    assert_eq!(d.column.as_deref(), Some("email"));
}

#[test]
fn log_natively_does_not_panic() {
    log(LogLevel::Info, "hello from a native test");
}
