// Guest SDK for ferry plugins written in JavaScript (`ferry:plugin@0.1.0`),
// built into components with componentize-qjs (QuickJS).
//
//   import * as ferry from "#ferry";
//
//   class Lower extends ferry.Transformer {
//     static name = "lower";
//     static description = "Lower-cases a column.";
//     static config = { column: { type: "string", default: "email" } };
//
//     transformSchema(schema, config) {
//       schema.require(config.column, ["text"]);
//       return schema;
//     }
//
//     transform(batch, output, config) {
//       for (const row of batch) {
//         const v = row.get(config.column);
//         output.append(row, { [config.column]: v && v.toLowerCase() });
//       }
//     }
//   }
//
//   export const transform = ferry.exportTransformer(Lower);
//
// Offsets, bitmaps and the WIT shapes stay inside this directory. Plain ES
// modules, no dependencies: the same files run under Node (tests) and in
// the component.

export { Batch, Diagnostic, Output, Row, info, reject, warning } from "./batch.js";
export { configSchema, parseConfig } from "./config.js";
export { log, inComponent } from "./host.js";
export {
  FieldValue, Parser, Transformer, Validator, exportParser, exportTransformer, exportValidator, field,
} from "./plugin.js";
export {
  Column, InternalError, InvalidConfig, JS_TYPES, LOGICAL_TYPES, MalformedInput, PluginError, Schema,
  UnsupportedSchema,
} from "./schema.js";
export { decodeUtf8, encodeUtf8 } from "./utf8.js";
export const VERSION = "0.1.0";
