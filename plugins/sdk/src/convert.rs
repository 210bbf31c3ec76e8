//! Conversions between the wit-bindgen types and the SDK's own types. The
//! only module (besides `export`) that names the generated bindings. Lists
//! are moved, never copied.

use crate::batch::{Batch, Column, ColumnData};
use crate::bindings::parser::exports::ferry::plugin::parse as wp;
use crate::bindings::transformer::exports::ferry::plugin::transform as wx;
use crate::bindings::transformer::ferry::plugin::{host as wh, types as wt};
use crate::log::LogLevel;
use crate::plugin::TransformOutput;
use crate::types::{
    ColumnSchema, Diagnostic, Field, FieldValue, FileInfo, Location, LogicalType, ParsedRecord,
    PluginError, PluginInfo, Schema, Severity,
};

impl From<wt::LogicalType> for LogicalType {
    fn from(t: wt::LogicalType) -> Self {
        match t {
            wt::LogicalType::Boolean => LogicalType::Boolean,
            wt::LogicalType::Int64 => LogicalType::Int64,
            wt::LogicalType::Float64 => LogicalType::Float64,
            wt::LogicalType::Decimal => LogicalType::Decimal,
            wt::LogicalType::Text => LogicalType::Text,
            wt::LogicalType::Bytes => LogicalType::Bytes,
            wt::LogicalType::Json => LogicalType::Json,
            wt::LogicalType::Date => LogicalType::Date,
            wt::LogicalType::Time => LogicalType::Time,
            wt::LogicalType::Timestamp => LogicalType::Timestamp,
            wt::LogicalType::Timestamptz => LogicalType::TimestampTz,
            wt::LogicalType::Uuid => LogicalType::Uuid,
        }
    }
}

impl From<LogicalType> for wt::LogicalType {
    fn from(t: LogicalType) -> Self {
        match t {
            LogicalType::Boolean => wt::LogicalType::Boolean,
            LogicalType::Int64 => wt::LogicalType::Int64,
            LogicalType::Float64 => wt::LogicalType::Float64,
            LogicalType::Decimal => wt::LogicalType::Decimal,
            LogicalType::Text => wt::LogicalType::Text,
            LogicalType::Bytes => wt::LogicalType::Bytes,
            LogicalType::Json => wt::LogicalType::Json,
            LogicalType::Date => wt::LogicalType::Date,
            LogicalType::Time => wt::LogicalType::Time,
            LogicalType::Timestamp => wt::LogicalType::Timestamp,
            LogicalType::TimestampTz => wt::LogicalType::Timestamptz,
            LogicalType::Uuid => wt::LogicalType::Uuid,
        }
    }
}

impl From<wt::ColumnSchema> for ColumnSchema {
    fn from(c: wt::ColumnSchema) -> Self {
        ColumnSchema {
            name: c.name,
            logical_type: c.logical_type.into(),
            nullable: c.nullable,
        }
    }
}

impl From<ColumnSchema> for wt::ColumnSchema {
    fn from(c: ColumnSchema) -> Self {
        wt::ColumnSchema {
            name: c.name,
            logical_type: c.logical_type.into(),
            nullable: c.nullable,
        }
    }
}

