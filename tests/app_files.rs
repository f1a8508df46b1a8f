//! The window's file handling, driven like a user would (egui_kittest, headless): dropping a
//! project on the window, the unsaved-changes question, autosave and restore after a crash,
//! preferences kept between sessions, and snapshots of the main window.

#![cfg(feature = "app")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use strata::app::{Prefs, StrataApp};
use strata::doc::Scope;
use strata::workspace::{Document, Recovery};

fn harness(app: StrataApp) -> Harness<'static, StrataApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |_cc| app);
    h.run_steps(4);
    h
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Clicks "Dropout" in the palette (the left panel; the canvas may show a node of that name too).
fn add_dropout(h: &mut Harness<'static, StrataApp>) {
    h.query_all_by_label("Dropout")
        .find(|n| n.rect().center().x < 210.0)
        .expect("palette entry")
        .click();
    h.run_steps(3);
}

#[test]
fn dropping_a_project_file_on_the_window_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lenet.strata");
    strata::doc::save_file(&common::preset("lenet5"), &file).unwrap();
    let mut h = harness(StrataApp::new(Some(Document::new(common::preset("mlp"), None))));
    h.input_mut().dropped_files.push(Arc::new(Dropped(file.clone())));
    h.run_steps(3);
    assert_eq!(h.state().document().project.name, "LeNet-5");
    assert_eq!(h.state().document().path.as_deref(), Some(file.as_path()));
    assert_eq!(h.state().prefs().recent.files.first(), Some(&file), "recent files");
    // A broken file is reported and the open project stays.
    let broken = dir.path().join("broken.strata");
    std::fs::write(&broken, "{ not json").unwrap();
    h.input_mut().dropped_files.push(Arc::new(Dropped(broken)));
    h.run_steps(3);
    assert_eq!(h.state().document().project.name, "LeNet-5");
    assert!(h.state().status().contains("broken.strata"), "{}", h.state().status());
}

#[test]
fn unsaved_changes_are_asked_about_before_they_are_discarded() {
    let mut h = harness(StrataApp::new(Some(Document::new(common::preset("mlp"), None))));
    add_dropout(&mut h);
    assert!(h.state().document().is_dirty());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.run_steps(3);
    h.get_by_label("Unsaved changes");
    h.get_by_label("Cancel").click();
    h.run_steps(3);
    assert_eq!(
        h.state().document().project.name,
        "MLP on MNIST",
        "cancel keeps the work"
    );
    assert!(h.state().pending_confirmation().is_none());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.run_steps(3);
    h.get_by_label("Discard changes").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.name, "Untitled");
    assert!(h.state().document().project.graph.nodes.is_empty());
}

#[test]
fn save_as_then_save_writes_the_file_and_clears_the_unsaved_marker() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine");
    let mut h = harness(StrataApp::new(Some(Document::new(common::preset("mlp"), None))));
    add_dropout(&mut h);
    assert!(h.state().document().title().starts_with('*'));
    h.state_mut().save_as(&file);
    h.run_steps(2);
    let written = file.with_extension("strata");
    let back = strata::open_project(&written).unwrap();
    assert_eq!(back, h.state().document().project);
    assert!(!h.state().document().is_dirty());
    assert!(!h.state().document().title().starts_with('*'));
    add_dropout(&mut h);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    h.run_steps(2);
    assert!(!h.state().document().is_dirty());
    assert_eq!(strata::open_project(&written).unwrap(), h.state().document().project);
}

#[test]
fn unsaved_work_is_autosaved_and_offered_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let recovery = Recovery::new(dir.path().join("recovery"));
    let mut app = StrataApp::with_storage(
        Some(Document::new(common::preset("mlp"), None)),
        Prefs::default(),
        Some(recovery.clone()),
    );
    app.set_autosave_every(Duration::ZERO);
    let mut h = harness(app);
    add_dropout(&mut h);
    h.run_steps(2);
    let edited = h.state().document().project.clone();
    // The process dies here: nothing is saved but the recovery file.
    drop(h);
    assert!(recovery.pending().is_some(), "autosave wrote a recovery file");
    let mut h = harness(StrataApp::with_storage(None, Prefs::default(), Some(recovery.clone())));
    h.get_by_label("Restore unsaved work?");
    h.get_by_label("Restore").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project, edited);
    assert!(h.state().document().is_dirty(), "restored work is unsaved until saved");
    assert!(!h.state().gallery_open);
}

