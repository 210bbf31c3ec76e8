//! Native tests of the rules logic.

use ferry_plugin_sdk::{
    Batch, ColumnSchema, Diagnostic, LogicalType, PluginError, Schema, Severity, Validator, Value,
    call,
};

use crate::Rules;
use crate::check::{MAX_SHOWN_CHARS, is_plausible_email};
use crate::config::CONFIG_SCHEMA;

fn schema() -> Schema {
    Schema::new(
        "people",
        vec![
            ColumnSchema::new("email", LogicalType::Text, true),
            ColumnSchema::new("age", LogicalType::Int64, true),
            ColumnSchema::new("name", LogicalType::Text, true),
            ColumnSchema::new("code", LogicalType::Text, true),
            ColumnSchema::new("status", LogicalType::Text, true),
            ColumnSchema::new("title", LogicalType::Text, true),
            ColumnSchema::new("price", LogicalType::Decimal, true),
            ColumnSchema::new("ratio", LogicalType::Float64, true),
            ColumnSchema::new("blob", LogicalType::Bytes, true),
            ColumnSchema::new("born", LogicalType::Date, true),
        ],
    )
}

fn row(
    email: Value,
    age: Value,
    name: Value,
    code: Value,
    status: Value,
    title: Value,
) -> Vec<Value> {
    vec![
        email,
        age,
        name,
        code,
        status,
        title,
        Value::Decimal("9.99".into()),
        Value::Float(0.5),
        Value::Bytes(vec![1, 2, 3]),
        Value::Date(0),
    ]
}

const CONFIG: &str = r#"{"rules": [
    {"column": "email", "check": "email"},
    {"column": "age", "check": "range", "min": 0, "max": 150},
    {"column": "name", "check": "not-null"},
    {"column": "code", "check": "regex", "pattern": "^[A-Z]{3}$"},
    {"column": "status", "check": "one-of", "values": ["a", "b"], "severity": "warning"},
    {"column": "title", "check": "max-length", "max": 5}
]}"#;

fn validate(rows: Vec<Vec<Value>>, config: &str) -> Vec<Diagnostic> {
    let schema = schema();
    call::check_schema::<Rules>(&schema, config).expect("config fits schema");
    let batch = Batch::from_rows(&schema, rows).expect("valid batch");
    call::validate::<Rules>(&schema, config, &batch).expect("validate")
}

fn t(s: &str) -> Value {
    Value::text(s)
}

#[test]
fn a_good_row_yields_nothing() {
    let d = validate(
        vec![row(
            t("a@example.com"),
            Value::Int(30),
            t("Ann"),
            t("ABC"),
            t("a"),
            t("Hi"),
        )],
        CONFIG,
    );
    assert_eq!(d, vec![]);
}

#[test]
fn every_check_reports_row_column_code_value_and_rule() {
    let rows = vec![
        row(
            t("a@example.com"),
            Value::Int(30),
            t("Ann"),
            t("ABC"),
            t("a"),
            t("Hi"),
        ),
        row(
            t("not-an-email"),
            Value::Int(200),
            Value::Null,
            t("abcd"),
            t("c"),
            t("Too long"),
        ),
    ];
    let d = validate(rows, CONFIG);
    let codes: Vec<(&str, Option<u32>, Option<&str>, Severity)> = d
        .iter()
        .map(|d| (d.code.as_str(), d.row, d.column.as_deref(), d.severity))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("email", Some(1), Some("email"), Severity::Error),
            ("range", Some(1), Some("age"), Severity::Error),
            ("not-null", Some(1), Some("name"), Severity::Error),
            ("regex", Some(1), Some("code"), Severity::Error),
            ("one-of", Some(1), Some("status"), Severity::Warning),
            ("max-length", Some(1), Some("title"), Severity::Error),
        ]
    );
    let msg = |code: &str| {
        d.iter()
            .find(|d| d.code == code)
            .map(|d| d.message.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        msg("email"),
        r#"value "not-an-email" is not a valid e-mail address (rule: email)"#
    );
    assert_eq!(
        msg("range"),
        "value 200 is out of range (rule: range min=0 max=150)"
    );
    assert_eq!(msg("not-null"), "value is null (rule: not-null)");
    assert_eq!(
        msg("regex"),
        r#"value "abcd" does not match (rule: regex /^[A-Z]{3}$/)"#
    );
    assert_eq!(
        msg("one-of"),
        r#"value "c" is not one of ["a", "b"] (rule: one-of)"#
    );
    assert_eq!(
        msg("max-length"),
        r#"value "Too long" is 8 characters long, more than 5 (rule: max-length max=5)"#
    );
}

