//! Graph layers (sparse message passing over an edge index `[2, E]`), written in plain PyTorch
//! with `index_add_` so `model.py` needs no graph library.

use super::py_float;
use crate::interop::ExportSpec;
use crate::interop::torch::{Helper, TorchCtx, TorchNode};

/// The graph layers' PyTorch classes.
pub static GRAPH: Helper = Helper {
    name: "GCNConv",
    code: r#"
def scatter_add(messages, dst, n):
    """Sums each edge's message into its destination node."""
    return torch.zeros(n, messages.shape[1], dtype=messages.dtype, device=messages.device).index_add_(0, dst, messages)


def in_degree(dst, n, like):
    return scatter_add(torch.ones(dst.shape[0], 1, dtype=like.dtype, device=like.device), dst, n)


def gcn_propagate(h, edges):
    """Kipf & Welling's symmetric normalisation with self-loops."""
    src, dst, n = edges[0], edges[1], h.shape[0]
    deg = in_degree(dst, n, h) + 1.0
    inv = deg.pow(-0.5)
    return scatter_add(h[src] * (inv[src] * inv[dst]), dst, n) + h / deg


class GCNConv(nn.Module):
    """Graph convolution (Kipf & Welling)."""

    def __init__(self, f, o, bias=True):
        super().__init__()
        self.lin = nn.Linear(f, o, bias=False)
        self.bias = nn.Parameter(torch.zeros(1, o)) if bias else None

    def forward(self, x, edges):
        out = gcn_propagate(self.lin(x), edges)
        return out + self.bias if self.bias is not None else out


class SAGEConv(nn.Module):
    """GraphSAGE with the mean aggregator."""

    def __init__(self, f, o, bias=True):
        super().__init__()
        self.lin = nn.Linear(f, o, bias=bias)
        self.root = nn.Linear(f, o, bias=False)

    def forward(self, x, edges):
        src, dst, n = edges[0], edges[1], x.shape[0]
        mean = scatter_add(x[src], dst, n) / in_degree(dst, n, x).clamp_min(1.0)
        return self.lin(mean) + self.root(x)


class GATConv(nn.Module):
    """Graph attention (Veličković et al.): every node also attends to itself."""

    def __init__(self, f, o, heads, concat=True, dropout=0.0, bias=True):
        super().__init__()
        self.lin = nn.Linear(f, heads * o, bias=False)
        self.att = nn.Parameter(torch.zeros(2 * heads, o))
        self.bias = nn.Parameter(torch.zeros(1, heads * o if concat else o)) if bias else None
        self.dropout = nn.Dropout(dropout)
        self.heads, self.o, self.concat = heads, o, concat

    def forward(self, x, edges):
        n, h, o = x.shape[0], self.heads, self.o
        me = torch.arange(n, device=x.device)
        src, dst = torch.cat([edges[0], me]), torch.cat([edges[1], me])
        hx = self.lin(x).reshape(n, h, o)
        s_src = (hx * self.att[:h].reshape(1, h, o)).sum(2)
        s_dst = (hx * self.att[h:].reshape(1, h, o)).sum(2)
        e = F.leaky_relu(s_src[src] + s_dst[dst], 0.2)
        best = torch.full((n, h), float("-inf"), device=x.device).scatter_reduce(
            0, dst[:, None].expand(-1, h), e, reduce="amax")
        w = torch.exp(e - best[dst])
        alpha = self.dropout(w / scatter_add(w, dst, n)[dst].clamp_min(1e-16))
        out = scatter_add((hx[src] * alpha[:, :, None]).reshape(-1, h * o), dst, n)
        if not self.concat:
            out = out.reshape(n, h, o).mean(1)
        return out + self.bias if self.bias is not None else out


class MPNNConv(nn.Module):
    """Message passing (Gilmer et al.): an edge network makes a matrix per edge, a GRU updates."""

    def __init__(self, f, edge_features=None, edge_hidden=32):
        super().__init__()
        if edge_features:
            self.edge_in = nn.Linear(edge_features, edge_hidden)
            self.edge_out = nn.Linear(edge_hidden, f * f)
        else:
            self.shared = nn.Linear(f, f)
        self.gru_x = nn.Linear(f, 3 * f)
        self.gru_h = nn.Linear(f, 3 * f)
        self.f = f

    def forward(self, x, edges, edge_attr=None):
        src, dst, n, f = edges[0], edges[1], x.shape[0], self.f
        if edge_attr is not None:
            theta = self.edge_out(torch.relu(self.edge_in(edge_attr))).reshape(-1, f, f)
            messages = (x[src][:, None, :] @ theta)[:, 0]
        else:
            messages = self.shared(x[src])
        gx, gh = self.gru_x(scatter_add(messages, dst, n)), self.gru_h(x)
        r = torch.sigmoid(gx[:, :f] + gh[:, :f])
        z = torch.sigmoid(gx[:, f:2 * f] + gh[:, f:2 * f])
        cand = torch.tanh(gx[:, 2 * f:] + r * gh[:, 2 * f:])
        return (1 - z) * cand + z * x


class STGCNBlock(nn.Module):
    """ST-GCN block (Yan et al.): a graph convolution over the bones in every frame, then a
    temporal convolution, plus the input (projected when the channels change). x: [B, C, T, V]."""

    def __init__(self, c, o, k, bones, residual=True):
        super().__init__()
        self.spatial = nn.Linear(c, o)
        self.temporal = nn.Conv2d(o, o, (k, 1), padding=(k // 2, 0))
        self.residual = nn.Linear(c, o) if residual and c != o else None
        self.keep_input = residual
        pairs = [bones[i:i + 2] for i in range(0, len(bones) - 1, 2)]
        self.src = [j for a, c2 in pairs for j in (a, c2)]
        self.dst = [j for a, c2 in pairs for j in (c2, a)]

    def forward(self, x):
        b, _, t, v = x.shape
        edges = torch.tensor([self.src, self.dst], dtype=torch.long, device=x.device)
        xc = x.permute(0, 2, 3, 1)
        h = self.spatial(xc)
        o = h.shape[3]
        h = gcn_propagate(h.permute(2, 0, 1, 3).reshape(v, b * t * o), edges)
        h = self.temporal(torch.relu(h.reshape(v, b, t, o).permute(1, 3, 2, 0)))
        if self.residual is not None:
            res = self.residual(xc).permute(0, 3, 1, 2)
        elif self.keep_input:
            res = x
        else:
            res = torch.zeros_like(h)
        return torch.relu(h + res)


def graph_pool(x, batch, mode="mean"):
    """One row per graph: the sum or mean of its nodes (batch: each node's graph index)."""
    g = int(batch.max()) + 1 if batch.numel() else 0
    total = scatter_add(x, batch, g)
    if mode == "sum":
        return total
    return total / scatter_add(torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device), batch, g).clamp_min(1.0)"#,
};

fn flag(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn gcn(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let bias = p.bool("bias");
    let mut w = vec![ctx.tensor("lin.weight")?.transposed()];
    if bias {
        w.push(ctx.tensor("bias.value")?.named("bias"));
    }
    Ok(TorchNode::module(
        format!(
            "GCNConv({}, {}, bias={})",
            ctx.in_dim(0, 1)?,
            p.int("out_features"),
            flag(bias)
        ),
        format!("{}({}, {})", ctx.module, ctx.x(0)?, ctx.x(1)?),
        w,
    )
    .with(&GRAPH))
}

fn sage(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let bias = p.bool("bias");
    let mut w = vec![ctx.tensor("lin.weight")?.transposed()];
    if bias {
        w.push(ctx.tensor("lin.bias")?);
    }
    w.push(ctx.tensor("root.weight")?.transposed());
    Ok(TorchNode::module(
        format!(
            "SAGEConv({}, {}, bias={})",
            ctx.in_dim(0, 1)?,
            p.int("out_features"),
            flag(bias)
        ),
        format!("{}({}, {})", ctx.module, ctx.x(0)?, ctx.x(1)?),
        w,
    )
    .with(&GRAPH))
}

fn gat(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let bias = p.bool("bias");
    let mut w = vec![
        ctx.tensor("lin.weight")?.transposed(),
        ctx.tensor("att.value")?.named("att"),
    ];
    if bias {
        w.push(ctx.tensor("bias.value")?.named("bias"));
    }
    Ok(TorchNode::module(
        format!(
            "GATConv({}, {}, {}, concat={}, dropout={}, bias={})",
            ctx.in_dim(0, 1)?,
            p.int("out_features"),
            p.int("heads").max(1),
            flag(p.bool("concat")),
            py_float(p.float("dropout")),
            flag(bias)
        ),
        format!("{}({}, {})", ctx.module, ctx.x(0)?, ctx.x(1)?),
        w,
    )
    .with(&GRAPH))
}

fn mpnn(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let f = ctx.in_dim(0, 1)?;
    let h = ctx.p().int("edge_hidden").max(1);
    let mut w = Vec::new();
    let (ctor, call) = match ctx.opt(2) {
        Some(attr) => {
            for part in ["edge_in", "edge_out"] {
                w.push(ctx.tensor(&format!("{part}.weight"))?.transposed());
                w.push(ctx.tensor(&format!("{part}.bias"))?);
            }
            (
                format!("MPNNConv({f}, edge_features={}, edge_hidden={h})", ctx.in_dim(2, 1)?),
                format!("{}({}, {}, {attr})", ctx.module, ctx.x(0)?, ctx.x(1)?),
            )
        }
        None => {
            w.push(ctx.tensor("shared.weight")?.transposed());
            w.push(ctx.tensor("shared.bias")?);
            (
                format!("MPNNConv({f}, edge_hidden={h})"),
                format!("{}({}, {})", ctx.module, ctx.x(0)?, ctx.x(1)?),
            )
        }
    };
    for part in ["gru_x", "gru_h"] {
        w.push(ctx.tensor(&format!("{part}.weight"))?.transposed());
        w.push(ctx.tensor(&format!("{part}.bias"))?);
    }
    Ok(TorchNode::module(ctor, call, w).with(&GRAPH))
}

fn stgcn(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let c = ctx.in_dim(0, 1)?;
    let o = p.int("out_channels");
    let residual = p.bool("residual");
    let mut w = vec![
        ctx.tensor("spatial.weight")?.transposed(),
        ctx.tensor("spatial.bias")?,
        ctx.tensor("temporal.weight")?,
        ctx.tensor("temporal.bias")?,
    ];
    if residual && c as i64 != o {
        w.push(ctx.tensor("residual.weight")?.transposed());
        w.push(ctx.tensor("residual.bias")?);
    }
    let bones: Vec<String> = p.ints("bones").iter().map(i64::to_string).collect();
    Ok(TorchNode::module(
        format!(
            "STGCNBlock({c}, {o}, {}, [{}], residual={})",
            p.int("temporal_kernel").max(1),
            bones.join(", "),
            flag(residual)
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    )
    .with(&GRAPH))
}

fn pool(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let mode = if ctx.p().text("mode") == "sum" { "sum" } else { "mean" };
    Ok(TorchNode::expr(format!("graph_pool({}, {}, \"{mode}\")", ctx.x(0)?, ctx.x(1)?)).with(&GRAPH))
}

/// Why ONNX export leaves these out for now.
const NO_ONNX: &str =
    "its scatter-adds over the edge list (ScatterElements with reduction=add, opset 16) are not written yet";

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "gcn_conv",
        torch: Some(gcn),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "sage_conv",
        torch: Some(sage),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "gat_conv",
        torch: Some(gat),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "mpnn_conv",
        torch: Some(mpnn),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "stgcn_block",
        torch: Some(stgcn),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "graph_pool",
        torch: Some(pool),
        onnx: None,
        no_onnx: NO_ONNX,
    },
];
