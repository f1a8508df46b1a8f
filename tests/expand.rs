//! Block expansion: the flat graph the engine compiles computes the same shapes and counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::collections::HashSet;
use strata::shape;

#[test]
fn every_preset_expands_to_an_equivalent_flat_graph() {
    for id in strata::presets::ids() {
        let p = preset(id);
        let before = shape::check(&p);
        let flat = shape::expand(&p).unwrap();
        // Only blocks run inside layers (block experts) stay; instances are gone.
        let inside: Vec<&str> = flat
            .project
            .graph
            .nodes
            .iter()
            .filter_map(|n| n.params.get("expert").and_then(|v| v.as_text()))
            .filter(|id| !id.is_empty())
            .collect();
        assert!(
            flat.project.blocks.iter().all(|b| inside.contains(&b.id.as_str())),
            "{id}"
        );
        assert!(
            flat.project
                .graph
                .nodes
                .iter()
                .all(|n| !n.is_block() && !n.kind.starts_with("port_")),
            "{id}"
        );
        let after = shape::check(&flat.project);
        assert!(
            after.is_valid(),
            "{id}: {:?}",
            &after.diagnostics[..after.diagnostics.len().min(3)]
        );
        assert_eq!(after.total_params, before.total_params, "{id}");
        assert_eq!(after.total_macs, before.total_macs, "{id}");
        // Every flat node has a unique origin key (used for per-node checkpoints).
        let keys: HashSet<String> = flat.origins.values().map(|o| o.key()).collect();
        assert_eq!(keys.len(), flat.project.graph.nodes.len(), "{id}");
    }
}

#[test]
fn origins_name_instance_copy_and_inner_node() {
    let p = preset("bert_base");
    let flat = shape::expand(&p).unwrap();
    let inst = p.graph.nodes.iter().find(|n| n.is_block()).unwrap().id;
    let in_copy_11: Vec<_> = flat
        .origins
        .values()
        .filter(|o| o.top == inst && o.path.first() == Some(&11))
        .collect();
    let layer = p.block("bert_layer").unwrap();
    let plain = layer
        .graph
        .nodes
        .iter()
        .filter(|n| !n.kind.starts_with("port_"))
        .count();
    assert_eq!(in_copy_11.len(), plain);
    assert!(
        in_copy_11
            .iter()
            .all(|o| o.key().starts_with(&format!("{}/11/", inst.0)))
    );
    // 12 copies in all.
    assert_eq!(flat.origins.values().filter(|o| o.top == inst).count(), 12 * plain);
}
