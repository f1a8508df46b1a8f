//! Engine benchmarks with their baselines in the same run (targets from the engine issue):
//! - the compiled graph module against the same models written by hand in Burn (MLP, LeNet-5):
//!   target ≥ 0.97× the hand-written speed;
//! - watching a node (activation tiles on the app's cadence) against not watching: target ≤ 5 % cost;
//!   and the same plus every node's activity (the app's node sparklines, `RunConfig::live`): ≤ 3 %.
//!
//! - the diffusion recipe's training step on `ddpm_unet`, to compare with the same U-Net in
//!   PyTorch (`benches/torch_reference.py`).
//!
//! Run: `cargo run --release --bin strata-bench [-- --device cpu|gpu --steps N
//! --diffusion-steps N --only-diffusion --lm-steps N --only-lm --lm ID,ID… --reference ID,ID… --rl-steps N --only-rl]`.
//! `RAYON_NUM_THREADS=1` is worth trying on 2 cores (it was faster for the MLP).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData, activation};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use strata::engine::device::{self, DeviceChoice};
use strata::engine::recipes::{self, RecipeInit, StepCx};
use strata::engine::trainer::{Cadence, RunConfig};
use strata::engine::{GraphModel, Value};

#[derive(Module, Debug)]
struct HandMlp {
    l1: Linear,
    l2: Linear,
}

impl HandMlp {
    fn new(d: &Device) -> Self {
        HandMlp {
            l1: LinearConfig::new(784, 128).init(d),
            l2: LinearConfig::new(128, 10).init(d),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let [b, _, _, _] = x.dims();
        let x = x.reshape([b, 784]);
        self.l2.forward(activation::relu(self.l1.forward(x)))
    }
}

#[derive(Module, Debug)]
struct HandLeNet {
    c1: Conv2d,
    c2: Conv2d,
    f1: Linear,
    f2: Linear,
    f3: Linear,
}

impl HandLeNet {
    fn new(d: &Device) -> Self {
        HandLeNet {
            c1: Conv2dConfig::new([1, 6], [5, 5]).init(d),
            c2: Conv2dConfig::new([6, 16], [5, 5]).init(d),
            f1: LinearConfig::new(400, 120).init(d),
            f2: LinearConfig::new(120, 84).init(d),
            f3: LinearConfig::new(84, 10).init(d),
        }
    }
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let pool = |t| max_pool2d(t, MaxPoolOptions::new([2, 2]));
        let x = pool(activation::relu(self.c1.forward(x)));
        let x = pool(activation::relu(self.c2.forward(x)));
        let [b, _, _, _] = x.dims();
        let x = x.reshape([b, 400]);
        let x = activation::relu(self.f1.forward(x));
        let x = activation::relu(self.f2.forward(x));
        self.f3.forward(x)
    }
}

/// Steps per second of a training loop around `model` (Adam, cross-entropy, a batch of 64
/// built from host memory each step, as the engine's recipe does). The same loop runs the
/// hand-written and the compiled model, so the ratio measures the compiled module alone.
fn steps_per_second<M: Module + Clone>(
    mut model: M,
    fwd: impl Fn(&M, Tensor<4>) -> Tensor<2>,
    side: usize,
    steps: usize,
    d: &Device,
) -> f64 {
    let mut optim = AdamConfig::new().init();
    let ce = CrossEntropyLossConfig::new().init(d);
    let xs: Vec<f32> = Tensor::<4>::random([64, 1, side, side], Distribution::Default, d)
        .into_data()
        .iter::<f32>()
        .collect();
    let ys: Vec<i64> = (0..64).map(|i| i % 10).collect();
    let mut run = |n: usize, model: M| -> M {
        let mut model = model;
        for _ in 0..n {
            let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [64, 1, side, side]), d);
            let y = Tensor::<1, Int>::from_data(TensorData::new(ys.clone(), [64]), d);
            let logits = fwd(&model, x);
            let loss = ce.forward(logits, y);
            let _ = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        model
    };
    model = run(steps / 10 + 1, model);
    let t = Instant::now();
    let _ = run(steps, model);
    steps as f64 / t.elapsed().as_secs_f64()
}

