//! Node classification: one graph, its nodes the examples; the model sees every node's features
//! and the edges at once and learns from the labels of a few nodes (semi-supervised).

use super::*;

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "node_classification",
    name: "Node classification",
    doc: "Semi-supervised labels on a graph's nodes: Inputs bound to 'features' [N, F] and 'edges' [2, E] (both directions of every edge); the 'prediction' output [N, classes] is trained by cross-entropy on the training nodes only, scored on the validation and test nodes.",
    paper: "Kipf & Welling, Semi-Supervised Classification with Graph Convolutional Networks, ICLR 2017",
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
    data: &[DataKind::Graph],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("val_loss", "validation loss", "Loss", When::Eval),
        percent("train_accuracy", "training nodes", "Accuracy", When::Eval),
        percent("val_accuracy", "validation nodes", "Accuracy", When::Eval),
        percent("test_accuracy", "test nodes", "Accuracy", When::Eval),
    ],
    views: &[
        ViewSpec {
            channel: "graph",
            title: "Graph",
            doc: "The data graph drawn by a force-directed layout, each node filled with its predicted class (ringed with its true class where it is wrong; training nodes larger); for graph attention, each edge as wide as its attention",
            on_node: Some("prediction"),
        },
        ViewSpec {
            channel: "about",
            title: "About the graph",
            doc: "Nodes, edges, connected components, and the nodes that no training label can reach",
            on_node: None,
        },
        ViewSpec {
            channel: "confusion",
            title: "Confusion matrix",
            doc: "How often each true class was predicted as each class (test nodes)",
            on_node: None,
        },
    ],
    headline: &["test_accuracy", "val_accuracy", "val_loss"],

    invertible: false,
    sources: &[],
    generate: None,
};
