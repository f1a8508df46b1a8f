//! The window, driven like a user would: click the palette, undo, redo (egui_kittest, headless).

#![cfg(feature = "app")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use strata::app::StrataApp;
use strata::engine::trainer::RunState;
use strata::telemetry::View;
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
    let added = last_node(&h);
    let before = h.state().document().project.graph.node(added).unwrap().pos;
    h.get_by_label("Auto-layout").click();
    h.run_steps(3);
    let after = h.state().document().project.graph.node(added).unwrap().pos;
    assert_ne!(before, after);
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.node(added).unwrap().pos, before);
}

fn empty() -> Harness<'static, StrataApp> {
    let doc = Document::new(strata::doc::Project::new("scratch"), None);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(|_cc| StrataApp::new(Some(doc)));
    h.run_steps(4);
    h
}

fn drag(h: &mut Harness<'static, StrataApp>, from: egui::Pos2, to: egui::Pos2) {
    h.hover_at(from);
    h.run_steps(1);
    h.drag_at(from);
    h.run_steps(1);
    for k in 1..=8 {
        h.hover_at(from + (to - from) * (k as f32 / 8.0));
        h.run_steps(1);
    }
    h.drop_at(to);
    h.run_steps(3);
}

fn kinds(h: &Harness<'static, StrataApp>) -> Vec<String> {
    h.state()
        .document()
        .project
        .graph
        .nodes
        .iter()
        .map(|n| n.kind.clone())
        .collect()
}

#[test]
fn dragging_linear_from_the_palette_drops_it_where_released() {
    let mut h = empty();
    let from = h.get_by_label("Linear").rect().center();
    let to = egui::pos2(700.0, 300.0);
    drag(&mut h, from, to);
    assert_eq!(kinds(&h), ["linear"]);
    let node = &h.state().document().project.graph.nodes[0];
    let expected = h.state().canvas_point(to);
    assert!(
        (node.pos[0] - expected.x).abs() < 2.0 && (node.pos[1] - expected.y).abs() < 2.0,
        "dropped at {expected:?}, node at {:?}",
        node.pos
    );
    // One undo step removes it.
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert!(kinds(&h).is_empty());
}

#[test]
fn dragging_from_an_output_pin_to_an_input_pin_wires_two_nodes() {
    let mut h = empty();
    let linear = h.get_by_label("Linear").rect().center();
    drag(&mut h, linear, egui::pos2(500.0, 250.0));
    h.get_by_label("Activation").click();
    h.run_steps(2);
    let relu = h.get_by_label("ReLU").rect().center();
    drag(&mut h, relu, egui::pos2(850.0, 250.0));
    h.run_steps(3);
    let ids: Vec<_> = h.state().document().project.graph.nodes.iter().map(|n| n.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(h.state().document().project.graph.wires.is_empty());
    let out = h.state().pin_screen_pos(ids[0], true, 0).expect("output pin drawn");
    let inp = h.state().pin_screen_pos(ids[1], false, 0).expect("input pin drawn");
    drag(&mut h, out, inp);
    let wires = &h.state().document().project.graph.wires;
    assert_eq!(wires.len(), 1, "{wires:?}");
    assert_eq!((wires[0].from, wires[0].to), (ids[0], ids[1]));
}

#[test]
fn editing_a_parameter_in_the_inspector_changes_the_document_and_undo_restores_it() {
    let mut h = harness("mlp");
    let linear = node_of(&h, "linear");
    // Click the node's title on the canvas (graph-space widget: accesskit click).
    let title = strata::catalog::display_title(
        &h.state().document().project,
        h.state().document().project.graph.node(linear).unwrap(),
    );
    let nodes = h.query_all_by_label(&title).collect::<Vec<_>>();
    nodes.last().unwrap().click_accesskit();
    h.run_steps(3);
    let linear = h.state().selection()[0];
    assert_eq!(h.state().document().project.graph.node(linear).unwrap().kind, "linear");
    h.get_by_label("bias").click();
    h.run_steps(3);
    let bias = |h: &Harness<'static, StrataApp>| {
        h.state()
            .document()
            .project
            .graph
            .node(linear)
            .unwrap()
            .params
            .get("bias")
            .cloned()
    };
    assert_eq!(bias(&h), Some(strata::doc::ParamValue::Bool(false)));
    assert!(h.state().document().is_dirty());
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(3);
    assert_ne!(bias(&h), Some(strata::doc::ParamValue::Bool(false)));
    assert!(!h.state().document().is_dirty());
}

