//! Strata-owned CPU kernels for the hot element-wise and row-wise operations, registered with
//! Burn through its backend-extension route (`#[backend_extension]`): a kernel trait implemented
//! for the flex CPU backend, and for `Autodiff<B>` with a handwritten backward pass. Nothing of
//! Burn is forked.
//!
//! Why: on flex, Burn's GELU runs `libm::erff` one element at a time on one thread, and under
//! autodiff its softmax is five separate passes (max, subtract, exp, sum, divide), each with its
//! own backward. These kernels make one pass over the data, split across the rayon pool, with a
//! branch-free exponential the compiler vectorises (docs/performance.md has the numbers).
//!
//! The public functions here take the kernel only where it applies — a flex tensor of `f32` —
//! and fall back to Burn's own operation everywhere else (the wgpu device, other dtypes), so
//! callers use them unconditionally.

pub mod conv;
mod math;
pub mod norm;
pub mod pool;

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::activation;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{DType, Device, Tensor, TensorData};

/// A 2-D convolution's stride, padding and dilation (rows, then columns, for each).
pub type Conv2dParams = [usize; 6];

/// A 2-D transposed convolution's stride, padding, dilation and output padding (rows, then
/// columns, for each).
pub type ConvTParams = [usize; 8];

/// Burn's options for the same transposed convolution (one group).
fn conv_t_options(c: ConvTParams) -> ConvTransposeOptions<2> {
    ConvTransposeOptions::new([c[0], c[1]], [c[2], c[3]], [c[6], c[7]], [c[4], c[5]], 1)
}

/// A 2-D max pool's kernel, stride and padding (rows, then columns, for each).
pub type PoolParams = [usize; 6];

/// Burn's options for the same convolution (one group).
fn conv_options(c: Conv2dParams) -> ConvOptions<2> {
    ConvOptions::new([c[0], c[1]], [c[2], c[3]], [c[4], c[5]], 1)
}

