//! The desktop window: menus, a palette, the node canvas with live shapes, an inspector, a
//! problems / training / samples panel, presets gallery, file handling that never loses work.

mod dashboard;
mod editor;
mod files;
mod gallery;
mod icons;
mod inside;
mod inspector;
mod settings;
mod transfer;
mod views;

pub use dashboard::{Dashboard, Run, Tab};
pub use editor::{PaletteKind, canvas_id, fuzzy_score, search_kinds};
pub use files::Prefs;

use crate::doc::{Edit, Node, NodeId, Project, Scope, Wire};
use crate::shape::{self, Report};
use crate::workspace::{Document, Recovery, RecoveryInfo};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Seconds between autosaves of unsaved changes.
const AUTOSAVE_EVERY: Duration = Duration::from_secs(5);

/// Something that would discard unsaved changes, waiting for the user's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    /// File → New.
    New,
    /// A preset from the gallery.
    Preset(String),
    /// A file (recent, dropped, or picked).
    Open(PathBuf),
    /// File → Open… (the dialog comes after the answer).
    OpenDialog,
    /// Closing the window.
    Quit,
}

/// Copied nodes and the wires between them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Clipboard {
    strata_clipboard: u32,
    nodes: Vec<Node>,
    wires: Vec<Wire>,
}

/// The application state.
pub struct StrataApp {
    document: Document,
    report: Report,
    editor: editor::Editor,
    dashboard: Dashboard,
    gallery: gallery::Gallery,
    prefs: Prefs,
    filter: String,
    status: String,
    shown_title: String,
    dialog: Option<files::Dialog>,
    /// An export or import running on a helper thread.
    transfer: Option<transfer::Transfer>,
    confirm: Option<Pending>,
    allow_close: bool,
    recovery: Option<Recovery>,
    restore: Option<(Document, RecoveryInfo)>,
    autosaved: Option<u64>,
    last_autosave: Instant,
    clipboard: Option<Clipboard>,
    pastes: u32,
    autosave_every: Duration,
    ctx: Option<egui::Context>,
    editor_rect: egui::Rect,
    /// The check of the open block's inside: (revision, block, report).
    block_report: Option<(u64, String, Report)>,
    /// Show the presets gallery (also the start screen).
    pub gallery_open: bool,
    /// Free memory to check training against, when fixed (`None`: read RAM each check).
    assumed_free: Option<Option<u64>>,
}

impl StrataApp {
    /// Opens `document` (or an empty project).
    pub fn new(document: Option<Document>) -> Self {
        let start = document.is_none();
        let document = document.unwrap_or_else(|| Document::new(Project::new("Untitled"), None));
        let report = check_with_memory(&document.project, shape::memory::available_ram());
        StrataApp {
            document,
            report,
            editor: editor::Editor::default(),
            dashboard: Dashboard::default(),
            gallery: gallery::Gallery::default(),
            prefs: Prefs::default(),
            filter: String::new(),
            status: String::new(),
            shown_title: String::new(),
            dialog: None,
            transfer: None,
            confirm: None,
            allow_close: false,
            recovery: None,
            restore: None,
            autosaved: None,
            last_autosave: Instant::now(),
            clipboard: None,
            pastes: 0,
            autosave_every: AUTOSAVE_EVERY,
            ctx: None,
            block_report: None,
            editor_rect: egui::Rect::from_min_size(egui::pos2(220.0, 80.0), egui::vec2(800.0, 500.0)),
            gallery_open: start,
            assumed_free: None,
        }
    }

    /// With remembered preferences and a recovery folder (what the real window uses): unsaved work
    /// left by a crash is offered back.
    pub fn with_storage(document: Option<Document>, prefs: Prefs, recovery: Option<Recovery>) -> Self {
        let mut app = StrataApp::new(document);
        app.dashboard.steps = prefs.steps;
        app.prefs = prefs;
        app.prefs.recent.prune();
        if let Some(r) = &recovery {
            match r.pending() {
                Some(Ok(found)) => {
                    app.restore = Some(found);
                    app.gallery_open = false;
                }
                Some(Err(e)) => app.status = format!("the recovery file could not be read: {e}"),
                None => {}
            }
        }
        app.recovery = recovery;
        app
    }

    /// The Output nodes of the top-level graph that show the latest picture of a recipe view
    /// (a generator's `fake` output shows the GAN's samples), with that picture.
    pub fn node_pictures(&mut self, ctx: &egui::Context) -> Vec<(NodeId, egui::TextureHandle)> {
        let mut out = Vec::new();
        for (role, tex) in self.dashboard.node_pictures(ctx) {
            for n in &self.document.project.graph.nodes {
                if n.kind == "output" && n.params.get("role").and_then(|v| v.as_text()) == Some(role) {
                    out.push((n.id, tex.clone()));
                }
            }
        }
        out
    }

    /// How often unsaved changes are written to the recovery file (default 5 s).
    pub fn set_autosave_every(&mut self, every: Duration) {
        self.autosave_every = every;
    }

    /// The open document.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The checker's report on it.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The training dashboard.
    pub fn dashboard(&self) -> &Dashboard {
        &self.dashboard
    }

    /// The training dashboard, to drive it.
    pub fn dashboard_mut(&mut self) -> &mut Dashboard {
        &mut self.dashboard
    }

    /// The preferences kept between sessions.
    pub fn prefs(&self) -> &Prefs {
        &self.prefs
    }

    /// The status line (last message to the user).
    pub fn status(&self) -> &str {
        &self.status
    }

    /// Nodes selected on the canvas.
    pub fn selection(&self) -> Vec<NodeId> {
        self.editor.selection.iter().copied().collect()
    }

    /// The report for the scope the canvas shows: the project's, or the open block's inside
    /// (keyed by the block's node ids, as its first instance sees it).
    pub fn scope_report(&mut self) -> Option<&Report> {
        match self.editor.scope.clone() {
            Scope::Root => Some(&self.report),
            Scope::Block(b) => {
                let rev = self.document.revision();
                if self
                    .block_report
                    .as_ref()
                    .is_none_or(|(r, id, _)| *r != rev || *id != b)
                {
                    self.block_report = shape::check_block(&self.document.project, &b).map(|r| (rev, b, r));
                }
                self.block_report.as_ref().map(|(_, _, r)| r)
            }
        }
    }

