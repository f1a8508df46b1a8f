//! The node editor: one `SnarlViewer` that asks the catalog for everything (titles, ports,
//! parameters) and turns every change into a document [`Edit`], so undo covers the canvas.

use crate::catalog::{self, Category, ParamKind};
use crate::doc::{self, Edit, NodeId, ParamValue, Scope, Wire};
use crate::shape::{Report, Severity};
use crate::workspace::Document;
use egui::{Color32, Pos2};
use egui_snarl::ui::{PinInfo, SnarlPin, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, OutPin, Snarl};
use std::collections::HashMap;

/// A canvas node: which document node it shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanvasNode(pub NodeId);

/// The canvas and what it mirrors.
pub struct Editor {
    snarl: Snarl<CanvasNode>,
    by_doc: HashMap<NodeId, egui_snarl::NodeId>,
    /// The project the canvas was built from (to notice undo, redo and loads).
    mirrored: Option<doc::Graph>,
    /// The node the inspector shows.
    pub selected: Option<NodeId>,
}

impl Default for Editor {
    fn default() -> Self {
        Editor {
            snarl: Snarl::new(),
            by_doc: HashMap::new(),
            mirrored: None,
            selected: None,
        }
    }
}

/// The colour of a category (design tokens for node headers and pins).
pub fn category_color(c: Category) -> Color32 {
    match c {
        Category::Io => Color32::from_rgb(120, 120, 130),
        Category::Core => Color32::from_rgb(70, 130, 200),
        Category::Convolution => Color32::from_rgb(60, 160, 120),
        Category::Pooling => Color32::from_rgb(80, 150, 150),
        Category::Normalization => Color32::from_rgb(150, 120, 200),
        Category::Activation => Color32::from_rgb(220, 160, 60),
        Category::Shape | Category::Math => Color32::from_rgb(140, 140, 100),
        Category::Embedding => Color32::from_rgb(200, 100, 140),
        Category::Attention => Color32::from_rgb(230, 110, 80),
        Category::Recurrent => Color32::from_rgb(100, 180, 220),
        Category::Graph => Color32::from_rgb(120, 200, 120),
        Category::Generative => Color32::from_rgb(200, 140, 220),
        Category::Loss => Color32::from_rgb(220, 80, 80),
        Category::Block => Color32::from_rgb(180, 180, 200),
    }
}

impl Editor {
    /// Rebuilds the canvas when the document's graph changed outside the canvas.
    pub fn sync(&mut self, document: &Document) {
        if self.mirrored.as_ref() == Some(&document.project.graph) {
            return;
        }
        let g = &document.project.graph;
        self.snarl = Snarl::new();
        self.by_doc.clear();
        for n in &g.nodes {
            let id = self.snarl.insert_node(Pos2::new(n.pos[0], n.pos[1]), CanvasNode(n.id));
            self.by_doc.insert(n.id, id);
        }
        for w in &g.wires {
            let (Some(&a), Some(&b)) = (self.by_doc.get(&w.from), self.by_doc.get(&w.to)) else {
                continue;
            };
            let (Some(na), Some(nb)) = (g.node(w.from), g.node(w.to)) else {
                continue;
            };
            let Some((_, outs)) = catalog::node_ports(&document.project, na) else {
                continue;
            };
            let Some((ins, _)) = catalog::node_ports(&document.project, nb) else {
                continue;
            };
            let (Some(o), Some(i)) = (
                outs.iter().position(|p| p.name == w.out),
                ins.iter().position(|p| p.name == w.input),
            ) else {
                continue;
            };
            self.snarl.connect(
                egui_snarl::OutPinId { node: a, output: o },
                egui_snarl::InPinId { node: b, input: i },
            );
        }
        if self.selected.is_some_and(|s| g.node(s).is_none()) {
            self.selected = None;
        }
        self.mirrored = Some(g.clone());
    }

    /// Shows the canvas; returns the edits the user made on it this frame.
    pub fn show(&mut self, ui: &mut egui::Ui, document: &Document, report: &Report) -> Vec<Edit> {
        let mut viewer = Viewer {
            document,
            report,
            edits: Vec::new(),
            selected: self.selected,
        };
        SnarlWidget::new()
            .id_salt("strata-canvas")
            .show(&mut self.snarl, &mut viewer, ui);
        self.selected = viewer.selected;
        let mut edits = viewer.edits;
        // Moves become edits once the drag ends, so one drag is one undo step.
        if !ui.input(|i| i.pointer.any_down()) {
            for (id, pos, node) in self.snarl.nodes_pos_ids() {
                let _ = id;
                if let Some(n) = document.project.graph.node(node.0)
                    && (n.pos[0] - pos.x).abs() + (n.pos[1] - pos.y).abs() > 0.5
                {
                    edits.push(Edit::Move {
                        scope: Scope::Root,
                        node: node.0,
                        pos: [pos.x, pos.y],
                    });
                }
            }
        }
        edits
    }
}

