//! A project as an ONNX model (opset 17): one graph, every learned tensor an initializer (so the
//! initializers hold exactly the model's parameters), buffers and tables as `Constant` nodes.
//!
//! Each node's operators come from its kind's [`OnnxFn`] (see [`super::exporters`]); blocks are
//! expanded (ONNX has no modules), node names keep the block path (`stage1/0/conv1`).

use super::weights::NamedTensor;
use super::{Names, exporters};
use crate::catalog::{DType, Dim};
use crate::doc::Project;
use crate::engine::GraphModel;
use onnx_ir::{AttributeProto, AttributeType, GraphProto, Message, ModelProto, NodeProto, TensorProto, ValueInfoProto};

/// The opset the exporter writes.
pub const OPSET: i64 = 17;

/// Metadata key under which the exporter stores the project (see [`super::import`]).
pub const PROJECT_KEY: &str = "strata.project";

/// ONNX element types (TensorProto.DataType).
const FLOAT: i32 = 1;
const INT64: i32 = 7;

/// An attribute value.
pub enum Attr {
    /// An integer.
    Int(i64),
    /// Integers.
    Ints(Vec<i64>),
    /// A float.
    Float(f32),
    /// A string.
    Str(String),
    /// A sub-graph (the body of a `Scan` or `Loop`).
    Graph(Box<GraphProto>),
}

/// The graph being written.
pub struct OnnxGraph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: Names,
    /// Learned scalars written as initializers.
    pub param_count: usize,
}

impl OnnxGraph {
    fn new() -> Self {
        OnnxGraph {
            nodes: Vec::new(),
            initializers: Vec::new(),
            names: Names::default(),
            param_count: 0,
        }
    }

    /// A value name not used yet.
    pub fn fresh(&mut self, base: &str) -> String {
        self.names.fresh(base)
    }

    /// Adds an operator; returns the names of its `outputs` new values.
    pub fn op(&mut self, op: &str, inputs: &[&str], outputs: usize, attrs: Vec<(&str, Attr)>) -> Vec<String> {
        let outs: Vec<String> = (0..outputs).map(|_| self.fresh(&op.to_ascii_lowercase())).collect();
        let mut n = NodeProto::new();
        n.op_type = op.to_owned();
        n.name = self.fresh(&format!("{op}_node"));
        n.input = inputs.iter().map(|s| (*s).to_owned()).collect();
        n.output = outs.clone();
        for (name, a) in attrs {
            n.attribute.push(attribute(name, a));
        }
        self.nodes.push(n);
        outs
    }

    /// One-output operator.
    pub fn op1(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.op(op, inputs, 1, attrs).pop().unwrap_or_default()
    }

    /// A learned tensor as an initializer named `name` (made unique); counts toward the model's
    /// parameters.
    pub fn param(&mut self, name: &str, t: &NamedTensor) -> String {
        let name = self.fresh(name);
        self.param_count += t.data.len();
        let mut p = TensorProto::new();
        p.name = name.clone();
        p.data_type = FLOAT;
        p.dims = t.dims.iter().map(|&d| d as i64).collect();
        p.float_data = t.data.clone();
        self.initializers.push(p);
        name
    }

    /// A float constant (a buffer, a table: not a parameter).
    pub fn const_f32(&mut self, dims: &[usize], data: Vec<f32>) -> String {
        let mut t = TensorProto::new();
        t.data_type = FLOAT;
        t.dims = dims.iter().map(|&d| d as i64).collect();
        t.float_data = data;
        self.constant(t)
    }

    /// A scalar float constant.
    pub fn scalar(&mut self, v: f32) -> String {
        self.const_f32(&[], vec![v])
    }

    /// An int64 constant vector (shapes, axes, indices).
    pub fn const_i64(&mut self, data: &[i64]) -> String {
        let mut t = TensorProto::new();
        t.data_type = INT64;
        t.dims = vec![data.len() as i64];
        t.int64_data = data.to_vec();
        self.constant(t)
    }

    /// An int64 scalar constant.
    pub fn scalar_i64(&mut self, v: i64) -> String {
        let mut t = TensorProto::new();
        t.data_type = INT64;
        t.int64_data = vec![v];
        self.constant(t)
    }

