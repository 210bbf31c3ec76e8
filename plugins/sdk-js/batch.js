// Batches as rows: the WIT packed columnar batch decoded into JavaScript
// values (`Batch`, `Row`), and output batches built from rows (`Output`).
//
// A plugin never sees offsets or bitmaps. Columns are decoded lazily, once,
// on first access, so a plugin that reads one column of twenty pays for one.

import { InternalError, MalformedInput, Schema } from "./schema.js";
import { decodeUtf8, writeUtf8 } from "./utf8.js";

// An int64 is held as a JavaScript number: exact up to 2^53 - 1. A value
// beyond it is refused rather than silently rounded (see README, "int64").
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;
// Offsets are u32: one output column of one batch holds at most 4 GiB - 1.
const MAX_VAR_BYTES = 0xffffffff;
const DAY_MS = 86_400_000;

/** The WIT `column-data` case each logical type travels in. */
const PHYSICAL = {
  boolean: "bools", int64: "ints", float64: "floats", decimal: "utf8", text: "utf8",
  bytes: "binary", json: "utf8", date: "dates", time: "ints", timestamp: "ints",
  timestamptz: "ints", uuid: "uuids",
};

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

// ---------------------------------------------------------------- decoding

function bytesOf(v) {
  return v instanceof Uint8Array ? v : Uint8Array.from(v);
}

function intOf(v, col, row) {
  if (typeof v === "bigint") {
    if (v >= -BigInt(MAX_SAFE) && v <= BigInt(MAX_SAFE)) return Number(v);
  } else if (Number.isSafeInteger(v)) {
    return v;
  }
  throw new MalformedInput(
    `int64 value ${v} is beyond 2^53 - 1, which a JavaScript plugin cannot hold exactly`,
    { row, column: col.name });
}

function decodeVar(raw, n, text, col) {
  const data = bytesOf(raw.data);
  const off = raw.offsets;
  if (off.length !== n + 1 || (n > 0 && (off[0] !== 0 || off[n] !== data.length))) {
    throw new MalformedInput(`offsets do not fit the data (${off.length} offsets, ${n} rows)`, { column: col.name });
  }
  const vals = new Array(n);
  let whole = null;
  if (text) {
    whole = decodeUtf8(data);
    if (whole === null) throw new MalformedInput("invalid UTF-8", { column: col.name });
    // ASCII: byte offsets are character offsets, so slice the one string.
    if (whole.length !== data.length) whole = null;
  }
  for (let i = 0; i < n; i++) {
    const a = off[i];
    const b = off[i + 1];
    if (b < a) throw new MalformedInput("offsets decrease", { row: i, column: col.name });
    if (whole !== null) vals[i] = whole.slice(a, b);
    else if (text) vals[i] = decodeUtf8(data, a, b);
    else vals[i] = data.slice(a, b);
    if (vals[i] === null) throw new MalformedInput("invalid UTF-8", { row: i, column: col.name });
  }
  return vals;
}

function uuidText(b, at) {
  let s = "";
  for (let k = 0; k < 16; k++) {
    if (k === 4 || k === 6 || k === 8 || k === 10) s += "-";
    s += HEX[b[at + k]];
  }
  return s;
}

/** Throws `MalformedInput` when an int column holds a value a number cannot
 * hold exactly. Run on every int column handed back undecoded: componentize-qjs
 * lifts an s64 to a number, so a value beyond 2^53 - 1 has already been
 * rounded and would reach the target changed. */
function checkInts(col, witCol) {
  const { tag, val } = witCol.data;
  if (tag !== "ints") return;
  for (let i = 0; i < val.length; i++) {
    const v = val[i];
    if (typeof v === "number" ? !Number.isSafeInteger(v) : v > MAX_SAFE || v < -MAX_SAFE) intOf(v, col, i);
  }
}

