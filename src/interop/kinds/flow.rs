//! Invertible layers of normalizing flows. `model.py`'s forward gives what Strata's forward does
//! (the transformed values; the log-determinants are each class's `log_det`).

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
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

    def log_det(self, x):
        positions = x[0, 0].numel()
        return (self.log_scale.sum() * positions).expand(x.shape[0])


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

    def log_det(self, x):
        eye = torch.eye(self.lu.shape[0], device=self.lu.device)
        positions = x[0, 0].numel()
        return ((self.lu * eye).sum() * positions).expand(x.shape[0])


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

fn per_channel_shape(rank: usize, c: usize) -> Vec<i64> {
    let mut v = vec![1, c as i64];
    v.extend(std::iter::repeat_n(1, rank - 2));
    v
}

fn actnorm_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let (c, rank) = (ctx.in_dim(0, 1)?, ctx.in_rank(0)?);
    let shape = per_channel_shape(rank, c);
    let bias = g.param(&format!("{}.bias", ctx.name), &ctx.tensor("bias")?);
    let ls = g.param(&format!("{}.log_scale", ctx.name), &ctx.tensor("log_scale")?);
    let bias = g.reshape(&bias, &shape);
    let ls = g.reshape(&ls, &shape);
    let scale = g.op1("Exp", &[&ls], vec![]);
    let shifted = g.op1("Add", &[&ctx.x(0)?, &bias], vec![]);
    Ok(vec![g.op1("Mul", &[&shifted, &scale], vec![])])
}

fn coupling_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Coupling(net)) = ctx.layer else {
        return Err("its conditioner network is missing".into());
    };
    let p = ctx.p();
    let half = p.text("mask") == "half";
    let flip = p.bool("flip");
    let pick = |kept: bool| if kept != flip { 1.0f32 } else { 0.0 };
    let image = ctx.in_rank(0)? == 4;
    let c = ctx.in_dim(0, 1)?;
    let (mask, dims) = if image {
        let (h, w) = (ctx.in_dim(0, 2)?, ctx.in_dim(0, 3)?);
        let mut m = Vec::with_capacity(c * h * w);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    m.push(pick(if half { ch < c / 2 } else { (x + y) % 2 == 0 }));
                }
            }
        }
        (m, vec![1, c, h, w])
    } else {
        (
            (0..c)
                .map(|i| pick(if half { i < c / 2 } else { i % 2 == 0 }))
                .collect(),
            vec![1, c],
        )
    };
    let free: Vec<f32> = mask.iter().map(|m| 1.0 - m).collect();
    let mask = g.const_f32(&dims, mask);
    let free = g.const_f32(&dims, free);
    let x = ctx.x(0)?;
    let mut h = g.op1("Mul", &[&x, &mask], vec![]);
    let n = if image { net.conv.len() } else { net.dense.len() };
    for i in 0..n {
        h = if image {
            let l = &net.conv[i];
            let wt = NamedTensor::of("w", &l.weight.val());
            let k = wt.dims[2] as i64;
            let w = g.param(&format!("{}.net.{i}.weight", ctx.name), &wt);
            let mut ins = vec![h.clone(), w];
            if let Some(b) = &l.bias {
                ins.push(g.param(&format!("{}.net.{i}.bias", ctx.name), &NamedTensor::of("b", &b.val())));
            }
            let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
            g.op1(
                "Conv",
                &refs,
                vec![
                    ("kernel_shape", Attr::Ints(vec![k, k])),
                    ("pads", Attr::Ints(vec![k / 2; 4])),
                ],
            )
        } else {
            g.linear(&h, &format!("{}.net.{i}", ctx.name), &net.dense[i])
        };
        if i + 1 < n {
            h = g.op1("Relu", &[&h], vec![]);
        }
    }
    let (zero, cc, two_c, axis) = (
        g.const_i64(&[0]),
        g.const_i64(&[c as i64]),
        g.const_i64(&[2 * c as i64]),
        g.const_i64(&[1]),
    );
    let s_raw = g.op1("Slice", &[&h, &zero, &cc, &axis], vec![]);
    let t_raw = g.op1("Slice", &[&h, &cc, &two_c, &axis], vec![]);
    let s_t = g.op1("Tanh", &[&s_raw], vec![]);
    let s = g.op1("Mul", &[&s_t, &free], vec![]);
    let t = g.op1("Mul", &[&t_raw, &free], vec![]);
    let e = g.op1("Exp", &[&s], vec![]);
    let scaled = g.op1("Mul", &[&x, &e], vec![]);
    Ok(vec![g.op1("Add", &[&scaled, &t], vec![])])
}

