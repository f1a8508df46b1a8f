//! One file per catalog family: what each kind becomes in each export format.

mod attention;
mod conv;
mod dense;
mod embedding;
mod flow;
mod generative;
mod graph_nn;
mod io;
mod loss;
mod mixers;
mod norm;
mod recurrent;
mod shape;

use super::ExportSpec;
use super::torch::TorchCtx;
use crate::catalog::Dim;

/// Every family's entries.
pub const FAMILIES: &[&[ExportSpec]] = &[
    io::EXPORTS,
    dense::EXPORTS,
    conv::EXPORTS,
    norm::EXPORTS,
    shape::EXPORTS,
    embedding::EXPORTS,
    attention::EXPORTS,
    generative::EXPORTS,
    loss::EXPORTS,
    recurrent::EXPORTS,
    graph_nn::EXPORTS,
    flow::EXPORTS,
    mixers::EXPORTS,
];

/// Every helper an exporter may add to `model.py`: their names are never used for local values.
pub const HELPERS: &[&super::torch::Helper] = &[
    &shape::BROADCAST,
    &shape::CROP,
    &embedding::SINUSOID,
    &embedding::RELATIVE,
    &embedding::TIMESTEP,
    &attention::ATTENTION,
    &attention::ADDITIVE,
    &attention::MOE,
    &recurrent::SEQ_AND_LAST,
    &graph_nn::GRAPH,
    &flow::FLOW,
    &mixers::MIXERS,
];

/// A float as Python writes it (`1e-05`, `0.1`, `2.0`).
pub fn py_float(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v:?}")
    }
}

/// A dim index as Python sees it for an input of rank `rank` (negative counts from the end).
pub fn axis(d: i64, rank: usize) -> i64 {
    if d < 0 { d + rank as i64 } else { d }
}

/// A shape tuple for output `out` of the node, sizes the checker knows written as numbers, a
/// symbolic size taken from the input dim with the same symbol (`x.shape[0]` for the batch),
/// and at most one `-1`.
pub fn shape_expr(ctx: &TorchCtx, x: &str, out: usize) -> Result<String, String> {
    let t = ctx.out_type(out)?;
    let inp = ctx.in_type(0)?;
    let mut parts = Vec::new();
    let mut free = false;
    for d in &t.dims {
        match *d {
            Dim::Known(n) => parts.push(n.to_string()),
            Dim::Sym { sym, mul, add } => {
                let same = inp.dims.iter().position(|e| *e == Dim::Sym { sym, mul, add });
                match same {
                    Some(j) => parts.push(format!("{x}.shape[{j}]")),
                    None => {
                        let base = inp
                            .dims
                            .iter()
                            .position(|e| matches!(*e, Dim::Sym { sym: s, mul: 1, add: 0 } if s == sym));
                        match base {
                            Some(j) => {
                                let mut e = format!("{x}.shape[{j}]");
                                if mul != 1 {
                                    e = format!("{mul} * {e}");
                                }
                                if add != 0 {
                                    e = format!("{e} + {add}");
                                }
                                parts.push(e);
                            }
                            None if !free => {
                                free = true;
                                parts.push("-1".into());
                            }
                            None => return Err(format!("cannot write the shape {t} in PyTorch")),
                        }
                    }
                }
            }
            Dim::Any if !free => {
                free = true;
                parts.push("-1".into());
            }
            Dim::Any => return Err(format!("cannot write the shape {t} in PyTorch")),
        }
    }
    Ok(format!("({},)", parts.join(", ")).replace(",,)", ",)"))
}
