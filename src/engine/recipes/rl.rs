//! What the reinforcement-learning recipes share: the environment named by the project, the
//! observation Input, running the policy on a batch of observations, sampling, greedy
//! evaluation episodes, and the environment and action views.

use crate::catalog::DataKind;
use crate::data::envs::{Action, ActionSpace, Env, VecEnv};
use crate::doc::Project;
use crate::engine::RunError;
use crate::engine::model::GraphModel;
use crate::engine::value::Value;
use crate::telemetry::{Matrix, Picture};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Field of the observation Input.
pub const OBSERVATION: &str = "observation";
/// Frames in the environment view's strip.
const FRAMES: usize = 6;
/// Width of one frame.
const FRAME: usize = 220;

/// The project's environment id, checked to be an environment.
pub fn env_id(project: &Project, recipe: &str) -> Result<String, RunError> {
    let id = project.dataset.id.as_str();
    match crate::data::sources::source(id) {
        Some(s) if s.kind == DataKind::Env => Ok(id.to_owned()),
        _ => {
            // An unknown id is named with the environments there are.
            crate::data::envs::make(id)
                .map_err(|e| RunError::BadInput(format!("the {recipe} recipe acts in an environment: {e}")))?;
            Ok(id.to_owned())
        }
    }
}

/// Checks the graph against the environment: an Input bound to 'observation' of the right width,
/// and a `head` output (policy logits, Q-values) as wide as the action space asks.
pub fn check_graph(model: &GraphModel, env: &dyn Env, head: &str, recipe: &str) -> Result<(), RunError> {
    let what = match env.action_space() {
        ActionSpace::Discrete(n) => format!("{n} actions"),
        ActionSpace::Continuous { dim, .. } => format!("actions of {dim} numbers"),
    };
    check_head(model, env, head, env.action_space().head(), &what, recipe)
}

/// Like [`check_graph`], with the width the `head` output must have (and what it is for).
pub fn check_head(
    model: &GraphModel,
    env: &dyn Env,
    head: &str,
    want: usize,
    what: &str,
    recipe: &str,
) -> Result<(), RunError> {
    let obs = env.observation_size();
    let input = model
        .plan
        .inputs
        .iter()
        .find(|i| i.field == OBSERVATION)
        .ok_or_else(|| {
            RunError::BadInput(format!(
                "the {recipe} recipe feeds observations to an Input bound to '{OBSERVATION}' (source 'environment'); there is none"
            ))
        })?;
    if let Some(Some(w)) = input.dims.get(1)
        && *w != obs
    {
        return Err(RunError::BadInput(format!(
            "Input '{}' takes [B, {w}], but the environment observes {obs} numbers — set its shape to B,{obs}",
            model.plan.steps[input.step].title
        )));
    }
    // One forward pass on a zero observation finds the head's width.
    let device = model_device(model);
    let probe = run(model, &[vec![0.0; obs]], &[head], &device)?;
    let width = probe.get(head).map_or(0, |v| v.dims().last().copied().unwrap_or(0));
    if width != want {
        let source = model
            .plan
            .source_of(head)
            .map(|(s, _)| model.plan.steps[s].title.clone())
            .unwrap_or_else(|| head.to_owned());
        return Err(RunError::BadInput(format!(
            "the '{head}' output ('{source}') gives {width} numbers, but the environment has {what} — make '{source}' {want} wide"
        )));
    }
    Ok(())
}

/// The device a model's weights live on.
pub fn model_device(model: &GraphModel) -> Device {
    use burn::module::Module;
    model.devices().first().cloned().unwrap_or_default()
}

/// Observations as a `[rows, size]` tensor.
pub fn obs_tensor(rows: &[Vec<f32>], device: &Device) -> Tensor<2> {
    let size = rows.first().map_or(0, Vec::len);
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::<2>::from_data(TensorData::new(flat, [rows.len(), size]), device)
}