/// The compiled graph of a preset, and its forward pass as a plain function of the input.
/// Compile afresh for each measurement: training a clone of a module whose parameters are
/// shared with another copy ran at half speed on flex.
fn compiled_model(preset: &str, d: &Device) -> Option<(GraphModel, String)> {
    let p = strata::presets::load(preset)?.ok()?;
    d.seed(1);
    let m = strata::engine::compile(&p, d).ok()?;
    let field = m.plan.inputs.first()?.field.clone();
    Some((m, field))
}

fn compiled_forward(field: &str) -> impl Fn(&GraphModel, Tensor<4>) -> Tensor<2> + '_ {
    move |m, x| {
        let feed: HashMap<String, Value> = [(field.to_owned(), Value::F4(x))].into_iter().collect();
        match m
            .forward(&feed, false)
            .ok()
            .and_then(|f| f.outputs.get("prediction").cloned())
        {
            Some(Value::F2(t)) => t,
            _ => Tensor::zeros([64, 10], &Device::default()),
        }
    }
}

/// Steps per second of a preset through the whole recipe as the trainer drives it: real data,
/// scalars read back one step late (`late`) or at once. `live`: the live views the trainer
/// sends with that configuration (the watched node is the first convolution or linear layer; its
/// tiles and every node's activity on the trainer's own cadence); `None`: no views.
fn recipe(preset: &str, steps: usize, d: &Device, live: Option<&RunConfig>, late: bool) -> f64 {
    // A preset id, or a project file (to measure a variant).
    let p = if preset.ends_with(".strata") {
        match strata::doc::load_file(std::path::Path::new(preset)).ok() {
            Some(p) => p,
            None => return f64::NAN,
        }
    } else {
        match strata::presets::load(preset) {
            Some(Ok(p)) => p,
            _ => return f64::NAN,
        }
    };
    recipe_of(&p, steps, d, live, late)
}

/// Steps per second of the recipe of project `p` (after a tenth as many warm-up steps).
fn recipe_of(p: &strata::doc::Project, steps: usize, d: &Device, live: Option<&RunConfig>, late: bool) -> f64 {
    let init = RecipeInit {
        project: p,
        device: d,
        seed: 1,
        data_dir: None,
    };
    let Ok(mut run) = recipes::start(&init) else {
        return f64::NAN;
    };
    let node = p
        .graph
        .nodes
        .iter()
        .find(|n| n.kind == "conv2d" || n.kind == "linear")
        .map(|n| n.id);
    let cancel = AtomicBool::new(false);
    let total = (steps + steps / 10 + 1) as u64;
    let none = RunConfig {
        watch_every: 0,
        ..RunConfig::default()
    };
    let live = live.unwrap_or(&none);
    let gap = std::time::Duration::from_millis(live.refresh_ms);
    let (mut tiles, mut activity) = (
        Cadence::new(live.watch_every, gap),
        Cadence::new(live.activity_every, gap),
    );
    let mut n = 0u64;
    // As the trainer's run loop: the watched node's output kept and made a tile only when due.
    let mut step = |run: &mut Box<dyn strata::engine::recipes::Recipe>| {
        n += 1;
        let mut cx = StepCx {
            total_steps: total,
            lr_scale: 1.0,
            watch: node.filter(|_| tiles.due(n)),
            measure_activity: activity.due(n),
            measure_cost: false,
            ..StepCx::new(total, &cancel)
        };
        let pending = run.step(&mut cx).ok();
        if let Some(v) = &cx.tapped {
            let _ = strata::engine::watch::tile_of(v);
        }
        pending
    };
    for _ in 0..steps / 10 + 1 {
        if let Some(p) = step(&mut run) {
            let _ = p.read();
        }
    }
    let t = Instant::now();
    let mut previous = None;
    for _ in 0..steps {
        let pending = step(&mut run);
        if late {
            if let Some(p) = std::mem::replace(&mut previous, pending) {
                let _ = p.read();
            }
        } else if let Some(p) = pending {
            let _ = p.read();
        }
    }
    if let Some(p) = previous {
        let _ = p.read();
    }
    steps as f64 / t.elapsed().as_secs_f64()
}

