//! Invertible layers of normalizing flows: affine coupling (RealNVP, Glow), ActNorm and the
//! invertible 1×1 convolution (Glow), and the squeeze that trades space for channels.
//!
//! Each kind here has an exact inverse and a log-determinant the flow recipe sums; the flow
//! recipe refuses any other kind between its data and its latent ([`invertible`]).

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

/// True for kinds with an exact inverse and a tractable log-determinant.
pub fn invertible(kind: &str) -> bool {
    SPECS.iter().any(|s| s.id == kind)
}

/// Vectors `[B, D]` or images `[B, C, H, W]` with every size known.
fn flow_input(x: &TensorType) -> Result<(), RuleError> {
    if x.rank() != 2 && x.rank() != 4 {
        return Err(RuleError::at(
            "x",
            format!("a flow layer takes vectors [B, D] or images [B, C, H, W] but gets {x}"),
        ));
    }
    for d in &x.dims[1..] {
        known(*d, "x", "every size but the batch")?;
    }
    Ok(())
}

/// Channels (dim 1) and the count of positions each channel has (1 for vectors).
fn channels_and_positions(x: &TensorType) -> Result<(u64, u64), RuleError> {
    let c = known(x.dims[1], "x", "channels")?;
    let hw = if x.rank() == 4 {
        cm(known(x.dims[2], "x", "height")?, known(x.dims[3], "x", "width")?)?
    } else {
        1
    };
    Ok((c, hw))
}

fn coupling_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    flow_input(x)?;
    let (c, hw) = channels_and_positions(x)?;
    let (h, depth) = (ctx.uint("hidden"), ctx.uint("depth").max(1));
    let half = ctx.text("mask") == "half";
    if half && c < 2 {
        return Err(RuleError::at(
            "x",
            format!(
                "the 'half' mask splits {} in two, and {x} has only one",
                if x.rank() == 4 { "channels" } else { "features" }
            ),
        )
        .fix("use the 'alternate' mask", None));
    }
    if x.rank() == 2 && !half && c < 2 {
        return Err(RuleError::at(
            "x",
            format!("a coupling needs at least two features; {x} has one"),
        ));
    }
    // Conditioner: vectors an MLP D → h (→ h)* → 2D; images 3×3 conv C → h, 1×1 convs h → h,
    // 3×3 conv h → 2C (zero at the start, so the coupling starts as the identity).
    let (k_in, k_out) = if x.rank() == 4 { (9, 9) } else { (1, 1) };
    let params = cs(&[
        cm(cm(k_in, c)?, h)?,
        h,
        cm(depth - 1, cm(h, h)? + h)?,
        cm(cm(k_out, h)?, 2 * c)?,
        2 * c,
    ])?;
    let macs = cm(
        hw,
        cs(&[
            cm(cm(k_in, c)?, h)?,
            cm(depth - 1, cm(h, h)?)?,
            cm(cm(k_out, h)?, 2 * c)?,
        ])?,
    )?;
    Ok(Inferred {
        outputs: vec![x.clone()],
        params,
        macs,
    })
}

fn actnorm_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    flow_input(x)?;
    let (c, hw) = channels_and_positions(x)?;
    Ok(Inferred {
        outputs: vec![x.clone()],
        params: 2 * c,
        macs: cm(c, hw)?,
    })
}

fn inv_conv_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    flow_input(x)?;
    let (c, hw) = channels_and_positions(x)?;
    // LU parameters: strictly lower and upper triangles and the diagonal's log-magnitudes
    // (the permutation and the diagonal's signs are fixed).
    Ok(Inferred {
        outputs: vec![x.clone()],
        params: cm(c, c)?,
        macs: cm(cm(c, c)?, hw)?,
    })
}

fn space_to_depth_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    exact_rank(x, "x", 4, "[B, C, H, W]", "Squeeze")?;
    let f = ctx.uint("factor").max(1);
    let (c, h, w) = (
        known(x.dims[1], "x", "channels")?,
        known(x.dims[2], "x", "height")?,
        known(x.dims[3], "x", "width")?,
    );
    if h % f != 0 || w % f != 0 {
        return Err(RuleError::at(
            "x",
            format!("height {h} and width {w} must be multiples of the factor {f}"),
        ));
    }
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![
            x.dims[0],
            Dim::Known(cm(c, f * f)?),
            Dim::Known(h / f),
            Dim::Known(w / f),
        ])],
        params: 0,
        macs: 0,
    })
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "affine_coupling",
        name: "Affine coupling",
        category: Category::Generative,
        doc: "Keeps one part of x and scales and shifts the other by s, t computed from the kept part: y₂ = x₂·exp(tanh s(x₁)) + t(x₁). Exactly invertible; log-determinant Σ tanh s. Vectors use an MLP, images a small conv net whose last layer starts at zero (the identity).",
        paper: "Dinh, Sohl-Dickstein & Bengio, Density Estimation Using Real NVP, ICLR 2017",
        params: &[
            choice(
                "mask",
                "alternate",
                &["alternate", "half"],
                "Which part is kept: alternate (every other feature; a checkerboard on images) or half (the first half of the features or channels)",
            ),
            flag(
                "flip",
                false,
                "Keep the other part (alternate the flag from one coupling to the next)",
            ),
            int("hidden", 64, 1, 4096, "Width of the conditioner network"),
            int("depth", 2, 1, 8, "Hidden layers of the conditioner network"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: coupling_rule,
    },
    LayerSpec {
        id: "actnorm",
        name: "ActNorm",
        category: Category::Generative,
        doc: "A learned scale and shift per channel, set from the first batch so that each channel starts with zero mean and unit variance. Log-determinant: positions × Σ log|scale|.",
        paper: "Kingma & Dhariwal, Glow: Generative Flow with Invertible 1×1 Convolutions, NeurIPS 2018",
        params: &[],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: actnorm_rule,
    },
    LayerSpec {
        id: "inv_conv1x1",
        name: "Invertible 1×1 conv",
        category: Category::Generative,
        doc: "Mixes channels with a learned invertible matrix W = P·L·(U + diag(s)), starting as a random rotation; log-determinant positions × Σ log|s|. On vectors it mixes features.",
        paper: "Kingma & Dhariwal, Glow: Generative Flow with Invertible 1×1 Convolutions, NeurIPS 2018",
        params: &[],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: inv_conv_rule,
    },
    LayerSpec {
        id: "space_to_depth",
        name: "Squeeze (space to depth)",
        category: Category::Generative,
        doc: "Moves each f×f block of pixels into channels: [B, C, H, W] → [B, C·f², H/f, W/f]. Invertible, log-determinant 0 (Glow's squeeze, ONNX SpaceToDepth).",
        paper: "Dinh, Sohl-Dickstein & Bengio, Density Estimation Using Real NVP, ICLR 2017",
        params: &[int("factor", 2, 1, 64, "Block side f")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: space_to_depth_rule,
    },
];