#[test]
fn the_start_screen_opens_a_preset_from_the_gallery() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(|_cc| StrataApp::new(None));
    h.run_steps(4);
    assert!(h.state().gallery_open);
    let lenet = h.get_by_label("LeNet-5");
    lenet.scroll_to_me();
    h.run_steps(2);
    h.get_by_label("LeNet-5").click_accesskit();
    h.run_steps(4);
    assert!(!h.state().gallery_open);
    assert_eq!(h.state().document().project.name, "LeNet-5");
    assert_eq!(h.state().report().total_params, 61_706);
    assert!(
        h.state().document().path.is_none(),
        "a preset opens as a new, unsaved project"
    );
}

#[test]
fn invalid_wiring_shows_the_checkers_message_on_the_problems_tab() {
    let mut h = harness("mlp");
    // Wire the integer labels... rather: feed the flat Linear output into a 2-D convolution.
    let g = &h.state().document().project.graph;
    let linear = g.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    let mut conv = strata::catalog::default_node("conv2d").unwrap();
    conv.pos = [300.0, 400.0];
    let mut p = h.state().document().project.clone();
    let (add, conv_id) = strata::doc::Edit::add_node(&mut p, strata::doc::Scope::Root, conv).unwrap();
    h.state_mut().apply(add);
    h.state_mut().apply(strata::doc::Edit::AddWire {
        scope: strata::doc::Scope::Root,
        wire: strata::doc::Wire::new(linear, "y", conv_id, "x"),
    });
    h.run_steps(3);
    let message = h
        .state()
        .report()
        .diagnostics_for(conv_id)
        .next()
        .map(|d| d.message.clone())
        .expect("the checker complains about the conv");
    h.get_by_label_contains("Problems (").click();
    h.run_steps(3);
    // On the Problems tab and on the node itself.
    assert!(h.query_all_by_label(&message).count() >= 2);
    assert!(!h.state().report().is_valid());
}

#[test]
fn select_all_copy_paste_delete_and_group_into_a_block() {
    let mut h = harness("mlp");
    let n = h.state().document().project.graph.nodes.len();
    // Focus the canvas area, then use the keyboard like a user.
    h.hover_at(egui::pos2(700.0, 300.0));
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(2);
    assert_eq!(h.state().selection().len(), n);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::C);
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::V);
    h.run_steps(3);
    let g = &h.state().document().project.graph;
    assert_eq!(g.nodes.len(), 2 * n, "pasted a copy");
    let wires = g.wires.len();
    assert_eq!(h.state().selection().len(), n, "the pasted nodes are selected");
    h.key_press(egui::Key::Delete);
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.nodes.len(), n);
    assert_eq!(
        h.state().document().project.graph.wires.len(),
        wires / 2,
        "inner wires were pasted too"
    );
    // Group the hidden layers into a block, open it, come back.
    let hidden: Vec<_> = h
        .state()
        .document()
        .project
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind == "linear" || n.kind == "relu")
        .map(|n| n.id)
        .collect();
    let params = h.state().report().total_params;
    h.state_mut().select(&hidden);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::G);
    h.run_steps(3);
    let p = &h.state().document().project;
    assert_eq!(p.blocks.len(), 1);
    assert_eq!(h.state().report().total_params, params, "grouping changes nothing");
    h.get_by_label("open").click_accesskit();
    h.run_steps(3);
    assert_eq!(h.state().scope(), &strata::doc::Scope::Block("block1".into()));
    h.get_by_label("back").click();
    h.run_steps(3);
    assert_eq!(h.state().scope(), &strata::doc::Scope::Root);
}

