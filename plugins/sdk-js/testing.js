// Run a plugin natively, as the host would call it: configuration as text,
// batches encoded and decoded through the same code as in the component,
// WIT-shaped values in and out.

import { Batch, Output } from "./batch.js";
import { exportParser, exportTransformer, exportValidator } from "./plugin.js";
import { Schema } from "./schema.js";
import { encodeUtf8 } from "./utf8.js";

/** The call returned a WIT `plugin-error`: `.error` is it (`{tag, val}`),
 * `.tag` its case, e.g. `invalid-config`. */
export class CallError extends Error {
  constructor(error) {
    super(`${error.tag}: ${typeof error.val === "string" ? error.val : JSON.stringify(error.val)}`);
    this.error = error;
    this.tag = error.tag;
  }
}

function call(fn) {
  try {
    return fn();
  } catch (e) {
    if (e && typeof e === "object" && typeof e.tag === "string" && !(e instanceof Error)) throw new CallError(e);
    throw e;
  }
}

/** `rows` (plain objects) as the WIT batch the host would send. */
export function witBatch(schema, rows) {
  const out = new Output(schema);
  for (const r of rows) out.append(r);
  return out._finish().batch;
}

/** `Cls` run on `rows`: `{rows, diagnostics, schema}` (output rows as plain
 * objects, diagnostics as `{severity, row, column, code, message}`). A
 * plugin error throws `CallError`. */
export function transform(Cls, schema, rows, config = "{}") {
  const exp = exportTransformer(Cls);
  return call(() => {
    const outSchema = Schema._fromWit(exp.transformSchema(schema._toWit(), config));
    const result = exp.transform(schema._toWit(), config, witBatch(schema, rows));
    return { rows: new Batch(outSchema, result.batch).rows(), diagnostics: result.diagnostics, schema: outSchema };
  });
}

/** `Cls` run on `rows`: the diagnostics. A plugin error throws `CallError`. */
export function validate(Cls, schema, rows, config = "{}") {
  const exp = exportValidator(Cls);
  return call(() => {
    exp.checkSchema(schema._toWit(), config);
    return exp.validate(schema._toWit(), config, witBatch(schema, rows));
  });
}

function plainValue(v) {
  switch (v.tag) {
    case "null": return null;
    case "json": return JSON.parse(v.val);
    default: return v.val;
  }
}

/** `Cls` run on one file, `content` (a string or bytes) fed in chunks of
 * `chunkSize` bytes: the records as plain objects (json fields parsed). */
export function parse(Cls, content, { name = "input.txt", config = "{}", chunkSize = 4096 } = {}) {
  const exp = exportParser(Cls);
  const bytes = typeof content === "string" ? encodeUtf8(content) : content;
  return call(() => {
    exp.checkConfig(config);
    const session = exp.open({ name, size: BigInt(bytes.length), mediaTypeHint: null }, config);
    const records = [];
    for (let at = 0; at < bytes.length; at += chunkSize) {
      records.push(...session.feed(bytes.subarray(at, at + chunkSize)));
    }
    records.push(...session.finish());
    return records.map((r) => Object.fromEntries(r.fields.map((f) => [f.name, plainValue(f.value)])));
  });
}
