//! Each kind's shape rule against hand-computed shapes and parameter counts, and the checker's
//! behaviour on whole graphs (all problems at once, blocks, repeats, recipe roles).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use strata::catalog::{self, GraphBuilder};
use strata::doc::{Edit, ParamValue as V, Project, Scope};
use strata::shape::{self, Severity};

/// Wires one `input` per entry of `inputs` (port, shape, dtype) into a node of `kind` and returns
/// the node's output shapes and parameter count, or the first diagnostic on it.
fn infer(kind: &str, params: &[(&str, V)], inputs: &[(&str, &str, &str)]) -> Result<(Vec<String>, u64), String> {
    let mut g = GraphBuilder::new();
    let node = g.node(kind, params);
    for (port, s, dtype) in inputs {
        let i = g.node("input", &[("shape", shape(s)), ("dtype", (*dtype).into())]);
        g.wire(i, "y", node, port);
    }
    let mut p = Project::new("t");
    p.graph = g.finish();
    p.recipe.id = "supervised".into();
    let r = shape::check(&p);
    if let Some(d) = r.diagnostics_for(node).next() {
        return Err(d.message.clone());
    }
    let n = r.node(node).unwrap();
    Ok((
        n.outputs
            .iter()
            .map(|(_, t)| t.as_ref().map(|t| t.to_string()).unwrap_or_default())
            .collect(),
        n.params,
    ))
}

fn ok(kind: &str, params: &[(&str, V)], inputs: &[(&str, &str, &str)]) -> (String, u64) {
    let (outs, n) = infer(kind, params, inputs).unwrap_or_else(|e| panic!("{kind}: {e}"));
    (outs.join(" | "), n)
}

fn f(port: &'static str, s: &'static str) -> (&'static str, &'static str, &'static str) {
    (port, s, "float")
}
fn i(port: &'static str, s: &'static str) -> (&'static str, &'static str, &'static str) {
    (port, s, "int")
}

#[test]
fn dense_and_activation_rules() {
    assert_eq!(
        ok("linear", &[("out_features", 10.into())], &[f("x", "B,784")]),
        ("[B, 10]".into(), 7850)
    );
    assert_eq!(
        ok(
            "linear",
            &[("out_features", 10.into()), ("bias", false.into())],
            &[f("x", "B,T,64")]
        ),
        ("[B, T, 10]".into(), 640)
    );
    for kind in [
        "relu",
        "gelu",
        "silu",
        "sigmoid",
        "tanh",
        "mish",
        "elu",
        "leaky_relu",
        "softmax",
        "dropout",
        "identity",
        "scale",
    ] {
        assert_eq!(ok(kind, &[], &[f("x", "B,3,5")]), ("[B, 3, 5]".into(), 0), "{kind}");
    }
    assert!(
        infer("softmax", &[("dim", 3.into())], &[f("x", "B,3,5")])
            .unwrap_err()
            .contains("out of range")
    );
}

#[test]
fn linear_on_feature_maps_suggests_flatten() {
    let e = infer("linear", &[], &[f("x", "B,16,5,5")]).unwrap_err();
    assert_eq!(e, "Linear expects [B, N] or [B, T, N] but gets [B, 16, 5, 5]");
    let e = infer("linear", &[], &[f("x", "B,T")]).unwrap_err();
    assert!(e.contains("must be a known number"), "{e}");
}

