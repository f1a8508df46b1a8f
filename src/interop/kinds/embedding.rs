//! Embeddings, positional encodings, class tokens, patches and learned tensors.

use crate::interop::ExportSpec;
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

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "embedding",
        torch: Some(embedding),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "tied_embedding",
        torch: Some(tied),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "positional_learned",
        torch: Some(pos_learned),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "positional_sinusoidal",
        torch: Some(pos_sin),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "class_token",
        torch: Some(class_token),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "patch_embed",
        torch: Some(patch_embed),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "parameter",
        torch: Some(parameter),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "relative_position_bias",
        torch: Some(relative_bias),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "timestep_embedding",
        torch: Some(timestep),
        onnx: None,
        no_onnx: "",
    },
];
