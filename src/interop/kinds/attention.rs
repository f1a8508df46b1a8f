//! Attention layers.

use crate::engine::ops::Layer;
use crate::interop::ExportSpec;
use crate::interop::onnx::{Attr, OnnxCtx, OnnxGraph};
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

fn mha_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Attention(a)) = ctx.layer else {
        return Err("its attention layer is missing".into());
    };
    let p = ctx.p();
    let rotary = p.bool("rotary");
    let heads = p.int("heads").max(1);
    let (q, k, v, o) = a.parts();
    let inner = q.weight.val().dims()[1] as i64;
    let hd = inner / heads;
    let x = ctx.x(0)?;
    let kv = ctx.opt(1).unwrap_or_else(|| x.clone());
    let n = &ctx.name;
    let qp = g.linear(&x, &format!("{n}.q"), q);
    let kp = g.linear(&kv, &format!("{n}.k"), k);
    let vp = g.linear(&kv, &format!("{n}.v"), v);
    let qh = g.reshape(&qp, &[0, 0, heads, hd]);
    let mut qh = g.op1("Transpose", &[&qh], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let kh = g.reshape(&kp, &[0, 0, heads, hd]);
    let kt = if rotary {
        qh = rope_onnx(g, &qh, hd);
        let kh = g.op1("Transpose", &[&kh], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
        let kh = rope_onnx(g, &kh, hd);
        g.op1("Transpose", &[&kh], vec![("perm", Attr::Ints(vec![0, 1, 3, 2]))])
    } else {
        g.op1("Transpose", &[&kh], vec![("perm", Attr::Ints(vec![0, 2, 3, 1]))])
    };
    let vh = g.reshape(&vp, &[0, 0, heads, hd]);
    let vh = g.op1("Transpose", &[&vh], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let mut scores = g.op1("MatMul", &[&qh, &kt], vec![]);
    if p.bool("scaled") {
        let s = g.scalar(1.0 / (hd as f32).sqrt());
        scores = g.op1("Mul", &[&scores, &s], vec![]);
    }
    if let Some(bias) = ctx.opt(3) {
        scores = g.op1("Add", &[&scores, &bias], vec![]);
    }
    if p.bool("causal") {
        let big = g.scalar(-1e9);
        let ts = g.shape_slice(&scores, 2, 4);
        let one = g.scalar(1.0);
        let ones = g.op1("Expand", &[&one, &ts], vec![]);
        let k1 = g.scalar_i64(1);
        let later = g.op1("Trilu", &[&ones, &k1], vec![("upper", Attr::Int(1))]);
        let m = g.op1("Mul", &[&later, &big], vec![]);
        scores = g.op1("Add", &[&scores, &m], vec![]);
    }
    if let Some(mask) = ctx.opt(2) {
        let keep = g.op1("Cast", &[&mask], vec![("to", Attr::Int(1))]);
        let keep = g.reshape(&keep, &[0, 1, 1, -1]);
        let one = g.scalar(1.0);
        let drop = g.op1("Sub", &[&one, &keep], vec![]);
        let big = g.scalar(-1e9);
        let m = g.op1("Mul", &[&drop, &big], vec![]);
        scores = g.op1("Add", &[&scores, &m], vec![]);
    }
    let attn = g.op1("Softmax", &[&scores], vec![("axis", Attr::Int(3))]);
    let out = g.op1("MatMul", &[&attn, &vh], vec![]);
    let out = g.op1("Transpose", &[&out], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let out = g.reshape(&out, &[0, 0, inner]);
    Ok(vec![g.linear(&out, &format!("{n}.o"), o)])
}

/// Rotary position embedding ("rotate half" layout) of `x` `[B, heads, T, d]`, the angles of
/// positions 0..T computed in the graph (the length may be open).
fn rope_onnx(g: &mut OnnxGraph, x: &str, d: i64) -> String {
    let half = (d / 2).max(1);
    let t = g.shape_slice(x, 2, 3);
    let t = g.op1("Squeeze", &[&t], vec![]);
    let (zero, one) = (g.scalar_i64(0), g.scalar_i64(1));
    let q = g.op1("Range", &[&zero, &t, &one], vec![]);
    let qf = g.op1("Cast", &[&q], vec![("to", Attr::Int(1))]);
    let pos = g.unsqueeze(&qf, &[1]); // [T, 1]
    let freq: Vec<f32> = (0..d)
        .map(|j| 10000f64.powf(-2.0 * (j % half) as f64 / d as f64) as f32)
        .collect();
    let freq = g.const_f32(&[1, d as usize], freq);
    let angle = g.op1("Mul", &[&pos, &freq], vec![]); // [T, d]
    let cos = g.op1("Cos", &[&angle], vec![]);
    let sin = g.op1("Sin", &[&angle], vec![]);
    let (h, end, axis) = (g.const_i64(&[d / 2]), g.const_i64(&[d]), g.const_i64(&[3]));
    let z = g.const_i64(&[0]);
    let upper = g.op1("Slice", &[x, &h, &end, &axis], vec![]);
    let upper = g.op1("Neg", &[&upper], vec![]);
    let lower = g.op1("Slice", &[x, &z, &h, &axis], vec![]);
    let rotated = g.op1("Concat", &[&upper, &lower], vec![("axis", Attr::Int(3))]);
    let a = g.op1("Mul", &[x, &cos], vec![]);
    let b = g.op1("Mul", &[&rotated, &sin], vec![]);
    g.op1("Add", &[&a, &b], vec![])
}

fn additive_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Additive(a)) = ctx.layer else {
        return Err("its attention layer is missing".into());
    };
    let (wq, wk, v) = a.parts();
    let n = &ctx.name;
    let (q, k) = (ctx.x(0)?, ctx.x(1)?);
    let pq = g.linear(&q, &format!("{n}.wq"), wq);
    let pq = g.unsqueeze(&pq, &[2]);
    let pk = g.linear(&k, &format!("{n}.wk"), wk);
    let pk = g.unsqueeze(&pk, &[1]);
    let sum = g.op1("Add", &[&pq, &pk], vec![]);
    let t = g.op1("Tanh", &[&sum], vec![]);
    let s = g.linear(&t, &format!("{n}.v"), v);
    let three = g.const_i64(&[3]);
    let mut scores = g.op1("Squeeze", &[&s, &three], vec![]);
    if let Some(mask) = ctx.opt(2) {
        let keep = g.op1("Cast", &[&mask], vec![("to", Attr::Int(1))]);
        let keep = g.unsqueeze(&keep, &[1]);
        let one = g.scalar(1.0);
        let drop = g.op1("Sub", &[&one, &keep], vec![]);
        let big = g.scalar(-1e9);
        let m = g.op1("Mul", &[&drop, &big], vec![]);
        scores = g.op1("Add", &[&scores, &m], vec![]);
    }
    let w = g.op1("Softmax", &[&scores], vec![("axis", Attr::Int(2))]);
    Ok(vec![g.op1("MatMul", &[&w, &k], vec![])])
}

/// Mixture of experts.
pub static MOE: Helper = Helper {
    name: "MoE",
    code: r#"
class MLPExpert(nn.Module):
    """The built-in expert: Linear, activation, Linear."""

    def __init__(self, d, hidden, activation="gelu"):
        super().__init__()
        self.up, self.down = nn.Linear(d, hidden), nn.Linear(hidden, d)
        self.act = {"relu": F.relu, "silu": F.silu}.get(activation, F.gelu)

    def forward(self, x):
        return {"prediction": self.down(self.act(self.up(x)))}


class MoE(nn.Module):
    """Top-k mixture of experts (Shazeer et al.; Switch Transformer): each token goes to its k
    most probable experts, weighted by their probabilities renormalised over those experts.
    While training, an expert takes at most its capacity of tokens (in token order); the rest
    pass it by. Strata also adds Switch's load-balancing loss while training (not here)."""

    def __init__(self, d, experts, top_k, capacity_factor=0.0):
        super().__init__()
        self.router = nn.Linear(d, len(experts), bias=False)
        self.experts = nn.ModuleList(experts)
        self.top_k, self.capacity_factor = top_k, capacity_factor

    def forward(self, x):
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        rows, e = flat.shape[0], len(self.experts)
        k = min(self.top_k, e)
        probs = torch.softmax(self.router(flat), 1)
        top = probs.topk(k, dim=1).indices
        keep = torch.zeros_like(probs)
        if self.training and self.capacity_factor > 0:
            capacity = max(math.ceil(self.capacity_factor * rows * k / e), 1)
            counts = [0] * e
            for r, choices in enumerate(top.tolist()):
                for j in choices:
                    if counts[j] < capacity:
                        keep[r, j], counts[j] = 1.0, counts[j] + 1
        else:
            keep.scatter_(1, top, 1.0)
        w = probs * keep
        w = w / w.sum(1, keepdim=True).clamp_min(1e-9)
        out = torch.zeros_like(flat)
        for i, expert in enumerate(self.experts):
            idx = keep[:, i].nonzero().flatten()
            if idx.numel():
                out = out.index_add(0, idx, expert(flat[idx])["prediction"] * w[idx, i:i + 1])
        return out.reshape(shape)"#,
};

fn moe(ctx: &TorchCtx) -> Result<TorchNode, String> {
    let Some(Layer::Moe(m)) = ctx.layer else {
        return Err("its experts are missing".into());
    };
    let p = ctx.p();
    let d = ctx.in_dim(0, usize::MAX)?;
    let (router, up, down, blocks) = m.parts();
    let mut w = linear_weights("router", router);
    let mut node = TorchNode::default();
    let experts: Vec<String> = if blocks.is_empty() {
        let act = p.text("activation");
        for (i, (u, dn)) in up.iter().zip(down).enumerate() {
            w.extend(linear_weights(&format!("experts.{i}.up"), u));
            w.extend(linear_weights(&format!("experts.{i}.down"), dn));
        }
        let h = up.first().map(|l| l.weight.val().dims()[1]).unwrap_or(1);
        (0..up.len())
            .map(|_| format!("MLPExpert({d}, {h}, \"{act}\")"))
            .collect()
    } else {
        let block = p.text("expert");
        let mini = crate::engine::block_as_project(ctx.project, block.trim(), d)?;
        let class = format!("{}Expert", crate::interop::torch::class_name(&mini.name));
        for (i, b) in blocks.iter().enumerate() {
            let parts = crate::interop::torch::export_parts(&mini, b, &class)?;
            for t in parts.weights {
                let name = format!("experts.{i}.{}", t.name);
                w.push(t.named(&name));
            }
            for c in parts.classes.into_iter().chain([parts.model_class]) {
                if !node.classes.contains(&c) {
                    node.classes.push(c);
                }
            }
            for h in parts.helpers {
                if !node.helpers.iter().any(|k| k.name == h.name) {
                    node.helpers.push(h);
                }
            }
        }
        (0..blocks.len()).map(|_| format!("{class}()")).collect()
    };
    node.module = Some(format!(
        "MoE({d}, [{}], top_k={}, capacity_factor={})",
        experts.join(", "),
        p.int("top_k").max(1),
        super::py_float(p.float("capacity_factor"))
    ));
    node.expr = format!("{}({})", ctx.module, ctx.x(0)?);
    node.weights = w;
    Ok(node.with(&MOE))
}

/// The mixture as inference runs it (no capacity limit, so a token's output does not depend on
/// the batch): every expert runs on every token and the outputs are summed with the router's
/// top-k probabilities renormalised — exact, at E times the expert work of the routed version.
fn moe_onnx(ctx: &OnnxCtx, g: &mut OnnxGraph) -> Result<Vec<String>, String> {
    let Some(Layer::Moe(m)) = ctx.layer else {
        return Err("its experts are missing".into());
    };
    let (router, up, down, blocks) = m.parts();
    let x = ctx.x(0)?;
    let d = ctx.in_dim(0, usize::MAX)?;
    let experts = up.len().max(blocks.len());
    let k = (ctx.p().int("top_k").max(1) as usize).min(experts);
    let flat = g.reshape(&x, &[-1, d as i64]);
    let logits = g.linear(&flat, &format!("{}.router", ctx.name), router);
    let probs = g.op1("Softmax", &[&logits], vec![("axis", Attr::Int(1))]);
    // Kept: a probability at least the k-th largest of its row.
    let kk = g.const_i64(&[k as i64]);
    let top = g.op("TopK", &[&probs, &kk], 2, vec![("axis", Attr::Int(1))]);
    let (from, to, axis) = (
        g.const_i64(&[k as i64 - 1]),
        g.const_i64(&[k as i64]),
        g.const_i64(&[1]),
    );
    let kth = g.op1("Slice", &[&top[0], &from, &to, &axis], vec![]);
    let kept = g.op1("GreaterOrEqual", &[&probs, &kth], vec![]);
    let keep = g.op1("Cast", &[&kept], vec![("to", Attr::Int(1))]);
    let w = g.op1("Mul", &[&probs, &keep], vec![]);
    let sum = g.op1("ReduceSum", &[&w, &axis], vec![("keepdims", Attr::Int(1))]);
    let tiny = g.scalar(1e-9);
    let sum = g.op1("Max", &[&sum, &tiny], vec![]);
    let w = g.op1("Div", &[&w, &sum], vec![]);
    let act = ctx.p().text("activation");
    let mut total: Option<String> = None;
    for e in 0..experts {
        let name = format!("{}.experts.{e}", ctx.name);
        let y = if let Some(block) = blocks.get(e) {
            let values = crate::interop::onnx::emit(block, g, &format!("{name}/"), &mut |_, _, _| Ok(flat.clone()))?;
            block
                .plan
                .outputs
                .iter()
                .find(|(_, role)| role == "prediction")
                .and_then(|(s, _)| values.get(*s).and_then(|v| v.first()).cloned())
                .ok_or_else(|| format!("expert {} has no 'prediction' output", e + 1))?
        } else {
            let (Some(u), Some(dn)) = (up.get(e), down.get(e)) else {
                return Err(format!("expert {} missing", e + 1));
            };
            let h = g.linear(&flat, &format!("{name}.up"), u);
            let h = match act.as_str() {
                "relu" => g.op1("Relu", &[&h], vec![]),
                "silu" => {
                    let s = g.op1("Sigmoid", &[&h], vec![]);
                    g.op1("Mul", &[&h, &s], vec![])
                }
                _ => {
                    let c = g.scalar(std::f32::consts::FRAC_1_SQRT_2);
                    let u = g.op1("Mul", &[&h, &c], vec![]);
                    let erf = g.op1("Erf", &[&u], vec![]);
                    let one = g.scalar(1.0);
                    let a = g.op1("Add", &[&erf, &one], vec![]);
                    let half = g.scalar(0.5);
                    let hh = g.op1("Mul", &[&h, &half], vec![]);
                    g.op1("Mul", &[&hh, &a], vec![])
                }
            };
            g.linear(&h, &format!("{name}.down"), dn)
        };
        let (a, b) = (g.const_i64(&[e as i64]), g.const_i64(&[e as i64 + 1]));
        let we = g.op1("Slice", &[&w, &a, &b, &axis], vec![]);
        let part = g.op1("Mul", &[&y, &we], vec![]);
        total = Some(match total {
            Some(t) => g.op1("Add", &[&t, &part], vec![]),
            None => part,
        });
    }
    let total = total.ok_or("the mixture has no experts")?;
    let shape = g.op1("Shape", &[&x], vec![]);
    Ok(vec![g.op1("Reshape", &[&total, &shape], vec![])])
}

/// Entries of this family.
pub const EXPORTS: &[ExportSpec] = &[
    ExportSpec {
        kind: "multi_head_attention",
        torch: Some(mha),
        onnx: Some(mha_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "moe",
        torch: Some(moe),
        onnx: Some(moe_onnx),
        no_onnx: "",
    },
    ExportSpec {
        kind: "additive_attention",
        torch: Some(additive),
        onnx: Some(additive_onnx),
        no_onnx: "",
    },
];
