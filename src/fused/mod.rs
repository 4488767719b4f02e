//! A custom autodiff operation for a whole recurrent layer direction, as cuDNN does it.
//!
//! The generic path lets Burn's autodiff record every step: a slice of the projected input, a
//! matmul and a dozen elementwise ops per step, each a graph node, and the weight gradient summed
//! step by step. Here the forward loop runs on the inner (non-autodiff) backend and keeps the
//! gate activations; the backward runs the `dh` recurrence per step and computes the recurrent
//! weight gradient of all time steps in one large matmul (`H_prev^T dG`).
//!
//! Modules stay generic over `B: Backend`: [`try_fused`] recognises, by `TypeId`, the autodiff
//! backends this crate ships (ndarray f32/f64, and wgpu with the `wgpu` feature) and returns
//! `None` for any other backend, which then takes the generic path. Both paths are checked
//! against PyTorch by the parity tests.

use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

use burn::backend::autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::NoCheckpointing},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::tensor::{
    Element, Tensor, TensorData, TensorPrimitive, backend::Backend, ops::FloatTensor,
};

use crate::cell::{Activation, CellKind, sigmoid};
use crate::cpu;

mod ops;
pub(crate) use ops::{cross_entropy, gather_rows, linear};

/// Which recurrence to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recurrence {
    /// Vanilla RNN with tanh.
    Tanh,
    /// Vanilla RNN with ReLU.
    Relu,
    /// LSTM, gates i, f, g, o.
    Lstm,
    /// GRU, gates r, z, n.
    Gru,
}

impl Recurrence {
    pub(crate) fn new(kind: CellKind, activation: Activation) -> Self {
        match (kind, activation) {
            (CellKind::Rnn, Activation::Tanh) => Recurrence::Tanh,
            (CellKind::Rnn, Activation::Relu) => Recurrence::Relu,
            (CellKind::Lstm, _) => Recurrence::Lstm,
            (CellKind::Gru, _) => Recurrence::Gru,
        }
    }
}

/// What the forward pass keeps for the backward pass.
#[derive(Clone, Debug)]
enum Saved<I: Backend> {
    /// Inner-backend tensors (any backend).
    Tensors(TensorSaved<I>),
    /// Host buffers of the ndarray kernel ([`crate::cpu`]).
    Host(HostSaved),
}

/// The host kernel's state, f32 or f64.
#[derive(Clone, Debug)]
enum HostSaved {
    F32(Arc<cpu::Saved<f32>>),
    F64(Arc<cpu::Saved<f64>>),
}

/// The float types of the host kernel.
trait HostFloat: cpu::Real + Element {
    fn wrap(saved: cpu::Saved<Self>) -> HostSaved;
    fn unwrap(saved: &HostSaved) -> &cpu::Saved<Self>;
}

impl HostFloat for f32 {
    fn wrap(saved: cpu::Saved<Self>) -> HostSaved {
        HostSaved::F32(Arc::new(saved))
    }
    fn unwrap(saved: &HostSaved) -> &cpu::Saved<Self> {
        match saved {
            HostSaved::F32(s) => s,
            HostSaved::F64(_) => unreachable!("saved in f64"),
        }
    }
}

impl HostFloat for f64 {
    fn wrap(saved: cpu::Saved<Self>) -> HostSaved {
        HostSaved::F64(Arc::new(saved))
    }
    fn unwrap(saved: &HostSaved) -> &cpu::Saved<Self> {
        match saved {
            HostSaved::F64(s) => s,
            HostSaved::F32(_) => unreachable!("saved in f32"),
        }
    }
}

/// Which host kernel serves backend `I`: `Some(false)` f32, `Some(true)` f64, `None` none.
fn host_kind<I: Backend>() -> Option<bool> {
    let id = TypeId::of::<I>();
    if id == TypeId::of::<burn::backend::NdArray<f32>>() {
        Some(false)
    } else if id == TypeId::of::<burn::backend::NdArray<f64>>() {
        Some(true)
    } else {
        None
    }
}

