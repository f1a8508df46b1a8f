//! Attention layers.

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::torch::{Helper, TorchCtx, TorchNode};
use crate::interop::weights::NamedTensor;

pub static ATTENTION: Helper = Helper {
    name: "Attention",
    code: r#"
class Attention(nn.Module):
    """Multi-head attention as Strata computes it: q, k, v and output projections, optional
    cross-attention input kv, causal mask, padding mask (1 = keep) and an additive score bias."""

    def __init__(self, d, d_kv, heads, head_dim, causal=False, bias=True, scaled=True, dropout=0.0, rotary=False):
        super().__init__()
        inner = heads * head_dim
        self.q = nn.Linear(d, inner, bias=bias)
        self.k = nn.Linear(d_kv, inner, bias=bias)
        self.v = nn.Linear(d_kv, inner, bias=bias)
        self.o = nn.Linear(inner, d, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.heads, self.head_dim = heads, head_dim
        self.causal, self.scaled, self.rotary = causal, scaled, rotary

    def forward(self, q, kv=None, mask=None, bias=None):
        kv = q if kv is None else kv
        b, t, _ = q.shape
        s = kv.shape[1]

        def split(x, n):
            return x.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

        qh, kh, vh = split(self.q(q), t), split(self.k(kv), s), split(self.v(kv), s)
        if self.rotary:
            qh, kh = rope(qh), rope(kh)
        scores = qh @ kh.transpose(2, 3)
        if self.scaled:
            scores = scores * (1.0 / math.sqrt(self.head_dim))
        if bias is not None:
            scores = scores + bias
        if self.causal:
            later = torch.ones(t, s, dtype=torch.bool, device=q.device).triu(1)
            scores = scores + later.float() * -1e9
        if mask is not None:
            scores = scores + (1.0 - mask.float().reshape(b, 1, 1, s)) * -1e9
        attn = self.dropout(torch.softmax(scores, dim=3))
        out = (attn @ vh).transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return self.o(out)


def rope(x):
    """Rotary position embedding, "rotate half" layout: x is [B, heads, T, size]."""
    t, d = x.shape[2], x.shape[3]
    half = d // 2
    pos = torch.arange(t, dtype=torch.float64, device=x.device)[:, None]
    j = torch.arange(d, device=x.device) % max(half, 1)
    angle = pos * 10000.0 ** (-2.0 * j.double() / d)
    cos, sin = torch.cos(angle).float(), torch.sin(angle).float()
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=3)
    return x * cos + rotated * sin"#,
};

fn linear_weights(prefix: &str, l: &burn::nn::Linear) -> Vec<NamedTensor> {
    let mut w = vec![NamedTensor::of(&format!("{prefix}.weight"), &l.weight.val()).transposed()];
    if let Some(b) = &l.bias {
        w.push(NamedTensor::of(&format!("{prefix}.bias"), &b.val()));
    }
    w
}

fn mha(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let Some(Layer::Attention(a)) = ctx.layer else {
        return Err("its attention layer is missing".into());
    };
    let p = ctx.p();
    let d = ctx.in_dim(0, 2)?;
    let dkv = if ctx.opt(1).is_some() { ctx.in_dim(1, 2)? } else { d };
    let heads = p.int("heads").max(1) as usize;
    let inner = a.parts().0.weight.val().dims()[1];
    let flag = |n: &str| if p.bool(n) { "True" } else { "False" };
    let ctor = format!(
        "Attention({d}, {dkv}, {heads}, {}, causal={}, bias={}, scaled={}, dropout={}, rotary={})",
        inner / heads,
        flag("causal"),
        flag("bias"),
        flag("scaled"),
        super::py_float(p.float("dropout")),
        flag("rotary"),
    );
    let mut args = vec![ctx.x(0)?];
    for (i, name) in [(1, "kv"), (2, "mask"), (3, "bias")] {
        if let Some(v) = ctx.opt(i) {
            args.push(format!("{name}={v}"));
        }
    }
    let (q, k, v, o) = a.parts();
    let mut w = linear_weights("q", q);
    w.extend(linear_weights("k", k));
    w.extend(linear_weights("v", v));
    w.extend(linear_weights("o", o));
    Ok(TorchNode::module(ctor, format!("{}({})", ctx.module, args.join(", ")), w).with(&ATTENTION))
}

pub static ADDITIVE: Helper = Helper {
    name: "AdditiveAttention",
    code: r#"
class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention: context of the keys for each query (mask: 1 = keep)."""

    def __init__(self, d_query, d_keys, hidden):
        super().__init__()
        self.wq = nn.Linear(d_query, hidden, bias=False)
        self.wk = nn.Linear(d_keys, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def forward(self, query, keys, mask=None):
        scores = self.v(torch.tanh(self.wq(query)[:, :, None, :] + self.wk(keys)[:, None, :, :]))[..., 0]
        if mask is not None:
            scores = scores + (1.0 - mask.float()[:, None, :]) * -1e9
        return torch.softmax(scores, dim=2) @ keys"#,
};

fn additive(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let Some(Layer::Additive(a)) = ctx.layer else {
        return Err("its attention layer is missing".into());
    };
    let (wq, wk, v) = a.parts();
    let mut w = linear_weights("wq", wq);
    w.extend(linear_weights("wk", wk));
    w.extend(linear_weights("v", v));
    let mut args = vec![ctx.x(0)?, ctx.x(1)?];
    if let Some(m) = ctx.opt(2) {
        args.push(format!("mask={m}"));
    }
    Ok(TorchNode::module(
        format!(
            "AdditiveAttention({}, {}, {})",
            ctx.in_dim(0, 2)?,
            ctx.in_dim(1, 2)?,
            ctx.p().int("hidden").max(1)
        ),
        format!("{}({})", ctx.module, args.join(", ")),
        w,
    )
    .with(&ADDITIVE))
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "multi_head_attention",
        torch: Some(mha),
        onnx: None,
        no_onnx: "",
    },
    ExportSpec {
        kind: "additive_attention",
        torch: Some(additive),
        onnx: None,
        no_onnx: "",
    },
];
