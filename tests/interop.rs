//! Taking models elsewhere and bringing them in: the PyTorch export (names, blocks as classes,
//! weights), the ONNX export (read back by the ONNX protobuf schema; the real consumers —
//! onnx.checker and onnxruntime — run in `scripts/check_onnx.py`, which CI runs), ONNX import
//! (round trip, bad files), weights by PyTorch names, and the window's drop-to-import.

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use onnx_ir::{Message, ModelProto};
use std::path::Path;
use strata::interop::{self, Weights, import, safetensors};

fn no_progress(_: &str) {}

fn export_onnx(project: &strata::doc::Project, path: &Path, seed: u64) -> interop::Summary {
    let reference = path.with_extension("reference.safetensors");
    interop::export_onnx(
        project,
        None,
        path,
        &Weights::Initial(seed),
        Some(&reference),
        &no_progress,
    )
    .unwrap()
}

/// A preset's PyTorch export (model.py, train.py and its data; no weights) into `dir`.
fn export_py(id: &str, dir: &Path) -> interop::Summary {
    interop::export_pytorch(&common::preset(id), None, dir, &Weights::None, false, &no_progress).unwrap()
}

/// The file without the project Strata embeds: what an ONNX file from another tool looks like.
fn foreign(path: &Path) {
    let mut m = ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap();
    m.metadata_props.clear();
    std::fs::write(path, m.write_to_bytes().unwrap()).unwrap();
}

fn outputs(reference: &Path) -> Vec<Vec<f32>> {
    let c = safetensors::read(reference).unwrap();
    c.floats
        .into_iter()
        .filter(|t| t.name.starts_with("output."))
        .map(|t| t.data)
        .collect()
}

#[test]
fn pytorch_export_names_modules_after_titles_and_writes_blocks_as_classes() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let p = common::preset("resnet_mini");
    let s = interop::export_pytorch(&p, None, dir.path(), &Weights::Initial(1), true, &no_progress).unwrap();
    let py = std::fs::read_to_string(dir.path().join("model.py")).unwrap();
    assert!(py.contains("class BasicBlock16(nn.Module):"), "{py}");
    assert!(py.contains("self.stage_1 = BasicBlock16()"), "{py}");
    assert!(py.contains("# [B, 16, 14, 14]"), "shapes in comments");
    assert!(py.contains("def forward(self, image):"), "{py}");
    let w = safetensors::read(&dir.path().join("weights.safetensors")).unwrap();
    let names: Vec<&str> = w.floats.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"stage_1.conv2d.weight"), "{names:?}");
    assert!(names.contains(&"linear.weight"), "{names:?}");
    // Learned values (running statistics aside) are exactly the model's parameters.
    let learned: usize = w
        .floats
        .iter()
        .filter(|t| !t.name.contains("running_"))
        .map(|t| t.data.len())
        .sum();
    assert_eq!(learned, s.params);
    assert_eq!(s.params, 77_754);
    // Linear weights are stored as PyTorch has them: [out, in].
    let lin = w.floats.iter().find(|t| t.name == "linear.weight").unwrap();
    assert_eq!(lin.dims, [10, 64]);
    for f in ["train.py", "data.safetensors", "reference.safetensors"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}

#[test]
fn a_block_used_with_different_sizes_is_one_class_with_the_sizes_as_arguments() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let p = common::preset("densenet121");
    interop::export_pytorch(&p, None, dir.path(), &Weights::None, false, &no_progress).unwrap();
    let py = std::fs::read_to_string(dir.path().join("model.py")).unwrap();
    let classes = py.matches("\nclass ").count();
    assert!(classes <= 6, "{classes} classes for DenseNet-121");
    // 58 dense layers, one class: their input widths are constructor arguments.
    let dense = py
        .lines()
        .find(|l| l.starts_with("class Dense"))
        .expect("a dense-layer class");
    let name = dense.trim_start_matches("class ").split('(').next().unwrap();
    assert!(
        py.matches(&format!("{name}(")).count() > 50,
        "{name} instantiated per layer"
    );
    assert!(py.contains(&format!("{name}(batchnorm_0=")), "sizes passed by name");
}

