//! `strata export`: a project as PyTorch source + weights, or as ONNX; `strata import`: an ONNX
//! model as a project.

use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use strata::interop::{self, Weights};

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A folder with model.py (an nn.Module), train.py and weights.safetensors.
    Pytorch,
    /// One .onnx file (opset 17).
    Onnx,
}

/// `strata export` arguments.
#[derive(Args)]
pub struct ExportArgs {
    /// A .strata file or a preset id.
    target: String,
    /// What to write.
    #[arg(long, value_enum)]
    format: Format,
    /// Where to write (a folder for PyTorch, a .onnx file for ONNX).
    #[arg(short, long)]
    output: PathBuf,
    /// Weights from this checkpoint folder (default: the newest run beside the project file).
    #[arg(long, conflicts_with = "init_seed")]
    checkpoint: Option<PathBuf>,
    /// Export freshly initialised weights from this seed (to check an export without training).
    #[arg(long, conflicts_with = "perturbed_seed")]
    init_seed: Option<u64>,
    /// Like --init-seed, with seeded noise on every learned value (checks layers that start at
    /// zero or one too).
    #[arg(long)]
    perturbed_seed: Option<u64>,
    /// Also write seeded inputs and Strata's outputs for them (PyTorch: reference.safetensors in
    /// the folder; ONNX: NAME.reference.safetensors beside the file).
    #[arg(long)]
    reference: bool,
}

/// Runs the command.
pub fn run(args: ExportArgs) -> ExitCode {
    let project = match crate::resolve(&args.target) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let path = Path::new(&args.target);
    let project_path = path.is_file().then_some(path);
    let weights = match (&args.checkpoint, args.init_seed, args.perturbed_seed) {
        (Some(d), ..) => Weights::Checkpoint(d.clone()),
        (None, Some(s), _) => Weights::Initial(s),
        (None, None, Some(s)) => Weights::Perturbed(s),
        (None, None, None) => Weights::Latest,
    };
    let result = match args.format {
        Format::Pytorch => {
            interop::export_pytorch(&project, project_path, &args.output, &weights, args.reference, &|_| {})
        }
        Format::Onnx => {
            let reference = args
                .reference
                .then(|| args.output.with_extension("reference.safetensors"));
            interop::export_onnx(
                &project,
                project_path,
                &args.output,
                &weights,
                reference.as_deref(),
                &|_| {},
            )
        }
    };
    report(result.map_err(|e| format!("{}: {e}", args.target)))
}

/// `strata import` arguments.
#[derive(Args)]
pub struct ImportArgs {
    /// The .onnx file.
    file: PathBuf,
    /// The project to write (default: beside the file, NAME.strata).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Runs `strata import`.
pub fn import(args: ImportArgs) -> ExitCode {
    let out = args.output.unwrap_or_else(|| args.file.with_extension("strata"));
    report(interop::import_onnx(&args.file, &out, &|_| {}))
}

/// `strata weights` arguments.
#[derive(Args)]
pub struct WeightsArgs {
    /// The .strata project.
    project: PathBuf,
    /// The .safetensors file.
    #[arg(long)]
    from: PathBuf,
    /// The checkpoint folder to write (default: PROJECT.checkpoints/from-FILE).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Runs `strata weights`.
pub fn weights(args: WeightsArgs) -> ExitCode {
    report(interop::import_weights(
        &args.project,
        &args.from,
        args.output.as_deref(),
    ))
}

fn report(result: Result<interop::Summary, String>) -> ExitCode {
    match result {
        Ok(s) => {
            for f in &s.files {
                println!("wrote {}", f.display());
            }
            println!("{} parameters", s.params);
            for n in &s.notes {
                println!("note: {n}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
