//! Embeddings, positional encodings, class tokens, patches and learned tensors.

use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
use crate::interop::torch::{Helper, TorchCtx, TorchNode};

fn embedding(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (n, d) = (ctx.p().int("num_embeddings"), ctx.p().int("dim"));
    let m = &ctx.module;
    Ok(TorchNode::module(
        format!("nn.Embedding({n}, {d})"),
        format!("{m}({}), {m}.weight", ctx.x(0)?),
        vec![ctx.tensor("weight")?],
    ))
}

fn tied(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!("F.embedding({}, {})", ctx.x(0)?, ctx.x(1)?)))
}

/// A learned `[rows, cols]` tensor held as a module parameter.
fn learned(ctx: &TorchCtx, rows: usize, cols: usize, expr: String) -> Result<TorchNode, String> {
    let t = ctx.tensor("value")?;
    Ok(TorchNode::module(
        format!("nn.Parameter(torch.zeros({rows}, {cols}))"),
        expr,
        vec![t.named("")],
    ))
}

fn pos_learned(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let x = ctx.x(0)?;
    let (rows, cols) = (ctx.p().int("max_len").max(1) as usize, ctx.in_dim(0, 2)?);
    learned(ctx, rows, cols, format!("{x} + {}[: {x}.shape[1]]", ctx.module))
}

pub static SINUSOID: Helper = Helper {
    name: "sinusoid",
    code: r#"
def sinusoid(n, d, grid=False):
    """Sine/cosine position table [n, d] as Strata builds it (a sqrt(n) x sqrt(n) grid when grid)."""
    out = torch.zeros(n, d, dtype=torch.float64)

    def fill(row, pos, width, at):
        i = torch.arange(width // 2, dtype=torch.float64)
        freq = 1.0 / 10000.0 ** (2.0 * i / width)
        out[row, at + 2 * i.long()] = torch.sin(pos * freq)
        out[row, at + 2 * i.long() + 1] = torch.cos(pos * freq)

    side = int(round(math.sqrt(n)))
    for p in range(n):
        if grid and side * side == n:
            half = d // 2
            fill(p, float(p // side), half, 0)
            fill(p, float(p % side), d - half, half)
        else:
            fill(p, float(p), d, 0)
    return out.float()"#,
};

fn pos_sin(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let x = ctx.x(0)?;
    let grid = if ctx.p().text("layout") == "2d" {
        ", grid=True"
    } else {
        ""
    };
    Ok(TorchNode::expr(format!(
        "{x} + sinusoid({x}.shape[1], {x}.shape[2]{grid}).to({x}.device)[None]"
    ))
    .with(&SINUSOID))
}

fn class_token(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let x = ctx.x(0)?;
    let d = ctx.in_dim(0, 2)?;
    learned(
        ctx,
        1,
        d,
        format!(
            "torch.cat([{}[None].expand({x}.shape[0], -1, -1), {x}], dim=1)",
            ctx.module
        ),
    )
}

fn patch_embed(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let (c, p, d) = (ctx.in_dim(0, 1)?, ctx.p().int("patch"), ctx.p().int("dim"));
    Ok(TorchNode::module(
        format!("nn.Conv2d({c}, {d}, {p}, stride={p})"),
        format!("{}({}).flatten(2).transpose(1, 2)", ctx.module, ctx.x(0)?),
        vec![ctx.tensor("weight")?, ctx.tensor("bias")?],
    ))
}

fn parameter(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let t = ctx.tensor("value")?;
    let (rows, cols) = (t.dims[0], t.dims[1]);
    let dims: Vec<String> = ctx
        .p()
        .runtime_dims(0, &[])
        .into_iter()
        .map(|d| d.unwrap_or(1).to_string())
        .collect();
    Ok(TorchNode::module(
        format!("nn.Parameter(torch.zeros({rows}, {cols}))"),
        format!("{}.reshape({})", ctx.module, dims.join(", ")),
        vec![t.named("")],
    ))
}

pub static RELATIVE: Helper = Helper {
    name: "RelativePositionBias",
    code: r#"
class RelativePositionBias(nn.Module):
    """T5's relative-position bias: a learned value per (bucket, head), added to attention scores."""

    def __init__(self, buckets, heads, max_distance, bidirectional):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(buckets, heads))
        self.buckets, self.max_distance, self.bidirectional = buckets, max_distance, bidirectional

    def bucket(self, rel):
        n, ret, r = self.buckets, 0, rel
        if self.bidirectional:
            n //= 2
            if r > 0:
                ret += n
            r = abs(r)
        else:
            r = max(-r, 0)
        exact = n // 2
        if r < exact:
            return ret + r
        large = exact + (math.log(r / exact) / math.log(self.max_distance / exact) * (n - exact))
        return ret + min(int(large), n - 1)

    def forward(self, x):
        t = x.shape[1]
        idx = torch.tensor([self.bucket(k - q) for q in range(t) for k in range(t)], device=x.device)
        vals = self.table[idx]  # [t*t, heads]
        return vals.reshape(t, t, -1).permute(2, 0, 1)[None]"#,
};

fn relative_bias(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    Ok(TorchNode::module(
        format!(
            "RelativePositionBias({}, {}, {}, {})",
            p.int("buckets"),
            p.int("heads"),
            p.int("max_distance"),
            if p.bool("bidirectional") { "True" } else { "False" }
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        vec![ctx.tensor("value")?.named("table")],
    )
    .with(&RELATIVE))
}

pub static TIMESTEP: Helper = Helper {
    name: "timestep_embedding",
    code: r#"
def timestep_embedding(t, dim):
    """Sinusoidal code of diffusion timesteps [B] -> [B, dim] (cosines, then sines)."""
    half = dim // 2
    i = torch.arange(half, dtype=torch.float64, device=t.device)
    freqs = torch.exp(-math.log(10000.0) * i / half).float()
    args = t.float().reshape(-1, 1) @ freqs.reshape(1, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)"#,
};

fn timestep(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "timestep_embedding({}, {})",
        ctx.x(0)?,
        ctx.p().int("dim").max(2)
    ))
    .with(&TIMESTEP))
}

