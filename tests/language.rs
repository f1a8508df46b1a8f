//! Language models: the built-in text and users' text files, the character vocabulary, the
//! `language_model` recipe (loss falls, text is written from a prompt), causal masking, and bad
//! input (empty, binary or short files, prompts with unknown characters, a mismatched graph).

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use strata::data::text::{self, Corpus};
use strata::engine::recipes::StepCx;
use strata::engine::{Value, compile};
use strata::telemetry::View;

#[test]
fn the_built_in_novel_loads_as_characters() {
    let ds = text::austen().unwrap();
    let c = Corpus::from_dataset(&ds).unwrap();
    assert_eq!(c.tokens.len(), 684_767);
    assert_eq!(c.vocab.chars.len(), 75);
    assert_eq!(c.train_end, 684_767 * 9 / 10);
    let start = c.vocab.decode(&c.tokens[..19]);
    assert_eq!(start, "PRIDE AND PREJUDICE");
    let ids = c.vocab.encode("Elizabeth").unwrap();
    assert_eq!(c.vocab.decode(&ids), "Elizabeth");
    let err = c.vocab.encode("Élise").unwrap_err();
    assert!(err.contains("'É'") && err.contains("position 1"), "{err}");
}

#[test]
fn bad_text_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let err = text::file(&write("empty.txt", b"  \n")).unwrap_err();
    assert!(err.contains("has no text"), "{err}");
    let err = text::file(&write("bin.txt", &[80, 75, 3, 4, 0, 0, 1])).unwrap_err();
    assert!(err.contains("looks binary") && err.contains("byte 4"), "{err}");
    let err = text::file(&write("latin1.txt", &[b'a', 0xE9, b'b'])).unwrap_err();
    assert!(err.contains("not UTF-8") && err.contains("byte 1"), "{err}");
    let err = text::file(&write("short.txt", b"Too short to learn from.")).unwrap_err();
    assert!(err.contains("at least 1 000"), "{err}");
    let ok = text::file(&write("ok.txt", "héllo wörld. ".repeat(100).as_bytes())).unwrap();
    assert_eq!(Corpus::from_dataset(&ok).unwrap().vocab.chars.len(), 10);
    let err = text::file(&dir.path().join("missing.txt")).unwrap_err();
    assert!(err.contains("missing.txt"), "{err}");
}

/// A causal model's output at position t does not change when tokens after t change.
#[test]
fn the_character_gpt_is_causal() {
    let _serial = serial();
    let p = preset("gpt_char");
    let d = cpu();
    let model = compile(&p, &d).unwrap();
    let t = 64;
    let a: Vec<i64> = (0..t as i64).map(|i| i % 75).collect();
    let mut b = a.clone();
    for v in b.iter_mut().skip(40) {
        *v = (*v + 7) % 75;
    }
    let run = |ids: Vec<i64>| -> Vec<f32> {
        let x = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(ids, [1, t]), &d);
        let out = model
            .forward(&HashMap::from([("tokens".to_owned(), Value::I2(x))]), false)
            .unwrap();
        out.outputs["logits"].to_f32s().unwrap()
    };
    let (la, lb) = (run(a), run(b));
    let v = 75;
    let before = 40 * v;
    let diff_before = la[..before]
        .iter()
        .zip(&lb[..before])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let diff_after = la[before..]
        .iter()
        .zip(&lb[before..])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(diff_before < 1e-4, "positions before the change moved by {diff_before}");
    assert!(
        diff_after > 1e-3,
        "positions from the change on did not move ({diff_after})"
    );
}