#[test]
fn onnx_export_holds_exactly_the_parameters_and_is_a_valid_model_proto() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    for (id, ops) in [
        ("mlp", &["MatMul", "Relu", "Flatten"][..]),
        ("lenet5", &["Conv", "MaxPool"][..]),
    ] {
        let path = dir.path().join(format!("{id}.onnx"));
        let s = export_onnx(&common::preset(id), &path, 1);
        let m = ModelProto::parse_from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(m.opset_import[0].version, interop::onnx::OPSET);
        let g = m.graph.as_ref().unwrap();
        let n: usize = g
            .initializer
            .iter()
            .map(|t| t.dims.iter().product::<i64>() as usize)
            .sum();
        assert_eq!(n, s.params, "{id}");
        for op in ops {
            assert!(g.node.iter().any(|n| n.op_type == *op), "{id} has no {op}");
        }
        assert_eq!(g.output[0].name, "prediction");
    }
}

#[test]
fn selective_scans_and_routed_experts_are_onnx_operators() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // Mamba's recurrence is a Scan whose body carries the state; the mixture routes with TopK.
    for (id, op) in [("mamba_char", "Scan"), ("moe_char", "TopK")] {
        let path = dir.path().join(format!("{id}.onnx"));
        let s = export_onnx(&common::preset(id), &path, 1);
        let m = ModelProto::parse_from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        let g = m.graph.as_ref().unwrap();
        let n: usize = g
            .initializer
            .iter()
            .map(|t| t.dims.iter().product::<i64>() as usize)
            .sum();
        assert_eq!(n, s.params, "{id}");
        let node = g
            .node
            .iter()
            .find(|n| n.op_type == op)
            .unwrap_or_else(|| panic!("{id} has no {op}"));
        if op == "Scan" {
            let body = node.attribute.iter().find(|a| a.name == "body").unwrap();
            let ops: Vec<&str> = body.g.node.iter().map(|n| n.op_type.as_str()).collect();
            assert!(ops.contains(&"ReduceSum") && ops.contains(&"Add"), "{ops:?}");
            assert_eq!(body.g.input.len(), 4, "state, decay, input and C per step");
        }
    }
}

#[test]
fn a_failed_export_names_the_problem_and_writes_nothing() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let e = interop::export_onnx(
        &common::preset("mlp"),
        None,
        &dir.path().join("mlp.onnx"),
        &Weights::Checkpoint(dir.path().join("no such run")),
        None,
        &no_progress,
    )
    .unwrap_err();
    assert!(e.contains("no such run"), "{e}");
    assert!(!dir.path().join("mlp.onnx").exists(), "nothing half-written");
}

/// `project` (imported from `first`, saved at `project_path` with its weights) exported again
/// gives the outputs `first`'s reference holds, within 1e-5.
fn assert_exports_the_same(project: &strata::doc::Project, project_path: &Path, first: &Path, id: &str) {
    let second = project_path.with_extension("again.onnx");
    let reference = second.with_extension("reference.safetensors");
    interop::export_onnx(
        project,
        Some(project_path),
        &second,
        &Weights::Latest,
        Some(&reference),
        &no_progress,
    )
    .unwrap();
    let (a, b) = (
        outputs(&first.with_extension("reference.safetensors")),
        outputs(&reference),
    );
    assert_eq!(a.len(), b.len(), "{id}");
    for (x, y) in a.iter().zip(&b) {
        let worst = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "{id}: outputs differ by {worst}");
    }
}