    /// Where the canvas drew a pin last frame, in screen points (for tests that drag wires).
    pub fn pin_screen_pos(&self, node: NodeId, output: bool, index: usize) -> Option<egui::Pos2> {
        self.editor
            .pin_pos(node, output, index)
            .map(|p| self.editor.to_screen(p))
    }

    /// Where the minimap is drawn (screen points), when the graph is larger than the view.
    pub fn minimap_rect(&self) -> Option<egui::Rect> {
        self.editor.minimap_rect
    }

    /// The size (graph units) node `id` of the shown graph was last drawn at.
    pub fn node_size(&self, id: NodeId) -> Option<[f32; 2]> {
        self.editor.measured_size(id)
    }

    /// Block instances shown opened in place.
    pub fn expanded_blocks(&self) -> Vec<NodeId> {
        self.editor.expanded.iter().copied().collect()
    }

    /// Checks the document again: shapes and counts, and whether training would fit in memory
    /// (an error on the largest node when it would not).
    fn recheck(&mut self) {
        let free = self.assumed_free.unwrap_or_else(shape::memory::available_ram);
        self.report = check_with_memory(&self.document.project, free);
    }

    /// Checks training against `free` bytes of memory instead of the RAM free at each check
    /// (`None`: unknown, nothing is refused) — for pictures and tests that must not depend on
    /// the machine.
    pub fn assume_free_memory(&mut self, free: Option<u64>) {
        self.assumed_free = Some(free);
        self.recheck();
    }

    /// The canvas zoom (1 = nodes at their natural size).
    pub fn canvas_zoom(&self) -> f32 {
        self.editor.zoom()
    }

    /// The part of the graph (graph coordinates) the canvas shows.
    pub fn canvas_view(&self) -> egui::Rect {
        self.editor.visible_graph_rect()
    }

    /// Where graph point `p` is drawn on the minimap (screen points), when the minimap shows.
    pub fn minimap_point(&self, p: egui::Pos2) -> Option<egui::Pos2> {
        let (rect, world) = (self.editor.minimap_rect?, self.editor.minimap_world?);
        Some(rect.min + (p - world.min) * (rect.width() / world.width()))
    }

    /// Screen point → canvas (graph) point.
    pub fn canvas_point(&self, screen: egui::Pos2) -> egui::Pos2 {
        self.editor.to_graph(screen)
    }

    /// Selects `nodes` on the canvas (as shift-clicking their titles would).
    pub fn select(&mut self, nodes: &[NodeId]) {
        self.editor.selection = nodes.iter().copied().collect();
        self.editor.selected = nodes.first().copied();
    }

    /// The scope the canvas shows.
    pub fn scope(&self) -> &Scope {
        &self.editor.scope
    }

    /// What is waiting for a "discard unsaved changes?" answer.
    pub fn pending_confirmation(&self) -> Option<&Pending> {
        self.confirm.as_ref()
    }

    /// Applies one edit (undoable) and re-checks.
    pub fn apply(&mut self, edit: Edit) {
        match self.document.apply(edit) {
            Ok(()) => self.recheck(),
            Err(e) => self.status = format!("could not apply: {e}"),
        }
    }

    /// An inspector edit: a drag or typing of one value is one undo step.
    fn apply_inspected(&mut self, e: inspector::InspectorEdit) {
        if e.fresh {
            self.document.end_merging();
        }
        let r = match e.merge {
            Some(key) => self.document.apply_merging(e.edit, key),
            None => self.document.apply(e.edit),
        };
        match r {
            Ok(()) => self.recheck(),
            Err(err) => self.status = format!("could not apply: {err}"),
        }
    }

    fn undo(&mut self, redo: bool) {
        let r = if redo {
            self.document.redo()
        } else {
            self.document.undo()
        };
        match r {
            Ok(_) => self.recheck(),
            Err(e) => self.status = e.to_string(),
        }
    }

    /// Replaces the open document (after any confirmation).
    pub fn load(&mut self, document: Document) {
        if let Some(p) = &document.path {
            self.prefs.recent.push(p);
        }
        self.document = document;
        self.recheck();
        self.editor.reset();
        self.dashboard.reset();
        if let Some(p) = &self.document.path {
            self.dashboard.load_history(files::load_runs(p));
        }
        self.autosaved = None;
        if let Some(r) = &self.recovery {
            let _ = r.clear();
        }
        self.status = format!("opened {}", self.document.project.name);
    }

    /// Shows the start screen with `message` above the presets: what happened to a file given on
    /// the command line that could not be opened (the window still opens, so a user who started
    /// Strata from a file manager sees why).
    pub fn start_with_error(&mut self, message: String) {
        self.status = message.clone();
        self.gallery.notice = Some(message);
        self.gallery_open = true;
    }

    /// Opens a `.strata` file; a broken file leaves the open document alone and says why.
    pub fn open_path(&mut self, path: &Path) {
        match Document::open(path) {
            Ok(d) => self.load(d),
            Err(e) => self.status = format!("cannot open {}: {e}", path.display()),
        }
    }

    /// Opens a preset as a new, unsaved project.
    pub fn open_preset(&mut self, id: &str) {
        match crate::presets::load(id) {
            Some(Ok(p)) => {
                self.load(Document::new(p, None));
                self.gallery_open = false;
            }
            Some(Err(e)) => self.status = format!("preset {id} is damaged: {e}"),
            None => self.status = format!("no preset named {id}"),
        }
    }

    /// Runs `action` now, or asks first when it would discard unsaved changes.
    pub fn request(&mut self, action: Pending) {
        if self.document.is_dirty() && !matches!(action, Pending::Quit if self.allow_close) {
            self.confirm = Some(action);
        } else {
            self.carry_out(action);
        }
    }

    /// Answers the pending question: `true` discards the changes and goes on.
    pub fn confirm(&mut self, discard: bool) {
        if let Some(a) = self.confirm.take()
            && discard
        {
            self.carry_out(a);
        }
    }