/** One WIT column → an array of JavaScript values (null for null). */
function decodeColumn(col, witCol, n) {
  const { tag, val } = witCol.data;
  if (tag !== PHYSICAL[col.type]) {
    throw new MalformedInput(`a ${col.type} column arrived as ${tag}, not ${PHYSICAL[col.type]}`, { column: col.name });
  }
  let vals;
  if (tag === "utf8" || tag === "binary") {
    vals = decodeVar(val, n, tag === "utf8", col);
  } else if (tag === "uuids") {
    const b = bytesOf(val);
    if (b.length !== 16 * n) throw new MalformedInput(`uuid column has ${b.length} bytes for ${n} rows`, { column: col.name });
    vals = new Array(n);
    for (let i = 0; i < n; i++) vals[i] = uuidText(b, 16 * i);
  } else if (tag === "ints") {
    vals = new Array(val.length);
    for (let i = 0; i < val.length; i++) vals[i] = intOf(val[i], col, i);
  } else {
    vals = Array.from(val);
  }
  if (vals.length !== n) {
    throw new MalformedInput(`column has ${vals.length} values, batch has ${n} rows`, { column: col.name });
  }
  const bm = witCol.validity;
  if (bm !== null && bm !== undefined) {
    if (bm.length !== (n + 7) >> 3) throw new MalformedInput("validity bitmap has the wrong length", { column: col.name });
    for (let i = 0; i < n; i++) if (((bm[i >> 3] >> (i & 7)) & 1) === 0) vals[i] = null;
  }
  return vals;
}

/** An input batch: `batch.length` rows, iterate for `Row`s, `batch.column(name)`
 * for one column's values as an array. */
export class Batch {
  constructor(schema, witBatch) {
    this.schema = schema;
    this.length = witBatch.numRows;
    this._witCols = witBatch.columns;
    if (this._witCols.length !== schema.columns.length) {
      throw new MalformedInput(
        `batch has ${this._witCols.length} columns but the schema of '${schema.table}' has ${schema.columns.length}`);
    }
    this._cols = new Array(schema.columns.length).fill(null);
  }

  /** A batch of `schema` from plain objects (for tests), encoded and decoded as the host would. */
  static fromRows(schema, rows) {
    const out = new Output(schema);
    for (const r of rows) out.append(r);
    return new Batch(schema, out._finish().batch);
  }

  _col(i) {
    let vals = this._cols[i];
    if (vals === null) vals = this._cols[i] = decodeColumn(this.schema.columns[i], this._witCols[i], this.length);
    return vals;
  }

  *[Symbol.iterator]() {
    for (let i = 0; i < this.length; i++) yield new Row(this, i);
  }

  /** Row `index` (0-based). */
  row(index) {
    if (!(index >= 0 && index < this.length)) throw new RangeError(`row ${index} of a batch of ${this.length}`);
    return new Row(this, index);
  }

  /** Every value of the column called `name`, in row order (null for null). */
  column(name) {
    const i = this.schema.indexOf(name);
    if (i === -1) this.schema.require(name); // throws, naming the columns there are
    return this._col(i);
  }

  /** Every row as a plain object. */
  rows() { return Array.from(this, (r) => r.toObject()); }
}

/** One input row: a read-only, Map-like view (`get`, `has`, `keys`,
 * `entries`, `size`, iteration) from column name to value, plus `index`,
 * its position in the input batch (what a rejection refers to). */
export class Row {
  constructor(batch, index) {
    this._batch = batch;
    this.index = index;
  }

  /** The value of column `name`; an unknown name is the plugin's bug and
   * throws an `InternalError` naming the columns there are. */
  get(name) {
    const i = this._batch.schema._index.get(name);
    if (i === undefined) {
      throw new InternalError(`row has no column '${name}'; columns: ${this._batch.schema.names.join(", ")}`);
    }
    return this._batch._col(i)[this.index];
  }

  has(name) { return this._batch.schema._index.has(name); }
  get size() { return this._batch.schema.columns.length; }
  keys() { return this._batch.schema.names[Symbol.iterator](); }
  *values() { for (let i = 0; i < this.size; i++) yield this._batch._col(i)[this.index]; }
  *entries() { for (const name of this._batch.schema.names) yield [name, this.get(name)]; }
  [Symbol.iterator]() { return this.entries(); }
  forEach(fn) { for (const [k, v] of this.entries()) fn(v, k, this); }

  /** The row as a plain object `{column: value}`. */
  toObject() {
    const o = {};
    const b = this._batch;
    const cols = b.schema.columns;
    for (let i = 0; i < cols.length; i++) o[cols[i].name] = b._col(i)[this.index];
    return o;
  }

