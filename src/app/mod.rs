//! The desktop window. Until the editor lands (app issue) this shows the open project's
//! summary: its nodes with their checked shapes and parameter counts, and its diagnostics.

use crate::doc::Project;
use crate::shape::{self, Report};

/// The placeholder application state.
pub struct StrataApp {
    project: Project,
    report: Report,
}

impl StrataApp {
    /// Opens `project` (or an empty one).
    pub fn new(project: Option<Project>) -> Self {
        let project = project.unwrap_or_else(|| Project::new("Untitled"));
        let report = shape::check(&project);
        StrataApp { project, report }
    }
}

impl eframe::App for StrataApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default().show(ui, |ui| {
            ui.heading(format!("Strata — {}", self.project.name));
            if let Some(p) = &self.project.preset {
                ui.label(format!("{} · {} · {}", p.archetype, p.family, p.paper));
            }
            ui.label(format!(
                "{} nodes, {} blocks, {} parameters, recipe '{}'",
                self.project.graph.nodes.len(),
                self.project.blocks.len(),
                self.report.total_params,
                self.project.recipe.id
            ));
            for d in &self.report.diagnostics {
                ui.colored_label(egui::Color32::LIGHT_RED, &d.message);
            }
            ui.separator();
            egui::ScrollArea::vertical().show(ui, |ui| {
                for n in &self.report.nodes {
                    let title = self
                        .project
                        .graph
                        .node(n.id)
                        .map(|node| crate::catalog::display_title(&self.project, node))
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
pub fn run(project: Option<Project>) -> Result<(), String> {
    let title = project
        .as_ref()
        .map(|p| format!("{} — Strata", p.name))
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
        Box::new(move |_cc| Ok(Box::new(StrataApp::new(project)))),
    )
    .map_err(|e| format!("cannot open a window: {e} — is a display available? (the CLI commands work without one)"))
}
