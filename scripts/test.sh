#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs them.
# The same command runs locally and in CI (.ci/run calls this script).
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests build in the release profile, in the same target directory as `cargo run --release`
# (./target, or CARGO_TARGET_DIR when set — CI sets a persistent one): the heavy dependencies
# (burn, wgpu, eframe) are compiled once and shared by both commands. See TESTING.md.

if ! command -v cargo >/dev/null 2>&1; then
  echo "scripts/test.sh: cargo is missing — install Rust 1.95 (rustup) first" >&2
  exit 2
fi

# System packages the tests use. Building needs none (winit and wgpu load their system
# libraries at run time); the headless UI snapshot tests render with Mesa's software Vulkan
# driver (lavapipe), so no GPU or display is needed. The crash tests (tests/crash.rs) run the
# real app in a virtual X display (Xvfb, OpenGL through Mesa) and drive it with xdotool.
need=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in mesa-vulkan-drivers libvulkan1 xvfb xdotool libgl1-mesa-dri libegl1 libxkbcommon-x11-0; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
fi
if ((${#need[@]})) && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${need[*]}"
  sudo_cmd=()
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" ||
    echo "scripts/test.sh: could not install ${need[*]}; the snapshot tests need a Vulkan driver, the crash tests Xvfb and xdotool" >&2
fi

echo "== cargo test --release (target dir: ${CARGO_TARGET_DIR:-target})"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --release --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, the last being doc-tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"

# The ONNX export checked by its real consumers: onnx's checker and onnxruntime, from PyPI into a
# virtual environment kept beside the target directory (about 60 MB, installed once).
echo "== ONNX export: onnx.checker + onnxruntime (scripts/check_onnx.py)"
target="${CARGO_TARGET_DIR:-target}"
pyenv="${STRATA_PYENV:-$HOME/.cache/strata/pyenv}"
onnx_status=0
if [ ! -x "$pyenv/bin/python" ] || ! "$pyenv/bin/python" -c 'import onnx, onnxruntime, numpy, safetensors' 2>/dev/null; then
  python3 -m venv "$pyenv" && "$pyenv/bin/pip" install -q --disable-pip-version-check onnx onnxruntime numpy safetensors ||
    { echo "scripts/test.sh: could not install onnx and onnxruntime into $pyenv (needs python3 with venv and PyPI)" >&2; onnx_status=2; }
fi
if [ "$onnx_status" = 0 ]; then
  cargo build --release --locked --bin strata
  "$pyenv/bin/python" scripts/check_onnx.py --strata "$target/release/strata" || onnx_status=$?
fi
if [ "$status" = 0 ]; then status=$onnx_status; fi
exit "$status"
