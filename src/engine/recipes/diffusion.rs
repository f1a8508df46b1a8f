//! The `diffusion` recipe (Ho et al. 2020): images scaled to [−1, 1] are noised to a random
//! timestep, x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, and the denoiser learns to predict ε. Sampling (DDIM
//! or DDPM, off the hot path, checking the cancel flag every step) runs the inference copy in a
//! loop; a class-conditioned graph is guided without a classifier.

use super::common::{Ema, Examples, Trainee, image_grid, mean_loss, noise};
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::diffusion::SPEC;
use crate::data::Rng;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Picture, Scalars, View};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Diffusion::new(init)?)),
};

const ROLE: &str = "noise_pred";

/// Sampled images (row-major, all of them) and the first one's path from noise to image.
pub type Drawn = (Vec<f32>, Vec<Vec<f32>>);
const GRID: usize = 64;

/// A diffusion run.
pub struct Diffusion {
    t: Trainee,
    ex: Examples,
    x_field: String,
    t_field: String,
    /// The class input's field, when the graph is class-conditioned.
    y_field: Option<String>,
    /// Shape of one image [c, h, w].
    chw: [usize; 3],
    /// ᾱ_t for t = 0..T.
    alpha_bar: Vec<f64>,
    ddim: bool,
    sample_steps: usize,
    guidance: f64,
    p_uncond: f64,
    /// The moving average of the denoiser's weights that sampling uses.
    ema: Ema,
    device: Device,
}

fn num(project: &crate::doc::Project, name: &str, default: f64) -> f64 {
    setting(project, name).and_then(|v| v.as_float()).unwrap_or(default)
}

