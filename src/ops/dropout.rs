//! Dropout (training only), as one autodiff operation.
//!
//! - reference: Burn's `Dropout` (a Bernoulli tensor drawn element by element from the backend's
//!   generator, then two products; on ndarray a third of a character model's training step);
//! - host ([`crate::kernels::dropout`]): one parallel pass forward and one backward, the mask
//!   computed from a key and each element's index, not stored. The key is drawn from Burn's
//!   generator, so a run seeded the same way drops the same elements (and `--resume` stays
//!   exact); the masks differ from the reference's, which is random too.
//!
//! Other backends (wgpu, cuda) use the reference.

use std::marker::PhantomData;

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::nn::Dropout;
use burn::tensor::{Distribution, Tensor, TensorPrimitive, backend::Backend, ops::FloatTensor};

use super::{
    HostFloat, OnInner, Route, cast, from_host, host_vec, inner, on_inner, primitive, register,
    route,
};
use crate::kernels;

/// `x` with each element zeroed with probability `prob` and the others scaled by
/// `1 / (1 - prob)`, when `B` is an autodiff backend (training); `x` itself otherwise, or when
/// `prob` is 0. The same as [`burn::nn::Dropout::forward`] with a faster host implementation.
///
/// # Shapes
/// - `x`: any, e.g. `[batch, seq, hidden]`; returns the same shape
pub(crate) fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    if !B::ad_enabled(&x.device()) || prob == 0.0 {
        return x;
    }
    match route::<B>() {
        route @ Route::AutodiffHost(_) => {
            let op = HostDropout::<B, D> {
                x: primitive(x),
                keep: 1.0 - prob,
            };
            Tensor::from_primitive(TensorPrimitive::Float(on_inner(route, op)))
        }
        _ => reference(x, prob),
    }
}

/// The reference: Burn's `Dropout`.
fn reference<B: Backend, const D: usize>(x: Tensor<B, D>, prob: f64) -> Tensor<B, D> {
    Dropout { prob }.forward(x)
}

/// A 64-bit key from the backend's generator (four 16-bit draws, exact in f32), so that Burn's
/// seeding decides the masks.
fn draw_key<I: Backend>(device: &I::Device) -> u64 {
    let draws: Tensor<I, 1> = Tensor::random([4], Distribution::Uniform(0.0, 65536.0), device);
    draws
        .into_data()
        .iter::<f64>()
        .fold(0u64, |key, v| (key << 16) | (v.floor() as u64 & 0xFFFF))
}

/// The host operation's input and the probability of keeping an element.
struct HostDropout<B: Backend, const D: usize> {
    x: FloatTensor<B>,
    keep: f64,
}

impl<B: Backend, const D: usize> OnInner<B> for HostDropout<B, D> {
    type Output = FloatTensor<B>;

    fn run<I: Backend, E: HostFloat>(self) -> FloatTensor<B> {
        let x: FloatTensor<Autodiff<I>> = cast(self.x);
        let prep = DropoutBackward::<E, D>(PhantomData)
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful();
        let x: Tensor<I, D> = inner(x.primitive);
        let device = x.device();
        let shape = x.dims();
        let key = draw_key::<I>(&device);
        let y = kernels::dropout::apply::<E>(host_vec(x), key, self.keep);
        let out = primitive(from_host::<I, E, D>(y, shape, &device));
        cast::<FloatTensor<Autodiff<I>>, _>(match prep {
            OpsKind::Tracked(prep) => prep.finish((key, self.keep), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        })
    }
}

#[derive(Debug)]
struct DropoutBackward<E, const D: usize>(PhantomData<E>);

impl<I: Backend, E: HostFloat, const D: usize> Backward<I, 1> for DropoutBackward<E, D> {
    /// The mask's key and the probability of keeping an element.
    type State = (u64, f64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents.map(|n| n.map(|n| n.id));
        let d: Tensor<I, D> = inner(grads.consume::<I>(&ops.node));
        if node.is_none() {
            return;
        }
        let (device, shape) = (d.device(), d.dims());
        let (key, keep) = ops.state;
        let dx = kernels::dropout::apply::<E>(host_vec(d), key, keep);
        register(grads, node, from_host::<I, E, D>(dx, shape, &device));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::{Nd, random};
    use burn::tensor::TensorData;

    fn values<const D: usize>(t: Tensor<Nd, D>) -> Vec<f32> {
        t.into_data().into_vec::<f32>().unwrap()
    }

    /// The host operation drops and scales as the reference does (the masks are random, so the
    /// two are compared by what every mask must satisfy), its gradient drops the same elements,
    /// and each call draws a new mask.
    #[test]
    fn host_drops_scales_and_backpropagates_as_the_reference() {
        let prob = 0.3;
        let scale = (1.0 / (1.0 - prob)) as f32;
        let x = random([4, 50, 60]).require_grad();
        let w = random([4, 50, 60]).detach();
        let xs = values(x.clone().inner());
        let ws = values(w.clone().inner());
        for (name, out) in [
            ("host", dropout(x.clone(), prob)),
            ("reference", reference(x.clone(), prob)),
        ] {
            let ys = values(out.clone().inner());
            let grads = (out * w.clone()).sum().backward();
            let gs = values(x.grad(&grads).expect("grad"));
            let mut dropped = 0;
            for i in 0..xs.len() {
                if ys[i] == 0.0 {
                    dropped += 1;
                    assert_eq!(gs[i], 0.0, "{name}: a dropped element passes no gradient");
                } else {
                    assert_eq!(ys[i], xs[i] * scale, "{name}: element {i}");
                    assert_eq!(gs[i], ws[i] * scale, "{name}: gradient {i}");
                }
            }
            // Binomial(12000, 0.3): sd 50.
            let n = xs.len() as f64;
            assert!(
                (dropped as f64 - n * prob).abs() < 5.0 * (n * prob * (1.0 - prob)).sqrt(),
                "{name}: dropped {dropped} of {n}"
            );
        }

        // Successive calls draw new masks. (That Burn's seed decides them, so that a run resumes
        // exactly, is tested with the whole training loop in tests/char_lm.rs, where the
        // process-wide generator is not shared with other tests.)
        let device = Default::default();
        let a = values(dropout(x.clone(), prob).inner());
        let b = values(dropout(x.clone(), prob).inner());
        assert_ne!(a, b);

        // Without autodiff, or with probability 0, dropout is the identity.
        let plain: Tensor<Nd, 2> =
            Tensor::from_data(TensorData::new(vec![1.0f32; 6], [2, 3]), &device);
        assert_eq!(values(dropout(plain, 0.5)), vec![1.0; 6]);
        assert_eq!(values(dropout(x.clone(), 0.0).inner()), xs);
    }
}
