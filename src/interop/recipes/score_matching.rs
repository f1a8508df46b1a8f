//! The score-matching recipe in `train.py` (Song & Ermon 2019): a noise level σ from a geometric
//! ladder per example, x̃ = x + σε, and the network's `noise_pred` learns ε from (x̃, log σ) — what
//! `engine::recipes::score_matching` does.

use super::{TrainCtx, TrainPart, labelled_splits};
use crate::engine::recipes::text::{float_setting, usize_setting};

/// The recipe this writes.
pub const ID: &str = "score_matching";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let project = ctx.project;
    let (_, floats, ints) = labelled_splits(ctx, false)?;
    let find = |source: &str| ctx.inputs.iter().find(|i| i.source == source).map(|i| i.arg.clone());
    let point = find("dataset").ok_or("the score network has no Input with source 'dataset' (the noisy point)")?;
    let level = find("timestep").ok_or("the score network has no Input with source 'timestep' (log σ)")?;
    let (lo, hi) = (
        float_setting(project, "sigma_min", 0.02),
        float_setting(project, "sigma_max", 1.5),
    );
    if !(lo > 0.0 && hi > lo) {
        return Err(format!("sigma_min ({lo}) must be above 0 and below sigma_max ({hi})"));
    }
    let levels = usize_setting(project, "levels", 10).max(2);
    let code = format!(
        r#"# Recipe: score matching — a noise level σ per point from {levels} levels between {hi} and {lo}
# (geometric), the point perturbed x̃ = x + σε, and the 'noise_pred' output learns ε from
# (x̃, log σ): denoising score matching with σ² weighting, as Strata trains it. Annealed
# Langevin sampling stays in Strata.
TASK = "noise"
SIGMAS = torch.tensor([{hi:?} * ({lo:?} / {hi:?}) ** (i / {last}) for i in range({levels})])


def loss_of(net, x, y):
    sigma = SIGMAS.to(x.device)[torch.randint({levels}, (x.shape[0],), device=x.device)][:, None]
    eps = torch.randn_like(x)
    pred = net(**{{"{point}": x + sigma * eps, "{level}": sigma.log()}})["noise_pred"]
    return F.mse_loss(pred, eps), None
"#,
        last = levels - 1,
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
