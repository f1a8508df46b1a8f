//! Judging a class-conditioned generator with a trained classifier: draw samples of every class
//! from a checkpoint, have a classifier (e.g. LeNet-5 trained by Strata) read them, and count
//! how many it reads confidently and as the class that was asked for.

use super::RunError;
use super::model::compile;
use super::recipes::{self, GenerateRequest};
use super::value::Value;
use crate::doc::Project;
use crate::telemetry::{Picture, View};
use burn::tensor::{Tensor, TensorData, activation};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// What to draw and how to judge it.
#[derive(Clone, Debug)]
pub struct EvalSamples<'a> {
    /// The generator's project (its graph, recipe settings and dataset).
    pub generator: &'a Project,
    /// Its checkpoint folder.
    pub generator_checkpoint: &'a Path,
    /// The classifier's project (an image classifier on the same kind of images).
    pub classifier: &'a Project,
    /// Its checkpoint folder.
    pub classifier_checkpoint: &'a Path,
    /// Relative data paths resolve here.
    pub data_dir: Option<&'a Path>,
    /// Samples in all, spread over the classes in turn.
    pub count: usize,
    /// Seed of the first class's noise (class c uses seed + c).
    pub seed: u64,
    /// Guidance scale (`None`: the generator's setting).
    pub guidance: Option<f64>,
    /// Sampler steps (`None`: the generator's setting).
    pub steps: Option<usize>,
    /// Confidence that counts as sure.
    pub threshold: f64,
}

/// One sample as the classifier read it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Reading {
    /// The class asked for.
    pub requested: usize,
    /// The class the classifier reads.
    pub read: usize,
    /// Its probability for that class.
    pub confidence: f64,
}

/// The figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SampleScores {
    /// Every sample, class by class.
    pub readings: Vec<Reading>,
    /// Confidence that counted as sure.
    pub threshold: f64,
    /// Samples read with at least that confidence.
    pub confident: usize,
    /// Samples read as the class asked for.
    pub requested_class: usize,
    /// Mean confidence.
    pub mean_confidence: f64,
    /// Seconds spent sampling.
    pub sampling_seconds: f64,
}

/// Every sample drawn, one row per class (for a file).
pub struct SampleSheet {
    /// The samples, one class per row (rows shorter than the longest end in black tiles).
    pub picture: Picture,
}

/// Cuts the `n` tiles of side `h × w` out of a grid drawn by `image_grid` (2-pixel gaps, `cols`
/// wide); grey values 0–1.
pub fn tiles(p: &Picture, n: usize, h: usize, w: usize, cols: usize) -> Vec<Vec<f32>> {
    let gap = 2;
    (0..n)
        .map(|k| {
            let (ox, oy) = (gap + (k % cols) * (w + gap), gap + (k / cols) * (h + gap));
            let mut px = Vec::with_capacity(h * w);
            for y in 0..h {
                for x in 0..w {
                    let o = ((oy + y) * p.width + ox + x) * 3;
                    px.push(p.rgb.get(o).map_or(0.0, |v| f32::from(*v) / 255.0));
                }
            }
            px
        })
        .collect()
}

