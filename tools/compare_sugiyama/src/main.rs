// Lays every preset out with rust-sugiyama 0.4 (one of the crates issue 9 asked to evaluate) and
// reports the drawing's size, the zoom that fits it in a 770×660 canvas (nodes 180×80, 40 apart) and
// the crossings of straight segments between node centres, against Strata's saved layout.
//
//   cargo run --release --manifest-path tools/compare_sugiyama/Cargo.toml -- presets
use std::collections::HashMap;

fn crossings(pos: &HashMap<u64, (f64, f64)>, edges: &[(u64, u64)]) -> usize {
    // straight segments between centres
    let seg: Vec<((f64, f64), (f64, f64))> = edges
        .iter()
        .filter_map(|(a, b)| Some((*pos.get(a)?, *pos.get(b)?)))
        .collect();
    let cross = |p1: (f64, f64), p2: (f64, f64), p3: (f64, f64), p4: (f64, f64)| {
        let d = |a: (f64, f64), b: (f64, f64), c: (f64, f64)| (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0);
        let (d1, d2, d3, d4) = (d(p3, p4, p1), d(p3, p4, p2), d(p1, p2, p3), d(p1, p2, p4));
        d1 * d2 < 0.0 && d3 * d4 < 0.0
    };
    let mut n = 0;
    for i in 0..seg.len() {
        for j in i + 1..seg.len() {
            if cross(seg[i].0, seg[i].1, seg[j].0, seg[j].1) {
                n += 1;
            }
        }
    }
    n
}

fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.sort();
    println!("{:<16} {:>5} | {:>16} {:>6} {:>5} | {:>16} {:>6} {:>5}", "preset", "nodes", "sugiyama w×h", "zoom", "cross", "strata w×h", "zoom", "cross");
    for f in files {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let g = &v["graph"];
        let ids: Vec<u64> = g["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_u64().unwrap()).collect();
        let edges: Vec<(u64, u64)> = g["wires"].as_array().unwrap().iter().map(|w| (w["from"].as_u64().unwrap(), w["to"].as_u64().unwrap())).collect();
        let verts: Vec<(u32, (f64, f64))> = ids.iter().map(|&i| (i as u32, (180.0, 80.0))).collect();
        let e32: Vec<(u32, u32)> = edges.iter().map(|&(a, b)| (a as u32, b as u32)).collect();
        let t = std::time::Instant::now();
        let layouts = rust_sugiyama::from_vertices_and_edges(&verts, &e32, &rust_sugiyama::configure::Config { vertex_spacing: 40.0, ..Default::default() });
        let _ms = t.elapsed();
        // components side by side
        let mut pos = HashMap::new();
        let mut xoff = 0.0;
        let (mut w, mut h) = (0.0f64, 0.0f64);
        for (coords, width, height) in layouts {
            let minx = coords.iter().map(|c| c.1 .0).fold(f64::INFINITY, f64::min);
            let maxx = coords.iter().map(|c| c.1 .0).fold(f64::NEG_INFINITY, f64::max);
            for (id, (x, y)) in &coords {
                pos.insert(*id as u64, (x - minx + xoff, *y));
            }
            let _ = (width, height);
            let maxy = coords.iter().map(|c| c.1 .1).fold(f64::NEG_INFINITY, f64::max);
            let miny = coords.iter().map(|c| c.1 .1).fold(f64::INFINITY, f64::min);
            xoff += maxx - minx + 220.0;
            w = xoff - 40.0;
            h = h.max(maxy - miny + 80.0);
        }
        let zoom = (770.0 / (w + 60.0)).min(660.0 / (h + 60.0)).min(1.0);
        let cs = crossings(&pos, &edges);
        // Strata's saved positions
        let mut sp = HashMap::new();
        let (mut lo, mut hi) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
        for n in g["nodes"].as_array().unwrap() {
            let p = n["pos"].as_array().unwrap();
            let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
            sp.insert(n["id"].as_u64().unwrap(), (x + 90.0, y + 40.0));
            lo = (lo.0.min(x), lo.1.min(y));
            hi = (hi.0.max(x + 180.0), hi.1.max(y + 80.0));
        }
        let (sw, sh) = (hi.0 - lo.0, hi.1 - lo.1);
        let sz = (770.0 / (sw + 60.0)).min(660.0 / (sh + 60.0)).min(1.0);
        let sc = crossings(&sp, &edges);
        println!(
            "{:<16} {:>5} | {:>7.0}×{:<8.0} {:>6.2} {:>5} | {:>7.0}×{:<8.0} {:>6.2} {:>5}",
            f.file_stem().unwrap().to_string_lossy(), ids.len(), w, h, zoom, cs, sw, sh, sz, sc
        );
    }
}
