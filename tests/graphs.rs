//! Graph neural networks: the graph data (Cora, the karate club, stochastic block models, users'
//! CSV files), GCN's normalisation against a hand-computed graph, graph attention summing to one
//! over each node's neighbours, the node-classification recipe learning on each preset, the
//! graph view, and bad input (unknown nodes, wrong class counts, disconnected graphs).

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Int, Tensor, TensorData};
use common::*;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use strata::data::{Target, graphs};
use strata::engine::recipes::StepCx;
use strata::engine::{Value, compile};
use strata::telemetry::View;

/// Sets `param` of the last node of `kind` (by id) in `p`'s top-level graph.
fn set_last(p: &mut strata::doc::Project, kind: &str, param: &str, value: i64) {
    let last = p
        .graph
        .nodes
        .iter()
        .filter(|n| n.kind == kind)
        .map(|n| n.id)
        .max()
        .unwrap();
    p.graph
        .node_mut(last)
        .unwrap()
        .params
        .insert(param.into(), value.into());
}

/// Gives the Input bound to 'features' the shape `s`.
fn set_feature_shape(p: &mut strata::doc::Project, s: &str) {
    for n in &mut p.graph.nodes {
        if n.kind == "input" && n.params.get("field").and_then(|v| v.as_text()) == Some("features") {
            n.params.insert("shape".into(), shape(s));
        }
    }
}

fn nodes(ds: &strata::data::Dataset) -> &graphs::NodeSplit {
    match &ds.target {
        Target::Nodes(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_built_in_graphs_are_the_published_ones() {
    let cora = graphs::cora().unwrap();
    let s = nodes(&cora);
    assert_eq!((cora.len(), cora.shape[0], cora.classes.len()), (2708, 1433, 7));
    // 5 429 citations, 5 278 once both directions and duplicates are merged.
    assert_eq!(s.edges.len(), 5278);
    assert!(s.edges.iter().all(|&[a, b]| a < b && (b as usize) < 2708));
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (140, 500, 1000));
    for c in 0..7u8 {
        assert_eq!(s.train.iter().filter(|&&i| cora.labels[i] == c).count(), 20);
    }
    let all: std::collections::HashSet<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
    assert_eq!(all.len(), 1640, "the three splits do not overlap");
    let (_, components) = graphs::components(2708, &s.edges);
    assert_eq!(components, 78, "Cora's citation graph has 78 components");
    let karate = graphs::karate();
    let k = nodes(&karate);
    assert_eq!((karate.len(), k.edges.len()), (34, 78));
    assert_eq!(
        karate.labels.iter().filter(|&&l| l == 0).count(),
        17,
        "17 members follow Mr. Hi"
    );
    assert_eq!((karate.labels[0], karate.labels[33]), (0, 1), "the two leaders");
    // A stochastic block model is deterministic for its seed and mostly links inside communities.
    let a = graphs::sbm(400, 4, 8.0, 0.9, 1.0, 3).unwrap();
    assert_eq!(a, graphs::sbm(400, 4, 8.0, 0.9, 1.0, 3).unwrap());
    let e = &nodes(&a).edges;
    let inside = e
        .iter()
        .filter(|&&[x, y]| a.labels[x as usize] == a.labels[y as usize])
        .count();
    assert!(inside as f64 / e.len() as f64 > 0.85, "{inside} of {}", e.len());
    assert!(graphs::sbm(3, 4, 8.0, 0.9, 1.0, 3).unwrap_err().contains("communities"));
}

/// GCN on the path 0 – 1 – 2: Â = D^-½(A + I)D^-½ with degrees (2, 3, 2) counting the self-loops.
#[test]
fn gcn_normalisation_is_the_hand_computed_one() {
    let d = cpu();
    let h = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 10.0, 100.0], [3, 1]), &d);
    let src = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 1, 2], [4]), &d);
    let dst = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0, 2, 1], [4]), &d);
    let out: Vec<f32> = strata::engine::gcn_propagate(h, src, dst)
        .into_data()
        .iter::<f32>()
        .collect();
    let s6 = 6f32.sqrt();
    let want = [
        1.0 / 2.0 + 10.0 / s6,
        1.0 / s6 + 10.0 / 3.0 + 100.0 / s6,
        10.0 / s6 + 100.0 / 2.0,
    ];
    for (o, w) in out.iter().zip(want) {
        assert!((o - w).abs() < 1e-4, "{out:?} vs {want:?}");
    }
}

