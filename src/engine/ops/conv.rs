//! Convolutions and pooling.

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one, stateless};
use burn::nn::conv::{Conv1dConfig, Conv2dConfig};
use burn::nn::{PaddingConfig1d, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::module::{adaptive_avg_pool2d, avg_pool2d, max_pool2d, unfold4d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions, UnfoldOptions};

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
    // While training, a convolution of data (nothing upstream is learned: the first layer)
    // needs only its weight gradient. `is_tracked`, not `is_require_grad`: the latter is false
    // for every intermediate value, which would send hidden layers down this path too and
    // make their input gradient a convolution with a one-hot kernel.
    if !x.is_tracked() && l.weight.val().is_require_grad() && p.int("groups").max(1) == 1 {
        return Ok(vec![Value::F4(conv2d_on_data(p, l, x))]);
    }
    Ok(vec![Value::F4(l.forward(x))])
}

/// A training step's convolution of data as unfolded patches times the weight matrix: the same
/// numbers as `Conv2d::forward`, but its backward pass is one batched matrix product for the
/// weight gradient. Burn's weight gradient is a convolution with the batch as its channels and
/// the whole output image as its kernel, several times slower on the CPU: LeNet-5's first layer
/// 2.48 → 0.92 ms forward + backward, the whole training step 112 → 131 steps/s
/// (docs/performance.md).
fn conv2d_on_data(p: &StepParams, l: &burn::nn::conv::Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let weight = l.weight.val();
    let [co, ci, kh, kw] = weight.dims();
    let u = |name: &str, least: i64| p.int(name).max(least) as usize;
    let (s, pad, d) = (u("stride", 1), u("padding", 0), u("dilation", 1));
    let cols = unfold4d(x, [kh, kw], UnfoldOptions::new([s, s], [pad, pad], [d, d])); // [B, Ci·Kh·Kw, L]
    let y = weight.reshape([1, co, ci * kh * kw]).matmul(cols); // [B, Co, L]
    let (ho, wo) = (
        (h + 2 * pad - d * (kh - 1) - 1) / s + 1,
        (w + 2 * pad - d * (kw - 1) - 1) / s + 1,
    );
    let y = y.reshape([b, co, ho, wo]);
    match &l.bias {
        Some(bias) => y + bias.val().reshape([1, co, 1, 1]),
        None => y,
    }
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
    Ok(vec![Value::F4(max_pool2d(one(inputs)?.f4()?, opts))])
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
    let x = one(inputs)?.f4()?;
    let [b, c, _, _] = x.dims();
    Ok(vec![Value::F2(adaptive_avg_pool2d(x, [1, 1]).reshape([b, c]))])
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
    Ok(vec![Value::F4(l.forward(one(inputs)?.f4()?))])
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
