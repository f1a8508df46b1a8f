//! The training dashboard: Train / Pause / Resume / Stop, progress with ETA, live plots of the
//! series the project's recipe declares (smoothing, log scale, earlier runs overlaid), its views
//! (a confusion matrix beside the plots; sample grids, scatters and tables in the Samples tab with
//! a step slider), the watched node's feature maps or histogram and node activity sparklines.
//!
//! It talks to the engine only through [`Trainer`] requests and events, and names no recipe:
//! what to draw comes from the recipe's declaration in the catalog.

pub mod cost;
mod generate;
mod run;

pub use generate::GeneratePanel;
pub use run::Run;

use super::views::{self, PictureCache};
use crate::catalog::{RecipeSpec, When};
use crate::doc::{NodeId, Project};
use crate::engine::device::DeviceChoice;
use crate::engine::trainer::{Event, Request, RunConfig, RunState, Trainer};
use crate::engine::watch::Tile;
use crate::telemetry::View;
use egui::{Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{Legend, Line, Plot, PlotPoints};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

/// Points kept per node sparkline.
const SPARK: usize = 48;

/// Which tab of the bottom panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Checker messages.
    Problems,
    /// Plots and controls.
    Training,
    /// Sample pictures.
    Samples,
    /// Samples on demand from the trained weights.
    Generate,
    /// Measured time per node.
    Cost,
}

/// Dashboard state.
pub struct Dashboard {
    trainer: Option<Trainer>,
    next_id: u64,
    /// Runs of this project, oldest first; the last one is the current or latest.
    pub runs: Vec<Run>,
    /// Where the current run is.
    pub state: RunState,
    started_at: Option<Instant>,
    paused_for: std::time::Duration,
    paused_at: Option<Instant>,
    /// Device the user asked for.
    pub device: DeviceChoice,
    /// Steps to train (0: the project's own).
    pub steps: u64,
    smoothing: f32,
    log_scale: bool,
    overlay: bool,
    /// The watched node's latest picture.
    pub tile: Option<(NodeId, u64, Tile)>,
    tile_texture: Option<(u64, TextureHandle)>,
    watched: Option<NodeId>,
    /// Recent activity per node (sparklines).
    pub activity: HashMap<NodeId, VecDeque<f32>>,
    /// The latest timing pass: (step, measured cost per node).
    pub cost: Option<(u64, Vec<crate::engine::profile::NodeCost>)>,
    /// Each node's share of the latest timing pass (the nodes' heat bars), computed once per pass.
    pub cost_shares: Option<HashMap<NodeId, f32>>,
    /// The Cost tab's sort order.
    pub cost_table: cost::CostTable,
    /// Views of the current run for the Samples tab: (step, channel, view), oldest first.
    pub samples: Vec<(u64, String, View)>,
    sample_index: usize,
    sample_channel: Option<String>,
    sample_cache: PictureCache,
    /// Textures of the views shown on output nodes: channel → (step, texture).
    node_textures: HashMap<String, (u64, TextureHandle)>,
    /// The last failure, shown until the next run.
    pub error: Option<String>,
    /// The tab shown in the bottom panel.
    pub tab: Tab,
    /// The Generate tab.
    pub generate: GeneratePanel,
    /// The folder for this project's run checkpoints (`name.checkpoints/` beside the file;
    /// `None` for a project without a file: its runs keep no weights on disk).
    pub checkpoints: Option<PathBuf>,
    /// A run of this session has weights the trainer still holds (running or ended).
    pub has_weights: bool,
    finished: bool,
}

/// Most earlier runs kept in a project's history.
pub const HISTORY_RUNS: usize = 10;
/// Most views kept for the Samples tab's slider.
const SAMPLES_KEPT: usize = 200;

impl Default for Dashboard {
    fn default() -> Self {
        Dashboard {
            trainer: None,
            next_id: 1,
            runs: Vec::new(),
            state: RunState::Idle,
            started_at: None,
            paused_for: std::time::Duration::ZERO,
            paused_at: None,
            device: DeviceChoice::Auto,
            steps: 0,
            smoothing: 0.6,
            log_scale: false,
            overlay: true,
            tile: None,
            tile_texture: None,
            watched: None,
            activity: HashMap::new(),
            cost: None,
            cost_shares: None,
            cost_table: cost::CostTable::default(),
            samples: Vec::new(),
            sample_index: 0,
            sample_channel: None,
            sample_cache: PictureCache::default(),
            node_textures: HashMap::new(),
            error: None,
            tab: Tab::Problems,
            generate: GeneratePanel::default(),
            checkpoints: None,
            has_weights: false,
            finished: false,
        }
    }
}

