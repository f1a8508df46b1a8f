//! The project: settings, the top-level graph and the block definitions.

use super::file::CURRENT_FORMAT_VERSION;
use super::graph::Graph;
use super::params::Params;
pub use super::recipe::RecipeSettings;
use serde::{Deserialize, Serialize};

/// A whole Strata project, as saved in a `.strata` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// File format version; see [`super::migrate`].
    pub format_version: u32,
    /// Project name (shown in the title bar).
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Set on built-in presets: what archetype this is and where it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PresetInfo>,
    /// The training task.
    pub recipe: RecipeSettings,
    /// Which data the inputs are bound to.
    #[serde(default)]
    pub dataset: DatasetBinding,
    /// Optimizer, schedule, batch size, steps, seed.
    #[serde(default)]
    pub training: TrainingSettings,
    /// The top-level graph.
    pub graph: Graph,
    /// Reusable blocks (named subgraphs), sorted by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<BlockDef>,
}

impl Project {
    /// An empty project with the default recipe ([`RecipeSettings::default`]).
    pub fn new(name: impl Into<String>) -> Self {
        Project {
            format_version: CURRENT_FORMAT_VERSION,
            name: name.into(),
            description: String::new(),
            preset: None,
            recipe: RecipeSettings::default(),
            dataset: DatasetBinding::default(),
            training: TrainingSettings::default(),
            graph: Graph::new(),
            blocks: Vec::new(),
        }
    }

    /// The block definition with `id`.
    pub fn block(&self, id: &str) -> Option<&BlockDef> {
        self.blocks.iter().find(|b| b.id == id)
    }

    /// The block definition with `id`, mutably.
    pub fn block_mut(&mut self, id: &str) -> Option<&mut BlockDef> {
        self.blocks.iter_mut().find(|b| b.id == id)
    }

    /// Sorts blocks and normalises every graph (after loading).
    pub fn normalize(&mut self) {
        self.graph.normalize();
        self.blocks.sort_by(|a, b| a.id.cmp(&b.id));
        for b in &mut self.blocks {
            b.graph.normalize();
        }
    }
}

/// Provenance of a built-in preset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetInfo {
    /// Stable preset id (`resnet18`).
    pub id: String,
    /// The archetype in words ("Residual network").
    pub archetype: String,
    /// Family used to group presets in the gallery ("Convolutional").
    pub family: String,
    /// The paper, as "Authors, Title, Venue Year".
    pub paper: String,
    /// The reference implementation whose parameter count this configuration matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The reference implementation's parameter count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_params: Option<u64>,
    /// What a default run measured here (2-core CPU, release build), for the gallery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
}

/// The dataset the graph's inputs are bound to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetBinding {
    /// Dataset id (`mnist_5k`, `cora`, `cartpole`, ...); empty when unbound.
    #[serde(default)]
    pub id: String,
    /// Dataset options (path of user data, split, padding, ...).
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub options: Params,
}

/// Optimizer choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    /// Adam (Kingma & Ba 2015).
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    AdamW,
    /// Stochastic gradient descent with momentum.
    Sgd,
}

/// Learning-rate schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The same rate every step.
    Constant,
    /// Cosine decay to zero over the run.
    Cosine,
    /// Linear warm-up over `warmup_steps`, then cosine decay.
    WarmupCosine,
}

/// Training settings shared by every recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingSettings {
    /// Optimizer.
    pub optimizer: Optimizer,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Momentum (SGD only).
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Schedule.
    pub schedule: Schedule,
    /// Warm-up steps (warm-up schedules only).
    pub warmup_steps: u64,
    /// Examples per step.
    pub batch_size: u32,
    /// Training steps.
    pub steps: u64,
    /// Random seed (initialisation, shuffling, dropout).
    pub seed: u64,
    /// Clip the gradient norm to this value when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grad_clip: Option<f64>,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        TrainingSettings {
            optimizer: Optimizer::Adam,
            learning_rate: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            batch_size: 64,
            steps: 1000,
            seed: 42,
            grad_clip: None,
        }
    }
}

/// A reusable block: a named subgraph whose `port_in` / `port_out` nodes are the ports of
/// every node that instances it. All instances share this one definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockDef {
    /// Stable id, referenced by [`super::Node::block`].
    pub id: String,
    /// Display name ("ResNet basic block").
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The inside of the block.
    pub graph: Graph,
}
