//! The `score_matching` recipe (Song & Ermon 2019) for vector data: a noise level σ is drawn per
//! example from a geometric ladder, the point is perturbed x̃ = x + σε, and the network predicts ε
//! from (x̃, log σ) — denoising score matching with the usual σ² weighting, since the score is
//! −ε/σ. Sampling runs annealed Langevin dynamics with the inference copy, checking the cancel
//! flag at every level.

use super::common::{Examples, Trainee, mean_loss, noise};
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::score_matching::SPEC;
use crate::data::Rng;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Scalars, Scatter, View};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(ScoreMatching::new(init)?)),
};

const ROLE: &str = "noise_pred";

/// A score-matching run.
pub struct ScoreMatching {
    t: Trainee,
    ex: Examples,
    /// Field of the Input fed the noisy point.
    x_field: String,
    /// Field of the Input fed log σ.
    level_field: String,
    /// Values per point.
    dim: usize,
    sigmas: Vec<f64>,
    langevin_steps: usize,
    step_size: f64,
    samples: usize,
    device: Device,
}

fn num(project: &crate::doc::Project, name: &str, default: f64) -> f64 {
    setting(project, name).and_then(|v| v.as_float()).unwrap_or(default)
}

impl ScoreMatching {
    /// Compiles the project and loads its points.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let ex = Examples::load(project, init.data_dir, init.seed)?;
        let bad = RunError::BadInput;
        if ex.data.shape.len() != 1 {
            return Err(bad(format!(
                "score matching here learns densities of vectors; {} holds [{}]-shaped examples — choose a point set such as two_moons",
                ex.data.name,
                ex.data
                    .shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let dim = ex.data.shape[0];
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let (mut x_field, mut level_field) = (None, None);
        for input in model.plan.inputs_for(Some(&[ROLE])) {
            let title = &model.plan.steps[input.step].title;
            if input.dtype != DType::Float {
                return Err(bad(format!("input '{title}' must be float")));
            }
            match input.source.as_str() {
                "dataset" => x_field = Some(input.field.clone()),
                "timestep" => level_field = Some(input.field.clone()),
                other => {
                    return Err(bad(format!(
                        "input '{title}' takes values from '{other}'; score matching feeds 'dataset' (the noisy point) and 'timestep' (log σ)"
                    )));
                }
            }
        }
        let x_field = x_field
            .ok_or_else(|| bad("the score network needs an Input with source 'dataset' (the noisy point)".into()))?;
        let level_field = level_field.ok_or_else(|| {
            bad(
                "the score network needs an Input with source 'timestep' [B, 1]: it is fed log σ, the noise level"
                    .into(),
            )
        })?;
        let (lo, hi) = (num(project, "sigma_min", 0.02), num(project, "sigma_max", 1.5));
        if !(lo > 0.0 && hi > lo) {
            return Err(bad(format!(
                "sigma_min ({lo}) must be above 0 and below sigma_max ({hi})"
            )));
        }
        let levels = num(project, "levels", 10.0).max(2.0) as usize;
        let sigmas: Vec<f64> = (0..levels)
            .map(|i| hi * (lo / hi).powf(i as f64 / (levels - 1) as f64))
            .collect();
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        Ok(ScoreMatching {
            t: Trainee::new("score", model, ex.split.train.clone(), &settings),
            ex,
            x_field,
            level_field,
            dim,
            sigmas,
            langevin_steps: num(project, "langevin_steps", 100.0).max(1.0) as usize,
            step_size: num(project, "step_size", 2e-4),
            samples: num(project, "samples", 500.0).max(1.0) as usize,
            device: ad,
        })
    }

    /// Raw points of examples `idx` as [n, dim].
    fn points(&self, idx: &[usize], device: &Device) -> Tensor<2> {
        let (x, _) = self.ex.data.batch_features(idx, 0);
        Tensor::from_data(TensorData::new(x, [idx.len(), self.dim]), device)
    }

    /// The network's noise prediction for points `x` at per-row levels `sigma` ([n, 1]).
    fn predict(&self, model: &GraphModel, x: Tensor<2>, sigma: Tensor<2>) -> Result<Tensor<2>, RunError> {
        let feed: HashMap<String, Value> = [
            (self.x_field.clone(), Value::F2(x)),
            (self.level_field.clone(), Value::F2(sigma.log())),
        ]
        .into_iter()
        .collect();
        let out = model
            .run(Some(&[ROLE]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        match out.outputs.get(ROLE).cloned() {
            Some(Value::F2(t)) if t.dims()[1] == self.dim => Ok(t),
            Some(other) => Err(RunError::BadInput(format!(
                "the 'noise_pred' output must be [B, {}] like the points, not {}",
                self.dim,
                other.describe()
            ))),
            None => Err(RunError::Failed("the 'noise_pred' output did not run".into())),
        }
    }

    /// The denoising loss on examples `idx`, with noise levels drawn from `rng`.
    fn loss(&self, model: &GraphModel, idx: &[usize], rng: &mut Rng, device: &Device) -> Result<Tensor<1>, RunError> {
        let n = idx.len();
        let sig: Vec<f32> = (0..n)
            .map(|_| self.sigmas[rng.below(self.sigmas.len())] as f32)
            .collect();
        let sigma = Tensor::<2>::from_data(TensorData::new(sig, [n, 1]), device);
        let eps = match noise(&[n, self.dim], device) {
            Value::F2(t) => t,
            _ => return Err(RunError::Failed("noise of the wrong rank".into())),
        };
        let noisy = self.points(idx, device) + eps.clone() * sigma.clone();
        let pred = self.predict(model, noisy, sigma)?;
        Ok((pred - eps).powi_scalar(2).mean())
    }

    /// Annealed Langevin dynamics: `n` points from N(0, σ_max²) walked down the noise ladder.
    fn sample(&self, n: usize, cancel: &AtomicBool) -> Result<Option<Vec<f32>>, RunError> {
        self.sample_with(n, self.t.settings.seed ^ 0x5A3F, self.langevin_steps, cancel)
    }

    /// Annealed Langevin dynamics from the noise of `seed`, `steps` per noise level.
    fn sample_with(
        &self,
        n: usize,
        seed: u64,
        steps: usize,
        cancel: &AtomicBool,
    ) -> Result<Option<Vec<f32>>, RunError> {
        use burn::module::Module;
        let model = self.t.net.model()?.valid();
        let device = self.device.clone().inner();
        device.seed(seed);
        let start = match noise(&[n, self.dim], &device) {
            Value::F2(t) => t,
            _ => return Ok(None),
        };
        let mut x = start.mul_scalar(self.sigmas[0]);
        let last = *self.sigmas.last().unwrap_or(&1.0);
        for &s in &self.sigmas {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let alpha = self.step_size * (s / last).powi(2);
            let sigma = Tensor::<2>::ones([n, 1], &device).mul_scalar(s);
            for _ in 0..steps {
                let eps = self.predict(&model, x.clone(), sigma.clone())?;
                let score = eps.div_scalar(-s);
                let z = match noise(&[n, self.dim], &device) {
                    Value::F2(t) => t,
                    _ => return Ok(None),
                };
                x = x + score.mul_scalar(alpha / 2.0) + z.mul_scalar(alpha.sqrt());
            }
        }
        Ok(Some(x.into_data().iter::<f32>().collect()))
    }
}

impl ScoreMatching {
    /// Drawn points (orange) over as many training points (blue), first two dimensions.
    fn over_data(&self, drawn: &[f32]) -> Scatter {
        super::common::samples_over_data(&self.ex, self.dim, drawn)
    }
}

impl Recipe for ScoreMatching {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, seed) = self.t.next(&device);
        let loss = self.loss(self.t.net.model()?, &idx, &mut Rng::new(seed), &device)?;
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, _cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        device.seed(self.t.settings.seed ^ 0xE7A1);
        let mut rng = Rng::new(self.t.settings.seed ^ 0xE7A1);
        let val = mean_loss(self.ex.split.val.chunks(500), |chunk| {
            self.loss(&model, chunk, &mut rng, &device)
        })?;
        let mut scalars = Scalars::new();
        scalars.insert("val_loss".into(), val);
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        if self.dim < 2 {
            return Ok(Vec::new());
        }
        let Some(drawn) = self.sample(self.samples, cancel)? else {
            return Ok(Vec::new());
        };
        Ok(vec![("samples".to_owned(), View::Scatter(self.over_data(&drawn)))])
    }

    fn generate(&mut self, request: &GenerateRequest, cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        if self.dim < 2 {
            return Ok(None);
        }
        let n = request.count.clamp(1, 10_000);
        let steps = request.steps.unwrap_or(self.langevin_steps).max(1);
        Ok(self
            .sample_with(n, request.seed, steps, cancel)?
            .map(|drawn| View::Scatter(self.over_data(&drawn))))
    }
}
