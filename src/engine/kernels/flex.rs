//! The kernels on the flex CPU backend: each trait method reads its tensors' values, runs the
//! kernel of `conv`, `pool`, `norm` or `math`, and wraps the result as a flex tensor.

use super::{Conv2dParams, ConvTParams, PoolParams, StrataKernels, conv, conv_t_options, math, norm, pool};
use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::TensorData;

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
pub(super) fn transposed_geometry(x: &[usize], w: &[usize], c: ConvTParams) -> Option<conv::Geometry> {
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

    fn strata_mean_abs(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let v = values(&x);
        let mean = math::sum_abs(&v) / v.len().max(1) as f32;
        flex_shaped(vec![mean], vec![1])
    }

    fn strata_row_mean(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let mut d = dims(&x);
        let n = d.last().copied().unwrap_or(1);
        if let Some(last) = d.last_mut() {
            *last = 1;
        }
        flex_shaped(math::row_means(&values(&x), n), d)
    }

    fn strata_row_mean_backward(grad: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        let mut d = dims(&grad);
        if let Some(last) = d.last_mut() {
            *last = n;
        }
        flex_shaped(math::spread_means(&values(&grad), n), d)
    }

    fn strata_add(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        flex(math::zip(&values(&a), &values(&b), |x, y| x + y), &a)
    }

    fn strata_relu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex(math::map(&values(&x), math::relu), &x)
    }

    fn strata_relu_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        flex(math::zip(&values(&y), &values(&grad), math::relu_grad), &y)
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
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = channels_of(&x, eps);
        let (mean, var) = (values(&mean), values(&var));
        let stats = (&*mean, &*var);
        let (dx, dgamma, dbeta) = norm::batch_backward(&g, &values(&x), &values(&gamma), stats, &values(&grad));
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

    fn strata_adam(
        theta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mut step: math::AdamStep,
        max_norm: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = values(&grad);
        if max_norm > 0.0 {
            // Burn's norm clipping: `max_norm / (‖g‖ + tiny)`, never above 1.
            let norm = math::sum_sq(&g).sqrt();
            step.scale *= (max_norm / (norm + f32::MIN_POSITIVE)).min(1.0);
        }
        let (mut theta, mut m, mut v) = (writable(theta), writable(m), writable(v));
        let n = g.len();
        math::adam(
            &mut theta.storage_mut::<f32>()[..n],
            &mut m.storage_mut::<f32>()[..n],
            &mut v.storage_mut::<f32>()[..n],
            &g,
            step,
        );
        (theta, m, v)
    }
}

/// `x` with contiguous values from its first element on, to be written in place (copied first
/// where it is a view; `storage_mut` copies it too where its values are shared).
fn writable(x: FlexTensor) -> FlexTensor {
    if x.layout().is_contiguous() && x.layout().start_offset() == 0 {
        x
    } else {
        x.to_contiguous()
    }
}
