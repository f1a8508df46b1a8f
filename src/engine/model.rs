//! Compiling a checked project into one Burn module and running it forward.

use super::ops::{self, BuildCtx, ForwardFn, Layer, StepParams};
use super::value::Value;
use crate::catalog::{self, DType};
use crate::doc::{NodeId, Project};
use crate::shape::{self, Diagnostic, Severity};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use std::collections::HashMap;

/// Why a project could not be compiled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompileError {
    /// The checker found errors; they are listed.
    #[error("the graph has {} error(s); first: {}", .0.len(), .0.first().map(|d| d.message.as_str()).unwrap_or(""))]
    Invalid(Vec<Diagnostic>),
    /// Blocks could not be expanded.
    #[error("{0}")]
    Expand(#[from] shape::ExpandError),
    /// A kind the engine cannot run yet.
    #[error("node '{title}' ({kind}) cannot be trained yet: the engine has no implementation of this kind")]
    Unsupported {
        /// Node title.
        title: String,
        /// Kind id.
        kind: String,
    },
    /// A builder refused the node.
    #[error("node '{title}': {message}")]
    Build {
        /// Node title.
        title: String,
        /// Why.
        message: String,
    },
}

/// One node of the flat graph, ready to run.
#[derive(Clone, Debug)]
pub struct Step {
    /// Flat node id.
    pub id: NodeId,
    /// Stable key (top-level id, copy, inner ids) used for checkpoints and activations.
    pub key: String,
    /// Top-level node this belongs to (a block instance for nodes inside blocks).
    pub top: NodeId,
    /// Display title.
    pub title: String,
    /// Kind id.
    pub kind: String,
    /// Parameters.
    pub params: StepParams,
    /// For each input port: (step index, output index), or `None` for an unconnected optional port.
    pub inputs: Vec<Option<(usize, usize)>>,
    /// Index into [`GraphModel::layers`].
    pub layer: Option<usize>,
    /// Forward function.
    pub forward: ForwardFn,
}

/// An `input` node of the compiled graph: what feeds it is the recipe's business.
#[derive(Clone, Debug)]
pub struct InputSlot {
    /// Its step.
    pub step: usize,
    /// Dataset field it is bound to (the feed's key).
    pub field: String,
    /// Element type.
    pub dtype: DType,
    /// Where values come from: `dataset`, `noise`, `timestep`, `environment`.
    pub source: String,
    /// Its checked shape (batch and other symbols unknown).
    pub dims: Vec<Option<usize>>,
}

/// The run order and wiring of a compiled graph.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Steps in topological order.
    pub steps: Vec<Step>,
    /// Input steps.
    pub inputs: Vec<InputSlot>,
    /// Output steps: (step, role).
    pub outputs: Vec<(usize, String)>,
}

impl Plan {
    /// A name for output step `step`: the title of the node wired into it ("reconstruction loss").
    pub fn output_source_title(&self, step: usize) -> String {
        self.steps
            .get(step)
            .and_then(|s| s.inputs.first().copied().flatten())
            .and_then(|(src, _)| self.steps.get(src))
            .map_or_else(|| format!("output {step}"), |s| s.title.clone())
    }

    /// Roles of the graph's outputs (with repeats, in run order).
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().map(|(_, r)| r.as_str())
    }

    /// True when some output has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role)
    }

    /// Which steps must run to produce the outputs with these roles (all when `roles` is `None`).
    pub fn needed(&self, roles: Option<&[&str]>) -> Vec<bool> {
        self.needed_given(roles, &[])
    }

    /// Like [`Plan::needed`], where the outputs of steps `given` are supplied from outside:
    /// what only feeds them need not run.
    pub fn needed_given(&self, roles: Option<&[&str]>, given: &[usize]) -> Vec<bool> {
        let Some(roles) = roles else {
            return vec![true; self.steps.len()];
        };
        let mut need = vec![false; self.steps.len()];
        let mut stack: Vec<usize> = self
            .outputs
            .iter()
            .filter(|(_, r)| roles.contains(&r.as_str()))
            .map(|(s, _)| *s)
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut need[i], true) || given.contains(&i) {
                continue;
            }
            stack.extend(self.steps[i].inputs.iter().flatten().map(|(src, _)| *src));
        }
        need
    }

    /// The step and output index wired into the (first) output with `role`: where a recipe
    /// injects a value in place of what the graph computes there (real images in place of a
    /// generator's fakes, a latent in place of an encoder's code).
    pub fn source_of(&self, role: &str) -> Option<(usize, usize)> {
        let (step, _) = self.outputs.iter().find(|(_, r)| r == role)?;
        self.steps.get(*step)?.inputs.first().copied().flatten()
    }

    /// The inputs a run for `roles` reads.
    pub fn inputs_for(&self, roles: Option<&[&str]>) -> Vec<&InputSlot> {
        let need = self.needed(roles);
        self.inputs.iter().filter(|i| need[i.step]).collect()
    }
}

