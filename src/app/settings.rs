//! The inspector with nothing selected: the project's name, recipe (and its typed settings),
//! dataset and training settings.

use super::inspector::{InspectorEdit, committed_text, param_widget};
use crate::catalog;
use crate::data::sources;
use crate::doc::{Edit, Project};
use crate::engine::recipes::trainable;

/// One labelled row of a settings grid; a change records whether it is part of a drag.
fn row(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget, gesture: &mut (bool, bool)) {
    ui.label(label);
    let r = ui.add(widget);
    if r.changed() {
        *gesture = (r.dragged() || r.has_focus(), r.drag_started());
    }
    ui.end_row();
}

/// One labelled combo box row choosing among `options`.
fn choice<T: Copy + PartialEq + std::fmt::Debug>(ui: &mut egui::Ui, label: &str, value: &mut T, options: &[T]) {
    ui.label(label);
    egui::ComboBox::from_id_salt(("strata-setting", label))
        .selected_text(format!("{value:?}"))
        .show_ui(ui, |ui| {
            for o in options {
                ui.selectable_value(value, *o, format!("{o:?}"));
            }
        });
    ui.end_row();
}

/// The inspector with no node selected: the project's recipe, dataset and training settings.
pub fn project_settings(ui: &mut egui::Ui, project: &Project) -> Option<InspectorEdit> {
    use crate::doc::{Optimizer, Schedule};
    ui.heading("Project");
    ui.weak("Click a node's title to inspect it. Shift-click or shift-drag to select several.");
    ui.separator();
    let mut out = None;
    ui.horizontal(|ui| {
        ui.label("name");
        let id = egui::Id::new("strata-project-name");
        if let Some(n) = committed_text(ui, id, &project.name, "The project's name") {
            out = Some(InspectorEdit::from(Edit::RenameProject {
                name: n.trim().to_owned(),
            }));
        }
    });
    let mut t = project.training.clone();
    let mut gesture = (false, false);
    egui::Grid::new("strata-project-settings")
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            ui.label("recipe");
            let current = catalog::recipe(&project.recipe.id);
            let mut id = project.recipe.id.clone();
            egui::ComboBox::from_id_salt("strata-recipe")
                .selected_text(current.map_or(id.as_str(), |r| r.name))
                .show_ui(ui, |ui| {
                    for r in catalog::recipes() {
                        let label = if trainable(r.id) {
                            r.name.to_owned()
                        } else {
                            format!("{} (not trainable yet)", r.name)
                        };
                        ui.selectable_value(&mut id, r.id.to_owned(), label)
                            .on_hover_text(r.doc);
                    }
                });
            if id != project.recipe.id {
                // A new recipe starts from its own defaults: settings of the old one mean nothing to it.
                out = Some(InspectorEdit::from(Edit::SetRecipe(crate::doc::RecipeSettings {
                    id,
                    settings: Default::default(),
                })));
            }
            ui.end_row();
            let specs = current.map(|r| r.settings).unwrap_or_default();
            if let Some(e) = typed_rows(ui, "recipe", specs, &project.recipe.settings, |settings| {
                Edit::SetRecipe(crate::doc::RecipeSettings {
                    id: project.recipe.id.clone(),
                    settings,
                })
            }) {
                out = Some(e);
            }
            ui.label("dataset");
            let mut ds = project.dataset.id.clone();
            let source = sources::source(&ds);
            let shown = match (ds.is_empty(), source) {
                (true, _) => "(none)".to_owned(),
                (false, Some(s)) => s.name.to_owned(),
                (false, None) => format!("{ds} (not available)"),
            };
            // Only the sources whose kind of data the recipe learns from.
            let kinds = current.map(|r| r.data).unwrap_or_default();
            egui::ComboBox::from_id_salt("strata-dataset")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for s in sources::SOURCES
                        .iter()
                        .filter(|s| kinds.is_empty() || kinds.contains(&s.kind))
                    {
                        ui.selectable_value(&mut ds, s.id.to_owned(), s.name)
                            .on_hover_text(s.doc);
                    }
                });
            if ds != project.dataset.id {
                out = Some(InspectorEdit::from(Edit::SetDataset(crate::doc::DatasetBinding {
                    id: ds,
                    options: Default::default(),
                })));
            }
            ui.end_row();
            let specs = source.map(|s| s.options).unwrap_or_default();
            if let Some(e) = typed_rows(ui, "dataset", specs, &project.dataset.options, |options| {
                Edit::SetDataset(crate::doc::DatasetBinding {
                    id: project.dataset.id.clone(),
                    options,
                })
            }) {
                out = Some(e);
            }
            choice(
                ui,
                "optimizer",
                &mut t.optimizer,
                &[Optimizer::Adam, Optimizer::AdamW, Optimizer::Sgd],
            );
            let speed = t.learning_rate.max(1e-6) * 0.01;
            let lr = egui::DragValue::new(&mut t.learning_rate)
                .range(1e-6..=10.0)
                .speed(speed)
                .max_decimals(6);
            row(ui, "learning rate", lr, &mut gesture);
            choice(
                ui,
                "schedule",
                &mut t.schedule,
                &[Schedule::Constant, Schedule::Cosine, Schedule::WarmupCosine],
            );
            row(
                ui,
                "warm-up steps",
                egui::DragValue::new(&mut t.warmup_steps).range(0..=1_000_000),
                &mut gesture,
            );
            row(
                ui,
                "batch size",
                egui::DragValue::new(&mut t.batch_size).range(1..=4096),
                &mut gesture,
            );
            row(
                ui,
                "steps",
                egui::DragValue::new(&mut t.steps).range(1..=10_000_000),
                &mut gesture,
            );
            let wd = egui::DragValue::new(&mut t.weight_decay).range(0.0..=1.0).speed(0.0001);
            row(ui, "weight decay", wd, &mut gesture);
            if t.optimizer == Optimizer::Sgd {
                row(
                    ui,
                    "momentum",
                    egui::Slider::new(&mut t.momentum, 0.0..=0.999),
                    &mut gesture,
                );
            }
            row(ui, "seed", egui::DragValue::new(&mut t.seed), &mut gesture);
        });
    if t != project.training {
        out = Some(InspectorEdit {
            edit: Edit::SetTraining(t),
            merge: gesture.0.then(|| "training".to_owned()),
            fresh: gesture.1,
        });
    }
    out
}

/// One grid row per typed value (recipe settings, dataset options): the value set, else the
/// default. A change becomes the edit `make` builds from the new values (a drag merges into one
/// undo step, keyed by `group` and the name).
fn typed_rows(
    ui: &mut egui::Ui,
    group: &str,
    specs: &[catalog::ParamSpec],
    values: &crate::doc::Params,
    make: impl Fn(crate::doc::Params) -> Edit,
) -> Option<InspectorEdit> {
    let mut out = None;
    for p in specs {
        // A checkbox carries its own label.
        if matches!(p.kind, catalog::ParamKind::Bool) {
            ui.label("");
        } else {
            ui.label(p.name).on_hover_text(p.tooltip);
        }
        let value = values.get(p.name).cloned().unwrap_or_else(|| p.default.to_value());
        let (new, g) = param_widget(ui, egui::Id::new(("strata-typed", group, p.name)), p, &value);
        if let Some(v) = new {
            let mut all = values.clone();
            all.insert(p.name.to_owned(), v);
            let (merge, fresh) = g.unwrap_or((false, false));
            out = Some(InspectorEdit {
                edit: make(all),
                merge: merge.then(|| format!("{group}/{}", p.name)),
                fresh,
            });
        }
        ui.end_row();
    }
    out
}