/// Seconds for one training step (forward, backward) of `preset` on one example, its symbolic
/// lengths set to `len`, integer inputs 0/1 and float inputs Gaussian: how slowly a reference
/// model too large for its data here would train. The loss is the mean of every float output.
fn reference_step(preset: &str, len: usize, d: &Device) -> Result<f64, String> {
    let Some(Ok(p)) = strata::presets::load(preset) else {
        return Err(format!("no preset {preset}"));
    };
    let model = strata::engine::compile(&p, d).map_err(|e| e.to_string())?;
    let mut feed = HashMap::new();
    for input in &model.plan.inputs {
        let dims: Vec<usize> = input
            .dims
            .iter()
            .enumerate()
            .map(|(i, x)| x.unwrap_or(if i == 0 { 1 } else { len }))
            .collect();
        let n: usize = dims.iter().product();
        let v = match input.dtype {
            strata::catalog::DType::Int => {
                let ids: Vec<i64> = (0..n).map(|i| (i % 2) as i64).collect();
                match dims.as_slice() {
                    [a, b] => Value::I2(Tensor::<2, Int>::from_data(TensorData::new(ids, [*a, *b]), d)),
                    [a] => Value::I1(Tensor::<1, Int>::from_data(TensorData::new(ids, [*a]), d)),
                    other => return Err(format!("integer input of rank {}", other.len())),
                }
            }
            _ => {
                let x = Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), d);
                Value::F1(x).reshape(&dims)?
            }
        };
        feed.insert(input.field.clone(), v);
    }
    let run = || -> Result<f64, String> {
        let t = Instant::now();
        let out = model.forward(&feed, false).map_err(|e| e.message)?;
        let loss = out
            .every
            .iter()
            .filter_map(|(_, _, v)| v.clone().reshape(&[v.dims().iter().product()]).ok())
            .filter_map(|v| match v {
                Value::F1(t) => Some(t.mean()),
                _ => None,
            })
            .reduce(|a, b| a + b)
            .ok_or("no float output")?;
        let _grads = loss.backward();
        Ok(t.elapsed().as_secs_f64())
    };
    run()?;
    Ok(run()?.min(run()?))
}

fn main() {
    // Measured as the trainer runs: from inside the engine's compute pool.
    strata::engine::threads::install(measure);
}

