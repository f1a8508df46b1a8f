//! The open document as the app holds it — project, file, undo history, unsaved changes — and
//! the safety nets around it: autosave to a recovery file and the recent-files list.
//!
//! Plain logic with no egui, so the app and the tests drive it the same way.

use crate::doc::{self, Edit, EditError, History, LoadError, Project};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// An open project.
#[derive(Debug)]
pub struct Document {
    /// The project as edited.
    pub project: Project,
    /// Where it was opened from or last saved to.
    pub path: Option<PathBuf>,
    history: History,
    /// Revision ids: each edit makes a new one; undo/redo move between them.
    current: u64,
    saved: u64,
    next: u64,
    undo_ids: Vec<u64>,
    redo_ids: Vec<u64>,
    /// What the last edit may merge with (a parameter being dragged).
    coalesce: Option<String>,
}

impl Document {
    /// A document for `project`, unsaved when `path` is `None`.
    pub fn new(project: Project, path: Option<PathBuf>) -> Self {
        Document {
            project,
            path,
            history: History::new(),
            current: 0,
            saved: 0,
            next: 1,
            undo_ids: Vec::new(),
            redo_ids: Vec::new(),
            coalesce: None,
        }
    }

    /// The revision id: changes with every edit, undo and redo (the autosave compares it).
    pub fn revision(&self) -> u64 {
        self.current
    }

    /// Opens a `.strata` file.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        Ok(Document::new(crate::open_project(path)?, Some(path.to_owned())))
    }

    /// Applies an edit (undoable).
    pub fn apply(&mut self, edit: Edit) -> Result<(), EditError> {
        self.coalesce = None;
        self.apply_inner(edit)
    }

    /// Applies an edit that merges with the previous one when both carry the same `key`: one
    /// drag of a slider is one undo step however many values it passed through.
    pub fn apply_merging(&mut self, edit: Edit, key: String) -> Result<(), EditError> {
        if self.coalesce.as_ref() == Some(&key) && self.history.can_undo() {
            self.history.undo(&mut self.project)?;
            self.current = self.undo_ids.pop().unwrap_or(0);
        }
        self.apply_inner(edit)?;
        self.coalesce = Some(key);
        Ok(())
    }

    /// Ends a merging gesture: the next edit is a step of its own.
    pub fn end_merging(&mut self) {
        self.coalesce = None;
    }

    fn apply_inner(&mut self, edit: Edit) -> Result<(), EditError> {
        self.history.apply(&mut self.project, edit)?;
        self.undo_ids.push(self.current);
        self.current = self.next;
        self.next += 1;
        self.redo_ids.clear();
        Ok(())
    }

    /// Undoes the last edit; false when there is none.
    pub fn undo(&mut self) -> Result<bool, EditError> {
        self.coalesce = None;
        if !self.history.undo(&mut self.project)? {
            return Ok(false);
        }
        self.redo_ids.push(self.current);
        self.current = self.undo_ids.pop().unwrap_or(0);
        Ok(true)
    }

    /// Redoes the last undone edit; false when there is none.
    pub fn redo(&mut self) -> Result<bool, EditError> {
        self.coalesce = None;
        if !self.history.redo(&mut self.project)? {
            return Ok(false);
        }
        self.undo_ids.push(self.current);
        self.current = self.redo_ids.pop().unwrap_or(self.next);
        Ok(true)
    }

    /// True when there is something to undo.
    pub fn can_undo(&self) -> bool {
        self.history.can_undo()
    }

    /// True when there is something to redo.
    pub fn can_redo(&self) -> bool {
        self.history.can_redo()
    }

    /// True when the project differs from what was last opened or saved.
    pub fn is_dirty(&self) -> bool {
        self.current != self.saved
    }

    /// Saves to the document's file (atomically). Errors when it has none yet: use `save_as`.
    pub fn save(&mut self) -> std::io::Result<()> {
        let path = self.path.clone().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the project has no file yet — use Save As",
            )
        })?;
        self.save_as(&path)
    }

    /// Saves to `path` (atomically) and makes it the document's file.
    pub fn save_as(&mut self, path: &Path) -> std::io::Result<()> {
        doc::save_file(&self.project, path)?;
        self.path = Some(path.to_owned());
        self.saved = self.current;
        self.coalesce = None;
        Ok(())
    }

    /// The window title: project name, file name and an unsaved marker.
    pub fn title(&self) -> String {
        let file = self
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|f| format!(" ({})", f.to_string_lossy()))
            .unwrap_or_default();
        let dirty = if self.is_dirty() { "* " } else { "" };
        format!("{dirty}{}{file} — Strata", self.project.name)
    }
}

