//! Recipes: the training loops. One file per recipe implements [`Recipe`] and registers a
//! [`RecipeEngine`] under the id its declaration (`catalog/recipes/`) uses. The trainer, the
//! CLI and the app look recipes up here by the project's recipe id and never name one:
//! adding a recipe adds a file and a line in [`engines`].

pub mod a2c;
pub mod common;
pub mod diffusion;
pub mod dqn;
pub mod flow;
pub mod gan;
pub mod graph_classification;
pub mod graph_loss;
pub mod language_model;
pub mod masked_lm;
pub mod node_classification;
pub mod ppo;
pub mod rl;
pub mod sac;
pub mod score_matching;
pub mod seq2seq;
pub mod supervised;
pub mod text;

use super::RunError;
use super::value::Value;
use crate::doc::{NodeId, Project};
use crate::telemetry::{Scalars, View};
use burn::tensor::{Device, Tensor};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the trainer asks of one step, and what the step hands back besides its scalars.
pub struct StepCx<'a> {
    /// Steps planned for the run (for schedules).
    pub total_steps: u64,
    /// Factor on the scheduled learning rate (the user's "set LR").
    pub lr_scale: f64,
    /// Top-level node whose output to keep for display.
    pub watch: Option<NodeId>,
    /// Measure every node's activity in this step.
    pub measure_activity: bool,
    /// Time every node's forward and backward pass after this step (a timing pass).
    pub measure_cost: bool,
    /// Set when the user stops: long loops inside a step (rollouts, sampling) check it.
    pub cancel: &'a AtomicBool,
    /// Out: the watched node's output (a device handle; read back later, off the hot path).
    pub tapped: Option<Value>,
    /// Out: mean |output| per top-level node, when measured.
    pub activity: Vec<(NodeId, f32)>,
    /// Out: measured forward and backward time per top-level node, when asked for.
    pub cost: Vec<crate::engine::profile::NodeCost>,
    /// Out: auxiliary losses the graph's layers left (mixture-of-experts balance), added to the
    /// loss by [`common::Trainee::descend`].
    pub aux: Option<Tensor<1>>,
    /// Out: each mixture-of-experts layer's share of tokens per expert in this step.
    pub router_loads: Vec<Vec<f32>>,
}

impl<'a> StepCx<'a> {
    /// A plain step of a run of `total_steps`: no watched node, no activity, scheduled rate.
    pub fn new(total_steps: u64, cancel: &'a AtomicBool) -> Self {
        StepCx {
            total_steps,
            lr_scale: 1.0,
            watch: None,
            measure_activity: false,
            measure_cost: false,
            cancel,
            tapped: None,
            activity: Vec::new(),
            cost: Vec::new(),
            aux: None,
            router_loads: Vec::new(),
        }
    }

    /// Whether this step's forward pass must keep every node's output (for activity or cost).
    pub fn keep_all(&self) -> bool {
        self.measure_activity || self.measure_cost
    }

    /// Takes what the trainer asked to see from a forward pass of `model`: the watched node's
    /// output, every node's activity, and (when asked) every node's measured cost.
    pub fn observe(&mut self, model: &crate::engine::GraphModel, out: &crate::engine::Forward) {
        self.tapped = out.tapped.clone();
        self.aux = out.aux.clone();
        self.router_loads = out.router_loads.clone();
        if let Some(all) = &out.all {
            if self.measure_activity {
                self.activity = model.activity(all);
            }
            if self.measure_cost {
                self.cost = model.profile(all, 3);
            }
        }
    }

    /// True once the user asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Scalars of a step that may still live on the device: read back later (one step late in the
/// trainer), so the hot path never waits for the device.
#[derive(Default)]
pub struct Pending {
    known: Scalars,
    names: Vec<String>,
    values: Vec<Tensor<1>>,
}

impl Pending {
    /// Nothing yet.
    pub fn new() -> Self {
        Pending::default()
    }

    /// A value known on the host (the learning rate).
    pub fn with(mut self, name: &str, v: f64) -> Self {
        self.known.insert(name.to_owned(), v);
        self
    }

    /// A one-element device tensor (detached from the autodiff graph).
    pub fn with_tensor(mut self, name: &str, t: Tensor<1>) -> Self {
        self.names.push(name.to_owned());
        self.values.push(t.detach());
        self
    }

