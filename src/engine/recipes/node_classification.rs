//! The `node_classification` recipe: the whole graph in every step (features `[N, F]`, edges
//! `[2, E]`), cross-entropy on the training nodes' predictions only, accuracy on the validation
//! and test nodes; the graph view draws the data graph coloured by the predicted classes.

use super::common::{Trainee, load_data};
use super::{Evaluation, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::node_classification::SPEC;
use crate::catalog::{DType, DataKind};
use crate::data::graphs::{self, NodeSplit};
use crate::data::{Dataset, Features, Target};
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Picture, Table, View};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(NodeClassification::new(init)?)),
};

const PREDICTION: &str = "prediction";
/// Field of the node-feature Input.
pub const FEATURES: &str = "features";
/// Field of the edge-index Input.
pub const EDGES: &str = "edges";
/// Largest graph the graph view lays out (the layout is quadratic in the nodes).
pub const DRAW_AT_MOST: usize = 3000;
/// Side of the graph picture in pixels.
const SIDE: usize = 560;

/// A run of the node-classification recipe.
pub struct NodeClassification {
    t: Trainee,
    data: Dataset,
    split: NodeSplit,
    /// The inputs on the training device and on the plain one.
    feed_train: HashMap<String, Value>,
    feed_eval: HashMap<String, Value>,
    train_idx: Tensor<1, Int>,
    train_labels: Tensor<1, Int>,
    /// Positions for the graph view, laid out on first use.
    layout: Option<Vec<[f32; 2]>>,
    device: Device,
}

fn feed(data: &Dataset, split: &NodeSplit, device: &Device) -> HashMap<String, Value> {
    let n = data.len();
    let f = data.shape.first().copied().unwrap_or(1);
    let x = match &data.features {
        Features::F32(v) => v.clone(),
        Features::U8(v) => v.iter().map(|&b| f32::from(b) / 255.0).collect(),
    };
    let x = Tensor::<2>::from_data(TensorData::new(x, [n, f]), device);
    let e = split.edges.len() * 2;
    let edges = Tensor::<2, Int>::from_data(TensorData::new(split.directed(), [2, e]), device);
    HashMap::from([
        (FEATURES.to_owned(), Value::F2(x)),
        (EDGES.to_owned(), Value::I2(edges)),
    ])
}

fn index(idx: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [idx.len()]), device)
}

