//! The GAN recipe in `train.py`: the generator (what feeds `fake`) and the discriminator (what
//! feeds `score`) train in turns, each with its own optimizer — the discriminator on real images
//! (towards 1 − smoothing) and detached fakes (towards 0), then the generator through the
//! updated discriminator with the non-saturating loss −log D(G(z)) — what `engine::recipes::gan`
//! does. `model.py` splits the forward pass into `generate` and `discriminate` for it.

use super::{TrainCtx, TrainPart, labelled_splits};
use crate::engine::recipes::text::{float_setting, text_setting};

/// The recipe this writes.
pub const ID: &str = "gan";

/// Writes the recipe's part.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let (_, floats, ints) = labelled_splits(ctx, false)?;
    let mut noise = Vec::new();
    for i in ctx.inputs {
        if i.source != "noise" || i.int {
            return Err(format!(
                "input '{}' feeds the generator: its source must be 'noise' (float)",
                i.arg
            ));
        }
        let rest: Vec<String> = i.dims.iter().skip(1).map(|d| d.unwrap_or(1).to_string()).collect();
        noise.push(format!(
            "\"{}\": torch.randn(n, {}, device=device)",
            i.arg,
            rest.join(", ")
        ));
    }
    if noise.is_empty() {
        return Err("the generator has no Input with source 'noise'".into());
    }
    let (lo, hi) = match text_setting(ctx.project, "pixel_range", "-1..1").as_str() {
        "0..1" => (0.0, 1.0),
        _ => (-1.0, 1.0),
    };
    let code = format!(
        r#"# Recipe: GAN — generator and discriminator in turns, one optimizer each, as Strata trains them:
# the discriminator's real images towards 1 − {smoothing} (label smoothing) and detached fakes
# towards 0, then the generator through the updated discriminator: −log D(G(z)). Real pixels are
# scaled to [{lo}, {hi}]. Under torchrun the gradients of each network are averaged by hand
# (the step calls model.generate / model.discriminate, not DistributedDataParallel's forward).
# Validation reports the discriminator's loss on held-out real images and fresh fakes.
TASK = "adversarial"
SMOOTHING, LO, HI = {smoothing:?}, {lo:?}, {hi:?}
NETS = {{}}


def noise(n, device):
    return {{{noise}}}


def prepare(data, device, model, fresh):
    """The generator's parameters are those its output depends on; the discriminator has the rest."""
    params = list(model.parameters())
    model.eval()  # the probe leaves batch-norm statistics as they are
    fake = model.generate(**noise(2, device))
    used = torch.autograd.grad(fake.sum(), params, allow_unused=True)
    model.train()
    gen = [p for p, g in zip(params, used) if g is not None]
    dis = [p for p, g in zip(params, used) if g is None]
    NETS.update(generator=gen, discriminator=dis,
                opt_g=make_optimizer(gen), opt_d=make_optimizer(dis))


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def real_images(x, like):
    return (LO + x * (HI - LO)).reshape(like.shape)


def descend(loss, net, lr):
    opt = NETS["opt_" + net[0]]
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(NETS[net])
    clip_gradients(NETS[net])
    opt.step()


def train_step(model, x, y, lr):
    z = noise(x.shape[0], x.device)
    fake = model.generate(**z)
    d_loss = bce(model.discriminate(real_images(x, fake)), 1.0 - SMOOTHING) + bce(model.discriminate(fake.detach()), 0.0)
    descend(d_loss, "discriminator", lr)
    g_loss = bce(model.discriminate(model.generate(**z)), 1.0)
    descend(g_loss, "generator", lr)
    return d_loss + g_loss


def loss_of(net, x, y):
    fake = net.generate(**noise(x.shape[0], x.device))
    return bce(net.discriminate(real_images(x, fake)), 1.0 - SMOOTHING) + bce(net.discriminate(fake), 0.0), None
"#,
        smoothing = float_setting(ctx.project, "label_smoothing", 0.1),
        noise = noise.join(", "),
    );
    Ok(TrainPart {
        code,
        floats,
        ints,
        own_loop: false,
    })
}