#[test]
fn training_the_mlp_preset_advances_the_step_counter_and_plots_the_loss_then_stops() {
    let mut h = harness("mlp");
    h.get_by_label("▶ Train").click();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        h.run_steps(1);
        if h.state().dashboard().current().is_some_and(|r| r.step >= 20) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no steps: {:?}",
            h.state().dashboard().error
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = h.state().dashboard().current().unwrap();
    assert!(run.series("loss").len() >= 20, "the loss plot has points");
    assert!(run.device.starts_with("cpu"), "{}", run.device);
    h.get_by_label_contains("step ");
    h.get_by_label("Training").click();
    h.run_steps(2);
    // Pause holds the step counter; Resume continues.
    h.get_by_label("Pause").click();
    wait(&mut h, |a| a.dashboard().state == RunState::Paused);
    let held = h.state().dashboard().current().unwrap().step;
    std::thread::sleep(std::time::Duration::from_millis(300));
    h.run_steps(2);
    assert!(h.state().dashboard().current().unwrap().step <= held + 1);
    h.get_by_label("Resume").click();
    wait(&mut h, |a| a.dashboard().current().is_some_and(|r| r.step > held + 3));
    h.get_by_label("■ Stop").click();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while h.state().dashboard().busy() {
        h.run_steps(1);
        assert!(std::time::Instant::now() < deadline, "did not stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run_steps(2);
    let run = h.state().dashboard().current().unwrap();
    let outcome = run.outcome.clone().unwrap_or_default();
    assert!(outcome.starts_with("stopped"), "{outcome}");
    assert!(run.step < 2000);
    h.get_by_label_contains("stopped after");
    // Node sparklines came in while training.
    assert!(!h.state().dashboard().activity.is_empty());
    // The Samples tab shows the predictions taken when the run ended.
    assert!(!h.state().dashboard().samples.is_empty());
    h.get_by_label("Samples").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_role(egui::accesskit::Role::Slider).count() >= 1,
        "the step slider"
    );
    // A second run keeps the first for the overlay.
    h.get_by_label("▶ Train").click();
    h.run_steps(2);
    assert_eq!(h.state().dashboard().runs.len(), 2);
    wait(&mut h, |a| a.dashboard().current().is_some_and(|r| r.step >= 5));
    h.get_by_label("■ Stop").click();
    wait(&mut h, |a| !a.dashboard().busy());
    assert_eq!(h.state().dashboard().runs.len(), 2);
    assert!(
        h.state().dashboard().runs[0].series("loss").len() >= 20,
        "the earlier run keeps its curve"
    );
}

fn wait(h: &mut Harness<'static, StrataApp>, done: impl Fn(&StrataApp) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done(h.state()) {
        assert!(std::time::Instant::now() < deadline, "timed out");
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn f_fits_the_whole_graph_in_view() {
    // 69 nodes: too many to show legibly at once, so it opens at the start of the flow.
    let mut h = harness("ddpm_unet");
    let far = far_node(&h);
    assert!(!in_view(&h, far), "the far end starts out of view");
    h.hover_at(egui::pos2(600.0, 300.0));
    h.key_press(egui::Key::F);
    h.run_steps(4);
    let g = &h.state().document().project.graph;
    assert!(
        g.nodes.iter().all(|n| in_view(&h, n.id)),
        "after F every node is in view"
    );
}

/// The node furthest from the top-left corner.
fn far_node(h: &Harness<'static, StrataApp>) -> strata::doc::NodeId {
    let g = &h.state().document().project.graph;
    g.nodes
        .iter()
        .max_by(|a, b| (a.pos[0] + a.pos[1]).total_cmp(&(b.pos[0] + b.pos[1])))
        .map(|n| n.id)
        .expect("a node")
}

/// Whether node `id`'s top-left corner is on the canvas.
fn in_view(h: &Harness<'static, StrataApp>, id: strata::doc::NodeId) -> bool {
    let n = h.state().document().project.graph.node(id).expect("node");
    h.state()
        .canvas_view()
        .contains(egui::pos2(n.pos[0] + 1.0, n.pos[1] + 1.0))
}

#[test]
fn space_opens_the_fuzzy_node_search_and_enter_adds_the_best_match() {
    let mut h = empty();
    h.hover_at(egui::pos2(700.0, 400.0));
    h.run_steps(1);
    h.key_press(egui::Key::Space);
    h.run_steps(3);
    h.get_by_label("Add a layer");
    // Fuzzy: "mha" finds multi-head attention by initials-like subsequence.
    let first = strata::app::search_kinds("mha", None)[0].id;
    assert_eq!(first, "multi_head_attention");
    h.event(egui::Event::Text("lstm".into()));
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert_eq!(kinds(&h), ["lstm"]);
    assert!(h.query_by_label("Add a layer").is_none(), "the search closed");
}

#[test]
fn dragging_a_value_in_the_inspector_is_one_undo_step() {
    let mut h = harness("mlp");
    let linear = node_of(&h, "linear");
    h.state_mut().select(&[linear]);
    h.run_steps(3);
    let value = |h: &Harness<'static, StrataApp>| {
        h.state()
            .document()
            .project
            .graph
            .node(linear)
            .unwrap()
            .params
            .get("out_features")
            .cloned()
    };
    let before = value(&h);
    let field = h.get_by_value("128").rect().center();
    // A slow drag to the right passes through many values.
    drag(&mut h, field, field + egui::vec2(60.0, 0.0));
    assert_ne!(value(&h), before, "the drag changed the value");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(3);
    assert_eq!(value(&h), before, "one undo restores the value from before the drag");
    assert!(!h.state().document().is_dirty());
}

#[test]
fn the_input_shape_is_edited_as_text_in_the_inspector() {
    let mut h = harness("mlp");
    let input = node_of(&h, "input");
    h.state_mut().select(&[input]);
    h.run_steps(3);
    retype(&mut h, "B, 1, 28, 28", "B, 784");
    let shape = h
        .state()
        .document()
        .project
        .graph
        .node(input)
        .unwrap()
        .params
        .get("shape")
        .cloned();
    assert_eq!(shape.map(|s| s.to_string()).as_deref(), Some("[B, 784]"));
    // The checker follows at once: Flatten of [B, 784] is still [B, 784]; counts unchanged.
    assert_eq!(h.state().report().total_params, 101_770);
    assert!(h.state().report().is_valid());
}

#[test]
fn with_no_node_selected_the_inspector_edits_the_training_settings() {
    let mut h = harness("mlp");
    h.get_by_label("learning rate");
    let before = h.state().document().project.training.clone();
    let field = h.get_by_value("64").rect().center();
    drag(&mut h, field, field + egui::vec2(40.0, 0.0));
    let after = h.state().document().project.training.batch_size;
    assert!(after > before.batch_size, "batch size {after}");
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.training, before);
}

