#![allow(unused_imports)]
use super::*;
use crate::endpoint::sql::{quote_ident, quote_list};
use crate::endpoint::{
    EndpointError, IfExists, REJECTS_TABLE, ReadBatch, TableProfile, TargetTable, WriteOutcome,
};
use crate::model::temporal::{
    civil_from_days, days_from_civil, format_date, format_time, format_timestamp, format_uuid,
    parse_uuid,
};
use crate::model::{
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject, Stage, TableDef,
    UniqueDef, ValueRef,
};
use mysql_async::prelude::*;
use mysql_async::{Conn, Opts, Row, Value};
use std::collections::HashMap;
use std::fmt::Write as _;
use tokio::sync::mpsc;

use super::*;

fn col(name: &str, declared: &str, t: LogicalType) -> ColumnDef {
    ColumnDef {
        name: name.into(),
        declared_type: declared.into(),
        logical_type: t,
        nullable: true,
        default: None,
        ..Default::default()
    }
}

#[test]
fn mysql_types_map_to_logical_types() {
    assert_eq!(logical_type("tinyint", "tinyint(1)"), LogicalType::Boolean);
    assert_eq!(logical_type("tinyint", "tinyint(4)"), LogicalType::Int64);
    assert_eq!(logical_type("int", "int(10) unsigned"), LogicalType::Int64);
    assert_eq!(
        logical_type("bigint", "bigint(20) unsigned"),
        LogicalType::Decimal
    );
    assert_eq!(logical_type("float", "float"), LogicalType::Float64);
    assert_eq!(
        logical_type("decimal", "decimal(20,6)"),
        LogicalType::Decimal
    );
    assert_eq!(logical_type("enum", "enum('a','b')"), LogicalType::Text);
    assert_eq!(
        logical_type("varbinary", "varbinary(8)"),
        LogicalType::Bytes
    );
    assert_eq!(logical_type("json", "json"), LogicalType::Json);
    assert_eq!(
        logical_type("timestamp", "timestamp(6)"),
        LogicalType::Timestamptz
    );
    assert_eq!(
        logical_type("datetime", "datetime(6)"),
        LogicalType::Timestamp
    );
    assert_eq!(logical_type("uuid", "uuid"), LogicalType::Uuid);
}

#[test]
fn declared_precision_and_length_are_parsed() {
    assert_eq!(declared_precision("NUMERIC(10,2)"), Some((10, 2)));
    assert_eq!(declared_precision("decimal(20, 6)"), Some((20, 6)));
    assert_eq!(declared_precision("DECIMAL(7)"), Some((7, 0)));
    assert_eq!(declared_precision("bigint(20) unsigned"), Some((20, 0)));
    assert_eq!(declared_precision("NUMERIC"), None);
    assert_eq!(declared_precision("numeric(100,2)"), None); // beyond MySQL
    assert_eq!(declared_precision("int(11)"), None);
    assert_eq!(declared_length("VARCHAR(40)"), Some(40));
    assert_eq!(declared_length("nvarchar(10)"), Some(10));
    assert_eq!(declared_length("TEXT"), None);
}

#[test]
fn key_text_columns_become_bounded_varchars() {
    let t = TableDef {
        name: "t".into(),
        columns: vec![
            col("id", "TEXT", LogicalType::Text),
            col("a", "VARCHAR(20)", LogicalType::Text),
            col("b", "TEXT", LogicalType::Text),
            col("note", "TEXT", LogicalType::Text),
            col("blob", "BLOB", LogicalType::Bytes),
            col("price", "NUMERIC(10,2)", LogicalType::Decimal),
            col("x", "REAL", LogicalType::Decimal),
        ],
        primary_key: vec!["id".into()],
        unique: vec![UniqueDef {
            name: "u".into(),
            columns: vec!["a".into(), "b".into()],
        }],
        indexes: vec![IndexDef {
            name: "i".into(),
            columns: vec!["blob".into()],
            unique: false,
        }],
        foreign_keys: vec![],
        ..Default::default()
    };
    let ty = |i: usize| column_type(&t, &t.columns[i]);
    assert_eq!(ty(0), "VARCHAR(768)");
    assert_eq!(ty(1), "VARCHAR(20)");
    assert_eq!(ty(2), "VARCHAR(384)"); // shares the key with `a`
    assert_eq!(ty(3), "LONGTEXT");
    assert_eq!(ty(4), "VARBINARY(3072)");
    assert_eq!(ty(5), "DECIMAL(10,2)");
    assert_eq!(ty(6), "DECIMAL(65,30)");
}

