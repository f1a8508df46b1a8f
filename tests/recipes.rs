//! The recipe platform: declarations checked on the graph, recipes looked up by id, the
//! graph-loss recipe training a graph's own losses, running a graph by role, and a trainer that
//! names no recipe.

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use strata::catalog::{self, GraphBuilder};
use strata::doc::{ParamValue, Project};
use strata::engine::device::{self, DeviceChoice};
use strata::engine::recipes::{self, RecipeInit, StepCx};
use strata::engine::trainer::{Event, Request, RunConfig, Trainer};
use strata::shape::{self, Severity};

/// A dense autoencoder on MNIST trained by its own MSE loss node:
/// image → flatten → 64 → relu → 784 → sigmoid → (reconstruction, mse against the flat image → loss).
fn autoencoder() -> Project {
    let mut g = GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,1,28,28")), ("field", "image".into())]);
    let flat = g.then(x, "flatten", &[]);
    let h = g.then(flat, "linear", &[("out_features", 64.into())]);
    let r = g.then(h, "relu", &[]);
    let d = g.then(r, "linear", &[("out_features", 784.into())]);
    let s = g.then(d, "sigmoid", &[]);
    let rec = g.node("output", &[("role", "reconstruction".into())]);
    g.wire(s, "y", rec, "x");
    let mse = g.node("mse", &[]);
    g.wire(s, "y", mse, "input");
    g.wire(flat, "y", mse, "target");
    let loss = g.node("output", &[("role", "loss".into())]);
    g.wire(mse, "y", loss, "x");
    let mut p = Project::new("autoencoder");
    p.graph = g.finish();
    p.recipe.id = "graph_loss".into();
    p.dataset.id = "mnist_5k".into();
    p.training.learning_rate = 3e-3;
    p
}

fn errors(p: &Project) -> Vec<String> {
    shape::check(p)
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.message)
        .collect()
}

#[test]
fn every_trainable_recipe_is_declared_and_every_declaration_is_unique() {
    assert_eq!(catalog::duplicate_recipe_id(), None);
    for e in recipes::engines() {
        let spec = catalog::recipe(e.id).unwrap_or_else(|| panic!("engine {} has no declaration", e.id));
        assert!(!spec.series.is_empty() && !spec.networks.is_empty(), "{}", e.id);
    }
}

#[test]
fn roles_are_checked_by_type_count_and_presence() {
    let p = autoencoder();
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
    // A second output with a single-use role is refused, on that node.
    let mut two = p.clone();
    let rec = two
        .graph
        .nodes
        .iter()
        .find(|n| n.params.get("role") == Some(&ParamValue::from("reconstruction")))
        .unwrap()
        .id;
    let source = two.graph.wires.iter().find(|w| w.to == rec).unwrap().clone();
    let extra = two.graph.add(catalog::default_node("output").unwrap());
    two.graph
        .node_mut(extra)
        .unwrap()
        .params
        .insert("role".into(), "reconstruction".into());
    two.graph
        .add_wire(strata::doc::Wire::new(source.from, &source.out, extra, "x"));
    let report = shape::check(&two);
    let dup = report
        .diagnostics
        .iter()
        .find(|d| d.message.contains("two Outputs have the role 'reconstruction'"))
        .unwrap_or_else(|| panic!("{:?}", report.diagnostics));
    assert_eq!(dup.node, Some(extra));
    // Losses may repeat: a second loss output is fine.
    let mut losses = p.clone();
    let loss_src = losses
        .graph
        .wires
        .iter()
        .find(|w| {
            losses
                .graph
                .node(w.to)
                .is_some_and(|n| n.params.get("role") == Some(&"loss".into()))
        })
        .unwrap()
        .clone();
    let second = losses.graph.add(catalog::default_node("output").unwrap());
    losses
        .graph
        .node_mut(second)
        .unwrap()
        .params
        .insert("role".into(), "loss".into());
    losses
        .graph
        .add_wire(strata::doc::Wire::new(loss_src.from, &loss_src.out, second, "x"));
    assert!(errors(&losses).is_empty(), "{:?}", errors(&losses));
    // The supervised recipe wants class scores of rank 2 or 4: a loss scalar is the wrong type.
    let mut wrong = p.clone();
    wrong.recipe.id = "supervised".into();
    for n in &mut wrong.graph.nodes {
        if n.params.get("role") == Some(&"loss".into()) {
            n.params.insert("role".into(), "prediction".into());
        }
    }
    let e = errors(&wrong);
    assert!(
        e.iter()
            .any(|m| m.contains("the role 'prediction' of the Supervised recipe needs a tensor of rank 2 or 4")),
        "{e:?}"
    );
    // No loss output at all.
    let mut none = p.clone();
    none.graph
        .nodes
        .retain(|n| n.params.get("role") != Some(&"loss".into()));
    none.graph.normalize();
    let e = errors(&none);
    assert!(
        e.iter().any(|m| m.contains("needs an Output with role 'loss'")),
        "{e:?}"
    );
}

