//! Packed columnar batches: the unit of work between source, plugins and sink.
//!
//! The layout is the WIT contract's (`ferry:plugin/types.batch`): typed vectors
//! for fixed-width types, one byte buffer plus `rows + 1` offsets for
//! variable-width types, and an optional LSB-first validity bitmap. A batch
//! that comes back from a plugin is untrusted; [`Batch::check`] validates it
//! before anything else reads it.

use super::schema::{LogicalType, Schema, Storage};

/// Most rows one batch may claim: 1,048,576, the host's largest batch
/// size (1,000,000, `config::MAX_BATCH_SIZE`) rounded up to a power of
/// two. Columns back their rows with bytes the plugin output limit counts,
/// but a batch without columns carries its row count alone (4 bytes over
/// WIT), and the host allocates and loops per row of a checked batch:
/// without this limit a plugin could claim 4 billion empty rows. A
/// transformer that splits rows of a batch this large is refused; a
/// smaller `batch_size` gets it through. Raise it together with
/// `MAX_BATCH_SIZE`.
pub const MAX_BATCH_ROWS: usize = 1 << 20;

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Bools(Vec<bool>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Dates(Vec<i32>),
    /// 16 bytes per row.
    Uuids(Vec<u8>),
    Utf8(VarWidth),
    Binary(VarWidth),
}

/// Variable-width values back to back; value `i` is `data[offsets[i]..offsets[i+1]]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VarWidth {
    pub data: Vec<u8>,
    pub offsets: Vec<u32>,
}

impl VarWidth {
    fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        VarWidth {
            data: Vec::new(),
            offsets,
        }
    }

    /// The bytes of value `i`. Only call on a checked batch.
    #[inline]
    pub fn value(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), BatchError> {
        self.data.extend_from_slice(bytes);
        let end = u32::try_from(self.data.len()).map_err(|_| BatchError::TooLarge)?;
        self.offsets.push(end);
        Ok(())
    }
}

/// One column of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnValues {
    /// LSB-first validity bitmap; `None` means every row holds a value.
    pub validity: Option<Vec<u8>>,
    pub data: ColumnData,
}

impl ColumnValues {
    /// Whether row `i` is null.
    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        match &self.validity {
            None => false,
            Some(bits) => bits[i / 8] & (1 << (i % 8)) == 0,
        }
    }
}

/// A batch of rows, packed by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub num_rows: usize,
    pub columns: Vec<ColumnValues>,
}

/// A batch that does not match its schema. Raised on plugin output, which is untrusted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    #[error("batch has {got} columns but its schema has {expected}")]
    ColumnCount { expected: usize, got: usize },
    #[error("column `{column}` is declared {logical_type} but holds {got} data")]
    WrongStorage {
        column: String,
        logical_type: LogicalType,
        got: &'static str,
    },
    #[error("column `{column}` has {got} values for {rows} rows")]
    Length {
        column: String,
        rows: usize,
        got: usize,
    },
    #[error("column `{column}` has a validity bitmap of {got} bytes; {rows} rows need {expected}")]
    Bitmap {
        column: String,
        rows: usize,
        expected: usize,
        got: usize,
    },
    #[error("column `{column}` has invalid offsets at row {row}")]
    Offsets { column: String, row: usize },
    #[error("column `{column}` holds invalid UTF-8 at row {row}")]
    Utf8 { column: String, row: usize },
    #[error("column `{column}` is not nullable but row {row} is null")]
    UnexpectedNull { column: String, row: usize },
    #[error("a variable-width column exceeds 4 GiB, the limit of u32 offsets")]
    TooLarge,
    #[error("batch claims {rows} rows; at most {max} are accepted")]
    TooManyRows { rows: usize, max: usize },
}

fn storage_name(d: &ColumnData) -> &'static str {
    match d {
        ColumnData::Bools(_) => "bools",
        ColumnData::Ints(_) => "ints",
        ColumnData::Floats(_) => "floats",
        ColumnData::Dates(_) => "dates",
        ColumnData::Uuids(_) => "uuids",
        ColumnData::Utf8(_) => "utf8",
        ColumnData::Binary(_) => "binary",
    }
}

