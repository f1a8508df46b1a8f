//! Opening an ONNX file as an editable Strata graph.
//!
//! Operators map to catalog kinds through [`MAPPERS`] (keyed by ONNX op type); weights become
//! the nodes' learned tensors (trainable, written as a checkpoint beside the project); an
//! operator with no mapping stays as an `onnx_op` node with its attributes, and the checker says
//! what to do about it. Nothing is dropped. Bad files (truncated, random bytes, an opset from the
//! future, a cycle, external data that is not there) are errors naming the place.

use super::tensor::NamedTensor;
use crate::catalog;
use crate::doc::{Node, NodeId, ParamValue, Params, Project, Wire};
use onnx_ir::{Message, ModelProto, NodeProto, TensorProto};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Opsets the importer reads (default domain).
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=24;

/// An imported model.
#[derive(Debug)]
pub struct Imported {
    /// The graph as a project (no recipe or dataset chosen yet).
    pub project: Project,
    /// Learned tensors per node, by Burn field path (`weight`, `bias`, `running_mean`, …).
    pub weights: HashMap<NodeId, Vec<NamedTensor>>,
    /// What the user should know: operators kept as ONNX nodes, constants made parameters.
    pub notes: Vec<String>,
    /// For a file Strata exported (it carries its project): the initializers by name, to be
    /// traced back onto the project's layers (`names::load_onnx_initializers`).
    pub initializers: Option<Vec<NamedTensor>>,
}

/// A tensor read from the file.
#[derive(Clone, Debug)]
pub struct Const {
    /// Shape.
    pub dims: Vec<usize>,
    /// Values as floats (integers converted exactly where they fit).
    pub data: Vec<f64>,
    /// Whether the file stores integers.
    pub int: bool,
}

impl Const {
    fn ints(&self) -> Vec<i64> {
        self.data.iter().map(|v| *v as i64).collect()
    }
    fn tensor(&self, name: &str) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            dims: self.dims.clone(),
            data: self.data.iter().map(|v| *v as f32).collect(),
        }
    }
}

/// Reads `path` (external data resolves against its folder).
pub fn import_file(path: &Path) -> Result<Imported, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("imported")
        .to_owned();
    import_bytes(&bytes, &name, path.parent()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses an ONNX model from memory.
pub fn import_bytes(bytes: &[u8], name: &str, dir: Option<&Path>) -> Result<Imported, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    let model = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| format!("not an ONNX model, or a truncated one (protobuf: {e})"))?;
    let Some(graph) = model.graph.as_ref() else {
        return Err("the file holds no graph (is it an ONNX model?)".into());
    };
    if model.opset_import.is_empty() && model.ir_version == 0 {
        return Err("not an ONNX model: it names no IR version and no operator set".into());
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(1);
    if !OPSETS.contains(&opset) {
        return Err(format!(
            "operator set {opset} is outside what Strata reads ({}–{}); re-export the model with an opset in that range",
            OPSETS.start(),
            OPSETS.end()
        ));
    }
    if graph.node.is_empty() {
        return Err("the graph has no operators".into());
    }
    // Strata's own export carries its project: reopen it exactly (blocks included).
    let embedded = model
        .metadata_props
        .iter()
        .find(|e| e.key == "strata.project")
        .map(|e| crate::parse_project(&e.value));
    let mut fallback_note = None;
    match embedded {
        Some(Ok(project)) => {
            let mut initializers = Vec::with_capacity(graph.initializer.len());
            for t in &graph.initializer {
                initializers.push(read_tensor(t, dir)?.tensor(&t.name));
            }
            // Buffers (batch-norm statistics) travel as Constant nodes.
            for n in graph.node.iter().filter(|n| n.op_type == "Constant") {
                if let (Some(out), Some(t)) = (
                    n.output.first(),
                    n.attribute
                        .iter()
                        .find(|a| a.name == "value")
                        .and_then(|a| a.t.as_ref()),
                ) {
                    let c = read_tensor(t, dir)?;
                    if !c.int {
                        initializers.push(c.tensor(out));
                    }
                }
            }
            return Ok(Imported {
                project,
                weights: HashMap::new(),
                notes: vec!["a Strata export: its project (blocks, titles, settings) reopened as it was".into()],
                initializers: Some(initializers),
            });
        }
        Some(Err(e)) => {
            fallback_note = Some(format!(
                "its embedded Strata project did not load ({e}); the operators were mapped instead"
            ))
        }
        None => {}
    }
    // Constants: initializers and Constant nodes.
    let mut consts: HashMap<String, Const> = HashMap::new();
    for t in &graph.initializer {
        consts.insert(t.name.clone(), read_tensor(t, dir)?);
    }
    let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let nodes = expand_recurrent(fuse_size_one_detours(&graph.node, &consts, dir), &consts, dir, &outputs);
    let nodes = fuse_erf_gelu(nodes, &consts, dir, &outputs);
    let nodes = without_unused(nodes, &graph.node, &outputs);
    let order = topological(&nodes, &consts, graph.input.iter().map(|i| i.name.clone()).collect())?;
    let mut b = Builder {
        project: Project::new(name),
        values: HashMap::new(),
        consts,
        weights: HashMap::new(),
        notes: Vec::new(),
        uses: HashMap::new(),
        opset,
        titles: super::Names::default(),
    };
    if !graph.doc_string.is_empty() {
        b.project.description = graph.doc_string.clone();
    } else if !model.doc_string.is_empty() {
        b.project.description = model.doc_string.clone();
    }
    for n in &nodes {
        for i in &n.input {
            *b.uses.entry(i.clone()).or_default() += 1;
        }
    }
    // Inputs that are not initializers.
    let mut symbols = ['B', 'T', 'N', 'S', 'L', 'H', 'W'].into_iter();
    let mut seen_symbols: HashMap<String, char> = HashMap::new();
    for (k, input) in graph.input.iter().enumerate() {
        if b.consts.contains_key(&input.name) {
            continue;
        }
        let tt = input
            .type_
            .as_ref()
            .filter(|t| t.has_tensor_type())
            .map(|t| t.tensor_type());
        let (elem, dims) = match tt {
            Some(t) => (
                t.elem_type,
                t.shape
                    .as_ref()
                    .map(|s| {
                        s.dim
                            .iter()
                            .enumerate()
                            .map(|(i, d)| {
                                if d.has_dim_value() && d.dim_value() > 0 {
                                    ParamValue::Int(d.dim_value())
                                } else {
                                    let key = if d.has_dim_param() {
                                        d.dim_param().to_owned()
                                    } else {
                                        format!("#{k}.{i}")
                                    };
                                    let sym = *seen_symbols.entry(key).or_insert_with(|| symbols.next().unwrap_or('T'));
                                    ParamValue::Text(sym.to_string())
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            ),
            None => (1, Vec::new()),
        };
        let int = matches!(elem, 6 | 7);
        let mut dims = dims;
        if dims.is_empty() {
            dims = vec![ParamValue::Text("B".into())];
        }
        let mut p = Params::new();
        p.insert("shape".into(), ParamValue::List(dims));
        p.insert(
            "dtype".into(),
            ParamValue::Text(if int { "int" } else { "float" }.into()),
        );
        p.insert("source".into(), ParamValue::Text("dataset".into()));
        p.insert("field".into(), ParamValue::Text(input.name.clone()));
        let id = b.node("input", &input.name, p);
        b.values.insert(input.name.clone(), (id, "y".into()));
    }
    for &i in &order {
        b.operator(&nodes[i])?;
    }
    // Outputs.
    for out in &graph.output {
        let Some(src) = b.source(&out.name)? else {
            return Err(format!("graph output '{}' is not produced by any operator", out.name));
        };
        let role = if catalog::recipes::ROLES.contains(&out.name.as_str()) {
            out.name.as_str()
        } else {
            "prediction"
        };
        let mut p = Params::new();
        p.insert("role".into(), ParamValue::Text(role.into()));
        let id = b.node("output", &out.name, p);
        b.project.graph.add_wire(Wire::new(src.0, &src.1, id, "x"));
    }
    // A batch written as a number (exported with one example) becomes the batch symbol B when
    // the graph still checks with it, so the model trains on batches of any size.
    let errors = |p: &Project| {
        crate::shape::check_graph(p)
            .diagnostics
            .iter()
            .filter(|d| d.severity == crate::shape::Severity::Error)
            .count()
    };
    let before = errors(&b.project);
    let inputs: Vec<NodeId> = b
        .project
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind == "input")
        .map(|n| n.id)
        .collect();
    for id in inputs {
        let Some(i) = b.project.graph.index_of(id) else {
            continue;
        };
        let old = b.project.graph.nodes[i].params.get("shape").cloned();
        let Some(ParamValue::List(mut dims)) = old.clone() else {
            continue;
        };
        if !matches!(dims.first(), Some(ParamValue::Int(_))) || dims.iter().any(|d| *d == ParamValue::Text("B".into()))
        {
            continue;
        }
        let batch = dims[0].clone();
        dims[0] = ParamValue::Text("B".into());
        let saved = b.project.clone();
        b.project.graph.nodes[i]
            .params
            .insert("shape".into(), ParamValue::List(dims));
        if errors(&b.project) > before {
            // Reshapes that write the batch out as their first size follow it.
            for n in b.project.graph.nodes.iter_mut().filter(|n| n.kind == "reshape") {
                if let Some(ParamValue::List(s)) = n.params.get_mut("shape")
                    && s.first() == Some(&batch)
                {
                    s[0] = ParamValue::Text("B".into());
                }
            }
        }
        if errors(&b.project) > before {
            b.project = saved;
        } else {
            b.notes.push(format!(
                "input '{}' takes batches of any size (B)",
                b.project.graph.nodes[i].title
            ));
        }
    }
    // The first recipe whose networks' roles the outputs provide (a classifier: supervised; a
    // model with logits: a language model, …).
    let roles: Vec<String> = graph
        .output
        .iter()
        .map(|o| {
            if catalog::recipes::ROLES.contains(&o.name.as_str()) {
                o.name.clone()
            } else {
                "prediction".into()
            }
        })
        .collect();
    if let Some(r) = catalog::recipes().iter().find(|r| {
        !r.networks.is_empty()
            && r.networks
                .iter()
                .all(|n| n.roles.iter().all(|role| roles.iter().any(|x| x == role)))
    }) {
        b.project.recipe.id = r.id.to_owned();
    }
    crate::shape::layout_project(&mut b.project, &crate::doc::LayoutOptions::default());
    let mut notes = b.notes;
    notes.extend(fallback_note);
    Ok(Imported {
        project: b.project,
        weights: b.weights,
        notes,
        initializers: None,
    })
}

/// `Unsqueeze(x, a) → Transpose(perm) → Squeeze(s)` where the squeezed axis is the one added
/// (PyTorch's multi-head attention splits its packed q/k/v that way, through a rank-5 tensor)
/// becomes one `Transpose` of `x`, so the graph stays within the ranks Strata computes with.
fn fuse_size_one_detours(nodes: &[NodeProto], consts: &HashMap<String, Const>, dir: Option<&Path>) -> Vec<NodeProto> {
    let values: HashMap<&str, Vec<i64>> = constants(nodes, consts, dir)
        .into_iter()
        .filter(|(_, c)| c.int)
        .map(|(k, c)| (k, c.ints()))
        .collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.output {
            producer.insert(o.as_str(), i);
        }
        for x in &n.input {
            *uses.entry(x.as_str()).or_default() += 1;
        }
    }
    let axes = |n: &NodeProto| -> Option<Vec<i64>> {
        match n.input.get(1) {
            Some(a) if !a.is_empty() => values.get(a.as_str()).cloned(),
            _ => n.attribute.iter().find(|a| a.name == "axes").map(|a| a.ints.clone()),
        }
    };
    let only = |v: &str| uses.get(v).copied() == Some(1);
    let mut out = nodes.to_vec();
    let mut gone = HashSet::new();
    for (si, sq) in nodes.iter().enumerate() {
        if sq.op_type != "Squeeze" {
            continue;
        }
        let Some(t_in) = sq.input.first() else { continue };
        let Some(&ti) = producer.get(t_in.as_str()) else {
            continue;
        };
        let tr = &nodes[ti];
        let Some(u_in) = tr.input.first() else { continue };
        let Some(&ui) = producer.get(u_in.as_str()) else {
            continue;
        };
        let un = &nodes[ui];
        let perm = tr.attribute.iter().find(|a| a.name == "perm").map(|a| a.ints.clone());
        let (Some(perm), Some(ua), Some(sa)) = (perm, axes(un), axes(sq)) else {
            continue;
        };
        if tr.op_type != "Transpose" || un.op_type != "Unsqueeze" || !only(t_in) || !only(u_in) {
            continue;
        }
        let r = perm.len() as i64;
        if r == 0 {
            continue;
        }
        let (&[a], &[s]) = (ua.as_slice(), sa.as_slice()) else {
            continue;
        };
        let (a, s) = ((a + r) % r, (s + r) % r);
        if perm.get(s as usize) != Some(&a) {
            continue;
        }
        let fused: Vec<i64> = perm
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as i64 != s)
            .map(|(_, &v)| if v > a { v - 1 } else { v })
            .collect();
        let Some(x) = un.input.first() else { continue };
        let mut t = tr.clone();
        t.input = vec![x.clone()];
        t.output = sq.output.clone();
        if let Some(p) = t.attribute.iter_mut().find(|a| a.name == "perm") {
            p.ints = fused;
        }
        out[si] = t;
        gone.insert(ti);
        gone.insert(ui);
    }
    out.into_iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, n)| n)
        .collect()
}

