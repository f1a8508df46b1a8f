//! The supervised recipe: classification on a labelled dataset, one optimizer, cross-entropy.

use super::model::{GraphModel, compile};
use super::value::Value;
use super::{EvalMetrics, RunError, StepMetrics};
use crate::catalog::DType;
use crate::data::{self, Dataset, Split, Target};
use crate::doc::{Optimizer, ParamValue, Project, Schedule, TrainingSettings};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;

/// Fraction of a dataset held out for validation when it has no official test split.
pub const VAL_FRACTION: f64 = 0.2;
/// Largest validation batch.
const EVAL_BATCH: usize = 500;

/// A supervised training run in progress.
pub struct Supervised {
    pub(super) model: Option<GraphModel>,
    pub(super) optim: ModuleOptimizer,
    pub(super) data: Dataset,
    pub(super) split: Split,
    pub(super) pad: usize,
    pub(super) stats: Option<(Vec<f32>, Vec<f32>)>,
    pub(super) fields: Vec<String>,
    pub(super) settings: TrainingSettings,
    pub(super) order: Vec<usize>,
    pub(super) cursor: usize,
    pub(super) epoch: u64,
    pub(super) step: u64,
    pub(super) lr_scale: f64,
    pub(super) device: Device,
    /// Top-level node whose output is kept for display.
    pub(super) watch: Option<crate::doc::NodeId>,
    /// Its latest output (a cheap handle; read back only when a tile is made).
    pub(super) watched: Option<Value>,
    /// Measure every node's activity on the next step.
    pub(super) activity_due: bool,
    /// What the last measuring step found.
    pub(super) activity: Vec<(crate::doc::NodeId, f32)>,
}

fn option_int(p: &Project, name: &str) -> Option<i64> {
    p.dataset.options.get(name).and_then(ParamValue::as_int)
}

impl Supervised {
    /// Compiles the project and prepares its data on `device` (seeded before any parameter exists).
    pub fn new(project: &Project, device: &Device, seed: u64) -> Result<Self, RunError> {
        Self::with_data_dir(project, device, seed, None)
    }