/// The operations Strata computes itself on the CPU. Each backward method has a default body
/// composed of Burn's own operations; flex overrides every method with a one-pass kernel.
#[backend_extension(Flex, Autodiff)]
pub trait StrataKernels: Backend {
    /// GELU, `x·Φ(x)` with the exact (erf) Gaussian CDF.
    fn strata_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }
    /// The gradient of [`strata_gelu`](Self::strata_gelu) given its input and the output gradient.
    fn strata_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }
    /// Softmax over the last dimension.
    fn strata_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = burn::backend::TensorMetadata::shape(&x).num_dims() - 1;
        Self::softmax(x, last)
    }
    /// The gradient of [`strata_softmax`](Self::strata_softmax) given its output `y`:
    /// `y ⊙ (g − Σ g⊙y)` along the last dimension.
    fn strata_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = burn::backend::TensorMetadata::shape(&y).num_dims() - 1;
        let gy = Self::float_mul(grad.clone(), y.clone());
        let s = Self::float_sum_dim(gy, last);
        Self::float_mul(y, Self::float_sub(grad, s))
    }
    /// A 2-D convolution of `x` `[B, C, H, W]` with `weight` `[O, C, KH, KW]` (one group).
    fn strata_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, params: Conv2dParams) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, conv_options(params))
    }
    /// [`strata_conv2d`](Self::strata_conv2d) plus a bias `[O]` per output channel.
    fn strata_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), conv_options(params))
    }
    /// The gradient of [`strata_conv2d`](Self::strata_conv2d) for its input.
    fn strata_conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, conv_options(params))
    }
    /// The gradient of [`strata_conv2d`](Self::strata_conv2d) for its weight.
    fn strata_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, conv_options(params))
    }
    /// The gradient of [`strata_conv2d`](Self::strata_conv2d) for its bias.
    fn strata_conv2d_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let o = grad.shape()[1];
        let g = Self::float_sum_dim(grad, 0);
        let g = Self::float_sum_dim(g, 2);
        let g = Self::float_sum_dim(g, 3);
        Self::float_reshape(g, burn::tensor::Shape::new([o]))
    }
    /// A 2-D transposed convolution of `x` `[B, Cin, H, W]` with `weight` `[Cin, Cout, KH, KW]`
    /// (one group, no bias).
    fn strata_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        Self::conv_transpose2d(x, weight, None, conv_t_options(params))
    }
    /// The gradient of [`strata_conv_transpose2d`](Self::strata_conv_transpose2d) for its input.
    fn strata_conv_transpose2d_x_grad(
        _x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        Self::conv_transpose2d_x_backward(weight, grad, conv_t_options(params))
    }
    /// The gradient of [`strata_conv_transpose2d`](Self::strata_conv_transpose2d) for its weight.
    fn strata_conv_transpose2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        Self::conv_transpose2d_weight_backward(x, weight, grad, conv_t_options(params))
    }
    /// Group normalisation of `x` `[B, C, …]` in `groups` groups, then `γ_c·x̂ + β_c`.
    fn strata_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> FloatTensor<Self> {
        group_norm_composite::<Self>(x, gamma, beta, groups, eps)
    }
    /// The gradients of [`strata_group_norm`](Self::strata_group_norm) for `x`, `γ` and `β`.
    fn strata_group_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        group_norm_backward_composite::<Self>(x, gamma, grad, groups, eps)
    }
    /// Batch normalisation while training: the output and each channel's batch mean and
    /// (biased) variance.
    fn strata_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x, gamma, beta, eps);
        (r.output, r.mean, r.variance)
    }
    /// The gradients of [`strata_batch_norm_train`](Self::strata_batch_norm_train) for `x`,
    /// `γ` and `β`.
    fn strata_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(x.clone(), gamma.clone(), gamma.clone(), eps);
        let g = Self::batch_norm_train_backward(x, gamma, r.mean, r.variance, eps, grad);
        (g.x_grad, g.gamma_grad, g.beta_grad)
    }
    /// 2-D max pooling of `x` `[B, C, H, W]` (no dilation, floor mode).
    fn strata_max_pool2d(x: FloatTensor<Self>, params: PoolParams) -> FloatTensor<Self> {
        let [kh, kw, sh, sw, ph, pw] = params;
        Self::max_pool2d(x, [kh, kw], [sh, sw], [ph, pw], [1, 1], false)
    }
    /// The gradient of [`strata_max_pool2d`](Self::strata_max_pool2d) given its input.
    fn strata_max_pool2d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: PoolParams,
    ) -> FloatTensor<Self> {
        let [kh, kw, sh, sw, ph, pw] = params;
        let (k, st, pad) = ([kh, kw], [sh, sw], [ph, pw]);
        let idx = Self::max_pool2d_with_indices(x.clone(), k, st, pad, [1, 1], false, burn::tensor::IntDType::I64);
        Self::max_pool2d_with_indices_backward(x, k, st, pad, [1, 1], false, grad, idx.indices).x_grad
    }
    /// Log-softmax over the last dimension.
    fn strata_log_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = burn::backend::TensorMetadata::shape(&x).num_dims() - 1;
        Self::log_softmax(x, last)
    }
    /// The gradient of [`strata_log_softmax`](Self::strata_log_softmax) given its output `y`:
    /// `g − exp(y)·Σ g` along the last dimension.
    fn strata_log_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = burn::backend::TensorMetadata::shape(&y).num_dims() - 1;
        let s = Self::float_sum_dim(grad.clone(), last);
        Self::float_sub(grad, Self::float_mul(Self::float_exp(y), s))
    }
}

/// A contiguous `f32` copy of a flex tensor's values (no copy when it already is one).
fn values(x: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    let n = x.layout().num_elements();
    if x.layout().is_contiguous() && x.layout().start_offset() == 0 {
        std::borrow::Cow::Borrowed(&x.storage::<f32>()[..n])
    } else {
        std::borrow::Cow::Owned(x.to_contiguous().storage::<f32>()[..n].to_vec())
    }
}

/// A flex tensor shaped like `like` holding `v`.
fn flex(v: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    flex_shaped(v, dims(like))
}

