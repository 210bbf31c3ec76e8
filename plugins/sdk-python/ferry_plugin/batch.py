"""Batches as rows: the WIT packed columnar batch decoded into Python values
(`Batch`, `Row`), and output batches built from rows (`Output`).

A plugin never sees offsets or bitmaps. Columns are decoded lazily, once,
on first access, so a plugin that reads one column of twenty pays for one.
"""

import datetime as _dt
import json as _json
import uuid as _uuid
from collections.abc import Mapping
from decimal import Decimal as _Decimal
from typing import Any, Dict, Iterator, List, Optional

from . import _wit
from .schema import InternalError, MalformedInput, Schema

_EPOCH_DATE = _dt.date(1970, 1, 1)
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_TZ = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MIDNIGHT = _dt.datetime(1970, 1, 1)
_US = _dt.timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_I64 = (-(1 << 63), (1 << 63) - 1)


# ---------------------------------------------------------------- decoding

def _valid(bitmap: bytes, i: int) -> bool:
    return (bitmap[i >> 3] >> (i & 7)) & 1 == 1


def _var(var, n: int, text: bool, column: str) -> list:
    data, off = var.data, var.offsets
    if len(off) != n + 1 or (n and (off[0] != 0 or off[-1] != len(data))):
        raise MalformedInput(f"offsets do not fit the data ({len(off)} offsets, {n} rows)", column=column)
    data = bytes(data)
    if not text:
        return [data[off[i]:off[i + 1]] for i in range(n)]
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedInput(f"invalid UTF-8 at data byte {e.start}", column=column) from None
    if len(whole) == len(data):  # ASCII: byte offsets are character offsets
        return [whole[off[i]:off[i + 1]] for i in range(n)]
    return [data[off[i]:off[i + 1]].decode("utf-8") for i in range(n)]


def _time(us: int):
    if 0 <= us < _DAY_US:
        return (_MIDNIGHT + us * _US).time()
    return us


def _ts(base, us: int):
    try:
        return base + _dt.timedelta(microseconds=us)
    except OverflowError:
        return us


def _decode(col, wit_col, n: int) -> list:
    """One WIT column → a list of Python values (None for null)."""
    t = col.type
    raw = wit_col.data.value
    if t in ("text", "decimal", "json"):
        vals = _var(raw, n, True, col.name)
    elif t == "bytes":
        vals = _var(raw, n, False, col.name)
    elif t == "uuid":
        raw = bytes(raw)
        vals = [_uuid.UUID(bytes=raw[16 * i:16 * i + 16]) for i in range(n)]
    else:
        vals = list(raw)
        if t == "date":
            vals = [_EPOCH_DATE + _dt.timedelta(days=d) if -719162 <= d <= 2932896 else d for d in vals]
        elif t == "time":
            vals = [_time(v) for v in vals]
        elif t == "timestamp":
            vals = [_ts(_EPOCH, v) for v in vals]
        elif t == "timestamptz":
            vals = [_ts(_EPOCH_TZ, v) for v in vals]
    if len(vals) != n:
        raise MalformedInput(f"column has {len(vals)} values, batch has {n} rows", column=col.name)
    bitmap = wit_col.validity
    if bitmap is not None:
        if len(bitmap) != (n + 7) // 8:
            raise MalformedInput("validity bitmap has the wrong length", column=col.name)
        for i in range(n):
            if not (bitmap[i >> 3] >> (i & 7)) & 1:
                vals[i] = None
    return vals


