//! 2-D convolution (NCHW, `f32`, one group) as image-to-column patches times the weight matrix,
//! with both gradients as matrix products: the weight gradient `Σ_b dY_b · colsᵀ_b` and the input
//! gradient `col2im(Wᵀ · dY_b)`. Stride-1 layers with enough channels on maps wide enough run on
//! padded rows instead, with no patch matrix at all (`by_rows`). Images are split across
//! the rayon pool, one matrix product per image on one thread each; a lone image lets the matrix
//! product use the pool instead.
//!
//! Burn's flex backend computes the forward pass the same way, but its backward passes are
//! Burn's generic ones: the weight gradient is a convolution with the batch as channels and the
//! whole output gradient as its kernel, the input gradient a transposed convolution — together
//! 3–4× the forward pass (docs/performance.md).

use super::math::{Pending, zeroed};
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

/// Extra values past the end of every scratch buffer, so a line can be moved as whole 16-value
/// blocks (one vector load and store each) without a length check.
const SLACK: usize = 16;

/// The padded height and width of one input plane.
fn padded(g: &Geometry) -> (usize, usize) {
    (g.h + 2 * g.p[0], g.w + 2 * g.p[1])
}

/// How a padded input plane is laid out in scratch: `hp` rows of `s·wq` values, where the
/// columns of each padded row are split by their remainder modulo the column stride `s` (its
/// phase) — phase `φ` holds columns `φ, φ + s, φ + 2s, …` in `wq = ⌈wp / s⌉` values. A patch
/// line of any stride then reads contiguous values (`kj·d` picks the phase and the first
/// column), copied as whole vectors; for stride 1 this is the plain padded plane. Returns
/// `(hp, wq, row)` with `row = s·wq`, the distance between padded rows.
fn layout(g: &Geometry) -> (usize, usize, usize) {
    let (hp, wp) = padded(g);
    let s = g.s[1].max(1);
    let wq = wp.div_ceil(s);
    (hp, wq, s * wq)
}

/// Values of one padded plane in the [`layout`].
fn plane_len(g: &Geometry) -> usize {
    let (hp, _, row) = layout(g);
    hp * row
}

/// The offset, within a padded row of the [`layout`], of padded column `col` (`col = x + p`).
#[inline(always)]
fn column_at(g: &Geometry, col: usize) -> usize {
    let (_, wq, _) = layout(g);
    let s = g.s[1].max(1);
    (col % s) * wq + col / s
}

/// Copies image `x` (`[c, h, w]`) into `pad` (`c` planes in the [`layout`], then at least
/// [`SLACK`] zeros, `len` values in all) with zero borders: every patch line then reads inside
/// one plane, with no bounds to work out per line. With `fresh` false, `pad` already holds a
/// padded image of the same geometry and length: its borders and slack are zero, and only the
/// interior is copied.
#[inline(always)]
fn pad_image(g: &Geometry, x: &[f32], pad: &mut Vec<f32>, len: usize, fresh: bool) {
    let (_, wq, row) = layout(g);
    let plane = plane_len(g);
    if fresh {
        pad.clear();
        pad.resize(len.max(g.c * plane + SLACK), 0.0);
    }
    if g.p == [0, 0] && g.s[1] <= 1 {
        pad[..x.len()].copy_from_slice(x);
        return;
    }
    let s = g.s[1].max(1);
    for c in 0..g.c {
        for y in 0..g.h {
            let from = (c * g.h + y) * g.w;
            let to = c * plane + (y + g.p[0]) * row;
            if s == 1 {
                let to = to + g.p[1];
                if from + g.w.next_multiple_of(SLACK) <= x.len() {
                    // Whole vectors (no `memmove` call per short row): the blocks' overshoot
                    // lands on the zero gap after the row, put back at once, and on rows not
                    // yet copied. A gap holds no overshoot past `to + w + SLACK`.
                    copy_blocks(&mut pad[to..], &x[from..], g.w);
                    pad[to + g.w..to + g.w + SLACK].fill(0.0);
                } else {
                    pad[to..to + g.w].copy_from_slice(&x[from..from + g.w]);
                }
                continue;
            }
            let src = &x[from..from + g.w];
            if s == 2 {
                split_pairs(src, &mut pad[to..to + row], wq, g.p[1]);
                continue;
            }
            for (first, at, n) in phase_runs(g) {
                for (j, d) in pad[to + at..to + at + n].iter_mut().enumerate() {
                    *d = src[first + j * s];
                }
            }
        }
    }
}

/// The runs an image row splits into in a padded row of the [`layout`], one per column phase:
/// `(first, at, n)` — the input columns `first, first + s, …` (`n` of them, those with
/// `(x + p) % s == φ`) lie contiguously from offset `at` of the padded row.
fn phase_runs(g: &Geometry) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let s = g.s[1].max(1);
    (0..s).filter_map(move |phase| {
        let first = (phase + s - g.p[1] % s) % s;
        (first < g.w).then(|| (first, column_at(g, first + g.p[1]), (g.w - first).div_ceil(s)))
    })
}

