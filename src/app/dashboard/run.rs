//! One training run as the dashboard keeps it: named series and the latest view per channel.
//! Saved beside the project (`name.runs.json`) so earlier runs come back when it is reopened.

use crate::telemetry::{Scalars, View};
use std::collections::BTreeMap;

/// Most points kept per curve in the history.
pub const HISTORY_POINTS: usize = 1000;
/// Most points kept per live curve. Past this, neighbouring points are averaged in pairs and
/// later ones arrive averaged over twice as many steps: a 200 000-step run keeps at most this
/// many points per series (memory and drawing stay bounded), and the curve shows the mean.
pub const LIVE_POINTS: usize = 4096;

/// One training run of the open project.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Run {
    /// Trainer run id (0 for runs read from the history).
    pub id: u64,
    /// "run 3" etc.
    pub label: String,
    /// Recipe id (what its series and views are, see the catalog).
    pub recipe: String,
    /// Device the trainer picked ("cpu: flex").
    pub device: String,
    /// Steps planned.
    pub planned: u64,
    /// Steps done.
    pub step: u64,
    /// `[step, value]` points per scalar (`loss`, `val_accuracy`, ...).
    pub series: BTreeMap<String, Vec<[f64; 2]>>,
    /// The latest evaluation's scalars.
    pub last_eval: Scalars,
    /// The latest view on each channel.
    pub views: BTreeMap<String, (u64, View)>,
    /// How it ended, in words (`None` while running).
    pub outcome: Option<String>,
    /// Wall time of the training loop once finished.
    pub seconds: Option<f64>,
    /// Where the trainer wrote this run's final weights (the Generate tab can load them).
    pub checkpoint: Option<std::path::PathBuf>,
    // Curves of history files written before series were named (read, then moved into `series`).
    #[serde(skip_serializing)]
    loss: Vec<[f64; 2]>,
    #[serde(skip_serializing)]
    accuracy: Vec<[f64; 2]>,
    #[serde(skip_serializing)]
    val_loss: Vec<[f64; 2]>,
    #[serde(skip_serializing)]
    val_accuracy: Vec<[f64; 2]>,
    #[serde(skip_serializing)]
    val_rmse: Vec<[f64; 2]>,
    /// Points not yet averaged into a series (long runs), per series.
    #[serde(skip)]
    buckets: BTreeMap<String, Bucket>,
}

/// Steps averaged into the next point of a long curve.
#[derive(Clone, Debug, PartialEq)]
struct Bucket {
    /// Steps per point (doubles each time the curve is halved).
    stride: usize,
    n: usize,
    x: f64,
    y: f64,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            stride: 1,
            n: 0,
            x: 0.0,
            y: 0.0,
        }
    }
}

impl Run {
    /// A new run.
    pub fn new(id: u64, label: String, recipe: &str, planned: u64) -> Self {
        Run {
            id,
            label,
            recipe: recipe.to_owned(),
            planned,
            ..Run::default()
        }
    }

    /// The points of series `key` (empty when it has none).
    pub fn series(&self, key: &str) -> &[[f64; 2]] {
        self.series.get(key).map_or(&[], Vec::as_slice)
    }

    /// Adds a point to every series in `scalars` (at most [`LIVE_POINTS`] per series: see there).
    pub fn push(&mut self, step: u64, scalars: &Scalars) {
        for (k, v) in scalars {
            let points = self.series.entry(k.clone()).or_default();
            let b = self.buckets.entry(k.clone()).or_default();
            b.n += 1;
            b.x += step as f64;
            b.y += *v;
            if b.n < b.stride {
                continue;
            }
            points.push([b.x / b.n as f64, b.y / b.n as f64]);
            b.n = 0;
            b.x = 0.0;
            b.y = 0.0;
            if points.len() >= LIVE_POINTS {
                *points = halve(points);
                b.stride *= 2;
            }
        }
    }

