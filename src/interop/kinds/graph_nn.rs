//! Graph layers (sparse message passing over an edge index `[2, E]`), written in plain PyTorch
//! with `index_add_` so `model.py` needs no graph library.

use super::py_float;
use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
use crate::interop::torch::{Helper, TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

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

/// The edge index's sources and destinations, `[E]` each.
fn ends(g: &mut OnnxGraph, edges: &str) -> (String, String) {
    let (zero, one) = (g.scalar_i64(0), g.scalar_i64(1));
    let src = g.op1("Gather", &[edges, &zero], vec![("axis", Attr::Int(0))]);
    let dst = g.op1("Gather", &[edges, &one], vec![("axis", Attr::Int(0))]);
    (src, dst)
}

/// Rows of `messages` `[E, F]` summed into `rows` rows by `dst` `[E]` (ScatterElements with
/// reduction add, opset 16).
fn scatter_add(g: &mut OnnxGraph, messages: &str, dst: &str, rows: &str) -> String {
    let width = g.shape_slice(messages, 1, 2);
    let shape = g.op1("Concat", &[rows, &width], vec![("axis", Attr::Int(0))]);
    let zeros = g.op1("ConstantOfShape", &[&shape], vec![]);
    let idx = g.unsqueeze(dst, &[1]);
    let full = g.op1("Shape", &[messages], vec![]);
    let idx = g.op1("Expand", &[&idx, &full], vec![]);
    g.op1(
        "ScatterElements",
        &[&zeros, &idx, messages],
        vec![("axis", Attr::Int(0)), ("reduction", Attr::Str("add".into()))],
    )
}

/// `[N, 1]`: how many edges end at each node.
fn in_degree(g: &mut OnnxGraph, dst: &str, rows: &str) -> String {
    let d = g.unsqueeze(dst, &[1]);
    let f = g.op1("Cast", &[&d], vec![("to", Attr::Int(1))]);
    let zero = g.scalar(0.0);
    let one = g.scalar(1.0);
    let z = g.op1("Mul", &[&f, &zero], vec![]);
    let ones = g.op1("Add", &[&z, &one], vec![]);
    scatter_add(g, &ones, dst, rows)
}

fn gcn_propagate_onnx(g: &mut OnnxGraph, h: &str, src: &str, dst: &str, rows: &str) -> String {
    let deg0 = in_degree(g, dst, rows);
    let one = g.scalar(1.0);
    let deg = g.op1("Add", &[&deg0, &one], vec![]);
    let p = g.scalar(-0.5);
    let inv = g.op1("Pow", &[&deg, &p], vec![]);
    let a = g.op1("Gather", &[&inv, src], vec![("axis", Attr::Int(0))]);
    let b = g.op1("Gather", &[&inv, dst], vec![("axis", Attr::Int(0))]);
    let scale = g.op1("Mul", &[&a, &b], vec![]);
    let hs = g.op1("Gather", &[h, src], vec![("axis", Attr::Int(0))]);
    let msg = g.op1("Mul", &[&hs, &scale], vec![]);
    let agg = scatter_add(g, &msg, dst, rows);
    let selfloop = g.op1("Div", &[h, &deg], vec![]);
    g.op1("Add", &[&agg, &selfloop], vec![])
}

fn plain_linear(g: &mut OnnxGraph, x: &str, name: &str, t: &NamedTensor) -> String {
    let w = g.param(name, t);
    g.op1("MatMul", &[x, &w], vec![])
}

fn gcn_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let (src, dst) = ends(g, &ctx.x(1)?);
    let rows = g.shape_slice(&x, 0, 1);
    let h = plain_linear(g, &x, &format!("{}.lin.weight", ctx.name), &ctx.tensor("lin.weight")?);
    let mut out = gcn_propagate_onnx(g, &h, &src, &dst, &rows);
    if ctx.p().bool("bias") {
        let b = g.param(&format!("{}.bias", ctx.name), &ctx.tensor("bias.value")?);
        out = g.op1("Add", &[&out, &b], vec![]);
    }
    Ok(vec![out])
}

