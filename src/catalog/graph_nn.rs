//! Graph neural network layers over node features `[N, F]` and an edge index `[2, E]` (sparse
//! message passing: sources in row 0, destinations in row 1, both directions listed for
//! undirected graphs).

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

fn graph_inputs(ctx: &Ctx) -> Result<(Dim, u64, Dim), RuleError> {
    let x = ctx.input(0)?;
    let edges = ctx.input(1)?;
    if x.rank() != 2 {
        return Err(RuleError::at("x", format!("node features must be [N, F] but are {x}")));
    }
    if edges.rank() != 2 || !edges.dims[0].compatible(Dim::Known(2)) {
        return Err(RuleError::at(
            "edges",
            format!("the edge index must be [2, E] (sources, then destinations) but is {edges}"),
        ));
    }
    Ok((x.dims[0], known(x.dims[1], "x", "feature size")?, edges.dims[1]))
}

fn gcn_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f, e) = graph_inputs(ctx)?;
    let o = ctx.uint("out_features");
    let bias = if ctx.bool("bias") { o } else { 0 };
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(o)])],
        params: cs(&[cm(f, o)?, bias])?,
        macs: cs(&[cm(n.cost_size(), cm(f, o)?)?, cm(e.cost_size(), o)?])?,
    })
}

fn sage_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f, e) = graph_inputs(ctx)?;
    let o = ctx.uint("out_features");
    let bias = if ctx.bool("bias") { o } else { 0 };
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(o)])],
        params: cs(&[cm(2 * f, o)?, bias])?,
        macs: cs(&[cm(n.cost_size(), cm(2 * f, o)?)?, cm(e.cost_size(), f)?])?,
    })
}

fn gat_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f, e) = graph_inputs(ctx)?;
    let (o, h) = (ctx.uint("out_features"), ctx.uint("heads"));
    let concat = ctx.bool("concat");
    let width = if concat { cm(h, o)? } else { o };
    let bias = if ctx.bool("bias") { width } else { 0 };
    let lin = cm(f, cm(h, o)?)?;
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(width)])],
        params: cs(&[lin, cm(2, cm(h, o)?)?, bias])?,
        macs: cs(&[cm(n.cost_size(), lin)?, cm(e.cost_size(), cm(3, cm(h, o)?)?)?])?,
    })
}

fn mpnn_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f, e) = graph_inputs(ctx)?;
    let h = ctx.uint("edge_hidden");
    // GRU update (PyTorch's GRUCell count): 3 gates × (input + hidden weights and biases).
    let gru = cm(6, cs(&[cm(f, f)?, f])?)?;
    let (edge_net, edge_macs) = match ctx.optional(2) {
        Some(attr) => {
            if attr.rank() != 2 || !attr.dims[0].compatible(e) {
                return Err(RuleError::at(
                    "edge_attr",
                    format!(
                        "edge features must be [E, Fe] with E = {e} (one row per edge of the index) but are {attr}"
                    ),
                ));
            }
            let fe = known(attr.dims[1], "edge_attr", "edge feature size")?;
            let net = cs(&[cm(fe, h)?, h, cm(h, cm(f, f)?)?, cm(f, f)?])?;
            (
                net,
                cm(e.cost_size(), cs(&[cm(fe, h)?, cm(h, cm(f, f)?)?, cm(f, f)?])?)?,
            )
        }
        None => (cs(&[cm(f, f)?, f])?, cm(e.cost_size(), f)?),
    };
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(f)])],
        params: cs(&[edge_net, gru])?,
        macs: cs(&[edge_macs, cm(n.cost_size(), cm(6, cm(f, f)?)?)?])?,
    })
}

fn pool_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    let batch = ctx.input(1)?;
    if x.rank() != 2 {
        return Err(RuleError::at("x", format!("node features must be [N, F] but are {x}")));
    }
    if batch.rank() != 1 || !batch.dims[0].compatible(x.dims[0]) {
        return Err(RuleError::at(
            "batch",
            format!(
                "the graph index must be [N] (which graph each node belongs to), N = {}, but is {batch}",
                x.dims[0]
            ),
        ));
    }
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![
            Dim::Sym {
                sym: 'G',
                mul: 1,
                add: 0,
            },
            x.dims[1],
        ])],
        params: 0,
        macs: 0,
    })
}

fn stgcn_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 4 {
        return Err(RuleError::at(
            "x",
            format!("ST-GCN reads [B, channels, frames, joints] but gets {x}"),
        ));
    }
    let c = known(x.dims[1], "x", "channel count")?;
    let v = known(x.dims[3], "x", "joint count")?;
    let (o, k) = (ctx.uint("out_channels"), ctx.uint("temporal_kernel"));
    if k % 2 == 0 {
        return Err(RuleError::new(format!(
            "the temporal kernel must be odd (it is centred on each frame), not {k}"
        )));
    }
    let bones = ctx.ints("bones");
    if !bones.len().is_multiple_of(2) {
        return Err(RuleError::new(
            "bones are joint pairs: give an even number of joint indices (0, 1, 1, 2, …)",
        ));
    }
    if let Some(b) = bones.iter().find(|&&b| b < 0 || b as u64 >= v) {
        return Err(RuleError::new(format!(
            "bone joint {b} is outside the {v} joints of the input (0 … {})",
            v - 1
        )));
    }
    let residual = if ctx.bool("residual") && c != o {
        cs(&[cm(c, o)?, o])?
    } else {
        0
    };
    let positions = x.dims[2].cost_size().saturating_mul(v);
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![x.dims[0], Dim::Known(o), x.dims[2], x.dims[3]])],
        params: cs(&[cm(c, o)?, o, cm(cm(o, o)?, k)?, o, residual])?,
        macs: positions.saturating_mul(cs(&[cm(c, o)?, cm(cm(o, o)?, k)?, cm(2, o)?])?),
    })
}

