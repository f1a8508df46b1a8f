//! The `flow` recipe: maximum likelihood through a chain of invertible layers (RealNVP, Glow).
//! The negative log-likelihood of x is ½‖z‖² + (D/2)·log 2π − Σ log|det J| with z the chain's
//! output; samples are Gaussian noise run backwards through the chain. Images are dequantised
//! (x = (k + u)/256 − ½ for pixel level k and u ~ U(0, 1)) and scored in bits per dimension.

use super::common::{Examples, Trainee, image_grid, mean_loss, noise};
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::flow::SPEC;
use crate::data::Features;
use crate::engine::RunError;
use crate::engine::invert::Chain;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Scalars, Scatter, View};
use burn::tensor::{Device, Distribution, Tensor};
use std::sync::atomic::AtomicBool;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Flow::new(init)?)),
};

const ROLE: &str = "latent";
/// Examples the ActNorm layers are initialised from.
const INIT_BATCH: usize = 256;

/// Examples `idx` as the flow sees them: points as they are; images (when `discrete`)
/// dequantised and centred.
fn flow_data(ex: &Examples, discrete: bool, idx: &[usize], device: &Device) -> Value {
    let x = ex.features(idx, false, device);
    if !discrete {
        return x;
    }
    match x {
        Value::F4(t) => {
            let u = Tensor::<4>::random(t.dims(), Distribution::Uniform(0.0, 1.0), device);
            Value::F4(t.mul_scalar(255.0 / 256.0) + u.div_scalar(256.0) - 0.5)
        }
        other => other,
    }
}

/// A flow run.
pub struct Flow {
    t: Trainee,
    ex: Examples,
    chain: Chain,
    /// Values per example (D).
    dim: usize,
    /// Images with 256 levels, dequantised and scored in bits per dimension.
    discrete: bool,
    temperature: f64,
    samples: usize,
    device: Device,
}

fn bad(m: String) -> RunError {
    RunError::BadInput(m)
}

