//! Recipes: the training loop of a task, and the output roles each one needs on the graph.

/// A recipe's declaration (its training loop lives in the engine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipeSpec {
    /// Stable id used in project files.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// One line.
    pub doc: &'static str,
    /// Output roles the graph must provide.
    pub roles: &'static [&'static str],
}

/// Every output role an `output` node can take.
pub const ROLES: &[&str] = &[
    "prediction",
    "logits",
    "hidden",
    "pooled",
    "reconstruction",
    "mu",
    "logvar",
    "fake",
    "score",
    "noise_pred",
    "log_prob",
    "q_values",
    "policy",
    "value",
    "loss",
    "embedding",
];

/// Every recipe.
pub const RECIPES: &[RecipeSpec] = &[
    RecipeSpec {
        id: "supervised",
        name: "Supervised",
        doc: "Classification, regression or per-pixel segmentation against labels.",
        roles: &["prediction"],
    },
    RecipeSpec {
        id: "autoencoder",
        name: "Autoencoder",
        doc: "Reconstruct the input through a bottleneck.",
        roles: &["reconstruction"],
    },
    RecipeSpec {
        id: "vae",
        name: "Variational autoencoder",
        doc: "Reconstruction + KL to a unit Gaussian (Kingma & Welling 2014).",
        roles: &["reconstruction", "mu", "logvar"],
    },
    RecipeSpec {
        id: "gan",
        name: "GAN",
        doc: "Generator (feeds `fake`) against discriminator (feeds `score`) (Goodfellow et al. 2014).",
        roles: &["fake", "score"],
    },
    RecipeSpec {
        id: "diffusion",
        name: "Diffusion (DDPM)",
        doc: "Denoiser predicts the added noise (Ho et al. 2020).",
        roles: &["noise_pred"],
    },
    RecipeSpec {
        id: "flow",
        name: "Normalizing flow",
        doc: "Maximum likelihood through invertible layers.",
        roles: &["log_prob"],
    },
    RecipeSpec {
        id: "language_model",
        name: "Language model",
        doc: "Next-token prediction (causal).",
        roles: &["logits"],
    },
    RecipeSpec {
        id: "masked_lm",
        name: "Masked language model",
        doc: "Predict masked tokens (Devlin et al. 2019).",
        roles: &["logits"],
    },
    RecipeSpec {
        id: "seq2seq",
        name: "Sequence to sequence",
        doc: "Encoder-decoder with teacher forcing.",
        roles: &["logits"],
    },
    RecipeSpec {
        id: "node_classification",
        name: "Node classification",
        doc: "Semi-supervised labels on a graph's nodes.",
        roles: &["prediction"],
    },
    RecipeSpec {
        id: "dqn",
        name: "DQN",
        doc: "Q-learning with replay and a target network (Mnih et al. 2015).",
        roles: &["q_values"],
    },
    RecipeSpec {
        id: "ppo",
        name: "PPO",
        doc: "Clipped policy optimisation, actor-critic (Schulman et al. 2017).",
        roles: &["policy", "value"],
    },
];

/// The recipe with `id`.
pub fn recipe(id: &str) -> Option<&'static RecipeSpec> {
    RECIPES.iter().find(|r| r.id == id)
}