    fn carry_out(&mut self, action: Pending) {
        match action {
            Pending::New => {
                self.load(Document::new(Project::new("Untitled"), None));
                self.status = "new project".into();
            }
            Pending::Preset(id) => self.open_preset(&id),
            Pending::Open(p) => self.open_path(&p),
            Pending::OpenDialog => self.start_dialog(files::Purpose::Open),
            Pending::Quit => {
                if let Some(r) = &self.recovery {
                    let _ = r.clear();
                }
                self.allow_close = true;
                self.dashboard.stop();
            }
        }
    }

    /// Saves to the document's file (or asks for one).
    pub fn save(&mut self) {
        if self.document.path.is_none() {
            self.start_dialog(files::Purpose::SaveAs);
            return;
        }
        self.status = match self.document.save() {
            Ok(()) => {
                if let Some(p) = &self.document.path {
                    self.prefs.recent.push(p);
                }
                if let Some(r) = &self.recovery {
                    let _ = r.clear();
                }
                format!(
                    "saved {}",
                    self.document
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            }
            Err(e) => format!("could not save: {e} — your changes are still here; try Save As"),
        };
    }

    /// Saves under `path` (what Save As does once the dialog answered).
    pub fn save_as(&mut self, path: &Path) {
        let path = if path.extension().is_none() {
            path.with_extension("strata")
        } else {
            path.to_owned()
        };
        self.status = match self.document.save_as(&path) {
            Ok(()) => {
                self.prefs.recent.push(&path);
                self.save_history();
                if let Some(r) = &self.recovery {
                    let _ = r.clear();
                }
                format!("saved {}", path.display())
            }
            Err(e) => format!("could not save {}: {e} — your changes are still here", path.display()),
        };
    }

    /// Writes the ended runs beside the project file (nothing for a project without a file).
    fn save_history(&mut self) {
        let Some(p) = &self.document.path else { return };
        let runs = self.dashboard.history();
        if runs.is_empty() {
            return;
        }
        if let Err(e) = files::save_runs(p, &runs) {
            self.status = format!("could not save the run history: {e}");
            return;
        }
        // The weights of runs that left the history go too (the current run's stay).
        let mut keep: Vec<PathBuf> = runs.iter().filter_map(|r| r.checkpoint.clone()).collect();
        keep.extend(self.dashboard.current().and_then(|r| r.checkpoint.clone()));
        files::prune_checkpoints(&p.with_extension("checkpoints"), &keep);
    }

    fn start_dialog(&mut self, purpose: files::Purpose) {
        if self.dialog.is_some() {
            self.status = "a file dialog is already open".into();
            return;
        }
        let suggested = match purpose {
            files::Purpose::SaveAs => Some(
                self.document
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(files::file_name_for(&self.document.project.name))),
            ),
            files::Purpose::Open => self.prefs.recent.files.first().cloned(),
            files::Purpose::Picture | files::Purpose::ExportOnnx | files::Purpose::ExportPytorch => {
                let name = files::file_name_for(&self.document.project.name);
                let dir = self.document.path.as_ref().and_then(|p| p.parent().map(PathBuf::from));
                let ext = match purpose {
                    files::Purpose::Picture => "png",
                    files::Purpose::ExportOnnx => "onnx",
                    _ => "",
                };
                Some(dir.unwrap_or_default().join(PathBuf::from(name).with_extension(ext)))
            }
            files::Purpose::ImportOnnx => self.document.path.as_ref().and_then(|p| p.parent().map(PathBuf::from)),
        };
        let ctx = self.ctx.clone();
        match files::Dialog::spawn(purpose, suggested, move || {
            if let Some(c) = &ctx {
                c.request_repaint();
            }
        }) {
            Ok(d) => self.dialog = Some(d),
            Err(e) => self.status = e,
        }
    }

    fn poll_dialog(&mut self) {
        let Some(d) = &self.dialog else { return };
        let Some(answer) = d.poll() else { return };
        let purpose = d.purpose;
        self.dialog = None;
        match (purpose, answer) {
            (_, None) => {
                // Cancelled, or no dialog service (xdg-desktop-portal / zenity) answered.
                self.status = match purpose {
                    files::Purpose::Open => {
                        "no file chosen — you can also drop a .strata file on the window or run `strata FILE`".into()
                    }
                    files::Purpose::SaveAs => "not saved — no file chosen; your changes are still here".into(),
                    files::Purpose::Picture => "no picture written — no file chosen".into(),
                    files::Purpose::ExportPytorch | files::Purpose::ExportOnnx => "nothing exported — no place chosen".into(),
                    files::Purpose::ImportOnnx => {
                        "nothing imported — no file chosen; you can also drop a .onnx file on the window or run `strata import FILE`".into()
                    }
                };
            }
            (files::Purpose::Open, Some(p)) => self.open_path(&p),
            (files::Purpose::SaveAs, Some(p)) => self.save_as(&p),
            (files::Purpose::Picture, Some(p)) => self.export_picture(&p),
            (files::Purpose::ExportPytorch, Some(p)) => self.start_transfer(transfer::Kind::ExportPytorch, p),
            (files::Purpose::ExportOnnx, Some(p)) => {
                let p = if p.extension().is_none() {
                    p.with_extension("onnx")
                } else {
                    p
                };
                self.start_transfer(transfer::Kind::ExportOnnx, p)
            }
            (files::Purpose::ImportOnnx, Some(p)) => self.start_transfer(transfer::Kind::ImportOnnx, p),
        }
    }

    /// Starts an export of the open project, or an import of an `.onnx` file, on a helper
    /// thread (one at a time).
    pub fn start_transfer(&mut self, kind: transfer::Kind, target: PathBuf) {
        if let Some(t) = &self.transfer {
            self.status = format!("{} — wait for it to finish", t.status());
            return;
        }
        let ctx = self.ctx.clone();
        match transfer::Transfer::start(
            kind,
            self.document.project.clone(),
            self.document.path.clone(),
            target,
            move || {
                if let Some(c) = &ctx {
                    c.request_repaint();
                }
            },
        ) {
            Ok(t) => {
                self.status = t.status();
                self.transfer = Some(t);
            }
            Err(e) => self.status = e,
        }
    }

