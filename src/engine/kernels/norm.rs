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
#[inline(always)]
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
            super::math::simd(
                #[inline(always)]
                || {
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
                },
            )
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
            super::math::simd(
                #[inline(always)]
                || {
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
                },
            )
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

/// The layout of one batch normalisation: `b` examples of `c` channels of `s` values each;
/// each channel's statistics run over its `b` runs of `s` values.
#[derive(Clone, Copy, Debug)]
pub struct Channels {
    /// Examples.
    pub b: usize,
    /// Channels.
    pub c: usize,
    /// Values per channel and example (the product of the spatial dimensions).
    pub s: usize,
    /// Added to the variance.
    pub eps: f32,
}

impl Channels {
    /// The runs of channel `ch` in `x`.
    #[inline(always)]
    fn runs<'a>(&self, x: &'a [f32], ch: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (c, s) = (self.c, self.s);
        (0..self.b).map(move |b| &x[(b * c + ch) * s..(b * c + ch + 1) * s])
    }

    /// Values per channel.
    #[inline(always)]
    fn n(&self) -> f32 {
        (self.b * self.s).max(1) as f32
    }

    /// Each channel's mean and (biased) variance.
    fn stats(&self, x: &[f32]) -> Vec<(f32, f32)> {
        (0..self.c)
            .into_par_iter()
            .map(|ch| {
                super::math::simd(
                    #[inline(always)]
                    || {
                        let mean = self.runs(x, ch).map(super::math::sum).sum::<f32>() / self.n();
                        let var = self.runs(x, ch).map(|r| super::math::sum_sq_dev(r, mean)).sum::<f32>() / self.n();
                        (mean, var)
                    },
                )
            })
            .collect()
    }
}

/// Batch normalisation while training: the output `(x − mean_c)/σ_c · γ_c + β_c` and each
/// channel's batch mean and variance (for the running statistics).
pub fn batch_forward(g: &Channels, x: &[f32], gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let stats = g.stats(x);
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(g.s.max(1))
        .zip(x.par_chunks(g.s.max(1)))
        .enumerate()
        .for_each(|(i, (out, x))| {
            super::math::simd(
                #[inline(always)]
                || {
                    let ch = i % g.c.max(1);
                    let (mean, var) = stats[ch];
                    let scale = gamma[ch] / (var + g.eps).sqrt();
                    let shift = beta[ch] - mean * scale;
                    for (o, &v) in out.iter_mut().zip(x) {
                        *o = v * scale + shift;
                    }
                },
            )
        });
    let (mean, var) = stats.into_iter().unzip();
    (out, mean, var)
}

/// Batch normalisation's gradients for the input, `γ` and `β` (statistics recomputed from
/// `x`): with `x̂` the normalised input, `dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))` per
/// channel, `dγ = Σ dy·x̂`, `dβ = Σ dy`.
pub fn batch_backward(g: &Channels, x: &[f32], gamma: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let stats = g.stats(x);
    // Per channel: Σ dy and Σ dy·x̂.
    let sums: Vec<(f32, f32)> = (0..g.c)
        .into_par_iter()
        .map(|ch| {
            super::math::simd(
                #[inline(always)]
                || {
                    let (mean, var) = stats[ch];
                    let rstd = 1.0 / (var + g.eps).sqrt();
                    let total: f32 = g.runs(dy, ch).map(super::math::sum).sum();
                    let dot: f32 = g
                        .runs(dy, ch)
                        .zip(g.runs(x, ch))
                        .map(|(d, x)| super::math::dot_centred(d, x, mean))
                        .sum();
                    (total, dot * rstd)
                },
            )
        })
        .collect();
    let mut dx = vec![0.0; x.len()];
    dx.par_chunks_mut(g.s.max(1))
        .zip(x.par_chunks(g.s.max(1)).zip(dy.par_chunks(g.s.max(1))))
        .enumerate()
        .for_each(|(i, (dx, (x, dy)))| {
            super::math::simd(
                #[inline(always)]
                || {
                    let ch = i % g.c.max(1);
                    let (mean, var) = stats[ch];
                    let rstd = 1.0 / (var + g.eps).sqrt();
                    let (mean_dy, mean_dyx) = (sums[ch].0 / g.n(), sums[ch].1 / g.n());
                    let scale = gamma[ch] * rstd;
                    for ((o, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        let xh = (x - mean) * rstd;
                        *o = scale * (dy - mean_dy - xh * mean_dyx);
                    }
                },
            )
        });
    let (dbeta, dgamma) = sums.into_iter().unzip();
    (dx, dgamma, dbeta)
}
