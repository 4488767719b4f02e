//! The recurrence of a whole layer direction as one autodiff operation, as cuDNN does it.
//!
//! Burn's generic autodiff would record every step: a slice of the projected input, a matmul and
//! a dozen elementwise ops per step, each a graph node, and the weight gradient summed step by
//! step. Here the forward loop runs on the inner (non-autodiff) backend and keeps the gate
//! activations; the backward runs the `dh` recurrence per step and computes the recurrent weight
//! gradient of all time steps in one large matmul (`H_prev^T dG`).
//!
//! - [`reference`]: the loop in Burn tensor ops (any backend);
//! - [`host`]: the loop in [`crate::kernels::recurrence`] (the ndarray backends);
//! - `cube`: the loop as CubeCL kernels, one matmul and one gate kernel per step (the GPU
//!   backends, wgpu and CUDA; `BURN_RNN_GPU_RECURRENCE=reference` runs the reference there
//!   instead, for comparison).
//!
//! The final states `h_T` and `c_T` are two companion operations on the output, so that the
//! output stays one unshared buffer (see [`FinalStateBackward`]).

#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub(crate) mod cube;
pub(crate) mod host;
pub(crate) mod reference;

use std::sync::{Arc, Mutex};

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::tensor::{Tensor, TensorPrimitive, backend::Backend, ops::FloatTensor};

use super::{
    HostFloat, HostPrecision, OnInner, Route, cast, inner, on_inner, primitive, register, route,
};
use crate::cell_kind::CellKind;
pub(crate) use crate::kernels::recurrence::Recurrence;

/// What the forward keeps for the backward.
#[derive(Clone, Debug)]
pub(crate) enum Trace<I: Backend> {
    /// The reference's inner-backend tensors.
    Reference(reference::ReferenceTrace<I>),
    /// The host kernel's buffers.
    Host(host::AnyHostTrace),
    /// The CubeCL kernels' tensors.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    Cube(cube::CubeTrace<I>),
}

/// The output `[B, T, H]`, the final hidden state and the LSTM's final cell state `[B, H]`,
/// and, when kept, the trace for the backward.
pub(crate) type Forward<I> = (
    Tensor<I, 3>,
    Tensor<I, 2>,
    Option<Tensor<I, 2>>,
    Option<Trace<I>>,
);

/// The inputs of the recurrence.
///
/// # Shapes
/// - `p`: projected input `[B, T, G*H]` (for RNN and LSTM with both biases folded in; for GRU
///   with `b_ih` only), `w_hh`: `[H, G*H]`, `b_hh`: `[G*H]` (read by the GRU only)
/// - `h0`, `c0`: `[B, H]` (`c0` is read by the LSTM only)
#[derive(Clone, Debug)]
pub(crate) struct Inputs<I: Backend> {
    pub p: Tensor<I, 3>,
    pub w_hh: Tensor<I, 2>,
    pub b_hh: Tensor<I, 1>,
    pub h0: Tensor<I, 2>,
    pub c0: Tensor<I, 2>,
}

/// The gradients of the forward's inputs.
pub(crate) struct InputGrads<I: Backend> {
    /// `[B, T, G*H]`.
    pub dp: Tensor<I, 3>,
    /// `[H, G*H]`.
    pub dw_hh: Tensor<I, 2>,
    /// `[G*H]`, the GRU's only (the other cells fold `b_hh` into `p`).
    pub db_hh: Option<Tensor<I, 1>>,
    /// `[B, H]`.
    pub dh0: Tensor<I, 2>,
    /// `[B, H]`.
    pub dc0: Tensor<I, 2>,
}