/// The two halves of a stride-2 padded row (phase 0 then phase 1, `wq` values each) that input
/// columns `2k` and `2k + 1` go to with padding `p`, each from its first value: column `x` is
/// padded column `x + p`, in phase `(x + p) % 2` at `(x + p) / 2`.
#[inline(always)]
fn pair_halves(row: &mut [f32], wq: usize, p: usize) -> (&mut [f32], &mut [f32]) {
    let (even, odd) = row.split_at_mut(wq);
    if p.is_multiple_of(2) {
        (&mut even[p / 2..], &mut odd[p / 2..])
    } else {
        (&mut odd[p / 2..], &mut even[p.div_ceil(2)..])
    }
}

/// Splits one input row `src` into a stride-2 padded `row` of the [`layout`] (see
/// [`pair_halves`]): pairs of values to the two phases, vector shuffles (an index stepping by 2
/// is scalar code).
#[inline(always)]
fn split_pairs(src: &[f32], row: &mut [f32], wq: usize, p: usize) {
    let (a, b) = pair_halves(row, wq, p);
    let half = src.len() / 2;
    let (a, b) = (&mut a[..src.len() - half], &mut b[..half]);
    for ((pair, a), b) in src.chunks_exact(2).zip(a.iter_mut()).zip(b.iter_mut()) {
        *a = pair[0];
        *b = pair[1];
    }
    if src.len() % 2 == 1 {
        a[half] = src[src.len() - 1];
    }
}

/// The reverse of [`split_pairs`]: one row `dst` of an image from its stride-2 padded `row`.
#[inline(always)]
fn merge_pairs(row: &mut [f32], dst: &mut [f32], wq: usize, p: usize) {
    let (a, b) = pair_halves(row, wq, p);
    let half = dst.len() / 2;
    let (a, b) = (&a[..dst.len() - half], &b[..half]);
    for ((pair, a), b) in dst.chunks_exact_mut(2).zip(a).zip(b) {
        pair[0] = *a;
        pair[1] = *b;
    }
    if dst.len() % 2 == 1 {
        dst[dst.len() - 1] = a[half];
    }
}

/// `dst[..n] = src[..n]` in whole 16-value blocks: writes up to 15 values past `n` (the caller
/// fills them later or leaves them in slack) and reads as many past `src`'s `n`.
#[inline(always)]
fn copy_blocks(dst: &mut [f32], src: &[f32], n: usize) {
    // Sliced once, so the blocks are moved without a bounds check each.
    let m = n.next_multiple_of(SLACK);
    for (d, s) in dst[..m].chunks_exact_mut(SLACK).zip(src[..m].chunks_exact(SLACK)) {
        d.copy_from_slice(s);
    }
}

/// Where every kernel tap's patch lines start in a padded plane of the [`layout`]: tap `ki·kw +
/// kj` at input row `ki·d`, column `kj·d` (its phase and place in it). Worked out once per
/// image: the divisions by the stride are not repeated per channel.
fn tap_starts(g: &Geometry) -> Vec<usize> {
    let (_, _, row) = layout(g);
    let mut starts = Vec::with_capacity(g.kh * g.kw);
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            starts.push(ki * g.d[0] * row + column_at(g, kj * g.d[1]));
        }
    }
    starts
}

/// Calls `f(tap, y, start)` for every patch line of one channel, in order: for every kernel tap
/// (`starts`, from [`tap_starts`]) and output row `y`, the offset in a padded plane of the
/// [`layout`] where the line's `ow` contiguous values start (input row `y·s + ki·d`, column
/// `kj·d`, every `s`-th). Plain loops: an iterator chain here is not inlined into the vectorised
/// copies.
#[inline(always)]
fn for_lines(g: &Geometry, starts: &[usize], oh: usize, mut f: impl FnMut(usize, usize, usize)) {
    let step = g.s[0] * layout(g).2;
    for (tap, &start) in starts.iter().enumerate() {
        for y in 0..oh {
            f(tap, y, start + y * step);
        }
    }
}

/// Fills `cols` (`[c·kh·kw, oh·ow]`, rows `ld ≥ oh·ow` apart, plus [`SLACK`]) with the patches
/// of one image, given as its padded copy `pad` (see [`pad_image`]). Each row's whole-vector
/// copies may write up to 15 values past its `oh·ow`: where images share rows (a group, see
/// [`group`]), they are filled in order, so that lands on the next image's part before it is
/// written, or in the gap after the last.
#[inline(always)]
fn im2col(g: &Geometry, pad: &[f32], cols: &mut [f32], ld: usize) {
    let Some((oh, ow)) = g.out() else { return };
    let plane = plane_len(g);
    let taps = g.kh * g.kw;
    let starts = tap_starts(g);
    let step = g.s[0] * layout(g).2;
    for c in 0..g.c {
        let plane = &pad[c * plane..];
        let block = &mut cols[c * taps * ld..];
        if ow <= SLACK {
            // One block per line (small maps: most of the lines), the tap's lines sliced once.
            for (tap, &start) in starts.iter().enumerate() {
                let span = (oh - 1) * ow + SLACK;
                let dst = &mut block[tap * ld..tap * ld + span];
                let src = &plane[start..start + (oh - 1) * step + SLACK];
                for y in 0..oh {
                    dst[y * ow..y * ow + SLACK].copy_from_slice(&src[y * step..y * step + SLACK]);
                }
            }
            continue;
        }
        for_lines(
            g,
            &starts,
            oh,
            #[inline(always)]
            |tap, y, at| {
                // Lines are written in order, so the blocks' overshoot lands on lines not yet
                // written (or in the slack after the last one); it reads at most 15 values past
                // the line, inside the padded copy (next plane or slack).
                copy_blocks(&mut block[tap * ld + y * ow..], &plane[at..], ow);
            },
        );
    }
}

