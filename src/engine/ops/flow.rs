//! Invertible layers of normalizing flows. Each kind runs forward like any other node (its
//! log-determinant dropped) and, through [`FlowOp`], forward with its log-determinant, inverse,
//! and — ActNorm — initialised from data.

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one};
use crate::data::Rng;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData, activation};

/// The conditioner of an affine coupling: an MLP (vectors) or a small conv net (images).
#[derive(Module, Debug)]
pub struct Coupling {
    /// Dense layers (vectors).
    pub dense: Vec<Linear>,
    /// Convolutions (images).
    pub conv: Vec<Conv2d>,
}

/// ActNorm's per-channel shift and log-scale: y = (x + bias)·exp(log_scale).
#[derive(Module, Debug)]
pub struct ActNorm {
    /// Shift, per channel.
    pub bias: Param<Tensor<1>>,
    /// Log of the scale, per channel.
    pub log_scale: Param<Tensor<1>>,
}

/// The invertible 1×1 convolution in LU form: W = P·L·(U + diag(sign·exp(log s))).
#[derive(Module, Debug)]
pub struct InvConv {
    /// Strictly lower part: L; strictly upper part: U; diagonal: log s.
    pub lu: Param<Tensor<2>>,
    /// The fixed permutation P (a constant: derived from the channel count, never learned).
    pub perm: Tensor<2>,
    /// The fixed signs of the diagonal, as a column [C, 1].
    pub sign: Tensor<2>,
}

/// Runs a flow layer forward: y and log|det ∂y/∂x| per example ([B]).
pub type FlowForwardFn = fn(&StepParams, Option<&Layer>, Value) -> Result<(Value, Tensor<1>), String>;
/// Sets a layer from the first batch that reaches it.
pub type InitFromDataFn = fn(&Layer, &Value) -> Result<Layer, String>;

/// The flow side of an invertible kind.
#[derive(Clone, Copy)]
pub struct FlowOp {
    /// Catalog kind id.
    pub kind: &'static str,
    /// y and log|det ∂y/∂x| per example ([B]).
    pub forward: FlowForwardFn,
    /// x from y.
    pub inverse: fn(&StepParams, Option<&Layer>, Value) -> Result<Value, String>,
    /// A layer set from the first batch reaching it (ActNorm), or `None` when the kind has no
    /// data-dependent start.
    pub init_from_data: Option<InitFromDataFn>,
}

/// The flow ops, by kind.
pub fn flow_op(kind: &str) -> Option<&'static FlowOp> {
    FLOW_OPS.iter().find(|f| f.kind == kind)
}

// ---- shapes --------------------------------------------------------------------------------

/// Channels (dim 1) and positions per channel of a vector or image value.
fn layout(v: &Value) -> Result<(usize, usize), String> {
    match v {
        Value::F2(t) => Ok((t.dims()[1], 1)),
        Value::F4(t) => {
            let [_, c, h, w] = t.dims();
            Ok((c, h * w))
        }
        other => Err(format!(
            "a flow layer takes vectors [B, D] or images [B, C, H, W], got {}",
            other.describe()
        )),
    }
}

/// Per-example sum over every dim but the batch.
fn per_example(v: &Value) -> Result<Tensor<1>, String> {
    Ok(match v {
        Value::F2(t) => {
            let b = t.dims()[0];
            t.clone().sum_dim(1).reshape([b])
        }
        Value::F4(t) => {
            let b = t.dims()[0];
            t.clone().flatten::<2>(1, 3).sum_dim(1).reshape([b])
        }
        other => return Err(format!("expected a vector or image batch, got {}", other.describe())),
    })
}

fn batch_of(v: &Value) -> usize {
    v.dims().first().copied().unwrap_or(0)
}

fn device_of(v: &Value) -> Result<Device, String> {
    Ok(match v {
        Value::F2(t) => t.device(),
        Value::F4(t) => t.device(),
        other => return Err(format!("expected a float batch, got {}", other.describe())),
    })
}

