//! Attention and mixture of experts.

use super::rules::*;
use super::spec::*;
use super::types::Dim;

fn mha_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let q = ctx.input(0)?;
    if q.rank() != 3 {
        return Err(RuleError::at("q", format!("attention expects [B, T, D] but gets {q}")));
    }
    let d = known(q.dims[2], "q", "model size")?;
    let kv = ctx.optional(1).unwrap_or(q);
    if kv.rank() != 3 || !kv.dims[0].compatible(q.dims[0]) {
        return Err(RuleError::at(
            "kv",
            format!("keys/values must be [B, S, D] with the batch of q ({q}) but are {kv}"),
        ));
    }
    let dkv = known(kv.dims[2], "kv", "key/value size")?;
    let h = ctx.uint("heads").max(1);
    let hd = match ctx.uint("head_dim") {
        0 => {
            if d % h != 0 {
                return Err(
                    RuleError::new(format!("the model size {d} must be divisible by heads ({h})"))
                        .fix("set head_dim explicitly or change heads", None),
                );
            }
            d / h
        }
        n => n,
    };
    let (t, s) = (q.dims[1], kv.dims[1]);
    if let Some(mask) = ctx.optional(2)
        && (mask.rank() != 2 || !mask.dims[1].compatible(s))
    {
        return Err(RuleError::at(
            "mask",
            format!("the padding mask must be [B, S] = [B, {s}] but is {mask}"),
        ));
    }
    if let Some(bias) = ctx.optional(3) {
        let ok = bias.rank() == 4
            && bias.dims[1].compatible(Dim::Known(h))
            && bias.dims[2].compatible(t)
            && bias.dims[3].compatible(s);
        if !ok {
            return Err(RuleError::at(
                "bias",
                format!("the attention bias must be [1 or B, {h}, {t}, {s}] but is {bias}"),
            ));
        }
    }
    if ctx.bool("causal") && !t.compatible(s) {
        return Err(RuleError::new(
            "causal masking needs keys as long as the queries (self-attention)",
        ));
    }
    if ctx.bool("rotary") && hd % 2 != 0 {
        return Err(RuleError::new(format!(
            "rotary embeddings rotate pairs of dimensions: the head size ({hd}) must be even"
        ))
        .fix("change heads or head_dim", None));
    }
    let inner = cm(h, hd)?;
    let b = ctx.bool("bias");
    let proj = |fan_in: u64, fan_out: u64| -> Result<u64, RuleError> {
        cs(&[cm(fan_in, fan_out)?, if b { fan_out } else { 0 }])
    };
    let params = cs(&[proj(d, inner)?, proj(dkv, inner)?, proj(dkv, inner)?, proj(inner, d)?])?;
    let (tc, sc) = (t.cost_size(), s.cost_size());
    let macs = tc
        .saturating_mul(2 * d * inner)
        .saturating_add(sc.saturating_mul(2 * dkv * inner))
        .saturating_add(tc.saturating_mul(sc).saturating_mul(2 * inner));
    Ok(Inferred {
        outputs: vec![q.clone()],
        params,
        macs,
    })
}

fn additive_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let q = ctx.input(0)?;
    if q.rank() != 3 {
        return Err(RuleError::at(
            "query",
            format!("expects decoder states [B, T, D] but gets {q}"),
        ));
    }
    let k = ctx.input(1)?;
    if k.rank() != 3 || !k.dims[0].compatible(q.dims[0]) {
        return Err(RuleError::at(
            "keys",
            format!("expects encoder states [B, S, E] with the batch of the query ({q}) but gets {k}"),
        ));
    }
    if let Some(mask) = ctx.optional(2)
        && (mask.rank() != 2 || !mask.dims[1].compatible(k.dims[1]))
    {
        return Err(RuleError::at(
            "mask",
            format!("the padding mask must be [B, S] = [B, {}] but is {mask}", k.dims[1]),
        ));
    }
    let (dq, dk) = (
        known(q.dims[2], "query", "state size")?,
        known(k.dims[2], "keys", "state size")?,
    );
    let a = ctx.uint("hidden");
    let params = cs(&[cm(dq, a)?, cm(dk, a)?, a, a])?;
    let (t, s) = (q.dims[1].cost_size(), k.dims[1].cost_size());
    Ok(Inferred {
        outputs: vec![crate::catalog::types::TensorType::float(vec![
            q.dims[0], q.dims[1], k.dims[2],
        ])],
        params,
        macs: t
            .saturating_mul(dq * a)
            .saturating_add(s.saturating_mul(dk * a))
            .saturating_add(t.saturating_mul(s).saturating_mul(a + dk)),
    })
}