/// Runs the outputs with `roles` on a batch of observations.
pub fn run(
    model: &GraphModel,
    rows: &[Vec<f32>],
    roles: &[&str],
    device: &Device,
) -> Result<HashMap<String, Value>, RunError> {
    let feed = HashMap::from([(OBSERVATION.to_owned(), Value::F2(obs_tensor(rows, device)))]);
    let out = model
        .run(Some(roles), &feed, false, None)
        .map_err(|e| RunError::Failed(e.to_string()))?;
    Ok(out.outputs)
}

/// A 2-D output as host rows.
pub fn rows_of(v: &Value) -> Result<(Vec<f32>, usize), RunError> {
    let t = v.clone().f2().map_err(RunError::BadInput)?;
    let w = t.dims()[1];
    Ok((t.into_data().iter::<f32>().collect(), w))
}

/// Softmax of one row of logits.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = row.iter().map(|&x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// The index of the largest entry.
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(k, _)| k)
}

/// Draws an index from probabilities `p` with a uniform number `u` in [0, 1).
pub fn sample(p: &[f32], u: f64) -> usize {
    let mut acc = 0.0f64;
    for (k, &q) in p.iter().enumerate() {
        acc += f64::from(q);
        if u < acc {
            return k;
        }
    }
    p.len().saturating_sub(1)
}

/// How an agent acts on one row of its head's output when it is not exploring.
pub type Act<'a> = &'a dyn Fn(&[f32]) -> Action;

/// Greedy discrete acting: the action with the largest output.
pub fn greedy(row: &[f32]) -> Action {
    Action::Discrete(argmax(row))
}

/// The mean return and episode length of `episodes` episodes acting greedily on the `head`
/// output (argmax), all played at once; stops early when `cancel` is set.
pub fn evaluate_greedy(
    model: &GraphModel,
    env_id: &str,
    head: &str,
    episodes: usize,
    seed: u64,
    cancel: &AtomicBool,
) -> Result<(f64, f64), RunError> {
    evaluate_with(model, env_id, head, episodes, seed, cancel, &greedy)
}

/// Like [`evaluate_greedy`], acting with `act` on each row of the `head` output.
pub fn evaluate_with(
    model: &GraphModel,
    env_id: &str,
    head: &str,
    episodes: usize,
    seed: u64,
    cancel: &AtomicBool,
    act: Act,
) -> Result<(f64, f64), RunError> {
    let device = model_device(model);
    let mut envs: Vec<Box<dyn Env>> = (0..episodes)
        .map(|_| crate::data::envs::make(env_id).map_err(RunError::BadInput))
        .collect::<Result<_, _>>()?;
    let mut obs: Vec<Vec<f32>> = envs
        .iter_mut()
        .enumerate()
        .map(|(i, e)| e.reset(seed.wrapping_mul(7919).wrapping_add(i as u64)))
        .collect();
    let mut alive: Vec<usize> = (0..episodes).collect();
    let mut returns = vec![0f64; episodes];
    let mut lengths = vec![0u32; episodes];
    while !alive.is_empty() && !cancel.load(Ordering::Relaxed) {
        let rows: Vec<Vec<f32>> = alive.iter().map(|&i| obs[i].clone()).collect();
        let out = run(model, &rows, &[head], &device)?;
        let (q, w) = rows_of(
            out.get(head)
                .ok_or_else(|| RunError::Failed(format!("no '{head}' output ran")))?,
        )?;
        let mut still = Vec::with_capacity(alive.len());
        for (k, &i) in alive.iter().enumerate() {
            let t = envs[i].step(&act(&q[k * w..(k + 1) * w]));
            returns[i] += f64::from(t.reward);
            lengths[i] += 1;
            obs[i] = t.observation;
            if !(t.terminated || t.truncated) {
                still.push(i);
            }
        }
        alive = still;
    }
    let n = episodes.max(1) as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let mean_len = lengths.iter().map(|&l| f64::from(l)).sum::<f64>() / n;
    Ok((mean, mean_len))
}

/// A running episode shown in the environment view: stepped greedily a few steps per refresh.
pub struct Show {
    env: VecEnv,
    frames: Vec<Picture>,
}