#[test]
fn the_checkers_fix_button_repairs_the_graph_in_one_undoable_step() {
    use strata::doc::{Edit, Scope, Wire};
    let mut h = harness("mlp");
    let g = h.state().document().project.graph.clone();
    let input = g.nodes.iter().find(|n| n.kind == "input").unwrap().id;
    let flatten = g.nodes.iter().find(|n| n.kind == "flatten").unwrap().id;
    let linear = g.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    // The user deletes Flatten and wires the image straight into Linear.
    h.state_mut().apply(Edit::RemoveNode {
        scope: Scope::Root,
        id: flatten,
    });
    h.state_mut().apply(Edit::AddWire {
        scope: Scope::Root,
        wire: Wire::new(input, "y", linear, "x"),
    });
    h.run_steps(3);
    assert!(!h.state().report().is_valid());
    let fix = h
        .query_all_by_label_contains("Fix: insert")
        .next()
        .expect("a fix button");
    fix.click_accesskit();
    h.run_steps(3);
    assert!(h.state().report().is_valid(), "{:?}", h.state().report().diagnostics);
    assert_eq!(h.state().report().total_params, 101_770);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(3);
    assert!(!h.state().report().is_valid(), "one undo takes the fix back");
}

#[test]
fn clicking_the_minimap_moves_the_view_there() {
    let mut h = harness("ddpm_unet");
    let far = far_node(&h);
    assert!(!in_view(&h, far), "the far end of the DDPM U-Net starts out of view");
    let n = h.state().document().project.graph.node(far).expect("node").pos;
    let at = h
        .state()
        .minimap_point(egui::pos2(n[0] + 40.0, n[1] + 20.0))
        .expect("a minimap for a graph larger than the view");
    h.hover_at(at);
    h.run_steps(1);
    h.drag_at(at);
    h.run_steps(1);
    h.drop_at(at);
    h.run_steps(4);
    assert!(in_view(&h, far), "after the click the far node is on screen");
}

