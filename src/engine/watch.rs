//! Activation tiles: what a watched node's output looks like, small enough to send every few steps.

use super::value::Value;
use serde::{Deserialize, Serialize};

/// Most feature maps in one tile.
pub const MAX_MAPS: usize = 16;
/// Largest feature map side sent (larger maps are subsampled).
pub const MAX_SIDE: usize = 64;
/// Histogram bins.
pub const BINS: usize = 32;

/// A picture of one node's output for the first example of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Tile {
    /// Per-channel feature maps of a `[B, C, H, W]` output, each scaled to 0–255.
    FeatureMaps {
        /// Channels shown (≤ [`MAX_MAPS`]).
        channels: usize,
        /// Map height.
        height: usize,
        /// Map width.
        width: usize,
        /// `channels × height × width` bytes.
        pixels: Vec<u8>,
    },
    /// Distribution of the values of any other output.
    Histogram {
        /// Smallest value.
        min: f32,
        /// Largest value.
        max: f32,
        /// Counts per bin from `min` to `max`.
        counts: Vec<u32>,
    },
}

/// Reads the first example of `v` back and summarises it. Costs one device read.
pub fn tile_of(v: &Value) -> Option<Tile> {
    let dims = v.dims();
    let data: Vec<f32> = match v {
        Value::F1(t) => t.clone().into_data().iter::<f32>().collect(),
        Value::F2(t) => t.clone().narrow(0, 0, 1).into_data().iter::<f32>().collect(),
        Value::F3(t) => t.clone().narrow(0, 0, 1).into_data().iter::<f32>().collect(),
        Value::F4(t) => {
            let c = dims[1].min(MAX_MAPS);
            t.clone()
                .narrow(0, 0, 1)
                .narrow(1, 0, c)
                .into_data()
                .iter::<f32>()
                .collect()
        }
        _ => return None,
    };
    if let (Value::F4(_), [_, c, h, w]) = (v, dims.as_slice()) {
        let c = (*c).min(MAX_MAPS);
        let step = h.max(w).div_ceil(MAX_SIDE).max(1);
        let (oh, ow) = (h.div_ceil(step), w.div_ceil(step));
        let mut pixels = Vec::with_capacity(c * oh * ow);
        for ch in 0..c {
            let map = &data[ch * h * w..(ch + 1) * h * w];
            let (lo, hi) = map.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
            for y in (0..*h).step_by(step) {
                for x in (0..*w).step_by(step) {
                    pixels.push(((map[y * w + x] - lo) * scale).clamp(0.0, 255.0) as u8);
                }
            }
        }
        return Some(Tile::FeatureMaps {
            channels: c,
            height: oh,
            width: ow,
            pixels,
        });
    }
    let finite: Vec<f32> = data.into_iter().filter(|x| x.is_finite()).collect();
    let (min, max) = finite
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    let mut counts = vec![0u32; BINS];
    if !finite.is_empty() {
        let width = ((max - min) / BINS as f32).max(f32::MIN_POSITIVE);
        for x in &finite {
            let b = (((x - min) / width) as usize).min(BINS - 1);
            counts[b] += 1;
        }
    }
    Some(Tile::Histogram { min, max, counts })
}
