//! Recurrent layers (PyTorch conventions: two bias vectors per gate set).

use super::rules::*;
use super::spec::*;
use super::types::{Dim, TensorType};

fn recurrent_rule(ctx: &Ctx, gates: u64) -> Result<Inferred, RuleError> {
    let x = ctx.input(0)?;
    if x.rank() != 3 {
        return Err(RuleError::at("x", format!("expects [B, T, F] but gets {x}")));
    }
    let f = known(x.dims[2], "x", "feature size")?;
    let h = ctx.uint("hidden");
    let layers = ctx.uint("layers").max(1);
    let dirs = if ctx.bool("bidirectional") { 2 } else { 1 };
    let mut params = 0u64;
    let mut fan_in = f;
    let mut macs = 0u64;
    for _ in 0..layers {
        let per_dir = cm(cm(gates, h)?, cs(&[fan_in, h, 2])?)?;
        params = cs(&[params, cm(per_dir, dirs)?])?;
        macs = macs.saturating_add(per_dir.saturating_mul(dirs));
        fan_in = cm(h, dirs)?;
    }
    let out = cm(h, dirs)?;
    Ok(Inferred {
        outputs: vec![
            TensorType::float(vec![x.dims[0], x.dims[1], Dim::Known(out)]),
            TensorType::float(vec![x.dims[0], Dim::Known(out)]),
        ],
        params,
        macs: macs.saturating_mul(x.dims[1].cost_size()),
    })
}

fn rnn_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    recurrent_rule(ctx, 1)
}
fn lstm_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    recurrent_rule(ctx, 4)
}
fn gru_rule(ctx: &Ctx) -> Result<Inferred, RuleError> {
    recurrent_rule(ctx, 3)
}

const OUT: &[PortDef] = &[port("seq"), port("last")];

macro_rules! recurrent {
    ($id:literal, $name:literal, $doc:literal, $paper:literal, $rule:ident) => {
        LayerSpec {
            id: $id,
            name: $name,
            category: Category::Recurrent,
            doc: $doc,
            paper: $paper,
            params: &[
                int("hidden", 128, 1, BIG, "Hidden state size"),
                int("layers", 1, 1, 64, "Stacked layers"),
                flag("bidirectional", false, "Also run right-to-left and concatenate"),
            ],
            inputs: Ports::Fixed(X),
            outputs: Ports::Fixed(OUT),
            infer: $rule,
        }
    };
}

/// The specs of this family.
pub fn specs() -> Vec<LayerSpec> {
    SPECS.to_vec()
}

const SPECS: &[LayerSpec] = &[
    recurrent!(
        "rnn",
        "RNN",
        "Elman recurrent layer with tanh: outputs every step (`seq`) and the last state.",
        "Elman, Finding Structure in Time, Cognitive Science 1990",
        rnn_rule
    ),
    recurrent!(
        "lstm",
        "LSTM",
        "Long short-term memory: gated cell state; outputs every step and the last state.",
        "Hochreiter & Schmidhuber, Long Short-Term Memory, Neural Computation 1997",
        lstm_rule
    ),
    recurrent!(
        "gru",
        "GRU",
        "Gated recurrent unit; outputs every step and the last state.",
        "Cho et al., Learning Phrase Representations using RNN Encoder-Decoder, EMNLP 2014",
        gru_rule
    ),
];