fn moe_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    min_rank(x, "x", 2, "[..., D]")?;
    let d = known(x.dims[x.rank() - 1], "x", "model size")?;
    let (e, k, h) = (ctx.uint("experts"), ctx.uint("top_k"), ctx.uint("hidden"));
    if k > e {
        return Err(
            RuleError::new(format!("top_k ({k}) cannot exceed the number of experts ({e})")).fix(
                format!("set top_k to {e}"),
                Some(FixAction::SetParam {
                    name: "top_k",
                    value: (e as i64).into(),
                }),
            ),
        );
    }
    // Block experts are counted by the shape checker (a copy of the block per expert).
    let block = !ctx.text("expert").is_empty();
    let expert = if block { 0 } else { cs(&[cm(d, h)?, h, cm(h, d)?, d])? };
    let params = cs(&[cm(d, e)?, cm(e, expert)?])?;
    let positions = x.dims[1..x.rank() - 1]
        .iter()
        .fold(1u64, |a, d| a.saturating_mul(d.cost_size()));
    let per_token = if block { 0 } else { k.saturating_mul(2 * d * h) };
    Ok(Inferred {
        outputs: vec![x.clone()],
        params,
        macs: positions.saturating_mul(cm(d, e)?.saturating_add(per_token)),
    })
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "multi_head_attention",
        name: "MultiHeadAttention",
        category: Category::Attention,
        doc: "Scaled dot-product attention over heads: self-attention, or cross-attention when kv is wired; causal and padding masks, optional additive bias.",
        paper: "Vaswani et al., Attention Is All You Need, NeurIPS 2017",
        params: &[
            int("heads", 8, 1, 1024, "Number of heads"),
            int("head_dim", 0, 0, 65536, "Size per head (0 = model size / heads)"),
            flag("causal", false, "Each position attends only to earlier ones (decoders)"),
            flag("bias", true, "Biases in the q, k, v and output projections"),
            flag("scaled", true, "Divide scores by √(head size) (T5 does not)"),
            flag(
                "rotary",
                false,
                "Rotary position embeddings: rotate queries and keys by their positions, so scores depend on relative position (RoFormer, LLaMA)",
            ),
            float("dropout", 0.0, 0.0, 0.999, "Dropout on the attention weights"),
        ],
        inputs: Ports::Fixed(&[
            port("q"),
            opt_port("kv", Accept::Float),
            opt_port("mask", Accept::Int),
            opt_port("bias", Accept::Float),
        ]),
        outputs: Ports::Fixed(Y),
        infer: mha_rule,
    },
    LayerSpec {
        id: "additive_attention",
        name: "AdditiveAttention",
        category: Category::Attention,
        doc: "Bahdanau's attention: each decoder state (query) scores every encoder state (keys) with vᵀ·tanh(W·q + U·k), softmax over the source, and returns the weighted sum of the encoder states (the context). Its weights are the alignment matrix.",
        paper: "Bahdanau, Cho & Bengio, Neural Machine Translation by Jointly Learning to Align and Translate, ICLR 2015",
        params: &[int("hidden", 64, 1, BIG, "Size of the scoring layer")],
        inputs: Ports::Fixed(&[port("query"), port("keys"), opt_port("mask", Accept::Int)]),
        outputs: Ports::Fixed(&[port("context")]),
        infer: additive_rule,
    },
    LayerSpec {
        id: "moe",
        name: "Mixture of experts",
        category: Category::Attention,
        doc: "A router sends each token to its top-k experts (each takes at most its capacity) and mixes their outputs by the router's weights; a load-balancing loss keeps the experts evenly used. Only the routed tokens run through each expert. An expert is a built-in MLP, or any block of the project that maps one token [D] to [D] (each expert its own copy of the block's weights).",
        paper: "Shazeer et al., Outrageously Large Neural Networks, ICLR 2017",
        params: &[
            int("experts", 8, 1, 4096, "Number of expert MLPs"),
            int("top_k", 2, 1, 4096, "Experts per token"),
            int("hidden", 256, 1, BIG, "Hidden size of each expert"),
            choice("activation", "gelu", &["relu", "gelu", "silu"], "Expert non-linearity"),
            block_ref(
                "expert",
                "experts",
                "top_k",
                "A block of this project to use as the expert (one input, one output of the same shape; each expert gets its own weights). Empty: the built-in MLP (hidden, activation)",
            ),
            float(
                "capacity_factor",
                1.25,
                0.0,
                64.0,
                "Each expert takes at most factor × tokens × top_k / experts tokens (the rest pass it by; 0: no limit)",
            ),
            float(
                "balance",
                0.01,
                0.0,
                10.0,
                "Weight of the load-balancing loss added to the training loss (Switch Transformer; 0: none)",
            ),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: moe_rule,
    },
];