/// The id of the first node of `kind`.
fn node_of(h: &Harness<'static, StrataApp>, kind: &str) -> strata::doc::NodeId {
    let g = &h.state().document().project.graph;
    g.nodes
        .iter()
        .find(|n| n.kind == kind)
        .map(|n| n.id)
        .expect("a node of that kind")
}

/// The node with the highest id (the end of a preset's chain).
fn last_node(h: &Harness<'static, StrataApp>) -> strata::doc::NodeId {
    let g = &h.state().document().project.graph;
    g.nodes.iter().map(|n| n.id).max().expect("a node")
}

#[test]
fn renaming_a_node_in_the_inspector_shows_on_the_canvas_and_undoes() {
    let mut h = harness("mlp");
    let input = node_of(&h, "input");
    h.state_mut().select(&[input]);
    h.run_steps(3);
    retype(&mut h, "image", "pixels");
    assert_eq!(h.state().document().project.graph.node(input).unwrap().title, "pixels");
    assert!(
        h.query_all_by_label("pixels").count() >= 1,
        "the canvas shows the new title"
    );
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.graph.node(input).unwrap().title, "image");
}

/// Replaces the text of the field showing `current` with `new` and presses Enter, as a user would.
fn retype(h: &mut Harness<'static, StrataApp>, current: &str, new: &str) {
    let field = h
        .query_all_by_value(current)
        .find(|n| egui_kittest::kittest::NodeT::accesskit_node(n).role() == egui::accesskit::Role::TextInput)
        .expect("a text field showing that value");
    field.focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.event(egui::Event::Text(new.into()));
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
}

#[test]
fn the_recipe_is_chosen_in_a_combo_and_its_settings_and_the_datasets_options_show() {
    let mut h = harness("mlp");
    // The combo shows the recipe's name; choosing another recipe is one undoable edit.
    h.get_by_value("Supervised").click();
    h.run_steps(3);
    h.get_by_label("Graph loss").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.recipe.id, "graph_loss");
    // The new recipe's typed setting appears (a checkbox), and the graph is checked against it:
    // the MLP has no loss output.
    h.get_by_label("normalize_inputs");
    assert!(
        h.state()
            .report()
            .diagnostics
            .iter()
            .any(|d| d.message.contains("needs an Output with role 'loss'"))
    );
    h.get_by_label("normalize_inputs").click();
    h.run_steps(3);
    assert_eq!(
        h.state().document().project.recipe.settings.get("normalize_inputs"),
        Some(&true.into())
    );
    h.get_by_label("Undo").click();
    h.run_steps(3);
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.recipe.id, "supervised");
    // The dataset combo lists sources by name, and a source's options are edited in place.
    h.get_by_value("MNIST (5 000 digits)").click();
    h.run_steps(3);
    h.get_by_label("CSV file").click();
    h.run_steps(3);
    assert_eq!(h.state().document().project.dataset.id, "csv");
    h.get_by_label("path");
    h.get_by_label("task");
}

