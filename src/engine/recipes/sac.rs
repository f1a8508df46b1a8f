//! The `sac` recipe: one step is one move in the environment (random until `learning_starts`,
//! then drawn from the tanh-squashed Gaussian the 'policy' output describes) and one update of
//! the critics, the actor and the temperature on a minibatch from the replay buffer. The target
//! critics are a moving average of the weights ([`super::common::Ema`]).

use super::common::{Ema, Manifest, Networks, learning_rate, step_seed};
use super::rl::{self, OBSERVATION, Show};
use super::text::{Rng, float_setting, usize_setting};
use super::{Evaluation, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::sac::SPEC;
use crate::data::envs::{Action, ActionSpace, VecEnv};
use crate::doc::TrainingSettings;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::View;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Sac::new(init)?)),
};

const POLICY: &str = "policy";
const Q1: &str = "q1";
const Q2: &str = "q2";
/// Field of the action Input the critics read.
pub const ACTION: &str = "action";
const LOG_STD: (f32, f32) = (-5.0, 2.0);

/// One stored move: observation, action, reward, next observation, whether the task ended.
type Move = (Vec<f32>, Vec<f32>, f32, Vec<f32>, bool);

/// A run of SAC.
pub struct Sac {
    nets: Networks,
    target: Ema,
    env_id: String,
    envs: VecEnv,
    dim: usize,
    high: f32,
    replay: Vec<Move>,
    cap: usize,
    at: usize,
    gamma: f64,
    batch: usize,
    learning_starts: usize,
    log_alpha: f64,
    /// Adam moments of log α.
    alpha_m: (f64, f64),
    eval_episodes: usize,
    rng: Rng,
    show: Show,
    settings: TrainingSettings,
    step: u64,
    device: Device,
}

/// Standard normal draws.
fn gaussian(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let (u, v) = (rng.uniform().max(1e-12), rng.uniform());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}

