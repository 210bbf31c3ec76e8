//! Builders for output batches: per column ([`ColumnBuilder`]) and per row
//! ([`BatchBuilder`], [`RowBuilder`]). Every value is checked against the
//! schema; a mismatch is a [`PluginError::Internal`] (the plugin's own bug),
//! never a panic, and a rejected row leaves the builder unchanged.

use crate::batch::{Batch, Column, ColumnData};
use crate::types::{ColumnSchema, LogicalType, PluginError, Schema};
use crate::value::{Value, ValueRef};
use crate::view::Row;

/// Builds one column of values of a given logical type.
#[derive(Debug, Clone)]
pub struct ColumnBuilder {
    name: String,
    logical_type: LogicalType,
    nullable: bool,
    validity: Vec<u8>,
    any_null: bool,
    len: usize,
    data: ColumnData,
}

impl ColumnBuilder {
    /// An empty column for `column`.
    pub fn new(column: &ColumnSchema) -> Self {
        ColumnBuilder {
            name: column.name.clone(),
            logical_type: column.logical_type,
            nullable: column.nullable,
            validity: Vec::new(),
            any_null: false,
            len: 0,
            data: ColumnData::empty(column.logical_type.physical()),
        }
    }

    /// An empty column with room for `rows` values.
    pub fn with_capacity(column: &ColumnSchema, rows: usize) -> Self {
        let mut b = ColumnBuilder::new(column);
        b.validity.reserve(rows.div_ceil(8));
        match &mut b.data {
            ColumnData::Bools(v) => v.reserve(rows),
            ColumnData::Ints(v) => v.reserve(rows),
            ColumnData::Floats(v) => v.reserve(rows),
            ColumnData::Dates(v) => v.reserve(rows),
            ColumnData::Uuids(v) => v.reserve(rows.saturating_mul(16)),
            ColumnData::Utf8 { offsets, .. } | ColumnData::Binary { offsets, .. } => {
                offsets.reserve(rows)
            }
        }
        b
    }

