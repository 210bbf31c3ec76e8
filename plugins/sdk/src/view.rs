//! Read-only views of a checked batch: rows, columns and values.
//!
//! Obtained from [`Batch::view`](crate::Batch::view), which validates the
//! batch once; every accessor here is then bounds-safe and allocation-free.

use crate::batch::bit_is_set;
use crate::types::{LogicalType, Schema};
use crate::value::ValueRef;

/// Typed slices of one checked column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ColValues<'a> {
    Bools(&'a [bool]),
    Ints(&'a [i64]),
    Floats(&'a [f64]),
    Dates(&'a [i32]),
    Uuids(&'a [u8]),
    Utf8 { data: &'a str, offsets: &'a [u32] },
    Binary { data: &'a [u8], offsets: &'a [u32] },
}

/// One checked column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColView<'a> {
    pub(crate) logical_type: LogicalType,
    pub(crate) validity: Option<&'a [u8]>,
    pub(crate) values: ColValues<'a>,
}

fn span(offsets: &[u32], row: usize) -> (usize, usize) {
    let start = offsets.get(row).copied().unwrap_or_default() as usize;
    let end = offsets.get(row + 1).copied().unwrap_or_default() as usize;
    (start, end.max(start))
}

impl<'a> ColView<'a> {
    fn value(&self, row: usize) -> ValueRef<'a> {
        if let Some(bitmap) = self.validity
            && !bit_is_set(bitmap, row)
        {
            return ValueRef::Null;
        }
        // The batch was checked, so every `get` below succeeds; the fallbacks
        // only exist so that no path can panic.
        match self.values {
            ColValues::Bools(v) => v.get(row).map_or(ValueRef::Null, |&b| ValueRef::Bool(b)),
            ColValues::Ints(v) => match v.get(row) {
                None => ValueRef::Null,
                Some(&i) => match self.logical_type {
                    LogicalType::Time => ValueRef::Time(i),
                    LogicalType::Timestamp => ValueRef::Timestamp(i),
                    LogicalType::TimestampTz => ValueRef::TimestampTz(i),
                    _ => ValueRef::Int(i),
                },
            },
            ColValues::Floats(v) => v.get(row).map_or(ValueRef::Null, |&f| ValueRef::Float(f)),
            ColValues::Dates(v) => v.get(row).map_or(ValueRef::Null, |&d| ValueRef::Date(d)),
            ColValues::Uuids(v) => row
                .checked_mul(16)
                .and_then(|start| v.get(start..start.checked_add(16)?))
                .and_then(|s| <&[u8; 16]>::try_from(s).ok())
                .map_or(ValueRef::Null, ValueRef::Uuid),
            ColValues::Utf8 { data, offsets } => {
                let (start, end) = span(offsets, row);
                let s = data.get(start..end).unwrap_or_default();
                match self.logical_type {
                    LogicalType::Decimal => ValueRef::Decimal(s),
                    LogicalType::Json => ValueRef::Json(s),
                    _ => ValueRef::Text(s),
                }
            }
            ColValues::Binary { data, offsets } => {
                let (start, end) = span(offsets, row);
                ValueRef::Bytes(data.get(start..end).unwrap_or_default())
            }
        }
    }
}

/// A validated, read-only view of a batch with its schema.
#[derive(Debug, Clone)]
pub struct BatchView<'a> {
    schema: &'a Schema,
    num_rows: usize,
    cols: Vec<ColView<'a>>,
}

impl<'a> BatchView<'a> {
    pub(crate) fn new(schema: &'a Schema, num_rows: usize, cols: Vec<ColView<'a>>) -> Self {
        BatchView {
            schema,
            num_rows,
            cols,
        }
    }

    /// The schema the batch was checked against.
    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }

    /// Number of columns.
    pub fn num_columns(&self) -> usize {
        self.cols.len()
    }

    /// The rows, in order.
    pub fn rows(&self) -> Rows<'_> {
        Rows {
            view: self,
            next: 0,
        }
    }

    /// Row `index`, if it exists.
    pub fn row(&self, index: usize) -> Option<Row<'_>> {
        (index < self.num_rows).then_some(Row { view: self, index })
    }

    /// Column `index`, if it exists.
    pub fn column(&self, index: usize) -> Option<ColumnRef<'a>> {
        let col = *self.cols.get(index)?;
        Some(ColumnRef {
            col,
            num_rows: self.num_rows,
        })
    }

    /// The column called `name`.
    pub fn column_by_name(&self, name: &str) -> Option<ColumnRef<'a>> {
        self.column(self.schema.index_of(name)?)
    }

    /// Value at (`row`, `column`); `None` when either is out of range.
    pub fn value(&self, row: usize, column: usize) -> Option<ValueRef<'a>> {
        if row >= self.num_rows {
            return None;
        }
        Some(self.cols.get(column)?.value(row))
    }
}