/// A compiled graph: one Burn module whose layers run in the plan's order.
#[derive(Module, Debug)]
pub struct GraphModel {
    /// The learned layers, one per stateful node.
    pub layers: Vec<Layer>,
    /// How values flow.
    #[module(skip)]
    pub plan: Plan,
}

/// A forward pass failed at a node.
#[derive(Debug, Clone, thiserror::Error)]
#[error("node '{title}': {message}")]
pub struct ForwardError {
    /// Node title.
    pub title: String,
    /// Top-level node.
    pub node: NodeId,
    /// What went wrong.
    pub message: String,
}

/// Compiles `project` for `device`: checks it, expands its blocks, builds every layer.
/// What the recipe asks of the graph (roles, settings) is checked by the recipe, not here.
pub fn compile(project: &Project, device: &Device) -> Result<GraphModel, CompileError> {
    let report = shape::check_graph(project);
    if !report.is_valid() {
        return Err(CompileError::Invalid(
            report
                .diagnostics
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect(),
        ));
    }
    let flat = shape::expand(project)?;
    let g = &flat.project.graph;
    let flat_report = shape::check_graph(&flat.project);
    let (order, _) = g.topological_order();
    let mut index_of_step: HashMap<NodeId, usize> = HashMap::new();
    let mut plan = Plan::default();
    let mut layers = Vec::new();
    for i in order {
        let node = &g.nodes[i];
        let title = catalog::display_title(&flat.project, node);
        let spec = catalog::catalog()
            .get(&node.kind)
            .ok_or_else(|| CompileError::Unsupported {
                title: title.clone(),
                kind: node.kind.clone(),
            })?;
        let op = ops::ops()
            .get(node.kind.as_str())
            .ok_or_else(|| CompileError::Unsupported {
                title: title.clone(),
                kind: node.kind.clone(),
            })?;
        let in_ports = spec.input_ports(&node.params);
        let mut inputs = Vec::with_capacity(in_ports.len());
        let mut in_types = Vec::with_capacity(in_ports.len());
        for p in in_ports.iter() {
            match g.wires.iter().find(|w| w.to == node.id && w.input == p.name) {
                Some(w) => {
                    let src = g.node(w.from).ok_or_else(|| CompileError::Build {
                        title: title.clone(),
                        message: format!("input {} comes from a missing node", p.name),
                    })?;
                    let src_spec = catalog::catalog().get(&src.kind);
                    let out_idx = src_spec
                        .map(|s| s.output_ports(&src.params))
                        .and_then(|ports| ports.iter().position(|q| q.name == w.out))
                        .unwrap_or(0);
                    let step = *index_of_step.get(&w.from).ok_or_else(|| CompileError::Build {
                        title: title.clone(),
                        message: "wired from a node that runs later (cycle?)".into(),
                    })?;
                    inputs.push(Some((step, out_idx)));
                    in_types.push(flat_report.output_type(w.from, &w.out).cloned());
                }
                None => {
                    inputs.push(None);
                    in_types.push(None);
                }
            }
        }
        let ctx = BuildCtx {
            spec,
            params: &node.params,
            inputs: &in_types,
            device,
            project,
        };
        let layer = (op.build)(&ctx).map_err(|message| CompileError::Build {
            title: title.clone(),
            message,
        })?;
        let layer_idx = layer.map(|l| {
            layers.push(l);
            layers.len() - 1
        });
        let origin = flat.origins.get(&node.id);
        let step_idx = plan.steps.len();
        if node.kind == "input" {
            let field = ctx_text(spec, &node.params, "field");
            let dtype = if ctx_text(spec, &node.params, "dtype") == "int" {
                DType::Int
            } else {
                DType::Float
            };
            let source = ctx_text(spec, &node.params, "source");
            let dims = flat_report
                .node(node.id)
                .and_then(|r| r.outputs.first())
                .and_then(|(_, t)| t.as_ref())
                .map(|t| t.dims.iter().map(|d| d.known().map(|k| k as usize)).collect())
                .unwrap_or_default();
            plan.inputs.push(InputSlot {
                step: step_idx,
                field,
                dtype,
                source,
                dims,
            });
        }
        if node.kind == "output" {
            plan.outputs.push((step_idx, ctx_text(spec, &node.params, "role")));
        }
        plan.steps.push(Step {
            id: node.id,
            key: origin.map(|o| o.key()).unwrap_or_else(|| node.id.0.to_string()),
            top: origin.map(|o| o.top).unwrap_or(node.id),
            title,
            kind: node.kind.clone(),
            params: StepParams::new(
                spec,
                node.params.clone(),
                in_types.clone(),
                flat_report
                    .node(node.id)
                    .map(|r| r.outputs.iter().map(|(_, t)| t.clone()).collect())
                    .unwrap_or_default(),
            ),
            inputs,
            layer: layer_idx,
            forward: op.forward,
        });
        index_of_step.insert(node.id, step_idx);
    }
    Ok(GraphModel { layers, plan })
}