#[test]
fn convolution_and_pooling_rules() {
    let c = |p: &[(&str, V)], s: &'static str| ok("conv2d", p, &[f("x", s)]);
    assert_eq!(
        c(&[("out_channels", 6.into()), ("kernel_size", 5.into())], "B,1,32,32"),
        ("[B, 6, 28, 28]".into(), 156)
    );
    assert_eq!(
        c(
            &[
                ("out_channels", 64.into()),
                ("kernel_size", 7.into()),
                ("stride", 2.into()),
                ("padding", 3.into()),
                ("bias", false.into())
            ],
            "B,3,224,224"
        ),
        ("[B, 64, 112, 112]".into(), 9408)
    );
    // Depthwise: groups = channels.
    assert_eq!(
        c(
            &[
                ("out_channels", 32.into()),
                ("groups", 32.into()),
                ("padding", 1.into())
            ],
            "B,32,8,8"
        ),
        ("[B, 32, 8, 8]".into(), 32 * 9 + 32)
    );
    // Dilation 2 widens a 3×3 kernel to 5×5.
    assert_eq!(
        c(&[("out_channels", 1.into()), ("dilation", 2.into())], "B,1,9,9"),
        ("[B, 1, 5, 5]".into(), 10)
    );
    assert!(
        infer("conv2d", &[("groups", 3.into())], &[f("x", "B,4,8,8")])
            .unwrap_err()
            .contains("groups = 3 must divide")
    );
    assert!(
        infer("conv2d", &[("kernel_size", 9.into())], &[f("x", "B,1,4,4")])
            .unwrap_err()
            .contains("smaller than the window")
    );
    assert_eq!(
        ok(
            "conv1d",
            &[("out_channels", 8.into()), ("kernel_size", 3.into())],
            &[f("x", "B,4,T")]
        ),
        ("[B, 8, T-2]".into(), 104)
    );
    assert_eq!(
        ok(
            "conv_transpose2d",
            &[("out_channels", 512.into())],
            &[f("x", "B,1024,28,28")]
        ),
        ("[B, 512, 56, 56]".into(), 1024 * 512 * 4 + 512)
    );
    assert_eq!(ok("upsample", &[], &[f("x", "B,3,8,8")]), ("[B, 3, 16, 16]".into(), 0));
    assert_eq!(
        ok("max_pool2d", &[], &[f("x", "B,6,28,28")]),
        ("[B, 6, 14, 14]".into(), 0)
    );
    // GoogLeNet's ceil_mode pooling: 112 → 56.
    assert_eq!(
        ok(
            "max_pool2d",
            &[
                ("kernel_size", 3.into()),
                ("stride", 2.into()),
                ("ceil_mode", true.into())
            ],
            &[f("x", "B,64,112,112")]
        ),
        ("[B, 64, 56, 56]".into(), 0)
    );
    assert_eq!(
        ok("avg_pool2d", &[("kernel_size", 2.into())], &[f("x", "B,6,7,7")]),
        ("[B, 6, 3, 3]".into(), 0)
    );
    assert_eq!(
        ok(
            "adaptive_avg_pool2d",
            &[("out_h", 6.into()), ("out_w", 6.into())],
            &[f("x", "B,256,13,13")]
        ),
        ("[B, 256, 6, 6]".into(), 0)
    );
    assert_eq!(
        ok("global_avg_pool", &[], &[f("x", "B,512,7,7")]),
        ("[B, 512]".into(), 0)
    );
    assert_eq!(
        ok("global_max_pool", &[], &[f("x", "B,512,7,7")]),
        ("[B, 512]".into(), 0)
    );
}

#[test]
fn normalization_rules() {
    assert_eq!(
        ok("batch_norm", &[], &[f("x", "B,64,8,8")]),
        ("[B, 64, 8, 8]".into(), 128)
    );
    assert_eq!(
        ok("layer_norm", &[], &[f("x", "B,T,768")]),
        ("[B, T, 768]".into(), 1536)
    );
    assert_eq!(
        ok("layer_norm", &[("affine", false.into())], &[f("x", "B,T,384")]),
        ("[B, T, 384]".into(), 0)
    );
    assert_eq!(
        ok("group_norm", &[("groups", 8.into())], &[f("x", "B,64,8,8")]),
        ("[B, 64, 8, 8]".into(), 128)
    );
    assert!(infer("group_norm", &[("groups", 5.into())], &[f("x", "B,64,8,8")]).is_err());
    assert_eq!(ok("rms_norm", &[], &[f("x", "B,T,512")]), ("[B, T, 512]".into(), 512));
}

