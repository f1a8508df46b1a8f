//! A small builder for writing graphs in code (presets, tests, benchmarks).

use super::catalog;
use crate::doc::{Graph, Node, NodeId, ParamValue, Params, Wire, layered_layout};

/// Builds a [`Graph`] node by node; `finish` lays it out left to right.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: Graph,
}

impl GraphBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node of `kind` with the given parameters (others stay at their defaults).
    pub fn node(&mut self, kind: &str, params: &[(&str, ParamValue)]) -> NodeId {
        let mut n = Node::new(kind);
        n.params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Params>();
        self.graph.add(n)
    }

    /// Adds a block instance.
    pub fn block(&mut self, block_id: &str, repeat: u32) -> NodeId {
        self.graph.add(Node::block_instance(block_id, repeat))
    }

    /// Sets a node's title.
    pub fn title(&mut self, id: NodeId, title: &str) -> NodeId {
        if let Some(n) = self.graph.node_mut(id) {
            n.title = title.to_owned();
        }
        id
    }

    /// Connects `from.out → to.input`.
    pub fn wire(&mut self, from: NodeId, out: &str, to: NodeId, input: &str) {
        self.graph.add_wire(Wire::new(from, out, to, input));
    }

    /// Adds a node and connects `prev`'s first output to its first input.
    pub fn then(&mut self, prev: NodeId, kind: &str, params: &[(&str, ParamValue)]) -> NodeId {
        let id = self.node(kind, params);
        let out = self.first_output(prev);
        let input = self.first_input(id);
        self.wire(prev, &out, id, &input);
        id
    }

    /// Name of a node's first output port ("y" when unknown).
    pub fn first_output(&self, id: NodeId) -> String {
        self.graph
            .node(id)
            .and_then(|n| catalog().get(&n.kind).map(|s| s.output_ports(&n.params)))
            .and_then(|p| p.first().map(|p| p.name.to_string()))
            .unwrap_or_else(|| "y".into())
    }

    /// Name of a node's first input port ("x" when unknown).
    pub fn first_input(&self, id: NodeId) -> String {
        self.graph
            .node(id)
            .and_then(|n| catalog().get(&n.kind).map(|s| s.input_ports(&n.params)))
            .and_then(|p| p.first().map(|p| p.name.to_string()))
            .unwrap_or_else(|| "x".into())
    }

    /// The graph so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Finishes: lays the graph out left to right.
    pub fn finish(mut self) -> Graph {
        for (id, pos) in layered_layout(&self.graph) {
            if let Some(n) = self.graph.node_mut(id) {
                n.pos = pos;
            }
        }
        self.graph
    }
}
