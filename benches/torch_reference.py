#!/usr/bin/env python3
"""PyTorch reference timings for the engine benchmark (same models, batch, optimizer).

Strata's numbers come from `cargo run --release --bin strata-bench`; run this on the same
machine to report the Strata/PyTorch ratio (MLP, LeNet-5, the `ddpm_unet` diffusion training
step, the gpt_char step, and PPO and DQN on CartPole with the environment written in Python:
`--only-rl` here, `strata-bench --only-rl` there). PyTorch is a large install, so it is not part of CI:
  python3 -m venv /tmp/ptenv && /tmp/ptenv/bin/pip install torch
  /tmp/ptenv/bin/python benches/torch_reference.py [--steps N] [--diffusion-steps N]

Set OMP_NUM_THREADS / torch threads with --threads to compare like for like with
RAYON_NUM_THREADS on the Strata side.
"""
import argparse
import math
import random
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


def conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Basic(nn.Module):
    """resnet_mini's basic block: two 3×3 convolutions with batch norm, the input added back
    (through a strided 1×1 convolution when the block halves the image)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a, self.b = conv_bn(cin, cout, 3, stride), conv_bn(cout, cout)
        self.skip = conv_bn(cin, cout, 1, stride) if stride != 1 else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b(torch.relu(self.a(x))) + self.skip(x))


class ResnetMini(nn.Module):
    """The `resnet_mini` preset: stride-2 stem of 16, blocks of 16, 32 (/2), 64 (/2), pool, linear."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, 2)
        self.blocks = nn.Sequential(Basic(16, 16, 1), Basic(16, 32, 2), Basic(32, 64, 2))
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem(x)))
        return self.head(x.mean((2, 3)))


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


class CartPole:
    """CartPole-v1 as Strata's `data/envs.rs` has it (Gym's constants, Euler, 500-step limit)."""

    def __init__(self, rng):
        self.rng = rng
        self.reset()

    def reset(self):
        self.s = [self.rng.uniform(-0.05, 0.05) for _ in range(4)]
        self.steps = 0
        return list(self.s)

    def step(self, a):
        x, xd, th, thd = self.s
        f = 10.0 if a == 1 else -10.0
        cos, sin = math.cos(th), math.sin(th)
        temp = (f + 0.05 * thd * thd * sin) / 1.1
        tha = (9.8 * sin - cos * temp) / (0.5 * (4.0 / 3.0 - 0.1 * cos * cos / 1.1))
        xa = temp - 0.05 * tha * cos / 1.1
        self.s = [x + 0.02 * xd, xd + 0.02 * xa, th + 0.02 * thd, thd + 0.02 * tha]
        self.steps += 1
        done = abs(self.s[0]) > 2.4 or abs(self.s[2]) > 12 * 2 * math.pi / 360
        trunc = not done and self.steps >= 500
        return list(self.s), 1.0, done, trunc


def mlp64(out, act=nn.Tanh):
    return nn.Sequential(nn.Linear(4, 64), act(), nn.Linear(64, 64), act(), nn.Linear(64, out))