/// The initializers and the values of `Constant` operators, by name.
fn constants<'a>(
    nodes: &'a [NodeProto],
    consts: &'a HashMap<String, Const>,
    dir: Option<&Path>,
) -> HashMap<&'a str, Const> {
    let mut values: HashMap<&str, Const> = consts.iter().map(|(k, c)| (k.as_str(), c.clone())).collect();
    for n in nodes.iter().filter(|n| n.op_type == "Constant") {
        let t = n
            .attribute
            .iter()
            .find(|a| a.name == "value")
            .and_then(|a| a.t.as_ref());
        if let (Some(o), Some(Ok(c))) = (n.output.first(), t.map(|t| read_tensor(t, dir))) {
            values.insert(o.as_str(), c);
        }
    }
    values
}

/// Without the operators the rewrites above left unread (the zero initial states of a
/// recurrent layer). Operators the file itself leaves unread stay: nothing of the file is
/// dropped.
fn without_unused(mut nodes: Vec<NodeProto>, original: &[NodeProto], outputs: &[String]) -> Vec<NodeProto> {
    let read_before: HashSet<&str> = original
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(outputs.iter().map(String::as_str))
        .collect();
    loop {
        let read: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| n.input.iter().map(String::as_str))
            .chain(outputs.iter().map(String::as_str))
            .collect();
        let keep: Vec<bool> = nodes
            .iter()
            .map(|n| {
                n.output.iter().any(|o| read.contains(o.as_str()))
                    || !n.output.iter().any(|o| read_before.contains(o.as_str()))
            })
            .collect();
        if keep.iter().all(|&k| k) {
            return nodes;
        }
        let mut k = keep.into_iter();
        nodes.retain(|_| k.next().unwrap_or(true));
    }
}

/// `x·½·(1 + erf(x/√2))` written out with `Erf` (PyTorch's exports, and Strata's, before
/// opset 20 had `Gelu`) becomes one `Gelu` operator — the order of the products either way.
fn fuse_erf_gelu(
    nodes: Vec<NodeProto>,
    consts: &HashMap<String, Const>,
    dir: Option<&Path>,
    outputs: &[String],
) -> Vec<NodeProto> {
    let scalars: HashMap<String, f64> = constants(&nodes, consts, dir)
        .into_iter()
        .filter(|(_, c)| c.data.len() == 1 && !c.int)
        .map(|(k, c)| (k.to_owned(), c.data[0]))
        .collect();
    let near = |v: &str, want: f64| scalars.get(v).is_some_and(|&s| (s - want).abs() < 1e-4);
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.output {
            producer.insert(o.as_str(), i);
        }
        for x in &n.input {
            readers.entry(x.as_str()).or_default().push(i);
        }
    }
    // The one operator reading `v` (none when a graph output or several read it).
    let only = |v: &str| -> Option<usize> {
        match readers.get(v).map(Vec::as_slice) {
            Some(&[r]) if !outputs.iter().any(|o| o == v) => Some(r),
            _ => None,
        }
    };
    // The other input of a two-input operator.
    let other = |n: &NodeProto, v: &str| -> Option<String> {
        match n.input.as_slice() {
            [a, b] if a == v => Some(b.clone()),
            [a, b] if b == v => Some(a.clone()),
            _ => None,
        }
    };
    let mut gone: HashSet<usize> = HashSet::new();
    let mut replaced: HashMap<usize, NodeProto> = HashMap::new();
    for (ei, e) in nodes.iter().enumerate() {
        if e.op_type != "Erf" || !e.domain.is_empty() {
            continue;
        }
        let fused = (|| -> Option<(Vec<usize>, usize, String)> {
            let u = e.input.first()?;
            let ui = *producer.get(u.as_str())?;
            let un = &nodes[ui];
            only(u)?;
            let x = match un.op_type.as_str() {
                "Mul" => {
                    let (a, b) = (un.input.first()?, un.input.get(1)?);
                    if near(b, std::f64::consts::FRAC_1_SQRT_2) {
                        a.clone()
                    } else if near(a, std::f64::consts::FRAC_1_SQRT_2) {
                        b.clone()
                    } else {
                        return None;
                    }
                }
                "Div" if near(un.input.get(1)?, std::f64::consts::SQRT_2) => un.input.first()?.clone(),
                _ => return None,
            };
            let ai = only(e.output.first()?)?;
            let an = &nodes[ai];
            if an.op_type != "Add" || !near(&other(an, e.output.first()?)?, 1.0) {
                return None;
            }
            let mi = only(an.output.first()?)?;
            let mn = &nodes[mi];
            if mn.op_type != "Mul" {
                return None;
            }
            let o = other(mn, an.output.first()?)?;
            if o == x {
                // x·(1 + erf) then ·½.
                let fi = only(mn.output.first()?)?;
                let fin = &nodes[fi];
                if fin.op_type != "Mul" || !near(&other(fin, mn.output.first()?)?, 0.5) {
                    return None;
                }
                return Some((vec![ui, ei, ai, mi], fi, x));
            }
            // (x·½)·(1 + erf).
            let hi = *producer.get(o.as_str())?;
            let hn = &nodes[hi];
            only(&o)?;
            if hn.op_type != "Mul" || other(hn, &x).is_none_or(|c| !near(&c, 0.5)) {
                return None;
            }
            Some((vec![ui, ei, ai, hi], mi, x))
        })();
        let Some((parts, last, x)) = fused else { continue };
        if parts
            .iter()
            .chain([&last])
            .any(|i| gone.contains(i) || replaced.contains_key(i))
        {
            continue;
        }
        let mut g = NodeProto::new();
        g.op_type = "Gelu".into();
        g.name = nodes[last].name.clone();
        g.input = vec![x];
        g.output = nodes[last].output.clone();
        replaced.insert(last, g);
        gone.extend(parts);
    }
    nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(i, n)| replaced.remove(&i).unwrap_or(n))
        .collect()
}

