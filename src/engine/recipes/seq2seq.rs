//! The `seq2seq` recipe: teacher-forced cross-entropy on (source, target) pairs; answers written
//! greedily (validation exact match) or by beam search; the alignment of the chosen attention
//! layer as a view.

use super::common::Trainee;
use super::text;
use super::{Evaluation, GenerateRequest, Pending, Recipe, RecipeEngine, RecipeInit, StepCx, setting};
use crate::catalog::DType;
use crate::catalog::recipes::DataKind;
use crate::catalog::recipes::seq2seq::SPEC;
use crate::data::sequences::{self, BOS, EOS, PAD};
use crate::data::{Dataset, Features, Target};
use crate::engine::RunError;
use crate::engine::model::{GraphModel, compile};
use crate::engine::value::Value;
use crate::telemetry::{Picture, Scalars, Text, View};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Registers the loop under the declaration's id.
pub const ENGINE: RecipeEngine = RecipeEngine {
    id: SPEC.id,
    start: |init| Ok(Box::new(Seq2Seq::new(init)?)),
};

/// Validation pairs per evaluation.
const VAL_PAIRS: usize = 500;
const EVAL_BATCH: usize = 250;
/// Pixels per alignment cell.
const CELL: usize = 12;
/// Validation pairs the text view answers.
const SHOWN: usize = 4;

/// A run of the sequence-to-sequence recipe.
pub struct Seq2Seq {
    t: Trainee,
    data: Dataset,
    /// Source tokens per pair (the padded length).
    s_len: usize,
    /// Target tokens per pair (with `</s>`, padded).
    t_len: usize,
    targets: Vec<u8>,
    has_mask: bool,
    beam: usize,
    attention_layer: usize,
    prompt: String,
    val: Vec<usize>,
    device: Device,
}

impl Seq2Seq {
    /// Compiles the project and makes its pairs.
    pub fn new(init: &RecipeInit) -> Result<Self, RunError> {
        let project = init.project;
        let data = super::common::load_data(project, init.data_dir, DataKind::Pairs, "seq2seq", "sequence pairs")?;
        let (
            Target::Sequences {
                len: t_len,
                data: targets,
            },
            Features::U8(_),
        ) = (&data.target, &data.features)
        else {
            return Err(RunError::BadInput(format!("'{}' does not pair sequences", data.name)));
        };
        let (t_len, targets) = (*t_len, targets.clone());
        let s_len = data.shape.first().copied().unwrap_or(1);
        let ad = init.device.clone().autodiff();
        ad.seed(init.seed);
        let model = compile(project, &ad).map_err(|e| RunError::BadInput(e.to_string()))?;
        let mut has = (false, false, false);
        for i in model.plan.inputs.iter().filter(|i| i.source == "dataset") {
            match (i.field.as_str(), i.dtype) {
                ("source", DType::Int) => has.0 = true,
                ("target", DType::Int) => has.1 = true,
                ("source_mask", DType::Int) => has.2 = true,
                (f, _) => {
                    return Err(RunError::BadInput(format!(
                        "the Input bound to '{f}' gets nothing from the seq2seq recipe: its integer Inputs are 'source' [B, S], 'target' [B, T] (the target shifted right behind <s>) and, optionally, 'source_mask' [B, S]"
                    )));
                }
            }
        }
        if !(has.0 && has.1) {
            return Err(RunError::BadInput(
                "the seq2seq recipe needs two integer Inputs from the dataset: field 'source' [B, S] and field 'target' [B, T]".into(),
            ));
        }
        let total = data.len();
        let n = data.test_from.unwrap_or(total);
        let mut settings = project.training.clone();
        settings.seed = init.seed;
        let val: Vec<usize> = (n..total).take(VAL_PAIRS).collect();
        let mut s = Seq2Seq {
            t: Trainee::new("model", model, (0..n).collect(), &settings),
            data,
            s_len,
            t_len,
            targets,
            has_mask: has.2,
            beam: text::usize_setting(project, "beam", 4).clamp(1, 64),
            attention_layer: text::usize_setting(project, "attention_layer", 0),
            prompt: setting(project, "prompt")
                .and_then(|v| v.as_text().map(str::to_owned))
                .unwrap_or_default(),
            val,
            device: ad,
        };
        s.source_of(&s.prompt.clone())?;
        let v = s.data.classes.len();
        for field in ["source", "target"] {
            text::check_embedding_rows(project, field, v, &format!("the task's vocabulary of {v}"))?;
        }
        s.check_logits()?;
        Ok(s)
    }

    fn source_row(&self, i: usize) -> Vec<usize> {
        match &self.data.features {
            Features::U8(v) => v[i * self.s_len..(i + 1) * self.s_len]
                .iter()
                .map(|&x| usize::from(x))
                .collect(),
            Features::F32(_) => Vec::new(),
        }
    }

