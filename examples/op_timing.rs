//! Times single tensor ops on the flex device — forward alone, and forward + backward with
//! autodiff — to see why reformulations that look cheaper lose inside whole training steps
//! (docs/performance.md). `cargo run --release --example op_timing`; set RAYON_NUM_THREADS to
//! compare thread counts.
use burn::module::Param;
use burn::tensor::module::{conv2d, max_pool2d, unfold4d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions, UnfoldOptions};
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// Median milliseconds of `reps` runs of `f` after one warm-up run.
fn time(name: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let mut ms: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!("{name:58} {:8.3} ms", ms[reps / 2]);
}

fn main() {
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    // LeNet-5's first max pool: [64, 6, 28, 28] in 2×2 windows.
    let x = Tensor::<4>::random([64, 6, 28, 28], normal, &ad).require_grad();
    let pool = MaxPoolOptions {
        kernel_size: [2, 2],
        stride: [2, 2],
        padding: [(0, 0); 2],
        dilation: [1, 1],
        ceil_mode: false,
    };
    time("max_pool2d, forward + backward", 30, || {
        let _ = max_pool2d(x.clone(), pool.clone()).sum().backward();
    });
    time("reshape to [64, 6, 14, 2, 14, 2] + max_dim ×2, fwd + bwd", 30, || {
        let y = x.clone().reshape([64, 6, 14, 2, 14, 2]).max_dim(5).max_dim(3);
        let _ = y.sum().backward();
    });
    // LeNet-5's first convolution: data [64, 1, 32, 32] (no gradient), 6 filters 5×5.
    let data = Tensor::<4>::random([64, 1, 32, 32], normal, &ad);
    let w = Param::from_tensor(Tensor::<4>::random([6, 1, 5, 5], normal, &ad)).val();
    time("conv2d on data, forward + weight gradient", 30, || {
        let _ = conv2d(
            data.clone(),
            w.clone(),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
        .sum()
        .backward();
    });
    time("unfold4d on data, forward only", 30, || {
        let _ = unfold4d(data.clone(), [5, 5], UnfoldOptions::new([1, 1], [0, 0], [1, 1])).sum();
    });
    time("unfold4d + broadcast matmul, forward + weight gradient", 30, || {
        let cols = unfold4d(data.clone(), [5, 5], UnfoldOptions::new([1, 1], [0, 0], [1, 1]));
        let _ = w.clone().reshape([1, 6, 25]).matmul(cols).sum().backward();
    });
    // The same inside LeNet's first block: + bias, ReLU, max pool, then the gradient back.
    let bias = Param::from_tensor(Tensor::<1>::random([6], normal, &ad)).val();
    time("block: conv2d + bias, relu, max pool; fwd + bwd", 30, || {
        let y = conv2d(
            data.clone(),
            w.clone(),
            Some(bias.clone()),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        let _ = max_pool2d(y.clamp_min(0.0), pool.clone()).sum().backward();
    });
    time("block: unfold + matmul + bias, relu, max pool; fwd + bwd", 30, || {
        let cols = unfold4d(data.clone(), [5, 5], UnfoldOptions::new([1, 1], [0, 0], [1, 1]));
        let y =
            w.clone().reshape([1, 6, 25]).matmul(cols).reshape([64, 6, 28, 28]) + bias.clone().reshape([1, 6, 1, 1]);
        let _ = max_pool2d(y.clamp_min(0.0), pool.clone()).sum().backward();
    });
    time(
        "block: unfold + matmul (no bias), relu, max pool; fwd + bwd",
        30,
        || {
            let cols = unfold4d(data.clone(), [5, 5], UnfoldOptions::new([1, 1], [0, 0], [1, 1]));
            let y = w.clone().reshape([1, 6, 25]).matmul(cols).reshape([64, 6, 28, 28]);
            let _ = max_pool2d(y.clamp_min(0.0), pool.clone()).sum().backward();
        },
    );
    // The whole LeNet-5 forward and backward in raw ops, the first convolution either way.
    let p = |dims: Vec<usize>| -> Tensor<4> {
        Param::from_tensor(Tensor::<4>::random([dims[0], dims[1], dims[2], dims[3]], normal, &ad)).val()
    };
    let w2 = p(vec![16, 6, 5, 5]);
    let f1 = Param::from_tensor(Tensor::<2>::random([400, 120], normal, &ad)).val();
    let f2 = Param::from_tensor(Tensor::<2>::random([120, 10], normal, &ad)).val();
    let rest = |y1: Tensor<4>| {
        let y = max_pool2d(y1.clamp_min(0.0), pool.clone());
        let y = conv2d(y, w2.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
        let y = max_pool2d(y.clamp_min(0.0), pool.clone()).reshape([64, 400]);
        let y = y.matmul(f1.clone()).clamp_min(0.0).matmul(f2.clone());
        let _ = y.powi_scalar(2).mean().backward();
    };
    time("LeNet in raw ops, Burn's first conv; fwd + bwd", 30, || {
        rest(conv2d(
            data.clone(),
            w.clone(),
            Some(bias.clone()),
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        ));
    });
    time("LeNet in raw ops, unfold + matmul first conv; fwd + bwd", 30, || {
        let cols = unfold4d(data.clone(), [5, 5], UnfoldOptions::new([1, 1], [0, 0], [1, 1]));
        let y =
            w.clone().reshape([1, 6, 25]).matmul(cols).reshape([64, 6, 28, 28]) + bias.clone().reshape([1, 6, 1, 1]);
        rest(y);
    });
    time("unfold4d + matmul with the weight repeated per example", 30, || {
        let cols = unfold4d(data.clone(), [5, 5], UnfoldOptions::new([1, 1], [0, 0], [1, 1]));
        let wb = w.clone().reshape([1, 6, 25]).repeat_dim(0, 64);
        let _ = wb.matmul(cols).sum().backward();
    });
}
