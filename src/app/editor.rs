//! The node editor: one `SnarlViewer` that asks the catalog for everything (titles, ports,
//! parameters) and turns every change into a document [`Edit`], so undo covers the canvas.
//!
//! The canvas shows one scope at a time (the top-level graph or the inside of a block); nodes
//! are coloured by category with an icon, wires carry their symbolic shape, problems are drawn
//! on the node with a one-click fix where the checker has one.

use super::icons;
use crate::catalog::{self, Category, DType, FixAction};
use crate::doc::{self, Edit, Node, NodeId, Project, Scope, Wire};
use crate::shape::{Report, Severity};
use crate::workspace::Document;
use egui::emath::TSTransform;
use egui::{Color32, Pos2, Rect, Stroke};
use egui_snarl::ui::{AnyPins, PinInfo, SnarlPin, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, OutPin, Snarl};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// A canvas node: which document node it shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CanvasNode(pub NodeId);

/// The drag payload of a palette entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaletteKind(pub &'static str);

/// The id of the canvas (the minimap and the widget's states derive from it).
pub fn canvas_id() -> egui::Id {
    egui::Id::new("strata-canvas")
}

/// What a dropped wire came from, to filter the node search and connect the new node.
#[derive(Clone, Debug, PartialEq)]
pub enum WireEnd {
    /// An output port of a node (the new node's first accepting input is wired to it).
    Out(NodeId, String, Option<DType>),
    /// An input port (the new node's first output is wired into it).
    In(NodeId, String),
}

/// The fuzzy node search (Space, Tab or double-click on the canvas).
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    /// Where the new node goes, in graph space.
    pub at: Pos2,
    /// Where the popup shows, in screen space.
    pub screen: Pos2,
    /// What the user typed.
    pub text: String,
    /// Frames it has been open.
    pub age: u32,
}

/// The canvas and what it mirrors.
pub struct Editor {
    snarl: Snarl<CanvasNode>,
    by_doc: HashMap<NodeId, egui_snarl::NodeId>,
    /// The scope and graph the canvas was built from (to notice undo, redo and loads).
    mirrored: Option<(Scope, doc::Graph)>,
    /// The scope shown: the top-level graph or a block's inside.
    pub scope: Scope,
    /// Selected nodes (click a title; shift-click adds; shift-drag selects a rectangle).
    pub selection: BTreeSet<NodeId>,
    /// The node the inspector shows.
    pub selected: Option<NodeId>,
    transform: TSTransform,
    viewport: Rect,
    fit: Option<bool>,
    rects: HashMap<NodeId, Rect>,
    out_pins: HashMap<(NodeId, usize), Pos2>,
    in_pins: HashMap<(NodeId, usize), Pos2>,
    layer: Option<egui::LayerId>,
    snarl_selection: Vec<egui_snarl::NodeId>,
    /// The open node search, if any.
    pub search: Option<Search>,
    /// Set when the user asked to open a block instance.
    pub open_block: Option<String>,
    /// The nodes that are widgets on the canvas (`None`: all of them).
    shown: Option<BTreeSet<NodeId>>,
    dragging: bool,
    zoom_to: Option<TSTransform>,
    /// Where the minimap is (screen), when shown.
    pub minimap_rect: Option<Rect>,
    /// The part of the graph the minimap shows (graph space), when shown.
    pub minimap_world: Option<Rect>,
    widget_nodes: Vec<NodeId>,
    generation: u64,
    /// Fit once more when the nodes have been measured (the first fit uses estimated sizes).
    refit: Option<bool>,
    /// Block instances shown opened in place (their inside drawn within the node).
    pub expanded: BTreeSet<NodeId>,
}

/// Above this many nodes, only nodes near the view are widgets.
const CULL_ABOVE: usize = 150;
/// Below this zoom, a large graph is drawn as an overview (boxes and lines; zoom in to edit).
const OVERVIEW_BELOW: f32 = 0.4;

impl Default for Editor {
    fn default() -> Self {
        Editor {
            snarl: Snarl::new(),
            by_doc: HashMap::new(),
            mirrored: None,
            scope: Scope::Root,
            selection: BTreeSet::new(),
            selected: None,
            transform: TSTransform::IDENTITY,
            viewport: Rect::NOTHING,
            fit: Some(false),
            rects: HashMap::new(),
            out_pins: HashMap::new(),
            in_pins: HashMap::new(),
            layer: None,
            snarl_selection: Vec::new(),
            search: None,
            open_block: None,
            shown: None,
            dragging: false,
            zoom_to: None,
            minimap_rect: None,
            minimap_world: None,
            widget_nodes: Vec::new(),
            generation: 0,
            refit: Some(false),
            expanded: BTreeSet::new(),
        }
    }
}

/// The colour of a category (design tokens for node headers and pins).
pub fn category_color(c: Category) -> Color32 {
    let [r, g, b] = c.rgb();
    Color32::from_rgb(r, g, b)
}

pub(super) const ERROR: Color32 = Color32::from_rgb(240, 80, 80);

/// The category of a node (blocks have their own).
pub(super) fn node_category(n: &Node) -> Option<Category> {
    catalog::node_category(n)
}

/// A short summary of a node's non-default parameters ("256 → relu").
pub fn param_summary(n: &Node) -> String {
    catalog::param_summary(n)
}

/// Scores how well `needle` matches `hay` as a subsequence (higher is better; `None`: no match).
pub fn fuzzy_score(needle: &str, hay: &str) -> Option<i32> {
    if needle.is_empty() {
        return Some(0);
    }
    let hay_l = hay.to_lowercase();
    let needle_l = needle.to_lowercase();
    if let Some(i) = hay_l.find(&needle_l) {
        return Some(1000 - i as i32 * 10 - hay.len() as i32);
    }
    let hc: Vec<char> = hay_l.chars().collect();
    let orig: Vec<char> = hay.chars().collect();
    let mut score = 0;
    let mut j = 0;
    let mut last = None;
    for c in needle_l.chars() {
        while j < hc.len() && hc[j] != c {
            j += 1;
        }
        if j == hc.len() {
            return None;
        }
        score += match last {
            Some(l) if l + 1 == j => 15,
            _ => 5,
        };
        // Word starts score more: after a separator, or a capital in CamelCase.
        let capital = orig.get(j).is_some_and(|c| c.is_uppercase()) && j > 0 && orig[j - 1].is_lowercase();
        if j == 0 || !hc[j - 1].is_alphanumeric() || capital {
            score += 10;
        }
        last = Some(j);
        j += 1;
    }
    Some(score - hay.len() as i32)
}

/// Kinds matching `text` best first, optionally only those that can take a wire from `from`.
pub fn search_kinds(text: &str, from: Option<&WireEnd>) -> Vec<&'static catalog::LayerSpec> {
    let mut hits: Vec<(i32, &'static catalog::LayerSpec)> = catalog::catalog()
        .all()
        .iter()
        .filter(|s| !s.id.starts_with("port_"))
        .filter(|s| match from {
            None => true,
            Some(end) => catalog::default_node(s.id).is_some_and(|n| accepting_port(&n, end).is_some()),
        })
        .filter_map(|s| {
            let a = fuzzy_score(text, s.name);
            let b = fuzzy_score(text, s.id).map(|x| x - 5);
            a.max(b).map(|x| (x, s))
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(b.1.name)));
    hits.into_iter().map(|(_, s)| s).collect()
}

