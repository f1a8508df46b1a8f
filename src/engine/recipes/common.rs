//! Pieces every recipe uses: batches over a split with a replayable order, a trained network
//! (model + optimizer + checkpoint), the learning-rate schedule, and feeding inputs by source.

use super::super::model::GraphModel;
use super::super::value::Value;
use super::RunError;
use crate::data::{self, Dataset, Split};
use crate::doc::{Node, Optimizer, ParamValue, Project, Schedule, TrainingSettings};
use crate::engine::optim;
use crate::telemetry::Picture;
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use std::path::Path;

/// Batches drawn from a pool of example indices in a seeded order, reshuffled every epoch. The
/// position (epoch, cursor) is enough to replay the order exactly after a resume.
#[derive(Clone, Debug)]
pub struct Batches {
    pool: Vec<usize>,
    order: Vec<usize>,
    cursor: usize,
    epoch: u64,
    seed: u64,
    batch: usize,
}

impl Batches {
    /// Batches of `batch` from `pool`, first shuffled with `seed`.
    pub fn new(pool: Vec<usize>, batch: usize, seed: u64) -> Self {
        let mut order = pool.clone();
        data::shuffle(&mut order, seed);
        Batches {
            pool,
            order,
            cursor: 0,
            epoch: 0,
            seed,
            batch: batch.max(1),
        }
    }

    /// The next batch (never empty while the pool is not).
    pub fn next_batch(&mut self) -> Vec<usize> {
        let b = self.batch.min(self.order.len().max(1));
        if self.cursor + b > self.order.len() {
            self.epoch += 1;
            data::shuffle(&mut self.order, self.seed.wrapping_add(self.epoch));
            self.cursor = 0;
        }
        let end = (self.cursor + b).min(self.order.len());
        let batch = self.order[self.cursor..end].to_vec();
        self.cursor = end;
        batch
    }

    /// Where the order stands: (finished epochs, cursor).
    pub fn position(&self) -> (u64, usize) {
        (self.epoch, self.cursor)
    }

    /// Replays the order up to a saved position.
    pub fn restore(&mut self, epoch: u64, cursor: usize) {
        let mut order = self.pool.clone();
        data::shuffle(&mut order, self.seed);
        for e in 1..=epoch {
            data::shuffle(&mut order, self.seed.wrapping_add(e));
        }
        self.order = order;
        self.epoch = epoch;
        self.cursor = cursor.min(self.order.len());
    }
}

/// A network a recipe trains: its model and its own optimizer.
pub struct Network {
    /// Name from the recipe's declaration ("model", "generator", ...).
    pub name: &'static str,
    /// The model (taken out while a step runs, so an error cannot leave a half-updated one).
    pub model: Option<GraphModel>,
    /// Its optimizer.
    pub optim: ModuleOptimizer,
    settings: TrainingSettings,
}

impl Network {
    /// A network with the optimizer the settings name.
    pub fn new(name: &'static str, model: GraphModel, settings: &TrainingSettings) -> Self {
        Network {
            name,
            model: Some(model),
            optim: optimizer(settings),
            settings: settings.clone(),
        }
    }

    /// The model, or an error saying it was lost after an earlier failure.
    pub fn model(&self) -> Result<&GraphModel, RunError> {
        self.model
            .as_ref()
            .ok_or_else(|| RunError::Failed(format!("the {} network was lost after an error", self.name)))
    }

    /// The inference copy (no autodiff: dropout off, batch-norm running statistics).
    pub fn inference(&self) -> Result<GraphModel, RunError> {
        Ok(self.model()?.valid())
    }

    /// Learned scalars.
    pub fn param_count(&self) -> usize {
        self.model.as_ref().map_or(0, GraphModel::param_count)
    }