#[test]
fn export_import_export_keeps_the_graph_and_the_outputs() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    for id in ["lenet5", "resnet_mini", "mlp"] {
        let first = dir.path().join(format!("{id}.onnx"));
        let s1 = export_onnx(&common::preset(id), &first, 5);
        foreign(&first);
        let project_path = dir.path().join(format!("{id}.strata"));
        let imported = interop::import_onnx(&first, &project_path, &no_progress).unwrap();
        assert_eq!(imported.params, s1.params, "{id}: parameters kept");
        let project = strata::open_project(&project_path).unwrap();
        let report = strata::shape::check(&project);
        assert!(report.is_valid(), "{id}: {:?}", report.diagnostics);
        // Same layers (by kind) as the original, top level and blocks flattened.
        let kinds = |p: &strata::doc::Project| {
            let flat = strata::shape::expand(p).unwrap().project;
            let mut k: Vec<String> = flat
                .graph
                .nodes
                .iter()
                .map(|n| n.kind.clone())
                .filter(|k| k != "dropout")
                .collect();
            k.sort();
            k
        };
        let mut original = kinds(&common::preset(id));
        original.retain(|k| k != "global_avg_pool" && k != "flatten");
        let mut again = kinds(&project);
        again.retain(|k| k != "adaptive_avg_pool2d" && k != "flatten");
        assert_eq!(again, original, "{id}: the same layers");
        // Its weights came along: exporting again gives Strata's outputs of the first model.
        assert_exports_the_same(&project, &project_path, &first, id);
    }
}

#[test]
fn layers_other_tools_write_as_onnx_operators_import_as_strata_layers() {
    // ONNX's LSTM/GRU (time-major, gates in ONNX's order, zero initial states) become Strata's
    // recurrent layers with the gates reordered; GELU written out with Erf becomes one GELU;
    // the outputs stay the same.
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    for (id, kind) in [("lstm_rows", "lstm"), ("gru_rows", "gru"), ("score_2d", "gelu")] {
        let first = dir.path().join(format!("{id}.onnx"));
        let s1 = export_onnx(&common::preset(id), &first, 5);
        foreign(&first);
        let project_path = dir.path().join(format!("{id}.strata"));
        let imported = interop::import_onnx(&first, &project_path, &no_progress).unwrap();
        assert_eq!(imported.params, s1.params, "{id}: parameters kept");
        let project = strata::open_project(&project_path).unwrap();
        let kinds: Vec<&str> = project.graph.nodes.iter().map(|n| n.kind.as_str()).collect();
        assert!(kinds.contains(&kind) && !kinds.contains(&"onnx_op"), "{id}: {kinds:?}");
        // The graph checks (the recipe is a guess from the output names; score_2d's is not).
        let errors: Vec<_> = strata::shape::check_graph(&project)
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == strata::shape::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{id}: {errors:?}");
        assert_exports_the_same(&project, &project_path, &first, id);
    }
}

#[test]
fn a_strata_export_reopens_as_the_same_project_with_its_weights() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    for id in ["gpt_char", "resnet_mini", "lstm_rows"] {
        let first = dir.path().join(format!("{id}.onnx"));
        export_onnx(&common::preset(id), &first, 3);
        let project_path = dir.path().join(format!("{id}.strata"));
        interop::import_onnx(&first, &project_path, &no_progress).unwrap();
        let project = strata::open_project(&project_path).unwrap();
        let original = common::preset(id);
        assert_eq!(project.graph, original.graph, "{id}: the same graph");
        assert_eq!(project.blocks, original.blocks, "{id}: the same blocks");
        let second = dir.path().join(format!("{id}-again.onnx"));
        let reference = second.with_extension("reference.safetensors");
        interop::export_onnx(
            &project,
            Some(&project_path),
            &second,
            &Weights::Latest,
            Some(&reference),
            &no_progress,
        )
        .unwrap();
        assert_eq!(
            outputs(&first.with_extension("reference.safetensors")),
            outputs(&reference),
            "{id}"
        );
    }
}

