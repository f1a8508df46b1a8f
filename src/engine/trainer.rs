//! The trainer thread and its protocol: the only road between the engine and the UI or CLI.
//!
//! Requests and events are serde enums over bounded channels; a waker closure (the UI passes
//! `ctx.request_repaint`) is called after each event so the engine never imports egui.

use super::RunError;
use super::device::{self, DeviceChoice};
use super::recipes::{self, GenerateRequest, Pending, Recipe, RecipeInit, StepCx};
use crate::doc::Project;
use crate::telemetry::{Scalars, View};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// How a run is configured beyond the project's own settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Steps to train (overrides the project's `training.steps`).
    pub steps: Option<u64>,
    /// Seed (overrides the project's `training.seed`).
    pub seed: Option<u64>,
    /// Device choice.
    pub device: DeviceChoice,
    /// Evaluate every this many steps (0: only at the end).
    pub eval_every: u64,
    /// Send a tile of the watched node every this many steps.
    pub watch_every: u64,
    /// Measure every node's activity every this many steps (0: never).
    #[serde(default)]
    pub activity_every: u64,
    /// Send tiles and activity at most once per this many milliseconds (0: on the step counts
    /// above alone). A fast model then pays for a live view a few times a second, not every
    /// few milliseconds; a slow one still gets one every `watch_every` / `activity_every` steps.
    #[serde(default)]
    pub refresh_ms: u64,
    /// Time every node's forward and backward pass at step 10 and then every this many steps
    /// (0: never). Each timing pass costs about three training steps.
    #[serde(default)]
    pub cost_every: u64,
    /// Write a checkpoint here when the run ends (completed or stopped).
    pub checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint in this folder.
    pub resume: Option<PathBuf>,
    /// Folder that relative data paths in the project resolve against (the project file's).
    pub data_dir: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            steps: None,
            seed: None,
            device: DeviceChoice::Auto,
            eval_every: 0,
            watch_every: 10,
            activity_every: 0,
            refresh_ms: 0,
            cost_every: 0,
            checkpoint: None,
            resume: None,
            data_dir: None,
        }
    }
}

impl RunConfig {
    /// What the app asks for while it shows a run live: a tile of the watched node every 5 steps
    /// and every node's activity every 10, each at most ten times a second (a fast model's steps
    /// stay its own), and a timing pass every 250 steps.
    pub fn live() -> Self {
        RunConfig {
            watch_every: 5,
            activity_every: 10,
            refresh_ms: 100,
            cost_every: 250,
            ..RunConfig::default()
        }
    }
}

/// What the UI or CLI asks of the trainer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// Start a run (any run in progress is stopped first).
    Start {
        /// Id echoed in every event of this run.
        run_id: u64,
        /// The project to train.
        project: Box<Project>,
        /// Run settings.
        config: RunConfig,
    },
    /// Pause after the current step.
    Pause,
    /// Continue a paused run.
    Resume,
    /// Stop the run (a `Finished` event follows with what was done).
    Stop,
    /// Multiply the scheduled learning rate by this factor from now on.
    SetLr(f64),
    /// Write a checkpoint of the current run into this folder.
    Checkpoint(PathBuf),
    /// Stream activation tiles of this top-level node (`None`: stop).
    Watch(Option<crate::doc::NodeId>),
    /// Draw samples from the weights of the current run, or of the last one once it ended
    /// (the Generate panel). A `Generated` event answers.
    Generate(GenerateRequest),
    /// Draw samples from the weights in a checkpoint folder of `project` (a run of an earlier
    /// session); those weights then stay loaded for the next `Generate`. Not during a run.
    GenerateFrom {
        /// The project the checkpoint belongs to (its graph and recipe settings).
        project: Box<Project>,
        /// The checkpoint folder.
        checkpoint: PathBuf,
        /// Data paths of the project resolve here.
        data_dir: Option<PathBuf>,
        /// What to draw.
        request: GenerateRequest,
    },
    /// Shut the trainer thread down.
    Shutdown,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunState {
    /// No run.
    Idle,
    /// Building the model.
    Compiling,
    /// Taking steps.
    Training,
    /// Waiting for `Resume`.
    Paused,
    /// Done (completed or stopped).
    Finished,
    /// Stopped by an error.
    Failed,
}

