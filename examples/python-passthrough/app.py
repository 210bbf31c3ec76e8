"""A pass-through transformer, for measuring what a Python plugin costs.

`{"mode": "rows"}` (default): `output.append(row)` for every row, the SDK's
ordinary path (columns copied unchanged are handed back without decoding).
`{"mode": "dicts"}`: every row decoded into a dict of Python values and
re-encoded (what a plugin that touches every value pays). `{"mode": "raw"}`:
the input batch handed back untouched (what the boundary and CPython cost).
"""

from dataclasses import dataclass

import ferry_plugin as ferry


@dataclass
class Config:
    mode: str = "rows"

    def __post_init__(self):
        if self.mode not in ("rows", "dicts", "raw"):
            raise ValueError(f"mode must be 'rows', 'dicts' or 'raw', got {self.mode!r}")


class PassThrough(ferry.Transformer):
    name = "python-passthrough"
    version = "0.1.0"
    description = "Passes every row through unchanged (a benchmark)."
    Config = Config

    def transform(self, batch, output, config):
        if config.mode == "raw":
            output.pass_through(batch)
            return
        if config.mode == "dicts":
            for row in batch:
                output.append(row.to_dict())
            return
        for row in batch:
            output.append(row)


Transform = ferry.export_transformer(PassThrough)
