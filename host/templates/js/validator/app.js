// {{name}} — a ferry validator written in JavaScript.
//
// The worked example: rejects rows where a configured column is null or
// empty ({"column": "email"}, the default), with the reason (code
// `missing-value`; ferry quarantines the row in `_ferry_rejects`). A
// validator inspects rows and never changes them. Replace the check with
// your own; keep the last line.

import * as ferry from "#ferry";

class Required extends ferry.Validator {
  static name = "{{name}}";
  static version = "0.1.0";
  static description = "Rejects rows where a configured column is null or empty.";
  // The operator's JSON is checked against this: unknown keys and wrong
  // types are refused with a message naming the key; defaults fill the rest.
  static config = {
    column: { type: "string", default: "email", doc: "the column that must hold a value" },
  };

  checkSchema(schema, config) {
    // Plan time: fail before any row moves, naming the columns there are.
    schema.require(config.column);
  }

  validate(batch, config) {
    const col = config.column;
    const found = [];
    for (const row of batch) {
      const value = row.get(col);
      const empty = value === null || (typeof value === "string" && value.trim() === "")
        || (value instanceof Uint8Array && value.length === 0);
      if (empty) {
        found.push(ferry.reject(row, "missing-value", `${col} is ${value === null ? "null" : "empty"}`, { column: col }));
      }
    }
    return found;
  }
}

// What the componentizer exports as ferry's `validate` interface.
export const validate = ferry.exportValidator(Required);
