"""Schemas, logical types and the errors a plugin returns."""

from typing import Iterable, List, Optional, Sequence

from . import _wit

#: ferry's logical types, by their WIT names. A column's `type` is one of these strings.
LOGICAL_TYPES = (
    "boolean", "int64", "float64", "decimal", "text", "bytes", "json",
    "date", "time", "timestamp", "timestamptz", "uuid",
)

#: What a value of each logical type is in Python (what rows hold, what outputs take).
PYTHON_TYPES = {
    "boolean": "bool",
    "int64": "int",
    "float64": "float",
    "decimal": "str (canonical text, e.g. '-12.340'); outputs also take decimal.Decimal and int",
    "text": "str",
    "bytes": "bytes",
    "json": "str (the JSON text); outputs also take dict, list, int, float, bool (json.dumps)",
    "date": "datetime.date; outputs also take int (days since 1970-01-01)",
    "time": "datetime.time; int microseconds since midnight when it does not fit",
    "timestamp": "naive datetime.datetime; int microseconds when outside years 1-9999",
    "timestamptz": "UTC-aware datetime.datetime; int microseconds when outside years 1-9999",
    "uuid": "uuid.UUID; outputs also take 16 bytes or the text form",
}


class PluginError(Exception):
    """Why a plugin call failed: raise a subclass; the SDK returns it to the
    host as the typed WIT `plugin-error` (never a trap)."""

    def _wit(self):
        return _wit.types.PluginError_Internal(str(self))


class InvalidConfig(PluginError):
    """The configuration JSON was not understood; say which key and why."""

    def _wit(self):
        return _wit.types.PluginError_InvalidConfig(str(self))


class UnsupportedSchema(PluginError):
    """The input schema cannot be handled (e.g. a configured column is missing)."""

    def _wit(self):
        return _wit.types.PluginError_UnsupportedSchema(str(self))


class MalformedInput(PluginError):
    """The input data is malformed at a location (row / column / line)."""

    def __init__(self, message: str, row: Optional[int] = None, column: Optional[str] = None,
                 line: Optional[int] = None, line_column: Optional[int] = None,
                 byte_offset: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.row, self.column, self.line = row, column, line
        self.line_column, self.byte_offset = line_column, byte_offset

    def _wit(self):
        t = _wit.types
        loc = t.Location(self.row, self.column, self.line, self.line_column, self.byte_offset)
        return t.PluginError_MalformedInput(t.Malformed(self.message, loc))


class InternalError(PluginError):
    """Anything else: the plugin's own bug or limitation."""


class Column:
    """One column of a schema: `name`, `type` (a logical type name) and `nullable`."""

    __slots__ = ("name", "type", "nullable")

    def __init__(self, name: str, type: str, nullable: bool = True):
        if type not in LOGICAL_TYPES:
            raise InternalError(
                f"column {name!r}: unknown logical type {type!r}; one of: {', '.join(LOGICAL_TYPES)}"
            )
        self.name, self.type, self.nullable = name, type, bool(nullable)

    def __eq__(self, other):
        return isinstance(other, Column) and (self.name, self.type, self.nullable) == (
            other.name, other.type, other.nullable)

    def __repr__(self):
        return f"Column({self.name!r}, {self.type!r}, nullable={self.nullable})"


class Schema:
    """The schema of a batch: its table name and columns, in order.

    Schemas are values: `with_column`, `without`, `replace` return new ones."""

    __slots__ = ("table", "columns", "_index")

    def __init__(self, table: str, columns: Iterable[Column]):
        self.table = table
        self.columns: List[Column] = list(columns)
        self._index = {c.name: i for i, c in enumerate(self.columns)}

    @property
    def names(self) -> List[str]:
        return [c.name for c in self.columns]

    def __len__(self):
        return len(self.columns)

    def __iter__(self):
        return iter(self.columns)

    def __contains__(self, name):
        return name in self._index

    def __eq__(self, other):
        return isinstance(other, Schema) and self.table == other.table and self.columns == other.columns

    def __repr__(self):
        cols = ", ".join(f"{c.name} {c.type}{'' if c.nullable else ' not null'}" for c in self.columns)
        return f"Schema({self.table!r}: {cols})"

    def index_of(self, name: str) -> Optional[int]:
        """Position of the column called `name` (exact match), or None."""
        return self._index.get(name)

    def column(self, name: str) -> Optional[Column]:
        i = self._index.get(name)
        return None if i is None else self.columns[i]

    def require(self, name: str, types: Optional[Sequence[str]] = None) -> Column:
        """The column called `name`, or `UnsupportedSchema` naming the columns
        there are (or the types accepted)."""
        col = self.column(name)
        if col is None:
            raise UnsupportedSchema(
                f"column {name!r} not found in table {self.table!r}; available columns: {', '.join(self.names)}"
            )
        if types is not None and col.type not in types:
            raise UnsupportedSchema(
                f"column {name!r} of table {self.table!r} is {col.type}; this plugin takes {', '.join(types)}"
            )
        return col

    def with_column(self, name: str, type: str, nullable: bool = True) -> "Schema":
        """A copy with a column appended."""
        if name in self._index:
            raise UnsupportedSchema(f"table {self.table!r} already has a column {name!r}")
        return Schema(self.table, self.columns + [Column(name, type, nullable)])

    def without(self, name: str) -> "Schema":
        """A copy without the column called `name`."""
        self.require(name)
        return Schema(self.table, [c for c in self.columns if c.name != name])

    def replace(self, name: str, type: Optional[str] = None, nullable: Optional[bool] = None,
                rename: Optional[str] = None) -> "Schema":
        """A copy with one column's type, nullability or name changed."""
        old = self.require(name)
        new = Column(rename or old.name, type or old.type, old.nullable if nullable is None else nullable)
        return Schema(self.table, [new if c.name == name else c for c in self.columns])

    # -- WIT conversions -------------------------------------------------
    @staticmethod
    def _from_wit(s) -> "Schema":
        return Schema(s.table, [Column(c.name, c.logical_type.name.lower(), c.nullable) for c in s.columns])

    def _to_wit(self):
        t = _wit.types
        return t.Schema(self.table, [
            t.ColumnSchema(c.name, t.LogicalType[c.type.upper()], c.nullable) for c in self.columns
        ])
