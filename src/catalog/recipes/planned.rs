//! Recipes that are declared (so their presets check and their roles are known) but whose
//! training loops are not written yet. Each moves to a file of its own when its loop lands.

use super::*;

const fn planned(
    id: &'static str,
    name: &'static str,
    doc: &'static str,
    networks: &'static [NetworkSpec],
    roles: &'static [RoleSpec],
    data: &'static [DataKind],
) -> RecipeSpec {
    RecipeSpec {
        id,
        name,
        doc,
        paper: "",
        networks,
        roles,
        settings: &[],
        data,
        series: LOSS_SERIES,
        views: &[],
        headline: &["val_loss"],

        invertible: false,
        sources: &[],
        generate: None,
    }
}

const F: Option<DType> = Some(DType::Float);
const LOSS_SERIES: &[SeriesSpec] = &[
    series("loss", "loss", "Loss", When::Step),
    series("val_loss", "validation loss", "Loss", When::Eval),
];

/// The declarations.
pub const SPECS: &[RecipeSpec] = &[
    planned(
        "autoencoder",
        "Autoencoder",
        "Reconstruct the input through a bottleneck.",
        &[NetworkSpec {
            name: "model",
            roles: &["reconstruction"],
        }],
        &[role("reconstruction", F, &[2, 4])],
        &[DataKind::Examples],
    ),
    planned(
        "vae",
        "Variational autoencoder",
        "Reconstruction + KL to a unit Gaussian (Kingma & Welling 2014).",
        &[NetworkSpec {
            name: "model",
            roles: &["reconstruction", "mu", "logvar"],
        }],
        &[
            role("reconstruction", F, &[2, 4]),
            role("mu", F, &[2]),
            role("logvar", F, &[2]),
        ],
        &[DataKind::Examples],
    ),
];
