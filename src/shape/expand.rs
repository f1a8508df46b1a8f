//! Block expansion: turns a project with block instances (and repeats) into one flat graph of
//! plain layers, the form the engine compiles and exporters walk.

use crate::catalog;
use crate::doc::{self, Graph, Node, NodeId, Project, Wire};
use std::collections::HashMap;

/// A flat graph plus, for each of its nodes, where it came from.
#[derive(Clone, Debug)]
pub struct Expanded {
    /// The flat project: same settings, every node a plain layer; of the block definitions only
    /// those run inside layers (a mixture of experts' expert block) stay.
    pub project: Project,
    /// For each flat node id: where it came from.
    pub origins: HashMap<NodeId, Origin>,
}

/// Where a flat node came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Top-level node this belongs to (the instance node for nodes inside blocks).
    pub top: NodeId,
    /// Below `top`: copy index, node id inside the block, and again for nested blocks.
    pub path: Vec<u64>,
}

impl Origin {
    /// A stable key for per-node checkpoints: `5` for a top-level node, `5/1/3` for node 3 in
    /// copy 1 of the block instanced by node 5, `5/0/7/2/3` one level deeper.
    pub fn key(&self) -> String {
        let mut s = self.top.0.to_string();
        for v in &self.path {
            s.push('/');
            s.push_str(&v.to_string());
        }
        s
    }
}

/// Why a project could not be expanded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExpandError {
    /// An instance names a block that does not exist.
    #[error("node {0}: block '{1}' is not defined")]
    MissingBlock(NodeId, String),
    /// A block contains itself, or nesting is too deep.
    #[error("node {0}: block '{1}' contains itself")]
    Recursive(NodeId, String),
    /// Too many nodes after expansion.
    #[error("the expanded graph would have more than {0} nodes")]
    TooLarge(usize),
}

/// Largest flat graph the expansion builds.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;

struct Ctx<'p> {
    project: &'p Project,
    out: Graph,
    origins: HashMap<NodeId, Origin>,
    stack: Vec<String>,
}

/// A value source in the flat graph: (node, output port).
type Source = (NodeId, String);

/// Expands every block instance; port nodes disappear and wires pass through them.
pub fn expand(project: &Project) -> Result<Expanded, ExpandError> {
    let mut ctx = Ctx {
        project,
        out: Graph::new(),
        origins: HashMap::new(),
        stack: Vec::new(),
    };
    let mut flat_inputs: HashMap<NodeId, Vec<(String, Source)>> = HashMap::new();
    ctx.graph(&project.graph, &[], &mut Vec::new(), None, &mut flat_inputs)?;
    // Sorted once (adding them one by one into the sorted list is quadratic on large graphs).
    let mut wires: Vec<Wire> = flat_inputs
        .into_iter()
        .flat_map(|(to, ins)| {
            ins.into_iter()
                .map(move |(port, (from, out))| Wire::new(from, &out, to, &port))
        })
        .collect();
    wires.sort();
    wires.dedup();
    ctx.out.wires = wires;
    let mut flat = project.clone();
    flat.graph = ctx.out;
    let kept = run_inside(&flat);
    flat.blocks.retain(|b| kept.contains(&b.id));
    Ok(Expanded {
        project: flat,
        origins: ctx.origins,
    })
}

/// The blocks that layers of the flat graph run inside themselves (block-reference parameters,
/// e.g. a mixture of experts' expert), and the blocks those use in turn: what the flat project
/// keeps of its block definitions.
fn run_inside(flat: &Project) -> std::collections::HashSet<String> {
    let refs = |g: &Graph| -> Vec<String> {
        let cat = crate::catalog::catalog();
        let mut ids = Vec::new();
        for n in &g.nodes {
            if n.is_block() {
                ids.extend(n.block.clone());
            }
            let Some(spec) = cat.get(&n.kind) else { continue };
            for p in spec.params {
                if matches!(p.kind, crate::catalog::ParamKind::Block { .. })
                    && let Some(id) = n.params.get(p.name).and_then(|v| v.as_text())
                    && !id.trim().is_empty()
                {
                    ids.push(id.trim().to_owned());
                }
            }
        }
        ids
    };
    let mut kept = std::collections::HashSet::new();
    // The top level has no block instances left: only references count there.
    let mut todo: Vec<String> = refs(&flat.graph);
    while let Some(id) = todo.pop() {
        if let Some(def) = flat.block(&id)
            && kept.insert(id)
        {
            todo.extend(refs(&def.graph));
        }
    }
    kept
}