    /// Reads every value back in one transfer.
    pub fn read(self) -> Scalars {
        let mut out = self.known;
        if !self.values.is_empty() {
            let all: Vec<f32> = Tensor::cat(self.values, 0).into_data().iter::<f32>().collect();
            for (name, v) in self.names.into_iter().zip(all) {
                out.insert(name, f64::from(v));
            }
        }
        out
    }
}

/// An evaluation: scalars for the curves and views (confusion matrix, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Steps done when evaluated.
    pub step: u64,
    /// Named results (`val_loss`, `val_accuracy`, ...).
    pub scalars: Scalars,
    /// Views by channel.
    pub views: Vec<(String, View)>,
}

/// What the user asks the Generate panel for. Fields a recipe does not use are ignored (see the
/// recipe's [`crate::catalog::GenerateSpec`] for the ones it offers).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenerateRequest {
    /// Seed of the starting noise: the same seed draws the same samples from the same weights.
    pub seed: u64,
    /// How many samples (a square grid for images).
    pub count: usize,
    /// The class to draw (class-conditioned graphs); `None`: one class per row.
    pub class: Option<i64>,
    /// Classifier-free guidance scale; `None`: the recipe's setting.
    pub guidance: Option<f64>,
    /// Sampler steps; `None`: the recipe's setting.
    pub steps: Option<usize>,
    /// Text to continue (language models); `None`: the recipe's prompt setting.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Sampling temperature (language models); `None`: the recipe's setting.
    #[serde(default)]
    pub temperature: Option<f64>,
}

impl Default for GenerateRequest {
    fn default() -> Self {
        GenerateRequest {
            seed: 1,
            count: 64,
            class: None,
            guidance: None,
            steps: None,
            prompt: None,
            temperature: None,
        }
    }
}

/// The bookkeeping half of a [`Recipe`] whose one network is a [`common::Trainee`] in the field
/// `t`: parameter count, steps done, checkpoint save and resume.
macro_rules! trainee_bookkeeping {
    () => {
        fn param_count(&self) -> usize {
            self.t.net.param_count()
        }

        fn steps_done(&self) -> u64 {
            self.t.step
        }

        fn save(&self, dir: &std::path::Path) -> Result<(), crate::engine::RunError> {
            self.t.save(dir)
        }

        fn resume(&mut self, dir: &std::path::Path) -> Result<Vec<String>, crate::engine::RunError> {
            self.t.resume(dir)
        }
    };
}
pub(crate) use trainee_bookkeeping;

/// A training loop. Built by its [`RecipeEngine`] from a project; driven by the trainer thread.
pub trait Recipe {
    /// Learned parameters over every network.
    fn param_count(&self) -> usize;
    /// Steps done.
    fn steps_done(&self) -> u64;
    /// One optimisation step (or one rollout and update). Returns its scalars unread.
    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError>;
    /// An evaluation (validation split, evaluation episodes).
    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError>;
    /// Views to refresh while training (sample grids, ...), by channel; off the hot path.
    fn views(&mut self, cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError>;
    /// Samples drawn from the current weights as the user asked (the Generate panel); `None`
    /// when this recipe (or this graph) has nothing to generate.
    fn generate(&mut self, _request: &GenerateRequest, _cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        Ok(None)
    }
    /// After a non-finite loss: the first node whose output is non-finite, if it can be found.
    fn non_finite_culprit(&mut self) -> Option<String> {
        None
    }
    /// Writes a checkpoint (every network and optimizer, where the data stands).
    fn save(&self, dir: &Path) -> Result<(), RunError>;
    /// Continues from a checkpoint; returns the nodes that start fresh (new or changed since).
    fn resume(&mut self, dir: &Path) -> Result<Vec<String>, RunError>;
}

/// What a recipe is built from.
pub struct RecipeInit<'a> {
    /// The project (its recipe settings included).
    pub project: &'a Project,
    /// The device (without autodiff; recipes add it where they train).
    pub device: &'a Device,
    /// Seed (initialisation, data order, noise).
    pub seed: u64,
    /// Folder that relative data paths resolve against.
    pub data_dir: Option<&'a Path>,
}

/// A registered training loop.
pub struct RecipeEngine {
    /// The recipe id (as in its declaration).
    pub id: &'static str,
    /// Builds the loop for a project.
    pub start: fn(&RecipeInit) -> Result<Box<dyn Recipe>, RunError>,
}

/// Every recipe that can train.
pub fn engines() -> &'static [RecipeEngine] {
    &[
        supervised::ENGINE,
        graph_loss::ENGINE,
        gan::ENGINE,
        diffusion::ENGINE,
        score_matching::ENGINE,
        flow::ENGINE,
        language_model::ENGINE,
        masked_lm::ENGINE,
        seq2seq::ENGINE,
        node_classification::ENGINE,
        ppo::ENGINE,
        dqn::ENGINE,
        a2c::ENGINE,
        sac::ENGINE,
        graph_classification::ENGINE,
    ]
}

