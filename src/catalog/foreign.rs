//! Operators brought in from other formats that have no Strata layer (an ONNX op the importer
//! does not map). They keep the graph whole — wires, attributes, position — and say what to do.

use super::rules::*;
use super::spec::*;

fn foreign_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let op = ctx.text("op_type");
    let domain = ctx.text("domain");
    let named = if domain.is_empty() {
        op
    } else {
        format!("{domain}::{op}")
    };
    Err(RuleError::new(format!(
        "the ONNX operator {named} has no Strata layer: this graph can be viewed and edited but not trained — replace the node with layers that compute the same"
    )))
}

/// The kinds of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[LayerSpec {
    id: "onnx_op",
    name: "ONNX operator",
    category: Category::Math,
    doc: "An operator from an imported ONNX file that Strata has no layer for, kept with its attributes so nothing is lost.",
    paper: "",
    params: &[
        ParamSpec {
            name: "op_type",
            kind: ParamKind::Text,
            default: ParamDefault::Text("Identity"),
            tooltip: "The ONNX operator",
        },
        ParamSpec {
            name: "domain",
            kind: ParamKind::Text,
            default: ParamDefault::Text(""),
            tooltip: "Its operator-set domain (empty: the standard one)",
        },
        ParamSpec {
            name: "attributes",
            kind: ParamKind::Text,
            default: ParamDefault::Text("{}"),
            tooltip: "Its attributes, as JSON",
        },
        int("inputs", 1, 1, 64, "Number of inputs"),
        int("outputs", 1, 1, 64, "Number of outputs"),
    ],
    inputs: Ports::Variadic {
        prefix: "in",
        count: "inputs",
        accept: Accept::Any,
    },
    outputs: Ports::Variadic {
        prefix: "out",
        count: "outputs",
        accept: Accept::Any,
    },
    infer: foreign_rule,
}];
