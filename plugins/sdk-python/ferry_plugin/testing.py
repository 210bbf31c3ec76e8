"""Run a plugin natively, as the host would call it (configuration as text,
batches encoded and decoded through the same code as in the component)."""

from typing import Any, Dict, List, Tuple

from . import _wit
from .batch import Batch, Output
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
