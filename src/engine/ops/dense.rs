//! Dense layers, dropout, activations, scaling.

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one, stateless};
use crate::map_float;
use burn::nn::{DropoutConfig, LinearConfig};
use burn::tensor::{Tensor, activation};

fn linear_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d_in = ctx.in_dim(0, usize::MAX)?;
    let mut cfg = LinearConfig::new(d_in, ctx.usize("out_features")).with_bias(ctx.bool("bias"));
    if ctx.text("init") == "zeros" {
        cfg = cfg.with_initializer(burn::nn::Initializer::Zeros);
    }
    Ok(Some(Layer::Linear(cfg.init(ctx.device))))
}

/// A Linear layer over `[B, T, N]` as one `[B·T, N]` product. Burn's `Linear::forward` keeps the
/// batch dimension for such shapes (a batched product against the broadcast weight), which on
/// the CPU costs about twice as much forward and backward (docs/performance.md).
pub(crate) fn linear3(l: &burn::nn::Linear, x: Tensor<3>) -> Tensor<3> {
    if !crate::engine::kernels::enabled() {
        return l.forward(x);
    }
    let [b, t, n] = x.dims();
    let y = l.forward(x.reshape([b * t, n]));
    let m = y.dims()[1];
    y.reshape([b, t, m])
}

fn linear_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Linear(l)) = layer else {
        return Err("Linear layer missing".into());
    };
    Ok(vec![match one(inputs)? {
        Value::F2(t) => Value::F2(l.forward(t)),
        Value::F3(t) => Value::F3(linear3(l, t)),
        other => return Err(format!("Linear expects [B, N] or [B, T, N], got {}", other.describe())),
    }])
}

fn dropout_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    Ok(Some(Layer::Dropout(DropoutConfig::new(ctx.float("p")).init())))
}

fn dropout_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Dropout(d)) = layer else {
        return Err("Dropout layer missing".into());
    };
    Ok(vec![map_float!(one(inputs)?, t => d.forward(t))?])
}

macro_rules! activation_op {
    ($name:ident, $t:ident, $p:ident => $e:expr) => {
        fn $name($p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
            let _ = $p;
            Ok(vec![map_float!(one(inputs)?, $t => $e)?])
        }
    };
}

activation_op!(relu, t, _p => crate::engine::kernels::relu(t));
activation_op!(gelu, t, p => if p.text("approximate") == "tanh" { activation::gelu_approximate(t) } else { crate::engine::kernels::gelu(t) });
activation_op!(silu, t, _p => activation::silu(t));
activation_op!(sigmoid, t, _p => activation::sigmoid(t));
activation_op!(tanh, t, _p => activation::tanh(t));
activation_op!(mish, t, _p => activation::mish(t));
activation_op!(elu, t, _p => t.clone().clamp_min(0.0) + t.clamp_max(0.0).exp().sub_scalar(1.0));
activation_op!(leaky_relu, t, p => activation::leaky_relu(t, p.float("slope")));
activation_op!(softmax, t, p => crate::engine::kernels::softmax(t, p.int("dim") as isize));
activation_op!(scale, t, p => t.mul_scalar(p.float("factor")));

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "linear",
        build: linear_build,
        forward: linear_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "dropout",
        build: dropout_build,
        forward: dropout_fwd,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "relu",
        build: stateless,
        forward: relu,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "gelu",
        build: stateless,
        forward: gelu,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "silu",
        build: stateless,
        forward: silu,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "sigmoid",
        build: stateless,
        forward: sigmoid,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "tanh",
        build: stateless,
        forward: tanh,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "mish",
        build: stateless,
        forward: mish,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "elu",
        build: stateless,
        forward: elu,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "leaky_relu",
        build: stateless,
        forward: leaky_relu,
        decode: Decode::Alone,
    },
    OpSpec {
        kind: "softmax",
        build: stateless,
        forward: softmax,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "scale",
        build: stateless,
        forward: scale,
        decode: Decode::Alone,
    },
];