/// Adds the patch-matrix gradient `dcols` (`[c·kh·kw, oh·ow]`, rows `ld` apart) of one image
/// onto its image gradient `dx` (`[c, h, w]`, overwritten), through the padded scratch plane
/// `pad` (in the [`layout`]).
#[inline(always)]
fn col2im(g: &Geometry, dcols: &[f32], ld: usize, pad: &mut Vec<f32>, dx: &mut [f32]) {
    let Some((oh, ow)) = g.out() else { return };
    let (_, wq, row) = layout(g);
    let plane = plane_len(g);
    pad.clear();
    pad.resize(g.c * plane, 0.0);
    let taps = g.kh * g.kw;
    let starts = tap_starts(g);
    for c in 0..g.c {
        let plane = &mut pad[c * plane..(c + 1) * plane];
        let block = &dcols[c * taps * ld..];
        for_lines(
            g,
            &starts,
            oh,
            #[inline(always)]
            |tap, y, at| {
                let from = tap * ld + y * ow;
                // Slices first, so the loop runs without a bounds check per value.
                let (dst, src) = (&mut plane[at..at + ow], &block[from..from + ow]);
                for x in 0..ow {
                    dst[x] += src[x];
                }
            },
        );
    }
    let s = g.s[1].max(1);
    for c in 0..g.c {
        for y in 0..g.h {
            let from = c * plane + (y + g.p[0]) * row;
            let to = (c * g.h + y) * g.w;
            let dst = &mut dx[to..to + g.w];
            if s == 1 {
                dst.copy_from_slice(&pad[from + g.p[1]..from + g.p[1] + g.w]);
                continue;
            }
            if s == 2 {
                merge_pairs(&mut pad[from..from + row], dst, wq, g.p[1]);
                continue;
            }
            for (first, at, n) in phase_runs(g) {
                for (j, v) in pad[from + at..from + at + n].iter().enumerate() {
                    dst[first + j * s] = *v;
                }
            }
        }
    }
}

/// True for a 1×1 convolution with stride 1 and no padding: its patch matrix is the image.
fn pointwise(g: &Geometry) -> bool {
    g.kh == 1 && g.kw == 1 && g.s == [1, 1] && g.p == [0, 0]
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
    matmul_into(dst, [n, 1], accumulate, a, b, (m, n, k), pool);
}

