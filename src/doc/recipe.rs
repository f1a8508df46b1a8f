//! Which recipe (training loop) a project uses, and its settings.

use super::params::Params;
use serde::{Deserialize, Serialize};

/// The recipe of a new project: learning against labels.
pub const DEFAULT_RECIPE: &str = "supervised";

/// The training task (recipe id from the catalog) and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeSettings {
    /// Recipe id (see `catalog::recipes()`).
    pub id: String,
    /// Recipe-specific settings by name, typed by the recipe's declaration (missing ones take
    /// their defaults; unknown ones are kept and reported).
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub settings: Params,
}

impl Default for RecipeSettings {
    fn default() -> Self {
        RecipeSettings {
            id: DEFAULT_RECIPE.to_owned(),
            settings: Params::new(),
        }
    }
}
