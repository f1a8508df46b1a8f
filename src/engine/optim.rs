//! Adam and AdamW with each parameter's step as one parallel pass on the CPU.
//!
//! Burn's Adam takes ten or so element-wise passes per parameter tensor (moments, squares, bias
//! corrections, square root, division, the update, the decay), each allocating a new tensor and
//! each on one thread on the flex backend: on a transformer that was ~13 % of a training step
//! while the second core idled (docs/performance.md). These optimizers do the same arithmetic
//! in one pass over each parameter ([`kernels::adam`]), in place, split across the rayon pool,
//! and fall back to Burn's own Adam / AdamW wherever that kernel does not run (the GPU,
//! `STRATA_KERNELS=off`).
//!
//! Their state *is* Burn's (`AdamState` / `AdamWState`), so optimizer checkpoints written before
//! (by Burn's optimizers) load into them and theirs into Burn's.

use super::kernels::{self, AdamStep};
use burn::optim::grad_clipping::{GradientClipping, GradientClippingConfig};
use burn::optim::{
    AdamConfig, AdamState, AdamW as BurnAdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate,
    ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor};

/// The hyper-parameters Adam and AdamW share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// The first moment's decay, `β₁` (Burn's default 0.9).
    pub beta_1: f32,
    /// The second moment's decay, `β₂` (Burn's default 0.999).
    pub beta_2: f32,
    /// The denominator's ε (Burn's default 1e-5).
    pub epsilon: f32,
    /// Per-parameter gradient norm clipping: the largest L2 norm a gradient keeps.
    pub max_norm: Option<f32>,
}

impl Default for Moments {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-5,
            max_norm: None,
        }
    }
}

impl Moments {
    /// The constants of step number `time` (1 for the first) at `lr`, before any decay.
    fn step(&self, lr: LearningRate, time: usize) -> AdamStep {
        let t = time.min(i32::MAX as usize) as i32;
        let bc2s = (1.0 - self.beta_2.powi(t)).sqrt();
        AdamStep {
            lr: lr as f32,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor: bc2s / (1.0 - self.beta_1.powi(t)),
            eps: self.epsilon * bc2s,
            l2: 0.0,
            keep: 1.0,
            scale: 1.0,
        }
    }

    /// Burn's gradient clipping for the same `max_norm` (used where the kernel does not run).
    fn clipping(&self) -> Option<GradientClipping> {
        self.max_norm.map(|c| GradientClippingConfig::Norm(c).init())
    }

    /// True where the kernel takes this step: the parameter, its gradient and any moments are
    /// `f32` on the flex CPU device, one shape, and the state has no AMSGrad maximum (these
    /// optimizers never keep one; Burn's own step handles such a state).
    fn on_kernel<const D: usize>(
        tensor: &Tensor<D>,
        grad: &Tensor<D>,
        momentum: Option<&AdaptiveMomentumState<D>>,
    ) -> bool {
        kernels::runs_on(tensor)
            && kernels::runs_on(grad)
            && grad.dims() == tensor.dims()
            && momentum.is_none_or(|s| {
                s.max_moment_2.is_none()
                    && kernels::runs_on(&s.moment_1)
                    && kernels::runs_on(&s.moment_2)
                    && s.moment_1.dims() == tensor.dims()
                    && s.moment_2.dims() == tensor.dims()
            })
    }

    /// One step on the kernel from `momentum` (none: the first step, from zero moments). The
    /// moments are moved in, not copied, so the kernel writes them in place.
    fn kernel<const D: usize>(
        &self,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        momentum: Option<AdaptiveMomentumState<D>>,
        step: impl FnOnce(usize) -> AdamStep,
    ) -> (Tensor<D>, AdaptiveMomentumState<D>) {
        let (time, m, v) = match momentum {
            Some(s) => (s.time, s.moment_1, s.moment_2),
            None => {
                let zeros = || Tensor::<D>::zeros(tensor.shape(), &tensor.device());
                (0, zeros(), zeros())
            }
        };
        let time = time + 1;
        let (theta, m, v) = kernels::adam(tensor, grad, m, v, step(time), self.max_norm);
        (theta, AdaptiveMomentumState::new(time, m, v))
    }

