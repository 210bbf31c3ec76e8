// Native tests of the SDK: node --test plugins/sdk-js/tests/
// The exported functions are called with WIT-shaped values, as
// componentize-qjs passes them (camelCase records, `{tag, val}` variants,
// enums as case names, options as null, list<u8> as Uint8Array).

import { test } from "node:test";
import assert from "node:assert/strict";

import * as ferry from "../index.js";
import * as testing from "../testing.js";
import { stackReport } from "../plugin.js";

const ALL = new ferry.Schema("t", [
  new ferry.Column("b", "boolean"), new ferry.Column("i", "int64", false), new ferry.Column("f", "float64"),
  new ferry.Column("d", "decimal"), new ferry.Column("s", "text"), new ferry.Column("y", "bytes"),
  new ferry.Column("j", "json"), new ferry.Column("dt", "date"), new ferry.Column("tm", "time"),
  new ferry.Column("ts", "timestamp"), new ferry.Column("tz", "timestamptz"), new ferry.Column("u", "uuid"),
]);

class Copy extends ferry.Transformer {
  static name = "copy";
  transform(batch, output) { for (const row of batch) output.append(row.toObject()); }
}

test("every logical type round-trips through encode and decode", () => {
  const rows = [
    { b: true, i: 9007199254740991, f: 1.5, d: "-12.340", s: "héllo 😀", y: new Uint8Array([0, 255]),
      j: '{"a":[1,2]}', dt: 19000, tm: 3_600_000_000, ts: 1_700_000_000_000_000, tz: -1,
      u: "123e4567-e89b-12d3-a456-426614174000" },
    { b: null, i: -5, f: null, d: null, s: null, y: null, j: null, dt: null, tm: null, ts: null, tz: null, u: null },
  ];
  const out = testing.transform(Copy, ALL, rows);
  assert.deepEqual(out.rows, rows);
  assert.deepEqual(out.diagnostics, []);
});

test("outputs take the documented alternatives: Date, BigInt, numbers for decimal, values for json, uuid bytes", () => {
  const schema = new ferry.Schema("t", [
    new ferry.Column("dt", "date"), new ferry.Column("ts", "timestamptz"), new ferry.Column("i", "int64"),
    new ferry.Column("d", "decimal"), new ferry.Column("j", "json"), new ferry.Column("u", "uuid"),
  ]);
  const u = new Uint8Array(16); u[15] = 1;
  const { rows } = testing.transform(Copy, schema, [{
    dt: new Date("2024-02-29T12:00:00Z"), ts: new Date("1970-01-01T00:00:01Z"), i: 42n, d: 1.25, j: { a: 1 }, u,
  }]);
  assert.deepEqual(rows, [{
    dt: 19782, ts: 1_000_000, i: 42, d: "1.25", j: '{"a":1}', u: "00000000-0000-0000-0000-000000000001",
  }]);
});

test("the WIT batch the host sends decodes by column name, nulls from the bitmap", () => {
  const schema = { table: "c", columns: [
    { name: "id", logicalType: "int64", nullable: false },
    { name: "email", logicalType: "text", nullable: true },
  ] };
  const batch = { numRows: 3, columns: [
    { validity: null, data: { tag: "ints", val: [1, 2, 3] } },
    { validity: new Uint8Array([0b101]), data: { tag: "utf8", val: {
      data: new Uint8Array([...Buffer.from("A@xÉ@y")]), offsets: [0, 3, 3, 7] } } },
  ] };
  const seen = [];
  class Read extends ferry.Validator {
    static name = "read";
    validate(b) {
      for (const row of b) seen.push([row.index, row.get("id"), row.get("email"), row.size, [...row.keys()]]);
      return [ferry.reject(b.row(1), "null-email", "no address", { column: "email" })];
    }
  }
  const diags = ferry.exportValidator(Read).validate(schema, "", batch);
  assert.deepEqual(seen, [
    [0, 1, "A@x", 2, ["id", "email"]], [1, 2, null, 2, ["id", "email"]], [2, 3, "É@y", 2, ["id", "email"]],
  ]);
  assert.deepEqual(diags, [{ severity: "error", row: 1, column: "email", code: "null-email", message: "no address" }]);
});