def ppo_iterations_per_second(iters, envs=8, rollout=128, epochs=4, minibatches=4):
    """ppo_cartpole's step: a rollout of 8 × 128 moves sampled from the policy, GAE, then
    4 epochs × 4 minibatches of the clipped objective + value loss − entropy bonus (Adam)."""
    rng = random.Random(1)
    policy, value = mlp64(2), mlp64(1)
    opt = torch.optim.Adam(list(policy.parameters()) + list(value.parameters()), lr=2.5e-3)
    cps = [CartPole(rng) for _ in range(envs)]
    obs = [c.reset() for c in cps]

    def iteration():
        nonlocal obs
        o_buf, a_buf, lp_buf, v_buf, r_buf, d_buf = [], [], [], [], [], []
        with torch.no_grad():
            for _ in range(rollout):
                x = torch.tensor(obs, dtype=torch.float32)
                p = torch.softmax(policy(x), 1)
                v = value(x).reshape(-1)
                acts = torch.multinomial(p, 1).reshape(-1).tolist()
                o_buf.append(x)
                a_buf.append(acts)
                lp_buf.append(torch.log(p[range(envs), acts]))
                v_buf.append(v)
                rs, ds, nxt = [], [], []
                for i, c in enumerate(cps):
                    o, r, d, t = c.step(acts[i])
                    if d or t:
                        o = c.reset()
                    nxt.append(o)
                    rs.append(r)
                    ds.append(d or t)
                obs = nxt
                r_buf.append(rs)
                d_buf.append(ds)
            last = value(torch.tensor(obs, dtype=torch.float32)).reshape(-1)
        adv = torch.zeros(rollout, envs)
        run = torch.zeros(envs)
        for t in reversed(range(rollout)):
            alive = 1.0 - torch.tensor(d_buf[t], dtype=torch.float32)
            nv = last if t == rollout - 1 else v_buf[t + 1]
            delta = torch.tensor(r_buf[t]) + 0.99 * nv * alive - v_buf[t]
            run = delta + 0.99 * 0.95 * alive * run
            adv[t] = run
        ret = adv + torch.stack(v_buf)
        O, A = torch.cat(o_buf), torch.tensor(a_buf).reshape(-1)
        LP, ADV, RET = torch.cat(lp_buf), adv.reshape(-1), ret.reshape(-1)
        n = O.shape[0]
        mb = n // minibatches
        for _ in range(epochs):
            perm = torch.randperm(n)
            for k in range(minibatches):
                idx = perm[k * mb:(k + 1) * mb]
                logp_all = torch.log_softmax(policy(O[idx]), 1)
                logp = logp_all.gather(1, A[idx].reshape(-1, 1)).reshape(-1)
                a = ADV[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                ratio = torch.exp(logp - LP[idx])
                pg = -torch.min(ratio * a, ratio.clamp(0.8, 1.2) * a).mean()
                vl = ((value(O[idx]).reshape(-1) - RET[idx]) ** 2).mean()
                ent = -(logp_all.exp() * logp_all).sum(1).mean()
                loss = pg + 0.5 * vl - 0.01 * ent
                opt.zero_grad()
                loss.backward()
                opt.step()

    for _ in range(max(1, iters // 10)):
        iteration()
    t = time.perf_counter()
    for _ in range(iters):
        iteration()
    return iters / (time.perf_counter() - t)


def dqn_steps_per_second(steps, batch=128, tau=0.01):
    """dqn_cartpole's step past the warm-up: one ε-greedy move, one double-DQN update of a batch
    of 128 from the buffer (Huber loss, Adam), the target network following by τ."""
    rng = random.Random(1)
    q, target = mlp64(2), mlp64(2)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=1e-3)
    env = CartPole(rng)
    obs = env.reset()
    buf = []

    def move(eps):
        nonlocal obs
        if rng.random() < eps:
            a = rng.randrange(2)
        else:
            with torch.no_grad():
                a = int(q(torch.tensor([obs], dtype=torch.float32)).argmax(1))
        o, r, d, t = env.step(a)
        buf.append((obs, a, r, o, d))
        obs = env.reset() if d or t else o

    def update():
        idx = [rng.randrange(len(buf)) for _ in range(batch)]
        s = torch.tensor([buf[i][0] for i in idx], dtype=torch.float32)
        a = torch.tensor([buf[i][1] for i in idx])
        r = torch.tensor([buf[i][2] for i in idx], dtype=torch.float32)
        s2 = torch.tensor([buf[i][3] for i in idx], dtype=torch.float32)
        d = torch.tensor([float(buf[i][4]) for i in idx])
        with torch.no_grad():
            best = q(s2).argmax(1, keepdim=True)
            y = r + 0.99 * (1 - d) * target(s2).gather(1, best).reshape(-1)
        qa = q(s).gather(1, a.reshape(-1, 1)).reshape(-1)
        loss = nn.functional.smooth_l1_loss(qa, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p, tp in zip(q.parameters(), target.parameters()):
                tp.mul_(1 - tau).add_(tau * p)

    for _ in range(1000):
        move(1.0)
    for _ in range(max(1, steps // 10)):
        move(0.1)
        update()
    t = time.perf_counter()
    for _ in range(steps):
        move(0.1)
        update()
    return steps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--diffusion-steps", type=int, default=60)
    ap.add_argument("--lm-steps", type=int, default=60)
    ap.add_argument("--only-lm", action="store_true", help="only the gpt_char step")
    ap.add_argument("--rl-steps", type=int, default=0, help="DQN steps (PPO: a twentieth) to time")
    ap.add_argument("--only-rl", action="store_true", help="only the PPO and DQN steps")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {a.steps} steps per measurement")
    if a.rl_steps or a.only_rl:
        n = a.rl_steps or 2000
        best = max(ppo_iterations_per_second(max(5, n // 20)) for _ in range(3))
        print(f"ppo_cartpole {best:>10.2f} steps/s  (PPO iteration: 8 × 128 moves, 4 epochs × 4 minibatches)")
        best = max(dqn_steps_per_second(n) for _ in range(3))
        print(f"dqn_cartpole {best:>10.1f} steps/s  (DQN step: 1 move + 1 update of 128)")
        if a.only_rl:
            return
    if a.lm_steps:
        params = sum(p.numel() for p in CharGpt().parameters())
        best = max(lm_steps_per_second(a.lm_steps) for _ in range(3))
        print(f"gpt_char   {best:>10.2f} steps/s  (language-model training step, batch 16 × 64, {params:,} parameters)")
    if a.only_lm:
        return
    for name, model, side in [("mlp", Mlp(), 28), ("lenet5", LeNet(), 32), ("resnet_mini", ResnetMini(), 28)]:
        best = max(steps_per_second(model, side, a.steps) for _ in range(3))
        print(f"{name:<10} {best:>10.1f} steps/s")
    params = sum(p.numel() for p in DdpmUnet().parameters())
    best = max(diffusion_steps_per_second(a.diffusion_steps) for _ in range(3))
    print(f"ddpm_unet  {best:>10.2f} steps/s  (diffusion training step, batch 32, {params:,} parameters)")


if __name__ == "__main__":
    main()