    /// Burn's gradient clipping applied to `grad` (where the kernel does not run).
    fn clipped<const D: usize>(&self, grad: Tensor<D>) -> Tensor<D> {
        match self.clipping() {
            Some(c) => c.clip_gradient(grad),
            None => grad,
        }
    }
}

/// Adam (with an optional L2 penalty added to the gradient, as Burn's Adam takes weight decay).
#[derive(Clone)]
pub struct Adam {
    moments: Moments,
    penalty: f32,
    burn: burn::optim::Adam,
}

impl Adam {
    /// Adam with these moments and L2 penalty (0: none).
    pub fn new(moments: Moments, penalty: f32) -> Self {
        let decay = (penalty > 0.0).then(|| burn::optim::decay::WeightDecayConfig::new(penalty));
        let burn = AdamConfig::new()
            .with_beta_1(moments.beta_1)
            .with_beta_2(moments.beta_2)
            .with_epsilon(moments.epsilon)
            .with_weight_decay(decay)
            .build();
        Self { moments, penalty, burn }
    }
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let l2 = self.penalty;
        let with = |time| AdamStep {
            l2,
            ..self.moments.step(lr, time)
        };
        if !Moments::on_kernel(&tensor, &grad, state.as_ref().map(|s| &s.momentum)) {
            return self.burn.step(lr, tensor, self.moments.clipped(grad), state);
        }
        let (theta, momentum) = self.moments.kernel(tensor, grad, state.map(|s| s.momentum), with);
        (theta, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState::new(state.momentum.to_device(device))
    }
}

/// AdamW: Adam with weight decay decoupled from the gradient (`θ ← (1 − lr·λ)·θ − …`).
#[derive(Clone)]
pub struct AdamW {
    moments: Moments,
    decay: f32,
    burn: BurnAdamW,
}

impl AdamW {
    /// AdamW with these moments and decoupled weight decay `λ`.
    pub fn new(moments: Moments, decay: f32) -> Self {
        let burn = AdamWConfig::new()
            .with_beta_1(moments.beta_1)
            .with_beta_2(moments.beta_2)
            .with_epsilon(moments.epsilon)
            .with_weight_decay(decay)
            .build();
        Self { moments, decay, burn }
    }
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let keep = (1.0 - lr * self.decay as f64) as f32;
        let with = |time| AdamStep {
            keep,
            ..self.moments.step(lr, time)
        };
        if !Moments::on_kernel(&tensor, &grad, state.as_ref().map(|s| &s.momentum)) {
            return self.burn.step(lr, tensor, self.moments.clipped(grad), state);
        }
        let (theta, momentum) = self.moments.kernel(tensor, grad, state.map(|s| s.momentum), with);
        (theta, Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamWState {
            momentum: state.momentum.to_device(device),
        }
    }
}

/// Adam as a whole-module optimizer.
pub fn adam(moments: Moments, penalty: f32) -> ModuleOptimizer {
    ModuleOptimizer::from(Adam::new(moments, penalty))
}