    /// Like [`Supervised::new`]; relative data paths in the dataset options resolve against
    /// `data_dir` (the project file's folder).
    pub fn with_data_dir(
        project: &Project,
        device: &Device,
        seed: u64,
        data_dir: Option<&std::path::Path>,
    ) -> Result<Self, RunError> {
        let dataset_id = project.dataset.id.as_str();
        if dataset_id.is_empty() {
            return Err(RunError::BadInput(
                "the project has no dataset — choose one of: ".to_owned() + &data::builtin_ids().join(", "),
            ));
        }
        let data = data::load(dataset_id, &project.dataset.options, data_dir).map_err(RunError::BadInput)?;
        let ad = device.clone().autodiff();
        ad.seed(seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let has_prediction = model.plan.outputs.iter().any(|(_, r)| r == "prediction");
        if !has_prediction {
            return Err(RunError::BadInput(
                "the supervised recipe needs an Output with role 'prediction'".into(),
            ));
        }
        let pad = usize::try_from(option_int(project, "pad_to").unwrap_or(0)).unwrap_or(0);
        let pad = if pad > 0 && data.shape.len() == 3 {
            pad.saturating_sub(data.shape[1]) / 2
        } else {
            0
        };
        // Every float input is fed the features; check shapes now, with a fix in the message.
        let mut fields = Vec::new();
        for (step, field, dtype) in &model.plan.inputs {
            if *dtype != DType::Float {
                return Err(RunError::BadInput(format!(
                    "input '{}' is an integer input; the supervised recipe feeds images or feature vectors",
                    model.plan.steps[*step].title
                )));
            }
            fields.push(field.clone());
        }
        let mut want: Vec<usize> = data.shape.clone();
        if pad > 0 {
            want[1] += 2 * pad;
            want[2] += 2 * pad;
        }
        for node in project.graph.nodes.iter().filter(|n| n.kind == "input") {
            let dims: Vec<String> = node
                .params
                .get("shape")
                .and_then(|v| v.as_list().map(|l| l.iter().map(|d| d.to_string()).collect()))
                .unwrap_or_default();
            let given: Vec<String> = want.iter().map(|d| d.to_string()).collect();
            if dims.len() != given.len() + 1 || dims[1..] != given[..] {
                return Err(RunError::BadInput(format!(
                    "input '{}' expects [{}] but dataset {} gives [B, {}] — set the input's shape to [B, {}]{}",
                    crate::catalog::display_title(project, node),
                    dims.join(", "),
                    data.name,
                    given.join(", "),
                    given.join(", "),
                    if data.shape.len() == 3 {
                        " or the dataset option pad_to"
                    } else {
                        ""
                    }
                )));
            }
        }
        let seed_split = seed;
        let split = data.split(seed_split, VAL_FRACTION);
        if data.len() < 2 {
            return Err(RunError::BadInput(format!(
                "the dataset {} has fewer than two examples",
                data.name
            )));
        }
        let stats = data.feature_stats(&split.train);
        let mut settings = project.training.clone();
        settings.seed = seed;
        let optim = optimizer(&settings);
        let mut order = split.train.clone();
        data::shuffle(&mut order, seed);
        Ok(Supervised {
            model: Some(model),
            optim,
            data,
            split,
            pad,
            stats,
            fields,
            settings,
            order,
            cursor: 0,
            epoch: 0,
            step: 0,
            lr_scale: 1.0,
            device: ad,
            watch: None,
            watched: None,
            activity_due: false,
            activity: Vec::new(),
        })
    }

    /// Watches a top-level node (`None`: stop watching).
    pub fn set_watch(&mut self, node: Option<crate::doc::NodeId>) {
        self.watch = node;
        self.watched = None;
    }

    /// A tile of the watched node's latest output (reads it back: call every few steps).
    pub fn watch_tile(&self) -> Option<(crate::doc::NodeId, super::watch::Tile)> {
        let node = self.watch?;
        let v = self.watched.as_ref()?;
        super::watch::tile_of(v).map(|t| (node, t))
    }

    /// Asks the next step to measure how active every node is (see [`Supervised::take_activity`]).
    pub fn measure_activity(&mut self) {
        self.activity_due = true;
    }

    /// Mean absolute output per top-level node, from the last measuring step (then cleared).
    pub fn take_activity(&mut self) -> Vec<(crate::doc::NodeId, f32)> {
        std::mem::take(&mut self.activity)
    }

    /// Parameters in the model.
    pub fn param_count(&self) -> usize {
        self.model.as_ref().map_or(0, GraphModel::param_count)
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Multiplies the scheduled learning rate from now on.
    pub fn set_lr_scale(&mut self, scale: f64) {
        self.lr_scale = scale;
    }

    /// The learning rate for step `t` (0-based) of `total`.
    pub fn learning_rate(settings: &TrainingSettings, t: u64, total: u64) -> f64 {
        let base = settings.learning_rate;
        let total = total.max(1) as f64;
        let t = t as f64;
        match settings.schedule {
            Schedule::Constant => base,
            Schedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * t / total).cos()),
            Schedule::WarmupCosine => {
                let w = settings.warmup_steps as f64;
                if t < w {
                    base * (t + 1.0) / w
                } else {
                    let p = (t - w) / (total - w).max(1.0);
                    base * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
                }
            }
        }
    }

    fn next_batch(&mut self) -> Vec<usize> {
        let b = (self.settings.batch_size.max(1) as usize).min(self.order.len().max(1));
        if self.cursor + b > self.order.len() {
            self.epoch += 1;
            data::shuffle(&mut self.order, self.settings.seed.wrapping_add(self.epoch));
            self.cursor = 0;
        }
        let batch = self.order[self.cursor..self.cursor + b].to_vec();
        self.cursor += b;
        batch
    }

    pub(super) fn features(&self, idx: &[usize], device: &Device) -> Value {
        let (mut x, dims) = self.data.batch_features(idx, self.pad);
        if let Some((mean, std)) = &self.stats {
            let per = mean.len();
            for (i, v) in x.iter_mut().enumerate() {
                *v = (*v - mean[i % per]) / std[i % per];
            }
        }
        to_value(x, &dims, device)
    }

