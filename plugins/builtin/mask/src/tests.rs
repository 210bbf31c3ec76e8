//! Native tests of the mask logic.

use ferry_plugin_sdk::{
    Batch, ColumnSchema, LogicalType, PluginError, Schema, Transformer, Value, call,
};

use crate::Mask;
use crate::config::{CONFIG_SCHEMA, MaskConfig, Mode};
use crate::mask::{HASH_HEX_CHARS, Hasher, REDACTED};

const KEY: &str = "0123456789abcdef-secret";

fn schema() -> Schema {
    Schema::new(
        "customers",
        vec![
            ColumnSchema::new("id", LogicalType::Int64, false),
            ColumnSchema::new("email", LogicalType::Text, true),
            ColumnSchema::new("name", LogicalType::Text, false),
            ColumnSchema::new("phone", LogicalType::Text, true),
            ColumnSchema::new("ssn", LogicalType::Text, false),
            ColumnSchema::new("profile", LogicalType::Json, true),
            ColumnSchema::new("born", LogicalType::Date, true),
        ],
    )
}

fn batch() -> Batch {
    Batch::from_rows(
        &schema(),
        vec![
            vec![
                Value::Int(1),
                Value::text("Alice.Smith@example.com"),
                Value::text("Alice"),
                Value::text("+33 6 12 34 56 78"),
                Value::text("123-45-6789"),
                Value::Json(r#"{"likes":"cats"}"#.into()),
                Value::Date(3000),
            ],
            vec![
                Value::Int(2),
                Value::Null,
                Value::text("Bob"),
                Value::Null,
                Value::text("987-65-4321"),
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Int(3),
                Value::text("no-at-sign"),
                Value::text("Alice"),
                Value::text(""),
                Value::text("000"),
                Value::Json("[]".into()),
                Value::Date(-1),
            ],
        ],
    )
    .expect("valid batch")
}

fn full_config() -> String {
    format!(
        r#"{{"key": "{KEY}",
            "columns": {{"email": "hash-email", "name": "hash", "phone": "redact", "ssn": "null", "profile": "redact"}},
            "rename": {{"name": "name_hash"}},
            "drop": ["born"]}}"#
    )
}

