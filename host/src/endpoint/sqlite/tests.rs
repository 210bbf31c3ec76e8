#![allow(unused_imports)]
use super::*;
use crate::endpoint::{EndpointError, IfExists, REJECTS_TABLE, TargetTable, WriteOutcome};
use crate::ledger::Checkpoint;
use crate::model::{
    Batch, BatchBuilder, ColumnDef, ForeignKeyDef, IndexDef, LogicalType, Reject, Stage, TableDef,
    UniqueDef, ValueRef,
};
use rusqlite::types::ValueRef as Sql;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use std::path::{Path, PathBuf};

#[test]
fn numeric_affinity_keeps_only_what_a_double_or_integer_holds() {
    use super::numeric_affinity_keeps as keeps;
    assert!(keeps("1.500000"));
    assert!(keeps("0.30000000000000004"));
    assert!(keeps("9223372036854775807"));
    assert!(keeps("-0.000001"));
    assert!(keeps("1e20"));
    assert!(!keeps("12345678901234.123456"));
    assert!(!keeps("9223372036854775809"));
    assert!(!keeps("0.1234567890123456789"));
}

use super::*;

#[test]
fn affinity_rules() {
    assert_eq!(logical_type("INTEGER"), LogicalType::Int64);
    assert_eq!(logical_type("BIGINT"), LogicalType::Int64);
    assert_eq!(logical_type("NVARCHAR(40)"), LogicalType::Text);
    assert_eq!(logical_type(""), LogicalType::Text);
    assert_eq!(logical_type("BLOB"), LogicalType::Bytes);
    assert_eq!(logical_type("DOUBLE PRECISION"), LogicalType::Float64);
    assert_eq!(logical_type("NUMERIC(10,2)"), LogicalType::Decimal);
    assert_eq!(logical_type("boolean"), LogicalType::Boolean);
    assert_eq!(logical_type("DATETIME"), LogicalType::Timestamp);
    assert_eq!(logical_type("timestamp"), LogicalType::Timestamp);
    assert_eq!(logical_type("DATE"), LogicalType::Text);
    assert_eq!(logical_type("TIMESTAMPTZ"), LogicalType::Text);
    assert_eq!(logical_type("json"), LogicalType::Json);
}

#[test]
fn decimals_are_recognised_exactly() {
    for ok in ["0", "-1.5", "+3.", ".5", "1e5", "1.25E-3"] {
        assert!(is_decimal(ok), "{ok}");
    }
    for bad in ["", "-", "1.2.3", "abc", "1e", "1e99999", " 1", "NaN", "inf"] {
        assert!(!is_decimal(bad), "{bad}");
    }
}
