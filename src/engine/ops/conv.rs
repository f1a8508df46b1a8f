//! Convolutions and pooling.

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one, stateless};
use burn::nn::conv::{Conv1dConfig, Conv2dConfig};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

fn conv2d_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let c = ctx.in_dim(0, 1)?;
    let (k, s, p, d) = (
        ctx.usize("kernel_size"),
        ctx.usize("stride"),
        ctx.usize("padding"),
        ctx.usize("dilation"),
    );
    let cfg = Conv2dConfig::new([c, ctx.usize("out_channels")], [k, k])
        .with_stride([s, s])
        .with_dilation([d, d])
        .with_groups(ctx.usize("groups").max(1))
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(ctx.bool("bias"));
    Ok(Some(Layer::Conv2d(cfg.init(ctx.device))))
}

fn conv2d_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Conv2d(l)) = layer else {
        return Err("Conv2d layer missing".into());
    };
    let x = one(inputs)?.f4()?;
    let u = |name: &str, least: i64| p.int(name).max(least) as usize;
    let (st, pad, d, groups) = (u("stride", 1), u("padding", 0), u("dilation", 1), u("groups", 1));
    // Strata's convolution kernel on the CPU (both gradients as matrix products; the input's
    // only where something upstream is learned), Burn's elsewhere — the same numbers.
    let options = ConvOptions::new([st, st], [pad, pad], [d, d], groups);
    Ok(vec![Value::F4(crate::engine::kernels::conv2d(
        x,
        l.weight.val(),
        l.bias.as_ref().map(|b| b.val()),
        options,
    ))])
}

fn conv1d_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let c = ctx.in_dim(0, 1)?;
    let p = ctx.usize("padding");
    let cfg = Conv1dConfig::new(c, ctx.usize("out_channels"), ctx.usize("kernel_size"))
        .with_stride(ctx.usize("stride"))
        .with_dilation(ctx.usize("dilation"))
        .with_groups(ctx.usize("groups").max(1))
        .with_padding(PaddingConfig1d::Explicit(p, p))
        .with_bias(ctx.bool("bias"));
    Ok(Some(Layer::Conv1d(cfg.init(ctx.device))))
}

fn conv1d_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Conv1d(l)) = layer else {
        return Err("Conv1d layer missing".into());
    };
    Ok(vec![Value::F3(l.forward(one(inputs)?.f3()?))])
}

fn window(p: &StepParams) -> (usize, usize, usize) {
    let k = p.int("kernel_size").max(1) as usize;
    let s = match p.int("stride") {
        s if s <= 0 => k,
        s => s as usize,
    };
    (k, s, p.int("padding").max(0) as usize)
}

fn max_pool_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let (k, s, pad) = window(p);
    let opts = MaxPoolOptions {
        kernel_size: [k, k],
        stride: [s, s],
        padding: [(pad, pad); 2],
        dilation: [1, 1],
        ceil_mode: p.bool("ceil_mode"),
    };
    Ok(vec![Value::F4(crate::engine::kernels::max_pool2d(
        one(inputs)?.f4()?,
        opts,
    ))])
}

fn avg_pool_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let (k, s, pad) = window(p);
    let opts = AvgPoolOptions {
        kernel_size: [k, k],
        stride: [s, s],
        padding: [(pad, pad); 2],
        count_include_pad: true,
        ceil_mode: p.bool("ceil_mode"),
    };
    Ok(vec![Value::F4(avg_pool2d(one(inputs)?.f4()?, opts))])
}

fn adaptive_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let size = [p.int("out_h").max(1) as usize, p.int("out_w").max(1) as usize];
    Ok(vec![Value::F4(adaptive_avg_pool2d(one(inputs)?.f4()?, size))])
}

fn global_avg_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    Ok(vec![Value::F2(crate::engine::kernels::global_avg_pool(
        one(inputs)?.f4()?,
    ))])
}

fn global_max_fwd(_: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let x = one(inputs)?.f4()?;
    let [b, c, h, w] = x.dims();
    Ok(vec![Value::F2(x.reshape([b, c, h * w]).max_dim(2).reshape([b, c]))])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "conv2d",
        build: conv2d_build,
        forward: conv2d_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "conv1d",
        build: conv1d_build,
        forward: conv1d_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "max_pool2d",
        build: stateless,
        forward: max_pool_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "avg_pool2d",
        build: stateless,
        forward: avg_pool_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "adaptive_avg_pool2d",
        build: stateless,
        forward: adaptive_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "global_avg_pool",
        build: stateless,
        forward: global_avg_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "global_max_pool",
        build: stateless,
        forward: global_max_fwd,
        decode: Decode::Never,
    },
];

fn conv_t_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    use burn::nn::conv::ConvTranspose2dConfig;
    let c = ctx.in_dim(0, 1)?;
    let (k, s, p, op) = (
        ctx.usize("kernel_size"),
        ctx.usize("stride"),
        ctx.usize("padding"),
        ctx.usize("output_padding"),
    );
    let cfg = ConvTranspose2dConfig::new([c, ctx.usize("out_channels")], [k, k])
        .with_stride([s, s])
        .with_padding([p, p])
        .with_padding_out([op, op])
        .with_bias(ctx.bool("bias"));
    Ok(Some(Layer::ConvTranspose2d(cfg.init(ctx.device))))
}

fn conv_t_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::ConvTranspose2d(l)) = layer else {
        return Err("ConvTranspose2d layer missing".into());
    };
    let options =
        burn::tensor::ops::ConvTransposeOptions::new(l.stride, l.padding, l.padding_out, l.dilation, l.groups);
    Ok(vec![Value::F4(crate::engine::kernels::conv_transpose2d(
        one(inputs)?.f4()?,
        l.weight.val(),
        l.bias.as_ref().map(|b| b.val()),
        options,
    ))])
}

fn upsample_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    let x = one(inputs)?.f4()?;
    let [_, _, h, w] = x.dims();
    let f = p.int("scale").max(1) as usize;
    let mode = if p.text("mode") == "bilinear" {
        InterpolateMode::Bilinear
    } else {
        InterpolateMode::Nearest
    };
    let mut opts = InterpolateOptions::new(mode);
    opts.output_size = Some([h * f, w * f]);
    Ok(vec![Value::F4(interpolate(x, opts))])
}

/// More ops of this family.
pub const MORE_OPS: &[OpSpec] = &[
    OpSpec {
        kind: "conv_transpose2d",
        build: conv_t_build,
        forward: conv_t_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "upsample",
        build: stateless,
        forward: upsample_fwd,
        decode: Decode::Never,
    },
];