fn embedding_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let table = g.param(&format!("{}.weight", ctx.name), &ctx.tensor("weight")?);
    let y = g.op1("Gather", &[&table, &ctx.x(0)?], vec![("axis", Attr::Int(0))]);
    Ok(vec![y, table])
}

fn tied_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    Ok(vec![g.op1(
        "Gather",
        &[&ctx.x(1)?, &ctx.x(0)?],
        vec![("axis", Attr::Int(0))],
    )])
}

fn pos_learned_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let table = g.param(&ctx.name, &ctx.tensor("value")?);
    let t = g.shape_slice(&x, 1, 2);
    let zero = g.const_i64(&[0]);
    let rows = g.op1("Slice", &[&table, &zero, &t], vec![]);
    Ok(vec![g.op1("Add", &[&x, &rows], vec![])])
}

fn pos_sin_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let d = ctx.in_dim(0, 2)?;
    let grid = ctx.p().text("layout") == "2d";
    if let Ok(t) = ctx.in_dim(0, 1) {
        // A known length: the table itself.
        let table = crate::engine::ops::embed::sinusoid(t, d, grid);
        let c = g.const_f32(&[t, d], table);
        return Ok(vec![g.op1("Add", &[&x, &c], vec![])]);
    }
    if grid || d % 2 != 0 {
        return Err("a 2-D or odd-width position table needs a known sequence length".into());
    }
    // pos [T, 1] × freq [1, D/2] → interleaved sin, cos → [T, D].
    let t = g.shape_slice(&x, 1, 2);
    let t0 = g.op1("Squeeze", &[&t], vec![]);
    let zero = g.scalar_i64(0);
    let one = g.scalar_i64(1);
    let range = g.op1("Range", &[&zero, &t0, &one], vec![]);
    let pos = g.op1("Cast", &[&range], vec![("to", Attr::Int(1))]);
    let pos = g.unsqueeze(&pos, &[1]);
    let freqs: Vec<f32> = (0..d / 2)
        .map(|i| (1.0 / 10000f64.powf(2.0 * i as f64 / d as f64)) as f32)
        .collect();
    let f = g.const_f32(&[1, d / 2], freqs);
    let args = g.op1("Mul", &[&pos, &f], vec![]);
    let s = g.op1("Sin", &[&args], vec![]);
    let c = g.op1("Cos", &[&args], vec![]);
    let s = g.unsqueeze(&s, &[2]);
    let c = g.unsqueeze(&c, &[2]);
    let both = g.op1("Concat", &[&s, &c], vec![("axis", Attr::Int(2))]);
    let table = g.reshape(&both, &[-1, d as i64]);
    Ok(vec![g.op1("Add", &[&x, &table], vec![])])
}

fn class_token_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let d = ctx.in_dim(0, 2)?;
    let tok = g.param(&ctx.name, &ctx.tensor("value")?.reshaped(&[1, 1, d]));
    let b = g.shape_slice(&x, 0, 1);
    let rest = g.const_i64(&[1, d as i64]);
    let shape = g.op1("Concat", &[&b, &rest], vec![("axis", Attr::Int(0))]);
    let toks = g.op1("Expand", &[&tok, &shape], vec![]);
    Ok(vec![g.op1("Concat", &[&toks, &x], vec![("axis", Attr::Int(1))])])
}

fn patch_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let p = ctx.p().int("patch");
    let d = ctx.p().int("dim");
    let w = g.param(&format!("{}.weight", ctx.name), &ctx.tensor("weight")?);
    let b = g.param(&format!("{}.bias", ctx.name), &ctx.tensor("bias")?);
    let y = g.op1(
        "Conv",
        &[&ctx.x(0)?, &w, &b],
        vec![
            ("kernel_shape", Attr::Ints(vec![p, p])),
            ("strides", Attr::Ints(vec![p, p])),
        ],
    );
    let flat = g.reshape(&y, &[0, d, -1]);
    Ok(vec![g.op1(
        "Transpose",
        &[&flat],
        vec![("perm", Attr::Ints(vec![0, 2, 1]))],
    )])
}

