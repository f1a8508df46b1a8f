//! Sequence models beyond next-token prediction: the masked-language-model recipe (BERT's
//! corruption, loss falls, blanks filled), the seq2seq recipe on the synthetic tasks (teacher
//! forcing, greedy and beam answers, the alignment view), the sequence mixers (Mamba's scan
//! against a plain loop, RWKV and Hyena against their definitions, all five character models
//! causal and learning) and mixture-of-experts routing (capacity, balance loss, load view).

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::{Distribution, Int, Tensor, TensorData};
use common::*;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use strata::data::sequences;
use strata::engine::recipes::masked_lm::bert_corrupt;
use strata::engine::recipes::text::Rng;
use strata::engine::recipes::{GenerateRequest, StepCx};
use strata::engine::{Value, compile, mixers};
use strata::telemetry::View;

fn ask(run: &mut Box<dyn strata::engine::recipes::Recipe>, prompt: &str) -> Result<strata::telemetry::Text, String> {
    let req = GenerateRequest {
        prompt: Some(prompt.to_owned()),
        ..Default::default()
    };
    match run.generate(&req, &AtomicBool::new(false)) {
        Ok(Some(View::Text(t))) => Ok(t),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn bert_corruption_hides_15_percent_as_80_10_10() {
    let window: Vec<usize> = (0..100_000).map(|i| i % 75).collect();
    let mut rng = Rng::new(7);
    let (input, chosen) = bert_corrupt(&window, 0.15, 75, &mut rng);
    let share = chosen.len() as f64 / window.len() as f64;
    assert!((share - 0.15).abs() < 0.01, "{share}");
    let masked = chosen.iter().filter(|(i, _)| input[*i] == 75).count() as f64 / chosen.len() as f64;
    let kept = chosen.iter().filter(|(i, t)| input[*i] == *t).count() as f64 / chosen.len() as f64;
    assert!((masked - 0.8).abs() < 0.02, "{masked}");
    // Kept: the 10 % left alone, plus random draws that happen to hit the same token (1/75 of 10 %).
    assert!((kept - 0.1).abs() < 0.02, "{kept}");
    let others = window
        .iter()
        .enumerate()
        .filter(|(i, _)| !chosen.iter().any(|(c, _)| c == i));
    assert!(
        others.take(1000).all(|(i, &t)| input[i] == t),
        "unchosen positions are untouched"
    );
    // A short window still gets one position to predict.
    let (_, one) = bert_corrupt(&[3, 4], 0.0001, 75, &mut rng);
    assert_eq!(one.len(), 1);
}

#[test]
fn the_masked_language_model_learns_and_fills_blanks() {
    let _serial = serial();
    let mut p = preset("bert_mlm");
    p.training.batch_size = 16;
    let mut run = start_recipe(&p).unwrap();
    assert_eq!(run.param_count(), 812_747);
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    for _ in 0..30 {
        losses.push(run.step(&mut StepCx::new(30, &cancel)).unwrap().read()["loss"]);
    }
    assert!(losses[0] > 4.0, "starts near ln 75: {}", losses[0]);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    assert!(mean(&losses[25..]) < mean(&losses[..3]) - 0.8, "{losses:?}");
    let eval = run.evaluate(&cancel).unwrap();
    let acc = eval.scalars["val_masked_accuracy"];
    assert!(acc > 0.1 && acc <= 1.0, "{acc}");
    let views = run.views(&cancel).unwrap();
    let [(channel, View::Text(t))] = views.as_slice() else {
        panic!("{views:?}")
    };
    assert_eq!(channel, "text");
    assert!(t.prompt.contains('#') && !t.text.contains('#'), "{t:?}");
    let filled = ask(&mut run, "Mr. Da#cy").unwrap();
    assert_eq!(filled.text.chars().count(), 9);
    assert!(
        filled.text.starts_with("Mr. Da") && filled.text.ends_with("cy"),
        "{}",
        filled.text
    );
    assert!(filled.how.contains("1 blank filled"), "{}", filled.how);
    let err = ask(&mut run, "Ünter #").unwrap_err();
    assert!(err.contains("'Ü'") && err.contains("'#'"), "{err}");
    // The [MASK] row: an embedding one row short is named.
    let mut p = preset("bert_mlm");
    p.recipe.settings.insert("context".into(), 16.into());
    let emb = p.graph.nodes.iter().find(|n| n.kind == "embedding").unwrap().id;
    p.graph
        .node_mut(emb)
        .unwrap()
        .params
        .insert("num_embeddings".into(), 75.into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(
        err.contains("[MASK]") && err.contains("set num_embeddings to 76"),
        "{err}"
    );
}

#[test]
fn the_synthetic_tasks_are_right_and_validation_is_unseen() {
    assert_eq!(sequences::answer("reverse", "1234").unwrap(), "4321");
    assert_eq!(sequences::answer("sort", "3141").unwrap(), "1134");
    assert_eq!(sequences::answer("copy", "907").unwrap(), "907");
    assert_eq!(sequences::answer("add", "57+68").unwrap(), "125");
    assert_eq!(sequences::spell(3017), "three thousand seventeen");
    assert_eq!(sequences::spell(0), "zero");
    assert_eq!(sequences::spell(110), "one hundred ten");
    for task in sequences::TASKS {
        let ds = sequences::generate(task, 2, 6, 2_000).unwrap();
        assert_eq!(ds.len(), 2_000 + 200, "{task}");
        let s_len = ds.shape[0];
        let strata::data::Features::U8(src) = &ds.features else {
            panic!()
        };
        let strata::data::Target::Sequences { len, data } = &ds.target else {
            panic!()
        };
        let row = |v: &[u8], w: usize, i: usize| -> Vec<usize> {
            v[i * w..(i + 1) * w].iter().map(|&x| x as usize).collect()
        };
        let train: std::collections::HashSet<String> =
            (0..2_000).map(|i| sequences::decode(&row(src, s_len, i))).collect();
        for i in 0..ds.len() {
            let s = sequences::decode(&row(src, s_len, i));
            assert_eq!(
                sequences::decode(&row(data, *len, i)),
                sequences::answer(task, &s).unwrap(),
                "{task} {s}"
            );
            if i >= 2_000 {
                assert!(!train.contains(&s), "{task}: validation source {s} was trained on");
            }
        }
    }
    assert!(
        sequences::generate("reverse", 1, 1, 1_000)
            .unwrap_err()
            .contains("too few different sources")
    );
    assert!(
        sequences::generate("fly", 1, 4, 100)
            .unwrap_err()
            .contains("unknown task")
    );
    assert!(
        sequences::generate("copy", 5, 4, 100)
            .unwrap_err()
            .contains("min_length")
    );
}

#[test]
fn seq2seq_with_attention_learns_to_reverse_and_shows_its_alignment() {
    let _serial = serial();
    let p = preset("seq2seq_attention");
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    for _ in 0..200 {
        losses.push(run.step(&mut StepCx::new(200, &cancel)).unwrap().read()["loss"]);
    }
    assert!(losses[199] < losses[0] / 4.0, "{} → {}", losses[0], losses[199]);
    let eval = run.evaluate(&cancel).unwrap();
    let exact = eval.scalars["val_exact_match"];
    assert!(exact > 0.5, "greedy answers exactly right: {exact}");
    assert!(eval.scalars["val_token_accuracy"] >= exact);
    let views = run.views(&cancel).unwrap();
    let [(t, View::Text(text)), (a, View::Image(align))] = views.as_slice() else {
        panic!("{views:?}")
    };
    assert_eq!((t.as_str(), a.as_str()), ("text", "alignment"));
    assert!(
        text.text.contains("greedy") && text.text.contains("beam"),
        "{}",
        text.text
    );
    // One row per written token (8 digits and </s>), one column per source digit, 12 px cells.
    assert_eq!((align.width, align.height), (8 * 12, 9 * 12));
    let answer = ask(&mut run, "1234567").unwrap();
    assert!(answer.how.contains("beam search with 4 beams"), "{}", answer.how);
    let err = ask(&mut run, "12!4").unwrap_err();
    assert!(err.contains("'!'"), "{err}");
}

#[test]
fn bad_seq2seq_setups_are_named() {
    let mut p = preset("seq2seq_attention");
    p.dataset.id = "austen".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("seq_task"), "{err}");
    let mut p = preset("seq2seq_attention");
    let tgt = p.graph.nodes.iter().find(|n| n.title == "answer so far").unwrap().id;
    p.graph
        .node_mut(tgt)
        .unwrap()
        .params
        .insert("field".into(), "answer".into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("'answer'") && err.contains("'target'"), "{err}");
}

fn random(dims: [usize; 3], lo: f64, hi: f64) -> Tensor<3> {
    Tensor::<3>::random(dims, Distribution::Uniform(lo, hi), &cpu())
}

fn values(t: Tensor<3>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Mamba's chunked parallel scan against the recurrence written as a plain loop over numbers.
#[test]
fn the_mamba_scan_matches_a_plain_sequential_loop() {
    let (b, t, e, n) = (2, 21, 5, 4);
    let d = cpu();
    let u = random([b, t, e], -2.0, 2.0);
    let delta = random([b, t, e], 0.001, 1.5);
    let a = Tensor::<2>::random([e, n], Distribution::Uniform(-6.0, -0.5), &d);
    let bm = random([b, t, n], -1.0, 1.0);
    let cm = random([b, t, n], -1.0, 1.0);
    let fast = values(mixers::selective_scan(
        u.clone(),
        delta.clone(),
        a.clone(),
        bm.clone(),
        cm.clone(),
    ));
    let steps = values(mixers::selective_scan_steps(
        u.clone(),
        delta.clone(),
        a.clone(),
        bm.clone(),
        cm.clone(),
    ));
    let (u, delta, bm, cm) = (values(u), values(delta), values(bm), values(cm));
    let a: Vec<f32> = a.into_data().iter::<f32>().collect();
    let mut plain = vec![0f32; b * t * e];
    for bi in 0..b {
        for ei in 0..e {
            let mut h = vec![0f64; n];
            for ti in 0..t {
                let at = (bi * t + ti) * e + ei;
                let mut y = 0.0;
                for ni in 0..n {
                    let decay = (f64::from(delta[at]) * f64::from(a[ei * n + ni])).max(-10.0).exp();
                    h[ni] = decay * h[ni] + f64::from(delta[at] * u[at] * bm[(bi * t + ti) * n + ni]);
                    y += h[ni] * f64::from(cm[(bi * t + ti) * n + ni]);
                }
                plain[at] = y as f32;
            }
        }
    }
    let worst = |x: &[f32]| x.iter().zip(&plain).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
    assert!(worst(&fast) < 1e-4, "chunked scan vs loop: {}", worst(&fast));
    assert!(worst(&steps) < 1e-4, "step scan vs loop: {}", worst(&steps));
}

/// RWKV's parallel WKV against its recurrent definition.
#[test]
fn rwkv_wkv_matches_its_definition() {
    let (b, t, d) = (2, 13, 3);
    let k = random([b, t, d], -3.0, 3.0);
    let v = random([b, t, d], -1.0, 1.0);
    let w = Tensor::<1>::from_data(TensorData::new(vec![0.05f32, 0.7, 4.0], [3]), &cpu());
    let u = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, 0.3, 2.0], [3]), &cpu());
    let got = values(mixers::wkv(k.clone(), v.clone(), w.clone(), u.clone()));
    let (k, v) = (values(k), values(v));
    let (w, u) = ([0.05f64, 0.7, 4.0], [-1.0f64, 0.3, 2.0]);
    for bi in 0..b {
        for di in 0..d {
            for ti in 0..t {
                let (mut num, mut den) = (0.0, 0.0);
                for i in 0..=ti {
                    let at = (bi * t + i) * d + di;
                    let lw = if i == ti {
                        u[di] + f64::from(k[at])
                    } else {
                        -((ti - 1 - i) as f64) * w[di] + f64::from(k[at])
                    };
                    num += lw.exp() * f64::from(v[at]);
                    den += lw.exp();
                }
                let g = got[(bi * t + ti) * d + di];
                assert!(
                    (f64::from(g) - num / den).abs() < 1e-4,
                    "b{bi} d{di} t{ti}: {g} vs {}",
                    num / den
                );
            }
        }
    }
}

