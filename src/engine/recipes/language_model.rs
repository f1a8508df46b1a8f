//! The `language_model` recipe: next-token cross-entropy on windows of a text, and text written
//! from a prompt one token at a time (temperature, top-k). The graph is any causal network from
//! an integer token Input `[B, T]` to a `logits` Output `[B, T, vocabulary]`.

use super::common::Trainee;
use super::text;
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::language_model::SPEC;
use crate::data::text::Corpus;
use crate::engine::RunError;
use crate::engine::model::compile;
use crate::engine::value::Value;
use crate::telemetry::{Picture, Scalars, Text, View};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(LanguageModel::new(init)?)),
};

/// Validation windows per evaluation (fixed, evenly spread over the validation text).
const VAL_WINDOWS: usize = 256;
const EVAL_BATCH: usize = 32;

/// A run of the language-model recipe.
pub struct LanguageModel {
    t: Trainee,
    corpus: Corpus,
    /// The token Input's field.
    field: String,
    context: usize,
    prompt: String,
    temperature: f64,
    top_k: usize,
    length: usize,
    attention_layer: usize,
    /// Decode with a KV cache when the graph allows it.
    kv_cache: bool,
    device: Device,
    seed: u64,
    /// Each step's token share per expert of every mixture-of-experts layer (the expert-load view).
    loads: Vec<Vec<Vec<f32>>>,
}

/// Characters the attention view shows (the last ones of the written text).
const ATTENTION_WINDOW: usize = 32;
/// Pixels per attention cell.
const CELL: usize = 5;

