//! Auto-layout time: the 1 000-node chain of the frame benchmark, a 1 000-node network of
//! residual blocks (skip wires, crossings to reduce) and every preset, each laid out the way the
//! app's Auto-layout does (sizes estimated from the catalog, resolutions from the shape check).
//!
//! `cargo bench --bench layout` — prints median and max per graph against the target (≤ 200 ms
//! for 1 000 nodes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/window.rs"]
mod window;

use std::time::{Duration, Instant};
use strata::catalog::GraphBuilder;
use strata::doc::{LayoutOptions, Project};
use window::big_graph;

/// `blocks` residual blocks (conv → relu → conv, plus the skip wire into an add), 4 nodes each.
fn residual_net(blocks: usize) -> Project {
    let mut g = GraphBuilder::new();
    let mut x = g.node("input", &[]);
    for _ in 0..blocks {
        let a = g.then(x, "linear", &[]);
        let b = g.then(a, "relu", &[]);
        let c = g.then(b, "linear", &[]);
        let add = g.node("add", &[]);
        g.wire(c, "y", add, "x0");
        g.wire(x, "y", add, "x1");
        x = add;
    }
    let mut p = Project::new("residual");
    p.graph = g.graph().clone();
    p
}

fn time(name: &str, p: &Project, runs: usize, target: &str) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let mut q = p.clone();
            let t = Instant::now();
            strata::shape::layout_project(&mut q, &LayoutOptions::default());
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name} ({} nodes): median {:.1} ms, max {:.1} ms over {runs} runs (target {target})",
        p.graph.nodes.len(),
        ms(times[runs / 2]),
        ms(times[runs - 1])
    );
}

fn main() {
    time("chain", &big_graph(1000), 11, "≤ 200 ms");
    time("residual blocks", &residual_net(250), 11, "≤ 200 ms");
    for id in strata::presets::ids() {
        let p = strata::presets::load(id).unwrap().unwrap();
        time(&format!("preset {id}"), &p, 5, "—");
    }
}