const GRAPH_IN: &[PortDef] = &[port("x"), int_port("edges")];

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "gcn_conv",
        name: "GCNConv",
        category: Category::Graph,
        doc: "Graph convolution: each node sums its neighbours' projected features (and its own), each message scaled by 1/√(deg·deg′) with self-loops counted — Â·X·W by sparse message passing.",
        paper: "Kipf & Welling, Semi-Supervised Classification with Graph Convolutional Networks, ICLR 2017",
        params: &[
            int("out_features", 16, 1, BIG, "Output features per node"),
            flag("bias", true, "Learn a bias"),
        ],
        inputs: Ports::Fixed(GRAPH_IN),
        outputs: Ports::Fixed(Y),
        infer: gcn_rule,
    },
    LayerSpec {
        id: "sage_conv",
        name: "SAGEConv",
        category: Category::Graph,
        doc: "GraphSAGE (mean aggregator): a node's own features and the mean of its neighbours', each projected, summed.",
        paper: "Hamilton et al., Inductive Representation Learning on Large Graphs, NeurIPS 2017",
        params: &[
            int("out_features", 16, 1, BIG, "Output features per node"),
            flag("bias", true, "Learn a bias"),
        ],
        inputs: Ports::Fixed(GRAPH_IN),
        outputs: Ports::Fixed(Y),
        infer: sage_rule,
    },
    LayerSpec {
        id: "gat_conv",
        name: "GATConv",
        category: Category::Graph,
        doc: "Graph attention: each node weighs its neighbours (and itself) by a softmax over LeakyReLU(a·[Wh_i ‖ Wh_j]) scores, several heads concatenated or averaged; its weights go to the attention probe (edge widths in the graph view).",
        paper: "Veličković et al., Graph Attention Networks, ICLR 2018",
        params: &[
            int("out_features", 8, 1, BIG, "Output features per head"),
            int("heads", 8, 1, 256, "Attention heads"),
            flag("concat", true, "Concatenate heads (false: average)"),
            float("dropout", 0.6, 0.0, 0.999, "Dropout on attention coefficients"),
            flag("bias", true, "Learn a bias"),
        ],
        inputs: Ports::Fixed(GRAPH_IN),
        outputs: Ports::Fixed(Y),
        infer: gat_rule,
    },
    LayerSpec {
        id: "mpnn_conv",
        name: "MPNNConv",
        category: Category::Graph,
        doc: "Message passing with an edge network and a GRU update: each edge's features become a matrix (a small MLP) that turns the source's state into a message; a node sums its messages and updates its state with a GRU cell. Without edge features one learned matrix serves every edge.",
        paper: "Gilmer et al., Neural Message Passing for Quantum Chemistry, ICML 2017",
        params: &[int("edge_hidden", 32, 1, BIG, "Hidden width of the edge network")],
        inputs: Ports::Fixed(&[port("x"), int_port("edges"), opt_port("edge_attr", Accept::Float)]),
        outputs: Ports::Fixed(Y),
        infer: mpnn_rule,
    },
    LayerSpec {
        id: "stgcn_block",
        name: "ST-GCN block",
        category: Category::Graph,
        doc: "Spatio-temporal graph convolution on [B, channels, frames, joints]: a graph convolution over the skeleton's bones in every frame (1×1 projection, then the symmetric normalised adjacency with self-loops by message passing), ReLU, a convolution over time at every joint, and a residual connection.",
        paper: "Yan, Xiong & Lin, Spatial Temporal Graph Convolutional Networks for Skeleton-Based Action Recognition, AAAI 2018",
        params: &[
            int("out_channels", 64, 1, BIG, "Channels out"),
            int(
                "temporal_kernel",
                5,
                1,
                63,
                "Frames the temporal convolution spans (odd)",
            ),
            ParamSpec {
                name: "bones",
                kind: ParamKind::Ints,
                default: ParamDefault::Ints(&[0, 1]),
                tooltip: "The skeleton as joint pairs: 0, 1, 1, 2, … (each bone links two joints both ways)",
            },
            flag("residual", true, "Add the input (projected when the channels change)"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: stgcn_rule,
    },
    LayerSpec {
        id: "graph_pool",
        name: "GraphPool",
        category: Category::Graph,
        doc: "Readout for graph classification: the mean (or sum) of the node states of each graph in a batch of graphs, [N, F] → [G, F], by the graph index of every node.",
        paper: "Gilmer et al., ICML 2017 (readout); Xu et al., How Powerful are Graph Neural Networks?, ICLR 2019 (sum)",
        params: &[choice(
            "mode",
            "mean",
            &["mean", "sum"],
            "How a graph's nodes are combined",
        )],
        inputs: Ports::Fixed(&[port("x"), int_port("batch")]),
        outputs: Ports::Fixed(Y),
        infer: pool_rule,
    },
];
