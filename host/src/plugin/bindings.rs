//! Generated bindings for the three worlds of `ferry:plugin@0.1.0`, and the
//! conversions between the generated types and ferry's own model.
//!
//! This module and its siblings are the only code that names wasmtime. The
//! engine only sees [`crate::model`] types.

#![allow(missing_docs)]

pub mod transformer {
    wasmtime::component::bindgen!({
        world: "transformer",
        path: "../wit/since_v0.1.0",
        exports: { default: async },
    });
}

pub mod validator {
    wasmtime::component::bindgen!({
        world: "validator",
        path: "../wit/since_v0.1.0",
        exports: { default: async },
        with: {
            "ferry:plugin/types": super::transformer::ferry::plugin::types,
            "ferry:plugin/host": super::transformer::ferry::plugin::host,
        },
    });
}

pub mod parser {
    wasmtime::component::bindgen!({
        world: "parser",
        path: "../wit/since_v0.1.0",
        exports: { default: async },
        with: {
            "ferry:plugin/types": super::transformer::ferry::plugin::types,
            "ferry:plugin/host": super::transformer::ferry::plugin::host,
        },
    });
}

pub use transformer::ferry::plugin::types as wit;

use crate::model::{self, Batch, ColumnData, ColumnValues, LogicalType, Schema, VarWidth};

impl From<LogicalType> for wit::LogicalType {
    fn from(t: LogicalType) -> Self {
        match t {
            LogicalType::Boolean => wit::LogicalType::Boolean,
            LogicalType::Int64 => wit::LogicalType::Int64,
            LogicalType::Float64 => wit::LogicalType::Float64,
            LogicalType::Decimal => wit::LogicalType::Decimal,
            LogicalType::Text => wit::LogicalType::Text,
            LogicalType::Bytes => wit::LogicalType::Bytes,
            LogicalType::Json => wit::LogicalType::Json,
            LogicalType::Date => wit::LogicalType::Date,
            LogicalType::Time => wit::LogicalType::Time,
            LogicalType::Timestamp => wit::LogicalType::Timestamp,
            LogicalType::Timestamptz => wit::LogicalType::Timestamptz,
            LogicalType::Uuid => wit::LogicalType::Uuid,
        }
    }
}

impl From<wit::LogicalType> for LogicalType {
    fn from(t: wit::LogicalType) -> Self {
        match t {
            wit::LogicalType::Boolean => LogicalType::Boolean,
            wit::LogicalType::Int64 => LogicalType::Int64,
            wit::LogicalType::Float64 => LogicalType::Float64,
            wit::LogicalType::Decimal => LogicalType::Decimal,
            wit::LogicalType::Text => LogicalType::Text,
            wit::LogicalType::Bytes => LogicalType::Bytes,
            wit::LogicalType::Json => LogicalType::Json,
            wit::LogicalType::Date => LogicalType::Date,
            wit::LogicalType::Time => LogicalType::Time,
            wit::LogicalType::Timestamp => LogicalType::Timestamp,
            wit::LogicalType::Timestamptz => LogicalType::Timestamptz,
            wit::LogicalType::Uuid => LogicalType::Uuid,
        }
    }
}

impl From<&Schema> for wit::Schema {
    fn from(s: &Schema) -> Self {
        wit::Schema {
            table: s.table.clone(),
            columns: s
                .columns
                .iter()
                .map(|c| wit::ColumnSchema {
                    name: c.name.clone(),
                    logical_type: c.logical_type.into(),
                    nullable: c.nullable,
                })
                .collect(),
        }
    }
}

impl From<wit::Schema> for Schema {
    fn from(s: wit::Schema) -> Self {
        Schema {
            table: s.table,
            columns: s
                .columns
                .into_iter()
                .map(|c| model::Column {
                    name: c.name,
                    logical_type: c.logical_type.into(),
                    nullable: c.nullable,
                })
                .collect(),
        }
    }
}

/// Moves a host batch into the generated type (no copy of the buffers).
impl From<Batch> for wit::Batch {
    fn from(b: Batch) -> Self {
        wit::Batch {
            // Batches are built by the host with at most `u32::MAX` rows.
            num_rows: u32::try_from(b.num_rows).unwrap_or(u32::MAX),
            columns: b
                .columns
                .into_iter()
                .map(|c| wit::Column {
                    validity: c.validity,
                    data: match c.data {
                        ColumnData::Bools(v) => wit::ColumnData::Bools(v),
                        ColumnData::Ints(v) => wit::ColumnData::Ints(v),
                        ColumnData::Floats(v) => wit::ColumnData::Floats(v),
                        ColumnData::Dates(v) => wit::ColumnData::Dates(v),
                        ColumnData::Uuids(v) => wit::ColumnData::Uuids(v),
                        ColumnData::Utf8(v) => wit::ColumnData::Utf8(wit::VarWidth {
                            data: v.data,
                            offsets: v.offsets,
                        }),
                        ColumnData::Binary(v) => wit::ColumnData::Binary(wit::VarWidth {
                            data: v.data,
                            offsets: v.offsets,
                        }),
                    },
                })
                .collect(),
        }
    }
}

/// Moves a plugin's batch into the host type. The result is unchecked:
/// callers run [`Batch::check`] against the declared schema.
impl From<wit::Batch> for Batch {
    fn from(b: wit::Batch) -> Self {
        Batch {
            num_rows: b.num_rows as usize,
            columns: b
                .columns
                .into_iter()
                .map(|c| ColumnValues {
                    validity: c.validity,
                    data: match c.data {
                        wit::ColumnData::Bools(v) => ColumnData::Bools(v),
                        wit::ColumnData::Ints(v) => ColumnData::Ints(v),
                        wit::ColumnData::Floats(v) => ColumnData::Floats(v),
                        wit::ColumnData::Dates(v) => ColumnData::Dates(v),
                        wit::ColumnData::Uuids(v) => ColumnData::Uuids(v),
                        wit::ColumnData::Utf8(v) => ColumnData::Utf8(VarWidth {
                            data: v.data,
                            offsets: v.offsets,
                        }),
                        wit::ColumnData::Binary(v) => ColumnData::Binary(VarWidth {
                            data: v.data,
                            offsets: v.offsets,
                        }),
                    },
                })
                .collect(),
        }
    }
}

impl From<wit::Diagnostic> for model::Diagnostic {
    fn from(d: wit::Diagnostic) -> Self {
        model::Diagnostic {
            severity: match d.severity {
                wit::Severity::Info => model::Severity::Info,
                wit::Severity::Warning => model::Severity::Warning,
                wit::Severity::Error => model::Severity::Error,
            },
            row: d.row,
            column: d.column,
            code: d.code,
            message: d.message,
        }
    }
}

impl From<wit::PluginError> for super::GuestError {
    fn from(e: wit::PluginError) -> Self {
        use super::GuestError as G;
        match e {
            wit::PluginError::InvalidConfig(m) => G::InvalidConfig(m),
            wit::PluginError::UnsupportedSchema(m) => G::UnsupportedSchema(m),
            wit::PluginError::MalformedInput(m) => G::MalformedInput {
                message: m.message,
                location: super::Location {
                    row: m.location.row,
                    column: m.location.column,
                    line: m.location.line,
                    line_column: m.location.line_column,
                    byte_offset: m.location.byte_offset,
                },
            },
            wit::PluginError::Internal(m) => G::Internal(m),
        }
    }
}
