//! Embeddings, positional encodings, tokens and patches.

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

fn embedding_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let ids = ctx.input(0)?;
    let (v, d) = (ctx.uint("num_embeddings"), ctx.uint("dim"));
    let mut dims = ids.dims.clone();
    dims.push(Dim::Known(d));
    let y = TensorType::float(dims);
    let macs = y.cost_elements();
    Ok(Inferred {
        outputs: vec![y, TensorType::float(vec![Dim::Known(v), Dim::Known(d)])],
        params: cm(v, d)?,
        macs,
    })
}

fn tied_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let ids = ctx.input(0)?;
    let table = ctx.input(1)?;
    if table.rank() != 2 {
        return Err(RuleError::at(
            "weight",
            format!("expects an embedding table [V, D] but gets {table}"),
        ));
    }
    let mut dims = ids.dims.clone();
    dims.push(table.dims[1]);
    Ok(Inferred {
        outputs: vec![TensorType::float(dims)],
        params: 0,
        macs: 0,
    })
}

fn seq_input<'a>(ctx: &'a Ctx) -> Result<&'a TensorType, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 3 {
        return Err(RuleError::at("x", format!("expects [B, T, D] but gets {x}")));
    }
    Ok(x)
}

fn sinusoidal_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    Ok(same(seq_input(ctx)?))
}

fn learned_pos_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = seq_input(ctx)?;
    let d = known(x.dims[2], "x", "feature size")?;
    let max = ctx.uint("max_len");
    if let Some(t) = x.dims[1].known()
        && t > max
    {
        return Err(
            RuleError::at("x", format!("sequence length {t} exceeds max_len {max}")).fix(
                format!("set max_len to {t}"),
                Some(FixAction::SetParam {
                    name: "max_len",
                    value: (t as i64).into(),
                }),
            ),
        );
    }
    let mut r = same(x);
    r.params = cm(max, d)?;
    Ok(r)
}

fn timestep_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let t = ctx.input(0)?;
    if t.rank() != 1 {
        return Err(RuleError::at(
            "t",
            format!("expects one timestep per example [B] but gets {t}"),
        ));
    }
    let d = ctx.uint("dim");
    if !d.is_multiple_of(2) {
        return Err(RuleError::new("dim must be even (sine and cosine halves)"));
    }
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![t.dims[0], Dim::Known(d)])],
        params: 0,
        macs: d,
    })
}

fn class_token_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = seq_input(ctx)?;
    let d = known(x.dims[2], "x", "feature size")?;
    let mut t = x.clone();
    t.dims[1] = t.dims[1].plus(Dim::Known(1));
    Ok(Inferred {
        outputs: vec![t],
        params: d,
        macs: 0,
    })
}

fn patch_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 4 {
        return Err(RuleError::at(
            "x",
            format!("Patch embedding expects [B, C, H, W] but gets {x}"),
        ));
    }
    let c = known(x.dims[1], "x", "channel count")?;
    let (p, d) = (ctx.uint("patch"), ctx.uint("dim"));
    let mut n = Dim::Known(1);
    for i in 2..4 {
        let side = x.dims[i].divide(p).ok_or_else(|| {
            RuleError::at(
                "x",
                format!("image size {} is not a multiple of the patch size {p}", x.dims[i]),
            )
        })?;
        n = n.product(side);
    }
    let weights = cm(cm(c, cm(p, p)?)?, d)?;
    let y = TensorType::float(vec![x.dims[0], n, Dim::Known(d)]);
    let macs = weights.saturating_mul(n.cost_size());
    Ok(Inferred {
        outputs: vec![y],
        params: cs(&[weights, d])?,
        macs,
    })
}