/// A per-channel vector [C] shaped to broadcast over `like` ([1, C] or [1, C, 1, 1]).
fn per_channel(v: Tensor<1>, like: &Value) -> Result<Value, String> {
    let c = v.dims()[0];
    Ok(match like {
        Value::F2(_) => Value::F2(v.reshape([1, c])),
        Value::F4(_) => Value::F4(v.reshape([1, c, 1, 1])),
        other => return Err(format!("expected a vector or image batch, got {}", other.describe())),
    })
}

fn mul(a: Value, b: Value) -> Result<Value, String> {
    Ok(match (a, b) {
        (Value::F2(a), Value::F2(b)) => Value::F2(a * b),
        (Value::F4(a), Value::F4(b)) => Value::F4(a * b),
        _ => return Err("mismatched ranks inside a flow layer".into()),
    })
}

fn add(a: Value, b: Value) -> Result<Value, String> {
    Ok(match (a, b) {
        (Value::F2(a), Value::F2(b)) => Value::F2(a + b),
        (Value::F4(a), Value::F4(b)) => Value::F4(a + b),
        _ => return Err("mismatched ranks inside a flow layer".into()),
    })
}

fn sub(a: Value, b: Value) -> Result<Value, String> {
    Ok(match (a, b) {
        (Value::F2(a), Value::F2(b)) => Value::F2(a - b),
        (Value::F4(a), Value::F4(b)) => Value::F4(a - b),
        _ => return Err("mismatched ranks inside a flow layer".into()),
    })
}

fn exp(v: Value, sign: f64) -> Result<Value, String> {
    crate::map_float!(v, t => t.mul_scalar(sign).exp())
}

// ---- affine coupling ------------------------------------------------------------------------

/// The kept-part mask (1 = kept, passed through and fed to the conditioner), shaped [1, ...].
fn coupling_mask(p: &StepParams, like: &Value) -> Result<Value, String> {
    let half = p.text("mask") == "half";
    let flip = p.bool("flip");
    let device = device_of(like)?;
    let pick = |kept: bool| if kept != flip { 1.0f32 } else { 0.0 };
    Ok(match like {
        Value::F2(t) => {
            let d = t.dims()[1];
            let m: Vec<f32> = (0..d)
                .map(|i| pick(if half { i < d / 2 } else { i % 2 == 0 }))
                .collect();
            Value::F2(Tensor::from_data(TensorData::new(m, [1, d]), &device))
        }
        Value::F4(t) => {
            let [_, c, h, w] = t.dims();
            let mut m = Vec::with_capacity(c * h * w);
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        m.push(pick(if half { ch < c / 2 } else { (x + y) % 2 == 0 }));
                    }
                }
            }
            Value::F4(Tensor::from_data(TensorData::new(m, [1, c, h, w]), &device))
        }
        other => return Err(format!("expected a vector or image batch, got {}", other.describe())),
    })
}

fn coupling_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let rank = ctx.inputs.first().and_then(|t| t.as_ref()).map_or(0, |t| t.rank());
    let c = ctx.in_dim(0, 1)?;
    let (h, depth) = (ctx.usize("hidden").max(1), ctx.usize("depth").max(1));
    let mut coupling = Coupling {
        dense: Vec::new(),
        conv: Vec::new(),
    };
    if rank == 4 {
        let pad1 = PaddingConfig2d::Explicit(1, 1, 1, 1);
        coupling.conv.push(
            Conv2dConfig::new([c, h], [3, 3])
                .with_padding(pad1.clone())
                .init(ctx.device),
        );
        for _ in 1..depth {
            coupling.conv.push(Conv2dConfig::new([h, h], [1, 1]).init(ctx.device));
        }
        coupling.conv.push(
            Conv2dConfig::new([h, 2 * c], [3, 3])
                .with_padding(pad1)
                .with_initializer(Initializer::Zeros)
                .init(ctx.device),
        );
    } else {
        coupling.dense.push(LinearConfig::new(c, h).init(ctx.device));
        for _ in 1..depth {
            coupling.dense.push(LinearConfig::new(h, h).init(ctx.device));
        }
        coupling.dense.push(
            LinearConfig::new(h, 2 * c)
                .with_initializer(Initializer::Zeros)
                .init(ctx.device),
        );
    }
    Ok(Some(Layer::Coupling(coupling)))
}

