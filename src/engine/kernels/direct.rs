//! Direct convolution for output channels in blocks of 16: no patch matrix and no general
//! matrix product. Each task keeps a tile of output positions × 16 output channels in vector
//! registers and, for every input channel and kernel tap, adds one input value (broadcast) times
//! the 16 channels' weights (one vector) to each position — the scheme oneDNN uses on the CPU.
//! On small maps (ResNet's 7×7 and 4×4 stages) a patch matrix is mostly copying and its
//! products are too small for gemm's blocking to pay; here every value read feeds 16 or more
//! multiply-adds.
//!
//! The input is read from the padded copy of [`super::conv`]'s layout (columns split by their
//! phase modulo the stride), so the values a tap needs along an output row are contiguous for
//! any stride.

/// Output channels per block: one AVX-512 vector (two AVX2 vectors).
pub const LANES: usize = 16;

/// The most accumulator vectors a tile keeps (of 32 AVX-512 registers: the rest hold the
/// weights and the broadcast value).
const MAX_TILE: usize = 16;

/// The weight `[o, c, kh, kw]` laid out as `[o/16, c, kh·kw, 16]`: the 16 channels of a block
/// for one input channel and tap are one contiguous vector.
pub fn blocked_weight(o: usize, c: usize, taps: usize, weight: &[f32]) -> Vec<f32> {
    let mut w = vec![0.0; o * c * taps];
    for oc in 0..o {
        let (block, lane) = (oc / LANES, oc % LANES);
        for ci in 0..c {
            for t in 0..taps {
                w[((block * c + ci) * taps + t) * LANES + lane] = weight[(oc * c + ci) * taps + t];
            }
        }
    }
    w
}

/// Where one image's convolution reads and writes.
pub struct Plan<'a> {
    /// The padded image, `c` planes of `plane` values.
    pub pad: &'a [f32],
    /// Values per padded plane.
    pub plane: usize,
    /// Input channels.
    pub c: usize,
    /// Offset of every kernel tap's first value in a plane (for output position (0, 0)).
    pub starts: &'a [usize],
    /// Distance in a plane between the inputs of two consecutive output rows (those of two
    /// consecutive output columns are next to each other: the phase layout makes strided
    /// columns contiguous).
    pub step: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

/// One image's convolution: `y` (`[o, oh·ow]`) from the plan's padded image and the
/// [`blocked_weight`] `w`, plus `bias` (`[o]`). `o` must be a multiple of [`LANES`].
#[inline(always)]
pub fn forward_image(p: &Plan, w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let np = p.oh * p.ow;
    let taps = p.starts.len();
    let blocks = y.len() / (LANES * np);
    // Every read below is at most this far into the padded image.
    let reach = (p.c - 1) * p.plane + p.starts.iter().max().copied().unwrap_or(0) + (p.oh - 1) * p.step + p.ow;
    assert!(reach <= p.pad.len(), "padded image too short");
    assert!(w.len() >= blocks * p.c * taps * LANES, "blocked weight too short");
    // Columns per tile, and rows: as many as fit the accumulators.
    let cols = p.ow.min(16);
    let rows = (MAX_TILE / cols).clamp(1, 4);
    for block in 0..blocks {
        let wb = &w[block * p.c * taps * LANES..(block + 1) * p.c * taps * LANES];
        let mut b = [0.0f32; LANES];
        if let Some(bias) = bias {
            b.copy_from_slice(&bias[block * LANES..(block + 1) * LANES]);
        }
        let yb = &mut y[block * LANES * np..(block + 1) * LANES * np];
        let mut y0 = 0;
        while y0 < p.oh {
            let r = rows.min(p.oh - y0);
            let mut x0 = 0;
            while x0 < p.ow {
                let t = cols.min(p.ow - x0);
                tile(p, wb, &b, yb, (y0, x0), (r, t));
                x0 += t;
            }
            y0 += r;
        }
    }
}