impl Dashboard {
    /// True while a run is compiling, training or paused.
    pub fn busy(&self) -> bool {
        matches!(self.state, RunState::Compiling | RunState::Training | RunState::Paused)
    }

    /// The current (or latest) run.
    pub fn current(&self) -> Option<&Run> {
        self.runs.last()
    }

    /// True once after a run ended (completed, stopped or failed): time to save the history.
    pub fn take_finished(&mut self) -> bool {
        std::mem::take(&mut self.finished)
    }

    /// The ended runs worth keeping: the last [`HISTORY_RUNS`], curves thinned.
    pub fn history(&self) -> Vec<Run> {
        let ended: Vec<&Run> = self.runs.iter().filter(|r| r.outcome.is_some()).collect();
        ended[ended.len().saturating_sub(HISTORY_RUNS)..]
            .iter()
            .map(|r| r.for_history())
            .collect()
    }

    /// Earlier runs of this project, read from its history file.
    pub fn load_history(&mut self, runs: Vec<Run>) {
        self.runs = runs
            .into_iter()
            .map(|mut r| {
                r.id = 0;
                r
            })
            .collect();
        // The latest views of the last run are what the Samples tab shows until the next run.
        if let Some(last) = self.runs.last() {
            self.samples = last
                .views
                .iter()
                .map(|(c, (step, v))| (*step, c.clone(), v.clone()))
                .collect();
        }
    }

    /// Forgets every run (another project was opened).
    pub fn reset(&mut self) {
        self.stop();
        let (device, steps, trainer, next_id) = (self.device, self.steps, self.trainer.take(), self.next_id);
        *self = Dashboard {
            device,
            steps,
            trainer,
            next_id,
            ..Dashboard::default()
        };
    }

