//! Advantage actor-critic: the synchronous form of A3C.

use super::ppo::{ENTROPY_COEF, ENVS, EVAL_EPISODES, GAMMA, VALUE_COEF};
use super::*;
use crate::catalog::rules::{float, int};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "a2c",
    name: "A2C",
    doc: "Advantage actor-critic: short rollouts from several copies of the environment with the 'policy' output's action probabilities (an Input bound to 'observation', source 'environment'), n-step advantages from the 'value' output, one update of −log π(a|s)·advantage + value loss − entropy bonus per rollout. Discrete actions.",
    paper: "Mnih et al., Asynchronous Methods for Deep Reinforcement Learning, ICML 2016",
    networks: &[NetworkSpec {
        name: "actor_critic",
        roles: &["policy", "value"],
    }],
    roles: &[
        role("policy", Some(DType::Float), &[2]),
        role("value", Some(DType::Float), &[1, 2]),
    ],
    settings: &[
        GAMMA,
        float(
            "gae_lambda",
            1.0,
            0.0,
            1.0,
            "GAE's λ (1: plain n-step returns, as in A2C)",
        ),
        ENVS,
        int(
            "rollout",
            5,
            1,
            100_000,
            "Steps per copy before each update (n of the n-step return)",
        ),
        VALUE_COEF,
        ENTROPY_COEF,
        EVAL_EPISODES,
    ],
    data: &[DataKind::Env],
    series: super::ppo::SPEC.series,
    views: super::ppo::SPEC.views,
    headline: &["mean_return"],

    invertible: false,
    sources: &["environment"],
    generate: None,
};