impl LanguageModel {
    /// Compiles the project and reads its text.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let corpus = text::tokenize(text::read_corpus(project, init.data_dir, "language-model")?, project)?;
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let field = text::token_field(&model, "language-model")?;
        let context = text::usize_setting(project, "context", 64).max(2);
        let n_train = corpus.train_end;
        let n_val = corpus.tokens.len() - n_train;
        if n_train <= context + 1 || n_val <= context + 1 {
            return Err(RunError::BadInput(format!(
                "the text is too short for windows of {context} tokens (training part {n_train}, validation part {n_val}) — lower the context setting"
            )));
        }
        let prompt = text::text_setting(project, "prompt", "");
        corpus.vocab.encode(&prompt).map_err(RunError::BadInput)?;
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        // A training example is a window start in the training part.
        let pool: Vec<usize> = (0..n_train - context - 1).collect();
        let mut lm = LanguageModel {
            t: Trainee::new("model", model, pool, &settings),
            corpus,
            field,
            context,
            prompt,
            temperature: text::float_setting(project, "temperature", 0.8),
            top_k: text::usize_setting(project, "top_k", 0),
            length: text::usize_setting(project, "length", 300),
            attention_layer: text::usize_setting(project, "attention_layer", 0),
            kv_cache: super::setting(project, "kv_cache")
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            device: ad,
            seed: init.seed,
            loads: Vec::new(),
        };
        let v = lm.corpus.vocab.len();
        text::check_embedding_rows(project, &lm.field, v, &format!("the text's vocabulary of {v}"))?;
        // Fail now, naming the problem, if the graph does not map [B, T] tokens to [B, T, V].
        lm.check_logits()?;
        Ok(lm)
    }

    /// Inputs and next-token targets for windows starting at `starts`.
    fn windows(&self, starts: &[usize], device: &Device) -> (HashMap<String, Value>, Tensor<1, Int>) {
        let t = self.context;
        let mut x = Vec::with_capacity(starts.len() * t);
        let mut y = Vec::with_capacity(starts.len() * t);
        for &s in starts {
            x.extend(self.corpus.tokens[s..s + t].iter().map(|&v| v as i64));
            y.extend(self.corpus.tokens[s + 1..s + t + 1].iter().map(|&v| v as i64));
        }
        let x = Tensor::<2, Int>::from_data(TensorData::new(x, [starts.len(), t]), device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(y, [starts.len() * t]), device);
        (HashMap::from([(self.field.clone(), Value::I2(x))]), y)
    }

    fn check_logits(&mut self) -> Result<(), RunError> {
        let device = self.device.clone().inner();
        let (feed, _) = self.windows(&[0], &device);
        let model = self.t.net.inference()?;
        let context = self.context;
        let l = text::run_logits(&model, &feed, None).map_err(|e| match e {
            RunError::Failed(m) => RunError::BadInput(format!(
                "{m} — the recipe feeds windows of {context} tokens (its 'context' setting)"
            )),
            other => other,
        })?;
        let [_, t, v] = l.dims();
        let want = self.corpus.vocab.len();
        if t != self.context || v != want {
            return Err(RunError::BadInput(format!(
                "the 'logits' Output is [1, {t}, {v}] for a window of {} tokens; it must be [B, T, {want}] — {want} is the text's vocabulary (set the last layer's features and the embedding's size to {want})",
                self.context
            )));
        }
        Ok(())
    }

    /// Writes `length` tokens after the prompt with the current weights.
    pub fn sample(
        &self,
        prompt: &str,
        length: usize,
        temperature: f64,
        seed: u64,
        cancel: &AtomicBool,
    ) -> Result<Text, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let vocab = &self.corpus.vocab;
        let mut ids = vocab.encode(prompt).map_err(RunError::BadInput)?;
        if ids.is_empty() {
            ids.push(self.corpus.tokens[self.corpus.train_end]);
        }
        let start = ids.len();
        let mut rng = text::Rng::new(seed);
        let t = self.context;
        let cached = self.kv_cache && model.can_decode();
        let next = |feed_ids: &[usize], rng: &mut text::Rng| -> Result<usize, RunError> {
            let n = feed_ids.len();
            let x = text::token_tensor(&[feed_ids.to_vec()], &device);
            let feed = HashMap::from([(self.field.clone(), Value::I2(x))]);
            let l = text::run_logits(&model, &feed, None)?;
            let last: Vec<f32> = l.slice([0..1, n - 1..n]).into_data().iter::<f32>().collect();
            Ok(text::pick(&last, temperature, self.top_k, rng))
        };
        if cached {
            // A KV cache: feed the window once, then one token at a time; when the position
            // table is full, start again from the last half of the window.
            let session = crate::engine::decode::Guard::new();
            let mut pending: Vec<usize> = ids[ids.len().saturating_sub(t)..].to_vec();
            let mut in_cache = 0;
            for _ in 0..length {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                if in_cache + pending.len() > t {
                    session.restart();
                    pending = ids[ids.len() - (t / 2).max(1)..].to_vec();
                    in_cache = 0;
                }
                let tok = next(&pending, &mut rng)?;
                crate::engine::decode::advance(pending.len());
                in_cache += pending.len();
                ids.push(tok);
                pending = vec![tok];
            }
        } else {
            for _ in 0..length {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                // The last T tokens (fewer while the text is shorter).
                let tail = ids[ids.len().saturating_sub(t)..].to_vec();
                let tok = next(&tail, &mut rng)?;
                ids.push(tok);
            }
        }
        Ok(Text {
            prompt: vocab.decode(&ids[..start]),
            text: vocab.decode(&ids[start..]),
            how: format!(
                "step {}: temperature {}, top-k {}, context {} tokens{}",
                self.t.step,
                temperature,
                if self.top_k == 0 {
                    "all".to_owned()
                } else {
                    self.top_k.to_string()
                },
                t,
                if cached { ", KV cache" } else { "" }
            ),
        })
    }
}

impl LanguageModel {
    /// Heat maps of the chosen attention layer's weights over the last characters of `text`
    /// (one block per head, side by side); `None` when the graph has no attention layer.
    pub fn attention(&self, text: &str) -> Result<Option<Picture>, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let mut ids = self.corpus.vocab.encode(text).map_err(RunError::BadInput)?;
        let t = self.context;
        if ids.is_empty() {
            return Ok(None);
        }
        // The window the model saw last: the final T tokens.
        if ids.len() > t {
            ids.drain(..ids.len() - t);
        }
        let x = text::token_tensor(&[ids], &device);
        let feed = HashMap::from([(self.field.clone(), Value::I2(x))]);
        let (out, maps) = crate::engine::record_attention(|| text::run_logits(&model, &feed, None));
        out?;
        let Some(map) = (match self.attention_layer {
            0 => maps.last(),
            n => maps.get(n - 1),
        }) else {
            return Ok(None);
        };
        let [_, heads, tq, tk] = map.dims();
        let w: Vec<f32> = map.clone().into_data().iter::<f32>().collect();
        Ok(Some(text::attention_picture(&w, heads, tq, tk, ATTENTION_WINDOW, CELL)))
    }
}

