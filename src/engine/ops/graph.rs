//! Graph layers by sparse message passing: node features `[N, F]` and an edge index `[2, E]`
//! (sources, destinations). Messages are gathered along the edges (`select`) and summed into
//! their destinations (`select_assign` with `Add`), so memory grows with the edges, not N².

use super::{BuildCtx, Decode, Layer, Learned, OpSpec, StepParams, Value};
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Distribution, IndexingUpdateOp, Int, Tensor, TensorData, activation};

/// Weights of a graph layer.
#[derive(Module, Debug)]
pub struct GraphLayer {
    /// Main projection.
    lin: Linear,
    /// Second projection (GraphSAGE's root weight).
    root: Option<Linear>,
    /// Attention vectors (GAT): source and destination, `[heads, out]` each.
    att: Option<Learned>,
    /// Output bias (GAT), `[1, width]`.
    bias: Option<Learned>,
    /// Dropout on the attention coefficients (GAT; active only while training).
    drop: Option<Dropout>,
}

/// Node features `[N, F]` and the edge index as (sources, destinations), each `[E]`.
fn inputs2(inputs: Vec<Value>) -> Result<(Tensor<2>, Tensor<1, Int>, Tensor<1, Int>), String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing x")?.f2()?;
    let edges = match it.next().ok_or("missing edges")? {
        Value::I2(e) => e,
        other => {
            return Err(format!(
                "the edge index must be integer [2, E], not {}",
                other.describe()
            ));
        }
    };
    let [two, e] = edges.dims();
    if two != 2 {
        return Err(format!("the edge index must be [2, E], not [{two}, {e}]"));
    }
    let n = x.dims()[0] as i64;
    // A node id outside the graph would be an out-of-bounds gather: read back only the smallest
    // and largest id (two numbers, not the whole index).
    if e > 0 {
        let lo: i64 = edges.clone().min().into_scalar::<i64>();
        let hi: i64 = edges.clone().max().into_scalar::<i64>();
        if let Some(bad) = [lo, hi].into_iter().find(|&i| i < 0 || i >= n) {
            return Err(format!(
                "the edge index names node {bad}, but the graph has {n} nodes (0 … {})",
                n - 1
            ));
        }
    }
    let src = edges.clone().narrow(0, 0, 1).reshape([e]);
    let dst = edges.narrow(0, 1, 1).reshape([e]);
    Ok((x, src, dst))
}

/// Sums `messages` `[E, D]` into their destination nodes: `[N, D]` (scatter-add).
fn scatter_add(messages: Tensor<2>, dst: Tensor<1, Int>, n: usize) -> Tensor<2> {
    let d = messages.dims()[1];
    Tensor::<2>::zeros([n, d], &messages.device()).select_assign(0, dst, messages, IndexingUpdateOp::Add)
}

/// How many edges arrive at each node: `[N, 1]`.
fn in_degree(dst: &Tensor<1, Int>, n: usize) -> Tensor<2> {
    let e = dst.dims()[0];
    let ones = Tensor::<2>::ones([e, 1], &dst.device());
    scatter_add(ones, dst.clone(), n)
}

fn gcn_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let lin = LinearConfig::new(ctx.in_dim(0, 1)?, ctx.usize("out_features"))
        .with_bias(false)
        .init(ctx.device);
    let bias = ctx.bool("bias").then(|| Learned {
        value: Param::from_tensor(Tensor::<2>::zeros([1, ctx.usize("out_features")], ctx.device)),
    });
    Ok(Some(Layer::Graph(GraphLayer {
        lin,
        root: None,
        att: None,
        bias,
        drop: None,
    })))
}

/// GCN's propagation of `h` `[N, D]`: `Â·h` with `Â = D^-½ (A + I) D^-½`, by messages along the
/// edges (each scaled by `1/√(deg_src·deg_dst)`) plus each node's own `h/deg` (its self-loop).
pub fn gcn_propagate(h: Tensor<2>, src: Tensor<1, Int>, dst: Tensor<1, Int>) -> Tensor<2> {
    let n = h.dims()[0];
    let deg = in_degree(&dst, n).add_scalar(1.0); // self-loop
    let inv_sqrt = deg.clone().powf_scalar(-0.5); // [N, 1]
    let scale = inv_sqrt.clone().select(0, src.clone()) * inv_sqrt.select(0, dst.clone()); // [E, 1]
    let messages = h.clone().select(0, src) * scale;
    scatter_add(messages, dst, n) + h / deg
}

