//! The engine side of each node kind: how to build its Burn module and run it forward.
//!
//! One file per catalog family registers [`OpSpec`]s; the registry is keyed by kind id, so
//! adding a kind touches its catalog file and its op file, nothing else.

pub(crate) mod attention;
mod conv;
pub mod decode;
mod dense;
pub mod embed;
pub mod flow;
mod generative;
pub mod graph;
mod io;
pub mod mixers;
pub mod moe;
mod norm;
mod recurrent;
mod shape;

use super::value::Value;
use crate::catalog::{self, LayerSpec, TensorType};
use crate::doc::{ParamValue, Params};
use burn::module::Module;
use burn::module::Param;
use burn::nn::conv::{Conv1d, Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Dropout, Embedding, GroupNorm, LayerNorm, Linear, RmsNorm};
use burn::tensor::{Device, Tensor};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A learned (or stateful) part of the compiled model, one per node that needs one.
// The attention variant is the largest; layers live once per node in a Vec, so the padding is
// a few hundred bytes per node and not worth boxing through the Module derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    /// Dense layer.
    Linear(Linear),
    /// 2-D convolution.
    Conv2d(Conv2d),
    /// 1-D convolution.
    Conv1d(Conv1d),
    /// Batch normalisation (running statistics are state, not parameters).
    BatchNorm(BatchNorm),
    /// Layer normalisation.
    LayerNorm(LayerNorm),
    /// Dropout (no parameters; active only on autodiff devices).
    Dropout(Dropout),
    /// Transposed 2-D convolution.
    ConvTranspose2d(ConvTranspose2d),
    /// Group normalisation.
    GroupNorm(GroupNorm),
    /// RMS normalisation.
    RmsNorm(RmsNorm),
    /// Embedding table.
    Embedding(Embedding),
    /// A learned matrix (positions, class token, a Parameter node).
    Learned(Learned),
    /// Attention projections.
    Attention(attention::Attention),
    /// Bahdanau's additive attention.
    Additive(attention::Additive),
    /// Mamba's selective state-space block.
    Mamba(mixers::Mamba),
    /// RWKV time-mix.
    TimeMix(mixers::TimeMix),
    /// RWKV channel-mix.
    ChannelMix(mixers::ChannelMix),
    /// Hyena operator.
    Hyena(mixers::Hyena),
    /// Recurrent cells.
    Recurrent(recurrent::Recurrent),
    /// Graph layer weights.
    Graph(graph::GraphLayer),
    /// An MPNN layer's edge network and GRU.
    Mpnn(graph::Mpnn),
    /// An ST-GCN block's projections and temporal convolution.
    StGcn(graph::StGcn),
    /// Mixture of experts.
    Moe(moe::Moe),
    /// An affine coupling's conditioner network.
    Coupling(flow::Coupling),
    /// ActNorm's shift and scale.
    ActNorm(flow::ActNorm),
    /// An invertible 1×1 convolution.
    InvConv(flow::InvConv),
}

/// A learned 2-D tensor.
#[derive(Module, Debug)]
pub struct Learned {
    /// The values.
    pub value: Param<Tensor<2>>,
}

/// What a builder sees: the node's parameters and its checked input/output types.
pub struct BuildCtx<'a> {
    /// The node's kind spec.
    pub spec: &'static LayerSpec,
    /// The node's parameters.
    pub params: &'a Params,
    /// Checked types of the inputs (in port order).
    pub inputs: &'a [Option<TensorType>],
    /// Where the weights live.
    pub device: &'a Device,
    /// The whole project (its blocks: layers that run a block inside, e.g. block experts).
    pub project: &'a crate::doc::Project,
}

impl BuildCtx<'_> {
    fn value(&self, name: &str) -> Option<ParamValue> {
        param_value(self.spec, self.params, name)
    }
    /// Integer parameter (default when missing).
    pub fn int(&self, name: &str) -> i64 {
        self.value(name).and_then(|v| v.as_int()).unwrap_or(0)
    }
    /// Non-negative integer parameter.
    pub fn usize(&self, name: &str) -> usize {
        usize::try_from(self.int(name)).unwrap_or(0)
    }
    /// Real parameter.
    pub fn float(&self, name: &str) -> f64 {
        self.value(name).and_then(|v| v.as_float()).unwrap_or(0.0)
    }
    /// Boolean parameter.
    pub fn bool(&self, name: &str) -> bool {
        self.value(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }
    /// Text or choice parameter.
    pub fn text(&self, name: &str) -> String {
        self.value(name)
            .and_then(|v| v.as_text().map(str::to_owned))
            .unwrap_or_default()
    }
    /// Known size of dim `dim` of input `i`.
    pub fn in_dim(&self, i: usize, dim: usize) -> Result<usize, String> {
        let t = self
            .inputs
            .get(i)
            .and_then(|t| t.as_ref())
            .ok_or("input type unknown")?;
        let d = if dim == usize::MAX {
            t.dims.last()
        } else {
            t.dims.get(dim)
        };
        d.and_then(|d| d.known())
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| format!("input size of {t} must be known"))
    }
}

/// A node's parameters as the forward pass reads them, with its checked types.
#[derive(Clone, Debug)]
pub struct StepParams {
    spec: &'static LayerSpec,
    params: Params,
    /// Checked input types (symbolic).
    pub in_types: Vec<Option<TensorType>>,
    /// Checked output types (symbolic).
    pub out_types: Vec<Option<TensorType>>,
}

