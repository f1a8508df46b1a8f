//! Normalizing flows: exact maximum likelihood through a chain of invertible layers; sampling
//! runs the chain backwards from Gaussian noise.

use super::*;
use crate::catalog::rules::{flag, float, int};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "flow",
    name: "Normalizing flow",
    doc: "Maps each data point (the dataset Input) through invertible layers to a latent z (role 'latent') and maximises the exact log-likelihood log N(z; 0, I) + Σ log|det J| of every layer; samples run the layers backwards from Gaussian noise. Images are dequantised and scored in bits per dimension.",
    paper: "Dinh, Sohl-Dickstein & Bengio, Density Estimation Using Real NVP, ICLR 2017; Kingma & Dhariwal, Glow, NeurIPS 2018",
    networks: &[NetworkSpec {
        name: "flow",
        roles: &["latent"],
    }],
    roles: &[role("latent", Some(DType::Float), &[2, 4])],
    settings: &[
        flag(
            "dequantize",
            true,
            "Images: spread each of the 256 pixel levels uniformly over its bin, so the likelihood is a fair density (Theis et al. 2016)",
        ),
        float(
            "temperature",
            0.7,
            0.0,
            2.0,
            "Spread of the latent noise when sampling (Glow samples images at 0.7; 1 is the model itself)",
        ),
        int(
            "samples",
            500,
            1,
            100_000,
            "Points drawn for the samples view (2-D data)",
        ),
    ],
    data: &[DataKind::Examples],
    series: &[
        series(
            "loss",
            "negative log-likelihood per dimension (nats)",
            "Loss",
            When::Step,
        ),
        series("val_nll", "validation NLL per example (nats)", "Likelihood", When::Eval),
        series(
            "val_bpd",
            "validation bits per dimension",
            "Bits per dimension",
            When::Eval,
        ),
    ],
    views: &[
        ViewSpec {
            channel: "samples",
            title: "Samples",
            doc: "Drawn from Gaussian noise through the inverse flow: a scatter over the data for points, a grid for images",
            on_node: Some("latent"),
        },
        ViewSpec {
            channel: "latent",
            title: "Data in latent space",
            doc: "Validation points mapped to z: a trained flow turns the data into a round Gaussian blob",
            on_node: None,
        },
    ],
    headline: &["val_bpd", "val_nll"],
    invertible: true,
    sources: &[],
    generate: Some(GenerateSpec {
        doc: "Gaussian noise (at the recipe's temperature) run backwards through the flow",
        class: false,
        guidance: false,
        steps: false,
        prompt: false,
    }),
};
