//! Where training time goes: each node's forward and backward pass measured on its own, with
//! the inputs a real training step gave it (a timing pass every so many steps, off the hot path).

use super::model::GraphModel;
use super::value::Value;
use crate::doc::NodeId;
use burn::tensor::Tensor;
use std::collections::BTreeMap;
use std::time::Instant;

/// Measured cost of one top-level node (a block instance sums its inside).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeCost {
    /// The node.
    pub node: NodeId,
    /// Forward time per step, milliseconds (median of the repetitions).
    pub forward_ms: f64,
    /// Backward time per step, milliseconds (median of the repetitions).
    pub backward_ms: f64,
}

impl NodeCost {
    /// Forward plus backward.
    pub fn total_ms(&self) -> f64 {
        self.forward_ms + self.backward_ms
    }
}

/// Sums a float value to one scalar tensor (what a backward pass can start from).
fn scalar(v: &Value) -> Option<Tensor<1>> {
    match v {
        Value::F1(t) => Some(t.clone().sum()),
        Value::F2(t) => Some(t.clone().sum()),
        Value::F3(t) => Some(t.clone().sum()),
        Value::F4(t) => Some(t.clone().sum()),
        _ => None,
    }
}

/// Waits for a tensor's computation (a one-number read).
fn wait(t: &Tensor<1>) {
    let _ = t.clone().into_data();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

impl GraphModel {
    /// Times every step's forward and backward pass `reps` times (median), feeding each the
    /// values it received in a forward pass run with every output kept (`all`). Inputs and
    /// steps that did not run cost nothing. Returns one entry per top-level node that ran, in
    /// plan order of first appearance.
    pub fn profile(&self, all: &[Vec<Value>], reps: usize) -> Vec<NodeCost> {
        let reps = reps.max(1);
        let mut cost: BTreeMap<NodeId, (usize, f64, f64)> = BTreeMap::new();
        // Which values carry a gradient in a training step: those with a learned layer
        // upstream. Data straight from an Input does not, so a first convolution's backward
        // pass computes its weight gradient only, as in training.
        let mut tracked = vec![false; self.plan.steps.len()];
        for (i, s) in self.plan.steps.iter().enumerate() {
            tracked[i] = s.layer.is_some()
                || s.inputs
                    .iter()
                    .flatten()
                    .any(|(src, _)| tracked.get(*src) == Some(&true));
        }
        for (i, s) in self.plan.steps.iter().enumerate() {
            if s.kind == "input" || all.get(i).is_none_or(Vec::is_empty) {
                continue;
            }
            let inputs: Option<Vec<(Value, bool)>> = s
                .inputs
                .iter()
                .flatten()
                .map(|(src, out)| {
                    all.get(*src)
                        .and_then(|o| o.get(*out))
                        .map(|v| (v.clone(), tracked.get(*src) == Some(&true)))
                })
                .collect();
            let Some(inputs) = inputs else { continue };
            let layer = s.layer.and_then(|l| self.layers.get(l));
            let (mut fwd, mut bwd) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
            for _ in 0..reps {
                // Fresh leaves: cut from the step's autodiff history, still asking for gradients
                // where a training step has them (the gradient flows on to earlier nodes).
                let fresh: Vec<Value> = inputs
                    .iter()
                    .cloned()
                    .map(|(v, grad)| if grad { leaf(v.detach()) } else { v.detach() })
                    .collect();
                let t0 = Instant::now();
                let Ok(out) = (s.forward)(&s.params, layer, fresh) else {
                    break;
                };
                let total = out.iter().filter_map(scalar).reduce(|a, b| a + b);
                let Some(total) = total else {
                    fwd.push(t0.elapsed().as_secs_f64());
                    bwd.push(0.0);
                    continue;
                };
                wait(&total);
                fwd.push(t0.elapsed().as_secs_f64());
                if !total.is_tracked() {
                    // Nothing learned up to here (a reshape of the data): no backward pass.
                    bwd.push(0.0);
                    continue;
                }
                let t1 = Instant::now();
                let grads = total.backward();
                drop(grads);
                bwd.push(t1.elapsed().as_secs_f64());
            }
            let e = cost.entry(s.top).or_insert((i, 0.0, 0.0));
            e.1 += median(fwd) * 1e3;
            e.2 += median(bwd) * 1e3;
        }
        let mut out: Vec<(usize, NodeCost)> = cost
            .into_iter()
            .map(|(node, (first, f, b))| {
                (
                    first,
                    NodeCost {
                        node,
                        forward_ms: f,
                        backward_ms: b,
                    },
                )
            })
            .collect();
        out.sort_by_key(|(first, _)| *first);
        out.into_iter().map(|(_, c)| c).collect()
    }
}

/// A float value marked as needing its gradient (integers are left as they are).
fn leaf(v: Value) -> Value {
    match v {
        Value::F1(t) => Value::F1(t.require_grad()),
        Value::F2(t) => Value::F2(t.require_grad()),
        Value::F3(t) => Value::F3(t.require_grad()),
        Value::F4(t) => Value::F4(t.require_grad()),
        other => other,
    }
}
