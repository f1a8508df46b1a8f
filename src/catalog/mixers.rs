//! Sequence mixers beyond attention and the classic RNNs: Mamba's selective state space,
//! RWKV's time-mix and channel-mix, and Hyena's implicit long convolution. Each maps
//! `[B, T, D]` to `[B, T, D]` and is causal (position t reads positions ≤ t only).

use super::rules::*;
use super::spec::*;

/// The `[B, T, D]` input and its model size.
fn sequence(ctx: &Ctx) -> Result<(super::types::TensorType, u64, u64), RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 3 {
        return Err(RuleError::at("x", format!("expects a sequence [B, T, D] but gets {x}")));
    }
    let d = known(x.dims[2], "x", "model size")?;
    Ok((x.clone(), d, x.dims[1].cost_size()))
}

/// Mamba's low rank of Δ: the setting, or ⌈D / 16⌉.
pub fn mamba_dt_rank(d: u64, setting: u64) -> u64 {
    if setting == 0 { d.div_ceil(16) } else { setting }
}

fn mamba_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (x, d, t) = sequence(ctx)?;
    let e = cm(ctx.uint("expand").max(1), d)?;
    let (n, k) = (ctx.uint("d_state").max(1), ctx.uint("d_conv").max(1));
    let r = mamba_dt_rank(d, ctx.uint("dt_rank"));
    let params = cs(&[
        cm(2 * e, d)?,     // in_proj (x and z)
        cm(e, k)?,         // depthwise conv
        e,                 // its bias
        cm(e, r + 2 * n)?, // x_proj (Δ, B, C)
        cm(r, e)?,         // dt_proj
        e,                 // its bias
        cm(e, n)?,         // A_log
        e,                 // D (skip)
        cm(e, d)?,         // out_proj
    ])?;
    let per = cs(&[cm(3 * e, d)?, cm(e, k)?, cm(e, r + 2 * n)?, cm(r, e)?, cm(3 * e, n)?])?;
    Ok(Inferred {
        outputs: vec![x],
        params,
        macs: t.saturating_mul(per),
    })
}

fn time_mix_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (x, d, t) = sequence(ctx)?;
    Ok(Inferred {
        outputs: vec![x],
        params: cs(&[cm(4 * d, d)?, 5 * d])?,
        macs: t
            .saturating_mul(4 * d * d)
            .saturating_add(t.saturating_mul(t).saturating_mul(d)),
    })
}

fn channel_mix_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (x, d, t) = sequence(ctx)?;
    let h = ctx.uint("hidden").max(1);
    Ok(Inferred {
        outputs: vec![x],
        params: cs(&[cm(2 * d, h)?, cm(d, d)?, 2 * d])?,
        macs: t.saturating_mul(2 * d * h + d * d),
    })
}

/// Positional features the Hyena filter network reads: t/T, then a sine and a cosine per band.
pub const HYENA_BANDS: u64 = 8;
/// Width of the Hyena filter network.
pub fn hyena_features() -> u64 {
    1 + 2 * HYENA_BANDS
}

fn hyena_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    let (x, d, t) = sequence(ctx)?;
    let order = ctx.uint("order").max(1);
    let f = ctx.uint("filter_hidden").max(1);
    let p = hyena_features();
    let lanes = cm(order + 1, d)?;
    let params = cs(&[
        cm(lanes, d)?,
        lanes, // in_proj
        cm(lanes, 3)?,
        lanes, // short depthwise conv
        cm(p, f)?,
        f, // filter FFN
        cm(f, f)?,
        f,
        cm(f, cm(order, d)?)?,
        cm(order, d)?,
        cm(order, d)?, // per-order skip
        cm(d, d)?,
        d, // out_proj
    ])?;
    Ok(Inferred {
        outputs: vec![x],
        params,
        macs: t
            .saturating_mul(cm(lanes, d)?.saturating_add(d * d))
            .saturating_add(t.saturating_mul(t).saturating_mul(order * d)),
    })
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    LayerSpec {
        id: "mamba",
        name: "Mamba",
        category: Category::Recurrent,
        doc: "Selective state-space block: a linear recurrence h_t = exp(Δ_t·A)·h_{t-1} + Δ_t·B_t·x_t, y_t = C_t·h_t + D·x_t whose step Δ and read/write vectors B, C depend on the input, after a short causal convolution, gated by SiLU(z).",
        paper: "Gu & Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces, 2023",
        params: &[
            int("d_state", 16, 1, 1024, "State size N per channel"),
            int("expand", 2, 1, 16, "Inner width E = expand × D"),
            int("d_conv", 4, 1, 64, "Causal convolution width"),
            int("dt_rank", 0, 0, 65536, "Rank of Δ's projection (0: ⌈D / 16⌉)"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: mamba_rule,
    },
    LayerSpec {
        id: "rwkv_time_mix",
        name: "RWKV time-mix",
        category: Category::Recurrent,
        doc: "RWKV's attention replacement: each channel averages past values weighted by exp(k) with a learned exponential decay per channel (and a bonus for the current token), gated by a receptance — trainable in parallel, runnable as an RNN.",
        paper: "Peng et al., RWKV: Reinventing RNNs for the Transformer Era, EMNLP Findings 2023",
        params: &[],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: time_mix_rule,
    },
    LayerSpec {
        id: "rwkv_channel_mix",
        name: "RWKV channel-mix",
        category: Category::Recurrent,
        doc: "RWKV's feed-forward: mixes each token with the previous one, squared-ReLU hidden layer, gated by a receptance.",
        paper: "Peng et al., RWKV: Reinventing RNNs for the Transformer Era, EMNLP Findings 2023",
        params: &[int("hidden", 512, 1, BIG, "Hidden size (RWKV: 4 × D)")],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: channel_mix_rule,
    },
    LayerSpec {
        id: "hyena",
        name: "Hyena",
        category: Category::Recurrent,
        doc: "Hyena operator: projections of the input gate a chain of long causal convolutions whose filters (as long as the sequence) are generated by a small network of the position and windowed by an exponential decay.",
        paper: "Poli et al., Hyena Hierarchy: Towards Larger Convolutional Language Models, ICML 2023",
        params: &[
            int("order", 2, 1, 8, "Gated convolutions in the chain"),
            int("filter_hidden", 32, 1, 4096, "Width of the filter-generating network"),
        ],
        inputs: Ports::Fixed(X),
        outputs: Ports::Fixed(Y),
        infer: hyena_rule,
    },
];
