//! Layered auto-layout (Sugiyama style): layers by longest path, crossing reduction by
//! barycentre sweeps over a graph with dummy vertices on long wires, coordinates by least
//! squares under separation constraints, then two folds that make a network fit a window:
//!
//! * **U fold** — when long wires nest (the encoder's level-k output feeds the decoder's level k,
//!   as in every U-Net), the path is folded at the innermost pair: contracting side down one
//!   column, expanding side back up the other, each skip wire's ends side by side.
//! * **Column fold** — otherwise a long network is cut into consecutive bands of layers laid
//!   side by side (newspaper columns for top-to-bottom, lines of text for left-to-right), cut
//!   where the fewest wires cross, as many as make the drawing fit the target view largest.
//!
//! Pure: knows nothing of egui; node sizes come from the caller.

use super::graph::{Graph, NodeId};
use std::collections::BTreeMap;

/// Which way data flows on the canvas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// Inputs at the top, outputs at the bottom (as papers and Netron draw networks).
    #[default]
    TopToBottom,
    /// Inputs on the left, outputs on the right.
    LeftToRight,
}

/// What the layout aims for.
#[derive(Clone, Copy, Debug)]
pub struct LayoutOptions {
    /// Flow direction.
    pub direction: Direction,
    /// The view the graph should fit (graph units at zoom 1): folding picks the fold that shows
    /// the graph largest in it.
    pub view: [f32; 2],
}

impl Default for LayoutOptions {
    /// Top to bottom, for the canvas of a 1280×800 window.
    fn default() -> Self {
        LayoutOptions {
            direction: Direction::TopToBottom,
            view: [770.0, 660.0],
        }
    }
}

/// A typical node's size when nothing better is known.
pub const DEFAULT_NODE_SIZE: [f32; 2] = [180.0, 70.0];

/// Gap between consecutive layers along the flow (room for the shape label on each wire).
fn layer_gap(d: Direction) -> f32 {
    match d {
        Direction::TopToBottom => 40.0,
        Direction::LeftToRight => 130.0,
    }
}
/// Gap between neighbours in one layer.
fn cross_gap(d: Direction) -> f32 {
    match d {
        Direction::TopToBottom => 40.0,
        Direction::LeftToRight => 36.0,
    }
}
/// Gap between folded columns (or rows).
const COLUMN_GAP: f32 = 100.0;
/// Cross-axis room a long wire passing a layer keeps free.
const DUMMY_WIDTH: f32 = 26.0;

/// Lays out every unpinned node with default options and sizes (see [`auto_layout`]).
pub fn layered_layout(g: &Graph) -> Vec<(NodeId, [f32; 2])> {
    auto_layout(g, &LayoutOptions::default(), &|_| DEFAULT_NODE_SIZE, &|_| None)
}