/// Dispatches a tile of `r` rows × `t` columns to the kernel compiled for that size.
#[inline(always)]
fn tile(p: &Plan, w: &[f32], b: &[f32; LANES], y: &mut [f32], at: (usize, usize), (r, t): (usize, usize)) {
    macro_rules! sizes {
        ($($r:literal, $t:literal);*) => {
            match (r, t) {
                $(($r, $t) => tile_of::<$r, $t>(p, w, b, y, at),)*
                _ => {
                    for dy in 0..r {
                        for dx in 0..t {
                            tile_of::<1, 1>(p, w, b, y, (at.0 + dy, at.1 + dx));
                        }
                    }
                }
            }
        };
    }
    // Every size the tiling above makes: `t ≤ min(ow, 16)`, `r ≤ MAX_TILE / t` (at most 4).
    sizes!(
        1, 1; 1, 2; 1, 3; 1, 4; 1, 5; 1, 6; 1, 7; 1, 8; 1, 9; 1, 10; 1, 11; 1, 12; 1, 13; 1, 14; 1, 15; 1, 16;
        2, 1; 2, 2; 2, 3; 2, 4; 2, 5; 2, 6; 2, 7; 2, 8;
        3, 1; 3, 2; 3, 3; 3, 4; 3, 5;
        4, 1; 4, 2; 4, 3; 4, 4
    );
}

