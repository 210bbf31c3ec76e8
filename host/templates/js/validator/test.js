// Native test of {{name}} (Node, no ferry needed): node test.js
import { test } from "node:test";
import assert from "node:assert/strict";

import * as ferry from "#ferry";
import * as testing from "#ferry/testing";
import { validate } from "./app.js";

const SCHEMA = new ferry.Schema("customers", [
  new ferry.Column("id", "int64", false),
  new ferry.Column("email", "text"),
]);

// Calls the export as ferry does: WIT-shaped schema, configuration text, batch.
function run(rows, config = '{"column":"email"}') {
  validate.checkSchema(SCHEMA._toWit(), config);
  return validate.validate(SCHEMA._toWit(), config, testing.witBatch(SCHEMA, rows));
}

test("rejects null and empty values with the reason, keeps the rest", () => {
  const diags = run([
    { id: 1, email: "ada@example.com" },
    { id: 2, email: null },
    { id: 3, email: "  " },
  ]);
  assert.deepEqual(diags, [
    { severity: "error", row: 1, column: "email", code: "missing-value", message: "email is null" },
    { severity: "error", row: 2, column: "email", code: "missing-value", message: "email is empty" },
  ]);
});

test("a missing column is an unsupported schema, naming the columns there are", () => {
  assert.throws(() => run([], '{"column":"mail"}'),
    (e) => e.tag === "unsupported-schema" && e.val.includes("available columns: id, email"));
});

test("a wrong type is an invalid configuration", () => {
  assert.throws(() => run([], '{"column":3}'),
    (e) => e.tag === "invalid-config" && e.val.includes("key 'column' must be a string"));
});