#[test]
fn shape_operation_rules() {
    assert_eq!(ok("flatten", &[], &[f("x", "B,16,5,5")]), ("[B, 400]".into(), 0));
    assert_eq!(ok("flatten", &[], &[f("x", "B,T,4")]), ("[B, 4T]".into(), 0));
    assert_eq!(
        ok("reshape", &[("shape", shape("B,16,7,7"))], &[f("x", "B,784")]),
        ("[B, 16, 7, 7]".into(), 0)
    );
    assert_eq!(
        ok("reshape", &[("shape", shape("B,T,12,-1"))], &[f("x", "B,T,768")]),
        ("[B, T, 12, 64]".into(), 0)
    );
    assert!(
        infer("reshape", &[("shape", shape("B,10,10"))], &[f("x", "B,784")])
            .unwrap_err()
            .contains("cannot reshape")
    );
    assert_eq!(
        ok(
            "permute",
            &[("dims", V::List(vec![0.into(), 2.into(), 1.into()]))],
            &[f("x", "B,T,8")]
        ),
        ("[B, 8, T]".into(), 0)
    );
    assert_eq!(ok("transpose", &[], &[f("x", "B,T,8")]), ("[B, 8, T]".into(), 0));
    assert_eq!(ok("squeeze", &[], &[f("x", "B,8,1")]), ("[B, 8]".into(), 0));
    assert!(infer("squeeze", &[], &[f("x", "B,8,2")]).is_err());
    assert_eq!(ok("unsqueeze", &[], &[f("x", "B,8")]), ("[B, 1, 8]".into(), 0));
    assert_eq!(
        ok("slice", &[("start", 2.into()), ("length", 3.into())], &[f("x", "B,8")]),
        ("[B, 3]".into(), 0)
    );
    assert!(infer("slice", &[("start", 7.into()), ("length", 3.into())], &[f("x", "B,8")]).is_err());
    assert_eq!(ok("select", &[], &[f("x", "B,197,768")]), ("[B, 768]".into(), 0));
    // A negative index counts from the end (-1: the last time step); past either end is named.
    assert_eq!(
        ok("select", &[("index", (-1).into())], &[f("x", "B,28,64")]),
        ("[B, 64]".into(), 0)
    );
    assert!(
        infer("select", &[("index", (-29).into())], &[f("x", "B,28,64")])
            .unwrap_err()
            .contains("outside dim 1")
    );
    assert_eq!(
        ok("split", &[("parts", 3.into())], &[f("x", "B,12")]),
        ("[B, 4] | [B, 4] | [B, 4]".into(), 0)
    );
    assert!(
        infer("split", &[("parts", 5.into())], &[f("x", "B,12")])
            .unwrap_err()
            .contains("does not split")
    );
    assert_eq!(
        ok("concat", &[], &[f("x0", "B,64,8,8"), f("x1", "B,32,8,8")]),
        ("[B, 96, 8, 8]".into(), 0)
    );
    assert_eq!(
        ok(
            "concat",
            &[("inputs", 3.into()), ("dim", 1.into())],
            &[f("x0", "B,T,4"), f("x1", "B,T,4"), f("x2", "B,1,4")]
        ),
        ("[B, 2T+1, 4]".into(), 0)
    );
    assert!(
        infer("concat", &[], &[f("x0", "B,64,8,8"), f("x1", "B,32,4,4")])
            .unwrap_err()
            .contains("other dims must match")
    );
    assert_eq!(
        ok("crop_to", &[], &[f("x", "B,512,64,64"), f("like", "B,512,56,56")]),
        ("[B, 512, 56, 56]".into(), 0)
    );
}

#[test]
fn math_rules() {
    assert_eq!(ok("add", &[], &[f("x0", "B,8"), f("x1", "B,8")]), ("[B, 8]".into(), 0));
    assert_eq!(
        ok("multiply", &[], &[f("x0", "B,32,8,8"), f("x1", "B,32,1,1")]),
        ("[B, 32, 8, 8]".into(), 0)
    );
    assert!(
        infer("add", &[], &[f("x0", "B,8"), f("x1", "B,9")])
            .unwrap_err()
            .contains("do not match")
    );
    assert_eq!(
        ok("matmul", &[], &[f("a", "B,T,64"), f("b", "64,10")]),
        ("[B, T, 10]".into(), 0)
    );
    assert_eq!(
        ok(
            "matmul",
            &[("transpose_b", true.into())],
            &[f("a", "B,T,64"), f("b", "1000,64")]
        ),
        ("[B, T, 1000]".into(), 0)
    );
    assert!(
        infer("matmul", &[], &[f("a", "B,T,64"), f("b", "32,10")])
            .unwrap_err()
            .contains("inner sizes differ")
    );
    assert_eq!(ok("mean", &[], &[f("x", "B,T,8")]), ("[B, 8]".into(), 0));
}

