//! The `ppo` recipe (and, with its plain objective, `a2c`): one step is one rollout (several copies of the environment, actions drawn
//! from the 'policy' output's softmax on the plain device) and its update (GAE advantages from
//! the 'value' output; epochs of shuffled minibatches of the clipped surrogate, the value loss
//! and the entropy bonus, on the autodiff device). Time-limit truncation ends an episode like a
//! termination (as CleanRL does).

use super::common::Trainee;
use super::rl::{self, Show};
use super::text::{Rng, float_setting, usize_setting};
use super::{Evaluation, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::ppo::SPEC;
use crate::data::envs::{Action, ActionSpace, VecEnv};
use crate::engine::RunError;
use crate::engine::model::compile;
use crate::telemetry::View;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Ppo::new(init, Objective::Clipped)?)),
};

/// What the update maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// PPO's clipped surrogate over epochs of minibatches, advantages normalised per minibatch.
    Clipped,
    /// A2C's policy gradient, log π(a|s)·advantage, in one step over the whole rollout.
    Plain,
}

const POLICY: &str = "policy";
const VALUE: &str = "value";

/// A run of PPO (or of A2C: the same actor-critic loop with the plain objective).
pub struct Ppo {
    objective: Objective,
    t: Trainee,
    env_id: String,
    envs: VecEnv,
    actions: usize,
    gamma: f64,
    lambda: f64,
    clip: f64,
    rollout: usize,
    epochs: usize,
    minibatches: usize,
    value_coef: f64,
    entropy_coef: f64,
    eval_episodes: usize,
    rng: Rng,
    show: Show,
    /// Actions taken and summed probabilities in the last rollout.
    taken: Vec<u64>,
    prob_sum: Vec<f64>,
    device: Device,
}

/// One rollout, flattened time-major (`t * envs + i`).
struct Rollout {
    obs: Vec<Vec<f32>>,
    actions: Vec<usize>,
    logp: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
}

impl Ppo {
    /// Compiles the actor-critic and makes the environments.
    pub fn new(init: &RecipeInit, objective: Objective) -> Result<Self, RunError> {
        let project = init.project;
        let name = match objective {
            Objective::Clipped => "PPO",
            Objective::Plain => "A2C",
        };
        let env_id = rl::env_id(project, name)?;
        let envs_n = usize_setting(project, "envs", 8).max(1);
        let envs = VecEnv::new(&env_id, envs_n, init.seed).map_err(RunError::BadInput)?;
        let ActionSpace::Discrete(actions) = envs.action_space() else {
            return Err(RunError::BadInput(format!(
                "{name} here acts with discrete actions, and '{env_id}' takes continuous ones — train it with SAC"
            )));
        };
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let probe = crate::data::envs::make(&env_id).map_err(RunError::BadInput)?;
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let t = Trainee::new("actor_critic", model, vec![0], &settings);
        rl::check_graph(&t.net.inference()?, probe.as_ref(), POLICY, name)?;
        let plain = objective == Objective::Plain;
        Ok(Ppo {
            objective,
            t,
            show: Show::new(&env_id, init.seed ^ 0x5110)?,
            env_id,
            envs,
            actions,
            gamma: float_setting(project, "gamma", 0.99),
            lambda: float_setting(project, "gae_lambda", 0.95),
            clip: float_setting(project, "clip", 0.2),
            rollout: usize_setting(project, "rollout", 128).max(1),
            epochs: if plain {
                1
            } else {
                usize_setting(project, "epochs", 4).max(1)
            },
            minibatches: if plain {
                1
            } else {
                usize_setting(project, "minibatches", 4).max(1)
            },
            value_coef: float_setting(project, "value_coef", 0.5),
            entropy_coef: float_setting(project, "entropy_coef", 0.01),
            eval_episodes: usize_setting(project, "eval_episodes", 100).max(1),
            rng: Rng::new(init.seed ^ 0x9909),
            taken: vec![0; actions],
            prob_sum: vec![0.0; actions],
            device: ad,
        })
    }