#[test]
fn recipe_settings_are_typed() {
    let mut p = autoencoder();
    p.recipe.settings.insert("normalize_inputs".into(), ParamValue::Int(3));
    let e = errors(&p);
    assert!(
        e.iter().any(|m| m.contains("recipe setting 'normalize_inputs'")),
        "{e:?}"
    );
    let mut p = autoencoder();
    p.recipe.settings.insert("no_such_setting".into(), ParamValue::Int(3));
    let report = shape::check(&p);
    assert!(report.is_valid());
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning && d.message.contains("no setting 'no_such_setting'"))
    );
    // Settings survive a save and reload.
    let mut p = autoencoder();
    p.recipe.settings.insert("normalize_inputs".into(), true.into());
    let text = strata::doc::to_json_string(&p);
    assert_eq!(strata::parse_project(&text).unwrap().recipe, p.recipe);
}

#[test]
fn graph_loss_trains_an_autoencoder_from_its_own_loss_node() {
    let _serial = serial();
    let p = autoencoder();
    let d = cpu();
    let init = RecipeInit {
        project: &p,
        device: &d,
        seed: 3,
        data_dir: None,
    };
    let mut run = recipes::start(&init).unwrap();
    let cancel = AtomicBool::new(false);
    let before = run.evaluate(&cancel).unwrap().scalars["val_loss"];
    let mut losses = Vec::new();
    for _ in 0..150 {
        let mut cx = StepCx::new(150, &cancel);
        losses.push(run.step(&mut cx).unwrap().read()["loss"]);
    }
    let after = run.evaluate(&cancel).unwrap().scalars["val_loss"];
    assert!(losses[149] < losses[0] * 0.6, "loss {} → {}", losses[0], losses[149]);
    assert!(after < before * 0.6, "validation loss {before} → {after}");
    // The reconstruction view: 8 validation digits over their reconstructions.
    let views = run.views(&cancel).unwrap();
    let (channel, view) = &views[0];
    assert_eq!(channel, "samples");
    let strata::telemetry::View::Image(pic) = view else {
        panic!("{view:?}")
    };
    assert!(pic.is_well_formed() && pic.width > 8 * 28 && pic.height > 2 * 28);
}

#[test]
fn a_graph_runs_only_what_feeds_the_requested_roles() {
    let _serial = serial();
    let mut p = autoencoder();
    // A classifier head on the code, fed by a label input: reconstructing needs no labels.
    let code = p.graph.nodes.iter().find(|n| n.kind == "relu").unwrap().id;
    let head = p.graph.add(catalog::default_node("linear").unwrap());
    p.graph
        .node_mut(head)
        .unwrap()
        .params
        .insert("out_features".into(), 10.into());
    p.graph.add_wire(strata::doc::Wire::new(code, "y", head, "x"));
    let labels = p.graph.add(catalog::default_node("input").unwrap());
    let lp = &mut p.graph.node_mut(labels).unwrap().params;
    lp.insert("shape".into(), shape("B"));
    lp.insert("dtype".into(), "int".into());
    lp.insert("field".into(), "label".into());
    let ce = p.graph.add(catalog::default_node("cross_entropy").unwrap());
    p.graph.add_wire(strata::doc::Wire::new(head, "y", ce, "input"));
    p.graph.add_wire(strata::doc::Wire::new(labels, "y", ce, "target"));
    let out = p.graph.add(catalog::default_node("output").unwrap());
    p.graph
        .node_mut(out)
        .unwrap()
        .params
        .insert("role".into(), "loss".into());
    p.graph.add_wire(strata::doc::Wire::new(ce, "y", out, "x"));
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
    let d = cpu();
    let model = strata::engine::compile(&p, &d).unwrap();
    let need: Vec<String> = model
        .plan
        .inputs_for(Some(&["reconstruction"]))
        .iter()
        .map(|i| i.field.clone())
        .collect();
    assert_eq!(need, ["image"]);
    let x = strata::engine::Value::F4(burn::tensor::Tensor::zeros([2, 1, 28, 28], &d));
    let feed = [("image".to_owned(), x)].into_iter().collect();
    let f = model.run(Some(&["reconstruction"]), &feed, false, None).unwrap();
    assert_eq!(f.outputs["reconstruction"].dims(), [2, 784]);
    assert!(!f.outputs.contains_key("loss"));
    // The whole graph needs the labels too: the error names the input.
    let err = model.run(None, &feed, false, None).err().unwrap();
    assert!(err.to_string().contains("no field 'label'"), "{err}");
    // And it trains with both losses (labels fed to the integer input).
    let init = RecipeInit {
        project: &p,
        device: &d,
        seed: 1,
        data_dir: None,
    };
    let mut run = recipes::start(&init).unwrap();
    let cancel = AtomicBool::new(false);
    let mut cx = StepCx::new(10, &cancel);
    assert!(run.step(&mut cx).unwrap().read()["loss"].is_finite());
}

