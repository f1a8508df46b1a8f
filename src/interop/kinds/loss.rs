//! Losses as nodes: each a one-element tensor, as Strata computes it.

use super::py_float;
use crate::interop::ExportSpec;
use crate::interop::torch::{TorchCtx, TorchNode};

fn cross_entropy(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (x, t) = (ctx.x(0)?, ctx.x(1)?);
    let s = ctx.p().float("label_smoothing");
    let smoothing = if s > 0.0 {
        format!(", label_smoothing={}", py_float(s))
    } else {
        String::new()
    };
    Ok(TorchNode::expr(format!(
        "F.cross_entropy({x}.reshape(-1, {x}.shape[-1]), {t}.reshape(-1){smoothing}).reshape(1)"
    )))
}

fn nll(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "F.nll_loss({}, {}).reshape(1)",
        ctx.x(0)?,
        ctx.x(1)?
    )))
}

fn mse(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "F.mse_loss({}, {}).reshape(1)",
        ctx.x(0)?,
        ctx.x(1)?
    )))
}

fn bce(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (x, y) = (ctx.x(0)?, ctx.x(1)?);
    Ok(TorchNode::expr(if ctx.p().bool("with_logits") {
        format!("F.binary_cross_entropy_with_logits({x}, {y}).reshape(1)")
    } else {
        format!(
            "-({y} * torch.log({x}.clamp(1e-7, 1.0)) + (1 - {y}) * torch.log((1 - {x}).clamp(1e-7, 1.0))).mean().reshape(1)"
        )
    }))
}

fn kl(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (mu, logvar) = (ctx.x(0)?, ctx.x(1)?);
    Ok(TorchNode::expr(format!(
        "(-0.5 / {mu}.shape[0] * (1 + {logvar} - {mu} ** 2 - torch.exp({logvar})).sum()).reshape(1)"
    )))
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "cross_entropy",
        torch: Some(cross_entropy),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "nll",
        torch: Some(nll),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "mse",
        torch: Some(mse),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "bce",
        torch: Some(bce),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "kl_divergence",
        torch: Some(kl),
        onnx: None,
        no_onnx: "",
    },
];
