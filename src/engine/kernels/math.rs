//! The arithmetic of the kernels: branch-free element functions the compiler vectorises, and the
//! loops that split a tensor's values across the rayon pool.

use rayon::prelude::*;

/// Runs `f` compiled for the widest vector instructions this CPU has — AVX-512, else AVX2 with
/// FMA, else the baseline the binary targets (SSE2 on x86-64) — chosen at run time, so one
/// binary runs everywhere. The body of `f`, and whatever it calls that is `#[inline(always)]`,
/// is compiled once per level; the kernels' per-task loops run through here (the rest of the
/// binary stays at the baseline).
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
        fn v4<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,popcnt")]
        fn v3<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        let has_v3 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("lzcnt")
            && std::arch::is_x86_feature_detected!("popcnt");
        let has_v4 = has_v3
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq");
        if has_v4 {
            // SAFETY: every feature `v4` is compiled for was detected on this CPU just above.
            return unsafe { v4(f) };
        }
        if has_v3 {
            // SAFETY: every feature `v3` is compiled for was detected on this CPU just above.
            return unsafe { v3(f) };
        }
    }
    f()
}

/// Elements per parallel task: below this the split costs more than it saves.
const GRAIN: usize = 1 << 14;

/// `e^x` for `f32`, branch-free (vectorisable): `2^k · p(r)` with `x = k·ln 2 + r`,
/// `|r| ≤ ln 2 / 2`, `p` the degree-6 Taylor polynomial (relative error below 2e-7). Below
/// −86 the result is 0 and above 88 it saturates at e^88, so it never returns a subnormal
/// number: arithmetic on those is ~100× slower on x86, and a causal mask's −1e9 scores would
/// otherwise fill half of every attention matrix with them. NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and removing 1.5·2^23 rounds to the nearest integer without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    const LOW: f32 = -86.0;
    let tiny = x < LOW;
    let x = x.clamp(LOW, 88.0);
    let shifted = x * LOG2E + ROUND;
    let k = shifted - ROUND;
    let r = x - k * LN2_HI - k * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // k as an integer from the low bits of `shifted` (a float-to-int cast saturates in Rust,
    // which keeps the loop from being vectorised); 2^k built from its exponent bits.
    let ki = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(ki.wrapping_add(127) << 23);
    if x.is_nan() {
        x
    } else if tiny {
        0.0
    } else {
        p * scale
    }
}

/// `erf(z)` and `e^{-z²}` together (Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7);
/// GELU's gradient needs both.
#[inline(always)]
fn erf_and_gauss(z: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    let a = z.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let g = exp(-z * z);
    ((1.0 - poly * g).copysign(z), g)
}

/// GELU with the exact Gaussian CDF: `x·Φ(x) = ½x(1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    let (erf, _) = erf_and_gauss(x * std::f32::consts::FRAC_1_SQRT_2);
    0.5 * x * (1.0 + erf)
}

/// GELU's derivative times the output gradient: `g·(Φ(x) + x·φ(x))`.
#[inline(always)]
pub fn gelu_grad(x: f32, g: f32) -> f32 {
    // 1/√(2π)
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    // e^{-z²} with z = x/√2 is e^{-x²/2}: the Gaussian density's exponential, computed once.
    let (erf, gauss) = erf_and_gauss(x * std::f32::consts::FRAC_1_SQRT_2);
    g * (0.5 * (1.0 + erf) + x * INV_SQRT_2PI * gauss)
}

/// Lanes of the reductions below: independent partial results the compiler keeps in one
/// vector register (a plain `fold` over `f32` is one serial chain, never vectorised).
const LANES: usize = 16;

/// `Σ f(a_i, b_i)` in [`LANES`] partial sums.
#[inline(always)]
fn sum_of(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += f(ca[i], cb[i]);
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(&a, &b)| f(a, b)).sum();
    acc.iter().sum::<f32>() + tail
}

/// `Σ x`.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    sum_of(x, x, |a, _| a)
}

/// `Σ |x|`, in parallel chunks (partial sums added in order: the same result on every run).
pub fn sum_abs(x: &[f32]) -> f32 {
    let parts: Vec<f32> = x
        .par_chunks(GRAIN)
        .map(|c| {
            simd(
                #[inline(always)]
                || sum_of(c, c, |a, _| a.abs()),
            )
        })
        .collect();
    parts.iter().sum()
}

/// `Σ (x − mean)²`.
#[inline(always)]
pub fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    sum_of(x, x, |a, _| (a - mean) * (a - mean))
}

/// `Σ a·(x − mean)`.
#[inline(always)]
pub fn dot_centred(a: &[f32], x: &[f32], mean: f32) -> f32 {
    sum_of(a, x, |a, x| a * (x - mean))
}

/// The largest value (NaN if any is NaN, so it carries on into the result).
#[inline(always)]
fn max_of(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            // Not `f32::max`, which skips NaN: a comparison keeps the vector form and NaN.
            acc[i] = if c[i] > acc[i] || c[i].is_nan() { c[i] } else { acc[i] };
        }
    }
    acc.iter()
        .chain(rest)
        .copied()
        .fold(f32::NEG_INFINITY, |m, v| if v > m || v.is_nan() { v } else { m })
}

