//! Convolutions, transposed convolutions, upsampling and pooling.

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

const CONV_PARAMS: &[ParamSpec] = &[
    int("out_channels", 16, 1, BIG, "Output channels"),
    int("kernel_size", 3, 1, 1024, "Kernel size (square)"),
    int("stride", 1, 1, 1024, "Stride"),
    int("padding", 0, 0, 1024, "Zero padding on each side"),
    int("dilation", 1, 1, 1024, "Spacing between kernel taps"),
    int(
        "groups",
        1,
        1,
        BIG,
        "Channel groups (groups = input channels: depthwise)",
    ),
    flag("bias", true, "Learn a bias per output channel"),
];

fn conv_rule(ctx: &Ctx, spatial: usize) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let layout = if spatial == 1 { "[B, C, L]" } else { "[B, C, H, W]" };
    let kind = if spatial == 1 { "Conv1d" } else { "Conv2d" };
    if x.rank() != 2 + spatial {
        let e = RuleError::at("x", format!("{kind} expects {layout} but gets {x}"));
        return Err(if spatial == 2 && x.rank() == 2 {
            e.fix("insert Reshape to [B, C, H, W]", None)
        } else {
            e
        });
    }
    let c = known(x.dims[1], "x", "channel count")?;
    let (o, k, s, p, d, g) = (
        ctx.uint("out_channels"),
        ctx.uint("kernel_size"),
        ctx.uint("stride"),
        ctx.uint("padding"),
        ctx.uint("dilation"),
        ctx.uint("groups").max(1),
    );
    if c % g != 0 || o % g != 0 {
        return Err(RuleError::new(format!(
            "groups = {g} must divide both the input channels ({c}) and out_channels ({o})"
        ))
        .fix(
            format!("set groups to 1 or to a divisor of {c}"),
            Some(FixAction::SetParam {
                name: "groups",
                value: 1i64.into(),
            }),
        ));
    }
    let mut dims = vec![x.dims[0], Dim::Known(o)];
    for i in 0..spatial {
        dims.push(window_out(x.dims[2 + i], k, s, p, d, false, "x")?);
    }
    let y = TensorType::float(dims);
    let kk = (0..spatial).try_fold(1u64, |acc, _| cm(acc, k))?;
    let per_out = cm(c / g, kk)?;
    let weights = cm(o, per_out)?;
    let bias = if ctx.bool("bias") { o } else { 0 };
    let positions = y.dims[2..].iter().fold(1u64, |a, d| a.saturating_mul(d.cost_size()));
    Ok(Inferred {
        outputs: vec![y],
        params: cs(&[weights, bias])?,
        macs: weights.saturating_mul(positions),
    })
}

fn conv1d_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    conv_rule(ctx, 1)
}

fn conv2d_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    conv_rule(ctx, 2)
}

fn conv_t_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 4 {
        return Err(RuleError::at(
            "x",
            format!("ConvTranspose2d expects [B, C, H, W] but gets {x}"),
        ));
    }
    let c = known(x.dims[1], "x", "channel count")?;
    let (o, k, s, p, op) = (
        ctx.uint("out_channels"),
        ctx.uint("kernel_size"),
        ctx.uint("stride"),
        ctx.uint("padding"),
        ctx.uint("output_padding"),
    );
    if op >= s.max(1) {
        return Err(RuleError::new(format!(
            "output_padding ({op}) must be smaller than the stride ({s})"
        )));
    }
    let mut dims = vec![x.dims[0], Dim::Known(o)];
    for i in 2..4 {
        let grown = x.dims[i]
            .offset(-1)
            .map(|d| d.times(s.max(1)))
            .and_then(|d| d.offset(k as i64 - 1 + op as i64 + 1 - 2 * p as i64))
            .ok_or_else(|| RuleError::at("x", "the output would have no size — reduce the padding"))?;
        if grown == Dim::Known(0) {
            return Err(RuleError::at("x", "the output would have no size — reduce the padding"));
        }
        dims.push(grown);
    }
    let y = TensorType::float(dims);
    let weights = cm(cm(c, o)?, cm(k, k)?)?;
    let bias = if ctx.bool("bias") { o } else { 0 };
    let positions = x.dims[2..].iter().fold(1u64, |a, d| a.saturating_mul(d.cost_size()));
    Ok(Inferred {
        outputs: vec![y],
        params: cs(&[weights, bias])?,
        macs: weights.saturating_mul(positions),
    })
}

fn upsample_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 3, "[B, C, ...spatial]")?;
    let f = ctx.uint("scale");
    let mut t = x.clone();
    for d in t.dims.iter_mut().skip(2) {
        *d = d.times(f);
    }
    let macs = t.cost_elements();
    Ok(Inferred {
        outputs: vec![t],
        params: 0,
        macs,
    })
}

