//! Plain-Rust mirrors of the WIT records and variants other than batches
//! (`ferry:plugin/types@0.1.0` and the parser's records).

use std::fmt;

/// The logical type of a column (WIT `logical-type`).
///
/// Each logical type has exactly one physical representation in
/// [`ColumnData`](crate::ColumnData), see [`LogicalType::physical`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogicalType {
    /// `true`/`false`; stored as `bools`.
    Boolean,
    /// 64-bit signed integer; stored as `ints`.
    Int64,
    /// IEEE 754 double; stored as `floats`.
    Float64,
    /// Exact decimal as canonical text (`-12.340`); stored as `utf8`.
    Decimal,
    /// UTF-8 text; stored as `utf8`.
    Text,
    /// Arbitrary bytes; stored as `binary`.
    Bytes,
    /// JSON document as UTF-8 text; stored as `utf8`.
    Json,
    /// Days since 1970-01-01; stored as `dates`.
    Date,
    /// Microseconds since midnight; stored as `ints`.
    Time,
    /// Microseconds since 1970-01-01T00:00:00, no zone; stored as `ints`.
    Timestamp,
    /// Microseconds since the Unix epoch, UTC; stored as `ints`.
    TimestampTz,
    /// 16 bytes, big-endian; stored as `uuids`.
    Uuid,
}

/// The physical representation of a column (the case of WIT `column-data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhysicalType {
    /// `bools`
    Bools,
    /// `ints`
    Ints,
    /// `floats`
    Floats,
    /// `dates`
    Dates,
    /// `uuids`
    Uuids,
    /// `utf8`
    Utf8,
    /// `binary`
    Binary,
}

impl LogicalType {
    /// The one physical representation of this logical type.
    pub fn physical(self) -> PhysicalType {
        match self {
            LogicalType::Boolean => PhysicalType::Bools,
            LogicalType::Int64
            | LogicalType::Time
            | LogicalType::Timestamp
            | LogicalType::TimestampTz => PhysicalType::Ints,
            LogicalType::Float64 => PhysicalType::Floats,
            LogicalType::Decimal | LogicalType::Text | LogicalType::Json => PhysicalType::Utf8,
            LogicalType::Bytes => PhysicalType::Binary,
            LogicalType::Date => PhysicalType::Dates,
            LogicalType::Uuid => PhysicalType::Uuids,
        }
    }

    /// Whether values are UTF-8 text (text, decimal, json).
    pub fn is_text_like(self) -> bool {
        self.physical() == PhysicalType::Utf8
    }

    /// The WIT name of the type (`int64`, `timestamptz`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::Boolean => "boolean",
            LogicalType::Int64 => "int64",
            LogicalType::Float64 => "float64",
            LogicalType::Decimal => "decimal",
            LogicalType::Text => "text",
            LogicalType::Bytes => "bytes",
            LogicalType::Json => "json",
            LogicalType::Date => "date",
            LogicalType::Time => "time",
            LogicalType::Timestamp => "timestamp",
            LogicalType::TimestampTz => "timestamptz",
            LogicalType::Uuid => "uuid",
        }
    }
}

impl fmt::Display for LogicalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    /// Column name as it appears in the target (case preserved).
    pub name: String,
    /// The column's logical type.
    pub logical_type: LogicalType,
    /// Whether the column may hold nulls.
    pub nullable: bool,
}

impl ColumnSchema {
    /// A column description.
    pub fn new(name: impl Into<String>, logical_type: LogicalType, nullable: bool) -> Self {
        ColumnSchema {
            name: name.into(),
            logical_type,
            nullable,
        }
    }
}

/// The schema of a batch: its columns, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// Name of the table the batch belongs to (informational).
    pub table: String,
    /// Columns in order.
    pub columns: Vec<ColumnSchema>,
}

impl Schema {
    /// A schema for `table` with `columns`.
    pub fn new(table: impl Into<String>, columns: Vec<ColumnSchema>) -> Self {
        Schema {
            table: table.into(),
            columns,
        }
    }

    /// Index of the column called `name` (exact, case-sensitive match).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column names joined with `, ` (for error messages).
    pub fn column_names(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.join(", ")
    }

