//! Deep Q-learning: Q-values per action learned from a replay buffer against a target network,
//! acting ε-greedily.

use super::ppo::{EVAL_EPISODES, GAMMA};
use super::*;
use crate::catalog::rules::{flag, float, int};

/// The declaration.
pub const SPEC: RecipeSpec = RecipeSpec {
    id: "dqn",
    name: "DQN",
    doc: "Q-learning with a replay buffer and a target network: each step acts ε-greedily on the 'q_values' output (an Input bound to 'observation', source 'environment'), stores the transition, and regresses Q(s, a) on r + γ·max Q_target(s′) for a minibatch of stored transitions (Huber loss). Discrete actions.",
    paper: "Mnih et al., Human-level control through deep reinforcement learning, Nature 2015",
    networks: &[NetworkSpec {
        name: "q",
        roles: &["q_values"],
    }],
    roles: &[role("q_values", Some(DType::Float), &[2])],
    settings: &[
        GAMMA,
        int("buffer", 10_000, 100, 10_000_000, "Transitions the replay buffer keeps"),
        int("batch", 128, 1, 65_536, "Transitions per update"),
        int(
            "learning_starts",
            1_000,
            0,
            10_000_000,
            "Steps acted before the first update (the buffer fills)",
        ),
        int(
            "target_every",
            500,
            1,
            10_000_000,
            "Steps between copies of the network into the target network",
        ),
        float(
            "tau",
            0.0,
            0.0,
            1.0,
            "Soft target updates: the target network moves this share of the way to the network after every update (0: copy it every target_every steps)",
        ),
        int("train_every", 1, 1, 1_000, "Environment steps per update"),
        float("epsilon_start", 1.0, 0.0, 1.0, "Chance of a random action at the start"),
        float(
            "epsilon_end",
            0.05,
            0.0,
            1.0,
            "Chance of a random action after the decay",
        ),
        float(
            "epsilon_fraction",
            0.5,
            0.0,
            1.0,
            "Share of the run over which ε falls linearly",
        ),
        flag(
            "double",
            true,
            "Double DQN: the network picks the next action and the target network values it (van Hasselt et al. 2016), against max-overestimation",
        ),
        EVAL_EPISODES,
    ],
    data: &[DataKind::Env],
    series: &[
        series("loss", "TD loss", "Loss", When::Step),
        series("q_mean", "mean Q of the batch", "Q", When::Step),
        series("epsilon", "ε", "Exploration", When::Step),
        series("episode_return", "training episodes", "Return", When::Step),
        series("mean_return", "evaluation (greedy)", "Return", When::Eval),
    ],
    views: &[
        ViewSpec {
            channel: "environment",
            title: "Environment",
            doc: "The environment acted in greedily by the current Q-network, the latest frames of a running episode, left to right",
            on_node: Some("q_values"),
        },
        ViewSpec {
            channel: "actions",
            title: "Action distribution",
            doc: "How often each action was taken since the last refresh, and the mean softmax of the Q-values",
            on_node: None,
        },
    ],
    headline: &["mean_return"],

    invertible: false,
    sources: &["environment"],
    generate: None,
};
