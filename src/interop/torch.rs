//! A project as PyTorch source: one `nn.Module` per block definition and one for the model,
//! names from node titles, shapes in comments, weights with PyTorch's names.
//!
//! Each node's code comes from its kind's [`TorchFn`] (see [`super::exporters`]). A block used
//! several times with different sizes (DenseNet's dense layer sees more channels each time)
//! becomes one class whose differing numbers are constructor arguments.

use super::weights::NamedTensor;
use super::{Names, exporters, py_name};
use crate::catalog;
use crate::doc::{self, Graph, NodeId, Project};
use crate::engine::GraphModel;
use std::collections::HashMap;
use std::fmt::Write as _;

/// What a node's PyTorch exporter sees: the node (see [`super::node::NodeCtx`]; its inputs are
/// Python expressions), how the forward pass refers to its module, and the project.
pub struct TorchCtx<'a> {
    /// The node, its layer and its inputs.
    pub node: super::node::NodeCtx<'a>,
    /// How the forward pass refers to the node's module (`self.conv1`).
    pub module: String,
    /// The project (its blocks: layers that run a block inside, e.g. block experts).
    pub project: &'a Project,
}

impl<'a> std::ops::Deref for TorchCtx<'a> {
    type Target = super::node::NodeCtx<'a>;
    fn deref(&self) -> &Self::Target {
        &self.node
    }
}

/// A piece of Python that some exporters need (a layer PyTorch does not have), written once
/// at the top of `model.py`.
#[derive(Debug, PartialEq, Eq)]
pub struct Helper {
    /// Its name (a class or function), unique among helpers.
    pub name: &'static str,
    /// The source, at module level.
    pub code: &'static str,
}

impl Helper {
    /// The names the helper defines at module level (`def NAME`, `class NAME`): never used for
    /// local values.
    pub fn defines(&self) -> impl Iterator<Item = &'static str> {
        self.code.lines().filter_map(|l| {
            let rest = l.strip_prefix("def ").or_else(|| l.strip_prefix("class "))?;
            rest.split(['(', ':']).next().map(str::trim)
        })
    }
}

/// What one node becomes.
#[derive(Default)]
pub struct TorchNode {
    /// Its module's constructor (`nn.Linear(784, 128)`), or `None` for a functional op.
    pub module: Option<String>,
    /// The forward expression; a tuple for nodes with several outputs.
    pub expr: String,
    /// Its module's tensors, named relative to the module (`weight`, `bias`), in PyTorch layout.
    pub weights: Vec<NamedTensor>,
    /// Helpers the code uses.
    pub helpers: Vec<&'static Helper>,
    /// Classes the code uses that are written for this model (a block run as an expert).
    pub classes: Vec<String>,
}

impl TorchNode {
    /// A functional op: an expression only.
    pub fn expr(expr: impl Into<String>) -> TorchNode {
        TorchNode {
            expr: expr.into(),
            ..TorchNode::default()
        }
    }
    /// A module and how it is called.
    pub fn module(module: impl Into<String>, expr: impl Into<String>, weights: Vec<NamedTensor>) -> TorchNode {
        TorchNode {
            module: Some(module.into()),
            expr: expr.into(),
            weights,
            helpers: Vec::new(),
            classes: Vec::new(),
        }
    }
    /// Uses a helper.
    pub fn with(mut self, helper: &'static Helper) -> TorchNode {
        self.helpers.push(helper);
        self
    }
}

/// Turns a node into PyTorch code.
pub type TorchFn = fn(&TorchCtx) -> Result<TorchNode, String>;

/// The exported model.
pub struct TorchExport {
    /// The whole `model.py`.
    pub source: String,
    /// Every tensor of the state dict, by its PyTorch name.
    pub weights: Vec<NamedTensor>,
    /// The forward pass's arguments: (Python name, dataset field, integer?, checked dims).
    pub inputs: Vec<(String, String, bool, Vec<Option<usize>>)>,
    /// The keys of the dictionary the forward pass returns, with the step of each.
    pub outputs: Vec<(String, usize)>,
}