/// Graph attention: the weights of each node's incoming edges (its self-loop included) sum to 1.
#[test]
fn graph_attention_sums_to_one_over_each_neighbourhood() {
    let d = cpu();
    let p = preset("gat");
    let model = compile(&p, &d).unwrap();
    let n = 5usize;
    let x: Vec<f32> = (0..n * 1433).map(|i| ((i * 7919) % 13) as f32 / 13.0).collect();
    // Edges 0→1, 1→0, 1→2, 2→1, 3→4, 4→3 (node pairs listed both ways).
    let src = [0i64, 1, 1, 2, 3, 4];
    let dst = [1i64, 0, 2, 1, 4, 3];
    let edges: Vec<i64> = src.iter().chain(&dst).copied().collect();
    let feed = HashMap::from([
        (
            "features".to_owned(),
            Value::F2(Tensor::<2>::from_data(TensorData::new(x, [n, 1433]), &d)),
        ),
        (
            "edges".to_owned(),
            Value::I2(Tensor::<2, Int>::from_data(TensorData::new(edges, [2, 6]), &d)),
        ),
    ]);
    let (out, maps) = strata::engine::record_attention(|| model.forward(&feed, false));
    assert_eq!(out.unwrap().outputs["prediction"].dims(), vec![n, 7]);
    assert_eq!(maps.len(), 2, "one map per GAT layer");
    assert_eq!(
        maps[0].dims(),
        [1, 8, 1, 6 + n],
        "8 heads, each edge plus a self-loop per node"
    );
    let w: Vec<f32> = maps[0].clone().into_data().iter::<f32>().collect();
    let dsts: Vec<usize> = dst.iter().map(|&v| v as usize).chain(0..n).collect();
    for h in 0..8 {
        for node in 0..n {
            let sum: f32 = dsts
                .iter()
                .enumerate()
                .filter(|(_, d)| **d == node)
                .map(|(k, _)| w[h * (6 + n) + k])
                .sum();
            assert!((sum - 1.0).abs() < 1e-5, "head {h} node {node}: {sum}");
        }
    }
    // An edge naming a node outside the graph is named, not an out-of-bounds read.
    let mut bad = feed.clone();
    bad.insert(
        "edges".into(),
        Value::I2(Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 9], [2, 1]), &d)),
    );
    let err = model.forward(&bad, false).err().unwrap().to_string();
    assert!(err.contains("names node 9") && err.contains("5 nodes"), "{err}");
}

fn train(p: &strata::doc::Project, steps: u64) -> (Box<dyn strata::engine::recipes::Recipe>, Vec<f64>) {
    let mut run = start_recipe(p).unwrap();
    let cancel = AtomicBool::new(false);
    let losses = (0..steps)
        .map(|_| run.step(&mut StepCx::new(steps, &cancel)).unwrap().read()["loss"])
        .collect();
    (run, losses)
}

/// Every graph preset learns: the training loss falls; the karate club reaches its target in
/// full, Cora's models pass a short run's bar.
#[test]
fn the_node_classifiers_learn() {
    let _serial = serial();
    let cancel = AtomicBool::new(false);
    let (mut run, losses) = train(&preset("karate_gcn"), 100);
    assert!(losses[99] < losses[0] / 10.0, "{losses:?}");
    let eval = run.evaluate(&cancel).unwrap();
    assert!(eval.scalars["test_accuracy"] >= 0.95, "{:?}", eval.scalars);
    for (id, steps, bar) in [("gcn", 60, 0.70), ("graphsage", 40, 0.65), ("gat", 100, 0.65)] {
        let (mut run, losses) = train(&preset(id), steps);
        assert!(losses[steps as usize - 1] < losses[0] - 0.5, "{id}: {losses:?}");
        let eval = run.evaluate(&cancel).unwrap();
        assert!(eval.scalars["val_accuracy"] > bar, "{id}: {:?}", eval.scalars);
        let View::Matrix(m) = &eval.views[0].1 else { panic!() };
        let total: f64 = m.values.iter().flatten().sum();
        assert_eq!(total, 1000.0, "the confusion matrix counts the test nodes");
    }
}

/// The graph view draws the data graph; the About table names components no label reaches.
#[test]
fn the_graph_view_and_the_about_table() {
    let _serial = serial();
    let (mut run, _) = train(&preset("karate_gcn"), 5);
    let views = run.views(&AtomicBool::new(false)).unwrap();
    let pic = views
        .iter()
        .find_map(|(c, v)| match v {
            View::Image(p) if c == "graph" => Some(p),
            _ => None,
        })
        .expect("a graph picture");
    assert!(pic.is_well_formed() && pic.width >= 400);
    // The two club colours are both on the picture.
    let has = |c: [u8; 3]| pic.rgb.chunks(3).any(|px| px == c);
    assert!(has([78, 121, 167]) && has([242, 142, 43]));
    let about = |views: &[(String, View)]| -> String {
        views
            .iter()
            .find_map(|(c, v)| match v {
                View::Table(t) if c == "about" => Some(format!("{:?}", t.rows)),
                _ => None,
            })
            .unwrap()
    };
    assert!(about(&views).contains("\"connected components\", \"1\""));
    // Cora has 78 components; the ones without a training paper are named.
    let (mut run, _) = train(&preset("gcn"), 1);
    let views = run.views(&AtomicBool::new(false)).unwrap();
    let text = about(&views);
    assert!(text.contains("\"connected components\", \"78\""), "{text}");
    assert!(text.contains("not connected to a training node"), "{text}");
}

