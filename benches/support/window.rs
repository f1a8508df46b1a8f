//! The app in a plain egui context, frame by frame, as the benches drive it (shared by
//! `ui_frame` and `memory`).
#![allow(dead_code)]

use std::time::{Duration, Instant};
use strata::app::StrataApp;
use strata::doc::{Edit, Node, Project, Scope, Wire};

/// A chain of `n` nodes (input, then linear / relu alternating), 40 to a row.
pub fn big_graph(n: usize) -> Project {
    let mut p = Project::new("1000 nodes");
    let mut prev = None;
    for i in 0..n {
        let kind = if i == 0 {
            "input"
        } else if i % 2 == 1 {
            "linear"
        } else {
            "relu"
        };
        let mut node = strata::catalog::default_node(kind).unwrap_or_else(|| Node::new(kind));
        node.pos = [(i % 40) as f32 * 230.0, (i / 40) as f32 * 140.0];
        let (e, id) = Edit::add_node(&mut p, Scope::Root, node).unwrap();
        e.apply(&mut p).unwrap();
        if let Some(prev) = prev {
            Edit::AddWire {
                scope: Scope::Root,
                wire: Wire::new(prev, "y", id, "x"),
            }
            .apply(&mut p)
            .unwrap();
        }
        prev = Some(id);
    }
    p
}

/// The app in a plain egui context, as the real window runs it (no AccessKit tree unless a
/// screen reader asks for one).
pub struct Window {
    pub ctx: egui::Context,
    pub app: StrataApp,
    frame: eframe::Frame,
    time: f64,
}

impl Window {
    pub fn new(app: StrataApp) -> Self {
        let mut w = Window {
            ctx: egui::Context::default(),
            app,
            frame: eframe::Frame::_new_kittest(),
            time: 0.0,
        };
        for _ in 0..5 {
            w.frame(vec![]);
        }
        w
    }

    /// One frame: build the UI and tessellate it, like eframe does before painting.
    pub fn frame(&mut self, events: Vec<egui::Event>) -> Duration {
        self.time += 1.0 / 60.0;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1600.0, 1000.0))),
            time: Some(self.time),
            events,
            ..Default::default()
        };
        let t = Instant::now();
        let out = self
            .ctx
            .run_ui(input, |ui| eframe::App::ui(&mut self.app, ui, &mut self.frame));
        let _mesh = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        t.elapsed()
    }

    pub fn key(&mut self, key: egui::Key) {
        self.frame(vec![egui::Event::Key {
            key,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        }]);
        self.frame(vec![]);
    }
}
