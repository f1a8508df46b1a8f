//! The project document: a graph of nodes and wires, reusable blocks, project settings, the
//! `.strata` file format with its migrations, and the undo history.
//!
//! This module knows nothing of the catalog, of egui or of Burn: a node's kind is a plain
//! string, so a file written by a newer build (with kinds this one does not know) survives a
//! load/save round trip unchanged.

mod edit;
mod file;
mod graph;
mod layout;
mod params;
mod project;
mod recipe;

pub use edit::{Edit, EditError, History, PORT_IN_KIND, PORT_OUT_KIND, Scope, graph_in};
pub use file::{
    CURRENT_FORMAT_VERSION, LoadError, from_json_str, load_file, migrate, save_file, to_json_string, write_atomic,
};
pub use graph::{BLOCK_KIND, Graph, Node, NodeId, Wire};
pub use layout::{DEFAULT_NODE_SIZE, Direction, LayoutOptions, auto_layout, layered_layout};
pub use params::{ParamValue, Params};
pub use project::{
    BlockDef, DatasetBinding, Optimizer, PresetInfo, Project, RecipeSettings, Schedule, TrainingSettings,
};
pub use recipe::DEFAULT_RECIPE;
