//! Mixture of experts: a router sends each token to its top-k expert MLPs, each expert takes at
//! most its capacity (the rest of its tokens pass it by), and only the routed tokens run through
//! each expert. The layer leaves two things for the recipe beside its output: the Switch
//! Transformer's load-balancing loss (added to the training loss) and each expert's share of
//! the tokens (the expert-load view). An expert is a built-in MLP or a copy of a block of the
//! project (compiled with [`compile_block`]).

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one};
use crate::engine::model::{GraphModel, compile_block};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData, activation};
use std::cell::RefCell;
use std::collections::HashMap;

/// What the layers of one forward pass leave besides their outputs (this thread).
#[derive(Default)]
struct Side {
    aux: Vec<Tensor<1>>,
    loads: Vec<Vec<f32>>,
}

thread_local! {
    static SIDE: RefCell<Side> = RefCell::new(Side::default());
}

/// Starts a forward pass: forgets what earlier passes left.
pub fn begin_pass() {
    SIDE.with(|s| *s.borrow_mut() = Side::default());
}

/// Ends a forward pass: the sum of its auxiliary losses (none: `None`) and the token share of
/// every expert of every mixture-of-experts layer, in run order.
pub fn end_pass() -> (Option<Tensor<1>>, Vec<Vec<f32>>) {
    let side = SIDE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let aux = side.aux.into_iter().reduce(|a, b| a + b);
    (aux, side.loads)
}

/// A mixture of experts and its router. The experts are built-in MLPs (`up`, `down`) or, when
/// the node names a block, one compiled copy of that block each (`blocks`).
#[derive(Module, Debug)]
pub struct Moe {
    router: Linear,
    up: Vec<Linear>,
    down: Vec<Linear>,
    blocks: Vec<GraphModel>,
}

impl Moe {
    /// The router, the built-in experts' up and down projections, and the block experts (for
    /// exporters).
    pub fn parts(&self) -> (&Linear, &[Linear], &[Linear], &[GraphModel]) {
        (&self.router, &self.up, &self.down, &self.blocks)
    }

    fn experts(&self) -> usize {
        self.up.len().max(self.blocks.len())
    }
}

fn moe_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    let d = ctx.in_dim(0, usize::MAX)?;
    let (e, h) = (ctx.usize("experts").max(1), ctx.usize("hidden"));
    let block = ctx.text("expert");
    let router = LinearConfig::new(d, e).with_bias(false).init(ctx.device);
    if !block.trim().is_empty() {
        let blocks = (0..e)
            .map(|_| compile_block(ctx.project, block.trim(), d, ctx.device))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(Layer::Moe(Moe {
            router,
            up: Vec::new(),
            down: Vec::new(),
            blocks,
        })));
    }
    Ok(Some(Layer::Moe(Moe {
        router,
        up: (0..e).map(|_| LinearConfig::new(d, h).init(ctx.device)).collect(),
        down: (0..e).map(|_| LinearConfig::new(h, d).init(ctx.device)).collect(),
        blocks: Vec::new(),
    })))
}

/// Expert `e` of `m` on its tokens `x` (`[n, D]`).
fn expert(m: &Moe, e: usize, act: &str, x: Tensor<2>) -> Result<Tensor<2>, String> {
    if let Some(block) = m.blocks.get(e) {
        let feed = HashMap::from([("x".to_owned(), Value::F2(x))]);
        let out = block
            .run_inside(None, &feed, &HashMap::new(), false, None)
            .map_err(|err| format!("expert {}: {err}", e + 1))?;
        return out
            .outputs
            .get("prediction")
            .cloned()
            .ok_or_else(|| format!("expert {} returned nothing", e + 1))?
            .f2();
    }
    let (Some(up), Some(down)) = (m.up.get(e), m.down.get(e)) else {
        return Err(format!("expert {} missing", e + 1));
    };
    let hdn = up.forward(x);
    let hdn = match act {
        "relu" => activation::relu(hdn),
        "silu" => activation::silu(hdn),
        _ => crate::engine::kernels::gelu(hdn),
    };
    Ok(down.forward(hdn))
}

