//! Taking a model elsewhere and bringing one in: PyTorch source with safetensors weights, ONNX.
//!
//! Exporters are a registry keyed by layer kind, one [`ExportSpec`] per kind in its family's file
//! under `kinds/` (the same families as the catalog): nothing here matches on kind ids. The
//! writers walk the project (blocks become PyTorch classes) and ask each node's entry for its
//! code and its weights; the weights come from the compiled Burn model, so an export holds exactly
//! what Strata trains.

pub mod import;
#[cfg(feature = "engine")]
pub mod kinds;
#[cfg(feature = "engine")]
pub mod names;
#[cfg(feature = "engine")]
pub mod node;
#[cfg(feature = "engine")]
pub mod onnx;
#[cfg(feature = "engine")]
pub mod recipes;
#[cfg(feature = "engine")]
pub mod reference;
pub mod safetensors;
pub mod tensor;
#[cfg(feature = "engine")]
pub mod torch;
#[cfg(feature = "engine")]
pub mod train_py;
#[cfg(feature = "engine")]
pub mod weights;

#[cfg(feature = "engine")]
use std::collections::HashMap;
#[cfg(feature = "engine")]
use std::sync::OnceLock;

#[cfg(feature = "engine")]
/// What one layer kind becomes in each export format.
#[derive(Clone, Copy)]
pub struct ExportSpec {
    /// Catalog kind id.
    pub kind: &'static str,
    /// PyTorch code and weights (`None`: not exportable to PyTorch yet).
    pub torch: Option<torch::TorchFn>,
    /// ONNX operators (`None`: ONNX cannot express it, or not yet — see [`ExportSpec::no_onnx`]).
    pub onnx: Option<onnx::OnnxFn>,
    /// Why a kind without ONNX operators has none (shown to the user).
    pub no_onnx: &'static str,
}

#[cfg(feature = "engine")]
/// Every exporter, by kind id.
pub fn exporters() -> &'static HashMap<&'static str, ExportSpec> {
    static EXPORTERS: OnceLock<HashMap<&'static str, ExportSpec>> = OnceLock::new();
    EXPORTERS.get_or_init(|| {
        let mut m = HashMap::new();
        for family in kinds::FAMILIES {
            for e in *family {
                debug_assert!(
                    crate::catalog::catalog().get(e.kind).is_some(),
                    "exporter for unknown kind {}",
                    e.kind
                );
                m.insert(e.kind, *e);
            }
        }
        m
    })
}

/// ONNX's recurrent operators (`RNN`, `LSTM`, `GRU`) per Strata kind, with the Strata gate
/// behind each of ONNX's gates: LSTM gates are i f g o in Strata and i o f c in ONNX, GRU gates
/// r z n in Strata and z r h in ONNX. The exporter writes in this order and the importer reads
/// back through it.
pub const ONNX_RECURRENT: &[(&str, &str, &[usize])] = &[
    ("rnn", "RNN", &[0]),
    ("lstm", "LSTM", &[0, 3, 1, 2]),
    ("gru", "GRU", &[1, 0, 2]),
];

/// A Python identifier made from a node title: lower case, words joined by `_`, never a keyword
/// or a leading digit.
pub fn py_name(title: &str) -> String {
    let mut s = String::new();
    let mut gap = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !s.is_empty() {
                s.push('_');
            }
            gap = false;
            s.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if s.is_empty() {
        s.push_str("node");
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'n');
    }
    const KEYWORDS: &[&str] = &[
        "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except",
        "false", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "none", "nonlocal", "not",
        "or", "pass", "raise", "return", "true", "try", "while", "with", "yield", "self", "torch", "nn", "math", "blk",
    ];
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// Hands out names unique within one Python scope.
#[derive(Default)]
pub struct Names(std::collections::HashSet<String>);

impl Names {
    /// `base`, or `base_2`, `base_3`, … when taken.
    pub fn fresh(&mut self, base: &str) -> String {
        if self.0.insert(base.to_owned()) {
            return base.to_owned();
        }
        (2..)
            .map(|i| format!("{base}_{i}"))
            .find(|n| self.0.insert(n.clone()))
            .unwrap_or_default()
    }
}

