//! The diffusion recipe in `train.py` (Ho et al. 2020): images scaled to [−1, 1] are noised to a
//! random timestep, x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε, and the denoiser's `noise_pred` learns ε — what
//! `engine::recipes::diffusion` does, with the same ᾱ schedule and classifier-free dropout of
//! the class for class-conditioned graphs.

use super::{TrainCtx, TrainPart, labelled_splits};
use crate::engine::recipes::diffusion::alpha_bar;
use crate::engine::recipes::text::{float_setting, text_setting, usize_setting};
use crate::interop::weights::NamedTensor;

/// The recipe this writes.
pub const ID: &str = "diffusion";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let project = ctx.project;
    let (ex, mut floats, ints) = labelled_splits(ctx, false)?;
    let ab = alpha_bar(
        &text_setting(project, "schedule", "linear"),
        usize_setting(project, "timesteps", 1000).max(2),
        float_setting(project, "beta_start", 1e-4),
        float_setting(project, "beta_end", 0.02),
    );
    floats.push(NamedTensor {
        name: "alpha_bar".into(),
        dims: vec![ab.len()],
        data: ab.iter().map(|&v| v as f32).collect(),
    });
    let find = |source: &str, int: bool| {
        ctx.inputs
            .iter()
            .find(|i| i.source == source && i.int == int)
            .map(|i| i.arg.clone())
    };
    let image = find("dataset", false).ok_or("the denoiser has no float Input with source 'dataset' (x_t)")?;
    let t = match (find("timestep", true), find("timestep", false)) {
        (Some(a), _) => format!("\"{a}\": t"),
        (None, Some(a)) => format!("\"{a}\": t.float()"),
        (None, None) => return Err("the denoiser has no Input with source 'timestep'".into()),
    };
    let class = find("dataset", true)
        .map(|a| format!("\n    feed[\"{a}\"] = torch.where(torch.rand(n, device=x.device) < P_UNCOND, torch.full_like(y, NULL_CLASS), y)"))
        .unwrap_or_default();
    let code = format!(
        r#"# Recipe: diffusion — the 'noise_pred' output learns the noise ε added to an image at a random
# timestep of {steps} (x_t = sqrt(ᾱ_t)·x_0 + sqrt(1 − ᾱ_t)·ε, images scaled to [−1, 1]), mean squared
# error, as Strata trains it.{cond} Sampling (DDIM/DDPM) and the moving average of the weights
# Strata samples with stay in Strata: this script trains and saves the weights themselves.
TASK = "noise"
P_UNCOND, NULL_CLASS = {p_uncond:?}, {null}
ALPHA_BAR = None


def prepare(data, device, model, fresh):
    """ᾱ_t for t = 0..T, the schedule Strata uses."""
    global ALPHA_BAR
    ALPHA_BAR = data["alpha_bar"].to(device)


def loss_of(net, x, y):
    n = x.shape[0]
    t = torch.randint(ALPHA_BAR.shape[0], (n,), device=x.device)
    ab = ALPHA_BAR[t].reshape(n, 1, 1, 1)
    eps = torch.randn_like(x)
    x_t = ab.sqrt() * (x * 2 - 1) + (1 - ab).sqrt() * eps
    feed = {{"{image}": x_t, {t}}}{class}
    pred = net(**feed)["noise_pred"]
    # ε and a learned variance (DiT): ε is the first half, the variance half is not trained.
    return F.mse_loss(pred[:, :x.shape[1]], eps), None
"#,
        steps = ab.len(),
        cond = if class.is_empty() {
            ""
        } else {
            " The class is dropped (replaced by the\n# 'no class' index) with probability P_UNCOND, for guidance without a classifier."
        },
        p_uncond = float_setting(project, "p_uncond", 0.1),
        null = ex.data.classes.len(),
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
