//! Nodes, wires and the graph that holds them.

use super::params::{ParamValue, Params};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind id of a node that is an instance of a block (see [`Node::block`]).
pub const BLOCK_KIND: &str = "block";

/// A node's stable id: unique within its graph and never reused after the node is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// One node on the canvas: a layer, an input/output, or an instance of a block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Stable id.
    pub id: NodeId,
    /// Kind id from the catalog (e.g. `linear`), or [`BLOCK_KIND`]. Unknown kinds are kept.
    pub kind: String,
    /// User-visible title; empty means "use the kind's display name".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// For block instances: the id of the block definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// For block instances: how many chained copies (×N).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub repeat: u32,
    /// Parameter values by name.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub params: Params,
    /// Top-left corner on the canvas, in graph coordinates.
    #[serde(default)]
    pub pos: [f32; 2],
    /// Auto-layout leaves pinned nodes where they are.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pinned: bool,
}

impl Node {
    /// A node of `kind` with default parameters at the origin (id assigned by the graph).
    pub fn new(kind: impl Into<String>) -> Self {
        Node {
            id: NodeId(0),
            kind: kind.into(),
            title: String::new(),
            block: None,
            repeat: 1,
            params: Params::new(),
            pos: [0.0, 0.0],
            pinned: false,
        }
    }

    /// A node instancing block `block_id`, repeated `repeat` times.
    pub fn block_instance(block_id: impl Into<String>, repeat: u32) -> Self {
        let mut n = Node::new(BLOCK_KIND);
        n.block = Some(block_id.into());
        n.repeat = repeat.max(1);
        n
    }

    /// Builder: set a parameter.
    pub fn with(mut self, name: &str, value: impl Into<ParamValue>) -> Self {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// True when this node instances a block.
    pub fn is_block(&self) -> bool {
        self.kind == BLOCK_KIND
    }
}

/// A wire from an output port of one node to an input port of another.
/// Field order gives the sort order used in files.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wire {
    /// Source node.
    pub from: NodeId,
    /// Source output port name.
    pub out: String,
    /// Target node.
    pub to: NodeId,
    /// Target input port name.
    #[serde(rename = "in")]
    pub input: String,
}

impl Wire {
    /// A wire `from.out → to.input`.
    pub fn new(from: NodeId, out: &str, to: NodeId, input: &str) -> Self {
        Wire {
            from,
            out: out.to_owned(),
            to,
            input: input.to_owned(),
        }
    }
}

/// A graph: nodes sorted by id, wires sorted, and the id allocator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph {
    /// The next id to hand out; only ever grows, so ids are never reused.
    #[serde(default)]
    pub next_id: u64,
    /// Nodes, sorted by id.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Wires, sorted.
    #[serde(default)]
    pub wires: Vec<Wire>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sorts nodes and wires and repairs the id allocator (after loading a hand-edited file).
    pub fn normalize(&mut self) {
        self.nodes.sort_by_key(|n| n.id);
        self.wires.sort();
        self.wires.dedup();
        let max = self.nodes.iter().map(|n| n.id.0 + 1).max().unwrap_or(0);
        self.next_id = self.next_id.max(max);
    }

    /// Hands out a fresh id.
    pub fn alloc_id(&mut self) -> NodeId {
        let id = NodeId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Adds `node` with a fresh id and returns the id.
    pub fn add(&mut self, mut node: Node) -> NodeId {
        node.id = self.alloc_id();
        let id = node.id;
        self.insert_node(node);
        id
    }

    /// Index of node `id` in [`Graph::nodes`].
    pub fn index_of(&self, id: NodeId) -> Option<usize> {
        self.nodes.binary_search_by_key(&id, |n| n.id).ok()
    }

    /// The node with `id`.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.index_of(id).map(|i| &self.nodes[i])
    }

    /// The node with `id`, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.index_of(id).map(move |i| &mut self.nodes[i])
    }

    /// Inserts a node keeping its id (used by undo). Returns false if the id is taken.
    pub fn insert_node(&mut self, node: Node) -> bool {
        match self.nodes.binary_search_by_key(&node.id, |n| n.id) {
            Ok(_) => false,
            Err(i) => {
                self.next_id = self.next_id.max(node.id.0 + 1);
                self.nodes.insert(i, node);
                true
            }
        }
    }

    /// Removes a node and every wire touching it; returns both.
    pub fn remove_node(&mut self, id: NodeId) -> Option<(Node, Vec<Wire>)> {
        let i = self.index_of(id)?;
        let node = self.nodes.remove(i);
        let (gone, kept): (Vec<Wire>, Vec<Wire>) = std::mem::take(&mut self.wires)
            .into_iter()
            .partition(|w| w.from == id || w.to == id);
        self.wires = kept;
        Some((node, gone))
    }

    /// Adds a wire, keeping wires sorted. Returns false if it already exists.
    pub fn add_wire(&mut self, wire: Wire) -> bool {
        match self.wires.binary_search(&wire) {
            Ok(_) => false,
            Err(i) => {
                self.wires.insert(i, wire);
                true
            }
        }
    }

    /// Removes a wire. Returns false if it was not there.
    pub fn remove_wire(&mut self, wire: &Wire) -> bool {
        match self.wires.binary_search(wire) {
            Ok(i) => {
                self.wires.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Node indices in topological order (Kahn), then any nodes caught in cycles, in id order.
    /// The second value is how many nodes were ordered before the cycles.
    pub fn topological_order(&self) -> (Vec<usize>, usize) {
        let n = self.nodes.len();
        let mut indeg = vec![0usize; n];
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        for w in &self.wires {
            if let (Some(a), Some(b)) = (self.index_of(w.from), self.index_of(w.to)) {
                succ[a].push(b);
                indeg[b] += 1;
            }
        }
        let mut order = Vec::with_capacity(n);
        let mut queue: std::collections::VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &s in &succ[i] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    queue.push_back(s);
                }
            }
        }
        let ordered = order.len();
        let mut seen = vec![false; n];
        for &i in &order {
            seen[i] = true;
        }
        order.extend((0..n).filter(|&i| !seen[i]));
        (order, ordered)
    }

    /// Wires into node `id`.
    pub fn wires_into(&self, id: NodeId) -> impl Iterator<Item = &Wire> {
        self.wires.iter().filter(move |w| w.to == id)
    }

    /// Wires out of node `id`.
    pub fn wires_from(&self, id: NodeId) -> impl Iterator<Item = &Wire> {
        self.wires.iter().filter(move |w| w.from == id)
    }
}