fn gcn_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Graph(g)) = layer else {
        return Err("graph layer missing".into());
    };
    let (x, src, dst) = inputs2(inputs)?;
    let out = gcn_propagate(g.lin.forward(x), src, dst);
    Ok(vec![Value::F2(match &g.bias {
        Some(b) => out + b.value.val(),
        None => out,
    })])
}

fn sage_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let (f, o) = (ctx.in_dim(0, 1)?, ctx.usize("out_features"));
    let lin = LinearConfig::new(f, o).with_bias(ctx.bool("bias")).init(ctx.device);
    let root = LinearConfig::new(f, o).with_bias(false).init(ctx.device);
    Ok(Some(Layer::Graph(GraphLayer {
        lin,
        root: Some(root),
        att: None,
        bias: None,
        drop: None,
    })))
}

fn sage_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Graph(g)) = layer else {
        return Err("graph layer missing".into());
    };
    let (x, src, dst) = inputs2(inputs)?;
    let n = x.dims()[0];
    let deg = in_degree(&dst, n).clamp_min(1.0);
    let mean = scatter_add(x.clone().select(0, src), dst, n) / deg;
    let root = g.root.as_ref().ok_or("root weight missing")?;
    Ok(vec![Value::F2(g.lin.forward(mean) + root.forward(x))])
}

fn gat_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let (f, o, h) = (ctx.in_dim(0, 1)?, ctx.usize("out_features"), ctx.usize("heads").max(1));
    let lin = LinearConfig::new(f, h * o).with_bias(false).init(ctx.device);
    // Glorot-uniform attention vectors, as in the paper's code.
    let bound = (6.0 / (o + 1) as f64).sqrt();
    let att = Tensor::<2>::random([2 * h, o], Distribution::Uniform(-bound, bound), ctx.device);
    let width = if ctx.bool("concat") { h * o } else { o };
    let bias = ctx.bool("bias").then(|| Learned {
        value: Param::from_tensor(Tensor::<2>::zeros([1, width], ctx.device)),
    });
    Ok(Some(Layer::Graph(GraphLayer {
        lin,
        root: None,
        att: Some(Learned {
            value: Param::from_tensor(att),
        }),
        bias,
        drop: Some(DropoutConfig::new(ctx.float("dropout")).init()),
    })))
}

fn gat_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Graph(g)) = layer else {
        return Err("graph layer missing".into());
    };
    let (x, src, dst) = inputs2(inputs)?;
    let [n, _] = x.dims();
    let device = x.device();
    // Every node also attends to itself.
    let me = Tensor::<1, Int>::arange(0..n as i64, &device);
    let (src, dst) = (Tensor::cat(vec![src, me.clone()], 0), Tensor::cat(vec![dst, me], 0));
    let m = src.dims()[0];
    let heads = p.int("heads").max(1) as usize;
    let att = g.att.as_ref().ok_or("attention vectors missing")?.value.val();
    let o = att.dims()[1];
    let hx = g.lin.forward(x).reshape([n, heads, o]); // [N, H, O]
    let a_src = att.clone().narrow(0, 0, heads).reshape([1, heads, o]);
    let a_dst = att.narrow(0, heads, heads).reshape([1, heads, o]);
    let s_src = (hx.clone() * a_src).sum_dim(2).reshape([n, heads]); // [N, H]
    let s_dst = (hx.clone() * a_dst).sum_dim(2).reshape([n, heads]);
    let e = activation::leaky_relu(s_src.select(0, src.clone()) + s_dst.select(0, dst.clone()), 0.2); // [M, H]
    // Softmax over each destination's incoming edges: shift by the destination's largest score
    // (a constant per destination, found on the host), exponentiate, normalise by the sum.
    let host: Vec<f32> = e.clone().detach().into_data().iter::<f32>().collect();
    let dst_host: Vec<i64> = dst.clone().into_data().iter::<i64>().collect();
    let mut best = vec![f32::NEG_INFINITY; n * heads];
    for (k, &d) in dst_host.iter().enumerate() {
        for h in 0..heads {
            let b = &mut best[d as usize * heads + h];
            *b = b.max(host[k * heads + h]);
        }
    }
    let best = Tensor::<2>::from_data(TensorData::new(best, [n, heads]), &device);
    let w = (e - best.select(0, dst.clone())).exp(); // [M, H]
    let total = scatter_add(w.clone(), dst.clone(), n); // [N, H]
    let alpha = w / total.select(0, dst.clone()).clamp_min(1e-16);
    super::attention::probe(&alpha.clone().swap_dims(0, 1).reshape([1, heads, 1, m]));
    let alpha = match &g.drop {
        Some(d) => d.forward(alpha),
        None => alpha,
    };
    let messages = hx.select(0, src) * alpha.reshape([m, heads, 1]); // [M, H, O]
    let out = scatter_add(messages.reshape([m, heads * o]), dst, n); // [N, H·O]
    let out = if p.bool("concat") {
        out
    } else {
        out.reshape([n, heads, o]).mean_dim(1).reshape([n, o])
    };
    Ok(vec![Value::F2(match &g.bias {
        Some(b) => out + b.value.val(),
        None => out,
    })])
}

