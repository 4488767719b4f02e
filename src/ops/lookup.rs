//! The row lookup (an embedding): rows of a table picked by id, as one autodiff operation.
//!
//! - reference: Burn's `select` (whose backward fills zero tensors element by element on
//!   ndarray);
//! - host ([`crate::kernels::lookup`]): a parallel row copy forward and a parallel scatter-add
//!   backward.

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
        _ => reference(table, ids),
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
