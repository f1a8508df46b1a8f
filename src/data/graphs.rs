//! Graphs whose nodes are the examples (node classification): Cora (embedded), Zachary's karate
//! club, stochastic-block-model graphs and a user's graph from an edge-list CSV plus a
//! node-feature CSV. A graph is a [`Dataset`] with one example per node (its features and class)
//! and [`Target::Nodes`]: the edges and the fixed train / validation / test nodes.

use super::{Dataset, Features, Target};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

/// Cora, repacked (see DATASETS.md): a header line, the class names, one line per paper (its
/// class, then the indices of the words it contains), then the citations as node index pairs.
const CORA: &[u8] = include_bytes!("files/cora.txt.gz");

/// The edges and fixed node split of a graph dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSplit {
    /// Undirected edges, each once (`a < b`), no self-loops.
    pub edges: Vec<[u32; 2]>,
    /// Nodes whose labels are trained on.
    pub train: Vec<usize>,
    /// Nodes scored while training.
    pub val: Vec<usize>,
    /// Nodes scored at the end.
    pub test: Vec<usize>,
}

impl NodeSplit {
    /// Both directions of every edge, as `[sources…, destinations…]` (what an `edges` Input gets).
    pub fn directed(&self) -> Vec<i64> {
        let (mut src, mut dst) = (
            Vec::with_capacity(2 * self.edges.len()),
            Vec::with_capacity(2 * self.edges.len()),
        );
        for &[a, b] in &self.edges {
            src.extend([i64::from(a), i64::from(b)]);
            dst.extend([i64::from(b), i64::from(a)]);
        }
        src.extend(dst);
        src
    }
}

/// A small deterministic generator (SplitMix64) so splits and synthetic graphs are the same on
/// every machine.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Edges as undirected pairs, each once, without self-loops, sorted.
fn undirected(pairs: impl IntoIterator<Item = (usize, usize)>) -> Vec<[u32; 2]> {
    let mut set: HashSet<[u32; 2]> = HashSet::new();
    for (a, b) in pairs {
        if a != b {
            set.insert([a.min(b) as u32, a.max(b) as u32]);
        }
    }
    let mut v: Vec<[u32; 2]> = set.into_iter().collect();
    v.sort_unstable();
    v
}

/// The Planetoid-style split: `per_class` training nodes of each class (the first in a seeded
/// shuffle), then `val` and `test` nodes from the rest of that shuffle.
fn split_per_class(labels: &[u8], classes: usize, per_class: usize, val: usize, test: usize, seed: u64) -> NodeSplit {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    Mix(seed).shuffle(&mut order);
    let mut taken = vec![0usize; classes];
    let (mut train, mut rest) = (Vec::new(), Vec::new());
    for i in order {
        let c = usize::from(labels[i]);
        if taken[c] < per_class {
            taken[c] += 1;
            train.push(i);
        } else {
            rest.push(i);
        }
    }
    let val_nodes: Vec<usize> = rest.iter().copied().take(val).collect();
    let test_nodes: Vec<usize> = rest.iter().copied().skip(val).take(test).collect();
    NodeSplit {
        edges: Vec::new(),
        train,
        val: val_nodes,
        test: test_nodes,
    }
}

fn graph(name: &str, f: usize, x: Vec<f32>, labels: Vec<u8>, classes: Vec<String>, split: NodeSplit) -> Dataset {
    Dataset {
        name: name.to_owned(),
        shape: vec![f],
        features: Features::F32(x),
        labels,
        classes,
        test_from: None,
        target: Target::Nodes(split),
    }
}