/// The masked log-scale s and shift t the conditioner computes from the kept part `kept`.
fn scale_shift(layer: Option<&Layer>, kept: Value, mask: &Value) -> Result<(Value, Value), String> {
    let Some(Layer::Coupling(net)) = layer else {
        return Err("coupling layer missing".into());
    };
    let free = crate::map_float!(mask.clone(), m => m.neg().add_scalar(1.0))?;
    let (s, t) = match kept {
        Value::F2(mut h) => {
            let n = net.dense.len();
            for (i, l) in net.dense.iter().enumerate() {
                h = l.forward(h);
                if i + 1 < n {
                    h = activation::relu(h);
                }
            }
            let c = h.dims()[1] / 2;
            (
                Value::F2(h.clone().narrow(1, 0, c).tanh()),
                Value::F2(h.narrow(1, c, c)),
            )
        }
        Value::F4(mut h) => {
            let n = net.conv.len();
            for (i, l) in net.conv.iter().enumerate() {
                h = l.forward(h);
                if i + 1 < n {
                    h = activation::relu(h);
                }
            }
            let c = h.dims()[1] / 2;
            (
                Value::F4(h.clone().narrow(1, 0, c).tanh()),
                Value::F4(h.narrow(1, c, c)),
            )
        }
        other => return Err(format!("expected a vector or image batch, got {}", other.describe())),
    };
    Ok((mul(s, free.clone())?, mul(t, free)?))
}

fn coupling_flow(p: &StepParams, layer: Option<&Layer>, x: Value) -> Result<(Value, Tensor<1>), String> {
    let mask = coupling_mask(p, &x)?;
    let (s, t) = scale_shift(layer, mul(x.clone(), mask.clone())?, &mask)?;
    let logdet = per_example(&s)?;
    Ok((add(mul(x, exp(s, 1.0)?)?, t)?, logdet))
}

fn coupling_inverse(p: &StepParams, layer: Option<&Layer>, y: Value) -> Result<Value, String> {
    let mask = coupling_mask(p, &y)?;
    // The kept part passes through unchanged, so the conditioner sees what it saw going forward.
    let (s, t) = scale_shift(layer, mul(y.clone(), mask.clone())?, &mask)?;
    mul(sub(y, t)?, exp(s, -1.0)?)
}

fn coupling_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    Ok(vec![coupling_flow(p, layer, one(inputs)?)?.0])
}

// ---- ActNorm --------------------------------------------------------------------------------

fn actnorm_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let c = ctx.in_dim(0, 1)?;
    Ok(Some(Layer::ActNorm(ActNorm {
        bias: Param::from_tensor(Tensor::zeros([c], ctx.device)),
        log_scale: Param::from_tensor(Tensor::zeros([c], ctx.device)),
    })))
}

fn actnorm_parts(layer: Option<&Layer>, like: &Value) -> Result<(Value, Value, Tensor<1>), String> {
    let Some(Layer::ActNorm(a)) = layer else {
        return Err("ActNorm layer missing".into());
    };
    let ls = a.log_scale.val();
    Ok((per_channel(a.bias.val(), like)?, per_channel(ls.clone(), like)?, ls))
}

fn actnorm_flow(_: &StepParams, layer: Option<&Layer>, x: Value) -> Result<(Value, Tensor<1>), String> {
    let (_, positions) = layout(&x)?;
    let (bias, log_scale, ls) = actnorm_parts(layer, &x)?;
    let b = batch_of(&x);
    let logdet = ls.sum().mul_scalar(positions as f64).expand([b]);
    Ok((mul(add(x, bias)?, exp(log_scale, 1.0)?)?, logdet))
}

