//! A reference pair for checking an export: seeded inputs and what Strata's model makes of them.

use super::safetensors::IntTensor;
use super::weights::NamedTensor;
use crate::engine::recipes::common::to_value;
use crate::engine::{GraphModel, Value};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashMap;

/// Sizes the reference uses where the graph leaves a size open.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Examples in the batch.
    pub batch: usize,
    /// Any other open size (sequence length, node count).
    pub open: usize,
    /// Integer inputs are drawn from `0..int_range`.
    pub int_range: i64,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            batch: 2,
            open: 8,
            int_range: 2,
        }
    }
}

/// A small seeded generator (xorshift), so references do not depend on Burn's global RNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

/// Runs `model` (no autodiff: dropout off, batch norm on its running statistics) on seeded
/// inputs. Outputs that come out differently in a second run (they draw noise) are left out. `inputs` are (name in the file, dataset field, integer?, checked dims). Returns the
/// inputs and, for each `(name, step)` in `outputs`, that step's output.
pub fn run(
    model: &GraphModel,
    inputs: &[(String, String, bool, Vec<Option<usize>>)],
    outputs: &[(String, usize)],
    sizes: Sizes,
    seed: u64,
    device: &Device,
) -> Result<(Vec<NamedTensor>, Vec<IntTensor>), String> {
    let mut rng = Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut feed: HashMap<String, Value> = HashMap::new();
    let (mut floats, mut ints) = (Vec::new(), Vec::new());
    for (name, field, is_int, dims) in inputs {
        // Sizes from the checked type, so one symbol (E: edges, N: nodes) is one size everywhere.
        let checked = model
            .plan
            .inputs
            .iter()
            .find(|s| s.field == *field)
            .and_then(|s| model.plan.steps[s.step].params.out_types.first().cloned().flatten());
        let symbol = |sym: char| if sym == 'B' { sizes.batch } else { sizes.open };
        let dims: Vec<usize> = match checked {
            Some(t) if t.dims.len() == dims.len() => t
                .dims
                .iter()
                .map(|d| match *d {
                    crate::catalog::Dim::Known(n) => n.max(1) as usize,
                    crate::catalog::Dim::Sym { sym, mul, add } => {
                        (mul as i64 * symbol(sym) as i64 + add).max(1) as usize
                    }
                    crate::catalog::Dim::Any => sizes.open,
                })
                .collect(),
            _ => dims
                .iter()
                .enumerate()
                .map(|(i, d)| d.unwrap_or(if i == 0 { sizes.batch } else { sizes.open }))
                .collect(),
        };
        let n: usize = dims.iter().product();
        if *is_int {
            let data: Vec<i64> = (0..n)
                .map(|_| (rng.next() % sizes.int_range.max(1) as u64) as i64)
                .collect();
            let value = match dims[..] {
                [a] => Value::I1(Tensor::<1, Int>::from_data(TensorData::new(data.clone(), [a]), device)),
                [a, b] => Value::I2(Tensor::<2, Int>::from_data(
                    TensorData::new(data.clone(), [a, b]),
                    device,
                )),
                _ => {
                    return Err(format!(
                        "input {name}: integer inputs of rank {} are not supported",
                        dims.len()
                    ));
                }
            };
            feed.insert(field.clone(), value);
            ints.push(IntTensor {
                name: format!("input.{name}"),
                dims,
                data,
            });
        } else {
            let data: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            feed.insert(field.clone(), to_value(data.clone(), &dims, device));
            floats.push(NamedTensor {
                name: format!("input.{name}"),
                dims,
                data,
            });
        }
    }
    let fwd = model.forward(&feed, false).map_err(|e| e.to_string())?;
    // Outputs that draw noise (a VAE's sample) differ between two runs: they are left out.
    let again = model.forward(&feed, false).map_err(|e| e.to_string())?;
    for (role, step) in outputs {
        let Some((_, _, v)) = fwd.every.iter().find(|(s, ..)| s == step) else {
            continue;
        };
        let data = v
            .to_f32s()
            .ok_or_else(|| format!("output {role} is not a float tensor"))?;
        let same = again
            .every
            .iter()
            .find(|(s, ..)| s == step)
            .and_then(|(_, _, w)| w.to_f32s())
            .is_some_and(|w| w == data);
        if !same {
            continue;
        }
        floats.push(NamedTensor {
            name: format!("output.{role}"),
            dims: v.dims(),
            data,
        });
    }
    Ok((floats, ints))
}