#[test]
fn embedding_rules() {
    assert_eq!(
        ok(
            "embedding",
            &[("num_embeddings", 100.into()), ("dim", 8.into())],
            &[i("ids", "B,T")]
        ),
        ("[B, T, 8] | [100, 8]".into(), 800)
    );
    assert!(
        infer("embedding", &[], &[f("ids", "B,T")])
            .unwrap_err()
            .contains("expects integer ids")
    );
    assert_eq!(
        ok("tied_embedding", &[], &[i("ids", "B,T"), f("weight", "100,8")]),
        ("[B, T, 8]".into(), 0)
    );
    assert_eq!(
        ok("positional_sinusoidal", &[], &[f("x", "B,T,8")]),
        ("[B, T, 8]".into(), 0)
    );
    assert_eq!(
        ok("positional_learned", &[("max_len", 16.into())], &[f("x", "B,T,8")]),
        ("[B, T, 8]".into(), 128)
    );
    assert!(
        infer("positional_learned", &[("max_len", 16.into())], &[f("x", "B,20,8")])
            .unwrap_err()
            .contains("exceeds max_len")
    );
    assert_eq!(
        ok("timestep_embedding", &[("dim", 256.into())], &[i("t", "B")]),
        ("[B, 256]".into(), 0)
    );
    assert_eq!(
        ok("class_token", &[], &[f("x", "B,196,768")]),
        ("[B, 197, 768]".into(), 768)
    );
    assert_eq!(
        ok("patch_embed", &[], &[f("x", "B,3,224,224")]),
        ("[B, 196, 768]".into(), 590_592)
    );
    assert!(
        infer("patch_embed", &[], &[f("x", "B,3,225,224")])
            .unwrap_err()
            .contains("not a multiple")
    );
    assert_eq!(
        ok("relative_position_bias", &[], &[f("x", "B,T,512")]),
        ("[1, 8, T, T]".into(), 256)
    );
}

#[test]
fn attention_rules() {
    assert_eq!(
        ok("multi_head_attention", &[("heads", 12.into())], &[f("q", "B,T,768")]),
        ("[B, T, 768]".into(), 2_362_368)
    );
    assert_eq!(
        ok(
            "multi_head_attention",
            &[("bias", false.into())],
            &[f("q", "B,T,512"), f("kv", "B,S,256")]
        ),
        ("[B, T, 512]".into(), 2 * 512 * 512 + 2 * 256 * 512)
    );
    assert!(
        infer("multi_head_attention", &[("heads", 7.into())], &[f("q", "B,T,512")])
            .unwrap_err()
            .contains("divisible")
    );
    assert!(
        infer("multi_head_attention", &[], &[f("q", "B,T,64"), i("mask", "B,S")])
            .unwrap_err()
            .contains("padding mask")
    );
    assert_eq!(
        ok("multi_head_attention", &[], &[f("q", "B,T,64"), i("mask", "B,T")]).0,
        "[B, T, 64]"
    );
    assert_eq!(
        ok(
            "moe",
            &[("experts", 4.into()), ("top_k", 2.into()), ("hidden", 32.into())],
            &[f("x", "B,T,16")]
        ),
        ("[B, T, 16]".into(), 16 * 4 + 4 * (16 * 32 + 32 + 32 * 16 + 16))
    );
    assert!(
        infer(
            "moe",
            &[("experts", 2.into()), ("top_k", 3.into())],
            &[f("x", "B,T,16")]
        )
        .is_err()
    );
}

#[test]
fn recurrent_rules_follow_pytorch_counts() {
    // nn.LSTM(10, 20): 4·20·(10+20) + 2·4·20 = 2560.
    assert_eq!(
        ok("lstm", &[("hidden", 20.into())], &[f("x", "B,T,10")]),
        ("[B, T, 20] | [B, 20]".into(), 2560)
    );
    // nn.GRU(10, 20, num_layers=2, bidirectional=True): layer 1: 2·(3·20·30 + 120); layer 2 input 40.
    let l1 = 2 * (3 * 20 * 30 + 2 * 3 * 20);
    let l2 = 2 * (3 * 20 * 60 + 2 * 3 * 20);
    assert_eq!(
        ok(
            "gru",
            &[
                ("hidden", 20.into()),
                ("layers", 2.into()),
                ("bidirectional", true.into())
            ],
            &[f("x", "B,T,10")]
        ),
        ("[B, T, 40] | [B, 40]".into(), l1 + l2)
    );
    assert_eq!(ok("rnn", &[("hidden", 8.into())], &[f("x", "B,T,4")]).1, 8 * 12 + 16);
}

