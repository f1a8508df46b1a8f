//! Shape operations and element-wise arithmetic.

use super::{axis, shape_expr};
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
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

fn elementwise_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph, op: &str) -> Result<Vec<String>, String> {
    let r0 = ctx.in_rank(0)?;
    let mut acc = ctx.x(0)?;
    for i in 1..ctx.inputs.len() {
        let mut x = ctx.x(i)?;
        if r0 == 4 && ctx.in_rank(i)? == 2 {
            x = g.unsqueeze(&x, &[2, 3]);
        }
        acc = g.op1(op, &[&acc, &x], vec![]);
    }
    Ok(vec![acc])
}

fn add_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    elementwise_onnx(ctx, g, "Add")
}

fn mul_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    elementwise_onnx(ctx, g, "Mul")
}

fn concat_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let xs = all_inputs_onnx(ctx)?;
    let refs: Vec<&str> = xs.iter().map(String::as_str).collect();
    Ok(vec![g.op1(
        "Concat",
        &refs,
        vec![("axis", Attr::Int(ctx.p().int("dim")))],
    )])
}

fn all_inputs_onnx(ctx: &OnnxCtx) -> Result<Vec<String>, String> {
    (0..ctx.inputs.len()).map(|i| ctx.x(i)).collect()
}

fn mean_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    Ok(vec![g.op1(
        "ReduceMean",
        &[&ctx.x(0)?],
        vec![
            ("axes", Attr::Ints(vec![ctx.p().int("dim")])),
            ("keepdims", Attr::Int(i64::from(ctx.p().bool("keepdim")))),
        ],
    )])
}

fn reshape_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let target = ctx.reshape_target(0)?;
    Ok(vec![g.reshape(&ctx.x(0)?, &target)])
}

fn flatten_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let r = ctx.in_rank(0)? as i64;
    let (s, e) = (
        axis(ctx.p().int("start_dim"), r as usize),
        axis(ctx.p().int("end_dim"), r as usize),
    );
    if s == 1 && e == r - 1 {
        return Ok(vec![g.op1("Flatten", &[&ctx.x(0)?], vec![("axis", Attr::Int(1))])]);
    }
    reshape_onnx(ctx, g)
}

fn transpose_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let r = ctx.in_rank(0)?;
    let (a, b) = (axis(ctx.p().int("dim0"), r), axis(ctx.p().int("dim1"), r));
    let mut perm: Vec<i64> = (0..r as i64).collect();
    perm.swap(a as usize, b as usize);
    Ok(vec![g.op1(
        "Transpose",
        &[&ctx.x(0)?],
        vec![("perm", Attr::Ints(perm))],
    )])
}

fn permute_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let r = ctx.in_rank(0)?;
    let perm: Vec<i64> = ctx.p().ints("dims").iter().map(|&d| axis(d, r)).collect();
    Ok(vec![g.op1(
        "Transpose",
        &[&ctx.x(0)?],
        vec![("perm", Attr::Ints(perm))],
    )])
}

fn squeeze_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let a = g.const_i64(&[ctx.p().int("dim")]);
    Ok(vec![g.op1("Squeeze", &[&ctx.x(0)?, &a], vec![])])
}

fn unsqueeze_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    Ok(vec![g.unsqueeze(&ctx.x(0)?, &[ctx.p().int("dim")])])
}

fn select_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let i = g.scalar_i64(ctx.p().int("index"));
    Ok(vec![g.op1(
        "Gather",
        &[&ctx.x(0)?, &i],
        vec![("axis", Attr::Int(ctx.p().int("dim")))],
    )])
}

fn slice_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (s, l) = (ctx.p().int("start"), ctx.p().int("length"));
    let starts = g.const_i64(&[s]);
    let ends = g.const_i64(&[s + l]);
    let axes = g.const_i64(&[ctx.p().int("dim")]);
    Ok(vec![g.op1("Slice", &[&ctx.x(0)?, &starts, &ends, &axes], vec![])])
}

fn split_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let r = ctx.in_rank(0)?;
    let a = axis(ctx.p().int("dim"), r);
    let parts = ctx.p().int("parts").max(1) as usize;
    let n = ctx.in_dim(0, a as usize)?;
    // Burn's chunk: equal parts of ceil(n / parts), the last one shorter.
    let size = n.div_ceil(parts);
    let sizes: Vec<i64> = (0..parts)
        .map(|k| (n.saturating_sub(k * size)).min(size) as i64)
        .collect();
    let sizes_c = g.const_i64(&sizes);
    Ok(g.op("Split", &[&ctx.x(0)?, &sizes_c], parts, vec![("axis", Attr::Int(a))]))
}

fn matmul_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (a, mut b) = (ctx.x(0)?, ctx.x(1)?);
    if ctx.p().bool("transpose_b") {
        let r = ctx.in_rank(1)?;
        let mut perm: Vec<i64> = (0..r as i64).collect();
        perm.swap(r - 1, r - 2);
        b = g.op1("Transpose", &[&b], vec![("perm", Attr::Ints(perm))]);
    }
    Ok(vec![g.op1("MatMul", &[&a, &b], vec![])])
}

fn crop_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (h, w) = (ctx.in_dim(0, 2)? as i64, ctx.in_dim(0, 3)? as i64);
    let (th, tw) = (ctx.in_dim(1, 2)? as i64, ctx.in_dim(1, 3)? as i64);
    let (top, left) = ((h - th) / 2, (w - tw) / 2);
    let starts = g.const_i64(&[top, left]);
    let ends = g.const_i64(&[top + th, left + tw]);
    let axes = g.const_i64(&[2, 3]);
    Ok(vec![g.op1("Slice", &[&ctx.x(0)?, &starts, &ends, &axes], vec![])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "add",
        torch: Some(add),
        onnx: Some(add_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "multiply",
        torch: Some(multiply),
        onnx: Some(mul_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "concat",
        torch: Some(concat),
        onnx: Some(concat_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "mean",
        torch: Some(mean),
        onnx: Some(mean_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "flatten",
        torch: Some(flatten),
        onnx: Some(flatten_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "reshape",
        torch: Some(reshape),
        onnx: Some(reshape_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "transpose",
        torch: Some(transpose),
        onnx: Some(transpose_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "permute",
        torch: Some(permute),
        onnx: Some(permute_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "squeeze",
        torch: Some(squeeze),
        onnx: Some(squeeze_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "unsqueeze",
        torch: Some(unsqueeze),
        onnx: Some(unsqueeze_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "select",
        torch: Some(select),
        onnx: Some(select_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "slice",
        torch: Some(slice),
        onnx: Some(slice_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "split",
        torch: Some(split),
        onnx: Some(split_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "matmul",
        torch: Some(matmul),
        onnx: Some(matmul_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "crop_to",
        torch: Some(crop_to),
        onnx: Some(crop_onnx),
        no_onnx: "",
    },
];