    /// Collects `rollout` steps from every copy with the current policy, and the advantages
    /// (`None` when the user stopped meanwhile).
    fn collect(&mut self, cancel: &AtomicBool) -> Result<Option<Rollout>, RunError> {
        let model = self.t.net.inference()?;
        let device = rl::model_device(&model);
        let n = self.envs.len();
        let t_max = self.rollout;
        let mut obs = Vec::with_capacity(t_max * n);
        let (mut actions, mut logp, mut values) = (Vec::new(), Vec::new(), Vec::new());
        let (mut rewards, mut dones) = (Vec::with_capacity(t_max * n), Vec::with_capacity(t_max * n));
        self.taken = vec![0; self.actions];
        self.prob_sum = vec![0.0; self.actions];
        for _ in 0..t_max {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let rows = self.envs.observations().to_vec();
            let out = rl::run(&model, &rows, &[POLICY, VALUE], &device)?;
            let (logits, w) = rl::rows_of(
                out.get(POLICY)
                    .ok_or_else(|| RunError::Failed("no policy ran".into()))?,
            )?;
            let v = value_rows(out.get(VALUE))?;
            let mut acts = Vec::with_capacity(n);
            for i in 0..n {
                let p = rl::softmax(&logits[i * w..(i + 1) * w]);
                let a = rl::sample(&p, self.rng.uniform());
                self.taken[a] += 1;
                for (s, q) in self.prob_sum.iter_mut().zip(&p) {
                    *s += f64::from(*q);
                }
                logp.push(p[a].max(1e-12).ln());
                actions.push(a);
                acts.push(Action::Discrete(a));
            }
            values.extend(v);
            obs.extend(rows);
            for tr in self.envs.step(&acts) {
                rewards.push(tr.reward);
                dones.push(tr.terminated || tr.truncated);
            }
        }
        let total = (t_max * n) as f64;
        self.prob_sum.iter_mut().for_each(|s| *s /= total);
        // Bootstrap from the value of where each copy stands now.
        let last = rl::run(&model, self.envs.observations(), &[VALUE], &device)?;
        let next_value = value_rows(last.get(VALUE))?;
        let (advantages, returns) = gae(&rewards, &values, &dones, &next_value, n, self.gamma, self.lambda);
        Ok(Some(Rollout {
            obs,
            actions,
            logp,
            advantages,
            returns,
        }))
    }
}

/// A value output (`[B, 1]` or `[B]`) as host numbers.
fn value_rows(v: Option<&crate::engine::value::Value>) -> Result<Vec<f32>, RunError> {
    v.and_then(crate::engine::value::Value::to_f32s)
        .ok_or_else(|| RunError::Failed("no value ran".into()))
}

/// Generalised advantage estimation over a time-major rollout of `n` copies: advantages and the
/// returns the value learns (advantage + value).
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    next_value: &[f32],
    n: usize,
    gamma: f64,
    lambda: f64,
) -> (Vec<f32>, Vec<f32>) {
    let steps = rewards.len() / n.max(1);
    let mut adv = vec![0f32; rewards.len()];
    let mut running = vec![0f64; n];
    for t in (0..steps).rev() {
        for i in 0..n {
            let k = t * n + i;
            let alive = if dones[k] { 0.0 } else { 1.0 };
            let next = if t + 1 < steps { values[k + n] } else { next_value[i] };
            let delta = f64::from(rewards[k]) + gamma * f64::from(next) * alive - f64::from(values[k]);
            running[i] = delta + gamma * lambda * alive * running[i];
            adv[k] = running[i] as f32;
        }
    }
    let returns = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, returns)
}