    /// Backpropagates `loss` and takes one optimizer step at `lr`.
    pub fn descend(&mut self, loss: Tensor<1>, lr: f64) -> Result<(), RunError> {
        let model = self
            .model
            .take()
            .ok_or_else(|| RunError::Failed(format!("the {} network was lost after an error", self.name)))?;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(lr, model, grads));
        Ok(())
    }

    fn dir(&self, root: &Path, first: bool) -> std::path::PathBuf {
        // The first network sits at the top, as checkpoints of one network always have.
        if first { root.to_owned() } else { root.join(self.name) }
    }

    /// Writes weights per node and the optimizer state under `root` (a sub-folder named after
    /// the network unless it is the recipe's first).
    pub fn save(&self, root: &Path, first: bool) -> Result<Vec<String>, RunError> {
        let dir = self.dir(root, first);
        let fail = |m: String| RunError::Failed(format!("checkpoint {}: {m}", dir.display()));
        let nodes = self.model()?.save_nodes(&dir).map_err(fail)?;
        self.optim.to_record().save(dir.join("optimizer.bpk")).map_err(|e| {
            fail(format!(
                "cannot write the optimizer state of the {} network: {e:?}",
                self.name
            ))
        })?;
        Ok(nodes)
    }

    /// Restores what [`Network::save`] wrote: every node that still exists with the same shapes,
    /// and the optimizer state. Returns the keys of nodes that start fresh.
    pub fn load(&mut self, root: &Path, first: bool) -> Result<Vec<String>, RunError> {
        let dir = self.dir(root, first);
        let bad = |m: String| RunError::BadInput(format!("cannot resume from {}: {m}", dir.display()));
        let model = self.model.take().ok_or_else(|| bad("no model".into()))?;
        let (model, _restored, fresh) = model.load_nodes(&dir);
        self.model = Some(model);
        // Weights alone (an import, weights brought back from PyTorch) start a fresh optimizer.
        if !dir.join("optimizer.bpk").exists() && !dir.join("checkpoint.json").exists() {
            return Ok(fresh);
        }
        let record = burn::optim::OptimizerRecord::load(dir.join("optimizer.bpk"))
            .map_err(|e| bad(format!("optimizer.bpk: {e:?}")))?;
        let optim = std::mem::replace(&mut self.optim, optimizer(&self.settings));
        self.optim = optim.load_record(record);
        Ok(fresh)
    }
}

/// One network of a recipe that trains several (a GAN's generator and critic): its parameter
/// set in the shared model and its own optimizer.
pub struct Part {
    /// Name from the declaration.
    pub name: &'static str,
    /// Its parameters.
    pub params: Vec<burn::module::ParamId>,
    /// Its optimizer.
    pub optim: ModuleOptimizer,
}

/// Several networks in one compiled graph, each with its own parameter set and optimizer, as the
/// recipe's declaration names them (in order: a network owns the nodes feeding its roles that do
/// not feed an earlier network's roles).
pub struct Networks {
    /// The model (taken out while a step runs).
    pub model: Option<GraphModel>,
    /// The networks, in declaration order.
    pub parts: Vec<Part>,
    settings: TrainingSettings,
}

impl Networks {
    /// Splits `model` into the networks `spec` declares.
    pub fn new(model: GraphModel, spec: &crate::catalog::RecipeSpec, settings: &TrainingSettings) -> Self {
        let mut earlier: Vec<&str> = Vec::new();
        let mut parts = Vec::new();
        for n in spec.networks {
            parts.push(Part {
                name: n.name,
                params: model.network_params(n.roles, &earlier),
                optim: optimizer(settings),
            });
            earlier.extend_from_slice(n.roles);
        }
        Networks {
            model: Some(model),
            parts,
            settings: settings.clone(),
        }
    }

    /// The model, or an error saying it was lost after an earlier failure.
    pub fn model(&self) -> Result<&GraphModel, RunError> {
        self.model
            .as_ref()
            .ok_or_else(|| RunError::Failed("the model was lost after an error".into()))
    }