/// Operators the importer writes itself, in its own domain (read back by [`MAPPERS`]).
const STRATA_DOMAIN: &str = "strata";

/// A one-attribute helper for the operators the importer writes.
fn ints_attr(name: &str, v: Vec<i64>) -> onnx_ir::AttributeProto {
    let mut a = onnx_ir::AttributeProto::new();
    a.name = name.into();
    a.type_ = onnx_ir::AttributeType::INTS.into();
    a.ints = v;
    a
}

/// The `value` attribute of a `Constant` holding int64 `v`.
fn ints_value(v: Vec<i64>) -> onnx_ir::AttributeProto {
    let mut t = TensorProto::new();
    t.dims = vec![v.len() as i64];
    t.data_type = 7;
    t.int64_data = v;
    let mut a = onnx_ir::AttributeProto::new();
    a.name = "value".into();
    a.type_ = onnx_ir::AttributeType::TENSOR.into();
    a.t = Some(t).into();
    a
}

/// ONNX's `RNN`, `LSTM` and `GRU` become Strata's recurrent layer between layout changes that
/// keep what every consumer sees: a `Transpose` to batch-first (for the default time-major
/// layout), the layer (`StrataRecurrent`, in the importer's domain, giving the sequence
/// [B, T, dirs·H] and the last step), and `Y` rebuilt as [T, dirs, B, H] (`Y_h` as [1, B, H]
/// for one direction). Initial states must be zero (PyTorch's exporter writes them as zeros
/// expanded to the batch); a cell state read downstream, a sequence-length input, clipping or
/// non-default activations keep the operator as it is.
fn expand_recurrent(
    nodes: Vec<NodeProto>,
    consts: &HashMap<String, Const>,
    dir: Option<&Path>,
    outputs: &[String],
) -> Vec<NodeProto> {
    let values = constants(&nodes, consts, dir);
    let producer: HashMap<&str, &NodeProto> = nodes
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    let used = |v: &str| {
        !v.is_empty() && (outputs.iter().any(|o| o == v) || nodes.iter().any(|n| n.input.iter().any(|i| i == v)))
    };
    let zeros = |c: &Const| c.data.iter().all(|&v| v == 0.0);
    let zero_state = |v: &str| -> bool {
        if v.is_empty() {
            return true;
        }
        if let Some(c) = values.get(v) {
            return zeros(c);
        }
        match producer.get(v) {
            Some(p) if p.op_type == "Expand" => p.input.first().and_then(|s| values.get(s.as_str())).is_some_and(zeros),
            Some(p) if p.op_type == "ConstantOfShape" => p
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
                .is_none_or(|t| read_tensor(t, dir).is_ok_and(|c| zeros(&c))),
            _ => false,
        }
    };
    let mut out = Vec::with_capacity(nodes.len());
    let mut count = 0usize;
    for n in &nodes {
        let known = n.domain.is_empty() || n.domain == "ai.onnx";
        let Some(&(kind, ..)) = super::ONNX_RECURRENT
            .iter()
            .find(|(_, op, _)| known && *op == n.op_type)
        else {
            out.push(n.clone());
            continue;
        };
        let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
        let int = |name: &str, d: i64| attr(name).map_or(d, |a| a.i);
        let dirs: i64 = match attr("direction").map(|a| a.s.as_ref()) {
            None | Some(b"forward") => 1,
            Some(b"bidirectional") => 2,
            _ => 0,
        };
        let h = int("hidden_size", 0);
        let input = |i: usize| n.input.get(i).map(String::as_str).unwrap_or("");
        let is_const = |i: usize| values.contains_key(input(i));
        let fine = dirs > 0
            && h > 0
            && input(4).is_empty()
            && (5..n.input.len()).all(|i| zero_state(input(i)))
            && is_const(1)
            && is_const(2)
            && (input(3).is_empty() || is_const(3))
            && attr("activations").is_none_or(|a| {
                let default: &[&str] = match kind {
                    "lstm" => &["sigmoid", "tanh", "tanh"],
                    "gru" => &["sigmoid", "tanh"],
                    _ => &["tanh"],
                };
                a.strings.len() == default.len() * dirs as usize
                    && a.strings
                        .iter()
                        .enumerate()
                        .all(|(i, s)| String::from_utf8_lossy(s).eq_ignore_ascii_case(default[i % default.len()]))
            })
            && attr("clip").is_none()
            && int("input_forget", 0) == 0
            && (kind != "gru" || int("linear_before_reset", 0) == 1)
            && !n.output.get(2).is_some_and(|c| used(c))
            && !(dirs == 2 && n.output.get(1).is_some_and(|y| used(y)));
        if !fine {
            out.push(n.clone());
            continue;
        }
        count += 1;
        let base = format!("{}__strata{count}", n.output.first().cloned().unwrap_or_default());
        let plain = |op: &str, inputs: Vec<String>, output: String, attrs: Vec<onnx_ir::AttributeProto>| {
            let mut m = NodeProto::new();
            m.op_type = op.into();
            m.name = output.clone();
            m.input = inputs;
            m.output = vec![output];
            m.attribute = attrs;
            m
        };
        let time_major = int("layout", 0) == 0;
        let x = if time_major {
            let xb = format!("{base}_x");
            out.push(plain(
                "Transpose",
                vec![input(0).into()],
                xb.clone(),
                vec![ints_attr("perm", vec![1, 0, 2])],
            ));
            xb
        } else {
            input(0).to_owned()
        };
        let (seq, last) = (format!("{base}_sequence"), format!("{base}_last"));
        let mut m = NodeProto::new();
        m.op_type = "StrataRecurrent".into();
        m.domain = STRATA_DOMAIN.into();
        m.name = base.clone();
        m.input = vec![x, input(1).into(), input(2).into(), input(3).into()];
        m.output = vec![seq.clone(), last.clone()];
        m.attribute = n.attribute.clone();
        let mut kind_attr = onnx_ir::AttributeProto::new();
        kind_attr.name = "kind".into();
        kind_attr.type_ = onnx_ir::AttributeType::STRING.into();
        kind_attr.s = kind.as_bytes().to_vec().into();
        m.attribute.push(kind_attr);
        out.push(m);
        if let Some(y) = n.output.first().filter(|y| used(y)) {
            let shape = format!("{base}_shape");
            out.push(plain(
                "Constant",
                vec![],
                shape.clone(),
                vec![ints_value(vec![0, -1, dirs, h])],
            ));
            if time_major {
                let split = format!("{base}_split");
                out.push(plain("Reshape", vec![seq.clone(), shape], split.clone(), vec![]));
                out.push(plain(
                    "Transpose",
                    vec![split],
                    y.clone(),
                    vec![ints_attr("perm", vec![1, 2, 0, 3])],
                ));
            } else {
                out.push(plain("Reshape", vec![seq.clone(), shape], y.clone(), vec![]));
            }
        }
        if let Some(yh) = n.output.get(1).filter(|y| used(y)) {
            let axes = format!("{base}_axes");
            out.push(plain("Constant", vec![], axes.clone(), vec![ints_value(vec![0])]));
            out.push(plain("Unsqueeze", vec![last.clone(), axes], yh.clone(), vec![]));
        }
    }
    out
}