    fn target_row(&self, i: usize) -> Vec<usize> {
        self.targets[i * self.t_len..(i + 1) * self.t_len]
            .iter()
            .map(|&x| usize::from(x))
            .collect()
    }

    /// A typed source as a padded row; an error names a character outside the vocabulary.
    fn source_of(&self, s: &str) -> Result<Vec<usize>, RunError> {
        let mut ids = sequences::encode(s).map_err(|c| {
            RunError::BadInput(format!(
                "the source's character {c:?} is not in the task's vocabulary (digits, '+', space and a–z)"
            ))
        })?;
        if ids.is_empty() {
            return Err(RunError::BadInput("the source is empty: type some digits".into()));
        }
        if ids.len() < self.s_len {
            ids.resize(self.s_len, PAD);
        }
        Ok(ids)
    }

    /// The graph's inputs for source rows and decoder-input rows.
    fn feed(&self, src: &[Vec<usize>], dec: &[Vec<usize>], device: &Device) -> HashMap<String, Value> {
        let mut f = HashMap::from([
            ("source".to_owned(), Value::I2(text::token_tensor(src, device))),
            ("target".to_owned(), Value::I2(text::token_tensor(dec, device))),
        ]);
        if self.has_mask {
            let mask: Vec<Vec<usize>> = src
                .iter()
                .map(|r| r.iter().map(|&t| usize::from(t != PAD)).collect())
                .collect();
            f.insert("source_mask".to_owned(), Value::I2(text::token_tensor(&mask, device)));
        }
        f
    }

    /// Teacher-forcing inputs and targets for pairs `idx`: feed, flat targets, flat weights (0 on padding).
    fn batch(&self, idx: &[usize], device: &Device) -> (HashMap<String, Value>, Tensor<1, Int>, Tensor<1>) {
        let src: Vec<Vec<usize>> = idx.iter().map(|&i| self.source_row(i)).collect();
        let tgt: Vec<Vec<usize>> = idx.iter().map(|&i| self.target_row(i)).collect();
        let dec: Vec<Vec<usize>> = tgt
            .iter()
            .map(|r| std::iter::once(BOS).chain(r[..r.len() - 1].iter().copied()).collect())
            .collect();
        let n = idx.len() * self.t_len;
        let flat: Vec<i64> = tgt.iter().flatten().map(|&t| t as i64).collect();
        let w: Vec<f32> = tgt
            .iter()
            .flatten()
            .map(|&t| if t == PAD { 0.0 } else { 1.0 })
            .collect();
        (
            self.feed(&src, &dec, device),
            Tensor::<1, Int>::from_data(TensorData::new(flat, [n]), device),
            Tensor::<1>::from_data(TensorData::new(w, [n]), device),
        )
    }

    /// Per-token negative log-likelihood `[B·T]` and log-probabilities `[B·T, V]`.
    fn nll(logits: Tensor<3>, targets: Tensor<1, Int>) -> (Tensor<1>, Tensor<2>) {
        let [b, t, v] = logits.dims();
        let logp = crate::engine::kernels::log_softmax(logits.reshape([b * t, v]), 1);
        let picked = logp
            .clone()
            .gather(1, targets.reshape([b * t, 1]))
            .reshape([b * t])
            .neg();
        (picked, logp)
    }

    fn check_logits(&mut self) -> Result<(), RunError> {
        let device = self.device.clone().inner();
        let model = self.t.net.inference()?;
        let (feed, _, _) = self.batch(&[0], &device);
        let l = text::run_logits(&model, &feed, None).map_err(|e| match e {
            RunError::Failed(m) => RunError::BadInput(format!(
                "{m} — the recipe feeds sources of {} tokens and targets of {} tokens",
                self.s_len, self.t_len
            )),
            other => other,
        })?;
        let [_, t, v] = l.dims();
        let want = self.data.classes.len();
        if t != self.t_len || v != want {
            return Err(RunError::BadInput(format!(
                "the 'logits' Output is [1, {t}, {v}] for a target of {} tokens; it must be [B, T, {want}] — {want} is the task's vocabulary (set the last layer's features and the embeddings' sizes to {want})",
                self.t_len
            )));
        }
        Ok(())
    }