    /// `UnsupportedSchema` error for a configured column that is missing,
    /// naming the available columns.
    pub fn missing_column(&self, name: &str) -> PluginError {
        PluginError::UnsupportedSchema(format!(
            "column {name:?} not found in table {:?}; available columns: {}",
            self.table,
            self.column_names()
        ))
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// For the operator's information; the row is kept.
    Info,
    /// Suspicious but kept.
    Warning,
    /// The row is rejected and quarantined.
    Error,
}

/// A finding about one row (or one value) of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How serious it is; `Error` rejects the row.
    pub severity: Severity,
    /// Index of the row in the input batch.
    pub row: Option<u32>,
    /// Name of the column, when the finding is about one value.
    pub column: Option<String>,
    /// Stable machine-readable code, e.g. `not-null`.
    pub code: String,
    /// Human-readable explanation for the operator.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about the whole batch; add `.at_row(..)` / `.in_column(..)`.
    pub fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            row: None,
            column: None,
            code: code.into(),
            message: message.into(),
        }
    }

    /// An `Error` diagnostic (rejects the row it is about).
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Error, code, message)
    }

    /// A `Warning` diagnostic.
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(Severity::Warning, code, message)
    }

    /// About input row `row`.
    pub fn at_row(mut self, row: u32) -> Self {
        self.row = Some(row);
        self
    }

    /// About the value in column `column`.
    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

/// Where in a plugin's input an error was found. Every field is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Row index in the input batch.
    pub row: Option<u32>,
    /// Column name.
    pub column: Option<String>,
    /// 1-based line in a parsed file.
    pub line: Option<u32>,
    /// 1-based column (in characters) within `line`.
    pub line_column: Option<u32>,
    /// 0-based byte offset in a parsed file.
    pub byte_offset: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(r) = self.row {
            parts.push(format!("row {r}"));
        }
        if let Some(c) = &self.column {
            parts.push(format!("column {c:?}"));
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
        }
        if let Some(c) = self.line_column {
            parts.push(format!("char {c}"));
        }
        if let Some(b) = self.byte_offset {
            parts.push(format!("byte {b}"));
        }
        if parts.is_empty() {
            f.write_str("unknown location")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Why a plugin call failed (WIT `plugin-error`). Returned, never trapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The configuration JSON was not understood; say which key and why.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The input schema cannot be handled (e.g. a configured column is missing).
    #[error("unsupported schema: {0}")]
    UnsupportedSchema(String),
    /// The input data is malformed at `location`.
    #[error("malformed input at {location}: {message}")]
    Malformed {
        /// What is wrong.
        message: String,
        /// Where it is.
        location: Location,
    },
    /// Anything else: the plugin's own bug or limitation.
    #[error("internal plugin error: {0}")]
    Internal(String),
}

impl PluginError {
    /// `Malformed` at `location`.
    pub fn malformed(message: impl Into<String>, location: Location) -> Self {
        PluginError::Malformed {
            message: message.into(),
            location,
        }
    }

    /// `Internal` with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        PluginError::Internal(message.into())
    }

    /// `InvalidConfig` with `message`.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        PluginError::InvalidConfig(message.into())
    }

    /// `UnsupportedSchema` with `message`.
    pub fn unsupported_schema(message: impl Into<String>) -> Self {
        PluginError::UnsupportedSchema(message.into())
    }
}

/// What a plugin says about itself: its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Stable name, lowercase with dashes, e.g. `mask`.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// One sentence for `ferry plugin list`.
    pub description: String,
    /// JSON Schema of the configuration object.
    pub config_schema: String,
    /// Capabilities the plugin would like granted (ferry 0.1 grants none).
    pub capabilities: Vec<String>,
}

impl PluginInfo {
    /// A manifest with an permissive config schema (`{"type":"object"}`) and
    /// no capabilities. Use `env!("CARGO_PKG_VERSION")` for `version`.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: r#"{"type":"object"}"#.to_string(),
            capabilities: Vec::new(),
        }
    }

    /// Set the JSON Schema of the configuration.
    pub fn with_config_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = schema.into();
        self
    }
}

/// One field value of a parsed record.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// No value.
    Null,
    /// A boolean.
    Boolean(bool),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A JSON document as text.
    Json(String),
}

/// A named field of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Field value.
    pub value: FieldValue,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, value: FieldValue) -> Self {
        Field {
            name: name.into(),
            value,
        }
    }
}

/// One record parsed from a file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedRecord {
    /// The fields, in order.
    pub fields: Vec<Field>,
}

impl ParsedRecord {
    /// A record from its fields.
    pub fn new(fields: Vec<Field>) -> Self {
        ParsedRecord { fields }
    }

    /// The value of the field called `name`.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }
}

/// What the host knows about the file it is about to stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileInfo {
    /// Path relative to the migrated directory, `/`-separated.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type guessed from the extension, if any.
    pub media_type_hint: Option<String>,
}
