//! RNN, LSTM and GRU: PyTorch's own modules (Strata uses their equations and layout).

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
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

/// ONNX's RNN, LSTM or GRU per layer (batch-first layout, opset 14+). `order` maps ONNX's gate
/// blocks to PyTorch's (which Strata uses): LSTM iofc ← ifgo, GRU zrh ← rzn.
fn recurrent_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph, op: &str, order: &[usize]) -> Result<Vec<String>, String> {
    let Some(Layer::Recurrent(r)) = ctx.layer else {
        return Err("its recurrent layer is missing".into());
    };
    let p = ctx.p();
    let h = p.int("hidden").max(1) as usize;
    let dirs = if p.bool("bidirectional") { 2 } else { 1 };
    let cells: Vec<_> = r.cells().collect();
    let gates = order.len();
    // Rows of a [G·H, in] matrix in ONNX's gate order.
    let reorder = |t: NamedTensor| -> NamedTensor {
        let cols = t.data.len() / (gates * h);
        let mut data = Vec::with_capacity(t.data.len());
        for &k in order {
            data.extend_from_slice(&t.data[k * h * cols..(k + 1) * h * cols]);
        }
        NamedTensor { data, ..t }
    };
    // onnxruntime runs only the time-major layout: [T, B, F] in, Y [T, dirs, B, H] out.
    let mut x = g.op1("Transpose", &[&ctx.x(0)?], vec![("perm", Attr::Ints(vec![1, 0, 2]))]);
    for (layer, pair) in cells.chunks(dirs).enumerate() {
        let (mut w, mut rr, mut b) = (Vec::new(), Vec::new(), Vec::new());
        let mut in_size = 0;
        for (input, hidden) in pair {
            let wi = reorder(NamedTensor::of("w", &input.weight.val()).transposed());
            in_size = wi.dims[1];
            w.extend(wi.data);
            rr.extend(reorder(NamedTensor::of("r", &hidden.weight.val()).transposed()).data);
            for lin in [input, hidden] {
                let bias = lin.bias.as_ref().ok_or("a recurrent projection has no bias")?;
                b.extend(reorder(NamedTensor::of("b", &bias.val()).reshaped(&[gates * h, 1])).data);
            }
        }
        let name = format!("{}.l{layer}", ctx.name);
        let tensor = |dims: Vec<usize>, data: Vec<f32>| NamedTensor {
            name: String::new(),
            dims,
            data,
        };
        let wn = g.param(&format!("{name}.W"), &tensor(vec![dirs, gates * h, in_size], w));
        let rn = g.param(&format!("{name}.R"), &tensor(vec![dirs, gates * h, h], rr));
        let bn = g.param(&format!("{name}.B"), &tensor(vec![dirs, 2 * gates * h], b));
        let mut attrs = vec![
            ("hidden_size", Attr::Int(h as i64)),
            (
                "direction",
                Attr::Str(if dirs == 2 { "bidirectional" } else { "forward" }.into()),
            ),
        ];
        if op == "GRU" {
            attrs.push(("linear_before_reset", Attr::Int(1)));
        }
        let outs = g.op(op, &[&x, &wn, &rn, &bn], 1, attrs);
        // Y [T, dirs, B, H] → [T, B, dirs·H].
        let y = g.op1("Transpose", &[&outs[0]], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
        x = g.reshape(&y, &[0, 0, -1]);
    }
    let x = g.op1("Transpose", &[&x], vec![("perm", Attr::Ints(vec![1, 0, 2]))]);
    let last_index = g.scalar_i64(-1);
    let last = g.op1("Gather", &[&x, &last_index], vec![("axis", Attr::Int(1))]);
    Ok(vec![x, last])
}

/// The node's ONNX operator and gate order (see [`crate::interop::ONNX_RECURRENT`]).
fn onnx_recurrent(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (_, op, order) = crate::interop::ONNX_RECURRENT
        .iter()
        .find(|(kind, ..)| *kind == ctx.step.kind)
        .ok_or("not a recurrent layer")?;
    recurrent_onnx(ctx, g, op, order)
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "rnn",
        torch: Some(rnn),
        onnx: Some(onnx_recurrent),
        no_onnx: "",
    },
    ExportSpec {
        kind: "lstm",
        torch: Some(lstm),
        onnx: Some(onnx_recurrent),
        no_onnx: "",
    },
    ExportSpec {
        kind: "gru",
        torch: Some(gru),
        onnx: Some(onnx_recurrent),
        no_onnx: "",
    },
];
