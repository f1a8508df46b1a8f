//! The kernels against Burn's own operations: values and gradients, contiguous or not.

use super::*;
use burn::tensor::Distribution;

fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let a: Vec<f32> = a.into_data().iter::<f32>().collect();
    let b: Vec<f32> = b.into_data().iter::<f32>().collect();
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn exponential_matches_the_standard_library() {
    let mut worst = 0.0f32;
    for i in -8600..=8790 {
        let x = i as f32 / 100.0 + 0.003;
        let (got, want) = (math::exp(x), x.exp());
        worst = worst.max(((got - want) / want).abs());
    }
    assert!(worst < 5e-7, "relative error {worst}");
    assert!(math::exp(f32::NAN).is_nan());
    // Far below: exactly 0, never a (slow) subnormal number.
    assert_eq!(math::exp(-1e9), 0.0);
    assert!(math::exp(-86.5) == 0.0 && math::exp(-85.9) >= f32::MIN_POSITIVE);
}

/// The kernel `k` and Burn's `reference` agree in value and in the input's gradient, for the
/// tensor as made and for a transposed view of it (not contiguous).
fn agrees<const D: usize>(
    x: Tensor<D>,
    k: impl Fn(Tensor<D>) -> Tensor<D>,
    reference: impl Fn(Tensor<D>) -> Tensor<D>,
    tol: f32,
) {
    for x in [x.clone(), x.swap_dims(0, D - 1)] {
        let w = Tensor::<D>::random(x.shape(), Distribution::Normal(0.0, 1.0), &x.device());
        let a = x.clone().require_grad();
        let b = x.clone().require_grad();
        let ya = k(a.clone());
        let yb = reference(b.clone());
        let d = max_diff(ya.clone().detach(), yb.clone().detach());
        assert!(d < tol, "values differ by {d}");
        // A weighted sum, so the gradient flowing back is not constant along a row.
        let ga = (ya * w.clone()).sum().backward();
        let gb = (yb * w).sum().backward();
        let (ga, gb) = (a.grad(&ga), b.grad(&gb));
        let (Some(ga), Some(gb)) = (ga, gb) else {
            panic!("no gradient")
        };
        let d = max_diff(ga, gb);
        assert!(d < tol, "gradients differ by {d}");
    }
}

#[test]
fn kernels_match_burn_on_the_cpu() {
    let ad = Device::flex().autodiff();
    let x = Tensor::<3>::random([4, 7, 33], Distribution::Normal(0.0, 3.0), &ad);
    agrees(x.clone(), gelu, activation::gelu, 2e-5);
    agrees(x.clone(), |t| softmax(t, 2), |t| activation::softmax(t, 2), 1e-6);
    agrees(
        x.clone(),
        |t| log_softmax(t, 2),
        |t| activation::log_softmax(t, 2),
        1e-5,
    );
    // Not the last dimension: Burn's operation, the same answer.
    agrees(x.clone(), |t| softmax(t, 1), |t| activation::softmax(t, 1), 1e-6);
    agrees(
        x.clone(),
        |t| log_softmax(t, -1),
        |t| activation::log_softmax(t, 2),
        1e-5,
    );
}

#[test]
fn masked_rows_and_non_finite_values_behave_like_burn() {
    let dev = Device::flex();
    // A causal mask's −1e9 entries get no weight.
    let x = Tensor::<2>::from_floats([[0.5, -1e9, 2.0], [1.0, 1.0, -1e9]], &dev);
    let y: Vec<f32> = softmax(x, 1).into_data().iter::<f32>().collect();
    assert!(y[1] < 1e-30 && y[5] < 1e-30);
    assert!((y[3] - 0.5).abs() < 1e-6);
    // NaN stays NaN (the trainer's non-finite check sees it).
    let x = Tensor::<2>::from_floats([[0.5, f32::NAN, 2.0]], &dev);
    assert!(softmax(x.clone(), 1).into_data().iter::<f32>().all(f32::is_nan));
    assert!(log_softmax(x.clone(), 1).into_data().iter::<f32>().all(f32::is_nan));
    assert!(gelu(x).into_data().iter::<f32>().nth(1).is_some_and(f32::is_nan));
}

#[test]
fn large_tensors_split_across_tasks_agree() {
    let ad = Device::flex().autodiff();
    // More values than one parallel task takes, rows of an odd length.
    let x = Tensor::<2>::random([700, 129], Distribution::Normal(0.0, 2.0), &ad);
    agrees(x.clone(), gelu, activation::gelu, 2e-5);
    agrees(x, |t| softmax(t, 1), |t| activation::softmax(t, 1), 1e-6);
}