/// A flex tensor of `shape` holding `v`.
fn flex_shaped(v: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

/// A flex tensor's dimensions.
fn dims(x: &FlexTensor) -> Vec<usize> {
    x.layout().shape().iter().copied().collect()
}

/// The convolution geometry of input `x` and weight `w` (both `[·, ·, ·, ·]`).
fn geometry(x: &[usize], w: &[usize], c: Conv2dParams) -> conv::Geometry {
    conv::Geometry {
        b: x[0],
        c: x[1],
        h: x[2],
        w: x[3],
        o: w[0],
        kh: w[2],
        kw: w[3],
        s: [c[0], c[1]],
        p: [c[2], c[3]],
        d: [c[4], c[5]],
    }
}

/// The size of the last dimension (rows are contiguous runs of it).
fn row_len(x: &FlexTensor) -> usize {
    x.layout().shape().iter().last().copied().unwrap_or(1).max(1)
}

/// `f` of every last-dimension row of `x`, shaped like `x`.
fn by_rows(x: &FlexTensor, f: impl Fn(&[f32], &mut [f32]) + Sync) -> FlexTensor {
    flex(math::rows(&values(x), row_len(x), f), x)
}

/// `f` of every pair of last-dimension rows of `y` and `grad`, shaped like `y`.
fn by_row_pairs(y: &FlexTensor, grad: &FlexTensor, f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync) -> FlexTensor {
    flex(math::rows2(&values(y), &values(grad), row_len(y), f), y)
}

/// `x` `[B, C, …]` seen as `[B, G, C/G·S]`, its normalised values `x̂` in that shape and `1/σ`
/// per group (`[B, G, 1]`), in Burn's own operations.
fn normalised<B: Backend>(x: FloatTensor<B>, groups: usize, eps: f64) -> (FloatTensor<B>, FloatTensor<B>) {
    use burn::tensor::Shape;
    let shape = x.shape();
    let (b, n) = (shape[0], shape.num_elements() / shape[0].max(1));
    let x = B::float_reshape(x, Shape::new([b, groups, n / groups]));
    let centred = B::float_sub(x.clone(), B::float_mean_dim(x, 2));
    let var = B::float_mean_dim(B::float_mul(centred.clone(), centred.clone()), 2);
    let rstd = B::float_recip(B::float_sqrt(B::float_add_scalar(var, eps.into())));
    (B::float_mul(centred, rstd.clone()), rstd)
}

/// A per-channel vector `[C]` shaped to broadcast over `[B, C, S]`.
fn per_channel<B: Backend>(v: FloatTensor<B>) -> FloatTensor<B> {
    let c = v.shape()[0];
    B::float_reshape(v, burn::tensor::Shape::new([1, c, 1]))
}

/// Group normalisation in Burn's own operations (the trait's default).
fn group_norm_composite<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    groups: usize,
    eps: f64,
) -> FloatTensor<B> {
    let shape = x.shape();
    let (b, c) = (shape[0], shape[1]);
    let (xh, _) = normalised::<B>(x, groups, eps);
    let xh = B::float_reshape(
        xh,
        burn::tensor::Shape::new([b, c, shape.num_elements() / (b * c).max(1)]),
    );
    let y = B::float_add(B::float_mul(xh, per_channel::<B>(gamma)), per_channel::<B>(beta));
    B::float_reshape(y, shape)
}