    /// Starts training `project` (relative data paths resolve in `data_dir`).
    pub fn start(&mut self, ctx: &egui::Context, project: &Project, data_dir: Option<PathBuf>) {
        if self.trainer.is_none() {
            let ctx = ctx.clone();
            match Trainer::spawn(move || ctx.request_repaint()) {
                Ok(t) => self.trainer = Some(t),
                Err(e) => {
                    self.error = Some(format!("cannot start the trainer thread: {e}"));
                    return;
                }
            }
        }
        let Some(trainer) = &self.trainer else { return };
        let id = self.next_id;
        self.next_id += 1;
        if self.watched.is_some() {
            trainer.send(Request::Watch(self.watched));
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let config = RunConfig {
            steps: (self.steps > 0).then_some(self.steps),
            device: self.device,
            checkpoint: self.checkpoints.as_ref().map(|d| d.join(format!("run-{stamp}-{id}"))),
            eval_every: 0,
            data_dir,
            ..RunConfig::live()
        };
        let planned = config.steps.unwrap_or(project.training.steps).max(1);
        let eval_every = (planned / 10).max(25);
        let config = RunConfig { eval_every, ..config };
        if trainer.send(Request::Start {
            run_id: id,
            project: Box::new(project.clone()),
            config,
        }) {
            // Earlier runs are kept as the history keeps them: the last few, curves thinned.
            let ended = self.runs.len().saturating_sub(HISTORY_RUNS - 1);
            self.runs.drain(..ended);
            for r in &mut self.runs {
                let id = r.id;
                *r = r.for_history();
                r.id = id;
            }
            self.runs.push(Run::new(
                id,
                format!("run {}", self.runs.len() + 1),
                &project.recipe.id,
                planned,
            ));
            self.state = RunState::Compiling;
            self.error = None;
            self.samples.clear();
            self.sample_cache = PictureCache::default();
            self.activity.clear();
            self.cost = None;
            self.cost_shares = None;
            self.started_at = None;
            self.paused_for = std::time::Duration::ZERO;
            self.paused_at = None;
            self.tab = Tab::Training;
        } else {
            self.error = Some("the trainer is not answering; try again".into());
        }
    }

    fn send(&self, r: Request) {
        if let Some(t) = &self.trainer {
            t.send(r);
        }
    }

    /// Pauses after the current step.
    pub fn pause(&mut self) {
        self.send(Request::Pause);
    }

    /// Continues a paused run.
    pub fn resume(&mut self) {
        self.send(Request::Resume);
    }

    /// Stops the run (it finishes with what it has).
    pub fn stop(&mut self) {
        if self.busy() {
            self.send(Request::Stop);
        }
    }

    /// Streams the output of `node` while training (`None`: nothing).
    pub fn watch(&mut self, node: Option<NodeId>) {
        if node != self.watched {
            self.watched = node;
            self.tile = None;
            self.tile_texture = None;
            self.send(Request::Watch(node));
        }
    }

    /// Reads every event the trainer sent since the last frame.
    pub fn poll(&mut self) {
        let Some(t) = &self.trainer else { return };
        let events = t.drain();
        let current = self.runs.last().map(|r| r.id);
        for e in events {
            self.handle(e, current);
        }
    }

    fn handle(&mut self, e: Event, current: Option<u64>) {
        // Samples answer whatever run's weights the trainer holds.
        if let Event::Generated {
            request,
            result,
            seconds,
            ..
        } = e
        {
            self.generate.answer(request, result, seconds);
            return;
        }
        let run_id = match &e {
            Event::State { run_id, .. }
            | Event::Started { run_id, .. }
            | Event::Step { run_id, .. }
            | Event::Checkpointed { run_id, .. }
            | Event::Resumed { run_id, .. }
            | Event::Activation { run_id, .. }
            | Event::Activity { run_id, .. }
            | Event::Cost { run_id, .. }
            | Event::View { run_id, .. }
            | Event::Eval { run_id, .. }
            | Event::Finished { run_id, .. }
            | Event::Failed { run_id, .. }
            | Event::Generated { run_id, .. } => *run_id,
        };
        if Some(run_id) != current {
            return;
        }
        let Some(run) = self.runs.last_mut() else { return };
        match e {
            Event::State { state, .. } => {
                match state {
                    RunState::Paused => self.paused_at = Some(Instant::now()),
                    RunState::Training => {
                        if let Some(p) = self.paused_at.take() {
                            self.paused_for += p.elapsed();
                        }
                    }
                    _ => {}
                }
                self.state = state;
            }
            Event::Started { device, steps, .. } => {
                self.has_weights = true;
                run.device = device;
                run.planned = steps;
                self.started_at = Some(Instant::now());
            }
            Event::Step { step, scalars, .. } => {
                run.step = step;
                run.push(step, &scalars);
            }
            Event::Eval { step, scalars, .. } => {
                run.push(step, &scalars);
                run.last_eval = scalars;
            }
            Event::Finished {
                steps,
                seconds,
                eval,
                stopped,
                ..
            } => {
                run.step = steps;
                run.seconds = Some(seconds);
                run.flush();
                let headline = eval
                    .as_ref()
                    .and_then(|e| headline(crate::catalog::recipe(&run.recipe), e))
                    .map(|h| format!(", {h}"))
                    .unwrap_or_default();
                run.outcome = Some(format!(
                    "{} after {steps} steps in {seconds:.1} s{headline}",
                    if stopped { "stopped" } else { "finished" }
                ));
                self.finished = true;
            }
            Event::Failed { reason, .. } => {
                self.has_weights = false;
                run.flush();
                run.outcome = Some(format!("failed: {reason}"));
                self.error = Some(reason);
            }
            Event::Activation { node, step, tile, .. } => {
                if Some(node) == self.watched {
                    self.tile = Some((node, step, tile));
                    self.tile_texture = None;
                }
            }
            Event::Cost { step, nodes, .. } => {
                self.cost_shares = Some(cost::shares(&nodes));
                self.cost = Some((step, nodes));
            }
            Event::Activity { nodes, .. } => {
                for (node, v) in nodes {
                    let line = self.activity.entry(node).or_default();
                    if line.len() == SPARK {
                        line.pop_front();
                    }
                    line.push_back(v);
                }
            }
            Event::View {
                step, channel, view, ..
            } => {
                run.views.insert(channel.clone(), (step, view.clone()));
                // Matrices sit beside the plots; the Samples tab steps through the rest.
                if !matches!(view, View::Matrix(_)) {
                    let follow = self.sample_index + 1 >= self.samples.len();
                    if self.samples.len() >= SAMPLES_KEPT {
                        // Every other view of each channel goes (the first stays): the slider
                        // still spans the whole run, more coarsely, and memory stays bounded.
                        let shown = self.samples.get(self.sample_index).map(|s| s.0);
                        let mut seen: HashMap<String, usize> = HashMap::new();
                        self.samples.retain(|(_, c, _)| {
                            let k = seen.entry(c.clone()).or_default();
                            *k += 1;
                            *k % 2 == 1
                        });
                        self.sample_index = shown
                            .and_then(|st| self.samples.iter().position(|s| s.0 >= st))
                            .unwrap_or(0);
                    }
                    self.samples.push((step, channel, view));
                    if follow {
                        self.sample_index = self.samples.len() - 1;
                    }
                }
            }
            Event::Checkpointed { path, .. } => run.checkpoint = Some(path),
            Event::Resumed { .. } | Event::Generated { .. } => {}
        }
    }

    /// Seconds left, from the pace so far (pauses excluded).
    pub fn eta(&self) -> Option<f64> {
        let run = self.current()?;
        let started = self.started_at?;
        if run.step == 0 || self.state != RunState::Training {
            return None;
        }
        let spent = started.elapsed().saturating_sub(self.paused_for).as_secs_f64();
        Some(spent / run.step as f64 * run.planned.saturating_sub(run.step) as f64)
    }

    /// The controls row: Train / Pause / Resume / Stop, device, steps, progress.
    pub fn controls(&mut self, ui: &mut egui::Ui, project: &Project, data_dir: Option<PathBuf>) {
        ui.horizontal(|ui| {
            let busy = self.busy();
            if ui
                .add_enabled(!busy, egui::Button::new("▶ Train"))
                .on_hover_text("Train the project on its dataset (the graph is copied; keep editing)")
                .clicked()
            {
                self.start(ui.ctx(), project, data_dir);
            }
            if self.state == RunState::Paused {
                if ui.button("Resume").clicked() {
                    self.resume();
                }
            } else if ui
                .add_enabled(self.state == RunState::Training, egui::Button::new("Pause"))
                .clicked()
            {
                self.pause();
            }
            if ui.add_enabled(busy, egui::Button::new("■ Stop")).clicked() {
                self.stop();
            }
            ui.add_enabled_ui(!busy, |ui| {
                egui::ComboBox::from_id_salt("strata-device")
                    .selected_text(match self.device {
                        DeviceChoice::Auto => "Auto device",
                        DeviceChoice::Cpu => "CPU",
                        DeviceChoice::Gpu => "GPU",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut self.device, DeviceChoice::Auto, "Auto device")
                            .on_hover_text("A real GPU if there is one, else the CPU");
                        ui.selectable_value(&mut self.device, DeviceChoice::Cpu, "CPU");
                        ui.selectable_value(&mut self.device, DeviceChoice::Gpu, "GPU");
                    });
                ui.label("steps");
                let mut steps = if self.steps == 0 {
                    project.training.steps
                } else {
                    self.steps
                };
                if ui
                    .add(egui::DragValue::new(&mut steps).range(1..=1_000_000))
                    .on_hover_text("Steps to train (the project's setting unless changed here)")
                    .changed()
                {
                    self.steps = steps;
                }
            });
            if let Some(run) = self.current() {
                let frac = run.step as f32 / run.planned.max(1) as f32;
                let eta = self
                    .eta()
                    .map(|s| format!(" · ETA {}", format_secs(s)))
                    .unwrap_or_default();
                let text = format!("step {} / {}{eta}", run.step, run.planned);
                ui.add(egui::ProgressBar::new(frac).desired_width(220.0).text(text));
                let state = match self.state {
                    RunState::Idle => "idle",
                    RunState::Compiling => "building the model…",
                    RunState::Training => "training",
                    RunState::Paused => "paused",
                    RunState::Finished => "done",
                    RunState::Failed => "failed",
                };
                ui.label(state);
                if !run.device.is_empty() {
                    ui.weak(format!("on {}", run.device));
                }
                let key = crate::engine::trainer::main_series(&run.recipe);
                if let Some(l) = run.series(key).last() {
                    ui.monospace(format!("{key} {:.4}", l[1]));
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(240, 90, 90), e);
        } else if let Some(o) = self.current().and_then(|r| r.outcome.as_ref()) {
            ui.label(o);
        }
    }

    /// Plots of the recipe's series (one per chart it declares) and its matrix views.
    pub fn training_tab(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99).fixed_decimals(2));
            ui.checkbox(&mut self.log_scale, "log scale");
            ui.checkbox(&mut self.overlay, "earlier runs");
        });
        let Some(current) = self.runs.last() else {
            ui.weak("Press ▶ Train to train this project on its dataset; its curves appear here live.");
            return;
        };
        let Some(spec) = crate::catalog::recipe(&current.recipe) else {
            ui.weak(format!("unknown recipe '{}'", current.recipe));
            return;
        };
        let charts = charts(spec, current);
        let matrices: Vec<(&String, &crate::telemetry::Matrix)> = current
            .views
            .iter()
            .filter_map(|(c, (_, v))| match v {
                View::Matrix(m) => Some((c, m)),
                _ => None,
            })
            .collect();
        let h = ui.available_height().max(120.0);
        let w = ui.available_width();
        let matrix_w = if matrices.is_empty() { 0.0 } else { h + 24.0 };
        let plot_w = ((w - matrix_w - 16.0) / charts.len().max(1) as f32).max(160.0);
        let smoothing = f64::from(self.smoothing);
        let log = self.log_scale;
        let earlier: &[Run] = if self.overlay {
            &self.runs[..self.runs.len() - 1]
        } else {
            &[]
        };
        ui.horizontal(|ui| {
            for (k, chart) in charts.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.set_width(plot_w);
                    // Log scale applies to the first chart (the loss); the others are rates.
                    let log = log && k == 0;
                    let mut plot = Plot::new(format!("strata-chart-{chart}"))
                        .height(h - 24.0)
                        .width(plot_w)
                        .legend(Legend::default())
                        .x_axis_label("step");
                    if log {
                        plot = plot.y_axis_formatter(|m, _| format!("{:.3}", 10f64.powf(m.value)));
                    }
                    let in_chart: Vec<_> = spec.series.iter().filter(|s| s.chart == *chart).collect();
                    if in_chart.iter().any(|s| s.percent) {
                        plot = plot.include_y(0.0).include_y(1.0);
                    }
                    plot.show(ui, |p| {
                        let tf = |v: f64| if log { v.max(1e-12).log10() } else { v };
                        for (i, s) in in_chart.iter().enumerate() {
                            let alpha = if s.when == When::Step { smoothing } else { 0.0 };
                            for r in earlier {
                                if !r.series(s.key).is_empty() {
                                    p.line(
                                        Line::new(
                                            format!("{} {}", r.label, s.label),
                                            series(r.series(s.key), alpha, tf),
                                        )
                                        .color(Color32::from_gray(120)),
                                    );
                                }
                            }
                            if !current.series(s.key).is_empty() {
                                p.line(
                                    Line::new(s.label, series(current.series(s.key), alpha, tf))
                                        .color(SERIES_COLOURS[i % SERIES_COLOURS.len()]),
                                );
                            }
                        }
                    });
                });
            }
            for (channel, m) in matrices {
                ui.vertical(|ui| {
                    let title = spec
                        .views
                        .iter()
                        .find(|v| v.channel == channel.as_str())
                        .map_or(channel.as_str(), |v| v.title);
                    ui.label(format!("{title} (rows: {}, columns: {})", m.rows_are, m.cols_are));
                    views::matrix(ui, m, h - 30.0);
                });
            }
        });
    }

    /// The Samples tab: the recipe's views (sample grids, scatters, tables), one channel at a
    /// time, with a slider over the steps they were made at.
    pub fn samples_tab(&mut self, ui: &mut egui::Ui) {
        if self.samples.is_empty() {
            ui.weak("Samples appear here during training: what the model makes of validation data (predictions, reconstructions, generated samples).");
            return;
        }
        let spec = self.current().and_then(|r| crate::catalog::recipe(&r.recipe));
        let mut channels: Vec<String> = Vec::new();
        for (_, c, _) in &self.samples {
            if !channels.contains(c) {
                channels.push(c.clone());
            }
        }
        let title = |c: &str| {
            spec.and_then(|s| s.views.iter().find(|v| v.channel == c))
                .map_or(c.to_owned(), |v| v.title.to_owned())
        };
        let mut channel = self
            .sample_channel
            .clone()
            .filter(|c| channels.contains(c))
            .unwrap_or_else(|| channels[0].clone());
        if channels.len() > 1 {
            ui.horizontal(|ui| {
                for c in &channels {
                    ui.selectable_value(&mut channel, c.clone(), title(c));
                }
            });
        }
        let shown: Vec<usize> = (0..self.samples.len())
            .filter(|&i| self.samples[i].1 == channel)
            .collect();
        // Follow the newest view of the channel unless the user moved the slider back.
        let mut k = shown
            .iter()
            .position(|&i| i >= self.sample_index)
            .unwrap_or(shown.len() - 1);
        if self.sample_channel.as_ref() != Some(&channel) {
            k = shown.len() - 1;
        }
        self.sample_channel = Some(channel.clone());
        let last = shown.len() - 1;
        ui.horizontal(|ui| {
            ui.label("step");
            ui.add(egui::Slider::new(&mut k, 0..=last).show_value(false));
            let (step, c, _) = &self.samples[shown[k]];
            ui.label(format!("{step}"));
            if let Some(v) = spec.and_then(|s| s.views.iter().find(|v| v.channel == c.as_str())) {
                ui.strong(v.title);
                ui.weak(v.doc);
            }
        });
        self.sample_index = shown[k];
        let (step, channel, view) = &self.samples[self.sample_index];
        let h = ui.available_height();
        views::show(ui, view, (channel.clone(), *step), h, &mut self.sample_cache);
    }

    /// The watched node's picture, for the inspector.
    pub fn watched_view(&mut self, ui: &mut egui::Ui, node: NodeId) {
        let Some((n, step, tile)) = &self.tile else {
            if self.busy() {
                ui.weak("Waiting for this node's output…");
            } else {
                ui.weak("Train to see this node's output live.");
            }
            return;
        };
        if *n != node {
            return;
        }
        ui.label(format!("Output at step {step}"));
        match tile {
            Tile::FeatureMaps {
                channels,
                height,
                width,
                pixels,
            } => {
                if self.tile_texture.as_ref().is_none_or(|(s, _)| s != step) {
                    let img = feature_map_image(*channels, *height, *width, pixels);
                    self.tile_texture = Some((
                        *step,
                        ui.ctx().load_texture("strata-watch", img, TextureOptions::NEAREST),
                    ));
                }
                if let Some((_, tex)) = &self.tile_texture {
                    let size = tex.size_vec2();
                    let scale = (ui.available_width() / size.x).min(4.0);
                    ui.image((tex.id(), size * scale));
                }
                ui.weak(format!("{channels} feature maps of the first example"));
            }
            Tile::Histogram { min, max, counts } => {
                let (lo, hi) = (f64::from(*min), f64::from(*max));
                let width = (hi - lo) / counts.len().max(1) as f64;
                let bars: Vec<egui_plot::Bar> = counts
                    .iter()
                    .enumerate()
                    .map(|(i, c)| egui_plot::Bar::new(lo + (i as f64 + 0.5) * width, f64::from(*c)).width(width))
                    .collect();
                Plot::new("strata-histogram")
                    .height(140.0)
                    .allow_drag(false)
                    .allow_zoom(false)
                    .show(ui, |p| p.bar_chart(egui_plot::BarChart::new("values", bars)));
                ui.weak("distribution of the values of the first example");
            }
        }
    }

    /// The Generate tab for `project`'s recipe; sends the request when the user asks.
    pub fn generate_tab(&mut self, ui: &mut egui::Ui, project: &Project, data_dir: Option<PathBuf>) {
        let spec = crate::catalog::recipe(&project.recipe.id).and_then(|r| r.generate.as_ref());
        // Weights to draw from: this session's run (held by the trainer) or a saved checkpoint.
        let saved: Vec<(String, PathBuf)> = self
            .runs
            .iter()
            .rev()
            .filter(|r| r.outcome.is_some() && r.recipe == project.recipe.id)
            .filter_map(|r| {
                let ck = r.checkpoint.clone().filter(|c| c.join("checkpoint.json").exists())?;
                Some((format!("{}: {}", r.label, r.outcome.as_deref().unwrap_or("")), ck))
            })
            .collect();
        let live = self.has_weights && self.trainer.is_some();
        let asked = self.generate.show(ui, spec, project, live, &saved);
        match asked {
            Some((request, None)) => {
                self.send(Request::Generate(request));
            }
            Some((request, Some(checkpoint))) => {
                if self.trainer.is_none() {
                    let ctx = ui.ctx().clone();
                    match Trainer::spawn(move || ctx.request_repaint()) {
                        Ok(t) => self.trainer = Some(t),
                        Err(e) => {
                            self.generate
                                .answer(request, Err(format!("cannot start the trainer thread: {e}")), 0.0);
                            return;
                        }
                    }
                }
                self.send(Request::GenerateFrom {
                    project: Box::new(project.clone()),
                    checkpoint,
                    data_dir,
                    request,
                });
            }
            None => {}
        }
    }

    /// The latest picture of each view the recipe shows on an output node (a generator's
    /// samples on its output): (output role, texture). From the current run, or the latest one
    /// read from the history.
    pub fn node_pictures(&mut self, ctx: &egui::Context) -> Vec<(&'static str, TextureHandle)> {
        let Some(run) = self.runs.last() else {
            return Vec::new();
        };
        let Some(spec) = crate::catalog::recipe(&run.recipe) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in spec.views {
            let (Some(role), Some((step, view))) = (v.on_node, run.views.get(v.channel)) else {
                continue;
            };
            let fresh = self.node_textures.get(v.channel).filter(|(s, _)| s == step);
            let tex = match fresh {
                Some((_, t)) => t.clone(),
                None => {
                    let Some(pic) = view.to_picture() else { continue };
                    let img = ColorImage::from_rgb([pic.width, pic.height], &pic.rgb);
                    let t = ctx.load_texture(format!("strata-node-{}", v.channel), img, TextureOptions::LINEAR);
                    self.node_textures.insert(v.channel.to_owned(), (*step, t.clone()));
                    t
                }
            };
            out.push((role, tex));
        }
        out
    }

    /// The watched node's feature-map texture, when `node` is the watched one.
    pub fn thumbnail(&self, node: NodeId) -> Option<&TextureHandle> {
        match (&self.tile, &self.tile_texture) {
            (Some((n, ..)), Some((_, tex))) if *n == node => Some(tex),
            _ => None,
        }
    }
}

