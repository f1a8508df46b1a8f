//! Users' own data: CSV tables, folders of images (one subfolder per class) and IDX files.
//! Every problem names the file (and row) and what to do.

use super::{Dataset, Features, Target};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a data file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}{}: {message}", .row.map(|r| format!(", row {r}")).unwrap_or_default())]
pub struct LoadDataError {
    /// The file or folder.
    pub path: PathBuf,
    /// 1-based row for tables.
    pub row: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

fn err(path: &Path, row: Option<usize>, message: impl Into<String>) -> LoadDataError {
    LoadDataError {
        path: path.to_owned(),
        row,
        message: message.into(),
    }
}

/// Reads a CSV table: numeric feature columns and one label column (`label`: a header name or
/// a 0-based index; default the last column). A first row that is not all numbers is a header.
/// Labels may be words or numbers; classes are their distinct values in sorted order. With
/// `regression` the label column holds the real value to predict.
pub fn csv(path: &Path, label: Option<&str>, regression: bool) -> Result<Dataset, LoadDataError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, None, format!("cannot read: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .peekable();
    let split = |l: &str| -> Vec<String> { l.split(',').map(|c| c.trim().trim_matches('"').to_owned()).collect() };
    let Some((_, first)) = lines.peek().copied() else {
        return Err(err(path, None, "the file is empty"));
    };
    let first = split(first);
    let header = first.iter().any(|c| c.parse::<f64>().is_err());
    let names: Vec<String> = if header {
        lines.next();
        first.clone()
    } else {
        (0..first.len()).map(|i| format!("column {i}")).collect()
    };
    let ncol = names.len();
    if ncol < 2 {
        return Err(err(path, None, "need at least one feature column and a label column"));
    }
    let label_col = match label {
        None => ncol - 1,
        Some(l) => match l.parse::<usize>() {
            Ok(i) if i < ncol => i,
            _ => names.iter().position(|n| n == l).ok_or_else(|| {
                err(
                    path,
                    None,
                    format!("no label column '{l}'; the columns are: {}", names.join(", ")),
                )
            })?,
        },
    };
    let mut features = Vec::new();
    let mut raw_labels = Vec::new();
    let mut label_rows = Vec::new();
    for (i, line) in lines {
        let row = i + 1;
        let cells = split(line);
        if cells.len() != ncol {
            return Err(err(
                path,
                Some(row),
                format!("expected {ncol} columns, found {}", cells.len()),
            ));
        }
        for (c, cell) in cells.iter().enumerate() {
            if c == label_col {
                raw_labels.push(cell.clone());
                label_rows.push(row);
                continue;
            }
            let v: f32 = cell.parse().map_err(|_| {
                err(
                    path,
                    Some(row),
                    format!("column '{}' holds '{cell}', which is not a number", names[c]),
                )
            })?;
            if !v.is_finite() {
                return Err(err(path, Some(row), format!("column '{}' is not finite", names[c])));
            }
            features.push(v);
        }
    }
    if raw_labels.is_empty() {
        return Err(err(path, None, "the table has no rows"));
    }
    if regression {
        let mut values = Vec::with_capacity(raw_labels.len());
        for (l, &row) in raw_labels.iter().zip(&label_rows) {
            let v: f32 = l.parse().map_err(|_| {
                err(
                    path,
                    Some(row),
                    format!("the target '{l}' is not a number (regression)"),
                )
            })?;
            values.push(v);
        }
        return Ok(Dataset {
            name: path.display().to_string(),
            shape: vec![ncol - 1],
            features: Features::F32(features),
            labels: vec![0; values.len()],
            classes: Vec::new(),
            test_from: None,
            target: Target::Values { per: 1, data: values },
        });
    }
    let classes: Vec<String> = raw_labels
        .iter()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if classes.len() > 256 {
        return Err(err(
            path,
            None,
            format!("{} distinct labels: classification supports up to 256", classes.len()),
        ));
    }
    let labels = raw_labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(0) as u8)
        .collect();
    Ok(Dataset {
        name: path.display().to_string(),
        shape: vec![ncol - 1],
        features: Features::F32(features),
        labels,
        classes,
        test_from: None,
        target: Target::Classes,
    })
}

