//! The flow recipe in `train.py`: maximum likelihood through the chain of invertible layers,
//! NLL = ½‖z‖² + (D/2)·log 2π − Σ log|det J| — what `engine::recipes::flow` does, with images
//! dequantised the same way and ActNorm started from the statistics of a first batch.

use super::{TrainCtx, TrainPart, labelled_splits};
use crate::data::Features;
use crate::engine::recipes::setting;

/// The recipe this writes.
pub const ID: &str = "flow";
/// Examples the ActNorm layers are initialised from (as the engine).
const INIT_BATCH: usize = 256;

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let (ex, floats, ints) = labelled_splits(ctx, false)?;
    let arg = ctx
        .inputs
        .iter()
        .find(|i| !i.int && i.source == "dataset")
        .map(|i| i.arg.clone())
        .ok_or("the flow has no float Input with source 'dataset'")?;
    let discrete = ex.data.shape.len() == 3
        && matches!(ex.data.features, Features::U8(_))
        && setting(ctx.project, "dequantize")
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
    let dim: usize = ex.example_dims().iter().product();
    let code = format!(
        r#"# Recipe: flow — maximum likelihood through the chain of invertible layers, as Strata trains it:
# NLL per example = ½‖z‖² + (D/2)·log 2π − Σ log|det J| (D = {dim}; z the 'latent' output, each
# layer's log-determinant from its log_det).{deq} ActNorm layers start from the
# statistics of the first {INIT_BATCH} training examples (unless weights are loaded).
TASK = "likelihood"
DISCRETE, DIM = {discrete}, {dim}
LOG_DETS = []


def data_of(x):
    """Images with 256 levels are dequantised and centred: (k + u)/256 − ½."""
    if DISCRETE:
        return x * (255.0 / 256.0) + torch.rand_like(x) / 256.0 - 0.5
    return x


def prepare(data, device, model, fresh):
    """Every layer with a log-determinant reports it; ActNorm is set from a first batch."""
    for m in model.modules():
        if hasattr(m, "log_det"):
            m.register_forward_hook(lambda mod, inp, out: LOG_DETS.append(mod.log_det(inp[0])))
    if not fresh:
        return

    def start(mod, inp):
        x = inp[0].detach()
        rows = x.transpose(0, 1).reshape(x.shape[1], -1)
        mod.bias.data = -rows.mean(1)
        mod.log_scale.data = -(rows.var(1, unbiased=False) + 1e-6).sqrt().log()

    hooks = [m.register_forward_pre_hook(start) for m in model.modules() if type(m).__name__ == "ActNorm"]
    with torch.no_grad():
        model(**{{"{arg}": data_of(data["x_train"][:{INIT_BATCH}].to(device))}})
    for h in hooks:
        h.remove()
    LOG_DETS.clear()


def loss_of(net, x, y):
    LOG_DETS.clear()
    z = net(**{{"{arg}": data_of(x)}})["latent"]
    log_det = sum(LOG_DETS)
    LOG_DETS.clear()
    nll = 0.5 * z.flatten(1).pow(2).sum(1) + 0.5 * DIM * math.log(2 * math.pi) - log_det
    return nll.mean(), None
"#,
        discrete = if discrete { "True" } else { "False" },
        deq = if discrete {
            "\n# Pixels are dequantised, (k + u)/256 − ½; bits per dimension = NLL / (D·ln 2) + 8."
        } else {
            ""
        },
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