#[cfg(feature = "engine")]
use crate::doc::Project;
#[cfg(feature = "engine")]
use std::path::{Path, PathBuf};

#[cfg(feature = "engine")]
/// Which weights an export carries.
#[derive(Clone, Debug, PartialEq)]
pub enum Weights {
    /// The newest checkpoint beside the project file, if there is one; none otherwise.
    Latest,
    /// This checkpoint folder (a run folder holding `nodes/`).
    Checkpoint(PathBuf),
    /// Freshly initialised weights from this seed (for checking an export).
    Initial(u64),
    /// Freshly initialised weights with seeded noise on every learned value (and the batch-norm
    /// statistics), so layers that start at zero or one are checked too.
    Perturbed(u64),
    /// No weights file.
    None,
}

/// What an export wrote.
#[derive(Debug, Default)]
pub struct Summary {
    /// Files written.
    pub files: Vec<std::path::PathBuf>,
    /// Learned scalars in the model.
    pub params: usize,
    /// Things the user should know (where the weights came from, what was left out).
    pub notes: Vec<String>,
}

#[cfg(feature = "engine")]
/// The newest run folder under `<project>.checkpoints/`.
pub fn latest_checkpoint(project_path: &Path) -> Option<PathBuf> {
    let root = project_path.with_extension("checkpoints");
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&root)
        .ok()?
        .flatten()
        .filter(|e| e.path().join("nodes").is_dir())
        .map(|e| {
            let t = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            (t, e.path())
        })
        .collect();
    runs.sort();
    runs.pop().map(|(_, p)| p)
}

#[cfg(feature = "engine")]
/// Compiles `project` on the CPU with the weights asked for. Returns the model and a note on
/// where its weights came from (`None` when it has no weights worth exporting).
pub fn compiled(
    project: &Project,
    project_path: Option<&Path>,
    weights: &Weights,
) -> Result<(crate::engine::GraphModel, Option<String>), String> {
    let device = burn::tensor::Device::flex();
    if let Weights::Initial(seed) | Weights::Perturbed(seed) = weights {
        device.seed(*seed);
    }
    let model = crate::engine::compile(project, &device).map_err(|e| e.to_string())?;
    if let Weights::Perturbed(seed) = weights {
        return Ok((
            perturbed(model, *seed),
            Some(format!("initialised weights with noise (seed {seed})")),
        ));
    }
    let dir = match weights {
        Weights::Latest => project_path.and_then(latest_checkpoint),
        Weights::Checkpoint(d) => Some(d.clone()),
        Weights::Initial(seed) => return Ok((model, Some(format!("freshly initialised weights (seed {seed})")))),
        Weights::Perturbed(_) => None,
        Weights::None => None,
    };
    let Some(dir) = dir else {
        return Ok((model, None));
    };
    if !dir.join("nodes").is_dir() {
        return Err(format!(
            "{} is not a checkpoint folder (it has no nodes/ folder) — pick a run folder under the project's .checkpoints",
            dir.display()
        ));
    }
    let (model, restored, fresh) = model.load_nodes(&dir);
    if restored.is_empty() && !fresh.is_empty() {
        return Err(format!(
            "{} holds no weights for this graph (was it saved from another project?)",
            dir.display()
        ));
    }
    let mut note = format!("trained weights from {}", dir.display());
    if !fresh.is_empty() {
        note.push_str(&format!(
            "; {} node(s) added since that run start fresh: {}",
            fresh.len(),
            fresh.join(", ")
        ));
    }
    Ok((model, Some(note)))
}

