//! `strata train`: runs the trainer thread (the same engine as the app) and reports progress.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use strata::engine::device::{self, DeviceChoice};
use strata::engine::trainer::{Event, Request, RunConfig, Trainer};

/// The options of `strata train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// A .strata file or a preset id.
    pub target: String,
    /// Training steps (default: the project's).
    #[arg(long)]
    pub steps: Option<u64>,
    /// auto (a real GPU if present, else CPU), cpu or gpu.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Random seed (default: the project's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write one JSON object per training step to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Evaluate on the validation split every N steps (0: at the end only).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// Write a checkpoint (weights per node, optimizer state, step) here at the end and on Ctrl-C.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint in this folder (nodes changed since keep fresh weights).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Write the recipe's final samples here: a PNG (image grids, scatters drawn) or, for a
    /// `.txt` path, text (tables, matrices).
    #[arg(long)]
    pub samples: Option<PathBuf>,
    /// Time every node's forward and backward pass (at step 10, then every 250 steps) and print
    /// where the time goes when the run ends.
    #[arg(long)]
    pub profile: bool,
}

/// Trains `target` and prints one JSON summary line on stdout.
pub fn run(args: TrainArgs) -> ExitCode {
    let TrainArgs {
        samples,
        target,
        steps,
        device: device_arg,
        seed,
        metrics,
        eval_every,
        checkpoint,
        resume,
        profile,
    } = args;
    let metrics = metrics.as_deref();
    let target = target.as_str();
    let choice: DeviceChoice = match device_arg.parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Before any thread starts: keep library code off software wgpu devices when on CPU.
    if choice == DeviceChoice::Cpu || (choice == DeviceChoice::Auto && device::probe_gpu().is_none()) {
        device::prefer_cpu_backend();
    }
    let project = match crate::resolve(target) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    // What this recipe reports: the CLI prints what it declares and names no recipe itself.
    let recipe = strata::catalog::recipe(&project.recipe.id);
    let channels: Vec<&str> = recipe
        .map(|r| r.views.iter().map(|v| v.channel).collect())
        .unwrap_or_default();
    let step_keys: Vec<&str> = recipe
        .map(|r| {
            r.series
                .iter()
                .filter(|s| s.when == strata::catalog::When::Step)
                .map(|s| s.key)
                .collect()
        })
        .unwrap_or_default();
    let report = strata::shape::check(&project);
    if !report.is_valid() {
        eprintln!("error: {} is not a valid graph:", project.name);
        for d in report
            .diagnostics
            .iter()
            .filter(|d| d.severity == strata::shape::Severity::Error)
        {
            let fix = d
                .fix
                .as_ref()
                .map(|f| format!(" (fix: {})", f.label))
                .unwrap_or_default();
            eprintln!("  {}{}", d.message, fix);
        }
        return ExitCode::from(2);
    }
    let mut metrics_file = match metrics.map(std::fs::File::create).transpose() {
        Ok(f) => f.map(std::io::BufWriter::new),
        Err(e) => {
            eprintln!("error: cannot write the metrics file: {e}");
            return ExitCode::from(2);
        }
    };
    let trainer = match Trainer::spawn(|| {}) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot start the trainer thread: {e}");
            return ExitCode::from(1);
        }
    };
    // Ctrl-C asks the trainer to stop; the run then ends normally and writes its checkpoint.
    let interrupted = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted)) {
        eprintln!("warning: Ctrl-C will not write a checkpoint: {e}");
    }
    let config = RunConfig {
        steps,
        seed,
        device: choice,
        eval_every,
        checkpoint,
        resume,
        cost_every: if profile { 250 } else { 0 },
        // Relative data paths in a project file mean "next to the file".
        data_dir: std::path::Path::new(target)
            .is_file()
            .then(|| std::path::Path::new(target).parent().map(std::path::Path::to_path_buf))
            .flatten(),
        ..RunConfig::default()
    };
    trainer.send(Request::Start {
        run_id: 1,
        project: Box::new(project.clone()),
        config,
    });
    let mut device_name = String::new();
    let mut total = 0u64;
    let started = Instant::now();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    let mut stop_sent = false;
    let mut wrote_samples = false;
    let mut last_views: std::collections::HashMap<String, strata::telemetry::View> = Default::default();
    let mut last_cost: Option<(u64, Vec<strata::engine::profile::NodeCost>)> = None;
    loop {
        if interrupted.load(Ordering::Relaxed) && !stop_sent {
            eprintln!("\ninterrupted: stopping after the current step");
            trainer.send(Request::Stop);
            stop_sent = true;
        }
        let Some(event) = trainer.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        match event {
            Event::Started {
                device, params, steps, ..
            } => {
                eprintln!("training on {device}: {params} parameters, {steps} steps");
                device_name = device;
                total = steps;
            }
            Event::Step { step, scalars, .. } => {
                if let Some(f) = metrics_file.as_mut() {
                    let mut line = serde_json::Map::new();
                    line.insert("step".into(), step.into());
                    for (k, v) in &scalars {
                        line.insert(k.clone(), (*v).into());
                    }
                    if writeln!(f, "{}", serde_json::Value::Object(line)).is_err() {
                        eprintln!("error: writing the metrics file failed");
                        return ExitCode::from(1);
                    }
                }
                if last_draw.elapsed() > Duration::from_millis(200) || step == total {
                    last_draw = Instant::now();
                    let elapsed = started.elapsed().as_secs_f64();
                    let eta = if step > 0 {
                        elapsed / step as f64 * (total.saturating_sub(step)) as f64
                    } else {
                        0.0
                    };
                    let shown: String = step_keys
                        .iter()
                        .filter_map(|k| scalars.get(*k).map(|v| format!("  {k} {v:.4}")))
                        .collect();
                    eprint!("\r[{step:>6}/{total}]{shown}  ETA {eta:.0}s   ");
                }
            }
            Event::Eval { step, scalars, .. } => {
                let shown: Vec<String> = scalars.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
                eprintln!("\nstep {step}: {}", shown.join(", "));
            }
            Event::Finished {
                steps,
                seconds,
                final_loss,
                eval,
                stopped,
                ..
            } => {
                if let Some((at, cost)) = &last_cost {
                    print_cost(&project, &report, *at, cost);
                }
                if let Some(path) = &samples {
                    // The recipe's first channel goes to the path given, the others beside it.
                    for (k, channel) in channels.iter().enumerate() {
                        let Some(view) = last_views.get(*channel) else { continue };
                        let target = if k == 0 {
                            path.clone()
                        } else {
                            // Each channel in a form it has: a picture beside a text, text beside a picture.
                            let mut p = beside(path, channel);
                            let is_text = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
                            if is_text && view.to_text().is_none() {
                                p.set_extension("png");
                            } else if !is_text && view.to_picture().is_none() && view.to_text().is_some() {
                                p.set_extension("txt");
                            }
                            p
                        };
                        write_samples(&target, view);
                        wrote_samples = true;
                    }
                }
                if samples.is_some() && !wrote_samples {
                    eprintln!("\nnote: this run produced no samples to write (the data are not images)");
                }
                if let Some(f) = metrics_file.as_mut() {
                    let _ = f.flush();
                }
                let mut metrics = serde_json::Map::new();
                for (k, v) in eval.iter().flatten() {
                    metrics.insert(k.clone(), (*v).into());
                }
                println!(
                    "{}",
                    serde_json::json!({
                        "steps": steps,
                        "seconds": seconds,
                        "device": device_name,
                        "final_loss": final_loss,
                        "stopped": stopped,
                        "metrics": metrics,
                    })
                );
                return ExitCode::SUCCESS;
            }
            Event::Failed { reason, bad_input, .. } => {
                eprintln!("\nerror: {reason}");
                return ExitCode::from(if bad_input { 2 } else { 1 });
            }
            Event::Checkpointed { path, step, .. } => {
                eprintln!("\ncheckpoint at step {step} written to {}", path.display());
            }
            Event::Resumed { step, fresh, .. } => {
                eprintln!("resumed at step {step}");
                if !fresh.is_empty() {
                    eprintln!("  nodes starting fresh (new or changed): {}", fresh.join(", "));
                }
            }
            Event::View { channel, view, .. } => {
                last_views.insert(channel, view);
            }
            Event::Cost { step, nodes, .. } => last_cost = Some((step, nodes)),
            // The CLI never asks for samples on demand.
            Event::State { .. } | Event::Activation { .. } | Event::Activity { .. } | Event::Generated { .. } => {}
        }
    }
}