/// Node order with every input produced first; a cycle is an error naming a node on it.
fn topological(
    nodes: &[NodeProto],
    consts: &HashMap<String, Const>,
    inputs: HashSet<String>,
) -> Result<Vec<usize>, String> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.output {
            if !o.is_empty() && producer.insert(o.as_str(), i).is_some() {
                return Err(format!(
                    "value '{o}' is produced twice (by '{}' and another operator)",
                    node_name(n)
                ));
            }
        }
    }
    let mut indeg = vec![0usize; nodes.len()];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for inp in n.input.iter().filter(|s| !s.is_empty()) {
            match producer.get(inp.as_str()) {
                Some(&p) => {
                    indeg[i] += 1;
                    succ[p].push(i);
                }
                None if consts.contains_key(inp) || inputs.contains(inp) => {}
                None => {
                    return Err(format!(
                        "operator '{}' ({}) reads '{inp}', which no operator, input or initializer provides",
                        node_name(n),
                        n.op_type
                    ));
                }
            }
        }
    }
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| indeg[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &s in succ[i].iter().rev() {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.push(s);
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| indeg[i] > 0).unwrap_or(0);
        return Err(format!(
            "the graph has a cycle through operator '{}' ({}); ONNX graphs must be acyclic",
            node_name(&nodes[stuck]),
            nodes[stuck].op_type
        ));
    }
    Ok(order)
}

fn node_name(n: &NodeProto) -> String {
    if n.name.is_empty() {
        n.output.first().cloned().unwrap_or_default()
    } else {
        n.name.clone()
    }
}

/// A readable title from an exporter's scoped name: `/layer1/layer1.0/conv1/Conv` →
/// `layer1.0.conv1` (the op type at the end and repeated scope prefixes dropped).
fn node_title(n: &NodeProto) -> String {
    let name = node_name(n);
    if !name.contains('/') {
        return name;
    }
    let mut parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    if parts.len() > 1 && parts.last().is_some_and(|l| l.starts_with(n.op_type.as_str())) {
        parts.pop();
    }
    let kept: Vec<&str> = (0..parts.len())
        .filter(|&i| {
            !parts
                .get(i + 1)
                .is_some_and(|next| next.starts_with(&format!("{}.", parts[i])))
        })
        .map(|i| parts[i])
        .collect();
    if kept.is_empty() { name } else { kept.join(".") }
}

/// Reads a tensor's values (inline or external data).
pub fn read_tensor(t: &TensorProto, dir: Option<&Path>) -> Result<Const, String> {
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("tensor '{}' has a negative size {d}", t.name));
        }
        dims.push(d as usize);
    }
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("tensor '{}' is too large", t.name))?;
    let external;
    let raw: &[u8] = if t.data_location.value() == 1 {
        let get = |k: &str| t.external_data.iter().find(|e| e.key == k).map(|e| e.value.clone());
        let location = get("location")
            .ok_or_else(|| format!("tensor '{}' is stored outside the file but names no location", t.name))?;
        let path = dir
            .map(|d| d.join(&location))
            .unwrap_or_else(|| location.clone().into());
        let offset: u64 = get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        let length: Option<u64> = get("length").and_then(|v| v.parse().ok());
        if !path.exists() {
            return Err(format!(
                "tensor '{}' is stored in the external file {} which does not exist — keep that file beside the .onnx",
                t.name,
                path.display()
            ));
        }
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let want = length.unwrap_or_else(|| size.saturating_sub(offset));
        if offset.saturating_add(want) > size {
            return Err(format!(
                "tensor '{}' reads bytes {offset}..{} of {}, which has only {size}",
                t.name,
                offset + want,
                path.display()
            ));
        }
        f.seek(SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; want as usize];
        f.read_exact(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        external = buf;
        &external
    } else {
        &t.raw_data
    };
    let (width, int) = match t.data_type {
        1 => (4, false),
        11 => (8, false),
        10 => (2, false),
        7 => (8, true),
        6 => (4, true),
        9 => (1, true),
        other => {
            return Err(format!(
                "tensor '{}' has element type {other}, which Strata does not read",
                t.name
            ));
        }
    };
    let data: Vec<f64> = if !raw.is_empty() {
        if raw.len() != n * width {
            return Err(format!(
                "tensor '{}' should hold {n} values ({} bytes) but has {} bytes",
                t.name,
                n * width,
                raw.len()
            ));
        }
        raw.chunks_exact(width)
            .map(|c| match (t.data_type, c.len()) {
                (1, 4) => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                (11, 8) => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
                (10, 2) => f64::from(half_to_f32(u16::from_le_bytes([c[0], c[1]]))),
                (7, 8) => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64,
                (6, 4) => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => f64::from(c[0]),
            })
            .collect()
    } else {
        match t.data_type {
            1 => t.float_data.iter().map(|&v| f64::from(v)).collect(),
            11 => t.double_data.clone(),
            7 => t.int64_data.iter().map(|&v| v as f64).collect(),
            6 | 9 | 10 => t.int32_data.iter().map(|&v| f64::from(v)).collect(),
            _ => Vec::new(),
        }
    };
    if data.len() != n {
        return Err(format!(
            "tensor '{}' should hold {n} values but holds {}",
            t.name,
            data.len()
        ));
    }
    Ok(Const { dims, data, int })
}

fn half_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match exp {
        0 => return f32::from_bits(sign) + (frac as f32) * 2f32.powi(-24) * if sign != 0 { -1.0 } else { 1.0 },
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        e => sign | ((e + 112) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// What an operator becomes.
pub enum Mapped {
    /// A Strata node of `kind` with these parameters, inputs (port, ONNX value) and learned
    /// tensors (Burn paths); its outputs are the operator's outputs in port order.
    Node {
        /// Kind id.
        kind: &'static str,
        /// Parameters.
        params: Params,
        /// (port, value name) for each wired input.
        inputs: Vec<(String, String)>,
        /// Learned tensors.
        weights: Vec<NamedTensor>,
    },
    /// The operator passes its first input through (Identity, Dropout at inference).
    Alias(String),
    /// The operator computes a constant (folded at import).
    Constant(Const),
}

/// What a mapper sees.
pub struct OpCtx<'a> {
    /// The operator.
    pub node: &'a NodeProto,
    /// Constants known so far (initializers, Constant outputs, folded values).
    pub consts: &'a HashMap<String, Const>,
    /// The default-domain opset.
    pub opset: i64,
}

impl OpCtx<'_> {
    /// Input `i`'s value name (empty names are open optional inputs).
    pub fn input(&self, i: usize) -> Option<&str> {
        self.node.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
    }
    /// Input `i` when it is a constant.
    pub fn constant(&self, i: usize) -> Option<&Const> {
        self.input(i).and_then(|n| self.consts.get(n))
    }
    /// An integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.attr(name).map(|a| a.i)
    }
    /// An integer-list attribute.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attr(name).map(|a| a.ints.clone())
    }
    /// A float attribute.
    pub fn float(&self, name: &str) -> Option<f32> {
        self.attr(name).map(|a| a.f)
    }
    /// A string attribute.
    pub fn string(&self, name: &str) -> Option<String> {
        self.attr(name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    fn attr(&self, name: &str) -> Option<&onnx_ir::AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }
    /// A plain node of `kind` on the first input.
    pub fn unary(&self, kind: &'static str, params: Params) -> Option<Mapped> {
        Some(Mapped::Node {
            kind,
            params,
            inputs: vec![("x".into(), self.input(0)?.to_owned())],
            weights: Vec::new(),
        })
    }
}

/// Maps one operator (`None`: keep it as an `onnx_op` node).
pub type MapFn = fn(&OpCtx) -> Option<Mapped>;