/// Steps the expert-load view shows (the most recent).
const LOAD_STEPS: usize = 400;
/// Pixels per expert row in the expert-load view.
const LOAD_ROW: usize = 8;

/// The expert-load view: one row per expert of every mixture-of-experts layer (layers apart by
/// a gap), one column per step (the last 400); white is an even share, blue less, red more
/// (full red: twice the even share or more). `None` when the graph has no such layer.
pub fn expert_load_picture(history: &[Vec<Vec<f32>>]) -> Option<Picture> {
    let last = history.last()?;
    let steps = &history[history.len().saturating_sub(LOAD_STEPS)..];
    let width = steps.len();
    let rows: usize = last.iter().map(Vec::len).sum();
    let gap = 3;
    let height = rows * LOAD_ROW + last.len().saturating_sub(1) * gap;
    let mut rgb = vec![30u8; width * height * 3];
    for (x, step) in steps.iter().enumerate() {
        let mut y0 = 0;
        for layer in step {
            let even = 1.0 / layer.len().max(1) as f32;
            for (e, &share) in layer.iter().enumerate() {
                let v = ((share / even) - 1.0).clamp(-1.0, 1.0);
                let c = if v >= 0.0 {
                    [255, (255.0 * (1.0 - v)) as u8, (255.0 * (1.0 - v)) as u8]
                } else {
                    [(255.0 * (1.0 + v)) as u8, (255.0 * (1.0 + v)) as u8, 255]
                };
                for dy in 0..LOAD_ROW {
                    let at = ((y0 + e * LOAD_ROW + dy) * width + x) * 3;
                    if at + 3 <= rgb.len() {
                        rgb[at..at + 3].copy_from_slice(&c);
                    }
                }
            }
            y0 += layer.len() * LOAD_ROW + gap;
        }
    }
    Some(Picture { width, height, rgb })
}

impl Recipe for LanguageModel {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (starts, _) = self.t.next(&device);
        let (feed, targets) = self.windows(&starts, &device);
        let logits = text::run_logits(self.t.net.model()?, &feed, Some(cx))?;
        if !cx.router_loads.is_empty() {
            self.loads.push(std::mem::take(&mut cx.router_loads));
        }
        let loss = text::cross_entropy(logits, targets);
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let (lo, hi) = (self.corpus.train_end, self.corpus.tokens.len() - self.context - 1);
        let n = VAL_WINDOWS.min(hi - lo).max(1);
        let starts: Vec<usize> = (0..n).map(|k| lo + k * (hi - lo) / n).collect();
        let (mut sum, mut seen) = (0f64, 0usize);
        for chunk in starts.chunks(EVAL_BATCH) {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let (feed, targets) = self.windows(chunk, &device);
            let l = text::run_logits(&model, &feed, None)?;
            let loss: f32 = text::cross_entropy(l, targets).into_scalar();
            sum += f64::from(loss) * chunk.len() as f64;
            seen += chunk.len();
        }
        let val = sum / seen.max(1) as f64;
        let mut scalars = Scalars::new();
        scalars.insert("val_loss".into(), val);
        scalars.insert("val_bits_per_char".into(), val / std::f64::consts::LN_2);
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let text = self.sample(&self.prompt, self.length, self.temperature, self.seed, cancel)?;
        let mut views = Vec::new();
        if let Some(p) = self.attention(&format!("{}{}", text.prompt, text.text))? {
            views.push(("attention".to_owned(), View::Image(p)));
        }
        views.insert(0, ("text".to_owned(), View::Text(text)));
        if let Some(p) = expert_load_picture(&self.loads) {
            views.push(("experts".to_owned(), View::Image(p)));
        }
        Ok(views)
    }

    fn generate(&mut self, request: &GenerateRequest, cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        let prompt = request.prompt.clone().unwrap_or_else(|| self.prompt.clone());
        let temperature = request.temperature.unwrap_or(self.temperature).clamp(0.05, 2.0);
        let text = self.sample(&prompt, self.length, temperature, request.seed, cancel)?;
        Ok(Some(View::Text(text)))
    }
}
