//! The `graph_loss` recipe: minimise the sum of the graph's own `loss` outputs. Inputs are fed
//! by their `source`: `dataset` (float inputs get the features, integer inputs the labels) or
//! `noise` (a standard normal sample of the input's shape). Autoencoders, VAEs (reconstruction +
//! KL loss nodes) and classifiers with an explicit loss node are graphs, not code.

use super::common::{Examples, Trainee, noise};
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::graph_loss::SPEC;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, InputSlot, compile};
use crate::engine::value::Value;
use crate::telemetry::{Picture, Scalars, Scatter, View};
use burn::tensor::{Device, Tensor};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(GraphLoss::new(init)?)),
};

const LOSS: &str = "loss";
const RECONSTRUCTION: &str = "reconstruction";
const LATENT: &str = "mu";
/// Validation examples shown in the latent scatter.
const LATENT_POINTS: usize = 500;
/// Decoded points per interpolation row, and rows (pairs of examples).
const INTERPOLATION_STEPS: usize = 10;
const INTERPOLATION_PAIRS: usize = 4;
const EVAL_BATCH: usize = 250;

/// A run of the graph-loss recipe.
pub struct GraphLoss {
    t: Trainee,
    ex: Examples,
    inputs: Vec<InputSlot>,
    normalize: bool,
    device: Device,
}