test("unchanged columns are handed back as the input's own WIT column", () => {
  class Upper extends ferry.Transformer {
    static name = "upper";
    transform(batch, output) { for (const r of batch) output.append(r, { s: r.get("s").toUpperCase() }); }
  }
  const schema = new ferry.Schema("t", [new ferry.Column("i", "int64"), new ferry.Column("s", "text")]);
  const exp = ferry.exportTransformer(Upper);
  const input = testing.witBatch(schema, [{ i: 1, s: "a" }, { i: 2, s: "b" }]);
  const out = exp.transform(schema._toWit(), "{}", input);
  assert.equal(out.batch.columns[0], input.columns[0]);
  assert.deepEqual(new ferry.Batch(schema, out.batch).rows(), [{ i: 1, s: "A" }, { i: 2, s: "B" }]);
});

test("rejects, warnings, dropped and added rows; output values are checked against the schema", () => {
  class Split extends ferry.Transformer {
    static name = "split";
    transform(batch, output) {
      for (const r of batch) {
        if (r.get("i") === 2) { output.reject(r, "two", "no twos", { column: "i" }); continue; }
        if (r.get("i") === 3) output.warn(r, "three", "a three");
        output.append(r);
        output.append({ i: r.get("i") * 10 });
      }
    }
  }
  const schema = new ferry.Schema("t", [new ferry.Column("i", "int64"), new ferry.Column("s", "text")]);
  const out = testing.transform(Split, schema, [{ i: 1, s: "x" }, { i: 2, s: "y" }, { i: 3, s: "z" }]);
  assert.deepEqual(out.rows, [{ i: 1, s: "x" }, { i: 10, s: null }, { i: 3, s: "z" }, { i: 30, s: null }]);
  assert.deepEqual(out.diagnostics.map((d) => [d.severity, d.row, d.code]), [["error", 1, "two"], ["warning", 2, "three"]]);

  class Wrong extends ferry.Transformer {
    static name = "wrong";
    transform(batch, output) { for (const r of batch) output.append(r, { i: "one" }); }
  }
  assert.throws(() => testing.transform(Wrong, schema, [{ i: 1, s: "x" }]),
    (e) => e.tag === "internal" && /output column 'i' \(int64\) takes an integer.*row 0 has string "one"/.test(e.message));
  class Unknown extends ferry.Transformer {
    static name = "unknown";
    transform(batch, output) { for (const r of batch) output.append(r, { nope: 1 }); }
  }
  assert.throws(() => testing.transform(Unknown, schema, [{ i: 1 }]),
    (e) => e.tag === "internal" && /no column 'nope'; it has: i, s/.test(e.message));
});

test("int64 values beyond 2^53 are refused, never rounded", () => {
  const schema = { table: "t", columns: [{ name: "i", logicalType: "int64", nullable: false }] };
  const batch = { numRows: 1, columns: [{ validity: null, data: { tag: "ints", val: [2n ** 60n] } }] };
  class Read extends ferry.Validator { static name = "r"; validate(b) { b.column("i"); return []; } }
  assert.throws(() => ferry.exportValidator(Read).validate(schema, "{}", batch),
    (e) => e.tag === "malformed-input" && /beyond 2\^53/.test(e.val.message) && e.val.location.column === "i");
  // Also when the column is handed back without being decoded: the
  // componentizer has already rounded such a value.
  const rounded = { numRows: 1, columns: [{ validity: null, data: { tag: "ints", val: [2 ** 60] } }] };
  for (const mode of ["rows", "raw"]) {
    class Pass extends ferry.Transformer {
      static name = "p";
      transform(b, out) { if (mode === "raw") out.passThrough(b); else for (const r of b) out.append(r); }
    }
    assert.throws(() => ferry.exportTransformer(Pass).transform(schema, "{}", rounded),
      (e) => e.tag === "malformed-input" && /2\^53/.test(e.val.message), mode);
  }
});

