//! The Cost tab: where training time goes, per node — measured forward and backward time next to
//! parameters and multiply-accumulates, sortable by any column; a row click selects the node.

use crate::doc::{NodeId, Project};
use crate::engine::profile::NodeCost;
use crate::shape::Report;

/// A column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Node title.
    Node,
    /// Learned parameters.
    Params,
    /// Multiply-accumulates per example.
    Macs,
    /// Forward time.
    Forward,
    /// Backward time.
    Backward,
    /// Share of the measured step.
    Share,
}

/// The table's sort order (column, descending).
#[derive(Clone, Copy, Debug)]
pub struct CostTable {
    /// Sorted by this column.
    pub sort: Column,
    /// Largest first.
    pub descending: bool,
}

impl Default for CostTable {
    fn default() -> Self {
        CostTable {
            sort: Column::Share,
            descending: true,
        }
    }
}

/// One row as shown.
struct Row {
    node: NodeId,
    title: String,
    params: u64,
    macs: u64,
    cost: NodeCost,
    share: f64,
}

/// Each node's share of the measured step (forward + backward), 0..1.
pub fn shares(cost: &[NodeCost]) -> std::collections::HashMap<NodeId, f32> {
    let total: f64 = cost.iter().map(NodeCost::total_ms).sum::<f64>().max(1e-9);
    cost.iter().map(|c| (c.node, (c.total_ms() / total) as f32)).collect()
}

impl CostTable {
    /// Shows the table for the latest timing pass (`step`, `cost`); returns a node the user clicked.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        project: &Project,
        report: &Report,
        measured: Option<&(u64, Vec<NodeCost>)>,
    ) -> Option<NodeId> {
        let Some((step, cost)) = measured else {
            ui.weak(
                "Train to measure: at step 10 and then every 250 steps the trainer times each node's \
                 forward and backward pass on the batch it just trained on.",
            );
            return None;
        };
        let total: f64 = cost.iter().map(NodeCost::total_ms).sum();
        let mut rows: Vec<Row> = cost
            .iter()
            .map(|c| {
                let n = project.graph.node(c.node);
                let r = report.node(c.node);
                Row {
                    node: c.node,
                    title: n.map(|n| crate::catalog::display_title(project, n)).unwrap_or_default(),
                    params: r.map_or(0, |r| r.params),
                    macs: r.map_or(0, |r| r.macs),
                    cost: *c,
                    share: if total > 0.0 { c.total_ms() / total } else { 0.0 },
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let o = match self.sort {
                Column::Node => a.title.cmp(&b.title),
                Column::Params => a.params.cmp(&b.params),
                Column::Macs => a.macs.cmp(&b.macs),
                Column::Forward => a.cost.forward_ms.total_cmp(&b.cost.forward_ms),
                Column::Backward => a.cost.backward_ms.total_cmp(&b.cost.backward_ms),
                Column::Share => a.share.total_cmp(&b.share),
            };
            if self.descending { o.reverse() } else { o }
        });
        ui.horizontal(|ui| {
            ui.label(format!(
                "Measured at step {step}: {total:.1} ms for forward + backward of every node, one batch"
            ));
            ui.weak("(each node timed alone on the inputs it had; click a heading to sort, a row to select)");
        });
        let mut picked = None;
        egui::ScrollArea::vertical().id_salt("cost-table").show(ui, |ui| {
            egui::Grid::new("cost-grid")
                .striped(true)
                .num_columns(7)
                .show(ui, |ui| {
                    for (col, name) in [
                        (Column::Node, "node"),
                        (Column::Params, "params"),
                        (Column::Macs, "MACs / example"),
                        (Column::Forward, "forward ms"),
                        (Column::Backward, "backward ms"),
                        (Column::Share, "share of step"),
                    ] {
                        let arrow = if self.sort == col {
                            if self.descending { " ⏷" } else { " ⏶" }
                        } else {
                            ""
                        };
                        if ui.button(format!("{name}{arrow}")).clicked() {
                            if self.sort == col {
                                self.descending = !self.descending;
                            } else {
                                self.sort = col;
                                self.descending = col != Column::Node;
                            }
                        }
                    }
                    ui.end_row();
                    for r in &rows {
                        if ui.selectable_label(false, &r.title).clicked() {
                            picked = Some(r.node);
                        }
                        ui.monospace(crate::catalog::human_count(r.params));
                        ui.monospace(crate::catalog::human_count(r.macs));
                        ui.monospace(format!("{:.2}", r.cost.forward_ms));
                        ui.monospace(format!("{:.2}", r.cost.backward_ms));
                        ui.horizontal(|ui| {
                            heat_bar(ui, r.share as f32, 80.0);
                            ui.monospace(format!("{:.1} %", r.share * 100.0));
                        });
                        ui.end_row();
                    }
                });
        });
        picked
    }
}

/// The colour of a share of time: pale yellow (little) to red (most).
pub fn heat_color(share: f32) -> egui::Color32 {
    let t = share.clamp(0.0, 1.0).sqrt();
    egui::Color32::from_rgb(235, (215.0 - 150.0 * t) as u8, (90.0 - 60.0 * t) as u8)
}

/// A horizontal bar `share` of `width` long.
pub fn heat_bar(ui: &mut egui::Ui, share: f32, width: f32) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(width, 6.0), egui::Sense::hover());
    let p = ui.painter();
    p.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let mut fill = rect;
    fill.set_width(width * share.clamp(0.0, 1.0));
    p.rect_filled(fill, 2.0, heat_color(share));
    resp
}