fn params(list: &[(&str, ParamValue)]) -> Params {
    list.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

struct Builder {
    project: Project,
    /// ONNX value → (node, output port).
    values: HashMap<String, (NodeId, String)>,
    consts: HashMap<String, Const>,
    weights: HashMap<NodeId, Vec<NamedTensor>>,
    notes: Vec<String>,
    uses: HashMap<String, usize>,
    opset: i64,
    titles: super::Names,
}

impl Builder {
    fn node(&mut self, kind: &str, title: &str, p: Params) -> NodeId {
        let mut n = catalog::default_node(kind).unwrap_or_else(|| Node::new(kind));
        n.params.extend(p);
        // Titles are unique: weights kept under node names must not collide.
        n.title = self.titles.fresh(title);
        self.project.graph.add(n)
    }

    /// Where value `name` comes from; constants used as data become parameter nodes.
    fn source(&mut self, name: &str) -> Result<Option<(NodeId, String)>, String> {
        if let Some(s) = self.values.get(name) {
            return Ok(Some(s.clone()));
        }
        let Some(c) = self.consts.get(name).cloned() else {
            return Ok(None);
        };
        if c.dims.is_empty() || c.dims.iter().product::<usize>() == 0 {
            return Err(format!(
                "the scalar constant '{name}' feeds an operator as data, which Strata cannot hold as a node"
            ));
        }
        let shape = c.dims.iter().map(|&d| ParamValue::Int(d as i64)).collect();
        let id = self.node("parameter", name, params(&[("shape", ParamValue::List(shape))]));
        let rows = c.data.len() / c.dims.last().copied().unwrap_or(1).max(1);
        let cols = c.dims.last().copied().unwrap_or(1);
        self.weights.insert(id, vec![c.tensor("value").reshaped(&[rows, cols])]);
        self.notes
            .push(format!("the constant '{name}' became a learned Parameter node"));
        self.values.insert(name.to_owned(), (id, "y".into()));
        Ok(Some((id, "y".into())))
    }

    fn operator(&mut self, n: &NodeProto) -> Result<(), String> {
        let title = node_title(n);
        if n.op_type == "Constant" {
            let t = n
                .attribute
                .iter()
                .find(|a| a.name == "value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| format!("Constant '{title}' has no tensor value"))?;
            let c = read_tensor(t, None)?;
            if let Some(o) = n.output.first() {
                self.consts.insert(o.clone(), c);
            }
            return Ok(());
        }
        let known = n.domain.is_empty() || n.domain == "ai.onnx" || n.domain == STRATA_DOMAIN;
        if known && n.op_type == "Add" && self.fold_bias(n) {
            return Ok(());
        }
        if known && let Some(c) = self.fold(n) {
            if let Some(o) = n.output.first() {
                self.consts.insert(o.clone(), c);
            }
            return Ok(());
        }
        let mapped = if known {
            let kept = (n.op_type == "Reshape").then(|| self.reshape_keeping(n)).flatten();
            kept.or_else(|| {
                MAPPERS.iter().find(|(op, _)| *op == n.op_type).and_then(|(_, f)| {
                    f(&OpCtx {
                        node: n,
                        consts: &self.consts,
                        opset: self.opset,
                    })
                })
            })
        } else {
            None
        };
        match mapped {
            Some(Mapped::Alias(v)) if !self.values.contains_key(&v) && self.consts.contains_key(&v) => {
                // A constant passed through (exporters dedupe initializers with Identity).
                if let (Some(o), Some(c)) = (n.output.first(), self.consts.get(&v).cloned()) {
                    self.consts.insert(o.clone(), c);
                }
            }
            Some(Mapped::Alias(v)) => {
                let src = self
                    .source(&v)?
                    .ok_or_else(|| format!("'{title}' reads '{v}', which is not produced"))?;
                if let Some(o) = n.output.first() {
                    self.values.insert(o.clone(), src);
                }
            }
            Some(Mapped::Constant(c)) => {
                if let Some(o) = n.output.first() {
                    self.consts.insert(o.clone(), c);
                }
            }
            // A scalar constant as data (x + 1) has no node to come from: keep the operator.
            Some(Mapped::Node { ref inputs, .. })
                if inputs.iter().any(|(_, v)| {
                    self.consts
                        .get(v)
                        .is_some_and(|c| c.dims.iter().product::<usize>() <= 1)
                        && !self.values.contains_key(v)
                }) =>
            {
                self.opaque(n, &title)?
            }
            Some(Mapped::Node {
                kind,
                params,
                inputs,
                weights,
            }) => {
                let id = self.node(kind, &title, params);
                for (port, v) in inputs {
                    let src = self
                        .source(&v)?
                        .ok_or_else(|| format!("'{title}' reads '{v}', which is not produced"))?;
                    self.project.graph.add_wire(Wire::new(src.0, &src.1, id, &port));
                }
                if !weights.is_empty() {
                    self.weights.insert(id, weights);
                }
                let outs = catalog::catalog()
                    .get(kind)
                    .map(|s| {
                        s.output_ports(
                            &self
                                .project
                                .graph
                                .node(id)
                                .map(|n| n.params.clone())
                                .unwrap_or_default(),
                        )
                        .to_vec()
                    })
                    .unwrap_or_default();
                for (o, port) in n.output.iter().zip(outs.iter()) {
                    if !o.is_empty() {
                        self.values.insert(o.clone(), (id, port.name.to_string()));
                    }
                }
            }
            None => self.opaque(n, &title)?,
        }
        Ok(())
    }

    /// The shape of a value the graph computes, when the checker knows every size.
    /// A `Reshape` whose target keeps some of the input's sizes (0 entries): those become the
    /// sizes the shape checker knows there — numbers (a static batch is made B at the end of
    /// the import, reshapes with it) or symbols like T.
    fn reshape_keeping(&self, n: &NodeProto) -> Option<Mapped> {
        let shape = self.consts.get(n.input.get(1)?)?.ints();
        let allow_zero = n.attribute.iter().any(|a| a.name == "allowzero" && a.i != 0);
        if allow_zero || !shape.contains(&0) {
            return None;
        }
        let x = n.input.first()?;
        let (id, port) = self.values.get(x)?;
        let dims = crate::shape::check(&self.project).output_type(*id, port)?.dims.clone();
        let mut out = Vec::with_capacity(shape.len());
        for (i, &d) in shape.iter().enumerate() {
            out.push(match d {
                0 => match dims.get(i)? {
                    crate::catalog::Dim::Known(k) => ParamValue::Int(i64::try_from(*k).ok()?),
                    crate::catalog::Dim::Sym { sym, mul: 1, add: 0 } => ParamValue::Text(sym.to_string()),
                    _ => return None,
                },
                -1 => ParamValue::Int(-1),
                k if k > 0 => ParamValue::Int(k),
                _ => return None,
            });
        }
        Some(Mapped::Node {
            kind: "reshape",
            params: params(&[("shape", ParamValue::List(out))]),
            inputs: vec![("x".into(), x.clone())],
            weights: Vec::new(),
        })
    }

    fn known_shape(&self, v: &str) -> Option<Vec<usize>> {
        let (id, port) = self.values.get(v)?;
        let report = crate::shape::check(&self.project);
        let t = report.output_type(*id, port)?;
        t.dims
            .iter()
            .map(|d| d.known().and_then(|k| usize::try_from(k).ok()))
            .collect()
    }

    /// Evaluates an operator on constants (shape arithmetic exporters write out: Shape, Gather,
    /// Concat, Unsqueeze, Cast, element-wise maths); `None` when it is not constant.
    fn fold(&self, n: &NodeProto) -> Option<Const> {
        let attr_i = |name: &str| n.attribute.iter().find(|a| a.name == name).map(|a| a.i);
        let attr_is = |name: &str| n.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone());
        if n.op_type == "Shape" {
            let shape = self.known_shape(n.input.first()?)?;
            let r = shape.len() as i64;
            let norm = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
            let (a, b) = (norm(attr_i("start").unwrap_or(0)), norm(attr_i("end").unwrap_or(r)));
            let data: Vec<f64> = shape.get(a..b.max(a))?.iter().map(|&d| d as f64).collect();
            return Some(Const {
                dims: vec![data.len()],
                data,
                int: true,
            });
        }
        let ins: Vec<&Const> = n
            .input
            .iter()
            .filter(|s| !s.is_empty())
            .map(|i| self.consts.get(i))
            .collect::<Option<_>>()?;
        if ins.is_empty() || self.values.keys().any(|k| n.input.contains(k)) {
            return None;
        }
        let first = ins[0];
        let elementwise = |f: fn(f64, f64) -> f64| -> Option<Const> {
            let (a, b) = (ins.first()?, ins.get(1)?);
            let (long, dims) = if a.data.len() >= b.data.len() {
                (a, a.dims.clone())
            } else {
                (b, b.dims.clone())
            };
            if a.data.len() != b.data.len() && a.data.len() != 1 && b.data.len() != 1 {
                return None;
            }
            let data = (0..long.data.len())
                .map(|i| {
                    f(
                        a.data[if a.data.len() == 1 { 0 } else { i }],
                        b.data[if b.data.len() == 1 { 0 } else { i }],
                    )
                })
                .collect();
            Some(Const {
                dims,
                data,
                int: a.int && b.int,
            })
        };
        let int_div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
        match n.op_type.as_str() {
            "Add" => elementwise(|a, b| a + b),
            "Sub" => elementwise(|a, b| a - b),
            "Mul" => elementwise(|a, b| a * b),
            "Div" => {
                let mut c = elementwise(int_div)?;
                if c.int {
                    c.data.iter_mut().for_each(|v| *v = v.trunc());
                }
                Some(c)
            }
            "Mod" => elementwise(|a, b| if b == 0.0 { 0.0 } else { a.rem_euclid(b) }),
            "Sqrt" => Some(Const {
                data: first.data.iter().map(|v| v.sqrt()).collect(),
                ..first.clone()
            }),
            "Cast" => {
                let to = attr_i("to")?;
                let int = matches!(to, 6 | 7);
                let data = first.data.iter().map(|&v| if int { v.trunc() } else { v }).collect();
                Some(Const {
                    dims: first.dims.clone(),
                    data,
                    int,
                })
            }
            "Unsqueeze" | "Squeeze" => {
                let axes = match ins.get(1) {
                    Some(a) => a.ints(),
                    None => attr_is("axes").unwrap_or_default(),
                };
                let mut dims = first.dims.clone();
                if n.op_type == "Unsqueeze" {
                    let r = (dims.len() + axes.len()) as i64;
                    let mut axes: Vec<usize> = axes.iter().map(|&a| if a < 0 { a + r } else { a } as usize).collect();
                    axes.sort_unstable();
                    for a in axes {
                        dims.insert(a.min(dims.len()), 1);
                    }
                } else if axes.is_empty() {
                    dims.retain(|&d| d != 1);
                } else {
                    let r = dims.len() as i64;
                    let axes: Vec<usize> = axes.iter().map(|&a| if a < 0 { a + r } else { a } as usize).collect();
                    dims = dims
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(i))
                        .map(|(_, &d)| d)
                        .collect();
                }
                Some(Const { dims, ..first.clone() })
            }
            "Concat" => {
                if ins.iter().any(|c| c.dims.len() != 1) {
                    return None;
                }
                let data: Vec<f64> = ins.iter().flat_map(|c| c.data.iter().copied()).collect();
                Some(Const {
                    dims: vec![data.len()],
                    data,
                    int: first.int,
                })
            }
            "Gather" => {
                let idx = ins.get(1)?;
                if first.dims.len() != 1 || attr_i("axis").unwrap_or(0) != 0 {
                    return None;
                }
                let len = first.data.len() as i64;
                let data = idx
                    .ints()
                    .iter()
                    .map(|&i| first.data.get(if i < 0 { i + len } else { i } as usize).copied())
                    .collect::<Option<Vec<f64>>>()?;
                Some(Const {
                    dims: idx.dims.clone(),
                    data,
                    int: first.int,
                })
            }
            "Reshape" => {
                let target = ins.get(1)?.ints();
                let n_all = first.data.len();
                let mut dims: Vec<usize> = Vec::with_capacity(target.len());
                for (i, &d) in target.iter().enumerate() {
                    dims.push(match d {
                        0 => *first.dims.get(i)?,
                        -1 => 0,
                        d if d > 0 => d as usize,
                        _ => return None,
                    });
                }
                let known: usize = dims.iter().filter(|&&d| d > 0).product();
                for d in dims.iter_mut().filter(|d| **d == 0) {
                    *d = n_all / known.max(1);
                }
                (dims.iter().product::<usize>() == n_all).then(|| Const { dims, ..first.clone() })
            }
            "Slice" if first.dims.len() == 1 => {
                let len = first.data.len() as i64;
                let clamp = |v: i64| if v < 0 { (v + len).max(0) } else { v.min(len) } as usize;
                let (start, end) = (clamp(*ins.get(1)?.ints().first()?), clamp(*ins.get(2)?.ints().first()?));
                let data = first.data.get(start..end.max(start))?.to_vec();
                Some(Const {
                    dims: vec![data.len()],
                    data,
                    int: first.int,
                })
            }
            _ => None,
        }
    }

    /// `MatMul` then `Add` of a vector (how a Linear layer is often written): the vector becomes
    /// the Linear's bias. Returns whether it folded.
    fn fold_bias(&mut self, n: &NodeProto) -> bool {
        let (Some(a), Some(b), Some(out)) = (n.input.first(), n.input.get(1), n.output.first()) else {
            return false;
        };
        for (x, k) in [(a, b), (b, a)] {
            let Some(c) = self
                .consts
                .get(k)
                .filter(|c| c.dims.len() == 1 && !self.values.contains_key(k))
            else {
                continue;
            };
            let Some((id, port)) = self.values.get(x).cloned() else {
                continue;
            };
            if self.uses.get(x).copied().unwrap_or(0) != 1 {
                continue;
            }
            let Some(node) = self.project.graph.node(id) else {
                continue;
            };
            let out_features = node.params.get("out_features").and_then(ParamValue::as_int);
            if node.kind != "linear"
                || node.params.get("bias").and_then(ParamValue::as_bool) != Some(false)
                || out_features != Some(c.dims[0] as i64)
            {
                continue;
            }
            let bias = c.tensor("bias");
            if let Some(i) = self.project.graph.index_of(id) {
                self.project.graph.nodes[i]
                    .params
                    .insert("bias".into(), ParamValue::Bool(true));
            }
            self.weights.entry(id).or_default().push(bias);
            self.values.insert(out.clone(), (id, port));
            return true;
        }
        false
    }

    /// Keeps an operator Strata has no layer for.
    fn opaque(&mut self, n: &NodeProto, title: &str) -> Result<(), String> {
        let mut attrs = serde_json::Map::new();
        for a in &n.attribute {
            let v = match a.type_.value() {
                1 => serde_json::json!(a.f),
                2 => serde_json::json!(a.i),
                3 => serde_json::json!(String::from_utf8_lossy(&a.s)),
                6 => serde_json::json!(a.floats),
                7 => serde_json::json!(a.ints),
                _ => serde_json::json!("(not shown)"),
            };
            attrs.insert(a.name.clone(), v);
        }
        // Small constant inputs (shapes, axes, scalars) go into the attributes; the others are wires.
        let mut wired = Vec::new();
        let mut consumed = Vec::new();
        for v in n.input.iter().filter(|s| !s.is_empty()) {
            match self.consts.get(v.as_str()) {
                Some(c) if c.data.len() <= 16 && !self.values.contains_key(v.as_str()) => {
                    consumed.push(format!("{v} = {:?}", c.data));
                    attrs.insert(format!("input:{v}"), serde_json::json!(c.data));
                }
                _ => wired.push(v.clone()),
            }
        }
        let p = params(&[
            ("op_type", ParamValue::Text(n.op_type.clone())),
            ("domain", ParamValue::Text(n.domain.clone())),
            (
                "attributes",
                ParamValue::Text(serde_json::Value::Object(attrs).to_string()),
            ),
            ("inputs", ParamValue::Int(wired.len().max(1) as i64)),
            ("outputs", ParamValue::Int(n.output.len().max(1) as i64)),
        ]);
        let id = self.node("onnx_op", title, p);
        for (k, v) in wired.iter().enumerate() {
            if let Some(src) = self.source(v)? {
                self.project
                    .graph
                    .add_wire(Wire::new(src.0, &src.1, id, &format!("in{k}")));
            }
        }
        for (k, o) in n.output.iter().enumerate() {
            self.values.insert(o.clone(), (id, format!("out{k}")));
        }
        let extra = if consumed.is_empty() {
            String::new()
        } else {
            format!(" (constant inputs: {})", consumed.join(", "))
        };
        self.notes.push(format!(
            "'{title}' ({}) has no Strata layer: kept as an ONNX operator node{extra}",
            n.op_type
        ));
        Ok(())
    }
}

