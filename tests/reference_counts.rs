//! The reference configurations have exactly the parameter count of their reference
//! implementations (torchvision, Hugging Face, the papers).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use strata::shape;

fn params(id: &str) -> u64 {
    let p = preset(id);
    let r = shape::check(&p);
    assert!(r.is_valid(), "{id}: {:?}", r.diagnostics);
    r.total_params
}

#[test]
fn torchvision_models() {
    assert_eq!(params("alexnet"), 61_100_840);
    assert_eq!(params("vgg16"), 138_357_544);
    assert_eq!(params("resnet18"), 11_689_512);
    assert_eq!(params("googlenet"), 6_624_904);
    assert_eq!(params("densenet121"), 7_978_856);
    assert_eq!(params("efficientnet_b0"), 5_288_548);
    assert_eq!(params("vit_b_16"), 86_567_656);
}

#[test]
fn hugging_face_models() {
    assert_eq!(params("bert_base"), 109_482_240);
    assert_eq!(params("gpt2_small"), 124_439_808);
    assert_eq!(params("t5_small"), 60_506_624);
}

#[test]
fn lenet5_modern_form() {
    // conv 6@5×5 (1 in), conv 16@5×5, FC 400→120→84→10, all with biases.
    let expected = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10);
    assert_eq!(params("lenet5"), expected);
    assert_eq!(expected, 61_706);
}

#[test]
fn unet_as_in_the_paper() {
    let conv = |cin: u64, cout: u64, k: u64| cin * cout * k * k + cout;
    let double = |cin: u64, cout: u64| conv(cin, cout, 3) + conv(cout, cout, 3);
    let down = double(1, 64) + double(64, 128) + double(128, 256) + double(256, 512) + double(512, 1024);
    let up = [(1024, 512), (512, 256), (256, 128), (128, 64)]
        .iter()
        .map(|&(c, h)| conv(c, h, 2) + double(c, h))
        .sum::<u64>();
    let expected = down + up + conv(64, 2, 1);
    assert_eq!(params("unet"), expected);
    assert_eq!(expected, 31_030_658);
}

#[test]
fn every_reference_in_a_preset_file_matches_the_checker() {
    for id in strata::presets::ids() {
        let p = preset(id);
        if let Some(want) = p.preset.as_ref().and_then(|i| i.reference_params) {
            assert_eq!(params(id), want, "{id}");
        }
    }
}

#[test]
fn output_shapes_of_reference_models() {
    let out = |id: &str, node_title: &str| -> String {
        let p = preset(id);
        let r = shape::check(&p);
        let n = p
            .graph
            .nodes
            .iter()
            .find(|n| strata::catalog::display_title(&p, n) == node_title)
            .unwrap();
        let w = p.graph.wires_into(n.id).next().unwrap();
        r.output_type(w.from, &w.out).unwrap().to_string()
    };
    assert_eq!(out("resnet18", "prediction"), "[B, 1000]");
    assert_eq!(out("unet", "prediction"), "[B, 2, 388, 388]");
    assert_eq!(out("vit_b_16", "prediction"), "[B, 1000]");
    assert_eq!(out("gpt2_small", "logits"), "[B, T, 50257]");
    assert_eq!(out("t5_small", "logits"), "[B, T, 32128]");
    assert_eq!(out("bert_base", "pooled"), "[B, 768]");
    assert_eq!(out("dit", "noise_pred"), "[B, 8, 32, 32]");
    assert_eq!(out("gcn", "prediction"), "[N, 7]");
    assert_eq!(out("ppo_cartpole", "policy"), "[B, 2]");
    assert_eq!(out("ppo_cartpole", "value"), "[B, 1]");
}

#[test]
fn cost_estimates_match_known_figures() {
    // ResNet-18: 1.82 G multiply-accumulates per 224×224 image (widely reported "1.8 GFLOPs").
    let r = shape::check(&preset("resnet18"));
    assert!((1.80e9..1.84e9).contains(&(r.total_macs as f64)), "{}", r.total_macs);
    // VGG-16: 15.5 GMACs.
    let r = shape::check(&preset("vgg16"));
    assert!((15.3e9..15.6e9).contains(&(r.total_macs as f64)), "{}", r.total_macs);
}
