//! 2-D convolution (NCHW, `f32`, one group) as image-to-column patches times the weight matrix,
//! with both gradients as matrix products: the weight gradient `Σ_b dY_b · colsᵀ_b` and the input
//! gradient `col2im(Wᵀ · dY_b)`. Images are split across the rayon pool, one matrix product per
//! image on one thread each; a lone image lets the matrix product use the pool instead.
//!
//! Burn's flex backend computes the forward pass the same way, but its backward passes are
//! Burn's generic ones: the weight gradient is a convolution with the batch as channels and the
//! whole output gradient as its kernel, the input gradient a transposed convolution — together
//! 3–4× the forward pass (docs/performance.md).

use rayon::prelude::*;

/// The shape of one convolution: input `[b, c, h, w]`, weight `[o, c, kh, kw]`, stride `s`,
/// padding `p`, dilation `d` (each `[rows, columns]`), output `[b, o, oh, ow]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Images.
    pub b: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub o: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride.
    pub s: [usize; 2],
    /// Padding.
    pub p: [usize; 2],
    /// Dilation.
    pub d: [usize; 2],
}

impl Geometry {
    /// Output height and width, or `None` when the kernel does not fit the padded input.
    pub fn out(&self) -> Option<(usize, usize)> {
        let span = |size: usize, k: usize, i: usize| {
            let reach = self.d[i] * (k.max(1) - 1) + 1;
            (size + 2 * self.p[i])
                .checked_sub(reach)
                .map(|r| r / self.s[i].max(1) + 1)
        };
        Some((span(self.h, self.kh, 0)?, span(self.w, self.kw, 1)?))
    }

