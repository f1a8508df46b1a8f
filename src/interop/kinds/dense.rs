//! Dense layers, dropout, activations, scaling.

use super::py_float;
use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
use crate::interop::torch::{TorchCtx, TorchNode};

fn linear(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d_in = ctx.in_dim(0, usize::MAX)?;
    let out = ctx.p().int("out_features");
    let bias = ctx.p().bool("bias");
    let mut w = vec![ctx.tensor("weight")?.transposed()];
    if bias {
        w.push(ctx.tensor("bias")?);
    }
    let ctor = if bias {
        format!("nn.Linear({d_in}, {out})")
    } else {
        format!("nn.Linear({d_in}, {out}, bias=False)")
    };
    Ok(TorchNode::module(ctor, format!("{}({})", ctx.module, ctx.x(0)?), w))
}

fn dropout(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::module(
        format!("nn.Dropout({})", py_float(ctx.p().float("p"))),
        format!("{}({})", ctx.module, ctx.x(0)?),
        vec![],
    ))
}

macro_rules! functional {
    ($name:ident, $ctx:ident => $e:expr) => {
        fn $name($ctx: &TorchCtx) -> Result<TorchNode, String> {
            Ok(TorchNode::expr($e))
        }
    };
}

functional!(identity, c => c.x(0)?);
functional!(relu, c => format!("F.relu({})", c.x(0)?));
functional!(gelu, c => if c.p().text("approximate") == "tanh" {
    format!("F.gelu({}, approximate=\"tanh\")", c.x(0)?)
} else {
    format!("F.gelu({})", c.x(0)?)
});
functional!(silu, c => format!("F.silu({})", c.x(0)?));
functional!(sigmoid, c => format!("torch.sigmoid({})", c.x(0)?));
functional!(tanh, c => format!("torch.tanh({})", c.x(0)?));
functional!(mish, c => format!("F.mish({})", c.x(0)?));
functional!(elu, c => format!("F.elu({})", c.x(0)?));
functional!(leaky_relu, c => format!("F.leaky_relu({}, {})", c.x(0)?, py_float(c.p().float("slope"))));
functional!(softmax, c => format!("F.softmax({}, dim={})", c.x(0)?, c.p().int("dim")));
functional!(scale, c => format!("{} * {}", c.x(0)?, py_float(c.p().float("factor"))));

fn linear_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Linear(l)) = ctx.layer else {
        return Err("its linear layer is missing".into());
    };
    Ok(vec![g.linear(&ctx.x(0)?, &ctx.name, l)])
}

fn identity_onnx(ctx: &OnnxCtx, _: &mut OnnxGraph) -> Result<Vec<String>, String> {
    Ok(vec![ctx.x(0)?])
}

fn unary(ctx: &OnnxCtx, g: &mut OnnxGraph, op: &str, attrs: Vec<(&str, Attr)>) -> Result<Vec<String>, String> {
    Ok(vec![g.op1(op, &[&ctx.x(0)?], attrs)])
}

fn relu_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    unary(ctx, g, "Relu", vec![])
}

fn sigmoid_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    unary(ctx, g, "Sigmoid", vec![])
}

fn tanh_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    unary(ctx, g, "Tanh", vec![])
}

fn elu_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    unary(ctx, g, "Elu", vec![("alpha", Attr::Float(1.0))])
}

fn leaky_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    unary(
        ctx,
        g,
        "LeakyRelu",
        vec![("alpha", Attr::Float(ctx.p().float("slope") as f32))],
    )
}

fn softmax_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    unary(ctx, g, "Softmax", vec![("axis", Attr::Int(ctx.p().int("dim")))])
}

fn silu_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let s = g.op1("Sigmoid", &[&x], vec![]);
    Ok(vec![g.op1("Mul", &[&x, &s], vec![])])
}

fn mish_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let sp = g.op1("Softplus", &[&x], vec![]);
    let t = g.op1("Tanh", &[&sp], vec![]);
    Ok(vec![g.op1("Mul", &[&x, &t], vec![])])
}

fn gelu_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let inner = if ctx.p().text("approximate") == "tanh" {
        // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
        let three = g.scalar(3.0);
        let cube = g.op1("Pow", &[&x, &three], vec![]);
        let c = g.scalar(0.044715);
        let t = g.op1("Mul", &[&cube, &c], vec![]);
        let s = g.op1("Add", &[&x, &t], vec![]);
        let k = g.scalar((2.0 / std::f32::consts::PI).sqrt());
        let u = g.op1("Mul", &[&s, &k], vec![]);
        g.op1("Tanh", &[&u], vec![])
    } else {
        // 0.5 x (1 + erf(x / √2))
        let k = g.scalar(std::f32::consts::FRAC_1_SQRT_2);
        let u = g.op1("Mul", &[&x, &k], vec![]);
        g.op1("Erf", &[&u], vec![])
    };
    let one = g.scalar(1.0);
    let a = g.op1("Add", &[&inner, &one], vec![]);
    let half = g.scalar(0.5);
    let h = g.op1("Mul", &[&x, &half], vec![]);
    Ok(vec![g.op1("Mul", &[&h, &a], vec![])])
}

fn scale_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let f = g.scalar(ctx.p().float("factor") as f32);
    Ok(vec![g.op1("Mul", &[&ctx.x(0)?, &f], vec![])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "linear",
        torch: Some(linear),
        onnx: Some(linear_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "dropout",
        torch: Some(dropout),
        onnx: Some(identity_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "identity",
        torch: Some(identity),
        onnx: Some(identity_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "relu",
        torch: Some(relu),
        onnx: Some(relu_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "gelu",
        torch: Some(gelu),
        onnx: Some(gelu_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "silu",
        torch: Some(silu),
        onnx: Some(silu_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "sigmoid",
        torch: Some(sigmoid),
        onnx: Some(sigmoid_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "tanh",
        torch: Some(tanh),
        onnx: Some(tanh_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "mish",
        torch: Some(mish),
        onnx: Some(mish_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "elu",
        torch: Some(elu),
        onnx: Some(elu_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "leaky_relu",
        torch: Some(leaky_relu),
        onnx: Some(leaky_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "softmax",
        torch: Some(softmax),
        onnx: Some(softmax_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "scale",
        torch: Some(scale),
        onnx: Some(scale_onnx),
        no_onnx: "",
    },
];