/// Python for the whole model.
pub fn export(project: &Project, model: &GraphModel) -> Result<TorchExport, String> {
    let parts = export_parts(project, model, "Model")?;
    let mut src = String::new();
    let _ = writeln!(src, "\"\"\"{} — exported from Strata.", project.name.replace('"', "'"));
    if !project.description.trim().is_empty() {
        let _ = writeln!(src, "\n{}", project.description.trim().replace("\"\"\"", "'''"));
    }
    src.push_str(
        "\nShapes in comments: B is the batch, T a sequence length, N a node count.\n\
         Load trained weights with `load_weights(model, \"weights.safetensors\")`.\n\"\"\"\n\n\
         import math\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n",
    );
    for h in &parts.helpers {
        src.push_str(h.code.trim());
        src.push_str("\n\n\n");
    }
    for c in &parts.classes {
        src.push_str(c);
        src.push_str("\n\n");
    }
    src.push_str(&parts.model_class);
    src.push_str(LOAD_WEIGHTS);
    Ok(TorchExport {
        source: src,
        weights: parts.weights,
        inputs: parts.inputs,
        outputs: parts.outputs,
    })
}

/// A model's code in pieces, for [`export`] and for a model nested in a layer (a block run as
/// an expert).
pub struct Parts {
    /// Helpers used.
    pub helpers: Vec<&'static Helper>,
    /// Classes it needs, in order (nested models, blocks).
    pub classes: Vec<String>,
    /// The model's own class.
    pub model_class: String,
    /// Its state dict.
    pub weights: Vec<NamedTensor>,
    /// Its forward pass's arguments: (Python name, dataset field, integer?, checked dims).
    pub inputs: Vec<(String, String, bool, Vec<Option<usize>>)>,
    /// The keys of the dictionary it returns, with the step of each.
    pub outputs: Vec<(String, usize)>,
}

/// The pieces of `model`'s code, its class named `name`.
pub fn export_parts(project: &Project, model: &GraphModel, name: &str) -> Result<Parts, String> {
    let by_key: HashMap<&str, usize> = model
        .plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.key.as_str(), i))
        .collect();
    let mut g = Gen {
        project,
        model,
        by_key,
        helpers: Vec::new(),
        instances: Vec::new(),
        weights: Vec::new(),
        extra_classes: Vec::new(),
    };
    let top = g.scope(&project.graph, None, "")?;
    let mut classes = std::mem::take(&mut g.extra_classes);
    classes.extend(g.classes(name)?);
    let mut inputs = Vec::new();
    for slot in &model.plan.inputs {
        let arg = top
            .input_args
            .iter()
            .find(|(s, _)| *s == slot.step)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| py_name(&slot.field));
        inputs.push((
            arg,
            slot.field.clone(),
            slot.dtype == catalog::DType::Int,
            slot.dims.clone(),
        ));
    }
    let mut src = String::new();
    let _ = writeln!(src, "class {name}(nn.Module):");
    let _ = writeln!(src, "    \"\"\"{}.\"\"\"\n", project.name.replace('"', "'"));
    let _ = writeln!(src, "    def __init__(self):\n        super().__init__()");
    for l in &top.init {
        let _ = writeln!(src, "        {}", g.resolve(l));
    }
    if top.init.is_empty() {
        let _ = writeln!(src, "        pass");
    }
    let args: Vec<String> = inputs.iter().map(|(a, ..)| a.clone()).collect();
    if let Some(staged) = staged_forward(project, &top, &args) {
        src.push_str(&staged);
    } else {
        let _ = writeln!(src, "\n    def forward(self, {}):", args.join(", "));
        for l in &top.forward {
            let _ = writeln!(src, "        {l}");
        }
        let outs: Vec<String> = top.outputs.iter().map(|(r, v, _)| format!("\"{r}\": {v}")).collect();
        let _ = writeln!(src, "        return {{{}}}\n", outs.join(", "));
    }
    let outputs = top.outputs.iter().map(|(r, _, s)| (r.clone(), *s)).collect();
    let mut weights = std::mem::take(&mut g.weights);
    weights.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Parts {
        helpers: g.helpers,
        classes,
        model_class: src,
        weights,
        inputs,
        outputs,
    })
}

