//! The `.strata` file format: readable JSON with a `format_version`, migrations from every older
//! version, errors that name the place, and atomic saves.

use super::project::Project;
use serde_json::{Map, Value, json};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The version this build writes. Version history:
/// - 1: the prototype format (`layers` with `type`, wires as `"3.y->4.x"` strings, `lr`).
/// - 2: `graph.nodes` with `kind`, structured wires, blocks, training settings.
pub const CURRENT_FORMAT_VERSION: u32 = 2;

/// Why a project could not be loaded. Every variant names the place and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not valid JSON.
    #[error("line {line}, column {column}: {message} — the file is not valid JSON (truncated or hand-edited?)")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser saw.
        message: String,
    },
    /// Valid JSON, but a field has the wrong type or value.
    #[error("{path}: {message}")]
    Schema {
        /// JSON path, e.g. `graph.nodes[3].params.kernel_size`.
        path: String,
        /// What was expected and what was found.
        message: String,
    },
    /// Written by a newer Strata.
    #[error("format_version {found} is newer than this build supports ({supported}) — update Strata to open this file")]
    TooNew {
        /// Version in the file.
        found: u64,
        /// Newest version this build reads.
        supported: u32,
    },
}

impl LoadError {
    /// A schema error at `path`.
    pub fn schema(path: impl Into<String>, message: impl Into<String>) -> Self {
        LoadError::Schema {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Parses a project from JSON text: syntax check, migration to the current version, typed
/// decoding with JSON-path errors, structural checks, then normalisation (sorted nodes/wires).
pub fn from_json_str(text: &str) -> Result<Project, LoadError> {
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Syntax {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    let value = migrate(value)?;
    let mut project: Project = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        LoadError::schema(
            if path == "." { "(top level)".into() } else { path },
            e.into_inner().to_string(),
        )
    })?;
    check_structure(&project)?;
    project.normalize();
    Ok(project)
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn check_structure(p: &Project) -> Result<(), LoadError> {
    check_graph("graph", &p.graph)?;
    let mut seen = std::collections::BTreeSet::new();
    for (bi, b) in p.blocks.iter().enumerate() {
        if !seen.insert(b.id.as_str()) {
            return Err(LoadError::schema(
                format!("blocks[{bi}].id"),
                format!("block id '{}' is used twice — rename one of them", b.id),
            ));
        }
        check_graph(&format!("blocks[{bi}].graph"), &b.graph)?;
    }
    Ok(())
}

fn check_graph(prefix: &str, g: &super::Graph) -> Result<(), LoadError> {
    let mut ids = std::collections::BTreeSet::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if !ids.insert(n.id) {
            return Err(LoadError::schema(
                format!("{prefix}.nodes[{i}].id"),
                format!("node id {} is used twice — node ids must be unique", n.id.0),
            ));
        }
        if n.id.0 > u64::MAX / 2 {
            return Err(LoadError::schema(
                format!("{prefix}.nodes[{i}].id"),
                format!("node id {} is too large", n.id.0),
            ));
        }
        if n.is_block() && n.block.is_none() {
            return Err(LoadError::schema(
                format!("{prefix}.nodes[{i}].block"),
                "a block instance must name its block definition",
            ));
        }
        if !n.is_block() && n.block.is_some() {
            return Err(LoadError::schema(
                format!("{prefix}.nodes[{i}].block"),
                format!("only nodes of kind 'block' name a block (this one is '{}')", n.kind),
            ));
        }
        if n.repeat == 0 {
            return Err(LoadError::schema(
                format!("{prefix}.nodes[{i}].repeat"),
                "expected a positive integer, found 0",
            ));
        }
        if !n.pos.iter().all(|v| v.is_finite()) {
            return Err(LoadError::schema(
                format!("{prefix}.nodes[{i}].pos"),
                "expected finite coordinates",
            ));
        }
    }
    Ok(())
}

/// Brings a parsed file of any older version to [`CURRENT_FORMAT_VERSION`].
pub fn migrate(mut value: Value) -> Result<Value, LoadError> {
    let Some(obj) = value.as_object() else {
        return Err(LoadError::schema(
            "(top level)",
            "expected a JSON object with a format_version — is this a .strata file?",
        ));
    };
    let version = match obj.get("format_version") {
        None => {
            return Err(LoadError::schema(
                "format_version",
                "missing — is this a .strata project file?",
            ));
        }
        Some(v) => v
            .as_u64()
            .ok_or_else(|| LoadError::schema("format_version", format!("expected a positive integer, found {v}")))?,
    };
    if version == 0 {
        return Err(LoadError::schema(
            "format_version",
            "expected a positive integer, found 0",
        ));
    }
    if version > u64::from(CURRENT_FORMAT_VERSION) {
        return Err(LoadError::TooNew {
            found: version,
            supported: CURRENT_FORMAT_VERSION,
        });
    }
    if version == 1 {
        value = migrate_v1_to_v2(value)?;
    }
    Ok(value)
}

/// v1 → v2: `layers[{id,type,x,y,params}]` + `links["3.y->4.x"]` become `graph.{nodes,wires}`;
/// `lr`/`batch`/`epochs_steps` become `training`; `task` becomes `recipe.id`.
fn migrate_v1_to_v2(value: Value) -> Result<Value, LoadError> {
    let Value::Object(mut old) = value else {
        return Err(LoadError::schema("(top level)", "expected an object"));
    };
    let mut nodes = Vec::new();
    if let Some(layers) = old.remove("layers") {
        let Value::Array(layers) = layers else {
            return Err(LoadError::schema("layers", "expected a list of layers"));
        };
        for (i, l) in layers.into_iter().enumerate() {
            let Value::Object(mut l) = l else {
                return Err(LoadError::schema(format!("layers[{i}]"), "expected an object"));
            };
            let mut n = Map::new();
            n.insert("id".into(), l.remove("id").unwrap_or(Value::Null));
            n.insert("kind".into(), l.remove("type").unwrap_or(Value::Null));
            if let Some(name) = l.remove("name") {
                n.insert("title".into(), name);
            }
            let x = l.remove("x").unwrap_or(json!(0.0));
            let y = l.remove("y").unwrap_or(json!(0.0));
            n.insert("pos".into(), json!([x, y]));
            if let Some(p) = l.remove("params") {
                n.insert("params".into(), p);
            }
            nodes.push(Value::Object(n));
        }
    }
    let mut wires = Vec::new();
    if let Some(links) = old.remove("links") {
        let Value::Array(links) = links else {
            return Err(LoadError::schema("links", "expected a list of \"a.out->b.in\" strings"));
        };
        for (i, link) in links.into_iter().enumerate() {
            let text = link.as_str().unwrap_or_default();
            let parsed = text.split_once("->").and_then(|(a, b)| {
                let (fa, fo) = a.trim().split_once('.')?;
                let (ta, ti) = b.trim().split_once('.')?;
                Some((fa.parse::<u64>().ok()?, fo, ta.parse::<u64>().ok()?, ti))
            });
            let Some((from, out, to, input)) = parsed else {
                return Err(LoadError::schema(
                    format!("links[{i}]"),
                    format!("expected \"<node>.<port>-><node>.<port>\", found {link}"),
                ));
            };
            wires.push(json!({"from": from, "out": out, "to": to, "in": input}));
        }
    }
    let mut training = Map::new();
    if let Some(lr) = old.remove("lr") {
        training.insert("learning_rate".into(), lr);
    }
    if let Some(b) = old.remove("batch") {
        training.insert("batch_size".into(), b);
    }
    if let Some(s) = old.remove("steps") {
        training.insert("steps".into(), s);
    }
    old.remove("format_version");
    let task = old.remove("task").unwrap_or(json!(super::DEFAULT_RECIPE));
    let mut new = Map::new();
    new.insert("format_version".into(), json!(2));
    new.insert("name".into(), old.remove("name").unwrap_or(json!("Untitled")));
    if let Some(d) = old.remove("description") {
        new.insert("description".into(), d);
    }
    new.insert("recipe".into(), json!({ "id": task }));
    if let Some(d) = old.remove("dataset") {
        new.insert("dataset".into(), json!({ "id": d }));
    }
    new.insert("training".into(), Value::Object(training));
    new.insert("graph".into(), json!({ "nodes": nodes, "wires": wires }));
    if let Some((k, _)) = old.into_iter().next() {
        return Err(LoadError::schema(k, "unknown field in a version 1 file"));
    }
    Ok(Value::Object(new))
}

/// Serialises a project as pretty JSON (nodes and wires sorted, trailing newline).
pub fn to_json_string(project: &Project) -> String {
    let mut p = project.clone();
    p.normalize();
    p.format_version = CURRENT_FORMAT_VERSION;
    // Serialising plain data with string keys cannot fail.
    let value = serde_json::to_value(&p).unwrap_or(Value::Null);
    let mut s = String::new();
    write_value(&mut s, &value, 0);
    s.push('\n');
    s
}

/// Widest line that is kept on one line when an array or object fits.
const INLINE_WIDTH: usize = 100;

/// Pretty JSON where small arrays and objects (a wire, a position, a shape, a node's
/// parameters) stay on one line, so files read well and diff line by line.
fn write_value(out: &mut String, v: &Value, indent: usize) {
    let inline = compact(v);
    if indent + inline.len() <= INLINE_WIDTH || !matches!(v, Value::Array(_) | Value::Object(_)) {
        out.push_str(&inline);
        return;
    }
    let pad = "  ".repeat(indent + 1);
    match v {
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad);
                write_value(out, item, indent + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (k, item)) in map.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_value(out, item, indent + 1);
                out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
        }
        _ => {}
    }
    out.push_str(&"  ".repeat(indent));
    out.push(if matches!(v, Value::Array(_)) { ']' } else { '}' });
}

