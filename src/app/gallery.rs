//! The presets gallery: every built-in architecture by family, each card with a small drawing of
//! its graph, its parameter count, and honestly what it does here (the built-in data it trains on
//! and what a default run measured, or "view and export only" and why); filters by family and
//! archetype. Built once, the first time the gallery shows.

use crate::doc::Project;
use std::collections::BTreeMap;

/// One preset as the gallery shows it.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Preset id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Family heading.
    pub family: String,
    /// Archetype in words.
    pub archetype: String,
    /// What it is.
    pub description: String,
    /// Paper.
    pub paper: String,
    /// Learned parameters.
    pub params: usize,
    /// What it does here, in one line.
    pub does: String,
    /// Whether it trains on built-in data with a trainable recipe.
    pub trains: bool,
    /// The drawing: node rectangles (0..1 in both axes, aspect kept) with their colours, and wires.
    pub sketch: Sketch,
}

/// A graph reduced to boxes and lines, in a unit square.
#[derive(Clone, Debug, Default)]
pub struct Sketch {
    /// Node rectangles `[x, y, w, h]` and colours.
    pub boxes: Vec<([f32; 4], [u8; 3])>,
    /// Wires from box centre-right to box centre-left, by box index.
    pub wires: Vec<(usize, usize)>,
}

fn sketch(p: &Project) -> Sketch {
    let g = &p.graph;
    let rects: Vec<[f32; 4]> = g
        .nodes
        .iter()
        .map(|n| {
            let [w, h] = crate::catalog::node_size_hint(p, n);
            [n.pos[0], n.pos[1], w, h]
        })
        .collect();
    let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
    for r in &rects {
        lo = [lo[0].min(r[0]), lo[1].min(r[1])];
        hi = [hi[0].max(r[0] + r[2]), hi[1].max(r[1] + r[3])];
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1.0);
    let index: std::collections::HashMap<_, _> = g.nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    Sketch {
        boxes: rects
            .iter()
            .zip(&g.nodes)
            .map(|(r, n)| {
                let c = crate::catalog::node_category(n).map_or([200, 60, 60], crate::catalog::Category::rgb);
                (
                    [(r[0] - lo[0]) / span, (r[1] - lo[1]) / span, r[2] / span, r[3] / span],
                    c,
                )
            })
            .collect(),
        wires: g
            .wires
            .iter()
            .filter_map(|w| Some((*index.get(&w.from)?, *index.get(&w.to)?)))
            .collect(),
    }
}

/// What preset `p` does in this build, honestly: trains on which built-in data and what a default
/// run measured, or why it is for viewing and export only.
fn does(p: &Project) -> (bool, String) {
    let recipe = crate::catalog::recipe(&p.recipe.id).map_or(p.recipe.id.as_str(), |r| r.name);
    let data = crate::data::sources::source(&p.dataset.id);
    let recipe_ok = crate::engine::recipes::trainable(&p.recipe.id);
    let measured = p.preset.as_ref().and_then(|i| i.measured.as_deref());
    // For a reference-size model, what a training step would cost here.
    let cost = measured.map_or_else(String::new, |m| format!("; {m}"));
    match (data, recipe_ok) {
        (Some(d), true) => {
            let what = measured.map_or_else(String::new, |m| format!(": {m}"));
            (true, format!("Trains here on {} ({recipe}){what}", d.name))
        }
        (None, _) if !p.dataset.id.is_empty() => (
            false,
            format!(
                "View and export only: its data ({}) is not built in{cost}",
                p.dataset.id
            ),
        ),
        (None, _) => (false, format!("View and export only: no dataset is bound{cost}")),
        (Some(d), false) => (
            false,
            format!(
                "View and export only: the {recipe} recipe does not train yet (data: {})",
                d.name
            ),
        ),
    }
}

/// The gallery's state: entries (built lazily) and the search filter.
#[derive(Default)]
pub struct Gallery {
    entries: Option<Vec<Entry>>,
    filter: String,
    family: Option<String>,
    archetype: Option<String>,
    /// A problem to show above the presets (a file given on the command line that would not open).
    pub notice: Option<String>,
}

fn entry(id: &str, p: &Project) -> Entry {
    let report = crate::shape::check(p);
    let info = p.preset.as_ref();
    let (trains, does) = does(p);
    Entry {
        does,
        trains,
        sketch: sketch(p),
        id: id.to_owned(),
        name: p.name.clone(),
        family: info.map_or_else(|| "Other".to_owned(), |i| i.family.clone()),
        archetype: info.map(|i| i.archetype.clone()).unwrap_or_default(),
        description: p.description.clone(),
        paper: info.map(|i| i.paper.clone()).unwrap_or_default(),
        params: report.total_params as usize,
    }
}

/// Every preset, grouped by family.
pub fn entries() -> Vec<Entry> {
    crate::presets::ids()
        .filter_map(|id| match crate::presets::load(id) {
            Some(Ok(p)) => Some(entry(id, &p)),
            _ => None,
        })
        .collect()
}

