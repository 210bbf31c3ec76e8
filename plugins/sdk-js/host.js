// The host's imports (`ferry:plugin/host@0.1.0`). Inside a component the
// build's generated entry module hands them over with `_setHost`; natively
// (node tests) there are none and `log` writes to stderr.

let host = null;

/** Called once by the entry module the build generates; not for plugin code. */
export function _setHost(imports) { host = imports; }

/** True inside a component. */
export function inComponent() { return host !== null; }

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** Write a line to ferry's log, tagged with the plugin's name. `level` is
 * one of trace, debug, info, warn, error. The host caps a line's length. */
export function log(level, message) {
  if (!LEVELS.includes(level)) {
    throw new TypeError(`log level must be one of ${LEVELS.join(", ")}; got ${JSON.stringify(level)}`);
  }
  if (host) host.log(level, String(message));
  else console.error(`[${level}] ${message}`);
}
