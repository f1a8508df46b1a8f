//! Mamba, RWKV and Hyena: sequence mixers `[B, T, D]` → `[B, T, D]`, causal.

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one};
use crate::catalog::mixers::{HYENA_BANDS, mamba_dt_rank};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};

/// The previous token's vector at every position (zeros at the first).
fn shift(x: Tensor<3>) -> Tensor<3> {
    let [b, t, d] = x.dims();
    let zero = Tensor::<3>::zeros([b, 1, d], &x.device());
    if t == 1 {
        return zero;
    }
    Tensor::cat(vec![zero, x.narrow(1, 0, t - 1)], 1)
}

/// A depthwise causal convolution over time: `w` `[C, K]`, `bias` `[C]`, `x` `[B, T, C]`.
fn causal_depthwise(x: Tensor<3>, w: Tensor<2>, bias: Tensor<1>) -> Tensor<3> {
    let [b, t, c] = x.dims();
    let k = w.dims()[1];
    let xp = if k > 1 {
        Tensor::cat(vec![Tensor::<3>::zeros([b, k - 1, c], &x.device()), x], 1)
    } else {
        x
    };
    let mut y = bias.reshape([1, 1, c]).expand([b, t, c]);
    for j in 0..k {
        y = y + xp.clone().narrow(1, j, t) * w.clone().narrow(1, j, 1).reshape([1, 1, c]);
    }
    y
}

fn param1(v: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = v.len();
    Param::from_tensor(Tensor::<1>::from_data(TensorData::new(v, [n]), device))
}

fn param2(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, [rows, cols]), device))
}

/// A short convolution's weights, uniform in ±1/√k (PyTorch's Conv1d default).
fn conv_init(c: usize, k: usize, device: &Device) -> (Param<Tensor<2>>, Param<Tensor<1>>) {
    let bound = 1.0 / (k as f64).sqrt();
    let w = Tensor::<2>::random([c, k], burn::tensor::Distribution::Uniform(-bound, bound), device);
    let b = Tensor::<1>::random([c], burn::tensor::Distribution::Uniform(-bound, bound), device);
    (Param::from_tensor(w), Param::from_tensor(b))
}

// ---------------------------------------------------------------- Mamba

/// Mamba's weights.
#[derive(Module, Debug)]
pub struct Mamba {
    in_proj: Linear,
    conv_w: Param<Tensor<2>>,
    conv_b: Param<Tensor<1>>,
    x_proj: Linear,
    dt_proj: Linear,
    a_log: Param<Tensor<2>>,
    d_skip: Param<Tensor<1>>,
    out_proj: Linear,
}

fn mamba_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, 2)?;
    let e = ctx.usize("expand").max(1) * d;
    let n = ctx.usize("d_state").max(1);
    let k = ctx.usize("d_conv").max(1);
    let r = mamba_dt_rank(d as u64, ctx.usize("dt_rank") as u64) as usize;
    let dev = ctx.device;
    let (conv_w, conv_b) = conv_init(e, k, dev);
    // Δ starts log-uniform in [0.001, 0.1]: the bias is softplus⁻¹ of it (Gu & Dao's init).
    let dt_bias: Vec<f32> = (0..e)
        .map(|i| {
            let f = if e > 1 { i as f64 / (e - 1) as f64 } else { 0.5 };
            let dt = (0.001f64.ln() + f * (0.1f64.ln() - 0.001f64.ln())).exp();
            (dt + (-(-dt).exp_m1()).ln()) as f32
        })
        .collect();
    let mut dt_proj = LinearConfig::new(r, e).init(dev);
    dt_proj.bias = Some(param1(dt_bias, dev));
    let a_log: Vec<f32> = (0..e).flat_map(|_| (1..=n).map(|j| (j as f32).ln())).collect();
    Ok(Some(Layer::Mamba(Mamba {
        in_proj: LinearConfig::new(d, 2 * e).with_bias(false).init(dev),
        conv_w,
        conv_b,
        x_proj: LinearConfig::new(e, r + 2 * n).with_bias(false).init(dev),
        dt_proj,
        a_log: param2(a_log, e, n, dev),
        d_skip: param1(vec![1.0; e], dev),
        out_proj: LinearConfig::new(e, d).with_bias(false).init(dev),
    })))
}

