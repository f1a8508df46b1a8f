//! What the text recipes share: reading the project's corpus, finding the token Input, running
//! the graph to its `logits` Output, windows of the token stream, and sampling a token.

use super::{StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::DataKind;
use crate::data::text::Corpus;
use crate::doc::Project;
use crate::engine::RunError;
use crate::engine::model::GraphModel;
use crate::engine::value::Value;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;
use std::path::Path;

/// The role text recipes read.
pub const LOGITS: &str = "logits";

/// Reads the project's text (the 'austen' or a 'text_file' dataset) as a corpus; `recipe` names
/// the recipe in the message when the dataset is not text.
pub fn read_corpus(project: &Project, data_dir: Option<&Path>, recipe: &str) -> Result<Corpus, RunError> {
    let ds = super::common::load_data(project, data_dir, DataKind::Corpus, recipe, "text")?;
    Corpus::from_dataset(&ds).map_err(RunError::BadInput)
}

/// The project's corpus in the tokens its recipe settings ask for: characters, or byte-pair
/// tokens learned on the training part ('tokenizer' = "bpe", 'vocab_size' tokens).
pub fn tokenize(corpus: Corpus, project: &Project) -> Result<Corpus, RunError> {
    if text_setting(project, "tokenizer", "characters") != "bpe" {
        return Ok(corpus);
    }
    corpus
        .with_bpe(usize_setting(project, "vocab_size", 512))
        .map_err(RunError::BadInput)
}

/// The field of the graph's one integer token Input fed from the dataset.
pub fn token_field(model: &GraphModel, recipe: &str) -> Result<String, RunError> {
    let tokens: Vec<_> = model
        .plan
        .inputs
        .iter()
        .filter(|i| i.source == "dataset" && i.dtype == DType::Int)
        .collect();
    match tokens.as_slice() {
        [input] => Ok(input.field.clone()),
        _ => Err(RunError::BadInput(format!(
            "the {recipe} recipe feeds one integer token Input [B, T] from the dataset; this graph has {}",
            tokens.len()
        ))),
    }
}

/// Every embedding fed straight from the Input bound to `field` must have `needed` rows (token
/// ids run up to `needed − 1`: `what` says what they are): a lookup past its table would not be
/// caught later. The error names the node and the fix.
pub fn check_embedding_rows(project: &Project, field: &str, needed: usize, what: &str) -> Result<(), RunError> {
    let g = &project.graph;
    let inputs = g
        .nodes
        .iter()
        .filter(|n| n.kind == "input" && n.params.get("field").and_then(|v| v.as_text()) == Some(field));
    for input in inputs {
        for w in g.wires_from(input.id) {
            let Some(node) = g.node(w.to) else { continue };
            let rows = node.params.get("num_embeddings").and_then(|v| v.as_int());
            if node.kind == "embedding"
                && let Some(rows) = rows
                && rows < needed as i64
            {
                return Err(RunError::BadInput(format!(
                    "'{}' has {rows} rows but the '{field}' tokens run up to id {} ({what}) — set num_embeddings to {needed}",
                    node.title,
                    needed - 1
                )));
            }
        }
    }
    Ok(())
}

/// A non-negative integer setting of the project's recipe.
pub fn usize_setting(project: &Project, name: &str, default: usize) -> usize {
    setting(project, name)
        .and_then(|v| v.as_int())
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(default)
}

/// A float setting of the project's recipe.
pub fn float_setting(project: &Project, name: &str, default: f64) -> f64 {
    setting(project, name).and_then(|v| v.as_float()).unwrap_or(default)
}

/// A text setting of the project's recipe.
pub fn text_setting(project: &Project, name: &str, default: &str) -> String {
    setting(project, name)
        .and_then(|v| v.as_text().map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

/// Runs `model` on `feed` to its `logits` Output `[B, T, V]`; with a step context, keeps what
/// the trainer asked to see.
pub fn run_logits(
    model: &GraphModel,
    feed: &HashMap<String, Value>,
    cx: Option<&mut StepCx>,
) -> Result<Tensor<3>, RunError> {
    let (keep, tap) = cx.as_ref().map_or((false, None), |c| (c.keep_all(), c.watch));
    let out = model
        .run(Some(&[LOGITS]), feed, keep, tap)
        .map_err(|e| RunError::Failed(e.to_string()))?;
    if let Some(cx) = cx {
        cx.observe(model, &out);
    }
    match out.outputs.get(LOGITS).cloned() {
        Some(Value::F3(l)) => Ok(l),
        Some(other) => Err(RunError::BadInput(format!(
            "the 'logits' Output gets {}; per-token logits are [B, T, vocabulary]",
            other.describe()
        ))),
        None => Err(RunError::BadInput("no Output with role 'logits' ran".into())),
    }
}

/// Token rows as an integer tensor `[rows.len(), T]`.
pub fn token_tensor(rows: &[Vec<usize>], device: &Device) -> Tensor<2, Int> {
    let t = rows.first().map_or(0, Vec::len);
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().map(|&v| v as i64)).collect();
    Tensor::<2, Int>::from_data(TensorData::new(flat, [rows.len(), t]), device)
}

/// Mean cross-entropy (nats per token) of `logits` `[B, T, V]` against `targets` `[B·T]`.
pub fn cross_entropy(logits: Tensor<3>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b, t, v] = logits.dims();
    let logp = crate::engine::kernels::log_softmax(logits.reshape([b * t, v]), 1);
    let picked = logp.gather(1, targets.reshape([b * t, 1]));
    picked.mean().neg().reshape([1])
}

/// A xorshift64* generator: the same seed gives the same draws on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A uniform draw in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }
}

