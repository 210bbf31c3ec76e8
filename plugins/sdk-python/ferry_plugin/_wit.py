"""The WIT types of `ferry:plugin@0.1.0`, as the component sees them.

Inside a component built by componentize-py the real bindings
(`wit_world.imports.types`, `wit_world.exports.transform`, ...) exist and are
used. Natively (tests, a REPL) they do not, and this module falls back to
plain dataclasses with the same names and fields, so the SDK and a plugin
run unchanged under CPython.
"""

from dataclasses import dataclass
from enum import Enum
from typing import List, Optional, Union

try:  # inside a component
    from wit_world.imports import types as types  # type: ignore
    from componentize_py_types import Err as Err  # type: ignore

    NATIVE = False
except ImportError:  # natively
    NATIVE = True

    class Err(Exception):  # type: ignore[no-redef]
        def __init__(self, value):
            super().__init__(value)
            self.value = value

    class _Types:
        class LogicalType(Enum):
            BOOLEAN = 0
            INT64 = 1
            FLOAT64 = 2
            DECIMAL = 3
            TEXT = 4
            BYTES = 5
            JSON = 6
            DATE = 7
            TIME = 8
            TIMESTAMP = 9
            TIMESTAMPTZ = 10
            UUID = 11

        @dataclass
        class ColumnSchema:
            name: str
            logical_type: "object"
            nullable: bool

        @dataclass
        class Schema:
            table: str
            columns: list

        @dataclass
        class VarWidth:
            data: bytes
            offsets: List[int]

        @dataclass
        class ColumnData_Bools:
            value: list

        @dataclass
        class ColumnData_Ints:
            value: list

        @dataclass
        class ColumnData_Floats:
            value: list

        @dataclass
        class ColumnData_Dates:
            value: list

        @dataclass
        class ColumnData_Uuids:
            value: bytes

        @dataclass
        class ColumnData_Utf8:
            value: "object"

        @dataclass
        class ColumnData_Binary:
            value: "object"

        @dataclass
        class Column:
            validity: Optional[bytes]
            data: "object"

        @dataclass
        class Batch:
            num_rows: int
            columns: list

        class Severity(Enum):
            INFO = 0
            WARNING = 1
            ERROR = 2

        @dataclass
        class Diagnostic:
            severity: "object"
            row: Optional[int]
            column: Optional[str]
            code: str
            message: str

        @dataclass
        class Location:
            row: Optional[int]
            column: Optional[str]
            line: Optional[int]
            line_column: Optional[int]
            byte_offset: Optional[int]

        @dataclass
        class Malformed:
            message: str
            location: "object"

        @dataclass
        class PluginError_InvalidConfig:
            value: str

        @dataclass
        class PluginError_UnsupportedSchema:
            value: str

        @dataclass
        class PluginError_MalformedInput:
            value: "object"

        @dataclass
        class PluginError_Internal:
            value: str

        @dataclass
        class PluginInfo:
            name: str
            version: str
            description: str
            config_schema: str
            capabilities: List[str]

    types = _Types  # type: ignore[assignment]


@dataclass
class NativeTransformOutput:
    """Stand-in for `wit_world.exports.transform.TransformOutput` natively."""

    batch: object
    diagnostics: list


def transform_output(batch, diagnostics):
    """A WIT `transform-output`."""
    if NATIVE:
        return NativeTransformOutput(batch, diagnostics)
    from wit_world.exports import transform  # type: ignore

    return transform.TransformOutput(batch, diagnostics)


def host_log(level: int, message: str) -> None:
    """`ferry:plugin/host.log`, or stderr natively."""
    if NATIVE:
        import sys

        names = ["trace", "debug", "info", "warn", "error"]
        print(f"[{names[level]}] {message}", file=sys.stderr)
        return
    from wit_world.imports import host  # type: ignore

    host.log(host.LogLevel(level), message)


class _NativeParse:
    """Stand-ins for `wit_world.exports.parse`'s types natively."""

    @dataclass
    class FieldValue_Null:
        pass

    @dataclass
    class FieldValue_Boolean:
        value: bool

    @dataclass
    class FieldValue_Integer:
        value: int

    @dataclass
    class FieldValue_Float:
        value: float

    @dataclass
    class FieldValue_Text:
        value: str

    @dataclass
    class FieldValue_Bytes:
        value: bytes

    @dataclass
    class FieldValue_Json:
        value: str

    @dataclass
    class Field:
        name: str
        value: "object"

    @dataclass
    class ParsedRecord:
        fields: list

    @dataclass
    class FileInfo:
        name: str
        size: int
        media_type_hint: Optional[str]

    class Session:
        pass


def parse_types():
    """The `parse` interface's types: `wit_world.exports.parse` inside a
    component built for the `parser` world, the stand-ins natively. (Only the
    parser world has that module, so it is imported on first use, not here.)"""
    if NATIVE:
        return _NativeParse
    from wit_world.exports import parse  # type: ignore

    return parse
