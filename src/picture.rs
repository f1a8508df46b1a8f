//! A picture of a graph for papers and slides: nodes as the canvas draws them (title, parameter
//! summary, parameter count, pins), wires as curves with the symbolic shape of the value they
//! carry, repeated blocks as a stack. One [`Scene`] is built from the document and the shape
//! report (no egui), then written as SVG ([`Scene::to_svg`]) or PNG ([`Scene::to_png`], drawn with
//! tiny-skia, text with the Ubuntu font egui ships).

use crate::catalog::{self, Category};
use crate::doc::{Graph, Project};
use crate::shape::Report;
use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use std::fmt::Write as _;

/// Title text size.
const TITLE_PX: f32 = 14.0;
/// Summary, parameter count and pin names.
const SMALL_PX: f32 = 11.5;
/// Shapes on wires.
const LABEL_PX: f32 = 10.0;
/// Margin around the drawing.
const MARGIN: f32 = 28.0;

/// One node as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeBox {
    /// Top-left corner and size, in picture units.
    pub rect: [f32; 4],
    /// Title.
    pub title: String,
    /// Lines under the title (parameter summary, parameter count).
    pub lines: Vec<String>,
    /// Category colour.
    pub color: [u8; 3],
    /// Input pins: name and centre.
    pub inputs: Vec<(String, [f32; 2])>,
    /// Output pins: name and centre.
    pub outputs: Vec<(String, [f32; 2])>,
    /// Copies of a repeated block (drawn as a stack when > 1).
    pub repeat: u32,
}

/// One wire as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct WireCurve {
    /// Output pin centre.
    pub from: [f32; 2],
    /// Input pin centre.
    pub to: [f32; 2],
    /// The symbolic shape of the value on the wire, when known.
    pub label: Option<String>,
    /// The source node's colour.
    pub color: [u8; 3],
}

/// A drawing of one graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// Width and height in picture units (1 unit = 1 canvas point at zoom 1).
    pub size: [f32; 2],
    /// Nodes.
    pub nodes: Vec<NodeBox>,
    /// Wires.
    pub wires: Vec<WireCurve>,
}

/// The picture font: the Ubuntu font egui ships (`None` only if those bytes were damaged).
fn font() -> Option<FontRef<'static>> {
    FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).ok()
}

/// Width of `text` at `px` in the picture font.
pub fn text_width(text: &str, px: f32) -> f32 {
    let Some(f) = font() else {
        return 0.55 * px * text.chars().count() as f32;
    };
    let s = f.as_scaled(PxScale::from(px));
    text.chars().map(|c| s.h_advance(f.glyph_id(c))).sum()
}