#[cfg(feature = "engine")]
/// Imported weights onto a compiled model, then saved as a checkpoint folder `dir` (the layout a
/// run writes: `nodes/<key>.bpk`, so exports and training find it). Returns the nodes written.
pub fn save_weights(
    project: &Project,
    weights: &HashMap<NodeId, Vec<NamedTensor>>,
    dir: &Path,
) -> Result<usize, String> {
    let device = burn::tensor::Device::flex();
    let model = crate::engine::compile(project, &device).map_err(|e| e.to_string())?;
    let crate::engine::GraphModel { mut layers, plan } = model;
    let mut done = 0;
    for s in &plan.steps {
        // Imported projects have no blocks: a node's key is its id.
        let id = s.key.parse().ok().map(NodeId);
        let (Some(li), Some(ts)) = (s.layer, id.and_then(|id| weights.get(&id))) else {
            continue;
        };
        let layer = layers.remove(li);
        let (layer, missing) = super::weights::assign(layer, ts);
        layers.insert(li, layer);
        if !missing.is_empty() {
            return Err(format!(
                "node '{}': the file has no values for {}",
                s.title,
                missing.join(", ")
            ));
        }
        done += 1;
    }
    let model = crate::engine::GraphModel { layers, plan };
    model.save_nodes(dir)?;
    Ok(done)
}

