//! The data sources a project can name, as a registry: each with a display name, the kind of
//! data it gives (so the inspector offers only what the recipe can learn from), its typed
//! options (edited in the inspector like layer parameters) and its loader.

use super::{Dataset, loaders};
use crate::catalog::rules::{choice, float, int};
use crate::catalog::{DataKind, ParamKind, ParamSpec};
use crate::doc::{ParamValue, Params};
use std::path::{Path, PathBuf};

/// Loads a source: its own id, the project's options, the folder relative paths resolve against.
pub type Loader = fn(&str, &Params, Option<&Path>) -> Result<Dataset, String>;

/// One data source.
#[derive(Clone, Copy)]
pub struct DatasetSpec {
    /// Id in project files (`dataset.id`).
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// One line: what it is and where it comes from.
    pub doc: &'static str,
    /// What kind of data it gives.
    pub kind: DataKind,
    /// Typed options (`dataset.options`).
    pub options: &'static [ParamSpec],
    /// The loader.
    pub load: Loader,
}

const fn text(name: &'static str, tooltip: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind: ParamKind::Text,
        default: crate::catalog::ParamDefault::Text(""),
        tooltip,
    }
}

const PAD: ParamSpec = int(
    "pad_to",
    0,
    0,
    1024,
    "Pad images with zeros to this size (0: as they are), e.g. 32 for LeNet-5",
);

const CHANNELS: ParamSpec = int(
    "channels",
    0,
    0,
    64,
    "Repeat each grey image into this many channels (0: as they are), e.g. 4 for a model built for 4-channel latents such as DiT",
);

fn builtin(id: &str, options: &Params, _: Option<&Path>) -> Result<Dataset, String> {
    let ds = super::builtin(id).map_err(|e| e.to_string())?;
    match opt_int(options, "channels") {
        Some(c) if c > 0 => repeat_channels(ds, c as usize),
        _ => Ok(ds),
    }
}

/// Grey images repeated into `c` identical channels.
fn repeat_channels(mut ds: Dataset, c: usize) -> Result<Dataset, String> {
    if ds.shape.len() != 3 || ds.shape[0] == c {
        return Ok(ds);
    }
    if ds.shape[0] != 1 {
        return Err(format!(
            "the channels option repeats grey images; {} has {} channels",
            ds.name, ds.shape[0]
        ));
    }
    let per = ds.shape[1] * ds.shape[2];
    ds.features = match ds.features {
        super::Features::U8(v) => super::Features::U8(v.chunks(per).flat_map(|img| img.repeat(c)).collect()),
        super::Features::F32(v) => super::Features::F32(v.chunks(per).flat_map(|img| img.repeat(c)).collect()),
    };
    ds.shape[0] = c;
    Ok(ds)
}

fn opt_text(options: &Params, k: &str) -> Option<String> {
    options
        .get(k)
        .and_then(|v| v.as_text().map(str::to_owned))
        .filter(|s| !s.is_empty())
}

fn opt_path(id: &str, options: &Params, k: &str, base: Option<&Path>) -> Result<PathBuf, String> {
    let p = opt_text(options, k).ok_or_else(|| format!("the {id} dataset needs the option '{k}' (a path)"))?;
    let p = Path::new(&p);
    Ok(match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_owned(),
    })
}

fn opt_int(options: &Params, k: &str) -> Option<i64> {
    options.get(k).and_then(ParamValue::as_int)
}

/// A non-negative integer option, `default` when missing.
fn opt_usize(options: &Params, k: &str, default: usize) -> usize {
    opt_int(options, k).map_or(default, |v| v.max(0) as usize)
}

/// A real option, `default` when missing.
fn opt_float(options: &Params, k: &str, default: f64) -> f64 {
    options.get(k).and_then(ParamValue::as_float).unwrap_or(default)
}

fn csv(id: &str, o: &Params, base: Option<&Path>) -> Result<Dataset, String> {
    loaders::csv(
        &opt_path(id, o, "path", base)?,
        opt_text(o, "label").as_deref(),
        opt_text(o, "task").as_deref() == Some("regression"),
    )
    .map_err(|e| e.to_string())
}