/// A 100 000-node stochastic block model trains a step (an epoch: every node at once) by sparse
/// message passing.
#[test]
fn a_hundred_thousand_node_graph_trains_an_epoch() {
    let _serial = serial();
    let mut p = preset("gcn");
    p.dataset.id = "sbm".into();
    p.dataset.options.insert("nodes".into(), 100_000.into());
    set_feature_shape(&mut p, "N,16");
    set_last(&mut p, "gcn_conv", "out_features", 4);
    let (mut run, losses) = train(&p, 3);
    assert!(losses.iter().all(|l| l.is_finite()));
    let eval = run.evaluate(&AtomicBool::new(false)).unwrap();
    assert!(eval.scalars["test_accuracy"] > 0.25);
    // Too large to lay out: the view says so by leaving the picture out, the table stays.
    let views = run.views(&AtomicBool::new(false)).unwrap();
    assert!(views.iter().all(|(c, _)| c != "graph"));
}

/// Users' graphs: CSV files load, and mistakes name the file and the row.
#[test]
fn csv_graphs_load_and_their_mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let node_file = dir.path().join("nodes.csv");
    let edges = dir.path().join("edges.csv");
    std::fs::write(
        &node_file,
        "id,a,b,label\nx,1,0,red\ny,0,1,blue\nz,1,1,red\nw,0,0,blue\n",
    )
    .unwrap();
    std::fs::write(&edges, "source,target\nx,y\ny,z\nz,w\n").unwrap();
    let g = graphs::from_csv(&node_file, &edges).unwrap();
    assert_eq!(
        (g.len(), g.shape[0], g.classes.clone()),
        (4, 2, vec!["red".to_owned(), "blue".into()])
    );
    assert_eq!(nodes(&g).edges.len(), 3);
    std::fs::write(&edges, "x,y\ny,q\n").unwrap();
    let err = graphs::from_csv(&node_file, &edges).unwrap_err();
    assert!(
        err.contains("edges.csv row 2") && err.contains("node 'q' has no row"),
        "{err}"
    );
    std::fs::write(&node_file, "id,a,label\nx,one,red\n").unwrap();
    let err = graphs::from_csv(&node_file, &edges).unwrap_err();
    assert!(err.contains("nodes.csv row 2") && err.contains("'one'"), "{err}");
}

/// A prediction whose width is not the number of classes, and a non-graph dataset, are named.
#[test]
fn bad_node_classification_setups_are_named() {
    let _serial = serial();
    let mut p = preset("karate_gcn");
    set_last(&mut p, "gcn_conv", "out_features", 3);
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(
        err.contains("[34, 3]") && err.contains("give the last layer 2 outputs"),
        "{err}"
    );
    let mut p = preset("karate_gcn");
    p.dataset.id = "mnist_5k".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("learns from a graph"), "{err}");
    let mut p = preset("gcn");
    set_feature_shape(&mut p, "N,100");
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("has 1433") && err.contains("N,1433"), "{err}");
}

