//! Shape operations and element-wise arithmetic.

use super::{axis, shape_expr};
use crate::interop::ExportSpec;
use crate::interop::torch::{Helper, TorchCtx, TorchNode};

/// Broadcasting as Strata does it: a `[B, C]` vector meets a `[B, C, H, W]` map per channel.
pub static BROADCAST: Helper = Helper {
    name: "per_channel",
    code: r#"
def per_channel(a, b):
    """A [B, C] vector against a [B, C, H, W] map: one value per channel (Strata's broadcasting)."""
    if a.dim() == 4 and b.dim() == 2:
        b = b[:, :, None, None]
    return b"#,
};

fn all_inputs(ctx: &TorchCtx) -> Result<Vec<String>, String> {
    (0..ctx.inputs.len()).map(|i| ctx.x(i)).collect()
}

fn elementwise(ctx: &TorchCtx, op: &str) -> Result<TorchNode, String> {
    let xs = all_inputs(ctx)?;
    let r0 = ctx.in_rank(0)?;
    let mut node = TorchNode::default();
    let mut parts = vec![xs[0].clone()];
    for (i, x) in xs.iter().enumerate().skip(1) {
        if r0 == 4 && ctx.in_rank(i)? == 2 {
            parts.push(format!("per_channel({}, {x})", xs[0]));
            node.helpers.push(&BROADCAST);
        } else {
            parts.push(x.clone());
        }
    }
    node.expr = parts.join(&format!(" {op} "));
    Ok(node)
}

fn add(ctx: &TorchCtx) -> Result<TorchNode, String> {
    elementwise(ctx, "+")
}

fn multiply(ctx: &TorchCtx) -> Result<TorchNode, String> {
    elementwise(ctx, "*")
}

fn concat(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "torch.cat([{}], dim={})",
        all_inputs(ctx)?.join(", "),
        ctx.p().int("dim")
    )))
}

fn mean(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.mean(dim={}{})",
        ctx.x(0)?,
        ctx.p().int("dim"),
        if ctx.p().bool("keepdim") { ", keepdim=True" } else { "" }
    )))
}

fn flatten(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "torch.flatten({}, {}, {})",
        ctx.x(0)?,
        ctx.p().int("start_dim"),
        ctx.p().int("end_dim")
    )))
}

fn reshape(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let x = ctx.x(0)?;
    Ok(TorchNode::expr(format!("{x}.reshape{}", shape_expr(ctx, &x, 0)?)))
}

fn transpose(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.transpose({}, {})",
        ctx.x(0)?,
        ctx.p().int("dim0"),
        ctx.p().int("dim1")
    )))
}

fn permute(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let r = ctx.in_rank(0)?;
    let dims: Vec<String> = ctx.p().ints("dims").iter().map(|&d| axis(d, r).to_string()).collect();
    Ok(TorchNode::expr(format!("{}.permute({})", ctx.x(0)?, dims.join(", "))))
}

fn squeeze(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.squeeze({})",
        ctx.x(0)?,
        ctx.p().int("dim")
    )))
}

fn unsqueeze(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.unsqueeze({})",
        ctx.x(0)?,
        ctx.p().int("dim")
    )))
}

fn select(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.select({}, {})",
        ctx.x(0)?,
        ctx.p().int("dim"),
        ctx.p().int("index")
    )))
}

fn slice(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.narrow({}, {}, {})",
        ctx.x(0)?,
        ctx.p().int("dim"),
        ctx.p().int("start"),
        ctx.p().int("length")
    )))
}

fn split(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "{}.chunk({}, dim={})",
        ctx.x(0)?,
        ctx.p().int("parts").max(1),
        ctx.p().int("dim")
    )))
}

fn matmul(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (a, b) = (ctx.x(0)?, ctx.x(1)?);
    Ok(TorchNode::expr(if ctx.p().bool("transpose_b") {
        format!("torch.matmul({a}, {b}.transpose(-1, -2))")
    } else {
        format!("torch.matmul({a}, {b})")
    }))
}

pub static CROP: Helper = Helper {
    name: "crop_to",
    code: r#"
def crop_to(x, like):
    """The centre of x with like's height and width (U-Net's skip connections)."""
    h, w = x.shape[2], x.shape[3]
    th, tw = like.shape[2], like.shape[3]
    top, left = (h - th) // 2, (w - tw) // 2
    return x[:, :, top:top + th, left:left + tw]"#,
};

fn crop_to(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!("crop_to({}, {})", ctx.x(0)?, ctx.x(1)?)).with(&CROP))
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "add",
        torch: Some(add),
    },
    ExportSpec {
        kind: "multiply",
        torch: Some(multiply),
    },
    ExportSpec {
        kind: "concat",
        torch: Some(concat),
    },
    ExportSpec {
        kind: "mean",
        torch: Some(mean),
    },
    ExportSpec {
        kind: "flatten",
        torch: Some(flatten),
    },
    ExportSpec {
        kind: "reshape",
        torch: Some(reshape),
    },
    ExportSpec {
        kind: "transpose",
        torch: Some(transpose),
    },
    ExportSpec {
        kind: "permute",
        torch: Some(permute),
    },
    ExportSpec {
        kind: "squeeze",
        torch: Some(squeeze),
    },
    ExportSpec {
        kind: "unsqueeze",
        torch: Some(unsqueeze),
    },
    ExportSpec {
        kind: "select",
        torch: Some(select),
    },
    ExportSpec {
        kind: "slice",
        torch: Some(slice),
    },
    ExportSpec {
        kind: "split",
        torch: Some(split),
    },
    ExportSpec {
        kind: "matmul",
        torch: Some(matmul),
    },
    ExportSpec {
        kind: "crop_to",
        torch: Some(crop_to),
    },
];