    fn poll_transfer(&mut self) {
        let Some(t) = &self.transfer else { return };
        match t.poll() {
            None => self.status = t.status(),
            Some(done) => {
                self.transfer = None;
                self.status = transfer::describe(&done);
                if let (transfer::Kind::ImportOnnx, Ok(s)) = (done.kind, &done.result)
                    && let Some(p) = s.files.first().cloned()
                {
                    let status = self.status.clone();
                    self.request(Pending::Open(p));
                    if self.confirm.is_none() {
                        self.status = status;
                    }
                }
            }
        }
    }

    /// Writes a picture of the shown graph (the top level or the open block) to `path`: SVG
    /// or PNG by its extension (none: PNG), with shapes on the wires.
    pub fn export_picture(&mut self, path: &Path) {
        let path = if path.extension().is_none() {
            path.with_extension("png")
        } else {
            path.to_path_buf()
        };
        let project = &self.document.project;
        let Some(graph) = crate::doc::graph_in(project, &self.editor.scope) else {
            return;
        };
        let report = match &self.editor.scope {
            Scope::Root => Some(&self.report),
            Scope::Block(b) => self.block_report.as_ref().filter(|r| &r.1 == b).map(|r| &r.2),
        };
        self.status = match crate::picture::export(project, graph, report, &path) {
            Ok(()) => format!("picture written to {}", path.display()),
            Err(e) => format!("no picture written: {e}"),
        };
    }

    /// Writes unsaved changes to the recovery file at most every `autosave_every`, on a real
    /// clock: while changes wait, the window is asked to wake when the next autosave is due, so an
    /// idle window (which egui does not redraw) still saves within `autosave_every` of the last edit.
    fn autosave(&mut self, ctx: &egui::Context) {
        let Some(r) = &self.recovery else { return };
        let rev = self.document.revision();
        if self.autosaved == Some(rev) {
            return;
        }
        let since = self.last_autosave.elapsed();
        if since < self.autosave_every {
            ctx.request_repaint_after(self.autosave_every - since);
            return;
        }
        self.last_autosave = Instant::now();
        match r.autosave(&self.document) {
            Ok(()) => self.autosaved = Some(rev),
            Err(e) => {
                self.status = format!("autosave failed: {e}");
                // Try again at the next tick, not at the next input.
                ctx.request_repaint_after(self.autosave_every);
            }
        }
    }

    /// Copies the selected nodes and the wires between them.
    pub fn copy(&mut self, ctx: &egui::Context) {
        let Some(g) = self.editor.graph(&self.document.project) else {
            return;
        };
        let sel = &self.editor.selection;
        if sel.is_empty() {
            return;
        }
        let nodes: Vec<Node> = g.nodes.iter().filter(|n| sel.contains(&n.id)).cloned().collect();
        let wires: Vec<Wire> = g
            .wires
            .iter()
            .filter(|w| sel.contains(&w.from) && sel.contains(&w.to))
            .cloned()
            .collect();
        let clip = Clipboard {
            strata_clipboard: 1,
            nodes,
            wires,
        };
        if let Ok(text) = serde_json::to_string(&clip) {
            ctx.copy_text(text);
        }
        self.status = format!("copied {} nodes", clip.nodes.len());
        self.clipboard = Some(clip);
        self.pastes = 0;
    }

    /// Pastes copied nodes (from `text` when it is a Strata clipboard, else the last copy) with fresh ids.
    pub fn paste(&mut self, text: Option<&str>) {
        let clip = text
            .and_then(|t| serde_json::from_str::<Clipboard>(t).ok())
            .or_else(|| self.clipboard.clone());
        let Some(clip) = clip else { return };
        let scope = self.editor.scope.clone();
        let Some(g) = crate::doc::graph_in(&self.document.project, &scope) else {
            return;
        };
        self.pastes += 1;
        let offset = 40.0 * self.pastes as f32;
        let mut map = std::collections::HashMap::new();
        let mut edits = Vec::new();
        for (next, n) in (g.next_id..).zip(&clip.nodes) {
            let mut n = n.clone();
            map.insert(n.id, NodeId(next));
            n.id = NodeId(next);
            n.pos = [n.pos[0] + offset, n.pos[1] + offset];
            n.pinned = false;
            edits.push(Edit::AddNode {
                scope: scope.clone(),
                node: n,
            });
        }
        for w in &clip.wires {
            if let (Some(a), Some(b)) = (map.get(&w.from), map.get(&w.to)) {
                edits.push(Edit::AddWire {
                    scope: scope.clone(),
                    wire: Wire::new(*a, &w.out, *b, &w.input),
                });
            }
        }
        if edits.is_empty() {
            return;
        }
        self.apply(Edit::Batch(edits));
        self.editor.selection = map.values().copied().collect();
        self.status = format!("pasted {} nodes", map.len());
    }

    /// Removes the selected nodes (one undo step).
    pub fn delete_selection(&mut self) {
        let scope = self.editor.scope.clone();
        let edits: Vec<Edit> = self
            .editor
            .selection
            .iter()
            .map(|&id| Edit::RemoveNode {
                scope: scope.clone(),
                id,
            })
            .collect();
        if !edits.is_empty() {
            self.apply(Edit::Batch(edits));
            self.editor.selection.clear();
        }
    }

    /// Groups the selected nodes into a new block (Ctrl+G).
    pub fn group_selection(&mut self) {
        let sel: Vec<NodeId> = self.editor.selection.iter().copied().collect();
        if sel.is_empty() {
            self.status = "select nodes to group first (click a title, shift-click to add)".into();
            return;
        }
        let n = (1..)
            .find(|i| self.document.project.block(&format!("block{i}")).is_none())
            .unwrap_or(1);
        match Edit::group_into_block(
            &self.document.project,
            &self.editor.scope,
            &sel,
            &format!("block{n}"),
            &format!("Block {n}"),
        ) {
            Ok(e) => {
                self.apply(e);
                self.editor.selection.clear();
                self.status = format!("grouped {} nodes into Block {n}", sel.len());
            }
            Err(e) => self.status = format!("cannot group: {e}"),
        }
    }