/// Runs the recurrence on a backend without autodiff: the host kernel on ndarray, the CubeCL
/// kernels on the GPU backends, the reference elsewhere.
///
/// # Shapes
/// - see [`Inputs`]
/// - returns the hidden state after every step at its time position `[B, T, H]`, the final
///   hidden state `[B, H]`, the LSTM's final cell state `[B, H]` (`None` for RNN and GRU) and,
///   when `keep`, what the backward pass needs
fn forward<I: Backend>(rec: Recurrence, inputs: Inputs<I>, keep: bool) -> Forward<I> {
    match route::<I>() {
        Route::Host(HostPrecision::F32) => host::forward::<I, f32>(rec, inputs, keep),
        Route::Host(HostPrecision::F64) => host::forward::<I, f64>(rec, inputs, keep),
        _ => {
            #[cfg(any(feature = "wgpu", feature = "cuda"))]
            let inputs = match super::device::<I>() {
                Some(device) if !gpu_reference() => {
                    match cube_forward::<I>(device, rec, inputs, keep) {
                        Ok(forward) => return forward,
                        Err(inputs) => inputs,
                    }
                }
                _ => inputs,
            };
            reference::forward(rec, inputs, keep)
        }
    }
}

/// Whether `BURN_RNN_GPU_RECURRENCE=reference` asks the GPU backends for the reference loop
/// (Burn tensor ops) instead of the CubeCL kernels.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn gpu_reference() -> bool {
    std::env::var("BURN_RNN_GPU_RECURRENCE").is_ok_and(|v| v == "reference")
}

/// The CubeCL kernels' forward on GPU backend `device` (which `I` is).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn cube_forward<I: Backend>(
    device: super::Device,
    rec: Recurrence,
    inputs: Inputs<I>,
    keep: bool,
) -> Result<Forward<I>, Inputs<I>> {
    match device {
        #[cfg(feature = "wgpu")]
        super::Device::Wgpu => {
            cube::forward::<I, burn::backend::wgpu::WgpuRuntime, u32>(rec, inputs, keep)
        }
        #[cfg(feature = "cuda")]
        super::Device::Cuda => cube::forward::<I, cubecl::cuda::CudaRuntime, u8>(rec, inputs, keep),
    }
}

/// The gradients of [`forward`]'s inputs from those of its output `[B, T, H]` and of the final
/// hidden and cell states `[B, H]` (when the loss uses them).
fn backward<I: Backend>(
    trace: Trace<I>,
    d_out: Tensor<I, 3>,
    d_final: [Option<Tensor<I, 2>>; 2],
) -> InputGrads<I> {
    match trace {
        Trace::Reference(s) => reference::backward(s, d_out, d_final),
        Trace::Host(h) => match h {
            host::AnyHostTrace::F32(_) => host::backward::<I, f32>(h, d_out, d_final),
            host::AnyHostTrace::F64(_) => host::backward::<I, f64>(h, d_out, d_final),
        },
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        Trace::Cube(s) => match super::device::<I>().expect("a GPU backend kept this trace") {
            #[cfg(feature = "wgpu")]
            super::Device::Wgpu => {
                cube::backward::<I, burn::backend::wgpu::WgpuRuntime, u32>(s, d_out, d_final)
            }
            #[cfg(feature = "cuda")]
            super::Device::Cuda => {
                cube::backward::<I, cubecl::cuda::CudaRuntime, u8>(s, d_out, d_final)
            }
        },
    }
}

/// The recurrent weight's gradient over all time steps in one matmul, `dW_hh = H_prev^T dG`, and
/// the GRU's `db_hh` (the other cells fold `b_hh` into `p`).
///
/// # Shapes
/// - `h0`: `[B, H]`, `out`: the forward's output `[B, T, H]` (so `h_{t-1}` of every time position
///   is `h0` joined to `out` shifted by one step, in the direction of `rec`)
/// - `d_rec`: the gradient of `h W_hh + b_hh` at every time position, `[B * T, G*H]`
/// - returns `[H, G*H]` and, for the GRU, `[G*H]`
fn recurrent_weight_grads<I: Backend>(
    rec: Recurrence,
    h0: Tensor<I, 2>,
    out: Tensor<I, 3>,
    d_rec: Tensor<I, 2>,
) -> (Tensor<I, 2>, Option<Tensor<I, 1>>) {
    let [batch, seq, hidden] = out.dims();
    let gh = d_rec.dims()[1];
    let h0 = h0.reshape([batch, 1, hidden]);
    let h_prev = match (seq, rec.reverse) {
        (1, _) => h0,
        (_, false) => Tensor::cat(vec![h0, out.narrow(1, 0, seq - 1)], 1),
        (_, true) => Tensor::cat(vec![out.narrow(1, 1, seq - 1), h0], 1),
    };
    let dw_hh = h_prev
        .reshape([batch * seq, hidden])
        .transpose()
        .matmul(d_rec.clone());
    let db_hh = (rec.kind == CellKind::Gru).then(|| d_rec.sum_dim(0).reshape([gh]));
    (dw_hh, db_hh)
}