/// The port of a new node `n` that a dropped wire connects to.
fn accepting_port(n: &Node, end: &WireEnd) -> Option<String> {
    let (ins, outs) = catalog::node_ports(&Project::new(""), n)?;
    match end {
        WireEnd::Out(_, _, dtype) => ins
            .iter()
            .find(|p| dtype.is_none_or(|d| p.accept.accepts(d)))
            .map(|p| p.name.to_string()),
        WireEnd::In(..) => outs.first().map(|p| p.name.to_string()),
    }
}

/// The edits that add a node of `kind` at `at` in `scope` (and wire it to `from`).
pub fn add_kind(document: &mut Document, scope: &Scope, kind: &str, at: Pos2, from: Option<&WireEnd>) -> Option<Edit> {
    let mut node = catalog::default_node(kind)?;
    node.pos = [at.x, at.y];
    let port = from.and_then(|end| accepting_port(&node, end));
    let (add, id) = Edit::add_node(&mut document.project, scope.clone(), node).ok()?;
    let wire = match (from, port) {
        (Some(WireEnd::Out(src, out, _)), Some(p)) => Some(Wire::new(*src, out, id, &p)),
        (Some(WireEnd::In(dst, input)), Some(p)) => Some(Wire::new(id, &p, *dst, input)),
        _ => None,
    };
    let mut edits = vec![add];
    if let Some(w) = wire {
        if let (Some(WireEnd::In(dst, input)), Some(g)) = (from, doc::graph_in(&document.project, scope)) {
            for old in g.wires_into(*dst).filter(|w| &w.input == input) {
                edits.push(Edit::RemoveWire {
                    scope: scope.clone(),
                    wire: old.clone(),
                });
            }
        }
        edits.push(Edit::AddWire {
            scope: scope.clone(),
            wire: w,
        });
    }
    Some(if edits.len() == 1 {
        edits.remove(0)
    } else {
        Edit::Batch(edits)
    })
}

/// The edit that carries out the checker's one-click fix for `node`.
/// `None` when it cannot be done in one click here (a problem inside a block is reported on the
/// instance; its fix applies inside the block, where the canvas offers it).
pub fn fix_edit(project: &Project, scope: &Scope, node: NodeId, action: &FixAction) -> Option<Edit> {
    if doc::graph_in(project, scope)?.node(node)?.is_block() {
        return None;
    }
    match action {
        FixAction::SetParam { name, value } => Some(Edit::SetParam {
            scope: scope.clone(),
            node,
            name: (*name).to_owned(),
            value: Some(value.clone()),
        }),
        FixAction::InsertBefore { port, kind, params } => {
            let g = doc::graph_in(project, scope)?;
            let target = g.node(node)?;
            let old = g.wires_into(node).find(|w| &w.input == port)?.clone();
            let mut new = catalog::default_node(kind)?;
            for (k, v) in params {
                new.params.insert((*k).to_owned(), v.clone());
            }
            new.pos = [target.pos[0] - 60.0, target.pos[1] + 90.0];
            let id = NodeId(g.next_id);
            new.id = id;
            let (ins, outs) = catalog::node_ports(project, &new)?;
            let (i, o) = (ins.first()?.name.to_string(), outs.first()?.name.to_string());
            Some(Edit::Batch(vec![
                Edit::AddNode {
                    scope: scope.clone(),
                    node: new,
                },
                Edit::RemoveWire {
                    scope: scope.clone(),
                    wire: old.clone(),
                },
                Edit::AddWire {
                    scope: scope.clone(),
                    wire: Wire::new(old.from, &old.out, id, &i),
                },
                Edit::AddWire {
                    scope: scope.clone(),
                    wire: Wire::new(id, &o, node, port),
                },
            ]))
        }
    }
}

/// What the canvas shows besides the graph: live activity while training.
#[derive(Default)]
pub struct Live<'a> {
    /// Recent mean |output| per node (sparklines).
    pub activity: Option<&'a HashMap<NodeId, VecDeque<f32>>>,
    /// The watched node and its feature-map thumbnail.
    pub thumbnail: Option<(NodeId, &'a egui::TextureHandle)>,
    /// Output nodes showing the latest picture of a recipe view (a generator's samples).
    pub pictures: &'a [(NodeId, egui::TextureHandle)],
    /// The latest timing pass: each node's share of the step, and the measured times.
    pub cost: Option<(&'a HashMap<NodeId, f32>, &'a [crate::engine::profile::NodeCost])>,
}

impl Editor {
    /// Shows another scope (the top-level graph or a block's inside).
    pub fn set_scope(&mut self, scope: Scope) {
        if scope != self.scope {
            self.scope = scope;
            self.selection.clear();
            self.selected = None;
            self.mirrored = None;
            self.fit = Some(true);
            self.refit = Some(true);
        }
    }

    /// The id of the egui-snarl widget state for the current set of nodes.
    fn widget_id(&self) -> egui::Id {
        canvas_id().with(self.generation)
    }

    /// The canvas size in graph units at zoom 1 (what auto-layout aims to fill).
    pub fn view_size(&self) -> [f32; 2] {
        if self.viewport.is_positive() {
            [self.viewport.width(), self.viewport.height()]
        } else {
            doc::LayoutOptions::default().view
        }
    }

    /// The size a node was last drawn at (graph units), if it has been drawn.
    pub fn measured_size(&self, id: NodeId) -> Option<[f32; 2]> {
        self.rects.get(&id).map(|r| [r.width(), r.height()])
    }

    /// Fits the whole graph in view on the next frame.
    pub fn fit_view(&mut self) {
        self.fit = Some(true);
        self.refit = Some(true);
    }

    /// Forgets the view and selection (another document was opened).
    pub fn reset(&mut self) {
        *self = Editor::default();
    }

