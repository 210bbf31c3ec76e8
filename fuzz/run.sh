#!/usr/bin/env bash
# Build and run every fuzz target for a time budget; exit non-zero if any
# of them crashed, hung or ran out of memory, printing the reproducer.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 20 (a CI smoke run); `fuzz/run.sh 3600` is
# a long campaign. TARGETs default to all five. Needs only the toolchain of
# rust-toolchain.toml (stable) and crates.io: cargo-fuzz is installed at a
# pinned version if missing, and its nightly-only `-Z` flags are accepted
# by the stable compiler through RUSTC_BOOTSTRAP=1, so no nightly toolchain
# is needed. Default sanitizer: AddressSanitizer (its runtime ships with
# the stable toolchain). See docs/fuzzing.md.
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none (faster, catches less)
#   FUZZ_ARGS       extra libFuzzer flags for every target (e.g. "-jobs=2 -workers=2")
set -euo pipefail
cd "$(dirname "$0")"

# cargo-fuzz 0.13.1: the newest release; its libFuzzer flags and layout
# are what this script and docs/fuzzing.md describe. Bump deliberately.
CARGO_FUZZ_VERSION=0.13.1
ALL_TARGETS=(json_scan csv_reader markdown_front_matter text_decode batch_check)

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
case $seconds in '' | *[!0-9]*)
  echo "usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
  ;;
esac

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

step() { printf '\n=== %s ===\n' "$*"; }
now() { date +%s; }

step "cargo-fuzz $CARGO_FUZZ_VERSION"
t0=$(now)
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  # Built with the toolchain rust-toolchain.toml pins (this folder is
  # under it); --locked uses the versions cargo-fuzz was released with.
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz --version
t_install=$(($(now) - t0))

step "build (sanitizer: $sanitizer)"
t0=$(now)
# Fails if Cargo.lock is stale instead of silently updating dependencies.
cargo fetch --locked
cargo fuzz build --sanitizer "$sanitizer"
t_build=$(($(now) - t0))

# Per target: the longest input libFuzzer makes (the parsers' seeds are
# real files of a few KiB; longer inputs mostly slow each run down), and
# the dictionary of its format's tokens.
max_len() {
  case $1 in
    json_scan | csv_reader | markdown_front_matter) echo 16384 ;;
    *) echo 4096 ;;
  esac
}
dict() {
  case $1 in
    json_scan) echo dict/json.dict ;;
    csv_reader) echo dict/csv.dict ;;
    markdown_front_matter) echo dict/markdown.dict ;;
    text_decode) echo dict/text.dict ;;
  esac
}

failed=()
summary=()
t0=$(now)
for t in "${targets[@]}"; do
  step "run $t for ${seconds}s"
  mkdir -p "corpus/$t" "artifacts/$t" logs
  dirs=("corpus/$t")
  [ -d "seeds/$t" ] && dirs+=("seeds/$t")
  flags=(
    -max_total_time="$seconds"
    # A single input taking 10 s is a hang (the slowest legitimate ones
    # take about 1 s under ASan).
    -timeout=10
    # 2 GiB: well above what any target needs (their limits keep records
    # small); a bigger allocation is a bug the fuzzer should report.
    -rss_limit_mb=2048
    -max_len="$(max_len "$t")"
    -artifact_prefix="artifacts/$t/"
    -print_final_stats=1
  )
  d=$(dict "$t")
  [ -n "$d" ] && flags+=(-dict="$d")
  # shellcheck disable=SC2206
  extra=(${FUZZ_ARGS:-})
  log="logs/$t.log"
  set +e
  cargo fuzz run --sanitizer "$sanitizer" "$t" "${dirs[@]}" -- "${flags[@]}" "${extra[@]}" 2>&1 | tee "$log" |
    grep -E --line-buffered '^#[0-9]+.*(INITED|DONE)|^Done|panicked|ERROR|SUMMARY|Test unit written'
  rc=${PIPESTATUS[0]}
  set -e
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  summary+=("$t: ${execs:-?} execs, ${cov:-no coverage line}, exit $rc")
  if [ "$rc" -ne 0 ]; then
    repro=$(grep -oE 'Test unit written to .*' "$log" | sed 's/^Test unit written to //' | tail -1 || true)
    failed+=("$t: exit $rc; reproducer: fuzz/${repro:-? (see fuzz/$log)}")
  fi
done
t_run=$(($(now) - t0))

step "summary"
printf '%s\n' "${summary[@]}"
echo "times: install ${t_install}s, build ${t_build}s, run ${t_run}s"
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "FUZZING FOUND A BUG:"
  printf '  %s\n' "${failed[@]}"
  echo "Reproduce (in fuzz/): RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET artifacts/TARGET/FILE"
  echo "then turn it into a regression test: see docs/fuzzing.md."
  exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
