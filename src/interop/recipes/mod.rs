//! What `train.py` does per recipe: a registry keyed by recipe id, one file per recipe (like the
//! engine's loops). Each entry writes the recipe's part of the script (how a batch feeds the
//! model's inputs and what it minimises) and the data it trains on.

mod diffusion;
mod flow;
mod gan;
mod graph_classification;
mod graph_loss;
mod language_model;
mod masked_lm;
mod node_classification;
mod rl;
mod score_matching;
mod seq2seq;
mod supervised;

use super::safetensors::IntTensor;
use super::weights::NamedTensor;
use crate::doc::Project;
use crate::engine::recipes::common::Examples;

/// A model input as `train.py` feeds it.
pub struct PyInput {
    /// The forward pass's argument name.
    pub arg: String,
    /// The dataset field it is bound to.
    pub field: String,
    /// Integer input?
    pub int: bool,
    /// Where its values come from (`dataset`, `noise`, …).
    pub source: String,
    /// Checked sizes (batch first; `None` where open).
    pub dims: Vec<Option<usize>>,
}

/// What a recipe's writer gets.
pub struct TrainCtx<'a> {
    /// The project.
    pub project: &'a Project,
    /// Its data, loaded and split as a Strata run would (same seed); `None` for recipes that
    /// read another kind of data (a text).
    pub examples: Result<&'a Examples, String>,
    /// Folder that relative data paths resolve against.
    pub data_dir: Option<&'a std::path::Path>,
    /// The model's inputs.
    pub inputs: &'a [PyInput],
}

/// The recipe's part of `train.py` and its data.
pub struct TrainPart {
    /// Python defining `TASK` and either `inputs_of(x, y)` (the forward pass's keyword arguments
    /// for a batch) with `objective(out, y)`, or `loss_of(net, x, y)` when the loss needs more
    /// than one pass or shares random draws with the inputs. Both return the loss and what was
    /// right: `None`, a count of examples, or `(count, out_of)`. Optionally
    /// `prepare(data, device, model, fresh)`, called once with the loaded data before training
    /// (`fresh`: no weights were loaded).
    pub code: String,
    /// `x_train`, `y_train`, `x_val`, `y_val` (and whatever `prepare` reads) as float tensors…
    pub floats: Vec<NamedTensor>,
    /// …or integer tensors.
    pub ints: Vec<IntTensor>,
    /// The part writes its own `main()` (the reinforcement-learning recipes: an environment,
    /// not a data file); the template's data loop and `data.safetensors` are left out.
    pub own_loop: bool,
}

/// Writes a recipe's part.
pub type TrainFn = fn(&TrainCtx) -> Result<TrainPart, String>;

/// Recipes `train.py` can run, by id.
pub const TRAINERS: &[(&str, TrainFn)] = &[
    (supervised::ID, supervised::part),
    (graph_loss::ID, graph_loss::part),
    (language_model::ID, language_model::part),
    (node_classification::ID, node_classification::part),
    (seq2seq::ID, seq2seq::part),
    (masked_lm::ID, masked_lm::part),
    (diffusion::ID, diffusion::part),
    (score_matching::ID, score_matching::part),
    (flow::ID, flow::part),
    (graph_classification::ID, graph_classification::part),
    (gan::ID, gan::part),
    (rl::DQN, rl::part),
    (rl::PPO, rl::part),
    (rl::A2C, rl::part),
    (rl::SAC, rl::part),
];

/// Recipes whose networks run in two stages, the second reading the first's output in place of
/// data: (recipe, first role, second role, first method, second method). `model.py` gets one
/// method per stage for them.
pub const STAGES: &[(&str, &str, &str, &str, &str)] = &[(gan::ID, "fake", "score", "generate", "discriminate")];

/// The forward pass's argument bound to dataset field `field`, if the graph has one.
fn arg_of<'a>(ctx: &'a TrainCtx, field: &str) -> Option<&'a str> {
    ctx.inputs.iter().find(|i| i.field == field).map(|i| i.arg.as_str())
}

/// The forward pass's argument for the text's token ids (an integer dataset input).
fn token_arg(ctx: &TrainCtx) -> Result<String, String> {
    ctx.inputs
        .iter()
        .find(|i| i.int && i.source == "dataset")
        .map(|i| i.arg.clone())
        .ok_or_else(|| "the graph has no integer token input".into())
}

/// An integer tensor for `data.safetensors`.
fn int_tensor(name: &str, dims: Vec<usize>, data: Vec<i64>) -> IntTensor {
    IntTensor {
        name: name.into(),
        dims,
        data,
    }
}

/// The run's examples with the training and validation splits as `x_train`/`x_val` (features,
/// standardised when `normalize`) and `y_train`/`y_val` (class labels): what most parts feed.
fn labelled_splits<'a>(
    ctx: &'a TrainCtx,
    normalize: bool,
) -> Result<(&'a Examples, Vec<NamedTensor>, Vec<IntTensor>), String> {
    let ex = ctx
        .examples
        .as_ref()
        .map_err(|e| format!("cannot load the data: {e}"))?;
    let (train, val) = (&ex.split.train, &ex.split.val);
    let floats = vec![
        features(ex, train, normalize, "x_train")?,
        features(ex, val, normalize, "x_val")?,
    ];
    let ints = vec![labels(ex, train, "y_train"), labels(ex, val, "y_val")];
    Ok((ex, floats, ints))
}

/// Features of examples `idx` as the engine feeds them (padding, standardisation).
fn features(ex: &Examples, idx: &[usize], normalize: bool, name: &str) -> Result<NamedTensor, String> {
    let v = ex.features(idx, normalize, &burn::tensor::Device::flex());
    Ok(NamedTensor {
        name: name.into(),
        dims: v.dims(),
        data: v.to_f32s().ok_or("features are not floats")?,
    })
}

/// Class labels of examples `idx`.
fn labels(ex: &Examples, idx: &[usize], name: &str) -> IntTensor {
    IntTensor {
        name: name.into(),
        dims: vec![idx.len()],
        data: ex.data.batch_labels(idx),
    }
}
