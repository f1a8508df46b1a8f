//! Running a compiled graph as a normalizing flow: the chain of invertible steps from an input to
//! an output role, forward with its summed log-determinant, inverted, and initialised from data.

use super::model::{ForwardError, GraphModel, Step};
use super::ops::flow::{FlowOp, flow_op};
use super::value::Value;
use burn::tensor::Tensor;

/// The invertible chain feeding an output role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The input step the chain starts at.
    pub input: usize,
    /// Its steps from the input (excluded) to the output (excluded), in run order.
    pub steps: Vec<usize>,
}

fn step_error(s: &Step, message: String) -> ForwardError {
    ForwardError {
        title: s.title.clone(),
        node: s.top,
        message,
    }
}

impl GraphModel {
    /// The chain of invertible steps from an input to the output with `role`: every step on it
    /// has one wired input and an inverse. Names the first step that breaks the chain.
    pub fn flow_chain(&self, role: &str) -> Result<Chain, ForwardError> {
        let steps = &self.plan.steps;
        let (out, _) = self
            .plan
            .outputs
            .iter()
            .find(|(_, r)| r == role)
            .ok_or_else(|| ForwardError {
                title: role.to_owned(),
                node: crate::doc::NodeId(0),
                message: format!("the graph has no output with role '{role}'"),
            })?;
        let mut chain = Vec::new();
        let mut at = steps[*out].inputs.first().copied().flatten().map(|(s, _)| s);
        while let Some(i) = at {
            let s = &steps[i];
            if s.kind == "input" {
                chain.reverse();
                return Ok(Chain { input: i, steps: chain });
            }
            if flow_op(&s.kind).is_none() {
                return Err(step_error(
                    s,
                    format!(
                        "{} has no inverse: a flow is a chain of invertible layers (Affine coupling, ActNorm, Invertible 1×1 conv, Squeeze)",
                        s.kind
                    ),
                ));
            }
            if chain.len() > steps.len() {
                return Err(step_error(s, "the chain loops".into()));
            }
            chain.push(i);
            at = s.inputs.first().copied().flatten().map(|(s, _)| s);
        }
        Err(ForwardError {
            title: role.to_owned(),
            node: crate::doc::NodeId(0),
            message: format!("the output '{role}' is not fed from an Input through a chain of layers"),
        })
    }

    fn flow_step(&self, i: usize) -> Result<(&Step, &'static FlowOp), ForwardError> {
        let s = &self.plan.steps[i];
        let op = flow_op(&s.kind).ok_or_else(|| step_error(s, format!("{} has no inverse", s.kind)))?;
        Ok((s, op))
    }

    /// Runs `x` through `chain`: the latent and log|det ∂z/∂x| per example.
    pub fn flow_forward(&self, chain: &Chain, x: Value) -> Result<(Value, Tensor<1>), ForwardError> {
        let mut v = x;
        let mut logdet: Option<Tensor<1>> = None;
        for &i in &chain.steps {
            let (s, op) = self.flow_step(i)?;
            let layer = s.layer.and_then(|l| self.layers.get(l));
            let (y, ld) = (op.forward)(&s.params, layer, v).map_err(|m| step_error(s, m))?;
            logdet = Some(match logdet {
                Some(acc) => acc + ld,
                None => ld,
            });
            v = y;
        }
        let logdet = logdet.ok_or_else(|| ForwardError {
            title: "latent".into(),
            node: crate::doc::NodeId(0),
            message: "the flow has no layers between the data and its latent".into(),
        })?;
        Ok((v, logdet))
    }

    /// Runs `z` back through `chain`: the data point it came from.
    pub fn flow_inverse(&self, chain: &Chain, z: Value) -> Result<Value, ForwardError> {
        let mut v = z;
        for &i in chain.steps.iter().rev() {
            let (s, op) = self.flow_step(i)?;
            let layer = s.layer.and_then(|l| self.layers.get(l));
            v = (op.inverse)(&s.params, layer, v).map_err(|m| step_error(s, m))?;
        }
        Ok(v)
    }

    /// Data-dependent start (Kingma & Dhariwal 2018): runs the batch `x` through `chain`,
    /// setting each ActNorm so its output has zero mean and unit variance per channel.
    pub fn flow_init(&mut self, chain: &Chain, x: Value) -> Result<(), ForwardError> {
        let mut v = x.detach();
        for &i in &chain.steps {
            let (s, op) = self.flow_step(i)?;
            let s = s.clone();
            if let (Some(init), Some(l)) = (op.init_from_data, s.layer)
                && let Some(layer) = self.layers.get(l)
            {
                let fresh = init(layer, &v).map_err(|m| step_error(&s, m))?;
                self.layers[l] = fresh;
            }
            let layer = s.layer.and_then(|l| self.layers.get(l));
            v = (op.forward)(&s.params, layer, v)
                .map_err(|m| step_error(&s, m))?
                .0
                .detach();
        }
        Ok(())
    }
}
