//! VAE sampling, DiT modulation, patch reassembly.

use crate::interop::ExportSpec;
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

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "reparameterize",
        torch: Some(reparameterize),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "modulate",
        torch: Some(modulate),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "gate",
        torch: Some(gate),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "unpatchify",
        torch: Some(unpatchify),
        onnx: None,
        no_onnx: "",
    },
];