    /// Lays the shown graph out in the preferred direction, folded to fit the canvas (one undo
    /// step; pinned nodes stay).
    pub fn auto_layout(&mut self) {
        let scope = self.editor.scope.clone();
        let Some(g) = crate::doc::graph_in(&self.document.project, &scope) else {
            return;
        };
        let opts = crate::doc::LayoutOptions {
            direction: self.prefs.layout_direction,
            view: self.editor.view_size(),
        };
        let project = &self.document.project;
        let size = |id| {
            self.editor
                .measured_size(id)
                .or_else(|| g.node(id).map(|n| crate::catalog::node_size_hint(project, n)))
                .unwrap_or(crate::doc::DEFAULT_NODE_SIZE)
        };
        let report = shape::check(project);
        let resolution = |id| {
            if self.editor.scope == Scope::Root {
                shape::resolution(&report, id)
            } else {
                None
            }
        };
        let moves: Vec<_> = crate::doc::auto_layout(g, &opts, &size, &resolution)
            .into_iter()
            .map(|(node, pos)| Edit::Move {
                scope: scope.clone(),
                node,
                pos,
            })
            .collect();
        if !moves.is_empty() {
            self.apply(Edit::Batch(moves));
            self.editor.fit_view();
        }
    }

    /// Shows the inside of block `id` (or the top level for `None`).
    pub fn open_block(&mut self, id: Option<&str>) {
        self.editor
            .set_scope(id.map_or(Scope::Root, |b| Scope::Block(b.to_owned())));
    }

    /// Starts training the open project.
    pub fn train(&mut self, ctx: &egui::Context) {
        let data_dir = self.data_dir();
        self.dashboard.start(ctx, &self.document.project, data_dir);
    }

    /// Where relative data paths of the project resolve: next to its file.
    fn data_dir(&self) -> Option<PathBuf> {
        self.document
            .path
            .as_ref()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf)
    }
}

