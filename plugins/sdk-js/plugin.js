// The classes a plugin author extends, and the adapters that export them as
// the WIT interfaces the componentizer wires up (`export const transform =
// exportTransformer(MyPlugin)` in app.js).

import { Batch, Output, Diagnostic } from "./batch.js";
import { ConfigCache, configSchema } from "./config.js";
import { inComponent } from "./host.js";
import { InternalError, PluginError, Schema } from "./schema.js";

class Base {
  // Set on the subclass: `static name = "normalise-email"` (lowercase with
  // dashes), `static version = "0.1.0"`, `static description = "..."`,
  // `static config = { column: { type: "string", default: "email" } }`.
  static version = "0.1.0";
  static description = "";
  static config = null;

  /** Plan/run time: extra checks of the parsed configuration; throw
   * `InvalidConfig` (or any Error) to refuse it. */
  checkConfig(_config) {}
}

/** Batch in, batch out. Override `transform` (and `transformSchema` when the
 * output schema differs from the input's). */
export class Transformer extends Base {
  /** Plan time: the schema `transform` returns. Default: the input's. */
  transformSchema(schema, _config) { return schema; }

  /** Run time: read `batch` (rows by column name), `output.append(...)` the
   * rows to keep, `output.reject(row, code, message)` the others. */
  transform(_batch, _output, _config) {
    throw new InternalError(`${this.constructor.name} does not implement transform(batch, output, config)`);
  }
}

/** Inspects a batch, never changes it. */
export class Validator extends Base {
  /** Plan time: throw `UnsupportedSchema` when `config` does not fit `schema`. */
  checkSchema(_schema, _config) {}

  /** Return an array of diagnostics; `reject(row, code, message, {column})` rejects a row. */
  validate(_batch, _config) {
    throw new InternalError(`${this.constructor.name} does not implement validate(batch, config)`);
  }
}

/** Turns one file's bytes into records. `open(file, config)` returns a
 * session: an object with `feed(bytes)` and `finish()`, each returning an
 * array of records (plain objects `{field: value}`). */
export class Parser extends Base {
  open(_file, _config) {
    throw new InternalError(`${this.constructor.name} does not implement open(file, config)`);
  }
}

// ---------------------------------------------------------------- errors

// The marks around an uncaught exception's report. The host
// (`js_stack` in host/src/plugin/instance.rs) cuts the report out of the
// plugin's stderr by them: keep the two in step.
export const STACK_BEGIN = "ferry-js: uncaught exception";
export const STACK_END = "ferry-js: end of stack";

// How long a report may be, in characters: 560. componentize-qjs has no
// console; the report reaches stderr as the message of the exception its
// runtime prints (Rust-escaped, ~170 bytes of its own after it) when the
// call traps, and ferry keeps the last 1 KiB of a plugin's stderr. The
// exception's first line keeps at most 200 characters; the frames
// innermost first (where the author's code threw) fill the rest.
const MAX_REPORT = 560;
const MAX_HEAD = 200;

/** `e` as the report the host reads: a first line `Name: message`, then
 * the stack's `at function (file:line:column)` lines, innermost first. */
export function stackReport(e, max = Infinity) {
  let head;
  let frames = [];
  if (e instanceof Error) {
    head = `${e.name}: ${e.message}`;
    frames = String(e.stack ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("at "))
      .map((l) => `    ${l}`);
  } else {
    let s;
    try { s = typeof e === "string" ? e : JSON.stringify(e); } catch { s = String(e); }
    head = `uncaught value: ${s}`;
  }
  head = head.replace(/\s*\n\s*/g, " ");
  if (max !== Infinity && head.length > MAX_HEAD) head = `${head.slice(0, MAX_HEAD - 3)}...`;
  let report = head;
  for (const f of frames) {
    if (report.length + 1 + f.length > max) break;
    report += `\n${f}`;
  }
  return report;
}

/** `fn` as an export: a `PluginError` becomes the typed WIT `plugin-error`
 * (thrown, as the componentizer expects for a `result`'s error). Anything
 * else is the plugin's bug: inside a component it is rethrown as an Error
 * whose message is the report between the marks, which traps the call and
 * reaches ferry's trap error; natively it propagates as it is. */
function guard(call, fn) {
  return function guarded(...args) {
    try {
      return fn.apply(this, args);
    } catch (e) {
      if (e instanceof PluginError) throw e._wit();
      if (!inComponent()) throw e;
      const begin = `${STACK_BEGIN} in \`${call}\``;
      const budget = MAX_REPORT - begin.length - STACK_END.length - 2;
      throw new Error(`${begin}\n${stackReport(e, budget)}\n${STACK_END}`);
    }
  };
}

function pluginInfo(Cls) {
  return {
    name: String(Cls.name),
    version: String(Cls.version),
    description: String(Cls.description ?? ""),
    configSchema: configSchema(Cls.config),
    capabilities: [],
  };
}

function setup(Cls, Kind) {
  if (typeof Cls !== "function" || !(Cls.prototype instanceof Kind)) {
    throw new TypeError(`export${Kind.name} takes a class that extends ferry.${Kind.name}`);
  }
  const plugin = new Cls();
  const cache = new ConfigCache(Cls.config, (c) => plugin.checkConfig(c));
  return { plugin, cache };
}

/** The object the componentizer exports as `transform`:
 * `export const transform = exportTransformer(MyPlugin);` in app.js. */