    fn constant(&mut self, t: TensorProto) -> String {
        let out = self.fresh("const");
        let mut n = NodeProto::new();
        n.op_type = "Constant".into();
        n.name = self.fresh("Constant_node");
        n.output = vec![out.clone()];
        let mut a = AttributeProto::new();
        a.name = "value".into();
        a.type_ = AttributeType::TENSOR.into();
        a.t = Some(t).into();
        n.attribute.push(a);
        self.nodes.push(n);
        out
    }

    /// `x` reshaped to `shape` (0 keeps the input's size, -1 is inferred).
    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.const_i64(shape);
        self.op1("Reshape", &[x, &s], vec![])
    }

    /// `x` with a new axis of size 1 at each of `axes`.
    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let a = self.const_i64(axes);
        self.op1("Unsqueeze", &[x, &a], vec![])
    }

    /// Dims `start..end` of `x`'s shape as an int64 vector.
    pub fn shape_slice(&mut self, x: &str, start: i64, end: i64) -> String {
        self.op1(
            "Shape",
            &[x],
            vec![("start", Attr::Int(start)), ("end", Attr::Int(end))],
        )
    }

    /// A float sub-graph of `inputs` inputs (the body of a `Scan`): `build` writes its
    /// operators through `self` as usual, given the inputs' names, and returns its outputs. The
    /// operators are taken out of the main graph into the returned one; names stay unique
    /// across both, and the body may read the main graph's values.
    pub fn body(
        &mut self,
        name: &str,
        inputs: usize,
        build: impl FnOnce(&mut Self, &[String]) -> Result<Vec<String>, String>,
    ) -> Result<GraphProto, String> {
        let outer = std::mem::take(&mut self.nodes);
        let ins: Vec<String> = (0..inputs).map(|i| self.fresh(&format!("{name}_in{i}"))).collect();
        let built = build(self, &ins);
        let mut body = GraphProto::new();
        body.name = self.fresh(name);
        let outs = match built {
            Ok(outs) => outs,
            Err(e) => {
                self.nodes = outer;
                return Err(e);
            }
        };
        let mut out_names = Vec::new();
        for (i, o) in outs.iter().enumerate() {
            let n = self.fresh(&format!("{name}_out{i}"));
            self.op("Identity", &[o], 0, vec![]);
            if let Some(node) = self.nodes.last_mut() {
                node.output = vec![n.clone()];
            }
            out_names.push(n);
        }
        body.node = std::mem::replace(&mut self.nodes, outer);
        body.input = ins.iter().map(|n| float_value(n)).collect();
        body.output = out_names.iter().map(|n| float_value(n)).collect();
        Ok(body)
    }

    /// `x @ w + b` for a Linear with Burn's `[in, out]` weight.
    pub fn linear(&mut self, x: &str, name: &str, l: &burn::nn::Linear) -> String {
        let w = self.param(&format!("{name}.weight"), &NamedTensor::of("w", &l.weight.val()));
        let y = self.op1("MatMul", &[x, &w], vec![]);
        match &l.bias {
            Some(b) => {
                let b = self.param(&format!("{name}.bias"), &NamedTensor::of("b", &b.val()));
                self.op1("Add", &[&y, &b], vec![])
            }
            None => y,
        }
    }
}

fn attribute(name: &str, a: Attr) -> AttributeProto {
    let mut p = AttributeProto::new();
    p.name = name.to_owned();
    match a {
        Attr::Int(v) => {
            p.type_ = AttributeType::INT.into();
            p.i = v;
        }
        Attr::Ints(v) => {
            p.type_ = AttributeType::INTS.into();
            p.ints = v;
        }
        Attr::Float(v) => {
            p.type_ = AttributeType::FLOAT.into();
            p.f = v;
        }
        Attr::Str(v) => {
            p.type_ = AttributeType::STRING.into();
            p.s = v.into_bytes().into();
        }
        Attr::Graph(v) => {
            p.type_ = AttributeType::GRAPH.into();
            p.g = Some(*v).into();
        }
    }
    p
}