/// Exponential moving average of `points` (`alpha` = weight of the past), then `tf` on y.
fn series(points: &[[f64; 2]], alpha: f64, tf: impl Fn(f64) -> f64) -> PlotPoints<'static> {
    let mut out = Vec::with_capacity(points.len());
    let mut ema: Option<f64> = None;
    for p in points {
        let v = match ema {
            Some(e) => alpha * e + (1.0 - alpha) * p[1],
            None => p[1],
        };
        ema = Some(v);
        out.push([p[0], tf(v)]);
    }
    PlotPoints::from(out)
}

fn format_secs(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0} s")
    } else if s < 3600.0 {
        format!("{}:{:02} min", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// Channels laid out in a grid of up to 4 columns, greyscale, 1-pixel gaps.
fn feature_map_image(channels: usize, h: usize, w: usize, pixels: &[u8]) -> ColorImage {
    let cols = channels.clamp(1, 4);
    let rows = channels.div_ceil(cols).max(1);
    let (iw, ih) = (cols * (w + 1), rows * (h + 1));
    let mut img = ColorImage::filled([iw, ih], Color32::from_gray(30));
    for c in 0..channels {
        let (ox, oy) = ((c % cols) * (w + 1), (c / cols) * (h + 1));
        for y in 0..h {
            for x in 0..w {
                let v = pixels.get(c * h * w + y * w + x).copied().unwrap_or(0);
                img.pixels[(oy + y) * iw + ox + x] = viridis(v);
            }
        }
    }
    img
}

/// A compact perceptual colour map (dark blue → green → yellow).
fn viridis(v: u8) -> Color32 {
    let t = f32::from(v) / 255.0;
    let r = (0.27 + t * (0.99 - 0.27) * t).clamp(0.0, 1.0);
    let g = (0.0 + t * 0.9).clamp(0.0, 1.0);
    let b = (0.33 + 0.4 * t - 0.6 * t * t).clamp(0.0, 1.0);
    Color32::from_rgb((r * 255.0) as u8, (g * 255.0) as u8, (b * 255.0) as u8)
}

/// Line colours of a chart's series, in declaration order.
const SERIES_COLOURS: [Color32; 4] = [
    Color32::from_rgb(90, 160, 240),
    Color32::from_rgb(240, 160, 60),
    Color32::from_rgb(90, 200, 120),
    Color32::from_rgb(200, 110, 220),
];

/// The charts to draw for a run: the recipe's chart titles, in declaration order, that have data.
fn charts<'a>(spec: &'a RecipeSpec, run: &Run) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in spec.series {
        if !out.contains(&s.chart) && !run.series(s.key).is_empty() {
            out.push(s.chart);
        }
    }
    if out.is_empty()
        && let Some(first) = spec.series.first()
    {
        out.push(first.chart);
    }
    out
}