fn parameter_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let dims: Vec<usize> = ctx
        .p()
        .runtime_dims(0, &[])
        .into_iter()
        .map(|d| d.unwrap_or(1))
        .collect();
    Ok(vec![g.param(&ctx.name, &ctx.tensor("value")?.reshaped(&dims))])
}

fn timestep_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let half = (ctx.p().int("dim").max(2) / 2) as usize;
    let t = g.op1("Cast", &[&ctx.x(0)?], vec![("to", Attr::Int(1))]);
    let t = g.unsqueeze(&t, &[1]);
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp() as f32)
        .collect();
    let f = g.const_f32(&[1, half], freqs);
    let args = g.op1("MatMul", &[&t, &f], vec![]);
    let c = g.op1("Cos", &[&args], vec![]);
    let s = g.op1("Sin", &[&args], vec![]);
    Ok(vec![g.op1("Concat", &[&c, &s], vec![("axis", Attr::Int(1))])])
}

fn relative_bias_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let p = ctx.p();
    let (mut n, maxd, bi) = (p.int("buckets"), p.int("max_distance"), p.bool("bidirectional"));
    let table = g.param(&ctx.name, &ctx.tensor("value")?);
    // rel[q][k] = k − q for every pair of positions of the input's length.
    let x = ctx.x(0)?;
    let t = g.shape_slice(&x, 1, 2);
    let t = g.op1("Squeeze", &[&t], vec![]);
    let (zero, one) = (g.scalar_i64(0), g.scalar_i64(1));
    let pos = g.op1("Range", &[&zero, &t, &one], vec![]);
    let row = g.unsqueeze(&pos, &[1]);
    let col = g.unsqueeze(&pos, &[0]);
    let rel = g.op1("Sub", &[&col, &row], vec![]);
    // T5's buckets: exact below n/2, logarithmic up to max_distance.
    let (ret, r) = if bi {
        n /= 2;
        let pos_side = g.op1("Greater", &[&rel, &zero], vec![]);
        let side = g.op1("Cast", &[&pos_side], vec![("to", Attr::Int(7))]);
        let nn = g.scalar_i64(n);
        (Some(g.op1("Mul", &[&side, &nn], vec![])), g.op1("Abs", &[&rel], vec![]))
    } else {
        let neg = g.op1("Neg", &[&rel], vec![]);
        (None, g.op1("Max", &[&neg, &zero], vec![]))
    };
    let exact = n / 2;
    let ex = g.scalar_i64(exact);
    let small = g.op1("Less", &[&r, &ex], vec![]);
    let rf = g.op1("Cast", &[&r], vec![("to", Attr::Int(1))]);
    let onef = g.scalar(1.0);
    let rf = g.op1("Max", &[&rf, &onef], vec![]);
    let exf = g.scalar(exact.max(1) as f32);
    let ratio = g.op1("Div", &[&rf, &exf], vec![]);
    let lg = g.op1("Log", &[&ratio], vec![]);
    let k = ((n - exact) as f64 / ((maxd as f64) / exact.max(1) as f64).ln()) as f32;
    let kc = g.scalar(k);
    let scaled = g.op1("Mul", &[&lg, &kc], vec![]);
    let fl = g.op1("Floor", &[&scaled], vec![]);
    let li = g.op1("Cast", &[&fl], vec![("to", Attr::Int(7))]);
    let large = g.op1("Add", &[&li, &ex], vec![]);
    let cap = g.scalar_i64(n - 1);
    let large = g.op1("Min", &[&large, &cap], vec![]);
    let mut bucket = g.op1("Where", &[&small, &r, &large], vec![]);
    if let Some(ret) = ret {
        bucket = g.op1("Add", &[&bucket, &ret], vec![]);
    }
    let vals = g.op1("Gather", &[&table, &bucket], vec![("axis", Attr::Int(0))]); // [T, T, H]
    let vals = g.op1("Transpose", &[&vals], vec![("perm", Attr::Ints(vec![2, 0, 1]))]);
    Ok(vec![g.unsqueeze(&vals, &[0])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "embedding",
        torch: Some(embedding),
        onnx: Some(embedding_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "tied_embedding",
        torch: Some(tied),
        onnx: Some(tied_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "positional_learned",
        torch: Some(pos_learned),
        onnx: Some(pos_learned_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "positional_sinusoidal",
        torch: Some(pos_sin),
        onnx: Some(pos_sin_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "class_token",
        torch: Some(class_token),
        onnx: Some(class_token_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "patch_embed",
        torch: Some(patch_embed),
        onnx: Some(patch_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "parameter",
        torch: Some(parameter),
        onnx: Some(parameter_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "relative_position_bias",
        torch: Some(relative_bias),
        onnx: Some(relative_bias_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "timestep_embedding",
        torch: Some(timestep),
        onnx: Some(timestep_onnx),
        no_onnx: "",
    },
];
