//! Auto-layout: every preset opens fitted and legible, a U-Net reads as a U, long chains fold,
//! pinned nodes stay (egui_kittest for the window, the pure layout for the rest).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use strata::doc::{Direction, LayoutOptions, auto_layout};
use strata::presets;

/// Every preset with at most 40 top-level nodes opens at a 1280×800 window with the whole
/// graph in view at zoom ≥ 0.6 (titles legible).
#[cfg(feature = "app")]
#[test]
fn every_preset_opens_fitted_and_legible_at_1280_by_800() {
    use egui_kittest::Harness;
    use strata::app::StrataApp;
    use strata::workspace::Document;
    let mut report = Vec::new();
    for id in presets::ids() {
        let project = common::preset(id);
        let nodes = project.graph.nodes.len();
        let doc = Document::new(project.clone(), None);
        let mut h = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(|_cc| StrataApp::new(Some(doc)));
        h.run_steps(4);
        let zoom = h.state().canvas_zoom();
        let view = h.state().canvas_view();
        let all_in_view = project
            .graph
            .nodes
            .iter()
            .all(|n| view.contains(egui::pos2(n.pos[0] + 20.0, n.pos[1] + 20.0)));
        report.push(format!(
            "{:<16} {nodes:>3} nodes  zoom {zoom:.2}  all in view {all_in_view}",
            id
        ));
    }
    println!("{}", report.join("\n"));
    for line in &report {
        let nodes: usize = line[17..20].trim().parse().unwrap();
        if nodes <= 40 {
            assert!(line.contains("all in view true"), "{line}");
            let zoom: f32 = line.split("zoom ").nth(1).unwrap()[..4].parse().unwrap();
            assert!(zoom >= 0.6, "{line}");
        }
    }
}

/// The preset U-Net as auto-layout draws it: every skip wire joins a node on the left half to a
/// node on the right half at the same height, deeper levels lower (a U, not a line).
#[test]
fn a_u_net_is_drawn_as_a_u() {
    for id in ["unet", "unet_shapes"] {
        let mut p = common::preset(id);
        strata::shape::layout_project(&mut p, &LayoutOptions::default());
        let g = &p.graph;
        let report = strata::shape::check(&p);
        let xs: Vec<f32> = g.nodes.iter().map(|n| n.pos[0]).collect();
        let mid = (xs.iter().copied().fold(f32::INFINITY, f32::min)
            + xs.iter().copied().fold(f32::NEG_INFINITY, f32::max))
            / 2.0;
        // Skip wires: from the contracting half to the expanding half, many steps apart.
        let (order, _) = g.topological_order();
        let mut rank = vec![0usize; g.nodes.len()];
        for (k, &i) in order.iter().enumerate() {
            rank[i] = k;
        }
        let at = |id| rank[g.nodes.iter().position(|n| n.id == id).unwrap()];
        let mut skips: Vec<(f32, f32)> = Vec::new();
        for w in &g.wires {
            let (a, b) = (g.node(w.from).unwrap(), g.node(w.to).unwrap());
            if let Some(ra) = strata::shape::resolution(&report, a.id)
                && a.pos[0] < mid
                && b.pos[0] > mid
                && at(b.id) >= at(a.id) + 4
            {
                assert!(
                    (a.pos[1] - b.pos[1]).abs() < 120.0,
                    "{id}: skip {} → {} not level",
                    a.title,
                    b.title
                );
                skips.push((a.pos[1], ra as f32));
            }
        }
        assert!(skips.len() >= 2, "{id}: {} skip wires cross the middle", skips.len());
        skips.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            skips.windows(2).all(|w| w[0].1 > w[1].1),
            "{id}: deeper levels are not lower: {skips:?}"
        );
    }
}

