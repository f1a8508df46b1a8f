//! Shape checking speed: a 10 000-node graph must check in ≤ 5 ms (target from the foundation
//! issue), with the largest presets alongside for scale.
//!
//! Run: `cargo bench --no-default-features --bench shape_check`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use strata::catalog::GraphBuilder;
use strata::doc::{ParamValue, Project};
use strata::shape;

/// 2 000 residual units (Linear, ReLU, LayerNorm, Dropout, Add) = 10 000 nodes + input/output.
fn big_graph(units: usize) -> Project {
    let mut g = GraphBuilder::new();
    let mut h = g.node(
        "input",
        &[("shape", ParamValue::List(vec!["B".into(), "T".into(), 64.into()]))],
    );
    for _ in 0..units {
        let l = g.then(h, "linear", &[("out_features", 64.into())]);
        let r = g.then(l, "relu", &[]);
        let n = g.then(r, "layer_norm", &[]);
        let d = g.then(n, "dropout", &[("p", 0.1.into())]);
        let a = g.node("add", &[]);
        g.wire(h, "y", a, "x0");
        g.wire(d, "y", a, "x1");
        h = a;
    }
    g.then(h, "output", &[]);
    let mut p = Project::new("big");
    p.graph = g.graph().clone();
    p
}

fn bench(c: &mut Criterion) {
    let p = big_graph(2000);
    assert_eq!(p.graph.nodes.len(), 10_002);
    let r = shape::check(&p);
    assert!(r.is_valid(), "{:?}", &r.diagnostics[..r.diagnostics.len().min(3)]);
    c.bench_function("check 10k-node graph", |b| b.iter(|| shape::check(black_box(&p))));
    for id in ["resnet18", "bert_base", "googlenet", "efficientnet_b0"] {
        let Some(Ok(p)) = strata::presets::load(id) else {
            continue;
        };
        c.bench_function(&format!("check preset {id}"), |b| {
            b.iter(|| shape::check(black_box(&p)))
        });
    }
    let text = strata::presets::source("googlenet").unwrap_or_default();
    c.bench_function("parse preset googlenet (80 KB)", |b| {
        b.iter(|| strata::parse_project(black_box(text)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
