//! The training engine: real training on real data, the trainer protocol, failures that name
//! the place. Runs on the flex CPU backend.

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::time::Duration;
use strata::doc::Edit;
use strata::engine::device::{self, DeviceChoice};
use strata::engine::supervised::Supervised;
use strata::engine::trainer::{Event, Request, RunConfig, RunState, Trainer};
use strata::engine::{CompileError, RunError};

#[test]
fn mlp_learns_mnist() {
    let _serial = serial();
    let p = preset("mlp");
    let mut run = Supervised::new(&p, &cpu(), 1).unwrap();
    assert_eq!(run.param_count(), 101_770);
    let first = run.train_step(300).unwrap();
    let mut last = first.clone();
    for _ in 1..300 {
        last = run.train_step(300).unwrap();
    }
    assert!(last.loss < first.loss * 0.5, "loss {} → {}", first.loss, last.loss);
    let eval = run.evaluate().unwrap();
    // Chance is 0.10.
    assert!(
        eval.val_accuracy.unwrap() > 0.80,
        "val accuracy {:?}",
        eval.val_accuracy
    );
    assert_eq!(eval.confusion.len(), 10);
    assert_eq!(eval.confusion.iter().flatten().sum::<u64>(), 1000);
}

#[test]
fn lenet5_learns_padded_mnist() {
    let _serial = serial();
    let p = preset("lenet5");
    let mut run = Supervised::new(&p, &cpu(), 3).unwrap();
    assert_eq!(run.param_count(), 61_706);
    for _ in 0..150 {
        run.train_step(150).unwrap();
    }
    let eval = run.evaluate().unwrap();
    assert!(eval.val_accuracy.unwrap() > 0.6, "val accuracy {:?}", eval.val_accuracy);
}

#[test]
fn same_seed_same_losses() {
    let _serial = serial();
    let p = preset("mlp");
    let losses = |seed| {
        let mut run = Supervised::new(&p, &cpu(), seed).unwrap();
        (0..5).map(|_| run.train_step(5).unwrap().loss).collect::<Vec<_>>()
    };
    assert_eq!(losses(7), losses(7));
    assert_ne!(losses(7), losses(8));
}

#[test]
fn divergence_is_reported_with_the_step() {
    let _serial = serial();
    let mut p = preset("mlp");
    p.training.learning_rate = 1e9;
    p.training.optimizer = strata::doc::Optimizer::Sgd;
    let mut run = Supervised::new(&p, &cpu(), 1).unwrap();
    let err = (0..50)
        .find_map(|_| run.train_step(50).err())
        .expect("a learning rate of 1e9 must diverge");
    let RunError::NonFinite { step, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*step >= 1);
    assert!(err.to_string().contains("lower the learning rate"), "{err}");
}

#[test]
fn untrainable_projects_name_the_problem() {
    let _serial = serial();
    // A kind without an engine implementation yet.
    let p = preset("gcn");
    let err = match Supervised::new(&p, &cpu(), 1) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("gcn is not a supervised image project"),
    };
    assert!(!err.is_empty());
    // Wrong input shape for the dataset: the message says what to set.
    let mut p = preset("mlp");
    let input = p.graph.nodes.iter().find(|n| n.kind == "input").unwrap().id;
    Edit::SetParam {
        scope: strata::doc::Scope::Root,
        node: input,
        name: "shape".into(),
        value: Some(shape("B,1,32,32")),
    }
    .apply(&mut p)
    .unwrap();
    let err = Supervised::new(&p, &cpu(), 1).err().unwrap().to_string();
    assert!(err.contains("set the input's shape to [B, 1, 28, 28]"), "{err}");
    // Unsupported kinds are compile errors naming the node.
    let mut p = preset("mlp");
    let relu = p.graph.nodes.iter().find(|n| n.kind == "relu").unwrap().id;
    p.graph.node_mut(relu).unwrap().kind = "gat_conv".into();
    let err = strata::engine::compile(&p, &cpu().autodiff()).err().unwrap();
    assert!(
        matches!(err, CompileError::Invalid(_) | CompileError::Unsupported { .. }),
        "{err}"
    );
}

