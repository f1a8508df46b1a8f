//! The `strata` command: no subcommand opens the app; `presets` and `check` work headless.

use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use strata::doc::{LoadError, Project};
use strata::shape::{self, Severity};

#[derive(Parser)]
#[command(
    name = "strata",
    version,
    about = "Design, check and train neural networks on a node graph"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// A .strata project to open in the app.
    file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the built-in presets.
    Presets {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check a project file or preset: shapes, parameter counts, diagnostics.
    /// Exit 0 valid, 1 invalid graph, 2 unreadable input.
    Check {
        /// A .strata file or a preset id.
        target: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draw a project file or preset as a picture (PNG or SVG by the output's extension), for
    /// papers and slides. Exit 0 written, 2 bad input.
    Picture {
        /// A .strata file or a preset id.
        target: String,
        /// Where to write: name.png or name.svg.
        #[arg(short, long)]
        output: PathBuf,
        /// Draw a block's inside instead of the top level (the block id).
        #[arg(long)]
        block: Option<String>,
        /// Lay the graph out afresh first (top to bottom) instead of using its saved positions.
        #[arg(long)]
        layout: bool,
    },
    /// Train a project file or preset. Exit 0 done, 1 training failed, 2 bad input.
    #[cfg(feature = "engine")]
    Train(cli_train::TrainArgs),
    /// Draw samples of every class from a generator's checkpoint and have a trained classifier
    /// read them: how many it reads with confidence, and as the class asked for.
    #[cfg(feature = "engine")]
    EvalSamples(cli_eval::EvalArgs),
    /// Export a project file or preset to PyTorch (a folder: model.py, train.py, weights) or
    /// ONNX. Exit 0 written, 2 bad input.
    #[cfg(feature = "engine")]
    Export(cli_export::ExportArgs),
    /// Open an ONNX model as a Strata project (weights as a checkpoint beside it; operators with
    /// no Strata layer kept as ONNX nodes). Exit 0 written, 2 bad input.
    #[cfg(feature = "engine")]
    Import(cli_export::ImportArgs),
    /// Load weights from a .safetensors file into a project, by the PyTorch names of its export
    /// (what train.py saves) or by `node title.field`; written as a checkpoint beside the
    /// project. Exit 0 written, 2 bad input.
    #[cfg(feature = "engine")]
    Weights(cli_export::WeightsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Presets { json }) => presets(json),
        Some(Command::Check { target, json }) => check(&target, json),
        Some(Command::Picture {
            target,
            output,
            block,
            layout,
        }) => picture(&target, &output, block.as_deref(), layout),
        #[cfg(feature = "engine")]
        Some(Command::Train(args)) => cli_train::run(args),
        #[cfg(feature = "engine")]
        Some(Command::EvalSamples(args)) => cli_eval::run(args),
        #[cfg(feature = "engine")]
        Some(Command::Export(args)) => cli_export::run(args),
        #[cfg(feature = "engine")]
        Some(Command::Import(args)) => cli_export::import(args),
        #[cfg(feature = "engine")]
        Some(Command::Weights(args)) => cli_export::weights(args),
        None => open_app(cli.file.as_deref()),
    }
}

#[cfg(feature = "engine")]
mod cli_eval;
#[cfg(feature = "engine")]
mod cli_export;
#[cfg(feature = "engine")]
mod cli_train;

/// Resolves a file path or a preset id (a folder of the same name as a preset is not a project).
pub(crate) fn resolve(target: &str) -> Result<Project, String> {
    let path = Path::new(target);
    if path.is_file() {
        return strata::open_project(path).map_err(|e| match e {
            LoadError::Io { .. } => e.to_string(),
            other => format!("{}: {other}", path.display()),
        });
    }
    match strata::presets::load(target) {
        Some(r) => r.map_err(|e| format!("preset {target}: {e}")),
        None => Err(format!(
            "no file or preset named '{target}' — run `strata presets` for the preset ids"
        )),
    }
}

fn picture(target: &str, output: &Path, block: Option<&str>, layout: bool) -> ExitCode {
    let mut project = match resolve(target) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if layout {
        shape::layout_project(&mut project, &strata::doc::LayoutOptions::default());
    }
    let report = shape::check(&project);
    let graph = match block {
        None => &project.graph,
        Some(b) => match project.block(b) {
            Some(def) => &def.graph,
            None => {
                let ids: Vec<&str> = project.blocks.iter().map(|b| b.id.as_str()).collect();
                eprintln!("{target} has no block '{b}' (its blocks: {})", ids.join(", "));
                return ExitCode::from(2);
            }
        },
    };
    let report = block.is_none().then_some(&report);
    match strata::picture::export(&project, graph, report, output) {
        Ok(()) => {
            println!("wrote {}", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn presets(as_json: bool) -> ExitCode {
    let mut rows = Vec::new();
    for id in strata::presets::ids() {
        match strata::presets::load(id) {
            Some(Ok(p)) => {
                let report = shape::check(&p);
                let info = p.preset.clone();
                rows.push(json!({
                    "id": id,
                    "name": p.name,
                    "archetype": info.as_ref().map(|i| i.archetype.clone()),
                    "family": info.as_ref().map(|i| i.family.clone()),
                    "paper": info.as_ref().map(|i| i.paper.clone()),
                    "recipe": p.recipe.id,
                    "dataset": p.dataset.id,
                    "params": report.total_params,
                    "reference": info.as_ref().and_then(|i| i.reference.clone()),
                    "reference_params": info.as_ref().and_then(|i| i.reference_params),
                    "valid": report.is_valid(),
                }));
            }
            Some(Err(e)) => {
                eprintln!("preset {id}: {e}");
                return ExitCode::from(2);
            }
            None => {}
        }
    }
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!(
            "{:<16} {:<32} {:<22} {:<20} {:>14}",
            "ID", "NAME", "FAMILY", "RECIPE", "PARAMS"
        );
        for r in &rows {
            println!(
                "{:<16} {:<32} {:<22} {:<20} {:>14}",
                r["id"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
                r["family"].as_str().unwrap_or_default(),
                r["recipe"].as_str().unwrap_or_default(),
                group(r["params"].as_u64().unwrap_or_default()),
            );
        }
    }
    ExitCode::SUCCESS
}

/// 11689512 → "11,689,512".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn check(target: &str, as_json: bool) -> ExitCode {
    let project = match resolve(target) {
        Ok(p) => p,
        Err(msg) => {
            if as_json {
                println!("{}", json!({ "valid": false, "error": msg }));
            }
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let report = shape::check(&project);
    let memory = shape::memory::estimate(&project);
    let title = |id| {
        project
            .graph
            .node(id)
            .map(|n| strata::catalog::display_title(&project, n))
            .unwrap_or_default()
    };
    if as_json {
        let nodes: Vec<_> = report
            .nodes
            .iter()
            .map(|n| {
                let node = project.graph.node(n.id);
                json!({
                    "id": n.id.0,
                    "kind": node.map(|n| n.kind.clone()),
                    "block": node.and_then(|n| n.block.clone()),
                    "repeat": node.map(|n| n.repeat),
                    "title": title(n.id),
                    "outputs": n.outputs.iter().map(|(p, t)| json!({
                        "port": p,
                        "shape": t.as_ref().map(|t| t.to_string()),
                    })).collect::<Vec<_>>(),
                    "params": n.params,
                    "macs": n.macs,
                })
            })
            .collect();
        let diags: Vec<_> = report
            .diagnostics
            .iter()
            .map(|d| {
                json!({
                    "severity": if d.severity == Severity::Error { "error" } else { "warning" },
                    "node": d.node.map(|n| n.0),
                    "port": d.port,
                    "message": d.message,
                    "fix": d.fix.as_ref().map(|f| f.label.clone()),
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "name": project.name,
                "valid": report.is_valid(),
                "params": report.total_params,
                "macs": report.total_macs,
                "nodes": nodes,
                "diagnostics": diags,
                "memory": memory.as_ref().map(|m| json!({
                    "total_bytes": m.total,
                    "parameters_bytes": m.parameters,
                    "gradients_bytes": m.gradients,
                    "optimizer_bytes": m.optimizer,
                    "activations_bytes": m.activations,
                    "runtime_bytes": m.runtime,
                    "batch_size": project.training.batch_size,
                    "nodes": m.nodes.iter().map(|n| json!({
                        "id": n.node.0,
                        "title": title(n.node),
                        "weights_bytes": n.weights,
                        "activations_bytes": n.activations,
                    })).collect::<Vec<_>>(),
                })),
            })
        );
    } else {
        println!("{} — recipe {}", project.name, project.recipe.id);
        for n in &report.nodes {
            let shapes: Vec<String> = n
                .outputs
                .iter()
                .map(|(p, t)| {
                    let s = t.as_ref().map_or("?".to_owned(), |t| t.to_string());
                    if n.outputs.len() > 1 { format!("{p}: {s}") } else { s }
                })
                .collect();
            println!(
                "  {:>6}  {:<28} {:<36} {:>14}",
                n.id.to_string(),
                title(n.id),
                shapes.join(", "),
                group(n.params)
            );
        }
        println!(
            "total: {} parameters, {} multiply-accumulates per example",
            group(report.total_params),
            group(report.total_macs)
        );
        if let Some(m) = &memory {
            use shape::memory::human;
            println!(
                "memory to train (estimate): {} — weights, gradients and optimizer state {}, activations {} (batch {}), runtime {}",
                human(m.total),
                human(m.parameters + m.gradients + m.optimizer),
                human(m.activations),
                project.training.batch_size,
                human(m.runtime)
            );
        }
        for d in &report.diagnostics {
            let sev = if d.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            let place = match (d.node, &d.port) {
                (Some(id), Some(p)) => format!("{} '{}' port {p}: ", id, title(id)),
                (Some(id), None) => format!("{} '{}': ", id, title(id)),
                _ => String::new(),
            };
            let fix = d
                .fix
                .as_ref()
                .map(|f| format!(" (fix: {})", f.label))
                .unwrap_or_default();
            println!("{sev}: {place}{}{fix}", d.message);
        }
        let errors = report
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        println!(
            "{}",
            if errors == 0 {
                "valid".to_owned()
            } else {
                format!("invalid: {errors} error(s)")
            }
        );
    }
    if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(feature = "app")]
fn open_app(file: Option<&Path>) -> ExitCode {
    // A file that will not open still opens the window, on the start screen with the reason:
    // started from a file manager, there is no terminal to read it in.
    let (document, open_error) = match file {
        Some(f) => match strata::workspace::Document::open(f) {
            Ok(d) => (Some(d), None),
            Err(e) => {
                let message = format!("cannot open {}: {e}", f.display());
                eprintln!("error: {message}");
                (None, Some(message))
            }
        },
        None => (None, None),
    };
    match strata::app::run(document, open_error) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(feature = "app"))]
fn open_app(_file: Option<&Path>) -> ExitCode {
    eprintln!("this build has no window (built without the `app` feature); try `strata check` or `strata presets`");
    ExitCode::from(2)
}