/// `dst[m, n] = (accumulate ? dst : 0) + a[m, k] · b[k, n]`, with `dst`'s element `[i, j]` at
/// `i·strides[0] + j·strides[1]`.
fn matmul_into(
    dst: &mut [f32],
    strides: [usize; 2],
    accumulate: bool,
    a: Mat,
    b: Mat,
    (m, n, k): (usize, usize, usize),
    pool: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let out = Mat {
        v: &*dst,
        rs: strides[0],
        cs: strides[1],
    };
    // Checked here so the unchecked product below reads and writes only inside the slices.
    assert!(out.fits(m, n) && a.fits(m, k) && b.fits(k, n), "matrix sizes");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * strides[0] + j * strides[1]] = 0.0;
                }
            }
        }
        return;
    }
    let parallelism = if pool {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the assert above bounds every index gemm touches (dst, a and b are [m, n], [m, k]
    // and [k, n] views within their slices); the slices outlive the call, and dst does not
    // alias a or b (a `&mut` and two `&` borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            strides[1] as isize,
            strides[0] as isize,
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

/// Output positions below which images are multiplied in groups (see [`group`]).
const GROUP_POSITIONS: usize = 64;

/// How many images share one matrix product on the patch path: on small maps (fewer than
/// [`GROUP_POSITIONS`] output positions, e.g. 4×4 or 7×7) one image's product is too narrow for
/// gemm's widest micro-kernel (and the weight gradient's, summed over positions, too shallow), so
/// up to 8 images' patches stand side by side in one product — while keeping at least 8 groups
/// for the threads to share. 1 elsewhere (rows, pointwise and larger maps: as before).
fn group(g: &Geometry) -> usize {
    let np = g.positions();
    if np == 0 || np >= GROUP_POSITIONS || by_rows(g) || pointwise(g) {
        return 1;
    }
    GROUP_POSITIONS.div_ceil(np).min(8).min(g.b / 8).max(1)
}

/// The distance between rows of a group's patch matrix (and its output): the [`group`]'s
/// positions plus [`SLACK`] (the last image's copies overshoot into it), in whole 16-value
/// vectors.
fn group_ld(g: &Geometry) -> usize {
    (group(g) * g.positions() + SLACK).next_multiple_of(16)
}

/// Per-task scratch: the padded image, the patch (or row) matrix, and the output or its gradient
/// at the padded width (see [`by_rows`]).
#[derive(Default)]
struct Scratch {
    pad: Vec<f32>,
    cols: Vec<f32>,
    /// The output at the padded width (its thrown-away columns hold garbage).
    wide: Vec<f32>,
    /// The output gradient spread to the padded width (its thrown-away columns stay zero).
    spread: Vec<f32>,
    /// The geometry whose padded image `pad` holds (its zero borders are kept between images).
    padded_for: Option<Geometry>,
}

impl Scratch {
    /// [`pad_image`] into `pad` (at least `len` values), its borders zeroed only when it last
    /// held another geometry.
    #[inline(always)]
    fn pad_image(&mut self, g: &Geometry, x: &[f32], len: usize) {
        let fresh = self.padded_for != Some(*g);
        pad_image(g, x, &mut self.pad, len, fresh);
        self.padded_for = Some(*g);
    }

    /// The patch matrix of image `x` (`[c·kh·kw, positions]`): `x` itself for a pointwise
    /// convolution, else built in `cols`.
    #[inline(always)]
    fn patches<'a>(&'a mut self, g: &Geometry, x: &'a [f32]) -> &'a [f32] {
        if pointwise(g) {
            return x;
        }
        self.pad_image(g, x, 0);
        self.cols.resize(g.k() * g.positions() + SLACK, 0.0);
        im2col(g, &self.pad, &mut self.cols, g.positions());
        &self.cols
    }

    /// The patch matrix of a [`group`] of images `xs` side by side: `[c·kh·kw, n·positions]`
    /// with rows [`group_ld`] apart, image `i`'s patches in columns `i·positions…`.
    #[inline(always)]
    fn group_patches(&mut self, g: &Geometry, xs: &[f32]) -> &[f32] {
        let (n, np, ld) = (xs.len() / g.image(), g.positions(), group_ld(g));
        self.cols.resize(g.k() * ld + SLACK, 0.0);
        for (i, x) in xs.chunks_exact(g.image()).take(n).enumerate() {
            self.pad_image(g, x, 0);
            im2col(g, &self.pad, &mut self.cols[i * np..], ld);
        }
        &self.cols
    }

    /// The row matrix `R` (`[c·kh, row_len]`) of image `x`: line `(c, ki)` is the padded plane
    /// `c` read from row `ki·d` on (see [`by_rows`]).
    #[inline(always)]
    fn rows(&mut self, g: &Geometry, x: &[f32]) -> &[f32] {
        let (hp, wp) = padded(g);
        let len = row_len(g);
        // The last line reads `(kw − 1)·d` values past its plane: the next plane's first
        // values (only ever multiplied into thrown-away columns) or zeros after the last.
        self.pad_image(g, x, g.c * hp * wp + len);
        self.cols.resize(g.c * g.kh * len, 0.0);
        for c in 0..g.c {
            for ki in 0..g.kh {
                let from = c * hp * wp + ki * g.d[0] * wp;
                let to = (c * g.kh + ki) * len;
                self.cols[to..to + len].copy_from_slice(&self.pad[from..from + len]);
            }
        }
        &self.cols
    }
}

/// True when the convolution runs on whole rows of the padded image instead of patches: stride
/// 1 and a kernel wider or taller than one value. The output is computed at the padded width
/// (`oh × wp` positions, the `wp − ow` extra ones per row thrown away), so that shifting the
/// kernel by `kj` columns is shifting a whole row-matrix by `kj` values: with `R[(c, ki), ·]`
/// the padded plane `c` from row `ki` on (`c·kh` contiguous copies, a third of the patch
/// matrix's values and no per-line work), the convolution is `Σ_kj W[·, (c, ki), kj] ·
/// R[(c, ki), kj + ·]` — `kw` matrix products reading shifted views of `R`. The input gradient
/// is the same kind of convolution of the output gradient with the flipped kernel.
fn by_rows(g: &Geometry) -> bool {
    g.s == [1, 1] && g.kh * g.kw > 1 && rows_pay(g)
}

/// True when rows pay off against patches: at least 8 input and output channels (fewer input
/// channels make each of the `kw` products too shallow, `c·kh` deep; fewer output channels too
/// narrow) and at most 30 % thrown-away work (`wp ≤ 1.3·ow`: 3×3 kernels on maps 7 wide or
/// wider; on 4×4 maps patches are faster). Measured per part with `cargo run --release
/// --example op_timing conv` (docs/performance.md).
fn rows_pay(g: &Geometry) -> bool {
    g.c >= 8 && g.o >= 8 && g.out().is_some_and(|(_, ow)| 10 * padded(g).1 <= 13 * ow)
}

/// True when `g`'s input gradient runs as the [`flipped`] convolution on rows: when that
/// convolution itself runs on rows and its extra work over the zero border it adds (`h·wp`
/// positions against `oh·ow`) stays within 30 %.
fn input_grad_on_rows(g: &Geometry) -> Option<Geometry> {
    let t = flipped(g).filter(by_rows)?;
    let (oh, ow) = g.out()?;
    (10 * g.h * padded(&t).1 <= 13 * oh * ow).then_some(t)
}

/// The length of one line of the row matrix: the [`wide_positions`] plus the furthest column
/// shift.
fn row_len(g: &Geometry) -> usize {
    wide_positions(g) + (g.kw.max(1) - 1) * g.d[1]
}

/// Output positions computed on rows: `oh` rows at the padded width, rounded up to whole
/// 16-value vectors — gemm reads a position-major operand in place only when its length is a
/// multiple of the vector width, and copies (packs) it on every call otherwise.
fn wide_positions(g: &Geometry) -> usize {
    let (oh, _) = g.out().unwrap_or((0, 0));
    (oh * padded(g).1).next_multiple_of(16)
}

/// The convolution of one image on rows (see [`by_rows`]): `y` (`[o, oh·ow]`) from `x`
/// (`[c, h, w]`).
#[inline(always)]
fn forward_rows(
    g: &Geometry,
    scratch: &mut Scratch,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    pool: bool,
) {
    let Some((oh, ow)) = g.out() else { return };
    let (_, wp) = padded(g);
    let (k, len, nw) = (g.k(), row_len(g), wide_positions(g));
    let mut wide = std::mem::take(&mut scratch.wide);
    wide.resize(g.o * nw, 0.0);
    let rows = scratch.rows(g, x);
    for kj in 0..g.kw {
        // W[o, (c, ki), kj] is `weight[o·k + (c·kh + ki)·kw + kj]`.
        let a = Mat {
            v: &weight[kj..],
            rs: k,
            cs: g.kw,
        };
        let b = Mat {
            v: &rows[kj * g.d[1]..],
            rs: len,
            cs: 1,
        };
        matmul(&mut wide, kj > 0, a, b, (g.o, nw, g.c * g.kh), pool);
    }
    for o in 0..g.o {
        let add = bias.map_or(0.0, |b| b[o]);
        for r in 0..oh {
            let from = o * nw + r * wp;
            let to = (o * oh + r) * ow;
            // Slices first: without them the loop is scalar, a bounds check per value.
            let (dst, src) = (&mut y[to..to + ow], &wide[from..from + ow]);
            for x in 0..ow {
                dst[x] = src[x] + add;
            }
        }
    }
    scratch.wide = wide;
}

/// The weight gradient of one image on rows (see [`by_rows`]), added onto its transpose `dwt`
/// (`[c, kh, kw, o]`): `dWᵀ[(c, ki), kj, ·] += R[(c, ki), kj + ·] · dYᵀ`, with `dY` spread to
/// the padded width (zeros in the thrown-away columns, kept in `scratch.spread` between images).
#[inline(always)]
fn weight_grad_rows(g: &Geometry, scratch: &mut Scratch, x: &[f32], dy: &[f32], dwt: &mut [f32], pool: bool) {
    let Some((oh, ow)) = g.out() else { return };
    let (_, wp) = padded(g);
    let (len, nw) = (row_len(g), wide_positions(g));
    let mut wide = std::mem::take(&mut scratch.spread);
    if wide.len() != g.o * nw {
        wide.clear();
        wide.resize(g.o * nw, 0.0);
    }
    for o in 0..g.o {
        for r in 0..oh {
            let from = (o * oh + r) * ow;
            let to = o * nw + r * wp;
            wide[to..to + ow].copy_from_slice(&dy[from..from + ow]);
        }
    }
    let rows = scratch.rows(g, x);
    for kj in 0..g.kw {
        let a = Mat {
            v: &rows[kj * g.d[1]..],
            rs: len,
            cs: 1,
        };
        matmul_into(
            &mut dwt[kj * g.o..],
            [g.kw * g.o, 1],
            true,
            a,
            Mat::transposed(&wide, nw),
            (g.c * g.kh, g.o, nw),
            pool,
        );
    }
    scratch.spread = wide;
}

/// The convolution whose forward pass is `g`'s input gradient, for stride 1 and padding within
/// the kernel's reach: the output gradient as input, channels swapped, padding `reach − p` (use
/// with [`flip_weight`]).
fn flipped(g: &Geometry) -> Option<Geometry> {
    let (oh, ow) = g.out()?;
    let reach = |k: usize, i: usize| (k.max(1) - 1) * g.d[i];
    (g.s == [1, 1]).then_some(())?;
    Some(Geometry {
        b: g.b,
        c: g.o,
        h: oh,
        w: ow,
        o: g.c,
        kh: g.kh,
        kw: g.kw,
        s: [1, 1],
        p: [reach(g.kh, 0).checked_sub(g.p[0])?, reach(g.kw, 1).checked_sub(g.p[1])?],
        d: g.d,
    })
}

/// `g`'s weight flipped in both kernel axes, with its channel axes swapped (`[c, o, kh, kw]`):
/// the weight of [`flipped`].
fn flip_weight(g: &Geometry, weight: &[f32]) -> Vec<f32> {
    let taps = g.kh * g.kw;
    let mut w = vec![0.0; weight.len()];
    for o in 0..g.o {
        for c in 0..g.c {
            for tap in 0..taps {
                w[(c * g.o + o) * taps + (taps - 1 - tap)] = weight[(o * g.c + c) * taps + tap];
            }
        }
    }
    w
}

/// The convolution of `x` (`[b, c, h, w]`) with `weight` (`[o, c, kh, kw]`) plus `bias` (`[o]`):
/// `[b, o, oh, ow]`, row-major.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    if np == 0 || g.b == 0 {
        return vec![0.0; g.b * g.o * np];
    }
    let pool = !per_image(g);
    let rows = by_rows(g);
    let per = group(g);
    let blocked = direct(g).then(|| super::direct::blocked_weight(g.o, g.c, g.kh * g.kw, weight));
    let one = |scratch: &mut Scratch, (y, x): (&mut [f32], &[f32])| {
        super::math::simd(
            #[inline(always)]
            || {
                if let Some(w) = &blocked {
                    forward_direct(g, scratch, x, w, bias, y);
                    return;
                }
                if rows {
                    forward_rows(g, scratch, x, weight, bias, y, pool);
                    return;
                }
                if per > 1 && !direct(g) {
                    forward_group(g, scratch, x, weight, bias, y, pool);
                    return;
                }
                let cols = scratch.patches(g, x);
                matmul(y, false, Mat::rows(weight, k), Mat::rows(cols, np), (g.o, np, k), pool);
                if let Some(bias) = bias {
                    for (row, b) in y.chunks_mut(np).zip(bias) {
                        row.iter_mut().for_each(|v| *v += b);
                    }
                }
            },
        )
    };
    // Every slot below is covered only when `x` holds all `b` images.
    assert_eq!(x.len(), g.b * g.image(), "convolution input size");
    let mut out = Pending::new(g.b * g.o * np);
    let per = if blocked.is_some() { 1 } else { per };
    out.slots()
        .par_chunks_mut(per * g.o * np)
        .zip(x.par_chunks(per * g.image()))
        .for_each_init(Scratch::default, |scratch, (y, x)| one(scratch, (zeroed(y), x)));
    // SAFETY: one piece per group of images covers every slot, each zero-filled by `zeroed`.
    unsafe { out.done() }
}