impl GraphLoss {
    /// Compiles the project and loads its data.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let ex = Examples::load(project, init.data_dir, init.seed)?;
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        if !model.plan.has_role(LOSS) {
            return Err(RunError::BadInput(
                "the graph-loss recipe needs at least one Output with role 'loss' — wire a loss node (MSE, cross-entropy, KL divergence, ...) into an Output".into(),
            ));
        }
        let inputs: Vec<InputSlot> = model.plan.inputs.clone();
        for input in &inputs {
            let node = model.plan.steps[input.step].id;
            let Some(doc_node) = project.graph.node(node) else {
                continue;
            };
            match (input.source.as_str(), input.dtype) {
                ("noise", DType::Float) => {}
                ("noise", DType::Int) => {
                    return Err(RunError::BadInput(format!(
                        "input '{}' takes noise but is an integer input — set its dtype to float",
                        model.plan.steps[input.step].title
                    )));
                }
                ("dataset", DType::Float) => ex.check_input(project, doc_node)?,
                ("dataset", DType::Int) => {}
                (other, _) => {
                    return Err(RunError::BadInput(format!(
                        "input '{}' takes values from '{other}', which the graph-loss recipe cannot provide — use 'dataset' or 'noise'",
                        model.plan.steps[input.step].title
                    )));
                }
            }
        }
        let normalize = setting(project, "normalize_inputs")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        Ok(GraphLoss {
            t: Trainee::new("model", model, ex.split.train.clone(), &settings),
            ex,
            inputs,
            normalize,
            device: ad,
        })
    }

    /// Values for every input, for examples `idx`.
    fn feed(&self, idx: &[usize], device: &Device) -> HashMap<String, Value> {
        let mut feed = HashMap::new();
        for input in &self.inputs {
            let v = match (input.source.as_str(), input.dtype) {
                ("noise", _) => {
                    let mut dims: Vec<usize> = input.dims.iter().map(|d| d.unwrap_or(1)).collect();
                    if let Some(b) = dims.first_mut() {
                        *b = idx.len();
                    }
                    noise(&dims, device)
                }
                (_, DType::Int) => Value::I1(self.ex.labels(idx, device)),
                (_, DType::Float) => self.ex.features(idx, self.normalize, device),
            };
            feed.insert(input.field.clone(), v);
        }
        feed
    }

    /// The summed loss of a forward pass over examples `idx`, and each loss output's part
    /// (named after the node wired into it) when there are several.
    fn total_loss(
        &self,
        model: &GraphModel,
        idx: &[usize],
        device: &Device,
        cx: Option<&mut StepCx>,
    ) -> Result<(Tensor<1>, Vec<(String, Tensor<1>)>), RunError> {
        let feed = self.feed(idx, device);
        let (keep_all, tap) = cx.as_ref().map_or((false, None), |c| (c.keep_all(), c.watch));
        let out = model
            .run(Some(&[LOSS]), &feed, keep_all, tap)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let mut total: Option<Tensor<1>> = None;
        let mut parts = Vec::new();
        for (step, role, v) in &out.every {
            if role != LOSS {
                continue;
            }
            let t = match v.clone() {
                Value::F1(t) => t.sum(),
                Value::F2(t) => t.mean().reshape([1]),
                Value::F3(t) => t.mean().reshape([1]),
                Value::F4(t) => t.mean().reshape([1]),
                other => {
                    return Err(RunError::BadInput(format!(
                        "an Output with role 'loss' gets {}; losses must be float",
                        other.describe()
                    )));
                }
            };
            parts.push((model.plan.output_source_title(*step), t.clone()));
            total = Some(match total {
                Some(a) => a + t,
                None => t,
            });
        }
        if let Some(cx) = cx {
            cx.observe(model, &out);
        }
        if parts.len() < 2 {
            parts.clear();
        }
        let total = total.ok_or_else(|| RunError::BadInput("no Output with role 'loss' ran".into()))?;
        Ok((total, parts))
    }

    /// Validation images (top row) over the graph's reconstructions (bottom row).
    fn reconstructions(&self, n: usize) -> Result<Option<Picture>, RunError> {
        let model = self.t.net.inference()?;
        if !model.plan.has_role(RECONSTRUCTION) || self.ex.data.shape.len() != 3 {
            return Ok(None);
        }
        let device = self.device.clone().inner();
        let idx: Vec<usize> = self.ex.split.val.iter().copied().take(n).collect();
        let feed = self.feed(&idx, &device);
        let out = model
            .run(Some(&[RECONSTRUCTION]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let Some(rec) = out.outputs.get(RECONSTRUCTION) else {
            return Ok(None);
        };
        let (raw, dims) = self.ex.data.batch_features(&idx, self.ex.pad);
        let rec: Vec<f32> = match rec.clone() {
            Value::F2(t) => t.into_data().iter::<f32>().collect(),
            Value::F4(t) => t.into_data().iter::<f32>().collect(),
            _ => return Ok(None),
        };
        let (c, h, w) = (dims[1], dims[2], dims[3]);
        let per = c * h * w;
        if rec.len() != raw.len() {
            return Ok(None);
        }
        Ok(Some(image_rows(&[&raw, &rec], idx.len(), per, c, h, w)))
    }
}

impl GraphLoss {
    /// Validation examples' codes (the first two dims of the 'mu' output), grouped by class.
    fn latent(&self) -> Result<Option<Scatter>, RunError> {
        let model = self.t.net.inference()?;
        if !model.plan.has_role(LATENT) {
            return Ok(None);
        }
        let device = self.device.clone().inner();
        let idx: Vec<usize> = self.ex.split.val.iter().copied().take(LATENT_POINTS).collect();
        let feed = self.feed(&idx, &device);
        let out = model
            .run(Some(&[LATENT]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let Some(Value::F2(codes)) = out.outputs.get(LATENT).cloned() else {
            return Ok(None);
        };
        let [n, d] = codes.dims();
        if d < 2 || n != idx.len() {
            return Ok(None);
        }
        let v: Vec<f32> = codes.into_data().iter::<f32>().collect();
        let labels = self.ex.data.batch_labels(&idx);
        Ok(Some(Scatter {
            points: (0..n).map(|i| [v[i * d], v[i * d + 1]]).collect(),
            group_of: labels.iter().map(|&l| u16::try_from(l).unwrap_or(0)).collect(),
            groups: self.ex.data.classes.clone(),
        }))
    }
}

impl GraphLoss {
    /// Rows of decoded codes on straight lines between the codes of two validation examples of
    /// different classes, with the originals at both ends. The code replaces the output of the
    /// Reparameterize node fed by 'mu' (no sampling noise), so this needs a VAE-shaped graph.
    fn interpolation(&self) -> Result<Option<Picture>, RunError> {
        let model = self.t.net.inference()?;
        let plan = &model.plan;
        if !plan.has_role(RECONSTRUCTION) || self.ex.data.shape.len() != 3 {
            return Ok(None);
        }
        let Some(z_step) = code_step(&model) else {
            return Ok(None);
        };
        // Pairs of different classes from the validation split.
        let val = &self.ex.split.val;
        let labels = self.ex.data.batch_labels(val);
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for (i, &a) in labels.iter().enumerate() {
            if pairs.len() == INTERPOLATION_PAIRS {
                break;
            }
            let used = |k: usize| pairs.iter().any(|&(p, q)| p == k || q == k);
            if used(i) {
                continue;
            }
            if let Some(j) = (i + 1..labels.len()).find(|&j| labels[j] != a && !used(j)) {
                pairs.push((i, j));
            }
        }
        if pairs.is_empty() {
            return Ok(None);
        }
        let device = self.device.clone().inner();
        let ends: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [val[a], val[b]]).collect();
        let out = model
            .run(Some(&[LATENT]), &self.feed(&ends, &device), false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let Some(Value::F2(codes)) = out.outputs.get(LATENT).cloned() else {
            return Ok(None);
        };
        let [_, d] = codes.dims();
        let c: Vec<f32> = codes.into_data().iter::<f32>().collect();
        let k = INTERPOLATION_STEPS;
        let mut z = Vec::with_capacity(pairs.len() * k * d);
        for p in 0..pairs.len() {
            let (a, b) = (&c[2 * p * d..(2 * p + 1) * d], &c[(2 * p + 1) * d..(2 * p + 2) * d]);
            for s in 0..k {
                let w = s as f32 / (k - 1) as f32;
                z.extend(a.iter().zip(b).map(|(x, y)| x + (y - x) * w));
            }
        }
        let rows = pairs.len() * k;
        let z = Tensor::<2>::from_data(burn::tensor::TensorData::new(z, [rows, d]), &device);
        // Inputs the decoder reads itself (if any) get the repeated end examples.
        let idx: Vec<usize> = pairs
            .iter()
            .flat_map(|&(a, _)| std::iter::repeat_n(val[a], k))
            .collect();
        let Some(rec) = self.decode(&model, z_step, Value::F2(z), &idx)? else {
            return Ok(None);
        };
        let (raw, dims) = self.ex.data.batch_features(&ends, self.ex.pad);
        let (ch, h, w) = (dims[1], dims[2], dims[3]);
        let per = ch * h * w;
        if rec.len() != rows * per {
            return Ok(None);
        }
        // Each row: original a, the k decoded points, original b.
        let mut strip = Vec::with_capacity(pairs.len() * (k + 2) * per);
        for p in 0..pairs.len() {
            strip.extend_from_slice(&raw[2 * p * per..(2 * p + 1) * per]);
            strip.extend_from_slice(&rec[p * k * per..(p + 1) * k * per]);
            strip.extend_from_slice(&raw[(2 * p + 1) * per..(2 * p + 2) * per]);
        }
        let rows: Vec<&[f32]> = strip.chunks((k + 2) * per).collect();
        Ok(Some(image_rows(&rows, k + 2, per, ch, h, w)))
    }
}

/// The Reparameterize step fed by the 'mu' output's source: where a code enters the decoder.
fn code_step(model: &GraphModel) -> Option<usize> {
    let mu_src = model.plan.source_of(LATENT)?;
    model
        .plan
        .steps
        .iter()
        .position(|s| s.kind == "reparameterize" && s.inputs.first().copied().flatten() == Some(mu_src))
}

impl GraphLoss {
    /// The 'reconstruction' output for codes `z` put in place of the code step's output (what
    /// only fed the code does not run); `idx` feeds any input the decoder reads itself.
    fn decode(&self, model: &GraphModel, z_step: usize, z: Value, idx: &[usize]) -> Result<Option<Vec<f32>>, RunError> {
        let device = self.device.clone().inner();
        let overrides = HashMap::from([((z_step, 0), z)]);
        let out = model
            .run_with(
                Some(&[RECONSTRUCTION]),
                &self.feed(idx, &device),
                &overrides,
                false,
                None,
            )
            .map_err(|e| RunError::Failed(e.to_string()))?;
        Ok(out.outputs.get(RECONSTRUCTION).and_then(Value::to_f32s))
    }

    /// `n` codes drawn from the prior N(0, I) (noise of `seed`) and decoded through the
    /// 'reconstruction' output, as a square grid (VAE-shaped graphs).
    fn decode_prior(&self, n: usize, seed: u64) -> Result<Option<Picture>, RunError> {
        let model = self.t.net.inference()?;
        if !model.plan.has_role(RECONSTRUCTION) || self.ex.data.shape.len() != 3 {
            return Ok(None);
        }
        let Some(z_step) = code_step(&model) else {
            return Ok(None);
        };
        let device = self.device.clone().inner();
        // The code size, from one validation example's code.
        let one: Vec<usize> = self.ex.split.val.iter().copied().take(1).collect();
        let out = model
            .run(Some(&[LATENT]), &self.feed(&one, &device), false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let Some(Value::F2(code)) = out.outputs.get(LATENT).cloned() else {
            return Ok(None);
        };
        let d = code.dims()[1];
        device.seed(seed);
        let z = noise(&[n, d], &device);
        let idx: Vec<usize> = std::iter::repeat_n(one[0], n).collect();
        let Some(px) = self.decode(&model, z_step, z, &idx)? else {
            return Ok(None);
        };
        let (_, dims) = self.ex.data.batch_features(&one, self.ex.pad);
        let chw = [dims[1], dims[2], dims[3]];
        if px.len() != n * chw.iter().product::<usize>() {
            return Ok(None);
        }
        let side = (n as f64).sqrt().ceil() as usize;
        Ok(Some(super::common::image_grid(&px, n, chw, side, (0.0, 1.0))))
    }
}

/// Rows of images side by side (one row per source), 2-pixel gaps, values clamped to [0, 1].
pub fn image_rows(rows: &[&[f32]], n: usize, per: usize, c: usize, h: usize, w: usize) -> Picture {
    let gap = 2;
    let (width, height) = (n * (w + gap) + gap, rows.len() * (h + gap) + gap);
    let mut rgb = vec![32u8; width * height * 3];
    for (r, src) in rows.iter().enumerate() {
        for k in 0..n {
            for y in 0..h {
                for x in 0..w {
                    let px = |ch: usize| (src[k * per + ch * h * w + y * w + x].clamp(0.0, 1.0) * 255.0) as u8;
                    let colour = if c >= 3 { [px(0), px(1), px(2)] } else { [px(0); 3] };
                    let (ox, oy) = (gap + k * (w + gap) + x, gap + r * (h + gap) + y);
                    let o = (oy * width + ox) * 3;
                    rgb[o..o + 3].copy_from_slice(&colour);
                }
            }
        }
    }
    Picture { width, height, rgb }
}

impl Recipe for GraphLoss {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, _) = self.t.next(&device);
        let (loss, parts) = self.total_loss(self.t.net.model()?, &idx, &device, Some(cx))?;
        let mut parts_read = Pending::new();
        for (name, part) in parts {
            parts_read = parts_read.with_tensor(&format!("loss: {name}"), part);
        }
        self.t.descend(loss, cx, parts_read)
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let (mut sum, mut seen) = (0f64, 0usize);
        let mut part_sums: Vec<(String, f64)> = Vec::new();
        for chunk in self.ex.split.val.chunks(EVAL_BATCH) {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let (loss, parts) = self.total_loss(&model, chunk, &device, None)?;
            let w = chunk.len() as f64;
            sum += f64::from(loss.into_scalar::<f32>()) * w;
            for (k, (name, t)) in parts.into_iter().enumerate() {
                let v = f64::from(t.into_scalar::<f32>()) * w;
                match part_sums.get_mut(k) {
                    Some(p) => p.1 += v,
                    None => part_sums.push((name, v)),
                }
            }
            seen += chunk.len();
        }
        let n = seen.max(1) as f64;
        let mut scalars = Scalars::new();
        scalars.insert("val_loss".into(), sum / n);
        for (name, v) in part_sums {
            scalars.insert(format!("val_loss: {name}"), v / n);
        }
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let mut views = Vec::new();
        if let Some(p) = self.reconstructions(8)? {
            views.push(("samples".to_owned(), View::Image(p)));
        }
        if let Some(s) = self.latent()? {
            views.push(("latent".to_owned(), View::Scatter(s)));
        }
        if let Some(p) = self.interpolation()? {
            views.push(("interpolation".to_owned(), View::Image(p)));
        }
        Ok(views)
    }

    fn generate(&mut self, request: &GenerateRequest, _cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        Ok(self
            .decode_prior(request.count.clamp(1, 256), request.seed)?
            .map(View::Image))
    }
}
