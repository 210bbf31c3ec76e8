//! The packed columnar batch (WIT `batch`) and its validation.
//!
//! A batch from the host is untrusted: [`Batch::view`] (or [`Batch::check`])
//! validates it once against its schema, after which the row views in
//! [`crate::view`] read it without further checks and without panicking.

use crate::types::{Location, LogicalType, PhysicalType, PluginError, Schema};
use crate::view::{BatchView, ColValues, ColView};

/// A packed columnar batch of rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// Number of rows; every column holds exactly this many values.
    pub num_rows: u32,
    /// One entry per schema column, in schema order.
    pub columns: Vec<Column>,
}

/// One column of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Validity bitmap, least significant bit first: bit `i % 8` of byte
    /// `i / 8` is set when row `i` holds a value. `None` means no nulls.
    pub validity: Option<Vec<u8>>,
    /// The values (a null row holds a placeholder).
    pub data: ColumnData,
}

/// The values of one column, one entry per row.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// boolean
    Bools(Vec<bool>),
    /// int64, time, timestamp, timestamptz
    Ints(Vec<i64>),
    /// float64
    Floats(Vec<f64>),
    /// date (days since 1970-01-01)
    Dates(Vec<i32>),
    /// uuid: 16 bytes per row, back to back
    Uuids(Vec<u8>),
    /// text, decimal, json: value `i` is `data[offsets[i]..offsets[i + 1]]`
    Utf8 {
        /// All values' bytes back to back (valid UTF-8).
        data: Vec<u8>,
        /// `num_rows + 1` offsets, starting at 0, never decreasing, ending at `data.len()`.
        offsets: Vec<u32>,
    },
    /// bytes: same layout as `Utf8`
    Binary {
        /// All values' bytes back to back.
        data: Vec<u8>,
        /// `num_rows + 1` offsets.
        offsets: Vec<u32>,
    },
}

impl ColumnData {
    /// Which physical representation this is.
    pub fn physical(&self) -> PhysicalType {
        match self {
            ColumnData::Bools(_) => PhysicalType::Bools,
            ColumnData::Ints(_) => PhysicalType::Ints,
            ColumnData::Floats(_) => PhysicalType::Floats,
            ColumnData::Dates(_) => PhysicalType::Dates,
            ColumnData::Uuids(_) => PhysicalType::Uuids,
            ColumnData::Utf8 { .. } => PhysicalType::Utf8,
            ColumnData::Binary { .. } => PhysicalType::Binary,
        }
    }

    /// Empty data of the given physical type (var-width starts with offset 0).
    pub fn empty(physical: PhysicalType) -> Self {
        match physical {
            PhysicalType::Bools => ColumnData::Bools(Vec::new()),
            PhysicalType::Ints => ColumnData::Ints(Vec::new()),
            PhysicalType::Floats => ColumnData::Floats(Vec::new()),
            PhysicalType::Dates => ColumnData::Dates(Vec::new()),
            PhysicalType::Uuids => ColumnData::Uuids(Vec::new()),
            PhysicalType::Utf8 => ColumnData::Utf8 {
                data: Vec::new(),
                offsets: vec![0],
            },
            PhysicalType::Binary => ColumnData::Binary {
                data: Vec::new(),
                offsets: vec![0],
            },
        }
    }
}

/// Whether bit `row` of an LSB-first validity bitmap is set. Out-of-range
/// rows read as null (a checked batch never asks for one).
pub(crate) fn bit_is_set(bitmap: &[u8], row: usize) -> bool {
    bitmap
        .get(row / 8)
        .is_some_and(|byte| byte & (1u8 << (row % 8)) != 0)
}

/// Number of bitmap bytes for `rows` rows.
pub(crate) fn bitmap_len(rows: usize) -> usize {
    rows.div_ceil(8)
}

impl Batch {
    /// A batch from its parts (not checked; see [`Batch::check`]).
    pub fn new(num_rows: u32, columns: Vec<Column>) -> Self {
        Batch { num_rows, columns }
    }

    /// Validate the batch against `schema`: column count, physical types,
    /// lengths, offsets (start 0, nondecreasing, end = data length), UTF-8 of
    /// text-like columns (and offsets on character boundaries), bitmap
    /// lengths, and no nulls in non-nullable columns.
    pub fn check(&self, schema: &Schema) -> Result<(), PluginError> {
        self.view(schema).map(|_| ())
    }