    /// The graph shown.
    pub fn graph<'a>(&self, project: &'a Project) -> Option<&'a doc::Graph> {
        doc::graph_in(project, &self.scope)
    }

    /// Rebuilds the canvas when the document's graph changed outside the canvas.
    pub fn sync(&mut self, document: &Document) {
        if doc::graph_in(&document.project, &self.scope).is_none() {
            self.set_scope(Scope::Root);
        }
        let Some(g) = doc::graph_in(&document.project, &self.scope) else {
            return;
        };
        // Large graphs: only nodes near the view become widgets (the rest are painted cheaply).
        let wanted = self.wanted(g);
        let same_graph = self.mirrored.as_ref().is_some_and(|(s, m)| *s == self.scope && m == g);
        if same_graph && (wanted == self.shown || self.dragging) {
            return;
        }
        self.shown = wanted;
        // The widget keeps its selection by its own node ids, which a rebuild hands out afresh:
        // when the set of nodes changes, start a fresh widget state (keeping the view).
        let ids: Vec<NodeId> = g
            .nodes
            .iter()
            .map(|n| n.id)
            .filter(|id| self.shown.as_ref().is_none_or(|s| s.contains(id)))
            .collect();
        if ids != self.widget_nodes {
            self.widget_nodes = ids;
            self.generation += 1;
            if self.fit.is_none() && self.zoom_to.is_none() && self.mirrored.is_some() {
                self.zoom_to = Some(self.transform);
            }
        }
        self.snarl = Snarl::new();
        self.by_doc.clear();
        for n in &g.nodes {
            if self.shown.as_ref().is_some_and(|s| !s.contains(&n.id)) {
                continue;
            }
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
        self.selection.retain(|s| g.node(*s).is_some());
        if self.selected.is_some_and(|s| g.node(s).is_none()) {
            self.selected = None;
        }
        self.rects.retain(|k, _| g.node(*k).is_some());
        self.mirrored = Some((self.scope.clone(), g.clone()));
    }

    /// True when a large graph is zoomed out so far that it is drawn as an overview.
    pub fn overview(&self, g: &doc::Graph) -> bool {
        g.nodes.len() > CULL_ABOVE && self.transform.scaling < OVERVIEW_BELOW
    }

    /// The graph-space rectangle of a node (last drawn size, or a typical one).
    fn node_rect(&self, n: &Node) -> Rect {
        self.rects
            .get(&n.id)
            .copied()
            .unwrap_or_else(|| Rect::from_min_size(Pos2::new(n.pos[0], n.pos[1]), egui::vec2(180.0, 90.0)))
    }

    /// Which nodes should be widgets now (`None`: all).
    fn wanted(&self, g: &doc::Graph) -> Option<BTreeSet<NodeId>> {
        if g.nodes.len() <= CULL_ABOVE || !self.viewport.is_positive() {
            return None;
        }
        if self.overview(g) {
            return Some(BTreeSet::new());
        }
        let view = self.transform.inverse() * self.viewport;
        let view = view.expand2(view.size() * 0.25);
        Some(
            g.nodes
                .iter()
                .filter(|n| self.node_rect(n).intersects(view))
                .map(|n| n.id)
                .collect(),
        )
    }

    /// Paints what is not a widget: the whole graph in overview mode, and wires that leave the
    /// widget set (from the visible pin towards the node off screen).
    fn paint_unshown(&self, ui: &egui::Ui, g: &doc::Graph) -> Option<NodeId> {
        let shown = self.shown.as_ref()?;
        // Screen space, under the widget layer, clipped to the canvas.
        let painter = ui.painter_at(self.viewport);
        let t = self.transform;
        let view = t.inverse() * self.viewport;
        let wire_color = ui.visuals().widgets.noninteractive.fg_stroke.color.gamma_multiply(0.6);
        let overview = shown.is_empty();
        let mut hovered = None;
        let pointer = ui.ctx().pointer_latest_pos().map(|p| self.to_graph(p));
        for w in &g.wires {
            let (Some(a), Some(b)) = (g.node(w.from), g.node(w.to)) else {
                continue;
            };
            if shown.contains(&a.id) && shown.contains(&b.id) {
                continue;
            }
            let (ra, rb) = (self.node_rect(a), self.node_rect(b));
            if !view.intersects(ra.union(rb)) {
                continue;
            }
            let from = self
                .pin_pos(a.id, true, 0)
                .filter(|_| shown.contains(&a.id))
                .unwrap_or(ra.right_center());
            let to = self
                .pin_pos(b.id, false, 0)
                .filter(|_| shown.contains(&b.id))
                .unwrap_or(rb.left_center());
            painter.line_segment([t * from, t * to], Stroke::new(1.5, wire_color));
        }
        if !overview {
            return None;
        }
        let text = t.scaling >= 0.15;
        for n in &g.nodes {
            let r = self.node_rect(n);
            if !view.intersects(r) {
                continue;
            }
            let color = node_category(n).map_or(Color32::DARK_RED, category_color);
            let selected = self.selection.contains(&n.id);
            let sr = t * r;
            // Square corners: a thousand rounded boxes cost more to tessellate than they are worth here.
            painter.rect_filled(sr, 0.0, ui.visuals().window_fill);
            let stroke = if selected {
                Stroke::new(3.0, Color32::from_rgb(250, 200, 80))
            } else {
                Stroke::new(1.5, color)
            };
            painter.rect_stroke(sr, 0.0, stroke, egui::StrokeKind::Inside);
            if text {
                painter.text(
                    sr.left_top() + egui::vec2(4.0, 3.0),
                    egui::Align2::LEFT_TOP,
                    catalog::catalog().get(&n.kind).map_or(n.kind.as_str(), |s| s.name),
                    egui::FontId::proportional((22.0 * t.scaling).max(8.0)),
                    color,
                );
            }
            if pointer.is_some_and(|p| r.contains(p)) {
                hovered = Some(n.id);
            }
        }
        painter.text(
            self.viewport.left_bottom() + egui::vec2(8.0, -8.0),
            egui::Align2::LEFT_BOTTOM,
            "Overview — zoom in (or double-click a node) to edit",
            egui::FontId::proportional(13.0),
            ui.visuals().weak_text_color(),
        );
        hovered
    }

    /// A map of the whole graph in the canvas corner with the visible part framed; click or drag
    /// on it to move the view there.
    fn minimap(&mut self, ui: &mut egui::Ui, g: &doc::Graph) {
        self.minimap_rect = None;
        if g.nodes.len() < 2 || !self.viewport.is_positive() {
            return;
        }
        let mut bounds = Rect::NOTHING;
        for n in &g.nodes {
            bounds = bounds.union(self.node_rect(n));
        }
        let view = self.transform.inverse() * self.viewport;
        // Nothing to navigate when everything is in view.
        if view.contains_rect(bounds) {
            self.minimap_rect = None;
            return;
        }
        let world = bounds.union(view).expand(40.0);
        let size = egui::vec2(200.0, 120.0);
        let scale = (size.x / world.width()).min(size.y / world.height());
        let used = world.size() * scale;
        let at = self.viewport.right_bottom() - used - egui::vec2(10.0, 10.0);
        let mut clicked = None;
        let mut shown_at = None;
        // Its own area above the canvas layer, so the canvas does not take its clicks.
        egui::Area::new(canvas_id().with("minimap"))
            .order(egui::Order::Middle)
            .fixed_pos(at)
            .show(ui.ctx(), |ui| {
                let (rect, resp) = ui.allocate_exact_size(used, egui::Sense::click_and_drag());
                shown_at = Some(rect);
                let to_map = |p: Pos2| rect.min + (p - world.min) * scale;
                let painter = ui.painter();
                painter.rect_filled(
                    rect.expand(2.0),
                    3.0,
                    ui.visuals().extreme_bg_color.gamma_multiply(0.92),
                );
                painter.rect_stroke(
                    rect.expand(2.0),
                    3.0,
                    ui.visuals().widgets.noninteractive.bg_stroke,
                    egui::StrokeKind::Outside,
                );
                for n in &g.nodes {
                    let r = self.node_rect(n);
                    let color = node_category(n).map_or(Color32::DARK_RED, category_color);
                    let m = Rect::from_min_max(to_map(r.min), to_map(r.max));
                    painter.rect_filled(m.expand(0.5), 0.0, color.gamma_multiply(0.8));
                }
                let frame = Rect::from_min_max(to_map(view.min), to_map(view.max)).intersect(rect);
                painter.rect_stroke(
                    frame,
                    0.0,
                    Stroke::new(1.5, Color32::from_rgb(250, 200, 80)),
                    egui::StrokeKind::Inside,
                );
                if (resp.clicked() || resp.dragged())
                    && let Some(p) = resp.interact_pointer_pos()
                {
                    clicked = Some(world.min + (p - rect.min) / scale);
                }
                resp.on_hover_text("The whole graph: click or drag to move the view");
            });
        self.minimap_rect = shown_at;
        self.minimap_world = shown_at.map(|_| world);
        if let Some(target) = clicked {
            let s = self.transform.scaling;
            self.zoom_to = Some(TSTransform::new(
                self.viewport.center().to_vec2() - target.to_vec2() * s,
                s,
            ));
            ui.ctx().request_repaint();
        }
    }

    /// Screen position → graph position.
    pub fn to_graph(&self, p: Pos2) -> Pos2 {
        self.transform.inverse() * p
    }

    /// Where a pin was drawn last frame, in graph space (`output`: right edge, else left edge).
    pub fn pin_pos(&self, node: NodeId, output: bool, index: usize) -> Option<Pos2> {
        let rect = self.rects.get(&node)?;
        if output {
            self.out_pins.get(&(node, index)).map(|p| Pos2::new(rect.right(), p.y))
        } else {
            self.in_pins.get(&(node, index)).map(|p| Pos2::new(rect.left(), p.y))
        }
    }

    /// The canvas zoom.
    pub fn zoom(&self) -> f32 {
        self.transform.scaling
    }

    /// The graph-space rectangle the canvas shows.
    pub fn visible_graph_rect(&self) -> Rect {
        self.transform.inverse() * self.viewport
    }

    /// Graph space → screen.
    pub fn to_screen(&self, p: Pos2) -> Pos2 {
        self.transform * p
    }

    /// Selects every node of the shown scope.
    pub fn select_all(&mut self, document: &Document) {
        if let Some(g) = self.graph(&document.project) {
            self.selection = g.nodes.iter().map(|n| n.id).collect();
        }
    }

    /// Shows the canvas; returns the edits the user made on it this frame.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        document: &Document,
        report: Option<&Report>,
        live: &Live<'_>,
    ) -> (Vec<Edit>, Option<WireEndMenu>) {
        self.viewport = ui.available_rect_before_wrap();
        let fit = self
            .fit
            .take()
            .map(|all| self.fit_transform(document, all))
            .or(self.zoom_to.take());
        let widget_id = self.widget_id();
        let mut viewer = Viewer {
            document,
            report,
            scope: &self.scope,
            edits: Vec::new(),
            clicked: None,
            selection: &self.selection,
            live,
            fit,
            transform: self.transform,
            rects: &mut self.rects,
            out_pins: &mut self.out_pins,
            in_pins: &mut self.in_pins,
            layer: None,
            open_block: None,
            dropped: None,
            next_id: doc::graph_in(&document.project, &self.scope).map_or(0, |g| g.next_id),
            expanded: &mut self.expanded,
        };
        let mut style = egui_snarl::ui::SnarlStyle::new();
        style.pin_placement = Some(egui_snarl::ui::PinPlacement::Edge);
        style.collapsible = Some(false);
        style.min_scale = Some(0.05);
        let resp = SnarlWidget::new()
            .id(widget_id)
            .style(style)
            .show(&mut self.snarl, &mut viewer, ui);
        let Viewer {
            edits: mut viewer_edits,
            clicked,
            transform,
            layer,
            open_block,
            dropped,
            ..
        } = viewer;
        self.transform = transform;
        // The widget paints the graph on its own layer (same order as this panel, id = the canvas id).
        self.layer = layer.or(Some(egui::LayerId::new(ui.layer_id().order, self.widget_id())));
        if open_block.is_some() {
            self.open_block = open_block;
        }
        if let Some((id, shift)) = clicked {
            if shift {
                if !self.selection.remove(&id) {
                    self.selection.insert(id);
                }
            } else {
                self.selection = [id].into();
            }
            self.selected = Some(id);
        }
        // Shift-drag rectangle selection happens inside the widget: adopt it when it changes.
        let snarl_sel = egui_snarl::ui::get_selected_nodes(self.widget_id(), ui.ctx());
        if snarl_sel != self.snarl_selection {
            if !snarl_sel.is_empty() {
                self.selection = snarl_sel
                    .iter()
                    .filter_map(|n| self.snarl.get_node(*n).map(|c| c.0))
                    .collect();
                if self.selection.len() == 1 {
                    self.selected = self.selection.first().copied();
                }
            }
            self.snarl_selection = snarl_sel;
        }
        // A click on empty canvas clears the selection; a double-click opens the node search.
        if resp.double_clicked()
            && let Some(p) = resp.interact_pointer_pos()
        {
            self.search = Some(Search {
                at: self.to_graph(p),
                screen: p,
                text: String::new(),
                age: 0,
            });
        } else if resp.clicked() && clicked.is_none() {
            self.selection.clear();
        }
        // A kind dragged from the palette lands where it is dropped.
        if let Some(kind) = resp.dnd_release_payload::<PaletteKind>()
            && let Some(p) = ui.input(|i| i.pointer.interact_pos().or(i.pointer.latest_pos()))
        {
            let at = self.to_graph(p);
            viewer_edits.push(Edit::AddNode {
                scope: self.scope.clone(),
                node: {
                    let mut n = catalog::default_node(kind.0).unwrap_or_else(|| Node::new(kind.0));
                    n.pos = [at.x, at.y];
                    n.id = NodeId(
                        doc::graph_in(&document.project, &self.scope)
                            .map_or(0, |g| g.next_id)
                            .max(viewer_next_id(&viewer_edits)),
                    );
                    n
                },
            });
        }
        // The first fit used estimated node sizes: fit again once every node has been drawn.
        if let Some(all) = self.refit
            && self.fit.is_none()
            && let Some(g) = doc::graph_in(&document.project, &self.scope)
        {
            if ui.input(|i| i.pointer.any_down() || i.smooth_scroll_delta != egui::Vec2::ZERO) {
                self.refit = None;
            } else if self.shown.is_none() && g.nodes.iter().all(|n| self.rects.contains_key(&n.id)) {
                self.refit = None;
                self.fit = Some(all);
                ui.ctx().request_repaint();
            }
        }
        self.draw_wire_labels(ui, document, report);
        if let Some(g) = doc::graph_in(&document.project, &self.scope) {
            self.minimap(ui, g);
        }
        self.dragging = ui.input(|i| i.pointer.any_down());
        if let Some(g) = doc::graph_in(&document.project, &self.scope)
            && let Some(hit) = self.paint_unshown(ui, g)
        {
            // Overview: a click selects, a double-click zooms in on the node.
            if resp.double_clicked() {
                if let Some(n) = g.node(hit) {
                    let c = self.node_rect(n).center();
                    self.zoom_to = Some(TSTransform::new(self.viewport.center().to_vec2() - c.to_vec2(), 1.0));
                }
                self.search = None;
            } else if resp.clicked() {
                self.selection = [hit].into();
                self.selected = Some(hit);
            }
        }
        // Moves become edits once the drag ends, so one drag is one undo step.
        if !ui.input(|i| i.pointer.any_down())
            && let Some(g) = doc::graph_in(&document.project, &self.scope)
        {
            for (_, pos, node) in self.snarl.nodes_pos_ids() {
                if let Some(n) = g.node(node.0)
                    && (n.pos[0] - pos.x).abs() + (n.pos[1] - pos.y).abs() > 0.5
                {
                    viewer_edits.push(Edit::Move {
                        scope: self.scope.clone(),
                        node: node.0,
                        pos: [pos.x, pos.y],
                    });
                }
            }
        }
        (viewer_edits, dropped)
    }

    /// The transform that shows every node (`all`), or the start of a wide graph at a readable size.
    fn fit_transform(&self, document: &Document, all: bool) -> TSTransform {
        let Some(g) = doc::graph_in(&document.project, &self.scope) else {
            return self.transform;
        };
        let mut bounds = Rect::NOTHING;
        for n in &g.nodes {
            let r = self
                .rects
                .get(&n.id)
                .copied()
                .unwrap_or_else(|| Rect::from_min_size(Pos2::new(n.pos[0], n.pos[1]), egui::vec2(180.0, 90.0)));
            bounds = bounds.union(r);
        }
        let view = self.viewport;
        if !bounds.is_positive() || !view.is_positive() {
            return TSTransform::new(view.min.to_vec2(), 1.0);
        }
        let bounds = bounds.expand(30.0);
        let fit = (view.width() / bounds.width()).min(view.height() / bounds.height());
        if all {
            let s = fit.clamp(0.1, 1.5);
            return TSTransform::new(view.center().to_vec2() - bounds.center().to_vec2() * s, s);
        }
        // On opening: everything if it is readable, else the start of the flow at a readable size.
        let s = fit.clamp(0.8, 1.0);
        if fit >= 0.45 {
            let s = fit.min(1.0);
            return TSTransform::new(view.center().to_vec2() - bounds.center().to_vec2() * s, s);
        }
        // Inputs are on the left: show the left end, centred vertically when it fits, else its top.
        if bounds.height() * s <= view.height() {
            let left = Pos2::new(bounds.min.x, bounds.center().y);
            TSTransform::new(egui::vec2(view.min.x, view.center().y) - left.to_vec2() * s, s)
        } else {
            TSTransform::new(view.min.to_vec2() - bounds.min.to_vec2() * s, s)
        }
    }

    /// Every wire carries the symbolic shape of the value on it, at its middle.
    fn draw_wire_labels(&self, ui: &egui::Ui, document: &Document, report: Option<&Report>) {
        let (Some(report), Some(g)) = (report, doc::graph_in(&document.project, &self.scope)) else {
            return;
        };
        let t = self.transform;
        if t.scaling < 0.45 {
            return;
        }
        // Screen space, clipped to the canvas; the label sits just above the wire's middle.
        let painter = ui.painter_at(self.viewport);
        let font = egui::FontId::monospace(10.0 * t.scaling);
        let bg = ui.visuals().extreme_bg_color.gamma_multiply(0.85);
        let fg = ui.visuals().weak_text_color();
        let view = self.transform.inverse() * self.viewport;
        for w in &g.wires {
            if self
                .shown
                .as_ref()
                .is_some_and(|s| !s.contains(&w.from) || !s.contains(&w.to))
            {
                continue;
            }
            let (Some(ra), Some(rb)) = (self.rects.get(&w.from), self.rects.get(&w.to)) else {
                continue;
            };
            if !view.intersects(ra.union(*rb)) {
                continue;
            }
            let (Some(na), Some(nb)) = (g.node(w.from), g.node(w.to)) else {
                continue;
            };
            let Some((ins, outs)) = catalog::node_ports(&document.project, na)
                .zip(catalog::node_ports(&document.project, nb))
                .map(|((_, o), (i, _))| (i, o))
            else {
                continue;
            };
            let (Some(o), Some(i)) = (
                outs.iter().position(|p| p.name == w.out),
                ins.iter().position(|p| p.name == w.input),
            ) else {
                continue;
            };
            let (Some(a), Some(b)) = (self.pin_pos(w.from, true, o), self.pin_pos(w.to, false, i)) else {
                continue;
            };
            let Some(ty) = report.output_type(w.from, &w.out) else {
                continue;
            };
            let text = ty.to_string();
            // Just above the wire's middle; when the target sits below the source (a top-to-bottom
            // layout), in the middle of the gap between them, clear of both nodes.
            let mid = if rb.top() > ra.bottom() + 12.0 {
                t * Pos2::new((a.x + b.x) / 2.0, (ra.bottom() + rb.top()) / 2.0)
            } else {
                t * Pos2::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0 - 9.0)
            };
            let galley = painter.layout_no_wrap(text, font.clone(), fg);
            let r = Rect::from_center_size(mid, galley.size() + egui::vec2(6.0, 2.0) * t.scaling);
            painter.rect_filled(r, 3.0, bg);
            painter.galley(r.min + egui::vec2(3.0, 1.0) * t.scaling, galley, fg);
        }
    }
}

