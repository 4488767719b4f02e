//! The row lookup (an embedding): rows of a table picked by id, as one autodiff operation.
//!
//! - reference: Burn's `select` (whose backward fills zero tensors element by element on
//!   ndarray, and on the cube backends loops over every id for each row of the table);
//! - host ([`crate::kernels::lookup`]): a parallel row copy forward and a parallel scatter-add
//!   backward;
//! - device (wgpu, cuda): `select` forward, and the backward as one matmul, `onehot(ids)^T d`.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::tensor::{Int, Tensor, TensorPrimitive, backend::Backend, ops::FloatTensor};

use super::{
    HostFloat, OnInner, Route, cast, from_host, host_ids, host_vec, inner, on_inner, primitive,
    register, route,
};
use crate::kernels;

/// Rows of `table` picked by `ids`.
///
/// # Shapes
/// - `table`: `[V, G]`, `ids`: `[B, T]` with values below `V`; returns `[B, T, G]`
///
/// # Panics
/// If an id is not below `V`.
pub(crate) fn gather_rows<B: Backend>(table: Tensor<B, 2>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    match route::<B>() {
        route @ Route::AutodiffHost(_) => {
            let [batch, seq] = ids.dims();
            let v = table.dims()[0];
            let ids = host_ids(ids);
            if let Some(bad) = ids.iter().find(|&&i| i >= v) {
                panic!("gather_rows: id {bad} is not below the table's {v} rows");
            }
            let op = HostLookup::<B> {
                table: primitive(table),
                ids,
                shape: [batch, seq],
            };
            Tensor::from_primitive(TensorPrimitive::Float(on_inner(route, op)))
        }
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        route @ Route::AutodiffDevice(_) => {
            let op = DeviceLookup::<B> {
                table: primitive(table),
                ids: ids.into_primitive(),
            };
            Tensor::from_primitive(TensorPrimitive::Float(on_inner(route, op)))
        }
        _ => reference(table, ids),
    }
}

/// The device operation's inputs.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
struct DeviceLookup<B: Backend> {
    table: FloatTensor<B>,
    ids: burn::tensor::ops::IntTensor<B>,
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl<B: Backend> OnInner<B> for DeviceLookup<B> {
    type Output = FloatTensor<B>;

    fn run<I: Backend, E: HostFloat>(self) -> FloatTensor<B> {
        let table: FloatTensor<Autodiff<I>> = cast(self.table);
        let ids: Tensor<I, 2, Int> = Tensor::from_primitive(cast(self.ids));
        let prep = OneHotBackward
            .prepare::<NoCheckpointing>([table.node.clone()])
            .compute_bound()
            .stateful();
        let table: Tensor<I, 2> = inner(table.primitive);
        let [v, g] = table.dims();
        let [batch, seq] = ids.dims();
        let ids = ids.reshape([batch * seq]);
        let out = table.select(0, ids.clone()).reshape([batch, seq, g]);
        let out = primitive(out);
        cast::<FloatTensor<Autodiff<I>>, _>(match prep {
            OpsKind::Tracked(prep) => prep.finish((ids, v), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        })
    }
}

/// The lookup's gradient as one matmul: `onehot(ids)^T d`, `[V, N] x [N, G]`.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[derive(Debug)]
struct OneHotBackward;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl<I: Backend> Backward<I, 1> for OneHotBackward {
    /// The ids `[N]` and the table's rows `V`.
    type State = (Tensor<I, 1, Int>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents.map(|n| n.map(|n| n.id));
        let d: Tensor<I, 3> = inner(grads.consume::<I>(&ops.node));
        if node.is_none() {
            return;
        }
        let (ids, v) = ops.state;
        let [batch, seq, g] = d.dims();
        let n = batch * seq;
        let classes = Tensor::<I, 1, Int>::arange(0..v as i64, &d.device());
        let onehot = classes.reshape([v, 1]).equal(ids.reshape([1, n])).float();
        register(grads, node, onehot.matmul(d.reshape([n, g])));
    }
}

/// The reference: Burn's `select`.
fn reference<B: Backend>(table: Tensor<B, 2>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    let [batch, seq] = ids.dims();
    let g = table.dims()[1];
    table
        .select(0, ids.reshape([batch * seq]))
        .reshape([batch, seq, g])
}

/// The host operation's inputs.
struct HostLookup<B: Backend> {
    table: FloatTensor<B>,
    ids: Vec<usize>,
    shape: [usize; 2],
}

impl<B: Backend> OnInner<B> for HostLookup<B> {
    type Output = FloatTensor<B>;

    fn run<I: Backend, E: HostFloat>(self) -> FloatTensor<B> {
        let table: FloatTensor<Autodiff<I>> = cast(self.table);
        let prep = LookupBackward::<E>(PhantomData)
            .prepare::<NoCheckpointing>([table.node.clone()])
            .compute_bound()
            .stateful();
        let table: Tensor<I, 2> = inner(table.primitive);
        let device = table.device();
        let dims = table.dims();
        let rows = kernels::lookup::gather_rows::<E>(&host_vec(table), &self.ids, dims[1]);
        let [batch, seq] = self.shape;
        let out = primitive(from_host::<I, E, 3>(rows, [batch, seq, dims[1]], &device));
        cast::<FloatTensor<Autodiff<I>>, _>(match prep {
            OpsKind::Tracked(prep) => prep.finish(
                LookupTrace {
                    ids: Arc::new(self.ids),
                    table: dims,
                },
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        })
    }
}

/// What the host lookup keeps: the ids and the table's shape `[V, G]`.
#[derive(Clone, Debug)]
struct LookupTrace {
    ids: Arc<Vec<usize>>,
    table: [usize; 2],
}

#[derive(Debug)]
struct LookupBackward<E>(PhantomData<E>);

impl<I: Backend, E: HostFloat> Backward<I, 1> for LookupBackward<E> {
    type State = LookupTrace;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents.map(|n| n.map(|n| n.id));
        let d: Tensor<I, 3> = inner(grads.consume::<I>(&ops.node));
        let device = d.device();
        if node.is_none() {
            return;
        }
        let [v, g] = ops.state.table;
        let dt = kernels::lookup::scatter_add_rows::<E>(&host_vec(d), &ops.state.ids, g, v);
        register(grads, node, from_host::<I, E, 2>(dt, [v, g], &device));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::{close, ids, random};

    #[test]
    fn host_matches_the_reference() {
        let table = random([6, 7]).require_grad();
        let ids = ids(&[5, 0, 5, 2, 2, 2, 1, 0], [2, 4]);
        let ours = gather_rows(table.clone(), ids.clone());
        let theirs = reference(table.clone(), ids);
        close(ours.clone().inner(), theirs.clone().inner());
        let w = random([2, 4, 7]).detach();
        let g_ours = (ours * w.clone()).sum().backward();
        let g_theirs = (theirs * w).sum().backward();
        close(
            table.grad(&g_ours).expect("grad"),
            table.grad(&g_theirs).expect("grad"),
        );
    }
}