/// Hyena's long convolution against the sum it stands for.
#[test]
fn hyena_long_convolution_matches_its_sum() {
    let (b, t, d) = (2, 9, 3);
    let y = random([b, t, d], -1.0, 1.0);
    let h = Tensor::<2>::random([d, t], Distribution::Uniform(-1.0, 1.0), &cpu());
    let got = values(mixers::long_conv(y.clone(), h.clone()));
    let (y, h): (Vec<f32>, Vec<f32>) = (values(y), h.into_data().iter::<f32>().collect());
    for bi in 0..b {
        for ti in 0..t {
            for di in 0..d {
                let want: f32 = (0..=ti).map(|s| h[di * t + ti - s] * y[(bi * t + s) * d + di]).sum();
                assert!((got[(bi * t + ti) * d + di] - want).abs() < 1e-4);
            }
        }
    }
}

/// Every character model's output at position t ignores the tokens after t.
#[test]
fn every_character_model_is_causal() {
    let d = cpu();
    for id in ["gpt_char", "moe_char", "mamba_char", "rwkv_char", "hyena_char"] {
        let model = compile(&preset(id), &d).unwrap();
        let t = 64;
        let a: Vec<i64> = (0..t as i64).map(|i| (i * 11) % 75).collect();
        let mut b = a.clone();
        for v in b.iter_mut().skip(40) {
            *v = (*v + 7) % 75;
        }
        let run = |ids: Vec<i64>| -> Vec<f32> {
            let x = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), &d);
            let out = model
                .forward(&HashMap::from([("tokens".to_owned(), Value::I2(x))]), false)
                .unwrap();
            out.outputs["logits"].to_f32s().unwrap()
        };
        let (la, lb) = (run(a), run(b));
        let before = 40 * 75;
        let moved = |r: std::ops::Range<usize>| r.map(|i| (la[i] - lb[i]).abs()).fold(0.0, f32::max);
        assert!(
            moved(0..before) < 1e-4,
            "{id}: positions before the change moved by {}",
            moved(0..before)
        );
        assert!(
            moved(before..la.len()) > 1e-3,
            "{id}: positions from the change on did not move"
        );
    }
}

