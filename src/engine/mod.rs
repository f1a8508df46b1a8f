//! The training engine: compiles a checked graph to one Burn module, chooses the device, runs
//! recipes on a trainer thread, and reports through [`trainer::Event`]s. Never imports egui.

pub mod device;
pub mod eval_samples;
mod invert;
pub mod kernels;
mod model;
pub mod ops;
pub mod optim;
pub mod profile;
pub mod recipes;
pub mod threads;
pub mod trainer;
mod value;
pub mod watch;

pub use device::{DeviceChoice, DeviceError, SelectedDevice};
pub use invert::Chain;
pub use model::{CompileError, Forward, ForwardError, GraphModel, InputSlot, Plan, Step, block_as_project, compile};
pub use ops::attention::{record_attention, rope};
pub use ops::decode;
pub use ops::flow::initial_rotation as flow_init_rotation;
pub use ops::graph::gcn_propagate;
pub use ops::mixers;
pub use ops::moe::route as moe_route;
pub use recipes::supervised;
pub use value::Value;

/// True when the engine can build and run nodes of `kind`.
pub fn supports(kind: &str) -> bool {
    ops::ops().contains_key(kind)
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