#[test]
fn trainer_protocol_start_pause_resume_stop() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    let config = RunConfig {
        steps: Some(100_000),
        seed: Some(1),
        device: DeviceChoice::Cpu,
        ..RunConfig::default()
    };
    assert!(t.send(Request::Start {
        run_id: 7,
        project: Box::new(preset("mlp")),
        config
    }));
    let seen = wait_for(&t, |e| matches!(e, Event::Step { step, .. } if *step >= 3));
    assert!(seen.iter().any(|e| matches!(
        e,
        Event::Started {
            run_id: 7,
            params: 101_770,
            ..
        }
    )));
    assert!(t.send(Request::Pause));
    wait_for(&t, |e| {
        matches!(
            e,
            Event::State {
                state: RunState::Paused,
                ..
            }
        )
    });
    // While paused no steps arrive.
    std::thread::sleep(Duration::from_millis(300));
    let during: Vec<_> = t.drain();
    assert!(
        during.iter().filter(|e| matches!(e, Event::Step { .. })).count() <= 1,
        "{during:?}"
    );
    assert!(t.send(Request::Resume));
    wait_for(&t, |e| matches!(e, Event::Step { .. }));
    assert!(t.send(Request::Stop));
    let end = wait_for(&t, |e| matches!(e, Event::Finished { .. }));
    let Some(Event::Finished {
        run_id,
        stopped,
        eval,
        steps,
        ..
    }) = end.last()
    else {
        unreachable!()
    };
    assert_eq!(*run_id, 7);
    assert!(*stopped);
    assert!(*steps >= 4 && *steps < 100_000);
    assert!(eval.as_ref().unwrap()["val_accuracy"] > 0.0);
}

#[test]
fn trainer_reports_bad_input_as_failed() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    let mut p = preset("mlp");
    p.dataset.id = "no_such_data".into();
    t.send(Request::Start {
        run_id: 1,
        project: Box::new(p),
        config: RunConfig::default(),
    });
    let seen = wait_for(&t, |e| matches!(e, Event::Failed { .. }));
    let Some(Event::Failed { reason, bad_input, .. }) = seen.last() else {
        unreachable!()
    };
    assert!(*bad_input);
    assert!(reason.contains("unknown dataset 'no_such_data'"), "{reason}");
    // The trainer lives on and takes the next run.
    t.send(Request::Start {
        run_id: 2,
        project: Box::new(preset("mlp")),
        config: RunConfig {
            steps: Some(3),
            device: DeviceChoice::Cpu,
            ..RunConfig::default()
        },
    });
    wait_for(&t, |e| matches!(e, Event::Finished { run_id: 2, .. }));
}

#[test]
fn asking_for_a_missing_gpu_is_an_error() {
    let _serial = serial();
    if device::probe_gpu().is_none() {
        let err = device::select(DeviceChoice::Gpu).err().unwrap();
        assert!(err.to_string().contains("no GPU adapter is available"), "{err}");
    }
}

#[test]
fn resuming_a_checkpoint_continues_bit_identically() {
    let _serial = serial();
    let p = preset("mlp");
    let dir = tempfile::tempdir().unwrap();
    let mut straight = Supervised::new(&p, &cpu(), 5).unwrap();
    let all: Vec<f64> = (0..12).map(|_| straight.train_step(12).unwrap().loss).collect();
    let mut first = Supervised::new(&p, &cpu(), 5).unwrap();
    let head: Vec<f64> = (0..6).map(|_| first.train_step(12).unwrap().loss).collect();
    first.save_checkpoint(dir.path()).unwrap();
    drop(first);
    let mut second = Supervised::new(&p, &cpu(), 5).unwrap();
    let fresh = second.resume(dir.path()).unwrap();
    assert!(fresh.is_empty(), "{fresh:?}");
    assert_eq!(second.step(), 6);
    let tail: Vec<f64> = (0..6).map(|_| second.train_step(12).unwrap().loss).collect();
    assert_eq!(head, all[..6]);
    assert_eq!(tail, all[6..], "resumed losses differ from the uninterrupted run");
}