/// The four newer character models learn: the loss falls within a few steps.
#[test]
fn the_newer_character_models_learn() {
    let _serial = serial();
    for (id, steps) in [
        ("moe_char", 25),
        ("rwkv_char", 25),
        ("hyena_char", 25),
        ("mamba_char", 12),
    ] {
        let mut p = preset(id);
        p.training.batch_size = 8;
        p.training.warmup_steps = 5;
        let mut run = start_recipe(&p).unwrap();
        let cancel = AtomicBool::new(false);
        let mut losses = Vec::new();
        for _ in 0..steps {
            let s = run.step(&mut StepCx::new(steps as u64, &cancel)).unwrap().read();
            if id == "moe_char" {
                let bal = s["balance_loss"];
                // 4 layers × 0.01 × E·Σ f·P, which is 1 when perfectly balanced.
                assert!(bal > 0.03 && bal < 0.2, "balance loss {bal}");
            }
            losses.push(s["loss"]);
        }
        let first = losses[..2].iter().sum::<f64>() / 2.0;
        let last = losses[steps - 2..].iter().sum::<f64>() / 2.0;
        assert!(last < first - 0.5, "{id}: {losses:?}");
        if id == "moe_char" {
            let views = run.views(&cancel).unwrap();
            let load = views.iter().find(|(c, _)| c == "experts").expect("an expert-load view");
            let View::Image(pic) = &load.1 else { panic!() };
            // 4 layers × 4 experts × 8 px rows, 3 px gaps; one column per step.
            assert_eq!((pic.width, pic.height), (steps, 16 * 8 + 3 * 3));
        }
    }
}

