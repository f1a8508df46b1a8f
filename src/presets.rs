//! The built-in presets: ordinary project files from `presets/`, embedded at build time and
//! loaded by the same code as a user's file.

use crate::doc::{LoadError, Project};

include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// Ids of every preset, sorted.
pub fn ids() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(id, _)| *id)
}

/// The file text of preset `id`.
pub fn source(id: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(i, _)| *i == id).map(|(_, s)| *s)
}

/// Loads preset `id` (`None` when there is no such preset).
pub fn load(id: &str) -> Option<Result<Project, LoadError>> {
    source(id).map(crate::parse_project)
}
