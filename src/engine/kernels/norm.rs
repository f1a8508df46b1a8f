//! Group normalisation with a per-channel scale and shift (`[B, C, …]`, `f32`): each group's mean
//! and variance in one pass over its contiguous run of values, and a backward pass that gives
//! the input, scale and shift gradients together. Burn's `GroupNorm` is a chain of six tensor
//! operations (mean, subtract, square, mean, divide, scale and shift), each with its own
//! backward pass: 4.0 ms for one [32, 16, 28, 28] map forward and backward (docs/performance.md).

use rayon::prelude::*;

/// The layout of one group normalisation: `b` examples of `c` channels of `s` values each, in
/// `groups` groups of `c / groups` channels.
#[derive(Clone, Copy, Debug)]
pub struct Groups {
    /// Examples.
    pub b: usize,
    /// Channels.
    pub c: usize,
    /// Values per channel (the product of the spatial dimensions).
    pub s: usize,
    /// Groups (divides `c`).
    pub groups: usize,
    /// Added to the variance.
    pub eps: f32,
}

impl Groups {
    /// Channels per group.
    fn per(&self) -> usize {
        self.c / self.groups.max(1)
    }

    /// Values per group.
    fn len(&self) -> usize {
        self.per() * self.s
    }
}

/// Mean and `1/√(var + eps)` of one group's values (two passes: the variance of the centred
/// values, as Burn computes it).
fn stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len().max(1) as f32;
    let mean = super::math::sum(x) / n;
    let var = super::math::sum_sq_dev(x, mean) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `(x − mean)/σ · γ_c + β_c` for every group.
pub fn forward(g: &Groups, x: &[f32], gamma: &[f32], beta: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    let (per, s) = (g.per(), g.s);
    out.par_chunks_mut(g.len())
        .zip(x.par_chunks(g.len()))
        .enumerate()
        .for_each(|(i, (out, x))| {
            let (mean, rstd) = stats(x, g.eps);
            let first = (i % g.groups.max(1)) * per;
            for (j, (out, x)) in out.chunks_mut(s).zip(x.chunks(s)).enumerate() {
                let (scale, shift) = (
                    gamma[first + j] * rstd,
                    beta[first + j] - mean * rstd * gamma[first + j],
                );
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = v * scale + shift;
                }
            }
        });
    out
}

/// The gradients for the input, the scale `γ` and the shift `β` from the input and the output
/// gradient `dy`: with `x̂` the normalised input and `d = dy·γ`,
/// `dx = (d − mean(d) − x̂·mean(d·x̂))/σ` per group, `dγ = Σ dy·x̂`, `dβ = Σ dy` per channel.
pub fn backward(g: &Groups, x: &[f32], gamma: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0; x.len()];
    let (per, s) = (g.per(), g.s);
    // Each group's share of dγ and dβ (its channels), added up in order afterwards: the same
    // result on every run.
    let parts: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(g.len())
        .zip(x.par_chunks(g.len()).zip(dy.par_chunks(g.len())))
        .enumerate()
        .map(|(i, (dx, (x, dy)))| {
            let (mean, rstd) = stats(x, g.eps);
            let first = (i % g.groups.max(1)) * per;
            let (mut dgamma, mut dbeta) = (vec![0.0; per], vec![0.0; per]);
            let (mut sum_d, mut sum_dx) = (0.0f32, 0.0f32);
            for (j, (x, dy)) in x.chunks(s).zip(dy.chunks(s)).enumerate() {
                let gam = gamma[first + j];
                let dot = super::math::dot_centred(dy, x, mean) * rstd;
                let total = super::math::sum(dy);
                dgamma[j] = dot;
                dbeta[j] = total;
                sum_d += total * gam;
                sum_dx += dot * gam;
            }
            let n = g.len().max(1) as f32;
            let (mean_d, mean_dx) = (sum_d / n, sum_dx / n);
            for (j, (dx, (x, dy))) in dx.chunks_mut(s).zip(x.chunks(s).zip(dy.chunks(s))).enumerate() {
                let gam = gamma[first + j];
                for ((o, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                    let xh = (x - mean) * rstd;
                    *o = (dy * gam - mean_d - xh * mean_dx) * rstd;
                }
            }
            (dgamma, dbeta)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0.0; g.c], vec![0.0; g.c]);
    for (i, (dg, db)) in parts.into_iter().enumerate() {
        let first = (i % g.groups.max(1)) * per;
        for j in 0..per {
            dgamma[first + j] += dg[j];
            dbeta[first + j] += db[j];
        }
    }
    (dx, dgamma, dbeta)
}