/// What a node's ONNX exporter sees: the node (see [`super::node::NodeCtx`]; its inputs are
/// value names) and a readable prefix for its initializers.
pub struct OnnxCtx<'a> {
    /// The node, its layer and its inputs.
    pub node: super::node::NodeCtx<'a>,
    /// A readable prefix for its initializers (`stage1/0/conv1`).
    pub name: String,
}

impl<'a> std::ops::Deref for OnnxCtx<'a> {
    type Target = super::node::NodeCtx<'a>;
    fn deref(&self) -> &Self::Target {
        &self.node
    }
}

impl OnnxCtx<'_> {
    /// A reshape target for output `out`: known sizes as numbers, a size the same as the
    /// input's at the same place as 0, at most one -1.
    pub fn reshape_target(&self, out: usize) -> Result<Vec<i64>, String> {
        let t = self.out_type(out)?;
        let inp = self.in_type(0)?;
        let mut free = false;
        let mut v = Vec::new();
        for (i, d) in t.dims.iter().enumerate() {
            match *d {
                Dim::Known(n) => v.push(n as i64),
                _ if inp.dims.get(i) == Some(d) => v.push(0),
                _ if !free => {
                    free = true;
                    v.push(-1);
                }
                _ => return Err(format!("cannot write the shape {t} as an ONNX reshape")),
            }
        }
        Ok(v)
    }
}

/// Writes a node's operators into the graph; returns its output value names in port order.
pub type OnnxFn = fn(&OnnxCtx, &mut OnnxGraph) -> Result<Vec<String>, String>;

/// The exported model.
pub struct OnnxExport {
    /// The serialized `ModelProto`.
    pub bytes: Vec<u8>,
    /// Learned scalars in the initializers.
    pub param_count: usize,
    /// Graph inputs: (name, dataset field, integer?, checked dims).
    pub inputs: Vec<(String, String, bool, Vec<Option<usize>>)>,
    /// Graph outputs: (name, step).
    pub outputs: Vec<(String, usize)>,
}

fn value_info(name: &str, dtype: DType, dims: &[Dim]) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.to_owned();
    let tt = v.type_.mut_or_insert_default().mut_tensor_type();
    tt.elem_type = if dtype == DType::Int { INT64 } else { FLOAT };
    let shape = tt.shape.mut_or_insert_default();
    for d in dims {
        shape.dim.push(Default::default());
        if let Some(slot) = shape.dim.last_mut() {
            match *d {
                Dim::Known(n) => slot.set_dim_value(n as i64),
                Dim::Sym { sym, mul: 1, add: 0 } => slot.set_dim_param(sym.to_string()),
                Dim::Sym { sym, mul, add } => slot.set_dim_param(format!("{mul}{sym}{add:+}")),
                Dim::Any => {}
            }
        }
    }
    v
}

/// Writes the operators of `model`'s steps into `g` (names prefixed with `prefix`); `input`
/// gives the value of each input step. Returns every step's output values in port order.
/// Used for the whole model and, inside a layer (a mixture's block experts), for sub-models.
pub fn emit(
    model: &GraphModel,
    g: &mut OnnxGraph,
    prefix: &str,
    input: &mut dyn FnMut(&mut OnnxGraph, usize, &crate::engine::InputSlot) -> Result<String, String>,
) -> Result<Vec<Vec<String>>, String> {
    // Values by (step, output index).
    let mut values: Vec<Vec<String>> = Vec::with_capacity(model.plan.steps.len());
    for (i, step) in model.plan.steps.iter().enumerate() {
        let title = step.title.clone();
        if let Some(slot) = model.plan.inputs.iter().find(|s| s.step == i) {
            values.push(vec![input(g, i, slot)?]);
            continue;
        }
        let entry = exporters().get(step.kind.as_str());
        let exporter = entry
            .and_then(|e| e.onnx)
            .ok_or_else(|| match entry.map(|e| e.no_onnx) {
                Some(why) if !why.is_empty() => {
                    format!("node '{title}' ({}): not in the ONNX export: {why}", step.kind)
                }
                _ => format!(
                    "node '{title}' ({}): the ONNX export does not cover this kind yet",
                    step.kind
                ),
            })?;
        let ins: Vec<Option<String>> = step
            .inputs
            .iter()
            .map(|s| s.and_then(|(st, o)| values.get(st).and_then(|v| v.get(o)).cloned()))
            .collect();
        let ctx = OnnxCtx {
            node: super::node::NodeCtx {
                step,
                layer: step.layer.and_then(|l| model.layers.get(l)),
                inputs: ins,
            },
            name: format!("{prefix}{}{}", super::py_name(&title), key_suffix(&step.key)),
        };
        let outs = exporter(&ctx, g).map_err(|e| format!("node '{title}' ({}): {e}", step.kind))?;
        values.push(outs);
    }
    Ok(values)
}