/// Routing keeps each expert within its capacity and sends each token to at most top_k experts.
#[test]
fn experts_take_at_most_their_capacity() {
    // 6 tokens all preferring expert 0, then 1.
    let probs: Vec<f32> = (0..6).flat_map(|_| [0.6, 0.3, 0.1]).collect();
    let taken = strata::engine::moe_route(&probs, 6, 3, 2, 3);
    assert_eq!(taken[0], vec![0, 1, 2]);
    assert_eq!(taken[1], vec![0, 1, 2]);
    assert!(
        taken[2].is_empty(),
        "only a token's top 2 are asked: tokens 3–5 pass every expert by"
    );
    let unlimited = strata::engine::moe_route(&probs, 6, 3, 1, 0);
    assert_eq!(unlimited[0].len(), 6);
}

/// Rotary embeddings make a query–key score depend on the distance between their positions only.
#[test]
fn rotary_scores_depend_on_relative_position() {
    let d = cpu();
    let (t, size) = (12, 8);
    let q: Vec<f32> = (0..size).map(|i| (i as f32 * 0.37).sin()).collect();
    let k: Vec<f32> = (0..size).map(|i| (i as f32 * 0.91).cos()).collect();
    let same = |v: &[f32]| {
        let all: Vec<f32> = (0..t).flat_map(|_| v.iter().copied()).collect();
        Tensor::<4>::from_data(TensorData::new(all, [1, 1, t, size]), &d)
    };
    let qr: Vec<f32> = strata::engine::rope(same(&q), 0).into_data().iter::<f32>().collect();
    let kr: Vec<f32> = strata::engine::rope(same(&k), 0).into_data().iter::<f32>().collect();
    let score = |m: usize, n: usize| -> f32 { (0..size).map(|j| qr[m * size + j] * kr[n * size + j]).sum() };
    for m in 0..t - 3 {
        for n in 0..t - 3 {
            assert!((score(m, n) - score(m + 3, n + 3)).abs() < 1e-4, "({m}, {n})");
        }
    }
    assert!(
        (score(0, 0) - q.iter().zip(&k).map(|(a, b)| a * b).sum::<f32>()).abs() < 1e-5,
        "position 0 is not rotated"
    );
    assert!((score(5, 0) - score(0, 0)).abs() > 1e-3, "distance changes the score");
    // Starting at an offset (decoding with a cache) is the same as slicing a longer run.
    let long: Vec<f32> = strata::engine::rope(same(&q), 0).into_data().iter::<f32>().collect();
    let late: Vec<f32> = strata::engine::rope(same(&q).narrow(2, 0, 4), 8)
        .into_data()
        .iter::<f32>()
        .collect();
    for (a, b) in late.iter().zip(&long[8 * size..]) {
        assert!((a - b).abs() < 1e-5);
    }
}

