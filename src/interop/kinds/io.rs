//! Inputs and outputs.

use crate::interop::ExportSpec;
use crate::interop::onnx::{OnnxCtx, OnnxGraph};
use crate::interop::torch::{TorchCtx, TorchNode};

fn pass(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(ctx.x(0)?))
}

fn pass_onnx(ctx: &OnnxCtx, _: &mut OnnxGraph) -> Result<Vec<String>, String> {
    Ok(vec![ctx.x(0)?])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "input",
        torch: Some(pass),
        onnx: Some(pass_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "output",
        torch: Some(pass),
        onnx: Some(pass_onnx),
        no_onnx: "",
    },
];