/// What the trainer reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// The run state changed.
    State {
        /// Run.
        run_id: u64,
        /// New state.
        state: RunState,
    },
    /// The model is built and training begins.
    Started {
        /// Run.
        run_id: u64,
        /// "cpu" or "gpu" and the adapter name.
        device: String,
        /// Learned parameters.
        params: usize,
        /// Steps planned.
        steps: u64,
    },
    /// One training step done (reported one step late, so the device is never waited for).
    Step {
        /// Run.
        run_id: u64,
        /// Steps done (1 after the first).
        step: u64,
        /// Its scalars (`loss`, `lr`, and what the recipe declares).
        scalars: Scalars,
    },
    /// A checkpoint was written.
    Checkpointed {
        /// Run.
        run_id: u64,
        /// Folder.
        path: PathBuf,
        /// Steps done when written.
        step: u64,
    },
    /// Resumed from a checkpoint.
    Resumed {
        /// Run.
        run_id: u64,
        /// Step the run continues from.
        step: u64,
        /// Nodes that start fresh (new or changed since the checkpoint).
        fresh: Vec<String>,
    },
    /// What a watched node's output looks like now.
    Activation {
        /// Run.
        run_id: u64,
        /// Watched top-level node.
        node: crate::doc::NodeId,
        /// Steps done.
        step: u64,
        /// The picture.
        tile: super::watch::Tile,
    },
    /// How active every node is (mean absolute output), every few steps: the node sparklines.
    Activity {
        /// Run.
        run_id: u64,
        /// Steps done.
        step: u64,
        /// `(node, mean |output|)` for every top-level node with a float output.
        nodes: Vec<(crate::doc::NodeId, f32)>,
    },
    /// Measured forward and backward time of every node (a timing pass every few hundred
    /// steps): where training time goes.
    Cost {
        /// Run.
        run_id: u64,
        /// Steps done.
        step: u64,
        /// One entry per top-level node that ran, in run order.
        nodes: Vec<super::profile::NodeCost>,
    },
    /// A view the recipe produced (samples, a confusion matrix, ...), on one of its channels.
    View {
        /// Run.
        run_id: u64,
        /// Steps done.
        step: u64,
        /// Channel id from the recipe's declaration.
        channel: String,
        /// The view.
        view: View,
    },
    /// An evaluation (its views follow as `View` events).
    Eval {
        /// Run.
        run_id: u64,
        /// Steps done.
        step: u64,
        /// Its scalars (`val_loss`, ...).
        scalars: Scalars,
    },
    /// The run ended normally (all steps, or stopped).
    Finished {
        /// Run.
        run_id: u64,
        /// Steps done.
        steps: u64,
        /// Wall time of the training loop.
        seconds: f64,
        /// Loss of the last step.
        final_loss: Option<f64>,
        /// Final evaluation.
        eval: Option<Scalars>,
        /// True when stopped before the planned steps.
        stopped: bool,
    },
    /// The answer to `Request::Generate`: the samples, or why there are none.
    Generated {
        /// The run whose weights drew them.
        run_id: u64,
        /// What was asked.
        request: GenerateRequest,
        /// The samples, or a message naming what is missing.
        result: Result<View, String>,
        /// Time taken.
        seconds: f64,
    },
    /// The run failed; `bad_input` distinguishes an untrainable project from a failure.
    Failed {
        /// Run.
        run_id: u64,
        /// What happened, naming the place.
        reason: String,
        /// The project or data were at fault (not the training).
        bad_input: bool,
    },
}

/// Bound of the request channel.
const REQUESTS: usize = 64;
/// Bound of the event channel (step events block when it is full: nothing is dropped).
const EVENTS: usize = 4096;

/// A handle on the trainer thread.
pub struct Trainer {
    requests: SyncSender<Request>,
    /// Set by [`Request::Stop`] at once, so a long step (sampling, a rollout) sees it too.
    cancel: std::sync::Arc<AtomicBool>,
    events: Receiver<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Trainer {
    /// Starts the named trainer thread. `waker` is called after every event.
    pub fn spawn(waker: impl Fn() + Send + 'static) -> std::io::Result<Trainer> {
        let (req_tx, req_rx) = sync_channel(REQUESTS);
        let (ev_tx, ev_rx) = sync_channel(EVENTS);
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&cancel);
        let thread = std::thread::Builder::new()
            .name("strata-trainer".into())
            .spawn(move || super::threads::install(move || worker(req_rx, ev_tx, waker, &flag)))?;
        Ok(Trainer {
            requests: req_tx,
            cancel,
            events: ev_rx,
            thread: Some(thread),
        })
    }

