//! The `masked_lm` recipe (BERT's pre-training): in each window 15 % of the positions are
//! chosen; 80 % of those become [MASK], 10 % a random token, 10 % stay; cross-entropy is taken at
//! the chosen positions only. Blanks in a text are filled with each position's likeliest token.

use super::common::Trainee;
use super::text::{self, Rng};
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx};
use crate::catalog::recipes::masked_lm::SPEC;
use crate::data::text::Corpus;
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Scalars, Text, View};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(MaskedLm::new(init)?)),
};

/// Validation windows per evaluation (fixed, evenly spread over the validation text).
const VAL_WINDOWS: usize = 256;
const EVAL_BATCH: usize = 32;
/// The character that marks a blank in a prompt.
pub const BLANK: char = '#';

/// A run of the masked-language-model recipe.
pub struct MaskedLm {
    t: Trainee,
    corpus: Corpus,
    field: String,
    context: usize,
    rate: f64,
    prompt: String,
    /// The [MASK] token: the id after the last character.
    mask_id: usize,
    device: Device,
    seed: u64,
}

impl MaskedLm {
    /// Compiles the project and reads its text.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let corpus = text::tokenize(
            text::read_corpus(project, init.data_dir, "masked-language-model")?,
            project,
        )?;
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let field = text::token_field(&model, "masked-language-model")?;
        let context = text::usize_setting(project, "context", 64).max(2);
        let n_train = corpus.train_end;
        let n_val = corpus.tokens.len() - n_train;
        if n_train <= context || n_val <= context {
            return Err(RunError::BadInput(format!(
                "the text is too short for windows of {context} tokens (training part {n_train}, validation part {n_val}) — lower the context setting"
            )));
        }
        let prompt = text::text_setting(project, "prompt", "");
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let pool: Vec<usize> = (0..n_train - context).collect();
        let mask_id = corpus.vocab.len();
        let mut m = MaskedLm {
            t: Trainee::new("model", model, pool, &settings),
            corpus,
            field,
            context,
            rate: text::float_setting(project, "mask_rate", 0.15).clamp(0.01, 0.9),
            prompt,
            mask_id,
            device: ad,
            seed: init.seed,
        };
        m.encode_blanks(&m.prompt.clone())?;
        let what = format!("the text's {} tokens and [MASK] = {}", mask_id, mask_id);
        text::check_embedding_rows(project, &m.field, mask_id + 1, &what)?;
        m.check_logits()?;
        Ok(m)
    }

    /// Inputs, every position's true token `[B·T]` and a weight of 1 at the chosen positions
    /// (0 elsewhere), for windows at `starts`.
    fn batch(
        &self,
        starts: &[usize],
        rng: &mut Rng,
        device: &Device,
    ) -> (HashMap<String, Value>, Tensor<1, Int>, Tensor<1>) {
        let t = self.context;
        let mut rows = Vec::with_capacity(starts.len());
        let mut truth = Vec::with_capacity(starts.len() * t);
        let mut w = vec![0f32; starts.len() * t];
        for (b, &s) in starts.iter().enumerate() {
            let window = &self.corpus.tokens[s..s + t];
            let (input, chosen) = bert_corrupt(window, self.rate, self.mask_id, rng);
            for (i, _) in chosen {
                w[b * t + i] = 1.0;
            }
            truth.extend(window.iter().map(|&v| v as i64));
            rows.push(input);
        }
        let n = truth.len();
        let feed = HashMap::from([(self.field.clone(), Value::I2(text::token_tensor(&rows, device)))]);
        (
            feed,
            Tensor::<1, Int>::from_data(TensorData::new(truth, [n]), device),
            Tensor::<1>::from_data(TensorData::new(w, [n]), device),
        )
    }

    /// Negative log-likelihood of the true token at every position `[B·T]`, and the log-probabilities `[B·T, V]`.
    fn nll(logits: Tensor<3>, truth: Tensor<1, Int>) -> (Tensor<1>, Tensor<2>) {
        let [b, t, v] = logits.dims();
        let logp = crate::engine::kernels::log_softmax(logits.reshape([b * t, v]), 1);
        let nll = logp.clone().gather(1, truth.reshape([b * t, 1])).reshape([b * t]).neg();
        (nll, logp)
    }

    fn check_logits(&mut self) -> Result<(), RunError> {
        let device = self.device.clone().inner();
        let rows = vec![self.corpus.tokens[..self.context].to_vec()];
        let feed = HashMap::from([(self.field.clone(), Value::I2(text::token_tensor(&rows, &device)))]);
        let model = self.t.net.inference()?;
        let context = self.context;
        let l = text::run_logits(&model, &feed, None).map_err(|e| match e {
            RunError::Failed(m) => RunError::BadInput(format!(
                "{m} — the recipe feeds windows of {context} tokens (its 'context' setting), with [MASK] = token {}",
                self.mask_id
            )),
            other => other,
        })?;
        let [_, t, v] = l.dims();
        let chars = self.mask_id;
        if t != self.context || (v != chars && v != chars + 1) {
            return Err(RunError::BadInput(format!(
                "the 'logits' Output is [1, {t}, {v}] for a window of {} tokens; it must be [B, T, {chars}] — {chars} is the text's vocabulary (the embedding needs {} rows: the characters and [MASK])",
                self.context,
                chars + 1
            )));
        }
        Ok(())
    }

    /// Token ids of `s` with blanks ('#') as [MASK]; an error names a character outside the vocabulary.
    fn encode_blanks(&self, s: &str) -> Result<Vec<Option<usize>>, RunError> {
        let mut out = Vec::new();
        for part in s.split(BLANK).enumerate() {
            if part.0 > 0 {
                out.push(None);
            }
            let ids = self
                .corpus
                .vocab
                .encode(part.1)
                .map_err(|e| RunError::BadInput(format!("{e} (blanks to fill are written '{BLANK}')")))?;
            out.extend(ids.into_iter().map(Some));
        }
        Ok(out)
    }

    /// Fills every blank of `tokens` (None) with the model's likeliest token, window by window.
    fn fill(&self, model: &GraphModel, tokens: &[Option<usize>]) -> Result<Vec<usize>, RunError> {
        let device = self.device.clone().inner();
        let t = self.context;
        let pad = self.corpus.vocab.id_of(' ').unwrap_or(0);
        let mut out: Vec<usize> = tokens.iter().map(|x| x.unwrap_or(self.mask_id)).collect();
        for (c, chunk) in tokens.chunks(t).enumerate() {
            if chunk.iter().all(Option::is_some) {
                continue;
            }
            let mut row: Vec<usize> = chunk.iter().map(|x| x.unwrap_or(self.mask_id)).collect();
            row.resize(t, pad);
            let feed = HashMap::from([(self.field.clone(), Value::I2(text::token_tensor(&[row], &device)))]);
            let l = text::run_logits(model, &feed, None)?;
            let best: Vec<i64> = l.argmax(2).into_data().iter::<i64>().collect();
            for (i, x) in chunk.iter().enumerate() {
                if x.is_none() {
                    // Never [MASK] itself: the likeliest character.
                    let b = usize::try_from(best[i]).unwrap_or(0);
                    out[c * t + i] = if b >= self.mask_id { pad } else { b };
                }
            }
        }
        Ok(out)
    }

    /// The text of `tokens` with blanks as '#'.
    fn show_blanks(&self, tokens: &[Option<usize>]) -> String {
        tokens
            .iter()
            .map(|x| {
                x.and_then(|i| self.corpus.vocab.piece(i))
                    .unwrap_or_else(|| BLANK.to_string())
            })
            .collect()
    }

    /// `s`'s blanks filled in by the current weights.
    pub fn fill_text(&self, s: &str) -> Result<Text, RunError> {
        let model = self.t.net.inference()?;
        let tokens = self.encode_blanks(s)?;
        let filled = self.fill(&model, &tokens)?;
        let blanks = tokens.iter().filter(|x| x.is_none()).count();
        Ok(Text {
            prompt: format!("{}\n", self.show_blanks(&tokens)),
            text: self.corpus.vocab.decode(&filled),
            how: format!(
                "step {}: {blanks} blank{} filled with the likeliest character",
                self.t.step,
                if blanks == 1 { "" } else { "s" }
            ),
        })
    }
}

