//! Every edit has an exact inverse: apply → undo gives the document back, redo gives the edit back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use strata::doc::{
    DatasetBinding, Edit, EditError, History, Node, NodeId, Optimizer, ParamValue, Project, RecipeSettings, Scope,
    TrainingSettings, Wire,
};
use strata::shape;

/// Applies `edit` through a history, then checks undo restores `before` and redo restores `after`.
fn round_trip(p: &mut Project, edit: Edit) {
    let before = p.clone();
    let mut h = History::new();
    h.apply(p, edit).unwrap();
    let after = p.clone();
    assert_ne!(before, after, "the edit changed nothing");
    assert!(h.undo(p).unwrap());
    assert_same_document(&before, p);
    assert!(h.redo(p).unwrap());
    assert_same_document(&after, p);
    assert!(h.undo(p).unwrap());
    assert_same_document(&before, p);
}

/// Equal up to the id allocator (which only grows, so ids are never reused).
fn assert_same_document(a: &Project, b: &Project) {
    let strip = |p: &Project| {
        let mut p = p.clone();
        p.graph.next_id = 0;
        for b in &mut p.blocks {
            b.graph.next_id = 0;
        }
        p
    };
    assert_eq!(strip(a), strip(b));
}

fn find(p: &Project, kind: &str) -> NodeId {
    p.graph.nodes.iter().find(|n| n.kind == kind).unwrap().id
}

#[test]
fn add_and_remove_nodes() {
    let mut p = small_mlp();
    let (e, _) = Edit::add_node(&mut p, Scope::Root, Node::new("dropout").with("p", 0.2)).unwrap();
    round_trip(&mut p, e);
    // Removing a node removes its wires; undo restores both.
    let relu = find(&p, "relu");
    round_trip(
        &mut p,
        Edit::RemoveNode {
            scope: Scope::Root,
            id: relu,
        },
    );
    let before = p.clone();
    let inv = Edit::RemoveNode {
        scope: Scope::Root,
        id: relu,
    }
    .apply(&mut p)
    .unwrap();
    assert_eq!(p.graph.wires.len(), before.graph.wires.len() - 2);
    inv.apply(&mut p).unwrap();
    assert_eq!(p, before);
}

#[test]
fn add_and_remove_wires() {
    let mut p = small_mlp();
    let w = p.graph.wires[1].clone();
    round_trip(
        &mut p,
        Edit::RemoveWire {
            scope: Scope::Root,
            wire: w.clone(),
        },
    );
    Edit::RemoveWire {
        scope: Scope::Root,
        wire: w.clone(),
    }
    .apply(&mut p)
    .unwrap();
    round_trip(
        &mut p,
        Edit::AddWire {
            scope: Scope::Root,
            wire: w,
        },
    );
}

#[test]
fn set_param_move_rename_pin() {
    let mut p = small_mlp();
    let lin = find(&p, "linear");
    round_trip(
        &mut p,
        Edit::SetParam {
            scope: Scope::Root,
            node: lin,
            name: "out_features".into(),
            value: Some(64.into()),
        },
    );
    round_trip(
        &mut p,
        Edit::SetParam {
            scope: Scope::Root,
            node: lin,
            name: "bias".into(),
            value: Some(false.into()),
        },
    );
    round_trip(
        &mut p,
        Edit::SetParam {
            scope: Scope::Root,
            node: lin,
            name: "out_features".into(),
            value: None,
        },
    );
    round_trip(
        &mut p,
        Edit::Move {
            scope: Scope::Root,
            node: lin,
            pos: [12.5, -3.0],
        },
    );
    round_trip(
        &mut p,
        Edit::Rename {
            scope: Scope::Root,
            node: lin,
            title: "hidden".into(),
        },
    );
    round_trip(
        &mut p,
        Edit::SetPinned {
            scope: Scope::Root,
            node: lin,
            pinned: true,
        },
    );
}