impl Flow {
    /// Compiles the project, checks its chain, loads its data and sets ActNorm from a batch.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let ex = Examples::load(project, init.data_dir, init.seed)?;
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let mut model = compile(project, &ad).map_err(|e| bad(e.to_string()))?;
        let chain = model.flow_chain(ROLE).map_err(|e| bad(e.to_string()))?;
        let input = model
            .plan
            .inputs
            .iter()
            .find(|i| i.step == chain.input)
            .ok_or_else(|| bad("the flow's chain does not start at an Input".into()))?;
        if input.dtype != DType::Float {
            return Err(bad(format!(
                "input '{}' must be float: a flow transforms real values",
                model.plan.steps[chain.input].title
            )));
        }
        let node = project
            .graph
            .node(model.plan.steps[chain.input].id)
            .ok_or_else(|| bad("the flow's Input is missing".into()))?;
        ex.check_input(project, node)?;
        let discrete = ex.data.shape.len() == 3
            && matches!(ex.data.features, Features::U8(_))
            && setting(project, "dequantize").and_then(|v| v.as_bool()).unwrap_or(true);
        let dim = ex.example_dims().iter().product();
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        // Data-dependent start: every ActNorm sees a batch with zero mean and unit variance.
        let first: Vec<usize> = ex.split.train.iter().copied().take(INIT_BATCH).collect();
        model
            .flow_init(&chain, flow_data(&ex, discrete, &first, &ad))
            .map_err(|e| bad(e.to_string()))?;
        Ok(Flow {
            t: Trainee::new("flow", model, ex.split.train.clone(), &settings),
            ex,
            chain,
            dim,
            discrete,
            temperature: setting(project, "temperature")
                .and_then(|v| v.as_float())
                .unwrap_or(0.7),
            samples: setting(project, "samples")
                .and_then(|v| v.as_int())
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(500)
                .max(1),
            device: ad,
        })
    }

    fn data(&self, idx: &[usize], device: &Device) -> Value {
        flow_data(&self.ex, self.discrete, idx, device)
    }

    /// Negative log-likelihood per example (nats) of examples `idx` under `model`.
    fn nll(&self, model: &GraphModel, idx: &[usize], device: &Device) -> Result<Tensor<1>, RunError> {
        let x = self.data(idx, device);
        let (z, logdet) = model
            .flow_forward(&self.chain, x)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let b = idx.len();
        let sq: Tensor<1> = match z {
            Value::F2(t) => t.powi_scalar(2).sum_dim(1).reshape([b]),
            Value::F4(t) => t.powi_scalar(2).flatten::<2>(1, 3).sum_dim(1).reshape([b]),
            other => {
                return Err(bad(format!(
                    "the 'latent' output must be [B, D] or [B, C, H, W], not {}",
                    other.describe()
                )));
            }
        };
        let log_2pi = (2.0 * std::f64::consts::PI).ln();
        Ok(sq.mul_scalar(0.5).add_scalar(0.5 * self.dim as f64 * log_2pi) - logdet)
    }

    /// Bits per dimension of a mean NLL per example (nats) over dequantised 8-bit data.
    fn bits_per_dim(&self, nll: f64) -> f64 {
        nll / (self.dim as f64 * std::f64::consts::LN_2) + 8.0
    }

    /// `n` draws from the inference copy: noise from `seed` at the temperature, run backwards.
    fn draw(&self, n: usize, seed: u64) -> Result<Vec<f32>, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        device.seed(seed);
        let mut dims = vec![n];
        dims.extend(self.latent_dims(&model)?);
        let z =
            crate::map_float!(noise(&dims, &device), t => t.mul_scalar(self.temperature)).map_err(RunError::Failed)?;
        let x = model
            .flow_inverse(&self.chain, z)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        x.to_f32s()
            .ok_or_else(|| RunError::Failed("the flow's inverse gave integers".into()))
    }

    /// Dims of one example's latent (the checked type of the 'latent' output).
    fn latent_dims(&self, model: &GraphModel) -> Result<Vec<usize>, RunError> {
        let last = self.chain.steps.last().copied().unwrap_or(self.chain.input);
        let t = model.plan.steps[last].params.out_types.first().cloned().flatten();
        t.and_then(|t| t.dims[1..].iter().map(|d| d.known().map(|k| k as usize)).collect())
            .ok_or_else(|| RunError::Failed("the latent's size is not known".into()))
    }

    /// The samples view: a scatter over the data (points) or a grid (images).
    fn samples_view(&self, n: usize, seed: u64) -> Result<View, RunError> {
        let drawn = self.draw(n, seed)?;
        if self.ex.data.shape.len() == 3 {
            let dims = self.ex.example_dims();
            let (lo, hi) = if self.discrete { (-0.5, 0.5) } else { (0.0, 1.0) };
            let cols = (n as f64).sqrt().ceil() as usize;
            return Ok(View::Image(image_grid(
                &drawn,
                n,
                [dims[0], dims[1], dims[2]],
                cols,
                (lo, hi),
            )));
        }
        Ok(View::Scatter(self.over_data(&drawn)))
    }

    /// Drawn points (orange) over as many training points (blue), first two dimensions.
    fn over_data(&self, drawn: &[f32]) -> Scatter {
        super::common::samples_over_data(&self.ex, self.dim, drawn)
    }

    /// Validation points mapped to z (first two dims), coloured by class, over N(0, I) draws.
    fn latent_view(&self) -> Result<Option<View>, RunError> {
        if self.ex.data.shape.len() != 1 {
            return Ok(None);
        }
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let idx: Vec<usize> = self.ex.split.val.iter().copied().take(self.samples).collect();
        let (z, _) = model
            .flow_forward(&self.chain, self.data(&idx, &device))
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let z = z.to_f32s().unwrap_or_default();
        let d = self.dim.max(1);
        let labels = self.ex.data.batch_labels(&idx);
        let classes = labels.iter().copied().max().map_or(1, |m| m as usize + 1);
        let mut points: Vec<[f32; 2]> = z.chunks(d).map(|p| [p[0], p.get(1).copied().unwrap_or(0.0)]).collect();
        let mut group_of: Vec<u16> = labels.iter().map(|&l| l as u16).collect();
        group_of.resize(points.len(), 0);
        let mut groups: Vec<String> = (0..classes).map(|c| format!("class {c} in z")).collect();
        if classes == 1 {
            groups = vec!["data in z".into()];
        }
        // A reference: as many draws from the prior, as a ring of 2σ.
        for k in 0..64 {
            let a = k as f32 / 64.0 * std::f32::consts::TAU;
            points.push([2.0 * a.cos(), 2.0 * a.sin()]);
            group_of.push(classes as u16);
        }
        groups.push("2σ of N(0, I)".into());
        Ok(Some(View::Scatter(Scatter {
            points,
            group_of,
            groups,
        })))
    }
}

impl Recipe for Flow {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, _) = self.t.next(&device);
        let nll = self.nll(self.t.net.model()?, &idx, &device)?;
        let loss = nll.mean().div_scalar(self.dim as f64);
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, _cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        device.seed(self.t.settings.seed ^ 0xF10E);
        let val = mean_loss(self.ex.split.val.chunks(250), |chunk| {
            Ok(self.nll(&model, chunk, &device)?.mean())
        })?;
        let mut scalars = Scalars::new();
        scalars.insert("val_nll".into(), val);
        if self.discrete {
            scalars.insert("val_bpd".into(), self.bits_per_dim(val));
        }
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let n = if self.ex.data.shape.len() == 3 {
            64
        } else {
            self.samples
        };
        let mut out = vec![(
            "samples".to_owned(),
            self.samples_view(n, self.t.settings.seed ^ 0x5A3F)?,
        )];
        if let Some(v) = self.latent_view()? {
            out.push(("latent".to_owned(), v));
        }
        Ok(out)
    }

    fn generate(&mut self, request: &GenerateRequest, _cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        let n = request.count.clamp(1, 10_000);
        Ok(Some(self.samples_view(n, request.seed)?))
    }
}

/// What the flow does with `x`: its latent, log-determinant and reconstruction, for checks.
pub fn round_trip(model: &GraphModel, x: Value) -> Result<(Value, Tensor<1>, Value), RunError> {
    let chain = model.flow_chain(ROLE).map_err(|e| bad(e.to_string()))?;
    let (z, logdet) = model
        .flow_forward(&chain, x)
        .map_err(|e| RunError::Failed(e.to_string()))?;
    let back = model
        .flow_inverse(&chain, z.clone())
        .map_err(|e| RunError::Failed(e.to_string()))?;
    Ok((z, logdet, back))
}
