//! What every exporter sees of a node, whatever the format: the compiled step (kind, title,
//! parameters, checked types), its learned layer, and its inputs as the format names them.

use super::weights::NamedTensor;
use crate::catalog::TensorType;
use crate::engine::Step;
use crate::engine::ops::{Layer, StepParams};

/// A node being exported.
pub struct NodeCtx<'a> {
    /// The node as compiled (kind, title, parameters, checked types).
    pub step: &'a Step,
    /// Its learned layer, if it has one.
    pub layer: Option<&'a Layer>,
    /// Its inputs in port order as the format names them (`None`: an optional port left open).
    pub inputs: Vec<Option<String>>,
}

impl NodeCtx<'_> {
    /// The parameters and checked types.
    pub fn p(&self) -> &StepParams {
        &self.step.params
    }
    /// Input `i` (a Python expression or an ONNX value name).
    pub fn x(&self, i: usize) -> Result<String, String> {
        self.inputs
            .get(i)
            .cloned()
            .flatten()
            .ok_or_else(|| format!("input {i} is not connected"))
    }
    /// Input `i`, or `None` when the optional port is open.
    pub fn opt(&self, i: usize) -> Option<String> {
        self.inputs.get(i).cloned().flatten()
    }
    /// The checked type of input `i`.
    pub fn in_type(&self, i: usize) -> Result<&TensorType, String> {
        self.step
            .params
            .in_types
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("input {i} has no checked type"))
    }
    /// Rank of input `i`.
    pub fn in_rank(&self, i: usize) -> Result<usize, String> {
        Ok(self.in_type(i)?.rank())
    }
    /// Known size of dim `d` of input `i` (`usize::MAX`: the last).
    pub fn in_dim(&self, i: usize, d: usize) -> Result<usize, String> {
        let t = self.in_type(i)?;
        let dim = if d == usize::MAX { t.dims.last() } else { t.dims.get(d) };
        dim.and_then(|d| d.known())
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| format!("input size of {t} must be known"))
    }
    /// The checked type of output `i`.
    pub fn out_type(&self, i: usize) -> Result<&TensorType, String> {
        self.step
            .params
            .out_types
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| format!("output {i} has no checked type"))
    }
    /// The learned tensors of the node's layer by Burn's field path.
    pub fn burn_tensors(&self) -> Vec<NamedTensor> {
        self.layer.map(super::weights::burn_tensors).unwrap_or_default()
    }
    /// One of them by path; an error names the node's kind when it is missing.
    pub fn tensor(&self, path: &str) -> Result<NamedTensor, String> {
        self.burn_tensors()
            .into_iter()
            .find(|t| t.name == path)
            .ok_or_else(|| format!("{} has no learned tensor '{path}'", self.step.kind))
    }
}