#[test]
fn unknown_operators_are_kept_as_onnx_nodes_with_a_diagnostic() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpt.onnx");
    export_onnx(&common::preset("gpt_char"), &path, 1);
    foreign(&path);
    let out = dir.path().join("gpt.strata");
    let s = interop::import_onnx(&path, &out, &no_progress).unwrap();
    let project = strata::open_project(&out).unwrap();
    assert!(
        !strata::shape::check(&project)
            .diagnostics
            .iter()
            .any(|d| d.message.contains("is not connected")),
        "every wire kept"
    );
    let foreign: Vec<_> = project.graph.nodes.iter().filter(|n| n.kind == "onnx_op").collect();
    assert!(
        foreign
            .iter()
            .any(|n| n.params.get("op_type").and_then(|v| v.as_text()) == Some("Trilu"))
    );
    assert!(s.notes.iter().any(|n| n.contains("has no Strata layer")));
    let report = strata::shape::check(&project);
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.message.contains("has no Strata layer") && d.message.contains("replace the node")),
        "{:?}",
        report.diagnostics
    );
    // The weights are not lost: kept under node names until the graph trains.
    let w = safetensors::read(&out.with_extension("weights.safetensors")).unwrap();
    let kept: usize = w.floats.iter().map(|t| t.data.len()).sum();
    assert!(kept > 800_000, "{kept}");
}

#[test]
fn bad_onnx_files_are_clear_errors_naming_the_problem() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("mlp.onnx");
    export_onnx(&common::preset("mlp"), &good, 1);
    foreign(&good);
    let bytes = std::fs::read(&good).unwrap();
    let check = |name: &str, data: &[u8], want: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        let e = import::import_file(&p).unwrap_err();
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    };
    check("empty.onnx", &[], "empty");
    check("truncated.onnx", &bytes[..bytes.len() / 2], "truncated");
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    check("noise.onnx", &noise, "ONNX");
    // An operator set from the future.
    let mut m = ModelProto::parse_from_bytes(&bytes).unwrap();
    m.opset_import[0].version = 99;
    check("future.onnx", &m.write_to_bytes().unwrap(), "operator set 99");
    // A cycle: the first operator reads the last one's output.
    let mut m = ModelProto::parse_from_bytes(&bytes).unwrap();
    let g = m.graph.as_mut().unwrap();
    let last = g.node.last().unwrap().output[0].clone();
    g.node[0].input[0] = last;
    check("cycle.onnx", &m.write_to_bytes().unwrap(), "cycle");
    // Weights in a 2 GB external file that is not there.
    let mut m = ModelProto::parse_from_bytes(&bytes).unwrap();
    let t = &mut m.graph.as_mut().unwrap().initializer[0];
    t.float_data.clear();
    t.data_location = protobuf::EnumOrUnknown::from_i32(1); // EXTERNAL
    let mut loc = onnx_ir::TensorProto::new().external_data;
    loc.push(Default::default());
    loc[0].key = "location".into();
    loc[0].value = "weights.bin".into();
    loc.push(Default::default());
    loc[1].key = "length".into();
    loc[1].value = "2147483648".into();
    t.external_data = loc;
    check(
        "external.onnx",
        &m.write_to_bytes().unwrap(),
        "weights.bin which does not exist",
    );
}