fn rel_bias_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = seq_input(ctx)?;
    let h = ctx.uint("heads");
    let t = x.dims[1];
    Ok(Inferred {
        outputs: vec![TensorType::float(vec![Dim::Known(1), Dim::Known(h), t, t])],
        params: cm(ctx.uint("buckets"), h)?,
        macs: 0,
    })
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "embedding",
        name: "Embedding",
        category: Category::Embedding,
        doc: "Looks up a learned vector per integer id; also exposes its table (`weight`) for tied output heads.",
        paper: "Bengio et al., A Neural Probabilistic Language Model, JMLR 2003",
        params: &[
            int("num_embeddings", 1000, 1, BIG, "Vocabulary size"),
            int("dim", 64, 1, BIG, "Vector size"),
        ],
        inputs: Ports::Fixed(&[int_port("ids")]),
        outputs: Ports::Fixed(&[port("y"), port("weight")]),
        infer: embedding_rule,
    },
    LayerSpec {
        id: "tied_embedding",
        name: "Shared embedding lookup",
        category: Category::Embedding,
        doc: "Looks ids up in another Embedding's table (wire its `weight` output): one table shared by encoder and decoder.",
        paper: "Press & Wolf, Using the Output Embedding to Improve Language Models, EACL 2017",
        params: &[],
        inputs: Ports::Fixed(&[int_port("ids"), port("weight")]),
        outputs: Ports::Fixed(Y),
        infer: tied_rule,
    },
    LayerSpec {
        id: "positional_sinusoidal",
        name: "Sinusoidal positions",
        category: Category::Embedding,
        doc: "Adds fixed sine/cosine position codes to [B, T, D].",
        paper: "Vaswani et al., Attention Is All You Need, NeurIPS 2017",
        params: &[choice(
            "layout",
            "1d",
            &["1d", "2d"],
            "1-D sequence or a 2-D grid of patches (DiT)",
        )],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: sinusoidal_rule,
    },
    LayerSpec {
        id: "positional_learned",
        name: "Learned positions",
        category: Category::Embedding,
        doc: "Adds a learned vector per position to [B, T, D] (BERT, GPT-2, ViT).",
        paper: "Gehring et al., Convolutional Sequence to Sequence Learning, ICML 2017",
        params: &[int("max_len", 512, 1, BIG, "Longest sequence")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: learned_pos_rule,
    },
    LayerSpec {
        id: "timestep_embedding",
        name: "Timestep embedding",
        category: Category::Embedding,
        doc: "Sinusoidal code of a diffusion timestep t: [B] → [B, dim].",
        paper: "Ho et al., Denoising Diffusion Probabilistic Models, NeurIPS 2020",
        params: &[int("dim", 128, 2, BIG, "Code size (even)")],
        inputs: Ports::Fixed(&[any_port("t")]),
        outputs: Ports::Fixed(Y),
        infer: timestep_rule,
    },
    LayerSpec {
        id: "class_token",
        name: "Class token",
        category: Category::Embedding,
        doc: "Prepends one learned token to the sequence: [B, T, D] → [B, T+1, D].",
        paper: "Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021",
        params: &[],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: class_token_rule,
    },
    LayerSpec {
        id: "patch_embed",
        name: "Patch embedding",
        category: Category::Embedding,
        doc: "Cuts the image into p×p patches and projects each: [B, C, H, W] → [B, HW/p², dim].",
        paper: "Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021",
        params: &[
            int("patch", 16, 1, 1024, "Patch side"),
            int("dim", 768, 1, BIG, "Token size"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: patch_rule,
    },
    LayerSpec {
        id: "relative_position_bias",
        name: "Relative position bias",
        category: Category::Embedding,
        doc: "Learned attention bias per head from bucketed relative positions (T5): [B, T, D] → [1, H, T, T].",
        paper: "Raffel et al., Exploring the Limits of Transfer Learning (T5), JMLR 2020",
        params: &[
            int("heads", 8, 1, 1024, "Attention heads"),
            int("buckets", 32, 1, 4096, "Relative-position buckets"),
            int("max_distance", 128, 1, BIG, "Distance of the last bucket"),
            flag("bidirectional", true, "Encoder (true) or causal decoder (false)"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: rel_bias_rule,
    },
];