/// Compiles block `block_id` of `project` as a network of its own that maps one token
/// `[tokens, dim]` (fed as field `x`) to output role `prediction`: what a layer that runs a block
/// inside itself (a block expert) holds. Every layer inside must act on each token alone.
pub fn compile_block(project: &Project, block_id: &str, dim: usize, device: &Device) -> Result<GraphModel, String> {
    let mini = block_as_project(project, block_id, dim)?;
    let def_name = project.block(block_id).map(|d| d.name.clone()).unwrap_or_default();
    let model = compile(&mini, device).map_err(|e| format!("block '{def_name}': {e}"))?;
    if let Some(s) = model.plan.steps.iter().find(|s| {
        ops::ops()
            .get(s.kind.as_str())
            .is_none_or(|o| o.decode != ops::Decode::Alone)
    }) {
        return Err(format!(
            "'{}' inside block '{}' mixes positions; a block run token by token (an expert) may hold only layers that act on each token alone",
            s.title, def_name
        ));
    }
    Ok(model)
}

/// Block `block_id` of `project` as a project of its own: its input port fed `[B, dim]` as field
/// `x`, its output port the role `prediction` (what [`compile_block`] compiles).
pub fn block_as_project(project: &Project, block_id: &str, dim: usize) -> Result<Project, String> {
    use crate::doc::{PORT_IN_KIND, PORT_OUT_KIND, ParamValue};
    let def = project
        .block(block_id)
        .ok_or_else(|| format!("there is no block '{block_id}'"))?;
    let mut mini = project.clone();
    mini.graph = def.graph.clone();
    for n in &mut mini.graph.nodes {
        if n.kind == PORT_IN_KIND {
            n.kind = "input".into();
            n.params.clear();
            n.params.insert("field".into(), ParamValue::Text("x".into()));
            n.params.insert(
                "shape".into(),
                ParamValue::List(vec![ParamValue::Text("B".into()), ParamValue::Int(dim as i64)]),
            );
        } else if n.kind == PORT_OUT_KIND {
            n.kind = "output".into();
            n.params.clear();
            n.params.insert("role".into(), ParamValue::Text("prediction".into()));
        }
    }
    mini.name = def.name.clone();
    mini.description = def.description.clone();
    Ok(mini)
}

/// Collects the ids of every float parameter a module holds.
struct ParamIds(Vec<burn::module::ParamId>);

impl burn::module::ModuleVisitor for ParamIds {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        self.0.push(param.id);
    }
}

/// File name of a node's weights: its key with `/` as `_`.
fn node_file(key: &str) -> String {
    format!("{}.bpk", key.replace('/', "_"))
}

fn ctx_text(spec: &catalog::LayerSpec, params: &crate::doc::Params, name: &str) -> String {
    params
        .get(name)
        .cloned()
        .or_else(|| spec.param(name).map(|p| p.default.to_value()))
        .and_then(|v| v.as_text().map(str::to_owned))
        .unwrap_or_default()
}

