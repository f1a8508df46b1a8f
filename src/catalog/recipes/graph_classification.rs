//! Graph classification: many small graphs, one class each, batched into one disjoint graph.

use super::*;

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "graph_classification",
    name: "Graph classification",
    doc: "One class per graph: each step batches several graphs into one disjoint graph — Inputs bound to 'features' [N, F], 'edges' [2, E] (both directions), 'batch' [N] (which graph each node is in) and optionally 'edge_features' [E, Fe] — and trains the 'prediction' output [G, classes] (after a GraphPool readout) by cross-entropy.",
    paper: "Gilmer et al., Neural Message Passing for Quantum Chemistry, ICML 2017",
    networks: &[NetworkSpec {
        name: "model",
        roles: &["prediction"],
    }],
    roles: &[RoleSpec {
        role: "prediction",
        dtype: Some(DType::Float),
        ranks: &[2],
        many: false,
        required: true,
    }],
    settings: &[],
    data: &[DataKind::Graphs],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("val_loss", "validation loss", "Loss", When::Eval),
        percent("val_accuracy", "validation graphs", "Accuracy", When::Eval),
        percent("test_accuracy", "test graphs", "Accuracy", When::Eval),
    ],
    views: &[ViewSpec {
        channel: "confusion",
        title: "Confusion matrix",
        doc: "How often each true class was predicted as each class (test graphs)",
        on_node: None,
    }],
    headline: &["test_accuracy", "val_accuracy", "val_loss"],

    invertible: false,
    sources: &[],
    generate: None,
};
