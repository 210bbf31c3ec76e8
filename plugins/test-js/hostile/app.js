// A hostile JavaScript plugin for ferry's sandbox tests: by config it spins,
// allocates without bound, throws, returns a typed error or logs. The host
// must answer each with its typed limit or trap error.

import * as ferry from "#ferry";

function helperThatThrows(value) {
  if (value.length > 0) throw new RangeError(`no rows wanted, got ${value.length}`);
}

class Hostile extends ferry.Transformer {
  static name = "js-hostile";
  static description = "spin / membomb / throw / error / log, by config";
  static config = { do: { type: "string", default: "nothing" } };

  transform(batch, output, config) {
    if (config.do === "spin") {
      for (;;) { /* until the per-call deadline */ }
    }
    if (config.do === "membomb") {
      const hog = [];
      for (;;) hog.push(new Uint8Array(1 << 20).fill(1));
    }
    if (config.do === "throw") helperThatThrows(batch.rows());
    if (config.do === "error") throw new ferry.MalformedInput("bad row", { row: 0, column: "id" });
    if (config.do === "log") ferry.log("warn", `hello from javascript, ${batch.length} rows`);
    for (const row of batch) output.append(row);
  }
}

export const transform = ferry.exportTransformer(Hostile);