/// Forecasting as regression: the LSTM beats predicting zero (0.46) within a few hundred steps.
#[test]
fn the_forecaster_learns_the_signals() {
    let _serial = serial();
    let mut p = preset("lstm_forecast");
    p.dataset.options.insert("examples".into(), 600.into());
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    for _ in 0..150 {
        run.step(&mut StepCx::new(150, &cancel)).unwrap();
    }
    let eval = run.evaluate(&cancel).unwrap();
    assert!(eval.scalars["val_loss"] < 0.35, "{:?}", eval.scalars);
    let ds = strata::data::signals::signals(10, 8, 3, 0.0, 1).unwrap();
    assert_eq!(ds.shape, vec![8, 1]);
    assert!(
        strata::data::signals::signals(10, 8, 0, 0.0, 1)
            .unwrap_err()
            .contains("horizon 0")
    );
}

/// A vision transformer shows where its class token looks: each image beside its patch grid.
#[test]
fn a_vision_transformer_shows_its_class_token_attention() {
    let _serial = serial();
    let mut run = start_recipe(&preset("vit_mnist")).unwrap();
    let cancel = AtomicBool::new(false);
    for _ in 0..3 {
        run.step(&mut StepCx::new(3, &cancel)).unwrap();
    }
    let views = run.views(&cancel).unwrap();
    let (_, View::Image(pic)) = views
        .iter()
        .find(|(c, _)| c == "class_attention")
        .expect("a class-attention view")
    else {
        panic!()
    };
    // 16 images, 8 per row, each 28 px beside its 28 px heat map.
    assert_eq!((pic.width, pic.height), (8 * (2 * 28 + 6), 2 * 32));
    assert!(pic.is_well_formed());
    // A CNN has no class token: no such view.
    let mut lenet = start_recipe(&preset("lenet5")).unwrap();
    lenet.step(&mut StepCx::new(1, &cancel)).unwrap();
    assert!(
        lenet
            .views(&cancel)
            .unwrap()
            .iter()
            .all(|(c, _)| c != "class_attention")
    );
}

/// The padding mask: what stands in the padded source positions does not reach the answer (a
/// transformer masks them in every attention over the source; an RNN encoder would read them).
#[test]
fn padded_source_positions_are_masked_out() {
    let d = cpu();
    let id = "transformer_mini";
    let model = compile(&preset(id), &d).unwrap();
    let (s, t) = (6, 5);
    let ints = |v: Vec<i64>, n: usize| Value::I2(Tensor::<2, Int>::from_data(TensorData::new(v, [1, n]), &d));
    let run = |pad_token: i64| -> Vec<f32> {
        // "12" then padding (written as pad_token, masked out either way).
        let src = vec![4, 5, pad_token, pad_token, pad_token, pad_token];
        let feed = HashMap::from([
            ("source".to_owned(), ints(src, s)),
            ("source_mask".to_owned(), ints(vec![1, 1, 0, 0, 0, 0], s)),
            ("target".to_owned(), ints(vec![1, 16, 17, 0, 0], t)),
        ]);
        model.forward(&feed, false).unwrap().outputs["logits"]
            .to_f32s()
            .unwrap()
    };
    let (a, b) = (run(0), run(9));
    let moved = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(moved < 1e-4, "{id}: masked positions changed the logits by {moved}");
}