#[test]
fn graph_layer_rules() {
    assert_eq!(
        ok("gcn_conv", &[], &[f("x", "N,1433"), i("edges", "2,E")]),
        ("[N, 16]".into(), 1433 * 16 + 16)
    );
    assert_eq!(
        ok("sage_conv", &[], &[f("x", "N,8"), i("edges", "2,E")]),
        ("[N, 16]".into(), 2 * 8 * 16 + 16)
    );
    // PyG GATConv(1433, 8, heads=8): lin 1433·64 + att 2·64 + bias 64.
    assert_eq!(
        ok("gat_conv", &[], &[f("x", "N,1433"), i("edges", "2,E")]),
        ("[N, 64]".into(), 1433 * 64 + 128 + 64)
    );
    // MPNN (edge network 2 → 16 → 32·32, GRU 32): PyG NNConv's net + GRUCell(32, 32).
    let edge_net = 2 * 16 + 16 + 16 * 1024 + 1024;
    let gru = 3 * 32 * 32 * 2 + 3 * 32 * 2;
    assert_eq!(
        ok(
            "mpnn_conv",
            &[("edge_hidden", 16.into())],
            &[f("x", "N,32"), i("edges", "2,E"), f("edge_attr", "E,2")]
        ),
        ("[N, 32]".into(), edge_net + gru)
    );
    assert_eq!(
        ok("mpnn_conv", &[], &[f("x", "N,32"), i("edges", "2,E")]),
        ("[N, 32]".into(), 32 * 32 + 32 + gru)
    );
    assert!(
        infer(
            "mpnn_conv",
            &[],
            &[f("x", "N,32"), i("edges", "2,E"), f("edge_attr", "5,2")]
        )
        .unwrap_err()
        .contains("one row per edge")
    );
    // ST-GCN block 2 → 32, temporal kernel 5: 1×1 projection, 5×1 conv, residual projection.
    assert_eq!(
        ok("stgcn_block", &[("out_channels", 32.into())], &[f("x", "B,2,16,8")]),
        (
            "[B, 32, 16, 8]".into(),
            (2 * 32 + 32) + (32 * 32 * 5 + 32) + (2 * 32 + 32)
        )
    );
    assert_eq!(
        ok("stgcn_block", &[("out_channels", 2.into())], &[f("x", "B,2,16,8")]).1,
        (2 * 2 + 2) + (2 * 2 * 5 + 2),
        "no projection when the channels stay"
    );
    assert!(
        infer("stgcn_block", &[("temporal_kernel", 4.into())], &[f("x", "B,2,16,8")])
            .unwrap_err()
            .contains("odd")
    );
    let far = V::List(vec![0.into(), 9.into()]);
    assert!(
        infer("stgcn_block", &[("bones", far)], &[f("x", "B,2,16,8")])
            .unwrap_err()
            .contains("joint 9 is outside the 8 joints")
    );
    assert_eq!(
        ok("graph_pool", &[], &[f("x", "N,32"), i("batch", "N")]),
        ("[G, 32]".into(), 0)
    );
    assert!(
        infer("graph_pool", &[], &[f("x", "N,32"), i("batch", "B,N")])
            .unwrap_err()
            .contains("graph index must be [N]")
    );
    assert!(
        infer("gcn_conv", &[], &[f("x", "N,8"), i("edges", "3,E")])
            .unwrap_err()
            .contains("edge index must be [2, E]")
    );
}

#[test]
fn generative_and_loss_rules() {
    assert_eq!(
        ok("reparameterize", &[], &[f("mu", "B,16"), f("logvar", "B,16")]),
        ("[B, 16]".into(), 0)
    );
    assert!(infer("reparameterize", &[], &[f("mu", "B,16"), f("logvar", "B,8")]).is_err());
    assert_eq!(
        ok(
            "modulate",
            &[],
            &[f("x", "B,T,384"), f("shift", "B,384"), f("scale", "B,384")]
        ),
        ("[B, T, 384]".into(), 0)
    );
    assert_eq!(
        ok("gate", &[], &[f("x", "B,T,384"), f("gate", "B,384")]),
        ("[B, T, 384]".into(), 0)
    );
    assert_eq!(
        ok(
            "unpatchify",
            &[("patch", 2.into()), ("channels", 8.into())],
            &[f("x", "B,256,32")]
        ),
        ("[B, 8, 32, 32]".into(), 0)
    );
    assert_eq!(
        ok("cross_entropy", &[], &[f("input", "B,10"), i("target", "B")]),
        ("[]".into(), 0)
    );
    assert_eq!(
        ok("cross_entropy", &[], &[f("input", "B,T,100"), i("target", "B,T")]),
        ("[]".into(), 0)
    );
    assert_eq!(
        ok("cross_entropy", &[], &[f("input", "B,2,64,64"), i("target", "B,64,64")]),
        ("[]".into(), 0)
    );
    assert!(infer("cross_entropy", &[], &[f("input", "B,10"), i("target", "B,3")]).is_err());
    assert_eq!(
        ok("nll", &[], &[f("input", "B,10"), i("target", "B")]),
        ("[]".into(), 0)
    );
    assert_eq!(
        ok("mse", &[], &[f("input", "B,10"), f("target", "B,10")]),
        ("[]".into(), 0)
    );
    assert_eq!(
        ok("bce", &[], &[f("input", "B,1"), f("target", "B,1")]),
        ("[]".into(), 0)
    );
    assert_eq!(
        ok("kl_divergence", &[], &[f("mu", "B,16"), f("logvar", "B,16")]),
        ("[]".into(), 0)
    );
}

