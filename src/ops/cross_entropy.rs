//! Mean softmax cross-entropy over all positions (PyTorch's `F.cross_entropy` of the flattened
//! logits) as one autodiff operation.
//!
//! - reference: burn-nn's `CrossEntropyLoss` (five passes with scalar `exp` on ndarray);
//! - host ([`crate::kernels::cross_entropy`]): one parallel pass forward, one backward.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{
    ElementConversion, Int, Tensor, TensorPrimitive, backend::Backend, ops::FloatTensor,
};

use super::{
    HostFloat, OnInner, Route, cast, from_host, host_ids, host_vec, inner, on_inner, primitive,
    register, route,
};
use crate::kernels;

/// Mean softmax cross-entropy of `logits` against `targets`.
///
/// # Shapes
/// - `logits`: `[.., V]` (rank `D`), `targets`: the leading dimensions (rank `D - 1`) with
///   values below `V`; returns `[1]`
///
/// # Panics
/// If the shapes do not fit or a target is not below `V`.
pub(crate) fn cross_entropy<B: Backend, const D: usize, const DT: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, DT, Int>,
) -> Tensor<B, 1> {
    assert_eq!(
        DT + 1,
        D,
        "cross_entropy: targets have one dimension fewer than logits"
    );
    let dims = logits.dims();
    assert_eq!(
        &dims[..D - 1],
        &targets.dims()[..],
        "cross_entropy: targets do not match the logits' leading dimensions"
    );
    match route::<B>() {
        route @ Route::AutodiffHost(_) => {
            let v = dims[D - 1];
            let targets = host_ids(targets);
            if let Some(bad) = targets.iter().find(|&&t| t >= v) {
                panic!("cross_entropy: target {bad} is not below the {v} classes");
            }
            let op = HostCrossEntropy::<B, D> {
                logits: primitive(logits),
                targets,
            };
            Tensor::from_primitive(TensorPrimitive::Float(on_inner(route, op)))
        }
        _ => reference(logits, targets),
    }
}

/// The reference: burn-nn's `CrossEntropyLoss` on the flattened rows.
fn reference<B: Backend, const D: usize, const DT: usize>(
    logits: Tensor<B, D>,
    targets: Tensor<B, DT, Int>,
) -> Tensor<B, 1> {
    let dims = logits.dims();
    let v = dims[D - 1];
    let n: usize = dims[..D - 1].iter().product();
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits.reshape([n, v]), targets.reshape([n]))
}

/// The host operation's inputs.
struct HostCrossEntropy<B: Backend, const D: usize> {
    logits: FloatTensor<B>,
    targets: Vec<usize>,
}

impl<B: Backend, const D: usize> OnInner<B> for HostCrossEntropy<B, D> {
    type Output = FloatTensor<B>;

    fn run<I: Backend, E: HostFloat>(self) -> FloatTensor<B> {
        let logits: FloatTensor<Autodiff<I>> = cast(self.logits);
        let prep = CrossEntropyBackward::<E, D>(PhantomData)
            .prepare::<NoCheckpointing>([logits.node.clone()])
            .compute_bound()
            .stateful();
        let logits: Tensor<I, D> = inner(logits.primitive);
        let device = logits.device();
        let shape = logits.dims();
        let mut probs = host_vec::<I, E, D>(logits);
        let loss = kernels::cross_entropy::forward(&mut probs, &self.targets, shape[D - 1]);
        let out = primitive(from_host::<I, E, 1>(vec![loss], [1], &device));
        cast::<FloatTensor<Autodiff<I>>, _>(match prep {
            OpsKind::Tracked(prep) => prep.finish(
                CrossEntropyTrace {
                    probs,
                    targets: Arc::new(self.targets),
                    shape,
                },
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        })
    }
}

/// What the host operation keeps: the softmax probabilities `[N, V]` and the targets.
#[derive(Clone, Debug)]
struct CrossEntropyTrace<E, const D: usize> {
    probs: Vec<E>,
    targets: Arc<Vec<usize>>,
    shape: [usize; D],
}

#[derive(Debug)]
struct CrossEntropyBackward<E, const D: usize>(PhantomData<E>);

impl<I: Backend, E: HostFloat, const D: usize> Backward<I, 1> for CrossEntropyBackward<E, D> {
    type State = CrossEntropyTrace<E, D>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents.map(|n| n.map(|n| n.id));
        let g: Tensor<I, 1> = inner(grads.consume::<I>(&ops.node));
        let device = g.device();
        if node.is_none() {
            return;
        }
        let g: E = g.into_scalar().elem();
        let CrossEntropyTrace {
            mut probs,
            targets,
            shape,
        } = ops.state;
        let scale = g * E::from_f64(1.0 / targets.len().max(1) as f64);
        kernels::cross_entropy::backward(&mut probs, &targets, shape[D - 1], scale);
        register(grads, node, from_host::<I, E, D>(probs, shape, &device));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::{close, ids, random};

    #[test]
    fn host_matches_the_reference() {
        let logits = random([3, 4, 5]).mul_scalar(3.0).detach().require_grad();
        let targets = ids(&[0, 4, 2, 1, 3, 3, 0, 1, 4, 2, 2, 0], [3, 4]);
        let ours = cross_entropy(logits.clone(), targets.clone());
        let theirs = reference(logits.clone(), targets);
        close(ours.clone().inner(), theirs.clone().inner());
        // A non-unit upstream gradient, to check the scale.
        let g_ours = ours.mul_scalar(2.5).backward();
        let g_theirs = theirs.mul_scalar(2.5).backward();
        close(
            logits.grad(&g_ours).expect("grad"),
            logits.grad(&g_theirs).expect("grad"),
        );
    }
}
