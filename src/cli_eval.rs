//! `strata eval-samples`: draws samples of every class from a generator's checkpoint and has a
//! classifier trained by Strata read them; prints how many it reads confidently and as the class
//! that was asked for.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use strata::engine::eval_samples::{EvalSamples, eval_samples};

/// The options of `strata eval-samples`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// The generator: a .strata file or a preset id (a class-conditioned image generator).
    pub generator: String,
    /// The generator's checkpoint folder (`strata train ID --checkpoint DIR`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The classifier: a .strata file or a preset id.
    #[arg(long, default_value = "lenet5")]
    pub classifier: String,
    /// The classifier's checkpoint folder.
    #[arg(long)]
    pub classifier_checkpoint: PathBuf,
    /// Samples in all, spread over the classes in turn.
    #[arg(long, default_value_t = 64)]
    pub count: usize,
    /// Seed of the noise (class c draws with seed + c).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Classifier-free guidance scale (default: the generator's setting).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// Sampler steps (default: the generator's setting).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Confidence that counts as sure.
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f64,
    /// Write the samples here as a PNG, one row per class.
    #[arg(long)]
    pub samples: Option<PathBuf>,
}

/// Runs the evaluation; prints a table per class on stderr and one JSON line on stdout.
/// Exit 0 done, 1 failed, 2 bad input.
pub fn run(args: EvalArgs) -> ExitCode {
    let load = |target: &str| crate::resolve(target);
    let (generator, classifier) = match (load(&args.generator), load(&args.classifier)) {
        (Ok(g), Ok(c)) => (g, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let data_dir = std::path::Path::new(&args.generator).parent().map(PathBuf::from);
    let job = EvalSamples {
        generator: &generator,
        generator_checkpoint: &args.checkpoint,
        classifier: &classifier,
        classifier_checkpoint: &args.classifier_checkpoint,
        data_dir: data_dir.as_deref(),
        count: args.count.max(1),
        seed: args.seed,
        guidance: args.guidance,
        steps: args.steps,
        threshold: args.threshold,
    };
    let (scores, sheet) = match eval_samples(&job, &AtomicBool::new(false)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                strata::engine::RunError::BadInput(_) => 2,
                _ => 1,
            });
        }
    };
    eprintln!("{:>5} {:>6} {:>10} {:>14}", "class", "drawn", "read as it", "confident");
    let classes = scores.readings.iter().map(|r| r.requested).max().map_or(0, |m| m + 1);
    for c in 0..classes {
        let of: Vec<_> = scores.readings.iter().filter(|r| r.requested == c).collect();
        eprintln!(
            "{c:>5} {:>6} {:>10} {:>14}",
            of.len(),
            of.iter().filter(|r| r.read == c).count(),
            of.iter().filter(|r| r.confidence >= scores.threshold).count()
        );
    }
    let n = scores.readings.len().max(1) as f64;
    eprintln!(
        "{} samples in {:.1} s: {} ({:.0} %) read with confidence ≥ {}, {} ({:.0} %) read as the class asked for, mean confidence {:.3}",
        scores.readings.len(),
        scores.sampling_seconds,
        scores.confident,
        100.0 * scores.confident as f64 / n,
        scores.threshold,
        scores.requested_class,
        100.0 * scores.requested_class as f64 / n,
        scores.mean_confidence
    );
    if let Some(path) = &args.samples {
        write_sheet(path, sheet.picture);
    }
    println!(
        "{}",
        serde_json::json!({
            "samples": scores.readings.len(),
            "threshold": scores.threshold,
            "confident": scores.confident,
            "confident_fraction": scores.confident as f64 / n,
            "requested_class": scores.requested_class,
            "requested_fraction": scores.requested_class as f64 / n,
            "mean_confidence": scores.mean_confidence,
            "sampling_seconds": scores.sampling_seconds,
        })
    );
    ExitCode::SUCCESS
}

/// Writes the sheet as a PNG.
fn write_sheet(path: &std::path::Path, p: strata::telemetry::Picture) {
    let result = match image::RgbImage::from_raw(p.width as u32, p.height as u32, p.rgb) {
        Some(img) => img.save(path).map_err(|e| e.to_string()),
        None => Err("the sample sheet was malformed".into()),
    };
    match result {
        Ok(()) => eprintln!("samples written to {}", path.display()),
        Err(e) => eprintln!("warning: cannot write {}: {e}", path.display()),
    }
}