/// True when the convolution runs direct ([`super::direct`]): output channels in whole blocks
/// of 16.
fn direct(g: &Geometry) -> bool {
    super::direct::available()
        && g.k() >= 48
        && g.o.is_multiple_of(super::direct::LANES)
        && g.o > 0
        && g.c > 0
        && g.positions() > 0
        && !pointwise(g)
}

/// True when the weight gradient runs direct ([`super::direct::weight_grad`]): output channels
/// in blocks of 16 and a 2×2, 3×3 or 5×5 kernel.
fn direct_grad(g: &Geometry) -> bool {
    direct(g) && super::direct::grad_taps_supported(g.kh * g.kw)
}

/// The weight gradient direct (see [`direct_grad`]): parts of `per` images in parallel, each
/// part's images padded side by side and their output gradients in blocks of 16 channels, the
/// parts' sums added in order (the same result on every run).
fn weight_grad_direct(g: &Geometry, x: &[f32], dy: &[f32], per: usize) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    let Some((oh, ow)) = g.out() else {
        return vec![0.0; g.o * k];
    };
    let image = g.c * plane_len(g) + SLACK;
    let starts = tap_starts(g);
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per * g.image())
        .zip(dy.par_chunks(per * g.o * np))
        .map(|(x, dy)| {
            let n = x.len() / g.image();
            let mut scratch = Scratch::default();
            let mut pads = vec![0.0; n * image];
            let mut dyt = Vec::with_capacity(n * g.o * np);
            for (i, (x, dy)) in x.chunks_exact(g.image()).zip(dy.chunks_exact(g.o * np)).enumerate() {
                scratch.pad_image(g, x, 0);
                pads[i * image..(i + 1) * image].copy_from_slice(&scratch.pad[..image]);
                super::direct::transpose_blocks(dy, g.o, np, &mut dyt);
            }
            let plan = super::direct::GradPlan {
                input: direct_plan(g, &pads, &starts, (oh, ow)),
                image,
                n,
                dyt: &dyt,
                o: g.o,
            };
            let mut dw = vec![0.0; g.o * k];
            super::direct::weight_grad(&plan, &mut dw);
            dw
        })
        .collect();
    let mut dw = vec![0.0; g.o * k];
    for part in partial {
        dw.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    dw
}

