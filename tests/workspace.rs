//! The open document: unsaved-change tracking through edits, undo and saves; autosave and
//! recovery after a crash; recent files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use strata::doc::{Edit, Scope};
use strata::workspace::{Document, RECENT_MAX, RecentFiles, Recovery};

fn rename(d: &mut Document, name: &str) {
    d.apply(Edit::RenameProject { name: name.into() }).unwrap();
}

#[test]
fn unsaved_changes_follow_edits_undo_and_saves() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Document::new(small_mlp(), None);
    assert!(!d.is_dirty());
    rename(&mut d, "a");
    assert!(d.is_dirty());
    assert!(d.title().starts_with("* a"));
    d.undo().unwrap();
    assert!(!d.is_dirty(), "undoing back to the saved state is clean");
    d.redo().unwrap();
    assert!(d.is_dirty());
    assert!(d.save().is_err(), "no file yet: Save As is needed");
    let path = dir.path().join("m.strata");
    d.save_as(&path).unwrap();
    assert!(!d.is_dirty());
    assert_eq!(d.title(), "a (m.strata) — Strata");
    rename(&mut d, "b");
    d.undo().unwrap();
    assert!(!d.is_dirty());
    d.undo().unwrap();
    assert!(d.is_dirty(), "before the save is different from the saved file");
    // An edit after undo drops the redo branch; the saved revision is no longer reachable.
    rename(&mut d, "c");
    assert!(!d.can_redo());
    d.save().unwrap();
    let reopened = Document::open(&path).unwrap();
    assert_eq!(reopened.project.name, "c");
    assert!(!reopened.is_dirty());
    // Failed edits change nothing, not even the unsaved marker.
    let mut d = reopened;
    assert!(
        d.apply(Edit::RemoveNode {
            scope: Scope::Root,
            id: strata::doc::NodeId(999)
        })
        .is_err()
    );
    assert!(!d.is_dirty());
}

#[test]
fn autosave_and_recovery_after_a_crash() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let recovery = Recovery::new(data.path().join("recovery"));
    assert!(recovery.pending().is_none());
    let path = files.path().join("work.strata");
    let mut d = Document::new(preset("lenet5"), None);
    d.save_as(&path).unwrap();
    // Nothing unsaved: autosave writes nothing.
    recovery.autosave(&d).unwrap();
    assert!(recovery.pending().is_none());
    rename(&mut d, "unsaved work");
    recovery.autosave(&d).unwrap();
    // "Crash": the document is gone; the next start finds the work.
    drop(d);
    let (restored, info) = recovery.pending().unwrap().unwrap();
    assert_eq!(restored.project.name, "unsaved work");
    assert_eq!(info.original.as_deref(), Some(path.as_path()));
    assert!(restored.is_dirty(), "restored work is unsaved until saved");
    // The file on disk still holds the last save.
    assert_eq!(strata::open_project(&path).unwrap().name, "LeNet-5");
    recovery.clear().unwrap();
    assert!(recovery.pending().is_none());
    recovery.clear().unwrap();
}

#[test]
fn damaged_recovery_files_are_reported() {
    let data = tempfile::tempdir().unwrap();
    let recovery = Recovery::new(data.path());
    std::fs::write(data.path().join("recovery.strata"), "{ truncated").unwrap();
    let err = recovery.pending().unwrap().err().unwrap();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn recent_files_are_newest_first_without_duplicates() {
    let mut r = RecentFiles::default();
    for i in 0..15 {
        r.push(std::path::Path::new(&format!("/p/{i}.strata")));
    }
    r.push(std::path::Path::new("/p/12.strata"));
    assert_eq!(r.files.len(), RECENT_MAX);
    assert_eq!(r.files[0], std::path::Path::new("/p/12.strata"));
    assert_eq!(r.files[1], std::path::Path::new("/p/14.strata"));
    assert_eq!(r.files.iter().filter(|p| p.ends_with("12.strata")).count(), 1);
    r.prune();
    assert!(r.files.is_empty());
}

#[test]
fn a_dragged_value_is_one_undo_step() {
    use strata::doc::{Edit, ParamValue, Scope};
    let mut d = Document::new(common::preset("mlp"), None);
    let linear = d.project.graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    let set = |v: i64| Edit::SetParam {
        scope: Scope::Root,
        node: linear,
        name: "out_features".into(),
        value: Some(ParamValue::Int(v)),
    };
    let original = d
        .project
        .graph
        .node(linear)
        .unwrap()
        .params
        .get("out_features")
        .cloned();
    // One drag through 129, 130, 131.
    for v in 129..=131 {
        d.apply_merging(set(v), "drag".into()).unwrap();
    }
    d.end_merging();
    // A second drag is a step of its own.
    for v in 140..=142 {
        d.apply_merging(set(v), "drag".into()).unwrap();
    }
    let value = |d: &Document| {
        d.project
            .graph
            .node(linear)
            .unwrap()
            .params
            .get("out_features")
            .cloned()
    };
    assert_eq!(value(&d), Some(ParamValue::Int(142)));
    d.undo().unwrap();
    assert_eq!(value(&d), Some(ParamValue::Int(131)));
    d.undo().unwrap();
    assert_eq!(value(&d), original);
    assert!(!d.is_dirty());
    assert!(!d.can_undo());
    d.redo().unwrap();
    assert_eq!(value(&d), Some(ParamValue::Int(131)));
}