/// Cora: 2 708 papers, 1 433 word features (which words a paper uses, each row summing to 1), 7 subjects, 5 278 undirected citations; 20
/// training papers per subject (140), 500 for validation and 1 000 for test.
pub fn cora() -> Result<Dataset, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(CORA)
        .read_to_string(&mut text)
        .map_err(|e| format!("the built-in Cora is damaged: {e}"))?;
    let bad = |what: &str| format!("the built-in Cora is damaged: {what}");
    let mut lines = text.lines();
    let head: Vec<usize> = lines
        .next()
        .ok_or_else(|| bad("empty"))?
        .split(' ')
        .skip(1)
        .map(|s| s.parse().map_err(|_| bad("header")))
        .collect::<Result<_, _>>()?;
    let [n, f, c] = head[..] else {
        return Err(bad("header"));
    };
    let classes: Vec<String> = lines
        .next()
        .ok_or_else(|| bad("no classes"))?
        .split('\t')
        .map(|s| s.replace('_', " "))
        .collect();
    let mut x = vec![0f32; n * f];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let mut it = lines.next().ok_or_else(|| bad("too few papers"))?.split(' ');
        let label: u8 = it.next().and_then(|s| s.parse().ok()).ok_or_else(|| bad("a class"))?;
        labels.push(label);
        for w in it {
            let w: usize = w.parse().map_err(|_| bad("a word index"))?;
            *x.get_mut(i * f + w).ok_or_else(|| bad("a word index"))? = 1.0;
        }
    }
    // Each paper's words sum to 1 (Kipf & Welling's and the GAT paper's preprocessing).
    for row in x.chunks_mut(f) {
        let total: f32 = row.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        }
    }
    lines.next();
    let mut pairs = Vec::new();
    for l in lines {
        let mut it = l.split(' ').map(|s| s.parse::<usize>());
        match (it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b))) if a < n && b < n => pairs.push((a, b)),
            _ => return Err(bad("a citation")),
        }
    }
    let mut split = split_per_class(&labels, c, 20, 500, 1000, 0xC04A);
    split.edges = undirected(pairs);
    Ok(graph("Cora", f, x, labels, classes, split))
}

/// Zachary's karate club (78 friendships of 34 members, Zachary 1977, as in networkx): which
/// club each member joined after the split, Mr. Hi's or the officer's.
const KARATE_EDGES: &[(usize, usize)] = &[
    (0, 1),
    (0, 2),
    (0, 3),
    (0, 4),
    (0, 5),
    (0, 6),
    (0, 7),
    (0, 8),
    (0, 10),
    (0, 11),
    (0, 12),
    (0, 13),
    (0, 17),
    (0, 19),
    (0, 21),
    (0, 31),
    (1, 2),
    (1, 3),
    (1, 7),
    (1, 13),
    (1, 17),
    (1, 19),
    (1, 21),
    (1, 30),
    (2, 3),
    (2, 7),
    (2, 8),
    (2, 9),
    (2, 13),
    (2, 27),
    (2, 28),
    (2, 32),
    (3, 7),
    (3, 12),
    (3, 13),
    (4, 6),
    (4, 10),
    (5, 6),
    (5, 10),
    (5, 16),
    (6, 16),
    (8, 30),
    (8, 32),
    (8, 33),
    (9, 33),
    (13, 33),
    (14, 32),
    (14, 33),
    (15, 32),
    (15, 33),
    (18, 32),
    (18, 33),
    (19, 33),
    (20, 32),
    (20, 33),
    (22, 32),
    (22, 33),
    (23, 25),
    (23, 27),
    (23, 29),
    (23, 32),
    (23, 33),
    (24, 25),
    (24, 27),
    (24, 31),
    (25, 31),
    (26, 29),
    (26, 33),
    (27, 33),
    (28, 31),
    (28, 33),
    (29, 32),
    (29, 33),
    (30, 32),
    (30, 33),
    (31, 32),
    (31, 33),
    (32, 33),
];

/// Members who joined Mr. Hi's club (networkx's `club1`); the others joined the officer's.
const MR_HI: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 16, 17, 19, 21];

/// The karate club: 34 members with one-hot identity features, the two clubs as classes; the
/// two leaders (members 0 and 33) are the training labels, every other member is scored.
pub fn karate() -> Dataset {
    let n = 34;
    let mut x = vec![0f32; n * n];
    for i in 0..n {
        x[i * n + i] = 1.0;
    }
    let labels: Vec<u8> = (0..n).map(|i| u8::from(!MR_HI.contains(&i))).collect();
    let others: Vec<usize> = (1..n - 1).collect();
    let split = NodeSplit {
        edges: undirected(KARATE_EDGES.iter().copied()),
        train: vec![0, n - 1],
        val: others.clone(),
        test: others,
    };
    graph(
        "Karate club",
        n,
        x,
        labels,
        vec!["Mr. Hi".into(), "Officer".into()],
        split,
    )
}

