//! Data: the built-in datasets (embedded, compressed; see DATASETS.md), splits and batches.
//!
//! Knows nothing of Burn: batches are plain vectors the engine turns into tensors.

use std::io::Read;
use std::path::Path;

pub mod bpe;
pub mod envs;
pub mod graphs;
pub mod loaders;
pub mod planar;
pub mod sequences;
pub mod signals;
pub mod skeletons;
pub mod sources;
pub mod text;

pub use loaders::LoadDataError;

/// Why data could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// No built-in dataset with this id.
    #[error("unknown dataset '{0}' — available: {list}", list = builtin_ids().join(", "))]
    Unknown(String),
    /// The file is damaged.
    #[error("dataset {name}: {message}")]
    Corrupt {
        /// Dataset.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// The built-in datasets: (id, gzip bytes).
pub const BUILTIN: &[(&str, &[u8])] = &[
    ("mnist_5k", include_bytes!("files/mnist_5k.ds.gz")),
    ("fashion_mnist", include_bytes!("files/fashion_mnist.ds.gz")),
    ("digits", include_bytes!("files/digits.ds.gz")),
    ("iris", include_bytes!("files/iris.ds.gz")),
    ("wine", include_bytes!("files/wine.ds.gz")),
    ("breast_cancer", include_bytes!("files/breast_cancer.ds.gz")),
];

/// Ids of every data source (built-in sets, then users' files).
pub fn builtin_ids() -> Vec<&'static str> {
    sources::SOURCES.iter().map(|s| s.id).collect()
}

/// Feature storage.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    /// Pixels 0–255.
    U8(Vec<u8>),
    /// Real values.
    F32(Vec<f32>),
}

/// What a model learns to predict for each example.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One class per example (in [`Dataset::labels`]).
    Classes,
    /// `per` real values per example (regression).
    Values {
        /// Values per example.
        per: usize,
        /// All values, row-major.
        data: Vec<f32>,
    },
    /// One class per pixel: an `H × W` mask per example (segmentation).
    Masks(Vec<u8>),
    /// A token sequence per example (sequence-to-sequence): `len` token ids each, padded.
    Sequences {
        /// Tokens per example.
        len: usize,
        /// All tokens, row-major.
        data: Vec<u8>,
    },
    /// The examples are the nodes of one graph, each with a class (in [`Dataset::labels`]):
    /// its edges and which nodes are trained on, validated and tested (node classification).
    Nodes(graphs::NodeSplit),
    /// Every example is a small graph with a class (in [`Dataset::labels`]); the node features
    /// of all graphs in order are in [`Dataset::features`] (graph classification).
    Graphs(graphs::GraphSet),
}

/// A labelled dataset held in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Id.
    pub name: String,
    /// Shape of one example (e.g. `[1, 28, 28]` or `[13]`).
    pub shape: Vec<usize>,
    /// All examples' features, row-major.
    pub features: Features,
    /// One class index per example.
    pub labels: Vec<u8>,
    /// Class names.
    pub classes: Vec<String>,
    /// Examples from this index on are the official test split.
    pub test_from: Option<usize>,
    /// What to predict (classes, values or per-pixel masks).
    pub target: Target,
}

#[derive(serde::Deserialize)]
struct Header {
    n: usize,
    shape: Vec<usize>,
    dtype: String,
    classes: Vec<String>,
    #[serde(default)]
    test_from: Option<usize>,
}

/// Loads the dataset a project names (see [`sources::SOURCES`]); relative paths in the options
/// resolve against `base` (the project file's folder).
pub fn load(id: &str, options: &crate::doc::Params, base: Option<&Path>) -> Result<Dataset, String> {
    match sources::source(id) {
        Some(s) => (s.load)(id, options, base),
        None => Err(DataError::Unknown(id.to_owned()).to_string()),
    }
}