/// What the direct kernels read of a padded image (or images, one after another) `pad` of `g`:
/// its planes, the taps' [`tap_starts`] and the output size.
fn direct_plan<'a>(
    g: &Geometry,
    pad: &'a [f32],
    starts: &'a [usize],
    (oh, ow): (usize, usize),
) -> super::direct::Plan<'a> {
    super::direct::Plan {
        pad,
        plane: plane_len(g),
        c: g.c,
        starts,
        step: g.s[0] * layout(g).2,
        oh,
        ow,
    }
}

/// One image's convolution, direct (see [`direct`]).
#[inline(always)]
fn forward_direct(g: &Geometry, scratch: &mut Scratch, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let Some((oh, ow)) = g.out() else { return };
    scratch.pad_image(g, x, 0);
    let starts = tap_starts(g);
    super::direct::forward_image(&direct_plan(g, &scratch.pad, &starts, (oh, ow)), w, bias, y);
}

/// The convolution of a [`group`] of images `xs` in one product: `ys` (`[n, o, positions]`)
/// from the group's patches side by side.
#[inline(always)]
fn forward_group(
    g: &Geometry,
    scratch: &mut Scratch,
    xs: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    ys: &mut [f32],
    pool: bool,
) {
    let (k, np, ld) = (g.k(), g.positions(), group_ld(g));
    let n = xs.len() / g.image();
    let mut wide = std::mem::take(&mut scratch.wide);
    wide.resize(g.o * ld, 0.0);
    let cols = scratch.group_patches(g, xs);
    let b = Mat { v: cols, rs: ld, cs: 1 };
    matmul_into(
        &mut wide,
        [ld, 1],
        false,
        Mat::rows(weight, k),
        b,
        (g.o, n * np, k),
        pool,
    );
    for (i, y) in ys.chunks_exact_mut(g.o * np).take(n).enumerate() {
        for (o, row) in y.chunks_exact_mut(np).enumerate() {
            let add = bias.map_or(0.0, |b| b[o]);
            let src = &wide[o * ld + i * np..o * ld + (i + 1) * np];
            for (d, s) in row.iter_mut().zip(src) {
                *d = s + add;
            }
        }
    }
    scratch.wide = wide;
}

