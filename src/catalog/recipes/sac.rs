//! Soft actor-critic: an entropy-regularised actor-critic for continuous actions, off-policy,
//! with twin Q-networks and a learned temperature.

use super::ppo::GAMMA;
use super::*;
use crate::catalog::rules::{float, int};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "sac",
    name: "SAC",
    doc: "Soft actor-critic for continuous actions: the 'policy' output gives a mean and a log standard deviation per action dimension (width 2 × actions) of a tanh-squashed Gaussian; two critics 'q1' and 'q2' read the observation and an Input bound to 'action' (both source 'environment'). Each step acts once, stores the move, and updates the critics towards r + γ(min Q_target − α log π), the actor towards min Q − α log π, and α towards a target entropy.",
    paper: "Haarnoja et al., Soft Actor-Critic Algorithms and Applications, 2018",
    networks: &[
        NetworkSpec {
            name: "actor",
            roles: &["policy"],
        },
        NetworkSpec {
            name: "critic",
            roles: &["q1", "q2"],
        },
    ],
    roles: &[
        role("policy", Some(DType::Float), &[2]),
        role("q1", Some(DType::Float), &[1, 2]),
        role("q2", Some(DType::Float), &[1, 2]),
    ],
    settings: &[
        GAMMA,
        float(
            "tau",
            0.005,
            0.0,
            1.0,
            "How far the target critics move towards the critics after each update",
        ),
        int("buffer", 100_000, 100, 10_000_000, "Moves the replay buffer keeps"),
        int("batch", 256, 1, 65_536, "Moves per update"),
        int(
            "learning_starts",
            1_000,
            0,
            10_000_000,
            "Random moves before the first update",
        ),
        float(
            "initial_alpha",
            0.2,
            0.0,
            100.0,
            "Starting temperature (weight of the entropy)",
        ),
        int(
            "eval_episodes",
            100,
            1,
            10_000,
            "Episodes per evaluation, acting with the mean action",
        ),
    ],
    data: &[DataKind::Env],
    series: &[
        series("loss", "critic loss", "Loss", When::Step),
        series("actor_loss", "actor loss", "Loss", When::Step),
        series("alpha", "temperature α", "Entropy", When::Step),
        series("entropy", "policy entropy (−log π)", "Entropy", When::Step),
        series("episode_return", "training episodes", "Return", When::Step),
        series("mean_return", "evaluation (mean action)", "Return", When::Eval),
    ],
    views: &[ViewSpec {
        channel: "environment",
        title: "Environment",
        doc: "The environment acted in by the current policy's mean action, the latest frames of a running episode, left to right",
        on_node: Some("policy"),
    }],
    headline: &["mean_return"],

    invertible: false,
    sources: &["environment"],
    generate: None,
};