/// Copies a tensor to a host vector.
///
/// ndarray's `into_data` hands over a uniquely owned contiguous buffer without copying but walks
/// any other (shared, like a parameter, or strided) element by element through a
/// dynamic-dimension iterator, which cost half the training time. `x * 1` (exact for every
/// value) first makes a unique contiguous buffer in one vectorised pass (in place when the
/// buffer is already unique).
fn host_vec<I: Backend, E: HostFloat, const D: usize>(t: Tensor<I, D>) -> Vec<E> {
    t.mul_scalar(1.0)
        .into_data()
        .convert::<E>()
        .into_vec::<E>()
        .expect("host floats")
}

#[allow(clippy::too_many_arguments)]
fn host_forward<I: Backend, E: HostFloat>(
    kind: Recurrence,
    reverse: bool,
    p: Tensor<I, 3>,
    w_hh: Tensor<I, 2>,
    b_hh: Tensor<I, 1>,
    h0: Tensor<I, 2>,
    c0: Tensor<I, 2>,
    keep: bool,
) -> Forward<I> {
    let device = p.device();
    let [batch, seq, _] = p.dims();
    let hidden = w_hh.dims()[0];
    let (out, last, cell, saved) = cpu::forward::<E>(
        kind,
        reverse,
        [batch, seq, hidden],
        host_vec(p),
        host_vec(w_hh),
        &host_vec::<I, E, 1>(b_hh),
        host_vec(h0),
        host_vec(c0),
        keep,
    );
    let out = Tensor::from_data(TensorData::new(out, [batch, seq, hidden]), &device);
    let last = Tensor::from_data(TensorData::new(last, [batch, hidden]), &device);
    let cell = (kind == Recurrence::Lstm)
        .then(|| Tensor::from_data(TensorData::new(cell, [batch, hidden]), &device));
    (out, last, cell, saved.map(|s| Saved::Host(E::wrap(s))))
}

fn host_backward<I: Backend, E: HostFloat>(
    saved: &HostSaved,
    d_out: Tensor<I, 3>,
    [d_last, d_cell]: [Option<Tensor<I, 2>>; 2],
) -> InputGrads<I> {
    let device = d_out.device();
    let [batch, seq, hidden] = d_out.dims();
    let s = E::unwrap(saved);
    let d_last = d_last.map(host_vec::<I, E, 2>).unwrap_or_default();
    let d_cell = d_cell.map(host_vec::<I, E, 2>).unwrap_or_default();
    let (dp, dw, db, dh0, dc0) = cpu::backward::<E>(s, &host_vec(d_out), &d_last, &d_cell);
    let gh = db.len();
    let t = |v: Vec<E>, shape: Vec<usize>| TensorData::new(v, shape);
    (
        Tensor::from_data(t(dp, vec![batch, seq, gh]), &device),
        Tensor::from_data(t(dw, vec![hidden, gh]), &device),
        Tensor::from_data(t(db, vec![gh]), &device),
        Tensor::from_data(t(dh0, vec![batch, hidden]), &device),
        Tensor::from_data(t(dc0, vec![batch, hidden]), &device),
    )
}

/// Inner-backend tensors kept by the generic forward.
#[derive(Clone, Debug)]
struct TensorSaved<I: Backend> {
    kind: Recurrence,
    reverse: bool,
    w_hh: Tensor<I, 2>,
    h0: Tensor<I, 2>,
    c0: Tensor<I, 2>,
    /// Hidden state after each step, in processing order, `[B, H]`.
    hs: Vec<Tensor<I, 2>>,
    /// Per step: LSTM `[i, f, g, o, c]`; GRU `[r, z, n, W_hn h + b_hn]`; RNN nothing.
    acts: Vec<Vec<Tensor<I, 2>>>,
}

fn position(reverse: bool, seq: usize, k: usize) -> usize {
    if reverse { seq - 1 - k } else { k }
}

