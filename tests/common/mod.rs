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
    "autoencoder",
    "vae",
    "dcgan",
    "ddpm_unet",
    "dit_mini",
    "unet_shapes",
    "realnvp",
    "glow",
    "score_2d",
    "gpt_char",
    "rnn_rows",
    "lstm_rows",
    "gru_rows",
    "vit_mnist",
];

/// Burn's CPU device has one random generator per process: tests that seed it take turns, so
/// the determinism tests are not disturbed by others running in parallel.
#[cfg(feature = "engine")]
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The flex CPU device (and Burn kept off software GPU drivers).
#[cfg(feature = "engine")]
pub fn cpu() -> burn::tensor::Device {
    use strata::engine::device::{self, DeviceChoice};
    device::prefer_cpu_backend();
    device::select(DeviceChoice::Cpu).unwrap().device
}

/// Trainer events until `pred` holds (panics after two minutes, listing what came).
#[cfg(feature = "engine")]
pub fn wait_for(
    t: &strata::engine::trainer::Trainer,
    mut pred: impl FnMut(&strata::engine::trainer::Event) -> bool,
) -> Vec<strata::engine::trainer::Event> {
    use std::time::{Duration, Instant};
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(e) = t.recv_timeout(Duration::from_millis(100)) {
            let done = pred(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
    panic!("timed out; saw {seen:?}");
}

/// `p`'s recipe built on the CPU with seed 1, as the trainer would start it (or why not).
#[cfg(feature = "engine")]
#[allow(dead_code)]
pub fn start_recipe(p: &Project) -> Result<Box<dyn strata::engine::recipes::Recipe>, strata::engine::RunError> {
    let d = cpu();
    strata::engine::recipes::start(&strata::engine::recipes::RecipeInit {
        project: p,
        device: &d,
        seed: 1,
        data_dir: None,
    })
}

/// Runs the real `strata` binary with `args`: (exit code, stdout, stderr).
pub fn strata(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