#[test]
fn nulls_only_fail_not_null() {
    let rows = vec![row(
        Value::Null,
        Value::Null,
        t("x"),
        Value::Null,
        Value::Null,
        Value::Null,
    )];
    assert_eq!(validate(rows, CONFIG), vec![]);
}

#[test]
fn diagnostics_come_in_row_order() {
    let rows = vec![
        row(t("bad"), Value::Int(1), t("x"), t("ABC"), t("a"), t("")),
        row(t("a@b.co"), Value::Int(-1), t("x"), t("ABC"), t("a"), t("")),
        row(t("bad"), Value::Int(1), t("x"), t("ABC"), t("a"), t("")),
    ];
    let rows_seen: Vec<Option<u32>> = validate(rows, CONFIG).iter().map(|d| d.row).collect();
    assert_eq!(rows_seen, vec![Some(0), Some(1), Some(2)]);
}

#[test]
fn long_values_are_truncated_in_messages() {
    let long = "x".repeat(1000);
    let d = validate(
        vec![row(
            t(&long),
            Value::Int(1),
            t("x"),
            t("ABC"),
            t("a"),
            t(""),
        )],
        CONFIG,
    );
    let message = &d[0].message;
    assert!(
        message.contains(&format!("{}…", "x".repeat(MAX_SHOWN_CHARS))),
        "{message}"
    );
    assert!(!message.contains(&"x".repeat(MAX_SHOWN_CHARS + 1)));
    // Multi-byte characters are cut on a character boundary.
    let snow = "☃".repeat(200);
    let d = validate(
        vec![row(
            t(&snow),
            Value::Int(1),
            t("x"),
            t("ABC"),
            t("a"),
            t(""),
        )],
        CONFIG,
    );
    assert!(
        d[0].message
            .contains(&format!("{}…", "☃".repeat(MAX_SHOWN_CHARS)))
    );
}

#[test]
fn range_works_on_decimal_and_float_and_max_length_on_bytes() {
    let config = r#"{"rules": [
        {"column": "price", "check": "range", "max": 5},
        {"column": "ratio", "check": "range", "min": 1},
        {"column": "blob", "check": "max-length", "max": 2},
        {"column": "age", "check": "one-of", "values": ["1", "2"]}
    ]}"#;
    let d = validate(
        vec![row(
            Value::Null,
            Value::Int(3),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        )],
        config,
    );
    let codes: Vec<&str> = d.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, vec!["range", "range", "max-length", "one-of"]);
    assert!(d[0].message.contains("9.99"));
    assert!(d[2].message.contains("3 bytes long"));
    let mut bad = row(
        Value::Null,
        Value::Int(1),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
    );
    bad[6] = Value::Decimal("n/a".into());
    bad[7] = Value::Float(f64::NAN);
    let d = validate(vec![bad], config);
    assert!(d[0].message.contains("is not a number"), "{}", d[0].message);
    assert_eq!(d[1].code, "range");
}

#[test]
fn email_check_accepts_real_addresses_and_rejects_junk() {
    for good in [
        "a@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.ie",
        "josé@exämple.de",
        "x@a-b.io",
    ] {
        assert!(is_plausible_email(good), "{good}");
    }
    for bad in [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.com",
        "a@b@c.com",
        "a b@c.com",
        "a@b .com",
        ".a@b.com",
        "a.@b.com",
        "a..b@c.com",
        "a@-b.com",
        "a@b-.com",
        "a@b..com",
        "a@1.2.3.4",
        "\"q\"@b.com",
    ] {
        assert!(!is_plausible_email(bad), "{bad}");
    }
    let long_local = format!("{}@b.com", "a".repeat(65));
    assert!(!is_plausible_email(&long_local));
    let long = format!("a@{}.com", "b".repeat(300));
    assert!(!is_plausible_email(&long));
}