    /// Backpropagates `loss` and steps network `part` only: the others keep their parameters
    /// even where the loss's gradient flows through them.
    pub fn descend(&mut self, part: usize, loss: Tensor<1>, lr: f64) -> Result<(), RunError> {
        let Some(p) = self.parts.get_mut(part) else {
            return Err(RunError::Failed(format!("no network {part}")));
        };
        let model = self
            .model
            .take()
            .ok_or_else(|| RunError::Failed("the model was lost after an error".into()))?;
        let mut grads = loss.backward();
        let grads = GradientsParams::from_params(&mut grads, &model, &p.params);
        self.model = Some(p.optim.step(lr, model, grads));
        Ok(())
    }

    /// Writes the weights per node once and every network's optimizer state (the first at the
    /// top of `root`, the others in a sub-folder named after the network).
    pub fn save(&self, root: &Path) -> Result<Vec<String>, RunError> {
        let fail = |m: String| RunError::Failed(format!("checkpoint {}: {m}", root.display()));
        let nodes = self.model()?.save_nodes(root).map_err(fail)?;
        for (k, p) in self.parts.iter().enumerate() {
            let dir = if k == 0 { root.to_owned() } else { root.join(p.name) };
            std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
            p.optim.to_record().save(dir.join("optimizer.bpk")).map_err(|e| {
                fail(format!(
                    "cannot write the optimizer state of the {} network: {e:?}",
                    p.name
                ))
            })?;
        }
        Ok(nodes)
    }

    /// Restores what [`Networks::save`] wrote; returns the keys of nodes that start fresh.
    pub fn load(&mut self, root: &Path) -> Result<Vec<String>, RunError> {
        let bad = |m: String| RunError::BadInput(format!("cannot resume from {}: {m}", root.display()));
        let model = self.model.take().ok_or_else(|| bad("no model".into()))?;
        let (model, _restored, fresh) = model.load_nodes(root);
        self.model = Some(model);
        for (k, p) in self.parts.iter_mut().enumerate() {
            let dir = if k == 0 { root.to_owned() } else { root.join(p.name) };
            let record = burn::optim::OptimizerRecord::load(dir.join("optimizer.bpk"))
                .map_err(|e| bad(format!("{}/optimizer.bpk: {e:?}", p.name)))?;
            let optim = std::mem::replace(&mut p.optim, optimizer(&self.settings));
            p.optim = optim.load_record(record);
        }
        Ok(fresh)
    }
}

/// Builds the optimizer the settings name. Adam and AdamW are Strata's
/// ([`crate::engine::optim`]: one parallel pass per parameter on the CPU, Burn's state).
pub fn optimizer(s: &TrainingSettings) -> ModuleOptimizer {
    let clip = s.grad_clip.map(|c| GradientClippingConfig::Norm(c as f32));
    let decay = (s.weight_decay > 0.0).then(|| WeightDecayConfig::new(s.weight_decay as f32));
    let moments = optim::Moments {
        max_norm: s.grad_clip.map(|c| c as f32),
        ..optim::Moments::default()
    };
    match s.optimizer {
        Optimizer::Adam => optim::adam(moments, s.weight_decay.max(0.0) as f32),
        Optimizer::AdamW => optim::adamw(moments, s.weight_decay as f32),
        Optimizer::Sgd => SgdConfig::new()
            .with_weight_decay(decay)
            .with_momentum(
                (s.momentum > 0.0).then(|| MomentumConfig::new().with_momentum(s.momentum).with_dampening(0.0)),
            )
            .with_gradient_clipping(clip)
            .init(),
    }
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

/// A per-step seed: dropout masks and noise are the same whether or not a run was resumed.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9).wrapping_add(step)
}

/// A float tensor value of rank 1–4 from row-major data.
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

/// Standard normal noise of `dims` (rank 1–4).
pub fn noise(dims: &[usize], device: &Device) -> Value {
    let d = Distribution::Normal(0.0, 1.0);
    match *dims {
        [b, n] => Value::F2(Tensor::random([b, n], d, device)),
        [b, t, n] => Value::F3(Tensor::random([b, t, n], d, device)),
        [b, c, h, w] => Value::F4(Tensor::random([b, c, h, w], d, device)),
        _ => Value::F1(Tensor::random([dims.iter().product::<usize>().max(1)], d, device)),
    }
}

