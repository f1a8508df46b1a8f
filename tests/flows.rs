//! Normalizing flows: invertible layers invert, their log-determinants are the true ones, the
//! flow recipe's held-out likelihood improves, and a non-invertible layer is named on the graph.

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Distribution, Tensor, TensorData};
use common::*;
use std::sync::atomic::AtomicBool;
use strata::catalog::GraphBuilder;
use strata::doc::{ParamValue, Project};
use strata::engine::recipes::{self, StepCx};
use strata::engine::{Value, compile};
use strata::shape::{self, Severity};
use strata::telemetry::View;

fn max_abs_diff(a: &Value, b: &Value) -> f32 {
    let (a, b) = (a.to_f32s().unwrap(), b.to_f32s().unwrap());
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A 3-D flow with every invertible kind that works on vectors.
fn vector_flow() -> Project {
    let mut g = GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,3")), ("field", "x".into())]);
    let a = g.then(x, "actnorm", &[]);
    let w = g.then(a, "inv_conv1x1", &[]);
    let c = g.then(w, "affine_coupling", &[("mask", "half".into()), ("hidden", 16.into())]);
    let c2 = g.then(
        c,
        "affine_coupling",
        &[
            ("mask", "alternate".into()),
            ("flip", ParamValue::Bool(true)),
            ("hidden", 16.into()),
        ],
    );
    let o = g.node("output", &[("role", "latent".into())]);
    g.wire(c2, "y", o, "x");
    let mut p = Project::new("flow");
    p.graph = g.finish();
    p.recipe.id = "flow".into();
    p.dataset.id = "two_moons".into();
    p
}

/// Adds noise of `std` to every weight (the couplings' last layers start at zero), so the round
/// trip and the determinant are checked on layers that do something.
fn perturb(model: strata::engine::GraphModel, std: f64) -> strata::engine::GraphModel {
    use burn::module::{Module, ModuleMapper, Param};
    struct Jitter(f64);
    impl ModuleMapper for Jitter {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| {
                let noise = Tensor::<D>::random(t.shape(), Distribution::Normal(0.0, self.0), &t.device());
                t + noise
            })
        }
    }
    model.map(&mut Jitter(std))
}

#[test]
fn every_flow_layer_inverts_to_within_1e_4() {
    let d = cpu();
    // Vectors: ActNorm, 1×1 conv (LU), both coupling masks.
    let model = perturb(compile(&vector_flow(), &d).unwrap(), 0.3);
    let x = Value::F2(Tensor::random([64, 3], Distribution::Normal(0.0, 1.0), &d));
    let (z, _, back) = recipes::flow::round_trip(&model, x.clone()).unwrap();
    assert!(max_abs_diff(&x, &z) > 0.1, "the flow must change its input");
    let err = max_abs_diff(&x, &back);
    assert!(err < 1e-4, "vectors: x → z → x differs by {err}");
    // Images: the Glow preset (squeeze, ActNorm, 1×1 conv, channel couplings, squeeze).
    // Smaller noise: 64-channel convolutions with large random weights would shift by 10⁶.
    let model = perturb(compile(&preset("glow"), &d).unwrap(), 0.02);
    let x = Value::F4(Tensor::random([4, 1, 28, 28], Distribution::Uniform(-0.5, 0.5), &d));
    let (z, _, back) = recipes::flow::round_trip(&model, x.clone()).unwrap();
    assert_eq!(z.dims(), vec![4, 16, 7, 7]);
    assert!(max_abs_diff(&x.clone().reshape(&[4, 16, 7, 7]).unwrap(), &z) > 0.1);
    let err = max_abs_diff(&x, &back);
    assert!(err < 1e-4, "images: x → z → x differs by {err}");
}

#[test]
fn the_log_determinant_is_the_jacobians() {
    let d = cpu();
    let model = perturb(compile(&vector_flow(), &d).unwrap(), 0.3);
    let chain = model.flow_chain("latent").unwrap();
    let point = [0.3f32, -0.7, 1.1];
    let f = |p: [f32; 3]| -> Vec<f32> {
        let x = Value::F2(Tensor::from_data(TensorData::new(p.to_vec(), [1, 3]), &d));
        model.flow_forward(&chain, x).unwrap().0.to_f32s().unwrap()
    };
    // Central differences; the 3×3 determinant by cofactors.
    let h = 1e-2f32;
    let mut j = [[0f64; 3]; 3];
    for (col, _) in point.iter().enumerate() {
        let (mut up, mut down) = (point, point);
        up[col] += h;
        down[col] -= h;
        let (fu, fd) = (f(up), f(down));
        for row in 0..3 {
            j[row][col] = f64::from(fu[row] - fd[row]) / f64::from(2.0 * h);
        }
    }
    let det = j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1]) - j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0])
        + j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0]);
    let x = Value::F2(Tensor::from_data(TensorData::new(point.to_vec(), [1, 3]), &d));
    let (_, logdet) = model.flow_forward(&chain, x).unwrap();
    let logdet = f64::from(logdet.into_data().iter::<f32>().next().unwrap());
    assert!(
        (det.abs().ln() - logdet).abs() < 2e-2,
        "log|det J| by finite differences {} vs the flow's {logdet}",
        det.abs().ln()
    );
}

