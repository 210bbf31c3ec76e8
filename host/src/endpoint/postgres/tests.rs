#![allow(unused_imports)]
use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{
    EndpointError, IfExists, REJECTS_TABLE, ReadBatch, TableProfile, TargetTable, WriteOutcome,
};
use crate::ledger::{Checkpoint, RunRecord};
use crate::model::{
    Batch, BatchBuilder, ColumnData, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject,
    Stage, Storage, TableDef, UniqueDef, ValueRef, value_json,
};
use bytes::{Buf, BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};

use super::{encode_numeric, fits_numeric};

#[test]
fn declared_numeric_precision_is_checked_exactly() {
    assert!(fits_numeric("12345678901234.123456", 20, 6));
    assert!(fits_numeric("-1.5", 20, 6));
    assert!(
        fits_numeric("1.5000000000", 20, 6),
        "trailing zeros are exact"
    );
    assert!(fits_numeric("0", 1, 1));
    assert!(fits_numeric("0.5", 1, 1));
    assert!(!fits_numeric("1.5", 1, 1));
    assert!(!fits_numeric("1.0000001", 20, 6));
    assert!(!fits_numeric("123456789012345", 20, 6));
    assert!(fits_numeric("1.5e2", 3, 0));
    assert!(!fits_numeric("1.5e-2", 3, 1));
    assert!(fits_numeric("00012.30", 4, 1));
    assert!(!fits_numeric("NaN", 10, 2));
    assert!(!fits_numeric("1e9223372036854775807", 10, 2));
    assert!(!fits_numeric("1e-9223372036854775808", 10, 2));
}

fn parts(s: &str) -> (i16, i16, u16, u16, Vec<i16>) {
    let b = encode_numeric(s).unwrap();
    let r = |i: usize| i16::from_be_bytes([b[i], b[i + 1]]);
    let n = r(0);
    let digits = (0..n as usize).map(|k| r(8 + 2 * k)).collect();
    (n, r(2), r(4) as u16, r(6) as u16, digits)
}

#[test]
fn numeric_binary_encoding() {
    assert_eq!(parts("0"), (0, 0, 0, 0, vec![]));
    assert_eq!(parts("1"), (1, 0, 0, 0, vec![1]));
    assert_eq!(parts("12345.678"), (3, 1, 0, 3, vec![1, 2345, 6780]));
    assert_eq!(parts("-0.5"), (1, -1, 0x4000, 1, vec![5000]));
    assert_eq!(parts("1e5"), (1, 1, 0, 0, vec![10]));
    assert_eq!(parts("0.00012"), (2, -1, 0, 5, vec![1, 2000]));
    assert_eq!(parts("1.50"), (2, 0, 0, 2, vec![1, 5000]));
    assert!(encode_numeric("abc").is_none());
}

use super::*;

#[test]
fn type_map_follows_the_documented_table() {
    assert_eq!(logical_type("bool"), LogicalType::Boolean);
    for t in ["int2", "int4", "int8"] {
        assert_eq!(logical_type(t), LogicalType::Int64);
    }
    assert_eq!(logical_type("float4"), LogicalType::Float64);
    assert_eq!(logical_type("numeric"), LogicalType::Decimal);
    assert_eq!(logical_type("bpchar"), LogicalType::Text);
    assert_eq!(logical_type("citext"), LogicalType::Text);
    assert_eq!(logical_type("jsonb"), LogicalType::Json);
    assert_eq!(logical_type("timestamptz"), LogicalType::Timestamptz);
    assert_eq!(logical_type("uuid"), LogicalType::Uuid);
    for other in ["_int4", "inet", "interval", "money", "mood", "timetz"] {
        assert_eq!(logical_type(other), LogicalType::Text, "{other}");
        assert!(Wire::of(other).1, "{other} is read through ::text");
    }
    assert!(!Wire::of("bpchar").1, "bpchar keeps its padding");
}

