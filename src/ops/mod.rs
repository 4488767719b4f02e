//! The operations of a training step, each one autodiff operation with a hand-written backward,
//! organised by operation: every module holds the operation's reference implementation in Burn
//! tensor ops (any backend), its host implementation (the ndarray backends, through
//! [`crate::kernels`]) and a test that holds the two against each other.
//!
//! - [`recurrence`]: a whole layer direction (cuDNN's recipe: the loop runs on the inner
//!   backend, the recurrent weight gradient of all steps is one matmul);
//! - [`linear`]: `x W + b` over the last dimension (input projections, output heads);
//! - [`lookup`]: rows of a table by id (the embedding);
//! - [`cross_entropy`]: mean softmax cross-entropy;
//! - [`dropout`]: dropout in training.
//!
//! Which implementation serves a backend is decided in one place, [`route`]: modules stay
//! generic over `B: Backend`, and the backends this crate has its own code for are recognised by
//! type.

use std::any::{Any, TypeId};

use burn::backend::autodiff::{Autodiff, NodeId, grads::Gradients};
use burn::tensor::{
    Element, Tensor, TensorData, TensorPrimitive, backend::Backend, ops::FloatTensor,
};

use crate::kernels::Real;

pub(crate) mod cross_entropy;
pub(crate) mod dropout;
pub(crate) mod linear;
pub(crate) mod lookup;
pub(crate) mod recurrence;

pub use recurrence::reference::sigmoid;

type NdF32 = burn::backend::NdArray<f32>;
type NdF64 = burn::backend::NdArray<f64>;

/// The float type of a host implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostPrecision {
    /// `NdArray<f32>`.
    F32,
    /// `NdArray<f64>`.
    F64,
}

/// A GPU backend the recurrence runs as one autodiff operation on.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Device {
    /// `Wgpu` (the `wgpu` feature).
    #[cfg(feature = "wgpu")]
    Wgpu,
    /// `Cuda` (the `cuda` feature).
    #[cfg(feature = "cuda")]
    Cuda,
}

/// Which implementation of an operation serves backend `B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `B` is `Autodiff<NdArray<f32 | f64>>`: one autodiff operation, computed by the host kernels.
    AutodiffHost(HostPrecision),
    /// `B` is `Autodiff<I>` for a GPU backend `I`: one autodiff operation on `I`.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    AutodiffDevice(Device),
    /// `B` is `NdArray<f32 | f64>` (no autodiff): the host kernels, nothing kept.
    Host(HostPrecision),
    /// Any other backend: Burn's own tensor operations (the reference implementation).
    Other,
}

impl Route {
    /// Whether `B` is an autodiff backend with its own autodiff operations.
    pub(crate) fn is_autodiff_op(self) -> bool {
        match self {
            Route::AutodiffHost(_) => true,
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            Route::AutodiffDevice(_) => true,
            Route::Host(_) | Route::Other => false,
        }
    }
}

/// The implementation that serves backend `B`: the only place that looks at backend types.
pub(crate) fn route<B: Backend>() -> Route {
    let id = TypeId::of::<B>();
    if id == TypeId::of::<Autodiff<NdF32>>() {
        return Route::AutodiffHost(HostPrecision::F32);
    }
    if id == TypeId::of::<Autodiff<NdF64>>() {
        return Route::AutodiffHost(HostPrecision::F64);
    }
    if id == TypeId::of::<NdF32>() {
        return Route::Host(HostPrecision::F32);
    }
    if id == TypeId::of::<NdF64>() {
        return Route::Host(HostPrecision::F64);
    }
    #[cfg(feature = "wgpu")]
    if id == TypeId::of::<Autodiff<burn::backend::Wgpu>>() {
        return Route::AutodiffDevice(Device::Wgpu);
    }
    #[cfg(feature = "cuda")]
    if id == TypeId::of::<Autodiff<burn::backend::Cuda>>() {
        return Route::AutodiffDevice(Device::Cuda);
    }
    Route::Other
}

/// The GPU backend `I` is, when it is one that the recurrence's CubeCL kernels serve (the inner
/// backend of a [`Route::AutodiffDevice`]).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) fn device<I: Backend>() -> Option<Device> {
    let id = TypeId::of::<I>();
    #[cfg(feature = "wgpu")]
    if id == TypeId::of::<burn::backend::Wgpu>() {
        return Some(Device::Wgpu);
    }
    #[cfg(feature = "cuda")]
    if id == TypeId::of::<burn::backend::Cuda>() {
        return Some(Device::Cuda);
    }
    None
}

/// Runs `f` with the inner backend `I` of the autodiff backend that [`route`] found, its
/// tensors cast from `B`'s: the operations' bridge from a generic `B` to concrete types.
pub(crate) trait OnInner<B: Backend> {
    /// What the operation returns.
    type Output;
    /// `B` is `Autodiff<I>`, with `E` the host float when `I` is an ndarray backend (and `f32`
    /// otherwise, unused).
    fn run<I: Backend, E: HostFloat>(self) -> Self::Output;
}

