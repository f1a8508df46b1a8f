//! The engine computes exactly the shapes the checker infers: presets and random graphs.

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use proptest::prelude::*;
use std::collections::HashMap;
use strata::catalog::GraphBuilder;
use strata::doc::{ParamValue as V, Project};
use strata::engine::{Value, compile, device};

fn dev() -> burn::tensor::Device {
    device::prefer_cpu_backend();
    burn::tensor::Device::flex()
}

/// Random inputs for every input node of `p`, with B = 2 and T = S = 5, N = 6.
fn feed(p: &Project, d: &burn::tensor::Device) -> HashMap<String, Value> {
    let mut f = HashMap::new();
    for n in p.graph.nodes.iter().filter(|n| n.kind == "input") {
        let field = n
            .params
            .get("field")
            .and_then(|v| v.as_text())
            .unwrap_or("x")
            .to_owned();
        let dims: Vec<usize> = n.params["shape"]
            .as_list()
            .unwrap()
            .iter()
            .map(|v| match v {
                V::Int(i) => *i as usize,
                V::Text(s) if s == "B" => 2,
                V::Text(s) if s == "N" => 6,
                _ => 5,
            })
            .collect();
        let int = n.params.get("dtype").and_then(|v| v.as_text()) == Some("int");
        let v = match (int, dims.as_slice()) {
            (true, &[b]) => Value::I1(Tensor::<1, Int>::from_data(TensorData::new(vec![1i64; b], [b]), d)),
            (true, &[b, t]) => Value::I2(Tensor::<2, Int>::from_data(
                TensorData::new(vec![1i64; b * t], [b, t]),
                d,
            )),
            (false, &[a, b]) => Value::F2(Tensor::random([a, b], Distribution::Normal(0.0, 1.0), d)),
            (false, &[a, b, c]) => Value::F3(Tensor::random([a, b, c], Distribution::Normal(0.0, 1.0), d)),
            (false, &[a, b, c, e]) => Value::F4(Tensor::random([a, b, c, e], Distribution::Normal(0.0, 1.0), d)),
            other => panic!("unsupported input {other:?}"),
        };
        f.insert(field, v);
    }
    f
}

fn mismatches(p: &Project) -> Vec<String> {
    let d = dev();
    let model = compile(p, &d).unwrap_or_else(|e| panic!("{}: {e}", p.name));
    model.shape_mismatches(&feed(p, &d)).unwrap()
}

#[test]
fn small_presets_run_with_the_checked_shapes() {
    for id in ["mlp", "lenet5", "resnet_mini", "ppo_cartpole", "gcn"] {
        let m = mismatches(&preset(id));
        assert!(m.is_empty(), "{id}: {m:?}");
    }
}

#[test]
fn transformer_blocks_run_with_the_checked_shapes() {
    // A miniature GPT: the same blocks as gpt2_small, at toy sizes.
    let mut p = preset("gpt2_small");
    for n in p.graph.nodes.iter_mut() {
        if n.kind == "embedding" {
            n.params.insert("num_embeddings".into(), 50.into());
            n.params.insert("dim".into(), 16.into());
        }
        if n.kind == "positional_learned" {
            n.params.insert("max_len".into(), 8.into());
        }
        if n.is_block() {
            n.repeat = 2;
        }
    }
    for b in p.blocks.iter_mut() {
        for n in b.graph.nodes.iter_mut() {
            if n.kind == "multi_head_attention" {
                n.params.insert("heads".into(), 2.into());
            }
            if n.kind == "linear" {
                let out = n.params["out_features"].as_int().unwrap();
                n.params
                    .insert("out_features".into(), (if out == 768 { 16 } else { 32 }).into());
            }
        }
    }
    let m = mismatches(&p);
    assert!(m.is_empty(), "{m:?}");
}