#[test]
fn project_settings() {
    let mut p = small_mlp();
    round_trip(&mut p, Edit::RenameProject { name: "renamed".into() });
    round_trip(
        &mut p,
        Edit::SetRecipe(RecipeSettings {
            id: "autoencoder".into(),
            settings: Default::default(),
        }),
    );
    round_trip(
        &mut p,
        Edit::SetDataset(DatasetBinding {
            id: "iris".into(),
            options: Default::default(),
        }),
    );
    let t = TrainingSettings {
        optimizer: Optimizer::Sgd,
        learning_rate: 0.5,
        ..Default::default()
    };
    round_trip(&mut p, Edit::SetTraining(t));
}

#[test]
fn group_into_block_then_repeat_rename_and_ungroup_by_undo() {
    let mut p = small_mlp();
    let before_report = shape::check(&p);
    let lin = find(&p, "linear");
    let relu = find(&p, "relu");
    let group = Edit::group_into_block(&p, &Scope::Root, &[lin, relu], "hidden", "Hidden layer").unwrap();
    round_trip(&mut p, group.clone());
    let mut h = History::new();
    h.apply(&mut p, group).unwrap();
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(p.graph.nodes.len(), 4);
    let inst = p.graph.nodes.iter().find(|n| n.is_block()).unwrap().id;
    // Same shapes and parameter count as before grouping.
    let r = shape::check(&p);
    assert!(r.is_valid(), "{:?}", r.diagnostics);
    assert_eq!(r.total_params, before_report.total_params);
    // Repeat ×3: hidden 32 → 32 → 32 chains (the first copy sees 784 inputs, later copies 32).
    round_trip(
        &mut p,
        Edit::SetRepeat {
            scope: Scope::Root,
            node: inst,
            repeat: 3,
        },
    );
    h.apply(
        &mut p,
        Edit::SetRepeat {
            scope: Scope::Root,
            node: inst,
            repeat: 3,
        },
    )
    .unwrap();
    let r = shape::check(&p);
    assert_eq!(r.total_params, (784 * 32 + 32) + 2 * (32 * 32 + 32) + 32 * 10 + 10);
    round_trip(
        &mut p,
        Edit::RenameBlock {
            id: "hidden".into(),
            name: "Dense + ReLU".into(),
        },
    );
    // Edit inside the block: every instance changes.
    let inner_lin = p.blocks[0].graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    let scope = Scope::Block("hidden".into());
    round_trip(
        &mut p,
        Edit::SetParam {
            scope,
            node: inner_lin,
            name: "out_features".into(),
            value: Some(16.into()),
        },
    );
    // A block in use cannot be removed.
    assert!(matches!(
        Edit::RemoveBlock { id: "hidden".into() }.apply(&mut p.clone()),
        Err(EditError::BlockInUse(_, 1))
    ));
    // Undo all the way gives back the plain graph.
    while h.undo(&mut p).unwrap() {}
    assert_same_document(&small_mlp(), &p);
}

#[test]
fn add_and_remove_block_definitions() {
    let mut p = small_mlp();
    let def = strata::doc::BlockDef {
        id: "empty".into(),
        name: "Empty".into(),
        description: String::new(),
        graph: Default::default(),
    };
    round_trip(&mut p, Edit::AddBlock { def: def.clone() });
    Edit::AddBlock { def }.apply(&mut p).unwrap();
    round_trip(&mut p, Edit::RemoveBlock { id: "empty".into() });
}

#[test]
fn batch_is_one_undo_step_and_rolls_back_on_failure() {
    let mut p = small_mlp();
    let lin = find(&p, "linear");
    let batch = Edit::Batch(vec![
        Edit::Move {
            scope: Scope::Root,
            node: lin,
            pos: [1.0, 2.0],
        },
        Edit::Rename {
            scope: Scope::Root,
            node: lin,
            title: "a".into(),
        },
    ]);
    round_trip(&mut p, batch);
    let before = p.clone();
    let failing = Edit::Batch(vec![
        Edit::Move {
            scope: Scope::Root,
            node: lin,
            pos: [1.0, 2.0],
        },
        Edit::Rename {
            scope: Scope::Root,
            node: NodeId(999),
            title: "x".into(),
        },
    ]);
    assert_eq!(failing.apply(&mut p), Err(EditError::NoNode(NodeId(999))));
    assert_eq!(p, before, "a failed batch must leave the project unchanged");
}

