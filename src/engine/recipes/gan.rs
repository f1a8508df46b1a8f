//! The `gan` recipe: the generator (the sub-graph feeding `fake`, from a noise Input) and the
//! discriminator (the rest of what feeds `score`) train in turns, each with its own optimizer.
//! The discriminator sees real images injected in place of the generator's output, then the
//! (detached) fakes; the generator is trained through the discriminator with the
//! non-saturating loss −log D(G(z)).

use super::common::{Batches, Examples, Manifest, Networks, image_grid, learning_rate, noise, step_seed};
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::gan::SPEC;
use crate::doc::TrainingSettings;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, InputSlot, compile};
use crate::engine::value::Value;
use crate::telemetry::{Scalars, View};
use burn::module::Module;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Gan::new(init)?)),
};

const FAKE: &str = "fake";
const SCORE: &str = "score";
/// Samples in the fixed-noise grid.
const GRID: usize = 64;
/// Examples per evaluation side.
const EVAL: usize = 256;

/// A GAN run.
pub struct Gan {
    nets: Networks,
    ex: Examples,
    noise_inputs: Vec<InputSlot>,
    /// Where real images go in place of fakes: the step (and output) feeding `fake`.
    fake_source: (usize, usize),
    /// Shape of one fake (after the batch).
    fake_dims: Vec<usize>,
    smoothing: f64,
    range: (f32, f32),
    settings: TrainingSettings,
    batches: Batches,
    step: u64,
    device: Device,
    /// The fixed noise behind the sample grid (on the device without autodiff).
    fixed: HashMap<String, Value>,
}

