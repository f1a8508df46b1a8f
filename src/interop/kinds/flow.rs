//! Invertible layers of normalizing flows. `model.py`'s forward gives what Strata's forward does
//! (the transformed values; the log-determinants are each class's `log_det`).

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::torch::{Helper, TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

/// The flow layers' PyTorch classes.
pub static FLOW: Helper = Helper {
    name: "AffineCoupling",
    code: r#"
class AffineCoupling(nn.Module):
    """Real NVP's affine coupling: the kept part passes, the other is scaled and shifted by
    s, t computed from it (tanh-bounded scales). Vectors use an MLP, images a small conv net."""

    def __init__(self, c, hidden, depth, image, half=False, flip=False):
        super().__init__()
        if image:
            layers = [nn.Conv2d(c, hidden, 3, padding=1)] + [nn.Conv2d(hidden, hidden, 1) for _ in range(depth - 1)]
            layers.append(nn.Conv2d(hidden, 2 * c, 3, padding=1))
        else:
            layers = [nn.Linear(c, hidden)] + [nn.Linear(hidden, hidden) for _ in range(depth - 1)]
            layers.append(nn.Linear(hidden, 2 * c))
        self.net = nn.ModuleList(layers)
        self.half, self.flip = half, flip

    def mask(self, x):
        if x.dim() == 2:
            i = torch.arange(x.shape[1], device=x.device)
            kept = i < x.shape[1] // 2 if self.half else i % 2 == 0
            return (kept != self.flip).float()[None]
        c, h, w = x.shape[1:]
        if self.half:
            kept = (torch.arange(c, device=x.device) < c // 2)[:, None, None].expand(c, h, w)
        else:
            yy, xx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
            kept = ((yy + xx) % 2 == 0)[None].expand(c, h, w)
        return (kept != self.flip).float()[None]

    def scale_shift(self, x):
        m = self.mask(x)
        h = x * m
        for i, layer in enumerate(self.net):
            h = layer(h)
            if i + 1 < len(self.net):
                h = torch.relu(h)
        c = h.shape[1] // 2
        return torch.tanh(h[:, :c]) * (1 - m), h[:, c:] * (1 - m)

    def forward(self, x):
        s, t = self.scale_shift(x)
        return x * torch.exp(s) + t

    def log_det(self, x):
        return self.scale_shift(x)[0].flatten(1).sum(1)


class ActNorm(nn.Module):
    """Glow's per-channel affine map (x + bias) · exp(log_scale)."""

    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c))
        self.log_scale = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x + self.bias.reshape(shape)) * torch.exp(self.log_scale.reshape(shape))


class InvConv1x1(nn.Module):
    """Glow's invertible 1×1 convolution, LU-parametrised: W = P · L · (U + sign · exp(log s))."""

    def __init__(self, c):
        super().__init__()
        self.lu = nn.Parameter(torch.zeros(c, c))
        self.register_buffer("perm", torch.eye(c))
        self.register_buffer("sign", torch.ones(c, 1))

    def weight(self):
        c = self.lu.shape[0]
        eye = torch.eye(c, device=self.lu.device)
        lower = torch.tril(self.lu, -1) + eye
        upper = torch.triu(self.lu, 1)
        log_s = (self.lu * eye).sum(1, keepdim=True)
        return self.perm @ lower @ (upper + eye * (self.sign * torch.exp(log_s)))

    def forward(self, x):
        w = self.weight()
        if x.dim() == 2:
            return x @ w.T
        return torch.einsum("bchw,dc->bdhw", x, w)


def space_to_depth(x, f):
    """Glow's squeeze: every f×f block of pixels becomes f·f channels."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // f, f, w // f, f).permute(0, 1, 3, 5, 2, 4).reshape(b, c * f * f, h // f, w // f)"#,
};

fn coupling(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let p = ctx.p();
    let image = ctx.in_rank(0)? == 4;
    let c = ctx.in_dim(0, 1)?;
    let depth = p.int("depth").max(1) as usize;
    let part = if image { "conv" } else { "dense" };
    let mut w = Vec::new();
    for i in 0..=depth {
        let weight = ctx.tensor(&format!("{part}.{i}.weight"))?;
        w.push(if image { weight } else { weight.transposed() }.named(&format!("net.{i}.weight")));
        w.push(ctx.tensor(&format!("{part}.{i}.bias"))?.named(&format!("net.{i}.bias")));
    }
    let flag = |b: bool| if b { "True" } else { "False" };
    Ok(TorchNode::module(
        format!(
            "AffineCoupling({c}, {}, {depth}, image={}, half={}, flip={})",
            p.int("hidden").max(1),
            flag(image),
            flag(p.text("mask") == "half"),
            flag(p.bool("flip"))
        ),
        format!("{}({})", ctx.module, ctx.x(0)?),
        w,
    )
    .with(&FLOW))
}

fn actnorm(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::module(
        format!("ActNorm({})", ctx.in_dim(0, 1)?),
        format!("{}({})", ctx.module, ctx.x(0)?),
        vec![ctx.tensor("bias")?, ctx.tensor("log_scale")?],
    )
    .with(&FLOW))
}

fn inv_conv(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let Some(Layer::InvConv(m)) = ctx.layer else {
        return Err("its 1×1 convolution is missing".into());
    };
    Ok(TorchNode::module(
        format!("InvConv1x1({})", ctx.in_dim(0, 1)?),
        format!("{}({})", ctx.module, ctx.x(0)?),
        vec![
            ctx.tensor("lu")?,
            NamedTensor::of("perm", &m.perm),
            NamedTensor::of("sign", &m.sign),
        ],
    )
    .with(&FLOW))
}

fn squeeze(ctx: &TorchCtx) -> Result<TorchNode, String> {
    Ok(TorchNode::expr(format!(
        "space_to_depth({}, {})",
        ctx.x(0)?,
        ctx.p().int("factor").max(1)
    ))
    .with(&FLOW))
}

/// Why ONNX export leaves these out for now.
const NO_ONNX: &str = "the flow layers are not written as ONNX operators yet";

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "affine_coupling",
        torch: Some(coupling),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "actnorm",
        torch: Some(actnorm),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "inv_conv1x1",
        torch: Some(inv_conv),
        onnx: None,
        no_onnx: NO_ONNX,
    },
    ExportSpec {
        kind: "space_to_depth",
        torch: Some(squeeze),
        onnx: None,
        no_onnx: NO_ONNX,
    },
];