/// AdamW as a whole-module optimizer.
pub fn adamw(moments: Moments, decay: f32) -> ModuleOptimizer {
    ModuleOptimizer::from(AdamW::new(moments, decay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::optim::decay::WeightDecayConfig;
    use burn::tensor::TensorData;

    /// `n` fixed values spread over roughly [−1, 1] (the same on every run).
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = i.wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8;
                (h % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// A 200 → 300 linear layer (60 000 weights: several parallel chunks) with fixed weights.
    fn layer(device: &Device) -> Linear {
        let mut l = LinearConfig::new(200, 300).init(device);
        l.weight = l
            .weight
            .map(|w| Tensor::from_data(TensorData::new(values(60_000, 1), [200, 300]), &w.device()).require_grad());
        l
    }

    /// `steps` steps of `optim` on `layer` from a fixed batch per step (the gradient grows with
    /// the step, so clipping acts in some steps and not in others).
    fn train(mut optim: ModuleOptimizer, mut l: Linear, steps: usize, device: &Device) -> (Linear, ModuleOptimizer) {
        for i in 0..steps {
            let x = Tensor::<2>::from_data(TensorData::new(values(8 * 200, 7 + i as u32), [8, 200]), device);
            let y = l.forward(x);
            let loss = (y.clone() * y).mean().mul_scalar(0.5 + i as f32);
            let grads = GradientsParams::from_grads(loss.backward(), &l);
            l = optim.step(1e-2, l, grads);
        }
        (l, optim)
    }

    fn max_diff(a: &Linear, b: &Linear) -> f32 {
        let flat = |l: &Linear| -> Vec<f32> {
            let mut v: Vec<f32> = l.weight.val().into_data().iter::<f32>().collect();
            if let Some(b) = &l.bias {
                v.extend(b.val().into_data().iter::<f32>());
            }
            v
        };
        flat(a)
            .iter()
            .zip(&flat(b))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// A configuration's name, Strata's optimizer for it and Burn's own.
    type Pair = (&'static str, fn() -> ModuleOptimizer, fn() -> ModuleOptimizer);

    /// Strata's optimizer and Burn's own, for each configuration the settings can ask for.
    fn pairs() -> Vec<Pair> {
        vec![
            ("adam", || adam(Moments::default(), 0.0), || AdamConfig::new().init()),
            (
                "adam + L2 + clipping",
                || {
                    adam(
                        Moments {
                            max_norm: Some(0.05),
                            ..Moments::default()
                        },
                        0.01,
                    )
                },
                || {
                    AdamConfig::new()
                        .with_weight_decay(Some(WeightDecayConfig::new(0.01)))
                        .with_grad_clipping(Some(GradientClippingConfig::Norm(0.05)))
                        .init()
                },
            ),
            (
                "adamw + clipping",
                || {
                    adamw(
                        Moments {
                            max_norm: Some(0.05),
                            ..Moments::default()
                        },
                        0.1,
                    )
                },
                || {
                    AdamWConfig::new()
                        .with_weight_decay(0.1)
                        .with_grad_clipping(Some(GradientClippingConfig::Norm(0.05)))
                        .init()
                },
            ),
        ]
    }

    #[test]
    fn adam_and_adamw_step_as_burns_do() {
        let device = Device::flex().autodiff();
        let start = layer(&device);
        assert!(
            kernels::runs_on(&start.weight.val().inner()),
            "the kernel must be what this test checks"
        );
        for (name, ours, burns) in pairs() {
            let (a, _) = train(ours(), start.clone(), 6, &device);
            let (b, _) = train(burns(), start.clone(), 6, &device);
            let moved = max_diff(&a, &start);
            let diff = max_diff(&a, &b);
            assert!(moved > 1e-2, "{name}: the weights moved by {moved}");
            assert!(diff < 2e-5, "{name}: {diff} from Burn's after 6 steps");
        }
    }

    #[test]
    fn optimizer_state_crosses_between_burns_and_stratas() {
        let device = Device::flex().autodiff();
        let start = layer(&device);
        for (name, ours, burns) in pairs() {
            // Three steps with Burn's, its state saved and loaded into Strata's, two more.
            let (l, burn_optim) = train(burns(), start.clone(), 3, &device);
            let (ref_l, _) = train(burn_optim.clone(), l.clone(), 2, &device);
            let resumed = ours().load_record(burn_optim.to_record());
            let (a, _) = train(resumed, l.clone(), 2, &device);
            assert!(
                max_diff(&a, &ref_l) < 2e-5,
                "{name}: Burn's state into Strata's optimizer"
            );
            // And the other way round.
            let (l, our_optim) = train(ours(), start.clone(), 3, &device);
            let (ref_l, _) = train(our_optim.clone(), l.clone(), 2, &device);
            let resumed = burns().load_record(our_optim.to_record());
            let (b, _) = train(resumed, l, 2, &device);
            assert!(
                max_diff(&b, &ref_l) < 2e-5,
                "{name}: Strata's state into Burn's optimizer"
            );
        }
    }

    #[test]
    fn a_nan_gradient_reaches_the_weights_as_burns_does() {
        let device = Device::flex().autodiff();
        let mut optim = adam(Moments::default(), 0.0);
        let l = layer(&device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![f32::NAN; 200], [1, 200]), &device);
        let grads = GradientsParams::from_grads(l.forward(x).sum().backward(), &l);
        let l = optim.step(1e-2, l, grads);
        assert!(l.weight.val().into_data().iter::<f32>().any(f32::is_nan));
    }
}
