#!/bin/sh
# Builds python-normalise.wasm here (see plugins/sdk-python/build.sh).
exec "$(dirname "$0")/../../plugins/sdk-python/build.sh" "$(dirname "$0")" python-normalise transformer
