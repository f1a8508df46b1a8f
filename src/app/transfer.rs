//! Export (PyTorch, ONNX) and ONNX import from the window: each runs on a helper thread with its
//! progress shown in the status line; the window stays responsive and the answer is polled.

use crate::doc::Project;
use crate::interop::{self, Summary, Weights};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::sync::{Arc, Mutex};

/// What a transfer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A folder with model.py, train.py and the weights.
    ExportPytorch,
    /// One .onnx file.
    ExportOnnx,
    /// An .onnx file opened as a new project.
    ImportOnnx,
}

impl Kind {
    fn verb(self) -> &'static str {
        match self {
            Kind::ExportPytorch => "exporting to PyTorch",
            Kind::ExportOnnx => "exporting to ONNX",
            Kind::ImportOnnx => "importing ONNX",
        }
    }
}

/// A transfer in progress.
pub struct Transfer {
    /// What it does.
    pub kind: Kind,
    /// The step it is at (set by the helper thread).
    progress: Arc<Mutex<String>>,
    rx: Receiver<Result<Summary, String>>,
}

/// How a finished transfer ended.
pub struct Finished {
    /// What it did.
    pub kind: Kind,
    /// Its summary or its error.
    pub result: Result<Summary, String>,
}

impl Transfer {
    /// Starts `kind` on a helper thread. `project` and `project_path` are the open document (for
    /// exports; its newest checkpoint gives the weights); `target` is the folder, file or
    /// `.onnx` to read. `wake` is called on every progress step and at the end.
    pub fn start(
        kind: Kind,
        project: Project,
        project_path: Option<PathBuf>,
        target: PathBuf,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<Transfer, String> {
        let (tx, rx) = channel();
        let progress = Arc::new(Mutex::new(String::new()));
        let shared = progress.clone();
        std::thread::Builder::new()
            .name("strata-transfer".into())
            .spawn(move || {
                let report = |step: &str| {
                    if let Ok(mut p) = shared.lock() {
                        step.clone_into(&mut p);
                    }
                    wake();
                };
                let path = project_path.as_deref();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match kind {
                    Kind::ExportPytorch => {
                        interop::export_pytorch(&project, path, &target, &Weights::Latest, false, &report)
                    }
                    Kind::ExportOnnx => interop::export_onnx(&project, path, &target, &Weights::Latest, None, &report),
                    Kind::ImportOnnx => interop::import_onnx(&target, &imported_project_path(&target), &report),
                }))
                .unwrap_or_else(|_| Err(format!("{} failed unexpectedly; nothing was changed", kind.verb())));
                let _ = tx.send(result);
                report("");
            })
            .map_err(|e| format!("cannot start {}: {e}", kind.verb()))?;
        Ok(Transfer { kind, progress, rx })
    }

    /// The status line while it runs.
    pub fn status(&self) -> String {
        let step = self.progress.lock().map(|p| p.clone()).unwrap_or_default();
        if step.is_empty() {
            format!("{}…", self.kind.verb())
        } else {
            format!("{}: {step}…", self.kind.verb())
        }
    }

    /// `Some` once it ended.
    pub fn poll(&self) -> Option<Finished> {
        match self.rx.try_recv() {
            Ok(result) => Some(Finished {
                kind: self.kind,
                result,
            }),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Finished {
                kind: self.kind,
                result: Err(format!("{} stopped without an answer", self.kind.verb())),
            }),
        }
    }
}

/// Where an imported `.onnx` is written: `NAME.strata` beside it, or `NAME-2.strata`, … when
/// that exists (never over a file).
pub fn imported_project_path(onnx: &Path) -> PathBuf {
    let first = onnx.with_extension("strata");
    if !first.exists() {
        return first;
    }
    let stem = onnx.file_stem().and_then(|s| s.to_str()).unwrap_or("imported");
    (2..)
        .map(|i| onnx.with_file_name(format!("{stem}-{i}.strata")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// One line about a finished transfer for the status bar.
pub fn describe(f: &Finished) -> String {
    match &f.result {
        Err(e) => format!("{} failed: {e}", f.kind.verb()),
        Ok(s) => {
            let what = s.files.first().map(|p| p.display().to_string()).unwrap_or_default();
            let head = match f.kind {
                Kind::ExportPytorch => format!("exported to {what} ({} parameters)", s.params),
                Kind::ExportOnnx => format!("exported {what} ({} parameters)", s.params),
                Kind::ImportOnnx => format!("imported as {what} ({} parameters)", s.params),
            };
            match s.notes.first() {
                Some(n) if s.notes.len() > 1 => format!("{head} — {n} (+{} more notes)", s.notes.len() - 1),
                Some(n) => format!("{head} — {n}"),
                None => head,
            }
        }
    }
}