  toString() { return `Row(${this.index}, ${JSON.stringify(this.toObject(), jsonSafe)})`; }
}

function jsonSafe(_k, v) {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Uint8Array) return Array.from(v);
  return v;
}

// ---------------------------------------------------------------- encoding

function describe(v) {
  let s;
  try { s = typeof v === "string" ? JSON.stringify(v) : String(v); } catch { s = "?"; }
  if (s.length > 80) s = `${s.slice(0, 77)}...`;
  const kind = v === null ? "null" : v instanceof Uint8Array ? "Uint8Array" : Array.isArray(v) ? "Array" : typeof v;
  return `${kind} ${s}`;
}

function bad(col, row, v, wants) {
  return new InternalError(`output column '${col.name}' (${col.type}) takes ${wants}; row ${row} has ${describe(v)}`);
}

function encInt(col, r, v, lo = -MAX_SAFE, hi = MAX_SAFE) {
  if (typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi) return v;
  if (typeof v === "bigint" && v >= I64_MIN && v <= I64_MAX && v >= BigInt(lo) && v <= BigInt(hi)) return Number(v);
  throw bad(col, r, v, lo === -MAX_SAFE ? "an integer (|v| <= 2^53 - 1)" : `an integer in ${lo}..${hi}`);
}

function encTemporal(col, r, v) {
  if (v instanceof Date) {
    const ms = v.getTime();
    if (Number.isNaN(ms)) throw bad(col, r, v, "a valid Date");
    if (col.type === "date") return Math.floor(ms / DAY_MS);
    if (col.type === "time") throw bad(col, r, v, "microseconds since midnight (a number)");
    return ms * 1000;
  }
  if (col.type === "date") return encInt(col, r, v, I32_MIN, I32_MAX);
  return encInt(col, r, v);
}

function uuidBytes(col, r, v, buf, at) {
  if (v instanceof Uint8Array && v.length === 16) {
    buf.set(v, at);
    return;
  }
  if (typeof v === "string") {
    const hex = v.replace(/^urn:uuid:/i, "").replace(/[{}-]/g, "");
    if (/^[0-9a-fA-F]{32}$/.test(hex)) {
      for (let k = 0; k < 16; k++) buf[at + k] = parseInt(hex.slice(2 * k, 2 * k + 2), 16);
      return;
    }
  }
  throw bad(col, r, v, "a UUID's text or 16 bytes (Uint8Array)");
}