    fn labels(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        let y = self.data.batch_labels(idx);
        Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), device)
    }

    fn feed(&self, x: Value) -> HashMap<String, Value> {
        self.fields.iter().map(|f| (f.clone(), x.clone())).collect()
    }

    /// One optimisation step over the next batch.
    pub fn train_step(&mut self, total_steps: u64) -> Result<StepMetrics, RunError> {
        let idx = self.next_batch();
        let device = self.device.clone();
        // A per-step seed makes dropout masks the same whether or not the run was resumed.
        device.seed(self.settings.seed.wrapping_mul(0x9E37_79B9).wrapping_add(self.step));
        let x = self.features(&idx, &device);
        let feed = self.feed(x);
        let model = self
            .model
            .take()
            .ok_or_else(|| RunError::Failed("the model was lost after an error".into()))?;
        let out = match model.forward_tapped(&feed, self.activity_due, self.watch) {
            Ok(o) => o,
            Err(e) => {
                self.model = Some(model);
                return Err(RunError::Failed(e.to_string()));
            }
        };
        let pred = match out.outputs.get("prediction").cloned() {
            Some(p) => p,
            None => {
                self.model = Some(model);
                return Err(RunError::BadInput(
                    "the graph has no Output with role 'prediction'".into(),
                ));
            }
        };
        let obj = match self.objective(pred, &idx, &device) {
            Ok(o) => o,
            Err(e) => {
                self.model = Some(model);
                return Err(e);
            }
        };
        let loss = obj.loss;
        let loss_value = loss.clone().into_scalar::<f32>();
        let accuracy = obj
            .predicted
            .map(|(pred, truth)| pred.equal(truth).int().sum().into_scalar::<i64>() as f64 / obj.count as f64);
        if !loss_value.is_finite() {
            let culprit = model.first_non_finite(&feed);
            self.model = Some(model);
            return Err(RunError::NonFinite {
                step: self.step + 1,
                node: culprit.map(|(_, t)| t),
            });
        }
        self.watched = out.tapped;
        if let Some(all) = &out.all {
            self.activity = model.activity(all);
            self.activity_due = false;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr = Self::learning_rate(&self.settings, self.step, total_steps) * self.lr_scale;
        self.model = Some(self.optim.step(lr, model, grads));
        self.step += 1;
        Ok(StepMetrics {
            step: self.step,
            loss: f64::from(loss_value),
            accuracy,
            lr,
        })
    }

    /// The inference model's prediction for examples `idx`.
    pub(super) fn predict(&self, model: &GraphModel, idx: &[usize], device: &Device) -> Result<Value, RunError> {
        let x = self.features(idx, device);
        let out = model
            .forward(&self.feed(x), false)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        out.outputs
            .get("prediction")
            .cloned()
            .ok_or_else(|| RunError::Failed("the graph has no Output with role 'prediction'".into()))
    }

    /// The loss (and, for classes and masks, predicted vs true classes) of a prediction.
    pub(super) fn objective(&self, pred: Value, idx: &[usize], device: &Device) -> Result<Objective, RunError> {
        let n_classes = self.data.classes.len();
        let bad = RunError::BadInput;
        match &self.data.target {
            Target::Classes => {
                let logits = pred
                    .f2()
                    .map_err(|e| bad(format!("the prediction must be class scores [B, classes]; {e}")))?;
                let classes = logits.dims()[1];
                if classes < n_classes {
                    return Err(bad(format!(
                        "the prediction has {classes} outputs but {} has {n_classes} classes — set the last layer's size to {n_classes}",
                        self.data.name
                    )));
                }
                let y = self.labels(idx, device);
                let loss = CrossEntropyLossConfig::new()
                    .init(device)
                    .forward(logits.clone(), y.clone());
                let pred = logits.argmax(1).reshape([idx.len()]);
                Ok(Objective {
                    loss,
                    predicted: Some((pred, y)),
                    count: idx.len(),
                })
            }
            Target::Values { per, .. } => {
                let p = pred
                    .f2()
                    .map_err(|e| bad(format!("the prediction must be [B, {per}] values; {e}")))?;
                if p.dims()[1] != *per {
                    return Err(bad(format!(
                        "the prediction has {} outputs but the targets have {per} — set the last layer's size to {per}",
                        p.dims()[1]
                    )));
                }
                let y = Tensor::<2>::from_data(TensorData::new(self.data.batch_values(idx), [idx.len(), *per]), device);
                let loss = (p - y).powi_scalar(2).mean();
                Ok(Objective {
                    loss,
                    predicted: None,
                    count: idx.len(),
                })
            }
            Target::Masks(_) => {
                let logits = pred
                    .f4()
                    .map_err(|e| bad(format!("segmentation needs per-pixel scores [B, classes, H, W]; {e}")))?;
                let [b, c, h, w] = logits.dims();
                let (mh, mw) = (self.data.shape[1], self.data.shape[2]);
                if (h, w) != (mh, mw) || c < n_classes {
                    return Err(bad(format!(
                        "the prediction is [B, {c}, {h}, {w}] but the masks need [B, {n_classes}, {mh}, {mw}]"
                    )));
                }
                let n = b * h * w;
                let flat = logits.permute([0, 2, 3, 1]).reshape([n, c]);
                let y = Tensor::<1, Int>::from_data(TensorData::new(self.data.batch_masks(idx), [n]), device);
                let loss = CrossEntropyLossConfig::new()
                    .init(device)
                    .forward(flat.clone(), y.clone());
                let pred = flat.argmax(1).reshape([n]);
                Ok(Objective {
                    loss,
                    predicted: Some((pred, y)),
                    count: n,
                })
            }
        }
    }

    /// The inference copy of the model (no autodiff) and its device.
    pub(super) fn inference(&self) -> Result<(GraphModel, Device), RunError> {
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| RunError::Failed("no model".into()))?
            .valid();
        Ok((model, self.device.clone().inner()))
    }

    /// Validation loss, accuracy (or RMSE) and confusion matrix with the inference copy of the model.
    pub fn evaluate(&self) -> Result<EvalMetrics, RunError> {
        let (model, device) = self.inference()?;
        let n_classes = self.data.classes.len();
        let mut confusion = vec![vec![0u64; n_classes]; n_classes];
        let (mut loss_sum, mut correct, mut counted, mut seen) = (0f64, 0u64, 0usize, 0usize);
        for chunk in self.split.val.chunks(EVAL_BATCH) {
            let pred = self.predict(&model, chunk, &device)?;
            let obj = self.objective(pred, chunk, &device)?;
            loss_sum += f64::from(obj.loss.into_scalar::<f32>()) * chunk.len() as f64;
            if let Some((pred, truth)) = obj.predicted {
                let pred: Vec<i64> = pred.into_data().iter::<i64>().collect();
                let truth: Vec<i64> = truth.into_data().iter::<i64>().collect();
                for (p, t) in pred.iter().zip(&truth) {
                    let (p, t) = (usize::try_from(*p).unwrap_or(0), usize::try_from(*t).unwrap_or(0));
                    if t < n_classes {
                        confusion[t][p.min(n_classes - 1)] += 1;
                    }
                    correct += u64::from(p == t);
                }
                counted += obj.count;
            }
            seen += chunk.len();
        }
        let val_loss = loss_sum / seen.max(1) as f64;
        let regression = matches!(self.data.target, Target::Values { .. });
        Ok(EvalMetrics {
            step: self.step,
            val_loss,
            val_accuracy: (!regression).then(|| correct as f64 / counted.max(1) as f64),
            val_rmse: regression.then(|| val_loss.sqrt()),
            confusion,
            classes: self.data.classes.clone(),
        })
    }
}

