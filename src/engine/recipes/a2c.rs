//! The `a2c` recipe: advantage actor-critic — PPO's rollout loop (see [`super::ppo`]) with the
//! plain policy gradient, one update per short rollout.

use super::RecipeEngine;
use super::ppo::{Objective, Ppo};
use crate::catalog::recipes::a2c::SPEC;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Ppo::new(init, Objective::Plain)?)),
};