/// One random layer applied to a value of the given rank.
fn layer(
    g: &mut GraphBuilder,
    h: strata::doc::NodeId,
    rank: usize,
    pick: u8,
    size: i64,
) -> (strata::doc::NodeId, usize) {
    let k = |kind: &str, params: &[(&str, V)], g: &mut GraphBuilder| g.then(h, kind, params);
    match (rank, pick % 8) {
        (2, 0) => (k("linear", &[("out_features", size.into())], g), 2),
        (2, 1) => (k("unsqueeze", &[("dim", 1.into())], g), 3),
        (2, 2) => (k("layer_norm", &[], g), 2),
        (3, 0) => (k("linear", &[("out_features", (2 * size).into())], g), 3),
        (3, 1) => (
            k(
                "multi_head_attention",
                &[("heads", 2.into()), ("causal", (size % 2 == 0).into())],
                g,
            ),
            3,
        ),
        (3, 2) => (k("transpose", &[], g), 3),
        (3, 3) => (k("flatten", &[], g), 2),
        (3, 4) => (k("positional_sinusoidal", &[], g), 3),
        (3, 5) => (k("class_token", &[], g), 3),
        (4, 0) => (
            k("conv2d", &[("out_channels", size.into()), ("padding", 1.into())], g),
            4,
        ),
        (4, 1) => (k("max_pool2d", &[], g), 4),
        (4, 2) => (k("batch_norm", &[], g), 4),
        (4, 3) => (k("flatten", &[("start_dim", 2.into())], g), 3),
        (4, 4) => (k("upsample", &[], g), 4),
        (4, 5) => (k("global_avg_pool", &[], g), 2),
        (_, 6) => (k("gelu", &[], g), rank),
        _ => (k("tanh", &[], g), rank),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_valid_graphs_run_with_the_checked_shapes(
        start in 2usize..5,
        picks in prop::collection::vec((any::<u8>(), 2i64..6), 1..8),
    ) {
        let mut g = GraphBuilder::new();
        let shape = match start { 2 => "B,6", 3 => "B,T,6", _ => "B,3,8,8" };
        let mut h = g.node("input", &[("shape", common::shape(shape))]);
        let mut rank = start;
        for (pick, size) in picks {
            let (n, r) = layer(&mut g, h, rank, pick, size);
            h = n;
            rank = r;
        }
        g.then(h, "output", &[]);
        let mut p = Project::new("random");
        p.graph = g.finish();
        let report = strata::shape::check(&p);
        // Only graphs the checker accepts must run (pooling an 1×1 map, say, is rightly refused).
        prop_assume!(report.is_valid());
        let m = mismatches(&p);
        prop_assert!(m.is_empty(), "{:?}", m);
    }
}

#[test]
fn every_catalog_kind_with_a_burn_meaning_has_an_engine_op() {
    // Structural kinds (block ports) are expanded away before compiling; an imported ONNX
    // operator with no Strata layer never checks, so it never compiles.
    let structural = ["port_in", "port_out", "onnx_op"];
    let mut missing = Vec::new();
    for spec in strata::catalog::catalog().all() {
        if structural.contains(&spec.id) {
            continue;
        }
        if !strata::engine::supports(spec.id) {
            missing.push(spec.id);
        }
    }
    assert!(missing.is_empty(), "no engine op for: {missing:?}");
}

#[test]
fn recurrent_graph_and_generative_layers_run_with_the_checked_shapes() {
    let build = |f: &dyn Fn(&mut GraphBuilder)| {
        let mut g = GraphBuilder::new();
        f(&mut g);
        let mut p = Project::new("t");
        p.graph = g.finish();
        // Shapes only: whether the default recipe could train these outputs is another matter.
        let problems: Vec<_> = strata::shape::check(&p)
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == strata::shape::Severity::Error && !d.message.contains("recipe"))
            .collect();
        assert!(problems.is_empty(), "{problems:?}");
        let m = mismatches(&p);
        assert!(m.is_empty(), "{m:?}");
    };
    for kind in ["rnn", "lstm", "gru"] {
        build(&|g| {
            let x = g.node("input", &[("shape", shape("B,T,3"))]);
            let r = g.then(
                x,
                kind,
                &[
                    ("hidden", 4.into()),
                    ("layers", 2.into()),
                    ("bidirectional", true.into()),
                ],
            );
            let o = g.node("output", &[]);
            g.wire(r, "last", o, "x");
        });
    }
    build(&|g| {
        let x = g.node("input", &[("shape", shape("N,5")), ("field", "x".into())]);
        let e = g.node(
            "input",
            &[
                ("shape", shape("2,E")),
                ("field", "edges".into()),
                ("dtype", "int".into()),
            ],
        );
        let a = g.node("input", &[("shape", shape("E,2")), ("field", "attr".into())]);
        let b = g.node(
            "input",
            &[
                ("shape", shape("N")),
                ("field", "batch".into()),
                ("dtype", "int".into()),
            ],
        );
        let m = g.then(x, "mpnn_conv", &[("edge_hidden", 4.into())]);
        g.wire(e, "y", m, "edges");
        g.wire(a, "y", m, "edge_attr");
        let p = g.then(m, "graph_pool", &[]);
        g.wire(b, "y", p, "batch");
        g.then(p, "output", &[]);
    });
    for kind in ["gcn_conv", "sage_conv", "gat_conv"] {
        build(&|g| {
            let x = g.node("input", &[("shape", shape("N,5")), ("field", "x".into())]);
            let a = g.node(
                "input",
                &[
                    ("shape", shape("2,E")),
                    ("field", "edges".into()),
                    ("dtype", "int".into()),
                ],
            );
            let c = g.then(x, kind, &[("out_features", 3.into()), ("heads", 2.into())]);
            g.wire(a, "y", c, "edges");
            g.then(c, "output", &[]);
        });
    }
    build(&|g| {
        let x = g.node("input", &[("shape", shape("B,T,8"))]);
        let m = g.then(
            x,
            "moe",
            &[("experts", 3.into()), ("top_k", 2.into()), ("hidden", 6.into())],
        );
        let b = g.then(m, "relative_position_bias", &[("heads", 2.into())]);
        let a = g.node("multi_head_attention", &[("heads", 2.into())]);
        g.wire(m, "y", a, "q");
        g.wire(b, "y", a, "bias");
        g.then(a, "output", &[]);
    });
    build(&|g| {
        let x0 = g.node("input", &[("shape", shape("B,16,8"))]);
        let x = g.then(x0, "layer_norm", &[("affine", false.into())]);
        let t = g.node(
            "input",
            &[("shape", shape("B")), ("dtype", "int".into()), ("field", "t".into())],
        );
        let te = g.then(t, "timestep_embedding", &[("dim", 8.into())]);
        let s = g.then(te, "split", &[("parts", 2.into()), ("dim", 1.into())]);
        let _ = s;
        let m = g.node("modulate", &[]);
        g.wire(x, "y", m, "x");
        g.wire(te, "y", m, "shift");
        g.wire(te, "y", m, "scale");
        let u = g.then(m, "unpatchify", &[("patch", 2.into()), ("channels", 2.into())]);
        g.then(u, "output", &[]);
    });
}
