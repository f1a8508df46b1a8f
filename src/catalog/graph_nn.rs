//! Graph neural network layers over node features [N, F] and a dense adjacency [N, N].

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

fn graph_inputs(ctx: &Ctx) -> Result<(Dim, u64), RuleError> {
    let x = ctx.input(0)?;
    let adj = ctx.input(1)?;
    if x.rank() != 2 {
        return Err(RuleError::at("x", format!("node features must be [N, F] but are {x}")));
    }
    if adj.rank() != 2 || !adj.dims[0].compatible(x.dims[0]) || !adj.dims[1].compatible(x.dims[0]) {
        return Err(RuleError::at(
            "adj",
            format!("the adjacency must be [N, N] with N = {} but is {adj}", x.dims[0]),
        ));
    }
    Ok((x.dims[0], known(x.dims[1], "x", "feature size")?))
}

fn gcn_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f) = graph_inputs(ctx)?;
    let o = ctx.uint("out_features");
    let bias = if ctx.bool("bias") { o } else { 0 };
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(o)])],
        params: cs(&[cm(f, o)?, bias])?,
        macs: cm(f, o)?,
    })
}

fn sage_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f) = graph_inputs(ctx)?;
    let o = ctx.uint("out_features");
    let bias = if ctx.bool("bias") { o } else { 0 };
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(o)])],
        params: cs(&[cm(2 * f, o)?, bias])?,
        macs: cm(2 * f, o)?,
    })
}

fn gat_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (n, f) = graph_inputs(ctx)?;
    let (o, h) = (ctx.uint("out_features"), ctx.uint("heads"));
    let concat = ctx.bool("concat");
    let width = if concat { cm(h, o)? } else { o };
    let bias = if ctx.bool("bias") { width } else { 0 };
    let lin = cm(f, cm(h, o)?)?;
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![n, Dim::Known(width)])],
        params: cs(&[lin, cm(2, cm(h, o)?)?, bias])?,
        macs: lin,
    })
}

const GRAPH_IN: &[PortDef] = &[port("x"), port("adj")];

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "gcn_conv",
        name: "GCNConv",
        category: Category::Graph,
        doc: "Graph convolution: Â·X·W with the symmetrically normalised adjacency (self-loops added).",
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
        doc: "GraphSAGE: a node's features and the mean of its neighbours', each projected, summed.",
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
        doc: "Graph attention: neighbours weighted by learned attention, several heads concatenated or averaged.",
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