fn viewer_next_id(edits: &[Edit]) -> u64 {
    edits
        .iter()
        .filter_map(|e| match e {
            Edit::AddNode { node, .. } => Some(node.id.0 + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// A wire released on empty canvas: the search opens filtered to kinds that accept it.
#[derive(Clone, Debug, PartialEq)]
pub struct WireEndMenu {
    /// Where the wire was released (graph space).
    pub at: Pos2,
    /// What it came from.
    pub from: WireEnd,
    /// The kind picked in the menu.
    pub kind: &'static str,
}

struct Viewer<'a> {
    document: &'a Document,
    report: Option<&'a Report>,
    scope: &'a Scope,
    edits: Vec<Edit>,
    clicked: Option<(NodeId, bool)>,
    selection: &'a BTreeSet<NodeId>,
    live: &'a Live<'a>,
    fit: Option<TSTransform>,
    transform: TSTransform,
    rects: &'a mut HashMap<NodeId, Rect>,
    out_pins: &'a mut HashMap<(NodeId, usize), Pos2>,
    in_pins: &'a mut HashMap<(NodeId, usize), Pos2>,
    layer: Option<egui::LayerId>,
    open_block: Option<String>,
    dropped: Option<WireEndMenu>,
    next_id: u64,
    expanded: &'a mut BTreeSet<NodeId>,
}

impl Viewer<'_> {
    fn graph(&self) -> Option<&doc::Graph> {
        doc::graph_in(&self.document.project, self.scope)
    }

    fn node(&self, id: NodeId) -> Option<&Node> {
        self.graph().and_then(|g| g.node(id))
    }

    fn ports(&self, node: &CanvasNode) -> (catalog::PortList, catalog::PortList) {
        self.node(node.0)
            .and_then(|n| catalog::node_ports(&self.document.project, n))
            .unwrap_or_default()
    }

    fn color(&self, node: &CanvasNode) -> Color32 {
        self.node(node.0)
            .and_then(node_category)
            .map_or(Color32::DARK_RED, category_color)
    }

    fn errors(&self, id: NodeId) -> Vec<&crate::shape::Diagnostic> {
        self.report
            .map(|r| {
                r.diagnostics_for(id)
                    .filter(|d| d.severity == Severity::Error)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn wire(&self, from: &OutPin, to: &InPin, snarl: &Snarl<CanvasNode>) -> Option<Wire> {
        self.wire_ids(from.id, to.id, snarl)
    }

    fn wire_ids(&self, from: egui_snarl::OutPinId, to: egui_snarl::InPinId, snarl: &Snarl<CanvasNode>) -> Option<Wire> {
        let (a, b) = (snarl.get_node(from.node)?, snarl.get_node(to.node)?);
        let out = self.ports(a).1.get(from.output)?.name.to_string();
        let input = self.ports(b).0.get(to.input)?.name.to_string();
        Some(Wire::new(a.0, &out, b.0, &input))
    }
}

impl SnarlViewer<CanvasNode> for Viewer<'_> {
    fn title(&mut self, node: &CanvasNode) -> String {
        self.node(node.0)
            .map(|n| catalog::display_title(&self.document.project, n))
            .unwrap_or_default()
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _snarl: &mut Snarl<CanvasNode>) {
        if let Some(t) = self.fit.take() {
            *to_global = t;
        }
        self.transform = *to_global;
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: egui_snarl::NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<CanvasNode>,
    ) -> egui::Frame {
        let id = snarl[node].0;
        // A repeated block is drawn as a stack of its copies.
        let default = if self.node(id).is_some_and(|n| n.is_block() && n.repeat > 1) {
            default.shadow(egui::epaint::Shadow {
                offset: [7, 7],
                blur: 0,
                spread: 0,
                color: self.color(&snarl[node]).gamma_multiply(0.35),
            })
        } else {
            default
        };
        if !self.errors(id).is_empty() {
            default.stroke(Stroke::new(2.5, ERROR))
        } else if self.selection.contains(&id) {
            default.stroke(Stroke::new(2.0, Color32::from_rgb(250, 200, 80)))
        } else {
            default
        }
    }

    fn show_header(
        &mut self,
        node: egui_snarl::NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<CanvasNode>,
    ) {
        self.layer = Some(ui.layer_id());
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        let n = snarl[node];
        let title = self.title(&n);
        let color = self.color(&n);
        let errors = !self.errors(n.0).is_empty();
        let doc_node = self.node(n.0);
        let category = doc_node.and_then(node_category);
        let summary = doc_node.map(param_summary).unwrap_or_default();
        let block = doc_node.and_then(|d| d.block.clone());
        let params = self.report.and_then(|r| r.node(n.0)).map_or(0, |r| r.params);
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                if let Some(c) = category {
                    icons::show(ui, c, 16.0, color);
                }
                let mut text = egui::RichText::new(title).strong().color(color);
                if errors {
                    text = text.color(ERROR);
                }
                let r = ui.selectable_label(self.selection.contains(&n.0), text);
                if r.clicked() {
                    self.clicked = Some((n.0, ui.input(|i| i.modifiers.shift)));
                }
                if let Some(b) = &block {
                    if r.double_clicked() {
                        self.open_block = Some(b.clone());
                    }
                    if ui
                        .small_button("open")
                        .on_hover_text("Edit inside this block")
                        .clicked()
                    {
                        self.open_block = Some(b.clone());
                    }
                    let shown = self.expanded.contains(&n.0);
                    if ui
                        .small_button(if shown { "⏶" } else { "⏷" })
                        .on_hover_text(if shown {
                            "Collapse: hide the inside"
                        } else {
                            "Expand in place: see the inside here"
                        })
                        .clicked()
                        && !self.expanded.remove(&n.0)
                    {
                        self.expanded.insert(n.0);
                    }
                }
            });
            if !summary.is_empty() {
                ui.label(egui::RichText::new(summary).weak());
            }
            if params > 0 {
                ui.label(egui::RichText::new(format!("{} params", human(params))).weak());
            }
            if let Some(b) = &block
                && self.expanded.contains(&n.0)
            {
                super::inside::show(ui, &self.document.project, b);
            }
            // Where training time goes: a heat bar, its length the node's share of the step.
            if let Some((shares, costs)) = self.live.cost
                && let Some(&share) = shares.get(&n.0)
            {
                let c = costs.iter().find(|c| c.node == n.0);
                let w = ui.min_rect().width().max(90.0);
                super::dashboard::cost::heat_bar(ui, share, w).on_hover_text(format!(
                    "{:.1} % of the measured step: forward {:.2} ms, backward {:.2} ms (Cost tab)",
                    share * 100.0,
                    c.map_or(0.0, |c| c.forward_ms),
                    c.map_or(0.0, |c| c.backward_ms)
                ));
            }
        });
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
        let problem = self.report.is_some_and(|r| {
            r.diagnostics_for(node.0)
                .any(|d| d.port.as_deref() == Some(name.as_str()))
        });
        let r = ui.label(if problem {
            egui::RichText::new(&name).color(ERROR)
        } else {
            name.into()
        });
        self.in_pins.insert(
            (node.0, pin.id.input),
            Pos2::new(r.rect.left() - 14.0, r.rect.center().y),
        );
        // Typed pins: circle = float tensor, square = integer (ids, labels), triangle = either.
        let shape = match ports.get(pin.id.input).map(|p| p.accept) {
            Some(catalog::Accept::Int) => PinInfo::square(),
            Some(catalog::Accept::Any) => PinInfo::triangle(),
            _ => PinInfo::circle(),
        };
        shape.with_fill(self.color(&node))
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
            .and_then(|r| r.output_type(node.0, &name))
            .map(|t| t.to_string())
            .unwrap_or_default();
        // A wired output's shape is written on its wires; the pin keeps the port name when there are several.
        let text = match (pin.remotes.is_empty(), ports.len() > 1) {
            (true, true) => format!("{name} {shape}"),
            (true, false) => shape,
            (false, true) => name.clone(),
            (false, false) => String::new(),
        };
        let r = ui.label(egui::RichText::new(text).monospace());
        self.out_pins.insert(
            (node.0, pin.id.output),
            Pos2::new(r.rect.right() + 14.0, r.rect.center().y),
        );
        let int = self
            .report
            .and_then(|r| r.output_type(node.0, &name))
            .is_some_and(|t| t.dtype == DType::Int);
        if int { PinInfo::square() } else { PinInfo::circle() }.with_fill(self.color(&node))
    }

    fn has_footer(&mut self, node: &CanvasNode) -> bool {
        !self.errors(node.0).is_empty()
            || self.live.activity.is_some_and(|a| a.contains_key(&node.0))
            || self.live.thumbnail.is_some_and(|(n, _)| n == node.0)
            || self.live.pictures.iter().any(|(n, _)| *n == node.0)
    }

    fn show_footer(
        &mut self,
        node: egui_snarl::NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut egui::Ui,
        snarl: &mut Snarl<CanvasNode>,
    ) {
        let id = snarl[node].0;
        ui.vertical(|ui| {
            ui.set_max_width(240.0);
            let errors: Vec<(String, Option<FixAction>, String)> = self
                .errors(id)
                .into_iter()
                .map(|d| {
                    (
                        d.message.clone(),
                        d.fix.as_ref().and_then(|f| f.action.clone()),
                        d.fix.as_ref().map(|f| f.label.clone()).unwrap_or_default(),
                    )
                })
                .collect();
            for (message, action, label) in errors.into_iter().take(2) {
                let short: String = message.chars().take(60).collect();
                ui.label(egui::RichText::new(short).color(ERROR).small())
                    .on_hover_text(&message);
                let fix = action.and_then(|a| fix_edit(&self.document.project, self.scope, id, &a));
                if let Some(e) = fix {
                    if ui
                        .small_button(format!("Fix: {label}"))
                        .on_hover_text("Apply the checker's suggestion (undoable)")
                        .clicked()
                    {
                        self.edits.push(e);
                    }
                } else if !label.is_empty() {
                    ui.label(egui::RichText::new(format!("fix: {label}")).weak().small());
                }
            }
            if let Some((n, tex)) = self.live.thumbnail
                && n == id
            {
                let size = tex.size_vec2();
                let s = (120.0 / size.x).min(2.0);
                ui.image((tex.id(), size * s));
            }
            for (_, tex) in self.live.pictures.iter().filter(|(n, _)| *n == id) {
                let size = tex.size_vec2();
                let s = (160.0 / size.x).min(2.0);
                ui.image((tex.id(), size * s))
                    .on_hover_text("The latest samples of this output (the Samples tab has them all)");
            }
            if let Some(line) = self.live.activity.and_then(|a| a.get(&id)) {
                sparkline(ui, line, self.color(&snarl[node]));
            }
        });
    }

    fn final_node_rect(
        &mut self,
        node: egui_snarl::NodeId,
        rect: Rect,
        _ui: &mut egui::Ui,
        snarl: &mut Snarl<CanvasNode>,
    ) {
        let id = snarl[node].0;
        self.rects.insert(id, rect);
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<CanvasNode>) {
        if let Some(wire) = self.wire(from, to, snarl) {
            // One wire per input: replace what was there.
            let old: Vec<Wire> = self
                .graph()
                .map(|g| {
                    g.wires_into(wire.to)
                        .filter(|w| w.input == wire.input)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for old in old {
                self.edits.push(Edit::RemoveWire {
                    scope: self.scope.clone(),
                    wire: old,
                });
            }
            self.edits.push(Edit::AddWire {
                scope: self.scope.clone(),
                wire,
            });
        }
    }

    fn disconnect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<CanvasNode>) {
        if let Some(wire) = self.wire(from, to, snarl) {
            self.edits.push(Edit::RemoveWire {
                scope: self.scope.clone(),
                wire,
            });
        }
    }

    fn drop_inputs(&mut self, pin: &InPin, snarl: &mut Snarl<CanvasNode>) {
        for from in &pin.remotes {
            if let Some(w) = self.wire_ids(*from, pin.id, snarl) {
                self.edits.push(Edit::RemoveWire {
                    scope: self.scope.clone(),
                    wire: w,
                });
            }
        }
    }

    fn drop_outputs(&mut self, pin: &OutPin, snarl: &mut Snarl<CanvasNode>) {
        for to in &pin.remotes {
            if let Some(w) = self.wire_ids(pin.id, *to, snarl) {
                self.edits.push(Edit::RemoveWire {
                    scope: self.scope.clone(),
                    wire: w,
                });
            }
        }
    }

    fn has_graph_menu(&mut self, _pos: Pos2, _snarl: &mut Snarl<CanvasNode>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: Pos2, ui: &mut egui::Ui, _snarl: &mut Snarl<CanvasNode>) {
        ui.label("Add a layer");
        let text_id = egui::Id::new("strata-graph-menu-search");
        let mut text: String = ui.data(|d| d.get_temp(text_id)).unwrap_or_default();
        let r = ui.text_edit_singleline(&mut text);
        r.request_focus();
        ui.data_mut(|d| d.insert_temp(text_id, text.clone()));
        let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
        for (k, s) in search_kinds(&text, None).into_iter().take(12).enumerate() {
            if ui.button(s.name).on_hover_text(s.doc).clicked() || (enter && k == 0) {
                self.add_at(s.id, pos);
                ui.data_mut(|d| d.remove::<String>(text_id));
                ui.close();
            }
        }
    }

    fn has_dropped_wire_menu(&mut self, _src_pins: AnyPins, _snarl: &mut Snarl<CanvasNode>) -> bool {
        true
    }

    fn show_dropped_wire_menu(
        &mut self,
        pos: Pos2,
        ui: &mut egui::Ui,
        src_pins: AnyPins,
        snarl: &mut Snarl<CanvasNode>,
    ) {
        let end = match src_pins {
            AnyPins::Out(pins) => pins.first().and_then(|p| {
                let n = snarl.get_node(p.node)?;
                let name = self.ports(n).1.get(p.output)?.name.to_string();
                let dtype = self.report.and_then(|r| r.output_type(n.0, &name)).map(|t| t.dtype);
                Some(WireEnd::Out(n.0, name, dtype))
            }),
            AnyPins::In(pins) => pins.first().and_then(|p| {
                let n = snarl.get_node(p.node)?;
                let name = self.ports(n).0.get(p.input)?.name.to_string();
                Some(WireEnd::In(n.0, name))
            }),
        };
        let Some(end) = end else {
            ui.close();
            return;
        };
        ui.label("Add a layer wired to this");
        let text_id = egui::Id::new("strata-wire-menu-search");
        let mut text: String = ui.data(|d| d.get_temp(text_id)).unwrap_or_default();
        ui.text_edit_singleline(&mut text).request_focus();
        ui.data_mut(|d| d.insert_temp(text_id, text.clone()));
        let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
        for (k, s) in search_kinds(&text, Some(&end)).into_iter().take(12).enumerate() {
            if ui.button(s.name).on_hover_text(s.doc).clicked() || (enter && k == 0) {
                self.dropped = Some(WireEndMenu {
                    at: pos,
                    from: end.clone(),
                    kind: s.id,
                });
                ui.data_mut(|d| d.remove::<String>(text_id));
                ui.close();
                break;
            }
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
        let id = snarl[node].0;
        if let Some(b) = self.node(id).and_then(|n| n.block.clone())
            && ui.button("Open block").clicked()
        {
            self.open_block = Some(b);
            ui.close();
        }
        let pinned = self.node(id).is_some_and(|n| n.pinned);
        if ui
            .button(if pinned { "Unpin" } else { "Pin (auto-layout keeps it)" })
            .clicked()
        {
            self.edits.push(Edit::SetPinned {
                scope: self.scope.clone(),
                node: id,
                pinned: !pinned,
            });
            ui.close();
        }
        if ui.button("Delete").clicked() {
            self.edits.push(Edit::RemoveNode {
                scope: self.scope.clone(),
                id,
            });
            ui.close();
        }
    }
}

impl Viewer<'_> {
    fn add_at(&mut self, kind: &str, at: Pos2) {
        let Some(mut node) = catalog::default_node(kind) else {
            return;
        };
        node.pos = [at.x, at.y];
        node.id = NodeId(self.next_id.max(viewer_next_id(&self.edits)));
        self.next_id = node.id.0 + 1;
        self.edits.push(Edit::AddNode {
            scope: self.scope.clone(),
            node,
        });
    }
}

/// 1234567 → "1.2M".
pub fn human(n: u64) -> String {
    catalog::human_count(n)
}

fn sparkline(ui: &mut egui::Ui, line: &VecDeque<f32>, color: Color32) {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(110.0, 20.0), egui::Sense::hover());
    let (lo, hi) = line
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let span = (hi - lo).max(1e-6);
    let n = line.len().max(2) - 1;
    let pts: Vec<Pos2> = line
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Pos2::new(
                rect.left() + rect.width() * i as f32 / n as f32,
                rect.bottom() - rect.height() * (v - lo) / span,
            )
        })
        .collect();
    ui.painter().rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    ui.painter().add(egui::Shape::line(pts, Stroke::new(1.5, color)));
    if let Some(last) = line.back() {
        resp.on_hover_text(format!("mean |output| {last:.4} (range {lo:.4} – {hi:.4})"));
    }
}

