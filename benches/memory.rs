//! Memory over long sessions: resident set size (RSS, from /proc/self/status) at the start, its
//! peak and at the end of
//!
//! 1. a long training run in the app — the whole window built every frame (plots, sparklines,
//!    Samples tab) while a preset trains on the trainer thread with evaluations and sample
//!    pictures (default: `mlp`, 200 000 steps);
//! 2. 1 000 undo/redo cycles of a large edit (deleting 5 000 nodes of a 10 000-node graph at once).
//!
//! `cargo bench --bench memory` (Linux). Options after `--`: `--preset ID`, `--steps N`,
//! `--only train|undo`, `--cycles N`. Prints one line per sample and a summary per scenario.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/window.rs"]
mod window;

use std::time::{Duration, Instant};
use strata::app::{StrataApp, Tab};
use strata::doc::{Edit, Scope};
use strata::workspace::Document;
use window::{Window, big_graph};

/// (current, peak) resident set size in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn train(preset: &str, steps: u64) {
    let p = strata::presets::load(preset).unwrap().unwrap();
    let mut w = Window::new(StrataApp::new(Some(Document::new(p, None))));
    let ctx = w.ctx.clone();
    let (start, _) = rss();
    println!("train {preset} for {steps} steps: RSS at start {start:.0} MiB");
    w.app.dashboard_mut().steps = steps;
    w.app.train(&ctx);
    let began = Instant::now();
    let mut last_print = Instant::now();
    let mut frames = 0u64;
    let mut peak_during = start;
    loop {
        // Alternate the bottom tab so both the plots and the Samples tab are drawn.
        w.app.dashboard_mut().tab = if (frames / 300).is_multiple_of(2) {
            Tab::Training
        } else {
            Tab::Samples
        };
        w.frame(vec![]);
        frames += 1;
        std::thread::sleep(Duration::from_millis(16));
        let (now, _) = rss();
        peak_during = peak_during.max(now);
        let d = w.app.dashboard();
        let step = d.current().map_or(0, |r| r.step);
        if last_print.elapsed() > Duration::from_secs(20) {
            let points: usize = d.current().map_or(0, |r| r.series.values().map(Vec::len).sum());
            println!(
                "  {:>5.0} s  step {step:>7}  RSS {now:>6.0} MiB  curve points {points}  views kept {}",
                began.elapsed().as_secs_f64(),
                d.samples.len()
            );
            last_print = Instant::now();
        }
        if !d.busy() && d.current().is_some_and(|r| r.outcome.is_some()) {
            break;
        }
    }
    for _ in 0..10 {
        w.frame(vec![]);
    }
    let (end, hwm) = rss();
    let d = w.app.dashboard();
    let run = d.current().unwrap();
    let points: usize = run.series.values().map(Vec::len).sum();
    println!(
        "train {preset}: {} ({} s, {frames} frames); RSS start {start:.0} MiB, peak {peak_during:.0} MiB \
         (process high-water mark {hwm:.0} MiB), end {end:.0} MiB; {points} curve points over {} series, {} views kept",
        run.outcome.as_deref().unwrap_or("?"),
        began.elapsed().as_secs(),
        run.series.len(),
        d.samples.len()
    );
}

fn undo_redo(cycles: usize) {
    let mut doc = Document::new(big_graph(10_000), None);
    let (start, _) = rss();
    // One edit removing every other node (5 000 nodes and their wires).
    let ids: Vec<_> = doc.project.graph.nodes.iter().map(|n| n.id).step_by(2).collect();
    let edits: Vec<Edit> = ids
        .iter()
        .map(|&id| Edit::RemoveNode { scope: Scope::Root, id })
        .collect();
    doc.apply(Edit::Batch(edits)).unwrap();
    let (after_edit, _) = rss();
    let began = Instant::now();
    let mut peak = after_edit;
    for c in 0..cycles {
        assert!(doc.undo().unwrap());
        assert!(doc.redo().unwrap());
        if c % 50 == 0 {
            peak = peak.max(rss().0);
        }
    }
    let (end, hwm) = rss();
    println!(
        "undo/redo: {cycles} cycles of a 5 000-node delete in a 10 000-node graph in {:.1} s; RSS start {start:.0} MiB, \
         after the edit {after_edit:.0} MiB, peak {peak:.0} MiB (high-water mark {hwm:.0} MiB), end {end:.0} MiB",
        began.elapsed().as_secs_f64()
    );
}

fn main() {
    strata::engine::device::prefer_cpu_backend();
    let only = arg("--only");
    if only.as_deref() != Some("train") {
        undo_redo(arg("--cycles").and_then(|s| s.parse().ok()).unwrap_or(1000));
    }
    if only.as_deref() != Some("undo") {
        let preset = arg("--preset").unwrap_or_else(|| "mlp".into());
        let steps = arg("--steps").and_then(|s| s.parse().ok()).unwrap_or(200_000);
        train(&preset, steps);
    }
}
