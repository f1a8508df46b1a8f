//! Score-based generative modelling on vectors: denoising score matching over several noise
//! levels, annealed Langevin dynamics to sample.

use super::*;
use crate::catalog::rules::{float, int};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "score_matching",
    name: "Score matching (NCSN)",
    doc: "The network sees a noisy point (the dataset Input) and its noise level (an Input with source 'timestep', fed log σ) and predicts the noise (role 'noise_pred'); sampling runs annealed Langevin dynamics from σ_max down to σ_min.",
    paper: "Song & Ermon, Generative Modeling by Estimating Gradients of the Data Distribution, NeurIPS 2019",
    networks: &[NetworkSpec {
        name: "score",
        roles: &["noise_pred"],
    }],
    roles: &[role("noise_pred", Some(DType::Float), &[2])],
    settings: &[
        float("sigma_min", 0.02, 1e-4, 10.0, "Smallest noise level"),
        float(
            "sigma_max",
            1.5,
            1e-3,
            100.0,
            "Largest noise level (about the spread of the data)",
        ),
        int("levels", 10, 2, 1000, "Noise levels, spaced geometrically"),
        int(
            "langevin_steps",
            100,
            1,
            10_000,
            "Langevin steps per noise level when sampling",
        ),
        float("step_size", 2e-4, 1e-8, 1.0, "ε: the step at level σ is ε·σ²/σ_min²"),
        int("samples", 500, 1, 100_000, "Points drawn for the samples view"),
    ],
    data: &[DataKind::Examples],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("val_loss", "validation loss", "Loss", When::Eval),
    ],
    views: &[ViewSpec {
        channel: "samples",
        title: "Samples over the data",
        doc: "Points drawn by annealed Langevin dynamics (orange) over the data (blue)",
        on_node: Some("noise_pred"),
    }],
    headline: &["val_loss"],

    invertible: false,
    sources: &["timestep"],
    generate: Some(GenerateSpec {
        doc: "Annealed Langevin dynamics from fresh noise (steps per noise level)",
        class: false,
        guidance: false,
        steps: true,
        prompt: false,
    }),
};
