//! VAE sampling, DiT modulation, patch reassembly, timestep and relative-position encodings,
//! mixture of experts, constants and losses as nodes.

use super::{BuildCtx, Decode, Layer, Learned, OpSpec, StepParams, Value, one};
use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Distribution, Int, Tensor, TensorData, activation};

fn reparam_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let mu = it.next().ok_or("missing mu")?.f2()?;
    let logvar = it.next().ok_or("missing logvar")?.f2()?;
    let eps = Tensor::<2>::random(mu.dims(), Distribution::Normal(0.0, 1.0), &mu.device());
    Ok(vec![Value::F2(mu + (logvar.mul_scalar(0.5)).exp() * eps)])
}

/// `[B, D]` as `[B, 1, D]` to scale every position of `[B, T, D]`.
fn per_example(c: Tensor<2>) -> Tensor<3> {
    let [b, d] = c.dims();
    c.reshape([b, 1, d])
}

fn modulate_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing x")?.f3()?;
    let shift = per_example(it.next().ok_or("missing shift")?.f2()?);
    let scale = per_example(it.next().ok_or("missing scale")?.f2()?);
    Ok(vec![Value::F3(x * scale.add_scalar(1.0) + shift)])
}

fn gate_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing x")?.f3()?;
    let g = per_example(it.next().ok_or("missing gate")?.f2()?);
    Ok(vec![Value::F3(x * g)])
}

fn unpatchify_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?.f3()?;
    let [b, n, _] = x.dims();
    let (ps, c) = (p.int("patch").max(1) as usize, p.int("channels").max(1) as usize);
    let side = (n as f64).sqrt().round() as usize;
    let t: Tensor<6> = x.reshape([b, side, side, ps, ps, c]);
    let t = t.permute([0, 5, 1, 3, 2, 4]);
    Ok(vec![Value::F4(t.reshape([b, c, side * ps, side * ps]))])
}

fn timestep_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let t = match one(inputs)? {
        Value::I1(t) => t.float(),
        Value::F1(t) => t,
        other => return Err(format!("timesteps must be [B], got {}", other.describe())),
    };
    let [b] = t.dims();
    let d = p.int("dim").max(2) as usize;
    let half = d / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let f = Tensor::<2>::from_data(TensorData::new(freqs, [1, half]), &t.device());
    let args = t.reshape([b, 1]).matmul(f);
    Ok(vec![Value::F2(Tensor::cat(vec![args.clone().cos(), args.sin()], 1))])
}

/// T5's bucket of a relative position.
fn bucket(rel: i64, bidirectional: bool, buckets: i64, max_distance: i64) -> i64 {
    let (mut n, mut ret) = (buckets, 0);
    let mut r = rel;
    if bidirectional {
        n /= 2;
        if r > 0 {
            ret += n;
        }
        r = r.abs();
    } else {
        r = (-r).max(0);
    }
    let exact = n / 2;
    if r < exact {
        return ret + r;
    }
    let large = exact as f64
        + ((r as f64 / exact as f64).ln() / ((max_distance as f64) / exact as f64).ln() * (n - exact) as f64);
    ret + (large as i64).min(n - 1)
}

fn rel_bias_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let t = Tensor::<2>::random(
        [ctx.usize("buckets"), ctx.usize("heads")],
        Distribution::Normal(0.0, 0.02),
        ctx.device,
    );
    Ok(Some(Layer::Learned(Learned {
        value: Param::from_tensor(t),
    })))
}

fn rel_bias_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Learned(l)) = layer else {
        return Err("bias table missing".into());
    };
    let x = one(inputs)?.f3()?;
    let [_, t, _] = x.dims();
    let (buckets, maxd, bi) = (p.int("buckets"), p.int("max_distance"), p.bool("bidirectional"));
    let idx: Vec<i64> = (0..t * t)
        .map(|k| bucket((k % t) as i64 - (k / t) as i64, bi, buckets, maxd))
        .collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [t * t]), &x.device());
    let table = l.value.val(); // [buckets, heads]
    let h = table.dims()[1];
    let vals = table.select(0, idx); // [t*t, heads]
    Ok(vec![Value::F4(
        vals.reshape([t, t, h]).permute([2, 0, 1]).reshape([1, h, t, t]),
    )])
}

