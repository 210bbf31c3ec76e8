#!/bin/sh
# Builds js-validator.wasm here (see plugins/sdk-js/build.sh).
exec "$(dirname "$0")/../../plugins/sdk-js/build.sh" "$(dirname "$0")" js-validator validator
