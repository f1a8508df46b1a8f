//! Graph indexing for the checker: id lookup, successor lists, port order.

use crate::doc::{Graph, NodeId};

/// Node id → index, O(1) when ids are dense (the usual case), binary search otherwise.
pub(super) struct IdIndex<'g> {
    graph: &'g Graph,
    dense: Vec<u32>,
}

impl<'g> IdIndex<'g> {
    pub(super) fn new(graph: &'g Graph) -> Self {
        let n = graph.nodes.len();
        let max = graph.nodes.last().map_or(0, |n| n.id.0);
        let dense = if max < 4 * n as u64 + 64 {
            let mut v = vec![u32::MAX; max as usize + 1];
            for (i, node) in graph.nodes.iter().enumerate() {
                v[node.id.0 as usize] = i as u32;
            }
            v
        } else {
            Vec::new()
        };
        IdIndex { graph, dense }
    }

    pub(super) fn get(&self, id: NodeId) -> Option<usize> {
        if self.dense.is_empty() {
            return self.graph.index_of(id);
        }
        match self.dense.get(usize::try_from(id.0).ok()?) {
            Some(&i) if i != u32::MAX => Some(i as usize),
            _ => None,
        }
    }
}

/// Successor lists in one allocation (compressed sparse rows).
pub(super) struct Csr {
    off: Vec<usize>,
    to: Vec<usize>,
}

impl Csr {
    pub(super) fn new(n: usize, edges: &[(usize, usize)]) -> Self {
        let mut off = vec![0usize; n + 1];
        for &(a, _) in edges {
            off[a + 1] += 1;
        }
        for i in 0..n {
            off[i + 1] += off[i];
        }
        let mut fill = off.clone();
        let mut to = vec![0usize; edges.len()];
        for &(a, b) in edges {
            to[fill[a]] = b;
            fill[a] += 1;
        }
        Csr { off, to }
    }

    pub(super) fn of(&self, a: usize) -> &[usize] {
        &self.to[self.off[a]..self.off[a + 1]]
    }
}

/// Indices of the port nodes of `kind` in port order (by `index`, then id).
pub(super) fn port_order(g: &Graph, kind: &str) -> Vec<usize> {
    let mut v: Vec<(i64, usize)> = g
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.kind == kind)
        .map(|(i, n)| (n.params.get("index").and_then(|v| v.as_int()).unwrap_or(0), i))
        .collect();
    v.sort();
    v.into_iter().map(|(_, i)| i).collect()
}
