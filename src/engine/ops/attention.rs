//! Multi-head attention with optional cross-attention, causal and padding masks and an
//! additive bias (T5's relative positions).

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value};
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData};
use std::cell::RefCell;

thread_local! {
    /// Attention weights of every attention layer that runs while a recording is on (this thread).
    static PROBE: RefCell<Option<Vec<Tensor<4>>>> = const { RefCell::new(None) };
}

/// Runs `f` and returns, besides its result, the attention weights `[B, heads, T, S]` of every
/// attention layer that ran inside it, in run order (the probe views ask for). Weights are
/// detached copies; nothing is recorded outside a call.
pub fn record_attention<R>(f: impl FnOnce() -> R) -> (R, Vec<Tensor<4>>) {
    PROBE.with(|p| *p.borrow_mut() = Some(Vec::new()));
    let r = f();
    let got = PROBE.with(|p| p.borrow_mut().take()).unwrap_or_default();
    (r, got)
}

/// Hands attention weights to a running [`record_attention`] (a detached copy; nothing when no
/// recording is on). Graph attention records `[1, heads, 1, edges]`, one weight per message.
pub(crate) fn probe(weights: &Tensor<4>) {
    PROBE.with(|p| {
        if let Some(v) = p.borrow_mut().as_mut() {
            v.push(weights.clone().detach());
        }
    });
}

/// The four projections of an attention layer.
#[derive(Module, Debug)]
pub struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    /// Dropout on the attention weights (active only while training).
    dropout: Dropout,
}

impl Attention {
    /// The q, k, v and output projections (for exporters).
    pub fn parts(&self) -> (&Linear, &Linear, &Linear, &Linear) {
        (&self.q, &self.k, &self.v, &self.o)
    }
}

fn build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, 2)?;
    let dkv = if ctx.inputs.get(1).is_some_and(Option::is_some) {
        ctx.in_dim(1, 2)?
    } else {
        d
    };
    let heads = ctx.usize("heads").max(1);
    let hd = match ctx.usize("head_dim") {
        0 => d / heads,
        n => n,
    };
    let inner = heads * hd;
    let bias = ctx.bool("bias");
    let lin = |i, o| LinearConfig::new(i, o).with_bias(bias).init(ctx.device);
    Ok(Some(Layer::Attention(Attention {
        q: lin(d, inner),
        k: lin(dkv, inner),
        v: lin(dkv, inner),
        o: lin(inner, d),
        dropout: DropoutConfig::new(ctx.float("dropout")).init(),
    })))
}

fn forward(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Attention(a)) = layer else {
        return Err("attention layer missing".into());
    };
    // Inputs arrive in port order, unconnected optional ports skipped: q, then kv / mask / bias
    // as connected. Their kinds tell them apart.
    let mut it = inputs.into_iter();
    let q_in = it.next().ok_or("missing q")?.f3()?;
    let (mut kv_in, mut mask, mut bias) = (None, None, None);
    for v in it {
        match v {
            Value::F3(t) => kv_in = Some(t),
            Value::I2(t) => mask = Some(t),
            Value::F4(t) => bias = Some(t),
            other => return Err(format!("unexpected attention input {}", other.describe())),
        }
    }
    let kv_in = kv_in.unwrap_or_else(|| q_in.clone());
    let [b, t, _] = q_in.dims();
    let [_, s, _] = kv_in.dims();
    let heads = p.int("heads").max(1) as usize;
    let inner = a.q.weight.val().dims()[1];
    let hd = inner / heads;
    let split = |x: Tensor<3>, n: usize| x.reshape([b, n, heads, hd]).swap_dims(1, 2);
    let mut q = split(super::dense::linear3(&a.q, q_in), t);
    let mut k = split(super::dense::linear3(&a.k, kv_in.clone()), s);
    if p.bool("rotary") {
        // New tokens sit after the cached ones while decoding.
        let at = super::decode::offset();
        q = rope(q, at);
        k = rope(k, at);
    }
    let mut v = split(super::dense::linear3(&a.v, kv_in), s);
    // Decoding with a cache: the new tokens' keys and values join the earlier ones.
    let mut past = 0;
    if p.bool("causal")
        && let Some((kc, vc)) = super::decode::extend(k.clone(), v.clone())
    {
        past = kc.dims()[2] - s;
        (k, v) = (kc, vc);
    }
    let s = s + past;
    let scale = if p.bool("scaled") {
        1.0 / (hd as f64).sqrt()
    } else {
        1.0
    };
    let mut scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
    let device = scores.device();
    if let Some(bias) = bias {
        scores = scores + bias;
    }
    if p.bool("causal") {
        // Query i sits at position past + i and sees keys up to it.
        let m: Vec<f32> = (0..t * s)
            .map(|i| if i % s > past + i / s { -1e9 } else { 0.0 })
            .collect();
        scores = scores + Tensor::<2>::from_data(TensorData::new(m, [t, s]), &device).reshape([1, 1, t, s]);
    }
    if let Some(mask) = mask {
        let keep = mask.float().reshape([b, 1, 1, s]);
        scores = scores + (keep.neg().add_scalar(1.0)).mul_scalar(-1e9);
    }
    let attn = a.dropout.forward(crate::engine::kernels::softmax(scores, 3));
    PROBE.with(|p| {
        if let Some(v) = p.borrow_mut().as_mut() {
            v.push(attn.clone().detach());
        }
    });
    let out = attn.matmul(v).swap_dims(1, 2).reshape([b, t, inner]);
    Ok(vec![Value::F3(super::dense::linear3(&a.o, out))])
}

