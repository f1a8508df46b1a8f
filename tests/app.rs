//! The window, driven like a user would: click the palette, undo, redo (egui_kittest, headless).

#![cfg(feature = "app")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use strata::app::StrataApp;
use strata::workspace::Document;

fn harness(id: &str) -> Harness<'static, StrataApp> {
    let doc = Document::new(common::preset(id), None);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(|_cc| StrataApp::new(Some(doc)));
    h.run_steps(4);
    h
}

#[test]
fn palette_click_adds_a_node_and_undo_redo_follow() {
    let mut h = harness("lenet5");
    let before = h.state().document().project.graph.nodes.len();
    h.get_by_label("Dropout").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.nodes.len(), before + 1);
    assert!(h.state().document().is_dirty());
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.nodes.len(), before);
    assert!(!h.state().document().is_dirty());
    h.get_by_label("Redo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.nodes.len(), before + 1);
}

#[test]
fn the_window_shows_the_project_and_its_check() {
    let h = harness("resnet18");
    h.get_by_label("✔ valid");
    assert_eq!(h.state().report().total_params, 11_689_512);
    // The palette lists the catalog by category.
    h.get_by_label("Convolution");
    h.get_by_label("Attention");
}

#[test]
fn auto_layout_is_one_undo_step() {
    let mut h = harness("mlp");
    h.get_by_label("Dropout").click();
    h.run_steps(3);
    let added = h
        .state()
        .document()
        .project
        .graph
        .nodes
        .iter()
        .map(|n| n.id)
        .max()
        .unwrap();
    let before = h.state().document().project.graph.node(added).unwrap().pos;
    h.get_by_label("Auto-layout").click();
    h.run_steps(3);
    let after = h.state().document().project.graph.node(added).unwrap().pos;
    assert_ne!(before, after);
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.node(added).unwrap().pos, before);
}
