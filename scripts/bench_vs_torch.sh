#!/usr/bin/env bash
# Strata against PyTorch on the same models, run alternately (the machine is noisy: only ratios
# measured in one interleaved run mean anything). Prints the median steps/s of each side and the
# ratio, per thread count.
#
#   scripts/bench_vs_torch.sh [--rounds N] [--threads "1 2"] [--quick]
#
# PyTorch from PyPI is ~3 GB with its CUDA stack, so this is a local check, not CI:
#   python3 -m venv /tmp/ptenv && /tmp/ptenv/bin/pip install torch
# The script uses $TORCH_PYTHON, else /tmp/ptenv/bin/python, else python3, and says so when torch
# is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin strata-bench >&2
exec python3 scripts/bench_vs_torch.py "$@"