/// Rotary position embedding (RoFormer; the "rotate half" layout of GPT-NeoX and LLaMA):
/// dimension i of the first half and i of the second half of each head form a pair rotated by
/// position × 10000^(−2i/size). `x` is `[B, heads, T, size]`, positions start at `offset`.
pub fn rope(x: Tensor<4>, offset: usize) -> Tensor<4> {
    let [_, _, t, d] = x.dims();
    let half = d / 2;
    let mut cos = Vec::with_capacity(t * d);
    let mut sin = Vec::with_capacity(t * d);
    for p in 0..t {
        let pos = (offset + p) as f64;
        for j in 0..d {
            let angle = pos * 10000f64.powf(-2.0 * (j % half.max(1)) as f64 / d as f64);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let device = x.device();
    let table = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 1, t, d]), &device);
    let rotated = Tensor::cat(
        vec![x.clone().narrow(3, half, d - half).neg(), x.clone().narrow(3, 0, half)],
        3,
    );
    x * table(cos) + rotated * table(sin)
}

/// Bahdanau's additive attention: the query and key projections and the scoring vector.
#[derive(Module, Debug)]
pub struct Additive {
    wq: Linear,
    wk: Linear,
    v: Linear,
}

impl Additive {
    /// The query and key projections and the scoring vector (for exporters).
    pub fn parts(&self) -> (&Linear, &Linear, &Linear) {
        (&self.wq, &self.wk, &self.v)
    }
}

fn additive_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let (dq, dk) = (ctx.in_dim(0, 2)?, ctx.in_dim(1, 2)?);
    let a = ctx.usize("hidden").max(1);
    Ok(Some(Layer::Additive(Additive {
        wq: LinearConfig::new(dq, a).with_bias(false).init(ctx.device),
        wk: LinearConfig::new(dk, a).init(ctx.device),
        v: LinearConfig::new(a, 1).with_bias(false).init(ctx.device),
    })))
}

fn additive_forward(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Additive(a)) = layer else {
        return Err("additive attention missing".into());
    };
    let mut it = inputs.into_iter();
    let q = it.next().ok_or("missing query")?.f3()?;
    let k = it.next().ok_or("missing keys")?.f3()?;
    let mask = match it.next() {
        Some(Value::I2(m)) => Some(m),
        Some(other) => return Err(format!("the mask must be integer [B, S], not {}", other.describe())),
        None => None,
    };
    let [b, t, _] = q.dims();
    let [_, s, _] = k.dims();
    let hid = a.wq.weight.val().dims()[1];
    let pq = a.wq.forward(q).reshape([b, t, 1, hid]);
    let pk = a.wk.forward(k.clone()).reshape([b, 1, s, hid]);
    let mut scores = a.v.forward((pq + pk).tanh()).reshape([b, t, s]);
    if let Some(mask) = mask {
        let keep = mask.float().reshape([b, 1, s]);
        scores = scores + (keep.neg().add_scalar(1.0)).mul_scalar(-1e9);
    }
    let w = crate::engine::kernels::softmax(scores, 2);
    PROBE.with(|p| {
        if let Some(v) = p.borrow_mut().as_mut() {
            v.push(w.clone().detach().reshape([b, 1, t, s]));
        }
    });
    Ok(vec![Value::F3(w.matmul(k))])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "multi_head_attention",
        build,
        forward,
        decode: Decode::CausalSelfAttention,
    },
    OpSpec {
        kind: "additive_attention",
        build: additive_build,
        forward: additive_forward,
        decode: Decode::Never,
    },
];
