//! A synthetic spatio-temporal task for ST-GCN: 8-joint stick figures moving for 16 frames, one
//! of four motions to recognise. Made in-process (the same data on every machine).

use super::{Dataset, Features, Target};

/// Joints: hip, spine, neck, head, left hand, right hand, left foot, right foot.
pub const JOINTS: usize = 8;
/// Frames per clip.
pub const FRAMES: usize = 16;
/// The skeleton's bones as joint pairs (what the ST-GCN preset's blocks are given).
pub const BONES: &[[usize; 2]] = &[[0, 1], [1, 2], [2, 3], [2, 4], [2, 5], [0, 6], [0, 7]];
/// The motions.
pub const MOTIONS: &[&str] = &["wave", "jump", "sway", "walk"];

/// Rest pose (x, y), y up.
const REST: [[f32; 2]; JOINTS] = [
    [0.0, 0.0],
    [0.0, 0.5],
    [0.0, 1.0],
    [0.0, 1.3],
    [-0.5, 0.7],
    [0.5, 0.7],
    [-0.25, -1.0],
    [0.25, -1.0],
];

struct Mix(u64);

impl Mix {
    fn unit(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// `n` clips `[2, 16, 8]` (x and y of every joint in every frame), motions in turn: waving the
/// right hand, jumping, swaying about the hip, walking (feet and hands swinging in opposition);
/// random speed, phase, size, position and joint noise. The last sixth are the test clips.
pub fn motions(n: usize, seed: u64) -> Dataset {
    let mut rng = Mix(seed ^ 0x5EED);
    let mut x = Vec::with_capacity(n * 2 * FRAMES * JOINTS);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % MOTIONS.len();
        let (speed, phase) = (rng.range(0.3, 0.7), rng.range(0.0, std::f32::consts::TAU));
        let amp = rng.range(0.2, 0.4);
        let (scale, dx, dy) = (rng.range(0.8, 1.2), rng.range(-0.3, 0.3), rng.range(-0.3, 0.3));
        let (mut xs, mut ys) = ([[0f32; JOINTS]; FRAMES], [[0f32; JOINTS]; FRAMES]);
        for (t, (fx, fy)) in xs.iter_mut().zip(ys.iter_mut()).enumerate() {
            let s = (speed * t as f32 + phase).sin();
            for (j, rest) in REST.iter().enumerate() {
                let [mut px, mut py] = *rest;
                match class {
                    0 if j == 5 => {
                        px += amp * s;
                        py += 0.5 + amp * (speed * t as f32 + phase).cos();
                    }
                    1 => py += amp * s.abs() * 1.5,
                    2 => {
                        let a = amp * s;
                        let (c, sn) = (a.cos(), a.sin());
                        (px, py) = (px * c - py * sn, px * sn + py * c);
                    }
                    3 => match j {
                        6 | 5 => px += amp * s,
                        7 | 4 => px -= amp * s,
                        _ => {}
                    },
                    _ => {}
                }
                fx[j] = px * scale + dx + rng.range(-0.03, 0.03);
                fy[j] = py * scale + dy + rng.range(-0.03, 0.03);
            }
        }
        for frame in xs.iter().chain(&ys) {
            x.extend_from_slice(frame);
        }
        labels.push(class as u8);
    }
    Dataset {
        name: "Skeleton motions".into(),
        shape: vec![2, FRAMES, JOINTS],
        features: Features::F32(x),
        labels,
        classes: MOTIONS.iter().map(|s| (*s).to_owned()).collect(),
        test_from: Some(n - n / 6),
        target: Target::Classes,
    }
}
