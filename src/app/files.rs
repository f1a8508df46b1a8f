//! Native file dialogs off the UI thread, and the preferences eframe keeps between sessions.

use crate::workspace::RecentFiles;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

/// What a file dialog was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Open a project.
    Open,
    /// Save the project under a new name.
    SaveAs,
    /// Export a picture of the shown graph (PNG or SVG).
    Picture,
    /// Export to PyTorch (a folder).
    ExportPytorch,
    /// Export to ONNX (a file).
    ExportOnnx,
    /// Import an ONNX file.
    ImportOnnx,
}

/// A file dialog running on its own thread (rfd blocks; the UI must not).
pub struct Dialog {
    /// Why it is open.
    pub purpose: Purpose,
    rx: Receiver<Option<PathBuf>>,
}

impl Dialog {
    /// Opens a native dialog on a helper thread; `wake` is called when it closes.
    pub fn spawn(
        purpose: Purpose,
        suggested: Option<PathBuf>,
        wake: impl Fn() + Send + 'static,
    ) -> Result<Dialog, String> {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("strata-file-dialog".into())
            .spawn(move || {
                let mut d = match purpose {
                    Purpose::Picture => rfd::FileDialog::new()
                        .add_filter("PNG picture", &["png"])
                        .add_filter("SVG drawing", &["svg"]),
                    Purpose::ExportOnnx | Purpose::ImportOnnx => {
                        rfd::FileDialog::new().add_filter("ONNX model", &["onnx"])
                    }
                    Purpose::ExportPytorch => rfd::FileDialog::new(),
                    _ => rfd::FileDialog::new().add_filter("Strata project", &["strata"]),
                };
                if let Some(p) = &suggested {
                    if let Some(dir) = p.parent().filter(|d| d.is_dir()) {
                        d = d.set_directory(dir);
                    }
                    if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                        d = d.set_file_name(name);
                    }
                }
                let picked = match purpose {
                    Purpose::Open | Purpose::ImportOnnx => d.pick_file(),
                    Purpose::ExportPytorch => d.pick_folder(),
                    Purpose::SaveAs | Purpose::Picture | Purpose::ExportOnnx => d.save_file(),
                };
                let _ = tx.send(picked);
                wake();
            })
            .map_err(|e| format!("cannot open a file dialog: {e}"))?;
        Ok(Dialog { purpose, rx })
    }

    /// `Some(answer)` once the dialog closed (`Some(None)`: cancelled or unavailable).
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        match self.rx.try_recv() {
            Ok(p) => Some(p),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(None),
        }
    }
}

/// What the window remembers between sessions (eframe storage; panel sizes live in egui's memory).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Prefs {
    /// Recently opened or saved projects.
    pub recent: RecentFiles,
    /// Light theme instead of dark.
    pub light: bool,
    /// Steps the dashboard trains (0: the project's own).
    pub steps: u64,
    /// Which way auto-layout draws the flow.
    pub layout_direction: crate::doc::Direction,
}

/// Where the run history of the project saved at `project` lives: `name.strata` → `name.runs.json`.
pub fn runs_path(project: &std::path::Path) -> PathBuf {
    project.with_extension("runs.json")
}

/// Earlier runs saved beside `project` (none when there is no history or it cannot be read).
pub fn load_runs(project: &std::path::Path) -> Vec<super::Run> {
    std::fs::read_to_string(runs_path(project))
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<super::Run>>(&t).ok())
        .unwrap_or_default()
        .into_iter()
        .map(super::Run::migrate)
        .collect()
}

/// Saves the run history beside `project` (written to a temporary file, then renamed).
pub fn save_runs(project: &std::path::Path, runs: &[super::Run]) -> std::io::Result<()> {
    let text = serde_json::to_string(runs).map_err(std::io::Error::other)?;
    crate::doc::write_atomic(&runs_path(project), text.as_bytes())
}

/// Removes the run folders (`run-…`) in `dir` that no kept run points at. Only folders this app
/// names are touched.
pub fn prune_checkpoints(dir: &std::path::Path, keep: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        let ours = e.file_name().to_str().is_some_and(|n| n.starts_with("run-")) && path.is_dir();
        if ours && !keep.iter().any(|k| k == &path) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// The file name to save `name` under: letters, digits, `-` and `_`, plus `.strata`.
pub fn file_name_for(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_matches('_');
    format!("{}.strata", if stem.is_empty() { "untitled" } else { stem })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_name_for("ResNet-18 (mini)"), "ResNet-18__mini.strata");
        assert_eq!(file_name_for("///"), "untitled.strata");
    }
}