    /// Rows of the patch matrix: `c·kh·kw`.
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Values of one input image.
    fn image(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Output positions per image.
    fn positions(&self) -> usize {
        self.out().map_or(0, |(oh, ow)| oh * ow)
    }
}

/// The output columns `lo..hi` whose input column `x·stride + off` lies inside `0..w`
/// (out of `ow`).
fn inside(off: isize, stride: usize, w: usize, ow: usize) -> (usize, usize) {
    let s = stride.max(1) as isize;
    // The first x with x·s + off ≥ 0, and the first with x·s + off ≥ w.
    let first = |bound: isize| (((bound - off) + s - 1).div_euclid(s)).clamp(0, ow as isize) as usize;
    let lo = first(0);
    (lo, first(w as isize).max(lo))
}

/// Fills `cols` (`[c·kh·kw, oh·ow]`, row-major) with the patches of one image `x` (`[c, h, w]`).
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32]) {
    let Some((oh, ow)) = g.out() else { return };
    let np = oh * ow;
    for c in 0..g.c {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let dst = &mut cols[row * np..(row + 1) * np];
                for y in 0..oh {
                    let line = &mut dst[y * ow..(y + 1) * ow];
                    let iy = (y * g.s[0] + ki * g.d[0]) as isize - g.p[0] as isize;
                    if iy < 0 || iy >= g.h as isize {
                        line.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let off = (kj * g.d[1]) as isize - g.p[1] as isize;
                    let (lo, hi) = inside(off, g.s[1], g.w, ow);
                    line[..lo].fill(0.0);
                    line[hi..].fill(0.0);
                    if g.s[1] == 1 {
                        // Stride 1: the inside of the line is one run of the input row.
                        let at = (lo as isize + off) as usize;
                        line[lo..hi].copy_from_slice(&src[at..at + hi - lo]);
                    } else {
                        for (xo, v) in line[lo..hi].iter_mut().enumerate() {
                            *v = src[(((lo + xo) * g.s[1]) as isize + off) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// Adds the patch-matrix gradient `dcols` back onto the image gradient `dx` (`[c, h, w]`).
fn col2im(g: &Geometry, dcols: &[f32], dx: &mut [f32]) {
    let Some((oh, ow)) = g.out() else { return };
    let np = oh * ow;
    for c in 0..g.c {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = (c * g.kh + ki) * g.kw + kj;
                let src = &dcols[row * np..(row + 1) * np];
                for y in 0..oh {
                    let iy = (y * g.s[0] + ki * g.d[0]) as isize - g.p[0] as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let off = (kj * g.d[1]) as isize - g.p[1] as isize;
                    let (lo, hi) = inside(off, g.s[1], g.w, ow);
                    let line = &src[y * ow + lo..y * ow + hi];
                    if g.s[1] == 1 {
                        let at = (lo as isize + off) as usize;
                        dst[at..at + hi - lo].iter_mut().zip(line).for_each(|(d, v)| *d += v);
                    } else {
                        for (xo, &v) in line.iter().enumerate() {
                            dst[(((lo + xo) * g.s[1]) as isize + off) as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

/// A matrix operand: its values and the strides between rows and between columns.
#[derive(Clone, Copy)]
struct Mat<'a> {
    v: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major `[rows, cols]` matrix.
    fn rows(v: &'a [f32], cols: usize) -> Self {
        Self { v, rs: cols, cs: 1 }
    }

    /// The transpose of a row-major `[rows, cols]` matrix, read in place.
    fn transposed(v: &'a [f32], cols: usize) -> Self {
        Self { v, rs: 1, cs: cols }
    }

    /// True when every element of an `[m, n]` view lies inside the values.
    fn fits(&self, m: usize, n: usize) -> bool {
        m == 0 || n == 0 || (m - 1) * self.rs + (n - 1) * self.cs < self.v.len()
    }
}

/// `dst[m, n] (row-major) = (accumulate ? dst : 0) + a[m, k] · b[k, n]`.
fn matmul(dst: &mut [f32], accumulate: bool, a: Mat, b: Mat, (m, n, k): (usize, usize, usize), pool: bool) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // Checked here so the unchecked product below reads and writes only inside the slices.
    assert!(dst.len() >= m * n && a.fits(m, k) && b.fits(k, n), "matrix sizes");
    let parallelism = if pool {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assert above bounds every index gemm touches (dst is row-major [m, n]; a and
    // b are [m, k] and [k, n] views within their slices); the slices outlive the call, and dst
    // does not alias a or b (a `&mut` and two `&` borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.v.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.v.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Parts the weight gradient's images are split into (its partial sums run in parallel).
const PARTS: usize = 8;

/// True when the images should share the pool (one matrix product each) rather than each
/// product using it: with at least two images.
fn per_image(g: &Geometry) -> bool {
    g.b >= 2
}

/// The convolution of `x` (`[b, c, h, w]`) with `weight` (`[o, c, kh, kw]`) plus `bias` (`[o]`):
/// `[b, o, oh, ow]`, row-major.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    let mut out = vec![0.0; g.b * g.o * np];
    if np == 0 || g.b == 0 {
        return out;
    }
    let pool = !per_image(g);
    let one = |cols: &mut Vec<f32>, (y, x): (&mut [f32], &[f32])| {
        cols.resize(k * np, 0.0);
        im2col(g, x, cols);
        matmul(y, false, Mat::rows(weight, k), Mat::rows(cols, np), (g.o, np, k), pool);
        if let Some(bias) = bias {
            for (row, b) in y.chunks_mut(np).zip(bias) {
                row.iter_mut().for_each(|v| *v += b);
            }
        }
    };
    out.par_chunks_mut(g.o * np)
        .zip(x.par_chunks(g.image()))
        .for_each_init(Vec::new, one);
    out
}

/// The weight gradient `Σ_b dY_b · colsᵀ_b` (`[o, c, kh, kw]`) from the input `x` and the output
/// gradient `dy` (`[b, o, oh, ow]`).
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    if np == 0 || g.b == 0 {
        return vec![0.0; g.o * k];
    }
    let pool = !per_image(g);
    // A fixed split of the images (not rayon's adaptive one), partial sums added in order: the
    // same gradient on every run and at every thread count.
    let per = g.b.div_ceil(PARTS);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per * g.image())
        .zip(dy.par_chunks(per * g.o * np))
        .map(|(x, dy)| {
            let (mut dw, mut cols) = (vec![0.0; g.o * k], vec![0.0; k * np]);
            for (x, dy) in x.chunks(g.image()).zip(dy.chunks(g.o * np)) {
                im2col(g, x, &mut cols);
                matmul(
                    &mut dw,
                    true,
                    Mat::rows(dy, np),
                    Mat::transposed(&cols, np),
                    (g.o, k, np),
                    pool,
                );
            }
            dw
        })
        .collect();
    let mut dw = vec![0.0; g.o * k];
    for part in partial {
        dw.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    dw
}

/// The input gradient `col2im(Wᵀ · dY_b)` (`[b, c, h, w]`) from the weight and the output
/// gradient `dy`.
pub fn input_grad(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    let mut dx = vec![0.0; g.b * g.image()];
    if np == 0 || g.b == 0 {
        return dx;
    }
    let pool = !per_image(g);
    dx.par_chunks_mut(g.image()).zip(dy.par_chunks(g.o * np)).for_each_init(
        Vec::new,
        |dcols: &mut Vec<f32>, (dx, dy)| {
            dcols.resize(k * np, 0.0);
            matmul(
                dcols,
                false,
                Mat::transposed(weight, k),
                Mat::rows(dy, np),
                (k, np, g.o),
                pool,
            );
            col2im(g, dcols, dx);
        },
    );
    dx
}

/// The bias gradient: `dy` (`[b, o, positions]`) summed over images and positions, per output
/// channel.
pub fn bias_grad(o: usize, positions: usize, dy: &[f32]) -> Vec<f32> {
    let mut db = vec![0.0; o];
    if positions == 0 {
        return db;
    }
    for image in dy.chunks(o * positions) {
        for (d, row) in db.iter_mut().zip(image.chunks(positions)) {
            *d += row.iter().sum::<f32>();
        }
    }
    db
}
