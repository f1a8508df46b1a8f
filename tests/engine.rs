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

fn cpu() -> burn::tensor::Device {
    device::prefer_cpu_backend();
    device::select(DeviceChoice::Cpu).unwrap().device
}

#[test]
fn mlp_learns_mnist() {
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
    assert!(eval.val_accuracy > 0.80, "val accuracy {}", eval.val_accuracy);
    assert_eq!(eval.confusion.len(), 10);
    assert_eq!(eval.confusion.iter().flatten().sum::<u64>(), 1000);
}

#[test]
fn lenet5_learns_padded_mnist() {
    let p = preset("lenet5");
    let mut run = Supervised::new(&p, &cpu(), 3).unwrap();
    assert_eq!(run.param_count(), 61_706);
    for _ in 0..150 {
        run.train_step(150).unwrap();
    }
    let eval = run.evaluate().unwrap();
    assert!(eval.val_accuracy > 0.6, "val accuracy {}", eval.val_accuracy);
}

#[test]
fn same_seed_same_losses() {
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

fn wait_for(t: &Trainer, mut pred: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::time::Instant::now() < deadline {
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

#[test]
fn trainer_protocol_start_pause_resume_stop() {
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    let config = RunConfig {
        steps: Some(100_000),
        seed: Some(1),
        device: DeviceChoice::Cpu,
        eval_every: 0,
    };
    assert!(t.send(Request::Start {
        run_id: 7,
        project: Box::new(preset("mlp")),
        config
    }));
    let seen = wait_for(&t, |e| matches!(e, Event::Step { metrics, .. } if metrics.step >= 3));
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
    assert!(eval.as_ref().unwrap().val_accuracy > 0.0);
}

#[test]
fn trainer_reports_bad_input_as_failed() {
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
    if device::probe_gpu().is_none() {
        let err = device::select(DeviceChoice::Gpu).err().unwrap();
        assert!(err.to_string().contains("no GPU adapter is available"), "{err}");
    }
}
