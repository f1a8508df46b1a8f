//! UI frame CPU time: the whole window (panels, canvas, inspector, plots) built and tessellated
//! headless in a plain egui context, for a 1 000-node graph (opened, fitted, panning) and while
//! LeNet-5 trains on the trainer thread.
//!
//! `cargo bench --bench ui_frame` — prints median / p90 / p99 per scenario against the targets
//! (≤ 8 ms for the large graph, p99 ≤ 16 ms while training). GPU upload and painting are not
//! included (they are the renderer's, not the CPU's).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/window.rs"]
mod window;

use std::time::{Duration, Instant};
use strata::app::StrataApp;
use strata::workspace::Document;
use window::{Window, big_graph};

/// Runs `frames` frames with the pointer moving over the canvas; returns sorted frame times.
fn measure(w: &mut Window, frames: usize, mut between: impl FnMut()) -> Vec<Duration> {
    let mut times = Vec::with_capacity(frames);
    for f in 0..frames {
        let x = 400.0 + (f % 50) as f32 * 10.0;
        times.push(w.frame(vec![egui::Event::PointerMoved(egui::pos2(x, 300.0))]));
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
    // 1. A 1 000-node graph as it opens (readable zoom), then all of it in view (F: fit view).
    let mut w = Window::new(StrataApp::new(Some(Document::new(big_graph(1000), None))));
    let times = measure(&mut w, 200, || {});
    report("1000-node graph, opened (readable zoom)", &times, "≤ 8 ms");
    w.frame(vec![egui::Event::PointerMoved(egui::pos2(700.0, 400.0))]);
    w.key(egui::Key::F);
    let times = measure(&mut w, 200, || {});
    report("1000-node graph, whole graph in view (overview)", &times, "≤ 8 ms");
    // Zoomed out to just above the overview threshold: the most widgets at once (~150–250 nodes).
    let mut w = Window::new(StrataApp::new(Some(Document::new(big_graph(1000), None))));
    w.frame(vec![egui::Event::PointerMoved(egui::pos2(700.0, 400.0))]);
    w.frame(vec![egui::Event::Zoom(0.53)]);
    for _ in 0..3 {
        w.frame(vec![]);
    }
    let times = measure(&mut w, 200, || {});
    report("1000-node graph, zoom 0.42 (most widgets)", &times, "≤ 8 ms");
    // Pan across the whole graph at readable zoom: nodes enter and leave the widget set.
    let mut w = Window::new(StrataApp::new(Some(Document::new(big_graph(1000), None))));
    let mut times = Vec::new();
    for f in 0..200 {
        let p = egui::pos2(600.0, 400.0);
        let ev = vec![egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(-40.0, if f % 40 < 20 { -8.0 } else { 8.0 }),
            modifiers: egui::Modifiers::NONE,
            phase: egui::TouchPhase::Move,
        }];
        w.frame(vec![egui::Event::PointerMoved(p)]);
        times.push(w.frame(ev));
    }
    times.sort();
    report("1000-node graph, panning", &times, "≤ 8 ms");

    // The same graph after auto-layout (top to bottom, folded into columns), as it opens and
    // with all of it in view.
    let mut big = big_graph(1000);
    let layout_started = Instant::now();
    strata::shape::layout_project(&mut big, &strata::doc::LayoutOptions::default());
    println!(
        "(auto-layout of the 1000-node graph: {:.0} ms)",
        layout_started.elapsed().as_secs_f64() * 1e3
    );
    let mut w = Window::new(StrataApp::new(Some(Document::new(big, None))));
    let times = measure(&mut w, 200, || {});
    report("1000-node graph after auto-layout, opened", &times, "≤ 8 ms");
    w.frame(vec![egui::Event::PointerMoved(egui::pos2(700.0, 400.0))]);
    w.key(egui::Key::F);
    let times = measure(&mut w, 200, || {});
    report(
        "1000-node graph after auto-layout, whole graph in view",
        &times,
        "≤ 8 ms",
    );

    // 2. While training LeNet-5 on the trainer thread (frames paced at 60 Hz).
    let p = strata::presets::load("lenet5").unwrap().unwrap();
    let mut w = Window::new(StrataApp::new(Some(Document::new(p, None))));
    let ctx = w.ctx.clone();
    w.app.train(&ctx);
    let start = Instant::now();
    while w.app.dashboard().current().is_none_or(|r| r.step < 5) && start.elapsed() < Duration::from_secs(120) {
        w.frame(vec![]);
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = w.app.dashboard().current().map_or(0, |r| r.step);
    let times = measure(&mut w, 300, || std::thread::sleep(Duration::from_millis(16)));
    let steps = w.app.dashboard().current().map_or(0, |r| r.step);
    report(
        &format!("training lenet5 (steps {first} → {steps} while measuring)"),
        &times,
        "p99 ≤ 16 ms",
    );
    w.app.dashboard_mut().stop();
}
