//! The `graph_classification` recipe: a batch of small graphs joined into one disjoint graph
//! (node features, both directions of every edge offset to the batch's numbering, edge features
//! repeated for both directions, each node's graph index), cross-entropy on the prediction of
//! each graph; accuracy on validation and test graphs.

use super::common::{Trainee, load_data};
use super::{Evaluation, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::graph_classification::SPEC;
use crate::catalog::{DType, DataKind};
use crate::data::graphs::GraphSet;
use crate::data::{Dataset, Features, Target};
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::View;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(GraphClassification::new(init)?)),
};

const PREDICTION: &str = "prediction";
const EVAL_GRAPHS: usize = 64;

/// A run of the graph-classification recipe.
pub struct GraphClassification {
    t: Trainee,
    data: Dataset,
    set: GraphSet,
    edge_features: bool,
    val: Vec<usize>,
    test: Vec<usize>,
    device: Device,
}

/// The inputs for graphs `idx` joined into one disjoint graph.
pub fn join(
    data: &Dataset,
    set: &GraphSet,
    idx: &[usize],
    edge_features: bool,
    device: &Device,
) -> HashMap<String, Value> {
    let f = set.node_features;
    let x_all: &[f32] = match &data.features {
        Features::F32(v) => v,
        Features::U8(_) => &[],
    };
    let (mut x, mut batch, mut src, mut dst, mut attr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut offset = 0i64;
    for (k, &g) in idx.iter().enumerate() {
        let (a, b) = (set.start[g], set.start[g + 1]);
        x.extend_from_slice(&x_all[a * f..b * f]);
        batch.extend(std::iter::repeat_n(k as i64, b - a));
        for &[u, v] in &set.edges[g] {
            src.push(offset + i64::from(u));
            dst.push(offset + i64::from(v));
        }
        offset += (b - a) as i64;
    }
    // Both directions: (u → v) first for every edge, then (v → u), edge features alike.
    let (fwd_src, fwd_dst) = (src.clone(), dst.clone());
    src.extend(fwd_dst);
    dst.extend(fwd_src);
    let e = src.len();
    if edge_features {
        for _direction in 0..2 {
            for &g in idx {
                attr.extend_from_slice(&set.edge_attr[g]);
            }
        }
    }
    let n = batch.len();
    let mut edges = src;
    edges.extend(dst);
    let mut feed = HashMap::from([
        (
            "features".to_owned(),
            Value::F2(Tensor::<2>::from_data(TensorData::new(x, [n, f]), device)),
        ),
        (
            "edges".to_owned(),
            Value::I2(Tensor::<2, Int>::from_data(TensorData::new(edges, [2, e]), device)),
        ),
        (
            "batch".to_owned(),
            Value::I1(Tensor::<1, Int>::from_data(TensorData::new(batch, [n]), device)),
        ),
    ]);
    if edge_features {
        feed.insert(
            "edge_features".to_owned(),
            Value::F2(Tensor::<2>::from_data(
                TensorData::new(attr, [e, set.edge_features]),
                device,
            )),
        );
    }
    feed
}

impl GraphClassification {
    /// Loads the graphs and compiles the project.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let data = load_data(
            project,
            init.data_dir,
            DataKind::Graphs,
            "graph-classification",
            "a set of graphs",
        )?;
        let Target::Graphs(set) = &data.target else {
            return Err(RunError::BadInput(format!("'{}' is not a set of graphs", data.name)));
        };
        let set = set.clone();
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let mut has = [false; 4];
        for i in model.plan.inputs.iter().filter(|i| i.source == "dataset") {
            let title = &model.plan.steps[i.step].title;
            match (i.field.as_str(), i.dtype) {
                ("features", DType::Float) => {
                    has[0] = true;
                    if let Some(Some(w)) = i.dims.get(1)
                        && *w != set.node_features
                    {
                        return Err(RunError::BadInput(format!(
                            "Input '{title}' takes [N, {w}], but the nodes of '{}' have {} features — set its shape to N,{}",
                            data.name, set.node_features, set.node_features
                        )));
                    }
                }
                ("edges", DType::Int) => has[1] = true,
                ("batch", DType::Int) => has[2] = true,
                ("edge_features", DType::Float) => has[3] = true,
                (field, _) => {
                    return Err(RunError::BadInput(format!(
                        "Input '{title}' is bound to '{field}', which the graph-classification recipe does not give: float 'features' [N, F], integer 'edges' [2, E] and 'batch' [N], float 'edge_features' [E, Fe]"
                    )));
                }
            }
        }
        if !(has[0] && has[1] && has[2]) {
            return Err(RunError::BadInput(
                "the graph-classification recipe needs Inputs bound to 'features' [N, F] (float), 'edges' [2, E] and 'batch' [N] (integer)".into(),
            ));
        }
        let n = data.len();
        let test_from = data.test_from.unwrap_or(n - n / 6);
        // Every seventh training graph validates (7 is prime to any small number of classes
        // laid out in turn).
        let train: Vec<usize> = (0..test_from).filter(|i| i % 7 != 3).collect();
        let val: Vec<usize> = (0..test_from).filter(|i| i % 7 == 3).collect();
        let test: Vec<usize> = (test_from..n).collect();
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let run = GraphClassification {
            t: Trainee::new("model", model, train, &settings),
            data,
            set,
            edge_features: has[3],
            val,
            test,
            device: ad,
        };
        run.check_classes()?;
        Ok(run)
    }

    fn check_classes(&self) -> Result<(), RunError> {
        let model = self.t.net.inference()?;
        let plain = self.device.clone().inner();
        let logits = self.logits(&model, &self.val[..self.val.len().min(2)], &plain)?;
        let c = self.data.classes.len();
        let [g, w] = logits.dims();
        if w != c || g != self.val.len().min(2) {
            return Err(RunError::BadInput(format!(
                "the 'prediction' output is [{g}, {w}] for {} graphs, but it must be [graphs, {c}]: pool the nodes of each graph (GraphPool) and give the last layer {c} outputs",
                self.val.len().min(2)
            )));
        }
        Ok(())
    }

    fn logits(&self, model: &GraphModel, idx: &[usize], device: &Device) -> Result<Tensor<2>, RunError> {
        let feed = join(&self.data, &self.set, idx, self.edge_features, device);
        let out = model
            .run(Some(&[PREDICTION]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        out.outputs
            .get(PREDICTION)
            .cloned()
            .ok_or_else(|| RunError::BadInput("no Output with role 'prediction' ran".into()))?
            .f2()
            .map_err(RunError::BadInput)
    }

    fn labels(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        let y: Vec<i64> = idx.iter().map(|&i| i64::from(self.data.labels[i])).collect();
        Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), device)
    }

    /// Loss sum, correct count and predictions over `idx`.
    fn score(
        &self,
        model: &GraphModel,
        idx: &[usize],
        cancel: &AtomicBool,
    ) -> Result<(f64, usize, Vec<usize>), RunError> {
        let device = self.device.clone().inner();
        let (mut loss, mut right, mut predicted) = (0f64, 0usize, Vec::with_capacity(idx.len()));
        for chunk in idx.chunks(EVAL_GRAPHS) {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let logits = self.logits(model, chunk, &device)?;
            let c = logits.dims()[1];
            let lp = crate::engine::kernels::log_softmax(logits, 1);
            let y = self.labels(chunk, &device);
            let picked = lp.clone().gather(1, y.reshape([chunk.len(), 1]));
            loss -= f64::from(picked.sum().into_scalar::<f32>());
            let v: Vec<f32> = lp.into_data().iter::<f32>().collect();
            for (k, &g) in chunk.iter().enumerate() {
                let row = &v[k * c..(k + 1) * c];
                let p = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                right += usize::from(p == usize::from(self.data.labels[g]));
                predicted.push(p);
            }
        }
        Ok((loss, right, predicted))
    }
}