/// The recurrent layer [`expand_recurrent`] wrote: ONNX's `W` [dirs, G·H, in], `R`
/// [dirs, G·H, H] and `B` [dirs, 2·G·H] become each direction's input and hidden projections
/// in Strata's gate order.
fn recurrent(c: &OpCtx) -> Option<Mapped> {
    let written = c.node.attribute.iter().find(|a| a.name == "kind")?;
    let &(kind, _, onnx_order) = super::ONNX_RECURRENT
        .iter()
        .find(|(k, ..)| k.as_bytes() == &written.s[..])?;
    let h = usize::try_from(c.int("hidden_size")?)
        .ok()
        .filter(|&h| h > 0 && h < 1 << 24)?;
    let two = c
        .node
        .attribute
        .iter()
        .any(|a| a.name == "direction" && a.s.as_ref() == b"bidirectional");
    let dirs = if two { 2 } else { 1 };
    // ONNX's gate for each of Strata's gates, in Strata's order.
    let gates = onnx_order.len();
    let order: Vec<usize> = (0..gates)
        .map(|s| onnx_order.iter().position(|&g| g == s).unwrap_or(s))
        .collect();
    let (w, r) = (c.constant(1)?, c.constant(2)?);
    let inputs = w.dims.get(2).copied()?;
    if w.dims != [dirs, gates * h, inputs] || r.dims != [dirs, gates * h, h] {
        return None;
    }
    let b = match c.input(3) {
        Some(_) => c.constant(3)?.clone(),
        None => Const {
            dims: vec![dirs, 2 * gates * h],
            data: vec![0.0; dirs * 2 * gates * h],
            int: false,
        },
    };
    if b.data.len() != dirs * 2 * gates * h {
        return None;
    }
    // Rows [G·H, cols] of one direction in Strata's gate order.
    let rows = |data: &[f64], cols: usize| -> Vec<f32> {
        let mut v = Vec::with_capacity(data.len());
        for &g in &order {
            v.extend(data[g * h * cols..(g + 1) * h * cols].iter().map(|&x| x as f32));
        }
        v
    };
    let tensor = |name: String, dims: Vec<usize>, data: Vec<f32>| NamedTensor { name, dims, data };
    let mut weights = Vec::new();
    for d in 0..dirs {
        let wd = &w.data[d * gates * h * inputs..(d + 1) * gates * h * inputs];
        let rd = &r.data[d * gates * h * h..(d + 1) * gates * h * h];
        let bd = &b.data[d * 2 * gates * h..(d + 1) * 2 * gates * h];
        // Burn keeps [in, out].
        weights.push(
            tensor(
                format!("cells.{d}.input.weight"),
                vec![gates * h, inputs],
                rows(wd, inputs),
            )
            .transposed(),
        );
        weights.push(tensor(format!("cells.{d}.hidden.weight"), vec![gates * h, h], rows(rd, h)).transposed());
        weights.push(tensor(
            format!("cells.{d}.input.bias"),
            vec![gates * h],
            rows(&bd[..gates * h], 1),
        ));
        weights.push(tensor(
            format!("cells.{d}.hidden.bias"),
            vec![gates * h],
            rows(&bd[gates * h..], 1),
        ));
    }
    Some(Mapped::Node {
        kind,
        params: params(&[
            ("hidden", ParamValue::Int(h as i64)),
            ("layers", ParamValue::Int(1)),
            ("bidirectional", ParamValue::Bool(two)),
        ]),
        inputs: vec![("x".into(), c.input(0)?.to_owned())],
        weights,
    })
}

/// ONNX op type → mapping, one entry per operator family.
pub const MAPPERS: &[(&str, MapFn)] = &[
    ("StrataRecurrent", recurrent),
    ("Identity", alias),
    ("Dropout", alias),
    ("Relu", |c| c.unary("relu", Params::new())),
    ("Sigmoid", |c| c.unary("sigmoid", Params::new())),
    ("Tanh", |c| c.unary("tanh", Params::new())),
    ("Elu", |c| {
        (c.float("alpha").unwrap_or(1.0) == 1.0)
            .then(|| c.unary("elu", Params::new()))
            .flatten()
    }),
    ("LeakyRelu", |c| {
        c.unary(
            "leaky_relu",
            params(&[("slope", ParamValue::Float(f64::from(c.float("alpha").unwrap_or(0.01))))]),
        )
    }),
    ("Gelu", |c| {
        let tanh = c.string("approximate").as_deref() == Some("tanh");
        c.unary(
            "gelu",
            params(&[(
                "approximate",
                ParamValue::Text(if tanh { "tanh" } else { "none" }.into()),
            )]),
        )
    }),
    ("Softmax", |c| {
        (c.opset >= 13)
            .then(|| {
                c.unary(
                    "softmax",
                    params(&[("dim", ParamValue::Int(c.int("axis").unwrap_or(-1)))]),
                )
            })
            .flatten()
    }),
    ("Gemm", gemm),
    ("MatMul", matmul),
    ("Add", add),
    ("Mul", mul),
    ("Div", div),
    ("Conv", conv),
    ("ConvTranspose", conv_transpose),
    ("BatchNormalization", batch_norm),
    ("LayerNormalization", layer_norm),
    ("MaxPool", |c| pool(c, "max_pool2d")),
    ("AveragePool", |c| pool(c, "avg_pool2d")),
    ("GlobalAveragePool", |c| {
        c.unary(
            "adaptive_avg_pool2d",
            params(&[("out_h", ParamValue::Int(1)), ("out_w", ParamValue::Int(1))]),
        )
    }),
    ("Flatten", |c| {
        let a = c.int("axis").unwrap_or(1);
        (a >= 1)
            .then(|| {
                c.unary(
                    "flatten",
                    params(&[("start_dim", ParamValue::Int(a)), ("end_dim", ParamValue::Int(-1))]),
                )
            })
            .flatten()
    }),
    ("Reshape", reshape),
    ("Transpose", transpose),
    ("Concat", concat),
    ("Gather", gather),
    ("Squeeze", |c| one_axis(c, "squeeze")),
    ("Unsqueeze", |c| one_axis(c, "unsqueeze")),
    ("ReduceMean", reduce_mean),
];

fn alias(c: &OpCtx) -> Option<Mapped> {
    Some(Mapped::Alias(c.input(0)?.to_owned()))
}

fn binary(c: &OpCtx, kind: &'static str) -> Option<Mapped> {
    Some(Mapped::Node {
        kind,
        params: params(&[("inputs", ParamValue::Int(2))]),
        inputs: vec![
            ("x0".into(), c.input(0)?.to_owned()),
            ("x1".into(), c.input(1)?.to_owned()),
        ],
        weights: Vec::new(),
    })
}

/// A scalar constant among the two inputs: (the other input, the value).
fn add(c: &OpCtx) -> Option<Mapped> {
    binary(c, "add")
}

fn scalar_operand(c: &OpCtx) -> Option<(String, f64)> {
    for (x, k) in [(0, 1), (1, 0)] {
        if let Some(k) = c.constant(k).filter(|k| k.data.len() == 1 && !k.int) {
            return Some((c.input(x)?.to_owned(), k.data[0]));
        }
    }
    None
}

fn mul(c: &OpCtx) -> Option<Mapped> {
    if let Some((x, v)) = scalar_operand(c) {
        return Some(Mapped::Node {
            kind: "scale",
            params: params(&[("factor", ParamValue::Float(v))]),
            inputs: vec![("x".into(), x)],
            weights: Vec::new(),
        });
    }
    binary(c, "multiply")
}

fn div(c: &OpCtx) -> Option<Mapped> {
    let k = c
        .constant(1)
        .filter(|k| k.data.len() == 1 && k.data[0] != 0.0 && !k.int)?;
    Some(Mapped::Node {
        kind: "scale",
        params: params(&[("factor", ParamValue::Float(1.0 / k.data[0]))]),
        inputs: vec![("x".into(), c.input(0)?.to_owned())],
        weights: Vec::new(),
    })
}

fn linear(x: &str, w: NamedTensor, b: Option<NamedTensor>) -> Option<Mapped> {
    let out = *w.dims.get(1)?;
    let mut weights = vec![w.named("weight")];
    let has_bias = b.is_some();
    weights.extend(b.map(|b| b.named("bias")));
    Some(Mapped::Node {
        kind: "linear",
        params: params(&[
            ("out_features", ParamValue::Int(out as i64)),
            ("bias", ParamValue::Bool(has_bias)),
        ]),
        inputs: vec![("x".into(), x.to_owned())],
        weights,
    })
}

fn gemm(c: &OpCtx) -> Option<Mapped> {
    if c.int("transA").unwrap_or(0) != 0
        || c.float("alpha").unwrap_or(1.0) != 1.0
        || c.float("beta").unwrap_or(1.0) != 1.0
    {
        return None;
    }
    let w = c.constant(1)?;
    if w.dims.len() != 2 {
        return None;
    }
    // Burn keeps [in, out]; Gemm with transB holds [out, in].
    let w = if c.int("transB").unwrap_or(0) != 0 {
        w.tensor("weight").transposed()
    } else {
        w.tensor("weight")
    };
    let b = match c.input(2) {
        Some(_) => {
            let b = c.constant(2)?;
            (b.data.len() == w.dims[1]).then(|| b.tensor("bias").reshaped(&[w.dims[1]]))?
        }
        None => None?,
    };
    linear(c.input(0)?, w, Some(b))
}

fn matmul(c: &OpCtx) -> Option<Mapped> {
    if let Some(w) = c.constant(1).filter(|w| w.dims.len() == 2) {
        return linear(c.input(0)?, w.tensor("weight"), None);
    }
    if c.constant(0).is_some() || c.constant(1).is_some() {
        return None;
    }
    Some(Mapped::Node {
        kind: "matmul",
        params: Params::new(),
        inputs: vec![
            ("a".into(), c.input(0)?.to_owned()),
            ("b".into(), c.input(1)?.to_owned()),
        ],
        weights: Vec::new(),
    })
}

/// One square size from a per-axis list (`None` when they differ).
fn square(v: &[i64]) -> Option<i64> {
    let first = *v.first()?;
    v.iter().all(|&x| x == first).then_some(first)
}

