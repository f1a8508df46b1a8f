#!/usr/bin/env bash
# Fuzzes the project loader and the recovery-file reader, then the ONNX reader (cargo-fuzz /
# libFuzzer), seeded with every preset and test fixture, and with every preset's ONNX export.
# Works on the stable toolchain through RUSTC_BOOTSTRAP.
#
#   scripts/fuzz.sh [SECONDS]        # default 120, per target
#   FUZZ_RUNS=10000000 scripts/fuzz.sh   # a number of executions instead of a time
#   FUZZ_TARGETS=import_onnx scripts/fuzz.sh 60   # one target
#
# Built without a sanitizer (`--sanitizer none`): Strata has no unsafe code, so AddressSanitizer
# finds nothing a panic would not, and it costs most of the speed. Panics and failed asserts are
# what the target reports.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/load_project fuzz/corpus/import_onnx
cp presets/*.strata tests/fixtures/*.strata fuzz/corpus/load_project/
targets=(${FUZZ_TARGETS:-load_project import_onnx})
if [[ " ${targets[*]} " == *" import_onnx "* ]]; then
  # Seeds: the ONNX export of every preset small enough (the files of the big ones are huge).
  cargo build --release --bin strata
  strata="${CARGO_TARGET_DIR:-target}/release/strata"
  for id in mlp lenet5 resnet_mini unet_shapes dcgan vae gpt_char vit_mnist lstm_rows seq2seq_attention ddpm_unet; do
    [ -f "fuzz/corpus/import_onnx/$id.onnx" ] || "$strata" export "$id" --format onnx --init-seed 1 -o "fuzz/corpus/import_onnx/$id.onnx" >/dev/null
  done
fi
if [[ -n ${FUZZ_RUNS:-} ]]; then
  limit=(-runs="$FUZZ_RUNS")
else
  limit=(-max_total_time="$seconds")
fi
for t in "${targets[@]}"; do
  echo "== fuzzing $t"
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$t" -- "${limit[@]}" -print_final_stats=1
done