/// The palette: kinds by category with icons; click adds the kind at `at`, or drag it onto the canvas.
pub fn palette(ui: &mut egui::Ui, filter: &mut String) -> Option<&'static str> {
    ui.heading("Layers");
    ui.add(egui::TextEdit::singleline(filter).hint_text("search layers"));
    let mut chosen = None;
    egui::ScrollArea::vertical().show(ui, |ui| {
        for c in Category::ALL {
            let kinds: Vec<_> = if filter.is_empty() {
                catalog::catalog()
                    .in_category(c)
                    .filter(|s| !s.id.starts_with("port_"))
                    .collect()
            } else {
                search_kinds(filter, None)
                    .into_iter()
                    .filter(|s| s.category == c)
                    .collect()
            };
            if kinds.is_empty() {
                continue;
            }
            let color = category_color(c);
            egui::CollapsingHeader::new(egui::RichText::new(c.name()).color(color))
                .id_salt(("palette", c.name()))
                .default_open(matches!(c, Category::Io | Category::Core))
                .open(if filter.is_empty() { None } else { Some(true) })
                .show(ui, |ui| {
                    for s in kinds {
                        let r = ui
                            .horizontal(|ui| {
                                icons::show(ui, c, 14.0, color);
                                ui.add(egui::Button::new(s.name).sense(egui::Sense::click_and_drag()))
                            })
                            .inner;
                        if r.dragged() {
                            // Carry the kind to the canvas; a ghost label follows the pointer.
                            egui::DragAndDrop::set_payload(ui.ctx(), PaletteKind(s.id));
                            if let Some(p) = ui.ctx().pointer_latest_pos() {
                                egui::Area::new(egui::Id::new("strata-palette-ghost"))
                                    .order(egui::Order::Tooltip)
                                    .fixed_pos(p + egui::vec2(10.0, 6.0))
                                    .interactable(false)
                                    .show(ui.ctx(), |ui| {
                                        egui::Frame::popup(ui.style()).show(ui, |ui| {
                                            ui.horizontal(|ui| {
                                                icons::show(ui, c, 14.0, color);
                                                ui.label(s.name);
                                            });
                                        });
                                    });
                            }
                        }
                        if r.on_hover_text(format!("{}\n\nClick to add, or drag onto the canvas.", s.doc))
                            .clicked()
                        {
                            chosen = Some(s.id);
                        }
                    }
                });
        }
    });
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_integer_wire_only_offers_kinds_that_take_integers() {
        let end = WireEnd::Out(NodeId(0), "y".into(), Some(DType::Int));
        let kinds: Vec<&str> = search_kinds("", Some(&end)).iter().map(|s| s.id).collect();
        assert!(kinds.contains(&"embedding"), "{kinds:?}");
        assert!(!kinds.contains(&"conv2d"), "{kinds:?}");
        let float = WireEnd::Out(NodeId(0), "y".into(), Some(DType::Float));
        let kinds: Vec<&str> = search_kinds("", Some(&float)).iter().map(|s| s.id).collect();
        assert!(kinds.contains(&"conv2d") && !kinds.contains(&"embedding"), "{kinds:?}");
    }

    #[test]
    fn fuzzy_search_prefers_whole_words_then_initials() {
        assert_eq!(search_kinds("conv2d", None)[0].id, "conv2d");
        assert_eq!(search_kinds("mha", None)[0].id, "multi_head_attention");
        assert!(fuzzy_score("xyz", "Linear").is_none());
    }

    #[test]
    fn fixes_become_one_undoable_edit() {
        let mut p = Project::new("t");
        let input = p
            .graph
            .add(catalog::default_node("input").unwrap_or_else(|| Node::new("input")));
        let conv = p
            .graph
            .add(catalog::default_node("conv2d").unwrap_or_else(|| Node::new("conv2d")));
        p.graph.add_wire(Wire::new(input, "y", conv, "x"));
        let e = fix_edit(
            &p,
            &Scope::Root,
            conv,
            &FixAction::InsertBefore {
                port: "x".into(),
                kind: "flatten",
                params: vec![],
            },
        );
        let Some(e) = e else { panic!("the fix gives no edit") };
        let before = p.clone();
        let Ok(undo) = e.apply(&mut p) else {
            panic!("the fix does not apply")
        };
        assert_eq!(p.graph.nodes.len(), 3);
        assert!(
            p.graph.wires_into(conv).all(|w| w.from != input),
            "rewired through the new node"
        );
        assert!(undo.apply(&mut p).is_ok(), "the fix undoes");
        // Ids are never reused, so only the id counter remembers the undone node.
        assert_eq!(
            (&p.graph.nodes, &p.graph.wires),
            (&before.graph.nodes, &before.graph.wires)
        );
    }
}
