//! Generative adversarial networks: a generator (what feeds `fake`) against a discriminator
//! (what feeds `score`), one optimizer each, non-saturating loss.

use super::*;
use crate::catalog::rules::{choice, float};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "gan",
    name: "GAN",
    doc: "Generator (feeds 'fake', from a noise Input) against discriminator (feeds 'score', one logit per example); the discriminator sees real images in place of the fakes; non-saturating generator loss.",
    paper: "Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014; Radford et al., DCGAN, ICLR 2016",
    networks: &[
        NetworkSpec {
            name: "generator",
            roles: &["fake"],
        },
        NetworkSpec {
            name: "critic",
            roles: &["score"],
        },
    ],
    roles: &[
        role("fake", Some(DType::Float), &[2, 4]),
        role("score", Some(DType::Float), &[2]),
    ],
    settings: &[
        float(
            "label_smoothing",
            0.1,
            0.0,
            0.5,
            "One-sided: the discriminator's target for real images is 1 minus this (Salimans et al. 2016)",
        ),
        choice(
            "pixel_range",
            "-1..1",
            &["-1..1", "0..1"],
            "The range of the generator's output (tanh: -1..1, sigmoid: 0..1); real images are scaled to it",
        ),
    ],
    data: &[DataKind::Examples],
    series: &[
        series("d_loss", "discriminator loss", "Losses", When::Step),
        series("g_loss", "generator loss", "Losses", When::Step),
        series("d_real", "D(real)", "Discriminator", When::Step),
        series("d_fake", "D(fake)", "Discriminator", When::Step),
        series("val_d_real", "D(validation images)", "Discriminator", When::Eval),
        series("val_d_fake", "D(fresh fakes)", "Discriminator", When::Eval),
    ],
    views: &[ViewSpec {
        channel: "samples",
        title: "Samples",
        doc: "64 fakes from the same fixed noise at every refresh: watch them turn into digits",
        on_node: Some("fake"),
    }],
    headline: &["val_d_real", "val_d_fake"],

    invertible: false,
    sources: &["noise"],
    generate: Some(GenerateSpec {
        doc: "Runs the generator on fresh noise",
        class: false,
        guidance: false,
        steps: false,
        prompt: false,
    }),
};
