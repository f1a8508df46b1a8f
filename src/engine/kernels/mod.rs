//! Strata-owned CPU kernels for the operations training spends its time in, registered with
//! Burn through its backend-extension route (`#[backend_extension]`): a kernel trait implemented
//! for the flex CPU backend, and for `Autodiff<B>` with handwritten backward passes. Nothing of
//! Burn is forked.
//!
//! Why: on flex, Burn's convolution gradients are a convolution with the batch as channels and a
//! transposed convolution, its GELU runs `libm::erff` one element at a time on one thread, and
//! under autodiff its softmax, group norm and batch norm are chains of separate passes, each with
//! its own backward. Here: convolutions direct on AVX-512 (`direct`: register tiles of
//! positions × 16 output channels, no patch matrix) or as patches × weight with both gradients
//! as matrix products (`conv`), max pooling that finds the winner again from the saved input (`pool`),
//! normalisation statistics and all gradients in one pass (`norm`), and element- and row-wise
//! functions in one vectorised pass (`math`), all split across the rayon pool
//! (docs/performance.md has the numbers).
//!
//! The public functions here take the kernel only where it applies — a flex tensor of `f32` —
//! and fall back to Burn's own operation everywhere else (the wgpu device, other dtypes), so
//! callers use them unconditionally.

mod autodiff;
pub mod conv;
mod direct;
mod flex;
mod math;

pub use math::AdamStep;
pub mod norm;
pub mod pool;

use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::tensor::activation;
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{DType, Device, Tensor};

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
    /// The mean absolute value, `[1]`, of a tensor taken off the graph (no gradient).
    fn strata_mean_abs(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mean(Self::float_abs(x))
    }
    /// The mean of every row of `x` along its last dimension, which becomes 1 (global average
    /// pooling over a flattened map).
    fn strata_row_mean(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = burn::backend::TensorMetadata::shape(&x).num_dims() - 1;
        Self::float_mean_dim(x, last)
    }
    /// The gradient of [`strata_row_mean`](Self::strata_row_mean) for rows of `n` values: each
    /// row's output gradient over `n`, in every one of its values.
    fn strata_row_mean_backward(grad: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        let mut dims = burn::backend::TensorMetadata::shape(&grad).to_vec();
        if let Some(last) = dims.last_mut() {
            *last = n;
        }
        let spread = Self::float_expand(grad, burn::tensor::Shape::from(dims));
        Self::float_div_scalar(spread, (n.max(1) as f64).into())
    }
    /// The sum of two tensors of one shape.
    fn strata_add(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_add(a, b)
    }
    /// ReLU, `max(x, 0)` (NaN stays NaN).
    fn strata_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu(x)
    }
    /// The gradient of [`strata_relu`](Self::strata_relu) given its output and the output gradient.
    fn strata_relu_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_backward(y, grad)
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
    /// `γ` and `β`, given the batch `mean` and `var` it returned.
    fn strata_batch_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = Self::batch_norm_train_backward(x, gamma, mean, var, eps, grad);
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
    /// One Adam / AdamW step of a parameter `theta` with its gradient and moments `m`, `v`
    /// (see [`math::adam`] for the arithmetic and [`AdamStep`] for the constants); with
    /// `max_norm > 0` the gradient is first scaled to at most that L2 norm. Returns the new
    /// parameter and moments.
    fn strata_adam(
        theta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        step: AdamStep,
        max_norm: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        adam_composite::<Self>(theta, grad, m, v, step, max_norm)
    }
}