/// Graph classification: motif graphs batched into one disjoint graph; GraphPool averages each
/// graph's nodes; the MPNN preset tells the shapes apart from structure alone.
#[test]
fn the_mpnn_classifies_graphs_by_their_structure() {
    let _serial = serial();
    let ds = graphs::motifs(60, 3).unwrap();
    let Target::Graphs(set) = &ds.target else { panic!() };
    assert_eq!((ds.len(), set.len(), ds.classes.len()), (60, 60, 3));
    assert_eq!(ds.test_from, Some(50));
    assert_eq!(
        set.edge_attr[0].len(),
        2 * set.edges[0].len(),
        "two edge features per edge"
    );
    // Joining graphs 0 and 1: nodes numbered on, edges both ways, each node's graph index.
    let d = cpu();
    let feed = strata::engine::recipes::graph_classification::join(&ds, set, &[0, 1], true, &d);
    let n0 = set.start[1] - set.start[0];
    let n = n0 + set.start[2] - set.start[1];
    let batch: Vec<i64> = match &feed["batch"] {
        Value::I1(t) => t.clone().into_data().iter::<i64>().collect(),
        _ => panic!(),
    };
    assert_eq!(batch.len(), n);
    assert!(batch[..n0].iter().all(|&b| b == 0) && batch[n0..].iter().all(|&b| b == 1));
    let e = 2 * (set.edges[0].len() + set.edges[1].len());
    assert_eq!(feed["edges"].dims(), vec![2, e]);
    assert_eq!(feed["edge_features"].dims(), vec![e, 2]);
    // Mean pooling by hand: graph 0's nodes carry 1, graph 1's carry 3.
    let mut p = strata::doc::Project::new("pool");
    let mut g = strata::catalog::GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("N,1")), ("field", "x".into())]);
    let b = g.node(
        "input",
        &[
            ("shape", shape("N")),
            ("field", "batch".into()),
            ("dtype", "int".into()),
        ],
    );
    let pool = g.then(x, "graph_pool", &[]);
    g.wire(b, "y", pool, "batch");
    g.then(pool, "output", &[]);
    p.graph = g.finish();
    let model = compile(&p, &d).unwrap();
    let xs = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 1.0, 3.0, 3.0, 3.0], [5, 1]), &d);
    let bs = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 0, 1, 1, 1], [5]), &d);
    let out = model
        .forward(
            &HashMap::from([("x".to_owned(), Value::F2(xs)), ("batch".to_owned(), Value::I1(bs))]),
            false,
        )
        .unwrap();
    assert_eq!(out.outputs["prediction"].to_f32s().unwrap(), vec![1.0, 3.0]);
    // The preset learns the shapes.
    let (mut run, losses) = train(&preset("mpnn"), 60);
    assert!(losses[59] < losses[0] / 4.0, "{losses:?}");
    let eval = run.evaluate(&AtomicBool::new(false)).unwrap();
    assert!(eval.scalars["test_accuracy"] > 0.9, "{:?}", eval.scalars);
    // A node-level graph is not a set of graphs; a prediction per node is named.
    let mut wrong = preset("mpnn");
    wrong.dataset.id = "karate".into();
    let err = start_recipe(&wrong).err().unwrap().to_string();
    assert!(err.contains("set of graphs") && err.contains("motifs"), "{err}");
    let mut unpooled = preset("mpnn");
    let pool = unpooled.graph.nodes.iter().find(|n| n.kind == "graph_pool").unwrap().id;
    unpooled.graph.node_mut(pool).unwrap().kind = "identity".into();
    unpooled.graph.wires.retain(|w| !(w.to == pool && w.input == "batch"));
    let err = start_recipe(&unpooled).err().unwrap().to_string();
    assert!(err.contains("GraphPool"), "{err}");
}

/// ST-GCN: a joint's output depends only on the joints its bones reach (one block: one hop), and
/// the preset learns the four motions.
#[test]
fn stgcn_mixes_joints_along_the_bones_and_learns_motions() {
    let _serial = serial();
    let d = cpu();
    let mut p = strata::doc::Project::new("st");
    let mut g = strata::catalog::GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,2,16,8")), ("field", "x".into())]);
    let bones = strata::doc::ParamValue::List(vec![0.into(), 1.into(), 1.into(), 2.into()]);
    let b = g.then(x, "stgcn_block", &[("out_channels", 4.into()), ("bones", bones)]);
    g.then(b, "output", &[]);
    p.graph = g.finish();
    let model = compile(&p, &d).unwrap();
    let clip = |bump: usize| -> Vec<f32> {
        let mut v: Vec<f32> = (0..2 * 16 * 8).map(|i| ((i * 37) % 11) as f32 / 11.0).collect();
        for c in 0..2 {
            for t in 0..16 {
                v[(c * 16 + t) * 8 + bump] += 1.0;
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(v, [1, 2, 16, 8]), &d);
        model
            .forward(&HashMap::from([("x".to_owned(), Value::F4(x))]), false)
            .unwrap()
            .outputs["prediction"]
            .to_f32s()
            .unwrap()
    };
    let (base, moved2, moved5) = (clip(7), clip(2), clip(5));
    let joint = |out: &[f32], j: usize| -> Vec<f32> { (0..4 * 16).map(|k| out[k * 8 + j]).collect() };
    let differs = |a: &[f32], b: &[f32]| a.iter().zip(b).any(|(x, y)| (x - y).abs() > 1e-5);
    assert!(
        differs(&joint(&base, 1), &joint(&moved2, 1)),
        "joint 2 reaches joint 1 along a bone"
    );
    assert!(
        !differs(&joint(&base, 0), &joint(&moved2, 0)),
        "joint 2 is two bones from joint 0"
    );
    assert!(!differs(&joint(&base, 0), &joint(&moved5, 0)), "joint 5 has no bone");
    let (mut run, losses) = train(&preset("stgcn"), 120);
    let mean = |r: std::ops::Range<usize>| losses[r.clone()].iter().sum::<f64>() / r.len() as f64;
    assert!(mean(110..120) < mean(0..10) - 0.2, "{losses:?}");
    assert!(run.evaluate(&AtomicBool::new(false)).unwrap().scalars["val_accuracy"] > 0.3);
}