#[test]
fn the_trainer_runs_any_registered_recipe_and_refuses_the_others_by_name() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    t.send(Request::Start {
        run_id: 1,
        project: Box::new(autoencoder()),
        config: RunConfig {
            steps: Some(30),
            device: DeviceChoice::Cpu,
            eval_every: 10,
            ..RunConfig::default()
        },
    });
    let seen = wait_for(&t, |e| matches!(e, Event::Finished { .. } | Event::Failed { .. }));
    let steps: Vec<u64> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Step { step, scalars, .. } if scalars.contains_key("loss") => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        (1..=30).collect::<Vec<_>>(),
        "every step reported once, in order"
    );
    let Some(Event::Finished { eval, .. }) = seen.last() else {
        panic!("{seen:?}")
    };
    assert!(eval.as_ref().unwrap()["val_loss"] > 0.0);
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::View { channel, .. } if channel == "samples")),
        "reconstructions were shown"
    );
    // A declared recipe without a loop yet says so and names what can train.
    let mut planned = autoencoder();
    planned.recipe.id = "vae".into();
    t.send(Request::Start {
        run_id: 2,
        project: Box::new(planned),
        config: RunConfig {
            device: DeviceChoice::Cpu,
            ..RunConfig::default()
        },
    });
    let seen = wait_for(&t, |e| matches!(e, Event::Failed { .. } | Event::Finished { .. }));
    let Some(Event::Failed { reason, bad_input, .. }) = seen.last() else {
        panic!("{seen:?}")
    };
    assert!(*bad_input);
    assert!(
        reason.contains("cannot be trained yet") && reason.contains("graph_loss"),
        "{reason}"
    );
}

#[test]
fn stop_ends_a_run_within_a_second() {
    let _serial = serial();
    device::prefer_cpu_backend();
    let t = Trainer::spawn(|| {}).unwrap();
    t.send(Request::Start {
        run_id: 5,
        project: Box::new(preset("lenet5")),
        config: RunConfig {
            steps: Some(1_000_000),
            device: DeviceChoice::Cpu,
            ..RunConfig::default()
        },
    });
    wait_for(&t, |e| matches!(e, Event::Step { step, .. } if *step >= 2));
    let asked = Instant::now();
    t.send(Request::Stop);
    // The run stops after the current step; the final evaluation that follows is not counted.
    wait_for(&t, |e| {
        matches!(e, Event::View { .. } | Event::Eval { .. } | Event::Finished { .. })
    });
    assert!(asked.elapsed() < Duration::from_secs(1), "{:?}", asked.elapsed());
    wait_for(&t, |e| matches!(e, Event::Finished { stopped: true, .. }));
}

