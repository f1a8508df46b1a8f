//! The supervised recipe: classification, regression or per-pixel segmentation on a labelled
//! dataset; one network, cross-entropy or squared error.

mod samples;

use super::common::{Examples, Trainee};
use super::{Evaluation, Pending, Recipe, RecipeEngine, StepCx};
use crate::catalog::DType;
use crate::data::Target;
use crate::doc::Project;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Matrix, Scalars, View};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: crate::catalog::recipes::supervised::SPEC.id,
    start: |init| {
        let s = Supervised::with_data_dir(init.project, init.device, init.seed, init.data_dir)?;
        Ok(Box::new(s))
    },
};

/// Metrics of one training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps done so far (1 after the first).
    pub step: u64,
    /// Training loss of this batch.
    pub loss: f64,
    /// Training accuracy of this batch (classifiers).
    pub accuracy: Option<f64>,
    /// Learning rate used.
    pub lr: f64,
}

/// Metrics of an evaluation on the validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Steps done when evaluated.
    pub step: u64,
    /// Mean validation loss.
    pub val_loss: f64,
    /// Validation accuracy (per example, or per pixel for segmentation); `None` for regression.
    pub val_accuracy: Option<f64>,
    /// Root mean squared error (regression).
    pub val_rmse: Option<f64>,
    /// Mean intersection over union of the classes (segmentation).
    #[serde(default)]
    pub val_miou: Option<f64>,
    /// `confusion[truth][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
    /// Class names.
    pub classes: Vec<String>,
}

impl EvalMetrics {
    /// As generic telemetry: scalars, and the confusion matrix as a view.
    pub fn to_evaluation(&self) -> Evaluation {
        let mut scalars = Scalars::new();
        scalars.insert("val_loss".into(), self.val_loss);
        if let Some(a) = self.val_accuracy {
            scalars.insert("val_accuracy".into(), a);
        }
        if let Some(r) = self.val_rmse {
            scalars.insert("val_rmse".into(), r);
        }
        if let Some(m) = self.val_miou {
            scalars.insert("val_miou".into(), m);
        }
        let mut views = Vec::new();
        if !self.confusion.is_empty() {
            views.push((
                "confusion".to_owned(),
                View::Matrix(Matrix {
                    rows_are: "true class".into(),
                    cols_are: "predicted class".into(),
                    row_labels: self.classes.clone(),
                    col_labels: self.classes.clone(),
                    values: self
                        .confusion
                        .iter()
                        .map(|r| r.iter().map(|&c| c as f64).collect())
                        .collect(),
                }),
            ));
        }
        Evaluation {
            step: self.step,
            scalars,
            views,
        }
    }
}

pub use super::common::VAL_FRACTION;
/// Largest validation batch.
const EVAL_BATCH: usize = 500;

/// A supervised training run in progress.
pub struct Supervised {
    t: Trainee,
    ex: Examples,
    fields: Vec<String>,
    device: Device,
    /// The last training batch (to find the first non-finite node after a divergence).
    last_batch: Vec<usize>,
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
        let ex = Examples::load(project, data_dir, seed)?;
        let ad = device.clone().autodiff();
        ad.seed(seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        if !model.plan.has_role("prediction") {
            return Err(RunError::BadInput(
                "the supervised recipe needs an Output with role 'prediction'".into(),
            ));
        }
        // Every float input is fed the features; check shapes now, with a fix in the message.
        let mut fields = Vec::new();
        for input in model.plan.inputs_for(Some(&["prediction"])) {
            if input.dtype != DType::Float {
                return Err(RunError::BadInput(format!(
                    "input '{}' is an integer input; the supervised recipe feeds images or feature vectors",
                    model.plan.steps[input.step].title
                )));
            }
            fields.push(input.field.clone());
        }
        for node in project.graph.nodes.iter().filter(|n| n.kind == "input") {
            ex.check_input(project, node)?;
        }
        let mut settings = project.training.clone();
        settings.seed = seed;
        Ok(Supervised {
            t: Trainee::new("model", model, ex.split.train.clone(), &settings),
            ex,
            fields,
            device: ad,
            last_batch: Vec::new(),
        })
    }

