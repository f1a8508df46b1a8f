//! Dense layers, dropout, activations, scaling.

use super::py_float;
use crate::interop::ExportSpec;
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

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "linear",
        torch: Some(linear),
    },
    ExportSpec {
        kind: "dropout",
        torch: Some(dropout),
    },
    ExportSpec {
        kind: "identity",
        torch: Some(identity),
    },
    ExportSpec {
        kind: "relu",
        torch: Some(relu),
    },
    ExportSpec {
        kind: "gelu",
        torch: Some(gelu),
    },
    ExportSpec {
        kind: "silu",
        torch: Some(silu),
    },
    ExportSpec {
        kind: "sigmoid",
        torch: Some(sigmoid),
    },
    ExportSpec {
        kind: "tanh",
        torch: Some(tanh),
    },
    ExportSpec {
        kind: "mish",
        torch: Some(mish),
    },
    ExportSpec {
        kind: "elu",
        torch: Some(elu),
    },
    ExportSpec {
        kind: "leaky_relu",
        torch: Some(leaky_relu),
    },
    ExportSpec {
        kind: "softmax",
        torch: Some(softmax),
    },
    ExportSpec {
        kind: "scale",
        torch: Some(scale),
    },
];