#[test]
fn decode_is_exact_and_rejects_what_logical_types_cannot_hold() {
    assert_eq!(
        decode(Wire::Float4, &0.1f32.to_be_bytes()).ok(),
        Some(ValueRef::Float(0.1f32 as f64))
    );
    assert_eq!(
        decode(Wire::Date, &0i32.to_be_bytes()).ok(),
        Some(ValueRef::Date(PG_EPOCH_DAYS))
    );
    assert_eq!(
        decode(Wire::Timestamptz, &1i64.to_be_bytes()).ok(),
        Some(ValueRef::Int(PG_EPOCH_MICROS + 1))
    );
    assert!(decode(Wire::Date, &i32::MAX.to_be_bytes()).is_err());
    assert_eq!(
        decode(Wire::Time, &MICROS_PER_DAY.to_be_bytes()).ok(),
        Some(ValueRef::Int(MICROS_PER_DAY)),
        "24:00:00 is kept"
    );
    assert!(decode(Wire::Time, &(MICROS_PER_DAY + 1).to_be_bytes()).is_err());
    assert!(decode(Wire::Timestamp, &i64::MIN.to_be_bytes()).is_err());
    assert!(decode(Wire::Timestamp, &(i64::MAX - 1).to_be_bytes()).is_err());
    assert!(decode(Wire::Numeric, b"NaN").is_err());
    assert!(decode(Wire::Numeric, b"-Infinity").is_err());
    assert_eq!(
        decode(Wire::Numeric, b"1.500000").ok(),
        Some(ValueRef::Text("1.500000"))
    );
    assert!(decode(Wire::Text, b"\xff").is_err());
    assert_eq!(
        decode(Wire::Jsonb, b"\x01{}").ok(),
        Some(ValueRef::Text("{}"))
    );
    assert!(decode(Wire::Int4, b"\0\0").is_err(), "short field");
    assert!(decode(Wire::Uuid, &[0; 15]).is_err());
}

#[test]
fn copy_rows_parse_across_chunk_boundaries() {
    let mut f = Vec::new();
    let mut row = vec![0u8, 2, 0, 0, 0, 1, 7, 0xff, 0xff, 0xff, 0xff];
    for cut in 0..row.len() {
        assert!(matches!(
            parse_row(&row[..cut], &mut f),
            Ok(RowParse::Incomplete)
        ));
    }
    assert!(matches!(parse_row(&row, &mut f), Ok(RowParse::Row(11))));
    assert_eq!(f, vec![Some((6, 1)), None]);
    row[2] = 0x80; // a negative field length other than -1
    assert!(parse_row(&row, &mut f).is_err());
    assert!(matches!(
        parse_row(&[0xff, 0xff], &mut f),
        Ok(RowParse::End)
    ));
}

#[test]
fn schema_parameter_is_split_off_the_url() {
    assert_eq!(
        split_schema("postgres://u@h/db?schema=s1"),
        ("postgres://u@h/db".into(), Some("s1".into()))
    );
    assert_eq!(
        split_schema("postgres://u@h/db?sslmode=disable&schema=s1"),
        (
            "postgres://u@h/db?sslmode=disable".into(),
            Some("s1".into())
        )
    );
    assert_eq!(
        split_schema("postgres://u@h/db"),
        ("postgres://u@h/db".into(), None)
    );
}

#[test]
fn check_expressions_lose_their_wrapper_and_markers() {
    use super::source::check_expression;
    assert_eq!(
        check_expression("CHECK ((price > (0)::numeric))").as_deref(),
        Some("price > (0)::numeric")
    );
    assert_eq!(
        check_expression("CHECK ((s ~~ 'x%'::text)) NOT VALID").as_deref(),
        Some("s ~~ 'x%'::text")
    );
    assert_eq!(
        check_expression("CHECK ((id > 0)) NO INHERIT").as_deref(),
        Some("id > 0")
    );
    // Parentheses that do not enclose the whole expression stay.
    assert_eq!(
        check_expression("CHECK (((a > 0) AND (b > 0)))").as_deref(),
        Some("(a > 0) AND (b > 0)")
    );
    assert_eq!(
        check_expression("CHECK ((code = ANY (ARRAY[')'::text, '('::text])))").as_deref(),
        Some("code = ANY (ARRAY[')'::text, '('::text])")
    );
    assert_eq!(check_expression("PRIMARY KEY (id)"), None);
}