/// The outputs of [`recurrence`]: `[B, T, H]`, the final hidden state `[B, H]` and the LSTM's
/// final cell state `[B, H]`.
pub(crate) type Outputs<B> = (Tensor<B, 3>, Tensor<B, 2>, Option<Tensor<B, 2>>);

/// Runs the recurrence as one operation: directly when `B` has no autodiff, as one autodiff
/// operation when `B` is an autodiff backend with its own implementation ([`route`]); otherwise
/// hands `p` back, and the caller takes the generic path (Burn's autodiff through every step).
/// `p` is taken by value so that the host kernel can reuse its buffer.
///
/// # Shapes
/// See [`Inputs`]; `b_hh` and `c0` are zeros when `None`.
pub(crate) fn recurrence<B: Backend>(
    rec: Recurrence,
    p: Tensor<B, 3>,
    w_hh: Tensor<B, 2>,
    b_hh: Option<Tensor<B, 1>>,
    h0: Tensor<B, 2>,
    c0: Option<Tensor<B, 2>>,
) -> Result<Outputs<B>, Tensor<B, 3>> {
    let route = route::<B>();
    let autodiff = B::ad_enabled(&p.device());
    if autodiff && !route.is_autodiff_op() {
        return Err(p);
    }
    let device = p.device();
    let [batch, _, gh] = p.dims();
    let hidden = w_hh.dims()[0];
    let b_hh = b_hh.unwrap_or_else(|| Tensor::zeros([gh], &device));
    let c0 = c0.unwrap_or_else(|| Tensor::zeros([batch, hidden], &device));
    if !autodiff {
        let inputs = Inputs {
            p,
            w_hh,
            b_hh,
            h0,
            c0,
        };
        let (out, last, cell, _) = forward::<B>(rec, inputs, false);
        return Ok((out, last, cell));
    }
    let op = AutodiffRecurrence::<B> {
        rec,
        inputs: [
            primitive(p),
            primitive(w_hh),
            primitive(b_hh),
            primitive(h0),
            primitive(c0),
        ],
    };
    let (out, last, cell) = on_inner(route, op);
    Ok((
        Tensor::from_primitive(TensorPrimitive::Float(out)),
        Tensor::from_primitive(TensorPrimitive::Float(last)),
        cell.map(|c| Tensor::from_primitive(TensorPrimitive::Float(c))),
    ))
}

/// The autodiff operation's inputs `[p, w_hh, b_hh, h0, c0]` on backend `B = Autodiff<I>`.
struct AutodiffRecurrence<B: Backend> {
    rec: Recurrence,
    inputs: [FloatTensor<B>; 5],
}

impl<B: Backend> OnInner<B> for AutodiffRecurrence<B> {
    type Output = (FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>);