/// The output gradients `dys` (`[n, o, positions]`) of a [`group`] of images side by side in
/// `dst` (`[o, n·positions]`, rows [`group_ld`] apart).
#[inline(always)]
fn gather_group(g: &Geometry, dys: &[f32], dst: &mut Vec<f32>) {
    let (np, ld) = (g.positions(), group_ld(g));
    dst.resize(g.o * ld, 0.0);
    for (i, dy) in dys.chunks_exact(g.o * np).enumerate() {
        for (o, row) in dy.chunks_exact(np).enumerate() {
            dst[o * ld + i * np..o * ld + (i + 1) * np].copy_from_slice(row);
        }
    }
}

/// The weight gradient `Σ_b dY_b · colsᵀ_b` (`[o, c, kh, kw]`) from the input `x` and the output
/// gradient `dy` (`[b, o, oh, ow]`). Summed as its transpose `Σ_b cols_b · dY_bᵀ` and turned
/// round at the end: gemm runs along the destination's contiguous axis and copies (packs) the
/// operand that runs along it when that operand is not contiguous the same way — packing `dY`
/// (`o` rows) costs `c·kh·kw / o` times less than packing the patches.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    if np == 0 || g.b == 0 {
        return vec![0.0; g.o * k];
    }
    let pool = !per_image(g);
    // A fixed split of the images (not rayon's adaptive one), partial sums added in order: the
    // same gradient on every run and at every thread count.
    let per = g.b.div_ceil(PARTS);
    if direct_grad(g) {
        return weight_grad_direct(g, x, dy, per);
    }
    let partial: Vec<Vec<f32>> = x
        .par_chunks(per * g.image())
        .zip(dy.par_chunks(per * g.o * np))
        .map(|(x, dy)| {
            super::math::simd(
                #[inline(always)]
                || {
                    let (mut dwt, mut scratch) = (vec![0.0; k * g.o], Scratch::default());
                    let n = group(g);
                    if n > 1 {
                        let ld = group_ld(g);
                        for (xs, dys) in x.chunks(n * g.image()).zip(dy.chunks(n * g.o * np)) {
                            let mut dyg = std::mem::take(&mut scratch.spread);
                            gather_group(g, dys, &mut dyg);
                            let cols = scratch.group_patches(g, xs);
                            let a = Mat { v: cols, rs: ld, cs: 1 };
                            let m = xs.len() / g.image() * np;
                            matmul(&mut dwt, true, a, Mat::transposed(&dyg, ld), (k, g.o, m), pool);
                            scratch.spread = dyg;
                        }
                        return dwt;
                    }
                    for (x, dy) in x.chunks(g.image()).zip(dy.chunks(g.o * np)) {
                        if by_rows(g) {
                            weight_grad_rows(g, &mut scratch, x, dy, &mut dwt, pool);
                            continue;
                        }
                        let cols = scratch.patches(g, x);
                        matmul(
                            &mut dwt,
                            true,
                            Mat::rows(cols, np),
                            Mat::transposed(dy, np),
                            (k, g.o, np),
                            pool,
                        );
                    }
                    dwt
                },
            )
        })
        .collect();
    let mut dwt = vec![0.0; k * g.o];
    for part in partial {
        dwt.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
    }
    let mut dw = vec![0.0; g.o * k];
    for i in 0..k {
        for o in 0..g.o {
            dw[o * k + i] = dwt[i * g.o + o];
        }
    }
    dw
}

