//! The project document and file format: round trips, migrations, unknown kinds, atomic saves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use strata::doc::{self, CURRENT_FORMAT_VERSION, LoadError};
use strata::shape::{self, Severity};

#[test]
fn every_preset_saves_and_reopens_equal() {
    let dir = tempfile::tempdir().unwrap();
    for id in strata::presets::ids() {
        let p = preset(id);
        let path = dir.path().join(format!("{id}.strata"));
        doc::save_file(&p, &path).unwrap();
        let back = strata::open_project(&path).unwrap();
        assert_eq!(p, back, "preset {id} changed through save → open");
        // Saving again writes the very same bytes (stable, diffable files).
        let again = doc::to_json_string(&back);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            again,
            "preset {id} is not byte-stable"
        );
        // The embedded file is exactly what Strata writes.
        assert_eq!(
            strata::presets::source(id).unwrap(),
            again,
            "presets/{id}.strata is not in canonical form"
        );
    }
}

#[test]
fn all_required_presets_exist_and_are_valid() {
    for id in REQUIRED_PRESETS {
        let p = preset(id);
        let info = p.preset.as_ref().expect("preset info");
        assert_eq!(info.id, *id);
        assert!(!info.archetype.is_empty() && !info.family.is_empty() && !info.paper.is_empty());
        assert!(strata::catalog::recipe(&p.recipe.id).is_some(), "{id}: unknown recipe");
        let r = shape::check(&p);
        assert!(r.is_valid(), "{id}: {:?}", r.diagnostics);
        assert!(r.diagnostics.is_empty(), "{id}: {:?}", r.diagnostics);
    }
}

#[test]
fn version_1_files_migrate() {
    let text = include_str!("fixtures/v1_mlp.strata");
    let p = strata::parse_project(text).unwrap();
    assert_eq!(p.format_version, CURRENT_FORMAT_VERSION);
    assert_eq!(p.name, "Old MLP");
    assert_eq!(p.dataset.id, "mnist_5k");
    assert_eq!(p.training.learning_rate, 0.01);
    assert_eq!(p.training.batch_size, 32);
    assert_eq!(p.graph.nodes.len(), 5);
    assert_eq!(p.graph.wires.len(), 4);
    assert_eq!(p.graph.nodes[0].title, "pixels");
    assert_eq!(p.graph.nodes[1].pos, [200.0, 0.0]);
    let r = shape::check(&p);
    assert!(r.is_valid(), "{:?}", r.diagnostics);
    assert_eq!(r.total_params, 784 * 32 + 32 + 32 * 10 + 10);
    // Saved again, it is a current-version file.
    let text2 = doc::to_json_string(&p);
    assert!(text2.contains(&format!("\"format_version\": {CURRENT_FORMAT_VERSION}")));
    assert_eq!(strata::parse_project(&text2).unwrap(), p);
}

#[test]
fn bad_version_1_links_name_the_place() {
    let text = include_str!("fixtures/v1_mlp.strata").replace("\"2.y->3.x\"", "\"2.y=>3.x\"");
    let err = strata::parse_project(&text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("links[2]:"), "{msg}");
}

#[test]
fn newer_files_are_refused_with_a_clear_message() {
    let text = doc::to_json_string(&small_mlp()).replace(
        &format!("\"format_version\": {CURRENT_FORMAT_VERSION}"),
        "\"format_version\": 99",
    );
    let err = strata::parse_project(&text).unwrap_err();
    assert!(matches!(err, LoadError::TooNew { found: 99, .. }));
    assert!(err.to_string().contains("update Strata"));
}

#[test]
fn unknown_kinds_are_kept_through_save_and_load() {
    let mut p = small_mlp();
    let mut n = doc::Node::new("quantum_layer")
        .with("qubits", 7)
        .with("mystery", "keep me");
    n.pos = [10.0, 20.0];
    let id = p.graph.add(n);
    let relu = p.graph.nodes.iter().find(|n| n.kind == "relu").unwrap().id;
    p.graph.add_wire(doc::Wire::new(relu, "y", id, "psi"));
    let text = doc::to_json_string(&p);
    let back = strata::parse_project(&text).unwrap();
    assert_eq!(back, p);
    let kept = back.graph.node(id).unwrap();
    assert_eq!(kept.kind, "quantum_layer");
    assert_eq!(kept.params["mystery"], "keep me".into());
    assert_eq!(back.graph.wires_into(id).count(), 1);
    // The checker warns, it does not fail the rest of the graph.
    let r = shape::check(&back);
    let warn: Vec<_> = r.diagnostics_for(id).collect();
    assert_eq!(warn.len(), 1);
    assert_eq!(warn[0].severity, Severity::Warning);
    assert!(warn[0].message.contains("unknown layer kind 'quantum_layer'"));
    assert!(r.is_valid(), "{:?}", r.diagnostics);
}

#[test]
fn saving_is_atomic_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.strata");
    let p = preset("resnet18");
    doc::save_file(&p, &path).unwrap();
    doc::save_file(&small_mlp(), &path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "left behind: {names:?}");
    assert_eq!(strata::open_project(&path).unwrap(), small_mlp());
    // A save that cannot happen (the target is a folder) keeps everything as it was.
    let folder = dir.path().join("folder.strata");
    std::fs::create_dir(&folder).unwrap();
    assert!(doc::save_file(&p, &folder).is_err());
    assert!(folder.is_dir());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn node_ids_are_never_reused() {
    let mut p = small_mlp();
    let last = p.graph.nodes.last().unwrap().id;
    p.graph.remove_node(last);
    let fresh = p.graph.add(doc::Node::new("relu"));
    assert!(fresh.0 > last.0);
    // Also across a save/load.
    let back = strata::parse_project(&doc::to_json_string(&p)).unwrap();
    let mut back = back;
    let id = back.graph.add(doc::Node::new("relu"));
    assert!(id.0 > fresh.0);
}

#[test]
fn layout_places_layers_top_to_bottom_and_keeps_pinned_nodes() {
    let mut p = small_mlp();
    let pinned = p.graph.nodes[2].id;
    p.graph.node_mut(pinned).unwrap().pinned = true;
    p.graph.node_mut(pinned).unwrap().pos = [-500.0, 999.0];
    for (id, pos) in doc::layered_layout(&p.graph) {
        p.graph.node_mut(id).unwrap().pos = pos;
    }
    assert_eq!(p.graph.node(pinned).unwrap().pos, [-500.0, 999.0]);
    let ys: Vec<f32> = p.graph.nodes.iter().filter(|n| !n.pinned).map(|n| n.pos[1]).collect();
    assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
}