/// Samples a token from logits at `temperature` among the `top_k` likeliest (0: all).
pub fn pick(logits: &[f32], temperature: f64, top_k: usize, rng: &mut Rng) -> usize {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if top_k > 0 {
        order.truncate(top_k);
    }
    let max = logits[order[0]] as f64;
    let w: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i] as f64 - max) / temperature.max(1e-6)).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let u = rng.uniform() * total;
    let mut acc = 0.0;
    for (k, &wi) in w.iter().enumerate() {
        acc += wi;
        if u < acc {
            return order[k];
        }
    }
    order[order.len() - 1]
}

/// Heat maps of attention weights `w` (`[heads, tq, tk]` flattened) over the last `n` queries
/// and keys, one block per head side by side, `cell` pixels per weight.
pub fn attention_picture(
    w: &[f32],
    heads: usize,
    tq: usize,
    tk: usize,
    n: usize,
    cell: usize,
) -> crate::telemetry::Picture {
    let (nq, nk) = (n.min(tq), n.min(tk));
    let (q0, k0) = (tq - nq, tk - nk);
    let gap = 2;
    let width = heads * nk * cell + heads.saturating_sub(1) * gap;
    let height = nq * cell;
    let mut rgb = vec![40u8; width * height * 3];
    for h in 0..heads {
        for i in 0..nq {
            for j in 0..nk {
                let v = w[((h * tq) + q0 + i) * tk + k0 + j].clamp(0.0, 1.0).sqrt();
                // Dark blue (no weight) to yellow (all of it).
                let c = [
                    (30.0 + 225.0 * v) as u8,
                    (30.0 + 200.0 * v) as u8,
                    (60.0 * (1.0 - v)) as u8 + 20,
                ];
                for dy in 0..cell {
                    for dx in 0..cell {
                        let (px, py) = (h * (nk * cell + gap) + j * cell + dx, i * cell + dy);
                        let at = (py * width + px) * 3;
                        rgb[at..at + 3].copy_from_slice(&c);
                    }
                }
            }
        }
    }
    crate::telemetry::Picture { width, height, rgb }
}