/// Weights of an MPNN layer: the edge network (or one shared message matrix) and the GRU update.
#[derive(Module, Debug)]
pub struct Mpnn {
    /// Edge features → hidden (with edge features).
    edge_in: Option<Linear>,
    /// Hidden → an F×F matrix per edge (with edge features).
    edge_out: Option<Linear>,
    /// The one message matrix (without edge features).
    shared: Option<Linear>,
    /// GRU: input (the summed messages) to the three gates.
    gru_x: Linear,
    /// GRU: state to the three gates.
    gru_h: Linear,
}

impl Mpnn {
    /// The edge network (with edge features), the shared message weight (without), and the GRU's
    /// input and hidden projections (for exporters).
    pub fn parts(&self) -> (Option<&Linear>, Option<&Linear>, Option<&Linear>, &Linear, &Linear) {
        (
            self.edge_in.as_ref(),
            self.edge_out.as_ref(),
            self.shared.as_ref(),
            &self.gru_x,
            &self.gru_h,
        )
    }
}

impl StGcn {
    /// The spatial projection, the temporal convolution and the residual projection (for
    /// exporters).
    pub fn parts(&self) -> (&Linear, &burn::nn::conv::Conv2d, Option<&Linear>) {
        (&self.spatial, &self.temporal, self.residual.as_ref())
    }
}

fn mpnn_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let f = ctx.in_dim(0, 1)?;
    let h = ctx.usize("edge_hidden").max(1);
    let with_edges = ctx.inputs.get(2).is_some_and(Option::is_some);
    let (edge_in, edge_out, shared) = if with_edges {
        let fe = ctx.in_dim(2, 1)?;
        (
            Some(LinearConfig::new(fe, h).init(ctx.device)),
            Some(LinearConfig::new(h, f * f).init(ctx.device)),
            None,
        )
    } else {
        (None, None, Some(LinearConfig::new(f, f).init(ctx.device)))
    };
    Ok(Some(Layer::Mpnn(Mpnn {
        edge_in,
        edge_out,
        shared,
        gru_x: LinearConfig::new(f, 3 * f).init(ctx.device),
        gru_h: LinearConfig::new(f, 3 * f).init(ctx.device),
    })))
}

fn mpnn_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Mpnn(m)) = layer else {
        return Err("MPNN weights missing".into());
    };
    let mut it = inputs.into_iter();
    let (x, edges) = (it.next().ok_or("missing x")?, it.next().ok_or("missing edges")?);
    let attr = it.next();
    let (h, src, dst) = inputs2(vec![x, edges])?;
    let [n, f] = h.dims();
    let e = src.dims()[0];
    let from = h.clone().select(0, src);
    let messages = match (&m.edge_in, &m.edge_out, &m.shared, attr) {
        (Some(a), Some(b), _, Some(attr)) => {
            let attr = attr.f2()?;
            if attr.dims()[0] != e {
                return Err(format!(
                    "edge features have {} rows but the edge index has {e} edges",
                    attr.dims()[0]
                ));
            }
            let theta = b.forward(activation::relu(a.forward(attr))).reshape([e, f, f]);
            from.reshape([e, 1, f]).matmul(theta).reshape([e, f])
        }
        (_, _, Some(w), _) => w.forward(from),
        _ => return Err("the edge features are not wired".into()),
    };
    let agg = scatter_add(messages, dst, n);
    // GRU cell (PyTorch's gate order: reset, update, new).
    let gx = m.gru_x.forward(agg);
    let gh = m.gru_h.forward(h.clone());
    let gate = |t: &Tensor<2>, k: usize| t.clone().narrow(1, k * f, f);
    let r = activation::sigmoid(gate(&gx, 0) + gate(&gh, 0));
    let z = activation::sigmoid(gate(&gx, 1) + gate(&gh, 1));
    let cand = (gate(&gx, 2) + r * gate(&gh, 2)).tanh();
    let out = (z.clone().neg().add_scalar(1.0)) * cand + z * h;
    Ok(vec![Value::F2(out)])
}