/// Group normalisation's gradients in Burn's own operations (the trait's default).
fn group_norm_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    grad: FloatTensor<B>,
    groups: usize,
    eps: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    use burn::tensor::Shape;
    let shape = x.shape();
    let (b, c) = (shape[0], shape[1]);
    let s = shape.num_elements() / (b * c).max(1);
    let (xh, rstd) = normalised::<B>(x, groups, eps);
    let grouped = xh.shape();
    let xh = B::float_reshape(xh, Shape::new([b, c, s]));
    let dy = B::float_reshape(grad, Shape::new([b, c, s]));
    let over_examples = |t: FloatTensor<B>| {
        let t = B::float_sum_dim(B::float_sum_dim(t, 2), 0);
        B::float_reshape(t, Shape::new([c]))
    };
    let dbeta = over_examples(dy.clone());
    let dgamma = over_examples(B::float_mul(dy.clone(), xh.clone()));
    let d = B::float_reshape(B::float_mul(dy, per_channel::<B>(gamma)), grouped.clone());
    let xh = B::float_reshape(xh, grouped);
    let mean_d = B::float_mean_dim(d.clone(), 2);
    let mean_dx = B::float_mean_dim(B::float_mul(d.clone(), xh.clone()), 2);
    let dx = B::float_sub(B::float_sub(d, mean_d), B::float_mul(xh, mean_dx));
    (B::float_reshape(B::float_mul(dx, rstd), shape), dgamma, dbeta)
}

/// The layout of a batch normalisation of `x`.
fn channels_of(x: &FlexTensor, eps: f64) -> norm::Channels {
    let d = dims(x);
    norm::Channels {
        b: d[0],
        c: d[1],
        s: d[2..].iter().product(),
        eps: eps as f32,
    }
}

/// The layout of a group normalisation of `x`.
fn groups_of(x: &FlexTensor, groups: usize, eps: f64) -> norm::Groups {
    let d = dims(x);
    norm::Groups {
        b: d[0],
        c: d[1],
        s: d[2..].iter().product(),
        groups,
        eps: eps as f32,
    }
}

/// The pooling window of `params`.
fn window(p: PoolParams) -> pool::Window {
    pool::Window {
        k: [p[0], p[1]],
        s: [p[2], p[3]],
        p: [p[4], p[5]],
    }
}

/// A transposed convolution of input `x` `[B, Cin, H, W]` with weight `w` `[Cin, Cout, KH, KW]`
/// seen as the convolution it transposes: from its output `[B, Cout, Ho, Wo]` back to `x`.
/// `None` when the output would have no rows or columns.
pub fn transposed_geometry(x: &[usize], w: &[usize], c: ConvTParams) -> Option<conv::Geometry> {
    let side = |n: usize, k: usize, i: usize| {
        ((n.max(1) - 1) * c[i] + c[4 + i] * (k.max(1) - 1) + c[6 + i] + 1).checked_sub(2 * c[2 + i])
    };
    let (ho, wo) = (side(x[2], w[2], 0)?, side(x[3], w[3], 1)?);
    (ho > 0 && wo > 0).then_some(conv::Geometry {
        b: x[0],
        c: w[1],
        h: ho,
        w: wo,
        o: w[0],
        kh: w[2],
        kw: w[3],
        s: [c[0], c[1]],
        p: [c[2], c[3]],
        d: [c[4], c[5]],
    })
}

/// The convolution on flex tensors.
fn flex_conv(x: &FlexTensor, weight: &FlexTensor, bias: Option<&FlexTensor>, params: Conv2dParams) -> FlexTensor {
    let g = geometry(&dims(x), &dims(weight), params);
    let (oh, ow) = g.out().unwrap_or((0, 0));
    let bias = bias.map(values);
    let out = conv::forward(&g, &values(x), &values(weight), bias.as_deref());
    flex_shaped(out, vec![g.b, g.o, oh, ow])
}

