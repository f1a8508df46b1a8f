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

mod math;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::activation;
use burn::tensor::{DType, Device, Tensor, TensorData};

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

/// A flex tensor of `shape` holding `v`.
fn flex(v: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    let shape: Vec<usize> = like.layout().shape().iter().copied().collect();
    FlexTensor::from_data(TensorData::new(v, shape))
}

/// The size of the last dimension (rows are contiguous runs of it).
fn row_len(x: &FlexTensor) -> usize {
    x.layout().shape().iter().last().copied().unwrap_or(1).max(1)
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
        let out = math::rows(&values(&x), row_len(&x), math::softmax_row);
        flex(out, &x)
    }

    fn strata_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = math::rows2(&values(&y), &values(&grad), row_len(&y), math::softmax_grad_row);
        flex(out, &y)
    }

    fn strata_log_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = math::rows(&values(&x), row_len(&x), math::log_softmax_row);
        flex(out, &x)
    }

    fn strata_log_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let out = math::rows2(&values(&y), &values(&grad), row_len(&y), math::log_softmax_grad_row);
        flex(out, &y)
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

impl<B: Backend + StrataKernels, C: CheckpointStrategy> StrataKernels for Autodiff<B, C> {
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

#[cfg(test)]
mod tests;