impl StrataApp {
    fn shortcuts(&mut self, ui: &mut egui::Ui) {
        use egui::{Key, Modifiers};
        let ctx = ui.ctx().clone();
        let typing = ctx.egui_wants_keyboard_input();
        let (undo, redo, save, save_as, open, new, group, all) = ui.input_mut(|i| {
            let redo = i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
                || i.consume_key(Modifiers::COMMAND, Key::Y);
            let undo = i.consume_key(Modifiers::COMMAND, Key::Z);
            let save_as = i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::S);
            let save = i.consume_key(Modifiers::COMMAND, Key::S);
            let open = i.consume_key(Modifiers::COMMAND, Key::O);
            let new = i.consume_key(Modifiers::COMMAND, Key::N);
            let group = i.consume_key(Modifiers::COMMAND, Key::G);
            let all = !typing && i.consume_key(Modifiers::COMMAND, Key::A);
            (undo, redo, save, save_as, open, new, group, all)
        });
        if redo {
            self.undo(true);
        } else if undo && !typing {
            self.undo(false);
        }
        if save {
            self.save();
        }
        if save_as {
            self.start_dialog(files::Purpose::SaveAs);
        }
        if open {
            self.request(Pending::OpenDialog);
        }
        if new {
            self.request(Pending::New);
        }
        if group {
            self.group_selection();
        }
        if all {
            self.editor.select_all(&self.document);
        }
        if typing {
            return;
        }
        let (copy, paste, delete, fit, search, escape) = ui.input(|i| {
            let copy = i.events.iter().any(|e| matches!(e, egui::Event::Copy))
                || (i.modifiers.command && i.key_pressed(Key::C));
            let paste = i.events.iter().find_map(|e| match e {
                egui::Event::Paste(t) => Some(Some(t.clone())),
                _ => None,
            });
            let paste = paste.or_else(|| (i.modifiers.command && i.key_pressed(Key::V)).then_some(None));
            let delete = i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace);
            let plain = i.modifiers.is_none();
            let fit = plain && i.key_pressed(Key::F);
            let search = plain && (i.key_pressed(Key::Space) || i.key_pressed(Key::Tab));
            let escape = i.key_pressed(Key::Escape);
            (copy, paste, delete, fit, search, escape)
        });
        if copy {
            self.copy(&ctx);
        }
        if let Some(text) = paste {
            self.paste(text.as_deref());
        }
        if delete {
            self.delete_selection();
        }
        if fit {
            self.editor.fit_view();
        }
        if search && self.editor.search.is_none() {
            let p = ctx
                .pointer_latest_pos()
                .filter(|p| self.editor_rect.contains(*p))
                .unwrap_or(self.editor_rect.center());
            self.editor.search = Some(editor::Search {
                at: self.editor.to_graph(p),
                screen: p,
                text: String::new(),
                age: 0,
            });
        }
        if escape {
            if self.editor.search.is_some() {
                self.editor.search = None;
            } else if self.editor.scope != Scope::Root {
                self.open_block(None);
            }
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("New").clicked() {
                    self.request(Pending::New);
                }
                if ui.button("New from preset…").clicked() {
                    self.gallery_open = true;
                }
                if ui.button("Open…").clicked() {
                    self.request(Pending::OpenDialog);
                }
                ui.menu_button("Open recent", |ui| {
                    if self.prefs.recent.files.is_empty() {
                        ui.weak("nothing yet");
                    }
                    for p in self.prefs.recent.files.clone() {
                        if ui.button(p.display().to_string()).clicked() {
                            self.request(Pending::Open(p));
                        }
                    }
                });
                ui.separator();
                if ui.button("Save").clicked() {
                    self.save();
                }
                if ui.button("Save As…").clicked() {
                    self.start_dialog(files::Purpose::SaveAs);
                }
                ui.separator();
                if ui
                    .button("Export picture…")
                    .on_hover_text("The graph shown, as PNG or SVG, with shapes on the wires — for papers and slides")
                    .clicked()
                {
                    self.start_dialog(files::Purpose::Picture);
                }
                ui.menu_button("Export", |ui| {
                    if ui
                        .button("PyTorch…")
                        .on_hover_text(
                            "A folder with model.py (an nn.Module), train.py (this recipe, runs under torchrun) and the trained weights",
                        )
                        .clicked()
                    {
                        self.start_dialog(files::Purpose::ExportPytorch);
                    }
                    if ui
                        .button("ONNX…")
                        .on_hover_text("One .onnx file (opset 17) with the trained weights, for onnxruntime and other runtimes")
                        .clicked()
                    {
                        self.start_dialog(files::Purpose::ExportOnnx);
                    }
                });
                if ui
                    .button("Import ONNX…")
                    .on_hover_text("Open an .onnx model as an editable graph with its weights")
                    .clicked()
                {
                    self.start_dialog(files::Purpose::ImportOnnx);
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
                }
            });
            ui.menu_button("Edit", |ui| {
                if ui
                    .add_enabled(self.document.can_undo(), egui::Button::new("Undo"))
                    .clicked()
                {
                    self.undo(false);
                }
                if ui
                    .add_enabled(self.document.can_redo(), egui::Button::new("Redo"))
                    .clicked()
                {
                    self.undo(true);
                }
                ui.separator();
                if ui.button("Copy").clicked() {
                    let ctx = ui.ctx().clone();
                    self.copy(&ctx);
                }
                if ui.button("Paste").clicked() {
                    self.paste(None);
                }
                if ui.button("Delete").clicked() {
                    self.delete_selection();
                }
                if ui.button("Select all").clicked() {
                    self.editor.select_all(&self.document);
                }
                if ui.button("Group into block").clicked() {
                    self.group_selection();
                }
            });
            ui.menu_button("View", |ui| {
                if ui.button("Fit view").clicked() {
                    self.editor.fit_view();
                }
                if ui.button("Auto-layout").clicked() {
                    self.auto_layout();
                }
                ui.horizontal(|ui| {
                    use crate::doc::Direction;
                    ui.label("Flow");
                    let d = &mut self.prefs.layout_direction;
                    let before = *d;
                    ui.selectable_value(d, Direction::TopToBottom, "top to bottom");
                    ui.selectable_value(d, Direction::LeftToRight, "left to right");
                    if *d != before {
                        self.auto_layout();
                    }
                });
                ui.separator();
                if ui.checkbox(&mut self.prefs.light, "Light theme").changed() {
                    apply_theme(ui.ctx(), self.prefs.light);
                }
            });
            ui.menu_button("Train", |ui| {
                if ui
                    .add_enabled(!self.dashboard.busy(), egui::Button::new("Train"))
                    .clicked()
                {
                    let ctx = ui.ctx().clone();
                    self.train(&ctx);
                }
                if ui
                    .add_enabled(self.dashboard.busy(), egui::Button::new("Stop"))
                    .clicked()
                {
                    self.dashboard.stop();
                }
            });
        });
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.document.can_undo(), egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.undo(false);
            }
            if ui
                .add_enabled(self.document.can_redo(), egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z / Ctrl+Y")
                .clicked()
            {
                self.undo(true);
            }
            if ui.button("Save").on_hover_text("Ctrl+S").clicked() {
                self.save();
            }
            if ui
                .button("Auto-layout")
                .on_hover_text("Layered, left to right; pinned nodes stay")
                .clicked()
            {
                self.auto_layout();
            }
            if ui.button("Fit view").on_hover_text("F").clicked() {
                self.editor.fit_view();
            }
            if ui
                .button("Group")
                .on_hover_text("Group the selected nodes into a block (Ctrl+G)")
                .clicked()
            {
                self.group_selection();
            }
            ui.separator();
            // Breadcrumb: where the canvas is.
            if ui
                .selectable_label(self.editor.scope == Scope::Root, &self.document.project.name)
                .on_hover_text("The top-level graph")
                .clicked()
            {
                self.open_block(None);
            }
            if let Scope::Block(b) = self.editor.scope.clone() {
                ui.label("›");
                let name = self.document.project.block(&b).map_or(b.clone(), |d| d.name.clone());
                let _ = ui.selectable_label(true, name);
                if ui.small_button("back").on_hover_text("Esc").clicked() {
                    self.open_block(None);
                }
            }
            ui.separator();
            ui.label(format!(
                "{} nodes · {} parameters · recipe {}",
                self.document.project.graph.nodes.len(),
                editor::human(self.report.total_params),
                self.document.project.recipe.id
            ));
            ui.weak(&self.status);
        });
    }

    fn bottom(&mut self, ui: &mut egui::Ui) {
        let data_dir = self.data_dir();
        self.dashboard.controls(ui, &self.document.project, data_dir);
        ui.horizontal(|ui| {
            let problems = self.report.diagnostics.len();
            let label = if problems == 0 {
                "Problems".to_owned()
            } else {
                format!("Problems ({problems})")
            };
            ui.selectable_value(&mut self.dashboard.tab, Tab::Problems, label);
            ui.selectable_value(&mut self.dashboard.tab, Tab::Training, "Training");
            ui.selectable_value(&mut self.dashboard.tab, Tab::Samples, "Samples");
            let generative =
                crate::catalog::recipe(&self.document.project.recipe.id).is_some_and(|r| r.generate.is_some());
            if generative {
                ui.selectable_value(&mut self.dashboard.tab, Tab::Generate, "Generate")
                    .on_hover_text("Samples on demand from the trained weights: seed, class, guidance, steps");
            }
            ui.selectable_value(&mut self.dashboard.tab, Tab::Cost, "Cost")
                .on_hover_text("Measured forward and backward time per node: where training time goes");
        });
        ui.separator();
        match self.dashboard.tab {
            Tab::Problems => self.problems(ui),
            Tab::Training => self.dashboard.training_tab(ui),
            Tab::Samples => self.dashboard.samples_tab(ui),
            Tab::Generate => {
                let data_dir = self.data_dir();
                self.dashboard.generate_tab(ui, &self.document.project, data_dir);
            }
            Tab::Cost => {
                let picked = self.dashboard.cost_table.show(
                    ui,
                    &self.document.project,
                    &self.report,
                    self.dashboard.cost.as_ref(),
                );
                if let Some(id) = picked {
                    self.editor.set_scope(Scope::Root);
                    self.editor.selection = [id].into();
                    self.editor.selected = Some(id);
                }
            }
        }
    }

    fn problems(&mut self, ui: &mut egui::Ui) {
        if self.report.diagnostics.is_empty() {
            ui.label("✔ valid");
            return;
        }
        let mut fix = None;
        let mut select = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for d in &self.report.diagnostics {
                ui.horizontal(|ui| {
                    let color = match d.severity {
                        crate::shape::Severity::Error => egui::Color32::from_rgb(240, 90, 90),
                        _ => egui::Color32::from_rgb(230, 180, 80),
                    };
                    let r = ui.colored_label(color, &d.message);
                    if let Some(n) = d.node
                        && r.on_hover_text("Click to select the node").clicked()
                    {
                        select = Some(n);
                    }
                    if let Some(f) = &d.fix {
                        let edit = f
                            .action
                            .as_ref()
                            .zip(d.node)
                            .and_then(|(a, n)| editor::fix_edit(&self.document.project, &Scope::Root, n, a));
                        match edit {
                            Some(e) => {
                                if ui.small_button(format!("Fix: {}", f.label)).clicked() {
                                    fix = Some(e);
                                }
                            }
                            _ => {
                                ui.weak(format!("fix: {}", f.label));
                            }
                        }
                    }
                });
            }
        });
        if let Some(n) = select {
            self.open_block(None);
            self.editor.selection = [n].into();
            self.editor.selected = Some(n);
        }
        if let Some(e) = fix {
            self.apply(e);
        }
    }

    fn modals(&mut self, ctx: &egui::Context) {
        if let Some(action) = self.confirm.clone() {
            let what = match &action {
                Pending::New => "starting a new project".to_owned(),
                Pending::Preset(id) => format!("opening preset {id}"),
                Pending::Open(p) => format!("opening {}", p.display()),
                Pending::OpenDialog => "opening another project".to_owned(),
                Pending::Quit => "quitting".to_owned(),
            };
            let mut answer = None;
            egui::Modal::new(egui::Id::new("strata-confirm")).show(ctx, |ui| {
                ui.heading("Unsaved changes");
                ui.label(format!(
                    "{} has unsaved changes. Discard them before {what}?",
                    self.document.project.name
                ));
                ui.horizontal(|ui| {
                    if ui.button("Save first").clicked() {
                        answer = Some(0);
                    }
                    if ui.button("Discard changes").clicked() {
                        answer = Some(1);
                    }
                    if ui.button("Cancel").clicked() {
                        answer = Some(2);
                    }
                });
            });
            match answer {
                Some(0) => {
                    self.save();
                    if self.document.is_dirty() {
                        self.confirm = None;
                    } else {
                        self.confirm(true);
                    }
                }
                Some(1) => {
                    self.confirm(true);
                    if action == Pending::Quit {
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    }
                }
                Some(_) => self.confirm(false),
                None => {}
            }
        }
        if let Some((doc, info)) = &self.restore {
            let mut answer = None;
            let name = doc.project.name.clone();
            let from = info
                .original
                .as_ref()
                .map(|p| format!(" (from {})", p.display()))
                .unwrap_or_default();
            egui::Modal::new(egui::Id::new("strata-restore")).show(ctx, |ui| {
                ui.heading("Restore unsaved work?");
                ui.label(format!(
                    "Strata did not close normally. Unsaved changes to {name}{from} were autosaved."
                ));
                ui.horizontal(|ui| {
                    let restore = ui.button("Restore").on_hover_text("Enter");
                    if restore.clicked() || ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                        answer = Some(true);
                    }
                    if ui.button("Discard").clicked() {
                        answer = Some(false);
                    }
                });
            });
            match answer {
                Some(true) => {
                    if let Some((doc, _)) = self.restore.take() {
                        self.document = doc;
                        self.recheck();
                        self.editor.reset();
                        self.status = "restored the autosaved changes (not saved yet)".into();
                    }
                }
                Some(false) => {
                    self.restore = None;
                    if let Some(r) = &self.recovery {
                        let _ = r.clear();
                    }
                }
                None => {}
            }
        }
        if self.gallery_open {
            let mut open = true;
            let mut chosen = None;
            let mut action = None;
            egui::Window::new("Start — new project")
                .open(&mut open)
                .collapsible(false)
                .default_size([760.0, 560.0])
                .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
                .show(ctx, |ui| {
                    ui.horizontal(|ui| {
                        if ui.button("Empty project").clicked() {
                            action = Some(Pending::New);
                        }
                        if ui.button("Open…").clicked() {
                            action = Some(Pending::OpenDialog);
                        }
                        for p in self.prefs.recent.files.iter().take(4) {
                            let name = p
                                .file_name()
                                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into());
                            if ui.button(name).on_hover_text(p.display().to_string()).clicked() {
                                action = Some(Pending::Open(p.clone()));
                            }
                        }
                    });
                    ui.separator();
                    chosen = self.gallery.show(ui);
                });
            if let Some(id) = chosen {
                self.request(Pending::Preset(id));
            }
            if let Some(a) = action {
                self.gallery_open = false;
                self.request(a);
            }
            if !open {
                self.gallery_open = false;
            }
        }
    }

    fn search_popup(&mut self, ctx: &egui::Context) {
        let Some(search) = &mut self.editor.search else { return };
        let mut picked = None;
        let mut close = false;
        search.age += 1;
        let area = egui::Area::new(egui::Id::new("strata-search"))
            .fixed_pos(search.screen)
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_width(240.0);
                    ui.label("Add a layer");
                    let r = ui.add(egui::TextEdit::singleline(&mut search.text).hint_text("type to search"));
                    r.request_focus();
                    let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let hits = search_kinds(&search.text, None);
                    for (k, s) in hits.into_iter().take(10).enumerate() {
                        if ui.button(s.name).on_hover_text(s.doc).clicked() || (enter && k == 0) {
                            picked = Some(s.id);
                        }
                    }
                    if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                        close = true;
                    }
                });
            });
        // A click elsewhere closes it (not the click that opened it).
        if search.age > 2 && ctx.input(|i| i.pointer.any_pressed()) && !area.response.contains_pointer() {
            close = true;
        }
        if let Some(kind) = picked {
            let at = search.at;
            let scope = self.editor.scope.clone();
            if let Some(e) = editor::add_kind(&mut self.document, &scope, kind, at, None) {
                self.apply(e);
            }
            close = true;
        }
        if close {
            self.editor.search = None;
        }
    }
}