impl Gallery {
    /// Shows the gallery; returns the preset the user picked.
    pub fn show(&mut self, ui: &mut egui::Ui) -> Option<String> {
        if let Some(n) = &self.notice {
            ui.colored_label(egui::Color32::from_rgb(240, 90, 90), n);
            ui.separator();
        }
        let entries = self.entries.get_or_insert_with(entries);
        ui.horizontal(|ui| {
            ui.heading("Presets");
            ui.add(egui::TextEdit::singleline(&mut self.filter).hint_text("filter"));
            choose(
                ui,
                "family",
                &mut self.family,
                entries.iter().map(|e| e.family.as_str()),
            );
            choose(
                ui,
                "archetype",
                &mut self.archetype,
                entries.iter().map(|e| e.archetype.as_str()),
            );
        });
        let needle = self.filter.to_lowercase();
        let mut by_family: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in entries.iter() {
            let hay = format!("{} {} {} {} {}", e.id, e.name, e.family, e.archetype, e.description).to_lowercase();
            if (needle.is_empty() || hay.contains(&needle))
                && self.family.as_ref().is_none_or(|f| *f == e.family)
                && self.archetype.as_ref().is_none_or(|a| *a == e.archetype)
            {
                by_family.entry(e.family.as_str()).or_default().push(e);
            }
        }
        let mut picked = None;
        egui::ScrollArea::vertical().max_height(520.0).show(ui, |ui| {
            for (family, list) in by_family {
                ui.add_space(4.0);
                ui.strong(family);
                for e in list {
                    egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.horizontal(|ui| {
                            if draw_sketch(ui, &e.sketch)
                                .on_hover_text("Open as a new project")
                                .clicked()
                            {
                                picked = Some(e.id.clone());
                            }
                            ui.vertical(|ui| {
                                ui.horizontal(|ui| {
                                    if ui
                                        .button(egui::RichText::new(&e.name).strong())
                                        .on_hover_text("Open as a new project")
                                        .clicked()
                                    {
                                        picked = Some(e.id.clone());
                                    }
                                    ui.monospace(format!("{} params", super::editor::human(e.params as u64)));
                                    ui.weak(&e.archetype);
                                });
                                let color = if e.trains {
                                    egui::Color32::from_rgb(110, 190, 120)
                                } else {
                                    ui.visuals().weak_text_color()
                                };
                                ui.colored_label(color, &e.does);
                                if !e.description.is_empty() {
                                    ui.label(&e.description);
                                }
                                if !e.paper.is_empty() {
                                    ui.weak(&e.paper);
                                }
                            });
                        });
                    });
                }
            }
        });
        picked
    }
}

/// A combo box choosing one of `values` (or all).
fn choose<'a>(ui: &mut egui::Ui, label: &str, value: &mut Option<String>, values: impl Iterator<Item = &'a str>) {
    let mut all: Vec<&str> = values.filter(|v| !v.is_empty()).collect();
    all.sort_unstable();
    all.dedup();
    egui::ComboBox::from_id_salt(("gallery-filter", label))
        .selected_text(value.clone().unwrap_or_else(|| format!("every {label}")))
        .show_ui(ui, |ui| {
            ui.selectable_value(value, None, format!("every {label}"));
            for v in all {
                ui.selectable_value(value, Some(v.to_owned()), v);
            }
        });
}

/// Paints a graph's sketch in a small frame; clickable.
fn draw_sketch(ui: &mut egui::Ui, s: &Sketch) -> egui::Response {
    let size = egui::vec2(150.0, 100.0);
    let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::click());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    let inner = rect.shrink(6.0);
    let scale = inner.width().min(inner.height());
    // Centre the unit square's used part.
    let used = s.boxes.iter().fold(egui::Vec2::ZERO, |m, (b, _)| {
        egui::vec2(m.x.max(b[0] + b[2]), m.y.max(b[1] + b[3]))
    }) * scale;
    let origin = inner.center() - used / 2.0;
    let to = |x: f32, y: f32| origin + egui::vec2(x, y) * scale;
    let stroke = egui::Stroke::new(0.8, ui.visuals().weak_text_color().gamma_multiply(0.6));
    for &(a, b) in &s.wires {
        let (ra, rb) = (s.boxes[a].0, s.boxes[b].0);
        painter.line_segment(
            [to(ra[0] + ra[2], ra[1] + ra[3] / 2.0), to(rb[0], rb[1] + rb[3] / 2.0)],
            stroke,
        );
    }
    for (b, c) in &s.boxes {
        let r = egui::Rect::from_min_max(to(b[0], b[1]), to(b[0] + b[2], b[1] + b[3]));
        painter.rect_filled(r, 1.0, egui::Color32::from_rgb(c[0], c[1], c[2]).gamma_multiply(0.85));
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_preset_is_in_the_gallery_with_its_family_and_count() {
        let all = super::entries();
        assert_eq!(all.len(), crate::presets::ids().count());
        let Some(r18) = all.iter().find(|e| e.id == "resnet18") else {
            panic!("no resnet18")
        };
        assert_eq!(r18.params, 11_689_512);
        assert!(all.iter().all(|e| !e.family.is_empty() && !e.name.is_empty()));
        // Honest about what it does here.
        let find = |id: &str| all.iter().find(|e| e.id == id).map(|e| (e.trains, e.does.clone()));
        let (trains, does) = find("lenet5").unwrap_or_default();
        assert!(trains && does.contains("MNIST") && does.contains("0.975"), "{does}");
        let (trains, does) = find("resnet18").unwrap_or_default();
        assert!(!trains && does.starts_with("View and export only"), "{does}");
        let (trains, does) = find("gcn").unwrap_or_default();
        assert!(trains && does.contains("Cora") && does.contains("0.791"), "{does}");
        let (trains, does) = find("ppo_cartpole").unwrap_or_default();
        assert!(trains && does.contains("CartPole") && does.contains("500"), "{does}");
        // Every card has a drawing with one box per node.
        assert!(all.iter().all(|e| !e.sketch.boxes.is_empty()));
    }
}
