//! `ferry:plugin@0.1.0`, frozen in `wit/since_v0.1.0/`: its bindings, the
//! conversions between its types and the host's, and the version traits of
//! [`super`] implemented on the generated types.

#![allow(missing_docs)]

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker, ResourceAny};

use super::{Call, Contract, Description, FileInfo, Pre, Records};
use crate::model::{self, Batch, ColumnData, ColumnValues, LogicalType, Schema, VarWidth};
use crate::plugin::instance::{FieldValue, ParsedRecord};
use crate::plugin::runtime::{HostState, LogLevel};
use crate::plugin::{GuestError, Location, PluginKind};

mod transformer {
    wasmtime::component::bindgen!({
        world: "transformer",
        path: "../wit/since_v0.1.0",
        exports: { default: async },
    });
}

mod validator {
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

mod parser {
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

use parser::exports::ferry::plugin::parse as wp;
use transformer::ferry::plugin::{host, types as wit};

pub(crate) const CONTRACT: Contract = Contract {
    version: "0.1.0",
    add_to_linker,
    pre,
};

fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    host::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)
}

fn pre(kind: PluginKind, pre: InstancePre<HostState>) -> wasmtime::Result<Pre> {
    Ok(match kind {
        PluginKind::Transformer => {
            Pre::Transformer(Arc::new(transformer::TransformerPre::new(pre)?))
        }
        PluginKind::Validator => Pre::Validator(Arc::new(validator::ValidatorPre::new(pre)?)),
        PluginKind::Parser => Pre::Parser(Arc::new(parser::ParserPre::new(pre)?)),
    })
}

// ---- what the host provides ----

impl wit::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        let level = match level {
            host::LogLevel::Trace => LogLevel::Trace,
            host::LogLevel::Debug => LogLevel::Debug,
            host::LogLevel::Info => LogLevel::Info,
            host::LogLevel::Warn => LogLevel::Warn,
            host::LogLevel::Error => LogLevel::Error,
        };
        self.log(level, message);
    }
}

// ---- the exports, behind the version traits ----

impl super::Instantiate<Box<dyn super::Transformer>> for transformer::TransformerPre<HostState> {
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
    ) -> Call<'a, Box<dyn super::Transformer>> {
        Box::pin(async move {
            let bindings: Box<dyn super::Transformer> =
                Box::new(self.instantiate_async(store).await?);
            Ok(bindings)
        })
    }
}

impl super::Describe for transformer::Transformer {
    fn describe<'a>(&'a self, store: &'a mut Store<HostState>) -> Call<'a, Description> {
        Box::pin(async move {
            let info = self.ferry_plugin_transform().call_describe(store).await?;
            Ok(info.into())
        })
    }
}

impl super::Transformer for transformer::Transformer {
    fn transform_schema<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
    ) -> Call<'a, Result<Schema, GuestError>> {
        Box::pin(async move {
            let input = wit::Schema::from(input);
            let out = self
                .ferry_plugin_transform()
                .call_transform_schema(store, &input, config)
                .await?;
            Ok(out.map(Schema::from).map_err(GuestError::from))
        })
    }

    fn transform<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
        rows: &'a mut Batch,
    ) -> Call<'a, Result<(Batch, Vec<model::Diagnostic>), GuestError>> {
        Box::pin(async move {
            let input = wit::Schema::from(input);
            let lent = wit::Batch::from(std::mem::replace(rows, empty_batch()));
            let out = self
                .ferry_plugin_transform()
                .call_transform(store, &input, config, &lent)
                .await;
            *rows = Batch::from(lent);
            Ok(out?
                .map(|o| {
                    let diagnostics = o.diagnostics.into_iter().map(Into::into).collect();
                    (Batch::from(o.batch), diagnostics)
                })
                .map_err(GuestError::from))
        })
    }
}

impl super::Instantiate<Box<dyn super::Validator>> for validator::ValidatorPre<HostState> {
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
    ) -> Call<'a, Box<dyn super::Validator>> {
        Box::pin(async move {
            let bindings: Box<dyn super::Validator> =
                Box::new(self.instantiate_async(store).await?);
            Ok(bindings)
        })
    }
}

impl super::Describe for validator::Validator {
    fn describe<'a>(&'a self, store: &'a mut Store<HostState>) -> Call<'a, Description> {
        Box::pin(async move {
            let info = self.ferry_plugin_validate().call_describe(store).await?;
            Ok(info.into())
        })
    }
}

