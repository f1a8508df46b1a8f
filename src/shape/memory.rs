//! Peak memory of a training run, estimated from the checked graph before anything is allocated:
//! weights, their gradients and the optimizer's state, and the activations a step keeps for the
//! backward pass (every node's output, and its gradient, for each example of the batch) — or an
//! evaluation chunk's (only the outputs still to be read are alive), whichever is larger — plus
//! what the runtime itself takes.

use super::{check_graph, expand};
use crate::doc::{NodeId, Optimizer, Project};
use std::collections::HashMap;

/// Bytes the process takes before the model: code, the runtime, a built-in dataset.
/// Calibrated against `mlp`'s measured peak RSS (36 MB, mostly this).
pub const RUNTIME_BYTES: u64 = 32 << 20;
/// Rows an evaluation runs at once (the supervised recipe's validation chunk): without autodiff
/// nothing is kept for a backward pass and each output is dropped after its last reader.
pub const EVAL_ROWS: u64 = 500;
const F32: u64 = 4;
/// Activations take about half again what the outputs add up to: temporaries inside ops and what
/// the allocator holds on to (measured on `lenet5` and `resnet_mini`).
const ACTIVATION_OVERHEAD: (u64, u64) = (3, 2);

/// What one top-level node costs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeMemory {
    /// The node (a block instance counts everything inside it).
    pub node: NodeId,
    /// Weights, gradients and optimizer state, in bytes.
    pub weights: u64,
    /// Its outputs and their gradients at the training batch, in bytes.
    pub activations: u64,
}

impl NodeMemory {
    /// Both.
    pub fn total(&self) -> u64 {
        self.weights.saturating_add(self.activations)
    }
}

/// The estimate, in bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    /// Learned values.
    pub parameters: u64,
    /// Their gradients.
    pub gradients: u64,
    /// The optimizer's state (Adam: two moments; SGD with momentum: one).
    pub optimizer: u64,
    /// Activations at the peak: a training batch (outputs and their gradients) or an evaluation chunk.
    pub activations: u64,
    /// The process without the model.
    pub runtime: u64,
    /// Everything.
    pub total: u64,
    /// Per top-level node, largest first.
    pub nodes: Vec<NodeMemory>,
}

/// Estimates the peak memory of training `project` with its settings; `None` when the graph
/// does not check (its diagnostics say why).
pub fn estimate(project: &Project) -> Option<MemoryEstimate> {
    // Blocks are expanded so what runs inside them counts; a graph without any is its own flat graph.
    let expanded = if project.graph.nodes.iter().any(|n| n.is_block()) {
        Some(expand(project).ok()?)
    } else {
        None
    };
    let flat = expanded.as_ref().map_or(project, |e| &e.project);
    let top_of = |id: NodeId| expanded.as_ref().and_then(|e| e.origins.get(&id)).map_or(id, |o| o.top);
    let report = check_graph(flat);
    if !report.is_valid() {
        return None;
    }
    let states = match project.training.optimizer {
        Optimizer::Adam | Optimizer::AdamW => 2,
        Optimizer::Sgd => 1,
    };
    let batch = u64::from(project.training.batch_size.max(1));
    // A training step keeps every output and, going back, its gradient, for each example.
    let train_rows = 2 * batch;
    let g = &flat.graph;
    let (order, _) = g.topological_order();
    let elements_of = |id: NodeId| -> u64 {
        report.node(id).map_or(0, |n| {
            n.outputs
                .iter()
                .filter_map(|(_, t)| t.as_ref())
                .map(|t| t.cost_elements())
                .fold(0u64, u64::saturating_add)
        })
    };
    let mut by_top: HashMap<NodeId, NodeMemory> = HashMap::new();
    let (mut params, mut train_elements) = (0u64, 0u64);
    for n in &report.nodes {
        let top = top_of(n.id);
        let elements = elements_of(n.id);
        let w = n.params.saturating_mul(F32).saturating_mul(2 + states);
        params = params.saturating_add(n.params);
        train_elements = train_elements.saturating_add(elements);
        let e = by_top.entry(top).or_insert(NodeMemory {
            node: top,
            weights: 0,
            activations: 0,
        });
        e.weights = e.weights.saturating_add(w);
        e.activations = e
            .activations
            .saturating_add(elements.saturating_mul(train_rows).saturating_mul(F32));
    }
    // An evaluation drops each output after its last reader: what is live at once, at its peak.
    let mut position = vec![usize::MAX; g.nodes.len()];
    for (k, &i) in order.iter().enumerate() {
        position[i] = k;
    }
    let mut last_read = vec![0usize; g.nodes.len()];
    for w in &g.wires {
        if let (Some(a), Some(b)) = (g.index_of(w.from), g.index_of(w.to)) {
            last_read[a] = last_read[a].max(position[b]);
        }
    }
    let mut frees_at: Vec<Vec<u64>> = vec![Vec::new(); order.len()];
    let (mut live, mut peak) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        let node = &g.nodes[i];
        let e = elements_of(node.id);
        live = live.saturating_add(e);
        peak = peak.max(live);
        if node.kind != "output" && last_read[i] >= k && last_read[i] < order.len() {
            frees_at[last_read[i].max(k)].push(e);
        }
        for freed in std::mem::take(&mut frees_at[k]) {
            live = live.saturating_sub(freed);
        }
    }
    let train_act = train_elements.saturating_mul(train_rows).saturating_mul(F32);
    let eval_act = peak.saturating_mul(EVAL_ROWS).saturating_mul(F32);
    let act = train_act.max(eval_act).saturating_mul(ACTIVATION_OVERHEAD.0) / ACTIVATION_OVERHEAD.1;
    let mut nodes: Vec<NodeMemory> = by_top.into_values().collect();
    nodes.sort_by(|a, b| b.total().cmp(&a.total()).then(a.node.cmp(&b.node)));
    let parameters = params.saturating_mul(F32);
    let optimizer = parameters.saturating_mul(states);
    let total = [parameters, parameters, optimizer, act, RUNTIME_BYTES]
        .into_iter()
        .fold(0u64, u64::saturating_add);
    Some(MemoryEstimate {
        parameters,
        gradients: parameters,
        optimizer,
        activations: act,
        runtime: RUNTIME_BYTES,
        total,
        nodes,
    })
}

/// Memory this machine can give a new run now (`MemAvailable`), in bytes; `None` where unknown.
pub fn available_ram() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Bytes as "1.2 GB" / "340 MB".
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

/// When training `project` would need more memory than `available` bytes: an error on its
/// largest node saying how much is needed, how much is free and what to change (the app shows
/// it on the graph; the trainer refuses such a run with the same figures).
pub fn diagnostic(project: &Project, available: Option<u64>) -> Option<super::Diagnostic> {
    let (m, free) = (estimate(project)?, available?);
    if m.total <= free {
        return None;
    }
    let largest = m.nodes.first()?;
    let weights = m.parameters + m.gradients + m.optimizer;
    let fix = if weights > m.activations {
        "make the largest layers smaller (fewer features or channels)"
    } else {
        "lower the batch size, or make the graph shallower or its tensors smaller"
    };
    Some(super::Diagnostic::error(
        Some(largest.node),
        None,
        format!(
            "training needs about {} of memory but this machine has {} free; this node is the largest part ({}) — {fix}",
            human(m.total),
            human(free),
            human(largest.total())
        ),
    ))
}