/// Runs the recurrence on any backend.
///
/// # Shapes
/// - `p`: projected input `[B, T, G*H]` (for RNN and LSTM with both biases folded in; for GRU
///   with `b_ih` only), `w_hh`: `[H, G*H]`, `b_hh`: `[G*H]` (GRU only; zeros otherwise)
/// - `h0`, `c0`: `[B, H]` (`c0` is ignored except by the LSTM)
/// - returns the hidden state after every step at its time position `[B, T, H]`, the final
///   hidden state `[B, H]`, the LSTM's final cell state `[B, H]` (`None` for RNN and GRU) and,
///   when `keep`, what the backward pass needs
#[allow(clippy::too_many_arguments)]
fn forward<I: Backend>(
    kind: Recurrence,
    reverse: bool,
    p: Tensor<I, 3>,
    w_hh: Tensor<I, 2>,
    b_hh: Tensor<I, 1>,
    h0: Tensor<I, 2>,
    c0: Tensor<I, 2>,
    keep: bool,
) -> Forward<I> {
    match host_kind::<I>() {
        Some(false) => return host_forward::<I, f32>(kind, reverse, p, w_hh, b_hh, h0, c0, keep),
        Some(true) => return host_forward::<I, f64>(kind, reverse, p, w_hh, b_hh, h0, c0, keep),
        None => {}
    }
    let [batch, seq, gh] = p.dims();
    let hidden = w_hh.dims()[0];
    let mut h = h0.clone();
    let mut c = c0.clone();
    let mut hs = Vec::with_capacity(seq);
    let mut acts = Vec::with_capacity(if keep { seq } else { 0 });
    let b_hh = b_hh.unsqueeze_dim::<2>(0);
    for k in 0..seq {
        let t = position(reverse, seq, k);
        let x = p.clone().narrow(1, t, 1).reshape([batch, gh]);
        match kind {
            Recurrence::Tanh => h = (x + h.matmul(w_hh.clone())).tanh(),
            Recurrence::Relu => h = burn::tensor::activation::relu(x + h.matmul(w_hh.clone())),
            Recurrence::Lstm => {
                let g = x + h.matmul(w_hh.clone());
                let [i, f, gg, o]: [Tensor<I, 2>; 4] = g.chunk(4, 1).try_into().expect("4 gates");
                let (i, f, gg, o) = (sigmoid(i), sigmoid(f), gg.tanh(), sigmoid(o));
                c = f.clone() * c + i.clone() * gg.clone();
                h = o.clone() * c.clone().tanh();
                if keep {
                    acts.push(vec![i, f, gg, o, c.clone()]);
                }
            }
            Recurrence::Gru => {
                let hp = h.clone().matmul(w_hh.clone()) + b_hh.clone();
                let [xr, xz, xn]: [Tensor<I, 2>; 3] = x.chunk(3, 1).try_into().expect("3 gates");
                let [hr, hz, hn]: [Tensor<I, 2>; 3] = hp.chunk(3, 1).try_into().expect("3 gates");
                let r = sigmoid(xr + hr);
                let z = sigmoid(xz + hz);
                let n = (xn + r.clone() * hn.clone()).tanh();
                h = n.clone() + z.clone() * (h - n.clone());
                if keep {
                    acts.push(vec![r, z, n, hn]);
                }
            }
        }
        hs.push(h.clone());
    }
    let by_position: Vec<Tensor<I, 2>> = (0..seq)
        .map(|t| hs[position(reverse, seq, t)].clone())
        .collect();
    let out = Tensor::stack(by_position, 1);
    debug_assert_eq!(out.dims(), [batch, seq, hidden]);
    let cell = (kind == Recurrence::Lstm).then_some(c);
    let saved = keep.then(|| {
        Saved::Tensors(TensorSaved {
            kind,
            reverse,
            w_hh,
            h0,
            c0,
            hs,
            acts,
        })
    });
    (out, h, cell, saved)
}

/// What [`forward`] returns: the output `[B, T, H]`, the final hidden state and the LSTM's final
/// cell state `[B, H]`, and what the backward pass needs.
type Forward<I> = (
    Tensor<I, 3>,
    Tensor<I, 2>,
    Option<Tensor<I, 2>>,
    Option<Saved<I>>,
);

/// Gradients of the inputs of [`forward`]: `(dp, dw_hh, db_hh, dh0, dc0)`.
type InputGrads<I> = (
    Tensor<I, 3>,
    Tensor<I, 2>,
    Tensor<I, 1>,
    Tensor<I, 2>,
    Tensor<I, 2>,
);

