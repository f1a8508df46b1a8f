//! The Generate tab: samples drawn on demand from the weights of the current run (or of the last
//! one once it ended), with a chosen seed, count, class, guidance scale and sampler steps — the
//! knobs the recipe's [`GenerateSpec`] offers.

use super::super::views::{self, PictureCache};
use crate::catalog::GenerateSpec;
use crate::doc::Project;
use crate::engine::recipes::GenerateRequest;
use crate::telemetry::View;
use std::path::PathBuf;

/// What the tab holds: the controls, whether a request is out, and the latest answer.
#[derive(Default)]
pub struct GeneratePanel {
    /// The controls as set.
    pub request: GenerateRequest,
    /// Draw one class (else one class per column).
    pub one_class: bool,
    /// Override the recipe's guidance scale / sampler steps.
    pub own_guidance: bool,
    /// See `own_guidance`.
    pub own_steps: bool,
    /// Guidance scale when overridden.
    pub guidance: f64,
    /// Sampler steps when overridden.
    pub steps: usize,
    /// The prompt typed (language models).
    pub prompt: Option<String>,
    /// Sampling temperature (language models).
    pub temperature: Option<f64>,
    /// A request is out.
    pub waiting: bool,
    /// The latest answer: what was asked, the samples or why none, seconds.
    pub result: Option<(GenerateRequest, Result<View, String>, f64)>,
    /// Draw from a saved checkpoint (its folder) instead of this session's weights.
    pub from: Option<PathBuf>,
    cache: PictureCache,
    shown: u64,
}

impl GeneratePanel {
    /// The request the controls describe.
    pub fn current_request(&self, spec: &GenerateSpec) -> GenerateRequest {
        GenerateRequest {
            class: (spec.class && self.one_class).then_some(self.request.class.unwrap_or(0)),
            guidance: (spec.guidance && self.own_guidance).then_some(self.guidance),
            steps: (spec.steps && self.own_steps).then_some(self.steps.max(1)),
            prompt: if spec.prompt { self.prompt.clone() } else { None },
            temperature: if spec.prompt { self.temperature } else { None },
            ..self.request.clone()
        }
    }

    /// Takes the trainer's answer.
    pub fn answer(&mut self, request: GenerateRequest, result: Result<View, String>, seconds: f64) {
        self.waiting = false;
        self.shown += 1;
        self.result = Some((request, result, seconds));
    }