/// A batch's loss and, for classification, predicted and true classes.
pub(super) struct Objective {
    pub(super) loss: Tensor<1>,
    pub(super) predicted: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    pub(super) count: usize,
}

/// Builds the optimizer the settings name.
pub fn optimizer(s: &TrainingSettings) -> ModuleOptimizer {
    let clip = s.grad_clip.map(|c| GradientClippingConfig::Norm(c as f32));
    let decay = (s.weight_decay > 0.0).then(|| WeightDecayConfig::new(s.weight_decay as f32));
    match s.optimizer {
        Optimizer::Adam => AdamConfig::new()
            .with_weight_decay(decay)
            .with_grad_clipping(clip)
            .init(),
        Optimizer::AdamW => AdamWConfig::new()
            .with_weight_decay(s.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        Optimizer::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum(
                (s.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(s.momentum).with_dampening(0.0)),
            )
            .with_gradient_clipping(clip)
            .init(),
    }
}

/// A float tensor value of rank 2–4 from row-major data.
pub fn to_value(x: Vec<f32>, dims: &[usize], device: &Device) -> Value {
    match *dims {
        [b, n] => Value::F2(Tensor::from_data(TensorData::new(x, [b, n]), device)),
        [b, t, n] => Value::F3(Tensor::from_data(TensorData::new(x, [b, t, n]), device)),
        [b, c, h, w] => Value::F4(Tensor::from_data(TensorData::new(x, [b, c, h, w]), device)),
        _ => {
            let n = x.len();
            Value::F1(Tensor::from_data(TensorData::new(x, [n]), device))
        }
    }
}