#[test]
fn preferences_survive_a_restart_through_eframe_storage() {
    #[derive(Default)]
    struct Memory(std::collections::HashMap<String, String>);
    impl eframe::Storage for Memory {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.to_owned(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.strata");
    strata::doc::save_file(&common::preset("mlp"), &file).unwrap();
    let mut app = StrataApp::new(None);
    app.open_path(&file);
    let mut storage = Memory::default();
    eframe::App::save(&mut app, &mut storage);
    let prefs: Prefs = eframe::get_value(&storage, eframe::APP_KEY).unwrap();
    assert_eq!(prefs.recent.files, std::slice::from_ref(&file));
    let again = StrataApp::with_storage(None, prefs, None);
    assert_eq!(again.prefs().recent.files, [file]);
}

#[test]
fn edits_inside_a_block_are_undoable_and_change_every_instance() {
    let mut h = harness(StrataApp::new(Some(Document::new(common::preset("resnet_mini"), None))));
    let p = &h.state().document().project;
    assert!(!p.blocks.is_empty());
    let block = p.blocks[0].id.clone();
    let before = h.state().report().total_params;
    h.state_mut().open_block(Some(&block));
    h.run_steps(3);
    assert_eq!(h.state().scope(), &Scope::Block(block.clone()));
    // Inside, shapes are known as the first instance sees them (wire labels, pins, inspector).
    let inner_report = h.state_mut().scope_report().expect("inside report").clone();
    let def = h.state().document().project.block(&block).unwrap().graph.clone();
    let typed = def
        .nodes
        .iter()
        .filter(|n| n.kind != "port_out")
        .filter(|n| {
            inner_report
                .node(n.id)
                .is_some_and(|r| r.outputs.iter().all(|(_, t)| t.is_some()))
        })
        .count();
    assert_eq!(
        typed,
        def.nodes.iter().filter(|n| n.kind != "port_out").count(),
        "{inner_report:?}"
    );
    assert!(inner_report.is_valid());
    assert!(inner_report.total_params > 0);
    // Add a node inside with the palette: it lands in the block, not the top level.
    let top = h.state().document().project.graph.nodes.len();
    let inner = h.state().document().project.block(&block).unwrap().graph.nodes.len();
    add_dropout(&mut h);
    assert_eq!(h.state().document().project.graph.nodes.len(), top);
    assert_eq!(
        h.state().document().project.block(&block).unwrap().graph.nodes.len(),
        inner + 1
    );
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert_eq!(h.state().scope(), &Scope::Root);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(
        h.state().document().project.block(&block).unwrap().graph.nodes.len(),
        inner
    );
    assert_eq!(h.state().report().total_params, before);
}

/// Every preset as it opens in the window (fitted by auto-layout), one snapshot each; all are
/// compared before the test fails, so one report lists every changed picture.
#[test]
fn snapshots_of_every_preset_as_it_opens() {
    // Text anti-aliasing may differ by a few pixels between Mesa versions, and the Glow preset's
    // node top edges (0.1–0.2 % of the image) differ between identical runs; a layout change moves
    // tens of thousands of pixels.
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(2500);
    let mut failed = Vec::new();
    for id in strata::presets::ids() {
        let mut app = StrataApp::new(Some(Document::new(common::preset(id), None)));
        // The memory check would mark the largest presets on a small machine only.
        app.assume_free_memory(None);
        let mut h = harness(app);
        h.run_steps(4);
        if let Err(e) = h.try_snapshot_options(format!("main_window_{id}"), &options) {
            failed.push(format!("{id}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn closing_the_window_with_unsaved_changes_asks_first() {
    let mut h = harness(StrataApp::new(Some(Document::new(common::preset("mlp"), None))));
    add_dropout(&mut h);
    let root = egui::ViewportId::ROOT;
    h.input_mut()
        .viewports
        .entry(root)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.run_steps(2);
    assert_eq!(h.state().pending_confirmation(), Some(&strata::app::Pending::Quit));
    h.get_by_label("Unsaved changes");
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(h.state().pending_confirmation().is_none());
    assert!(h.state().document().is_dirty(), "the work is still there");
}

#[test]
fn earlier_runs_are_saved_beside_the_project_and_come_back_when_it_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mlp.strata");
    strata::doc::save_file(&common::preset("mlp"), &file).unwrap();
    let mut h = harness(StrataApp::new(Some(Document::open(&file).unwrap())));
    h.get_by_label("▶ Train").click();
    h.run_steps(2);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while h.state().dashboard().current().is_none_or(|r| r.step < 30) {
        assert!(std::time::Instant::now() < deadline, "no steps");
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    h.get_by_label("■ Stop").click();
    while h.state().dashboard().busy() {
        assert!(std::time::Instant::now() < deadline, "did not stop");
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
    let history = dir.path().join("mlp.runs.json");
    assert!(history.exists(), "the run history is written beside the project");
    drop(h);
    // Reopen: the earlier run is there to overlay.
    let mut app = StrataApp::new(None);
    app.open_path(&file);
    let runs = &app.dashboard().runs;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].series("loss").len() >= 30);
    assert!(runs[0].outcome.as_deref().is_some_and(|o| o.starts_with("stopped")));
    // A damaged history file is ignored, the project still opens.
    std::fs::write(&history, "{ damaged").unwrap();
    app.open_path(&file);
    assert!(app.dashboard().runs.is_empty());
    assert_eq!(app.document().project.name, "MLP on MNIST");
}

#[test]
fn a_reopened_project_generates_from_its_last_runs_saved_weights() {
    use egui_kittest::kittest::NodeT;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("moons.strata");
    let mut p = common::preset("score_2d");
    p.training.steps = 300;
    strata::doc::save_file(&p, &file).unwrap();
    let wait = |h: &mut Harness<'static, StrataApp>, what: &str, done: &dyn Fn(&StrataApp) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !done(h.state()) {
            assert!(std::time::Instant::now() < deadline, "waited for {what}");
            h.run_steps(1);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let mut h = harness(StrataApp::new(Some(Document::open(&file).unwrap())));
    h.get_by_label("▶ Train").click();
    wait(&mut h, "the run", &|a| {
        a.dashboard().current().is_some_and(|r| r.outcome.is_some())
    });
    h.run_steps(3);
    let ck = h.state().dashboard().current().and_then(|r| r.checkpoint.clone());
    let ck = ck.expect("the run's weights are saved");
    assert!(ck.starts_with(dir.path().join("moons.checkpoints")), "{}", ck.display());
    assert!(ck.join("checkpoint.json").exists());
    drop(h);
    // A later session: the project reopens, the Generate tab offers the saved run's weights.
    let mut h = harness(StrataApp::new(None));
    h.state_mut().open_path(&file);
    h.state_mut().dashboard_mut().tab = strata::app::Tab::Generate;
    h.run_steps(3);
    assert_eq!(
        h.state().dashboard().generate.from.as_ref(),
        Some(&ck),
        "the saved run's weights are picked when no run of this session holds any"
    );
    let button = h.get_by_label("Generate samples");
    assert!(
        !button.accesskit_node().is_disabled(),
        "saved weights: Generate works without training"
    );
    button.click();
    wait(&mut h, "the samples", &|a| a.dashboard().generate.result.is_some());
    let result = &h.state().dashboard().generate.result;
    assert!(
        matches!(result, Some((_, Ok(strata::telemetry::View::Scatter(_)), _))),
        "{result:?}"
    );
}

#[test]
fn a_file_that_will_not_open_from_the_command_line_opens_the_start_screen_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.strata");
    std::fs::write(&path, "{ \"format\": \"strata\", \"graph\": [").unwrap();
    // What `strata broken.strata` does: the document fails to open, the window opens anyway.
    let err = Document::open(&path).err().unwrap();
    let mut app = StrataApp::new(None);
    app.start_with_error(format!("cannot open {}: {err}", path.display()));
    let h = harness(app);
    h.get_by_label("Start — new project");
    // On the start screen (above the presets) and in the status line.
    let shown = h.query_all_by_label_contains("cannot open").count();
    assert_eq!(shown, 2, "the reason is on the start screen");
    assert!(h.state().gallery_open);
    // The presets are there to go on with.
    h.get_by_label("Empty project");
}

#[test]
fn dropping_an_onnx_file_imports_it_as_a_new_project_and_opens_it() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("lenet.onnx");
    strata::interop::export_onnx(
        &common::preset("lenet5"),
        None,
        &onnx,
        &strata::interop::Weights::Initial(1),
        None,
        &|_| {},
    )
    .unwrap();
    let mut h = harness(StrataApp::new(Some(Document::new(common::preset("mlp"), None))));
    h.input_mut().dropped_files.push(Arc::new(Dropped(onnx.clone())));
    // The import runs on a helper thread; the window keeps drawing meanwhile.
    let started = std::time::Instant::now();
    while h.state().document().path.as_deref() != Some(dir.path().join("lenet.strata").as_path()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "status: {}",
            h.state().status()
        );
        h.run_steps(2);
        std::thread::sleep(Duration::from_millis(20));
    }
    let doc = h.state().document();
    assert_eq!(doc.project.name, "LeNet-5", "a Strata export reopens as its project");
    assert!(doc.project.graph.nodes.iter().any(|n| n.kind == "conv2d"));
    assert!(h.state().status().contains("imported as"), "{}", h.state().status());
    assert!(
        dir.path().join("lenet.checkpoints/imported/nodes").is_dir(),
        "weights kept"
    );
    // A broken .onnx is reported; the open project stays.
    let broken = dir.path().join("broken.onnx");
    std::fs::write(&broken, b"not a model").unwrap();
    h.input_mut().dropped_files.push(Arc::new(Dropped(broken)));
    let started = std::time::Instant::now();
    while !h.state().status().contains("importing ONNX failed") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "status: {}",
            h.state().status()
        );
        h.run_steps(2);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.state().status().contains("broken.onnx"), "{}", h.state().status());
    assert_eq!(h.state().document().project.name, "LeNet-5");
}
