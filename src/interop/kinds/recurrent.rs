//! RNN, LSTM and GRU: PyTorch's own modules (Strata uses their equations and layout).

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::torch::{Helper, TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

/// A recurrent module's outputs as Strata names them: every step, and the last.
pub static SEQ_AND_LAST: Helper = Helper {
    name: "seq_and_last",
    code: r#"
def seq_and_last(out):
    """A batch-first recurrent module's outputs as Strata gives them: every step, and the last step."""
    seq = out[0]
    return seq, seq[:, -1]"#,
};

fn recurrent(ctx: &TorchCtx, class: &str) -> Result<TorchNode, String> {
    let Some(Layer::Recurrent(r)) = ctx.layer else {
        return Err("its recurrent layer is missing".into());
    };
    let p = ctx.p();
    let f = ctx.in_dim(0, 2)?;
    let (h, layers, bi) = (p.int("hidden"), p.int("layers").max(1), p.bool("bidirectional"));
    let dirs = if bi { 2 } else { 1 };
    let mut w = Vec::new();
    for (i, (input, hidden)) in r.cells().enumerate() {
        let (layer, dir) = (i / dirs, i % dirs);
        let suffix = format!("l{layer}{}", if dir == 1 { "_reverse" } else { "" });
        w.push(NamedTensor::of(&format!("weight_ih_{suffix}"), &input.weight.val()).transposed());
        w.push(NamedTensor::of(&format!("weight_hh_{suffix}"), &hidden.weight.val()).transposed());
        for (name, lin) in [("ih", input), ("hh", hidden)] {
            let b = lin.bias.as_ref().ok_or("a recurrent projection has no bias")?;
            w.push(NamedTensor::of(&format!("bias_{name}_{suffix}"), &b.val()));
        }
    }
    let mut args = format!("{f}, {h}, batch_first=True");
    if layers > 1 {
        args.push_str(&format!(", num_layers={layers}"));
    }
    if bi {
        args.push_str(", bidirectional=True");
    }
    Ok(TorchNode::module(
        format!("nn.{class}({args})"),
        format!("seq_and_last({}({}))", ctx.module, ctx.x(0)?),
        w,
    )
    .with(&SEQ_AND_LAST))
}

fn rnn(ctx: &TorchCtx) -> Result<TorchNode, String> {
    recurrent(ctx, "RNN")
}
fn lstm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    recurrent(ctx, "LSTM")
}
fn gru(ctx: &TorchCtx) -> Result<TorchNode, String> {
    recurrent(ctx, "GRU")
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "rnn",
        torch: Some(rnn),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "lstm",
        torch: Some(lstm),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "gru",
        torch: Some(gru),
        onnx: None,
        no_onnx: "",
    },
];
