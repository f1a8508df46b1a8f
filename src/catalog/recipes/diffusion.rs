//! Denoising diffusion (DDPM) with ε-prediction; DDPM or DDIM sampling, optional class
//! conditioning with classifier-free guidance.

use super::*;
use crate::catalog::rules::{choice, float, int};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "diffusion",
    name: "Diffusion (DDPM)",
    doc: "The denoiser sees a noised image x_t (the dataset Input) and its timestep t (an integer Input with source 'timestep'), optionally the class (an integer dataset Input, dropped now and then for classifier-free guidance), and predicts the added noise (role 'noise_pred'; an output with twice the image's channels is read as ε and a learned variance, as in DiT, and trains its ε half).",
    paper: "Ho, Jain & Abbeel, Denoising Diffusion Probabilistic Models, NeurIPS 2020; Song, Meng & Ermon, DDIM, ICLR 2021; Ho & Salimans, Classifier-Free Diffusion Guidance, 2022",
    networks: &[NetworkSpec {
        name: "denoiser",
        roles: &["noise_pred"],
    }],
    roles: &[role("noise_pred", Some(DType::Float), &[2, 4])],
    settings: &[
        int("timesteps", 1000, 2, 100_000, "Diffusion steps T"),
        choice(
            "schedule",
            "linear",
            &["linear", "cosine"],
            "Noise schedule: linear β (Ho et al.) or cosine ᾱ (Nichol & Dhariwal)",
        ),
        float("beta_start", 1e-4, 1e-7, 0.5, "β at the first step (linear schedule)"),
        float("beta_end", 0.02, 1e-6, 0.999, "β at the last step (linear schedule)"),
        choice(
            "sampler",
            "ddim",
            &["ddim", "ddpm"],
            "DDIM (deterministic, few steps) or DDPM (ancestral, every step)",
        ),
        int("sample_steps", 50, 1, 100_000, "DDIM steps when sampling"),
        float(
            "guidance",
            2.0,
            0.0,
            20.0,
            "Classifier-free guidance scale w (class-conditioned graphs): ε = (1+w)·ε(x, c) − w·ε(x, ∅)",
        ),
        float(
            "ema",
            0.995,
            0.0,
            0.999_999,
            "Decay of the moving average of the weights that sampling uses (0: the raw weights; Ho et al. use 0.9999 over far longer runs)",
        ),
        float(
            "p_uncond",
            0.1,
            0.0,
            1.0,
            "How often training drops the class (to the extra 'no class' index)",
        ),
    ],
    data: &[DataKind::Examples],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("val_loss", "validation loss", "Loss", When::Eval),
    ],
    views: &[
        ViewSpec {
            channel: "samples",
            title: "Samples",
            doc: "64 images denoised from the same fixed noise at every refresh (classes 0–9 in columns when conditioned)",
            on_node: Some("noise_pred"),
        },
        ViewSpec {
            channel: "trajectory",
            title: "Denoising",
            doc: "One sample from pure noise x_T (left) to the image x_0 (right)",
            on_node: None,
        },
    ],
    headline: &["val_loss"],

    invertible: false,
    sources: &["timestep"],
    generate: Some(GenerateSpec {
        doc: "Denoises fresh noise with the trained denoiser (DDIM, or DDPM when the sampler setting says so)",
        class: true,
        guidance: true,
        steps: true,
        prompt: false,
    }),
};