fn sage_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Graph(_)) = ctx.layer else {
        return Err("its weights are missing".into());
    };
    let x = ctx.x(0)?;
    let (src, dst) = ends(g, &ctx.x(1)?);
    let rows = g.shape_slice(&x, 0, 1);
    let deg = in_degree(g, &dst, &rows);
    let one = g.scalar(1.0);
    let deg = g.op1("Max", &[&deg, &one], vec![]);
    let xs = g.op1("Gather", &[&x, &src], vec![("axis", Attr::Int(0))]);
    let sum = scatter_add(g, &xs, &dst, &rows);
    let mean = g.op1("Div", &[&sum, &deg], vec![]);
    let mut a = plain_linear(
        g,
        &mean,
        &format!("{}.lin.weight", ctx.name),
        &ctx.tensor("lin.weight")?,
    );
    if ctx.p().bool("bias") {
        let b = g.param(&format!("{}.lin.bias", ctx.name), &ctx.tensor("lin.bias")?);
        a = g.op1("Add", &[&a, &b], vec![]);
    }
    let r = plain_linear(g, &x, &format!("{}.root.weight", ctx.name), &ctx.tensor("root.weight")?);
    Ok(vec![g.op1("Add", &[&a, &r], vec![])])
}

fn gat_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let p = ctx.p();
    let heads = p.int("heads").max(1);
    let o = p.int("out_features");
    let x = ctx.x(0)?;
    let (src0, dst0) = ends(g, &ctx.x(1)?);
    let rows = g.shape_slice(&x, 0, 1);
    // Every node also attends to itself.
    let n = g.op1("Squeeze", &[&rows], vec![]);
    let (zero, one) = (g.scalar_i64(0), g.scalar_i64(1));
    let me = g.op1("Range", &[&zero, &n, &one], vec![]);
    let src = g.op1("Concat", &[&src0, &me], vec![("axis", Attr::Int(0))]);
    let dst = g.op1("Concat", &[&dst0, &me], vec![("axis", Attr::Int(0))]);
    let hx = plain_linear(g, &x, &format!("{}.lin.weight", ctx.name), &ctx.tensor("lin.weight")?);
    let hx = g.reshape(&hx, &[-1, heads, o]);
    let att = g.param(&format!("{}.att", ctx.name), &ctx.tensor("att.value")?);
    let (h0, h1, h2) = (g.const_i64(&[0]), g.const_i64(&[heads]), g.const_i64(&[2 * heads]));
    let a_src = g.op1("Slice", &[&att, &h0, &h1], vec![]);
    let a_dst = g.op1("Slice", &[&att, &h1, &h2], vec![]);
    let a_src = g.reshape(&a_src, &[1, heads, o]);
    let a_dst = g.reshape(&a_dst, &[1, heads, o]);
    let axes2 = g.const_i64(&[2]);
    let ms = g.op1("Mul", &[&hx, &a_src], vec![]);
    let s_src = g.op1("ReduceSum", &[&ms, &axes2], vec![("keepdims", Attr::Int(0))]);
    let md = g.op1("Mul", &[&hx, &a_dst], vec![]);
    let s_dst = g.op1("ReduceSum", &[&md, &axes2], vec![("keepdims", Attr::Int(0))]);
    let es = g.op1("Gather", &[&s_src, &src], vec![("axis", Attr::Int(0))]);
    let ed = g.op1("Gather", &[&s_dst, &dst], vec![("axis", Attr::Int(0))]);
    let sum = g.op1("Add", &[&es, &ed], vec![]);
    let e = g.op1("LeakyRelu", &[&sum], vec![("alpha", Attr::Float(0.2))]);
    // The softmax over each destination's edges, shifted by each head's largest score (the
    // shift cancels in the ratio; Strata shifts per destination).
    let top = g.op1(
        "ReduceMax",
        &[&e],
        vec![("axes", Attr::Ints(vec![0])), ("keepdims", Attr::Int(1))],
    );
    let shifted = g.op1("Sub", &[&e, &top], vec![]);
    let w = g.op1("Exp", &[&shifted], vec![]);
    let total = scatter_add(g, &w, &dst, &rows);
    let tot = g.op1("Gather", &[&total, &dst], vec![("axis", Attr::Int(0))]);
    let tiny = g.scalar(1e-16);
    let tot = g.op1("Max", &[&tot, &tiny], vec![]);
    let alpha = g.op1("Div", &[&w, &tot], vec![]);
    let alpha = g.unsqueeze(&alpha, &[2]);
    let hs = g.op1("Gather", &[&hx, &src], vec![("axis", Attr::Int(0))]);
    let msg = g.op1("Mul", &[&hs, &alpha], vec![]);
    let msg = g.reshape(&msg, &[-1, heads * o]);
    let mut out = scatter_add(g, &msg, &dst, &rows);
    if !p.bool("concat") {
        let r = g.reshape(&out, &[-1, heads, o]);
        out = g.op1(
            "ReduceMean",
            &[&r],
            vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(0))],
        );
    }
    if p.bool("bias") {
        let b = g.param(&format!("{}.bias", ctx.name), &ctx.tensor("bias.value")?);
        out = g.op1("Add", &[&out, &b], vec![]);
    }
    Ok(vec![out])
}

