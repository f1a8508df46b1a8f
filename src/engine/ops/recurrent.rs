//! RNN, LSTM and GRU (PyTorch equations and parameter layout: an input and a hidden projection,
//! each with a bias, per layer and direction).

use super::{BuildCtx, Decode, Layer, OpSpec, StepParams, Value, one};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, activation};

/// One direction of one layer.
#[derive(Module, Debug)]
pub struct Cell {
    input: Linear,
    hidden: Linear,
}

/// All layers and directions.
#[derive(Module, Debug)]
pub struct Recurrent {
    cells: Vec<Cell>,
}

impl Recurrent {
    /// Every cell's (input, hidden) projections, layer by layer, forward direction first (for
    /// exporters).
    pub fn cells(&self) -> impl Iterator<Item = (&Linear, &Linear)> {
        self.cells.iter().map(|c| (&c.input, &c.hidden))
    }
}

fn gates(kind: &str) -> usize {
    match kind {
        "lstm" => 4,
        "gru" => 3,
        _ => 1,
    }
}

fn build(ctx: &BuildCtx, kind: &str) -> Result<Option<Layer>, String> {
    let f = ctx.in_dim(0, 2)?;
    let h = ctx.usize("hidden");
    let dirs = if ctx.bool("bidirectional") { 2 } else { 1 };
    let g = gates(kind);
    let mut cells = Vec::new();
    let mut fan_in = f;
    for _ in 0..ctx.usize("layers").max(1) {
        for _ in 0..dirs {
            cells.push(Cell {
                input: LinearConfig::new(fan_in, g * h).init(ctx.device),
                hidden: LinearConfig::new(h, g * h).init(ctx.device),
            });
        }
        fan_in = h * dirs;
    }
    Ok(Some(Layer::Recurrent(Recurrent { cells })))
}

fn rnn_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    build(ctx, "rnn")
}
fn lstm_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    build(ctx, "lstm")
}
fn gru_build(ctx: &BuildCtx) -> Result<Option<Layer>, String> {
    build(ctx, "gru")
}

/// Runs one cell over the sequence `xs` (each `[B, F]`), returning every hidden state.
fn run_cell(cell: &Cell, kind: &str, xs: &[Tensor<2>], h_size: usize) -> Vec<Tensor<2>> {
    let b = xs[0].dims()[0];
    let device = xs[0].device();
    let mut h = Tensor::<2>::zeros([b, h_size], &device);
    let mut c = Tensor::<2>::zeros([b, h_size], &device);
    let mut out = Vec::with_capacity(xs.len());
    for x in xs {
        let gi = cell.input.forward(x.clone());
        let gh = cell.hidden.forward(h.clone());
        h = match kind {
            "lstm" => {
                let z = gi + gh;
                let parts = z.chunk(4, 1);
                let (i, f, g, o) = (&parts[0], &parts[1], &parts[2], &parts[3]);
                c = activation::sigmoid(f.clone()) * c + activation::sigmoid(i.clone()) * activation::tanh(g.clone());
                activation::sigmoid(o.clone()) * activation::tanh(c.clone())
            }
            "gru" => {
                let a = gi.chunk(3, 1);
                let bh = gh.chunk(3, 1);
                let r = activation::sigmoid(a[0].clone() + bh[0].clone());
                let z = activation::sigmoid(a[1].clone() + bh[1].clone());
                let n = activation::tanh(a[2].clone() + r * bh[2].clone());
                (z.clone().neg().add_scalar(1.0)) * n + z * h
            }
            _ => activation::tanh(gi + gh),
        };
        out.push(h.clone());
    }
    out
}

fn forward(p: &StepParams, layer: Option<&Layer>, inputs: Vec<Value>, kind: &str) -> Result<Vec<Value>, String> {
    let Some(Layer::Recurrent(r)) = layer else {
        return Err("recurrent layer missing".into());
    };
    let x = one(inputs)?.f3()?;
    let [b, t, _] = x.dims();
    let h = p.int("hidden").max(1) as usize;
    let dirs = if p.bool("bidirectional") { 2 } else { 1 };
    let mut seq: Vec<Tensor<2>> = (0..t)
        .map(|i| x.clone().narrow(1, i, 1).reshape([b, x.dims()[2]]))
        .collect();
    for layer_cells in r.cells.chunks(dirs) {
        let fwd = run_cell(&layer_cells[0], kind, &seq, h);
        seq = if dirs == 2 {
            let rev: Vec<Tensor<2>> = seq.iter().rev().cloned().collect();
            let mut bwd = run_cell(&layer_cells[1], kind, &rev, h);
            bwd.reverse();
            fwd.into_iter()
                .zip(bwd)
                .map(|(a, c)| Tensor::cat(vec![a, c], 1))
                .collect()
        } else {
            fwd
        };
    }
    let width = h * dirs;
    let stacked: Vec<Tensor<3>> = seq.iter().map(|s| s.clone().reshape([b, 1, width])).collect();
    let last = seq.last().cloned().ok_or("empty sequence")?;
    Ok(vec![Value::F3(Tensor::cat(stacked, 1)), Value::F2(last)])
}

fn rnn_fwd(p: &StepParams, l: Option<&Layer>, i: Vec<Value>) -> Result<Vec<Value>, String> {
    forward(p, l, i, "rnn")
}
fn lstm_fwd(p: &StepParams, l: Option<&Layer>, i: Vec<Value>) -> Result<Vec<Value>, String> {
    forward(p, l, i, "lstm")
}
fn gru_fwd(p: &StepParams, l: Option<&Layer>, i: Vec<Value>) -> Result<Vec<Value>, String> {
    forward(p, l, i, "gru")
}

/// Ops of this family.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: "rnn",
        build: rnn_build,
        forward: rnn_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "lstm",
        build: lstm_build,
        forward: lstm_fwd,
        decode: Decode::Never,
    },
    OpSpec {
        kind: "gru",
        build: gru_build,
        forward: gru_fwd,
        decode: Decode::Never,
    },
];
