//! The kernels under autodiff: each trait method runs the inner backend's kernel and records a
//! backward step that calls the inner backend's gradient kernels (Burn's `Backward` API).

use super::{Conv2dParams, ConvTParams, PoolParams, StrataKernels};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

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
            /// The input, `γ`, the batch mean and variance, and `ε`.
            type State = (FloatTensor<B>, FloatTensor<B>, (FloatTensor<B>, FloatTensor<B>), f64);
            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [px, pg, pb] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, gamma, (mean, var), eps) = ops.state;
                let (dx, dgamma, dbeta) = B::strata_batch_norm_backward(x, gamma, mean, var, grad, eps);
                for (node, g) in [(px, dx), (pg, dgamma), (pb, dbeta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, g);
                    }
                }
            }
        }
        let (xp, gp) = (x.primitive().clone(), gamma.primitive().clone());
        let nodes = [x.node(), gamma.node(), beta.node()];
        let (y, mean, var) =
            B::strata_batch_norm_train(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps);
        let y = match BatchNorm.prepare::<C>(nodes).compute_bound().stateful() {
            // The backward pass reuses the batch statistics (no second pass over `x` for them).
            OpsKind::Tracked(prep) => prep.finish((xp, gp, (mean.clone(), var.clone()), eps), y),
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

    fn strata_mean_abs(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct StrataMeanAbs;
        impl<B: Backend + StrataKernels> Backward<B, 1> for StrataMeanAbs {
            type State = ();
            fn backward(self, _: Ops<Self::State, 1>, _: &mut Gradients, _: &mut Checkpointer) {
                // Only ever recorded for a detached input (`kernels::mean_abs` detaches first),
                // which no gradient reaches.
            }
        }
        let nodes = [x.node()];
        let y = B::strata_mean_abs(x.into_primitive());
        StrataMeanAbs.prepare::<C>(nodes).compute_bound().stateless(y)
    }

    fn strata_row_mean(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct RowMean;
        impl<B: Backend + StrataKernels> Backward<B, 1> for RowMean {
            /// The row length.
            type State = usize;
            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let n = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |g| B::strata_row_mean_backward(g, n));
            }
        }
        let n = burn::backend::TensorMetadata::shape(&x)
            .as_slice()
            .last()
            .copied()
            .unwrap_or(1);
        match RowMean.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(n, B::strata_row_mean(x.into_primitive())),
            OpsKind::UnTracked(prep) => prep.finish(B::strata_row_mean(x.into_primitive())),
        }
    }

    fn strata_add(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct StrataAdd;
        impl<B: Backend + StrataKernels> Backward<B, 2> for StrataAdd {
            type State = ();
            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
                // One shape: the output gradient is each input's.
                binary::<B, _, _>(ops.parents, ops.node, grads, |g| g, |g| g);
            }
        }
        let nodes = [a.node(), b.node()];
        let y = B::strata_add(a.into_primitive(), b.into_primitive());
        StrataAdd.prepare::<C>(nodes).compute_bound().stateless(y)
    }

    saved_unary!(StrataGelu, strata_gelu, strata_gelu_backward, saves_output = false);
    saved_unary!(StrataRelu, strata_relu, strata_relu_backward, saves_output = true);
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
