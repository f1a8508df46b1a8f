#!/usr/bin/env python3
"""Checks Strata's ONNX export with the real consumers, preset by preset.

For each preset: `strata export ID --format onnx --perturbed-seed 1 --reference`, then
  - onnx.checker.check_model(full_check=True) (with shape inference),
  - the initializers hold exactly Strata's parameter count,
  - onnxruntime runs it on the reference inputs and its outputs equal Strata's within 1e-4
    (relative to each output's scale).
Presets whose layers ONNX cannot express are listed with the reason Strata gives.

    python scripts/check_onnx.py [IDS...] [--strata target/release/strata] [--max-params N]

Needs `onnx`, `onnxruntime` and `numpy` (pip install onnx onnxruntime numpy: small, fine for CI).
Exit status 0 when every preset either passes or is refused with a reason; 1 when any export
is wrong.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

TOL = 1e-4


def round_trip(strata, path, ref, work, strip=False):
    """Imports `path`, exports it again, and compares the outputs with the first export's.
    With `strip`, the project Strata embeds is removed first: the operators alone are mapped."""
    import numpy as np
    import onnx
    from safetensors.numpy import load_file

    if strip:
        m = onnx.load(path)
        del m.metadata_props[:]
        path = path[:-len(".onnx")] + "-foreign.onnx"
        onnx.save(m, path)

    project = path[:-len(".onnx")] + "-imported.strata"
    r = subprocess.run([strata, "import", path, "-o", project], capture_output=True, text=True)
    if r.returncode != 0:
        return "import failed: " + (r.stderr.strip().splitlines() or [""])[-1][:100]
    kept = sum(1 for line in r.stdout.splitlines() if "has no Strata layer" in line)
    again = path[:-len(".onnx")] + "-again.onnx"
    e = subprocess.run([strata, "export", project, "--format", "onnx", "-o", again, "--reference"],
                       capture_output=True, text=True)
    if e.returncode != 0:
        return f"{kept} operator(s) kept as ONNX nodes; does not export again"
    ref2 = load_file(again[:-len(".onnx")] + ".reference.safetensors")
    outs1 = [v for k, v in sorted(ref.items()) if k.startswith("output.")]
    outs2 = [v for k, v in sorted(ref2.items()) if k.startswith("output.")]
    ins1 = [v for k, v in sorted(ref.items()) if k.startswith("input.")]
    ins2 = [v for k, v in sorted(ref2.items()) if k.startswith("input.")]
    if len(outs1) != len(outs2) or any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(ins1, ins2)):
        return "outputs not comparable (different inputs)"
    worst = max((float(np.abs(a - b.reshape(a.shape)).max()) for a, b in zip(outs1, outs2)), default=0.0)
    if worst > 1e-5:
        return f"outputs differ by {worst:.1e}"
    return f"kept the outputs ({worst:.0e})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="*", help="preset ids or project files (default: every preset)")
    ap.add_argument("--strata", default=os.path.join("target", "release", "strata"))
    ap.add_argument("--max-params", type=int, default=30_000_000,
                    help="skip presets larger than this (their files run to hundreds of MB)")
    ap.add_argument("--strip-project", action="store_true",
                    help="round trip without the project Strata embeds (the operator mapping alone)")
    a = ap.parse_args()
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from safetensors.numpy import load_file
    except ImportError as e:
        print(f"this check needs onnx, onnxruntime, numpy and safetensors ({e})")
        return 2
    ort.set_default_logger_severity(3)
    presets = {p["id"]: p for p in json.loads(
        subprocess.run([a.strata, "presets", "--json"], check=True, capture_output=True, text=True).stdout)}
    ids = a.ids or sorted(presets)
    wrong, refused, passed, skipped = [], [], [], []
    trips, trip_fail = 0, []
    with tempfile.TemporaryDirectory() as work:
        for pid in ids:
            # A preset id, or a project file (its count is what the export reports).
            p = presets.get(pid) or {"params": None}
            if p["params"] is not None and p["params"] > a.max_params:
                skipped.append(pid)
                print(f"{pid:20} skipped          {p['params']} parameters (over --max-params)", flush=True)
                continue
            path = os.path.join(work, os.path.basename(pid).removesuffix(".strata") + ".onnx")
            r = subprocess.run([a.strata, "export", pid, "--format", "onnx", "-o", path,
                                "--perturbed-seed", "1", "--reference"], capture_output=True, text=True)
            if r.returncode != 0:
                msg = (r.stderr or r.stdout).strip().splitlines()[-1]
                if "ONNX" in msg:
                    refused.append(pid)
                    print(f"{pid:20} not exported yet {msg[len(pid) + 2:][:150]}", flush=True)
                else:
                    wrong.append(pid)
                    print(f"{pid:20} export failed    {msg[:150]}", flush=True)
                continue
            if p["params"] is None:
                counted = re.search(r"(\d+) parameters", r.stdout + r.stderr)
                p = {"params": int(counted.group(1)) if counted else -1}
            try:
                model = onnx.load(path)
                onnx.checker.check_model(model, full_check=True)
                n = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
                if n != p["params"]:
                    raise AssertionError(f"initializers hold {n}, Strata counts {p['params']}")
                ref = load_file(path[:-len(".onnx")] + ".reference.safetensors")
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                feed = {i.name: ref["input." + i.name] for i in sess.get_inputs()}
                names = [o.name for o in sess.get_outputs()]
                got = dict(zip(names, sess.run(names, feed)))
                worst = 0.0
                for k, want in ref.items():
                    if not k.startswith("output."):
                        continue
                    g = got[k[len("output."):]].reshape(want.shape)
                    scale = max(1.0, float(np.abs(want).max()))
                    worst = max(worst, float(np.abs(g - want).max()) / scale)
                if worst > TOL:
                    raise AssertionError(f"outputs differ by {worst:.2e}")
                passed.append(pid)
                trip = round_trip(a.strata, path, ref, work, a.strip_project)
                if trip.startswith("kept"):
                    trips += 1
                else:
                    trip_fail.append(pid)
                print(f"{pid:20} ok               {n} parameters, max difference {worst:.1e}; round trip: {trip}", flush=True)
            except Exception as e:  # noqa: BLE001 - any failure of a real consumer is a wrong export
                wrong.append(pid)
                print(f"{pid:20} WRONG            {type(e).__name__}: {str(e)[:200]}", flush=True)
    print(f"round trip (export → import → export): {trips} of {len(passed)} keep the outputs"
          + (f"; not yet: {', '.join(trip_fail)}" if trip_fail else ""))
    print(f"{len(passed)} passed, {len(refused)} not in the ONNX export yet (reason given), {len(skipped)} skipped, {len(wrong)} wrong")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
