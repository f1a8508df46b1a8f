//! Convolutions, transposed convolutions, upsampling and pooling.

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
use crate::interop::torch::{TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

/// A convolution module `class` with the node's sizes; `options` are the keyword parameters
/// (with PyTorch's defaults, left out when the node has them).
fn conv_module(ctx: &TorchCtx, class: &str, options: &[(&str, i64)]) -> Result<TorchNode, String> {
    let p = ctx.p();
    let c = ctx.in_dim(0, 1)?;
    let bias = p.bool("bias");
    let mut args = format!("{c}, {}, {}", p.int("out_channels"), p.int("kernel_size"));
    for &(name, default) in options {
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
        format!("nn.{class}({args})"),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

const CONV_OPTIONS: &[(&str, i64)] = &[("stride", 1), ("padding", 0), ("dilation", 1), ("groups", 1)];

fn conv1d(ctx: &TorchCtx) -> Result<TorchNode, String> {
    conv_module(ctx, "Conv1d", CONV_OPTIONS)
}

fn conv2d(ctx: &TorchCtx) -> Result<TorchNode, String> {
    conv_module(ctx, "Conv2d", CONV_OPTIONS)
}

fn conv_t(ctx: &TorchCtx) -> Result<TorchNode, String> {
    conv_module(
        ctx,
        "ConvTranspose2d",
        &[("stride", 1), ("padding", 0), ("output_padding", 0)],
    )
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

fn conv_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (weight, bias) = match ctx.layer {
        Some(Layer::Conv2d(c)) => (
            NamedTensor::of("w", &c.weight.val()),
            c.bias.as_ref().map(|b| NamedTensor::of("b", &b.val())),
        ),
        Some(Layer::Conv1d(c)) => (
            NamedTensor::of("w", &c.weight.val()),
            c.bias.as_ref().map(|b| NamedTensor::of("b", &b.val())),
        ),
        _ => return Err("its convolution layer is missing".into()),
    };
    let p = ctx.p();
    let spatial = weight.dims.len() - 2;
    let k = p.int("kernel_size");
    let w = g.param(&format!("{}.weight", ctx.name), &weight);
    let mut ins = vec![ctx.x(0)?, w];
    if let Some(b) = bias {
        ins.push(g.param(&format!("{}.bias", ctx.name), &b));
    }
    let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
    Ok(vec![g.op1(
        "Conv",
        &refs,
        vec![
            ("kernel_shape", Attr::Ints(vec![k; spatial])),
            ("strides", Attr::Ints(vec![p.int("stride"); spatial])),
            ("pads", Attr::Ints(vec![p.int("padding"); 2 * spatial])),
            ("dilations", Attr::Ints(vec![p.int("dilation"); spatial])),
            ("group", Attr::Int(p.int("groups").max(1))),
        ],
    )])
}

fn conv_t_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::ConvTranspose2d(c)) = ctx.layer else {
        return Err("its convolution layer is missing".into());
    };
    let p = ctx.p();
    let k = p.int("kernel_size");
    let w = g.param(&format!("{}.weight", ctx.name), &NamedTensor::of("w", &c.weight.val()));
    let mut ins = vec![ctx.x(0)?, w];
    if let Some(b) = &c.bias {
        ins.push(g.param(&format!("{}.bias", ctx.name), &NamedTensor::of("b", &b.val())));
    }
    let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
    Ok(vec![g.op1(
        "ConvTranspose",
        &refs,
        vec![
            ("kernel_shape", Attr::Ints(vec![k; 2])),
            ("strides", Attr::Ints(vec![p.int("stride"); 2])),
            ("pads", Attr::Ints(vec![p.int("padding"); 4])),
            ("output_padding", Attr::Ints(vec![p.int("output_padding"); 2])),
        ],
    )])
}

fn upsample_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let f = ctx.p().int("scale").max(1) as f32;
    let scales = g.const_f32(&[4], vec![1.0, 1.0, f, f]);
    let bilinear = ctx.p().text("mode") == "bilinear";
    let mut attrs = vec![(
        "coordinate_transformation_mode",
        Attr::Str(if bilinear { "half_pixel" } else { "asymmetric" }.into()),
    )];
    if bilinear {
        attrs.push(("mode", Attr::Str("linear".into())));
    } else {
        attrs.push(("mode", Attr::Str("nearest".into())));
        attrs.push(("nearest_mode", Attr::Str("floor".into())));
    }
    Ok(vec![g.op1("Resize", &[&ctx.x(0)?, "", &scales], attrs)])
}