impl From<wt::Schema> for Schema {
    fn from(s: wt::Schema) -> Self {
        Schema {
            table: s.table,
            columns: s.columns.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Schema> for wt::Schema {
    fn from(s: Schema) -> Self {
        wt::Schema {
            table: s.table,
            columns: s.columns.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wt::ColumnData> for ColumnData {
    fn from(d: wt::ColumnData) -> Self {
        match d {
            wt::ColumnData::Bools(v) => ColumnData::Bools(v),
            wt::ColumnData::Ints(v) => ColumnData::Ints(v),
            wt::ColumnData::Floats(v) => ColumnData::Floats(v),
            wt::ColumnData::Dates(v) => ColumnData::Dates(v),
            wt::ColumnData::Uuids(v) => ColumnData::Uuids(v),
            wt::ColumnData::Utf8(w) => ColumnData::Utf8 {
                data: w.data,
                offsets: w.offsets,
            },
            wt::ColumnData::Binary(w) => ColumnData::Binary {
                data: w.data,
                offsets: w.offsets,
            },
        }
    }
}

impl From<ColumnData> for wt::ColumnData {
    fn from(d: ColumnData) -> Self {
        match d {
            ColumnData::Bools(v) => wt::ColumnData::Bools(v),
            ColumnData::Ints(v) => wt::ColumnData::Ints(v),
            ColumnData::Floats(v) => wt::ColumnData::Floats(v),
            ColumnData::Dates(v) => wt::ColumnData::Dates(v),
            ColumnData::Uuids(v) => wt::ColumnData::Uuids(v),
            ColumnData::Utf8 { data, offsets } => {
                wt::ColumnData::Utf8(wt::VarWidth { data, offsets })
            }
            ColumnData::Binary { data, offsets } => {
                wt::ColumnData::Binary(wt::VarWidth { data, offsets })
            }
        }
    }
}

impl From<wt::Column> for Column {
    fn from(c: wt::Column) -> Self {
        Column {
            validity: c.validity,
            data: c.data.into(),
        }
    }
}

impl From<Column> for wt::Column {
    fn from(c: Column) -> Self {
        wt::Column {
            validity: c.validity,
            data: c.data.into(),
        }
    }
}

impl From<wt::Batch> for Batch {
    fn from(b: wt::Batch) -> Self {
        Batch {
            num_rows: b.num_rows,
            columns: b.columns.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Batch> for wt::Batch {
    fn from(b: Batch) -> Self {
        wt::Batch {
            num_rows: b.num_rows,
            columns: b.columns.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Severity> for wt::Severity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => wt::Severity::Info,
            Severity::Warning => wt::Severity::Warning,
            Severity::Error => wt::Severity::Error,
        }
    }
}

impl From<Diagnostic> for wt::Diagnostic {
    fn from(d: Diagnostic) -> Self {
        wt::Diagnostic {
            severity: d.severity.into(),
            row: d.row,
            column: d.column,
            code: d.code,
            message: d.message,
        }
    }
}

impl From<Location> for wt::Location {
    fn from(l: Location) -> Self {
        wt::Location {
            row: l.row,
            column: l.column,
            line: l.line,
            line_column: l.line_column,
            byte_offset: l.byte_offset,
        }
    }
}

impl From<PluginError> for wt::PluginError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::InvalidConfig(m) => wt::PluginError::InvalidConfig(m),
            PluginError::UnsupportedSchema(m) => wt::PluginError::UnsupportedSchema(m),
            PluginError::Malformed { message, location } => {
                wt::PluginError::MalformedInput(wt::Malformed {
                    message,
                    location: location.into(),
                })
            }
            PluginError::Internal(m) => wt::PluginError::Internal(m),
        }
    }
}

impl From<PluginInfo> for wt::PluginInfo {
    fn from(i: PluginInfo) -> Self {
        wt::PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
            config_schema: i.config_schema,
            capabilities: i.capabilities,
        }
    }
}

impl From<TransformOutput> for wx::TransformOutput {
    fn from(o: TransformOutput) -> Self {
        wx::TransformOutput {
            batch: o.batch.into(),
            diagnostics: o.diagnostics.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<FieldValue> for wp::FieldValue {
    fn from(v: FieldValue) -> Self {
        match v {
            FieldValue::Null => wp::FieldValue::Null,
            FieldValue::Boolean(b) => wp::FieldValue::Boolean(b),
            FieldValue::Integer(i) => wp::FieldValue::Integer(i),
            FieldValue::Float(f) => wp::FieldValue::Float(f),
            FieldValue::Text(s) => wp::FieldValue::Text(s),
            FieldValue::Bytes(b) => wp::FieldValue::Bytes(b),
            FieldValue::Json(s) => wp::FieldValue::Json(s),
        }
    }
}

impl From<Field> for wp::Field {
    fn from(f: Field) -> Self {
        wp::Field {
            name: f.name,
            value: f.value.into(),
        }
    }
}

impl From<ParsedRecord> for wp::ParsedRecord {
    fn from(r: ParsedRecord) -> Self {
        wp::ParsedRecord {
            fields: r.fields.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wp::FileInfo> for FileInfo {
    fn from(f: wp::FileInfo) -> Self {
        FileInfo {
            name: f.name,
            size: f.size,
            media_type_hint: f.media_type_hint,
        }
    }
}

impl From<LogLevel> for wh::LogLevel {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Trace => wh::LogLevel::Trace,
            LogLevel::Debug => wh::LogLevel::Debug,
            LogLevel::Info => wh::LogLevel::Info,
            LogLevel::Warn => wh::LogLevel::Warn,
            LogLevel::Error => wh::LogLevel::Error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_through_wit_types_by_moving_buffers() {
        let batch = Batch::new(
            1,
            vec![Column {
                validity: Some(vec![1]),
                data: ColumnData::Utf8 {
                    data: b"hello".to_vec(),
                    offsets: vec![0, 5],
                },
            }],
        );
        let expected = batch.clone();
        let before = match &batch.columns[0].data {
            ColumnData::Utf8 { data, .. } => data.as_ptr(),
            _ => std::ptr::null(),
        };
        let back: Batch = wt::Batch::from(batch).into();
        assert_eq!(back, expected);
        match &back.columns[0].data {
            ColumnData::Utf8 { data, .. } => assert_eq!(data.as_ptr(), before),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_logical_type_round_trips() {
        use LogicalType::*;
        for t in [
            Boolean,
            Int64,
            Float64,
            Decimal,
            Text,
            Bytes,
            Json,
            Date,
            Time,
            Timestamp,
            TimestampTz,
            Uuid,
        ] {
            assert_eq!(LogicalType::from(wt::LogicalType::from(t)), t);
        }
    }
}