/// The forward pass of a model trained in two stages whose second network reads the first's
/// output (a GAN's discriminator reads the generator's images — and real ones in their place),
/// split into one method per network plus `forward` chaining them, so `train.py` can run the
/// second on other inputs. `None` (one plain `forward`) when the recipe has no stages or the
/// graph does not split cleanly: the second network reading more of the first than its output,
/// or inputs of its own.
fn staged_forward(project: &Project, top: &Scope, args: &[String]) -> Option<String> {
    let &(_, first_role, second_role, first, second) =
        super::recipes::STAGES.iter().find(|s| s.0 == project.recipe.id)?;
    let graph = &project.graph;
    let output = |role: &str| {
        graph
            .nodes
            .iter()
            .find(|n| n.kind == "output" && n.params.get("role").and_then(|v| v.as_text()) == Some(role))
    };
    let (fo, so) = (output(first_role)?, output(second_role)?);
    if top.outputs.len() != 2 {
        return None;
    }
    let feed = graph.wires.iter().find(|w| w.to == fo.id)?;
    let mut first_nodes: std::collections::HashSet<NodeId> = [feed.from].into();
    let mut todo = vec![feed.from];
    while let Some(n) = todo.pop() {
        for w in graph.wires.iter().filter(|w| w.to == n) {
            if first_nodes.insert(w.from) {
                todo.push(w.from);
            }
        }
    }
    let clean = graph.wires.iter().all(|w| {
        !first_nodes.contains(&w.from)
            || first_nodes.contains(&w.to)
            || w.to == fo.id
            || (w.from == feed.from && w.out == feed.out)
    });
    let own_inputs = graph
        .nodes
        .iter()
        .any(|n| n.kind == "input" && !first_nodes.contains(&n.id));
    if !clean || own_inputs || first_nodes.contains(&so.id) {
        return None;
    }
    let made = top
        .vars
        .iter()
        .find(|(n, p, _)| *n == feed.from && *p == feed.out)?
        .2
        .clone();
    let value = |role: &str| top.outputs.iter().find(|(r, ..)| r == role).map(|(_, v, _)| v.clone());
    let (first_out, second_out) = (value(first_role)?, value(second_role)?);
    if first_out != made {
        return None;
    }
    let mut src = String::new();
    let _ = writeln!(src, "\n    def {first}(self, {}):", args.join(", "));
    let _ = writeln!(
        src,
        "        \"\"\"The '{first_role}' network: what feeds its output.\"\"\""
    );
    for (l, n) in top.forward.iter().zip(&top.line_nodes) {
        if first_nodes.contains(n) {
            let _ = writeln!(src, "        {l}");
        }
    }
    let _ = writeln!(src, "        return {made}");
    let _ = writeln!(src, "\n    def {second}(self, {made}):");
    let _ = writeln!(
        src,
        "        \"\"\"The '{second_role}' network, on the first's output or anything shaped like it.\"\"\""
    );
    for (l, n) in top.forward.iter().zip(&top.line_nodes) {
        if !first_nodes.contains(n) {
            let _ = writeln!(src, "        {l}");
        }
    }
    let _ = writeln!(src, "        return {second_out}");
    let _ = writeln!(src, "\n    def forward(self, {}):", args.join(", "));
    let _ = writeln!(src, "        {made} = self.{first}({})", args.join(", "));
    let _ = writeln!(
        src,
        "        return {{\"{first_role}\": {made}, \"{second_role}\": self.{second}({made})}}\n"
    );
    Some(src)
}

