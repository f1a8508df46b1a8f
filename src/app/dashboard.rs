//! The training dashboard: Train / Pause / Resume / Stop, progress with ETA, live loss and metric
//! plots (smoothing, log scale, earlier runs overlaid), the watched node's feature maps or
//! histogram, node activity sparklines, a confusion matrix and a Samples tab with a step slider.
//!
//! It talks to the engine only through [`Trainer`] requests and events.

use crate::doc::{NodeId, Project};
use crate::engine::device::DeviceChoice;
use crate::engine::trainer::{Event, Request, RunConfig, RunState, Trainer};
use crate::engine::watch::Tile;
use crate::engine::{EvalMetrics, SampleGrid};
use egui::{Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{Legend, Line, Plot, PlotPoints};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

/// Points kept per node sparkline.
const SPARK: usize = 48;

/// One training run of the open project, kept to overlay on later runs (and saved beside the
/// project file, so earlier runs come back when the project is reopened).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Run {
    /// Trainer run id.
    pub id: u64,
    /// "run 3" etc.
    pub label: String,
    /// Device the trainer picked ("cpu: flex").
    pub device: String,
    /// Steps planned.
    pub planned: u64,
    /// Steps done.
    pub step: u64,
    /// `[step, loss]` per training step.
    pub loss: Vec<[f64; 2]>,
    /// `[step, accuracy]` per training step (classifiers).
    pub accuracy: Vec<[f64; 2]>,
    /// `[step, validation loss]` per evaluation.
    pub val_loss: Vec<[f64; 2]>,
    /// `[step, validation accuracy]` per evaluation.
    pub val_accuracy: Vec<[f64; 2]>,
    /// `[step, validation RMSE]` per evaluation (regression).
    pub val_rmse: Vec<[f64; 2]>,
    /// The latest evaluation.
    pub eval: Option<EvalMetrics>,
    /// How it ended, in words (`None` while running).
    pub outcome: Option<String>,
    /// Wall time of the training loop once finished.
    pub seconds: Option<f64>,
}

/// Which tab of the bottom panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Checker messages.
    Problems,
    /// Plots and controls.
    Training,
    /// Sample pictures.
    Samples,
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
    /// Sample grids by step.
    pub samples: Vec<(u64, SampleGrid)>,
    sample_index: usize,
    sample_texture: Option<(usize, TextureHandle)>,
    /// The last failure, shown until the next run.
    pub error: Option<String>,
    /// The tab shown in the bottom panel.
    pub tab: Tab,
    finished: bool,
}

/// Most earlier runs kept in a project's history.
pub const HISTORY_RUNS: usize = 10;
/// Most points kept per curve in the history.
const HISTORY_POINTS: usize = 1000;