impl super::Validator for validator::Validator {
    fn check_schema<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
    ) -> Call<'a, Result<(), GuestError>> {
        Box::pin(async move {
            let input = wit::Schema::from(input);
            let out = self
                .ferry_plugin_validate()
                .call_check_schema(store, &input, config)
                .await?;
            Ok(out.map_err(GuestError::from))
        })
    }

    fn validate<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        input: &'a Schema,
        config: &'a str,
        rows: &'a mut Batch,
    ) -> Call<'a, Result<Vec<model::Diagnostic>, GuestError>> {
        Box::pin(async move {
            let input = wit::Schema::from(input);
            let lent = wit::Batch::from(std::mem::replace(rows, empty_batch()));
            let out = self
                .ferry_plugin_validate()
                .call_validate(store, &input, config, &lent)
                .await;
            *rows = Batch::from(lent);
            Ok(out?
                .map(|d| d.into_iter().map(Into::into).collect())
                .map_err(GuestError::from))
        })
    }
}

impl super::Instantiate<Box<dyn super::Parser>> for parser::ParserPre<HostState> {
    fn instantiate<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
    ) -> Call<'a, Box<dyn super::Parser>> {
        Box::pin(async move {
            let bindings: Box<dyn super::Parser> = Box::new(self.instantiate_async(store).await?);
            Ok(bindings)
        })
    }
}

impl super::Describe for parser::Parser {
    fn describe<'a>(&'a self, store: &'a mut Store<HostState>) -> Call<'a, Description> {
        Box::pin(async move {
            let info = self.ferry_plugin_parse().call_describe(store).await?;
            Ok(info.into())
        })
    }
}

impl super::Parser for parser::Parser {
    fn open<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        file: FileInfo<'a>,
        config: &'a str,
    ) -> Call<'a, Result<ResourceAny, GuestError>> {
        Box::pin(async move {
            let file = wp::FileInfo {
                name: file.name.to_string(),
                size: file.size,
                media_type_hint: file.media_type.map(str::to_string),
            };
            let out = self
                .ferry_plugin_parse()
                .call_open(store, &file, config)
                .await?;
            Ok(out.map_err(GuestError::from))
        })
    }

    fn feed<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        session: ResourceAny,
        chunk: &'a [u8],
    ) -> Call<'a, Result<Records, GuestError>> {
        Box::pin(async move {
            let out = self
                .ferry_plugin_parse()
                .session()
                .call_feed(store, session, chunk)
                .await?;
            Ok(out.map(records).map_err(GuestError::from))
        })
    }

    fn finish<'a>(
        &'a self,
        store: &'a mut Store<HostState>,
        session: ResourceAny,
    ) -> Call<'a, Result<Records, GuestError>> {
        Box::pin(async move {
            let out = self
                .ferry_plugin_parse()
                .session()
                .call_finish(store, session)
                .await?;
            Ok(out.map(records).map_err(GuestError::from))
        })
    }
}

// ---- conversions ----

fn empty_batch() -> Batch {
    Batch {
        num_rows: 0,
        columns: Vec::new(),
    }
}

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

impl From<wit::PluginError> for GuestError {
    fn from(e: wit::PluginError) -> Self {
        match e {
            wit::PluginError::InvalidConfig(m) => GuestError::InvalidConfig(m),
            wit::PluginError::UnsupportedSchema(m) => GuestError::UnsupportedSchema(m),
            wit::PluginError::MalformedInput(m) => GuestError::MalformedInput {
                message: m.message,
                location: Location {
                    row: m.location.row,
                    column: m.location.column,
                    line: m.location.line,
                    line_column: m.location.line_column,
                    byte_offset: m.location.byte_offset,
                },
            },
            wit::PluginError::Internal(m) => GuestError::Internal(m),
        }
    }
}

impl From<wit::PluginInfo> for Description {
    fn from(i: wit::PluginInfo) -> Self {
        Description {
            name: i.name,
            version: i.version,
            description: i.description,
            config_schema: i.config_schema,
            capabilities: i.capabilities,
        }
    }
}

/// A parser's records in the host's terms; a json field must hold JSON.
fn records(records: Vec<wp::ParsedRecord>) -> Records {
    records
        .into_iter()
        .map(|r| {
            r.fields
                .into_iter()
                .map(|f| {
                    let value = match f.value {
                        wp::FieldValue::Null => FieldValue::Null,
                        wp::FieldValue::Boolean(b) => FieldValue::Bool(b),
                        wp::FieldValue::Integer(i) => FieldValue::Int(i),
                        wp::FieldValue::Float(x) => FieldValue::Float(x),
                        wp::FieldValue::Text(s) => FieldValue::Text(s),
                        wp::FieldValue::Bytes(b) => FieldValue::Bytes(b),
                        wp::FieldValue::Json(s) => FieldValue::from_json_text(s)
                            .map_err(|e| format!("field `{}` is not valid JSON: {e}", f.name))?,
                    };
                    Ok((f.name, value))
                })
                .collect::<Result<ParsedRecord, String>>()
        })
        .collect()
}