    /// Validate the batch (as [`Batch::check`]) and return a row view of it.
    pub fn view<'a>(&'a self, schema: &'a Schema) -> Result<BatchView<'a>, PluginError> {
        if self.columns.len() != schema.columns.len() {
            return Err(PluginError::malformed(
                format!(
                    "batch has {} columns but schema of table {:?} has {}",
                    self.columns.len(),
                    schema.table,
                    schema.columns.len()
                ),
                Location::default(),
            ));
        }
        let rows = usize::try_from(self.num_rows)
            .map_err(|_| PluginError::internal("row count does not fit in usize"))?;
        let mut cols = Vec::with_capacity(self.columns.len());
        for (column, col_schema) in self.columns.iter().zip(&schema.columns) {
            let bad = |message: String| {
                PluginError::malformed(
                    message,
                    Location {
                        column: Some(col_schema.name.clone()),
                        ..Location::default()
                    },
                )
            };
            let expected = col_schema.logical_type.physical();
            if column.data.physical() != expected {
                return Err(bad(format!(
                    "column of logical type {} must be stored as {:?}, found {:?}",
                    col_schema.logical_type,
                    expected,
                    column.data.physical()
                )));
            }
            let values = check_values(&column.data, rows, col_schema.logical_type).map_err(bad)?;
            if let Some(bitmap) = &column.validity {
                if bitmap.len() != bitmap_len(rows) {
                    return Err(bad(format!(
                        "validity bitmap has {} bytes, {} rows need {}",
                        bitmap.len(),
                        rows,
                        bitmap_len(rows)
                    )));
                }
                if !col_schema.nullable
                    && let Some(row) = (0..rows).find(|&r| !bit_is_set(bitmap, r))
                {
                    return Err(PluginError::malformed(
                        "null in a non-nullable column",
                        Location {
                            row: u32::try_from(row).ok(),
                            column: Some(col_schema.name.clone()),
                            ..Location::default()
                        },
                    ));
                }
            }
            cols.push(ColView {
                logical_type: col_schema.logical_type,
                validity: column.validity.as_deref(),
                values,
            });
        }
        Ok(BatchView::new(schema, rows, cols))
    }

    /// Build a batch from owned rows (handy in tests); checks every value
    /// against the schema.
    pub fn from_rows(schema: &Schema, rows: Vec<Vec<crate::Value>>) -> Result<Batch, PluginError> {
        let mut builder = crate::BatchBuilder::new(schema);
        for row in &rows {
            builder.push_row(row)?;
        }
        builder.finish()
    }
}

/// Check one column's values against the row count and return typed slices.
fn check_values<'a>(
    data: &'a ColumnData,
    rows: usize,
    logical: LogicalType,
) -> Result<ColValues<'a>, String> {
    let want = |len: usize, what: &str| {
        if len == rows {
            Ok(())
        } else {
            Err(format!("{what} has {len} values, batch has {rows} rows"))
        }
    };
    Ok(match data {
        ColumnData::Bools(v) => {
            want(v.len(), "bools")?;
            ColValues::Bools(v)
        }
        ColumnData::Ints(v) => {
            want(v.len(), "ints")?;
            ColValues::Ints(v)
        }
        ColumnData::Floats(v) => {
            want(v.len(), "floats")?;
            ColValues::Floats(v)
        }
        ColumnData::Dates(v) => {
            want(v.len(), "dates")?;
            ColValues::Dates(v)
        }
        ColumnData::Uuids(v) => {
            let need = rows
                .checked_mul(16)
                .ok_or_else(|| "uuid column too large".to_string())?;
            if v.len() != need {
                return Err(format!(
                    "uuids has {} bytes, {rows} rows need {need}",
                    v.len()
                ));
            }
            ColValues::Uuids(v)
        }
        ColumnData::Utf8 { data, offsets } => {
            check_offsets(data, offsets, rows)?;
            let text = std::str::from_utf8(data).map_err(|e| {
                format!(
                    "{logical} column holds invalid UTF-8 at data byte {}",
                    e.valid_up_to()
                )
            })?;
            if let Some(pos) = offsets
                .iter()
                .position(|&o| !text.is_char_boundary(o as usize))
            {
                return Err(format!(
                    "offset {pos} ({}) splits a UTF-8 character",
                    offsets.get(pos).copied().unwrap_or_default()
                ));
            }
            ColValues::Utf8 {
                data: text,
                offsets,
            }
        }
        ColumnData::Binary { data, offsets } => {
            check_offsets(data, offsets, rows)?;
            ColValues::Binary { data, offsets }
        }
    })
}

fn check_offsets(data: &[u8], offsets: &[u32], rows: usize) -> Result<(), String> {
    if offsets.len() != rows.saturating_add(1) {
        return Err(format!(
            "offsets has {} entries, {rows} rows need {}",
            offsets.len(),
            rows.saturating_add(1)
        ));
    }
    if offsets.first() != Some(&0) {
        return Err("offsets must start at 0".to_string());
    }
    if let Some(i) = offsets.windows(2).position(|w| w[0] > w[1]) {
        return Err(format!("offsets decrease at row {i}"));
    }
    let last = offsets.last().copied().unwrap_or_default() as usize;
    if last != data.len() {
        return Err(format!(
            "last offset is {last} but data has {} bytes",
            data.len()
        ));
    }
    Ok(())
}