#[test]
fn decimals_fit_exactly_or_are_refused() {
    let ok = |s: &str, p, sc| decimal_literal(s, p, sc).unwrap();
    assert_eq!(ok("3.03", 10, 2), "3.03");
    assert_eq!(ok("1.50", 3, 1), "1.5");
    assert_eq!(ok("-0.00", 3, 1), "0");
    assert_eq!(ok("1e3", 10, 0), "1000");
    assert_eq!(ok("1.25E-3", 10, 5), "0.00125");
    assert_eq!(ok("+007.10", 4, 2), "7.1");
    assert_eq!(ok("18446744073709551615", 20, 0), "18446744073709551615");
    let code = |s: &str, p, sc| decimal_literal(s, p, sc).unwrap_err().0;
    assert_eq!(code("1.234", 10, 2), "decimal-out-of-range");
    assert_eq!(code("123456789.5", 10, 2), "decimal-out-of-range");
    assert_eq!(code("abc", 10, 2), "type-mismatch");
    assert_eq!(code("1e999", 10, 2), "type-mismatch");
}

#[test]
fn values_encode_as_exact_literals() {
    let enc = |e: &Enc, v: ValueRef<'_>| {
        let mut s = String::new();
        encode_value(&mut s, e, v).map(|_| s)
    };
    let text = Enc::Text {
        max: Some(3),
        json: false,
    };
    assert_eq!(enc(&text, ValueRef::Text("a'b")).unwrap(), "'a''b'");
    assert_eq!(enc(&text, ValueRef::Text("a\\")).unwrap(), "'a\\'");
    assert_eq!(
        enc(&text, ValueRef::Text("a\0")).unwrap(),
        "_utf8mb4 X'6100'"
    );
    assert_eq!(
        enc(&text, ValueRef::Text("abcd")).unwrap_err().0,
        "too-long"
    );
    assert_eq!(enc(&text, ValueRef::Text("éé")).unwrap(), "'éé'");
    assert_eq!(enc(&Enc::Float, ValueRef::Float(0.1)).unwrap(), "1e-1");
    assert_eq!(
        enc(&Enc::Float, ValueRef::Float(f64::NAN)).unwrap_err().0,
        "out-of-range"
    );
    assert_eq!(
        enc(&Enc::Bytes { max: None }, ValueRef::Bytes(&[3, 0, 255])).unwrap(),
        "X'0300ff'"
    );
    assert_eq!(enc(&Enc::Date, ValueRef::Date(0)).unwrap(), "'1970-01-01'");
    assert_eq!(
        enc(&Enc::Date, ValueRef::Date(-719_000)).unwrap_err().0,
        "out-of-range"
    );
    assert_eq!(
        enc(&Enc::Time, ValueRef::Int(1_500_000)).unwrap(),
        "'00:00:01.500000'"
    );
    assert_eq!(
        enc(&Enc::Timestamp { tz: true }, ValueRef::Int(86_400_000_001)).unwrap(),
        "'1970-01-02 00:00:00.000001'"
    );
    assert_eq!(enc(&Enc::Bool, ValueRef::Null).unwrap(), "NULL");
}

#[test]
fn zero_and_invalid_dates_are_refused() {
    assert!(mysql_days(0, 0, 0).unwrap_err().contains("zero date"));
    assert!(mysql_days(2024, 2, 30).is_err());
    assert!(mysql_days(2024, 0, 1).is_err());
    assert_eq!(mysql_days(1970, 1, 2), Ok(1));
}

#[test]
fn long_index_names_are_shortened_stably() {
    let long = "x".repeat(80);
    let s = short_name(&long);
    assert_eq!(s.chars().count(), 64);
    assert_eq!(s, short_name(&long));
    assert_eq!(short_name("orders_user"), "orders_user");
}

#[test]
fn versions_decide_uuid_and_collation() {
    let m = Flavor::from_version("10.11.19-MariaDB-0+deb12u1");
    assert!(m.mariadb && m.has_uuid);
    assert_eq!(m.collation(), "utf8mb4_nopad_bin");
    let old = Flavor::from_version("10.6.4-MariaDB");
    assert!(!old.has_uuid);
    let my = Flavor::from_version("8.0.36");
    assert!(!my.mariadb && !my.has_uuid);
}