struct Viewer<'a> {
    document: &'a Document,
    report: &'a Report,
    edits: Vec<Edit>,
    selected: Option<NodeId>,
}

impl Viewer<'_> {
    fn ports(&self, node: &CanvasNode) -> (catalog::PortList, catalog::PortList) {
        self.document
            .project
            .graph
            .node(node.0)
            .and_then(|n| catalog::node_ports(&self.document.project, n))
            .unwrap_or_default()
    }

    fn color(&self, node: &CanvasNode) -> Color32 {
        let Some(n) = self.document.project.graph.node(node.0) else {
            return Color32::GRAY;
        };
        if n.is_block() {
            return category_color(Category::Block);
        }
        catalog::catalog()
            .get(&n.kind)
            .map_or(Color32::DARK_RED, |s| category_color(s.category))
    }

    fn wire(&self, from: &OutPin, to: &InPin, snarl: &Snarl<CanvasNode>) -> Option<Wire> {
        let (a, b) = (snarl.get_node(from.id.node)?, snarl.get_node(to.id.node)?);
        let out = self.ports(a).1.get(from.id.output)?.name.to_string();
        let input = self.ports(b).0.get(to.id.input)?.name.to_string();
        Some(Wire::new(a.0, &out, b.0, &input))
    }
}

impl SnarlViewer<CanvasNode> for Viewer<'_> {
    fn title(&mut self, node: &CanvasNode) -> String {
        self.document
            .project
            .graph
            .node(node.0)
            .map(|n| catalog::display_title(&self.document.project, n))
            .unwrap_or_default()
    }

    fn show_header(
        &mut self,
        node: egui_snarl::NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<CanvasNode>,
    ) {
        let n = snarl[node];
        let title = self.title(&n);
        let errors = self
            .report
            .diagnostics_for(n.0)
            .filter(|d| d.severity == Severity::Error)
            .count();
        let params = self.report.node(n.0).map_or(0, |r| r.params);
        let mut text = egui::RichText::new(title).strong().color(self.color(&n));
        if errors > 0 {
            text = text.color(Color32::from_rgb(240, 80, 80));
        }
        if ui.selectable_label(self.selected == Some(n.0), text).clicked() {
            self.selected = Some(n.0);
        }
        if params > 0 {
            ui.weak(format!("{params} params"));
        }
    }

    fn inputs(&mut self, node: &CanvasNode) -> usize {
        self.ports(node).0.len()
    }

    fn outputs(&mut self, node: &CanvasNode) -> usize {
        self.ports(node).1.len()
    }

    fn show_input(&mut self, pin: &InPin, ui: &mut egui::Ui, snarl: &mut Snarl<CanvasNode>) -> impl SnarlPin + 'static {
        let node = snarl[pin.id.node];
        let ports = self.ports(&node).0;
        let name = ports.get(pin.id.input).map(|p| p.name.to_string()).unwrap_or_default();
        let problem = self
            .report
            .diagnostics_for(node.0)
            .any(|d| d.port.as_deref() == Some(name.as_str()));
        ui.label(if problem {
            egui::RichText::new(&name).color(Color32::from_rgb(240, 80, 80))
        } else {
            name.into()
        });
        PinInfo::circle().with_fill(self.color(&node))
    }

    fn show_output(
        &mut self,
        pin: &OutPin,
        ui: &mut egui::Ui,
        snarl: &mut Snarl<CanvasNode>,
    ) -> impl SnarlPin + 'static {
        let node = snarl[pin.id.node];
        let ports = self.ports(&node).1;
        let name = ports.get(pin.id.output).map(|p| p.name.to_string()).unwrap_or_default();
        let shape = self
            .report
            .output_type(node.0, &name)
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into());
        ui.label(egui::RichText::new(shape).monospace());
        PinInfo::circle().with_fill(self.color(&node))
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<CanvasNode>) {
        if let Some(wire) = self.wire(from, to, snarl) {
            // One wire per input: replace what was there.
            for old in self
                .document
                .project
                .graph
                .wires_into(wire.to)
                .filter(|w| w.input == wire.input)
            {
                self.edits.push(Edit::RemoveWire {
                    scope: Scope::Root,
                    wire: old.clone(),
                });
            }
            self.edits.push(Edit::AddWire {
                scope: Scope::Root,
                wire,
            });
        }
    }

    fn disconnect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<CanvasNode>) {
        if let Some(wire) = self.wire(from, to, snarl) {
            self.edits.push(Edit::RemoveWire {
                scope: Scope::Root,
                wire,
            });
        }
    }

    fn has_node_menu(&mut self, _node: &CanvasNode) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: egui_snarl::NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<CanvasNode>,
    ) {
        if ui.button("Delete").clicked() {
            self.edits.push(Edit::RemoveNode {
                scope: Scope::Root,
                id: snarl[node].0,
            });
            ui.close();
        }
    }
}

