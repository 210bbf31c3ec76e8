//! Single values: borrowed ([`ValueRef`], read from a batch) and owned
//! ([`Value`], written through a builder).

use crate::types::LogicalType;

/// A value read from a batch, interpreted by its column's logical type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// Null (any type).
    Null,
    /// boolean
    Bool(bool),
    /// int64
    Int(i64),
    /// float64
    Float(f64),
    /// decimal, canonical text
    Decimal(&'a str),
    /// text
    Text(&'a str),
    /// bytes
    Bytes(&'a [u8]),
    /// json text
    Json(&'a str),
    /// date: days since 1970-01-01
    Date(i32),
    /// time: microseconds since midnight
    Time(i64),
    /// timestamp: microseconds since 1970-01-01T00:00:00 (no zone)
    Timestamp(i64),
    /// timestamptz: microseconds since the Unix epoch, UTC
    TimestampTz(i64),
    /// uuid, big-endian
    Uuid(&'a [u8; 16]),
}

impl<'a> ValueRef<'a> {
    /// Whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, ValueRef::Null)
    }

    /// The text of a `Text`, `Decimal` or `Json` value.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            ValueRef::Text(s) | ValueRef::Decimal(s) | ValueRef::Json(s) => Some(s),
            _ => None,
        }
    }

    /// The logical type this value belongs to (`None` for `Null`).
    pub fn logical_type(&self) -> Option<LogicalType> {
        Some(match self {
            ValueRef::Null => return None,
            ValueRef::Bool(_) => LogicalType::Boolean,
            ValueRef::Int(_) => LogicalType::Int64,
            ValueRef::Float(_) => LogicalType::Float64,
            ValueRef::Decimal(_) => LogicalType::Decimal,
            ValueRef::Text(_) => LogicalType::Text,
            ValueRef::Bytes(_) => LogicalType::Bytes,
            ValueRef::Json(_) => LogicalType::Json,
            ValueRef::Date(_) => LogicalType::Date,
            ValueRef::Time(_) => LogicalType::Time,
            ValueRef::Timestamp(_) => LogicalType::Timestamp,
            ValueRef::TimestampTz(_) => LogicalType::TimestampTz,
            ValueRef::Uuid(_) => LogicalType::Uuid,
        })
    }

    /// An owned copy.
    pub fn to_owned_value(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Decimal(s) => Value::Decimal(s.to_string()),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Json(s) => Value::Json(s.to_string()),
            ValueRef::Date(d) => Value::Date(d),
            ValueRef::Time(t) => Value::Time(t),
            ValueRef::Timestamp(t) => Value::Timestamp(t),
            ValueRef::TimestampTz(t) => Value::TimestampTz(t),
            ValueRef::Uuid(u) => Value::Uuid(*u),
        }
    }
}

/// An owned value, for building batches.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Null (any nullable column).
    Null,
    /// boolean
    Bool(bool),
    /// int64
    Int(i64),
    /// float64
    Float(f64),
    /// decimal, canonical text
    Decimal(String),
    /// text
    Text(String),
    /// bytes
    Bytes(Vec<u8>),
    /// json text
    Json(String),
    /// date: days since 1970-01-01
    Date(i32),
    /// time: microseconds since midnight
    Time(i64),
    /// timestamp: microseconds since 1970-01-01T00:00:00 (no zone)
    Timestamp(i64),
    /// timestamptz: microseconds since the Unix epoch, UTC
    TimestampTz(i64),
    /// uuid, big-endian
    Uuid([u8; 16]),
}

impl Value {
    /// Borrow as a [`ValueRef`].
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Decimal(s) => ValueRef::Decimal(s),
            Value::Text(s) => ValueRef::Text(s),
            Value::Bytes(b) => ValueRef::Bytes(b),
            Value::Json(s) => ValueRef::Json(s),
            Value::Date(d) => ValueRef::Date(*d),
            Value::Time(t) => ValueRef::Time(*t),
            Value::Timestamp(t) => ValueRef::Timestamp(*t),
            Value::TimestampTz(t) => ValueRef::TimestampTz(*t),
            Value::Uuid(u) => ValueRef::Uuid(u),
        }
    }

    /// A text value.
    pub fn text(s: impl Into<String>) -> Self {
        Value::Text(s.into())
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        v.to_owned_value()
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
