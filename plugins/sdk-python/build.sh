#!/bin/sh
# Builds a Python ferry plugin into a component:
#   plugins/sdk-python/build.sh APP_DIR [NAME] [WORLD] [OUT]
# APP_DIR holds app.py (the module that sets `Transform = ferry.export_transformer(...)`,
# `Validate = ferry.export_validator(...)` or `Parse = ferry.export_parser(...)`) and
# any pure-Python modules it imports (tests, `test_*.py`, and a project's `.ferry/` are
# left out). NAME defaults to APP_DIR's name, WORLD to `transformer` (or `validator`,
# `parser`: the world must match the export).
# Writes OUT (default APP_DIR/NAME.wasm). Needs: pip install componentize-py==0.25.1
#
# The build runs on a copy in a temporary directory: componentize-py imports
# the app while building (pre-initialisation) and its embedded CPython would
# otherwise leave __pycache__ directories in the source tree.
set -eu
sdk=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$sdk/../.." && pwd)
app=$(cd "${1:?usage: build.sh APP_DIR [NAME] [WORLD]}" && pwd)
name=${2:-$(basename "$app")}
world=${3:-transformer}
out=${4:-$app/$name.wasm}
if ! command -v componentize-py >/dev/null 2>&1; then
    echo "componentize-py not found; install it with: pip install componentize-py==0.25.1" >&2
    exit 127
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/app" "$tmp/sdk"
(cd "$app" && find . -name '*.py' ! -name 'test_*' ! -path '*/__pycache__/*' ! -path './.ferry/*' | while read -r f; do
    mkdir -p "$tmp/app/$(dirname "$f")" && cp "$f" "$tmp/app/$f"; done)
cp -R "$sdk/ferry_plugin" "$tmp/sdk/"
rm -rf "$tmp/sdk/ferry_plugin/__pycache__"
componentize-py -d "$root/wit/since_v0.1.0" -w "$world" \
    componentize app -p "$tmp/app" -p "$tmp/sdk" -o "$out"
ls -l "$out"