/// Softmax of one row into `out`.
#[inline(always)]
pub fn softmax_row(x: &[f32], out: &mut [f32]) {
    let max = max_of(x);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp(v - max);
    }
    let inv = 1.0 / sum(out);
    out.iter_mut().for_each(|o| *o *= inv);
}

/// The softmax gradient of one row, from the output `y` and output gradient `g`.
#[inline(always)]
pub fn softmax_grad_row(y: &[f32], g: &[f32], out: &mut [f32]) {
    let s = sum_of(y, g, |a, b| a * b);
    for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
        *o = y * (g - s);
    }
}

/// Log-softmax of one row into `out`.
#[inline(always)]
pub fn log_softmax_row(x: &[f32], out: &mut [f32]) {
    let max = max_of(x);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = exp(v - max);
    }
    let lse = max + sum(out).ln();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v - lse;
    }
}

/// The log-softmax gradient of one row, from the output `y` and output gradient `g`.
#[inline(always)]
pub fn log_softmax_grad_row(y: &[f32], g: &[f32], out: &mut [f32]) {
    let s = sum(g);
    for ((o, &y), &g) in out.iter_mut().zip(y).zip(g) {
        *o = g - exp(y) * s;
    }
}

/// Room for `n` values that parallel tasks fill piece by piece, each piece written whole (or
/// zero-filled with [`zeroed`]) by the task that fills it: `vec![0.0; n]` would zero the whole
/// output on the calling thread first, while the other threads wait (`memset` on the critical
/// path).
pub struct Pending {
    values: Vec<f32>,
    n: usize,
}

impl Pending {
    /// Room for `n` values, none written yet.
    pub fn new(n: usize) -> Self {
        Self {
            values: Vec::with_capacity(n),
            n,
        }
    }

    /// The `n` slots, to be split into pieces that the tasks write whole — or pass through
    /// [`zeroed`] first when they write only part of them.
    pub fn slots(&mut self) -> &mut [std::mem::MaybeUninit<f32>] {
        &mut self.values.spare_capacity_mut()[..self.n]
    }

    /// The values.
    ///
    /// # Safety
    /// Every slot must have gone through [`zeroed`] (or been written otherwise).
    pub unsafe fn done(mut self) -> Vec<f32> {
        // SAFETY: the caller guarantees all `n` slots are initialised.
        unsafe { self.values.set_len(self.n) };
        self.values
    }
}

/// A piece of [`Pending::slots`] zero-filled, as plain values.
#[inline(always)]
pub fn zeroed(piece: &mut [std::mem::MaybeUninit<f32>]) -> &mut [f32] {
    piece.fill(std::mem::MaybeUninit::new(0.0));
    // SAFETY: every value was just initialised, and `MaybeUninit<f32>` has `f32`'s layout.
    unsafe { &mut *(piece as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) }
}

/// ReLU of one value: `x` above zero, else zero; NaN stays NaN (as Burn's).
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

/// ReLU's gradient from its output `y` and the output gradient `g` (as Burn's: passed where
/// `y` is not at or below zero).
#[inline(always)]
pub fn relu_grad(y: f32, g: f32) -> f32 {
    if y <= 0.0 { 0.0 } else { g }
}

/// `f` of every value, in parallel chunks.
pub fn map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let mut out = Pending::new(x.len());
    out.slots()
        .par_chunks_mut(GRAIN)
        .zip(x.par_chunks(GRAIN))
        .for_each(|(o, x)| {
            simd(
                #[inline(always)]
                || {
                    for (o, &x) in o.iter_mut().zip(x) {
                        o.write(f(x));
                    }
                },
            )
        });
    // SAFETY: the pieces cover every slot, and each slot is written once.
    unsafe { out.done() }
}

/// `f` of every pair of values, in parallel chunks.
pub fn zip(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let n = a.len().min(b.len());
    let mut out = Pending::new(n);
    out.slots()
        .par_chunks_mut(GRAIN)
        .zip(a[..n].par_chunks(GRAIN).zip(b[..n].par_chunks(GRAIN)))
        .for_each(|(o, (a, b))| {
            simd(
                #[inline(always)]
                || {
                    for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                        o.write(f(a, b));
                    }
                },
            )
        });
    // SAFETY: the pieces cover every slot (all three split alike), each written once.
    unsafe { out.done() }
}

/// The mean of every row of `n` values (one value per row), rows in parallel groups.
pub fn row_means(x: &[f32], n: usize) -> Vec<f32> {
    let n = n.max(1);
    let rows = x.len() / n;
    let per = rows_per_task(n);
    let mut out = Pending::new(rows);
    out.slots()
        .par_chunks_mut(per)
        .zip(x[..rows * n].par_chunks(per * n))
        .for_each(|(o, x)| {
            simd(
                #[inline(always)]
                || {
                    for (o, row) in o.iter_mut().zip(x.chunks_exact(n)) {
                        o.write(sum(row) / n as f32);
                    }
                },
            )
        });
    // SAFETY: `rows` slots in groups of `per`, each group's rows `per · n` values of `x`: every
    // slot is written once.
    unsafe { out.done() }
}