/// A stochastic-block-model graph: `n` nodes in `k` communities, each node linked to on average
/// `degree` others, a share `p_in` of them inside its community; features are the community's
/// centre plus noise of size `noise` (16 dims). Train on 20 nodes per community, 500
/// validation, 1 000 test (or what is left).
pub fn sbm(n: usize, k: usize, degree: f64, p_in: f64, noise: f64, seed: u64) -> Result<Dataset, String> {
    if n < 2 * k || k < 2 {
        return Err(format!(
            "a stochastic block model needs at least 2 communities and 2 nodes per community (nodes {n}, communities {k})"
        ));
    }
    let f = 16;
    let mut rng = Mix(seed);
    let labels: Vec<u8> = (0..n).map(|i| (i % k) as u8).collect();
    let centres: Vec<f32> = (0..k * f).map(|_| rng.normal()).collect();
    let mut x = Vec::with_capacity(n * f);
    for &l in &labels {
        let c = usize::from(l);
        x.extend((0..f).map(|j| centres[c * f + j] * 0.5 + rng.normal() * noise as f32));
    }
    // Members of each community, to draw partners inside it.
    let members: Vec<Vec<usize>> = (0..k).map(|c| (c..n).step_by(k).collect()).collect();
    let m = (n as f64 * degree / 2.0).round() as usize;
    let mut pairs = Vec::with_capacity(m);
    for _ in 0..m {
        let a = rng.below(n);
        let b = if rng.unit() < p_in {
            let same = &members[a % k];
            same[rng.below(same.len())]
        } else {
            rng.below(n)
        };
        pairs.push((a, b));
    }
    let per_class = 20.min(n / k / 2);
    let rest = n - per_class * k;
    let val = 500.min(rest / 2);
    let mut split = split_per_class(&labels, k, per_class, val, 1000.min(rest - val), seed ^ 0x5B);
    split.edges = undirected(pairs);
    let classes = (1..=k).map(|c| format!("community {c}")).collect();
    Ok(graph("Stochastic block model", f, x, labels, classes, split))
}

/// A user's graph: `nodes` is a CSV with a header, one row per node — an id column, a label
/// column (named `label`, else the last) and numeric features; `edges` a CSV of node id pairs
/// (a header row is skipped when it is not two known ids). Errors name the file and row.
/// Labelled split: 20 nodes per class for training, then half the rest for validation.
pub fn from_csv(nodes: &Path, edges: &Path) -> Result<Dataset, String> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let text = read(nodes)?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| format!("{}: the node file is empty", nodes.display()))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    if cols.len() < 3 {
        return Err(format!(
            "{} row 1: a node file needs an id column, features and a label (found {} columns)",
            nodes.display(),
            cols.len()
        ));
    }
    let label_col = cols
        .iter()
        .position(|c| c.eq_ignore_ascii_case("label"))
        .unwrap_or(cols.len() - 1);
    let f = cols.len() - 2;
    let (mut ids, mut x, mut names, mut labels): (Vec<String>, Vec<f32>, Vec<String>, Vec<u8>) = Default::default();
    let mut index = std::collections::HashMap::new();
    for (row, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != cols.len() {
            return Err(format!(
                "{} row {}: {} cells, the header has {}",
                nodes.display(),
                row + 1,
                cells.len(),
                cols.len()
            ));
        }
        let id = cells[0].to_owned();
        if index.insert(id.clone(), ids.len()).is_some() {
            return Err(format!(
                "{} row {}: node '{id}' appears twice",
                nodes.display(),
                row + 1
            ));
        }
        ids.push(id);
        for (c, cell) in cells.iter().enumerate() {
            if c == 0 || c == label_col {
                continue;
            }
            x.push(cell.parse::<f32>().map_err(|_| {
                format!(
                    "{} row {}: '{cell}' in column '{}' is not a number",
                    nodes.display(),
                    row + 1,
                    cols[c]
                )
            })?);
        }
        let name = cells[label_col].to_owned();
        let class = match names.iter().position(|n| *n == name) {
            Some(k) => k,
            None => {
                names.push(name);
                names.len() - 1
            }
        };
        labels.push(u8::try_from(class).map_err(|_| format!("{}: more than 256 classes", nodes.display()))?);
    }
    if ids.is_empty() {
        return Err(format!("{}: the node file has no rows", nodes.display()));
    }
    let text = read(edges)?;
    let mut pairs = Vec::new();
    for (row, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let (Some(a), Some(b)) = (cells.first(), cells.get(1)) else {
            return Err(format!(
                "{} row {}: an edge needs two node ids",
                edges.display(),
                row + 1
            ));
        };
        match (index.get(*a), index.get(*b)) {
            (Some(&i), Some(&j)) => pairs.push((i, j)),
            _ if row == 0 => {} // a header
            (None, _) | (_, None) => {
                let missing = if index.contains_key(*a) { b } else { a };
                return Err(format!(
                    "{} row {}: node '{missing}' has no row in {} (every node needs its features)",
                    edges.display(),
                    row + 1,
                    nodes.display()
                ));
            }
        }
    }
    let k = names.len();
    let n = ids.len();
    let per_class = 20.min(n / k.max(1) / 2).max(1);
    let rest = n.saturating_sub(per_class * k);
    let mut split = split_per_class(&labels, k, per_class, rest / 2, rest - rest / 2, 0x6C5);
    split.edges = undirected(pairs);
    let name = nodes
        .file_stem()
        .map_or("graph".into(), |s| s.to_string_lossy().into_owned());
    Ok(graph(&name, f, x, labels, names, split))
}