#[test]
fn checkpoints_load_into_an_edited_graph() {
    let _serial = serial();
    let p = preset("lenet5");
    let dir = tempfile::tempdir().unwrap();
    let mut run = Supervised::new(&p, &cpu(), 2).unwrap();
    for _ in 0..30 {
        run.train_step(30).unwrap();
    }
    let trained = run.evaluate().unwrap().val_accuracy.unwrap();
    run.save_checkpoint(dir.path()).unwrap();
    // Edit: F6 becomes 64 wide. F6 and the output layer change shape; the convolutions and F5 do not.
    let mut edited = p.clone();
    let f6 = edited.graph.nodes.iter().find(|n| n.title == "F6").unwrap().id;
    edited
        .graph
        .node_mut(f6)
        .unwrap()
        .params
        .insert("out_features".into(), 64.into());
    let out_linear = edited
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind == "linear")
        .map(|n| n.id)
        .max()
        .unwrap();
    let mut resumed = Supervised::new(&edited, &cpu(), 2).unwrap();
    let mut fresh = resumed.resume(dir.path()).unwrap();
    fresh.sort();
    let mut want = vec![f6.0.to_string(), out_linear.0.to_string()];
    want.sort();
    assert_eq!(fresh, want);
    // The edited graph trains on from there.
    for _ in 0..5 {
        assert!(resumed.train_step(40).unwrap().loss.is_finite());
    }
    assert!(trained > 0.2, "{trained}");
}

#[test]
fn trainer_writes_a_checkpoint_at_the_end() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let dir = tempfile::tempdir().unwrap();
    let t = Trainer::spawn(|| {}).unwrap();
    let config = RunConfig {
        steps: Some(4),
        device: DeviceChoice::Cpu,
        checkpoint: Some(dir.path().to_owned()),
        ..RunConfig::default()
    };
    t.send(Request::Start {
        run_id: 3,
        project: Box::new(preset("mlp")),
        config,
    });
    let seen = wait_for(&t, |e| matches!(e, Event::Finished { .. }));
    assert!(
        seen.iter().any(|e| matches!(e, Event::Checkpointed { step: 4, .. })),
        "{seen:?}"
    );
    assert!(dir.path().join("checkpoint.json").exists());
    assert!(dir.path().join("optimizer.bpk").exists());
    assert_eq!(std::fs::read_dir(dir.path().join("nodes")).unwrap().count(), 2);
}

#[test]
fn trains_on_a_users_csv_file() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("points.csv");
    let mut text = String::from("x,y,side\n");
    let mut rng = strata::data::Rng::new(9);
    for _ in 0..400 {
        let x = (rng.below(2000) as f64 - 1000.0) / 500.0;
        let y = (rng.below(2000) as f64 - 1000.0) / 500.0;
        text.push_str(&format!("{x},{y},{}\n", if x + y > 0.0 { "above" } else { "below" }));
    }
    std::fs::write(&path, text).unwrap();
    let mut g = strata::catalog::GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,2"))]);
    let h = g.then(x, "linear", &[("out_features", 16.into())]);
    let r = g.then(h, "relu", &[]);
    let o = g.then(r, "linear", &[("out_features", 2.into())]);
    g.then(o, "output", &[]);
    let mut p = strata::doc::Project::new("points");
    p.graph = g.finish();
    p.dataset.id = "csv".into();
    p.dataset.options.insert("path".into(), path.to_str().unwrap().into());
    p.training.learning_rate = 0.01;
    let mut run = Supervised::new(&p, &cpu(), 1).unwrap();
    for _ in 0..150 {
        run.train_step(150).unwrap();
    }
    let eval = run.evaluate().unwrap();
    assert_eq!(eval.classes, vec!["above", "below"]);
    assert!(eval.val_accuracy.unwrap() > 0.9, "{:?}", eval.val_accuracy);
    // A broken file names the row.
    std::fs::write(&path, "x,y,side\n1,2,a\n1,?,b\n").unwrap();
    let e = Supervised::new(&p, &cpu(), 1).err().unwrap().to_string();
    assert!(e.contains("row 3: column 'y' holds '?'"), "{e}");
}