impl Gan {
    /// Compiles the project, splits it into generator and critic, loads the real images.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let ex = Examples::load(project, init.data_dir, init.seed)?;
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let bad = RunError::BadInput;
        let fake_source = model
            .plan
            .source_of(FAKE)
            .ok_or_else(|| bad("the GAN recipe needs an Output with role 'fake' (the generator's image)".into()))?;
        model.plan.source_of(SCORE).ok_or_else(|| {
            bad("the GAN recipe needs an Output with role 'score' (the discriminator's logit)".into())
        })?;
        // The discriminator must read the fakes: otherwise there is nothing to play.
        let critic_reads_fakes = model.plan.needed(Some(&[SCORE]))[fake_source.0];
        if !critic_reads_fakes {
            return Err(bad(
                "the 'score' output does not depend on the generator — wire the generator's output into the discriminator".into(),
            ));
        }
        let noise_inputs: Vec<InputSlot> = model.plan.inputs_for(Some(&[FAKE])).into_iter().cloned().collect();
        for input in &noise_inputs {
            if input.source != "noise" || input.dtype != DType::Float {
                return Err(bad(format!(
                    "input '{}' feeds the generator: set its source to 'noise' (float)",
                    model.plan.steps[input.step].title
                )));
            }
        }
        if noise_inputs.is_empty() {
            return Err(bad("the generator has no Input with source 'noise'".into()));
        }
        let fake_dims: Vec<usize> = model.plan.steps[fake_source.0]
            .params
            .out_types
            .get(fake_source.1)
            .and_then(|t| t.as_ref())
            .map(|t| t.dims.iter().skip(1).map(|d| d.known().unwrap_or(0) as usize).collect())
            .unwrap_or_default();
        let real_len: usize = ex.example_dims().iter().product();
        if fake_dims.iter().product::<usize>() != real_len || fake_dims.contains(&0) {
            return Err(bad(format!(
                "the generator makes [B, {}] but the images of {} are [B, {}] — make the generator's output match",
                fake_dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                ex.data.name,
                ex.example_dims()
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let smoothing = setting(project, "label_smoothing")
            .and_then(|v| v.as_float())
            .unwrap_or(0.1);
        let range = match setting(project, "pixel_range").as_ref().and_then(|v| v.as_text()) {
            Some("0..1") => (0.0, 1.0),
            _ => (-1.0, 1.0),
        };
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let batches = Batches::new(ex.split.train.clone(), settings.batch_size as usize, init.seed);
        // The fixed noise of the sample grid: the same digits-to-be at every refresh.
        let inner = ad.clone().inner();
        inner.seed(init.seed ^ 0x5EED_F1ED);
        let fixed = noise_feed(&noise_inputs, GRID, &inner);
        let nets = Networks::new(model, &SPEC, &settings);
        Ok(Gan {
            nets,
            ex,
            noise_inputs,
            fake_source,
            fake_dims,
            smoothing,
            range,
            settings,
            batches,
            step: 0,
            device: ad,
            fixed,
        })
    }

    /// Real images of examples `idx`, scaled to the generator's range and shaped like its output.
    fn real(&self, idx: &[usize], device: &Device) -> Result<Value, RunError> {
        let (mut px, _) = self.ex.data.batch_features(idx, self.ex.pad);
        let (lo, hi) = self.range;
        for v in &mut px {
            *v = lo + *v * (hi - lo);
        }
        let mut dims = vec![idx.len()];
        dims.extend_from_slice(&self.fake_dims);
        Ok(super::common::to_value(px, &dims, device))
    }

    /// The discriminator's logits for `images` injected in place of the fakes.
    fn score_of(
        &self,
        model: &GraphModel,
        images: Value,
        feed: &HashMap<String, Value>,
    ) -> Result<Tensor<1>, RunError> {
        let overrides: HashMap<(usize, usize), Value> = [(self.fake_source, images)].into_iter().collect();
        let out = model
            .run_with(Some(&[SCORE]), feed, &overrides, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        logits(out.outputs.get(SCORE))
    }
}

/// Noise for every noise input, `n` rows.
fn noise_feed(inputs: &[InputSlot], n: usize, device: &Device) -> HashMap<String, Value> {
    inputs
        .iter()
        .map(|i| {
            let mut dims: Vec<usize> = i.dims.iter().map(|d| d.unwrap_or(1)).collect();
            if let Some(b) = dims.first_mut() {
                *b = n;
            }
            (i.field.clone(), noise(&dims, device))
        })
        .collect()
}

impl Gan {
    /// The generator's fakes for the noise in `feed` (`n` of them) as a square grid.
    fn draw(&self, feed: &HashMap<String, Value>, n: usize) -> Result<Option<crate::telemetry::Picture>, RunError> {
        let model = self.nets.model()?.valid();
        let out = model
            .run(Some(&[FAKE]), feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let Some(px) = out.outputs.get(FAKE).and_then(Value::to_f32s) else {
            return Ok(None);
        };
        let dims = self.ex.example_dims();
        let chw = match dims.as_slice() {
            [c, h, w] => [*c, *h, *w],
            [k] => [1, 1, *k],
            _ => return Ok(None),
        };
        let side = (n as f64).sqrt().ceil() as usize;
        Ok(Some(image_grid(&px, n, chw, side, self.range)))
    }
}

/// The score output as one logit per example.
fn logits(v: Option<&Value>) -> Result<Tensor<1>, RunError> {
    match v.cloned() {
        Some(Value::F2(t)) => {
            let n = t.dims().iter().product::<usize>();
            Ok(t.reshape([n]))
        }
        Some(other) => Err(RunError::BadInput(format!(
            "the 'score' output must be one logit per example [B, 1], not {}",
            other.describe()
        ))),
        None => Err(RunError::Failed("the 'score' output did not run".into())),
    }
}

/// Binary cross-entropy of logits against a constant target `t` (1: real, 0: fake).
fn bce(logits: Tensor<1>, t: f64) -> Tensor<1> {
    let pos = log_sigmoid(logits.clone()).neg().mul_scalar(t);
    let neg = log_sigmoid(logits.neg()).neg().mul_scalar(1.0 - t);
    (pos + neg).mean()
}

impl Recipe for Gan {
    fn param_count(&self) -> usize {
        self.nets.model.as_ref().map_or(0, GraphModel::param_count)
    }

    fn steps_done(&self) -> u64 {
        self.step
    }

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let idx = self.batches.next_batch();
        let device = self.device.clone();
        device.seed(step_seed(self.settings.seed, self.step));
        let lr = learning_rate(&self.settings, self.step, cx.total_steps) * cx.lr_scale;
        let feed = noise_feed(&self.noise_inputs, idx.len(), &device);
        // 1. The discriminator: real images towards 1 − smoothing, (detached) fakes towards 0.
        let model = self.nets.model()?;
        let fakes = model
            .run(Some(&[FAKE]), &feed, cx.keep_all(), cx.watch)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        cx.observe(model, &fakes);
        let fake = fakes
            .outputs
            .get(FAKE)
            .cloned()
            .ok_or_else(|| RunError::Failed("the 'fake' output did not run".into()))?;
        let s_real = self.score_of(model, self.real(&idx, &device)?, &feed)?;
        let s_fake = self.score_of(model, fake.detach(), &feed)?;
        let d_real = sigmoid(s_real.clone()).mean();
        let d_fake = sigmoid(s_fake.clone()).mean();
        let d_loss = bce(s_real, 1.0 - self.smoothing) + bce(s_fake, 0.0);
        self.nets.descend(1, d_loss.clone(), lr)?;
        // 2. The generator, through the updated discriminator: −log D(G(z)).
        let model = self.nets.model()?;
        let out = model
            .run(Some(&[SCORE]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let g_loss = bce(logits(out.outputs.get(SCORE))?, 1.0);
        self.nets.descend(0, g_loss.clone(), lr)?;
        self.step += 1;
        Ok(Pending::new()
            .with("lr", lr)
            .with_tensor("d_loss", d_loss)
            .with_tensor("g_loss", g_loss)
            .with_tensor("d_real", d_real)
            .with_tensor("d_fake", d_fake))
    }

    fn evaluate(&mut self, _cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.nets.model()?.valid();
        let device = self.device.clone().inner();
        let idx: Vec<usize> = self.ex.split.val.iter().copied().take(EVAL).collect();
        let feed = noise_feed(&self.noise_inputs, idx.len(), &device);
        let real = sigmoid(self.score_of(&model, self.real(&idx, &device)?, &feed)?).mean();
        let out = model
            .run(Some(&[SCORE]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let fake = sigmoid(logits(out.outputs.get(SCORE))?).mean();
        let mut scalars = Scalars::new();
        scalars.insert("val_d_real".into(), f64::from(real.into_scalar::<f32>()));
        scalars.insert("val_d_fake".into(), f64::from(fake.into_scalar::<f32>()));
        Ok(Evaluation {
            step: self.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let fixed = self.fixed.clone();
        Ok(self
            .draw(&fixed, GRID)?
            .map(|p| vec![("samples".to_owned(), View::Image(p))])
            .unwrap_or_default())
    }

    fn generate(&mut self, request: &GenerateRequest, _cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        let n = request.count.clamp(1, 256);
        let inner = self.device.clone().inner();
        inner.seed(request.seed);
        let feed = noise_feed(&self.noise_inputs, n, &inner);
        Ok(self.draw(&feed, n)?.map(View::Image))
    }

    fn save(&self, dir: &Path) -> Result<(), RunError> {
        let nodes = self.nets.save(dir)?;
        let (epoch, cursor) = self.batches.position();
        Manifest {
            format: 1,
            step: self.step,
            epoch,
            cursor,
            seed: self.settings.seed,
            lr_scale: 1.0,
            nodes,
        }
        .save(dir)
    }

    fn resume(&mut self, dir: &Path) -> Result<Vec<String>, RunError> {
        let m = Manifest::load(dir)?;
        let fresh = self.nets.load(dir)?;
        self.batches.restore(m.epoch, m.cursor);
        self.step = m.step;
        Ok(fresh)
    }
}
