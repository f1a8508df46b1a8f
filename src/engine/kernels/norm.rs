//! Group normalisation with a per-channel scale and shift (`[B, C, …]`, `f32`): each group's mean
//! and variance in one pass over its contiguous run of values, and a backward pass that gives
//! the input, scale and shift gradients together. Burn's `GroupNorm` is a chain of six tensor
//! operations (mean, subtract, square, mean, divide, scale and shift), each with its own
//! backward pass: 4.0 ms for one [32, 16, 28, 28] map forward and backward (docs/performance.md).

use rayon::prelude::*;
use std::mem::MaybeUninit;

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
    /// Channel `ch`'s run of `s` values in example `b` of `x`.
    #[inline(always)]
    fn run<'a>(&self, x: &'a [f32], b: usize, ch: usize) -> &'a [f32] {
        let at = (b * self.c + ch) * self.s;
        &x[at..at + self.s]
    }

    /// Values per channel.
    #[inline(always)]
    fn n(&self) -> f32 {
        (self.b * self.s).max(1) as f32
    }

    /// Values per example.
    fn example(&self) -> usize {
        (self.c * self.s).max(1)
    }

    /// `f(ch)` for every channel, channels split across the pool (plain loops inside: an
    /// iterator chain there is not inlined into the vectorised code).
    fn per_channel<T: Send>(&self, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
        (0..self.c)
            .into_par_iter()
            .map(|ch| {
                super::math::simd(
                    #[inline(always)]
                    || f(ch),
                )
            })
            .collect()
    }

    /// Each channel's mean and (biased) variance.
    fn stats(&self, x: &[f32]) -> Vec<(f32, f32)> {
        self.per_channel(
            #[inline(always)]
            |ch| {
                let mut total = 0.0;
                for b in 0..self.b {
                    total += super::math::sum(self.run(x, b, ch));
                }
                let mean = total / self.n();
                let mut sq = 0.0;
                for b in 0..self.b {
                    sq += super::math::sum_sq_dev(self.run(x, b, ch), mean);
                }
                (mean, sq / self.n())
            },
        )
    }

    /// `out = x·scale_c + shift_c`, or with `dy` given, `out = scale_c·(dy − a_c − (x − mean_c)·b_c)`
    /// (the input gradient), one example per task.
    fn map_examples(&self, x: &[f32], dy: Option<&[f32]>, coef: &[[f32; 4]]) -> Vec<f32> {
        let (c, s, e) = (self.c, self.s, self.example());
        let mut out = super::math::Pending::new(x.len());
        out.slots().par_chunks_mut(e.max(1)).enumerate().for_each(|(b, out)| {
            super::math::simd(
                #[inline(always)]
                || {
                    let x = &x[b * e..(b + 1) * e];
                    for ch in 0..c {
                        let [p, q, r, t] = coef[ch];
                        let (o, xs) = (&mut out[ch * s..(ch + 1) * s], &x[ch * s..(ch + 1) * s]);
                        match dy {
                            None => {
                                for i in 0..s {
                                    o[i] = MaybeUninit::new(xs[i] * p + q);
                                }
                            }
                            Some(dy) => {
                                let d = &dy[b * e + ch * s..b * e + (ch + 1) * s];
                                for i in 0..s {
                                    o[i] = MaybeUninit::new(p * (d[i] - q - (xs[i] - r) * t));
                                }
                            }
                        }
                    }
                },
            )
        });
        // SAFETY: one piece per example covers every slot, and each example's `c·s` slots are
        // written channel by channel.
        unsafe { out.done() }
    }
}

/// Batch normalisation while training: the output `(x − mean_c)/σ_c · γ_c + β_c` and each
/// channel's batch mean and variance (for the running statistics).
pub fn batch_forward(g: &Channels, x: &[f32], gamma: &[f32], beta: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let stats = g.stats(x);
    let coef: Vec<[f32; 4]> = stats
        .iter()
        .zip(gamma.iter().zip(beta))
        .map(|(&(mean, var), (&gamma, &beta))| {
            let scale = gamma / (var + g.eps).sqrt();
            [scale, beta - mean * scale, 0.0, 0.0]
        })
        .collect();
    let out = g.map_examples(x, None, &coef);
    let (mean, var) = stats.into_iter().unzip();
    (out, mean, var)
}

/// Batch normalisation's gradients for the input, `γ` and `β`, from the input and the batch
/// `mean` and (biased) `var` the forward pass used: with `x̂` the normalised input,
/// `dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))` per channel, `dγ = Σ dy·x̂`, `dβ = Σ dy`.
pub fn batch_backward(
    g: &Channels,
    x: &[f32],
    gamma: &[f32],
    (mean, var): (&[f32], &[f32]),
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert!(mean.len() == g.c && var.len() == g.c, "batch statistics per channel");
    // Per channel: Σ dy and Σ dy·x̂ (two passes over each run: faster than one computing both,
    // measured).
    let sums: Vec<(f32, f32)> = g.per_channel(
        #[inline(always)]
        |ch| {
            let (mut total, mut dot) = (0.0, 0.0);
            for b in 0..g.b {
                let (dy, x) = (g.run(dy, b, ch), g.run(x, b, ch));
                total += super::math::sum(dy);
                dot += super::math::dot_centred(dy, x, mean[ch]);
            }
            (total, dot / (var[ch] + g.eps).sqrt())
        },
    );
    let coef: Vec<[f32; 4]> = (0..g.c)
        .map(|ch| {
            let rstd = 1.0 / (var[ch] + g.eps).sqrt();
            let (mean_dy, mean_dyx) = (sums[ch].0 / g.n(), sums[ch].1 / g.n());
            // dy − mean(dy) − x̂·mean(dy·x̂), with x̂ = (x − mean)·rstd.
            [gamma[ch] * rstd, mean_dy, mean[ch], rstd * mean_dyx]
        })
        .collect();
    let dx = g.map_examples(x, Some(dy), &coef);
    let (dbeta, dgamma) = sums.into_iter().unzip();
    (dx, dgamma, dbeta)
}