fn apply_theme(ctx: &egui::Context, light: bool) {
    ctx.set_theme(if light { egui::Theme::Light } else { egui::Theme::Dark });
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if self.ctx.is_none() {
            self.ctx = Some(ctx.clone());
            apply_theme(&ctx, self.prefs.light);
        }
        self.dashboard.checkpoints = self.document.path.as_ref().map(|p| p.with_extension("checkpoints"));
        self.dashboard.poll();
        if self.dashboard.take_finished() {
            self.save_history();
        }
        self.poll_dialog();
        self.poll_transfer();
        self.autosave(&ctx);
        // Files dropped on the window open (asking first if there are unsaved changes); an
        // .onnx file is imported as a new project first.
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        if let Some(p) = dropped.into_iter().next() {
            if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
                self.start_transfer(transfer::Kind::ImportOnnx, p);
            } else {
                self.request(Pending::Open(p));
            }
        }
        if ctx.input(|i| i.viewport().close_requested()) && !self.allow_close {
            if self.document.is_dirty() {
                ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                self.confirm = Some(Pending::Quit);
            } else {
                self.carry_out(Pending::Quit);
            }
        }
        if self.confirm.is_none() && self.restore.is_none() {
            self.shortcuts(ui);
        }
        let title = self.document.title();
        if title != self.shown_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.shown_title = title;
        }
        egui::Panel::top("strata-menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::top("strata-top").show(ui, |ui| self.toolbar(ui));
        let mut pending: Vec<Edit> = Vec::new();
        egui::Panel::left("strata-palette")
            .default_size(210.0)
            .resizable(true)
            .show(ui, |ui| {
                if let Some(kind) = editor::palette(ui, &mut self.filter) {
                    // A click adds the kind in the middle of the view.
                    let at = self.editor.to_graph(self.editor_rect.center());
                    let n = self.document.project.graph.nodes.len() as f32;
                    let at = egui::pos2(at.x + (n % 5.0) * 12.0, at.y + (n % 5.0) * 12.0);
                    let scope = self.editor.scope.clone();
                    if let Some(e) = editor::add_kind(&mut self.document, &scope, kind, at, None) {
                        pending.push(e);
                    }
                }
            });
        let in_root = self.editor.scope == Scope::Root;
        let _ = self.scope_report();
        let mut inspected: Option<inspector::InspectorEdit> = None;
        egui::Panel::right("strata-inspector")
            .default_size(290.0)
            .resizable(true)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let report = if in_root {
                        Some(&self.report)
                    } else {
                        self.block_report.as_ref().map(|(_, _, r)| r)
                    };
                    match inspector::inspector(ui, &self.document, report, &self.editor.scope, self.editor.selected) {
                        Some(e) => inspected = Some(e),
                        None if self.editor.selected.is_none() => {
                            inspected = settings::project_settings(ui, &self.document.project);
                        }
                        None => {}
                    }
                    if let Some(id) = self.editor.selected.filter(|_| in_root) {
                        ui.separator();
                        self.dashboard.watched_view(ui, id);
                    }
                });
            });
        egui::Panel::bottom("strata-bottom")
            .default_size(260.0)
            .resizable(true)
            .show(ui, |ui| self.bottom(ui));
        self.dashboard.watch(self.editor.selected.filter(|_| in_root));
        let mut dropped_wire = None;
        egui::CentralPanel::default().show(ui, |ui| {
            self.editor_rect = ui.available_rect_before_wrap();
            self.editor.sync(&self.document);
            let pictures = if in_root {
                self.node_pictures(ui.ctx())
            } else {
                Vec::new()
            };
            let live = editor::Live {
                cost: self
                    .dashboard
                    .cost_shares
                    .as_ref()
                    .filter(|_| in_root)
                    .zip(self.dashboard.cost.as_ref().map(|(_, c)| c.as_slice())),
                pictures: &pictures,
                activity: in_root.then_some(&self.dashboard.activity),
                thumbnail: self
                    .editor
                    .selected
                    .filter(|_| in_root)
                    .and_then(|n| self.dashboard.thumbnail(n).map(|t| (n, t))),
            };
            let report = if in_root {
                Some(&self.report)
            } else {
                self.block_report.as_ref().map(|(_, _, r)| r)
            };
            let (edits, dropped) = self.editor.show(ui, &self.document, report, &live);
            pending.extend(edits);
            dropped_wire = dropped;
        });
        if let Some(d) = dropped_wire {
            let scope = self.editor.scope.clone();
            if let Some(e) = editor::add_kind(&mut self.document, &scope, d.kind, d.at, Some(&d.from)) {
                pending.push(e);
            }
        }
        if let Some(b) = self.editor.open_block.take() {
            self.open_block(Some(&b));
        }
        for e in pending {
            self.apply(e);
        }
        if let Some(e) = inspected {
            self.apply_inspected(e);
        }
        self.search_popup(&ctx);
        self.modals(&ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.prefs.steps = self.dashboard.steps;
        eframe::set_value(storage, eframe::APP_KEY, &self.prefs);
    }

    fn on_exit(&mut self) {
        self.dashboard.stop();
        if !self.document.is_dirty()
            && let Some(r) = &self.recovery
        {
            let _ = r.clear();
        }
    }
}

/// The checker's report plus, for a valid graph, the memory check against `free` bytes.
fn check_with_memory(project: &Project, free: Option<u64>) -> Report {
    let mut report = shape::check(project);
    if report.is_valid()
        && let Some(d) = shape::memory::diagnostic(project, free)
    {
        report.diagnostics.push(d);
    }
    report
}

/// Opens the window and blocks until it is closed.
/// Opens the window with `document` (or the start screen), and `open_error` — why a file given on
/// the command line could not be opened — shown on the start screen.
pub fn run(document: Option<Document>, open_error: Option<String>) -> Result<(), String> {
    let title = document
        .as_ref()
        .map(Document::title)
        .unwrap_or_else(|| "Strata".into());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1400.0, 860.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Strata",
        options,
        Box::new(move |cc| {
            let prefs: Prefs = cc
                .storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                .unwrap_or_default();
            let recovery = eframe::storage_dir("Strata").map(|d| Recovery::new(d.join("recovery")));
            let mut app = StrataApp::with_storage(document, prefs, recovery);
            if let Some(e) = open_error {
                app.start_with_error(e);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| format!("cannot open a window: {e} — is a display available? (the CLI commands work without one)"))
}
