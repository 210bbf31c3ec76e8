// {{name}} — a ferry transformer written in JavaScript.
//
// The worked example: trims and lower-cases a text column ({"column": "email"},
// the default) and rejects rows where it is empty, with the reason (code
// `empty-value`; ferry quarantines the row in `_ferry_rejects`). Nulls pass
// through. Replace it with your own logic; keep the last line.

import * as ferry from "#ferry";

class Normalise extends ferry.Transformer {
  static name = "{{name}}";
  static version = "0.1.0";
  static description = "Trims and lower-cases a text column; rejects rows where it is empty.";
  // The operator's JSON is checked against this: unknown keys and wrong
  // types are refused with a message naming the key; defaults fill the rest.
  static config = {
    column: { type: "string", default: "email", doc: "the text column to normalise" },
  };

  transformSchema(schema, config) {
    // Plan time: fail before any row moves, naming the columns there are,
    // when the configured column is missing or not text.
    schema.require(config.column, ["text"]);
    return schema;
  }

  transform(batch, output, config) {
    const col = config.column;
    for (const row of batch) {
      const value = row.get(col);
      if (value === null) {
        output.append(row);
        continue;
      }
      const clean = value.trim().toLowerCase();
      if (clean === "") {
        output.reject(row, "empty-value", `${col} is empty`, { column: col });
        continue;
      }
      output.append(row, { [col]: clean });
    }
  }
}

// What the componentizer exports as ferry's `transform` interface.
export const transform = ferry.exportTransformer(Normalise);