fn pool_fwd(p: &StepParams, _: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing x")?.f2()?;
    let batch = match it.next().ok_or("missing batch")? {
        Value::I1(b) => b,
        other => return Err(format!("the graph index must be integer [N], not {}", other.describe())),
    };
    let [n, f] = x.dims();
    if batch.dims()[0] != n {
        return Err(format!("the graph index has {} entries for {n} nodes", batch.dims()[0]));
    }
    let ids: Vec<i64> = batch.clone().into_data().iter::<i64>().collect();
    if let Some(bad) = ids.iter().find(|&&g| g < 0) {
        return Err(format!("the graph index holds {bad}; graphs are numbered from 0"));
    }
    let g = ids.iter().copied().max().map_or(0, |m| m as usize + 1);
    let sum = Tensor::<2>::zeros([g, f], &x.device()).select_assign(0, batch.clone(), x, IndexingUpdateOp::Add);
    Ok(vec![Value::F2(if p.text("mode") == "sum" {
        sum
    } else {
        let ones = Tensor::<2>::ones([n, 1], &sum.device());
        let count = Tensor::<2>::zeros([g, 1], &sum.device()).select_assign(0, batch, ones, IndexingUpdateOp::Add);
        sum / count.clamp_min(1.0)
    })])
}

/// Weights of an ST-GCN block.
#[derive(Module, Debug)]
pub struct StGcn {
    /// Channel projection before the spatial propagation.
    spatial: Linear,
    /// Convolution over time (kernel k × 1).
    temporal: burn::nn::conv::Conv2d,
    /// Residual projection when the channels change.
    residual: Option<Linear>,
}

fn stgcn_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let c = ctx.in_dim(0, 1)?;
    let (o, k) = (ctx.usize("out_channels"), ctx.usize("temporal_kernel").max(1));
    let temporal = burn::nn::conv::Conv2dConfig::new([o, o], [k, 1])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(k / 2, 0, k / 2, 0))
        .init(ctx.device);
    Ok(Some(Layer::StGcn(StGcn {
        spatial: LinearConfig::new(c, o).init(ctx.device),
        temporal,
        residual: (ctx.bool("residual") && c != o).then(|| LinearConfig::new(c, o).init(ctx.device)),
    })))
}

fn stgcn_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::StGcn(m)) = layer else {
        return Err("ST-GCN weights missing".into());
    };
    let x = super::one(inputs)?.f4()?;
    let [b, _, t, v] = x.dims();
    let device = x.device();
    let bones: Vec<i64> = p.ints("bones");
    if bones.iter().any(|&j| j < 0 || j as usize >= v) {
        return Err(format!("a bone names a joint outside the input's {v} joints"));
    }
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for pair in bones.chunks(2) {
        if let [a, c] = *pair {
            src.extend([a, c]);
            dst.extend([c, a]);
        }
    }
    let e = src.len();
    let src = Tensor::<1, Int>::from_data(TensorData::new(src, [e]), &device);
    let dst = Tensor::<1, Int>::from_data(TensorData::new(dst, [e]), &device);
    let xc = x.clone().permute([0, 2, 3, 1]); // [B, T, V, C]
    let h = m.spatial.forward(xc.clone()); // [B, T, V, O]
    let o = h.dims()[3];
    let nodes = h.permute([2, 0, 1, 3]).reshape([v, b * t * o]);
    let h = gcn_propagate(nodes, src, dst)
        .reshape([v, b, t, o])
        .permute([1, 3, 2, 0]); // [B, O, T, V]
    let h = m.temporal.forward(activation::relu(h));
    let res = match &m.residual {
        Some(r) => r.forward(xc).permute([0, 3, 1, 2]),
        None if p.bool("residual") => x,
        None => Tensor::zeros([b, o, t, v], &device),
    };
    Ok(vec![Value::F4(activation::relu(h + res))])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "gcn_conv",
        build: gcn_build,
        forward: gcn_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "sage_conv",
        build: sage_build,
        forward: sage_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "gat_conv",
        build: gat_build,
        forward: gat_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "mpnn_conv",
        build: mpnn_build,
        forward: mpnn_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "stgcn_block",
        build: stgcn_build,
        forward: stgcn_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "graph_pool",
        build: super::stateless,
        forward: pool_fwd,
        decode: Decode::Never,
    },
];
