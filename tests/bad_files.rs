//! Broken project files give errors that name the place, and never panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use strata::doc::{self, LoadError};
use strata::shape;

fn load(text: &str) -> Result<strata::doc::Project, LoadError> {
    strata::parse_project(text)
}

fn mlp_text() -> String {
    strata::presets::source("mlp").unwrap().to_owned()
}

#[test]
fn truncated_file_reports_line_and_column() {
    let text = mlp_text();
    let cut = &text[..text.len() / 2];
    let err = load(cut).unwrap_err();
    let LoadError::Syntax { line, column, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, cut.lines().count());
    assert!(*column >= 1);
    assert!(
        err.to_string().contains(&format!("line {line}, column {column}")),
        "{err}"
    );
    // Every prefix of a valid file is an error, never a panic.
    for end in (0..text.len()).step_by(97) {
        if text.is_char_boundary(end) {
            assert!(load(&text[..end]).is_err());
        }
    }
}

#[test]
fn wrong_types_report_the_json_path() {
    let text = mlp_text().replace("\"out_features\": 128", "\"out_features\": \"many\"");
    let err = load(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "graph.nodes[2].params.out_features: expected an integer, found \"many\""
    );

    let text = mlp_text().replace("\"batch_size\": 64", "\"batch_size\": \"big\"");
    let err = load(&text).unwrap_err().to_string();
    assert!(
        err.starts_with("training.batch_size: invalid type: string \"big\""),
        "{err}"
    );

    let text = mlp_text().replace("\"kind\": \"relu\"", "\"kind\": 5");
    let err = load(&text).unwrap_err().to_string();
    assert!(
        err.starts_with("graph.nodes[3].kind: invalid type: integer `5`"),
        "{err}"
    );

    let text = mlp_text().replace("\"in\": \"x\"}", "\"in\": \"x\", \"colour\": 1}");
    let err = load(&text).unwrap_err().to_string();
    assert!(err.starts_with("graph.wires[0]"), "{err}");
}

#[test]
fn negative_kernel_size_is_named_exactly() {
    let text = strata::presets::source("lenet5")
        .unwrap()
        .replacen("\"kernel_size\": 5", "\"kernel_size\": -1", 1);
    let err = load(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "graph.nodes[1].params.kernel_size: expected a positive integer, found -1"
    );
}

#[test]
fn bad_values_in_blocks_name_the_block() {
    let text = strata::presets::source("resnet18").unwrap();
    let at = text.find("\"blocks\"").unwrap();
    let text = format!(
        "{}{}",
        &text[..at],
        text[at..].replacen("\"kernel_size\": 3", "\"kernel_size\": 0", 1)
    );
    let err = load(&text).unwrap_err().to_string();
    assert!(err.starts_with("blocks[0].graph.nodes["), "{err}");
    assert!(
        err.ends_with("params.kernel_size: expected a positive integer, found 0"),
        "{err}"
    );
}

#[test]
fn huge_numbers_never_panic() {
    for (from, to) in [
        ("\"out_features\": 128", "\"out_features\": 99999999999999999999999"),
        ("\"out_features\": 128", "\"out_features\": 1e308"),
        ("\"out_features\": 128", "\"out_features\": 1e999"),
        ("\"out_features\": 128", "\"out_features\": 9223372036854775807"),
        ("\"id\": 2,", "\"id\": 18446744073709551615,"),
        ("\"steps\": 2000", "\"steps\": -5"),
        ("\"learning_rate\": 0.001", "\"learning_rate\": 1e999"),
        ("\"pos\": [0.0, 0.0]", "\"pos\": [1e39, 0.0]"),
    ] {
        let text = mlp_text().replacen(from, to, 1);
        assert_ne!(text, mlp_text(), "{from} not found");
        match load(&text) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(p) => {
                // Loaded: the checker must still cope.
                let _ = shape::check(&p);
            }
        }
    }
    // A valid but enormous layer is a diagnostic about its size, not an overflow.
    let text = mlp_text().replacen("\"out_features\": 128", "\"out_features\": 1073741824", 1);
    let mut p = load(&text).unwrap();
    let r = shape::check(&p);
    assert!(r.is_valid(), "{:?}", r.diagnostics);
    assert_eq!(r.total_params, 784 * 1073741824 + 1073741824 + 1073741824 * 10 + 10);
    let big = p.graph.nodes.iter().find(|n| n.kind == "linear").unwrap().id;
    p.graph
        .node_mut(big)
        .unwrap()
        .params
        .insert("out_features".into(), i64::MAX.into());
    let r = shape::check(&p);
    assert!(!r.is_valid());
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.node == Some(big) && d.message.contains("out_features must be in"))
    );
}

#[test]
fn not_a_project_at_all() {
    for text in [
        "",
        "null",
        "[]",
        "42",
        "\"text\"",
        "{}",
        "{\"format_version\": 0}",
        "{\"format_version\": \"2\"}",
    ] {
        let err = load(text).unwrap_err();
        assert!(!err.to_string().is_empty(), "{text}");
    }
    let err = load("{\"name\": \"x\"}").unwrap_err().to_string();
    assert!(err.contains("format_version"), "{err}");
    let err = load("{\"format_version\": 2, \"name\": \"x\"}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field `recipe`"), "{err}");
}

#[test]
fn duplicate_ids_and_broken_structure_are_refused() {
    let text = mlp_text().replacen("\"id\": 1,", "\"id\": 0,", 1);
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("node id 0 is used twice"), "{err}");
    let text = mlp_text().replacen("\"kind\": \"relu\"", "\"kind\": \"block\"", 1);
    let err = load(&text).unwrap_err().to_string();
    assert!(err.contains("must name its block"), "{err}");
}

#[test]
fn unreadable_files_name_the_file() {
    let err = strata::open_project(std::path::Path::new("/definitely/not/here.strata")).unwrap_err();
    assert!(err.to_string().contains("/definitely/not/here.strata"));
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("binary.strata");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let err = strata::open_project(&bin).unwrap_err().to_string();
    assert!(err.contains("not UTF-8"), "{err}");
}

#[test]
fn cycles_and_dangling_wires_are_diagnostics_not_load_errors() {
    let mut p = small_mlp();
    let ids: Vec<_> = p.graph.nodes.iter().map(|n| n.id).collect();
    // relu → first linear makes a cycle linear → relu → linear.
    p.graph.remove_wire(&p.graph.wires[0].clone());
    p.graph.add_wire(doc::Wire::new(ids[2], "y", ids[1], "x"));
    // A wire from a node that does not exist.
    p.graph.add_wire(doc::Wire::new(doc::NodeId(4242), "y", ids[4], "x"));
    let text = doc::to_json_string(&p);
    let back = load(&text).unwrap();
    let r = shape::check(&back);
    assert!(!r.is_valid());
    let msgs: Vec<&str> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        msgs.iter().any(|m| m.contains("part of a cycle (ReLU → Linear → ReLU)")
            || m.contains("part of a cycle (Linear → ReLU → Linear)")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.contains("#4242") && m.contains("does not exist")),
        "{msgs:?}"
    );
    // Both cycle members are blamed, nodes downstream of the cycle are not.
    assert_eq!(
        r.diagnostics.iter().filter(|d| d.message.contains("cycle")).count(),
        2,
        "{msgs:?}"
    );
    assert!(r.diagnostics.iter().all(|d| d.node != Some(ids[3])), "{msgs:?}");
}
