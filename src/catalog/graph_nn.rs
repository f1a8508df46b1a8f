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
];
