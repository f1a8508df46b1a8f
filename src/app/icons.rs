//! The category icons from `icons/*.svg`, drawn with the egui painter at any size and colour.
//!
//! The icons use a small SVG subset (24×24 view box, strokes): `circle`, `rect` and `path` with
//! the commands M L H V C A Z (absolute and relative). Parsing happens once; drawing is a few
//! line strips.

use crate::catalog::Category;
use egui::{Color32, Pos2, Rect, Stroke};
use std::sync::OnceLock;

/// One icon: poly-lines in the 0–24 box, and filled circles.
#[derive(Debug, Default)]
pub struct Icon {
    lines: Vec<(Vec<Pos2>, bool)>,
    dots: Vec<(Pos2, f32, bool)>,
}

fn source(c: Category) -> &'static str {
    match c {
        Category::Io => include_str!("../../icons/io.svg"),
        Category::Core => include_str!("../../icons/core.svg"),
        Category::Convolution => include_str!("../../icons/convolution.svg"),
        Category::Pooling => include_str!("../../icons/pooling.svg"),
        Category::Normalization => include_str!("../../icons/normalization.svg"),
        Category::Activation => include_str!("../../icons/activation.svg"),
        Category::Shape => include_str!("../../icons/shape.svg"),
        Category::Math => include_str!("../../icons/math.svg"),
        Category::Embedding => include_str!("../../icons/embedding.svg"),
        Category::Attention => include_str!("../../icons/attention.svg"),
        Category::Recurrent => include_str!("../../icons/recurrent.svg"),
        Category::Graph => include_str!("../../icons/graph.svg"),
        Category::Generative => include_str!("../../icons/generative.svg"),
        Category::Loss => include_str!("../../icons/loss.svg"),
        Category::Block => include_str!("../../icons/block.svg"),
    }
}

/// The parsed icon of a category.
pub fn icon(c: Category) -> &'static Icon {
    static ICONS: OnceLock<Vec<(Category, Icon)>> = OnceLock::new();
    let all = ICONS.get_or_init(|| Category::ALL.iter().map(|&c| (c, parse(source(c)))).collect());
    static EMPTY: Icon = Icon {
        lines: Vec::new(),
        dots: Vec::new(),
    };
    all.iter().find(|(k, _)| *k == c).map_or(&EMPTY, |(_, i)| i)
}

/// Allocates `size`×`size` points in `ui` and draws the category's icon there.
pub fn show(ui: &mut egui::Ui, c: Category, size: f32, color: Color32) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    paint(ui.painter(), rect, c, color);
    resp
}

/// Draws the category's icon into `rect`.
pub fn paint(painter: &egui::Painter, rect: Rect, c: Category, color: Color32) {
    let icon = icon(c);
    let s = rect.width().min(rect.height()) / 24.0;
    let map = |p: Pos2| rect.min + egui::vec2(p.x * s, p.y * s);
    let stroke = Stroke::new((1.8 * s).max(1.0), color);
    for (pts, closed) in &icon.lines {
        let pts: Vec<Pos2> = pts.iter().map(|&p| map(p)).collect();
        if *closed {
            painter.add(egui::Shape::closed_line(pts, stroke));
        } else {
            painter.add(egui::Shape::line(pts, stroke));
        }
    }
    for (c, r, filled) in &icon.dots {
        if *filled {
            painter.circle_filled(map(*c), r * s, color);
        } else {
            painter.circle_stroke(map(*c), r * s, stroke);
        }
    }
}

fn attr(tag: &str, name: &str) -> Option<f32> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    tag[i..j].parse().ok()
}

fn attr_str<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let j = tag[i..].find('"')? + i;
    Some(&tag[i..j])
}

/// Parses the SVG subset described in the module docs; unknown elements are skipped.
pub fn parse(svg: &str) -> Icon {
    let mut icon = Icon::default();
    for tag in svg.split('<').skip(1) {
        let filled = attr_str(tag, "fill").is_some_and(|f| f == "currentColor");
        if tag.starts_with("circle") {
            if let (Some(cx), Some(cy), Some(r)) = (attr(tag, "cx"), attr(tag, "cy"), attr(tag, "r")) {
                icon.dots.push((Pos2::new(cx, cy), r, filled));
            }
        } else if tag.starts_with("rect") {
            if let (Some(x), Some(y), Some(w), Some(h)) =
                (attr(tag, "x"), attr(tag, "y"), attr(tag, "width"), attr(tag, "height"))
            {
                icon.lines.push((
                    vec![
                        Pos2::new(x, y),
                        Pos2::new(x + w, y),
                        Pos2::new(x + w, y + h),
                        Pos2::new(x, y + h),
                    ],
                    true,
                ));
            }
        } else if tag.starts_with("path")
            && let Some(d) = attr_str(tag, "d")
        {
            path(d, &mut icon.lines);
        }
    }
    icon
}

/// Splits path data into commands and numbers.
fn tokens(d: &str) -> Vec<Result<char, f32>> {
    let mut out = Vec::new();
    let mut num = String::new();
    let flush = |num: &mut String, out: &mut Vec<Result<char, f32>>| {
        if !num.is_empty() {
            if let Ok(v) = num.parse() {
                out.push(Err(v));
            }
            num.clear();
        }
    };
    for ch in d.chars() {
        if ch.is_ascii_alphabetic() && ch != 'e' {
            flush(&mut num, &mut out);
            out.push(Ok(ch));
        } else if (ch == '-' && !num.ends_with('e')) || (ch == '.' && num.contains('.')) {
            flush(&mut num, &mut out);
            num.push(ch);
        } else if ch.is_ascii_digit() || ch == '.' || ch == 'e' {
            num.push(ch);
        } else {
            flush(&mut num, &mut out);
        }
    }
    flush(&mut num, &mut out);
    out
}