#[test]
fn declared_types_follow_the_plan_when_they_fit_the_logical_type() {
    use crate::model::SqlType;
    let col = |t: LogicalType, s: Option<SqlType>| ColumnDef {
        name: "c".into(),
        logical_type: t,
        sql_type: s,
        nullable: true,
        ..Default::default()
    };
    let src = TableDef::default();
    let ty = |t, s| column_type(&src, &col(t, s));
    assert_eq!(ty(LogicalType::Int64, Some(SqlType::SmallInt)), "smallint");
    assert_eq!(ty(LogicalType::Int64, Some(SqlType::Integer)), "integer");
    assert_eq!(ty(LogicalType::Int64, None), "bigint");
    assert_eq!(ty(LogicalType::Float64, Some(SqlType::Real)), "real");
    assert_eq!(
        ty(LogicalType::Text, Some(SqlType::Varchar { length: 45 })),
        "varchar(45)"
    );
    assert_eq!(
        ty(LogicalType::Text, Some(SqlType::Char { length: 1 })),
        "char(1)"
    );
    assert_eq!(
        ty(
            LogicalType::Decimal,
            Some(SqlType::Numeric {
                precision: 4,
                scale: 2
            })
        ),
        "numeric(4,2)"
    );
    // A declared type of another logical type is not obeyed.
    assert_eq!(ty(LogicalType::Text, Some(SqlType::SmallInt)), "text");
    assert_eq!(ty(LogicalType::Int64, Some(SqlType::Real)), "bigint");
    assert_eq!(
        ty(LogicalType::Text, Some(SqlType::Varchar { length: 0 })),
        "text"
    );
    // Without a plan's type, a source NUMERIC(p,s) is kept as before.
    let src = TableDef {
        columns: vec![ColumnDef {
            name: "c".into(),
            declared_type: "NUMERIC(10,2)".into(),
            logical_type: LogicalType::Decimal,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        column_type(&src, &col(LogicalType::Decimal, None)),
        "numeric(10,2)"
    );
    let mut id = col(LogicalType::Int64, Some(SqlType::Integer));
    id.identity = true;
    id.nullable = false;
    assert_eq!(
        column_sql(&TableDef::default(), &id),
        "\"c\" integer NOT NULL GENERATED BY DEFAULT AS IDENTITY"
    );
}

#[test]
fn unfit_values_are_found_per_row_and_column() {
    use crate::model::SqlType;
    let def = TableDef {
        name: "t".into(),
        columns: vec![
            ColumnDef {
                name: "s".into(),
                logical_type: LogicalType::Int64,
                sql_type: Some(SqlType::SmallInt),
                nullable: true,
                ..Default::default()
            },
            ColumnDef {
                name: "v".into(),
                logical_type: LogicalType::Text,
                sql_type: Some(SqlType::Varchar { length: 3 }),
                nullable: true,
                ..Default::default()
            },
            ColumnDef {
                name: "j".into(),
                logical_type: LogicalType::Json,
                nullable: true,
                ..Default::default()
            },
            ColumnDef {
                name: "r".into(),
                logical_type: LogicalType::Float64,
                sql_type: Some(SqlType::Real),
                nullable: true,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let schema = def.schema();
    let mut b = BatchBuilder::new(&schema, 8);
    let rows: [(i64, &str, &str, f64); 6] = [
        (1, "abc", "{}", 1.5),
        (40000, "ééé", "{}", 0.5),
        (2, "abcd", r#"{"a":"\\u0000"}"#, 2.0),
        (3, "a\0", r#"{"a":"\u0000"}"#, 0.1),
        (-32768, "ab", "[]", f64::NAN),
        (4, "x", "1", 3.0),
    ];
    for (i, v, j, r) in rows {
        b.push_int(0, i);
        b.push_bytes(1, v.as_bytes()).unwrap();
        b.push_bytes(2, j.as_bytes()).unwrap();
        b.push_float(3, r);
        b.end_row();
    }
    let batch = b.finish();
    let t = TargetTable {
        source: def.clone(),
        def,
    };
    let found: Vec<(usize, usize, &str)> = super::refused::unfit_values(&batch, &t)
        .iter()
        .map(|u| (u.row, u.col, u.code))
        .collect();
    assert_eq!(
        found,
        [
            (1, 0, "out-of-range"),
            (2, 1, "too-long"),
            (3, 1, "unstorable"),
            (3, 2, "unstorable"),
            (3, 3, "out-of-range"),
        ]
    );
}

#[test]
fn binary_numerics_print_as_numeric_out_does() {
    // (ndigits, weight, sign, dscale, digits) → text
    let enc = |w: &[u16]| w.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
    let cases: &[(&[u16], &str)] = &[
        (&[0, 0, 0, 0], "0"),
        (&[0, 0, 0, 2], "0.00"),
        (&[1, 0, 0, 0, 7], "7"),
        (&[2, 0, 0x4000, 3, 12, 5000], "-12.500"),
        (&[3, 1, 0, 6, 1234, 5678, 1234], "12345678.123400"),
        (&[1, 0xFFFF, 0, 4, 123], "0.0123"),
        (&[1, 2, 0, 0, 1], "100000000"),
        (
            &[6, 3, 0, 6, 12, 3456, 7890, 1234, 1234, 5600],
            "12345678901234.123456",
        ),
    ];
    for (words, want) in cases {
        assert_eq!(numeric_text(&enc(words)).as_deref(), Ok(*want), "{words:?}");
    }
    assert!(numeric_text(&enc(&[0, 0, 0xC000, 0])).is_err(), "NaN");
    assert!(numeric_text(&enc(&[0, 0, 0xD000, 0])).is_err(), "Infinity");
    assert!(numeric_text(&enc(&[2, 0, 0])).is_err(), "cut short");
    assert!(
        numeric_text(&enc(&[1, 0, 0, 0, 10000])).is_err(),
        "not base 10000"
    );
}

/// The raw codec splits binary COPY tuples into their extents, decodes only
/// the columns asked for (the others NULL), decodes every column on
/// `decode`, and reports bytes cut short as an error, not a panic.
#[test]
fn raw_tuples_split_into_extents_decoding_only_the_wanted_columns() {
    use crate::endpoint::RawCodec;
    let def = TableDef {
        name: "people".into(),
        columns: vec![
            ColumnDef {
                name: "id".into(),
                logical_type: LogicalType::Int64,
                ..Default::default()
            },
            ColumnDef {
                name: "name".into(),
                logical_type: LogicalType::Text,
                nullable: true,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let codec = raw_decoder(vec![Wire::Int8, Wire::Text], def.schema());
    let mut b = BytesMut::new();
    for (id, name) in [(1i64, Some("Ann")), (2, None), (3, Some("Zoë"))] {
        b.put_i16(2);
        b.put_i32(8);
        b.put_i64(id);
        match name {
            Some(n) => {
                b.put_i32(n.len() as i32);
                b.put_slice(n.as_bytes());
            }
            None => b.put_i32(-1),
        }
    }
    let bytes = b.freeze();
    let mut extents = Vec::new();
    let part = codec
        .split(&bytes, 3, &[true, false], &mut extents)
        .unwrap();
    assert_eq!(extents, vec![0..21, 21..39, 39..61]);
    assert_eq!(part.num_rows, 3);
    assert_eq!(part.value(2, 0), ValueRef::Int(3));
    assert_eq!(part.value(0, 1), ValueRef::Null);
    let whole = codec.decode(&bytes[extents[2].clone()]).unwrap();
    assert_eq!(whole.value(0, 1), ValueRef::Text("Zoë"));
    assert!(codec.decode(&bytes[..30]).is_err());
    assert!(
        codec
            .split(&bytes[..30], 3, &[true, true], &mut extents)
            .is_err()
    );
}