#[test]
fn weights_saved_under_pytorch_names_load_back_exactly() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let project_path = dir.path().join("lenet.strata");
    strata::doc::save_file(&common::preset("lenet5"), &project_path).unwrap();
    let first = dir.path().join("first");
    interop::export_pytorch(
        &common::preset("lenet5"),
        None,
        &first,
        &Weights::Initial(9),
        false,
        &no_progress,
    )
    .unwrap();
    let s = interop::import_weights(&project_path, &first.join("weights.safetensors"), None).unwrap();
    assert!(
        s.notes[0].starts_with("10 tensors loaded into 5 node(s)"),
        "{:?}",
        s.notes
    );
    let second = dir.path().join("second");
    let project = strata::open_project(&project_path).unwrap();
    interop::export_pytorch(
        &project,
        Some(&project_path),
        &second,
        &Weights::Latest,
        false,
        &no_progress,
    )
    .unwrap();
    let a = safetensors::read(&first.join("weights.safetensors")).unwrap();
    let b = safetensors::read(&second.join("weights.safetensors")).unwrap();
    assert_eq!(a.floats, b.floats);
    // A file that names nothing of the project says what names it expects.
    let other = dir.path().join("other.safetensors");
    safetensors::write(
        &other,
        &[interop::weights::NamedTensor {
            name: "encoder.w".into(),
            dims: vec![2],
            data: vec![1.0, 2.0],
        }],
        &[],
        &[],
    )
    .unwrap();
    let e = interop::import_weights(&project_path, &other, None).unwrap_err();
    assert!(
        e.contains("none of its 1 tensors names a weight") && e.contains(".weight"),
        "{e}"
    );
}

#[test]
fn safetensors_round_trip_floats_and_integers() {
    let f = vec![interop::weights::NamedTensor {
        name: "a".into(),
        dims: vec![2, 3],
        data: vec![1.0, -2.5, 3.0, 0.0, 1e-9, 7.0],
    }];
    let i = vec![safetensors::IntTensor {
        name: "ids".into(),
        dims: vec![3],
        data: vec![0, 5, -1],
    }];
    let bytes = safetensors::to_bytes(&f, &i, &[("k", "v".into())]).unwrap();
    let back = safetensors::from_bytes(&bytes).unwrap();
    assert_eq!(back.floats, f);
    assert_eq!(back.ints, i);
    assert!(safetensors::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    assert!(
        safetensors::from_bytes(b"junk")
            .unwrap_err()
            .contains("not a safetensors file")
    );
}

/// `train.py` and `model.py` in `dir` parse as Python, wherever Python is installed (PyTorch
/// runs them in `scripts/check_export.py --train`).
fn parses_as_python(dir: &Path) {
    if let Ok(st) = std::process::Command::new("python3")
        .args(["-m", "py_compile", "train.py", "model.py"])
        .current_dir(dir)
        .status()
    {
        assert!(st.success(), "{}: train.py or model.py does not parse", dir.display());
    }
}

#[test]
fn train_py_covers_the_generative_sequence_and_graph_recipes() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // (preset, the recipe's header, tensors its data file must hold with their sizes)
    type Sizes<'a> = &'a [(&'a str, &'a [usize])];
    let cases: [(&str, &str, Sizes); 6] = [
        (
            "transformer_mini",
            "# Recipe: seq2seq",
            &[("x_train", &[20_000, 4]), ("y_val", &[500, 43])],
        ),
        ("bert_mlm", "# Recipe: masked language model", &[("x_val", &[256])]),
        (
            "ddpm_unet",
            "# Recipe: diffusion",
            &[("alpha_bar", &[1000]), ("x_train", &[4000, 1, 28, 28])],
        ),
        ("score_2d", "# Recipe: score matching", &[("x_train", &[1600, 2])]),
        ("realnvp", "# Recipe: flow", &[("x_val", &[400, 2])]),
        (
            "mpnn",
            "# Recipe: graph classification",
            &[("node_start", &[601]), ("edge_attr", &[8385, 2])],
        ),
    ];
    for (id, header, tensors) in cases {
        let out = dir.path().join(id);
        export_py(id, &out);
        let script = std::fs::read_to_string(out.join("train.py")).unwrap();
        assert!(script.contains(header), "{id}: {script}");
        let data = safetensors::read(&out.join("data.safetensors")).unwrap();
        for (name, dims) in tensors {
            let found = data
                .floats
                .iter()
                .map(|t| (&t.name, &t.dims))
                .chain(data.ints.iter().map(|t| (&t.name, &t.dims)))
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{id}: no {name} in data.safetensors"));
            assert_eq!(found.1, dims, "{id}: {name}");
        }
        parses_as_python(&out);
    }
    // Flows' layers report their log-determinants to the script.
    let model = std::fs::read_to_string(dir.path().join("realnvp/model.py")).unwrap();
    assert_eq!(
        model.matches("def log_det(self, x):").count(),
        3,
        "coupling, ActNorm, 1×1 conv"
    );
}