impl StrataKernels for Flex {
    fn strata_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = math::map(&values(&x), math::gelu);
        flex(out, &x)
    }

    fn strata_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = math::zip(&values(&x), &values(&grad), math::gelu_grad);
        flex(out, &x)
    }

    fn strata_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        by_rows(&x, math::softmax_row)
    }

    fn strata_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        by_row_pairs(&y, &grad, math::softmax_grad_row)
    }

    fn strata_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, params: Conv2dParams) -> FloatTensor<Self> {
        flex_conv(&x, &weight, None, params)
    }

    fn strata_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        flex_conv(&x, &weight, Some(&bias), params)
    }

    fn strata_conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        let g = geometry(&dims(&x), &dims(&weight), params);
        flex(conv::input_grad(&g, &values(&weight), &values(&grad)), &x)
    }

    fn strata_conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        let g = geometry(&dims(&x), &dims(&weight), params);
        flex(conv::weight_grad(&g, &values(&x), &values(&grad)), &weight)
    }

    fn strata_conv2d_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let d = dims(&grad);
        flex_shaped(conv::bias_grad(d[1], d[2] * d[3], &values(&grad)), vec![d[1]])
    }

    fn strata_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        // The transposed convolution's output is the input gradient of the convolution it
        // transposes, fed `x` as that convolution's output gradient.
        let Some(g) = transposed_geometry(&dims(&x), &dims(&weight), params) else {
            return Self::conv_transpose2d(x, weight, None, conv_t_options(params));
        };
        flex_shaped(
            conv::input_grad(&g, &values(&weight), &values(&x)),
            vec![g.b, g.c, g.h, g.w],
        )
    }

    fn strata_conv_transpose2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        let Some(g) = transposed_geometry(&dims(&x), &dims(&weight), params) else {
            return Self::conv_transpose2d_x_backward(weight, grad, conv_t_options(params));
        };
        flex(conv::forward(&g, &values(&grad), &values(&weight), None), &x)
    }

    fn strata_conv_transpose2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        let Some(g) = transposed_geometry(&dims(&x), &dims(&weight), params) else {
            return Self::conv_transpose2d_weight_backward(x, weight, grad, conv_t_options(params));
        };
        flex(conv::weight_grad(&g, &values(&grad), &values(&x)), &weight)
    }

    fn strata_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> FloatTensor<Self> {
        let g = groups_of(&x, groups, eps);
        flex(norm::forward(&g, &values(&x), &values(&gamma), &values(&beta)), &x)
    }

    fn strata_group_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = groups_of(&x, groups, eps);
        let (dx, dgamma, dbeta) = norm::backward(&g, &values(&x), &values(&gamma), &values(&grad));
        (flex(dx, &x), flex(dgamma, &gamma), flex(dbeta, &gamma))
    }

    fn strata_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = channels_of(&x, eps);
        let (y, mean, var) = norm::batch_forward(&g, &values(&x), &values(&gamma), &values(&beta));
        (flex(y, &x), flex(mean, &gamma), flex(var, &gamma))
    }

    fn strata_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = channels_of(&x, eps);
        let (dx, dgamma, dbeta) = norm::batch_backward(&g, &values(&x), &values(&gamma), &values(&grad));
        (flex(dx, &x), flex(dgamma, &gamma), flex(dbeta, &gamma))
    }

    fn strata_max_pool2d(x: FloatTensor<Self>, params: PoolParams) -> FloatTensor<Self> {
        let (d, win) = (dims(&x), window(params));
        let (oh, ow) = win.out(d[2], d[3]).unwrap_or((0, 0));
        flex_shaped(pool::forward(&values(&x), (d[2], d[3]), &win), vec![d[0], d[1], oh, ow])
    }

    fn strata_max_pool2d_backward(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        params: PoolParams,
    ) -> FloatTensor<Self> {
        let d = dims(&x);
        flex(
            pool::backward(&values(&x), (d[2], d[3]), &window(params), &values(&grad)),
            &x,
        )
    }

    fn strata_log_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        by_rows(&x, math::log_softmax_row)
    }

    fn strata_log_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        by_row_pairs(&y, &grad, math::log_softmax_grad_row)
    }
}

/// One kernel with a saved tensor for its backward pass: the forward kernel, and the backward
/// kernel fed the saved tensor and the output gradient.
macro_rules! saved_unary {
    ($name:ident, $fwd:ident, $bwd:ident, saves_output = $out:literal) => {
        fn $fwd(x: FloatTensor<Self>) -> FloatTensor<Self> {
            #[derive(Debug)]
            struct $name;
            impl<B: Backend + StrataKernels> Backward<B, 1> for $name {
                type State = B::FloatTensorPrimitive;
                fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                    let saved = ops.state;
                    unary::<B, _>(ops.parents, ops.node, grads, |g| B::$bwd(saved, g));
                }
            }
            match $name.prepare::<C>([x.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let input = x.into_primitive();
                    if $out {
                        let y = B::$fwd(input);
                        prep.finish(y.clone(), y)
                    } else {
                        let y = B::$fwd(input.clone());
                        prep.finish(input, y)
                    }
                }
                OpsKind::UnTracked(prep) => prep.finish(B::$fwd(x.into_primitive())),
            }
        }
    };
}

