//! What a training run reports, whatever its recipe: named scalars and views.
//!
//! Plain data (serde, no Burn, no egui): the engine produces it, the app draws it (one renderer
//! per [`View`] variant in `app/views.rs`), the CLI writes it (`--samples`), and the run history
//! keeps it. Which scalars and views a recipe produces is declared in its
//! [`crate::catalog::RecipeSpec`], so no reader needs to know the recipe.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Named scalar values of one step or one evaluation (`loss`, `d_loss`, `val_accuracy`, ...).
pub type Scalars = BTreeMap<String, f64>;

/// A picture: row-major RGB bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major RGB bytes (`width * height * 3`).
    pub rgb: Vec<u8>,
}

impl Picture {
    /// True when the byte count matches the size.
    pub fn is_well_formed(&self) -> bool {
        self.width > 0 && self.height > 0 && self.rgb.len() == self.width * self.height * 3
    }
}

/// A labelled matrix of numbers, drawn as a heat map (a confusion matrix, attention weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// What the rows are ("true class").
    pub rows_are: String,
    /// What the columns are ("predicted class").
    pub cols_are: String,
    /// One label per row.
    pub row_labels: Vec<String>,
    /// One label per column.
    pub col_labels: Vec<String>,
    /// `values[row][col]`.
    pub values: Vec<Vec<f64>>,
}

/// Points in the plane, each in a group (a class, "data" vs "samples").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scatter {
    /// The points.
    pub points: Vec<[f32; 2]>,
    /// Group index of each point (into `groups`).
    pub group_of: Vec<u16>,
    /// Group names.
    pub groups: Vec<String>,
}

/// Rows of text cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<String>>,
}

/// Generated text: what the model wrote after a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Text {
    /// The prompt it continued (shown apart from what the model wrote).
    pub prompt: String,
    /// What the model wrote.
    pub text: String,
    /// How it was sampled ("temperature 0.8, top-k 0").
    pub how: String,
}

/// Something a run shows besides its curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum View {
    /// A picture: a grid of samples, a strip of interpolations or denoising steps.
    Image(Picture),
    /// A heat map with labels.
    Matrix(Matrix),
    /// A 2-D scatter plot.
    Scatter(Scatter),
    /// A table of text.
    Table(Table),
    /// Generated text after a prompt.
    Text(Text),
}

impl View {
    /// A word for messages ("image", "matrix", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            View::Image(_) => "image",
            View::Matrix(_) => "matrix",
            View::Scatter(_) => "scatter",
            View::Table(_) => "table",
            View::Text(_) => "text",
        }
    }

    /// The view as a picture for files (`strata train --samples x.png`): images as they are,
    /// scatters and matrices drawn; `None` for tables.
    pub fn to_picture(&self) -> Option<Picture> {
        match self {
            View::Image(p) => p.is_well_formed().then(|| p.clone()),
            View::Scatter(s) => Some(draw_scatter(s, 512)),
            View::Matrix(m) => Some(draw_matrix(m, 24)),
            View::Table(_) | View::Text(_) => None,
        }
    }

    /// The view as text for files (`--samples x.txt`): tables and matrices as tab-separated rows.
    pub fn to_text(&self) -> Option<String> {
        match self {
            View::Table(t) => {
                let mut s = t.columns.join("\t");
                for r in &t.rows {
                    s.push('\n');
                    s.push_str(&r.join("\t"));
                }
                Some(s)
            }
            View::Matrix(m) => {
                let mut s = format!("{} \\ {}\t{}", m.rows_are, m.cols_are, m.col_labels.join("\t"));
                for (label, row) in m.row_labels.iter().zip(&m.values) {
                    let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
                    s.push_str(&format!("\n{label}\t{}", cells.join("\t")));
                }
                Some(s)
            }
            View::Text(t) => Some(format!("{}{}", t.prompt, t.text)),
            View::Image(_) | View::Scatter(_) => None,
        }
    }
}

/// Colours for groups in pictures written to files (the app uses its own theme).
pub const GROUP_COLOURS: [[u8; 3]; 10] = [
    [90, 160, 240],
    [240, 120, 60],
    [90, 200, 110],
    [220, 80, 160],
    [240, 200, 60],
    [150, 110, 230],
    [80, 200, 200],
    [200, 200, 200],
    [160, 110, 60],
    [250, 150, 170],
];

fn draw_scatter(s: &Scatter, side: usize) -> Picture {
    let mut rgb = vec![24u8; side * side * 3];
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in s.points.iter().filter(|p| p[0].is_finite() && p[1].is_finite()) {
        for k in 0..2 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let span = [(hi[0] - lo[0]).max(1e-6), (hi[1] - lo[1]).max(1e-6)];
    let margin = side as f32 * 0.05;
    let usable = side as f32 - 2.0 * margin;
    for (i, p) in s.points.iter().enumerate() {
        if !(p[0].is_finite() && p[1].is_finite()) {
            continue;
        }
        let x = margin + (p[0] - lo[0]) / span[0] * usable;
        let y = side as f32 - margin - (p[1] - lo[1]) / span[1] * usable;
        let colour = GROUP_COLOURS[usize::from(s.group_of.get(i).copied().unwrap_or(0)) % GROUP_COLOURS.len()];
        for dy in -1i32..=1 {
            for dx in -1i32..=1 {
                let (px, py) = (x as i32 + dx, y as i32 + dy);
                if px >= 0 && py >= 0 && (px as usize) < side && (py as usize) < side {
                    let o = (py as usize * side + px as usize) * 3;
                    rgb[o..o + 3].copy_from_slice(&colour);
                }
            }
        }
    }
    Picture {
        width: side,
        height: side,
        rgb,
    }
}

fn draw_matrix(m: &Matrix, cell: usize) -> Picture {
    let rows = m.values.len().max(1);
    let cols = m.values.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let max = m.values.iter().flatten().fold(0f64, |a, v| a.max(v.abs())).max(1e-12);
    let (w, h) = (cols * cell, rows * cell);
    let mut rgb = vec![0u8; w * h * 3];
    for (r, row) in m.values.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let t = (v.abs() / max).clamp(0.0, 1.0);
            let colour = [
                (40.0 + 200.0 * t) as u8,
                (40.0 + 120.0 * t) as u8,
                (60.0 + 40.0 * (1.0 - t)) as u8,
            ];
            for y in r * cell..(r + 1) * cell - 1 {
                for x in c * cell..(c + 1) * cell - 1 {
                    let o = (y * w + x) * 3;
                    rgb[o..o + 3].copy_from_slice(&colour);
                }
            }
        }
    }
    Picture {
        width: w,
        height: h,
        rgb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatters_and_matrices_become_pictures_and_tables_text() {
        let s = View::Scatter(Scatter {
            points: vec![[0.0, 0.0], [1.0, 1.0], [f32::NAN, 0.0]],
            group_of: vec![0, 1, 0],
            groups: vec!["data".into(), "samples".into()],
        });
        let p = s.to_picture().unwrap_or_else(|| panic!("no picture"));
        assert!(p.is_well_formed());
        let m = View::Matrix(Matrix {
            rows_are: "true".into(),
            cols_are: "predicted".into(),
            row_labels: vec!["a".into(), "b".into()],
            col_labels: vec!["a".into(), "b".into()],
            values: vec![vec![3.0, 1.0], vec![0.0, 4.0]],
        });
        assert!(m.to_picture().is_some_and(|p| p.is_well_formed()));
        assert_eq!(
            m.to_text().as_deref(),
            Some("true \\ predicted\ta\tb\na\t3\t1\nb\t0\t4")
        );
    }
}