impl StepParams {
    /// Wraps a node's parameters and checked types.
    pub fn new(
        spec: &'static LayerSpec,
        params: Params,
        in_types: Vec<Option<TensorType>>,
        out_types: Vec<Option<TensorType>>,
    ) -> Self {
        StepParams {
            spec,
            params,
            in_types,
            out_types,
        }
    }

    /// The runtime size of output `out`'s dims, binding the checked type's symbols (B, T, ...)
    /// to the sizes they have in the runtime `inputs` dims. `None` entries are unknown.
    pub fn runtime_dims(&self, out: usize, inputs: &[Vec<usize>]) -> Vec<Option<usize>> {
        use crate::catalog::Dim;
        let mut bind: Vec<(char, i128)> = Vec::new();
        for (t, dims) in self.in_types.iter().zip(inputs) {
            let Some(t) = t else { continue };
            for (d, &v) in t.dims.iter().zip(dims) {
                if let Dim::Sym { sym, mul, add } = *d {
                    let val = (v as i128 - i128::from(add)) / i128::from(mul.max(1));
                    if !bind.iter().any(|(s, _)| *s == sym) {
                        bind.push((sym, val));
                    }
                }
            }
        }
        let Some(Some(t)) = self.out_types.get(out) else {
            return Vec::new();
        };
        t.dims
            .iter()
            .map(|d| match *d {
                Dim::Known(n) => usize::try_from(n).ok(),
                Dim::Sym { sym, mul, add } => bind
                    .iter()
                    .find(|(s, _)| *s == sym)
                    .and_then(|(_, v)| usize::try_from(i128::from(mul) * v + i128::from(add)).ok()),
                Dim::Any => None,
            })
            .collect()
    }
    fn value(&self, name: &str) -> Option<ParamValue> {
        param_value(self.spec, &self.params, name)
    }
    /// Integer parameter.
    pub fn int(&self, name: &str) -> i64 {
        self.value(name).and_then(|v| v.as_int()).unwrap_or(0)
    }
    /// Real parameter.
    pub fn float(&self, name: &str) -> f64 {
        self.value(name).and_then(|v| v.as_float()).unwrap_or(0.0)
    }
    /// Boolean parameter.
    pub fn bool(&self, name: &str) -> bool {
        self.value(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }
    /// Integer-list parameter.
    pub fn ints(&self, name: &str) -> Vec<i64> {
        self.value(name)
            .and_then(|v| v.as_list().map(|l| l.iter().filter_map(ParamValue::as_int).collect()))
            .unwrap_or_default()
    }
    /// Text parameter.
    pub fn text(&self, name: &str) -> String {
        self.value(name)
            .and_then(|v| v.as_text().map(str::to_owned))
            .unwrap_or_default()
    }
}

fn param_value(spec: &LayerSpec, params: &Params, name: &str) -> Option<ParamValue> {
    params
        .get(name)
        .cloned()
        .or_else(|| spec.param(name).map(|p| p.default.to_value()))
}

/// Builds a node's layer (`None` for stateless kinds).
pub type BuildFn = fn(&BuildCtx) -> Result<Option<Layer>, String>;
/// Runs a node forward.
pub type ForwardFn = fn(&StepParams, Option<&Layer>, Vec<Value>) -> Result<Vec<Value>, String>;

/// The engine side of one kind.
#[derive(Clone, Copy)]
pub struct OpSpec {
    /// Catalog kind id.
    pub kind: &'static str,
    /// Builder.
    pub build: BuildFn,
    /// Forward pass.
    pub forward: ForwardFn,
    /// Whether it can run on the newest tokens alone while decoding with a cache.
    pub decode: Decode,
}

/// How an op takes part in incremental decoding (a KV cache, see [`decode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decode {
    /// It mixes positions without a cache (a recurrence, a convolution over time): the graph
    /// reruns the window.
    Never,
    /// It acts on each position alone, or knows the cache's offset (position tables).
    Alone,
    /// Self-attention: cached when causal and without keys from elsewhere.
    CausalSelfAttention,
}

/// A builder for kinds without state.
pub fn stateless(_: &BuildCtx) -> Result<Option<Layer>, String> {
    Ok(None)
}

/// Every op, by kind id.
pub fn ops() -> &'static HashMap<&'static str, OpSpec> {
    static OPS: OnceLock<HashMap<&'static str, OpSpec>> = OnceLock::new();
    OPS.get_or_init(|| {
        let mut m = HashMap::new();
        for family in [
            io::OPS,
            dense::OPS,
            conv::OPS,
            conv::MORE_OPS,
            norm::OPS,
            norm::MORE_OPS,
            shape::OPS,
            shape::MORE_OPS,
            embed::OPS,
            attention::OPS,
            recurrent::OPS,
            mixers::OPS,
            moe::OPS,
            graph::OPS,
            generative::OPS,
            flow::OPS,
        ] {
            for op in family {
                debug_assert!(
                    catalog::catalog().get(op.kind).is_some(),
                    "op for unknown kind {}",
                    op.kind
                );
                m.insert(op.kind, *op);
            }
        }
        m
    })
}

/// Takes exactly one input.
pub fn one(mut inputs: Vec<Value>) -> Result<Value, String> {
    inputs.pop().ok_or_else(|| "missing input".to_owned())
}