fn image_folder(id: &str, o: &Params, base: Option<&Path>) -> Result<Dataset, String> {
    loaders::image_folder(
        &opt_path(id, o, "path", base)?,
        opt_int(o, "size")
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| *s > 0),
        opt_int(o, "channels").and_then(|c| u32::try_from(c).ok()).unwrap_or(3),
    )
    .map_err(|e| e.to_string())
}

fn idx(id: &str, o: &Params, base: Option<&Path>) -> Result<Dataset, String> {
    loaders::idx_pair(&opt_path(id, o, "images", base)?, &opt_path(id, o, "labels", base)?).map_err(|e| e.to_string())
}

fn planar(id: &str, o: &Params, _: Option<&Path>) -> Result<Dataset, String> {
    let n = opt_int(o, "points")
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(2000)
        .clamp(10, 1_000_000);
    let spread = o
        .get("noise")
        .and_then(ParamValue::as_float)
        .unwrap_or(0.1)
        .clamp(0.0, 10.0);
    let seed = opt_int(o, "seed").and_then(|v| u64::try_from(v).ok()).unwrap_or(7);
    Ok(match id {
        "two_moons" => super::planar::two_moons(n, spread, seed),
        _ => super::planar::gaussian_ring(n, spread, seed),
    })
}

const PLANAR: &[ParamSpec] = &[
    int("points", 2000, 10, 1_000_000, "How many points"),
    float(
        "noise",
        0.1,
        0.0,
        10.0,
        "Standard deviation of the Gaussian noise around the shape",
    ),
    int("seed", 7, 0, 1 << 40, "Seed of the points"),
];

const fn images(id: &'static str, name: &'static str, doc: &'static str) -> DatasetSpec {
    DatasetSpec {
        id,
        name,
        doc,
        kind: DataKind::Examples,
        options: &[PAD, CHANNELS],
        load: builtin,
    }
}

const fn table(id: &'static str, name: &'static str, doc: &'static str) -> DatasetSpec {
    DatasetSpec {
        id,
        name,
        doc,
        kind: DataKind::Examples,
        options: &[],
        load: builtin,
    }
}

const fn env(id: &'static str, name: &'static str, doc: &'static str) -> DatasetSpec {
    DatasetSpec {
        id,
        name,
        doc,
        kind: DataKind::Env,
        options: &[],
        load: |id, _, _| {
            Err(format!(
                "'{id}' is an environment to act in, not a dataset: choose a recipe that acts in an environment"
            ))
        },
    }
}