/// `checkpoint.json`: where a run stands, beside the weight files of its networks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Format of this file (1).
    pub format: u32,
    /// Steps done.
    pub step: u64,
    /// Finished epochs of the data order.
    pub epoch: u64,
    /// Position in the current epoch.
    pub cursor: usize,
    /// The run's seed.
    pub seed: u64,
    /// Kept for older checkpoints; unused.
    #[serde(default)]
    pub lr_scale: f64,
    /// Node keys saved (of the first network).
    pub nodes: Vec<String>,
}

impl Manifest {
    /// Writes `dir/checkpoint.json`.
    pub fn save(&self, dir: &Path) -> Result<(), RunError> {
        let fail = |m: String| RunError::Failed(format!("checkpoint {}: {m}", dir.display()));
        let text = serde_json::to_string_pretty(self).map_err(|e| fail(e.to_string()))?;
        std::fs::write(dir.join("checkpoint.json"), text).map_err(|e| fail(e.to_string()))
    }

    /// Reads `dir/checkpoint.json`.
    pub fn load(dir: &Path) -> Result<Manifest, RunError> {
        let bad = |m: String| RunError::BadInput(format!("cannot resume from {}: {m}", dir.display()));
        let text = std::fs::read_to_string(dir.join("checkpoint.json")).map_err(|e| bad(e.to_string()))?;
        let c: Manifest = serde_json::from_str(&text).map_err(|e| bad(format!("checkpoint.json: {e}")))?;
        if c.format != 1 {
            return Err(bad(format!("checkpoint format {} is not supported", c.format)));
        }
        Ok(c)
    }
}

/// Saves a run of one network: weights, optimizer, position.
fn save_single(net: &Network, batches: &Batches, step: u64, seed: u64, dir: &Path) -> Result<(), RunError> {
    let nodes = net.save(dir, true)?;
    let (epoch, cursor) = batches.position();
    Manifest {
        format: 1,
        step,
        epoch,
        cursor,
        seed,
        lr_scale: 1.0,
        nodes,
    }
    .save(dir)
}

/// Restores what [`save_single`] wrote; returns (step, fresh node keys).
fn resume_single(net: &mut Network, batches: &mut Batches, dir: &Path) -> Result<(u64, Vec<String>), RunError> {
    if !dir.join("checkpoint.json").exists() && dir.join("nodes").is_dir() {
        // A folder of weights only (`strata import`, `strata weights`): train on from them, at step 0.
        let fresh = net.load(dir, true)?;
        return Ok((0, fresh));
    }
    let m = Manifest::load(dir)?;
    let fresh = net.load(dir, true)?;
    batches.restore(m.epoch, m.cursor);
    Ok((m.step, fresh))
}

/// Fraction of a dataset held out for validation when it has no official test split.
pub const VAL_FRACTION: f64 = 0.2;

/// A labelled dataset loaded for a run: the data, its seeded split, padding and feature statistics.
pub struct Examples {
    /// The data.
    pub data: Dataset,
    /// Train / validation indices.
    pub split: Split,
    /// Pixels of zero padding on each side of images (dataset option `pad_to`).
    pub pad: usize,
    /// Per-feature mean and standard deviation over the training split (tabular data).
    pub stats: Option<(Vec<f32>, Vec<f32>)>,
}