/// Which (token, expert) pairs are kept: each token's top-k experts by router probability, in
/// token order, until an expert has `capacity` tokens (0: no limit). `probs` is `[rows, E]`.
pub fn route(probs: &[f32], rows: usize, experts: usize, k: usize, capacity: usize) -> Vec<Vec<usize>> {
    let mut taken: Vec<Vec<usize>> = vec![Vec::new(); experts];
    for r in 0..rows {
        let p = &probs[r * experts..(r + 1) * experts];
        let mut order: Vec<usize> = (0..experts).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        for &e in order.iter().take(k) {
            if capacity == 0 || taken[e].len() < capacity {
                taken[e].push(r);
            }
        }
    }
    taken
}

fn moe_fwd(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>) -> Result<Vec<Value>, String> {
    let Some(Layer::Moe(m)) = layer else {
        return Err("mixture of experts missing".into());
    };
    let x = one(inputs)?;
    let dims = x.dims();
    let d = *dims.last().ok_or("empty input")?;
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let flat = x.reshape(&[rows, d])?.f2()?;
    let device = flat.device();
    let experts = m.experts();
    let probs = crate::engine::kernels::softmax(m.router.forward(flat.clone()), 1); // [rows, E]
    let k = (p.int("top_k").max(1) as usize).min(experts);
    // Capacity is a training-time limit (it keeps experts' batches even); inference routes
    // every token to its top-k, so a token's output does not depend on the others in the batch.
    let training = m.router.weight.val().is_require_grad();
    let factor = p.float("capacity_factor");
    let capacity = if factor <= 0.0 || !training {
        0
    } else {
        ((factor * (rows * k) as f64 / experts as f64).ceil() as usize).max(1)
    };
    // Routing is a decision on the host (one read of the router's probabilities).
    let host: Vec<f32> = probs.clone().detach().into_data().iter::<f32>().collect();
    let taken = route(&host, rows, experts, k, capacity);
    // Each token's kept weights, renormalised over the experts that took it.
    let mut keep = vec![0f32; rows * experts];
    for (e, toks) in taken.iter().enumerate() {
        for &r in toks {
            keep[r * experts + e] = 1.0;
        }
    }
    let keep_t = Tensor::<2>::from_data(TensorData::new(keep, [rows, experts]), &device);
    let w = probs.clone() * keep_t;
    let w = w.clone() / w.sum_dim(1).clamp_min(1e-9);
    let act = p.text("activation");
    let mut out = Tensor::<2>::zeros([rows, d], &device);
    for (e, toks) in taken.iter().enumerate() {
        if toks.is_empty() {
            continue;
        }
        let idx: Vec<i64> = toks.iter().map(|&r| r as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [toks.len()]), &device);
        let xe = flat.clone().select(0, idx.clone());
        let ye = expert(m, e, &act, xe)?;
        let we = w.clone().select(0, idx.clone()).narrow(1, e, 1);
        out = out.select_assign(0, idx, ye * we, IndexingUpdateOp::Add);
    }
    // Switch Transformer's balance loss: E · Σ_e (share of routed tokens) · (mean probability).
    let share: Vec<f32> = taken
        .iter()
        .map(|t| t.len() as f32 / (rows * k).max(1) as f32)
        .collect();
    let balance = p.float("balance");
    if balance > 0.0 {
        let f = Tensor::<1>::from_data(TensorData::new(share.clone(), [experts]), &device);
        let mean_p = probs.mean_dim(0).reshape([experts]);
        let aux = (f * mean_p).sum().mul_scalar(balance * experts as f64).reshape([1]);
        SIDE.with(|s| s.borrow_mut().aux.push(aux));
    }
    SIDE.with(|s| s.borrow_mut().loads.push(share));
    Ok(vec![Value::F2(out).reshape(&dims)?])
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[OpSpec {
    kind: "moe",
    build: moe_build,
    forward: moe_fwd,
    decode: Decode::Alone,
}];
