"""{{name}} — a ferry transformer written in Python.

The worked example: trims and lower-cases a text column (`{"column": "email"}`,
the default) and rejects rows where it is empty, with the reason (code
`empty-value`; ferry quarantines the row in `_ferry_rejects`). Nulls pass
through. Replace it with your own logic; keep the last line.
"""

from dataclasses import dataclass, field

import ferry_plugin as ferry


@dataclass
class Config:
    # The operator's JSON is parsed into this; unknown keys and wrong types
    # are refused with a message naming the key.
    column: str = field(default="email", metadata={"doc": "the text column to normalise"})


class Normalise(ferry.Transformer):
    name = "{{name}}"
    version = "0.1.0"
    description = "Trims and lower-cases a text column; rejects rows where it is empty."
    Config = Config

    def transform_schema(self, schema, config):
        # Plan time: fail before any row moves, naming the columns there are,
        # when the configured column is missing or not text.
        schema.require(config.column, types=["text"])
        return schema  # unchanged; or schema.with_column(...), .without(...), .replace(...)

    def transform(self, batch, output, config):
        col = config.column
        for row in batch:
            value = row[col]
            if value is None:  # nulls pass through
                output.append(row)
                continue
            clean = value.strip().lower()
            if not clean:
                output.reject(row, "empty-value", f"{col} is empty", column=col)
                continue
            output.append(row, {col: clean})


# The class componentize-py wires to the `transform` export.
Transform = ferry.export_transformer(Normalise)
