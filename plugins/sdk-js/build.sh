#!/bin/sh
# Builds a JavaScript ferry plugin into a component:
#   plugins/sdk-js/build.sh APP_DIR [NAME] [WORLD] [OUT]
# APP_DIR holds app.js (an ES module that imports the SDK as "#ferry" and
# exports `transform`, `validate` or `parse`, made by ferry.exportTransformer,
# exportValidator or exportParser) and any modules it imports relatively.
# NAME defaults to APP_DIR's name, WORLD to `transformer` (or `validator`,
# `parser`), OUT to APP_DIR/NAME.wasm.
# Needs: npm install -g componentize-qjs@0.4.5
#
# What goes where (a port of this script must reproduce it exactly; the
# inputs are the app dir, the SDK dir, the WIT dir and the world name):
#
#   T=$(mktemp -d)                                  the build directory
#   T/app/**                 APP_DIR's *.js *.mjs *.json files, keeping
#                            subdirectories, leaving out test.js, *.test.js,
#                            node_modules/ and .ferry/
#   T/app/.ferry/sdk/js/*.js the SDK's *.js files (not tests/)
#   T/app/package.json       {"type":"module","imports":{"#ferry":"./.ferry/sdk/js/index.js"}}
#                            (always written: the build resolves "#ferry" to
#                            the SDK it was given, whatever APP_DIR says)
#   T/app/.ferry/entry.js    the generated entry module (below)
#
#   componentize-qjs --wit WIT_DIR --world WORLD --js T/app/.ferry/entry.js \
#       --module-root T/app --sync -o OUT
#
# `--sync`: ferry's host calls exports synchronously (no component-model
# async); without it the component needs async support and does not load.
# `--module-root T/app`: module resolution (relative imports, "#ferry"
# through package.json "imports") happens inside the build directory only.
#
# The entry module hands the WIT imports to the SDK and re-exports the app,
# so app.js itself never imports `ferry:plugin/...` and runs under Node:
#
#   import host from "ferry:plugin/host@0.1.0";
#   import { _setHost } from "./sdk/js/host.js";
#   _setHost(host);
#   export * from "../app.js";
#
# WIT_DIR is the repository's wit/since_v0.1.0, or $FERRY_WIT_DIR when set
# (a project's .ferry/wit/since_v0.1.0). The build runs on a copy so that
# nothing is written into APP_DIR but OUT. The output is not reproducible:
# componentize-qjs pre-initialises the engine and ~60 bytes of the snapshot
# differ from build to build, so every rebuild has a new sha256 (and ferry
# compiles it again, ~3 s).
set -eu
sdk=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$sdk/../.." && pwd)
app=$(cd "${1:?usage: build.sh APP_DIR [NAME] [WORLD] [OUT]}" && pwd)
name=${2:-$(basename "$app")}
world=${3:-transformer}
out=${4:-$app/$name.wasm}
wit=${FERRY_WIT_DIR:-$root/wit/since_v0.1.0}
if ! command -v componentize-qjs >/dev/null 2>&1; then
    echo "componentize-qjs not found; install it with: npm install -g componentize-qjs@0.4.5" >&2
    exit 127
fi
if [ ! -f "$app/app.js" ]; then
    echo "$app has no app.js: the plugin's entry module must be APP_DIR/app.js" >&2
    exit 2
fi
case "$out" in /*) ;; *) out=$(pwd)/$out ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/app/.ferry/sdk/js"
(cd "$app" && find . \( -name node_modules -o -name .ferry \) -prune -o -type f \
    \( -name '*.js' -o -name '*.mjs' -o -name '*.json' \) ! -name 'test.js' ! -name '*.test.js' -print |
    while read -r f; do mkdir -p "$tmp/app/$(dirname "$f")" && cp "$f" "$tmp/app/$f"; done)
cp "$sdk"/*.js "$tmp/app/.ferry/sdk/js/"
printf '%s\n' '{"type":"module","imports":{"#ferry":"./.ferry/sdk/js/index.js"}}' >"$tmp/app/package.json"
cat >"$tmp/app/.ferry/entry.js" <<'ENTRY'
import host from "ferry:plugin/host@0.1.0";
import { _setHost } from "./sdk/js/host.js";
_setHost(host);
export * from "../app.js";
ENTRY
componentize-qjs --wit "$wit" --world "$world" --js "$tmp/app/.ferry/entry.js" \
    --module-root "$tmp/app" --sync -o "$out" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
ls -l "$out"
