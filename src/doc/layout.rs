//! Layered, left-to-right auto-layout.

use super::graph::{Graph, NodeId};
use std::collections::BTreeMap;

/// Horizontal distance between layers.
const LAYER_DX: f32 = 330.0;
/// Vertical distance between nodes in one layer.
const ROW_DY: f32 = 170.0;

/// Computes new positions for every unpinned node: each node goes one layer right of its
/// furthest predecessor (longest path), nodes in a layer are ordered by the mean row of their
/// predecessors. Pinned nodes keep their place. Cycles are tolerated (edges closing a cycle are
/// ignored). Returns `(node, new position)` for nodes that move.
pub fn layered_layout(g: &Graph) -> Vec<(NodeId, [f32; 2])> {
    let n = g.nodes.len();
    let index: BTreeMap<NodeId, usize> = g.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    // Distinct edges (succs dedupes parallel wires) give each node its predecessors.
    for w in &g.wires {
        if let (Some(&a), Some(&b)) = (index.get(&w.from), index.get(&w.to))
            && a != b
            && !succs[a].contains(&b)
        {
            succs[a].push(b);
            preds[b].push(a);
        }
    }
    // Kahn order; nodes left in cycles are appended in id order.
    let (order, _) = g.topological_order();
    let mut layer = vec![0usize; n];
    let mut placed = vec![false; n];
    for &i in &order {
        layer[i] = preds[i]
            .iter()
            .filter(|&&p| placed[p])
            .map(|&p| layer[p] + 1)
            .max()
            .unwrap_or(0);
        placed[i] = true;
    }
    let layers = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    let mut row_of = vec![0f32; n];
    for &i in &order {
        rows[layer[i]].push(i);
    }
    for r in rows.iter_mut() {
        let key = |i: usize| -> f32 {
            if preds[i].is_empty() {
                i as f32 * 1e-6
            } else {
                preds[i].iter().map(|&p| row_of[p]).sum::<f32>() / preds[i].len() as f32
            }
        };
        r.sort_by(|&a, &b| key(a).total_cmp(&key(b)));
        let h = r.len() as f32;
        for (k, &i) in r.iter().enumerate() {
            row_of[i] = k as f32 - (h - 1.0) / 2.0;
        }
    }
    let mut moves = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        if node.pinned {
            continue;
        }
        let pos = [layer[i] as f32 * LAYER_DX, row_of[i] * ROW_DY];
        if pos != node.pos {
            moves.push((node.id, pos));
        }
    }
    moves
}