impl Examples {
    /// Loads the project's dataset (relative paths against `data_dir`) and splits it with `seed`.
    pub fn load(project: &Project, data_dir: Option<&Path>, seed: u64) -> Result<Self, RunError> {
        let dataset_id = project.dataset.id.as_str();
        if dataset_id.is_empty() {
            return Err(RunError::BadInput(
                "the project has no dataset — choose one of: ".to_owned() + &data::builtin_ids().join(", "),
            ));
        }
        let data = data::load(dataset_id, &project.dataset.options, data_dir).map_err(RunError::BadInput)?;
        let pad_to = project
            .dataset
            .options
            .get("pad_to")
            .and_then(ParamValue::as_int)
            .and_then(|p| usize::try_from(p).ok())
            .unwrap_or(0);
        let pad = if pad_to > 0 && data.shape.len() == 3 {
            pad_to.saturating_sub(data.shape[1]) / 2
        } else {
            0
        };
        if data.len() < 2 {
            return Err(RunError::BadInput(format!(
                "the dataset {} has fewer than two examples",
                data.name
            )));
        }
        let split = data.split(seed, VAL_FRACTION);
        let stats = data.feature_stats(&split.train);
        Ok(Examples {
            data,
            split,
            pad,
            stats,
        })
    }

    /// The shape of one example as fed (padding included).
    pub fn example_dims(&self) -> Vec<usize> {
        let mut want = self.data.shape.clone();
        if self.pad > 0 {
            want[1] += 2 * self.pad;
            want[2] += 2 * self.pad;
        }
        want
    }