/// Sets a parameter of every mixture-of-experts node inside `moe_char`'s layer block.
fn set_moe(p: &mut strata::doc::Project, name: &str, value: strata::doc::ParamValue) {
    for n in &mut p.block_mut("moe_layer").unwrap().graph.nodes {
        if n.kind == "moe" {
            n.params.insert(name.into(), value.clone());
        }
    }
}

/// Experts as blocks: each expert is its own copy of a block of the project, counted like the
/// built-in MLP it stands for, checked (ports, shape, token-by-token layers) with the fix named,
/// and saved and loaded with the rest of the weights.
#[test]
fn block_experts_are_counted_checked_and_saved() {
    let _serial = serial();
    let d = cpu();
    let p = preset("moe_char");
    let report = strata::shape::check(&p);
    assert!(report.is_valid(), "{:?}", report.diagnostics);
    // The same experts built in (Linear 128 → GELU → Linear) have the same parameters.
    let mut built_in = p.clone();
    set_moe(&mut built_in, "expert", "".into());
    set_moe(&mut built_in, "hidden", 128.into());
    assert_eq!(strata::shape::check(&built_in).total_params, report.total_params);
    let messages = |p: &strata::doc::Project| -> String {
        strata::shape::check(p)
            .diagnostics
            .iter()
            .map(|d| format!("{} / {:?}", d.message, d.fix))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // An unknown block: named, with the blocks there are.
    let mut unknown = p.clone();
    set_moe(&mut unknown, "expert", "nope".into());
    let m = messages(&unknown);
    assert!(m.contains("block 'nope'") && m.contains("expert_mlp"), "{m}");
    // A block that changes the width.
    let mut narrow = p.clone();
    let inner = &mut narrow.block_mut("expert_mlp").unwrap().graph;
    let last = inner
        .nodes
        .iter()
        .filter(|n| n.kind == "linear")
        .map(|n| n.id)
        .max()
        .unwrap();
    inner
        .node_mut(last)
        .unwrap()
        .params
        .insert("out_features".into(), 64.into());
    let m = messages(&narrow);
    assert!(
        m.contains("must return the same shape") && m.contains("128 features"),
        "{m}"
    );
    // A block that mixes the tokens of a batch cannot be an expert.
    let mut mixing = p.clone();
    for n in &mut mixing.block_mut("expert_mlp").unwrap().graph.nodes {
        if n.kind == "gelu" {
            n.kind = "batch_norm".into();
        }
    }
    assert!(strata::shape::check(&mixing).is_valid());
    let err = compile(&mixing, &d).expect_err("refused").to_string();
    assert!(err.contains("mixes positions") && err.contains("Expert MLP"), "{err}");
    // Each expert has weights of its own, and they survive a save and a load.
    let model = compile(&p, &d).unwrap();
    let x = Tensor::<2, Int>::from_data(
        TensorData::new((0..64).map(|i| (i * 5) % 75).collect::<Vec<i64>>(), [1, 64]),
        &d,
    );
    let feed = HashMap::from([("tokens".to_owned(), Value::I2(x))]);
    let before = model.forward(&feed, false).unwrap().outputs["logits"]
        .to_f32s()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    model.save_nodes(dir.path()).unwrap();
    let (loaded, _, missing) = compile(&p, &d).unwrap().load_nodes(dir.path());
    assert!(missing.is_empty(), "{missing:?}");
    let after = loaded.forward(&feed, false).unwrap().outputs["logits"]
        .to_f32s()
        .unwrap();
    assert!(before.iter().zip(&after).all(|(a, b)| (a - b).abs() < 1e-5));
    let fresh = compile(&p, &d).unwrap().forward(&feed, false).unwrap().outputs["logits"]
        .to_f32s()
        .unwrap();
    assert!(
        before.iter().zip(&fresh).any(|(a, b)| (a - b).abs() > 1e-3),
        "fresh weights differ"
    );
}
