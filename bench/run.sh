#!/bin/sh
# Build ferry and the benchmark in release mode, then run the benchmark.
# Arguments are forwarded, e.g. `bench/run.sh --rows 125000,1250000 --repeat 3`.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p ferry -p ferry-bench
exec "${CARGO_TARGET_DIR:-target}/release/ferry-bench" "$@"
