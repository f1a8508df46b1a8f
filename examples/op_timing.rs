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
    if std::env::args().any(|a| a == "unet") {
        unet();
        return;
    }
    if std::env::args().any(|a| a == "attention") {
        attention();
        return;
    }
    if std::env::args().any(|a| a == "conv") {
        strata::engine::threads::install(conv_parts);
        return;
    }
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
    time("max_pool2d, Strata's kernel, forward + backward", 30, || {
        let _ = strata::engine::kernels::max_pool2d(x.clone(), pool.clone())
            .sum()
            .backward();
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

/// The ops of one gpt_char layer (batch 16 × 64 tokens, width 128, 4 heads), each alone.
fn attention() {
    use burn::nn::LayerNormConfig;
    use burn::tensor::activation;
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<3>::random([16, 64, 128], normal, &ad).require_grad();
    let w = Param::from_tensor(Tensor::<2>::random([128, 512], normal, &ad)).val();
    time(
        "linear 128 -> 512 on [16, 64, 128] (Burn's linear), fwd + bwd",
        30,
        || {
            let _ = burn::tensor::module::linear(x.clone(), w.clone(), None)
                .sum()
                .backward();
        },
    );
    time("linear 128 -> 512 flattened to [1024, 128], fwd + bwd", 30, || {
        let _ = x.clone().reshape([1024, 128]).matmul(w.clone()).sum().backward();
    });
    time("linear 128 -> 512 flattened, forward only", 30, || {
        let _ = x.clone().reshape([1024, 128]).matmul(w.clone()).sum();
    });
    let ln = LayerNormConfig::new(128).init(&ad);
    time("layer norm [16, 64, 128], fwd + bwd", 30, || {
        let _ = ln.forward(x.clone()).sum().backward();
    });
    let h = Tensor::<3>::random([16, 64, 512], normal, &ad).require_grad();
    time("gelu [16, 64, 512], fwd + bwd", 30, || {
        let _ = activation::gelu(h.clone()).sum().backward();
    });
    time("gelu [16, 64, 512], Strata's kernel, fwd + bwd", 30, || {
        let _ = strata::engine::kernels::gelu(h.clone()).sum().backward();
    });
    time("relu [16, 64, 512], fwd + bwd", 30, || {
        let _ = activation::relu(h.clone()).sum().backward();
    });
    let q = Tensor::<4>::random([16, 4, 64, 32], normal, &ad).require_grad();
    let k = Tensor::<4>::random([16, 4, 64, 32], normal, &ad).require_grad();
    time("q k^T [16, 4, 64, 32] x [.., 32, 64], fwd + bwd", 30, || {
        let _ = q.clone().matmul(k.clone().swap_dims(2, 3)).sum().backward();
    });
    let s = Tensor::<4>::random([16, 4, 64, 64], normal, &ad).require_grad();
    time("softmax [16, 4, 64, 64] over the last dim, fwd + bwd", 30, || {
        let _ = (activation::softmax(s.clone(), 3) * s.clone()).sum().backward();
    });
    time("softmax [16, 4, 64, 64], Strata's kernel, fwd + bwd", 30, || {
        let _ = (strata::engine::kernels::softmax(s.clone(), 3) * s.clone())
            .sum()
            .backward();
    });
    let v = Tensor::<4>::random([16, 4, 64, 32], normal, &ad).require_grad();
    time("softmax then matmul with v (Burn), fwd + bwd", 30, || {
        let _ = activation::softmax(s.clone(), 3).matmul(v.clone()).sum().backward();
    });
    time("softmax then matmul with v (Strata's kernel), fwd + bwd", 30, || {
        let _ = strata::engine::kernels::softmax(s.clone(), 3)
            .matmul(v.clone())
            .sum()
            .backward();
    });
    let plain = Tensor::<4>::random([16, 4, 64, 64], normal, &Device::flex());
    let vp = Tensor::<4>::random([16, 4, 64, 32], normal, &Device::flex());
    time("no autodiff: softmax then matmul (Burn)", 30, || {
        let _ = activation::softmax(plain.clone(), 3)
            .matmul(vp.clone())
            .sum()
            .into_scalar::<f32>();
    });
    time("no autodiff: softmax then matmul (Strata's kernel)", 30, || {
        let _ = strata::engine::kernels::softmax(plain.clone(), 3)
            .matmul(vp.clone())
            .sum()
            .into_scalar::<f32>();
    });
    time("no autodiff: softmax alone (Burn)", 30, || {
        let _ = activation::softmax(plain.clone(), 3).sum().into_scalar::<f32>();
    });
    time("no autodiff: softmax alone (Strata's kernel)", 30, || {
        let _ = strata::engine::kernels::softmax(plain.clone(), 3)
            .sum()
            .into_scalar::<f32>();
    });
    time("split heads: reshape + swap_dims + reshape back, fwd + bwd", 30, || {
        let y = x.clone().reshape([16, 64, 4, 32]).swap_dims(1, 2);
        let _ = y.swap_dims(1, 2).reshape([16, 64, 128]).sum().backward();
    });
    time("split heads then matmul (contiguous copy), fwd + bwd", 30, || {
        let y = x.clone().reshape([16, 64, 4, 32]).swap_dims(1, 2);
        let _ = y.clone().matmul(y.swap_dims(2, 3)).sum().backward();
    });
    time("add + mul_scalar [16, 4, 64, 64], fwd + bwd", 30, || {
        let _ = (s.clone().mul_scalar(0.5) + s.clone()).sum().backward();
    });
}

/// The ops of the ddpm_unet denoiser's first level (batch 32, 16 channels, 28×28), each alone.
fn unet() {
    use burn::nn::GroupNormConfig;
    use burn::tensor::module::conv_transpose2d;
    use burn::tensor::ops::ConvTransposeOptions;
    let ad = Device::flex().autodiff();
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<4>::random([32, 16, 28, 28], normal, &ad).require_grad();
    let w = Param::from_tensor(Tensor::<4>::random([16, 16, 3, 3], normal, &ad)).val();
    let b = Param::from_tensor(Tensor::<1>::random([16], normal, &ad)).val();
    time("conv2d 16 -> 16, 3x3 pad 1 on [32, 16, 28, 28], forward", 20, || {
        let _ = conv2d(
            x.clone().detach(),
            w.clone().detach(),
            Some(b.clone().detach()),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
        .sum()
        .into_scalar::<f32>();
    });
    time("conv2d 16 -> 16, 3x3 pad 1, fwd + bwd (input and weight)", 20, || {
        let _ = conv2d(
            x.clone(),
            w.clone(),
            Some(b.clone()),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
        .sum()
        .backward();
    });
    time("conv2d 16 -> 16, 3x3 pad 1, Strata's kernel, forward", 20, || {
        let _ = strata::engine::kernels::conv2d(
            x.clone().detach(),
            w.clone().detach(),
            Some(b.clone().detach()),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
        .sum()
        .into_scalar::<f32>();
    });
    time("conv2d 16 -> 16, 3x3 pad 1, Strata's kernel, fwd + bwd", 20, || {
        let _ = strata::engine::kernels::conv2d(
            x.clone(),
            w.clone(),
            Some(b.clone()),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
        .sum()
        .backward();
    });
    // resnet_mini's last stage: small images, more channels.
    for (c, side) in [(32, 7), (64, 4)] {
        let xs = Tensor::<4>::random([64, c, side, side], normal, &ad).require_grad();
        let ws = Param::from_tensor(Tensor::<4>::random([c, c, 3, 3], normal, &ad)).val();
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        time(
            &format!("conv2d {c} -> {c}, 3x3 on [64, {c}, {side}, {side}], Burn, fwd + bwd"),
            20,
            || {
                let _ = conv2d(xs.clone(), ws.clone(), None, opts.clone()).sum().backward();
            },
        );
        time(
            &format!("conv2d {c} -> {c}, 3x3 on [64, {c}, {side}, {side}], Strata, fwd + bwd"),
            20,
            || {
                let _ = strata::engine::kernels::conv2d(xs.clone(), ws.clone(), None, opts.clone())
                    .sum()
                    .backward();
            },
        );
        time(
            &format!("conv2d {c} -> {c}, 3x3 on [64, {c}, {side}, {side}], Strata, forward"),
            20,
            || {
                let _ = strata::engine::kernels::conv2d(xs.clone().detach(), ws.clone().detach(), None, opts.clone())
                    .sum()
                    .into_scalar::<f32>();
            },
        );
    }
    let gn = GroupNormConfig::new(8, 16).init(&ad);
    time("group norm (8 groups) on [32, 16, 28, 28], fwd + bwd", 20, || {
        let _ = gn.forward(x.clone()).sum().backward();
    });
    time("group norm (8 groups), Strata's kernel, fwd + bwd", 20, || {
        let _ = strata::engine::kernels::group_norm(x.clone(), &gn).sum().backward();
    });
    time("gelu on [32, 16, 28, 28] (Strata's kernel), fwd + bwd", 20, || {
        let _ = strata::engine::kernels::gelu(x.clone()).sum().backward();
    });
    let w2 = Param::from_tensor(Tensor::<4>::random([32, 16, 4, 4], normal, &ad)).val();
    time("conv2d 16 -> 32, 4x4 stride 2 pad 1, fwd + bwd", 20, || {
        let _ = conv2d(x.clone(), w2.clone(), None, ConvOptions::new([2, 2], [1, 1], [1, 1], 1))
            .sum()
            .backward();
    });
    let y = Tensor::<4>::random([32, 32, 14, 14], normal, &ad).require_grad();
    let wt = Param::from_tensor(Tensor::<4>::random([32, 16, 4, 4], normal, &ad)).val();
    time("conv_transpose2d 32 -> 16, 4x4 stride 2 pad 1, fwd + bwd", 20, || {
        let _ = conv_transpose2d(
            y.clone(),
            wt.clone(),
            None,
            ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
        )
        .sum()
        .backward();
    });
    time("conv_transpose2d, Strata's kernel, fwd + bwd", 20, || {
        let _ = strata::engine::kernels::conv_transpose2d(
            y.clone(),
            wt.clone(),
            None,
            ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1),
        )
        .sum()
        .backward();
    });
    time("add of a [32, 16, 1, 1] broadcast, fwd + bwd", 20, || {
        let _ = (x.clone() + b.clone().reshape([1, 16, 1, 1])).sum().backward();
    });
    time("concat of two [32, 16, 28, 28] on channels, fwd + bwd", 20, || {
        let _ = Tensor::cat(vec![x.clone(), x.clone()], 1).sum().backward();
    });
}

/// Strata's convolution kernel in its three parts (forward, weight gradient, input gradient) on
/// plain slices, for the geometries of resnet_mini (64 images) and the ddpm_unet denoiser (32).
fn conv_parts() {
    use strata::engine::kernels::conv::{self, Geometry};
    let shapes = [
        ("resnet_mini stage 1: 16->16 on 14x14", 64, 16, 14, 16, 3, 1, 1),
        ("resnet_mini stage 2: 32->32 on 7x7", 64, 32, 7, 32, 3, 1, 1),
        ("resnet_mini stage 3: 64->64 on 4x4", 64, 64, 4, 64, 3, 1, 1),
        ("resnet_mini down: 16->32 stride 2 on 14x14", 64, 16, 14, 32, 3, 2, 1),
        ("ddpm_unet: 16->16 on 28x28", 32, 16, 28, 16, 3, 1, 1),
        ("ddpm_unet: 32->32 on 14x14", 32, 32, 14, 32, 3, 1, 1),
        ("ddpm_unet: 64->32 on 7x7", 32, 64, 7, 32, 3, 1, 1),
        ("ddpm_unet: 1->16 on 28x28", 32, 1, 28, 16, 3, 1, 1),
        ("lenet5: 6->16 5x5 on 14x14", 64, 6, 14, 16, 5, 1, 0),
        ("lenet5: 1->6 5x5 on 32x32", 64, 1, 32, 6, 5, 1, 0),
        ("resnet_mini: 8->8 on 14x14", 64, 8, 14, 8, 3, 1, 1),
    ];
    for (i, (name, b, c, side, o, k, s, p)) in shapes.into_iter().enumerate() {
        let g = Geometry {
            b,
            c,
            h: side,
            w: side,
            o,
            kh: k,
            kw: k,
            s: [s, s],
            p: [p, p],
            d: [1, 1],
        };
        let (oh, ow) = g.out().expect("every listed geometry fits");
        let fill = |n: usize| {
            (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect::<Vec<f32>>()
        };
        let (x, w, dy) = (fill(b * c * side * side), fill(o * c * k * k), fill(b * o * oh * ow));
        if i == 0 {
            // The first parts timed ran slow (threads and allocator warming up): warm up first.
            for _ in 0..30 {
                std::hint::black_box(conv::forward(&g, &x, &w, None));
                std::hint::black_box(conv::weight_grad(&g, &x, &dy));
                std::hint::black_box(conv::input_grad(&g, &w, &dy));
            }
        }
        println!("{name}");
        time("  forward", 20, || {
            std::hint::black_box(conv::forward(&g, &x, &w, None));
        });
        time("  weight gradient", 20, || {
            std::hint::black_box(conv::weight_grad(&g, &x, &dy));
        });
        time("  input gradient", 20, || {
            std::hint::black_box(conv::input_grad(&g, &w, &dy));
        });
    }
    // Batch normalisation while training, on resnet_mini's three stages.
    use strata::engine::kernels::norm::{self, Channels};
    for (b, c, side) in [(64, 16, 14), (64, 32, 7), (64, 64, 4)] {
        let g = Channels {
            b,
            c,
            s: side * side,
            eps: 1e-5,
        };
        let fill = |n: usize| {
            (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
                .collect::<Vec<f32>>()
        };
        let (x, dy, gamma, beta) = (fill(b * c * side * side), fill(b * c * side * side), fill(c), fill(c));
        println!("batch norm [{b}, {c}, {side}, {side}]");
        time("  forward", 20, || {
            std::hint::black_box(norm::batch_forward(&g, &x, &gamma, &beta));
        });
        let (_, mean, var) = norm::batch_forward(&g, &x, &gamma, &beta);
        time("  backward", 20, || {
            std::hint::black_box(norm::batch_backward(&g, &x, &gamma, (&mean, &var), &dy));
        });
    }
}
