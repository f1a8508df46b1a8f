//! What `train.py` does per recipe: a registry keyed by recipe id, one file per recipe (like the
//! engine's loops). Each entry writes the recipe's part of the script (how a batch feeds the
//! model's inputs and what it minimises) and the data it trains on.

mod graph_loss;
mod language_model;
mod node_classification;
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
    /// Python defining `inputs_of(x, y)` (the forward pass's keyword arguments for a batch),
    /// `objective(out, y)` (the loss and, for classes, the count of right answers), `TASK`, and
    /// optionally `prepare(data, device)` (called once with the loaded data).
    pub code: String,
    /// `x_train`, `y_train`, `x_val`, `y_val` (and whatever `prepare` reads) as float tensors…
    pub floats: Vec<NamedTensor>,
    /// …or integer tensors.
    pub ints: Vec<IntTensor>,
}

/// Writes a recipe's part.
pub type TrainFn = fn(&TrainCtx) -> Result<TrainPart, String>;

/// Recipes `train.py` can run, by id.
pub const TRAINERS: &[(&str, TrainFn)] = &[
    (supervised::ID, supervised::part),
    (graph_loss::ID, graph_loss::part),
    (language_model::ID, language_model::part),
    (node_classification::ID, node_classification::part),
];

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