fn actnorm_inverse(_: &StepParams, layer: Option<&Layer>, y: Value) -> Result<Value, String> {
    let (bias, log_scale, _) = actnorm_parts(layer, &y)?;
    sub(mul(y, exp(log_scale, -1.0)?)?, bias)
}

/// Sets the shift and scale so the batch `x` leaves with zero mean and unit variance per channel.
fn actnorm_init(layer: &Layer, x: &Value) -> Result<Layer, String> {
    let Layer::ActNorm(a) = layer else {
        return Err("ActNorm layer missing".into());
    };
    let (c, _) = layout(x)?;
    // Channels last, everything else flattened: [N, C].
    let rows: Tensor<2> = match x.clone().detach() {
        Value::F2(t) => t,
        Value::F4(t) => {
            let [b, c, h, w] = t.dims();
            t.permute([0, 2, 3, 1]).reshape([b * h * w, c])
        }
        other => return Err(format!("expected a vector or image batch, got {}", other.describe())),
    };
    let mean = rows.clone().mean_dim(0);
    let var = (rows - mean.clone()).powi_scalar(2).mean_dim(0);
    let bias = mean.reshape([c]).neg();
    let log_scale = var.add_scalar(1e-6).sqrt().log().neg().reshape([c]);
    let mut b = Param::from_tensor(bias.detach());
    b.id = a.bias.id;
    let mut s = Param::from_tensor(log_scale.detach());
    s.id = a.log_scale.id;
    Ok(Layer::ActNorm(ActNorm { bias: b, log_scale: s }))
}

fn actnorm_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    Ok(vec![actnorm_flow(p, layer, one(inputs)?)?.0])
}

// ---- invertible 1×1 convolution -------------------------------------------------------------

/// A random rotation of size `c` in LU form: (P, L + U + diag(log|s|) packed, signs of s).
/// Seeded by the size, so the constant P and signs are the same every time the graph compiles
/// (checkpoints hold only the learned part).
pub fn random_rotation_lu(c: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(0x1417_C0DE ^ c as u64);
    let mut gauss = || {
        // Box–Muller from two uniforms.
        let u1 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    // Gram–Schmidt on a Gaussian matrix: the rows of an orthogonal matrix.
    let mut q = vec![0.0f64; c * c];
    for v in q.iter_mut() {
        *v = gauss();
    }
    for i in 0..c {
        for j in 0..i {
            let dot: f64 = (0..c).map(|k| q[i * c + k] * q[j * c + k]).sum();
            for k in 0..c {
                q[i * c + k] -= dot * q[j * c + k];
            }
        }
        let norm = (0..c).map(|k| q[i * c + k].powi(2)).sum::<f64>().sqrt().max(1e-12);
        for k in 0..c {
            q[i * c + k] /= norm;
        }
    }
    // LU with partial pivoting: P·A = L·U, so A = Pᵀ·L·U.
    let mut a = q;
    let mut piv: Vec<usize> = (0..c).collect();
    for k in 0..c {
        let p = (k..c)
            .max_by(|&x, &y| a[x * c + k].abs().total_cmp(&a[y * c + k].abs()))
            .unwrap_or(k);
        if p != k {
            for j in 0..c {
                a.swap(k * c + j, p * c + j);
            }
            piv.swap(k, p);
        }
        let d = a[k * c + k];
        for i in k + 1..c {
            let f = a[i * c + k] / d;
            a[i * c + k] = f;
            for j in k + 1..c {
                a[i * c + j] -= f * a[k * c + j];
            }
        }
    }
    // Row k of P·A is row piv[k] of A, so A = Pᵀ(LU): (Pᵀ)[piv[k], k] = 1.
    let mut perm = vec![0.0; c * c];
    for (k, &r) in piv.iter().enumerate() {
        perm[r * c + k] = 1.0;
    }
    let mut packed = a.clone();
    let mut sign = vec![1.0; c];
    for k in 0..c {
        let d = a[k * c + k];
        sign[k] = if d < 0.0 { -1.0 } else { 1.0 };
        packed[k * c + k] = d.abs().max(1e-12).ln();
    }
    (perm, packed, sign)
}

/// The starting matrix W = P·L·(U + diag(sign·s)) of a 1×1 convolution over `c` channels,
/// row-major (an orthogonal matrix).
pub fn initial_rotation(c: usize) -> Vec<f64> {
    let (perm, packed, sign) = random_rotation_lu(c);
    let mut lu = vec![0.0; c * c];
    for i in 0..c {
        for j in 0..c {
            // (L·(U + D))[i][j] = Σ_k L[i][k]·(U + D)[k][j], L unit lower, U + D upper.
            lu[i * c + j] = (0..=i.min(j))
                .map(|k| {
                    let l = if k == i { 1.0 } else { packed[i * c + k] };
                    let u = if k == j {
                        sign[k] * packed[k * c + k].exp()
                    } else {
                        packed[k * c + j]
                    };
                    l * u
                })
                .sum();
        }
    }
    let mut w = vec![0.0; c * c];
    for i in 0..c {
        for j in 0..c {
            w[i * c + j] = (0..c).map(|k| perm[i * c + k] * lu[k * c + j]).sum();
        }
    }
    w
}

fn inv_conv_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let c = ctx.in_dim(0, 1)?;
    let (perm, packed, sign) = random_rotation_lu(c);
    let f = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
    Ok(Some(Layer::InvConv(InvConv {
        lu: Param::from_tensor(Tensor::from_data(TensorData::new(f(packed), [c, c]), ctx.device)),
        perm: Tensor::from_data(TensorData::new(f(perm), [c, c]), ctx.device),
        sign: Tensor::from_data(TensorData::new(f(sign), [c, 1]), ctx.device),
    })))
}