    /// Adds the points still being averaged (the run ended).
    pub fn flush(&mut self) {
        for (k, b) in std::mem::take(&mut self.buckets) {
            if b.n > 0 {
                let n = b.n as f64;
                self.series.entry(k).or_default().push([b.x / n, b.y / n]);
            }
        }
    }

    /// Moves curves of an older history file into named series.
    pub fn migrate(mut self) -> Self {
        for (key, points) in [
            ("loss", std::mem::take(&mut self.loss)),
            ("accuracy", std::mem::take(&mut self.accuracy)),
            ("val_loss", std::mem::take(&mut self.val_loss)),
            ("val_accuracy", std::mem::take(&mut self.val_accuracy)),
            ("val_rmse", std::mem::take(&mut self.val_rmse)),
        ] {
            if !points.is_empty() {
                self.series.entry(key.to_owned()).or_insert(points);
            }
        }
        if self.recipe.is_empty() {
            self.recipe = crate::doc::DEFAULT_RECIPE.to_owned();
        }
        self
    }

    /// A copy for the history file: curves thinned to [`HISTORY_POINTS`].
    pub fn for_history(&self) -> Run {
        Run {
            id: 0,
            series: self
                .series
                .iter()
                .map(|(k, v)| (k.clone(), thin(v, HISTORY_POINTS)))
                .collect(),
            ..self.clone()
        }
    }
}

/// Neighbouring points averaged in pairs (an odd last point stays as it is).
fn halve(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    points
        .chunks(2)
        .map(|c| match c {
            [a, b] => [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0],
            [a] => *a,
            _ => [f64::NAN, f64::NAN],
        })
        .collect()
}

/// Every `k`-th point so that at most `max` remain (the last point always stays).
pub fn thin(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max {
        return points.to_vec();
    }
    let k = points.len().div_ceil(max);
    let mut out: Vec<[f64; 2]> = points.iter().step_by(k).copied().collect();
    if let Some(last) = points.last()
        && out.last() != Some(last)
    {
        out.push(*last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_keeps_a_bounded_curve_of_means() {
        let mut run = Run::default();
        let steps = 200_000u64;
        for step in 1..=steps {
            let mut s = Scalars::new();
            s.insert("loss".into(), (step % 2) as f64);
            run.push(step, &s);
        }
        run.flush();
        let loss = run.series("loss");
        assert!(loss.len() <= LIVE_POINTS, "{} points", loss.len());
        assert!(loss.len() >= LIVE_POINTS / 2);
        // Points are means over neighbouring steps (0 and 1 alternate: every full mean is 0.5), in
        // step order.
        assert!(loss[..loss.len() - 1].iter().all(|p| (p[1] - 0.5).abs() < 1e-9));
        assert!(loss.windows(2).all(|w| w[0][0] < w[1][0]));
        assert!(loss.last().is_some_and(|p| p[0] > (steps - 100) as f64));
    }

    #[test]
    fn long_curves_are_thinned_for_the_history_keeping_the_ends() {
        let points: Vec<[f64; 2]> = (0..2500).map(|i| [f64::from(i), 1.0]).collect();
        let t = thin(&points, 1000);
        assert!(t.len() <= 1001, "{}", t.len());
        assert_eq!(t.first(), points.first());
        assert_eq!(t.last(), points.last());
        assert_eq!(thin(&points[..10], 1000).len(), 10);
    }

    #[test]
    fn history_files_from_before_named_series_still_read() {
        let old = r#"{"label": "run 1", "planned": 10, "step": 2, "loss": [[1, 0.9], [2, 0.8]],
            "val_accuracy": [[2, 0.5]], "eval": {"step": 2, "val_loss": 0.7, "confusion": [], "classes": []}}"#;
        let run: Run = serde_json::from_str::<Run>(old)
            .map(Run::migrate)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.series("loss"), [[1.0, 0.9], [2.0, 0.8]]);
        assert_eq!(run.series("val_accuracy"), [[2.0, 0.5]]);
        assert_eq!(run.recipe, crate::doc::DEFAULT_RECIPE);
    }
}
