//! Inputs, outputs, constants, learned tensors and block ports.

use super::recipes::ROLES;
use super::rules::*;
use super::spec::*;
use super::types::{DType, Dim, TensorType};

const SHAPE: ParamSpec = ParamSpec {
    name: "shape",
    kind: ParamKind::Shape,
    default: ParamDefault::Shape("B,784"),
    tooltip: "Shape with the batch: numbers and letters (B = batch, T = sequence, N = graph nodes)",
};

const FIXED_SHAPE: ParamSpec = ParamSpec {
    name: "shape",
    kind: ParamKind::Shape,
    default: ParamDefault::Shape("1,64"),
    tooltip: "Shape of the tensor (numbers only)",
};

fn shape_of(ctx: &Ctx, numbers_only: bool) -> Result<Vec<Dim>, RuleError> {
    let raw = ctx.params.get("shape");
    let dims = ctx.shape("shape");
    let given = raw.and_then(|v| v.as_list().map(|l| l.len())).unwrap_or(dims.len());
    if dims.len() != given {
        return Err(RuleError::new(
            "shape entries must be non-negative numbers or single capital letters (B, T, N, ...)",
        ));
    }
    if numbers_only && dims.iter().any(|d| d.known().is_none()) {
        return Err(RuleError::new("this shape must be all numbers"));
    }
    if dims.contains(&Dim::Known(0)) {
        return Err(RuleError::new("a shape cannot have a zero-sized dim"));
    }
    Ok(dims)
}

fn input_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let dims = shape_of(ctx, false)?;
    let dtype = if ctx.text("dtype") == "int" {
        DType::Int
    } else {
        DType::Float
    };
    Ok(Inferred {
        outputs: vec![TensorType { dtype, dims }],
        params: 0,
        macs: 0,
    })
}

fn sink_rule(_: &Ctx) -> Result<Inferred, RuleError> {
    Ok(Inferred {
        outputs: vec![],
        params: 0,
        macs: 0,
    })
}

fn constant_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let dims = shape_of(ctx, true)?;
    Ok(Inferred {
        outputs: vec![TensorType::float(dims)],
        params: 0,
        macs: 0,
    })
}

fn parameter_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let dims = shape_of(ctx, true)?;
    let mut n = 1u64;
    for d in &dims {
        n = cm(n, d.known().unwrap_or(1))?;
    }
    Ok(Inferred {
        outputs: vec![TensorType::float(dims)],
        params: n,
        macs: 0,
    })
}

fn port_rule(_: &Ctx) -> Result<Inferred, RuleError> {
    Err(RuleError::new(
        "a block port only has a shape inside an instance of its block",
    ))
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "input",
        name: "Input",
        category: Category::Io,
        doc: "Data entering the network: a dataset field, a noise source or an environment observation.",
        paper: "",
        params: &[
            SHAPE,
            choice(
                "dtype",
                "float",
                &["float", "int"],
                "float for pixels/features, int for token ids and labels",
            ),
            choice(
                "source",
                "dataset",
                &["dataset", "noise", "environment", "timestep"],
                "Where values come from during training",
            ),
            ParamSpec {
                name: "field",
                kind: ParamKind::Text,
                default: ParamDefault::Text("x"),
                tooltip: "Dataset field bound to this input (x, label, tokens, ...)",
            },
        ],
        inputs: Ports::Fixed(NONE),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: input_rule,
    },
    LayerSpec {
        id: "output",
        name: "Output",
        category: Category::Io,
        doc: "A result of the network with a role the recipe uses (prediction, logits, fake, policy, ...).",
        paper: "",
        params: &[choice(
            "role",
            "prediction",
            ROLES,
            "What the recipe does with this output",
        )],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(NONE),
        infer: sink_rule,
    },
    LayerSpec {
        id: "constant",
        name: "Constant",
        category: Category::Io,
        doc: "A fixed tensor filled with one value.",
        paper: "",
        params: &[FIXED_SHAPE, float("value", 0.0, -1e30, 1e30, "Fill value")],
        inputs: Ports::Fixed(NONE),
        outputs: Ports::Fixed(Y),
        infer: constant_rule,
    },
    LayerSpec {
        id: "parameter",
        name: "Parameter",
        category: Category::Io,
        doc: "A learned tensor (e.g. a class token or a learned bias) trained with the network.",
        paper: "",
        params: &[
            FIXED_SHAPE,
            choice(
                "init",
                "normal",
                &["zeros", "ones", "normal", "uniform"],
                "Initial values",
            ),
        ],
        inputs: Ports::Fixed(NONE),
        outputs: Ports::Fixed(Y),
        infer: parameter_rule,
    },
    LayerSpec {
        id: crate::doc::PORT_IN_KIND,
        name: "Block input",
        category: Category::Block,
        doc: "An input port of the block this graph defines.",
        paper: "",
        params: &[
            ParamSpec {
                name: "name",
                kind: ParamKind::Text,
                default: ParamDefault::Text("x"),
                tooltip: "Port name on the block's instances",
            },
            int("index", 0, 0, 63, "Order among the block's inputs"),
        ],
        inputs: Ports::Fixed(NONE),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: port_rule,
    },
    LayerSpec {
        id: crate::doc::PORT_OUT_KIND,
        name: "Block output",
        category: Category::Block,
        doc: "An output port of the block this graph defines.",
        paper: "",
        params: &[
            ParamSpec {
                name: "name",
                kind: ParamKind::Text,
                default: ParamDefault::Text("y"),
                tooltip: "Port name on the block's instances",
            },
            int("index", 0, 0, 63, "Order among the block's outputs"),
        ],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(NONE),
        infer: sink_rule,
    },
];
