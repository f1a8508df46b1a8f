//! Property tests: random graphs built from the catalog, and random damage to project files,
//! never make the checker or the loader panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use strata::catalog::{self, ParamKind};
use strata::doc::{Graph, Node, NodeId, ParamValue, Project, Wire};
use strata::shape;

/// A value for a parameter: mostly sensible, sometimes extreme or of the wrong type.
fn value_for(kind: ParamKind, pick: u8, r: i64) -> ParamValue {
    match (kind, pick % 8) {
        (_, 7) => ParamValue::Text("garbage".into()),
        (_, 6) => ParamValue::Int(r),
        (ParamKind::Int { min, max }, p) => ParamValue::Int(match p {
            0 => min,
            1 => max,
            _ => min.saturating_add(r.rem_euclid(16)).min(max),
        }),
        (ParamKind::Float { min, max }, p) => ParamValue::Float(if p == 0 {
            min
        } else {
            max.min(min + (r.rem_euclid(10) as f64) / 10.0)
        }),
        (ParamKind::Bool, p) => ParamValue::Bool(p % 2 == 0),
        (ParamKind::Choice(opts), _) => ParamValue::Text(opts[(r.unsigned_abs() as usize) % opts.len()].into()),
        (ParamKind::Shape, p) => {
            let dims = [
                ParamValue::Text("B".into()),
                ParamValue::Int(1 + r.rem_euclid(32)),
                ParamValue::Text("T".into()),
                ParamValue::Int(-1),
                ParamValue::Int(0),
            ];
            ParamValue::List(dims.iter().take(1 + (p as usize % 5)).cloned().collect())
        }
        (ParamKind::Ints, p) => ParamValue::List((0..(p % 4)).map(|i| ParamValue::Int(i64::from(i) - 1)).collect()),
        (ParamKind::Text, _) => ParamValue::Text(format!("n{r}")),
        // No blocks in these graphs: empty (built in) or a block that is not there.
        (ParamKind::Block { .. }, p) => ParamValue::Text(if p % 2 == 0 { String::new() } else { format!("b{r}") }),
    }
}

prop_compose! {
    fn random_graph()(
        kinds in prop::collection::vec(0usize..1000, 1..30),
        params in prop::collection::vec((any::<u8>(), -100i64..100_000), 0..60),
        wires in prop::collection::vec((0usize..30, 0usize..4, 0usize..30, 0usize..4), 0..60),
    ) -> Project {
        let cat = catalog::catalog();
        let all = cat.all();
        let mut g = Graph::new();
        let mut pi = params.into_iter();
        for k in kinds {
            let spec = &all[k % all.len()];
            let mut n = Node::new(spec.id);
            for p in spec.params {
                if let Some((pick, r)) = pi.next().filter(|(pick, _)| pick % 3 != 0) {
                    n.params.insert(p.name.into(), value_for(p.kind, pick, r));
                }
            }
            g.add(n);
        }
        let ids: Vec<NodeId> = g.nodes.iter().map(|n| n.id).collect();
        for (a, o, b, i) in wires {
            let (a, b) = (ids[a % ids.len()], ids[b % ids.len()]);
            let (na, nb) = (g.node(a).unwrap(), g.node(b).unwrap());
            let outs = cat.get(&na.kind).map(|s| s.output_ports(&na.params)).unwrap_or_default();
            let ins = cat.get(&nb.kind).map(|s| s.input_ports(&nb.params)).unwrap_or_default();
            let out = outs.get(o % outs.len().max(1)).map(|p| p.name.to_string()).unwrap_or_else(|| "y".into());
            let inp = ins.get(i % ins.len().max(1)).map(|p| p.name.to_string()).unwrap_or_else(|| "x".into());
            if a != b {
                g.add_wire(Wire::new(a, &out, b, &inp));
            }
        }
        let mut p = Project::new("random");
        p.graph = g;
        p
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn checker_never_panics_on_random_graphs(p in random_graph()) {
        let r = shape::check(&p);
        prop_assert_eq!(r.nodes.len(), p.graph.nodes.len());
        // Whatever the checker says survives a save and reload unchanged.
        let text = strata::doc::to_json_string(&p);
        if let Ok(back) = strata::doc::from_json_str(&text) {
            prop_assert_eq!(shape::check(&back), r);
        }
    }

    #[test]
    fn random_chains_of_valid_layers_check_cleanly(widths in prop::collection::vec(1i64..64, 1..12), acts in prop::collection::vec(0usize..6, 12)) {
        let mut g = strata::catalog::GraphBuilder::new();
        let mut h = g.node("input", &[("shape", common::shape("B,7"))]);
        for (i, w) in widths.iter().enumerate() {
            h = g.then(h, "linear", &[("out_features", (*w).into())]);
            h = g.then(h, ["relu", "gelu", "tanh", "silu", "mish", "sigmoid"][acts[i]], &[]);
        }
        g.then(h, "output", &[]);
        let mut p = Project::new("chain");
        p.graph = g.finish();
        let r = shape::check(&p);
        prop_assert!(r.is_valid(), "{:?}", r.diagnostics);
        let mut expected = 0u64;
        let mut fan_in = 7u64;
        for w in &widths {
            expected += fan_in * (*w as u64) + *w as u64;
            fan_in = *w as u64;
        }
        prop_assert_eq!(r.total_params, expected);
    }

    #[test]
    fn damaged_files_never_panic_the_loader(at in any::<prop::sample::Index>(), len in 0usize..40, junk in "[ -~]{0,20}") {
        let text = strata::presets::source("resnet18").unwrap();
        let start = at.index(text.len());
        let end = (start + len).min(text.len());
        if text.is_char_boundary(start) && text.is_char_boundary(end) {
            let damaged = format!("{}{}{}", &text[..start], junk, &text[end..]);
            if let Ok(p) = strata::parse_project(&damaged) {
                let _ = shape::check(&p);
            }
        }
    }
}
