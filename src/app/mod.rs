//! The desktop window. Until the editor lands (app issue) this shows the open project's
//! summary: its nodes with their checked shapes and parameter counts, and its diagnostics.

use crate::doc::Project;
use crate::shape::{self, Report};
use crate::workspace::Document;

/// The placeholder application state.
pub struct StrataApp {
    document: Document,
    report: Report,
}

impl StrataApp {
    /// Opens `document` (or an empty project).
    pub fn new(document: Option<Document>) -> Self {
        let document = document.unwrap_or_else(|| Document::new(Project::new("Untitled"), None));
        let report = shape::check(&document.project);
        StrataApp { document, report }
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let project = &self.document.project;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading(self.document.title());
            if let Some(p) = &project.preset {
                ui.label(format!("{} · {} · {}", p.archetype, p.family, p.paper));
            }
            ui.label(format!(
                "{} nodes, {} blocks, {} parameters, recipe '{}'",
                project.graph.nodes.len(),
                project.blocks.len(),
                self.report.total_params,
                project.recipe.id
            ));
            for d in &self.report.diagnostics {
                ui.colored_label(egui::Color32::LIGHT_RED, &d.message);
            }
            ui.separator();
            egui::ScrollArea::vertical().show(ui, |ui| {
                for n in &self.report.nodes {
                    let title = project
                        .graph
                        .node(n.id)
                        .map(|node| crate::catalog::display_title(project, node))
                        .unwrap_or_default();
                    let shapes: Vec<String> = n
                        .outputs
                        .iter()
                        .map(|(p, t)| format!("{p}: {}", t.as_ref().map_or("?".to_owned(), |t| t.to_string())))
                        .collect();
                    ui.label(format!(
                        "{} {title}  {}  ({} params)",
                        n.id,
                        shapes.join(", "),
                        n.params
                    ));
                }
            });
        });
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