/// What a convolution's backward pass keeps: its input, its weight and its parameters.
type ConvState<B> = (FloatTensor<B>, FloatTensor<B>, Conv2dParams);

/// A convolution's gradients for its input and weight, each only where its parent wants one.
macro_rules! conv_grads {
    ($px:expr, $pw:expr, $grad:expr, $state:expr, $grads:expr) => {
        conv_grads!(
            $px,
            $pw,
            $grad,
            $state,
            $grads,
            strata_conv2d_x_grad,
            strata_conv2d_weight_grad
        )
    };
    ($px:expr, $pw:expr, $grad:expr, $state:expr, $grads:expr, $dx:ident, $dw:ident) => {{
        let (x, w, params) = $state;
        if let Some(node) = $px {
            let dx = B::$dx(x.clone(), w.clone(), $grad.clone(), params);
            $grads.register::<B>(node.id, dx);
        }
        if let Some(node) = $pw {
            $grads.register::<B>(node.id, B::$dw(x, w, $grad, params));
        }
    }};
}

impl<B: Backend + StrataKernels, C: CheckpointStrategy> StrataKernels for Autodiff<B, C> {
    fn strata_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, params: Conv2dParams) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Conv2d;
        impl<B: Backend + StrataKernels> Backward<B, 2> for Conv2d {
            type State = ConvState<B>;
            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [px, pw] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                conv_grads!(px, pw, grad, ops.state, grads);
            }
        }
        let state = (x.primitive().clone(), weight.primitive().clone(), params);
        let nodes = [x.node(), weight.node()];
        let y = B::strata_conv2d(x.into_primitive(), weight.into_primitive(), params);
        match Conv2d.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn strata_conv2d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        params: Conv2dParams,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Conv2dBias;
        impl<B: Backend + StrataKernels> Backward<B, 3> for Conv2dBias {
            type State = ConvState<B>;
            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [px, pw, pb] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = pb {
                    grads.register::<B>(node.id, B::strata_conv2d_bias_grad(grad.clone()));
                }
                conv_grads!(px, pw, grad, ops.state, grads);
            }
        }
        let state = (x.primitive().clone(), weight.primitive().clone(), params);
        let nodes = [x.node(), weight.node(), bias.node()];
        let y = B::strata_conv2d_bias(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
            params,
        );
        match Conv2dBias.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn strata_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        params: ConvTParams,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvTranspose2d;
        impl<B: Backend + StrataKernels> Backward<B, 2> for ConvTranspose2d {
            type State = (FloatTensor<B>, FloatTensor<B>, ConvTParams);
            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [px, pw] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                conv_grads!(
                    px,
                    pw,
                    grad,
                    ops.state,
                    grads,
                    strata_conv_transpose2d_x_grad,
                    strata_conv_transpose2d_weight_grad
                );
            }
        }
        let state = (x.primitive().clone(), weight.primitive().clone(), params);
        let nodes = [x.node(), weight.node()];
        let y = B::strata_conv_transpose2d(x.into_primitive(), weight.into_primitive(), params);
        match ConvTranspose2d.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn strata_group_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        groups: usize,
        eps: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct GroupNorm;
        impl<B: Backend + StrataKernels> Backward<B, 3> for GroupNorm {
            type State = (FloatTensor<B>, FloatTensor<B>, usize, f64);
            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [px, pg, pb] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, groups, eps) = ops.state;
                let (dx, dgamma, dbeta) = B::strata_group_norm_backward(x, gamma, grad, groups, eps);
                for (node, g) in [(px, dx), (pg, dgamma), (pb, dbeta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }
        let state = (x.primitive().clone(), gamma.primitive().clone(), groups, eps);
        let nodes = [x.node(), gamma.node(), beta.node()];
        let y = B::strata_group_norm(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            groups,
            eps,
        );
        match GroupNorm.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn strata_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct BatchNorm;
        impl<B: Backend + StrataKernels> Backward<B, 3> for BatchNorm {
            type State = (FloatTensor<B>, FloatTensor<B>, f64);
            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [px, pg, pb] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, eps) = ops.state;
                let (dx, dgamma, dbeta) = B::strata_batch_norm_backward(x, gamma, grad, eps);
                for (node, g) in [(px, dx), (pg, dgamma), (pb, dbeta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }
        let state = (x.primitive().clone(), gamma.primitive().clone(), eps);
        let nodes = [x.node(), gamma.node(), beta.node()];
        let (y, mean, var) =
            B::strata_batch_norm_train(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps);
        let y = match BatchNorm.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        // The statistics carry no gradient (they only feed the running averages).
        (y, FloatTensor::<Self>::new(mean), FloatTensor::<Self>::new(var))
    }

    fn strata_max_pool2d(x: FloatTensor<Self>, params: PoolParams) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaxPool2d;
        impl<B: Backend + StrataKernels> Backward<B, 1> for MaxPool2d {
            type State = (FloatTensor<B>, PoolParams);
            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let (x, params) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |g| {
                    B::strata_max_pool2d_backward(x, g, params)
                });
            }
        }
        match MaxPool2d.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input = x.into_primitive();
                let y = B::strata_max_pool2d(input.clone(), params);
                prep.finish((input, params), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::strata_max_pool2d(x.into_primitive(), params)),
        }
    }

    saved_unary!(StrataGelu, strata_gelu, strata_gelu_backward, saves_output = false);
    saved_unary!(
        StrataSoftmax,
        strata_softmax,
        strata_softmax_backward,
        saves_output = true
    );
    saved_unary!(
        StrataLogSoftmax,
        strata_log_softmax,
        strata_log_softmax_backward,
        saves_output = true
    );
}

