#!/usr/bin/env python3
"""Checks Strata's PyTorch export in real PyTorch, preset by preset.

For each preset: `strata export ID --format pytorch --perturbed-seed 1 --reference`, then in PyTorch:
the module's parameter count must equal Strata's, and after `load_weights` its outputs on the
reference inputs must equal Strata's within 1e-4 (relative to the output's scale).

    /path/to/venv/bin/python scripts/check_export.py [IDS...] [--strata target/release/strata]

Needs `torch` and `safetensors` (`pip install torch safetensors`; torch from PyPI is a ~3 GB
download with its CUDA stack, so this is a local check, not part of CI). Presets with more than
--max-params parameters get the parameter-count check only (their weights run to gigabytes).
With --import-models it also makes ONNX files with PyTorch's own exporter (torchvision's
ResNet-18, LSTM + bidirectional GRU + RNN layers, a small Transformer encoder written with
separate q/k/v projections, and nn.TransformerEncoder with GELU), opens each with `strata import`, and compares Strata's outputs on the
imported graph and weights with PyTorch's. With --train STEPS it also runs each export's train.py
(where the recipe has one) for STEPS steps from the exported weights and requires a finite
validation loss.
Exit status 0 when every preset checked passes.
"""

import argparse
import importlib.util
import json
import math
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


def check(strata, pid, params, max_params, work, train_steps=0):
    import torch
    from safetensors.torch import load_file

    out = os.path.join(work, pid)
    full = params <= max_params
    cmd = [strata, "export", pid, "--format", "pytorch", "-o", out]
    if full:
        cmd += ["--perturbed-seed", "1", "--reference"]
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
    detail = f"{n} parameters, max difference {worst:.1e}"
    if train_steps:
        if not os.path.exists(os.path.join(out, "train.py")):
            return "ok", detail + "; train.py: not written for this recipe"
        r = subprocess.run([sys.executable, "train.py", "--steps", str(train_steps), "--weights", "weights.safetensors"],
                           cwd=out, capture_output=True, text=True, timeout=1800)
        lines = [l for l in r.stdout.splitlines() if l.startswith("validation loss")]
        if r.returncode != 0 or not lines:
            tail = (r.stderr or r.stdout).strip().splitlines()
            return "train.py failed", (tail[-1] if tail else f"exit {r.returncode}")[:160]
        loss = float(lines[-1].split()[2])
        if not math.isfinite(loss):
            return "train.py failed", lines[-1]
        detail += f"; train.py {train_steps} steps: {lines[-1]}"
    return "ok", detail


def import_models(strata, work):
    """PyTorch → ONNX → Strata: does the imported graph compute what PyTorch computes?"""
    import torch
    import torchvision
    from safetensors.torch import load_file

    torch.manual_seed(0)

    class Attention(torch.nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.q, self.k, self.v, self.o = (torch.nn.Linear(d, d) for _ in range(4))
            self.heads = heads

        def forward(self, x):
            b, t, d = x.shape
            h = self.heads

            def split(y):
                return y.reshape(b, t, h, d // h).transpose(1, 2)

            a = torch.softmax(split(self.q(x)) @ split(self.k(x)).transpose(2, 3) / math.sqrt(d // h), dim=3)
            return self.o((a @ split(self.v(x))).transpose(1, 2).reshape(b, t, d))

    class Layer(torch.nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.attn, self.n1, self.n2 = Attention(d, heads), torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
            self.ff1, self.ff2 = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)

        def forward(self, x):
            x = self.n1(x + self.attn(x))
            return self.n2(x + self.ff2(torch.relu(self.ff1(x))))

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Linear(16, 32)
            self.layers = torch.nn.Sequential(Layer(32, 4), Layer(32, 4))
            self.head = torch.nn.Linear(32, 5)

        def forward(self, x):
            return self.head(self.layers(self.emb(x)))

    class TorchEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Linear(16, 32)
            layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True)
            self.enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = torch.nn.Linear(32, 5)

        def forward(self, x):
            return self.head(self.enc(self.emb(x)))

    class Recurrent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(28, 64, batch_first=True)
            self.gru = torch.nn.GRU(64, 32, batch_first=True, bidirectional=True)
            self.rnn = torch.nn.RNN(64, 16)
            self.head = torch.nn.Linear(16, 10)

        def forward(self, x):
            y, _ = self.lstm(x)
            y, _ = self.gru(y)
            y, _ = self.rnn(y.transpose(0, 1))
            return self.head(y[-1])

    models = [
        ("resnet18", torchvision.models.resnet18(weights=None), (1, 3, 224, 224), "image"),
        ("recurrent", Recurrent(), (2, 28, 28), "x"),
        ("encoder", Encoder(), (2, 10, 16), "x"),
        ("torch_encoder", TorchEncoder(), (2, 10, 16), "x"),
    ]
    failed = 0
    for name, model, shape, arg in models:
        model.eval()
        path = os.path.join(work, name + ".onnx")
        torch.onnx.export(model, (torch.randn(*shape),), path, input_names=[arg], output_names=["prediction"],
                          opset_version=17, dynamo=False)
        project = os.path.join(work, name + ".strata")
        r = subprocess.run([strata, "import", path, "-o", project], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name:20} import failed     {r.stderr.strip()[:160]}")
            failed += 1
            continue
        kept = sum(1 for line in r.stdout.splitlines() if "has no Strata layer" in line)
        params = next((line.split()[0] for line in r.stdout.splitlines() if line.endswith("parameters")), "?")
        out = os.path.join(work, name + "-strata.onnx")
        e = subprocess.run([strata, "export", project, "--format", "onnx", "-o", out, "--reference"],
                           capture_output=True, text=True)
        if e.returncode != 0:
            print(f"{name:20} imported         {params} parameters, {kept} operator(s) kept as ONNX nodes; "
                  f"does not run in Strata: {e.stderr.strip().split(': ', 1)[-1][:120]}")
            failed += 1
            continue
        ref = load_file(out[:-len(".onnx")] + ".reference.safetensors")
        with torch.no_grad():
            want = model(ref["input." + arg])
        diff = (want - ref["output.prediction"].reshape(want.shape)).abs().max().item() / max(1.0, want.abs().max().item())
        status = "ok" if diff <= TOL else "outputs differ"
        failed += status != "ok"
        print(f"{name:20} {status:16} {params} parameters, {kept} operator(s) kept as ONNX nodes, "
              f"max difference to PyTorch {diff:.1e}")
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="*", help="preset ids (default: all)")
    ap.add_argument("--strata", default=os.path.join("target", "release", "strata"))
    ap.add_argument("--max-params", type=int, default=30_000_000)
    ap.add_argument("--import-models", action="store_true", help="also check ONNX import on PyTorch's exports")
    ap.add_argument("--train", type=int, default=0, metavar="STEPS",
                    help="also run each export's train.py for STEPS steps from Strata's weights")
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
        if a.import_models:
            failed += import_models(a.strata, work)
            if not a.ids:
                ids = []
        for pid in ids:
            p = presets.get(pid)
            if p is None:
                print(f"{pid:20} unknown preset")
                failed += 1
                continue
            status, detail = check(a.strata, pid, p["params"], a.max_params, work, a.train)
            if not status.startswith("ok"):
                failed += 1
            print(f"{pid:20} {status:16} {detail}", flush=True)
    if ids:
        print(f"{len(ids) - failed} of {len(ids)} presets passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