test("configuration: defaults, unknown keys, wrong types, enum, custom checks, JSON Schema", () => {
  const spec = {
    column: { type: "string", default: "email", doc: "the column" },
    max: { type: "integer", default: 3 },
    mode: { type: "string", default: "a", enum: ["a", "b"] },
    tag: { type: "string", nullable: true, default: null },
  };
  assert.deepEqual(ferry.parseConfig(spec, ""), { column: "email", max: 3, mode: "a", tag: null });
  assert.deepEqual(ferry.parseConfig(spec, '{"max": 5, "tag": null}').max, 5);
  const refused = (text, re) => assert.throws(() => ferry.parseConfig(spec, text),
    (e) => e instanceof ferry.InvalidConfig && re.test(e.message));
  refused('{"colum": "x"}', /unknown key 'colum'; expected one of: column, max, mode, tag/);
  refused('{"max": "5"}', /key 'max' must be an integer, got "5"/);
  refused('{"max": 1.5}', /key 'max' must be an integer, got 1.5/);
  refused('{"mode": "c"}', /key 'mode' must be one of "a", "b"/);
  refused("[1]", /must be a JSON object, got array/);
  refused("{", /not JSON/);
  assert.throws(() => ferry.parseConfig({ n: { type: "number" } }, "{}"), /missing key 'n'/);
  assert.throws(() => ferry.parseConfig(null, '{"a":1}'), /takes no configuration; unknown key 'a'/);
  assert.throws(() => ferry.parseConfig(spec, '{"max": 0}', (c) => { if (c.max < 1) throw new Error("max must be >= 1"); }),
    (e) => e instanceof ferry.InvalidConfig && e.message === "max must be >= 1");
  const js = JSON.parse(ferry.configSchema(spec));
  assert.deepEqual(js.properties.column, { type: "string", default: "email", description: "the column" });
  assert.deepEqual(js.properties.tag.type, ["string", "null"]);
  assert.equal(js.additionalProperties, false);

  class C extends ferry.Transformer { static name = "c"; static config = spec; }
  assert.throws(() => testing.transform(C, ALL, [], '{"bad": 1}'),
    (e) => e instanceof testing.CallError && e.tag === "invalid-config" && /unknown key 'bad'/.test(e.error.val));
  const info = ferry.exportTransformer(C).describe();
  assert.equal(info.name, "c");
  assert.equal(JSON.parse(info.configSchema).properties.max.default, 3);
});

test("plugin errors become the typed WIT plugin-error; malformed input carries its location", () => {
  class Fails extends ferry.Transformer {
    static name = "fails";
    transformSchema(schema) { schema.require("nope", ["text"]); return schema; }
  }
  assert.throws(() => testing.transform(Fails, ALL, []),
    (e) => e.tag === "unsupported-schema" && /column 'nope' not found in table 't'; available columns: b, i,/.test(e.error.val));
  class Bad extends ferry.Transformer {
    static name = "bad";
    transform() { throw new ferry.MalformedInput("bad row", { row: 0, column: "s" }); }
  }
  assert.throws(() => testing.transform(Bad, ALL, []), (e) => e.tag === "malformed-input"
    && e.error.val.message === "bad row" && e.error.val.location.row === 0 && e.error.val.location.column === "s"
    && e.error.val.location.line === null);
});

test("any other exception propagates as itself (a trap inside a component), with its stack report", () => {
  function helperThatThrows() { throw new TypeError("oops"); }
  class Buggy extends ferry.Transformer {
    static name = "buggy";
    transform() { helperThatThrows(); }
  }
  let caught;
  try { testing.transform(Buggy, ALL, []); } catch (e) { caught = e; }
  assert.ok(caught instanceof TypeError);
  const report = stackReport(caught).split("\n");
  assert.equal(report[0], "TypeError: oops");
  assert.match(report[1], /^    at helperThatThrows \(.*sdk\.test\.js:\d+:\d+\)$/);
  assert.equal(stackReport("plain"), "uncaught value: plain");
});