fn mpnn_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Mpnn(m)) = ctx.layer else {
        return Err("its weights are missing".into());
    };
    let f = ctx.in_dim(0, 1)? as i64;
    let x = ctx.x(0)?;
    let (src, dst) = ends(g, &ctx.x(1)?);
    let rows = g.shape_slice(&x, 0, 1);
    let from = g.op1("Gather", &[&x, &src], vec![("axis", Attr::Int(0))]);
    let (edge_in, edge_out, shared, gru_x, gru_h) = m.parts();
    let n = &ctx.name;
    let messages = match (edge_in, edge_out, shared, ctx.opt(2)) {
        (Some(a), Some(b), _, Some(attr)) => {
            let h = g.linear(&attr, &format!("{n}.edge_in"), a);
            let h = g.op1("Relu", &[&h], vec![]);
            let theta = g.linear(&h, &format!("{n}.edge_out"), b);
            let theta = g.reshape(&theta, &[-1, f, f]);
            let row = g.unsqueeze(&from, &[1]);
            let prod = g.op1("MatMul", &[&row, &theta], vec![]);
            g.reshape(&prod, &[-1, f])
        }
        (_, _, Some(w), _) => g.linear(&from, &format!("{n}.shared"), w),
        _ => return Err("the edge features are not wired".into()),
    };
    let agg = scatter_add(g, &messages, &dst, &rows);
    let gx = g.linear(&agg, &format!("{n}.gru_x"), gru_x);
    let gh = g.linear(&x, &format!("{n}.gru_h"), gru_h);
    let axis = g.const_i64(&[1]);
    let part = |g: &mut OnnxGraph, t: &str, k: i64| {
        let (a, b) = (g.const_i64(&[k * f]), g.const_i64(&[(k + 1) * f]));
        g.op1("Slice", &[t, &a, &b, &axis], vec![])
    };
    let (x0, h0) = (part(g, &gx, 0), part(g, &gh, 0));
    let r0 = g.op1("Add", &[&x0, &h0], vec![]);
    let r = g.op1("Sigmoid", &[&r0], vec![]);
    let (x1, h1) = (part(g, &gx, 1), part(g, &gh, 1));
    let z0 = g.op1("Add", &[&x1, &h1], vec![]);
    let z = g.op1("Sigmoid", &[&z0], vec![]);
    let (x2, h2) = (part(g, &gx, 2), part(g, &gh, 2));
    let rh = g.op1("Mul", &[&r, &h2], vec![]);
    let c0 = g.op1("Add", &[&x2, &rh], vec![]);
    let cand = g.op1("Tanh", &[&c0], vec![]);
    let one = g.scalar(1.0);
    let keep = g.op1("Sub", &[&one, &z], vec![]);
    let a = g.op1("Mul", &[&keep, &cand], vec![]);
    let b = g.op1("Mul", &[&z, &x], vec![]);
    Ok(vec![g.op1("Add", &[&a, &b], vec![])])
}