#[test]
fn the_language_model_recipe_learns_and_writes_from_a_prompt() {
    let _serial = serial();
    let mut p = preset("gpt_char");
    p.training.batch_size = 8;
    p.recipe.settings.insert("length".into(), 40.into());
    p.recipe.settings.insert("prompt".into(), "Mr. Darcy".into());
    let mut run = start_recipe(&p).unwrap();
    assert_eq!(run.param_count(), 820_811);
    let cancel = AtomicBool::new(false);
    let mut losses = Vec::new();
    for _ in 0..40 {
        losses.push(run.step(&mut StepCx::new(40, &cancel)).unwrap().read()["loss"]);
    }
    assert!(losses[0] > 4.0, "starts near ln 75 = 4.3: {}", losses[0]);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    assert!(mean(&losses[30..]) < mean(&losses[..5]) - 1.0, "{losses:?}");
    let eval = run.evaluate(&cancel).unwrap();
    let val = eval.scalars["val_loss"];
    assert!(val < 3.5 && val > 0.5, "{val}");
    assert!((eval.scalars["val_bits_per_char"] - val / std::f64::consts::LN_2).abs() < 1e-9);
    let views = run.views(&cancel).unwrap();
    let [(channel, View::Text(t)), (att, View::Image(map))] = views.as_slice() else {
        panic!("{views:?}")
    };
    assert_eq!(channel, "text");
    // The attention view: the last layer's 4 heads side by side, 32 characters at 5 pixels.
    assert_eq!(att, "attention");
    assert_eq!((map.width, map.height), (4 * 32 * 5 + 3 * 2, 32 * 5));
    assert!(map.is_well_formed());
    assert_eq!(t.prompt, "Mr. Darcy");
    assert_eq!(t.text.chars().count(), 40);
    assert!(t.how.contains("temperature 0.8"));
}

#[test]
fn bad_language_model_setups_are_named() {
    let _serial = serial();
    // A prompt with a character the novel never uses.
    let mut p = preset("gpt_char");
    p.recipe.settings.insert("prompt".into(), "Ünter".into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("'Ü'") && err.contains("never occurs"), "{err}");
    // Image data for a language model.
    let mut p = preset("gpt_char");
    p.dataset.id = "mnist_5k".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("learns from text") && err.contains("'austen'"), "{err}");
    // A window longer than the position table: the checker names the positions node.
    let mut p = preset("gpt_char");
    p.recipe.settings.insert("context".into(), 128.into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("128") && err.contains("64"), "{err}");
    // Logits of the wrong width.
    let mut p = preset("gpt_char");
    let head = p.graph.nodes.iter().find(|n| n.title == "to characters").unwrap().id;
    p.graph
        .node_mut(head)
        .unwrap()
        .params
        .insert("out_features".into(), 80.into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("must be [B, T, 75]"), "{err}");
}

/// The Generate tab's request: a prompt and a temperature of the user's, the same seed giving the
/// same text.
#[test]
fn text_is_written_on_demand_from_a_prompt() {
    let _serial = serial();
    let mut p = preset("gpt_char");
    p.recipe.settings.insert("length".into(), 30.into());
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    for _ in 0..5 {
        run.step(&mut StepCx::new(5, &cancel)).unwrap();
    }
    let ask = |run: &mut Box<dyn strata::engine::recipes::Recipe>, seed: u64, prompt: &str| {
        let req = strata::engine::recipes::GenerateRequest {
            seed,
            prompt: Some(prompt.to_owned()),
            temperature: Some(1.0),
            ..Default::default()
        };
        match run.generate(&req, &cancel) {
            Ok(Some(View::Text(t))) => Ok(t),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        }
    };
    let a = ask(&mut run, 3, "Jane").unwrap();
    assert_eq!(a.prompt, "Jane");
    assert_eq!(a.text.chars().count(), 30);
    assert!(a.how.contains("temperature 1"), "{}", a.how);
    assert_eq!(ask(&mut run, 3, "Jane").unwrap(), a, "same seed, same text");
    assert_ne!(ask(&mut run, 4, "Jane").unwrap().text, a.text);
    let err = ask(&mut run, 3, "Jane ✓").unwrap_err();
    assert!(err.contains("'✓'"), "{err}");
}

/// The attention probe: every attention layer's weights, rows summing to 1, nothing above the
/// diagonal in a causal model.
#[test]
fn attention_weights_are_recorded_and_causal() {
    let _serial = serial();
    let p = preset("gpt_char");
    let d = cpu();
    let model = compile(&p, &d).unwrap();
    let ids: Vec<i64> = (0..64).map(|i| (i * 7) % 75).collect();
    let x = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(ids, [1, 64]), &d);
    let feed = HashMap::from([("tokens".to_owned(), Value::I2(x))]);
    let (out, maps) = strata::engine::record_attention(|| model.forward(&feed, false));
    out.unwrap();
    assert_eq!(maps.len(), 4, "one map per layer");
    let (_, none) = strata::engine::record_attention(|| ());
    assert!(none.is_empty());
    for m in &maps {
        assert_eq!(m.dims(), [1, 4, 64, 64]);
        let w: Vec<f32> = m.clone().into_data().iter::<f32>().collect();
        for h in 0..4 {
            for i in 0..64 {
                let row = &w[(h * 64 + i) * 64..(h * 64 + i + 1) * 64];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                assert!(row[i + 1..].iter().all(|&v| v < 1e-6), "head {h} row {i} looks ahead");
            }
        }
    }
}

