#!/usr/bin/env bash
# Fuzzes the project loader (cargo-fuzz / libFuzzer) for SECONDS seconds (default 120),
# seeded with every preset. Works on the stable toolchain through RUSTC_BOOTSTRAP.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/load_project
cp presets/*.strata tests/fixtures/*.strata fuzz/corpus/load_project/
RUSTC_BOOTSTRAP=1 cargo fuzz run load_project -- -max_total_time="$seconds" -print_final_stats=1