function encVar(col, vals, text) {
  const offsets = new Array(vals.length + 1);
  offsets[0] = 0;
  // One buffer for the column, grown by doubling; strings are encoded
  // straight into it.
  let data = new Uint8Array(1024);
  let pos = 0;
  const room = (n) => {
    if (pos + n <= data.length) return;
    let size = data.length * 2;
    while (size < pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(data.subarray(0, pos));
    data = grown;
  };
  for (let r = 0; r < vals.length; r++) {
    const v = vals[r];
    let s = null;
    if (v === null || v === undefined) {
      // a null: an empty span
    } else if (!text) {
      if (!(v instanceof Uint8Array)) throw bad(col, r, v, "a Uint8Array");
      room(v.length);
      data.set(v, pos);
      pos += v.length;
    } else if (typeof v === "string") {
      s = v;
    } else if (col.type === "decimal" && ((typeof v === "number" && Number.isFinite(v)) || typeof v === "bigint")) {
      s = String(v);
    } else if (col.type === "json") {
      try { s = JSON.stringify(v); } catch { s = undefined; }
      if (s === undefined) throw bad(col, r, v, "a string or a JSON-serialisable value");
    } else {
      throw bad(col, r, v, col.type === "decimal" ? "a string, a finite number or a BigInt" : "a string");
    }
    if (s !== null) {
      room(3 * s.length);
      pos = writeUtf8(s, data, pos);
    }
    if (pos > MAX_VAR_BYTES) throw new InternalError(`output column '${col.name}' would exceed 4 GiB in one batch`);
    offsets[r + 1] = pos;
  }
  return { tag: text ? "utf8" : "binary", val: { data: data.slice(0, pos), offsets } };
}

/** An array of JavaScript values → a WIT column (validity only when a null occurs). */
function encodeColumn(col, vals) {
  const n = vals.length;
  let validity = null;
  for (let i = 0; i < n; i++) {
    if (vals[i] === null || vals[i] === undefined) {
      if (!col.nullable) throw new InternalError(`output column '${col.name}' is not nullable; row ${i} is null`);
      if (validity === null) validity = new Uint8Array((n + 7) >> 3).fill(0xff);
      validity[i >> 3] &= ~(1 << (i & 7));
    }
  }
  if (validity !== null && n % 8 !== 0) validity[validity.length - 1] &= (1 << (n % 8)) - 1;
  const tag = PHYSICAL[col.type];
  let data;
  if (tag === "utf8" || tag === "binary") {
    data = encVar(col, vals, tag === "utf8");
  } else if (tag === "uuids") {
    const buf = new Uint8Array(16 * n);
    for (let r = 0; r < n; r++) if (vals[r] !== null && vals[r] !== undefined) uuidBytes(col, r, vals[r], buf, 16 * r);
    data = { tag, val: buf };
  } else {
    const out = new Array(n);
    for (let r = 0; r < n; r++) {
      const v = vals[r];
      if (v === null || v === undefined) {
        out[r] = tag === "bools" ? false : 0;
      } else if (tag === "bools") {
        if (typeof v !== "boolean") throw bad(col, r, v, "a boolean");
        out[r] = v;
      } else if (tag === "floats") {
        if (typeof v !== "number") throw bad(col, r, v, "a number");
        out[r] = v;
      } else if (col.type === "int64") {
        out[r] = typeof v === "number" && Number.isSafeInteger(v) ? v : encInt(col, r, v);
      } else {
        out[r] = encTemporal(col, r, v);
      }
    }
    data = { tag, val: out };
  }
  return { validity, data };
}

// ---------------------------------------------------------------- diagnostics

const SEVERITIES = ["info", "warning", "error"];

/** A finding about one row or value: `severity` ('info', 'warning', 'error'),
 * `row` (input row index), `column`, `code` (stable, e.g. 'empty-email'), `message`. */
export class Diagnostic {
  constructor(severity, code, message, row = null, column = null) {
    if (!SEVERITIES.includes(severity)) {
      throw new InternalError(`severity must be one of ${SEVERITIES.join(", ")}; got ${JSON.stringify(severity)}`);
    }
    this.severity = severity;
    this.code = String(code);
    this.message = String(message);
    this.row = row instanceof Row ? row.index : row ?? null;
    this.column = column ?? null;
  }

  _toWit() {
    return { severity: this.severity, row: this.row, column: this.column, code: this.code, message: this.message };
  }
}

/** An `error` diagnostic: the row goes to ferry's quarantine with this reason. */
export function reject(row, code, message, { column } = {}) {
  return new Diagnostic("error", code, message, row, column);
}

/** A `warning` diagnostic: the row is kept. */
export function warning(row, code, message, { column } = {}) {
  return new Diagnostic("warning", code, message, row, column);
}

/** An `info` diagnostic. */
export function info(row, code, message, { column } = {}) {
  return new Diagnostic("info", code, message, row, column);
}

// ---------------------------------------------------------------- output

/** The rows a transformer returns, built row by row, and its diagnostics.
 *
 * `append(row)` copies an input row (by column name), `append(row, {email: v})`
 * copies it with some values replaced, `append({id: 1, ...})` adds a row from
 * a plain object (missing columns are null). `reject(row, code, message,
 * {column})` quarantines an input row with a reason (do not also append it). */
export class Output {
  constructor(schema) {
    this.schema = schema;
    this.diagnostics = [];
    // Rows are recorded, not copied: the input batch they come from, one
    // input index per output row (-1 for a row built from an object), and
    // per output row the object of values set by name (or null). `_finish`
    // gathers each column in one pass.
    this._src = null;
    this._idx = [];
    this._set = [];
    this._anySet = false;
    this._same = null;
  }

  get length() { return this._idx.length; }

  _unknown(obj) {
    const index = this.schema._index;
    for (const k in obj) {
      if (Object.hasOwn(obj, k) && !index.has(k)) {
        throw new InternalError(`output schema has no column '${k}'; it has: ${this.schema.names.join(", ")}`);
      }
    }
  }

  /** Add a row: an input `Row` or a plain object, with `changes` replacing
   * values (a value of `undefined` is no change; in a plain object, null). */
  append(row, changes) {
    if (changes === undefined || changes === null) changes = null;
    else this._unknown(changes);
    if (row instanceof Row && (this._src === null || this._src === row._batch)) {
      this._src = row._batch;
      this._idx.push(row.index);
      this._set.push(changes);
      if (changes !== null) this._anySet = true;
      return;
    }
    let values;
    if (row instanceof Row) {
      values = row.toObject();
    } else if (row === null || row === undefined) {
      values = {};
    } else if (typeof row === "object") {
      this._unknown(row);
      values = row;
    } else {
      throw new InternalError(`append takes an input row or a plain object, not ${describe(row)}`);
    }
    if (changes !== null) values = { ...values, ...changes };
    this._idx.push(-1);
    this._set.push(values);
    this._anySet = true;
  }

  /** Quarantine input `row` (a `Row` or its index) with a reason. */
  reject(row, code, message, { column } = {}) {
    this.diagnostics.push(reject(row, code, message, { column }));
  }

  /** Keep the row but tell the operator. */
  warn(row, code, message, { column } = {}) {
    this.diagnostics.push(warning(row, code, message, { column }));
  }

  /** Return `batch` unchanged (no decoding, no re-encoding): for a
   * transformer that only reports warnings. The output schema must be the
   * input's, and nothing may be appended or rejected. */
  passThrough(batch) {
    if (!batch.schema.equals(this.schema)) throw new InternalError("passThrough needs the output schema to be the input's");
    this._same = batch;
  }

  _column(name) {
    const src = this._src;
    const idx = this._idx;
    const set = this._set;
    const n = idx.length;
    const si = src === null ? -1 : src.schema.indexOf(name);
    const base = si === -1 ? null : src._col(si);
    // A column called e.g. `constructor` is found on every object's
    // prototype: only for such names is `hasOwn` needed.
    const inherited = name in Object.prototype;
    const vals = new Array(n);
    for (let k = 0; k < n; k++) {
      const values = set[k];
      if (values !== null) {
        const v = values[name];
        if (v !== undefined && (!inherited || Object.hasOwn(values, name))) {
          vals[k] = v;
          continue;
        }
      }
      const i = idx[k];
      vals[k] = i < 0 || base === null ? null : base[i];
    }
    return vals;
  }

  /** The input's own WIT column when output column `col` is an input
   * column copied unchanged into the same rows in the same order. */
  _reused(col) {
    const src = this._src;
    if (src === null || this._idx.length !== src.length) return null;
    const i = src.schema.indexOf(col.name);
    if (i === -1) return null;
    const had = src.schema.columns[i];
    if (had.type !== col.type || (had.nullable && !col.nullable)) return null;
    if (this._identity === undefined) {
      this._identity = this._idx.every((v, k) => v === k);
      this._changed = new Set();
      if (this._anySet) for (const values of this._set) if (values !== null) for (const k in values) this._changed.add(k);
    }
    return this._identity && !this._changed.has(col.name) ? src._witCols[i] : null;
  }

  /** `{batch, diagnostics}` in WIT shape. */
  _finish() {
    const diagnostics = this.diagnostics.map((d) => d._toWit());
    if (this._same !== null) {
      if (this._idx.length || this.diagnostics.some((d) => d.severity === "error")) {
        throw new InternalError("passThrough cannot be combined with append or reject");
      }
      const same = this._same;
      same.schema.columns.forEach((c, i) => { if (same._cols[i] === null) checkInts(c, same._witCols[i]); });
      return { batch: { numRows: same.length, columns: same._witCols }, diagnostics };
    }
    const columns = this.schema.columns.map((c) => {
      const reused = this._reused(c);
      if (reused === null) return encodeColumn(c, this._column(c.name));
      if (this._src._cols[this._src.schema.indexOf(c.name)] === null) checkInts(c, reused);
      return reused;
    });
    return { batch: { numRows: this._idx.length, columns }, diagnostics };
  }
}

export { Schema };
