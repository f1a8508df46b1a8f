//! The inspector: the selected node's parameters, generated from its kind's specs, each edit
//! turned into a document [`Edit`] (typed widgets, checked text fields, block pickers).

use super::editor::{ERROR, category_color, fix_edit, node_category};
use super::icons;
use crate::catalog::{self, ParamKind};
use crate::doc::{self, Edit, NodeId, ParamValue, Scope};
use crate::shape::Report;
use crate::workspace::Document;

/// Parses what the user typed for a shape (`B, 1, 28, 28`), a list of numbers or a text.
pub fn parse_param(text: &str, kind: ParamKind) -> Option<ParamValue> {
    match kind {
        ParamKind::Text | ParamKind::Block { .. } => Some(ParamValue::Text(text.trim().to_owned())),
        ParamKind::Shape | ParamKind::Ints => {
            let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
            let items: Vec<ParamValue> = inner
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| match t.parse::<i64>() {
                    Ok(v) => ParamValue::Int(v),
                    Err(_) => ParamValue::Text(t.to_owned()),
                })
                .collect();
            Some(ParamValue::List(items))
        }
        _ => None,
    }
}

/// A text field for a shape, list or text parameter: committed on Enter or when it loses focus,
/// checked against the spec first (the message shows instead of a bad value reaching the graph).
fn text_param(
    ui: &mut egui::Ui,
    id: egui::Id,
    p: &catalog::ParamSpec,
    current: &ParamValue,
) -> (Option<ParamValue>, Option<String>) {
    let shown = match current {
        ParamValue::List(items) => items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    let error_id = id.with("error");
    if let Some(text) = committed_text(ui, id, &shown, p.tooltip)
        && let Some(v) = parse_param(&text, p.kind)
    {
        match catalog::check_param(p, &v) {
            catalog::ParamCheck::Invalid(e) => {
                ui.data_mut(|d| d.insert_temp(error_id, e));
            }
            _ => {
                ui.data_mut(|d| d.remove::<String>(error_id));
                return (Some(v), None);
            }
        }
    }
    (None, ui.data(|d| d.get_temp::<String>(error_id)))
}

/// A one-line text field showing `shown`; returns the new text once the user commits a change
/// (Enter or leaving the field). What is typed survives frames while the field has focus.
pub(super) fn committed_text(ui: &mut egui::Ui, id: egui::Id, shown: &str, tooltip: &str) -> Option<String> {
    let focused = ui.memory(|m| m.has_focus(id));
    let mut buf: String = if focused {
        ui.data(|d| d.get_temp(id)).unwrap_or_else(|| shown.to_owned())
    } else {
        shown.to_owned()
    };
    let r = ui
        .add(egui::TextEdit::singleline(&mut buf).id(id).desired_width(150.0))
        .on_hover_text(tooltip);
    if r.has_focus() {
        ui.data_mut(|d| d.insert_temp(id, buf.clone()));
    }
    if r.lost_focus() {
        ui.data_mut(|d| d.remove::<String>(id));
        if buf != shown {
            return Some(buf);
        }
    }
    None
}

/// An edit made in the inspector.
pub struct InspectorEdit {
    /// The change.
    pub edit: Edit,
    /// Set while a value is dragged or typed: edits with the same key merge into one undo step.
    pub merge: Option<String>,
    /// The first edit of a new drag (it must not merge with an earlier drag).
    pub fresh: bool,
}

impl From<Edit> for InspectorEdit {
    fn from(edit: Edit) -> Self {
        InspectorEdit {
            edit,
            merge: None,
            fresh: false,
        }
    }
}

/// The inspector: the selected node's parameters, generated from its kind's specs.
pub fn inspector(
    ui: &mut egui::Ui,
    document: &Document,
    report: Option<&Report>,
    scope: &Scope,
    selected: Option<NodeId>,
) -> Option<InspectorEdit> {
    let g = doc::graph_in(&document.project, scope)?;
    let node = selected.and_then(|id| g.node(id))?;
    let spec = catalog::catalog().get(&node.kind);
    ui.horizontal(|ui| {
        if let Some(c) = node_category(node) {
            icons::show(ui, c, 20.0, category_color(c));
        }
        ui.heading(catalog::display_title(&document.project, node));
    });
    let mut renamed = None;
    ui.horizontal(|ui| {
        ui.label("title");
        let id = egui::Id::new(("strata-node-title", node.id));
        if let Some(t) = committed_text(
            ui,
            id,
            &node.title,
            "The node's name on the canvas (empty: the kind's name)",
        ) {
            renamed = Some(InspectorEdit::from(Edit::Rename {
                scope: scope.clone(),
                node: node.id,
                title: t.trim().to_owned(),
            }));
        }
    });
    if renamed.is_some() {
        return renamed;
    }
    if let Some(spec) = spec {
        ui.label(spec.doc);
        if !spec.paper.is_empty() {
            ui.weak(spec.paper);
        }
    }
    if let Some(r) = report.and_then(|r| r.node(node.id)) {
        ui.label(format!("{} parameters", r.params));
    }
    let mut edit = None;
    if let Some(report) = report {
        for d in report.diagnostics_for(node.id) {
            ui.colored_label(ERROR, &d.message);
            if let Some(f) = &d.fix {
                match f
                    .action
                    .as_ref()
                    .and_then(|a| fix_edit(&document.project, scope, node.id, a))
                {
                    Some(e) => {
                        if ui.button(format!("Fix: {}", f.label)).clicked() {
                            edit = Some(InspectorEdit::from(e));
                        }
                    }
                    None => {
                        ui.weak(format!("fix: {}", f.label));
                    }
                }
            }
        }
    }
    ui.separator();
    if let Some(b) = &node.block {
        let def = document.project.block(b);
        if let Some(d) = def {
            let mut renamed = None;
            ui.horizontal(|ui| {
                ui.label("block name");
                let id = egui::Id::new(("strata-block-name", b.as_str()));
                if let Some(n) = committed_text(ui, id, &d.name, "Renames the block everywhere it is used") {
                    renamed = Some(InspectorEdit::from(Edit::RenameBlock {
                        id: b.clone(),
                        name: n.trim().to_owned(),
                    }));
                }
            });
            if renamed.is_some() {
                return renamed;
            }
        }
        ui.label(format!(
            "Block '{}'{}",
            def.map_or(b.as_str(), |d| d.name.as_str()),
            def.map(|d| format!(" — {} nodes inside", d.graph.nodes.len()))
                .unwrap_or_default()
        ));
        ui.horizontal(|ui| {
            ui.label("repeat")
                .on_hover_text("How many chained copies of the block this node stands for");
            let mut r = node.repeat;
            let resp = ui.add(egui::DragValue::new(&mut r).range(1..=256));
            if resp.changed() {
                edit = Some(InspectorEdit {
                    edit: Edit::SetRepeat {
                        scope: scope.clone(),
                        node: node.id,
                        repeat: r.max(1),
                    },
                    merge: (resp.dragged() || resp.has_focus()).then(|| format!("{scope:?}/{}/repeat", node.id)),
                    fresh: resp.drag_started(),
                });
            }
        });
        return edit;
    }
    let spec = spec?;
    for p in spec.params {
        let current = node.params.get(p.name).cloned().unwrap_or_else(|| p.default.to_value());
        let mut gesture: Option<(bool, bool)> = None;
        ui.horizontal(|ui| {
            if !matches!(p.kind, ParamKind::Bool) {
                ui.label(p.name).on_hover_text(p.tooltip);
            }
            let id = egui::Id::new(("strata-param", node.id, p.name));
            let (new, g) = match p.kind {
                ParamKind::Block { .. } => (block_picker(ui, id, &document.project, scope, p, &current), None),
                _ => param_widget(ui, id, p, &current),
            };
            gesture = g;
            if let Some(value) = new {
                let (merge, fresh) = gesture.unwrap_or((false, false));
                edit = Some(InspectorEdit {
                    edit: Edit::SetParam {
                        scope: scope.clone(),
                        node: node.id,
                        name: p.name.to_owned(),
                        value: Some(value),
                    },
                    merge: merge.then(|| format!("{scope:?}/{}/{}", node.id, p.name)),
                    fresh,
                });
            }
        });
    }
    edit
}

/// Label of the empty choice of a block picker.
pub const NO_BLOCK: &str = "(built in)";

/// A combo of the project's blocks (by name) for a block-reference parameter; the empty choice
/// is the layer's built-in default; the block being edited is not offered (it would contain
/// itself). Returns the new block id when changed.
fn block_picker(
    ui: &mut egui::Ui,
    id: egui::Id,
    project: &doc::Project,
    scope: &Scope,
    p: &catalog::ParamSpec,
    current: &ParamValue,
) -> Option<ParamValue> {
    let mut v = current.as_text().unwrap_or_default().to_owned();
    let before = v.clone();
    let shown = if v.is_empty() {
        NO_BLOCK.to_owned()
    } else {
        project
            .block(&v)
            .map_or_else(|| format!("{v} (missing)"), |b| b.name.clone())
    };
    egui::ComboBox::from_id_salt(id)
        .selected_text(shown)
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut v, String::new(), NO_BLOCK);
            for b in &project.blocks {
                if matches!(scope, Scope::Block(open) if *open == b.id) {
                    continue;
                }
                ui.selectable_value(&mut v, b.id.clone(), &b.name);
            }
        })
        .response
        .on_hover_text(p.tooltip);
    (v != before).then_some(ParamValue::Text(v))
}

