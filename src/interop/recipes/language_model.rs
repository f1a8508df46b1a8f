//! The language-model recipe in `train.py`: next-token cross-entropy on windows of the text —
//! what `engine::recipes::language_model` does (every window start of the training part is an
//! example; validation windows are spread over the held-out part).

use super::{TrainCtx, TrainPart, int_tensor, token_arg};
use crate::engine::recipes::text;

/// The recipe this writes.
pub const ID: &str = "language_model";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let project = ctx.project;
    let corpus = text::read_corpus(project, ctx.data_dir, ID)
        .and_then(|c| text::tokenize(c, project))
        .map_err(|e| e.to_string())?;
    let context = text::usize_setting(project, "context", 64).max(2);
    let (n, n_train) = (corpus.tokens.len(), corpus.train_end);
    if n_train <= context + 1 || n - n_train <= context + 1 {
        return Err(format!("the text is too short for windows of {context} tokens"));
    }
    let tokens: Vec<i64> = corpus.tokens.iter().map(|&t| t as i64).collect();
    let train: Vec<i64> = (0..(n_train - context - 1) as i64).collect();
    let val: Vec<i64> = (n_train..n - context - 1).step_by(context).map(|s| s as i64).collect();
    let arg = token_arg(ctx)?;
    let int = |name: &str, data: Vec<i64>| int_tensor(name, vec![data.len()], data);
    let ints = vec![
        int("tokens", tokens),
        int("x_train", train.clone()),
        int("y_train", train),
        int("x_val", val.clone()),
        int("y_val", val),
    ];
    let code = format!(
        r#"# Recipe: language model — next-token cross-entropy on windows of {context} tokens of the text
# ({vocab} tokens in its vocabulary), as Strata trains it. An example is a window's start.
TASK = "tokens"
CONTEXT = {context}
TOKENS = None


def prepare(data, device, model, fresh):
    """The whole token stream, kept on the device; examples index into it."""
    global TOKENS
    TOKENS = data["tokens"].to(device)


def window(starts, shift):
    return TOKENS[starts[:, None] + shift + torch.arange(CONTEXT, device=starts.device)[None]]


def inputs_of(x, y):
    return {{"{arg}": window(x, 0)}}


def objective(out, y):
    logits = out["logits"]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), window(y, 1).reshape(-1)), None
"#,
        vocab = corpus.vocab.len(),
    );
    Ok(TrainPart {
        code,
        floats: Vec::new(),
        ints,
        own_loop: false,
    })
}