impl NodeClassification {
    /// Loads the graph and compiles the project.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let data = load_data(
            project,
            init.data_dir,
            DataKind::Graph,
            "node-classification",
            "a graph",
        )?;
        let Target::Nodes(split) = &data.target else {
            return Err(RunError::BadInput(format!("'{}' is not a graph", data.name)));
        };
        let split = split.clone();
        if split.train.is_empty() {
            return Err(RunError::BadInput(format!("'{}' has no training nodes", data.name)));
        }
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let f = data.shape.first().copied().unwrap_or(1);
        let mut has = (false, false);
        for i in model.plan.inputs.iter().filter(|i| i.source == "dataset") {
            let title = &model.plan.steps[i.step].title;
            match (i.field.as_str(), i.dtype) {
                (FEATURES, DType::Float) => {
                    has.0 = true;
                    if let Some(Some(w)) = i.dims.get(1)
                        && *w != f
                    {
                        return Err(RunError::BadInput(format!(
                            "Input '{title}' takes [N, {w}] node features, but every node of '{}' has {f} — set its shape to N,{f}",
                            data.name
                        )));
                    }
                }
                (EDGES, DType::Int) => has.1 = true,
                (field, _) => {
                    return Err(RunError::BadInput(format!(
                        "Input '{title}' is bound to '{field}', which the node-classification recipe does not give: bind a float Input to 'features' [N, F] and an integer Input to 'edges' [2, E]"
                    )));
                }
            }
        }
        if !(has.0 && has.1) {
            return Err(RunError::BadInput(
                "the node-classification recipe needs a float Input bound to 'features' [N, F] and an integer Input bound to 'edges' [2, E]".into(),
            ));
        }
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let inner = init.device.clone();
        let labels: Vec<i64> = split.train.iter().map(|&i| i64::from(data.labels[i])).collect();
        let mut run = NodeClassification {
            t: Trainee::new("model", model, vec![0], &settings),
            feed_train: feed(&data, &split, &ad),
            feed_eval: feed(&data, &split, &inner),
            train_idx: index(&split.train, &ad),
            train_labels: Tensor::<1, Int>::from_data(TensorData::new(labels, [split.train.len()]), &ad),
            data,
            split,
            layout: None,
            device: ad,
        };
        run.check_classes()?;
        Ok(run)
    }

    /// The prediction's width must be the number of classes.
    fn check_classes(&mut self) -> Result<(), RunError> {
        let logits = self.logits(&self.t.net.inference()?, false)?.0;
        let [n, c] = logits.dims();
        let classes = self.data.classes.len();
        if n != self.data.len() || c != classes {
            return Err(RunError::BadInput(format!(
                "the 'prediction' output is [{n}, {c}], but '{}' has {} nodes in {classes} classes — give the last layer {classes} outputs",
                self.data.name,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// The prediction `[N, classes]` for every node (and GAT attention when `attention`).
    fn logits(&self, model: &GraphModel, attention: bool) -> Result<(Tensor<2>, Vec<Tensor<4>>), RunError> {
        let run = || model.run(Some(&[PREDICTION]), &self.feed_eval, false, None);
        let (out, maps) = if attention {
            crate::engine::record_attention(run)
        } else {
            (run(), Vec::new())
        };
        let out = out.map_err(|e| RunError::Failed(e.to_string()))?;
        let v = out
            .outputs
            .get(PREDICTION)
            .cloned()
            .ok_or_else(|| RunError::BadInput("no Output with role 'prediction' ran".into()))?;
        let t = v
            .f2()
            .map_err(|e| RunError::BadInput(format!("the prediction must be [N, classes]: {e}")))?;
        Ok((t, maps))
    }

    /// Predicted class of every node.
    fn predicted(&self, logits: &Tensor<2>) -> Vec<usize> {
        let c = logits.dims()[1];
        let v: Vec<f32> = logits.clone().into_data().iter::<f32>().collect();
        v.chunks(c.max(1))
            .map(|row| {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(k, _)| k)
            })
            .collect()
    }

    fn accuracy(&self, predicted: &[usize], nodes: &[usize]) -> f64 {
        let right = nodes
            .iter()
            .filter(|&&i| predicted[i] == usize::from(self.data.labels[i]))
            .count();
        right as f64 / nodes.len().max(1) as f64
    }

    /// Mean cross-entropy over `nodes`.
    fn loss_on(&self, logits: &Tensor<2>, nodes: &[usize]) -> f64 {
        if nodes.is_empty() {
            return 0.0;
        }
        let device = logits.device();
        let sel = logits.clone().select(0, index(nodes, &device));
        let labels: Vec<i64> = nodes.iter().map(|&i| i64::from(self.data.labels[i])).collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [nodes.len()]), &device);
        let lp = crate::engine::kernels::log_softmax(sel, 1).gather(1, y.reshape([nodes.len(), 1]));
        f64::from(lp.mean().neg().into_scalar::<f32>())
    }

    /// Nodes, edges, components and the nodes no training label can reach.
    fn about(&self) -> Table {
        let n = self.data.len();
        let (comp, count) = graphs::components(n, &self.split.edges);
        let mut labelled = vec![false; count];
        for &i in &self.split.train {
            labelled[comp[i]] = true;
        }
        let unreached = (0..n).filter(|&i| !labelled[comp[i]]).count();
        let mut degree = vec![0usize; n];
        for &[a, b] in &self.split.edges {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
        let isolated = degree.iter().filter(|&&d| d == 0).count();
        let row = |k: &str, v: String| vec![k.to_owned(), v];
        let mut rows = vec![
            row("graph", self.data.name.clone()),
            row("nodes", n.to_string()),
            row("edges (undirected)", self.split.edges.len().to_string()),
            row(
                "features per node",
                self.data.shape.first().copied().unwrap_or(0).to_string(),
            ),
            row("classes", self.data.classes.len().to_string()),
            row(
                "training / validation / test nodes",
                format!(
                    "{} / {} / {}",
                    self.split.train.len(),
                    self.split.val.len(),
                    self.split.test.len()
                ),
            ),
            row("connected components", count.to_string()),
            row("isolated nodes", isolated.to_string()),
        ];
        if count > 1 {
            rows.push(row(
                "not connected to a training node",
                format!(
                    "{unreached} nodes in {} components (no label reaches them along the edges)",
                    labelled.iter().filter(|l| !**l).count()
                ),
            ));
        }
        Table {
            columns: vec!["".into(), "".into()],
            rows,
        }
    }

    /// The graph drawn with every node's predicted class; GAT attention as edge brightness.
    fn picture(&mut self) -> Result<Option<Picture>, RunError> {
        let n = self.data.len();
        if n > DRAW_AT_MOST {
            return Ok(None);
        }
        if self.layout.is_none() {
            let rounds = if n > 1000 { 150 } else { 300 };
            self.layout = Some(graphs::layout(n, &self.split.edges, rounds, 11));
        }
        let model = self.t.net.inference()?;
        let (logits, maps) = self.logits(&model, true)?;
        let predicted = self.predicted(&logits);
        // Per undirected edge, the mean attention of its two directions (last attention layer),
        // relative to an even share (1 / in-degree).
        let weights = maps.last().map(|m| {
            let [_, h, _, total] = m.dims();
            let v: Vec<f32> = m
                .clone()
                .mean_dim(1)
                .reshape([total])
                .into_data()
                .iter::<f32>()
                .collect();
            let e = self.split.edges.len();
            let mut degree = vec![1f32; n];
            for &[a, b] in &self.split.edges {
                degree[a as usize] += 1.0;
                degree[b as usize] += 1.0;
            }
            let _ = h;
            (0..e)
                .map(|k| {
                    let [a, b] = self.split.edges[k];
                    // Directed order: (a→b) at k, (b→a) at e + k; the destination is b, then a.
                    let ab = v.get(k).copied().unwrap_or(0.0) * degree[b as usize];
                    let ba = v.get(e + k).copied().unwrap_or(0.0) * degree[a as usize];
                    (ab + ba) / 2.0
                })
                .collect::<Vec<f32>>()
        });
        let pos = self.layout.as_deref().unwrap_or_default();
        Ok(Some(draw(
            pos,
            &self.split,
            &predicted,
            &self.data.labels,
            weights.as_deref(),
        )))
    }
}

/// Class colours (Tableau 10), repeating.
const COLOURS: [[u8; 3]; 10] = [
    [78, 121, 167],
    [242, 142, 43],
    [225, 87, 89],
    [118, 183, 178],
    [89, 161, 79],
    [237, 201, 72],
    [176, 122, 161],
    [255, 157, 167],
    [156, 117, 95],
    [186, 176, 172],
];

/// The graph picture: edges as lines (brighter and wider with more attention), nodes as discs
/// of their predicted class, a ring of the true class where the prediction is wrong, training
/// nodes larger with a white rim.
fn draw(pos: &[[f32; 2]], split: &NodeSplit, predicted: &[usize], labels: &[u8], attention: Option<&[f32]>) -> Picture {
    let mut pic = Picture {
        width: SIDE,
        height: SIDE,
        rgb: vec![24u8; SIDE * SIDE * 3],
    };
    let n = pos.len();
    let margin = 14.0;
    let at = |p: [f32; 2]| {
        (
            margin + p[0] * (SIDE as f32 - 2.0 * margin),
            margin + p[1] * (SIDE as f32 - 2.0 * margin),
        )
    };
    let mut blend = |x: i64, y: i64, c: [u8; 3], a: f32| {
        if x < 0 || y < 0 || x >= SIDE as i64 || y >= SIDE as i64 {
            return;
        }
        let o = (y as usize * SIDE + x as usize) * 3;
        for (px, want) in pic.rgb[o..o + 3].iter_mut().zip(c) {
            let old = f32::from(*px);
            *px = (old + (f32::from(want) - old) * a.clamp(0.0, 1.0)) as u8;
        }
    };
    let base = if n > 500 { 0.18 } else { 0.45 };
    for (k, &[a, b]) in split.edges.iter().enumerate() {
        let (x0, y0) = at(pos[a as usize]);
        let (x1, y1) = at(pos[b as usize]);
        let w = attention.and_then(|w| w.get(k)).copied();
        // Attention relative to an even share: brighter and wider (1–4 px) where it is larger.
        let (alpha, width) = match w {
            Some(w) => ((base * w).clamp(0.05, 0.95), (w.round() as i64).clamp(1, 4)),
            None => (base, 1),
        };
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            for d in 0..width {
                blend(x as i64 + d, y as i64, [200, 200, 210], alpha);
            }
        }
    }
    let r: f32 = if n > 1000 {
        2.0
    } else if n > 200 {
        3.5
    } else {
        7.0
    };
    let train: std::collections::HashSet<usize> = split.train.iter().copied().collect();
    for i in 0..n {
        let (cx, cy) = at(pos[i]);
        let fill = COLOURS[predicted[i] % COLOURS.len()];
        let truth = COLOURS[usize::from(labels[i]) % COLOURS.len()];
        let wrong = predicted[i] != usize::from(labels[i]);
        let ri = if train.contains(&i) { r + 2.0 } else { r };
        let outer = ri + if wrong { 2.0 } else { 0.0 } + if train.contains(&i) { 1.5 } else { 0.0 };
        let span = outer.ceil() as i64 + 1;
        for dy in -span..=span {
            for dx in -span..=span {
                let d = ((dx * dx + dy * dy) as f32).sqrt();
                let (x, y) = (cx as i64 + dx, cy as i64 + dy);
                if d <= ri {
                    blend(x, y, fill, 1.0);
                } else if train.contains(&i) && d <= ri + 1.5 {
                    blend(x, y, [255, 255, 255], 1.0);
                } else if wrong && d <= outer {
                    blend(x, y, truth, 1.0);
                }
            }
        }
    }
    pic
}

impl Recipe for NodeClassification {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        self.t.next(&device);
        let model = self.t.net.model()?;
        let out = model
            .run(Some(&[PREDICTION]), &self.feed_train, cx.keep_all(), cx.watch)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        cx.observe(model, &out);
        let logits = out
            .outputs
            .get(PREDICTION)
            .cloned()
            .ok_or_else(|| RunError::BadInput("no Output with role 'prediction' ran".into()))?
            .f2()
            .map_err(RunError::BadInput)?;
        let k = self.split.train.len();
        let picked = activation::log_softmax(logits.select(0, self.train_idx.clone()), 1)
            .gather(1, self.train_labels.clone().reshape([k, 1]));
        let loss = picked.mean().neg().reshape([1]);
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, _cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let (logits, _) = self.logits(&model, false)?;
        let predicted = self.predicted(&logits);
        let mut scalars = crate::telemetry::Scalars::new();
        scalars.insert("val_loss".into(), self.loss_on(&logits, &self.split.val));
        scalars.insert("train_accuracy".into(), self.accuracy(&predicted, &self.split.train));
        scalars.insert("val_accuracy".into(), self.accuracy(&predicted, &self.split.val));
        scalars.insert("test_accuracy".into(), self.accuracy(&predicted, &self.split.test));
        let confusion = super::common::confusion_view(
            &self.data.classes,
            self.split
                .test
                .iter()
                .map(|&i| (usize::from(self.data.labels[i]), predicted[i])),
        );
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: vec![("confusion".into(), confusion)],
        })
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let mut views = Vec::new();
        if let Some(p) = self.picture()? {
            views.push(("graph".to_owned(), View::Image(p)));
        }
        views.push(("about".to_owned(), View::Table(self.about())));
        Ok(views)
    }
}