#[test]
fn hmac_matches_rfc_4231_test_case_2() {
    // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
    let h = Hasher::new(b"Jefe");
    assert_eq!(
        h.hash("what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c7"
    );
}

#[test]
fn hmac_matches_rfc_4231_test_case_6_a_key_longer_than_a_block() {
    let h = Hasher::new(&[0xaa; 131]);
    assert_eq!(
        h.hash("Test Using Larger Than Block-Size Key - Hash Key First"),
        "60e431591ee0b67f0d8a26aacbf5b77f"
    );
}

#[test]
fn hmac_equals_the_reference_implementation_at_every_padding_boundary() {
    use hmac::{Hmac, Mac};
    // Keys: empty, short, one block exactly, longer than a block. Values:
    // every length up to three blocks — the padding fits in the last
    // block below 56 bytes and needs one more from 56 to 63.
    for key in [&b""[..], b"k", &[7u8; 64], &[9u8; 65], &[1u8; 200]] {
        let h = Hasher::new(key);
        for len in 0..=3 * 64 + 1 {
            let value: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            let mut reference = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key");
            reference.update(&value);
            let want: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(
                h.mac(&value),
                want,
                "key of {} bytes, value of {len}",
                key.len()
            );
        }
    }
}

#[test]
fn hashes_are_deterministic_keyed_and_32_hex_chars() {
    let a = Hasher::new(KEY.as_bytes());
    let b = Hasher::new(b"another-key-of-16-bytes");
    assert_eq!(a.hash("Alice"), a.hash("Alice"));
    assert_ne!(a.hash("Alice"), a.hash("Bob"));
    assert_ne!(a.hash("Alice"), b.hash("Alice"));
    let h = a.hash("Alice");
    assert_eq!(h.len(), HASH_HEX_CHARS);
    assert!(
        h.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn hash_email_keeps_the_domain_and_hashes_the_local_part() {
    let h = Hasher::new(KEY.as_bytes());
    assert_eq!(
        h.hash_email("alice@example.com"),
        format!("{}@example.com", h.hash("alice"))
    );
    // The last `@` separates the domain.
    assert_eq!(
        h.hash_email("\"a@b\"@example.org"),
        format!("{}@example.org", h.hash("\"a@b\""))
    );
    // Not an address: nothing is kept in clear.
    assert_eq!(h.hash_email("no-at-sign"), h.hash("no-at-sign"));
}

#[test]
fn output_schema_reflects_masks_renames_and_drops() {
    let out = call::transform_schema::<Mask>(&schema(), &full_config()).expect("plan");
    let cols: Vec<(&str, LogicalType, bool)> = out
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.logical_type, c.nullable))
        .collect();
    assert_eq!(
        cols,
        vec![
            ("id", LogicalType::Int64, false),
            ("email", LogicalType::Text, true),
            ("name_hash", LogicalType::Text, false),
            ("phone", LogicalType::Text, true),
            ("ssn", LogicalType::Text, true),
            // Redacted JSON is no longer JSON.
            ("profile", LogicalType::Text, true),
        ]
    );
    assert_eq!(out.table, "customers");
}

#[test]
fn transform_masks_every_mode_and_keeps_nulls() {
    let schema = schema();
    let config = full_config();
    let out_schema = call::transform_schema::<Mask>(&schema, &config).expect("plan");
    let out = call::transform::<Mask>(&schema, &config, &batch()).expect("transform");
    assert!(out.diagnostics.is_empty());
    let view = out
        .batch
        .view(&out_schema)
        .expect("output matches its schema");
    let h = Hasher::new(KEY.as_bytes());

    let r0 = view.row(0).expect("row 0");
    assert_eq!(r0.int("id"), Some(1));
    assert_eq!(
        r0.text("email"),
        Some(format!("{}@example.com", h.hash("Alice.Smith")).as_str())
    );
    assert_eq!(r0.text("name_hash"), Some(h.hash("Alice").as_str()));
    assert_eq!(r0.text("phone"), Some(REDACTED));
    assert!(r0.is_null("ssn"));
    assert_eq!(r0.text("profile"), Some(REDACTED));
    assert_eq!(r0.get("born"), None);

    let r1 = view.row(1).expect("row 1");
    assert!(r1.is_null("email"));
    assert!(r1.is_null("phone"));
    assert!(r1.is_null("profile"));
    assert_eq!(r1.text("name_hash"), Some(h.hash("Bob").as_str()));

    let r2 = view.row(2).expect("row 2");
    // Same input, same hash: joins on the masked column still work.
    assert_eq!(r2.text("name_hash"), r0.text("name_hash"));
    assert_eq!(r2.text("email"), Some(h.hash("no-at-sign").as_str()));
    assert_eq!(r2.text("phone"), Some(REDACTED));

    // No clear text survives anywhere in the output.
    let debug = format!("{:?}", out.batch);
    for secret in ["Alice", "Smith", "Bob", "123-45", "cats", "+33"] {
        let bytes = format!("{:?}", secret.as_bytes());
        let inner = &bytes[1..bytes.len() - 1];
        assert!(!debug.contains(inner), "{secret} leaked");
    }
}

#[test]
fn null_mode_works_on_any_type() {
    let config = r#"{"columns": {"born": "null", "id": "null"}}"#;
    let schema = schema();
    let out_schema = call::transform_schema::<Mask>(&schema, config).expect("plan");
    assert!(out_schema.columns[0].nullable);
    let out = call::transform::<Mask>(&schema, config, &batch()).expect("transform");
    let view = out.batch.view(&out_schema).expect("valid");
    assert!(view.rows().all(|r| r.is_null("born") && r.is_null("id")));
    assert_eq!(out_schema.columns[6].logical_type, LogicalType::Date);
}

#[test]
fn empty_config_passes_everything_through() {
    let schema = schema();
    assert_eq!(
        call::transform_schema::<Mask>(&schema, "").expect("plan"),
        schema
    );
    let out = call::transform::<Mask>(&schema, "{}", &batch()).expect("transform");
    assert_eq!(out.batch, batch());
}

fn schema_err(config: &str) -> PluginError {
    call::transform_schema::<Mask>(&schema(), config).expect_err("should be rejected")
}

#[test]
fn unknown_columns_are_named_with_the_available_ones() {
    for config in [
        r#"{"columns": {"mail": "null"}}"#,
        r#"{"rename": {"mail": "x"}}"#,
        r#"{"drop": ["mail"]}"#,
    ] {
        match schema_err(config) {
            PluginError::UnsupportedSchema(m) => {
                assert!(m.contains("\"mail\""), "{m}");
                assert!(
                    m.contains("id, email, name, phone, ssn, profile, born"),
                    "{m}"
                );
            }
            other => panic!("{config}: {other:?}"),
        }
    }
}

#[test]
fn hashing_a_non_text_column_is_unsupported() {
    match schema_err(&format!(
        r#"{{"key": "{KEY}", "columns": {{"born": "hash"}}}}"#
    )) {
        PluginError::UnsupportedSchema(m) => {
            assert!(m.contains("\"born\"") && m.contains("date"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        schema_err(r#"{"columns": {"id": "redact"}}"#),
        PluginError::UnsupportedSchema(_)
    ));
}

#[test]
fn hash_modes_need_a_long_enough_key() {
    assert!(matches!(
        schema_err(r#"{"columns": {"name": "hash"}}"#),
        PluginError::InvalidConfig(m) if m.contains("\"key\" is required")
    ));
    assert!(matches!(
        schema_err(r#"{"key": "short", "columns": {"email": "hash-email"}}"#),
        PluginError::InvalidConfig(m) if m.contains("at least 16 bytes")
    ));
}

#[test]
fn contradictory_or_malformed_configs_are_invalid() {
    assert!(matches!(
        schema_err(r#"{"columns": {"ssn": "null"}, "drop": ["ssn"]}"#),
        PluginError::InvalidConfig(m) if m.contains("both masked and dropped")
    ));
    assert!(matches!(
        schema_err(r#"{"rename": {"ssn": "x"}, "drop": ["ssn"]}"#),
        PluginError::InvalidConfig(_)
    ));
    assert!(matches!(
        schema_err(r#"{"rename": {"ssn": ""}}"#),
        PluginError::InvalidConfig(_)
    ));
    assert!(matches!(
        schema_err(r#"{"columns": {"ssn": "scramble"}}"#),
        PluginError::InvalidConfig(m) if m.contains("scramble")
    ));
    assert!(matches!(
        schema_err(r#"{"colums": {}}"#),
        PluginError::InvalidConfig(m) if m.contains("colums")
    ));
    // Renaming onto an existing column would produce two columns of one name.
    assert!(matches!(
        schema_err(r#"{"rename": {"phone": "email"}}"#),
        PluginError::UnsupportedSchema(m) if m.contains("\"email\"")
    ));
}

#[test]
fn malformed_input_batch_is_an_error_not_a_panic() {
    let mut bad = batch();
    bad.num_rows = 7;
    let err = call::transform::<Mask>(&schema(), &full_config(), &bad).expect_err("malformed");
    assert!(matches!(err, PluginError::Malformed { .. }));
}

#[test]
fn config_parses_modes() {
    let c: MaskConfig =
        ferry_plugin_sdk::parse_config(r#"{"columns": {"a": "hash-email"}}"#).expect("ok");
    assert_eq!(c.columns.get("a"), Some(&Mode::HashEmail));
}

#[test]
fn describe_returns_a_json_schema() {
    let info = Mask::describe();
    assert_eq!(info.name, "mask");
    let schema: serde_json::Value = serde_json::from_str(&info.config_schema).expect("JSON");
    assert_eq!(schema["type"], "object");
    assert!(schema["properties"]["columns"].is_object());
    assert_eq!(CONFIG_SCHEMA, info.config_schema);
}
