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
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject, SqlType, Stage,
    TableDef, UniqueDef, ValueRef, ViewDef,
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
        fixed: false,
        key: true,
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
    let double = Enc::Float { single: false };
    assert_eq!(enc(&double, ValueRef::Float(0.1)).unwrap(), "1e-1");
    assert_eq!(
        enc(&double, ValueRef::Float(f64::NAN)).unwrap_err().0,
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

fn target(def: TableDef) -> TargetTable {
    TargetTable {
        source: def.clone(),
        def,
    }
}

#[test]
fn declared_types_are_kept_where_mysql_has_them() {
    let typed = |name: &str, lt: LogicalType, t: SqlType| ColumnDef {
        sql_type: Some(t),
        ..col(name, "", lt)
    };
    let t = TableDef {
        name: "t".into(),
        columns: vec![
            typed("s", LogicalType::Int64, SqlType::SmallInt),
            typed("i", LogicalType::Int64, SqlType::Integer),
            typed("r", LogicalType::Float64, SqlType::Real),
            typed("v", LogicalType::Text, SqlType::Varchar { length: 45 }),
            typed("c", LogicalType::Text, SqlType::Char { length: 1 }),
            typed(
                "d",
                LogicalType::Decimal,
                SqlType::Numeric {
                    precision: 4,
                    scale: 2,
                },
            ),
            typed(
                "wide",
                LogicalType::Decimal,
                SqlType::Numeric {
                    precision: 100,
                    scale: 2,
                },
            ),
            typed("big_c", LogicalType::Text, SqlType::Char { length: 300 }),
            typed(
                "huge_v",
                LogicalType::Text,
                SqlType::Varchar { length: 20_000 },
            ),
        ],
        ..Default::default()
    };
    let encs = table_encodings(&target(t), true);
    let types: Vec<String> = encs.iter().map(Enc::sql_type).collect();
    assert_eq!(
        types,
        [
            "SMALLINT",
            "INT",
            "FLOAT",
            "VARCHAR(45)",
            "CHAR(1)",
            "DECIMAL(4,2)",
            "DECIMAL(65,30)",
            "LONGTEXT",
            "LONGTEXT"
        ]
    );
    let enc = |e: &Enc, v: ValueRef<'_>| {
        let mut s = String::new();
        encode_value(&mut s, e, v).map(|_| s)
    };
    assert_eq!(enc(&encs[0], ValueRef::Int(-32768)).unwrap(), "-32768");
    assert_eq!(
        enc(&encs[0], ValueRef::Int(32768)).unwrap_err().0,
        "out-of-range"
    );
    assert_eq!(
        enc(&encs[1], ValueRef::Int(1 << 31)).unwrap_err().0,
        "out-of-range"
    );
    assert_eq!(enc(&encs[2], ValueRef::Float(0.5)).unwrap(), "5e-1");
    assert_eq!(
        enc(&encs[2], ValueRef::Float(0.1)).unwrap_err().0,
        "out-of-range"
    );
    assert!(enc(&encs[2], ValueRef::Float(f64::from(0.1f32))).is_ok());
    // Trailing spaces count: MySQL would cut them with only a note.
    let long = enc(&encs[4], ValueRef::Text("a ")).unwrap_err();
    assert_eq!(long.0, "too-long");
    assert!(long.1.contains("the column's CHAR(1)"), "{}", long.1);
}

/// The encodings of a table of `n` text columns declared `VARCHAR(length)`.
fn wide(n: usize, length: u32) -> Vec<String> {
    let columns = (0..n)
        .map(|i| ColumnDef {
            sql_type: Some(SqlType::Varchar { length }),
            ..col(&format!("c{i}"), "", LogicalType::Text)
        })
        .collect();
    table_encodings(
        &target(TableDef {
            name: "wide".into(),
            columns,
            ..Default::default()
        }),
        true,
    )
    .iter()
    .map(|e| e.sql_type())
    .collect()
}