/// Every `k`-th point so that at most `max` remain (the last point always stays).
fn thin(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max {
        return points.to_vec();
    }
    let k = points.len().div_ceil(max);
    let mut out: Vec<[f64; 2]> = points.iter().step_by(k).copied().collect();
    if let Some(last) = points.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

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
            samples: Vec::new(),
            sample_index: 0,
            sample_texture: None,
            error: None,
            tab: Tab::Problems,
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
            .map(|r| Run {
                id: 0,
                loss: thin(&r.loss, HISTORY_POINTS),
                accuracy: thin(&r.accuracy, HISTORY_POINTS),
                val_loss: thin(&r.val_loss, HISTORY_POINTS),
                val_accuracy: thin(&r.val_accuracy, HISTORY_POINTS),
                val_rmse: thin(&r.val_rmse, HISTORY_POINTS),
                ..(*r).clone()
            })
            .collect()
    }

    /// Earlier runs of this project, read from its history file.
    pub fn load_history(&mut self, runs: Vec<Run>) {
        self.runs = runs.into_iter().map(|r| Run { id: 0, ..r }).collect();
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
        let config = RunConfig {
            steps: (self.steps > 0).then_some(self.steps),
            device: self.device,
            eval_every: 0,
            watch_every: 5,
            activity_every: 10,
            data_dir,
            ..RunConfig::default()
        };
        let planned = config.steps.unwrap_or(project.training.steps).max(1);
        let eval_every = (planned / 10).max(25);
        let config = RunConfig { eval_every, ..config };
        if trainer.send(Request::Start {
            run_id: id,
            project: Box::new(project.clone()),
            config,
        }) {
            self.runs.push(Run {
                id,
                label: format!("run {}", self.runs.len() + 1),
                planned,
                ..Run::default()
            });
            self.state = RunState::Compiling;
            self.error = None;
            self.samples.clear();
            self.sample_texture = None;
            self.activity.clear();
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
        let run_id = match &e {
            Event::State { run_id, .. }
            | Event::Started { run_id, .. }
            | Event::Step { run_id, .. }
            | Event::Checkpointed { run_id, .. }
            | Event::Resumed { run_id, .. }
            | Event::Activation { run_id, .. }
            | Event::Activity { run_id, .. }
            | Event::Samples { run_id, .. }
            | Event::Eval { run_id, .. }
            | Event::Finished { run_id, .. }
            | Event::Failed { run_id, .. } => *run_id,
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
                run.device = device;
                run.planned = steps;
                self.started_at = Some(Instant::now());
            }
            Event::Step { metrics, .. } => {
                run.step = metrics.step;
                let s = metrics.step as f64;
                run.loss.push([s, metrics.loss]);
                if let Some(a) = metrics.accuracy {
                    run.accuracy.push([s, a]);
                }
            }
            Event::Eval { metrics, .. } => {
                let s = metrics.step as f64;
                run.val_loss.push([s, metrics.val_loss]);
                if let Some(a) = metrics.val_accuracy {
                    run.val_accuracy.push([s, a]);
                }
                if let Some(e) = metrics.val_rmse {
                    run.val_rmse.push([s, e]);
                }
                run.eval = Some(metrics);
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
                let acc = eval
                    .as_ref()
                    .and_then(|m| m.val_accuracy)
                    .map(|a| format!(", validation accuracy {:.1} %", a * 100.0))
                    .unwrap_or_default();
                run.outcome = Some(format!(
                    "{} after {steps} steps in {seconds:.1} s{acc}",
                    if stopped { "stopped" } else { "finished" }
                ));
                self.finished = true;
            }
            Event::Failed { reason, .. } => {
                run.outcome = Some(format!("failed: {reason}"));
                self.error = Some(reason);
            }
            Event::Activation { node, step, tile, .. } => {
                if Some(node) == self.watched {
                    self.tile = Some((node, step, tile));
                    self.tile_texture = None;
                }
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
            Event::Samples { step, grid, .. } => {
                let follow = self.sample_index + 1 >= self.samples.len();
                self.samples.push((step, grid));
                if follow {
                    self.sample_index = self.samples.len() - 1;
                }
            }
            Event::Checkpointed { .. } | Event::Resumed { .. } => {}
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
                if let Some(l) = run.loss.last() {
                    ui.monospace(format!("loss {:.4}", l[1]));
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(240, 90, 90), e);
        } else if let Some(o) = self.current().and_then(|r| r.outcome.as_ref()) {
            ui.label(o);
        }
    }

    /// Plots and the confusion matrix.
    pub fn training_tab(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99).fixed_decimals(2));
            ui.checkbox(&mut self.log_scale, "log scale");
            ui.checkbox(&mut self.overlay, "earlier runs");
        });
        let Some(current) = self.runs.last() else {
            ui.weak("Press ▶ Train to train this project on its dataset; loss and accuracy appear here live.");
            return;
        };
        let h = ui.available_height().max(120.0);
        let w = ui.available_width();
        let plot_w = if current.eval.as_ref().is_some_and(|e| !e.confusion.is_empty()) {
            (w - h - 24.0).max(200.0) / 2.0
        } else {
            (w - 16.0) / 2.0
        };
        let smoothing = f64::from(self.smoothing);
        let log = self.log_scale;
        let earlier: &[Run] = if self.overlay {
            &self.runs[..self.runs.len() - 1]
        } else {
            &[]
        };
        ui.horizontal(|ui| {
            ui.vertical(|ui| {
                ui.set_width(plot_w);
                let mut plot = Plot::new("strata-loss")
                    .height(h - 24.0)
                    .width(plot_w)
                    .legend(Legend::default())
                    .x_axis_label("step");
                if log {
                    plot = plot.y_axis_formatter(|m, _| format!("{:.3}", 10f64.powf(m.value)));
                }
                plot.show(ui, |p| {
                    let tf = |v: f64| if log { v.max(1e-12).log10() } else { v };
                    for r in earlier {
                        p.line(
                            Line::new(format!("{} loss", r.label), series(&r.loss, smoothing, tf))
                                .color(Color32::from_gray(120)),
                        );
                    }
                    p.line(
                        Line::new("loss", series(&current.loss, smoothing, tf)).color(Color32::from_rgb(90, 160, 240)),
                    );
                    if !current.val_loss.is_empty() {
                        p.line(
                            Line::new("validation loss", series(&current.val_loss, 0.0, tf))
                                .color(Color32::from_rgb(240, 160, 60)),
                        );
                    }
                });
            });
            let regression = current.accuracy.is_empty() && !current.val_rmse.is_empty();
            ui.vertical(|ui| {
                ui.set_width(plot_w);
                if regression {
                    // Regressors have no accuracy: their validation error is the second plot.
                    Plot::new("strata-rmse")
                        .height(h - 24.0)
                        .width(plot_w)
                        .legend(Legend::default())
                        .x_axis_label("step")
                        .include_y(0.0)
                        .show(ui, |p| {
                            for r in earlier {
                                p.line(
                                    Line::new(format!("{} validation RMSE", r.label), series(&r.val_rmse, 0.0, |v| v))
                                        .color(Color32::from_gray(120)),
                                );
                            }
                            p.line(
                                Line::new("validation RMSE", series(&current.val_rmse, 0.0, |v| v))
                                    .color(Color32::from_rgb(240, 160, 60)),
                            );
                        });
                    return;
                }
                Plot::new("strata-accuracy")
                    .height(h - 24.0)
                    .width(plot_w)
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .include_y(0.0)
                    .include_y(1.0)
                    .show(ui, |p| {
                        let id = |v: f64| v;
                        for r in earlier {
                            p.line(
                                Line::new(format!("{} accuracy", r.label), series(&r.accuracy, smoothing, id))
                                    .color(Color32::from_gray(120)),
                            );
                        }
                        p.line(
                            Line::new("accuracy", series(&current.accuracy, smoothing, id))
                                .color(Color32::from_rgb(90, 200, 120)),
                        );
                        if !current.val_accuracy.is_empty() {
                            p.line(
                                Line::new("validation accuracy", series(&current.val_accuracy, 0.0, id))
                                    .color(Color32::from_rgb(240, 160, 60)),
                            );
                        }
                    });
            });
            if let Some(eval) = &current.eval
                && !eval.confusion.is_empty()
            {
                ui.vertical(|ui| {
                    ui.label("Confusion (rows: truth, columns: predicted)");
                    confusion(ui, eval, h - 30.0);
                });
            }
        });
    }

    /// The Samples tab: sample grids with a slider over the steps they were taken at.
    pub fn samples_tab(&mut self, ui: &mut egui::Ui) {
        if self.samples.is_empty() {
            ui.weak(
                "Samples appear here during training: predictions on validation images (green: right, red: wrong).",
            );
            return;
        }
        let last = self.samples.len() - 1;
        self.sample_index = self.sample_index.min(last);
        ui.horizontal(|ui| {
            ui.label("step");
            let mut i = self.sample_index;
            let step = self.samples[i].0;
            ui.add(egui::Slider::new(&mut i, 0..=last).show_value(false));
            ui.label(format!("{step}"));
            self.sample_index = i;
        });
        let i = self.sample_index;
        if self.sample_texture.as_ref().is_none_or(|(k, _)| *k != i) {
            let g = &self.samples[i].1;
            if g.rgb.len() != g.width * g.height * 3 {
                ui.colored_label(Color32::from_rgb(240, 90, 90), "this sample picture is damaged");
                return;
            }
            let img = ColorImage::from_rgb([g.width, g.height], &g.rgb);
            self.sample_texture = Some((i, ui.ctx().load_texture("strata-samples", img, TextureOptions::NEAREST)));
        }
        if let Some((_, tex)) = &self.sample_texture {
            let size = tex.size_vec2();
            let scale = (ui.available_height() / size.y).clamp(0.5, 4.0);
            ui.image((tex.id(), size * scale));
        }
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

    /// The texture of the watched node's feature maps, for a thumbnail on the node.
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

/// Draws `eval.confusion` as a heat map `side` pixels high, counts in the cells when they fit.
fn confusion(ui: &mut egui::Ui, eval: &EvalMetrics, side: f32) {
    let n = eval.confusion.len();
    let side = side.max(60.0);
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let cell = side / n as f32;
    let painter = ui.painter_at(rect);
    let mut hovered = None;
    for (t, row) in eval.confusion.iter().enumerate() {
        let total: u64 = row.iter().sum::<u64>().max(1);
        for (p, &c) in row.iter().enumerate() {
            let frac = c as f32 / total as f32;
            let r = egui::Rect::from_min_size(
                rect.min + egui::vec2(p as f32 * cell, t as f32 * cell),
                egui::vec2(cell - 1.0, cell - 1.0),
            );
            let base = if t == p {
                Color32::from_rgb(60, 170, 90)
            } else {
                Color32::from_rgb(220, 80, 70)
            };
            painter.rect_filled(r, 0.0, Color32::from_gray(35).lerp_to_gamma(base, frac.sqrt()));
            if cell >= 18.0 && c > 0 {
                painter.text(
                    r.center(),
                    egui::Align2::CENTER_CENTER,
                    c.to_string(),
                    egui::FontId::monospace((cell * 0.35).min(12.0)),
                    Color32::WHITE,
                );
            }
            if resp.hover_pos().is_some_and(|h| r.contains(h)) {
                hovered = Some((t, p, c));
            }
        }
    }
    if let Some((t, p, c)) = hovered {
        let name = |i: usize| eval.classes.get(i).cloned().unwrap_or_else(|| i.to_string());
        resp.on_hover_text(format!("truth {} → predicted {}: {c}", name(t), name(p)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StepMetrics;

    fn eval(step: u64, rmse: Option<f64>, acc: Option<f64>) -> Event {
        Event::Eval {
            run_id: 1,
            metrics: EvalMetrics {
                step,
                val_loss: 0.5,
                val_accuracy: acc,
                val_rmse: rmse,
                confusion: Vec::new(),
                classes: Vec::new(),
            },
        }
    }

    #[test]
    fn events_of_the_current_run_fill_its_curves_and_others_are_ignored() {
        let mut d = Dashboard::default();
        d.runs.push(Run {
            id: 1,
            planned: 100,
            ..Run::default()
        });
        for step in 1..=3 {
            d.handle(
                Event::Step {
                    run_id: 1,
                    metrics: StepMetrics {
                        step,
                        loss: 1.0 / step as f64,
                        accuracy: None,
                        lr: 1e-3,
                    },
                },
                Some(1),
            );
        }
        d.handle(eval(3, Some(0.25), None), Some(1));
        // An event of an older run changes nothing.
        d.handle(eval(9, Some(9.0), None), Some(1).filter(|_| false));
        let Some(run) = d.current() else { panic!("no run") };
        assert_eq!(run.step, 3);
        assert_eq!(run.loss.len(), 3);
        assert_eq!(run.val_rmse, [[3.0, 0.25]]);
        assert!(run.accuracy.is_empty());
        // Smoothing keeps the first point and moves towards later ones.
        let s: Vec<[f64; 2]> = match series(&run.loss, 0.5, |v| v) {
            PlotPoints::Owned(p) => p.iter().map(|p| [p.x, p.y]).collect(),
            _ => Vec::new(),
        };
        assert_eq!(s[0], [1.0, 1.0]);
        assert!((s[1][1] - 0.75).abs() < 1e-9);
    }

    #[test]
    fn long_curves_are_thinned_for_the_history_keeping_the_ends() {
        let points: Vec<[f64; 2]> = (0..2500).map(|i| [f64::from(i), 1.0]).collect();
        let t = thin(&points, 1000);
        assert!(t.len() <= 1001, "{}", t.len());
        assert_eq!(t.first(), points.first());
        assert_eq!(t.last(), points.last());
        assert_eq!(thin(&points[..10], 1000).len(), 10);
    }

    #[test]
    fn eta_and_time_format() {
        assert_eq!(format_secs(42.0), "42 s");
        assert_eq!(format_secs(125.0), "2:05 min");
        assert_eq!(format_secs(7200.0), "2.0 h");
    }
}
