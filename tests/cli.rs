//! The `strata` command line: presets and check, with their exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::strata;

#[test]
fn presets_json_lists_every_preset() {
    let (code, out, _) = strata(&["presets", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    for id in common::REQUIRED_PRESETS {
        let e = list
            .iter()
            .find(|e| e["id"] == *id)
            .unwrap_or_else(|| panic!("{id} missing"));
        for key in ["name", "archetype", "family", "recipe"] {
            assert!(e[key].as_str().is_some_and(|s| !s.is_empty()), "{id}.{key}");
        }
        assert!(e["params"].as_u64().unwrap() > 0);
        assert_eq!(e["valid"], true);
    }
    let resnet = list.iter().find(|e| e["id"] == "resnet18").unwrap();
    assert_eq!(resnet["params"], 11_689_512);
    let (code, table, _) = strata(&["presets"]);
    assert_eq!(code, 0);
    assert!(table.contains("resnet18") && table.contains("11,689,512"));
}

#[test]
fn check_a_valid_preset() {
    let (code, out, _) = strata(&["check", "lenet5", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["params"], 61_706);
    assert_eq!(v["diagnostics"].as_array().unwrap().len(), 0);
    let conv = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "conv2d")
        .unwrap();
    assert_eq!(conv["outputs"][0]["shape"], "[B, 6, 28, 28]");
    assert_eq!(conv["params"], 156);
    let (code, text, _) = strata(&["check", "lenet5"]);
    assert_eq!(code, 0);
    assert!(text.contains("[B, 6, 28, 28]") && text.contains("61,706") && text.trim_end().ends_with("valid"));
}

#[test]
fn check_an_invalid_graph_exits_1_with_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    // LeNet without its Flatten: Linear gets [B, 16, 5, 5].
    let mut p = common::preset("lenet5");
    let flatten = p.graph.nodes.iter().find(|n| n.kind == "flatten").unwrap().id;
    let before: Vec<_> = p.graph.wires_into(flatten).cloned().collect();
    let after: Vec<_> = p.graph.wires_from(flatten).cloned().collect();
    p.graph.remove_node(flatten);
    p.graph.add_wire(strata::doc::Wire::new(
        before[0].from,
        &before[0].out,
        after[0].to,
        &after[0].input,
    ));
    let path = dir.path().join("broken.strata");
    strata::doc::save_file(&p, &path).unwrap();
    let (code, out, _) = strata(&["check", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    let d = &v["diagnostics"][0];
    assert_eq!(d["node"], after[0].to.0);
    assert_eq!(d["port"], "x");
    assert_eq!(
        d["message"],
        "Linear expects [B, N] or [B, T, N] but gets [B, 16, 5, 5]"
    );
    assert_eq!(d["fix"], "insert Flatten");
    let (code, text, _) = strata(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(text.contains("(fix: insert Flatten)"), "{text}");
}

#[test]
fn check_unreadable_input_exits_2() {
    let (code, _, err) = strata(&["check", "no_such_preset_or_file"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no file or preset named 'no_such_preset_or_file'"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.strata");
    let text = strata::presets::source("mlp").unwrap();
    std::fs::write(&path, &text[..100]).unwrap();
    let (code, out, err) = strata(&["check", path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 2);
    assert!(err.contains("half.strata: line"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
}

#[cfg(feature = "engine")]
#[test]
fn train_writes_step_metrics_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("m.jsonl");
    let (code, out, err) = strata(&[
        "train",
        "mlp",
        "--steps",
        "40",
        "--device",
        "cpu",
        "--seed",
        "3",
        "--metrics",
        jsonl.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let last = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["steps"], 40);
    assert!(v["device"].as_str().unwrap().starts_with("cpu"));
    assert!(v["final_loss"].as_f64().unwrap().is_finite());
    assert!(v["metrics"]["val_accuracy"].as_f64().unwrap() > 0.3);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    assert_eq!(lines[0]["step"], 1);
    assert!(
        lines
            .iter()
            .all(|l| l["loss"].as_f64().is_some() && l["accuracy"].as_f64().is_some())
    );
    assert!(err.contains("training on cpu"), "{err}");
}

#[cfg(feature = "engine")]
#[test]
fn train_rejects_bad_input_with_exit_2() {
    let (code, _, err) = strata(&["train", "no_such_thing", "--steps", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("no file or preset"), "{err}");
    let (code, _, err) = strata(&["train", "mlp", "--device", "tpu"]);
    assert_eq!(code, 2);
    assert!(err.contains("use auto, cpu or gpu"), "{err}");
    if strata::engine::device::probe_gpu().is_none() {
        let (code, _, err) = strata(&["train", "mlp", "--steps", "1", "--device", "gpu"]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("no GPU adapter"), "{err}");
    }
}

#[cfg(feature = "engine")]
#[test]
fn train_checkpoints_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("ck");
    let ck = ck.to_str().unwrap();
    let (code, _, err) = strata(&["train", "mlp", "--steps", "5", "--device", "cpu", "--checkpoint", ck]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("checkpoint at step 5 written"), "{err}");
    let (code, out, err) = strata(&["train", "mlp", "--steps", "8", "--device", "cpu", "--resume", ck]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("resumed at step 5"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["steps"], 8);
    let (code, _, err) = strata(&[
        "train",
        "mlp",
        "--steps",
        "8",
        "--device",
        "cpu",
        "--resume",
        "/no/such/dir",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot resume from /no/such/dir"), "{err}");
}

#[cfg(feature = "engine")]
#[test]
fn train_writes_a_samples_picture() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("samples.png");
    let (code, _, err) = strata(&[
        "train",
        "lenet5",
        "--steps",
        "20",
        "--device",
        "cpu",
        "--samples",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let img = image::open(&png).unwrap().to_rgb8();
    // 8 columns of 32×32 images with a 2-pixel frame, 4 rows.
    assert_eq!(img.dimensions(), (8 * 36, 4 * 36));
    // Frames are green (right) or red (wrong).
    let corner = img.get_pixel(0, 0).0;
    assert!(corner == [60, 200, 90] || corner == [230, 60, 60], "{corner:?}");
}

#[cfg(feature = "engine")]
#[test]
fn relative_data_paths_resolve_next_to_the_project_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("a,b,label\n");
    for i in 0..60 {
        csv.push_str(&format!("{},{},{}\n", i % 7, i % 5, i % 2));
    }
    std::fs::write(dir.path().join("table.csv"), csv).unwrap();
    let mut g = strata::catalog::GraphBuilder::new();
    let x = g.node("input", &[("shape", common::shape("B,2"))]);
    let l = g.then(x, "linear", &[("out_features", 2.into())]);
    g.then(l, "output", &[]);
    let mut p = strata::doc::Project::new("relative");
    p.graph = g.finish();
    p.dataset.id = "csv".into();
    p.dataset.options.insert("path".into(), "table.csv".into());
    let file = dir.path().join("model.strata");
    strata::doc::save_file(&p, &file).unwrap();
    // The test runs in the crate folder, not next to the file.
    let (code, out, err) = strata(&["train", file.to_str().unwrap(), "--steps", "3", "--device", "cpu"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"steps\":3"), "{out}");
}

#[cfg(feature = "engine")]
#[test]
fn eval_samples_reads_every_class_of_a_generator_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (gen_ck, cls_ck) = (dir.path().join("ddpm"), dir.path().join("lenet"));
    let (code, _, err) = strata(&[
        "train",
        "lenet5",
        "--steps",
        "30",
        "--device",
        "cpu",
        "--checkpoint",
        cls_ck.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = strata(&[
        "train",
        "ddpm_unet",
        "--steps",
        "3",
        "--device",
        "cpu",
        "--checkpoint",
        gen_ck.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let png = dir.path().join("sheet.png");
    let (code, out, err) = strata(&[
        "eval-samples",
        "ddpm_unet",
        "--checkpoint",
        gen_ck.to_str().unwrap(),
        "--classifier",
        "lenet5",
        "--classifier-checkpoint",
        cls_ck.to_str().unwrap(),
        "--count",
        "12",
        "--steps",
        "2",
        "--samples",
        png.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["samples"], 12);
    let conf = v["mean_confidence"].as_f64().unwrap();
    assert!((0.1..=1.0).contains(&conf), "{conf}");
    assert!(v["confident"].as_u64().unwrap() <= 12);
    assert!(err.contains("read as the class asked for"), "{err}");
    // One row per class: classes 0 and 1 drawn twice, the others once (and a black tile).
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (2 * 30 + 2, 10 * 30 + 2));
    // A classifier checkpoint that is not one gets a clear message and exit 2.
    let (code, _, err) = strata(&[
        "eval-samples",
        "ddpm_unet",
        "--checkpoint",
        gen_ck.to_str().unwrap(),
        "--classifier-checkpoint",
        dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no weights for"), "{err}");
}

/// Writes `p` into `dir` and returns its path.
fn save_in(dir: &std::path::Path, name: &str, p: &strata::doc::Project) -> String {
    let path = dir.join(name);
    strata::doc::save_file(p, &path).unwrap();
    path.to_str().unwrap().to_owned()
}

#[cfg(feature = "engine")]
#[test]
fn models_too_large_for_the_machine_are_refused_before_they_allocate() {
    use strata::catalog::GraphBuilder;
    let dir = tempfile::tempdir().unwrap();
    // A Linear with 4 000 000 outputs after MNIST's 784 inputs: 3.1 G parameters, ~50 GB with
    // gradients and Adam's moments.
    let mut wide = common::preset("mlp");
    let first = wide.graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    let node = wide.graph.node_mut(first).unwrap();
    node.params.insert("out_features".into(), 4_000_000.into());
    node.title = "huge layer".into();
    let path = save_in(dir.path(), "wide.strata", &wide);
    let t = std::time::Instant::now();
    let (code, _, err) = strata(&["train", &path, "--device", "cpu"]);
    eprintln!("wide model refused in {:?}", t.elapsed());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs about") && err.contains("'huge layer'"), "{err}");
    assert!(err.contains("make these layers smaller"), "{err}");
    // A 200 000-node chain: every output kept for the backward pass.
    let mut g = GraphBuilder::new();
    let mut h = g.node("input", &[("shape", common::shape("B,784")), ("field", "image".into())]);
    for _ in 0..200_000 {
        h = g.then(h, "relu", &[]);
    }
    let l = g.then(h, "linear", &[("out_features", 10.into())]);
    let o = g.node("output", &[("role", "prediction".into())]);
    g.wire(l, "y", o, "x");
    let mut deep = strata::doc::Project::new("deep");
    deep.graph = g.finish();
    deep.dataset.id = "mnist_5k".into();
    let path = save_in(dir.path(), "deep.strata", &deep);
    let t = std::time::Instant::now();
    let (code, _, err) = strata(&["train", &path, "--device", "cpu"]);
    eprintln!("deep model refused in {:?}", t.elapsed());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lower the batch size"), "{err}");
}

#[test]
fn check_reports_the_memory_a_run_needs() {
    let (code, out, _) = strata(&["check", "lenet5", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let m = &v["memory"];
    let total = m["total_bytes"].as_u64().unwrap();
    // Measured peak RSS of `strata train lenet5`: 71 MB; the estimate is within a quarter.
    assert!((55_000_000..95_000_000).contains(&total), "{total}");
    let parts = [
        "parameters_bytes",
        "gradients_bytes",
        "optimizer_bytes",
        "activations_bytes",
        "runtime_bytes",
    ];
    assert_eq!(parts.iter().map(|k| m[k].as_u64().unwrap()).sum::<u64>(), total);
    // Adam: weights, gradients and two moments of 61 706 parameters.
    assert_eq!(m["parameters_bytes"], 61_706 * 4);
    assert_eq!(m["optimizer_bytes"], 61_706 * 8);
    let nodes = m["nodes"].as_array().unwrap();
    let size = |n: &serde_json::Value| n["weights_bytes"].as_u64().unwrap() + n["activations_bytes"].as_u64().unwrap();
    assert!(nodes.windows(2).all(|w| size(&w[0]) >= size(&w[1])), "largest first");
    let (_, text, _) = strata(&["check", "lenet5"]);
    assert!(text.contains("memory to train (estimate)"), "{text}");
}

#[test]
fn profile_times_every_node_including_ones_before_any_learned_layer() {
    // The MLP flattens its data before the first Linear: nothing there has a gradient, so the
    // profiler times its forward pass only (a backward pass would have nothing to follow).
    for id in ["mlp", "lenet5"] {
        let (code, out, err) = strata(&["train", id, "--steps", "12", "--device", "cpu", "--profile"]);
        assert_eq!(code, 0, "{id}: {err}");
        let text = format!("{out}{err}");
        assert!(text.contains("BACKWARD MS"), "{id}: {text}");
        let first_linear = if id == "mlp" { "Flatten" } else { "Conv2d" };
        assert!(text.lines().any(|l| l.starts_with(first_linear)), "{id}: {text}");
    }
}
