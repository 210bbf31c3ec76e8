// Native test of {{name}} (Node, no ferry needed): node test.js
import { test } from "node:test";
import assert from "node:assert/strict";

import * as ferry from "#ferry";
import * as testing from "#ferry/testing";
import { transform } from "./app.js";

const SCHEMA = new ferry.Schema("customers", [
  new ferry.Column("id", "int64", false),
  new ferry.Column("email", "text"),
]);

// Calls the export as ferry does: WIT-shaped schema, configuration text, batch.
function run(rows, config = '{"column":"email"}') {
  const outSchema = ferry.Schema._fromWit(transform.transformSchema(SCHEMA._toWit(), config));
  const out = transform.transform(SCHEMA._toWit(), config, testing.witBatch(SCHEMA, rows));
  return { rows: new ferry.Batch(outSchema, out.batch).rows(), diagnostics: out.diagnostics };
}

test("trims, lower-cases and rejects empty values with the reason", () => {
  const { rows, diagnostics } = run([
    { id: 1, email: "  Ada@Example.COM " },
    { id: 2, email: "   " },
    { id: 3, email: null },
  ]);
  assert.deepEqual(rows, [{ id: 1, email: "ada@example.com" }, { id: 3, email: null }]);
  assert.deepEqual(diagnostics, [
    { severity: "error", row: 1, column: "email", code: "empty-value", message: "email is empty" },
  ]);
});

test("a missing column is an unsupported schema, naming the columns there are", () => {
  assert.throws(() => run([], '{"column":"mail"}'),
    (e) => e.tag === "unsupported-schema" && e.val.includes("available columns: id, email"));
});

test("an unknown key is an invalid configuration", () => {
  assert.throws(() => run([], '{"colum":"email"}'),
    (e) => e.tag === "invalid-config" && e.val.includes("unknown key 'colum'"));
});