/// `R × T` output positions from `at` (row, column), 16 channels: `R·T` vector accumulators.
#[inline(always)]
fn tile_of<const R: usize, const T: usize>(p: &Plan, w: &[f32], b: &[f32; LANES], y: &mut [f32], at: (usize, usize)) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available()` (checked by every caller, through `conv::direct`) found AVX-512F.
        unsafe { tile_avx512::<R, T>(p, w, b, y, at) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, w, b, y, at);
        unreachable!("the direct convolution runs only where `available()`");
    }
}

/// True where the direct convolution can run: AVX-512F (32 vector registers of 16 values, the
/// accumulators of a tile; checked at run time).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`tile_of`] in AVX-512 intrinsics: one function per tile size, its accumulators in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline(never)]
unsafe fn tile_avx512<const R: usize, const T: usize>(
    p: &Plan,
    w: &[f32],
    b: &[f32; LANES],
    y: &mut [f32],
    (y0, x0): (usize, usize),
) {
    use std::arch::x86_64::*;
    let np = p.oh * p.ow;
    // The last tile's stores reach this far into `y`, the last weight vector this far into `w`.
    assert!(15 * np + (y0 + R - 1) * p.ow + x0 + T <= y.len() && p.c * p.starts.len() * LANES <= w.len());
    // SAFETY (all loads and stores below): `b` is 16 values; the weight vectors lie within `w`
    // (asserted above); every input read is inside `pad` (`forward_image` checked the furthest);
    // every output written is inside `y` (asserted above).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); T]; R];
        let pad = p.pad.as_ptr().add(y0 * p.step + x0);
        let (step, plane) = (p.step, p.plane);
        let mut wp = w.as_ptr();
        for c in 0..p.c {
            let pl = pad.add(c * plane);
            for &start in p.starts {
                let wv = _mm512_loadu_ps(wp);
                wp = wp.add(LANES);
                let base = pl.add(start);
                #[allow(clippy::needless_range_loop)]
                for r in 0..R {
                    for t in 0..T {
                        acc[r][t] = _mm512_fmadd_ps(_mm512_set1_ps(*base.add(r * step + t)), wv, acc[r][t]);
                    }
                }
            }
        }
        // Out of the registers first in a loop of fixed trip counts (fully unrolled, so the
        // accumulators never live in memory), then scattered to the output's channel planes.
        let bias = _mm512_loadu_ps(b.as_ptr());
        let mut tile = [[[0.0f32; LANES]; T]; R];
        #[allow(clippy::needless_range_loop)]
        for r in 0..R {
            for t in 0..T {
                _mm512_storeu_ps(tile[r][t].as_mut_ptr(), _mm512_add_ps(acc[r][t], bias));
            }
        }
        let out = y.as_mut_ptr();
        for (r, row) in tile.iter().enumerate() {
            let at = (y0 + r) * p.ow + x0;
            for (t, lanes) in row.iter().enumerate() {
                for (l, v) in lanes.iter().enumerate() {
                    *out.add(l * np + at + t) = *v;
                }
            }
        }
    }
}

/// The kernel sizes (`kh·kw`) the direct weight gradient is compiled for.
pub fn grad_taps_supported(taps: usize) -> bool {
    matches!(taps, 4 | 9 | 25)
}

/// One image's output gradient `[o, positions]` as `[o/16, positions, 16]` (the 16 channels of
/// a block at one position are one vector), appended to `out`.
pub fn transpose_blocks(dy: &[f32], o: usize, np: usize, out: &mut Vec<f32>) {
    let from = out.len();
    out.resize(from + o * np, 0.0);
    let dst = &mut out[from..];
    for oc in 0..o {
        let (block, lane) = (oc / LANES, oc % LANES);
        let src = &dy[oc * np..(oc + 1) * np];
        let base = block * np * LANES + lane;
        for (p, v) in src.iter().enumerate() {
            dst[base + p * LANES] = *v;
        }
    }
}

/// What the direct weight gradient reads: `n` padded images, `image` values apart (the first
/// in `input`, whose `pad` holds them all), and their output gradients from
/// [`transpose_blocks`].
pub struct GradPlan<'a> {
    /// The first image's geometry; its `pad` runs on through the others.
    pub input: Plan<'a>,
    /// Values per padded image.
    pub image: usize,
    /// Images.
    pub n: usize,
    /// The images' output gradients, `[n, o/16, positions, 16]`.
    pub dyt: &'a [f32],
    /// Output channels.
    pub o: usize,
}

/// The weight gradient summed over the plan's images, `[o, c, kh·kw]`, added onto `dw`. The
/// kernel size must be one [`grad_taps_supported`] and `o` a multiple of 16.
pub fn weight_grad(p: &GradPlan, dw: &mut [f32]) {
    let taps = p.input.starts.len();
    let np = p.input.oh * p.input.ow;
    assert!(p.o.is_multiple_of(LANES) && dw.len() >= p.o * p.input.c * taps && p.dyt.len() >= p.n * p.o * np);
    let reach = (p.n.max(1) - 1) * p.image
        + (p.input.c.max(1) - 1) * p.input.plane
        + p.input.starts.iter().max().copied().unwrap_or(0)
        + (p.input.oh.max(1) - 1) * p.input.step
        + p.input.ow;
    assert!(reach <= p.input.pad.len(), "padded images too short");
    let mut sums = vec![[0.0f32; LANES]; taps];
    for block in 0..p.o / LANES {
        for c in 0..p.input.c {
            match taps {
                4 => grad_of::<4>(p, block, c, &mut sums),
                9 => grad_of::<9>(p, block, c, &mut sums),
                25 => grad_of::<25>(p, block, c, &mut sums),
                _ => unreachable!("kernel sizes are checked by `grad_taps_supported`"),
            }
            for (tap, lanes) in sums.iter().enumerate() {
                for (l, v) in lanes.iter().enumerate() {
                    dw[((block * LANES + l) * p.input.c + c) * taps + tap] += v;
                }
            }
        }
    }
}

/// The `K` taps' gradients of input channel `c` for output block `block`, into `sums`.
#[inline(always)]
fn grad_of<const K: usize>(p: &GradPlan, block: usize, c: usize, sums: &mut [[f32; LANES]]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: callers run this only where `available()` found AVX-512F.
        unsafe { grad_avx512::<K>(p, block, c, sums) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, block, c, sums);
        unreachable!("the direct convolution runs only where `available()`");
    }
}

/// [`grad_of`] in AVX-512 intrinsics: `K` accumulators (one per tap, 16 output channels each),
/// each position's output-gradient vector times the `K` input values under the kernel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline(never)]
unsafe fn grad_avx512<const K: usize>(p: &GradPlan, block: usize, c: usize, sums: &mut [[f32; LANES]]) {
    use std::arch::x86_64::*;
    let np = p.input.oh * p.input.ow;
    let mut offs = [0usize; K];
    offs.copy_from_slice(&p.input.starts[..K]);
    assert!(sums.len() >= K);
    // SAFETY: `weight_grad` checked that the furthest input value read lies inside `pads` and
    // that `dyt` holds every image's `[o/16, positions, 16]` gradient.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); K];
        for i in 0..p.n {
            let x = p.input.pad.as_ptr().add(i * p.image + c * p.input.plane);
            let dy = p.dyt.as_ptr().add((i * (p.o / LANES) + block) * np * LANES);
            for y in 0..p.input.oh {
                let row = x.add(y * p.input.step);
                let drow = dy.add(y * p.input.ow * LANES);
                for xo in 0..p.input.ow {
                    let dv = _mm512_loadu_ps(drow.add(xo * LANES));
                    let px = row.add(xo);
                    #[allow(clippy::needless_range_loop)]
                    for k in 0..K {
                        acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(*px.add(offs[k])), dv, acc[k]);
                    }
                }
            }
        }
        #[allow(clippy::needless_range_loop)]
        for k in 0..K {
            _mm512_storeu_ps(sums[k].as_mut_ptr(), acc[k]);
        }
    }
}
