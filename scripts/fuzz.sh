#!/usr/bin/env bash
# Fuzzes the project loader and the recovery-file reader (cargo-fuzz / libFuzzer), seeded with
# every preset and test fixture. Works on the stable toolchain through RUSTC_BOOTSTRAP.
#
#   scripts/fuzz.sh [SECONDS]        # default 120
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   # a number of executions instead of a time
#
# Built without a sanitizer (`--sanitizer none`): Strata has no unsafe code, so AddressSanitizer
# finds nothing a panic would not, and it costs most of the speed. Panics and failed asserts are
# what the target reports.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/load_project
cp presets/*.strata tests/fixtures/*.strata fuzz/corpus/load_project/
if [[ -n ${FUZZ_RUNS:-} ]]; then
  limit=(-runs="$FUZZ_RUNS")
else
  limit=(-max_total_time="$seconds")
fi
RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none load_project -- "${limit[@]}" -print_final_stats=1
