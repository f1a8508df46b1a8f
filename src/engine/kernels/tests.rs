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

/// `n` values drawn from N(0, σ²) by a fixed generator (an LCG and Box–Muller): the same inputs
/// on every run, whatever other tests draw from the device's random source meanwhile.
fn fixed_normal(n: usize, seed: u64, sigma: f32) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // 24 high bits, in (0, 1].
        ((state >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            sigma * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

/// A tensor of `shape` with [`fixed_normal`] values.
fn fixed<const D: usize>(shape: [usize; D], seed: u64, sigma: f32, device: &Device) -> Tensor<D> {
    let n = shape.iter().product();
    Tensor::from_data(
        burn::tensor::TensorData::new(fixed_normal(n, seed, sigma), shape),
        device,
    )
}

/// The kernel `k` and Burn's `reference` agree in value and in the input's gradient, for the
/// tensor as made and for a transposed view of it (not contiguous).
fn agrees<const D: usize>(
    x: Tensor<D>,
    k: impl Fn(Tensor<D>) -> Tensor<D>,
    reference: impl Fn(Tensor<D>) -> Tensor<D>,
    tol: f32,
) {
    for (i, x) in [x.clone(), x.swap_dims(0, D - 1)].into_iter().enumerate() {
        let w = fixed(reference(x.clone()).dims(), 7 + i as u64, 1.0, &x.device());
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
    // The fixed inputs are what they claim: N(0, 1) within sampling error, the same every time.
    let v = fixed_normal(20_000, 3, 1.0);
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "mean {mean}, variance {var}"
    );
    assert_eq!(v[..8], fixed_normal(8, 3, 1.0)[..]);
    let ad = Device::flex().autodiff();
    let x = fixed([4, 7, 33], 1, 3.0, &ad);
    agrees(x.clone(), gelu, activation::gelu, 2e-5);
    agrees(x.clone(), relu, activation::relu, 1e-7);
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
    assert!(
        gelu(x.clone())
            .into_data()
            .iter::<f32>()
            .nth(1)
            .is_some_and(f32::is_nan)
    );
    assert!(relu(x).into_data().iter::<f32>().nth(1).is_some_and(f32::is_nan));
    // ReLU at exactly zero (and −0): zero out, and no gradient through it, as Burn's.
    let ad = Device::flex().autodiff();
    let x = Tensor::<1>::from_floats([0.0, -0.0, -2.0, 3.0], &ad).require_grad();
    let g = relu(x.clone()).sum().backward();
    let Some(grad) = x.grad(&g) else {
        panic!("ReLU gave no gradient")
    };
    let grad: Vec<f32> = grad.into_data().iter::<f32>().collect();
    assert_eq!(grad, vec![0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn large_tensors_split_across_tasks_agree() {
    let ad = Device::flex().autodiff();
    // More values than one parallel task takes, rows of an odd length.
    let x = Tensor::<2>::random([700, 129], Distribution::Normal(0.0, 2.0), &ad);
    agrees(x.clone(), gelu, activation::gelu, 2e-5);
    agrees(x.clone(), relu, activation::relu, 1e-7);
    agrees(x, |t| softmax(t, 1), |t| activation::softmax(t, 1), 1e-6);
}

/// Strata's convolution against Burn's: output and the gradients of input, weight and bias.
fn conv_agrees(x: [usize; 4], w: [usize; 4], stride: usize, pad: usize, dilation: usize, bias: bool) {
    use burn::tensor::module::conv2d as burn_conv2d;
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let xs = Tensor::<4>::random(x, normal, &ad);
    let ws = Tensor::<4>::random(w, normal, &ad);
    let bs = Tensor::<1>::random([w[0]], normal, &ad);
    let options = ConvOptions::new([stride, stride], [pad, pad], [dilation, dilation], 1);
    let shape = burn_conv2d(xs.clone(), ws.clone(), None, options.clone()).shape();
    let weights = Tensor::<4>::random(shape, normal, &ad);
    let run = |f: &dyn Fn(Tensor<4>, Tensor<4>, Option<Tensor<1>>) -> Tensor<4>| {
        let (x, w, b) = (
            xs.clone().require_grad(),
            ws.clone().require_grad(),
            bs.clone().require_grad(),
        );
        let y = f(x.clone(), w.clone(), bias.then(|| b.clone()));
        let g = (y.clone() * weights.clone()).sum().backward();
        (y.detach(), x.grad(&g), w.grad(&g), b.grad(&g))
    };
    let ours = run(&|x, w, b| conv2d(x, w, b, options.clone()));
    let theirs = run(&|x, w, b| burn_conv2d(x, w, b, options.clone()));
    let what = format!("x {x:?} w {w:?} stride {stride} pad {pad} dilation {dilation}");
    assert!(max_diff(ours.0, theirs.0) < 1e-3, "{what}: outputs differ");
    let (Some(a), Some(b)) = (ours.1, theirs.1) else {
        panic!("{what}: no input gradient")
    };
    assert!(max_diff(a, b) < 1e-3, "{what}: input gradients differ");
    let (Some(a), Some(b)) = (ours.2, theirs.2) else {
        panic!("{what}: no weight gradient")
    };
    assert!(max_diff(a, b) < 1e-2, "{what}: weight gradients differ");
    if bias {
        let (Some(a), Some(b)) = (ours.3, theirs.3) else {
            panic!("{what}: no bias gradient")
        };
        assert!(max_diff(a, b) < 1e-2, "{what}: bias gradients differ");
    }
}

#[test]
fn convolution_matches_burn_in_value_and_gradients() {
    conv_agrees([4, 3, 9, 9], [5, 3, 3, 3], 1, 1, 1, true);
    conv_agrees([3, 2, 10, 7], [4, 2, 4, 4], 2, 1, 1, false);
    conv_agrees([2, 3, 11, 11], [2, 3, 3, 3], 1, 2, 2, true);
    conv_agrees([5, 8, 6, 6], [3, 8, 1, 1], 1, 0, 1, true);
    // One image: the matrix product uses the pool instead of one thread per image.
    conv_agrees([1, 1, 12, 12], [6, 1, 5, 5], 1, 0, 1, true);
    conv_agrees([2, 2, 7, 9], [3, 2, 3, 2], 3, 0, 1, false);
    // Rows longer than one 16-value block (37 = 2 blocks and a part), and a 1×1 stride-2
    // shortcut (ResNet's downsampling path, which does not take the pointwise shortcut).
    conv_agrees([2, 2, 5, 37], [3, 2, 3, 3], 1, 1, 1, true);
    conv_agrees([3, 4, 7, 7], [6, 4, 1, 1], 2, 0, 1, false);
    // On rows (stride 1, 8 channels or more, maps 7 wide or more):
    // forward and both gradients,
    // dilated, a kernel taller than wide, padding past the kernel's reach (its input gradient
    // from patches), one image (the products use the pool), a wide kernel with no padding
    // (forward on rows, input gradient from patches: the flipped convolution's border is large).
    conv_agrees([3, 8, 9, 9], [8, 8, 3, 3], 1, 1, 1, true);
    conv_agrees([2, 9, 11, 11], [8, 9, 3, 3], 1, 2, 2, false);
    conv_agrees([2, 8, 8, 10], [10, 8, 2, 3], 1, 0, 1, true);
    conv_agrees([2, 8, 6, 6], [8, 8, 3, 3], 1, 3, 1, true);
    conv_agrees([1, 8, 14, 14], [8, 8, 3, 3], 1, 1, 1, true);
    conv_agrees([2, 8, 14, 14], [8, 8, 3, 3], 1, 1, 1, false);
    conv_agrees([2, 8, 30, 30], [8, 8, 3, 3], 1, 2, 2, true);
    conv_agrees([2, 8, 12, 12], [9, 8, 5, 5], 1, 0, 1, false);
    // Strided patches read from the padded image split by column phase: stride 2 on odd and
    // even widths with padding (ResNet's downsampling), dilated, stride 3 with padding 2, an
    // odd padding with an even kernel, and a 1×1 stride-2 on an odd map.
    conv_agrees([3, 16, 7, 7], [32, 16, 3, 3], 2, 1, 1, false);
    conv_agrees([2, 3, 14, 15], [4, 3, 3, 3], 2, 1, 1, true);
    conv_agrees([2, 3, 13, 13], [4, 3, 3, 3], 2, 2, 2, true);
    conv_agrees([2, 2, 11, 17], [3, 2, 3, 3], 3, 2, 1, false);
    conv_agrees([2, 2, 9, 10], [3, 2, 2, 2], 2, 1, 1, true);
    conv_agrees([2, 4, 9, 9], [5, 4, 1, 1], 2, 0, 1, true);
    // Maps under 8 wide: the input gradient is the flipped convolution on patches (ResNet's
    // 4×4 stage), with a non-square kernel and no padding too.
    conv_agrees([3, 8, 4, 4], [8, 8, 3, 3], 1, 1, 1, true);
    conv_agrees([2, 3, 6, 7], [4, 3, 2, 3], 1, 0, 1, false);
    // Patch path with padding on rows of 16 values or more (the padded copy moves whole vectors).
    conv_agrees([2, 3, 20, 33], [4, 3, 3, 3], 1, 1, 1, true);
    // Small maps with 16+ images: several images' patches side by side in one product (forward,
    // weight gradient and both input-gradient routes), including a last group that is smaller.
    conv_agrees([21, 8, 4, 4], [8, 8, 3, 3], 1, 1, 1, true);
    conv_agrees([37, 16, 7, 7], [32, 16, 3, 3], 2, 1, 1, false);
    conv_agrees([64, 3, 5, 5], [4, 3, 3, 3], 1, 0, 1, true);
    conv_agrees([70, 5, 9, 9], [6, 5, 3, 3], 2, 1, 1, true);
    // Output channels in blocks of 16 with 48+ values under the kernel: the direct convolution
    // (tiles of every size it keeps, strided, dilated, narrow and wide maps, 2×2 / 3×3 / 5×5
    // weight gradients direct and a 7×1 one on patches), and a 16-channel layer below that depth.
    conv_agrees([3, 8, 14, 14], [16, 8, 3, 3], 1, 1, 1, true);
    conv_agrees([2, 6, 9, 30], [32, 6, 3, 3], 2, 1, 1, false);
    conv_agrees([2, 6, 11, 11], [16, 6, 3, 3], 1, 2, 2, true);
    conv_agrees([2, 12, 5, 3], [16, 12, 2, 2], 1, 0, 1, true);
    conv_agrees([11, 16, 4, 4], [16, 16, 3, 3], 1, 1, 1, true);
    conv_agrees([2, 3, 37, 37], [16, 3, 5, 5], 1, 2, 1, true);
    conv_agrees([2, 8, 9, 9], [16, 8, 7, 1], 1, 3, 1, false);
    conv_agrees([3, 5, 14, 14], [16, 5, 3, 3], 1, 1, 1, true);
}

#[test]
fn convolution_of_data_asks_no_input_gradient() {
    let ad = Device::flex().autodiff();
    let data = Tensor::<4>::random([2, 1, 8, 8], Distribution::Normal(0.0, 1.0), &ad);
    let w = Tensor::<4>::random([3, 1, 3, 3], Distribution::Normal(0.0, 1.0), &ad).require_grad();
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let y = conv2d(data.clone(), w.clone(), None, options);
    assert!(y.is_tracked());
    let g = y.sum().backward();
    assert!(w.grad(&g).is_some());
    assert!(data.grad(&g).is_none());
}

#[test]
fn max_pool_matches_burn_in_value_and_gradient() {
    use burn::tensor::ops::MaxPoolOptions;
    let ad = Device::flex().autodiff();
    for (shape, k, s, p) in [
        ([2, 3, 8, 8], 2, 2, 0),
        // Odd sides: the last row and column are left out, as floor mode does.
        ([2, 2, 7, 9], 2, 2, 0),
        ([1, 2, 9, 7], 3, 2, 1),
        ([3, 1, 6, 6], 3, 1, 1),
        ([2, 2, 5, 5], 2, 3, 0),
    ] {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &ad);
        let options = MaxPoolOptions {
            kernel_size: [k, k],
            stride: [s, s],
            padding: [(p, p); 2],
            dilation: [1, 1],
            ceil_mode: false,
        };
        agrees(
            x,
            |t| max_pool2d(t, options.clone()),
            |t| burn::tensor::module::max_pool2d(t, options.clone()),
            1e-6,
        );
    }
}

#[test]
fn convolution_gradients_are_the_same_on_every_run() {
    let g = conv::Geometry {
        b: 16,
        c: 3,
        h: 10,
        w: 10,
        o: 4,
        kh: 3,
        kw: 3,
        s: [1, 1],
        p: [1, 1],
        d: [1, 1],
    };
    let x: Vec<f32> = (0..16 * 3 * 100)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect();
    let dy: Vec<f32> = (0..16 * 4 * 100).map(|i| ((i * 53 % 97) as f32 - 48.0) / 5.0).collect();
    let first = conv::weight_grad(&g, &x, &dy);
    for _ in 0..5 {
        assert_eq!(conv::weight_grad(&g, &x, &dy), first);
    }
}

#[test]
fn group_norm_matches_burn_in_value_and_gradients() {
    use burn::module::Param;
    use burn::nn::GroupNormConfig;
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    for (shape, groups) in [([3, 8, 5, 7], 4), ([2, 6, 4, 4], 6), ([4, 4, 9, 3], 1)] {
        let mut l = GroupNormConfig::new(groups, shape[1]).init(&ad);
        l.gamma = Some(Param::from_tensor(Tensor::<1>::random([shape[1]], normal, &ad)));
        l.beta = Some(Param::from_tensor(Tensor::<1>::random([shape[1]], normal, &ad)));
        let x = Tensor::<4>::random(shape, Distribution::Normal(1.5, 2.0), &ad);
        let w = Tensor::<4>::random(shape, normal, &ad);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>| {
            let x = x.clone().require_grad();
            let y = f(x.clone());
            let g = (y.clone() * w.clone()).sum().backward();
            let param = |p: &Option<Param<Tensor<1>>>| p.as_ref().and_then(|p| p.val().grad(&g));
            (y.detach(), x.grad(&g), param(&l.gamma), param(&l.beta))
        };
        let ours = run(&|x| group_norm(x, &l));
        let theirs = run(&|x| l.forward(x));
        assert!(max_diff(ours.0, theirs.0) < 1e-4, "{shape:?}: outputs differ");
        let (Some(a), Some(b)) = (ours.1, theirs.1) else {
            panic!("{shape:?}: no input gradient")
        };
        assert!(max_diff(a, b) < 1e-4, "{shape:?}: input gradients differ");
        for (name, a, b) in [("scale", ours.2, theirs.2), ("shift", ours.3, theirs.3)] {
            let (Some(a), Some(b)) = (a, b) else {
                panic!("{shape:?}: no {name} gradient")
            };
            assert!(max_diff(a, b) < 1e-3, "{shape:?}: {name} gradients differ");
        }
    }
}

#[test]
fn group_norm_in_burns_operations_matches_the_kernel() {
    // The trait's default bodies (no device uses them today; they stay correct all the same).
    let dev = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<4>::random([2, 6, 3, 5], normal, &dev);
    let gamma = Tensor::<1>::random([6], normal, &dev);
    let beta = Tensor::<1>::random([6], normal, &dev);
    let dy = Tensor::<4>::random([2, 6, 3, 5], normal, &dev);
    let d4 = |t: &Tensor<4>| t.clone().into_dispatch();
    let d1 = |t: &Tensor<1>| t.clone().into_dispatch();
    let composite =
        Tensor::<4>::from_dispatch(group_norm_composite::<Dispatch>(d4(&x), d1(&gamma), d1(&beta), 3, 1e-5));
    let kernel = Tensor::<4>::from_dispatch(<Dispatch as StrataKernels>::strata_group_norm(
        d4(&x),
        d1(&gamma),
        d1(&beta),
        3,
        1e-5,
    ));
    assert!(max_diff(composite, kernel) < 1e-5);
    let (a, b, c) = group_norm_backward_composite::<Dispatch>(d4(&x), d1(&gamma), d4(&dy), 3, 1e-5);
    let (e, f, g) = <Dispatch as StrataKernels>::strata_group_norm_backward(d4(&x), d1(&gamma), d4(&dy), 3, 1e-5);
    assert!(max_diff(Tensor::<4>::from_dispatch(a), Tensor::<4>::from_dispatch(e)) < 1e-4);
    assert!(max_diff(Tensor::<1>::from_dispatch(b), Tensor::<1>::from_dispatch(f)) < 1e-4);
    assert!(max_diff(Tensor::<1>::from_dispatch(c), Tensor::<1>::from_dispatch(g)) < 1e-4);
}

#[test]
fn transposed_convolution_matches_burn_in_value_and_gradients() {
    use burn::tensor::module::conv_transpose2d as burn_conv_t;
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    // (input, weight [Cin, Cout, k, k], stride, padding, output padding, dilation)
    for (x, w, s, p, op, d) in [
        ([3, 4, 7, 7], [4, 2, 4, 4], 2, 1, 0, 1),
        ([2, 3, 5, 6], [3, 5, 3, 3], 1, 1, 0, 1),
        ([2, 2, 4, 4], [2, 3, 3, 3], 2, 0, 1, 1),
        ([1, 2, 5, 5], [2, 2, 3, 3], 1, 2, 0, 2),
    ] {
        let options = ConvTransposeOptions::new([s, s], [p, p], [op, op], [d, d], 1);
        let xs = Tensor::<4>::random(x, normal, &ad);
        let ws = Tensor::<4>::random(w, normal, &ad);
        let bs = Tensor::<1>::random([w[1]], normal, &ad);
        let shape = burn_conv_t(xs.clone(), ws.clone(), None, options.clone()).shape();
        let weights = Tensor::<4>::random(shape, normal, &ad);
        let run = |f: &dyn Fn(Tensor<4>, Tensor<4>, Tensor<1>) -> Tensor<4>| {
            let (x, w, b) = (
                xs.clone().require_grad(),
                ws.clone().require_grad(),
                bs.clone().require_grad(),
            );
            let y = f(x.clone(), w.clone(), b.clone());
            let g = (y.clone() * weights.clone()).sum().backward();
            (y.detach(), x.grad(&g), w.grad(&g), b.grad(&g))
        };
        let ours = run(&|x, w, b| conv_transpose2d(x, w, Some(b), options.clone()));
        let theirs = run(&|x, w, b| burn_conv_t(x, w, Some(b), options.clone()));
        let what = format!("x {x:?} w {w:?} stride {s} pad {p} out pad {op} dilation {d}");
        assert!(max_diff(ours.0, theirs.0) < 1e-3, "{what}: outputs differ");
        for (name, a, b) in [("input", ours.1, theirs.1), ("weight", ours.2, theirs.2)] {
            let (Some(a), Some(b)) = (a, b) else {
                panic!("{what}: no {name} gradient")
            };
            assert!(max_diff(a, b) < 1e-2, "{what}: {name} gradients differ");
        }
        let (Some(a), Some(b)) = (ours.3, theirs.3) else {
            panic!("{what}: no bias gradient")
        };
        assert!(max_diff(a, b) < 1e-2, "{what}: bias gradients differ");
    }
}

#[test]
fn batch_norm_matches_burn_in_value_gradients_and_running_statistics() {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    for shape in [[4, 3, 5, 6], [7, 5, 2, 3], [2, 8, 1, 1]] {
        let c = shape[1];
        let (gamma, beta) = (
            Tensor::<1>::random([c], normal, &ad),
            Tensor::<1>::random([c], normal, &ad),
        );
        let layer = || {
            let mut l = BatchNormConfig::new(c).init(&ad);
            l.gamma = Param::from_tensor(gamma.clone());
            l.beta = Param::from_tensor(beta.clone());
            l
        };
        let (ours_l, theirs_l) = (layer(), layer());
        let x = Tensor::<4>::random(shape, Distribution::Normal(2.0, 3.0), &ad);
        let w = Tensor::<4>::random(shape, normal, &ad);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<4>, l: &burn::nn::BatchNorm| {
            let x = x.clone().require_grad();
            let y = f(x.clone());
            let g = (y.clone() * w.clone()).sum().backward();
            (y.detach(), x.grad(&g), l.gamma.val().grad(&g), l.beta.val().grad(&g))
        };
        let ours = run(&|x| batch_norm(x, &ours_l), &ours_l);
        let theirs = run(&|x| theirs_l.forward(x), &theirs_l);
        assert!(max_diff(ours.0, theirs.0) < 1e-4, "{shape:?}: outputs differ");
        let (Some(a), Some(b)) = (ours.1, theirs.1) else {
            panic!("{shape:?}: no input gradient")
        };
        assert!(max_diff(a, b) < 1e-4, "{shape:?}: input gradients differ");
        for (name, a, b) in [("scale", ours.2, theirs.2), ("shift", ours.3, theirs.3)] {
            let (Some(a), Some(b)) = (a, b) else {
                panic!("{shape:?}: no {name} gradient")
            };
            assert!(max_diff(a, b) < 1e-3, "{shape:?}: {name} gradients differ");
        }
        let stats = |l: &burn::nn::BatchNorm| (l.running_mean.value(), l.running_var.value());
        let ((m1, v1), (m2, v2)) = (stats(&ours_l), stats(&theirs_l));
        assert!(
            max_diff(m1, m2) < 1e-5 && max_diff(v1, v2) < 1e-4,
            "{shape:?}: running statistics differ"
        );
    }
}

#[test]
fn every_vector_level_computes_the_same_values() {
    // `simd` runs its closure compiled for the widest extension this CPU has; the result must be
    // the baseline's, bit for bit, for the element functions (no fused multiply-adds appear).
    let xs: Vec<f32> = (0..4096).map(|i| (i as f32 - 2048.0) / 97.0).collect();
    let wide = super::math::simd(|| xs.iter().map(|&x| super::math::gelu(x)).collect::<Vec<_>>());
    let base: Vec<f32> = xs.iter().map(|&x| super::math::gelu(x)).collect();
    assert_eq!(wide, base);
    let wide = super::math::simd(|| super::math::sum(&xs));
    assert_eq!(wide, super::math::sum(&xs));
}

#[test]
fn addition_matches_burn_with_gradients_to_both_sides() {
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    // More values than one parallel task takes; then a broadcast (Burn's own addition).
    for (a, b) in [([3, 5, 40, 41], [3, 5, 40, 41]), ([2, 4, 3, 3], [2, 4, 1, 1])] {
        let (xa, xb) = (Tensor::<4>::random(a, normal, &ad), Tensor::<4>::random(b, normal, &ad));
        let weights = Tensor::<4>::random(a, normal, &ad);
        let run = |f: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
            let (x, y) = (xa.clone().require_grad(), xb.clone().require_grad());
            let out = f(x.clone(), y.clone());
            let g = (out.clone() * weights.clone()).sum().backward();
            let (Some(dx), Some(dy)) = (x.grad(&g), y.grad(&g)) else {
                panic!("addition gave no gradient to one side")
            };
            (out.detach(), dx, dy)
        };
        let ours = run(&|x, y| add(x, y));
        let theirs = run(&|x, y| x + y);
        assert!(max_diff(ours.0, theirs.0) < 1e-6, "{a:?} + {b:?}: sums differ");
        assert!(
            max_diff(ours.1, theirs.1) < 1e-6,
            "{a:?} + {b:?}: left gradients differ"
        );
        assert!(
            max_diff(ours.2, theirs.2) < 1e-5,
            "{a:?} + {b:?}: right gradients differ"
        );
    }
}

#[test]
fn mean_absolute_value_matches_burn_and_keeps_nan() {
    let ad = Device::flex().autodiff();
    // More values than one parallel task takes, and a tensor still on the autodiff graph.
    let x = Tensor::<4>::random([3, 5, 40, 41], Distribution::Normal(0.0, 2.0), &ad).require_grad();
    let ours: f32 = mean_abs(x.clone()).into_scalar();
    let theirs: f32 = x.detach().abs().mean().into_scalar();
    assert!((ours - theirs).abs() < 1e-5 * theirs.abs(), "{ours} against {theirs}");
    let x = Tensor::<1>::from_floats([1.0, f32::NAN, -2.0], &Device::flex());
    assert!(mean_abs(x).into_scalar::<f32>().is_nan());
}

#[test]
fn global_average_pooling_matches_burn_in_value_and_gradient() {
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    // resnet_mini's last map; many rows per task; one value per row; rows longer than a task.
    for shape in [[64, 64, 4, 4], [3, 700, 2, 3], [5, 3, 1, 1], [2, 3, 70, 90]] {
        let x = Tensor::<4>::random(shape, Distribution::Normal(1.0, 2.0), &ad);
        let weights = Tensor::<2>::random([shape[0], shape[1]], normal, &ad);
        let run = |f: &dyn Fn(Tensor<4>) -> Tensor<2>| {
            let x = x.clone().require_grad();
            let y = f(x.clone());
            let g = (y.clone() * weights.clone()).sum().backward();
            let Some(dx) = x.grad(&g) else {
                panic!("{shape:?}: no input gradient")
            };
            (y.detach(), dx)
        };
        let ours = run(&|x| global_avg_pool(x));
        let theirs = run(&|x| burn::tensor::module::adaptive_avg_pool2d(x, [1, 1]).reshape([shape[0], shape[1]]));
        assert!(max_diff(ours.0, theirs.0) < 1e-5, "{shape:?}: means differ");
        assert!(max_diff(ours.1, theirs.1) < 1e-6, "{shape:?}: gradients differ");
    }
    // NaN in a map makes its mean NaN, as in Burn.
    let x = Tensor::<4>::from_floats([[[[1.0, f32::NAN]], [[2.0, 4.0]]]], &Device::flex());
    let y = global_avg_pool(x).into_data().try_to_vec::<f32>().unwrap_or_default();
    assert!(y[0].is_nan() && y[1] == 3.0, "{y:?}");
}