/// W and Σ log|s|.
fn inv_conv_weight(layer: Option<&Layer>) -> Result<(Tensor<2>, Tensor<1>), String> {
    let Some(Layer::InvConv(m)) = layer else {
        return Err("invertible 1×1 conv layer missing".into());
    };
    let lu = m.lu.val();
    let c = lu.dims()[0];
    let device = lu.device();
    let eye = Tensor::<2>::eye(c, &device);
    let lower = lu.clone().tril(-1) + eye.clone();
    let upper = lu.clone().triu(1);
    let log_s = (lu * eye.clone()).sum_dim(1); // [C, 1]
    let diag = eye * (m.sign.clone() * log_s.clone().exp());
    let w = m.perm.clone().matmul(lower).matmul(upper + diag);
    Ok((w, log_s.sum()))
}

/// Applies `w` ([C, C]) to every position's channel vector.
fn mix(x: Value, w: Tensor<2>) -> Result<Value, String> {
    Ok(match x {
        Value::F2(t) => Value::F2(t.matmul(w.transpose())),
        Value::F4(t) => {
            let [b, c, h, wd] = t.dims();
            let rows = t.permute([0, 2, 3, 1]).reshape([b * h * wd, c]);
            let out = rows.matmul(w.transpose()).reshape([b, h, wd, c]);
            Value::F4(out.permute([0, 3, 1, 2]))
        }
        other => return Err(format!("expected a vector or image batch, got {}", other.describe())),
    })
}

fn inv_conv_flow(_: &StepParams, layer: Option<&Layer>, x: Value) -> Result<(Value, Tensor<1>), String> {
    let (_, positions) = layout(&x)?;
    let (w, log_det_w) = inv_conv_weight(layer)?;
    let b = batch_of(&x);
    Ok((mix(x, w)?, log_det_w.mul_scalar(positions as f64).expand([b])))
}