const LOAD_WEIGHTS: &str = r#"
def load_weights(model, path="weights.safetensors"):
    """Loads Strata's weights (PyTorch names) into `model`; batch-norm step counters may be absent."""
    from safetensors.torch import load_file

    missing, unexpected = model.load_state_dict(load_file(path), strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"weights do not match the model: missing {missing}, unexpected {unexpected}")
    return model
"#;

struct Gen<'a> {
    project: &'a Project,
    model: &'a GraphModel,
    by_key: HashMap<&'a str, usize>,
    helpers: Vec<&'static Helper>,
    /// Every block instance copy met: (block id, its body); resolved into constructor calls.
    instances: Vec<(String, Scope, Option<String>)>,
    weights: Vec<NamedTensor>,
    /// Classes nodes brought (nested models), each once.
    extra_classes: Vec<String>,
}

/// The code of one scope (the top level or one copy of a block).
#[derive(Clone, Default)]
struct Scope {
    init: Vec<String>,
    forward: Vec<String>,
    /// Arguments of a block's forward (its input ports, in order).
    args: Vec<String>,
    /// What a block returns (its output ports, in order).
    returns: Vec<String>,
    /// The model's outputs: (role, expression, step).
    outputs: Vec<(String, String, usize)>,
    /// The model's input arguments: (step, name).
    input_args: Vec<(usize, String)>,
    /// The node each line of `forward` belongs to.
    line_nodes: Vec<NodeId>,
    /// Each node's output variables: (node, port, variable).
    vars: Vec<(NodeId, String, String)>,
}

fn placeholder(i: usize) -> String {
    format!("\u{1}{i}\u{1}")
}

