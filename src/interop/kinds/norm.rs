//! Normalisation layers.

use super::py_float;
use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
use crate::interop::torch::{TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

fn batch_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let Some(Layer::BatchNorm(bn)) = ctx.layer else {
        return Err("its batch-norm layer is missing".into());
    };
    let c = ctx.in_dim(0, 1)?;
    let dims = match ctx.in_rank(0)? {
        2 | 3 => 1,
        _ => 2,
    };
    let p = ctx.p();
    let w = vec![
        NamedTensor::of("weight", &bn.gamma.val()),
        NamedTensor::of("bias", &bn.beta.val()),
        NamedTensor::of("running_mean", &bn.running_mean.value()),
        NamedTensor::of("running_var", &bn.running_var.value()),
    ];
    Ok(TorchNode::module(
        format!(
            "nn.BatchNorm{dims}d({c}, eps={}, momentum={})",
            py_float(p.float("eps")),
            py_float(p.float("momentum"))
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn layer_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    let p = ctx.p();
    let eps = py_float(p.float("eps"));
    if !p.bool("affine") {
        return Ok(TorchNode::expr(format!(
            "F.layer_norm({x}, ({d},), eps={eps})",
            x = ctx.x(0)?
        )));
    }
    let mut w = vec![ctx.tensor("gamma")?.named("weight")];
    let bias = p.bool("bias");
    if bias {
        w.push(ctx.tensor("beta")?.named("bias"));
    }
    Ok(TorchNode::module(
        format!("nn.LayerNorm({d}, eps={eps}{})", if bias { "" } else { ", bias=False" }),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn group_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let c = ctx.in_dim(0, 1)?;
    let p = ctx.p();
    let affine = p.bool("affine");
    let mut w = Vec::new();
    if affine {
        w.push(ctx.tensor("gamma")?.named("weight"));
        w.push(ctx.tensor("beta")?.named("bias"));
    }
    Ok(TorchNode::module(
        format!(
            "nn.GroupNorm({}, {c}, eps={}{})",
            p.int("groups").max(1),
            py_float(p.float("eps")),
            if affine { "" } else { ", affine=False" }
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    ))
}

fn rms_norm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    Ok(TorchNode::module(
        format!("nn.RMSNorm({d}, eps={})", py_float(ctx.p().float("eps"))),
        format!("{}({})", ctx.module, ctx.x(0)?),
        vec![ctx.tensor("gamma")?.named("weight")],
    ))
}

fn batch_norm_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::BatchNorm(bn)) = ctx.layer else {
        return Err("its batch-norm layer is missing".into());
    };
    let scale = g.param(&format!("{}.weight", ctx.name), &NamedTensor::of("w", &bn.gamma.val()));
    let bias = g.param(&format!("{}.bias", ctx.name), &NamedTensor::of("b", &bn.beta.val()));
    // Running statistics are buffers, not parameters: constants.
    let m = NamedTensor::of("m", &bn.running_mean.value());
    let v = NamedTensor::of("v", &bn.running_var.value());
    let mean = g.const_f32(&m.dims, m.data);
    let var = g.const_f32(&v.dims, v.data);
    Ok(vec![g.op1(
        "BatchNormalization",
        &[&ctx.x(0)?, &scale, &bias, &mean, &var],
        vec![
            ("epsilon", Attr::Float(ctx.p().float("eps") as f32)),
            ("momentum", Attr::Float(1.0 - ctx.p().float("momentum") as f32)),
        ],
    )])
}

fn layer_norm_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    let (scale, bias) = match ctx.layer {
        Some(Layer::LayerNorm(l)) => (
            g.param(&format!("{}.weight", ctx.name), &NamedTensor::of("w", &l.gamma.val())),
            l.beta
                .as_ref()
                .map(|b| g.param(&format!("{}.bias", ctx.name), &NamedTensor::of("b", &b.val()))),
        ),
        _ => (g.const_f32(&[d], vec![1.0; d]), None),
    };
    let mut ins = vec![ctx.x(0)?, scale];
    ins.extend(bias);
    let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
    Ok(vec![g.op1(
        "LayerNormalization",
        &refs,
        vec![
            ("axis", Attr::Int(-1)),
            ("epsilon", Attr::Float(ctx.p().float("eps") as f32)),
        ],
    )])
}

fn group_norm_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    // Normalise [B, G, C/G·H·W] rows, then scale and shift per channel (GroupNormalization
    // arrived in opset 18 and changed in 21).
    let x = ctx.x(0)?;
    let groups = ctx.p().int("groups").max(1);
    let c = ctx.in_dim(0, 1)?;
    let rank = ctx.in_rank(0)?;
    let rows = g.reshape(&x, &[0, groups, -1]);
    let mean = g.op1(
        "ReduceMean",
        &[&rows],
        vec![("axes", Attr::Ints(vec![2])), ("keepdims", Attr::Int(1))],
    );
    let centred = g.op1("Sub", &[&rows, &mean], vec![]);
    let sq = g.op1("Mul", &[&centred, &centred], vec![]);
    let var = g.op1(
        "ReduceMean",
        &[&sq],
        vec![("axes", Attr::Ints(vec![2])), ("keepdims", Attr::Int(1))],
    );
    let eps = g.scalar(ctx.p().float("eps") as f32);
    let ve = g.op1("Add", &[&var, &eps], vec![]);
    let sd = g.op1("Sqrt", &[&ve], vec![]);
    let normed = g.op1("Div", &[&centred, &sd], vec![]);
    let shape = g.op1("Shape", &[&x], vec![]);
    let mut y = g.op1("Reshape", &[&normed, &shape], vec![]);
    if let Some(Layer::GroupNorm(gn)) = ctx.layer
        && let (Some(gamma), Some(beta)) = (&gn.gamma, &gn.beta)
    {
        let mut per = vec![c];
        per.extend(std::iter::repeat_n(1, rank - 2));
        let s = g.param(
            &format!("{}.weight", ctx.name),
            &NamedTensor::of("w", &gamma.val()).reshaped(&per),
        );
        let b = g.param(
            &format!("{}.bias", ctx.name),
            &NamedTensor::of("b", &beta.val()).reshaped(&per),
        );
        let m = g.op1("Mul", &[&y, &s], vec![]);
        y = g.op1("Add", &[&m, &b], vec![]);
    }
    Ok(vec![y])
}

fn rms_norm_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::RmsNorm(l)) = ctx.layer else {
        return Err("its RMS-norm layer is missing".into());
    };
    let x = ctx.x(0)?;
    let sq = g.op1("Mul", &[&x, &x], vec![]);
    let ms = g.op1(
        "ReduceMean",
        &[&sq],
        vec![("axes", Attr::Ints(vec![-1])), ("keepdims", Attr::Int(1))],
    );
    let eps = g.scalar(ctx.p().float("eps") as f32);
    let me = g.op1("Add", &[&ms, &eps], vec![]);
    let rms = g.op1("Sqrt", &[&me], vec![]);
    let n = g.op1("Div", &[&x, &rms], vec![]);
    let w = g.param(&format!("{}.weight", ctx.name), &NamedTensor::of("w", &l.gamma.val()));
    Ok(vec![g.op1("Mul", &[&n, &w], vec![])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "batch_norm",
        torch: Some(batch_norm),
        onnx: Some(batch_norm_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "layer_norm",
        torch: Some(layer_norm),
        onnx: Some(layer_norm_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "group_norm",
        torch: Some(group_norm),
        onnx: Some(group_norm_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "rms_norm",
        torch: Some(rms_norm),
        onnx: Some(rms_norm_onnx),
        no_onnx: "",
    },
];