#[test]
fn a_generators_output_node_shows_its_latest_samples() {
    let mut h = harness("dcgan");
    let ctx = h.ctx.clone();
    assert!(h.state_mut().node_pictures(&ctx).is_empty(), "nothing before a run");
    // A finished run of the project, as its history file brings it back.
    let mut run = strata::app::Run::new(0, "run 1".into(), "gan", 100);
    let grid = strata::telemetry::Picture {
        width: 4,
        height: 2,
        rgb: vec![200; 4 * 2 * 3],
    };
    run.views
        .insert("samples".into(), (100, strata::telemetry::View::Image(grid)));
    run.outcome = Some("finished".into());
    h.state_mut().dashboard_mut().load_history(vec![run]);
    h.run_steps(2);
    let pictures = h.state_mut().node_pictures(&ctx);
    let fake = h
        .state()
        .document()
        .project
        .graph
        .nodes
        .iter()
        .find(|n| n.kind == "output" && n.params.get("role").and_then(|v| v.as_text()) == Some("fake"))
        .map(|n| n.id)
        .unwrap();
    assert_eq!(pictures.len(), 1, "one output shows samples");
    assert_eq!(pictures[0].0, fake, "on the generator's output node");
    assert_eq!(pictures[0].1.size(), [4, 2], "the latest sample grid");
}

