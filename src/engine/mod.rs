//! The training engine: compiles a checked graph to one Burn module, chooses the device, runs
//! recipes on a trainer thread, and reports through [`trainer::Event`]s. Never imports egui.

mod checkpoint;
pub mod device;
mod model;
mod ops;
mod samples;
pub mod supervised;
pub mod trainer;
mod value;
pub mod watch;

pub use device::{DeviceChoice, DeviceError, SelectedDevice};
pub use model::{CompileError, ForwardError, GraphModel, Plan, Step, compile};
pub use samples::SampleGrid;
pub use value::Value;

use serde::{Deserialize, Serialize};

/// True when the engine can build and run nodes of `kind`.
pub fn supports(kind: &str) -> bool {
    ops::ops().contains_key(kind)
}

/// Metrics of one training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps done so far (1 after the first).
    pub step: u64,
    /// Training loss of this batch.
    pub loss: f64,
    /// Training accuracy of this batch (classifiers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Learning rate used.
    pub lr: f64,
}

/// Metrics of an evaluation on the validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Steps done when evaluated.
    pub step: u64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Validation accuracy (per example, or per pixel for segmentation); `None` for regression.
    pub val_accuracy: Option<f64>,
    /// Root mean squared error (regression).
    pub val_rmse: Option<f64>,
    /// `confusion[truth][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Class names.
    pub classes: Vec<String>,
}

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The project or data cannot be trained as they are (exit code 2 in the CLI).
    #[error("{0}")]
    BadInput(String),
    /// The loss became NaN or infinite.
    #[error("the loss became NaN or infinite at step {step}{} — lower the learning rate or add normalisation",
        .node.as_ref().map(|n| format!("; first non-finite output: node '{n}'")).unwrap_or_default())]
    NonFinite {
        /// Step at which it happened.
        step: u64,
        /// First node whose output was non-finite, when it could be found.
        node: Option<String>,
    },
    /// Anything else (including a panic inside the trainer).
    #[error("{0}")]
    Failed(String),
}
