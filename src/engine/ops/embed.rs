//! Embeddings, positional encodings, class tokens, patches and learned tensors.

use super::{BuildCtx, Decode, Layer, Learned, OpSpec, StepParams, Value, one};
use burn::module::Param;
use burn::nn::EmbeddingConfig;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Distribution, Int, Tensor, TensorData};

fn embedding_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let cfg = EmbeddingConfig::new(ctx.usize("num_embeddings"), ctx.usize("dim"));
    Ok(Some(Layer::Embedding(cfg.init(ctx.device))))
}

fn ids2(v: Value) -> Result<(Tensor<2, Int>, bool), String> {
    match v {
        Value::I2(t) => Ok((t, false)),
        Value::I1(t) => {
            let [b] = t.dims();
            Ok((t.reshape([b, 1]), true))
        }
        other => Err(format!("expected integer ids, got {}", other.describe())),
    }
}

fn embedding_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Embedding(e)) = layer else {
        return Err("Embedding layer missing".into());
    };
    let (ids, squeeze) = ids2(one(inputs)?)?;
    let y = e.forward(ids);
    let y = if squeeze {
        let [b, _, d] = y.dims();
        Value::F2(y.reshape([b, d]))
    } else {
        Value::F3(y)
    };
    Ok(vec![y, Value::F2(e.weight.val())])
}

fn tied_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let (ids, squeeze) = ids2(it.next().ok_or("missing ids")?)?;
    let table = it.next().ok_or("missing table")?.f2()?;
    let y = burn::tensor::module::embedding(table, ids);
    Ok(vec![if squeeze {
        let [b, _, d] = y.dims();
        Value::F2(y.reshape([b, d]))
    } else {
        Value::F3(y)
    }])
}

fn learned(rows: usize, cols: usize, std: f64, ctx: &BuildCtx) -> Layer {
    let t = Tensor::<2>::random([rows, cols], Distribution::Normal(0.0, std), ctx.device);
    Layer::Learned(Learned {
        value: Param::from_tensor(t),
    })
}

fn pos_learned_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    Ok(Some(learned(ctx.usize("max_len"), ctx.in_dim(0, 2)?, 0.02, ctx)))
}

fn pos_learned_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Learned(l)) = layer else {
        return Err("position table missing".into());
    };
    let x = one(inputs)?.f3()?;
    let [_, t, _] = x.dims();
    let table = l.value.val();
    // While decoding with a cache, the new tokens sit after the cached ones.
    let at = super::decode::offset();
    if at + t > table.dims()[0] {
        return Err(format!(
            "sequence length {} exceeds max_len {}",
            at + t,
            table.dims()[0]
        ));
    }
    Ok(vec![Value::F3(x + table.narrow(0, at, t).unsqueeze_dim::<3>(0))])
}

/// Sine/cosine table `[n, d]` (1-D positions, or a √n×√n grid with half the dims per axis).
pub fn sinusoid(n: usize, d: usize, grid: bool) -> Vec<f32> {
    let mut out = vec![0f32; n * d];
    let fill = |row: &mut [f32], pos: f64, width: usize| {
        for i in 0..width / 2 {
            let freq = 1.0 / 10000f64.powf(2.0 * i as f64 / width as f64);
            row[2 * i] = (pos * freq).sin() as f32;
            row[2 * i + 1] = (pos * freq).cos() as f32;
        }
    };
    let side = (n as f64).sqrt().round() as usize;
    for p in 0..n {
        let row = &mut out[p * d..(p + 1) * d];
        if grid && side * side == n {
            let (r, c) = (p / side, p % side);
            let half = d / 2;
            fill(&mut row[..half], r as f64, half);
            fill(&mut row[half..], c as f64, d - half);
        } else {
            fill(row, p as f64, d);
        }
    }
    out
}

fn pos_sin_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?.f3()?;
    let [_, t, d] = x.dims();
    let at = super::decode::offset();
    let all = sinusoid(at + t, d, p.text("layout") == "2d");
    let table = Tensor::<2>::from_data(TensorData::new(all[at * d..].to_vec(), [t, d]), &x.device());
    Ok(vec![Value::F3(x + table.unsqueeze_dim::<3>(0))])
}

fn class_token_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    Ok(Some(learned(1, ctx.in_dim(0, 2)?, 0.02, ctx)))
}

fn class_token_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Learned(l)) = layer else {
        return Err("class token missing".into());
    };
    let x = one(inputs)?.f3()?;
    let [b, _, d] = x.dims();
    let token = l.value.val().unsqueeze_dim::<3>(0).expand([b, 1, d]);
    Ok(vec![Value::F3(Tensor::cat(vec![token, x], 1))])
}

fn patch_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let (c, p) = (ctx.in_dim(0, 1)?, ctx.usize("patch"));
    let cfg = Conv2dConfig::new([c, ctx.usize("dim")], [p, p]).with_stride([p, p]);
    Ok(Some(Layer::Conv2d(cfg.init(ctx.device))))
}

fn patch_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Conv2d(conv)) = layer else {
        return Err("patch projection missing".into());
    };
    let y = conv.forward(one(inputs)?.f4()?);
    let [b, d, h, w] = y.dims();
    Ok(vec![Value::F3(y.reshape([b, d, h * w]).swap_dims(1, 2))])
}

fn parameter_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let shape: Vec<usize> = ctx
        .spec
        .param("shape")
        .and(ctx.params.get("shape"))
        .and_then(|v| {
            v.as_list()
                .map(|l| l.iter().filter_map(|d| d.as_int()).map(|d| d.max(1) as usize).collect())
        })
        .unwrap_or_else(|| vec![1, 64]);
    let cols = *shape.last().unwrap_or(&1);
    let rows = shape.iter().product::<usize>() / cols.max(1);
    let (layer, init) = (
        learned(rows, cols, 0.02, ctx),
        ctx.params.get("init").and_then(|v| v.as_text().map(str::to_owned)),
    );
    Ok(Some(match init.as_deref() {
        Some("zeros") => Layer::Learned(Learned {
            value: Param::from_tensor(Tensor::zeros([rows, cols], ctx.device)),
        }),
        Some("ones") => Layer::Learned(Learned {
            value: Param::from_tensor(Tensor::ones([rows, cols], ctx.device)),
        }),
        _ => layer,
    }))
}

fn parameter_fwd(p: &StepParams, layer: Option<&Layer>, _: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Learned(l)) = layer else {
        return Err("parameter missing".into());
    };
    let dims: Vec<usize> = p.runtime_dims(0, &[]).into_iter().map(|d| d.unwrap_or(1)).collect();
    Ok(vec![Value::F2(l.value.val()).reshape(&dims)?])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "embedding",
        build: embedding_build,
        forward: embedding_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "tied_embedding",
        build: super::stateless,
        forward: tied_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "positional_learned",
        build: pos_learned_build,
        forward: pos_learned_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "positional_sinusoidal",
        build: super::stateless,
        forward: pos_sin_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "class_token",
        build: class_token_build,
        forward: class_token_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "patch_embed",
        build: patch_build,
        forward: patch_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "parameter",
        build: parameter_build,
        forward: parameter_fwd,
        decode: Decode::Never,
    },
];
