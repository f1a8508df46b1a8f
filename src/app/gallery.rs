//! The presets gallery: every built-in architecture by family, with its description, paper and
//! parameter count (checked once, the first time the gallery shows).

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
    /// Dataset it trains on.
    pub dataset: String,
}

/// The gallery's state: entries (built lazily) and the search filter.
#[derive(Default)]
pub struct Gallery {
    entries: Option<Vec<Entry>>,
    filter: String,
    /// A problem to show above the presets (a file given on the command line that would not open).
    pub notice: Option<String>,
}

fn entry(id: &str, p: &Project) -> Entry {
    let report = crate::shape::check(p);
    let info = p.preset.as_ref();
    Entry {
        id: id.to_owned(),
        name: p.name.clone(),
        family: info.map_or_else(|| "Other".to_owned(), |i| i.family.clone()),
        archetype: info.map(|i| i.archetype.clone()).unwrap_or_default(),
        description: p.description.clone(),
        paper: info.map(|i| i.paper.clone()).unwrap_or_default(),
        params: report.total_params as usize,
        dataset: p.dataset.id.clone(),
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
        });
        let needle = self.filter.to_lowercase();
        let mut by_family: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in entries.iter() {
            let hay = format!("{} {} {} {} {}", e.id, e.name, e.family, e.archetype, e.description).to_lowercase();
            if needle.is_empty() || hay.contains(&needle) {
                by_family.entry(e.family.as_str()).or_default().push(e);
            }
        }
        let mut picked = None;
        egui::ScrollArea::vertical().max_height(480.0).show(ui, |ui| {
            for (family, list) in by_family {
                ui.add_space(4.0);
                ui.strong(family);
                for e in list {
                    egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.horizontal(|ui| {
                            if ui
                                .button(egui::RichText::new(&e.name).strong())
                                .on_hover_text("Open as a new project")
                                .clicked()
                            {
                                picked = Some(e.id.clone());
                            }
                            ui.monospace(format!("{} params", super::editor::human(e.params as u64)));
                            ui.label(format!("{} · trains on {}", e.archetype, e.dataset));
                        });
                        if !e.description.is_empty() {
                            ui.label(&e.description);
                        }
                        if !e.paper.is_empty() {
                            ui.weak(&e.paper);
                        }
                    });
                }
            }
        });
        picked
    }
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
    }
}