impl Show {
    /// One copy of environment `id`.
    pub fn new(id: &str, seed: u64) -> Result<Self, RunError> {
        Ok(Show {
            env: VecEnv::new(id, 1, seed).map_err(RunError::BadInput)?,
            frames: Vec::new(),
        })
    }

    /// Advances the shown episode by `steps` greedy steps and returns the latest frames side by side.
    pub fn advance(&mut self, model: &GraphModel, head: &str, steps: usize) -> Result<Picture, RunError> {
        self.advance_with(model, head, steps, &greedy)
    }

    /// Like [`Show::advance`], acting with `act` on the `head` output.
    pub fn advance_with(
        &mut self,
        model: &GraphModel,
        head: &str,
        steps: usize,
        act: Act,
    ) -> Result<Picture, RunError> {
        let device = model_device(model);
        for _ in 0..steps {
            let out = run(model, self.env.observations(), &[head], &device)?;
            let (q, _) = rows_of(
                out.get(head)
                    .ok_or_else(|| RunError::Failed(format!("no '{head}' output ran")))?,
            )?;
            self.env.step(&[act(&q)]);
            self.frames.push(self.env.render(0, FRAME));
            if self.frames.len() > FRAMES {
                self.frames.remove(0);
            }
        }
        Ok(strip(&self.frames))
    }
}

/// Pictures of one size side by side, 4-pixel gaps.
fn strip(frames: &[Picture]) -> Picture {
    let (w, h) = frames.first().map_or((1, 1), |f| (f.width, f.height));
    let gap = 4;
    let width = frames.len().max(1) * (w + gap) - gap;
    let mut rgb = vec![16u8; width * h * 3];
    for (k, f) in frames.iter().enumerate() {
        for y in 0..h.min(f.height) {
            let src = &f.rgb[y * f.width * 3..(y * f.width + w.min(f.width)) * 3];
            let o = (y * width + k * (w + gap)) * 3;
            rgb[o..o + src.len()].copy_from_slice(src);
        }
    }
    Picture { width, height: h, rgb }
}

/// `pending` with the mean return of the episodes the copies finished since last asked (none
/// finished: unchanged), as the `episode_return` series.
pub fn with_episode_return(pending: super::Pending, envs: &mut VecEnv) -> super::Pending {
    let finished = std::mem::take(&mut envs.finished);
    if finished.is_empty() {
        return pending;
    }
    let mean = finished.iter().map(|(r, _)| r).sum::<f64>() / finished.len() as f64;
    pending.with("episode_return", mean)
}

/// An evaluation of `episodes` episodes acting with `act` on the `head` output: the mean return
/// and episode length, at `step`.
#[allow(clippy::too_many_arguments)]
pub fn evaluation(
    model: &GraphModel,
    env_id: &str,
    head: &str,
    episodes: usize,
    seed: u64,
    step: u64,
    cancel: &AtomicBool,
    act: Act,
) -> Result<super::Evaluation, RunError> {
    let (mean, length) = evaluate_with(model, env_id, head, episodes, 0xE7A1 ^ seed, cancel, act)?;
    let mut scalars = crate::telemetry::Scalars::new();
    scalars.insert("mean_return".into(), mean);
    scalars.insert("mean_episode_length".into(), length);
    Ok(super::Evaluation {
        step,
        scalars,
        views: Vec::new(),
    })
}

/// The action view: for each action, how often it was taken and its mean probability.
pub fn action_matrix(taken: &[u64], mean_p: &[f64]) -> Matrix {
    let total = taken.iter().sum::<u64>().max(1) as f64;
    Matrix {
        rows_are: "measure".into(),
        cols_are: "action".into(),
        row_labels: vec!["share taken".into(), "mean probability".into()],
        col_labels: (0..taken.len()).map(|a| format!("action {a}")).collect(),
        values: vec![taken.iter().map(|&c| c as f64 / total).collect(), mean_p.to_vec()],
    }
}