    /// Number of values pushed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `value` can be pushed: it matches the logical type (or is a
    /// null in a nullable column) and var-width data stays under 4 GiB.
    pub fn check(&self, value: ValueRef<'_>) -> Result<(), PluginError> {
        let ok = match value {
            ValueRef::Null => self.nullable,
            other => other.logical_type() == Some(self.logical_type),
        };
        if !ok {
            let found = match value.logical_type() {
                Some(t) => t.name(),
                None => "null",
            };
            let wanted = if self.nullable { "" } else { "non-null " };
            return Err(PluginError::Internal(format!(
                "column {:?} takes {wanted}{} values, got {found}",
                self.name, self.logical_type
            )));
        }
        if let (ColumnData::Utf8 { data, .. } | ColumnData::Binary { data, .. }, Some(len)) =
            (&self.data, var_len(value))
        {
            // Offsets are u32 (WIT `var-width`): one column of one batch holds
            // at most 4 GiB of data. Split the batch to produce more.
            if data.len().saturating_add(len) > u32::MAX as usize {
                return Err(PluginError::Internal(format!(
                    "column {:?} would exceed 4 GiB of data in one batch",
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// Append a value, after [`ColumnBuilder::check`].
    pub fn push(&mut self, value: ValueRef<'_>) -> Result<(), PluginError> {
        self.check(value)?;
        self.push_checked(value);
        Ok(())
    }

    /// Append a null (placeholder data, validity bit cleared).
    pub fn push_null(&mut self) -> Result<(), PluginError> {
        self.push(ValueRef::Null)
    }

    fn push_checked(&mut self, value: ValueRef<'_>) {
        let bit = self.len % 8;
        if bit == 0 {
            self.validity.push(0);
        }
        if let Some(last) = self.validity.last_mut()
            && !value.is_null()
        {
            *last |= 1 << bit;
        }
        self.any_null |= value.is_null();
        self.len += 1;
        match (&mut self.data, value) {
            (ColumnData::Bools(v), ValueRef::Bool(b)) => v.push(b),
            (ColumnData::Bools(v), _) => v.push(false),
            (
                ColumnData::Ints(v),
                ValueRef::Int(i)
                | ValueRef::Time(i)
                | ValueRef::Timestamp(i)
                | ValueRef::TimestampTz(i),
            ) => v.push(i),
            (ColumnData::Ints(v), _) => v.push(0),
            (ColumnData::Floats(v), ValueRef::Float(f)) => v.push(f),
            (ColumnData::Floats(v), _) => v.push(0.0),
            (ColumnData::Dates(v), ValueRef::Date(d)) => v.push(d),
            (ColumnData::Dates(v), _) => v.push(0),
            (ColumnData::Uuids(v), ValueRef::Uuid(u)) => v.extend_from_slice(u),
            (ColumnData::Uuids(v), _) => v.extend_from_slice(&[0; 16]),
            (ColumnData::Utf8 { data, offsets }, value) => {
                if let Some(s) = value.as_str() {
                    data.extend_from_slice(s.as_bytes());
                }
                // `check` kept the length within u32.
                offsets.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
            }
            (ColumnData::Binary { data, offsets }, value) => {
                if let ValueRef::Bytes(b) = value {
                    data.extend_from_slice(b);
                }
                offsets.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
            }
        }
    }

    /// The finished column (no bitmap when there was no null).
    pub fn finish(self) -> Column {
        Column {
            validity: self.any_null.then_some(self.validity),
            data: self.data,
        }
    }
}

fn var_len(value: ValueRef<'_>) -> Option<usize> {
    match value {
        ValueRef::Bytes(b) => Some(b.len()),
        other => other.as_str().map(str::len),
    }
}

/// Builds a batch row by row.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    schema: Schema,
    columns: Vec<ColumnBuilder>,
    num_rows: u32,
}

impl BatchBuilder {
    /// An empty batch of `schema`.
    pub fn new(schema: &Schema) -> Self {
        BatchBuilder::with_capacity(schema, 0)
    }

    /// An empty batch of `schema` with room for `rows` rows.
    pub fn with_capacity(schema: &Schema, rows: usize) -> Self {
        BatchBuilder {
            schema: schema.clone(),
            columns: schema
                .columns
                .iter()
                .map(|c| ColumnBuilder::with_capacity(c, rows))
                .collect(),
            num_rows: 0,
        }
    }

    /// The schema being built.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of rows pushed so far.
    pub fn num_rows(&self) -> u32 {
        self.num_rows
    }

    /// Append a row of owned values, one per column in schema order.
    pub fn push_row(&mut self, values: &[Value]) -> Result<(), PluginError> {
        let refs: Vec<ValueRef<'_>> = values.iter().map(Value::as_ref).collect();
        self.push_row_refs(&refs)
    }

    /// Append a row of borrowed values, one per column in schema order.
    pub fn push_row_refs(&mut self, values: &[ValueRef<'_>]) -> Result<(), PluginError> {
        if values.len() != self.columns.len() {
            return Err(PluginError::Internal(format!(
                "row has {} values but output schema has {} columns",
                values.len(),
                self.columns.len()
            )));
        }
        if self.num_rows == u32::MAX {
            return Err(PluginError::internal("batch would exceed u32::MAX rows"));
        }
        for (col, &v) in self.columns.iter().zip(values) {
            col.check(v)?;
        }
        for (col, &v) in self.columns.iter_mut().zip(values) {
            col.push_checked(v);
        }
        self.num_rows += 1;
        Ok(())
    }

    /// Copy a whole input row (same column count and types, by position).
    pub fn push_from(&mut self, row: &Row<'_>) -> Result<(), PluginError> {
        let values: Vec<ValueRef<'_>> = row.values().collect();
        self.push_row_refs(&values)
    }

    /// Copy an input row by position, replacing the values of the named
    /// output columns.
    pub fn push_from_with(
        &mut self,
        row: &Row<'_>,
        replacements: &[(&str, Value)],
    ) -> Result<(), PluginError> {
        let mut values: Vec<ValueRef<'_>> = row.values().collect();
        for (name, value) in replacements {
            let idx = self.index_of(name)?;
            match values.get_mut(idx) {
                Some(slot) => *slot = value.as_ref(),
                None => {
                    return Err(PluginError::Internal(format!(
                        "input row has no column at position {idx} ({name:?})"
                    )));
                }
            }
        }
        self.push_row_refs(&values)
    }

    /// Start a row set column by column; unset columns are null.
    pub fn row(&mut self) -> RowBuilder<'_> {
        let n = self.columns.len();
        RowBuilder {
            builder: self,
            values: vec![Value::Null; n],
            error: None,
        }
    }

    fn index_of(&self, name: &str) -> Result<usize, PluginError> {
        self.schema.index_of(name).ok_or_else(|| {
            PluginError::Internal(format!(
                "output schema has no column {name:?}; it has: {}",
                self.schema.column_names()
            ))
        })
    }

    /// The finished batch.
    pub fn finish(self) -> Result<Batch, PluginError> {
        Ok(Batch {
            num_rows: self.num_rows,
            columns: self
                .columns
                .into_iter()
                .map(ColumnBuilder::finish)
                .collect(),
        })
    }
}

/// One row being built by name; see [`BatchBuilder::row`].
#[derive(Debug)]
pub struct RowBuilder<'b> {
    builder: &'b mut BatchBuilder,
    values: Vec<Value>,
    error: Option<PluginError>,
}

impl RowBuilder<'_> {
    /// Set the column called `name` (an unknown name fails at `finish`).
    pub fn set(mut self, name: &str, value: impl Into<Value>) -> Self {
        match self.builder.index_of(name) {
            Ok(idx) => {
                if let Some(slot) = self.values.get_mut(idx) {
                    *slot = value.into();
                }
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Set column `index` (by position).
    pub fn set_index(mut self, index: usize, value: impl Into<Value>) -> Self {
        match self.values.get_mut(index) {
            Some(slot) => *slot = value.into(),
            None => {
                self.error.get_or_insert(PluginError::Internal(format!(
                    "output schema has no column at position {index}"
                )));
            }
        }
        self
    }

    /// Append the row to the batch.
    pub fn finish(self) -> Result<(), PluginError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.builder.push_row(&self.values)
    }
}