#[test]
fn invalid_edits_are_errors_not_panics() {
    let mut p = small_mlp();
    let lin = find(&p, "linear");
    let before = p.clone();
    let bad = [
        Edit::RemoveNode {
            scope: Scope::Root,
            id: NodeId(12345),
        },
        Edit::AddWire {
            scope: Scope::Root,
            wire: Wire::new(lin, "y", lin, "x"),
        },
        Edit::AddWire {
            scope: Scope::Root,
            wire: Wire::new(NodeId(77), "y", lin, "x"),
        },
        Edit::AddWire {
            scope: Scope::Root,
            wire: p.graph.wires[0].clone(),
        },
        Edit::RemoveWire {
            scope: Scope::Root,
            wire: Wire::new(lin, "nope", lin, "x"),
        },
        Edit::SetRepeat {
            scope: Scope::Root,
            node: lin,
            repeat: 2,
        },
        Edit::Move {
            scope: Scope::Root,
            node: lin,
            pos: [f32::NAN, 0.0],
        },
        Edit::Move {
            scope: Scope::Block("missing".into()),
            node: lin,
            pos: [0.0, 0.0],
        },
        Edit::RemoveBlock { id: "missing".into() },
        Edit::AddNode {
            scope: Scope::Root,
            node: {
                let mut n = Node::new("relu");
                n.id = lin;
                n
            },
        },
    ];
    for e in bad {
        assert!(e.clone().apply(&mut p).is_err(), "{e:?} should fail");
        assert_eq!(p, before, "{e:?} changed the project although it failed");
    }
    assert!(Edit::group_into_block(&p, &Scope::Root, &[], "b", "B").is_err());
    assert!(Edit::group_into_block(&p, &Scope::Root, &[NodeId(4242)], "b", "B").is_err());
}

#[test]
fn undo_with_nothing_to_undo_is_harmless() {
    let mut p = small_mlp();
    let mut h = History::new();
    assert!(!h.undo(&mut p).unwrap());
    assert!(!h.redo(&mut p).unwrap());
    assert!(!h.can_undo() && !h.can_redo());
    let v: ParamValue = 3.into();
    assert_eq!(v, ParamValue::Int(3));
}

#[test]
fn undo_redo_cycles_keep_the_history_the_same_size() {
    // Deleting many wired nodes at once, undone and redone many times: each inverse must stay the
    // size of the first one (inverses used to nest one batch deeper per cycle: memory grew
    // without bound and deep nesting risked the stack).
    let mut p = Project::new("chain");
    let mut prev = None;
    for i in 0..200 {
        let kind = if i == 0 { "input" } else { "relu" };
        let node = strata::catalog::default_node(kind).unwrap();
        let (e, id) = Edit::add_node(&mut p, Scope::Root, node).unwrap();
        e.apply(&mut p).unwrap();
        if let Some(prev) = prev {
            Edit::AddWire {
                scope: Scope::Root,
                wire: strata::doc::Wire::new(prev, "y", id, "x"),
            }
            .apply(&mut p)
            .unwrap();
        }
        prev = Some(id);
    }
    let original = p.clone();
    let ids: Vec<NodeId> = p.graph.nodes.iter().map(|n| n.id).step_by(2).collect();
    let delete = Edit::Batch(
        ids.into_iter()
            .map(|id| Edit::RemoveNode { scope: Scope::Root, id })
            .collect(),
    );
    let deleted_once = {
        let mut q = p.clone();
        delete.clone().apply(&mut q).unwrap();
        q
    };
    let mut undo = delete.apply(&mut p).unwrap();
    let mut sizes = Vec::new();
    for _ in 0..100 {
        let redo = undo.apply(&mut p).unwrap();
        assert_same_document(&p, &original);
        undo = redo.apply(&mut p).unwrap();
        assert_same_document(&p, &deleted_once);
        sizes.push(serde_json::to_string(&undo).unwrap().len());
    }
    assert!(
        sizes.iter().all(|&s| s == sizes[1]),
        "the inverse grows: {:?} … {:?}",
        &sizes[..3],
        &sizes[97..]
    );
}