impl ColumnData {
    fn storage(&self) -> Storage {
        match self {
            ColumnData::Bools(_) => Storage::Bools,
            ColumnData::Ints(_) => Storage::Ints,
            ColumnData::Floats(_) => Storage::Floats,
            ColumnData::Dates(_) => Storage::Dates,
            ColumnData::Uuids(_) => Storage::Uuids,
            ColumnData::Utf8(_) => Storage::Utf8,
            ColumnData::Binary(_) => Storage::Binary,
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnData::Bools(v) => v.len(),
            ColumnData::Ints(v) => v.len(),
            ColumnData::Floats(v) => v.len(),
            ColumnData::Dates(v) => v.len(),
            ColumnData::Uuids(v) => v.len() / 16,
            ColumnData::Utf8(v) | ColumnData::Binary(v) => v.offsets.len().saturating_sub(1),
        }
    }
}

/// A borrowed value of one cell, for rendering (rejects, reports, tests).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Date(i32),
    Uuid(&'a [u8]),
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Batch {
    /// An empty batch with the right columns for `schema`.
    pub fn empty(schema: &Schema) -> Batch {
        let mut b = BatchBuilder::new(schema, 0);
        b.finish()
    }

    /// Validates a batch against its schema: row count (at most
    /// [`MAX_BATCH_ROWS`]), column count, storage per logical type,
    /// lengths, bitmap size, offsets, UTF-8, nullability.
    /// Everything that reads a batch by index relies on this having passed.
    pub fn check(&self, schema: &Schema) -> Result<(), BatchError> {
        if self.num_rows > MAX_BATCH_ROWS {
            return Err(BatchError::TooManyRows {
                rows: self.num_rows,
                max: MAX_BATCH_ROWS,
            });
        }
        if self.columns.len() != schema.columns.len() {
            return Err(BatchError::ColumnCount {
                expected: schema.columns.len(),
                got: self.columns.len(),
            });
        }
        let rows = self.num_rows;
        for (col, def) in self.columns.iter().zip(&schema.columns) {
            let name = || def.name.clone();
            if col.data.storage() != def.logical_type.storage() {
                return Err(BatchError::WrongStorage {
                    column: name(),
                    logical_type: def.logical_type,
                    got: storage_name(&col.data),
                });
            }
            if let ColumnData::Uuids(v) = &col.data
                && v.len() % 16 != 0
            {
                return Err(BatchError::Length {
                    column: name(),
                    rows,
                    got: v.len(),
                });
            }
            if col.data.len() != rows {
                return Err(BatchError::Length {
                    column: name(),
                    rows,
                    got: col.data.len(),
                });
            }
            if let Some(bits) = &col.validity {
                let expected = rows.div_ceil(8);
                if bits.len() != expected {
                    return Err(BatchError::Bitmap {
                        column: name(),
                        rows,
                        expected,
                        got: bits.len(),
                    });
                }
                if !def.nullable
                    && let Some(row) = (0..rows).find(|&i| col.is_null(i))
                {
                    return Err(BatchError::UnexpectedNull {
                        column: name(),
                        row,
                    });
                }
            }
            if let ColumnData::Utf8(v) | ColumnData::Binary(v) = &col.data {
                if v.offsets.first() != Some(&0) {
                    return Err(BatchError::Offsets {
                        column: name(),
                        row: 0,
                    });
                }
                for i in 0..rows {
                    if v.offsets[i] > v.offsets[i + 1] {
                        return Err(BatchError::Offsets {
                            column: name(),
                            row: i,
                        });
                    }
                }
                if v.offsets[rows] as usize != v.data.len() {
                    return Err(BatchError::Offsets {
                        column: name(),
                        row: rows,
                    });
                }
                if matches!(col.data, ColumnData::Utf8(_)) {
                    // Fast path: the whole buffer is valid UTF-8 and every
                    // boundary is a char boundary.
                    match std::str::from_utf8(&v.data) {
                        Ok(s) => {
                            if let Some(i) =
                                (0..rows).find(|&i| !s.is_char_boundary(v.offsets[i] as usize))
                            {
                                return Err(BatchError::Utf8 {
                                    column: name(),
                                    row: i,
                                });
                            }
                        }
                        Err(_) => {
                            let row = (0..rows)
                                .find(|&i| std::str::from_utf8(v.value(i)).is_err())
                                .unwrap_or(0);
                            return Err(BatchError::Utf8 {
                                column: name(),
                                row,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The value at (`row`, `col`). Only call on a checked batch.
    #[inline]
    pub fn value(&self, row: usize, col: usize) -> ValueRef<'_> {
        let c = &self.columns[col];
        if c.is_null(row) {
            return ValueRef::Null;
        }
        match &c.data {
            ColumnData::Bools(v) => ValueRef::Bool(v[row]),
            ColumnData::Ints(v) => ValueRef::Int(v[row]),
            ColumnData::Floats(v) => ValueRef::Float(v[row]),
            ColumnData::Dates(v) => ValueRef::Date(v[row]),
            ColumnData::Uuids(v) => ValueRef::Uuid(&v[row * 16..row * 16 + 16]),
            // A checked batch has valid UTF-8 here; fall back to bytes, never panic.
            ColumnData::Utf8(v) => match std::str::from_utf8(v.value(row)) {
                Ok(s) => ValueRef::Text(s),
                Err(_) => ValueRef::Bytes(v.value(row)),
            },
            ColumnData::Binary(v) => ValueRef::Bytes(v.value(row)),
        }
    }

    /// Row `row` as a JSON object, for quarantine records and reports.
    /// Bytes are rendered as `\x`-prefixed hex, the PostgreSQL convention.
    pub fn row_json(&self, schema: &Schema, row: usize) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        for (i, col) in schema.columns.iter().enumerate() {
            obj.insert(col.name.clone(), value_json(self.value(row, i)));
        }
        serde_json::Value::Object(obj)
    }

    /// The source key of `row`: the values of `primary_key` (source column
    /// names) rendered as JSON and joined by commas, for quarantine records.
    /// `None` when there is no key or a key column is not in `schema`.
    pub fn source_key(
        &self,
        schema: &Schema,
        primary_key: &[String],
        row: usize,
    ) -> Option<String> {
        if primary_key.is_empty() {
            return None;
        }
        let parts: Option<Vec<String>> = primary_key
            .iter()
            .map(|k| {
                schema
                    .index_of(k)
                    .map(|i| value_json(self.value(row, i)).to_string())
            })
            .collect();
        parts.map(|p| p.join(","))
    }

    /// Keeps the rows whose `keep` flag is set, in order.
    pub fn retain(&self, schema: &Schema, keep: &[bool]) -> Batch {
        let rows = keep.iter().filter(|k| **k).count();
        let mut b = BatchBuilder::new(schema, rows);
        for (i, _) in keep.iter().enumerate().filter(|(_, k)| **k) {
            b.copy_row(self, i);
        }
        b.finish()
    }
}

/// Renders one value as JSON.
pub fn value_json(v: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        ValueRef::Null => J::Null,
        ValueRef::Bool(b) => J::Bool(b),
        ValueRef::Int(i) => J::from(i),
        ValueRef::Float(f) => serde_json::Number::from_f64(f)
            .map(J::Number)
            .unwrap_or_else(|| J::String(f.to_string())),
        ValueRef::Date(d) => J::from(d),
        ValueRef::Uuid(u) => J::String(format!("\\x{}", hex::encode(u))),
        ValueRef::Text(s) => J::String(s.to_owned()),
        ValueRef::Bytes(b) => J::String(format!("\\x{}", hex::encode(b))),
    }
}

/// Builds a batch column by column, one row at a time.
pub struct BatchBuilder {
    rows: usize,
    capacity: usize,
    storages: Vec<Storage>,
    columns: Vec<(Option<Vec<u8>>, ColumnData)>,
}

/// Most bytes a builder reserves for a variable-width column up front, from
/// the batch before: 16 MiB. One batch of large values (documents, blobs)
/// must not make every later batch of the table reserve as much.
const MAX_BYTES_HINT: usize = 16 << 20;

fn empty_column(storage: Storage, capacity: usize) -> (Option<Vec<u8>>, ColumnData) {
    let data = match storage {
        Storage::Bools => ColumnData::Bools(Vec::with_capacity(capacity)),
        Storage::Ints => ColumnData::Ints(Vec::with_capacity(capacity)),
        Storage::Floats => ColumnData::Floats(Vec::with_capacity(capacity)),
        Storage::Dates => ColumnData::Dates(Vec::with_capacity(capacity)),
        Storage::Uuids => ColumnData::Uuids(Vec::with_capacity(capacity * 16)),
        Storage::Utf8 => ColumnData::Utf8(VarWidth::with_capacity(capacity)),
        Storage::Binary => ColumnData::Binary(VarWidth::with_capacity(capacity)),
    };
    (None, data)
}

impl BatchBuilder {
    /// A builder for `schema`, with room for `capacity` rows.
    pub fn new(schema: &Schema, capacity: usize) -> Self {
        let storages: Vec<Storage> = schema
            .columns
            .iter()
            .map(|c| c.logical_type.storage())
            .collect();
        let columns = storages
            .iter()
            .map(|s| empty_column(*s, capacity))
            .collect();
        BatchBuilder {
            rows: 0,
            capacity,
            storages,
            columns,
        }
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn set_valid(&mut self, col: usize, valid: bool) {
        let row = self.rows;
        let (validity, _) = &mut self.columns[col];
        if valid && validity.is_none() {
            return;
        }
        let bits = validity.get_or_insert_with(|| {
            // Materialise: every earlier row was valid.
            let mut v = vec![0xFFu8; row.div_ceil(8)];
            if !row.is_multiple_of(8) {
                let last = v.len() - 1;
                v[last] = (1u8 << (row % 8)) - 1;
            }
            v
        });
        if bits.len() < (row + 1).div_ceil(8) {
            bits.push(0);
        }
        if valid {
            bits[row / 8] |= 1 << (row % 8);
        }
    }

    /// Appends a null to column `col` (of the current row).
    pub fn push_null(&mut self, col: usize) {
        self.set_valid(col, false);
        match &mut self.columns[col].1 {
            ColumnData::Bools(v) => v.push(false),
            ColumnData::Ints(v) => v.push(0),
            ColumnData::Floats(v) => v.push(0.0),
            ColumnData::Dates(v) => v.push(0),
            ColumnData::Uuids(v) => v.extend_from_slice(&[0; 16]),
            ColumnData::Utf8(v) | ColumnData::Binary(v) => {
                let end = *v.offsets.last().unwrap_or(&0);
                v.offsets.push(end);
            }
        }
    }

    pub fn push_bool(&mut self, col: usize, x: bool) {
        self.set_valid(col, true);
        if let ColumnData::Bools(v) = &mut self.columns[col].1 {
            v.push(x);
        }
    }

    pub fn push_int(&mut self, col: usize, x: i64) {
        self.set_valid(col, true);
        if let ColumnData::Ints(v) = &mut self.columns[col].1 {
            v.push(x);
        }
    }

    pub fn push_float(&mut self, col: usize, x: f64) {
        self.set_valid(col, true);
        if let ColumnData::Floats(v) = &mut self.columns[col].1 {
            v.push(x);
        }
    }

    pub fn push_date(&mut self, col: usize, x: i32) {
        self.set_valid(col, true);
        if let ColumnData::Dates(v) = &mut self.columns[col].1 {
            v.push(x);
        }
    }

    pub fn push_uuid(&mut self, col: usize, x: &[u8; 16]) {
        self.set_valid(col, true);
        if let ColumnData::Uuids(v) = &mut self.columns[col].1 {
            v.extend_from_slice(x);
        }
    }

    /// Appends text or bytes to a variable-width column.
    pub fn push_bytes(&mut self, col: usize, x: &[u8]) -> Result<(), BatchError> {
        self.set_valid(col, true);
        match &mut self.columns[col].1 {
            ColumnData::Utf8(v) | ColumnData::Binary(v) => v.push(x),
            _ => Ok(()),
        }
    }

    /// Appends a value of the column's own type (as read from a batch of
    /// the same logical type).
    pub fn copy_value(&mut self, col: usize, v: &ValueRef<'_>) -> Result<(), BatchError> {
        match v {
            ValueRef::Null => self.push_null(col),
            ValueRef::Bool(x) => self.push_bool(col, *x),
            ValueRef::Int(x) => self.push_int(col, *x),
            ValueRef::Float(x) => self.push_float(col, *x),
            ValueRef::Date(x) => self.push_date(col, *x),
            ValueRef::Uuid(x) => {
                let mut u = [0u8; 16];
                u.copy_from_slice(&x[..16.min(x.len())]);
                self.push_uuid(col, &u)
            }
            ValueRef::Text(x) => self.push_bytes(col, x.as_bytes())?,
            ValueRef::Bytes(x) => self.push_bytes(col, x)?,
        }
        Ok(())
    }

    /// Marks the current row complete.
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// Drops whatever was pushed for the current, unfinished row.
    pub fn abandon_row(&mut self) {
        let row = self.rows;
        for (validity, data) in &mut self.columns {
            if let Some(bits) = validity {
                bits.truncate(row.div_ceil(8));
                if !row.is_multiple_of(8)
                    && let Some(last) = bits.last_mut()
                {
                    *last &= (1u8 << (row % 8)) - 1;
                }
            }
            match data {
                ColumnData::Bools(v) => v.truncate(row),
                ColumnData::Ints(v) => v.truncate(row),
                ColumnData::Floats(v) => v.truncate(row),
                ColumnData::Dates(v) => v.truncate(row),
                ColumnData::Uuids(v) => v.truncate(row * 16),
                ColumnData::Utf8(v) | ColumnData::Binary(v) => {
                    v.offsets.truncate(row + 1);
                    let end = v.offsets[row] as usize;
                    v.data.truncate(end);
                }
            }
        }
    }

    /// Copies row `row` of a checked batch with the same schema.
    pub fn copy_row(&mut self, from: &Batch, row: usize) {
        for (i, c) in from.columns.iter().enumerate() {
            if c.is_null(row) {
                self.push_null(i);
                continue;
            }
            match &c.data {
                ColumnData::Bools(v) => self.push_bool(i, v[row]),
                ColumnData::Ints(v) => self.push_int(i, v[row]),
                ColumnData::Floats(v) => self.push_float(i, v[row]),
                ColumnData::Dates(v) => self.push_date(i, v[row]),
                ColumnData::Uuids(v) => {
                    let mut u = [0u8; 16];
                    u.copy_from_slice(&v[row * 16..row * 16 + 16]);
                    self.push_uuid(i, &u)
                }
                ColumnData::Utf8(v) | ColumnData::Binary(v) => {
                    // Cannot exceed u32: the source batch's column already fits.
                    let _ = self.push_bytes(i, v.value(row));
                }
            }
        }
        self.end_row();
    }

    /// The finished batch; the builder is empty and reusable afterwards.
    pub fn finish(&mut self) -> Batch {
        let rows = self.rows;
        // The next batch of a table is most likely as wide as this one: its
        // variable-width columns start with the room this one's took, not
        // doubling up to it again (each doubling a copy of what is there).
        let fresh = self
            .storages
            .iter()
            .zip(&self.columns)
            .map(|(s, (_, data))| {
                let mut c = empty_column(*s, self.capacity);
                if let (
                    ColumnData::Utf8(v) | ColumnData::Binary(v),
                    ColumnData::Utf8(was) | ColumnData::Binary(was),
                ) = (&mut c.1, data)
                {
                    v.data.reserve(was.data.len().min(MAX_BYTES_HINT));
                }
                c
            })
            .collect();
        let columns = std::mem::replace(&mut self.columns, fresh)
            .into_iter()
            .map(|(validity, data)| ColumnValues {
                validity: validity.map(|mut v| {
                    v.resize(rows.div_ceil(8), 0);
                    v
                }),
                data,
            })
            .collect();
        self.rows = 0;
        Batch {
            num_rows: rows,
            columns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;

    fn schema() -> Schema {
        Schema {
            table: "t".into(),
            columns: vec![
                Column {
                    name: "id".into(),
                    logical_type: LogicalType::Int64,
                    nullable: false,
                },
                Column {
                    name: "name".into(),
                    logical_type: LogicalType::Text,
                    nullable: true,
                },
            ],
        }
    }

    fn sample() -> Batch {
        let s = schema();
        let mut b = BatchBuilder::new(&s, 4);
        for i in 0..10 {
            b.push_int(0, i);
            if i % 3 == 0 {
                b.push_null(1);
            } else {
                b.push_bytes(1, format!("n{i}").as_bytes()).unwrap();
            }
            b.end_row();
        }
        b.finish()
    }

    #[test]
    fn builder_round_trips_values_and_nulls() {
        let b = sample();
        b.check(&schema()).unwrap();
        assert_eq!(b.value(0, 1), ValueRef::Null);
        assert_eq!(b.value(4, 1), ValueRef::Text("n4"));
        assert_eq!(b.value(9, 0), ValueRef::Int(9));
        assert_eq!(b.value(9, 1), ValueRef::Null);
    }

    #[test]
    fn builder_is_reusable_after_finish() {
        let s = schema();
        let mut b = BatchBuilder::new(&s, 2);
        for round in 0..3 {
            b.push_int(0, round);
            b.push_null(1);
            b.end_row();
            let out = b.finish();
            out.check(&s).unwrap();
            assert_eq!(out.value(0, 0), ValueRef::Int(round));
        }
    }

    #[test]
    fn abandoned_row_leaves_no_trace() {
        let s = schema();
        let mut b = BatchBuilder::new(&s, 4);
        b.push_int(0, 1);
        b.push_bytes(1, b"keep").unwrap();
        b.end_row();
        b.push_int(0, 2);
        b.push_null(1);
        b.abandon_row();
        let out = b.finish();
        out.check(&s).unwrap();
        assert_eq!(out.num_rows, 1);
        assert_eq!(out.value(0, 1), ValueRef::Text("keep"));
    }

    #[test]
    fn retain_keeps_selected_rows() {
        let s = schema();
        let b = sample();
        let keep: Vec<bool> = (0..10).map(|i| i % 2 == 0).collect();
        let r = b.retain(&s, &keep);
        r.check(&s).unwrap();
        assert_eq!(r.num_rows, 5);
        assert_eq!(r.value(2, 0), ValueRef::Int(4));
        assert_eq!(r.value(2, 1), ValueRef::Text("n4"));
        assert_eq!(r.value(3, 1), ValueRef::Null);
    }

    /// Found by `fuzz/fuzz_targets/batch_check.rs`: a batch without columns
    /// passed `check` whatever row count it claimed, and the host then
    /// allocated a `keep` flag and rendered a row for each of them.
    #[test]
    fn check_bounds_the_rows_of_a_batch_without_columns() {
        let s = Schema {
            table: "t".into(),
            columns: vec![],
        };
        let claims = |num_rows| Batch {
            num_rows,
            columns: vec![],
        };
        claims(MAX_BATCH_ROWS).check(&s).unwrap();
        assert_eq!(
            claims(268_441_343).check(&s),
            Err(BatchError::TooManyRows {
                rows: 268_441_343,
                max: MAX_BATCH_ROWS
            })
        );
        assert!(matches!(
            claims(u32::MAX as usize).check(&s),
            Err(BatchError::TooManyRows { .. })
        ));
    }

    #[test]
    fn check_rejects_each_kind_of_malformed_batch() {
        let s = schema();
        let good = sample();

        let mut b = good.clone();
        b.columns.pop();
        assert!(matches!(b.check(&s), Err(BatchError::ColumnCount { .. })));

        let mut b = good.clone();
        b.columns[0].data = ColumnData::Floats(vec![0.0; 10]);
        assert!(matches!(b.check(&s), Err(BatchError::WrongStorage { .. })));

        let mut b = good.clone();
        b.num_rows = 11;
        assert!(matches!(b.check(&s), Err(BatchError::Length { .. })));

        let mut b = good.clone();
        if let ColumnData::Utf8(v) = &mut b.columns[1].data {
            v.offsets[3] = 1000;
        }
        assert!(matches!(b.check(&s), Err(BatchError::Offsets { .. })));

        let mut b = good.clone();
        if let ColumnData::Utf8(v) = &mut b.columns[1].data {
            v.data[0] = 0xFF;
        }
        assert!(matches!(b.check(&s), Err(BatchError::Utf8 { .. })));

        let mut b = good.clone();
        b.columns[1].validity = Some(vec![0xFF]);
        assert!(matches!(b.check(&s), Err(BatchError::Bitmap { .. })));

        let mut b = good;
        b.columns[0].validity = Some(vec![0xFE, 0xFF]);
        assert!(matches!(
            b.check(&s),
            Err(BatchError::UnexpectedNull { row: 0, .. })
        ));
    }
}