impl Recipe for GraphClassification {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, _) = self.t.next(&device);
        let feed = join(&self.data, &self.set, &idx, self.edge_features, &device);
        let model = self.t.net.model()?;
        let out = model
            .run(Some(&[PREDICTION]), &feed, cx.keep_all(), cx.watch)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        cx.observe(model, &out);
        let logits = out
            .outputs
            .get(PREDICTION)
            .cloned()
            .ok_or_else(|| RunError::BadInput("no Output with role 'prediction' ran".into()))?
            .f2()
            .map_err(RunError::BadInput)?;
        let b = idx.len();
        let y = self.labels(&idx, &device);
        let loss = crate::engine::kernels::log_softmax(logits, 1)
            .gather(1, y.reshape([b, 1]))
            .mean()
            .neg()
            .reshape([1]);
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let (val_loss, val_right, _) = self.score(&model, &self.val, cancel)?;
        let (_, test_right, predicted) = self.score(&model, &self.test, cancel)?;
        let mut scalars = crate::telemetry::Scalars::new();
        scalars.insert("val_loss".into(), val_loss / self.val.len().max(1) as f64);
        scalars.insert("val_accuracy".into(), val_right as f64 / self.val.len().max(1) as f64);
        scalars.insert(
            "test_accuracy".into(),
            test_right as f64 / self.test.len().max(1) as f64,
        );
        let confusion = super::common::confusion_view(
            &self.data.classes,
            self.test
                .iter()
                .zip(&predicted)
                .map(|(&g, &p)| (usize::from(self.data.labels[g]), p)),
        );
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: vec![("confusion".into(), confusion)],
        })
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        Ok(Vec::new())
    }
}