/// Steps per chunk of the selective scan.
const SCAN_CHUNK: usize = 8;
/// The most a step may shrink the state, as a log factor: exp(Δ·A) ≥ e^−10 (smaller factors
/// keep 4.5·10⁻⁵ of the state instead of less), so a chunk's factors stay within f32's range.
const MIN_LOG_DECAY: f64 = -10.0;

/// The selective scan: `h_t = exp(Δ_t·A)·h_{t-1} + Δ_t·B_t·u_t`, `y_t = C_t·h_t`, over the
/// batch, the channels and the state at once. `u`, `delta` `[B, T, E]`, `a` `[E, N]` (negative),
/// `b`, `c` `[B, T, N]`. Chunks of 8 steps are done in parallel in closed form —
/// `h_t = e^{S_t}·(h_0 + Σ_{s≤t} e^{−S_s}·Δ_s·B_s·u_s)` with `S` the running sum of `Δ·A`
/// within the chunk — and the state carried from chunk to chunk. [`selective_scan_steps`] is
/// the same recurrence one step at a time.
pub fn selective_scan(u: Tensor<3>, delta: Tensor<3>, a: Tensor<2>, b: Tensor<3>, c: Tensor<3>) -> Tensor<3> {
    let [bs, t, e] = u.dims();
    let n = a.dims()[1];
    let a4 = a.reshape([1, 1, e, n]);
    let du = delta.clone() * u;
    let mut h = Tensor::<3>::zeros([bs, e, n], &du.device());
    let mut ys = Vec::with_capacity(t.div_ceil(SCAN_CHUNK));
    let mut start = 0;
    while start < t {
        let l = SCAN_CHUNK.min(t - start);
        let dl = delta.clone().narrow(1, start, l).unsqueeze_dim::<4>(3); // [B, L, E, 1]
        let s = (dl * a4.clone()).clamp_min(MIN_LOG_DECAY).cumsum(1); // [B, L, E, N], ≤ 0
        let v =
            du.clone().narrow(1, start, l).unsqueeze_dim::<4>(3) * b.clone().narrow(1, start, l).unsqueeze_dim::<4>(2);
        let acc = ((s.clone().neg().exp() * v).cumsum(1)) + h.unsqueeze_dim::<4>(1);
        let hs = s.exp() * acc; // [B, L, E, N]
        let cl = c.clone().narrow(1, start, l).unsqueeze_dim::<4>(2); // [B, L, 1, N]
        ys.push((hs.clone() * cl).sum_dim(3).reshape([bs, l, e]));
        h = hs.narrow(1, l - 1, 1).reshape([bs, e, n]);
        start += l;
    }
    Tensor::cat(ys, 1)
}

/// The selective scan one step at a time (the definition; tests compare the two).
pub fn selective_scan_steps(u: Tensor<3>, delta: Tensor<3>, a: Tensor<2>, b: Tensor<3>, c: Tensor<3>) -> Tensor<3> {
    let [bs, t, e] = u.dims();
    let n = a.dims()[1];
    let mut h = Tensor::<3>::zeros([bs, e, n], &u.device());
    let mut ys = Vec::with_capacity(t);
    for i in 0..t {
        let di = delta.clone().narrow(1, i, 1).reshape([bs, e, 1]);
        let da = (di.clone() * a.clone().reshape([1, e, n]))
            .clamp_min(MIN_LOG_DECAY)
            .exp();
        let ui = u.clone().narrow(1, i, 1).reshape([bs, e, 1]);
        let bi = b.clone().narrow(1, i, 1).reshape([bs, 1, n]);
        h = da * h + di * ui * bi;
        let ci = c.clone().narrow(1, i, 1).reshape([bs, 1, n]);
        ys.push((h.clone() * ci).sum_dim(2).reshape([bs, 1, e]));
    }
    Tensor::cat(ys, 1)
}