/// The training loop of recipe `id`.
pub fn engine(id: &str) -> Option<&'static RecipeEngine> {
    engines().iter().find(|e| e.id == id)
}

/// True when recipe `id` can be trained by this build.
pub fn trainable(id: &str) -> bool {
    engine(id).is_some()
}

/// Builds the project's recipe, or says why it cannot train.
pub fn start(init: &RecipeInit) -> Result<Box<dyn Recipe>, RunError> {
    let id = init.project.recipe.id.as_str();
    // What the recipe asks of the graph (roles and their types, settings), all problems named.
    let report = crate::shape::check(init.project);
    let problems: Vec<&str> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::shape::Severity::Error)
        .map(|d| d.message.as_str())
        .collect();
    if !problems.is_empty() && engine(id).is_some() {
        return Err(RunError::BadInput(format!(
            "the graph has {} problem(s): {}",
            problems.len(),
            problems.join("; ")
        )));
    }
    if engine(id).is_some() {
        let (free, place) = super::device::available_memory(init.device);
        check_memory_on(init.project, free, place)?;
    }
    match engine(id) {
        Some(e) => (e.start)(init),
        None => {
            let name = crate::catalog::recipe(id).map_or(id, |r| r.name);
            let can: Vec<&str> = engines().iter().map(|e| e.id).collect();
            Err(RunError::BadInput(format!(
                "the '{name}' recipe cannot be trained yet — this build trains: {}",
                can.join(", ")
            )))
        }
    }
}

/// A recipe setting: the project's value, else the declaration's default.
pub fn setting(project: &Project, name: &str) -> Option<crate::doc::ParamValue> {
    project.recipe.settings.get(name).cloned().or_else(|| {
        crate::catalog::recipe(&project.recipe.id)
            .and_then(|r| r.setting(name))
            .map(|s| s.default.to_value())
    })
}

/// Builds the project's recipe on the CPU and loads the weights of `checkpoint` (a run's
/// checkpoint folder), to generate or evaluate from them.
pub fn load(project: &Project, checkpoint: &Path, data_dir: Option<&Path>) -> Result<Box<dyn Recipe>, RunError> {
    let dev = super::device::select(super::DeviceChoice::Cpu).map_err(|e| RunError::Failed(e.to_string()))?;
    let init = RecipeInit {
        project,
        device: &dev.device,
        seed: project.training.seed,
        data_dir,
    };
    let mut recipe = start(&init)?;
    recipe.resume(checkpoint)?;
    Ok(recipe)
}

/// Refuses a run whose estimated peak memory exceeds `available` bytes, naming the largest nodes
/// and what to change — before anything is allocated, so an oversized model never takes the
/// process down.
pub fn check_memory(project: &Project, available: Option<u64>) -> Result<(), RunError> {
    check_memory_on(project, available, "this machine")
}

/// [`check_memory`] against the memory of `place` ("this machine", "the GPU").
pub fn check_memory_on(project: &Project, available: Option<u64>, place: &str) -> Result<(), RunError> {
    use crate::shape::memory::{estimate, human};
    let (Some(m), Some(free)) = (estimate(project), available) else {
        return Ok(());
    };
    if m.total <= free {
        return Ok(());
    }
    let name = |id: crate::doc::NodeId| {
        project.graph.node(id).map_or_else(
            || format!("node {}", id.0),
            |n| crate::catalog::display_title(project, n),
        )
    };
    let largest: Vec<String> = m
        .nodes
        .iter()
        .take(3)
        .map(|n| {
            format!(
                "'{}' {} (weights {}, activations {})",
                name(n.node),
                human(n.total()),
                human(n.weights),
                human(n.activations)
            )
        })
        .collect();
    let weights = m.parameters + m.gradients + m.optimizer;
    let fix = if weights > m.activations {
        "make these layers smaller (fewer features or channels)"
    } else {
        "lower the batch size, or make the graph shallower or its tensors smaller"
    };
    Err(RunError::BadInput(format!(
        "training this graph needs about {} of memory (weights, gradients and optimizer state {}, activations {} at batch {}) but {place} has {} free — largest of its {} nodes: {}; {fix}",
        human(m.total),
        human(weights),
        human(m.activations),
        project.training.batch_size,
        human(free),
        m.nodes.len(),
        largest.join(", ")
    )))
}
