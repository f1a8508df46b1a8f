//! Parts of generative models: VAE sampling, DiT modulation, patch reassembly.

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

fn reparam_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let mu = ctx.input(0)?;
    let logvar = ctx.input(1)?;
    if !mu.compatible(logvar) {
        return Err(RuleError::at(
            "logvar",
            format!("mu is {mu} but logvar is {logvar}: they must match"),
        ));
    }
    Ok(same(mu))
}

fn per_example(x: &TensorType, c: &TensorType, port: &str) -> Result<(), RuleError> {
    let d = x.dims[x.rank() - 1];
    let ok = c.rank() == 2 && c.dims[0].compatible(x.dims[0]) && c.dims[1].compatible(d);
    if !ok {
        return Err(RuleError::at(
            port,
            format!("expects [B, {d}] to match x = {x} but gets {c}"),
        ));
    }
    Ok(())
}

fn modulate_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 2, "[B, ..., D]")?;
    per_example(x, ctx.input(1)?, "shift")?;
    per_example(x, ctx.input(2)?, "scale")?;
    Ok(same(x))
}

fn gate_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 2, "[B, ..., D]")?;
    per_example(x, ctx.input(1)?, "gate")?;
    Ok(same(x))
}

fn unpatchify_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 3 {
        return Err(RuleError::at(
            "x",
            format!("expects patch tokens [B, N, p·p·C] but gets {x}"),
        ));
    }
    let (p, c) = (ctx.uint("patch"), ctx.uint("channels"));
    let want = cm(cm(p, p)?, c)?;
    let have = known(x.dims[2], "x", "token size")?;
    if have != want {
        return Err(RuleError::at(
            "x",
            format!("token size {have} must equal patch² × channels = {p}²×{c} = {want}"),
        ));
    }
    let n = known(x.dims[1], "x", "number of patches")?;
    let side = (n as f64).sqrt().round() as u64;
    if side * side != n {
        return Err(RuleError::at("x", format!("{n} patches do not form a square grid")));
    }
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![
            x.dims[0],
            Dim::Known(c),
            Dim::Known(side * p),
            Dim::Known(side * p),
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
        id: "reparameterize",
        name: "Reparameterize",
        category: Category::Generative,
        doc: "Samples z = μ + σ·ε with ε ~ N(0, I), differentiably (VAE).",
        paper: "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014",
        params: &[],
        inputs: Ports::Fixed(&[port("mu"), port("logvar")]),
        outputs: Ports::Fixed(Y),
        infer: reparam_rule,
    },
    LayerSpec {
        id: "modulate",
        name: "adaLN modulate",
        category: Category::Generative,
        doc: "Adaptive LayerNorm modulation x·(1 + scale) + shift with per-example shift/scale (DiT).",
        paper: "Peebles & Xie, Scalable Diffusion Models with Transformers, ICCV 2023",
        params: &[],
        inputs: Ports::Fixed(&[port("x"), port("shift"), port("scale")]),
        outputs: Ports::Fixed(Y),
        infer: modulate_rule,
    },
    LayerSpec {
        id: "gate",
        name: "adaLN gate",
        category: Category::Generative,
        doc: "Scales a residual branch by a per-example gate (adaLN-Zero, DiT).",
        paper: "Peebles & Xie, Scalable Diffusion Models with Transformers, ICCV 2023",
        params: &[],
        inputs: Ports::Fixed(&[port("x"), port("gate")]),
        outputs: Ports::Fixed(Y),
        infer: gate_rule,
    },
    LayerSpec {
        id: "unpatchify",
        name: "Unpatchify",
        category: Category::Generative,
        doc: "Reassembles patch tokens [B, N, p·p·C] into an image [B, C, H, W].",
        paper: "Peebles & Xie, Scalable Diffusion Models with Transformers, ICCV 2023",
        params: &[
            int("patch", 2, 1, 1024, "Patch side"),
            int("channels", 4, 1, BIG, "Image channels"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: unpatchify_rule,
    },
];