fn inv_conv_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::InvConv(m)) = ctx.layer else {
        return Err("its 1×1 convolution is missing".into());
    };
    let c = ctx.in_dim(0, 1)?;
    let lu = g.param(&format!("{}.lu", ctx.name), &ctx.tensor("lu")?);
    let eye: Vec<f32> = (0..c * c).map(|k| if k / c == k % c { 1.0 } else { 0.0 }).collect();
    let eye = g.const_f32(&[c, c], eye);
    let perm = NamedTensor::of("p", &m.perm);
    let perm = g.const_f32(&perm.dims, perm.data);
    let sign = NamedTensor::of("s", &m.sign);
    let sign = g.const_f32(&sign.dims, sign.data);
    // W = P · (tril(LU, −1) + I) · (triu(LU, 1) + I · sign · exp(diag LU)).
    let minus_one = g.scalar_i64(-1);
    let one = g.scalar_i64(1);
    let strict_lower = g.op1("Trilu", &[&lu, &minus_one], vec![("upper", Attr::Int(0))]);
    let lower = g.op1("Add", &[&strict_lower, &eye], vec![]);
    let upper = g.op1("Trilu", &[&lu, &one], vec![("upper", Attr::Int(1))]);
    let diag = g.op1("Mul", &[&lu, &eye], vec![]);
    let axes = g.const_i64(&[1]);
    let log_s = g.op1("ReduceSum", &[&diag, &axes], vec![("keepdims", Attr::Int(1))]);
    let s = g.op1("Exp", &[&log_s], vec![]);
    let signed = g.op1("Mul", &[&sign, &s], vec![]);
    let d = g.op1("Mul", &[&eye, &signed], vec![]);
    let ud = g.op1("Add", &[&upper, &d], vec![]);
    let pl = g.op1("MatMul", &[&perm, &lower], vec![]);
    let w = g.op1("MatMul", &[&pl, &ud], vec![]);
    let x = ctx.x(0)?;
    Ok(vec![if ctx.in_rank(0)? == 4 {
        let k = g.reshape(&w, &[c as i64, c as i64, 1, 1]);
        g.op1("Conv", &[&x, &k], vec![("kernel_shape", Attr::Ints(vec![1, 1]))])
    } else {
        let wt = g.op1("Transpose", &[&w], vec![("perm", Attr::Ints(vec![1, 0]))]);
        g.op1("MatMul", &[&x, &wt], vec![])
    }])
}

fn squeeze_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let f = ctx.p().int("factor").max(1);
    let (c, h, w) = (
        ctx.in_dim(0, 1)? as i64,
        ctx.in_dim(0, 2)? as i64,
        ctx.in_dim(0, 3)? as i64,
    );
    let t = g.reshape(&ctx.x(0)?, &[0, c, h / f, f, w / f, f]);
    let t = g.op1("Transpose", &[&t], vec![("perm", Attr::Ints(vec![0, 1, 3, 5, 2, 4]))]);
    Ok(vec![g.reshape(&t, &[0, c * f * f, h / f, w / f])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "affine_coupling",
        torch: Some(coupling),
        onnx: Some(coupling_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "actnorm",
        torch: Some(actnorm),
        onnx: Some(actnorm_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "inv_conv1x1",
        torch: Some(inv_conv),
        onnx: Some(inv_conv_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "space_to_depth",
        torch: Some(squeeze),
        onnx: Some(squeeze_onnx),
        no_onnx: "",
    },
];