impl Gen<'_> {
    /// Generates the scope of graph `g`; `prefix` is the checkpoint key of the copy it belongs
    /// to (`None` at the top level), `wprefix` the state-dict path of its modules.
    fn scope(&mut self, g: &Graph, prefix: Option<&str>, wprefix: &str) -> Result<Scope, String> {
        let mut sc = Scope::default();
        let mut names = Names::default();
        for h in super::kinds::HELPERS {
            for name in h.defines() {
                names.fresh(name);
            }
        }
        // Values by (node, output port).
        let mut values: HashMap<(NodeId, String), String> = HashMap::new();
        let (order, _) = g.topological_order();
        let mut port_in: Vec<(i64, u64, String)> = Vec::new();
        let mut port_out: Vec<(i64, u64, String)> = Vec::new();
        let mut prev: Option<NodeId> = None;
        for &i in &order {
            let node = &g.nodes[i];
            // The lines written since the last node are that node's.
            if let Some(p) = prev {
                sc.line_nodes.resize(sc.forward.len(), p);
            }
            prev = Some(node.id);
            let title = catalog::display_title(self.project, node);
            let source = |values: &HashMap<(NodeId, String), String>, port: &str| -> Option<String> {
                g.wires
                    .iter()
                    .find(|w| w.to == node.id && w.input == port)
                    .and_then(|w| values.get(&(w.from, w.out.clone())).cloned())
            };
            let index = node.params.get("index").and_then(|v| v.as_int()).unwrap_or(0);
            if node.kind == doc::PORT_IN_KIND {
                let pname = node.params.get("name").and_then(|v| v.as_text()).unwrap_or("x");
                let arg = names.fresh(&py_name(pname));
                values.insert((node.id, "y".into()), arg.clone());
                port_in.push((index, node.id.0, arg));
                continue;
            }
            if node.kind == doc::PORT_OUT_KIND {
                let v = source(&values, "x").unwrap_or_else(|| "None".into());
                port_out.push((index, node.id.0, v));
                continue;
            }
            let (ins, outs) = catalog::node_ports(self.project, node)
                .ok_or_else(|| format!("node '{title}': unknown kind {}", node.kind))?;
            let inputs: Vec<Option<String>> = ins.iter().map(|p| source(&values, &p.name)).collect();
            let name = names.fresh(&py_name(&title));
            let out_vars: Vec<String> = if outs.len() == 1 {
                vec![name.clone()]
            } else {
                outs.iter()
                    .map(|p| names.fresh(&format!("{name}_{}", py_name(&p.name))))
                    .collect()
            };
            for (p, v) in outs.iter().zip(&out_vars) {
                values.insert((node.id, p.name.to_string()), v.clone());
                sc.vars.push((node.id, p.name.to_string(), v.clone()));
            }
            let lhs = out_vars.join(", ");
            if node.is_block() {
                let def = node
                    .block
                    .as_deref()
                    .and_then(|b| self.project.block(b))
                    .ok_or_else(|| format!("node '{title}': its block is not defined"))?;
                let mut calls = Vec::new();
                for copy in 0..node.repeat.max(1) {
                    let key = match prefix {
                        None => format!("{}/{copy}", node.id.0),
                        Some(p) => format!("{p}/{}/{copy}", node.id.0),
                    };
                    let wp = if node.repeat > 1 {
                        format!("{wprefix}{name}.{copy}.")
                    } else {
                        format!("{wprefix}{name}.")
                    };
                    let body = self.scope(&def.graph, Some(&key), &wp)?;
                    self.instances.push((def.id.clone(), body, None));
                    calls.push(placeholder(self.instances.len() - 1));
                }
                let comment = format!(
                    "# {title} (block '{}'{})",
                    def.name,
                    if node.repeat > 1 {
                        format!(" ×{}", node.repeat)
                    } else {
                        String::new()
                    }
                );
                if node.repeat > 1 {
                    sc.init.push(comment.clone());
                    sc.init
                        .push(format!("self.{name} = nn.ModuleList([{}])", calls.join(", ")));
                    let chained = out_vars.len().min(inputs.len());
                    let mut args: Vec<String> = inputs
                        .iter()
                        .map(|v| v.clone().unwrap_or_else(|| "None".into()))
                        .collect();
                    for (k, a) in args.iter().take(chained).enumerate() {
                        sc.forward.push(format!("{} = {a}", out_vars[k]));
                    }
                    for (k, a) in args.iter_mut().take(chained).enumerate() {
                        *a = out_vars[k].clone();
                    }
                    sc.forward.push(format!("for blk in self.{name}:  {comment}"));
                    sc.forward.push(format!("    {lhs} = blk({})", args.join(", ")));
                } else {
                    sc.init.push(format!("self.{name} = {}  {comment}", calls.join("")));
                    let args: Vec<String> = inputs
                        .iter()
                        .map(|v| v.clone().unwrap_or_else(|| "None".into()))
                        .collect();
                    sc.forward.push(format!("{lhs} = self.{name}({})", args.join(", ")));
                }
                continue;
            }
            let key = match prefix {
                None => node.id.0.to_string(),
                Some(p) => format!("{p}/{}", node.id.0),
            };
            let step_idx = *self
                .by_key
                .get(key.as_str())
                .ok_or_else(|| format!("node '{title}' is not in the compiled model"))?;
            let step = &self.model.plan.steps[step_idx];
            let layer = step.layer.and_then(|l| self.model.layers.get(l));
            let exporter = exporters()
                .get(step.kind.as_str())
                .and_then(|e| e.torch)
                .ok_or_else(|| format!("node '{title}' ({}): no PyTorch exporter for this kind yet", step.kind))?;
            if let Some(slot) = self.model.plan.inputs.iter().find(|s| s.step == step_idx) {
                // The model's forward takes the input under the node's own name.
                let _ = slot;
                sc.input_args.push((step_idx, name.clone()));
                continue;
            }
            let ctx = TorchCtx {
                node: super::node::NodeCtx { step, layer, inputs },
                module: format!("self.{name}"),
                project: self.project,
            };
            let made = exporter(&ctx).map_err(|e| format!("node '{title}' ({}): {e}", step.kind))?;
            for c in made.classes {
                if !self.extra_classes.contains(&c) {
                    self.extra_classes.push(c);
                }
            }
            for h in made.helpers {
                debug_assert!(
                    super::kinds::HELPERS.iter().any(|k| k.name == h.name),
                    "helper {} is not listed in kinds::HELPERS",
                    h.name
                );
                if !self.helpers.iter().any(|k| k.name == h.name) {
                    self.helpers.push(h);
                }
            }
            let shapes: Vec<String> = step
                .params
                .out_types
                .iter()
                .map(|t| t.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "?".into()))
                .collect();
            if let Some(m) = made.module {
                sc.init.push(format!("self.{name} = {m}  # {title}"));
                for w in made.weights {
                    let full = if w.name.is_empty() {
                        format!("{wprefix}{name}")
                    } else {
                        format!("{wprefix}{name}.{}", w.name)
                    };
                    self.weights.push(w.named(&full));
                }
            }
            let is_output = self.model.plan.outputs.iter().find(|(s, _)| *s == step_idx);
            if !lhs.is_empty() {
                sc.forward
                    .push(format!("{lhs} = {}  # {}", made.expr, shapes.join(", ")));
            } else if is_output.is_none() {
                sc.forward.push(made.expr.clone());
            }
            if let Some((_, role)) = is_output {
                let value = if lhs.is_empty() {
                    made.expr.clone()
                } else {
                    name.clone()
                };
                let mut role = role.clone();
                let mut n = 2;
                while sc.outputs.iter().any(|(r, ..)| *r == role) {
                    role = format!(
                        "{}_{n}",
                        role.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_')
                    );
                    n += 1;
                }
                sc.outputs.push((role, value, step_idx));
            }
        }
        if let Some(p) = prev {
            sc.line_nodes.resize(sc.forward.len(), p);
        }
        port_in.sort();
        port_out.sort();
        sc.args = port_in.into_iter().map(|(_, _, a)| a).collect();
        sc.returns = port_out.into_iter().map(|(_, _, v)| v).collect();
        Ok(sc)
    }

    /// Writes one class per block definition (or per differently shaped use of it), resolving
    /// every instance placeholder into a constructor call. Blocks nested deepest go first, so a
    /// body's placeholders are constructor calls by the time its class is written.
    fn classes(&mut self, model_name: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut class_names = Names::default();
        class_names.fresh("Model");
        class_names.fresh(model_name);
        let n = self.instances.len();
        let mut depth_of: HashMap<String, usize> = HashMap::new();
        for (b, ..) in &self.instances {
            if !depth_of.contains_key(b) {
                let d = block_depth(self.project, b, 0);
                depth_of.insert(b.clone(), d);
            }
        }
        let max_depth = depth_of.values().copied().max().unwrap_or(0);
        for level in 0..=max_depth {
            // (block, comparison key, members)
            let mut groups: Vec<(String, String, Vec<usize>)> = Vec::new();
            let mut code: HashMap<usize, String> = HashMap::new();
            for i in 0..n {
                let block = self.instances[i].0.clone();
                if depth_of.get(&block) != Some(&level) {
                    continue;
                }
                let body = &self.instances[i].1;
                let init: Vec<String> = body.init.iter().map(|l| self.resolve(l)).collect();
                let joined = format!("{}\n\u{2}\n{}", init.join("\n"), body.forward.join("\n"));
                let (_, _, key) = tokenize(&joined);
                code.insert(i, joined);
                match groups.iter_mut().find(|(b, k, _)| *b == block && *k == key) {
                    Some(g) => g.2.push(i),
                    None => groups.push((block, key, vec![i])),
                }
            }
            for (block, _, members) in &groups {
                let def = self.project.block(block);
                let cname = class_names.fresh(&def.map(|d| class_name(&d.name)).unwrap_or_else(|| "Block".into()));
                let nums: Vec<Vec<String>> = members.iter().map(|m| tokenize(&code[m]).1).collect();
                let count = nums.first().map(Vec::len).unwrap_or(0);
                let first = &code[&members[0]];
                let body = &self.instances[members[0]].1;
                let mut names = Names::default();
                for a in &body.args {
                    names.fresh(a);
                }
                let params: Vec<(usize, String)> = (0..count)
                    .filter(|&k| nums.iter().any(|v| v.get(k) != nums[0].get(k)))
                    .map(|k| (k, names.fresh(&param_name(first, k))))
                    .collect();
                let replaced = substitute(first, &params, true);
                let (init, forward) = replaced.split_once("\n\u{2}\n").unwrap_or((replaced.as_str(), ""));
                let mut c = String::new();
                let _ = writeln!(c, "class {cname}(nn.Module):");
                if let Some(d) = def {
                    let doc = if d.description.trim().is_empty() {
                        d.name.clone()
                    } else {
                        format!("{} — {}", d.name, d.description.trim())
                    };
                    let _ = writeln!(c, "    \"\"\"{}\"\"\"\n", doc.replace("\"\"\"", "'''"));
                }
                let _ = writeln!(
                    c,
                    "    def __init__(self{}):\n        super().__init__()",
                    params.iter().map(|(_, p)| format!(", {p}")).collect::<String>()
                );
                let mut any = false;
                for l in init.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(c, "        {l}");
                    any = true;
                }
                for (_, p) in params.iter().filter(|(k, _)| forward_uses(first, *k)) {
                    let _ = writeln!(c, "        self.{p} = {p}");
                    any = true;
                }
                if !any {
                    let _ = writeln!(c, "        pass");
                }
                let _ = writeln!(c, "\n    def forward(self, {}):", body.args.join(", "));
                for l in forward.lines() {
                    let _ = writeln!(c, "        {l}");
                }
                let _ = writeln!(c, "        return {}", body.returns.join(", "));
                out.push(c);
                for (m, vals) in members.iter().zip(&nums) {
                    let args: Vec<String> = params
                        .iter()
                        .map(|(k, p)| format!("{p}={}", vals.get(*k).cloned().unwrap_or_default()))
                        .collect();
                    self.instances[*m].2 = Some(format!("{cname}({})", args.join(", ")));
                }
            }
        }
        Ok(out)
    }

    /// A line with every instance placeholder replaced by its constructor call.
    fn resolve(&self, line: &str) -> String {
        if !line.contains('\u{1}') {
            return line.to_owned();
        }
        let mut out = String::new();
        let mut parts = line.split('\u{1}');
        if let Some(first) = parts.next() {
            out.push_str(first);
        }
        let rest: Vec<&str> = parts.collect();
        for pair in rest.chunks(2) {
            let idx: usize = pair[0].parse().unwrap_or(usize::MAX);
            match self.instances.get(idx).and_then(|(_, _, c)| c.clone()) {
                Some(call) => out.push_str(&call),
                // Not resolved yet (a nested instance met before its parent's classes): keep it.
                None => out.push_str(&placeholder(idx)),
            }
            if let Some(after) = pair.get(1) {
                out.push_str(after);
            }
        }
        out
    }
}