    /// Greedy answers to source rows (token ids up to, not including, `</s>`).
    fn greedy(&self, model: &GraphModel, src: &[Vec<usize>], cancel: &AtomicBool) -> Result<Vec<Vec<usize>>, RunError> {
        let device = self.device.clone().inner();
        let t = self.t_len;
        let mut dec: Vec<Vec<usize>> = src
            .iter()
            .map(|_| std::iter::once(BOS).chain(std::iter::repeat_n(PAD, t - 1)).collect())
            .collect();
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); src.len()];
        let mut done = vec![false; src.len()];
        for pos in 0..t {
            if cancel.load(Ordering::Relaxed) || done.iter().all(|&d| d) {
                break;
            }
            let l = text::run_logits(model, &self.feed(src, &dec, &device), None)?;
            let best: Vec<i64> = l
                .slice([0..src.len(), pos..pos + 1])
                .argmax(2)
                .into_data()
                .iter::<i64>()
                .collect();
            for (r, &b) in best.iter().enumerate() {
                if done[r] {
                    continue;
                }
                let b = usize::try_from(b).unwrap_or(EOS);
                if b == EOS {
                    done[r] = true;
                } else {
                    out[r].push(b);
                    if pos + 1 < t {
                        dec[r][pos + 1] = b;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The best answer to one source by beam search with `k` beams, with its log-probability.
    fn beam_search(
        &self,
        model: &GraphModel,
        src: &[usize],
        k: usize,
        cancel: &AtomicBool,
    ) -> Result<(Vec<usize>, f64), RunError> {
        let device = self.device.clone().inner();
        let t = self.t_len;
        // (tokens written, log-probability, finished)
        let mut beams: Vec<(Vec<usize>, f64, bool)> = vec![(Vec::new(), 0.0, false)];
        for pos in 0..t {
            if cancel.load(Ordering::Relaxed) || beams.iter().all(|b| b.2) {
                break;
            }
            let live: Vec<usize> = (0..beams.len()).filter(|&i| !beams[i].2).collect();
            let dec: Vec<Vec<usize>> = live
                .iter()
                .map(|&i| {
                    let mut row = vec![BOS];
                    row.extend(&beams[i].0);
                    row.resize(t, PAD);
                    row
                })
                .collect();
            let srcs = vec![src.to_vec(); live.len()];
            let l = text::run_logits(model, &self.feed(&srcs, &dec, &device), None)?;
            let v = l.dims()[2];
            let logp: Vec<f32> = burn::tensor::activation::log_softmax(l.slice([0..live.len(), pos..pos + 1]), 2)
                .into_data()
                .iter::<f32>()
                .collect();
            let mut next: Vec<(Vec<usize>, f64, bool)> = beams.iter().filter(|b| b.2).cloned().collect();
            for (r, &i) in live.iter().enumerate() {
                for (tok, &lp) in logp[r * v..(r + 1) * v].iter().enumerate() {
                    if tok == PAD || tok == BOS {
                        continue;
                    }
                    let mut toks = beams[i].0.clone();
                    let fin = tok == EOS || pos + 1 == t;
                    if tok != EOS {
                        toks.push(tok);
                    }
                    next.push((toks, beams[i].1 + f64::from(lp), fin));
                }
            }
            next.sort_by(|a, b| b.1.total_cmp(&a.1));
            next.truncate(k);
            beams = next;
        }
        let best = beams.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or_default();
        Ok((best.0, best.1))
    }

    /// The alignment of the chosen attention layer for one source and the answer written to it.
    fn alignment(&self, model: &GraphModel, src: &[usize], answer: &[usize]) -> Result<Option<Picture>, RunError> {
        let device = self.device.clone().inner();
        let mut dec = vec![BOS];
        dec.extend(answer);
        dec.truncate(self.t_len);
        let rows = dec.len();
        dec.resize(self.t_len, PAD);
        let feed = self.feed(&[src.to_vec()], &[dec], &device);
        let (out, maps) = crate::engine::record_attention(|| text::run_logits(model, &feed, None));
        out?;
        let over_source = |m: &&Tensor<4>| m.dims()[3] == src.len();
        let Some(map) = (match self.attention_layer {
            0 => maps.iter().rev().find(over_source),
            n => maps.get(n - 1),
        }) else {
            return Ok(None);
        };
        let [_, heads, tq, tk] = map.dims();
        let w: Vec<f32> = map.clone().into_data().iter::<f32>().collect();
        let cols = src.iter().filter(|&&t| t != PAD).count().clamp(1, tk);
        // Keep the written rows and the source's real tokens.
        let mut kept = Vec::with_capacity(heads * rows * cols);
        for h in 0..heads {
            for i in 0..rows.min(tq) {
                kept.extend_from_slice(&w[(h * tq + i) * tk..(h * tq + i) * tk + cols]);
            }
        }
        let r = rows.min(tq);
        let mut pic = text::attention_picture(&kept, heads, r, cols, r.max(cols), CELL);
        if pic.width == 0 || pic.height == 0 {
            pic = Picture {
                width: 1,
                height: 1,
                rgb: vec![0; 3],
            };
        }
        Ok(Some(pic))
    }

    fn show(ids: &[usize]) -> String {
        let s = sequences::decode(ids);
        if s.is_empty() { "∅".to_owned() } else { s }
    }
}

impl Recipe for Seq2Seq {
    super::trainee_bookkeeping!();

    fn step(&mut self, cx: &mut StepCx) -> Result<Pending, RunError> {
        let device = self.device.clone();
        let (idx, _) = self.t.next(&device);
        let (feed, targets, w) = self.batch(&idx, &device);
        let logits = text::run_logits(self.t.net.model()?, &feed, Some(cx))?;
        let (nll, _) = Self::nll(logits, targets);
        let loss = ((nll * w.clone()).sum() / w.sum().clamp_min(1.0)).reshape([1]);
        self.t.descend(loss, cx, Pending::new())
    }

    fn evaluate(&mut self, cancel: &AtomicBool) -> Result<Evaluation, RunError> {
        let model = self.t.net.inference()?;
        let device = self.device.clone().inner();
        let (mut nll_sum, mut tokens, mut right, mut exact, mut seen) = (0f64, 0f64, 0f64, 0usize, 0usize);
        for chunk in self.val.chunks(EVAL_BATCH) {
            if cancel.load(Ordering::Relaxed) {
                break;
            }
            let (feed, targets, w) = self.batch(chunk, &device);
            let (nll, logp) = Self::nll(text::run_logits(&model, &feed, None)?, targets.clone());
            let n = targets.dims()[0];
            let (a, b): (f32, f32) = ((nll * w.clone()).sum().into_scalar(), w.clone().sum().into_scalar());
            let hit = logp.argmax(1).reshape([n]).equal(targets).float();
            let c: f32 = (hit * w).sum().into_scalar();
            nll_sum += f64::from(a);
            tokens += f64::from(b);
            right += f64::from(c);
            let src: Vec<Vec<usize>> = chunk.iter().map(|&i| self.source_row(i)).collect();
            let answers = self.greedy(&model, &src, cancel)?;
            for (&i, a) in chunk.iter().zip(&answers) {
                let truth: Vec<usize> = self.target_row(i).into_iter().take_while(|&t| t != EOS).collect();
                exact += usize::from(*a == truth);
            }
            seen += chunk.len();
        }
        let mut scalars = Scalars::new();
        scalars.insert("val_loss".into(), nll_sum / tokens.max(1.0));
        scalars.insert("val_token_accuracy".into(), right / tokens.max(1.0));
        scalars.insert("val_exact_match".into(), exact as f64 / seen.max(1) as f64);
        Ok(Evaluation {
            step: self.t.step,
            scalars,
            views: Vec::new(),
        })
    }

    fn views(&mut self, cancel: &AtomicBool) -> Result<Vec<(String, View)>, RunError> {
        let model = self.t.net.inference()?;
        let prompt = self.source_of(&self.prompt)?;
        let (answer, lp) = self.beam_search(&model, &prompt, self.beam, cancel)?;
        let mut lines = vec![format!(
            "{} → {}   (beam {}, log-probability {lp:.2})",
            self.prompt,
            Self::show(&answer),
            self.beam
        )];
        let shown: Vec<usize> = self.val.iter().copied().take(SHOWN).collect();
        let src: Vec<Vec<usize>> = shown.iter().map(|&i| self.source_row(i)).collect();
        let greedy = self.greedy(&model, &src, cancel)?;
        for ((&i, s), g) in shown.iter().zip(&src).zip(&greedy) {
            let (b, _) = self.beam_search(&model, s, self.beam, cancel)?;
            let truth = self.target_row(i);
            let mark = |a: &[usize]| {
                if sequences::decode(a) == sequences::decode(&truth) {
                    "ok"
                } else {
                    "WRONG"
                }
            };
            lines.push(format!(
                "{} → greedy {} {}, beam {} {}   (answer: {})",
                Self::show(s),
                Self::show(g),
                mark(g),
                Self::show(&b),
                mark(&b),
                Self::show(&truth)
            ));
        }
        let text = Text {
            prompt: String::new(),
            text: lines.join("\n"),
            how: format!("step {}: validation sources never seen in training", self.t.step),
        };
        let mut views = vec![("text".to_owned(), View::Text(text))];
        if let Some(p) = self.alignment(&model, &prompt, &answer)? {
            views.push(("alignment".to_owned(), View::Image(p)));
        }
        Ok(views)
    }

    fn generate(&mut self, request: &GenerateRequest, cancel: &AtomicBool) -> Result<Option<View>, RunError> {
        let model = self.t.net.inference()?;
        let prompt = request.prompt.clone().unwrap_or_else(|| self.prompt.clone());
        let src = self.source_of(&prompt)?;
        let (answer, lp) = self.beam_search(&model, &src, self.beam, cancel)?;
        Ok(Some(View::Text(Text {
            prompt: format!("{prompt} → "),
            text: Self::show(&answer),
            how: format!(
                "step {}: beam search with {} beams, log-probability {lp:.2}",
                self.t.step, self.beam
            ),
        })))
    }
}