/// Calls `op.run::<I, E>()` for the autodiff backend `B = Autodiff<I>` that `route` names.
pub(crate) fn on_inner<B: Backend, Op: OnInner<B>>(route: Route, op: Op) -> Op::Output {
    match route {
        Route::AutodiffHost(HostPrecision::F32) => op.run::<NdF32, f32>(),
        Route::AutodiffHost(HostPrecision::F64) => op.run::<NdF64, f64>(),
        #[cfg(feature = "wgpu")]
        Route::AutodiffDevice(Device::Wgpu) => op.run::<burn::backend::Wgpu, f32>(),
        #[cfg(feature = "cuda")]
        Route::AutodiffDevice(Device::Cuda) => op.run::<burn::backend::Cuda, f32>(),
        other => unreachable!("no inner backend for {other:?}"),
    }
}

/// The float types of the host kernels, as Burn elements.
pub(crate) trait HostFloat: Real + Element {}
impl HostFloat for f32 {}
impl HostFloat for f64 {}

/// Casts between two types that the caller knows, by `TypeId`, to be the same.
pub(crate) fn cast<T: 'static, U: 'static>(value: T) -> U {
    *(Box::new(value) as Box<dyn Any>)
        .downcast::<U>()
        .expect("types checked by TypeId")
}

/// Copies a tensor to a host vector.
///
/// ndarray's `into_data` hands over a uniquely owned row-major buffer without copying (the
/// usual case: an output or gradient of this crate's operations) but walks any other (shared,
/// like a parameter, or strided) element by element through a dynamic-dimension iterator, which
/// cost half the training time. For those, `x * 1` (exact for every value) first makes a unique
/// contiguous buffer in one vectorised pass.
pub(crate) fn host_vec<I: Backend, E: HostFloat, const D: usize>(t: Tensor<I, D>) -> Vec<E> {
    let x = primitive(t);
    let unique = hands_over::<I>(&x);
    let t = inner::<I, D>(x);
    let t = if unique { t } else { t.mul_scalar(1.0) };
    t.into_data()
        .convert::<E>()
        .into_vec::<E>()
        .expect("host floats")
}

/// Whether ndarray's `into_data` takes `x`'s buffer over without a copy: an f32 or f64 ndarray
/// tensor that alone owns its buffer, in row-major order.
fn hands_over<I: Backend>(x: &FloatTensor<I>) -> bool {
    #[cfg(feature = "ndarray")]
    {
        use burn::backend::ndarray::NdArrayTensor;
        match (x as &dyn Any).downcast_ref::<NdArrayTensor>() {
            Some(NdArrayTensor::F32(s)) => s.is_unique() && s.view().is_standard_layout(),
            Some(NdArrayTensor::F64(s)) => s.is_unique() && s.view().is_standard_layout(),
            _ => false,
        }
    }
    #[cfg(not(feature = "ndarray"))]
    {
        let _ = x;
        false
    }
}

/// A host vector as a tensor of `shape`.
pub(crate) fn from_host<I: Backend, E: HostFloat, const D: usize>(
    v: Vec<E>,
    shape: [usize; D],
    device: &I::Device,
) -> Tensor<I, D> {
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// A primitive of the inner backend as a tensor.
pub(crate) fn inner<I: Backend, const D: usize>(t: FloatTensor<I>) -> Tensor<I, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// A tensor's float primitive.
pub(crate) fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// Registers `t` as the gradient of `node`, when the node is tracked.
pub(crate) fn register<I: Backend, const D: usize>(
    grads: &mut Gradients,
    node: Option<NodeId>,
    t: Tensor<I, D>,
) {
    if let Some(node) = node {
        grads.register::<I>(node, primitive(t));
    }
}

/// An integer tensor's values as indices.
pub(crate) fn host_ids<B: Backend, const D: usize>(
    t: Tensor<B, D, burn::tensor::Int>,
) -> Vec<usize> {
    t.into_data()
        .iter::<i64>()
        .map(|v| usize::try_from(v).expect("indices are not negative"))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    //! Helpers for the operations' tests: each host implementation against its reference on
    //! the same backend, values and gradients, in f32 (the library's unit tests share one
    //! process, and Burn 0.21 fixes the ndarray device's float type for the whole process; the
    //! f64 checks of the same paths run in `tests/gradcheck.rs`).
    use super::*;
    use burn::tensor::{Distribution, Int, Tolerance};

    pub(crate) type Nd = NdF32;
    pub(crate) type Ad = Autodiff<NdF32>;

    pub(crate) fn random<const D: usize>(shape: [usize; D]) -> Tensor<Ad, D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
    }

    pub(crate) fn ids(values: &[i64], shape: [usize; 2]) -> Tensor<Ad, 2, Int> {
        Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
    }

    pub(crate) fn close<const D: usize>(a: Tensor<Nd, D>, b: Tensor<Nd, D>) {
        a.into_data()
            .assert_approx_eq::<f32>(&b.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
    }
}