/// Every learned value plus seeded noise (σ 0.05; batch-norm variances stay positive).
#[cfg(feature = "engine")]
fn perturbed(model: crate::engine::GraphModel, seed: u64) -> crate::engine::GraphModel {
    let crate::engine::GraphModel { layers, plan } = model;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let u = ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        ((u - 0.5) * 0.1732) as f32 // uniform with σ = 0.05
    };
    let layers = layers
        .into_iter()
        .map(|layer| {
            let mut ts = weights::burn_tensors(&layer);
            if let crate::engine::ops::Layer::BatchNorm(bn) = &layer {
                ts.push(weights::NamedTensor::of("running_mean", &bn.running_mean.value()));
                ts.push(weights::NamedTensor::of("running_var", &bn.running_var.value()));
            }
            for t in &mut ts {
                let var = t.name == "running_var";
                for v in &mut t.data {
                    *v = if var { *v + noise().abs() } else { *v + noise() };
                }
            }
            weights::assign(layer, &ts).0
        })
        .collect();
    crate::engine::GraphModel { layers, plan }
}

#[cfg(feature = "engine")]
/// Writes `model.py`, `train.py` with `data.safetensors` (for every recipe with a part; a note
/// otherwise), `weights.safetensors` when there are weights and `reference.safetensors` when
/// asked (seeded inputs and Strata's outputs for them) into `out`.
pub fn export_pytorch(
    project: &Project,
    project_path: Option<&Path>,
    out: &Path,
    weights: &Weights,
    reference: bool,
    progress: &dyn Fn(&str),
) -> Result<Summary, String> {
    progress("compiling the model");
    let (model, note) = compiled(project, project_path, weights)?;
    progress("writing model.py");
    let ex = torch::export(project, &model)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut summary = Summary {
        params: crate::shape::check(project).total_params as usize,
        ..Summary::default()
    };
    let py = out.join("model.py");
    crate::doc::write_atomic(&py, ex.source.as_bytes()).map_err(|e| format!("cannot write {}: {e}", py.display()))?;
    summary.files.push(py);
    let meta = [
        ("format", "pt".to_owned()),
        ("producer", format!("strata {}", env!("CARGO_PKG_VERSION"))),
        ("model", project.name.clone()),
    ];
    match &note {
        Some(n) => {
            progress("writing weights.safetensors");
            let path = out.join("weights.safetensors");
            safetensors::write(&path, &ex.weights, &[], &meta)?;
            summary.files.push(path);
            summary.notes.push(n.clone());
        }
        None => summary.notes.push(
            "no trained weights (train the project first, or pass a checkpoint): model.py starts from PyTorch's initialisation"
                .into(),
        ),
    }
    progress("writing train.py and the data");
    let args: Vec<String> = ex.inputs.iter().map(|(a, ..)| a.clone()).collect();
    match train_py::write(project, project_path, &model, &args, out) {
        Ok(files) => summary.files.extend(files),
        Err(e) => summary.notes.push(e),
    }
    if reference {
        progress("running the reference batch");
        let (floats, ints) = reference::run(
            &model,
            &ex.inputs,
            &ex.outputs,
            reference::Sizes::default(),
            7,
            &burn::tensor::Device::flex(),
        )?;
        let path = out.join("reference.safetensors");
        safetensors::write(&path, &floats, &ints, &meta)?;
        summary.files.push(path);
    }
    Ok(summary)
}