fn constant_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let shape: Vec<usize> = ctx
        .params
        .get("shape")
        .and_then(|v| {
            v.as_list()
                .map(|l| l.iter().filter_map(|d| d.as_int()).map(|d| d.max(1) as usize).collect())
        })
        .unwrap_or_else(|| vec![1, 64]);
    let n: usize = shape.iter().product();
    let t = Tensor::<2>::full([1, n], ctx.float("value"), ctx.device);
    // Held like a parameter so it follows the model's device, but never trained.
    Ok(Some(Layer::Learned(Learned {
        value: Param::from_tensor(t).set_require_grad(false),
    })))
}

fn constant_fwd(p: &StepParams, layer: Option<&Layer>, _: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Learned(l)) = layer else {
        return Err("constant missing".into());
    };
    let dims: Vec<usize> = p.runtime_dims(0, &[]).into_iter().map(|d| d.unwrap_or(1)).collect();
    Ok(vec![Value::F2(l.value.val()).reshape(&dims)?])
}

fn scalar(t: Tensor<1>) -> Vec<Value> {
    vec![Value::F1(t.reshape([1]))]
}

fn ce_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let logits = it.next().ok_or("missing input")?;
    let target = it.next().ok_or("missing target")?;
    let (logits, target) = match (logits, target) {
        (Value::F2(l), Value::I1(t)) => (l, t),
        (Value::F3(l), Value::I2(t)) => {
            let [b, s, c] = l.dims();
            (l.reshape([b * s, c]), t.reshape([b * s]))
        }
        (l, t) => {
            return Err(format!(
                "cross-entropy of {} against {} is not supported yet",
                l.describe(),
                t.describe()
            ));
        }
    };
    let smoothing = p.float("label_smoothing");
    let mut cfg = CrossEntropyLossConfig::new();
    if smoothing > 0.0 {
        cfg = cfg.with_smoothing(Some(smoothing as f32));
    }
    let device = logits.device();
    Ok(scalar(cfg.init(&device).forward(logits, target)))
}

fn nll_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let logp = it.next().ok_or("missing input")?.f2()?;
    let target = match it.next().ok_or("missing target")? {
        Value::I1(t) => t,
        other => return Err(format!("labels must be [B], got {}", other.describe())),
    };
    let [b] = target.dims();
    let picked = logp.gather(1, target.reshape([b, 1]));
    Ok(scalar(picked.mean().neg()))
}

fn mse_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let a = it.next().ok_or("missing input")?;
    let b = it.next().ok_or("missing target")?;
    let diff = match (a, b) {
        (Value::F2(a), Value::F2(b)) => (a - b).powi_scalar(2).mean(),
        (Value::F3(a), Value::F3(b)) => (a - b).powi_scalar(2).mean(),
        (Value::F4(a), Value::F4(b)) => (a - b).powi_scalar(2).mean(),
        (a, b) => return Err(format!("cannot compare {} with {}", a.describe(), b.describe())),
    };
    Ok(scalar(diff))
}

fn bce_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing input")?.f2()?;
    let y = it.next().ok_or("missing target")?.f2()?;
    let logp = if p.bool("with_logits") {
        activation::log_sigmoid(x.clone())
    } else {
        x.clone().clamp(1e-7, 1.0).log()
    };
    let log1mp = if p.bool("with_logits") {
        activation::log_sigmoid(x.neg())
    } else {
        x.neg().add_scalar(1.0).clamp(1e-7, 1.0).log()
    };
    let loss = (y.clone() * logp + y.neg().add_scalar(1.0) * log1mp).mean().neg();
    Ok(scalar(loss))
}

fn kl_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let mu = it.next().ok_or("missing mu")?.f2()?;
    let logvar = it.next().ok_or("missing logvar")?.f2()?;
    let [b, _] = mu.dims();
    let kl = (logvar.clone().add_scalar(1.0) - mu.powi_scalar(2) - logvar.exp())
        .sum()
        .mul_scalar(-0.5 / b as f64);
    Ok(scalar(kl))
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "reparameterize",
        build: super::stateless,
        forward: reparam_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "modulate",
        build: super::stateless,
        forward: modulate_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "gate",
        build: super::stateless,
        forward: gate_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "unpatchify",
        build: super::stateless,
        forward: unpatchify_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "timestep_embedding",
        build: super::stateless,
        forward: timestep_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "relative_position_bias",
        build: rel_bias_build,
        forward: rel_bias_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "constant",
        build: constant_build,
        forward: constant_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "cross_entropy",
        build: super::stateless,
        forward: ce_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "nll",
        build: super::stateless,
        forward: nll_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "mse",
        build: super::stateless,
        forward: mse_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "bce",
        build: super::stateless,
        forward: bce_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "kl_divergence",
        build: super::stateless,
        forward: kl_fwd,
        decode: Decode::Never,
    },
];
