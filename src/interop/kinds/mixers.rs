//! Mamba, RWKV and Hyena in plain PyTorch, computing what Strata computes (Mamba's scan runs step
//! by step here; Strata's chunked scan is the same recurrence).

use crate::interop::ExportSpec;
use crate::interop::torch::{Helper, TorchCtx, TorchNode};

/// The mixers' PyTorch classes.
pub static MIXERS: Helper = Helper {
    name: "Mamba",
    code: r#"
def token_shift(x):
    """Each position sees the previous one (zeros first): x [B, T, D]."""
    return F.pad(x, (0, 0, 1, 0))[:, :-1]


def causal_depthwise(x, w, b):
    """A causal depthwise convolution over time: x [B, T, C], w [C, k], b [C]."""
    k, t = w.shape[1], x.shape[1]
    xp = F.pad(x, (0, 0, k - 1, 0))
    y = b.reshape(1, 1, -1).expand_as(x)
    for j in range(k):
        y = y + xp[:, j:j + t] * w[:, j].reshape(1, 1, -1)
    return y


def selective_scan(u, delta, a, b, c, min_log_decay=-10.0):
    """Mamba's selective scan, step by step: h = exp(Δ·A)·h + Δ·u·B, y = h·C."""
    bs, t, e = u.shape
    h = torch.zeros(bs, e, a.shape[1], dtype=u.dtype, device=u.device)
    ys = []
    for i in range(t):
        d = delta[:, i, :, None]
        h = torch.exp((d * a[None]).clamp_min(min_log_decay)) * h + d * u[:, i, :, None] * b[:, i, None, :]
        ys.append((h * c[:, i, None, :]).sum(2))
    return torch.stack(ys, 1)


class Mamba(nn.Module):
    """Mamba's selective state-space block (Gu & Dao)."""

    def __init__(self, d, e, n, k, r):
        super().__init__()
        self.in_proj = nn.Linear(d, 2 * e, bias=False)
        self.conv_w = nn.Parameter(torch.zeros(e, k))
        self.conv_b = nn.Parameter(torch.zeros(e))
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, e)
        self.a_log = nn.Parameter(torch.zeros(e, n))
        self.d_skip = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d, bias=False)
        self.e, self.n, self.r = e, n, r

    def forward(self, x):
        e, n, r = self.e, self.n, self.r
        xz = self.in_proj(x)
        u = F.silu(causal_depthwise(xz[..., :e], self.conv_w, self.conv_b))
        dbc = self.x_proj(u)
        delta = F.softplus(self.dt_proj(dbc[..., :r]))
        y = selective_scan(u, delta, -torch.exp(self.a_log), dbc[..., r:r + n], dbc[..., r + n:])
        return self.out_proj((y + u * self.d_skip) * F.silu(xz[..., e:]))


def wkv(k, v, w, u):
    """RWKV-4's weighted key-value average over the past (decay w per channel, bonus u now)."""
    b, t, d = k.shape
    q = torch.arange(t, device=k.device)
    strict = (q[None, :] < q[:, None]).float()
    dist = (q[:, None] - 1 - q[None, :]).clamp_min(0).float() * strict
    decay = torch.exp(-(dist[None] * w[:, None, None])) * strict[None]
    kd, vd = k.transpose(1, 2), v.transpose(1, 2)
    top = kd.detach().amax(2, keepdim=True)
    ek = torch.exp((kd - top).clamp_min(-60.0))
    now = torch.exp((kd - top + u[None, :, None]).clamp(-60.0, 60.0))

    def past(x):
        return (decay[None] @ x[..., None])[..., 0]

    return ((past(ek * vd) + now * vd) / (past(ek) + now).clamp_min(1e-30)).transpose(1, 2)


def mixed(x, xx, mu):
    return x * mu + xx * (1 - mu)


class TimeMix(nn.Module):
    """RWKV time-mix (Peng et al.)."""

    def __init__(self, d):
        super().__init__()
        self.mix_k, self.mix_v, self.mix_r = (nn.Parameter(torch.zeros(d)) for _ in range(3))
        self.decay, self.first = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
        self.key, self.value, self.receptance, self.output = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x):
        xx = token_shift(x)
        k = self.key(mixed(x, xx, self.mix_k))
        v = self.value(mixed(x, xx, self.mix_v))
        r = torch.sigmoid(self.receptance(mixed(x, xx, self.mix_r)))
        return self.output(r * wkv(k, v, torch.exp(self.decay), self.first))


class ChannelMix(nn.Module):
    """RWKV channel-mix: a squared-ReLU MLP gated by a receptance."""

    def __init__(self, d, hidden):
        super().__init__()
        self.mix_k, self.mix_r = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))
        self.key = nn.Linear(d, hidden, bias=False)
        self.value = nn.Linear(hidden, d, bias=False)
        self.receptance = nn.Linear(d, d, bias=False)

    def forward(self, x):
        xx = token_shift(x)
        k = torch.relu(self.key(mixed(x, xx, self.mix_k))) ** 2
        return torch.sigmoid(self.receptance(mixed(x, xx, self.mix_r))) * self.value(k)


def hyena_positions(t, channels, bands, device):
    x = torch.arange(t, dtype=torch.float64, device=device) / max(t, 1)
    k = torch.arange(1, bands + 1, dtype=torch.float64, device=device)
    a = 2 * math.pi * k[None] * x[:, None]
    feats = torch.stack([torch.sin(a), torch.cos(a)], 2).reshape(t, 2 * bands)
    feats = torch.cat([x[:, None], feats], 1)
    f = torch.arange(channels, dtype=torch.float64, device=device) / max(channels - 1, 1) if channels > 1 else torch.full((1,), 0.5, dtype=torch.float64, device=device)
    rate = torch.exp(math.log(0.3) + f * (math.log(0.003) - math.log(0.3)))
    window = torch.exp(-rate[None] * torch.arange(t, dtype=torch.float64, device=device)[:, None])
    return feats.float(), window.float()