/// Decoding with a KV cache writes the same text as rerunning the window, while the text fits
/// the position table, and keeps going past it.
#[test]
fn the_kv_cache_writes_what_the_full_window_writes() {
    let _serial = serial();
    let cancel = AtomicBool::new(false);
    let write = |cache: bool, length: i64| {
        let mut p = preset("gpt_char");
        p.recipe.settings.insert("length".into(), length.into());
        p.recipe.settings.insert("kv_cache".into(), cache.into());
        p.training.batch_size = 4;
        let mut run = start_recipe(&p).unwrap();
        for _ in 0..3 {
            run.step(&mut StepCx::new(3, &cancel)).unwrap();
        }
        let req = strata::engine::recipes::GenerateRequest {
            seed: 5,
            prompt: Some("Mr. Darcy".into()),
            ..Default::default()
        };
        match run.generate(&req, &cancel) {
            Ok(Some(View::Text(t))) => t,
            other => panic!("{other:?}"),
        }
    };
    let (with, without) = (write(true, 50), write(false, 50));
    assert!(with.how.contains("KV cache") && !without.how.contains("KV cache"));
    assert_eq!(with.text, without.text, "9 + 50 characters fit the 64 positions");
    let long = write(true, 200);
    assert_eq!(
        long.text.chars().count(),
        200,
        "past the position table the cache starts again"
    );
}

/// Byte-pair encoding learned in-process: chunks cover the text, encoding round-trips, the text
/// shrinks, training is deterministic, and a language model trains on the tokens.
#[test]
fn byte_pair_encoding_is_learned_and_trains_a_model() {
    let _serial = serial();
    use strata::data::bpe;
    assert_eq!(
        bpe::chunks("Hello, world  42!"),
        vec!["Hello", ",", " world", " ", " 42", "!"]
    );
    let ds = text::austen().unwrap();
    let chars = Corpus::from_dataset(&ds).unwrap();
    let started = std::time::Instant::now();
    let c = chars.with_bpe(300).unwrap();
    let took = started.elapsed();
    assert_eq!(c.vocab.len(), 300);
    let sample = chars.vocab.decode(&chars.tokens[100_000..102_000]);
    let ids = c.vocab.encode(&sample).unwrap();
    assert_eq!(c.vocab.decode(&ids), sample, "round trip");
    let ratio = c.tokens.len() as f64 / chars.tokens.len() as f64;
    assert!(
        ratio < 0.6,
        "300 tokens cover the novel in {ratio:.2} tokens per character"
    );
    assert_eq!(chars.with_bpe(300).unwrap().vocab, c.vocab, "deterministic");
    assert!(c.vocab.piece(299).unwrap().chars().count() >= 2);
    eprintln!("BPE: 225 merges on 616 k characters in {took:?}; {ratio:.3} tokens per character");
    // gpt_char on 300 byte-pair tokens: a wrong width is named with the size, the right one trains.
    let mut p = preset("gpt_char");
    p.recipe.settings.insert("tokenizer".into(), "bpe".into());
    p.recipe.settings.insert("vocab_size".into(), 300.into());
    p.recipe.settings.insert("length".into(), 20.into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(
        err.contains("75 rows") && err.contains("set num_embeddings to 300"),
        "{err}"
    );
    let emb = p.graph.nodes.iter().find(|n| n.kind == "embedding").unwrap().id;
    p.graph
        .node_mut(emb)
        .unwrap()
        .params
        .insert("num_embeddings".into(), 300.into());
    let head = p.graph.nodes.iter().find(|n| n.title == "to characters").unwrap().id;
    p.graph
        .node_mut(head)
        .unwrap()
        .params
        .insert("out_features".into(), 300.into());
    p.training.batch_size = 4;
    let mut run = start_recipe(&p).unwrap();
    let cancel = AtomicBool::new(false);
    let first = run.step(&mut StepCx::new(10, &cancel)).unwrap().read()["loss"];
    assert!((first - 300f64.ln()).abs() < 1.0, "starts near ln 300: {first}");
    for _ in 0..9 {
        run.step(&mut StepCx::new(10, &cancel)).unwrap();
    }
    let views = run.views(&cancel).unwrap();
    let Some((_, View::Text(t))) = views.first() else {
        panic!("{views:?}")
    };
    assert!(!t.text.is_empty());
}
