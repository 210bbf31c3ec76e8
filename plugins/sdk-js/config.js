// Typed configuration: a plugin declares its keys, the operator's JSON is
// parsed and checked against them (unknown keys and wrong types refused with
// `InvalidConfig`, defaults applied), and a JSON Schema is derived for
// `describe`.
//
//   static config = {
//     column: { type: "string", default: "email", doc: "the column to check" },
//     max:    { type: "integer", default: 10 },
//     mode:   { type: "string", default: "rows", enum: ["rows", "raw"] },
//     tag:    { type: "string", nullable: true, default: null },
//     name:   { type: "string" },            // no default: required
//   };

import { InvalidConfig, InternalError } from "./schema.js";

const TYPES = ["string", "integer", "number", "boolean", "array", "object", "any"];

function kindOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function fits(v, type) {
  const k = kindOf(v);
  return type === "any" || k === type || (type === "number" && k === "integer");
}

function checkSpec(spec) {
  if (spec === null || spec === undefined) return {};
  if (typeof spec !== "object") throw new InternalError("the plugin's `config` must be an object of key specs");
  for (const [key, s] of Object.entries(spec)) {
    if (!s || !TYPES.includes(s.type)) {
      throw new InternalError(`config key '${key}': type must be one of ${TYPES.join(", ")}`);
    }
  }
  return spec;
}

function show(v) {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** `text` (JSON; empty means `{}`) checked against `spec`: a frozen plain
 * object with every declared key (defaults applied). `check(config)`, when
 * given, may throw `InvalidConfig` (or any Error, turned into one) for
 * checks of its own. */
export function parseConfig(spec, text, check) {
  spec = checkSpec(spec);
  const src = String(text ?? "").trim() === "" ? "{}" : String(text);
  let obj;
  try {
    obj = JSON.parse(src);
  } catch (e) {
    throw new InvalidConfig(`not JSON: ${e.message}`);
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new InvalidConfig(`the configuration must be a JSON object, got ${kindOf(obj)}`);
  }
  const keys = Object.keys(spec);
  for (const key of Object.keys(obj)) {
    if (!Object.hasOwn(spec, key)) {
      throw new InvalidConfig(keys.length
        ? `unknown key '${key}'; expected one of: ${keys.join(", ")}`
        : `this plugin takes no configuration; unknown key '${key}'`);
    }
  }
  const out = {};
  for (const [key, s] of Object.entries(spec)) {
    if (!Object.hasOwn(obj, key)) {
      if (!Object.hasOwn(s, "default")) throw new InvalidConfig(`missing key '${key}'`);
      out[key] = s.default;
      continue;
    }
    const v = obj[key];
    if (v === null && s.nullable) {
      out[key] = null;
      continue;
    }
    if (!fits(v, s.type)) {
      throw new InvalidConfig(`key '${key}' must be ${s.type === "integer" ? "an" : "a"} ${s.type}, got ${show(v)}`);
    }
    if (s.enum && !s.enum.includes(v)) {
      throw new InvalidConfig(`key '${key}' must be one of ${s.enum.map((e) => JSON.stringify(e)).join(", ")}, got ${show(v)}`);
    }
    out[key] = v;
  }
  Object.freeze(out);
  if (check) {
    try {
      check(out);
    } catch (e) {
      if (e instanceof InvalidConfig) throw e;
      throw new InvalidConfig(e && e.message ? e.message : String(e));
    }
  }
  return out;
}

/** The JSON Schema of the configuration `spec` describes. */
export function configSchema(spec) {
  spec = checkSpec(spec);
  const props = {};
  const required = [];
  for (const [key, s] of Object.entries(spec)) {
    const p = {};
    if (s.type !== "any") p.type = s.nullable ? [s.type, "null"] : s.type;
    if (Object.hasOwn(s, "default")) p.default = s.default;
    else required.push(key);
    if (s.enum) p.enum = s.enum;
    if (s.doc) p.description = s.doc;
    props[key] = p;
  }
  const schema = { type: "object", properties: props, additionalProperties: false };
  if (required.length) schema.required = required;
  return JSON.stringify(schema);
}

/** The last configuration that parsed, per exported plugin (every call
 * carries the configuration text; parsing it once per batch is waste). */
export class ConfigCache {
  constructor(spec, check) {
    this.spec = spec;
    this.check = check;
    this.text = null;
    this.value = undefined;
  }

  get(text) {
    if (this.text !== null && this.text === text) return this.value;
    const value = parseConfig(this.spec, text, this.check);
    this.text = text;
    this.value = value;
    return value;
  }
}
