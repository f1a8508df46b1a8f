//! The masked-language-model recipe in `train.py` (BERT's pre-training): in each window of the
//! text a share of the positions is chosen, 80 % of those become [MASK], 10 % a random token and
//! 10 % stay; cross-entropy at the chosen positions only — what `engine::recipes::masked_lm` does.

use super::{TrainCtx, TrainPart, int_tensor, token_arg};
use crate::engine::recipes::text;

/// The recipe this writes.
pub const ID: &str = "masked_lm";
/// Validation windows, evenly spread over the held-out text (as the engine's evaluation).
const VAL_WINDOWS: usize = 256;

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let project = ctx.project;
    let corpus = text::read_corpus(project, ctx.data_dir, "masked-language-model")
        .and_then(|c| text::tokenize(c, project))
        .map_err(|e| e.to_string())?;
    let context = text::usize_setting(project, "context", 64).max(2);
    let rate = text::float_setting(project, "mask_rate", 0.15).clamp(0.01, 0.9);
    let (n, n_train) = (corpus.tokens.len(), corpus.train_end);
    if n_train <= context || n - n_train <= context {
        return Err(format!("the text is too short for windows of {context} tokens"));
    }
    let arg = token_arg(ctx)?;
    let train: Vec<i64> = (0..(n_train - context) as i64).collect();
    let (lo, hi) = (n_train, n - context);
    let count = VAL_WINDOWS.min(hi - lo).max(1);
    let val: Vec<i64> = (0..count).map(|k| (lo + k * (hi - lo) / count) as i64).collect();
    let tokens: Vec<i64> = corpus.tokens.iter().map(|&t| t as i64).collect();
    let ints = vec![
        int_tensor("tokens", vec![tokens.len()], tokens),
        int_tensor("x_train", vec![train.len()], train.clone()),
        int_tensor("y_train", vec![train.len()], train),
        int_tensor("x_val", vec![val.len()], val.clone()),
        int_tensor("y_val", vec![val.len()], val),
    ];
    let mask_id = corpus.vocab.len();
    let code = format!(
        r#"# Recipe: masked language model — windows of {context} tokens of the text ({mask_id} tokens in its
# vocabulary, [MASK] = {mask_id}); {pct} % of the positions are chosen, 80 % of those become [MASK],
# 10 % a random token, 10 % stay; cross-entropy at the chosen positions, as Strata trains it.
# Validation corrupts each window the same way every time. Accuracy is at the chosen positions.
TASK = "tokens"
CONTEXT, RATE, MASK_ID = {context}, {rate:?}, {mask_id}
TOKENS = None


def prepare(data, device, model, fresh):
    """The whole token stream, kept on the device; examples are window starts."""
    global TOKENS
    TOKENS = data["tokens"].to(device)


def loss_of(net, x, y):
    truth = TOKENS[x[:, None] + torch.arange(CONTEXT, device=x.device)[None]]
    g = None
    if not net.training:
        g = torch.Generator(device=x.device).manual_seed(int(x[0]))
    chosen = torch.rand(truth.shape, generator=g, device=x.device) < RATE
    # At least one position per window.
    pick = torch.randint(CONTEXT, (truth.shape[0],), generator=g, device=x.device)
    none = ~chosen.any(1)
    chosen[none, pick[none]] = True
    u = torch.rand(truth.shape, generator=g, device=x.device)
    noise = torch.randint(MASK_ID, truth.shape, generator=g, device=x.device)
    corrupted = torch.where(chosen & (u < 0.8), torch.full_like(truth, MASK_ID), truth)
    corrupted = torch.where(chosen & (u >= 0.8) & (u < 0.9), noise, corrupted)
    logits = net(**{{"{arg}": corrupted}})["logits"]
    w = chosen.reshape(-1).float()
    flat = truth.reshape(-1)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat, reduction="none")
    right = ((logits.argmax(-1).reshape(-1) == flat).float() * w).sum()
    return (nll * w).sum() / w.sum().clamp_min(1.0), (right, w.sum())
"#,
        pct = (rate * 100.0).round(),
    );
    Ok(TrainPart {
        code,
        floats: Vec::new(),
        ints,
        own_loop: false,
    })
}