/// Gradients of the inputs of [`forward`] from the gradients of its output `[B, T, H]` and of
/// the final hidden and cell states `[B, H]` (when the loss uses them).
fn backward<I: Backend>(
    saved: Saved<I>,
    d_out: Tensor<I, 3>,
    d_final: [Option<Tensor<I, 2>>; 2],
) -> InputGrads<I> {
    match saved {
        Saved::Tensors(s) => backward_tensors(s, d_out, d_final),
        Saved::Host(h) => match h {
            HostSaved::F32(_) => host_backward::<I, f32>(&h, d_out, d_final),
            HostSaved::F64(_) => host_backward::<I, f64>(&h, d_out, d_final),
        },
    }
}

fn backward_tensors<I: Backend>(
    s: TensorSaved<I>,
    d_out: Tensor<I, 3>,
    [d_last, d_cell]: [Option<Tensor<I, 2>>; 2],
) -> InputGrads<I> {
    let [batch, seq, hidden] = d_out.dims();
    let gates = s.w_hh.dims()[1] / hidden;
    let w_t = s.w_hh.clone().transpose();
    let zeros = || Tensor::<I, 2>::zeros([batch, hidden], &d_out.device());
    let mut dh = d_last.unwrap_or_else(zeros);
    let mut dc = d_cell.unwrap_or_else(zeros);
    let mut dp: Vec<Option<Tensor<I, 2>>> = vec![None; seq];
    let mut dhp = Vec::with_capacity(seq);
    let mut h_prev_all = Vec::with_capacity(seq);
    for k in (0..seq).rev() {
        let t = position(s.reverse, seq, k);
        dh = dh + d_out.clone().narrow(1, t, 1).reshape([batch, hidden]);
        let h_prev = if k == 0 {
            s.h0.clone()
        } else {
            s.hs[k - 1].clone()
        };
        let (d_in, d_rec, dh_direct) = match s.kind {
            Recurrence::Tanh => {
                let h = s.hs[k].clone();
                let d = dh.clone() * (h.clone() * h).neg().add_scalar(1.0);
                (d.clone(), d, None)
            }
            Recurrence::Relu => {
                let mask = s.hs[k].clone().greater_elem(0.0).float();
                let d = dh.clone() * mask;
                (d.clone(), d, None)
            }
            Recurrence::Lstm => {
                let a = &s.acts[k];
                let (i, f, gg, o, c) = (&a[0], &a[1], &a[2], &a[3], &a[4]);
                let c_prev = if k == 0 {
                    s.c0.clone()
                } else {
                    s.acts[k - 1][4].clone()
                };
                let tc = c.clone().tanh();
                let d_o = dh.clone() * tc.clone();
                let dct =
                    dc.clone() + dh.clone() * o.clone() * (tc.clone() * tc).neg().add_scalar(1.0);
                let di = dct.clone() * gg.clone();
                let dg = dct.clone() * i.clone();
                let df = dct.clone() * c_prev;
                dc = dct * f.clone();
                let sig = |d: Tensor<I, 2>, y: &Tensor<I, 2>| {
                    d * y.clone() * y.clone().neg().add_scalar(1.0)
                };
                let d = Tensor::cat(
                    vec![
                        sig(di, i),
                        sig(df, f),
                        dg * (gg.clone() * gg.clone()).neg().add_scalar(1.0),
                        sig(d_o, o),
                    ],
                    1,
                );
                (d.clone(), d, None)
            }
            Recurrence::Gru => {
                let a = &s.acts[k];
                let (r, z, n, hn) = (&a[0], &a[1], &a[2], &a[3]);
                let dz = dh.clone() * (h_prev.clone() - n.clone());
                let dn = dh.clone() * z.clone().neg().add_scalar(1.0);
                let direct = dh.clone() * z.clone();
                let dnp = dn * (n.clone() * n.clone()).neg().add_scalar(1.0);
                let dr = dnp.clone() * hn.clone();
                let drp = dr * r.clone() * r.clone().neg().add_scalar(1.0);
                let dzp = dz * z.clone() * z.clone().neg().add_scalar(1.0);
                let d_in = Tensor::cat(vec![drp.clone(), dzp.clone(), dnp.clone()], 1);
                let d_rec = Tensor::cat(vec![drp, dzp, dnp * r.clone()], 1);
                (d_in, d_rec, Some(direct))
            }
        };
        dh = d_rec.clone().matmul(w_t.clone());
        if let Some(direct) = dh_direct {
            dh = dh + direct;
        }
        dp[t] = Some(d_in);
        dhp.push(d_rec);
        h_prev_all.push(h_prev);
    }
    let gh = gates * hidden;
    let dp = Tensor::stack::<3>(dp.into_iter().map(|d| d.expect("every step")).collect(), 1);
    let dhp = Tensor::cat(dhp, 0); // [T*B, G*H]
    let h_prev = Tensor::cat(h_prev_all, 0); // [T*B, H]
    let dw = h_prev.transpose().matmul(dhp.clone());
    let db = dhp.sum_dim(0).reshape([gh]);
    (dp, dw, db, dh, dc)
}

