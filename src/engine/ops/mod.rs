//! The engine side of each node kind: how to build its Burn module and run it forward.
//!
//! One file per catalog family registers [`OpSpec`]s; the registry is keyed by kind id, so
//! adding a kind touches its catalog file and its op file, nothing else.

mod conv;
mod dense;
mod io;
mod norm;
mod shape;

use super::value::Value;
use crate::catalog::{self, LayerSpec, TensorType};
use crate::doc::{ParamValue, Params};
use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv2d};
use burn::nn::{BatchNorm, Dropout, LayerNorm, Linear};
use burn::tensor::Device;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A learned (or stateful) part of the compiled model, one per node that needs one.
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

/// A node's parameters as the forward pass reads them.
#[derive(Clone, Debug)]
pub struct StepParams {
    spec: &'static LayerSpec,
    params: Params,
}

impl StepParams {
    /// Wraps a node's parameters.
    pub fn new(spec: &'static LayerSpec, params: Params) -> Self {
        StepParams { spec, params }
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
        for family in [io::OPS, dense::OPS, conv::OPS, norm::OPS, shape::OPS] {
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
