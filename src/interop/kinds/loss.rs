//! Losses as nodes: each a one-element tensor, as Strata computes it.

use super::py_float;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
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

/// A one-element `[1]` tensor from a scalar.
fn one_element(g: &mut OnnxGraph, x: &str) -> String {
    g.reshape(x, &[1])
}

fn ce_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let c = ctx.in_dim(0, usize::MAX)? as i64;
    let logits = g.reshape(&ctx.x(0)?, &[-1, c]);
    let target = g.reshape(&ctx.x(1)?, &[-1]);
    let logp = g.op1("LogSoftmax", &[&logits], vec![("axis", Attr::Int(1))]);
    let nll = g.op1("NegativeLogLikelihoodLoss", &[&logp, &target], vec![]);
    let s = ctx.p().float("label_smoothing") as f32;
    let loss = if s > 0.0 {
        // (1 − s)·NLL + s·mean over classes of −log p.
        let mean = g.op1("ReduceMean", &[&logp], vec![("keepdims", Attr::Int(0))]);
        let a = g.scalar(1.0 - s);
        let b = g.scalar(-s);
        let x = g.op1("Mul", &[&nll, &a], vec![]);
        let y = g.op1("Mul", &[&mean, &b], vec![]);
        g.op1("Add", &[&x, &y], vec![])
    } else {
        nll
    };
    Ok(vec![one_element(g, &loss)])
}

fn nll_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let l = g.op1("NegativeLogLikelihoodLoss", &[&ctx.x(0)?, &ctx.x(1)?], vec![]);
    Ok(vec![one_element(g, &l)])
}

fn mse_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let d = g.op1("Sub", &[&ctx.x(0)?, &ctx.x(1)?], vec![]);
    let sq = g.op1("Mul", &[&d, &d], vec![]);
    let m = g.op1("ReduceMean", &[&sq], vec![("keepdims", Attr::Int(0))]);
    Ok(vec![one_element(g, &m)])
}

fn bce_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (x, y) = (ctx.x(0)?, ctx.x(1)?);
    let one = g.scalar(1.0);
    let (logp, log1mp) = if ctx.p().bool("with_logits") {
        // log σ(x) = −softplus(−x); log(1 − σ(x)) = −softplus(x).
        let nx = g.op1("Neg", &[&x], vec![]);
        let a = g.op1("Softplus", &[&nx], vec![]);
        let b = g.op1("Softplus", &[&x], vec![]);
        (g.op1("Neg", &[&a], vec![]), g.op1("Neg", &[&b], vec![]))
    } else {
        let lo = g.scalar(1e-7);
        let p = g.op1("Clip", &[&x, &lo, &one], vec![]);
        let q0 = g.op1("Sub", &[&one, &x], vec![]);
        let q = g.op1("Clip", &[&q0, &lo, &one], vec![]);
        (g.op1("Log", &[&p], vec![]), g.op1("Log", &[&q], vec![]))
    };
    let a = g.op1("Mul", &[&y, &logp], vec![]);
    let ny = g.op1("Sub", &[&one, &y], vec![]);
    let b = g.op1("Mul", &[&ny, &log1mp], vec![]);
    let s = g.op1("Add", &[&a, &b], vec![]);
    let m = g.op1("ReduceMean", &[&s], vec![("keepdims", Attr::Int(0))]);
    let l = g.op1("Neg", &[&m], vec![]);
    Ok(vec![one_element(g, &l)])
}

fn kl_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (mu, logvar) = (ctx.x(0)?, ctx.x(1)?);
    let one = g.scalar(1.0);
    let a = g.op1("Add", &[&logvar, &one], vec![]);
    let mu2 = g.op1("Mul", &[&mu, &mu], vec![]);
    let b = g.op1("Sub", &[&a, &mu2], vec![]);
    let e = g.op1("Exp", &[&logvar], vec![]);
    let c = g.op1("Sub", &[&b, &e], vec![]);
    let s = g.op1("ReduceSum", &[&c], vec![("keepdims", Attr::Int(0))]);
    // × −0.5 / B, with B read from the input.
    let b_dim = g.shape_slice(&mu, 0, 1);
    let bf = g.op1("Cast", &[&b_dim], vec![("to", Attr::Int(1))]);
    let k = g.scalar(-0.5);
    let num = g.op1("Mul", &[&s, &k], vec![]);
    let l = g.op1("Div", &[&num, &bf], vec![]);
    Ok(vec![one_element(g, &l)])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "cross_entropy",
        torch: Some(cross_entropy),
        onnx: Some(ce_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "nll",
        torch: Some(nll),
        onnx: Some(nll_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "mse",
        torch: Some(mse),
        onnx: Some(mse_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "bce",
        torch: Some(bce),
        onnx: Some(bce_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "kl_divergence",
        torch: Some(kl),
        onnx: Some(kl_onnx),
        no_onnx: "",
    },
];