/// ᾱ_t of a linear β schedule or the cosine schedule of Nichol & Dhariwal (2021).
pub fn alpha_bar(schedule: &str, t_max: usize, beta_start: f64, beta_end: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(t_max);
    if schedule == "cosine" {
        let f = |t: f64| {
            ((t / t_max as f64 + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
                .cos()
                .powi(2)
        };
        let f0 = f(0.0);
        let mut prev = 1.0;
        for t in 0..t_max {
            let ab = f((t + 1) as f64) / f0;
            // Clip β at 0.999 as the paper does.
            let beta = (1.0 - ab / prev).min(0.999);
            prev *= 1.0 - beta;
            out.push(prev);
        }
    } else {
        let mut prod = 1.0;
        for t in 0..t_max {
            let beta = beta_start + (beta_end - beta_start) * t as f64 / (t_max.max(2) - 1) as f64;
            prod *= 1.0 - beta;
            out.push(prod);
        }
    }
    out
}

impl Diffusion {
    /// Compiles the denoiser and loads the images.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let ex = Examples::load(project, init.data_dir, init.seed)?;
        let bad = RunError::BadInput;
        let chw = match ex.example_dims().as_slice() {
            [c, h, w] => [*c, *h, *w],
            other => {
                return Err(bad(format!(
                    "diffusion here denoises images; {} holds [{}]-shaped examples",
                    ex.data.name,
                    other.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let (mut x_field, mut t_field, mut y_field) = (None, None, None);
        for input in model.plan.inputs_for(Some(&[ROLE])) {
            let title = &model.plan.steps[input.step].title;
            match (input.source.as_str(), input.dtype) {
                ("dataset", DType::Float) => x_field = Some(input.field.clone()),
                ("dataset", DType::Int) => y_field = Some(input.field.clone()),
                ("timestep", _) => t_field = Some(input.field.clone()),
                (other, _) => {
                    return Err(bad(format!(
                        "input '{title}' takes values from '{other}'; the diffusion recipe feeds 'dataset' (the noised image, or the class) and 'timestep'"
                    )));
                }
            }
        }
        let x_field = x_field.ok_or_else(|| {
            bad("the denoiser needs a float Input with source 'dataset' (the noised image x_t)".into())
        })?;
        let t_field = t_field.ok_or_else(|| {
            bad("the denoiser has no timestep input — add an Input with source 'timestep', shape [B], dtype int, and feed it to a Timestep embedding".into())
        })?;
        let t_max = num(project, "timesteps", 1000.0).max(2.0) as usize;
        let schedule = setting(project, "schedule")
            .and_then(|v| v.as_text().map(str::to_owned))
            .unwrap_or_else(|| "linear".into());
        let alpha_bar = alpha_bar(
            &schedule,
            t_max,
            num(project, "beta_start", 1e-4),
            num(project, "beta_end", 0.02),
        );
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        Ok(Diffusion {
            t: Trainee::new("denoiser", model, ex.split.train.clone(), &settings),
            ex,
            x_field,
            t_field,
            y_field,
            chw,
            alpha_bar,
            ddim: setting(project, "sampler").as_ref().and_then(|v| v.as_text()) != Some("ddpm"),
            sample_steps: num(project, "sample_steps", 50.0).max(1.0) as usize,
            guidance: num(project, "guidance", 2.0),
            ema: Ema::new(num(project, "ema", 0.995)),
            p_uncond: num(project, "p_uncond", 0.1),
            device: ad,
        })
    }

    /// The "no class" index: one past the dataset's classes.
    fn null_class(&self) -> i64 {
        self.ex.data.classes.len() as i64
    }

    fn images(&self, idx: &[usize], device: &Device) -> Tensor<4> {
        let (px, _) = self.ex.data.batch_features(idx, self.ex.pad);
        let [c, h, w] = self.chw;
        Tensor::<4>::from_data(TensorData::new(px, [idx.len(), c, h, w]), device)
            .mul_scalar(2.0)
            .sub_scalar(1.0)
    }

    fn ints(v: Vec<i64>, device: &Device) -> Tensor<1, Int> {
        let n = v.len();
        Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device)
    }

    fn col(v: Vec<f32>, device: &Device) -> Tensor<4> {
        let n = v.len();
        Tensor::<4>::from_data(TensorData::new(v, [n, 1, 1, 1]), device)
    }

    /// The denoiser's ε for x_t at timesteps `t` (and classes `y`).
    fn eps(
        &self,
        model: &GraphModel,
        x: Tensor<4>,
        t: &[i64],
        y: Option<Vec<i64>>,
        device: &Device,
    ) -> Result<Tensor<4>, RunError> {
        let mut feed: HashMap<String, Value> = HashMap::new();
        feed.insert(self.x_field.clone(), Value::F4(x));
        feed.insert(self.t_field.clone(), Value::I1(Self::ints(t.to_vec(), device)));
        if let (Some(f), Some(y)) = (&self.y_field, y) {
            feed.insert(f.clone(), Value::I1(Self::ints(y, device)));
        }
        let out = model
            .run(Some(&[ROLE]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let [c, h, w] = self.chw;
        match out.outputs.get(ROLE).cloned() {
            Some(Value::F4(e)) if e.dims()[1..] == [c, h, w] => Ok(e),
            // ε and a learned variance (DiT, improved DDPM): ε is the first half; the variance
            // half is not trained (the simple ε loss only) and sampling uses the fixed schedule.
            Some(Value::F4(e)) if e.dims()[1..] == [2 * c, h, w] => Ok(e.narrow(1, 0, c)),
            Some(other) => Err(RunError::BadInput(format!(
                "the 'noise_pred' output must be shaped like the images [B, {c}, {h}, {w}] (or twice their channels: ε and a variance), not {}",
                other.describe()
            ))),
            None => Err(RunError::Failed("the 'noise_pred' output did not run".into())),
        }
    }

    /// The ε-prediction loss on examples `idx` with timesteps (and dropped classes) from `rng`.
    fn loss(&self, model: &GraphModel, idx: &[usize], rng: &mut Rng, device: &Device) -> Result<Tensor<1>, RunError> {
        let n = idx.len();
        let t: Vec<i64> = (0..n).map(|_| rng.below(self.alpha_bar.len()) as i64).collect();
        let ab: Vec<f64> = t.iter().map(|&k| self.alpha_bar[k as usize]).collect();
        let a = Self::col(ab.iter().map(|v| v.sqrt() as f32).collect(), device);
        let s = Self::col(ab.iter().map(|v| (1.0 - v).sqrt() as f32).collect(), device);
        let [c, h, w] = self.chw;
        let eps = match noise(&[n, c, h, w], device) {
            Value::F4(e) => e,
            _ => return Err(RunError::Failed("noise of the wrong rank".into())),
        };
        let x_t = self.images(idx, device) * a + eps.clone() * s;
        let y = self.y_field.as_ref().map(|_| {
            self.ex
                .data
                .batch_labels(idx)
                .into_iter()
                .map(|l| {
                    if rng.unit() < self.p_uncond {
                        self.null_class()
                    } else {
                        l
                    }
                })
                .collect()
        });
        let pred = self.eps(model, x_t, &t, y, device)?;
        Ok((pred - eps).powi_scalar(2).mean())
    }

    /// Guided ε: (1+w)·ε(x, c) − w·ε(x, ∅) for class-conditioned graphs.
    fn guided(
        &self,
        model: &GraphModel,
        x: Tensor<4>,
        t: i64,
        y: &Option<Vec<i64>>,
        guidance: f64,
        device: &Device,
    ) -> Result<Tensor<4>, RunError> {
        let n = x.dims()[0];
        let ts = vec![t; n];
        match y {
            Some(y) if guidance > 0.0 => {
                let cond = self.eps(model, x.clone(), &ts, Some(y.clone()), device)?;
                let none = self.eps(model, x, &ts, Some(vec![self.null_class(); n]), device)?;
                Ok(cond.mul_scalar(1.0 + guidance) - none.mul_scalar(guidance))
            }
            _ => self.eps(model, x, &ts, y.clone(), device),
        }
    }

    /// Denoises `n` images from the recipe's fixed noise with its own sampler settings; also
    /// returns a few intermediate x_t of the first.
    pub fn sample(&self, n: usize, classes: Option<Vec<i64>>, cancel: &AtomicBool) -> Result<Option<Drawn>, RunError> {
        let how = Sampling {
            seed: self.t.settings.seed ^ 0xD1FF,
            guidance: self.guidance,
            steps: self.sample_steps,
        };
        self.sample_with(n, classes, &how, cancel)
    }

    /// Denoises `n` images from the noise of `how.seed`, guided by `how.guidance`, in
    /// `how.steps` DDIM steps (DDPM always takes every step).
    fn sample_with(
        &self,
        n: usize,
        classes: Option<Vec<i64>>,
        how: &Sampling,
        cancel: &AtomicBool,
    ) -> Result<Option<Drawn>, RunError> {
        use burn::module::Module;
        let model = match self.ema.model() {
            Some(m) => m.clone(),
            None => self.t.net.model()?.valid(),
        };
        let device = self.device.clone().inner();
        device.seed(how.seed);
        let [c, h, w] = self.chw;
        let mut x = match noise(&[n, c, h, w], &device) {
            Value::F4(e) => e,
            _ => return Ok(None),
        };
        let y = if self.y_field.is_some() { classes } else { None };
        let t_max = self.alpha_bar.len();
        let times: Vec<usize> = if self.ddim {
            let k = how.steps.clamp(1, t_max);
            let mut v: Vec<usize> = (0..k).map(|i| (t_max - 1) * (k - 1 - i) / (k - 1).max(1)).collect();
            v.dedup();
            v
        } else {
            (0..t_max).rev().collect()
        };
        let per = c * h * w;
        let mut strip = vec![
            x.clone()
                .slice([0..1, 0..c, 0..h, 0..w])
                .into_data()
                .iter::<f32>()
                .collect::<Vec<f32>>(),
        ];
        let every = (times.len() / 7).max(1);
        for (i, &t) in times.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let eps = self.guided(&model, x.clone(), t as i64, &y, how.guidance, &device)?;
            let ab = self.alpha_bar[t];
            let prev = times.get(i + 1).map_or(1.0, |&p| self.alpha_bar[p]);
            if self.ddim {
                let x0 = (x.clone() - eps.mul_scalar((1.0 - ab).sqrt()))
                    .div_scalar(ab.sqrt())
                    .clamp(-1.0, 1.0);
                // The noise that the clipped x̂₀ implies, so the step stays on the line from x̂₀
                // through x_t (with the raw ε, clipping shifts every pixel: grey backgrounds).
                let eps = (x - x0.clone().mul_scalar(ab.sqrt())).div_scalar((1.0 - ab).max(1e-12).sqrt());
                x = x0.mul_scalar(prev.sqrt()) + eps.mul_scalar((1.0 - prev).sqrt());
            } else {
                let alpha = ab / prev.max(1e-12);
                let beta = 1.0 - alpha;
                // The posterior mean of q(x_{t-1} | x_t, x̂₀) with x̂₀ clipped to the data range
                // (Ho et al.'s sampler), equal to the ε form when nothing is clipped.
                let x0 = (x.clone() - eps.mul_scalar((1.0 - ab).sqrt()))
                    .div_scalar(ab.sqrt())
                    .clamp(-1.0, 1.0);
                let mean = x0.mul_scalar(prev.sqrt() * beta / (1.0 - ab).max(1e-12))
                    + x.mul_scalar(alpha.sqrt() * (1.0 - prev) / (1.0 - ab).max(1e-12));
                x = if i + 1 < times.len() {
                    let var = beta * (1.0 - prev) / (1.0 - ab);
                    let z = match noise(&[n, c, h, w], &device) {
                        Value::F4(z) => z,
                        _ => return Ok(None),
                    };
                    mean + z.mul_scalar(var.sqrt())
                } else {
                    mean
                };
            }
            if (i + 1) % every == 0 || i + 1 == times.len() {
                strip.push(
                    x.clone()
                        .slice([0..1, 0..c, 0..h, 0..w])
                        .into_data()
                        .iter::<f32>()
                        .collect(),
                );
            }
        }
        let all: Vec<f32> = x.into_data().iter::<f32>().collect();
        debug_assert_eq!(all.len(), n * per);
        Ok(Some((all, strip)))
    }
}

/// How to sample: the noise seed, the guidance scale and the DDIM steps.
struct Sampling {
    seed: u64,
    guidance: f64,
    steps: usize,
}

impl Recipe for Diffusion {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, seed) = self.t.next(&device);
        let loss = self.loss(self.t.net.model()?, &idx, &mut Rng::new(seed), &device)?;
        let pending = self.t.descend(loss, cx, Pending::new())?;
        self.ema.update(self.t.net.inference()?);
        Ok(pending)
    }

    fn evaluate(&mut self, _cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        device.seed(self.t.settings.seed ^ 0xE7A1);
        let mut rng = Rng::new(self.t.settings.seed ^ 0xE7A1);
        let val = mean_loss(self.ex.split.val.chunks(250).take(2), |chunk| {
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
        let classes = self.ex.data.classes.len().max(1) as i64;
        let y: Vec<i64> = (0..GRID as i64).map(|i| (i % 8) % classes).collect();
        let Some((all, strip)) = self.sample(GRID, Some(y), cancel)? else {
            return Ok(Vec::new());
        };
        let chw = self.chw;
        let flat: Vec<f32> = strip.concat();
        let strip_pic: Picture = image_grid(&flat, strip.len(), chw, strip.len(), (-1.0, 1.0));
        Ok(vec![
            (
                "samples".to_owned(),
                View::Image(image_grid(&all, GRID, chw, 8, (-1.0, 1.0))),
            ),
            ("trajectory".to_owned(), View::Image(strip_pic)),
        ])
    }

    fn generate(&mut self, request: &GenerateRequest, cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        let n = request.count.clamp(1, 256);
        let side = (n as f64).sqrt().ceil() as usize;
        let classes = self.ex.data.classes.len().max(1) as i64;
        let y: Vec<i64> = match request.class {
            Some(c) => vec![c.clamp(0, classes - 1); n],
            None => (0..n).map(|i| (i % side) as i64 % classes).collect(),
        };
        let how = Sampling {
            seed: request.seed,
            guidance: request.guidance.unwrap_or(self.guidance).max(0.0),
            steps: request.steps.unwrap_or(self.sample_steps).max(1),
        };
        let Some((all, _)) = self.sample_with(n, Some(y), &how, cancel)? else {
            return Ok(None);
        };
        Ok(Some(View::Image(image_grid(&all, n, self.chw, side, (-1.0, 1.0)))))
    }
}