fn mamba_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Mamba(m)) = layer else {
        return Err("Mamba weights missing".into());
    };
    let x = one(inputs)?.f3()?;
    let e = m.d_skip.val().dims()[0];
    let n = m.a_log.val().dims()[1];
    let r = m.dt_proj.weight.val().dims()[0];
    let xz = super::dense::linear3(&m.in_proj, x);
    let (xs, z) = (xz.clone().narrow(2, 0, e), xz.narrow(2, e, e));
    let u = activation::silu(causal_depthwise(xs, m.conv_w.val(), m.conv_b.val()));
    let dbc = m.x_proj.forward(u.clone());
    let dt = dbc.clone().narrow(2, 0, r);
    let (bm, cm) = (dbc.clone().narrow(2, r, n), dbc.narrow(2, r + n, n));
    let delta = activation::softplus(m.dt_proj.forward(dt), 1.0);
    let a = m.a_log.val().exp().neg();
    let y = selective_scan(u.clone(), delta, a, bm, cm) + u * m.d_skip.val().reshape([1, 1, e]);
    Ok(vec![Value::F3(super::dense::linear3(
        &m.out_proj,
        y * activation::silu(z),
    ))])
}

// ---------------------------------------------------------------- RWKV

/// RWKV time-mix weights.
#[derive(Module, Debug)]
pub struct TimeMix {
    mix_k: Param<Tensor<1>>,
    mix_v: Param<Tensor<1>>,
    mix_r: Param<Tensor<1>>,
    /// Per-channel decay: w = exp(decay).
    decay: Param<Tensor<1>>,
    /// Per-channel bonus of the current token.
    first: Param<Tensor<1>>,
    key: Linear,
    value: Linear,
    receptance: Linear,
    output: Linear,
}

/// RWKV channel-mix weights.
#[derive(Module, Debug)]
pub struct ChannelMix {
    mix_k: Param<Tensor<1>>,
    mix_r: Param<Tensor<1>>,
    key: Linear,
    value: Linear,
    receptance: Linear,
}

/// Token-shift mixing ratios rising across channels (RWKV's init): `(i / D)^power`.
fn ratios(d: usize, power: f64, device: &Device) -> Param<Tensor<1>> {
    param1(
        (0..d).map(|i| (i as f64 / d as f64).powf(power) as f32).collect(),
        device,
    )
}

fn time_mix_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, 2)?;
    let dev = ctx.device;
    let lin = || LinearConfig::new(d, d).with_bias(false).init(dev);
    // Decay speeds from slow to fast across channels, a bonus of ln 0.3 with a zigzag (RWKV-4).
    let decay = (0..d)
        .map(|i| {
            let f = if d > 1 { i as f64 / (d - 1) as f64 } else { 0.5 };
            (-5.0 + 8.0 * f.powf(1.5)) as f32
        })
        .collect();
    let first = (0..d)
        .map(|i| (0.3f64.ln() + 0.5 * (((i + 1) % 3) as f64 - 1.0)) as f32)
        .collect();
    Ok(Some(Layer::TimeMix(TimeMix {
        mix_k: ratios(d, 0.5, dev),
        mix_v: ratios(d, 0.4, dev),
        mix_r: ratios(d, 0.25, dev),
        decay: param1(decay, dev),
        first: param1(first, dev),
        key: lin(),
        value: lin(),
        receptance: lin(),
        output: lin(),
    })))
}

fn mixed(x: &Tensor<3>, xx: &Tensor<3>, mu: Tensor<1>) -> Tensor<3> {
    let d = mu.dims()[0];
    let mu = mu.reshape([1, 1, d]);
    x.clone() * mu.clone() + xx.clone() * mu.neg().add_scalar(1.0)
}

