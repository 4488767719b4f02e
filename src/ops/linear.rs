//! The linear map `x W + b` over the last dimension (input projections, output heads) as one
//! autodiff operation.
//!
//! - reference: Burn's `reshape` and `matmul` (any backend);
//! - host ([`crate::kernels::linear`]): one gemm forward and two backward, taking and returning
//!   `[B, T, ..]` as the caller has it (burn-ndarray 0.21 copies the whole tensor on every
//!   `reshape`, contiguous or not), no transposed copies.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::tensor::{Tensor, TensorPrimitive, backend::Backend, ops::FloatTensor};

use super::{
    HostFloat, OnInner, Route, cast, from_host, host_vec, inner, on_inner, primitive, register,
    route,
};
use crate::kernels;

/// `x W + b` over the last dimension.
///
/// # Shapes
/// - `x`: `[.., I]`, `w`: `[I, O]`, `b`: `[O]`; returns `[.., O]`
pub(crate) fn linear<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    w: Tensor<B, 2>,
    b: Option<Tensor<B, 1>>,
) -> Tensor<B, D> {
    match route::<B>() {
        route @ Route::AutodiffHost(_) => {
            let b = b.unwrap_or_else(|| Tensor::zeros([w.dims()[1]], &w.device()));
            let op = HostLinear::<B, D>([primitive(x), primitive(w), primitive(b)]);
            Tensor::from_primitive(TensorPrimitive::Float(on_inner(route, op)))
        }
        _ => reference(x, w, b),
    }
}

/// The reference: Burn's `matmul` on the rows.
fn reference<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    w: Tensor<B, 2>,
    b: Option<Tensor<B, 1>>,
) -> Tensor<B, D> {
    let mut dims = x.dims();
    let i = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    dims[D - 1] = w.dims()[1];
    let y = x.reshape([rows, i]).matmul(w);
    let y = match b {
        Some(b) => y + b.unsqueeze_dim(0),
        None => y,
    };
    y.reshape(dims)
}

/// The host operation's inputs, `[x, w, b]` of backend `B = Autodiff<NdArray<E>>`.
struct HostLinear<B: Backend, const D: usize>([FloatTensor<B>; 3]);

impl<B: Backend, const D: usize> OnInner<B> for HostLinear<B, D> {
    type Output = FloatTensor<B>;

    fn run<I: Backend, E: HostFloat>(self) -> FloatTensor<B> {
        let [x, w, b]: [FloatTensor<Autodiff<I>>; 3] = self.0.map(cast);
        let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
        let prep = LinearBackward::<E, D>(PhantomData)
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful();
        let x: Tensor<I, D> = inner(x.primitive);
        let device = x.device();
        let x_shape = x.dims();
        let i = x_shape[D - 1];
        let n = x_shape[..D - 1].iter().product();
        let w: Tensor<I, 2> = inner(w.primitive);
        let o = w.dims()[1];
        let (x, w, b): (Vec<E>, Vec<E>, Vec<E>) = (
            host_vec(x),
            host_vec(w),
            host_vec(inner::<I, 1>(b.primitive)),
        );
        let y = kernels::linear::forward(&x, &w, &b, [n, i, o]);
        let mut y_shape = x_shape;
        y_shape[D - 1] = o;
        let out = primitive(from_host::<I, E, D>(y, y_shape, &device));
        cast::<FloatTensor<Autodiff<I>>, _>(match prep {
            OpsKind::Tracked(prep) => prep.finish(
                LinearTrace {
                    x: Arc::new(x),
                    w: Arc::new(w),
                    x_shape,
                    dims: [n, i, o],
                },
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        })
    }
}

/// What the host operation keeps for its backward: `x` `[N, I]`, `W` `[I, O]`, the shape of `x`.
#[derive(Clone, Debug)]
struct LinearTrace<E, const D: usize> {
    x: Arc<Vec<E>>,
    w: Arc<Vec<E>>,
    x_shape: [usize; D],
    dims: [usize; 3],
}

#[derive(Debug)]
struct LinearBackward<E, const D: usize>(PhantomData<E>);

impl<I: Backend, E: HostFloat, const D: usize> Backward<I, 3> for LinearBackward<E, D> {
    type State = LinearTrace<E, D>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents.map(|n| n.map(|n| n.id));
        let dy: Tensor<I, D> = inner(grads.consume::<I>(&ops.node));
        let device = dy.device();
        let s = ops.state;
        let [_, i, o] = s.dims;
        let need = [node_x.is_some(), node_w.is_some(), node_b.is_some()];
        let [dx, dw, db] = kernels::linear::backward::<E>(&s.x, &s.w, &host_vec(dy), s.dims, need);
        if let Some(dx) = dx {
            register(grads, node_x, from_host::<I, E, D>(dx, s.x_shape, &device));
        }
        if let Some(dw) = dw {
            register(grads, node_w, from_host::<I, E, 2>(dw, [i, o], &device));
        }
        if let Some(db) = db {
            register(grads, node_b, from_host::<I, E, 1>(db, [o], &device));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::{Ad, close, random};

    #[test]
    fn host_matches_the_reference() {
        let x = random([2, 3, 4]).require_grad();
        let w = random([4, 5]).require_grad();
        let b = random([5]).require_grad();
        let ours = linear(x.clone(), w.clone(), Some(b.clone()));
        let theirs = reference::<Ad, 3>(x.clone(), w.clone(), Some(b.clone()));
        close(ours.clone().inner(), theirs.clone().inner());
        let r = random([2, 3, 5]).detach();
        let g_ours = (ours * r.clone()).sum().backward();
        let g_theirs = (theirs * r).sum().backward();
        close(x.grad(&g_ours).expect("x"), x.grad(&g_theirs).expect("x"));
        close(w.grad(&g_ours).expect("w"), w.grad(&g_theirs).expect("w"));
        close(b.grad(&g_ours).expect("b"), b.grad(&g_theirs).expect("b"));
    }
}