/// `samples.png` + `latent` → `samples-latent.png`.
fn beside(path: &std::path::Path, channel: &str) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("samples");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
    path.with_file_name(format!("{stem}-{channel}.{ext}"))
}

/// Writes a view as a PNG, or as text when the path ends in `.txt`.
fn write_samples(path: &std::path::Path, view: &strata::telemetry::View) {
    let as_text = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    let result = if as_text {
        match view.to_text() {
            Some(t) => std::fs::write(path, t).map_err(|e| e.to_string()),
            None => Err(format!(
                "a {} view cannot be written as text — use a .png path",
                view.kind()
            )),
        }
    } else {
        match view.to_picture() {
            Some(p) => match image::RgbImage::from_raw(p.width as u32, p.height as u32, p.rgb) {
                Some(img) => img.save(path).map_err(|e| e.to_string()),
                None => Err("the sample picture was malformed".into()),
            },
            None => Err(format!("a {} view cannot be drawn — use a .txt path", view.kind())),
        }
    };
    match result {
        Ok(()) => eprintln!("\nsamples written to {}", path.display()),
        Err(e) => eprintln!("\nwarning: cannot write {}: {e}", path.display()),
    }
}

/// Where the time goes: the last timing pass as a table on stderr, slowest first.
fn print_cost(
    project: &strata::doc::Project,
    report: &strata::shape::Report,
    step: u64,
    cost: &[strata::engine::profile::NodeCost],
) {
    let total: f64 = cost.iter().map(|c| c.total_ms()).sum();
    let mut rows: Vec<_> = cost.iter().collect();
    rows.sort_by(|a, b| b.total_ms().total_cmp(&a.total_ms()));
    eprintln!("\nwhere the time goes (each node timed alone at step {step}; {total:.1} ms in all):");
    eprintln!(
        "{:<32} {:>12} {:>12} {:>12} {:>7}",
        "NODE", "MACS/EX", "FORWARD MS", "BACKWARD MS", "SHARE"
    );
    for c in rows {
        let title = project
            .graph
            .node(c.node)
            .map(|n| strata::catalog::display_title(project, n))
            .unwrap_or_default();
        let macs = report.node(c.node).map_or(0, |r| r.macs);
        eprintln!(
            "{:<32} {:>12} {:>12.2} {:>12.2} {:>6.1}%",
            title.chars().take(32).collect::<String>(),
            strata::catalog::human_count(macs),
            c.forward_ms,
            c.backward_ms,
            100.0 * c.total_ms() / total.max(1e-9)
        );
    }
}