/// False when the environment sets `STRATA_KERNELS=off`: Burn's own operations everywhere, to
/// compare speeds in one build (`scripts/bench_vs_torch.sh`, docs/performance.md).
pub fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("STRATA_KERNELS").map_or(true, |v| v != "off"))
}

/// True where the kernels run: a tensor of `f32` on the flex CPU device.
fn on_kernels<const D: usize>(x: &Tensor<D>) -> bool {
    enabled() && x.dtype() == DType::F32 && x.device() == Device::flex()
}

/// GELU with the exact Gaussian CDF (Strata's kernel on the CPU, Burn's elsewhere).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_kernels(&x) {
        return activation::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_gelu(x.into_dispatch()))
}

/// `dim` counted from the end when negative, as Burn's operations take it.
fn last<const D: usize>(dim: isize) -> bool {
    dim == -1 || dim == D as isize - 1
}

/// Softmax along `dim` (negative: from the end). Strata's one-pass kernel on the CPU for the
/// last dimension, Burn's operation otherwise.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: isize) -> Tensor<D> {
    if !on_kernels(&x) || !last::<D>(dim) {
        return activation::softmax(x, dim);
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_softmax(x.into_dispatch()))
}

/// Log-softmax along `dim` (negative: from the end). Strata's one-pass kernel on the CPU for
/// the last dimension, Burn's operation otherwise.
pub fn log_softmax<const D: usize>(x: Tensor<D>, dim: isize) -> Tensor<D> {
    if !on_kernels(&x) || !last::<D>(dim) {
        return activation::log_softmax(x, dim);
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_log_softmax(x.into_dispatch()))
}

