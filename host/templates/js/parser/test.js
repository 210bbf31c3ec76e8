// Native test of {{name}} (Node, no ferry needed): node test.js
import { test } from "node:test";
import assert from "node:assert/strict";

import { parse } from "./app.js";

const enc = new TextEncoder();

// Calls the export as ferry does: open a session, feed chunks, finish.
function run(content, { chunk = 3, config = "{}" } = {}) {
  parse.checkConfig(config);
  const bytes = typeof content === "string" ? enc.encode(content) : content;
  const session = parse.open({ name: "notes.txt", size: BigInt(bytes.length), mediaTypeHint: null }, config);
  const records = [];
  for (let at = 0; at < bytes.length; at += chunk) records.push(...session.feed(bytes.subarray(at, at + chunk)));
  records.push(...session.finish());
  // Each record is {fields: [{name, value: {tag, val}}]}, as ferry receives it.
  return records.map((r) => Object.fromEntries(r.fields.map((f) => [f.name, f.value.val])));
}

test("one record per non-empty line, with its physical line number", () => {
  assert.deepEqual(run("\uFEFFfirst\r\n\nsecond é\nthird"), [
    { line_no: 1, text: "first" },
    { line_no: 3, text: "second é" },
    { line_no: 4, text: "third" },
  ]);
});

test("a NUL byte makes the file malformed, at its line and byte offset", () => {
  assert.throws(() => run(new Uint8Array([97, 10, 98, 0, 99])),
    (e) => e.tag === "malformed-input" && e.val.location.line === 2 && e.val.location.byteOffset === 3);
});

test("a line over max_line_bytes is malformed; a bad max_line_bytes is an invalid configuration", () => {
  assert.throws(() => run("abcdef\n", { config: '{"max_line_bytes": 4}' }),
    (e) => e.tag === "malformed-input" && e.val.message.includes("longer than 4 bytes"));
  assert.throws(() => run("", { config: '{"max_line_bytes": 0}' }),
    (e) => e.tag === "invalid-config" && e.val.includes("between 1 and"));
});