/// A long chain folds into columns that fit a landscape view; a pinned node stays put.
#[test]
fn a_long_chain_folds_and_pinned_nodes_stay() {
    let mut g = strata::catalog::GraphBuilder::new();
    let mut prev = g.node("input", &[]);
    for _ in 0..29 {
        prev = g.then(prev, "relu", &[]);
    }
    let mut graph = g.graph().clone();
    let opts = LayoutOptions::default();
    let moves = auto_layout(&graph, &opts, &|_| [120.0, 60.0], &|_| None);
    for (id, pos) in &moves {
        graph.node_mut(*id).unwrap().pos = *pos;
    }
    let (w, h) = bounds(&graph);
    assert!(w > h * 0.8, "a 30-node chain stays one tall column: {w}×{h}");
    let zoom = (opts.view[0] / w).min(opts.view[1] / h);
    assert!(zoom >= 0.6, "fits at {zoom}");
    // Top to bottom: each node is below its predecessor unless a fold starts a new column.
    let mut folds = 0;
    for wire in &graph.wires {
        let (a, b) = (graph.node(wire.from).unwrap(), graph.node(wire.to).unwrap());
        if b.pos[1] <= a.pos[1] {
            folds += 1;
            assert!(b.pos[0] > a.pos[0], "a new column starts to the right");
        }
    }
    assert!((1..=5).contains(&folds), "{folds} folds");
    // Pin one node somewhere else: it stays, the rest is laid out around it.
    let pinned = graph.nodes[7].id;
    graph.node_mut(pinned).unwrap().pinned = true;
    graph.node_mut(pinned).unwrap().pos = [5000.0, 5000.0];
    let moves = auto_layout(&graph, &opts, &|_| [120.0, 60.0], &|_| None);
    assert!(moves.iter().all(|(id, _)| *id != pinned));
    assert!(!moves.is_empty());
    // Left to right: the first fold is a row below.
    let opts = LayoutOptions {
        direction: Direction::LeftToRight,
        ..opts
    };
    let mut graph2 = g.graph().clone();
    for (id, pos) in auto_layout(&graph2, &opts, &|_| [120.0, 60.0], &|_| None) {
        graph2.node_mut(id).unwrap().pos = pos;
    }
    let first = graph2.nodes[0].pos;
    let second = graph2.nodes[1].pos;
    assert!(
        second[0] > first[0] && (second[1] - first[1]).abs() < 1.0,
        "left to right: {first:?} {second:?}"
    );
}

fn bounds(g: &strata::doc::Graph) -> (f32, f32) {
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for n in &g.nodes {
        lo = [lo[0].min(n.pos[0]), lo[1].min(n.pos[1])];
        hi[0] = hi[0].max(n.pos[0] + 120.0);
        hi[1] = hi[1].max(n.pos[1] + 60.0);
    }
    (hi[0] - lo[0], hi[1] - lo[1])
}

/// After auto-layout in the window, no two drawn nodes overlap (sizes as drawn, not estimated).
#[cfg(feature = "app")]
#[test]
fn nodes_laid_out_in_the_window_do_not_overlap() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use strata::app::StrataApp;
    use strata::workspace::Document;
    for id in ["unet", "dit", "lenet5", "googlenet", "vae"] {
        let project = common::preset(id);
        let doc = Document::new(project.clone(), None);
        let mut h = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(|_cc| StrataApp::new(Some(doc)));
        h.run_steps(3);
        h.get_by_label("Auto-layout").click();
        h.run_steps(4);
        let g = &h.state().document().project.graph;
        let rects: Vec<egui::Rect> = g
            .nodes
            .iter()
            .map(|n| {
                egui::Rect::from_min_size(
                    egui::pos2(n.pos[0], n.pos[1]),
                    h.state().node_size(n.id).unwrap().into(),
                )
            })
            .collect();
        for i in 0..rects.len() {
            for j in i + 1..rects.len() {
                assert!(
                    !rects[i].shrink(1.0).intersects(rects[j].shrink(1.0)),
                    "{id}: {} and {} overlap",
                    g.nodes[i].title,
                    g.nodes[j].title
                );
            }
        }
        assert!(
            h.state().canvas_zoom() >= 0.6,
            "{id} after auto-layout: zoom {}",
            h.state().canvas_zoom()
        );
    }
}
