//! The seq2seq recipe in `train.py`: teacher-forced cross-entropy on (source, target) pairs,
//! padding left out — what `engine::recipes::seq2seq` does (the decoder reads the target shifted
//! right behind `<s>`; validation is the first pairs of the held-out part).

use super::{TrainCtx, TrainPart, arg_of, int_tensor};
use crate::catalog::recipes::DataKind;
use crate::data::sequences::{BOS, PAD};
use crate::data::{Features, Target};
use crate::engine::recipes::common::load_data;

/// The recipe this writes.
pub const ID: &str = "seq2seq";
/// Validation pairs (as the engine's evaluation).
const VAL_PAIRS: usize = 500;

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let data =
        load_data(ctx.project, ctx.data_dir, DataKind::Pairs, ID, "sequence pairs").map_err(|e| e.to_string())?;
    let (
        Target::Sequences {
            len: t_len,
            data: targets,
        },
        Features::U8(sources),
    ) = (&data.target, &data.features)
    else {
        return Err(format!("'{}' does not pair sequences", data.name));
    };
    let s_len = data.shape.first().copied().unwrap_or(1);
    let total = data.len();
    let n = data.test_from.unwrap_or(total);
    let val = n..(n + VAL_PAIRS).min(total);
    let rows = |v: &[u8], len: usize, r: std::ops::Range<usize>| -> Vec<i64> {
        v[r.start * len..r.end * len].iter().map(|&t| i64::from(t)).collect()
    };
    let ints = vec![
        int_tensor("x_train", vec![n, s_len], rows(sources, s_len, 0..n)),
        int_tensor("y_train", vec![n, *t_len], rows(targets, *t_len, 0..n)),
        int_tensor("x_val", vec![val.len(), s_len], rows(sources, s_len, val.clone())),
        int_tensor("y_val", vec![val.len(), *t_len], rows(targets, *t_len, val)),
    ];
    let source = arg_of(ctx, "source").ok_or("the graph has no Input bound to 'source'")?;
    let target = arg_of(ctx, "target").ok_or("the graph has no Input bound to 'target'")?;
    let mask = arg_of(ctx, "source_mask")
        .map(|a| format!("\n    feed[\"{a}\"] = (x != PAD).long()"))
        .unwrap_or_default();
    let code = format!(
        r#"# Recipe: seq2seq — teacher-forced cross-entropy of the 'logits' output on the target tokens
# (padding left out), as Strata trains it. Sources are {s_len} tokens, targets {t_len}; the decoder
# reads the target shifted right behind <s>. Accuracy is per target token.
TASK = "tokens"
BOS, PAD = {BOS}, {PAD}


def inputs_of(x, y):
    feed = {{"{source}": x, "{target}": torch.cat([torch.full_like(y[:, :1], BOS), y[:, :-1]], 1)}}{mask}
    return feed


def objective(out, y):
    logits = out["logits"]
    flat = y.reshape(-1)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, reduction="none")
    w = (flat != PAD).float()
    right = ((logits.argmax(-1).reshape(-1) == flat).float() * w).sum()
    return (nll * w).sum() / w.sum().clamp_min(1.0), (right, w.sum())
"#
    );
    Ok(TrainPart {
        code,
        floats: Vec::new(),
        ints,
        own_loop: false,
    })
}