def long_conv(y, h):
    """A causal convolution as long as the sequence: y [B, T, D], h [D, T]."""
    t = y.shape[1]
    q = torch.arange(t, device=y.device)
    idx = (q[:, None] - q[None, :]).clamp_min(0)
    toeplitz = h[:, idx] * (q[None, :] <= q[:, None]).float()[None]
    return (toeplitz[None] @ y.transpose(1, 2)[..., None])[..., 0].transpose(1, 2)


class Hyena(nn.Module):
    """The Hyena operator (Poli et al.): gates and long implicit convolutions."""

    def __init__(self, d, order, filter_hidden, bands):
        super().__init__()
        self.in_proj = nn.Linear(d, (order + 1) * d)
        self.conv_w = nn.Parameter(torch.zeros((order + 1) * d, 3))
        self.conv_b = nn.Parameter(torch.zeros((order + 1) * d))
        self.filter1 = nn.Linear(1 + 2 * bands, filter_hidden)
        self.filter2 = nn.Linear(filter_hidden, filter_hidden)
        self.filter3 = nn.Linear(filter_hidden, order * d)
        self.skip = nn.Parameter(torch.ones(order, d))
        self.out_proj = nn.Linear(d, d)
        self.d, self.order, self.bands = d, order, bands

    def forward(self, x):
        t, d = x.shape[1], self.d
        z = causal_depthwise(self.in_proj(x), self.conv_w, self.conv_b)
        feats, window = hyena_positions(t, self.order * d, self.bands, x.device)
        filters = self.filter3(torch.sin(self.filter2(torch.sin(self.filter1(feats))))) * window
        y = z[..., :d]
        for i in range(self.order):
            h = filters[:, i * d:(i + 1) * d].transpose(0, 1)
            y = z[..., (i + 1) * d:(i + 2) * d] * (long_conv(y, h) + y * self.skip[i])
        return self.out_proj(y)"#,
};

fn linear(ctx: &TorchCtx, name: &str, bias: bool) -> Result<Vec<crate::interop::weights::NamedTensor>, String> {
    let mut w = vec![ctx.tensor(&format!("{name}.weight"))?.transposed()];
    if bias {
        w.push(ctx.tensor(&format!("{name}.bias"))?);
    }
    Ok(w)
}

fn mamba(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, 2)?;
    let a_log = ctx.tensor("a_log")?;
    let (e, n) = (a_log.dims[0], a_log.dims[1]);
    let conv_w = ctx.tensor("conv_w")?;
    let k = conv_w.dims[1];
    let r = ctx.tensor("dt_proj.weight")?.dims[0];
    let mut w = linear(ctx, "in_proj", false)?;
    w.push(conv_w);
    w.push(ctx.tensor("conv_b")?);
    w.extend(linear(ctx, "x_proj", false)?);
    w.extend(linear(ctx, "dt_proj", true)?);
    w.push(a_log);
    w.push(ctx.tensor("d_skip")?);
    w.extend(linear(ctx, "out_proj", false)?);
    Ok(TorchNode::module(
        format!("Mamba({d}, {e}, {n}, {k}, {r})"),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    )
    .with(&MIXERS))
}

fn time_mix(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, 2)?;
    let mut w = Vec::new();
    for p in ["mix_k", "mix_v", "mix_r", "decay", "first"] {
        w.push(ctx.tensor(p)?);
    }
    for l in ["key", "value", "receptance", "output"] {
        w.extend(linear(ctx, l, false)?);
    }
    Ok(TorchNode::module(format!("TimeMix({d})"), format!("{}({})", ctx.module, ctx.x(0)?), w).with(&MIXERS))
}

fn channel_mix(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, 2)?;
    let mut w = vec![ctx.tensor("mix_k")?, ctx.tensor("mix_r")?];
    for l in ["key", "value", "receptance"] {
        w.extend(linear(ctx, l, false)?);
    }
    Ok(TorchNode::module(
        format!("ChannelMix({d}, {})", ctx.p().int("hidden").max(1)),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    )
    .with(&MIXERS))
}

fn hyena(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, 2)?;
    let p = ctx.p();
    let mut w = linear(ctx, "in_proj", true)?;
    w.push(ctx.tensor("conv_w")?);
    w.push(ctx.tensor("conv_b")?);
    for l in ["filter1", "filter2", "filter3"] {
        w.extend(linear(ctx, l, true)?);
    }
    w.push(ctx.tensor("skip")?);
    w.extend(linear(ctx, "out_proj", true)?);
    Ok(TorchNode::module(
        format!(
            "Hyena({d}, {}, {}, {})",
            p.int("order").max(1),
            p.int("filter_hidden").max(1),
            crate::catalog::mixers::HYENA_BANDS
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    )
    .with(&MIXERS))
}

/// Why ONNX export leaves these out for now.
const NO_ONNX: &str =
    "the scans and long convolutions of state-space and RWKV mixers are not written as ONNX operators yet";

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "mamba",
        torch: Some(mamba),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "rwkv_time_mix",
        torch: Some(time_mix),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "rwkv_channel_mix",
        torch: Some(channel_mix),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "hyena",
        torch: Some(hyena),
        onnx: None,
        no_onnx: NO_ONNX,
    },
];