fn check_err(config: &str) -> PluginError {
    call::check_schema::<Rules>(&schema(), config).expect_err("should be rejected")
}

#[test]
fn check_schema_rejects_unknown_columns_naming_the_available_ones() {
    match check_err(r#"{"rules": [{"column": "mail", "check": "email"}]}"#) {
        PluginError::UnsupportedSchema(m) => {
            assert!(
                m.contains("\"mail\"") && m.contains("email, age, name"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_schema_rejects_checks_on_wrong_types() {
    for config in [
        r#"{"rules": [{"column": "born", "check": "range", "min": 0}]}"#,
        r#"{"rules": [{"column": "age", "check": "email"}]}"#,
        r#"{"rules": [{"column": "blob", "check": "regex", "pattern": "x"}]}"#,
    ] {
        assert!(
            matches!(check_err(config), PluginError::UnsupportedSchema(_)),
            "{config}"
        );
    }
}

#[test]
fn invalid_regexes_and_oversized_patterns_are_invalid_config() {
    match check_err(r#"{"rules": [{"column": "code", "check": "regex", "pattern": "([A-Z"}]}"#) {
        PluginError::InvalidConfig(m) => assert!(
            m.contains("rules[0]") && m.contains("invalid pattern"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // Compiles to far more than the 1 MiB size limit.
    match check_err(
        r#"{"rules": [{"column": "code", "check": "regex", "pattern": "\\w{1000}{1000}"}]}"#,
    ) {
        PluginError::InvalidConfig(m) => assert!(m.contains("invalid pattern"), "{m}"),
        other => panic!("{other:?}"),
    }
    let huge = format!(
        r#"{{"rules": [{{"column": "code", "check": "regex", "pattern": "{}"}}]}}"#,
        "a".repeat(5000)
    );
    assert!(
        matches!(check_err(&huge), PluginError::InvalidConfig(m) if m.contains("at most 4096"))
    );
}

#[test]
fn malformed_rules_are_invalid_config() {
    for (config, needle) in [
        (r#"{}"#, "missing field `rules`"),
        (
            r#"{"rules": [{"column": "age", "check": "between"}]}"#,
            "between",
        ),
        (
            r#"{"rules": [{"column": "age", "check": "range"}]}"#,
            "needs \"min\"",
        ),
        (
            r#"{"rules": [{"column": "age", "check": "range", "min": 5, "max": 1}]}"#,
            "greater",
        ),
        (
            r#"{"rules": [{"column": "age", "check": "email", "min": 1}]}"#,
            "\"min\" does not apply",
        ),
        (
            r#"{"rules": [{"column": "code", "check": "regex"}]}"#,
            "needs \"pattern\"",
        ),
        (
            r#"{"rules": [{"column": "status", "check": "one-of", "values": []}]}"#,
            "empty",
        ),
        (
            r#"{"rules": [{"column": "title", "check": "max-length", "max": 1.5}]}"#,
            "whole number",
        ),
        (
            r#"{"rules": [{"column": "title", "check": "max-length", "max": 3, "severity": "fatal"}]}"#,
            "fatal",
        ),
        (
            r#"{"rules": [{"column": "title", "check": "not-null", "colour": 1}]}"#,
            "colour",
        ),
    ] {
        match check_err(config) {
            PluginError::InvalidConfig(m) => assert!(m.contains(needle), "{config}: {m}"),
            other => panic!("{config}: {other:?}"),
        }
    }
}

#[test]
fn malformed_batch_is_an_error_not_a_panic() {
    let schema = schema();
    let mut batch = Batch::from_rows(
        &schema,
        vec![row(
            t("a@b.co"),
            Value::Int(1),
            t("x"),
            t("ABC"),
            t("a"),
            t(""),
        )],
    )
    .expect("valid");
    batch.columns.pop();
    assert!(matches!(
        call::validate::<Rules>(&schema, CONFIG, &batch),
        Err(PluginError::Malformed { .. })
    ));
}

#[test]
fn describe_returns_a_json_schema() {
    let info = Rules::describe();
    assert_eq!(info.name, "rules");
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).expect("JSON");
    assert_eq!(schema["required"][0], "rules");
    assert_eq!(info.config_schema, CONFIG_SCHEMA);
}
