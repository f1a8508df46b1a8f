#!/usr/bin/env python3
"""Checks Strata's PyTorch export in real PyTorch, preset by preset.

For each preset: `strata export ID --format pytorch --init-seed 1 --reference`, then in PyTorch:
the module's parameter count must equal Strata's, and after `load_weights` its outputs on the
reference inputs must equal Strata's within 1e-4 (relative to the output's scale).

    /path/to/venv/bin/python scripts/check_export.py [IDS...] [--strata target/release/strata]

Needs `torch` and `safetensors` (`pip install torch safetensors`; torch from PyPI is a ~3 GB
download with its CUDA stack, so this is a local check, not part of CI). Presets with more than
--max-params parameters get the parameter-count check only (their weights run to gigabytes).
Exit status 0 when every preset checked passes.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

TOL = 1e-4


def strata_presets(strata):
    out = subprocess.run([strata, "presets", "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check(strata, pid, params, max_params, work):
    import torch
    from safetensors.torch import load_file

    out = os.path.join(work, pid)
    full = params <= max_params
    cmd = [strata, "export", pid, "--format", "pytorch", "-o", out]
    if full:
        cmd += ["--init-seed", "1", "--reference"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return "export failed", (r.stderr or r.stdout).strip().splitlines()[-1][:160]
    try:
        mod = load_module(os.path.join(out, "model.py"), f"strata_export_{pid}")
        torch.manual_seed(0)
        model = mod.Model()
    except Exception as e:  # noqa: BLE001 - report any failure of the generated code
        return "model.py failed", f"{type(e).__name__}: {e}"[:160]
    n = sum(p.numel() for p in model.parameters())
    if n != params:
        return "param count", f"PyTorch {n} vs Strata {params}"
    if not full:
        return "ok (count only)", f"{n} parameters"
    try:
        mod.load_weights(model, os.path.join(out, "weights.safetensors"))
    except Exception as e:  # noqa: BLE001
        return "weights", f"{e}"[:160]
    model.eval()
    ref = load_file(os.path.join(out, "reference.safetensors"))
    args = {k[len("input."):]: v for k, v in ref.items() if k.startswith("input.")}
    try:
        with torch.no_grad():
            got = model(**args)
    except Exception as e:  # noqa: BLE001
        return "forward failed", f"{type(e).__name__}: {e}"[:160]
    worst = 0.0
    for k, want in ref.items():
        if not k.startswith("output."):
            continue
        role = k[len("output."):]
        if role not in got:
            return "outputs", f"no output {role}"
        g = got[role].float().reshape(want.shape)
        scale = max(1.0, want.abs().max().item())
        diff = (g - want).abs().max().item() / scale
        worst = max(worst, diff)
    if worst > TOL:
        return "outputs differ", f"max difference {worst:.2e}"
    return "ok", f"{n} parameters, max difference {worst:.1e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="*", help="preset ids (default: all)")
    ap.add_argument("--strata", default=os.path.join("target", "release", "strata"))
    ap.add_argument("--max-params", type=int, default=30_000_000)
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError as e:
        print(f"this check needs PyTorch and safetensors ({e}); pip install torch safetensors")
        return 2
    presets = {p["id"]: p for p in strata_presets(a.strata)}
    ids = a.ids or sorted(presets)
    failed = 0
    with tempfile.TemporaryDirectory() as work:
        for pid in ids:
            p = presets.get(pid)
            if p is None:
                print(f"{pid:20} unknown preset")
                failed += 1
                continue
            status, detail = check(a.strata, pid, p["params"], a.max_params, work)
            if not status.startswith("ok"):
                failed += 1
            print(f"{pid:20} {status:16} {detail}", flush=True)
    print(f"{len(ids) - failed} of {len(ids)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