fn pool_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 4 {
        return Err(RuleError::at(
            "x",
            format!("2-D pooling expects [B, C, H, W] but gets {x}"),
        ));
    }
    let k = ctx.uint("kernel_size");
    let s = match ctx.uint("stride") {
        0 => k,
        s => s,
    };
    let p = ctx.uint("padding");
    if 2 * p > k {
        return Err(RuleError::new(format!(
            "padding ({p}) must be at most half the kernel ({k})"
        )));
    }
    let ceil = ctx.bool("ceil_mode");
    let mut dims = x.dims[..2].to_vec();
    for i in 2..4 {
        dims.push(window_out(x.dims[i], k, s, p, 1, ceil, "x")?);
    }
    let y = TensorType::float(dims);
    let macs = y.cost_elements().saturating_mul(k * k);
    Ok(Inferred {
        outputs: vec![y],
        params: 0,
        macs,
    })
}

fn adaptive_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 4 {
        return Err(RuleError::at(
            "x",
            format!("adaptive pooling expects [B, C, H, W] but gets {x}"),
        ));
    }
    let y = TensorType::float(vec![
        x.dims[0],
        x.dims[1],
        Dim::Known(ctx.uint("out_h")),
        Dim::Known(ctx.uint("out_w")),
    ]);
    Ok(Inferred {
        outputs: vec![y],
        params: 0,
        macs: x.cost_elements(),
    })
}

fn global_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 3, "[B, C, ...spatial]")?;
    Ok(Inferred {
        outputs: vec![TensorType::float(x.dims[..2].to_vec())],
        params: 0,
        macs: x.cost_elements(),
    })
}

const POOL_PARAMS: &[ParamSpec] = &[
    int("kernel_size", 2, 1, 1024, "Window size"),
    int("stride", 0, 0, 1024, "Stride (0 = same as the window)"),
    int("padding", 0, 0, 512, "Padding on each side"),
    flag("ceil_mode", false, "Round the output size up"),
];

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "conv1d",
        name: "Conv1d",
        category: Category::Convolution,
        doc: "1-D convolution over [B, C, L] (sequences, audio); input channels are inferred.",
        paper: "LeCun et al., Backpropagation Applied to Handwritten Zip Code Recognition, 1989",
        params: CONV_PARAMS,
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: conv1d_rule,
    },
    LayerSpec {
        id: "conv2d",
        name: "Conv2d",
        category: Category::Convolution,
        doc: "2-D convolution over [B, C, H, W]; stride, padding, dilation, groups (depthwise when groups = C).",
        paper: "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998",
        params: CONV_PARAMS,
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: conv2d_rule,
    },
    LayerSpec {
        id: "conv_transpose2d",
        name: "ConvTranspose2d",
        category: Category::Convolution,
        doc: "Transposed (fractionally strided) convolution: learned upsampling.",
        paper: "Zeiler et al., Deconvolutional Networks, CVPR 2010",
        params: &[
            int("out_channels", 16, 1, BIG, "Output channels"),
            int("kernel_size", 2, 1, 1024, "Kernel size (square)"),
            int("stride", 2, 1, 1024, "Stride"),
            int("padding", 0, 0, 1024, "Padding removed from each side"),
            int("output_padding", 0, 0, 1023, "Extra size added on one side"),
            flag("bias", true, "Learn a bias per output channel"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: conv_t_rule,
    },
    LayerSpec {
        id: "upsample",
        name: "Upsample",
        category: Category::Convolution,
        doc: "Enlarges the spatial dims by an integer factor (nearest or bilinear).",
        paper: "",
        params: &[
            int("scale", 2, 1, 64, "Factor"),
            choice("mode", "nearest", &["nearest", "bilinear"], "Interpolation"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: upsample_rule,
    },
    LayerSpec {
        id: "max_pool2d",
        name: "MaxPool2d",
        category: Category::Pooling,
        doc: "Maximum over each window.",
        paper: "",
        params: POOL_PARAMS,
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: pool_rule,
    },
    LayerSpec {
        id: "avg_pool2d",
        name: "AvgPool2d",
        category: Category::Pooling,
        doc: "Average over each window.",
        paper: "",
        params: POOL_PARAMS,
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: pool_rule,
    },
    LayerSpec {
        id: "adaptive_avg_pool2d",
        name: "AdaptiveAvgPool2d",
        category: Category::Pooling,
        doc: "Averages into a fixed output grid whatever the input size.",
        paper: "",
        params: &[
            int("out_h", 1, 1, 4096, "Output height"),
            int("out_w", 1, 1, 4096, "Output width"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: adaptive_rule,
    },
    LayerSpec {
        id: "global_avg_pool",
        name: "Global average pool",
        category: Category::Pooling,
        doc: "Averages all spatial positions: [B, C, ...] → [B, C].",
        paper: "Lin et al., Network In Network, ICLR 2014",
        params: &[],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: global_rule,
    },
    LayerSpec {
        id: "global_max_pool",
        name: "Global max pool",
        category: Category::Pooling,
        doc: "Maximum over all spatial positions: [B, C, ...] → [B, C].",
        paper: "",
        params: &[],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: global_rule,
    },
];
