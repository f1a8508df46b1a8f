//! Normalisation layers.

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one};
use crate::map_float;
use burn::nn::{BatchNormConfig, LayerNormConfig};

fn batch_norm_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let c = ctx.in_dim(0, 1)?;
    let cfg = BatchNormConfig::new(c)
        .with_epsilon(ctx.float("eps"))
        .with_momentum(ctx.float("momentum"));
    Ok(Some(Layer::BatchNorm(cfg.init(ctx.device))))
}

fn batch_norm_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::BatchNorm(l)) = layer else {
        return Err("BatchNorm layer missing".into());
    };
    Ok(vec![
        map_float!(one(inputs)?, t => crate::engine::kernels::batch_norm(t, l))?,
    ])
}

fn layer_norm_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    if !ctx.bool("affine") {
        return Ok(None); // plain normalisation, no parameters (DiT)
    }
    let cfg = LayerNormConfig::new(d)
        .with_epsilon(ctx.float("eps"))
        .with_bias(ctx.bool("bias"));
    Ok(Some(Layer::LayerNorm(cfg.init(ctx.device))))
}

fn layer_norm_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    match layer {
        Some(Layer::LayerNorm(l)) => Ok(vec![map_float!(one(inputs)?, t => l.forward(t))?]),
        _ => {
            // Plain normalisation without parameters (DiT's adaLN).
            let eps = p.float("eps");
            Ok(vec![map_float!(one(inputs)?, t => {
                let last = t.dims().len() - 1;
                let mean = t.clone().mean_dim(last);
                let centred = t - mean;
                let var = centred.clone().powi_scalar(2).mean_dim(last);
                centred / var.add_scalar(eps).sqrt()
            })?])
        }
    }
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "batch_norm",
        build: batch_norm_build,
        forward: batch_norm_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "layer_norm",
        build: layer_norm_build,
        forward: layer_norm_fwd,
        decode: Decode::Alone,
    },
];

fn rms_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let cfg = burn::nn::RmsNormConfig::new(ctx.in_dim(0, usize::MAX)?).with_epsilon(ctx.float("eps"));
    Ok(Some(Layer::RmsNorm(cfg.init(ctx.device))))
}

fn rms_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::RmsNorm(l)) = layer else {
        return Err("RMSNorm layer missing".into());
    };
    Ok(vec![map_float!(one(inputs)?, t => l.forward(t))?])
}

fn group_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let cfg = burn::nn::GroupNormConfig::new(ctx.usize("groups").max(1), ctx.in_dim(0, 1)?)
        .with_epsilon(ctx.float("eps"))
        .with_affine(ctx.bool("affine"));
    Ok(Some(Layer::GroupNorm(cfg.init(ctx.device))))
}

fn group_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::GroupNorm(l)) = layer else {
        return Err("GroupNorm layer missing".into());
    };
    Ok(vec![
        map_float!(one(inputs)?, t => crate::engine::kernels::group_norm(t, l))?,
    ])
}

/// More ops of this family.
pub const MORE_OPS: &[OpSpec] = &[
    OpSpec {
        kind: "rms_norm",
        build: rms_build,
        forward: rms_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "group_norm",
        build: group_build,
        forward: group_fwd,
        decode: Decode::Never,
    },
];