/// BERT's corruption of a window of tokens `0..mask_id`: each position is chosen with
/// probability `rate` (at least one is); a chosen token becomes `mask_id` ([MASK]) 80 % of the
/// time, a random token 10 %, and stays 10 %. Returns the corrupted window and the chosen
/// (position, true token) pairs.
pub fn bert_corrupt(window: &[usize], rate: f64, mask_id: usize, rng: &mut Rng) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut input = window.to_vec();
    let mut chosen: Vec<(usize, usize)> = window
        .iter()
        .enumerate()
        .filter(|_| rng.uniform() < rate)
        .map(|(i, &tok)| (i, tok))
        .collect();
    if chosen.is_empty() && !window.is_empty() {
        let i = rng.below(window.len());
        chosen.push((i, window[i]));
    }
    for &(i, _) in &chosen {
        let u = rng.uniform();
        if u < 0.8 {
            input[i] = mask_id;
        } else if u < 0.9 {
            input[i] = rng.below(mask_id);
        }
    }
    (input, chosen)
}

impl Recipe for MaskedLm {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (starts, seed) = self.t.next(&device);
        let mut rng = Rng::new(seed);
        let (feed, truth, w) = self.batch(&starts, &mut rng, &device);
        let logits = text::run_logits(self.t.net.model()?, &feed, Some(cx))?;
        let (nll, _) = Self::nll(logits, truth);
        let loss = ((nll * w.clone()).sum() / w.sum().clamp_min(1.0)).reshape([1]);
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let (lo, hi) = (self.corpus.train_end, self.corpus.tokens.len() - self.context);
        let n = VAL_WINDOWS.min(hi - lo).max(1);
        let starts: Vec<usize> = (0..n).map(|k| lo + k * (hi - lo) / n).collect();
        // The same corruption at every evaluation, so the curve compares like with like.
        let mut rng = Rng::new(self.seed ^ 0x005E_ED0F_BE27);
        let (mut loss, mut right, mut seen) = (0f64, 0f64, 0f64);
        for chunk in starts.chunks(EVAL_BATCH) {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let (feed, truth, w) = self.batch(chunk, &mut rng, &device);
            let m = truth.dims()[0];
            let (nll, logp) = Self::nll(text::run_logits(&model, &feed, None)?, truth.clone());
            let hit = logp.argmax(1).reshape([m]).equal(truth).float();
            let (a, b, c): (f32, f32, f32) = (
                (nll * w.clone()).sum().into_scalar(),
                (hit * w.clone()).sum().into_scalar(),
                w.sum().into_scalar(),
            );
            loss += f64::from(a);
            right += f64::from(b);
            seen += f64::from(c);
        }
        let mut scalars = Scalars::new();
        scalars.insert("val_loss".into(), loss / seen.max(1.0));
        scalars.insert("val_masked_accuracy".into(), right / seen.max(1.0));
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, _cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let model = self.t.net.inference()?;
        // The prompt, then a validation passage with 15 % of its characters hidden.
        let mut tokens = self.encode_blanks(&self.prompt)?;
        tokens.push(Some(self.corpus.vocab.id_of('\n').unwrap_or(0)));
        let start = self.corpus.train_end + (self.corpus.tokens.len() - self.corpus.train_end) / 3;
        let passage = &self.corpus.tokens[start..(start + 2 * self.context).min(self.corpus.tokens.len())];
        let mut rng = Rng::new(self.seed ^ 0x00B1_A4C5);
        let (mut hidden, mut right) = (0usize, 0usize);
        let first = tokens.len();
        tokens.extend(passage.iter().map(|&tok| {
            if rng.uniform() < self.rate {
                hidden += 1;
                None
            } else {
                Some(tok)
            }
        }));
        let filled = self.fill(&model, &tokens)?;
        for (i, &tok) in passage.iter().enumerate() {
            if tokens[first + i].is_none() && filled[first + i] == tok {
                right += 1;
            }
        }
        let text = Text {
            prompt: format!("{}\n\n", self.show_blanks(&tokens)),
            text: self.corpus.vocab.decode(&filled),
            how: format!(
                "step {}: blanks ('{BLANK}') filled with the likeliest character; the validation passage's {hidden} hidden characters: {right} right",
                self.t.step
            ),
        };
        Ok(vec![("text".to_owned(), View::Text(text))])
    }

    fn generate(&mut self, request: &GenerateRequest, _cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        let prompt = request.prompt.clone().unwrap_or_else(|| self.prompt.clone());
        Ok(Some(View::Text(self.fill_text(&prompt)?)))
    }
}