#[test]
fn watched_nodes_stream_feature_maps_and_histograms() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let p = preset("lenet5");
    let conv = p.graph.nodes.iter().find(|n| n.kind == "conv2d").unwrap().id;
    let f5 = p.graph.nodes.iter().find(|n| n.title == "F5").unwrap().id;
    let t = Trainer::spawn(|| {}).unwrap();
    let config = RunConfig {
        steps: Some(40),
        device: DeviceChoice::Cpu,
        watch_every: 5,
        ..RunConfig::default()
    };
    t.send(Request::Watch(Some(conv)));
    t.send(Request::Start {
        run_id: 1,
        project: Box::new(p),
        config,
    });
    let seen = wait_for(&t, |e| matches!(e, Event::Activation { .. }));
    let Some(Event::Activation { node, tile, .. }) = seen.last() else {
        unreachable!()
    };
    assert_eq!(*node, conv);
    let strata::engine::watch::Tile::FeatureMaps {
        channels,
        height,
        width,
        pixels,
    } = tile
    else {
        panic!("{tile:?}")
    };
    assert_eq!((*channels, *height, *width), (6, 28, 28));
    assert_eq!(pixels.len(), 6 * 28 * 28);
    assert!(pixels.iter().any(|&p| p > 0));
    t.send(Request::Watch(Some(f5)));
    let seen = wait_for(&t, |e| matches!(e, Event::Activation { node, .. } if *node == f5));
    let Some(Event::Activation { tile, .. }) = seen.last() else {
        unreachable!()
    };
    let strata::engine::watch::Tile::Histogram { counts, min, max } = tile else {
        panic!("{tile:?}")
    };
    assert_eq!(counts.iter().sum::<u32>(), 120);
    assert!(min <= max);
    wait_for(&t, |e| matches!(e, Event::Finished { .. }));
}

#[test]
fn regression_on_a_csv_file() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.csv");
    let mut text = String::from("x,y\n");
    for i in 0..300 {
        let x = i as f64 / 100.0 - 1.5;
        text.push_str(&format!("{x},{}\n", 3.0 * x + 1.0));
    }
    std::fs::write(&path, text).unwrap();
    let mut g = strata::catalog::GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,1"))]);
    let h = g.then(x, "linear", &[("out_features", 16.into())]);
    let r = g.then(h, "tanh", &[]);
    let o = g.then(r, "linear", &[("out_features", 1.into())]);
    g.then(o, "output", &[]);
    let mut p = strata::doc::Project::new("line");
    p.graph = g.finish();
    p.dataset.id = "csv".into();
    p.dataset.options.insert("path".into(), path.to_str().unwrap().into());
    p.dataset.options.insert("task".into(), "regression".into());
    p.training.learning_rate = 0.01;
    let mut run = Supervised::new(&p, &cpu(), 1).unwrap();
    let first = run.evaluate().unwrap().val_rmse.unwrap();
    for _ in 0..400 {
        let m = run.train_step(400).unwrap();
        assert!(m.accuracy.is_none());
    }
    let eval = run.evaluate().unwrap();
    assert!(eval.val_accuracy.is_none());
    let rmse = eval.val_rmse.unwrap();
    assert!(rmse < first * 0.2 && rmse < 0.5, "RMSE {first} → {rmse}");
}