#[test]
fn flow_rules() {
    // Vectors: an MLP 2 → 128 → 128 → 4 (scale and shift for both features, masked).
    assert_eq!(
        ok(
            "affine_coupling",
            &[("hidden", 128.into()), ("depth", 2.into())],
            &[f("x", "B,2")]
        ),
        ("[B, 2]".into(), 2 * 128 + 128 + 128 * 128 + 128 + 128 * 4 + 4)
    );
    // Images: 3×3 conv 4 → 64, 1×1 conv 64 → 64, 3×3 conv 64 → 8.
    assert_eq!(
        ok(
            "affine_coupling",
            &[("mask", "half".into()), ("hidden", 64.into())],
            &[f("x", "B,4,14,14")]
        ),
        ("[B, 4, 14, 14]".into(), 9 * 4 * 64 + 64 + 64 * 64 + 64 + 9 * 64 * 8 + 8)
    );
    assert!(
        infer("affine_coupling", &[("mask", "half".into())], &[f("x", "B,1,28,28")])
            .unwrap_err()
            .contains("only one")
    );
    assert!(
        infer("affine_coupling", &[], &[f("x", "B,T,8")])
            .unwrap_err()
            .contains("[B, D]")
    );
    assert_eq!(ok("actnorm", &[], &[f("x", "B,16,7,7")]), ("[B, 16, 7, 7]".into(), 32));
    assert_eq!(ok("actnorm", &[], &[f("x", "B,2")]), ("[B, 2]".into(), 4));
    assert_eq!(
        ok("inv_conv1x1", &[], &[f("x", "B,16,7,7")]),
        ("[B, 16, 7, 7]".into(), 256)
    );
    assert_eq!(
        ok("space_to_depth", &[("factor", 2.into())], &[f("x", "B,1,28,28")]),
        ("[B, 4, 14, 14]".into(), 0)
    );
    assert!(
        infer("space_to_depth", &[], &[f("x", "B,1,27,27")])
            .unwrap_err()
            .contains("multiples")
    );
}

#[test]
fn io_rules() {
    assert_eq!(
        ok("parameter", &[("shape", shape("1,1,768"))], &[]),
        ("[1, 1, 768]".into(), 768)
    );
    assert_eq!(ok("constant", &[("shape", shape("3,3"))], &[]), ("[3, 3]".into(), 0));
    assert!(
        infer("parameter", &[("shape", shape("B,4"))], &[])
            .unwrap_err()
            .contains("all numbers")
    );
    assert_eq!(
        ok("input", &[("shape", shape("B,T")), ("dtype", "int".into())], &[]),
        ("int[B, T]".into(), 0)
    );
}

#[test]
fn foreign_operators_say_what_to_do() {
    // An imported ONNX operator with no Strata layer: kept, never typed, and the message names
    // the operator and the way out.
    let e = infer(
        "onnx_op",
        &[("op_type", "Trilu".into()), ("inputs", 2.into())],
        &[f("in0", "B,4,4"), f("in1", "1")],
    )
    .unwrap_err();
    assert!(e.contains("ONNX operator Trilu has no Strata layer"), "{e}");
    assert!(e.contains("replace the node"), "{e}");
}