/// A procedural segmentation set: 1×32×32 images, each with one filled circle or square on a
/// noisy background; masks give background (0), circle (1) or square (2) per pixel.
pub fn shapes(n: usize, seed: u64) -> Dataset {
    const S: usize = 32;
    let mut rng = Rng::new(seed);
    let (mut px, mut masks, mut labels) = (
        Vec::with_capacity(n * S * S),
        Vec::with_capacity(n * S * S),
        Vec::with_capacity(n),
    );
    for _ in 0..n {
        let class = 1 + rng.below(2) as u8;
        let r = 4 + rng.below(6) as i64;
        let (cx, cy) = (
            r + rng.below(S - 2 * r as usize) as i64,
            r + rng.below(S - 2 * r as usize) as i64,
        );
        for y in 0..S as i64 {
            for x in 0..S as i64 {
                let inside = if class == 1 {
                    (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r
                } else {
                    (x - cx).abs() <= r && (y - cy).abs() <= r
                };
                let noise = rng.below(60) as u8;
                px.push(if inside { 170 + noise } else { noise });
                masks.push(if inside { class } else { 0 });
            }
        }
        labels.push(class);
    }
    Dataset {
        name: "shapes".into(),
        shape: vec![1, S, S],
        features: Features::U8(px),
        labels,
        classes: vec!["background".into(), "circle".into(), "square".into()],
        test_from: None,
        target: Target::Masks(masks),
    }
}

/// Loads a built-in dataset.
pub fn builtin(id: &str) -> Result<Dataset, DataError> {
    if id == "shapes" {
        return Ok(shapes(1200, 7));
    }
    let bytes = BUILTIN
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, b)| *b)
        .ok_or_else(|| DataError::Unknown(id.to_owned()))?;
    decode(id, bytes)
}

/// Decodes a `STRATA-DS1` gzip file.
pub fn decode(name: &str, gz: &[u8]) -> Result<Dataset, DataError> {
    let corrupt = |m: &str| DataError::Corrupt {
        name: name.to_owned(),
        message: m.to_owned(),
    };
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .map_err(|e| corrupt(&format!("cannot decompress: {e}")))?;
    let rest = raw
        .strip_prefix(b"STRATA-DS1\n")
        .ok_or_else(|| corrupt("not a Strata dataset file"))?;
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt("header line missing"))?;
    let header: Header = serde_json::from_slice(&rest[..nl]).map_err(|e| corrupt(&format!("bad header: {e}")))?;
    let body = &rest[nl + 1..];
    let per: usize = header.shape.iter().product();
    let width = if header.dtype == "f32" { 4 } else { 1 };
    let feat_len = header
        .n
        .checked_mul(per)
        .and_then(|v| v.checked_mul(width))
        .ok_or_else(|| corrupt("size overflow"))?;
    if body.len() != feat_len + header.n {
        return Err(corrupt(&format!(
            "expected {} bytes of data, found {}",
            feat_len + header.n,
            body.len()
        )));
    }
    let features = match header.dtype.as_str() {
        "u8" => Features::U8(body[..feat_len].to_vec()),
        "f32" => Features::F32(
            body[..feat_len]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        other => return Err(corrupt(&format!("unknown dtype {other}"))),
    };
    let labels = body[feat_len..].to_vec();
    if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= header.classes.len()) {
        return Err(corrupt(&format!("label {bad} is out of range")));
    }
    Ok(Dataset {
        name: name.to_owned(),
        shape: header.shape,
        features,
        labels,
        classes: header.classes,
        test_from: header.test_from,
        target: Target::Classes,
    })
}