fn path(d: &str, lines: &mut Vec<(Vec<Pos2>, bool)>) {
    let toks = tokens(d);
    let mut i = 0;
    let mut cmd = 'M';
    let mut cur = Pos2::ZERO;
    let mut start = Pos2::ZERO;
    let mut line: Vec<Pos2> = Vec::new();
    let nums = |i: &mut usize, n: usize| -> Option<Vec<f32>> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            match toks.get(*i) {
                Some(Err(x)) => v.push(*x),
                _ => return None,
            }
            *i += 1;
        }
        Some(v)
    };
    while i < toks.len() {
        if let Ok(c) = toks[i] {
            cmd = c;
            i += 1;
            if c == 'z' || c == 'Z' {
                if line.len() > 1 {
                    lines.push((std::mem::take(&mut line), true));
                }
                cur = start;
                continue;
            }
        }
        let rel = cmd.is_ascii_lowercase();
        let base = if rel { cur.to_vec2() } else { egui::Vec2::ZERO };
        match cmd.to_ascii_uppercase() {
            'M' => {
                let Some(v) = nums(&mut i, 2) else { break };
                if line.len() > 1 {
                    lines.push((std::mem::take(&mut line), false));
                }
                line.clear();
                cur = Pos2::new(v[0], v[1]) + base;
                start = cur;
                line.push(cur);
                // Further pairs after M are line-tos.
                cmd = if rel { 'l' } else { 'L' };
            }
            'L' => {
                let Some(v) = nums(&mut i, 2) else { break };
                cur = Pos2::new(v[0], v[1]) + base;
                line.push(cur);
            }
            'H' => {
                let Some(v) = nums(&mut i, 1) else { break };
                cur.x = v[0] + if rel { cur.x } else { 0.0 };
                line.push(cur);
            }
            'V' => {
                let Some(v) = nums(&mut i, 1) else { break };
                cur.y = v[0] + if rel { cur.y } else { 0.0 };
                line.push(cur);
            }
            'C' => {
                let Some(v) = nums(&mut i, 6) else { break };
                let p0 = cur;
                let p1 = Pos2::new(v[0], v[1]) + base;
                let p2 = Pos2::new(v[2], v[3]) + base;
                let p3 = Pos2::new(v[4], v[5]) + base;
                for k in 1..=12 {
                    let t = k as f32 / 12.0;
                    let u = 1.0 - t;
                    let p = p0.to_vec2() * (u * u * u)
                        + p1.to_vec2() * (3.0 * u * u * t)
                        + p2.to_vec2() * (3.0 * u * t * t)
                        + p3.to_vec2() * (t * t * t);
                    line.push(p.to_pos2());
                }
                cur = p3;
            }
            'S' => {
                let Some(v) = nums(&mut i, 4) else { break };
                cur = Pos2::new(v[2], v[3]) + base;
                line.push(cur);
            }
            'A' => {
                let Some(v) = nums(&mut i, 7) else { break };
                let end = Pos2::new(v[5], v[6]) + base;
                arc(cur, end, v[0], v[3] != 0.0, v[4] != 0.0, &mut line);
                cur = end;
            }
            _ => i += 1,
        }
    }
    if line.len() > 1 {
        lines.push((line, false));
    }
}

/// A circular arc from `a` to `b` of radius `r` (SVG endpoint form, circles only).
fn arc(a: Pos2, b: Pos2, r: f32, large: bool, sweep: bool, out: &mut Vec<Pos2>) {
    let mid = (a.to_vec2() + b.to_vec2()) * 0.5;
    let half = (b - a) * 0.5;
    let d = half.length();
    if d < 1e-6 {
        return;
    }
    let r = r.max(d);
    let h = (r * r - d * d).max(0.0).sqrt();
    let n = egui::vec2(-half.y, half.x) / d;
    let sign = if large == sweep { -1.0 } else { 1.0 };
    let c = (mid + n * h * sign).to_pos2();
    let a0 = (a.y - c.y).atan2(a.x - c.x);
    let mut a1 = (b.y - c.y).atan2(b.x - c.x);
    if sweep && a1 < a0 {
        a1 += std::f32::consts::TAU;
    }
    if !sweep && a1 > a0 {
        a1 -= std::f32::consts::TAU;
    }
    for k in 1..=24 {
        let t = a0 + (a1 - a0) * k as f32 / 24.0;
        out.push(Pos2::new(c.x + r * t.cos(), c.y + r * t.sin()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icon_parses_into_something_inside_its_box() {
        for c in Category::ALL {
            let i = icon(c);
            assert!(!i.lines.is_empty() || !i.dots.is_empty(), "{c:?}");
            for (pts, _) in &i.lines {
                for p in pts {
                    assert!(
                        (-0.5..=24.5).contains(&p.x) && (-0.5..=24.5).contains(&p.y),
                        "{c:?} {p:?}"
                    );
                }
            }
        }
        // The recurrent icon's arc has many points; the star path is closed.
        assert!(icon(Category::Recurrent).lines[0].0.len() > 10);
        assert!(icon(Category::Generative).lines[0].1);
    }
}