impl Sac {
    /// Compiles the actor and the critics and makes the environment.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let env_id = rl::env_id(project, "SAC")?;
        let envs = VecEnv::new(&env_id, 1, init.seed).map_err(RunError::BadInput)?;
        let ActionSpace::Continuous { dim, low, high } = envs.action_space() else {
            return Err(RunError::BadInput(format!(
                "SAC acts with continuous actions, and '{env_id}' has a few discrete ones — train it with DQN, PPO or A2C"
            )));
        };
        if (low + high).abs() > 1e-6 {
            return Err(RunError::BadInput(format!(
                "SAC squashes actions into a range symmetric around 0; '{env_id}' acts in [{low}, {high}]"
            )));
        }
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        if !model.plan.inputs.iter().any(|i| i.field == ACTION) {
            return Err(RunError::BadInput(format!(
                "the SAC critics read the action: add an Input bound to '{ACTION}' (source 'environment', shape B,{dim}) and wire it into 'q1' and 'q2'"
            )));
        }
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let nets = Networks::new(model, &SPEC, &settings);
        let probe = crate::data::envs::make(&env_id).map_err(RunError::BadInput)?;
        {
            use burn::module::Module;
            let plain = nets.model()?.valid();
            rl::check_head(
                &plain,
                probe.as_ref(),
                POLICY,
                2 * dim,
                &format!("{dim} action numbers (a mean and a log standard deviation each)"),
                "SAC",
            )?;
        }
        let tau = float_setting(project, "tau", 0.005);
        Ok(Sac {
            nets,
            target: Ema::new(1.0 - tau),
            show: Show::new(&env_id, init.seed ^ 0x5110)?,
            env_id,
            envs,
            dim,
            high,
            replay: Vec::new(),
            cap: usize_setting(project, "buffer", 100_000).max(1),
            at: 0,
            gamma: float_setting(project, "gamma", 0.99),
            batch: usize_setting(project, "batch", 256).max(1),
            learning_starts: usize_setting(project, "learning_starts", 1_000),
            log_alpha: float_setting(project, "initial_alpha", 0.2).max(1e-8).ln(),
            alpha_m: (0.0, 0.0),
            eval_episodes: usize_setting(project, "eval_episodes", 100).max(1),
            rng: Rng::new(init.seed ^ 0x5AC),
            settings,
            step: 0,
            device: ad,
        })
    }

    /// A squashed Gaussian sample for each row of policy outputs `[B, 2·dim]`, its log
    /// probability, and the squashed action (all tensors on the policy's device): a = tanh(u)·high
    /// with u = μ + σ·ε, log π = Σ log N(u; μ, σ) − log(high·(1 − tanh²u)).
    fn sample(&self, out: Tensor<2>, eps: Vec<f32>) -> (Tensor<2>, Tensor<1>) {
        let [b, _] = out.dims();
        let d = self.dim;
        let mean = out.clone().narrow(1, 0, d);
        let log_std = out.narrow(1, d, d).clamp(LOG_STD.0, LOG_STD.1);
        let std = log_std.clone().exp();
        let eps = Tensor::<2>::from_data(TensorData::new(eps, [b, d]), &mean.device());
        let u = mean + std * eps.clone();
        let squashed = u.tanh();
        let log_n = (eps.clone() * eps).mul_scalar(-0.5) - log_std - 0.5 * (std::f32::consts::TAU).ln();
        let correction = (squashed.clone().powi_scalar(2).neg().add_scalar(1.0 + 1e-6) * self.high).log();
        let logp = (log_n - correction).sum_dim(1).reshape([b]);
        (squashed.mul_scalar(self.high), logp)
    }

    /// The policy output `[B, 2·dim]` (means, then log standard deviations) for observations.
    fn policy(model: &GraphModel, obs: Tensor<2>) -> Result<Tensor<2>, RunError> {
        let out = model
            .run(
                Some(&[POLICY]),
                &HashMap::from([(OBSERVATION.to_owned(), Value::F2(obs))]),
                false,
                None,
            )
            .map_err(|e| RunError::Failed(e.to_string()))?;
        out.outputs
            .get(POLICY)
            .cloned()
            .ok_or_else(|| RunError::Failed("no policy ran".into()))?
            .f2()
            .map_err(RunError::BadInput)
    }

    /// Both critics' Q-values `[B]` on observations and actions.
    fn critics(model: &GraphModel, obs: Tensor<2>, act: Tensor<2>) -> Result<(Tensor<1>, Tensor<1>), RunError> {
        let b = obs.dims()[0];
        let feed = HashMap::from([
            (OBSERVATION.to_owned(), Value::F2(obs)),
            (ACTION.to_owned(), Value::F2(act)),
        ]);
        let out = model
            .run(Some(&[Q1, Q2]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let q = |role: &str| -> Result<Tensor<1>, RunError> {
            match out.outputs.get(role).cloned().map(|v| v.reshape(&[b])) {
                Some(Ok(Value::F1(t))) => Ok(t),
                _ => Err(RunError::BadInput(format!(
                    "the '{role}' output must be one number per example [B, 1]"
                ))),
            }
        };
        Ok((q(Q1)?, q(Q2)?))
    }

    /// The smaller of the two Q-values `[B]`.
    fn min_q(model: &GraphModel, obs: Tensor<2>, act: Tensor<2>) -> Result<Tensor<1>, RunError> {
        let (q1, q2) = Sac::critics(model, obs, act)?;
        Ok(q1.min_pair(q2))
    }

    /// Both critics' squared errors against `y`, summed.
    fn critic_loss(model: &GraphModel, obs: Tensor<2>, act: Tensor<2>, y: Tensor<1>) -> Result<Tensor<1>, RunError> {
        let (q1, q2) = Sac::critics(model, obs, act)?;
        Ok((q1 - y.clone()).powi_scalar(2).mean() + (q2 - y).powi_scalar(2).mean())
    }
}

/// The policy's mean action, squashed: what SAC does when it is not exploring.
fn mean_action(row: &[f32], dim: usize, high: f32) -> Action {
    Action::Continuous(row[..dim.min(row.len())].iter().map(|m| m.tanh() * high).collect())
}

fn rows_tensor(rows: &[&Vec<f32>], device: &Device) -> Tensor<2> {
    let w = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::<2>::from_data(TensorData::new(flat, [rows.len(), w]), device)
}

impl Recipe for Sac {
    fn param_count(&self) -> usize {
        self.nets.model.as_ref().map_or(0, GraphModel::param_count)
    }

    fn steps_done(&self) -> u64 {
        self.step
    }

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        device.seed(step_seed(self.settings.seed, self.step));
        let lr = learning_rate(&self.settings, self.step, cx.total_steps) * cx.lr_scale;
        // Act: random moves first, then a draw from the policy.
        let obs = self.envs.observations()[0].clone();
        let action: Vec<f32> = if self.replay.len() < self.learning_starts {
            (0..self.dim)
                .map(|_| ((self.rng.uniform() * 2.0 - 1.0) as f32) * self.high)
                .collect()
        } else {
            use burn::module::Module;
            let plain = self.nets.model()?.valid();
            let p = Sac::policy(
                &plain,
                rl::obs_tensor(std::slice::from_ref(&obs), &rl::model_device(&plain)),
            )?;
            let eps = gaussian(&mut self.rng, self.dim);
            let (a, _) = self.sample(p, eps);
            a.into_data().iter::<f32>().collect()
        };
        let tr = self.envs.step(&[Action::Continuous(action.clone())]).remove(0);
        let item = (obs, action, tr.reward, tr.observation, tr.terminated);
        if self.replay.len() < self.cap {
            self.replay.push(item);
        } else {
            self.replay[self.at] = item;
        }
        self.at = (self.at + 1) % self.cap;
        let mut pending = Pending::new().with("lr", lr).with("alpha", self.log_alpha.exp());
        pending = rl::with_episode_return(pending, &mut self.envs);
        self.step += 1;
        if self.replay.len() < self.learning_starts.max(self.batch) {
            return Ok(pending);
        }
        // A minibatch.
        let b = self.batch;
        let idx: Vec<usize> = (0..b)
            .map(|_| (self.rng.uniform() * self.replay.len() as f64) as usize % self.replay.len())
            .collect();
        let pick = |k: usize| -> Vec<&Vec<f32>> {
            idx.iter()
                .map(|&i| match k {
                    0 => &self.replay[i].0,
                    1 => &self.replay[i].1,
                    _ => &self.replay[i].3,
                })
                .collect()
        };
        let alpha = self.log_alpha.exp();
        // 1. Critic targets from the target critics and the current actor (no gradients).
        let y = {
            use burn::module::Module;
            let plain_model = self.nets.model()?.valid();
            let target = self.target.model().cloned().unwrap_or_else(|| plain_model.clone());
            let pd = rl::model_device(&plain_model);
            let next = rows_tensor(&pick(3), &pd);
            let p = Sac::policy(&plain_model, next.clone())?;
            let eps = gaussian(&mut self.rng, b * self.dim);
            let (a_next, logp_next) = self.sample(p, eps);
            let q_next = Sac::min_q(&target, next, a_next)?;
            let soft = q_next - logp_next.mul_scalar(alpha);
            let soft: Vec<f32> = soft.into_data().iter::<f32>().collect();
            let y: Vec<f32> = idx
                .iter()
                .zip(soft)
                .map(|(&i, s)| {
                    let (_, _, r, _, ended) = &self.replay[i];
                    r + (self.gamma as f32) * if *ended { 0.0 } else { s }
                })
                .collect();
            Tensor::<1>::from_data(TensorData::new(y, [b]), &device)
        };
        let obs_t = rows_tensor(&pick(0), &device);
        let act_t = rows_tensor(&pick(1), &device);
        // 2. The critics.
        let critic_loss = Sac::critic_loss(self.nets.model()?, obs_t.clone(), act_t, y)?;
        pending = pending.with_tensor("loss", critic_loss.clone().detach().reshape([1]));
        self.nets.descend(1, critic_loss.reshape([1]), lr)?;
        // 3. The actor: min Q of its own reparameterised actions, less α·log π.
        let model = self.nets.model()?;
        let p = Sac::policy(model, obs_t.clone())?;
        let eps = gaussian(&mut self.rng, b * self.dim);
        let (a_new, logp) = self.sample(p, eps);
        let q = Sac::min_q(model, obs_t, a_new)?;
        let actor_loss = (logp.clone().mul_scalar(alpha) - q).mean();
        let mean_logp = f64::from(logp.detach().mean().into_scalar::<f32>());
        pending = pending
            .with_tensor("actor_loss", actor_loss.clone().detach().reshape([1]))
            .with("entropy", -mean_logp);
        self.nets.descend(0, actor_loss.reshape([1]), lr)?;
        // 4. The temperature: towards an entropy of −dim (Adam on log α, by hand).
        let grad = -(mean_logp - self.dim as f64);
        let (m, v) = self.alpha_m;
        let (m, v) = (0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad * grad);
        self.alpha_m = (m, v);
        let t = self.step as f64;
        let (mh, vh) = (m / (1.0 - 0.9f64.powf(t)), v / (1.0 - 0.999f64.powf(t)));
        self.log_alpha -= lr * mh / (vh.sqrt() + 1e-8);
        // 5. The target critics follow.
        {
            use burn::module::Module;
            self.target.update(self.nets.model()?.valid());
        }
        Ok(pending)
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        use burn::module::Module;
        let model = self.nets.model()?.valid();
        let (dim, high) = (self.dim, self.high);
        let act = move |row: &[f32]| mean_action(row, dim, high);
        rl::evaluation(
            &model,
            &self.env_id,
            POLICY,
            self.eval_episodes,
            self.settings.seed,
            self.step,
            cancel,
            &act,
        )
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        use burn::module::Module;
        let model = self.nets.model()?.valid();
        let (dim, high) = (self.dim, self.high);
        let act = move |row: &[f32]| mean_action(row, dim, high);
        let strip = self.show.advance_with(&model, POLICY, 6, &act)?;
        Ok(vec![("environment".to_owned(), View::Image(strip))])
    }

    fn save(&self, dir: &Path) -> Result<(), RunError> {
        let nodes = self.nets.save(dir)?;
        Manifest {
            format: 1,
            step: self.step,
            epoch: 0,
            cursor: 0,
            seed: self.settings.seed,
            lr_scale: 1.0,
            nodes,
        }
        .save(dir)
    }

    fn resume(&mut self, dir: &Path) -> Result<Vec<String>, RunError> {
        let m = Manifest::load(dir)?;
        let fresh = self.nets.load(dir)?;
        self.step = m.step;
        Ok(fresh)
    }
}