test("a parser's records are plain objects; values map onto field-value cases", () => {
  class Lines extends ferry.Parser {
    static name = "lines";
    open() {
      let rest = "";
      let n = 0;
      const recs = (text, last) => {
        const parts = (rest + text).split("\n");
        rest = last ? "" : parts.pop();
        return parts.filter((l) => l !== "").map((l) => ({ n: ++n, l, f: ferry.field.float(1), j: { a: n }, none: null }));
      };
      const dec = new TextDecoder();
      return { feed: (b) => recs(dec.decode(b, { stream: true }), false), finish: () => recs(dec.decode(), true) };
    }
  }
  assert.deepEqual(testing.parse(Lines, "a\n\nb\nc", { chunkSize: 1 }), [
    { n: 1, l: "a", f: 1, j: { a: 1 }, none: null }, { n: 2, l: "b", f: 1, j: { a: 2 }, none: null },
    { n: 3, l: "c", f: 1, j: { a: 3 }, none: null },
  ]);
  const exp = ferry.exportParser(Lines);
  const s = exp.open({ name: "x", size: 2n, mediaTypeHint: null }, "");
  assert.ok(s instanceof exp.Session);
  assert.deepEqual(s.feed(new Uint8Array([104, 10]))[0].fields.slice(0, 3), [
    { name: "n", value: { tag: "integer", val: 1 } }, { name: "l", value: { tag: "text", val: "h" } },
    { name: "f", value: { tag: "float", val: 1 } },
  ]);
});

test("UTF-8 without TextDecoder matches the platform's", async () => {
  const saved = [globalThis.TextEncoder, globalThis.TextDecoder];
  globalThis.TextEncoder = undefined;
  globalThis.TextDecoder = undefined;
  try {
    const { encodeUtf8, decodeUtf8 } = await import("../utf8.js?no-codec");
    for (const s of ["", "ascii", "é", "😀 x", "€uro", "\u{10FFFF}"]) {
      const b = encodeUtf8(s);
      assert.deepEqual(Array.from(b), Array.from(Buffer.from(s)));
      assert.equal(decodeUtf8(b), s);
    }
    assert.equal(decodeUtf8(new Uint8Array([0xc0, 0x80])), null);
    assert.equal(decodeUtf8(new Uint8Array([0xed, 0xa0, 0x80])), null);
    assert.equal(decodeUtf8(new Uint8Array([0xe2, 0x82])), null);
  } finally {
    [globalThis.TextEncoder, globalThis.TextDecoder] = saved;
  }
});

test("a column named like an Object.prototype property is read and written as any other", () => {
  const schema = new ferry.Schema("t", [new ferry.Column("constructor", "text"), new ferry.Column("toString", "int64")]);
  class Mix extends ferry.Transformer {
    static name = "mix";
    transform(batch, output) {
      for (const r of batch) {
        output.append(r);
        output.append({ toString: 7 });
        output.append(r, { constructor: "changed" });
      }
    }
  }
  const { rows } = testing.transform(Mix, schema, [{ constructor: "a", toString: 1 }]);
  assert.deepEqual(rows, [
    { constructor: "a", toString: 1 }, { constructor: null, toString: 7 }, { constructor: "changed", toString: 1 },
  ]);
});

test("a thrown exception's report fits its budget and keeps the innermost frames", () => {
  function deep(n) { if (n === 0) throw new Error("x".repeat(500)); deep(n - 1); }
  let e;
  try { deep(30); } catch (err) { e = err; }
  const report = stackReport(e, 400);
  assert.ok(report.length <= 400, report.length);
  const lines = report.split("\n");
  assert.equal(lines[0].length, 200);
  assert.match(lines[1], /at deep /);
});