#[test]
fn every_kind_is_covered_by_this_file() {
    let src = include_str!("shape_rules.rs");
    for spec in catalog::catalog().all() {
        if spec.id == "output" || spec.id.starts_with("port_") {
            continue;
        }
        assert!(
            src.contains(&format!("\"{}\"", spec.id)),
            "no hand-computed shape test for {}",
            spec.id
        );
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let mut g = GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,1,28,28"))]);
    let a = g.then(x, "linear", &[]); // needs Flatten
    let _dangling = g.node("relu", &[]); // input not connected
    let c = g.then(x, "conv2d", &[("groups", 3.into())]); // groups do not divide
    let _ = c;
    let mut p = Project::new("broken");
    p.graph = g.finish();
    p.recipe.id = "gan".into(); // needs fake + score outputs
    let r = shape::check(&p);
    let msgs: Vec<&str> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(msgs.iter().any(|m| m.contains("Linear expects")), "{msgs:?}");
    assert!(
        msgs.iter().any(|m| m.contains("input 'x' is not connected")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("groups = 3")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("role 'fake'")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("role 'score'")), "{msgs:?}");
    assert_eq!(
        r.diagnostics
            .iter()
            .find(|d| d.node == Some(a))
            .unwrap()
            .fix
            .as_ref()
            .unwrap()
            .label,
        "insert Flatten"
    );
}

#[test]
fn type_mismatches_and_bad_ports() {
    let mut g = GraphBuilder::new();
    let ids = g.node("input", &[("shape", shape("B,T")), ("dtype", "int".into())]);
    let lin = g.then(ids, "linear", &[]);
    let x = g.node("input", &[("shape", shape("B,8"))]);
    let relu = g.node("relu", &[]);
    g.wire(x, "nope", relu, "x");
    let relu2 = g.node("relu", &[]);
    g.wire(x, "y", relu2, "zzz");
    let mut p = Project::new("t");
    p.graph = g.finish();
    let r = shape::check(&p);
    let on = |id| {
        r.diagnostics_for(id)
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        on(lin).contains("expects a float tensor but gets int[B, T]"),
        "{}",
        on(lin)
    );
    assert_eq!(
        r.diagnostics_for(lin).next().unwrap().fix.as_ref().unwrap().label,
        "insert Embedding to turn ids into vectors"
    );
    assert!(on(x).contains("has no output named 'nope'"), "{}", on(x));
    assert!(on(relu2).contains("has no input named 'zzz'"), "{}", on(relu2));
}

#[test]
fn out_of_range_parameters_are_diagnostics() {
    let mut p = small_mlp();
    let lin = p.graph.nodes[1].id;
    p.graph.node_mut(lin).unwrap().params.insert("bias".into(), 3.into());
    let d = p.graph.add(strata::doc::Node::new("dropout").with("p", 1.5));
    let _ = d;
    let r = shape::check(&p);
    let msgs: Vec<&str> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        msgs.contains(&"parameter 'bias': expected true or false, found 3"),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("p must be in 0..=0.999, found 1.5")),
        "{msgs:?}"
    );
}

#[test]
fn blocks_repeat_and_nest() {
    // inner: Linear 16 + ReLU; outer: inner ×2 then Linear 16; top: outer ×3.
    let mut p = Project::new("nested");
    let mut b = GraphBuilder::new();
    let x = b.node("port_in", &[("name", "x".into())]);
    let l = b.then(x, "linear", &[("out_features", 16.into())]);
    let r = b.then(l, "relu", &[]);
    b.then(r, "port_out", &[("name", "y".into())]);
    p.blocks.push(strata::doc::BlockDef {
        id: "inner".into(),
        name: "Inner".into(),
        description: String::new(),
        graph: b.finish(),
    });
    let mut b = GraphBuilder::new();
    let x = b.node("port_in", &[("name", "x".into())]);
    let inner = b.block("inner", 2);
    b.wire(x, "y", inner, "x");
    let l = b.then(inner, "linear", &[("out_features", 16.into())]);
    b.wire(inner, "y", l, "x");
    b.then(l, "port_out", &[("name", "y".into())]);
    p.blocks.push(strata::doc::BlockDef {
        id: "outer".into(),
        name: "Outer".into(),
        description: String::new(),
        graph: b.finish(),
    });
    let mut g = GraphBuilder::new();
    let x = g.node("input", &[("shape", shape("B,8"))]);
    let outer = g.block("outer", 3);
    g.wire(x, "y", outer, "x");
    let o = g.node("output", &[]);
    g.wire(outer, "y", o, "x");
    p.graph = g.finish();
    let r = shape::check(&p);
    assert!(r.is_valid(), "{:?}", r.diagnostics);
    let dense = |i: u64| i * 16 + 16;
    // Copy 1 of outer sees 8 inputs, copies 2 and 3 see 16.
    let expected = (dense(8) + dense(16) + dense(16)) + 2 * (3 * dense(16));
    assert_eq!(r.total_params, expected);
    assert_eq!(r.output_type(outer, "y").unwrap().to_string(), "[B, 16]");
    // A huge repeat costs nothing extra once the shapes settle.
    Edit::SetRepeat {
        scope: Scope::Root,
        node: outer,
        repeat: 10_000,
    }
    .apply(&mut p)
    .unwrap();
    let r = shape::check(&p);
    assert_eq!(r.total_params, (dense(8) + 2 * dense(16)) + 9_999 * 3 * dense(16));
    // A block that contains itself is a diagnostic, not a stack overflow.
    let port = p.blocks[0].graph.nodes.iter().find(|n| n.kind == "port_in").unwrap().id;
    let self_ref = p.blocks[0].graph.add(strata::doc::Node::block_instance("outer", 1));
    p.blocks[0]
        .graph
        .add_wire(strata::doc::Wire::new(port, "y", self_ref, "x"));
    let r = shape::check(&p);
    assert!(
        r.diagnostics.iter().any(|d| d.message.contains("contains itself")),
        "{:?}",
        r.diagnostics
    );
    // Errors inside a block are reported on the instance, naming the block and the node.
    let mut p2 = preset("resnet18");
    let conv = p2
        .blocks
        .iter()
        .find(|b| b.id == "basic_64")
        .unwrap()
        .graph
        .nodes
        .iter()
        .find(|n| n.kind == "conv2d")
        .unwrap()
        .id;
    Edit::SetParam {
        scope: Scope::Block("basic_64".into()),
        node: conv,
        name: "groups".into(),
        value: Some(5.into()),
    }
    .apply(&mut p2)
    .unwrap();
    let r = shape::check(&p2);
    let d = r.diagnostics.iter().find(|d| d.severity == Severity::Error).unwrap();
    assert!(
        d.message
            .starts_with("inside block 'Basic block 64' (copy 1 of 2), node 'Conv2d': groups = 5"),
        "{}",
        d.message
    );
}

