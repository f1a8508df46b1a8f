//! Helpers shared by the integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use strata::catalog::GraphBuilder;
use strata::doc::{ParamValue, Project};

/// A shape parameter from text like "B,784".
pub fn shape(s: &str) -> ParamValue {
    ParamValue::List(
        s.split(',')
            .map(|t| {
                t.trim()
                    .parse::<i64>()
                    .map(ParamValue::Int)
                    .unwrap_or_else(|_| ParamValue::Text(t.trim().into()))
            })
            .collect(),
    )
}

/// input [B, 784] → linear 32 → relu → linear 10 → output(prediction).
pub fn small_mlp() -> Project {
    let mut g = GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,784"))]);
    let h = g.then(x, "linear", &[("out_features", 32.into())]);
    let r = g.then(h, "relu", &[]);
    let o = g.then(r, "linear", &[("out_features", 10.into())]);
    g.then(o, "output", &[("role", "prediction".into())]);
    let mut p = Project::new("small mlp");
    p.graph = g.finish();
    p
}

/// Loads a preset, failing the test with the loader's message.
pub fn preset(id: &str) -> Project {
    match strata::presets::load(id) {
        Some(Ok(p)) => p,
        Some(Err(e)) => panic!("preset {id}: {e}"),
        None => panic!("no preset {id}"),
    }
}

/// Every preset id the issue requires.
pub const REQUIRED_PRESETS: &[&str] = &[
    "mlp",
    "lenet5",
    "alexnet",
    "vgg16",
    "resnet18",
    "googlenet",
    "densenet121",
    "efficientnet_b0",
    "vit_b_16",
    "unet",
    "transformer",
    "bert_base",
    "gpt2_small",
    "t5_small",
    "dit",
    "gcn",
    "ppo_cartpole",
];