/// Every data source, built-in ones first.
pub const SOURCES: &[DatasetSpec] = &[
    images(
        "mnist_5k",
        "MNIST (5 000 digits)",
        "Handwritten digits 28×28, 500 per class (LeCun et al.; CC BY-SA 3.0)",
    ),
    images(
        "fashion_mnist",
        "Fashion-MNIST (subset)",
        "Clothing 28×28 in 10 classes (Xiao et al. 2017; MIT)",
    ),
    images(
        "digits",
        "UCI digits 8×8",
        "1 797 small handwritten digits (scikit-learn; BSD-3)",
    ),
    images(
        "shapes",
        "Shapes (segmentation)",
        "Procedural 32×32 images with a circle or a square; a class per pixel",
    ),
    DatasetSpec {
        id: "two_moons",
        name: "Two moons (2-D)",
        doc: "Points on two interleaved half circles: a 2-D density to learn (flows, score models)",
        kind: DataKind::Examples,
        options: PLANAR,
        load: planar,
    },
    DatasetSpec {
        id: "gaussian_ring",
        name: "Ring of 8 Gaussians (2-D)",
        doc: "Points from 8 Gaussians on a circle: a multi-modal 2-D density",
        kind: DataKind::Examples,
        options: PLANAR,
        load: planar,
    },
    table("iris", "Iris", "150 flowers, 4 measurements, 3 species (Fisher 1936)"),
    table("wine", "Wine", "178 wines, 13 chemical measurements, 3 cultivars (UCI)"),
    table(
        "breast_cancer",
        "Breast cancer",
        "569 tumours, 30 features, benign or malignant (UCI Wisconsin)",
    ),
    DatasetSpec {
        id: "csv",
        name: "CSV file",
        doc: "Your table: one row per example, a header row, numbers; one column holds the label or target",
        kind: DataKind::Examples,
        options: &[
            text("path", "The CSV file (relative to the project file)"),
            text("label", "Column with the label or target (empty: the last column)"),
            choice(
                "task",
                "classification",
                &["classification", "regression"],
                "Classes or real-valued targets",
            ),
        ],
        load: csv,
    },
    DatasetSpec {
        id: "image_folder",
        name: "Image folder",
        doc: "Your pictures: one sub-folder per class (PNG or JPEG)",
        kind: DataKind::Examples,
        options: &[
            text("path", "The folder (relative to the project file)"),
            int(
                "size",
                32,
                0,
                1024,
                "Resize to this square size (0: keep; all must then match)",
            ),
            int("channels", 3, 1, 3, "1 for greyscale, 3 for colour"),
        ],
        load: image_folder,
    },
    DatasetSpec {
        id: "austen",
        name: "Pride and Prejudice (text)",
        doc: "Jane Austen's novel, 685 000 characters (public domain; from Debian r-cran-janeaustenr)",
        kind: DataKind::Corpus,
        options: &[],
        load: |_, _, _| super::text::austen(),
    },
    DatasetSpec {
        id: "text_file",
        name: "Text file",
        doc: "Your text: a UTF-8 .txt file, read character by character",
        kind: DataKind::Corpus,
        options: &[text("path", "The .txt file (relative to the project file)")],
        load: |id, o, base| super::text::file(&opt_path(id, o, "path", base)?),
    },
    DatasetSpec {
        id: "signals",
        name: "Signals (time series)",
        doc: "Windows of noisy synthetic signals (two sines of random period 8–40, phase and amplitude) and the clean values that follow: forecasting as regression",
        kind: DataKind::Examples,
        options: &[
            int("examples", 5_000, 100, 1_000_000, "Windows (a tenth validates)"),
            int("length", 64, 1, 4096, "Past values per window"),
            int("horizon", 16, 1, 1024, "Future values to predict"),
            float(
                "noise",
                0.1,
                0.0,
                10.0,
                "Standard deviation of the noise on the past values",
            ),
            int("seed", 1, 0, 1_000_000, "Which series"),
        ],
        load: |_, o, _| {
            let n = |k: &str, d: usize| opt_usize(o, k, d);
            let noise = match o.get("noise") {
                Some(ParamValue::Float(v)) => *v,
                Some(ParamValue::Int(v)) => *v as f64,
                _ => 0.1,
            };
            super::signals::signals(
                n("examples", 5_000),
                n("length", 64),
                n("horizon", 16),
                noise,
                n("seed", 1) as u64,
            )
        },
    },
    DatasetSpec {
        id: "seq_task",
        name: "Sequence task (synthetic)",
        doc: "Pairs made up in-process: reverse, sort or copy a string of digits, add two numbers, or spell a number in English words",
        kind: DataKind::Pairs,
        options: &[
            choice(
                "task",
                "reverse",
                super::sequences::TASKS,
                "What the target is made from the source",
            ),
            int("min_length", 4, 1, 64, "Shortest source (digits)"),
            int(
                "max_length",
                8,
                1,
                64,
                "Longest source (digits; for add, the two numbers share it)",
            ),
            int(
                "pairs",
                20_000,
                100,
                1_000_000,
                "Training pairs (one validation pair more per 20, at least 200, none of them seen in training)",
            ),
        ],
        load: |_, o, _| {
            let n = |k: &str, d: usize| opt_usize(o, k, d);
            let task = match o.get("task") {
                Some(ParamValue::Text(t)) => t.clone(),
                _ => "reverse".to_owned(),
            };
            super::sequences::generate(&task, n("min_length", 4), n("max_length", 8), n("pairs", 20_000))
        },
    },
    DatasetSpec {
        id: "skeletons",
        name: "Skeleton motions (spatio-temporal)",
        doc: "8-joint stick figures moving for 16 frames — waving, jumping, swaying or walking — as [2, 16, 8] clips (x and y of every joint in every frame)",
        kind: DataKind::Examples,
        options: &[
            int("clips", 2400, 12, 1_000_000, "Clips (the last sixth for test)"),
            int("seed", 7, 0, 1_000_000, "Seed"),
        ],
        load: |_, o, _| {
            let n = |k: &str, d: usize| opt_usize(o, k, d);
            Ok(super::skeletons::motions(n("clips", 2400), n("seed", 7) as u64))
        },
    },
    DatasetSpec {
        id: "cora",
        name: "Cora (citation graph)",
        doc: "2 708 papers (1 433 binary word features) in 7 subjects, 5 278 citations; 140 labelled papers, 500 validation, 1 000 test (McCallum et al. 2000; LINQS)",
        kind: DataKind::Graph,
        options: &[],
        load: |_, _, _| super::graphs::cora(),
    },
    DatasetSpec {
        id: "karate",
        name: "Karate club (graph)",
        doc: "Zachary's 34 club members and their 78 friendships; which of the two clubs each joined, learned from the two leaders' labels (Zachary 1977)",
        kind: DataKind::Graph,
        options: &[],
        load: |_, _, _| Ok(super::graphs::karate()),
    },
    DatasetSpec {
        id: "sbm",
        name: "Stochastic block model (graph)",
        doc: "A synthetic graph of communities: most links inside a community, features its noisy centre",
        kind: DataKind::Graph,
        options: &[
            int("nodes", 2000, 8, 2_000_000, "Nodes"),
            int("communities", 4, 2, 64, "Communities (classes)"),
            float("degree", 8.0, 0.5, 200.0, "Average links per node"),
            float("p_in", 0.8, 0.0, 1.0, "Share of links inside the community"),
            float("noise", 2.0, 0.0, 100.0, "Feature noise around the community's centre"),
            int("seed", 7, 0, 1_000_000, "Seed"),
        ],
        load: |_, o, _| {
            let f = |k: &str, d: f64| opt_float(o, k, d);
            let n = |k: &str, d: usize| opt_usize(o, k, d);
            super::graphs::sbm(
                n("nodes", 2000),
                n("communities", 4),
                f("degree", 8.0),
                f("p_in", 0.8),
                f("noise", 2.0),
                n("seed", 7) as u64,
            )
        },
    },
    DatasetSpec {
        id: "motifs",
        name: "Motif graphs (graph set)",
        doc: "Small graphs to classify by shape: a ring, a star or a ladder (each with a random extra link); every node starts as a 1, edge features say the kind of edge",
        kind: DataKind::Graphs,
        options: &[
            int("graphs", 600, 12, 1_000_000, "Graphs (the last sixth for test)"),
            int("seed", 7, 0, 1_000_000, "Seed"),
        ],
        load: |_, o, _| {
            let n = |k: &str, d: usize| opt_usize(o, k, d);
            super::graphs::motifs(n("graphs", 600), n("seed", 7) as u64)
        },
    },
    DatasetSpec {
        id: "graph_csv",
        name: "Graph from CSV files",
        doc: "Your graph: a node CSV (id, numeric features, label) and an edge-list CSV (two node ids per row)",
        kind: DataKind::Graph,
        options: &[
            text(
                "nodes",
                "The node CSV: a header, then id, features…, label (relative to the project file)",
            ),
            text(
                "edges",
                "The edge CSV: two node ids per row (relative to the project file)",
            ),
        ],
        load: |id, o, base| super::graphs::from_csv(&opt_path(id, o, "nodes", base)?, &opt_path(id, o, "edges", base)?),
    },
    env(
        "cartpole",
        "CartPole-v1 (environment)",
        "Balance a pole on a cart by pushing left or right: 4 numbers observed, 2 actions, +1 per step, at most 500 (Barto, Sutton & Anderson 1983; Gym's constants)",
    ),
    env(
        "pendulum",
        "Pendulum-v1 (environment)",
        "Swing a pendulum up and hold it with a torque in [−2, 2]: observes cos θ, sin θ, θ̇; reward −(θ² + 0.1θ̇² + 0.001u²), 200 steps (Gym)",
    ),
    env(
        "gridworld",
        "Grid world (environment)",
        "A 5×5 grid with a wall: reach the goal corner (+1) through the gap, −0.01 a step, 4 actions, at most 50 steps",
    ),
    DatasetSpec {
        id: "idx",
        name: "IDX files",
        doc: "An images file and a labels file in MNIST's IDX format",
        kind: DataKind::Examples,
        options: &[
            text("images", "The images file (…-images-idx3-ubyte[.gz])"),
            text("labels", "The labels file (…-labels-idx1-ubyte[.gz])"),
        ],
        load: idx,
    },
];

/// The source with `id`.
pub fn source(id: &str) -> Option<&'static DatasetSpec> {
    SOURCES.iter().find(|s| s.id == id)
}