impl Dataset {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per example.
    pub fn example_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// A fixed train/validation split: the official test part when there is one, else a
    /// seeded shuffle with `val_fraction` held out (stratification is not needed at these sizes).
    pub fn split(&self, seed: u64, val_fraction: f64) -> Split {
        if let Some(t) = self.test_from.filter(|&t| t < self.len()) {
            return Split {
                train: (0..t).collect(),
                val: (t..self.len()).collect(),
            };
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        shuffle(&mut idx, seed);
        let n_val = ((self.len() as f64) * val_fraction.clamp(0.0, 0.9)).round() as usize;
        let val = idx.split_off(self.len() - n_val);
        Split { train: idx, val }
    }

    /// Features of examples `idx` as f32, scaled to 0–1 for pixels; `pad` adds zeros around
    /// images (MNIST 28×28 → LeNet's 32×32 with `pad = 2`).
    pub fn batch_features(&self, idx: &[usize], pad: usize) -> (Vec<f32>, Vec<usize>) {
        let per = self.example_len();
        let mut shape = self.shape.clone();
        if pad > 0 && shape.len() == 3 {
            shape[1] += 2 * pad;
            shape[2] += 2 * pad;
        }
        let out_per: usize = shape.iter().product();
        let mut out = vec![0f32; idx.len() * out_per];
        for (k, &i) in idx.iter().enumerate() {
            let dst = &mut out[k * out_per..(k + 1) * out_per];
            match &self.features {
                Features::U8(v) => {
                    let src = &v[i * per..(i + 1) * per];
                    if pad > 0 && self.shape.len() == 3 {
                        let (c, h, w) = (self.shape[0], self.shape[1], self.shape[2]);
                        let (ph, pw) = (h + 2 * pad, w + 2 * pad);
                        for ch in 0..c {
                            for y in 0..h {
                                for x in 0..w {
                                    dst[ch * ph * pw + (y + pad) * pw + x + pad] =
                                        f32::from(src[ch * h * w + y * w + x]) / 255.0;
                                }
                            }
                        }
                    } else {
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d = f32::from(*s) / 255.0;
                        }
                    }
                }
                Features::F32(v) => dst.copy_from_slice(&v[i * per..(i + 1) * per]),
            }
        }
        let mut dims = vec![idx.len()];
        dims.extend(shape);
        (out, dims)
    }

    /// Labels of examples `idx`.
    pub fn batch_labels(&self, idx: &[usize]) -> Vec<i64> {
        idx.iter().map(|&i| i64::from(self.labels[i])).collect()
    }

    /// Regression targets of examples `idx` (`per` values each).
    pub fn batch_values(&self, idx: &[usize]) -> Vec<f32> {
        match &self.target {
            Target::Values { per, data } => idx
                .iter()
                .flat_map(|&i| data[i * per..(i + 1) * per].iter().copied())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Per-pixel classes of examples `idx`.
    pub fn batch_masks(&self, idx: &[usize]) -> Vec<i64> {
        let Target::Masks(m) = &self.target else {
            return Vec::new();
        };
        let per: usize = self.shape.iter().skip(1).product();
        idx.iter()
            .flat_map(|&i| m[i * per..(i + 1) * per].iter().map(|&v| i64::from(v)))
            .collect()
    }

    /// Per-feature mean and standard deviation over `idx` (for standardising tabular data).
    pub fn feature_stats(&self, idx: &[usize]) -> Option<(Vec<f32>, Vec<f32>)> {
        let Features::F32(v) = &self.features else { return None };
        let per = self.example_len();
        let n = idx.len().max(1) as f64;
        let mut mean = vec![0f64; per];
        let mut sq = vec![0f64; per];
        for &i in idx {
            for j in 0..per {
                let x = f64::from(v[i * per + j]);
                mean[j] += x;
                sq[j] += x * x;
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std: Vec<f32> = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(1e-12)).sqrt() as f32)
            .collect();
        Some((mean.iter().map(|m| *m as f32).collect(), std))
    }
}

/// Indices of a train/validation split.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Training examples.
    pub train: Vec<usize>,
    /// Validation examples.
    pub val: Vec<usize>,
}

/// A small, fast, seedable generator (SplitMix64) for shuffles; reproducible everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Fisher–Yates shuffle with a seed.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = Rng::new(seed);
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}
