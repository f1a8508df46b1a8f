//! The desktop window: a node editor on the open document (palette, canvas with live shapes
//! and parameter counts, inspector, diagnostics, undo/redo, save). A first step of the app
//! issue: file dialogs, blocks, the training dashboard and UI tests are still to come.

mod editor;

use crate::doc::Project;
use crate::shape::{self, Report};
use crate::workspace::Document;

/// The application state.
pub struct StrataApp {
    document: Document,
    report: Report,
    editor: editor::Editor,
    filter: String,
    status: String,
    shown_title: String,
}

impl StrataApp {
    /// Opens `document` (or an empty project).
    pub fn new(document: Option<Document>) -> Self {
        let document = document.unwrap_or_else(|| Document::new(Project::new("Untitled"), None));
        let report = shape::check(&document.project);
        StrataApp {
            document,
            report,
            editor: editor::Editor::default(),
            filter: String::new(),
            status: String::new(),
            shown_title: String::new(),
        }
    }

    /// The open document.
    pub fn document(&self) -> &Document {
        &self.document
    }

    /// The checker's report on it.
    pub fn report(&self) -> &Report {
        &self.report
    }

    fn apply(&mut self, edit: crate::doc::Edit) {
        match self.document.apply(edit) {
            Ok(()) => self.report = shape::check(&self.document.project),
            Err(e) => self.status = format!("could not apply: {e}"),
        }
    }

    fn undo(&mut self, redo: bool) {
        let r = if redo {
            self.document.redo()
        } else {
            self.document.undo()
        };
        match r {
            Ok(_) => self.report = shape::check(&self.document.project),
            Err(e) => self.status = e.to_string(),
        }
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let (undo, redo, save) = ui.input_mut(|i| {
            let undo = i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z);
            let redo = i.consume_key(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, egui::Key::Z)
                || i.consume_key(egui::Modifiers::COMMAND, egui::Key::Y);
            let save = i.consume_key(egui::Modifiers::COMMAND, egui::Key::S);
            (undo, redo, save)
        });
        if redo {
            self.undo(true);
        } else if undo {
            self.undo(false);
        }
        if save {
            self.status = match self.document.save() {
                Ok(()) => "saved".into(),
                Err(e) => e.to_string(),
            };
        }
        let title = self.document.title();
        if title != self.shown_title {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.shown_title = title;
        }
        let mut layout = None;
        egui::Panel::top("strata-top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong(self.document.title());
                ui.separator();
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
                if ui
                    .add_enabled(self.document.path.is_some(), egui::Button::new("Save"))
                    .clicked()
                {
                    self.status = match self.document.save() {
                        Ok(()) => "saved".into(),
                        Err(e) => e.to_string(),
                    };
                }
                if ui
                    .button("Auto-layout")
                    .on_hover_text("Layered, left to right; pinned nodes stay")
                    .clicked()
                {
                    let moves: Vec<_> = crate::doc::layered_layout(&self.document.project.graph)
                        .into_iter()
                        .map(|(node, pos)| crate::doc::Edit::Move {
                            scope: crate::doc::Scope::Root,
                            node,
                            pos,
                        })
                        .collect();
                    if !moves.is_empty() {
                        layout = Some(crate::doc::Edit::Batch(moves));
                    }
                }
                ui.separator();
                ui.label(format!(
                    "{} nodes · {} parameters · recipe {}",
                    self.document.project.graph.nodes.len(),
                    self.report.total_params,
                    self.document.project.recipe.id
                ));
                ui.weak(&self.status);
            });
        });
        let mut pending: Vec<crate::doc::Edit> = layout.into_iter().collect();
        egui::Panel::left("strata-palette").default_size(200.0).show(ui, |ui| {
            let at = [40.0 * (self.document.project.graph.nodes.len() % 10) as f32, 400.0];
            if let Some(e) = editor::palette(ui, &mut self.filter, &mut self.document, at) {
                pending.push(e);
            }
        });
        egui::Panel::right("strata-inspector")
            .default_size(280.0)
            .show(ui, |ui| {
                match editor::inspector(ui, &self.document, &self.report, self.editor.selected) {
                    Some(e) => pending.push(e),
                    None if self.editor.selected.is_none() => {
                        ui.weak("Click a node's title to inspect it.");
                    }
                    None => {}
                }
            });
        egui::Panel::bottom("strata-diagnostics").show(ui, |ui| {
            if self.report.diagnostics.is_empty() {
                ui.label("✔ valid");
            }
            for d in self.report.diagnostics.iter().take(6) {
                let fix = d
                    .fix
                    .as_ref()
                    .map(|f| format!(" — fix: {}", f.label))
                    .unwrap_or_default();
                ui.colored_label(egui::Color32::from_rgb(240, 90, 90), format!("{}{fix}", d.message));
            }
        });
        egui::CentralPanel::default().show(ui, |ui| {
            self.editor.sync(&self.document);
            pending.extend(self.editor.show(ui, &self.document, &self.report));
        });
        for e in pending {
            self.apply(e);
        }
    }
}

/// Opens the window and blocks until it is closed.
pub fn run(document: Option<Document>) -> Result<(), String> {
    let title = document
        .as_ref()
        .map(Document::title)
        .unwrap_or_else(|| "Strata".into());
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1280.0, 800.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Strata",
        options,
        Box::new(move |_cc| Ok(Box::new(StrataApp::new(document)))),
    )
    .map_err(|e| format!("cannot open a window: {e} — is a display available? (the CLI commands work without one)"))
}