/// The WKV average, exact and in parallel: for each channel, the values of positions i < t
/// weighted by `exp(−(t−1−i)·w + k_i)` and the current one by `exp(u + k_t)`, divided by the
/// sum of the weights. The decay part is a per-channel lower-triangular Toeplitz matrix (entries
/// ≤ 1, as w ≥ 0), so both sums are one batched matrix product; `exp(k)` is taken relative to
/// each channel's largest k in the window, which cancels in the ratio. `k`, `v` `[B, T, D]`.
pub fn wkv(k: Tensor<3>, v: Tensor<3>, w: Tensor<1>, u: Tensor<1>) -> Tensor<3> {
    let [b, t, d] = k.dims();
    let device = k.device();
    let mut dist = vec![0f32; t * t];
    let mut strict = vec![0f32; t * t];
    for q in 0..t {
        for i in 0..q {
            dist[q * t + i] = (q - 1 - i) as f32;
            strict[q * t + i] = 1.0;
        }
    }
    let m = |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [1, t, t]), &device);
    let decay = (m(dist) * w.reshape([d, 1, 1])).neg().exp() * m(strict); // [D, T, T]
    let kd = k.swap_dims(1, 2); // [B, D, T]
    let top = kd.clone().detach().max_dim(2); // [B, D, 1]
    let ek = (kd.clone() - top.clone()).clamp_min(-60.0).exp();
    let now = (kd - top + u.reshape([1, d, 1])).clamp(-60.0, 60.0).exp();
    let vd = v.swap_dims(1, 2);
    let past = |x: Tensor<3>| {
        decay
            .clone()
            .unsqueeze_dim::<4>(0)
            .matmul(x.reshape([b, d, t, 1]))
            .reshape([b, d, t])
    };
    let num = past(ek.clone() * vd.clone()) + now.clone() * vd;
    let den = past(ek) + now;
    (num / den.clamp_min(1e-30)).swap_dims(1, 2)
}

fn time_mix_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::TimeMix(m)) = layer else {
        return Err("RWKV time-mix weights missing".into());
    };
    let x = one(inputs)?.f3()?;
    let xx = shift(x.clone());
    let k = super::dense::linear3(&m.key, mixed(&x, &xx, m.mix_k.val()));
    let v = super::dense::linear3(&m.value, mixed(&x, &xx, m.mix_v.val()));
    let r = activation::sigmoid(super::dense::linear3(&m.receptance, mixed(&x, &xx, m.mix_r.val())));
    let y = wkv(k, v, m.decay.val().exp(), m.first.val());
    Ok(vec![Value::F3(super::dense::linear3(&m.output, r * y))])
}

fn channel_mix_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, 2)?;
    let h = ctx.usize("hidden").max(1);
    let dev = ctx.device;
    Ok(Some(Layer::ChannelMix(ChannelMix {
        mix_k: ratios(d, 0.5, dev),
        mix_r: ratios(d, 0.5, dev),
        key: LinearConfig::new(d, h).with_bias(false).init(dev),
        value: LinearConfig::new(h, d).with_bias(false).init(dev),
        receptance: LinearConfig::new(d, d).with_bias(false).init(dev),
    })))
}

fn channel_mix_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::ChannelMix(m)) = layer else {
        return Err("RWKV channel-mix weights missing".into());
    };
    let x = one(inputs)?.f3()?;
    let xx = shift(x.clone());
    let k = activation::relu(super::dense::linear3(&m.key, mixed(&x, &xx, m.mix_k.val()))).powi_scalar(2);
    let r = activation::sigmoid(super::dense::linear3(&m.receptance, mixed(&x, &xx, m.mix_r.val())));
    Ok(vec![Value::F3(r * super::dense::linear3(&m.value, k))])
}

// ---------------------------------------------------------------- Hyena

/// Hyena's weights.
#[derive(Module, Debug)]
pub struct Hyena {
    in_proj: Linear,
    conv_w: Param<Tensor<2>>,
    conv_b: Param<Tensor<1>>,
    filter1: Linear,
    filter2: Linear,
    filter3: Linear,
    skip: Param<Tensor<2>>,
    out_proj: Linear,
}

fn hyena_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, 2)?;
    let order = ctx.usize("order").max(1);
    let f = ctx.usize("filter_hidden").max(1);
    let p = crate::catalog::mixers::hyena_features() as usize;
    let dev = ctx.device;
    let (conv_w, conv_b) = conv_init((order + 1) * d, 3, dev);
    Ok(Some(Layer::Hyena(Hyena {
        in_proj: LinearConfig::new(d, (order + 1) * d).init(dev),
        conv_w,
        conv_b,
        filter1: LinearConfig::new(p, f).init(dev),
        filter2: LinearConfig::new(f, f).init(dev),
        filter3: LinearConfig::new(f, order * d).init(dev),
        skip: param2(vec![1.0; order * d], order, d, dev),
        out_proj: LinearConfig::new(d, d).init(dev),
    })))
}