/// One-line JSON with a space after `:` and `,`.
fn compact(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(compact).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), compact(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Reads and parses a project file (structure only; see `strata::open_project` for the
/// catalog-aware check of parameter values).
pub fn load_file(path: &Path) -> Result<Project, LoadError> {
    let bytes = fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| LoadError::Syntax {
        line: 1,
        column: e.utf8_error().valid_up_to() + 1,
        message: "the file is not UTF-8 text".into(),
    })?;
    from_json_str(&text)
}

/// Saves atomically: writes a temporary file beside `path`, flushes it to disk, then renames
/// it over `path`. A crash mid-save leaves the old file intact.
pub fn save_file(project: &Project, path: &Path) -> std::io::Result<()> {
    write_atomic(path, to_json_string(project).as_bytes())
}

/// Writes `bytes` to `path` atomically: a temporary file beside it (named after the process, so
/// two processes never share one), flushed to disk, then renamed over `path`. Whenever the process
/// dies, `path` holds either its old or its new content, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "project.strata".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(&dir) {
            // Persist the rename; not every platform supports syncing a directory.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else {
        remove_stale_temporaries(&dir, &file_name);
    }
    result
}

/// Removes temporary files of `file_name` left by saving processes that died mid-save (a crash,
/// a kill, a power cut). Only where a process's liveness can be checked (Linux `/proc`); a
/// temporary file of a process still running is left alone.
fn remove_stale_temporaries(dir: &Path, file_name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{file_name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(e.path());
        }
    }
}
