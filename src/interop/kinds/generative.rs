//! VAE sampling, DiT modulation, patch reassembly.

use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
use crate::interop::torch::{TorchCtx, TorchNode};

fn reparameterize(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (mu, logvar) = (ctx.x(0)?, ctx.x(1)?);
    Ok(TorchNode::expr(format!(
        "{mu} + torch.exp(0.5 * {logvar}) * torch.randn_like({mu})"
    )))
}

fn modulate(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (x, shift, scale) = (ctx.x(0)?, ctx.x(1)?, ctx.x(2)?);
    Ok(TorchNode::expr(format!(
        "{x} * (1 + {scale}[:, None, :]) + {shift}[:, None, :]"
    )))
}

fn gate(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!("{} * {}[:, None, :]", ctx.x(0)?, ctx.x(1)?)))
}

fn unpatchify(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let x = ctx.x(0)?;
    let (p, c) = (ctx.p().int("patch").max(1), ctx.p().int("channels").max(1));
    let side = {
        let n = ctx.in_dim(0, 1)?;
        (n as f64).sqrt().round() as usize
    };
    Ok(TorchNode::expr(format!(
        "{x}.reshape({x}.shape[0], {side}, {side}, {p}, {p}, {c}).permute(0, 5, 1, 3, 2, 4).reshape({x}.shape[0], {c}, {}, {})",
        side * p as usize,
        side * p as usize
    )))
}

fn reparameterize_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (mu, logvar) = (ctx.x(0)?, ctx.x(1)?);
    let half = g.scalar(0.5);
    let h = g.op1("Mul", &[&logvar, &half], vec![]);
    let sd = g.op1("Exp", &[&h], vec![]);
    let eps = g.op1("RandomNormalLike", &[&mu], vec![]);
    let noise = g.op1("Mul", &[&sd, &eps], vec![]);
    Ok(vec![g.op1("Add", &[&mu, &noise], vec![])])
}

fn modulate_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let shift = g.unsqueeze(&ctx.x(1)?, &[1]);
    let scale = g.unsqueeze(&ctx.x(2)?, &[1]);
    let one = g.scalar(1.0);
    let s1 = g.op1("Add", &[&scale, &one], vec![]);
    let m = g.op1("Mul", &[&x, &s1], vec![]);
    Ok(vec![g.op1("Add", &[&m, &shift], vec![])])
}

fn gate_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let gate = g.unsqueeze(&ctx.x(1)?, &[1]);
    Ok(vec![g.op1("Mul", &[&ctx.x(0)?, &gate], vec![])])
}

fn unpatchify_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (p, c) = (ctx.p().int("patch").max(1), ctx.p().int("channels").max(1));
    let side = (ctx.in_dim(0, 1)? as f64).sqrt().round() as i64;
    let t = g.reshape(&ctx.x(0)?, &[0, side, side, p, p, c]);
    let t = g.op1("Transpose", &[&t], vec![("perm", Attr::Ints(vec![0, 5, 1, 3, 2, 4]))]);
    Ok(vec![g.reshape(&t, &[0, c, side * p, side * p])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "reparameterize",
        torch: Some(reparameterize),
        onnx: Some(reparameterize_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "modulate",
        torch: Some(modulate),
        onnx: Some(modulate_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "gate",
        torch: Some(gate),
        onnx: Some(gate_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "unpatchify",
        torch: Some(unpatchify),
        onnx: Some(unpatchify_onnx),
        no_onnx: "",
    },
];