/// Runs frames until `done` holds (2 minutes at most).
fn run_until(h: &mut Harness<'static, StrataApp>, what: &str, done: impl Fn(&StrataApp) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done(h.state()) {
        h.run_steps(1);
        assert!(
            std::time::Instant::now() < deadline,
            "waited for {what}: {:?}",
            h.state().dashboard().error
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_generate_tab_draws_samples_from_the_trained_weights_with_a_chosen_seed() {
    let mut h = harness("score_2d");
    h.get_by_label("Generate").click();
    h.run_steps(2);
    assert_eq!(h.state().dashboard().tab, strata::app::Tab::Generate);
    // Nothing to draw from before training.
    assert!(h.get_by_label("Generate samples").accesskit_node().is_disabled());
    h.get_by_label("▶ Train").click();
    run_until(&mut h, "the run to finish", |a| {
        a.dashboard().current().is_some_and(|r| r.outcome.is_some())
    });
    h.state_mut().dashboard_mut().tab = strata::app::Tab::Generate;
    h.state_mut().dashboard_mut().generate.request.seed = 11;
    h.run_steps(2);
    h.get_by_label("Generate samples").click();
    run_until(&mut h, "the samples", |a| a.dashboard().generate.result.is_some());
    let Some((req, Ok(strata::telemetry::View::Scatter(s)), _)) = &h.state().dashboard().generate.result else {
        panic!("{:?}", h.state().dashboard().generate.result)
    };
    assert_eq!(req.seed, 11);
    assert_eq!(s.points.len(), 2 * req.count, "drawn points over as many data points");
    h.run_steps(2);
    h.get_by_label_contains("seed 11");
}

#[test]
fn the_gallery_filters_by_family_and_says_what_each_preset_does_here() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(|_cc| StrataApp::new(None));
    h.run_steps(4);
    // Honest cards: a preset that trains here says on what; one whose data is not built in says so.
    assert!(h.query_all_by_label_contains("Trains here on MNIST").next().is_some());
    assert!(h.query_all_by_label_contains("View and export only").next().is_some());
    // Reference sizes say how slowly they would train here.
    assert!(
        h.query_all_by_label_contains("one training step of one")
            .next()
            .is_some(),
        "a reference model's card gives its measured step time"
    );
    h.get_by_value("every family").click();
    h.run_steps(2);
    // The popup's option (the family heading has the same words).
    h.query_all_by_label("Generative").last().expect("the option").click();
    h.run_steps(3);
    assert!(
        h.query_by_label("LeNet-5").is_none(),
        "convolutional presets are filtered out"
    );
    assert!(h.query_all_by_label("Variational autoencoder").next().is_some());
    h.query_all_by_value("Generative")
        .next()
        .expect("the family combo")
        .click();
    h.run_steps(2);
    h.query_all_by_label("every family").last().expect("the option").click();
    h.run_steps(3);
    assert!(h.query_by_label("LeNet-5").is_some(), "every family again");
}

#[test]
fn a_block_expands_in_place_and_collapses_again() {
    let mut h = harness("resnet_mini");
    let block = {
        let g = &h.state().document().project.graph;
        g.nodes.iter().find(|n| n.is_block()).expect("a block").id
    };
    let before = h.state().node_size(block).expect("drawn");
    h.query_all_by_label("⏷")
        .next()
        .expect("an expand button")
        .click_accesskit();
    h.run_steps(3);
    assert_eq!(h.state().expanded_blocks().len(), 1);
    let open = h.state().node_size(h.state().expanded_blocks()[0]).expect("drawn");
    assert!(
        open[1] > before[1] + 60.0,
        "the node grew to show its inside: {before:?} → {open:?}"
    );
    h.get_by_label("⏶").click_accesskit();
    h.run_steps(3);
    assert!(h.state().expanded_blocks().is_empty());
    let _ = block;
}

#[test]
fn the_cost_tab_shows_measured_time_per_node_while_training() {
    let mut h = harness("lenet5");
    h.get_by_label("▶ Train").click();
    wait(&mut h, |a| a.dashboard().cost.is_some());
    h.get_by_label("■ Stop").click();
    wait(&mut h, |a| !a.dashboard().busy());
    h.get_by_label("Cost").click_accesskit();
    h.run_steps(3);
    assert_eq!(h.state().dashboard().tab, strata::app::Tab::Cost);
    let step = h.state().dashboard().cost.as_ref().unwrap().0;
    assert!(
        h.query_by_label_contains(&format!("Measured at step {step}")).is_some(),
        "step {step}"
    );
    // The costliest node is one of LeNet-5's image layers (with Strata's CPU kernels its
    // convolutions and max pools are close, so either may lead), not a reshape or the output.
    let (_, cost) = h.state().dashboard().cost.clone().unwrap();
    let g = &h.state().document().project.graph;
    let top = cost
        .iter()
        .max_by(|a, b| a.total_ms().total_cmp(&b.total_ms()))
        .unwrap();
    let kind = &g.node(top.node).unwrap().kind;
    assert!(kind == "conv2d" || kind == "max_pool2d", "{kind} leads");
    h.get_by_label("forward ms").click();
    h.run_steps(2);
    assert!(h.query_by_label("forward ms ⏷").is_some(), "sorted by forward time");
}

/// A model too large for this machine is shown on the graph before anyone presses Train: an
/// error on its largest node with the figures and what to change, and Train refuses it.
#[test]
fn a_model_too_large_for_the_machine_is_marked_on_its_largest_node() {
    let mut p = common::preset("mlp");
    let big = p.graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    p.graph
        .node_mut(big)
        .unwrap()
        .params
        .insert("out_features".into(), 4_000_000.into());
    let mut app = StrataApp::new(Some(Document::new(p, None)));
    // As on a machine with 8 GB free (the check reads free RAM otherwise).
    app.assume_free_memory(Some(8_000_000_000));
    let d = app
        .report()
        .diagnostics
        .iter()
        .find(|d| d.message.contains("training needs about"))
        .expect("a memory diagnostic");
    assert_eq!(d.node, Some(big));
    assert!(
        d.message.contains("this machine has") && d.message.contains("make the largest layers smaller"),
        "{}",
        d.message
    );
    assert!(!app.report().is_valid());
    // With unknown free memory nothing is marked.
    app.assume_free_memory(None);
    assert!(app.report().is_valid());
}

/// A language model's Generate tab: type a prompt, press Write, read the text it wrote.
#[test]
fn the_generate_tab_writes_text_from_a_typed_prompt() {
    let mut h = harness("gpt_char");
    h.get_by_label("▶ Train").click();
    wait(&mut h, |a| a.dashboard().current().is_some_and(|r| r.step >= 3));
    h.get_by_label("■ Stop").click();
    wait(&mut h, |a| !a.dashboard().busy());
    h.get_by_label("Generate").click_accesskit();
    h.run_steps(2);
    // The tab's prompt field (the inspector shows the recipe's prompt setting too): the lower one.
    let field = |h: &Harness<'static, StrataApp>| {
        h.query_all_by_value("Elizabeth ")
            .max_by(|a, b| a.rect().min.y.total_cmp(&b.rect().min.y))
            .expect("the prompt field")
            .rect()
            .center()
    };
    let at = field(&h);
    h.hover_at(at);
    h.drag_at(at);
    h.drop_at(at);
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.event(egui::Event::Text("Mr. Collins".into()));
    h.run_steps(2);
    h.get_by_label("Write").click();
    wait(&mut h, |a| a.dashboard().generate.result.is_some());
    let (req, res, _) = h.state().dashboard().generate.result.clone().unwrap();
    assert_eq!(req.prompt.as_deref(), Some("Mr. Collins"));
    let strata::telemetry::View::Text(t) = res.unwrap() else {
        panic!("not text")
    };
    assert_eq!(t.prompt, "Mr. Collins");
    assert_eq!(t.text.chars().count(), 300);
}