    /// Parameters in the model.
    pub fn param_count(&self) -> usize {
        self.t.net.param_count()
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.t.step
    }

    pub(super) fn features(&self, idx: &[usize], device: &Device) -> Value {
        self.ex.features(idx, true, device)
    }

    fn labels(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        self.ex.labels(idx, device)
    }

    fn feed(&self, x: Value) -> HashMap<String, Value> {
        self.fields.iter().map(|f| (f.clone(), x.clone())).collect()
    }

    /// One optimisation step over the next batch, its metrics read back at once (tests, benches;
    /// the trainer reads them one step late through [`Recipe::step`]).
    pub fn train_step(&mut self, total_steps: u64) -> Result<StepMetrics, RunError> {
        let cancel = AtomicBool::new(false);
        let mut cx = StepCx::new(total_steps, &cancel);
        let scalars = self.step(&mut cx)?.read();
        let loss = scalars.get("loss").copied().unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(RunError::NonFinite {
                step: self.t.step,
                node: self.non_finite_culprit(),
            });
        }
        Ok(StepMetrics {
            step: self.t.step,
            loss,
            accuracy: scalars.get("accuracy").copied(),
            lr: scalars.get("lr").copied().unwrap_or_default(),
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
        let n_classes = self.ex.data.classes.len();
        let bad = RunError::BadInput;
        match &self.ex.data.target {
            Target::Classes => {
                let logits = pred
                    .f2()
                    .map_err(|e| bad(format!("the prediction must be class scores [B, classes]; {e}")))?;
                let classes = logits.dims()[1];
                if classes < n_classes {
                    return Err(bad(format!(
                        "the prediction has {classes} outputs but {} has {n_classes} classes — set the last layer's size to {n_classes}",
                        self.ex.data.name
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
                let y = Tensor::<2>::from_data(
                    TensorData::new(self.ex.data.batch_values(idx), [idx.len(), *per]),
                    device,
                );
                let loss = (p - y).powi_scalar(2).mean();
                Ok(Objective {
                    loss,
                    predicted: None,
                    count: idx.len(),
                })
            }
            Target::Sequences { .. } => Err(bad(format!(
                "{} pairs sequences with sequences: train it with the seq2seq recipe",
                self.ex.data.name
            ))),
            Target::Nodes(_) => Err(bad(format!(
                "{} is a graph: train it with the node classification recipe",
                self.ex.data.name
            ))),
            Target::Graphs(_) => Err(bad(format!(
                "{} is a set of graphs: train it with the graph classification recipe",
                self.ex.data.name
            ))),
            Target::Masks(_) => {
                let logits = pred
                    .f4()
                    .map_err(|e| bad(format!("segmentation needs per-pixel scores [B, classes, H, W]; {e}")))?;
                let [b, c, h, w] = logits.dims();
                let (mh, mw) = (self.ex.data.shape[1], self.ex.data.shape[2]);
                if (h, w) != (mh, mw) || c < n_classes {
                    return Err(bad(format!(
                        "the prediction is [B, {c}, {h}, {w}] but the masks need [B, {n_classes}, {mh}, {mw}]"
                    )));
                }
                let n = b * h * w;
                let flat = logits.permute([0, 2, 3, 1]).reshape([n, c]);
                let y = Tensor::<1, Int>::from_data(TensorData::new(self.ex.data.batch_masks(idx), [n]), device);
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
        Ok((self.t.net.inference()?, self.device.clone().inner()))
    }

    /// Validation loss, accuracy (or RMSE) and confusion matrix with the inference copy of the model.
    pub fn evaluate(&self) -> Result<EvalMetrics, RunError> {
        let (model, device) = self.inference()?;
        let n_classes = self.ex.data.classes.len();
        let mut confusion = vec![vec![0u64; n_classes]; n_classes];
        let (mut loss_sum, mut correct, mut counted, mut seen) = (0f64, 0u64, 0usize, 0usize);
        for chunk in self.ex.split.val.chunks(EVAL_BATCH) {
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
        let regression = matches!(self.ex.data.target, Target::Values { .. });
        Ok(EvalMetrics {
            step: self.t.step,
            val_loss,
            val_accuracy: (!regression).then(|| correct as f64 / counted.max(1) as f64),
            val_rmse: regression.then(|| val_loss.sqrt()),
            val_miou: matches!(self.ex.data.target, Target::Masks(_)).then(|| mean_iou(&confusion)),
            confusion,
            classes: self.ex.data.classes.clone(),
        })
    }
}

/// Mean over classes of |predicted ∩ true| / |predicted ∪ true|, from `confusion[truth][predicted]`
/// (classes that appear in neither are left out).
pub fn mean_iou(confusion: &[Vec<u64>]) -> f64 {
    let n = confusion.len();
    let mut sum = 0.0;
    let mut counted = 0usize;
    for c in 0..n {
        let tp = confusion[c].get(c).copied().unwrap_or(0);
        let fnn: u64 = confusion[c].iter().sum::<u64>() - tp;
        let fp: u64 = (0..n).map(|t| confusion[t].get(c).copied().unwrap_or(0)).sum::<u64>() - tp;
        let union = tp + fnn + fp;
        if union > 0 {
            sum += tp as f64 / union as f64;
            counted += 1;
        }
    }
    if counted == 0 { 0.0 } else { sum / counted as f64 }
}

/// A batch's loss and, for classification, predicted and true classes.
pub(super) struct Objective {
    pub(super) loss: Tensor<1>,
    pub(super) predicted: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
    pub(super) count: usize,
}

impl Supervised {
    /// Writes a checkpoint: weights per node, optimizer state, and where training stands.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<(), RunError> {
        self.t.save(dir)
    }

    /// Continues from a checkpoint: restores the weights of every node that still exists with the
    /// same shape, the optimizer state, the step and the data order. Returns the keys of nodes
    /// that start fresh (new or changed since the checkpoint).
    pub fn resume(&mut self, dir: &Path) -> Result<Vec<String>, RunError> {
        self.t.resume(dir)
    }
}

impl Recipe for Supervised {
    fn param_count(&self) -> usize {
        self.t.net.param_count()
    }

    fn steps_done(&self) -> u64 {
        self.t.step
    }

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, _) = self.t.next(&device);
        let x = self.features(&idx, &device);
        let feed = self.feed(x);
        let out = self
            .t
            .net
            .model()?
            .run(Some(&["prediction"]), &feed, cx.keep_all(), cx.watch)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        cx.observe(self.t.net.model()?, &out);
        let pred = out
            .outputs
            .get("prediction")
            .cloned()
            .ok_or_else(|| RunError::BadInput("the graph has no Output with role 'prediction'".into()))?;
        let obj = self.objective(pred, &idx, &device)?;
        let mut accuracy = Pending::new();
        if let Some((pred, truth)) = obj.predicted {
            let correct = pred.equal(truth).float().sum().div_scalar(obj.count as f32);
            accuracy = accuracy.with_tensor("accuracy", correct);
        }
        self.last_batch = idx;
        self.t.descend(obj.loss, cx, accuracy)
    }

    fn evaluate(&mut self, _cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        Ok(Supervised::evaluate(self)?.to_evaluation())
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let mut views: Vec<(String, View)> = self
            .samples(32)?
            .map(|p| ("samples".to_owned(), View::Image(p)))
            .into_iter()
            .collect();
        if let Some(p) = self.class_attention(16)? {
            views.push(("class_attention".to_owned(), View::Image(p)));
        }
        Ok(views)
    }

    fn non_finite_culprit(&mut self) -> Option<String> {
        let idx = self.last_batch.clone();
        if idx.is_empty() {
            return None;
        }
        let x = self.features(&idx, &self.device.clone());
        self.t
            .net
            .model()
            .ok()?
            .first_non_finite(&self.feed(x))
            .map(|(_, title)| title)
    }

    fn save(&self, dir: &Path) -> Result<(), RunError> {
        self.save_checkpoint(dir)
    }

    fn resume(&mut self, dir: &Path) -> Result<Vec<String>, RunError> {
        Supervised::resume(self, dir)
    }
}
