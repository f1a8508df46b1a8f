#!/usr/bin/env python3
"""PyTorch reference timings for the engine benchmark (same models, batch, optimizer).

Strata's numbers come from `cargo run --release --bin strata-bench`; run this on the same
machine to report the Strata/PyTorch ratio (MLP, LeNet-5, and the `ddpm_unet` diffusion training
step). PyTorch is a large install, so it is not part of CI:
  python3 -m venv /tmp/ptenv && /tmp/ptenv/bin/pip install torch
  /tmp/ptenv/bin/python benches/torch_reference.py [--steps N] [--diffusion-steps N]

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


class UnetBlock(nn.Module):
    """conv 3×3, group norm, GELU, + the conditioning per channel, conv 3×3, group norm, GELU."""

    def __init__(self, cin, c, cond=64):
        super().__init__()
        self.c1, self.n1 = nn.Conv2d(cin, c, 3, padding=1), nn.GroupNorm(8, c)
        self.p = nn.Linear(cond, c)
        self.c2, self.n2 = nn.Conv2d(c, c, 3, padding=1), nn.GroupNorm(8, c)

    def forward(self, x, cond):
        a = nn.functional.gelu(self.n1(self.c1(x))) + self.p(cond)[:, :, None, None]
        return nn.functional.gelu(self.n2(self.c2(a)))


class DdpmUnet(nn.Module):
    """The `ddpm_unet` preset layer for layer (same parameter count, checked in main)."""

    def __init__(self):
        super().__init__()
        self.t_lin, self.y_emb = nn.Linear(64, 64), nn.Embedding(11, 64)
        self.h0 = nn.Conv2d(1, 16, 3, padding=1)
        self.e1, self.d1 = UnetBlock(16, 16), nn.Conv2d(16, 32, 4, 2, 1)
        self.e2, self.d2 = UnetBlock(32, 32), nn.Conv2d(32, 32, 4, 2, 1)
        self.mid = UnetBlock(32, 32)
        self.ln, self.att = nn.LayerNorm(32), nn.MultiheadAttention(32, 4, batch_first=True)
        self.u1, self.b1 = nn.ConvTranspose2d(32, 32, 2, 2), UnetBlock(64, 32)
        self.u2, self.b2 = nn.ConvTranspose2d(32, 16, 2, 2), UnetBlock(32, 16)
        self.out = nn.Conv2d(16, 1, 1)

    @staticmethod
    def timestep_embedding(t, dim=64):
        half = dim // 2
        freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half) / half)
        args = t.float()[:, None] * freqs[None]
        return torch.cat([args.cos(), args.sin()], 1)

    def forward(self, x, t, y):
        cond = nn.functional.gelu(self.t_lin(self.timestep_embedding(t))) + self.y_emb(y)
        e1 = self.e1(self.h0(x), cond)
        e2 = self.e2(self.d1(e1), cond)
        mid = self.mid(self.d2(e2), cond)
        tok = mid.flatten(2).transpose(1, 2)
        ln = self.ln(tok)
        tok = tok + self.att(ln, ln, ln, need_weights=False)[0]
        h = tok.transpose(1, 2).reshape(mid.shape)
        h = self.b1(torch.cat([e2, self.u1(h)], 1), cond)
        h = self.b2(torch.cat([e1, self.u2(h)], 1), cond)
        return self.out(h)


def diffusion_steps_per_second(steps, batch=32, timesteps=1000, ema_decay=0.995):
    """The diffusion recipe's training step: t ~ U, x_t = √ᾱ x + √(1−ᾱ) ε, class dropped one
    time in ten, MSE on ε, Adam, then the moving average of the weights (as Strata samples
    from it)."""
    model = DdpmUnet()
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    betas = torch.linspace(1e-4, 0.02, timesteps)
    alpha_bar = torch.cumprod(1 - betas, 0)
    x0 = torch.rand(batch, 1, 28, 28) * 2 - 1
    y0 = torch.arange(batch) % 10

    def run(n):
        for _ in range(n):
            t = torch.randint(0, timesteps, (batch,))
            eps = torch.randn_like(x0)
            ab = alpha_bar[t][:, None, None, None]
            xt = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
            y = torch.where(torch.rand(batch) < 0.1, torch.full_like(y0, 10), y0)
            opt.zero_grad()
            loss = ((model(xt, t, y) - eps) ** 2).mean()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for e, p in zip(ema, model.parameters()):
                    e.mul_(ema_decay).add_(p, alpha=1 - ema_decay)
            loss.item()

    run(steps // 10 + 1)
    t = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t)


class CharLayer(nn.Module):
    """Strata's gpt_char layer: pre-LN, causal multi-head attention (4 heads), GELU MLP 4×."""

    def __init__(self, d=128, heads=4):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln2(x))


class CharGpt(nn.Module):
    """The gpt_char preset: 75 characters, width 128, 64 learned positions, 4 layers, LN, head."""

    def __init__(self, vocab=75, d=128, t=64, layers=4):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Parameter(torch.randn(t, d) * 0.02)
        self.layers = nn.ModuleList(CharLayer(d) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", torch.triu(torch.full((t, t), float("-inf")), 1))

    def forward(self, ids):
        x = self.wte(ids) + self.wpe[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x, self.mask)
        return self.head(self.ln(x))


def lm_steps_per_second(steps, batch=16, t=64, vocab=75):
    """A gpt_char training step: windows of real-looking character ids, next-token
    cross-entropy, AdamW (Strata reads Pride and Prejudice; the ids' values do not change the
    work)."""
    model = CharGpt()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    text = torch.randint(0, vocab, (100_000,))

    def run(n):
        for _ in range(n):
            starts = torch.randint(0, text.numel() - t - 1, (batch,))
            idx = starts[:, None] + torch.arange(t + 1)[None, :]
            w = text[idx]
            opt.zero_grad()
            logits = model(w[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), w[:, 1:].reshape(-1))
            loss.backward()
            opt.step()
            loss.item()

    run(steps // 10 + 1)
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


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
    ap.add_argument("--diffusion-steps", type=int, default=60)
    ap.add_argument("--lm-steps", type=int, default=60)
    ap.add_argument("--only-lm", action="store_true", help="only the gpt_char step")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {a.steps} steps per measurement")
    if a.lm_steps:
        params = sum(p.numel() for p in CharGpt().parameters())
        best = max(lm_steps_per_second(a.lm_steps) for _ in range(3))
        print(f"gpt_char   {best:>10.2f} steps/s  (language-model training step, batch 16 × 64, {params:,} parameters)")
    if a.only_lm:
        return
    for name, model, side in [("mlp", Mlp(), 28), ("lenet5", LeNet(), 32)]:
        best = max(steps_per_second(model, side, a.steps) for _ in range(3))
        print(f"{name:<10} {best:>10.1f} steps/s")
    params = sum(p.numel() for p in DdpmUnet().parameters())
    best = max(diffusion_steps_per_second(a.diffusion_steps) for _ in range(3))
    print(f"ddpm_unet  {best:>10.2f} steps/s  (diffusion training step, batch 32, {params:,} parameters)")


if __name__ == "__main__":
    main()