#[test]
fn per_pixel_segmentation_learns_shapes() {
    let _serial = serial();
    let mut g = strata::catalog::GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,1,32,32"))]);
    let c1 = g.then(x, "conv2d", &[("out_channels", 8.into()), ("padding", 1.into())]);
    let r1 = g.then(c1, "relu", &[]);
    let c2 = g.then(
        r1,
        "conv2d",
        &[
            ("out_channels", 8.into()),
            ("padding", 2.into()),
            ("kernel_size", 5.into()),
        ],
    );
    let r2 = g.then(c2, "relu", &[]);
    let c3 = g.then(r2, "conv2d", &[("out_channels", 3.into()), ("kernel_size", 1.into())]);
    g.then(c3, "output", &[]);
    let mut p = strata::doc::Project::new("seg");
    p.graph = g.finish();
    p.dataset.id = "shapes".into();
    p.training.learning_rate = 0.01;
    p.training.batch_size = 16;
    let mut run = Supervised::new(&p, &cpu(), 1).unwrap();
    for _ in 0..60 {
        run.train_step(60).unwrap();
    }
    let eval = run.evaluate().unwrap();
    // Most pixels are background: beating "all background" (≈ 0.9) shows the shapes are found.
    let acc = eval.val_accuracy.unwrap();
    assert!(acc > 0.9, "pixel accuracy {acc}");
    assert_eq!(eval.confusion.len(), 3);
    assert_eq!(eval.confusion.iter().flatten().sum::<u64>(), 240 * 32 * 32);
}

#[test]
fn checkpoints_keep_batch_norm_statistics() {
    let _serial = serial();
    let p = preset("resnet_mini");
    let dir = tempfile::tempdir().unwrap();
    let mut run = Supervised::new(&p, &cpu(), 4).unwrap();
    for _ in 0..3 {
        run.train_step(3).unwrap();
    }
    let before = run.evaluate().unwrap();
    run.save_checkpoint(dir.path()).unwrap();
    let mut resumed = Supervised::new(&p, &cpu(), 4).unwrap();
    assert!(resumed.resume(dir.path()).unwrap().is_empty());
    let after = resumed.evaluate().unwrap();
    // Inference uses the running statistics: equal losses mean they were saved and restored.
    assert_eq!(before.val_loss, after.val_loss);
    assert_eq!(before.confusion, after.confusion);
}