#[test]
fn train_py_covers_language_models_graphs_gans_and_reinforcement_learning() {
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let gpt = dir.path().join("gpt");
    export_py("gpt_char", &gpt);
    let script = std::fs::read_to_string(gpt.join("train.py")).unwrap();
    assert!(script.contains("# Recipe: language model"), "{script}");
    assert!(script.contains("DistributedDataParallel"));
    let data = safetensors::read(&gpt.join("data.safetensors")).unwrap();
    let tokens = data.ints.iter().find(|t| t.name == "tokens").unwrap();
    assert_eq!(tokens.data.len(), 684_767, "the whole novel, as character ids");
    // Node classification: the whole graph in every step.
    let gcn = dir.path().join("gcn");
    export_py("gcn", &gcn);
    let script = std::fs::read_to_string(gcn.join("train.py")).unwrap();
    assert!(script.contains("# Recipe: node classification"), "{script}");
    let data = safetensors::read(&gcn.join("data.safetensors")).unwrap();
    assert_eq!(data.floats[0].dims, [2708, 1433], "Cora's features");
    // A GAN: model.py splits the forward pass into its two networks, train.py steps each.
    let gan = dir.path().join("gan");
    export_py("dcgan", &gan);
    let model = std::fs::read_to_string(gan.join("model.py")).unwrap();
    assert!(model.contains("    def generate(self, noise_z):"), "{model}");
    assert!(
        model.contains("    def discriminate(self, generated_image):"),
        "{model}"
    );
    let script = std::fs::read_to_string(gan.join("train.py")).unwrap();
    assert!(
        script.contains("# Recipe: GAN") && script.contains("def train_step("),
        "{script}"
    );
    // Reinforcement learning: the environment is in the script, there is no data file.
    let ppo = dir.path().join("ppo");
    export_py("ppo_cartpole", &ppo);
    let script = std::fs::read_to_string(ppo.join("train.py")).unwrap();
    assert!(script.contains("class Env:") && script.contains("CartPole"), "{script}");
    assert!(
        script.contains("N_ENVS, ROLLOUT, EPOCHS, MINIBATCHES = 8, 128, 4, 4"),
        "{script}"
    );
    assert!(!ppo.join("data.safetensors").exists());
    parses_as_python(&gan);
    parses_as_python(&ppo);
    let sac = dir.path().join("sac");
    export_py("sac_pendulum", &sac);
    parses_as_python(&sac);
    // Every recipe Strata trains with has its part of train.py.
    for r in strata::engine::recipes::engines() {
        assert!(
            interop::recipes::TRAINERS.iter().any(|(id, _)| *id == r.id),
            "train.py does not cover '{}'",
            r.id
        );
    }
}

/// A node of a hand-written ONNX graph.
fn onnx_node(op: &str, inputs: &[&str], output: &str) -> onnx_ir::NodeProto {
    let mut n = onnx_ir::NodeProto::new();
    n.op_type = op.into();
    n.name = output.into();
    n.input = inputs.iter().map(|s| (*s).to_owned()).collect();
    n.output = vec![output.into()];
    n
}

