//! Recipes: the training loop of a task, declared as data. Each recipe has its own file here
//! (its declaration) and one in `engine/recipes/` (its loop). A declaration says which networks
//! the recipe trains, which output roles it needs and of what type, its typed settings (edited
//! in the inspector like layer parameters), the data it accepts, and the series and views it
//! produces — so the checker, the inspector, the dashboard and the CLI serve every recipe
//! without naming one.

pub mod a2c;
pub mod diffusion;
pub mod dqn;
pub mod flow;
pub mod gan;
pub mod graph_classification;
pub mod graph_loss;
pub mod language_model;
pub mod masked_lm;
pub mod node_classification;
mod planned;
pub mod ppo;
pub mod sac;
pub mod score_matching;
pub mod seq2seq;
pub mod supervised;

use super::spec::ParamSpec;
use super::types::DType;
use std::sync::OnceLock;

/// One output role a recipe reads, and what must reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleSpec {
    /// Role name (an `output` node's `role`).
    pub role: &'static str,
    /// Element type that must reach it (`None`: either).
    pub dtype: Option<DType>,
    /// Allowed ranks, batch included (empty: any).
    pub ranks: &'static [usize],
    /// Several outputs may take this role (their values are summed, e.g. losses).
    pub many: bool,
    /// The recipe cannot run without it.
    pub required: bool,
}

/// A network a recipe trains with its own parameters and optimizer: the nodes that feed its roles
/// (and do not feed an earlier network's roles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Name ("model", "generator", "critic").
    pub name: &'static str,
    /// Roles whose sub-graph it is.
    pub roles: &'static [&'static str],
}

/// The kinds of data a recipe can learn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Examples with features and, maybe, labels (images, tables).
    Examples,
    /// A token stream (text).
    Corpus,
    /// Pairs of token sequences (source → target).
    Pairs,
    /// One graph with node features, edges and masks.
    Graph,
    /// Many small graphs, one class each.
    Graphs,
    /// An environment to act in.
    Env,
}

/// When a series gets a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Every training step.
    Step,
    /// Every evaluation.
    Eval,
}

/// A named scalar series a recipe reports, and the chart it belongs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesSpec {
    /// Key in the reported scalars (`loss`, `val_accuracy`).
    pub key: &'static str,
    /// Legend label.
    pub label: &'static str,
    /// Chart title; series with the same chart share a plot.
    pub chart: &'static str,
    /// Step or evaluation.
    pub when: When,
    /// Shown as a percentage.
    pub percent: bool,
}

/// A view channel a recipe produces (see [`crate::telemetry::View`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewSpec {
    /// Channel id (`samples`, `confusion`).
    pub channel: &'static str,
    /// Tab or panel title.
    pub title: &'static str,
    /// One line on what it shows.
    pub doc: &'static str,
    /// The output role whose Output node shows this view's latest picture on the canvas
    /// (a generator's samples on its output), or `None`.
    pub on_node: Option<&'static str>,
}

/// A recipe's declaration (its training loop lives in `engine/recipes/`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecipeSpec {
    /// Stable id used in project files.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// One line.
    pub doc: &'static str,
    /// Paper, as "Authors, Title, Venue Year" (empty when none).
    pub paper: &'static str,
    /// Networks trained, each with its own optimizer.
    pub networks: &'static [NetworkSpec],
    /// Output roles read from the graph.
    pub roles: &'static [RoleSpec],
    /// Typed settings (saved in `recipe.settings`).
    pub settings: &'static [ParamSpec],
    /// Data it learns from.
    pub data: &'static [DataKind],
    /// Series it reports.
    pub series: &'static [SeriesSpec],
    /// Views it produces.
    pub views: &'static [ViewSpec],
    /// Metrics that sum a run up, best first (the CLI's headline).
    pub headline: &'static [&'static str],
    /// Every layer between the dataset Input and each role must have an exact inverse
    /// (normalizing flows): the checker names the first one that does not.
    pub invertible: bool,
    /// Input sources the graph must have (an Input whose `source` is each of these).
    pub sources: &'static [&'static str],
    /// What its Generate panel offers, when it can draw samples from trained weights.
    pub generate: Option<GenerateSpec>,
}

/// The knobs of a recipe's Generate panel (a seed is always offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerateSpec {
    /// One line on what gets drawn.
    pub doc: &'static str,
    /// A class to draw (class-conditioned graphs).
    pub class: bool,
    /// A classifier-free guidance scale.
    pub guidance: bool,
    /// Sampler steps.
    pub steps: bool,
    /// A text prompt and a temperature (language models: the samples are text).
    pub prompt: bool,
}

impl RecipeSpec {
    /// The setting called `name`.
    pub fn setting(&self, name: &str) -> Option<&ParamSpec> {
        self.settings.iter().find(|s| s.name == name)
    }

    /// The series with `key`.
    pub fn series(&self, key: &str) -> Option<&SeriesSpec> {
        self.series.iter().find(|s| s.key == key)
    }
}

/// A required output role that may appear once.
pub const fn role(role: &'static str, dtype: Option<DType>, ranks: &'static [usize]) -> RoleSpec {
    RoleSpec {
        role,
        dtype,
        ranks,
        many: false,
        required: true,
    }
}

/// A series.
pub const fn series(key: &'static str, label: &'static str, chart: &'static str, when: When) -> SeriesSpec {
    SeriesSpec {
        key,
        label,
        chart,
        when,
        percent: false,
    }
}

/// A series shown as a percentage.
pub const fn percent(key: &'static str, label: &'static str, chart: &'static str, when: When) -> SeriesSpec {
    SeriesSpec {
        key,
        label,
        chart,
        when,
        percent: true,
    }
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
    "latent",
    "q_values",
    "q1",
    "q2",
    "policy",
    "value",
    "loss",
    "embedding",
];

/// Every recipe declaration, in menu order.
pub fn recipes() -> &'static [RecipeSpec] {
    static ALL: OnceLock<Vec<RecipeSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = vec![
            supervised::SPEC,
            graph_loss::SPEC,
            gan::SPEC,
            diffusion::SPEC,
            score_matching::SPEC,
            flow::SPEC,
            language_model::SPEC,
            masked_lm::SPEC,
            seq2seq::SPEC,
            node_classification::SPEC,
            ppo::SPEC,
            dqn::SPEC,
            a2c::SPEC,
            sac::SPEC,
            graph_classification::SPEC,
        ];
        v.extend_from_slice(planned::SPECS);
        v
    })
}

/// The recipe with `id`.
pub fn recipe(id: &str) -> Option<&'static RecipeSpec> {
    recipes().iter().find(|r| r.id == id)
}

/// Two recipes share an id (the registry test uses this).
pub fn duplicate_recipe_id() -> Option<&'static str> {
    let all = recipes();
    all.iter()
        .enumerate()
        .find(|(i, r)| all[..*i].iter().any(|q| q.id == r.id))
        .map(|(_, r)| r.id)
}
