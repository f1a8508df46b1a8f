//! Normalisation layers.

use super::py_float;
use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::torch::{TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

fn batch_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let Some(Layer::BatchNorm(bn)) = ctx.layer else {
        return Err("its batch-norm layer is missing".into());
    };
    let c = ctx.in_dim(0, 1)?;
    let dims = match ctx.in_rank(0)? {
        2 | 3 => 1,
        _ => 2,
    };
    let p = ctx.p();
    let w = vec![
        NamedTensor::of("weight", &bn.gamma.val()),
        NamedTensor::of("bias", &bn.beta.val()),
        NamedTensor::of("running_mean", &bn.running_mean.value()),
        NamedTensor::of("running_var", &bn.running_var.value()),
    ];
    Ok(TorchNode::module(
        format!(
            "nn.BatchNorm{dims}d({c}, eps={}, momentum={})",
            py_float(p.float("eps")),
            py_float(p.float("momentum"))
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn layer_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    let p = ctx.p();
    let eps = py_float(p.float("eps"));
    if !p.bool("affine") {
        return Ok(TorchNode::expr(format!(
            "F.layer_norm({x}, ({d},), eps={eps})",
            x = ctx.x(0)?
        )));
    }
    let mut w = vec![ctx.tensor("gamma")?.named("weight")];
    let bias = p.bool("bias");
    if bias {
        w.push(ctx.tensor("beta")?.named("bias"));
    }
    Ok(TorchNode::module(
        format!("nn.LayerNorm({d}, eps={eps}{})", if bias { "" } else { ", bias=False" }),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn group_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let c = ctx.in_dim(0, 1)?;
    let p = ctx.p();
    let affine = p.bool("affine");
    let mut w = Vec::new();
    if affine {
        w.push(ctx.tensor("gamma")?.named("weight"));
        w.push(ctx.tensor("beta")?.named("bias"));
    }
    Ok(TorchNode::module(
        format!(
            "nn.GroupNorm({}, {c}, eps={}{})",
            p.int("groups").max(1),
            py_float(p.float("eps")),
            if affine { "" } else { ", affine=False" }
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn rms_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    Ok(TorchNode::module(
        format!("nn.RMSNorm({d}, eps={})", py_float(ctx.p().float("eps"))),
        format!("{}({})", ctx.module, ctx.x(0)?),
        vec![ctx.tensor("gamma")?.named("weight")],
    ))
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "batch_norm",
        torch: Some(batch_norm),
    },
    ExportSpec {
        kind: "layer_norm",
        torch: Some(layer_norm),
    },
    ExportSpec {
        kind: "group_norm",
        torch: Some(group_norm),
    },
    ExportSpec {
        kind: "rms_norm",
        torch: Some(rms_norm),
    },
];