/// The input gradient `col2im(Wᵀ · dY_b)` (`[b, c, h, w]`) from the weight and the output
/// gradient `dy`.
pub fn input_grad(g: &Geometry, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, np) = (g.k(), g.positions());
    // As the flipped convolution: on rows when that pays, and on maps under 8 wide, where its
    // patch lines are whole-vector copies and `col2im`'s additions would be scalar.
    let narrow = |t: &Geometry| t.kh * t.kw > 1 && t.out().is_some_and(|(_, ow)| ow < 8);
    let as_flipped = input_grad_on_rows(g).or_else(|| flipped(g).filter(narrow));
    if let Some(t) = as_flipped.filter(|_| np > 0 && g.b > 0) {
        return forward(&t, dy, &flip_weight(g, weight), None);
    }
    if np == 0 || g.b == 0 {
        return vec![0.0; g.b * g.image()];
    }
    let pool = !per_image(g);
    let per = group(g);
    let one = |scratch: &mut Scratch, (dx, dy): (&mut [f32], &[f32])| {
        super::math::simd(
            #[inline(always)]
            || {
                if per > 1 {
                    input_grad_group(g, scratch, weight, dy, dx, pool);
                    return;
                }
                let product = |dst: &mut [f32]| {
                    matmul(
                        dst,
                        false,
                        Mat::transposed(weight, k),
                        Mat::rows(dy, np),
                        (k, np, g.o),
                        pool,
                    );
                };
                if pointwise(g) {
                    product(dx);
                } else {
                    scratch.cols.resize(k * np, 0.0);
                    product(&mut scratch.cols);
                    // col2im sums into `pad`: it no longer holds a padded image.
                    scratch.padded_for = None;
                    col2im(g, &scratch.cols, np, &mut scratch.pad, dx);
                }
            },
        )
    };
    // Every slot below is covered only when `dy` holds all `b` images' gradients.
    assert_eq!(dy.len(), g.b * g.o * np, "convolution output gradient size");
    let mut dx = Pending::new(g.b * g.image());
    dx.slots()
        .par_chunks_mut(per * g.image())
        .zip(dy.par_chunks(per * g.o * np))
        .for_each_init(Scratch::default, |scratch, (dx, dy)| one(scratch, (zeroed(dx), dy)));
    // SAFETY: one piece per group of images covers every slot, each zero-filled by `zeroed`.
    unsafe { dx.done() }
}

/// The input gradients `dxs` (`[n, c, h, w]`) of a [`group`] of images in one product: the
/// group's patch-matrix gradient `Wᵀ · dY` side by side, then `col2im` per image.
#[inline(always)]
fn input_grad_group(g: &Geometry, scratch: &mut Scratch, weight: &[f32], dys: &[f32], dxs: &mut [f32], pool: bool) {
    let (k, np, ld) = (g.k(), g.positions(), group_ld(g));
    let n = dys.len() / (g.o * np);
    let mut dyg = std::mem::take(&mut scratch.spread);
    gather_group(g, dys, &mut dyg);
    scratch.cols.resize(k * ld, 0.0);
    let b = Mat { v: &dyg, rs: ld, cs: 1 };
    matmul_into(
        &mut scratch.cols,
        [ld, 1],
        false,
        Mat::transposed(weight, k),
        b,
        (k, n * np, g.o),
        pool,
    );
    // col2im sums into `pad`: it no longer holds a padded image.
    scratch.padded_for = None;
    for (i, dx) in dxs.chunks_exact_mut(g.image()).take(n).enumerate() {
        col2im(g, &scratch.cols[i * np..], ld, &mut scratch.pad, dx);
    }
    scratch.spread = dyg;
}

/// The bias gradient: `dy` (`[b, o, positions]`) summed over images and positions, per output
/// channel.
pub fn bias_grad(o: usize, positions: usize, dy: &[f32]) -> Vec<f32> {
    let mut db = vec![0.0; o];
    if positions == 0 {
        return db;
    }
    super::math::simd(
        #[inline(always)]
        || {
            // 16-lane sums (`Iterator::sum` over f32 is one serial chain).
            for image in 0..dy.len() / (o * positions) {
                for (ch, d) in db.iter_mut().enumerate() {
                    let at = (image * o + ch) * positions;
                    *d += super::math::sum(&dy[at..at + positions]);
                }
            }
        },
    );
    db
}
