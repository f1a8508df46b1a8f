//! Normalisation layers.

use super::rules::*;
use super::spec::*;

fn channels(ctx: &Ctx) -> Result<u64, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 2, "[B, C, ...]")?;
    known(x.dims[1], "x", "channel count")
}

fn batch_norm_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let c = channels(ctx)?;
    let mut r = same(ctx.input(0)?);
    r.params = if ctx.bool("affine") { cm(2, c)? } else { 0 };
    Ok(r)
}

fn group_norm_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let c = channels(ctx)?;
    let g = ctx.uint("groups").max(1);
    if c % g != 0 {
        return Err(RuleError::new(format!(
            "groups ({g}) must divide the channel count ({c})"
        )));
    }
    let mut r = same(ctx.input(0)?);
    r.params = if ctx.bool("affine") { cm(2, c)? } else { 0 };
    Ok(r)
}

fn layer_norm_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 1, "[..., D]")?;
    let d = known(x.dims[x.rank() - 1], "x", "feature size")?;
    let mut r = same(x);
    r.params = match (ctx.bool("affine"), ctx.bool("bias")) {
        (false, _) => 0,
        (true, true) => cm(2, d)?,
        (true, false) => d,
    };
    Ok(r)
}

fn rms_norm_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 1, "[..., D]")?;
    let d = known(x.dims[x.rank() - 1], "x", "feature size")?;
    let mut r = same(x);
    r.params = d;
    Ok(r)
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "batch_norm",
        name: "BatchNorm",
        category: Category::Normalization,
        doc: "Normalises each channel over the batch (and space), then scales and shifts; dim 1 is the channel.",
        paper: "Ioffe & Szegedy, Batch Normalization, ICML 2015",
        params: &[
            float("eps", 1e-5, 0.0, 1.0, "Added to the variance"),
            float("momentum", 0.1, 0.0, 1.0, "Running-statistics update rate"),
            flag("affine", true, "Learn scale and shift"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: batch_norm_rule,
    },
    LayerSpec {
        id: "layer_norm",
        name: "LayerNorm",
        category: Category::Normalization,
        doc: "Normalises over the last dim of each position.",
        paper: "Ba et al., Layer Normalization, 2016",
        params: &[
            float("eps", 1e-5, 0.0, 1.0, "Added to the variance"),
            flag("affine", true, "Learn a scale (and shift)"),
            flag("bias", true, "Learn the shift too"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: layer_norm_rule,
    },
    LayerSpec {
        id: "group_norm",
        name: "GroupNorm",
        category: Category::Normalization,
        doc: "Normalises groups of channels per example (batch-size independent).",
        paper: "Wu & He, Group Normalization, ECCV 2018",
        params: &[
            int("groups", 32, 1, 4096, "Channel groups"),
            float("eps", 1e-5, 0.0, 1.0, "Added to the variance"),
            flag("affine", true, "Learn scale and shift"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: group_norm_rule,
    },
    LayerSpec {
        id: "rms_norm",
        name: "RMSNorm",
        category: Category::Normalization,
        doc: "Scales by the root mean square of the last dim (no centring, no shift).",
        paper: "Zhang & Sennrich, Root Mean Square Layer Normalization, NeurIPS 2019",
        params: &[float("eps", 1e-6, 0.0, 1.0, "Added to the mean square")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: rms_norm_rule,
    },
];