#[test]
fn port_in_outside_a_block_and_missing_blocks() {
    let mut p = small_mlp();
    let stray = p.graph.add(strata::doc::Node::new("port_in"));
    let ghost = p.graph.add(strata::doc::Node::block_instance("ghost", 1));
    let r = shape::check(&p);
    assert!(
        r.diagnostics_for(stray)
            .next()
            .unwrap()
            .message
            .contains("belongs inside a block")
    );
    assert!(
        r.diagnostics_for(ghost)
            .next()
            .unwrap()
            .message
            .contains("block 'ghost' is not defined")
    );
}

#[test]
fn sequence_mixer_rules() {
    // Bahdanau: W_q 128·64 (no bias) + W_k 128·64 + 64 + v 64.
    assert_eq!(
        ok(
            "additive_attention",
            &[("hidden", 64.into())],
            &[f("query", "B,T,128"), f("keys", "B,S,128")]
        ),
        ("[B, T, 128]".into(), 16_512)
    );
    assert!(
        infer(
            "additive_attention",
            &[],
            &[f("query", "B,T,8"), f("keys", "B,S,8"), i("mask", "B,T,S")]
        )
        .unwrap_err()
        .contains("padding mask")
    );
    // Mamba, D 128, E 256, N 16, conv 4, Δ rank 8: in 65 536 + conv 1 024 + 256 + x_proj 10 240
    // + dt 2 048 + 256 + A 4 096 + D 256 + out 32 768.
    assert_eq!(ok("mamba", &[], &[f("x", "B,T,128")]), ("[B, T, 128]".into(), 116_480));
    assert!(
        infer("mamba", &[], &[f("x", "B,128")])
            .unwrap_err()
            .contains("[B, T, D]")
    );
    // RWKV: 4 D² + 5 D; channel-mix 2 D H + D² + 2 D.
    assert_eq!(
        ok("rwkv_time_mix", &[], &[f("x", "B,T,128")]),
        ("[B, T, 128]".into(), 66_176)
    );
    assert_eq!(
        ok("rwkv_channel_mix", &[("hidden", 512.into())], &[f("x", "B,T,128")]),
        ("[B, T, 128]".into(), 147_712)
    );
    // Hyena order 2, D 128, filter width 32: in 49 536 + short conv 1 536 + filter net
    // 576 + 1 056 + 8 448 + skips 256 + out 16 512.
    assert_eq!(ok("hyena", &[], &[f("x", "B,T,128")]), ("[B, T, 128]".into(), 77_920));
    // Rotary embeddings rotate pairs: an odd head size is refused.
    assert!(
        infer(
            "multi_head_attention",
            &[("heads", 4.into()), ("head_dim", 5.into()), ("rotary", true.into())],
            &[f("q", "B,T,20")]
        )
        .unwrap_err()
        .contains("even")
    );
}