/// A float value of any shape (a sub-graph's input or output).
fn float_value(name: &str) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.to_owned();
    v.type_.mut_or_insert_default().mut_tensor_type().elem_type = FLOAT;
    v
}

/// The whole model as ONNX.
pub fn export(project: &Project, model: &GraphModel) -> Result<OnnxExport, String> {
    let mut g = OnnxGraph::new();
    let mut graph = GraphProto::new();
    graph.name = super::py_name(&project.name);
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let values = emit(model, &mut g, "", &mut |g, i, slot| {
        let step = &model.plan.steps[i];
        let name = g.fresh(&super::py_name(&step.title));
        let dims = step
            .params
            .out_types
            .first()
            .and_then(Option::as_ref)
            .map(|t| t.dims.clone())
            .unwrap_or_default();
        graph.input.push(value_info(&name, slot.dtype, &dims));
        inputs.push((
            name.clone(),
            slot.field.clone(),
            slot.dtype == DType::Int,
            slot.dims.clone(),
        ));
        Ok(name)
    })?;
    for (i, step) in model.plan.steps.iter().enumerate() {
        let Some((_, role)) = model.plan.outputs.iter().find(|(s, _)| *s == i) else {
            continue;
        };
        let title = &step.title;
        let src = values
            .get(i)
            .and_then(|v| v.first())
            .cloned()
            .ok_or_else(|| format!("output '{title}' has no value"))?;
        let mut name = super::py_name(role);
        let mut n = 2;
        while outputs.iter().any(|(o, _): &(String, usize)| *o == name) {
            name = format!("{}_{n}", super::py_name(role));
            n += 1;
        }
        let name = g.fresh(&name);
        g.op("Identity", &[&src], 0, vec![]);
        if let Some(node) = g.nodes.last_mut() {
            node.output = vec![name.clone()];
        }
        let t = step.params.in_types.first().cloned().flatten();
        let (dtype, mut dims) = t.map(|t| (t.dtype, t.dims)).unwrap_or((DType::Float, Vec::new()));
        if dims.is_empty() {
            // Strata's scalars (losses) are one-element tensors.
            dims.push(Dim::Known(1));
        }
        graph.output.push(value_info(&name, dtype, &dims));
        outputs.push((name, i));
    }
    graph.node = std::mem::take(&mut g.nodes);
    graph.initializer = std::mem::take(&mut g.initializers);
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.producer_name = "strata".into();
    m.producer_version = env!("CARGO_PKG_VERSION").into();
    m.doc_string = project.description.clone();
    m.opset_import.push(Default::default());
    if let Some(o) = m.opset_import.last_mut() {
        o.domain = String::new();
        o.version = OPSET;
    }
    // The project itself, so Strata reopens its own export exactly (blocks, titles, settings);
    // other tools ignore metadata.
    m.metadata_props.push(Default::default());
    if let Some(e) = m.metadata_props.last_mut() {
        e.key = PROJECT_KEY.into();
        e.value = crate::doc::to_json_string(project);
    }
    m.graph = Some(graph).into();
    let bytes = m
        .write_to_bytes()
        .map_err(|e| format!("cannot encode the model: {e}"))?;
    Ok(OnnxExport {
        bytes,
        param_count: g.param_count,
        inputs,
        outputs,
    })
}

/// `/5/0/3` → `_5_0_3`-free readable suffix: empty for top-level nodes, the copy path otherwise.
fn key_suffix(key: &str) -> String {
    match key.split_once('/') {
        Some((_, rest)) => format!("/{rest}"),
        None => String::new(),
    }
}
