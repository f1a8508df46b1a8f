#!/usr/bin/env python3
"""PyTorch reference timings for the engine benchmark (same models, batch, optimizer).

Strata's numbers come from `cargo run --release --bin strata-bench`; run this on the same
machine to report the Strata/PyTorch ratio. PyTorch is a ~4.5 GB install, so it is not part of
CI:  pip install torch --index-url <your mirror>;  python3 benches/torch_reference.py [--steps N]

Set OMP_NUM_THREADS / torch threads with --threads to compare like for like with
RAYON_NUM_THREADS on the Strata side.
"""
import argparse
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - torch is optional
    print("PyTorch is not installed: pip install torch, then run again", file=sys.stderr)
    sys.exit(2)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2 = nn.Linear(784, 128), nn.Linear(128, 10)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x.flatten(1))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.c2(x)), 2)
        x = torch.relu(self.f1(x.flatten(1)))
        return self.f3(torch.relu(self.f2(x)))


def steps_per_second(model, side, steps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(64, 1, side, side)
    y = torch.arange(64) % 10

    def run(n):
        for _ in range(n):
            opt.zero_grad()
            loss = loss_fn(model(x.clone()), y)
            loss.backward()
            opt.step()
            loss.item()

    run(steps // 10 + 1)
    t = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {a.steps} steps per measurement")
    for name, model, side in [("mlp", Mlp(), 28), ("lenet5", LeNet(), 32)]:
        best = max(steps_per_second(model, side, a.steps) for _ in range(3))
        print(f"{name:<10} {best:>10.1f} steps/s")


if __name__ == "__main__":
    main()