#[test]
fn recipe_ids_are_named_only_in_recipe_files() {
    // Adding a recipe adds files: the trainer, CLI, app and checker never name one.
    let ids: Vec<&str> = catalog::recipes().iter().map(|r| r.id).collect();
    let mut offenders = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let shown = path.display().to_string();
            if path.is_dir() {
                if !shown.ends_with("/recipes") {
                    stack.push(path);
                }
                continue;
            }
            if shown.ends_with("recipe.rs") || !shown.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for id in &ids {
                if code.contains(&format!("\"{id}\"")) {
                    offenders.push(format!("{shown}: \"{id}\""));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// Trains a preset's recipe for `steps` and returns (first losses, last losses, recipe).
fn train_preset(id: &str, steps: usize) -> (f64, f64, Box<dyn recipes::Recipe>, AtomicBool) {
    let p = preset(id);
    assert!(shape::check(&p).is_valid(), "{:?}", shape::check(&p).diagnostics);
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let mut cx = StepCx::new(steps as u64, &cancel);
        losses.push(run.step(&mut cx).unwrap().read()["loss"]);
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    (mean(&losses[..10]), mean(&losses[steps - 10..]), run, cancel)
}

#[test]
fn the_autoencoder_preset_learns_to_reconstruct() {
    let _serial = serial();
    let (first, last, mut run, cancel) = train_preset("autoencoder", 120);
    assert!(last < first * 0.7, "loss {first} → {last}");
    let views = run.views(&cancel).unwrap();
    assert!(views.iter().any(|(c, _)| c == "samples"), "{views:?}");
}

#[test]
fn the_vae_preset_learns_with_a_positive_kl_and_a_latent_map() {
    let _serial = serial();
    let (first, last, mut run, cancel) = train_preset("vae", 150);
    assert!(last < first * 0.9, "loss {first} → {last}");
    let eval = run.evaluate(&cancel).unwrap().scalars;
    let kl = eval["val_loss: β·KL"];
    assert!(kl > 0.0, "{eval:?}");
    assert!(eval["val_loss: reconstruction loss"] > 0.0, "{eval:?}");
    let views = run.views(&cancel).unwrap();
    let latent = views.iter().find(|(c, _)| c == "latent").map(|(_, v)| v);
    let Some(strata::telemetry::View::Scatter(s)) = latent else {
        panic!("{views:?}")
    };
    assert_eq!(s.points.len(), 500);
    assert_eq!(s.groups.len(), 10);
    assert!(s.points.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    // The interpolation strip: 4 rows of original, 10 decoded codes, original (28×28, 2-px gaps).
    let strip = views.iter().find(|(c, _)| c == "interpolation").map(|(_, v)| v);
    let Some(strata::telemetry::View::Image(p)) = strip else {
        panic!("no interpolation strip: {views:?}")
    };
    assert_eq!((p.width, p.height), (12 * 30 + 2, 4 * 30 + 2));
    // Along a row the decoded digits change: the first and the last decoded cell differ.
    let cell = |col: usize| -> Vec<u8> {
        (0..28)
            .flat_map(|y| {
                let o = ((2 + y) * p.width + 2 + col * 30) * 3;
                p.rgb[o..o + 28 * 3].to_vec()
            })
            .collect()
    };
    let diff: u64 = cell(1)
        .iter()
        .zip(cell(10))
        .map(|(a, b)| u64::from(a.abs_diff(b)))
        .sum();
    assert!(
        diff > 28 * 28 * 10,
        "the walk between two codes decodes to the same image ({diff})"
    );
}

#[test]
fn data_sources_are_a_registry_with_typed_options() {
    use strata::data::sources::SOURCES;
    let mut ids: Vec<&str> = SOURCES.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), SOURCES.len(), "duplicate source ids");
    for s in SOURCES {
        for o in s.options {
            assert_eq!(
                catalog::check_param(o, &o.default.to_value()),
                catalog::ParamCheck::Ok,
                "{}.{}",
                s.id,
                o.name
            );
        }
    }
    assert!(strata::data::load("iris", &Default::default(), None).is_ok());
    let e = strata::data::load("csv", &Default::default(), None).err().unwrap();
    assert!(e.contains("needs the option 'path'"), "{e}");
    let e = strata::data::load("cifar", &Default::default(), None).err().unwrap();
    assert!(e.contains("unknown dataset 'cifar'") && e.contains("mnist_5k"), "{e}");
}

#[test]
fn each_network_has_its_own_parameters_and_optimizer() {
    let _serial = serial();
    use burn::module::Module;
    use strata::engine::Value;
    use strata::engine::recipes::common::Networks;
    // x → G → fake, and G → D → score: the critic's loss flows through the generator.
    let mut g = GraphBuilder::new();
    let x = g.node(
        "input",
        &[
            ("shape", shape("B,4")),
            ("field", "z".into()),
            ("source", "noise".into()),
        ],
    );
    let gen_ = g.then(x, "linear", &[("out_features", 4.into())]);
    let fake = g.node("output", &[("role", "fake".into())]);
    g.wire(gen_, "y", fake, "x");
    let dis = g.then(gen_, "linear", &[("out_features", 1.into())]);
    let score = g.node("output", &[("role", "score".into())]);
    g.wire(dis, "y", score, "x");
    let mut p = Project::new("two networks");
    p.graph = g.finish();
    p.recipe.id = "gan".into();
    assert!(errors(&p).is_empty(), "{:?}", errors(&p));
    let d = cpu();
    let ad = d.autodiff();
    ad.seed(1);
    let model = strata::engine::compile(&p, &ad).unwrap();
    let spec = catalog::recipe("gan").unwrap();
    let mut nets = Networks::new(model, spec, &p.training);
    let (gen_ids, dis_ids) = (nets.parts[0].params.clone(), nets.parts[1].params.clone());
    assert_eq!((gen_ids.len(), dis_ids.len()), (2, 2), "weight and bias each");
    assert!(gen_ids.iter().all(|id| !dis_ids.contains(id)));
    let z = Value::F2(burn::tensor::Tensor::ones([3, 4], &ad));
    let feed: std::collections::HashMap<String, Value> = [("z".to_owned(), z)].into_iter().collect();
    let outputs = |nets: &Networks| {
        let f = nets
            .model()
            .unwrap()
            .valid()
            .run(None, &feed_inner(&feed), false, None)
            .unwrap();
        let read = |r: &str| -> Vec<f32> {
            match f.outputs[r].clone() {
                Value::F2(t) => t.into_data().iter::<f32>().collect(),
                _ => Vec::new(),
            }
        };
        (read("fake"), read("score"))
    };
    let score_loss = |nets: &Networks| {
        let f = nets.model().unwrap().run(Some(&["score"]), &feed, false, None).unwrap();
        match f.outputs["score"].clone() {
            Value::F2(t) => t.mean(),
            _ => panic!("score"),
        }
    };
    let (fake0, score0) = outputs(&nets);
    // The critic's step leaves the generator as it was.
    let loss = score_loss(&nets);
    nets.descend(1, loss, 0.1).unwrap();
    let (fake1, score1) = outputs(&nets);
    assert_eq!(fake0, fake1, "the generator moved on the critic's step");
    assert_ne!(score0, score1);
    // The generator's step (through the critic) moves the generator.
    let loss = score_loss(&nets);
    nets.descend(0, loss, 0.1).unwrap();
    let (fake2, _) = outputs(&nets);
    assert_ne!(fake1, fake2);
    // A checkpoint holds every network's optimizer and restores.
    let dir = tempfile::tempdir().unwrap();
    nets.save(dir.path()).unwrap();
    assert!(dir.path().join("optimizer.bpk").exists() && dir.path().join("critic/optimizer.bpk").exists());
    assert!(nets.load(dir.path()).unwrap().is_empty());
    assert_eq!(outputs(&nets).0, fake2);
}

/// The same feed on the device without autodiff (for the inference copy).
fn feed_inner(
    feed: &std::collections::HashMap<String, strata::engine::Value>,
) -> std::collections::HashMap<String, strata::engine::Value> {
    use strata::engine::Value;
    feed.iter()
        .map(|(k, v)| {
            let v = match v.clone() {
                Value::F2(t) => Value::F2(t.inner()),
                other => other,
            };
            (k.clone(), v)
        })
        .collect()
}

#[test]
fn the_dcgan_preset_plays_both_sides_and_draws_samples() {
    let _serial = serial();
    let p = preset("dcgan");
    assert!(shape::check(&p).is_valid(), "{:?}", shape::check(&p).diagnostics);
    let d = cpu();
    let init = RecipeInit {
        project: &p,
        device: &d,
        seed: 2,
        data_dir: None,
    };
    let mut run = recipes::start(&init).unwrap();
    let cancel = AtomicBool::new(false);
    let grid = |run: &mut Box<dyn recipes::Recipe>| {
        let views = run.views(&cancel).unwrap();
        let Some((_, strata::telemetry::View::Image(pic))) = views.into_iter().find(|(c, _)| c == "samples") else {
            panic!("no sample grid")
        };
        pic
    };
    let before = grid(&mut run);
    assert!(
        before.is_well_formed() && before.width > 8 * 28 && before.height > 8 * 28,
        "an 8×8 grid"
    );
    let mut last = Default::default();
    for _ in 0..40 {
        last = run.step(&mut StepCx::new(40, &cancel)).unwrap().read();
    }
    for k in ["d_loss", "g_loss", "d_real", "d_fake"] {
        assert!(last[k].is_finite(), "{k}: {last:?}");
    }
    // The discriminator learns to tell them apart; the generator's samples move.
    assert!(last["d_real"] > last["d_fake"], "{last:?}");
    assert_ne!(grid(&mut run), before);
    let eval = run.evaluate(&cancel).unwrap().scalars;
    assert!((0.0..=1.0).contains(&eval["val_d_real"]), "{eval:?}");
    // Both networks and their optimizers go into a checkpoint and come back.
    let dir = tempfile::tempdir().unwrap();
    run.save(dir.path()).unwrap();
    assert!(dir.path().join("critic/optimizer.bpk").exists());
    let mut again = recipes::start(&init).unwrap();
    assert!(again.resume(dir.path()).unwrap().is_empty());
    assert_eq!(again.steps_done(), 40);
}

#[test]
fn a_gan_without_a_discriminator_score_is_named_on_the_graph() {
    let mut p = preset("dcgan");
    p.graph.nodes.retain(|n| n.params.get("role") != Some(&"score".into()));
    p.graph.normalize();
    let e = errors(&p);
    assert!(
        e.iter()
            .any(|m| m.contains("the GAN recipe needs an Output with role 'score'")),
        "{e:?}"
    );
    // A score that never sees the generator: the recipe says what to wire.
    let mut g = GraphBuilder::new();
    let z = g.node(
        "input",
        &[
            ("shape", shape("B,4")),
            ("source", "noise".into()),
            ("field", "z".into()),
        ],
    );
    let gen_ = g.then(z, "linear", &[("out_features", 784.into())]);
    let img = g.then(gen_, "reshape", &[("shape", shape("B,1,28,28"))]);
    let fake = g.node("output", &[("role", "fake".into())]);
    g.wire(img, "y", fake, "x");
    let x = g.node("input", &[("shape", shape("B,1,28,28")), ("field", "image".into())]);
    let f = g.then(x, "flatten", &[]);
    let s = g.then(f, "linear", &[("out_features", 1.into())]);
    let score = g.node("output", &[("role", "score".into())]);
    g.wire(s, "y", score, "x");
    let mut p = Project::new("disconnected");
    p.graph = g.finish();
    p.recipe.id = "gan".into();
    p.dataset.id = "mnist_5k".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("does not depend on the generator"), "{err}");
}

#[test]
fn mean_iou_is_the_mean_of_per_class_overlaps() {
    use strata::engine::supervised::mean_iou;
    // class 0: tp 8, fn 2, fp 1 → 8/11; class 1: tp 4, fn 1, fp 2 → 4/7.
    let c = vec![vec![8, 2], vec![1, 4]];
    assert!((mean_iou(&c) - (8.0 / 11.0 + 4.0 / 7.0) / 2.0).abs() < 1e-12);
    assert_eq!(
        mean_iou(&[vec![5, 0], vec![0, 0]]),
        1.0,
        "a class absent everywhere is left out"
    );
}

#[test]
fn the_unet_preset_segments_shapes() {
    let _serial = serial();
    let p = preset("unet_shapes");
    let mut run = strata::engine::supervised::Supervised::new(&p, &cpu(), 1).unwrap();
    // The full default run (600 steps, about a minute): the target is a mean IoU of 0.8.
    let steps = p.training.steps;
    for _ in 0..steps {
        run.train_step(steps).unwrap();
    }
    let eval = run.evaluate().unwrap();
    let miou = eval.val_miou.unwrap();
    assert!(miou > 0.8, "mean IoU {miou}");
    assert_eq!(eval.to_evaluation().scalars["val_miou"], miou);
}

#[test]
fn the_score_model_samples_land_on_the_two_moons() {
    let _serial = serial();
    let (first, last, mut run, cancel) = train_preset("score_2d", 1500);
    // Predicting the noise at the smallest levels stays hard: the loss falls by a fifth or so.
    assert!(last < first * 0.9, "loss {first} → {last}");
    let views = run.views(&cancel).unwrap();
    let Some((_, strata::telemetry::View::Scatter(s))) = views.into_iter().find(|(c, _)| c == "samples") else {
        panic!("no samples scatter")
    };
    let data: Vec<[f32; 2]> = s
        .points
        .iter()
        .zip(&s.group_of)
        .filter(|(_, g)| **g == 0)
        .map(|(p, _)| *p)
        .collect();
    let drawn: Vec<[f32; 2]> = s
        .points
        .iter()
        .zip(&s.group_of)
        .filter(|(_, g)| **g == 1)
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(drawn.len(), 500);
    let nearest = |p: &[f32; 2]| {
        data.iter()
            .map(|q| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
            .fold(f32::MAX, f32::min)
    };
    let mean = drawn.iter().map(nearest).sum::<f32>() / drawn.len() as f32;
    // Pure N(0, 1.5²) noise sits about 0.5 from the nearest data point; Langevin samples hug the moons.
    assert!(mean < 0.12, "mean distance of a sample to the data: {mean}");
    // Stop works inside the sampling loop: a set cancel flag gives no view instead of waiting.
    let stop = AtomicBool::new(true);
    assert!(run.views(&stop).unwrap().is_empty());
}

#[test]
fn a_score_model_needs_a_noise_level_input() {
    let mut p = preset("score_2d");
    for n in &mut p.graph.nodes {
        if n.params.get("source") == Some(&"timestep".into()) {
            n.params.insert("source".into(), "dataset".into());
            n.params.insert("field".into(), "x".into());
        }
    }
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("source 'timestep'"), "{err}");
}

#[test]
fn noise_schedules_fall_from_one_towards_zero() {
    use strata::engine::recipes::diffusion::alpha_bar;
    for schedule in ["linear", "cosine"] {
        let ab = alpha_bar(schedule, 1000, 1e-4, 0.02);
        assert_eq!(ab.len(), 1000);
        assert!(ab.windows(2).all(|w| w[1] < w[0]), "{schedule} must decrease");
        assert!(ab[0] > 0.99 && ab[999] < 1e-3, "{schedule}: {} … {}", ab[0], ab[999]);
    }
}

#[test]
fn the_ddpm_preset_learns_to_denoise_and_samples_with_both_samplers() {
    let _serial = serial();
    let mut p = preset("ddpm_unet");
    // A short ladder keeps the DDPM sampler quick here; the preset itself uses 1 000 steps.
    p.recipe.settings.insert("timesteps".into(), 40.into());
    assert!(shape::check(&p).is_valid(), "{:?}", shape::check(&p).diagnostics);
    let d = cpu();
    for sampler in ["ddim", "ddpm"] {
        p.recipe.settings.insert("sampler".into(), sampler.into());
        let init = RecipeInit {
            project: &p,
            device: &d,
            seed: 1,
            data_dir: None,
        };
        let mut run = recipes::start(&init).unwrap();
        let cancel = AtomicBool::new(false);
        let mut losses = Vec::new();
        for _ in 0..60 {
            losses.push(run.step(&mut StepCx::new(60, &cancel)).unwrap().read()["loss"]);
        }
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        assert!(mean(&losses[50..]) < mean(&losses[..10]) * 0.8, "{sampler}: {losses:?}");
        let views = run.views(&cancel).unwrap();
        let channels: Vec<&str> = views.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(channels, ["samples", "trajectory"], "{sampler}");
        for (_, v) in &views {
            let strata::telemetry::View::Image(pic) = v else {
                panic!("{v:?}")
            };
            assert!(pic.is_well_formed());
        }
        // Stop reaches into the sampling loop.
        assert!(run.views(&AtomicBool::new(true)).unwrap().is_empty());
    }
}

#[test]
fn the_dit_mini_preset_learns_to_denoise_on_the_same_recipe() {
    let _serial = serial();
    let mut p = preset("dit_mini");
    assert_eq!(
        p.recipe.id,
        preset("ddpm_unet").recipe.id,
        "one diffusion recipe for both denoisers"
    );
    let report = shape::check(&p);
    assert!(report.is_valid(), "{:?}", report.diagnostics);
    p.recipe.settings.insert("timesteps".into(), 40.into());
    p.recipe.settings.insert("sample_steps".into(), 5.into());
    // No warm-up in a 60-step test: the zero-initialised denoiser starts at loss 1 (ε̂ = 0).
    p.training.warmup_steps = 0;
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    for _ in 0..60 {
        losses.push(run.step(&mut StepCx::new(60, &cancel)).unwrap().read()["loss"]);
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    assert!(mean(&losses[50..]) < mean(&losses[..10]) * 0.8, "{losses:?}");
    let views = run.views(&cancel).unwrap();
    let channels: Vec<&str> = views.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(channels, ["samples", "trajectory"]);
}

#[test]
fn the_reference_dit_trains_at_its_own_size() {
    let _serial = serial();
    // DiT-S/2 as published (32.9 M parameters, 256 tokens of width 384, 12 blocks, ε and
    // variance out) on its stand-in latents: digits padded to 32×32, repeated into 4 channels.
    let mut p = preset("dit");
    assert!(shape::check(&p).is_valid(), "{:?}", shape::check(&p).diagnostics);
    p.training.batch_size = 2;
    let mut run = start_recipe(&p).unwrap();
    assert_eq!(run.param_count(), 32_865_056);
    let cancel = AtomicBool::new(false);
    for _ in 0..2 {
        let loss = run.step(&mut StepCx::new(2, &cancel)).unwrap().read()["loss"];
        assert!(loss.is_finite() && loss > 0.0, "{loss}");
    }
}

#[test]
fn a_diffusion_graph_without_a_timestep_input_is_named_on_the_graph() {
    let mut p = preset("ddpm_unet");
    for n in &mut p.graph.nodes {
        if n.params.get("source") == Some(&"timestep".into()) {
            n.params.insert("source".into(), "dataset".into());
        }
    }
    let e = errors(&p);
    assert!(
        e.iter()
            .any(|m| m.contains("the Diffusion (DDPM) recipe needs an Input with source 'timestep'")),
        "{e:?}"
    );
}

#[test]
fn the_trainer_generates_on_demand_from_the_last_runs_weights() {
    use strata::engine::recipes::GenerateRequest;
    let _serial = serial();
    let t = Trainer::spawn(|| {}).unwrap();
    let ask = |seed: u64| {
        t.send(Request::Generate(GenerateRequest {
            seed,
            count: 50,
            steps: Some(5),
            ..GenerateRequest::default()
        }));
        let seen = wait_for(&t, |e| matches!(e, Event::Generated { .. }));
        match seen.last() {
            Some(Event::Generated { result, .. }) => result.clone(),
            other => panic!("{other:?}"),
        }
    };
    // No weights yet: the answer says what to do.
    let err = ask(1).unwrap_err();
    assert!(err.contains("train the project first"), "{err}");
    let ck = tempfile::tempdir().unwrap();
    t.send(Request::Start {
        run_id: 3,
        project: Box::new(preset("score_2d")),
        config: RunConfig {
            steps: Some(200),
            device: DeviceChoice::Cpu,
            checkpoint: Some(ck.path().to_owned()),
            ..RunConfig::default()
        },
    });
    wait_for(&t, |e| matches!(e, Event::Finished { .. } | Event::Failed { .. }));
    let draw = |seed| match ask(seed) {
        Ok(strata::telemetry::View::Scatter(s)) => s,
        other => panic!("{other:?}"),
    };
    let a = draw(7);
    // 50 drawn points over as many data points.
    assert_eq!(a.points.len(), 100);
    assert_eq!(a.group_of.iter().filter(|&&g| g == 1).count(), 50);
    assert_eq!(draw(7), a, "the same seed draws the same samples from the same weights");
    assert_ne!(draw(8), a, "another seed, other samples");
    // A later session: a fresh trainer loads the run's checkpoint and draws the same samples.
    let later = Trainer::spawn(|| {}).unwrap();
    later.send(Request::GenerateFrom {
        project: Box::new(preset("score_2d")),
        checkpoint: ck.path().to_owned(),
        data_dir: None,
        request: GenerateRequest {
            seed: 7,
            count: 50,
            steps: Some(5),
            ..GenerateRequest::default()
        },
    });
    let seen = wait_for(&later, |e| matches!(e, Event::Generated { .. }));
    match seen.last() {
        Some(Event::Generated {
            result: Ok(strata::telemetry::View::Scatter(s)),
            ..
        }) => assert_eq!(*s, a, "the checkpoint's weights draw what the run's weights drew"),
        other => panic!("{other:?}"),
    }
    // A folder without a checkpoint is named in the answer.
    later.send(Request::GenerateFrom {
        project: Box::new(preset("score_2d")),
        checkpoint: ck.path().join("missing"),
        data_dir: None,
        request: GenerateRequest::default(),
    });
    let seen = wait_for(&later, |e| matches!(e, Event::Generated { .. }));
    let Some(Event::Generated { result: Err(e), .. }) = seen.last() else {
        panic!("{seen:?}")
    };
    assert!(e.contains("missing"), "{e}");
}

#[test]
fn the_moving_average_of_weights_blends_parameter_by_parameter() {
    use strata::engine::recipes::common::Ema;
    let mut g = GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,3")), ("field", "x".into())]);
    let l = g.then(x, "linear", &[("out_features", 2.into())]);
    g.then(l, "output", &[("role", "prediction".into())]);
    let mut p = Project::new("ema");
    p.graph = g.finish();
    let d = cpu();
    let model = |seed| {
        d.seed(seed);
        strata::engine::compile(&p, &d).unwrap()
    };
    let out = |m: &strata::engine::GraphModel| {
        let x = strata::engine::Value::F2(burn::tensor::Tensor::ones([1, 3], &d));
        let feed = [("x".to_owned(), x)].into_iter().collect();
        m.run(None, &feed, false, None).unwrap().outputs["prediction"]
            .to_f32s()
            .unwrap()
    };
    // The same network later in training: same parameters (ids), other values (here doubled).
    struct Double;
    impl burn::module::ModuleMapper for Double {
        fn map_float<const D: usize>(
            &mut self,
            p: burn::module::Param<burn::tensor::Tensor<D>>,
        ) -> burn::module::Param<burn::tensor::Tensor<D>> {
            p.map(|t| t.mul_scalar(2.0))
        }
    }
    use burn::module::Module;
    let a = model(1);
    let b = a.clone().map(&mut Double);
    let ya = out(&a);
    let mut ema = Ema::new(0.5);
    ema.update(a);
    ema.update(b);
    // The second update's decay is min(0.5, 3/12); the output is linear in the weights (input
    // ones): avg = w·y + (1 − w)·2y.
    let w = 3.0 / 12.0;
    let avg = out(ema.model().unwrap());
    for k in 0..2 {
        let want = ya[k] * (w + 2.0 * (1.0 - w));
        assert!((avg[k] - want).abs() < 1e-5, "{avg:?} vs {want}");
    }
    // Through real optimizer steps the parameters keep their ids: the average moves.
    let ad = d.clone().autodiff();
    ad.seed(5);
    let mut net =
        strata::engine::recipes::common::Network::new("model", strata::engine::compile(&p, &ad).unwrap(), &p.training);
    let mut ema = Ema::new(0.9);
    ema.update(net.inference().unwrap());
    let first = out(ema.model().unwrap());
    for _ in 0..3 {
        let x = strata::engine::Value::F2(burn::tensor::Tensor::ones([1, 3], &ad));
        let feed = [("x".to_owned(), x)].into_iter().collect();
        let y = net.model().unwrap().run(None, &feed, false, None).unwrap().outputs["prediction"].clone();
        let strata::engine::Value::F2(y) = y else { panic!() };
        net.descend(y.sum(), 0.1).unwrap();
        ema.update(net.inference().unwrap());
    }
    let moved = out(ema.model().unwrap());
    let now = out(&net.inference().unwrap());
    assert!(
        moved[0] < first[0] && moved[0] > now[0],
        "first {first:?}, average {moved:?}, now {now:?}"
    );
    // Decay 0 keeps no average: sampling uses the raw weights.
    let mut off = Ema::new(0.0);
    off.update(model(3));
    assert!(off.model().is_none());
}

#[test]
fn a_batch_size_of_zero_is_a_diagnostic_and_is_not_trained() {
    let mut p = preset("mlp");
    p.training.batch_size = 0;
    let e = errors(&p);
    assert!(e.iter().any(|m| m.contains("the batch size is 0")), "{e:?}");
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("the batch size is 0"), "{err}");
}

#[test]
fn a_run_that_would_not_fit_in_memory_names_its_largest_nodes() {
    let p = preset("lenet5");
    let need = strata::shape::memory::estimate(&p).unwrap().total;
    assert!(recipes::check_memory(&p, Some(need)).is_ok());
    let err = recipes::check_memory(&p, Some(need / 2)).unwrap_err().to_string();
    assert!(
        err.contains("needs about") && err.contains("largest of its 14 nodes: '"),
        "{err}"
    );
    assert!(
        recipes::check_memory(&p, None).is_ok(),
        "unknown free memory: no refusal"
    );
    // On a GPU that reports its memory, the message names it.
    let err = recipes::check_memory_on(&p, Some(need / 2), "the GPU")
        .unwrap_err()
        .to_string();
    assert!(err.contains("but the GPU has"), "{err}");
    // The device the CPU backend runs on is checked against RAM.
    let (free, place) = strata::engine::device::available_memory(&burn::tensor::Device::flex());
    assert_eq!(place, "this machine");
    assert_eq!(free.is_some(), strata::shape::memory::available_ram().is_some());
}