/// What a forward pass produced.
pub struct Forward {
    /// Output values by role (the first output of each role).
    pub outputs: HashMap<String, Value>,
    /// Every output that ran: (its step, role, value), in run order (roles such as `loss` may repeat).
    pub every: Vec<(usize, String, Value)>,
    /// Every step's outputs (kept only when asked for, e.g. to find the first non-finite node).
    pub all: Option<Vec<Vec<Value>>>,
    /// The watched node's output, when one was asked for.
    pub tapped: Option<Value>,
    /// Auxiliary losses the layers left (mixture-of-experts balance), summed; added to the
    /// training loss.
    pub aux: Option<Tensor<1>>,
    /// Each mixture-of-experts layer's share of tokens per expert, in run order.
    pub router_loads: Vec<Vec<f32>>,
}

impl GraphModel {
    /// Whether the graph can be run on new tokens alone inside a decode session (a KV cache):
    /// every layer acts position by position, except causal self-attention (see
    /// [`super::ops::decode`]).
    pub fn can_decode(&self) -> bool {
        use super::ops::Decode;
        self.plan
            .steps
            .iter()
            .all(|s| match super::ops::ops().get(s.kind.as_str()).map(|o| o.decode) {
                Some(Decode::Alone) => true,
                Some(Decode::CausalSelfAttention) => {
                    s.params.bool("causal") && s.inputs.get(1).is_none_or(Option::is_none)
                }
                Some(Decode::Never) | None => false,
            })
    }

    /// Runs the graph. `feed` maps dataset fields to values for the input nodes.
    pub fn forward(&self, feed: &HashMap<String, Value>, keep_all: bool) -> Result<Forward, ForwardError> {
        self.forward_tapped(feed, keep_all, None)
    }

    /// Like [`GraphModel::forward`], also handing back the output of top-level node `tap`
    /// (for a block instance: its last inner node) so it can be shown while training.
    pub fn forward_tapped(
        &self,
        feed: &HashMap<String, Value>,
        keep_all: bool,
        tap: Option<NodeId>,
    ) -> Result<Forward, ForwardError> {
        self.run(None, feed, keep_all, tap)
    }

    /// Runs only the sub-graph that feeds the outputs with `roles` (everything when `None`):
    /// inputs outside it need no feed. Values are injected at inputs through `feed` (keyed by
    /// the input's field): data, noise, a timestep, a latent.
    pub fn run(
        &self,
        roles: Option<&[&str]>,
        feed: &HashMap<String, Value>,
        keep_all: bool,
        tap: Option<NodeId>,
    ) -> Result<Forward, ForwardError> {
        self.run_with(roles, feed, &HashMap::new(), keep_all, tap)
    }

    /// Like [`GraphModel::run`], with values injected in place of some steps' outputs:
    /// `overrides[(step, output)]` is used instead of computing that step (and what only feeds it).
    pub fn run_with(
        &self,
        roles: Option<&[&str]>,
        feed: &HashMap<String, Value>,
        overrides: &HashMap<(usize, usize), Value>,
        keep_all: bool,
        tap: Option<NodeId>,
    ) -> Result<Forward, ForwardError> {
        super::ops::moe::begin_pass();
        let mut f = self.run_inside(roles, feed, overrides, keep_all, tap)?;
        (f.aux, f.router_loads) = super::ops::moe::end_pass();
        Ok(f)
    }