/// One column of a [`BatchView`].
#[derive(Debug, Clone, Copy)]
pub struct ColumnRef<'a> {
    col: ColView<'a>,
    num_rows: usize,
}

impl<'a> ColumnRef<'a> {
    /// The column's logical type.
    pub fn logical_type(&self) -> LogicalType {
        self.col.logical_type
    }

    /// Number of values (the batch's row count).
    pub fn len(&self) -> usize {
        self.num_rows
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.num_rows == 0
    }

    /// Value in row `row`; `None` when out of range.
    pub fn get(&self, row: usize) -> Option<ValueRef<'a>> {
        (row < self.num_rows).then(|| self.col.value(row))
    }

    /// Every value, in row order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ValueRef<'a>> + '_ {
        (0..self.num_rows).map(|r| self.col.value(r))
    }
}

/// Iterator over the rows of a [`BatchView`].
#[derive(Debug, Clone)]
pub struct Rows<'v> {
    view: &'v BatchView<'v>,
    next: usize,
}

impl<'v> Iterator for Rows<'v> {
    type Item = Row<'v>;

    fn next(&mut self) -> Option<Row<'v>> {
        let row = self.view.row(self.next)?;
        self.next += 1;
        Some(row)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.view.num_rows.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Rows<'_> {}

/// One row of a [`BatchView`].
#[derive(Debug, Clone, Copy)]
pub struct Row<'v> {
    view: &'v BatchView<'v>,
    index: usize,
}

impl<'v> Row<'v> {
    /// Index of the row in the batch (for [`Diagnostic::at_row`](crate::Diagnostic::at_row)).
    pub fn index(&self) -> u32 {
        // A batch has at most u32::MAX rows (its `num_rows` is a u32).
        u32::try_from(self.index).unwrap_or(u32::MAX)
    }

    /// The schema of the batch.
    pub fn schema(&self) -> &'v Schema {
        self.view.schema
    }

    /// Number of values in the row.
    pub fn len(&self) -> usize {
        self.view.cols.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.view.cols.is_empty()
    }

    /// Value of column `column` (by position); `None` when out of range.
    pub fn value(&self, column: usize) -> Option<ValueRef<'v>> {
        self.view.value(self.index, column)
    }

    /// Value of the column called `name`; `None` when there is no such column.
    pub fn get(&self, name: &str) -> Option<ValueRef<'v>> {
        self.value(self.view.schema.index_of(name)?)
    }

    /// Every value, in column order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = ValueRef<'v>> + '_ {
        self.view.cols.iter().map(|c| c.value(self.index))
    }

    /// Text of a text, decimal or json column; `None` for null, other types or no such column.
    pub fn text(&self, name: &str) -> Option<&'v str> {
        self.get(name)?.as_str()
    }

    /// Value of an int64 column.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            ValueRef::Int(i) => Some(i),
            _ => None,
        }
    }

    /// Value of a float64 column.
    pub fn float(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            ValueRef::Float(f) => Some(f),
            _ => None,
        }
    }

    /// Value of a boolean column.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            ValueRef::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Value of a bytes column.
    pub fn bytes(&self, name: &str) -> Option<&'v [u8]> {
        match self.get(name)? {
            ValueRef::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Whether the column called `name` is null in this row (`false` when
    /// there is no such column).
    pub fn is_null(&self, name: &str) -> bool {
        matches!(self.get(name), Some(ValueRef::Null))
    }
}
