#!/usr/bin/env python3
"""Runs strata-bench and benches/torch_reference.py alternately and prints medians and ratios.

Models: mlp, lenet5 (MNIST-sized steps, batch 64, Adam), resnet_mini (its whole recipe step on
Fashion-MNIST in Strata, the same network on random 28×28 batches in PyTorch), ddpm_unet (diffusion step, batch 32),
gpt_char (language-model step, batch 16 × 64), ppo_cartpole (a PPO iteration) and dqn_cartpole
(a DQN step) — identical batches, optimizers and loops on both sides (see each file's docs).
Called by scripts/bench_vs_torch.sh, which builds strata-bench first.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys

STRATA = "target/release/strata-bench"
PATTERNS_STRATA = {
    "mlp": re.compile(r"^mlp\s+[\d.]+\s+([\d.]+)\s"),
    "lenet5": re.compile(r"^lenet5\s+[\d.]+\s+([\d.]+)\s"),
    "resnet_mini": re.compile(r"^resnet_mini\s+whole recipe step.*:\s+([\d.]+) steps/s"),
    "ddpm_unet": re.compile(r"^ddpm_unet\s+diffusion.*:\s+([\d.]+) steps/s"),
    "gpt_char": re.compile(r"^gpt_char\s+\w+ recipe step.*:\s+([\d.]+) steps/s"),
    "ppo_cartpole": re.compile(r"^ppo_cartpole\s+PPO.*:\s+([\d.]+) steps/s"),
    "dqn_cartpole": re.compile(r"^dqn_cartpole\s+DQN.*:\s+([\d.]+) steps/s"),
}
PATTERN_TORCH = re.compile(r"^(\w+)\s+([\d.]+) steps/s")


def torch_python():
    for cand in [os.environ.get("TORCH_PYTHON"), "/tmp/ptenv/bin/python", shutil.which("python3")]:
        if cand and os.path.exists(cand):
            ok = subprocess.run([cand, "-c", "import torch"], capture_output=True).returncode == 0
            if ok:
                return cand
    return None


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return out.stdout.splitlines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1 2")
    ap.add_argument("--quick", action="store_true", help="few steps per measurement (a smoke run)")
    a = ap.parse_args()
    py = torch_python()
    if py is None:
        sys.exit(
            "PyTorch is not installed (a ~3 GB download, so not part of CI): "
            "python3 -m venv /tmp/ptenv && /tmp/ptenv/bin/pip install torch, then run again"
        )
    steps = ["--steps", "60", "--lm-steps", "10", "--diffusion-steps", "6", "--rl-steps", "400"] if a.quick else [
        "--steps", "300", "--lm-steps", "60", "--diffusion-steps", "60", "--rl-steps", "2000"]
    for threads in a.threads.split():
        env = dict(os.environ, RAYON_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
        got = {"strata": {}, "torch": {}}
        for r in range(a.rounds):
            print(f"[{threads} thread(s)] round {r + 1} of {a.rounds} …", file=sys.stderr, flush=True)
            for line in run([STRATA, *steps], env):
                for name, pat in PATTERNS_STRATA.items():
                    if m := pat.match(line):
                        got["strata"].setdefault(name, []).append(float(m.group(1)))
            for line in run([py, "benches/torch_reference.py", "--threads", threads, *steps], env):
                if m := PATTERN_TORCH.match(line):
                    got["torch"].setdefault(m.group(1), []).append(float(m.group(2)))
        print(f"\n{threads} thread(s), medians of {a.rounds} interleaved rounds (steps/s):")
        print(f"{'model':<14} {'strata':>10} {'pytorch':>10} {'ratio':>8}")
        for name in PATTERNS_STRATA:
            s, t = got["strata"].get(name), got["torch"].get(name)
            if not s or not t:
                print(f"{name:<14} {'—':>10} {'—':>10}  (not measured on both sides)")
                continue
            ms, mt = statistics.median(s), statistics.median(t)
            print(f"{name:<14} {ms:>10.2f} {mt:>10.2f} {ms / mt:>7.2f}×")


if __name__ == "__main__":
    main()
