//! Strata: design neural networks on a node graph, load classic and modern architectures as
//! presets, check shapes live, and train them.
//!
//! The crate is layered (see `ARCHITECTURE.md`):
//! - [`doc`]: the project document (graph, blocks, file format, undo history). Knows serde only.
//! - [`catalog`]: what each node kind is (ports, parameters, shape rule, parameter count).
//! - [`shape`]: symbolic shape inference over a whole graph and its diagnostics.
//! - [`presets`]: the built-in architectures, embedded project files.
//! - [`workspace`]: the open document (file, undo, unsaved changes), autosave and recovery.
//! - `app` (feature `app`): the desktop window.

pub mod catalog;
pub mod data;
pub mod doc;
pub mod picture;
pub mod presets;
pub mod shape;
pub mod telemetry;
pub mod workspace;

#[cfg(feature = "app")]
pub mod app;

#[cfg(feature = "engine")]
pub mod engine;

#[cfg(feature = "onnx")]
pub mod interop;

use std::path::Path;

/// Parses project text and checks every parameter value against the catalog: the full loader
/// used for users' files and presets alike.
pub fn parse_project(text: &str) -> Result<doc::Project, doc::LoadError> {
    let project = doc::from_json_str(text)?;
    catalog::validate_params(&project)?;
    Ok(project)
}

/// Opens a `.strata` file (see [`parse_project`]).
pub fn open_project(path: &Path) -> Result<doc::Project, doc::LoadError> {
    let project = doc::load_file(path)?;
    catalog::validate_params(&project)?;
    Ok(project)
}