/// One Adam step in Burn's own operations (the trait's default).
fn adam_composite<B: Backend>(
    theta: FloatTensor<B>,
    grad: FloatTensor<B>,
    m: FloatTensor<B>,
    v: FloatTensor<B>,
    s: AdamStep,
    max_norm: f32,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let rank = grad.shape().num_dims();
    let mut g = B::float_mul_scalar(grad, s.scale.into());
    if max_norm > 0.0 {
        let norm = B::float_sqrt(B::float_sum(B::float_mul(g.clone(), g.clone())));
        let coef = B::float_div_scalar(B::float_add_scalar(norm, f32::MIN_POSITIVE.into()), max_norm.into());
        let coef = B::float_clamp_max(B::float_recip(coef), 1.0f32.into());
        g = B::float_mul(g, B::float_reshape(coef, burn::tensor::Shape::from(vec![1; rank])));
    }
    if s.l2 != 0.0 {
        g = B::float_add(g, B::float_mul_scalar(theta.clone(), s.l2.into()));
    }
    let m = B::float_add(
        B::float_mul_scalar(m, s.beta_1.into()),
        B::float_mul_scalar(g.clone(), (1.0 - s.beta_1).into()),
    );
    let g2 = B::float_mul(g.clone(), g);
    let v = B::float_add(
        B::float_mul_scalar(v, s.beta_2.into()),
        B::float_mul_scalar(g2, (1.0 - s.beta_2).into()),
    );
    let denom = B::float_add_scalar(B::float_sqrt(v.clone()), s.eps.into());
    let update = B::float_div(B::float_mul_scalar(m.clone(), (s.lr * s.factor).into()), denom);
    let theta = B::float_sub(B::float_mul_scalar(theta, s.keep.into()), update);
    (theta, m, v)
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

/// The mean absolute value of `x` (detached) as a one-value tensor: one parallel pass on the CPU
/// with no intermediate tensor (the app's node activity reads it for every node), Burn's
/// `abs().mean()` elsewhere.
pub fn mean_abs<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let x = x.detach();
    if !on_kernels(&x) {
        return x.abs().mean();
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_mean_abs(x.into_dispatch()))
}

/// True where Strata's kernels run for `x`: an `f32` tensor on the flex CPU device, kernels not
/// switched off (`STRATA_KERNELS=off`).
pub fn runs_on<const D: usize>(x: &Tensor<D>) -> bool {
    on_kernels(x)
}

/// One Adam / AdamW step of a parameter on Strata's kernel: one parallel pass, in place where
/// the tensors are not shared. Every tensor must pass [`runs_on`] and have `theta`'s shape (the
/// trait's default, Burn's own operations, runs otherwise). Returns the new parameter and
/// moments `(θ, m, v)`.
pub fn adam<const D: usize>(
    theta: Tensor<D>,
    grad: Tensor<D>,
    m: Tensor<D>,
    v: Tensor<D>,
    step: AdamStep,
    max_norm: Option<f32>,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (theta, m, v) = <Dispatch as StrataKernels>::strata_adam(
        theta.into_dispatch(),
        grad.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        step,
        max_norm.unwrap_or(0.0),
    );
    (
        Tensor::from_dispatch(theta),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}

/// Global average pooling, `[b, c, h, w]` → `[b, c]` (Strata's kernel on the CPU: one parallel
/// pass each way, where Burn's adaptive pooling backward runs on one thread; Burn's adaptive
/// pooling elsewhere).
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    if !on_kernels(&x) {
        return burn::tensor::module::adaptive_avg_pool2d(x, [1, 1]).reshape([b, c]);
    }
    let rows = x.reshape([b, c, h * w]).into_dispatch();
    Tensor::<3>::from_dispatch(<Dispatch as StrataKernels>::strata_row_mean(rows)).reshape([b, c])
}

/// `a + b` (Strata's kernel on the CPU for two tensors of one shape — a residual connection —
/// Burn's elsewhere and for broadcasting): one parallel pass, where Burn's flex addition runs on
/// one thread.
pub fn add<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if !on_kernels(&a) || !on_kernels(&b) || a.dims() != b.dims() {
        return a + b;
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_add(
        a.into_dispatch(),
        b.into_dispatch(),
    ))
}

/// ReLU (Strata's kernel on the CPU, Burn's elsewhere): one parallel pass each way, where Burn's
/// flex ReLU and its backward run on one thread.
pub fn relu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_kernels(&x) {
        return activation::relu(x);
    }
    Tensor::from_dispatch(<Dispatch as StrataKernels>::strata_relu(x.into_dispatch()))
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
    let fits = flex::transposed_geometry(&x.dims(), &weight.dims(), params).is_some();
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
    if !on_kernels(&x) || D < 2 || l.num_groups == 0 || !l.num_channels.is_multiple_of(l.num_groups) {
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