impl Scene {
    /// Draws `graph` (the top level of `project`, or a block's inside) at the positions the
    /// user gave; `report` supplies the shapes on wires and parameter counts.
    pub fn new(project: &Project, graph: &Graph, report: Option<&Report>) -> Scene {
        let mut nodes = Vec::with_capacity(graph.nodes.len());
        let mut index = std::collections::HashMap::new();
        for n in &graph.nodes {
            let title = catalog::display_title(project, n);
            let mut lines = Vec::new();
            let summary = catalog::param_summary(n);
            if !summary.is_empty() {
                lines.push(summary);
            }
            let params = report.and_then(|r| r.node(n.id)).map_or(0, |r| r.params);
            if params > 0 {
                lines.push(format!("{} params", catalog::human_count(params)));
            }
            let (ins, outs) = catalog::node_ports(project, n).unwrap_or_default();
            let hint = catalog::node_size_hint(project, n);
            let text_w = std::iter::once(text_width(&title, TITLE_PX) + 34.0)
                .chain(lines.iter().map(|l| text_width(l, SMALL_PX) + 24.0))
                .fold(0.0, f32::max);
            let w = hint[0].max(text_w);
            let head = 30.0 + 16.0 * lines.len() as f32;
            let rows = ins.len().max(outs.len()).max(1);
            let h = head + 20.0 * rows as f32 + 6.0;
            let [x, y] = n.pos;
            let pin_y = |i: usize| y + head + 10.0 + 20.0 * i as f32;
            let color = catalog::node_category(n).map_or([200, 60, 60], Category::rgb);
            index.insert(n.id, nodes.len());
            nodes.push(NodeBox {
                rect: [x, y, w, h],
                title,
                lines,
                color,
                inputs: ins
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.name.to_string(), [x, pin_y(i)]))
                    .collect(),
                outputs: outs
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.name.to_string(), [x + w, pin_y(i)]))
                    .collect(),
                repeat: if n.is_block() { n.repeat } else { 1 },
            });
        }
        let mut wires = Vec::with_capacity(graph.wires.len());
        for w in &graph.wires {
            let (Some(&a), Some(&b)) = (index.get(&w.from), index.get(&w.to)) else {
                continue;
            };
            let (na, nb) = (&nodes[a], &nodes[b]);
            let (Some(from), Some(to)) = (
                na.outputs.iter().find(|p| p.0 == w.out).map(|p| p.1),
                nb.inputs.iter().find(|p| p.0 == w.input).map(|p| p.1),
            ) else {
                continue;
            };
            let label = report
                .and_then(|r| r.output_type(w.from, &w.out))
                .map(|t| t.to_string());
            wires.push(WireCurve {
                from,
                to,
                label,
                color: na.color,
            });
        }
        // Shift everything so the drawing starts at the margin.
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for n in &nodes {
            let [x, y, w, h] = n.rect;
            let stack = if n.repeat > 1 { 8.0 } else { 0.0 };
            lo = [lo[0].min(x), lo[1].min(y)];
            hi = [hi[0].max(x + w + stack), hi[1].max(y + h + stack)];
        }
        if nodes.is_empty() {
            (lo, hi) = ([0.0; 2], [0.0; 2]);
        }
        let d = [MARGIN - lo[0], MARGIN - lo[1]];
        let mv = |p: &mut [f32; 2]| {
            p[0] += d[0];
            p[1] += d[1];
        };
        for n in &mut nodes {
            n.rect[0] += d[0];
            n.rect[1] += d[1];
            n.inputs.iter_mut().for_each(|p| mv(&mut p.1));
            n.outputs.iter_mut().for_each(|p| mv(&mut p.1));
        }
        for w in &mut wires {
            mv(&mut w.from);
            mv(&mut w.to);
        }
        Scene {
            size: [hi[0] - lo[0] + 2.0 * MARGIN, hi[1] - lo[1] + 2.0 * MARGIN],
            nodes,
            wires,
        }
    }

    /// The control points of a wire's cubic curve (leaves its output rightwards, enters its
    /// input from the left, as on the canvas).
    fn curve(w: &WireCurve) -> [[f32; 2]; 4] {
        let reach = ((w.to[0] - w.from[0]).abs() * 0.5).clamp(30.0, 160.0);
        [w.from, [w.from[0] + reach, w.from[1]], [w.to[0] - reach, w.to[1]], w.to]
    }

    /// Where a wire's label goes: the curve's midpoint.
    fn label_at(w: &WireCurve) -> [f32; 2] {
        let c = Self::curve(w);
        [
            0.125 * c[0][0] + 0.375 * c[1][0] + 0.375 * c[2][0] + 0.125 * c[3][0],
            0.125 * c[0][1] + 0.375 * c[1][1] + 0.375 * c[2][1] + 0.125 * c[3][1] - 8.0,
        ]
    }

    /// The picture as an SVG document (white background, vector text).
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let [w, h] = self.size;
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="Ubuntu, 'DejaVu Sans', Arial, sans-serif">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for wire in &self.wires {
            let c = Self::curve(wire);
            let _ = writeln!(
                s,
                r#"<path d="M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none" stroke="{}" stroke-width="1.6"/>"#,
                c[0][0],
                c[0][1],
                c[1][0],
                c[1][1],
                c[2][0],
                c[2][1],
                c[3][0],
                c[3][1],
                hex(darken(wire.color))
            );
        }
        for n in &self.nodes {
            let [x, y, w, h] = n.rect;
            for k in (1..n.repeat.min(3)).rev() {
                let o = 4.0 * k as f32;
                let _ = writeln!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{h:.1}" rx="6" fill="#f4f4f6" stroke="#9a9aa6" stroke-width="1"/>"##,
                    x + o,
                    y + o
                );
            }
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="6" fill="#fbfbfc" stroke="{}" stroke-width="1.4"/>"##,
                hex(n.color)
            );
            let head = 30.0 + 16.0 * n.lines.len() as f32;
            let _ = writeln!(
                s,
                r#"<path d="M{x:.1},{:.1} h{w:.1}" stroke="{}" stroke-width="0.8"/>"#,
                y + head,
                hex(n.color)
            );
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="6" height="{h:.1}" rx="3" fill="{}"/>"#,
                hex(n.color)
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="{TITLE_PX}" font-weight="bold" fill="{}">{}</text>"#,
                x + 14.0,
                y + 19.0,
                hex(darken(n.color)),
                esc(&n.title)
            );
            for (i, line) in n.lines.iter().enumerate() {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_PX}" fill="#666">{}</text>"##,
                    x + 14.0,
                    y + 36.0 + 16.0 * i as f32,
                    esc(line)
                );
            }
            for (name, [px, py]) in &n.inputs {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{}"/>"#,
                    hex(n.color)
                );
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_PX}" fill="#444">{}</text>"##,
                    px + 9.0,
                    py + 4.0,
                    esc(name)
                );
            }
            for (name, [px, py]) in &n.outputs {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{}"/>"#,
                    hex(n.color)
                );
                if n.outputs.len() > 1 {
                    let _ = writeln!(
                        s,
                        r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_PX}" fill="#444" text-anchor="end">{}</text>"##,
                        px - 9.0,
                        py + 4.0,
                        esc(name)
                    );
                }
            }
            if n.repeat > 1 {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="{SMALL_PX}" font-weight="bold" fill="#444" text-anchor="end">×{}</text>"##,
                    x + w - 8.0,
                    y + 19.0,
                    n.repeat
                );
            }
        }
        for wire in &self.wires {
            if let Some(label) = &wire.label {
                let [cx, cy] = Self::label_at(wire);
                let tw = text_width(label, LABEL_PX) + 8.0;
                let _ = writeln!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{tw:.1}" height="14" rx="3" fill="white" fill-opacity="0.9"/><text x="{cx:.1}" y="{:.1}" font-size="{LABEL_PX}" font-family="Hack, 'DejaVu Sans Mono', monospace" fill="#555" text-anchor="middle">{}</text>"##,
                    cx - tw / 2.0,
                    cy - 10.0,
                    cy + 1.0,
                    esc(label)
                );
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The picture as PNG bytes, `scale` pixels per unit (2 for slides).
    pub fn to_png(&self, scale: f32) -> Result<Vec<u8>, String> {
        use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};
        let scale = scale.clamp(0.25, 8.0);
        let (pw, ph) = (
            (self.size[0] * scale).ceil() as u32,
            (self.size[1] * scale).ceil() as u32,
        );
        if u64::from(pw) * u64::from(ph) > 200_000_000 {
            return Err(format!(
                "the picture would be {pw}×{ph} pixels: export SVG, or a smaller scale"
            ));
        }
        let mut pm = Pixmap::new(pw.max(1), ph.max(1)).ok_or("cannot allocate the picture")?;
        pm.fill(Color::WHITE);
        let t = Transform::from_scale(scale, scale);
        let paint = |rgb: [u8; 3], a: u8| {
            let mut p = Paint::default();
            p.set_color_rgba8(rgb[0], rgb[1], rgb[2], a);
            p.anti_alias = true;
            p
        };
        let rounded = |x: f32, y: f32, w: f32, h: f32, r: f32| {
            let mut pb = PathBuilder::new();
            pb.move_to(x + r, y);
            pb.line_to(x + w - r, y);
            pb.quad_to(x + w, y, x + w, y + r);
            pb.line_to(x + w, y + h - r);
            pb.quad_to(x + w, y + h, x + w - r, y + h);
            pb.line_to(x + r, y + h);
            pb.quad_to(x, y + h, x, y + h - r);
            pb.line_to(x, y + r);
            pb.quad_to(x, y, x + r, y);
            pb.close();
            pb.finish()
        };
        for wire in &self.wires {
            let c = Self::curve(wire);
            let mut pb = PathBuilder::new();
            pb.move_to(c[0][0], c[0][1]);
            pb.cubic_to(c[1][0], c[1][1], c[2][0], c[2][1], c[3][0], c[3][1]);
            if let Some(path) = pb.finish() {
                let stroke = Stroke {
                    width: 1.6,
                    ..Stroke::default()
                };
                pm.stroke_path(&path, &paint(darken(wire.color), 255), &stroke, t, None);
            }
        }
        let mut texts: Vec<TextRun> = Vec::new();
        for n in &self.nodes {
            let [x, y, w, h] = n.rect;
            for k in (1..n.repeat.min(3)).rev() {
                let o = 4.0 * k as f32;
                if let Some(p) = rounded(x + o, y + o, w, h, 6.0) {
                    pm.fill_path(&p, &paint([244, 244, 246], 255), FillRule::Winding, t, None);
                    pm.stroke_path(&p, &paint([154, 154, 166], 255), &Stroke::default(), t, None);
                }
            }
            if let Some(p) = rounded(x, y, w, h, 6.0) {
                pm.fill_path(&p, &paint([251, 251, 252], 255), FillRule::Winding, t, None);
                let stroke = Stroke {
                    width: 1.4,
                    ..Stroke::default()
                };
                pm.stroke_path(&p, &paint(n.color, 255), &stroke, t, None);
            }
            if let Some(r) = Rect::from_xywh(x, y + 3.0, 6.0, h - 6.0) {
                pm.fill_rect(r, &paint(n.color, 255), t, None);
            }
            let head = 30.0 + 16.0 * n.lines.len() as f32;
            if let Some(r) = Rect::from_xywh(x, y + head, w, 0.8) {
                pm.fill_rect(r, &paint(n.color, 255), t, None);
            }
            texts.push((n.title.clone(), [x + 14.0, y + 19.0], TITLE_PX, darken(n.color), false));
            for (i, line) in n.lines.iter().enumerate() {
                texts.push((
                    line.clone(),
                    [x + 14.0, y + 36.0 + 16.0 * i as f32],
                    SMALL_PX,
                    [102; 3],
                    false,
                ));
            }
            for (name, [px, py]) in &n.inputs {
                circle(&mut pm, *px, *py, 4.0, &paint(n.color, 255), t);
                texts.push((name.clone(), [px + 9.0, py + 4.0], SMALL_PX, [68; 3], false));
            }
            for (name, [px, py]) in &n.outputs {
                circle(&mut pm, *px, *py, 4.0, &paint(n.color, 255), t);
                if n.outputs.len() > 1 {
                    texts.push((name.clone(), [px - 9.0, py + 4.0], SMALL_PX, [68; 3], true));
                }
            }
            if n.repeat > 1 {
                texts.push((
                    format!("×{}", n.repeat),
                    [x + w - 8.0, y + 19.0],
                    SMALL_PX,
                    [68; 3],
                    true,
                ));
            }
        }
        for wire in &self.wires {
            if let Some(label) = &wire.label {
                let [cx, cy] = Self::label_at(wire);
                let tw = text_width(label, LABEL_PX) + 8.0;
                if let Some(r) = Rect::from_xywh(cx - tw / 2.0, cy - 10.0, tw, 14.0) {
                    pm.fill_rect(r, &paint([255, 255, 255], 230), t, None);
                }
                texts.push((
                    label.clone(),
                    [cx - (tw - 8.0) / 2.0, cy + 1.0],
                    LABEL_PX,
                    [85; 3],
                    false,
                ));
            }
        }
        if let Some(f) = font() {
            for (text, [x, y], px, rgb, right) in texts {
                let x = if right { x - text_width(&text, px) } else { x };
                draw_text(&mut pm, &f, &text, x * scale, y * scale, px * scale, rgb);
            }
        }
        // Un-premultiply into RGBA and encode.
        let mut rgba = Vec::with_capacity((pw * ph * 4) as usize);
        for p in pm.pixels() {
            let c = p.demultiply();
            rgba.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
        }
        let img = image::RgbaImage::from_raw(pm.width(), pm.height(), rgba).ok_or("picture buffer size")?;
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        Ok(out.into_inner())
    }
}

