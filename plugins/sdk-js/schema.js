// Schemas, logical types and the errors a plugin throws.

/** ferry's logical types, by their WIT names. A column's `type` is one of these. */
export const LOGICAL_TYPES = Object.freeze([
  "boolean", "int64", "float64", "decimal", "text", "bytes", "json",
  "date", "time", "timestamp", "timestamptz", "uuid",
]);

/** What a value of each logical type is in JavaScript (what rows hold, what outputs take). */
export const JS_TYPES = Object.freeze({
  boolean: "boolean",
  int64: "number (a safe integer, |v| <= 2^53 - 1); outputs also take a BigInt in that range",
  float64: "number",
  decimal: "string (canonical text, e.g. '-12.340'); outputs also take a finite number or a BigInt",
  text: "string",
  bytes: "Uint8Array",
  json: "string (the JSON text); outputs also take any other value (JSON.stringify)",
  date: "number: days since 1970-01-01; outputs also take a Date (its UTC day)",
  time: "number: microseconds since midnight",
  timestamp: "number: microseconds since 1970-01-01T00:00:00; outputs also take a Date (read as UTC)",
  timestamptz: "number: microseconds since the Unix epoch, UTC; outputs also take a Date",
  uuid: "string, lower-case canonical form; outputs also take 16 bytes (Uint8Array)",
});

/** Why a plugin call failed: throw a subclass; the SDK returns it to the host
 * as the typed WIT `plugin-error` (never a trap). */
export class PluginError extends Error {
  get name() { return "PluginError"; }
  _wit() { return { tag: "internal", val: this.message }; }
}

/** The configuration JSON was not understood; say which key and why. */
export class InvalidConfig extends PluginError {
  get name() { return "InvalidConfig"; }
  _wit() { return { tag: "invalid-config", val: this.message }; }
}

/** The input schema cannot be handled (e.g. a configured column is missing). */
export class UnsupportedSchema extends PluginError {
  get name() { return "UnsupportedSchema"; }
  _wit() { return { tag: "unsupported-schema", val: this.message }; }
}

/** The input is malformed at a location: `new MalformedInput(msg, {row, column, line, lineColumn, byteOffset})`. */
export class MalformedInput extends PluginError {
  constructor(message, where = {}) {
    super(message);
    const { row = null, column = null, line = null, lineColumn = null, byteOffset = null } = where || {};
    Object.assign(this, { row, column, line, lineColumn, byteOffset });
  }
  get name() { return "MalformedInput"; }
  _wit() {
    const location = {
      row: this.row, column: this.column, line: this.line,
      lineColumn: this.lineColumn, byteOffset: this.byteOffset,
    };
    return { tag: "malformed-input", val: { message: this.message, location } };
  }
}

/** Anything else: the plugin's own bug or limitation. */
export class InternalError extends PluginError {
  get name() { return "InternalError"; }
}

/** One column of a schema: `name`, `type` (a logical type name) and `nullable`. */
export class Column {
  constructor(name, type, nullable = true) {
    if (!LOGICAL_TYPES.includes(type)) {
      throw new InternalError(
        `column '${name}': unknown logical type '${type}'; one of: ${LOGICAL_TYPES.join(", ")}`);
    }
    this.name = String(name);
    this.type = type;
    this.nullable = Boolean(nullable);
    Object.freeze(this);
  }

  equals(other) {
    return other instanceof Column && other.name === this.name && other.type === this.type
      && other.nullable === this.nullable;
  }
}

/** The schema of a batch: its table name and columns, in order. Schemas are
 * values: `withColumn`, `without`, `replace` return new ones. */
export class Schema {
  constructor(table, columns) {
    this.table = String(table);
    this.columns = Object.freeze(columns.map((c) =>
      c instanceof Column ? c : new Column(c.name, c.type, c.nullable ?? true)));
    this._index = new Map();
    this.columns.forEach((c, i) => this._index.set(c.name, i));
    Object.freeze(this);
  }

  get names() { return this.columns.map((c) => c.name); }
  get length() { return this.columns.length; }
  has(name) { return this._index.has(name); }
  /** Position of the column called `name` (exact match), or -1. */
  indexOf(name) { return this._index.get(name) ?? -1; }
  /** The column called `name`, or undefined. */
  column(name) { const i = this._index.get(name); return i === undefined ? undefined : this.columns[i]; }

  equals(other) {
    return other instanceof Schema && other.table === this.table
      && other.columns.length === this.columns.length
      && other.columns.every((c, i) => c.equals(this.columns[i]));
  }

  /** The column called `name`, or `UnsupportedSchema` naming the columns
   * there are (or the types accepted). */
  require(name, types) {
    const col = this.column(name);
    if (col === undefined) {
      throw new UnsupportedSchema(
        `column '${name}' not found in table '${this.table}'; available columns: ${this.names.join(", ")}`);
    }
    if (types !== undefined && !types.includes(col.type)) {
      throw new UnsupportedSchema(
        `column '${name}' of table '${this.table}' is ${col.type}; this plugin takes ${types.join(", ")}`);
    }
    return col;
  }

  /** A copy with a column appended. */
  withColumn(name, type, nullable = true) {
    if (this.has(name)) throw new UnsupportedSchema(`table '${this.table}' already has a column '${name}'`);
    return new Schema(this.table, [...this.columns, new Column(name, type, nullable)]);
  }

  /** A copy without the column called `name`. */
  without(name) {
    this.require(name);
    return new Schema(this.table, this.columns.filter((c) => c.name !== name));
  }

  /** A copy with one column's type, nullability or name changed:
   * `replace("id", {type: "text", nullable: true, rename: "key"})`. */
  replace(name, { type, nullable, rename } = {}) {
    const old = this.require(name);
    const col = new Column(rename ?? old.name, type ?? old.type, nullable ?? old.nullable);
    return new Schema(this.table, this.columns.map((c) => (c.name === name ? col : c)));
  }

  toString() {
    const cols = this.columns.map((c) => `${c.name} ${c.type}${c.nullable ? "" : " not null"}`);
    return `Schema(${this.table}: ${cols.join(", ")})`;
  }

  // -- WIT conversions (the shapes the componentizer passes: camelCase
  // record fields, enums as their case names) ---------------------------
  static _fromWit(s) {
    return new Schema(s.table, s.columns.map((c) => new Column(c.name, c.logicalType, c.nullable)));
  }

  _toWit() {
    return {
      table: this.table,
      columns: this.columns.map((c) => ({ name: c.name, logicalType: c.type, nullable: c.nullable })),
    };
  }
}