    /// Sends a request; false when the trainer is gone or its queue is full.
    pub fn send(&self, r: Request) -> bool {
        if matches!(r, Request::Stop | Request::Shutdown | Request::Start { .. }) {
            self.cancel.store(true, Ordering::Relaxed);
        }
        match self.requests.try_send(r) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// The next event, waiting up to `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Every event available now.
    pub fn drain(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }
}

impl Drop for Trainer {
    fn drop(&mut self) {
        let _ = self.requests.try_send(Request::Shutdown);
        // Unblock a trainer waiting to send events, then wait for it.
        while self.events.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !t.is_finished() && Instant::now() < deadline {
                while self.events.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

struct Link<W: Fn()> {
    events: SyncSender<Event>,
    waker: W,
}

impl<W: Fn()> Link<W> {
    fn emit(&self, e: Event) -> bool {
        let ok = self.events.send(e).is_ok();
        (self.waker)();
        ok
    }
}

enum Control {
    Continue,
    Stop,
    Shutdown,
    Restart(u64, Box<Project>, RunConfig),
}

fn worker(requests: Receiver<Request>, events: SyncSender<Event>, waker: impl Fn(), cancel: &AtomicBool) {
    let link = Link { events, waker };
    let mut next: Option<(u64, Box<Project>, RunConfig)> = None;
    // The watched node outlives runs: the UI may pick it before pressing Train.
    let mut watch = None;
    // The last run's recipe (its trained weights), kept for the Generate panel.
    let mut last: Option<(u64, Box<dyn Recipe>)> = None;
    loop {
        let (run_id, project, config) = match next.take() {
            Some(n) => n,
            None => match requests.recv() {
                Ok(Request::Start {
                    run_id,
                    project,
                    config,
                }) => (run_id, project, config),
                Ok(Request::Watch(node)) => {
                    watch = node;
                    continue;
                }
                Ok(Request::GenerateFrom {
                    project,
                    checkpoint,
                    data_dir,
                    request,
                }) => {
                    cancel.store(false, Ordering::Relaxed);
                    let mut event = None;
                    guarded(0, &link, || {
                        event = Some(match recipes::load(&project, &checkpoint, data_dir.as_deref()) {
                            Ok(mut recipe) => {
                                let e = generate(0, recipe.as_mut(), &request, cancel);
                                last = Some((0, recipe));
                                e
                            }
                            Err(e) => Event::Generated {
                                run_id: 0,
                                request: request.clone(),
                                result: Err(format!("cannot load {}: {e}", checkpoint.display())),
                                seconds: 0.0,
                            },
                        });
                        Control::Continue
                    });
                    if let Some(e) = event {
                        link.emit(e);
                    }
                    continue;
                }
                Ok(Request::Generate(request)) => {
                    cancel.store(false, Ordering::Relaxed);
                    let event = match last.as_mut() {
                        Some((id, recipe)) => {
                            let id = *id;
                            let mut out = None;
                            guarded(id, &link, || {
                                out = Some(generate(id, recipe.as_mut(), &request, cancel));
                                Control::Continue
                            });
                            out
                        }
                        None => Some(Event::Generated {
                            run_id: 0,
                            request,
                            result: Err("train the project first: samples come from trained weights".into()),
                            seconds: 0.0,
                        }),
                    };
                    if let Some(e) = event {
                        link.emit(e);
                    }
                    continue;
                }
                Ok(Request::Shutdown) | Err(_) => return,
                Ok(_) => continue,
            },
        };
        // A stop sent before this run began belongs to an earlier one.
        cancel.store(false, Ordering::Relaxed);
        // The weights of the previous run give way to this one's.
        last = None;
        match guarded(run_id, &link, || {
            run(
                run_id, &project, &config, &requests, &link, &mut watch, cancel, &mut last,
            )
        }) {
            Control::Restart(id, p, c) => next = Some((id, p, c)),
            Control::Shutdown => return,
            _ => {}
        }
    }
}

/// Draws samples as `request` asks from `recipe`'s current weights.
fn generate(run_id: u64, recipe: &mut dyn Recipe, request: &GenerateRequest, cancel: &AtomicBool) -> Event {
    let start = Instant::now();
    let result = match recipe.generate(request, cancel) {
        Ok(Some(view)) => Ok(view),
        Ok(None) if cancel.load(Ordering::Relaxed) => Err("stopped".into()),
        Ok(None) => Err("this graph has nothing to generate with its recipe (see the recipe's Generate note)".into()),
        Err(e) => Err(e.to_string()),
    };
    Event::Generated {
        run_id,
        request: request.clone(),
        result,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Runs `f`; a panic inside it becomes a `Failed` event and the trainer lives on.
fn guarded<W: Fn()>(run_id: u64, link: &Link<W>, f: impl FnOnce() -> Control) -> Control {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(c) => c,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".into());
            link.emit(Event::State {
                run_id,
                state: RunState::Failed,
            });
            link.emit(Event::Failed {
                run_id,
                reason: format!("internal error in the trainer: {msg} — please report it with the project file"),
                bad_input: false,
            });
            Control::Continue
        }
    }
}

/// What the run loop keeps between steps besides the recipe.
struct LoopState {
    paused: bool,
    lr_scale: f64,
}

/// When a live view (a tile, node activity) is due: on every `every`-th step, and no sooner than
/// `gap` after the last one was taken.
#[derive(Clone, Copy, Debug)]
pub struct Cadence {
    every: u64,
    gap: Duration,
    last: Option<Instant>,
}

impl Cadence {
    /// Every `every` steps (0: never), at most once per `gap`.
    pub fn new(every: u64, gap: Duration) -> Self {
        Cadence { every, gap, last: None }
    }

    /// Whether step `step` is to be observed; a `true` counts as taken now.
    pub fn due(&mut self, step: u64) -> bool {
        let due =
            self.every > 0 && step.is_multiple_of(self.every) && self.last.is_none_or(|t| t.elapsed() >= self.gap);
        if due {
            self.last = Some(Instant::now());
        }
        due
    }
}

fn poll(
    requests: &Receiver<Request>,
    st: &mut LoopState,
    recipe: &mut dyn Recipe,
    run_id: u64,
    link: &Link<impl Fn()>,
    watch: &mut Option<crate::doc::NodeId>,
) -> Control {
    loop {
        let r = if st.paused {
            match requests.recv_timeout(Duration::from_millis(200)) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Control::Shutdown,
            }
        } else {
            match requests.try_recv() {
                Ok(r) => r,
                Err(_) => return Control::Continue,
            }
        };
        match r {
            Request::Pause => {
                if !st.paused {
                    st.paused = true;
                    link.emit(Event::State {
                        run_id,
                        state: RunState::Paused,
                    });
                }
            }
            Request::Resume => {
                if st.paused {
                    st.paused = false;
                    link.emit(Event::State {
                        run_id,
                        state: RunState::Training,
                    });
                }
            }
            Request::Stop => return Control::Stop,
            Request::Shutdown => return Control::Shutdown,
            Request::SetLr(f) => st.lr_scale = f,
            Request::Watch(node) => *watch = node,
            Request::Generate(request) => {
                link.emit(generate(run_id, recipe, &request, cancel_never()));
            }
            Request::GenerateFrom { request, .. } => {
                link.emit(Event::Generated {
                    run_id,
                    request,
                    result: Err(
                        "a run is training: generate from its weights, or stop it first to load a checkpoint".into(),
                    ),
                    seconds: 0.0,
                });
            }
            Request::Checkpoint(path) => match recipe.save(&path) {
                Ok(()) => {
                    link.emit(Event::Checkpointed {
                        run_id,
                        path,
                        step: recipe.steps_done(),
                    });
                }
                Err(e) => {
                    link.emit(Event::Failed {
                        run_id,
                        reason: e.to_string(),
                        bad_input: false,
                    });
                }
            },
            Request::Start {
                run_id,
                project,
                config,
            } => return Control::Restart(run_id, project, config),
        }
    }
}

/// The scalar reported as a run's "final loss": the first per-step series the recipe declares.
pub fn main_series(recipe: &str) -> &'static str {
    crate::catalog::recipe(recipe)
        .and_then(|r| r.series.iter().find(|s| s.when == crate::catalog::When::Step))
        .map_or("loss", |s| s.key)
}

/// Sends a recipe's views.
fn emit_views(link: &Link<impl Fn()>, run_id: u64, step: u64, views: Vec<(String, View)>) {
    for (channel, view) in views {
        link.emit(Event::View {
            run_id,
            step,
            channel,
            view,
        });
    }
}

/// Reads a step's scalars back and reports them; a non-finite loss ends the run.
fn report_step(
    link: &Link<impl Fn()>,
    run_id: u64,
    step: u64,
    pending: Pending,
    recipe: &mut dyn Recipe,
    last_loss: &mut Option<f64>,
    loss_key: &str,
) -> Result<bool, RunError> {
    let scalars = pending.read();
    if let Some(bad) = scalars.values().find(|v| !v.is_finite()) {
        let _ = bad;
        return Err(RunError::NonFinite {
            step,
            node: recipe.non_finite_culprit(),
        });
    }
    *last_loss = scalars.get(loss_key).copied().or(*last_loss);
    Ok(link.emit(Event::Step { run_id, step, scalars }))
}

#[allow(clippy::too_many_arguments)]
fn run(
    run_id: u64,
    project: &Project,
    config: &RunConfig,
    requests: &Receiver<Request>,
    link: &Link<impl Fn()>,
    watch: &mut Option<crate::doc::NodeId>,
    cancel: &AtomicBool,
    keep: &mut Option<(u64, Box<dyn Recipe>)>,
) -> Control {
    let fail = |reason: String, bad_input: bool| {
        link.emit(Event::State {
            run_id,
            state: RunState::Failed,
        });
        link.emit(Event::Failed {
            run_id,
            reason,
            bad_input,
        });
        Control::Continue
    };
    link.emit(Event::State {
        run_id,
        state: RunState::Compiling,
    });
    let dev = match device::select(config.device) {
        Ok(d) => d,
        Err(e) => return fail(e.to_string(), true),
    };
    let seed = config.seed.unwrap_or(project.training.seed);
    let mut project = project.clone();
    project.training.seed = seed;
    let init = RecipeInit {
        project: &project,
        device: &dev.device,
        seed,
        data_dir: config.data_dir.as_deref(),
    };
    let mut recipe = match recipes::start(&init) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string(), matches!(e, RunError::BadInput(_))),
    };
    if let Some(dir) = &config.resume {
        match recipe.resume(dir) {
            Ok(fresh) => {
                link.emit(Event::Resumed {
                    run_id,
                    step: recipe.steps_done(),
                    fresh,
                });
            }
            Err(e) => return fail(e.to_string(), true),
        }
    }
    let steps = config.steps.unwrap_or(project.training.steps).max(1);
    link.emit(Event::Started {
        run_id,
        device: format!("{}: {}", dev.kind, dev.name),
        params: recipe.param_count(),
        steps,
    });
    link.emit(Event::State {
        run_id,
        state: RunState::Training,
    });
    let start = Instant::now();
    let mut st = LoopState {
        paused: false,
        lr_scale: 1.0,
    };
    let gap = Duration::from_millis(config.refresh_ms);
    let mut tiles = Cadence::new(config.watch_every, gap);
    let mut activity = Cadence::new(config.activity_every, gap);
    let mut last_loss = None;
    let loss_key = main_series(&project.recipe.id);
    let mut stopped = false;
    // The previous step's scalars, read back after the next step is under way.
    let mut pending: Option<(u64, Pending)> = None;
    while recipe.steps_done() < steps {
        match poll(requests, &mut st, recipe.as_mut(), run_id, link, watch) {
            Control::Continue => {}
            Control::Stop => {
                stopped = true;
                break;
            }
            other => return other,
        }
        let next = recipe.steps_done() + 1;
        let mut cx = StepCx {
            total_steps: steps,
            lr_scale: st.lr_scale,
            // The watched node's output is kept only in a step whose tile is sent.
            watch: watch.filter(|_| tiles.due(next)),
            measure_activity: activity.due(next),
            measure_cost: config.cost_every > 0 && (next == 10 || next % config.cost_every == 0),
            ..StepCx::new(steps, cancel)
        };
        let result = recipe.step(&mut cx);
        if let Some((step, p)) = pending.take() {
            match report_step(link, run_id, step, p, recipe.as_mut(), &mut last_loss, loss_key) {
                Ok(true) => {}
                Ok(false) => return Control::Shutdown,
                Err(e) => return fail(e.to_string(), false),
            }
        }
        match result {
            Ok(p) => pending = Some((recipe.steps_done(), p)),
            Err(e) => return fail(e.to_string(), matches!(e, RunError::BadInput(_))),
        }
        let done = recipe.steps_done();
        if !cx.activity.is_empty() {
            link.emit(Event::Activity {
                run_id,
                step: done,
                nodes: std::mem::take(&mut cx.activity),
            });
        }
        if !cx.cost.is_empty() {
            link.emit(Event::Cost {
                run_id,
                step: done,
                nodes: std::mem::take(&mut cx.cost),
            });
        }
        if let (Some(node), Some(v)) = (cx.watch, cx.tapped.as_ref())
            && let Some(tile) = super::watch::tile_of(v)
        {
            link.emit(Event::Activation {
                run_id,
                node,
                step: done,
                tile,
            });
        }
        if config.eval_every > 0 && done % config.eval_every == 0 && done < steps {
            match recipe.evaluate(cancel) {
                Ok(ev) => {
                    link.emit(Event::Eval {
                        run_id,
                        step: done,
                        scalars: ev.scalars,
                    });
                    emit_views(link, run_id, done, ev.views);
                }
                Err(e) => return fail(e.to_string(), false),
            }
            if let Ok(views) = recipe.views(cancel) {
                emit_views(link, run_id, done, views);
            }
        }
    }
    if let Some((step, p)) = pending.take() {
        match report_step(link, run_id, step, p, recipe.as_mut(), &mut last_loss, loss_key) {
            Ok(true) => {}
            Ok(false) => return Control::Shutdown,
            Err(e) => return fail(e.to_string(), false),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let done = recipe.steps_done();
    if let Some(dir) = &config.checkpoint {
        match recipe.save(dir) {
            Ok(()) => {
                link.emit(Event::Checkpointed {
                    run_id,
                    path: dir.clone(),
                    step: done,
                });
            }
            Err(e) => return fail(e.to_string(), false),
        }
    }
    // The final views and evaluation run even after Stop: they are what the user looks at.
    let quiet = AtomicBool::new(false);
    match recipe.views(&quiet) {
        Ok(views) => emit_views(link, run_id, done, views),
        Err(e) => return fail(e.to_string(), false),
    }
    let eval = match recipe.evaluate(&quiet) {
        Ok(ev) => {
            link.emit(Event::Eval {
                run_id,
                step: done,
                scalars: ev.scalars.clone(),
            });
            emit_views(link, run_id, done, ev.views);
            Some(ev.scalars)
        }
        Err(e) => return fail(e.to_string(), false),
    };
    link.emit(Event::Finished {
        run_id,
        steps: done,
        seconds,
        final_loss: last_loss,
        eval,
        stopped,
    });
    link.emit(Event::State {
        run_id,
        state: RunState::Finished,
    });
    *keep = Some((run_id, recipe));
    Control::Continue
}

/// A cancel flag nobody sets: generating in the middle of a run finishes its samples (Stop then
/// stops the run).
fn cancel_never() -> &'static AtomicBool {
    static NEVER: AtomicBool = AtomicBool::new(false);
    &NEVER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cadence_is_due_on_its_steps_and_not_within_its_gap() {
        let mut plain = Cadence::new(10, Duration::ZERO);
        let due: Vec<u64> = (1..=40).filter(|&s| plain.due(s)).collect();
        assert_eq!(due, [10, 20, 30, 40]);
        let mut never = Cadence::new(0, Duration::ZERO);
        assert!(!(1..=40).any(|s| never.due(s)));
        let mut gapped = Cadence::new(5, Duration::from_secs(3600));
        let due: Vec<u64> = (1..=40).filter(|&s| gapped.due(s)).collect();
        assert_eq!(due, [5]);
        let mut short = Cadence::new(2, Duration::from_millis(20));
        assert!(short.due(2));
        assert!(!short.due(4));
        std::thread::sleep(Duration::from_millis(25));
        assert!(!short.due(5), "only on the step cadence");
        assert!(short.due(6));
    }

    #[test]
    fn a_panic_in_a_run_becomes_a_failed_event() {
        let (tx, rx) = sync_channel(16);
        let woken = std::sync::atomic::AtomicUsize::new(0);
        let link = Link {
            events: tx,
            waker: || {
                woken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
        };
        let c = guarded(9, &link, || panic!("boom"));
        assert!(matches!(c, Control::Continue));
        let events: Vec<Event> = rx.try_iter().collect();
        assert!(matches!(
            events[0],
            Event::State {
                run_id: 9,
                state: RunState::Failed
            }
        ));
        let Event::Failed { reason, bad_input, .. } = &events[1] else {
            panic!("{events:?}")
        };
        assert!(reason.contains("internal error in the trainer: boom"), "{reason}");
        assert!(!bad_input);
        assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