class Batch:
    """An input batch: `len(batch)` rows, iterate for `Row`s, `batch.column(name)`
    for one column's values as a list."""

    __slots__ = ("schema", "num_rows", "_wit_cols", "_cols")

    def __init__(self, schema: Schema, wit_batch):
        self.schema = schema
        self.num_rows = wit_batch.num_rows
        self._wit_cols = wit_batch.columns
        if len(self._wit_cols) != len(schema.columns):
            raise MalformedInput(
                f"batch has {len(self._wit_cols)} columns but the schema of {schema.table!r} has {len(schema.columns)}")
        self._cols: List[Optional[list]] = [None] * len(schema.columns)

    @staticmethod
    def from_rows(schema: Schema, rows) -> "Batch":
        """A batch of `schema` from dicts (for tests): encoded and decoded as the host would."""
        out = Output(schema)
        for r in rows:
            out.append(r)
        wit_batch, _ = out._finish()
        return Batch(schema, wit_batch)

    def _col(self, i: int) -> list:
        vals = self._cols[i]
        if vals is None:
            vals = self._cols[i] = _decode(self.schema.columns[i], self._wit_cols[i], self.num_rows)
        return vals

    def __len__(self) -> int:
        return self.num_rows

    def __iter__(self) -> Iterator["Row"]:
        for i in range(self.num_rows):
            yield Row(self, i)

    def row(self, index: int) -> "Row":
        if not 0 <= index < self.num_rows:
            raise IndexError(index)
        return Row(self, index)

    def column(self, name: str) -> list:
        """Every value of the column called `name`, in row order (None for null)."""
        i = self.schema.index_of(name)
        if i is None:
            self.schema.require(name)
        return self._col(i)

    def rows(self) -> List[Dict[str, Any]]:
        """Every row as a dict."""
        return [r.to_dict() for r in self]


class Row(Mapping):
    """One input row: a read-only mapping from column name to value, plus
    `index`, its position in the input batch (what a rejection refers to)."""

    __slots__ = ("_batch", "index")

    def __init__(self, batch: Batch, index: int):
        self._batch = batch
        self.index = index

    def __getitem__(self, name: str):
        i = self._batch.schema._index.get(name)
        if i is None:
            raise KeyError(name)
        return self._batch._col(i)[self.index]

    def __iter__(self):
        return iter(self._batch.schema._index)

    def __len__(self):
        return len(self._batch.schema.columns)

    def __contains__(self, name):
        return name in self._batch.schema._index

    def values_in_order(self) -> list:
        """Every value, in column order."""
        b = self._batch
        return [b._col(i)[self.index] for i in range(len(b.schema.columns))]

    def to_dict(self) -> Dict[str, Any]:
        return dict(zip(self._batch.schema.names, self.values_in_order()))

    def __repr__(self):
        return f"Row({self.index}, {self.to_dict()!r})"


# ---------------------------------------------------------------- encoding

def _bad(col, row: int, value, wants: str):
    return InternalError(
        f"output column {col.name!r} ({col.type}) takes {wants}; row {row} has {type(value).__name__} {value!r:.80}")


def _enc_var(col, vals, text: bool):
    parts, offsets, pos = [], [0], 0
    for r, v in enumerate(vals):
        if v is None:
            b = b""
        elif text:
            if isinstance(v, str):
                b = v.encode("utf-8")
            elif col.type == "decimal" and isinstance(v, _Decimal) and v.is_finite():
                b = format(v, "f").encode()
            elif col.type == "decimal" and isinstance(v, int) and not isinstance(v, bool):
                b = str(v).encode()
            elif col.type == "json":
                try:
                    b = _json.dumps(v, ensure_ascii=False, allow_nan=False).encode("utf-8")
                except (TypeError, ValueError):
                    raise _bad(col, r, v, "str or a JSON-serialisable value") from None
            else:
                raise _bad(col, r, v, "str" + (" or Decimal" if col.type == "decimal" else ""))
        else:
            if isinstance(v, (bytes, bytearray, memoryview)):
                b = bytes(v)
            else:
                raise _bad(col, r, v, "bytes")
        parts.append(b)
        pos += len(b)
        offsets.append(pos)
    if pos > 0xFFFFFFFF:
        raise InternalError(f"output column {col.name!r} would exceed 4 GiB in one batch")
    var = _wit.types.VarWidth(b"".join(parts), offsets)
    return _wit.types.ColumnData_Utf8(var) if text else _wit.types.ColumnData_Binary(var)


def _int(col, r, v, lo=_I64[0], hi=_I64[1]):
    if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi:
        return v
    raise _bad(col, r, v, "int (64-bit)")


