//! One renderer per [`View`] variant: whatever a recipe produces is drawn here, so the
//! dashboard never needs to know the recipe.

use crate::telemetry::{Matrix, Picture, Scatter, Table, View};
use egui::{Color32, ColorImage, TextureHandle, TextureOptions};
use egui_plot::{Legend, Plot, Points};

/// Group colours for scatters (design tokens shared with pictures written by the CLI).
fn group_colour(g: u16) -> Color32 {
    let c = crate::telemetry::GROUP_COLOURS[usize::from(g) % crate::telemetry::GROUP_COLOURS.len()];
    Color32::from_rgb(c[0], c[1], c[2])
}

/// A texture cache for one picture, keyed by the caller (e.g. step and channel).
#[derive(Default)]
pub struct PictureCache {
    key: Option<(String, u64)>,
    texture: Option<TextureHandle>,
}

impl PictureCache {
    /// The texture of `pic`, uploaded when `key` changes; `None` for a damaged picture.
    pub fn texture(&mut self, ctx: &egui::Context, key: (String, u64), pic: &Picture) -> Option<&TextureHandle> {
        if self.key.as_ref() != Some(&key) || self.texture.is_none() {
            self.texture = pic.is_well_formed().then(|| {
                let img = ColorImage::from_rgb([pic.width, pic.height], &pic.rgb);
                ctx.load_texture(format!("strata-view-{}", key.0), img, TextureOptions::NEAREST)
            });
            self.key = Some(key);
        }
        self.texture.as_ref()
    }
}

/// Draws `view` in at most `height` points; `cache` keeps the picture's texture between frames.
pub fn show(ui: &mut egui::Ui, view: &View, key: (String, u64), height: f32, cache: &mut PictureCache) {
    match view {
        View::Image(p) => match cache.texture(ui.ctx(), key, p) {
            Some(tex) => {
                // Never smaller than its pixels (samples must stay legible); scroll when the panel is small.
                let size = tex.size_vec2();
                let scale = (height / size.y).min(ui.available_width() / size.x).clamp(1.0, 4.0);
                egui::ScrollArea::both()
                    .id_salt("strata-view-image")
                    .max_height(height)
                    .show(ui, |ui| ui.image((tex.id(), size * scale)));
            }
            None => {
                ui.colored_label(Color32::from_rgb(240, 90, 90), "this picture is damaged");
            }
        },
        View::Matrix(m) => matrix(ui, m, height),
        View::Scatter(s) => scatter(ui, s, &key.0, height),
        View::Table(t) => table(ui, t, height),
        View::Text(t) => text(ui, t, height),
    }
}

/// Generated text: the prompt in the accent colour, then what the model wrote, wrapped, in a
/// scroll area; how it was sampled underneath.
fn text(ui: &mut egui::Ui, t: &crate::telemetry::Text, height: f32) {
    egui::ScrollArea::vertical()
        .id_salt("strata-view-text")
        .max_height(height.max(120.0))
        .show(ui, |ui| {
            let mut job = egui::text::LayoutJob::default();
            let mono = egui::FontId::monospace(13.0);
            job.append(
                &t.prompt,
                0.0,
                egui::TextFormat::simple(mono.clone(), ui.visuals().selection.stroke.color),
            );
            job.append(&t.text, 0.0, egui::TextFormat::simple(mono, ui.visuals().text_color()));
            job.wrap.max_width = ui.available_width();
            ui.label(job);
        });
    ui.weak(&t.how);
}

/// A heat map `side` points high: cells shaded by their share of the row, values written when
/// they fit, the labels on hover. The diagonal is green (right), the rest red (a confusion matrix
/// reads at a glance; other square matrices too).
pub fn matrix(ui: &mut egui::Ui, m: &Matrix, side: f32) {
    let n_rows = m.values.len().max(1);
    let n_cols = m.values.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let side = side.max(60.0);
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    let (cw, ch) = (side / n_cols as f32, side / n_rows as f32);
    let painter = ui.painter_at(rect);
    let mut hovered = None;
    for (r, row) in m.values.iter().enumerate() {
        let total: f64 = row.iter().map(|v| v.abs()).sum::<f64>().max(1e-12);
        for (c, &v) in row.iter().enumerate() {
            let frac = (v.abs() / total) as f32;
            let cell = egui::Rect::from_min_size(
                rect.min + egui::vec2(c as f32 * cw, r as f32 * ch),
                egui::vec2(cw - 1.0, ch - 1.0),
            );
            let base = if r == c {
                Color32::from_rgb(60, 170, 90)
            } else {
                Color32::from_rgb(220, 80, 70)
            };
            painter.rect_filled(cell, 0.0, Color32::from_gray(35).lerp_to_gamma(base, frac.sqrt()));
            if cw.min(ch) >= 18.0 && v != 0.0 {
                let text = if v.fract() == 0.0 {
                    format!("{v}")
                } else {
                    format!("{v:.2}")
                };
                painter.text(
                    cell.center(),
                    egui::Align2::CENTER_CENTER,
                    text,
                    egui::FontId::monospace((cw.min(ch) * 0.35).min(12.0)),
                    Color32::WHITE,
                );
            }
            if resp.hover_pos().is_some_and(|h| cell.contains(h)) {
                hovered = Some((r, c, v));
            }
        }
    }
    if let Some((r, c, v)) = hovered {
        let label = |l: &[String], i: usize| l.get(i).cloned().unwrap_or_else(|| i.to_string());
        resp.on_hover_text(format!(
            "{} {} → {} {}: {v}",
            m.rows_are,
            label(&m.row_labels, r),
            m.cols_are,
            label(&m.col_labels, c)
        ));
    }
}

/// A scatter plot, one colour per group, with a legend.
pub fn scatter(ui: &mut egui::Ui, s: &Scatter, id: &str, height: f32) {
    // Readable even in a short panel: at least 240 points high, scrolling when the panel is
    // smaller (drag the panel's edge up to see it whole).
    let side = height.max(240.0);
    egui::ScrollArea::vertical()
        .id_salt(format!("strata-scatter-scroll-{id}"))
        .max_height(height.max(80.0))
        .show(ui, |ui| {
            Plot::new(format!("strata-scatter-{id}"))
                .height(side)
                .width((side * 1.3).min(ui.available_width()))
                .legend(Legend::default())
                .show(ui, |p| {
                    for (g, name) in s.groups.iter().enumerate() {
                        let pts: Vec<[f64; 2]> = s
                            .points
                            .iter()
                            .zip(&s.group_of)
                            .filter(|(_, k)| usize::from(**k) == g)
                            .map(|(pt, _)| [f64::from(pt[0]), f64::from(pt[1])])
                            .collect();
                        p.points(Points::new(name.clone(), pts).radius(1.5).color(group_colour(g as u16)));
                    }
                });
        });
}

/// A table of text cells.
pub fn table(ui: &mut egui::Ui, t: &Table, height: f32) {
    egui::ScrollArea::vertical().max_height(height).show(ui, |ui| {
        egui::Grid::new("strata-view-table").striped(true).show(ui, |ui| {
            for c in &t.columns {
                ui.strong(c);
            }
            ui.end_row();
            for r in &t.rows {
                for cell in r {
                    ui.label(cell);
                }
                ui.end_row();
            }
        });
    });
}