    fn run<I: Backend, E: HostFloat>(self) -> Self::Output {
        let inputs: [FloatTensor<Autodiff<I>>; 5] = self.inputs.map(cast);
        let nodes = inputs.each_ref().map(|t| t.node.clone());
        let prep = RecurrenceBackward
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful();
        let keep = matches!(prep, OpsKind::Tracked(_));
        // The primitives are moved, not cloned: ndarray's `into_data` copies a uniquely owned
        // buffer out directly but walks a shared one element by element.
        let [p, w_hh, b_hh, h0, c0] = inputs.map(|t| t.primitive);
        let inputs = Inputs {
            p: inner(p),
            w_hh: inner(w_hh),
            b_hh: inner(b_hh),
            h0: inner(h0),
            c0: inner(c0),
        };
        let (out, last, cell, trace) = forward::<I>(self.rec, inputs, keep);
        let shape = out.dims();
        let out = primitive(out);
        let slots = FinalGradSlots::<I>::default();
        let out: FloatTensor<Autodiff<I>> = match prep {
            OpsKind::Tracked(prep) => prep.finish(
                BackwardState {
                    trace: trace.expect("kept"),
                    d_final: slots.clone(),
                },
                out,
            ),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        let state = |slot: usize, value: Tensor<I, 2>| -> FloatTensor<Autodiff<I>> {
            let value = primitive(value);
            match (FinalStateBackward { slot })
                .prepare::<NoCheckpointing>([out.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((slots.clone(), shape), value),
                OpsKind::UnTracked(prep) => prep.finish(value),
            }
        };
        let last = state(0, last);
        let cell = cell.map(|c| state(1, c));
        (cast(out), cast(last), cell.map(cast))
    }
}

/// Where the final states' operations leave their gradients (`dh_T`, `dc_T`) for the
/// recurrence's backward.
type FinalGradSlots<I> = Arc<Mutex<[Option<FloatTensor<I>>; 2]>>;

/// The recurrence's backward state: what the forward kept, and the slots of `dh_T` and `dc_T`.
#[derive(Clone, Debug)]
struct BackwardState<I: Backend> {
    trace: Trace<I>,
    d_final: FinalGradSlots<I>,
}

#[derive(Debug)]
struct RecurrenceBackward;

impl<I: Backend> Backward<I, 5> for RecurrenceBackward {
    type State = BackwardState<I>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_p, node_w, node_b, node_h0, node_c0] = ops.parents.map(|n| n.map(|n| n.id));
        let d_out = inner::<I, 3>(grads.consume::<I>(&ops.node));
        let d_final = std::mem::take(&mut *ops.state.d_final.lock().expect("final state slots"))
            .map(|d| d.map(inner::<I, 2>));
        let g = backward(ops.state.trace, d_out, d_final);
        register(grads, node_p, g.dp);
        register(grads, node_w, g.dw_hh);
        if let Some(db_hh) = g.db_hh {
            register(grads, node_b, db_hh);
        }
        register(grads, node_h0, g.dh0);
        register(grads, node_c0, g.dc0);
    }
}

/// A final state (`h_T`, or the LSTM's `c_T`) as an operation on the recurrence's output, so
/// that the output stays one unshared buffer: the value comes from the recurrence's forward;
/// the backward hands the state's gradient to the recurrence's backward (which runs after it,
/// one level deeper in the tape) through the shared slot, and gives the output a zero gradient
/// so that the recurrence's backward runs even when only the final state is used.
#[derive(Debug)]
struct FinalStateBackward {
    /// 0: `h_T`, 1: `c_T`.
    slot: usize,
}

impl<I: Backend> Backward<I, 1> for FinalStateBackward {
    type State = (FinalGradSlots<I>, [usize; 3]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents.map(|n| n.map(|n| n.id));
        let grad = grads.consume::<I>(&ops.node);
        let device = inner::<I, 2>(grad.clone()).device();
        let (slots, shape) = ops.state;
        slots.lock().expect("final state slots")[self.slot] = Some(grad);
        if node.is_some() {
            register(grads, node, Tensor::<I, 3>::zeros(shape, &device));
        }
    }
}

#[cfg(test)]
mod tests {
    //! The host kernel against the reference, forward and backward, on the same inputs (f32:
    //! the library's unit tests share one process, whose ndarray float type Burn fixes; the f64
    //! checks against PyTorch and finite differences are in `tests/`).
    use super::*;
    use crate::cell_kind::{Activation, CellKind};
    use crate::ops::tests::{Nd, close};