fn conv(c: &OpCtx) -> Option<Mapped> {
    let w = c.constant(1)?;
    let spatial = w.dims.len().checked_sub(2)?;
    if !(1..=2).contains(&spatial) || c.string("auto_pad").is_some_and(|p| p != "NOTSET") {
        return None;
    }
    let k = square(&w.dims[2..].iter().map(|&d| d as i64).collect::<Vec<_>>())?;
    let stride = square(&c.ints("strides").unwrap_or_else(|| vec![1; spatial]))?;
    let pad = square(&c.ints("pads").unwrap_or_else(|| vec![0; 2 * spatial]))?;
    let dilation = square(&c.ints("dilations").unwrap_or_else(|| vec![1; spatial]))?;
    let mut weights = vec![w.tensor("weight")];
    let bias = c.input(2).is_some();
    if bias {
        weights.push(c.constant(2)?.tensor("bias"));
    }
    Some(Mapped::Node {
        kind: if spatial == 2 { "conv2d" } else { "conv1d" },
        params: params(&[
            ("out_channels", ParamValue::Int(w.dims[0] as i64)),
            ("kernel_size", ParamValue::Int(k)),
            ("stride", ParamValue::Int(stride)),
            ("padding", ParamValue::Int(pad)),
            ("dilation", ParamValue::Int(dilation)),
            ("groups", ParamValue::Int(c.int("group").unwrap_or(1))),
            ("bias", ParamValue::Bool(bias)),
        ]),
        inputs: vec![("x".into(), c.input(0)?.to_owned())],
        weights,
    })
}

fn conv_transpose(c: &OpCtx) -> Option<Mapped> {
    let w = c.constant(1)?;
    if w.dims.len() != 4 || c.int("group").unwrap_or(1) != 1 || c.ints("output_shape").is_some() {
        return None;
    }
    let k = square(&[w.dims[2] as i64, w.dims[3] as i64])?;
    let stride = square(&c.ints("strides").unwrap_or_else(|| vec![1; 2]))?;
    let pad = square(&c.ints("pads").unwrap_or_else(|| vec![0; 4]))?;
    let op = square(&c.ints("output_padding").unwrap_or_else(|| vec![0; 2]))?;
    if square(&c.ints("dilations").unwrap_or_else(|| vec![1; 2]))? != 1 {
        return None;
    }
    let mut weights = vec![w.tensor("weight")];
    let bias = c.input(2).is_some();
    if bias {
        weights.push(c.constant(2)?.tensor("bias"));
    }
    Some(Mapped::Node {
        kind: "conv_transpose2d",
        params: params(&[
            ("out_channels", ParamValue::Int(w.dims[1] as i64)),
            ("kernel_size", ParamValue::Int(k)),
            ("stride", ParamValue::Int(stride)),
            ("padding", ParamValue::Int(pad)),
            ("output_padding", ParamValue::Int(op)),
            ("bias", ParamValue::Bool(bias)),
        ]),
        inputs: vec![("x".into(), c.input(0)?.to_owned())],
        weights,
    })
}

fn batch_norm(c: &OpCtx) -> Option<Mapped> {
    let (s, b, m, v) = (c.constant(1)?, c.constant(2)?, c.constant(3)?, c.constant(4)?);
    Some(Mapped::Node {
        kind: "batch_norm",
        params: params(&[
            ("eps", ParamValue::Float(f64::from(c.float("epsilon").unwrap_or(1e-5)))),
            (
                "momentum",
                ParamValue::Float(1.0 - f64::from(c.float("momentum").unwrap_or(0.9))),
            ),
        ]),
        inputs: vec![("x".into(), c.input(0)?.to_owned())],
        weights: vec![
            s.tensor("gamma"),
            b.tensor("beta"),
            m.tensor("running_mean"),
            v.tensor("running_var"),
        ],
    })
}

fn layer_norm(c: &OpCtx) -> Option<Mapped> {
    if c.int("axis").unwrap_or(-1) != -1 {
        return None;
    }
    let s = c.constant(1)?;
    let mut weights = vec![s.tensor("gamma")];
    let bias = c.input(2).is_some();
    if bias {
        weights.push(c.constant(2)?.tensor("beta"));
    }
    Some(Mapped::Node {
        kind: "layer_norm",
        params: params(&[
            ("eps", ParamValue::Float(f64::from(c.float("epsilon").unwrap_or(1e-5)))),
            ("affine", ParamValue::Bool(true)),
            ("bias", ParamValue::Bool(bias)),
        ]),
        inputs: vec![("x".into(), c.input(0)?.to_owned())],
        weights,
    })
}

fn pool(c: &OpCtx, kind: &'static str) -> Option<Mapped> {
    let k = square(&c.ints("kernel_shape")?)?;
    let stride = square(&c.ints("strides").unwrap_or_else(|| vec![1; 2]))?;
    let pad = square(&c.ints("pads").unwrap_or_else(|| vec![0; 4]))?;
    if c.string("auto_pad").is_some_and(|p| p != "NOTSET")
        || c.ints("dilations").is_some_and(|d| d.iter().any(|&x| x != 1))
        || (kind == "avg_pool2d" && pad > 0 && c.int("count_include_pad").unwrap_or(0) == 0)
        || c.node.output.len() > 1
    {
        return None;
    }
    c.unary(
        kind,
        params(&[
            ("kernel_size", ParamValue::Int(k)),
            ("stride", ParamValue::Int(stride)),
            ("padding", ParamValue::Int(pad)),
            ("ceil_mode", ParamValue::Bool(c.int("ceil_mode").unwrap_or(0) != 0)),
        ]),
    )
}

fn reshape(c: &OpCtx) -> Option<Mapped> {
    let shape = c.constant(1)?.ints();
    // 0 keeps the input's size: the batch at the front; elsewhere it needs the input's shape,
    // which the importer does not know before checking — those stay ONNX nodes.
    let mut out = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        out.push(match d {
            0 if i == 0 => ParamValue::Text("B".into()),
            0 => return None,
            -1 => ParamValue::Int(-1),
            n if n > 0 => ParamValue::Int(n),
            _ => return None,
        });
    }
    if c.int("allowzero").unwrap_or(0) != 0 {
        return None;
    }
    c.unary("reshape", params(&[("shape", ParamValue::List(out))]))
}

fn transpose(c: &OpCtx) -> Option<Mapped> {
    let perm = c.ints("perm")?;
    let moved: Vec<usize> = (0..perm.len()).filter(|&i| perm[i] != i as i64).collect();
    if let [a, b] = moved[..] {
        return c.unary(
            "transpose",
            params(&[("dim0", ParamValue::Int(a as i64)), ("dim1", ParamValue::Int(b as i64))]),
        );
    }
    c.unary(
        "permute",
        params(&[(
            "dims",
            ParamValue::List(perm.into_iter().map(ParamValue::Int).collect()),
        )]),
    )
}

fn concat(c: &OpCtx) -> Option<Mapped> {
    let ins: Vec<String> = c.node.input.iter().filter(|s| !s.is_empty()).cloned().collect();
    if ins.len() < 2 || ins.iter().any(|i| c.consts.contains_key(i)) {
        return None;
    }
    Some(Mapped::Node {
        kind: "concat",
        params: params(&[
            ("dim", ParamValue::Int(c.int("axis")?)),
            ("inputs", ParamValue::Int(ins.len() as i64)),
        ]),
        inputs: ins.into_iter().enumerate().map(|(k, v)| (format!("x{k}"), v)).collect(),
        weights: Vec::new(),
    })
}

fn gather(c: &OpCtx) -> Option<Mapped> {
    let axis = c.int("axis").unwrap_or(0);
    if let Some(table) = c.constant(0).filter(|t| t.dims.len() == 2 && !t.int)
        && axis == 0
        && c.constant(1).is_none()
    {
        return Some(Mapped::Node {
            kind: "embedding",
            params: params(&[
                ("num_embeddings", ParamValue::Int(table.dims[0] as i64)),
                ("dim", ParamValue::Int(table.dims[1] as i64)),
            ]),
            inputs: vec![("ids".into(), c.input(1)?.to_owned())],
            weights: vec![table.tensor("weight")],
        });
    }
    let idx = c.constant(1).filter(|i| i.dims.is_empty() && i.data.len() == 1)?;
    let index = idx.data[0] as i64;
    if c.constant(0).is_some() {
        return None;
    }
    c.unary(
        "select",
        params(&[("dim", ParamValue::Int(axis)), ("index", ParamValue::Int(index))]),
    )
}

fn one_axis(c: &OpCtx, kind: &'static str) -> Option<Mapped> {
    let axes = match c.constant(1) {
        Some(a) => a.ints(),
        None => c.ints("axes")?,
    };
    let [a] = axes[..] else { return None };
    c.unary(kind, params(&[("dim", ParamValue::Int(a))]))
}

fn reduce_mean(c: &OpCtx) -> Option<Mapped> {
    let axes = c.ints("axes").or_else(|| c.constant(1).map(Const::ints))?;
    let [a] = axes[..] else { return None };
    c.unary(
        "mean",
        params(&[
            ("dim", ParamValue::Int(a)),
            ("keepdim", ParamValue::Bool(c.int("keepdims").unwrap_or(1) != 0)),
        ]),
    )
}