/// Where the final states' operations leave their gradients (`dh_T`, `dc_T`) for the
/// recurrence's backward.
type FinalGradSlots<I> = Arc<Mutex<[Option<FloatTensor<I>>; 2]>>;

/// The recurrence's backward state: what the forward kept, and the slots of `dh_T` and `dc_T`.
#[derive(Clone, Debug)]
struct RecurrenceState<I: Backend> {
    saved: Saved<I>,
    d_final: FinalGradSlots<I>,
}

#[derive(Debug)]
struct RecurrenceBackward;

impl<I: Backend> Backward<I, 5> for RecurrenceBackward {
    type State = RecurrenceState<I>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_p, node_w, node_b, node_h0, node_c0] = ops.parents;
        let grad = grads.consume::<I>(&ops.node);
        let d_out = Tensor::<I, 3>::from_primitive(TensorPrimitive::Float(grad));
        let d_final = std::mem::take(&mut *ops.state.d_final.lock().expect("final state slots"))
            .map(|d| d.map(inner::<I, 2>));
        let (dp, dw, db, dh0, dc0) = backward(ops.state.saved, d_out, d_final);
        let mut register = |node: Option<burn::backend::autodiff::NodeId>, t: FloatTensor<I>| {
            if let Some(id) = node {
                grads.register::<I>(id, t);
            }
        };
        register(node_p.map(|n| n.id), dp.into_primitive().tensor());
        register(node_w.map(|n| n.id), dw.into_primitive().tensor());
        register(node_b.map(|n| n.id), db.into_primitive().tensor());
        register(node_h0.map(|n| n.id), dh0.into_primitive().tensor());
        register(node_c0.map(|n| n.id), dc0.into_primitive().tensor());
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
        let [node] = ops.parents;
        let grad = grads.consume::<I>(&ops.node);
        let device = inner::<I, 2>(grad.clone()).device();
        let (slots, shape) = ops.state;
        slots.lock().expect("final state slots")[self.slot] = Some(grad);
        if let Some(node) = node {
            let zeros = Tensor::<I, 3>::zeros(shape, &device);
            grads.register::<I>(node.id, zeros.into_primitive().tensor());
        }
    }
}