/// The palette: kinds by category; a click adds the kind at `at`.
pub fn palette(ui: &mut egui::Ui, filter: &mut String, document: &mut Document, at: [f32; 2]) -> Option<Edit> {
    ui.heading("Layers");
    ui.text_edit_singleline(filter);
    let needle = filter.to_lowercase();
    let mut chosen = None;
    egui::ScrollArea::vertical().show(ui, |ui| {
        for c in Category::ALL {
            let kinds: Vec<_> = catalog::catalog()
                .in_category(c)
                .filter(|s| !s.id.starts_with("port_"))
                .filter(|s| needle.is_empty() || s.name.to_lowercase().contains(&needle) || s.id.contains(&needle))
                .collect();
            if kinds.is_empty() {
                continue;
            }
            egui::CollapsingHeader::new(egui::RichText::new(c.name()).color(category_color(c)))
                .default_open(!needle.is_empty() || matches!(c, Category::Io | Category::Core))
                .show(ui, |ui| {
                    for s in kinds {
                        if ui.button(s.name).on_hover_text(s.doc).clicked() {
                            chosen = Some(s.id);
                        }
                    }
                });
        }
    });
    let kind = chosen?;
    let mut node = catalog::default_node(kind)?;
    node.pos = at;
    Edit::add_node(&mut document.project, Scope::Root, node)
        .ok()
        .map(|(e, _)| e)
}

/// The inspector: the selected node's parameters, generated from its kind's specs.
pub fn inspector(ui: &mut egui::Ui, document: &Document, report: &Report, selected: Option<NodeId>) -> Option<Edit> {
    let node = selected.and_then(|id| document.project.graph.node(id))?;
    let spec = catalog::catalog().get(&node.kind);
    ui.heading(catalog::display_title(&document.project, node));
    if let Some(spec) = spec {
        ui.label(spec.doc);
        if !spec.paper.is_empty() {
            ui.weak(spec.paper);
        }
    }
    if let Some(r) = report.node(node.id) {
        ui.label(format!("{} parameters", r.params));
    }
    for d in report.diagnostics_for(node.id) {
        ui.colored_label(Color32::from_rgb(240, 80, 80), &d.message);
        if let Some(f) = &d.fix {
            ui.weak(format!("fix: {}", f.label));
        }
    }
    ui.separator();
    let spec = spec?;
    let mut edit = None;
    for p in spec.params {
        let current = node.params.get(p.name).cloned().unwrap_or_else(|| p.default.to_value());
        ui.horizontal(|ui| {
            ui.label(p.name).on_hover_text(p.tooltip);
            let new = match p.kind {
                ParamKind::Int { min, max } => {
                    let mut v = current.as_int().unwrap_or(0);
                    ui.add(egui::DragValue::new(&mut v).range(min..=max))
                        .changed()
                        .then_some(ParamValue::Int(v))
                }
                ParamKind::Float { min, max } => {
                    let mut v = current.as_float().unwrap_or(0.0);
                    ui.add(egui::DragValue::new(&mut v).range(min..=max).speed(0.01))
                        .changed()
                        .then_some(ParamValue::Float(v))
                }
                ParamKind::Bool => {
                    let mut v = current.as_bool().unwrap_or(false);
                    ui.checkbox(&mut v, "").changed().then_some(ParamValue::Bool(v))
                }
                ParamKind::Choice(options) => {
                    let mut v = current.as_text().unwrap_or_default().to_owned();
                    let before = v.clone();
                    egui::ComboBox::from_id_salt(p.name)
                        .selected_text(&v)
                        .show_ui(ui, |ui| {
                            for o in options {
                                ui.selectable_value(&mut v, (*o).to_owned(), *o);
                            }
                        });
                    (v != before).then_some(ParamValue::Text(v))
                }
                _ => {
                    ui.monospace(current.to_string());
                    None
                }
            };
            if let Some(value) = new {
                edit = Some(Edit::SetParam {
                    scope: Scope::Root,
                    node: node.id,
                    name: p.name.to_owned(),
                    value: Some(value),
                });
            }
        });
    }
    edit
}
