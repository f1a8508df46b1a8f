//! Graph layers over node features `[N, F]` and a dense adjacency `[N, N]`.

use super::{BuildCtx, Decode, Layer, Learned, OpSpec, StepParams, Value};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Distribution, Tensor, activation};

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
}

fn inputs2(inputs: Vec<Value>) -> Result<(Tensor<2>, Tensor<2>), String> {
    let mut it = inputs.into_iter();
    let x = it.next().ok_or("missing x")?.f2()?;
    let adj = it.next().ok_or("missing adj")?.f2()?;
    Ok((x, adj))
}

/// A + I, as 0/1.
fn with_self_loops(adj: Tensor<2>) -> Tensor<2> {
    let [n, _] = adj.dims();
    let eye = Tensor::<2>::eye(n, &adj.device());
    (adj + eye).clamp_max(1.0)
}

fn gcn_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let lin = LinearConfig::new(ctx.in_dim(0, 1)?, ctx.usize("out_features"))
        .with_bias(ctx.bool("bias"))
        .init(ctx.device);
    Ok(Some(Layer::Graph(GraphLayer {
        lin,
        root: None,
        att: None,
        bias: None,
    })))
}

fn gcn_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Graph(g)) = layer else {
        return Err("graph layer missing".into());
    };
    let (x, adj) = inputs2(inputs)?;
    let a = with_self_loops(adj);
    let deg = a.clone().sum_dim(1).powf_scalar(-0.5); // [N, 1]
    let norm = deg.clone() * a * deg.transpose();
    Ok(vec![Value::F2(norm.matmul(g.lin.forward(x)))])
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
    })))
}

fn sage_fwd(_: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Graph(g)) = layer else {
        return Err("graph layer missing".into());
    };
    let (x, adj) = inputs2(inputs)?;
    let deg = adj.clone().sum_dim(1).clamp_min(1.0);
    let mean = adj.matmul(x.clone()) / deg;
    let root = g.root.as_ref().ok_or("root weight missing")?;
    Ok(vec![Value::F2(g.lin.forward(mean) + root.forward(x))])
}

fn gat_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let (f, o, h) = (ctx.in_dim(0, 1)?, ctx.usize("out_features"), ctx.usize("heads").max(1));
    let lin = LinearConfig::new(f, h * o).with_bias(false).init(ctx.device);
    let att = Tensor::<2>::random([2 * h, o], Distribution::Normal(0.0, 0.1), ctx.device);
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
    })))
}

fn gat_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Graph(g)) = layer else {
        return Err("graph layer missing".into());
    };
    let (x, adj) = inputs2(inputs)?;
    let [n, _] = x.dims();
    let heads = p.int("heads").max(1) as usize;
    let att = g.att.as_ref().ok_or("attention vectors missing")?.value.val();
    let o = att.dims()[1];
    let hx = g.lin.forward(x).reshape([n, heads, o]).swap_dims(0, 1); // [H, N, O]
    let a_src = att.clone().narrow(0, 0, heads).reshape([heads, o, 1]);
    let a_dst = att.narrow(0, heads, heads).reshape([heads, o, 1]);
    let e_src = hx.clone().matmul(a_src); // [H, N, 1]
    let e_dst = hx.clone().matmul(a_dst); // [H, N, 1]
    let e = activation::leaky_relu(e_dst + e_src.swap_dims(1, 2), 0.2); // [H, N(i), N(j)]
    let mask = with_self_loops(adj).reshape([1, n, n]).lower_equal_elem(0.0);
    let e = e.mask_fill(mask.expand([heads, n, n]), -1e9);
    let alpha = activation::softmax(e, 2);
    let out = alpha.matmul(hx); // [H, N, O]
    let out = if p.bool("concat") {
        out.swap_dims(0, 1).reshape([n, heads * o])
    } else {
        out.mean_dim(0).reshape([n, o])
    };
    Ok(vec![Value::F2(match &g.bias {
        Some(b) => out + b.value.val(),
        None => out,
    })])
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
];