/// What the recovery file remembers beside the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryInfo {
    /// The file the unsaved changes belong to, if it had one.
    pub original: Option<PathBuf>,
    /// Seconds since the Unix epoch when written.
    pub written_at: u64,
}

/// Autosave of unsaved changes to a recovery folder, and the offer to restore them after a crash.
#[derive(Debug, Clone)]
pub struct Recovery {
    dir: PathBuf,
}

impl Recovery {
    /// Recovery files live in `dir` (the app uses its data folder).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Recovery { dir: dir.into() }
    }

    fn project_file(&self) -> PathBuf {
        self.dir.join("recovery.strata")
    }

    fn info_file(&self) -> PathBuf {
        self.dir.join("recovery.json")
    }

    /// Writes the document's unsaved state (atomically); clears it when there is nothing unsaved.
    pub fn autosave(&self, document: &Document) -> std::io::Result<()> {
        if !document.is_dirty() {
            return self.clear();
        }
        std::fs::create_dir_all(&self.dir)?;
        doc::save_file(&document.project, &self.project_file())?;
        let info = RecoveryInfo {
            original: document.path.clone(),
            written_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let text = serde_json::to_string_pretty(&info).map_err(std::io::Error::other)?;
        doc::write_atomic(&self.info_file(), text.as_bytes())
    }

    /// Unsaved work left by a previous session, if any (a damaged recovery file is reported, not lost).
    pub fn pending(&self) -> Option<Result<(Document, RecoveryInfo), LoadError>> {
        let file = self.project_file();
        if !file.exists() {
            return None;
        }
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(source) => return Some(Err(LoadError::Io { path: file, source })),
        };
        let info = std::fs::read(self.info_file()).ok();
        Some(read_recovery(&bytes, info.as_deref()))
    }

    /// Removes the recovery files (after a save, or when the user declines to restore).
    pub fn clear(&self) -> std::io::Result<()> {
        for f in [self.project_file(), self.info_file()] {
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads a recovery pair from its bytes: the autosaved project and, when there is one, its info
/// (which file the changes belong to). A damaged or missing info only loses that link, never the
/// project; a damaged project is an error naming the place, as for any project file.
pub fn read_recovery(project: &[u8], info: Option<&[u8]>) -> Result<(Document, RecoveryInfo), LoadError> {
    let info = info
        .and_then(|t| serde_json::from_slice::<RecoveryInfo>(t).ok())
        .unwrap_or(RecoveryInfo {
            original: None,
            written_at: 0,
        });
    let text = std::str::from_utf8(project).map_err(|e| LoadError::Syntax {
        line: 1,
        column: e.valid_up_to() + 1,
        message: "the recovery file is not UTF-8 text".into(),
    })?;
    let project = crate::parse_project(text)?;
    let mut d = Document::new(project, info.original.clone());
    // Restored work is unsaved until the user saves it.
    d.current = d.next;
    d.next += 1;
    Ok((d, info))
}

/// Most recent files kept.
pub const RECENT_MAX: usize = 10;

/// Recently opened or saved files, newest first, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentFiles {
    /// The files.
    pub files: Vec<PathBuf>,
}

impl RecentFiles {
    /// Moves `path` to the front.
    pub fn push(&mut self, path: &Path) {
        self.files.retain(|p| p != path);
        self.files.insert(0, path.to_owned());
        self.files.truncate(RECENT_MAX);
    }

    /// Drops files that no longer exist.
    pub fn prune(&mut self) {
        self.files.retain(|p| p.exists());
    }
}
