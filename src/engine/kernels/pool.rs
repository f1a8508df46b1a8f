//! 2-D max pooling (NCHW, `f32`): each window's largest value forward; backward, the output
//! gradient goes to the position that won, found again from the saved input (no index tensor).
//! Burn's flex max pool keeps an index tensor and scatters through a generic path that costs
//! about four times its forward pass (docs/performance.md).

use super::math::{Pending, zeroed};
use rayon::prelude::*;

/// A pooling window: kernel, stride and padding, each `[rows, columns]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel size.
    pub k: [usize; 2],
    /// Stride.
    pub s: [usize; 2],
    /// Padding (padded positions never win).
    pub p: [usize; 2],
}

impl Window {
    /// Output height and width for an `h × w` plane, or `None` when the window does not fit.
    pub fn out(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let span = |size: usize, i: usize| {
            (size + 2 * self.p[i])
                .checked_sub(self.k[i].max(1))
                .map(|r| r / self.s[i].max(1) + 1)
        };
        Some((span(h, 0)?, span(w, 1)?))
    }

    /// The input index (within the plane) of the winner of output position `(y, x)`, or `None`
    /// when the window covers only padding.
    #[inline(always)]
    fn winner(&self, plane: &[f32], (h, w): (usize, usize), (y, x): (usize, usize)) -> Option<usize> {
        let y0 = (y * self.s[0]) as isize - self.p[0] as isize;
        let x0 = (x * self.s[1]) as isize - self.p[1] as isize;
        let (ya, yb) = (
            y0.max(0) as usize,
            ((y0 + self.k[0] as isize).min(h as isize)).max(0) as usize,
        );
        let (xa, xb) = (
            x0.max(0) as usize,
            ((x0 + self.k[1] as isize).min(w as isize)).max(0) as usize,
        );
        let mut best: Option<(usize, f32)> = None;
        for iy in ya..yb {
            for ix in xa..xb {
                let at = iy * w + ix;
                let v = plane[at];
                match best {
                    Some((_, b)) if !(v > b || (v.is_nan() && !b.is_nan())) => {}
                    _ => best = Some((at, v)),
                }
            }
        }
        best.map(|(at, _)| at)
    }
}

/// The winner of a 2×2 window whose top-left value is at `at` in a plane `w` wide: its index.
/// (LeNet's and most pooling layers' window: no loop, no padding to check.)
#[inline(always)]
fn winner2(plane: &[f32], w: usize, at: usize) -> usize {
    let better = |i: usize, j: usize| {
        let (a, b) = (plane[i], plane[j]);
        if b > a || (b.is_nan() && !a.is_nan()) { j } else { i }
    };
    better(better(better(at, at + 1), at + w), at + w + 1)
}

impl Window {
    /// True for a 2×2 window with stride 2 and no padding.
    fn is_two_by_two(&self) -> bool {
        self.k == [2, 2] && self.s == [2, 2] && self.p == [0, 0]
    }
}

/// Planes per parallel task.
fn planes_per_task(plane: usize) -> usize {
    ((1 << 14) / plane.max(1)).max(1)
}

/// The max pool of `x` (`planes` planes of `h × w`): `planes × oh × ow` values.
pub fn forward(x: &[f32], (h, w): (usize, usize), win: &Window) -> Vec<f32> {
    let Some((oh, ow)) = win.out(h, w) else {
        return Vec::new();
    };
    let planes = x.len() / (h * w).max(1);
    let mut out = Pending::new(planes * oh * ow);
    let per = planes_per_task(h * w);
    out.slots()
        .par_chunks_mut((per * oh * ow).max(1))
        .zip(x.par_chunks((per * h * w).max(1)))
        .for_each(|(out, x)| {
            let out = zeroed(out);
            super::math::simd(
                #[inline(always)]
                || {
                    for (out, plane) in out.chunks_mut(oh * ow).zip(x.chunks(h * w)) {
                        if win.is_two_by_two() {
                            for y in 0..oh {
                                for xo in 0..ow {
                                    out[y * ow + xo] = plane[winner2(plane, w, 2 * y * w + 2 * xo)];
                                }
                            }
                            continue;
                        }
                        for y in 0..oh {
                            for xo in 0..ow {
                                out[y * ow + xo] = win
                                    .winner(plane, (h, w), (y, xo))
                                    .map_or(f32::NEG_INFINITY, |at| plane[at]);
                            }
                        }
                    }
                },
            )
        });
    // SAFETY: one piece per group of planes covers every slot, each zero-filled by `zeroed`.
    unsafe { out.done() }
}

/// The input gradient: each output gradient added at its window's winner in `x`.
pub fn backward(x: &[f32], (h, w): (usize, usize), win: &Window, grad: &[f32]) -> Vec<f32> {
    let Some((oh, ow)) = win.out(h, w) else {
        return vec![0.0; x.len()];
    };
    let per = planes_per_task(h * w);
    // Every slot below is covered only when `grad` holds one output plane per input plane.
    assert_eq!(grad.len() * h * w, x.len() * oh * ow, "max-pool gradient size");
    let mut dx = Pending::new(x.len());
    dx.slots()
        .par_chunks_mut((per * h * w).max(1))
        .zip(
            x.par_chunks((per * h * w).max(1))
                .zip(grad.par_chunks((per * oh * ow).max(1))),
        )
        .for_each(|(dx, (x, grad))| {
            let dx = zeroed(dx);
            super::math::simd(
                #[inline(always)]
                || {
                    for ((dx, plane), grad) in dx.chunks_mut(h * w).zip(x.chunks(h * w)).zip(grad.chunks(oh * ow)) {
                        if win.is_two_by_two() {
                            for y in 0..oh {
                                for xo in 0..ow {
                                    dx[winner2(plane, w, 2 * y * w + 2 * xo)] += grad[y * ow + xo];
                                }
                            }
                            continue;
                        }
                        for y in 0..oh {
                            for xo in 0..ow {
                                if let Some(at) = win.winner(plane, (h, w), (y, xo)) {
                                    dx[at] += grad[y * ow + xo];
                                }
                            }
                        }
                    }
                },
            )
        });
    // SAFETY: one piece per group of planes covers every slot (`x` and `grad` split into as
    // many pieces: every plane has at least one output), each zero-filled by `zeroed`.
    unsafe { dx.done() }
}
