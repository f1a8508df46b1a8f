//! Dense layers, dropout and activations.

use super::rules::*;
use super::spec::*;

fn linear_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() < 2 || x.rank() > 3 {
        let e = RuleError::at("x", format!("Linear expects [B, N] or [B, T, N] but gets {x}"));
        return Err(if x.rank() > 3 {
            e.fix(
                "insert Flatten",
                Some(FixAction::InsertBefore {
                    port: "x".into(),
                    kind: "flatten",
                    params: vec![],
                }),
            )
        } else {
            e
        });
    }
    let n = known(x.dims[x.rank() - 1], "x", "input feature size")?;
    let out = ctx.uint("out_features");
    let bias = if ctx.bool("bias") { out } else { 0 };
    let y = x.with_last(super::types::Dim::Known(out));
    let macs = cm(y.cost_elements(), n)?;
    Ok(Inferred {
        outputs: vec![y],
        params: cs(&[cm(n, out)?, bias])?,
        macs,
    })
}

fn same_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    Ok(same(ctx.input(0)?))
}

fn softmax_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    axis(ctx.int("dim"), x.rank(), "x")?;
    Ok(same(x))
}

macro_rules! activation {
    ($id:literal, $name:literal, $doc:literal, $paper:literal) => {
        LayerSpec {
            id: $id,
            name: $name,
            category: Category::Activation,
            doc: $doc,
            paper: $paper,
            params: &[],
            inputs: Ports::Fixed(X),
            outputs: Ports::Fixed(Y),
            infer: same_rule,
        }
    };
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "linear",
        name: "Linear",
        category: Category::Core,
        doc: "Fully connected layer y = xWᵀ + b over the last dim; the input size is inferred.",
        paper: "Rosenblatt, The Perceptron, Psychological Review 1958",
        params: &[
            int("out_features", 64, 1, BIG, "Output features"),
            flag("bias", true, "Learn an additive bias"),
            choice(
                "init",
                "default",
                &["default", "zeros"],
                "Starting weights: default (uniform, scaled by the input size) or zeros (adaLN-Zero modulation and output layers start as the identity / zero)",
            ),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: linear_rule,
    },
    LayerSpec {
        id: "dropout",
        name: "Dropout",
        category: Category::Core,
        doc: "Zeroes each value with probability p while training and rescales the rest.",
        paper: "Srivastava et al., Dropout, JMLR 2014",
        params: &[float("p", 0.5, 0.0, 0.999, "Drop probability")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: same_rule,
    },
    LayerSpec {
        id: "identity",
        name: "Identity",
        category: Category::Core,
        doc: "Passes its input through unchanged (a named tap point).",
        paper: "",
        params: &[],
        inputs: Ports::Fixed(&[any_port("x")]),
        outputs: Ports::Fixed(&[any_port("y")]),
        infer: same_rule,
    },
    activation!(
        "relu",
        "ReLU",
        "max(0, x).",
        "Nair & Hinton, Rectified Linear Units, ICML 2010"
    ),
    LayerSpec {
        id: "leaky_relu",
        name: "LeakyReLU",
        category: Category::Activation,
        doc: "x for x > 0, slope·x otherwise.",
        paper: "Maas et al., Rectifier Nonlinearities, ICML 2013",
        params: &[float("slope", 0.01, 0.0, 1.0, "Slope for negative inputs")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: same_rule,
    },
    LayerSpec {
        id: "gelu",
        name: "GELU",
        category: Category::Activation,
        doc: "x·Φ(x), the Gaussian error linear unit.",
        paper: "Hendrycks & Gimpel, Gaussian Error Linear Units, 2016",
        params: &[choice(
            "approximate",
            "none",
            &["none", "tanh"],
            "Exact erf or the tanh approximation (GPT-2)",
        )],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: same_rule,
    },
    activation!(
        "silu",
        "SiLU",
        "x·sigmoid(x) (Swish).",
        "Ramachandran et al., Searching for Activation Functions, 2017"
    ),
    activation!("sigmoid", "Sigmoid", "1 / (1 + e^-x).", ""),
    activation!("tanh", "Tanh", "Hyperbolic tangent.", ""),
    activation!("mish", "Mish", "x·tanh(softplus(x)).", "Misra, Mish, BMVC 2020"),
    activation!(
        "elu",
        "ELU",
        "x for x > 0, eˣ − 1 below (graph attention networks use it between layers).",
        "Clevert, Unterthiner & Hochreiter, Fast and Accurate Deep Network Learning by Exponential Linear Units, ICLR 2016"
    ),
    LayerSpec {
        id: "softmax",
        name: "Softmax",
        category: Category::Activation,
        doc: "Exponentiate and normalise along one dim so it sums to 1.",
        paper: "",
        params: &[int("dim", -1, -8, 7, "Dim to normalise (negative counts from the end)")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: softmax_rule,
    },
];
