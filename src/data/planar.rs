//! Procedural 2-D point sets for density models (flows, score models): two interleaved half
//! moons and a ring of Gaussians. Each point's label is the part it came from (for colouring).

use super::{Dataset, Features, Rng, Target};

impl Rng {
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn points(name: &str, xy: Vec<f32>, labels: Vec<u8>, classes: Vec<String>) -> Dataset {
    Dataset {
        name: name.into(),
        shape: vec![2],
        features: Features::F32(xy),
        labels,
        classes,
        test_from: None,
        target: Target::Classes,
    }
}

/// `n` points on two interleaved half circles (scikit-learn's `make_moons`), Gaussian noise of
/// standard deviation `noise`, centred near the origin.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (mut xy, mut labels) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    for i in 0..n {
        let moon = (i % 2) as u8;
        let t = std::f64::consts::PI * rng.unit();
        let (x, y) = if moon == 0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        };
        xy.push((x - 0.5 + noise * rng.normal()) as f32);
        xy.push((y - 0.25 + noise * rng.normal()) as f32);
        labels.push(moon);
    }
    points("two_moons", xy, labels, vec!["upper moon".into(), "lower moon".into()])
}

/// `n` points from 8 Gaussians (standard deviation `spread`) evenly spaced on a circle of radius 2.
pub fn gaussian_ring(n: usize, spread: f64, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let (mut xy, mut labels) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    for _ in 0..n {
        let k = rng.below(8);
        let a = 2.0 * std::f64::consts::PI * k as f64 / 8.0;
        xy.push((2.0 * a.cos() + spread * rng.normal()) as f32);
        xy.push((2.0 * a.sin() + spread * rng.normal()) as f32);
        labels.push(k as u8);
    }
    points(
        "gaussian_ring",
        xy,
        labels,
        (0..8).map(|k| format!("mode {k}")).collect(),
    )
}
