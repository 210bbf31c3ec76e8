// A pass-through transformer, for measuring what a JavaScript plugin costs.
//
// {"mode": "rows"} (default): output.append(row) for every row, the SDK's
// ordinary path (columns copied unchanged are handed back without decoding).
// {"mode": "objects"}: every row decoded into a plain object and re-encoded
// (what a plugin that touches every value pays). {"mode": "raw"}: the input
// batch handed back untouched (what the boundary and QuickJS cost).

import * as ferry from "#ferry";

class PassThrough extends ferry.Transformer {
  static name = "js-passthrough";
  static version = "0.1.0";
  static description = "Passes every row through unchanged (a benchmark).";
  static config = { mode: { type: "string", default: "rows", enum: ["rows", "objects", "raw"] } };

  transform(batch, output, config) {
    if (config.mode === "raw") {
      output.passThrough(batch);
      return;
    }
    if (config.mode === "objects") {
      for (const row of batch) output.append(row.toObject());
      return;
    }
    for (const row of batch) output.append(row);
  }
}

export const transform = ferry.exportTransformer(PassThrough);