fn pool_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let x = ctx.x(0)?;
    let batch = ctx.x(1)?;
    let top = g.op1("ReduceMax", &[&batch], vec![("keepdims", Attr::Int(1))]);
    let one = g.const_i64(&[1]);
    let graphs = g.op1("Add", &[&top, &one], vec![]);
    let sum = scatter_add(g, &x, &batch, &graphs);
    if ctx.p().text("mode") == "sum" {
        return Ok(vec![sum]);
    }
    let count = in_degree(g, &batch, &graphs);
    let onef = g.scalar(1.0);
    let count = g.op1("Max", &[&count, &onef], vec![]);
    Ok(vec![g.op1("Div", &[&sum, &count], vec![])])
}

fn stgcn_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::StGcn(m)) = ctx.layer else {
        return Err("its weights are missing".into());
    };
    let p = ctx.p();
    let (c, t, v) = (ctx.in_dim(0, 1)?, ctx.in_dim(0, 2)? as i64, ctx.in_dim(0, 3)? as i64);
    let o = p.int("out_channels");
    let (mut srcs, mut dsts) = (Vec::new(), Vec::new());
    for pair in p.ints("bones").chunks(2) {
        if let [a, b] = *pair {
            srcs.extend([a, b]);
            dsts.extend([b, a]);
        }
    }
    let src = g.const_i64(&srcs);
    let dst = g.const_i64(&dsts);
    let (spatial, temporal, residual) = m.parts();
    let n = &ctx.name;
    let x = ctx.x(0)?;
    let xc = g.op1("Transpose", &[&x], vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))]); // [B, T, V, C]
    let h = g.linear(&xc, &format!("{n}.spatial"), spatial); // [B, T, V, O]
    let nodes = g.op1("Transpose", &[&h], vec![("perm", Attr::Ints(vec![2, 0, 1, 3]))]);
    let nodes = g.reshape(&nodes, &[v, -1]);
    let rows = g.const_i64(&[v]);
    let prop = gcn_propagate_onnx(g, &nodes, &src, &dst, &rows);
    let prop = g.reshape(&prop, &[v, -1, t, o]);
    let prop = g.op1("Transpose", &[&prop], vec![("perm", Attr::Ints(vec![1, 3, 2, 0]))]); // [B, O, T, V]
    let act = g.op1("Relu", &[&prop], vec![]);
    let wt = NamedTensor::of("w", &temporal.weight.val());
    let k = wt.dims[2] as i64;
    let w = g.param(&format!("{n}.temporal.weight"), &wt);
    let mut ins = vec![act, w];
    if let Some(b) = &temporal.bias {
        ins.push(g.param(&format!("{n}.temporal.bias"), &NamedTensor::of("b", &b.val())));
    }
    let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
    let conv = g.op1(
        "Conv",
        &refs,
        vec![
            ("kernel_shape", Attr::Ints(vec![k, 1])),
            ("pads", Attr::Ints(vec![k / 2, 0, k / 2, 0])),
        ],
    );
    let out = match residual {
        Some(r) => {
            let res = g.linear(&xc, &format!("{n}.residual"), r);
            let res = g.op1("Transpose", &[&res], vec![("perm", Attr::Ints(vec![0, 3, 1, 2]))]);
            g.op1("Add", &[&conv, &res], vec![])
        }
        None if p.bool("residual") && c as i64 == o => g.op1("Add", &[&conv, &x], vec![]),
        None => conv,
    };
    Ok(vec![g.op1("Relu", &[&out], vec![])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "gcn_conv",
        torch: Some(gcn),
        onnx: Some(gcn_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "sage_conv",
        torch: Some(sage),
        onnx: Some(sage_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "gat_conv",
        torch: Some(gat),
        onnx: Some(gat_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "mpnn_conv",
        torch: Some(mpnn),
        onnx: Some(mpnn_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "stgcn_block",
        torch: Some(stgcn),
        onnx: Some(stgcn_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "graph_pool",
        torch: Some(pool),
        onnx: Some(pool_onnx),
        no_onnx: "",
    },
];