    /// Checks that input `node` takes one example per batch row; the message says what to set.
    pub fn check_input(&self, project: &Project, node: &Node) -> Result<(), RunError> {
        let dims: Vec<String> = node
            .params
            .get("shape")
            .and_then(|v| v.as_list().map(|l| l.iter().map(|d| d.to_string()).collect()))
            .unwrap_or_default();
        let given: Vec<String> = self.example_dims().iter().map(|d| d.to_string()).collect();
        if dims.len() != given.len() + 1 || dims[1..] != given[..] {
            return Err(RunError::BadInput(format!(
                "input '{}' expects [{}] but dataset {} gives [B, {}] — set the input's shape to [B, {}]{}",
                crate::catalog::display_title(project, node),
                dims.join(", "),
                self.data.name,
                given.join(", "),
                given.join(", "),
                if self.data.shape.len() == 3 {
                    " or the dataset option pad_to"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// Features of examples `idx` (standardised when `normalize` and the data are tabular).
    pub fn features(&self, idx: &[usize], normalize: bool, device: &Device) -> Value {
        let (mut x, dims) = self.data.batch_features(idx, self.pad);
        if normalize && let Some((mean, std)) = &self.stats {
            let per = mean.len();
            for (i, v) in x.iter_mut().enumerate() {
                *v = (*v - mean[i % per]) / std[i % per];
            }
        }
        to_value(x, &dims, device)
    }

    /// Class labels of examples `idx`.
    pub fn labels(&self, idx: &[usize], device: &Device) -> Tensor<1, Int> {
        let y = self.data.batch_labels(idx);
        Tensor::<1, Int>::from_data(TensorData::new(y, [idx.len()]), device)
    }
}

/// Drawn points (orange) over as many training points (blue), first two of `dim` values each:
/// the samples view of 2-D generative recipes.
pub fn samples_over_data(ex: &Examples, dim: usize, drawn: &[f32]) -> crate::telemetry::Scatter {
    let d = dim.max(1);
    let idx: Vec<usize> = ex.split.train.iter().copied().take(drawn.len() / d).collect();
    let (data, _) = ex.data.batch_features(&idx, 0);
    let two = |p: &[f32]| [p[0], p.get(1).copied().unwrap_or(0.0)];
    let mut points: Vec<[f32; 2]> = data.chunks(d).map(two).collect();
    let mut group_of = vec![0u16; points.len()];
    points.extend(drawn.chunks(d).map(two));
    group_of.resize(points.len(), 1);
    crate::telemetry::Scatter {
        points,
        group_of,
        groups: vec!["data".into(), "samples".into()],
    }
}

/// `n` images (`c × h × w` each, row-major in `px`) in a grid `cols` wide with 2-pixel gaps;
/// values in `lo..hi` map to black..white.
pub fn image_grid(px: &[f32], n: usize, [c, h, w]: [usize; 3], cols: usize, (lo, hi): (f32, f32)) -> Picture {
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let gap = 2;
    let (width, height) = (cols * (w + gap) + gap, rows * (h + gap) + gap);
    let mut rgb = vec![32u8; width * height * 3];
    let per = c * h * w;
    let span = (hi - lo).max(1e-6);
    for k in 0..n {
        let (ox, oy) = (gap + (k % cols) * (w + gap), gap + (k / cols) * (h + gap));
        for y in 0..h {
            for x in 0..w {
                let v = |ch: usize| {
                    let raw = px.get(k * per + ch * h * w + y * w + x).copied().unwrap_or(lo);
                    (((raw - lo) / span).clamp(0.0, 1.0) * 255.0) as u8
                };
                let colour = if c >= 3 { [v(0), v(1), v(2)] } else { [v(0); 3] };
                let o = ((oy + y) * width + ox + x) * 3;
                rgb[o..o + 3].copy_from_slice(&colour);
            }
        }
    }
    Picture { width, height, rgb }
}

/// What every recipe that trains one network on batches of one split keeps: the network, the
/// data order, the steps done and the settings — with the step bookkeeping, the optimizer step
/// at the scheduled rate, and the checkpoint, written once here.
pub struct Trainee {
    /// The network.
    pub net: Network,
    /// The data order.
    pub batches: Batches,
    /// Steps done.
    pub step: u64,
    /// Training settings (seed included).
    pub settings: TrainingSettings,
}

impl Trainee {
    /// A network `name` trained on batches drawn from `pool`.
    pub fn new(name: &'static str, model: GraphModel, pool: Vec<usize>, settings: &TrainingSettings) -> Self {
        Trainee {
            net: Network::new(name, model, settings),
            batches: Batches::new(pool, settings.batch_size as usize, settings.seed),
            step: 0,
            settings: settings.clone(),
        }
    }

    /// The next batch and this step's seed; `device`'s generator is seeded with it, so noise and
    /// dropout are the same whether or not the run was resumed.
    pub fn next(&mut self, device: &Device) -> (Vec<usize>, u64) {
        let seed = step_seed(self.settings.seed, self.step);
        device.seed(seed);
        (self.batches.next_batch(), seed)
    }

    /// Backpropagates `loss`, steps the optimizer at the scheduled rate and counts the step;
    /// returns `extra` with `lr` and `loss` added.
    pub fn descend(
        &mut self,
        loss: Tensor<1>,
        cx: &super::StepCx,
        extra: super::Pending,
    ) -> Result<super::Pending, RunError> {
        let lr = learning_rate(&self.settings, self.step, cx.total_steps) * cx.lr_scale;
        let mut pending = extra.with("lr", lr).with_tensor("loss", loss.clone());
        // Auxiliary losses the layers left (mixture-of-experts balance) train with the loss.
        let loss = match &cx.aux {
            Some(aux) => {
                pending = pending.with_tensor("balance_loss", aux.clone());
                loss + aux.clone()
            }
            None => loss,
        };
        self.net.descend(loss, lr)?;
        self.step += 1;
        Ok(pending)
    }

    /// Writes a checkpoint.
    pub fn save(&self, dir: &Path) -> Result<(), RunError> {
        save_single(&self.net, &self.batches, self.step, self.settings.seed, dir)
    }

    /// Continues from a checkpoint; returns the nodes that start fresh.
    pub fn resume(&mut self, dir: &Path) -> Result<Vec<String>, RunError> {
        let (step, fresh) = resume_single(&mut self.net, &mut self.batches, dir)?;
        self.step = step;
        Ok(fresh)
    }
}

/// Loads the project's dataset when it is of `kind`; otherwise names what the recipe learns from
/// (`what`, e.g. "a graph") and every source of that kind in the registry.
pub fn load_data(
    project: &Project,
    data_dir: Option<&Path>,
    kind: crate::catalog::DataKind,
    recipe: &str,
    what: &str,
) -> Result<Dataset, RunError> {
    let id = project.dataset.id.as_str();
    let Some(spec) = data::sources::source(id).filter(|s| s.kind == kind) else {
        let ids: Vec<String> = data::sources::SOURCES
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| format!("'{}'", s.id))
            .collect();
        return Err(RunError::BadInput(format!(
            "the {recipe} recipe learns from {what}: choose {} as the dataset (the project's dataset is '{id}')",
            ids.join(" or ")
        )));
    };
    (spec.load)(id, &project.dataset.options, data_dir).map_err(RunError::BadInput)
}

/// A confusion matrix view from (true class, predicted class) pairs.
pub fn confusion_view(classes: &[String], pairs: impl Iterator<Item = (usize, usize)>) -> crate::telemetry::View {
    let c = classes.len().max(1);
    let mut values = vec![vec![0f64; c]; c];
    for (truth, predicted) in pairs {
        values[truth.min(c - 1)][predicted.min(c - 1)] += 1.0;
    }
    crate::telemetry::View::Matrix(crate::telemetry::Matrix {
        rows_are: "true class".into(),
        cols_are: "predicted class".into(),
        row_labels: classes.to_vec(),
        col_labels: classes.to_vec(),
        values,
    })
}

/// An exponential moving average of a network's weights (Polyak averaging), the weights DDPM
/// samples with (Ho et al. 2020). The decay warms up as min(decay, (1+t)/(10+t)) so early
/// averages do not hold on to the random start.
pub struct Ema {
    decay: f64,
    updates: u64,
    model: Option<GraphModel>,
}

impl Ema {
    /// An empty average; `decay` 0 keeps none (sampling uses the raw weights).
    pub fn new(decay: f64) -> Self {
        Ema {
            decay: decay.clamp(0.0, 0.999_999),
            updates: 0,
            model: None,
        }
    }

    /// Folds `current` (an inference copy of the network) into the average.
    pub fn update(&mut self, current: GraphModel) {
        if self.decay <= 0.0 {
            return;
        }
        self.updates += 1;
        let t = self.updates as f64;
        let d = self.decay.min((1.0 + t) / (10.0 + t));
        self.model = Some(match self.model.take() {
            None => current,
            Some(avg) => {
                let mut grab = Grab(std::collections::HashMap::new());
                current.visit(&mut grab);
                avg.map(&mut Blend {
                    current: grab.0,
                    decay: d,
                })
            }
        });
    }

    /// The averaged weights, once there are any.
    pub fn model(&self) -> Option<&GraphModel> {
        self.model.as_ref()
    }
}

/// Every float parameter, flattened, by id.
struct Grab(std::collections::HashMap<burn::module::ParamId, Tensor<1>>);

impl burn::module::ModuleVisitor for Grab {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let v = param.val();
        let n = v.shape().num_elements();
        self.0.insert(param.id, v.reshape([n]));
    }
}

/// avg ← decay·avg + (1 − decay)·current, parameter by parameter.
struct Blend {
    current: std::collections::HashMap<burn::module::ParamId, Tensor<1>>,
    decay: f64,
}

impl burn::module::ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        let Some(cur) = self.current.get(&param.id).cloned() else {
            return param;
        };
        let d = self.decay;
        param.map(|avg| {
            let shape = avg.shape();
            avg.mul_scalar(d) + cur.reshape(shape).mul_scalar(1.0 - d)
        })
    }
}

/// The example-weighted mean of `loss` over `chunks` of validation examples (one read-back per
/// chunk): the validation loss of recipes whose loss is a mean over examples.
pub fn mean_loss<'a>(
    chunks: impl Iterator<Item = &'a [usize]>,
    mut loss: impl FnMut(&[usize]) -> Result<Tensor<1>, RunError>,
) -> Result<f64, RunError> {
    let (mut sum, mut seen) = (0f64, 0usize);
    for chunk in chunks {
        sum += f64::from(loss(chunk)?.into_scalar::<f32>()) * chunk.len() as f64;
        seen += chunk.len();
    }
    Ok(sum / seen.max(1) as f64)
}