export function exportTransformer(Cls) {
  const { plugin, cache } = setup(Cls, Transformer);
  const schemas = (input, configText) => {
    const config = cache.get(configText);
    const schema = Schema._fromWit(input);
    const out = plugin.transformSchema(schema, config);
    if (!(out instanceof Schema)) throw new InternalError("transformSchema must return a Schema");
    return { schema, out, config };
  };
  return {
    describe: guard("describe", () => pluginInfo(Cls)),
    transformSchema: guard("transform-schema", (input, configText) => schemas(input, configText).out._toWit()),
    transform: guard("transform", (input, configText, rows) => {
      const { schema, out, config } = schemas(input, configText);
      const output = new Output(out);
      const result = plugin.transform(new Batch(schema, rows), output, config);
      if (result !== undefined && result !== output) {
        throw new InternalError("transform fills the `output` it is given and returns nothing");
      }
      return output._finish();
    }),
  };
}

/** `export const validate = exportValidator(MyValidator);` in app.js. */
export function exportValidator(Cls) {
  const { plugin, cache } = setup(Cls, Validator);
  return {
    describe: guard("describe", () => pluginInfo(Cls)),
    checkSchema: guard("check-schema", (input, configText) => {
      plugin.checkSchema(Schema._fromWit(input), cache.get(configText));
    }),
    validate: guard("validate", (input, configText, rows) => {
      const config = cache.get(configText);
      const schema = Schema._fromWit(input);
      const diags = plugin.validate(new Batch(schema, rows), config) ?? [];
      if (!Array.isArray(diags)) throw new InternalError("validate must return an array of diagnostics");
      return diags.map((d, k) => {
        if (!(d instanceof Diagnostic)) throw new InternalError(`validate returned ${typeof d} at ${k}, not a Diagnostic (use ferry.reject/warning/info)`);
        return d._toWit();
      });
    }),
  };
}

// ---------------------------------------------------------------- parser

const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** A field value of an explicit kind, for when the JavaScript value is
 * ambiguous: `ferry.field.float(1)` (a float, not the integer 1),
 * `ferry.field.json('{"a":1}')` (JSON text as it is). */
export class FieldValue {
  constructor(tag, val) { this.tag = tag; this.val = val; }
}
export const field = Object.freeze({
  float: (v) => new FieldValue("float", Number(v)),
  integer: (v) => new FieldValue("integer", v),
  json: (text) => new FieldValue("json", String(text)),
  text: (v) => new FieldValue("text", String(v)),
});

function fieldValue(name, v) {
  if (v === null || v === undefined) return { tag: "null" };
  if (v instanceof FieldValue) {
    if (v.tag !== "integer") return { tag: v.tag, val: v.val };
    v = typeof v.val === "bigint" ? v.val : BigInt(Math.trunc(Number(v.val)));
  }
  switch (typeof v) {
    case "boolean": return { tag: "boolean", val: v };
    case "string": return { tag: "text", val: v };
    case "number": return Number.isSafeInteger(v) ? { tag: "integer", val: v } : { tag: "float", val: v };
    case "bigint":
      // Integers travel as numbers (exact up to 2^53 - 1), see README.
      if (v < I64_MIN || v > I64_MAX || v < -BigInt(Number.MAX_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new InternalError(`field '${name}': integer ${v} is beyond 2^53 - 1`);
      }
      return { tag: "integer", val: Number(v) };
    default:
  }
  if (v instanceof Uint8Array) return { tag: "bytes", val: v };
  if (v instanceof Date) return { tag: "text", val: v.toISOString() };
  let s;
  try { s = JSON.stringify(v); } catch { s = undefined; }
  if (s === undefined) throw new InternalError(`field '${name}': ${typeof v} is not a field value`);
  return { tag: "json", val: s };
}

function parsedRecords(records) {
  if (records === undefined || records === null) return [];
  if (!Array.isArray(records)) throw new InternalError("feed and finish must return an array of records");
  return records.map((r, k) => {
    if (r === null || typeof r !== "object") throw new InternalError(`record ${k} is ${typeof r}, not an object`);
    const entries = r instanceof Map ? [...r.entries()] : Object.entries(r);
    return { fields: entries.map(([name, v]) => ({ name: String(name), value: fieldValue(name, v) })) };
  });
}

/** `export const parse = exportParser(MyParser);` in app.js. */
export function exportParser(Cls) {
  const { plugin, cache } = setup(Cls, Parser);
  class Session {
    constructor(inner) {
      if (!inner || typeof inner.feed !== "function") {
        throw new InternalError("open must return a session: an object with feed(bytes) and finish()");
      }
      this.inner = inner;
    }
  }
  Session.prototype.feed = guard("feed", function feed(chunk) {
    const bytes = chunk instanceof Uint8Array ? chunk : Uint8Array.from(chunk);
    return parsedRecords(this.inner.feed(bytes));
  });
  Session.prototype.finish = guard("finish", function finish() {
    return parsedRecords(typeof this.inner.finish === "function" ? this.inner.finish() : []);
  });
  return {
    describe: guard("describe", () => pluginInfo(Cls)),
    checkConfig: guard("check-config", (configText) => { cache.get(configText); }),
    open: guard("open", (file, configText) => {
      const config = cache.get(configText);
      const info = Object.freeze({
        name: file.name,
        size: Number(file.size),
        mediaType: file.mediaTypeHint ?? null,
      });
      return new Session(plugin.open(info, config));
    }),
    Session,
  };
}
