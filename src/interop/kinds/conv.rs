//! Convolutions, transposed convolutions, upsampling and pooling.

use crate::interop::ExportSpec;
use crate::interop::torch::{TorchCtx, TorchNode};

fn conv(ctx: &TorchCtx, dims: usize) -> Result<TorchNode, String> {
    let p = ctx.p();
    let c = ctx.in_dim(0, 1)?;
    let bias = p.bool("bias");
    let mut args = format!("{c}, {}, {}", p.int("out_channels"), p.int("kernel_size"));
    for (name, default) in [("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1)] {
        if p.int(name) != default {
            args.push_str(&format!(", {name}={}", p.int(name)));
        }
    }
    if !bias {
        args.push_str(", bias=False");
    }
    let mut w = vec![ctx.tensor("weight")?];
    if bias {
        w.push(ctx.tensor("bias")?);
    }
    Ok(TorchNode::module(
        format!("nn.Conv{dims}d({args})"),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn conv1d(ctx: &TorchCtx) -> Result<TorchNode, String> {
    conv(ctx, 1)
}

fn conv2d(ctx: &TorchCtx) -> Result<TorchNode, String> {
    conv(ctx, 2)
}

fn conv_t(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let c = ctx.in_dim(0, 1)?;
    let bias = p.bool("bias");
    let mut args = format!("{c}, {}, {}", p.int("out_channels"), p.int("kernel_size"));
    for (name, default) in [("stride", 1), ("padding", 0), ("output_padding", 0)] {
        if p.int(name) != default {
            args.push_str(&format!(", {name}={}", p.int(name)));
        }
    }
    if !bias {
        args.push_str(", bias=False");
    }
    let mut w = vec![ctx.tensor("weight")?];
    if bias {
        w.push(ctx.tensor("bias")?);
    }
    Ok(TorchNode::module(
        format!("nn.ConvTranspose2d({args})"),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn upsample(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let mode = if p.text("mode") == "bilinear" {
        "bilinear\", align_corners=False"
    } else {
        "nearest\""
    };
    Ok(TorchNode::expr(format!(
        "F.interpolate({}, scale_factor={}, mode=\"{mode})",
        ctx.x(0)?,
        p.int("scale").max(1)
    )))
}

/// Window, stride (0: the window) and padding of a pooling node.
fn window(ctx: &TorchCtx) -> (i64, i64, i64) {
    let p = ctx.p();
    let k = p.int("kernel_size").max(1);
    let s = if p.int("stride") <= 0 { k } else { p.int("stride") };
    (k, s, p.int("padding").max(0))
}

fn max_pool(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (k, s, pad) = window(ctx);
    let ceil = ctx.p().bool("ceil_mode");
    Ok(TorchNode::expr(format!(
        "F.max_pool2d({}, {k}, stride={s}, padding={pad}{})",
        ctx.x(0)?,
        if ceil { ", ceil_mode=True" } else { "" }
    )))
}

fn avg_pool(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (k, s, pad) = window(ctx);
    let ceil = ctx.p().bool("ceil_mode");
    Ok(TorchNode::expr(format!(
        "F.avg_pool2d({}, {k}, stride={s}, padding={pad}{})",
        ctx.x(0)?,
        if ceil { ", ceil_mode=True" } else { "" }
    )))
}

fn adaptive(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "F.adaptive_avg_pool2d({}, ({}, {}))",
        ctx.x(0)?,
        ctx.p().int("out_h").max(1),
        ctx.p().int("out_w").max(1)
    )))
}

fn global_avg(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!("{}.mean(dim=(2, 3))", ctx.x(0)?)))
}

fn global_max(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!("{}.amax(dim=(2, 3))", ctx.x(0)?)))
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "conv1d",
        torch: Some(conv1d),
    },
    ExportSpec {
        kind: "conv2d",
        torch: Some(conv2d),
    },
    ExportSpec {
        kind: "conv_transpose2d",
        torch: Some(conv_t),
    },
    ExportSpec {
        kind: "upsample",
        torch: Some(upsample),
    },
    ExportSpec {
        kind: "max_pool2d",
        torch: Some(max_pool),
    },
    ExportSpec {
        kind: "avg_pool2d",
        torch: Some(avg_pool),
    },
    ExportSpec {
        kind: "adaptive_avg_pool2d",
        torch: Some(adaptive),
    },
    ExportSpec {
        kind: "global_avg_pool",
        torch: Some(global_avg),
    },
    ExportSpec {
        kind: "global_max_pool",
        torch: Some(global_max),
    },
];
