//! Mamba, RWKV and Hyena in plain PyTorch, computing what Strata computes (Mamba's scan runs step
//! by step here; Strata's chunked scan is the same recurrence).

use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
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

/// `x` `[B, T, D]` shifted one step later in time (zeros first).
fn shift_onnx(g: &mut OnnxGraph, x: &str) -> String {
    let (s0, s1, e1, axis) = (
        g.const_i64(&[0]),
        g.const_i64(&[1]),
        g.const_i64(&[-1]),
        g.const_i64(&[1]),
    );
    let first = g.op1("Slice", &[x, &s0, &s1, &axis], vec![]);
    let zero = g.scalar(0.0);
    let zeros = g.op1("Mul", &[&first, &zero], vec![]);
    let rest = g.op1("Slice", &[x, &s0, &e1, &axis], vec![]);
    g.op1("Concat", &[&zeros, &rest], vec![("axis", Attr::Int(1))])
}

/// `x·μ + xx·(1 − μ)` with the learned μ.
fn mixed_onnx(g: &mut OnnxGraph, x: &str, xx: &str, mu: &str) -> String {
    let one = g.scalar(1.0);
    let inv = g.op1("Sub", &[&one, mu], vec![]);
    let a = g.op1("Mul", &[x, mu], vec![]);
    let b = g.op1("Mul", &[xx, &inv], vec![]);
    g.op1("Add", &[&a, &b], vec![])
}

fn plain(g: &mut OnnxGraph, ctx: &OnnxCtx, x: &str, name: &str) -> Result<String, String> {
    let w = g.param(
        &format!("{}.{name}.weight", ctx.name),
        &ctx.tensor(&format!("{name}.weight"))?,
    );
    Ok(g.op1("MatMul", &[x, &w], vec![]))
}

fn with_bias(g: &mut OnnxGraph, ctx: &OnnxCtx, x: &str, name: &str) -> Result<String, String> {
    let y = plain(g, ctx, x, name)?;
    let b = g.param(
        &format!("{}.{name}.bias", ctx.name),
        &ctx.tensor(&format!("{name}.bias"))?,
    );
    Ok(g.op1("Add", &[&y, &b], vec![]))
}

fn channel_mix_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let xx = shift_onnx(g, &x);
    let mk = g.param(&format!("{}.mix_k", ctx.name), &ctx.tensor("mix_k")?);
    let mr = g.param(&format!("{}.mix_r", ctx.name), &ctx.tensor("mix_r")?);
    let xk = mixed_onnx(g, &x, &xx, &mk);
    let xr = mixed_onnx(g, &x, &xx, &mr);
    let k = plain(g, ctx, &xk, "key")?;
    let k = g.op1("Relu", &[&k], vec![]);
    let k2 = g.op1("Mul", &[&k, &k], vec![]);
    let v = plain(g, ctx, &k2, "value")?;
    let r = plain(g, ctx, &xr, "receptance")?;
    let r = g.op1("Sigmoid", &[&r], vec![]);
    Ok(vec![g.op1("Mul", &[&r, &v], vec![])])
}

/// Positions 0..T of `x`'s axis 1: (int64 `[T]`, float `[T]`).
fn positions(g: &mut OnnxGraph, x: &str) -> (String, String, String) {
    let t = g.shape_slice(x, 1, 2);
    let t = g.op1("Squeeze", &[&t], vec![]);
    let (zero, one) = (g.scalar_i64(0), g.scalar_i64(1));
    let q = g.op1("Range", &[&zero, &t, &one], vec![]);
    let qf = g.op1("Cast", &[&q], vec![("to", Attr::Int(1))]);
    (q, qf, t)
}