/// Marks a numeric literal in a skeleton.
const LIT: char = '\u{3}';

/// Splits code into a skeleton (numeric literals as [`LIT`]), the literals in order, and the
/// skeleton without comments (what two uses of a block must share to be one class). Digits
/// that are part of a name (`conv1`, `h_2`) and everything in comments stay as they are.
fn tokenize(code: &str) -> (String, Vec<String>, String) {
    let mut skel = String::with_capacity(code.len());
    let mut key = String::with_capacity(code.len());
    let mut nums = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    let mut in_string: Option<char> = None;
    let mut in_comment = false;
    while i < chars.len() {
        let c = chars[i];
        if in_comment {
            skel.push(c);
            if c == '\n' {
                in_comment = false;
                key.push(c);
            }
            i += 1;
            continue;
        }
        if let Some(q) = in_string {
            skel.push(c);
            key.push(c);
            if c == q {
                in_string = None;
            }
            i += 1;
            continue;
        }
        if c == '#' {
            in_comment = true;
            skel.push(c);
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            in_string = Some(c);
            skel.push(c);
            key.push(c);
            i += 1;
            continue;
        }
        let prev_ident = i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == '.');
        if c.is_ascii_digit() && !prev_ident {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            nums.push(chars[start..i].iter().collect());
            skel.push(LIT);
            key.push(LIT);
            continue;
        }
        skel.push(c);
        key.push(c);
        i += 1;
    }
    (
        skel,
        nums,
        key.lines().map(str::trim_end).collect::<Vec<_>>().join("\n"),
    )
}

