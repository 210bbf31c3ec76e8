"""A ferry transformer in Python: normalises an e-mail column (trim + lower-case)
and rejects rows whose address is empty, with the reason.

Configuration: `{"column": "email"}` (the default). Build with `./build.sh`.
"""

from dataclasses import dataclass, field

import ferry_plugin as ferry


@dataclass
class Config:
    column: str = field(default="email", metadata={"doc": "the text column to normalise"})


class Normalise(ferry.Transformer):
    name = "python-normalise"
    version = "0.1.0"
    description = "Trims and lower-cases a text column; rejects rows where it is empty."
    Config = Config

    def transform_schema(self, schema, config):
        # Plan time: fail early, naming the columns there are, when the column is missing.
        schema.require(config.column, types=["text"])
        return schema

    def transform(self, batch, output, config):
        col = config.column
        for row in batch:
            value = row[col]
            if value is None:                  # nulls pass through
                output.append(row)
                continue
            clean = value.strip().lower()
            if not clean:
                output.reject(row, "empty-email", f"{col} is empty", column=col)
                continue
            output.append(row, {col: clean})


# The class componentize-py wires to the `transform` export.
Transform = ferry.export_transformer(Normalise)