/// Text to draw: string, position, size, colour, right-aligned.
type TextRun = (String, [f32; 2], f32, [u8; 3], bool);

fn circle(pm: &mut tiny_skia::Pixmap, x: f32, y: f32, r: f32, paint: &tiny_skia::Paint, t: tiny_skia::Transform) {
    if let Some(p) = tiny_skia::PathBuilder::from_circle(x, y, r) {
        pm.fill_path(&p, paint, tiny_skia::FillRule::Winding, t, None);
    }
}

/// Draws `text` with its baseline at (x, y) pixels, blending glyph coverage over the pixmap.
fn draw_text(pm: &mut tiny_skia::Pixmap, f: &FontRef<'_>, text: &str, x: f32, y: f32, px: f32, rgb: [u8; 3]) {
    let scaled = f.as_scaled(PxScale::from(px));
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let pixels = pm.pixels_mut();
    let mut pen = x;
    for c in text.chars() {
        let id = f.glyph_id(c);
        let glyph = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(pen, y));
        pen += scaled.h_advance(id);
        let Some(outline) = f.outline_glyph(glyph) else {
            continue;
        };
        let b = outline.px_bounds();
        outline.draw(|gx, gy, cov| {
            let (ix, iy) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
            if ix < 0 || iy < 0 || ix >= w || iy >= h {
                return;
            }
            let i = (iy * w + ix) as usize;
            let a = cov.clamp(0.0, 1.0);
            let d = pixels[i];
            let mix = |s: u8, d: u8| (f32::from(s) * a + f32::from(d) * (1.0 - a)).round() as u8;
            let alpha = mix(255, d.alpha());
            if let Some(p) = tiny_skia::PremultipliedColorU8::from_rgba(
                mix(rgb[0], d.red()).min(alpha),
                mix(rgb[1], d.green()).min(alpha),
                mix(rgb[2], d.blue()).min(alpha),
                alpha,
            ) {
                pixels[i] = p;
            }
        });
    }
}

/// A category colour darkened for text and wires on white.
fn darken(c: [u8; 3]) -> [u8; 3] {
    c.map(|v| (f32::from(v) * 0.7) as u8)
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes the picture of `graph` to `path`: SVG or PNG by its extension.
pub fn export(project: &Project, graph: &Graph, report: Option<&Report>, path: &std::path::Path) -> Result<(), String> {
    let scene = Scene::new(project, graph, report);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let bytes = match ext.as_str() {
        "svg" => scene.to_svg().into_bytes(),
        "png" => scene.to_png(2.0)?,
        other => {
            return Err(format!(
                "{}: unknown picture type '{other}' — use .png or .svg",
                path.display()
            ));
        }
    };
    crate::doc::write_atomic(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}
