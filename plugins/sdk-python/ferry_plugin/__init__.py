"""Guest SDK for ferry plugins written in Python (`ferry:plugin@0.1.0`),
built into components with componentize-py.

A plugin subclasses `Transformer`, `Validator` or `Parser`, reads input rows by column
name, appends output rows, rejects rows with a reason, and exports itself
with one line in its app module::

    from dataclasses import dataclass
    import ferry_plugin as ferry

    @dataclass
    class Config:
        column: str = "email"

    class Lower(ferry.Transformer):
        name = "lower"
        description = "Lower-cases a column."
        Config = Config

        def transform_schema(self, schema, config):
            schema.require(config.column, types=["text"])
            return schema

        def transform(self, batch, output, config):
            for row in batch:
                value = row[config.column]
                output.append(row, {config.column: value.lower() if value else value})

    Transform = ferry.export_transformer(Lower)

A parser subclasses `Parser` and either overrides `parse(data, file, config)`
(the whole file; the SDK buffers it) or `open(file, config)` returning a
session with `feed(chunk)` and `finish()`; both return record dicts. It is
exported with `Parse = ferry.export_parser(MyParser)` (see `parser.py`).

Offsets, bitmaps and the WIT types stay inside this package. Pure Python:
no native dependencies, so componentize-py bundles it as it is.
"""

from .batch import Batch, Diagnostic, Output, Row, info, reject, warning
from .config import config_schema, parse_config
from .log import log
from .parser import FileInfo, Parser, export_parser, field_value, parsed_record
from .plugin import Transformer, Validator, export_transformer, export_validator
from .schema import (
    LOGICAL_TYPES,
    PYTHON_TYPES,
    Column,
    InternalError,
    InvalidConfig,
    MalformedInput,
    PluginError,
    Schema,
    UnsupportedSchema,
)

__version__ = "0.1.0"

__all__ = [
    "Batch", "Column", "Diagnostic", "FileInfo", "InternalError", "InvalidConfig", "LOGICAL_TYPES",
    "MalformedInput", "Output", "PYTHON_TYPES", "Parser", "PluginError", "Row", "Schema",
    "Transformer", "UnsupportedSchema", "Validator", "config_schema", "export_parser",
    "export_transformer", "export_validator", "field_value", "info", "log", "parse_config",
    "parsed_record", "reject", "warning",
]