/// Computes new positions (top-left corners) for the graph's nodes; returns `(node, position)`
/// for the nodes that move. Pinned nodes stay where they are and the new drawing is placed so
/// that the first pinned node would be where the layout put it (the rest moves around it).
/// Cycles are tolerated: wires that close a cycle are ignored for layering.
///
/// `resolution` tells how many positions a node's output has per channel (H·W of an image
/// feature map), when known: a U fold is made only where the skip wires leave the contracting
/// path at strictly falling resolutions and join the expanding path at strictly rising ones.
pub fn auto_layout(
    g: &Graph,
    opts: &LayoutOptions,
    size: &dyn Fn(NodeId) -> [f32; 2],
    resolution: &dyn Fn(NodeId) -> Option<u64>,
) -> Vec<(NodeId, [f32; 2])> {
    let n = g.nodes.len();
    if n == 0 {
        return Vec::new();
    }
    let tb = opts.direction == Direction::TopToBottom;
    // (main extent along the flow, cross extent)
    let ext: Vec<[f32; 2]> = g
        .nodes
        .iter()
        .map(|nd| {
            let s = size(nd.id);
            if tb { [s[1], s[0]] } else { s }
        })
        .collect();
    let index: BTreeMap<NodeId, usize> = g.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let (order, _) = g.topological_order();
    let mut rank = vec![0usize; n];
    for (k, &i) in order.iter().enumerate() {
        rank[i] = k;
    }
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for w in &g.wires {
        if let (Some(&a), Some(&b)) = (index.get(&w.from), index.get(&w.to))
            && rank[a] < rank[b]
        {
            edges.push((a, b));
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &edges {
        succs[a].push(b);
        preds[b].push(a);
    }
    // Layers: longest path from the sources; a source that feeds only late nodes (labels, a
    // timestep) moves down to just above its first reader.
    let mut layer = vec![0usize; n];
    for &i in &order {
        layer[i] = preds[i].iter().map(|&p| layer[p] + 1).max().unwrap_or(0);
    }
    for &i in order.iter().rev() {
        if preds[i].is_empty()
            && let Some(m) = succs[i].iter().map(|&s| layer[s]).min()
        {
            layer[i] = layer[i].max(m.saturating_sub(1));
        }
    }
    let layers = layer.iter().copied().max().map_or(1, |m| m + 1);

    // The U: nested long wires (a, b), outermost first.
    // Only wires between feature maps (known resolution at both ends) can be a U's skips.
    let spatial: Vec<bool> = g.nodes.iter().map(|nd| resolution(nd.id).is_some()).collect();
    let maps: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(a, b)| spatial[a] && spatial[b])
        .collect();
    let mut skips = nested_skips(&maps, &layer);
    // A U is one path down and back up: each skip's source leads to the next one's, and each
    // skip's target is reached from the next one's.
    let reaches = |from: usize, to: usize| -> bool {
        let mut seen = vec![false; n];
        let mut stack = vec![from];
        while let Some(v) = stack.pop() {
            if v == to {
                return true;
            }
            for &s in &succs[v] {
                if !seen[s] && layer[s] <= layer[to] {
                    seen[s] = true;
                    stack.push(s);
                }
            }
        }
        false
    };
    let res = |i: usize| resolution(g.nodes[i].id);
    let falls = |a: usize, b: usize| matches!((res(a), res(b)), (Some(x), Some(y)) if x > y);
    if !skips
        .windows(2)
        .all(|w| reaches(w[0].0, w[1].0) && reaches(w[1].1, w[0].1) && falls(w[0].0, w[1].0) && falls(w[0].1, w[1].1))
    {
        skips.clear();
    }
    let skip_set: std::collections::BTreeSet<(usize, usize)> = skips.iter().copied().collect();

    // Vertices: the nodes, then one dummy per layer a long wire passes (skip wires of a U
    // cross between the two columns and need none).
    let mut vlayer = layer.clone();
    let mut vext = ext.clone();
    let mut up: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &edges {
        if skip_set.contains(&(a, b)) {
            continue;
        }
        let mut prev = a;
        for l in layer[a] + 1..layer[b] {
            let d = vlayer.len();
            vlayer.push(l);
            vext.push([0.0, DUMMY_WIDTH]);
            up.push(vec![prev]);
            down.push(Vec::new());
            down[prev].push(d);
            prev = d;
        }
        down[prev].push(b);
        up[b].push(prev);
    }
    let nv = vlayer.len();
    let real = |v: usize| v < n;

    // Initial order: by topological rank (dummies after their source).
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    let mut vrank: Vec<f32> = (0..nv).map(|v| if real(v) { rank[v] as f32 } else { 0.0 }).collect();
    for v in n..nv {
        vrank[v] = vrank[up[v][0]] + 0.5;
    }
    for v in 0..nv {
        rows[vlayer[v]].push(v);
    }
    for r in rows.iter_mut() {
        r.sort_by(|&a, &b| vrank[a].total_cmp(&vrank[b]));
    }
    let mut pos = vec![0usize; nv];
    let set_pos = |rows: &Vec<Vec<usize>>, pos: &mut Vec<usize>| {
        for r in rows {
            for (k, &v) in r.iter().enumerate() {
                pos[v] = k;
            }
        }
    };
    set_pos(&rows, &mut pos);

    // Crossing reduction: barycentre sweeps down and up, keeping the best order seen.
    let mut best = rows.clone();
    let mut best_cross = crossings(&rows, &down, &pos);
    for sweep in 0..16 {
        if best_cross == 0 {
            break;
        }
        let downward = sweep % 2 == 0;
        let seq: Vec<usize> = if downward {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in seq {
            let nb = if downward { &up } else { &down };
            let key: Vec<(usize, f32)> = rows[l]
                .iter()
                .map(|&v| {
                    let ns = &nb[v];
                    let k = if ns.is_empty() {
                        pos[v] as f32
                    } else {
                        ns.iter().map(|&u| pos[u] as f32).sum::<f32>() / ns.len() as f32
                    };
                    (v, k)
                })
                .collect();
            let mut sorted = key;
            sorted.sort_by(|a, b| a.1.total_cmp(&b.1));
            rows[l] = sorted.into_iter().map(|(v, _)| v).collect();
            for (k, &v) in rows[l].iter().enumerate() {
                pos[v] = k;
            }
        }
        let c = crossings(&rows, &down, &pos);
        if c < best_cross {
            best_cross = c;
            best = rows.clone();
        }
    }
    rows = best;
    set_pos(&rows, &mut pos);

    let res_of: Vec<Option<u64>> = (0..n).map(res).collect();
    let mut out: Vec<[f32; 2]> = if skips.len() >= 2 {
        u_layout(&skips, &layer, layers, &rows, &ext, &res_of, opts)
    } else {
        banded(n, &rows, &layer, layers, &vlayer, &vext, &up, &down, &edges, opts)
    };
    // Pinned nodes stay; the drawing is anchored on the first of them.
    if let Some(p) = g.nodes.iter().position(|nd| nd.pinned) {
        let d = [g.nodes[p].pos[0] - out[p][0], g.nodes[p].pos[1] - out[p][1]];
        for o in out.iter_mut() {
            o[0] += d[0];
            o[1] += d[1];
        }
    }
    g.nodes
        .iter()
        .zip(out)
        .filter(|(nd, p)| !nd.pinned && *p != nd.pos)
        .map(|(nd, p)| (nd.id, p))
        .collect()
}

/// The ordinary drawing: layers along the flow, least-squares coordinates across it, then
/// folded into bands.
#[allow(clippy::too_many_arguments)]
fn banded(
    n: usize,
    rows: &[Vec<usize>],
    layer: &[usize],
    layers: usize,
    vlayer: &[usize],
    vext: &[[f32; 2]],
    up: &[Vec<usize>],
    down: &[Vec<usize>],
    edges: &[(usize, usize)],
    opts: &LayoutOptions,
) -> Vec<[f32; 2]> {
    let tb = opts.direction == Direction::TopToBottom;
    let nv = vlayer.len();
    let real = |v: usize| v < n;

    // Cross coordinates: least squares towards neighbours in the same column, no overlaps.
    let gap = cross_gap(opts.direction);
    let mut cx = vec![0f32; nv];
    for r in rows {
        let mut x = 0.0;
        for &v in r {
            cx[v] = x + vext[v][1] / 2.0;
            x += vext[v][1] + gap;
        }
        let mid = x / 2.0;
        for &v in r {
            cx[v] -= mid;
        }
    }
    for it in 0..8 {
        let downward = it % 2 == 0;
        let seq: Vec<usize> = if downward {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in seq {
            let nb = if downward { up } else { down };
            let want: Vec<(f32, f32)> = rows[l]
                .iter()
                .map(|&v| {
                    let ns = &nb[v];
                    if ns.is_empty() {
                        (cx[v], 0.05)
                    } else {
                        let w = if real(v) { 1.0 } else { 2.0 };
                        (ns.iter().map(|&u| cx[u]).sum::<f32>() / ns.len() as f32, w)
                    }
                })
                .collect();
            let seps: Vec<f32> = rows[l]
                .windows(2)
                .map(|p| (vext[p[0]][1] + vext[p[1]][1]) / 2.0 + gap)
                .collect();
            let placed = place(&want, &seps);
            for (k, &v) in rows[l].iter().enumerate() {
                cx[v] = placed[k];
            }
        }
    }

    // Main-axis extent of each layer (its tallest node).
    let lext: Vec<f32> = (0..layers)
        .map(|l| {
            rows[l]
                .iter()
                .filter(|&&v| real(v))
                .map(|&v| vext[v][0])
                .fold(0.0, f32::max)
        })
        .collect();
    let lgap = layer_gap(opts.direction);
    // Per layer: (column, main coordinate of the layer's start).
    let bands = choose_bands(rows, &cx, vext, &lext, lgap, edges, layer, layers, opts, tb);
    let mut col = vec![0; layers];
    let mut main = vec![0f32; layers];
    for (c, band) in bands.iter().enumerate() {
        let mut m = 0.0;
        for l in band.clone() {
            col[l] = c;
            main[l] = m;
            m += lext[l] + lgap;
        }
    }
    // Columns side by side along the cross axis.
    let ncols = col.iter().copied().max().unwrap_or(0) + 1;
    let mut lo = vec![f32::INFINITY; ncols];
    let mut hi = vec![f32::NEG_INFINITY; ncols];
    for v in 0..nv {
        let c = col[vlayer[v]];
        lo[c] = lo[c].min(cx[v] - vext[v][1] / 2.0);
        hi[c] = hi[c].max(cx[v] + vext[v][1] / 2.0);
    }
    let mut offset = vec![0f32; ncols];
    let mut at = 0.0;
    for c in 0..ncols {
        if lo[c].is_finite() {
            offset[c] = at - lo[c];
            at += hi[c] - lo[c] + COLUMN_GAP;
        }
    }
    let min_main = main.iter().copied().fold(f32::INFINITY, f32::min);
    (0..n)
        .map(|i| {
            let l = layer[i];
            let c = col[l];
            let cross = cx[i] - vext[i][1] / 2.0 + offset[c];
            // Centred in its layer's band along the flow.
            let along = main[l] - min_main + (lext[l] - vext[i][0]) / 2.0;
            if tb {
                [cross.round(), along.round()]
            } else {
                [along.round(), cross.round()]
            }
        })
        .collect()
}

/// Crossings between consecutive layers (each pair counted by inversions, n log n).
fn crossings(rows: &[Vec<usize>], down: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for r in rows {
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        for &v in r {
            for &w in &down[v] {
                pairs.push((pos[v], pos[w]));
            }
        }
        if pairs.len() < 2 {
            continue;
        }
        pairs.sort_unstable();
        let m = pairs.iter().map(|p| p.1).max().unwrap_or(0) + 1;
        let mut tree = vec![0usize; m + 1];
        for (k, &(_, b)) in pairs.iter().enumerate() {
            // Earlier pairs with a larger lower position cross this one.
            let mut s = 0;
            let mut i = b + 1;
            while i > 0 {
                s += tree[i];
                i -= i & i.wrapping_neg();
            }
            total += k - s;
            let mut i = b + 1;
            while i <= m {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Positions `x` minimising Σ w·(x − want)² with `x[k+1] − x[k] ≥ seps[k]` (pool adjacent
/// violators on the shifted problem).
fn place(want: &[(f32, f32)], seps: &[f32]) -> Vec<f32> {
    let mut shift = vec![0f32; want.len()];
    for k in 1..want.len() {
        shift[k] = shift[k - 1] + seps[k - 1];
    }
    // blocks: (weighted mean, weight, count)
    let mut blocks: Vec<(f32, f32, usize)> = Vec::new();
    for (k, &(x, w)) in want.iter().enumerate() {
        blocks.push((x - shift[k], w, 1));
        while blocks.len() > 1 {
            let (m2, w2, c2) = blocks[blocks.len() - 1];
            let (m1, w1, c1) = blocks[blocks.len() - 2];
            if m1 <= m2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = ((m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2);
        }
    }
    let mut out = Vec::with_capacity(want.len());
    for (m, _, c) in blocks {
        for _ in 0..c {
            let k = out.len();
            out.push(m + shift[k]);
        }
    }
    out
}

/// The longest run of strictly nested long wires (a₁ < a₂ < … and b₁ > b₂ > …), outermost first;
/// empty unless they look like a U (at least two, the outermost spanning most of the graph).
fn nested_skips(edges: &[(usize, usize)], layer: &[usize]) -> Vec<(usize, usize)> {
    let mut long: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(a, b)| layer[b] >= layer[a] + 3)
        .collect();
    if long.len() < 2 {
        return Vec::new();
    }
    // Longest chain by dynamic programming over wires sorted by start layer.
    long.sort_by_key(|&(a, b)| (layer[a], std::cmp::Reverse(layer[b])));
    let m = long.len();
    let mut len = vec![1usize; m];
    let mut prev = vec![usize::MAX; m];
    for j in 0..m {
        for i in 0..j {
            let (a1, b1) = long[i];
            let (a2, b2) = long[j];
            if layer[a1] < layer[a2] && layer[b1] > layer[b2] && len[i] + 1 > len[j] {
                len[j] = len[i] + 1;
                prev[j] = i;
            }
        }
    }
    let Some((mut j, &best)) = len.iter().enumerate().max_by_key(|(_, l)| **l) else {
        return Vec::new();
    };
    if best < 2 {
        return Vec::new();
    }
    let mut chain = Vec::new();
    while j != usize::MAX {
        chain.push(long[j]);
        j = prev[j];
    }
    chain.reverse();
    let total = layer.iter().copied().max().unwrap_or(0) as f32;
    let (a, b) = chain[0];
    if ((layer[b] - layer[a]) as f32) < 0.5 * total {
        return Vec::new();
    }
    chain
}

/// Gap across the middle of a U (the skip wires and their shape labels).
const U_GAP: f32 = 100.0;

/// The U: one band per resolution level. The contracting side's level i ends at the source of
/// skip wire i, flowing towards the middle; the expanding side's level i starts at its target,
/// flowing away from it; the layers below the innermost pair form the bottom band, centred. A
/// side may wrap onto several lines (the contracting side's lines run downwards, the expanding
/// side's upwards, so each skip wire stays level); the wrapping that shows the whole U largest
/// in the view wins. Returns every node's top-left corner.
fn u_layout(
    skips: &[(usize, usize)],
    layer: &[usize],
    layers: usize,
    rows: &[Vec<usize>],
    ext: &[[f32; 2]],
    res: &[Option<u64>],
    opts: &LayoutOptions,
) -> Vec<[f32; 2]> {
    let n = ext.len();
    // A layer's resolution: its finest node's.
    let lres: Vec<Option<u64>> = (0..layers)
        .map(|l| rows[l].iter().filter(|&&v| v < n).filter_map(|&v| res[v]).max())
        .collect();
    let la: Vec<usize> = skips.iter().map(|&(a, _)| layer[a]).collect();
    let lb: Vec<usize> = skips.iter().map(|&(_, b)| layer[b]).collect();
    let k = skips.len();
    // Groups of layers: (level, side) with side 0 contracting, 1 bottom, 2 expanding.
    let mut groups: Vec<Vec<Vec<usize>>> = vec![vec![Vec::new(); 3]; k + 1];
    for l in 0..layers {
        let (lv, side) = if l <= la[k - 1] {
            (la.iter().position(|&a| l <= a).unwrap_or(0), 0)
        } else if l < lb[k - 1] {
            (k, 1)
        } else {
            (lb.iter().position(|&b| l >= b).unwrap_or(0), 2)
        };
        groups[lv][side].push(l);
    }
    // On the way up, the layer that raises the resolution (an up-convolution) and what follows
    // it belong to the level it rises to: they move from the end of the level below (or the
    // bottom) to the start of the level above, beside the skip wire they join.
    let mut rising = vec![false; layers];
    for i in 0..k {
        let (from_lv, from_side) = if i + 1 < k { (i + 1, 2) } else { (k, 1) };
        let seg = &groups[from_lv][from_side];
        let rise = seg
            .iter()
            .copied()
            .filter(|&l| l > 0 && l < lb[i] && matches!((lres[l - 1], lres[l]), (Some(a), Some(b)) if b > a))
            .max();
        if let Some(u) = rise {
            let moved: Vec<usize> = seg.iter().copied().filter(|&l| l >= u && l < lb[i]).collect();
            groups[from_lv][from_side].retain(|l| !moved.contains(l));
            // Drawn half a line lower, between the levels, so the skip wire passes above it.
            for &l in moved.iter().filter(|&&l| lres[l] == lres[u]) {
                rising[l] = true;
            }
            let dest = &mut groups[i][2];
            dest.extend(moved);
            dest.sort_unstable();
        }
    }
    let fgap = 34.0;
    let line_gap = 30.0;
    let level_gap = 40.0;
    let slot_w: Vec<f32> = (0..layers)
        .map(|l| {
            rows[l]
                .iter()
                .filter(|&&v| v < n)
                .map(|&v| ext[v][1])
                .fold(0.0, f32::max)
        })
        .collect();
    let slot_h: Vec<f32> = (0..layers)
        .map(|l| {
            let r = rows[l].iter().filter(|&&v| v < n);
            r.clone().map(|&v| ext[v][0]).sum::<f32>() + line_gap * r.count().saturating_sub(1) as f32
        })
        .collect();
    let line_h = slot_h.iter().copied().fold(0.0, f32::max) + line_gap;
    // Splits a group into `m` lines of about equal width.
    let split = |g: &[usize], m: usize| -> Vec<Vec<usize>> {
        let total: f32 = g.iter().map(|&l| slot_w[l] + fgap).sum();
        let mut lines: Vec<Vec<usize>> = vec![Vec::new()];
        let mut acc = 0.0;
        for &l in g {
            let line = lines.len();
            if acc + (slot_w[l] + fgap) / 2.0 > total * line as f32 / m as f32
                && line < m
                && !lines[line - 1].is_empty()
            {
                lines.push(Vec::new());
            }
            acc += slot_w[l] + fgap;
            if let Some(last) = lines.last_mut() {
                last.push(l);
            }
        }
        lines
    };
    let width = |line: &[usize]| -> f32 {
        line.iter().map(|&l| slot_w[l]).sum::<f32>() + fgap * line.len().saturating_sub(1) as f32
    };
    let (vw, vh) = match opts.direction {
        Direction::TopToBottom => (opts.view[0], opts.view[1]),
        Direction::LeftToRight => (opts.view[1], opts.view[0]),
    };
    // Lays the U out with `lines[level][side]` lines per group: (zoom that fits the view, corners).
    let lay = |lines: &[[usize; 3]]| -> (f32, Vec<[f32; 2]>, usize) {
        let mut slot_at = vec![[0f32; 2]; layers];
        let mut y: f32 = 0.0;
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        let mut widest = (0usize, f32::NEG_INFINITY);
        // Rectangles placed so far (x0, y0, x1, y1), and how far down the drawing reaches.
        let mut placed: Vec<[f32; 4]> = Vec::new();
        let mut reach: f32 = 0.0;
        for (lv, g) in groups.iter().enumerate() {
            let ls: Vec<Vec<Vec<usize>>> = (0..3).map(|side| split(&g[side], lines[lv][side])).collect();
            let count = (0..3)
                .map(|side| if g[side].is_empty() { 0 } else { ls[side].len() })
                .max()
                .unwrap_or(0);
            if count == 0 {
                continue;
            }
            // The level's slots relative to its top (a rising node hangs half a line lower).
            let mut local: Vec<(usize, [f32; 2])> = Vec::new();
            let (mut llo, mut lhi) = (f32::INFINITY, f32::NEG_INFINITY);
            for (side, lines) in ls.iter().enumerate() {
                let m = lines.len();
                for (j, line) in lines.iter().enumerate() {
                    let row = match side {
                        0 => count - m + j,
                        1 => j,
                        _ => count - 1 - j,
                    };
                    let w = width(line);
                    let mut x = match side {
                        0 => -U_GAP / 2.0 - w,
                        1 => -w / 2.0,
                        _ => U_GAP / 2.0,
                    };
                    for &l in line {
                        let drop = if rising[l] { 0.5 * line_h } else { 0.0 };
                        local.push((l, [x, row as f32 * line_h + drop]));
                        x += slot_w[l] + fgap;
                    }
                    if let Some(&first) = line.first() {
                        llo = llo.min(local.iter().find(|e| e.0 == first).map_or(x, |e| e.1[0]));
                        lhi = lhi.max(x - fgap);
                    }
                }
            }
            // Lowered until it clears everything above (by a level gap).
            let rect = |l: usize, p: [f32; 2], dy: f32| [p[0], p[1] + dy, p[0] + slot_w[l], p[1] + dy + slot_h[l]];
            for _ in 0..4 {
                let need = local
                    .iter()
                    .flat_map(|&(l, p)| {
                        let r = rect(l, p, y);
                        placed
                            .iter()
                            .filter(move |q| r[0] < q[2] + fgap && q[0] < r[2] + fgap)
                            .map(move |q| q[3] + level_gap - r[1])
                    })
                    .fold(0.0, f32::max);
                if need <= 0.5 {
                    break;
                }
                y += need;
            }
            for &(l, p) in &local {
                slot_at[l] = [p[0], p[1] + y];
                let r = rect(l, p, y);
                reach = reach.max(r[3]);
                placed.push(r);
            }
            if lhi - llo > widest.1 {
                widest = (lv, lhi - llo);
            }
            lo = lo.min(llo);
            hi = hi.max(lhi);
            y += count as f32 * line_h - line_gap + level_gap;
        }
        let y = reach + level_gap;
        let height = y - level_gap;
        let zoom = (vw / (hi - lo + 60.0)).min(vh / (height + 60.0)).min(1.0);
        let mut out = vec![[0f32; 2]; n];
        for l in 0..layers {
            let [sx, sy] = slot_at[l];
            let mut yy = sy + (line_h - line_gap - slot_h[l]) / 2.0;
            for &v in rows[l].iter().filter(|&&v| v < n) {
                let x = sx + (slot_w[l] - ext[v][1]) / 2.0;
                out[v] = match opts.direction {
                    Direction::TopToBottom => [x, yy],
                    Direction::LeftToRight => [yy, x],
                };
                yy += ext[v][0] + line_gap;
            }
        }
        (zoom, out, widest.0)
    };
    // Start with one line per group; wrap the widest level's longer side while that helps.
    let mut lines = vec![[1usize; 3]; k + 1];
    let mut best = lay(&lines);
    for u in 2..=3 {
        let all = vec![[u; 3]; k + 1];
        let tried = lay(&all);
        if tried.0 > best.0 * 1.02 {
            lines = all;
            best = tried;
        }
    }
    for _ in 0..4 * (k + 1) {
        let lv = best.2;
        let g = &groups[lv];
        let side = (0..3).filter(|&s| lines[lv][s] < g[s].len()).max_by(|&a, &b| {
            let wa = g[a].iter().map(|&l| slot_w[l]).sum::<f32>() / lines[lv][a] as f32;
            let wb = g[b].iter().map(|&l| slot_w[l]).sum::<f32>() / lines[lv][b] as f32;
            wa.total_cmp(&wb)
        });
        let Some(side) = side else { break };
        let mut next = lines.clone();
        next[lv][side] += 1;
        let tried = lay(&next);
        if tried.0 <= best.0 * 1.005 {
            break;
        }
        lines = next;
        best = tried;
    }
    let best = Some(best);
    let out = best.map(|b| b.1).unwrap_or_else(|| vec![[0.0; 2]; n]);
    let min = out
        .iter()
        .fold([f32::INFINITY; 2], |m, p| [m[0].min(p[0]), m[1].min(p[1])]);
    out.iter()
        .map(|p| [(p[0] - min[0]).round(), (p[1] - min[1]).round()])
        .collect()
}

/// Cuts the layers into consecutive bands (columns), as many as show the graph largest in the
/// target view, each cut where the fewest wires cross.
#[allow(clippy::too_many_arguments)]
fn choose_bands(
    rows: &[Vec<usize>],
    cx: &[f32],
    vext: &[[f32; 2]],
    lext: &[f32],
    lgap: f32,
    edges: &[(usize, usize)],
    layer: &[usize],
    layers: usize,
    opts: &LayoutOptions,
    tb: bool,
) -> Vec<std::ops::Range<usize>> {
    // Wires crossing the boundary before layer c.
    let mut crossing = vec![0i64; layers + 1];
    for &(a, b) in edges {
        crossing[layer[a] + 1] += 1;
        crossing[layer[b] + 1] -= 1;
    }
    for c in 1..=layers {
        crossing[c] += crossing[c - 1];
    }
    let (lo, hi): (Vec<f32>, Vec<f32>) = rows
        .iter()
        .map(|r| {
            r.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(cx[v] - vext[v][1] / 2.0), hi.max(cx[v] + vext[v][1] / 2.0))
            })
        })
        .unzip();
    let (vw, vh) = if tb {
        (opts.view[0], opts.view[1])
    } else {
        (opts.view[1], opts.view[0])
    };
    let total: f32 = lext.iter().map(|e| e + lgap).sum();
    let mut best: (f32, Vec<std::ops::Range<usize>>) = (0.0, std::iter::once(0..layers).collect());
    // How large a set of bands shows in the view.
    let score = |cuts: &[usize]| -> f32 {
        let mut width = 0.0;
        let mut length: f32 = 0.0;
        for w in cuts.windows(2) {
            let b = w[0]..w[1];
            let l0 = b.clone().map(|l| lo[l]).fold(f32::INFINITY, f32::min);
            let h0 = b.clone().map(|l| hi[l]).fold(f32::NEG_INFINITY, f32::max);
            width += h0 - l0;
            length = length.max(b.map(|l| lext[l] + lgap).sum::<f32>() - lgap);
        }
        width += COLUMN_GAP * (cuts.len() - 2) as f32;
        // Beyond a comfortable zoom a fold buys nothing: a short network stays one column.
        let zoom = (vw / (width + 60.0)).min(vh / (length + 60.0)).min(0.85);
        // Each extra wire cut costs a little: folds go where the flow is one wire.
        let extra: i64 = cuts[1..cuts.len() - 1].iter().map(|&c| (crossing[c] - 1).max(0)).sum();
        zoom * (1.0 - 0.015 * extra as f32)
    };
    for k in 1..=layers.min(12) {
        // Ideal cuts at equal length; look around each for the cleanest boundary.
        let mut cuts = vec![0usize];
        let mut acc = 0.0;
        let mut l = 0;
        for j in 1..k {
            let target = total * j as f32 / k as f32;
            while l < layers && acc + (lext[l] + lgap) / 2.0 < target {
                acc += lext[l] + lgap;
                l += 1;
            }
            let prev = *cuts.last().unwrap_or(&0);
            let span = (layers / k / 3).max(1);
            let from = (l.saturating_sub(span)).max(prev + 1);
            let to = (l + span).min(layers - 1);
            if from > to {
                continue;
            }
            let c = (from..=to)
                .min_by_key(|&c| (crossing[c], c.abs_diff(l)))
                .unwrap_or(from);
            cuts.push(c);
        }
        cuts.push(layers);
        cuts.dedup();
        // Then move each cut to wherever between its neighbours shows the drawing largest
        // (for graphs of readable length; a huge one keeps the even cuts).
        for j in 1..cuts.len() - 1 {
            if layers > 400 {
                break;
            }
            let (a, b) = (cuts[j - 1] + 1, cuts[j + 1]);
            let mut best_c = (score(&cuts), cuts[j]);
            for c in a..b {
                let mut t = cuts.clone();
                t[j] = c;
                let sc = score(&t);
                if sc > best_c.0 * 1.001 {
                    best_c = (sc, c);
                }
            }
            cuts[j] = best_c.1;
        }
        let zoom = score(&cuts);
        // A fold must buy a visibly larger drawing.
        if zoom > best.0 * 1.03 {
            best = (zoom, cuts.windows(2).map(|w| w[0]..w[1]).collect());
        }
    }
    best.1
}