#[test]
fn the_trainer_reports_every_nodes_activity_and_sample_grids_at_evaluations() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    let project = preset("mlp");
    assert!(t.send(Request::Start {
        run_id: 3,
        project: Box::new(project.clone()),
        config: RunConfig {
            steps: Some(40),
            seed: Some(2),
            device: DeviceChoice::Cpu,
            eval_every: 20,
            activity_every: 10,
            ..RunConfig::default()
        },
    }));
    let seen = wait_for(&t, |e| matches!(e, Event::Finished { run_id: 3, .. }));
    let activity: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Activity { step, nodes, .. } => Some((*step, nodes.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(activity.iter().map(|a| a.0).collect::<Vec<_>>(), [10, 20, 30, 40]);
    // Every float-valued node is measured: input, flatten, linear, relu, linear, output.
    let (_, nodes) = &activity[0];
    let linear = project.graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    assert!(nodes.len() >= 5, "{nodes:?}");
    assert!(nodes.iter().all(|(_, v)| v.is_finite() && *v >= 0.0));
    assert!(nodes.iter().any(|(id, v)| *id == linear && *v > 0.0));
    // A sample grid at the evaluation of step 20 and at the end.
    let samples: Vec<u64> = seen
        .iter()
        .filter_map(|e| match e {
            Event::View { step, channel, .. } if channel == "samples" => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(samples, [20, 40]);
}

#[test]
fn live_views_come_at_most_once_per_refresh_gap() {
    // The app's refresh gap: on a fast model, tiles and activity are taken a few times a
    // second, not on every 5th/10th step; the first ones still come on the step cadence.
    let _serial = serial();
    device::prefer_cpu_backend();
    let project = preset("mlp");
    let linear = project.graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    let t = Trainer::spawn(|| {}).unwrap();
    t.send(Request::Watch(Some(linear)));
    assert!(t.send(Request::Start {
        run_id: 4,
        project: Box::new(project),
        config: RunConfig {
            steps: Some(40),
            seed: Some(2),
            device: DeviceChoice::Cpu,
            refresh_ms: 60_000,
            ..RunConfig::live()
        },
    }));
    let seen = wait_for(&t, |e| matches!(e, Event::Finished { run_id: 4, .. }));
    let steps = |activation: bool| -> Vec<u64> {
        seen.iter()
            .filter_map(|e| match e {
                Event::Activity { step, .. } if !activation => Some(*step),
                Event::Activation { step, node, .. } if activation && *node == linear => Some(*step),
                _ => None,
            })
            .collect()
    };
    assert_eq!(steps(true), [5]);
    assert_eq!(steps(false), [10]);
}

#[test]
fn a_zero_initialised_linear_layer_starts_at_zero() {
    // adaLN-Zero (DiT): the modulation and output layers start at zero, so every block starts as
    // the identity. `init: zeros` on a Linear does that; the default stays random.
    for (init, zero) in [("zeros", true), ("default", false)] {
        let mut g = strata::catalog::GraphBuilder::new();
        let x = g.node("input", &[("shape", shape("B,8")), ("field", "x".into())]);
        let l = g.then(x, "linear", &[("out_features", 4.into()), ("init", init.into())]);
        g.then(l, "output", &[("role", "prediction".into())]);
        let mut p = strata::doc::Project::new("zero init");
        p.graph = g.finish();
        assert!(strata::shape::check(&p).is_valid());
        let d = cpu();
        let model = strata::engine::compile(&p, &d).unwrap();
        let x = strata::engine::Value::F2(burn::tensor::Tensor::ones([3, 8], &d));
        let feed = [("x".to_owned(), x)].into_iter().collect();
        let out = model.run(None, &feed, false, None).unwrap();
        let v = out.outputs["prediction"].to_f32s().unwrap();
        assert_eq!(v.iter().all(|&y| y == 0.0), zero, "init {init}: {v:?}");
    }
}

/// Per-node cost: the trainer times every node's forward and backward pass at step 10 and
/// reports it; in LeNet-5 the convolutions cost more than the ReLUs after them, every node
/// that computes something has a backward time, and inputs are not listed.
#[test]
fn the_trainer_measures_where_time_goes_per_node() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    let project = preset("lenet5");
    let config = RunConfig {
        steps: Some(12),
        seed: Some(1),
        device: DeviceChoice::Cpu,
        cost_every: 250,
        ..RunConfig::default()
    };
    assert!(t.send(Request::Start {
        run_id: 1,
        project: Box::new(project.clone()),
        config
    }));
    let seen = wait_for(&t, |e| matches!(e, Event::Cost { .. } | Event::Finished { .. }));
    let Some(Event::Cost { step, nodes, .. }) = seen.last() else {
        panic!("no cost event: {seen:?}")
    };
    assert_eq!(*step, 10);
    let g = &project.graph;
    let kind = |id| g.node(id).unwrap().kind.as_str();
    assert!(nodes.iter().all(|c| kind(c.node) != "input"));
    assert_eq!(nodes.len(), g.nodes.iter().filter(|n| n.kind != "input").count());
    let ms = |k: &str| -> f64 { nodes.iter().filter(|c| kind(c.node) == k).map(|c| c.total_ms()).sum() };
    assert!(ms("conv2d") > ms("relu"), "conv {} relu {}", ms("conv2d"), ms("relu"));
    for c in nodes.iter().filter(|c| matches!(kind(c.node), "conv2d" | "linear")) {
        assert!(c.forward_ms > 0.0 && c.backward_ms > 0.0, "{c:?}");
    }
    wait_for(&t, |e| matches!(e, Event::Finished { .. }));
}
