"""{{name}} — a ferry validator written in Python.

The worked example: rejects rows where a column (`{"column": "email"}`, the
default) is null or blank, with the reason (code `required`; ferry
quarantines the row in `_ferry_rejects`). A validator never changes rows:
it returns diagnostics. Replace it with your own checks; keep the last line.
"""

from dataclasses import dataclass, field

import ferry_plugin as ferry


@dataclass
class Config:
    # The operator's JSON is parsed into this; unknown keys and wrong types
    # are refused with a message naming the key.
    column: str = field(default="email", metadata={"doc": "the column that must hold a value"})


class RequireValue(ferry.Validator):
    name = "{{name}}"
    version = "0.1.0"
    description = "Rejects rows where a column is null or blank."
    Config = Config

    def check_schema(self, schema, config):
        # Plan time: fail before any row moves, naming the columns there are.
        schema.require(config.column)

    def validate(self, batch, config):
        col = config.column
        found = []
        for row in batch:
            value = row[col]
            if value is None:
                found.append(ferry.reject(row, "required", f"{col} is null", column=col))
            elif isinstance(value, str) and not value.strip():
                found.append(ferry.reject(row, "required", f"{col} is blank", column=col))
            # ferry.warning(row, code, message) keeps the row and reports it.
        return found


# The class componentize-py wires to the `validate` export.
Validate = ferry.export_validator(RequireValue)
