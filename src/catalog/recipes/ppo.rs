//! Proximal policy optimisation: an actor-critic acting in an environment, trained on rollouts
//! with the clipped surrogate objective.

use super::*;
use crate::catalog::rules::{float, int};

/// Settings the reinforcement-learning recipes share: the discount per step.
pub const GAMMA: ParamSpec = float("gamma", 0.99, 0.0, 1.0, "Discount per step");
/// Copies of the environment stepped together.
pub const ENVS: ParamSpec = int("envs", 8, 1, 1024, "Copies of the environment stepped together");
/// Weight of the value loss.
pub const VALUE_COEF: ParamSpec = float("value_coef", 0.5, 0.0, 100.0, "Weight of the value loss");
/// Weight of the entropy bonus.
pub const ENTROPY_COEF: ParamSpec = float(
    "entropy_coef",
    0.01,
    0.0,
    10.0,
    "Weight of the entropy bonus (exploration)",
);
/// Greedy evaluation episodes.
pub const EVAL_EPISODES: ParamSpec = int(
    "eval_episodes",
    100,
    1,
    10_000,
    "Episodes per evaluation, acting greedily",
);

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "ppo",
    name: "PPO",
    doc: "Clipped policy optimisation, actor-critic: each step collects a rollout from several copies of the environment with the 'policy' output's action probabilities (an Input bound to 'observation', source 'environment'), estimates advantages with GAE from the 'value' output, then runs minibatch epochs of the clipped objective + value loss − entropy bonus. Discrete actions.",
    paper: "Schulman et al., Proximal Policy Optimization Algorithms, 2017; Schulman et al., High-Dimensional Continuous Control Using Generalized Advantage Estimation, ICLR 2016",
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
            0.95,
            0.0,
            1.0,
            "GAE's λ: 0 is one-step TD, 1 is Monte Carlo",
        ),
        float(
            "clip",
            0.2,
            0.0,
            10.0,
            "How far the probability ratio may move before the objective stops rewarding it",
        ),
        ENVS,
        int("rollout", 128, 1, 100_000, "Steps per copy in each rollout"),
        int("epochs", 4, 1, 100, "Passes over each rollout"),
        int("minibatches", 4, 1, 1024, "Minibatches per pass"),
        VALUE_COEF,
        ENTROPY_COEF,
        EVAL_EPISODES,
    ],
    data: &[DataKind::Env],
    series: &[
        series("loss", "loss", "Loss", When::Step),
        series("policy_loss", "policy loss", "Loss", When::Step),
        series("value_loss", "value loss", "Loss", When::Step),
        series("entropy", "entropy", "Entropy", When::Step),
        series("episode_return", "training episodes", "Return", When::Step),
        series("mean_return", "evaluation (greedy)", "Return", When::Eval),
    ],
    views: &[
        ViewSpec {
            channel: "environment",
            title: "Environment",
            doc: "The environment acted in by the current policy (greedy), the latest frames of a running episode, left to right",
            on_node: Some("policy"),
        },
        ViewSpec {
            channel: "actions",
            title: "Action distribution",
            doc: "How often the policy picks each action, and its mean probability, over the last rollout",
            on_node: None,
        },
    ],
    headline: &["mean_return"],

    invertible: false,
    sources: &["environment"],
    generate: None,
};