#[cfg(feature = "engine")]
/// Writes `path` as an ONNX model (and, when asked, `reference` beside it: seeded inputs and
/// Strata's outputs under the ONNX graph's input and output names).
pub fn export_onnx(
    project: &Project,
    project_path: Option<&Path>,
    path: &Path,
    weights: &Weights,
    reference: Option<&Path>,
    progress: &dyn Fn(&str),
) -> Result<Summary, String> {
    progress("compiling the model");
    let weights = if *weights == Weights::None {
        Weights::Latest
    } else {
        weights.clone()
    };
    let (model, note) = compiled(project, project_path, &weights)?;
    progress("writing the ONNX graph");
    let ex = onnx::export(project, &model)?;
    let expected = crate::shape::check(project).total_params as usize;
    if ex.param_count != expected {
        return Err(format!(
            "the ONNX graph holds {} learned values but the model has {expected} (an exporter lost some: please report this)",
            ex.param_count
        ));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    crate::doc::write_atomic(path, &ex.bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut summary = Summary {
        files: vec![path.to_owned()],
        params: ex.param_count,
        notes: vec![note.unwrap_or_else(|| {
            "no trained weights: the initializers hold Strata's fresh initialisation (train first, or pass a checkpoint)"
                .into()
        })],
    };
    if let Some(r) = reference {
        progress("running the reference batch");
        let inputs: Vec<_> = ex.inputs.clone();
        let (floats, ints) = reference::run(
            &model,
            &inputs,
            &ex.outputs,
            reference::Sizes::default(),
            7,
            &burn::tensor::Device::flex(),
        )?;
        safetensors::write(r, &floats, &ints, &[("format", "onnx-reference".into())])?;
        summary.files.push(r.to_owned());
    }
    Ok(summary)
}

#[cfg(feature = "engine")]
/// Imports `onnx` as the project `out` (a `.strata` file) with its weights as a checkpoint
/// beside it (`<out>.checkpoints/imported/`), so exports and training start from them.
pub fn import_onnx(onnx: &Path, out: &Path, progress: &dyn Fn(&str)) -> Result<Summary, String> {
    progress("reading the ONNX graph");
    let imported = import::import_file(onnx)?;
    write_imported(imported, out, progress)
}

#[cfg(feature = "engine")]
/// Writes an imported model as the project `out` and its weights beside it.
pub fn write_imported(imported: import::Imported, out: &Path, progress: &dyn Fn(&str)) -> Result<Summary, String> {
    let import::Imported {
        project,
        weights,
        mut notes,
        initializers,
    } = imported;
    progress("writing the project");
    crate::doc::save_file(&project, out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let mut summary = Summary {
        files: vec![out.to_owned()],
        params: crate::shape::check(&project).total_params as usize,
        ..Summary::default()
    };
    if let Some(tensors) = initializers {
        progress("writing the weights");
        let dir = out.with_extension("checkpoints").join("imported");
        let s = names::load_onnx_initializers(&project, &tensors, &dir)?;
        summary.files.push(dir);
        notes.extend(s.notes);
    } else if !weights.is_empty() {
        progress("writing the weights");
        let dir = out.with_extension("checkpoints").join("imported");
        match import::save_weights(&project, &weights, &dir) {
            Ok(n) => {
                summary.files.push(dir.clone());
                notes.push(format!("weights of {n} node(s) saved in {}", dir.display()));
            }
            Err(e) => {
                // The graph does not compile yet (ONNX operators to replace): keep the weights
                // under `node title.field` names, for `strata weights` once it does.
                let path = out.with_extension("weights.safetensors");
                let mut all = Vec::new();
                for (id, ts) in &weights {
                    let title = project.graph.node(*id).map(|n| n.title.clone()).unwrap_or_default();
                    all.extend(ts.iter().map(|t| t.clone().named(&format!("{title}.{}", t.name))));
                }
                safetensors::write(&path, &all, &[], &[("format", "strata-node-weights".into())])?;
                summary.files.push(path.clone());
                notes.push(format!(
                    "the graph does not train yet ({e}); its weights are kept in {} — load them with `strata weights {} --from {}` once it checks",
                    path.display(),
                    out.display(),
                    path.display()
                ));
            }
        }
    }
    summary.notes = notes;
    Ok(summary)
}

#[cfg(feature = "engine")]
/// Loads weights saved under PyTorch's names (a `train.py` result) or `node title.field` names
/// into the project at `project_path`, as the checkpoint folder `out` (default: beside the
/// project, `<project>.checkpoints/from-<file>`).
pub fn import_weights(project_path: &Path, file: &Path, out: Option<&Path>) -> Result<Summary, String> {
    let project = crate::open_project(project_path).map_err(|e| format!("{}: {e}", project_path.display()))?;
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("weights");
    let dir = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| project_path.with_extension("checkpoints").join(format!("from-{stem}")));
    names::load_weights(&project, file, &dir)
}
