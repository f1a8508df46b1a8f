//! UI frame CPU time: the whole window (panels, canvas, inspector, plots) built and tessellated
//! headless, for a 1 000-node graph and while the `mlp` preset trains.
//!
//! `cargo bench --bench ui_frame` — prints median / p99 per scenario against the targets
//! (≤ 8 ms for the large graph, p99 ≤ 16 ms while training). The harness builds an AccessKit
//! tree every frame (the real window only does that for a screen reader), so these numbers are
//! an upper bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::time::{Duration, Instant};
use strata::app::StrataApp;
use strata::doc::{Edit, Node, Project, Scope, Wire};
use strata::workspace::Document;

fn big_graph(n: usize) -> Project {
    let mut p = Project::new("1000 nodes");
    let mut prev = None;
    for i in 0..n {
        let kind = if i == 0 {
            "input"
        } else if i % 2 == 1 {
            "linear"
        } else {
            "relu"
        };
        let mut node = strata::catalog::default_node(kind).unwrap_or_else(|| Node::new(kind));
        node.pos = [(i % 40) as f32 * 230.0, (i / 40) as f32 * 140.0];
        let (e, id) = Edit::add_node(&mut p, Scope::Root, node).unwrap();
        e.apply(&mut p).unwrap();
        if let Some(prev) = prev {
            Edit::AddWire {
                scope: Scope::Root,
                wire: Wire::new(prev, "y", id, "x"),
            }
            .apply(&mut p)
            .unwrap();
        }
        prev = Some(id);
    }
    p
}

/// Runs `frames` frames with the pointer moving over the canvas; returns sorted frame times.
fn measure(h: &mut Harness<'static, StrataApp>, frames: usize, mut between: impl FnMut()) -> Vec<Duration> {
    let mut times = Vec::with_capacity(frames);
    for f in 0..frames {
        let x = 400.0 + (f % 50) as f32 * 10.0;
        h.hover_at(egui::pos2(x, 300.0));
        let t = Instant::now();
        h.step();
        let out = h.output();
        let shapes = out.shapes.clone();
        let ppp = out.pixels_per_point;
        let _mesh = h.ctx.tessellate(shapes, ppp);
        times.push(t.elapsed());
        between();
    }
    times.sort();
    times
}

fn report(name: &str, times: &[Duration], target: &str) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |q: f64| ms(times[((times.len() as f64 * q) as usize).min(times.len() - 1)]);
    println!(
        "{name}: median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} frames (target {target})",
        p(0.5),
        p(0.9),
        p(0.99),
        ms(*times.last().unwrap()),
        times.len()
    );
}

fn main() {
    strata::engine::device::prefer_cpu_backend();
    // 1. A 1 000-node graph, everything in view (F: fit view), and zoomed in to a normal size.
    let doc = Document::new(big_graph(1000), None);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|_cc| StrataApp::new(Some(doc)));
    h.run_steps(5);
    h.hover_at(egui::pos2(700.0, 400.0));
    h.key_press(egui::Key::F);
    h.run_steps(3);
    let times = measure(&mut h, 200, || {});
    report("1000-node graph, whole graph in view", &times, "≤ 8 ms");
    let doc = Document::new(big_graph(1000), None);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|_cc| StrataApp::new(Some(doc)));
    h.run_steps(5);
    let times = measure(&mut h, 200, || {});
    report("1000-node graph, opened (readable zoom)", &times, "≤ 8 ms");

    // 2. While training the mlp preset on the trainer thread.
    let p = strata::presets::load("mlp").unwrap().unwrap();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1600.0, 1000.0))
        .build_eframe(|_cc| StrataApp::new(Some(Document::new(p, None))));
    h.run_steps(3);
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    let start = Instant::now();
    while h.state().dashboard().current().is_none_or(|r| r.step < 5) && start.elapsed() < Duration::from_secs(60) {
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.get_by_label("Training").click();
    h.run_steps(1);
    // Frames at ~60 Hz pacing while steps stream in.
    let times = measure(&mut h, 300, || std::thread::sleep(Duration::from_millis(16)));
    let steps = h.state().dashboard().current().map_or(0, |r| r.step);
    report(&format!("training mlp (reached step {steps})"), &times, "p99 ≤ 16 ms");
    h.get_by_label("■ Stop").click();
    h.run_steps(2);
}