#[test]
fn an_experts_block_is_picked_from_the_projects_blocks_in_the_inspector() {
    let mut h = harness("moe_char");
    h.state_mut().open_block(Some("moe_layer"));
    h.run_steps(3);
    let scope = strata::doc::Scope::Block("moe_layer".into());
    let moe = |h: &Harness<'static, StrataApp>| {
        let g = strata::doc::graph_in(&h.state().document().project, &scope).unwrap();
        g.nodes.iter().find(|n| n.kind == "moe").unwrap().clone()
    };
    let id = moe(&h).id;
    h.state_mut().select(&[id]);
    h.run_steps(3);
    // The combo shows the block by name; the empty choice is the built-in MLP.
    let open = "Transformer layer with experts (pre-LN, causal)";
    let shown = h.query_all_by_label(open).count();
    h.get_by_value("Expert MLP").click();
    h.run_steps(3);
    assert!(h.query_by_label("Expert MLP").is_some());
    assert_eq!(
        h.query_all_by_label(open).count(),
        shown,
        "the block being edited is not offered"
    );
    h.get_by_label("(built in)").click();
    h.run_steps(3);
    assert_eq!(moe(&h).params.get("expert"), Some(&"".into()));
    // Built-in experts of hidden 256 have more parameters than the 128-wide block.
    assert!(h.state().report().is_valid());
    assert!(h.state().report().total_params > 824_395);
    h.get_by_label("Undo").click();
    h.run_steps(3);
    assert_eq!(moe(&h).params.get("expert"), Some(&"expert_mlp".into()));
    assert_eq!(h.state().report().total_params, 824_395);
}

/// Training a graph network and an agent in the window: the karate club's graph view and the
/// cart-pole's environment view arrive on the Samples tab, with the headline metric in the status.
#[test]
fn graph_and_environment_views_show_while_training() {
    for (id, channel, view, headline) in [
        ("karate_gcn", "graph", "Graph", "test nodes"),
        ("ppo_cartpole", "environment", "Environment", "evaluation (greedy)"),
    ] {
        let mut h = harness(id);
        h.get_by_label("▶ Train").click();
        wait(&mut h, |a| !a.dashboard().busy() && a.dashboard().current().is_some());
        h.run_steps(3);
        let run = h.state().dashboard().current().unwrap();
        assert!(
            run.outcome.as_deref().unwrap_or("").starts_with("finished"),
            "{id}: {:?}",
            run.outcome
        );
        assert!(
            h.state()
                .dashboard()
                .samples
                .iter()
                .any(|(_, c, v)| c == channel && matches!(v, View::Image(p) if p.is_well_formed())),
            "{id}: the {channel} view arrived"
        );
        assert!(
            h.query_all_by_label_contains(headline).next().is_some(),
            "{id}: {headline}"
        );
        // The Samples tab adds the view's tab (the palette may already show a "Graph" category).
        let before = h.query_all_by_label(view).count();
        h.get_by_label("Samples").click();
        h.run_steps(3);
        assert!(h.query_all_by_label(view).count() > before, "{id}: the {view} tab");
    }
}