/// Connected components of a graph with `n` nodes (a component id per node, and how many).
pub fn components(n: usize, edges: &[[u32; 2]]) -> (Vec<usize>, usize) {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for &[a, b] in edges {
        let (ra, rb) = (find(&mut parent, a as usize), find(&mut parent, b as usize));
        if ra != rb {
            parent[ra] = rb;
        }
    }
    let mut id = vec![usize::MAX; n];
    let mut count = 0;
    let mut out = vec![0; n];
    for (i, slot) in out.iter_mut().enumerate() {
        let r = find(&mut parent, i);
        if id[r] == usize::MAX {
            id[r] = count;
            count += 1;
        }
        *slot = id[r];
    }
    (out, count)
}

/// How strongly the layout pulls nodes towards the centre (relative to the springs).
const GRAVITY: f32 = 1.0;

/// Positions in the unit square for drawing a graph with `n` nodes: Fruchterman–Reingold
/// (neighbours attract with d²/k, every pair repels with k²/d, the step cools each round) with a
/// pull towards the centre so separate components stay in view. Deterministic for a seed.
/// O(n²) per round: meant for graphs of a few thousand nodes.
pub fn layout(n: usize, edges: &[[u32; 2]], rounds: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = Mix(seed);
    let mut p: Vec<[f32; 2]> = (0..n).map(|_| [rng.unit() as f32, rng.unit() as f32]).collect();
    if n < 2 {
        return vec![[0.5, 0.5]; n];
    }
    let k = (1.0 / n as f32).sqrt();
    let mut step = 0.1f32;
    let mut d = vec![[0f32; 2]; n];
    for _ in 0..rounds {
        d.iter_mut().for_each(|v| *v = [0.0, 0.0]);
        for i in 0..n {
            let (pi, mut di) = (p[i], d[i]);
            for j in i + 1..n {
                let (dx, dy) = (pi[0] - p[j][0], pi[1] - p[j][1]);
                let f = k * k / (dx * dx + dy * dy).max(1e-9);
                di[0] += dx * f;
                di[1] += dy * f;
                d[j][0] -= dx * f;
                d[j][1] -= dy * f;
            }
            d[i] = di;
        }
        for &[a, b] in edges {
            let (a, b) = (a as usize, b as usize);
            let (dx, dy) = (p[a][0] - p[b][0], p[a][1] - p[b][1]);
            let f = (dx * dx + dy * dy).sqrt() / k;
            d[a][0] -= dx * f;
            d[a][1] -= dy * f;
            d[b][0] += dx * f;
            d[b][1] += dy * f;
        }
        for (pi, di) in p.iter_mut().zip(&d) {
            // A pull towards the centre keeps separate components in view.
            let g = [di[0] - (pi[0] - 0.5) * GRAVITY, di[1] - (pi[1] - 0.5) * GRAVITY];
            let len = (g[0] * g[0] + g[1] * g[1]).sqrt().max(1e-9);
            let s = len.min(step) / len;
            pi[0] += g[0] * s;
            pi[1] += g[1] * s;
        }
        step = (step * 0.95).max(k * 0.01);
    }
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for q in &p {
        for c in 0..2 {
            lo[c] = lo[c].min(q[c]);
            hi[c] = hi[c].max(q[c]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-9);
    p.iter()
        .map(|q| [(q[0] - lo[0]) / span, (q[1] - lo[1]) / span])
        .collect()
}

/// Many small graphs, one class each (graph classification): the nodes of every graph in
/// order, their features in [`Dataset::features`] (`node_features` numbers per node), and per
/// graph its node range and edges.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphSet {
    /// First node of each graph (and, last, the total): graph `g` has nodes `start[g]..start[g + 1]`.
    pub start: Vec<usize>,
    /// Each graph's undirected edges, node indices local to the graph.
    pub edges: Vec<Vec<[u32; 2]>>,
    /// Each graph's edge features, one row of `edge_features` numbers per undirected edge.
    pub edge_attr: Vec<Vec<f32>>,
    /// Numbers per node.
    pub node_features: usize,
    /// Numbers per edge.
    pub edge_features: usize,
}

impl GraphSet {
    /// Graphs held.
    pub fn len(&self) -> usize {
        self.edges.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }
}

/// Two node indices.
type Pair = (usize, usize);

/// Classes of the built-in motif graphs.
pub const MOTIFS: &[&str] = &["ring", "star", "ladder"];

/// Small graphs of three shapes to tell apart: a ring of 8–16 nodes with one chord, a star (a
/// hub and 7–15 leaves) with two extra links between leaves, or a ladder of 4–8 rungs with one
/// extra link. Node features: a single 1 for every node (the shape has to be learned along the
/// edges); edge features: one-hot, a shape edge (ring, spoke, rail or rung) or an added one. The
/// last sixth are the test graphs.
pub fn motifs(n: usize, seed: u64) -> Result<Dataset, String> {
    if n < 12 {
        return Err(format!("a motif set needs at least 12 graphs (asked for {n})"));
    }
    let mut rng = Mix(seed);
    let (mut start, mut all_edges, mut all_attr) = (vec![0usize], Vec::new(), Vec::new());
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for g in 0..n {
        let class = g % 3;
        let (size, base, extra): (usize, Vec<Pair>, Vec<Pair>) = match class {
            0 => {
                let k = 8 + rng.below(9);
                let ring: Vec<(usize, usize)> = (0..k).map(|i| (i, (i + 1) % k)).collect();
                let a = rng.below(k);
                (k, ring, vec![(a, (a + k / 2) % k)])
            }
            1 => {
                let leaves = 7 + rng.below(9);
                let spokes: Vec<(usize, usize)> = (1..=leaves).map(|i| (0, i)).collect();
                let mut extra = Vec::new();
                for _ in 0..2 {
                    let a = 1 + rng.below(leaves);
                    let b = 1 + rng.below(leaves);
                    extra.push((a, b));
                }
                (leaves + 1, spokes, extra)
            }
            _ => {
                let k = 4 + rng.below(5);
                let mut ladder: Vec<(usize, usize)> =
                    (0..k - 1).flat_map(|i| [(i, i + 1), (k + i, k + i + 1)]).collect();
                ladder.extend((0..k).map(|i| (i, k + i)));
                let a = rng.below(2 * k);
                (2 * k, ladder, vec![(a, rng.below(2 * k))])
            }
        };
        // Edges once, each with its kind; a duplicate or self-loop is dropped.
        let mut seen = HashSet::new();
        let (mut edges, mut attr) = (Vec::new(), Vec::new());
        for (kind, list) in [(0usize, &base), (1, &extra)] {
            for &(a, b) in list.iter() {
                let e = [a.min(b) as u32, a.max(b) as u32];
                if a != b && seen.insert(e) {
                    edges.push(e);
                    attr.extend(if kind == 0 { [1.0, 0.0] } else { [0.0, 1.0] });
                }
            }
        }
        let mut degree = vec![0usize; size];
        for &[a, b] in &edges {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
        // Every node starts the same: what tells the shapes apart has to come along the edges.
        x.extend(std::iter::repeat_n(1f32, degree.len()));
        labels.push(class as u8);
        all_edges.push(edges);
        all_attr.push(attr);
        start.push(start[start.len() - 1] + size);
    }
    Ok(Dataset {
        name: "Motif graphs".into(),
        shape: vec![1],
        features: Features::F32(x),
        labels,
        classes: MOTIFS.iter().map(|s| (*s).to_owned()).collect(),
        test_from: Some(n - n / 6),
        target: Target::Graphs(GraphSet {
            start,
            edges: all_edges,
            edge_attr: all_attr,
            node_features: 1,
            edge_features: 2,
        }),
    })
}
