//! Synthetic time series for forecasting: each example is a window of a noisy signal (two
//! sines of random frequency, phase and amplitude) and the next values of the clean signal to
//! predict. The same seed gives the same series on every machine.

use super::{Dataset, Features, Rng, Target};

/// `n` windows of `length` noisy values, each with the `horizon` clean values that follow.
pub fn signals(n: usize, length: usize, horizon: usize, noise: f64, seed: u64) -> Result<Dataset, String> {
    if length == 0 || horizon == 0 {
        return Err(format!(
            "a forecast needs a past and a future: length {length} and horizon {horizon} must both be at least 1"
        ));
    }
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(n * length);
    let mut y = Vec::with_capacity(n * horizon);
    for _ in 0..n {
        let waves: Vec<(f64, f64, f64)> = (0..2)
            .map(|_| {
                let period = 8.0 + 32.0 * rng.unit();
                let amp = 0.3 + 0.7 * rng.unit();
                let phase = std::f64::consts::TAU * rng.unit();
                (std::f64::consts::TAU / period, amp, phase)
            })
            .collect();
        let clean = |t: f64| waves.iter().map(|(w, a, p)| a * (w * t + p).sin()).sum::<f64>();
        for t in 0..length {
            x.push((clean(t as f64) + noise * rng.normal()) as f32);
        }
        for t in length..length + horizon {
            y.push(clean(t as f64) as f32);
        }
    }
    Ok(Dataset {
        name: format!("signals ({length} steps → next {horizon})"),
        shape: vec![length, 1],
        features: Features::F32(x),
        labels: vec![0; n],
        classes: Vec::new(),
        test_from: None,
        target: Target::Values { per: horizon, data: y },
    })
}