fn inner<I: Backend, const D: usize>(t: FloatTensor<I>) -> Tensor<I, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// The recurrence as one autodiff operation on `Autodiff<I>`.
fn autodiff_recurrence<I: Backend>(
    kind: Recurrence,
    reverse: bool,
    [p, w, b, h0, c0]: [FloatTensor<Autodiff<I>>; 5],
) -> Outputs<Autodiff<I>> {
    let nodes = [
        p.node.clone(),
        w.node.clone(),
        b.node.clone(),
        h0.node.clone(),
        c0.node.clone(),
    ];
    // The primitives are moved, not cloned: ndarray's `into_data` copies a uniquely owned
    // buffer out directly but walks a shared one element by element.
    let prep = RecurrenceBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful();
    let keep = matches!(prep, OpsKind::Tracked(_));
    let (out, last, cell, saved) = forward::<I>(
        kind,
        reverse,
        inner(p.primitive),
        inner(w.primitive),
        inner(b.primitive),
        inner(h0.primitive),
        inner(c0.primitive),
        keep,
    );
    let shape = out.dims();
    let out = out.into_primitive().tensor();
    let slots = FinalGradSlots::<I>::default();
    let out = match prep {
        OpsKind::Tracked(prep) => prep.finish(
            RecurrenceState {
                saved: saved.expect("kept"),
                d_final: slots.clone(),
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    let state = |slot: usize, value: Tensor<I, 2>| {
        let value = value.into_primitive().tensor();
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
    (out, last, cell)
}

fn cast<T: 'static, U: 'static>(value: T) -> U {
    *(Box::new(value) as Box<dyn Any>)
        .downcast::<U>()
        .expect("types checked by TypeId")
}

fn run_as<B: Backend, I: Backend>(
    kind: Recurrence,
    reverse: bool,
    inputs: [FloatTensor<B>; 5],
) -> Outputs<B> {
    let inputs: [FloatTensor<Autodiff<I>>; 5] = inputs.map(cast);
    let (out, last, cell) = autodiff_recurrence::<I>(kind, reverse, inputs);
    (cast(out), cast(last), cell.map(cast))
}

/// The recurrence's output `[B, T, H]`, final hidden state and LSTM final cell state `[B, H]`.
type Outputs<B> = (FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>);

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// The output `[B, T, H]`, final hidden state `[B, H]` and LSTM final cell state `[B, H]` of
/// [`try_fused`].
pub(crate) type FusedOutputs<B> = (Tensor<B, 3>, Tensor<B, 2>, Option<Tensor<B, 2>>);

/// Runs the recurrence as one operation: directly when `B` has no autodiff, as one autodiff
/// operation when `B` is an autodiff backend this crate knows; otherwise hands `p` back (the
/// caller then takes the generic path). `p` is taken by value so that the host kernel can reuse
/// its buffer.
///
/// # Shapes
/// See [`forward`]; returns the output `[B, T, H]`, the final hidden state `[B, H]` and the
/// LSTM's final cell state `[B, H]` (`None` for RNN and GRU).
#[allow(clippy::too_many_arguments)]
pub(crate) fn try_fused<B: Backend>(
    kind: Recurrence,
    reverse: bool,
    p: Tensor<B, 3>,
    w_hh: Tensor<B, 2>,
    b_hh: Option<Tensor<B, 1>>,
    h0: Tensor<B, 2>,
    c0: Option<Tensor<B, 2>>,
) -> Result<FusedOutputs<B>, Tensor<B, 3>> {
    type Runner<B> = fn(Recurrence, bool, [FloatTensor<B>; 5]) -> Outputs<B>;
    // `None`: no autodiff, the loop runs directly on this backend with nothing kept.
    let runner: Option<Runner<B>> = if !B::ad_enabled(&p.device()) {
        None
    } else {
        match ops::host_autodiff::<B>() {
            Some(false) => Some(run_as::<B, burn::backend::NdArray<f32>>),
            Some(true) => Some(run_as::<B, burn::backend::NdArray<f64>>),
            None => {
                #[cfg(feature = "wgpu")]
                if TypeId::of::<B>() == TypeId::of::<Autodiff<burn::backend::Wgpu>>() {
                    Some(run_as::<B, burn::backend::Wgpu>)
                } else {
                    return Err(p);
                }
                #[cfg(not(feature = "wgpu"))]
                return Err(p);
            }
        }
    };
    let device = p.device();
    let [batch, _, gh] = p.dims();
    let hidden = w_hh.dims()[0];
    let b_hh = b_hh.unwrap_or_else(|| Tensor::zeros([gh], &device));
    let c0 = c0.unwrap_or_else(|| Tensor::zeros([batch, hidden], &device));
    let Some(runner) = runner else {
        let (out, last, cell, _) = forward::<B>(kind, reverse, p, w_hh, b_hh, h0, c0, false);
        return Ok((out, last, cell));
    };
    let (out, last, cell) = runner(
        kind,
        reverse,
        [
            primitive(p),
            primitive(w_hh),
            primitive(b_hh),
            primitive(h0),
            primitive(c0),
        ],
    );
    Ok((
        Tensor::from_primitive(TensorPrimitive::Float(out)),
        Tensor::from_primitive(TensorPrimitive::Float(last)),
        cell.map(|c| Tensor::from_primitive(TensorPrimitive::Float(c))),
    ))
}
