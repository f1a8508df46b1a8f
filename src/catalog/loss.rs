//! Loss functions: each reduces to a scalar.

use super::rules::*;
use super::spec::*;
use super::types::{DType, TensorType};

fn scalar(macs: u64) -> Inferred {
    Inferred {
        outputs: vec![TensorType::scalar()],
        params: 0,
        macs,
    }
}

fn class_loss(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let logits = ctx.input(0)?;
    let target = ctx.input(1)?;
    min_rank(logits, "input", 2, "[B, C, ...]")?;
    if target.dtype != DType::Int {
        return Err(RuleError::at(
            "target",
            format!("class targets must be integer labels but are {target}"),
        ));
    }
    let r = logits.rank();
    let last = TensorType::int(logits.dims[..r - 1].to_vec());
    let mut second = logits.dims.clone();
    second.remove(1);
    let second = TensorType::int(second);
    if !(target.compatible(&last) || target.compatible(&second)) {
        return Err(RuleError::at(
            "target",
            format!(
                "labels {target} do not fit logits {logits}: expected {last} (classes last) or {second} (classes in dim 1)"
            ),
        ));
    }
    Ok(scalar(logits.cost_elements()))
}

fn pair_loss(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    let b_float = TensorType::float(b.dims.clone());
    if !a.compatible(&b_float) {
        return Err(RuleError::at(
            "target",
            format!("prediction {a} and target {b} must have the same shape"),
        ));
    }
    Ok(scalar(a.cost_elements()))
}

fn kl_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let mu = ctx.input(0)?;
    let lv = ctx.input(1)?;
    if !mu.compatible(lv) {
        return Err(RuleError::at(
            "logvar",
            format!("mu is {mu} but logvar is {lv}: they must match"),
        ));
    }
    Ok(scalar(mu.cost_elements()))
}

const PAIR: &[PortDef] = &[port("input"), any_port("target")];

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "cross_entropy",
        name: "Cross-entropy",
        category: Category::Loss,
        doc: "Softmax cross-entropy of logits against integer labels (classes in dim 1 or last).",
        paper: "",
        params: &[float(
            "label_smoothing",
            0.0,
            0.0,
            0.999,
            "Spread this much probability over all classes",
        )],
        inputs: Ports::Fixed(&[port("input"), int_port("target")]),
        outputs: Ports::Fixed(Y),
        infer: class_loss,
    },
    LayerSpec {
        id: "nll",
        name: "NLL",
        category: Category::Loss,
        doc: "Negative log-likelihood of log-probabilities against integer labels.",
        paper: "",
        params: &[],
        inputs: Ports::Fixed(&[port("input"), int_port("target")]),
        outputs: Ports::Fixed(Y),
        infer: class_loss,
    },
    LayerSpec {
        id: "mse",
        name: "MSE",
        category: Category::Loss,
        doc: "Mean squared error.",
        paper: "",
        params: &[],
        inputs: Ports::Fixed(PAIR),
        outputs: Ports::Fixed(Y),
        infer: pair_loss,
    },
    LayerSpec {
        id: "bce",
        name: "Binary cross-entropy",
        category: Category::Loss,
        doc: "Binary cross-entropy against targets in [0, 1].",
        paper: "",
        params: &[flag(
            "with_logits",
            true,
            "Input is logits (applies the sigmoid inside, stable)",
        )],
        inputs: Ports::Fixed(PAIR),
        outputs: Ports::Fixed(Y),
        infer: pair_loss,
    },
    LayerSpec {
        id: "kl_divergence",
        name: "KL divergence",
        category: Category::Loss,
        doc: "KL(N(μ, σ²) ‖ N(0, I)) per example, averaged (the VAE prior term).",
        paper: "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014",
        params: &[],
        inputs: Ports::Fixed(&[port("mu"), port("logvar")]),
        outputs: Ports::Fixed(Y),
        infer: kl_rule,
    },
];
