//! The `dqn` recipe: one step acts `train_every` times ε-greedily in the environment (storing
//! each transition in the replay buffer) and then, once the buffer has `learning_starts`
//! transitions, regresses Q(s, a) on r + γ·max Q_target(s′) for a random minibatch with the
//! Huber loss. The target network is a plain-device copy refreshed every `target_every` steps.

use super::common::Trainee;
use super::rl::{self, Show};
use super::text::{Rng, float_setting, usize_setting};
use super::{Evaluation, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::dqn::SPEC;
use crate::data::envs::{Action, ActionSpace, VecEnv};
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::telemetry::View;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::sync::atomic::AtomicBool;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Dqn::new(init)?)),
};

const Q: &str = "q_values";

/// A fixed-size ring of transitions.
pub struct Replay {
    obs: Vec<Vec<f32>>,
    next: Vec<Vec<f32>>,
    actions: Vec<usize>,
    rewards: Vec<f32>,
    ended: Vec<bool>,
    at: usize,
    cap: usize,
}

impl Replay {
    /// An empty buffer for `cap` transitions.
    pub fn new(cap: usize) -> Self {
        Replay {
            obs: Vec::new(),
            next: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            ended: Vec::new(),
            at: 0,
            cap: cap.max(1),
        }
    }
    /// Transitions held.
    pub fn len(&self) -> usize {
        self.obs.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.obs.is_empty()
    }
    /// Stores one transition, overwriting the oldest when full.
    pub fn push(&mut self, obs: Vec<f32>, action: usize, reward: f32, next: Vec<f32>, ended: bool) {
        if self.obs.len() < self.cap {
            self.obs.push(obs);
            self.next.push(next);
            self.actions.push(action);
            self.rewards.push(reward);
            self.ended.push(ended);
        } else {
            let i = self.at;
            self.obs[i] = obs;
            self.next[i] = next;
            self.actions[i] = action;
            self.rewards[i] = reward;
            self.ended[i] = ended;
        }
        self.at = (self.at + 1) % self.cap;
    }
}

/// A run of DQN.
pub struct Dqn {
    t: Trainee,
    env_id: String,
    envs: VecEnv,
    actions: usize,
    target: GraphModel,
    replay: Replay,
    gamma: f64,
    batch: usize,
    learning_starts: usize,
    target_every: u64,
    train_every: usize,
    eps: (f64, f64, f64),
    eval_episodes: usize,
    double: bool,
    /// Soft target updates (Polyak): the target follows the network by `tau` each update.
    tau: f64,
    soft: super::common::Ema,
    rng: Rng,
    show: Show,
    acted: u64,
    taken: Vec<u64>,
    device: Device,
}

impl Dqn {
    /// Compiles the Q-network and makes the environment.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let env_id = rl::env_id(project, "DQN")?;
        let envs = VecEnv::new(&env_id, 1, init.seed).map_err(RunError::BadInput)?;
        let ActionSpace::Discrete(actions) = envs.action_space() else {
            return Err(RunError::BadInput(format!(
                "DQN picks one of a few actions, and '{env_id}' takes continuous ones — train it with SAC"
            )));
        };
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let t = Trainee::new("q", model, vec![0], &settings);
        let target = t.net.inference()?;
        let probe = crate::data::envs::make(&env_id).map_err(RunError::BadInput)?;
        rl::check_graph(&target, probe.as_ref(), Q, "DQN")?;
        Ok(Dqn {
            t,
            show: Show::new(&env_id, init.seed ^ 0x5110)?,
            env_id,
            envs,
            actions,
            target,
            replay: Replay::new(usize_setting(project, "buffer", 10_000)),
            gamma: float_setting(project, "gamma", 0.99),
            batch: usize_setting(project, "batch", 128).max(1),
            learning_starts: usize_setting(project, "learning_starts", 1_000),
            target_every: usize_setting(project, "target_every", 500).max(1) as u64,
            train_every: usize_setting(project, "train_every", 1).max(1),
            eps: (
                float_setting(project, "epsilon_start", 1.0),
                float_setting(project, "epsilon_end", 0.05),
                float_setting(project, "epsilon_fraction", 0.5),
            ),
            eval_episodes: usize_setting(project, "eval_episodes", 100).max(1),
            tau: float_setting(project, "tau", 0.0),
            soft: super::common::Ema::new(1.0 - float_setting(project, "tau", 0.0)),
            double: super::setting(project, "double")
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            rng: Rng::new(init.seed ^ 0xD09),
            acted: 0,
            taken: vec![0; actions],
            device: ad,
        })
    }

    /// ε at `step` of `total`: linear from start to end over the first fraction of the run.
    fn epsilon(&self, step: u64, total: u64) -> f64 {
        let (start, end, fraction) = self.eps;
        let span = (fraction * total as f64).max(1.0);
        let done = (step as f64 / span).min(1.0);
        start + (end - start) * done
    }
}