/// Every row mean's gradient `g` spread over its row of `n` values (`g / n` each).
pub fn spread_means(g: &[f32], n: usize) -> Vec<f32> {
    let n = n.max(1);
    let per = rows_per_task(n);
    let mut out = Pending::new(g.len() * n);
    out.slots()
        .par_chunks_mut(per * n)
        .zip(g.par_chunks(per))
        .for_each(|(o, g)| {
            simd(
                #[inline(always)]
                || {
                    for (o, &g) in o.chunks_exact_mut(n).zip(g) {
                        let v = g / n as f32;
                        for o in o {
                            o.write(v);
                        }
                    }
                },
            )
        });
    // SAFETY: `g.len()` rows of `n` slots in groups of `per` rows, one group per value group.
    unsafe { out.done() }
}

/// Rows per parallel task for rows of `len` values.
fn rows_per_task(len: usize) -> usize {
    (GRAIN / len.max(1)).max(1)
}

/// `f` of every row of `len` values, in parallel groups of rows.
pub fn rows(x: &[f32], len: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = Pending::new(x.len());
    let chunk = (rows_per_task(len) * len).max(1);
    out.slots()
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(o, x)| {
            let o = zeroed(o);
            simd(
                #[inline(always)]
                || {
                    for (o, x) in o.chunks_mut(len).zip(x.chunks(len)) {
                        f(x, o);
                    }
                },
            )
        });
    // SAFETY: the pieces cover every slot, each zero-filled by `zeroed`.
    unsafe { out.done() }
}

/// `f` of every pair of rows of `len` values, in parallel groups of rows.
pub fn rows2(a: &[f32], b: &[f32], len: usize, f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync) -> Vec<f32> {
    // Every slot below is covered only when `b` is as long as `a`.
    assert_eq!(a.len(), b.len(), "row pairs of one size");
    let mut out = Pending::new(a.len());
    let chunk = (rows_per_task(len) * len).max(1);
    out.slots()
        .par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk).zip(b.par_chunks(chunk)))
        .for_each(|(o, (a, b))| {
            let o = zeroed(o);
            simd(
                #[inline(always)]
                || {
                    for ((o, a), b) in o.chunks_mut(len).zip(a.chunks(len)).zip(b.chunks(len)) {
                        f(a, b, o);
                    }
                },
            )
        });
    // SAFETY: the pieces cover every slot, each zero-filled by `zeroed`.
    unsafe { out.done() }
}

/// `Σ x²`, in parallel chunks (partial sums added in order: the same result on every run).
pub fn sum_sq(x: &[f32]) -> f32 {
    let parts: Vec<f32> = x
        .par_chunks(GRAIN)
        .map(|c| {
            simd(
                #[inline(always)]
                || sum_of(c, c, |a, _| a * a),
            )
        })
        .collect();
    parts.iter().sum()
}

/// The constants of one Adam / AdamW step for one parameter tensor (see [`adam`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// The learning rate.
    pub lr: f32,
    /// The first moment's decay, `β₁`.
    pub beta_1: f32,
    /// The second moment's decay, `β₂`.
    pub beta_2: f32,
    /// `√(1 − β₂ᵗ) / (1 − β₁ᵗ)`: both bias corrections folded into one factor.
    pub factor: f32,
    /// `ε·√(1 − β₂ᵗ)`: ε as it stands after the same folding.
    pub eps: f32,
    /// The L2 penalty added to the gradient (Adam's weight decay): `g + l2·θ`.
    pub l2: f32,
    /// What the parameter keeps before the update (AdamW's decoupled decay): `1 − lr·λ`.
    pub keep: f32,
    /// The gradient's scale (norm clipping: `min(1, max_norm / ‖g‖)`; 1 without clipping).
    pub scale: f32,
}

/// One Adam / AdamW step over a whole parameter tensor in one pass, in parallel chunks, in
/// place: for every value `g ← scale·g + l2·θ`, `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `θ ← keep·θ − lr·factor·m / (√v + eps)` — Burn's Adam (and AdamW, whose bias corrections
/// are the same expression rearranged) without its ten separate passes on one thread.
pub fn adam(theta: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
    let n = theta.len().min(m.len()).min(v.len()).min(g.len());
    let (c1, c2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
    let step = s.lr * s.factor;
    theta[..n]
        .par_chunks_mut(GRAIN)
        .zip(m[..n].par_chunks_mut(GRAIN))
        .zip(v[..n].par_chunks_mut(GRAIN))
        .zip(g[..n].par_chunks(GRAIN))
        .for_each(|(((theta, m), v), g)| {
            simd(
                #[inline(always)]
                || {
                    for (((t, m), v), &g) in theta.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                        let g = s.scale * g + s.l2 * *t;
                        *m = s.beta_1 * *m + c1 * g;
                        *v = s.beta_2 * *v + c2 * g * g;
                        *t = s.keep * *t - step * *m / (v.sqrt() + s.eps);
                    }
                },
            )
        });
}