/// A 2-D convolution (Strata's kernel on the CPU for one group, Burn's elsewhere): `x`
/// `[B, C, H, W]`, `weight` `[O, C/groups, KH, KW]`, optional `bias` `[O]`.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let [(top, bottom), (left, right)] = options.padding;
    if !on_kernels(&x) || options.groups != 1 || top != bottom || left != right {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let params = [
        options.stride[0],
        options.stride[1],
        top,
        left,
        options.dilation[0],
        options.dilation[1],
    ];
    let (x, weight) = (x.into_dispatch(), weight.into_dispatch());
    Tensor::from_dispatch(match bias {
        Some(bias) => <Dispatch as StrataKernels>::strata_conv2d_bias(x, weight, bias.into_dispatch(), params),
        None => <Dispatch as StrataKernels>::strata_conv2d(x, weight, params),
    })
}

/// A 2-D transposed convolution (Strata's kernel on the CPU for one group, Burn's elsewhere):
/// `x` `[B, Cin, H, W]`, `weight` `[Cin, Cout/groups, KH, KW]`, optional `bias` `[Cout]`.
pub fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
) -> Tensor<4> {
    let o = &options;
    let params = [
        o.stride[0],
        o.stride[1],
        o.padding[0],
        o.padding[1],
        o.dilation[0],
        o.dilation[1],
        o.padding_out[0],
        o.padding_out[1],
    ];
    let fits = transposed_geometry(&x.dims(), &weight.dims(), params).is_some();
    if !on_kernels(&x) || o.groups != 1 || !fits {
        return burn::tensor::module::conv_transpose2d(x, weight, bias, options);
    }
    let y = Tensor::<4>::from_dispatch(<Dispatch as StrataKernels>::strata_conv_transpose2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        params,
    ));
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            y + b.reshape([1, c, 1, 1])
        }
        None => y,
    }
}

/// Batch normalisation (Strata's kernel on the CPU while training, with Burn's update of the
/// running statistics; Burn's `BatchNorm` otherwise).
pub fn batch_norm<const D: usize>(x: Tensor<D>, l: &burn::nn::BatchNorm) -> Tensor<D> {
    if !on_kernels(&x) || D < 2 || !x.device().is_autodiff() || !l.training.is_enabled() {
        return l.forward(x);
    }
    let (y, mean, var) = <Dispatch as StrataKernels>::strata_batch_norm_train(
        x.into_dispatch(),
        l.gamma.val().into_dispatch(),
        l.beta.val().into_dispatch(),
        l.epsilon,
    );
    let (mean, var) = (Tensor::<1>::from_dispatch(mean), Tensor::<1>::from_dispatch(var));
    let device = mean.device();
    // As `BatchNorm::forward` does while training.
    let m = l.momentum;
    let running = |state: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let old = state.value_sync().to_device(&device);
        state.update(old.mul_scalar(1.0 - m).add(batch.detach().mul_scalar(m)).detach());
    };
    running(&l.running_mean, mean);
    running(&l.running_var, var);
    Tensor::from_dispatch(y)
}

/// Group normalisation with a scale and shift (Strata's kernel on the CPU, Burn's `GroupNorm`
/// elsewhere and without the affine parameters).
pub fn group_norm<const D: usize>(x: Tensor<D>, l: &burn::nn::GroupNorm) -> Tensor<D> {
    let (Some(gamma), Some(beta)) = (&l.gamma, &l.beta) else {
        return l.forward(x);
    };
    if !on_kernels(&x) || D < 2 || l.num_groups == 0 || l.num_channels % l.num_groups != 0 {
        return l.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_group_norm(
        x.into_dispatch(),
        gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        l.num_groups,
        l.epsilon,
    ))
}

/// 2-D max pooling (Strata's kernel on the CPU without dilation or ceil mode, Burn's elsewhere).
pub fn max_pool2d(x: Tensor<4>, options: burn::tensor::ops::MaxPoolOptions<2>) -> Tensor<4> {
    let [(top, bottom), (left, right)] = options.padding;
    if !on_kernels(&x) || options.ceil_mode || options.dilation != [1, 1] || top != bottom || left != right {
        return burn::tensor::module::max_pool2d(x, options);
    }
    let [kh, kw] = options.kernel_size;
    let [sh, sw] = options.stride;
    let params = [kh, kw, sh, sw, top, left];
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_max_pool2d(
        x.into_dispatch(),
        params,
    ))
}

#[cfg(test)]
mod tests;