#[test]
fn the_one_by_one_convolution_starts_as_a_rotation() {
    use strata::engine::flow_init_rotation;
    for c in [1usize, 2, 4, 16] {
        let w = flow_init_rotation(c);
        for i in 0..c {
            for k in 0..c {
                let dot: f64 = (0..c).map(|m| w[i * c + m] * w[k * c + m]).sum();
                let want = if i == k { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-9, "c = {c}: W·Wᵀ[{i}][{k}] = {dot}");
            }
        }
    }
}

/// Trains a preset for `steps`, evaluating before and after: (val_nll before, after, recipe).
fn train(id: &str, steps: u64) -> (f64, f64, Box<dyn recipes::Recipe>) {
    let p = preset(id);
    assert!(shape::check(&p).is_valid(), "{:?}", shape::check(&p).diagnostics);
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    let before = run.evaluate(&cancel).unwrap().scalars["val_nll"];
    for _ in 0..steps {
        run.step(&mut StepCx::new(steps, &cancel)).unwrap().read();
    }
    let after = run.evaluate(&cancel).unwrap().scalars["val_nll"];
    (before, after, run)
}

#[test]
fn realnvp_learns_two_moons_and_samples_land_on_them() {
    let _serial = serial();
    let (before, after, mut run) = train("realnvp", 600);
    assert!(after < before - 0.2, "held-out NLL {before} → {after}");
    let views = run.views(&AtomicBool::new(false)).unwrap();
    let Some((_, View::Scatter(s))) = views.iter().find(|(c, _)| c == "samples") else {
        panic!("no samples scatter")
    };
    let pick = |g: u16| -> Vec<[f32; 2]> {
        s.points
            .iter()
            .zip(&s.group_of)
            .filter(|(_, k)| **k == g)
            .map(|(p, _)| *p)
            .collect()
    };
    let (data, drawn) = (pick(0), pick(1));
    assert_eq!(drawn.len(), 500);
    let nearest = |p: &[f32; 2]| {
        data.iter()
            .map(|q| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
            .fold(f32::MAX, f32::min)
    };
    let mean = drawn.iter().map(nearest).sum::<f32>() / drawn.len() as f32;
    assert!(mean < 0.12, "mean distance of a sample to the data: {mean}");
    assert!(
        views
            .iter()
            .any(|(c, v)| c == "latent" && matches!(v, View::Scatter(_)))
    );
}

#[test]
fn glow_improves_its_bits_per_dimension_on_mnist() {
    let _serial = serial();
    let (before, after, mut run) = train("glow", 40);
    assert!(after < before, "held-out NLL {before} → {after}");
    let eval = run.evaluate(&AtomicBool::new(false)).unwrap();
    let bpd = eval.scalars["val_bpd"];
    assert!(bpd > 0.0 && bpd < 8.0, "bits per dimension {bpd}");
    let views = run.views(&AtomicBool::new(false)).unwrap();
    let Some((_, View::Image(grid))) = views.iter().find(|(c, _)| c == "samples") else {
        panic!("no sample grid")
    };
    // 8×8 digits of 28 px with 2 px gaps.
    assert_eq!((grid.width, grid.height), (8 * 30 + 2, 8 * 30 + 2));
}

#[test]
fn a_flow_with_a_non_invertible_layer_is_named_on_the_graph() {
    let mut p = preset("realnvp");
    let coupling = p
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind == "affine_coupling")
        .nth(3)
        .unwrap()
        .id;
    let node = p.graph.node_mut(coupling).unwrap();
    node.kind = "linear".into();
    node.params.clear();
    node.params.insert("out_features".into(), 2.into());
    node.title = "mixer".into();
    let report = shape::check(&p);
    let diag = report
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error && d.node == Some(coupling))
        .unwrap_or_else(|| panic!("no diagnostic on the Linear: {:?}", report.diagnostics));
    assert!(
        diag.message.contains("'mixer' (Linear) has no inverse"),
        "{}",
        diag.message
    );
    assert!(diag.fix.as_ref().is_some_and(|f| f.label.contains("Affine coupling")));
    // The trainer refuses it with the same words, and nothing panics.
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("has no inverse"), "{err}");
    // A flow fed from noise instead of the data is named too.
    let mut p = preset("realnvp");
    let input = p.graph.nodes.iter().find(|n| n.kind == "input").unwrap().id;
    p.graph
        .node_mut(input)
        .unwrap()
        .params
        .insert("source".into(), "noise".into());
    assert!(
        shape::check(&p)
            .diagnostics
            .iter()
            .any(|d| d.node == Some(input) && d.message.contains("takes values from 'noise'")),
    );
}