/// The widget for one typed parameter (of a layer or a recipe): a drag value, slider, checkbox,
/// combo or checked text field. Returns the new value when changed, and for drags whether the
/// widget is being dragged or typed in (edits merge into one undo step) and whether this is the
/// first edit of a new drag.
pub fn param_widget(
    ui: &mut egui::Ui,
    id: egui::Id,
    p: &catalog::ParamSpec,
    current: &ParamValue,
) -> (Option<ParamValue>, Option<(bool, bool)>) {
    let mut gesture = None;
    let new = match p.kind {
        ParamKind::Int { min, max } => {
            let mut v = current.as_int().unwrap_or(0);
            let r = ui.add(egui::DragValue::new(&mut v).range(min..=max));
            gesture = Some((r.dragged() || r.has_focus(), r.drag_started()));
            r.on_hover_text(p.tooltip).changed().then_some(ParamValue::Int(v))
        }
        ParamKind::Float { min, max } => {
            let mut v = current.as_float().unwrap_or(0.0);
            let r = if max - min <= 10.0 {
                ui.add(egui::Slider::new(&mut v, min..=max))
            } else {
                ui.add(egui::DragValue::new(&mut v).range(min..=max).speed(0.01))
            };
            gesture = Some((r.dragged() || r.has_focus(), r.drag_started()));
            r.on_hover_text(p.tooltip).changed().then_some(ParamValue::Float(v))
        }
        ParamKind::Bool => {
            let mut v = current.as_bool().unwrap_or(false);
            ui.checkbox(&mut v, p.name)
                .on_hover_text(p.tooltip)
                .changed()
                .then_some(ParamValue::Bool(v))
        }
        ParamKind::Choice(options) => {
            let mut v = current.as_text().unwrap_or_default().to_owned();
            let before = v.clone();
            egui::ComboBox::from_id_salt(id).selected_text(&v).show_ui(ui, |ui| {
                for o in options {
                    ui.selectable_value(&mut v, (*o).to_owned(), *o);
                }
            });
            (v != before).then_some(ParamValue::Text(v))
        }
        ParamKind::Shape | ParamKind::Ints | ParamKind::Text | ParamKind::Block { .. } => {
            let (new, error) = text_param(ui, id, p, current);
            if let Some(e) = error {
                ui.colored_label(ERROR, e);
            }
            new
        }
    };
    (new, gesture)
}