/// Parses the options and prints every measurement.
fn measure() {
    let mut args = std::env::args().skip(1);
    let (mut choice, mut steps) = (DeviceChoice::Cpu, 300usize);
    let (mut diffusion_steps, mut only_diffusion) = (60usize, false);
    let (mut lm_steps, mut only_lm) = (60usize, false);
    let mut lm_presets = vec!["gpt_char".to_owned()];
    let mut references: Vec<String> = Vec::new();
    let (mut rl_steps, mut only_rl) = (0usize, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--diffusion-steps" => {
                diffusion_steps = args.next().and_then(|v| v.parse().ok()).unwrap_or(diffusion_steps)
            }
            "--only-diffusion" => only_diffusion = true,
            "--lm-steps" => lm_steps = args.next().and_then(|v| v.parse().ok()).unwrap_or(lm_steps),
            "--only-lm" => only_lm = true,
            "--rl-steps" => rl_steps = args.next().and_then(|v| v.parse().ok()).unwrap_or(rl_steps),
            "--only-rl" => {
                only_rl = true;
                if rl_steps == 0 {
                    rl_steps = 2000;
                }
            }
            "--reference" => {
                references = args
                    .next()
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .unwrap_or_default()
            }
            "--lm" => {
                lm_presets = args
                    .next()
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .unwrap_or(lm_presets)
            }
            "--device" => choice = args.next().and_then(|v| v.parse().ok()).unwrap_or(DeviceChoice::Cpu),
            "--steps" => steps = args.next().and_then(|v| v.parse().ok()).unwrap_or(steps),
            _ => {}
        }
    }
    if choice != DeviceChoice::Gpu {
        device::prefer_cpu_backend();
    }
    let dev = match device::select(choice) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let d = dev.device.clone().autodiff();
    println!(
        "device: {}: {} · {} steps per measurement · RAYON_NUM_THREADS={}",
        dev.kind,
        dev.name,
        steps,
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "(all)".into())
    );
    if !references.is_empty() {
        // Reference sizes kept for viewing and export: one training step of one example.
        for id in &references {
            match reference_step(id, 128, &d) {
                Ok(s) => println!("{id:<16} one training step of one example (sequences of 128): {s:.2} s"),
                Err(e) => println!("{id:<16} {e}"),
            }
        }
        return;
    }
    if rl_steps > 0 || only_rl {
        // The RL recipes' whole steps on CartPole: a PPO step is a rollout of 8 × 128 moves and
        // 16 minibatch updates; a DQN step one move and one update of a batch of 128 (the
        // buffer already past its first 1 000 moves). Compare with `benches/torch_reference.py`'s
        // ppo and dqn lines: the same networks, CartPole written in Python.
        let ppo = (0..3)
            .map(|_| recipe("ppo_cartpole", (rl_steps / 20).max(5), &d, None, true))
            .fold(0f64, f64::max);
        println!("ppo_cartpole  PPO iteration (8 × 128 moves, 4 epochs × 4 minibatches): {ppo:.2} steps/s");
        if let Some(Ok(mut p)) = strata::presets::load("dqn_cartpole") {
            p.recipe.settings.insert("learning_starts".into(), 128.into());
            let dqn = (0..3)
                .map(|_| recipe_of(&p, rl_steps, &d, None, true))
                .fold(0f64, f64::max);
            println!("dqn_cartpole  DQN step (1 move + 1 update of 128): {dqn:.1} steps/s");
        }
        if only_rl {
            return;
        }
    }
    if lm_steps > 0 && !only_diffusion {
        // The language-model recipe's whole step on the `gpt_char` preset (batch 16, 64 characters
        // of Pride and Prejudice, cross-entropy, AdamW): compare with
        // `benches/torch_reference.py`'s gpt_char line, the same transformer in PyTorch.
        for id in &lm_presets {
            let best = (0..3)
                .map(|_| recipe(id, lm_steps, &d, None, true))
                .fold(0f64, f64::max);
            // What the step is: the preset's own recipe and batch (any preset can be timed here).
            let what = match strata::presets::load(id) {
                Some(Ok(p)) => format!("{} recipe step (batch {})", p.recipe.id, p.training.batch_size),
                _ => "recipe step".to_owned(),
            };
            println!("{id:<10} {what}: {best:.2} steps/s");
        }
        // Writing 300 characters from gpt_char with the KV cache against rerunning the window.
        let write = |cache: bool| -> f64 {
            let Some(Ok(mut p)) = strata::presets::load("gpt_char") else {
                return f64::NAN;
            };
            p.recipe.settings.insert("kv_cache".into(), cache.into());
            let init = RecipeInit {
                project: &p,
                device: &d,
                seed: 1,
                data_dir: None,
            };
            let Ok(mut run) = recipes::start(&init) else {
                return f64::NAN;
            };
            let cancel = AtomicBool::new(false);
            let t = Instant::now();
            let req = recipes::GenerateRequest::default();
            if run.generate(&req, &cancel).is_err() {
                return f64::NAN;
            }
            300.0 / t.elapsed().as_secs_f64()
        };
        let (with, without) = (write(true), write(false));
        println!(
            "gpt_char   writing 300 characters: KV cache {with:.0} chars/s, whole window {without:.0} chars/s ({:.1}×)",
            with / without
        );
    }
    if only_lm {
        return;
    }
    if diffusion_steps > 0 {
        // The diffusion recipe's whole step on the `ddpm_unet` preset (batch 32, real digits,
        // ε loss, Adam, the moving average of the weights): compare with
        // `benches/torch_reference.py`'s ddpm_unet line, the same U-Net in PyTorch.
        let best = (0..3)
            .map(|_| recipe("ddpm_unet", diffusion_steps, &d, None, true))
            .fold(0f64, f64::max);
        println!("ddpm_unet  diffusion training step (batch 32, EMA): {best:.2} steps/s");
    }
    if only_diffusion {
        return;
    }
    println!(
        "{:<10} {:>14} {:>14} {:>8}",
        "model", "hand steps/s", "strata steps/s", "ratio"
    );
    // Interleave measurements so drift affects both sides alike; report the best of three.
    for (name, side) in [("mlp", 28), ("lenet5", 32)] {
        let (mut best_h, mut best_c) = (0f64, 0f64);
        for _ in 0..3 {
            let h = if name == "mlp" {
                steps_per_second(HandMlp::new(&d), HandMlp::forward, side, steps, &d)
            } else {
                steps_per_second(HandLeNet::new(&d), HandLeNet::forward, side, steps, &d)
            };
            let Some((graph, field)) = compiled_model(name, &d) else {
                eprintln!("cannot compile preset {name}");
                std::process::exit(1);
            };
            let c = steps_per_second(graph, compiled_forward(&field), side, steps, &d);
            best_h = best_h.max(h);
            best_c = best_c.max(c);
        }
        println!("{name:<10} {best_h:>14.1} {best_c:>14.1} {:>7.3}×", best_c / best_h);
    }
    for name in ["mlp", "lenet5"] {
        let (mut now, mut late) = (0f64, 0f64);
        for _ in 0..3 {
            now = now.max(recipe(name, steps, &d, None, false));
            late = late.max(recipe(name, steps, &d, None, true));
        }
        println!(
            "  whole recipe step (real data, loss + accuracy): {name} read at once {now:.1} steps/s, read one step late {late:.1} steps/s ({:+.1} %)",
            (late / now - 1.0) * 100.0
        );
    }
    // resnet_mini has no hand-written twin here: its whole recipe step (real Fashion-MNIST batches
    // of 64, Adam) against `benches/torch_reference.py`'s resnet_mini line.
    let resnet = (0..3)
        .map(|_| recipe("resnet_mini", steps, &d, None, true))
        .fold(0f64, f64::max);
    println!("resnet_mini  whole recipe step (batch 64, Adam): {resnet:.1} steps/s");
    // Overheads of a few per cent on a 3 ms step: each round runs the three variants back to back
    // and gives one cost ratio per variant; the median over 9 rounds resists the machine's drift
    // (a best-of-N per variant compares draws from different minutes).
    let app_config = RunConfig::live();
    let watch_config = RunConfig {
        activity_every: 0,
        ..RunConfig::live()
    };
    let (mut watch, mut app) = (Vec::new(), Vec::new());
    let (mut off_best, mut on_best, mut app_best) = (0f64, 0f64, 0f64);
    for round in 0..9 {
        // Alternate which variant runs first, so no variant always gets the warmer machine.
        let order: [u8; 3] = if round % 2 == 0 { [0, 1, 2] } else { [2, 1, 0] };
        let mut speed = [0f64; 3];
        for v in order {
            let live = [None, Some(&watch_config), Some(&app_config)][v as usize];
            speed[v as usize] = recipe("lenet5", steps, &d, live, true);
        }
        watch.push(speed[0] / speed[1] - 1.0);
        app.push(speed[0] / speed[2] - 1.0);
        off_best = off_best.max(speed[0]);
        on_best = on_best.max(speed[1]);
        app_best = app_best.max(speed[2]);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 100.0
    };
    println!(
        "watching a LeNet-5 conv (a tile every {} steps, at most every {} ms): {on_best:.1} vs {off_best:.1} steps/s (best), median cost over 9 paired rounds {:.1} %",
        watch_config.watch_every,
        watch_config.refresh_ms,
        median(&mut watch)
    );
    println!(
        "as the app trains (RunConfig::live: that tile + every node's activity every {} steps, at most every {} ms): {app_best:.1} vs {off_best:.1} steps/s (best), median cost over 9 paired rounds {:.1} %",
        app_config.activity_every,
        app_config.refresh_ms,
        median(&mut app)
    );
}
