//! Exported pictures: `strata picture` and File → Export picture write the graph as SVG or PNG
//! with every node's title and the shape on every wire.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::strata;

use strata::picture::Scene;

#[test]
fn the_svg_names_every_node_and_labels_every_wire_with_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("unet.svg");
    let (code, stdout, stderr) = strata(&["picture", "unet", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let p = common::preset("unet");
    let report = strata::shape::check(&p);
    for n in &p.graph.nodes {
        let title = strata::catalog::display_title(&p, n);
        assert!(svg.contains(&format!(">{title}</text>")), "no title {title}");
    }
    // One curve per wire, and the shapes of the skip connections on them.
    assert_eq!(svg.matches(" C").count(), p.graph.wires.len());
    for w in &p.graph.wires {
        let shape = report.output_type(w.from, &w.out).unwrap().to_string();
        assert!(svg.contains(&format!(">{shape}</text>")), "no label {shape}");
    }
    // Repeated blocks are drawn as a stack, with their count.
    let gpt = dir.path().join("gpt.svg");
    assert_eq!(strata(&["picture", "gpt2_small", "-o", gpt.to_str().unwrap()]).0, 0);
    assert!(std::fs::read_to_string(&gpt).unwrap().contains(">×12</text>"));
}

#[test]
fn the_png_is_a_real_picture_at_twice_the_canvas_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lenet.png");
    let (code, _, stderr) = strata(&["picture", "lenet5", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let img = image::open(&out).unwrap().to_rgba8();
    let p = common::preset("lenet5");
    let scene = Scene::new(&p, &p.graph, Some(&strata::shape::check(&p)));
    assert_eq!(img.width(), (scene.size[0] * 2.0).ceil() as u32);
    assert_eq!(img.height(), (scene.size[1] * 2.0).ceil() as u32);
    // White paper with ink on it: titles (dark) and category colours.
    let ink = img.pixels().filter(|p| p.0[0] < 150 && p.0[3] == 255).count();
    let white = img.pixels().filter(|p| p.0 == [255, 255, 255, 255]).count();
    assert!(ink > 2_000, "{ink} dark pixels");
    assert!(white > (img.width() * img.height()) as usize / 3);
}

#[test]
fn bad_picture_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.gif");
    let (code, _, stderr) = strata(&["picture", "mlp", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("use .png or .svg"), "{stderr}");
    let (code, _, stderr) = strata(&["picture", "mlp", "-o", "x.svg", "--block", "nope"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no block 'nope'"), "{stderr}");
    let (code, _, stderr) = strata(&["picture", "no_such_preset", "-o", "x.svg"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no file or preset"), "{stderr}");
}

/// File → Export picture writes what the canvas shows (here the inside of an open block).
#[cfg(feature = "app")]
#[test]
fn the_window_exports_the_graph_it_shows() {
    use strata::app::StrataApp;
    use strata::workspace::Document;
    let dir = tempfile::tempdir().unwrap();
    let mut app = StrataApp::new(Some(Document::new(common::preset("resnet_mini"), None)));
    let top = dir.path().join("top");
    app.export_picture(&top);
    let png = dir.path().join("top.png");
    assert!(png.exists(), "{}", app.status());
    assert!(app.status().contains("picture written"));
    let block = app.document().project.blocks[0].clone();
    app.open_block(Some(&block.id));
    let inside = dir.path().join("inside.svg");
    app.export_picture(&inside);
    let svg = std::fs::read_to_string(&inside).unwrap();
    for n in &block.graph.nodes {
        let title = strata::catalog::display_title(&app.document().project, n);
        assert!(svg.contains(&title), "{title}");
    }
}
