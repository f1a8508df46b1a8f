//! Sample pictures of a supervised run: validation images framed by whether the model is right.

use super::Supervised;
use crate::data::Target;
use crate::engine::RunError;
use crate::telemetry::Picture;

impl Supervised {
    /// A picture of the first validation images (up to `n`), framed green where the model is
    /// right and red where it is wrong; for segmentation the predicted mask is shown beside each
    /// image. `None` for data that are not images.
    pub fn samples(&self, n: usize) -> Result<Option<Picture>, RunError> {
        if self.ex.data.shape.len() != 3 {
            return Ok(None);
        }
        let (model, device) = self.inference()?;
        let idx: Vec<usize> = self.ex.split.val.iter().copied().take(n.max(1)).collect();
        let (raw, dims) = self.ex.data.batch_features(&idx, self.ex.pad);
        let pred = self.predict(&model, &idx, &device)?;
        let (c, h, w) = (dims[1], dims[2], dims[3]);
        let segmentation = matches!(self.ex.data.target, Target::Masks(_));
        let obj = self.objective(pred, &idx, &device)?;
        let (pred_cls, truth_cls): (Vec<i64>, Vec<i64>) = match obj.predicted {
            Some((p, t)) => (
                p.into_data().iter::<i64>().collect(),
                t.into_data().iter::<i64>().collect(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let cell_w = if segmentation { 2 * w + 6 } else { w + 4 };
        let cell_h = h + 4;
        let cols = 8.min(idx.len());
        let rows = idx.len().div_ceil(cols);
        let (gw, gh) = (cols * cell_w, rows * cell_h);
        let mut rgb = vec![32u8; gw * gh * 3];
        let mut put = |x: usize, y: usize, px: [u8; 3]| {
            if x < gw && y < gh {
                let o = (y * gw + x) * 3;
                rgb[o..o + 3].copy_from_slice(&px);
            }
        };
        let palette = [
            [0u8, 0, 0],
            [230, 80, 60],
            [70, 160, 240],
            [250, 200, 60],
            [120, 220, 120],
        ];
        for (k, _) in idx.iter().enumerate() {
            let (ox, oy) = ((k % cols) * cell_w, (k / cols) * cell_h);
            let ok = if segmentation {
                let per = h * w;
                let (p, t) = (&pred_cls[k * per..(k + 1) * per], &truth_cls[k * per..(k + 1) * per]);
                p.iter().zip(t).filter(|(a, b)| a == b).count() * 10 >= per * 9
            } else {
                pred_cls.get(k) == truth_cls.get(k) && !pred_cls.is_empty()
            };
            let frame = if ok { [60, 200, 90] } else { [230, 60, 60] };
            for y in 0..cell_h {
                for x in 0..cell_w.min(w + 4 + if segmentation { w + 2 } else { 0 }) {
                    if x < 2 || y < 2 || y >= h + 2 || x >= cell_w - 2 {
                        put(ox + x, oy + y, frame);
                    }
                }
            }
            for y in 0..h {
                for x in 0..w {
                    let base = k * c * h * w;
                    let px = if c >= 3 {
                        let g = |ch: usize| (raw[base + ch * h * w + y * w + x] * 255.0) as u8;
                        [g(0), g(1), g(2)]
                    } else {
                        let v = (raw[base + y * w + x] * 255.0) as u8;
                        [v, v, v]
                    };
                    put(ox + 2 + x, oy + 2 + y, px);
                    if segmentation {
                        let cls = usize::try_from(pred_cls[k * h * w + y * w + x]).unwrap_or(0);
                        put(ox + w + 4 + x, oy + 2 + y, palette[cls % palette.len()]);
                    }
                }
            }
        }
        Ok(Some(Picture {
            width: gw,
            height: gh,
            rgb,
        }))
    }

    /// For a vision transformer (its last self-attention runs over a class token and a square
    /// grid of patches, as the attention probe records): where the class token looks there, averaged over heads, for the first validation
    /// images (up to `n`) — each image beside its patch grid's heat map (brighter: more
    /// attention). `None` for other graphs.
    pub fn class_attention(&self, n: usize) -> Result<Option<Picture>, RunError> {
        if self.ex.data.shape.len() != 3 {
            return Ok(None);
        }
        let (model, device) = self.inference()?;
        let idx: Vec<usize> = self.ex.split.val.iter().copied().take(n.max(1)).collect();
        let (out, maps) = crate::engine::record_attention(|| self.predict(&model, &idx, &device));
        out?;
        // The last self-attention over [class token, patches], patches a square grid.
        let Some(map) = maps.iter().rev().find(|m| {
            let [_, _, tq, tk] = m.dims();
            let side = ((tk.saturating_sub(1)) as f64).sqrt().round() as usize;
            tq == tk && side > 0 && side * side + 1 == tk
        }) else {
            return Ok(None);
        };
        let [b, _, _, tk] = map.dims();
        let side = ((tk - 1) as f64).sqrt().round() as usize;
        // Row 0 (the class token) over the patches, mean over heads: [B, patches].
        let row = map
            .clone()
            .narrow(2, 0, 1)
            .narrow(3, 1, tk - 1)
            .mean_dim(1)
            .reshape([b, tk - 1]);
        let w: Vec<f32> = row.into_data().iter::<f32>().collect();
        let (raw, dims) = self.ex.data.batch_features(&idx, self.ex.pad);
        let (c, h, wd) = (dims[1], dims[2], dims[3]);
        let cell_w = 2 * wd + 6;
        let cell_h = h + 4;
        let cols = 8.min(idx.len());
        let rows = idx.len().div_ceil(cols);
        let (gw, gh) = (cols * cell_w, rows * cell_h);
        let mut rgb = vec![32u8; gw * gh * 3];
        for k in 0..idx.len().min(b) {
            let (ox, oy) = ((k % cols) * cell_w + 2, (k / cols) * cell_h + 2);
            let att = &w[k * (tk - 1)..(k + 1) * (tk - 1)];
            let top = att.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
            for y in 0..h {
                for x in 0..wd {
                    let v = (raw[k * c * h * wd + y * wd + x] * 255.0) as u8;
                    let at = ((oy + y) * gw + ox + x) * 3;
                    rgb[at..at + 3].copy_from_slice(&[v, v, v]);
                    let (py, px) = ((y * side / h).min(side - 1), (x * side / wd).min(side - 1));
                    let a = (att[py * side + px] / top).clamp(0.0, 1.0);
                    let heat = [
                        (255.0 * a.sqrt()) as u8,
                        (200.0 * a) as u8,
                        (40.0 + 60.0 * (1.0 - a)) as u8,
                    ];
                    let at = ((oy + y) * gw + ox + wd + 2 + x) * 3;
                    rgb[at..at + 3].copy_from_slice(&heat);
                }
            }
        }
        Ok(Some(Picture {
            width: gw,
            height: gh,
            rgb,
        }))
    }
}