#[test]
fn declared_lengths_stop_where_the_row_has_no_more_room() {
    // 100 × VARCHAR(60) would need 24 kB in InnoDB's 8 kB page.
    let types = wide(100, 60);
    let kept = types.iter().take_while(|t| *t == "VARCHAR(60)").count();
    assert!((20..=27).contains(&kept), "{kept} kept");
    assert!(types[kept..].iter().all(|t| t == "LONGTEXT"));
    // 64 × VARCHAR(255) is within 65,535 bytes and may move out of the page.
    let kept = wide(70, 255)
        .iter()
        .filter(|t| *t == "VARCHAR(255)")
        .count();
    assert!((60..=64).contains(&kept), "{kept} kept");
}

#[test]
fn auto_increment_leads_a_key() {
    let id = ColumnDef {
        identity: true,
        nullable: false,
        ..col("id", "INT", LogicalType::Int64)
    };
    let mut t = TableDef {
        name: "t".into(),
        columns: vec![col("a", "INT", LogicalType::Int64), id],
        primary_key: vec!["id".into()],
        ..Default::default()
    };
    let encs = |t: &TableDef| table_encodings(&target(t.clone()), true);
    assert_eq!(auto_increment(&t, &encs(&t)), Some((1, None)));
    t.primary_key = vec!["a".into(), "id".into()];
    t.indexes = vec![IndexDef {
        name: "by_id".into(),
        columns: vec!["id".into()],
        unique: false,
    }];
    assert_eq!(
        auto_increment(&t, &encs(&t)),
        Some((1, Some(r#"KEY "by_id" ("id")"#.into())))
    );
    t.indexes.clear();
    assert_eq!(
        auto_increment(&t, &encs(&t)),
        Some((1, Some(r#"KEY "t_id_counter" ("id")"#.into())))
    );
    t.columns[1].identity = false;
    assert_eq!(auto_increment(&t, &encs(&t)), None);
}

#[test]
fn view_definitions_stand_alone_in_a_no_backslash_session() {
    let def = r"select `shop`.`c`.`id` AS `id`,'it\'s' AS `s`,'a\\b' AS `b`,'x\_%' AS `l` from (`shop`.`v1` join `shop`.`c` on(`shop`.`c`.`id` = `v1`.`id`)) where `shop`.`c`.`note` = 'shop`.'";
    assert_eq!(
        standard_sql(def, Some("shop")),
        r"select `c`.`id` AS `id`,'it''s' AS `s`,'a\b' AS `b`,'x\_%' AS `l` from (`v1` join `c` on(`c`.`id` = `v1`.`id`)) where `c`.`note` = 'shop`.'"
    );
    assert_eq!(
        standard_sql(r#""code" <> 'it\'s' and "a""b" like 'a\\_%'"#, None),
        r#""code" <> 'it''s' and "a""b" like 'a\_%'"#
    );
}

#[test]
fn views_come_after_the_views_they_read() {
    let v = |name: &str, definition: &str| ViewDef {
        name: name.into(),
        definition: definition.into(),
    };
    let order = dependency_order(vec![
        v("a_top", "select * from `m_mid`"),
        v("m_mid", "select * from `z_base` join `t`"),
        v("z_base", "select * from `t`"),
    ]);
    let names: Vec<&str> = order.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["z_base", "m_mid", "a_top"]);
}

#[test]
fn refused_values_name_their_column() {
    let schema = crate::model::Schema {
        table: "t".into(),
        columns: vec![
            crate::model::Column {
                name: "name".into(),
                logical_type: LogicalType::Text,
                nullable: true,
            },
            crate::model::Column {
                name: "n".into(),
                logical_type: LogicalType::Int64,
                nullable: true,
            },
        ],
    };
    let col = |m: &str| refused_column(m, &schema);
    assert_eq!(col("Data too long for column 'name' at row 3"), Some(0));
    assert_eq!(col("Column 'n' cannot be null"), Some(1));
    assert_eq!(
        col("Incorrect integer value: 'x' for column `db`.`t`.`n` at row 1"),
        Some(1)
    );
    assert_eq!(col("CONSTRAINT `doc` failed for `db`.`t`"), None);
}

#[test]
fn generated_columns_are_told_from_expression_defaults() {
    assert!(is_generated("VIRTUAL GENERATED"));
    assert!(is_generated("STORED GENERATED"));
    assert!(is_generated("PERSISTENT"));
    assert!(!is_generated("DEFAULT_GENERATED"));
    assert!(!is_generated(
        "DEFAULT_GENERATED on update CURRENT_TIMESTAMP"
    ));
    assert!(!is_generated("auto_increment"));
}