impl Recipe for Dqn {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        self.t.next(&device);
        let eps = self.epsilon(self.t.step, cx.total_steps);
        // Act.
        let acting = self.t.net.inference()?;
        let plain = rl::model_device(&acting);
        for _ in 0..self.train_every {
            let obs = self.envs.observations()[0].clone();
            let a = if self.rng.uniform() < eps {
                (self.rng.uniform() * self.actions as f64) as usize % self.actions
            } else {
                let out = rl::run(&acting, std::slice::from_ref(&obs), &[Q], &plain)?;
                let (q, _) = rl::rows_of(out.get(Q).ok_or_else(|| RunError::Failed("no Q-values ran".into()))?)?;
                rl::argmax(&q)
            };
            self.taken[a] += 1;
            let tr = self.envs.step(&[Action::Discrete(a)]).remove(0);
            // Truncation by the time limit is not the end of the task: bootstrap through it.
            self.replay.push(obs, a, tr.reward, tr.observation, tr.terminated);
            self.acted += 1;
        }
        let mut pending = Pending::new().with("epsilon", eps);
        pending = rl::with_episode_return(pending, &mut self.envs);
        if self.replay.len() < self.learning_starts.max(self.batch) {
            self.t.step += 1;
            return Ok(pending.with("lr", 0.0));
        }
        // Learn from a random minibatch.
        let b = self.batch;
        let idx: Vec<usize> = (0..b)
            .map(|_| (self.rng.uniform() * self.replay.len() as f64) as usize % self.replay.len())
            .collect();
        let next: Vec<Vec<f32>> = idx.iter().map(|&i| self.replay.next[i].clone()).collect();
        let out = rl::run(&self.target, &next, &[Q], &plain)?;
        let (qn, w) = rl::rows_of(out.get(Q).ok_or_else(|| RunError::Failed("no Q-values ran".into()))?)?;
        // Double DQN: the online network picks the next action, the target network values it.
        let online = if self.double {
            let out = rl::run(&acting, &next, &[Q], &plain)?;
            Some(rl::rows_of(out.get(Q).ok_or_else(|| RunError::Failed("no Q-values ran".into()))?)?.0)
        } else {
            None
        };
        let y: Vec<f32> = idx
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let row = &qn[k * w..(k + 1) * w];
                let best = match &online {
                    Some(o) => row[rl::argmax(&o[k * w..(k + 1) * w])],
                    None => row.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                };
                let alive = if self.replay.ended[i] { 0.0 } else { 1.0 };
                self.replay.rewards[i] + (self.gamma as f32) * alive * best
            })
            .collect();
        let rows: Vec<Vec<f32>> = idx.iter().map(|&i| self.replay.obs[i].clone()).collect();
        let acts: Vec<i64> = idx.iter().map(|&i| self.replay.actions[i] as i64).collect();
        let model = self.t.net.model()?;
        let out = rl::run(model, &rows, &[Q], &device)?;
        let q = out
            .get(Q)
            .cloned()
            .ok_or_else(|| RunError::Failed("no Q-values ran".into()))?
            .f2()
            .map_err(RunError::BadInput)?;
        let acts = Tensor::<1, Int>::from_data(TensorData::new(acts, [b]), &device);
        let q_sa = q.gather(1, acts.reshape([b, 1])).reshape([b]);
        let y = Tensor::<1>::from_data(TensorData::new(y, [b]), &device);
        // Huber loss: ½m² + (d − m) with d = |Q − y|, m = min(d, 1).
        let d = (q_sa.clone() - y).abs();
        let m = d.clone().clamp_max(1.0);
        let loss = (m.clone() * m.clone()).mul_scalar(0.5) + d - m;
        let loss = loss.mean().reshape([1]);
        pending = pending.with_tensor("q_mean", q_sa.detach().mean().reshape([1]));
        let pending = self.t.descend(loss, cx, pending)?;
        if self.tau > 0.0 {
            self.soft.update(self.t.net.inference()?);
            if let Some(m) = self.soft.model() {
                self.target = m.clone();
            }
        } else if self.t.step.is_multiple_of(self.target_every) {
            self.target = self.t.net.inference()?;
        }
        Ok(pending)
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        rl::evaluation(
            &model,
            &self.env_id,
            Q,
            self.eval_episodes,
            self.t.settings.seed,
            self.t.step,
            cancel,
            &rl::greedy,
        )
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let model = self.t.net.inference()?;
        let strip = self.show.advance(&model, Q, 6)?;
        // Mean softmax of the Q-values over the buffer's latest observations.
        let plain = rl::model_device(&model);
        let recent: Vec<Vec<f32>> = self.replay.obs.iter().rev().take(256).cloned().collect();
        let mut mean_p = vec![0f64; self.actions];
        if !recent.is_empty() {
            let out = rl::run(&model, &recent, &[Q], &plain)?;
            if let Some(v) = out.get(Q) {
                let (q, w) = rl::rows_of(v)?;
                for row in q.chunks(w.max(1)) {
                    for (s, p) in mean_p.iter_mut().zip(rl::softmax(row)) {
                        *s += f64::from(p) / recent.len() as f64;
                    }
                }
            }
        }
        let taken = std::mem::replace(&mut self.taken, vec![0; self.actions]);
        Ok(vec![
            ("environment".to_owned(), View::Image(strip)),
            ("actions".to_owned(), View::Matrix(rl::action_matrix(&taken, &mean_p))),
        ])
    }
}