/// Draws `count` samples spread over the classes and has the classifier read them.
pub fn eval_samples(job: &EvalSamples, cancel: &AtomicBool) -> Result<(SampleScores, SampleSheet), RunError> {
    let bad = RunError::BadInput;
    let data =
        crate::data::load(&job.generator.dataset.id, &job.generator.dataset.options, job.data_dir).map_err(bad)?;
    if data.shape.len() != 3 || data.shape[0] != 1 {
        return Err(bad(format!(
            "the generator's data {} are not grey images; eval-samples reads digits",
            data.name
        )));
    }
    let (h, w) = (data.shape[1], data.shape[2]);
    let classes = data.classes.len().max(1);
    let mut generator = recipes::load(job.generator, job.generator_checkpoint, job.data_dir)?;

    // The classifier, in inference mode, with the checkpoint's weights on every node.
    let cpu = super::device::select(super::DeviceChoice::Cpu).map_err(|e| RunError::Failed(e.to_string()))?;
    let model = compile(job.classifier, &cpu.device).map_err(|e| bad(e.to_string()))?;
    let (model, _, fresh) = model.load_nodes(job.classifier_checkpoint);
    if !fresh.is_empty() {
        return Err(bad(format!(
            "the classifier checkpoint {} has no weights for {} node(s) ({}) — train the classifier project and pass its checkpoint",
            job.classifier_checkpoint.display(),
            fresh.len(),
            fresh.join(", ")
        )));
    }
    let input = model
        .plan
        .inputs
        .iter()
        .find(|i| i.source == "dataset" && i.dims.len() == 4)
        .ok_or_else(|| bad("the classifier has no image Input [B, C, H, W]".into()))?;
    let (ch, ih, iw) = match input.dims[1..] {
        [Some(c), Some(ih), Some(iw)] if c == 1 && ih >= h && iw >= w => (c, ih, iw),
        _ => {
            return Err(bad(format!(
                "the classifier's Input must take [B, 1, H, W] with H ≥ {h} and W ≥ {w}"
            )));
        }
    };
    let field = input.field.clone();
    let role = model
        .plan
        .roles()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| bad("the classifier has no Output".into()))?;

    let start = std::time::Instant::now();
    let mut readings = Vec::with_capacity(job.count);
    let mut rows: Vec<Vec<Vec<f32>>> = Vec::new();
    let (py, px) = ((ih - h) / 2, (iw - w) / 2);
    for c in 0..classes {
        let n = job.count / classes + usize::from(c < job.count % classes);
        if n == 0 {
            continue;
        }
        let request = GenerateRequest {
            seed: job.seed + c as u64,
            count: n,
            class: Some(c as i64),
            guidance: job.guidance,
            steps: job.steps,
            ..GenerateRequest::default()
        };
        let Some(View::Image(pic)) = generator.generate(&request, cancel)? else {
            return Err(bad("the generator draws no images from this checkpoint".into()));
        };
        let cols = (n as f64).sqrt().ceil() as usize;
        // Centre each tile in the classifier's input (LeNet-5 reads 32 × 32: 2 pixels of zero
        // padding around a 28 × 28 digit, as it was trained).
        let mut batch = vec![0f32; n * ch * ih * iw];
        let cut = tiles(&pic, n, h, w, cols);
        for (k, tile) in cut.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    batch[k * ih * iw + (y + py) * iw + x + px] = tile[y * w + x];
                }
            }
        }
        let feed = [(
            field.clone(),
            Value::F4(Tensor::from_data(TensorData::new(batch, [n, ch, ih, iw]), &cpu.device)),
        )]
        .into_iter()
        .collect();
        let out = model
            .run(Some(&[role.as_str()]), &feed, false, None)
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let logits = out
            .outputs
            .get(&role)
            .cloned()
            .ok_or_else(|| RunError::Failed("the classifier gave no output".into()))?
            .f2()
            .map_err(RunError::Failed)?;
        let k = logits.dims()[1];
        let probs: Vec<f32> = activation::softmax(logits, 1).into_data().iter::<f32>().collect();
        for row in probs.chunks(k) {
            let (read, p) = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or((0, 0.0), |(i, p)| (i, *p));
            readings.push(Reading {
                requested: c,
                read,
                confidence: f64::from(p),
            });
        }
        rows.push(cut);
    }
    let cols = rows.iter().map(Vec::len).max().unwrap_or(1);
    let mut flat = Vec::with_capacity(rows.len() * cols * h * w);
    for row in &rows {
        for k in 0..cols {
            match row.get(k) {
                Some(t) => flat.extend_from_slice(t),
                None => flat.extend(std::iter::repeat_n(0.0, h * w)),
            }
        }
    }
    let picture = super::recipes::common::image_grid(&flat, rows.len() * cols, [1, h, w], cols, (0.0, 1.0));
    let confident = readings.iter().filter(|r| r.confidence >= job.threshold).count();
    let requested_class = readings.iter().filter(|r| r.read == r.requested).count();
    let mean_confidence = readings.iter().map(|r| r.confidence).sum::<f64>() / readings.len().max(1) as f64;
    Ok((
        SampleScores {
            readings,
            threshold: job.threshold,
            confident,
            requested_class,
            mean_confidence,
            sampling_seconds: start.elapsed().as_secs_f64(),
        },
        SampleSheet { picture },
    ))
}