    /// Runs the graph as part of an enclosing pass (a block run inside a layer, e.g. an expert):
    /// what its layers leave beside their outputs (balance losses, router loads) joins the
    /// enclosing pass's instead of starting a new one. `aux` and `router_loads` stay empty.
    pub fn run_inside(
        &self,
        roles: Option<&[&str]>,
        feed: &HashMap<String, Value>,
        overrides: &HashMap<(usize, usize), Value>,
        keep_all: bool,
        tap: Option<NodeId>,
    ) -> Result<Forward, ForwardError> {
        let steps = &self.plan.steps;
        let given: Vec<usize> = overrides.keys().map(|(s, _)| *s).collect();
        let need = self.plan.needed_given(roles, &given);
        let mut tapped = None;
        let mut values: Vec<Vec<Value>> = Vec::with_capacity(steps.len());
        // The last step that reads each step's outputs: after it, they are dropped (unless every
        // value is kept or the step is an output), so an inference pass holds only the live
        // tensors, not every node's output at once. (With autodiff the graph keeps what the
        // backward pass needs either way.)
        let mut last_use: Vec<usize> = (0..steps.len()).collect();
        if !keep_all {
            for (i, s) in steps.iter().enumerate() {
                for (src, _) in s.inputs.iter().flatten() {
                    last_use[*src] = last_use[*src].max(i);
                }
            }
            for (o, _) in &self.plan.outputs {
                last_use[*o] = usize::MAX;
            }
        }
        let err = |s: &Step, message: String| ForwardError {
            title: s.title.clone(),
            node: s.top,
            message,
        };
        for (i, s) in steps.iter().enumerate() {
            if !need[i] {
                values.push(Vec::new());
                continue;
            }
            if given.contains(&i) {
                let n = s.params.out_types.len().max(1);
                let outs: Vec<Value> = (0..n)
                    .map(|k| overrides.get(&(i, k)).or_else(|| overrides.get(&(i, 0))).cloned())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| err(s, "an injected value is missing".into()))?;
                values.push(outs);
                continue;
            }
            let mut inputs = Vec::with_capacity(s.inputs.len());
            if s.kind == "input" {
                let field = s.params.text("field");
                let v = feed
                    .get(&field)
                    .ok_or_else(|| err(s, format!("the data has no field '{field}' for this input")))?;
                inputs.push(v.clone());
            }
            for (src, out) in s.inputs.iter().flatten() {
                let v = values
                    .get(*src)
                    .and_then(|o| o.get(*out))
                    .ok_or_else(|| err(s, "an input value is missing".into()))?;
                inputs.push(v.clone());
            }
            let layer = s.layer.and_then(|i| self.layers.get(i));
            let out = (s.forward)(&s.params, layer, inputs).map_err(|m| err(s, m))?;
            if tap == Some(s.top) && !s.params.out_types.is_empty() {
                tapped = out.first().cloned();
            }
            values.push(out);
            if !keep_all {
                for (src, _) in s.inputs.iter().flatten() {
                    if last_use[*src] == i {
                        values[*src] = Vec::new();
                    }
                }
            }
        }
        let mut outputs = HashMap::new();
        let mut every = Vec::new();
        for (step, role) in &self.plan.outputs {
            if let Some(v) = values.get(*step).and_then(|o| o.first()) {
                outputs.entry(role.clone()).or_insert_with(|| v.clone());
                every.push((*step, role.clone(), v.clone()));
            }
        }
        Ok(Forward {
            outputs,
            every,
            all: keep_all.then_some(values),
            tapped,
            aux: None,
            router_loads: Vec::new(),
        })
    }

    /// How active each top-level node is: the mean absolute value of its (last) output, from the
    /// values of a forward pass run with `keep_all`. One device read for the whole graph.
    pub fn activity(&self, all: &[Vec<Value>]) -> Vec<(NodeId, f32)> {
        // Each top-level node's last step (a block expands into many): only those are measured.
        let mut last_step: HashMap<NodeId, usize> = HashMap::new();
        for (i, s) in self.plan.steps.iter().enumerate().take(all.len()) {
            last_step.insert(s.top, i);
        }
        let mut last: HashMap<NodeId, Tensor<1>> = HashMap::new();
        for (top, i) in last_step {
            if let Some(m) = all[i].first().and_then(Value::mean_abs) {
                last.insert(top, m);
            }
        }
        let mut ids: Vec<NodeId> = last.keys().copied().collect();
        ids.sort_unstable();
        let tensors: Vec<Tensor<1>> = ids.iter().filter_map(|id| last.remove(id)).collect();
        if tensors.is_empty() {
            return Vec::new();
        }
        let values: Vec<f32> = Tensor::cat(tensors, 0).into_data().iter::<f32>().collect();
        ids.into_iter().zip(values).collect()
    }

    /// The first step (in run order) whose output holds NaN or infinity, if any.
    pub fn first_non_finite(&self, feed: &HashMap<String, Value>) -> Option<(NodeId, String)> {
        let f = self.forward(feed, true).ok()?;
        let all = f.all?;
        for (s, outs) in self.plan.steps.iter().zip(&all) {
            if outs.iter().any(Value::non_finite) {
                return Some((s.top, s.title.clone()));
            }
        }
        None
    }

    /// Runs the graph and compares every node's real output shape with the checker's symbolic
    /// one (symbols bound from the node's own inputs). Returns the disagreements.
    pub fn shape_mismatches(&self, feed: &HashMap<String, Value>) -> Result<Vec<String>, ForwardError> {
        let f = self.forward(feed, true)?;
        let all = f.all.unwrap_or_default();
        let mut bad = Vec::new();
        for (s, outs) in self.plan.steps.iter().zip(&all) {
            if s.params.out_types.is_empty() {
                continue; // sinks (outputs) pass their input to the recipe
            }
            let in_dims: Vec<Vec<usize>> = if s.kind == "input" {
                Vec::new()
            } else {
                s.inputs
                    .iter()
                    .flatten()
                    .filter_map(|(src, o)| all.get(*src)?.get(*o).map(Value::dims))
                    .collect()
            };
            for (k, v) in outs.iter().enumerate() {
                let want = s.params.runtime_dims(k, &in_dims);
                let got = v.dims();
                let ok = want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| w.is_none_or(|w| w == *g));
                if !ok {
                    bad.push(format!(
                        "{} ({}): checker says {:?}, engine made {:?}",
                        s.title, s.kind, want, got
                    ));
                }
            }
        }
        Ok(bad)
    }

    /// Saves every layer to `dir/nodes/<key>.bpk`, one file per node (keyed by the node's stable
    /// origin key), so a checkpoint still loads into an edited graph.
    pub fn save_nodes(&self, dir: &std::path::Path) -> Result<Vec<String>, String> {
        let nodes = dir.join("nodes");
        std::fs::create_dir_all(&nodes).map_err(|e| format!("cannot create {}: {e}", nodes.display()))?;
        let mut saved = Vec::new();
        for s in &self.plan.steps {
            let Some(layer) = s.layer.and_then(|i| self.layers.get(i)) else {
                continue;
            };
            let path = nodes.join(node_file(&s.key));
            layer
                .clone()
                .save_file(&path)
                .map_err(|e| format!("cannot write {}: {e:?}", path.display()))?;
            saved.push(s.key.clone());
        }
        Ok(saved)
    }

    /// Loads each layer whose node has a file in `dir/nodes`; layers whose node is new or whose
    /// shape changed keep their fresh initialisation. Returns (restored keys, fresh keys).
    pub fn load_nodes(self, dir: &std::path::Path) -> (Self, Vec<String>, Vec<String>) {
        let GraphModel { layers, plan } = self;
        let mut slots: Vec<Option<Layer>> = layers.into_iter().map(Some).collect();
        let (mut restored, mut fresh) = (Vec::new(), Vec::new());
        for s in &plan.steps {
            let Some(i) = s.layer else { continue };
            let Some(layer) = slots.get_mut(i).and_then(Option::take) else {
                continue;
            };
            let path = dir.join("nodes").join(node_file(&s.key));
            let kept = if path.exists() {
                match layer.clone().try_load_file(&path) {
                    Ok(l) => {
                        restored.push(s.key.clone());
                        l
                    }
                    Err(_) => {
                        fresh.push(s.key.clone());
                        layer
                    }
                }
            } else {
                fresh.push(s.key.clone());
                layer
            };
            slots[i] = Some(kept);
        }
        let layers = slots.into_iter().flatten().collect();
        (GraphModel { layers, plan }, restored, fresh)
    }

    /// The parameter set of one network: the layers that feed the outputs with `roles` and do
    /// not feed `earlier` (the roles of networks declared before it). For a GAN, the critic's
    /// set excludes the generator that feeds it.
    pub fn network_params(&self, roles: &[&str], earlier: &[&str]) -> Vec<burn::module::ParamId> {
        let need = self.plan.needed(Some(roles));
        let before = self.plan.needed(Some(earlier));
        let mut ids = ParamIds(Vec::new());
        for (i, s) in self.plan.steps.iter().enumerate() {
            if need[i]
                && !before[i]
                && let Some(layer) = s.layer.and_then(|l| self.layers.get(l))
            {
                layer.visit(&mut ids);
            }
        }
        ids.0
    }

    /// Number of learned scalars.
    pub fn param_count(&self) -> usize {
        self.num_params()
    }
}