impl Ctx<'_> {
    /// Copies `g` into the flat graph. `port_sources` feed its `port_in` nodes (in port order).
    /// Returns the sources reaching its `port_out` nodes (in port order).
    fn graph(
        &mut self,
        g: &Graph,
        port_sources: &[Option<Source>],
        path: &mut Vec<u64>,
        top: Option<NodeId>,
        flat_inputs: &mut HashMap<NodeId, Vec<(String, Source)>>,
    ) -> Result<Vec<Option<Source>>, ExpandError> {
        // Topological order is not needed: sources are resolved lazily through `resolve`.
        let port_in = port_order(g, doc::PORT_IN_KIND);
        let port_out = port_order(g, doc::PORT_OUT_KIND);
        // What each (inner node, output port) becomes in the flat graph.
        let mut produced: HashMap<(NodeId, String), Source> = HashMap::new();
        for (i, id) in port_in.iter().enumerate() {
            if let Some(Some(src)) = port_sources.get(i) {
                produced.insert((*id, "y".into()), src.clone());
            }
        }
        // Plain nodes first get their flat ids; block instances are expanded in topological
        // order so that their inputs are known.
        let (order, _) = g.topological_order();
        // Wires by source and by target node: one pass, so expansion stays linear in the graph.
        let mut wires_from: HashMap<NodeId, Vec<&Wire>> = HashMap::new();
        let mut wires_to: HashMap<NodeId, Vec<&Wire>> = HashMap::new();
        for w in &g.wires {
            wires_from.entry(w.from).or_default().push(w);
            wires_to.entry(w.to).or_default().push(w);
        }
        let into = |id: NodeId| wires_to.get(&id).map(Vec::as_slice).unwrap_or_default();
        let mut pending_wires: Vec<(&Wire, NodeId)> = Vec::new();
        for &i in &order {
            let node = &g.nodes[i];
            if node.kind == doc::PORT_IN_KIND || node.kind == doc::PORT_OUT_KIND {
                continue;
            }
            let top_id = top.unwrap_or(node.id);
            if node.is_block() {
                let block_id = node.block.clone().unwrap_or_default();
                let def = self
                    .project
                    .block(&block_id)
                    .ok_or_else(|| ExpandError::MissingBlock(node.id, block_id.clone()))?;
                if self.stack.contains(&block_id) || self.stack.len() >= crate::shape::MAX_BLOCK_DEPTH {
                    return Err(ExpandError::Recursive(node.id, block_id));
                }
                let ports = catalog::node_ports(self.project, node)
                    .map(|(i, _)| i)
                    .unwrap_or_default();
                let mut current: Vec<Option<Source>> = ports
                    .iter()
                    .map(|p| {
                        into(node.id)
                            .iter()
                            .find(|w| w.input == p.name)
                            .and_then(|w| produced.get(&(w.from, w.out.clone())).cloned())
                    })
                    .collect();
                self.stack.push(block_id.clone());
                let depth = path.len();
                if top.is_some() {
                    path.push(node.id.0);
                }
                let mut outs = Vec::new();
                for copy in 0..node.repeat {
                    path.push(u64::from(copy));
                    outs = self.graph(&def.graph, &current, path, Some(top_id), flat_inputs)?;
                    path.pop();
                    for (k, o) in outs.iter().enumerate() {
                        if k < current.len() {
                            current[k] = o.clone();
                        }
                    }
                }
                path.truncate(depth);
                self.stack.pop();
                let out_ports = catalog::node_ports(self.project, node)
                    .map(|(_, o)| o)
                    .unwrap_or_default();
                for (k, p) in out_ports.iter().enumerate() {
                    if let Some(Some(src)) = outs.get(k) {
                        produced.insert((node.id, p.name.to_string()), src.clone());
                    }
                }
                continue;
            }
            if self.out.nodes.len() >= MAX_EXPANDED_NODES {
                return Err(ExpandError::TooLarge(MAX_EXPANDED_NODES));
            }
            let mut copy = Node::new(node.kind.clone());
            copy.params = node.params.clone();
            copy.title = node.title.clone();
            copy.pos = node.pos;
            let flat_id = self.out.add(copy);
            let mut p = path.clone();
            if top.is_some() {
                p.push(node.id.0);
            }
            self.origins.insert(flat_id, Origin { top: top_id, path: p });
            for w in wires_from.get(&node.id).map(Vec::as_slice).unwrap_or_default() {
                produced.insert((node.id, w.out.clone()), (flat_id, w.out.clone()));
            }
            for w in into(node.id) {
                pending_wires.push((w, flat_id));
            }
        }
        for (w, flat_to) in pending_wires {
            if let Some(src) = produced.get(&(w.from, w.out.clone())) {
                flat_inputs
                    .entry(flat_to)
                    .or_default()
                    .push((w.input.clone(), src.clone()));
            }
        }
        Ok(port_out
            .iter()
            .map(|id| {
                into(*id)
                    .first()
                    .and_then(|w| produced.get(&(w.from, w.out.clone())).cloned())
            })
            .collect())
    }
}

fn port_order(g: &Graph, kind: &str) -> Vec<NodeId> {
    let mut v: Vec<(i64, NodeId)> = g
        .nodes
        .iter()
        .filter(|n| n.kind == kind)
        .map(|n| (n.params.get("index").and_then(|v| v.as_int()).unwrap_or(0), n.id))
        .collect();
    v.sort();
    v.into_iter().map(|(_, id)| id).collect()
}
