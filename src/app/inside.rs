//! A block opened in place: its inside drawn within the block's node on the parent graph (the
//! same drawing as an exported picture, scaled down), so the inside can be seen without leaving
//! the graph. Editing the inside still happens in the block's own view ("open").

use crate::doc::Project;
use crate::picture::Scene;
use egui::{Color32, Pos2, Rect, Stroke};

/// Largest width of an inside drawing on the canvas (graph units).
const MAX_WIDTH: f32 = 420.0;

/// Draws the inside of block `block` at a readable size; returns its response (hover shows
/// how to edit it).
pub fn show(ui: &mut egui::Ui, project: &Project, block: &str) -> Option<egui::Response> {
    let def = project.block(block)?;
    let scene = Scene::new(project, &def.graph, None);
    let scale = (MAX_WIDTH / scene.size[0]).min(0.55);
    let size = egui::vec2(scene.size[0], scene.size[1]) * scale;
    let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect.expand(1.0));
    let to = |p: [f32; 2]| Pos2::new(rect.min.x + p[0] * scale, rect.min.y + p[1] * scale);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    let weak = ui.visuals().weak_text_color();
    for w in &scene.wires {
        let (a, b) = (to(w.from), to(w.to));
        let reach = ((b.x - a.x).abs() * 0.5).clamp(10.0, 60.0);
        let curve = egui::epaint::CubicBezierShape::from_points_stroke(
            [a, a + egui::vec2(reach, 0.0), b - egui::vec2(reach, 0.0), b],
            false,
            Color32::TRANSPARENT,
            Stroke::new(1.0, weak),
        );
        painter.add(curve);
    }
    let font = egui::FontId::proportional((13.0 * scale).max(7.0));
    for n in &scene.nodes {
        let [x, y, w, h] = n.rect;
        let r = Rect::from_min_size(to([x, y]), egui::vec2(w, h) * scale);
        let c = Color32::from_rgb(n.color[0], n.color[1], n.color[2]);
        painter.rect_filled(r, 3.0, ui.visuals().panel_fill);
        painter.rect_stroke(r, 3.0, Stroke::new(1.0, c), egui::StrokeKind::Inside);
        let title = if n.repeat > 1 {
            format!("{} ×{}", n.title, n.repeat)
        } else {
            n.title.clone()
        };
        painter.text(
            r.left_top() + egui::vec2(4.0, 3.0),
            egui::Align2::LEFT_TOP,
            title,
            font.clone(),
            c,
        );
    }
    Some(resp.on_hover_text("The inside of this block — \"open\" to edit it"))
}