    /// Normal(0, 0.5) values from a seeded generator of this test's own: the same inputs on
    /// every run (Burn's RNG is process-global, shared by the parallel unit tests).
    fn random<const D: usize>(shape: [usize; D], seed: u64) -> Tensor<Nd, D> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                // Box-Muller.
                let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
                0.5 * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
            })
            .collect();
        Tensor::from_data(
            burn::tensor::TensorData::new(values, shape),
            &Default::default(),
        )
    }

    /// With each per-step product: the `gemm` crate and every packed micro-kernel this CPU has.
    #[test]
    fn host_matches_the_reference() {
        use crate::kernels::packed;
        let isas = std::iter::once(None).chain(packed::available_isas().into_iter().map(Some));
        for isa in isas {
            packed::force_isa(isa);
            host_matches_the_reference_with([5, 4, 3]);
            // More rows than one micro-kernel block, columns not a multiple of its panel.
            host_matches_the_reference_with([13, 3, 21]);
        }
    }

    fn host_matches_the_reference_with([batch, seq, hidden]: [usize; 3]) {
        // f32 sums of `hidden` terms of N(0, 1) values: rounding grows with the width.
        let close = |a: Tensor<Nd, 3>, b: Tensor<Nd, 3>| close_to(a, b, hidden);
        let close2 = |a: Tensor<Nd, 2>, b: Tensor<Nd, 2>| close_to(a, b, hidden);
        let close1 = |a: Tensor<Nd, 1>, b: Tensor<Nd, 1>| close_to(a, b, hidden);
        for (kind, activation) in [
            (CellKind::Rnn, Activation::Tanh),
            (CellKind::Rnn, Activation::Relu),
            (CellKind::Lstm, Activation::Tanh),
            (CellKind::Gru, Activation::Tanh),
        ] {
            for reverse in [false, true] {
                let rec = Recurrence {
                    kind,
                    activation,
                    reverse,
                };
                let gh = kind.gates() * hidden;
                let p = random([batch, seq, gh], 1);
                let w = random([hidden, gh], 2);
                let b = random([gh], 3);
                let (h0, c0) = (random([batch, hidden], 4), random([batch, hidden], 5));
                let inputs = Inputs {
                    p,
                    w_hh: w,
                    b_hh: b,
                    h0,
                    c0,
                };
                let run = |host: bool| {
                    if host {
                        host::forward::<Nd, f32>(rec, inputs.clone(), true)
                    } else {
                        reference::forward(rec, inputs.clone(), true)
                    }
                };
                let (out_h, last_h, cell_h, trace_h) = run(true);
                let (out_r, last_r, cell_r, trace_r) = run(false);
                close(out_h, out_r);
                close2(last_h, last_r);
                assert_eq!(cell_h.is_some(), kind == CellKind::Lstm);
                if let (Some(a), Some(b)) = (cell_h, cell_r) {
                    close2(a, b);
                }
                let d_out = random([batch, seq, hidden], 6);
                let d_final = [
                    Some(random([batch, hidden], 7)),
                    Some(random([batch, hidden], 8)),
                ];
                let g_h = backward(trace_h.expect("kept"), d_out.clone(), d_final.clone());
                let g_r = backward(trace_r.expect("kept"), d_out, d_final);
                close(g_h.dp, g_r.dp);
                close2(g_h.dw_hh, g_r.dw_hh);
                close2(g_h.dh0, g_r.dh0);
                if kind == CellKind::Gru {
                    close1(g_h.db_hh.expect("GRU"), g_r.db_hh.expect("GRU"));
                }
                if kind == CellKind::Lstm {
                    close2(g_h.dc0, g_r.dc0);
                }
            }
        }
    }

    fn close_to<const D: usize>(a: Tensor<Nd, D>, b: Tensor<Nd, D>, hidden: usize) {
        if hidden <= 4 {
            close(a, b);
        } else {
            a.into_data().assert_approx_eq::<f32>(
                &b.into_data(),
                burn::tensor::Tolerance::rel_abs(1e-4, 1e-5),
            );
        }
    }
}