fn time_mix_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let xx = shift_onnx(g, &x);
    let mix = |g: &mut OnnxGraph, name: &str| -> Result<String, String> {
        let mu = g.param(&format!("{}.{name}", ctx.name), &ctx.tensor(name)?);
        Ok(mixed_onnx(g, &x, &xx, &mu))
    };
    let (xk, xv, xr) = (mix(g, "mix_k")?, mix(g, "mix_v")?, mix(g, "mix_r")?);
    let k = plain(g, ctx, &xk, "key")?;
    let v = plain(g, ctx, &xv, "value")?;
    let r = plain(g, ctx, &xr, "receptance")?;
    let r = g.op1("Sigmoid", &[&r], vec![]);
    let decay = g.param(&format!("{}.decay", ctx.name), &ctx.tensor("decay")?);
    let u = g.param(&format!("{}.first", ctx.name), &ctx.tensor("first")?);
    let w = g.op1("Exp", &[&decay], vec![]);
    // decay[d, q, i] = exp(−(q − 1 − i)·w_d) for i < q, else 0.
    let (q, qf, _) = positions(g, &x);
    let row = g.unsqueeze(&q, &[1]);
    let col = g.unsqueeze(&q, &[0]);
    let earlier = g.op1("Less", &[&col, &row], vec![]);
    let strict = g.op1("Cast", &[&earlier], vec![("to", Attr::Int(1))]);
    let rowf = g.unsqueeze(&qf, &[1]);
    let colf = g.unsqueeze(&qf, &[0]);
    let diff = g.op1("Sub", &[&rowf, &colf], vec![]);
    let one = g.scalar(1.0);
    let dist = g.op1("Sub", &[&diff, &one], vec![]);
    let dist = g.op1("Mul", &[&dist, &strict], vec![]);
    let dist = g.unsqueeze(&dist, &[0]);
    let wd = g.unsqueeze(&w, &[1, 2]);
    let a = g.op1("Mul", &[&dist, &wd], vec![]);
    let na = g.op1("Neg", &[&a], vec![]);
    let ea = g.op1("Exp", &[&na], vec![]);
    let strict3 = g.unsqueeze(&strict, &[0]);
    let decay = g.op1("Mul", &[&ea, &strict3], vec![]);
    let decay4 = g.unsqueeze(&decay, &[0]); // [1, D, T, T]
    let kd = g.op1("Transpose", &[&k], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
    let vd = g.op1("Transpose", &[&v], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
    let top = g.op1(
        "ReduceMax",
        &[&kd],
        vec![("axes", Attr::Ints(vec![2])), ("keepdims", Attr::Int(1))],
    );
    let centred = g.op1("Sub", &[&kd, &top], vec![]);
    let lo = g.scalar(-60.0);
    let hi = g.scalar(60.0);
    let c1 = g.op1("Max", &[&centred, &lo], vec![]);
    let ek = g.op1("Exp", &[&c1], vec![]);
    let ub = g.unsqueeze(&u, &[0, 2]);
    let bonus = g.op1("Add", &[&centred, &ub], vec![]);
    let bonus = g.op1("Clip", &[&bonus, &lo, &hi], vec![]);
    let now = g.op1("Exp", &[&bonus], vec![]);
    let past = |g: &mut OnnxGraph, t: &str| {
        let col = g.unsqueeze(t, &[3]);
        let m = g.op1("MatMul", &[&decay4, &col], vec![]);
        let three = g.const_i64(&[3]);
        g.op1("Squeeze", &[&m, &three], vec![])
    };
    let ekv = g.op1("Mul", &[&ek, &vd], vec![]);
    let nv = g.op1("Mul", &[&now, &vd], vec![]);
    let p1 = past(g, &ekv);
    let num = g.op1("Add", &[&p1, &nv], vec![]);
    let p2 = past(g, &ek);
    let den = g.op1("Add", &[&p2, &now], vec![]);
    let tiny = g.scalar(1e-30);
    let den = g.op1("Max", &[&den, &tiny], vec![]);
    let y = g.op1("Div", &[&num, &den], vec![]);
    let y = g.op1("Transpose", &[&y], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
    let ry = g.op1("Mul", &[&r, &y], vec![]);
    Ok(vec![plain(g, ctx, &ry, "output")?])
}

/// The causal depthwise convolution over time of `z` `[B, T, lanes]` with the node's `conv_w`
/// `[lanes, k]` and `conv_b`.
fn causal_conv_onnx(g: &mut OnnxGraph, ctx: &OnnxCtx, z: &str, lanes: i64) -> Result<String, String> {
    let cw = g.param(&format!("{}.conv_w", ctx.name), &ctx.tensor("conv_w")?);
    let k = ctx.tensor("conv_w")?.dims[1] as i64;
    let cw = g.reshape(&cw, &[lanes, 1, k]);
    let cb = g.param(&format!("{}.conv_b", ctx.name), &ctx.tensor("conv_b")?);
    let zt = g.op1("Transpose", &[z], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
    let conv = g.op1(
        "Conv",
        &[&zt, &cw, &cb],
        vec![
            ("group", Attr::Int(lanes)),
            ("kernel_shape", Attr::Ints(vec![k])),
            ("pads", Attr::Ints(vec![k - 1, 0])),
        ],
    );
    Ok(g.op1("Transpose", &[&conv], vec![("perm", Attr::Ints(vec![0, 2, 1]))]))
}

/// `x·sigmoid(x)`.
fn silu_onnx(g: &mut OnnxGraph, x: &str) -> String {
    let s = g.op1("Sigmoid", &[x], vec![]);
    g.op1("Mul", &[x, &s], vec![])
}

/// `x[..., from..to]` on the last axis.
fn lanes_onnx(g: &mut OnnxGraph, x: &str, from: i64, to: i64) -> String {
    let (a, b, axis) = (g.const_i64(&[from]), g.const_i64(&[to]), g.const_i64(&[-1]));
    g.op1("Slice", &[x, &a, &b, &axis], vec![])
}

/// Mamba's block with its selective scan as an ONNX `Scan` over time: the state
/// `h = exp(max(Δ·A, −10))·h + Δ·u·B` is carried step by step and `y = h·C` stacked — the
/// recurrence Strata's chunked scan computes in closed form.
fn mamba_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let a_log = ctx.tensor("a_log")?;
    let (e, n) = (a_log.dims[0] as i64, a_log.dims[1] as i64);
    let r = ctx.tensor("dt_proj.weight")?.dims[0] as i64;
    let x = ctx.x(0)?;
    let xz = plain(g, ctx, &x, "in_proj")?; // [B, T, 2E]
    let (xin, z) = (lanes_onnx(g, &xz, 0, e), lanes_onnx(g, &xz, e, 2 * e));
    let conv = causal_conv_onnx(g, ctx, &xin, e)?;
    let u = silu_onnx(g, &conv);
    let dbc = plain(g, ctx, &u, "x_proj")?; // [B, T, R + 2N]
    let dt = lanes_onnx(g, &dbc, 0, r);
    let bm = lanes_onnx(g, &dbc, r, r + n);
    let cm = lanes_onnx(g, &dbc, r + n, r + 2 * n);
    let dt = with_bias(g, ctx, &dt, "dt_proj")?;
    let delta = g.op1("Softplus", &[&dt], vec![]); // [B, T, E]
    let a_log = g.param(&format!("{}.a_log", ctx.name), &a_log);
    let a = g.op1("Exp", &[&a_log], vec![]);
    let a = g.op1("Neg", &[&a], vec![]); // [E, N]
    let d4 = g.unsqueeze(&delta, &[3]);
    let da = g.op1("Mul", &[&d4, &a], vec![]);
    let floor = g.scalar(-10.0);
    let da = g.op1("Max", &[&da, &floor], vec![]);
    let decay = g.op1("Exp", &[&da], vec![]); // [B, T, E, N]
    let du = g.op1("Mul", &[&delta, &u], vec![]);
    let du = g.unsqueeze(&du, &[3]);
    let b4 = g.unsqueeze(&bm, &[2]);
    let v = g.op1("Mul", &[&du, &b4], vec![]); // [B, T, E, N]
    // h₀ = 0, [B, E, N].
    let batch = g.shape_slice(&x, 0, 1);
    let en = g.const_i64(&[e, n]);
    let h_shape = g.op1("Concat", &[&batch, &en], vec![("axis", Attr::Int(0))]);
    let h0 = g.op1("ConstantOfShape", &[&h_shape], vec![]);
    let body = g.body("selective_scan", 4, |g, ins| {
        let (h, dec, inc, c) = (&ins[0], &ins[1], &ins[2], &ins[3]);
        let kept = g.op1("Mul", &[dec, h], vec![]);
        let h = g.op1("Add", &[&kept, inc], vec![]);
        let c = g.unsqueeze(c, &[1]);
        let hc = g.op1("Mul", &[&h, &c], vec![]);
        let axis = g.const_i64(&[2]);
        let y = g.op1("ReduceSum", &[&hc, &axis], vec![("keepdims", Attr::Int(0))]);
        Ok(vec![h, y])
    })?;
    let scanned = g.op(
        "Scan",
        &[&h0, &decay, &v, &cm],
        2,
        vec![
            ("body", Attr::Graph(Box::new(body))),
            ("num_scan_inputs", Attr::Int(3)),
            ("scan_input_axes", Attr::Ints(vec![1, 1, 1])),
            ("scan_output_axes", Attr::Ints(vec![1])),
        ],
    );
    let y = &scanned[1]; // [B, T, E]
    let skip = g.param(&format!("{}.d_skip", ctx.name), &ctx.tensor("d_skip")?);
    let us = g.op1("Mul", &[&u, &skip], vec![]);
    let y = g.op1("Add", &[y, &us], vec![]);
    let gate = silu_onnx(g, &z);
    let y = g.op1("Mul", &[&y, &gate], vec![]);
    Ok(vec![plain(g, ctx, &y, "out_proj")?])
}

fn hyena_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let p = ctx.p();
    let d = ctx.in_dim(0, 2)? as i64;
    let order = p.int("order").max(1);
    let x = ctx.x(0)?;
    let z = with_bias(g, ctx, &x, "in_proj")?; // [B, T, (order+1)·D]
    let z = causal_conv_onnx(g, ctx, &z, (order + 1) * d)?;
    // The implicit filters from position features, with decaying windows.
    let (q, qf, t) = positions(g, &x);
    let tf = g.op1("Cast", &[&t], vec![("to", Attr::Int(1))]);
    let one = g.scalar(1.0);
    let tf = g.op1("Max", &[&tf, &one], vec![]);
    let pos = g.op1("Div", &[&qf, &tf], vec![]);
    let pos = g.unsqueeze(&pos, &[1]); // [T, 1]
    let bands = crate::catalog::mixers::HYENA_BANDS as usize;
    let freqs: Vec<f32> = (1..=bands)
        .map(|k| (2.0 * std::f64::consts::PI * k as f64) as f32)
        .collect();
    let fr = g.const_f32(&[1, bands], freqs);
    let ang = g.op1("Mul", &[&pos, &fr], vec![]);
    let sn = g.op1("Sin", &[&ang], vec![]);
    let cs = g.op1("Cos", &[&ang], vec![]);
    let sn = g.unsqueeze(&sn, &[2]);
    let cs = g.unsqueeze(&cs, &[2]);
    let sc = g.op1("Concat", &[&sn, &cs], vec![("axis", Attr::Int(2))]);
    let sc = g.reshape(&sc, &[-1, 2 * bands as i64]);
    let feats = g.op1("Concat", &[&pos, &sc], vec![("axis", Attr::Int(1))]);
    let channels = (order * d) as usize;
    let rates: Vec<f32> = (0..channels)
        .map(|c| {
            let f = if channels > 1 {
                c as f64 / (channels - 1) as f64
            } else {
                0.5
            };
            (0.3f64.ln() + f * (0.003f64.ln() - 0.3f64.ln())).exp() as f32
        })
        .collect();
    let rate = g.const_f32(&[1, channels], rates);
    let qcol = g.unsqueeze(&qf, &[1]);
    let decay = g.op1("Mul", &[&qcol, &rate], vec![]);
    let decay = g.op1("Neg", &[&decay], vec![]);
    let window = g.op1("Exp", &[&decay], vec![]);
    let h1 = with_bias(g, ctx, &feats, "filter1")?;
    let h1 = g.op1("Sin", &[&h1], vec![]);
    let h2 = with_bias(g, ctx, &h1, "filter2")?;
    let h2 = g.op1("Sin", &[&h2], vec![]);
    let h3 = with_bias(g, ctx, &h2, "filter3")?;
    let filters = g.op1("Mul", &[&h3, &window], vec![]); // [T, order·D]
    // Toeplitz indices (q − i, clamped) and the causal mask.
    let row = g.unsqueeze(&q, &[1]);
    let col = g.unsqueeze(&q, &[0]);
    let lag = g.op1("Sub", &[&row, &col], vec![]);
    let zero = g.scalar_i64(0);
    let lag = g.op1("Max", &[&lag, &zero], vec![]);
    let later = g.op1("Greater", &[&col, &row], vec![]);
    let keep = g.op1("Not", &[&later], vec![]);
    let lower = g.op1("Cast", &[&keep], vec![("to", Attr::Int(1))]);
    let lower = g.unsqueeze(&lower, &[0]);
    let skip = g.param(&format!("{}.skip", ctx.name), &ctx.tensor("skip")?);
    let axis2 = g.const_i64(&[2]);
    let axis1 = g.const_i64(&[1]);
    let axis0 = g.const_i64(&[0]);
    let slice = |g: &mut OnnxGraph, t: &str, a: i64, b: i64, axis: &str| {
        let (s, e) = (g.const_i64(&[a]), g.const_i64(&[b]));
        g.op1("Slice", &[t, &s, &e, axis], vec![])
    };
    let mut y = slice(g, &z, 0, d, &axis2);
    for i in 0..order {
        let f = slice(g, &filters, i * d, (i + 1) * d, &axis1);
        let h = g.op1("Transpose", &[&f], vec![("perm", Attr::Ints(vec![1, 0]))]); // [D, T]
        let toe = g.op1("Gather", &[&h, &lag], vec![("axis", Attr::Int(1))]); // [D, T, T]
        let toe = g.op1("Mul", &[&toe, &lower], vec![]);
        let toe = g.unsqueeze(&toe, &[0]);
        let yt = g.op1("Transpose", &[&y], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
        let ycol = g.unsqueeze(&yt, &[3]);
        let lc = g.op1("MatMul", &[&toe, &ycol], vec![]);
        let three = g.const_i64(&[3]);
        let lc = g.op1("Squeeze", &[&lc, &three], vec![]);
        let lc = g.op1("Transpose", &[&lc], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
        let sk = slice(g, &skip, i, i + 1, &axis0);
        let ys = g.op1("Mul", &[&y, &sk], vec![]);
        let conv = g.op1("Add", &[&lc, &ys], vec![]);
        let zi = slice(g, &z, (i + 1) * d, (i + 2) * d, &axis2);
        y = g.op1("Mul", &[&zi, &conv], vec![]);
    }
    Ok(vec![with_bias(g, ctx, &y, "out_proj")?])
}

/// Why ONNX export leaves Mamba out for now.
/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "mamba",
        torch: Some(mamba),
        onnx: Some(mamba_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "rwkv_time_mix",
        torch: Some(time_mix),
        onnx: Some(time_mix_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "rwkv_channel_mix",
        torch: Some(channel_mix),
        onnx: Some(channel_mix_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "hyena",
        torch: Some(hyena),
        onnx: Some(hyena_onnx),
        no_onnx: "",
    },
];