    /// Draws the tab; returns the request to send when the user pressed Generate, with the
    /// checkpoint to load (`None`: this session's weights). `saved` lists earlier runs with a
    /// checkpoint on disk (label, folder), newest first.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        spec: Option<&GenerateSpec>,
        project: &Project,
        live: bool,
        saved: &[(String, PathBuf)],
    ) -> Option<(GenerateRequest, Option<PathBuf>)> {
        let Some(spec) = spec else {
            ui.weak(format!(
                "The {} recipe does not generate samples: pick one that does in the project settings (the Generate tab shows for those).",
                project.recipe.id
            ));
            return None;
        };
        ui.weak(spec.doc);
        // Where the weights come from.
        if self.from.as_ref().is_some_and(|f| !saved.iter().any(|(_, p)| p == f)) {
            self.from = None;
        }
        if !live && self.from.is_none() {
            self.from = saved.first().map(|(_, p)| p.clone());
        }
        let name_of = |from: &Option<PathBuf>| match from {
            None => "this session's run".to_owned(),
            Some(p) => saved
                .iter()
                .find(|(_, q)| q == p)
                .map_or_else(|| p.display().to_string(), |(l, _)| l.clone()),
        };
        ui.horizontal(|ui| {
            ui.label("weights");
            egui::ComboBox::from_id_salt("strata-generate-from")
                .selected_text(name_of(&self.from))
                .width(320.0)
                .show_ui(ui, |ui| {
                    ui.add_enabled_ui(live, |ui| {
                        ui.selectable_value(&mut self.from, None, "this session's run");
                    });
                    for (label, path) in saved {
                        ui.selectable_value(&mut self.from, Some(path.clone()), label)
                            .on_hover_text(path.display().to_string());
                    }
                });
        });
        let has_weights = live && self.from.is_none() || self.from.is_some();
        let mut send = None;
        ui.horizontal_wrapped(|ui| {
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.request.seed).range(0..=u32::MAX as u64));
            if ui.small_button("new seed").on_hover_text("Another seed").clicked() {
                self.request.seed = self
                    .request
                    .seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1)
                    >> 33;
            }
            if spec.prompt {
                let mut prompt = self.prompt.clone().unwrap_or_else(|| {
                    crate::engine::recipes::setting(project, "prompt")
                        .and_then(|v| v.as_text().map(str::to_owned))
                        .unwrap_or_default()
                });
                ui.label("prompt");
                if ui
                    .add(egui::TextEdit::singleline(&mut prompt).desired_width(220.0))
                    .on_hover_text("The text the model continues (characters of its training text)")
                    .changed()
                {
                    self.prompt = Some(prompt);
                }
                let mut temp = self
                    .temperature
                    .unwrap_or_else(|| setting(project, "temperature").unwrap_or(0.8));
                ui.label("temperature");
                if ui
                    .add(egui::Slider::new(&mut temp, 0.05..=2.0).fixed_decimals(2))
                    .changed()
                {
                    self.temperature = Some(temp);
                }
            } else {
                ui.label("samples");
                ui.add(egui::DragValue::new(&mut self.request.count).range(1..=256));
            }
            if spec.class {
                ui.checkbox(&mut self.one_class, "class")
                    .on_hover_text("Draw one class (off: each column another class)");
                let mut c = self.request.class.unwrap_or(0);
                if ui
                    .add_enabled(self.one_class, egui::DragValue::new(&mut c).range(0..=9_999))
                    .changed()
                {
                    self.request.class = Some(c);
                }
            }
            if spec.guidance {
                if !self.own_guidance {
                    self.guidance = setting(project, "guidance").unwrap_or(2.0);
                }
                ui.checkbox(&mut self.own_guidance, "guidance")
                    .on_hover_text("Classifier-free guidance scale (off: the recipe's setting)");
                ui.add_enabled(
                    self.own_guidance,
                    egui::Slider::new(&mut self.guidance, 0.0..=10.0).fixed_decimals(1),
                );
            }
            if spec.steps {
                if !self.own_steps {
                    let key = ["sample_steps", "langevin_steps"]
                        .into_iter()
                        .find(|k| setting(project, k).is_some());
                    self.steps = key.and_then(|k| setting(project, k)).map_or(50, |v| v as usize);
                }
                ui.checkbox(&mut self.own_steps, "steps")
                    .on_hover_text("Sampler steps (off: the recipe's setting)");
                ui.add_enabled(self.own_steps, egui::DragValue::new(&mut self.steps).range(1..=1000));
            }
            let label = if self.waiting {
                "Generating…"
            } else {
                if spec.prompt { "Write" } else { "Generate samples" }
            };
            let button = ui
                .add_enabled(has_weights && !self.waiting, egui::Button::new(label))
                .on_hover_text("Draw samples from the trained weights")
                .on_disabled_hover_text(if has_weights {
                    "Generating…"
                } else {
                    "Train first: samples come from trained weights (runs of a saved project keep theirs)"
                });
            if button.clicked() {
                self.waiting = true;
                send = Some((self.current_request(spec), self.from.clone()));
            }
        });
        match &self.result {
            None => {
                if !has_weights {
                    ui.weak("Train the project (or let a run finish) to generate from its weights.");
                }
            }
            Some((req, Err(e), _)) => {
                ui.colored_label(egui::Color32::from_rgb(240, 90, 90), e)
                    .on_hover_text(format!("{req:?}"));
            }
            Some((req, Ok(view), seconds)) => {
                ui.weak(format!(
                    "seed {}, {} samples, drawn in {seconds:.1} s",
                    req.seed, req.count
                ));
                let h = ui.available_height().max(120.0);
                views::show(ui, view, ("generated".into(), self.shown), h, &mut self.cache);
            }
        }
        send
    }
}

fn setting(project: &Project, key: &str) -> Option<f64> {
    project.recipe.settings.get(key).and_then(|v| v.as_float()).or_else(|| {
        crate::catalog::recipe(&project.recipe.id)
            .and_then(|r| r.setting(key))
            .and_then(|p| p.default.to_value().as_float())
    })
}
