"""Run a plugin natively, as the host would call it (configuration as text,
batches encoded and decoded through the same code as in the component; a
parser fed in chunks)."""

import json
from typing import Any, Dict, List, Optional, Tuple

from . import _wit
from .batch import Batch, Output
from .parser import export_parser
from .plugin import export_transformer, export_validator
from .schema import PluginError, Schema


class CallError(Exception):
    """The call returned a WIT `plugin-error` (`.value` holds it)."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _wit_batch(schema: Schema, rows) -> object:
    out = Output(schema)
    for r in rows:
        out.append(r)
    return out._finish()[0]


def transform(cls, schema: Schema, rows: List[Dict[str, Any]], config: str = "{}") -> Tuple[List[Dict[str, Any]], list]:
    """`cls` run on `rows` (dicts): the output rows as dicts and the diagnostics
    (severity name, row, column, code, message). A plugin error raises `CallError`."""
    exp = export_transformer(cls)()
    try:
        out_schema = Schema._from_wit(exp.transform_schema(schema._to_wit(), config))
        result = exp.transform(schema._to_wit(), config, _wit_batch(schema, rows))
    except _wit.Err as e:
        raise CallError(e.value) from None
    out_rows = Batch(out_schema, result.batch).rows()
    diags = [(d.severity.name.lower(), d.row, d.column, d.code, d.message) for d in result.diagnostics]
    return out_rows, diags


def validate(cls, schema: Schema, rows: List[Dict[str, Any]], config: str = "{}") -> list:
    exp = export_validator(cls)()
    try:
        exp.check_schema(schema._to_wit(), config)
        diags = exp.validate(schema._to_wit(), config, _wit_batch(schema, rows))
    except _wit.Err as e:
        raise CallError(e.value) from None
    return [(d.severity.name.lower(), d.row, d.column, d.code, d.message) for d in diags]


#: Chunk size `parse` feeds by default: the host's (`CHUNK_BYTES`, 64 KiB).
HOST_CHUNK_BYTES = 64 * 1024


def _py_value(v):
    """A WIT `field-value` as the Python value it came from (json parsed)."""
    name = type(v).__name__
    if name.endswith("_Null"):
        return None
    if name.endswith("_Json"):
        return json.loads(v.value)
    return v.value


def parse(cls, data: bytes, config: str = "{}", name: str = "input.txt", chunk_size: int = HOST_CHUNK_BYTES,
          media_type: Optional[str] = None) -> List[Dict[str, Any]]:
    """`cls` run on `data` as the host runs it — `check-config`, `open`, one
    `feed` per `chunk_size` bytes, `finish` — returning the records as dicts
    (json fields parsed back into Python values). A small `chunk_size`
    (1, 7) checks that chunk boundaries do not matter. A plugin error raises
    `CallError` (`.value` is the WIT `plugin-error`)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    exp = export_parser(cls)()
    out = []
    try:
        exp.check_config(config)
        session = exp.open(_wit.parse_types().FileInfo(name, len(data), media_type), config)
        for at in range(0, len(data), chunk_size):
            out.extend(session.feed(bytes(data[at:at + chunk_size])))
        out.extend(session.finish())
    except _wit.Err as e:
        raise CallError(e.value) from None
    return [{f.name: _py_value(f.value) for f in r.fields} for r in out]
