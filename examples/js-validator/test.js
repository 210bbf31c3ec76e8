// Native test of the example (Node, no component): node test.js
import { test } from "node:test";
import assert from "node:assert/strict";

import * as ferry from "#ferry";
import * as testing from "#ferry/testing";
import { validate as exported } from "./app.js";

const SCHEMA = new ferry.Schema("customers", [
  new ferry.Column("id", "int64", false),
  new ferry.Column("email", "text"),
  new ferry.Column("phone", "text"),
]);

function run(rows, config = '{"column":"email"}') {
  exported.checkSchema(SCHEMA._toWit(), config);
  return exported.validate(SCHEMA._toWit(), config, testing.witBatch(SCHEMA, rows));
}

test("rejects implausible addresses with the reason, keeps the rest", () => {
  const diags = run([
    { id: 1, email: "ada@example.com" },
    { id: 2, email: "not-an-address" },
    { id: 3, email: null },
    { id: 4, email: " bob@example.com" },
    { id: 5, email: "eve@localhost" },
  ]);
  assert.deepEqual(diags.map((d) => [d.severity, d.row, d.column, d.code, d.message]), [
    ["error", 1, "email", "invalid-email", 'email has no @: "not-an-address"'],
    ["error", 3, "email", "invalid-email", 'email has leading or trailing spaces: " bob@example.com"'],
    ["error", 4, "email", "invalid-email", 'email is not of the form name@domain.tld: "eve@localhost"'],
  ]);
});

test("phones, and nulls refused when allowNull is false", () => {
  const diags = run([
    { id: 1, phone: "+44 20 7946 0958" }, { id: 2, phone: "12-34" }, { id: 3, phone: null }, { id: 4, phone: "call me" },
  ], '{"column":"phone","kind":"phone","allowNull":false}');
  assert.deepEqual(diags.map((d) => [d.row, d.code]), [[1, "invalid-phone"], [2, "missing-phone"], [3, "invalid-phone"]]);
});

test("a missing column or a bad configuration is refused, naming what is wrong", () => {
  assert.throws(() => run([], '{"column":"mail"}'),
    (e) => e.tag === "unsupported-schema" && /available columns: id, email, phone/.test(e.val));
  assert.throws(() => run([], '{"kind":"fax"}'), (e) => e.tag === "invalid-config" && /'kind' must be one of/.test(e.val));
  assert.throws(() => run([], '{"colum":"email"}'), (e) => e.tag === "invalid-config" && /unknown key 'colum'/.test(e.val));
});
