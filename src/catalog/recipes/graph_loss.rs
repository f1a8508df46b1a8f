//! Minimise the graph's own losses: autoencoders, VAEs and any model whose objective is wired
//! from loss nodes are graphs, not code.

use super::*;
use crate::catalog::rules::flag;

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "graph_loss",
    name: "Graph loss",
    doc: "Minimises the sum of the graph's Outputs with role 'loss'; inputs are fed from the dataset (float: features, int: labels) or with noise.",
    paper: "",
    networks: &[NetworkSpec {
        name: "model",
        roles: &["loss"],
    }],
    roles: &[
        RoleSpec {
            role: "loss",
            dtype: Some(DType::Float),
            ranks: &[0, 1],
            many: true,
            required: true,
        },
        RoleSpec {
            role: "reconstruction",
            dtype: Some(DType::Float),
            ranks: &[2, 4],
            many: false,
            required: false,
        },
        RoleSpec {
            role: "mu",
            dtype: Some(DType::Float),
            ranks: &[2],
            many: false,
            required: false,
        },
    ],
    settings: &[flag(
        "normalize_inputs",
        false,
        "Standardise features to zero mean and unit variance (off: pixels in [0, 1], as reconstructions expect)",
    )],
    data: &[DataKind::Examples],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("val_loss", "validation loss", "Loss", When::Eval),
    ],
    views: &[
        ViewSpec {
            channel: "samples",
            title: "Reconstructions",
            doc: "Validation images (top) and the graph's 'reconstruction' output (below)",
            on_node: Some("reconstruction"),
        },
        ViewSpec {
            channel: "latent",
            title: "Latent space",
            doc: "The first two dimensions of the 'mu' output for validation examples, coloured by class",
            on_node: Some("mu"),
        },
        ViewSpec {
            channel: "interpolation",
            title: "Latent interpolation",
            doc: "Walks in a straight line between the codes ('mu') of two validation examples of different classes, decoding each point through the graph's 'reconstruction' output (needs a Reparameterize node fed by 'mu'); one row per pair, the two originals at the ends",
            on_node: None,
        },
    ],
    headline: &["val_loss"],

    invertible: false,
    sources: &[],
    generate: Some(GenerateSpec {
        doc: "Decodes codes drawn from the prior N(0, I) through 'reconstruction' (VAE-shaped graphs: a Reparameterize node fed by 'mu')",
        class: false,
        guidance: false,
        steps: false,
        prompt: false,
    }),
};