/// A `Constant` node holding int64 values.
fn onnx_ints(name: &str, v: &[i64]) -> onnx_ir::NodeProto {
    let mut t = onnx_ir::TensorProto::new();
    t.dims = vec![v.len() as i64];
    t.data_type = 7;
    t.int64_data = v.to_vec();
    let mut a = onnx_ir::AttributeProto::new();
    a.name = "value".into();
    a.type_ = onnx_ir::AttributeType::TENSOR.into();
    a.t = Some(t).into();
    let mut n = onnx_node("Constant", &[], name);
    n.attribute.push(a);
    n
}

/// A float graph input or output of fixed sizes.
fn onnx_value(name: &str, dims: &[i64]) -> onnx_ir::ValueInfoProto {
    let mut v = onnx_ir::ValueInfoProto::new();
    v.name = name.into();
    let tt = v.type_.mut_or_insert_default().mut_tensor_type();
    tt.elem_type = 1;
    let shape = tt.shape.mut_or_insert_default();
    for &d in dims {
        shape.dim.push(Default::default());
        shape.dim.last_mut().unwrap().set_dim_value(d);
    }
    v
}

#[test]
fn a_transpose_through_a_rank_5_detour_imports_as_one_permute() {
    // PyTorch's multi-head attention splits its packed q/k/v as unsqueeze(0) → transpose →
    // squeeze(-2), through a rank-5 tensor; the import folds that into one rank-4 permute.
    let _g = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let mut g = onnx_ir::GraphProto::new();
    g.name = "detour".into();
    g.node.push(onnx_ints("zero", &[0]));
    g.node.push(onnx_node("Unsqueeze", &["x", "zero"], "u"));
    let mut t = onnx_node("Transpose", &["u"], "t");
    let mut perm = onnx_ir::AttributeProto::new();
    perm.name = "perm".into();
    perm.type_ = onnx_ir::AttributeType::INTS.into();
    perm.ints = vec![3, 1, 2, 0, 4];
    t.attribute.push(perm);
    g.node.push(t);
    g.node.push(onnx_ints("minus_two", &[-2]));
    g.node.push(onnx_node("Squeeze", &["t", "minus_two"], "y"));
    g.input.push(onnx_value("x", &[2, 3, 4, 5]));
    g.output.push(onnx_value("y", &[4, 2, 3, 5]));
    let mut m = ModelProto::new();
    m.ir_version = 8;
    m.opset_import.push(Default::default());
    m.opset_import[0].version = 17;
    m.graph = Some(g).into();
    let path = dir.path().join("detour.onnx");
    std::fs::write(&path, m.write_to_bytes().unwrap()).unwrap();
    let out = dir.path().join("detour.strata");
    interop::import_onnx(&path, &out, &no_progress).unwrap();
    let project = strata::open_project(&out).unwrap();
    let kinds: Vec<&str> = project.graph.nodes.iter().map(|n| n.kind.as_str()).collect();
    assert!(!kinds.contains(&"onnx_op"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| !matches!(**k, "input" | "output")).count(),
        1,
        "{kinds:?}"
    );
    // It runs, and y[i, j, k, l] = x[j, k, i, l].
    let again = dir.path().join("again.onnx");
    let reference = again.with_extension("reference.safetensors");
    interop::export_onnx(
        &project,
        Some(&out),
        &again,
        &Weights::None,
        Some(&reference),
        &no_progress,
    )
    .unwrap();
    let c = safetensors::read(&reference).unwrap();
    let x = &c.floats.iter().find(|t| t.name.starts_with("input.")).unwrap().data;
    let y = &c.floats.iter().find(|t| t.name.starts_with("output.")).unwrap().data;
    let b = y.len() / 60;
    assert_eq!(x.len(), y.len());
    for n in 0..b.min(2) {
        for (i, k, l) in [(0, 0, 0), (3, 2, 4), (2, 1, 3)] {
            // The batch of the import is B, so y is [4, B, 3, 5] and x [B, 3, 4, 5].
            assert_eq!(y[((i * b + n) * 3 + k) * 5 + l], x[((n * 3 + k) * 4 + i) * 5 + l]);
        }
    }
}