/// The positional features `[T, 1 + 2·bands]` the filter network reads, and each channel's
/// decay window `[T, channels]` (rates from 0.3 to 0.003 per step, fast to slow).
fn hyena_positions(t: usize, channels: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let bands = HYENA_BANDS as usize;
    let p = 1 + 2 * bands;
    let mut feats = Vec::with_capacity(t * p);
    for i in 0..t {
        let x = i as f64 / t.max(1) as f64;
        feats.push(x as f32);
        for k in 1..=bands {
            let a = 2.0 * std::f64::consts::PI * k as f64 * x;
            feats.push(a.sin() as f32);
            feats.push(a.cos() as f32);
        }
    }
    let mut window = Vec::with_capacity(t * channels);
    for i in 0..t {
        for c in 0..channels {
            let f = if channels > 1 {
                c as f64 / (channels - 1) as f64
            } else {
                0.5
            };
            let rate = (0.3f64.ln() + f * (0.003f64.ln() - 0.3f64.ln())).exp();
            window.push((-(rate * i as f64)).exp() as f32);
        }
    }
    (
        Tensor::<2>::from_data(TensorData::new(feats, [t, p]), device),
        Tensor::<2>::from_data(TensorData::new(window, [t, channels]), device),
    )
}

/// A causal long convolution of every channel with its own filter: `y` `[B, T, D]`,
/// `h` `[D, T]` (tap 0 first); `y'_t = Σ_{s≤t} h_{t−s}·y_s`, as a Toeplitz matrix product.
pub fn long_conv(y: Tensor<3>, h: Tensor<2>) -> Tensor<3> {
    let [b, t, d] = y.dims();
    let device = y.device();
    let idx: Vec<i64> = (0..t * t).map(|k| (k / t).saturating_sub(k % t) as i64).collect();
    let lower: Vec<f32> = (0..t * t).map(|k| if k % t <= k / t { 1.0 } else { 0.0 }).collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [t * t]), &device);
    let lower = Tensor::<3>::from_data(TensorData::new(lower, [1, t, t]), &device);
    let toeplitz = h.select(1, idx).reshape([d, t, t]) * lower; // [D, T(out), T(in)]
    let col = y.swap_dims(1, 2).reshape([b, d, t, 1]);
    toeplitz
        .unsqueeze_dim::<4>(0)
        .matmul(col)
        .reshape([b, d, t])
        .swap_dims(1, 2)
}

fn hyena_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Hyena(m)) = layer else {
        return Err("Hyena weights missing".into());
    };
    let x = one(inputs)?.f3()?;
    let [_, t, d] = x.dims();
    let order = p.int("order").max(1) as usize;
    let z = causal_depthwise(super::dense::linear3(&m.in_proj, x), m.conv_w.val(), m.conv_b.val());
    let (feats, window) = hyena_positions(t, order * d, &z.device());
    let filters = m
        .filter3
        .forward(m.filter2.forward(m.filter1.forward(feats).sin()).sin())
        * window; // [T, order·D]
    let mut y = z.clone().narrow(2, 0, d);
    for i in 0..order {
        let h = filters.clone().narrow(1, i * d, d).swap_dims(0, 1); // [D, T]
        let skip = m.skip.val().narrow(0, i, 1).reshape([1, 1, d]);
        let conv = long_conv(y.clone(), h) + y * skip;
        y = z.clone().narrow(2, (i + 1) * d, d) * conv;
    }
    Ok(vec![Value::F3(super::dense::linear3(&m.out_proj, y))])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "mamba",
        build: mamba_build,
        forward: mamba_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "rwkv_time_mix",
        build: time_mix_build,
        forward: time_mix_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "rwkv_channel_mix",
        build: channel_mix_build,
        forward: channel_mix_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "hyena",
        build: hyena_build,
        forward: hyena_fwd,
        decode: Decode::Never,
    },
];