/// `code` with the numeric literals at the given positions replaced by parameter names
/// (`self.name` on forward lines when `self_in_forward`).
fn substitute(code: &str, params: &[(usize, String)], self_in_forward: bool) -> String {
    let (skel, nums, _) = tokenize(code);
    let mut out = String::new();
    let mut k = 0;
    let mut in_forward = false;
    for c in skel.chars() {
        if c == '\u{2}' {
            in_forward = true;
        }
        if c == LIT && k < nums.len() {
            match params.iter().find(|(p, _)| *p == k) {
                Some((_, name)) if in_forward && self_in_forward => out.push_str(&format!("self.{name}")),
                Some((_, name)) => out.push_str(name),
                None => out.push_str(&nums[k]),
            }
            k += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether literal `k` lies in the forward part.
fn forward_uses(code: &str, k: usize) -> bool {
    let (skel, _, _) = tokenize(code);
    let Some(split) = skel.find('\u{2}') else { return false };
    skel[..split].matches(LIT).count() <= k
}

/// A parameter name for literal `k`: the attribute or variable its line assigns, and the
/// literal's place on that line.
fn param_name(code: &str, k: usize) -> String {
    let (skel, _, _) = tokenize(code);
    let mut seen = 0;
    for line in skel.split('\n') {
        let here = line.matches(LIT).count();
        if seen + here > k {
            let lhs = line.split('=').next().unwrap_or("").trim();
            let base = lhs
                .trim_start_matches("self.")
                .split([',', ' ', '('])
                .next()
                .unwrap_or("arg");
            let base = if base.is_empty() || base.starts_with(LIT) {
                "arg"
            } else {
                base
            };
            return format!("{}_{}", py_name(base), k - seen);
        }
        seen += here;
    }
    format!("arg_{k}")
}

/// How deeply blocks nest inside block `id` (0: none).
fn block_depth(project: &Project, id: &str, guard: usize) -> usize {
    let Some(def) = project.block(id) else { return 0 };
    if guard > crate::shape::MAX_BLOCK_DEPTH {
        return 0;
    }
    def.graph
        .nodes
        .iter()
        .filter_map(|n| n.block.as_deref())
        .map(|b| 1 + block_depth(project, b, guard + 1))
        .max()
        .unwrap_or(0)
}

/// A Python class name from a block's name ("ResNet basic block" → `ResnetBasicBlock`).
pub fn class_name(name: &str) -> String {
    let s: String = py_name(name)
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    if s.is_empty() { "Block".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_split_from_names() {
        let (s, n, key) =
            tokenize("self.conv1 = nn.Conv2d(64, 128, 3, stride=2)  # [B, 64, 8, 8]\nh_2 = F.relu(x) * 0.5e-3");
        assert_eq!(n, ["64", "128", "3", "2", "0.5e-3"]);
        assert!(s.contains("self.conv1 = nn.Conv2d(\u{3}, \u{3}, \u{3}, stride=\u{3})  # [B, 64, 8, 8]"));
        assert_eq!(
            key,
            "self.conv1 = nn.Conv2d(\u{3}, \u{3}, \u{3}, stride=\u{3})\nh_2 = F.relu(x) * \u{3}"
        );
    }

    #[test]
    fn class_names_are_camel_case() {
        assert_eq!(class_name("ResNet basic block"), "ResnetBasicBlock");
        assert_eq!(class_name("2x up"), "N2xUp");
    }
}