impl Recipe for Ppo {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let Some(roll) = self.collect(cx.cancel)? else {
            return Ok(Pending::new());
        };
        let device = self.device.clone();
        self.t.next(&device);
        let lr = super::common::learning_rate(&self.t.settings, self.t.step, cx.total_steps) * cx.lr_scale;
        let total = roll.obs.len();
        let mb = total.div_ceil(self.minibatches).max(1);
        let mut order: Vec<usize> = (0..total).collect();
        let (mut sum_pg, mut sum_v, mut sum_ent, mut count) = (0f64, 0f64, 0f64, 0usize);
        let mut last_loss = None;
        for _ in 0..self.epochs {
            for i in (1..total).rev() {
                order.swap(i, (self.rng.uniform() * (i + 1) as f64) as usize);
            }
            for chunk in order.chunks(mb) {
                if cx.cancel.load(Ordering::Relaxed) {
                    break;
                }
                let b = chunk.len();
                let rows: Vec<Vec<f32>> = chunk.iter().map(|&k| roll.obs[k].clone()).collect();
                let model = self.t.net.model()?;
                let out = rl::run(model, &rows, &[POLICY, VALUE], &device)?;
                let logits = out
                    .get(POLICY)
                    .cloned()
                    .ok_or_else(|| RunError::Failed("no policy ran".into()))?
                    .f2()
                    .map_err(RunError::BadInput)?;
                let value = out
                    .get(VALUE)
                    .cloned()
                    .ok_or_else(|| RunError::Failed("no value ran".into()))?
                    .reshape(&[b])
                    .map_err(RunError::BadInput)?;
                let crate::engine::value::Value::F1(value) = value else {
                    return Err(RunError::BadInput("the 'value' output must be float [B, 1]".into()));
                };
                let pick = |v: &[f32]| {
                    let x: Vec<f32> = chunk.iter().map(|&k| v[k]).collect();
                    Tensor::<1>::from_data(TensorData::new(x, [b]), &device)
                };
                let acts: Vec<i64> = chunk.iter().map(|&k| roll.actions[k] as i64).collect();
                let acts = Tensor::<1, Int>::from_data(TensorData::new(acts, [b]), &device);
                let adv = pick(&roll.advantages);
                let logp_all = crate::engine::kernels::log_softmax(logits, 1);
                let logp = logp_all.clone().gather(1, acts.reshape([b, 1])).reshape([b]);
                let policy_loss = match self.objective {
                    Objective::Clipped => {
                        let adv = (adv.clone() - adv.clone().mean()) / adv.var(0).sqrt().add_scalar(1e-8);
                        let ratio = (logp - pick(&roll.logp)).exp();
                        let clipped = ratio.clone().clamp(1.0 - self.clip, 1.0 + self.clip);
                        (ratio * adv.clone()).min_pair(clipped * adv).mean().neg()
                    }
                    Objective::Plain => (logp * adv).mean().neg(),
                };
                let value_loss = (value - pick(&roll.returns)).powi_scalar(2).mean();
                let entropy = (logp_all.clone().exp() * logp_all).sum_dim(1).mean().neg();
                let loss = policy_loss.clone() + value_loss.clone().mul_scalar(self.value_coef)
                    - entropy.clone().mul_scalar(self.entropy_coef);
                sum_pg += f64::from(policy_loss.clone().into_scalar::<f32>());
                sum_v += f64::from(value_loss.into_scalar::<f32>());
                sum_ent += f64::from(entropy.into_scalar::<f32>());
                count += 1;
                last_loss = Some(loss.clone().detach());
                self.t.net.descend(loss.reshape([1]), lr)?;
            }
        }
        self.t.step += 1;
        let c = count.max(1) as f64;
        let mut pending = Pending::new()
            .with("lr", lr)
            .with("policy_loss", sum_pg / c)
            .with("value_loss", sum_v / c)
            .with("entropy", sum_ent / c);
        if let Some(l) = last_loss {
            pending = pending.with_tensor("loss", l.reshape([1]));
        }
        pending = rl::with_episode_return(pending, &mut self.envs);
        Ok(pending)
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        rl::evaluation(
            &model,
            &self.env_id,
            POLICY,
            self.eval_episodes,
            self.t.settings.seed,
            self.t.step,
            cancel,
            &rl::greedy,
        )
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let model = self.t.net.inference()?;
        let strip = self.show.advance(&model, POLICY, 6)?;
        Ok(vec![
            ("environment".to_owned(), View::Image(strip)),
            (
                "actions".to_owned(),
                View::Matrix(rl::action_matrix(&self.taken, &self.prob_sum)),
            ),
        ])
    }
}