/// The inverse of a small square matrix (Gauss–Jordan with partial pivoting, in f64).
pub fn invert_matrix(a: &[f64], n: usize) -> Result<Vec<f64>, String> {
    let mut m = a.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for k in 0..n {
        let p = (k..n)
            .max_by(|&x, &y| m[x * n + k].abs().total_cmp(&m[y * n + k].abs()))
            .unwrap_or(k);
        if m[p * n + k].abs() < 1e-12 {
            return Err("the 1×1 convolution's matrix became singular".into());
        }
        for j in 0..n {
            m.swap(k * n + j, p * n + j);
            inv.swap(k * n + j, p * n + j);
        }
        let d = m[k * n + k];
        for j in 0..n {
            m[k * n + j] /= d;
            inv[k * n + j] /= d;
        }
        for i in 0..n {
            if i != k {
                let f = m[i * n + k];
                for j in 0..n {
                    m[i * n + j] -= f * m[k * n + j];
                    inv[i * n + j] -= f * inv[k * n + j];
                }
            }
        }
    }
    Ok(inv)
}

fn inv_conv_inverse(_: &StepParams, layer: Option<&Layer>, y: Value) -> Result<Value, String> {
    let (w, _) = inv_conv_weight(layer)?;
    let c = w.dims()[0];
    let device = w.device();
    let host: Vec<f64> = w.into_data().iter::<f32>().map(f64::from).collect();
    let inv: Vec<f32> = invert_matrix(&host, c)?.into_iter().map(|v| v as f32).collect();
    mix(y, Tensor::from_data(TensorData::new(inv, [c, c]), &device))
}

fn inv_conv_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    Ok(vec![inv_conv_flow(p, layer, one(inputs)?)?.0])
}

// ---- squeeze --------------------------------------------------------------------------------

fn space_to_depth(p: &StepParams, x: Value) -> Result<Value, String> {
    let t = x.f4()?;
    let f = p.int("factor").max(1) as usize;
    let [b, c, h, w] = t.dims();
    let t: Tensor<6> = t.reshape([b, c, h / f, f, w / f, f]);
    Ok(Value::F4(t.permute([0, 1, 3, 5, 2, 4]).reshape([
        b,
        c * f * f,
        h / f,
        w / f,
    ])))
}

fn depth_to_space(p: &StepParams, y: Value) -> Result<Value, String> {
    let t = y.f4()?;
    let f = p.int("factor").max(1) as usize;
    let [b, cff, h, w] = t.dims();
    let c = cff / (f * f);
    let t: Tensor<6> = t.reshape([b, c, f, f, h, w]);
    Ok(Value::F4(t.permute([0, 1, 4, 2, 5, 3]).reshape([b, c, h * f, w * f])))
}

fn squeeze_flow(p: &StepParams, _: Option<&Layer>, x: Value) -> Result<(Value, Tensor<1>), String> {
    let b = batch_of(&x);
    let device = device_of(&x)?;
    Ok((space_to_depth(p, x)?, Tensor::zeros([b], &device)))
}

fn squeeze_inverse(p: &StepParams, _: Option<&Layer>, y: Value) -> Result<Value, String> {
    depth_to_space(p, y)
}

fn squeeze_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    Ok(vec![space_to_depth(p, one(inputs)?)?])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "affine_coupling",
        build: coupling_build,
        forward: coupling_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "actnorm",
        build: actnorm_build,
        forward: actnorm_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "inv_conv1x1",
        build: inv_conv_build,
        forward: inv_conv_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "space_to_depth",
        build: super::stateless,
        forward: squeeze_fwd,
        decode: Decode::Never,
    },
];

const FLOW_OPS: &[FlowOp] = &[
    FlowOp {
        kind: "affine_coupling",
        forward: coupling_flow,
        inverse: coupling_inverse,
        init_from_data: None,
    },
    FlowOp {
        kind: "actnorm",
        forward: actnorm_flow,
        inverse: actnorm_inverse,
        init_from_data: Some(actnorm_init),
    },
    FlowOp {
        kind: "inv_conv1x1",
        forward: inv_conv_flow,
        inverse: inv_conv_inverse,
        init_from_data: None,
    },
    FlowOp {
        kind: "space_to_depth",
        forward: squeeze_flow,
        inverse: squeeze_inverse,
        init_from_data: None,
    },
];