fn pool_attrs(ctx: &OnnxCtx) -> Vec<(&'static str, Attr)> {
    let (k, s, pad) = (
        ctx.p().int("kernel_size").max(1),
        match ctx.p().int("stride") {
            s if s <= 0 => ctx.p().int("kernel_size").max(1),
            s => s,
        },
        ctx.p().int("padding").max(0),
    );
    vec![
        ("kernel_shape", Attr::Ints(vec![k, k])),
        ("strides", Attr::Ints(vec![s, s])),
        ("pads", Attr::Ints(vec![pad; 4])),
        ("ceil_mode", Attr::Int(i64::from(ctx.p().bool("ceil_mode")))),
    ]
}

fn max_pool_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    Ok(vec![g.op1("MaxPool", &[&ctx.x(0)?], pool_attrs(ctx))])
}

fn avg_pool_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let mut attrs = pool_attrs(ctx);
    attrs.push(("count_include_pad", Attr::Int(1)));
    Ok(vec![g.op1("AveragePool", &[&ctx.x(0)?], attrs)])
}

fn adaptive_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (h, w) = (ctx.in_dim(0, 2)?, ctx.in_dim(0, 3)?);
    let (oh, ow) = (
        ctx.p().int("out_h").max(1) as usize,
        ctx.p().int("out_w").max(1) as usize,
    );
    let x = ctx.x(0)?;
    if oh == 1 && ow == 1 {
        return Ok(vec![g.op1("GlobalAveragePool", &[&x], vec![])]);
    }
    if h % oh != 0 || w % ow != 0 {
        return Err(format!(
            "adaptive pooling from {h}×{w} to {oh}×{ow} has uneven windows, which ONNX cannot express (make the input a multiple of the output)"
        ));
    }
    let (kh, kw) = ((h / oh) as i64, (w / ow) as i64);
    Ok(vec![g.op1(
        "AveragePool",
        &[&x],
        vec![
            ("kernel_shape", Attr::Ints(vec![kh, kw])),
            ("strides", Attr::Ints(vec![kh, kw])),
        ],
    )])
}

fn global_avg_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let p = g.op1("GlobalAveragePool", &[&ctx.x(0)?], vec![]);
    Ok(vec![g.op1("Flatten", &[&p], vec![("axis", Attr::Int(1))])])
}

fn global_max_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let p = g.op1("GlobalMaxPool", &[&ctx.x(0)?], vec![]);
    Ok(vec![g.op1("Flatten", &[&p], vec![("axis", Attr::Int(1))])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "conv1d",
        torch: Some(conv1d),
        onnx: Some(conv_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "conv2d",
        torch: Some(conv2d),
        onnx: Some(conv_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "conv_transpose2d",
        torch: Some(conv_t),
        onnx: Some(conv_t_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "upsample",
        torch: Some(upsample),
        onnx: Some(upsample_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "max_pool2d",
        torch: Some(max_pool),
        onnx: Some(max_pool_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "avg_pool2d",
        torch: Some(avg_pool),
        onnx: Some(avg_pool_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "adaptive_avg_pool2d",
        torch: Some(adaptive),
        onnx: Some(adaptive_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "global_avg_pool",
        torch: Some(global_avg),
        onnx: Some(global_avg_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "global_max_pool",
        torch: Some(global_max),
        onnx: Some(global_max_onnx),
        no_onnx: "",
    },
];