/// "validation accuracy 97.1 %": the first of the recipe's headline metrics the evaluation has.
fn headline(spec: Option<&RecipeSpec>, eval: &crate::telemetry::Scalars) -> Option<String> {
    let spec = spec?;
    spec.headline.iter().find_map(|key| {
        let v = *eval.get(*key)?;
        let s = spec.series(key)?;
        Some(if s.percent {
            format!("{} {:.1} %", s.label, v * 100.0)
        } else {
            format!("{} {v:.4}", s.label)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Scalars;

    fn scalars(pairs: &[(&str, f64)]) -> Scalars {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn events_of_the_current_run_fill_its_curves_and_others_are_ignored() {
        let mut d = Dashboard::default();
        d.runs
            .push(Run::new(1, "run 1".into(), crate::doc::DEFAULT_RECIPE, 100));
        for step in 1..=3 {
            d.handle(
                Event::Step {
                    run_id: 1,
                    step,
                    scalars: scalars(&[("loss", 1.0 / step as f64), ("lr", 1e-3)]),
                },
                Some(1),
            );
        }
        let eval = |step, rmse| Event::Eval {
            run_id: 1,
            step,
            scalars: scalars(&[("val_loss", 0.5), ("val_rmse", rmse)]),
        };
        d.handle(eval(3, 0.25), Some(1));
        // An event of an older run changes nothing.
        d.handle(eval(9, 9.0), Some(1).filter(|_| false));
        let Some(run) = d.current() else { panic!("no run") };
        assert_eq!(run.step, 3);
        assert_eq!(run.series("loss").len(), 3);
        assert_eq!(run.series("val_rmse"), [[3.0, 0.25]]);
        assert!(run.series("accuracy").is_empty());
        // The charts are the recipe's, those with data: loss and the regression error.
        let spec = crate::catalog::recipe(&run.recipe).unwrap_or_else(|| panic!("recipe"));
        assert_eq!(charts(spec, run), ["Loss", "Error"]);
        assert_eq!(
            headline(Some(spec), &scalars(&[("val_accuracy", 0.971), ("val_loss", 0.1)])).as_deref(),
            Some("validation accuracy 97.1 %")
        );
        // Smoothing keeps the first point and moves towards later ones.
        let s: Vec<[f64; 2]> = match series(run.series("loss"), 0.5, |v| v) {
            PlotPoints::Owned(p) => p.iter().map(|p| [p.x, p.y]).collect(),
            _ => Vec::new(),
        };
        assert_eq!(s[0], [1.0, 1.0]);
        assert!((s[1][1] - 0.75).abs() < 1e-9);
    }

    #[test]
    fn a_long_run_keeps_a_bounded_set_of_views_spanning_the_run() {
        let mut d = Dashboard::default();
        d.runs
            .push(Run::new(1, "run 1".into(), crate::doc::DEFAULT_RECIPE, 200_000));
        let pic = View::Image(crate::telemetry::Picture {
            width: 1,
            height: 1,
            rgb: vec![0, 0, 0],
        });
        for k in 1..=2_000u64 {
            for channel in ["samples", "trajectory"] {
                d.handle(
                    Event::View {
                        run_id: 1,
                        step: k * 100,
                        channel: channel.into(),
                        view: pic.clone(),
                    },
                    Some(1),
                );
            }
        }
        assert!(d.samples.len() <= SAMPLES_KEPT);
        for channel in ["samples", "trajectory"] {
            let steps: Vec<u64> = d.samples.iter().filter(|s| s.1 == channel).map(|s| s.0).collect();
            assert!(steps.len() >= SAMPLES_KEPT / 4, "{channel}: {} views", steps.len());
            assert_eq!(steps.first(), Some(&100), "{channel}: the first view stays");
            assert_eq!(steps.last(), Some(&200_000), "{channel}: the latest view is there");
        }
        assert_eq!(
            d.sample_index,
            d.samples.len() - 1,
            "the slider follows the latest view"
        );
    }

    #[test]
    fn views_go_to_the_run_and_the_samples_tab() {
        let mut d = Dashboard::default();
        d.runs.push(Run::new(1, "run 1".into(), crate::doc::DEFAULT_RECIPE, 10));
        let pic = View::Image(crate::telemetry::Picture {
            width: 1,
            height: 1,
            rgb: vec![0, 0, 0],
        });
        d.handle(
            Event::View {
                run_id: 1,
                step: 5,
                channel: "samples".into(),
                view: pic.clone(),
            },
            Some(1),
        );
        assert_eq!(d.samples.len(), 1);
        assert_eq!(d.current().and_then(|r| r.views.get("samples")), Some(&(5, pic)));
    }

    #[test]
    fn eta_and_time_format() {
        assert_eq!(format_secs(42.0), "42 s");
        assert_eq!(format_secs(125.0), "2:05 min");
        assert_eq!(format_secs(7200.0), "2.0 h");
    }
}