def _us(delta: _dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _enc_fixed(col, vals):
    t = _wit.types
    ty = col.type
    out = []
    if ty == "boolean":
        for r, v in enumerate(vals):
            if v is None:
                out.append(False)
            elif isinstance(v, bool):
                out.append(v)
            else:
                raise _bad(col, r, v, "bool")
        return t.ColumnData_Bools(out)
    if ty == "float64":
        for r, v in enumerate(vals):
            if v is None:
                out.append(0.0)
            elif isinstance(v, (float, int)) and not isinstance(v, bool):
                out.append(float(v))
            else:
                raise _bad(col, r, v, "float")
        return t.ColumnData_Floats(out)
    if ty == "date":
        for r, v in enumerate(vals):
            if v is None:
                out.append(0)
            elif isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
                out.append((v - _EPOCH_DATE).days)
            else:
                out.append(_int(col, r, v, -(1 << 31), (1 << 31) - 1))
        return t.ColumnData_Dates(out)
    if ty == "uuid":
        buf = bytearray()
        for r, v in enumerate(vals):
            if v is None:
                buf += bytes(16)
            elif isinstance(v, _uuid.UUID):
                buf += v.bytes
            elif isinstance(v, (bytes, bytearray)) and len(v) == 16:
                buf += v
            elif isinstance(v, str):
                try:
                    buf += _uuid.UUID(v).bytes
                except ValueError:
                    raise _bad(col, r, v, "uuid.UUID, 16 bytes or a UUID's text") from None
            else:
                raise _bad(col, r, v, "uuid.UUID, 16 bytes or a UUID's text")
        return t.ColumnData_Uuids(bytes(buf))
    # ints: int64, time, timestamp, timestamptz
    for r, v in enumerate(vals):
        if v is None:
            out.append(0)
        elif ty == "time" and isinstance(v, _dt.time):
            out.append(((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond)
        elif ty == "timestamp" and isinstance(v, _dt.datetime):
            if v.tzinfo is not None:
                raise _bad(col, r, v, "a naive datetime (no time zone)")
            out.append(_us(v - _EPOCH))
        elif ty == "timestamptz" and isinstance(v, _dt.datetime):
            if v.tzinfo is None:
                raise _bad(col, r, v, "an aware datetime (with a time zone)")
            out.append(_us(v - _EPOCH_TZ))
        else:
            out.append(_int(col, r, v))
    return t.ColumnData_Ints(out)


def _encode(col, vals: list):
    """A list of Python values → a WIT column (validity only when a null occurs)."""
    n = len(vals)
    bitmap = None
    if None in vals:
        if not col.nullable:
            r = vals.index(None)
            raise InternalError(f"output column {col.name!r} is not nullable; row {r} is None")
        bm = bytearray((n + 7) // 8)
        for i, v in enumerate(vals):
            if v is not None:
                bm[i >> 3] |= 1 << (i & 7)
        bitmap = bytes(bm)
    if col.type in ("text", "decimal", "json"):
        data = _enc_var(col, vals, True)
    elif col.type == "bytes":
        data = _enc_var(col, vals, False)
    elif col.type == "int64":
        for r, v in enumerate(vals):
            if v is not None and (type(v) is not int or not _I64[0] <= v <= _I64[1]):
                _int(col, r, v)  # raises
        data = _wit.types.ColumnData_Ints([0 if v is None else v for v in vals])
    else:
        data = _enc_fixed(col, vals)
    return _wit.types.Column(bitmap, data)


_SEVERITY = {"info": 0, "warning": 1, "error": 2}


class Diagnostic:
    """A finding about one row or value: `severity` ('info', 'warning', 'error'),
    `row` (input row index), `column`, `code` (stable, e.g. 'empty-email'), `message`."""

    __slots__ = ("severity", "row", "column", "code", "message")

    def __init__(self, severity: str, code: str, message: str, row=None, column=None):
        if severity not in _SEVERITY:
            raise InternalError(f"severity must be one of info, warning, error; got {severity!r}")
        if isinstance(row, Row):
            row = row.index
        self.severity, self.code, self.message, self.row, self.column = severity, code, message, row, column

    def __repr__(self):
        return f"Diagnostic({self.severity}, {self.code!r}, {self.message!r}, row={self.row}, column={self.column!r})"

    def _to_wit(self):
        t = _wit.types
        return t.Diagnostic(t.Severity(_SEVERITY[self.severity]), self.row, self.column, self.code, self.message)


def reject(row, code: str, message: str, column: Optional[str] = None) -> Diagnostic:
    """An `error` diagnostic: the row goes to ferry's quarantine with this reason."""
    return Diagnostic("error", code, message, row, column)


def warning(row, code: str, message: str, column: Optional[str] = None) -> Diagnostic:
    """A `warning` diagnostic: the row is kept."""
    return Diagnostic("warning", code, message, row, column)


def info(row, code: str, message: str, column: Optional[str] = None) -> Diagnostic:
    return Diagnostic("info", code, message, row, column)


class Output:
    """The rows a transformer returns, built row by row, and its diagnostics.

    `append(row)` copies an input row (by column name), `append(row, {"email": v})`
    copies it with some values replaced, `append({"id": 1, ...})` adds a row
    from a dict (missing columns are null). `reject(row, code, message)`
    quarantines an input row with a reason (do not also append it)."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.diagnostics: List[Diagnostic] = []
        self._names = schema.names
        # Rows are recorded, not copied: the input batch they come from, one
        # input index per output row (-1 for a row built from a dict), and
        # per output row the values set by name. `_finish` gathers each
        # column in one pass.
        self._src: Optional[Batch] = None
        self._idx: List[int] = []
        self._set: Dict[int, Mapping] = {}
        self._same = None
        self._identity = None

    def __len__(self):
        return len(self._idx)

    def pass_through(self, batch: "Batch") -> None:
        """Return `batch` unchanged (no decoding, no re-encoding): for a
        transformer that only reports diagnostics (`warn`). The output schema
        must be the input's, and nothing may be appended or rejected."""
        if batch.schema != self.schema:
            raise InternalError("pass_through needs the output schema to be the input's")
        self._same = batch

    def _unknown(self, keys) -> None:
        idx = self.schema._index
        for k in keys:
            if k not in idx:
                raise InternalError(
                    f"output schema has no column {k!r}; it has: {', '.join(self._names)}")

    def append(self, row: Optional[Mapping] = None, changes: Optional[Mapping] = None, **kw) -> None:
        """Add a row: an input `Row` (its values by column name) or a dict,
        with `changes` (a dict, or keyword arguments) replacing values."""
        if kw:
            changes = {**(changes or {}), **kw}
        if changes:
            self._unknown(changes)
        pos = len(self._idx)
        if isinstance(row, Row) and (self._src is None or self._src is row._batch):
            self._src = row._batch
            self._idx.append(row.index)
            if changes:
                self._set[pos] = changes
            return
        values = dict(row) if row is not None else {}
        if not isinstance(row, Row):
            self._unknown(values)
        if changes:
            values.update(changes)
        self._idx.append(-1)
        self._set[pos] = values

    def _column(self, name: str) -> list:
        src, idx = self._src, self._idx
        si = None if src is None else src.schema._index.get(name)
        if si is None:
            vals = [None] * len(idx)
        else:
            base = src._col(si)
            vals = [base[i] for i in idx]
        for pos, values in self._set.items():
            if name in values:
                vals[pos] = values[name]
            elif idx[pos] < 0:
                vals[pos] = None
        return vals

    def reject(self, row, code: str, message: str, column: Optional[str] = None) -> None:
        """Quarantine input `row` (a `Row` or its index) with a reason."""
        self.diagnostics.append(reject(row, code, message, column))

    def warn(self, row, code: str, message: str, column: Optional[str] = None) -> None:
        """Keep the row but tell the operator."""
        self.diagnostics.append(warning(row, code, message, column))

    def _finish(self):
        diagnostics = [d._to_wit() for d in self.diagnostics]
        if self._same is not None:
            if self._idx or any(d.severity == "error" for d in self.diagnostics):
                raise InternalError("pass_through cannot be combined with append or reject")
            return _wit.types.Batch(self._same.num_rows, self._same._wit_cols), diagnostics
        cols = [self._reused(c) or _encode(c, self._column(c.name)) for c in self.schema.columns]
        return _wit.types.Batch(len(self._idx), cols), diagnostics

    def _reused(self, col):
        """The input's own WIT column when output column `col` is an input
        column copied unchanged into the same rows in the same order: no
        decoding, no re-encoding."""
        src = self._src
        if src is None or len(self._idx) != src.num_rows:
            return None
        i = src.schema._index.get(col.name)
        if i is None:
            return None
        had = src.schema.columns[i]
        if had.type != col.type or (had.nullable and not col.nullable):
            return None
        if any(col.name in v for v in self._set.values()):
            return None
        if self._identity is None:
            self._identity = self._idx == list(range(src.num_rows))
        return src._wit_cols[i] if self._identity else None