/// Reads a folder with one subfolder per class of PNG/JPEG images, resized to `size`×`size`
/// (default: the first image's size) with `channels` 1 (grey) or 3 (colour).
pub fn image_folder(root: &Path, size: Option<u32>, channels: u32) -> Result<Dataset, LoadDataError> {
    let mut by_class: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let rd = std::fs::read_dir(root).map_err(|e| err(root, None, format!("cannot open the folder: {e}")))?;
    for entry in rd.flatten() {
        let p = entry.path();
        if !p.is_dir() {
            continue;
        }
        let class = entry.file_name().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
            .map_err(|e| err(&p, None, format!("cannot open: {e}")))?
            .flatten()
            .map(|e| e.path())
            .filter(|f| {
                matches!(
                    f.extension()
                        .and_then(|x| x.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref(),
                    Some("png" | "jpg" | "jpeg")
                )
            })
            .collect();
        files.sort();
        if !files.is_empty() {
            by_class.insert(class, files);
        }
    }
    if by_class.len() < 2 {
        return Err(err(
            root,
            None,
            "expected at least two subfolders (one per class) holding .png or .jpg images",
        ));
    }
    let channels = if channels == 1 { 1 } else { 3 };
    let mut side = size;
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for (ci, files) in by_class.values().enumerate() {
        for f in files {
            let img = image::open(f).map_err(|e| err(f, None, format!("cannot decode the image: {e}")))?;
            let s = *side.get_or_insert(img.width().max(1));
            let img = img.resize_exact(s, s, image::imageops::FilterType::Triangle);
            if channels == 1 {
                features.extend_from_slice(img.to_luma8().as_raw());
            } else {
                // Planar [C, H, W] layout.
                let rgb = img.to_rgb8();
                for c in 0..3 {
                    features.extend(rgb.as_raw().iter().skip(c).step_by(3));
                }
            }
            labels.push(ci as u8);
        }
    }
    let s = side.unwrap_or(1) as usize;
    Ok(Dataset {
        name: root.display().to_string(),
        shape: vec![channels as usize, s, s],
        features: Features::U8(features),
        labels,
        classes: by_class.keys().cloned().collect(),
        test_from: None,
        target: Target::Classes,
    })
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, LoadDataError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, None, format!("cannot read: {e}")))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| err(path, None, format!("cannot decompress: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), LoadDataError> {
    let data = read_maybe_gz(path)?;
    if data.len() < 4 || data[0] != 0 || data[1] != 0 {
        return Err(err(path, None, "not an IDX file (bad magic number)"));
    }
    if data[2] != 0x08 {
        return Err(err(
            path,
            None,
            format!(
                "IDX element type 0x{:02x} is not supported (only unsigned bytes)",
                data[2]
            ),
        ));
    }
    let ndim = usize::from(data[3]);
    let head = 4 + 4 * ndim;
    if data.len() < head {
        return Err(err(path, None, "the IDX header is truncated"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes([data[4 + 4 * i], data[5 + 4 * i], data[6 + 4 * i], data[7 + 4 * i]]) as usize)
        .collect();
    let n: usize = dims.iter().product();
    if data.len() - head != n {
        return Err(err(
            path,
            None,
            format!("expected {n} values after the header, found {}", data.len() - head),
        ));
    }
    Ok((dims, data[head..].to_vec()))
}

/// Reads an IDX image file (`[N, H, W]` bytes) and its IDX label file (`[N]`), plain or gzip.
pub fn idx_pair(images: &Path, labels: &Path) -> Result<Dataset, LoadDataError> {
    let (dims, pixels) = idx(images)?;
    if dims.len() != 3 {
        return Err(err(images, None, format!("expected images [N, H, W], found {dims:?}")));
    }
    let (ldims, lab) = idx(labels)?;
    if ldims.len() != 1 || ldims[0] != dims[0] {
        return Err(err(
            labels,
            None,
            format!("expected {} labels, found shape {ldims:?}", dims[0]),
        ));
    }
    let n_classes = usize::from(lab.iter().copied().max().unwrap_or(0)) + 1;
    Ok(Dataset {
        name: images.display().to_string(),
        shape: vec![1, dims[1], dims[2]],
        features: Features::U8(pixels),
        labels: lab,
        classes: (0..n_classes).map(|c| c.to_string()).collect(),
        test_from: None,
        target: Target::Classes,
    })
}
